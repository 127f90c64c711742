/* LIST: one consistent revision, label and field selectors, limit/continue paging with
 * Kubernetes-shaped continue tokens, resourceVersion/resourceVersionMatch, and Table output. */
#include <gnutls/gnutls.h>
#include <string.h>

#include "api/selector.h"
#include "api/status.h"
#include "api/table.h"
#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

#define CT_TABLE "application/json;as=Table;v=v1;g=meta.k8s.io"
#define MAX_TOKEN 4096
#define LIST_PAGE 500 /* store rows read per page */

char *apiserver__continue_encode(int64_t rev, const char *start_key)
{
    json_t *t = json_pack("{s:s, s:I, s:s}", "v", "meta.k8s.io/v1", "rv", (json_int_t)rev, "start",
                          start_key);
    _cleanup_free_ char *raw = kjson_dumps(t);
    json_decref(t);
    gnutls_datum_t in = {(unsigned char *)raw, (unsigned)strlen(raw)};
    gnutls_datum_t out = {NULL, 0};
    if (gnutls_base64_encode2(&in, &out) < 0)
        return xstrdup("");
    char *s = xstrndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    /* URL-safe alphabet without padding, as Kubernetes' base64.RawURLEncoding. */
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+')
            s[i] = '-';
        else if (s[i] == '/')
            s[i] = '_';
    }
    while (n > 0 && s[n - 1] == '=')
        s[--n] = '\0';
    return s;
}

int apiserver__continue_decode(const char *token, const char *prefix, int64_t *rev,
                               char **start_key, struct k8c_err **err)
{
    size_t n = strlen(token);
    if (n == 0 || n > MAX_TOKEN)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "continue key is not valid");
    _cleanup_free_ char *b = xmalloc(n + 4);
    for (size_t i = 0; i < n; i++) {
        char c = token[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        b[i] = c;
    }
    while (n % 4)
        b[n++] = '=';
    b[n] = '\0';
    gnutls_datum_t in = {(unsigned char *)b, (unsigned)n};
    gnutls_datum_t out = {NULL, 0};
    if (gnutls_base64_decode2(&in, &out) < 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "continue key is not valid: illegal base64 data");
    _cleanup_err_ struct k8c_err *pe = NULL;
    _cleanup_json_ json_t *t = kjson_parse((const char *)out.data, out.size, &pe);
    gnutls_free(out.data);
    const char *v = kjson_path_str(t, "v");
    json_t *r = json_object_get(t, "rv");
    const char *start = kjson_path_str(t, "start");
    if (!t || !v || strcmp(v, "meta.k8s.io/v1") != 0 || !json_is_integer(r) ||
        json_integer_value(r) <= 0 || !start)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "continue key is not valid: incorrect encoded start "
                           "resourceVersion (version meta.k8s.io/v1)");
    if (strncmp(start, prefix, strlen(prefix)) != 0 || strstr(start + strlen(prefix), ".."))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "continue key is not valid: the key does not belong to this list");
    *rev = json_integer_value(r);
    *start_key = xstrdup(start);
    return 0;
}

static int parse_limit(const char *s, size_t *limit, struct k8c_err **err)
{
    *limit = 0;
    if (!s || !*s)
        return 0;
    int64_t v = 0;
    if (*s == '-') {
        return 0; /* Kubernetes treats a negative limit as no limit */
    }
    if (apiserver__parse_rv(s, &v, NULL) < 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "limit must be an integer, got \"%s\"",
                           s);
    *limit = (size_t)v;
    return 0;
}

