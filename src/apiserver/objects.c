/* Object plumbing shared by the verbs: reading and writing objects in the store (with
 * resourceVersion taken from the store's revisions, never stored), decoding request bodies
 * (JSON, YAML, protobuf), and the common tails of create and update: namespace checks,
 * defaulting, validation, field validation, managedFields, dry runs. */
#include <pthread.h>
#include <string.h>

#include "api/defaults.h"
#include "api/protobuf.h"
#include "api/validate.h"
#include "api/meta.h"
#include "api/patch.h"
#include "api/status.h"
#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/yaml.h"

void apiserver__qualified(const struct api_kind *k, char *out, size_t size)
{
    if (k->group[0])
        snprintf(out, size, "%s.%s", k->resource, k->group);
    else
        snprintf(out, size, "%s", k->resource);
}

bool apiserver__dry_run(const struct apiserver_req *req)
{
    const char *d = apiserver__param(req, "dryRun");
    return d && strcmp(d, "All") == 0;
}

int apiserver__parse_rv(const char *text, int64_t *rv, struct k8c_err **err)
{
    *rv = 0;
    if (!text || !*text)
        return 0;
    int64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "invalid resource version: %s",
                               text);
        v = v * 10 + (*p - '0');
    }
    *rv = v;
    return 0;
}

/* The events.k8s.io view of an Event is stored as core v1 (they share /registry/events). */
static bool is_events_v1(const struct api_kind *k)
{
    return strcmp(k->group, "events.k8s.io") == 0;
}

json_t *apiserver__object_decode_stored(const struct api_kind *k, const char *value, size_t len,
                                        int64_t mod_rev, struct k8c_err **err)
{
    json_t *obj = kjson_parse(value, len, err);
    if (!obj)
        return NULL;
    if (is_events_v1(k) || (strcmp(k->kind, "Event") == 0 && !k->group[0])) {
        const char *av = kjson_path_str(obj, "apiVersion");
        if (!av || strcmp(av, k->api_version) != 0) {
            json_t *c = api_event_convert(obj, k->api_version);
            if (c) {
                json_decref(obj);
                obj = c;
            }
        }
    }
    api_meta_set_resource_version(obj, mod_rev);
    return obj;
}

/* The bytes stored for obj: its JSON without metadata.resourceVersion (the store's revision
 * is the resourceVersion). The resourceVersion is taken out for the encoding and put back
 * (at the end of metadata) rather than the object copied. Caller frees. */
static char *storage_bytes(const struct api_kind *k, json_t *obj, size_t *len)
{
    struct buf b = BUF_INIT;
    _cleanup_json_ json_t *converted = is_events_v1(k) ? api_event_convert(obj, "v1") : NULL;
    json_t *src = converted ? converted : obj;
    json_t *md = json_object_get(src, "metadata");
    json_t *rv = json_is_object(md) ? json_incref(json_object_get(md, "resourceVersion")) : NULL;
    if (rv)
        json_object_del(md, "resourceVersion");
    kjson_dump(src, &b);
    if (rv)
        json_object_set_new(md, "resourceVersion", rv);
    *len = b.len;
    return buf_steal(&b);
}

/* Skips one JSON string starting at p[0] == '"'; returns the index after it, or 0. */
static size_t skip_string(const char *p, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return 0;
}

static size_t skip_ws(const char *p, size_t len, size_t i)
{
    while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i;
}

/* Skips one JSON value (strings and bracket depth only: the bytes are our own encoding, and
 * a malformed one only makes the caller fall back to a decode); returns the index after it,
 * or 0. */
