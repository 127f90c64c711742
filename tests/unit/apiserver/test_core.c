/* Unit tests for the API server's handlers through the in-process entry point
 * (apiserver_core_serve) over a real SQLite store in a temporary directory: the same code
 * paths the HTTPS front calls, here under ASan in `make asan`. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

static char dir[64];
static struct store *st;
static struct apiserver_core *core;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/k8c-apiserver-unit-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    _cleanup_free_ char *url = xasprintf("sqlite:%s/state.db", dir);
    _cleanup_err_ struct k8c_err *e = NULL;
    st = store_open(url, NULL, &e);
    cr_assert(st != NULL);
    core = apiserver_core_new(st, NULL, &e);
    cr_assert(core != NULL);
}

static void teardown(void)
{
    apiserver_core_free(core);
    store_close(st);
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
    cr_assert(eq(int, system(cmd), 0));
}

/* Serves one request; returns the code and the parsed body (new reference, may be NULL). */
static int serve(const char *method, const char *path, const char *query, const char *ctype,
                 const char *body, json_t **out)
{
    struct apiserver_request_in in = {.method = method,
                                      .path = path,
                                      .query = query,
                                      .content_type = ctype,
                                      .body = body,
                                      .body_len = body ? strlen(body) : 0};
    struct apiserver_response_out r = {0};
    apiserver_core_serve(core, &in, &r);
    int code = r.code;
    if (out) {
        _cleanup_err_ struct k8c_err *e = NULL;
        *out = r.body.len ? kjson_parse(r.body.data, r.body.len, &e) : NULL;
    }
    apiserver_response_clear(&r);
    return code;
}

#define CM(name)                                                                                   \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" name "\"}}"

TestSuite(apiserver_core, .init = setup, .fini = teardown);

Test(apiserver_core, create_get_conflict_delete)
{
    const char *path = "/api/v1/namespaces/default/configmaps";
    _cleanup_json_ json_t *obj = NULL;
    int code = serve("POST", path, NULL, "application/json", CM("a"), &obj);
    cr_assert(eq(int, code, 201));
    const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
    cr_assert(rv != NULL);
    _cleanup_json_ json_t *dup = NULL;
    code = serve("POST", path, NULL, "application/json", CM("a"), &dup);
    cr_assert(eq(int, code, 409));
    cr_assert(eq(str, (char *)kjson_path_str(dup, "reason"), "AlreadyExists"));
    cr_assert(eq(str, (char *)kjson_path_str(dup, "message"), "configmaps \"a\" already exists"));
    /* A PUT with a stale resourceVersion is a 409 Conflict. */
    const char *stale = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                        "\"a\",\"resourceVersion\":\"1\"},\"data\":{\"x\":\"y\"}}";
    _cleanup_json_ json_t *c = NULL;
    code = serve("PUT", "/api/v1/namespaces/default/configmaps/a", NULL, NULL, stale, &c);
    cr_assert(eq(int, code, 409));
    cr_assert(eq(str, (char *)kjson_path_str(c, "reason"), "Conflict"));
    code = serve("DELETE", "/api/v1/namespaces/default/configmaps/a", NULL, NULL, NULL, NULL);
    cr_assert(eq(int, code, 200));
    _cleanup_json_ json_t *nf = NULL;
    code = serve("GET", "/api/v1/namespaces/default/configmaps/a", NULL, NULL, NULL, &nf);
    cr_assert(eq(int, code, 404));
    cr_assert(eq(str, (char *)kjson_path_str(nf, "message"), "configmaps \"a\" not found"));
}

