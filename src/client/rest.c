/* HTTP transport of the client (see client.h): a pool of libcurl easy handles configured
 * once with the cluster's TLS material, JSON requests, and streaming watches. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/curlinit.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/client.h"

#define CLIENT_POOL_MAX 16
#define CLIENT_CONNECT_TIMEOUT_MS 10000L
#define CLIENT_REQUEST_TIMEOUT_MS 60000L
/* A response larger than this is refused rather than buffered (a LIST of 150,000 pods is
 * well below it). */
#define CLIENT_MAX_RESPONSE (1024u << 20)
/* One watch event larger than this ends the watch with an error. */
#define CLIENT_MAX_EVENT (64u << 20)

struct client {
    struct client_config cfg;
    /* cfg.server split at commas (trailing slashes dropped): the API servers this client may
     * use, in order. Requests go to servers[current]; current moves on when it fails. */
    char **servers;
    size_t n_servers;
    atomic_size_t current;
    char *auth_header; /* "Authorization: Bearer …" or NULL */
    /* cfg.ca_pem, cert_pem and key_pem each in a sealed memfd, named to libcurl as
     * "/proc/self/fd/<n>" (NULL when that PEM is absent): k8c links libcurl's GnuTLS flavour
     * (one TLS library per process), whose backend has no CURLOPT_*_BLOB options, and the
     * key must not touch the disk. */
    struct pem_file {
        int fd;
        char path[32];
    } ca, cert, key;
    pthread_mutex_t lock;
    CURL *pool[CLIENT_POOL_MAX];
    size_t pool_len;
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Fills c->servers from c->cfg.server ("https://a:6443,https://b:6443"). */
static int split_servers(struct client *c, struct k8c_err **err)
{
    const char *p = c->cfg.server;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        /* A trailing slash would double up with request paths. */
        while (n > 0 && p[n - 1] == '/')
            n--;
        if (n == 0)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "client configuration: empty server URL in \"%s\"", c->cfg.server);
        c->servers = xrealloc(c->servers, (c->n_servers + 1) * sizeof(*c->servers));
        c->servers[c->n_servers++] = xstrndup(p, n);
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

/* Puts pem in a new sealed memfd f (closed again by client_free). Returns 0 or -1. */
static int pem_file_open(struct pem_file *f, const char *name, const char *pem,
                         struct k8c_err **err)
{
    f->fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (f->fd < 0)
        return k8c_err_errno(err, "client: memfd_create for the %s", name);
    for (size_t off = 0, len = strlen(pem); off < len;) {
        ssize_t n = write(f->fd, pem + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return k8c_err_errno(err, "client: writing the %s", name);
        off += (size_t)n;
    }
    /* Sealed: the file libcurl reads at each TLS handshake stays the PEM it was given. */
    if (fcntl(f->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        return k8c_err_errno(err, "client: sealing the %s", name);
    snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
    return 0;
}

static void pem_file_close(struct pem_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

struct client *client_new(const struct client_config *cfg, struct k8c_err **err)
{
    if (cfg->server == NULL || *cfg->server == '\0') {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "client configuration has no server URL");
        return NULL;
    }
    curl_init_process();
    struct client *c = xcalloc(1, sizeof(*c));
    c->ca.fd = c->cert.fd = c->key.fd = -1;
    pthread_mutex_init(&c->lock, NULL);
    c->cfg.server = xstrdup(cfg->server);
    if (split_servers(c, err) < 0) {
        client_free(c);
        return NULL;
    }
    c->cfg.ca_pem = dup_or_null(cfg->ca_pem);
    c->cfg.cert_pem = dup_or_null(cfg->cert_pem);
    c->cfg.key_pem = dup_or_null(cfg->key_pem);
    c->cfg.token = dup_or_null(cfg->token);
    c->cfg.namespace = dup_or_null(cfg->namespace);
    c->cfg.insecure = cfg->insecure;
    if (c->cfg.token != NULL)
        c->auth_header = xasprintf("Authorization: Bearer %s", c->cfg.token);
    if ((c->cfg.ca_pem && pem_file_open(&c->ca, "k8c-client-ca", c->cfg.ca_pem, err) < 0) ||
        (c->cfg.cert_pem && pem_file_open(&c->cert, "k8c-client-cert", c->cfg.cert_pem, err) < 0) ||
        (c->cfg.key_pem && pem_file_open(&c->key, "k8c-client-key", c->cfg.key_pem, err) < 0)) {
        client_free(c);
        return NULL;
    }
    return c;
}

void client_free(struct client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->pool_len; i++)
        curl_easy_cleanup(c->pool[i]);
    pthread_mutex_destroy(&c->lock);
    for (size_t i = 0; i < c->n_servers; i++)
        free(c->servers[i]);
    free(c->servers);
    client_config_clear(&c->cfg);
    free(c->auth_header);
    pem_file_close(&c->ca);
    pem_file_close(&c->cert);
    pem_file_close(&c->key);
    free(c);
}

/* Takes a handle from the pool (or makes one) with the TLS settings applied. */
static CURL *handle_take(struct client *c)
{
    pthread_mutex_lock(&c->lock);
    CURL *h = c->pool_len > 0 ? c->pool[--c->pool_len] : NULL;
    pthread_mutex_unlock(&c->lock);
    if (h != NULL) {
        curl_easy_reset(h); /* keeps live connections and the TLS session cache */
    } else {
        h = curl_easy_init();
        if (h == NULL)
            k8c_panic(__FILE__, __LINE__, "curl_easy_init failed");
    }
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "k8c/0.1.0");
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (c->ca.fd >= 0) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca.path);
        /* Only the cluster CA: without this the GnuTLS flavour also parses every certificate
         * under its default /etc/ssl/certs at each handshake. */
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    if (c->cert.fd >= 0) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert.path);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (c->key.fd >= 0) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->key.path);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->cfg.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return h;
}

