/* The filter plugins, in kube-scheduler's default order: NodeUnschedulable, NodeName,
 * TaintToleration, NodeAffinity (nodeSelector + required node affinity), NodePorts,
 * NodeResourcesFit, then PodTopologySpread and InterPodAffinity (spread.c, interpod.c).
 * Each failure carries Kubernetes' reason text and status code. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "scheduler/internal.h"

#define REASON_UNSCHEDULABLE "node(s) were unschedulable"
#define REASON_NODE_NAME "node(s) didn't match the requested node name"
#define REASON_NODE_AFFINITY "node(s) didn't match Pod's node affinity/selector"
#define REASON_PORTS "node(s) didn't have free ports for the requested pod ports"
#define REASON_INVALID_NODE "node(s) had invalid allocatable resources"
#define TAINT_UNSCHEDULABLE "node.kubernetes.io/unschedulable"

void scheduler__status_add(struct scheduler__status *st, enum scheduler__code code,
                           const char *reason)
{
    if (code > st->code)
        st->code = code;
    st->reasons = xrealloc(st->reasons, (st->n_reasons + 1) * sizeof(char *));
    st->reasons[st->n_reasons++] = xstrdup(reason);
}

void scheduler__status_clear(struct scheduler__status *st)
{
    for (size_t i = 0; i < st->n_reasons; i++)
        free(st->reasons[i]);
    free(st->reasons);
    memset(st, 0, sizeof(*st));
}

static bool filter_unschedulable(const struct scheduler_pod *p, const struct scheduler_node *n)
{
    if (!n->unschedulable)
        return true;
    struct scheduler_taint t = {TAINT_UNSCHEDULABLE, "", "NoSchedule"};
    return scheduler__tolerated(p->tolerations, p->n_tolerations, &t);
}

/* The first NoSchedule/NoExecute taint the pod does not tolerate, or NULL. */
static const struct scheduler_taint *untolerated_taint(const struct scheduler_pod *p,
                                                       const struct scheduler_node *n)
{
    for (size_t i = 0; i < n->n_taints; i++) {
        const struct scheduler_taint *t = &n->taints[i];
        if (strcmp(t->effect, "NoSchedule") != 0 && strcmp(t->effect, "NoExecute") != 0)
            continue;
        if (!scheduler__tolerated(p->tolerations, p->n_tolerations, t))
            return t;
    }
    return NULL;
}

bool scheduler__taints_tolerated(const struct scheduler_pod *p, const struct scheduler_node *n)
{
    return untolerated_taint(p, n) == NULL;
}

static bool removed(const struct scheduler__cycle *c, const struct scheduler_pod *p)
{
    for (size_t i = 0; i < c->n_removed; i++)
        if (c->removed[i] == p)
            return true;
    return false;
}

static bool ports_free(const struct scheduler__cycle *c, const struct scheduler_node_info *ni)
{
    const struct scheduler_pod *p = c->pod;
    for (size_t w = 0; w < p->n_ports; w++) {
        const struct scheduler_port *want = &p->ports[w];
        for (size_t i = 0; i < ni->n_pods; i++) {
            const struct scheduler_pod *e = ni->pods[i];
            if (e->n_ports == 0 || removed(c, e))
                continue;
            for (size_t k = 0; k < e->n_ports; k++) {
                const struct scheduler_port *have = &e->ports[k];
                if (have->port != want->port || strcmp(have->protocol, want->protocol) != 0)
                    continue;
                if (strcmp(have->ip, "0.0.0.0") == 0 || strcmp(want->ip, "0.0.0.0") == 0 ||
                    strcmp(have->ip, want->ip) == 0)
                    return false;
            }
        }
    }
    return true;
}

static void resources_fit_with(const struct scheduler__cycle *c,
                               const struct scheduler_resources *req,
                               const struct scheduler_resources *alloc,
                               const struct scheduler_resources *used,
                               const struct scheduler_resources *gone, int64_t pods,
                               struct scheduler__status *st);

/* want <= alloc - (used - gone), in 128 bits so that no input can overflow. */
static bool fits(int64_t want, int64_t alloc, int64_t used, int64_t gone)
{
    return (__int128)want <= (__int128)alloc - ((__int128)used - (__int128)gone);
}

