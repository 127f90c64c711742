/* Unit tests for src/api/patch_strategic.c: the bodies kubectl sends (apply's
 * $setElementOrder patch, set image/env, rollout restart, pause/resume) and each directive,
 * checked against what kube-apiserver stores. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/patch.h"
#include "base/json.h"
#include "base/mem.h"

static void check_smp(const char *api_version, const char *kind, const char *doc, const char *patch,
                      const char *want)
{
    _cleanup_json_ json_t *d = kjson_parse(doc, strlen(doc), NULL);
    cr_assert(d != NULL, "bad test doc %s", doc);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *got =
        api_patch_strategic(api_version, kind, d, patch, strlen(patch), &err);
    cr_assert(got != NULL, "patch %s failed: %s", patch, err ? err->msg : "?");
    _cleanup_json_ json_t *w = kjson_parse(want, strlen(want), NULL);
    cr_assert(w != NULL, "bad test want %s", want);
    _cleanup_free_ char *text = kjson_dumps(got);
    bool same = json_equal(got, w);
    cr_assert(same, "patch %s:\n got %s\nwant %s", patch, text, want);
}

static void check_smp_fails(const char *api_version, const char *kind, const char *doc,
                            const char *patch, int reason, const char *msg)
{
    _cleanup_json_ json_t *d = kjson_parse(doc, strlen(doc), NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *got =
        api_patch_strategic(api_version, kind, d, patch, strlen(patch), &err);
    cr_assert(got == NULL, "patch %s should fail", patch);
    cr_assert(eq(int, (int)err->reason, reason), "%s", err->msg);
    cr_assert(strstr(err->msg, msg) != NULL, "`%s` lacks `%s`", err->msg, msg);
}

#define DEPLOY_HEAD                                                                                \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"

static const char deploy[] =
    DEPLOY_HEAD "\"spec\":{\"replicas\":1,\"strategy\":{\"type\":\"RollingUpdate\","
                "\"rollingUpdate\":{\"maxSurge\":\"25%\",\"maxUnavailable\":\"25%\"}},"
                "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
                "\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\",\"env\":[{\"name\":"
                "\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{"
                "\"containerPort\":80,\"protocol\":\"TCP\"}]},{\"name\":\"side\",\"image\":"
                "\"busybox\"}]}}}}";

Test(patch_strategic, kubectl_apply_set_element_order)
{
    const char *patch =
        "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":"
        "\"{}\\n\"}},\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"$setElementOrder/"
        "containers\":[{\"name\":\"side\"},{\"name\":\"web\"}],\"containers\":[{\"image\":"
        "\"nginx:1.28\",\"name\":\"web\"}]}}}}";
    const char *want =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\\n\"}},"
        "\"spec\":{\"replicas\":3,\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{"
        "\"maxSurge\":\"25%\",\"maxUnavailable\":\"25%\"}},\"template\":{\"metadata\":{"
        "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"side\",\"image\":"
        "\"busybox\"},{\"name\":\"web\",\"image\":\"nginx:1.28\",\"env\":[{\"name\":\"A\","
        "\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{\"containerPort\":80,"
        "\"protocol\":\"TCP\"}]}]}}}}";
    check_smp("apps/v1", "Deployment", deploy, patch, want);
}

Test(patch_strategic, set_env_and_image)
{
    /* kubectl set env deploy/web B=3 C=4, then set image. */
    const char *patch = "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"$setElementOrder/"
                        "env\":[{\"name\":\"A\"},{\"name\":\"C\"},{\"name\":\"B\"}],\"env\":[{"
                        "\"name\":\"B\",\"value\":\"3\"},{\"name\":\"C\",\"value\":\"4\"}],"
                        "\"name\":\"web\"},{\"image\":\"busybox:2\",\"name\":\"side\"}]}}}}";
    const char *want =
        DEPLOY_HEAD "\"spec\":{\"replicas\":1,\"strategy\":{\"type\":\"RollingUpdate\","
                    "\"rollingUpdate\":{\"maxSurge\":\"25%\",\"maxUnavailable\":\"25%\"}},"
                    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
                    "\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\",\"env\":[{"
                    "\"name\":\"A\",\"value\":\"1\"},{\"name\":\"C\",\"value\":\"4\"},{\"name\":"
                    "\"B\",\"value\":\"3\"}],\"ports\":[{\"containerPort\":80,\"protocol\":"
                    "\"TCP\"}]},{\"name\":\"side\",\"image\":\"busybox:2\"}]}}}}";
    check_smp("apps/v1", "Deployment", deploy, patch, want);
}

