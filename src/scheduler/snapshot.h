/* The scheduler's incremental snapshot of the cluster: every node with its allocatable, the
 * sums of what the pods bound to it request, and those pods (for ports, affinity and spread).
 * Updated one event at a time (a pod bound or deleted, a node added, changed or removed), so
 * scheduling a pod never rescans the cluster to learn what is free.
 *
 * Not thread-safe: the scheduler serializes access with its own lock. */
#ifndef K8C_SCHEDULER_SNAPSHOT_H
#define K8C_SCHEDULER_SNAPSHOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scheduler/view.h"

/* A pending pod nominated to a node by preemption: its requests are held for it there against
 * pods of lower priority, so the room its victims free is not taken by others. */
struct scheduler_nominee {
    char *key;
    int32_t priority;
    struct scheduler_resources req;
};

struct scheduler_node_info {
    /* NULL while pods are bound to a node the snapshot has not seen (or that was deleted):
     * such entries keep their pods' accounting but are never candidates. */
    struct scheduler_node *node;
    char *name;
    struct scheduler_resources requested; /* sums of the pods' requests; .pods counts pods */
    int64_t nonzero_cpu, nonzero_memory;  /* the same with scoring defaults */
    struct scheduler_pod **pods;          /* borrowed from the snapshot's pod table */
    size_t n_pods, cap_pods;
    size_t n_affinity_pods; /* pods carrying any pod (anti-)affinity term */
    struct scheduler_nominee *nominees;
    size_t n_nominees;
};

struct scheduler_snapshot {
    struct scheduler_node_info **infos; /* known nodes and ghosts, in insertion order */
    size_t n_infos, cap_infos;
    size_t n_nodes;         /* infos with a node */
    json_t *info_index;     /* node name -> index in infos */
    json_t *pod_index;      /* "ns/name" -> struct scheduler_pod * (as an integer) */
    json_t *image_nodes;    /* normalized image name -> number of nodes holding it */
    json_t *nominations;    /* "ns/name" -> nominated node name */
    json_t *namespaces;     /* namespace name -> its labels (for namespaceSelector) */
    json_t *services;       /* namespace -> {service name -> spec.selector} */
    json_t *controllers;    /* "ns/Kind/name" -> its LabelSelector (ReplicaSet, StatefulSet,
                               ReplicationController), for the default spread */
    size_t n_anti_pods;     /* bound pods with required anti-affinity terms */
    size_t n_affinity_pods; /* bound pods with any affinity term */
};

struct scheduler_snapshot *scheduler_snapshot_new(void);
void scheduler_snapshot_free(struct scheduler_snapshot *s);

/* Adds or replaces a node (takes ownership of n). */
void scheduler_snapshot_node_set_take(struct scheduler_snapshot *s, struct scheduler_node *n);
/* Forgets a node; its pods stay accounted until they are removed. */
void scheduler_snapshot_node_remove(struct scheduler_snapshot *s, const char *name);

/* Accounts a pod bound to p->node_name (takes ownership of p; a pod without a node name is
 * freed and ignored). A pod with the same key is replaced. */
void scheduler_snapshot_pod_set_take(struct scheduler_snapshot *s, struct scheduler_pod *p);
/* Stops accounting the pod "ns/name"; returns whether it was there. */
bool scheduler_snapshot_pod_remove(struct scheduler_snapshot *s, const char *key);
/* The bound pod "ns/name" (borrowed), or NULL. */
const struct scheduler_pod *scheduler_snapshot_pod_get(const struct scheduler_snapshot *s,
                                                       const char *key);

/* Records the labels of namespace name (a reference is taken; NULL forgets the
 * namespace). */
void scheduler_snapshot_namespace_set(struct scheduler_snapshot *s, const char *name,
                                      json_t *labels);

/* Records (selector non-NULL; a reference is taken) or forgets the selector of a Service
 * (kind "Service": spec.selector, a map) or a controller (ReplicaSet, StatefulSet:
 * spec.selector; ReplicationController: its map) ns/name. */
void scheduler_snapshot_workload_set(struct scheduler_snapshot *s, const char *kind, const char *ns,
                                     const char *name, json_t *selector);

/* Holds p's requests on node for it (replacing an earlier nomination of p). */
void scheduler_snapshot_nominate(struct scheduler_snapshot *s, const struct scheduler_pod *p,
                                 const char *node);
/* Drops the nomination of pod "ns/name", if any. */
void scheduler_snapshot_unnominate(struct scheduler_snapshot *s, const char *key);

/* The node info named name (borrowed), or NULL. */
struct scheduler_node_info *scheduler_snapshot_info(const struct scheduler_snapshot *s,
                                                    const char *name);
/* How many nodes hold image (normalized name). */
size_t scheduler_snapshot_image_nodes(const struct scheduler_snapshot *s, const char *image);

#endif
