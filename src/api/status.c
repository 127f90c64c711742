/* Status objects (see status.h): the wording comes from k8s.io/apimachinery/pkg/api/errors. */
#include "api/status.h"

#include <inttypes.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

static json_t *details_new(const char *details_kind, const char *details_name)
{
    json_t *d = json_object();
    if (details_name != NULL && details_name[0] != '\0')
        json_object_set_new(d, "name", json_string(details_name));
    if (details_kind != NULL && details_kind[0] != '\0') {
        const char *dot = strchr(details_kind, '.');
        if (dot != NULL) {
            json_object_set_new(d, "group", json_string(dot + 1));
            json_object_set_new(d, "kind",
                                json_stringn(details_kind, (size_t)(dot - details_kind)));
        } else {
            json_object_set_new(d, "kind", json_string(details_kind));
        }
    }
    return d;
}

json_t *api_status_failure(int code, const char *reason, const char *message,
                           const char *details_kind, const char *details_name, json_t *causes_take)
{
    json_t *s = json_object();
    json_object_set_new(s, "kind", json_string("Status"));
    json_object_set_new(s, "apiVersion", json_string("v1"));
    json_object_set_new(s, "metadata", json_object());
    json_object_set_new(s, "status", json_string("Failure"));
    json_object_set_new(s, "message", json_string(message ? message : ""));
    if (reason != NULL && reason[0] != '\0')
        json_object_set_new(s, "reason", json_string(reason));
    json_t *d = details_new(details_kind, details_name);
    if (causes_take != NULL && json_array_size(causes_take) > 0)
        json_object_set(d, "causes", causes_take);
    json_decref(causes_take);
    if (json_object_size(d) > 0)
        json_object_set_new(s, "details", d);
    else
        json_decref(d);
    json_object_set_new(s, "code", json_integer(code));
    return s;
}

json_t *api_status_from_err(const struct k8c_err *e, const char *resource, const char *name)
{
    int code = k8c_reason_http_code(e->reason);
    const char *reason = k8c_reason_name(e->reason);
    bool named = resource != NULL && resource[0] != '\0' && name != NULL && name[0] != '\0';
    _cleanup_free_ char *text = k8c_err_text(e);
    _cleanup_free_ char *msg = NULL;
    switch (e->reason) {
    case K8C_REASON_NOT_FOUND:
        if (named)
            msg = xasprintf("%s \"%s\" not found", resource, name);
        break;
    case K8C_REASON_ALREADY_EXISTS:
        if (named)
            msg = xasprintf("%s \"%s\" already exists", resource, name);
        break;
    case K8C_REASON_CONFLICT:
        if (named)
            msg = xasprintf("Operation cannot be fulfilled on %s \"%s\": the object has been "
                            "modified; please apply your changes to the latest version and try "
                            "again",
                            resource, name);
        break;
    case K8C_REASON_INTERNAL: {
        msg = xasprintf("Internal error occurred: %s", text);
        json_t *causes = json_pack("[{s:s}]", "message", text);
        return api_status_failure(code, reason, msg, resource, name, causes);
    }
    default: break;
    }
    return api_status_failure(code, reason, msg ? msg : text, resource, name, NULL);
}

char *api_kind_qualified_resource(const struct api_kind *k)
{
    if (k->group[0] == '\0')
        return xstrdup(k->resource);
    return xasprintf("%s.%s", k->resource, k->group);
}

json_t *api_status_invalid(const struct api_kind *k, const char *name, json_t *causes_take)
{
    _cleanup_buf_ struct buf msg = BUF_INIT;
    if (k->group[0] != '\0')
        buf_appendf(&msg, "%s.%s \"%s\" is invalid: ", k->kind, k->group, name ? name : "");
    else
        buf_appendf(&msg, "%s \"%s\" is invalid: ", k->kind, name ? name : "");
    size_t n = json_array_size(causes_take);
    if (n > 1)
        buf_append_char(&msg, '[');
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(causes_take, i);
        const char *field = json_string_value(json_object_get(c, "field"));
        const char *m = json_string_value(json_object_get(c, "message"));
        if (i > 0)
            buf_append_str(&msg, ", ");
        if (field != NULL && field[0] != '\0')
            buf_appendf(&msg, "%s: ", field);
        buf_append_str(&msg, m ? m : "");
    }
    if (n > 1)
        buf_append_char(&msg, ']');
    _cleanup_free_ char *dk =
        k->group[0] != '\0' ? xasprintf("%s.%s", k->kind, k->group) : xstrdup(k->kind);
    return api_status_failure(422, "Invalid", msg.data ? msg.data : "", dk, name, causes_take);
}

json_t *api_status_expired(int64_t requested, int64_t oldest)
{
    _cleanup_free_ char *msg =
        xasprintf("too old resource version: %" PRId64 " (%" PRId64 ")", requested, oldest);
    return api_status_failure(410, "Expired", msg, NULL, NULL, NULL);
}

json_t *api_status_success(const char *details_kind, const char *details_name)
{
    json_t *s = json_object();
    json_object_set_new(s, "kind", json_string("Status"));
    json_object_set_new(s, "apiVersion", json_string("v1"));
    json_object_set_new(s, "metadata", json_object());
    json_object_set_new(s, "status", json_string("Success"));
    json_t *d = details_new(details_kind, details_name);
    if (json_object_size(d) > 0)
        json_object_set_new(s, "details", d);
    else
        json_decref(d);
    return s;
}
