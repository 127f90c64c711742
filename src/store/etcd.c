/* The etcd backend: store.h on a real etcd v3 cluster through its gRPC-gateway JSON API (the
 * watch stream, in etcd_watch.c, through the native gRPC Watch RPC).
 *
 * URL: etcd://HOST:PORT[,HOST:PORT...][/PREFIX][?cacert=FILE&cert=FILE&key=FILE]
 *   - several endpoints: a call goes to the one that answered last and moves on to the next
 *     when it cannot connect (a request that reached a member is never re-sent: a write
 *     could otherwise be applied twice);
 *   - PREFIX (default none): every key is stored under it, so several clusters can share
 *     one etcd;
 *   - cacert/cert/key: TLS (https) with the given CA and client certificate.
 * Revisions are etcd's own (resourceVersion = etcd revision). Guarded writes are etcd
 * transactions comparing create_revision (create) or mod_revision (update, delete). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/curlinit.h"
#include "base/codec.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "store/etcd_internal.h"

/* ---- small JSON helpers ---- */

int64_t store__etcd_i64(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

char *store__etcd_b64(const json_t *obj, const char *name, size_t *len, struct k8c_err **err)
{
    json_t *v = json_object_get(obj, name);
    size_t n = 0;
    char *out;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        out = xstrdup("");
    } else {
        out = codec_base64_decode(json_string_value(v), json_string_length(v), &n, err);
        if (out == NULL)
            return NULL;
    }
    if (len)
        *len = n;
    return out;
}

static json_t *b64(const void *data, size_t len)
{
    _cleanup_free_ char *text = codec_base64_encode(data, len);
    return json_string(text);
}

static json_t *i64(int64_t v)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", (long long)v);
    return json_string(text);
}

/* The etcd key of a store key. Caller frees. */
static char *full_key(struct etcd_backend *b, const char *key)
{
    return xasprintf("%s%s", b->prefix, key);
}

/* ---- HTTP ---- */

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    buf_append(arg, data, size * n);
    return size * n;
}

void store__etcd_curl_setup(struct etcd_backend *b, CURL *h, const char *url)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    /* Members are dialled directly, never through a proxy from the environment (as
     * kube-apiserver's etcd client, which dials with its own dialer): an HTTP proxy could not
     * carry the watch's HTTP/2 without TLS anyway, and libcurl no longer reads the proxy
     * variables on every call. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    if (b->cacert) {
        curl_easy_setopt(h, CURLOPT_CAINFO, b->cacert);
        /* Only this CA: libcurl's GnuTLS flavour would also parse all of /etc/ssl/certs. */
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    if (b->cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, b->cert);
    if (b->key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, b->key);
}

static CURL *pool_take(struct etcd_backend *b)
{
    pthread_mutex_lock(&b->pool_lock);
    CURL *h = b->pool_len > 0 ? b->pool[--b->pool_len] : NULL;
    pthread_mutex_unlock(&b->pool_lock);
    return h ? h : curl_easy_init();
}

