/* Server-side apply (application/apply-patch+yaml) and the field-ownership bookkeeping behind
 * it, after kube-apiserver's field manager (sigs.k8s.io/structured-merge-diff), for the
 * common cases:
 *   - the applied configuration merges into the live object by schema: maps per key,
 *     associative lists (x-kubernetes-list-type map) per key in structured-merge-diff's
 *     order, set lists as sets, everything else (atomic lists, atomic maps, scalars)
 *     replaced;
 *   - metadata.managedFields records one entry per (manager, operation) with its FieldsV1;
 *   - applying a field another manager owns with a different value is a conflict (409, one
 *     FieldManagerConflict cause per field) unless force, which takes the field over;
 *   - fields the manager applied before and no longer applies are removed from the object
 *     when no other manager owns them;
 *   - updates (create, PUT, other patches) are recorded with api_patch_record_update, so
 *     that apply sees what kubectl create / client-side apply / edit set.
 * Not covered: per-version conversion of field sets (each entry's apiVersion is kept but
 * paths are compared as they are), subresource entries (status writes are not recorded),
 * "i:" (index) segments of lists without keys,
 * the "before-first-apply" upgrade of objects whose managedFields were reset by an
 * Update (it is used only for objects with no managedFields at all), and
 * x-kubernetes-list-type on lists whose elements are not all objects (treated atomic). */
#include "api/patch.h"

#include <string.h>
#include <time.h>

#include "api/openapi.h"
#include "api/patch_internal.h"
#include "api/schema.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/yaml.h"

/* The causes of the last apply conflict on this thread (see api_patch_apply_conflict_causes):
 * the error convention carries a reason and a message, and a Status needs the list too. */
static _Thread_local json_t *last_conflict_causes;

json_t *api_patch_apply_conflict_causes(void)
{
    return last_conflict_causes ? json_incref(last_conflict_causes) : NULL;
}

static void set_conflict_causes_take(json_t *causes)
{
    json_decref(last_conflict_causes);
    last_conflict_causes = causes;
}

/* One metadata.managedFields entry, its field set parsed. */
struct manager {
    char *name;
    char *operation; /* "Apply" or "Update" */
    char *api_version;
    char *time;
    char *subresource; /* NULL for the main resource */
    json_t *set;
};

struct managers {
    struct manager *v;
    size_t n;
};

static void managers_free(struct managers *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->v[i].name);
        free(ms->v[i].operation);
        free(ms->v[i].api_version);
        free(ms->v[i].time);
        free(ms->v[i].subresource);
        json_decref(ms->v[i].set);
    }
    free(ms->v);
    ms->v = NULL;
    ms->n = 0;
}
#define _cleanup_managers_ __attribute__((cleanup(managers_free)))

static struct manager *managers_add(struct managers *ms, const char *name, const char *op,
                                    const char *api_version, json_t *set_take)
{
    ms->v = xrealloc(ms->v, (ms->n + 1) * sizeof(*ms->v));
    struct manager *m = &ms->v[ms->n++];
    memset(m, 0, sizeof(*m));
    m->name = xstrdup(name);
    m->operation = xstrdup(op);
    m->api_version = xstrdup(api_version ? api_version : "");
    m->set = set_take;
    return m;
}

