/* PATCH: JSON Patch, JSON merge patch, strategic merge patch and server-side apply (which
 * also creates a missing object), on objects and on their status and scale subresources,
 * with the same validation and storage tail as PUT. The patch algorithms are src/api/patch.h. */
#include <string.h>

#include "api/patch.h"
#include "api/status.h"
#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

#define PATCH_RETRIES 8

static void answer_err(struct apiserver_resp *resp, const struct api_kind *k, const char *name,
                       const struct k8c_err *e)
{
    char q[128];
    apiserver__qualified(k, q, sizeof(q));
    _cleanup_json_ json_t *st = api_status_from_err(e, q, name);
    apiserver__resp_json(resp, k8c_reason_http_code(e->reason), st);
}

static json_t *apply_patch(enum apiserver_in_format f, const struct apiserver_req *req,
                           const char *api_version, const char *kind, const json_t *doc, bool force,
                           struct k8c_err **err)
{
    switch (f) {
    case APISERVER_IN_JSON_PATCH: return api_patch_json(doc, req->body, req->body_len, err);
    case APISERVER_IN_MERGE_PATCH: return api_patch_merge(doc, req->body, req->body_len, err);
    case APISERVER_IN_STRATEGIC_PATCH:
        return api_patch_strategic(api_version, kind, doc, req->body, req->body_len, err);
    case APISERVER_IN_APPLY_PATCH:
        return api_patch_apply(api_version, kind, doc, req->body, req->body_len,
                               apiserver__param(req, "fieldManager"), force, err);
    default:
        k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE, "unsupported patch type");
        return NULL;
    }
}

/* Answers a failed patch: conflicts of server-side apply carry their causes. */
static void patch_failed(struct apiserver_resp *resp, const struct api_kind *k, const char *name,
                         enum apiserver_in_format f, const struct k8c_err *e)
{
    if (f == APISERVER_IN_APPLY_PATCH && e->reason == K8C_REASON_CONFLICT) {
        json_t *causes = api_patch_apply_conflict_causes();
        char q[128];
        apiserver__qualified(k, q, sizeof(q));
        apiserver__resp_status(resp, 409, "Conflict", e->msg, q, name, causes);
        return;
    }
    apiserver__resp_err(resp, e);
}

