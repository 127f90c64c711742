/* Unit tests for src/agent/eviction.c with made-up readings: kubelet's default thresholds,
 * the conditions and their transition period, the pressure taints, QoS classes, the eviction
 * order and kubelet's message. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "agent/bundle.h"
#include "agent/eviction.h"
#include "base/json.h"
#include "base/mem.h"

#define MI (1024ll * 1024)
#define GI (1024ll * MI)
#define SEC 1000000000ull

static json_t *kjson_parse_str(const char *s)
{
    return kjson_parse(s, strlen(s), NULL);
}

/* A healthy machine: 8 GiB memory with 4 free, 100 GiB disk half free, inodes and pids. */
static struct agent_readings healthy(void)
{
    return (struct agent_readings){.mem_available = 4 * GI,
                                   .mem_capacity = 8 * GI,
                                   .fs_available = 50 * GI,
                                   .fs_capacity = 100 * GI,
                                   .inodes_free = 500000,
                                   .inodes_capacity = 1000000,
                                   .imagefs_available = 50 * GI,
                                   .imagefs_capacity = 100 * GI,
                                   .pids = 1000,
                                   .pid_max = 32768};
}

Test(eviction, default_thresholds)
{
    struct agent_readings r = healthy();
    cr_assert(eq(u32, agent_signals_breached(&r), 0));
    r.mem_available = 100 * MI; /* memory.available<100Mi: exactly 100Mi is not under */
    cr_assert(eq(u32, agent_signals_breached(&r), 0));
    r.mem_available = 100 * MI - 1;
    cr_assert(eq(u32, agent_signals_breached(&r), 1u << AGENT_SIG_MEMORY));
    r = healthy();
    r.fs_available = r.imagefs_available = 12 * GI; /* imagefs<15% but nodefs>=10% */
    cr_assert(eq(u32, agent_signals_breached(&r), 1u << AGENT_SIG_IMAGEFS));
    r.fs_available = r.imagefs_available = 9 * GI;
    cr_assert(
        eq(u32, agent_signals_breached(&r), (1u << AGENT_SIG_NODEFS) | (1u << AGENT_SIG_IMAGEFS)));
    r = healthy();
    r.inodes_free = 49999; /* nodefs.inodesFree<5% */
    cr_assert(eq(u32, agent_signals_breached(&r), 1u << AGENT_SIG_INODES));
    r = healthy();
    r.pids = r.pid_max - 1000; /* fewer than 5% of pid_max left */
    cr_assert(eq(u32, agent_signals_breached(&r), 1u << AGENT_SIG_PID));
    r = (struct agent_readings){0}; /* unknown capacities never breach */
    r.mem_capacity = 0;
    cr_assert(eq(u32, agent_signals_breached(&r), 0));
}

static const json_t *cond(const json_t *conds, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach (conds, i, c)
        if (strcmp(kjson_path_str(c, "type"), type) == 0)
            return c;
    return NULL;
}

