/* The authorizer hook. Authentication (client certificates against the cluster CA, bearer
 * tokens) happens in server.c where the TLS session is; this file decides what an
 * authenticated user may do. Until RBAC exists every authenticated user may do everything:
 * RBAC replaces apiserver__authorize and nothing else. */
#include <string.h>

#include "api/protobuf.h"
#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

bool apiserver__authorize(const struct apiserver_user *user, const char *verb, const char *group,
                          const char *resource, const char *subresource, const char *ns,
                          const char *name)
{
    return user && user->name[0] != '\0';
}

void apiserver__serve_access_review(const struct apiserver_req *req, struct apiserver_resp *resp)
{
    /* The review's spec says what to check (kubectl sends it as protobuf); it is echoed
     * back as Kubernetes does. A body that cannot be read is asked about as a plain get. */
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *body = NULL;
    enum apiserver_in_format f = apiserver__content_type(req->content_type);
    if (f == APISERVER_IN_JSON)
        body = kjson_parse(req->body, req->body_len, &e);
    else if (f == APISERVER_IN_PROTOBUF)
        body = api_protobuf_decode(req->body, req->body_len, NULL, &e);
    json_t *spec = json_is_object(body) ? json_object_get(body, "spec") : NULL;
    const char *verb = kjson_path_str(spec, "resourceAttributes.verb");
    const char *group = kjson_path_str(spec, "resourceAttributes.group");
    const char *res = kjson_path_str(spec, "resourceAttributes.resource");
    const char *sub = kjson_path_str(spec, "resourceAttributes.subresource");
    const char *ns = kjson_path_str(spec, "resourceAttributes.namespace");
    const char *name = kjson_path_str(spec, "resourceAttributes.name");
    bool allowed = apiserver__authorize(req->user, verb ? verb : "get", group, res, sub, ns, name);
    json_t *out =
        json_pack("{s:s, s:s, s:{}, s:O, s:{s:b, s:s}}", "kind", "SelfSubjectAccessReview",
                  "apiVersion", "authorization.k8s.io/v1", "metadata", "spec",
                  spec ? spec : json_object(), "status", "allowed", allowed, "reason",
                  allowed ? "k8c allows every authenticated user (no RBAC yet)" : "");
    if (!spec)
        json_decref(json_object_get(out, "spec")); /* O took a reference to the temporary */
    apiserver__resp_json(resp, 201, out);
    json_decref(out);
}
