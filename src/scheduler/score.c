/* The score plugins and their weights in kube-scheduler's default profile: TaintToleration 3,
 * NodeAffinity 2, NodeResourcesFit (LeastAllocated) 1, NodeResourcesBalancedAllocation 1,
 * ImageLocality 1, InterPodAffinity 2, PodTopologySpread 2. Each plugin yields 0..100 per
 * node (normalized where kube-scheduler normalizes); the total is the weighted sum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "scheduler/internal.h"

#define MAX_SCORE 100
#define MB (1024LL * 1024)
#define IMAGE_MIN_THRESHOLD (23 * MB)
#define IMAGE_MAX_CONTAINER_THRESHOLD (1000 * MB)

enum {
    WEIGHT_TAINT = 3,
    WEIGHT_NODE_AFFINITY = 2,
    WEIGHT_LEAST_ALLOCATED = 1,
    WEIGHT_BALANCED = 1,
    WEIGHT_IMAGE = 1,
    WEIGHT_INTERPOD = 2,
    WEIGHT_SPREAD = 2,
};

static int64_t least_requested(int64_t requested, int64_t capacity)
{
    if (capacity <= 0 || requested > capacity)
        return 0;
    return (int64_t)((__int128)(capacity - requested) * MAX_SCORE / capacity);
}

/* LeastAllocated over cpu and memory (weights 1), with the scoring defaults for pods that
 * request nothing. */
static int64_t least_allocated(const struct scheduler_pod *p, const struct scheduler_node_info *ni)
{
    const struct scheduler_resources *a = &ni->node->allocatable;
    int64_t score = 0, weights = 0;
    if (a->milli_cpu != 0) {
        score += least_requested(ni->nonzero_cpu + p->nonzero_cpu, a->milli_cpu);
        weights++;
    }
    if (a->memory != 0) {
        score += least_requested(ni->nonzero_memory + p->nonzero_memory, a->memory);
        weights++;
    }
    return weights ? score / weights : 0;
}

/* BalancedAllocation: 1 - the standard deviation of the requested fractions of cpu and
 * memory (actual requests, not the scoring defaults). */
static int64_t balanced_allocation(const struct scheduler_pod *p,
                                   const struct scheduler_node_info *ni)
{
    const struct scheduler_resources *a = &ni->node->allocatable;
    double fractions[2];
    size_t n = 0;
    if (a->milli_cpu != 0) {
        double f = (double)(ni->requested.milli_cpu + p->req.milli_cpu) / (double)a->milli_cpu;
        fractions[n++] = f > 1 ? 1 : f;
    }
    if (a->memory != 0) {
        double f = (double)(ni->requested.memory + p->req.memory) / (double)a->memory;
        fractions[n++] = f > 1 ? 1 : f;
    }
    double std = n == 2 ? fabs((fractions[0] - fractions[1]) / 2) : 0;
    return (int64_t)((1 - std) * MAX_SCORE);
}

/* The sum of the weights of the preferred node affinity terms the node matches. */
static int64_t node_affinity_raw(const struct scheduler_pod *p, const struct scheduler_node *n)
{
    int64_t sum = 0;
    for (size_t i = 0; i < p->n_preferred; i++) {
        const struct scheduler_node_term *t = &p->preferred[i];
        if (t->weight != 0 && scheduler__node_term_match(t, n->name, n->labels))
            sum += t->weight;
    }
    return sum;
}

/* The number of PreferNoSchedule taints not tolerated by the pod's tolerations whose effect
 * is PreferNoSchedule or empty. */