static void pool_give(struct etcd_backend *b, CURL *h)
{
    pthread_mutex_lock(&b->pool_lock);
    if (b->pool_len < ETCD_POOL_MAX) {
        b->pool[b->pool_len++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&b->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* Maps an etcd error answer ({"error","code","message"}) to a reason. */
static int etcd_error(const char *endpoint, long status, const char *body, struct k8c_err **err)
{
    _cleanup_json_ json_t *j = json_loads(body, 0, NULL);
    const char *msg = j ? kjson_path_str(j, "message") : NULL;
    if (msg == NULL && j)
        msg = kjson_path_str(j, "error");
    if (msg == NULL)
        msg = body;
    int code = j ? (int)json_integer_value(json_object_get(j, "code")) : 0;
    enum k8c_reason reason = K8C_REASON_INTERNAL;
    if (strstr(msg, "required revision has been compacted"))
        reason = K8C_REASON_GONE;
    else if (strstr(msg, "required revision is a future revision"))
        reason = K8C_REASON_TIMEOUT;
    else if (code == 14 || strstr(msg, "no leader") || strstr(msg, "timed out") ||
             strstr(msg, "stopped"))
        reason = K8C_REASON_SERVICE_UNAVAILABLE;
    else if (strstr(msg, "too large"))
        reason = K8C_REASON_TOO_LARGE;
    return k8c_err_set(err, 0, reason, "etcd %s: %s (HTTP %ld)", endpoint, msg, status);
}

static json_t *call_text(struct etcd_backend *b, const char *path, const char *body,
                         size_t body_len, struct k8c_err **err);

json_t *store__etcd_call(struct etcd_backend *b, const char *path, json_t *req,
                         struct k8c_err **err)
{
    _cleanup_free_ char *body = kjson_dumps(req);
    return call_text(b, path, body, strlen(body), err);
}

/* store__etcd_call with the request's JSON text. */
static json_t *call_text(struct etcd_backend *b, const char *path, const char *body,
                         size_t body_len, struct k8c_err **err)
{
    size_t first = atomic_load(&b->current);
    _cleanup_buf_ struct buf failures = BUF_INIT;
    for (size_t i = 0; i < b->n_endpoints; i++) {
        size_t idx = (first + i) % b->n_endpoints;
        const char *ep = b->endpoints[idx];
        _cleanup_free_ char *url = xasprintf("%s/v3/%s", ep, path);
        _cleanup_buf_ struct buf out = BUF_INIT;
        CURL *h = pool_take(b);
        store__etcd_curl_setup(b, h, url);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK) {
            curl_easy_cleanup(h);
            if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
                /* Nothing was sent: safe to try the next member. */
                buf_appendf(&failures, "%s%s: %s", failures.len ? "; " : "", ep,
                            curl_easy_strerror(rc));
                continue;
            }
            k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "etcd %s: %s", ep,
                        curl_easy_strerror(rc));
            return NULL;
        }
        pool_give(b, h);
        if (idx != first)
            atomic_store(&b->current, idx);
        if (status != 200) {
            etcd_error(ep, status, out.data ? out.data : "", err);
            return NULL;
        }
        json_t *j = kjson_parse(out.data ? out.data : "", out.len, err);
        if (j == NULL) {
            k8c_err_wrap(err, "etcd %s: bad answer to %s", ep, path);
            if (err && *err)
                (*err)->reason = K8C_REASON_INTERNAL;
        }
        return j;
    }
    k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "no etcd endpoint can be reached (%s)",
                failures.data ? failures.data : "");
    return NULL;
}

/* ---- URL ---- */

static int parse_location(struct etcd_backend *b, const char *location, struct k8c_err **err)
{
    _cleanup_free_ char *loc = xstrdup(location);
    char *query = strchr(loc, '?');
    if (query)
        *query++ = '\0';
    char *slash = strchr(loc, '/');
    if (slash) {
        size_t n = strlen(slash);
        while (n > 1 && slash[n - 1] == '/')
            slash[--n] = '\0';
        b->prefix = xstrdup(strcmp(slash, "/") == 0 ? "" : slash);
        *slash = '\0';
    } else {
        b->prefix = xstrdup("");
    }
    b->prefix_len = strlen(b->prefix);
    for (char *q = query, *tok; q && (tok = strsep(&q, "&"));) {
        if (*tok == '\0')
            continue;
        char *eq = strchr(tok, '=');
        if (eq == NULL || eq[1] == '\0')
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "etcd store: parameter `%s` has no value", tok);
        *eq = '\0';
        char **slot = strcmp(tok, "cacert") == 0 ? &b->cacert
                      : strcmp(tok, "cert") == 0 ? &b->cert
                      : strcmp(tok, "key") == 0  ? &b->key
                                                 : NULL;
        if (slot == NULL)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "etcd store: unknown parameter `%s` (want cacert, cert, key)", tok);
        free(*slot);
        *slot = xstrdup(eq + 1);
    }
    if ((b->cert == NULL) != (b->key == NULL))
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "etcd store: cert and key must be given together");
    const char *scheme = b->cacert || b->cert ? "https" : "http";
    for (char *p = loc, *ep; (ep = strsep(&p, ","));) {
        if (*ep == '\0' || strchr(ep, ':') == NULL || strpbrk(ep, " \t@"))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "etcd store: endpoint `%s` is not HOST:PORT", ep);
        b->endpoints = xrealloc(b->endpoints, (b->n_endpoints + 1) * sizeof(char *));
        b->endpoints[b->n_endpoints++] = xasprintf("%s://%s", scheme, ep);
    }
    if (b->n_endpoints == 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "etcd store: no endpoint in `%s`", location);
    return 0;
}