void apiserver__serve_list(struct apiserver_core *core, const struct apiserver_req *req,
                           const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    _cleanup_err_ struct k8c_err *e = NULL;
    if (!(k->verbs & API_VERB_LIST)) {
        apiserver__resp_status(resp, 405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               NULL, NULL, NULL);
        return;
    }
    enum apiserver_out_format fmt = apiserver__negotiate(req->accept, true, false);
    size_t limit = 0;
    int64_t rv = 0;
    const char *rvs = apiserver__param(req, "resourceVersion");
    const char *match = apiserver__param(req, "resourceVersionMatch");
    const char *cont = apiserver__param(req, "continue");
    if (parse_limit(apiserver__param(req, "limit"), &limit, &e) < 0 ||
        apiserver__parse_rv(rvs, &rv, &e) < 0) {
        apiserver__resp_err(resp, e);
        return;
    }
    if (match && strcmp(match, "Exact") != 0 && strcmp(match, "NotOlderThan") != 0) {
        _cleanup_free_ char *m = xasprintf("resourceVersionMatch: Unsupported value: \"%s\": "
                                           "supported values: \"Exact\", \"NotOlderThan\"",
                                           match);
        apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
        return;
    }
    if (match && (!rvs || !*rvs)) {
        apiserver__resp_status(resp, 400, "BadRequest",
                               "resourceVersionMatch is forbidden unless resourceVersion is "
                               "provided",
                               NULL, NULL, NULL);
        return;
    }
    if (cont && *cont && rvs && *rvs && strcmp(rvs, "0") != 0) {
        apiserver__resp_status(resp, 400, "BadRequest",
                               "specifying resource version is not allowed when using continue",
                               NULL, NULL, NULL);
        return;
    }
    struct api_label_selector *ls = NULL;
    struct api_field_selector *fs = NULL;
    const char *l = apiserver__param(req, "labelSelector");
    const char *f = apiserver__param(req, "fieldSelector");
    if (l && *l && !(ls = api_label_selector_parse(l, &e))) {
        apiserver__resp_err(resp, e);
        return;
    }
    if (f && *f && !(fs = api_field_selector_parse(k, f, &e))) {
        api_label_selector_free(ls);
        apiserver__resp_err(resp, e);
        return;
    }
    _cleanup_free_ char *prefix = api_kind_storage_key(k, route->ns, NULL);
    _cleanup_free_ char *start = NULL;
    int64_t at = 0; /* 0: the current revision */
    if (cont && *cont) {
        if (apiserver__continue_decode(cont, prefix, &at, &start, &e) < 0)
            goto fail;
    } else if (rv > 0) {
        /* Exact, or the legacy meaning of a resourceVersion with a limit: that revision.
         * NotOlderThan (or none): the current state, which is never older. */
        if ((match && strcmp(match, "Exact") == 0) || (!match && limit > 0))
            at = rv;
        else if (rv > store_revision(core->store)) {
            k8c_err_set(&e, 0, K8C_REASON_TIMEOUT,
                        "Too large resource version: %lld, current: %lld", (long long)rv,
                        (long long)store_revision(core->store));
            goto fail;
        }
    }
    /* JSON lists are encoded item by item (a jansson tree of 10,000 pods would cost ten
     * times their text); Tables need the objects together. */
    const bool table = fmt == APISERVER_OUT_TABLE;
    json_t *items = table ? json_array() : NULL;
    struct buf enc = BUF_INIT;
    size_t count = 0;
    int64_t served = 0;
    bool more = false;
    int64_t remaining = 0;
    char *next_key = NULL;
    /* Fill up to limit matching items, reading pages of the store at one revision. */
    for (;;) {
        struct store_list page = {0};
        size_t want = limit ? limit - count + 1 : LIST_PAGE;
        if (want < 64)
            want = 64;
        if (want > LIST_PAGE)
            want = LIST_PAGE;
        uint64_t t0 = clock_mono_ns();
        int rc = store_list(core->store, prefix, at, start, want, &page, &e);
        apiserver__metrics_store(core->metrics, "list", clock_mono_ns() - t0);
        if (rc < 0) {
            json_decref(items);
            buf_free(&enc);
            free(next_key);
            if (e->reason == K8C_REASON_GONE && cont && *cont) {
                k8c_err_set(&e, 0, K8C_REASON_GONE,
                            "The provided continue parameter is too old to display a consistent "
                            "list result. You can start a new list without the continue "
                            "parameter, or use the continue token in this response to retrieve "
                            "the remainder of the results. Continuing with the provided token "
                            "results in an inconsistent list - objects that were created, "
                            "modified, or deleted between the time the first chunk was returned "
                            "and now may show up in the list.");
            } else if (e->reason == K8C_REASON_GONE) {
                _cleanup_json_ json_t *st =
                    api_status_expired(at, store_compacted_revision(core->store));
                apiserver__resp_json(resp, 410, st);
                goto done;
            }
            goto fail;
        }
        served = page.revision;
        at = page.revision;
        size_t i = 0;
        for (; i < page.n_items; i++) {
            if (limit && count >= limit) {
                more = true;
                break;
            }
            struct store_kv *kv = &page.items[i];
            _cleanup_err_ struct k8c_err *de = NULL;
            json_t *obj =
                apiserver__object_decode_stored(k, kv->value, kv->value_len, kv->mod_revision, &de);
            if (!obj)
                continue; /* not JSON: nothing a client could use */
            if ((ls && !api_label_selector_match(ls, kjson_path(obj, "metadata.labels"))) ||
                (fs && !api_field_selector_match(fs, obj))) {
                json_decref(obj);
                continue;
            }
            count++;
            if (table) {
                json_array_append_new(items, obj);
            } else {
                if (enc.len)
                    buf_append_char(&enc, ',');
                kjson_dump(obj, &enc);
                json_decref(obj);
            }
        }
        if (more) {
            free(next_key);
            next_key = xstrdup(page.items[i].key);
            if (!ls && !fs)
                remaining = (int64_t)(page.n_items - i) + (page.more ? page.remaining : 0);
            store_list_clear(&page);
            break;
        }
        if (!page.more || page.n_items == 0) {
            store_list_clear(&page);
            break;
        }
        /* Continue after the last key of this page. */
        free(start);
        size_t kl = strlen(page.items[page.n_items - 1].key);
        start = xmalloc(kl + 2);
        memcpy(start, page.items[page.n_items - 1].key, kl);
        start[kl] = '\0';
        start[kl + 1] = '\0';
        /* The smallest key greater than the last one: append "\0" is impossible in C strings,
         * so append the lowest printable byte. */
        start[kl] = '\x01';
        store_list_clear(&page);
    }
    char rvbuf[24];
    snprintf(rvbuf, sizeof(rvbuf), "%lld", (long long)served);
    json_t *md = json_pack("{s:s}", "resourceVersion", rvbuf);
    if (more && next_key) {
        _cleanup_free_ char *tok = apiserver__continue_encode(served, next_key);
        json_object_set_new(md, "continue", json_string(tok));
        if (remaining > 0)
            json_object_set_new(md, "remainingItemCount", json_integer(remaining));
    }
    free(next_key);
    if (table) {
        const char *io = apiserver__param(req, "includeObject");
        json_t *t = api_table_build(k, items, rvbuf, io && strcmp(io, "Object") == 0);
        json_t *tmd = json_object_get(t, "metadata");
        if (json_is_object(tmd))
            json_object_update(tmd, md);
        apiserver__resp_json_ct(resp, 200, t, CT_TABLE);
        json_decref(t);
        json_decref(md);
        json_decref(items);
        goto done;
    }
    resp->out.code = 200;
    resp->out.content_type = "application/json";
    buf_reset(&resp->out.body);
    buf_reserve(&resp->out.body, enc.len + 256);
    buf_appendf(&resp->out.body,
                "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":", k->list_kind,
                k->api_version);
    kjson_dump(md, &resp->out.body);
    buf_append_str(&resp->out.body, ",\"items\":[");
    if (enc.len)
        buf_append(&resp->out.body, enc.data, enc.len);
    buf_append_str(&resp->out.body, "]}");
    buf_free(&enc);
    json_decref(md);
    goto done;
fail:
    apiserver__resp_err(resp, e);
done:
    api_label_selector_free(ls);
    api_field_selector_free(fs);
}
