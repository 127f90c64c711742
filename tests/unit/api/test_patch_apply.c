/* Unit tests for src/api/patch_apply.c and patch_fields.c: server-side apply (create, merge,
 * managedFields, conflicts and force, removal of fields no longer applied) and the recording
 * of updates that apply later conflicts with. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/defaults.h"
#include "api/kinds.h"
#include "api/patch.h"
#include "api/patch_internal.h"
#include "api/schema.h"
#include "base/json.h"
#include "base/mem.h"

static const char deploy_yaml[] = "apiVersion: apps/v1\n"
                                  "kind: Deployment\n"
                                  "metadata:\n"
                                  "  name: web\n"
                                  "  labels: {app: web, tier: front}\n"
                                  "spec:\n"
                                  "  replicas: 2\n"
                                  "  selector: {matchLabels: {app: web}}\n"
                                  "  template:\n"
                                  "    metadata: {labels: {app: web}}\n"
                                  "    spec:\n"
                                  "      containers:\n"
                                  "      - name: web\n"
                                  "        image: nginx:1.27\n"
                                  "        ports: [{containerPort: 80}]\n"
                                  "      - name: side\n"
                                  "        image: busybox\n";

static json_t *apply_ok(const json_t *live, const char *body, const char *manager, bool force)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *out =
        api_patch_apply("apps/v1", "Deployment", live, body, strlen(body), manager, force, &err);
    cr_assert(out != NULL, "apply by %s failed: %s", manager, err ? err->msg : "?");
    return out;
}

/* The managedFields entry of manager/operation, borrowed. */
static json_t *entry(const json_t *obj, const char *manager, const char *op)
{
    size_t i;
    json_t *e;
    json_array_foreach (kjson_path(obj, "metadata.managedFields"), i, e) {
        if (!strcmp(kjson_path_str(e, "manager"), manager) &&
            !strcmp(kjson_path_str(e, "operation"), op))
            return e;
    }
    return NULL;
}

static char *replace_all(const char *s, const char *from, const char *to)
{
    struct buf b = BUF_INIT;
    const char *p = s;
    const char *hit;
    while ((hit = strstr(p, from)) != NULL) {
        buf_append(&b, p, (size_t)(hit - p));
        buf_append_str(&b, to);
        p = hit + strlen(from);
    }
    buf_append_str(&b, p);
    return buf_steal(&b);
}

Test(patch_apply, create_records_fields)
{
    _cleanup_json_ json_t *out = apply_ok(NULL, deploy_yaml, "kubectl", false);
    cr_assert(eq(str, (char *)kjson_path_str(out, "metadata.name"), "web"));
    json_t *replicas = kjson_path(out, "spec.replicas");
    cr_assert(eq(int, (int)json_integer_value(replicas), 2));
    json_t *e = entry(out, "kubectl", "Apply");
    cr_assert(e != NULL);
    cr_assert(eq(str, (char *)kjson_path_str(e, "apiVersion"), "apps/v1"));
    cr_assert(eq(str, (char *)kjson_path_str(e, "fieldsType"), "FieldsV1"));
    cr_assert(kjson_path_str(e, "time") != NULL);
    json_t *v1 = json_object_get(e, "fieldsV1");
    _cleanup_free_ char *text = kjson_dumps(v1);
    cr_assert(kjson_path(v1, "f:spec.f:replicas") != NULL, "%s", text);
    cr_assert(kjson_path(v1, "f:metadata.f:labels.f:tier") != NULL, "%s", text);
    cr_assert(kjson_path(v1, "f:metadata.f:name") == NULL, "%s", text);
    cr_assert(kjson_path(v1, "f:apiVersion") == NULL, "%s", text);
    json_t *containers = kjson_path(v1, "f:spec.f:template.f:spec.f:containers");
    json_t *web = json_object_get(containers, "k:{\"name\":\"web\"}");
    cr_assert(web != NULL, "%s", text);
    cr_assert(json_object_get(web, ".") != NULL, "%s", text);
    cr_assert(json_object_get(web, "f:image") != NULL, "%s", text);
    /* ports' list-map-keys are containerPort and protocol, whose default TCP fills the key. */
    json_t *port = json_object_get(json_object_get(web, "f:ports"),
                                   "k:{\"containerPort\":80,\"protocol\":\"TCP\"}");
    cr_assert(port != NULL, "%s", text);
    /* matchLabels is a granular map inside an atomic LabelSelector: one leaf. */
    cr_assert(kjson_path(v1, "f:spec.f:selector") != NULL, "%s", text);
    cr_assert(json_object_size(kjson_path(v1, "f:spec.f:selector")) == 0, "%s", text);
}

