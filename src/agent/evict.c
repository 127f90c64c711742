/* The eviction itself: under memory or disk pressure the agent picks one pod per check in
 * kubelet's order (usage above requests first, then priority, then the amount above
 * requests), kills its containers at once and reports it Failed with reason Evicted and
 * kubelet's message. The pod object stays (as with kubelet) until someone deletes it. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/bundle.h"
#include "agent/eviction.h"
#include "agent/internal.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

/* Working-set memory of a cgroup under k8c/ (usage minus inactive file cache), v1 or v2. */
static int64_t cgroup_memory(const char *rel)
{
    static const char *const layouts[][3] = {
        {"/sys/fs/cgroup/memory", "memory.usage_in_bytes", "total_inactive_file "},
        {"/sys/fs/cgroup", "memory.current", "inactive_file "},
    };
    for (size_t i = 0; i < ARRAY_SIZE(layouts); i++) {
        _cleanup_free_ char *u = xasprintf("%s/%s/%s", layouts[i][0], rel, layouts[i][1]);
        _cleanup_free_ char *text = file_read_all(u, 64, NULL, NULL);
        if (!text)
            continue;
        int64_t usage = atoll(text);
        _cleanup_free_ char *sp = xasprintf("%s/%s/memory.stat", layouts[i][0], rel);
        _cleanup_free_ char *stat = file_read_all(sp, 1 << 16, NULL, NULL);
        const char *f = stat ? strstr(stat, layouts[i][2]) : NULL;
        int64_t inactive = f ? atoll(f + strlen(layouts[i][2])) : 0;
        return usage > inactive ? usage - inactive : 0;
    }
    return 0;
}

static _Thread_local int64_t du_total;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)ftw;
    if (flag == FTW_F)
        du_total += (int64_t)st->st_blocks * 512;
    return 0;
}

/* Bytes the pod's directory holds (writable layers, logs, emptyDirs), not crossing mounts
 * (the containers' root filesystems are overlays of shared image layers). */
static int64_t dir_usage(const char *dir)
{
    du_total = 0;
    nftw(dir, du_one, 16, FTW_PHYS | FTW_MOUNT);
    return du_total;
}

static int64_t request_of(const json_t *ctr, const char *res)
{
    char path[64];
    snprintf(path, sizeof(path), "resources.requests.%s", res);
    int64_t v = 0;
    const char *q = kjson_path_str(ctr, path);
    if (q && agent_quantity(q, 1, &v) < 0)
        v = 0;
    return v;
}

struct pick {
    struct agent_evict_candidate c;
    char *container; /* the container using the most */
    int64_t ctr_usage, ctr_request;
};

