/* Strategic merge patch (application/strategic-merge-patch+json) for the built-in kinds, as
 * k8s.io/apimachinery/pkg/util/strategicpatch applies it: the field's patch metadata from the
 * schema decides how a list merges (by merge key, as a set of primitives, or replaced), maps
 * merge recursively, null deletes, and the directives $patch (delete/replace/merge),
 * $retainKeys, $setElementOrder/<list> and $deleteFromPrimitiveList/<list> are honoured and
 * never stored. Fields the schema does not know merge as in a JSON merge patch; the API
 * server's unknown-field validation decides about them afterwards. */
#include "api/patch.h"

#include <string.h>

#include "api/schema.h"
#include "base/json.h"
#include "base/mem.h"

#define DIRECTIVE "$patch"
#define RETAIN_KEYS "$retainKeys"
#define SET_ORDER "$setElementOrder/"
#define DELETE_PRIMITIVE "$deleteFromPrimitiveList/"

static json_t *merge_map(const json_t *orig, const json_t *patch, const json_t *schema,
                         bool *deleted, struct k8c_err **err);

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_directive_key(const char *key)
{
    return !strcmp(key, DIRECTIVE) || !strcmp(key, RETAIN_KEYS) || has_prefix(key, SET_ORDER) ||
           has_prefix(key, DELETE_PRIMITIVE);
}

static bool array_contains(const json_t *arr, const json_t *v)
{
    size_t i;
    json_t *x;
    json_array_foreach ((json_t *)arr, i, x) {
        if (json_equal(x, v))
            return true;
    }
    return false;
}

/* Index of the element of list whose merge key equals key's value, or -1. */
static long find_by_key(const json_t *list, const char *merge_key, const json_t *value)
{
    size_t i;
    json_t *x;
    json_array_foreach ((json_t *)list, i, x) {
        json_t *k = json_object_get(x, merge_key);
        if (k != NULL && json_equal(k, value))
            return (long)i;
    }
    return -1;
}

static int no_merge_key(const json_t *item, const char *merge_key, struct k8c_err **err)
{
    _cleanup_free_ char *text = kjson_dumps(item);
    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                       "map: %s does not contain declared merge key: %s", text, merge_key);
}

/* Merges a list of maps by merge key (patchStrategy merge). */
static json_t *merge_map_list(const json_t *orig, const json_t *patch, const json_t *items_schema,
                              const char *merge_key, struct k8c_err **err)
{
    _cleanup_json_ json_t *out = json_is_array(orig) ? json_deep_copy(orig) : json_array();
    /* Special elements first: {"$patch":"delete", key: v} removes, {"$patch":"replace"}
     * makes the rest of the patch list the whole list. */
    bool replace = false;
    size_t i;
    json_t *item;
    json_array_foreach ((json_t *)patch, i, item) {
        json_t *d = json_object_get(item, DIRECTIVE);
        if (!json_is_object(item) || d == NULL)
            continue;
        const char *dir = json_string_value(d);
        if (dir != NULL && !strcmp(dir, "delete")) {
            json_t *kv = json_object_get(item, merge_key);
            if (kv == NULL)
                return no_merge_key(item, merge_key, err), NULL;
            long at;
            while ((at = find_by_key(out, merge_key, kv)) >= 0)
                json_array_remove(out, (size_t)at);
        } else if (dir != NULL && !strcmp(dir, "replace")) {
            replace = true;
        } else if (dir != NULL && !strcmp(dir, "merge")) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "merging lists cannot yet be specified in the patch");
            return NULL;
        } else {
            _cleanup_free_ char *text = kjson_dumps(item);
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "invalid patch type %s in %s",
                        dir ? dir : "(not a string)", text);
            return NULL;
        }
    }
    if (replace) {
        json_decref(out);
        out = json_array();
    }
    json_array_foreach ((json_t *)patch, i, item) {
        if (json_is_null(item))
            continue;
        if (!json_is_object(item)) {
            _cleanup_free_ char *text = kjson_dumps(item);
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "invalid patch: list item %s is not a map, but the list merges by key %s",
                        text, merge_key);
            return NULL;
        }
        if (json_object_get(item, DIRECTIVE) != NULL)
            continue;
        json_t *kv = json_object_get(item, merge_key);
        if (kv == NULL)
            return no_merge_key(item, merge_key, err), NULL;
        long at = find_by_key(out, merge_key, kv);
        bool deleted = false;
        json_t *merged = merge_map(at >= 0 ? json_array_get(out, (size_t)at) : NULL, item,
                                   items_schema, &deleted, err);
        if (merged == NULL)
            return NULL;
        if (at >= 0)
            json_array_set_new(out, (size_t)at, merged);
        else
            json_array_append_new(out, merged);
    }
    return steal_ptr(&out);
}

/* Merges a list of primitives as a set (patchStrategy merge): original order, then the
 * patch's new values. */
