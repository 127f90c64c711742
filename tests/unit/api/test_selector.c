/* Unit tests for src/api/selector.c and field_selector.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "api/selector.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *parse(const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(v != NULL, "%s", text);
    return v;
}

static bool lmatch(const char *sel, const char *labels)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_label_selector_ struct api_label_selector *s = api_label_selector_parse(sel, &err);
    cr_assert(s != NULL, "%s: %s", sel, err ? err->msg : "");
    _cleanup_json_ json_t *l = parse(labels);
    return api_label_selector_match(s, l);
}

static char *lerror(const char *sel)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    struct api_label_selector *s = api_label_selector_parse(sel, &err);
    cr_assert(s == NULL, "%s parsed", sel);
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    return xstrdup(err->msg);
}

Test(label_selector, operators)
{
    const char *l = "{\"app\":\"web\",\"tier\":\"front\",\"n\":\"5\"}";
    cr_assert(lmatch("", l));
    cr_assert(lmatch("app=web", l));
    cr_assert(lmatch("app==web", l));
    cr_assert(lmatch(" app = web , tier=front ", l));
    cr_assert(false == lmatch("app=db", l));
    cr_assert(lmatch("app!=db", l));
    cr_assert(lmatch("missing!=x", l));
    cr_assert(false == lmatch("app!=web", l));
    cr_assert(lmatch("app in (web,db)", l));
    cr_assert(false == lmatch("app in (db)", l));
    cr_assert(lmatch("app notin (db)", l));
    cr_assert(lmatch("missing notin (db)", l));
    cr_assert(false == lmatch("app notin (web)", l));
    cr_assert(lmatch("app", l));
    cr_assert(false == lmatch("missing", l));
    cr_assert(lmatch("!missing", l));
    cr_assert(false == lmatch("!app", l));
    cr_assert(lmatch("n>4", l));
    cr_assert(false == lmatch("n>5", l));
    cr_assert(lmatch("n<6", l));
    cr_assert(false == lmatch("app<6", l));
    cr_assert(lmatch("example.com/x notin (a),app", l));
    cr_assert(lmatch("empty=", "{\"empty\":\"\"}"));
    cr_assert(lmatch("in in (in)", "{\"in\":\"in\"}"));
    cr_assert(lmatch("app in (,web)", l));
    cr_assert(false == lmatch("app in ()", l));
}

Test(label_selector, errors_worded_as_kubernetes)
{
    _cleanup_free_ char *a = lerror("app in");
    cr_assert(eq(str, a, "unable to parse requirement: found '' expected: '('"));
    _cleanup_free_ char *b = lerror("app in (a");
    cr_assert(eq(str, b, "unable to parse requirement: found '', expected: ',' or ')'"));
    _cleanup_free_ char *c = lerror("=x");
    cr_assert(eq(str, c, "found '=', expected: !, identifier, or 'end of string'"));
    _cleanup_free_ char *d = lerror("a=b,");
    cr_assert(eq(str, d, "found '', expected: identifier after ','"));
    _cleanup_free_ char *e = lerror("a b");
    cr_assert(eq(str, e,
                 "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"));
    _cleanup_free_ char *f = lerror("a=b c");
    cr_assert(eq(str, f, "found 'c', expected: ',' or 'end of string'"));
    _cleanup_free_ char *g = lerror("a%=b");
    cr_assert(strstr(g, "unable to parse requirement: <nil>: Invalid value: \"a%\": name part "
                        "must consist of alphanumeric characters") != NULL,
              "%s", g);
    _cleanup_free_ char *h = lerror("a=b%");
    cr_assert(strstr(h, "values[0][a]: Invalid value: \"b%\": a valid label must be an empty "
                        "string") != NULL,
              "%s", h);
    _cleanup_free_ char *i = lerror("a>x");
    cr_assert(strstr(i, "for 'Gt', 'Lt' operators, the value must be an integer") != NULL, "%s", i);
    _cleanup_free_ char *j = lerror("a=!b");
    cr_assert(eq(str, j, "unable to parse requirement: found '!', expected: identifier"));
    _cleanup_free_ char *k = lerror("!a=b");
    cr_assert(eq(str, k, "found '=', expected: ',' or 'end of string'"));
}

Test(label_selector, canonical_string)
{
    _cleanup_label_selector_ struct api_label_selector *s =
        api_label_selector_parse("z=1,a in (c,b,b),!x,m", NULL);
    _cleanup_free_ char *text = api_label_selector_string(s);
    cr_assert(eq(str, text, "a in (b,c),m,!x,z=1"));
}

Test(label_selector, from_json)
{
    _cleanup_json_ json_t *sel =
        parse("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"tier\","
              "\"operator\":\"In\",\"values\":[\"a\",\"b\"]},{\"key\":\"old\",\"operator\":"
              "\"DoesNotExist\"}]}");
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_label_selector_ struct api_label_selector *s = api_label_selector_from_json(sel, &err);
    cr_assert(s != NULL);
    _cleanup_json_ json_t *yes = parse("{\"app\":\"web\",\"tier\":\"b\"}");
    _cleanup_json_ json_t *no = parse("{\"app\":\"web\",\"tier\":\"b\",\"old\":\"1\"}");
    cr_assert(api_label_selector_match(s, yes));
    cr_assert(false == api_label_selector_match(s, no));
    cr_assert(false == api_label_selector_match(s, NULL));
    _cleanup_free_ char *f = api_label_selector_json_format(sel);
    cr_assert(eq(str, f, "app=web,!old,tier in (a,b)"));

    _cleanup_label_selector_ struct api_label_selector *nothing =
        api_label_selector_from_json(NULL, NULL);
    cr_assert(false == api_label_selector_match(nothing, yes));
    _cleanup_json_ json_t *empty = parse("{}");
    _cleanup_label_selector_ struct api_label_selector *all =
        api_label_selector_from_json(empty, NULL);
    cr_assert(api_label_selector_match(all, yes));
    cr_assert(api_label_selector_empty(all));
    _cleanup_free_ char *none = api_label_selector_json_format(empty);
    cr_assert(eq(str, none, "<none>"));

    _cleanup_json_ json_t *bad =
        parse("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Foo\"}]}");
    cr_assert(api_label_selector_from_json(bad, &err) == NULL);
    cr_assert(eq(str, err->msg, "\"Foo\" is not a valid label selector operator"));
    _cleanup_json_ json_t *bad2 =
        parse("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}");
    cr_assert(api_label_selector_from_json(bad2, &err) == NULL);
    cr_assert(strstr(err->msg, "values set can't be empty") != NULL, "%s", err->msg);
    _cleanup_json_ json_t *bad3 = parse("{\"matchLabels\":{\"a\":1}}");
    cr_assert(api_label_selector_from_json(bad3, &err) == NULL);
    _cleanup_json_ json_t *bad4 = parse("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":"
                                        "\"In\",\"values\":[1]}]}");
    cr_assert(api_label_selector_from_json(bad4, &err) == NULL);
    _cleanup_json_ json_t *bad5 = parse("[]");
    cr_assert(api_label_selector_from_json(bad5, &err) == NULL);
    _cleanup_free_ char *e = api_label_selector_json_format(bad);
    cr_assert(eq(str, e, "<error>"));
}

static const struct api_kind *kind(const char *av, const char *k)
{
    return api_kind_by_gvk(av, k);
}

static bool fmatch(const struct api_kind *k, const char *sel, const char *obj)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_field_selector_ struct api_field_selector *s = api_field_selector_parse(k, sel, &err);
    cr_assert(s != NULL, "%s: %s", sel, err ? err->msg : "");
    _cleanup_json_ json_t *o = parse(obj);
    return api_field_selector_match(s, o);
}

Test(field_selector, pods_and_common_fields)
{
    const struct api_kind *pod = kind("v1", "Pod");
    const char *p = "{\"metadata\":{\"name\":\"p1\",\"namespace\":\"d\"},\"spec\":{\"nodeName\":"
                    "\"n1\",\"restartPolicy\":\"Always\"},\"status\":{\"phase\":\"Running\"}}";
    cr_assert(fmatch(pod, "", p));
    cr_assert(fmatch(pod, "metadata.name=p1", p));
    cr_assert(fmatch(pod, "metadata.name==p1,metadata.namespace=d", p));
    cr_assert(false == fmatch(pod, "metadata.name!=p1", p));
    cr_assert(fmatch(pod, "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed", p));
    cr_assert(false == fmatch(pod, "spec.nodeName=n2", p));
    cr_assert(fmatch(pod, "spec.nodeName!=", p));
    cr_assert(fmatch(pod, "status.podIP=", p));
    cr_assert(fmatch(pod, "spec.hostNetwork=false", p));
    cr_assert(fmatch(pod, "spec.restartPolicy=Always", p));
}

Test(field_selector, per_kind_fields)
{
    cr_assert(fmatch(kind("v1", "Node"), "spec.unschedulable=false", "{\"spec\":{}}"));
    cr_assert(fmatch(kind("v1", "Node"), "spec.unschedulable=true",
                     "{\"spec\":{\"unschedulable\":true}}"));
    cr_assert(fmatch(kind("v1", "Secret"), "type=Opaque", "{\"type\":\"Opaque\"}"));
    cr_assert(fmatch(kind("apps/v1", "ReplicaSet"), "status.replicas=0", "{}"));
    cr_assert(fmatch(kind("apps/v1", "ReplicaSet"), "status.replicas=3",
                     "{\"status\":{\"replicas\":3}}"));
    cr_assert(
        fmatch(kind("batch/v1", "Job"), "status.successful=1", "{\"status\":{\"successful\":1}}"));
    const char *ev = "{\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"x\",\"uid\":\"u\"},"
                     "\"source\":{\"component\":\"kubelet\"},\"type\":\"Normal\"}";
    cr_assert(fmatch(kind("v1", "Event"),
                     "involvedObject.name=x,involvedObject.kind=Pod,involvedObject.uid=u", ev));
    cr_assert(fmatch(kind("v1", "Event"), "source=kubelet,type=Normal", ev));
    const char *ev2 = "{\"regarding\":{\"kind\":\"Pod\",\"name\":\"x\"},"
                      "\"reportingController\":\"k\"}";
    cr_assert(fmatch(kind("events.k8s.io/v1", "Event"),
                     "involvedObject.name=x,regarding.kind=Pod,reportingComponent=k", ev2));
}

Test(field_selector, escapes_and_errors)
{
    const struct api_kind *cm = kind("v1", "ConfigMap");
    cr_assert(fmatch(cm, "metadata.name=a\\,b\\=c\\\\", "{\"metadata\":{\"name\":\"a,b=c\\\\\"}}"));
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(api_field_selector_parse(cm, "spec.nodeName=x", &err) == NULL);
    cr_assert(eq(str, err->msg, "field label not supported: spec.nodeName"));
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    cr_assert(api_field_selector_parse(cm, "metadata.name", &err) == NULL);
    cr_assert(
        eq(str, err->msg, "invalid selector: 'metadata.name'; can't understand 'metadata.name'"));
    cr_assert(api_field_selector_parse(cm, "metadata.name=a\\x", &err) == NULL);
    cr_assert(eq(str, err->msg, "invalid field selector: invalid escape sequence: \\x"));
    cr_assert(api_field_selector_parse(cm, "metadata.name=a=b", &err) == NULL);
    cr_assert(eq(str, err->msg, "invalid field selector: unescaped character in value: 61"));
    cr_assert(api_field_selector_parse(NULL, "status.phase=x", &err) == NULL);

    _cleanup_field_selector_ struct api_field_selector *s =
        api_field_selector_parse(cm, "metadata.namespace=d,metadata.name!=x", NULL);
    cr_assert(eq(str, (char *)api_field_selector_exact(s, "metadata.namespace"), "d"));
    cr_assert(api_field_selector_exact(s, "metadata.name") == NULL);
}