static void backend_free(struct etcd_backend *b)
{
    for (size_t i = 0; i < b->n_endpoints; i++)
        free(b->endpoints[i]);
    free(b->endpoints);
    for (size_t i = 0; i < b->pool_len; i++)
        curl_easy_cleanup(b->pool[i]);
    if (b->wmulti)
        curl_multi_cleanup(b->wmulti);
    for (size_t i = 0; i < b->n_held; i++)
        store_event_unref(b->held[i]);
    free(b->held);
    free(b->prefix);
    free(b->cacert);
    free(b->cert);
    free(b->key);
    pthread_mutex_destroy(&b->pool_lock);
    pthread_mutex_destroy(&b->get_lock);
    pthread_cond_destroy(&b->get_cond);
    pthread_mutex_destroy(&b->rev_lock);
    pthread_cond_destroy(&b->rev_cond);
    free(b);
}

/* A range request over the etcd keys of store prefix `prefix` from start (NULL: the start
 * of the prefix). */
static json_t *range_request(struct etcd_backend *b, const char *prefix, const char *start)
{
    /* Store keys start with '/': "" under prefix "/p" is "/p/", not "/p" (which would take
     * in a sibling "/px/..."). */
    _cleanup_free_ char *full =
        xasprintf("%s%s", b->prefix, prefix[0] == '\0' && b->prefix_len > 0 ? "/" : prefix);
    json_t *req = json_object();
    if (full[0] == '\0') {
        /* Everything: [\0, \0) is etcd's "all keys". */
        json_object_set_new(req, "key", b64("", 1));
        json_object_set_new(req, "range_end", b64("", 1));
    } else {
        _cleanup_free_ char *end = store__prefix_end(full);
        json_object_set_new(req, "key", b64(full, strlen(full)));
        json_object_set_new(req, "range_end", b64(end, strlen(end)));
    }
    if (start) {
        _cleanup_free_ char *fs = full_key(b, start);
        if (strcmp(fs, full) > 0)
            json_object_set_new(req, "key", b64(fs, strlen(fs)));
    }
    return req;
}

/* Fills kv from an etcd KeyValue object, stripping the prefix. */
static int kv_from_json(struct etcd_backend *b, const json_t *j, struct store_kv *kv,
                        struct k8c_err **err)
{
    size_t klen;
    _cleanup_free_ char *key = store__etcd_b64(j, "key", &klen, err);
    if (key == NULL)
        return -1;
    kv->value = store__etcd_b64(j, "value", &kv->value_len, err);
    if (kv->value == NULL)
        return -1;
    kv->key = xstrdup(klen >= b->prefix_len ? key + b->prefix_len : key);
    kv->create_revision = store__etcd_i64(j, "create_revision");
    kv->mod_revision = store__etcd_i64(j, "mod_revision");
    return 0;
}

/* ---- the driver ---- */

