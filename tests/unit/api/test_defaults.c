/* Unit tests for src/api/defaults.c: Kubernetes' defaults per kind. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/defaults.h"
#include "api/kinds.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *defaulted(const char *av, const char *kind, const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(v != NULL, "%s", text);
    const struct api_kind *k = api_kind_by_gvk(av, kind);
    cr_assert(k != NULL);
    api_object_default(k, v);
    /* Idempotent. */
    json_t *again = json_deep_copy(v);
    api_object_default(k, again);
    cr_assert(json_equal(v, again));
    json_decref(again);
    return v;
}

static json_int_t int_at(const json_t *v, const char *path)
{
    json_t *x = kjson_path(v, path);
    cr_assert(false != json_is_integer(x), "%s", path);
    return json_integer_value(x);
}

Test(defaults, image_pull_policy)
{
    cr_assert(eq(str, (char *)api_image_pull_policy("nginx"), "Always"));
    cr_assert(eq(str, (char *)api_image_pull_policy("nginx:latest"), "Always"));
    cr_assert(eq(str, (char *)api_image_pull_policy("nginx:1.25"), "IfNotPresent"));
    cr_assert(eq(str, (char *)api_image_pull_policy("localhost:5000/nginx"), "Always"));
    cr_assert(eq(str, (char *)api_image_pull_policy("localhost:5000/nginx:v1"), "IfNotPresent"));
    cr_assert(eq(str, (char *)api_image_pull_policy("nginx@sha256:abcd"), "IfNotPresent"));
}

Test(defaults, pod)
{
    _cleanup_json_ json_t *p = defaulted(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
        "\"nginx:1.25\",\"ports\":[{\"containerPort\":80}],\"resources\":{\"limits\":{\"cpu\":"
        "\"1\"}},\"livenessProbe\":{\"httpGet\":{\"port\":80}},\"env\":[{\"name\":\"A\","
        "\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}]}],\"volumes\":[{"
        "\"name\":\"v\"},{\"name\":\"s\",\"secret\":{\"secretName\":\"x\"}}]}}");
    cr_assert(eq(str, (char *)kjson_path_str(p, "spec.restartPolicy"), "Always"));
    cr_assert(eq(str, (char *)kjson_path_str(p, "spec.dnsPolicy"), "ClusterFirst"));
    cr_assert(eq(str, (char *)kjson_path_str(p, "spec.schedulerName"), "default-scheduler"));
    cr_assert(eq(str, (char *)kjson_path_str(p, "spec.serviceAccountName"), "default"));
    cr_assert(eq(str, (char *)kjson_path_str(p, "spec.serviceAccount"), "default"));
    cr_assert(eq(str, (char *)kjson_path_str(p, "spec.preemptionPolicy"), "PreemptLowerPriority"));
    cr_assert(eq(i64, int_at(p, "spec.terminationGracePeriodSeconds"), 30));
    cr_assert(eq(i64, int_at(p, "spec.priority"), 0));
    cr_assert(false != json_is_true(kjson_path(p, "spec.enableServiceLinks")));
    cr_assert(false != json_is_object(kjson_path(p, "spec.securityContext")));
    json_t *c = json_array_get(kjson_path(p, "spec.containers"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(c, "imagePullPolicy"), "IfNotPresent"));
    cr_assert(eq(str, (char *)kjson_path_str(c, "terminationMessagePath"), "/dev/termination-log"));
    cr_assert(eq(str, (char *)kjson_path_str(c, "terminationMessagePolicy"), "File"));
    cr_assert(eq(str, (char *)kjson_path_str(c, "resources.requests.cpu"), "1"));
    cr_assert(eq(str, (char *)kjson_path_str(c, "livenessProbe.httpGet.path"), "/"));
    cr_assert(eq(str, (char *)kjson_path_str(c, "livenessProbe.httpGet.scheme"), "HTTP"));
    cr_assert(eq(i64, int_at(c, "livenessProbe.periodSeconds"), 10));
    cr_assert(eq(i64, int_at(c, "livenessProbe.failureThreshold"), 3));
    json_t *port = json_array_get(json_object_get(c, "ports"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(port, "protocol"), "TCP"));
    json_t *env = json_array_get(json_object_get(c, "env"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(env, "valueFrom.fieldRef.apiVersion"), "v1"));
    json_t *v0 = json_array_get(kjson_path(p, "spec.volumes"), 0);
    cr_assert(false != json_is_object(json_object_get(v0, "emptyDir")));
    json_t *v1 = json_array_get(kjson_path(p, "spec.volumes"), 1);
    cr_assert(eq(i64, int_at(v1, "secret.defaultMode"), 420));
    json_t *tols = kjson_path(p, "spec.tolerations");
    cr_assert(eq(sz, json_array_size(tols), 2));
    cr_assert(eq(str, (char *)kjson_path_str(json_array_get(tols, 0), "key"),
                 "node.kubernetes.io/not-ready"));
    cr_assert(eq(i64, int_at(json_array_get(tols, 1), "tolerationSeconds"), 300));
}