Test(eviction, conditions_and_transition_period)
{
    struct agent_pressure st = {0};
    uint64_t t0 = 1000 * SEC;
    /* first report: everything set, no "change" */
    cr_assert(not(agent_pressure_update(&st, 0, t0, 1000)));
    _cleanup_json_ json_t *c0 = agent_node_conditions(&st, 1000);
    cr_assert(eq(sz, json_array_size(c0), 4));
    cr_assert(eq(str, (char *)kjson_path_str(cond(c0, "Ready"), "status"), "True"));
    cr_assert(eq(str, (char *)kjson_path_str(cond(c0, "Ready"), "reason"), "KubeletReady"));
    cr_assert(eq(str, (char *)kjson_path_str(cond(c0, "MemoryPressure"), "reason"),
                 "KubeletHasSufficientMemory"));
    cr_assert(eq(str, (char *)kjson_path_str(cond(c0, "DiskPressure"), "status"), "False"));
    cr_assert(eq(str, (char *)kjson_path_str(cond(c0, "PIDPressure"), "reason"),
                 "KubeletHasSufficientPID"));
    /* memory breached: MemoryPressure True at once, transition time moves */
    cr_assert(agent_pressure_update(&st, 1u << AGENT_SIG_MEMORY, t0 + 10 * SEC, 1010));
    _cleanup_json_ json_t *c1 = agent_node_conditions(&st, 1010);
    const json_t *mp = cond(c1, "MemoryPressure");
    cr_assert(eq(str, (char *)kjson_path_str(mp, "status"), "True"));
    cr_assert(eq(str, (char *)kjson_path_str(mp, "reason"), "KubeletHasInsufficientMemory"));
    cr_assert(eq(str, (char *)kjson_path_str(mp, "message"),
                 "kubelet has insufficient memory available"));
    cr_assert(eq(str, (char *)kjson_path_str(mp, "lastTransitionTime"), "1970-01-01T00:16:50Z"));
    cr_assert(eq(str, (char *)kjson_path_str(cond(c1, "DiskPressure"), "lastTransitionTime"),
                 "1970-01-01T00:16:40Z"));
    /* the signal recovers: the condition holds for the 5 minute transition period */
    cr_assert(not(agent_pressure_update(&st, 0, t0 + 20 * SEC, 1020)));
    cr_assert(st.status[AGENT_COND_MEMORY]);
    cr_assert(not(agent_pressure_update(&st, 0, t0 + 309 * SEC, 1309)));
    cr_assert(st.status[AGENT_COND_MEMORY]);
    cr_assert(agent_pressure_update(&st, 0, t0 + 311 * SEC, 1311));
    cr_assert(not(st.status[AGENT_COND_MEMORY]));
    cr_assert(st.status[AGENT_COND_READY]);
    /* inodes and imagefs both map to DiskPressure, pids to PIDPressure */
    cr_assert(agent_pressure_update(&st, (1u << AGENT_SIG_INODES) | (1u << AGENT_SIG_PID),
                                    t0 + 400 * SEC, 1400));
    cr_assert(st.status[AGENT_COND_DISK] && st.status[AGENT_COND_PID]);
}

Test(eviction, pressure_taints)
{
    struct agent_pressure st = {0};
    agent_pressure_update(&st, 0, SEC, 1);
    _cleanup_json_ json_t *other =
        kjson_parse_str("[{\"key\":\"dedicated\",\"value\":\"x\",\"effect\":\"NoSchedule\"}]");
    /* no pressure, no pressure taints: nothing to change */
    cr_assert(eq(ptr, agent_pressure_taints(other, &st), NULL));
    cr_assert(eq(ptr, agent_pressure_taints(NULL, &st), NULL));
    agent_pressure_update(&st, (1u << AGENT_SIG_MEMORY) | (1u << AGENT_SIG_NODEFS), 2 * SEC, 2);
    _cleanup_json_ json_t *t = agent_pressure_taints(other, &st);
    cr_assert(not(eq(ptr, t, NULL)));
    _cleanup_free_ char *text = kjson_dumps(t);
    cr_assert(eq(str, text,
                 "[{\"key\":\"dedicated\",\"value\":\"x\",\"effect\":\"NoSchedule\"},"
                 "{\"key\":\"node.kubernetes.io/memory-pressure\",\"effect\":\"NoSchedule\"},"
                 "{\"key\":\"node.kubernetes.io/disk-pressure\",\"effect\":\"NoSchedule\"}]"));
    /* applied: no further change */
    cr_assert(eq(ptr, agent_pressure_taints(t, &st), NULL));
    /* pressure gone (after the transition period): only the other taint stays */
    agent_pressure_update(&st, 0, 400 * SEC, 400);
    _cleanup_json_ json_t *back = agent_pressure_taints(t, &st);
    _cleanup_free_ char *bt = kjson_dumps(back);
    cr_assert(eq(str, bt, "[{\"key\":\"dedicated\",\"value\":\"x\",\"effect\":\"NoSchedule\"}]"));
}

