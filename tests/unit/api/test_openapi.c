/* Unit tests for src/api/openapi.c and schema.c: the /openapi/v3 index and documents keep
 * what kubectl needs (kubectl-wire.md §5), and the YAML string-field answers. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "api/openapi.h"
#include "api/schema.h"
#include "base/json.h"
#include "base/mem.h"

Test(openapi, index_lists_each_group_version)
{
    _cleanup_json_ json_t *idx = api_openapi_v3_index();
    const char *core = kjson_path_str(json_object_get(idx, "paths"), "api/v1.serverRelativeURL");
    cr_assert(core != NULL);
    cr_assert(strncmp(core, "/openapi/v3/api/v1?hash=", 24) == 0, "%s", core);
    json_t *paths = json_object_get(idx, "paths");
    const char *expected[] = {"api/v1",
                              "apis/apps/v1",
                              "apis/batch/v1",
                              "apis/autoscaling/v2",
                              "apis/autoscaling/v1",
                              "apis/coordination.k8s.io/v1",
                              "apis/discovery.k8s.io/v1",
                              "apis/events.k8s.io/v1",
                              "apis/scheduling.k8s.io/v1",
                              "apis/rbac.authorization.k8s.io/v1",
                              "apis/policy/v1",
                              "apis/authentication.k8s.io/v1",
                              "apis/authorization.k8s.io/v1"};
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++)
        cr_assert(json_object_get(paths, expected[i]) != NULL, "%s missing", expected[i]);
    const char *h = api_openapi_v3_hash("apps", "v1");
    cr_assert(h != NULL && strlen(h) == 16);
    cr_assert(api_openapi_v3_hash("nope", "v1") == NULL);
}

/* Every "$ref" in v must name a schema of the document, in OpenAPI 3 form. */
static void check_refs(const json_t *v, const json_t *schemas)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach ((json_t *)v, k, c) {
            if (strcmp(k, "$ref") == 0) {
                const char *ref = json_string_value(c);
                cr_assert(ref != NULL && strncmp(ref, "#/components/schemas/", 21) == 0, "%s",
                          ref ? ref : "(null)");
                cr_assert(json_object_get(schemas, ref + 21) != NULL, "dangling %s", ref);
            } else {
                check_refs(c, schemas);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach (v, i, c) {
            check_refs(c, schemas);
        }
    }
}

static void check_document(const char *group, const char *version, const char *patch_path,
                           const char *kind)
{
    _cleanup_json_ json_t *doc = api_openapi_v3_document(group, version);
    cr_assert(doc != NULL, "%s/%s", group, version);
    cr_assert(eq(str, (char *)kjson_path_str(doc, "openapi"), "3.0.0"));
    json_t *schemas = kjson_path(doc, "components.schemas");
    cr_assert(json_object_size(schemas) > 0);
    check_refs(doc, schemas);
    /* Every PATCH declares fieldValidation itself and names its kind. */
    const char *p;
    json_t *item;
    size_t patches = 0;
    json_object_foreach (json_object_get(doc, "paths"), p, item) {
        json_t *op = json_object_get(item, "patch");
        if (op == NULL)
            continue;
        patches++;
        bool has_fv = false;
        size_t i;
        json_t *param;
        json_array_foreach (json_object_get(op, "parameters"), i, param) {
            if (strcmp(json_string_value(json_object_get(param, "name")), "fieldValidation") == 0)
                has_fv = strcmp(json_string_value(json_object_get(param, "in")), "query") == 0;
        }
        cr_assert(has_fv, "PATCH %s lacks fieldValidation", p);
        cr_assert(json_object_get(op, "x-kubernetes-group-version-kind") != NULL, "%s", p);
        json_t *content = kjson_path(op, "requestBody.content");
        cr_assert(json_object_get(content, "application/strategic-merge-patch+json") != NULL);
        cr_assert(json_object_get(content, "application/apply-patch+yaml") != NULL);
        cr_assert(json_object_get(content, "application/json-patch+json") != NULL);
        cr_assert(json_object_get(content, "application/merge-patch+json") != NULL);
    }
    if (patch_path != NULL) {
        cr_assert(patches > 0);
        json_t *op =
            json_object_get(json_object_get(json_object_get(doc, "paths"), patch_path), "patch");
        cr_assert(op != NULL, "no PATCH %s", patch_path);
        cr_assert(eq(str, (char *)kjson_path_str(op, "x-kubernetes-group-version-kind.kind"),
                     (char *)kind));
    }
}

