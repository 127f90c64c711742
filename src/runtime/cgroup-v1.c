/* The cgroup v1 driver: one directory per controller hierarchy (<root>/<controller><path>)
 * for cpu, cpuacct, cpuset, memory, pids, freezer and devices; what is not mounted is
 * skipped. Hybrid hosts (v1 controllers plus an empty v2 tree at <root>/unified) use this
 * driver as they are. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "runtime/internal.h"

static const char *const controllers[] = {"cpu",  "cpuacct", "cpuset", "memory",
                                          "pids", "freezer", "devices"};

static char *dir_of(const struct runtime_cgroup *cg, const char *controller)
{
    return xasprintf("%s/%s%s", cg->mount_root, controller, cg->path);
}

static bool mounted(const struct runtime_cgroup *cg, const char *controller)
{
    _cleanup_free_ char *d = xasprintf("%s/%s", cg->mount_root, controller);
    struct stat st;
    return stat(d, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether the hierarchy's top cpuset balances load over all CPUs (the default): then a
 * child's own cpuset.sched_load_balance changes no scheduling domain. Read once. */
static bool top_balances(const char *root)
{
    static int cached = -1;
    if (cached < 0) {
        _cleanup_err_ struct k8c_err *e = NULL;
        _cleanup_free_ char *v = runtime__cgroup_read(root, "cpuset.sched_load_balance", &e);
        cached = v && strcmp(v, "1") == 0;
    }
    return cached;
}

/* A new cpuset cgroup is empty: copy cpus and mems down from the nearest parent that has
 * them, for every level created. With the top cpuset balancing all CPUs, a new level first
 * gets sched_load_balance 0 (while its cpus are still empty, which rebuilds nothing): a
 * balancing cpuset makes the kernel rebuild every scheduling domain when its cpus are set
 * and again when it is removed (walking every task of the machine; ~0.5-1.5 ms each here,
 * the largest cost of cgroup creation), and under a balancing top one it changes nothing. */
static int cpuset_fill(const char *root, const char *path, struct k8c_err **err)
{
    _cleanup_free_ char *p = xstrdup(path);
    char *slash = strrchr(p, '/');
    if (slash == NULL || slash[1] == '\0')
        return 0;
    *slash = '\0'; /* p is now the parent ("" for the hierarchy root) */
    if (p[0] != '\0' && cpuset_fill(root, p, err) < 0)
        return -1;
    _cleanup_free_ char *dir = xasprintf("%s%s", root, path);
    _cleanup_free_ char *parent = xasprintf("%s%s", root, p);
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *cur = runtime__cgroup_read(dir, files[i], err);
        if (cur == NULL)
            return -1;
        if (cur[0] != '\0')
            continue;
        if (i == 0 && top_balances(root)) {
            _cleanup_err_ struct k8c_err *e = NULL;
            runtime__cgroup_write(dir, "cpuset.sched_load_balance", "0", &e);
        }
        _cleanup_free_ char *pv = runtime__cgroup_read(parent, files[i], err);
        if (pv == NULL || runtime__cgroup_write(dir, files[i], pv, err) < 0)
            return -1;
    }
    return 0;
}

static int write_i64(const char *dir, const char *file, int64_t v, struct k8c_err **err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return runtime__cgroup_write(dir, file, buf, err);
}

static int set_devices(const char *dir, const struct runtime_resources *res, struct k8c_err **err)
{
    for (size_t i = 0; i < res->n_devices; i++) {
        const struct runtime_device_rule *d = &res->devices[i];
        char rule[96], maj[24], min[24];
        if (d->major < 0)
            strcpy(maj, "*");
        else
            snprintf(maj, sizeof(maj), "%" PRId64, d->major);
        if (d->minor < 0)
            strcpy(min, "*");
        else
            snprintf(min, sizeof(min), "%" PRId64, d->minor);
        if (d->type == 'a')
            snprintf(rule, sizeof(rule), "a");
        else
            snprintf(rule, sizeof(rule), "%c %s:%s %s", d->type, maj, min, d->access);
        if (runtime__cgroup_write(dir, d->allow ? "devices.allow" : "devices.deny", rule, err) < 0)
            return -1;
    }
    /* The devices every container gets whatever the spec says (runc's and crun's list):
     * null, zero, full, random, urandom, tty, console, ptmx, the pts and tun. */
    static const char *const always[] = {"c 1:3 rwm",   "c 1:5 rwm",   "c 1:7 rwm", "c 1:8 rwm",
                                         "c 1:9 rwm",   "c 5:0 rwm",   "c 5:1 rwm", "c 5:2 rwm",
                                         "c 136:* rwm", "c 10:200 rwm"};
    for (size_t i = 0; i < ARRAY_SIZE(always); i++)
        if (runtime__cgroup_write(dir, "devices.allow", always[i], err) < 0)
            return -1;
    return 0;
}

