/* Decoding pods and nodes into the scheduler's compact views (see view.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/selector.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"
#include "scheduler/internal.h"
#include "scheduler/view.h"

/* kube-scheduler's defaults for containers that request nothing, used only for scoring
 * (pkg/scheduler/util: DefaultMilliCPURequest, DefaultMemoryRequest). */
#define NONZERO_MILLI_CPU 100
#define NONZERO_MEMORY (200LL * 1024 * 1024)
#define RESOURCE_MAX (1LL << 52)

/* An integer field as int32, clamped (hostile values must not wrap). */
static int32_t int32_of(const json_t *v)
{
    json_int_t i = json_integer_value(v);
    return i > INT32_MAX ? INT32_MAX : i < INT32_MIN ? INT32_MIN : (int32_t)i;
}

static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

/* Reads a resource list ({"cpu":"100m",…}) into r. path names the field for errors. */
static int read_resource_list(const json_t *list, struct scheduler_resources *r, const char *path,
                              struct k8c_err **err)
{
    const char *name;
    json_t *q;
    json_object_foreach ((json_t *)list, name, q) {
        int64_t v;
        if (scheduler_quantity_parse(q, strcmp(name, "cpu") == 0 ? 1000 : 1, &v, err) < 0)
            return k8c_err_wrap(err, "%s[%s]", path, name);
        /* No real amount comes near 2^52 (4 PiB, 4.5 billion cores); clamping keeps every
         * sum of a node's pods far from int64 overflow. Negative amounts count as zero. */
        if (v > RESOURCE_MAX)
            v = RESOURCE_MAX;
        if (v < 0)
            v = 0;
        scheduler__resources_set(r, name, v);
    }
    return 0;
}

/* A container's requests; limits stand in for requests that are missing, as API defaulting
 * does. With nonzero, cpu and memory that are missing get the scoring defaults. */
static int container_requests(const json_t *c, bool nonzero, struct scheduler_resources *r,
                              const char *path, struct k8c_err **err)
{
    const json_t *res = json_object_get(c, "resources");
    const json_t *req = json_object_get(res, "requests");
    const json_t *lim = json_object_get(res, "limits");
    _cleanup_free_ char *lpath = xasprintf("%s.resources.limits", path);
    _cleanup_free_ char *rpath = xasprintf("%s.resources.requests", path);
    if (json_is_object(lim) && read_resource_list(lim, r, lpath, err) < 0)
        return -1;
    if (json_is_object(req)) {
        struct scheduler_resources only = {0};
        int rc = read_resource_list(req, &only, rpath, err);
        if (rc == 0) {
            /* requests win over limits for every resource they name */
            const char *name;
            json_t *q;
            json_object_foreach ((json_t *)req, name, q) {
                scheduler__resources_set(r, name, scheduler_resources_get(&only, name));
            }
        }
        scheduler_resources_clear(&only);
        if (rc < 0)
            return -1;
    }
    if (nonzero) {
        bool has_cpu = json_object_get(req, "cpu") || json_object_get(lim, "cpu");
        bool has_mem = json_object_get(req, "memory") || json_object_get(lim, "memory");
        if (!has_cpu)
            r->milli_cpu = NONZERO_MILLI_CPU;
        if (!has_mem)
            r->memory = NONZERO_MEMORY;
    }
    return 0;
}

static void resources_max(struct scheduler_resources *a, const struct scheduler_resources *b)
{
    if (b->milli_cpu > a->milli_cpu)
        a->milli_cpu = b->milli_cpu;
    if (b->memory > a->memory)
        a->memory = b->memory;
    if (b->ephemeral > a->ephemeral)
        a->ephemeral = b->ephemeral;
    for (size_t i = 0; i < b->n_scalar; i++)
        if (b->scalar[i].value > scheduler_resources_get(a, b->scalar[i].name))
            scheduler__resources_set(a, b->scalar[i].name, b->scalar[i].value);
}

/* The pod's effective requests (resourcehelper.PodRequests): the larger of the containers'
 * sum and each init container's need, where restartable (sidecar) init containers keep
 * running and so add up; then the pod overhead. */
