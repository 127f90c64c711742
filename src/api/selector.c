/* Label selectors (see selector.h): a port of the lexer and recursive-descent parser of
 * k8s.io/apimachinery/pkg/labels/selector.go, keeping its error messages, and matching over
 * jansson label maps. Field selectors live in field_selector.c. */
#include "api/selector.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/buf.h"
#include "base/mem.h"

enum op { OP_IN, OP_NOTIN, OP_EQ, OP_DEQ, OP_NE, OP_EXISTS, OP_NOT_EXISTS, OP_GT, OP_LT };

struct requirement {
    char *key;
    enum op op;
    char **values; /* sorted, unique */
    size_t n_values;
};

struct api_label_selector {
    bool nothing; /* selects nothing (a null LabelSelector) */
    struct requirement *reqs;
    size_t n;
};

/* ---- lexer ---- */

enum tok {
    T_ERROR,
    T_END,
    T_CLOSE,
    T_COMMA,
    T_NOT,
    T_DEQ,
    T_EQ,
    T_GT,
    T_IDENT,
    T_IN,
    T_LT,
    T_NE,
    T_NOTIN,
    T_OPEN,
};

struct item {
    enum tok tok;
    char *lit;
};

struct parser {
    struct item *items;
    size_t n, pos;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static enum tok symbol_token(const char *s, size_t n)
{
    static const struct {
        const char *text;
        enum tok tok;
    } table[] = {{")", T_CLOSE}, {",", T_COMMA}, {"!", T_NOT}, {"==", T_DEQ}, {"=", T_EQ},
                 {">", T_GT},    {"<", T_LT},    {"!=", T_NE}, {"(", T_OPEN}};
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (strlen(table[i].text) == n && memcmp(table[i].text, s, n) == 0)
            return table[i].tok;
    return T_ERROR;
}

static void push(struct parser *p, enum tok tok, char *lit_take)
{
    p->items = xrealloc(p->items, (p->n + 1) * sizeof(*p->items));
    p->items[p->n].tok = tok;
    p->items[p->n].lit = lit_take;
    p->n++;
}

static void scan(struct parser *p, const char *s)
{
    size_t i = 0, len = strlen(s);
    for (;;) {
        while (i < len && is_space(s[i]))
            i++;
        if (i >= len) {
            push(p, T_END, xstrdup(""));
            return;
        }
        if (is_special(s[i])) {
            size_t start = i, end = i;
            enum tok last = T_ERROR;
            while (i < len && is_special(s[i])) {
                enum tok t = symbol_token(s + start, i - start + 1);
                if (t != T_ERROR) {
                    last = t;
                    end = i + 1;
                } else if (last != T_ERROR) {
                    break;
                }
                i++;
            }
            if (last == T_ERROR) {
                push(
                    p, T_ERROR,
                    xasprintf("error expected: keyword found '%.*s'", (int)(i - start), s + start));
                push(p, T_END, xstrdup(""));
                return;
            }
            i = end;
            push(p, last, xstrndup(s + start, end - start));
            continue;
        }
        size_t start = i;
        while (i < len && !is_space(s[i]) && !is_special(s[i]))
            i++;
        char *word = xstrndup(s + start, i - start);
        enum tok t = T_IDENT;
        if (strcmp(word, "in") == 0)
            t = T_IN;
        else if (strcmp(word, "notin") == 0)
            t = T_NOTIN;
        push(p, t, word);
    }
}

/* In value context the keywords are plain identifiers. */
static enum tok ctx_tok(const struct item *it, bool values)
{
    if (values && (it->tok == T_IN || it->tok == T_NOTIN))
        return T_IDENT;
    return it->tok;
}

static enum tok lookahead(struct parser *p, bool values, const char **lit)
{
    struct item *it = &p->items[p->pos < p->n ? p->pos : p->n - 1];
    *lit = it->lit;
    return ctx_tok(it, values);
}

static enum tok consume(struct parser *p, bool values, const char **lit)
{
    enum tok t = lookahead(p, values, lit);
    if (p->pos < p->n - 1)
        p->pos++;
    return t;
}

/* ---- string sets ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_insert(char ***values, size_t *n, const char *v)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*values)[i], v) == 0)
            return;
    *values = xrealloc(*values, (*n + 1) * sizeof(char *));
    (*values)[(*n)++] = xstrdup(v);
    qsort(*values, *n, sizeof(char *), cmp_str);
}

static void strv_free_n(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void requirement_clear(struct requirement *r)
{
    free(r->key);
    strv_free_n(r->values, r->n_values);
}

/* ---- requirements ---- */

static const char *op_text(enum op op)
{
    switch (op) {
    case OP_IN: return "in";
    case OP_NOTIN: return "notin";
    case OP_EQ: return "=";
    case OP_DEQ: return "==";
    case OP_NE: return "!=";
    case OP_EXISTS: return "exists";
    case OP_NOT_EXISTS: return "!";
    case OP_GT: return "gt";
    case OP_LT: return "lt";
    }
    return "";
}

static bool parse_int64(const char *s, int64_t *out)
{
    if (s[0] == '\0')
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\v' ||
        s[0] == '\f' || s[0] == '\r' || s[0] == '+')
        return false;
    *out = v;
    return true;
}

