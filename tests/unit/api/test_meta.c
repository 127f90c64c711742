/* Unit tests for src/api/meta.c: create/update bookkeeping as kube-apiserver does it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "api/meta.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *parse(const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(v != NULL, "%s", text);
    return v;
}

static const struct api_kind *kind(const char *g, const char *r)
{
    return api_kind_by_resource(g, "v1", r);
}

Test(meta, uuid_and_suffix)
{
    char a[37], b[37];
    api_meta_uuid(a);
    api_meta_uuid(b);
    cr_assert(eq(sz, strlen(a), 36));
    cr_assert(ne(str, a, b));
    cr_assert(eq(chr, a[14], '4'));
    cr_assert(strchr("89ab", a[19]) != NULL);
    cr_assert(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    char s[33];
    api_meta_random_suffix(s, 32);
    cr_assert(eq(sz, strlen(s), 32));
    for (size_t i = 0; i < 32; i++)
        cr_assert(strchr("bcdfghjklmnpqrstvwxz2456789", s[i]) != NULL);
}

Test(meta, create_fills_metadata)
{
    _cleanup_json_ json_t *o =
        parse("{\"metadata\":{\"generateName\":\"web-\",\"resourceVersion\":\"9\","
              "\"generation\":7},\"data\":{\"a\":\"b\"}}");
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = api_meta_prepare_create(kind("", "configmaps"), o, "default", &err);
    cr_assert(eq(int, rc, 0));
    cr_assert(eq(str, (char *)kjson_path_str(o, "apiVersion"), "v1"));
    cr_assert(eq(str, (char *)kjson_path_str(o, "kind"), "ConfigMap"));
    const char *name = kjson_path_str(o, "metadata.name");
    cr_assert(name != NULL && strlen(name) == 9 && strncmp(name, "web-", 4) == 0);
    cr_assert(eq(str, (char *)kjson_path_str(o, "metadata.namespace"), "default"));
    cr_assert(eq(sz, strlen(kjson_path_str(o, "metadata.uid")), 36));
    const char *ts = kjson_path_str(o, "metadata.creationTimestamp");
    cr_assert(ts != NULL && strlen(ts) == 20 && ts[19] == 'Z');
    cr_assert(kjson_path(o, "metadata.resourceVersion") == NULL);
    cr_assert(kjson_path(o, "metadata.generation") == NULL);
    cr_assert(kjson_path(o, "status") == NULL);
}

Test(meta, create_generate_name_is_cut)
{
    char gen[80];
    memset(gen, 'a', 70);
    gen[70] = 0;
    _cleanup_free_ char *text = xasprintf("{\"metadata\":{\"generateName\":\"%s\"}}", gen);
    _cleanup_json_ json_t *o = parse(text);
    cr_assert(eq(int, api_meta_prepare_create(kind("", "configmaps"), o, "d", NULL), 0));
    cr_assert(eq(sz, strlen(kjson_path_str(o, "metadata.name")), 63));
}

Test(meta, create_refuses_mismatches)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *a =
        parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Pod\",\"metadata\":{}}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "pods"), a, "d", &err), -1));
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    cr_assert(eq(str, err->msg,
                 "the API version in the data (apps/v1) does not match the expected API "
                 "version (v1)"));
    _cleanup_json_ json_t *b = parse("{\"apiVersion\":\"v1\",\"kind\":\"Service\"}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "pods"), b, "d", &err), -1));
    cr_assert(strstr(err->msg, "Service in version \"v1\" cannot be handled as a Pod") != NULL,
              "%s", err->msg);
    _cleanup_json_ json_t *c = parse("{\"metadata\":{\"name\":\"x\",\"namespace\":\"other\"}}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "pods"), c, "d", &err), -1));
    cr_assert(eq(str, err->msg,
                 "the namespace of the provided object does not match the namespace sent on "
                 "the request"));
    _cleanup_json_ json_t *d = parse("[1]");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "pods"), d, "d", &err), -1));
    _cleanup_json_ json_t *e = parse("{\"metadata\":3}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "pods"), e, "d", &err), -1));
    _cleanup_json_ json_t *f = parse("{\"kind\":7}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "pods"), f, "d", &err), -1));
}

Test(meta, create_status_rules)
{
    _cleanup_json_ json_t *pod =
        parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"c\","
              "\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]},"
              "\"status\":{\"phase\":\"Running\"}}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "pods"), pod, "d", NULL), 0));
    cr_assert(eq(str, (char *)kjson_path_str(pod, "status.phase"), "Pending"));
    cr_assert(eq(str, (char *)kjson_path_str(pod, "status.qosClass"), "Guaranteed"));

    _cleanup_json_ json_t *ns = parse("{\"metadata\":{\"name\":\"n\",\"namespace\":\"x\"}}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "namespaces"), ns, "", NULL), 0));
    cr_assert(eq(str, (char *)kjson_path_str(ns, "status.phase"), "Active"));
    cr_assert(kjson_path(ns, "metadata.namespace") == NULL);

    _cleanup_json_ json_t *dep =
        parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"w\"},"
              "\"status\":{\"replicas\":3}}");
    cr_assert(eq(int, api_meta_prepare_create(kind("apps", "deployments"), dep, "d", NULL), 0));
    json_int_t gen = json_integer_value(kjson_path(dep, "metadata.generation"));
    cr_assert(eq(i64, gen, 1));
    cr_assert(eq(sz, json_object_size(kjson_path(dep, "status")), 0));

    _cleanup_json_ json_t *node = parse("{\"metadata\":{\"name\":\"n\"},\"status\":{\"x\":1}}");
    cr_assert(eq(int, api_meta_prepare_create(kind("", "nodes"), node, "", NULL), 0));
    cr_assert(kjson_path(node, "status.x") != NULL);
}

Test(meta, qos_classes)
{
    _cleanup_json_ json_t *be = parse("{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
    api_meta_prepare_create(kind("", "pods"), be, "d", NULL);
    cr_assert(eq(str, (char *)kjson_path_str(be, "status.qosClass"), "BestEffort"));
    _cleanup_json_ json_t *bu = parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":"
                                      "{\"requests\":{\"cpu\":\"100m\"}}}]}}");
    api_meta_prepare_create(kind("", "pods"), bu, "d", NULL);
    cr_assert(eq(str, (char *)kjson_path_str(bu, "status.qosClass"), "Burstable"));
}

Test(meta, update_generation_and_status_split)
{
    _cleanup_json_ json_t *old =
        parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"w\","
              "\"namespace\":\"d\",\"uid\":\"u1\",\"creationTimestamp\":\"2020-01-01T00:00:00Z\","
              "\"generation\":4,\"labels\":{\"a\":\"1\"}},\"spec\":{\"replicas\":1},"
              "\"status\":{\"replicas\":1}}");
    /* Spec write: generation bumps, status is kept. */
    _cleanup_json_ json_t *a =
        parse("{\"metadata\":{\"name\":\"w\",\"resourceVersion\":\"5\"},\"spec\":{\"replicas\":2},"
              "\"status\":{\"replicas\":9}}");
    cr_assert(
        eq(int, api_meta_prepare_update(kind("apps", "deployments"), a, old, false, NULL), 0));
    json_int_t g = json_integer_value(kjson_path(a, "metadata.generation"));
    cr_assert(eq(i64, g, 5));
    json_int_t r = json_integer_value(kjson_path(a, "status.replicas"));
    cr_assert(eq(i64, r, 1));
    cr_assert(eq(str, (char *)kjson_path_str(a, "metadata.uid"), "u1"));
    cr_assert(eq(str, (char *)kjson_path_str(a, "metadata.namespace"), "d"));
    cr_assert(eq(str, (char *)kjson_path_str(a, "metadata.resourceVersion"), "5"));
    cr_assert(
        eq(str, (char *)kjson_path_str(a, "metadata.creationTimestamp"), "2020-01-01T00:00:00Z"));

    /* Label-only write: no bump. */
    _cleanup_json_ json_t *b = parse("{\"metadata\":{\"name\":\"w\",\"labels\":{\"b\":\"2\"}},"
                                     "\"spec\":{\"replicas\":1}}");
    api_meta_prepare_update(kind("apps", "deployments"), b, old, false, NULL);
    g = json_integer_value(kjson_path(b, "metadata.generation"));
    cr_assert(eq(i64, g, 4));

    /* Annotation write on a Deployment bumps. */
    _cleanup_json_ json_t *c = parse("{\"metadata\":{\"name\":\"w\",\"annotations\":{\"b\":\"2\"}},"
                                     "\"spec\":{\"replicas\":1}}");
    api_meta_prepare_update(kind("apps", "deployments"), c, old, false, NULL);
    g = json_integer_value(kjson_path(c, "metadata.generation"));
    cr_assert(eq(i64, g, 5));

    /* Status write: spec and labels come from old, status from the body. */
    _cleanup_json_ json_t *d =
        parse("{\"metadata\":{\"name\":\"w\",\"labels\":{}},\"spec\":{\"replicas\":7},"
              "\"extra\":1,\"status\":{\"replicas\":3}}");
    api_meta_prepare_update(kind("apps", "deployments"), d, old, true, NULL);
    r = json_integer_value(kjson_path(d, "spec.replicas"));
    cr_assert(eq(i64, r, 1));
    r = json_integer_value(kjson_path(d, "status.replicas"));
    cr_assert(eq(i64, r, 3));
    cr_assert(json_object_get(d, "extra") == NULL);
    cr_assert(eq(str, (char *)kjson_path_str(d, "metadata.labels.a"), "1"));
    g = json_integer_value(kjson_path(d, "metadata.generation"));
    cr_assert(eq(i64, g, 4));
}

