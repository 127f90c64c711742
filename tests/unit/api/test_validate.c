/* Unit tests for src/api/validate*.c and strict.c: Kubernetes' validation wording. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/defaults.h"
#include "api/kinds.h"
#include "api/validate.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *parse(const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(v != NULL, "%s", text);
    return v;
}

/* Validates (after defaulting, as the API server does) and returns "field: message | …". */
static char *causes_of(const char *av, const char *kind, const char *text, const char *old_text)
{
    const struct api_kind *k = api_kind_by_gvk(av, kind);
    cr_assert(k != NULL);
    _cleanup_json_ json_t *obj = parse(text);
    api_object_default(k, obj);
    _cleanup_json_ json_t *old = old_text ? parse(old_text) : NULL;
    if (old != NULL)
        api_object_default(k, old);
    _cleanup_json_ json_t *causes = api_object_validate(k, obj, old);
    struct buf b = BUF_INIT;
    buf_append_str(&b, "");
    size_t i;
    json_t *c;
    json_array_foreach (causes, i, c) {
        buf_appendf(&b, "%s%s: %s", i ? " | " : "", json_string_value(json_object_get(c, "field")),
                    json_string_value(json_object_get(c, "message")));
        const char *reason = json_string_value(json_object_get(c, "reason"));
        cr_assert(reason != NULL && strncmp(reason, "FieldValue", 10) == 0);
    }
    return buf_steal(&b);
}

#define POD(extra_spec)                                                                            \
    "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{"         \
    "\"name\":\"c\",\"image\":\"nginx\"}]" extra_spec "}}"

Test(validate, valid_objects_pass)
{
    _cleanup_free_ char *a = causes_of("v1", "Pod", POD(""), NULL);
    cr_assert(eq(str, a, ""));
    _cleanup_free_ char *b = causes_of(
        "apps/v1", "Deployment",
        "{\"metadata\":{\"name\":\"web\",\"namespace\":\"d\",\"labels\":{\"app\":\"web\"}},"
        "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{"
        "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":"
        "\"nginx:1.25\",\"ports\":[{\"containerPort\":80,\"name\":\"http\"}],\"resources\":{"
        "\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"1\"}}}]}}}}",
        NULL);
    cr_assert(eq(str, b, ""));
    _cleanup_free_ char *c = causes_of("v1", "ConfigMap",
                                       "{\"metadata\":{\"name\":\"c\",\"namespace\":\"d\"},"
                                       "\"data\":{\"a.b-c_D\":\"x\"}}",
                                       NULL);
    cr_assert(eq(str, c, ""));
    _cleanup_free_ char *s = causes_of("v1", "Service",
                                       "{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},"
                                       "\"spec\":{\"ports\":[{\"port\":80}]}}",
                                       NULL);
    cr_assert(eq(str, s, ""));
    _cleanup_free_ char *ns =
        causes_of("v1", "Namespace", "{\"metadata\":{\"name\":\"dev\"}}", NULL);
    cr_assert(eq(str, ns, ""));
}