static void add_err(struct buf *errs, size_t *count, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_err(struct buf *errs, size_t *count, const char *fmt, ...)
{
    if (*count > 0)
        buf_append_str(errs, ", ");
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(errs, fmt, ap);
    va_end(ap);
    (*count)++;
}

static void append_strings(struct buf *b, char **values, size_t n)
{
    buf_append_str(b, "[]string{");
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *q = api__quote(values[i]);
        buf_appendf(b, "%s%s", i ? ", " : "", q);
    }
    buf_append_char(b, '}');
}

/* Kubernetes' NewRequirement checks. path is the field path prefix ("" when parsing text,
 * "matchExpressions[i]." for objects). Returns a message (caller frees) or NULL. */
static char *requirement_check(const char *path, const struct requirement *r)
{
    _cleanup_buf_ struct buf errs = BUF_INIT;
    size_t count = 0;
    _cleanup_free_ char *kerr = api__check_qualified_name(r->key);
    _cleanup_free_ char *qkey = api__quote(r->key);
    if (kerr != NULL)
        add_err(&errs, &count, "%skey: Invalid value: %s: %s", path, qkey, kerr);
    _cleanup_buf_ struct buf vals = BUF_INIT;
    append_strings(&vals, r->values, r->n_values);
    switch (r->op) {
    case OP_IN:
    case OP_NOTIN:
        if (r->n_values == 0)
            add_err(&errs, &count,
                    "%svalues: Invalid value: %s: for 'in', 'notin' operators, values set can't "
                    "be empty",
                    path, vals.data);
        break;
    case OP_EQ:
    case OP_DEQ:
    case OP_NE:
        if (r->n_values != 1)
            add_err(&errs, &count,
                    "%svalues: Invalid value: %s: exact-match compatibility requires one single "
                    "value",
                    path, vals.data);
        break;
    case OP_EXISTS:
    case OP_NOT_EXISTS:
        if (r->n_values != 0)
            add_err(&errs, &count,
                    "%svalues: Invalid value: %s: values set must be empty for exists and does "
                    "not exist",
                    path, vals.data);
        break;
    case OP_GT:
    case OP_LT:
        if (r->n_values != 1)
            add_err(&errs, &count,
                    "%svalues: Invalid value: %s: for 'Gt', 'Lt' operators, exactly one value is "
                    "required",
                    path, vals.data);
        for (size_t i = 0; i < r->n_values; i++) {
            int64_t v;
            if (!parse_int64(r->values[i], &v)) {
                _cleanup_free_ char *q = api__quote(r->values[i]);
                add_err(&errs, &count,
                        "%svalues[%zu]: Invalid value: %s: for 'Gt', 'Lt' operators, the value "
                        "must be an integer",
                        path, i, q);
            }
        }
        break;
    }
    for (size_t i = 0; i < r->n_values; i++) {
        _cleanup_free_ char *verr = api__check_label_value(r->values[i]);
        if (verr != NULL) {
            _cleanup_free_ char *q = api__quote(r->values[i]);
            add_err(&errs, &count, "%svalues[%zu][%s]: Invalid value: %s: %s", path, i, r->key, q,
                    verr);
        }
    }
    if (count == 0)
        return NULL;
    if (count == 1)
        return buf_steal(&errs);
    return xasprintf("[%s]", errs.data);
}

