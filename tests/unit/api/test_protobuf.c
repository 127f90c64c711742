/* Unit tests for src/api/protobuf.c against bodies captured from kubectl 1.32 (the files in
 * tests/fuzz/corpus/api_protobuf; tests run from the repository root) and hand-made ones. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "api/protobuf.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"

#define CORPUS "tests/fuzz/corpus/api_protobuf/"

static char *decode_file(const char *name, const struct api_kind *expected)
{
    _cleanup_free_ char *path = xasprintf(CORPUS "%s", name);
    _cleanup_err_ struct k8c_err *err = NULL;
    size_t len = 0;
    _cleanup_free_ char *data = file_read_all(path, 1 << 20, &len, &err);
    cr_assert(data != NULL, "%s", err ? err->msg : path);
    _cleanup_json_ json_t *obj = api_protobuf_decode(data, len, expected, &err);
    cr_assert(obj != NULL, "%s: %s", name, err ? err->msg : "");
    return kjson_dumps(obj);
}

Test(protobuf, kubectl_create_configmap_55_bytes)
{
    _cleanup_free_ char *a =
        decode_file("configmap.bin", api_kind_by_resource("", "v1", "configmaps"));
    cr_assert(eq(str, a,
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\"},"
                 "\"data\":{\"a\":\"b\"}}"));
    _cleanup_free_ char *b = decode_file("configmap-in-namespace.bin", NULL);
    cr_assert(strstr(b, "\"namespace\":\"other\"") != NULL, "%s", b);
}

Test(protobuf, secrets_are_base64)
{
    _cleanup_free_ char *a = decode_file("secret.bin", api_kind_by_gvk("v1", "Secret"));
    cr_assert(eq(str, a,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\"},"
                 "\"data\":{\"pw\":\"c2VjcmV0\",\"user\":\"YWRtaW4=\"}}"));
    _cleanup_free_ char *b = decode_file("secret-dockerconfigjson.bin", NULL);
    cr_assert(strstr(b, "\"type\":\"kubernetes.io/dockerconfigjson\"") != NULL, "%s", b);
}

Test(protobuf, deployment_service_job)
{
    _cleanup_free_ char *d =
        decode_file("deployment.bin", api_kind_by_gvk("apps/v1", "Deployment"));
    cr_assert(eq(str, d,
                 "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
                 "\"web\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":3,\"selector\":{"
                 "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{"
                 "\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":"
                 "\"nginx:1.25\",\"ports\":[{\"containerPort\":80}],\"resources\":{}}]}},"
                 "\"strategy\":{}}}"));
    _cleanup_free_ char *s = decode_file("service-nodeport.bin", NULL);
    cr_assert(strstr(s, "\"ports\":[{\"name\":\"443-8443\",\"protocol\":\"TCP\",\"port\":443,"
                        "\"targetPort\":8443,\"nodePort\":30443}]") != NULL,
              "%s", s);
    cr_assert(strstr(s, "\"type\":\"NodePort\"") != NULL, "%s", s);
    _cleanup_free_ char *j = decode_file("job-from-cronjob.bin", NULL);
    cr_assert(strstr(j, "\"ownerReferences\":[{\"kind\":\"CronJob\",\"name\":\"cj1\",\"uid\":"
                        "\"11111111-2222-3333-4444-555555555555\",\"apiVersion\":\"batch/v1\","
                        "\"controller\":true}]") != NULL,
              "%s", j);
    cr_assert(strstr(j, "\"command\":[\"echo\",\"hi\"]") != NULL, "%s", j);
    cr_assert(strstr(j, "\"restartPolicy\":\"Never\"") != NULL, "%s", j);
}

Test(protobuf, token_request_and_access_review)
{
    _cleanup_free_ char *t = decode_file("tokenrequest.bin", NULL);
    cr_assert(eq(str, t,
                 "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                 "\"metadata\":{},\"spec\":{\"expirationSeconds\":3600}}"));
    _cleanup_free_ char *r = decode_file("selfsubjectaccessreview.bin", NULL);
    cr_assert(strstr(r, "\"resourceAttributes\":{\"namespace\":\"default\",\"verb\":\"get\","
                        "\"resource\":\"pods\"}") != NULL,
              "%s", r);
    _cleanup_free_ char *n = decode_file("namespace.bin", NULL);
    cr_assert(eq(str, n,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                 "\"ns1\"},\"spec\":{}}"));
}

/* Builds "k8s\0" + Unknown{typeMeta{av, kind}, raw}. */
static size_t make_body(uint8_t *out, const char *av, const char *kind, const uint8_t *raw,
                        size_t raw_len)
{
    size_t n = 0;
    memcpy(out, "k8s", 4);
    n = 4;
    size_t avl = strlen(av), kl = strlen(kind);
    out[n++] = 0x0a;
    out[n++] = (uint8_t)(avl + kl + 4);
    out[n++] = 0x0a;
    out[n++] = (uint8_t)avl;
    memcpy(out + n, av, avl);
    n += avl;
    out[n++] = 0x12;
    out[n++] = (uint8_t)kl;
    memcpy(out + n, kind, kl);
    n += kl;
    out[n++] = 0x12;
    out[n++] = (uint8_t)raw_len;
    memcpy(out + n, raw, raw_len);
    return n + raw_len;
}

