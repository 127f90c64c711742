/* The cluster DNS server: one thread polling a UDP socket, a TCP listener with its
 * connections, and the sockets of queries relayed to upstream resolvers. Answers come from a
 * reference-counted table the caller swaps atomically; nothing a client sends can block the
 * loop (every socket is non-blocking, TCP connections and relayed queries have deadlines). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/mem.h"
#include "net/dns_internal.h"
#include "net/net.h"

#define MAX_CONNS 64
#define MAX_FORWARDS 64
#define MAX_UPSTREAMS 3
#define TCP_IDLE_MS 10000 /* RFC 7766 recommends closing idle connections after seconds */
#define FORWARD_MS 2000   /* per upstream, then the next one, then SERVFAIL */
#define MSG_MAX 65535
#define BATCH 32
#define QUERY_MAX 4096 /* a UDP query beyond this is cut (and answered FORMERR) */

struct conn {
    int fd;
    uint64_t id; /* distinguishes connections that reuse a slot */
    uint8_t *in; /* 2-byte length + message */
    size_t in_len;
    struct buf out;
    size_t out_off;
    uint64_t deadline_ms;
};

struct forward {
    int fd; /* -1: slot free */
    uint16_t client_id, id;
    struct sockaddr_in client; /* UDP client */
    uint64_t conn_id;          /* TCP client: its conn's id (0: a UDP client) */
    size_t upstream;
    uint64_t deadline_ms;
    uint8_t *query;
    size_t len;
};

struct net_dns_server {
    int udp, tcp, wake[2];
    unsigned port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards table */
    struct net_dns_table *table;
    struct sockaddr_in upstreams[MAX_UPSTREAMS];
    size_t n_upstreams;
    struct conn conns[MAX_CONNS];
    uint64_t next_conn_id;
    struct forward fwd[MAX_FORWARDS];
    struct buf scratch;
    /* UDP in batches (recvmmsg/sendmmsg): one system call for many queries under load */
    struct mmsghdr in_msgs[BATCH], out_msgs[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    struct sockaddr_in from[BATCH];
    struct buf out[BATCH];
    uint8_t in_buf[BATCH][QUERY_MAX];
};

static uint64_t now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

static uint16_t random_id(void)
{
    uint16_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
        v = (uint16_t)clock_mono_ns();
    return v;
}

static struct conn *conn_by_id(struct net_dns_server *s, uint64_t id)
{
    for (size_t i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].fd >= 0 && s->conns[i].id == id)
            return &s->conns[i];
    return NULL;
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
    free(c->in);
    c->in = NULL;
    buf_free(&c->out);
    c->in_len = c->out_off = 0;
}

/* Queues a framed answer on a TCP connection. */
static void conn_send(struct conn *c, const void *msg, size_t len)
{
    uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    buf_append(&c->out, l, 2);
    buf_append(&c->out, msg, len);
}

static void reply(struct net_dns_server *s, const struct sockaddr_in *client, struct conn *c,
                  const void *msg, size_t len)
{
    if (c)
        conn_send(c, msg, len);
    else
        sendto(s->udp, msg, len, MSG_DONTWAIT, (const struct sockaddr *)client, sizeof(*client));
}

/* Sends f's query (with our id) to its current upstream; -1 when it cannot. */
static int forward_send(struct forward *f, const struct sockaddr_in *upstreams)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->fd < 0)
        return -1;
    const struct sockaddr_in *to = &upstreams[f->upstream];
    f->id = random_id();
    f->query[0] = (uint8_t)(f->id >> 8);
    f->query[1] = (uint8_t)f->id;
    f->deadline_ms = now_ms() + FORWARD_MS;
    if (connect(f->fd, (const struct sockaddr *)to, sizeof(*to)) < 0 ||
        send(f->fd, f->query, f->len, 0) < 0)
        return -1;
    return 0;
}

static void forward_free(struct forward *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->query);
    f->query = NULL;
}

/* No upstream answered: SERVFAIL to the client. */
static void forward_fail(struct net_dns_server *s, struct forward *f)
{
    f->query[0] = (uint8_t)(f->client_id >> 8);
    f->query[1] = (uint8_t)f->client_id;
    struct conn *c = f->conn_id ? conn_by_id(s, f->conn_id) : NULL;
    if (net_dns_servfail(f->query, f->len, &s->scratch) == NET_DNS_REPLY && (c || !f->conn_id))
        reply(s, &f->client, c, s->scratch.data, s->scratch.len);
    forward_free(f);
}

