/* Discovery and the fixed documents: /version, the legacy discovery documents (/api, /apis,
 * /apis/<g>, /api/v1, /apis/<g>/<v>), aggregated discovery (apidiscovery.k8s.io/v2 and
 * v2beta1, with the exact Content-Type kubectl checks), and OpenAPI v2/v3 from
 * src/api/openapi.h. All of it is generated from the kinds table. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/openapi.h"
#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "version.h"

#define CT_DISCOVERY_V2 "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
#define CT_DISCOVERY_V2BETA1                                                                       \
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

static const unsigned verb_order[] = {API_VERB_CREATE, API_VERB_DELETE, API_VERB_DELETECOLLECTION,
                                      API_VERB_GET,    API_VERB_LIST,   API_VERB_PATCH,
                                      API_VERB_UPDATE, API_VERB_WATCH};

static json_t *verbs_json(unsigned verbs)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(verb_order); i++)
        if (verbs & verb_order[i])
            json_array_append_new(a, json_string(api_verb_name(verb_order[i])));
    return a;
}

static json_t *strv_json(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

void apiserver__serve_version(struct apiserver_resp *resp)
{
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major",
                          APISERVER_KUBE_MAJOR, "minor", APISERVER_KUBE_MINOR, "gitVersion",
                          "v" APISERVER_KUBE_MAJOR "." APISERVER_KUBE_MINOR ".0-k8c", "gitCommit",
                          K8C_GIT_COMMIT, "gitTreeState", "clean", "buildDate",
                          "2026-01-01T00:00:00Z", "goVersion", "k8c " K8C_VERSION " (C17)",
                          "compiler", "gcc", "platform", "linux/amd64");
    apiserver__resp_json(resp, 200, v);
    json_decref(v);
}

/* Distinct groups in table order; the preferred (first) version of each. */
static size_t groups_list(const char **groups, size_t max)
{
    size_t n = 0, nk = 0;
    const struct api_kind *all = api_kinds_all(&nk);
    for (size_t i = 0; i < nk; i++) {
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(groups[j], all[i].group) == 0;
        if (!seen && n < max)
            groups[n++] = all[i].group;
    }
    return n;
}

static size_t versions_of(const char *group, const char **versions, size_t max)
{
    size_t n = 0, nk = 0;
    const struct api_kind *all = api_kinds_all(&nk);
    for (size_t i = 0; i < nk; i++) {
        if (strcmp(all[i].group, group) != 0)
            continue;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(versions[j], all[i].version) == 0;
        if (!seen && n < max)
            versions[n++] = all[i].version;
    }
    return n;
}

static json_t *gv_json(const char *group, const char *version)
{
    _cleanup_free_ char *gv = group[0] ? xasprintf("%s/%s", group, version) : xstrdup(version);
    return json_pack("{s:s, s:s}", "groupVersion", gv, "version", version);
}

static json_t *group_json(const char *group)
{
    const char *versions[8];
    size_t nv = versions_of(group, versions, ARRAY_SIZE(versions));
    json_t *vs = json_array();
    for (size_t i = 0; i < nv; i++)
        json_array_append_new(vs, gv_json(group, versions[i]));
    return json_pack("{s:s, s:o, s:o}", "name", group, "versions", vs, "preferredVersion",
                     gv_json(group, versions[0]));
}

/* The legacy APIResourceList of one group-version, subresources included. */
static json_t *resource_list(const char *group, const char *version)
{
    json_t *res = json_array();
    size_t nk = 0;
    const struct api_kind *all = api_kinds_all(&nk);
    for (size_t i = 0; i < nk; i++) {
        const struct api_kind *k = &all[i];
        if (strcmp(k->group, group) != 0 || strcmp(k->version, version) != 0)
            continue;
        json_t *r =
            json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", k->resource, "singularName", k->singular,
                      "namespaced", k->namespaced, "kind", k->kind, "verbs", verbs_json(k->verbs));
        if (k->short_names)
            json_object_set_new(r, "shortNames", strv_json(k->short_names));
        if (k->categories)
            json_object_set_new(r, "categories", strv_json(k->categories));
        json_array_append_new(res, r);
        for (size_t j = 0; j < k->n_subresources; j++) {
            const struct api_subresource *s = &k->subresources[j];
            _cleanup_free_ char *name = xasprintf("%s/%s", k->resource, s->name);
            json_t *sr = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", name, "singularName", "",
                                   "namespaced", k->namespaced, "kind", s->kind, "verbs",
                                   verbs_json(s->verbs));
            if (strcmp(s->group, k->group) != 0 || strcmp(s->version, k->version) != 0) {
                json_object_set_new(sr, "group", json_string(s->group));
                json_object_set_new(sr, "version", json_string(s->version));
            }
            json_array_append_new(res, sr);
        }
    }
    _cleanup_free_ char *gv = group[0] ? xasprintf("%s/%s", group, version) : xstrdup(version);
    return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", gv, "resources", res);
}

