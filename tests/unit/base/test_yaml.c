/* Unit tests for src/base/yaml.c: YAML -> JSON as Kubernetes reads manifests. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "base/yaml.h"

/* Converts one document and returns its compact JSON; caller frees. Fails the test on error. */
static char *one(const char *yaml, const struct kyaml_options *opts)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *doc = kyaml_load_one(yaml, strlen(yaml), opts, &err);
    cr_assert(doc != NULL, "unexpected error: %s", err ? err->msg : "?");
    return kjson_dumps(doc);
}

/* Returns the error message for yaml; fails the test if it parses. Caller frees. */
static char *fails(const char *yaml)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *docs = kyaml_load_all(yaml, strlen(yaml), NULL, &err);
    cr_assert(docs == NULL, "expected an error for: %s", yaml);
    cr_assert(err != NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    return xstrdup(err->msg);
}

Test(yaml, simple_manifest)
{
    _cleanup_free_ char *got = one("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n"
                                   "spec:\n  containers:\n  - name: c\n    image: busybox\n"
                                   "    args: [sleep, \"3600\"]\n",
                                   NULL);
    cr_assert(eq(str, got,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\"},"
                 "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
                 "\"args\":[\"sleep\",\"3600\"]}]}}"));
}

Test(yaml, yaml11_scalars)
{
    _cleanup_free_ char *got =
        one("a: yes\nb: off\nc: ~\nd: 0x1F\ne: 0o17\nf: 017\ng: 1_000\nh: 1.5e3\ni: -3\n"
            "j: \"yes\"\nk: 'on'\nl: 08\nm: 1:20\nn: .5\no: 3.0\np: y\nq: True\nr: 2026-01-02\n",
            NULL);
    cr_assert(eq(str, got,
                 "{\"a\":true,\"b\":false,\"c\":null,\"d\":31,\"e\":15,\"f\":15,\"g\":1000,"
                 "\"h\":1500,\"i\":-3,\"j\":\"yes\",\"k\":\"on\",\"l\":8,\"m\":\"1:20\","
                 "\"n\":0.5,\"o\":3,\"p\":true,\"q\":true,\"r\":\"2026-01-02\"}"));
}

Test(yaml, large_ints)
{
    _cleanup_free_ char *got =
        one("max: 9223372036854775807\nmin: -9223372036854775808\nbig: 18446744073709551616\n"
            "hexbig: 0xFFFFFFFFFFFFFFFFFFFF\n",
            NULL);
    cr_assert(eq(str, got,
                 "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                 "\"big\":1.8446744073709552e19,\"hexbig\":\"0xFFFFFFFFFFFFFFFFFFFF\"}"));
}

Test(yaml, explicit_tags)
{
    _cleanup_free_ char *got =
        one("a: !!str 123\nb: !!int \"42\"\nc: !!str yes\nd: !custom 5\n", NULL);
    cr_assert(eq(str, got, "{\"a\":\"123\",\"b\":42,\"c\":\"yes\",\"d\":5}"));
    _cleanup_free_ char *msg = fails("a: !!int abc\n");
    cr_assert(strstr(msg, "!!int") != NULL, "%s", msg);
}

static bool data_is_string(const char *path, void *opaque)
{
    (void)opaque;
    return strncmp(path, "data.", 5) == 0 || strcmp(path, "spec.containers[].args[]") == 0;
}

Test(yaml, schema_keeps_strings)
{
    struct kyaml_options opts = {.string_field = data_is_string};
    _cleanup_free_ char *got =
        one("data:\n  enabled: on\n  port: 8080\nspec:\n  replicas: 3\n  containers:\n"
            "  - args: [1, yes]\n    ok: no\n",
            &opts);
    cr_assert(eq(str, got,
                 "{\"data\":{\"enabled\":\"on\",\"port\":\"8080\"},\"spec\":{\"replicas\":3,"
                 "\"containers\":[{\"args\":[\"1\",\"yes\"],\"ok\":false}]}}"));
}

