/* Registry client (distribution API v2 over libcurl): manifests with the right Accept
 * headers, blobs with redirects followed and downloads resumed from partial files, bearer
 * tokens from WWW-Authenticate challenges and basic auth from a docker config.json. TLS by
 * default; plain HTTP only for loopback registries and those listed as insecure. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/curlinit.h"
#include "base/codec.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "image/internal.h"

#define ERROR_BODY_MAX (64 * 1024)

struct image__registry {
    char *host; /* as in the reference: "localhost:5000", "docker.io" */
    char *repository;
    char *base_url; /* "https://registry-1.docker.io" */
    char *basic;    /* "user:password" for this host, or NULL */
    long timeout;
    pthread_mutex_t mu; /* guards auth */
    char *auth;         /* "Authorization: …" header, or NULL */
};

/* ---- credentials ------------------------------------------------------------------------ */

/* "https://host:5000/v1/" -> "host:5000" (caller frees). */
static char *auth_key_host(const char *key)
{
    const char *p = strstr(key, "://");
    p = p ? p + 3 : key;
    size_t n = strcspn(p, "/");
    char *h = xstrndup(p, n);
    if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0) {
        free(h);
        h = xstrdup("docker.io");
    }
    return h;
}

static char *load_basic(const char *host, const char *auth_file, struct k8c_err **err)
{
    _cleanup_free_ char *path = NULL;
    if (auth_file != NULL)
        path = xstrdup(auth_file);
    else if (getenv("DOCKER_CONFIG"))
        path = xasprintf("%s/config.json", getenv("DOCKER_CONFIG"));
    else if (getenv("HOME"))
        path = xasprintf("%s/.docker/config.json", getenv("HOME"));
    else
        return NULL;
    size_t len = 0;
    struct k8c_err *e = NULL;
    _cleanup_free_ char *data = file_read_all(path, 1 << 20, &len, &e);
    if (data == NULL) {
        if (auth_file == NULL && e->errnum == ENOENT) { /* no default file: anonymous */
            k8c_err_free(e);
            return NULL;
        }
        image__err_pass(err, e);
        return NULL;
    }
    _cleanup_json_ json_t *root = kjson_parse(data, len, err);
    if (root == NULL) {
        k8c_err_wrap(err, "auth file `%s`", path);
        return NULL;
    }
    json_t *auths = json_object_get(root, "auths");
    const char *key;
    json_t *v;
    json_object_foreach (auths, key, v) {
        _cleanup_free_ char *h = auth_key_host(key);
        if (strcmp(h, host) != 0)
            continue;
        const char *auth = json_string_value(json_object_get(v, "auth"));
        if (auth != NULL && *auth) {
            size_t n = 0;
            char *plain = codec_base64_decode(auth, strlen(auth), &n, NULL);
            if (plain == NULL || strchr(plain, ':') == NULL || strlen(plain) != n) {
                free(plain);
                k8c_err_set(err, 0, K8C_REASON_INVALID,
                            "auth file `%s`: auths.\"%s\".auth is not base64 of user:password",
                            path, key);
                return NULL;
            }
            return plain;
        }
        const char *user = json_string_value(json_object_get(v, "username"));
        const char *pass = json_string_value(json_object_get(v, "password"));
        if (user && pass)
            return xasprintf("%s:%s", user, pass);
    }
    return NULL;
}

/* ---- client ----------------------------------------------------------------------------- */

static bool host_is_loopback(const char *hostport)
{
    _cleanup_free_ char *h = xstrdup(hostport);
    if (h[0] == '[') {
        char *close = strchr(h, ']');
        if (close)
            *close = '\0';
        return strcmp(h + 1, "::1") == 0;
    }
    char *colon = strchr(h, ':');
    if (colon)
        *colon = '\0';
    return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0;
}

