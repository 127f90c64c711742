/* The scheduling algorithm (see algorithm.h): sampling, filtering, scoring, host selection,
 * the FitError message and DefaultPreemption's dry run. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "scheduler/algorithm.h"
#include "scheduler/internal.h"

#define MIN_FEASIBLE_NODES 100
#define MIN_FEASIBLE_PERCENTAGE 5
#define NO_VICTIMS "No preemption victims found for incoming pod"
#define NOT_HELPFUL "Preemption is not helpful for scheduling"

size_t scheduler_nodes_to_find(size_t n_nodes, int percentage)
{
    if (n_nodes < MIN_FEASIBLE_NODES)
        return n_nodes;
    long pct = percentage;
    if (pct <= 0) {
        pct = 50 - (long)(n_nodes / 125);
        if (pct < MIN_FEASIBLE_PERCENTAGE)
            pct = MIN_FEASIBLE_PERCENTAGE;
    }
    size_t n = n_nodes * (size_t)pct / 100;
    return n < MIN_FEASIBLE_NODES ? MIN_FEASIBLE_NODES : n;
}

void scheduler__cycle_init(struct scheduler__cycle *c, const struct scheduler_snapshot *snap,
                           const struct scheduler_pod *pod)
{
    memset(c, 0, sizeof(*c));
    c->pod = pod;
    c->snap = snap;
    scheduler__spread_prefilter(c);
    scheduler__interpod_prefilter(c);
}

void scheduler__cycle_clear(struct scheduler__cycle *c)
{
    json_decref(c->existing_anti);
    json_decref(c->affinity);
    json_decref(c->anti);
    json_decref(c->spread_counts);
    free(c->spread_min);
    free(c->spread_domains);
    scheduler_resources_clear(&c->removed_req);
    memset(c, 0, sizeof(*c));
}

void scheduler_decision_clear(struct scheduler_decision *d)
{
    free(d->node);
    free(d->message);
    free(d->nominated_node);
    for (size_t i = 0; i < d->n_victims; i++)
        free(d->victims[i]);
    free(d->victims);
    memset(d, 0, sizeof(*d));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FitError.Error(): "0/N nodes are available: <count reason>, … ." with the reasons sorted
 * as strings, as sortReasonsHistogram does. */
static void fit_message(struct buf *out, size_t n_nodes, const struct scheduler__status *st,
                        size_t n)
{
    json_t *hist = json_object();
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < st[i].n_reasons; k++) {
            json_int_t v = json_integer_value(json_object_get(hist, st[i].reasons[k]));
            json_object_set_new(hist, st[i].reasons[k], json_integer(v + 1));
        }
    }
    size_t nr = json_object_size(hist), i = 0;
    char **lines = xcalloc(nr ? nr : 1, sizeof(char *));
    const char *reason;
    json_t *v;
    json_object_foreach (hist, reason, v) {
        lines[i++] = xasprintf("%lld %s", (long long)json_integer_value(v), reason);
    }
    qsort(lines, nr, sizeof(char *), cmp_str);
    buf_appendf(out, "0/%zu nodes are available:", n_nodes);
    if (nr > 0) {
        buf_append_char(out, ' ');
        for (i = 0; i < nr; i++)
            buf_appendf(out, "%s%s", i ? ", " : "", lines[i]);
        buf_append_char(out, '.');
    }
    for (i = 0; i < nr; i++)
        free(lines[i]);
    free(lines);
    json_decref(hist);
}

/* Marks pod v on node ni as removed (delta -1) or restores it (+1) in the cycle state. */
static void simulate(struct scheduler__cycle *c, const struct scheduler_node_info *ni,
                     struct scheduler_pod *v, int delta)
{
    scheduler_resources_add(&c->removed_req, &v->req, -delta);
    scheduler__spread_account(c, v, ni->node, delta);
    scheduler__interpod_account(c, v, ni->node, delta);
}

/* Higher priority first, then the older pod (MoreImportantPod). */
static int cmp_importance(const void *a, const void *b)
{
    const struct scheduler_pod *x = *(struct scheduler_pod *const *)a;
    const struct scheduler_pod *y = *(struct scheduler_pod *const *)b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return (x->created > y->created) - (x->created < y->created);
}

struct candidate {
    struct scheduler_node_info *ni;
    struct scheduler_pod **victims;
    size_t n_victims;
};

/* selectVictimsOnNode: remove every lower-priority pod; if the pod then fits, add back as
 * many as possible, most important first. Returns a candidate (victims set) or fills st. */