static json_t *kind_ref(const char *group, const char *version, const char *kind)
{
    return json_pack("{s:s, s:s, s:s}", "group", group, "version", version, "kind", kind);
}

/* One group's entry of aggregated discovery. */
static json_t *aggregated_group(const char *group)
{
    const char *versions[8];
    size_t nv = versions_of(group, versions, ARRAY_SIZE(versions));
    json_t *vs = json_array();
    size_t nk = 0;
    const struct api_kind *all = api_kinds_all(&nk);
    for (size_t v = 0; v < nv; v++) {
        json_t *res = json_array();
        for (size_t i = 0; i < nk; i++) {
            const struct api_kind *k = &all[i];
            if (strcmp(k->group, group) != 0 || strcmp(k->version, versions[v]) != 0)
                continue;
            json_t *r = json_pack("{s:s, s:o, s:s, s:s, s:o}", "resource", k->resource,
                                  "responseKind", kind_ref(k->group, k->version, k->kind), "scope",
                                  k->namespaced ? "Namespaced" : "Cluster", "singularResource",
                                  k->singular, "verbs", verbs_json(k->verbs));
            if (k->short_names)
                json_object_set_new(r, "shortNames", strv_json(k->short_names));
            if (k->categories)
                json_object_set_new(r, "categories", strv_json(k->categories));
            if (k->n_subresources) {
                json_t *subs = json_array();
                for (size_t j = 0; j < k->n_subresources; j++) {
                    const struct api_subresource *s = &k->subresources[j];
                    json_array_append_new(subs, json_pack("{s:s, s:o, s:o}", "subresource", s->name,
                                                          "responseKind",
                                                          kind_ref(s->group, s->version, s->kind),
                                                          "verbs", verbs_json(s->verbs)));
                }
                json_object_set_new(r, "subresources", subs);
            }
            json_array_append_new(res, r);
        }
        json_array_append_new(vs, json_pack("{s:s, s:o, s:s}", "version", versions[v], "resources",
                                            res, "freshness", "Current"));
    }
    return json_pack("{s:{s:s}, s:o}", "metadata", "name", group, "versions", vs);
}

static void serve_aggregated(bool legacy, enum apiserver_out_format fmt,
                             struct apiserver_resp *resp)
{
    const bool v2 = fmt == APISERVER_OUT_DISCOVERY;
    json_t *items = json_array();
    if (legacy) {
        json_array_append_new(items, aggregated_group(""));
    } else {
        const char *groups[64];
        size_t ng = groups_list(groups, ARRAY_SIZE(groups));
        for (size_t i = 0; i < ng; i++)
            if (groups[i][0])
                json_array_append_new(items, aggregated_group(groups[i]));
    }
    json_t *doc = json_pack("{s:s, s:s, s:{}, s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
                            v2 ? "apidiscovery.k8s.io/v2" : "apidiscovery.k8s.io/v2beta1",
                            "metadata", "items", items);
    apiserver__resp_json_ct(resp, 200, doc, v2 ? CT_DISCOVERY_V2 : CT_DISCOVERY_V2BETA1);
    json_decref(doc);
}