Test(patch_apply, yaml_strings_follow_the_schema)
{
    const char *cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
                     "data: {enabled: on, version: 1.10, count: 3}\n";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out =
        api_patch_apply("v1", "ConfigMap", NULL, cm, strlen(cm), "kubectl", false, &err);
    cr_assert(out != NULL, "%s", err ? err->msg : "?");
    cr_assert(eq(str, (char *)kjson_path_str(out, "data.enabled"), "on"));
    cr_assert(eq(str, (char *)kjson_path_str(out, "data.version"), "1.10"));
    cr_assert(eq(str, (char *)kjson_path_str(out, "data.count"), "3"));
}

Test(patch_apply, reapply_merges_and_removes)
{
    _cleanup_json_ json_t *live = apply_ok(NULL, deploy_yaml, "kubectl", false);
    /* Something else (a controller) set a field nobody applied: it must stay. */
    json_object_set_new(json_object_get(live, "spec"), "revisionHistoryLimit", json_integer(10));
    /* Apply again without label tier and without the side container, image changed. */
    _cleanup_free_ char *a = replace_all(deploy_yaml, ", tier: front", "");
    _cleanup_free_ char *b = replace_all(a, "      - name: side\n        image: busybox\n", "");
    _cleanup_free_ char *c = replace_all(b, "nginx:1.27", "nginx:1.28");
    _cleanup_json_ json_t *out = apply_ok(live, c, "kubectl", false);
    cr_assert(kjson_path(out, "metadata.labels.tier") == NULL);
    cr_assert(eq(str, (char *)kjson_path_str(out, "metadata.labels.app"), "web"));
    json_t *containers = kjson_path(out, "spec.template.spec.containers");
    cr_assert(eq(int, (int)json_array_size(containers), 1));
    cr_assert(
        eq(str, (char *)kjson_path_str(json_array_get(containers, 0), "image"), "nginx:1.28"));
    json_t *rhl = kjson_path(out, "spec.revisionHistoryLimit");
    cr_assert(eq(int, (int)json_integer_value(rhl), 10));
    json_t *mf = kjson_path(out, "metadata.managedFields");
    cr_assert(eq(int, (int)json_array_size(mf), 1));
}

Test(patch_apply, conflicts_and_force)
{
    _cleanup_json_ json_t *live = apply_ok(NULL, deploy_yaml, "kubectl", false);
    const char *other = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                        "spec: {replicas: 5}\n";
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *out =
        api_patch_apply("apps/v1", "Deployment", live, other, strlen(other), "hpa", false, &err);
    cr_assert(out == NULL);
    cr_assert(eq(int, (int)err->reason, (int)K8C_REASON_CONFLICT));
    cr_assert(eq(str, err->msg,
                 "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: "
                 ".spec.replicas"));
    _cleanup_json_ json_t *causes = api_patch_apply_conflict_causes();
    cr_assert(eq(int, (int)json_array_size(causes), 1));
    json_t *cause = json_array_get(causes, 0);
    cr_assert(eq(str, (char *)kjson_path_str(cause, "reason"), "FieldManagerConflict"));
    cr_assert(eq(str, (char *)kjson_path_str(cause, "field"), ".spec.replicas"));
    cr_assert(eq(str, (char *)kjson_path_str(cause, "message"),
                 "conflict with \"kubectl\" using apps/v1"));

    /* The same value is shared ownership, not a conflict. */
    const char *same = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
                       "spec: {replicas: 2}\n";
    _cleanup_json_ json_t *shared = apply_ok(live, same, "hpa", false);
    _cleanup_json_ json_t *no_causes = api_patch_apply_conflict_causes();
    cr_assert(no_causes == NULL);
    cr_assert(kjson_path(entry(shared, "hpa", "Apply"), "fieldsV1.f:spec.f:replicas") != NULL);
    cr_assert(kjson_path(entry(shared, "kubectl", "Apply"), "fieldsV1.f:spec.f:replicas") != NULL);

    /* force takes the field over. */
    _cleanup_json_ json_t *forced = apply_ok(live, other, "hpa", true);
    json_t *replicas = kjson_path(forced, "spec.replicas");
    cr_assert(eq(int, (int)json_integer_value(replicas), 5));
    cr_assert(kjson_path(entry(forced, "kubectl", "Apply"), "fieldsV1.f:spec.f:replicas") == NULL);
    cr_assert(kjson_path(entry(forced, "hpa", "Apply"), "fieldsV1.f:spec.f:replicas") != NULL);
    /* kubectl's next apply without replicas does not remove hpa's field. */
    _cleanup_free_ char *no_replicas = replace_all(deploy_yaml, "  replicas: 2\n", "");
    _cleanup_json_ json_t *after = apply_ok(forced, no_replicas, "kubectl", false);
    replicas = kjson_path(after, "spec.replicas");
    cr_assert(eq(int, (int)json_integer_value(replicas), 5));
}

