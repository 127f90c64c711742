/* Unit tests for src/controllers/hash.c: templates compared and hashed by meaning, so what
 * kubectl rollout undo sends back matches the ReplicaSet it came from. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "controllers/internal.h"

static json_t *parse(const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(v != NULL, "bad test JSON: %s", text);
    return v;
}

/* A template as the API server stores it (defaulted), and as kubectl rollout undo's JSON
 * patch carries it back after a trip through Go structs. */
static const char *stored =
    "{\"metadata\":{\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"abc\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\","
    "\"imagePullPolicy\":\"IfNotPresent\",\"terminationMessagePath\":\"/dev/termination-log\","
    "\"terminationMessagePolicy\":\"File\",\"tty\":false}],"
    "\"restartPolicy\":\"Always\",\"dnsPolicy\":\"ClusterFirst\",\"securityContext\":{},"
    "\"schedulerName\":\"default-scheduler\",\"terminationGracePeriodSeconds\":30,"
    "\"volumes\":[{\"name\":\"scratch\",\"emptyDir\":{}}]}}";
static const char *from_undo =
    "{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\"web\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\",\"resources\":{},"
    "\"imagePullPolicy\":\"IfNotPresent\",\"terminationMessagePath\":\"/dev/termination-log\","
    "\"terminationMessagePolicy\":\"File\"}],"
    "\"restartPolicy\":\"Always\",\"dnsPolicy\":\"ClusterFirst\",\"securityContext\":{},"
    "\"schedulerName\":\"default-scheduler\",\"terminationGracePeriodSeconds\":30,"
    "\"volumes\":[{\"name\":\"scratch\",\"emptyDir\":{}}]}}";

Test(controllers_hash, undo_template_equals_the_stored_one)
{
    _cleanup_json_ json_t *a = parse(stored);
    _cleanup_json_ json_t *b = parse(from_undo);
    cr_assert(ctl__template_equal(a, b));
    _cleanup_free_ char *ha = ctl__template_hash(a, 0);
    _cleanup_free_ char *hb = ctl__template_hash(b, 0);
    cr_assert(eq(str, ha, hb));
}

Test(controllers_hash, defaults_do_not_change_meaning)
{
    /* The same template with and without the fields the API server defaults. */
    _cleanup_json_ json_t *bare = parse("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
                                        "\"spec\":{\"containers\":[{\"name\":\"web\","
                                        "\"image\":\"nginx:1.27\"}],"
                                        "\"volumes\":[{\"name\":\"scratch\"}]}}");
    _cleanup_json_ json_t *full = parse(stored);
    cr_assert(ctl__template_equal(bare, full));
}

Test(controllers_hash, a_real_change_differs)
{
    _cleanup_json_ json_t *a = parse(stored);
    _cleanup_json_ json_t *b = json_deep_copy(a);
    json_t *c = json_array_get(kjson_path(b, "spec.containers"), 0);
    json_object_set_new(c, "image", json_string("nginx:1.28"));
    cr_assert(not(ctl__template_equal(a, b)));
    _cleanup_free_ char *ha = ctl__template_hash(a, 0);
    _cleanup_free_ char *hb = ctl__template_hash(b, 0);
    cr_assert(ne(str, ha, hb));

    /* kubectl rollout restart: an annotation on the template is a change. */
    _cleanup_json_ json_t *r = json_deep_copy(a);
    json_object_set_new(
        json_object_get(r, "metadata"), "annotations",
        json_pack("{s:s}", "kubectl.kubernetes.io/restartedAt", "2026-11-23T10:00:00Z"));
    cr_assert(not(ctl__template_equal(a, r)));

    /* emptyDir: {} is a pointer struct: its contents matter and it never vanishes. */
    _cleanup_json_ json_t *nv = json_deep_copy(a);
    json_t *vol = json_array_get(kjson_path(nv, "spec.volumes"), 0);
    json_object_set_new(vol, "emptyDir", json_pack("{s:s}", "medium", "Memory"));
    cr_assert(not(ctl__template_equal(a, nv)));
    _cleanup_json_ json_t *hp = json_deep_copy(a);
    vol = json_array_get(kjson_path(hp, "spec.volumes"), 0);
    json_object_del(vol, "emptyDir");
    json_object_set_new(vol, "hostPath", json_pack("{s:s}", "path", "/tmp"));
    cr_assert(not(ctl__template_equal(a, hp)));

    /* automountServiceAccountToken: false is not the same as unset. */
    _cleanup_json_ json_t *am = json_deep_copy(a);
    json_object_set_new(json_object_get(am, "spec"), "automountServiceAccountToken", json_false());
    cr_assert(not(ctl__template_equal(a, am)));
}

Test(controllers_hash, hash_is_safe_text_and_moves_with_collisions)
{
    _cleanup_json_ json_t *a = parse(stored);
    _cleanup_free_ char *h0 = ctl__template_hash(a, 0);
    _cleanup_free_ char *h1 = ctl__template_hash(a, 1);
    cr_assert(ne(str, h0, h1));
    cr_assert(gt(sz, strlen(h0), 0));
    for (const char *p = h0; *p; p++)
        cr_assert(strchr("bcdfghjklmnpqrstvwxz2456789", *p) != NULL, "char %c", *p);
    /* The hash label itself never feeds the hash. */
    _cleanup_json_ json_t *b = json_deep_copy(a);
    json_object_set_new(kjson_path(b, "metadata.labels"), "pod-template-hash",
                        json_string("other"));
    _cleanup_free_ char *hb = ctl__template_hash(b, 0);
    cr_assert(eq(str, h0, hb));
}
