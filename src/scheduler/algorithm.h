/* One scheduling decision for one pod against the snapshot, as kube-scheduler's
 * schedulePod + DefaultPreemption: filter the nodes (a sample of them on big clusters),
 * score the feasible ones, pick the best (ties broken at random); when none fits, the
 * FailedScheduling message in Kubernetes' exact form and, where evicting lower-priority pods
 * would make room, the node to nominate and the victims. Pure: no I/O. */
#ifndef K8C_SCHEDULER_ALGORITHM_H
#define K8C_SCHEDULER_ALGORITHM_H

#include <stddef.h>

#include "scheduler/snapshot.h"
#include "scheduler/view.h"

struct scheduler_algorithm {
    size_t next_start; /* where the next search starts (round robin over nodes) */
    unsigned seed;     /* for breaking ties between equal scores */
    int percentage;    /* percentageOfNodesToScore; 0 selects the adaptive default */
};

struct scheduler_decision {
    char *node;           /* the chosen node, or NULL */
    char *message;        /* why no node fits (FailedScheduling), when node is NULL */
    char *nominated_node; /* preemption: the node to nominate for the pod, or NULL */
    char **victims;       /* preemption: keys ("ns/name") of the pods to delete */
    size_t n_victims;
    size_t evaluated; /* nodes whose filters ran */
    size_t feasible;  /* nodes that passed them */
};

/* kube-scheduler's numFeasibleNodesToFind: every node below 100; else a percentage that
 * falls from 50% (100 nodes) by 1 point per 125 nodes to 5% (at about 5,000), but never
 * fewer than 100 nodes. percentage > 0 overrides the adaptive value. */
size_t scheduler_nodes_to_find(size_t n_nodes, int percentage);

/* Decides where pod p goes. Fills *out (clear with scheduler_decision_clear). */
void scheduler_schedule(struct scheduler_algorithm *a, const struct scheduler_snapshot *s,
                        const struct scheduler_pod *p, struct scheduler_decision *out);
void scheduler_decision_clear(struct scheduler_decision *d);

#endif
