/* Which pods a ReplicaSet deletes first when it scales down: Kubernetes' ActivePodsWithRanks
 * order, least valuable first. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "controllers/internal.h"

struct ranked {
    json_t *pod;
    bool assigned;
    int phase; /* Pending 0 < Unknown 1 < Running 2 */
    bool ready;
    int64_t cost;     /* controller.kubernetes.io/pod-deletion-cost */
    size_t colocated; /* pods of the list on the same node */
    time_t ready_since;
    int64_t restarts;
    time_t created;
    const char *name;
};

static int phase_rank(const char *phase)
{
    if (phase == NULL || strcmp(phase, "Pending") == 0)
        return 0;
    if (strcmp(phase, "Unknown") == 0)
        return 1;
    return 2;
}

static int cmp(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->assigned != b->assigned)
        return a->assigned ? 1 : -1;
    if (a->phase != b->phase)
        return a->phase < b->phase ? -1 : 1;
    if (a->ready != b->ready)
        return a->ready ? 1 : -1;
    if (a->cost != b->cost)
        return a->cost < b->cost ? -1 : 1;
    if (a->colocated != b->colocated)
        return a->colocated > b->colocated ? -1 : 1;
    if (a->ready && b->ready && a->ready_since != b->ready_since)
        return a->ready_since > b->ready_since ? -1 : 1; /* ready for less time first */
    if (a->restarts != b->restarts)
        return a->restarts > b->restarts ? -1 : 1;
    if (a->created != b->created)
        return a->created > b->created ? -1 : 1; /* newer first */
    return strcmp(a->name, b->name);
}

void ctl__pods_rank_for_deletion(json_t *pods, time_t now)
{
    size_t n = json_array_size(pods);
    if (n < 2)
        return;
    struct ranked *r = xcalloc(n, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(pods, i);
        const char *node = kjson_path_str(p, "spec.nodeName");
        r[i].pod = json_incref(p);
        r[i].assigned = node && *node;
        r[i].phase = phase_rank(kjson_path_str(p, "status.phase"));
        r[i].ready = ctl__pod_ready(p);
        json_t *ann = kjson_path(p, "metadata.annotations");
        const char *cost =
            json_string_value(json_object_get(ann, "controller.kubernetes.io/pod-deletion-cost"));
        r[i].cost = cost ? strtoll(cost, NULL, 10) : 0;
        json_t *c = ctl__condition(json_object_get(p, "status"), "Ready");
        r[i].ready_since = ctl__time(c, "lastTransitionTime");
        r[i].restarts = ctl__pod_restarts(p);
        r[i].created = ctl__time(p, "metadata.creationTimestamp");
        r[i].name = kjson_path_str(p, "metadata.name") ?: "";
        for (size_t j = 0; j < n && r[i].assigned; j++) {
            const char *other = kjson_path_str(json_array_get(pods, j), "spec.nodeName");
            if (other && strcmp(other, node) == 0)
                r[i].colocated++;
        }
    }
    (void)now;
    qsort(r, n, sizeof(*r), cmp);
    json_array_clear(pods);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(pods, r[i].pod);
    free(r);
}
