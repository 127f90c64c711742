/* Unit tests for src/api/patch_json.c: the examples of RFC 6902 appendix A, Kubernetes'
 * error wording, and kubectl rollout undo's patch. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/patch.h"
#include "base/json.h"
#include "base/mem.h"

/* Applies a JSON patch and compares the compact result with want (NULL: expect failure with
 * reason want_reason and a message containing want_msg). */
static void check_json(const char *doc, const char *patch, const char *want, int want_reason,
                       const char *want_msg)
{
    _cleanup_json_ json_t *d = kjson_parse(doc, strlen(doc), NULL);
    cr_assert(d != NULL, "bad test doc %s", doc);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *got = api_patch_json(d, patch, strlen(patch), &err);
    if (want == NULL) {
        cr_assert(got == NULL, "patch %s should fail", patch);
        cr_assert(err != NULL);
        cr_assert(eq(int, (int)err->reason, want_reason), "%s", err->msg);
        cr_assert(strstr(err->msg, want_msg) != NULL, "message `%s` lacks `%s`", err->msg,
                  want_msg);
        return;
    }
    cr_assert(got != NULL, "patch %s failed: %s", patch, err ? err->msg : "?");
    _cleanup_json_ json_t *w = kjson_parse(want, strlen(want), NULL);
    cr_assert(w != NULL, "bad test want %s", want);
    _cleanup_free_ char *text = kjson_dumps(got);
    bool same = json_equal(got, w);
    cr_assert(same, "patch %s: got %s want %s", patch, text, want);
    /* The input was not modified. */
    _cleanup_json_ json_t *again = kjson_parse(doc, strlen(doc), NULL);
    bool untouched = json_equal(again, d);
    cr_assert(untouched);
}

#define INV K8C_REASON_INVALID
#define BAD K8C_REASON_BAD_REQUEST

Test(patch_json, rfc6902_appendix_a)
{
    /* A.1 add an object member */
    check_json("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
               "{\"baz\":\"qux\",\"foo\":\"bar\"}", 0, NULL);
    /* A.2 add an array element */
    check_json("{\"foo\":[\"bar\",\"baz\"]}",
               "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
               "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", 0, NULL);
    /* A.3 remove an object member */
    check_json("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
               "{\"foo\":\"bar\"}", 0, NULL);
    /* A.4 remove an array element */
    check_json("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
               "{\"foo\":[\"bar\",\"baz\"]}", 0, NULL);
    /* A.5 replace a value */
    check_json("{\"baz\":\"qux\",\"foo\":\"bar\"}",
               "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
               "{\"baz\":\"boo\",\"foo\":\"bar\"}", 0, NULL);
    /* A.6 move a value */
    check_json("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
               "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
               "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", 0,
               NULL);
    /* A.7 move an array element */
    check_json("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
               "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
               "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", 0, NULL);
    /* A.8 test success */
    check_json("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
               "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
               "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
               "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", 0, NULL);
    /* A.9 test failure */
    check_json("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL,
               INV, "testing value /baz failed: test failed");
    /* A.10 add a nested member object */
    check_json("{\"foo\":\"bar\"}",
               "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
               "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", 0, NULL);
    /* A.11 ignore unrecognised elements */
    check_json("{\"foo\":\"bar\"}",
               "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
               "{\"foo\":\"bar\",\"baz\":\"qux\"}", 0, NULL);
    /* A.12 add to a nonexistent target */
    check_json("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
               NULL, INV, "add operation does not apply: doc is missing path: \"/baz/bat\"");
    /* A.14 ~ escape ordering */
    check_json("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
               "{\"/\":9,\"~1\":10}", 0, NULL);
    /* A.15 comparing strings and numbers */
    check_json("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
               NULL, INV, "test failed");
    /* A.16 add an array value */
    check_json("{\"foo\":[\"bar\"]}",
               "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\","
               "\"def\"]}]",
               "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", 0, NULL);
}