static bool select_victims(struct scheduler__cycle *c, struct scheduler_node_info *ni,
                           struct candidate *out, struct scheduler__status *st)
{
    const struct scheduler_pod *p = c->pod;
    struct scheduler_pod **lower = xcalloc(ni->n_pods ? ni->n_pods : 1, sizeof(*lower));
    size_t n = 0;
    for (size_t i = 0; i < ni->n_pods; i++)
        if (ni->pods[i]->priority < p->priority)
            lower[n++] = ni->pods[i];
    if (n == 0) {
        free(lower);
        scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, NO_VICTIMS);
        return false;
    }
    qsort(lower, n, sizeof(*lower), cmp_importance);
    /* removed[] holds the pods currently treated as gone; it starts with all of them. */
    struct scheduler_pod **removed = xcalloc(n, sizeof(*removed));
    memcpy(removed, lower, n * sizeof(*removed));
    size_t n_removed = n;
    for (size_t i = 0; i < n; i++)
        simulate(c, ni, lower[i], -1);
    c->removed = removed;
    c->n_removed = n_removed;
    bool fits = scheduler__filter(c, ni, st) == SCHEDULER__FIT;
    struct scheduler_pod **victims = xcalloc(n, sizeof(*victims));
    size_t n_victims = 0;
    if (fits) {
        for (size_t i = 0; i < n; i++) {
            /* Try to keep lower[i]: take it out of removed[]. */
            size_t at = 0;
            while (removed[at] != lower[i])
                at++;
            removed[at] = removed[--n_removed];
            c->n_removed = n_removed;
            simulate(c, ni, lower[i], 1);
            struct scheduler__status trial = {0};
            bool still = scheduler__filter(c, ni, &trial) == SCHEDULER__FIT;
            scheduler__status_clear(&trial);
            if (!still) {
                removed[n_removed++] = lower[i];
                c->n_removed = n_removed;
                simulate(c, ni, lower[i], -1);
                victims[n_victims++] = lower[i];
            }
        }
    }
    /* Restore the cycle state. */
    for (size_t i = 0; i < n_removed; i++)
        simulate(c, ni, removed[i], 1);
    c->removed = NULL;
    c->n_removed = 0;
    free(removed);
    free(lower);
    if (!fits) {
        free(victims);
        return false;
    }
    *out = (struct candidate){ni, victims, n_victims};
    return true;
}

/* pickOneNodeForPreemption without PodDisruptionBudgets: the lowest highest-victim priority,
 * then the lowest sum of priorities, then the fewest victims, then the latest start of the
 * most important victim. */
static bool better(const struct candidate *a, const struct candidate *b)
{
    int32_t ha = a->n_victims ? a->victims[0]->priority : INT32_MIN;
    int32_t hb = b->n_victims ? b->victims[0]->priority : INT32_MIN;
    if (ha != hb)
        return ha < hb;
    int64_t sa = 0, sb = 0;
    for (size_t i = 0; i < a->n_victims; i++)
        sa += (int64_t)a->victims[i]->priority + INT32_MAX + 1;
    for (size_t i = 0; i < b->n_victims; i++)
        sb += (int64_t)b->victims[i]->priority + INT32_MAX + 1;
    if (sa != sb)
        return sa < sb;
    if (a->n_victims != b->n_victims)
        return a->n_victims < b->n_victims;
    time_t ta = a->n_victims ? a->victims[0]->created : 0;
    time_t tb = b->n_victims ? b->victims[0]->created : 0;
    return ta > tb;
}

/* DefaultPreemption's PostFilter. Returns the message part after "preemption: " ("" when a
 * candidate was found and put into out). */
static char *preempt(struct scheduler__cycle *c, struct scheduler__status *statuses,
                     struct scheduler_node_info **nodes, size_t n, struct scheduler_decision *out)
{
    const struct scheduler_pod *p = c->pod;
    if (p->preempt_never)
        return xstrdup("not eligible due to preemptionPolicy=Never.");
    if (p->nominated_node != NULL) {
        const struct scheduler_node_info *ni = scheduler_snapshot_info(c->snap, p->nominated_node);
        for (size_t i = 0; ni != NULL && i < ni->n_pods; i++)
            if (ni->pods[i]->terminating && ni->pods[i]->priority < p->priority)
                return xstrdup("not eligible due to a terminating pod on the nominated node.");
    }
    struct scheduler__status *dry = xcalloc(n ? n : 1, sizeof(*dry));
    struct candidate best = {0};
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (statuses[i].code == SCHEDULER__UNRESOLVABLE) {
            scheduler__status_add(&dry[i], SCHEDULER__UNRESOLVABLE, NOT_HELPFUL);
            continue;
        }
        struct candidate cand;
        if (!select_victims(c, nodes[i], &cand, &dry[i]))
            continue;
        if (!found || better(&cand, &best)) {
            free(best.victims);
            best = cand;
            found = true;
        } else {
            free(cand.victims);
        }
    }
    char *msg;
    if (found) {
        out->nominated_node = xstrdup(best.ni->name);
        out->victims = xcalloc(best.n_victims ? best.n_victims : 1, sizeof(char *));
        for (size_t i = 0; i < best.n_victims; i++)
            out->victims[out->n_victims++] = xstrdup(best.victims[i]->key);
        free(best.victims);
        msg = xstrdup("");
    } else {
        struct buf b = BUF_INIT;
        fit_message(&b, n, dry, n);
        msg = buf_steal(&b);
    }
    for (size_t i = 0; i < n; i++)
        scheduler__status_clear(&dry[i]);
    free(dry);
    return msg;
}

