/* PodTopologySpread: the hard constraints (whenUnsatisfiable DoNotSchedule) as a filter, the
 * soft ones (ScheduleAnyway) as a score, with kube-scheduler's arithmetic: skew is
 * `matching pods in the node's domain + self match - global minimum`, domains are counted
 * over nodes that pass the pod's node inclusion policies and carry every topology key. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/selector.h"
#include "base/json.h"
#include "base/mem.h"
#include "scheduler/internal.h"

#define LABEL_HOSTNAME "kubernetes.io/hostname"
#define REASON_SKEW "node(s) didn't match pod topology spread constraints"
#define REASON_LABEL "node(s) didn't match pod topology spread constraints (missing required label)"

/* The map key of constraint i's domain value. Caller frees. */
static char *pair_key(size_t i, const char *value)
{
    return xasprintf("%zu\n%s", i, value);
}

bool scheduler__spread_counts_pod(const struct scheduler_spread *s, const char *ns,
                                  const struct scheduler_pod *p)
{
    if (s->selector == NULL || api_label_selector_empty(s->selector))
        return false; /* kube-scheduler's countPodsMatchSelector counts nothing then */
    if (p->terminating || strcmp(p->ns, ns) != 0)
        return false;
    return api_label_selector_match(s->selector, p->labels);
}

static const char *label(const struct scheduler_node *n, const char *key)
{
    return json_string_value(json_object_get(n->labels, key));
}

/* Whether the node carries every topology key of the pod's constraints (hard or soft). */
static bool has_all_keys(const struct scheduler_pod *p, const struct scheduler_node *n, bool hard)
{
    for (size_t i = 0; i < p->n_spread; i++)
        if (p->spread[i].hard == hard && label(n, p->spread[i].topology_key) == NULL)
            return false;
    return true;
}

/* nodeAffinityPolicy / nodeTaintsPolicy: whether the node takes part in the constraint. */
static bool included(const struct scheduler_pod *p, const struct scheduler_spread *s,
                     const struct scheduler_node *n)
{
    if (s->honor_affinity && !scheduler__node_affinity_match(p, n))
        return false;
    if (s->honor_taints && !scheduler__taints_tolerated(p, n))
        return false;
    return true;
}

static size_t count_on_node(const struct scheduler_spread *s, const char *ns,
                            const struct scheduler_node_info *ni)
{
    size_t count = 0;
    for (size_t k = 0; k < ni->n_pods; k++)
        count += scheduler__spread_counts_pod(s, ns, ni->pods[k]);
    return count;
}

static void add_count(json_t *map, const char *key, json_int_t delta)
{
    json_int_t v = json_integer_value(json_object_get(map, key));
    json_object_set_new(map, key, json_integer(v + delta));
}

struct api_label_selector *scheduler__default_spread_selector(const struct scheduler_snapshot *s,
                                                              const struct scheduler_pod *p)
{
    _cleanup_json_ json_t *labels = json_object();
    _cleanup_json_ json_t *exprs = json_array();
    const char *name;
    json_t *sel;
    json_object_foreach (json_object_get(s->services, p->ns), name, sel) {
        bool selects = true;
        const char *k;
        json_t *v;
        json_object_foreach (sel, k, v) {
            const char *have = json_string_value(json_object_get(p->labels, k));
            selects =
                selects && json_is_string(v) && have && strcmp(have, json_string_value(v)) == 0;
        }
        if (selects)
            json_object_update(labels, sel);
    }
    if (p->owner != NULL) {
        _cleanup_free_ char *key = xasprintf("%s/%s", p->ns, p->owner);
        const json_t *csel = json_object_get(s->controllers, key);
        const json_t *ml = json_object_get(csel, "matchLabels");
        if (json_is_object(ml))
            json_object_update(labels, (json_t *)ml);
        const json_t *me = json_object_get(csel, "matchExpressions");
        if (json_is_array(me))
            json_array_extend(exprs, (json_t *)me);
    }
    if (json_object_size(labels) == 0 && json_array_size(exprs) == 0)
        return NULL;
    _cleanup_json_ json_t *merged =
        json_pack("{s:O,s:O}", "matchLabels", labels, "matchExpressions", exprs);
    return api_label_selector_from_json(merged, NULL); /* NULL when malformed: no defaults */
}

