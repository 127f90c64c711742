/* The agent's HTTPS endpoint (kubelet's port): one thread per connection, GnuTLS with the
 * agent's serving certificate (tlscert.c). Every request but /healthz must come with a client
 * certificate signed by the cluster CA (what the agent trusts for its API server) in group
 * O=system:masters, as the API server's is: no certificate or an unknown issuer gets 401,
 * another group 403 in kubelet's wording. Routes: /containerLogs/<ns>/<pod>/<container>,
 * /exec/…, /attach/… (exec.c), /portForward/<ns>/<pod> (portforward.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/stream.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/tlsio.h"

#define HEAD_MAX 16384
#define HANDSHAKE_TIMEOUT_MS 10000

static int http_fd = -1;
static pthread_t accept_thread;
static gnutls_certificate_credentials_t cred;
static bool have_ca;

ssize_t sconn_read(struct sconn *c, void *buf, size_t n)
{
    return tlsio_read(c->fd, c->tls, buf, n);
}

int sconn_write(struct sconn *c, const void *buf, size_t n)
{
    return tlsio_write(c->fd, c->tls, buf, n);
}

bool sconn_pending(struct sconn *c)
{
    return c->tls && gnutls_record_check_pending(c->tls) > 0;
}

void sconn_reply(struct sconn *c, int code, const char *reason, const char *body)
{
    _cleanup_free_ char *head = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                          code, reason, strlen(body));
    if (sconn_write(c, head, strlen(head)) == 0)
        sconn_write(c, body, strlen(body));
}

const char *q_get(const struct query *q, const char *k)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->keys[i], k) == 0)
            return q->vals[i];
    return NULL;
}

bool q_true(const struct query *q, const char *k)
{
    const char *v = q_get(q, k);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

const char *http_header(const char *head, const char *name)
{
    static _Thread_local char val[512];
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
            const char *v = l + 3 + n;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= sizeof(val))
                len = sizeof(val) - 1;
            memcpy(val, v, len);
            val[len] = '\0';
            return val;
        }
    }
    return NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static void pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
}

char *stream_pod_uid(struct sreq *r, json_t **pod_out)
{
    _cleanup_free_ char *key = xasprintf("%s/%s", r->ns, r->pod);
    json_t *obj = informer_get(r->c->a->informer, key);
    const char *uid = kjson_path_str(obj, "metadata.uid");
    if (!uid) {
        json_decref(obj);
        _cleanup_free_ char *m =
            xasprintf("pod \"%s\" in namespace \"%s\" not found on this node\n", r->pod, r->ns);
        sconn_reply(r->c, 404, "Not Found", m);
        return NULL;
    }
    char *out = xstrdup(uid);
    if (pod_out)
        *pod_out = obj;
    else
        json_decref(obj);
    return out;
}

/* Who the client is: 0 when it may use the endpoint, else the HTTP code already answered. */
static int authenticate(struct sconn *c, const char *verb, const char *sub)
{
    if (!c->tls)
        return 0;
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(c->tls, &n);
    unsigned status = 0;
    if (!have_ca || !peers || n == 0 || gnutls_certificate_verify_peers2(c->tls, &status) < 0 ||
        status != 0) {
        sconn_reply(c, 401, "Unauthorized",
                    have_ca ? "Unauthorized: a client certificate signed by the cluster CA is "
                              "required\n"
                            : "Unauthorized: the agent has no cluster CA to authenticate "
                              "clients (give --ca-file or a kubeconfig with a CA)\n");
        return 401;
    }
    gnutls_x509_crt_t crt = NULL;
    char cn[128] = "", org[128];
    bool master = false;
    if (gnutls_x509_crt_init(&crt) >= 0 &&
        gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0) {
        size_t len = sizeof(cn);
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len);
        for (unsigned i = 0;; i++) {
            len = sizeof(org);
            if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0, org,
                                              &len) < 0)
                break;
            master = master || strcmp(org, "system:masters") == 0;
        }
    }
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (!master) {
        _cleanup_free_ char *m = xasprintf(
            "Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)\n", cn, verb, sub);
        sconn_reply(c, 403, "Forbidden", m);
        return 403;
    }
    return 0;
}

static void route(struct sconn *c, char *head, size_t got, char *end)
{
    char method[16], target[8192];
    if (sscanf(head, "%15s %8191s", method, target) != 2) {
        sconn_reply(c, 400, "Bad Request", "bad request line\n");
        return;
    }
    struct query q = {0};
    char *qs = strchr(target, '?');
    if (qs) {
        *qs++ = '\0';
        for (char *save = NULL, *kv = strtok_r(qs, "&", &save); kv && q.n < 64;
             kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (eq)
                *eq++ = '\0';
            pct_decode(kv);
            if (eq)
                pct_decode(eq);
            q.keys[q.n] = kv;
            q.vals[q.n++] = eq ? eq : "";
        }
    }
    char *parts[5] = {0};
    size_t np = 0;
    for (char *save = NULL, *s = strtok_r(target, "/", &save); s && np < 5;
         s = strtok_r(NULL, "/", &save)) {
        pct_decode(s);
        parts[np++] = s;
    }
    if (np >= 1 && strcmp(parts[0], "healthz") == 0) {
        sconn_reply(c, 200, "OK", "ok");
        return;
    }
    bool is_logs = np == 4 && strcmp(parts[0], "containerLogs") == 0;
    bool is_exec = np == 4 && strcmp(parts[0], "exec") == 0;
    bool is_attach = np == 4 && strcmp(parts[0], "attach") == 0;
    bool is_pf = np == 3 && strcmp(parts[0], "portForward") == 0;
    if (!is_logs && !is_exec && !is_attach && !is_pf) {
        sconn_reply(c, 404, "Not Found", "404 page not found\n");
        return;
    }
    if (authenticate(c, strcmp(method, "GET") == 0 ? "get" : "create", is_logs ? "log" : "proxy") !=
        0)
        return;
    struct sreq r = {.c = c,
                     .method = method,
                     .head = head,
                     .ns = parts[1],
                     .pod = parts[2],
                     .ctr = np == 4 ? parts[3] : NULL,
                     .q = &q,
                     .extra = end + 4,
                     .extra_len = got - (size_t)(end + 4 - head)};
    if (is_logs)
        agent__serve_logs(&r);
    else if (is_pf)
        agent__serve_portforward(&r);
    else
        agent__serve_exec(&r, is_attach);
}