static int v1_update(struct runtime_cgroup *cg, const struct runtime_resources *res,
                     struct k8c_err **err);

static int v1_create(struct runtime_cgroup *cg, const struct runtime_resources *res,
                     struct k8c_err **err)
{
    for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
        if (!mounted(cg, controllers[i]))
            continue;
        _cleanup_free_ char *dir = dir_of(cg, controllers[i]);
        if (runtime__cgroup_mkdir(dir, err) < 0)
            return -1;
        if (strcmp(controllers[i], "cpuset") == 0) {
            _cleanup_free_ char *root = xasprintf("%s/cpuset", cg->mount_root);
            if (cpuset_fill(root, cg->path, err) < 0)
                return -1;
        }
    }
    return res ? v1_update(cg, res, err) : 0;
}

static int v1_update(struct runtime_cgroup *cg, const struct runtime_resources *res,
                     struct k8c_err **err)
{
    if (mounted(cg, "memory")) {
        _cleanup_free_ char *dir = dir_of(cg, "memory");
        if (res->has_memory_limit &&
            write_i64(dir, "memory.limit_in_bytes", res->memory_limit, err) < 0)
            return k8c_err_wrap(err, "linux.resources.memory.limit");
        if (res->has_memory_reservation &&
            write_i64(dir, "memory.soft_limit_in_bytes", res->memory_reservation, err) < 0)
            return k8c_err_wrap(err, "linux.resources.memory.reservation");
        if (res->has_memory_swap) {
            _cleanup_free_ char *f = xasprintf("%s/memory.memsw.limit_in_bytes", dir);
            if (access(f, F_OK) == 0) {
                if (write_i64(dir, "memory.memsw.limit_in_bytes", res->memory_swap, err) < 0)
                    return k8c_err_wrap(err, "linux.resources.memory.swap");
            } else if (res->memory_swap != -1 &&
                       !(res->has_memory_limit && res->memory_swap == res->memory_limit)) {
                return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                                   "linux.resources.memory.swap: this kernel has no swap "
                                   "accounting (memory.memsw.limit_in_bytes)");
            }
        }
    }
    if (mounted(cg, "cpu")) {
        _cleanup_free_ char *dir = dir_of(cg, "cpu");
        if (res->has_cpu_shares && res->cpu_shares &&
            write_i64(dir, "cpu.shares", (int64_t)res->cpu_shares, err) < 0)
            return k8c_err_wrap(err, "linux.resources.cpu.shares");
        if (res->has_cpu_period && res->cpu_period &&
            write_i64(dir, "cpu.cfs_period_us", (int64_t)res->cpu_period, err) < 0)
            return k8c_err_wrap(err, "linux.resources.cpu.period");
        if (res->has_cpu_quota && res->cpu_quota &&
            write_i64(dir, "cpu.cfs_quota_us", res->cpu_quota, err) < 0)
            return k8c_err_wrap(err, "linux.resources.cpu.quota");
    }
    if (mounted(cg, "cpuset")) {
        _cleanup_free_ char *dir = dir_of(cg, "cpuset");
        if (res->cpuset_cpus && res->cpuset_cpus[0] &&
            runtime__cgroup_write(dir, "cpuset.cpus", res->cpuset_cpus, err) < 0)
            return k8c_err_wrap(err, "linux.resources.cpu.cpus");
        if (res->cpuset_mems && res->cpuset_mems[0] &&
            runtime__cgroup_write(dir, "cpuset.mems", res->cpuset_mems, err) < 0)
            return k8c_err_wrap(err, "linux.resources.cpu.mems");
    }
    if (res->has_pids_limit && mounted(cg, "pids")) {
        _cleanup_free_ char *dir = dir_of(cg, "pids");
        int r = res->pids_limit > 0 ? write_i64(dir, "pids.max", res->pids_limit, err)
                                    : runtime__cgroup_write(dir, "pids.max", "max", err);
        if (r < 0)
            return k8c_err_wrap(err, "linux.resources.pids.limit");
    }
    if (res->n_hugepages) {
        if (!mounted(cg, "hugetlb"))
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "linux.resources.hugepageLimits: no hugetlb cgroup hierarchy");
        _cleanup_free_ char *dir = dir_of(cg, "hugetlb");
        for (size_t i = 0; i < res->n_hugepages; i++) {
            _cleanup_free_ char *file =
                xasprintf("hugetlb.%s.limit_in_bytes", res->hugepages[i].page_size);
            if (write_i64(dir, file, (int64_t)res->hugepages[i].limit, err) < 0)
                return k8c_err_wrap(err, "linux.resources.hugepageLimits[%zu]", i);
        }
    }
    if (res->n_devices && mounted(cg, "devices")) {
        _cleanup_free_ char *dir = dir_of(cg, "devices");
        if (set_devices(dir, res, err) < 0)
            return k8c_err_wrap(err, "linux.resources.devices");
    }
    return 0;
}

