/* The Namespace controller: when a namespace is being deleted, deletes everything in it (every
 * namespaced kind the API serves), waits until nothing is left, then removes the `kubernetes`
 * finalizer through the finalize subresource so the API server lets the namespace go. */
#include <stdlib.h>
#include <string.h>

#include "api/kinds.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

#define RECHECK_MS 1000

static bool deletable(const struct api_kind *k)
{
    unsigned need = API_VERB_LIST | API_VERB_DELETE;
    return k->namespaced && (k->verbs & need) == need;
}

/* Deletes what is left of kind k in ns; adds to *remaining how many objects still exist.
 * A kind the server does not list (404, 405) is skipped. */
static int empty_kind(struct ctl *ctl, const struct api_kind *k, const char *ns, size_t *remaining,
                      struct buf *left, struct k8c_err **err)
{
    const char *api_version = k->api_version;
    _cleanup_free_ char *base =
        xasprintf("%s/%s/namespaces/%s/%s", strchr(api_version, '/') ? "/apis" : "/api",
                  api_version, ns, k->resource);
    _cleanup_free_ char *list_path = xasprintf("%s?limit=500", base);
    _cleanup_err_ struct k8c_err *lerr = NULL;
    _cleanup_json_ json_t *list = client_get(ctl->client, list_path, &lerr);
    if (list == NULL) {
        if (lerr->reason == K8C_REASON_NOT_FOUND || lerr->reason == K8C_REASON_METHOD_NOT_ALLOWED ||
            lerr->reason == K8C_REASON_NOT_ACCEPTABLE || lerr->reason == K8C_REASON_BAD_REQUEST)
            return 0;
        *err = steal_ptr(&lerr);
        return -1;
    }
    json_t *items = json_object_get(list, "items");
    size_t n = json_array_size(items);
    if (n == 0)
        return 0;
    *remaining += n;
    buf_appendf(left, "%s%s.%s has %zu resource instances", left->len ? ", " : "", k->resource,
                k->group[0] ? k->group : "", n);
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        if (ctl__is_deleting(item))
            continue;
        const char *name = kjson_path_str(item, "metadata.name");
        if (name == NULL)
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", base, name);
        _cleanup_json_ json_t *opts = json_pack("{s:s}", "propagationPolicy", "Background");
        _cleanup_err_ struct k8c_err *derr = NULL;
        _cleanup_json_ json_t *out = client_delete(ctl->client, path, opts, &derr);
        if (out == NULL && derr->reason != K8C_REASON_NOT_FOUND &&
            derr->reason != K8C_REASON_CONFLICT)
            LOG_DEBUG("namespace %s: delete %s failed: %s", ns, path, derr->msg);
    }
    return 0;
}

static int finalize(struct ctl *ctl, const json_t *ns_obj, struct k8c_err **err)
{
    const char *name = kjson_path_str(ns_obj, "metadata.name");
    _cleanup_json_ json_t *copy = json_deep_copy(ns_obj);
    json_t *fins = json_array();
    size_t i;
    json_t *f;
    json_array_foreach (kjson_path(ns_obj, "spec.finalizers"), i, f) {
        if (!json_is_string(f) || strcmp(json_string_value(f), "kubernetes") != 0)
            json_array_append(fins, f);
    }
    json_object_set_new(kjson_object_ensure(copy, "spec"), "finalizers", fins);
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/finalize", name);
    _cleanup_err_ struct k8c_err *ferr = NULL;
    _cleanup_json_ json_t *out = client_update(ctl->client, path, copy, &ferr);
    if (out == NULL && ferr->reason != K8C_REASON_NOT_FOUND) {
        *err = steal_ptr(&ferr);
        return -1;
    }
    LOG_DEBUG("namespace %s finalized", name);
    return 0;
}

static int ns_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    _cleanup_json_ json_t *ns = ctl__get(ctl, CTL_NAMESPACES, key);
    if (ns == NULL || !ctl__is_deleting(ns))
        return 0;
    bool ours = false;
    size_t i;
    json_t *f;
    json_array_foreach (kjson_path(ns, "spec.finalizers"), i, f) {
        if (json_is_string(f) && strcmp(json_string_value(f), "kubernetes") == 0)
            ours = true;
    }
    if (!ours)
        return 0;
    size_t n_kinds = 0, remaining = 0;
    const struct api_kind *kinds = api_kinds_all(&n_kinds);
    _cleanup_buf_ struct buf left = BUF_INIT;
    for (size_t k = 0; k < n_kinds; k++) {
        if (!deletable(&kinds[k]))
            continue;
        if (empty_kind(ctl, &kinds[k], key, &remaining, &left, err) < 0)
            return -1;
    }
    if (remaining > 0) {
        LOG_DEBUG("namespace %s: waiting for %zu objects: %s", key, remaining,
                  left.data ? left.data : "");
        workqueue_add_after(cc->queue, key, RECHECK_MS);
        return 0;
    }
    return finalize(ctl, ns, err);
}

static void on_ns(struct ctl *ctl, json_t *ns, void *opaque)
{
    if (ctl__is_deleting(ns))
        ctl__enqueue_obj(opaque, ns);
}

static void on_ns_update(struct ctl *ctl, json_t *old_ns, json_t *ns, void *opaque)
{
    on_ns(ctl, ns, opaque);
}

void ctl__namespace_setup(struct ctl *ctl)
{
    struct ctl_controller *cc = ctl__controller_new(ctl, "namespace", ns_sync, NULL, NULL);
    struct ctl_listener l = {on_ns, on_ns_update, NULL, cc};
    ctl__listen(ctl, CTL_NAMESPACES, &l);
}