Test(apiserver_core, list_pages_and_watch_in_process)
{
    const char *path = "/api/v1/namespaces/default/configmaps";
    static const char *const names[] = {CM("c1"), CM("c2"), CM("c3")};
    for (size_t i = 0; i < 3; i++)
        cr_assert(eq(int, serve("POST", path, NULL, NULL, names[i], NULL), 201));
    _cleanup_json_ json_t *p1 = NULL;
    cr_assert(eq(int, serve("GET", path, "limit=2", NULL, NULL, &p1), 200));
    cr_assert(eq(sz, json_array_size(json_object_get(p1, "items")), 2));
    const char *cont = kjson_path_str(p1, "metadata.continue");
    cr_assert(cont != NULL);
    _cleanup_free_ char *q = xasprintf("limit=2&continue=%s", cont);
    _cleanup_json_ json_t *p2 = NULL;
    cr_assert(eq(int, serve("GET", path, q, NULL, NULL, &p2), 200));
    cr_assert(eq(sz, json_array_size(json_object_get(p2, "items")), 1));
    cr_assert(
        eq(str,
           (char *)kjson_path_str(json_array_get(json_object_get(p2, "items"), 0), "metadata.name"),
           "c3"));
    cr_assert(kjson_path_str(p2, "metadata.continue") == NULL);
    /* In-process, a watch answers what is pending and ends: three synthetic ADDED. */
    struct apiserver_request_in in = {.method = "GET", .path = path, .query = "watch=true"};
    struct apiserver_response_out r = {0};
    apiserver_core_serve(core, &in, &r);
    cr_assert(eq(int, r.code, 200));
    size_t lines = 0;
    for (size_t i = 0; i < r.body.len; i++)
        lines += r.body.data[i] == '\n';
    cr_assert(eq(sz, lines, 3));
    cr_assert(strstr(r.body.data, "{\"type\":\"ADDED\"") == r.body.data);
    apiserver_response_clear(&r);
}

Test(apiserver_core, limits_and_bad_input)
{
    /* In-flight limit reached: 429 with Retry-After. */
    atomic_store(&core->inflight_readonly, core->max_readonly);
    struct apiserver_request_in in = {.method = "GET", .path = "/api/v1/namespaces"};
    struct apiserver_response_out r = {0};
    apiserver_core_serve(core, &in, &r);
    cr_assert(eq(int, r.code, 429));
    cr_assert(eq(int, r.retry_after, 1));
    apiserver_response_clear(&r);
    atomic_store(&core->inflight_readonly, 0);
    /* A body over 3 MiB. */
    size_t big = APISERVER_MAX_BODY + 1;
    char *body = xmalloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    in = (struct apiserver_request_in){.method = "POST",
                                       .path = "/api/v1/namespaces/default/configmaps",
                                       .body = body,
                                       .body_len = big};
    apiserver_core_serve(core, &in, &r);
    cr_assert(eq(int, r.code, 413));
    apiserver_response_clear(&r);
    free(body);
    /* Kind mismatch, broken JSON, unknown namespace, a garbage watch revision. */
    _cleanup_json_ json_t *a = NULL;
    cr_assert(
        eq(int,
           serve("POST", "/api/v1/namespaces/default/configmaps", NULL, NULL,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}", &a),
           400));
    cr_assert(eq(int, serve("POST", "/api/v1/namespaces/default/configmaps", NULL, NULL, "{", NULL),
                 400));
    _cleanup_json_ json_t *b = NULL;
    cr_assert(
        eq(int, serve("POST", "/api/v1/namespaces/nope/configmaps", NULL, NULL, CM("x"), &b), 404));
    cr_assert(eq(str, (char *)kjson_path_str(b, "message"), "namespaces \"nope\" not found"));
    cr_assert(eq(int,
                 serve("GET", "/api/v1/namespaces/default/configmaps", "watch=1&resourceVersion=x1",
                       NULL, NULL, NULL),
                 400));
    cr_assert(eq(int, serve("GET", "/api/v1/gizmos", NULL, NULL, NULL, NULL), 404));
}

