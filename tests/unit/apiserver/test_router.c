/* Unit tests for the pure parts of src/apiserver: routing, content negotiation, query
 * decoding and continue tokens. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/mem.h"

static int route(const char *path, struct apiserver_route *r, enum k8c_reason *reason)
{
    _cleanup_err_ struct k8c_err *e = NULL;
    int rc = apiserver__route_parse(path, r, &e);
    if (rc < 0 && reason)
        *reason = e->reason;
    return rc;
}

Test(apiserver_router, fixed_endpoints)
{
    struct apiserver_route r;
    static const struct {
        const char *path;
        enum apiserver_route_type type;
    } cases[] = {
        {"/version", ROUTE_VERSION},
        {"/version/", ROUTE_VERSION},
        {"/healthz", ROUTE_HEALTH},
        {"/readyz", ROUTE_HEALTH},
        {"/livez/ping", ROUTE_HEALTH},
        {"/metrics", ROUTE_METRICS},
        {"/api", ROUTE_API},
        {"/apis", ROUTE_APIS},
        {"/apis/apps", ROUTE_GROUP},
        {"/api/v1", ROUTE_GROUP_VERSION},
        {"/apis/apps/v1", ROUTE_GROUP_VERSION},
        {"/openapi/v2", ROUTE_OPENAPI_V2},
        {"/openapi/v3", ROUTE_OPENAPI_V3},
        {"/openapi/v3/api/v1", ROUTE_OPENAPI_V3_DOC},
        {"/openapi/v3/apis/apps/v1", ROUTE_OPENAPI_V3_DOC},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int rc = route(cases[i].path, &r, NULL);
        cr_assert(eq(int, rc, 0), "%s", cases[i].path);
        int type = r.type;
        cr_assert(eq(int, type, (int)cases[i].type), "%s", cases[i].path);
        apiserver__route_clear(&r);
    }
}

Test(apiserver_router, namespaced_object_and_subresource)
{
    struct apiserver_route r;
    cr_assert(eq(int, route("/api/v1/namespaces/default/pods/p1/status", &r, NULL), 0));
    cr_assert(eq(int, r.type, ROUTE_RESOURCE));
    cr_assert(eq(str, (char *)r.kind->kind, "Pod"));
    cr_assert(eq(str, r.ns, "default"));
    cr_assert(eq(str, r.name, "p1"));
    cr_assert(eq(str, r.subresource, "status"));
    apiserver__route_clear(&r);

    cr_assert(eq(int, route("/apis/apps/v1/namespaces/ns1/deployments/web/scale", &r, NULL), 0));
    cr_assert(eq(str, (char *)r.kind->kind, "Deployment"));
    cr_assert(eq(str, r.subresource, "scale"));
    apiserver__route_clear(&r);

    /* The collection across namespaces, and a cluster-scoped object. */
    cr_assert(eq(int, route("/api/v1/pods", &r, NULL), 0));
    cr_assert(r.ns == NULL && r.name == NULL);
    apiserver__route_clear(&r);
    cr_assert(eq(int, route("/api/v1/namespaces/kube-system", &r, NULL), 0));
    cr_assert(eq(str, (char *)r.kind->kind, "Namespace"));
    cr_assert(eq(str, r.name, "kube-system"));
    cr_assert(r.ns == NULL);
    apiserver__route_clear(&r);
    cr_assert(eq(int, route("/api/v1/namespaces/x/finalize", &r, NULL), 0));
    cr_assert(eq(str, r.name, "x"));
    cr_assert(eq(str, r.subresource, "finalize"));
    apiserver__route_clear(&r);
    cr_assert(eq(int, route("/api/v1/watch/namespaces/default/pods", &r, NULL), 0));
    cr_assert(r.legacy_watch);
    cr_assert(eq(str, r.ns, "default"));
    apiserver__route_clear(&r);
}

Test(apiserver_router, refusals)
{
    struct apiserver_route r;
    enum k8c_reason reason = 0;
    static const char *const not_found[] = {
        "/",
        "",
        "/nope",
        "/api/v2",
        "/apis/nope.example.com/v1",
        "/apis/apps/v9",
        "/api/v1/gizmos",
        "/api/v1/namespaces/default/pods/p1/nope",
        "/api/v1/pods/p1", /* a namespaced object needs its namespace */
        "/api/v1/namespaces/default/nodes/n1",
        "/api//v1",
        "/api/v1/namespaces/a/pods/b/c/d",
    };
    for (size_t i = 0; i < ARRAY_SIZE(not_found); i++) {
        int rc = route(not_found[i], &r, &reason);
        cr_assert(eq(int, rc, -1), "%s", not_found[i]);
        cr_assert(eq(int, reason, K8C_REASON_NOT_FOUND), "%s", not_found[i]);
        apiserver__route_clear(&r);
    }
    static const char *const bad[] = {"/api/v1/namespaces/default/pods/..",
                                      "/api/v1/namespaces/../pods",
                                      "/api/v1/namespaces/d/pods/a%b"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int rc = route(bad[i], &r, &reason);
        cr_assert(eq(int, rc, -1), "%s", bad[i]);
        cr_assert(eq(int, reason, K8C_REASON_BAD_REQUEST), "%s", bad[i]);
        apiserver__route_clear(&r);
    }
}