void scheduler__spread_prefilter(struct scheduler__cycle *c)
{
    const struct scheduler_pod *p = c->pod;
    bool any_hard = false;
    for (size_t i = 0; i < p->n_spread; i++)
        any_hard |= p->spread[i].hard;
    if (!any_hard)
        return;
    c->spread_counts = json_object();
    const struct scheduler_snapshot *s = c->snap;
    for (size_t j = 0; j < s->n_infos; j++) {
        const struct scheduler_node_info *ni = s->infos[j];
        if (ni->node == NULL || !has_all_keys(p, ni->node, true))
            continue;
        for (size_t i = 0; i < p->n_spread; i++) {
            const struct scheduler_spread *sp = &p->spread[i];
            if (!sp->hard || !included(p, sp, ni->node))
                continue;
            _cleanup_free_ char *key = pair_key(i, label(ni->node, sp->topology_key));
            add_count(c->spread_counts, key, (json_int_t)count_on_node(sp, p->ns, ni));
        }
    }
}

void scheduler__spread_account(struct scheduler__cycle *c, const struct scheduler_pod *existing,
                               const struct scheduler_node *n, int delta)
{
    const struct scheduler_pod *p = c->pod;
    if (c->spread_counts == NULL || n == NULL || !has_all_keys(p, n, true))
        return;
    for (size_t i = 0; i < p->n_spread; i++) {
        const struct scheduler_spread *sp = &p->spread[i];
        if (!sp->hard || !included(p, sp, n) || !scheduler__spread_counts_pod(sp, p->ns, existing))
            continue;
        _cleanup_free_ char *key = pair_key(i, label(n, sp->topology_key));
        add_count(c->spread_counts, key, delta);
        c->spread_dirty = true;
    }
}

/* The global minimum and the number of domains of constraint i. */
static void domain_stats(const json_t *counts, size_t i, json_int_t *min, size_t *domains)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "%zu\n", i);
    *min = INT32_MAX;
    *domains = 0;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)counts, key, v) {
        if (strncmp(key, prefix, (size_t)plen) != 0)
            continue;
        (*domains)++;
        if (json_integer_value(v) < *min)
            *min = json_integer_value(v);
    }
}

enum scheduler__code scheduler__spread_filter(struct scheduler__cycle *c,
                                              const struct scheduler_node *n,
                                              struct scheduler__status *st)
{
    const struct scheduler_pod *p = c->pod;
    if (c->spread_counts == NULL)
        return SCHEDULER__FIT;
    for (size_t i = 0; i < p->n_spread; i++) {
        const struct scheduler_spread *sp = &p->spread[i];
        if (!sp->hard)
            continue;
        const char *value = label(n, sp->topology_key);
        if (value == NULL) {
            scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, REASON_LABEL);
            return st->code;
        }
        if (c->spread_min == NULL || c->spread_dirty) {
            free(c->spread_min);
            free(c->spread_domains);
            c->spread_min = xcalloc(p->n_spread, sizeof(*c->spread_min));
            c->spread_domains = xcalloc(p->n_spread, sizeof(*c->spread_domains));
            for (size_t k = 0; k < p->n_spread; k++)
                if (p->spread[k].hard)
                    domain_stats(c->spread_counts, k, &c->spread_min[k], &c->spread_domains[k]);
            c->spread_dirty = false;
        }
        json_int_t min = c->spread_min[i];
        if (sp->min_domains > 0 && c->spread_domains[i] < (size_t)sp->min_domains)
            min = 0;
        int self = sp->selector != NULL && api_label_selector_match(sp->selector, p->labels);
        _cleanup_free_ char *key = pair_key(i, value);
        json_int_t matching = json_integer_value(json_object_get(c->spread_counts, key));
        if (matching + self - min > sp->max_skew) {
            scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, REASON_SKEW);
            return st->code;
        }
    }
    return SCHEDULER__FIT;
}

/* Whether the node carries every topology key of the soft constraints. */
static bool soft_keys_present(const struct scheduler_spread *spread, size_t n_spread,
                              const struct scheduler_node *n)
{
    for (size_t i = 0; i < n_spread; i++)
        if (!spread[i].hard && label(n, spread[i].topology_key) == NULL)
            return false;
    return true;
}

/* PodTopologySpread's PreScore, Score and NormalizeScore over the soft constraints in
 * spread[]. With require_all (the pod's own constraints), nodes missing a topology key are
 * ignored; the system defaults do not require them. */
