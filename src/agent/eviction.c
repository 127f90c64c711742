/* Node pressure as the kubelet computes it: readings of the machine (MemAvailable, the data
 * dir's filesystem blocks and inodes, process ids), kubelet's default hard eviction
 * thresholds, the MemoryPressure/DiskPressure/PIDPressure conditions with their transition
 * period, the node.kubernetes.io/{memory,disk,pid}-pressure NoSchedule taints, and the eviction
 * order. The loop that applies them to the Node and the pods is agent__eviction_tick (evict.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "agent/bundle.h"
#include "agent/eviction.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"

#define MEMORY_THRESHOLD (100ll * 1024 * 1024) /* memory.available<100Mi */

static const struct {
    const char *name;     /* the signal, as kubelet's flags and messages say */
    const char *resource; /* the resource it starves, in the eviction message */
    int percent;          /* threshold as a percentage of capacity (0: absolute) */
    enum agent_condition cond;
} signals[AGENT_SIGNALS] = {
    [AGENT_SIG_MEMORY] = {"memory.available", "memory", 0, AGENT_COND_MEMORY},
    [AGENT_SIG_NODEFS] = {"nodefs.available", "ephemeral-storage", 10, AGENT_COND_DISK},
    [AGENT_SIG_INODES] = {"nodefs.inodesFree", "inodes", 5, AGENT_COND_DISK},
    [AGENT_SIG_IMAGEFS] = {"imagefs.available", "ephemeral-storage", 15, AGENT_COND_DISK},
    [AGENT_SIG_PID] = {"pid.available", "pids", 5, AGENT_COND_PID},
};

static void available_of(const struct agent_readings *r, enum agent_signal s, int64_t *avail,
                         int64_t *cap)
{
    switch (s) {
    case AGENT_SIG_MEMORY: *avail = r->mem_available, *cap = r->mem_capacity; break;
    case AGENT_SIG_NODEFS: *avail = r->fs_available, *cap = r->fs_capacity; break;
    case AGENT_SIG_INODES: *avail = r->inodes_free, *cap = r->inodes_capacity; break;
    case AGENT_SIG_IMAGEFS: *avail = r->imagefs_available, *cap = r->imagefs_capacity; break;
    default: *avail = r->pid_max - r->pids, *cap = r->pid_max; break;
    }
}

static int64_t threshold_of(enum agent_signal s, int64_t cap)
{
    return signals[s].percent ? cap / 100 * signals[s].percent : MEMORY_THRESHOLD;
}

unsigned agent_signals_breached(const struct agent_readings *r)
{
    unsigned bits = 0;
    for (int s = 0; s < AGENT_SIGNALS; s++) {
        int64_t avail, cap;
        available_of(r, s, &avail, &cap);
        if (cap > 0 && avail < threshold_of(s, cap))
            bits |= 1u << s;
    }
    return bits;
}

bool agent_pressure_update(struct agent_pressure *st, unsigned breached, uint64_t now_ns,
                           time_t now)
{
    bool want[AGENT_CONDITIONS] = {[AGENT_COND_READY] = true};
    for (int s = 0; s < AGENT_SIGNALS; s++) {
        if (breached & (1u << s))
            st->last_breach_ns[s] = now_ns;
        if (st->last_breach_ns[s] && now_ns - st->last_breach_ns[s] < AGENT_PRESSURE_TRANSITION_NS)
            want[signals[s].cond] = true;
    }
    bool changed = false;
    for (int c = 0; c < AGENT_CONDITIONS; c++) {
        if (st->transition[c] == 0 || st->status[c] != want[c]) {
            changed |= st->transition[c] != 0;
            st->status[c] = want[c];
            st->transition[c] = now;
        }
    }
    return changed;
}

json_t *agent_node_conditions(const struct agent_pressure *st, time_t now)
{
    /* type, then reason and message for False and for True, as kubelet words them */
    static const char *const text[AGENT_CONDITIONS][5] = {
        [AGENT_COND_READY] = {"Ready", "KubeletNotReady", "kubelet is not ready", "KubeletReady",
                              "kubelet is posting ready status"},
        [AGENT_COND_MEMORY] = {"MemoryPressure", "KubeletHasSufficientMemory",
                               "kubelet has sufficient memory available",
                               "KubeletHasInsufficientMemory",
                               "kubelet has insufficient memory available"},
        [AGENT_COND_DISK] = {"DiskPressure", "KubeletHasNoDiskPressure",
                             "kubelet has no disk pressure", "KubeletHasDiskPressure",
                             "kubelet has disk pressure"},
        [AGENT_COND_PID] = {"PIDPressure", "KubeletHasSufficientPID",
                            "kubelet has sufficient PID available", "KubeletHasInsufficientPID",
                            "kubelet has insufficient PID available"},
    };
    static const int order[] = {AGENT_COND_MEMORY, AGENT_COND_DISK, AGENT_COND_PID,
                                AGENT_COND_READY};
    json_t *out = json_array();
    char hb[21], tr[21];
    clock_rfc3339(now, hb);
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        int c = order[i];
        bool v = st->status[c];
        clock_rfc3339(st->transition[c] ? st->transition[c] : now, tr);
        json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", text[c][0],
                                             "status", v ? "True" : "False", "reason",
                                             text[c][v ? 3 : 1], "message", text[c][v ? 4 : 2],
                                             "lastHeartbeatTime", hb, "lastTransitionTime", tr));
    }
    return out;
}