static int v1_add_pid(struct runtime_cgroup *cg, pid_t pid, struct k8c_err **err)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
        if (!mounted(cg, controllers[i]))
            continue;
        _cleanup_free_ char *dir = dir_of(cg, controllers[i]);
        if (runtime__cgroup_write(dir, "cgroup.procs", buf, err) < 0)
            return -1;
    }
    return 0;
}

/* Writing "0" to `tasks` moves only the calling thread, and the kernel then skips the
 * global threadgroup lock whose write side waits for an RCU grace period (5-15 ms here) on
 * every cgroup.procs write. The runtime steps into the container's cgroups this way, clones
 * the container's process (born there), and steps back. */
static int v1_enter(struct runtime_cgroup *cg, char ***saved, struct k8c_err **err)
{
    _cleanup_free_ char *self = runtime__cgroup_read("/proc/self", "cgroup", err);
    if (self == NULL)
        return -1;
    /* one entry per controller, "" when we are not in that hierarchy (NULL-terminated) */
    char **orig = xcalloc(ARRAY_SIZE(controllers) + 1, sizeof(char *));
    for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
        size_t n = strlen(controllers[i]);
        orig[i] = xstrdup("");
        for (char *line = self; line && *line;
             line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
            char *c = strchr(line, ':');
            char *p = c ? strchr(c + 1, ':') : NULL;
            if (p == NULL)
                break;
            /* the controllers field is a comma-separated list ("cpu,cpuacct") */
            bool match = false;
            for (char *q = c + 1; q < p;) {
                size_t len = strcspn(q, ",:");
                if (len == n && strncmp(q, controllers[i], n) == 0)
                    match = true;
                q += len + 1;
            }
            if (match) {
                size_t len = strcspn(p + 1, "\n");
                free(orig[i]);
                orig[i] = xstrndup(p + 1, len);
                break;
            }
        }
    }
    *saved = orig;
    for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
        if (orig[i][0] == '\0' || !mounted(cg, controllers[i]))
            continue;
        _cleanup_free_ char *dir = dir_of(cg, controllers[i]);
        if (runtime__cgroup_write(dir, "tasks", "0", err) < 0)
            return -1;
    }
    return 0;
}

static int v1_leave(struct runtime_cgroup *cg, char **saved, struct k8c_err **err)
{
    int ret = 0;
    for (size_t i = 0; saved && saved[i] && i < ARRAY_SIZE(controllers); i++) {
        if (saved[i][0] == '\0' || !mounted(cg, controllers[i]))
            continue;
        _cleanup_free_ char *dir = xasprintf("%s/%s%s", cg->mount_root, controllers[i],
                                             strcmp(saved[i], "/") == 0 ? "" : saved[i]);
        if (runtime__cgroup_write(dir, "tasks", "0", err) < 0)
            ret = -1;
    }
    return ret;
}

static int v1_is_frozen(struct runtime_cgroup *cg, struct k8c_err **err)
{
    if (!mounted(cg, "freezer"))
        return 0;
    _cleanup_free_ char *dir = dir_of(cg, "freezer");
    _cleanup_free_ char *state = runtime__cgroup_read(dir, "freezer.state", err);
    if (state == NULL)
        return -1;
    return strcmp(state, "FROZEN") == 0;
}

