/* Unit tests for src/api/status.c: Status objects worded as Kubernetes words them. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "api/status.h"
#include "base/json.h"
#include "base/mem.h"

static char *dump(const json_t *v)
{
    return kjson_dumps(v);
}

Test(status, not_found)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    k8c_err_set(&err, 0, K8C_REASON_NOT_FOUND, "key `/registry/pods/default/nope` not found");
    _cleanup_json_ json_t *s = api_status_from_err(err, "pods", "nope");
    _cleanup_free_ char *text = dump(s);
    cr_assert(
        eq(str, text,
           "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"pods \\\"nope\\\" not found\",\"reason\":\"NotFound\","
           "\"details\":{\"name\":\"nope\",\"kind\":\"pods\"},\"code\":404}"));
}

Test(status, already_exists_and_conflict_with_group)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    k8c_err_set(&err, 0, K8C_REASON_ALREADY_EXISTS, "exists");
    _cleanup_json_ json_t *s = api_status_from_err(err, "deployments.apps", "web");
    cr_assert(
        eq(str, (char *)kjson_path_str(s, "message"), "deployments.apps \"web\" already exists"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "reason"), "AlreadyExists"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "details.group"), "apps"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "details.kind"), "deployments"));
    json_int_t code = json_integer_value(json_object_get(s, "code"));
    cr_assert(eq(i64, code, 409));

    k8c_err_set(&err, 0, K8C_REASON_CONFLICT, "revision mismatch");
    _cleanup_json_ json_t *c = api_status_from_err(err, "pods", "nginx");
    cr_assert(eq(str, (char *)kjson_path_str(c, "message"),
                 "Operation cannot be fulfilled on pods \"nginx\": the object has been modified; "
                 "please apply your changes to the latest version and try again"));
    cr_assert(eq(str, (char *)kjson_path_str(c, "reason"), "Conflict"));
}

Test(status, other_reasons_use_the_error_text)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    k8c_err_set(&err, 0, K8C_REASON_BAD_REQUEST, "the body is not JSON");
    _cleanup_json_ json_t *s = api_status_from_err(err, NULL, NULL);
    cr_assert(eq(str, (char *)kjson_path_str(s, "message"), "the body is not JSON"));
    cr_assert(json_object_get(s, "details") == NULL);
    k8c_err_set(&err, 5, K8C_REASON_INTERNAL, "write `x`");
    _cleanup_json_ json_t *i = api_status_from_err(err, NULL, NULL);
    cr_assert(eq(str, (char *)kjson_path_str(i, "message"),
                 "Internal error occurred: write `x`: Input/output error"));
    cr_assert(eq(str, (char *)kjson_path_str(i, "reason"), "InternalError"));
    json_t *causes = kjson_path(i, "details.causes");
    cr_assert(eq(sz, json_array_size(causes), 1));
    /* NOT_FOUND without a name keeps the text. */
    k8c_err_set(&err, 0, K8C_REASON_NOT_FOUND, "the server could not find the requested resource");
    _cleanup_json_ json_t *n = api_status_from_err(err, "pods", NULL);
    cr_assert(eq(str, (char *)kjson_path_str(n, "message"),
                 "the server could not find the requested resource"));
}

Test(status, invalid_one_and_many_causes)
{
    const struct api_kind *cm = api_kind_by_resource("", "v1", "configmaps");
    json_t *causes = json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueInvalid", "message",
                               "Invalid value: \"Bad_Name\": bad", "field", "metadata.name");
    _cleanup_json_ json_t *s = api_status_invalid(cm, "Bad_Name", causes);
    cr_assert(
        eq(str, (char *)kjson_path_str(s, "message"),
           "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": bad"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "details.kind"), "ConfigMap"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "details.name"), "Bad_Name"));
    cr_assert(eq(sz, json_array_size(kjson_path(s, "details.causes")), 1));
    json_int_t code = json_integer_value(json_object_get(s, "code"));
    cr_assert(eq(i64, code, 422));

    const struct api_kind *d = api_kind_by_resource("apps", "v1", "deployments");
    json_t *two =
        json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "reason", "FieldValueRequired", "message",
                  "Required value", "field", "spec.selector", "reason", "FieldValueInvalid",
                  "message", "Invalid value: 0: x", "field", "spec.replicas");
    _cleanup_json_ json_t *m = api_status_invalid(d, "web", two);
    cr_assert(eq(str, (char *)kjson_path_str(m, "message"),
                 "Deployment.apps \"web\" is invalid: [spec.selector: Required value, "
                 "spec.replicas: Invalid value: 0: x]"));
    cr_assert(eq(str, (char *)kjson_path_str(m, "details.group"), "apps"));
    cr_assert(eq(str, (char *)kjson_path_str(m, "details.kind"), "Deployment"));
}

Test(status, expired_and_success)
{
    _cleanup_json_ json_t *g = api_status_expired(5, 10);
    cr_assert(eq(str, (char *)kjson_path_str(g, "message"), "too old resource version: 5 (10)"));
    cr_assert(eq(str, (char *)kjson_path_str(g, "reason"), "Expired"));
    json_int_t code = json_integer_value(json_object_get(g, "code"));
    cr_assert(eq(i64, code, 410));
    _cleanup_json_ json_t *s = api_status_success("pods", "p");
    cr_assert(eq(str, (char *)kjson_path_str(s, "status"), "Success"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "details.name"), "p"));
    _cleanup_free_ char *q =
        api_kind_qualified_resource(api_kind_by_resource("batch", "v1", "jobs"));
    cr_assert(eq(str, q, "jobs.batch"));
}
