/* Unit tests for src/api/patch_merge.c: the examples of RFC 7386 appendix A and the bodies
 * kubectl sends (label, annotate, scale, rollout pause/resume). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/patch.h"
#include "base/json.h"
#include "base/mem.h"

static void check_merge(const char *doc, const char *patch, const char *want)
{
    _cleanup_json_ json_t *d = kjson_parse(doc, strlen(doc), NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *got = api_patch_merge(d, patch, strlen(patch), &err);
    cr_assert(got != NULL, "merge %s failed: %s", patch, err ? err->msg : "?");
    _cleanup_json_ json_t *w = kjson_parse(want, strlen(want), NULL);
    _cleanup_free_ char *text = kjson_dumps(got);
    bool same = json_equal(got, w);
    cr_assert(same, "merge %s onto %s: got %s want %s", patch, doc, text, want);
}

Test(patch_merge, rfc7386_appendix_a)
{
    check_merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check_merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    check_merge("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    check_merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    check_merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    check_merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    check_merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
                "{\"a\":{\"b\":\"d\"}}");
    check_merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    check_merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    check_merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

Test(patch_merge, kubectl_bodies)
{
    const char *pod = "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\",\"color\":\"red\"},"
                      "\"resourceVersion\":\"5\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}";
    /* kubectl label pod p color=blue / color- / annotate */
    check_merge(pod, "{\"metadata\":{\"labels\":{\"color\":\"blue\"}}}",
                "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\",\"color\":\"blue\"},"
                "\"resourceVersion\":\"5\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
    check_merge(pod, "{\"metadata\":{\"labels\":{\"color\":null}}}",
                "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\"},\"resourceVersion\":"
                "\"5\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
    check_merge(pod, "{\"metadata\":{\"annotations\":{\"a\":\"b\"},\"resourceVersion\":\"4\"}}",
                "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\",\"color\":\"red\"},"
                "\"resourceVersion\":\"4\",\"annotations\":{\"a\":\"b\"}},\"spec\":{\"containers\":"
                "[{\"name\":\"c\"}]}}");
    /* kubectl scale: merge patch of the Scale subresource; pause/resume */
    check_merge("{\"spec\":{\"replicas\":1},\"status\":{\"replicas\":1}}",
                "{\"spec\":{\"replicas\":5}}",
                "{\"spec\":{\"replicas\":5},\"status\":{\"replicas\":1}}");
    check_merge("{\"spec\":{\"paused\":true,\"replicas\":1}}", "{\"spec\":{\"paused\":null}}",
                "{\"spec\":{\"replicas\":1}}");
}

Test(patch_merge, errors)
{
    _cleanup_json_ json_t *d = json_object();
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *got = api_patch_merge(d, "[1]", 3, &err);
    cr_assert(got == NULL);
    cr_assert(eq(int, (int)err->reason, (int)K8C_REASON_BAD_REQUEST));
    k8c_err_free(err);
    err = NULL;
    got = api_patch_merge(d, "{\"a\":", 5, &err);
    cr_assert(got == NULL);
    cr_assert(eq(int, (int)err->reason, (int)K8C_REASON_BAD_REQUEST));
}