Test(validate, metadata_names)
{
    _cleanup_free_ char *a = causes_of(
        "v1", "ConfigMap", "{\"metadata\":{\"name\":\"Bad_Name\",\"namespace\":\"d\"}}", NULL);
    cr_assert(
        eq(str, a,
           "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must "
           "consist of lower case alphanumeric characters, '-' or '.', and must start and "
           "end with an alphanumeric character (e.g. 'example.com', regex used for "
           "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
    _cleanup_free_ char *b =
        causes_of("v1", "ConfigMap", "{\"metadata\":{\"namespace\":\"d\"}}", NULL);
    cr_assert(eq(str, b, "metadata.name: Required value: name or generateName is required"));
    _cleanup_free_ char *c =
        causes_of("v1", "Namespace", "{\"metadata\":{\"name\":\"a.b\"}}", NULL);
    cr_assert(eq(str, c, "metadata.name: Invalid value: \"a.b\": must not contain dots"));
    _cleanup_free_ char *d = causes_of("v1", "Service",
                                       "{\"metadata\":{\"name\":\"1svc\",\"namespace\":\"d\"},"
                                       "\"spec\":{\"ports\":[{\"port\":80}]}}",
                                       NULL);
    cr_assert(strstr(d, "metadata.name: Invalid value: \"1svc\": a DNS-1035 label must consist") ==
                  d,
              "%s", d);
    _cleanup_free_ char *e = causes_of("v1", "ConfigMap", "{\"metadata\":{\"name\":\"c\"}}", NULL);
    cr_assert(eq(str, e, "metadata.namespace: Required value"));
    _cleanup_free_ char *f = causes_of("rbac.authorization.k8s.io/v1", "ClusterRole",
                                       "{\"metadata\":{\"name\":\"system:Admin\"}}", NULL);
    cr_assert(eq(str, f, ""));
    _cleanup_free_ char *g = causes_of("rbac.authorization.k8s.io/v1", "ClusterRole",
                                       "{\"metadata\":{\"name\":\"a/b\"}}", NULL);
    cr_assert(eq(str, g, "metadata.name: Invalid value: \"a/b\": may not contain '/'"));
    _cleanup_free_ char *h = causes_of(
        "v1", "ConfigMap", "{\"metadata\":{\"generateName\":\"web-\",\"namespace\":\"d\"}}", NULL);
    cr_assert(eq(str, h, ""));
}

Test(validate, labels_and_annotations)
{
    _cleanup_free_ char *a = causes_of("v1", "ConfigMap",
                                       "{\"metadata\":{\"name\":\"c\",\"namespace\":\"d\","
                                       "\"labels\":{\"a b\":\"x\",\"ok\":\"-bad\"}}}",
                                       NULL);
    cr_assert(strstr(a,
                     "metadata.labels: Invalid value: \"a b\": name part must consist of "
                     "alphanumeric characters, '-', '_' or '.', and must start and end with "
                     "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                     "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')") !=
                  NULL,
              "%s", a);
    cr_assert(strstr(a, "metadata.labels: Invalid value: \"-bad\": a valid label must be an empty "
                        "string") != NULL,
              "%s", a);
    char big[300000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    _cleanup_free_ char *text = xasprintf(
        "{\"metadata\":{\"name\":\"c\",\"namespace\":\"d\",\"annotations\":{\"a\":\"%s\"}}}", big);
    _cleanup_free_ char *b = causes_of("v1", "ConfigMap", text, NULL);
    cr_assert(eq(str, b, "metadata.annotations: Too long: may not be more than 262144 bytes"));
}

Test(validate, pods)
{
    _cleanup_free_ char *a = causes_of(
        "v1", "Pod", "{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},\"spec\":{}}", NULL);
    cr_assert(eq(str, a, "spec.containers: Required value"));
    _cleanup_free_ char *b =
        causes_of("v1", "Pod",
                  "{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},\"spec\":{\"restartPolicy\":"
                  "\"Sometimes\","
                  "\"containers\":[{\"name\":\"c\"},{\"name\":\"c\",\"image\":\"x\","
                  "\"imagePullPolicy\":\"Nope\","
                  "\"ports\":[{\"containerPort\":70000,\"protocol\":\"FOO\"}]}]}}",
                  NULL);
    cr_assert(strstr(b, "spec.containers[0].image: Required value") != NULL, "%s", b);
    cr_assert(strstr(b, "spec.containers[1].name: Duplicate value: \"c\"") != NULL, "%s", b);
    cr_assert(strstr(b, "spec.containers[1].imagePullPolicy: Unsupported value: \"Nope\": "
                        "supported values: \"Always\", \"IfNotPresent\", \"Never\"") != NULL,
              "%s", b);
    cr_assert(strstr(b, "spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be "
                        "between 1 and 65535, inclusive") != NULL,
              "%s", b);
    cr_assert(strstr(b, "spec.containers[1].ports[0].protocol: Unsupported value: \"FOO\": "
                        "supported values: \"SCTP\", \"TCP\", \"UDP\"") != NULL,
              "%s", b);
    cr_assert(strstr(b, "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: "
                        "\"Always\", \"OnFailure\", \"Never\"") != NULL,
              "%s", b);
    _cleanup_free_ char *c =
        causes_of("v1", "Pod", POD(",\"volumes\":[{\"name\":\"v\"},{\"name\":\"v\"}]"), NULL);
    cr_assert(eq(str, c, "spec.volumes[1].name: Duplicate value: \"v\""));
    _cleanup_free_ char *d = causes_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},\"spec\":{\"containers\":[{\"name\":"
        "\"c\",\"image\":\"x\",\"volumeMounts\":[{\"name\":\"nope\",\"mountPath\":\"/x\"}],"
        "\"resources\":{\"limits\":{\"cpu\":\"abc\"}},\"env\":[{\"name\":\"1A\"}]}]}}",
        NULL);
    cr_assert(strstr(d, "spec.containers[0].volumeMounts[0].name: Not found: \"nope\"") != NULL,
              "%s", d);
    cr_assert(strstr(d, "spec.containers[0].resources.limits[cpu]: Invalid value: \"abc\": "
                        "quantities must match the regular expression") != NULL,
              "%s", d);
    cr_assert(strstr(d, "spec.containers[0].env[0].name: Invalid value: \"1A\": a valid "
                        "environment variable name") != NULL,
              "%s", d);
    _cleanup_free_ char *e = causes_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},\"spec\":{\"containers\":[{\"name\":"
        "\"c\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":\"2\"},\"limits\":{\"cpu\":"
        "\"1\"}}}]}}",
        NULL);
    cr_assert(eq(str, e,
                 "spec.containers[0].resources.requests: Invalid value: \"2\": must be less "
                 "than or equal to cpu limit of 1"));
}