struct image__registry *image__registry_new(const struct image_ref *ref,
                                            const struct image_pull_options *opts,
                                            struct k8c_err **err)
{
    curl_init_process();
    bool insecure = host_is_loopback(ref->registry);
    for (size_t i = 0; opts && i < opts->n_insecure; i++)
        if (strcmp(opts->insecure_registries[i], ref->registry) == 0)
            insecure = true;
    struct k8c_err *e = NULL;
    char *basic = load_basic(ref->registry, opts ? opts->auth_file : NULL, &e);
    if (e != NULL) {
        image__err_pass(err, e);
        return NULL;
    }
    struct image__registry *r = xcalloc(1, sizeof(*r));
    r->host = xstrdup(ref->registry);
    r->repository = xstrdup(ref->repository);
    const char *endpoint =
        strcmp(ref->registry, "docker.io") == 0 ? "registry-1.docker.io" : ref->registry;
    r->base_url = xasprintf("%s://%s", insecure ? "http" : "https", endpoint);
    r->basic = basic;
    r->timeout = opts && opts->timeout_seconds > 0 ? opts->timeout_seconds : 60;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void image__registry_free(struct image__registry *r)
{
    if (r == NULL)
        return;
    free(r->host);
    free(r->repository);
    free(r->base_url);
    if (r->basic)
        explicit_bzero(r->basic, strlen(r->basic));
    free(r->basic);
    free(r->auth);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* What a request's body goes to. */
struct sink {
    struct image__registry *r;
    CURL *curl;
    long code;       /* response code once the first body byte arrives */
    struct buf body; /* manifests and error bodies */
    size_t body_max;
    int fd;          /* blob file, or -1 */
    uint64_t offset; /* where the file's next byte goes */
    uint64_t expect; /* blob size */
    bool started;    /* the first body byte of this response arrived */
    bool restart;    /* the server ignored Range: start over */
    bool overflow;
    struct image__sha256 *hash;
    struct image__progress *progress;
    int write_errno;
    /* headers */
    char *content_type;
    char *www_auth;
};

static size_t on_header(char *data, size_t size, size_t n, void *opaque)
{
    struct sink *s = opaque;
    size_t len = size * n;
    if (len > 2 && strncmp(data, "HTTP/", 5) == 0) { /* a new response (redirect, retry) */
        free(s->content_type);
        free(s->www_auth);
        s->content_type = s->www_auth = NULL;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (colon == NULL)
        return len;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    while (v < data + len && (*v == ' ' || *v == '\t'))
        v++;
    size_t vlen = (size_t)(data + len - v);
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (klen == 12 && strncasecmp(data, "content-type", 12) == 0) {
        free(s->content_type);
        size_t semi = strcspn(v, ";");
        s->content_type = xstrndup(v, semi < vlen ? semi : vlen);
    } else if (klen == 16 && strncasecmp(data, "www-authenticate", 16) == 0) {
        free(s->www_auth);
        s->www_auth = xstrndup(v, vlen);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    struct sink *s = opaque;
    size_t len = size * n;
    if (s->code == 0)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->code);
    if (s->fd < 0 || (s->code != 200 && s->code != 206)) {
        if (s->body.len + len > s->body_max) {
            s->overflow = true;
            return 0;
        }
        buf_append(&s->body, data, len);
        return len;
    }
    bool first = !s->started;
    s->started = true;
    if (first && s->code == 200 && s->offset > 0) { /* Range not honoured: start over */
        s->restart = true;
        if (ftruncate(s->fd, 0) < 0) {
            s->write_errno = errno;
            return 0;
        }
        s->offset = 0;
        image__sha256_final(s->hash, (char[IMAGE_DIGEST_LEN + 1]){0});
        image__sha256_init(s->hash);
    }
    if (s->offset + len > s->expect) {
        s->overflow = true;
        return 0;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = pwrite(s->fd, p, left, (off_t)s->offset);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            s->write_errno = errno;
            return 0;
        }
        image__sha256_update(s->hash, p, (size_t)w);
        p += w;
        left -= (size_t)w;
        s->offset += (uint64_t)w;
    }
    if (s->progress)
        __atomic_store_n(&s->progress->done, s->offset, __ATOMIC_RELAXED);
    return len;
}

/* Appends the registry's error list ("CODE: message; …") from a JSON error body. */
static void describe_body(struct buf *out, const struct buf *body)
{
    if (body->len == 0)
        return;
    json_t *root = json_loadb(body->data, body->len, 0, NULL);
    json_t *errors = json_object_get(root, "errors");
    size_t i;
    json_t *e;
    size_t before = out->len;
    json_array_foreach (errors, i, e) {
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        buf_appendf(out, "%s%s%s%.200s", out->len > before ? "; " : " (", code ? code : "",
                    code && msg ? ": " : "", msg ? msg : "");
    }
    if (out->len > before)
        buf_append_str(out, ")");
    json_decref(root);
}

static enum k8c_reason reason_for(long code)
{
    switch (code) {
    case 401: return K8C_REASON_UNAUTHORIZED;
    case 403: return K8C_REASON_FORBIDDEN;
    case 404: return K8C_REASON_NOT_FOUND;
    case 429: return K8C_REASON_TOO_MANY_REQUESTS;
    default: return K8C_REASON_SERVICE_UNAVAILABLE;
    }
}

/* Splits a challenge `Bearer realm="…",service="…",scope="…"` into its parameters. */
static json_t *parse_challenge(const char *h, char **scheme)
{
    size_t sn = strcspn(h, " ");
    *scheme = xstrndup(h, sn);
    json_t *params = json_object();
    const char *p = h + sn;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t kn = strcspn(p, "=, ");
        if (kn == 0 || p[kn] != '=')
            break;
        _cleanup_free_ char *key = xstrndup(p, kn);
        p += kn + 1;
        struct buf v = BUF_INIT;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                buf_append_char(&v, *p++);
            }
            if (*p == '"')
                p++;
        } else {
            size_t vn = strcspn(p, ",");
            buf_append(&v, p, vn);
            p += vn;
        }
        char *val = buf_steal(&v);
        for (char *k = key; *k; k++)
            *k = (char)(*k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k);
        json_object_set_new(params, key, json_string(val));
        free(val);
    }
    return params;
}

