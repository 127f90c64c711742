/* First-start objects: the namespaces every cluster has (default, kube-system, kube-public,
 * kube-node-lease), created through the same path as a client's POST so they are defaulted
 * and validated like any other object. */
#include <string.h>

#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

int apiserver__bootstrap(struct apiserver_core *core, struct k8c_err **err)
{
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
    static const struct apiserver_user system = {
        .name = "system:apiserver", .groups = {"system:masters"}, .n_groups = 1};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *body = xasprintf(
            "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
            names[i]);
        struct apiserver_req req = {.method = "POST",
                                    .path = "/api/v1/namespaces",
                                    .content_type = "application/json",
                                    .body = body,
                                    .body_len = strlen(body),
                                    .user = &system,
                                    .conn_fd = -1};
        struct apiserver_resp resp = {0};
        apiserver__dispatch(core, &req, &resp);
        int code = resp.out.code;
        if (code != 201 && code != 409) {
            k8c_err_set(err, 0, K8C_REASON_INTERNAL, "create namespace `%s`: %d %s", names[i], code,
                        resp.out.body.data ? resp.out.body.data : "");
            apiserver_response_clear(&resp.out);
            return -1;
        }
        apiserver_response_clear(&resp.out);
    }
    return 0;
}