Test(patch_strategic, rollout_restart_pause_resume)
{
    const char *restart = "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"kubectl."
                          "kubernetes.io/restartedAt\":\"2026-11-23T09:00:00Z\"}}}}}";
    const char *small = DEPLOY_HEAD "\"spec\":{\"paused\":true,\"template\":{\"metadata\":{"
                                    "\"labels\":{\"app\":\"web\"}}}}}";
    check_smp("apps/v1", "Deployment", small, restart,
              DEPLOY_HEAD "\"spec\":{\"paused\":true,\"template\":{\"metadata\":{\"labels\":{"
                          "\"app\":\"web\"},\"annotations\":{\"kubectl.kubernetes.io/"
                          "restartedAt\":\"2026-11-23T09:00:00Z\"}}}}}");
    check_smp("apps/v1", "Deployment", small, "{\"spec\":{\"paused\":null}}",
              DEPLOY_HEAD "\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}}}}}");
}

Test(patch_strategic, patch_delete_and_replace_in_lists)
{
    /* Removing a container from the manifest: kubectl sends $patch: delete. */
    const char *pod = "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":"
                      "\"b\",\"image\":\"y\"}]}}";
    check_smp("v1", "Pod", pod,
              "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"b\"}],\"containers\":[{"
              "\"$patch\":\"delete\",\"name\":\"a\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"y\"}]}}");
    check_smp("v1", "Pod", pod,
              "{\"spec\":{\"containers\":[{\"$patch\":\"replace\"},{\"name\":\"c\",\"image\":"
              "\"z\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"z\"}]}}");
    /* A new element with nested directives and nulls: none of them is stored. */
    check_smp("v1", "Pod", pod,
              "{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"z\",\"args\":null,"
              "\"resources\":{\"$patch\":\"replace\",\"limits\":{\"cpu\":\"1\"}}}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\","
              "\"image\":\"y\"},{\"name\":\"c\",\"image\":\"z\",\"resources\":{\"limits\":{"
              "\"cpu\":\"1\"}}}]}}");
    /* Lists without patch strategy are replaced (args, tolerations). */
    check_smp("v1", "Pod",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"1\",\"2\"]}],"
              "\"tolerations\":[{\"key\":\"k\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"3\"]}],\"tolerations\":[{"
              "\"key\":\"j\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"3\"]}],\"tolerations\":[{"
              "\"key\":\"j\"}]}}");
}

Test(patch_strategic, ports_volume_mounts_conditions)
{
    const char *pod =
        "{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80},{"
        "\"containerPort\":443}],\"volumeMounts\":[{\"mountPath\":\"/x\",\"name\":\"v1\"}]}],"
        "\"volumes\":[{\"name\":\"v1\",\"emptyDir\":{}}]},\"status\":{\"conditions\":[{"
        "\"type\":\"Ready\",\"status\":\"False\"}]}}";
    check_smp("v1", "Pod", pod,
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":443,"
              "\"name\":\"https\"}],\"volumeMounts\":[{\"mountPath\":\"/y\",\"name\":\"v2\"}]}],"
              "\"volumes\":[{\"name\":\"v2\",\"configMap\":{\"name\":\"c\"}}]},\"status\":{"
              "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"Scheduled\","
              "\"status\":\"True\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80},{"
              "\"containerPort\":443,\"name\":\"https\"}],\"volumeMounts\":[{\"mountPath\":"
              "\"/x\",\"name\":\"v1\"},{\"mountPath\":\"/y\",\"name\":\"v2\"}]}],\"volumes\":[{"
              "\"name\":\"v1\",\"emptyDir\":{}},{\"name\":\"v2\",\"configMap\":{\"name\":\"c\"}}]"
              "},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":"
              "\"Scheduled\",\"status\":\"True\"}]}}");
}

