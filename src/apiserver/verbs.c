/* The single-object verbs: get, create (POST, pods/binding), update (PUT, status and scale
 * subresources), delete (graceful pod deletion, finalizers, propagation policy, namespace
 * termination) and deletecollection. */
#include <string.h>
#include <time.h>

#include "api/meta.h"
#include "api/selector.h"
#include "api/status.h"
#include "api/table.h"
#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

#define UPDATE_RETRIES 8
#define CT_TABLE "application/json;as=Table;v=v1;g=meta.k8s.io"

static void answer_err(struct apiserver_resp *resp, const struct api_kind *k, const char *name,
                       const struct k8c_err *e)
{
    char q[128];
    apiserver__qualified(k, q, sizeof(q));
    _cleanup_json_ json_t *st = api_status_from_err(e, q, name);
    apiserver__resp_json(resp, k8c_reason_http_code(e->reason), st);
}

static void method_not_allowed(struct apiserver_resp *resp)
{
    apiserver__resp_status(resp, 405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource", NULL,
                           NULL, NULL);
}

static bool is_scalable(const struct api_kind *k)
{
    return api_kind_subresource(k, "scale") != NULL;
}

/* Answers obj as JSON or, when the Accept asks for it, as a one-row Table. */
static void answer_object(const struct apiserver_req *req, const struct api_kind *k, json_t *obj,
                          struct apiserver_resp *resp)
{
    enum apiserver_out_format f = apiserver__negotiate(req->accept, true, false);
    if (f == APISERVER_OUT_TABLE) {
        const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
        const char *io = apiserver__param(req, "includeObject");
        _cleanup_json_ json_t *items = json_pack("[O]", obj);
        _cleanup_json_ json_t *t =
            api_table_build(k, items, rv ? rv : "", io && strcmp(io, "Object") == 0);
        apiserver__resp_json_ct(resp, 200, t, CT_TABLE);
        return;
    }
    apiserver__resp_json(resp, 200, obj);
}

void apiserver__serve_get(struct apiserver_core *core, const struct apiserver_req *req,
                          const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    _cleanup_err_ struct k8c_err *e = NULL;
    const char *sub = route->subresource;
    if (sub && strcmp(sub, "status") != 0 && strcmp(sub, "scale") != 0) {
        if (strcmp(k->resource, "pods") == 0 &&
            (strcmp(sub, "exec") == 0 || strcmp(sub, "attach") == 0 ||
             strcmp(sub, "portforward") == 0 || strcmp(sub, "log") == 0))
            apiserver__serve_stream(core, req, route, resp);
        else
            method_not_allowed(resp);
        return;
    }
    _cleanup_json_ json_t *obj = apiserver__object_read(core, k, route->ns, route->name, NULL, &e);
    if (!obj) {
        answer_err(resp, k, route->name, e);
        return;
    }
    if (sub && strcmp(sub, "scale") == 0) {
        _cleanup_json_ json_t *sc = apiserver__scale_from(obj);
        apiserver__resp_json(resp, 200, sc);
        return;
    }
    answer_object(req, k, obj, resp);
}

