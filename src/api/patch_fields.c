/* Field sets for server-side apply, as sigs.k8s.io/structured-merge-diff describes them:
 * which fields of an object a manager owns, stored in metadata.managedFields as "FieldsV1"
 * ({"f:spec":{"f:replicas":{}}, "f:containers":{"k:{\"name\":\"web\"}":{".":{},…}}}).
 *
 * In memory a set is a JSON object mapping a path key (the compact JSON of the path) to the
 * path, a JSON array of segments: "f:<field>" for a map key, "k:<json of the key fields>" for
 * an element of an associative list (x-kubernetes-list-type map), "v:<json value>" for an
 * element of a set list. A path in the set is a member; its ancestors are not (unless they are
 * members too). jansson's hashed objects make membership tests O(1). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/patch_internal.h"
#include "api/schema.h"
#include "base/json.h"
#include "base/mem.h"

/* Fields the API server sets itself; never owned by a manager (the field manager's
 * "ignored fields" in kube-apiserver). status is reset by the main resource's strategy. */
static const char *const ignored_top[] = {"apiVersion", "kind", "status"};
static const char *const ignored_meta[] = {"name",
                                           "namespace",
                                           "uid",
                                           "resourceVersion",
                                           "generation",
                                           "creationTimestamp",
                                           "deletionTimestamp",
                                           "deletionGracePeriodSeconds",
                                           "managedFields",
                                           "selfLink"};

static bool in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

/* "f:<key>" in buf (a stack buffer of cap bytes) or, for long keys, in *heap (caller frees):
 * this runs once per field of every object written, so short keys avoid the allocator. */
static const char *field_segment(char *buf, size_t cap, const char *key, char **heap)
{
    size_t n = strlen(key);
    if (n + 3 > cap) {
        *heap = xasprintf("f:%s", key);
        return *heap;
    }
    buf[0] = 'f';
    buf[1] = ':';
    memcpy(buf + 2, key, n + 1);
    return buf;
}

void api__fields_add(json_t *set, const json_t *path)
{
    _cleanup_free_ char *key = kjson_dumps(path);
    json_object_set_new(set, key, json_deep_copy(path));
}

bool api__fields_has(const json_t *set, const json_t *path)
{
    _cleanup_free_ char *key = kjson_dumps(path);
    return json_object_get(set, key) != NULL;
}

void api__fields_del(json_t *set, const json_t *path)
{
    _cleanup_free_ char *key = kjson_dumps(path);
    json_object_del(set, key);
}

static json_t *path_with(const json_t *path, const char *seg)
{
    json_t *p = json_copy((json_t *)path);
    json_array_append_new(p, json_string(seg));
    return p;
}

static bool is_atomic_map(const json_t *field)
{
    struct api__patch_meta m;
    api__schema_patch_meta(field, &m);
    if (m.map_atomic)
        return true;
    api__schema_patch_meta(api__schema_resolve(field), &m);
    return m.map_atomic;
}

/* Defaults of list-map key fields. Kubernetes' OpenAPI v3 schemas carry them (and
 * structured-merge-diff fills them in before keying) but the v2 document the schemas are
 * generated from does not; protocol is the only defaulted key of the served kinds (container,
 * service and endpoint ports: an applied {containerPort: 80} is the live port 80/TCP). */
static json_t *tcp_value;
static pthread_once_t tcp_once = PTHREAD_ONCE_INIT;

static void make_tcp(void)
{
    tcp_value = json_string("TCP"); /* never freed: one per process */
}

static const json_t *key_default(const char *name)
{
    if (strcmp(name, "protocol") != 0)
        return NULL;
    pthread_once(&tcp_once, make_tcp);
    return tcp_value;
}

json_t *api__fields_item_key(const json_t *item, const json_t *map_keys)
{
    if (!json_is_object(item))
        return NULL;
    json_t *k = json_object();
    size_t i;
    json_t *name;
    json_array_foreach ((json_t *)map_keys, i, name) {
        const char *n = json_string_value(name);
        if (n == NULL)
            continue;
        const json_t *v = json_object_get(item, n);
        if (v == NULL)
            v = key_default(n);
        if (v != NULL)
            json_object_set_new(k, n, json_deep_copy(v));
    }
    return k;
}

bool api__fields_item_matches(const json_t *item, const json_t *key)
{
    if (!json_is_object(item) || !json_is_object(key))
        return false;
    const char *n;
    json_t *want;
    json_object_foreach ((json_t *)key, n, want) {
        const json_t *have = json_object_get(item, n);
        if (have == NULL)
            have = key_default(n);
        if (have == NULL || !json_equal(have, want))
            return false;
    }
    return true;
}

/* The "k:" segment of an associative list element: its key fields (defaults filled in),
 * sorted by name. NULL when the element is not an object. Caller frees. */
