/* Streaming subresources (pods/<name>/exec, attach, portforward, log) proxied to the node
 * agent, built once here so the agent only serves its end: the request goes to the agent
 * of the pod's node with kubelet's paths (/exec/<ns>/<pod>/<container>?…,
 * /attach/…, /portForward/<ns>/<pod>, /containerLogs/<ns>/<pod>/<container>?…) and the
 * upgrade headers kubectl sent (WebSocket v5.channel.k8s.io, SPDY/3.1, the portforward
 * protocols); a 101 answer turns both connections into a byte pipe (server.c), anything
 * else is relayed as the response. The agent's address is the node's annotation
 * k8c.io/agent-url (http:// or https://) or, as Kubernetes does, https://<InternalIP>:
 * <status.daemonEndpoints.kubeletEndpoint.Port>; over https the API server presents its
 * admin certificate (O=system:masters, which the agent requires) and checks the agent's
 * self-signed certificate against the SHA-256 in the Node's k8c.io/agent-cert-sha256
 * annotation, or, without one, against the cluster CA. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/status.h"
#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/tlsio.h"

#define CONNECT_TIMEOUT_MS 5000
#define HEAD_MAX (16 * 1024)
#define IO_TIMEOUT_MS 30000

void apiserver__agent_close(struct apiserver_agent_conn *c)
{
    if (!c)
        return;
    if (c->tls) {
        gnutls_bye(c->tls, GNUTLS_SHUT_WR);
        gnutls_deinit(c->tls);
    }
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    if (c->fd >= 0)
        close(c->fd);
    free(c->head);
    free(c);
}

ssize_t apiserver__agent_read(struct apiserver_agent_conn *c, void *buf, size_t n)
{
    return tlsio_read(c->fd, c->tls, buf, n);
}

int apiserver__agent_write(struct apiserver_agent_conn *c, const void *buf, size_t n)
{
    return tlsio_write(c->fd, c->tls, buf, n);
}

bool apiserver__agent_pending(struct apiserver_agent_conn *c)
{
    return c->tls && gnutls_record_check_pending(c->tls) > 0;
}

/* Where the agent of node `name` listens. Fills scheme ("http"/"https"), host, port; or
 * answers resp and returns -1. */
static int agent_address(struct apiserver_core *core, const char *node, bool *tls, char *host,
                         size_t hsize, char *port, size_t psize, char pin[65],
                         struct apiserver_resp *resp)
{
    const struct api_kind *nk = api_kind_by_resource("", "v1", "nodes");
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *n = apiserver__object_read(core, nk, NULL, node, NULL, &e);
    _cleanup_free_ char *m = NULL;
    if (n) {
        json_t *ann = kjson_path(n, "metadata.annotations");
        const char *url = json_string_value(json_object_get(ann, "k8c.io/agent-url"));
        const char *sum = json_string_value(json_object_get(ann, "k8c.io/agent-cert-sha256"));
        snprintf(pin, 65, "%s", sum && strlen(sum) == 64 ? sum : "");
        if (url) {
            *tls = strncmp(url, "https://", 8) == 0;
            const char *hp = strstr(url, "://");
            hp = hp ? hp + 3 : url;
            const char *colon = strrchr(hp, ':');
            const char *slash = strchr(hp, '/');
            size_t hl = colon ? (size_t)(colon - hp) : strlen(hp);
            if (colon && hl < hsize && (!slash || slash > colon)) {
                memcpy(host, hp, hl);
                host[hl] = '\0';
                snprintf(port, psize, "%.*s", slash ? (int)(slash - colon - 1) : 8, colon + 1);
                return 0;
            }
        }
        json_t *kp = kjson_path(n, "status.daemonEndpoints.kubeletEndpoint.Port");
        size_t i;
        json_t *a;
        json_array_foreach (kjson_path(n, "status.addresses"), i, a) {
            const char *type = kjson_path_str(a, "type");
            const char *addr = kjson_path_str(a, "address");
            if (type && addr && strcmp(type, "InternalIP") == 0 && json_is_integer(kp) &&
                json_integer_value(kp) > 0) {
                *tls = true;
                snprintf(host, hsize, "%s", addr);
                snprintf(port, psize, "%lld", (long long)json_integer_value(kp));
                return 0;
            }
        }
        m = xasprintf("node \"%s\" has no agent connected to this API server (no "
                      "k8c.io/agent-url annotation nor kubelet endpoint)",
                      node);
    } else {
        m = xasprintf("node \"%s\" has no agent connected to this API server (the node is not "
                      "registered)",
                      node);
    }
    apiserver__resp_status(resp, 503, "ServiceUnavailable", m, NULL, NULL, NULL);
    return -1;
}