static int etcd_open(struct store *s, const char *location, struct k8c_err **err)
{
    curl_init_process();
    struct etcd_backend *b = xcalloc(1, sizeof(*b));
    b->s = s;
    pthread_mutex_init(&b->pool_lock, NULL);
    pthread_mutex_init(&b->rev_lock, NULL);
    pthread_mutex_init(&b->get_lock, NULL);
    pthread_cond_init(&b->get_cond, NULL);
    clock_cond_init_mono(&b->rev_cond);
    if (parse_location(b, location, err) < 0) {
        backend_free(b);
        return -1;
    }
    /* The current revision, and a check that the cluster answers. */
    _cleanup_json_ json_t *req = range_request(b, "", NULL);
    json_object_set_new(req, "count_only", json_true());
    _cleanup_json_ json_t *resp = store__etcd_call(b, "kv/range", req, err);
    if (resp == NULL) {
        k8c_err_wrap(err, "cannot open etcd store");
        backend_free(b);
        return -1;
    }
    atomic_store(&s->revision, store__etcd_i64(json_object_get(resp, "header"), "revision"));
    b->published = atomic_load(&s->revision); /* the hub starts after it */
    atomic_store(&s->compacted, 0);
    b->wmulti = curl_multi_init();
    s->backend = b;
    return 0;
}

static void etcd_close(struct store *s)
{
    struct etcd_backend *b = s->backend;
    store__etcd_watch_stop(b);
    backend_free(b);
    s->backend = NULL;
}

static int etcd_list(struct store *s, const char *prefix, int64_t revision, const char *start_key,
                     size_t limit, struct store_list *out, struct k8c_err **err)
{
    struct etcd_backend *b = s->backend;
    _cleanup_json_ json_t *req = range_request(b, prefix, start_key);
    if (revision > 0)
        json_object_set_new(req, "revision", i64(revision));
    if (limit > 0)
        json_object_set_new(req, "limit", i64((int64_t)limit));
    _cleanup_json_ json_t *resp = store__etcd_call(b, "kv/range", req, err);
    if (resp == NULL)
        return -1;
    json_t *kvs = json_object_get(resp, "kvs");
    size_t n = json_array_size(kvs);
    out->items = xcalloc(n ? n : 1, sizeof(*out->items));
    for (size_t i = 0; i < n; i++) {
        if (kv_from_json(b, json_array_get(kvs, i), &out->items[i], err) < 0) {
            out->n_items = i + 1;
            store_list_clear(out);
            return -1;
        }
    }
    out->n_items = n;
    out->revision =
        revision > 0 ? revision : store__etcd_i64(json_object_get(resp, "header"), "revision");
    out->more = json_is_true(json_object_get(resp, "more"));
    int64_t count = store__etcd_i64(resp, "count");
    out->remaining = out->more ? count - (int64_t)n : 0;
    return 0;
}

static int range_one(struct etcd_backend *b, const char *key, struct store_kv *out,
                     struct k8c_err **err)
{
    _cleanup_free_ char *fk = full_key(b, key);
    _cleanup_json_ json_t *req = json_object();
    json_object_set_new(req, "key", b64(fk, strlen(fk)));
    _cleanup_json_ json_t *resp = store__etcd_call(b, "kv/range", req, err);
    if (resp == NULL)
        return -1;
    json_t *kvs = json_object_get(resp, "kvs");
    if (json_array_size(kvs) == 0)
        return k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "key `%s` not found", key);
    return kv_from_json(b, json_array_get(kvs, 0), out, err);
}

/* Reads of one key at the same time share etcd ranges, and stay linearizable: a read joins
 * only a range that has not been sent yet, so the range starts after every reader it answers
 * began (it sees every write that ended before any of them). A reader that finds the key's
 * range already in flight starts the next one, which waits for that one to end and takes in
 * the readers arriving meanwhile. (The API server reads the namespace on every create: with
 * many creates at once that is one range per round trip instead of one per create.) */
struct get_batch {
    char *key;
    bool sent, done;
    int readers;
    int rc;
    struct store_kv kv;
    enum k8c_reason reason;
    char *msg;
    struct get_batch *next;
};

