/* Functions shared inside src/scheduler (not part of its public surface). */
#ifndef K8C_SCHEDULER_INTERNAL_H
#define K8C_SCHEDULER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/err.h"
#include "client/client.h"
#include "scheduler/snapshot.h"
#include "scheduler/view.h"

/* Sets resource name in r to v (cpu in millicores). */
void scheduler__resources_set(struct scheduler_resources *r, const char *name, int64_t v);

/* Whether node labels/name satisfy one node selector term. */
bool scheduler__node_term_match(const struct scheduler_node_term *t, const char *node_name,
                                const json_t *labels);
/* spec.nodeSelector and required node affinity (NodeAffinity's filter). */
bool scheduler__node_affinity_match(const struct scheduler_pod *p, const struct scheduler_node *n);
/* Whether a pod (anti-)affinity term selects pod `other` (namespace and label selector);
 * ns_labels maps namespace names to their labels (for namespaceSelector; may be NULL). */
bool scheduler__term_matches(const struct scheduler_affinity_term *t, const json_t *ns_labels,
                             const struct scheduler_pod *other);
/* Whether the taint is tolerated by any of the tolerations. */
bool scheduler__tolerated(const struct scheduler_toleration *tols, size_t n,
                          const struct scheduler_taint *taint);

/* A filter's verdict on one node, as kube-scheduler's framework.Status: the code (success,
 * Unschedulable where preemption may help, UnschedulableAndUnresolvable where it cannot)
 * and the reasons that go into FailedScheduling's histogram. */
enum scheduler__code {
    SCHEDULER__FIT = 0,
    SCHEDULER__UNSCHEDULABLE = 1,
    SCHEDULER__UNRESOLVABLE = 2,
};

struct scheduler__status {
    enum scheduler__code code;
    char **reasons; /* owned strings */
    size_t n_reasons;
};

void scheduler__status_add(struct scheduler__status *st, enum scheduler__code code,
                           const char *reason);
void scheduler__status_clear(struct scheduler__status *st);

/* One scheduling cycle of one pod: the pre-computed state its filters and scores read (as
 * kube-scheduler's CycleState), plus the pods a preemption dry run pretends are gone. */
struct scheduler__cycle {
    const struct scheduler_pod *pod;
    const struct scheduler_snapshot *snap;

    /* InterPodAffinity: "key\nvalue" -> count (json objects), NULL when not needed. */
    json_t *existing_anti; /* domains where an existing pod's anti-affinity selects pod */
    json_t *affinity;      /* domains holding pods that match all of pod's affinity terms */
    json_t *anti;          /* domains holding pods matching one of pod's anti terms */
    /* PodTopologySpread (hard constraints): "key\nvalue" -> matching pods; NULL if none. */
    json_t *spread_counts;
    json_int_t *spread_min; /* per constraint: the global minimum (cached) */
    size_t *spread_domains; /* per constraint: the number of domains (cached) */
    bool spread_dirty;      /* counts changed since the cache was filled */

    /* Preemption dry run: pods on the examined node treated as deleted. */
    struct scheduler_pod *const *removed;
    size_t n_removed;
    struct scheduler_resources removed_req;
};

void scheduler__cycle_init(struct scheduler__cycle *c, const struct scheduler_snapshot *snap,
                           const struct scheduler_pod *pod);
void scheduler__cycle_clear(struct scheduler__cycle *c);
/* Runs every filter on one node in kube-scheduler's order, stopping at the first failure.
 * Returns the status code (st gets the reasons). */
enum scheduler__code scheduler__filter(struct scheduler__cycle *c,
                                       const struct scheduler_node_info *ni,
                                       struct scheduler__status *st);

/* Inter-pod affinity (interpod.c). */
void scheduler__interpod_prefilter(struct scheduler__cycle *c);
/* Adds (delta 1) or removes (-1) an existing pod on node n from the affinity counts. */
void scheduler__interpod_account(struct scheduler__cycle *c, const struct scheduler_pod *existing,
                                 const struct scheduler_node *n, int delta);
enum scheduler__code scheduler__interpod_filter(struct scheduler__cycle *c,
                                                const struct scheduler_node *n,
                                                struct scheduler__status *st);