Test(validate, pod_update_rule)
{
    const char *old = POD("");
    _cleanup_free_ char *a = causes_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{"
        "\"name\":\"c\",\"image\":\"nginx:2\",\"imagePullPolicy\":\"Always\"}]}}",
        old);
    cr_assert(eq(str, a, ""));
    _cleanup_free_ char *b = causes_of("v1", "Pod", POD(",\"restartPolicy\":\"Never\""), old);
    cr_assert(strstr(b, "spec: Forbidden: pod updates may not change fields other than "
                        "`spec.containers[*].image`") == b,
              "%s", b);
    _cleanup_free_ char *c = causes_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"q\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{"
        "\"name\":\"c\",\"image\":\"nginx\"}]}}",
        old);
    cr_assert(eq(str, c, "metadata.name: Invalid value: \"q\": field is immutable"));
}

#define DEPLOY(sel, labels, extra)                                                                 \
    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"d\"},\"spec\":{" extra "\"selector\":" sel    \
    ",\"template\":{\"metadata\":{\"labels\":" labels "},\"spec\":{\"containers\":[{\"name\":"     \
    "\"c\",\"image\":\"x\"}]}}}}"

Test(validate, deployments)
{
    _cleanup_free_ char *a =
        causes_of("apps/v1", "Deployment",
                  DEPLOY("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"db\"}", ""), NULL);
    cr_assert(eq(str, a,
                 "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: "
                 "`selector` does not match template `labels`"));
    _cleanup_free_ char *b = causes_of(
        "apps/v1", "Deployment",
        "{\"metadata\":{\"name\":\"web\",\"namespace\":\"d\"},\"spec\":{\"template\":{\"spec\":{"
        "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}",
        NULL);
    cr_assert(eq(str, b, "spec.selector: Required value"));
    _cleanup_free_ char *c = causes_of(
        "apps/v1", "Deployment",
        DEPLOY("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\"}",
               "\"replicas\":-1,\"strategy\":{\"type\":\"Recreate\",\"rollingUpdate\":{}},"),
        NULL);
    cr_assert(strstr(c, "spec.replicas: Invalid value: -1: must be greater than or equal to 0") !=
                  NULL,
              "%s", c);
    cr_assert(strstr(c, "spec.strategy.rollingUpdate: Forbidden: may not be specified when "
                        "strategy `type` is 'Recreate'") != NULL,
              "%s", c);
    _cleanup_free_ char *d =
        causes_of("apps/v1", "Deployment",
                  DEPLOY("{\"matchLabels\":{\"app\":\"web2\"}}", "{\"app\":\"web2\"}", ""),
                  DEPLOY("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\"}", ""));
    cr_assert(strstr(d, "spec.selector: Invalid value: ") == d, "%s", d);
    cr_assert(strstr(d, "field is immutable") != NULL, "%s", d);
    _cleanup_free_ char *e = causes_of(
        "apps/v1", "Deployment",
        "{\"metadata\":{\"name\":\"web\",\"namespace\":\"d\"},\"spec\":{\"selector\":{"
        "\"matchLabels\":"
        "{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{"
        "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}",
        NULL);
    cr_assert(eq(str, e,
                 "spec.template.spec.restartPolicy: Unsupported value: \"Never\": "
                 "supported values: \"Always\""));
}