static json_t *merge_primitive_list(const json_t *orig, const json_t *patch)
{
    json_t *out = json_array();
    size_t i;
    json_t *x;
    if (json_is_array(orig))
        json_array_foreach ((json_t *)orig, i, x) {
            if (!array_contains(out, x))
                json_array_append(out, x);
        }
    json_array_foreach ((json_t *)patch, i, x) {
        if (!json_is_null(x) && !array_contains(out, x))
            json_array_append_new(out, json_deep_copy(x));
    }
    return out;
}

/* A patch value taken as it is (no original to merge with): directives and nulls inside
 * maps are resolved against nothing, so none is ever stored. */
static json_t *clean_value(const json_t *pv, const json_t *schema, bool *deleted,
                           struct k8c_err **err)
{
    *deleted = false;
    if (json_is_object(pv))
        return merge_map(NULL, pv, schema, deleted, err);
    if (json_is_array(pv)) {
        json_t *out = json_array();
        const json_t *items = api__schema_items(schema);
        size_t i;
        json_t *x;
        json_array_foreach ((json_t *)pv, i, x) {
            bool del = false;
            json_t *c = clean_value(x, items, &del, err);
            if (c == NULL) {
                json_decref(out);
                return NULL;
            }
            if (del)
                json_decref(c);
            else
                json_array_append_new(out, c);
        }
        return out;
    }
    return json_deep_copy(pv);
}

/* Merges one field's patch value pv into its original ov (may be NULL). */
static json_t *merge_field(const json_t *ov, const json_t *pv, const json_t *field, bool *deleted,
                           struct k8c_err **err)
{
    *deleted = false;
    struct api__patch_meta meta;
    api__schema_patch_meta(field, &meta);
    if (json_is_object(pv)) {
        if (meta.strategy_replace || !json_is_object(ov))
            return clean_value(pv, field, deleted, err);
        return merge_map(ov, pv, field, deleted, err);
    }
    if (json_is_array(pv)) {
        if (!meta.strategy_merge || (ov != NULL && !json_is_array(ov)))
            return clean_value(pv, field, deleted, err);
        bool maps = false;
        size_t i;
        json_t *x;
        json_array_foreach ((json_t *)pv, i, x) {
            maps = maps || json_is_object(x);
        }
        if (maps && meta.merge_key != NULL)
            return merge_map_list(ov, pv, api__schema_items(field), meta.merge_key, err);
        if (maps)
            return clean_value(pv, field, deleted, err);
        return merge_primitive_list(ov, pv);
    }
    return json_deep_copy(pv);
}

/* The ordering key of a list element: its merge key's value for lists of maps, the value
 * itself for primitives. */
static const json_t *order_key(const json_t *item, const char *merge_key)
{
    if (merge_key != NULL && json_is_object(item))
        return json_object_get(item, merge_key);
    return item;
}

/* Position of item in list by ordering key, or -1. */
static long order_index(const json_t *list, const json_t *item, const char *merge_key)
{
    const json_t *k = order_key(item, merge_key);
    if (k == NULL)
        return -1;
    size_t i;
    json_t *x;
    json_array_foreach ((json_t *)list, i, x) {
        const json_t *xk = order_key(x, merge_key);
        if (xk != NULL && json_equal(xk, k))
            return (long)i;
    }
    return -1;
}

/* $setElementOrder/<field>, as apimachinery's normalizeElementOrder: the merged elements the
 * order names are sorted by it, the others (server-only) keep the live order, and the two
 * are interleaved by their live positions (mergeSortedSlice): a server-only element goes
 * before a named one when both were in the live list and it came first. live is the field's
 * value before the patch (may be NULL). */
static int apply_order(json_t *obj, const char *field, const json_t *order, const json_t *live,
                       const json_t *fschema, struct k8c_err **err)
{
    if (!json_is_array(order))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "invalid patch: %s%s must be a list",
                           SET_ORDER, field);
    json_t *list = json_object_get(obj, field);
    if (!json_is_array(list))
        return 0;
    struct api__patch_meta meta;
    api__schema_patch_meta(fschema, &meta);
    _cleanup_json_ json_t *named = json_array();
    _cleanup_json_ json_t *server_only = json_array();
    size_t i;
    json_t *x;
    json_array_foreach (list, i, x) {
        json_array_append(order_index(order, x, meta.merge_key) >= 0 ? named : server_only, x);
    }
    /* Stable sort of the named elements by their position in the order list. */
    size_t n = json_array_size(named);
    for (size_t a = 1; a < n; a++) {
        json_t *item = json_incref(json_array_get(named, a));
        long ia = order_index(order, item, meta.merge_key);
        size_t b = a;
        while (b > 0 && order_index(order, json_array_get(named, b - 1), meta.merge_key) > ia) {
            json_array_set(named, b, json_array_get(named, b - 1));
            b--;
        }
        json_array_set_new(named, b, item);
    }
    json_t *merged = json_array();
    size_t li = 0, ri = 0, nl = json_array_size(server_only);
    while (li < nl || ri < n) {
        bool take_left;
        if (ri >= n) {
            take_left = true;
        } else if (li >= nl) {
            take_left = false;
        } else {
            long pl = order_index(live, json_array_get(server_only, li), meta.merge_key);
            long pr = order_index(live, json_array_get(named, ri), meta.merge_key);
            take_left = pl >= 0 && pr >= 0 && pl < pr;
        }
        json_array_append(merged, take_left ? json_array_get(server_only, li++)
                                            : json_array_get(named, ri++));
    }
    json_object_set_new(obj, field, merged);
    return 0;
}

