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
};

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