static int pod_requests(const json_t *spec, bool nonzero, struct scheduler_resources *out,
                        struct k8c_err **err)
{
    struct scheduler_resources sum = {0}, sidecars = {0}, init_max = {0};
    int rc = 0;
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(spec, "containers"), i, c) {
        struct scheduler_resources one = {0};
        _cleanup_free_ char *path = xasprintf("spec.containers[%zu]", i);
        rc = container_requests(c, nonzero, &one, path, err);
        if (rc == 0)
            scheduler_resources_add(&sum, &one, 1);
        scheduler_resources_clear(&one);
        if (rc < 0)
            goto out;
    }
    json_array_foreach (json_object_get(spec, "initContainers"), i, c) {
        struct scheduler_resources one = {0};
        _cleanup_free_ char *path = xasprintf("spec.initContainers[%zu]", i);
        rc = container_requests(c, nonzero, &one, path, err);
        if (rc == 0) {
            if (strcmp(str_or(c, "restartPolicy", ""), "Always") == 0) {
                scheduler_resources_add(&sidecars, &one, 1);
                resources_max(&init_max, &sidecars);
            } else {
                scheduler_resources_add(&one, &sidecars, 1);
                resources_max(&init_max, &one);
            }
        }
        scheduler_resources_clear(&one);
        if (rc < 0)
            goto out;
    }
    scheduler_resources_add(&sum, &sidecars, 1);
    resources_max(&sum, &init_max);
    const json_t *overhead = json_object_get(spec, "overhead");
    if (json_is_object(overhead)) {
        struct scheduler_resources oh = {0};
        rc = read_resource_list(overhead, &oh, "spec.overhead", err);
        if (rc == 0)
            scheduler_resources_add(&sum, &oh, 1);
        scheduler_resources_clear(&oh);
        if (rc < 0)
            goto out;
    }
    sum.pods = 0;
    *out = sum;
    memset(&sum, 0, sizeof(sum));
out:
    scheduler_resources_clear(&sum);
    scheduler_resources_clear(&sidecars);
    scheduler_resources_clear(&init_max);
    return rc;
}

static char **string_array(const json_t *arr, size_t *n)
{
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return NULL;
    char **out = xcalloc(json_array_size(arr), sizeof(char *));
    size_t i;
    json_t *v;
    json_array_foreach ((json_t *)arr, i, v) {
        if (json_is_string(v))
            out[(*n)++] = xstrdup(json_string_value(v));
    }
    return out;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool parse_int64(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno != 0)
        return false;
    *out = v;
    return true;
}

/* One NodeSelectorTerm. Problems make the term invalid (it matches nothing), as Kubernetes'
 * lazy-error node selector treats them. */
static void node_term_decode(const json_t *term, struct scheduler_node_term *t)
{
    const char *lists[] = {"matchExpressions", "matchFields"};
    size_t total = json_array_size(json_object_get(term, lists[0])) +
                   json_array_size(json_object_get(term, lists[1]));
    t->reqs = total ? xcalloc(total, sizeof(*t->reqs)) : NULL;
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *e;
        json_array_foreach (json_object_get(term, lists[l]), i, e) {
            struct scheduler_node_req *r = &t->reqs[t->n_reqs++];
            r->field = l == 1;
            r->key = xstrdup(str_or(e, "key", ""));
            r->values = string_array(json_object_get(e, "values"), &r->n_values);
            const char *op = str_or(e, "operator", "");
            if (strcmp(op, "In") == 0)
                r->op = SCHEDULER_OP_IN;
            else if (strcmp(op, "NotIn") == 0)
                r->op = SCHEDULER_OP_NOT_IN;
            else if (strcmp(op, "Exists") == 0 && !r->field)
                r->op = SCHEDULER_OP_EXISTS;
            else if (strcmp(op, "DoesNotExist") == 0 && !r->field)
                r->op = SCHEDULER_OP_DOES_NOT_EXIST;
            else if (strcmp(op, "Gt") == 0 && !r->field)
                r->op = SCHEDULER_OP_GT;
            else if (strcmp(op, "Lt") == 0 && !r->field)
                r->op = SCHEDULER_OP_LT;
            else
                t->invalid = true;
            if (r->field && strcmp(r->key, "metadata.name") != 0)
                t->invalid = true;
            if ((r->op == SCHEDULER_OP_IN || r->op == SCHEDULER_OP_NOT_IN) && r->n_values == 0)
                t->invalid = true;
            if (r->op == SCHEDULER_OP_GT || r->op == SCHEDULER_OP_LT) {
                if (r->n_values != 1 || !parse_int64(r->values[0], &r->number))
                    t->invalid = true;
            }
            if (*r->key == '\0')
                t->invalid = true;
        }
    }
    if (t->n_reqs == 0)
        t->invalid = true;
}