static void batch_answer(struct get_batch *g, struct store_kv *out, struct k8c_err **err)
{
    if (g->rc < 0) {
        k8c_err_set(err, 0, g->reason, "%s", g->msg);
        return;
    }
    out->key = xstrdup(g->kv.key);
    out->value = xmalloc(g->kv.value_len + 1);
    memcpy(out->value, g->kv.value, g->kv.value_len + 1);
    out->value_len = g->kv.value_len;
    out->create_revision = g->kv.create_revision;
    out->mod_revision = g->kv.mod_revision;
}

/* Drops a reader's hold on g (get_lock held): the last one unlinks and frees it. */
static void batch_leave(struct etcd_backend *b, struct get_batch *g)
{
    if (--g->readers > 0)
        return;
    for (struct get_batch **p = &b->gets; *p; p = &(*p)->next) {
        if (*p == g) {
            *p = g->next;
            break;
        }
    }
    store_kv_clear(&g->kv);
    free(g->key);
    free(g->msg);
    free(g);
}

static int etcd_get(struct store *s, const char *key, struct store_kv *out, struct k8c_err **err)
{
    struct etcd_backend *b = s->backend;
    pthread_mutex_lock(&b->get_lock);
    struct get_batch *g = NULL, *in_flight = NULL;
    for (struct get_batch *x = b->gets; x; x = x->next) {
        if (strcmp(x->key, key) != 0 || x->done)
            continue;
        if (x->sent)
            in_flight = x;
        else
            g = x;
    }
    if (g == NULL) {
        g = xcalloc(1, sizeof(*g));
        g->key = xstrdup(key);
        g->next = b->gets;
        b->gets = g;
    }
    g->readers++;
    bool sender = g->readers == 1;
    if (sender) {
        /* The key's range in flight ends first (the readers joining this one meanwhile). */
        if (in_flight) {
            in_flight->readers++; /* kept until we have seen it end */
            while (!in_flight->done)
                pthread_cond_wait(&b->get_cond, &b->get_lock);
            batch_leave(b, in_flight);
        }
        g->sent = true;
        pthread_mutex_unlock(&b->get_lock);
        _cleanup_err_ struct k8c_err *e = NULL;
        int rc = range_one(b, key, &g->kv, &e);
        pthread_mutex_lock(&b->get_lock);
        g->rc = rc;
        if (rc < 0) {
            g->reason = e->reason;
            g->msg = xstrdup(e->msg);
        }
        g->done = true;
        pthread_cond_broadcast(&b->get_cond);
    } else {
        while (!g->done)
            pthread_cond_wait(&b->get_cond, &b->get_lock);
    }
    int rc = g->rc;
    batch_answer(g, out, err);
    batch_leave(b, g);
    pthread_mutex_unlock(&b->get_lock);
    return rc;
}

/* The JSON text of a transaction on the etcd key fk: compare the key's create_revision
 * (target "CREATE") or mod_revision ("MOD") with v by result ("EQUAL", "GREATER"); on
 * success a put of value (value != NULL) or a delete, with prev_kv when asked; on failure
 * (when asked) a range of the key. Written by hand rather than through jansson: a write's
 * value is most of the text, and jansson builds and escapes it a character at a time (it was
 * ~7% of the API server's CPU per create). Base64 and decimal numbers need no escaping. */
static void txn_text(struct buf *out, const char *fk, const char *target, const char *result,
                     int64_t v, const void *value, size_t value_len, bool prev_kv,
                     bool failure_range)
{
    _cleanup_free_ char *k64 = codec_base64_encode(fk, strlen(fk));
    buf_appendf(
        out,
        "{\"compare\":[{\"key\":\"%s\",\"target\":\"%s\",\"result\":\"%s\",\"%s\":\"%lld\"}],"
        "\"success\":[{",
        k64, target, result, strcmp(target, "CREATE") == 0 ? "create_revision" : "mod_revision",
        (long long)v);
    if (value) {
        _cleanup_free_ char *v64 = codec_base64_encode(value, value_len);
        buf_appendf(out, "\"request_put\":{\"key\":\"%s\",\"value\":\"", k64);
        buf_append(out, v64, strlen(v64));
        buf_appendf(out, "\"%s}", prev_kv ? ",\"prev_kv\":true" : "");
    } else {
        buf_appendf(out, "\"request_delete_range\":{\"key\":\"%s\"%s}", k64,
                    prev_kv ? ",\"prev_kv\":true" : "");
    }
    buf_append(out, "}]", 2);
    if (failure_range)
        buf_appendf(out, ",\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]", k64);
    buf_append(out, "}", 1);
}

