/* Unit tests for src/agent/admit.c's pure parts: what a pod asks for (containers together or
 * the largest init container, sidecars, overhead, limits as requests) and kubelet's refusal
 * (reason OutOf<resource>, its message with cpu in millicores). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "agent/internal.h"
#include "base/json.h"
#include "base/mem.h"

static void requests_of(const char *spec, int64_t out[AGENT_RES_COUNT])
{
    _cleanup_json_ json_t *pod = kjson_parse(spec, strlen(spec), NULL);
    cr_assert(pod != NULL);
    agent_pod_requests(pod, out);
}

Test(agent_admit, containers_add_up_and_limits_stand_for_requests)
{
    int64_t r[AGENT_RES_COUNT];
    requests_of("{\"spec\":{\"containers\":["
                "{\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"}}},"
                "{\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}},"
                "{}]}}",
                r);
    cr_assert(eq(i64, r[AGENT_RES_PODS], 1));
    cr_assert(eq(i64, r[AGENT_RES_CPU], 1250));
    cr_assert(eq(i64, r[AGENT_RES_MEMORY], (64ll << 20) + (1ll << 30)));
    cr_assert(eq(i64, r[AGENT_RES_EPHEMERAL], 0));
}

Test(agent_admit, the_largest_init_container_counts_when_it_is_more)
{
    int64_t r[AGENT_RES_COUNT];
    requests_of("{\"spec\":{\"initContainers\":["
                "{\"resources\":{\"requests\":{\"cpu\":\"2\"}}},"
                "{\"resources\":{\"requests\":{\"cpu\":\"500m\"}}}],"
                "\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\"}}}],"
                "\"overhead\":{\"cpu\":\"100m\"}}}",
                r);
    cr_assert(eq(i64, r[AGENT_RES_CPU], 2100));
}

Test(agent_admit, sidecars_run_beside_the_containers_and_later_inits)
{
    int64_t r[AGENT_RES_COUNT];
    requests_of("{\"spec\":{\"initContainers\":["
                "{\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}},"
                "{\"resources\":{\"requests\":{\"cpu\":\"3\"}}}],"
                "\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}}",
                r);
    /* the second init runs beside the sidecar: 4; afterwards sidecar + container: 2 */
    cr_assert(eq(i64, r[AGENT_RES_CPU], 4000));
}

Test(agent_admit, refusal_names_the_first_short_resource_as_kubelet_does)
{
    int64_t alloc[AGENT_RES_COUNT] = {110, 2000, 8ll << 30, 100ll << 30};
    int64_t used[AGENT_RES_COUNT] = {3, 100, 1ll << 30, 0};
    int64_t want[AGENT_RES_COUNT] = {1, 4000, 16ll << 30, 0};
    char *reason = NULL, *message = NULL;
    cr_assert(eq(int, agent_pod_fits(want, used, alloc, &reason, &message), 0));
    cr_assert(eq(str, reason, "OutOfcpu"));
    cr_assert(eq(str, message,
                 "Node didn't have enough resource: cpu, requested: 4000, used: 100, "
                 "capacity: 2000"));
    free(reason);
    free(message);

    want[AGENT_RES_CPU] = 1900; /* fits exactly */
    cr_assert(eq(int, agent_pod_fits(want, used, alloc, &reason, &message), 0));
    cr_assert(eq(str, reason, "OutOfmemory"));
    free(reason);
    free(message);

    want[AGENT_RES_MEMORY] = 1ll << 30;
    cr_assert(eq(int, agent_pod_fits(want, used, alloc, &reason, &message), 1));
    used[AGENT_RES_PODS] = 110;
    cr_assert(eq(int, agent_pod_fits(want, used, alloc, &reason, &message), 0));
    cr_assert(eq(str, reason, "OutOfpods"));
    cr_assert(eq(str, message,
                 "Node didn't have enough resource: pods, requested: 1, used: 110, capacity: 110"));
    free(reason);
    free(message);
}

Test(agent_admit, a_resource_not_asked_for_never_refuses)
{
    /* the node is already over on memory (e.g. allocatable shrank): a pod that asks for no
     * memory still fits */
    int64_t alloc[AGENT_RES_COUNT] = {110, 2000, 1ll << 30, 0};
    int64_t used[AGENT_RES_COUNT] = {1, 0, 2ll << 30, 0};
    int64_t want[AGENT_RES_COUNT] = {1, 100, 0, 0};
    char *reason = NULL, *message = NULL;
    cr_assert(eq(int, agent_pod_fits(want, used, alloc, &reason, &message), 1));
    cr_assert(eq(ptr, reason, NULL));
}