static size_t skip_value(const char *p, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (p[i] == '"')
        return skip_string(p, len, i);
    if (p[i] != '{' && p[i] != '[') {
        while (i < len && !strchr(",}] \t\r\n", p[i]))
            i++;
        return i;
    }
    int depth = 0;
    while (i < len) {
        if (p[i] == '"') {
            if (!(i = skip_string(p, len, i)))
                return 0;
            continue;
        }
        if (p[i] == '{' || p[i] == '[')
            depth++;
        else if ((p[i] == '}' || p[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

bool apiserver__json_with_rv(const char *v, size_t len, int64_t rev, struct buf *out)
{
    /* Every top-level key is scanned: a second "metadata" would be the one a decoder keeps.
     * A \u escape in a key or in metadata could spell "metadata" or "resourceVersion"
     * another way: such bytes (not what our encoder writes for them) are left to a
     * decoder. */
    size_t md = 0, i = skip_ws(v, len, 0);
    if (i >= len || v[i] != '{')
        return false;
    i = skip_ws(v, len, i + 1);
    while (i < len && v[i] == '"') {
        size_t ks = i;
        if (!(i = skip_string(v, len, i)) || memmem(v + ks, i - ks, "\\u", 2))
            return false;
        bool is_md = i - ks == 10 && memcmp(v + ks, "\"metadata\"", 10) == 0;
        i = skip_ws(v, len, i);
        if (i >= len || v[i] != ':')
            return false;
        i = skip_ws(v, len, i + 1);
        size_t vs = i;
        if (!(i = skip_value(v, len, i)))
            return false;
        if (is_md) {
            if (md || v[vs] != '{' || memmem(v + vs, i - vs, "\\u", 2) ||
                memmem(v + vs, i - vs, "\"resourceVersion\"", 17))
                return false;
            md = vs + 1;
        }
        i = skip_ws(v, len, i);
        if (i < len && v[i] == ',')
            i = skip_ws(v, len, i + 1);
        else
            break;
    }
    if (!md || i >= len || v[i] != '}')
        return false;
    size_t next = skip_ws(v, len, md);
    bool empty = next < len && v[next] == '}';
    buf_append(out, v, md);
    buf_appendf(out, "\"resourceVersion\":\"%lld\"%s", (long long)rev, empty ? "" : ",");
    buf_append(out, v + md, len - md);
    return true;
}

static int reword(struct k8c_err **err, const struct api_kind *k, const char *name)
{
    if (!err || !*err)
        return -1;
    char q[128];
    apiserver__qualified(k, q, sizeof(q));
    _cleanup_json_ json_t *st = api_status_from_err(*err, q, name);
    const char *msg = kjson_path_str(st, "message");
    if (msg) {
        free((*err)->msg);
        (*err)->msg = xstrdup(msg);
    }
    return -1;
}

json_t *apiserver__object_read(struct apiserver_core *core, const struct api_kind *k,
                               const char *ns, const char *name, int64_t *mod_rev,
                               struct k8c_err **err)
{
    _cleanup_free_ char *key = api_kind_storage_key(k, ns, name);
    struct store_kv kv = {0};
    uint64_t t0 = clock_mono_ns();
    int rc = store_get(core->store, key, &kv, err);
    apiserver__metrics_store(core->metrics, "get", clock_mono_ns() - t0);
    if (rc < 0) {
        reword(err, k, name);
        return NULL;
    }
    json_t *obj = apiserver__object_decode_stored(k, kv.value, kv.value_len, kv.mod_revision, err);
    if (mod_rev)
        *mod_rev = kv.mod_revision;
    store_kv_clear(&kv);
    return obj;
}

int64_t apiserver__object_write_answer(struct apiserver_core *core, const struct api_kind *k,
                                       const char *ns, const char *name, json_t *obj,
                                       int64_t mod_rev, struct buf *answer, struct k8c_err **err)
{
    _cleanup_free_ char *key = api_kind_storage_key(k, ns, name);
    size_t len = 0;
    _cleanup_free_ char *bytes = storage_bytes(k, obj, &len);
    uint64_t t0 = clock_mono_ns();
    int64_t rev = store_update(core->store, key, bytes, len, mod_rev, err);
    apiserver__metrics_store(core->metrics, "update", clock_mono_ns() - t0);
    if (rev < 0)
        return reword(err, k, name);
    api_meta_set_resource_version(obj, rev);
    if (answer) {
        buf_reset(answer);
        if (is_events_v1(k) || !apiserver__json_with_rv(bytes, len, rev, answer)) {
            buf_reset(answer);
            kjson_dump(obj, answer);
        }
    }
    return rev;
}

int64_t apiserver__object_write(struct apiserver_core *core, const struct api_kind *k,
                                const char *ns, const char *name, json_t *obj, int64_t mod_rev,
                                struct k8c_err **err)
{
    return apiserver__object_write_answer(core, k, ns, name, obj, mod_rev, NULL, err);
}

int64_t apiserver__object_remove(struct apiserver_core *core, const struct api_kind *k,
                                 const char *ns, const char *name, int64_t mod_rev,
                                 struct k8c_err **err)
{
    _cleanup_free_ char *key = api_kind_storage_key(k, ns, name);
    uint64_t t0 = clock_mono_ns();
    int64_t rev = store_delete(core->store, key, mod_rev, NULL, err);
    apiserver__metrics_store(core->metrics, "delete", clock_mono_ns() - t0);
    if (rev < 0)
        return reword(err, k, name);
    return rev;
}

static bool string_field(const char *path, void *opaque)
{
    /* ConfigMap data and annotation/label values are strings whatever they look like. */
    return strncmp(path, "data.", 5) == 0 || strncmp(path, "stringData.", 11) == 0 ||
           strncmp(path, "metadata.labels.", 16) == 0 ||
           strncmp(path, "metadata.annotations.", 21) == 0;
}

static void cannot_handle(const struct api_kind *k, struct k8c_err **err)
{
    k8c_err_wrap(err, "%s in version \"%s\" cannot be handled as a %s", k->kind, k->version,
                 k->kind);
}

json_t *apiserver__body_decode(const struct apiserver_req *req, const struct api_kind *k,
                               struct k8c_err **err)
{
    enum apiserver_in_format f = apiserver__content_type(req->content_type);
    _cleanup_json_ json_t *obj = NULL;
    if (req->body_len == 0) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "the request body is empty");
        return NULL;
    }
    switch (f) {
    case APISERVER_IN_JSON: obj = kjson_parse(req->body, req->body_len, err); break;
    case APISERVER_IN_YAML: {
        struct kyaml_options o = {.string_field = string_field};
        obj = kyaml_load_one(req->body, req->body_len, &o, err);
        break;
    }
    case APISERVER_IN_PROTOBUF: obj = api_protobuf_decode(req->body, req->body_len, k, err); break;
    default:
        k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json, application/yaml, "
                    "application/vnd.kubernetes.protobuf");
        return NULL;
    }
    if (!obj) {
        if (err && *err && (*err)->reason == K8C_REASON_BAD_REQUEST)
            cannot_handle(k, err);
        return NULL;
    }
    if (!json_is_object(obj)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "%s in version \"%s\" cannot be handled as a %s: the body is not a JSON "
                    "object",
                    k->kind, k->version, k->kind);
        return NULL;
    }
    _cleanup_free_ char *type_error = api_object_type_error(k, obj);
    if (type_error) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "%s in version \"%s\" cannot be handled as a %s: %s", k->kind, k->version,
                    k->kind, type_error);
        return NULL;
    }
    return steal_ptr(&obj);
}