static int v1_freeze(struct runtime_cgroup *cg, bool frozen, struct k8c_err **err)
{
    if (!mounted(cg, "freezer"))
        return k8c_err_set(err, ENOTSUP, K8C_REASON_INTERNAL, "cgroup: no freezer hierarchy");
    _cleanup_free_ char *dir = dir_of(cg, "freezer");
    const char *want = frozen ? "FROZEN" : "THAWED";
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        /* writing FROZEN again nudges a freezer stuck in FREEZING */
        if (runtime__cgroup_write(dir, "freezer.state", want, err) < 0)
            return -1;
        _cleanup_free_ char *state = runtime__cgroup_read(dir, "freezer.state", err);
        if (state == NULL)
            return -1;
        if (strcmp(state, want) == 0)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 10)
            return k8c_err_set(err, ETIMEDOUT, K8C_REASON_TIMEOUT, "cgroup: freezer stuck in %s",
                               state);
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int v1_stats(struct runtime_cgroup *cg, struct runtime_cgroup_stats *st,
                    struct k8c_err **err)
{
    memset(st, 0, sizeof(*st));
    if (mounted(cg, "cpuacct")) {
        _cleanup_free_ char *dir = dir_of(cg, "cpuacct");
        _cleanup_free_ char *v = runtime__cgroup_read(dir, "cpuacct.usage", err);
        if (v == NULL)
            return -1;
        st->cpu_usage_ns = strtoull(v, NULL, 10);
    }
    if (mounted(cg, "memory")) {
        _cleanup_free_ char *dir = dir_of(cg, "memory");
        _cleanup_free_ char *usage = runtime__cgroup_read(dir, "memory.usage_in_bytes", err);
        if (usage == NULL)
            return -1;
        _cleanup_free_ char *stat = runtime__cgroup_read(dir, "memory.stat", err);
        if (stat == NULL)
            return -1;
        _cleanup_free_ char *limit = runtime__cgroup_read(dir, "memory.limit_in_bytes", err);
        if (limit == NULL)
            return -1;
        _cleanup_free_ char *oom = runtime__cgroup_read(dir, "memory.oom_control", err);
        if (oom == NULL)
            return -1;
        st->memory_usage = strtoull(usage, NULL, 10);
        uint64_t inactive = runtime__cgroup_keyed(stat, "total_inactive_file");
        st->memory_working_set = st->memory_usage > inactive ? st->memory_usage - inactive : 0;
        st->memory_limit = strtoull(limit, NULL, 10);
        if (st->memory_limit >= (UINT64_MAX >> 2))
            st->memory_limit = 0; /* v1 writes "unlimited" as PAGE_COUNTER_MAX pages */
        st->oom_kills = runtime__cgroup_keyed(oom, "oom_kill");
    }
    if (mounted(cg, "pids")) {
        _cleanup_free_ char *dir = dir_of(cg, "pids");
        _cleanup_free_ char *v = runtime__cgroup_read(dir, "pids.current", err);
        if (v == NULL)
            return -1;
        st->pids_current = strtoull(v, NULL, 10);
    }
    return 0;
}

static int v1_pids(struct runtime_cgroup *cg, pid_t **pids, size_t *n, struct k8c_err **err)
{
    const char *c = mounted(cg, "pids") ? "pids" : mounted(cg, "memory") ? "memory" : "cpu";
    _cleanup_free_ char *dir = dir_of(cg, c);
    return runtime__cgroup_read_pids(dir, pids, n, err);
}

static int v1_destroy(struct runtime_cgroup *cg, struct k8c_err **err)
{
    int ret = 0;
    for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
        if (!mounted(cg, controllers[i]))
            continue;
        _cleanup_free_ char *dir = dir_of(cg, controllers[i]);
        if (rmdir(dir) < 0 && errno != ENOENT && ret == 0)
            ret = k8c_err_errno(err, "cgroup: remove `%s`", dir);
    }
    return ret;
}

const struct runtime_cgroup_ops runtime__cgroup_v1 = {
    .name = "v1",
    .create = v1_create,
    .update = v1_update,
    .enter = v1_enter,
    .leave = v1_leave,
    .add_pid = v1_add_pid,
    .freeze = v1_freeze,
    .is_frozen = v1_is_frozen,
    .stats = v1_stats,
    .pids = v1_pids,
    .destroy = v1_destroy,
};