/* Runs a guarded write of value (NULL: a delete): the compare (expected 0: the key exists;
 * else its mod_revision is expected), then the op with prev_kv; on failure reads the key to
 * tell NOT_FOUND from CONFLICT. */
static json_t *guarded_txn(struct etcd_backend *b, const char *key, int64_t expected,
                           const void *value, size_t value_len, struct k8c_err **err)
{
    _cleanup_free_ char *fk = full_key(b, key);
    _cleanup_buf_ struct buf req = BUF_INIT;
    txn_text(&req, fk, expected == 0 ? "CREATE" : "MOD", expected == 0 ? "GREATER" : "EQUAL",
             expected, value, value_len, true, true);
    json_t *resp = call_text(b, "kv/txn", req.data, req.len, err);
    if (resp == NULL || json_is_true(json_object_get(resp, "succeeded")))
        return resp;
    json_t *kvs =
        kjson_path(json_array_get(json_object_get(resp, "responses"), 0), "response_range");
    size_t n = json_array_size(json_object_get(kvs, "kvs"));
    json_decref(resp);
    if (n == 0)
        k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "key `%s` not found", key);
    else
        k8c_err_set(err, 0, K8C_REASON_CONFLICT,
                    "key `%s` was modified: its mod_revision is not %lld", key,
                    (long long)expected);
    return NULL;
}

static int64_t revision_of(const json_t *resp)
{
    return store__etcd_i64(json_object_get(resp, "header"), "revision");
}

/* The KeyValue (or NULL) named `field` of the first answer of a txn's responses, e.g.
 * response_put.prev_kv or the first of response_delete_range.prev_kvs. */
static json_t *first_response_kv(const json_t *resp, const char *path)
{
    json_t *kv = kjson_path(json_array_get(json_object_get(resp, "responses"), 0), path);
    return json_is_array(kv) ? json_array_get(kv, 0) : kv;
}

/* Hands the write's event, built from its own answer, to the hub (etcd_watch.c) and returns
 * its revision once the hub has it. prev_kv is the key's previous KeyValue (NULL for a
 * create); without it (an etcd that did not send it) the write waits for the stream. */
static int64_t written(struct etcd_backend *b, const json_t *resp, enum store_event_type type,
                       const char *key, const void *value, size_t value_len, const json_t *prev_kv)
{
    int64_t rev = revision_of(resp);
    _cleanup_err_ struct k8c_err *err = NULL;
    size_t plen = 0;
    _cleanup_free_ char *prev = prev_kv ? store__etcd_b64(prev_kv, "value", &plen, &err) : NULL;
    if (type != STORE_EVENT_ADDED && prev == NULL) {
        store__etcd_wait_revision(b, rev);
        return rev;
    }
    struct store_event *ev;
    if (type == STORE_EVENT_ADDED)
        ev = store__event_new(type, rev, rev, key, value, value_len, NULL, 0);
    else if (type == STORE_EVENT_MODIFIED)
        ev = store__event_new(type, rev, store__etcd_i64(prev_kv, "create_revision"), key, value,
                              value_len, prev, plen);
    else /* DELETED: the last state, as the stream's event carries it */
        ev = store__event_new(type, rev, store__etcd_i64(prev_kv, "create_revision"), key, prev,
                              plen, prev, plen);
    if (prev_kv)
        ev->prev_revision = store__etcd_i64(prev_kv, "mod_revision");
    store__etcd_publish_write(b, ev);
    return rev;
}

