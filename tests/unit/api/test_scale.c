/* Unit tests for src/api/scale.c: the autoscaling/v1 Scale subresource. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "api/scale.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *parse(const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(v != NULL, "%s", text);
    return v;
}

Test(scale, from_deployment_and_rc)
{
    const struct api_kind *d = api_kind_by_gvk("apps/v1", "Deployment");
    _cleanup_json_ json_t *dep = parse(
        "{\"metadata\":{\"name\":\"web\",\"namespace\":\"d\",\"uid\":\"u\",\"resourceVersion\":"
        "\"9\",\"labels\":{\"x\":\"y\"}},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{"
        "\"app\":\"web\"}}},\"status\":{\"replicas\":2}}");
    _cleanup_json_ json_t *s = api_scale_from_object(d, dep);
    _cleanup_free_ char *text = kjson_dumps(s);
    cr_assert(eq(str, text,
                 "{\"kind\":\"Scale\",\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":"
                 "\"web\",\"namespace\":\"d\",\"uid\":\"u\",\"resourceVersion\":\"9\"},\"spec\":{"
                 "\"replicas\":3},\"status\":{\"replicas\":2,\"selector\":\"app=web\"}}"));
    const struct api_kind *rc = api_kind_by_gvk("v1", "ReplicationController");
    _cleanup_json_ json_t *r = parse("{\"metadata\":{\"name\":\"r\"},\"spec\":{\"replicas\":1,"
                                     "\"selector\":{\"b\":\"2\",\"a\":\"1\"}}}");
    _cleanup_json_ json_t *rs = api_scale_from_object(rc, r);
    cr_assert(eq(str, (char *)kjson_path_str(rs, "status.selector"), "a=1,b=2"));
    cr_assert(api_scale_from_object(api_kind_by_gvk("v1", "Pod"), r) == NULL);
}

Test(scale, apply)
{
    const struct api_kind *d = api_kind_by_gvk("apps/v1", "Deployment");
    _cleanup_json_ json_t *dep =
        parse("{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":3}}");
    _cleanup_json_ json_t *ok =
        parse("{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":5}}");
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, api_scale_apply(d, dep, ok, NULL, &err), 0));
    json_int_t n = json_integer_value(kjson_path(dep, "spec.replicas"));
    cr_assert(eq(i64, n, 5));
    _cleanup_json_ json_t *neg = parse("{\"spec\":{\"replicas\":-1}}");
    _cleanup_json_ json_t *causes = NULL;
    cr_assert(eq(int, api_scale_apply(d, dep, neg, &causes, &err), -1));
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    json_t *c = json_array_get(causes, 0);
    cr_assert(eq(str, (char *)kjson_path_str(c, "message"),
                 "Invalid value: -1: must be greater than or equal to 0"));
    cr_assert(eq(str, (char *)kjson_path_str(c, "field"), "spec.replicas"));
    _cleanup_json_ json_t *other =
        parse("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"replicas\":1}}");
    cr_assert(eq(int, api_scale_apply(d, dep, other, NULL, &err), -1));
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    _cleanup_json_ json_t *wrong = parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Scale\"}");
    cr_assert(eq(int, api_scale_apply(d, dep, wrong, NULL, &err), -1));
    n = json_integer_value(kjson_path(dep, "spec.replicas"));
    cr_assert(eq(i64, n, 5));
}
