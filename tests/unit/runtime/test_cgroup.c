/* Unit tests for the cgroup drivers (src/runtime/cgroup*.c): resources written the v1 and
 * v2 way into fake hierarchies, usage read back, and the real cgroup2 tree when there is
 * one (create, add a process, freeze, list, destroy). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include "base/file.h"
#include "base/proc.h"
#include "base/mem.h"
#include "runtime/internal.h"

static void put(const char *dir, const char *file, const char *content)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
    cr_assert(file_mkdir_p(dir, 0755, NULL) == 0);
    cr_assert(file_write_atomic(p, content, strlen(content), 0644, NULL) == 0);
}

static char *get(const char *dir, const char *file)
{
    char *v = runtime__cgroup_read(dir, file, NULL);
    cr_assert(v != NULL, "%s/%s", dir, file);
    return v;
}

static void rm_rf(const char *dir)
{
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    struct proc_result r;
    proc_run(argv, NULL, 0, NULL, &r, NULL);
}

/* The fake hierarchy of a test, removed by fini even when an assertion fails. */
static char root[64];

static void make_root(void)
{
    strcpy(root, "/tmp/k8c-runtime-unit-XXXXXX");
    cr_assert(mkdtemp(root) != NULL);
}

static void remove_root(void)
{
    if (root[0])
        rm_rf(root);
}