static json_t *pod_with(const char *resources)
{
    _cleanup_free_ char *text =
        xasprintf("{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":%s}]}}", resources);
    return kjson_parse_str(text);
}

Test(eviction, qos_classes)
{
    _cleanup_json_ json_t *be = pod_with("{}");
    _cleanup_json_ json_t *bu = pod_with("{\"requests\":{\"memory\":\"64Mi\"}}");
    _cleanup_json_ json_t *gu = pod_with(
        "{\"limits\":{\"memory\":\"64Mi\",\"cpu\":\"500m\"},\"requests\":{\"cpu\":\"0.5\"}}");
    _cleanup_json_ json_t *gu2 = pod_with("{\"limits\":{\"memory\":\"64Mi\",\"cpu\":\"1\"}}");
    _cleanup_json_ json_t *uneq = pod_with(
        "{\"limits\":{\"memory\":\"64Mi\",\"cpu\":\"1\"},\"requests\":{\"memory\":\"32Mi\"}}");
    _cleanup_json_ json_t *eph = pod_with("{\"requests\":{\"ephemeral-storage\":\"1Gi\"}}");
    cr_assert(eq(str, (char *)agent_qos_class(be), "BestEffort"));
    cr_assert(eq(str, (char *)agent_qos_class(bu), "Burstable"));
    cr_assert(eq(str, (char *)agent_qos_class(gu), "Guaranteed"));
    cr_assert(eq(str, (char *)agent_qos_class(gu2), "Guaranteed"));
    cr_assert(eq(str, (char *)agent_qos_class(uneq), "Burstable"));
    cr_assert(eq(str, (char *)agent_qos_class(eph), "BestEffort"));
}

Test(eviction, ranking_best_effort_then_burstable_over_requests)
{
    struct agent_evict_candidate c[] = {
        {.key = "ns/guaranteed", .usage = 500 * MI, .request = 512 * MI, .qos = "Guaranteed"},
        {.key = "ns/burstable-under", .usage = 10 * MI, .request = 64 * MI, .qos = "Burstable"},
        {.key = "ns/burstable-over", .usage = 200 * MI, .request = 64 * MI, .qos = "Burstable"},
        {.key = "ns/besteffort-small", .usage = 5 * MI, .request = 0, .qos = "BestEffort"},
        {.key = "ns/besteffort-big", .usage = 300 * MI, .request = 0, .qos = "BestEffort"},
        {.key = "ns/critical-over", .usage = 900 * MI, .priority = 2000000000, .qos = "Burstable"},
    };
    agent_evict_rank(c, ARRAY_SIZE(c));
    /* over requests: lower priority first, then the most above requests; under requests
     * last, again by usage minus requests (kubelet's rankMemoryPressure) */
    const char *want[] = {"ns/besteffort-big", "ns/burstable-over", "ns/besteffort-small",
                          "ns/critical-over",  "ns/guaranteed",     "ns/burstable-under"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        cr_assert(eq(str, (char *)c[i].key, (char *)want[i]), "rank %zu", i);
}

Test(eviction, kubelet_message)
{
    struct agent_readings r = healthy();
    r.mem_available = 51200 * 1024;
    _cleanup_free_ char *m = agent_evict_message(AGENT_SIG_MEMORY, &r, "hog", 300 * MI, 0);
    cr_assert(eq(str, m,
                 "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
                 "51200Ki. Container hog was using 307200Ki, request is 0, has larger "
                 "consumption of memory. "));
    r.fs_available = 9 * GI;
    _cleanup_free_ char *d = agent_evict_message(AGENT_SIG_NODEFS, &r, NULL, 0, 0);
    cr_assert(eq(str, d,
                 "The node was low on resource: ephemeral-storage. Threshold quantity: "
                 "10485760Ki, available: 9437184Ki. "));
}