void apiserver__serve_discovery(struct apiserver_core *core, const struct apiserver_req *req,
                                const struct apiserver_route *route, struct apiserver_resp *resp)
{
    bool top = route->type == ROUTE_API || route->type == ROUTE_APIS;
    enum apiserver_out_format fmt = apiserver__negotiate(req->accept, false, top);
    if (fmt == APISERVER_OUT_DISCOVERY || fmt == APISERVER_OUT_DISCOVERY_V2BETA1) {
        serve_aggregated(route->type == ROUTE_API, fmt, resp);
        return;
    }
    if (fmt == APISERVER_OUT_PROTOBUF_ONLY) {
        apiserver__resp_status(resp, 406, "NotAcceptable",
                               "only the following media types are accepted: application/json",
                               NULL, NULL, NULL);
        return;
    }
    _cleanup_json_ json_t *doc = NULL;
    switch (route->type) {
    case ROUTE_API:
        doc =
            json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                      "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress", "");
        break;
    case ROUTE_APIS: {
        const char *groups[64];
        size_t ng = groups_list(groups, ARRAY_SIZE(groups));
        json_t *gs = json_array();
        for (size_t i = 0; i < ng; i++)
            if (groups[i][0])
                json_array_append_new(gs, group_json(groups[i]));
        doc =
            json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", gs);
        break;
    }
    case ROUTE_GROUP:
        doc = group_json(route->group);
        json_object_set_new(doc, "kind", json_string("APIGroup"));
        json_object_set_new(doc, "apiVersion", json_string("v1"));
        break;
    case ROUTE_GROUP_VERSION: doc = resource_list(route->group, route->version); break;
    default:
        apiserver__resp_status(resp, 404, "NotFound",
                               "the server could not find the requested resource", NULL, NULL,
                               NULL);
        return;
    }
    apiserver__resp_json(resp, 200, doc);
}

/* The OpenAPI v3 documents never change while the binary runs: each is built once (a few
 * milliseconds) and its text kept. Returns borrowed text, or NULL when there is none. */
#define OPENAPI_CACHE 32
static pthread_mutex_t openapi_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char gv[96];
    char *text;
} openapi_cache[OPENAPI_CACHE];

static const char *openapi_doc_cached(const char *group, const char *version)
{
    char gv[96];
    snprintf(gv, sizeof(gv), "%s/%s", group, version);
    const char *found = NULL;
    pthread_mutex_lock(&openapi_lock);
    size_t i = 0;
    for (; i < OPENAPI_CACHE && openapi_cache[i].text; i++) {
        if (strcmp(openapi_cache[i].gv, gv) == 0) {
            found = openapi_cache[i].text;
            break;
        }
    }
    if (!found && i < OPENAPI_CACHE) {
        json_t *doc = api_openapi_v3_document(group, version);
        if (doc) {
            snprintf(openapi_cache[i].gv, sizeof(openapi_cache[i].gv), "%s", gv);
            openapi_cache[i].text = kjson_dumps(doc);
            found = openapi_cache[i].text;
            json_decref(doc);
        }
    }
    pthread_mutex_unlock(&openapi_lock);
    return found;
}

void apiserver__serve_openapi(const struct apiserver_req *req, const struct apiserver_route *route,
                              struct apiserver_resp *resp)
{
    if (route->type == ROUTE_OPENAPI_V2) {
        /* As api/openapi.h says: an empty protobuf body is a valid, empty Document (kubectl
         * then reports an unknown kind as `no matches for kind`, as against Kubernetes). */
        apiserver__resp_text(resp, 200, API_OPENAPI_V2_CONTENT_TYPE, "");
        return;
    }
    if (route->type == ROUTE_OPENAPI_V3_DOC) {
        const char *text = openapi_doc_cached(route->group, route->version);
        if (text) {
            apiserver__resp_text(resp, 200, "application/json", text);
            const char *hash = apiserver__param(req, "hash");
            const char *want = api_openapi_v3_hash(route->group, route->version);
            if (hash && want && strcmp(hash, want) == 0)
                resp->cache_immutable = true;
            return;
        }
    }
    _cleanup_json_ json_t *doc = NULL;
    if (route->type == ROUTE_OPENAPI_V3)
        doc = api_openapi_v3_index();
    if (!doc) {
        apiserver__resp_status(resp, 404, "NotFound",
                               "the server could not find the requested resource", NULL, NULL,
                               NULL);
        return;
    }
    apiserver__resp_json(resp, 200, doc);
}