static void node_terms_free(struct scheduler_node_term *terms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < terms[i].n_reqs; j++) {
            free(terms[i].reqs[j].key);
            strv_free(terms[i].reqs[j].values, terms[i].reqs[j].n_values);
        }
        free(terms[i].reqs);
    }
    free(terms);
}

/* Makes a label selector from a LabelSelector object; JSON null or absent selects nothing
 * (returned as NULL with no error). */
static int selector_decode(const json_t *sel, struct api_label_selector **out, const char *path,
                           struct k8c_err **err)
{
    *out = NULL;
    if (sel == NULL || json_is_null(sel))
        return 0;
    *out = api_label_selector_from_json(sel, err);
    if (*out == NULL)
        return k8c_err_wrap(err, "%s", path);
    return 0;
}

static int affinity_terms_decode(const json_t *arr, bool weighted, const char *ns,
                                 struct scheduler_affinity_term **out, size_t *n, const char *path,
                                 struct k8c_err **err)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return 0;
    *out = xcalloc(json_array_size(arr), sizeof(**out));
    size_t i;
    json_t *e;
    json_array_foreach ((json_t *)arr, i, e) {
        struct scheduler_affinity_term *t = &(*out)[(*n)++];
        const json_t *term = weighted ? json_object_get(e, "podAffinityTerm") : e;
        if (weighted)
            t->weight = int32_of(json_object_get(e, "weight"));
        t->topology_key = xstrdup(str_or(term, "topologyKey", ""));
        t->namespaces = string_array(json_object_get(term, "namespaces"), &t->n_namespaces);
        const json_t *nsel = json_object_get(term, "namespaceSelector");
        if (json_is_object(nsel) && json_object_size(nsel) == 0)
            t->all_namespaces = true;
        else if (t->n_namespaces == 0 && (nsel == NULL || json_is_null(nsel))) {
            t->namespaces = xcalloc(1, sizeof(char *));
            t->namespaces[t->n_namespaces++] = xstrdup(ns);
        }
        if (json_is_object(nsel) && json_object_size(nsel) > 0) {
            _cleanup_free_ char *np = xasprintf("%s[%zu]%s.namespaceSelector", path, i,
                                                weighted ? ".podAffinityTerm" : "");
            if (selector_decode(nsel, &t->ns_selector, np, err) < 0)
                return -1;
        }
        _cleanup_free_ char *p =
            xasprintf("%s[%zu]%s.labelSelector", path, i, weighted ? ".podAffinityTerm" : "");
        if (selector_decode(json_object_get(term, "labelSelector"), &t->selector, p, err) < 0)
            return -1;
    }
    return 0;
}

static void affinity_terms_free(struct scheduler_affinity_term *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        api_label_selector_free(t[i].selector);
        api_label_selector_free(t[i].ns_selector);
        strv_free(t[i].namespaces, t[i].n_namespaces);
        free(t[i].topology_key);
    }
    free(t);
}

/* The spread constraint's selector with matchLabelKeys folded in: for each listed key the
 * pod carries, `key In (value)` joins the selector (as kube-scheduler merges them). */
static int spread_selector(const json_t *c, const json_t *pod_labels,
                           struct api_label_selector **out, const char *path, struct k8c_err **err)
{
    const json_t *sel = json_object_get(c, "labelSelector");
    const json_t *keys = json_object_get(c, "matchLabelKeys");
    if (sel == NULL || json_is_null(sel) || json_array_size(keys) == 0)
        return selector_decode(sel, out, path, err);
    _cleanup_json_ json_t *merged = json_deep_copy(sel);
    json_t *exprs = json_object_get(merged, "matchExpressions");
    if (!json_is_array(exprs)) {
        exprs = json_array();
        json_object_set_new(merged, "matchExpressions", exprs);
    }
    size_t i;
    json_t *k;
    json_array_foreach ((json_t *)keys, i, k) {
        const char *v = json_string_value(json_object_get(pod_labels, json_string_value(k)));
        if (json_is_string(k) && v != NULL)
            json_array_append_new(
                exprs, json_pack("{s:O,s:s,s:[s]}", "key", k, "operator", "In", "values", v));
    }
    return selector_decode(merged, out, path, err);
}

