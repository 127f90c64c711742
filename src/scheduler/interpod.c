/* InterPodAffinity: required pod affinity and anti-affinity (the pod's own terms, and the
 * anti-affinity of pods already bound) as a filter; preferred terms of both sides, plus the
 * existing pods' required affinity at hardPodAffinityWeight 1, as a score. Counts are kept
 * per topology domain ("key\nvalue"), as kube-scheduler's PreFilter computes them. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "scheduler/internal.h"

#define REASON_AFFINITY "node(s) didn't match pod affinity rules"
#define REASON_ANTI "node(s) didn't match pod anti-affinity rules"
#define REASON_EXISTING_ANTI "node(s) didn't satisfy existing pods anti-affinity rules"
#define HARD_POD_AFFINITY_WEIGHT 1

static bool has_affinity(const struct scheduler_pod *p)
{
    return p->n_affinity || p->n_anti_affinity || p->n_pref_affinity || p->n_pref_anti_affinity;
}

/* Adds delta to the domain of key on node n, dropping domains that fall to zero. */
static void bump(json_t *map, const struct scheduler_node *n, const char *key, json_int_t delta)
{
    const char *value = json_string_value(json_object_get(n->labels, key));
    if (value == NULL)
        return;
    _cleanup_free_ char *k = xasprintf("%s\n%s", key, value);
    json_int_t v = json_integer_value(json_object_get(map, k)) + delta;
    if (v == 0)
        json_object_del(map, k);
    else
        json_object_set_new(map, k, json_integer(v));
}

static json_int_t count_at(const json_t *map, const char *key, const char *value)
{
    _cleanup_free_ char *k = xasprintf("%s\n%s", key, value);
    return json_integer_value(json_object_get(map, k));
}

static bool matches_all(const struct scheduler_affinity_term *terms, size_t n,
                        const json_t *ns_labels, const struct scheduler_pod *other)
{
    for (size_t i = 0; i < n; i++)
        if (!scheduler__term_matches(&terms[i], ns_labels, other))
            return false;
    return true;
}

void scheduler__interpod_account(struct scheduler__cycle *c, const struct scheduler_pod *existing,
                                 const struct scheduler_node *n, int delta)
{
    const struct scheduler_pod *p = c->pod;
    if (n == NULL || c->existing_anti == NULL)
        return;
    for (size_t i = 0; i < existing->n_anti_affinity; i++) {
        const struct scheduler_affinity_term *t = &existing->anti_affinity[i];
        if (scheduler__term_matches(t, c->snap->namespaces, p))
            bump(c->existing_anti, n, t->topology_key, delta);
    }
    if (p->n_affinity > 0 && matches_all(p->affinity, p->n_affinity, c->snap->namespaces, existing))
        for (size_t i = 0; i < p->n_affinity; i++)
            bump(c->affinity, n, p->affinity[i].topology_key, delta);
    for (size_t i = 0; i < p->n_anti_affinity; i++)
        if (scheduler__term_matches(&p->anti_affinity[i], c->snap->namespaces, existing))
            bump(c->anti, n, p->anti_affinity[i].topology_key, delta);
}

void scheduler__interpod_prefilter(struct scheduler__cycle *c)
{
    const struct scheduler_pod *p = c->pod;
    const struct scheduler_snapshot *s = c->snap;
    bool own = p->n_affinity > 0 || p->n_anti_affinity > 0;
    if (!own && s->n_anti_pods == 0)
        return;
    c->existing_anti = json_object();
    c->affinity = json_object();
    c->anti = json_object();
    for (size_t j = 0; j < s->n_infos; j++) {
        const struct scheduler_node_info *ni = s->infos[j];
        if (ni->node == NULL || (!own && ni->n_affinity_pods == 0))
            continue;
        for (size_t k = 0; k < ni->n_pods; k++) {
            if (!own && ni->pods[k]->n_anti_affinity == 0)
                continue;
            scheduler__interpod_account(c, ni->pods[k], ni->node, 1);
        }
    }
}

