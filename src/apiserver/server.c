/* The HTTPS front: libmicrohttpd with GnuTLS, one thread per connection (a watch blocks its
 * own thread in the content reader, so thousands of long-lived watches cost thousands of
 * small-stack threads and nothing else), request bodies bounded at 3 MiB (413), and
 * authentication: a client certificate signed by the cluster CA (user = CN, groups = O), or
 * the node token as a bearer token; anonymous requests reach only /healthz, /livez, /readyz
 * and /version, everything else answers 401. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <malloc.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/tlsio.h"

#define THREAD_STACK (512 * 1024)
#define CONNECTION_LIMIT 20000
#define IDLE_TIMEOUT_S 120 /* idle keep-alive and stalled uploads; watches and pipes opt out */
/* Answers at least this big are mmapped and unmapped when sent, and after one the heap is
 * trimmed: a LIST of 10,000 pods builds ~10 MiB of JSON from thousands of small pieces
 * across per-thread arenas, and glibc would otherwise keep those pages as RSS. */
#define BIG_ANSWER (256 * 1024)
/* A new connection must deliver its first request's headers within this (kube-apiserver's
 * ReadHeaderTimeout), or within --request-timeout if shorter; see guard.c. */
#define HEADER_TIMEOUT_S 32

/* Client certificate chains verified lately, with the identity they carry: a client that
 * opens a connection per request (scripts, kubectl runs) would otherwise cost a chain
 * verification and two certificate parses per connection on top of the handshake. The
 * handshake itself still proves the key; a chain verified against the same CA stays valid
 * while its leaf is, and an entry is kept for CERT_CACHE_TTL_S at most. */
#define CERT_CACHE 16
#define CERT_CACHE_TTL_S 300
struct cert_cache {
    pthread_mutex_t lock;
    unsigned next;
    struct {
        unsigned char *chain; /* the DER certificates, concatenated */
        size_t len;
        time_t not_before, not_after, until;
        struct apiserver_user user;
    } e[CERT_CACHE];
};

struct apiserver {
    struct apiserver_core *core;
    struct cert_cache certs_seen;
    struct MHD_Daemon *daemon;
    struct apiserver_certs certs;
    char *token;
    char *kubeconfig;
    struct apiserver_guard *guard;
    uint64_t header_timeout_ns;
};

/* Per connection (MHD socket context): the TLS client identity, resolved once. */
struct conn_ctx {
    struct apiserver_guarded *guard;
    bool resolved;
    bool has_cert_user;
    struct apiserver_user cert_user;
};

/* Per request (MHD con_cls): the body as it arrives. */
struct req_ctx {
    struct buf body;
    bool too_large;
    bool big_answer; /* trim the heap when done */
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (LOG_LEVEL_DEBUG > log_current_level)
        return;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    LOG_DEBUG("http: %s", line);
}

static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct apiserver *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_ctx *cc = xcalloc(1, sizeof(*cc));
        const union MHD_ConnectionInfo *fdi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (fdi)
            cc->guard = apiserver__guard_add(srv->guard, fdi->connect_fd,
                                             clock_mono_ns() + srv->header_timeout_ns);
        *socket_context = cc;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_ctx *cc = *socket_context;
        if (cc)
            apiserver__guard_remove(srv->guard, cc->guard);
        free(cc);
        *socket_context = NULL;
    }
}

static struct conn_ctx *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? (struct conn_ctx *)ci->socket_context : NULL;
}

/* The connection's read deadline from now (0: none while the answer is being made). */
static void conn_deadline(struct apiserver *srv, struct MHD_Connection *c, uint64_t in_ns,
                          bool exempt)
{
    struct conn_ctx *cc = conn_of(c);
    if (cc)
        apiserver__guard_set(srv->guard, cc->guard, in_ns ? clock_mono_ns() + in_ns : 0, exempt);
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct apiserver *srv = cls;
    /* Keep-alive: the next request's headers are due within the idle time plus the usual. */
    conn_deadline(srv, c, (uint64_t)IDLE_TIMEOUT_S * 1000000000ull + srv->header_timeout_ns, false);
    struct req_ctx *rc = *con_cls;
    if (rc) {
        bool trim = rc->big_answer;
        buf_free(&rc->body);
        free(rc);
        *con_cls = NULL;
        if (trim)
            malloc_trim(0);
    }
}