static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof(err);
            if (poll(&p, 1, CONNECT_TIMEOUT_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                rc = 0;
        }
        /* Back to blocking; the head exchange is bounded by socket timeouts. */
        if (rc < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
            close(fd);
            fd = -1;
            continue;
        }
        struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    freeaddrinfo(res);
    return fd;
}

/* Whether the agent's certificate has the SHA-256 (hex) its Node published. */
static bool peer_matches_pin(gnutls_session_t tls, const char *pin)
{
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(tls, &n);
    if (!peers || n == 0)
        return false;
    unsigned char sum[32];
    char hex[65];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, peers[0].data, peers[0].size, sum);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    return strcasecmp(hex, pin) == 0;
}

/* TLS to the agent with the admin client certificate. The agent's certificate is checked
 * against the digest its Node published (pin; a self-signed agent certificate) or else
 * against the cluster CA and host. */
static int tls_start(struct apiserver_agent_conn *c, const char *host,
                     const struct apiserver_certs *certs, const char *pin)
{
    gnutls_datum_t ca = {(unsigned char *)certs->ca_crt, (unsigned)strlen(certs->ca_crt)};
    gnutls_datum_t crt = {(unsigned char *)certs->admin_crt, (unsigned)strlen(certs->admin_crt)};
    gnutls_datum_t key = {(unsigned char *)certs->admin_key, (unsigned)strlen(certs->admin_key)};
    if (gnutls_certificate_allocate_credentials(&c->cred) < 0 ||
        gnutls_certificate_set_x509_trust_mem(c->cred, &ca, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_certificate_set_x509_key_mem(c->cred, &crt, &key, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_init(&c->tls, GNUTLS_CLIENT) < 0 || gnutls_set_default_priority(c->tls) < 0 ||
        gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred) < 0)
        return -1;
    if (!*pin)
        gnutls_session_set_verify_cert(c->tls, host, 0);
    gnutls_transport_set_int(c->tls, c->fd);
    int rc;
    do
        rc = gnutls_handshake(c->tls);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0 || (*pin && !peer_matches_pin(c->tls, pin)))
        return -1;
    return 0;
}

static void pct_encode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            buf_append_char(b, (char)c);
        } else {
            buf_append_char(b, '%');
            buf_append_char(b, hex[c >> 4]);
            buf_append_char(b, hex[c & 15]);
        }
    }
}

/* The container a request means: ?container=, the default-container annotation, or the
 * first container. */
static const char *container_of(const struct apiserver_req *req, const json_t *pod)
{
    const char *c = apiserver__param(req, "container");
    if (c && *c)
        return c;
    json_t *ann = kjson_path(pod, "metadata.annotations");
    c = json_string_value(json_object_get(ann, "kubectl.kubernetes.io/default-container"));
    if (c)
        return c;
    return kjson_path_str(json_array_get(kjson_path(pod, "spec.containers"), 0), "name");
}