static void *conn_main(void *opaque)
{
    struct sconn *c = opaque;
    char *head = NULL;
    if (c->tls) {
        int rc;
        do
            rc = gnutls_handshake(c->tls);
        while (rc < 0 && !gnutls_error_is_fatal(rc));
        if (rc < 0) {
            LOG_DEBUG("agent: TLS handshake failed: %s", gnutls_strerror(rc));
            goto out;
        }
    }
    head = xmalloc(HEAD_MAX + 1);
    size_t got = 0;
    char *end = NULL;
    while (got < HEAD_MAX) {
        ssize_t r = sconn_read(c, head + got, HEAD_MAX - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        head[got] = '\0';
        if ((end = strstr(head, "\r\n\r\n")))
            break;
    }
    if (!end)
        sconn_reply(c, 400, "Bad Request", "bad request head\n");
    else
        route(c, head, got, end);
    if (c->tls)
        gnutls_bye(c->tls, GNUTLS_SHUT_WR);
out:
    free(head);
    if (c->tls)
        gnutls_deinit(c->tls);
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_main(void *opaque)
{
    struct agent *a = opaque;
    while (!atomic_load(a->stop)) {
        struct pollfd pf = {http_fd, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        int fd = accept4(http_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct sconn *c = xcalloc(1, sizeof(*c));
        c->a = a;
        c->fd = fd;
        if (gnutls_init(&c->tls, GNUTLS_SERVER) < 0 || gnutls_set_default_priority(c->tls) < 0 ||
            gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred) < 0) {
            if (c->tls)
                gnutls_deinit(c->tls);
            close(fd);
            free(c);
            continue;
        }
        gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUEST);
        gnutls_handshake_set_timeout(c->tls, HANDSHAKE_TIMEOUT_MS);
        gnutls_transport_set_int(c->tls, fd);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, conn_main, c) != 0) {
            gnutls_deinit(c->tls);
            close(fd);
            free(c);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

static int listen_on(const char *ip, int port, struct k8c_err **err)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*s6);
    } else {
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "--node-ip \"%s\" is not an IP address", ip);
    }
    http_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (http_fd < 0)
        return k8c_err_errno(err, "socket");
    int one = 1;
    setsockopt(http_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(http_fd, (struct sockaddr *)&ss, sl) < 0 || listen(http_fd, 64) < 0) {
        k8c_err_errno(err, "listen on %s port %d", ip, port);
        close(http_fd);
        http_fd = -1;
        return -1;
    }
    getsockname(http_fd, (struct sockaddr *)&ss, &sl);
    return ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
}

int agent__http_start(struct agent *a, struct k8c_err **err)
{
    const char *hosts[] = {a->node_ip, "127.0.0.1", "localhost", a->node_name, NULL};
    _cleanup_free_ char *crt = NULL, *key = NULL;
    if (agent__tls_cert_ensure(a->data_dir, hosts, &crt, &key, &a->cert_sha256, err) < 0)
        return -1;
    gnutls_datum_t dc = {(unsigned char *)crt, (unsigned)strlen(crt)};
    gnutls_datum_t dk = {(unsigned char *)key, (unsigned)strlen(key)};
    int rc;
    if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
        (rc = gnutls_certificate_set_x509_key_mem(cred, &dc, &dk, GNUTLS_X509_FMT_PEM)) < 0)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "agent TLS credentials: %s",
                           gnutls_strerror(rc));
    have_ca = false;
    if (a->ca_pem) {
        gnutls_datum_t ca = {(unsigned char *)a->ca_pem, (unsigned)strlen(a->ca_pem)};
        have_ca = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM) > 0;
    }
    if (!have_ca)
        LOG_WARN("agent: no cluster CA: every logs/exec/attach/port-forward request will be "
                 "refused (401)");
    int port = listen_on(a->node_ip, a->port, err);
    if (port < 0) {
        gnutls_certificate_free_credentials(cred);
        return -1;
    }
    a->port = port;
    if (pthread_create(&accept_thread, NULL, accept_main, a) != 0) {
        close(http_fd);
        gnutls_certificate_free_credentials(cred);
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "cannot start the HTTPS thread");
    }
    return 0;
}

void agent__http_stop(struct agent *a)
{
    (void)a;
    pthread_join(accept_thread, NULL);
    close(http_fd);
    gnutls_certificate_free_credentials(cred);
}