static const char *str_or(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

/* Reads metadata.managedFields; malformed entries are dropped (they cannot own anything
 * meaningful, and refusing the request would lock the object). */
static void managers_load(struct managers *ms, const json_t *obj)
{
    json_t *mf = kjson_path(obj, "metadata.managedFields");
    size_t i;
    json_t *e;
    json_array_foreach (mf, i, e) {
        const char *name = json_string_value(json_object_get(e, "manager"));
        json_t *set = api__fields_from_v1(json_object_get(e, "fieldsV1"));
        if (name == NULL || set == NULL) {
            json_decref(set);
            continue;
        }
        struct manager *m = managers_add(ms, name, str_or(e, "operation", "Update"),
                                         str_or(e, "apiVersion", ""), set);
        const char *t = json_string_value(json_object_get(e, "time"));
        m->time = t ? xstrdup(t) : NULL;
        const char *sub = json_string_value(json_object_get(e, "subresource"));
        m->subresource = sub ? xstrdup(sub) : NULL;
    }
}

static struct manager *managers_find(struct managers *ms, const char *name, const char *op)
{
    for (size_t i = 0; i < ms->n; i++)
        if (!strcmp(ms->v[i].name, name) && !strcmp(ms->v[i].operation, op) &&
            ms->v[i].subresource == NULL)
            return &ms->v[i];
    return NULL;
}

/* Writes the entries back into obj's metadata.managedFields (entries owning nothing are
 * dropped, except keep, the entry just written). */
static void managers_store(const struct managers *ms, json_t *obj, const struct manager *keep)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ms->n; i++) {
        const struct manager *m = &ms->v[i];
        if (json_object_size(m->set) == 0 && m != keep)
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "manager", json_string(m->name));
        json_object_set_new(e, "operation", json_string(m->operation));
        json_object_set_new(e, "apiVersion", json_string(m->api_version));
        if (m->time)
            json_object_set_new(e, "time", json_string(m->time));
        json_object_set_new(e, "fieldsType", json_string("FieldsV1"));
        json_object_set_new(e, "fieldsV1", api__fields_to_v1(m->set));
        if (m->subresource)
            json_object_set_new(e, "subresource", json_string(m->subresource));
        json_array_append_new(arr, e);
    }
    json_t *meta = kjson_object_ensure(obj, "metadata");
    if (meta == NULL) {
        json_decref(arr);
        return;
    }
    if (json_array_size(arr) == 0)
        json_object_del(meta, "managedFields");
    else
        json_object_set_new(meta, "managedFields", arr);
    if (json_array_size(arr) == 0)
        json_decref(arr);
}

static char *now_rfc3339(void)
{
    char out[21];
    clock_rfc3339(time(NULL), out);
    return xstrdup(out);
}

/* Whether path or anything under it is in set. */
static bool owns_under(const json_t *set, const json_t *path)
{
    if (api__fields_has(set, path))
        return true;
    size_t n = json_array_size(path);
    const char *key;
    json_t *p;
    json_object_foreach ((json_t *)set, key, p) {
        if (json_array_size(p) <= n)
            continue;
        bool prefix = true;
        for (size_t i = 0; i < n && prefix; i++)
            prefix = json_equal(json_array_get(p, i), json_array_get(path, i));
        if (prefix)
            return true;
    }
    return false;
}

/* Index of the first element of keys equal to key, or -1. */
static long key_index(const json_t *keys, const json_t *key)
{
    size_t i;
    json_t *k;
    json_array_foreach ((json_t *)keys, i, k) {
        if (json_equal(k, key))
            return (long)i;
    }
    return -1;
}

static json_t *apply_merge(const json_t *live, const json_t *cfg, const json_t *field);

/* An associative list merged as structured-merge-diff's visitListItems does: elements only
 * the live list has keep their places, shared elements follow the applied order, and
 * elements new in the applied list come where the applied list puts them. */
