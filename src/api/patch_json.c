/* JSON Patch (RFC 6902) with RFC 6901 pointers, applied as the Kubernetes API server applies
 * application/json-patch+json (it uses evanphx/json-patch v4): the same operations, the same
 * error wording, negative array indexes counted from the end, and 422 for operations that do
 * not apply. */
#include "api/patch.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"

/* One decoded pointer: its reference tokens, unescaped (~1 -> '/', ~0 -> '~'). */
struct pointer {
    char **tokens;
    size_t n;
};

static void pointer_free(struct pointer *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->tokens[i]);
    free(p->tokens);
    p->tokens = NULL;
    p->n = 0;
}

#define _cleanup_pointer_ __attribute__((cleanup(pointer_free)))

/* Splits an RFC 6901 pointer. "" is the whole document (no tokens). Returns -1 (BAD_REQUEST
 * wording of evanphx: the pointer must start with '/') on a malformed pointer. */
static int pointer_parse(const char *text, const char *what, struct pointer *out,
                         struct k8c_err **err)
{
    out->tokens = NULL;
    out->n = 0;
    if (text[0] == '\0')
        return 0;
    if (text[0] != '/')
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "%s: json pointer `%s` does not start with \"/\"", what, text);
    const char *p = text + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char *tok = xmalloc(n + 1);
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '~') {
                if (i + 1 < n && p[i + 1] == '0') {
                    tok[o++] = '~';
                    i++;
                } else if (i + 1 < n && p[i + 1] == '1') {
                    tok[o++] = '/';
                    i++;
                } else {
                    free(tok);
                    pointer_free(out);
                    return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                       "%s: json pointer `%s` has an invalid escape \"~\"", what,
                                       text);
                }
            } else {
                tok[o++] = p[i];
            }
        }
        tok[o] = '\0';
        out->tokens = xrealloc(out->tokens, (out->n + 1) * sizeof(*out->tokens));
        out->tokens[out->n++] = tok;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return 0;
}

/* Parses an array index token. Leading zeros and signs other than one leading '-' are not
 * indexes. Returns 0 and *idx, or -1. */
static int index_parse(const char *tok, long *idx)
{
    const char *p = tok;
    if (*p == '-')
        p++;
    if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    long v = strtol(tok, NULL, 10);
    if (errno != 0 || v > INT_MAX || v < -INT_MAX)
        return -1;
    *idx = v;
    return 0;
}

/* Walks every token but the last. Returns the container (borrowed) holding the last token, or
 * NULL when a step is missing. */
static json_t *find_parent(json_t *root, const struct pointer *ptr)
{
    json_t *cur = root;
    for (size_t i = 0; i + 1 < ptr->n && cur != NULL; i++) {
        if (json_is_object(cur)) {
            cur = json_object_get(cur, ptr->tokens[i]);
        } else if (json_is_array(cur)) {
            long idx;
            if (index_parse(ptr->tokens[i], &idx) < 0)
                return NULL;
            size_t n = json_array_size(cur);
            if (idx < 0)
                idx += (long)n;
            cur = (idx >= 0 && (size_t)idx < n) ? json_array_get(cur, (size_t)idx) : NULL;
        } else {
            return NULL;
        }
    }
    return (json_is_object(cur) || json_is_array(cur)) ? cur : NULL;
}

/* Resolves an index into an existing element of arr (negative counts from the end). */
static int element_index(const json_t *arr, const char *tok, size_t *out, struct k8c_err **err)
{
    long idx;
    if (index_parse(tok, &idx) < 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "value was not a proper array index: '%s'",
                           tok);
    long n = (long)json_array_size(arr);
    if (idx < 0)
        idx += n;
    if (idx < 0 || idx >= n)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "Unable to access invalid index: %s: invalid index referenced", tok);
    *out = (size_t)idx;
    return 0;
}

/* Borrowed value at the last token of ptr inside parent, or NULL when missing. */
static json_t *child_get(json_t *parent, const char *tok)
{
    if (json_is_object(parent))
        return json_object_get(parent, tok);
    size_t idx;
    if (element_index(parent, tok, &idx, NULL) < 0)
        return NULL;
    return json_array_get(parent, idx);
}