Test(meta, update_without_status_subresource_and_rv)
{
    _cleanup_json_ json_t *old = parse("{\"metadata\":{\"name\":\"c\",\"uid\":\"u\"},"
                                       "\"data\":{\"a\":\"1\"}}");
    _cleanup_json_ json_t *o = parse("{\"metadata\":{\"name\":\"c\",\"generation\":3},"
                                     "\"data\":{\"a\":\"2\"}}");
    cr_assert(eq(int, api_meta_prepare_update(kind("", "configmaps"), o, old, false, NULL), 0));
    cr_assert(kjson_path(o, "metadata.generation") == NULL);
    cr_assert(eq(str, (char *)kjson_path_str(o, "data.a"), "2"));
    api_meta_set_resource_version(o, 1234567890123);
    cr_assert(eq(str, (char *)kjson_path_str(o, "metadata.resourceVersion"), "1234567890123"));
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *bad = parse("{\"kind\":\"Secret\"}");
    cr_assert(eq(int, api_meta_prepare_update(kind("", "configmaps"), bad, old, false, &err), -1));
}

Test(meta, event_conversion)
{
    _cleanup_json_ json_t *core =
        parse("{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"e\"},"
              "\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"},\"message\":\"hi\","
              "\"reason\":\"Started\",\"count\":2,\"reportingComponent\":\"kubelet\"}");
    _cleanup_json_ json_t *ev = api_event_convert(core, "events.k8s.io/v1");
    cr_assert(eq(str, (char *)kjson_path_str(ev, "apiVersion"), "events.k8s.io/v1"));
    cr_assert(eq(str, (char *)kjson_path_str(ev, "regarding.name"), "p"));
    cr_assert(eq(str, (char *)kjson_path_str(ev, "note"), "hi"));
    cr_assert(eq(str, (char *)kjson_path_str(ev, "reportingController"), "kubelet"));
    cr_assert(json_object_get(ev, "involvedObject") == NULL);
    json_int_t n = json_integer_value(json_object_get(ev, "deprecatedCount"));
    cr_assert(eq(i64, n, 2));
    _cleanup_json_ json_t *back = api_event_convert(ev, "v1");
    cr_assert(json_equal(back, core));
    cr_assert(api_event_convert(core, "v2") == NULL);
}