static void handle_give_back(struct client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->pool_len < CLIENT_POOL_MAX) {
        c->pool[c->pool_len++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

static size_t collect_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct buf *b = opaque;
    size_t n = size * nmemb;
    if (b->len + n > CLIENT_MAX_RESPONSE)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    buf_append(b, data, n);
    return n;
}

/* Turns a non-2xx answer into *err, using the Status in the body when there is one. */
static void error_from_response(long code, const char *body, size_t len, const char *method,
                                const char *path, struct k8c_err **err)
{
    _cleanup_json_ json_t *status = len > 0 ? kjson_parse(body, len, NULL) : NULL;
    const char *reason = json_string_value(json_object_get(status, "reason"));
    const char *message = json_string_value(json_object_get(status, "message"));
    enum k8c_reason r = k8c_reason_from_status(reason, (int)code);
    if (message != NULL)
        k8c_err_set(err, 0, r, "%s", message);
    else
        k8c_err_set(err, 0, r, "%s %s: the server answered %ld", method, path, code);
}

static struct curl_slist *request_headers(struct client *c, const char *content_type, bool has_body)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (has_body) {
        _cleanup_free_ char *ct =
            xasprintf("Content-Type: %s", content_type ? content_type : "application/json");
        headers = curl_slist_append(headers, ct);
    }
    if (c->auth_header != NULL)
        headers = curl_slist_append(headers, c->auth_header);
    /* libcurl adds "Expect: 100-continue" to large bodies; the round trip is pure latency. */
    headers = curl_slist_append(headers, "Expect:");
    return headers;
}

/* The server to use now (an index into c->servers). */
static size_t server_pick(struct client *c)
{
    return atomic_load(&c->current) % c->n_servers;
}

/* Moves on from server idx after a transport failure, unless another thread already did. */
static void server_failed(struct client *c, size_t idx, const char *why)
{
    if (c->n_servers < 2)
        return;
    size_t expected = idx, next = (idx + 1) % c->n_servers;
    if (atomic_compare_exchange_strong(&c->current, &expected, next))
        LOG_WARN("API server failed, switching server=%s next=%s err=%s", c->servers[idx],
                 c->servers[next], why);
}

/* Whether a failed transfer may be repeated on another server: when nothing of the request
 * reached the server (connection refused, TLS handshake failed: even a write cannot have been
 * applied), or for reads, which are safe to repeat. A write that failed after it was sent is
 * not repeated: the caller sees SERVICE_UNAVAILABLE and decides, as with client-go. */