Test(patch_strategic, primitive_lists_and_retain_keys)
{
    /* finalizers: patchStrategy merge on a list of strings. */
    const char *cm = "{\"metadata\":{\"name\":\"c\",\"finalizers\":[\"a\",\"b\"]}}";
    check_smp("v1", "ConfigMap", cm, "{\"metadata\":{\"finalizers\":[\"c\",\"a\"]}}",
              "{\"metadata\":{\"name\":\"c\",\"finalizers\":[\"a\",\"b\",\"c\"]}}");
    check_smp("v1", "ConfigMap", cm,
              "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"a\"]}}",
              "{\"metadata\":{\"name\":\"c\",\"finalizers\":[\"b\"]}}");
    check_smp("v1", "ConfigMap", cm,
              "{\"metadata\":{\"$setElementOrder/finalizers\":[\"b\",\"a\"]}}",
              "{\"metadata\":{\"name\":\"c\",\"finalizers\":[\"b\",\"a\"]}}");
    /* apply switching a Deployment to Recreate: $retainKeys drops rollingUpdate. */
    check_smp("apps/v1", "Deployment", deploy,
              "{\"spec\":{\"strategy\":{\"$retainKeys\":[\"type\"],\"type\":\"Recreate\"}}}",
              DEPLOY_HEAD "\"spec\":{\"replicas\":1,\"strategy\":{\"type\":\"Recreate\"},"
                          "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
                          "\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\",\"env\":[{"
                          "\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
                          "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}]},{\"name\":"
                          "\"side\",\"image\":\"busybox\"}]}}}}");
    /* $patch: replace and delete on maps. */
    check_smp("v1", "ConfigMap", "{\"data\":{\"a\":\"1\",\"b\":\"2\"}}",
              "{\"data\":{\"$patch\":\"replace\",\"c\":\"3\"}}", "{\"data\":{\"c\":\"3\"}}");
    check_smp("v1", "ConfigMap", "{\"data\":{\"a\":\"1\"},\"x\":1}",
              "{\"data\":{\"$patch\":\"delete\"}}", "{\"x\":1}");
    check_smp("v1", "ConfigMap", "{\"data\":{\"a\":\"1\"}}",
              "{\"data\":{\"$patch\":\"merge\",\"b\":\"2\"}}",
              "{\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
}

Test(patch_strategic, errors)
{
    check_smp_fails("example.com/v1", "Gizmo", "{}", "{}", K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                    "unknown format");
    check_smp_fails("v1", "Pod", "{}", "[1]", K8C_REASON_BAD_REQUEST, "cannot unmarshal array");
    check_smp_fails("v1", "Pod", "{}", "{\"spec\":", K8C_REASON_BAD_REQUEST, "invalid");
    check_smp_fails("v1", "Pod", "{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
                    "{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}", K8C_REASON_BAD_REQUEST,
                    "does not contain declared merge key: name");
    check_smp_fails("v1", "Pod", "{}", "{\"spec\":{\"$patch\":\"frob\"}}", K8C_REASON_BAD_REQUEST,
                    "Unknown patch type: frob");
    check_smp_fails("v1", "Pod", "{}", "{\"spec\":{\"containers\":[{\"$patch\":\"merge\"}]}}",
                    K8C_REASON_BAD_REQUEST, "merging lists cannot yet be specified");
    check_smp_fails("v1", "Pod", "{}", "{\"$patch\":\"delete\"}", K8C_REASON_BAD_REQUEST,
                    "cannot be deleted");
    check_smp_fails("apps/v1", "Deployment", "{}", "{\"spec\":{\"strategy\":{\"$retainKeys\":1}}}",
                    K8C_REASON_BAD_REQUEST, "$retainKeys must be a list");
    check_smp_fails("v1", "Pod", "{}", "{\"spec\":{\"$setElementOrder/containers\":{}}}",
                    K8C_REASON_BAD_REQUEST, "must be a list");
}

Test(patch_strategic, kubectl_apply_removing_a_container)
{
    /* The patch kubectl 1.32 computed from k8c's /openapi/v3 schemas when a re-applied
     * manifest dropped container "side" (captured from a real run). */
    const char *live =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"pweb\"},"
        "\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\","
        "\"image\":\"nginx:1.27\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]},{\"name\":\"side\","
        "\"image\":\"busybox\"}]}}}}";
    const char *patch = "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/"
                        "last-applied-configuration\":\"{}\\n\"}},\"spec\":{\"replicas\":3,"
                        "\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":"
                        "\"web\"}],\"containers\":[{\"image\":\"nginx:1.28\",\"name\":\"web\"},{"
                        "\"$patch\":\"delete\",\"name\":\"side\"}]}}}}";
    const char *want =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"pweb\","
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\\n\"}},"
        "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\","
        "\"image\":\"nginx:1.28\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}}}}";
    check_smp("apps/v1", "Deployment", live, patch, want);
}

Test(patch_strategic, set_element_order_interleaves_server_only_elements)
{
    /* apimachinery's normalizeElementOrder: named elements in the order's order, server-only
     * ones placed by their live positions. */
    const char *pod = "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"s\"},{\"name\":"
                      "\"b\"}]}}";
    check_smp("v1", "Pod", pod,
              "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"s\"},{\"name\":\"b\"},{\"name\":\"a\"}]}}");
    check_smp("v1", "Pod",
              "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"},{"
              "\"name\":\"s\"}]}}",
              "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"b\"},{\"name\":\"a\"},{\"name\":\"s\"}]}}");
    check_smp("v1", "Pod", "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}",
              "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"c\"},{\"name\":\"a\"},{"
              "\"name\":\"b\"}],\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"},{\"name\":\"a\"},{"
              "\"name\":\"b\"}]}}");
}