static json_t *merge_assoc_list(const json_t *live, const json_t *cfg, const json_t *map_keys,
                                const json_t *items)
{
    _cleanup_json_ json_t *lk = json_array();
    _cleanup_json_ json_t *rk = json_array();
    _cleanup_json_ json_t *shared = json_array();
    _cleanup_json_ json_t *merged_r = json_array();
    size_t i;
    json_t *x;
    json_array_foreach ((json_t *)live, i, x) {
        json_t *k = api__fields_item_key(x, map_keys);
        json_array_append_new(lk, k ? k : json_null());
    }
    json_array_foreach ((json_t *)cfg, i, x) {
        json_array_append_new(rk, api__fields_item_key(x, map_keys));
    }
    json_array_foreach (rk, i, x) {
        if (key_index(lk, x) >= 0)
            json_array_append(shared, x);
    }
    size_t si = 0, nl = json_array_size(lk), nr = json_array_size(rk);
    const json_t *next = si < json_array_size(shared) ? json_array_get(shared, si++) : NULL;
    json_t *out = json_array();
    size_t li = 0, ri = 0;
    while (li < nl || ri < nr) {
        if (li < nl && ri < nr) {
            json_t *pe = json_array_get(lk, li);
            if (json_equal(pe, json_array_get(rk, ri))) {
                json_array_append(merged_r, pe);
                long l0 = key_index(lk, pe), r0 = key_index(rk, pe);
                json_array_append_new(out, apply_merge(json_array_get(live, (size_t)l0),
                                                       json_array_get(cfg, (size_t)r0), items));
                li++;
                ri++;
                next = si < json_array_size(shared) ? json_array_get(shared, si++) : NULL;
                continue;
            }
            if (key_index(rk, pe) >= 0 && next != NULL && !json_equal(next, pe)) {
                li++;
                continue;
            }
        }
        if (li < nl) {
            json_t *pe = json_array_get(lk, li);
            if (key_index(rk, pe) < 0) {
                json_array_append_new(out, json_deep_copy(json_array_get(live, li)));
                li++;
                continue;
            }
            if (key_index(merged_r, pe) >= 0 || ri >= nr) {
                li++;
                continue;
            }
        }
        if (ri < nr) {
            json_t *pe = json_array_get(rk, ri);
            json_array_append(merged_r, pe);
            long l0 = key_index(lk, pe), r0 = key_index(rk, pe);
            if (r0 == (long)ri) /* a key given twice merges once */
                json_array_append_new(out,
                                      apply_merge(l0 >= 0 ? json_array_get(live, (size_t)l0) : NULL,
                                                  json_array_get(cfg, ri), items));
            ri++;
            if (next != NULL && json_equal(next, pe))
                next = si < json_array_size(shared) ? json_array_get(shared, si++) : NULL;
        }
    }
    return out;
}

/* The applied configuration merged into live (may be NULL), by field schema. */
static json_t *apply_merge(const json_t *live, const json_t *cfg, const json_t *field)
{
    if (json_is_object(cfg) && !(json_object_size(cfg) == 0 && json_is_object(live))) {
        struct api__patch_meta m;
        api__schema_patch_meta(field, &m);
        bool atomic = m.map_atomic;
        api__schema_patch_meta(api__schema_resolve(field), &m);
        atomic = atomic || m.map_atomic;
        json_t *out = (json_is_object(live) && !atomic) ? json_deep_copy(live) : json_object();
        const char *k;
        json_t *c;
        json_object_foreach ((json_t *)cfg, k, c) {
            if (json_is_null(c)) {
                json_object_del(out, k);
                continue;
            }
            json_object_set_new(
                out, k, apply_merge(json_object_get(out, k), c, api__schema_field(field, k)));
        }
        return out;
    }
    if (json_is_array(cfg) && json_is_array(live)) {
        struct api__patch_meta m;
        api__schema_patch_meta(field, &m);
        bool all_objects = true;
        size_t i;
        json_t *item;
        json_array_foreach ((json_t *)cfg, i, item) {
            all_objects = all_objects && json_is_object(item);
        }
        if (m.list_type && !strcmp(m.list_type, "map") && m.map_keys && all_objects) {
            return merge_assoc_list(live, cfg, m.map_keys, api__schema_items(field));
        }
        if (m.list_type && !strcmp(m.list_type, "set")) {
            json_t *out = json_deep_copy(live);
            json_array_foreach ((json_t *)cfg, i, item) {
                bool have = false;
                for (size_t j = 0; j < json_array_size(out) && !have; j++)
                    have = json_equal(json_array_get(out, j), item);
                if (!have)
                    json_array_append_new(out, json_deep_copy(item));
            }
            return out;
        }
    }
    if (json_is_array(cfg)) {
        const json_t *items = api__schema_items(field);
        json_t *out = json_array();
        size_t i;
        json_t *item;
        json_array_foreach ((json_t *)cfg, i, item) {
            json_array_append_new(out, json_is_object(item) ? apply_merge(NULL, item, items)
                                                            : json_deep_copy(item));
        }
        return out;
    }
    return json_deep_copy(cfg);
}

struct hook_ctx {
    const char *api_version;
    const char *kind;
};

static bool string_field(const char *path, void *opaque)
{
    const struct hook_ctx *c = opaque;
    return api_openapi_field_is_string(c->api_version, c->kind, path);
}

/* Refuses an applied configuration whose associative lists hold one key twice, as
 * structured-merge-diff does ("duplicate entries for key"). path is the field path so far. */