Test(runtime_cgroup, v1_resources_and_stats, .init = make_root, .fini = remove_root)
{
    _cleanup_free_ char *mem = xasprintf("%s/memory/pods/c1", root);
    _cleanup_free_ char *cpu = xasprintf("%s/cpu/pods/c1", root);
    _cleanup_free_ char *pids = xasprintf("%s/pids/pods/c1", root);
    put(mem, "memory.limit_in_bytes", "9223372036854771712");
    put(mem, "memory.soft_limit_in_bytes", "");
    put(mem, "memory.memsw.limit_in_bytes", "");
    put(mem, "memory.usage_in_bytes", "1000000\n");
    put(mem, "memory.stat", "cache 5\ntotal_inactive_file 250000\ntotal_rss 9\n");
    put(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    put(cpu, "cpu.shares", "");
    put(cpu, "cpu.cfs_period_us", "");
    put(cpu, "cpu.cfs_quota_us", "");
    put(pids, "pids.max", "");
    put(pids, "pids.current", "3\n");
    _cleanup_free_ char *huge = xasprintf("%s/hugetlb/pods/c1", root);
    put(huge, "hugetlb.2MB.limit_in_bytes", "");
    struct runtime_hugepage_limit hp = {.page_size = "2MB", .limit = 4 << 21};
    struct runtime_resources res = {.hugepages = &hp,
                                    .n_hugepages = 1,
                                    .has_memory_limit = true,
                                    .memory_limit = 64 << 20,
                                    .has_memory_reservation = true,
                                    .memory_reservation = 32 << 20,
                                    .has_memory_swap = true,
                                    .memory_swap = 128 << 20,
                                    .has_cpu_shares = true,
                                    .cpu_shares = 512,
                                    .has_cpu_quota = true,
                                    .cpu_quota = 50000,
                                    .has_cpu_period = true,
                                    .cpu_period = 100000,
                                    .has_pids_limit = true,
                                    .pids_limit = 42};
    struct runtime_cgroup cg;
    runtime__cgroup_init(&cg, &runtime__cgroup_v1, root, "/pods/c1");
    _cleanup_err_ struct k8c_err *err = NULL;
    int r = cg.ops->create(&cg, &res, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    _cleanup_free_ char *limit = get(mem, "memory.limit_in_bytes");
    cr_assert(eq(str, limit, "67108864"));
    _cleanup_free_ char *soft = get(mem, "memory.soft_limit_in_bytes");
    cr_assert(eq(str, soft, "33554432"));
    _cleanup_free_ char *memsw = get(mem, "memory.memsw.limit_in_bytes");
    cr_assert(eq(str, memsw, "134217728"));
    _cleanup_free_ char *shares = get(cpu, "cpu.shares");
    cr_assert(eq(str, shares, "512"));
    _cleanup_free_ char *quota = get(cpu, "cpu.cfs_quota_us");
    cr_assert(eq(str, quota, "50000"));
    _cleanup_free_ char *pmax = get(pids, "pids.max");
    cr_assert(eq(str, pmax, "42"));
    _cleanup_free_ char *hmax = get(huge, "hugetlb.2MB.limit_in_bytes");
    cr_assert(eq(str, hmax, "8388608"));
    put(mem, "memory.limit_in_bytes", "67108864\n");
    struct runtime_cgroup_stats st;
    r = cg.ops->stats(&cg, &st, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    cr_assert(eq(u64, st.memory_usage, 1000000));
    cr_assert(eq(u64, st.memory_working_set, 750000));
    cr_assert(eq(u64, st.memory_limit, 67108864));
    cr_assert(eq(u64, st.oom_kills, 2));
    cr_assert(eq(u64, st.pids_current, 3));
    runtime__cgroup_release(&cg);
}

Test(runtime_cgroup, v2_resources_and_stats, .init = make_root, .fini = remove_root)
{
    _cleanup_free_ char *mid = xasprintf("%s/pods", root);
    _cleanup_free_ char *dir = xasprintf("%s/pods/c1", root);
    put(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(root, "cgroup.subtree_control", "");
    put(mid, "cgroup.subtree_control", "");
    static const char *const files[] = {"memory.max", "memory.low", "memory.swap.max", "cpu.weight",
                                        "cpu.max",    "pids.max",   "hugetlb.1GB.max"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        put(dir, files[i], "");
    put(dir, "cpu.stat", "usage_usec 1500\nuser_usec 1000\n");
    put(dir, "memory.current", "2000000\n");
    put(dir, "memory.stat", "anon 10\ninactive_file 500000\n");
    put(dir, "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
    put(dir, "pids.current", "7\n");
    struct runtime_hugepage_limit hp = {.page_size = "1GB", .limit = 1ull << 30};
    struct runtime_resources res = {.hugepages = &hp,
                                    .n_hugepages = 1,
                                    .has_memory_limit = true,
                                    .memory_limit = 64 << 20,
                                    .has_memory_reservation = true,
                                    .memory_reservation = 32 << 20,
                                    .has_memory_swap = true,
                                    .memory_swap = 96 << 20,
                                    .has_cpu_shares = true,
                                    .cpu_shares = 1024,
                                    .has_cpu_quota = true,
                                    .cpu_quota = 25000,
                                    .has_pids_limit = true,
                                    .pids_limit = -1};
    struct runtime_cgroup cg;
    runtime__cgroup_init(&cg, &runtime__cgroup_v2, root, "/pods/c1");
    _cleanup_err_ struct k8c_err *err = NULL;
    int r = cg.ops->create(&cg, &res, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    _cleanup_free_ char *sub_root = get(root, "cgroup.subtree_control");
    cr_assert(eq(str, sub_root, "+cpu +cpuset +memory +pids +io +hugetlb"));
    _cleanup_free_ char *sub_mid = get(mid, "cgroup.subtree_control");
    cr_assert(eq(str, sub_mid, "+cpu +cpuset +memory +pids +io +hugetlb"));
    _cleanup_free_ char *max = get(dir, "memory.max");
    cr_assert(eq(str, max, "67108864"));
    _cleanup_free_ char *low = get(dir, "memory.low");
    cr_assert(eq(str, low, "33554432"));
    _cleanup_free_ char *swap = get(dir, "memory.swap.max");
    cr_assert(eq(str, swap, "33554432"));
    _cleanup_free_ char *weight = get(dir, "cpu.weight");
    cr_assert(eq(str, weight, "39"));
    _cleanup_free_ char *cpumax = get(dir, "cpu.max");
    cr_assert(eq(str, cpumax, "25000 100000"));
    _cleanup_free_ char *pmax = get(dir, "pids.max");
    cr_assert(eq(str, pmax, "max"));
    _cleanup_free_ char *hmax = get(dir, "hugetlb.1GB.max");
    cr_assert(eq(str, hmax, "1073741824"));
    struct runtime_cgroup_stats st;
    r = cg.ops->stats(&cg, &st, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    cr_assert(eq(u64, st.cpu_usage_ns, 1500000));
    cr_assert(eq(u64, st.memory_working_set, 1500000));
    cr_assert(eq(u64, st.memory_limit, 67108864));
    cr_assert(eq(u64, st.oom_kills, 1));
    cr_assert(eq(u64, st.pids_current, 7));
    runtime__cgroup_release(&cg);
}

Test(runtime_cgroup, conversions)
{
    uint64_t w = runtime__cpu_shares_to_weight(2);
    cr_assert(eq(u64, w, 1));
    w = runtime__cpu_shares_to_weight(262144);
    cr_assert(eq(u64, w, 10000));
    w = runtime__cpu_shares_to_weight(1024);
    cr_assert(eq(u64, w, 39));
    uint64_t v = runtime__cgroup_keyed("a 1\nbb 22\nb 3\n", "b");
    cr_assert(eq(u64, v, 3));
    v = runtime__cgroup_keyed("a 1\n", "missing");
    cr_assert(eq(u64, v, 0));
}

/* The real cgroup2 tree of this host (the unified mount of a hybrid host has no
 * controllers, but creating, joining, freezing and removing work on any cgroup2). */
static char real_dir[128];

static void remove_real_dir(void)
{
    if (real_dir[0])
        rmdir(real_dir); /* after a failed assertion; empty once the child died */
}

Test(runtime_cgroup, v2_real_tree, .fini = remove_real_dir)
{
    const char *roots[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
    const char *tree = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(roots) && tree == NULL; i++) {
        struct statfs sfs;
        if (statfs(roots[i], &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC &&
            access(roots[i], W_OK) == 0)
            tree = roots[i];
    }
    if (tree == NULL)
        cr_skip_test("no writable cgroup2 hierarchy");
    _cleanup_free_ char *path = xasprintf("/k8c-runtime-unit-%d", (int)getpid());
    snprintf(real_dir, sizeof(real_dir), "%s%s", tree, path);
    struct runtime_cgroup cg;
    runtime__cgroup_init(&cg, &runtime__cgroup_v2, tree, path);
    _cleanup_err_ struct k8c_err *err = NULL;
    int r = cg.ops->create(&cg, NULL, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a failed test */
        pause();
        _exit(0);
    }
    r = cg.ops->add_pid(&cg, child, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    pid_t *pids = NULL;
    size_t n = 0;
    r = cg.ops->pids(&cg, &pids, &n, &err);
    cr_assert(eq(int, r, 0));
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(int, (int)pids[0], (int)child));
    free(pids);
    r = cg.ops->freeze(&cg, true, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    r = cg.ops->is_frozen(&cg, &err);
    cr_assert(eq(int, r, 1));
    r = cg.ops->freeze(&cg, false, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    r = runtime__cgroup_destroy_wait(&cg, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    _cleanup_free_ char *dir = xasprintf("%s%s", tree, path);
    cr_assert(access(dir, F_OK) < 0);
    runtime__cgroup_release(&cg);
}
