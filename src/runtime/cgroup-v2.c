/* The cgroup v2 (unified) driver: one directory <root><path>, controllers enabled in each
 * parent's cgroup.subtree_control, resources in the v2 files (memory.max, cpu.max,
 * cpu.weight, pids.max, ...), freezing with cgroup.freeze. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/mem.h"
#include "runtime/internal.h"

static char *dir_of(const struct runtime_cgroup *cg)
{
    return xasprintf("%s%s", cg->mount_root, cg->path);
}

/* Enables every available controller we use on each level from the root down to the
 * container's parent, so the container's directory gets the interface files. */
static int enable_controllers(const struct runtime_cgroup *cg, struct k8c_err **err)
{
    _cleanup_free_ char *avail = runtime__cgroup_read(cg->mount_root, "cgroup.controllers", err);
    if (avail == NULL)
        return -1;
    static const char *const wanted[] = {"cpu", "cpuset", "memory", "pids", "io", "hugetlb"};
    struct buf want = BUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
        size_t n = strlen(wanted[i]);
        for (const char *p = avail; (p = strstr(p, wanted[i])) != NULL; p += n)
            if ((p == avail || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) {
                buf_appendf(&want, "%s+%s", want.len ? " " : "", wanted[i]);
                break;
            }
    }
    int ret = 0;
    /* for "/a/b/c": the root, "/a" and "/a/b" */
    for (size_t i = 0; want.len && ret == 0 && cg->path[i]; i++) {
        if (cg->path[i] != '/')
            continue;
        _cleanup_free_ char *dir = xasprintf("%s%.*s", cg->mount_root, (int)i, cg->path);
        _cleanup_err_ struct k8c_err *e = NULL;
        if (runtime__cgroup_write(dir, "cgroup.subtree_control", want.data, &e) < 0 &&
            e->errnum != EBUSY) {
            *err = steal_ptr(&e);
            ret = k8c_err_wrap(err, "enable controllers");
        }
    }
    buf_free(&want);
    return ret;
}

static int write_max(const char *dir, const char *file, int64_t v, struct k8c_err **err)
{
    char buf[32];
    if (v < 0)
        strcpy(buf, "max");
    else
        snprintf(buf, sizeof(buf), "%" PRId64, v);
    return runtime__cgroup_write(dir, file, buf, err);
}

static int v2_update(struct runtime_cgroup *cg, const struct runtime_resources *res,
                     struct k8c_err **err);

static int v2_create(struct runtime_cgroup *cg, const struct runtime_resources *res,
                     struct k8c_err **err)
{
    _cleanup_free_ char *dir = dir_of(cg);
    if (runtime__cgroup_mkdir(dir, err) < 0)
        return -1;
    if (enable_controllers(cg, err) < 0)
        return -1;
    return res ? v2_update(cg, res, err) : 0;
}

static int v2_update(struct runtime_cgroup *cg, const struct runtime_resources *res,
                     struct k8c_err **err)
{
    _cleanup_free_ char *dir = dir_of(cg);
    if (res->has_memory_limit && write_max(dir, "memory.max", res->memory_limit, err) < 0)
        return k8c_err_wrap(err, "linux.resources.memory.limit");
    if (res->has_memory_reservation &&
        write_max(dir, "memory.low", res->memory_reservation, err) < 0)
        return k8c_err_wrap(err, "linux.resources.memory.reservation");
    if (res->has_memory_swap) {
        /* OCI swap is memory+swap; v2 limits swap alone */
        int64_t swap = res->memory_swap;
        if (swap > 0 && res->has_memory_limit && res->memory_limit > 0)
            swap -= res->memory_limit;
        if (write_max(dir, "memory.swap.max", swap, err) < 0)
            return k8c_err_wrap(err, "linux.resources.memory.swap");
    }
    if (res->has_cpu_shares && res->cpu_shares) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRIu64, runtime__cpu_shares_to_weight(res->cpu_shares));
        if (runtime__cgroup_write(dir, "cpu.weight", buf, err) < 0)
            return k8c_err_wrap(err, "linux.resources.cpu.shares");
    }
    if ((res->has_cpu_quota && res->cpu_quota) || (res->has_cpu_period && res->cpu_period)) {
        char buf[64];
        uint64_t period = res->has_cpu_period && res->cpu_period ? res->cpu_period : 100000;
        if (res->has_cpu_quota && res->cpu_quota > 0)
            snprintf(buf, sizeof(buf), "%" PRId64 " %" PRIu64, res->cpu_quota, period);
        else
            snprintf(buf, sizeof(buf), "max %" PRIu64, period);
        if (runtime__cgroup_write(dir, "cpu.max", buf, err) < 0)
            return k8c_err_wrap(err, "linux.resources.cpu.quota");
    }
    if (res->cpuset_cpus && res->cpuset_cpus[0] &&
        runtime__cgroup_write(dir, "cpuset.cpus", res->cpuset_cpus, err) < 0)
        return k8c_err_wrap(err, "linux.resources.cpu.cpus");
    if (res->cpuset_mems && res->cpuset_mems[0] &&
        runtime__cgroup_write(dir, "cpuset.mems", res->cpuset_mems, err) < 0)
        return k8c_err_wrap(err, "linux.resources.cpu.mems");
    if (res->has_pids_limit &&
        write_max(dir, "pids.max", res->pids_limit > 0 ? res->pids_limit : -1, err) < 0)
        return k8c_err_wrap(err, "linux.resources.pids.limit");
    for (size_t i = 0; i < res->n_hugepages; i++) {
        _cleanup_free_ char *file = xasprintf("hugetlb.%s.max", res->hugepages[i].page_size);
        if (write_max(dir, file, (int64_t)res->hugepages[i].limit, err) < 0)
            return k8c_err_wrap(err, "linux.resources.hugepageLimits[%zu]", i);
    }
    if (res->n_devices && runtime__cgroup_v2_devices(dir, res, err) < 0)
        return -1;
    return 0;
}