static int check_duplicates(const json_t *v, const json_t *field, struct buf *path,
                            struct k8c_err **err)
{
    size_t mark = path->len;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach ((json_t *)v, k, c) {
            buf_appendf(path, ".%s", k);
            int rc = check_duplicates(c, api__schema_field(field, k), path, err);
            path->len = mark;
            path->data[mark] = '\0';
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_array(v) || field == NULL)
        return 0;
    struct api__patch_meta m;
    api__schema_patch_meta(field, &m);
    bool assoc = m.list_type && !strcmp(m.list_type, "map") && m.map_keys;
    const json_t *items = api__schema_items(field);
    _cleanup_json_ json_t *seen = json_array();
    size_t i;
    json_t *item;
    json_array_foreach ((json_t *)v, i, item) {
        if (assoc && json_is_object(item)) {
            json_t *key = api__fields_item_key(item, m.map_keys);
            if (key_index(seen, key) >= 0) {
                _cleanup_json_ json_t *seg = json_array();
                char *text = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
                json_array_append_new(seg, json_sprintf("k:%s", text ? text : "{}"));
                free(text);
                json_decref(key);
                _cleanup_free_ char *where = api__fields_path_string(seg);
                return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                                   "%s: duplicate entries for key %s", path->len ? path->data : ".",
                                   where);
            }
            json_array_append_new(seen, key);
        }
        buf_append_str(path, "[]");
        int rc = check_duplicates(item, items, path, err);
        path->len = mark;
        path->data[mark] = '\0';
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Parses and checks the applied configuration. Returns a new reference. */
static json_t *load_config(const char *api_version, const char *kind, const char *patch, size_t len,
                           struct k8c_err **err)
{
    struct hook_ctx ctx = {api_version, kind};
    struct kyaml_options opts = {.string_field = string_field, .opaque = &ctx};
    _cleanup_json_ json_t *cfg = kyaml_load_one(patch, len, &opts, err);
    if (cfg == NULL) {
        k8c_err_wrap(err, "error decoding YAML");
        return NULL;
    }
    if (!json_is_object(cfg)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "error decoding YAML: the applied configuration must be an object");
        return NULL;
    }
    const char *av = json_string_value(json_object_get(cfg, "apiVersion"));
    const char *k = json_string_value(json_object_get(cfg, "kind"));
    if (av == NULL || k == NULL) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "error decoding YAML: Object 'Kind' or 'apiVersion' is missing in the "
                    "applied configuration");
        return NULL;
    }
    if (strcmp(av, api_version) != 0) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "the API version in the data (%s) does not match the expected API version "
                    "(%s)",
                    av, api_version);
        return NULL;
    }
    if (strcmp(k, kind) != 0) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "the kind in the data (%s) does not match the expected kind (%s)", k, kind);
        return NULL;
    }
    json_t *meta = json_object_get(cfg, "metadata");
    if (meta != NULL && !json_is_object(meta)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "error decoding YAML: metadata must be an object");
        return NULL;
    }
    json_t *mf = json_object_get(meta, "managedFields");
    if (mf != NULL && !json_is_null(mf)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "metadata.managedFields must be nil");
        return NULL;
    }
    json_object_del(meta, "managedFields");
    _cleanup_buf_ struct buf path = BUF_INIT;
    buf_append_str(&path, "");
    if (check_duplicates(cfg, api__schema_for_kind(api_version, kind), &path, err) < 0) {
        k8c_err_wrap(err, "failed to create typed patch object (%s, Kind=%s)", api_version, kind);
        return NULL;
    }
    return steal_ptr(&cfg);
}

/* A conflict: manager m owns path with a value other than the applied one. */
static bool differs(const json_t *live, const json_t *cfg, const json_t *path)
{
    json_t *a = api__fields_get(cfg, path);
    json_t *b = api__fields_get(live, path);
    if (a == NULL || b == NULL)
        return a != b;
    if ((json_is_object(a) && json_is_object(b)) || (json_is_array(a) && json_is_array(b)))
        return json_object_size(a) + json_array_size(a) == 0
                   ? json_object_size(b) + json_array_size(b) != 0
                   : false;
    return !json_equal(a, b);
}