/* fieldValidation: Strict refuses unknown fields (400), Warn (the default) warns, Ignore
 * ignores. Returns 0, or -1 after answering resp. */
static int field_validation(const struct apiserver_req *req, const struct api_kind *k,
                            const json_t *obj, struct apiserver_resp *resp)
{
    const char *fv = apiserver__param(req, "fieldValidation");
    if (fv && strcmp(fv, "Ignore") == 0)
        return 0;
    if (fv && strcmp(fv, "Strict") != 0 && strcmp(fv, "Warn") != 0) {
        _cleanup_free_ char *m = xasprintf("fieldValidation must be one of Ignore, Warn or "
                                           "Strict, got \"%s\"",
                                           fv);
        apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
        return -1;
    }
    _cleanup_json_ json_t *unknown = api_object_unknown_fields(k, obj);
    if (!unknown || json_array_size(unknown) == 0)
        return 0;
    size_t i;
    json_t *f;
    if (fv && strcmp(fv, "Strict") == 0) {
        struct buf b = BUF_INIT;
        buf_appendf(&b, "%s in version \"%s\" cannot be handled as a %s: strict decoding error: ",
                    k->kind, k->version, k->kind);
        json_array_foreach (unknown, i, f) {
            buf_appendf(&b, "%sunknown field \"%s\"", i ? ", " : "", json_string_value(f));
        }
        _cleanup_free_ char *m = buf_steal(&b);
        apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
        return -1;
    }
    json_array_foreach (unknown, i, f) {
        apiserver__resp_warn(resp, "unknown field \"%s\"", json_string_value(f));
    }
    return 0;
}

