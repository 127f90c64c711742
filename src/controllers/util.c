/* Helpers the controllers share: resource paths, field access, pod state, owner references,
 * conditions, selectors, Events, a small parallel runner and the adopt/release claim. */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api/kinds.h"
#include "api/selector.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

const struct ctl_resource ctl__resources[CTL_RES_COUNT] = {
    [CTL_PODS] = {"v1", "Pod", "pods", true, NULL},
    [CTL_REPLICASETS] = {"apps/v1", "ReplicaSet", "replicasets", true, NULL},
    [CTL_DEPLOYMENTS] = {"apps/v1", "Deployment", "deployments", true, NULL},
    [CTL_SERVICES] = {"v1", "Service", "services", true, NULL},
    [CTL_ENDPOINTS] = {"v1", "Endpoints", "endpoints", true, NULL},
    [CTL_ENDPOINTSLICES] = {"discovery.k8s.io/v1", "EndpointSlice", "endpointslices", true, NULL},
    [CTL_NAMESPACES] = {"v1", "Namespace", "namespaces", false, NULL},
    [CTL_SERVICEACCOUNTS] = {"v1", "ServiceAccount", "serviceaccounts", true, NULL},
    [CTL_NODES] = {"v1", "Node", "nodes", false, NULL},
    [CTL_NODE_LEASES] = {"coordination.k8s.io/v1", "Lease", "leases", true, "kube-node-lease"},
    [CTL_CONFIGMAPS] = {"v1", "ConfigMap", "configmaps", true, NULL},
    [CTL_SECRETS] = {"v1", "Secret", "secrets", true, NULL},
    [CTL_STATEFULSETS] = {"apps/v1", "StatefulSet", "statefulsets", true, NULL},
    [CTL_DAEMONSETS] = {"apps/v1", "DaemonSet", "daemonsets", true, NULL},
    [CTL_JOBS] = {"batch/v1", "Job", "jobs", true, NULL},
    [CTL_CRONJOBS] = {"batch/v1", "CronJob", "cronjobs", true, NULL},
    [CTL_CONTROLLERREVISIONS] = {"apps/v1", "ControllerRevision", "controllerrevisions", true,
                                 NULL},
    [CTL_PVCS] = {"v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, NULL},
};

static char *path_for(const char *api_version, const char *resource, bool namespaced,
                      const char *ns, const char *name, const char *sub)
{
    struct buf b = BUF_INIT;
    buf_appendf(&b, "%s/%s", strchr(api_version, '/') ? "/apis" : "/api", api_version);
    if (namespaced && ns && *ns)
        buf_appendf(&b, "/namespaces/%s", ns);
    buf_appendf(&b, "/%s", resource);
    if (name) {
        buf_appendf(&b, "/%s", name);
        if (sub)
            buf_appendf(&b, "/%s", sub);
    }
    return buf_steal(&b);
}

char *ctl__path(enum ctl_res res, const char *ns, const char *name, const char *sub)
{
    const struct ctl_resource *r = &ctl__resources[res];
    return path_for(r->api_version, r->resource, r->namespaced, ns, name, sub);
}

char *ctl__path_gvk(const char *api_version, const char *kind, const char *ns, const char *name)
{
    if (api_version == NULL || kind == NULL)
        return NULL;
    const struct api_kind *k = api_kind_by_gvk(api_version, kind);
    if (k == NULL)
        return NULL;
    return path_for(api_version, k->resource, k->namespaced, ns, name, NULL);
}

bool ctl__served(enum ctl_res res)
{
    const struct ctl_resource *r = &ctl__resources[res];
    const char *slash = strchr(r->api_version, '/');
    _cleanup_free_ char *group =
        slash ? xstrndup(r->api_version, (size_t)(slash - r->api_version)) : xstrdup("");
    const char *version = slash ? slash + 1 : r->api_version;
    return api_kind_by_resource(group, version, r->resource) != NULL;
}

void ctl__split_key(const char *key, char **ns, char **name)
{
    const char *slash = strchr(key, '/');
    if (slash == NULL) {
        *ns = NULL;
        *name = xstrdup(key);
        return;
    }
    *ns = xstrndup(key, (size_t)(slash - key));
    *name = xstrdup(slash + 1);
}

int64_t ctl__int(const json_t *obj, const char *path, int64_t dflt)
{
    json_t *v = kjson_path(obj, path);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

const char *ctl__str(const json_t *obj, const char *path)
{
    return kjson_path_str(obj, path);
}

time_t ctl__time(const json_t *obj, const char *path)
{
    const char *s = kjson_path_str(obj, path);
    time_t t = 0;
    if (s == NULL || clock_parse_rfc3339(s, &t) < 0)
        return 0;
    return t;
}

void ctl__now(char out[21])
{
    clock_rfc3339(time(NULL), out);
}

json_t *ctl__controller_ref(const json_t *obj)
{
    size_t i;
    json_t *ref;
    json_array_foreach (kjson_path(obj, "metadata.ownerReferences"), i, ref) {
        if (json_is_true(json_object_get(ref, "controller")))
            return ref;
    }
    return NULL;
}

json_t *ctl__owner_ref(const json_t *owner, const char *api_version, const char *kind)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion", api_version, "kind", kind, "name",
                     kjson_path_str(owner, "metadata.name") ?: "", "uid",
                     kjson_path_str(owner, "metadata.uid") ?: "", "controller", 1,
                     "blockOwnerDeletion", 1);
}