static void selector_add(struct api_label_selector *s, struct requirement *r_take)
{
    s->reqs = xrealloc(s->reqs, (s->n + 1) * sizeof(*s->reqs));
    /* Keep requirements sorted by key (stable), as Kubernetes' internalSelector does. */
    size_t at = s->n;
    while (at > 0 && strcmp(s->reqs[at - 1].key, r_take->key) > 0)
        at--;
    memmove(&s->reqs[at + 1], &s->reqs[at], (s->n - at) * sizeof(*s->reqs));
    s->reqs[at] = *r_take;
    s->n++;
    memset(r_take, 0, sizeof(*r_take));
}

/* ---- parser (labels.Parser) ---- */

static char *parse_values(struct parser *p, struct requirement *r)
{
    const char *lit;
    enum tok t = consume(p, true, &lit);
    if (t != T_OPEN)
        return xasprintf("found '%s' expected: '('", lit);
    t = lookahead(p, true, &lit);
    if (t == T_CLOSE) {
        consume(p, true, &lit);
        set_insert(&r->values, &r->n_values, "");
        return NULL;
    }
    if (t != T_IDENT && t != T_COMMA)
        return xasprintf("found '%s', expected: ',', ')' or identifier", lit);
    const char *open_lit = lit;
    for (;;) {
        const char *l;
        enum tok tt = consume(p, true, &l);
        if (tt == T_IDENT) {
            set_insert(&r->values, &r->n_values, l);
            const char *l2;
            enum tok t2 = lookahead(p, true, &l2);
            if (t2 == T_COMMA)
                continue;
            if (t2 == T_CLOSE)
                break;
            return xasprintf("found '%s', expected: ',' or ')'", l2);
        } else if (tt == T_COMMA) {
            if (r->n_values == 0)
                set_insert(&r->values, &r->n_values, "");
            const char *l2;
            enum tok t2 = lookahead(p, true, &l2);
            if (t2 == T_CLOSE) {
                set_insert(&r->values, &r->n_values, "");
                break;
            }
            if (t2 == T_COMMA) {
                consume(p, true, &l2);
                set_insert(&r->values, &r->n_values, "");
            }
        } else {
            return xasprintf("found '%s', expected: ',', or identifier", l);
        }
    }
    if (consume(p, true, &lit) != T_CLOSE)
        return xasprintf("found '%s', expected: ')'", open_lit);
    return NULL;
}

static char *parse_requirement(struct parser *p, struct requirement *r)
{
    const char *lit;
    bool not_exists = false;
    enum tok t = consume(p, true, &lit);
    if (t == T_NOT) {
        not_exists = true;
        t = consume(p, true, &lit);
    }
    if (t != T_IDENT)
        return xasprintf("found '%s', expected: identifier", lit);
    _cleanup_free_ char *kerr = api__check_qualified_name(lit);
    if (kerr != NULL) {
        _cleanup_free_ char *q = api__quote(lit);
        return xasprintf("<nil>: Invalid value: %s: %s", q, kerr);
    }
    r->key = xstrdup(lit);
    const char *l2;
    enum tok next = lookahead(p, true, &l2);
    if (not_exists || next == T_END || next == T_COMMA) {
        r->op = not_exists ? OP_NOT_EXISTS : OP_EXISTS;
        return requirement_check("", r);
    }
    t = consume(p, false, &lit);
    switch (t) {
    case T_IN: r->op = OP_IN; break;
    case T_NOTIN: r->op = OP_NOTIN; break;
    case T_EQ: r->op = OP_EQ; break;
    case T_DEQ: r->op = OP_DEQ; break;
    case T_NE: r->op = OP_NE; break;
    case T_GT: r->op = OP_GT; break;
    case T_LT: r->op = OP_LT; break;
    default: return xasprintf("found '%s', expected: in, notin, =, ==, !=, gt, lt", lit);
    }
    if (r->op == OP_IN || r->op == OP_NOTIN) {
        char *e = parse_values(p, r);
        if (e != NULL)
            return e;
    } else {
        enum tok v = lookahead(p, true, &lit);
        if (v == T_END || v == T_COMMA) {
            set_insert(&r->values, &r->n_values, "");
        } else {
            v = consume(p, true, &lit);
            if (v != T_IDENT)
                return xasprintf("found '%s', expected: identifier", lit);
            set_insert(&r->values, &r->n_values, lit);
        }
    }
    return requirement_check("", r);
}