/* POST pods/<name>/binding: assigns the pod to a node once (409 if already bound). */
static void serve_binding(struct apiserver_core *core, const struct apiserver_req *req,
                          const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *b = kjson_parse(req->body, req->body_len, &e);
    if (!b || !json_is_object(b)) {
        apiserver__resp_status(resp, 400, "BadRequest",
                               e ? e->msg : "a Binding must be a JSON object", NULL, NULL, NULL);
        return;
    }
    const char *node = kjson_path_str(b, "target.name");
    if (!node || !*node) {
        json_t *causes = json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueRequired", "message",
                                   "Required value", "field", "target.name");
        apiserver__resp_status(resp, 422, "Invalid",
                               "Binding.core \"\" is invalid: target.name: Required value",
                               "Binding", route->name, causes);
        return;
    }
    for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        int64_t rev = 0;
        _cleanup_json_ json_t *pod =
            apiserver__object_read(core, k, route->ns, route->name, &rev, &e);
        if (!pod) {
            answer_err(resp, k, route->name, e);
            return;
        }
        const char *cur = kjson_path_str(pod, "spec.nodeName");
        if (cur && *cur) {
            _cleanup_free_ char *m =
                xasprintf("pod %s is already assigned to node \"%s\"", route->name, cur);
            apiserver__resp_status(resp, 409, "Conflict", m, "pods", route->name, NULL);
            return;
        }
        if (kjson_path(pod, "metadata.deletionTimestamp")) {
            _cleanup_free_ char *m = xasprintf("pod %s is being deleted, cannot be assigned to "
                                               "a host",
                                               route->name);
            apiserver__resp_status(resp, 409, "Conflict", m, "pods", route->name, NULL);
            return;
        }
        json_object_set_new(kjson_object_ensure(pod, "spec"), "nodeName", json_string(node));
        if (apiserver__dry_run(req)) {
            _cleanup_json_ json_t *st = api_status_success(NULL, NULL);
            apiserver__resp_json(resp, 201, st);
            return;
        }
        if (apiserver__object_write(core, k, route->ns, route->name, pod, rev, &e) < 0) {
            if (e->reason == K8C_REASON_CONFLICT) {
                k8c_err_freep(&e);
                continue;
            }
            answer_err(resp, k, route->name, e);
            return;
        }
        _cleanup_json_ json_t *st = api_status_success(NULL, NULL);
        json_object_set_new(st, "code", json_integer(201));
        apiserver__resp_json(resp, 201, st);
        return;
    }
    apiserver__resp_status(resp, 409, "Conflict", "too many concurrent writes to the pod", NULL,
                           NULL, NULL);
}

static void serve_eviction(struct apiserver_core *core, const struct apiserver_req *req,
                           const struct apiserver_route *route, struct apiserver_resp *resp);

void apiserver__serve_create(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    if (route->subresource) {
        if (strcmp(route->subresource, "token") == 0 &&
            strcmp(k->resource, "serviceaccounts") == 0) {
            apiserver__serve_token_request(core, req, route, resp);
            return;
        }
        if (strcmp(route->subresource, "eviction") == 0 && strcmp(k->resource, "pods") == 0) {
            serve_eviction(core, req, route, resp);
            return;
        }
        if (strcmp(route->subresource, "binding") == 0 && strcmp(k->resource, "pods") == 0) {
            serve_binding(core, req, route, resp);
            return;
        }
        const char *sub = route->subresource;
        if (strcmp(sub, "exec") == 0 || strcmp(sub, "attach") == 0 ||
            strcmp(sub, "portforward") == 0) {
            apiserver__serve_stream(core, req, route, resp); /* kubectl's SPDY POSTs */
            return;
        }
        _cleanup_free_ char *m =
            xasprintf("%s/%s is not supported by this server yet", k->resource, sub);
        apiserver__resp_status(resp, 405, "MethodNotAllowed", m, NULL, NULL, NULL);
        return;
    }
    if (route->name || !(k->verbs & API_VERB_CREATE)) {
        method_not_allowed(resp);
        return;
    }
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *obj = apiserver__body_decode(req, k, &e);
    if (!obj) {
        apiserver__resp_err(resp, e);
        return;
    }
    apiserver__finish_create(core, req, route, obj, resp);
}

/* PUT …/scale: the body is an autoscaling/v1 Scale; spec.replicas goes to the object. */
static json_t *scale_apply(const json_t *scale, const json_t *old, bool *client_rv,
                           struct k8c_err **err)
{
    if (!json_is_object(scale)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "a Scale must be a JSON object");
        return NULL;
    }
    const char *kind = kjson_path_str(scale, "kind");
    if (kind && strcmp(kind, "Scale") != 0) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s cannot be handled as a Scale", kind);
        return NULL;
    }
    json_t *r = kjson_path(scale, "spec.replicas");
    if (r && !json_is_integer(r)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "Scale in version \"v1\" cannot be handled as a Scale: spec.replicas must be "
                    "an integer");
        return NULL;
    }
    json_t *obj = json_deep_copy(old);
    json_object_set_new(kjson_object_ensure(obj, "spec"), "replicas",
                        json_integer(r ? json_integer_value(r) : 0));
    const char *rv = kjson_path_str(scale, "metadata.resourceVersion");
    *client_rv = rv && *rv;
    if (*client_rv)
        json_object_set_new(kjson_object_ensure(obj, "metadata"), "resourceVersion",
                            json_string(rv));
    return obj;
}

