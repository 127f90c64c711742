/* The pod network of a node (issue 10), on src/base alone: IPv4 CIDRs, persistent IP
 * allocation from the node's pod CIDR, netlink link/address/route programming, and attaching
 * a pod's network namespace to the node bridge (host-gw). Callers (the agent) pass plain
 * data; nothing here knows API objects. */
#ifndef K8C_NET_NET_H
#define K8C_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define NET_BRIDGE_DEFAULT "k8c0"

/* An IPv4 network: addr in host byte order with the host bits cleared, prefix 0..32. */
struct net_cidr {
    uint32_t addr;
    unsigned prefix;
};

/* Parses "a.b.c.d/n" into *out. Host bits set ("10.42.1.7/24") are an error (INVALID), so a
 * typo never silently means another network. Returns 0, or -1 and sets *err. */
int net_cidr_parse(const char *text, struct net_cidr *out, struct k8c_err **err);

/* Parses a dotted IPv4 address into host byte order. Returns 0, or -1 and sets *err. */
int net_ip_parse(const char *text, uint32_t *out, struct k8c_err **err);

/* Formats ip (host byte order) into buf (at least 16 bytes); returns buf. */
char *net_ip_format(uint32_t ip, char *buf);

/* The gateway of a pod CIDR (its first host address, held by the node bridge). */
uint32_t net_cidr_gateway(const struct net_cidr *cidr);

/* ---- IPAM (ipam.c): persistent allocation of pod IPs from one pod CIDR ----
 *
 * The state lives in one small file (state_path, rewritten atomically with
 * file_write_atomic, serialized across processes with an flock on "<state_path>.lock"), so
 * allocations survive agent restarts. Network, gateway and broadcast addresses are never
 * handed out. */

/* Allocates an address of cidr for owner (a pod's unique id) and stores it in *ip (host
 * order). Idempotent: an owner that already holds an address gets the same one back. A
 * state file recorded for another CIDR is an error (CONFLICT); a full CIDR fails with a clear
 * "pod CIDR ... exhausted" (SERVICE_UNAVAILABLE). Returns 0, or -1 and sets *err. */
int net_ipam_allocate(const char *state_path, const char *cidr, const char *owner, uint32_t *ip,
                      struct k8c_err **err);

/* Frees owner's address. Releasing an owner that holds none (or with no state file yet) is
 * fine (returns 0), so a retried pod deletion succeeds. Returns 0, or -1 and sets *err. */
int net_ipam_release(const char *state_path, const char *owner, struct k8c_err **err);

/* Looks up owner's address: returns 1 and sets *ip when held, 0 when not, -1 on error. */
int net_ipam_lookup(const char *state_path, const char *owner, uint32_t *ip, struct k8c_err **err);

/* The owners holding an address in state_path: a new NULL-terminated array (free each
 * string and the array); an empty one when there is no state file. NULL and *err on error. */
char **net_ipam_owners(const char *state_path, struct k8c_err **err);

/* ---- the node and its pods (pod.c) ---- */

struct net_node_config {
    const char *bridge;   /* NULL: NET_BRIDGE_DEFAULT */
    const char *pod_cidr; /* this node's pod CIDR, "10.42.1.0/24" */
};

/* Creates (or keeps) the node bridge in the calling thread's network namespace, gives it the
 * gateway address of pod_cidr, sets it up and enables IPv4 forwarding. Idempotent.
 * Returns 0, or -1 and sets *err. */
int net_node_setup(const struct net_node_config *cfg, struct k8c_err **err);

/* Deletes the node bridge (the agent's uninstall); a missing one is fine. Returns 0, or -1. */
int net_node_teardown(const char *bridge, struct k8c_err **err);

/* Adds (or replaces) the host-gw route "cidr via node_ip" in the calling thread's network
 * namespace: another node's pod CIDR through that node's address. Returns 0, or -1. */
int net_node_route_add(const char *cidr, const char *node_ip, struct k8c_err **err);

/* Deletes that route; a missing route is fine. Returns 0, or -1 and sets *err. */
int net_node_route_del(const char *cidr, const char *node_ip, struct k8c_err **err);