Test(meta, graceful_deletion)
{
    const struct api_kind *pods = kind("", "pods");
    _cleanup_json_ json_t *unscheduled = parse("{\"spec\":{}}");
    cr_assert(eq(i64, api_meta_grace_period(pods, unscheduled, -1), 0));
    _cleanup_json_ json_t *running = parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName\":"
                                           "\"n1\",\"terminationGracePeriodSeconds\":45}}");
    cr_assert(eq(i64, api_meta_grace_period(pods, running, -1), 45));
    cr_assert(eq(i64, api_meta_grace_period(pods, running, 0), 0));
    cr_assert(eq(i64, api_meta_grace_period(pods, running, 5), 5));
    cr_assert(eq(i64, api_meta_grace_period(pods, running, -7), 1));
    _cleanup_json_ json_t *done = parse("{\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"phase\":"
                                        "\"Succeeded\"}}");
    cr_assert(eq(i64, api_meta_grace_period(pods, done, -1), 0));
    cr_assert(eq(i64, api_meta_grace_period(kind("", "configmaps"), running, 30), 0));

    cr_assert(api_meta_mark_deleting(running, 45));
    const char *ts = kjson_path_str(running, "metadata.deletionTimestamp");
    cr_assert(ts != NULL && strlen(ts) == 20);
    json_int_t g = json_integer_value(kjson_path(running, "metadata.deletionGracePeriodSeconds"));
    cr_assert(eq(i64, g, 45));
    cr_assert(false == api_meta_mark_deleting(running, 60)); /* longer: kept */
    cr_assert(false == api_meta_deletion_done(running));
    cr_assert(api_meta_mark_deleting(running, 0)); /* shorter: replaces */
    cr_assert(api_meta_deletion_done(running));
    _cleanup_json_ json_t *fin = parse("{\"metadata\":{\"finalizers\":[\"kubernetes\"]}}");
    api_meta_mark_deleting(fin, 0);
    cr_assert(false == api_meta_deletion_done(fin));
}