/* Builds the 409 for the conflicts found ([{manager index, path}…]). */
static int report_conflicts(const struct managers *ms, const json_t *conflicts,
                            struct k8c_err **err)
{
    json_t *causes = json_array();
    struct buf msg = BUF_INIT;
    size_t n = json_array_size(conflicts);
    buf_appendf(&msg, "Apply failed with %zu conflict%s: ", n, n == 1 ? "" : "s");
    long last_manager = -1;
    size_t i;
    json_t *c;
    json_array_foreach ((json_t *)conflicts, i, c) {
        long mi = (long)json_integer_value(json_array_get(c, 0));
        const struct manager *m = &ms->v[mi];
        _cleanup_free_ char *field = api__fields_path_string(json_array_get(c, 1));
        _cleanup_free_ char *who =
            xasprintf("conflict with \"%s\" using %s", m->name, m->api_version);
        json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldManagerConflict",
                                                "message", who, "field", field));
        if (n == 1) {
            buf_appendf(&msg, "%s: %s", who, field);
            continue;
        }
        if (mi != last_manager)
            buf_appendf(&msg, "%sconflicts with \"%s\" using %s:", i ? "\n" : "", m->name,
                        m->api_version);
        buf_appendf(&msg, "\n- %s", field);
        last_manager = mi;
    }
    set_conflict_causes_take(causes);
    k8c_err_set(err, 0, K8C_REASON_CONFLICT, "%s", msg.data);
    buf_free(&msg);
    return -1;
}

json_t *api_patch_apply(const char *api_version, const char *kind, const json_t *live,
                        const char *patch, size_t len, const char *field_manager, bool force,
                        struct k8c_err **err)
{
    set_conflict_causes_take(NULL);
    if (field_manager == NULL || field_manager[0] == '\0') {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "PATCH requests with content type application/apply-patch+yaml must set the "
                    "fieldManager query parameter");
        return NULL;
    }
    if (api_version == NULL || kind == NULL || (live != NULL && !json_is_object(live))) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "apply: no kind or live object given");
        return NULL;
    }
    _cleanup_json_ json_t *cfg = load_config(api_version, kind, patch, len, err);
    if (cfg == NULL)
        return NULL;
    const json_t *schema = api__schema_for_kind(api_version, kind);
    json_t *applied = api__fields_of(cfg, schema);
    _cleanup_free_ char *now = now_rfc3339();
    _cleanup_managers_ struct managers ms = {0};

    if (live == NULL) {
        json_t *out = apply_merge(NULL, cfg, schema);
        struct manager *me = managers_add(&ms, field_manager, "Apply", api_version, applied);
        me->time = xstrdup(now);
        managers_store(&ms, out, me);
        return out;
    }

    managers_load(&ms, live);
    if (ms.n == 0 && json_object_get(live, "metadata") != NULL) {
        /* Nobody recorded ownership: as Kubernetes, give everything to one manager so that
         * apply cannot silently overwrite values it did not set. */
        managers_add(&ms, "before-first-apply", "Update", str_or(live, "apiVersion", api_version),
                     api__fields_of(live, schema));
    }
    struct manager *me = managers_find(&ms, field_manager, "Apply");
    if (me == NULL) {
        me = managers_add(&ms, field_manager, "Apply", api_version, json_object());
    }
    size_t me_index = (size_t)(me - ms.v);

    /* Conflicts: fields another entry owns that the configuration sets differently. */
    _cleanup_json_ json_t *conflicts = json_array();
    for (size_t i = 0; i < ms.n; i++) {
        if (i == me_index || ms.v[i].subresource != NULL)
            continue;
        const char *key;
        json_t *path;
        json_object_foreach (applied, key, path) {
            if (api__fields_has(ms.v[i].set, path) && differs(live, cfg, path))
                json_array_append_new(conflicts, json_pack("[iO]", (json_int_t)i, path));
        }
    }
    if (json_array_size(conflicts) > 0 && !force) {
        json_decref(ms.v[me_index].set);
        ms.v[me_index].set = applied;
        report_conflicts(&ms, conflicts, err);
        return NULL;
    }
    size_t ci;
    json_t *c;
    json_array_foreach (conflicts, ci, c) {
        api__fields_del(ms.v[json_integer_value(json_array_get(c, 0))].set, json_array_get(c, 1));
    }

    _cleanup_json_ json_t *out = apply_merge(live, cfg, schema);
    /* Fields this manager applied before and no longer applies go, unless someone else
     * still owns them (or something under them). */
    const char *key;
    json_t *path;
    json_object_foreach (me->set, key, path) {
        if (api__fields_has(applied, path))
            continue;
        bool shared = false;
        for (size_t i = 0; i < ms.n && !shared; i++)
            shared = i != me_index && owns_under(ms.v[i].set, path);
        if (!shared && !owns_under(applied, path))
            api__fields_remove(out, path);
    }
    json_decref(me->set);
    me->set = applied;
    free(me->api_version);
    me->api_version = xstrdup(api_version);
    free(me->time);
    me->time = xstrdup(now);
    managers_store(&ms, out, me);
    return steal_ptr(&out);
}