/* The precondition a client may put in metadata.resourceVersion: 409 when stale. */
static bool rv_stale(const json_t *obj, int64_t current, struct apiserver_resp *resp,
                     const struct api_kind *k, const char *name)
{
    const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
    if (!rv || !*rv)
        return false;
    int64_t want = 0;
    _cleanup_err_ struct k8c_err *e = NULL;
    if (apiserver__parse_rv(rv, &want, &e) < 0) {
        apiserver__resp_err(resp, e);
        return true;
    }
    if (want == current)
        return false;
    k8c_err_set(&e, 0, K8C_REASON_CONFLICT, "the object has been modified");
    answer_err(resp, k, name, e);
    return true;
}

void apiserver__serve_update(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    const char *sub = route->subresource;
    if (!route->name || !(k->verbs & API_VERB_UPDATE) ||
        (sub && strcmp(sub, "status") != 0 && strcmp(sub, "finalize") != 0 &&
         !(strcmp(sub, "scale") == 0 && is_scalable(k)))) {
        method_not_allowed(resp);
        return;
    }
    bool scale = sub && strcmp(sub, "scale") == 0;
    bool finalize = sub && strcmp(sub, "finalize") == 0;
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *body = NULL;
    if (scale)
        body = kjson_parse(req->body, req->body_len, &e);
    else
        body = apiserver__body_decode(req, k, &e);
    if (!body) {
        apiserver__resp_err(resp, e);
        return;
    }
    for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        int64_t rev = 0;
        _cleanup_json_ json_t *old =
            apiserver__object_read(core, k, route->ns, route->name, &rev, &e);
        if (!old) {
            answer_err(resp, k, route->name, e);
            return;
        }
        bool client_rv = false;
        _cleanup_json_ json_t *obj = NULL;
        if (scale) {
            obj = scale_apply(body, old, &client_rv, &e);
            if (!obj) {
                apiserver__resp_err(resp, e);
                return;
            }
        } else if (finalize) {
            /* namespaces/<name>/finalize: only spec.finalizers changes. */
            obj = json_deep_copy(old);
            json_t *f = kjson_path(body, "spec.finalizers");
            json_object_set_new(kjson_object_ensure(obj, "spec"), "finalizers",
                                f ? json_incref(f) : json_array());
            const char *rv = kjson_path_str(body, "metadata.resourceVersion");
            client_rv = rv && *rv;
            if (client_rv)
                json_object_set_new(kjson_object_ensure(obj, "metadata"), "resourceVersion",
                                    json_string(rv));
        } else {
            obj = json_deep_copy(body);
            const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
            client_rv = rv && *rv;
        }
        if (rv_stale(obj, rev, resp, k, route->name))
            return;
        if (apiserver__finish_update(core, req, route, obj, old, rev, client_rv, resp, &e) == 0)
            return;
        k8c_err_freep(&e); /* a concurrent write won: read again and retry */
    }
    apiserver__resp_status(resp, 409, "Conflict", "too many concurrent writes to the object", NULL,
                           NULL, NULL);
}

/* ---- delete ---- */

struct delete_opts {
    int64_t grace; /* -1: unset */
    const char *policy;
    const char *pre_uid;
    const char *pre_rv;
    bool dry_run;
};