bool ctl__is_deleting(const json_t *obj)
{
    return kjson_path(obj, "metadata.deletionTimestamp") != NULL &&
           !json_is_null(kjson_path(obj, "metadata.deletionTimestamp"));
}

json_t *ctl__pod_target_ref(const json_t *pod)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "kind", "Pod", "namespace",
                     kjson_path_str(pod, "metadata.namespace") ?: "", "name",
                     kjson_path_str(pod, "metadata.name") ?: "", "uid",
                     kjson_path_str(pod, "metadata.uid") ?: "");
}

void ctl__json_array_sort(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return;
    json_t **v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), cmp);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

bool ctl__pod_ready(const json_t *pod)
{
    json_t *c = ctl__condition(json_object_get(pod, "status"), "Ready");
    const char *s = kjson_path_str(c, "status");
    return s && strcmp(s, "True") == 0;
}

bool ctl__pod_available(const json_t *pod, int64_t min_ready, time_t now)
{
    if (!ctl__pod_ready(pod))
        return false;
    if (min_ready <= 0)
        return true;
    json_t *c = ctl__condition(json_object_get(pod, "status"), "Ready");
    time_t since = ctl__time(c, "lastTransitionTime");
    return since != 0 && since + min_ready <= now;
}

bool ctl__pod_terminal(const json_t *pod)
{
    const char *phase = kjson_path_str(pod, "status.phase");
    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

bool ctl__pod_active(const json_t *pod)
{
    return !ctl__pod_terminal(pod) && !ctl__is_deleting(pod);
}

int64_t ctl__pod_restarts(const json_t *pod)
{
    int64_t max = 0;
    size_t i;
    json_t *cs;
    json_array_foreach (kjson_path(pod, "status.containerStatuses"), i, cs) {
        int64_t n = ctl__int(cs, "restartCount", 0);
        if (n > max)
            max = n;
    }
    return max;
}

json_t *ctl__condition(const json_t *status, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(status, "conditions"), i, c) {
        const char *t = kjson_path_str(c, "type");
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

bool ctl__condition_set(json_t *status, const char *type, const char *cstatus, const char *reason,
                        const char *message, bool with_update)
{
    char now[21];
    ctl__now(now);
    json_t *conds = json_object_get(status, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    json_t *c = ctl__condition(status, type);
    if (c != NULL) {
        const char *s = kjson_path_str(c, "status");
        const char *r = kjson_path_str(c, "reason");
        const char *m = kjson_path_str(c, "message");
        if (s && strcmp(s, cstatus) == 0 && r && strcmp(r, reason) == 0 && m &&
            strcmp(m, message) == 0)
            return false;
        bool transition = s == NULL || strcmp(s, cstatus) != 0;
        json_object_set_new(c, "status", json_string(cstatus));
        json_object_set_new(c, "reason", json_string(reason));
        json_object_set_new(c, "message", json_string(message));
        if (transition)
            json_object_set_new(c, "lastTransitionTime", json_string(now));
        if (with_update)
            json_object_set_new(c, "lastUpdateTime", json_string(now));
        return true;
    }
    c = json_pack("{s:s,s:s}", "type", type, "status", cstatus);
    if (with_update)
        json_object_set_new(c, "lastUpdateTime", json_string(now));
    json_object_set_new(c, "lastTransitionTime", json_string(now));
    json_object_set_new(c, "reason", json_string(reason));
    json_object_set_new(c, "message", json_string(message));
    json_array_append_new(conds, c);
    return true;
}

bool ctl__condition_remove(json_t *status, const char *type)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    json_array_foreach (conds, i, c) {
        const char *t = kjson_path_str(c, "type");
        if (t && strcmp(t, type) == 0) {
            json_array_remove(conds, i);
            return true;
        }
    }
    return false;
}

bool ctl__selector_matches(const json_t *sel, const json_t *labels)
{
    struct api_label_selector *s = api_label_selector_from_json(sel, NULL);
    if (s == NULL)
        return false;
    bool ok = api_label_selector_match(s, labels);
    api_label_selector_free(s);
    return ok;
}

bool ctl__map_selector_matches(const json_t *sel, const json_t *labels)
{
    if (!json_is_object(sel) || json_object_size(sel) == 0)
        return false;
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)sel, k, v) {
        const char *have = json_string_value(json_object_get(labels, k));
        if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    return true;
}

void ctl__event(struct ctl *ctl, const json_t *obj, const char *type, const char *reason,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    const char *ns = kjson_path_str(obj, "metadata.namespace");
    if (ns == NULL || *ns == '\0')
        ns = "default";
    const char *name = kjson_path_str(obj, "metadata.name") ?: "";
    char now[21];
    ctl__now(now);
    _cleanup_json_ json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:s,s:i}",
        "apiVersion", "v1", "kind", "Event", "metadata", "generateName", name, "namespace", ns,
        "involvedObject", "apiVersion", kjson_path_str(obj, "apiVersion") ?: "", "kind",
        kjson_path_str(obj, "kind") ?: "", "name", name, "namespace",
        kjson_path_str(obj, "metadata.namespace") ?: "", "uid",
        kjson_path_str(obj, "metadata.uid") ?: "", "resourceVersion",
        kjson_path_str(obj, "metadata.resourceVersion") ?: "", "type", type, "reason", reason,
        "message", msg, "source", "component", "k8c-controller-manager", "firstTimestamp", now,
        "lastTimestamp", now, "reportingComponent", "k8c-controller-manager", "count", 1);
    /* Named as Kubernetes' recorder names them, "<obj>.<hex of now in ns>": a generateName of
     * "<obj>." is refused (a prefix ending in '.' is not a valid name start). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    _cleanup_free_ char *ev_name =
        xasprintf("%s.%llx", name, (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec);
    json_t *md = json_object_get(ev, "metadata");
    json_object_del(md, "generateName");
    json_object_set_new(md, "name", json_string(ev_name));
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/events", ns);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_create(ctl->client, path, ev, &err);
    if (out == NULL)
        LOG_DEBUG("event not recorded reason=%s err=%s", reason, err->msg);
    LOG_DEBUG("event %s %s/%s %s: %s", type, ns, name, reason, msg);
}

struct par {
    size_t n;
    size_t next;
    size_t ok;
    int (*fn)(size_t i, void *opaque);
    void *opaque;
    pthread_mutex_t lock;
};

static void *par_main(void *opaque)
{
    struct par *p = opaque;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->n)
            return NULL;
        if (p->fn(i, p->opaque) == 0) {
            pthread_mutex_lock(&p->lock);
            p->ok++;
            pthread_mutex_unlock(&p->lock);
        }
    }
}

size_t ctl__parallel(size_t n, unsigned max_threads, int (*fn)(size_t i, void *opaque),
                     void *opaque)
{
    struct par p = {.n = n, .fn = fn, .opaque = opaque};
    pthread_mutex_init(&p.lock, NULL);
    size_t nt = n < max_threads ? n : max_threads;
    if (nt <= 1) {
        par_main(&p);
    } else {
        pthread_t *t = xcalloc(nt, sizeof(*t));
        size_t started = 0;
        for (; started < nt; started++)
            if (pthread_create(&t[started], NULL, par_main, &p) != 0)
                break;
        if (started == 0)
            par_main(&p);
        for (size_t i = 0; i < started; i++)
            pthread_join(t[i], NULL);
        free(t);
    }
    pthread_mutex_destroy(&p.lock);
    return p.ok;
}

/* Writes obj's ownerReferences as refs (a merge patch guarded by resourceVersion). */
static int patch_owner_refs(struct ctl *ctl, enum ctl_res res, const json_t *obj, json_t *refs,
                            struct k8c_err **err)
{
    _cleanup_free_ char *path = ctl__path(res, kjson_path_str(obj, "metadata.namespace"),
                                          kjson_path_str(obj, "metadata.name"), NULL);
    _cleanup_json_ json_t *patch =
        json_pack("{s:{s:O,s:s}}", "metadata", "ownerReferences", refs, "resourceVersion",
                  kjson_path_str(obj, "metadata.resourceVersion") ?: "");
    if (json_array_size(refs) == 0)
        json_object_set_new(json_object_get(patch, "metadata"), "ownerReferences", json_null());
    _cleanup_json_ json_t *out = client_patch(ctl->client, path, "merge", patch, err);
    return out ? 0 : -1;
}