Test(patch_json, pointers_and_copy)
{
    check_json("{\"a\":{\"b/c\":1}}", "[{\"op\":\"replace\",\"path\":\"/a/b~1c\",\"value\":2}]",
               "{\"a\":{\"b/c\":2}}", 0, NULL);
    check_json("{\"a\":[1,2,3]}", "[{\"op\":\"copy\",\"from\":\"/a/0\",\"path\":\"/b\"}]",
               "{\"a\":[1,2,3],\"b\":1}", 0, NULL);
    check_json("{\"a\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/a/-1\"}]", "{\"a\":[1,2]}", 0,
               NULL);
    check_json("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}",
               0, NULL);
    /* Operations apply in order; a failure leaves nothing half-done (a new copy is built). */
    check_json("{\"a\":1}",
               "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2},{\"op\":\"test\",\"path\":\"/a\","
               "\"value\":5}]",
               NULL, INV, "testing value /a failed");
}

Test(patch_json, errors)
{
    check_json("{\"a\":1}", "{\"op\":\"add\"}", NULL, BAD, "cannot unmarshal object");
    check_json("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\"", NULL, BAD, "invalid JSON patch");
    check_json("{\"a\":1}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", NULL, INV,
               "Unexpected kind: frob");
    check_json("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":1}]", NULL, INV,
               "replace operation does not apply: doc is missing key: /b");
    check_json("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", NULL, INV,
               "Unable to remove nonexistent key: b");
    check_json("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/5\",\"value\":1}]", NULL, INV,
               "invalid index");
    check_json("{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/x\",\"value\":1}]", NULL, INV,
               "not a proper array index");
    check_json("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", NULL, INV,
               "does not start with");
    check_json("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/b\"}]", NULL, INV,
               "move operation does not apply: doc is missing from path: /x");
    check_json("{\"a\":{}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b\"}]", NULL, INV,
               "is a prefix");
    check_json("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\"}]", NULL, INV, "has no \"value\"");
    check_json("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", NULL, INV,
               "not a JSON object");
    check_json("{\"a\":1}", "[7]", NULL, BAD, "cannot unmarshal");
}

Test(patch_json, too_many_operations)
{
    struct buf b = BUF_INIT;
    buf_append_char(&b, '[');
    for (int i = 0; i <= API_PATCH_JSON_MAX_OPS; i++)
        buf_appendf(&b, "%s{\"op\":\"test\",\"path\":\"/a\",\"value\":1}", i ? "," : "");
    buf_append_char(&b, ']');
    check_json("{\"a\":1}", b.data, NULL, K8C_REASON_TOO_LARGE, "maximum operations");
    buf_free(&b);
}

Test(patch_json, rollout_undo)
{
    /* kubectl rollout undo: replace /spec/template and /metadata/annotations. */
    const char *deploy =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
        "\"annotations\":{\"deployment.kubernetes.io/revision\":\"2\"}},\"spec\":{\"replicas\":2,"
        "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{"
        "\"name\":\"web\",\"image\":\"nginx:1.28\"}]}}}}";
    const char *patch = "[{\"op\":\"replace\",\"path\":\"/spec/template\",\"value\":{\"metadata\":{"
                        "\"creationTimestamp\":null,\"labels\":{\"app\":\"web\"}},\"spec\":{"
                        "\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\","
                        "\"resources\":{}}]}}},{\"op\":\"replace\",\"path\":\"/metadata/"
                        "annotations\",\"value\":{\"deployment.kubernetes.io/revision\":\"1\"}}]";
    const char *want =
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
        "\"annotations\":{\"deployment.kubernetes.io/revision\":\"1\"}},\"spec\":{\"replicas\":2,"
        "\"template\":{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\"web\"}},"
        "\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\",\"resources\":{}}]"
        "}}}}";
    check_json(deploy, patch, want, 0, NULL);
}