/* The peer's certificates, concatenated (caller frees), or NULL. */
static unsigned char *peer_chain(gnutls_session_t s, size_t *len)
{
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
    if (!peers || n == 0)
        return NULL;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += peers[i].size;
    unsigned char *out = xmalloc(total ? total : 1), *p = out;
    for (unsigned i = 0; i < n; i++) {
        memcpy(p, peers[i].data, peers[i].size);
        p += peers[i].size;
    }
    *len = total;
    return out;
}

static bool cert_cache_find(struct cert_cache *c, const unsigned char *chain, size_t len,
                            struct apiserver_user *u)
{
    time_t now = time(NULL);
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < CERT_CACHE && !found; i++) {
        if (c->e[i].chain && c->e[i].len == len && memcmp(c->e[i].chain, chain, len) == 0 &&
            now >= c->e[i].not_before && now <= c->e[i].not_after && now <= c->e[i].until) {
            *u = c->e[i].user;
            found = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

static void cert_cache_add(struct cert_cache *c, unsigned char *chain_take, size_t len,
                           gnutls_x509_crt_t leaf, const struct apiserver_user *u)
{
    pthread_mutex_lock(&c->lock);
    unsigned i = c->next++ % CERT_CACHE;
    free(c->e[i].chain);
    c->e[i].chain = chain_take;
    c->e[i].len = len;
    c->e[i].not_before = gnutls_x509_crt_get_activation_time(leaf);
    c->e[i].not_after = gnutls_x509_crt_get_expiration_time(leaf);
    c->e[i].until = time(NULL) + CERT_CACHE_TTL_S;
    c->e[i].user = *u;
    pthread_mutex_unlock(&c->lock);
}

/* The identity of a verified client certificate: CN is the user, each O a group. */
static bool cert_user(struct apiserver *srv, struct MHD_Connection *c, struct apiserver_user *u)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    size_t len = 0;
    _cleanup_free_ unsigned char *chain = peer_chain(s, &len);
    if (!chain)
        return false;
    if (cert_cache_find(&srv->certs_seen, chain, len, u))
        return true;
    unsigned status = 0;
    if (gnutls_certificate_verify_peers2(s, &status) < 0 || status != 0)
        return false;
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
    if (!peers || n == 0)
        return false;
    gnutls_x509_crt_t crt = NULL;
    if (gnutls_x509_crt_init(&crt) < 0)
        return false;
    bool ok = false;
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0) {
        memset(u, 0, sizeof(*u));
        size_t size = sizeof(u->name);
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, u->name, &size) ==
                0 &&
            u->name[0]) {
            ok = true;
            for (unsigned i = 0; i < ARRAY_SIZE(u->groups); i++) {
                size = sizeof(u->groups[0]);
                if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0,
                                                  u->groups[u->n_groups], &size) != 0)
                    break;
                u->n_groups++;
            }
        }
    }
    if (ok)
        cert_cache_add(&srv->certs_seen, steal_ptr(&chain), len, crt, u);
    gnutls_x509_crt_deinit(crt);
    return ok;
}