static int delete_opts_parse(const struct apiserver_req *req, json_t **holder,
                             struct delete_opts *o, struct k8c_err **err)
{
    memset(o, 0, sizeof(*o));
    o->grace = -1;
    o->dry_run = apiserver__dry_run(req);
    if (req->body_len > 0) {
        json_t *b = kjson_parse(req->body, req->body_len, err);
        if (!b)
            return k8c_err_wrap(err, "DeleteOptions");
        *holder = b;
        if (!json_is_object(b))
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "DeleteOptions must be a JSON object");
        json_t *g = json_object_get(b, "gracePeriodSeconds");
        if (json_is_integer(g))
            o->grace = json_integer_value(g);
        o->policy = json_string_value(json_object_get(b, "propagationPolicy"));
        if (json_is_true(json_object_get(b, "orphanDependents")))
            o->policy = "Orphan";
        o->pre_uid = kjson_path_str(b, "preconditions.uid");
        o->pre_rv = kjson_path_str(b, "preconditions.resourceVersion");
        json_t *dr = json_object_get(b, "dryRun");
        if (json_is_array(dr) && json_array_size(dr) > 0)
            o->dry_run = true;
    }
    const char *g = apiserver__param(req, "gracePeriodSeconds");
    if (g) {
        int64_t v = 0;
        if (*g == '-' || apiserver__parse_rv(g, &v, NULL) < 0)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "gracePeriodSeconds must be a non-negative integer, got \"%s\"", g);
        o->grace = v;
    }
    const char *p = apiserver__param(req, "propagationPolicy");
    if (p)
        o->policy = p;
    if (apiserver__param_bool(req, "orphanDependents"))
        o->policy = "Orphan";
    if (o->policy && strcmp(o->policy, "Orphan") != 0 && strcmp(o->policy, "Background") != 0 &&
        strcmp(o->policy, "Foreground") != 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "propagationPolicy: Unsupported value: \"%s\": supported values: "
                           "\"Foreground\", \"Background\", \"Orphan\"",
                           o->policy);
    return 0;
}

static void add_finalizer(json_t *obj, const char *f)
{
    json_t *md = kjson_object_ensure(obj, "metadata");
    json_t *fs = json_object_get(md, "finalizers");
    if (!json_is_array(fs)) {
        fs = json_array();
        json_object_set_new(md, "finalizers", fs);
    }
    size_t i;
    json_t *v;
    json_array_foreach (fs, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), f) == 0)
            return;
    }
    json_array_append_new(fs, json_string(f));
}

/* Deletes one object per Kubernetes' rules. Returns 0 with *out (the object as deleted or as
 * now marked) and *gone, or -1 with *err. */