static bool may_retry(CURL *h, CURLcode rc, const char *method)
{
    long sent = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
    if (sent == 0 || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_SSL_CONNECT_ERROR)
        return true;
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* client_request; decode false: a 2xx body is not decoded (JSON null is returned). */
static json_t *perform(struct client *c, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len, long *http_code,
                       bool decode, struct k8c_err **err)
{
    _cleanup_buf_ struct buf response = BUF_INIT;
    char curl_error[CURL_ERROR_SIZE] = "";
    CURLcode rc = CURLE_OK;
    long code = 0;
    _cleanup_free_ char *url = NULL;
    /* Each server at most once: with one server this is a single attempt. */
    for (size_t attempt = 0; attempt < c->n_servers; attempt++) {
        size_t idx = server_pick(c);
        free(url);
        url = xasprintf("%s%s", c->servers[idx], path);
        buf_reset(&response);
        curl_error[0] = '\0';
        CURL *h = handle_take(c);
        struct curl_slist *headers = request_headers(c, content_type, body != NULL);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CLIENT_REQUEST_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);
        if (body != NULL) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        } else if (strcmp(method, "HEAD") == 0) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        }
        rc = curl_easy_perform(h);
        code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        bool retry = rc != CURLE_OK && rc != CURLE_WRITE_ERROR && may_retry(h, rc, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
        handle_give_back(c, h);
        if (rc == CURLE_OK)
            break;
        server_failed(c, idx, curl_error[0] ? curl_error : curl_easy_strerror(rc));
        if (!retry)
            break;
    }
    if (http_code != NULL)
        *http_code = code;
    /* one line per request at -v 2: what a component costs the API server, call by call */
    LOG_DEBUG("api request method=%s path=%s code=%ld", method, path, code);

    if (rc != CURLE_OK) {
        k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "%s %s: %s", method, url,
                    curl_error[0] ? curl_error : curl_easy_strerror(rc));
        return NULL;
    }
    if (code < 200 || code > 299) {
        error_from_response(code, response.data, response.len, method, path, err);
        return NULL;
    }
    if (response.len == 0 || !decode)
        return json_null();
    json_t *v = kjson_parse(response.data, response.len, err);
    if (v == NULL)
        k8c_err_wrap(err, "%s %s: response", method, path);
    return v;
}

json_t *client_request(struct client *c, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len, long *http_code,
                       struct k8c_err **err)
{
    return perform(c, method, path, content_type, body, body_len, http_code, true, err);
}

int client_send(struct client *c, const char *method, const char *path, const char *content_type,
                const json_t *obj, struct k8c_err **err)
{
    _cleanup_free_ char *body = obj ? kjson_dumps(obj) : NULL;
    json_t *r =
        perform(c, method, path, content_type, body, body ? strlen(body) : 0, NULL, false, err);
    json_decref(r);
    return r ? 0 : -1;
}

static json_t *request_json(struct client *c, const char *method, const char *path,
                            const char *content_type, const json_t *obj, struct k8c_err **err)
{
    _cleanup_free_ char *body = obj ? kjson_dumps(obj) : NULL;
    return client_request(c, method, path, content_type, body, body ? strlen(body) : 0, NULL, err);
}

json_t *client_get(struct client *c, const char *path, struct k8c_err **err)
{
    return client_request(c, "GET", path, NULL, NULL, 0, NULL, err);
}

json_t *client_create(struct client *c, const char *path, const json_t *obj, struct k8c_err **err)
{
    return request_json(c, "POST", path, NULL, obj, err);
}

json_t *client_update(struct client *c, const char *path, const json_t *obj, struct k8c_err **err)
{
    return request_json(c, "PUT", path, NULL, obj, err);
}

const char *client_patch_content_type(const char *patch_type)
{
    return strcmp(patch_type, "merge") == 0       ? "application/merge-patch+json"
           : strcmp(patch_type, "strategic") == 0 ? "application/strategic-merge-patch+json"
           : strcmp(patch_type, "json") == 0      ? "application/json-patch+json"
           : strcmp(patch_type, "apply") == 0     ? "application/apply-patch+yaml"
                                                  : NULL;
}

json_t *client_patch(struct client *c, const char *path, const char *patch_type,
                     const json_t *patch, struct k8c_err **err)
{
    const char *ct = client_patch_content_type(patch_type);
    if (ct == NULL) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "unknown patch type \"%s\"", patch_type);
        return NULL;
    }
    return request_json(c, "PATCH", path, ct, patch, err);
}

json_t *client_delete(struct client *c, const char *path, const json_t *options,
                      struct k8c_err **err)
{
    return request_json(c, "DELETE", path, NULL, options, err);
}

/* ---- watch streams ---- */

struct watch_state {
    struct buf line; /* bytes of the event being received */
    client_watch_fn fn;
    void *opaque;
    const atomic_bool *stop;
    bool stopped_by_fn;
    bool too_large;
    bool bad_event;
    long code;
    CURL *handle;
    struct buf error_body; /* body of a non-2xx answer */
};

