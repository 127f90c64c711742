/* The EndpointSlice controller: for each Service with a selector, discovery.k8s.io/v1
 * EndpointSlices (labels kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by,
 * owned by the Service) holding its pods grouped by address type and resolved ports, at most
 * 100 endpoints per slice, with ready/serving/terminating conditions. Existing slices are
 * kept when unchanged, rewritten in place when not, and removed when no longer needed. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

#define MANAGED_BY "endpointslice-controller.k8s.io"
#define LABEL_SERVICE "kubernetes.io/service-name"
#define LABEL_MANAGED "endpointslice.kubernetes.io/managed-by"
#define MAX_PER_SLICE 100

static json_t *endpoint_of(const json_t *pod, bool publish)
{
    bool pod_ready = ctl__pod_ready(pod);
    bool terminating = ctl__is_deleting(pod);
    bool ready = publish || (pod_ready && !terminating);
    bool serving = publish || pod_ready;
    json_t *ep =
        json_pack("{s:[s],s:{s:b,s:b,s:b}}", "addresses", kjson_path_str(pod, "status.podIP"),
                  "conditions", "ready", ready, "serving", serving, "terminating", terminating);
    const char *node = kjson_path_str(pod, "spec.nodeName");
    if (node && *node)
        json_object_set_new(ep, "nodeName", json_string(node));
    json_object_set_new(ep, "targetRef", ctl__pod_target_ref(pod));
    return ep;
}

static int cmp_addr(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    const char *x = json_string_value(json_array_get(json_object_get(a, "addresses"), 0));
    const char *y = json_string_value(json_array_get(json_object_get(b, "addresses"), 0));
    return strcmp(x ?: "", y ?: "");
}

/* Slice ports carry a name always ("" when unnamed), as Kubernetes writes them. */
static json_t *slice_ports(json_t *ports)
{
    json_t *out = json_deep_copy(ports);
    size_t i;
    json_t *p;
    json_array_foreach (out, i, p) {
        if (json_object_get(p, "name") == NULL)
            json_object_set_new(p, "name", json_string(""));
    }
    return out;
}