static int spread_decode(const json_t *arr, struct scheduler_pod *p, struct k8c_err **err)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    p->spread = xcalloc(n, sizeof(*p->spread));
    size_t i;
    json_t *c;
    json_array_foreach ((json_t *)arr, i, c) {
        struct scheduler_spread *s = &p->spread[p->n_spread++];
        s->topology_key = xstrdup(str_or(c, "topologyKey", ""));
        int32_t skew = int32_of(json_object_get(c, "maxSkew"));
        s->max_skew = skew > 0 ? skew : 1;
        s->hard = strcmp(str_or(c, "whenUnsatisfiable", "DoNotSchedule"), "ScheduleAnyway") != 0;
        s->min_domains = int32_of(json_object_get(c, "minDomains"));
        s->honor_affinity = strcmp(str_or(c, "nodeAffinityPolicy", "Honor"), "Ignore") != 0;
        s->honor_taints = strcmp(str_or(c, "nodeTaintsPolicy", "Ignore"), "Honor") == 0;
        _cleanup_free_ char *path =
            xasprintf("spec.topologySpreadConstraints[%zu].labelSelector", i);
        if (spread_selector(c, p->labels, &s->selector, path, err) < 0)
            return -1;
    }
    return 0;
}

static void tolerations_decode(const json_t *arr, struct scheduler_pod *p)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return;
    p->tolerations = xcalloc(n, sizeof(*p->tolerations));
    size_t i;
    json_t *t;
    json_array_foreach ((json_t *)arr, i, t) {
        struct scheduler_toleration *o = &p->tolerations[p->n_tolerations++];
        o->key = xstrdup(str_or(t, "key", ""));
        o->value = xstrdup(str_or(t, "value", ""));
        o->effect = xstrdup(str_or(t, "effect", ""));
        const char *op = str_or(t, "operator", "");
        o->exists = strcmp(op, "Exists") == 0;
        o->bad_op = !o->exists && *op != '\0' && strcmp(op, "Equal") != 0;
    }
}

static void ports_decode(const json_t *containers, struct scheduler_pod *p)
{
    size_t i, j;
    json_t *c, *port;
    json_array_foreach ((json_t *)containers, i, c) {
        json_array_foreach (json_object_get(c, "ports"), j, port) {
            json_int_t hp = json_integer_value(json_object_get(port, "hostPort"));
            if (hp <= 0 || hp > 65535)
                continue;
            p->ports = xrealloc(p->ports, (p->n_ports + 1) * sizeof(*p->ports));
            const char *ip = str_or(port, "hostIP", "");
            p->ports[p->n_ports++] = (struct scheduler_port){
                .ip = xstrdup(*ip ? ip : "0.0.0.0"),
                .protocol = xstrdup(str_or(port, "protocol", "TCP")),
                .port = (int32_t)hp,
            };
        }
    }
}

static void images_decode(const json_t *spec, struct scheduler_pod *p)
{
    const char *lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(spec, lists[l]), i, c) {
            p->n_containers++;
            const char *image = json_string_value(json_object_get(c, "image"));
            if (image == NULL || *image == '\0')
                continue;
            p->images = xrealloc(p->images, (p->n_images + 1) * sizeof(char *));
            p->images[p->n_images++] = scheduler_image_normalize(image);
        }
    }
}

static void node_affinity_decode(const json_t *na, struct scheduler_pod *p)
{
    const json_t *req = json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
    if (json_is_object(req)) {
        p->has_required = true;
        const json_t *terms = json_object_get(req, "nodeSelectorTerms");
        size_t n = json_array_size(terms);
        p->required = n ? xcalloc(n, sizeof(*p->required)) : NULL;
        for (size_t i = 0; i < n; i++)
            node_term_decode(json_array_get(terms, i), &p->required[p->n_required++]);
    }
    const json_t *pref = json_object_get(na, "preferredDuringSchedulingIgnoredDuringExecution");
    size_t n = json_array_size(pref);
    p->preferred = n ? xcalloc(n, sizeof(*p->preferred)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(pref, i);
        struct scheduler_node_term *t = &p->preferred[p->n_preferred++];
        node_term_decode(json_object_get(e, "preference"), t);
        t->weight = int32_of(json_object_get(e, "weight"));
    }
}