static json_t *merge_map(const json_t *orig, const json_t *patch, const json_t *schema,
                         bool *deleted, struct k8c_err **err)
{
    *deleted = false;
    json_t *d = json_object_get(patch, DIRECTIVE);
    if (d != NULL) {
        const char *dir = json_string_value(d);
        if (dir != NULL && !strcmp(dir, "delete")) {
            *deleted = true;
            return json_object();
        }
        if (dir != NULL && !strcmp(dir, "replace")) {
            /* The map becomes the patch (directives resolved against nothing). */
            orig = NULL;
        } else if (dir == NULL || strcmp(dir, "merge") != 0) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "Unknown patch type: %s",
                        dir ? dir : "(not a string)");
            return NULL;
        }
    }
    _cleanup_json_ json_t *out = json_is_object(orig) ? json_deep_copy(orig) : json_object();

    json_t *retain = json_object_get(patch, RETAIN_KEYS);
    if (retain != NULL) {
        if (!json_is_array(retain)) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "invalid patch: %s must be a list",
                        RETAIN_KEYS);
            return NULL;
        }
        size_t i;
        json_t *k;
        json_array_foreach (retain, i, k) {
            if (!json_is_string(k)) {
                k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                            "invalid patch: %s must be a list of strings", RETAIN_KEYS);
                return NULL;
            }
        }
        const char *key;
        json_t *v, *tmp;
        json_object_foreach_safe (out, tmp, key, v) {
            _cleanup_json_ json_t *name = json_string(key);
            if (!array_contains(retain, name))
                json_object_del(out, key);
        }
    }

    const char *key;
    json_t *pv;
    json_object_foreach ((json_t *)patch, key, pv) {
        if (!has_prefix(key, DELETE_PRIMITIVE))
            continue;
        const char *field = key + strlen(DELETE_PRIMITIVE);
        if (!json_is_array(pv)) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "invalid patch: %s must be a list", key);
            return NULL;
        }
        json_t *list = json_object_get(out, field);
        if (!json_is_array(list))
            continue;
        json_t *kept = json_array();
        size_t i;
        json_t *x;
        json_array_foreach (list, i, x) {
            if (!array_contains(pv, x))
                json_array_append(kept, x);
        }
        json_object_set_new(out, field, kept);
    }

    json_object_foreach ((json_t *)patch, key, pv) {
        if (is_directive_key(key))
            continue;
        if (json_is_null(pv)) {
            json_object_del(out, key);
            continue;
        }
        bool del = false;
        json_t *merged =
            merge_field(json_object_get(out, key), pv, api__schema_field(schema, key), &del, err);
        if (merged == NULL)
            return NULL;
        if (del) {
            json_decref(merged);
            json_object_del(out, key);
        } else {
            json_object_set_new(out, key, merged);
        }
    }

    json_object_foreach ((json_t *)patch, key, pv) {
        if (!has_prefix(key, SET_ORDER))
            continue;
        const char *field = key + strlen(SET_ORDER);
        const json_t *live = json_is_object(orig) ? json_object_get(orig, field) : NULL;
        if (apply_order(out, field, pv, live, api__schema_field(schema, field), err) < 0)
            return NULL;
    }
    return steal_ptr(&out);
}

json_t *api_patch_strategic(const char *gvk_api_version, const char *gvk_kind, const json_t *doc,
                            const char *patch, size_t len, struct k8c_err **err)
{
    const json_t *schema = api__schema_for_kind(gvk_api_version, gvk_kind);
    if (schema == NULL) {
        k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml");
        return NULL;
    }
    _cleanup_json_ json_t *p = kjson_parse(patch, len, err);
    if (p == NULL) {
        k8c_err_wrap(err, "invalid strategic merge patch");
        return NULL;
    }
    if (!json_is_object(p)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "invalid strategic merge patch: json: cannot unmarshal %s into Go value of "
                    "type map[string]interface {}",
                    json_is_array(p) ? "array" : "value");
        return NULL;
    }
    bool deleted = false;
    _cleanup_json_ json_t *out = merge_map(doc, p, schema, &deleted, err);
    if (out == NULL)
        return NULL;
    if (deleted) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "invalid strategic merge patch: the whole object cannot be deleted with "
                    "\"$patch\": \"delete\"");
        return NULL;
    }
    return steal_ptr(&out);
}