static int v2_add_pid(struct runtime_cgroup *cg, pid_t pid, struct k8c_err **err)
{
    _cleanup_free_ char *dir = dir_of(cg);
    char buf[24];
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    return runtime__cgroup_write(dir, "cgroup.procs", buf, err);
}

static int v2_is_frozen(struct runtime_cgroup *cg, struct k8c_err **err)
{
    _cleanup_free_ char *dir = dir_of(cg);
    _cleanup_free_ char *events = runtime__cgroup_read(dir, "cgroup.events", err);
    if (events == NULL)
        return -1;
    return runtime__cgroup_keyed(events, "frozen") == 1;
}

static int v2_freeze(struct runtime_cgroup *cg, bool frozen, struct k8c_err **err)
{
    _cleanup_free_ char *dir = dir_of(cg);
    if (runtime__cgroup_write(dir, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
        return -1;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int f = v2_is_frozen(cg, err);
        if (f < 0)
            return -1;
        if (f == (int)frozen)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 10)
            return k8c_err_set(err, ETIMEDOUT, K8C_REASON_TIMEOUT, "cgroup: freeze timed out");
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int v2_stats(struct runtime_cgroup *cg, struct runtime_cgroup_stats *st,
                    struct k8c_err **err)
{
    memset(st, 0, sizeof(*st));
    _cleanup_free_ char *dir = dir_of(cg);
    _cleanup_free_ char *cpu = runtime__cgroup_read(dir, "cpu.stat", err);
    if (cpu == NULL)
        return -1;
    st->cpu_usage_ns = runtime__cgroup_keyed(cpu, "usage_usec") * 1000;
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_free_ char *cur = runtime__cgroup_read(dir, "memory.current", &e);
    if (cur) { /* memory controller enabled */
        _cleanup_free_ char *stat = runtime__cgroup_read(dir, "memory.stat", err);
        _cleanup_free_ char *max = stat ? runtime__cgroup_read(dir, "memory.max", err) : NULL;
        _cleanup_free_ char *events = max ? runtime__cgroup_read(dir, "memory.events", err) : NULL;
        if (events == NULL)
            return -1;
        st->memory_usage = strtoull(cur, NULL, 10);
        uint64_t inactive = runtime__cgroup_keyed(stat, "inactive_file");
        st->memory_working_set = st->memory_usage > inactive ? st->memory_usage - inactive : 0;
        st->memory_limit = strcmp(max, "max") == 0 ? 0 : strtoull(max, NULL, 10);
        st->oom_kills = runtime__cgroup_keyed(events, "oom_kill");
    }
    _cleanup_err_ struct k8c_err *e2 = NULL;
    _cleanup_free_ char *pids = runtime__cgroup_read(dir, "pids.current", &e2);
    if (pids)
        st->pids_current = strtoull(pids, NULL, 10);
    return 0;
}

static int v2_pids(struct runtime_cgroup *cg, pid_t **pids, size_t *n, struct k8c_err **err)
{
    _cleanup_free_ char *dir = dir_of(cg);
    return runtime__cgroup_read_pids(dir, pids, n, err);
}

static int v2_destroy(struct runtime_cgroup *cg, struct k8c_err **err)
{
    _cleanup_free_ char *dir = dir_of(cg);
    if (rmdir(dir) < 0 && errno != ENOENT)
        return k8c_err_errno(err, "cgroup: remove `%s`", dir);
    return 0;
}

const struct runtime_cgroup_ops runtime__cgroup_v2 = {
    .name = "v2",
    .create = v2_create,
    .update = v2_update,
    .add_pid = v2_add_pid, /* no enter/leave: clone3 takes CLONE_INTO_CGROUP */
    .freeze = v2_freeze,
    .is_frozen = v2_is_frozen,
    .stats = v2_stats,
    .pids = v2_pids,
    .destroy = v2_destroy,
};