Test(defaults, pod_keeps_what_is_set)
{
    _cleanup_json_ json_t *p =
        defaulted("v1", "Pod",
                  "{\"spec\":{\"restartPolicy\":\"Never\",\"terminationGracePeriodSeconds\":0,"
                  "\"tolerations\":[{\"operator\":\"Exists\"}],\"containers\":[{\"name\":\"c\","
                  "\"image\":\"busybox\"}]}}");
    cr_assert(eq(str, (char *)kjson_path_str(p, "spec.restartPolicy"), "Never"));
    cr_assert(eq(i64, int_at(p, "spec.terminationGracePeriodSeconds"), 0));
    cr_assert(eq(sz, json_array_size(kjson_path(p, "spec.tolerations")), 1));
    json_t *c = json_array_get(kjson_path(p, "spec.containers"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(c, "imagePullPolicy"), "Always"));
    cr_assert(false != json_is_object(json_object_get(c, "resources")));
}

Test(defaults, deployment_template_is_not_a_pod)
{
    _cleanup_json_ json_t *d = defaulted(
        "apps/v1", "Deployment",
        "{\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{"
        "\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
        "\"nginx\"}]}}}}");
    cr_assert(eq(i64, int_at(d, "spec.replicas"), 1));
    cr_assert(eq(str, (char *)kjson_path_str(d, "spec.strategy.type"), "RollingUpdate"));
    cr_assert(eq(str, (char *)kjson_path_str(d, "spec.strategy.rollingUpdate.maxSurge"), "25%"));
    cr_assert(
        eq(str, (char *)kjson_path_str(d, "spec.strategy.rollingUpdate.maxUnavailable"), "25%"));
    cr_assert(eq(i64, int_at(d, "spec.revisionHistoryLimit"), 10));
    cr_assert(eq(i64, int_at(d, "spec.progressDeadlineSeconds"), 600));
    cr_assert(eq(str, (char *)kjson_path_str(d, "spec.template.spec.restartPolicy"), "Always"));
    cr_assert(kjson_path(d, "spec.template.spec.tolerations") == NULL);
    cr_assert(kjson_path(d, "spec.template.spec.enableServiceLinks") == NULL);
    cr_assert(kjson_path(d, "spec.template.spec.serviceAccountName") == NULL);

    _cleanup_json_ json_t *r =
        defaulted("apps/v1", "Deployment", "{\"spec\":{\"strategy\":{\"type\":\"Recreate\"}}}");
    cr_assert(kjson_path(r, "spec.strategy.rollingUpdate") == NULL);
}