static int delete_one(struct apiserver_core *core, const struct api_kind *k, const char *ns,
                      const char *name, const struct delete_opts *o, json_t **out, bool *gone,
                      struct k8c_err **err)
{
    for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        int64_t rev = 0;
        _cleanup_json_ json_t *obj = apiserver__object_read(core, k, ns, name, &rev, err);
        if (!obj)
            return -1;
        const char *uid = kjson_path_str(obj, "metadata.uid");
        if (o->pre_uid && (!uid || strcmp(o->pre_uid, uid) != 0))
            return k8c_err_set(err, 0, K8C_REASON_CONFLICT,
                               "Operation cannot be fulfilled on %s \"%s\": Precondition failed: "
                               "UID in precondition: %s, UID in object meta: %s",
                               k->resource, name, o->pre_uid, uid ? uid : "");
        const char *rvs = kjson_path_str(obj, "metadata.resourceVersion");
        if (o->pre_rv && (!rvs || strcmp(o->pre_rv, rvs) != 0))
            return k8c_err_set(err, 0, K8C_REASON_CONFLICT,
                               "Operation cannot be fulfilled on %s \"%s\": Precondition failed: "
                               "ResourceVersion in precondition: %s, ResourceVersion in object "
                               "meta: %s",
                               k->resource, name, o->pre_rv, rvs ? rvs : "");
        bool is_pod = strcmp(k->resource, "pods") == 0 && !k->group[0];
        bool is_ns = strcmp(k->resource, "namespaces") == 0 && !k->group[0];
        int64_t grace = 0;
        if (is_pod) {
            json_t *tg = kjson_path(obj, "spec.terminationGracePeriodSeconds");
            grace = o->grace >= 0 ? o->grace : json_is_integer(tg) ? json_integer_value(tg) : 30;
            const char *phase = kjson_path_str(obj, "status.phase");
            /* An unscheduled or finished pod has nothing to stop: it goes at once. */
            if (!kjson_path_str(obj, "spec.nodeName") ||
                (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)))
                grace = 0;
        }
        json_t *md = kjson_object_ensure(obj, "metadata");
        bool already = json_object_get(md, "deletionTimestamp") != NULL;
        if (o->policy && strcmp(o->policy, "Orphan") == 0)
            add_finalizer(obj, "orphan");
        else if (o->policy && strcmp(o->policy, "Foreground") == 0)
            add_finalizer(obj, "foregroundDeletion");
        bool finalizers = json_array_size(json_object_get(md, "finalizers")) > 0;
        bool ns_wait = is_ns && json_array_size(kjson_path(obj, "spec.finalizers")) > 0;
        if (finalizers || ns_wait || grace > 0) {
            /* Graceful: mark and let the kubelet, the finalizers' owners or the namespace
             * controller finish. A second delete may shorten a pod's grace period. */
            json_t *cur = json_object_get(md, "deletionGracePeriodSeconds");
            if (!already || (is_pod && json_is_integer(cur) && grace < json_integer_value(cur))) {
                char ts[21];
                clock_rfc3339(time(NULL) + (time_t)grace, ts);
                json_object_set_new(md, "deletionTimestamp", json_string(ts));
                json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(grace));
            }
            if (is_ns)
                json_object_set_new(kjson_object_ensure(obj, "status"), "phase",
                                    json_string("Terminating"));
            if (!(finalizers || ns_wait) && is_pod && grace == 0)
                goto remove;
            if (!o->dry_run && apiserver__object_write(core, k, ns, name, obj, rev, err) < 0) {
                if ((*err)->reason == K8C_REASON_CONFLICT) {
                    k8c_err_freep(err);
                    continue;
                }
                return -1;
            }
            *gone = false;
            *out = steal_ptr(&obj);
            return 0;
        }
    remove:
        if (!o->dry_run && apiserver__object_remove(core, k, ns, name, rev, err) < 0) {
            if ((*err)->reason == K8C_REASON_CONFLICT) {
                k8c_err_freep(err);
                continue;
            }
            return -1;
        }
        *gone = true;
        *out = steal_ptr(&obj);
        return 0;
    }
    return k8c_err_set(err, 0, K8C_REASON_CONFLICT, "too many concurrent writes to %s \"%s\"",
                       k->resource, name);
}

void apiserver__serve_delete(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    if (route->subresource || !(k->verbs & API_VERB_DELETE)) {
        method_not_allowed(resp);
        return;
    }
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *holder = NULL;
    struct delete_opts o;
    if (delete_opts_parse(req, &holder, &o, &e) < 0) {
        apiserver__resp_err(resp, e);
        return;
    }
    _cleanup_json_ json_t *obj = NULL;
    bool gone = false;
    if (delete_one(core, k, route->ns, route->name, &o, &obj, &gone, &e) < 0) {
        answer_err(resp, k, route->name, e);
        return;
    }
    apiserver__resp_json(resp, gone ? 200 : 202, obj);
}

/* POST pods/<name>/eviction (policy/v1 Eviction, what `kubectl drain` sends): the pod is
 * deleted with the Eviction's deleteOptions. There are no PodDisruptionBudgets yet, so an
 * eviction is never refused for availability. */