void apiserver__serve_patch(struct apiserver_core *core, const struct apiserver_req *req,
                            const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    const char *sub = route->subresource;
    bool scale = sub && strcmp(sub, "scale") == 0 && api_kind_subresource(k, "scale");
    if (!route->name || !(k->verbs & API_VERB_PATCH) ||
        (sub && strcmp(sub, "status") != 0 && !scale)) {
        apiserver__resp_status(resp, 405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               NULL, NULL, NULL);
        return;
    }
    enum apiserver_in_format f = apiserver__content_type(req->content_type);
    if (f != APISERVER_IN_JSON_PATCH && f != APISERVER_IN_MERGE_PATCH &&
        f != APISERVER_IN_STRATEGIC_PATCH && f != APISERVER_IN_APPLY_PATCH) {
        _cleanup_free_ char *m = xasprintf(
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml, application/strategic-merge-patch+json");
        apiserver__resp_status(resp, 415, "UnsupportedMediaType", m, NULL, NULL, NULL);
        return;
    }
    if (req->body_len == 0) {
        apiserver__resp_status(resp, 400, "BadRequest", "the patch body is empty", NULL, NULL,
                               NULL);
        return;
    }
    const char *fm = apiserver__param(req, "fieldManager");
    if (f == APISERVER_IN_APPLY_PATCH && (!fm || !*fm)) {
        apiserver__resp_status(resp, 400, "BadRequest",
                               "PATCH, application/apply-patch+yaml requests must specify a "
                               "fieldManager",
                               NULL, NULL, NULL);
        return;
    }
    bool force = apiserver__param_bool(req, "force");
    if (force && f != APISERVER_IN_APPLY_PATCH) {
        apiserver__resp_status(resp, 400, "BadRequest", "force may not be set for non-apply patch",
                               NULL, NULL, NULL);
        return;
    }
    _cleanup_err_ struct k8c_err *e = NULL;
    for (int attempt = 0; attempt < PATCH_RETRIES; attempt++) {
        int64_t rev = 0;
        _cleanup_json_ json_t *old =
            apiserver__object_read(core, k, route->ns, route->name, &rev, &e);
        if (!old) {
            if (e->reason == K8C_REASON_NOT_FOUND && f == APISERVER_IN_APPLY_PATCH && !sub) {
                /* Server-side apply creates what is missing. */
                k8c_err_freep(&e);
                _cleanup_json_ json_t *obj = api_patch_apply(
                    k->api_version, k->kind, NULL, req->body, req->body_len, fm, force, &e);
                if (!obj) {
                    patch_failed(resp, k, route->name, f, e);
                    return;
                }
                const char *n = kjson_path_str(obj, "metadata.name");
                if (n && strcmp(n, route->name) != 0) {
                    _cleanup_free_ char *m = xasprintf("the name of the object (%s) does not "
                                                       "match the name on the URL (%s)",
                                                       n, route->name);
                    apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
                    return;
                }
                json_object_set_new(kjson_object_ensure(obj, "metadata"), "name",
                                    json_string(route->name));
                apiserver__finish_create(core, req, route, obj, resp);
                return;
            }
            answer_err(resp, k, route->name, e);
            return;
        }
        _cleanup_json_ json_t *patched = NULL;
        bool client_rv = false;
        if (scale) {
            _cleanup_json_ json_t *sc = apiserver__scale_from(old);
            _cleanup_json_ json_t *nsc =
                apply_patch(f == APISERVER_IN_STRATEGIC_PATCH ? APISERVER_IN_MERGE_PATCH : f, req,
                            "autoscaling/v1", "Scale", sc, force, &e);
            if (!nsc) {
                patch_failed(resp, k, route->name, f, e);
                return;
            }
            json_t *r = kjson_path(nsc, "spec.replicas");
            if (!json_is_integer(r)) {
                apiserver__resp_status(resp, 422, "Invalid",
                                       "Scale.autoscaling \"\" is invalid: spec.replicas: must be "
                                       "an integer",
                                       "Scale", route->name, NULL);
                return;
            }
            patched = json_deep_copy(old);
            json_object_set_new(kjson_object_ensure(patched, "spec"), "replicas",
                                json_integer(json_integer_value(r)));
            const char *want = kjson_path_str(nsc, "metadata.resourceVersion");
            const char *have = kjson_path_str(old, "metadata.resourceVersion");
            client_rv = want && have && strcmp(want, have) != 0;
        } else {
            patched = apply_patch(f, req, k->api_version, k->kind, old, force, &e);
            if (!patched) {
                patch_failed(resp, k, route->name, f, e);
                return;
            }
            if (!json_is_object(patched)) {
                apiserver__resp_status(resp, 422, "Invalid", "the patched object is not an object",
                                       NULL, NULL, NULL);
                return;
            }
            const char *want = kjson_path_str(patched, "metadata.resourceVersion");
            const char *have = kjson_path_str(old, "metadata.resourceVersion");
            client_rv = want && have && strcmp(want, have) != 0;
        }
        if (client_rv) {
            k8c_err_set(&e, 0, K8C_REASON_CONFLICT, "the object has been modified");
            answer_err(resp, k, route->name, e);
            return;
        }
        if (apiserver__finish_update(core, req, route, patched, old, rev, false, resp, &e) == 0)
            return;
        k8c_err_freep(&e); /* lost a race with another writer: patch the new state */
    }
    apiserver__resp_status(resp, 409, "Conflict", "too many concurrent writes to the object", NULL,
                           NULL, NULL);
}
