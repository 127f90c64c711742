/* What the scheduler writes to the API, in Kubernetes' shapes: the Binding, core/v1 Events
 * from default-scheduler (Scheduled, FailedScheduling, Preempted), the PodScheduled=False
 * condition and nominatedNodeName through the status subresource, and victim deletion. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "scheduler/internal.h"

#define EVENT_NOTE_MAX 1024

int scheduler__bind(struct client *c, const char *ns, const char *name, const char *uid,
                    const char *node, struct k8c_err **err)
{
    _cleanup_json_ json_t *binding = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s}}", "apiVersion", "v1", "kind", "Binding", "metadata",
        "name", name, "namespace", ns, "target", "apiVersion", "v1", "kind", "Node", "name", node);
    if (uid != NULL && *uid)
        json_object_set_new(json_object_get(binding, "metadata"), "uid", json_string(uid));
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/pods/%s/binding", ns, name);
    _cleanup_json_ json_t *res = client_create(c, path, binding, err);
    return res ? 0 : -1;
}

void scheduler__event(struct client *c, const struct scheduler__event_ref *ref, const char *type,
                      const char *reason, const char *action, const char *message)
{
    static atomic_uint_fast64_t counter;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char stamp[21], micro[28];
    clock_rfc3339(now.tv_sec, stamp);
    clock_rfc3339_micro(&now, micro);
    uint64_t unique =
        (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec + atomic_fetch_add(&counter, 1);
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    /* Event notes are limited to 1 KiB (validation's NoteLengthLimit): cut longer ones. */
    _cleanup_free_ char *note = strlen(message) > EVENT_NOTE_MAX
                                    ? xasprintf("%.*s...", EVENT_NOTE_MAX - 3, message)
                                    : xstrdup(message);
    message = note;
    _cleanup_free_ char *ev_name = xasprintf("%s.%llx", ref->name, (unsigned long long)unique);
    _cleanup_free_ char *instance = xasprintf("%s-%s", ref->component, host);
    _cleanup_json_ json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s},s:s,s:s,s:{s:s},s:s,s:s,s:i,s:s,s:s,s:s,s:s,"
        "s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", ev_name, "namespace", ref->ns,
        "involvedObject", "apiVersion", "v1", "kind", "Pod", "name", ref->name, "namespace",
        ref->ns, "reason", reason, "message", message, "source", "component", ref->component,
        "firstTimestamp", stamp, "lastTimestamp", stamp, "count", 1, "type", type, "eventTime",
        micro, "action", action, "reportingComponent", ref->component, "reportingInstance",
        instance);
    json_t *involved = json_object_get(ev, "involvedObject");
    if (ref->uid && *ref->uid)
        json_object_set_new(involved, "uid", json_string(ref->uid));
    if (ref->resource_version && *ref->resource_version)
        json_object_set_new(involved, "resourceVersion", json_string(ref->resource_version));
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/events", ref->ns);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *res = client_create(c, path, ev, &err);
    if (res == NULL) /* events are best effort, as client-go's recorder treats them */
        LOG_DEBUG("post event failed pod=%s/%s reason=%s err=%s", ref->ns, ref->name, reason,
                  err->msg);
}

int scheduler__mark_unschedulable(struct client *c, const json_t *pod, const char *message,
                                  const char *nominated, struct k8c_err **err)
{
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    const char *name = kjson_path_str(pod, "metadata.name");
    const json_t *conds = kjson_path(pod, "status.conditions");
    const char *old_nominated = kjson_path_str(pod, "status.nominatedNodeName");
    /* Keep every other condition: a merge patch replaces the whole list. */
    _cleanup_json_ json_t *list = json_array();
    bool same = false;
    size_t i;
    json_t *cond;
    json_array_foreach ((json_t *)conds, i, cond) {
        const char *type = json_string_value(json_object_get(cond, "type"));
        if (type != NULL && strcmp(type, "PodScheduled") == 0) {
            const char *st = json_string_value(json_object_get(cond, "status"));
            const char *re = json_string_value(json_object_get(cond, "reason"));
            const char *msg = json_string_value(json_object_get(cond, "message"));
            same = st && re && msg && strcmp(st, "False") == 0 &&
                   strcmp(re, "Unschedulable") == 0 && strcmp(msg, message) == 0;
            continue;
        }
        json_array_append(list, cond);
    }
    bool nominated_same = (nominated == NULL && (old_nominated == NULL || !*old_nominated)) ||
                          (nominated && old_nominated && strcmp(nominated, old_nominated) == 0);
    if (same && nominated_same)
        return 0; /* nothing changed: no write, as kube-scheduler's updatePod */
    char stamp[21];
    clock_rfc3339(time(NULL), stamp);
    json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:n,s:s}", "type", "PodScheduled",
                                          "status", "False", "reason", "Unschedulable", "message",
                                          message, "lastProbeTime", "lastTransitionTime", stamp));
    _cleanup_json_ json_t *patch = json_pack("{s:{s:O}}", "status", "conditions", list);
    if (!nominated_same)
        json_object_set_new(json_object_get(patch, "status"), "nominatedNodeName",
                            nominated ? json_string(nominated) : json_null());
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", ns, name);
    _cleanup_json_ json_t *res = client_patch(c, path, "merge", patch, err);
    return res ? 0 : -1;
}

int scheduler__delete_pod(struct client *c, const char *ns, const char *name, const char *uid,
                          struct k8c_err **err)
{
    _cleanup_json_ json_t *opts =
        json_pack("{s:s,s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
    if (uid != NULL && *uid)
        json_object_set_new(opts, "preconditions", json_pack("{s:s}", "uid", uid));
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/pods/%s", ns, name);
    _cleanup_json_ json_t *res = client_delete(c, path, opts, err);
    if (res == NULL && (*err)->reason == K8C_REASON_NOT_FOUND) {
        k8c_err_freep(err);
        return 0; /* already gone: what we wanted */
    }
    return res ? 0 : -1;
}