Test(patch_apply, conflicts_with_recorded_updates)
{
    /* kubectl apply (client-side) created it; kubectl apply --server-side changes replicas. */
    const char *json = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                       "\"name\":\"web\"},\"spec\":{\"replicas\":1,\"paused\":false}}";
    _cleanup_json_ json_t *live = kjson_parse(json, strlen(json), NULL);
    api_patch_record_update("apps/v1", NULL, live, "kubectl-client-side-apply");
    json_t *e = entry(live, "kubectl-client-side-apply", "Update");
    cr_assert(e != NULL);
    cr_assert(kjson_path(e, "fieldsV1.f:spec.f:replicas") != NULL);

    /* A later update by another manager takes the fields it changed. */
    _cleanup_json_ json_t *updated = json_deep_copy(live);
    json_object_set_new(json_object_get(updated, "spec"), "paused", json_true());
    api_patch_record_update("apps/v1", live, updated, "kubectl-patch");
    cr_assert(kjson_path(entry(updated, "kubectl-patch", "Update"), "fieldsV1.f:spec.f:paused") !=
              NULL);
    cr_assert(kjson_path(entry(updated, "kubectl-client-side-apply", "Update"),
                         "fieldsV1.f:spec.f:paused") == NULL);

    const char *body = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                       "\"name\":\"web\"},\"spec\":{\"replicas\":3,\"paused\":false}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *out = api_patch_apply("apps/v1", "Deployment", updated, body, strlen(body), "kubectl",
                                  false, &err);
    cr_assert(out == NULL);
    cr_assert(strstr(err->msg,
                     "Apply failed with 2 conflicts: conflicts with "
                     "\"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas") != NULL,
              "%s", err->msg);
    cr_assert(strstr(err->msg, "conflicts with \"kubectl-patch\" using apps/v1:\n- .spec.paused") !=
                  NULL,
              "%s", err->msg);
    _cleanup_json_ json_t *causes = api_patch_apply_conflict_causes();
    cr_assert(eq(int, (int)json_array_size(causes), 2));
}

Test(patch_apply, objects_without_managed_fields)
{
    const char *json = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                       "\"name\":\"web\"},\"spec\":{\"replicas\":1}}";
    _cleanup_json_ json_t *live = kjson_parse(json, strlen(json), NULL);
    const char *body = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                       "\"name\":\"web\"},\"spec\":{\"replicas\":4}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *out =
        api_patch_apply("apps/v1", "Deployment", live, body, strlen(body), "kubectl", false, &err);
    cr_assert(out == NULL);
    cr_assert(strstr(err->msg, "before-first-apply") != NULL, "%s", err->msg);
    _cleanup_json_ json_t *forced = apply_ok(live, body, "kubectl", true);
    json_t *replicas = kjson_path(forced, "spec.replicas");
    cr_assert(eq(int, (int)json_integer_value(replicas), 4));
}

