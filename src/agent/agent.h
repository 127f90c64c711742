/* The node agent (the kubelet of k8c): registers the Node, keeps its Lease, runs the pods bound
 * to the node as OCI containers and serves logs/exec to the API server. Depends on base, api,
 * client, runtime and image. */
#ifndef K8C_AGENT_AGENT_H
#define K8C_AGENT_AGENT_H

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
