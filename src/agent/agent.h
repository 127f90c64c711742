/* The node agent (the kubelet of k8c): registers the Node, keeps its Lease, runs the pods bound
 * to the node as OCI containers and serves logs/exec to the API server. Depends on base, api,
 * client, runtime and image. Runs alone (`k8c agent`) or embedded in `k8c server`. */
#ifndef K8C_AGENT_AGENT_H
#define K8C_AGENT_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct client;

/* How the agent runs. agent_config_init fills the defaults; flags (`k8c agent`, `k8c server`)
 * overwrite fields. New settings are new fields here (with their default in
 * agent_config_init), so both commands can pass them. Strings are borrowed. */
struct agent_config {
    const char *node_name;    /* the Node's name (default: the host name) */
    const char *node_ip;      /* the InternalIP reported (default 127.0.0.1) */
    const char *data_dir;     /* absolute: pods, images, runtime state (default /var/lib/k8c) */
    const char *runtime;      /* builtin (default), runc, crun or fake */
    int port;                 /* the HTTPS streaming endpoint on node_ip (default 10250; 0: any) */
    unsigned workers;         /* pod workers (default AGENT_DEFAULT_WORKERS) */
    unsigned max_pods;        /* the Node's capacity.pods (kubelet's --max-pods, default 110) */
    const char *cluster_cidr; /* the pods' whole network (egress masquerade beyond it) */
    long long log_max_size;   /* a container's log rotates past this many bytes (10Mi) */
    int log_max_files;        /* log files kept per container (5) */
    const char *ca_pem;       /* the cluster CA: API server clients of the endpoint must chain
                               * to it (NULL: every stream request is refused) */
    const char *cluster_dns;  /* the DNS address pods use ("": the node's resolv.conf) */
    const char *cluster_domain; /* cluster.local */
    const char *dns_listen;     /* where the node's DNS server listens (NULL: the gateway) */
    const char *resolv_conf;    /* upstreams and dnsPolicy Default ("": none) */
};

#define AGENT_DEFAULT_WORKERS 8

void agent_config_init(struct agent_config *cfg);
/* Checks the fields both commands take from flags (runtime name, absolute data dir). Returns
 * 0, or -1 with the usage message (naming the flag) in msg. */
int agent_config_check(const struct agent_config *cfg, char *msg, size_t len);
/* Parses a decimal number from lo to hi out of a flag's value. Returns 0 or -1. */
int agent_parse_number(const char *v, long lo, long hi, long *out);

/* Runs the agent with client (borrowed; shared with other threads is fine) until *stop.
 * Returns 0, or -1 with *err when it could not start (bad config, runtime missing, node
 * registration refused). Containers keep running after it returns (their shims hold them). */
int agent_run(struct client *client, const struct agent_config *cfg, const atomic_bool *stop,
              struct k8c_err **err);

/* Why this process cannot run pods with runtime here (not root, no namespaces), or NULL when
 * it can. The fake runtime runs anywhere. Caller frees. */
char *agent_unsupported(const char *runtime);

/* `k8c agent …`: runs the agent in the foreground until SIGTERM/SIGINT. argv[0] is "agent".
 * Returns 0, 1 on failure, 2 on a usage error. */
int agent_cli_main(int argc, char **argv);

/* `k8c shim LOG EXITFILE -- CMD…` (hidden): the per-container shim that the agent starts
 * detached. Runs CMD with its stdout/stderr captured into LOG in the CRI log format and
 * writes the exit status to EXITFILE when CMD ends. Returns 0, or 1/2 on failure. */
int agent_shim_main(int argc, char **argv);

/* `k8c netpol-test render|sync|cleanup --node N --objects FILE` (hidden): NetworkPolicy rules
 * from a JSON List of Pods, Namespaces and NetworkPolicies, for the lab tests. 0, 1 or 2. */
int agent_netpol_test_main(int argc, char **argv);

#endif