Test(validate, jobs_and_cronjobs)
{
    _cleanup_free_ char *a = causes_of(
        "batch/v1", "Job",
        "{\"metadata\":{\"name\":\"j\",\"namespace\":\"d\",\"uid\":\"u\"},\"spec\":{\"template\":{"
        "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}",
        NULL);
    cr_assert(eq(str, a,
                 "spec.template.spec.restartPolicy: Unsupported value: \"Always\": "
                 "supported values: \"OnFailure\", \"Never\""));
    _cleanup_free_ char *b = causes_of(
        "batch/v1", "CronJob",
        "{\"metadata\":{\"name\":\"cj\",\"namespace\":\"d\"},\"spec\":{\"schedule\":\"bad\","
        "\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
        "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}}}",
        NULL);
    cr_assert(eq(str, b,
                 "spec.schedule: Invalid value: \"bad\": expected exactly 5 fields, found 1: bad"));
    _cleanup_free_ char *c = causes_of(
        "batch/v1", "CronJob",
        "{\"metadata\":{\"name\":\"cj\",\"namespace\":\"d\"},\"spec\":{\"schedule\":\"*/5 * * * "
        "MON-FRI\",\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
        "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}}}",
        NULL);
    cr_assert(eq(str, c, ""));
}

Test(validate, services_configmaps_secrets)
{
    _cleanup_free_ char *a = causes_of(
        "v1", "Service",
        "{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"spec\":{\"type\":\"Foo\",\"ports\":["
        "{\"port\":80},{\"port\":0,\"name\":\"b\"}]}}",
        NULL);
    cr_assert(strstr(a, "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", "
                        "\"ExternalName\", \"LoadBalancer\", \"NodePort\"") != NULL,
              "%s", a);
    cr_assert(strstr(a, "spec.ports[0].name: Required value") != NULL, "%s", a);
    cr_assert(strstr(a, "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, "
                        "inclusive") != NULL,
              "%s", a);
    _cleanup_free_ char *b = causes_of(
        "v1", "Service",
        "{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"spec\":{\"clusterIP\":\"10.0.0.2\","
        "\"ports\":[{\"port\":80}]}}",
        "{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"spec\":{\"clusterIP\":\"10.0.0.1\","
        "\"ports\":[{\"port\":80}]}}");
    cr_assert(eq(str, b, "spec.clusterIP: Invalid value: \"10.0.0.2\": field is immutable"));
    _cleanup_free_ char *c = causes_of(
        "v1", "ConfigMap",
        "{\"metadata\":{\"name\":\"c\",\"namespace\":\"d\"},\"data\":{\"a b\":\"x\"}}", NULL);
    cr_assert(strstr(c, "data[a b]: Invalid value: \"a b\": a valid config key must consist of "
                        "alphanumeric characters") == c,
              "%s", c);
    const char *imm = "{\"metadata\":{\"name\":\"c\",\"namespace\":\"d\"},\"immutable\":true,"
                      "\"data\":{\"a\":\"x\"}}";
    _cleanup_free_ char *d = causes_of("v1", "ConfigMap",
                                       "{\"metadata\":{\"name\":\"c\",\"namespace\":\"d\"},"
                                       "\"immutable\":true,\"data\":{\"a\":\"y\"}}",
                                       imm);
    cr_assert(eq(str, d, "data: Forbidden: field is immutable when `immutable` is set"));
    _cleanup_free_ char *e = causes_of(
        "v1", "Secret",
        "{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"type\":\"kubernetes.io/tls\","
        "\"data\":{\"x\":\"not base64!\"}}",
        NULL);
    cr_assert(strstr(e, "data[x]: Invalid value: \"not base64!\": illegal base64 data") != NULL,
              "%s", e);
    cr_assert(strstr(e, "data[tls.crt]: Required value") != NULL, "%s", e);
}