json_t *ctl__claim(struct ctl *ctl, const json_t *owner, const char *owner_api_version,
                   const char *owner_kind, const json_t *selector, json_t *candidates,
                   enum ctl_res res)
{
    json_t *owned = json_array();
    const char *uid = kjson_path_str(owner, "metadata.uid");
    bool owner_deleting = ctl__is_deleting(owner);
    _cleanup_err_ struct k8c_err *serr = NULL;
    struct api_label_selector *sel = api_label_selector_from_json(selector, &serr);
    size_t i;
    json_t *obj;
    json_array_foreach (candidates, i, obj) {
        json_t *ref = ctl__controller_ref(obj);
        json_t *labels = kjson_path(obj, "metadata.labels");
        bool match = sel != NULL && api_label_selector_match(sel, labels);
        if (ref != NULL) {
            const char *ruid = kjson_path_str(ref, "uid");
            if (uid == NULL || ruid == NULL || strcmp(ruid, uid) != 0)
                continue;
            if (match || owner_deleting) {
                json_array_append(owned, obj);
                continue;
            }
            /* Release: drop our reference from an object that no longer matches. */
            _cleanup_json_ json_t *refs = json_array();
            size_t j;
            json_t *r;
            json_array_foreach (kjson_path(obj, "metadata.ownerReferences"), j, r) {
                const char *u = kjson_path_str(r, "uid");
                if (u == NULL || strcmp(u, uid) != 0)
                    json_array_append(refs, r);
            }
            _cleanup_err_ struct k8c_err *err = NULL;
            if (patch_owner_refs(ctl, res, obj, refs, &err) < 0 &&
                err->reason != K8C_REASON_NOT_FOUND)
                LOG_DEBUG("release failed key=%s err=%s", kjson_path_str(obj, "metadata.name"),
                          err->msg);
            continue;
        }
        if (!match || owner_deleting || ctl__is_deleting(obj))
            continue;
        /* Adopt an orphan that matches. */
        _cleanup_json_ json_t *refs = json_deep_copy(kjson_path(obj, "metadata.ownerReferences"));
        if (!json_is_array(refs)) {
            json_decref(refs);
            refs = json_array();
        }
        json_array_append_new(refs, ctl__owner_ref(owner, owner_api_version, owner_kind));
        _cleanup_err_ struct k8c_err *err = NULL;
        if (patch_owner_refs(ctl, res, obj, refs, &err) < 0) {
            LOG_DEBUG("adopt failed key=%s err=%s", kjson_path_str(obj, "metadata.name"), err->msg);
            continue;
        }
        /* The adopted copy as it is now: the cache catches up through the watch. */
        json_t *copy = json_deep_copy(obj);
        json_object_set(json_object_get(copy, "metadata"), "ownerReferences", refs);
        json_array_append_new(owned, copy);
    }
    api_label_selector_free(sel);
    return owned;
}
