/* Unknown fields and JSON type mismatches against the compact schema (known_fields.h), as
 * kube-apiserver's strict decoder reports them (fieldValidation=Strict|Warn, and the 400
 * "cannot be handled as" decode errors). */
#include <stdlib.h>
#include <string.h>

#include "api/known_fields.h"
#include "api/validate.h"
#include "base/buf.h"
#include "base/mem.h"

static const struct api__known_type *root_type(const struct api_kind *k)
{
    for (size_t i = 0; i < api__n_known_roots; i++)
        if (strcmp(api__known_roots[i].api_version, k->api_version) == 0 &&
            strcmp(api__known_roots[i].kind, k->kind) == 0)
            return &api__known_types[api__known_roots[i].type];
    return NULL;
}

/* Finds field name in a type's "a=code;b=code" list. Returns the code (pointing into the
 * table, ending at ';' or NUL) or NULL. */
static const char *field_code(const struct api__known_type *t, const char *name)
{
    size_t n = strlen(name);
    const char *p = t->fields;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (eq == NULL)
            return NULL;
        if ((size_t)(eq - p) == n && memcmp(p, name, n) == 0)
            return eq + 1;
        const char *semi = strchr(eq, ';');
        if (semi == NULL)
            return NULL;
        p = semi + 1;
    }
    return NULL;
}

static const struct api__known_type *ref_type(const char *code)
{
    size_t idx = (size_t)strtoul(code + 1, NULL, 10);
    return idx < api__n_known_types ? &api__known_types[idx] : NULL;
}

static void walk_unknown(const json_t *v, const char *code, struct buf *path, json_t *out)
{
    if (v == NULL || json_is_null(v))
        return;
    size_t mark = path->len;
    if (code[0] == '@' && json_is_object(v)) {
        const struct api__known_type *t = ref_type(code);
        if (t == NULL)
            return;
        const char *key;
        json_t *x;
        json_object_foreach ((json_t *)v, key, x) {
            if (mark > 0)
                buf_append_char(path, '.');
            buf_append_str(path, key);
            const char *c = field_code(t, key);
            if (c == NULL)
                json_array_append_new(out, json_string(path->data));
            else
                walk_unknown(x, c, path, out);
            path->len = mark;
            path->data[mark] = '\0';
        }
    } else if (code[0] == '[' && json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x) {
            buf_appendf(path, "[%zu]", i);
            walk_unknown(x, code + 1, path, out);
            path->len = mark;
            path->data[mark] = '\0';
        }
    } else if (code[0] == '{' && json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach ((json_t *)v, key, x) {
            buf_appendf(path, "[%s]", key);
            walk_unknown(x, code + 1, path, out);
            path->len = mark;
            path->data[mark] = '\0';
        }
    }
}

json_t *api_object_unknown_fields(const struct api_kind *k, const json_t *obj)
{
    const struct api__known_type *t = root_type(k);
    if (t == NULL || !json_is_object(obj))
        return NULL;
    char code[24];
    snprintf(code, sizeof(code), "@%zu", (size_t)(t - api__known_types));
    json_t *out = json_array();
    _cleanup_buf_ struct buf path = BUF_INIT;
    buf_append_str(&path, "");
    walk_unknown(obj, code, &path, out);
    if (json_array_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static void go_type(const char *code, struct buf *b)
{
    switch (code[0]) {
    case 's': buf_append_str(b, "string"); break;
    case 'i': buf_append_str(b, "int32"); break;
    case 'l': buf_append_str(b, "int64"); break;
    case 'n': buf_append_str(b, "float64"); break;
    case 'b': buf_append_str(b, "bool"); break;
    case 'B': buf_append_str(b, "[]uint8"); break;
    case 'q': buf_append_str(b, "intstr.IntOrString"); break;
    case 'Q': buf_append_str(b, "resource.Quantity"); break;
    case 't': buf_append_str(b, "v1.Time"); break;
    case '@': {
        const struct api__known_type *t = ref_type(code);
        buf_append_str(b, t ? t->go_name : "struct");
        break;
    }
    case '[':
        buf_append_str(b, "[]");
        go_type(code + 1, b);
        break;
    case '{':
        buf_append_str(b, "map[string]");
        go_type(code + 1, b);
        break;
    default: buf_append_str(b, "interface {}");
    }
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_NULL: return "null";
    }
    return "value";
}

/* Whether v fits code's JSON shape (null always fits). */
static bool fits(const json_t *v, const char *code)
{
    if (json_is_null(v))
        return true;
    switch (code[0]) {
    case 's':
    case 'B':
    case 't': return json_is_string(v);
    case 'i':
    case 'l': return json_is_integer(v);
    case 'n': return json_is_number(v);
    case 'b': return json_is_boolean(v);
    case 'q': return json_is_string(v) || json_is_integer(v);
    case 'Q': return json_is_string(v) || json_is_number(v);
    case '@':
    case '{': return json_is_object(v);
    case '[': return json_is_array(v);
    default: return true;
    }
}

/* struct_name: the Go name of the innermost struct ("Container"); path: dotted JSON path
 * without list indices, as Go's encoding/json reports it. */
static char *walk_types(const json_t *v, const char *code, const char *struct_name,
                        struct buf *path)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!fits(v, code)) {
        _cleanup_buf_ struct buf t = BUF_INIT;
        go_type(code, &t);
        if (json_is_real(v) && (code[0] == 'i' || code[0] == 'l'))
            return xasprintf("json: cannot unmarshal number %g into Go struct field %s.%s of "
                             "type %s",
                             json_real_value(v), struct_name, path->data, t.data);
        return xasprintf("json: cannot unmarshal %s into Go struct field %s.%s of type %s",
                         json_kind(v), struct_name, path->data, t.data);
    }
    size_t mark = path->len;
    char *err = NULL;
    if (code[0] == '@' && json_is_object(v)) {
        const struct api__known_type *t = ref_type(code);
        if (t == NULL)
            return NULL;
        const char *dot = strchr(t->go_name, '.');
        const char *name = dot ? dot + 1 : t->go_name;
        const char *key;
        json_t *x;
        json_object_foreach ((json_t *)v, key, x) {
            const char *c = field_code(t, key);
            if (c == NULL)
                continue;
            if (mark > 0)
                buf_append_char(path, '.');
            buf_append_str(path, key);
            err = walk_types(x, c, name, path);
            path->len = mark;
            path->data[mark] = '\0';
            if (err != NULL)
                return err;
        }
    } else if ((code[0] == '[' && json_is_array(v)) || (code[0] == '{' && json_is_object(v))) {
        if (json_is_array(v)) {
            size_t i;
            json_t *x;
            json_array_foreach (v, i, x)
                if ((err = walk_types(x, code + 1, struct_name, path)))
                    return err;
        } else {
            const char *key;
            json_t *x;
            json_object_foreach ((json_t *)v, key, x)
                if ((err = walk_types(x, code + 1, struct_name, path)))
                    return err;
        }
    }
    return NULL;
}

char *api_object_type_error(const struct api_kind *k, const json_t *obj)
{
    const struct api__known_type *t = root_type(k);
    if (t == NULL || !json_is_object(obj))
        return NULL;
    char code[24];
    snprintf(code, sizeof(code), "@%zu", (size_t)(t - api__known_types));
    _cleanup_buf_ struct buf path = BUF_INIT;
    buf_append_str(&path, "");
    return walk_types(obj, code, k->kind, &path);
}