static char *item_key_segment(const json_t *item, const json_t *map_keys)
{
    _cleanup_json_ json_t *k = api__fields_item_key(item, map_keys);
    if (k == NULL)
        return NULL;
    char *text = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    K8C_ASSERT(text != NULL);
    char *seg = xasprintf("k:%s", text);
    free(text);
    return seg;
}

static char *value_segment(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    K8C_ASSERT(text != NULL);
    char *seg = xasprintf("v:%s", text);
    free(text);
    return seg;
}

static void collect(const json_t *v, const json_t *field, const json_t *path, json_t *set);

static void collect_object(const json_t *obj, const json_t *schema, const json_t *path, json_t *set)
{
    const char *k;
    json_t *c;
    json_object_foreach ((json_t *)obj, k, c) {
        char seg_buf[128];
        _cleanup_free_ char *seg_heap = NULL;
        const char *seg = field_segment(seg_buf, sizeof(seg_buf), k, &seg_heap);
        _cleanup_json_ json_t *child = path_with(path, seg);
        collect(c, api__schema_field(schema, k), child, set);
    }
}

/* Adds the members for value v found at path (field is its schema, may be NULL). */
static void collect(const json_t *v, const json_t *field, const json_t *path, json_t *set)
{
    if (json_is_object(v) && json_object_size(v) > 0 && !is_atomic_map(field)) {
        collect_object(v, field, path, set);
        return;
    }
    struct api__patch_meta m;
    api__schema_patch_meta(field, &m);
    if (json_is_array(v) && json_array_size(v) > 0 && m.list_type != NULL) {
        bool assoc = !strcmp(m.list_type, "map") && m.map_keys != NULL;
        bool set_list = !strcmp(m.list_type, "set");
        size_t i;
        json_t *item;
        bool all_objects = true;
        json_array_foreach ((json_t *)v, i, item) {
            all_objects = all_objects && json_is_object(item);
        }
        if (assoc && all_objects) {
            const json_t *items = api__schema_items(field);
            json_array_foreach ((json_t *)v, i, item) {
                _cleanup_free_ char *seg = item_key_segment(item, m.map_keys);
                _cleanup_json_ json_t *child = path_with(path, seg);
                api__fields_add(set, child);
                collect_object(item, items, child, set);
            }
            return;
        }
        if (set_list) {
            json_array_foreach ((json_t *)v, i, item) {
                _cleanup_free_ char *seg = value_segment(item);
                _cleanup_json_ json_t *child = path_with(path, seg);
                api__fields_add(set, child);
            }
            return;
        }
    }
    api__fields_add(set, path);
}

json_t *api__fields_of(const json_t *obj, const json_t *schema)
{
    json_t *set = json_object();
    _cleanup_json_ json_t *root = json_array();
    const char *k;
    json_t *c;
    json_object_foreach ((json_t *)obj, k, c) {
        if (in_list(ignored_top, ARRAY_SIZE(ignored_top), k))
            continue;
        char seg_buf[128];
        _cleanup_free_ char *seg_heap = NULL;
        const char *seg = field_segment(seg_buf, sizeof(seg_buf), k, &seg_heap);
        _cleanup_json_ json_t *path = path_with(root, seg);
        const json_t *field = api__schema_field(schema, k);
        if (strcmp(k, "metadata") != 0 || !json_is_object(c)) {
            collect(c, field, path, set);
            continue;
        }
        const char *mk;
        json_t *mv;
        json_object_foreach (c, mk, mv) {
            if (in_list(ignored_meta, ARRAY_SIZE(ignored_meta), mk))
                continue;
            char mseg_buf[128];
            _cleanup_free_ char *mseg_heap = NULL;
            const char *mseg = field_segment(mseg_buf, sizeof(mseg_buf), mk, &mseg_heap);
            _cleanup_json_ json_t *mpath = path_with(path, mseg);
            collect(mv, api__schema_field(field, mk), mpath, set);
        }
    }
    return set;
}

static json_t *tree_child(json_t *node, const char *seg)
{
    json_t *c = json_object_get(node, seg);
    if (c == NULL) {
        c = json_object();
        json_object_set_new(node, seg, c);
    }
    return c;
}

static void tree_collect(const json_t *v, const json_t *field, json_t *node);

static void tree_collect_object(const json_t *obj, const json_t *schema, json_t *node)
{
    const char *k;
    json_t *c;
    json_object_foreach ((json_t *)obj, k, c) {
        char seg_buf[128];
        _cleanup_free_ char *seg_heap = NULL;
        const char *seg = field_segment(seg_buf, sizeof(seg_buf), k, &seg_heap);
        tree_collect(c, api__schema_field(schema, k), tree_child(node, seg));
    }
}

/* collect() building the FieldsV1 tree directly: node is the (new or shared) node of v's
 * path; a node left empty is a member leaf. */