struct net_pod_config {
    const char *netns_path; /* the pod's network namespace (an nsfs file, /proc/PID/ns/net) */
    const char *pod_id;     /* unique and stable for the pod (its UID): IPAM owner, veth name */
    const char *bridge;     /* NULL: NET_BRIDGE_DEFAULT */
    const char *pod_cidr;   /* the node's pod CIDR */
    const char *ipam_state; /* the IPAM state file */
};

/* Attaches a pod: allocates its address, creates a veth pair whose host end
 * (net_pod_host_ifname) joins the bridge and whose other end becomes eth0 in the pod's namespace
 * with the address and a default route via the bridge. Idempotent for a pod already attached (same
 * address back). On failure, what was created is removed again. Stores the address in *ip.
 * The node must be set up (net_node_setup). Returns 0, or -1 and sets *err. */
int net_pod_attach(const struct net_pod_config *cfg, uint32_t *ip, struct k8c_err **err);

/* Detaches a pod: deletes its veth pair (if still there) and releases its address; a pod
 * holding no address is already detached. Works when the pod's namespace is already gone
 * (netns_path unused). Returns 0, or -1 and sets *err. */
int net_pod_detach(const struct net_pod_config *cfg, struct k8c_err **err);

/* The host-side interface name of the pod holding ip: "k8c" + its 8 hex digits, unique on
 * the node while the address is held; buf has 16 bytes. Returns buf. */
char *net_pod_host_ifname(uint32_t ip, char *buf);

/* ---- services (service.c): ClusterIP load balancing with nftables ---- */

struct net_endpoint {
    const char *ip; /* a ready endpoint's pod IP */
    unsigned port;  /* its target port */
    bool local;     /* on this node (externalTrafficPolicy Local) */
};

struct net_service {
    const char *name;       /* "namespace/name", for error messages */
    const char *cluster_ip; /* IPv4 */
    unsigned port;          /* the service port */
    const char *protocol;   /* "tcp" (NULL) or "udp" */
    const struct net_endpoint *endpoints;
    size_t n_endpoints; /* 0: connections are refused (reject) */
    unsigned node_port; /* 0: none; else also reachable on every local address at this port */
    /* sessionAffinity ClientIP: a client keeps its endpoint for this many seconds since its
     * last connection (0: no affinity). */
    unsigned affinity_seconds;
    /* externalTrafficPolicy Local: node-port traffic goes to this node's endpoints only and
     * keeps the client's address (no masquerade); none here: dropped, as kube-proxy does. */
    bool external_local;
};

struct net_service_config {
    const char *bridge;   /* NULL: NET_BRIDGE_DEFAULT */
    const char *pod_cidr; /* this node's pod CIDR (hairpin masquerade) */
    /* The whole cluster's pod CIDR ("10.42.0.0/16"): pod traffic to anything outside it
     * leaving by another interface than the bridge is masqueraded. NULL: no such rule. */
    const char *cluster_cidr;
};

/* The nftables script that net_services_sync applies (caller frees): table "ip k8c" with
 * ClusterIP:port (and node ports on local addresses) DNAT'ed to one endpoint chosen at random
 * with equal weight (numgen random mod N vmap), ClientIP affinity through per-endpoint
 * timeout sets, hairpin masquerade, masquerade of node-port traffic (the reply must come back
 * through this node), masquerade of pod traffic leaving the cluster CIDR, and reject for
 * services without endpoints. Bad input (address, port, protocol) fails with INVALID naming the
 * service. Returns NULL and sets *err on failure. */
char *net_services_render(const struct net_service_config *cfg, const struct net_service *svcs,
                          size_t n, struct k8c_err **err);

/* Makes the calling thread's network namespace balance exactly svcs: the k8c table is
 * replaced atomically (one transaction), never duplicated; no other table is touched.
 * Returns 0, or -1 and sets *err. */
int net_services_sync(const struct net_service_config *cfg, const struct net_service *svcs,
                      size_t n, struct k8c_err **err);

/* Removes the k8c table (agent uninstall); a missing table is fine. Returns 0, or -1. */
int net_services_cleanup(struct k8c_err **err);

/* `k8c net-test …` (hidden): drives this library from the lab tests. */
int net_cli_main(int argc, char **argv);

#endif
