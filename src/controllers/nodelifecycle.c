/* Node lifecycle: a node whose kubelet neither renews its Lease (kube-node-lease/<node>) nor
 * posts status for the grace period (--node-monitor-grace-period, 40 s) gets its conditions
 * set to Unknown; nodes not Ready get the node.kubernetes.io/unreachable or not-ready taints
 * (NoSchedule and NoExecute), their pods are marked not ready, and pods without a toleration
 * for a NoExecute taint are evicted (deleted) at once or after their tolerationSeconds, so
 * their controllers recreate them elsewhere. A node that comes back is cleared. Freshness is
 * judged on this process' monotonic clock, as Kubernetes' probeTimestamp. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

#define DEFAULT_GRACE_S 40
#define TICK_MS 1000
#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"
#define TAINT_NOT_READY "node.kubernetes.io/not-ready"

struct nl_state {
    json_t *health; /* node name -> {"hb": heartbeat, "lease": renewTime, "probe": ns} */
};

static void nl_state_free(void *opaque)
{
    struct nl_state *st = opaque;
    json_decref(st->health);
    free(st);
}

static const char *cond_status(const json_t *node, const char *type)
{
    return kjson_path_str(ctl__condition(json_object_get(node, "status"), type), "status");
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Marks the node's conditions Unknown (the kubelet stopped posting). */
static json_t *mark_unknown(struct ctl *ctl, const json_t *node)
{
    _cleanup_json_ json_t *copy = json_deep_copy(node);
    json_t *status = kjson_object_ensure(copy, "status");
    char now[21];
    ctl__now(now);
    static const char *const types[] = {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"};
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        json_t *c = ctl__condition(status, types[i]);
        if (c == NULL) {
            if (i > 0)
                continue;
            json_t *conds = json_object_get(status, "conditions");
            if (!json_is_array(conds)) {
                conds = json_array();
                json_object_set_new(status, "conditions", conds);
            }
            json_array_append_new(conds,
                                  json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", "Ready", "status",
                                            "Unknown", "reason", "NodeStatusNeverUpdated",
                                            "message", "Kubelet never posted node status.",
                                            "lastHeartbeatTime", now, "lastTransitionTime", now));
            continue;
        }
        const char *s = kjson_path_str(c, "status");
        if (s && strcmp(s, "Unknown") == 0)
            continue;
        json_object_set_new(c, "status", json_string("Unknown"));
        json_object_set_new(c, "reason", json_string("NodeStatusUnknown"));
        json_object_set_new(c, "message", json_string("Kubelet stopped posting node status."));
        json_object_set_new(c, "lastTransitionTime", json_string(now));
    }
    _cleanup_free_ char *path =
        ctl__path(CTL_NODES, NULL, kjson_path_str(node, "metadata.name"), "status");
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *out = client_update(ctl->client, path, copy, &err);
    if (out == NULL)
        LOG_DEBUG("node lifecycle: status update failed: %s", err->msg);
    else
        LOG_INFO("node %s: stopped posting status; Ready=Unknown",
                 kjson_path_str(node, "metadata.name"));
    return out;
}

static bool is_lifecycle_taint(const json_t *t)
{
    const char *key = kjson_path_str(t, "key");
    return key && (strcmp(key, TAINT_UNREACHABLE) == 0 || strcmp(key, TAINT_NOT_READY) == 0);
}

