/* The agent's pod network and service proxy (src/agent/network.c, services.c): the glue
 * between the API objects (Nodes, Services, EndpointSlices, pods) and src/net, which only
 * sees plain data. Everything here is inert while the Node has no spec.podCIDR: pods keep a
 * loopback-only network namespace, as before the network existed. */
#ifndef K8C_AGENT_NETWORK_H
#define K8C_AGENT_NETWORK_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "agent/internal.h"
#include "client/informer.h"
#include "net/net.h"

#define AGENT_CLUSTER_CIDR_DEFAULT "10.42.0.0/16"

struct agent_net {
    pthread_mutex_t lock; /* guards pod_cidr, ipam_state, routes */
    char *pod_cidr;       /* this node's spec.podCIDR once seen (NULL before) */
    char *ipam_state;     /* <data-dir>/net/ipam-<cidr>, for that CIDR */
    json_t *routes;       /* installed host-gw routes: pod CIDR -> node IP */
    struct informer *nodes;
    /* services.c */
    struct informer *services, *slices;
    pthread_t svc_thread;
    bool svc_started;
    pthread_mutex_t svc_lock;
    pthread_cond_t svc_cond;
    bool svc_dirty, svc_stop;
};

/* network.c: starts the Node informer (own podCIDR -> bridge; the other Nodes' podCIDRs ->
 * host-gw routes) and the service proxy; waits up to a second for this Node's podCIDR so the
 * first pods already get an address. Returns 0, or -1 with *err. */
int agent__net_start(struct agent *a, struct k8c_err **err);
void agent__net_stop(struct agent *a);
/* This node's pod CIDR, or NULL while it has none. Caller frees. */
char *agent__net_pod_cidr(struct agent *a);
/* Gives the pod's sandbox its address (veth on the bridge) and sets p->ip; hostNetwork pods
 * get the node's address. Without a pod CIDR nothing happens (p->ip stays NULL). Returns 0,
 * or -1 with *err. */
int agent__net_pod_attach(struct agent *a, struct agent_pod *p, const json_t *pod,
                          struct k8c_err **err);
/* Removes the pod's veth and releases its address (best effort, logged). */
void agent__net_pod_detach(struct agent *a, const char *uid);
/* `k8c agent --cleanup`: removes the service table, every pod veth recorded in the IPAM state,
 * the routes the agent installed and the bridge. Returns 0, or -1 with *err. */
int agent__net_cleanup(const char *data_dir, struct k8c_err **err);

/* services.c: the service proxy (informers on Services and EndpointSlices -> one nftables
 * table, re-synced within ~50 ms of a change). */
int agent__services_start(struct agent *a, struct k8c_err **err);
void agent__services_stop(struct agent *a);
/* Asks for a re-sync (the pod CIDR became known). */
void agent__services_kick(struct agent *a);
/* Builds the services to program from Services and EndpointSlices (arrays of objects): a new
 * array of {name, cluster_ip, port, protocol, node_port, affinity, external_local,
 * endpoints:[{ip,port,local}]}, ready endpoints only; local: the slice puts it on node_name.
 * Exposed for the unit tests. */
json_t *agent__services_build(const json_t *services, const json_t *slices, const char *node_name);
/* The nftables script for those (what a sync would apply), or NULL with *err. Caller frees. */
char *agent__services_render(const json_t *services, const json_t *slices, const char *node_name,
                             const struct net_service_config *cfg, struct k8c_err **err);

#endif
