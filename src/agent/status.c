/* Pod status as Kubernetes reports it: phase, conditions, container states with their
 * reasons, written through pods/status only when it changed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "agent/eviction.h"
#include "agent/internal.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/proc.h"

/* A container the runtime is still creating holds the pod's status write this long: a start
 * that completes within it costs one write (Running and Ready together) instead of
 * ContainerCreating then Running; a slower one shows ContainerCreating when the hold ends.
 * kubelet's status manager skips that intermediate write the same way when a start is fast. */
#define STATUS_HOLD_MS 100

static void stamp_of(time_t t, char out[21])
{
    clock_rfc3339(t, out);
}

static json_t *terminated(int code, time_t started, time_t finished, const char *cid, bool oom,
                          const char *msg)
{
    char s[21], f[21];
    stamp_of(started, s);
    stamp_of(finished, f);
    json_t *t = json_pack("{s:{s:i,s:s,s:s,s:s,s:s}}", "terminated", "exitCode", code, "reason",
                          oom         ? "OOMKilled"
                          : code == 0 ? "Completed"
                                      : "Error",
                          "startedAt", s, "finishedAt", f, "containerID", cid);
    if (msg && *msg)
        json_object_set_new(json_object_get(t, "terminated"), "message", json_string(msg));
    return t;
}

/* Running as status reports it: the runtime has created the container (container.c). */
static bool up(const struct agent_ctr *c)
{
    return c->running && !c->creating;
}

static json_t *ctr_status(const struct agent_pod *p, const struct agent_ctr *c, const json_t *pod)
{
    const json_t *spec = agent__ctr_spec(pod, c);
    _cleanup_free_ char *id = agent__container_id(p->uid, c->name);
    _cleanup_free_ char *cid = xasprintf("k8c://%s", id);
    json_t *state;
    char s[21];
    if (up(c)) {
        stamp_of(c->started_at, s);
        state = json_pack("{s:{s:s}}", "running", "startedAt", s);
    } else if (c->waiting_reason) {
        state = json_pack("{s:{s:s}}", "waiting", "reason", c->waiting_reason);
        if (c->waiting_msg)
            json_object_set_new(json_object_get(state, "waiting"), "message",
                                json_string(c->waiting_msg));
    } else if (c->exited) {
        state = terminated(c->exit_code, c->started_at, c->finished_at, cid, c->oom_killed,
                           c->term_msg);
    } else {
        state = json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating");
    }
    json_t *last = c->has_last ? terminated(c->last_exit, c->last_started, c->last_finished, cid,
                                            c->last_oom_killed, c->last_term_msg)
                               : json_object();
    /* while waiting after a crash, the last run is lastState */
    if (!c->running && c->waiting_reason && c->exited) {
        json_decref(last);
        last = terminated(c->exit_code, c->started_at, c->finished_at, cid, c->oom_killed,
                          c->term_msg);
    }
    json_t *st = json_pack(
        "{s:s,s:o,s:o,s:b,s:i,s:s,s:s,s:b}", "name", c->name, "state", state, "lastState", last,
        "ready", up(c) && !c->init && c->probe_ready, "restartCount", c->restarts, "image",
        kjson_path_str(spec, "image") ?: "", "imageID", c->image_id ? c->image_id : "", "started",
        up(c) && (c->init || c->probe_started));
    if (c->started_at)
        json_object_set_new(st, "containerID", json_string(cid));
    return st;
}

bool agent__status_held(struct agent *a, struct agent_pod *p)
{
    bool creating = false;
    for (size_t i = 0; i < p->n_ctrs; i++)
        creating |= p->ctrs[i].creating;
    if (!creating) {
        p->status_hold_ns = 0;
        return false;
    }
    uint64_t now = clock_mono_ns();
    if (p->status_hold_ns == 0)
        p->status_hold_ns = now + STATUS_HOLD_MS * 1000000ull;
    if (now >= p->status_hold_ns)
        return false;
    if (a->queue)
        workqueue_add_after(a->queue, p->key,
                            (unsigned)((p->status_hold_ns - now) / 1000000ull) + 1);
    return true;
}

void agent__pod_summary(const struct agent_pod *p, const char *policy,
                        struct agent_pod_summary *out)
{
    bool initialized = true, init_failed = false, all_running = true, any_running = false;
    bool all_done = true, all_ok = true, any_started = false;
    size_t n_main = 0;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        const struct agent_ctr *c = &p->ctrs[i];
        if (c->init) {
            if (!(c->exited && c->exit_code == 0))
                initialized = false;
            if (c->exited && c->exit_code != 0 && !agent__wants_restart(policy, c->exit_code))
                init_failed = true;
            continue;
        }
        n_main++;
        /* Running once a container runs or has run (restarting, back-off): not while the
         * first run is still being created */
        any_started |= up(c) || c->exited || c->has_last;
        any_running |= up(c);
        all_running &= up(c) && c->probe_ready;
        bool done = c->exited && !agent__wants_restart(policy, c->exit_code);
        all_done &= done;
        all_ok &= done && c->exit_code == 0;
    }
    out->phase = "Pending";
    if (init_failed)
        out->phase = "Failed";
    else if (n_main > 0 && all_done)
        out->phase = all_ok ? "Succeeded" : "Failed";
    else if (any_running || (any_started && initialized))
        out->phase = "Running";
    out->initialized = initialized;
    out->ready = initialized && all_running && n_main > 0;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return s ? fnv(h, s, strlen(s) + 1) : fnv(h, "", 1) * 31;
}