static void forward_start(struct net_dns_server *s, const uint8_t *msg, size_t len,
                          const struct sockaddr_in *client, struct conn *c)
{
    struct forward *f = NULL;
    for (size_t i = 0; i < MAX_FORWARDS && !f; i++)
        if (s->fwd[i].fd < 0 && !s->fwd[i].query)
            f = &s->fwd[i];
    if (!f) { /* too many in flight: fail fast rather than queue without bound */
        if (net_dns_servfail(msg, len, &s->scratch) == NET_DNS_REPLY)
            reply(s, client, c, s->scratch.data, s->scratch.len);
        return;
    }
    f->client_id = (uint16_t)(msg[0] << 8 | msg[1]);
    f->conn_id = c ? c->id : 0;
    if (client)
        f->client = *client;
    f->query = xmalloc(len);
    memcpy(f->query, msg, len);
    f->len = len;
    f->upstream = 0;
    while (forward_send(f, s->upstreams) < 0) {
        if (++f->upstream == s->n_upstreams) {
            forward_fail(s, f);
            return;
        }
    }
}

static void forward_receive(struct net_dns_server *s, struct forward *f)
{
    uint8_t msg[MSG_MAX];
    ssize_t n = recv(f->fd, msg, sizeof(msg), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* Only a well-formed answer with our id goes back; anything else is ignored and the
     * deadline decides. */
    if (n < 12 || (uint16_t)(msg[0] << 8 | msg[1]) != f->id || !(msg[2] & 0x80) ||
        net_dns_check_message(msg, (size_t)n) < 0) {
        if (n < 0 && ++f->upstream < s->n_upstreams && forward_send(f, s->upstreams) == 0)
            return;
        if (n < 0)
            forward_fail(s, f);
        return;
    }
    msg[0] = (uint8_t)(f->client_id >> 8);
    msg[1] = (uint8_t)f->client_id;
    struct conn *c = f->conn_id ? conn_by_id(s, f->conn_id) : NULL;
    if (c || !f->conn_id)
        reply(s, &f->client, c, msg, (size_t)n);
    forward_free(f);
}

/* The current table (a new reference, or NULL). */
static struct net_dns_table *table_get(struct net_dns_server *s)
{
    pthread_mutex_lock(&s->lock);
    struct net_dns_table *t = s->table ? net_dns_table_ref(s->table) : NULL;
    pthread_mutex_unlock(&s->lock);
    return t;
}

/* Answers one query from a TCP connection. */
static void handle_tcp(struct net_dns_server *s, const uint8_t *msg, size_t len, struct conn *c)
{
    struct net_dns_table *t = table_get(s);
    enum net_dns_action a = net_dns_answer(t, msg, len, true, s->n_upstreams > 0, &s->scratch);
    net_dns_table_unref(t);
    if (a == NET_DNS_REPLY)
        conn_send(c, s->scratch.data, s->scratch.len);
    else if (a == NET_DNS_FORWARD)
        forward_start(s, msg, len, NULL, c);
}

/* Reads what waits on the UDP socket, a batch at a time, and sends the answers back in one
 * call per batch. */
static void udp_read(struct net_dns_server *s)
{
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < BATCH; i++) {
            s->in_iov[i] = (struct iovec){s->in_buf[i], QUERY_MAX};
            s->in_msgs[i].msg_hdr = (struct msghdr){.msg_name = &s->from[i],
                                                    .msg_namelen = sizeof(s->from[i]),
                                                    .msg_iov = &s->in_iov[i],
                                                    .msg_iovlen = 1};
        }
        int n = recvmmsg(s->udp, s->in_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        struct net_dns_table *t = table_get(s);
        unsigned out = 0;
        for (int i = 0; i < n; i++) {
            const struct msghdr *h = &s->in_msgs[i].msg_hdr;
            if (h->msg_namelen != sizeof(struct sockaddr_in) || s->from[i].sin_family != AF_INET)
                continue;
            size_t len = s->in_msgs[i].msg_len;
            enum net_dns_action a =
                net_dns_answer(t, s->in_buf[i], len, false, s->n_upstreams > 0, &s->out[out]);
            if (a == NET_DNS_FORWARD) {
                forward_start(s, s->in_buf[i], len, &s->from[i], NULL);
            } else if (a == NET_DNS_REPLY) {
                s->out_iov[out] = (struct iovec){s->out[out].data, s->out[out].len};
                s->out_msgs[out].msg_hdr = (struct msghdr){.msg_name = &s->from[i],
                                                           .msg_namelen = sizeof(s->from[i]),
                                                           .msg_iov = &s->out_iov[out],
                                                           .msg_iovlen = 1};
                out++;
            }
        }
        net_dns_table_unref(t);
        for (unsigned sent = 0; sent < out;) {
            int r = sendmmsg(s->udp, s->out_msgs + sent, out - sent, MSG_DONTWAIT);
            if (r <= 0)
                break; /* a full send buffer: those answers are lost, the clients retry */
            sent += (unsigned)r;
        }
        if (n < BATCH)
            return;
    }
}

