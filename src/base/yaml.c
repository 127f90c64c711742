/* YAML -> JSON over libyaml's event parser (see yaml.h).
 *
 * The event API (not libyaml's document loader) is used so that nesting depth and alias
 * expansion are bounded while parsing, before any memory is spent on a hostile document. */
#include "base/yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"

#define DEFAULT_MAX_NODES 1000000
#define DEFAULT_MAX_DEPTH 1000

struct frame {
    json_t *container;  /* object or array being filled */
    char *pending_key;  /* mapping: key read, value not yet */
    bool pending_merge; /* mapping: the pending key is a `<<` merge key */
    json_t *merges;     /* mapping: sources of `<<`, applied at the end (explicit keys win) */
    char *anchor;       /* anchor of this collection, registered when it closes */
    size_t path_len;    /* length of the path buffer when the collection opened */
    size_t first_node;  /* node counter when it opened, to size the anchor */
};

struct anchor {
    char *name;
    json_t *value;
    size_t nodes; /* how many nodes an alias to it expands to */
};

struct loader {
    const struct kyaml_options *opts;
    size_t max_nodes, max_depth;
    struct frame *frames;
    size_t depth, frames_cap;
    struct anchor *anchors;
    size_t n_anchors;
    size_t nodes;
    struct buf path;
    json_t *doc_root;
    bool doc_has_root;
    const yaml_event_t *event; /* for error positions */
    struct k8c_err **err;
};