Test(apiserver_negotiate, accept_headers_as_kubectl_sends_them)
{
    const char *table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;"
                        "v=v1beta1;g=meta.k8s.io,application/json";
    cr_assert(eq(int, apiserver__negotiate(table, true, false), APISERVER_OUT_TABLE));
    cr_assert(eq(int, apiserver__negotiate(table, false, false), APISERVER_OUT_JSON));
    const char *disc = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as="
                       "APIGroupDiscoveryList,application/json";
    cr_assert(eq(int, apiserver__negotiate(disc, false, true), APISERVER_OUT_DISCOVERY));
    cr_assert(eq(int, apiserver__negotiate(disc, false, false), APISERVER_OUT_JSON));
    cr_assert(eq(int, apiserver__negotiate(NULL, true, true), APISERVER_OUT_JSON));
    cr_assert(eq(
        int,
        apiserver__negotiate("application/vnd.kubernetes.protobuf,application/json", true, false),
        APISERVER_OUT_JSON));
    cr_assert(eq(int, apiserver__negotiate("*/*", true, false), APISERVER_OUT_JSON));
    cr_assert(eq(int, apiserver__negotiate("application/vnd.kubernetes.protobuf", true, false),
                 APISERVER_OUT_PROTOBUF_ONLY));
    cr_assert(eq(int, apiserver__negotiate("  APPLICATION/JSON ; charset=utf-8", true, false),
                 APISERVER_OUT_JSON));
}

Test(apiserver_negotiate, content_types)
{
    cr_assert(eq(int, apiserver__content_type(NULL), APISERVER_IN_JSON));
    cr_assert(
        eq(int, apiserver__content_type("application/json; charset=utf-8"), APISERVER_IN_JSON));
    cr_assert(eq(int, apiserver__content_type("application/vnd.kubernetes.protobuf"),
                 APISERVER_IN_PROTOBUF));
    cr_assert(eq(int, apiserver__content_type("application/strategic-merge-patch+json"),
                 APISERVER_IN_STRATEGIC_PATCH));
    cr_assert(
        eq(int, apiserver__content_type("application/apply-patch+yaml"), APISERVER_IN_APPLY_PATCH));
    cr_assert(eq(int, apiserver__content_type("text/html"), APISERVER_IN_UNSUPPORTED));
}

Test(apiserver_query, decoding)
{
    struct apiserver_req req = {0};
    _cleanup_err_ struct k8c_err *e = NULL;
    int rc = apiserver__query_parse(&req,
                                    "labelSelector=app%3Dweb%2Ctier+in+(a)&watch&limit=500"
                                    "&limit=10",
                                    &e);
    cr_assert(eq(int, rc, 0));
    cr_assert(eq(str, (char *)apiserver__param(&req, "labelSelector"), "app=web,tier in (a)"));
    cr_assert(eq(str, (char *)apiserver__param(&req, "watch"), ""));
    cr_assert(eq(str, (char *)apiserver__param(&req, "limit"), "10")); /* the last one wins */
    cr_assert(apiserver__param(&req, "nope") == NULL);
    apiserver__req_clear(&req);
    rc = apiserver__query_parse(&req, "a=%zz", &e);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, e->reason, K8C_REASON_BAD_REQUEST));
    apiserver__req_clear(&req);
    k8c_err_freep(&e);
    rc = apiserver__query_parse(&req, "a=%00", &e);
    cr_assert(eq(int, rc, -1));
    apiserver__req_clear(&req);
}

Test(apiserver_continue, round_trip_and_refusals)
{
    _cleanup_free_ char *tok = apiserver__continue_encode(42, "/registry/pods/default/p7");
    int64_t rev = 0;
    _cleanup_free_ char *key = NULL;
    _cleanup_err_ struct k8c_err *e = NULL;
    int rc = apiserver__continue_decode(tok, "/registry/pods/default/", &rev, &key, &e);
    cr_assert(eq(int, rc, 0));
    cr_assert(eq(i64, rev, 42));
    cr_assert(eq(str, key, "/registry/pods/default/p7"));
    cr_assert(strchr(tok, '=') == NULL && strchr(tok, '+') == NULL && strchr(tok, '/') == NULL);
    /* A token for another list, garbage, and an empty token are 400s. */
    char *k2 = NULL;
    rc = apiserver__continue_decode(tok, "/registry/secrets/", &rev, &k2, &e);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, e->reason, K8C_REASON_BAD_REQUEST));
    k8c_err_freep(&e);
    rc = apiserver__continue_decode("!!!notbase64", "/registry/pods/", &rev, &k2, &e);
    cr_assert(eq(int, rc, -1));
    k8c_err_freep(&e);
    rc = apiserver__continue_decode("e30", "/registry/pods/", &rev, &k2, &e); /* "{}" */
    cr_assert(eq(int, rc, -1));
    cr_assert(k2 == NULL);
}

Test(apiserver_router, go_durations)
{
    static const struct {
        const char *text;
        uint64_t ns;
    } good[] = {
        {"30s", 30000000000ull},
        {"1m30s", 90000000000ull},
        {"500ms", 500000000ull},
        {"1.5h", 5400000000000ull},
        {"0", 0},
        {"2us", 2000},
        {"1h2m3s4ms", 3723004000000ull},
        {"-5s", 0},
        {"+1s", 1000000000ull},
        {".5s", 500000000ull},
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        uint64_t ns = 1;
        cr_assert(eq(int, apiserver_parse_duration(good[i].text, &ns), 0), "%s", good[i].text);
        cr_assert(eq(u64, ns, good[i].ns), "%s", good[i].text);
    }
    static const char *const bad[] = {"",    "5",   "soon", "1x",   "s",
                                      "1s ", " 1s", "-",    "1e3s", "99999999999h"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        uint64_t ns = 0;
        cr_assert(eq(int, apiserver_parse_duration(bad[i], &ns), -1), "\"%s\"", bad[i]);
    }
}