/* Brings the node's lifecycle taints in line with its Ready status. */
static void sync_taints(struct ctl *ctl, const json_t *node)
{
    const char *ready = cond_status(node, "Ready");
    const char *want = NULL;
    if (ready == NULL || strcmp(ready, "Unknown") == 0)
        want = TAINT_UNREACHABLE;
    else if (strcmp(ready, "False") == 0)
        want = TAINT_NOT_READY;
    if (ready == NULL)
        return; /* a node that never reported is left to the grace period first */
    json_t *taints = kjson_path(node, "spec.taints");
    _cleanup_json_ json_t *next = json_array();
    bool have_ns = false, have_ne = false, changed = false;
    size_t i;
    json_t *t;
    json_array_foreach (taints, i, t) {
        if (!is_lifecycle_taint(t)) {
            json_array_append(next, t);
            continue;
        }
        const char *key = kjson_path_str(t, "key");
        const char *effect = kjson_path_str(t, "effect");
        if (want && strcmp(key, want) == 0 && effect) {
            if (strcmp(effect, "NoSchedule") == 0 && !have_ns) {
                have_ns = true;
                json_array_append(next, t);
                continue;
            }
            if (strcmp(effect, "NoExecute") == 0 && !have_ne) {
                have_ne = true;
                json_array_append(next, t);
                continue;
            }
        }
        changed = true;
    }
    if (want && !have_ns) {
        json_array_append_new(next, json_pack("{s:s,s:s}", "key", want, "effect", "NoSchedule"));
        changed = true;
    }
    if (want && !have_ne) {
        char now[21];
        ctl__now(now);
        json_array_append_new(
            next, json_pack("{s:s,s:s,s:s}", "key", want, "effect", "NoExecute", "timeAdded", now));
        changed = true;
    }
    if (!changed)
        return;
    _cleanup_json_ json_t *patch = json_pack(
        "{s:{s:O},s:{s:s}}", "spec", "taints", json_array_size(next) ? next : json_null(),
        "metadata", "resourceVersion", kjson_path_str(node, "metadata.resourceVersion") ?: "");
    _cleanup_free_ char *path =
        ctl__path(CTL_NODES, NULL, kjson_path_str(node, "metadata.name"), NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_patch(ctl->client, path, "merge", patch, &err);
    if (out == NULL)
        LOG_DEBUG("node lifecycle: taint update failed: %s", err->msg);
    else
        LOG_INFO("node %s: lifecycle taints now %s", kjson_path_str(node, "metadata.name"),
                 want ? want : "none");
}

/* Whether toleration tol tolerates taint (ToleratesTaint). */
static bool tolerates(const json_t *tol, const json_t *taint)
{
    const char *teff = kjson_path_str(tol, "effect");
    const char *eff = kjson_path_str(taint, "effect");
    if (teff && *teff && !str_eq(teff, eff))
        return false;
    const char *tkey = kjson_path_str(tol, "key");
    const char *op = kjson_path_str(tol, "operator");
    bool exists = op && strcmp(op, "Exists") == 0;
    if (tkey == NULL || *tkey == '\0')
        return exists;
    if (!str_eq(tkey, kjson_path_str(taint, "key")))
        return false;
    if (exists)
        return true;
    const char *tv = kjson_path_str(tol, "value");
    const char *v = kjson_path_str(taint, "value");
    return str_eq(tv && *tv ? tv : NULL, v && *v ? v : NULL);
}

/* When pod must go because of the node's NoExecute taints: 0 never, else the epoch second
 * (which may already be past). */
static time_t eviction_time(const json_t *pod, const json_t *node)
{
    time_t at = 0;
    bool any = false;
    size_t i, j;
    json_t *taint, *tol;
    json_array_foreach (kjson_path(node, "spec.taints"), i, taint) {
        const char *eff = kjson_path_str(taint, "effect");
        if (eff == NULL || strcmp(eff, "NoExecute") != 0)
            continue;
        any = true;
        bool tolerated = false;
        int64_t min_seconds = -1; /* -1: forever */
        json_array_foreach (kjson_path(pod, "spec.tolerations"), j, tol) {
            if (!tolerates(tol, taint))
                continue;
            json_t *ts = json_object_get(tol, "tolerationSeconds");
            if (!tolerated) {
                min_seconds = json_is_integer(ts) ? json_integer_value(ts) : -1;
            } else if (json_is_integer(ts)) {
                int64_t s = json_integer_value(ts);
                if (min_seconds < 0 || s < min_seconds)
                    min_seconds = s;
            }
            tolerated = true;
        }
        if (!tolerated)
            return 1; /* now */
        if (min_seconds < 0)
            continue;
        time_t added = ctl__time(taint, "timeAdded");
        if (added == 0)
            added = time(NULL);
        time_t t = added + (min_seconds < 0 ? 0 : min_seconds);
        if (at == 0 || t < at)
            at = t;
    }
    return any ? at : 0;
}

static void mark_pod_not_ready(struct ctl *ctl, const json_t *pod)
{
    _cleanup_json_ json_t *copy = json_deep_copy(pod);
    json_t *c = ctl__condition(json_object_get(copy, "status"), "Ready");
    if (c == NULL)
        return;
    char now[21];
    ctl__now(now);
    json_object_set_new(c, "status", json_string("False"));
    json_object_set_new(c, "lastTransitionTime", json_string(now));
    _cleanup_free_ char *path = ctl__path(CTL_PODS, kjson_path_str(pod, "metadata.namespace"),
                                          kjson_path_str(pod, "metadata.name"), "status");
    _cleanup_json_ json_t *out = client_update(ctl->client, path, copy, NULL);
}

static void evict(struct ctl *ctl, const json_t *pod)
{
    _cleanup_free_ char *path = ctl__path(CTL_PODS, kjson_path_str(pod, "metadata.namespace"),
                                          kjson_path_str(pod, "metadata.name"), NULL);
    _cleanup_json_ json_t *opts =
        json_pack("{s:{s:s}}", "preconditions", "uid", kjson_path_str(pod, "metadata.uid") ?: "");
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_delete(ctl->client, path, opts, &err);
    if (out == NULL && err->reason != K8C_REASON_NOT_FOUND) {
        LOG_DEBUG("node lifecycle: evict %s failed: %s", path, err->msg);
        return;
    }
    ctl__event(ctl, pod, "Normal", "TaintManagerEviction", "Marking for deletion Pod %s/%s",
               kjson_path_str(pod, "metadata.namespace"), kjson_path_str(pod, "metadata.name"));
}

static void nl_tick(struct ctl_controller *cc)
{
    struct ctl *ctl = cc->ctl;
    struct nl_state *st = cc->state;
    unsigned grace = ctl->opts.node_monitor_grace_seconds ? ctl->opts.node_monitor_grace_seconds
                                                          : DEFAULT_GRACE_S;
    uint64_t now_ns = clock_mono_ns();
    _cleanup_json_ json_t *nodes = ctl__list(ctl, CTL_NODES, NULL);
    _cleanup_json_ json_t *seen = json_object();
    _cleanup_json_ json_t *pods = NULL;
    size_t i;
    json_t *node;
    json_array_foreach (nodes, i, node) {
        const char *name = kjson_path_str(node, "metadata.name");
        if (name == NULL)
            continue;
        json_object_set_new(seen, name, json_true());
        json_t *ready_c = ctl__condition(json_object_get(node, "status"), "Ready");
        const char *hb = kjson_path_str(ready_c, "lastHeartbeatTime");
        _cleanup_free_ char *lease_key = xasprintf("kube-node-lease/%s", name);
        _cleanup_json_ json_t *lease = ctl__get(ctl, CTL_NODE_LEASES, lease_key);
        const char *renew = kjson_path_str(lease, "spec.renewTime");
        json_t *h = json_object_get(st->health, name);
        if (h == NULL) {
            h = json_object();
            json_object_set_new(st->health, name, h);
            json_object_set_new(h, "probe", json_integer((json_int_t)now_ns));
        }
        if (!str_eq(json_string_value(json_object_get(h, "hb")), hb) ||
            !str_eq(json_string_value(json_object_get(h, "lease")), renew)) {
            json_object_set_new(h, "probe", json_integer((json_int_t)now_ns));
            json_object_set_new(h, "hb", hb ? json_string(hb) : json_null());
            json_object_set_new(h, "lease", renew ? json_string(renew) : json_null());
        }
        uint64_t probe = (uint64_t)json_integer_value(json_object_get(h, "probe"));
        _cleanup_json_ json_t *current = json_incref(node);
        const char *ready = cond_status(node, "Ready");
        bool stale = now_ns - probe > (uint64_t)grace * 1000000000u;
        if (stale && !str_eq(ready, "Unknown")) {
            json_t *out = mark_unknown(ctl, node);
            if (out != NULL) {
                json_decref(current);
                current = out;
                ctl__event(ctl, node, "Normal", "NodeNotReady",
                           "Node %s status is now: NodeNotReady", name);
            }
        }
        sync_taints(ctl, current);
        /* Pods on a node that is not ready: not ready themselves, and evicted when they do
         * not tolerate its NoExecute taints (long enough). */
        ready = cond_status(current, "Ready");
        if (ready == NULL || strcmp(ready, "True") == 0)
            continue;
        if (pods == NULL)
            pods = ctl__list(ctl, CTL_PODS, NULL);
        _cleanup_json_ json_t *fresh = ctl__get(ctl, CTL_NODES, name);
        const json_t *tainted = fresh ? fresh : current;
        time_t now = time(NULL);
        size_t j;
        json_t *pod;
        json_array_foreach (pods, j, pod) {
            const char *pn = kjson_path_str(pod, "spec.nodeName");
            if (pn == NULL || strcmp(pn, name) != 0 || ctl__is_deleting(pod) ||
                ctl__pod_terminal(pod))
                continue;
            if (strcmp(ready, "Unknown") == 0 && ctl__pod_ready(pod))
                mark_pod_not_ready(ctl, pod);
            time_t at = eviction_time(pod, tainted);
            if (at != 0 && at <= now)
                evict(ctl, pod);
        }
    }
    /* Forget nodes that are gone. */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe (st->health, tmp, k, v) {
        if (json_object_get(seen, k) == NULL)
            json_object_del(st->health, k);
    }
}

void ctl__nodelifecycle_setup(struct ctl *ctl)
{
    struct nl_state *st = xcalloc(1, sizeof(*st));
    st->health = json_object();
    struct ctl_controller *cc = ctl__controller_new(ctl, "nodelifecycle", NULL, st, nl_state_free);
    cc->tick = nl_tick;
    cc->tick_ms = TICK_MS;
    struct ctl_listener none = {NULL, NULL, NULL, cc};
    ctl__listen(ctl, CTL_NODES, &none);
    ctl__listen(ctl, CTL_NODE_LEASES, &none);
    ctl__listen(ctl, CTL_PODS, &none);
}
