/* Node Lease upkeep (coordination.k8s.io/v1 in kube-node-lease): the heartbeat every node
 * agent (the real one and `k8c hollow`) renews. */
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"
#include "client/client.h"

#define LEASE_NS "kube-node-lease"

int client_node_lease_renew(struct client *c, const char *node, int duration_s,
                            struct k8c_err **err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char micro[28];
    clock_rfc3339_micro(&now, micro);
    _cleanup_free_ char *path =
        xasprintf("/apis/coordination.k8s.io/v1/namespaces/" LEASE_NS "/leases/%s", node);
    _cleanup_json_ json_t *patch =
        json_pack("{s:{s:s,s:s,s:i}}", "spec", "holderIdentity", node, "renewTime", micro,
                  "leaseDurationSeconds", duration_s);
    _cleanup_err_ struct k8c_err *perr = NULL;
    _cleanup_json_ json_t *res = client_patch(c, path, "merge", patch, &perr);
    if (res != NULL)
        return 0;
    if (perr->reason != K8C_REASON_NOT_FOUND) {
        *err = steal_ptr(&perr);
        return k8c_err_wrap(err, "renew lease of node `%s`", node);
    }
    _cleanup_json_ json_t *lease =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:i,s:s}}", "apiVersion", "coordination.k8s.io/v1",
                  "kind", "Lease", "metadata", "name", node, "namespace", LEASE_NS, "spec",
                  "holderIdentity", node, "leaseDurationSeconds", duration_s, "renewTime", micro);
    _cleanup_err_ struct k8c_err *cerr = NULL;
    _cleanup_json_ json_t *created = client_create(
        c, "/apis/coordination.k8s.io/v1/namespaces/" LEASE_NS "/leases", lease, &cerr);
    if (created == NULL && cerr->reason != K8C_REASON_ALREADY_EXISTS) {
        *err = steal_ptr(&cerr);
        return k8c_err_wrap(err, "create lease of node `%s`", node);
    }
    return 0;
}
