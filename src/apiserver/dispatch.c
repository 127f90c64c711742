/* The request pipeline between HTTP and the handlers: route, decide the Kubernetes verb,
 * authorize, apply the in-flight limits (429 with Retry-After), call the handler and record
 * metrics. Also the in-process entry point (apiserver_core_serve) that tests and the fuzzer
 * use without sockets. */
#include <stdio.h>
#include <string.h>

#include "api/defaults.h"
#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

/* The Kubernetes verb of a resource request; NULL for a method the API does not have. */
static const char *resource_verb(const struct apiserver_req *req, const struct apiserver_route *r)
{
    const char *m = req->method;
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        if (r->legacy_watch || (apiserver__param_bool(req, "watch") && !r->subresource))
            return "watch";
        return r->name ? "get" : "list";
    }
    if (strcmp(m, "POST") == 0)
        return "create";
    if (strcmp(m, "PUT") == 0)
        return "update";
    if (strcmp(m, "PATCH") == 0)
        return "patch";
    if (strcmp(m, "DELETE") == 0)
        return r->name ? "delete" : "deletecollection";
    return NULL;
}

static bool is_mutating(const char *verb)
{
    return strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0 ||
           strcmp(verb, "patch") == 0 || strcmp(verb, "delete") == 0 ||
           strcmp(verb, "deletecollection") == 0;
}

static const char *metric_verb(const char *verb)
{
    static const char *const map[][2] = {
        {"get", "GET"},    {"list", "LIST"},   {"watch", "WATCH"},   {"create", "POST"},
        {"update", "PUT"}, {"patch", "PATCH"}, {"delete", "DELETE"}, {"deletecollection", "DELETE"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strcmp(map[i][0], verb) == 0)
            return map[i][1];
    return "OTHER";
}

static void serve_health(struct apiserver_core *core, const struct apiserver_route *route,
                         struct apiserver_resp *resp)
{
    bool ok = !atomic_load(&core->stopping) &&
              (strcmp(route->resource, "readyz") != 0 || atomic_load(&core->ready));
    apiserver__resp_text(resp, ok ? 200 : 503, "text/plain; charset=utf-8",
                         ok ? "ok" : "not ready");
}

static void serve_resource(struct apiserver_core *core, struct apiserver_req *req,
                           const struct apiserver_route *route, const char *verb,
                           struct apiserver_resp *resp)
{
    if (strcmp(verb, "get") == 0)
        apiserver__serve_get(core, req, route, resp);
    else if (strcmp(verb, "list") == 0)
        apiserver__serve_list(core, req, route, resp);
    else if (strcmp(verb, "watch") == 0)
        apiserver__serve_watch(core, req, route, resp);
    else if (strcmp(verb, "create") == 0)
        apiserver__serve_create(core, req, route, resp);
    else if (strcmp(verb, "update") == 0)
        apiserver__serve_update(core, req, route, resp);
    else if (strcmp(verb, "patch") == 0)
        apiserver__serve_patch(core, req, route, resp);
    else if (strcmp(verb, "delete") == 0)
        apiserver__serve_delete(core, req, route, resp);
    else
        apiserver__serve_deletecollection(core, req, route, resp);
}

void apiserver__dispatch(struct apiserver_core *core, struct apiserver_req *req,
                         struct apiserver_resp *resp)
{
    uint64_t t0 = clock_mono_ns();
    struct apiserver_route route;
    _cleanup_err_ struct k8c_err *e = NULL;
    const char *verb = "get";
    const char *resource = "";
    if (apiserver__route_parse(req->path, &route, &e) < 0) {
        apiserver__resp_err(resp, e);
        goto done;
    }
    bool public_info = route.type == ROUTE_HEALTH || route.type == ROUTE_VERSION;
    if (!req->user && !public_info) {
        apiserver__resp_status(resp, 401, "Unauthorized", "Unauthorized", NULL, NULL, NULL);
        goto done;
    }
    if (route.type == ROUTE_ACCESS_REVIEW) {
        verb = "create";
        resource = route.resource;
        if (strcmp(req->method, "POST") != 0)
            apiserver__resp_status(resp, 405, "MethodNotAllowed",
                                   "the server does not allow this method on the requested "
                                   "resource",
                                   NULL, NULL, NULL);
        else
            apiserver__serve_access_review(req, resp);
        goto done;
    }
    if (route.type != ROUTE_RESOURCE) {
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
            apiserver__resp_status(resp, 405, "MethodNotAllowed",
                                   "the server does not allow this method on the requested "
                                   "resource",
                                   NULL, NULL, NULL);
            goto done;
        }
        switch (route.type) {
        case ROUTE_VERSION: apiserver__serve_version(resp); break;
        case ROUTE_HEALTH: serve_health(core, &route, resp); break;
        case ROUTE_METRICS: {
            struct buf b = BUF_INIT;
            apiserver__metrics_render(core->metrics, &b);
            int w = atomic_load(&core->watches);
            buf_appendf(&b,
                        "# HELP apiserver_registered_watchers Number of currently open watches.\n"
                        "# TYPE apiserver_registered_watchers gauge\n"
                        "apiserver_registered_watchers %d\n"
                        "# HELP apiserver_current_inflight_requests Requests being served.\n"
                        "# TYPE apiserver_current_inflight_requests gauge\n"
                        "apiserver_current_inflight_requests{request_kind=\"mutating\"} %d\n"
                        "apiserver_current_inflight_requests{request_kind=\"readOnly\"} %d\n",
                        w, atomic_load(&core->inflight_mutating),
                        atomic_load(&core->inflight_readonly));
            apiserver__resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
                                 b.data ? b.data : "");
            buf_free(&b);
            break;
        }
        case ROUTE_OPENAPI_V2:
        case ROUTE_OPENAPI_V3:
        case ROUTE_OPENAPI_V3_DOC: apiserver__serve_openapi(req, &route, resp); break;
        default: apiserver__serve_discovery(core, req, &route, resp); break;
        }
        goto done;
    }
    verb = resource_verb(req, &route);
    resource = route.kind->resource;
    if (!verb) {
        verb = "other";
        apiserver__resp_status(resp, 405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               NULL, NULL, NULL);
        goto done;
    }
    if (!apiserver__authorize(req->user, verb, route.kind->group, route.kind->resource,
                              route.subresource, route.ns, route.name)) {
        _cleanup_free_ char *m = xasprintf(
            "%s \"%s\" is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\"",
            route.kind->resource, route.name ? route.name : "", req->user->name, verb,
            route.kind->resource, route.kind->group);
        apiserver__resp_status(resp, 403, "Forbidden", m, route.kind->resource, route.name, NULL);
        goto done;
    }
    bool mutating = is_mutating(verb);
    bool long_running = strcmp(verb, "watch") == 0 || apiserver__streaming(route.subresource);
    uint64_t deadline = 0;
    if (!long_running && apiserver__deadline(core, req, &deadline, resp) < 0)
        goto done;
    atomic_int *counter = mutating ? &core->inflight_mutating : &core->inflight_readonly;
    int limit = mutating ? core->max_mutating : core->max_readonly;
    if (!long_running) {
        int now = atomic_fetch_add(counter, 1) + 1;
        if (limit > 0 && now > limit) {
            atomic_fetch_sub(counter, 1);
            apiserver__resp_status(resp, 429, "TooManyRequests",
                                   "Too many requests, please try again later.", NULL, NULL, NULL);
            resp->out.retry_after = 1;
            goto done;
        }
    }
    store_set_thread_deadline(deadline);
    serve_resource(core, req, &route, verb, resp);
    store_set_thread_deadline(0);
    if (!long_running)
        atomic_fetch_sub(counter, 1);
    if (deadline && clock_mono_ns() >= deadline)
        apiserver__resp_timeout(req, resp);