Test(defaults, other_workloads)
{
    _cleanup_json_ json_t *s = defaulted("apps/v1", "StatefulSet", "{\"spec\":{}}");
    cr_assert(eq(str, (char *)kjson_path_str(s, "spec.podManagementPolicy"), "OrderedReady"));
    cr_assert(eq(i64, int_at(s, "spec.updateStrategy.rollingUpdate.partition"), 0));
    cr_assert(eq(str,
                 (char *)kjson_path_str(s, "spec.persistentVolumeClaimRetentionPolicy.whenDeleted"),
                 "Retain"));
    _cleanup_json_ json_t *ds = defaulted("apps/v1", "DaemonSet", "{\"spec\":{}}");
    cr_assert(eq(i64, int_at(ds, "spec.updateStrategy.rollingUpdate.maxUnavailable"), 1));
    _cleanup_json_ json_t *rs = defaulted("apps/v1", "ReplicaSet", "{\"spec\":{}}");
    cr_assert(eq(i64, int_at(rs, "spec.replicas"), 1));
    _cleanup_json_ json_t *j = defaulted(
        "batch/v1", "Job",
        "{\"metadata\":{\"name\":\"j\",\"uid\":\"u-1\"},\"spec\":{\"template\":{\"spec\":{"
        "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}");
    cr_assert(eq(i64, int_at(j, "spec.completions"), 1));
    cr_assert(eq(i64, int_at(j, "spec.parallelism"), 1));
    cr_assert(eq(i64, int_at(j, "spec.backoffLimit"), 6));
    cr_assert(eq(str, (char *)kjson_path_str(j, "spec.completionMode"), "NonIndexed"));
    cr_assert(
        eq(str, (char *)kjson_path_str(j, "spec.podReplacementPolicy"), "TerminatingOrFailed"));
    json_t *ml = kjson_path(j, "spec.selector.matchLabels");
    cr_assert(eq(
        str, (char *)json_string_value(json_object_get(ml, "batch.kubernetes.io/controller-uid")),
        "u-1"));
    json_t *tl = kjson_path(j, "spec.template.metadata.labels");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(tl, "job-name")), "j"));
    cr_assert(eq(str, (char *)kjson_path_str(j, "spec.template.spec.restartPolicy"), "Never"));
    _cleanup_json_ json_t *cj =
        defaulted("batch/v1", "CronJob",
                  "{\"spec\":{\"schedule\":\"* * * * *\",\"jobTemplate\":{\"spec\":{\"template\":{"
                  "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]}}}}}}");
    cr_assert(eq(str, (char *)kjson_path_str(cj, "spec.concurrencyPolicy"), "Allow"));
    cr_assert(eq(i64, int_at(cj, "spec.successfulJobsHistoryLimit"), 3));
    cr_assert(eq(i64, int_at(cj, "spec.failedJobsHistoryLimit"), 1));
    cr_assert(kjson_path(cj, "spec.jobTemplate.spec.backoffLimit") == NULL);
    cr_assert(eq(str, (char *)kjson_path_str(cj, "spec.jobTemplate.spec.template.spec.dnsPolicy"),
                 "ClusterFirst"));
}

Test(defaults, service_namespace_secret_misc)
{
    _cleanup_json_ json_t *s =
        defaulted("v1", "Service",
                  "{\"spec\":{\"ports\":[{\"port\":80},{\"port\":81,\"targetPort\":\"web\"}]}}");
    cr_assert(eq(str, (char *)kjson_path_str(s, "spec.type"), "ClusterIP"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "spec.sessionAffinity"), "None"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "spec.internalTrafficPolicy"), "Cluster"));
    cr_assert(eq(str, (char *)kjson_path_str(s, "spec.ipFamilyPolicy"), "SingleStack"));
    json_t *p0 = json_array_get(kjson_path(s, "spec.ports"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(p0, "protocol"), "TCP"));
    cr_assert(eq(i64, int_at(p0, "targetPort"), 80));
    json_t *p1 = json_array_get(kjson_path(s, "spec.ports"), 1);
    cr_assert(eq(str, (char *)kjson_path_str(p1, "targetPort"), "web"));
    _cleanup_json_ json_t *np = defaulted("v1", "Service", "{\"spec\":{\"type\":\"NodePort\"}}");
    cr_assert(eq(str, (char *)kjson_path_str(np, "spec.externalTrafficPolicy"), "Cluster"));
    _cleanup_json_ json_t *en =
        defaulted("v1", "Service", "{\"spec\":{\"type\":\"ExternalName\"}}");
    cr_assert(kjson_path(en, "spec.ipFamilies") == NULL);

    _cleanup_json_ json_t *ns = defaulted("v1", "Namespace", "{\"metadata\":{\"name\":\"n1\"}}");
    cr_assert(eq(str,
                 (char *)json_string_value(json_array_get(kjson_path(ns, "spec.finalizers"), 0)),
                 "kubernetes"));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(kjson_path(ns, "metadata.labels"),
                                                           "kubernetes.io/metadata.name")),
                 "n1"));
    cr_assert(eq(str, (char *)kjson_path_str(ns, "status.phase"), "Active"));
    _cleanup_json_ json_t *sec = defaulted("v1", "Secret", "{}");
    cr_assert(eq(str, (char *)kjson_path_str(sec, "type"), "Opaque"));
    _cleanup_json_ json_t *pc = defaulted("scheduling.k8s.io/v1", "PriorityClass", "{\"value\":5}");
    cr_assert(eq(str, (char *)kjson_path_str(pc, "preemptionPolicy"), "PreemptLowerPriority"));
    _cleanup_json_ json_t *rb = defaulted("rbac.authorization.k8s.io/v1", "RoleBinding",
                                          "{\"subjects\":[{\"kind\":\"User\",\"name\":\"u\"}]}");
    cr_assert(eq(
        str, (char *)kjson_path_str(json_array_get(json_object_get(rb, "subjects"), 0), "apiGroup"),
        "rbac.authorization.k8s.io"));
    _cleanup_json_ json_t *hpa =
        defaulted("autoscaling/v2", "HorizontalPodAutoscaler", "{\"spec\":{}}");
    cr_assert(eq(i64, int_at(hpa, "spec.minReplicas"), 1));
    cr_assert(eq(sz, json_array_size(kjson_path(hpa, "spec.metrics")), 1));
    _cleanup_json_ json_t *rc =
        defaulted("v1", "ReplicationController",
                  "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}}}}}");
    cr_assert(eq(str, (char *)kjson_path_str(rc, "spec.selector.a"), "b"));
    cr_assert(eq(str, (char *)kjson_path_str(rc, "metadata.labels.a"), "b"));
    /* Wrong types are left alone, not crashed on. */
    _cleanup_json_ json_t *bad = defaulted("v1", "Pod",
                                           "{\"spec\":{\"containers\":[1,\"x\"],"
                                           "\"volumes\":{},\"tolerations\":3}}");
    cr_assert(false != json_is_integer(kjson_path(bad, "spec.tolerations")));
    _cleanup_json_ json_t *bad2 = defaulted("apps/v1", "Deployment", "{\"spec\":[]}");
    cr_assert(false != json_is_array(kjson_path(bad2, "spec")));
}