static CURL *easy_new(struct image__registry *r, const char *url, struct sink *s,
                      struct curl_slist *headers, char *errbuf)
{
    CURL *c = curl_easy_init();
    K8C_ASSERT(c != NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 8L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->timeout);
    /* A registry that stops sending for `timeout` seconds fails the transfer. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, r->timeout);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "k8c-image/0.1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    return c;
}

static int transfer_error(CURLcode rc, const char *errbuf, const char *url, long timeout,
                          struct k8c_err **err)
{
    const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return k8c_err_set(err, 0, K8C_REASON_TIMEOUT,
                           "`%s`: registry sent nothing for %ld seconds (%s)", url, timeout,
                           detail);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "`%s`: cannot connect: %s", url,
                           detail);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE,
                           "`%s`: connection closed early (truncated): %s", url, detail);
    default: return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "`%s`: %s", url, detail);
    }
}

/* Gets a bearer token for the challenge's realm/service/scope (basic credentials sent to the
 * realm when we have them) and makes it the client's Authorization header. */
static int fetch_token(struct image__registry *r, json_t *params, struct k8c_err **err)
{
    const char *realm = json_string_value(json_object_get(params, "realm"));
    if (realm == NULL || (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0))
        return k8c_err_set(err, 0, K8C_REASON_UNAUTHORIZED,
                           "registry `%s` asked for a bearer token without a usable realm",
                           r->host);
    const char *service = json_string_value(json_object_get(params, "service"));
    const char *scope = json_string_value(json_object_get(params, "scope"));
    _cleanup_free_ char *default_scope = xasprintf("repository:%s:pull", r->repository);
    CURL *esc = curl_easy_init();
    char *es = service ? curl_easy_escape(esc, service, 0) : NULL;
    char *ec = curl_easy_escape(esc, scope ? scope : default_scope, 0);
    _cleanup_free_ char *url = xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
                                         ec, es ? "&service=" : "", es ? es : "");
    curl_free(es);
    curl_free(ec);
    curl_easy_cleanup(esc);
    struct sink s = {.r = r, .fd = -1, .body_max = 1 << 20};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = easy_new(r, url, &s, NULL, errbuf);
    s.curl = c;
    if (r->basic) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, r->basic);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    free(s.content_type);
    free(s.www_auth);
    int ret = 0;
    if (rc != CURLE_OK) {
        ret = transfer_error(rc, errbuf, realm, r->timeout, err);
    } else if (code != 200) {
        struct buf msg = BUF_INIT;
        buf_appendf(&msg, "token server `%s` returned HTTP %ld", realm, code);
        describe_body(&msg, &s.body);
        if (code == 401 && r->basic == NULL)
            buf_append_str(&msg, "; no credentials for this registry in the auth file");
        ret = k8c_err_set(err, 0, reason_for(code), "%s", msg.data);
        buf_free(&msg);
    } else {
        json_t *root = json_loadb(s.body.data ? s.body.data : "", s.body.len, 0, NULL);
        const char *tok = json_string_value(json_object_get(root, "token"));
        if (tok == NULL)
            tok = json_string_value(json_object_get(root, "access_token"));
        if (tok == NULL || *tok == '\0' || strpbrk(tok, "\r\n") != NULL) {
            ret = k8c_err_set(err, 0, K8C_REASON_UNAUTHORIZED,
                              "token server `%s` answered without a token", realm);
        } else {
            pthread_mutex_lock(&r->mu);
            free(r->auth);
            r->auth = xasprintf("Authorization: Bearer %s", tok);
            pthread_mutex_unlock(&r->mu);
        }
        json_decref(root);
    }
    buf_free(&s.body);
    return ret;
}