/* Adds value_take under tok in parent: sets an object key, or inserts into an array
 * ("-" appends). */
static int child_add_take(json_t *parent, const char *tok, json_t *value_take, struct k8c_err **err)
{
    _cleanup_json_ json_t *value = value_take;
    if (json_is_object(parent)) {
        json_object_set(parent, tok, value);
        return 0;
    }
    size_t n = json_array_size(parent);
    if (strcmp(tok, "-") == 0) {
        json_array_append(parent, value);
        return 0;
    }
    long idx;
    if (index_parse(tok, &idx) < 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "value was not a proper array index: '%s'",
                           tok);
    if (idx < 0)
        idx += (long)n + 1;
    if (idx < 0 || (size_t)idx > n)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "Unable to access invalid index: %s: invalid index referenced", tok);
    json_array_insert(parent, (size_t)idx, value);
    return 0;
}

/* Removes tok from parent; returns the removed value (a new reference) or NULL. */
static json_t *child_remove(json_t *parent, const char *tok, struct k8c_err **err)
{
    if (json_is_object(parent)) {
        json_t *v = json_object_get(parent, tok);
        if (v == NULL) {
            k8c_err_set(err, 0, K8C_REASON_INVALID,
                        "Unable to remove nonexistent key: %s: missing value", tok);
            return NULL;
        }
        json_incref(v);
        json_object_del(parent, tok);
        return v;
    }
    size_t idx;
    if (element_index(parent, tok, &idx, err) < 0)
        return NULL;
    json_t *v = json_incref(json_array_get(parent, idx));
    json_array_remove(parent, idx);
    return v;
}

static const char *op_string(const json_t *op, const char *key)
{
    return json_string_value(json_object_get(op, key));
}