static void score_constraints(struct scheduler__cycle *c, const struct scheduler_spread *spread,
                              size_t n_spread, bool require_all,
                              struct scheduler_node_info *const *feasible, size_t n,
                              int64_t *scores)
{
    const struct scheduler_pod *p = c->pod;
    bool any_soft = false;
    for (size_t i = 0; i < n_spread; i++)
        any_soft |= !spread[i].hard;
    if (!any_soft || n == 0)
        return;
    bool *ignored = xcalloc(n, sizeof(bool));
    size_t *topo_size = xcalloc(n_spread, sizeof(size_t));
    double *weight = xcalloc(n_spread, sizeof(double));
    json_t *counts = json_object();
    size_t n_ignored = 0;
    for (size_t j = 0; j < n; j++) {
        const struct scheduler_node *node = feasible[j]->node;
        if (require_all && !soft_keys_present(spread, n_spread, node)) {
            ignored[j] = true;
            n_ignored++;
            continue;
        }
        for (size_t i = 0; i < n_spread; i++) {
            const struct scheduler_spread *sp = &spread[i];
            if (sp->hard || strcmp(sp->topology_key, LABEL_HOSTNAME) == 0)
                continue;
            const char *v = label(node, sp->topology_key);
            _cleanup_free_ char *key = pair_key(i, v ? v : "");
            if (json_object_get(counts, key) == NULL) {
                json_object_set_new(counts, key, json_integer(0));
                topo_size[i]++;
            }
        }
    }
    for (size_t i = 0; i < n_spread; i++) {
        size_t sz = topo_size[i];
        if (strcmp(spread[i].topology_key, LABEL_HOSTNAME) == 0)
            sz = n - n_ignored;
        weight[i] = log((double)(sz + 2));
    }
    const struct scheduler_snapshot *s = c->snap;
    for (size_t j = 0; j < s->n_infos; j++) {
        const struct scheduler_node_info *ni = s->infos[j];
        if (ni->node == NULL || ni->n_pods == 0 ||
            (require_all && !soft_keys_present(spread, n_spread, ni->node)))
            continue;
        for (size_t i = 0; i < n_spread; i++) {
            const struct scheduler_spread *sp = &spread[i];
            if (sp->hard || !included(p, sp, ni->node))
                continue;
            const char *v = label(ni->node, sp->topology_key);
            _cleanup_free_ char *key = pair_key(i, v ? v : "");
            if (json_object_get(counts, key) != NULL)
                add_count(counts, key, (json_int_t)count_on_node(sp, p->ns, ni));
        }
    }
    int64_t min = INT64_MAX, max = 0;
    for (size_t j = 0; j < n; j++) {
        if (ignored[j])
            continue;
        double score = 0;
        const struct scheduler_node *node = feasible[j]->node;
        for (size_t i = 0; i < n_spread; i++) {
            const struct scheduler_spread *sp = &spread[i];
            const char *value = label(node, sp->topology_key);
            if (sp->hard || value == NULL)
                continue;
            int64_t cnt;
            if (strcmp(sp->topology_key, LABEL_HOSTNAME) == 0) {
                cnt = (int64_t)count_on_node(sp, p->ns, feasible[j]);
            } else {
                _cleanup_free_ char *key = pair_key(i, value);
                cnt = json_integer_value(json_object_get(counts, key));
            }
            score += (double)cnt * weight[i] + (double)(sp->max_skew - 1);
        }
        scores[j] = (int64_t)llround(score);
        if (scores[j] < min)
            min = scores[j];
        if (scores[j] > max)
            max = scores[j];
    }
    for (size_t j = 0; j < n; j++) {
        if (ignored[j])
            scores[j] = 0;
        else if (max == 0)
            scores[j] = 100;
        else
            scores[j] = 100 * (max + min - scores[j]) / max;
    }
    json_decref(counts);
    free(weight);
    free(topo_size);
    free(ignored);
}

void scheduler__spread_score(struct scheduler__cycle *c,
                             struct scheduler_node_info *const *feasible, size_t n, int64_t *scores)
{
    const struct scheduler_pod *p = c->pod;
    memset(scores, 0, n * sizeof(*scores));
    if (p->n_spread > 0) {
        score_constraints(c, p->spread, p->n_spread, true, feasible, n, scores);
        return;
    }
    /* No constraints of its own: kube-scheduler's system defaults (maxSkew 3 per node, 5 per
     * zone, ScheduleAnyway) over the pods of the same Services and controller. */
    struct api_label_selector *sel = scheduler__default_spread_selector(c->snap, p);
    if (sel == NULL)
        return;
    struct scheduler_spread defaults[2] = {
        {.max_skew = 3, .topology_key = LABEL_HOSTNAME, .selector = sel, .honor_affinity = true},
        {.max_skew = 5,
         .topology_key = "topology.kubernetes.io/zone",
         .selector = sel,
         .honor_affinity = true},
    };
    score_constraints(c, defaults, 2, false, feasible, n, scores);
    api_label_selector_free(sel);
}
