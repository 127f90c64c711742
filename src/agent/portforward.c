/* portForward/<ns>/<pod>: kubectl's port-forward, over SPDY/3.1 (in WebSocket binary messages
 * with subprotocol SPDY/3.1+portforward.k8s.io, kubectl 1.32's first choice, or raw after
 * `Upgrade: SPDY/3.1`) or over plain WebSocket channels (portforward.k8s.io /
 * v4.channel.k8s.io with ?ports=…).
 *
 * SPDY: per local connection kubectl opens an error stream and a data stream carrying headers
 * port and requestid. Every stream gets a SYN_REPLY. The data stream is joined to a TCP
 * connection to 127.0.0.1:port made inside the pod's network namespace (<pod dir>/ns/net:
 * setns in this thread, socket(2), setns back: the socket keeps the pod's namespace). The
 * pod's EOF ends the data stream with an empty FIN; only a failure writes text on the error
 * stream (kubectl 1.32 treats any text there as fatal), in kubelet's words.
 *
 * WebSocket channels: for the i-th port of ?ports, channel 2i carries data and 2i+1 errors;
 * each channel's first message from the server is the port (uint16 little endian). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/spdy.h"
#include "agent/stream.h"
#include "base/json.h"
#include "base/mem.h"

#define PF_MAX_STREAMS 128
#define PF_CHUNK 32768

struct pf_stream {
    uint32_t id;
    bool is_data;
    int port;
    char reqid[32];
    int fd; /* data streams: the connection in the pod, -1 when done */
};

struct pf {
    struct sconn *c;
    bool ws;     /* SPDY inside WebSocket binary messages */
    char *netns; /* <pod dir>/ns/net */
    const char *pod, *uid;
    struct spdy *sp;
    struct buf raw;           /* SPDY bytes not yet parsed */
    struct buf wsin, payload; /* WebSocket bytes not yet parsed; one message */
    struct pf_stream streams[PF_MAX_STREAMS];
    size_t n;
    bool done;
};

static int pf_send(void *ctx, const void *data, size_t len)
{
    struct pf *p = ctx;
    return p->ws ? ws_send(p->c, 2, -1, data, len) : sconn_write(p->c, data, len);
}

/* A TCP connection to 127.0.0.1:port in the network namespace at netns (NULL or missing: the
 * agent's own). Returns the fd, or -1 with why in msg. */
static int connect_in_pod(const char *netns, int port, char *msg, size_t msize)
{
    int self = -1, target = -1, fd = -1;
    if (netns && access(netns, F_OK) == 0) {
        self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        target = open(netns, O_RDONLY | O_CLOEXEC);
        if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0) {
            snprintf(msg, msize, "failed to enter the pod's network namespace: %s",
                     strerror(errno));
            goto out;
        }
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int saved = errno;
    if (self >= 0 && setns(self, CLONE_NEWNET) < 0)
        abort(); /* this thread would serve everything else from the pod's network */
    if (fd < 0) {
        snprintf(msg, msize, "socket: %s", strerror(saved));
        goto out;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(msg, msize, "failed to connect to localhost:%d inside namespace \"%s\", IPv4: %s",
                 port, netns ? netns : "", strerror(errno));
        close(fd);
        fd = -1;
    }
out:
    if (self >= 0)
        close(self);
    if (target >= 0)
        close(target);
    return fd;
}

static struct pf_stream *find(struct pf *p, uint32_t id)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->streams[i].id == id)
            return &p->streams[i];
    return NULL;
}

static struct pf_stream *error_stream_of(struct pf *p, const char *reqid)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->streams[i].is_data && strcmp(p->streams[i].reqid, reqid) == 0)
            return &p->streams[i];
    return NULL;
}

static void drop(struct pf *p, struct pf_stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    *s = p->streams[--p->n];
}