static int64_t taint_raw(const struct scheduler_pod *p, const struct scheduler_node *n)
{
    int64_t count = 0;
    for (size_t i = 0; i < n->n_taints; i++) {
        const struct scheduler_taint *t = &n->taints[i];
        if (strcmp(t->effect, "PreferNoSchedule") != 0)
            continue;
        bool tolerated = false;
        for (size_t k = 0; k < p->n_tolerations && !tolerated; k++) {
            const struct scheduler_toleration *tol = &p->tolerations[k];
            if (*tol->effect && strcmp(tol->effect, "PreferNoSchedule") != 0)
                continue;
            tolerated = scheduler_toleration_tolerates(tol, t);
        }
        count += !tolerated;
    }
    return count;
}

/* ImageLocality: the sizes of the pod's images present on the node, each scaled by the
 * share of nodes that have it, clamped to [23 MB, 1000 MB × containers] and mapped to 0..100. */
static int64_t image_locality(const struct scheduler_snapshot *s, const struct scheduler_pod *p,
                              const struct scheduler_node *n)
{
    if (p->n_containers == 0 || s->n_nodes == 0)
        return 0;
    int64_t sum = 0;
    for (size_t i = 0; i < p->n_images; i++) {
        for (size_t k = 0; k < n->n_images; k++) {
            if (strcmp(n->images[k].name, p->images[i]) != 0)
                continue;
            double spread =
                (double)scheduler_snapshot_image_nodes(s, p->images[i]) / (double)s->n_nodes;
            sum += (int64_t)((double)n->images[k].size * spread);
            break;
        }
    }
    int64_t max = IMAGE_MAX_CONTAINER_THRESHOLD * (int64_t)p->n_containers;
    if (sum < IMAGE_MIN_THRESHOLD)
        sum = IMAGE_MIN_THRESHOLD;
    else if (sum > max)
        sum = max;
    return MAX_SCORE * (sum - IMAGE_MIN_THRESHOLD) / (max - IMAGE_MIN_THRESHOLD);
}

/* framework.DefaultNormalizeScore. */
static void normalize(int64_t *scores, size_t n, bool reverse)
{
    int64_t max = 0;
    for (size_t i = 0; i < n; i++)
        if (scores[i] > max)
            max = scores[i];
    for (size_t i = 0; i < n; i++) {
        if (max == 0) {
            scores[i] = reverse ? MAX_SCORE : scores[i];
            continue;
        }
        int64_t v = MAX_SCORE * scores[i] / max;
        scores[i] = reverse ? MAX_SCORE - v : v;
    }
}

void scheduler__score(struct scheduler__cycle *c, struct scheduler_node_info *const *feasible,
                      size_t n, int64_t *totals)
{
    const struct scheduler_pod *p = c->pod;
    int64_t *tmp = xcalloc(n, sizeof(int64_t));
    memset(totals, 0, n * sizeof(*totals));

    for (size_t i = 0; i < n; i++)
        tmp[i] = taint_raw(p, feasible[i]->node);
    normalize(tmp, n, true);
    for (size_t i = 0; i < n; i++)
        totals[i] += WEIGHT_TAINT * tmp[i];

    if (p->n_preferred > 0) {
        for (size_t i = 0; i < n; i++)
            tmp[i] = node_affinity_raw(p, feasible[i]->node);
        normalize(tmp, n, false);
        for (size_t i = 0; i < n; i++)
            totals[i] += WEIGHT_NODE_AFFINITY * tmp[i];
    }

    for (size_t i = 0; i < n; i++) {
        totals[i] += WEIGHT_LEAST_ALLOCATED * least_allocated(p, feasible[i]);
        totals[i] += WEIGHT_BALANCED * balanced_allocation(p, feasible[i]);
        totals[i] += WEIGHT_IMAGE * image_locality(c->snap, p, feasible[i]->node);
    }

    scheduler__interpod_score(c, feasible, n, tmp);
    for (size_t i = 0; i < n; i++)
        totals[i] += WEIGHT_INTERPOD * tmp[i];

    scheduler__spread_score(c, feasible, n, tmp);
    for (size_t i = 0; i < n; i++)
        totals[i] += WEIGHT_SPREAD * tmp[i];
    free(tmp);
}