done:
    apiserver__metrics_request(core->metrics, metric_verb(verb), resource,
                               resp->out.code ? resp->out.code : 200, clock_mono_ns() - t0);
    apiserver__route_clear(&route);
}

struct apiserver_core *apiserver_core_new(struct store *store, const char *service_cidr,
                                          struct k8c_err **err)
{
    uint32_t base;
    unsigned prefix;
    if (!service_cidr)
        service_cidr = API_SERVICE_CIDR_DEFAULT;
    if (apiserver_service_cidr_parse(service_cidr, &base, &prefix, err) < 0)
        return NULL;
    struct apiserver_core *core = xcalloc(1, sizeof(*core));
    core->svc_base = base;
    core->svc_size = 1u << (32 - prefix);
    snprintf(core->svc_cidr, sizeof(core->svc_cidr), "%s", service_cidr);
    core->store = store;
    core->metrics = apiserver__metrics_new();
    core->max_mutating = 200;
    core->max_readonly = 400;
    core->node_port_min = 30000;
    core->node_port_max = 32767;
    core->request_timeout_ns = 60ull * 1000000000ull;
    core->min_request_timeout_s = 1800;
    pthread_mutex_init(&core->service_lock, NULL);
    core->events = apiserver__event_cache_new();
    core->namespaces = apiserver__ns_cache_new();
    if (apiserver__bootstrap(core, err) < 0) {
        apiserver_core_free(core);
        return NULL;
    }
    atomic_store(&core->ready, true);
    return core;
}

void apiserver_core_free(struct apiserver_core *core)
{
    if (!core)
        return;
    apiserver__metrics_free(core->metrics);
    pthread_mutex_destroy(&core->service_lock);
    apiserver__tokens_free(core->tokens);
    apiserver__event_cache_free(core->events);
    apiserver__ns_cache_free(core->namespaces);
    free(core);
}

void apiserver_core_serve(struct apiserver_core *core, const struct apiserver_request_in *in,
                          struct apiserver_response_out *out)
{
    static const struct apiserver_user admin = {
        .name = "kubernetes-admin", .groups = {"system:masters"}, .n_groups = 1};
    struct apiserver_req req = {
        .method = in->method ? in->method : "GET",
        .path = in->path ? in->path : "/",
        .accept = in->accept,
        .content_type = in->content_type,
        .body = in->body ? in->body : "",
        .body_len = in->body ? in->body_len : 0,
        .user = &admin,
        .conn_fd = -1,
    };
    struct apiserver_resp resp = {0};
    _cleanup_err_ struct k8c_err *e = NULL;
    if (req.body_len > APISERVER_MAX_BODY) {
        apiserver__resp_status(&resp, 413, "RequestEntityTooLarge",
                               "the request body is too large (limit 3 MiB)", NULL, NULL, NULL);
    } else if (apiserver__query_parse(&req, in->query, &e) < 0) {
        apiserver__resp_err(&resp, e);
    } else {
        apiserver__dispatch(core, &req, &resp);
    }
    if (resp.watch) {
        char chunk[16384];
        size_t n;
        while ((n = apiserver__watch_read(resp.watch, chunk, sizeof(chunk))) > 0)
            buf_append(&resp.out.body, chunk, n);
        apiserver__watch_free(resp.watch);
        resp.watch = NULL;
    }
    apiserver__req_clear(&req);
    *out = resp.out;
}