void apiserver__serve_stream(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp)
{
    const struct api_kind *k = route->kind;
    const char *sub = route->subresource;
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *pod = apiserver__object_read(core, k, route->ns, route->name, NULL, &e);
    if (!pod) {
        char q[128];
        apiserver__qualified(k, q, sizeof(q));
        _cleanup_json_ json_t *st = api_status_from_err(e, q, route->name);
        apiserver__resp_json(resp, k8c_reason_http_code(e->reason), st);
        return;
    }
    const char *node = kjson_path_str(pod, "spec.nodeName");
    if (!node || !*node) {
        _cleanup_free_ char *m = xasprintf("pod %s does not have a host assigned", route->name);
        apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
        return;
    }
    bool is_log = strcmp(sub, "log") == 0;
    bool is_pf = strcmp(sub, "portforward") == 0;
    const char *container = container_of(req, pod);
    if (!is_pf && (!container || !*container)) {
        apiserver__resp_status(resp, 400, "BadRequest", "a container name must be specified", NULL,
                               NULL, NULL);
        return;
    }
    if (!core->certs || req->conn_fd < 0) {
        _cleanup_free_ char *m = xasprintf("%s/%s cannot be proxied in-process", k->resource, sub);
        apiserver__resp_status(resp, 503, "ServiceUnavailable", m, NULL, NULL, NULL);
        return;
    }
    bool tls = false;
    char host[256], port[16], pin[65] = "";
    if (agent_address(core, node, &tls, host, sizeof(host), port, sizeof(port), pin, resp) < 0)
        return;
    struct apiserver_agent_conn *c = xcalloc(1, sizeof(*c));
    c->fd = tcp_connect(host, port);
    if (c->fd < 0 || (tls && tls_start(c, host, core->certs, pin) < 0)) {
        apiserver__agent_close(c);
        _cleanup_free_ char *m =
            xasprintf("error dialing the agent of node \"%s\" at %s:%s", node, host, port);
        apiserver__resp_status(resp, 502, "ServiceUnavailable", m, NULL, NULL, NULL);
        resp->out.code = 502;
        return;
    }
    /* The request line with kubelet's path. Logs use HTTP/1.0 so the body ends at EOF. */
    struct buf rq = BUF_INIT;
    const char *kpath = is_log ? "containerLogs" : is_pf ? "portForward" : sub;
    buf_appendf(&rq, "%s /%s/", is_log ? "GET" : req->method, kpath);
    pct_encode(&rq, route->ns);
    buf_append_char(&rq, '/');
    pct_encode(&rq, route->name);
    if (!is_pf) {
        buf_append_char(&rq, '/');
        pct_encode(&rq, container);
    }
    for (size_t i = 0; i < req->n_params; i++) {
        buf_append_char(&rq, i ? '&' : '?');
        pct_encode(&rq, req->params[i].key);
        buf_append_char(&rq, '=');
        pct_encode(&rq, req->params[i].value);
    }
    buf_appendf(&rq, " HTTP/1.%d\r\nHost: %s:%s\r\nUser-Agent: k8c-apiserver\r\n", is_log ? 0 : 1,
                host, port);
    if (req->forward_headers)
        buf_append_str(&rq, req->forward_headers);
    buf_append_str(&rq, "\r\n");
    int wrc = apiserver__agent_write(c, rq.data, rq.len);
    buf_free(&rq);
    /* The answer's head; what follows it stays in c->head for the pipe or the body. */
    c->head = xmalloc(HEAD_MAX + 1);
    size_t got = 0;
    char *end = NULL;
    while (wrc == 0 && got < HEAD_MAX) {
        ssize_t r = apiserver__agent_read(c, c->head + got, HEAD_MAX - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        c->head[got] = '\0';
        if ((end = strstr(c->head, "\r\n\r\n")))
            break;
    }
    int code = 0;
    if (!end || sscanf(c->head, "HTTP/1.%*d %d", &code) != 1 || code < 100 || code > 599) {
        apiserver__agent_close(c);
        _cleanup_free_ char *m = xasprintf("the agent of node \"%s\" sent no valid HTTP "
                                           "answer",
                                           node);
        apiserver__resp_status(resp, 502, "ServiceUnavailable", m, NULL, NULL, NULL);
        resp->out.code = 502;
        return;
    }
    c->head_len = (size_t)(end + 4 - c->head);
    c->extra = c->head + c->head_len;
    c->extra_len = got - c->head_len;
    c->status = code;
    resp->proxy = c;
    resp->out.code = code;
}