void api_patch_record_update(const char *api_version, const json_t *old, json_t *obj,
                             const char *field_manager)
{
    if (field_manager == NULL || field_manager[0] == '\0' || !json_is_object(obj))
        return;
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const json_t *schema = api__schema_for_kind(api_version, kind);
    _cleanup_managers_ struct managers ms = {0};
    json_t *sent = kjson_path(obj, "metadata.managedFields");
    if (old == NULL && json_array_size(sent) == 0) {
        /* A create: the manager owns every field; build FieldsV1 in one walk (this runs for
         * every object created, so it skips the path sets). */
        json_t *tree = api__fields_v1_of(obj, schema);
        json_t *meta = kjson_object_ensure(obj, "metadata");
        if (json_object_size(tree) == 0 || meta == NULL) {
            json_decref(tree);
            return;
        }
        _cleanup_free_ char *now = now_rfc3339();
        json_object_set_new(meta, "managedFields",
                            json_pack("[{s:s,s:s,s:s,s:s,s:s,s:o}]", "manager", field_manager,
                                      "operation", "Update", "apiVersion",
                                      api_version ? api_version : "", "time", now, "fieldsType",
                                      "FieldsV1", "fieldsV1", tree));
        return;
    }
    if (old != NULL &&
        (json_array_size(sent) == 0 ||
         json_equal(sent, kjson_path(old, "metadata.managedFields"))) &&
        api__fields_tracked_equal(old, obj)) {
        /* Nothing tracked changed (a status write, a no-op update): ownership stays as it
         * was, and the hot path of controllers skips the field sets. */
        json_t *was = kjson_path(old, "metadata.managedFields");
        json_t *meta = kjson_object_ensure(obj, "metadata");
        if (meta != NULL && json_is_array(was))
            json_object_set_new(meta, "managedFields", json_deep_copy(was));
        else if (meta != NULL)
            json_object_del(meta, "managedFields");
        return;
    }
    /* A client may send managedFields back (kubectl edit, replace); otherwise keep the old. */
    if (json_array_size(kjson_path(obj, "metadata.managedFields")) > 0)
        managers_load(&ms, obj);
    else if (old != NULL)
        managers_load(&ms, old);

    _cleanup_json_ json_t *now_fields = api__fields_of(obj, schema);
    _cleanup_json_ json_t *changed = json_object();
    const char *key;
    json_t *path;
    json_object_foreach (now_fields, key, path) {
        json_t *was = old ? api__fields_get(old, path) : NULL;
        if (was == NULL || differs(old, obj, path))
            api__fields_add(changed, path);
    }
    /* Fields gone from the object are owned by nobody; changed fields move to this manager. */
    for (size_t i = 0; i < ms.n; i++) {
        json_t *tmp;
        json_object_foreach_safe (ms.v[i].set, tmp, key, path) {
            if (api__fields_get(obj, path) == NULL || api__fields_has(changed, path))
                json_object_del(ms.v[i].set, key);
        }
    }
    struct manager *me = managers_find(&ms, field_manager, "Update");
    if (me == NULL)
        me = managers_add(&ms, field_manager, "Update", api_version, json_object());
    json_object_update(me->set, changed);
    free(me->api_version);
    me->api_version = xstrdup(api_version ? api_version : "");
    free(me->time);
    me->time = now_rfc3339();
    managers_store(&ms, obj, json_object_size(me->set) ? me : NULL);
}