static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* 1: authenticated (*u filled), 0: anonymous, -1: credentials presented and refused. */
static int authenticate(struct apiserver *srv, struct MHD_Connection *c, struct apiserver_user *u)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *tok = auth + 7;
        while (*tok == ' ')
            tok++;
        if (srv->token && token_equal(tok, srv->token)) {
            memset(u, 0, sizeof(*u));
            snprintf(u->name, sizeof(u->name), "system:node:k8c");
            snprintf(u->groups[0], sizeof(u->groups[0]), "system:nodes");
            u->n_groups = 1;
            return 1;
        }
        if (apiserver__token_verify(srv->core->tokens, tok, u) == 0)
            return 1;
        return -1;
    }
    struct conn_ctx *cc = conn_of(c);
    if (cc && cc->resolved) {
        if (!cc->has_cert_user)
            return 0;
        *u = cc->cert_user;
        return 1;
    }
    struct apiserver_user cu;
    bool ok = cert_user(srv, c, &cu);
    if (cc) {
        cc->resolved = true;
        cc->has_cert_user = ok;
        if (ok)
            cc->cert_user = cu;
    }
    if (!ok)
        return 0;
    *u = cu;
    return 1;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct apiserver_req *req = cls;
    if (req->n_params >= 64)
        return MHD_NO;
    req->params = xrealloc(req->params, (req->n_params + 1) * sizeof(*req->params));
    req->params[req->n_params].key = xstrdup(key);
    req->params[req->n_params].value = xstrdup(value ? value : "");
    req->n_params++;
    return MHD_YES;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    static const char *const forward[] = {"Upgrade",
                                          "Connection",
                                          "Sec-WebSocket-Key",
                                          "Sec-WebSocket-Version",
                                          "Sec-WebSocket-Protocol",
                                          "X-Stream-Protocol-Version"};
    struct buf *b = cls;
    for (size_t i = 0; i < ARRAY_SIZE(forward); i++) {
        if (strcasecmp(key, forward[i]) == 0 && value && !strpbrk(value, "\r\n") && b->len < 8192) {
            buf_appendf(b, "%s: %s\r\n", forward[i], value);
            break;
        }
    }
    return MHD_YES;
}

/* ---- agent proxying (the connection comes from stream.c) ---- */

struct pipe_job {
    struct apiserver_agent_conn *agent;
    atomic_bool *stopping; /* shutdown closes the pipe so MHD_stop_daemon can finish */
    MHD_socket sock;
    struct MHD_UpgradeResponseHandle *urh;
    char *extra_in;
    size_t extra_in_len;
};

/* Copies bytes both ways between the client's upgraded connection and the agent until
 * either side closes. */
static void *pipe_thread(void *arg)
{
    struct pipe_job *j = arg;
    struct apiserver_agent_conn *a = j->agent;
    char buf[32 * 1024];
    struct timeval tv = {0, 0};
    setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    bool ok =
        (j->extra_in_len == 0 || apiserver__agent_write(a, j->extra_in, j->extra_in_len) == 0) &&
        (a->extra_len == 0 || tlsio_write(j->sock, NULL, a->extra, a->extra_len) == 0);
    while (ok && !atomic_load(j->stopping)) {
        struct pollfd p[2] = {{j->sock, POLLIN, 0}, {a->fd, POLLIN, 0}};
        bool pending = apiserver__agent_pending(a);
        int n = pending ? 1 : poll(p, 2, 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (pending || (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t r = apiserver__agent_read(a, buf, sizeof(buf));
            if (r <= 0 || tlsio_write(j->sock, NULL, buf, (size_t)r) < 0)
                break;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(j->sock, buf, sizeof(buf), 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || apiserver__agent_write(a, buf, (size_t)r) < 0)
                break;
        }
    }
    MHD_upgrade_action(j->urh, MHD_UPGRADE_ACTION_CLOSE);
    apiserver__agent_close(a);
    free(j->extra_in);
    free(j);
    return NULL;
}

struct upgrade_ctx {
    struct apiserver_agent_conn *agent;
    atomic_bool *stopping;
};

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct pipe_job *j = xcalloc(1, sizeof(*j));
    struct upgrade_ctx *u = cls;
    j->agent = u->agent;
    j->stopping = u->stopping;
    free(u);
    j->sock = sock;
    j->urh = urh;
    if (extra_in_size) {
        j->extra_in = xmalloc(extra_in_size);
        memcpy(j->extra_in, extra_in, extra_in_size);
        j->extra_in_len = extra_in_size;
    }
    /* MHD starts forwarding (TLS) only after this returns: pipe in a thread of its own. */
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, pipe_thread, j) != 0) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        apiserver__agent_close(j->agent);
        free(j->extra_in);
        free(j);
    }
    pthread_attr_destroy(&attr);
}