enum scheduler__code scheduler__interpod_filter(struct scheduler__cycle *c,
                                                const struct scheduler_node *n,
                                                struct scheduler__status *st)
{
    const struct scheduler_pod *p = c->pod;
    if (c->existing_anti == NULL)
        return SCHEDULER__FIT;
    /* satisfyPodAffinity */
    bool pods_exist = true;
    for (size_t i = 0; i < p->n_affinity; i++) {
        const char *key = p->affinity[i].topology_key;
        const char *value = json_string_value(json_object_get(n->labels, key));
        if (value == NULL) {
            scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, REASON_AFFINITY);
            return st->code;
        }
        if (count_at(c->affinity, key, value) <= 0)
            pods_exist = false;
    }
    /* The first pod of a group with affinity to itself may go anywhere with the topology
     * keys, as long as no other pod matches. */
    if (!pods_exist && !(json_object_size(c->affinity) == 0 &&
                         matches_all(p->affinity, p->n_affinity, c->snap->namespaces, p))) {
        scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, REASON_AFFINITY);
        return st->code;
    }
    /* satisfyPodAntiAffinity */
    if (json_object_size(c->anti) > 0) {
        for (size_t i = 0; i < p->n_anti_affinity; i++) {
            const char *key = p->anti_affinity[i].topology_key;
            const char *value = json_string_value(json_object_get(n->labels, key));
            if (value != NULL && count_at(c->anti, key, value) > 0) {
                scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, REASON_ANTI);
                return st->code;
            }
        }
    }
    /* satisfyExistingPodsAntiAffinity */
    if (json_object_size(c->existing_anti) > 0) {
        const char *key;
        json_t *v;
        json_object_foreach (n->labels, key, v) {
            if (json_is_string(v) && count_at(c->existing_anti, key, json_string_value(v)) > 0) {
                scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, REASON_EXISTING_ANTI);
                return st->code;
            }
        }
    }
    return SCHEDULER__FIT;
}

static void score_terms(json_t *topo, const struct scheduler_affinity_term *terms, size_t n,
                        const json_t *ns_labels, const struct scheduler_pod *target,
                        const struct scheduler_node *node, int multiplier, int32_t fixed_weight)
{
    for (size_t i = 0; i < n; i++) {
        if (!scheduler__term_matches(&terms[i], ns_labels, target))
            continue;
        int32_t w = fixed_weight ? fixed_weight : terms[i].weight;
        bump(topo, node, terms[i].topology_key, (json_int_t)w * multiplier);
    }
}

void scheduler__interpod_score(struct scheduler__cycle *c,
                               struct scheduler_node_info *const *feasible, size_t n,
                               int64_t *scores)
{
    const struct scheduler_pod *p = c->pod;
    const struct scheduler_snapshot *s = c->snap;
    memset(scores, 0, n * sizeof(*scores));
    bool constraints = p->n_pref_affinity > 0 || p->n_pref_anti_affinity > 0;
    if (!constraints && s->n_affinity_pods == 0)
        return;
    json_t *topo = json_object();
    for (size_t j = 0; j < s->n_infos; j++) {
        const struct scheduler_node_info *ni = s->infos[j];
        if (ni->node == NULL || json_object_size(ni->node->labels) == 0)
            continue;
        if (!constraints && ni->n_affinity_pods == 0)
            continue;
        for (size_t k = 0; k < ni->n_pods; k++) {
            const struct scheduler_pod *e = ni->pods[k];
            if (!constraints && !has_affinity(e))
                continue;
            score_terms(topo, p->pref_affinity, p->n_pref_affinity, s->namespaces, e, ni->node, 1,
                        0);
            score_terms(topo, p->pref_anti_affinity, p->n_pref_anti_affinity, s->namespaces, e,
                        ni->node, -1, 0);
            score_terms(topo, e->affinity, e->n_affinity, s->namespaces, p, ni->node, 1,
                        HARD_POD_AFFINITY_WEIGHT);
            score_terms(topo, e->pref_affinity, e->n_pref_affinity, s->namespaces, p, ni->node, 1,
                        0);
            score_terms(topo, e->pref_anti_affinity, e->n_pref_anti_affinity, s->namespaces, p,
                        ni->node, -1, 0);
        }
    }
    if (json_object_size(topo) == 0) {
        json_decref(topo);
        return;
    }
    int64_t min = INT64_MAX, max = INT64_MIN;
    for (size_t j = 0; j < n; j++) {
        const char *key;
        json_t *v;
        json_object_foreach (feasible[j]->node->labels, key, v) {
            if (json_is_string(v))
                scores[j] += count_at(topo, key, json_string_value(v));
        }
        if (scores[j] < min)
            min = scores[j];
        if (scores[j] > max)
            max = scores[j];
    }
    for (size_t j = 0; j < n; j++)
        scores[j] =
            max > min ? (int64_t)(100.0 * ((double)(scores[j] - min) / (double)(max - min))) : 0;
    json_decref(topo);
}