static int dispatch_line(struct watch_state *w, const char *line, size_t len)
{
    if (len == 0)
        return 0;
    _cleanup_json_ json_t *ev = kjson_parse(line, len, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *object = json_object_get(ev, "object");
    if (type == NULL || object == NULL) {
        w->bad_event = true;
        return -1;
    }
    if (w->fn(type, object, w->opaque) != 0) {
        w->stopped_by_fn = true;
        return -1;
    }
    return 0;
}

static size_t watch_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct watch_state *w = opaque;
    size_t n = size * nmemb;
    if (w->code == 0)
        curl_easy_getinfo(w->handle, CURLINFO_RESPONSE_CODE, &w->code);
    if (w->code < 200 || w->code > 299) {
        if (w->error_body.len < 65536)
            buf_append(&w->error_body, data, n);
        return n;
    }
    /* Events are newline-terminated JSON objects; a chunk may hold several or a part. */
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n')
            continue;
        const char *line = data + start;
        size_t len = i - start;
        if (w->line.len > 0) {
            buf_append(&w->line, line, len);
            line = w->line.data;
            len = w->line.len;
        }
        int rc = dispatch_line(w, line, len);
        buf_reset(&w->line);
        if (rc < 0)
            return 0;
        start = i + 1;
    }
    if (start < n) {
        if (w->line.len + (n - start) > CLIENT_MAX_EVENT) {
            w->too_large = true;
            return 0;
        }
        buf_append(&w->line, data + start, n - start);
    }
    return n;
}

static int watch_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow)
{
    struct watch_state *w = opaque;
    return w->stop != NULL && atomic_load(w->stop) ? 1 : 0;
}

static int watch_once(struct client *c, size_t idx, const char *path, client_watch_fn fn,
                      void *opaque, const atomic_bool *stop, bool *not_reached,
                      struct k8c_err **err);

int client_watch(struct client *c, const char *path, client_watch_fn fn, void *opaque,
                 const atomic_bool *stop, struct k8c_err **err)
{
    /* A watch that cannot connect moves on to the next server at once; one that breaks later
     * also moves the client on, and the caller (an informer) re-watches or re-lists there. */
    int result = -1;
    for (size_t attempt = 0; attempt < c->n_servers; attempt++) {
        bool not_reached = false;
        if (attempt > 0 && err != NULL)
            k8c_err_freep(err);
        result = watch_once(c, server_pick(c), path, fn, opaque, stop, &not_reached, err);
        if (!not_reached)
            break;
    }
    return result;
}

static int watch_once(struct client *c, size_t idx, const char *path, client_watch_fn fn,
                      void *opaque, const atomic_bool *stop, bool *not_reached,
                      struct k8c_err **err)
{
    _cleanup_free_ char *url = xasprintf("%s%s", c->servers[idx], path);
    CURL *h = handle_take(c);
    struct watch_state w = {
        .line = BUF_INIT,
        .fn = fn,
        .opaque = opaque,
        .stop = stop,
        .handle = h,
        .error_body = BUF_INIT,
    };
    struct curl_slist *headers = request_headers(c, NULL, false);
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);
    /* No overall timeout: a watch is long-lived by design; the server ends it
     * (timeoutSeconds) or the caller does (*stop). */
    CURLcode rc = curl_easy_perform(h);
    if (w.code == 0)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &w.code);
    long sent = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    handle_give_back(c, h);

    int result;
    if (w.stopped_by_fn || (rc == CURLE_ABORTED_BY_CALLBACK && stop && atomic_load(stop))) {
        result = 1;
    } else if (w.too_large) {
        result = k8c_err_set(err, 0, K8C_REASON_TOO_LARGE, "watch %s: event over %u bytes", path,
                             CLIENT_MAX_EVENT);
    } else if (w.bad_event) {
        result = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "watch %s: malformed event", path);
    } else if (w.code != 0 && (w.code < 200 || w.code > 299)) {
        error_from_response(w.code, w.error_body.data, w.error_body.len, "GET", path, err);
        result = -1;
    } else if (rc != CURLE_OK) {
        const char *why = curl_error[0] ? curl_error : curl_easy_strerror(rc);
        server_failed(c, idx, why);
        *not_reached = sent == 0 || rc == CURLE_COULDNT_CONNECT || rc == CURLE_SSL_CONNECT_ERROR;
        result = k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "watch %s: %s", url, why);
    } else {
        result = 0;
    }
    buf_free(&w.line);
    buf_free(&w.error_body);
    return result;
}