Test(protobuf, bad_bodies)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(api_protobuf_decode("{\"a\":1}", 7, NULL, &err) == NULL);
    cr_assert(eq(str, err->msg,
                 "provided data does not appear to be a protobuf message, expected prefix "
                 "[107 56 115 0]"));
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    uint8_t body[256];
    /* A kind kubectl never sends as protobuf. */
    size_t n = make_body(body, "v1", "Pod", (const uint8_t *)"", 0);
    cr_assert(api_protobuf_decode(body, n, NULL, &err) == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_UNSUPPORTED_MEDIA_TYPE));
    /* Kind differs from the URL's. */
    n = make_body(body, "v1", "ConfigMap", (const uint8_t *)"", 0);
    cr_assert(api_protobuf_decode(body, n, api_kind_by_gvk("v1", "Secret"), &err) == NULL);
    cr_assert(strstr(err->msg, "ConfigMap in version \"v1\" cannot be handled as a Secret") != NULL,
              "%s", err->msg);
    n = make_body(body, "apps/v1", "ConfigMap", (const uint8_t *)"", 0);
    cr_assert(api_protobuf_decode(body, n, api_kind_by_gvk("v1", "ConfigMap"), &err) == NULL);
    cr_assert(strstr(err->msg, "the API version in the data (apps/v1)") != NULL, "%s", err->msg);
    /* Truncated raw: metadata says 10 bytes, 2 present. */
    const uint8_t trunc[] = {0x0a, 0x0a, 0x0a, 0x01};
    n = make_body(body, "v1", "ConfigMap", trunc, sizeof(trunc));
    cr_assert(api_protobuf_decode(body, n, NULL, &err) == NULL);
    cr_assert(strstr(err->msg, "malformed protobuf body") != NULL, "%s", err->msg);
    /* Wrong wire type for a string field. */
    const uint8_t wire[] = {0x0a, 0x02, 0x08, 0x01};
    n = make_body(body, "v1", "ConfigMap", wire, sizeof(wire));
    cr_assert(api_protobuf_decode(body, n, NULL, &err) == NULL);
    cr_assert(strstr(err->msg, "field name has wire type 0") != NULL, "%s", err->msg);
    /* Invalid UTF-8 in a name. */
    const uint8_t utf[] = {0x0a, 0x03, 0x0a, 0x01, 0xff};
    n = make_body(body, "v1", "ConfigMap", utf, sizeof(utf));
    cr_assert(api_protobuf_decode(body, n, NULL, &err) == NULL);
    /* Overlong varint. */
    const uint8_t var[] = {0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    n = make_body(body, "v1", "ConfigMap", var, sizeof(var));
    cr_assert(api_protobuf_decode(body, n, NULL, &err) == NULL);
    /* Missing kind. */
    cr_assert(api_protobuf_decode("k8s\0", 4, NULL, &err) == NULL);
    cr_assert(strstr(err->msg, "Kind") != NULL, "%s", err->msg);
}

Test(protobuf, zero_values_and_intorstring)
{
    /* Deployment spec: replicas 0 (optional: kept), minReadySeconds 0 (dropped),
     * strategy.rollingUpdate.maxSurge "30%" (IntOrString string), paused false (dropped). */
    const uint8_t raw[] = {
        0x12, 0x12,           /* spec, 18 bytes */
        0x08, 0x00,           /* replicas 0 */
        0x28, 0x00,           /* minReadySeconds 0 */
        0x38, 0x00,           /* paused false */
        0x22, 0x0a,           /* strategy, 10 bytes */
        0x12, 0x08,           /* rollingUpdate, 8 bytes */
        0x12, 0x06,           /* maxSurge, 6 bytes */
        0x08, 0x01,           /* type string */
        0x1a, 0x02, '3', '%', /* strVal "3%" */
    };
    uint8_t body[128];
    size_t n = make_body(body, "apps/v1", "Deployment", raw, sizeof(raw));
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *obj = api_protobuf_decode(body, n, NULL, &err);
    cr_assert(obj != NULL, "%s", err ? err->msg : "");
    _cleanup_free_ char *text = kjson_dumps(json_object_get(obj, "spec"));
    cr_assert(
        eq(str, text, "{\"replicas\":0,\"strategy\":{\"rollingUpdate\":{\"maxSurge\":\"3%\"}}}"));
}