struct scheduler_pod *scheduler_pod_decode(const json_t *pod, struct k8c_err **err)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const json_t *spec = json_object_get(pod, "spec");
    const char *name = str_or(meta, "name", NULL);
    if (name == NULL) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "pod has no metadata.name");
        return NULL;
    }
    struct scheduler_pod *p = xcalloc(1, sizeof(*p));
    p->ns = xstrdup(str_or(meta, "namespace", "default"));
    p->name = xstrdup(name);
    p->key = xasprintf("%s/%s", p->ns, p->name);
    p->uid = xstrdup(str_or(meta, "uid", ""));
    p->resource_version = xstrdup(str_or(meta, "resourceVersion", ""));
    size_t oi;
    json_t *ref;
    json_array_foreach (json_object_get(meta, "ownerReferences"), oi, ref) {
        const char *kind = str_or(ref, "kind", NULL), *oname = str_or(ref, "name", NULL);
        if (json_is_true(json_object_get(ref, "controller")) && kind && oname && !p->owner)
            p->owner = xasprintf("%s/%s", kind, oname);
    }
    const char *node = str_or(spec, "nodeName", "");
    p->node_name = *node ? xstrdup(node) : NULL;
    const char *nominated = kjson_path_str(pod, "status.nominatedNodeName");
    p->nominated_node = nominated && *nominated ? xstrdup(nominated) : NULL;
    p->scheduler_name = xstrdup(str_or(spec, "schedulerName", "default-scheduler"));
    const json_t *labels = json_object_get(meta, "labels");
    p->labels = json_is_object(labels) ? json_incref((json_t *)labels) : json_object();
    p->priority = int32_of(json_object_get(spec, "priority"));
    p->preempt_never = strcmp(str_or(spec, "preemptionPolicy", ""), "Never") == 0;
    p->terminating = json_object_get(meta, "deletionTimestamp") != NULL &&
                     !json_is_null(json_object_get(meta, "deletionTimestamp"));
    const char *created = str_or(meta, "creationTimestamp", NULL);
    if (created == NULL || clock_parse_rfc3339(created, &p->created) < 0)
        p->created = 0;

    struct scheduler_resources nz = {0};
    if (pod_requests(spec, false, &p->req, err) < 0 || pod_requests(spec, true, &nz, err) < 0) {
        scheduler_pod_free(p);
        return NULL;
    }
    p->nonzero_cpu = nz.milli_cpu;
    p->nonzero_memory = nz.memory;
    scheduler_resources_clear(&nz);

    const json_t *ns = json_object_get(spec, "nodeSelector");
    if (json_is_object(ns) && json_object_size(ns) > 0)
        p->node_selector = json_incref((json_t *)ns);
    const json_t *aff = json_object_get(spec, "affinity");
    node_affinity_decode(json_object_get(aff, "nodeAffinity"), p);
    tolerations_decode(json_object_get(spec, "tolerations"), p);
    ports_decode(json_object_get(spec, "containers"), p);
    images_decode(spec, p);

    const char *req = "requiredDuringSchedulingIgnoredDuringExecution";
    const char *pref = "preferredDuringSchedulingIgnoredDuringExecution";
    const json_t *pa = json_object_get(aff, "podAffinity");
    const json_t *paa = json_object_get(aff, "podAntiAffinity");
    if (affinity_terms_decode(json_object_get(pa, req), false, p->ns, &p->affinity, &p->n_affinity,
                              "spec.affinity.podAffinity.requiredDuringScheduling"
                              "IgnoredDuringExecution",
                              err) < 0 ||
        affinity_terms_decode(json_object_get(paa, req), false, p->ns, &p->anti_affinity,
                              &p->n_anti_affinity,
                              "spec.affinity.podAntiAffinity.requiredDuringScheduling"
                              "IgnoredDuringExecution",
                              err) < 0 ||
        affinity_terms_decode(json_object_get(pa, pref), true, p->ns, &p->pref_affinity,
                              &p->n_pref_affinity,
                              "spec.affinity.podAffinity.preferredDuringScheduling"
                              "IgnoredDuringExecution",
                              err) < 0 ||
        affinity_terms_decode(json_object_get(paa, pref), true, p->ns, &p->pref_anti_affinity,
                              &p->n_pref_anti_affinity,
                              "spec.affinity.podAntiAffinity.preferredDuringScheduling"
                              "IgnoredDuringExecution",
                              err) < 0 ||
        spread_decode(json_object_get(spec, "topologySpreadConstraints"), p, err) < 0) {
        scheduler_pod_free(p);
        return NULL;
    }
    return p;
}