static int fail_at(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_at(struct loader *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    if (l->event != NULL)
        return k8c_err_set(l->err, 0, K8C_REASON_BAD_REQUEST,
                           "invalid YAML at line %zu, column %zu: %s",
                           l->event->start_mark.line + 1, l->event->start_mark.column + 1, msg);
    return k8c_err_set(l->err, 0, K8C_REASON_BAD_REQUEST, "invalid YAML: %s", msg);
}

/* ---- scalar resolution (YAML 1.1, as gopkg.in/yaml.v2 resolves plain scalars) ---- */

static bool text_in(const char *s, const char *const *set)
{
    for (; *set != NULL; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const special_floats[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                             "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                             ".NaN",  ".NAN",  NULL};

/* Copies s without underscores (YAML 1.1 digit separators) into out (size >= strlen+1). */
static void strip_underscores(const char *s, char *out)
{
    for (; *s; s++)
        if (*s != '_')
            *out++ = *s;
    *out = '\0';
}

static bool all_digits_in_base(const char *s, int base)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        int c = (unsigned char)*s;
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : 99;
        if (v >= base)
            return false;
    }
    return true;
}

/* An integer in Go's base-0 syntax: 0x.., 0o.., 0b.., 0.. (octal), decimal; sign allowed.
 * Returns true and sets *negative, *magnitude_text, *base. */
static bool int_syntax(const char *s, bool *negative, const char **digits, int *base)
{
    *negative = false;
    if (*s == '+' || *s == '-') {
        *negative = *s == '-';
        s++;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        *base = 16, s += 2;
    else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        *base = 8, s += 2;
    else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        *base = 2, s += 2;
    else if (s[0] == '0' && s[1] != '\0')
        *base = 8, s += 1;
    else
        *base = 10;
    *digits = s;
    return all_digits_in_base(s, *base);
}

static bool float_syntax(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    size_t int_digits = strspn(s, "0123456789");
    s += int_digits;
    size_t frac_digits = 0;
    if (*s == '.') {
        s++;
        frac_digits = strspn(s, "0123456789");
        s += frac_digits;
    }
    if (int_digits + frac_digits == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        size_t exp_digits = strspn(s, "0123456789");
        if (exp_digits == 0)
            return false;
        s += exp_digits;
    }
    return *s == '\0';
}

static json_t *number_from_double(double d)
{
    /* Go's encoding/json writes integral floats without a fraction; keep them integers when
     * they fit, so `replicas: 3.0` reads as 3. */
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return json_integer((json_int_t)d);
    return json_real(d);
}

/* Resolves a plain scalar. Returns a new reference, or NULL with *is_error when it is a value
 * JSON cannot hold (.inf, .nan). A NULL without error means "a string". */
static json_t *resolve_plain(const char *text, bool *is_error)
{
    *is_error = false;
    if (text_in(text, null_words))
        return json_null();
    if (text_in(text, true_words))
        return json_true();
    if (text_in(text, false_words))
        return json_false();
    if (text_in(text, special_floats)) {
        *is_error = true;
        return NULL;
    }
    char c = text[0];
    if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
        return NULL;

    size_t n = strlen(text);
    _cleanup_free_ char *plain = xmalloc(n + 1);
    strip_underscores(text, plain);

    bool negative;
    const char *digits;
    int base;
    if (int_syntax(plain, &negative, &digits, &base)) {
        errno = 0;
        char *end;
        unsigned long long mag = strtoull(digits, &end, base);
        if (errno == 0 && *end == '\0') {
            if (!negative && mag <= INT64_MAX)
                return json_integer((json_int_t)mag);
            if (negative && mag <= (unsigned long long)INT64_MAX + 1)
                return json_integer(mag == (unsigned long long)INT64_MAX + 1 ? INT64_MIN
                                                                             : -(json_int_t)mag);
        }
        /* Too large for int64: yaml.v2 then reads decimal text as a float; hex, octal and
         * binary text that overflows stays a string. */
        if (float_syntax(plain))
            return number_from_double(strtod(plain, NULL));
        return NULL;
    }
    if (float_syntax(plain))
        return number_from_double(strtod(plain, NULL));
    return NULL;
}

/* ---- tree building ---- */

static void path_push_key(struct buf *path, const char *key)
{
    if (path->len > 0)
        buf_append_char(path, '.');
    buf_append_str(path, key);
}

static void path_truncate(struct buf *path, size_t len)
{
    path->len = len;
    if (path->data)
        path->data[len] = '\0';
}

static int count_nodes(struct loader *l, size_t n)
{
    l->nodes += n;
    if (l->nodes > l->max_nodes)
        return fail_at(l,
                       "document is too large or contains excessive aliasing (over %zu "
                       "nodes)",
                       l->max_nodes);
    return 0;
}

/* The path buffer while a value is placed: for a mapping value, ".key" is pushed;
 * for a sequence item, "[]". Returns the length to restore. */
static size_t path_enter_value(struct loader *l)
{
    size_t len = l->path.len;
    if (l->depth == 0)
        return len;
    struct frame *f = &l->frames[l->depth - 1];
    if (json_is_array(f->container))
        buf_append_str(&l->path, "[]");
    else if (f->pending_key != NULL && !f->pending_merge)
        path_push_key(&l->path, f->pending_key);
    return len;
}

/* Places a finished value (takes the reference) into the open collection or the document. */
static int place_value(struct loader *l, json_t *value)
{
    if (l->depth == 0) {
        json_decref(l->doc_root);
        l->doc_root = value;
        l->doc_has_root = true;
        return 0;
    }
    struct frame *f = &l->frames[l->depth - 1];
    if (json_is_array(f->container)) {
        json_array_append_new(f->container, value);
        return 0;
    }
    if (f->pending_key == NULL) {
        /* This value is a key. Only scalars make JSON keys. */
        if (json_is_object(value) || json_is_array(value)) {
            json_decref(value);
            return fail_at(l, "a mapping key must be a scalar, not a collection");
        }
        json_decref(value);
        return fail_at(l, "internal: key not taken as text");
    }
    _cleanup_free_ char *key = steal_ptr(&f->pending_key);
    if (f->pending_merge) {
        f->pending_merge = false;
        if (json_is_object(value)) {
            json_array_append_new(f->merges, value);
            return 0;
        }
        if (json_is_array(value)) {
            size_t i;
            json_t *item;
            json_array_foreach (value, i, item) {
                if (!json_is_object(item)) {
                    json_decref(value);
                    return fail_at(l, "map merge requires map or sequence of maps as the value");
                }
                json_array_append(f->merges, item);
            }
            json_decref(value);
            return 0;
        }
        json_decref(value);
        return fail_at(l, "map merge requires map or sequence of maps as the value");
    }
    if (json_object_get(f->container, key) != NULL) {
        json_decref(value);
        return fail_at(l, "mapping key \"%s\" already defined", key);
    }
    json_object_set_new(f->container, key, value);
    return 0;
}

static int register_anchor(struct loader *l, const char *name, json_t *value, size_t nodes)
{
    for (size_t i = 0; i < l->n_anchors; i++) {
        if (strcmp(l->anchors[i].name, name) == 0) { /* YAML lets a later anchor shadow */
            json_decref(l->anchors[i].value);
            l->anchors[i].value = json_incref(value);
            l->anchors[i].nodes = nodes;
            return 0;
        }
    }
    l->anchors = xrealloc(l->anchors, (l->n_anchors + 1) * sizeof(*l->anchors));
    l->anchors[l->n_anchors++] = (struct anchor){xstrdup(name), json_incref(value), nodes};
    return 0;
}

static json_t *scalar_value(struct loader *l, const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    bool is_error = false;

    if (tag != NULL && strncmp(tag, "tag:yaml.org,2002:", 18) == 0) {
        const char *t = tag + 18;
        if (strcmp(t, "str") == 0 || strcmp(t, "binary") == 0 || strcmp(t, "timestamp") == 0)
            return json_string(text);
        json_t *v = resolve_plain(text, &is_error);
        bool ok = v != NULL && ((strcmp(t, "int") == 0 && json_is_integer(v)) ||
                                (strcmp(t, "float") == 0 && json_is_number(v)) ||
                                (strcmp(t, "bool") == 0 && json_is_boolean(v)) ||
                                (strcmp(t, "null") == 0 && json_is_null(v)));
        if (!ok) {
            json_decref(v);
            fail_at(l, "cannot decode \"%s\" as !!%s", text, t);
            return NULL;
        }
        return v;
    }
    if (!plain || (tag != NULL && strcmp(tag, "!") == 0))
        return json_string(text);

    json_t *v = resolve_plain(text, &is_error);
    if (is_error) {
        fail_at(l, "unsupported value %s: JSON has no infinity or NaN", text);
        return NULL;
    }
    if (v == NULL)
        return json_string(text);
    if (l->opts != NULL && l->opts->string_field != NULL) {
        size_t restore = path_enter_value(l);
        bool keep_string = l->opts->string_field(l->path.data ? l->path.data : "", l->opts->opaque);
        path_truncate(&l->path, restore);
        if (keep_string) {
            json_decref(v);
            return json_string(text);
        }
    }
    return v;
}

static int on_scalar(struct loader *l, const yaml_event_t *ev)
{
    if (count_nodes(l, 1) < 0)
        return -1;
    struct frame *f = l->depth > 0 ? &l->frames[l->depth - 1] : NULL;
    if (f != NULL && json_is_object(f->container) && f->pending_key == NULL) {
        /* A mapping key: JSON keys are strings, so a key's text is taken as it is written
         * (`1: a` gives "1", `true: x` gives "true"). */
        const char *text = (const char *)ev->data.scalar.value;
        f->pending_merge =
            ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(text, "<<") == 0;
        f->pending_key = xstrdup(text);
        if (ev->data.scalar.anchor != NULL) {
            _cleanup_json_ json_t *s = json_string(text);
            register_anchor(l, (const char *)ev->data.scalar.anchor, s, 1);
        }
        return 0;
    }
    json_t *v = scalar_value(l, ev);
    if (v == NULL)
        return -1;
    if (ev->data.scalar.anchor != NULL)
        register_anchor(l, (const char *)ev->data.scalar.anchor, v, 1);
    return place_value(l, v);
}

static int on_alias(struct loader *l, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    for (size_t i = l->n_anchors; i-- > 0;) {
        if (strcmp(l->anchors[i].name, name) != 0)
            continue;
        if (count_nodes(l, l->anchors[i].nodes) < 0)
            return -1;
        struct frame *f = l->depth > 0 ? &l->frames[l->depth - 1] : NULL;
        if (f != NULL && json_is_object(f->container) && f->pending_key == NULL) {
            if (!json_is_string(l->anchors[i].value))
                return fail_at(l, "a mapping key must be a scalar, not a collection");
            f->pending_key = xstrdup(json_string_value(l->anchors[i].value));
            f->pending_merge = false;
            return 0;
        }
        /* A deep copy, so that callers may edit one use without changing the others. */
        return place_value(l, json_deep_copy(l->anchors[i].value));
    }
    return fail_at(l, "unknown anchor '%s' referenced", name);
}

static int open_collection(struct loader *l, json_t *container, const yaml_char_t *anchor)
{
    if (count_nodes(l, 1) < 0) {
        json_decref(container);
        return -1;
    }
    if (l->depth >= l->max_depth) {
        json_decref(container);
        return fail_at(l, "nesting deeper than %zu levels", l->max_depth);
    }
    struct frame *parent = l->depth > 0 ? &l->frames[l->depth - 1] : NULL;
    if (parent != NULL && json_is_object(parent->container) && parent->pending_key == NULL) {
        json_decref(container);
        return fail_at(l, "a mapping key must be a scalar, not a collection");
    }
    size_t path_len = path_enter_value(l);
    if (l->depth == l->frames_cap) {
        l->frames_cap = l->frames_cap ? l->frames_cap * 2 : 16;
        l->frames = xrealloc(l->frames, l->frames_cap * sizeof(*l->frames));
    }
    l->frames[l->depth++] = (struct frame){
        .container = container,
        .merges = json_is_object(container) ? json_array() : NULL,
        .anchor = anchor ? xstrdup((const char *)anchor) : NULL,
        .path_len = path_len,
        .first_node = l->nodes,
    };
    return 0;
}

static void frame_release(struct frame *f)
{
    json_decref(f->container);
    json_decref(f->merges);
    free(f->pending_key);
    free(f->anchor);
}

static int close_collection(struct loader *l)
{
    K8C_ASSERT(l->depth > 0);
    struct frame f = l->frames[--l->depth];
    path_truncate(&l->path, f.path_len);
    if (f.merges != NULL) {
        size_t i;
        json_t *src;
        json_array_foreach (f.merges, i, src) {
            const char *key;
            json_t *val;
            json_object_foreach (src, key, val) {
                if (json_object_get(f.container, key) == NULL)
                    json_object_set_new(f.container, key, json_deep_copy(val));
            }
        }
    }
    json_t *container = json_incref(f.container);
    if (f.anchor != NULL)
        register_anchor(l, f.anchor, container, l->nodes - f.first_node);
    frame_release(&f);
    return place_value(l, container);
}

static void loader_reset_document(struct loader *l)
{
    while (l->depth > 0)
        frame_release(&l->frames[--l->depth]);
    for (size_t i = 0; i < l->n_anchors; i++) {
        free(l->anchors[i].name);
        json_decref(l->anchors[i].value);
    }
    l->n_anchors = 0;
    json_decref(l->doc_root);
    l->doc_root = NULL;
    l->doc_has_root = false;
    path_truncate(&l->path, 0);
}

json_t *kyaml_load_all(const char *data, size_t len, const struct kyaml_options *opts,
                       struct k8c_err **err)
{
    struct loader l = {
        .opts = opts,
        .max_nodes = opts && opts->max_nodes ? opts->max_nodes : DEFAULT_MAX_NODES,
        .max_depth = opts && opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH,
        .path = BUF_INIT,
        .err = err,
    };
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        k8c_panic(__FILE__, __LINE__, "out of memory initializing the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);

    json_t *docs = json_array();
    int rc = 0;
    for (bool done = false; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const char *ctx = parser.context ? parser.context : "";
            rc = k8c_err_set(
                err, 0, K8C_REASON_BAD_REQUEST, "invalid YAML at line %zu, column %zu: %s%s%s",
                parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                parser.problem ? parser.problem : "syntax error", *ctx ? " " : "", ctx);
            break;
        }
        l.event = &ev;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT: loader_reset_document(&l); break;
        case YAML_DOCUMENT_END_EVENT:
            if (l.doc_has_root && !json_is_null(l.doc_root))
                json_array_append(docs, l.doc_root);
            loader_reset_document(&l);
            break;
        case YAML_SCALAR_EVENT: rc = on_scalar(&l, &ev); break;
        case YAML_ALIAS_EVENT: rc = on_alias(&l, &ev); break;
        case YAML_SEQUENCE_START_EVENT:
            rc = open_collection(&l, json_array(), ev.data.sequence_start.anchor);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = open_collection(&l, json_object(), ev.data.mapping_start.anchor);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: rc = close_collection(&l); break;
        default: break;
        }
        l.event = NULL;
        yaml_event_delete(&ev);
    }
    loader_reset_document(&l);
    free(l.frames);
    free(l.anchors);
    buf_free(&l.path);
    yaml_parser_delete(&parser);
    if (rc < 0) {
        json_decref(docs);
        return NULL;
    }
    return docs;
}

json_t *kyaml_load_one(const char *data, size_t len, const struct kyaml_options *opts,
                       struct k8c_err **err)
{
    _cleanup_json_ json_t *docs = kyaml_load_all(data, len, opts, err);
    if (docs == NULL)
        return NULL;
    if (json_array_size(docs) != 1) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "expected exactly one YAML document, found %zu",
                    json_array_size(docs));
        return NULL;
    }
    return json_incref(json_array_get(docs, 0));
}
