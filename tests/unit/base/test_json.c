/* Unit tests for src/base/json.c and buf.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"

Test(json, parse_and_dump_round_trip)
{
    const char *text = "{\"b\":1,\"a\":[true,null,\"x\\ny\"],\"c\":{\"d\":1.5}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *v = kjson_parse(text, strlen(text), &err);
    cr_assert(v != NULL);
    _cleanup_free_ char *out = kjson_dumps(v);
    cr_assert(eq(str, out, (char *)text));
}

Test(json, parse_errors_have_position)
{
    const char *text = "{\n  \"a\": 1,\n  \"b\": }";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *v = kjson_parse(text, strlen(text), &err);
    cr_assert(v == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    cr_assert(strstr(err->msg, "line 3") != NULL, "%s", err->msg);
    cr_assert(strstr(err->msg, "column") != NULL, "%s", err->msg);
}

Test(json, trailing_garbage_is_an_error)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *v = kjson_parse("{} {}", 5, &err);
    cr_assert(v == NULL);
    cr_assert(err != NULL);
}

Test(json, paths)
{
    const char *text = "{\"metadata\":{\"name\":\"p\",\"labels\":{\"a\":\"b\"}},\"n\":3}";
    _cleanup_json_ json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(eq(str, (char *)kjson_path_str(v, "metadata.name"), "p"));
    cr_assert(eq(str, (char *)kjson_path_str(v, "metadata.labels.a"), "b"));
    cr_assert(kjson_path(v, "metadata.nope") == NULL);
    cr_assert(kjson_path(v, "n.x") == NULL);
    cr_assert(kjson_path_str(v, "n") == NULL);
    json_t *status = kjson_object_ensure(v, "status");
    bool is_object = json_is_object(status);
    cr_assert(is_object);
    cr_assert(kjson_object_ensure(v, "n") == NULL);
}

Test(buf, append_and_escape)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_append_str(&b, "x=");
    buf_appendf(&b, "%d/%s", 42, "y");
    buf_append_char(&b, ' ');
    buf_append_json_string(&b, "q\"\\\n\x01", 5);
    cr_assert(eq(str, b.data, "x=42/y \"q\\\"\\\\\\n\\u0001\""));
    cr_assert(eq(sz, b.len, strlen(b.data)));
    for (int i = 0; i < 1000; i++)
        buf_appendf(&b, "%0300d", i);
    cr_assert(eq(sz, b.len, strlen(b.data)));
    char *s = buf_steal(&b);
    cr_assert(b.data == NULL && b.len == 0);
    free(s);
}

Test(err, wrap_and_text)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = k8c_err_set(&err, 2, K8C_REASON_NOT_FOUND, "open `%s`", "/x");
    cr_assert(eq(int, rc, -1));
    k8c_err_wrap(&err, "loading %s", "config");
    _cleanup_free_ char *text = k8c_err_text(err);
    cr_assert(eq(str, text, "loading config: open `/x`: No such file or directory"));
    cr_assert(eq(int, k8c_reason_http_code(err->reason), 404));
    cr_assert(eq(str, (char *)k8c_reason_name(err->reason), "NotFound"));
    cr_assert(eq(int, k8c_reason_http_code(K8C_REASON_GONE), 410));
    cr_assert(eq(int, k8c_reason_http_code(K8C_REASON_INVALID), 422));
}

#include "base/codec.h"

Test(codec, base64_round_trip_and_errors)
{
    _cleanup_free_ char *enc = codec_base64_encode("hello\0world", 11);
    cr_assert(eq(str, enc, "aGVsbG8Ad29ybGQ="));
    size_t len = 0;
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *dec = codec_base64_decode(enc, strlen(enc), &len, &err);
    cr_assert(eq(sz, len, 11));
    cr_assert(memcmp(dec, "hello\0world", 11) == 0);
    char *bad = codec_base64_decode("!!notbase64", 11, &len, &err);
    cr_assert(bad == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
}

Test(err, reason_from_status)
{
    cr_assert(eq(int, k8c_reason_from_status("AlreadyExists", 409), K8C_REASON_ALREADY_EXISTS));
    cr_assert(eq(int, k8c_reason_from_status("Conflict", 409), K8C_REASON_CONFLICT));
    cr_assert(eq(int, k8c_reason_from_status("Expired", 410), K8C_REASON_GONE));
    cr_assert(eq(int, k8c_reason_from_status("Gone", 410), K8C_REASON_GONE));
    cr_assert(eq(int, k8c_reason_from_status(NULL, 404), K8C_REASON_NOT_FOUND));
    cr_assert(eq(int, k8c_reason_from_status("SomethingNew", 422), K8C_REASON_INVALID));
    cr_assert(eq(int, k8c_reason_from_status("SomethingNew", 599), K8C_REASON_INTERNAL));
}