Test(apiserver_core, watch_from_a_forgotten_revision_is_410)
{
    /* A second core over a store with a 2-event window, compacted after the writes (a
     * revision only older than the window would be read back from the file). */
    _cleanup_free_ char *url = xasprintf("sqlite:%s/small.db", dir);
    _cleanup_err_ struct k8c_err *e = NULL;
    struct store_options o = {.watch_window_events = 2};
    struct store *small = store_open(url, &o, &e);
    cr_assert(small != NULL);
    struct apiserver_core *c2 = apiserver_core_new(small, NULL, &e);
    cr_assert(c2 != NULL);
    static const char *const bodies[] = {CM("w1"), CM("w2"), CM("w3"), CM("w4"), CM("w5")};
    for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
        struct apiserver_request_in in = {.method = "POST",
                                          .path = "/api/v1/namespaces/default/configmaps",
                                          .body = bodies[i],
                                          .body_len = strlen(bodies[i])};
        struct apiserver_response_out r = {0};
        apiserver_core_serve(c2, &in, &r);
        cr_assert(eq(int, r.code, 201));
        apiserver_response_clear(&r);
    }
    cr_assert(eq(int, store_compact(small, store_revision(small), &e), 0));
    struct apiserver_request_in in = {.method = "GET",
                                      .path = "/api/v1/namespaces/default/configmaps",
                                      .query = "watch=1&resourceVersion=1"};
    struct apiserver_response_out r = {0};
    apiserver_core_serve(c2, &in, &r);
    cr_assert(eq(int, r.code, 200));
    _cleanup_json_ json_t *ev = kjson_parse(r.body.data, r.body.len - 1, &e);
    cr_assert(ev != NULL, "%s", r.body.data);
    cr_assert(eq(str, (char *)kjson_path_str(ev, "type"), "ERROR"));
    json_t *code = kjson_path(ev, "object.code");
    cr_assert(eq(int, (int)json_integer_value(code), 410));
    cr_assert(eq(str, (char *)kjson_path_str(ev, "object.reason"), "Expired"));
    apiserver_response_clear(&r);
    apiserver_core_free(c2);
    store_close(small);
}

/* Splits an in-process watch's body into its events (new reference, a JSON array). */
static json_t *watch_events(const char *path, const char *query)
{
    struct apiserver_request_in in = {.method = "GET", .path = path, .query = query};
    struct apiserver_response_out r = {0};
    apiserver_core_serve(core, &in, &r);
    cr_assert(eq(int, r.code, 200));
    json_t *out = json_array();
    for (char *line = r.body.data, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
        _cleanup_err_ struct k8c_err *e = NULL;
        json_t *ev = kjson_parse(line, (size_t)(nl - line), &e);
        cr_assert(ev != NULL, "watch line is not JSON: %.*s", (int)(nl - line), line);
        json_array_append_new(out, ev);
    }
    apiserver_response_clear(&r);
    return out;
}

/* Watchers share one encoding (and, with selectors, one decoded object) per revision: every
 * watcher sees the same objects with their own resourceVersion, also for stored bytes whose
 * fields before metadata hold quotes, brackets and escapes, and selectors still turn a move
 * into or out of the selection into ADDED/DELETED. */