/* NodeResourcesFit's fitsRequest: every insufficient resource is its own reason. */
static void resources_fit(const struct scheduler__cycle *c, const struct scheduler_node_info *ni,
                          struct scheduler__status *st)
{
    const struct scheduler_resources *req = &c->pod->req;
    const struct scheduler_resources *alloc = &ni->node->allocatable;
    const struct scheduler_resources *gone = &c->removed_req;
    int64_t pods = ni->n_pods - (int64_t)c->n_removed;
    /* Pods nominated here with at least our priority keep their room (the nominator). */
    struct scheduler_resources held = {0};
    const struct scheduler_resources *used = &ni->requested;
    for (size_t i = 0; i < ni->n_nominees; i++) {
        const struct scheduler_nominee *n = &ni->nominees[i];
        if (n->priority < c->pod->priority || strcmp(n->key, c->pod->key) == 0)
            continue;
        if (used != &held) {
            scheduler_resources_add(&held, &ni->requested, 1);
            used = &held;
        }
        scheduler_resources_add(&held, &n->req, 1);
        pods++;
    }
    resources_fit_with(c, req, alloc, used, gone, pods, st);
    scheduler_resources_clear(&held);
}

static void resources_fit_with(const struct scheduler__cycle *c,
                               const struct scheduler_resources *req,
                               const struct scheduler_resources *alloc,
                               const struct scheduler_resources *used,
                               const struct scheduler_resources *gone, int64_t pods,
                               struct scheduler__status *st)
{
    if ((__int128)pods + 1 > alloc->pods)
        scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, "Too many pods");
    bool any_scalar = false;
    for (size_t i = 0; i < req->n_scalar; i++)
        any_scalar |= req->scalar[i].value != 0;
    if (req->milli_cpu == 0 && req->memory == 0 && req->ephemeral == 0 && !any_scalar)
        return;
    if (req->milli_cpu > 0 &&
        !fits(req->milli_cpu, alloc->milli_cpu, used->milli_cpu, gone->milli_cpu))
        scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, "Insufficient cpu");
    if (req->memory > 0 && !fits(req->memory, alloc->memory, used->memory, gone->memory))
        scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, "Insufficient memory");
    if (req->ephemeral > 0 &&
        !fits(req->ephemeral, alloc->ephemeral, used->ephemeral, gone->ephemeral))
        scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, "Insufficient ephemeral-storage");
    for (size_t i = 0; i < req->n_scalar; i++) {
        const struct scheduler_scalar *r = &req->scalar[i];
        if (r->value == 0)
            continue;
        if (!fits(r->value, scheduler_resources_get(alloc, r->name),
                  scheduler_resources_get(used, r->name), scheduler_resources_get(gone, r->name))) {
            _cleanup_free_ char *msg = xasprintf("Insufficient %s", r->name);
            scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, msg);
        }
    }
}

enum scheduler__code scheduler__filter(struct scheduler__cycle *c,
                                       const struct scheduler_node_info *ni,
                                       struct scheduler__status *st)
{
    const struct scheduler_pod *p = c->pod;
    const struct scheduler_node *n = ni->node;
    K8C_ASSERT(n != NULL);
    if (n->invalid != NULL) {
        scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, REASON_INVALID_NODE);
        return st->code;
    }
    if (!filter_unschedulable(p, n)) {
        scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, REASON_UNSCHEDULABLE);
        return st->code;
    }
    if (p->node_name != NULL && strcmp(p->node_name, n->name) != 0) {
        scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, REASON_NODE_NAME);
        return st->code;
    }
    const struct scheduler_taint *t = untolerated_taint(p, n);
    if (t != NULL) {
        _cleanup_free_ char *msg =
            xasprintf("node(s) had untolerated taint {%s: %s}", t->key, t->value);
        scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, msg);
        return st->code;
    }
    if (!scheduler__node_affinity_match(p, n)) {
        scheduler__status_add(st, SCHEDULER__UNRESOLVABLE, REASON_NODE_AFFINITY);
        return st->code;
    }
    if (p->n_ports > 0 && !ports_free(c, ni)) {
        scheduler__status_add(st, SCHEDULER__UNSCHEDULABLE, REASON_PORTS);
        return st->code;
    }
    resources_fit(c, ni, st);
    if (st->code != SCHEDULER__FIT)
        return st->code;
    if (scheduler__spread_filter(c, n, st) != SCHEDULER__FIT)
        return st->code;
    return scheduler__interpod_filter(c, n, st);
}