/* Picks the best total; equal totals are chosen between uniformly (reservoir sampling). */
static size_t select_host(struct scheduler_algorithm *a, const int64_t *totals, size_t n)
{
    size_t best = 0, ties = 1;
    for (size_t i = 1; i < n; i++) {
        if (totals[i] > totals[best]) {
            best = i;
            ties = 1;
        } else if (totals[i] == totals[best]) {
            ties++;
            if ((size_t)rand_r(&a->seed) % ties == 0)
                best = i;
        }
    }
    return best;
}

static void failed(struct scheduler__cycle *c, struct scheduler__status *statuses,
                   struct scheduler_node_info **failed_nodes, size_t n_failed,
                   struct scheduler_decision *out)
{
    struct buf msg = BUF_INIT;
    fit_message(&msg, c->snap->n_nodes, statuses, n_failed);
    _cleanup_free_ char *post = preempt(c, statuses, failed_nodes, n_failed, out);
    if (*post)
        buf_appendf(&msg, " preemption: %s", post);
    out->message = buf_steal(&msg);
}

void scheduler_schedule(struct scheduler_algorithm *a, const struct scheduler_snapshot *s,
                        const struct scheduler_pod *p, struct scheduler_decision *out)
{
    memset(out, 0, sizeof(*out));
    if (s->n_nodes == 0) {
        out->message = xstrdup("no nodes available to schedule pods");
        return;
    }
    struct scheduler__cycle c;
    scheduler__cycle_init(&c, s, p);

    /* A nominated node (after preemption) is tried first and taken if it fits. */
    if (p->nominated_node != NULL) {
        struct scheduler_node_info *ni = scheduler_snapshot_info(s, p->nominated_node);
        if (ni != NULL && ni->node != NULL) {
            struct scheduler__status st = {0};
            bool fit = scheduler__filter(&c, ni, &st) == SCHEDULER__FIT;
            scheduler__status_clear(&st);
            if (fit) {
                out->node = xstrdup(ni->name);
                out->evaluated = out->feasible = 1;
                scheduler__cycle_clear(&c);
                return;
            }
        }
    }

    size_t to_find = scheduler_nodes_to_find(s->n_nodes, a->percentage);
    struct scheduler_node_info **feasible = xcalloc(to_find ? to_find : 1, sizeof(*feasible));
    struct scheduler_node_info **failed_nodes = NULL;
    struct scheduler__status *statuses = NULL;
    size_t n_feasible = 0, n_failed = 0, cap_failed = 0, processed = 0;
    size_t start = s->n_infos ? a->next_start % s->n_infos : 0;
    for (size_t i = 0; i < s->n_infos && n_feasible < to_find; i++) {
        struct scheduler_node_info *ni = s->infos[(start + i) % s->n_infos];
        processed++;
        if (ni->node == NULL)
            continue;
        struct scheduler__status st = {0};
        if (scheduler__filter(&c, ni, &st) == SCHEDULER__FIT) {
            feasible[n_feasible++] = ni;
            continue;
        }
        if (n_failed == cap_failed) {
            cap_failed = cap_failed ? cap_failed * 2 : 16;
            statuses = xrealloc(statuses, cap_failed * sizeof(*statuses));
            failed_nodes = xrealloc(failed_nodes, cap_failed * sizeof(*failed_nodes));
        }
        statuses[n_failed] = st;
        failed_nodes[n_failed++] = ni;
    }
    a->next_start = s->n_infos ? (start + processed) % s->n_infos : 0;
    out->evaluated = n_feasible + n_failed;
    out->feasible = n_feasible;

    if (n_feasible == 0) {
        failed(&c, statuses, failed_nodes, n_failed, out);
    } else if (n_feasible == 1) {
        out->node = xstrdup(feasible[0]->name);
    } else {
        int64_t *totals = xcalloc(n_feasible, sizeof(int64_t));
        scheduler__score(&c, feasible, n_feasible, totals);
        out->node = xstrdup(feasible[select_host(a, totals, n_feasible)]->name);
        free(totals);
    }
    for (size_t i = 0; i < n_failed; i++)
        scheduler__status_clear(&statuses[i]);
    free(statuses);
    free(failed_nodes);
    free(feasible);
    scheduler__cycle_clear(&c);
}
