/* The controller manager: the loops that keep the cluster in its declared state (ReplicaSets,
 * Deployments, Endpoints and EndpointSlices, the garbage collector, namespaces, service
 * accounts, pod GC, node lifecycle), run over shared informers and work queues, behind a
 * leader-election Lease so that two managers on one cluster never both act. They talk to the
 * API only (src/client). `k8c server` embeds controllers_run; `k8c controller-manager` runs
 * it standalone. */
#ifndef K8C_CONTROLLERS_CONTROLLERS_H
#define K8C_CONTROLLERS_CONTROLLERS_H

#include <stdatomic.h>
#include <stdbool.h>

#include "base/err.h"
#include "client/client.h"

struct controllers_options {
    unsigned workers;                     /* per controller (0: 5) */
    unsigned node_monitor_grace_seconds;  /* Lease not renewed this long: Unknown (0: 40) */
    unsigned terminated_pod_gc_threshold; /* terminated pods kept (0: 12500) */
    bool no_leader_elect;                 /* act without a Lease (tests, single manager) */
    const char *identity;                 /* Lease holder (NULL: hostname_<random>) */
    unsigned lease_duration_seconds;      /* 0: 15 */
    unsigned renew_deadline_seconds;      /* 0: 10 */
    unsigned retry_period_ms;             /* 0: 2000 */
    const char *cluster_cidr;             /* node IPAM: pods' CIDR (NULL: 10.42.0.0/16) */
    unsigned node_cidr_mask_size;         /* node IPAM: each node's prefix (0: 24) */
    bool no_allocate_node_cidrs;          /* node IPAM off (--allocate-node-cidrs=false) */
};

#define CTL_CLUSTER_CIDR_DEFAULT "10.42.0.0/16"

/* Checks the node IPAM flags: a valid IPv4 cluster CIDR and a node mask size between its
 * prefix and /30, at most 16 bits longer. Returns 0, or -1 with *err naming the flag. */
int controllers_node_cidr_check(const char *cluster_cidr, unsigned mask, struct k8c_err **err);

/* Runs every controller until *stop becomes true: waits to hold the Lease
 * kube-system/k8c-controller-manager (unless no_leader_elect), starts the informers and the
 * workers, renews the Lease, and stops the controllers (and campaigns again) when it loses
 * it. c is borrowed and must be safe for concurrent use. Returns 0 once stopped, or -1 with
 * *err when the options are unusable. */
int controllers_run(struct client *c, const struct controllers_options *opts,
                    const atomic_bool *stop, struct k8c_err **err);

/* `k8c controller-manager --kubeconfig FILE [flags]`: argv[0] is the command name. Returns
 * the process exit code (2 usage, 1 failure, 0 after SIGINT/SIGTERM). */
int controllers_cli_main(int argc, char **argv);

#endif