/* Applies one operation to *root (which may be replaced for path ""). */
static int apply_op(json_t **root, const json_t *op, size_t i, struct k8c_err **err)
{
    if (!json_is_object(op))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "json: cannot unmarshal %s into Go value of type jsonpatch.Operation "
                           "(operation %zu)",
                           json_is_array(op) ? "array" : "value", i);
    const char *kind = op_string(op, "op");
    if (kind == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "Unexpected kind: unknown: operation %zu",
                           i);
    bool is_move = strcmp(kind, "move") == 0, is_copy = strcmp(kind, "copy") == 0;
    if (strcmp(kind, "add") && strcmp(kind, "remove") && strcmp(kind, "replace") && !is_move &&
        !is_copy && strcmp(kind, "test"))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "Unexpected kind: %s: unknown object type",
                           kind);
    const char *path = op_string(op, "path");
    if (path == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "%s operation failed to decode path: operation %zu has no \"path\"",
                           kind, i);
    const json_t *value = json_object_get(op, "value");
    bool needs_value = !strcmp(kind, "add") || !strcmp(kind, "replace") || !strcmp(kind, "test");
    if (needs_value && value == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "%s operation does not apply: operation %zu has no \"value\"", kind, i);

    _cleanup_pointer_ struct pointer ptr = {0};
    if (pointer_parse(path, kind, &ptr, err) < 0)
        return -1;

    /* move and copy first take the value at "from". */
    _cleanup_json_ json_t *moved = NULL;
    if (is_move || is_copy) {
        const char *from = op_string(op, "from");
        if (from == NULL)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "%s operation failed to decode from: operation %zu has no "
                               "\"from\"",
                               kind, i);
        if (is_move && strncmp(path, from, strlen(from)) == 0 && (path[strlen(from)] == '/') &&
            strlen(path) > strlen(from))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "move operation does not apply: \"from\" %s is a prefix of "
                               "\"path\" %s",
                               from, path);
        _cleanup_pointer_ struct pointer fptr = {0};
        if (pointer_parse(from, kind, &fptr, err) < 0)
            return -1;
        if (fptr.n == 0) {
            moved = json_deep_copy(*root);
            if (is_move) {
                json_decref(*root);
                *root = json_null();
            }
        } else {
            json_t *fparent = find_parent(*root, &fptr);
            json_t *fval = fparent ? child_get(fparent, fptr.tokens[fptr.n - 1]) : NULL;
            if (fval == NULL)
                return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                   "%s operation does not apply: doc is missing from path: %s: "
                                   "missing value",
                                   kind, from);
            if (is_move)
                moved = child_remove(fparent, fptr.tokens[fptr.n - 1], err);
            else
                moved = json_deep_copy(fval);
            if (moved == NULL)
                return -1;
        }
    }

    if (ptr.n == 0) {
        /* The whole document. */
        if (!strcmp(kind, "test")) {
            if (!json_equal(*root, value))
                return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                   "testing value %s failed: test failed", path);
            return 0;
        }
        if (!strcmp(kind, "remove"))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "remove operation does not apply: doc is missing path: \"\": "
                               "missing value");
        json_decref(*root);
        *root = (is_move || is_copy) ? steal_ptr(&moved) : json_deep_copy(value);
        return 0;
    }

    const char *last = ptr.tokens[ptr.n - 1];
    json_t *parent = find_parent(*root, &ptr);
    if (parent == NULL) {
        if (!strcmp(kind, "test"))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "test operation does not apply: is missing path: %s: missing "
                               "value",
                               path);
        if (is_move || is_copy)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "%s operation does not apply: doc is missing destination path: "
                               "%s: missing value",
                               kind, path);
        if (!strcmp(kind, "replace"))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "replace operation does not apply: doc is missing path: %s: "
                               "missing value",
                               path);
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "%s operation does not apply: doc is missing path: \"%s\": missing "
                           "value",
                           kind, path);
    }

    if (!strcmp(kind, "test")) {
        json_t *cur = child_get(parent, last);
        if (cur == NULL && json_is_null(value))
            return 0;
        if (cur == NULL || !json_equal(cur, value))
            return k8c_err_set(err, 0, K8C_REASON_INVALID, "testing value %s failed: test failed",
                               path);
        return 0;
    }
    if (!strcmp(kind, "remove")) {
        _cleanup_json_ json_t *gone = child_remove(parent, last, err);
        if (gone == NULL)
            return k8c_err_wrap(err, "error in remove for path: '%s'", path);
        return 0;
    }
    if (!strcmp(kind, "replace")) {
        if (json_is_object(parent)) {
            if (json_object_get(parent, last) == NULL)
                return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                   "replace operation does not apply: doc is missing key: %s: "
                                   "missing value",
                                   path);
            json_object_set_new(parent, last, json_deep_copy(value));
            return 0;
        }
        size_t idx;
        if (element_index(parent, last, &idx, err) < 0)
            return k8c_err_wrap(err, "replace operation does not apply: doc is missing key: %s",
                                path);
        json_array_set_new(parent, idx, json_deep_copy(value));
        return 0;
    }
    /* add, move, copy */
    json_t *v = (is_move || is_copy) ? steal_ptr(&moved) : json_deep_copy(value);
    if (child_add_take(parent, last, v, err) < 0)
        return k8c_err_wrap(err, "error in %s for path: '%s'", kind, path);
    return 0;
}

json_t *api_patch_json(const json_t *doc, const char *patch, size_t len, struct k8c_err **err)
{
    _cleanup_json_ json_t *ops = kjson_parse(patch, len, err);
    if (ops == NULL) {
        k8c_err_wrap(err, "invalid JSON patch");
        return NULL;
    }
    if (!json_is_array(ops)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "json: cannot unmarshal %s into Go value of type jsonpatch.Patch",
                    json_is_object(ops) ? "object" : "value");
        return NULL;
    }
    size_t n = json_array_size(ops);
    if (n > API_PATCH_JSON_MAX_OPS) {
        k8c_err_set(err, 0, K8C_REASON_TOO_LARGE,
                    "The allowed maximum operations in a JSON patch is %d, got %zu",
                    API_PATCH_JSON_MAX_OPS, n);
        return NULL;
    }
    _cleanup_json_ json_t *root = json_deep_copy(doc);
    for (size_t i = 0; i < n; i++)
        if (apply_op(&root, json_array_get(ops, i), i, err) < 0)
            return NULL;
    if (!json_is_object(root)) {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "the patched document is not a JSON object");
        return NULL;
    }
    return steal_ptr(&root);
}
