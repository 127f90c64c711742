/* First-start objects: the namespaces every cluster has (default, kube-system, kube-public,
 * kube-node-lease) and the kube-dns Service (kube-system, the cluster DNS address the agents
 * serve), created through the same path as a client's POST so they are defaulted and
 * validated like any other object. */
#include <stdbool.h>
#include <string.h>

#include "api/defaults.h"
#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

/* POSTs body to path as the API server itself; an object already there is fine, and so is a
 * 422 when tolerate_invalid (a restart: the address check comes before the name check). */
static int post(struct apiserver_core *core, const char *path, const char *body, const char *what,
                bool tolerate_invalid, struct k8c_err **err)
{
    static const struct apiserver_user system = {
        .name = "system:apiserver", .groups = {"system:masters"}, .n_groups = 1};
    struct apiserver_req req = {.method = "POST",
                                .path = path,
                                .content_type = "application/json",
                                .body = body,
                                .body_len = strlen(body),
                                .user = &system,
                                .conn_fd = -1};
    struct apiserver_resp resp = {0};
    apiserver__dispatch(core, &req, &resp);
    int code = resp.out.code;
    int rc = 0;
    if (code != 201 && code != 409 && !(tolerate_invalid && code == 422))
        rc = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "create %s: %d %s", what, code,
                         resp.out.body.data ? resp.out.body.data : "");
    apiserver_response_clear(&resp.out);
    return rc;
}

int apiserver__bootstrap(struct apiserver_core *core, struct k8c_err **err)
{
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *body = xasprintf(
            "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
            names[i]);
        _cleanup_free_ char *what = xasprintf("namespace `%s`", names[i]);
        if (post(core, "/api/v1/namespaces", body, what, false, err) < 0)
            return -1;
    }
    /* As kubeadm and k3s install it (labels, port names), so `kubectl get svc -n kube-system`
     * and clients that look the Service up find the cluster DNS. */
    char dns_ip[16];
    apiserver__service_ip(core, 10, dns_ip);
    _cleanup_free_ char *dns =
        xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"kube-dns\","
                  "\"namespace\":\"kube-system\",\"labels\":{\"k8s-app\":\"kube-dns\","
                  "\"kubernetes.io/cluster-service\":\"true\",\"kubernetes.io/name\":\"CoreDNS\"}},"
                  "\"spec\":{\"clusterIP\":\"%s\",\"selector\":{\"k8s-app\":"
                  "\"kube-dns\"},\"ports\":[{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\","
                  "\"targetPort\":53},{\"name\":\"dns-tcp\",\"port\":53,\"protocol\":\"TCP\","
                  "\"targetPort\":53}]}}",
                  dns_ip);
    /* 422 also when a user's Service holds the address: the server starts all the same, without
     * kube-dns (as Kubernetes' addon would fail, not the API server). */
    return post(core, "/api/v1/namespaces/kube-system/services", dns, "service `kube-dns`", true,
                err);
}