static void tcp_accept(struct net_dns_server *s)
{
    int fd = accept4(s->tcp, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (size_t i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->fd >= 0)
            continue;
        c->fd = fd;
        c->id = ++s->next_conn_id;
        c->in = xmalloc(2 + MSG_MAX);
        c->deadline_ms = now_ms() + TCP_IDLE_MS;
        return;
    }
    close(fd); /* full: the client retries or gives up */
}

/* Reads what is there and answers every complete message. -1: close the connection. */
static int conn_read(struct net_dns_server *s, struct conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, 2 + MSG_MAX - c->in_len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    if (n < 0)
        return 0;
    c->in_len += (size_t)n;
    c->deadline_ms = now_ms() + TCP_IDLE_MS;
    while (c->in_len >= 2) {
        size_t mlen = (size_t)c->in[0] << 8 | c->in[1];
        if (c->in_len < 2 + mlen)
            break;
        handle_tcp(s, c->in + 2, mlen, c);
        memmove(c->in, c->in + 2 + mlen, c->in_len - 2 - mlen);
        c->in_len -= 2 + mlen;
    }
    return 0;
}

static int conn_write(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->out_off += (size_t)n;
    }
    buf_reset(&c->out);
    c->out_off = 0;
    return 0;
}

enum { SLOT_WAKE, SLOT_UDP, SLOT_TCP, SLOT_FIXED };

static void *serve(void *opaque)
{
    struct net_dns_server *s = opaque;
    struct pollfd pfd[SLOT_FIXED + MAX_CONNS + MAX_FORWARDS];
    void *owner[SLOT_FIXED + MAX_CONNS + MAX_FORWARDS];
    while (!atomic_load(&s->stop)) {
        size_t n = SLOT_FIXED;
        pfd[SLOT_WAKE] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        pfd[SLOT_UDP] = (struct pollfd){.fd = s->udp, .events = POLLIN};
        pfd[SLOT_TCP] = (struct pollfd){.fd = s->tcp, .events = POLLIN};
        uint64_t now = now_ms(), next = now + 1000;
        for (size_t i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &s->conns[i];
            if (c->fd < 0)
                continue;
            if (c->deadline_ms <= now) {
                conn_close(c);
                continue;
            }
            next = c->deadline_ms < next ? c->deadline_ms : next;
            short ev = (short)(POLLIN | (c->out.len > c->out_off ? POLLOUT : 0));
            owner[n] = c;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        for (size_t i = 0; i < MAX_FORWARDS; i++) {
            struct forward *f = &s->fwd[i];
            if (!f->query)
                continue;
            if (f->deadline_ms <= now) {
                if (++f->upstream < s->n_upstreams && forward_send(f, s->upstreams) == 0)
                    ; /* the next upstream's turn */
                else
                    forward_fail(s, f);
                if (!f->query)
                    continue;
            }
            next = f->deadline_ms < next ? f->deadline_ms : next;
            owner[n] = f;
            pfd[n++] = (struct pollfd){.fd = f->fd, .events = POLLIN};
        }
        int rc = poll(pfd, n, (int)(next > now ? next - now : 0));
        if (rc <= 0)
            continue;
        if (pfd[SLOT_WAKE].revents)
            break;
        if (pfd[SLOT_UDP].revents & POLLIN)
            udp_read(s);
        if (pfd[SLOT_TCP].revents & POLLIN)
            tcp_accept(s);
        for (size_t i = SLOT_FIXED; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            if (owner[i] >= (void *)s->conns && owner[i] < (void *)(s->conns + MAX_CONNS)) {
                struct conn *c = owner[i];
                if (c->fd != pfd[i].fd)
                    continue; /* closed (and maybe reused) since the poll */
                int bad = (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) ? conn_read(s, c) : 0;
                /* Answers first, even when the client has closed its side after asking. */
                int wbad = conn_write(c);
                if (bad < 0 || wbad < 0)
                    conn_close(c);
            } else {
                struct forward *f = owner[i];
                if (f->query && f->fd == pfd[i].fd)
                    forward_receive(s, f);
            }
        }
    }
    return NULL;
}

static int bind_socket(int type, const struct sockaddr_in *addr, struct k8c_err **err)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return k8c_err_errno(err, "dns: socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    char ip[16];
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ||
        (type == SOCK_STREAM && listen(fd, 64) < 0)) {
        k8c_err_errno(err, "dns: listen on %s:%u/%s",
                      net_ip_format(ntohl(addr->sin_addr.s_addr), ip), ntohs(addr->sin_port),
                      type == SOCK_STREAM ? "tcp" : "udp");
        close(fd);
        return -1;
    }
    return fd;
}

