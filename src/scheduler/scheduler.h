/* The scheduler as a component: watches nodes and pods through informers, keeps the
 * incremental snapshot and the scheduling queue, places each pending pod whose schedulerName
 * is ours (default-scheduler, or unset) and binds it through pods/<name>/binding, posting the
 * Events and PodScheduled condition Kubernetes users expect. It talks to the API only, so it
 * runs standalone (`k8c scheduler`) or embedded in `k8c server`.
 *
 * Also here: `k8c hollow`, simulated nodes for tests and benchmarks (hollow.c). */
#ifndef K8C_SCHEDULER_SCHEDULER_H
#define K8C_SCHEDULER_SCHEDULER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "client/client.h"

#define SCHEDULER_DEFAULT_NAME "default-scheduler"

struct scheduler_options {
    const char *scheduler_name;       /* the spec.schedulerName served (NULL: default-scheduler) */
    int percentage_of_nodes_to_score; /* 0: kube-scheduler's adaptive percentage */
    unsigned binders;                 /* threads that bind (0: 8) */
    bool no_scheduled_events;         /* skip the Normal "Scheduled" events (benchmarks) */
    /* Act only while holding the Lease kube-system/k8c-scheduler (kube-scheduler's
     * --leader-elect), so several schedulers on one cluster never both bind. Off by default
     * for embedders that run exactly one; `k8c scheduler` and `k8c server` turn it on. */
    bool leader_elect;
    const char *identity;            /* Lease holder (NULL: hostname_<random>) */
    unsigned lease_duration_seconds; /* 0: 15 */
    unsigned renew_deadline_seconds; /* 0: 10 */
    unsigned retry_period_ms;        /* 0: 2000 */
};

/* What a running scheduler has done (for logs, tests and benchmarks). */
struct scheduler_stats {
    uint64_t attempts;      /* scheduling cycles */
    uint64_t bound;         /* successful bindings */
    uint64_t unschedulable; /* cycles that found no node */
    uint64_t bind_errors;
    uint64_t preemptions; /* victims deleted */
};

/* Runs the scheduler against the API server behind c (borrowed) until *stop becomes true;
 * opts may be NULL for the defaults. Blocks the calling thread; starts its informers and
 * binder threads and stops them before returning. Returns 0 after a stop, or -1 with *err
 * when it cannot start. If stats is non-NULL it is updated as the scheduler works (read it
 * with atomic loads of its fields only after scheduler_run returns, or as a rough gauge). */
int scheduler_run(struct client *c, const struct scheduler_options *opts, const atomic_bool *stop,
                  struct scheduler_stats *stats, struct k8c_err **err);

/* `k8c scheduler --kubeconfig FILE [-v N] [--percentage-of-nodes-to-score N]`: returns the
 * process exit code (2 for usage errors, 1 for failures). */
int scheduler_cli_main(int argc, char **argv);

/* `k8c hollow --nodes N --kubeconfig FILE [--name-prefix P] [--cpu Q] [--memory Q]
 * [--pods N] [--zones a,b,c]`: N simulated nodes in one process. Returns the exit code. */
int scheduler_hollow_main(int argc, char **argv);

#endif