static void answer_invalid(struct apiserver_resp *resp, const struct api_kind *k, const json_t *obj,
                           json_t *causes_take)
{
    const char *name = kjson_path_str(obj, "metadata.name");
    _cleanup_json_ json_t *st = api_status_invalid(k, name ? name : "", causes_take);
    apiserver__resp_json(resp, 422, st);
}

static void answer_err(struct apiserver_resp *resp, const struct api_kind *k, const char *name,
                       const struct k8c_err *e)
{
    char q[128];
    apiserver__qualified(k, q, sizeof(q));
    _cleanup_json_ json_t *st = api_status_from_err(e, q, name);
    apiserver__resp_json(resp, k8c_reason_http_code(e->reason), st);
}

/* 404 `namespaces "x" not found`, or 403 when it is being terminated. Returns 0 when the
 * namespace is there and active. */
static int namespace_usable(struct apiserver_core *core, const char *ns,
                            struct apiserver_resp *resp)
{
    bool active = false;
    int64_t checked = apiserver__ns_cache_check(core->namespaces, core->store, ns, &active);
    if (active)
        return 0;
    const struct api_kind *nk = api_kind_by_resource("", "v1", "namespaces");
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_free_ char *key = api_kind_storage_key(nk, NULL, ns);
    struct store_kv kv = {0};
    if (store_get(core->store, key, &kv, &e) < 0) {
        reword(&e, nk, ns);
        answer_err(resp, nk, ns, e);
        return -1;
    }
    /* Decode the namespace only when it may be going away. */
    bool maybe = memmem(kv.value, kv.value_len, "Terminating", 11) ||
                 memmem(kv.value, kv.value_len, "deletionTimestamp", 17);
    _cleanup_json_ json_t *obj =
        maybe ? apiserver__object_decode_stored(nk, kv.value, kv.value_len, kv.mod_revision, NULL)
              : NULL;
    store_kv_clear(&kv);
    const char *phase = kjson_path_str(obj, "status.phase");
    if ((phase && strcmp(phase, "Terminating") == 0) ||
        kjson_path(obj, "metadata.deletionTimestamp")) {
        _cleanup_free_ char *m = xasprintf("unable to create new content in namespace %s because "
                                           "it is being terminated",
                                           ns);
        apiserver__resp_status(resp, 403, "Forbidden", m, NULL, NULL, NULL);
        return -1;
    }
    apiserver__ns_cache_put(core->namespaces, core->store, ns, checked);
    return 0;
}

static void unlock_p(pthread_mutex_t **m)
{
    if (*m)
        pthread_mutex_unlock(*m);
}

static bool is_core(const struct api_kind *k, const char *resource)
{
    return !k->group[0] && strcmp(k->resource, resource) == 0;
}

void apiserver__finish_create(struct apiserver_core *core, const struct apiserver_req *req,
                              const struct apiserver_route *route, json_t *obj,
                              struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    _cleanup_err_ struct k8c_err *e = NULL;
    const char *ns = route->ns;
    if (k->namespaced && !ns) {
        ns = kjson_path_str(obj, "metadata.namespace");
        if (!ns || !*ns) {
            apiserver__resp_status(resp, 400, "BadRequest",
                                   "the namespace of the object must be set on the request", NULL,
                                   NULL, NULL);
            return;
        }
    }
    _cleanup_free_ char *ns_copy = ns ? xstrdup(ns) : NULL;
    if (k->namespaced && namespace_usable(core, ns_copy, resp) < 0)
        return;
    if (api_meta_prepare_create(k, obj, ns_copy, &e) < 0) {
        apiserver__resp_err(resp, e);
        return;
    }
    if (field_validation(req, k, obj, resp) < 0)
        return;
    api_object_default(k, obj);
    pthread_mutex_t *held __attribute__((cleanup(unlock_p))) = NULL;
    if (is_core(k, "services")) {
        pthread_mutex_lock(&core->service_lock);
        held = &core->service_lock;
        if (apiserver__service_allocate(core, k, obj, resp) < 0)
            return;
    }
    json_t *causes = api_object_validate(k, obj, NULL);
    if (causes) {
        answer_invalid(resp, k, obj, causes);
        return;
    }
    const char *name = kjson_path_str(obj, "metadata.name");
    if (apiserver__content_type(req->content_type) != APISERVER_IN_APPLY_PATCH)
        api_patch_record_update(k->api_version, NULL, obj, apiserver__param(req, "fieldManager"));
    if (apiserver__dry_run(req)) {
        apiserver__resp_json(resp, 201, obj);
        return;
    }
    _cleanup_free_ char *key = api_kind_storage_key(k, ns_copy, name);
    size_t len = 0;
    _cleanup_free_ char *bytes = storage_bytes(k, obj, &len);
    uint64_t t0 = clock_mono_ns();
    int64_t rev = store_create(core->store, key, bytes, len, &e);
    apiserver__metrics_store(core->metrics, "create", clock_mono_ns() - t0);
    if (rev < 0) {
        answer_err(resp, k, name, e);
        return;
    }
    api_meta_set_resource_version(obj, rev);
    /* The answer is the stored bytes with the resourceVersion spliced in: no second encoding. */
    buf_reset(&resp->out.body);
    if (!is_events_v1(k) && apiserver__json_with_rv(bytes, len, rev, &resp->out.body)) {
        resp->out.code = 201;
        resp->out.content_type = "application/json";
        return;
    }
    apiserver__resp_json(resp, 201, obj);
}