static void tree_collect(const json_t *v, const json_t *field, json_t *node)
{
    if (json_is_object(v) && json_object_size(v) > 0 && !is_atomic_map(field)) {
        tree_collect_object(v, field, node);
        return;
    }
    struct api__patch_meta m;
    api__schema_patch_meta(field, &m);
    if (!json_is_array(v) || json_array_size(v) == 0 || m.list_type == NULL)
        return;
    bool assoc = !strcmp(m.list_type, "map") && m.map_keys != NULL;
    size_t i;
    json_t *item;
    bool all_objects = true;
    json_array_foreach ((json_t *)v, i, item) {
        all_objects = all_objects && json_is_object(item);
    }
    if (assoc && all_objects) {
        const json_t *items = api__schema_items(field);
        json_array_foreach ((json_t *)v, i, item) {
            _cleanup_free_ char *seg = item_key_segment(item, m.map_keys);
            json_t *child = tree_child(node, seg);
            json_object_set_new(child, ".", json_object());
            tree_collect_object(item, items, child);
            if (json_object_size(child) == 1)
                json_object_del(child, ".");
        }
    } else if (!strcmp(m.list_type, "set")) {
        json_array_foreach ((json_t *)v, i, item) {
            _cleanup_free_ char *seg = value_segment(item);
            tree_child(node, seg);
        }
    }
}

json_t *api__fields_v1_of(const json_t *obj, const json_t *schema)
{
    json_t *tree = json_object();
    const char *k;
    json_t *c;
    json_object_foreach ((json_t *)obj, k, c) {
        if (in_list(ignored_top, ARRAY_SIZE(ignored_top), k))
            continue;
        char seg_buf[128];
        _cleanup_free_ char *seg_heap = NULL;
        const char *seg = field_segment(seg_buf, sizeof(seg_buf), k, &seg_heap);
        const json_t *field = api__schema_field(schema, k);
        if (strcmp(k, "metadata") != 0 || !json_is_object(c)) {
            tree_collect(c, field, tree_child(tree, seg));
            continue;
        }
        _cleanup_json_ json_t *meta = json_object();
        const char *mk;
        json_t *mv;
        json_object_foreach (c, mk, mv) {
            if (in_list(ignored_meta, ARRAY_SIZE(ignored_meta), mk))
                continue;
            char mseg_buf[128];
            _cleanup_free_ char *mseg_heap = NULL;
            const char *mseg = field_segment(mseg_buf, sizeof(mseg_buf), mk, &mseg_heap);
            tree_collect(mv, api__schema_field(field, mk), tree_child(meta, mseg));
        }
        if (json_object_size(meta) > 0)
            json_object_set(tree, seg, meta);
    }
    return tree;
}

/* Whether every key of a except the ignored ones is in b with an equal value. */
static bool tracked_subset(const json_t *a, const json_t *b, const char *const *ignored,
                           size_t n_ignored)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)a, k, v) {
        if (in_list(ignored, n_ignored, k))
            continue;
        json_t *w = json_object_get(b, k);
        if (w == NULL || !json_equal(v, w))
            return false;
    }
    return true;
}

bool api__fields_tracked_equal(const json_t *a, const json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b))
        return false;
    static const char *const top_and_meta[] = {"apiVersion", "kind", "status", "metadata"};
    if (!tracked_subset(a, b, top_and_meta, ARRAY_SIZE(top_and_meta)) ||
        !tracked_subset(b, a, top_and_meta, ARRAY_SIZE(top_and_meta)))
        return false;
    json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    if (!json_is_object(ma) || !json_is_object(mb))
        return json_equal(ma, mb);
    return tracked_subset(ma, mb, ignored_meta, ARRAY_SIZE(ignored_meta)) &&
           tracked_subset(mb, ma, ignored_meta, ARRAY_SIZE(ignored_meta));
}

/* "." is only needed where a member has children: plain leaves are just {}. */
static void drop_lone_dots(json_t *node)
{
    const char *k;
    json_t *c;
    json_object_foreach (node, k, c) {
        if (!strcmp(k, "."))
            continue;
        if (json_object_size(c) == 1 && json_object_get(c, ".") != NULL)
            json_object_del(c, ".");
        else
            drop_lone_dots(c);
    }
}

json_t *api__fields_to_v1(const json_t *set)
{
    json_t *tree = json_object();
    const char *key;
    json_t *path;
    json_object_foreach ((json_t *)set, key, path) {
        json_t *node = tree;
        size_t i;
        json_t *seg;
        json_array_foreach (path, i, seg) {
            json_t *next = json_object_get(node, json_string_value(seg));
            if (next == NULL) {
                next = json_object();
                json_object_set_new(node, json_string_value(seg), next);
            }
            node = next;
        }
        /* A member that is also an ancestor of members is marked with ".". */
        json_object_set_new(node, ".", json_object());
    }
    drop_lone_dots(tree);
    return tree;
}