struct relay {
    struct apiserver_agent_conn *agent;
    int client_fd;
    atomic_bool *stopping;
    bool extra_sent;
};

/* The body of a non-upgraded agent answer (logs; errors): close-delimited. */
static ssize_t relay_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct relay *r = cls;
    struct apiserver_agent_conn *a = r->agent;
    if (!r->extra_sent) {
        r->extra_sent = true;
        if (a->extra_len > 0) {
            size_t n = a->extra_len < max ? a->extra_len : max;
            memcpy(out, a->extra, n);
            a->extra += n;
            a->extra_len -= n;
            r->extra_sent = a->extra_len == 0;
            return (ssize_t)n;
        }
    }
    for (;;) {
        if (atomic_load(r->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!apiserver__agent_pending(a)) {
            struct pollfd p[2] = {{a->fd, POLLIN, 0}, {r->client_fd, POLLRDHUP, 0}};
            int n = poll(p, r->client_fd >= 0 ? 2 : 1, 1000);
            if (n < 0 && errno != EINTR)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            if (r->client_fd >= 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
        }
        ssize_t got = apiserver__agent_read(a, out, max);
        if (got <= 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        return got;
    }
}

static void relay_done(void *cls)
{
    struct relay *r = cls;
    apiserver__agent_close(r->agent);
    free(r);
}

/* Copies the agent's answer headers that matter to the client onto r. */
static void copy_agent_headers(struct MHD_Response *r, const struct apiserver_agent_conn *a,
                               bool upgrade)
{
    const char *line = strstr(a->head, "\r\n");
    while (line && line + 2 < a->head + a->head_len) {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol || eol == line)
            break;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            char name[64], value[512];
            size_t nl = (size_t)(colon - line);
            const char *v = colon + 1;
            while (v < eol && *v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (nl < sizeof(name) && vl < sizeof(value)) {
                memcpy(name, line, nl);
                name[nl] = '\0';
                memcpy(value, v, vl);
                value[vl] = '\0';
                bool keep = strcasecmp(name, "Content-Type") == 0 ||
                            (upgrade && (strcasecmp(name, "Upgrade") == 0 ||
                                         strcasecmp(name, "Connection") == 0 ||
                                         strncasecmp(name, "Sec-WebSocket-", 14) == 0 ||
                                         strcasecmp(name, "X-Stream-Protocol-Version") == 0));
                if (keep)
                    MHD_add_response_header(r, name, value);
            }
        }
        line = eol;
    }
}

static ssize_t watch_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    size_t n = apiserver__watch_read(cls, out, max);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static void watch_done(void *cls)
{
    apiserver__watch_free(cls);
}

static enum MHD_Result queue(struct MHD_Connection *c, struct apiserver_resp *resp, int client_fd,
                             atomic_bool *stopping)
{
    struct MHD_Response *r;
    if (resp->proxy) {
        struct apiserver_agent_conn *a = resp->proxy;
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        resp->proxy = NULL;
        if (a->status == 101) {
            /* The pipe thread owns a from on_upgrade on. (If the client vanishes before the
             * 101 is written, MHD never calls on_upgrade and the agent connection leaks.) */
            struct upgrade_ctx *u = xcalloc(1, sizeof(*u));
            u->agent = a;
            u->stopping = stopping;
            r = MHD_create_response_for_upgrade(on_upgrade, u);
            if (!r) {
                free(u);
                apiserver__agent_close(a);
                return MHD_NO;
            }
        } else {
            struct relay *rl = xcalloc(1, sizeof(*rl));
            rl->agent = a;
            rl->client_fd = client_fd;
            rl->stopping = stopping;
            r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, relay_reader, rl,
                                                  relay_done);
            if (!r) {
                relay_done(rl);
                return MHD_NO;
            }
        }
        copy_agent_headers(r, a, a->status == 101);
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)a->status, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (resp->watch) {
        /* A watch is idle between events by design; it ends at its own deadline. */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, watch_reader,
                                              resp->watch, watch_done);
        if (!r) {
            apiserver__watch_free(resp->watch);
            resp->watch = NULL;
            return MHD_NO;
        }
        resp->watch = NULL;
    } else {
        size_t len = resp->out.body.len;
        char *data = buf_steal(&resp->out.body);
        r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(data);
            return MHD_NO;
        }
    }
    if (resp->out.content_type)
        MHD_add_response_header(r, "Content-Type", resp->out.content_type);
    MHD_add_response_header(r, "Cache-Control",
                            resp->cache_immutable ? "public, immutable" : "no-cache, private");
    for (char **w = resp->out.warnings; w && *w; w++) {
        _cleanup_free_ char *v = xasprintf("299 - \"%s\"", *w);
        MHD_add_response_header(r, "Warning", v);
    }
    if (resp->out.retry_after > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", resp->out.retry_after);
        MHD_add_response_header(r, "Retry-After", v);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->out.code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result quick_status(struct MHD_Connection *c, int code, const char *reason,
                                    const char *msg)
{
    struct apiserver_resp resp = {0};
    apiserver__resp_status(&resp, code, reason, msg, NULL, NULL, NULL);
    enum MHD_Result r = queue(c, &resp, -1, NULL);
    apiserver_response_clear(&resp.out);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    struct apiserver *srv = cls;
    struct req_ctx *rc = *con_cls;
    if (!rc) {
        /* Headers are in; the body (if any) is due within the request timeout. */
        conn_deadline(srv, c, srv->core->request_timeout_ns, false);
        rc = xcalloc(1, sizeof(*rc));
        *con_cls = rc;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > APISERVER_MAX_BODY)
            rc->too_large = true;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!rc->too_large) {
            if (rc->body.len + *upload_size > APISERVER_MAX_BODY) {
                rc->too_large = true;
                buf_free(&rc->body);
            } else {
                buf_append(&rc->body, upload_data, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    conn_deadline(srv, c, 0, false);
    if (rc->too_large)
        return quick_status(c, 413, "RequestEntityTooLarge",
                            "the request body is too large (limit 3 MiB)");
    struct apiserver_user user;
    int a = authenticate(srv, c, &user);
    if (a < 0)
        return quick_status(c, 401, "Unauthorized", "Unauthorized");
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct apiserver_req req = {
        .method = method,
        .path = url,
        .accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept"),
        .content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
        .body = rc->body.data ? rc->body.data : "",
        .body_len = rc->body.len,
        .user = a > 0 ? &user : NULL,
        .conn_fd = fdi ? fdi->connect_fd : -1,
    };
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &req);
    struct buf fwd = BUF_INIT;
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &fwd);
    req.forward_headers = fwd.data;
    struct apiserver_resp resp = {0};
    if (req.n_params >= 64)
        apiserver__resp_status(&resp, 400, "BadRequest", "too many query parameters", NULL, NULL,
                               NULL);
    else
        apiserver__dispatch(srv->core, &req, &resp);
    apiserver__req_clear(&req);
    buf_free(&fwd);
    rc->big_answer = resp.out.body.len >= BIG_ANSWER;
    if (resp.proxy)
        conn_deadline(srv, c, 0, true); /* the socket may become a pipe */
    enum MHD_Result r = queue(c, &resp, req.conn_fd, &srv->core->stopping);
    apiserver_response_clear(&resp.out);
    return r;
}

/* Splits "host:port" / "[v6]:port" / ":port". */
static int parse_listen(const char *listen, char *host, size_t hsize, uint16_t *port,
                        struct k8c_err **err)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "listen address `%s` is not host:port",
                           listen);
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0) {
        h = "127.0.0.1";
        hl = strlen(h);
    }
    if (hl >= hsize)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "listen host too long");
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || !end || *end || colon[1] == '\0' || p == 0 || p > 65535)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "listen port in `%s` is not 1-65535",
                           listen);
    *port = (uint16_t)p;
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl); /* best effort: fewer watches if it fails */
    }
}