Test(validate, rbac_hpa_priorityclass)
{
    _cleanup_free_ char *a = causes_of(
        "rbac.authorization.k8s.io/v1", "RoleBinding",
        "{\"metadata\":{\"name\":\"rb\",\"namespace\":\"d\"},\"roleRef\":{\"kind\":\"Foo\","
        "\"name\":\"r\",\"apiGroup\":\"rbac.authorization.k8s.io\"},\"subjects\":[{\"kind\":"
        "\"User\"}]}",
        NULL);
    cr_assert(strstr(a, "roleRef.kind: Unsupported value: \"Foo\": supported values: \"Role\", "
                        "\"ClusterRole\"") != NULL,
              "%s", a);
    cr_assert(strstr(a, "subjects[0].name: Required value") != NULL, "%s", a);
    _cleanup_free_ char *b = causes_of(
        "autoscaling/v2", "HorizontalPodAutoscaler",
        "{\"metadata\":{\"name\":\"h\",\"namespace\":\"d\"},\"spec\":{\"scaleTargetRef\":{"
        "\"kind\":\"Deployment\",\"name\":\"web\"},\"minReplicas\":5,\"maxReplicas\":2}}",
        NULL);
    cr_assert(eq(str, b,
                 "spec.minReplicas: Invalid value: 5: must be less than or equal to "
                 "maxReplicas"));
    _cleanup_free_ char *c = causes_of("scheduling.k8s.io/v1", "PriorityClass",
                                       "{\"metadata\":{\"name\":\"high\"},\"value\":1000}",
                                       "{\"metadata\":{\"name\":\"high\"},\"value\":10}");
    cr_assert(eq(str, c, "value: Forbidden: may not be changed in an update."));
}

Test(validate, unknown_fields)
{
    const struct api_kind *d = api_kind_by_gvk("apps/v1", "Deployment");
    _cleanup_json_ json_t *obj = parse(
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"w\","
        "\"labels\":{\"any\":\"thing\"}},\"spec\":{\"foo\":1,\"replicas\":1,\"template\":{"
        "\"spec\":{\"containers\":[{\"name\":\"c\",\"imagee\":\"x\",\"resources\":{\"limits\":"
        "{\"cpu\":1}}}]}}},\"status\":{}}");
    _cleanup_json_ json_t *u = api_object_unknown_fields(d, obj);
    cr_assert(u != NULL);
    _cleanup_free_ char *text = kjson_dumps(u);
    cr_assert(eq(str, text, "[\"spec.foo\",\"spec.template.spec.containers[0].imagee\"]"));
    _cleanup_json_ json_t *ok = parse("{\"metadata\":{\"name\":\"x\"},\"data\":{\"k\":\"v\"}}");
    cr_assert(api_object_unknown_fields(api_kind_by_gvk("v1", "ConfigMap"), ok) == NULL);
}