Test(patch_apply, unknown_kinds_merge_without_schema)
{
    const char *body = "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n"
                       "spec: {size: 1, tags: [a, b]}\n";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = api_patch_apply("example.com/v1", "Gizmo", NULL, body,
                                                 strlen(body), "kubectl", false, &err);
    cr_assert(out != NULL, "%s", err ? err->msg : "?");
    json_t *e = entry(out, "kubectl", "Apply");
    cr_assert(kjson_path(e, "fieldsV1.f:spec.f:tags") != NULL);
    const char *body2 = "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n"
                        "spec: {tags: [c]}\n";
    json_t *out2 = api_patch_apply("example.com/v1", "Gizmo", out, body2, strlen(body2), "kubectl",
                                   false, &err);
    cr_assert(out2 != NULL, "%s", err ? err->msg : "?");
    cr_assert(kjson_path(out2, "spec.size") == NULL);
    cr_assert(eq(int, (int)json_array_size(kjson_path(out2, "spec.tags")), 1));
    json_decref(out2);
}

static void apply_fails(const char *body, const char *manager, const char *msg)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *out =
        api_patch_apply("apps/v1", "Deployment", NULL, body, strlen(body), manager, false, &err);
    cr_assert(out == NULL, "%s should fail", body);
    cr_assert(eq(int, (int)err->reason, (int)K8C_REASON_BAD_REQUEST), "%s", err->msg);
    cr_assert(strstr(err->msg, msg) != NULL, "`%s` lacks `%s`", err->msg, msg);
}

Test(patch_apply, errors)
{
    apply_fails(deploy_yaml, "", "fieldManager");
    apply_fails("kind: Deployment\nmetadata: {name: x}\n", "m", "'Kind' or 'apiVersion'");
    apply_fails("apiVersion: apps/v1\nkind: Pod\n", "m", "does not match the expected kind");
    apply_fails("apiVersion: v1\nkind: Deployment\n", "m", "does not match the expected API");
    apply_fails("[1, 2]", "m", "must be an object");
    apply_fails("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n"
                "      containers: [{name: a, ports: [{containerPort: 1}, {containerPort: 1, "
                "protocol: TCP}]}]\n",
                "m",
                ".spec.template.spec.containers[].ports: duplicate entries for key "
                "[containerPort=1,protocol=\"TCP\"]");
    apply_fails("a: [", "m", "error decoding YAML");
    apply_fails("apiVersion: apps/v1\nkind: Deployment\nmetadata: {managedFields: []}\n", "m",
                "managedFields must be nil");
    apply_fails("apiVersion: apps/v1\nkind: Deployment\n---\napiVersion: apps/v1\n", "m",
                "error decoding YAML");
}

Test(patch_apply, reapply_after_defaulting_is_stable)
{
    /* As the API server does it: apply, default, store; apply the same manifest again. */
    const struct api_kind *k = api_kind_by_gvk("apps/v1", "Deployment");
    cr_assert(k != NULL);
    _cleanup_json_ json_t *live = apply_ok(NULL, deploy_yaml, "kubectl", false);
    api_object_default(k, live);
    _cleanup_free_ char *before = kjson_dumps(live);
    json_t *c0 = json_array_get(kjson_path(live, "spec.template.spec.containers"), 0);
    json_t *p0 = json_array_get(json_object_get(c0, "ports"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(p0, "protocol"), "TCP"), "%s", before);
    _cleanup_json_ json_t *again = apply_ok(live, deploy_yaml, "kubectl", false);
    api_object_default(k, again);
    json_t *ports = json_object_get(
        json_array_get(kjson_path(again, "spec.template.spec.containers"), 0), "ports");
    cr_assert(eq(int, (int)json_array_size(ports), 1), "%s", before);
    /* Nothing but the time of the entry changed. */
    json_t *e1 = entry(live, "kubectl", "Apply");
    json_t *e2 = entry(again, "kubectl", "Apply");
    bool same_fields = json_equal(json_object_get(e1, "fieldsV1"), json_object_get(e2, "fieldsV1"));
    cr_assert(same_fields);
    json_object_del(json_object_get(live, "metadata"), "managedFields");
    json_object_del(json_object_get(again, "metadata"), "managedFields");
    bool same = json_equal(live, again);
    _cleanup_free_ char *after = kjson_dumps(again);
    cr_assert(same, "before %s\nafter %s", before, after);
}