Test(openapi, documents_have_what_kubectl_needs)
{
    check_document("", "v1", "/api/v1/namespaces/{name}", "Namespace");
    check_document("", "v1", "/api/v1/namespaces/{namespace}/configmaps/{name}", "ConfigMap");
    check_document("apps", "v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
                   "Scale");
    check_document("batch", "v1", "/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}",
                   "CronJob");
    check_document("rbac.authorization.k8s.io", "v1",
                   "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}", "ClusterRole");
    check_document("autoscaling", "v1", NULL, NULL);
    check_document("policy", "v1", NULL, NULL);
    _cleanup_json_ json_t *none = api_openapi_v3_document("example.com", "v1");
    cr_assert(none == NULL);
}

Test(openapi, schemas_carry_gvk_descriptions_and_patch_metadata)
{
    _cleanup_json_ json_t *doc = api_openapi_v3_document("apps", "v1");
    json_t *schemas = kjson_path(doc, "components.schemas");
    json_t *deploy = json_object_get(schemas, "io.k8s.api.apps.v1.Deployment");
    cr_assert(deploy != NULL);
    json_t *gvk = json_array_get(json_object_get(deploy, "x-kubernetes-group-version-kind"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(gvk, "kind"), "Deployment"));
    cr_assert(json_string_length(json_object_get(deploy, "description")) > 20);
    /* The PodTemplateSpec closure travels with apps/v1 (explain deployment.spec.template). */
    json_t *containers =
        kjson_path(json_object_get(schemas, "io.k8s.api.core.v1.PodSpec"), "properties.containers");
    cr_assert(eq(str, (char *)kjson_path_str(containers, "x-kubernetes-patch-merge-key"), "name"));
    cr_assert(eq(str, (char *)kjson_path_str(containers, "x-kubernetes-patch-strategy"), "merge"));
    cr_assert(json_string_length(json_object_get(containers, "description")) > 20);
    /* A $ref with a description is wrapped in allOf, as kube-apiserver writes v3. */
    json_t *meta = kjson_path(deploy, "properties.metadata");
    cr_assert(json_object_get(meta, "allOf") != NULL);
    cr_assert(json_object_get(meta, "description") != NULL);
}

Test(openapi, structural_schema_lookups)
{
    const json_t *pod = api__schema_for_kind("v1", "Pod");
    cr_assert(pod != NULL);
    const json_t *containers = api__schema_field(api__schema_field(pod, "spec"), "containers");
    struct api__patch_meta m;
    api__schema_patch_meta(containers, &m);
    cr_assert(eq(str, (char *)m.merge_key, "name"));
    cr_assert(m.strategy_merge);
    cr_assert(eq(str, (char *)m.list_type, "map"));
    const json_t *ports = api__schema_field(api__schema_items(containers), "ports");
    api__schema_patch_meta(ports, &m);
    cr_assert(eq(str, (char *)m.merge_key, "containerPort"));
    cr_assert(eq(int, (int)json_array_size(m.map_keys), 2));
    const json_t *strategy =
        api__schema_field(api__schema_for_kind("apps/v1", "Deployment"), "spec");
    api__schema_patch_meta(api__schema_field(strategy, "strategy"), &m);
    cr_assert(m.strategy_retain);
    cr_assert(api__schema_for_kind("v1", "Gizmo") == NULL);
    cr_assert(api__schema_for_kind("example.com/v1", "Pod") == NULL);
    /* Descriptions are dropped from the structural copies. */
    cr_assert(json_object_get(pod, "description") == NULL);
}

static void expect_string(const char *api_version, const char *kind, const char *path, bool want)
{
    bool got = api_openapi_field_is_string(api_version, kind, path);
    cr_assert(eq(int, got, want), "%s %s %s", api_version, kind, path);
}