static int64_t etcd_create(struct store *s, const char *key, const void *value, size_t value_len,
                           struct k8c_err **err)
{
    struct etcd_backend *b = s->backend;
    _cleanup_free_ char *fk = full_key(b, key);
    _cleanup_buf_ struct buf req = BUF_INIT;
    txn_text(&req, fk, "CREATE", "EQUAL", 0, value, value_len, false, false);
    _cleanup_json_ json_t *resp = call_text(b, "kv/txn", req.data, req.len, err);
    if (resp == NULL)
        return -1;
    if (!json_is_true(json_object_get(resp, "succeeded")))
        return k8c_err_set(err, 0, K8C_REASON_ALREADY_EXISTS, "key `%s` already exists", key);
    return written(b, resp, STORE_EVENT_ADDED, key, value, value_len, NULL);
}

static int64_t etcd_update(struct store *s, const char *key, const void *value, size_t value_len,
                           int64_t expected, struct k8c_err **err)
{
    struct etcd_backend *b = s->backend;
    /* A value is never NULL here: an empty one is "" (store.h). */
    _cleanup_json_ json_t *resp = guarded_txn(b, key, expected, value ? value : "", value_len, err);
    if (resp == NULL)
        return -1;
    return written(b, resp, STORE_EVENT_MODIFIED, key, value, value_len,
                   first_response_kv(resp, "response_put.prev_kv"));
}

static int64_t etcd_delete(struct store *s, const char *key, int64_t expected,
                           struct store_kv *prev, struct k8c_err **err)
{
    struct etcd_backend *b = s->backend;
    _cleanup_json_ json_t *resp = guarded_txn(b, key, expected, NULL, 0, err);
    if (resp == NULL)
        return -1;
    json_t *pk = first_response_kv(resp, "response_delete_range.prev_kvs");
    if (prev && pk && kv_from_json(b, pk, prev, err) < 0)
        return -1;
    return written(b, resp, STORE_EVENT_DELETED, key, NULL, 0, pk);
}

static int etcd_compact(struct store *s, int64_t revision, struct k8c_err **err)
{
    struct etcd_backend *b = s->backend;
    _cleanup_json_ json_t *req = json_pack("{s:o}", "revision", i64(revision));
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *resp = store__etcd_call(b, "kv/compaction", req, &e);
    /* Another server (or an earlier call) compacted at or past it already: nothing to do. */
    if (resp == NULL && e->reason != K8C_REASON_GONE) {
        *err = steal_ptr(&e);
        return -1;
    }
    int64_t cur = atomic_load(&s->compacted);
    while (cur < revision && !atomic_compare_exchange_weak(&s->compacted, &cur, revision)) {
    }
    return 0;
}

static int etcd_check(struct store *s, struct buf *report, struct k8c_err **err)
{
    struct etcd_backend *b = s->backend;
    _cleanup_json_ json_t *req = range_request(b, "", NULL);
    json_object_set_new(req, "count_only", json_true());
    _cleanup_json_ json_t *resp = store__etcd_call(b, "kv/range", req, err);
    if (resp == NULL)
        return -1;
    buf_appendf(report, "etcd %s: revision %lld, %lld keys under `%s`",
                b->endpoints[atomic_load(&b->current)],
                (long long)store__etcd_i64(json_object_get(resp, "header"), "revision"),
                (long long)store__etcd_i64(resp, "count"), b->prefix[0] ? b->prefix : "/");
    return 0;
}

const struct store_driver store__etcd_driver = {
    .name = "etcd",
    .open = etcd_open,
    .start = store__etcd_watch_start,
    .close = etcd_close,
    .get = etcd_get,
    .list = etcd_list,
    .create = etcd_create,
    .update = etcd_update,
    .del = etcd_delete,
    .compact = etcd_compact,
    .check = etcd_check,
};