static void serve_eviction(struct apiserver_core *core, const struct apiserver_req *req,
                           const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *body = kjson_parse(req->body, req->body_len, &e);
    if (!body || !json_is_object(body)) {
        apiserver__resp_status(resp, 400, "BadRequest",
                               e ? e->msg : "an Eviction must be a JSON object", NULL, NULL, NULL);
        return;
    }
    const char *kind = kjson_path_str(body, "kind");
    const char *name = kjson_path_str(body, "metadata.name");
    if ((kind && strcmp(kind, "Eviction") != 0) || (name && strcmp(name, route->name) != 0)) {
        apiserver__resp_status(resp, 400, "BadRequest",
                               "name in URL does not match name in Eviction object", NULL, NULL,
                               NULL);
        return;
    }
    /* The Eviction's deleteOptions are DeleteOptions: reuse their parser. */
    json_t *dopts = json_object_get(body, "deleteOptions");
    _cleanup_free_ char *dtext = dopts ? kjson_dumps(dopts) : NULL;
    struct apiserver_req dreq = *req;
    dreq.body = dtext ? dtext : "";
    dreq.body_len = dtext ? strlen(dtext) : 0;
    _cleanup_json_ json_t *holder = NULL;
    struct delete_opts o;
    if (delete_opts_parse(&dreq, &holder, &o, &e) < 0) {
        apiserver__resp_err(resp, e);
        return;
    }
    _cleanup_json_ json_t *obj = NULL;
    bool gone = false;
    if (delete_one(core, k, route->ns, route->name, &o, &obj, &gone, &e) < 0) {
        answer_err(resp, k, route->name, e);
        return;
    }
    _cleanup_json_ json_t *st = api_status_success(NULL, NULL);
    json_object_set_new(st, "code", json_integer(201));
    apiserver__resp_json(resp, 201, st);
}

void apiserver__serve_deletecollection(struct apiserver_core *core, const struct apiserver_req *req,
                                       const struct apiserver_route *route,
                                       struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    if (route->subresource || !(k->verbs & API_VERB_DELETECOLLECTION)) {
        method_not_allowed(resp);
        return;
    }
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *holder = NULL;
    struct delete_opts o;
    if (delete_opts_parse(req, &holder, &o, &e) < 0) {
        apiserver__resp_err(resp, e);
        return;
    }
    struct api_label_selector *ls = NULL;
    struct api_field_selector *fs = NULL;
    const char *l = apiserver__param(req, "labelSelector");
    const char *f = apiserver__param(req, "fieldSelector");
    if (l && !(ls = api_label_selector_parse(l, &e))) {
        apiserver__resp_err(resp, e);
        return;
    }
    if (f && !(fs = api_field_selector_parse(k, f, &e))) {
        api_label_selector_free(ls);
        apiserver__resp_err(resp, e);
        return;
    }
    _cleanup_free_ char *prefix = api_kind_storage_key(k, route->ns, NULL);
    struct store_list list = {0};
    if (store_list(core->store, prefix, 0, NULL, 0, &list, &e) < 0) {
        api_label_selector_free(ls);
        api_field_selector_free(fs);
        apiserver__resp_err(resp, e);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < list.n_items; i++) {
        _cleanup_err_ struct k8c_err *ie = NULL;
        _cleanup_json_ json_t *obj = apiserver__object_decode_stored(
            k, list.items[i].value, list.items[i].value_len, list.items[i].mod_revision, &ie);
        if (!obj)
            continue;
        if (ls && !api_label_selector_match(ls, kjson_path(obj, "metadata.labels")))
            continue;
        if (fs && !api_field_selector_match(fs, obj))
            continue;
        const char *name = kjson_path_str(obj, "metadata.name");
        const char *ns = kjson_path_str(obj, "metadata.namespace");
        json_t *out = NULL;
        bool gone = false;
        if (!name || delete_one(core, k, k->namespaced ? ns : NULL, name, &o, &out, &gone, &ie) < 0)
            continue; /* deleted meanwhile, or a precondition: the others still go */
        json_array_append_new(items, out);
    }
    json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", k->list_kind, "apiVersion",
                            k->api_version, "metadata", "resourceVersion", "", "items", items);
    store_list_clear(&list);
    api_label_selector_free(ls);
    api_field_selector_free(fs);
    apiserver__resp_json(resp, 200, doc);
    json_decref(doc);
}
