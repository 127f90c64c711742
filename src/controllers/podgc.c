/* Pod GC: every few seconds, deletes the oldest terminated pods beyond the threshold
 * (--terminated-pod-gc-threshold, 12500 by default), force-deletes pods bound to nodes that no
 * longer exist (confirmed with a live GET), and force-deletes terminating pods that were never
 * scheduled. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

#define DEFAULT_THRESHOLD 12500
#define TICK_MS 5000

static void force_delete(struct ctl *ctl, const json_t *pod, const char *why)
{
    _cleanup_free_ char *path = ctl__path(CTL_PODS, kjson_path_str(pod, "metadata.namespace"),
                                          kjson_path_str(pod, "metadata.name"), NULL);
    _cleanup_json_ json_t *opts =
        json_pack("{s:i,s:{s:s}}", "gracePeriodSeconds", 0, "preconditions", "uid",
                  kjson_path_str(pod, "metadata.uid") ?: "");
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_delete(ctl->client, path, opts, &err);
    if (out == NULL && err->reason != K8C_REASON_NOT_FOUND)
        LOG_DEBUG("podgc: delete %s failed: %s", path, err->msg);
    else
        LOG_DEBUG("podgc: deleted %s (%s)", path, why);
}

static int cmp_created(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    time_t ta = ctl__time(a, "metadata.creationTimestamp");
    time_t tb = ctl__time(b, "metadata.creationTimestamp");
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(kjson_path_str(a, "metadata.name") ?: "",
                  kjson_path_str(b, "metadata.name") ?: "");
}

static void podgc_tick(struct ctl_controller *cc)
{
    struct ctl *ctl = cc->ctl;
    unsigned threshold = ctl->opts.terminated_pod_gc_threshold
                             ? ctl->opts.terminated_pod_gc_threshold
                             : DEFAULT_THRESHOLD;
    _cleanup_json_ json_t *pods = ctl__list(ctl, CTL_PODS, NULL);
    size_t n = json_array_size(pods);
    json_t **terminated = xcalloc(n ? n : 1, sizeof(*terminated));
    size_t n_term = 0;
    size_t i;
    json_t *pod;
    json_array_foreach (pods, i, pod) {
        if (ctl__pod_terminal(pod) && !ctl__is_deleting(pod))
            terminated[n_term++] = pod;
        const char *node = kjson_path_str(pod, "spec.nodeName");
        if (node && *node) {
            _cleanup_json_ json_t *cached = ctl__get(ctl, CTL_NODES, node);
            if (cached != NULL)
                continue;
            _cleanup_free_ char *path = ctl__path(CTL_NODES, NULL, node, NULL);
            _cleanup_err_ struct k8c_err *err = NULL;
            _cleanup_json_ json_t *live = client_get(ctl->client, path, &err);
            if (live == NULL && err->reason == K8C_REASON_NOT_FOUND)
                force_delete(ctl, pod, "bound to a deleted node");
        } else if (ctl__is_deleting(pod)) {
            force_delete(ctl, pod, "terminating and never scheduled");
        }
    }
    if (n_term > threshold) {
        qsort(terminated, n_term, sizeof(*terminated), cmp_created);
        for (size_t k = 0; k < n_term - threshold; k++)
            force_delete(ctl, terminated[k], "terminated pod threshold");
    }
    free(terminated);
}

void ctl__podgc_setup(struct ctl *ctl)
{
    struct ctl_controller *cc = ctl__controller_new(ctl, "podgc", NULL, NULL, NULL);
    cc->tick = podgc_tick;
    cc->tick_ms = TICK_MS;
    /* The caches it reads: registering makes the manager start their informers. */
    struct ctl_listener none = {NULL, NULL, NULL, cc};
    ctl__listen(ctl, CTL_PODS, &none);
    ctl__listen(ctl, CTL_NODES, &none);
}