/* A digest of everything the status is built from: when it equals the one of the status last
 * written, nothing changed and the JSON is not built again (the 1 s resync and the creation
 * checks sync every pod often; building it was ~7% of the agent's CPU in a burst). The pod's
 * resourceVersion covers its spec and the conditions' transition times. */
static uint64_t status_digest(struct agent *a, const struct agent_pod *p, const json_t *pod)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        const struct agent_ctr *c = &p->ctrs[i];
        const long long nums[] = {c->init,
                                  c->restarts,
                                  c->running,
                                  c->creating,
                                  c->exited,
                                  c->exit_code,
                                  c->started_at,
                                  c->finished_at,
                                  c->has_last,
                                  c->last_exit,
                                  c->last_started,
                                  c->last_finished,
                                  c->probe_started,
                                  c->probe_ready,
                                  c->oom_killed,
                                  c->last_oom_killed,
                                  c->term_msg_from_logs};
        h = fnv(h, nums, sizeof(nums));
        h = fnv_str(h, c->name), h = fnv_str(h, c->image_id);
        h = fnv_str(h, c->waiting_reason), h = fnv_str(h, c->waiting_msg);
        h = fnv_str(h, c->term_msg), h = fnv_str(h, c->last_term_msg);
    }
    h = fnv(h, &p->start_time, sizeof(p->start_time));
    h = fnv_str(h, p->ip);
    h = fnv_str(h, kjson_path_str(pod, "metadata.resourceVersion"));
    pthread_mutex_lock(&a->lock);
    h = fnv_str(h, p->evict_msg);
    pthread_mutex_unlock(&a->lock);
    return h;
}

int agent__pod_write_status(struct agent *a, struct agent_pod *p, const json_t *pod)
{
    if (agent__status_held(a, p))
        return 0;
    uint64_t digest = status_digest(a, p, pod);
    if (p->last_status && digest == p->status_digest)
        return 0;
    struct agent_pod_summary sum;
    agent__pod_summary(p, kjson_path_str(pod, "spec.restartPolicy"), &sum);
    const char *phase = sum.phase;
    bool initialized = sum.initialized, ready = sum.ready;
    char st[21];
    stamp_of(p->start_time, st);
    json_t *conds = json_array();
    const char *types[] = {"Initialized", "Ready", "ContainersReady", "PodScheduled"};
    bool vals[] = {initialized, ready, ready, true};
    for (size_t k = 0; k < 4; k++)
        json_array_append_new(conds, json_pack("{s:s,s:s,s:n}", "type", types[k], "status",
                                               vals[k] ? "True" : "False", "lastProbeTime"));
    json_t *inits = json_array(), *mains = json_array();
    for (size_t i = 0; i < p->n_ctrs; i++)
        json_array_append_new(p->ctrs[i].init ? inits : mains, ctr_status(p, &p->ctrs[i], pod));
    _cleanup_json_ json_t *status = json_pack(
        "{s:s,s:o,s:s,s:[{s:s}],s:s,s:o,s:o,s:s}", "phase", phase, "conditions", conds, "hostIP",
        a->node_ip, "hostIPs", "ip", a->node_ip, "startTime", st, "initContainerStatuses", inits,
        "containerStatuses", mains, "qosClass", agent_qos_class(pod));
    if (p->ip) {
        json_object_set_new(status, "podIP", json_string(p->ip));
        json_object_set_new(status, "podIPs", json_pack("[{s:s}]", "ip", p->ip));
    }
    pthread_mutex_lock(&a->lock);
    if (p->evict_msg) { /* evict.c: the pod failed, its containers are stopped */
        json_object_set_new(status, "phase", json_string("Failed"));
        json_object_set_new(status, "reason", json_string("Evicted"));
        json_object_set_new(status, "message", json_string(p->evict_msg));
    }
    /* admit.c counts only the pods still running or about to */
    p->terminal = p->evict_msg || strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
    pthread_mutex_unlock(&a->lock);
    _cleanup_free_ char *text = kjson_dumps(status);
    if (p->last_status && strcmp(p->last_status, text) == 0) {
        p->status_digest = digest;
        return 0;
    }
    /* lastTransitionTime moves only when a condition's status changes */
    char now[21];
    stamp_of(time(NULL), now);
    size_t i, k;
    json_t *cd, *old;
    json_array_foreach (json_object_get(status, "conditions"), i, cd) {
        const char *when = now;
        json_array_foreach (kjson_path(pod, "status.conditions"), k, old) {
            const char *ot = kjson_path_str(old, "type"), *os = kjson_path_str(old, "status");
            const char *olt = kjson_path_str(old, "lastTransitionTime");
            if (ot && os && olt && strcmp(ot, kjson_path_str(cd, "type")) == 0 &&
                strcmp(os, kjson_path_str(cd, "status")) == 0)
                when = olt;
        }
        json_object_set_new(cd, "lastTransitionTime", json_string(when));
    }
    _cleanup_json_ json_t *patch = json_pack("{s:O}", "status", status);
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (client_send(a->client, "PATCH", path, client_patch_content_type("strategic"), patch, &err) <
        0) {
        LOG_DEBUG("pod status update failed pod=%s err=%s", p->key, err->msg);
        return err->reason == K8C_REASON_NOT_FOUND ? 0 : -1;
    }
    free(p->last_status);
    p->last_status = steal_ptr(&text);
    p->status_digest = digest;
    return 0;
}

/* ---- teardown ---- */