/* Answers a 401 challenge. Returns 0 when a retry may succeed, -1 with *err otherwise. */
static int authenticate(struct image__registry *r, const char *challenge, const char *used_auth,
                        struct k8c_err **err)
{
    if (challenge == NULL)
        return k8c_err_set(err, 0, K8C_REASON_UNAUTHORIZED,
                           "registry `%s` returned 401 without a WWW-Authenticate challenge",
                           r->host);
    _cleanup_free_ char *scheme = NULL;
    _cleanup_json_ json_t *params = parse_challenge(challenge, &scheme);
    if (strcasecmp(scheme, "Bearer") == 0)
        return fetch_token(r, params, err);
    if (strcasecmp(scheme, "Basic") == 0) {
        if (r->basic == NULL)
            return k8c_err_set(err, 0, K8C_REASON_UNAUTHORIZED,
                               "registry `%s` requires authentication and the auth file has no "
                               "credentials for it",
                               r->host);
        _cleanup_free_ char *b64 = codec_base64_encode(r->basic, strlen(r->basic));
        _cleanup_free_ char *header = xasprintf("Authorization: Basic %s", b64);
        if (used_auth != NULL && strcmp(used_auth, header) == 0)
            return k8c_err_set(err, 0, K8C_REASON_UNAUTHORIZED,
                               "registry `%s` rejected the credentials from the auth file",
                               r->host);
        pthread_mutex_lock(&r->mu);
        free(r->auth);
        r->auth = steal_ptr(&header);
        pthread_mutex_unlock(&r->mu);
        return 0;
    }
    return k8c_err_set(err, 0, K8C_REASON_UNAUTHORIZED,
                       "registry `%s` asks for unsupported authentication `%s`", r->host, scheme);
}

/* GET url into s (auth retried once on 401). Returns 0 with s->code set (any status), or -1
 * with *err on a transport failure. */
static int get(struct image__registry *r, const char *url, const char *accept, const char *range,
               struct sink *s, struct k8c_err **err)
{
    for (int attempt = 0;; attempt++) {
        struct curl_slist *headers = NULL;
        pthread_mutex_lock(&r->mu);
        _cleanup_free_ char *auth = r->auth ? xstrdup(r->auth) : NULL;
        pthread_mutex_unlock(&r->mu);
        if (auth)
            headers = curl_slist_append(headers, auth);
        _cleanup_free_ char *acc = accept ? xasprintf("Accept: %s", accept) : NULL;
        if (acc)
            headers = curl_slist_append(headers, acc);
        char errbuf[CURL_ERROR_SIZE] = "";
        CURL *c = easy_new(r, url, s, headers, errbuf);
        s->curl = c;
        s->code = 0;
        s->started = false;
        if (range)
            curl_easy_setopt(c, CURLOPT_RANGE, range);
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        s->code = code;
        if (rc == CURLE_WRITE_ERROR && s->overflow)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "`%s`: registry sent more data than expected", url);
        if (rc == CURLE_WRITE_ERROR && s->write_errno)
            return k8c_err_set(err, s->write_errno, K8C_REASON_INTERNAL, "write download of `%s`",
                               url);
        if (rc != CURLE_OK)
            return transfer_error(rc, errbuf, url, r->timeout, err);
        if (code == 401 && attempt > 0)
            return k8c_err_set(err, 0, K8C_REASON_UNAUTHORIZED,
                               "registry `%s` rejected the credentials%s (HTTP 401 for `%s`)",
                               r->host, r->basic ? " from the auth file" : "", url);
        if (code != 401)
            return 0;
        if (authenticate(r, s->www_auth, auth, err) < 0)
            return -1;
        buf_reset(&s->body);
    }
}

static int status_error(const char *what, const char *url, struct sink *s, struct k8c_err **err)
{
    struct buf msg = BUF_INIT;
    buf_appendf(&msg, "%s: registry returned HTTP %ld for `%s`", what, s->code, url);
    describe_body(&msg, &s->body);
    int rc = k8c_err_set(err, 0, reason_for(s->code), "%s", msg.data);
    buf_free(&msg);
    return rc;
}