json_t *apiserver__scale_from(const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    json_t *smd = json_object();
    static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion",
                                       "creationTimestamp"};
    for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
        json_t *v = json_object_get(md, keep[i]);
        if (v)
            json_object_set(smd, keep[i], v);
    }
    json_t *replicas = kjson_path(obj, "spec.replicas");
    json_t *sreplicas = kjson_path(obj, "status.replicas");
    struct buf sel = BUF_INIT;
    json_t *ml = kjson_path(obj, "spec.selector.matchLabels");
    const char *key;
    json_t *v;
    json_object_foreach (ml, key, v) {
        buf_appendf(&sel, "%s%s=%s", sel.len ? "," : "", key,
                    json_is_string(v) ? json_string_value(v) : "");
    }
    json_t *status =
        json_pack("{s:I}", "replicas",
                  (json_int_t)(json_is_integer(sreplicas) ? json_integer_value(sreplicas) : 0));
    if (sel.len)
        json_object_set_new(status, "selector", json_string(sel.data));
    buf_free(&sel);
    return json_pack("{s:s, s:s, s:o, s:{s:I}, s:o}", "kind", "Scale", "apiVersion",
                     "autoscaling/v1", "metadata", smd, "spec", "replicas",
                     (json_int_t)(json_is_integer(replicas) ? json_integer_value(replicas) : 1),
                     "status", status);
}

/* Objects that are being deleted go once no finalizer holds them (and, for a bound pod, once
 * its kubelet has released it with a zero grace period). */
static bool ready_to_go(const struct api_kind *k, const json_t *obj)
{
    if (!kjson_path(obj, "metadata.deletionTimestamp"))
        return false;
    if (json_array_size(kjson_path(obj, "metadata.finalizers")) > 0)
        return false;
    if (strcmp(k->resource, "namespaces") == 0)
        return json_array_size(kjson_path(obj, "spec.finalizers")) == 0;
    if (strcmp(k->resource, "pods") == 0 && !k->group[0]) {
        json_t *g = kjson_path(obj, "metadata.deletionGracePeriodSeconds");
        return !json_is_integer(g) || json_integer_value(g) == 0 ||
               !kjson_path_str(obj, "spec.nodeName");
    }
    return true;
}

/* Whether metadata objects a and b are equal but for resourceVersion and managedFields. */
static bool same_metadata(const json_t *a, const json_t *b)
{
    size_t na = 0, nb = 0;
    const char *key;
    json_t *va;
    json_object_foreach ((json_t *)b, key, va) {
        nb += strcmp(key, "resourceVersion") != 0 && strcmp(key, "managedFields") != 0;
    }
    json_object_foreach ((json_t *)a, key, va) {
        if (!strcmp(key, "resourceVersion") || !strcmp(key, "managedFields"))
            continue;
        na++;
        json_t *vb = json_object_get(b, key);
        if (!vb || !json_equal(va, vb))
            return false;
    }
    return na == nb;
}

/* Whether a and b are the same object but for metadata.resourceVersion and managedFields
 * (compared in place: every update asks). */