/* The desired slices' contents: [{addressType, ports, endpoints}] in a stable order. */
static json_t *desired_slices(struct ctl *ctl, const json_t *svc)
{
    bool publish = json_is_true(kjson_path(svc, "spec.publishNotReadyAddresses"));
    bool no_ports = json_array_size(kjson_path(svc, "spec.ports")) == 0;
    _cleanup_json_ json_t *pods =
        ctl__list(ctl, CTL_PODS, kjson_path_str(svc, "metadata.namespace"));
    _cleanup_json_ json_t *groups = json_object();
    size_t i;
    json_t *pod;
    json_array_foreach (pods, i, pod) {
        if (!ctl__map_selector_matches(kjson_path(svc, "spec.selector"),
                                       kjson_path(pod, "metadata.labels")))
            continue;
        if (!ctl__pod_in_endpoints(pod, publish, true))
            continue;
        _cleanup_json_ json_t *ports = ctl__endpoint_ports(svc, pod);
        if (json_array_size(ports) == 0 && !no_ports)
            continue;
        const char *ip = kjson_path_str(pod, "status.podIP");
        const char *type = strchr(ip, ':') ? "IPv6" : "IPv4";
        _cleanup_json_ json_t *sp = slice_ports(ports);
        _cleanup_free_ char *pk = json_dumps(sp, JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *gk = xasprintf("%s|%s", type, pk);
        json_t *g = json_object_get(groups, gk);
        if (g == NULL) {
            g = json_pack("{s:s,s:O,s:[]}", "addressType", type, "ports", sp, "endpoints");
            json_object_set_new(groups, gk, g);
        }
        json_array_append_new(json_object_get(g, "endpoints"), endpoint_of(pod, publish));
    }
    json_t *out = json_array();
    const char *k;
    json_t *g;
    json_object_foreach (groups, k, g) {
        json_t *eps = json_object_get(g, "endpoints");
        size_t n = json_array_size(eps);
        json_t **v = xcalloc(n ? n : 1, sizeof(*v));
        for (size_t j = 0; j < n; j++)
            v[j] = json_array_get(eps, j);
        qsort(v, n, sizeof(*v), cmp_addr);
        for (size_t start = 0; start < n; start += MAX_PER_SLICE) {
            json_t *chunk = json_array();
            for (size_t j = start; j < n && j < start + MAX_PER_SLICE; j++)
                json_array_append(chunk, v[j]);
            json_array_append_new(out, json_pack("{s:O,s:O,s:o}", "addressType",
                                                 json_object_get(g, "addressType"), "ports",
                                                 json_object_get(g, "ports"), "endpoints", chunk));
        }
        free(v);
    }
    return out;
}

static bool same_content(const json_t *slice, const json_t *want)
{
    json_t *eps = json_object_get(slice, "endpoints");
    json_t *ports = json_object_get(slice, "ports");
    bool eps_eq = json_equal(eps, json_object_get(want, "endpoints")) ||
                  (eps == NULL && json_array_size(json_object_get(want, "endpoints")) == 0);
    bool ports_eq = json_equal(ports, json_object_get(want, "ports")) ||
                    (ports == NULL && json_array_size(json_object_get(want, "ports")) == 0);
    return eps_eq && ports_eq &&
           json_equal(json_object_get(slice, "addressType"), json_object_get(want, "addressType"));
}

static json_t *slice_labels(const json_t *svc)
{
    json_t *labels = json_deep_copy(kjson_path(svc, "metadata.labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    json_object_set_new(labels, LABEL_SERVICE, json_string(kjson_path_str(svc, "metadata.name")));
    json_object_set_new(labels, LABEL_MANAGED, json_string(MANAGED_BY));
    return labels;
}

static bool is_ours(const json_t *slice, const char *svc_name)
{
    json_t *labels = kjson_path(slice, "metadata.labels");
    const char *s = json_string_value(json_object_get(labels, LABEL_SERVICE));
    const char *m = json_string_value(json_object_get(labels, LABEL_MANAGED));
    return s && m && strcmp(s, svc_name) == 0 && strcmp(m, MANAGED_BY) == 0;
}

/* Slices this controller created or deleted and has not yet seen through the watch: acting
 * on a cache without them would make duplicates. */
static struct ctl_expectations *exp_of(struct ctl_controller *cc)
{
    return cc->state;
}

static void state_free(void *opaque)
{
    ctl__expectations_free(opaque);
}

static int slice_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    if (!ctl__expectations_satisfied(exp_of(cc), key)) {
        workqueue_add_after(cc->queue, key, 200);
        return 0;
    }
    _cleanup_free_ char *ns = NULL, *name = NULL;
    ctl__split_key(key, &ns, &name);
    _cleanup_json_ json_t *svc = ctl__get(ctl, CTL_SERVICES, key);
    _cleanup_json_ json_t *all = ctl__list(ctl, CTL_ENDPOINTSLICES, ns);
    _cleanup_json_ json_t *existing = json_array();
    size_t i;
    json_t *s;
    json_array_foreach (all, i, s) {
        if (is_ours(s, name) && !ctl__is_deleting(s))
            json_array_append(existing, s);
    }
    json_t *sel = kjson_path(svc, "spec.selector");
    bool managed = svc != NULL && json_is_object(sel) && json_object_size(sel) > 0;
    _cleanup_json_ json_t *want = managed ? desired_slices(ctl, svc) : json_array();
    size_t n_existing = json_array_size(existing);
    bool *used = xcalloc(n_existing ? n_existing : 1, sizeof(bool));
    size_t n_want = json_array_size(want);
    bool *done = xcalloc(n_want ? n_want : 1, sizeof(bool));
    int rc = 0;
    /* Unchanged slices stay as they are. */
    for (size_t w = 0; w < n_want; w++) {
        for (size_t e = 0; e < n_existing && !done[w]; e++) {
            if (!used[e] && same_content(json_array_get(existing, e), json_array_get(want, w)))
                used[e] = done[w] = true;
        }
    }
    _cleanup_json_ json_t *labels = managed ? slice_labels(svc) : NULL;
    for (size_t w = 0; w < n_want && rc == 0; w++) {
        if (done[w])
            continue;
        json_t *content = json_array_get(want, w);
        size_t e = 0;
        while (e < n_existing &&
               (used[e] || !json_equal(json_object_get(json_array_get(existing, e), "addressType"),
                                       json_object_get(content, "addressType"))))
            e++;
        _cleanup_json_ json_t *out = NULL;
        if (e < n_existing) {
            used[e] = true;
            json_t *cur = json_array_get(existing, e);
            _cleanup_json_ json_t *copy = json_deep_copy(cur);
            json_object_set(copy, "endpoints", json_object_get(content, "endpoints"));
            json_object_set(copy, "ports", json_object_get(content, "ports"));
            json_object_set(json_object_get(copy, "metadata"), "labels", labels);
            _cleanup_free_ char *path =
                ctl__path(CTL_ENDPOINTSLICES, ns, kjson_path_str(cur, "metadata.name"), NULL);
            out = client_update(ctl->client, path, copy, err);
        } else {
            _cleanup_free_ char *gen = xasprintf("%s-", name);
            json_t *refs = json_array();
            json_array_append_new(refs, ctl__owner_ref(svc, "v1", "Service"));
            _cleanup_json_ json_t *slice = json_pack(
                "{s:s,s:s,s:{s:s,s:s,s:O,s:o},s:O,s:O,s:O}", "apiVersion", "discovery.k8s.io/v1",
                "kind", "EndpointSlice", "metadata", "generateName", gen, "namespace", ns, "labels",
                labels, "ownerReferences", refs, "addressType",
                json_object_get(content, "addressType"), "ports", json_object_get(content, "ports"),
                "endpoints", json_object_get(content, "endpoints"));
            _cleanup_free_ char *coll = ctl__path(CTL_ENDPOINTSLICES, ns, NULL, NULL);
            ctl__expectations_expect_creations(exp_of(cc), key, 1);
            out = client_create(ctl->client, coll, slice, err);
            if (out == NULL)
                ctl__expectations_creation_observed(exp_of(cc), key);
        }
        if (out == NULL)
            rc = -1;
    }
    /* Slices nobody needs any more go (a managed Service keeps at least one, even empty, as
     * Kubernetes does, so clients can tell "no endpoints" from "not synced"). */
    bool keep_one = managed && n_want == 0;
    for (size_t e = 0; e < n_existing && rc == 0; e++) {
        if (used[e])
            continue;
        json_t *cur = json_array_get(existing, e);
        if (keep_one && json_array_size(json_object_get(cur, "endpoints")) == 0) {
            keep_one = false;
            continue;
        }
        _cleanup_free_ char *path =
            ctl__path(CTL_ENDPOINTSLICES, ns, kjson_path_str(cur, "metadata.name"), NULL);
        _cleanup_free_ char *skey = informer_key_of(cur);
        const char *keys[] = {skey};
        ctl__expectations_expect_deletions(exp_of(cc), key, keys, 1);
        _cleanup_err_ struct k8c_err *derr = NULL;
        _cleanup_json_ json_t *out = client_delete(ctl->client, path, NULL, &derr);
        if (out == NULL) {
            ctl__expectations_deletion_observed(exp_of(cc), key, skey);
            if (derr->reason != K8C_REASON_NOT_FOUND) {
                *err = steal_ptr(&derr);
                rc = -1;
            }
        }
    }
    if (rc == 0 && keep_one) {
        /* An empty placeholder slice for a Service with no endpoints. */
        _cleanup_free_ char *gen = xasprintf("%s-", name);
        json_t *refs = json_array();
        json_array_append_new(refs, ctl__owner_ref(svc, "v1", "Service"));
        _cleanup_json_ json_t *slice = json_pack(
            "{s:s,s:s,s:{s:s,s:s,s:O,s:o},s:s,s:[],s:[]}", "apiVersion", "discovery.k8s.io/v1",
            "kind", "EndpointSlice", "metadata", "generateName", gen, "namespace", ns, "labels",
            labels, "ownerReferences", refs, "addressType", "IPv4", "ports", "endpoints");
        _cleanup_free_ char *coll = ctl__path(CTL_ENDPOINTSLICES, ns, NULL, NULL);
        ctl__expectations_expect_creations(exp_of(cc), key, 1);
        _cleanup_json_ json_t *out = client_create(ctl->client, coll, slice, err);
        if (out == NULL) {
            ctl__expectations_creation_observed(exp_of(cc), key);
            rc = -1;
        }
    }
    free(used);
    free(done);
    return rc;
}

/* The Service key a slice of ours belongs to, or NULL. */
static char *service_key(const json_t *slice)
{
    json_t *labels = kjson_path(slice, "metadata.labels");
    const char *svc = json_string_value(json_object_get(labels, LABEL_SERVICE));
    const char *m = json_string_value(json_object_get(labels, LABEL_MANAGED));
    const char *ns = kjson_path_str(slice, "metadata.namespace");
    if (svc == NULL || m == NULL || strcmp(m, MANAGED_BY) != 0 || ns == NULL)
        return NULL;
    return xasprintf("%s/%s", ns, svc);
}

static void on_slice_add(struct ctl *ctl, json_t *slice, void *opaque)
{
    struct ctl_controller *cc = opaque;
    _cleanup_free_ char *key = service_key(slice);
    if (key == NULL)
        return;
    ctl__expectations_creation_observed(exp_of(cc), key);
    workqueue_add(cc->queue, key);
}

static void slice_changed(struct ctl_controller *cc, const json_t *slice)
{
    _cleanup_free_ char *key = service_key(slice);
    if (key)
        workqueue_add(cc->queue, key);
}

static void on_slice_update(struct ctl *ctl, json_t *old_slice, json_t *slice, void *opaque)
{
    slice_changed(opaque, slice);
}

static void on_slice_delete(struct ctl *ctl, json_t *slice, void *opaque)
{
    struct ctl_controller *cc = opaque;
    _cleanup_free_ char *key = service_key(slice);
    _cleanup_free_ char *skey = informer_key_of(slice);
    if (key == NULL || skey == NULL)
        return;
    ctl__expectations_deletion_observed(exp_of(cc), key, skey);
    workqueue_add(cc->queue, key);
}

void ctl__endpointslice_setup(struct ctl *ctl)
{
    struct ctl_controller *cc =
        ctl__controller_new(ctl, "endpointslice", slice_sync, ctl__expectations_new(), state_free);
    struct ctl_listener svcs = {ctl__on_enqueue, ctl__on_enqueue_update, ctl__on_enqueue, cc};
    struct ctl_listener pods = {ctl__on_pod_services, ctl__on_pod_services_update,
                                ctl__on_pod_services, cc};
    struct ctl_listener slices = {on_slice_add, on_slice_update, on_slice_delete, cc};
    ctl__listen(ctl, CTL_SERVICES, &svcs);
    ctl__listen(ctl, CTL_PODS, &pods);
    ctl__listen(ctl, CTL_ENDPOINTSLICES, &slices);
}