/* Ends the data stream s: its FIN, and the silent end of its error stream. */
static void end_data(struct pf *p, struct pf_stream *s, const char *failure)
{
    struct pf_stream *e = error_stream_of(p, s->reqid);
    if (e) {
        if (failure) {
            _cleanup_free_ char *m = xasprintf("error forwarding port %d to pod %s, uid %s: %s",
                                               s->port, p->pod, p->uid, failure);
            spdy_data(p->sp, e->id, m, strlen(m), true);
        } else {
            spdy_data(p->sp, e->id, "", 0, true);
        }
        drop(p, e);
        s = find(p, s->id); /* drop moved entries */
    }
    if (!s)
        return;
    spdy_data(p->sp, s->id, "", 0, true);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

static void on_syn_stream(struct pf *p, const struct spdy_frame *f)
{
    if (f->len < 10)
        return;
    _cleanup_json_ json_t *h = spdy_headers(p->sp, f->data + 10, f->len - 10);
    if (!h) {
        p->done = true; /* the compression context is lost: the session cannot go on */
        return;
    }
    spdy_syn_reply(p->sp, f->stream);
    if (p->n == PF_MAX_STREAMS) {
        spdy_data(p->sp, f->stream, "", 0, true);
        return;
    }
    const char *type = json_string_value(json_object_get(h, "streamtype"));
    const char *port = json_string_value(json_object_get(h, "port"));
    const char *reqid = json_string_value(json_object_get(h, "requestid"));
    struct pf_stream *s = &p->streams[p->n++];
    memset(s, 0, sizeof(*s));
    s->id = f->stream;
    s->fd = -1;
    s->is_data = type && strcmp(type, "data") == 0;
    s->port = port ? atoi(port) : 0;
    snprintf(s->reqid, sizeof(s->reqid), "%s", reqid ? reqid : "");
    if (!s->is_data)
        return;
    char msg[512];
    if (s->port <= 0 || s->port > 65535) {
        snprintf(msg, sizeof(msg), "invalid port \"%s\"", port ? port : "");
        end_data(p, s, msg);
        return;
    }
    s->fd = connect_in_pod(p->netns, s->port, msg, sizeof(msg));
    if (s->fd < 0)
        end_data(p, s, msg);
}

static void on_frame(struct pf *p, const struct spdy_frame *f)
{
    if (!f->control) {
        struct pf_stream *s = find(p, f->stream);
        if (!s || !s->is_data || s->fd < 0)
            return;
        size_t off = 0;
        while (off < f->len) {
            ssize_t w = send(s->fd, f->data + off, f->len - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                end_data(p, s, NULL);
                return;
            }
            off += (size_t)w;
        }
        if (f->flags & SPDY_FLAG_FIN)
            shutdown(s->fd, SHUT_WR);
        return;
    }
    switch (f->type) {
    case SPDY_SYN_STREAM: on_syn_stream(p, f); break;
    case SPDY_RST_STREAM: {
        struct pf_stream *s = find(p, f->stream);
        if (s)
            drop(p, s);
        break;
    }
    case SPDY_PING: spdy_ping(p->sp, f->data, f->len); break;
    case SPDY_GOAWAY: p->done = true; break;
    default: /* SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do */ break;
    }
}

static void spdy_bytes(struct pf *p, const void *data, size_t len)
{
    buf_append(&p->raw, data, len);
    size_t used;
    struct spdy_frame f;
    while (!p->done && (used = agent__spdy_parse((uint8_t *)p->raw.data, p->raw.len, &f)) > 0) {
        on_frame(p, &f);
        memmove(p->raw.data, p->raw.data + used, p->raw.len - used);
        p->raw.len -= used;
    }
}

/* Takes bytes from the client: raw SPDY, or WebSocket messages carrying it. -1 when the
 * client closed. */
static int feed(struct pf *p, const void *data, size_t len)
{
    if (!p->ws) {
        spdy_bytes(p, data, len);
        return 0;
    }
    buf_append(&p->wsin, data, len);
    size_t used;
    uint8_t op;
    while (!p->done &&
           (used = agent__ws_parse((uint8_t *)p->wsin.data, p->wsin.len, &op, &p->payload)) > 0) {
        if (used == (size_t)-1)
            return -1;
        if (op == 9)
            ws_send(p->c, 10, -1, p->payload.data, p->payload.len);
        else if (op == 8)
            return -1;
        else if (op == 0 || op == 1 || op == 2)
            spdy_bytes(p, p->payload.data, p->payload.len);
        memmove(p->wsin.data, p->wsin.data + used, p->wsin.len - used);
        p->wsin.len -= used;
    }
    return 0;
}

static int client_bytes(struct pf *p)
{
    char chunk[PF_CHUNK];
    ssize_t r = sconn_read(p->c, chunk, sizeof(chunk));
    return r <= 0 ? -1 : feed(p, chunk, (size_t)r);
}

/* extra: what came with the request head. */
static void serve_spdy(struct pf *p, const char *extra, size_t extra_len)
{
    p->sp = spdy_new(pf_send, p);
    if (feed(p, extra, extra_len) < 0)
        p->done = true;
    struct pollfd pf[PF_MAX_STREAMS + 1];
    uint32_t ids[PF_MAX_STREAMS + 1];
    while (!p->done && !atomic_load(p->c->a->stop)) {
        size_t n = 0;
        pf[n++] = (struct pollfd){p->c->fd, POLLIN, 0};
        for (size_t i = 0; i < p->n; i++)
            if (p->streams[i].fd >= 0) {
                ids[n] = p->streams[i].id;
                pf[n++] = (struct pollfd){p->streams[i].fd, POLLIN, 0};
            }
        if (poll(pf, n, sconn_pending(p->c) ? 0 : 1000) < 0 && errno != EINTR)
            break;
        if ((pf[0].revents || sconn_pending(p->c)) && client_bytes(p) < 0)
            break;
        for (size_t i = 1; i < n && !p->done; i++) {
            if (!pf[i].revents)
                continue;
            struct pf_stream *s = find(p, ids[i]);
            if (!s || s->fd < 0)
                continue;
            char chunk[PF_CHUNK];
            ssize_t r = recv(s->fd, chunk, sizeof(chunk), 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                end_data(p, s, NULL);
            else if (spdy_data(p->sp, s->id, chunk, (size_t)r, false) < 0)
                p->done = true;
        }
    }
    while (p->n)
        drop(p, &p->streams[0]);
    spdy_free(p->sp);
}

/* WebSocket channels (portforward.k8s.io / v4.channel.k8s.io): one connection per port of
 * ?ports, opened now. */
static void serve_ws_channels(struct pf *p, const char *ports)
{
    int fds[16], port_of[16];
    size_t np = 0;
    _cleanup_free_ char *list = xstrdup(ports);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && np < 16;
         t = strtok_r(NULL, ",", &save))
        port_of[np++] = atoi(t);
    for (size_t i = 0; i < np; i++) {
        uint8_t le[2] = {(uint8_t)port_of[i], (uint8_t)(port_of[i] >> 8)};
        ws_send(p->c, 2, (int)(2 * i), le, 2);
        ws_send(p->c, 2, (int)(2 * i + 1), le, 2);
        char msg[512];
        fds[i] = port_of[i] > 0 && port_of[i] < 65536
                     ? connect_in_pod(p->netns, port_of[i], msg, sizeof(msg))
                     : (snprintf(msg, sizeof(msg), "invalid port %d", port_of[i]), -1);
        if (fds[i] < 0) {
            _cleanup_free_ char *m = xasprintf("error forwarding port %d to pod %s, uid %s: %s",
                                               port_of[i], p->pod, p->uid, msg);
            ws_send(p->c, 2, (int)(2 * i + 1), m, strlen(m));
        }
    }
    for (;;) {
        struct pollfd pf[17];
        pf[0] = (struct pollfd){p->c->fd, POLLIN, 0};
        for (size_t i = 0; i < np; i++)
            pf[i + 1] = (struct pollfd){fds[i], POLLIN, 0};
        if (poll(pf, np + 1, sconn_pending(p->c) ? 0 : 1000) < 0 && errno != EINTR)
            break;
        if (atomic_load(p->c->a->stop))
            break;
        bool gone = false;
        if (pf[0].revents || sconn_pending(p->c)) {
            char chunk[PF_CHUNK];
            ssize_t r = sconn_read(p->c, chunk, sizeof(chunk));
            if (r <= 0)
                break;
            buf_append(&p->wsin, chunk, (size_t)r);
            size_t used;
            uint8_t op;
            while ((used = agent__ws_parse((uint8_t *)p->wsin.data, p->wsin.len, &op,
                                           &p->payload)) > 0) {
                if (used == (size_t)-1 || op == 8) {
                    gone = true;
                    break;
                }
                const uint8_t *d = (const uint8_t *)p->payload.data;
                if (op == 9) {
                    ws_send(p->c, 10, -1, d, p->payload.len);
                } else if (p->payload.len > 1 && d[0] % 2 == 0 && d[0] / 2 < np &&
                           fds[d[0] / 2] >= 0) {
                    if (send(fds[d[0] / 2], d + 1, p->payload.len - 1, MSG_NOSIGNAL) < 0) {
                        close(fds[d[0] / 2]);
                        fds[d[0] / 2] = -1;
                    }
                }
                memmove(p->wsin.data, p->wsin.data + used, p->wsin.len - used);
                p->wsin.len -= used;
            }
        }
        for (size_t i = 0; i < np && !gone; i++) {
            if (fds[i] < 0 || !pf[i + 1].revents)
                continue;
            char chunk[PF_CHUNK];
            ssize_t r = recv(fds[i], chunk, sizeof(chunk), 0);
            if (r <= 0) {
                close(fds[i]);
                fds[i] = -1;
                gone = true; /* kubelet ends the session with the pod's connection */
            } else if (ws_send(p->c, 2, (int)(2 * i), chunk, (size_t)r) < 0) {
                gone = true;
            }
        }
        if (gone)
            break;
    }
    for (size_t i = 0; i < np; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    uint8_t close_code[2] = {0x03, 0xe8};
    ws_send(p->c, 8, -1, close_code, 2);
}

void agent__serve_portforward(struct sreq *r)
{
    _cleanup_free_ char *uid = stream_pod_uid(r, NULL);
    if (!uid)
        return;
    struct pf *p = xcalloc(1, sizeof(*p));
    p->c = r->c;
    p->pod = r->pod;
    p->uid = uid;
    p->netns = xasprintf("%s/pods/%s/ns/net", r->c->a->data_dir, uid);
    p->raw = p->wsin = p->payload = (struct buf)BUF_INIT;
    const char *up = http_header(r->head, "Upgrade");
    const char *ports = q_get(r->q, "ports");
    if (up && strcasecmp(up, "websocket") == 0 &&
        ws_offers(r->head, "SPDY/3.1+portforward.k8s.io")) {
        p->ws = true;
        if (ws_accept(r->c, r->head, "SPDY/3.1+portforward.k8s.io") == 0)
            serve_spdy(p, r->extra, r->extra_len);
    } else if (up && strcasecmp(up, "websocket") == 0 &&
               (ws_offers(r->head, "portforward.k8s.io") ||
                ws_offers(r->head, "v4.channel.k8s.io"))) {
        if (!ports || !*ports) {
            sconn_reply(r->c, 400, "Bad Request", "query parameter \"port\" is required\n");
        } else {
            buf_append(&p->wsin, r->extra, r->extra_len);
            const char *proto = ws_offers(r->head, "v4.channel.k8s.io") ? "v4.channel.k8s.io"
                                                                        : "portforward.k8s.io";
            if (ws_accept(r->c, r->head, proto) == 0)
                serve_ws_channels(p, ports);
        }
    } else if (up && strcasecmp(up, "SPDY/3.1") == 0) {
        const char *ok =
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
            "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n";
        if (sconn_write(r->c, ok, strlen(ok)) == 0)
            serve_spdy(p, r->extra, r->extra_len);
    } else {
        sconn_reply(r->c, 400, "Bad Request",
                    "Upgrade request required (SPDY/3.1, or WebSocket with "
                    "SPDY/3.1+portforward.k8s.io or portforward.k8s.io)\n");
    }
    buf_free(&p->raw);
    buf_free(&p->wsin);
    buf_free(&p->payload);
    free(p->netns);
    free(p);
}