void agent__evict_pick(struct agent *a, unsigned breached, const void *readings)
{
    const struct agent_readings *r = readings;
    enum agent_signal sig;
    if (breached & (1u << AGENT_SIG_MEMORY))
        sig = AGENT_SIG_MEMORY;
    else if (breached & (1u << AGENT_SIG_NODEFS))
        sig = AGENT_SIG_NODEFS;
    else if (breached & (1u << AGENT_SIG_IMAGEFS))
        sig = AGENT_SIG_IMAGEFS;
    else if (breached & (1u << AGENT_SIG_INODES))
        sig = AGENT_SIG_INODES;
    else
        return; /* PID pressure: the condition and taint only */
    bool memory = sig == AGENT_SIG_MEMORY;
    const char *res = memory ? "memory" : "ephemeral-storage";
    /* the candidates: our pods still running something, not already picked */
    size_t n = 0, cap = 0;
    struct pick *picks = NULL;
    pthread_mutex_lock(&a->lock);
    for (struct agent_pod *p = a->pods; p; p = p->next) {
        bool running = false;
        for (size_t i = 0; i < p->n_ctrs; i++)
            running |= p->ctrs[i].running;
        if (!running || p->evict_msg || p->killing)
            continue;
        if (n == cap)
            picks = xrealloc(picks, (cap = cap ? cap * 2 : 16) * sizeof(*picks));
        picks[n++] = (struct pick){.c.key = xstrdup(p->key), .container = xstrdup(p->uid)};
    }
    pthread_mutex_unlock(&a->lock);
    for (size_t k = 0; k < n; k++) {
        struct pick *pk = &picks[k];
        _cleanup_free_ char *uid = steal_ptr(&pk->container);
        _cleanup_json_ json_t *pod = informer_get(a->informer, pk->c.key);
        pk->c.priority = (int32_t)json_integer_value(kjson_path(pod, "spec.priority"));
        pk->c.qos = agent_qos_class(pod);
        if (!memory) {
            _cleanup_free_ char *dir = xasprintf("%s/pods/%s", a->data_dir, uid);
            pk->c.usage = dir_usage(dir);
        }
        size_t i;
        json_t *ctr;
        json_array_foreach (kjson_path(pod, "spec.containers"), i, ctr) {
            const char *cname = kjson_path_str(ctr, "name") ?: "";
            int64_t req = request_of(ctr, res), use = 0;
            if (memory) {
                _cleanup_free_ char *rel = agent_cgroup_path(pod, cname); /* qos.c: by QoS class */
                use = cgroup_memory(rel);
                pk->c.usage += use;
            }
            pk->c.request += req;
            if (!pk->container || use - req > pk->ctr_usage - pk->ctr_request) {
                free(pk->container);
                pk->container = xstrdup(cname);
                pk->ctr_usage = use, pk->ctr_request = req;
            }
        }
        if (!memory && pk->container) /* the pod's disk use, reported for its first container */
            pk->ctr_usage = pk->c.usage, pk->ctr_request = pk->c.request;
    }
    /* rank the plain candidates, then find the pick they point to */
    struct agent_evict_candidate *cs = xcalloc(n ? n : 1, sizeof(*cs));
    for (size_t k = 0; k < n; k++)
        cs[k] = picks[k].c;
    agent_evict_rank(cs, n);
    for (size_t k = 0; n > 0 && k < n; k++) {
        if (strcmp(picks[k].c.key, cs[0].key) != 0)
            continue;
        char *msg = agent_evict_message(sig, r, picks[k].container, picks[k].ctr_usage,
                                        picks[k].ctr_request);
        LOG_WARN("evicting pod %s (qos %s, %s usage %lld, requests %lld): %s", cs[0].key, cs[0].qos,
                 res, (long long)cs[0].usage, (long long)cs[0].request, msg);
        pthread_mutex_lock(&a->lock);
        for (struct agent_pod *p = a->pods; p; p = p->next)
            if (strcmp(p->key, cs[0].key) == 0 && !p->evict_msg)
                p->evict_msg = steal_ptr(&msg);
        pthread_mutex_unlock(&a->lock);
        free(msg);
        workqueue_add(a->queue, cs[0].key);
    }
    for (size_t k = 0; k < n; k++) {
        free((char *)picks[k].c.key);
        free(picks[k].container);
    }
    free(picks);
    free(cs);
}

bool agent__pod_evicting(struct agent *a, struct agent_pod *p, const json_t *pod)
{
    pthread_mutex_lock(&a->lock);
    _cleanup_free_ char *msg = p->evict_msg ? xstrdup(p->evict_msg) : NULL;
    pthread_mutex_unlock(&a->lock);
    if (!msg)
        return false;
    bool first = !p->killing;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        agent__ctr_poll(p, c);
        if (!c->running || !first)
            continue;
        agent__event(a, pod, "Normal", "Killing", "Stopping container %s", c->name);
        _cleanup_free_ char *id = agent__container_id(p->uid, c->name);
        const char *kill9[] = {id, "KILL", NULL};
        agent__runtime_call(a, "kill", kill9);
    }
    if (first) {
        p->killing = true; /* nothing restarts; a later delete takes the normal path */
        agent__event(a, pod, "Warning", "Evicted", "%s", msg);
    }
    return true;
}