void scheduler_pod_free(struct scheduler_pod *p)
{
    if (p == NULL)
        return;
    free(p->ns);
    free(p->name);
    free(p->key);
    free(p->uid);
    free(p->resource_version);
    free(p->owner);
    free(p->node_name);
    free(p->nominated_node);
    free(p->scheduler_name);
    json_decref(p->labels);
    json_decref(p->node_selector);
    scheduler_resources_clear(&p->req);
    node_terms_free(p->required, p->n_required);
    node_terms_free(p->preferred, p->n_preferred);
    for (size_t i = 0; i < p->n_tolerations; i++) {
        free(p->tolerations[i].key);
        free(p->tolerations[i].value);
        free(p->tolerations[i].effect);
    }
    free(p->tolerations);
    for (size_t i = 0; i < p->n_ports; i++) {
        free(p->ports[i].ip);
        free(p->ports[i].protocol);
    }
    free(p->ports);
    for (size_t i = 0; i < p->n_spread; i++) {
        free(p->spread[i].topology_key);
        api_label_selector_free(p->spread[i].selector);
    }
    free(p->spread);
    affinity_terms_free(p->affinity, p->n_affinity);
    affinity_terms_free(p->anti_affinity, p->n_anti_affinity);
    affinity_terms_free(p->pref_affinity, p->n_pref_affinity);
    affinity_terms_free(p->pref_anti_affinity, p->n_pref_anti_affinity);
    strv_free(p->images, p->n_images);
    free(p);
}

struct scheduler_node *scheduler_node_decode(const json_t *node, struct k8c_err **err)
{
    const char *name = kjson_path_str(node, "metadata.name");
    if (name == NULL) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "node has no metadata.name");
        return NULL;
    }
    struct scheduler_node *n = xcalloc(1, sizeof(*n));
    n->name = xstrdup(name);
    const json_t *labels = kjson_path(node, "metadata.labels");
    n->labels = json_is_object(labels) ? json_incref((json_t *)labels) : json_object();
    const json_t *spec = json_object_get(node, "spec");
    n->unschedulable = json_is_true(json_object_get(spec, "unschedulable"));
    const json_t *taints = json_object_get(spec, "taints");
    size_t nt = json_array_size(taints);
    n->taints = nt ? xcalloc(nt, sizeof(*n->taints)) : NULL;
    for (size_t i = 0; i < nt; i++) {
        const json_t *t = json_array_get(taints, i);
        n->taints[n->n_taints++] = (struct scheduler_taint){
            .key = xstrdup(str_or(t, "key", "")),
            .value = xstrdup(str_or(t, "value", "")),
            .effect = xstrdup(str_or(t, "effect", "")),
        };
    }
    const json_t *status = json_object_get(node, "status");
    const json_t *alloc = json_object_get(status, "allocatable");
    const char *field = "status.allocatable";
    if (alloc == NULL) {
        alloc = json_object_get(status, "capacity");
        field = "status.capacity";
    }
    if (alloc != NULL && !json_is_object(alloc)) {
        n->invalid = xasprintf("%s is not an object", field);
    } else if (alloc != NULL) {
        struct k8c_err *qerr = NULL;
        if (read_resource_list(alloc, &n->allocatable, field, &qerr) < 0) {
            n->invalid = xstrdup(qerr->msg);
            k8c_err_free(qerr);
        }
    }
    size_t i;
    json_t *img;
    json_array_foreach (json_object_get(status, "images"), i, img) {
        int64_t size = json_integer_value(json_object_get(img, "sizeBytes"));
        size_t j;
        json_t *nm;
        json_array_foreach (json_object_get(img, "names"), j, nm) {
            if (!json_is_string(nm))
                continue;
            n->images = xrealloc(n->images, (n->n_images + 1) * sizeof(*n->images));
            n->images[n->n_images++] =
                (struct scheduler_image){scheduler_image_normalize(json_string_value(nm)), size};
        }
    }
    return n;
}

