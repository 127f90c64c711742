/* NetworkPolicy enforcement (networking.k8s.io/v1, issue 10) with nftables, on src/base alone.
 * The caller (the agent) passes plain data: pods with their IPs, labels and named ports,
 * namespaces with their labels, and the policies; this file evaluates the selectors and
 * renders one table of its own ("ip k8c-policy") that filters forwarded traffic by pod IP.
 *
 * Semantics are Kubernetes': a pod selected by any policy whose policyTypes include Ingress
 * (Egress) is isolated for ingress (egress), and then only what the union of those policies'
 * rules allows gets through; replies of allowed connections pass (conntrack). Only traffic
 * the node forwards is filtered (pod to pod, pod to outside); traffic between a pod and its
 * own node (probes, the node-local cluster DNS) is not. */
#ifndef K8C_NET_POLICY_H
#define K8C_NET_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct net_label {
    const char *key, *value;
};

enum net_sel_op { NET_SEL_IN, NET_SEL_NOT_IN, NET_SEL_EXISTS, NET_SEL_DOES_NOT_EXIST };

struct net_sel_req {
    const char *key;
    enum net_sel_op op;
    const char *const *values;
    size_t n_values;
};

/* A label selector; one with no labels and no requirements selects everything. */
struct net_selector {
    const struct net_label *match_labels;
    size_t n_match_labels;
    const struct net_sel_req *exprs;
    size_t n_exprs;
};

enum net_proto { NET_PROTO_TCP = 0, NET_PROTO_UDP, NET_PROTO_SCTP };

/* A container port a pod declares (for named ports in policies). */
struct net_named_port {
    const char *name;
    enum net_proto protocol;
    unsigned port;
};

struct net_pol_pod {
    const char *ns, *name;
    const char *ip; /* its pod IP; pods without one (not started, hostNetwork) are left out */
    const struct net_label *labels;
    size_t n_labels;
    const struct net_named_port *ports;
    size_t n_ports;
    bool local; /* runs on this node: only local pods get rules here */
};

struct net_pol_ns {
    const char *name;
    const struct net_label *labels;
    size_t n_labels;
};

struct net_pol_port {
    enum net_proto protocol;
    unsigned port;     /* 0: every port of the protocol (unless name is set) */
    const char *name;  /* a named port, resolved on the destination pod; NULL: numeric */
    unsigned end_port; /* 0: just port; else the range port..end_port */
};

/* One element of from/to. pod_selector and ns_selector: NULL when absent. */
struct net_pol_peer {
    const struct net_selector *pod_selector;
    const struct net_selector *ns_selector;
    const char *cidr; /* ipBlock.cidr (then both selectors are NULL) */
    const char *const *except;
    size_t n_except;
};

struct net_pol_rule {
    const struct net_pol_peer *peers; /* none: every source/destination */
    size_t n_peers;
    const struct net_pol_port *ports; /* none: every port */
    size_t n_ports;
};

struct net_policy {
    const char *ns, *name;
    struct net_selector pod_selector;
    bool ingress, egress; /* policyTypes */
    const struct net_pol_rule *ingress_rules;
    size_t n_ingress;
    const struct net_pol_rule *egress_rules;
    size_t n_egress;
};

struct net_pol_input {
    const struct net_pol_pod *pods;
    size_t n_pods;
    const struct net_pol_ns *namespaces;
    size_t n_namespaces;
    const struct net_policy *policies;
    size_t n_policies;
};

/* Whether sel selects labels. */
bool net_selector_matches(const struct net_selector *sel, const struct net_label *labels,
                          size_t n_labels);

/* The nftables script net_policy_sync applies (caller frees): table "ip k8c-policy" replaced
 * as a whole; its forward chain lets established/related traffic through, sends packets from
 * an egress-isolated local pod to that pod's egress chain and packets to an ingress-isolated
 * local pod to its ingress chain, each allowing what the policies allow and dropping the rest.
 * Every address, port and protocol reaches the script as a value parsed here. A bad address,
 * CIDR or port fails with INVALID naming the policy or pod. Returns NULL and sets *err. */
char *net_policy_render(const struct net_pol_input *in, struct k8c_err **err);

/* Makes the calling thread's network namespace enforce in (one atomic transaction; no other
 * table touched). Returns 0, or -1 and sets *err. */
int net_policy_sync(const struct net_pol_input *in, struct k8c_err **err);

/* Removes the policy table; a missing one is fine. Returns 0, or -1 and sets *err. */
int net_policy_cleanup(struct k8c_err **err);

#endif