/* Raw scores of the feasible nodes into scores[] (then normalized min-max to 0..100). */
void scheduler__interpod_score(struct scheduler__cycle *c,
                               struct scheduler_node_info *const *feasible, size_t n,
                               int64_t *scores);

/* Topology spread (spread.c). */
void scheduler__spread_prefilter(struct scheduler__cycle *c);
void scheduler__spread_account(struct scheduler__cycle *c, const struct scheduler_pod *existing,
                               const struct scheduler_node *n, int delta);
enum scheduler__code scheduler__spread_filter(struct scheduler__cycle *c,
                                              const struct scheduler_node *n,
                                              struct scheduler__status *st);
/* Normalized scores (0..100) of the feasible nodes for the soft constraints. */
void scheduler__spread_score(struct scheduler__cycle *c,
                             struct scheduler_node_info *const *feasible, size_t n,
                             int64_t *scores);

/* The selector of the system-default spread constraints for p (DefaultSelector: the
 * selectors of the Services selecting it and of its controller), or NULL when there is
 * none. Caller frees. */
struct api_label_selector *scheduler__default_spread_selector(const struct scheduler_snapshot *s,
                                                              const struct scheduler_pod *p);

/* Whether pod p counts for a spread constraint of the scheduled pod (same namespace, not
 * terminating, selected). */
bool scheduler__spread_counts_pod(const struct scheduler_spread *s, const char *ns,
                                  const struct scheduler_pod *p);
/* Whether n passes the pod's NoSchedule/NoExecute taints check (TaintToleration filter). */
bool scheduler__taints_tolerated(const struct scheduler_pod *p, const struct scheduler_node *n);

/* kube-scheduler's weighted sum of every score plugin for the feasible nodes: totals[]. */
void scheduler__score(struct scheduler__cycle *c, struct scheduler_node_info *const *feasible,
                      size_t n, int64_t *totals);

/* ---- writes to the API (writes.c) ---- */

/* The object an Event is about, and who reports it. */
struct scheduler__event_ref {
    const char *ns, *name, *uid, *resource_version;
    const char *component; /* "default-scheduler" */
};

/* POSTs a Binding of pod ns/name (uid may be NULL) to node. Returns 0 or -1 with *err (the
 * server's reason: NOT_FOUND, CONFLICT when already bound, …). */
int scheduler__bind(struct client *c, const char *ns, const char *name, const char *uid,
                    const char *node, struct k8c_err **err);

/* Posts a core/v1 Event about ref (type "Normal"/"Warning"). Best effort: failures are
 * logged at debug level. */
void scheduler__event(struct client *c, const struct scheduler__event_ref *ref, const char *type,
                      const char *reason, const char *action, const char *message);

/* Sets PodScheduled=False/Unschedulable with message (and nominatedNodeName, NULL to clear)
 * through the status subresource, unless pod already says so. Returns 0 or -1 with *err. */
int scheduler__mark_unschedulable(struct client *c, const json_t *pod, const char *message,
                                  const char *nominated, struct k8c_err **err);

/* Deletes pod ns/name (with a uid precondition when uid is set); a pod already gone is
 * success. Returns 0 or -1 with *err. */
int scheduler__delete_pod(struct client *c, const char *ns, const char *name, const char *uid,
                          struct k8c_err **err);

/* ---- command-line helpers (cli.c) ---- */

/* Makes SIGINT and SIGTERM set the returned flag (and ignores SIGPIPE). */
const atomic_bool *scheduler__stop_on_signals(void);
/* Prints "k8c: <cmd>: <message> (see 'k8c <cmd> --help')" and returns 2. */
int scheduler__usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Matches argv[*i] against "--name VALUE" or "--name=VALUE": 1 and *value set (advancing *i
 * past a separate value), 0 when it is another argument, -1 when the value is missing. */
int scheduler__flag(int argc, char **argv, int *i, const char *name, const char **value);
/* A decimal in [0, max]: 0 and *out, or -1. */
int scheduler__parse_uint(const char *s, long max, long *out);
/* A client from a kubeconfig, or NULL after printing why (as "k8c: <cmd>: …"). */
/* server (several URLs separated by commas) replaces the kubeconfig's when not NULL. */
struct client *scheduler__client_from(const char *cmd, const char *kubeconfig, const char *server);

#endif