void scheduler_node_free(struct scheduler_node *n)
{
    if (n == NULL)
        return;
    free(n->name);
    json_decref(n->labels);
    for (size_t i = 0; i < n->n_taints; i++) {
        free(n->taints[i].key);
        free(n->taints[i].value);
        free(n->taints[i].effect);
    }
    free(n->taints);
    scheduler_resources_clear(&n->allocatable);
    free(n->invalid);
    for (size_t i = 0; i < n->n_images; i++)
        free(n->images[i].name);
    free(n->images);
    free(n);
}

bool scheduler_toleration_tolerates(const struct scheduler_toleration *t,
                                    const struct scheduler_taint *taint)
{
    if (*t->effect && strcmp(t->effect, taint->effect) != 0)
        return false;
    if (*t->key && strcmp(t->key, taint->key) != 0)
        return false;
    if (t->bad_op)
        return false;
    return t->exists || strcmp(t->value, taint->value) == 0;
}

bool scheduler__tolerated(const struct scheduler_toleration *tols, size_t n,
                          const struct scheduler_taint *taint)
{
    for (size_t i = 0; i < n; i++)
        if (scheduler_toleration_tolerates(&tols[i], taint))
            return true;
    return false;
}

static bool in_values(const struct scheduler_node_req *r, const char *v)
{
    for (size_t i = 0; i < r->n_values; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

bool scheduler__node_term_match(const struct scheduler_node_term *t, const char *node_name,
                                const json_t *labels)
{
    if (t->invalid)
        return false;
    for (size_t i = 0; i < t->n_reqs; i++) {
        const struct scheduler_node_req *r = &t->reqs[i];
        const char *v = r->field ? node_name : json_string_value(json_object_get(labels, r->key));
        int64_t num;
        switch (r->op) {
        case SCHEDULER_OP_IN:
            if (v == NULL || !in_values(r, v))
                return false;
            break;
        case SCHEDULER_OP_NOT_IN:
            if (v != NULL && in_values(r, v))
                return false;
            break;
        case SCHEDULER_OP_EXISTS:
            if (v == NULL)
                return false;
            break;
        case SCHEDULER_OP_DOES_NOT_EXIST:
            if (v != NULL)
                return false;
            break;
        case SCHEDULER_OP_GT:
        case SCHEDULER_OP_LT:
            if (!parse_int64(v, &num))
                return false;
            if (r->op == SCHEDULER_OP_GT ? !(num > r->number) : !(num < r->number))
                return false;
            break;
        }
    }
    return true;
}

bool scheduler__node_affinity_match(const struct scheduler_pod *p, const struct scheduler_node *n)
{
    if (p->node_selector != NULL) {
        const char *k;
        json_t *v;
        json_object_foreach (p->node_selector, k, v) {
            const char *have = json_string_value(json_object_get(n->labels, k));
            if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
                return false;
        }
    }
    if (!p->has_required)
        return true;
    for (size_t i = 0; i < p->n_required; i++)
        if (scheduler__node_term_match(&p->required[i], n->name, n->labels))
            return true;
    return false;
}

bool scheduler__term_matches(const struct scheduler_affinity_term *t, const json_t *ns_labels,
                             const struct scheduler_pod *other)
{
    if (t->selector == NULL)
        return false;
    bool ns_ok = t->all_namespaces;
    for (size_t i = 0; !ns_ok && i < t->n_namespaces; i++)
        ns_ok = strcmp(t->namespaces[i], other->ns) == 0;
    if (!ns_ok && t->ns_selector != NULL) {
        const json_t *labels = json_object_get(ns_labels, other->ns);
        ns_ok = labels != NULL && api_label_selector_match(t->ns_selector, labels);
    }
    return ns_ok && api_label_selector_match(t->selector, other->labels);
}