Test(patch_apply, associative_lists_follow_the_applied_order)
{
    /* structured-merge-diff: live-only elements keep their places, shared ones take the
     * applied order, new ones come where the applied list has them. */
    const char *live_json =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"managedFields\":["
        "{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"fieldsType\":"
        "\"FieldsV1\",\"fieldsV1\":{}}]},\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":"
        "\"1\"},{\"name\":\"s\",\"image\":\"2\"},{\"name\":\"b\",\"image\":\"3\"}]}}";
    _cleanup_json_ json_t *live = kjson_parse(live_json, strlen(live_json), NULL);
    const char *body = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                       "  - {name: b, image: \"3\"}\n  - {name: a, image: \"1\"}\n"
                       "  - {name: c, image: \"4\"}\n";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out =
        api_patch_apply("v1", "Pod", live, body, strlen(body), "kubectl", false, &err);
    cr_assert(out != NULL, "%s", err ? err->msg : "?");
    json_t *containers = kjson_path(out, "spec.containers");
    cr_assert(eq(int, (int)json_array_size(containers), 4));
    const char *want[] = {"s", "b", "a", "c"};
    for (size_t i = 0; i < 4; i++)
        cr_assert(eq(str, (char *)kjson_path_str(json_array_get(containers, i), "name"),
                     (char *)want[i]));
}

Test(patch_apply, direct_fields_tree_equals_the_set_form)
{
    const char *pod_json =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{"
        "\"a\":\"b\"},\"finalizers\":[\"x\",\"y\"]},\"spec\":{\"containers\":[{\"name\":"
        "\"c\",\"image\":\"i\",\"ports\":[{\"containerPort\":80},{\"containerPort\":53,"
        "\"protocol\":\"UDP\"}],\"resources\":{},\"args\":[\"1\"]},{}],\"nodeSelector\":{"
        "\"k\":\"v\"},\"affinity\":{\"nodeAffinity\":{}}},\"status\":{\"phase\":\"x\"}}";
    _cleanup_json_ json_t *pod = kjson_parse(pod_json, strlen(pod_json), NULL);
    cr_assert(pod != NULL);
    const json_t *schema = api__schema_for_kind("v1", "Pod");
    _cleanup_json_ json_t *set = api__fields_of(pod, schema);
    _cleanup_json_ json_t *a = api__fields_to_v1(set);
    _cleanup_json_ json_t *b = api__fields_v1_of(pod, schema);
    _cleanup_free_ char *ta = kjson_dumps(a);
    _cleanup_free_ char *tb = kjson_dumps(b);
    bool same = json_equal(a, b);
    cr_assert(same, "set form %s\ndirect   %s", ta, tb);
    /* And back: the tree parses to the same set. */
    _cleanup_json_ json_t *back = api__fields_from_v1(b);
    bool round = json_equal(back, set);
    cr_assert(round);
    cr_assert(strstr(tb, "\"v:\\\"x\\\"\"") != NULL, "%s", tb);
}

Test(patch_apply, status_writes_keep_ownership)
{
    const char *json = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                       "\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}";
    _cleanup_json_ json_t *live = kjson_parse(json, strlen(json), NULL);
    api_patch_record_update("v1", NULL, live, "kubectl-create");
    _cleanup_json_ json_t *upd = json_deep_copy(live);
    json_object_del(json_object_get(upd, "metadata"), "managedFields");
    json_object_set_new(upd, "status", json_pack("{s:s}", "phase", "Running"));
    json_object_set_new(json_object_get(upd, "metadata"), "resourceVersion", json_string("7"));
    api_patch_record_update("v1", live, upd, "kubelet");
    bool same = json_equal(kjson_path(live, "metadata.managedFields"),
                           kjson_path(upd, "metadata.managedFields"));
    cr_assert(same);
    cr_assert(entry(upd, "kubelet", "Update") == NULL);
}