/* "a.b.c.d" (port 53) or "a.b.c.d:port". */
static int parse_upstream(const char *text, struct sockaddr_in *out, struct k8c_err **err)
{
    char ip[16];
    unsigned port = 53;
    const char *colon = strchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : strlen(text);
    char *end = NULL;
    if (colon)
        port = (unsigned)strtoul(colon + 1, &end, 10);
    uint32_t addr;
    if (n >= sizeof(ip) || (colon && (*end || port < 1 || port > 65535)))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "dns: bad upstream \"%s\"", text);
    memcpy(ip, text, n);
    ip[n] = '\0';
    if (net_ip_parse(ip, &addr, err) < 0)
        return k8c_err_wrap(err, "dns: upstream");
    *out = (struct sockaddr_in){
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(addr)};
    return 0;
}

struct net_dns_server *net_dns_server_start(const struct net_dns_server_config *cfg,
                                            struct net_dns_table *table_take, struct k8c_err **err)
{
    struct net_dns_server *s = xcalloc(1, sizeof(*s));
    s->udp = s->tcp = s->wake[0] = s->wake[1] = -1;
    s->table = table_take;
    pthread_mutex_init(&s->lock, NULL);
    for (size_t i = 0; i < MAX_CONNS; i++)
        s->conns[i].fd = -1;
    for (size_t i = 0; i < MAX_FORWARDS; i++)
        s->fwd[i].fd = -1;
    for (size_t i = 0; i < cfg->n_upstreams && s->n_upstreams < MAX_UPSTREAMS; i++)
        if (parse_upstream(cfg->upstreams[i], &s->upstreams[s->n_upstreams++], err) < 0)
            goto fail;
    uint32_t ip;
    if (cfg->port > 65535 || net_ip_parse(cfg->listen_ip, &ip, err) < 0) {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "dns: bad listen address %s:%u",
                    cfg->listen_ip ? cfg->listen_ip : "", cfg->port);
        goto fail;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)cfg->port),
                               .sin_addr.s_addr = htonl(ip)};
    if ((s->tcp = bind_socket(SOCK_STREAM, &addr, err)) < 0)
        goto fail;
    socklen_t al = sizeof(addr);
    getsockname(s->tcp, (struct sockaddr *)&addr, &al);
    s->port = ntohs(addr.sin_port);
    /* UDP on the same port as TCP (the port TCP got when 0 was asked for). */
    if ((s->udp = bind_socket(SOCK_DGRAM, &addr, err)) < 0)
        goto fail;
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        k8c_err_errno(err, "dns: pipe");
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, serve, s) != 0) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "dns: cannot start the server thread");
        goto fail;
    }
    return s;
fail:
    if (s->udp >= 0)
        close(s->udp);
    if (s->tcp >= 0)
        close(s->tcp);
    if (s->wake[0] >= 0)
        close(s->wake[0]), close(s->wake[1]);
    net_dns_table_unref(s->table);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

void net_dns_server_set_table(struct net_dns_server *s, struct net_dns_table *table_take)
{
    pthread_mutex_lock(&s->lock);
    struct net_dns_table *old = s->table;
    s->table = table_take;
    pthread_mutex_unlock(&s->lock);
    net_dns_table_unref(old);
}

unsigned net_dns_server_port(const struct net_dns_server *s)
{
    return s->port;
}

void net_dns_server_stop(struct net_dns_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    ssize_t w = write(s->wake[1], "x", 1);
    (void)w; /* a full pipe already wakes the loop */
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < MAX_CONNS; i++)
        if (s->conns[i].fd >= 0)
            conn_close(&s->conns[i]);
    for (size_t i = 0; i < MAX_FORWARDS; i++)
        forward_free(&s->fwd[i]);
    close(s->udp);
    close(s->tcp);
    close(s->wake[0]);
    close(s->wake[1]);
    buf_free(&s->scratch);
    for (size_t i = 0; i < BATCH; i++)
        buf_free(&s->out[i]);
    net_dns_table_unref(s->table);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int net_dns_read_resolv_conf(const char *path, char **out, size_t max, struct k8c_err **err)
{
    if (access(path, F_OK) < 0)
        return 0;
    _cleanup_free_ char *text = file_read_all(path, 1 << 20, NULL, err);
    if (!text)
        return k8c_err_wrap(err, "dns: read `%s`", path);
    size_t n = 0;
    for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        char word[16], addr[64];
        uint32_t ip;
        if (sscanf(line, " %15s %63s", word, addr) == 2 && strcmp(word, "nameserver") == 0 &&
            net_ip_parse(addr, &ip, NULL) == 0)
            out[n++] = xstrdup(addr);
    }
    return (int)n;
}