struct apiserver *apiserver_start(const struct apiserver_config *cfg, struct k8c_err **err)
{
    char host[256];
    uint16_t port = 0;
    if (parse_listen(cfg->listen, host, sizeof(host), &port, err) < 0)
        return NULL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    bool v6 = false;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    const char *bind_host = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, bind_host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, bind_host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        v6 = true;
    } else {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "listen host `%s` is not an IP address", host);
        return NULL;
    }
    struct apiserver *srv = xcalloc(1, sizeof(*srv));
    pthread_mutex_init(&srv->certs_seen.lock, NULL);
    _cleanup_free_ char *url =
        v6 ? xasprintf("https://[%s]:%u", host, port) : xasprintf("https://%s:%u", host, port);
    if (apiserver__certs_ensure(cfg->data_dir, host, &srv->certs, err) < 0 ||
        apiserver__token_ensure(cfg->data_dir, &srv->token, err) < 0)
        goto fail;
    if (apiserver__kubeconfig_write(cfg->data_dir, url, &srv->certs, &srv->kubeconfig, err) < 0)
        goto fail;
    srv->core = apiserver_core_new(cfg->store, cfg->service_cidr, err);
    if (!srv->core)
        goto fail;
    srv->core->certs = &srv->certs;
    srv->core->tokens = apiserver__tokens_new(srv->certs.sa_key, err);
    if (!srv->core->tokens)
        goto fail;
    if (apiserver__bootstrap_kubernetes_service(srv->core, bind_host, port, err) < 0)
        goto fail;
    if (cfg->max_mutating_inflight)
        srv->core->max_mutating = (int)cfg->max_mutating_inflight;
    if (cfg->max_readonly_inflight)
        srv->core->max_readonly = (int)cfg->max_readonly_inflight;
    if (cfg->node_port_min && cfg->node_port_max) {
        srv->core->node_port_min = (int)cfg->node_port_min;
        srv->core->node_port_max = (int)cfg->node_port_max;
    }
    if (cfg->request_timeout_s)
        srv->core->request_timeout_ns = (uint64_t)cfg->request_timeout_s * 1000000000ull;
    if (cfg->min_request_timeout_s)
        srv->core->min_request_timeout_s = cfg->min_request_timeout_s;
    srv->header_timeout_ns = (uint64_t)HEADER_TIMEOUT_S * 1000000000ull;
    if (srv->core->request_timeout_ns < srv->header_timeout_ns)
        srv->header_timeout_ns = srv->core->request_timeout_ns;
    srv->guard = apiserver__guard_new();
    raise_nofile();
    /* A fixed threshold also stops glibc from raising it after the first big free. */
    mallopt(M_MMAP_THRESHOLD, BIG_ANSWER);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
    if (v6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_HTTPS_MEM_KEY, srv->certs.server_key, MHD_OPTION_HTTPS_MEM_CERT,
        srv->certs.server_crt, MHD_OPTION_HTTPS_MEM_TRUST, srv->certs.ca_crt,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, srv, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)THREAD_STACK, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!srv->daemon) {
        k8c_err_set(err, EADDRINUSE, K8C_REASON_INTERNAL,
                    "cannot listen on %s (address in use or not local?)", cfg->listen);
        goto fail;
    }
    return srv;
fail:
    apiserver_stop(srv);
    return NULL;
}

const char *apiserver_kubeconfig_path(const struct apiserver *srv)
{
    return srv->kubeconfig;
}

void apiserver_stop(struct apiserver *srv)
{
    if (!srv)
        return;
    if (srv->core)
        atomic_store(&srv->core->stopping, true);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon); /* open watches notice `stopping` within a second */
    apiserver__guard_free(srv->guard);
    for (unsigned i = 0; i < CERT_CACHE; i++)
        free(srv->certs_seen.e[i].chain);
    pthread_mutex_destroy(&srv->certs_seen.lock);
    apiserver_core_free(srv->core);
    apiserver__certs_clear(&srv->certs);
    free(srv->token);
    free(srv->kubeconfig);
    free(srv);
}