char *image__registry_manifest(struct image__registry *r, const char *reference, size_t *len,
                               char **content_type, struct k8c_err **err)
{
    _cleanup_free_ char *url =
        xasprintf("%s/v2/%s/manifests/%s", r->base_url, r->repository, reference);
    struct sink s = {.r = r, .fd = -1, .body_max = IMAGE_MANIFEST_MAX};
    int rc = get(r, url, IMAGE_MANIFEST_ACCEPT, NULL, &s, err);
    if (rc == 0 && s.code != 200)
        rc = status_error("manifest", url, &s, err);
    free(s.www_auth);
    if (rc < 0) {
        free(s.content_type);
        buf_free(&s.body);
        return NULL;
    }
    *len = s.body.len;
    *content_type = s.content_type;
    return buf_steal(&s.body);
}

/* Downloads into ingest/<hex>.partial (resuming it) and moves the verified blob into place. */
static int download_blob(struct image__registry *r, struct image_store *st, const char *digest,
                         uint64_t size, struct image__progress *progress, struct k8c_err **err)
{
    _cleanup_free_ char *lock_name = xasprintf("blob-%s", image__digest_hex(digest));
    _cleanup_close_ int lock = image__named_lock(st, lock_name, err);
    if (lock < 0)
        return -1;
    if (image__blob_exists(st, digest))
        return 0;
    _cleanup_free_ char *partial =
        xasprintf("%s/%s.partial", st->ingest, image__digest_hex(digest));
    _cleanup_close_ int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return k8c_err_errno(err, "open `%s`", partial);
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return k8c_err_errno(err, "stat `%s`", partial);
    uint64_t have = (uint64_t)sb.st_size;
    if (have > size) {
        if (ftruncate(fd, 0) < 0)
            return k8c_err_errno(err, "truncate `%s`", partial);
        have = 0;
    }
    struct image__sha256 hash;
    image__sha256_init(&hash);
    if (have > 0) { /* resume: hash what is already there */
        _cleanup_free_ char *chunk = xmalloc(1 << 20);
        uint64_t off = 0;
        while (off < have) {
            ssize_t n = pread(fd, chunk, 1 << 20, (off_t)off);
            if (n <= 0) {
                image__sha256_final(&hash, (char[IMAGE_DIGEST_LEN + 1]){0});
                return k8c_err_errno(err, "read `%s`", partial);
            }
            image__sha256_update(&hash, chunk, (size_t)n);
            off += (uint64_t)n;
        }
        LOG_DEBUG("resuming blob download digest=%s have=%llu size=%llu", digest,
                  (unsigned long long)have, (unsigned long long)size);
    }
    _cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", r->base_url, r->repository, digest);
    struct sink s = {.r = r,
                     .fd = fd,
                     .offset = have,
                     .expect = size,
                     .hash = &hash,
                     .progress = progress,
                     .body_max = ERROR_BODY_MAX};
    char range[64];
    snprintf(range, sizeof(range), "%llu-", (unsigned long long)have);
    int rc = 0;
    if (have < size)
        rc = get(r, url, NULL, have > 0 ? range : NULL, &s, err);
    else
        s.code = 206;
    free(s.content_type);
    free(s.www_auth);
    if (rc == 0 && s.code == 416 && have == size)
        s.code = 206; /* everything was already here */
    if (rc == 0 && s.code != 200 && s.code != 206)
        rc = status_error("blob", url, &s, err);
    buf_free(&s.body);
    char got[IMAGE_DIGEST_LEN + 1];
    image__sha256_final(&hash, got);
    if (rc < 0) {
        if (s.overflow) /* more bytes than the manifest says: the partial file is junk */
            unlink(partial);
        return k8c_err_wrap(err, "blob %s", digest);
    }
    if (s.offset != size) {
        return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE,
                           "blob %s: truncated: registry sent %llu of %llu bytes", digest,
                           (unsigned long long)s.offset, (unsigned long long)size);
    }
    if (strcmp(got, digest) != 0) {
        unlink(partial);
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "blob %s: digest mismatch: the content the registry sent hashes to %s",
                           digest, got);
    }
    if (fsync(fd) < 0)
        return k8c_err_errno(err, "fsync `%s`", partial);
    return image__blob_commit(st, partial, digest, err);
}

int image__registry_blob(struct image__registry *r, struct image_store *st, const char *digest,
                         uint64_t size, struct image__progress *progress, struct k8c_err **err)
{
    if (progress) {
        __atomic_store_n(&progress->total, size, __ATOMIC_RELAXED);
        __atomic_store_n(&progress->stage, IMAGE_STAGE_DOWNLOADING, __ATOMIC_RELAXED);
    }
    if (!image__blob_exists(st, digest) && download_blob(r, st, digest, size, progress, err) < 0)
        return -1;
    if (progress)
        __atomic_store_n(&progress->done, size, __ATOMIC_RELAXED);
    return 0;
}
