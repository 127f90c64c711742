/* Kubelet's admission of a pod newly bound to this node: the pod must fit what the node has
 * left (lifecycle.PredicateAdmitHandler's resource check). The scheduler checks the same, but
 * a pod can reach the node without it (spec.nodeName set by its author) or on stale
 * information. A pod that does not fit is never started: it fails with reason OutOf<resource>
 * ("OutOfcpu", "OutOfmemory", "OutOfpods", "OutOfephemeral-storage"), the message kubelet
 * gives ("Pod was rejected: Node didn't have enough resource: cpu, requested: 4000, used: 100,
 * capacity: 2000"; cpu in millicores, memory and storage in bytes) and a Warning Event with
 * the same reason. Decisions are serialised, so pods admitted together are all counted. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

static const char *const resource_names[AGENT_RES_COUNT] = {"pods", "cpu", "memory",
                                                            "ephemeral-storage"};

/* A container's request for resource r: the request, else the limit (the API's defaulting
 * copies limits into missing requests), else 0. */
static int64_t ctr_request(const json_t *ctr, int r)
{
    const json_t *res = kjson_path(ctr, "resources");
    const char *q = kjson_path_str(kjson_path(res, "requests"), resource_names[r]);
    if (!q)
        q = kjson_path_str(kjson_path(res, "limits"), resource_names[r]);
    int64_t v = 0;
    if (q && agent_quantity(q, r == AGENT_RES_CPU ? 1000 : 1, &v) < 0)
        v = 0;
    return v;
}

/* Sums stop at INT64_MAX: a hostile pod's many huge quantities must not wrap around. */
static int64_t add_sat(int64_t x, int64_t y)
{
    int64_t r;
    return __builtin_add_overflow(x, y, &r) ? INT64_MAX : r;
}

void agent_pod_requests(const json_t *pod, int64_t out[AGENT_RES_COUNT])
{
    memset(out, 0, sizeof(int64_t) * AGENT_RES_COUNT);
    out[AGENT_RES_PODS] = 1;
    for (int r = AGENT_RES_CPU; r < AGENT_RES_COUNT; r++) {
        /* containers run together; init containers one at a time before them, and
         * sidecars (init containers that keep running) beside everything after them */
        int64_t sum = 0, sidecars = 0, init_max = 0;
        size_t i;
        const json_t *c;
        json_array_foreach (kjson_path(pod, "spec.initContainers"), i, c) {
            const char *policy = kjson_path_str(c, "restartPolicy");
            int64_t v = ctr_request(c, r);
            if (policy && strcmp(policy, "Always") == 0)
                sidecars = add_sat(sidecars, v);
            else if (add_sat(sidecars, v) > init_max)
                init_max = add_sat(sidecars, v);
        }
        json_array_foreach (kjson_path(pod, "spec.containers"), i, c)
            sum = add_sat(sum, ctr_request(c, r));
        sum = add_sat(sum, sidecars);
        out[r] = sum > init_max ? sum : init_max;
        int64_t overhead = 0;
        const char *q = kjson_path_str(kjson_path(pod, "spec.overhead"), resource_names[r]);
        if (q && agent_quantity(q, r == AGENT_RES_CPU ? 1000 : 1, &overhead) == 0)
            out[r] = add_sat(out[r], overhead);
    }
}

int agent_pod_fits(const int64_t want[AGENT_RES_COUNT], const int64_t used[AGENT_RES_COUNT],
                   const int64_t allocatable[AGENT_RES_COUNT], char **reason, char **message)
{
    for (int r = 0; r < AGENT_RES_COUNT; r++) {
        /* as the scheduler's fit check: a resource the pod does not ask for never refuses
         * it, whatever the node has left */
        if (want[r] == 0 || add_sat(used[r], want[r]) <= allocatable[r])
            continue;
        *reason = xasprintf("OutOf%s", resource_names[r]);
        *message = xasprintf("Node didn't have enough resource: %s, requested: %lld, used: "
                             "%lld, capacity: %lld",
                             resource_names[r], (long long)want[r], (long long)used[r],
                             (long long)allocatable[r]);
        return 0;
    }
    return 1;
}

/* Serialises admissions: a decision and the tracking of the admitted pod are one step. */
static pthread_mutex_t admit_lock = PTHREAD_MUTEX_INITIALIZER;

void agent__admit_begin(void)
{
    pthread_mutex_lock(&admit_lock);
}

void agent__admit_end(void)
{
    pthread_mutex_unlock(&admit_lock);
}

int agent__pod_admit(struct agent *a, const json_t *pod, int64_t want[AGENT_RES_COUNT])
{
    agent_pod_requests(pod, want);
    int64_t used[AGENT_RES_COUNT] = {0}, allocatable[AGENT_RES_COUNT];
    agent__node_allocatable(a, allocatable);
    pthread_mutex_lock(&a->lock);
    for (const struct agent_pod *p = a->pods; p; p = p->next) {
        if (p->terminal)
            continue;
        for (int r = 0; r < AGENT_RES_COUNT; r++)
            used[r] = add_sat(used[r], p->requests[r]);
    }
    pthread_mutex_unlock(&a->lock);
    _cleanup_free_ char *reason = NULL, *message = NULL;
    if (agent_pod_fits(want, used, allocatable, &reason, &message))
        return 1;
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    const char *name = kjson_path_str(pod, "metadata.name");
    LOG_WARN("pod %s/%s rejected: %s: %s", ns, name, reason, message);
    agent__event(a, pod, "Warning", reason, "%s", message);
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", ns, name);
    _cleanup_free_ char *full = xasprintf("Pod was rejected: %s", message);
    _cleanup_json_ json_t *patch = json_pack("{s:{s:s,s:s,s:s}}", "status", "phase", "Failed",
                                             "reason", reason, "message", full);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *answer = client_patch(a->client, path, "merge", patch, &err);
    if (!answer)
        LOG_WARN("pod %s/%s: report the rejection: %s", ns, name, err->msg);
    return 0;
}