Test(openapi, field_is_string)
{
    expect_string("v1", "ConfigMap", "data.enabled", true);
    expect_string("v1", "ConfigMap", "metadata.labels.version", true);
    expect_string("v1", "Pod", "spec.containers[].args[]", true);
    expect_string("v1", "Pod", "spec.containers[].env[].value", true);
    expect_string("apps/v1", "Deployment", "spec.template.metadata.annotations.x", true);
    expect_string("v1", "Pod", "spec.containers[].ports[].containerPort", false);
    expect_string("apps/v1", "Deployment", "spec.replicas", false);
    expect_string("apps/v1", "Deployment", "spec.strategy.rollingUpdate.maxSurge", false);
    expect_string("v1", "ConfigMap", "metadata.labels.app.kubernetes.io/version", true);
    expect_string("v1", "ConfigMap", "data.a.b.c", true);
    expect_string("v1", "Pod", "spec.containers[].resources.limits.cpu", true);
    expect_string("v1", "Pod", "spec.nodeSelector.kubernetes.io/os", true);
    expect_string("v1", "ConfigMap", "nope.x", false);
    expect_string("v1", "Gizmo", "data.x", false);
    expect_string("v1", "ConfigMap", "", false);
    expect_string("v1", "ConfigMap", "data[]", false);
}

Test(openapi, v2_answer_is_an_empty_protobuf_document)
{
    size_t len = 99;
    const char *ct = api_openapi_v2_response(&len);
    cr_assert(eq(sz, len, 0));
    /* The ".v1.0" form: the "@v1.0" form kubectl sends in Accept breaks Go's mime parser. */
    cr_assert(eq(str, (char *)ct, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"));
}

/* The documents and the kinds table agree: every patchable resource and subresource k8c
 * serves has its PATCH operation (kubectl apply refuses a kind without one), every served
 * kind has a schema, and no PATCH is advertised for a resource k8c does not serve. */
Test(openapi, documents_match_the_kinds_table)
{
    size_t n = 0;
    const struct api_kind *kinds = api_kinds_all(&n);
    cr_assert(n > 0);
    for (size_t i = 0; i < n; i++) {
        const struct api_kind *k = &kinds[i];
        cr_assert(api__schema_for_kind(k->api_version, k->kind) != NULL, "no schema for %s %s",
                  k->api_version, k->kind);
        _cleanup_json_ json_t *doc = api_openapi_v3_document(k->group, k->version);
        cr_assert(doc != NULL, "no document for %s", k->api_version);
        json_t *paths = json_object_get(doc, "paths");
        _cleanup_free_ char *item_path =
            k->group[0] ? xasprintf("/apis/%s/%s%s/%s/{name}", k->group, k->version,
                                    k->namespaced ? "/namespaces/{namespace}" : "", k->resource)
                        : xasprintf("/api/%s%s/%s/{name}", k->version,
                                    k->namespaced ? "/namespaces/{namespace}" : "", k->resource);
        if (k->verbs & API_VERB_PATCH) {
            json_t *op = json_object_get(json_object_get(paths, item_path), "patch");
            cr_assert(op != NULL, "no PATCH %s", item_path);
            cr_assert(eq(str, (char *)kjson_path_str(op, "x-kubernetes-group-version-kind.kind"),
                         (char *)k->kind));
        }
        for (size_t s = 0; s < k->n_subresources; s++) {
            const struct api_subresource *sub = &k->subresources[s];
            _cleanup_free_ char *sub_path = xasprintf("%s/%s", item_path, sub->name);
            json_t *item = json_object_get(paths, sub_path);
            cr_assert(item != NULL, "no path %s", sub_path);
            if (sub->verbs & API_VERB_PATCH)
                cr_assert(json_object_get(item, "patch") != NULL, "no PATCH %s", sub_path);
        }
    }
    /* The other way: each advertised PATCH belongs to a served resource. */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !strcmp(kinds[i].group, kinds[i - 1].group) &&
            !strcmp(kinds[i].version, kinds[i - 1].version))
            continue;
        _cleanup_json_ json_t *doc = api_openapi_v3_document(kinds[i].group, kinds[i].version);
        const char *p;
        json_t *item;
        json_object_foreach (json_object_get(doc, "paths"), p, item) {
            if (json_object_get(item, "patch") == NULL)
                continue;
            /* Find the resource segment: after the version, skipping namespaces/{namespace}. */
            const char *rest = strstr(p, kinds[i].version);
            cr_assert(rest != NULL);
            rest += strlen(kinds[i].version) + 1;
            if (!strncmp(rest, "namespaces/{namespace}/", 23))
                rest += 23;
            size_t len = strcspn(rest, "/");
            _cleanup_free_ char *res = xstrndup(rest, len);
            const struct api_kind *k = api_kind_by_resource(kinds[i].group, kinds[i].version, res);
            cr_assert(k != NULL, "PATCH %s names a resource k8c does not serve", p);
        }
    }
}