static char *parse_all(struct parser *p, struct api_label_selector *s)
{
    for (;;) {
        const char *lit;
        enum tok t = lookahead(p, true, &lit);
        if (t == T_END)
            return NULL;
        if (t != T_IDENT && t != T_NOT)
            return xasprintf("found '%s', expected: !, identifier, or 'end of string'", lit);
        struct requirement r = {0};
        _cleanup_free_ char *e = parse_requirement(p, &r);
        if (e != NULL) {
            requirement_clear(&r);
            return xasprintf("unable to parse requirement: %s", e);
        }
        selector_add(s, &r);
        t = consume(p, true, &lit);
        if (t == T_END)
            return NULL;
        if (t != T_COMMA)
            return xasprintf("found '%s', expected: ',' or 'end of string'", lit);
        t = lookahead(p, true, &lit);
        if (t != T_IDENT && t != T_NOT)
            return xasprintf("found '%s', expected: identifier after ','", lit);
    }
}

struct api_label_selector *api_label_selector_parse(const char *text, struct k8c_err **err)
{
    struct api_label_selector *s = xcalloc(1, sizeof(*s));
    if (text == NULL || text[0] == '\0')
        return s;
    struct parser p = {0};
    scan(&p, text);
    _cleanup_free_ char *e = parse_all(&p, s);
    for (size_t i = 0; i < p.n; i++)
        free(p.items[i].lit);
    free(p.items);
    if (e != NULL) {
        api_label_selector_free(s);
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s", e);
        return NULL;
    }
    return s;
}

struct api_label_selector *api_label_selector_from_json(const json_t *sel, struct k8c_err **err)
{
    struct api_label_selector *s = xcalloc(1, sizeof(*s));
    if (sel == NULL || json_is_null(sel)) {
        s->nothing = true;
        return s;
    }
    if (!json_is_object(sel)) {
        api_label_selector_free(s);
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "a label selector must be an object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_t *ml = json_object_get(sel, "matchLabels");
    if (ml != NULL && !json_is_null(ml) && !json_is_object(ml))
        goto bad_shape;
    json_object_foreach (ml, key, v) {
        if (!json_is_string(v))
            goto bad_shape;
        struct requirement r = {.key = xstrdup(key), .op = OP_EQ};
        set_insert(&r.values, &r.n_values, json_string_value(v));
        _cleanup_free_ char *e = requirement_check("", &r);
        if (e != NULL) {
            requirement_clear(&r);
            api_label_selector_free(s);
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s", e);
            return NULL;
        }
        selector_add(s, &r);
    }
    json_t *me = json_object_get(sel, "matchExpressions");
    if (me != NULL && !json_is_null(me) && !json_is_array(me))
        goto bad_shape;
    size_t i;
    json_array_foreach (me, i, v) {
        const char *k = json_string_value(json_object_get(v, "key"));
        const char *op = json_string_value(json_object_get(v, "operator"));
        json_t *vals = json_object_get(v, "values");
        if (k == NULL || op == NULL ||
            (vals != NULL && !json_is_null(vals) && !json_is_array(vals)))
            goto bad_shape;
        struct requirement r = {.key = xstrdup(k)};
        if (strcmp(op, "In") == 0) {
            r.op = OP_IN;
        } else if (strcmp(op, "NotIn") == 0) {
            r.op = OP_NOTIN;
        } else if (strcmp(op, "Exists") == 0) {
            r.op = OP_EXISTS;
        } else if (strcmp(op, "DoesNotExist") == 0) {
            r.op = OP_NOT_EXISTS;
        } else {
            requirement_clear(&r);
            api_label_selector_free(s);
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "\"%s\" is not a valid label selector operator", op);
            return NULL;
        }
        size_t j;
        json_t *val;
        bool strings_only = true;
        json_array_foreach (vals, j, val) {
            if (!json_is_string(val))
                strings_only = false;
            else
                set_insert(&r.values, &r.n_values, json_string_value(val));
        }
        _cleanup_free_ char *e = strings_only ? requirement_check("", &r) : NULL;
        if (!strings_only || e != NULL) {
            requirement_clear(&r);
            api_label_selector_free(s);
            if (!strings_only)
                goto bad_shape_freed;
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s", e);
            return NULL;
        }
        selector_add(s, &r);
    }
    return s;

bad_shape:
    api_label_selector_free(s);
bad_shape_freed:
    k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                "a label selector has matchLabels (a map of strings) and matchExpressions (a "
                "list of {key, operator, values})");
    return NULL;
}