/* Depth-first walk of a FieldsV1 tree into set. Returns -1 on a malformed tree. */
static int from_v1(const json_t *node, json_t *path, json_t *set, int depth)
{
    if (!json_is_object(node) || depth > 200)
        return -1;
    if (json_object_size(node) == 0) {
        if (json_array_size(path) > 0)
            api__fields_add(set, path);
        return 0;
    }
    const char *k;
    json_t *c;
    json_object_foreach ((json_t *)node, k, c) {
        if (!strcmp(k, ".")) {
            if (json_array_size(path) > 0)
                api__fields_add(set, path);
            continue;
        }
        if (strncmp(k, "f:", 2) && strncmp(k, "k:", 2) && strncmp(k, "v:", 2) &&
            strncmp(k, "i:", 2))
            return -1;
        json_array_append_new(path, json_string(k));
        int rc = from_v1(c, path, set, depth + 1);
        json_array_remove(path, json_array_size(path) - 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

json_t *api__fields_from_v1(const json_t *v1)
{
    json_t *set = json_object();
    _cleanup_json_ json_t *path = json_array();
    if (from_v1(v1, path, set, 0) < 0) {
        json_decref(set);
        return NULL;
    }
    return set;
}

/* The element of array arr that segment seg ("k:…", "v:…") names; *index set. */
static json_t *find_element(const json_t *arr, const char *seg, size_t *index)
{
    if (!json_is_array(arr) || strlen(seg) < 2)
        return NULL;
    _cleanup_json_ json_t *want = kjson_parse(seg + 2, strlen(seg + 2), NULL);
    if (want == NULL)
        return NULL;
    size_t i;
    json_t *item;
    json_array_foreach ((json_t *)arr, i, item) {
        bool match;
        if (seg[0] == 'k') {
            match = json_is_object(item) && json_is_object(want);
            const char *k;
            json_t *v;
            json_object_foreach (want, k, v) {
                json_t *have = json_object_get(item, k);
                match = match && have != NULL && json_equal(have, v);
            }
        } else {
            match = json_equal(item, want);
        }
        if (match) {
            *index = i;
            return item;
        }
    }
    return NULL;
}

json_t *api__fields_get(const json_t *obj, const json_t *path)
{
    const json_t *cur = obj;
    size_t i;
    json_t *seg;
    json_array_foreach ((json_t *)path, i, seg) {
        const char *s = json_string_value(seg);
        if (cur == NULL || s == NULL)
            return NULL;
        if (!strncmp(s, "f:", 2)) {
            cur = json_is_object(cur) ? json_object_get(cur, s + 2) : NULL;
        } else if (!strncmp(s, "k:", 2) || !strncmp(s, "v:", 2)) {
            size_t idx;
            cur = find_element(cur, s, &idx);
        } else {
            return NULL;
        }
    }
    return (json_t *)cur;
}

void api__fields_remove(json_t *obj, const json_t *path)
{
    size_t n = json_array_size(path);
    if (n == 0)
        return;
    _cleanup_json_ json_t *parent_path = json_copy((json_t *)path);
    json_array_remove(parent_path, n - 1);
    json_t *parent = api__fields_get(obj, parent_path);
    const char *last = json_string_value(json_array_get(path, n - 1));
    if (parent == NULL || last == NULL)
        return;
    if (!strncmp(last, "f:", 2) && json_is_object(parent)) {
        json_object_del(parent, last + 2);
    } else if (!strncmp(last, "k:", 2) || !strncmp(last, "v:", 2)) {
        size_t idx;
        if (find_element(parent, last, &idx) != NULL)
            json_array_remove(parent, idx);
    }
}

char *api__fields_path_string(const json_t *path)
{
    struct buf b = BUF_INIT;
    size_t i;
    json_t *seg;
    json_array_foreach ((json_t *)path, i, seg) {
        const char *s = json_string_value(seg);
        if (s == NULL || strlen(s) < 2)
            continue;
        if (s[0] == 'f') {
            buf_appendf(&b, ".%s", s + 2);
        } else if (s[0] == 'v') {
            buf_appendf(&b, "[=%s]", s + 2);
        } else {
            /* k:{"name":"web","port":80} -> [name="web",port=80] */
            _cleanup_json_ json_t *k = kjson_parse(s + 2, strlen(s + 2), NULL);
            buf_append_char(&b, '[');
            const char *name;
            json_t *v;
            bool first = true;
            json_object_foreach (k, name, v) {
                _cleanup_free_ char *text = kjson_dumps(v);
                buf_appendf(&b, "%s%s=%s", first ? "" : ",", name, text);
                first = false;
            }
            buf_append_char(&b, ']');
        }
    }
    return buf_steal(&b);
}