Test(defaults, secret_string_data_is_merged)
{
    _cleanup_json_ json_t *s = defaulted(
        "v1", "Secret",
        "{\"data\":{\"a\":\"eA==\",\"b\":\"eA==\"},\"stringData\":{\"b\":\"hello\",\"c\":\"\"}}");
    _cleanup_free_ char *text = kjson_dumps(s);
    cr_assert(eq(str, text,
                 "{\"data\":{\"a\":\"eA==\",\"b\":\"aGVsbG8=\",\"c\":\"\"},\"type\":\"Opaque\"}"));
    _cleanup_json_ json_t *bad = defaulted("v1", "Secret", "{\"stringData\":{\"b\":1}}");
    cr_assert(json_object_get(bad, "stringData") != NULL);
}

Test(defaults, service_account_token_volume)
{
    const char *text =
        "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\",\"volumeMounts\":"
        "[{\"name\":\"x\",\"mountPath\":\"/x\"}]}],\"volumes\":[{\"name\":\"x\"}]}}";
    _cleanup_json_ json_t *pod = kjson_parse(text, strlen(text), NULL);
    api_pod_mount_service_account_token(pod);
    json_t *vols = kjson_path(pod, "spec.volumes");
    cr_assert(eq(sz, json_array_size(vols), 2));
    const char *name = kjson_path_str(json_array_get(vols, 1), "name");
    cr_assert(name != NULL && strncmp(name, "kube-api-access-", 16) == 0 && strlen(name) == 21);
    json_t *src = kjson_path(json_array_get(vols, 1), "projected.sources");
    cr_assert(eq(sz, json_array_size(src), 3));
    json_int_t exp = json_integer_value(
        kjson_path(json_array_get(src, 0), "serviceAccountToken.expirationSeconds"));
    cr_assert(eq(i64, exp, 3607));
    json_t *b = json_array_get(kjson_path(pod, "spec.containers"), 1);
    json_t *m = json_array_get(json_object_get(b, "volumeMounts"), 1);
    cr_assert(eq(str, (char *)kjson_path_str(m, "mountPath"),
                 "/var/run/secrets/kubernetes.io/serviceaccount"));
    cr_assert(false != json_is_true(json_object_get(m, "readOnly")));
    /* Idempotent: a second call sees the mount. */
    api_pod_mount_service_account_token(pod);
    cr_assert(eq(sz, json_array_size(kjson_path(pod, "spec.volumes")), 2));
    const char *off = "{\"spec\":{\"automountServiceAccountToken\":false,\"containers\":[{}]}}";
    _cleanup_json_ json_t *p2 = kjson_parse(off, strlen(off), NULL);
    api_pod_mount_service_account_token(p2);
    cr_assert(kjson_path(p2, "spec.volumes") == NULL);
}