json_t *agent_pressure_taints(const json_t *taints, const struct agent_pressure *st)
{
    static const struct {
        const char *key;
        enum agent_condition cond;
    } ours[] = {{"node.kubernetes.io/memory-pressure", AGENT_COND_MEMORY},
                {"node.kubernetes.io/disk-pressure", AGENT_COND_DISK},
                {"node.kubernetes.io/pid-pressure", AGENT_COND_PID}};
    json_t *next = json_array();
    bool have[3] = {false}, changed = false;
    size_t i;
    json_t *t;
    json_array_foreach (taints, i, t) {
        const char *key = kjson_path_str(t, "key");
        size_t k;
        for (k = 0; k < ARRAY_SIZE(ours); k++)
            if (key && strcmp(key, ours[k].key) == 0)
                break;
        if (k == ARRAY_SIZE(ours)) {
            json_array_append(next, t);
            continue;
        }
        const char *eff = kjson_path_str(t, "effect");
        if (st->status[ours[k].cond] && !have[k] && eff && strcmp(eff, "NoSchedule") == 0) {
            have[k] = true;
            json_array_append(next, t);
        } else {
            changed = true;
        }
    }
    for (size_t k = 0; k < ARRAY_SIZE(ours); k++) {
        if (st->status[ours[k].cond] && !have[k]) {
            json_array_append_new(
                next, json_pack("{s:s,s:s}", "key", ours[k].key, "effect", "NoSchedule"));
            changed = true;
        }
    }
    if (!changed) {
        json_decref(next);
        return NULL;
    }
    return next;
}

static int rank_cmp(const void *pa, const void *pb)
{
    const struct agent_evict_candidate *a = pa, *b = pb;
    bool ea = a->usage > a->request, eb = b->usage > b->request;
    if (ea != eb)
        return ea ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    int64_t oa = a->usage - a->request, ob = b->usage - b->request;
    if (oa != ob)
        return oa > ob ? -1 : 1;
    return strcmp(a->key, b->key); /* a stable order for equal pods */
}

void agent_evict_rank(struct agent_evict_candidate *c, size_t n)
{
    qsort(c, n, sizeof(*c), rank_cmp);
}

/* A quantity as kubelet prints it in messages: Ki when it divides, else plain. */
static void quantity(int64_t v, char out[32])
{
    if (v != 0 && v % 1024 == 0)
        snprintf(out, 32, "%" PRId64 "Ki", v / 1024);
    else
        snprintf(out, 32, "%" PRId64, v);
}

char *agent_evict_message(enum agent_signal sig, const struct agent_readings *r,
                          const char *container, int64_t usage, int64_t request)
{
    int64_t avail, cap;
    available_of(r, sig, &avail, &cap);
    char thr[32], av[32], use[32], req[32];
    if (sig == AGENT_SIG_MEMORY)
        snprintf(thr, sizeof(thr), "100Mi");
    else
        quantity(threshold_of(sig, cap), thr);
    quantity(avail, av);
    quantity(usage, use);
    quantity(request, req);
    const char *res = signals[sig].resource;
    if (!container)
        return xasprintf("The node was low on resource: %s. Threshold quantity: %s, available: "
                         "%s. ",
                         res, thr, av);
    return xasprintf("The node was low on resource: %s. Threshold quantity: %s, available: %s. "
                     "Container %s was using %s, request is %s, has larger consumption of %s. ",
                     res, thr, av, container, use, req, res);
}

static int64_t meminfo(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    long long kib = 0;
    if (p && sscanf(p + strlen(key), " %lld kB", &kib) == 1)
        return (int64_t)kib * 1024;
    return 0;
}

/* K8C_TEST_NODE_READINGS: {"memory.available": N, "nodefs.available": N, …} overrides. */
static void readings_override(struct agent_readings *r)
{
    const char *path = getenv("K8C_TEST_NODE_READINGS");
    if (!path || !*path)
        return;
    _cleanup_free_ char *text = file_read_all(path, 65536, NULL, NULL);
    _cleanup_json_ json_t *o = text ? kjson_parse(text, strlen(text), NULL) : NULL;
    if (!json_is_object(o))
        return;
    const struct {
        const char *name;
        int64_t *dst;
    } keys[] = {{"memory.available", &r->mem_available},
                {"nodefs.available", &r->fs_available},
                {"nodefs.inodesFree", &r->inodes_free},
                {"imagefs.available", &r->imagefs_available},
                {"pid.available", NULL}};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(o, keys[i].name);
        if (!json_is_integer(v))
            continue;
        if (keys[i].dst)
            *keys[i].dst = json_integer_value(v);
        else
            r->pids = r->pid_max - json_integer_value(v);
    }
}

void agent_readings_take(const char *data_dir, struct agent_readings *r)
{
    *r = (struct agent_readings){0};
    _cleanup_free_ char *mi = file_read_all("/proc/meminfo", 1 << 16, NULL, NULL);
    if (mi) {
        r->mem_capacity = meminfo(mi, "MemTotal:");
        r->mem_available = meminfo(mi, "MemAvailable:");
    }
    struct statvfs sv;
    if (statvfs(data_dir, &sv) == 0) {
        r->fs_capacity = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
        r->fs_available = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
        r->inodes_capacity = (int64_t)sv.f_files;
        r->inodes_free = (int64_t)sv.f_favail;
    }
    /* the images live under the data dir: the same filesystem */
    r->imagefs_available = r->fs_available;
    r->imagefs_capacity = r->fs_capacity;
    _cleanup_free_ char *pm = file_read_all("/proc/sys/kernel/pid_max", 64, NULL, NULL);
    _cleanup_free_ char *la = file_read_all("/proc/loadavg", 256, NULL, NULL);
    long long running, total;
    r->pid_max = pm ? atoll(pm) : 0;
    /* /proc/loadavg's fourth field: runnable/total scheduling entities (threads), what
     * pid_max bounds */
    if (la && sscanf(la, "%*s %*s %*s %lld/%lld", &running, &total) == 2)
        r->pids = total;
    readings_override(r);
}
