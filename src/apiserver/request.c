/* Request and response plumbing shared by every handler: query decoding, and answers as
 * JSON documents or Kubernetes `Status` objects with optional Warning headers. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

#define MAX_PARAMS 64

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) ('+' is a space in queries). NULL for a broken escape or a NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        out[j++] = c;
    }
    out[j] = '\0';
    return out;
}

int apiserver__query_parse(struct apiserver_req *req, const char *query, struct k8c_err **err)
{
    if (!query || !*query)
        return 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 0) {
            if (req->n_params >= MAX_PARAMS)
                return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "too many query parameters");
            const char *eq = memchr(p, '=', n);
            size_t kn = eq ? (size_t)(eq - p) : n;
            char *k = pct_decode(p, kn);
            char *v = eq ? pct_decode(eq + 1, n - kn - 1) : xstrdup("");
            if (!k || !v) {
                free(k);
                free(v);
                return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                                   "malformed percent-encoding in the query");
            }
            req->params = xrealloc(req->params, (req->n_params + 1) * sizeof(*req->params));
            req->params[req->n_params].key = k;
            req->params[req->n_params].value = v;
            req->n_params++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

void apiserver__req_clear(struct apiserver_req *req)
{
    for (size_t i = 0; i < req->n_params; i++) {
        free(req->params[i].key);
        free(req->params[i].value);
    }
    free(req->params);
    req->params = NULL;
    req->n_params = 0;
}

const char *apiserver__param(const struct apiserver_req *req, const char *key)
{
    for (size_t i = req->n_params; i > 0; i--)
        if (strcmp(req->params[i - 1].key, key) == 0)
            return req->params[i - 1].value;
    return NULL;
}

bool apiserver__param_bool(const struct apiserver_req *req, const char *key)
{
    /* Go's strconv.ParseBool, as Kubernetes parses boolean query parameters. */
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    const char *v = apiserver__param(req, key);
    for (size_t i = 0; v && i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcmp(v, yes[i]) == 0)
            return true;
    return false;
}

void apiserver_response_clear(struct apiserver_response_out *r)
{
    buf_free(&r->body);
    if (r->warnings) {
        for (char **w = r->warnings; *w; w++)
            free(*w);
        free(r->warnings);
    }
    r->warnings = NULL;
}

void apiserver__resp_json_ct(struct apiserver_resp *r, int code, const json_t *v,
                             const char *content_type)
{
    r->out.code = code;
    r->out.content_type = content_type;
    buf_reset(&r->out.body);
    kjson_dump(v, &r->out.body);
}

void apiserver__resp_json(struct apiserver_resp *r, int code, const json_t *v)
{
    apiserver__resp_json_ct(r, code, v, "application/json");
}

void apiserver__resp_text(struct apiserver_resp *r, int code, const char *content_type,
                          const char *text)
{
    r->out.code = code;
    r->out.content_type = content_type;
    buf_reset(&r->out.body);
    buf_append_str(&r->out.body, text);
}

void apiserver__resp_status(struct apiserver_resp *r, int code, const char *reason,
                            const char *message, const char *details_kind, const char *details_name,
                            json_t *causes_take)
{
    json_t *st = json_object();
    json_object_set_new(st, "kind", json_string("Status"));
    json_object_set_new(st, "apiVersion", json_string("v1"));
    json_object_set_new(st, "metadata", json_object());
    json_object_set_new(st, "status", json_string(code < 400 ? "Success" : "Failure"));
    if (message)
        json_object_set_new(st, "message", json_string(message));
    if (reason && *reason)
        json_object_set_new(st, "reason", json_string(reason));
    if (details_kind || details_name || causes_take) {
        json_t *d = json_object();
        if (details_name)
            json_object_set_new(d, "name", json_string(details_name));
        if (details_kind)
            json_object_set_new(d, "kind", json_string(details_kind));
        if (causes_take)
            json_object_set_new(d, "causes", causes_take);
        json_object_set_new(st, "details", d);
    }
    json_object_set_new(st, "code", json_integer(code));
    apiserver__resp_json(r, code, st);
    json_decref(st);
    if (code == 429 && r->out.retry_after == 0)
        r->out.retry_after = 1;
}

void apiserver__resp_err(struct apiserver_resp *r, const struct k8c_err *e)
{
    int code = k8c_reason_http_code(e->reason);
    const char *reason = k8c_reason_name(e->reason);
    if (e->reason == K8C_REASON_INTERNAL) {
        _cleanup_free_ char *t = k8c_err_text(e);
        _cleanup_free_ char *m = xasprintf("Internal error occurred: %s", t);
        apiserver__resp_status(r, code, reason, m, NULL, NULL, NULL);
        return;
    }
    apiserver__resp_status(r, code, reason, e->msg, NULL, NULL, NULL);
}

void apiserver__resp_warn(struct apiserver_resp *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *w = xvasprintf(fmt, ap);
    va_end(ap);
    r->out.warnings = xrealloc(r->out.warnings, (r->n_warnings + 2) * sizeof(char *));
    r->out.warnings[r->n_warnings++] = w;
    r->out.warnings[r->n_warnings] = NULL;
}