static bool same_object(const json_t *a, const json_t *b)
{
    if (json_object_size(a) != json_object_size(b))
        return false;
    const char *key;
    json_t *va;
    json_object_foreach ((json_t *)a, key, va) {
        json_t *vb = json_object_get(b, key);
        if (!vb)
            return false;
        bool same = strcmp(key, "metadata") == 0 && json_is_object(va) && json_is_object(vb)
                        ? same_metadata(va, vb)
                        : json_equal(va, vb);
        if (!same)
            return false;
    }
    return true;
}

int apiserver__finish_update(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, json_t *new_obj,
                             const json_t *old, int64_t mod_rev, bool client_rv,
                             struct apiserver_resp *resp, struct k8c_err **err)
{
    const struct api_kind *k = route->kind;
    bool status_sub = route->subresource && strcmp(route->subresource, "status") == 0;
    _cleanup_err_ struct k8c_err *e = NULL;
    json_t *md = kjson_object_ensure(new_obj, "metadata");
    if (!md) {
        apiserver__resp_status(resp, 400, "BadRequest", "metadata must be an object", NULL, NULL,
                               NULL);
        return 0;
    }
    const char *bname = kjson_path_str(new_obj, "metadata.name");
    if (bname && strcmp(bname, route->name) != 0) {
        _cleanup_free_ char *m = xasprintf("the name of the object (%s) does not match the name "
                                           "on the URL (%s)",
                                           bname, route->name);
        apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
        return 0;
    }
    if (!bname)
        json_object_set_new(md, "name", json_string(route->name));
    if (k->namespaced) {
        const char *bns = kjson_path_str(new_obj, "metadata.namespace");
        if (bns && *bns && strcmp(bns, route->ns) != 0) {
            apiserver__resp_status(resp, 400, "BadRequest",
                                   "the namespace of the provided object does not match the "
                                   "namespace sent on the request",
                                   NULL, NULL, NULL);
            return 0;
        }
        json_object_set_new(md, "namespace", json_string(route->ns));
    }
    if (api_meta_prepare_update(k, new_obj, old, status_sub, &e) < 0) {
        apiserver__resp_err(resp, e);
        return 0;
    }
    if (field_validation(req, k, new_obj, resp) < 0)
        return 0;
    if (is_core(k, "services"))
        apiserver__service_keep_allocated(new_obj, old);
    api_object_default(k, new_obj);
    json_t *causes = api_object_validate(k, new_obj, old);
    if (causes) {
        answer_invalid(resp, k, new_obj, causes);
        return 0;
    }
    bool scale = route->subresource && strcmp(route->subresource, "scale") == 0;
    if (same_object(new_obj, old)) {
        /* A no-op write keeps the resourceVersion, as Kubernetes does. */
        _cleanup_json_ json_t *out =
            scale ? apiserver__scale_from(old) : json_incref((json_t *)old);
        apiserver__resp_json(resp, 200, out);
        return 0;
    }
    if (apiserver__content_type(req->content_type) != APISERVER_IN_APPLY_PATCH)
        api_patch_record_update(k->api_version, old, new_obj,
                                apiserver__param(req, "fieldManager"));
    if (apiserver__dry_run(req)) {
        _cleanup_json_ json_t *out = scale ? apiserver__scale_from(new_obj) : json_incref(new_obj);
        apiserver__resp_json(resp, 200, out);
        return 0;
    }
    if (ready_to_go(k, new_obj)) {
        if (apiserver__object_remove(core, k, route->ns, route->name, mod_rev, &e) < 0)
            goto write_failed;
        apiserver__resp_json(resp, 200, new_obj);
        return 0;
    }
    if (apiserver__object_write_answer(core, k, route->ns, route->name, new_obj, mod_rev,
                                       scale ? NULL : &resp->out.body, &e) < 0)
        goto write_failed;
    if (scale) {
        _cleanup_json_ json_t *out = apiserver__scale_from(new_obj);
        apiserver__resp_json(resp, 200, out);
    } else {
        resp->out.code = 200;
        resp->out.content_type = "application/json";
    }
    return 0;
write_failed:
    if (e->reason == K8C_REASON_CONFLICT && !client_rv) {
        *err = steal_ptr(&e);
        return -1;
    }
    answer_err(resp, k, route->name, e);
    return 0;
}