static bool has_value(const struct requirement *r, const char *v)
{
    for (size_t i = 0; i < r->n_values; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

static bool requirement_match(const struct requirement *r, const json_t *labels)
{
    json_t *jv = json_object_get(labels, r->key);
    const char *v = json_string_value(jv);
    bool has = v != NULL;
    switch (r->op) {
    case OP_IN:
    case OP_EQ:
    case OP_DEQ: return has && has_value(r, v);
    case OP_NOTIN:
    case OP_NE: return !has || !has_value(r, v);
    case OP_EXISTS: return has;
    case OP_NOT_EXISTS: return !has;
    case OP_GT:
    case OP_LT: {
        int64_t lv, rv;
        if (!has || r->n_values != 1 || !parse_int64(v, &lv) || !parse_int64(r->values[0], &rv))
            return false;
        return r->op == OP_GT ? lv > rv : lv < rv;
    }
    }
    return false;
}

bool api_label_selector_match(const struct api_label_selector *s, const json_t *labels)
{
    if (s->nothing)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (!requirement_match(&s->reqs[i], labels))
            return false;
    return true;
}

bool api_label_selector_empty(const struct api_label_selector *s)
{
    return !s->nothing && s->n == 0;
}

char *api_label_selector_string(const struct api_label_selector *s)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < s->n; i++) {
        const struct requirement *r = &s->reqs[i];
        if (i > 0)
            buf_append_char(&b, ',');
        switch (r->op) {
        case OP_EXISTS: buf_append_str(&b, r->key); break;
        case OP_NOT_EXISTS: buf_appendf(&b, "!%s", r->key); break;
        case OP_IN:
        case OP_NOTIN:
            buf_appendf(&b, "%s %s (", r->key, op_text(r->op));
            for (size_t j = 0; j < r->n_values; j++)
                buf_appendf(&b, "%s%s", j ? "," : "", r->values[j]);
            buf_append_char(&b, ')');
            break;
        case OP_GT:
        case OP_LT:
            buf_appendf(&b, "%s%s%s", r->key, r->op == OP_GT ? ">" : "<",
                        r->n_values ? r->values[0] : "");
            break;
        default: buf_appendf(&b, "%s%s%s", r->key, op_text(r->op), r->n_values ? r->values[0] : "");
        }
    }
    return buf_steal(&b);
}

char *api_label_selector_json_format(const json_t *selector)
{
    struct api_label_selector *s = api_label_selector_from_json(selector, NULL);
    if (s == NULL)
        return xstrdup("<error>");
    char *text = api_label_selector_string(s);
    api_label_selector_free(s);
    if (text[0] == '\0') {
        free(text);
        return xstrdup("<none>");
    }
    return text;
}

void api_label_selector_free(struct api_label_selector *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        requirement_clear(&s->reqs[i]);
    free(s->reqs);
    free(s);
}

void api_label_selector_freep(struct api_label_selector **s)
{
    api_label_selector_free(*s);
    *s = NULL;
}