Test(validate, type_errors)
{
    const struct api_kind *d = api_kind_by_gvk("apps/v1", "Deployment");
    _cleanup_json_ json_t *a = parse("{\"spec\":{\"replicas\":\"3\"}}");
    _cleanup_free_ char *ea = api_object_type_error(d, a);
    cr_assert(eq(str, ea,
                 "json: cannot unmarshal string into Go struct field "
                 "DeploymentSpec.spec.replicas of type int32"));
    _cleanup_json_ json_t *b = parse("{\"metadata\":{\"name\":5}}");
    _cleanup_free_ char *eb = api_object_type_error(d, b);
    cr_assert(eq(str, eb,
                 "json: cannot unmarshal number into Go struct field "
                 "ObjectMeta.metadata.name of type string"));
    _cleanup_json_ json_t *c = parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":{}}}}}");
    _cleanup_free_ char *ec = api_object_type_error(d, c);
    cr_assert(eq(str, ec,
                 "json: cannot unmarshal object into Go struct field "
                 "PodSpec.spec.template.spec.containers of type []v1.Container"));
    _cleanup_json_ json_t *ok = parse(
        "{\"spec\":{\"replicas\":null,\"template\":{\"spec\":{\"containers\":[{\"ports\":[{"
        "\"containerPort\":80}],\"resources\":{\"limits\":{\"cpu\":1,\"memory\":\"1Gi\"}}}]}}}}");
    cr_assert(api_object_type_error(d, ok) == NULL);
}

Test(validate, events_and_leases)
{
    _cleanup_free_ char *a = causes_of(
        "v1", "Event",
        "{\"metadata\":{\"name\":\"p.1\",\"namespace\":\"d\"},\"involvedObject\":{\"kind\":\"Pod\","
        "\"name\":\"p\",\"namespace\":\"other\"},\"reason\":\"Started\"}",
        NULL);
    cr_assert(eq(str, a,
                 "involvedObject.namespace: Invalid value: \"other\": does not match "
                 "event.namespace"));
    _cleanup_free_ char *b = causes_of(
        "v1", "Event",
        "{\"metadata\":{\"name\":\"n.1\",\"namespace\":\"default\"},\"involvedObject\":{\"kind\":"
        "\"Node\",\"name\":\"n\"},\"reason\":\"Ready\"}",
        NULL);
    cr_assert(eq(str, b, ""));
    _cleanup_free_ char *c = causes_of(
        "events.k8s.io/v1", "Event",
        "{\"metadata\":{\"name\":\"e\",\"namespace\":\"d\"},\"regarding\":{\"kind\":\"Pod\","
        "\"name\":\"p\",\"namespace\":\"d\"},\"type\":\"Odd\"}",
        NULL);
    cr_assert(strstr(c, "reportingController: Required value") != NULL, "%s", c);
    cr_assert(strstr(c, "eventTime: Required value") != NULL, "%s", c);
    cr_assert(strstr(c, "action: Required value") != NULL, "%s", c);
    cr_assert(strstr(c, "type: Invalid value: \"\": has invalid value: Odd") != NULL, "%s", c);
    _cleanup_free_ char *d = causes_of(
        "events.k8s.io/v1", "Event",
        "{\"metadata\":{\"name\":\"e\",\"namespace\":\"d\"},\"regarding\":{\"kind\":\"Pod\","
        "\"name\":\"p\",\"namespace\":\"d\"},\"type\":\"Normal\",\"eventTime\":"
        "\"2026-01-01T00:00:00.000000Z\",\"reportingController\":\"k8c.io/scheduler\","
        "\"reportingInstance\":\"s-1\",\"action\":\"Binding\",\"reason\":\"Scheduled\"}",
        NULL);
    cr_assert(eq(str, d, ""));
    _cleanup_free_ char *e =
        causes_of("coordination.k8s.io/v1", "Lease",
                  "{\"metadata\":{\"name\":\"n1\",\"namespace\":\"kube-node-lease\"},\"spec\":{"
                  "\"leaseDurationSeconds\":0}}",
                  NULL);
    cr_assert(eq(str, e, "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"));
}

Test(validate, map_values_print_sorted_like_go)
{
    _cleanup_free_ char *a = causes_of(
        "apps/v1", "Deployment",
        DEPLOY("{\"matchLabels\":{\"app\":\"web\"}}", "{\"b\":\"2\",\"a\":\"1\"}", ""), NULL);
    cr_assert(eq(str, a,
                 "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"1\", "
                 "\"b\":\"2\"}: `selector` does not match template `labels`"));
}