Test(yaml, anchors_aliases_merge)
{
    _cleanup_free_ char *got = one("base: &b {x: 1, y: 2}\nother: *b\n"
                                   "merged:\n  <<: *b\n  y: 3\nlist: &l [a, b]\ncopy: *l\n",
                                   NULL);
    cr_assert(eq(str, got,
                 "{\"base\":{\"x\":1,\"y\":2},\"other\":{\"x\":1,\"y\":2},"
                 "\"merged\":{\"y\":3,\"x\":1},\"list\":[\"a\",\"b\"],\"copy\":[\"a\",\"b\"]}"));
}

Test(yaml, merge_sequence_first_wins)
{
    _cleanup_free_ char *got = one("a: &a {k: 1}\nb: &b {k: 2, j: 2}\nc:\n  <<: [*a, *b]\n", NULL);
    cr_assert(eq(str, got, "{\"a\":{\"k\":1},\"b\":{\"k\":2,\"j\":2},\"c\":{\"k\":1,\"j\":2}}"));
}

Test(yaml, non_string_keys)
{
    _cleanup_free_ char *got = one("1: a\ntrue: b\n~: c\n", NULL);
    cr_assert(eq(str, got, "{\"1\":\"a\",\"true\":\"b\",\"~\":\"c\"}"));
}

Test(yaml, multi_document_stream)
{
    const char *yaml = "---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n---\nnull\n---\n- x\n";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *docs = kyaml_load_all(yaml, strlen(yaml), NULL, &err);
    cr_assert(docs != NULL);
    _cleanup_free_ char *got = kjson_dumps(docs);
    cr_assert(eq(str, got, "[{\"a\":1},{\"b\":2},[\"x\"]]"));
    _cleanup_json_ json_t *one_doc = kyaml_load_one(yaml, strlen(yaml), NULL, &err);
    cr_assert(one_doc == NULL);
    cr_assert(strstr(err->msg, "exactly one") != NULL, "%s", err->msg);
}

Test(yaml, block_scalars_stay_strings)
{
    _cleanup_free_ char *got = one("script: |\n  echo 1\n  true\nfolded: >\n  a\n  b\n", NULL);
    cr_assert(eq(str, got, "{\"script\":\"echo 1\\ntrue\\n\",\"folded\":\"a b\\n\"}"));
}

Test(yaml, errors_name_line_and_column)
{
    _cleanup_free_ char *m1 = fails("a: 1\nb: [1, 2\n");
    cr_assert(strstr(m1, "line ") != NULL && strstr(m1, "column ") != NULL, "%s", m1);
    _cleanup_free_ char *m2 = fails("a: 1\n  b: 2\n");
    cr_assert(strstr(m2, "line 2") != NULL, "%s", m2);
    _cleanup_free_ char *m3 = fails("a: *nope\n");
    cr_assert(strstr(m3, "unknown anchor 'nope'") != NULL, "%s", m3);
    _cleanup_free_ char *m4 = fails("a: 1\na: 2\n");
    cr_assert(strstr(m4, "mapping key \"a\" already defined") != NULL, "%s", m4);
    _cleanup_free_ char *m5 = fails("? [a]\n: 1\n");
    cr_assert(strstr(m5, "must be a scalar") != NULL, "%s", m5);
    _cleanup_free_ char *m6 = fails("a: .inf\n");
    cr_assert(strstr(m6, "infinity") != NULL, "%s", m6);
    _cleanup_free_ char *m7 = fails("a: \"\x01\"\n");
    cr_assert(strstr(m7, "invalid YAML") != NULL, "%s", m7);
    _cleanup_free_ char *m8 = fails("<<: 5\n");
    cr_assert(strstr(m8, "map merge") != NULL, "%s", m8);
}

Test(yaml, billion_laughs_is_bounded)
{
    const char *yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    _cleanup_free_ char *msg = fails(yaml);
    cr_assert(strstr(msg, "excessive aliasing") != NULL, "%s", msg);
}

Test(yaml, deep_nesting_is_bounded)
{
    char doc[5001];
    memset(doc, '[', 5000);
    doc[5000] = '\0';
    _cleanup_free_ char *msg = fails(doc);
    cr_assert(strstr(msg, "nesting deeper") != NULL, "%s", msg);
}

Test(yaml, self_referencing_alias_is_rejected)
{
    _cleanup_free_ char *msg = fails("a: &a [*a]\n");
    cr_assert(strstr(msg, "unknown anchor") != NULL, "%s", msg);
}