Test(apiserver_core, watchers_share_encoded_events)
{
    const char *path = "/api/v1/namespaces/default/configmaps";
    const char *body =
        "{\"data\":{\"k\":\"}\\\"{[\\\\\",\"n\":\"1\"},\"apiVersion\":\"v1\",\"kind\":"
        "\"ConfigMap\",\"metadata\":{\"name\":\"s1\",\"labels\":{\"a\":\"x\"}}}";
    _cleanup_json_ json_t *created = NULL;
    cr_assert(eq(int, serve("POST", path, NULL, NULL, body, &created), 201));
    const char *rv0 = kjson_path_str(created, "metadata.resourceVersion");
    _cleanup_free_ char *from = xasprintf("watch=1&resourceVersion=%lld", atoll(rv0) - 1);
    const char *moved = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                        "\"s1\",\"labels\":{\"a\":\"y\"}},\"data\":{\"k\":\"v\"}}";
    cr_assert(eq(int,
                 serve("PUT", "/api/v1/namespaces/default/configmaps/s1", NULL, NULL, moved, NULL),
                 200));
    cr_assert(
        eq(int, serve("DELETE", "/api/v1/namespaces/default/configmaps/s1", NULL, NULL, NULL, NULL),
           200));
    for (int round = 0; round < 2; round++) { /* the second round reads the cache */
        _cleanup_json_ json_t *all = watch_events(path, from);
        cr_assert(eq(sz, json_array_size(all), 3));
        static const char *const types[] = {"ADDED", "MODIFIED", "DELETED"};
        long long prev_rv = 0;
        for (size_t i = 0; i < 3; i++) {
            json_t *ev = json_array_get(all, i);
            cr_assert(eq(str, (char *)kjson_path_str(ev, "type"), (char *)types[i]));
            const char *rv = kjson_path_str(ev, "object.metadata.resourceVersion");
            cr_assert(rv != NULL && atoll(rv) > prev_rv);
            prev_rv = atoll(rv);
            cr_assert(eq(str, (char *)kjson_path_str(ev, "object.metadata.name"), "s1"));
        }
        cr_assert(
            eq(str, (char *)kjson_path_str(json_array_get(all, 0), "object.data.k"), "}\"{[\\"));
        cr_assert(
            eq(str, (char *)rv0,
               (char *)kjson_path_str(json_array_get(all, 0), "object.metadata.resourceVersion")));
        /* a=x: ADDED, then the relabel moves it out (DELETED); the deletion is not seen */
        _cleanup_free_ char *qx = xasprintf("%s&labelSelector=a%%3Dx", from);
        _cleanup_json_ json_t *x = watch_events(path, qx);
        cr_assert(eq(sz, json_array_size(x), 2));
        cr_assert(eq(str, (char *)kjson_path_str(json_array_get(x, 1), "type"), "DELETED"));
        /* a=y: the relabel moves it in (ADDED), then DELETED */
        _cleanup_free_ char *qy = xasprintf("%s&labelSelector=a%%3Dy", from);
        _cleanup_json_ json_t *y = watch_events(path, qy);
        cr_assert(eq(sz, json_array_size(y), 2));
        cr_assert(eq(str, (char *)kjson_path_str(json_array_get(y, 0), "type"), "ADDED"));
        cr_assert(json_equal(json_object_get(json_array_get(y, 0), "object"),
                             json_object_get(json_array_get(all, 1), "object")));
        cr_assert(eq(str, (char *)kjson_path_str(json_array_get(y, 1), "type"), "DELETED"));
    }
}

/* Namespaces found active are remembered, and a namespace's change is seen by the next
 * create: once it terminates, creates in it are 403 at once. */
Test(apiserver_core, namespace_check_follows_changes)
{
    const char *nsb =
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"t1\"}}";
    cr_assert(eq(int, serve("POST", "/api/v1/namespaces", NULL, NULL, nsb, NULL), 201));
    const char *path = "/api/v1/namespaces/t1/configmaps";
    cr_assert(eq(int, serve("POST", path, NULL, NULL, CM("a"), NULL), 201));
    cr_assert(eq(int, serve("POST", path, NULL, NULL, CM("b"), NULL), 201));
    /* 202: it terminates (its finalizer holds it) */
    cr_assert(eq(int, serve("DELETE", "/api/v1/namespaces/t1", NULL, NULL, NULL, NULL), 202));
    _cleanup_json_ json_t *st = NULL;
    cr_assert(eq(int, serve("POST", path, NULL, NULL, CM("c"), &st), 403));
    cr_assert(eq(str, (char *)kjson_path_str(st, "message"),
                 "unable to create new content in namespace t1 because it is being terminated"));
    _cleanup_json_ json_t *nf = NULL;
    cr_assert(eq(int, serve("POST", "/api/v1/namespaces/nope/configmaps", NULL, NULL, CM("a"), &nf),
                 404));
    cr_assert(eq(str, (char *)kjson_path_str(nf, "message"), "namespaces \"nope\" not found"));
}
