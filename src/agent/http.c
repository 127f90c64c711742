/* The agent's endpoint for what the API server proxies (kubelet's paths): GET
 * /containerLogs/<ns>/<pod>/<container>?follow&tailLines&timestamps&previous and
 * /exec/<ns>/<pod>/<container>?command=…&stdin&stdout&stderr over WebSocket
 * (v5.channel.k8s.io: channel 0 stdin, 1 stdout, 2 stderr, 3 the exit Status, 255 close of a
 * channel; then a close frame). Plain HTTP on 127.0.0.1 only, one thread per connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/internal.h"
#include "base/buf.h"
#include "base/codec.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#define HEAD_MAX 16384

static int http_fd = -1;
static pthread_t accept_thread;

struct conn {
    struct agent *a;
    int fd;
};

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void reply(int fd, int code, const char *reason, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason, strlen(body));
    write_all(fd, head, (size_t)n);
    write_all(fd, body, strlen(body));
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

struct query {
    char *keys[64], *vals[64];
    size_t n;
};

static const char *q_get(const struct query *q, const char *k)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->keys[i], k) == 0)
            return q->vals[i];
    return NULL;
}

static bool q_true(const struct query *q, const char *k)
{
    const char *v = q_get(q, k);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static const char *header(const char *head, const char *name)
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

/* ---- logs ---- */

void agent__cri_format(const char *text, size_t len, bool timestamps, struct buf *out)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        const char *sp1 = memchr(p, ' ', (size_t)(nl - p));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1)) : NULL;
        const char *sp3 = sp2 ? memchr(sp2 + 1, ' ', (size_t)(nl - sp2 - 1)) : NULL;
        if (sp3) {
            if (timestamps) {
                buf_append(out, p, (size_t)(sp1 - p));
                buf_append_char(out, ' ');
            }
            buf_append(out, sp3 + 1, (size_t)(nl - sp3 - 1));
            if (sp2[1] == 'F')
                buf_append_char(out, '\n');
        }
        p = nl + 1;
    }
}

/* Writes CRI log lines of text[0..len) to fd as kubectl shows them. */
static int emit_lines(int fd, const char *text, size_t len, bool timestamps)
{
    struct buf out = BUF_INIT;
    agent__cri_format(text, len, timestamps, &out);
    int rc = out.len ? write_all(fd, out.data, out.len) : 0;
    buf_free(&out);
    return rc;
}

/* Whether the open file was removed (its pod torn down before a follower saw the exit). */
static bool fstat_gone(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

static void serve_logs(struct agent *a, int fd, const char *ns, const char *pod, const char *ctr,
                       const struct query *q)
{
    _cleanup_free_ char *key = xasprintf("%s/%s", ns, pod);
    _cleanup_json_ json_t *obj = informer_get(a->informer, key);
    const char *uid = kjson_path_str(obj, "metadata.uid");
    if (!uid) {
        reply(fd, 404, "Not Found", "pod not found on this node\n");
        return;
    }
    bool prev = q_true(q, "previous"), follow = q_true(q, "follow") && !prev;
    bool ts = q_true(q, "timestamps");
    const char *tl = q_get(q, "tailLines");
    long tail = tl ? atol(tl) : -1;
    _cleanup_free_ char *path =
        xasprintf("%s/pods/%s/%s/%s", a->data_dir, uid, ctr, prev ? "previous.log" : "0.log");
    _cleanup_free_ char *exitp = xasprintf("%s/pods/%s/%s/exit", a->data_dir, uid, ctr);
    int lf = open(path, O_RDONLY | O_CLOEXEC);
    if (lf < 0) {
        _cleanup_free_ char *m = xasprintf("%s container \"%s\" in pod \"%s\" has no logs\n",
                                           prev ? "previous terminated" : "", ctr, pod);
        reply(fd, prev ? 400 : 404, prev ? "Bad Request" : "Not Found", m);
        return;
    }
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
    if (write_all(fd, head, strlen(head)) < 0) {
        close(lf);
        return;
    }
    struct buf all = BUF_INIT;
    char chunk[65536];
    ssize_t r;
    while ((r = read(lf, chunk, sizeof(chunk))) > 0)
        buf_append(&all, chunk, (size_t)r);
    size_t start = 0, complete = all.len;
    while (complete > 0 && all.data[complete - 1] != '\n')
        complete--;
    if (tail >= 0) {
        long lines = 0;
        start = complete;
        while (start > 0) {
            if (all.data[start - 1] == '\n' && start != complete && ++lines >= tail)
                break;
            start--;
        }
        if (tail == 0)
            start = complete;
        else if (start == 0 && lines < tail)
            start = 0;
    }
    int rc = emit_lines(fd, all.data ? all.data + start : "", complete - start, ts);
    /* keep the partial tail for follow */
    memmove(all.data, all.data + complete, all.len - complete);
    all.len -= complete;
    while (rc == 0 && follow && !atomic_load(a->stop)) {
        r = read(lf, chunk, sizeof(chunk));
        if (r > 0) {
            buf_append(&all, chunk, (size_t)r);
            size_t c = all.len;
            while (c > 0 && all.data[c - 1] != '\n')
                c--;
            rc = emit_lines(fd, all.data, c, ts);
            memmove(all.data, all.data + c, all.len - c);
            all.len -= c;
            continue;
        }
        if (access(exitp, F_OK) == 0 || fstat_gone(lf)) {
            /* the container ended (or its pod was torn down): drain what is left, stop */
            r = read(lf, chunk, sizeof(chunk));
            if (r > 0) {
                buf_append(&all, chunk, (size_t)r);
                continue;
            }
            break;
        }
        /* a closed client shows as readable with 0 bytes */
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 200) > 0) {
            char tmp[64];
            if (recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT) == 0)
                break;
        }
    }
    buf_free(&all);
    close(lf);
}

/* ---- exec ---- */

static int ws_send(int fd, uint8_t opcode, uint8_t channel, bool with_channel, const void *data,
                   size_t len)
{
    uint8_t hdr[11];
    size_t h = 0, plen = len + (with_channel ? 1 : 0);
    hdr[h++] = 0x80 | opcode;
    if (plen < 126) {
        hdr[h++] = (uint8_t)plen;
    } else if (plen < 65536) {
        hdr[h++] = 126;
        hdr[h++] = (uint8_t)(plen >> 8);
        hdr[h++] = (uint8_t)plen;
    } else {
        hdr[h++] = 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)plen >> (8 * i));
    }
    if (with_channel)
        hdr[h++] = channel;
    if (write_all(fd, hdr, h) < 0)
        return -1;
    return len ? write_all(fd, data, len) : 0;
}

size_t agent__ws_parse(const uint8_t *in, size_t n, uint8_t *opcode, struct buf *payload)
{
    if (n < 2)
        return 0;
    size_t h = 2;
    uint64_t len = in[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)in[2] << 8 | in[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | in[2 + i];
        h = 10;
    }
    bool masked = in[1] & 0x80;
    const uint8_t *mask = in + h;
    if (masked)
        h += 4;
    if (len > (1u << 24))
        return (size_t)-1;
    if (n < h + len)
        return 0;
    *opcode = in[0] & 0x0f;
    buf_reset(payload);
    for (uint64_t i = 0; i < len; i++)
        buf_append_char(payload, (char)(in[h + i] ^ (masked ? mask[i % 4] : 0)));
    return h + (size_t)len;
}

static void serve_exec(struct agent *a, int fd, const char *head, const char *ns, const char *pod,
                       const char *ctr, const struct query *q, const char *extra, size_t extra_len)
{
    _cleanup_free_ char *key = xasprintf("%s/%s", ns, pod);
    _cleanup_json_ json_t *obj = informer_get(a->informer, key);
    const char *uid = kjson_path_str(obj, "metadata.uid");
    const char *wskey = header(head, "Sec-WebSocket-Key");
    if (!uid) {
        reply(fd, 404, "Not Found", "pod not found on this node\n");
        return;
    }
    if (!wskey) {
        reply(fd, 400, "Bad Request", "exec needs a WebSocket upgrade (v5.channel.k8s.io)\n");
        return;
    }
    const char *cmd[64];
    size_t nc = 0;
    for (size_t i = 0; i < q->n && nc < 40; i++)
        if (strcmp(q->keys[i], "command") == 0)
            cmd[nc++] = q->vals[i];
    if (nc == 0) {
        reply(fd, 400, "Bad Request", "you must specify at least one command\n");
        return;
    }
    /* the handshake */
    _cleanup_free_ char *cat = xasprintf("%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", wskey);
    unsigned char sha[20];
    gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, strlen(cat), sha);
    _cleanup_free_ char *accept = codec_base64_encode(sha, 20);
    _cleanup_free_ char *resp = xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: "
                                          "websocket\r\nConnection: Upgrade\r\n"
                                          "Sec-WebSocket-Accept: %s\r\n"
                                          "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n",
                                          accept);
    if (write_all(fd, resp, strlen(resp)) < 0)
        return;
    bool want_stdin = q_true(q, "stdin");
    _cleanup_free_ char *id = agent__container_id(uid, ctr);
    const char *argv[80];
    size_t n;
    agent__runtime_argv(a, "exec", argv, &n);
    argv[n++] = id;
    for (size_t i = 0; i < nc; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    int in_p[2], out_p[2], err_p[2];
    if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in_p[0], 0);
        dup2(out_p[1], 1);
        dup2(err_p[1], 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in_p[0]);
    close(out_p[1]);
    close(err_p[1]);
    if (!want_stdin) {
        close(in_p[1]);
        in_p[1] = -1;
    }
    struct buf inb = BUF_INIT, payload = BUF_INIT;
    buf_append(&inb, extra, extra_len);
    struct pollfd pf[3] = {{out_p[0], POLLIN, 0}, {err_p[0], POLLIN, 0}, {fd, POLLIN, 0}};
    int open_out = 2;
    while (open_out > 0 && pid > 0) {
        if (poll(pf, 3, 1000) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            char chunk[16384];
            ssize_t r = read(pf[i].fd, chunk, sizeof(chunk));
            if (r <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_out--;
                continue;
            }
            ws_send(fd, 2, (uint8_t)(i + 1), true, chunk, (size_t)r);
        }
        if (pf[2].fd >= 0 && pf[2].revents) {
            char chunk[16384];
            ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
            if (r <= 0) {
                pf[2].fd = -1;
                kill(pid, SIGKILL);
                continue;
            }
            buf_append(&inb, chunk, (size_t)r);
        }
        size_t used;
        uint8_t op;
        while (inb.len &&
               (used = agent__ws_parse((uint8_t *)inb.data, inb.len, &op, &payload)) > 0) {
            if (used == (size_t)-1) {
                inb.len = 0;
                break;
            }
            if (op == 9) /* ping */
                ws_send(fd, 10, 0, false, payload.data, payload.len);
            else if ((op == 2 || op == 1) && payload.len >= 1) {
                uint8_t ch = (uint8_t)payload.data[0];
                if (ch == 0 && in_p[1] >= 0 && payload.len > 1) {
                    if (write(in_p[1], payload.data + 1, payload.len - 1) < 0) {
                        close(in_p[1]);
                        in_p[1] = -1;
                    }
                } else if (ch == 255 && payload.len >= 2 && payload.data[1] == 0 && in_p[1] >= 0) {
                    close(in_p[1]);
                    in_p[1] = -1;
                }
            }
            memmove(inb.data, inb.data + used, inb.len - used);
            inb.len -= used;
        }
    }
    if (in_p[1] >= 0)
        close(in_p[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    _cleanup_free_ char *st = NULL;
    if (code == 0)
        st = xstrdup("{\"metadata\":{},\"status\":\"Success\"}");
    else
        st = xasprintf("{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated "
                       "with non-zero exit code: error executing command [%s], exit code %d\","
                       "\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
                       "\"ExitCode\",\"message\":\"%d\"}]}}",
                       cmd[0], code, code);
    ws_send(fd, 2, 3, true, st, strlen(st));
    uint8_t close_code[2] = {0x03, 0xe8};
    ws_send(fd, 8, 0, false, close_code, 2);
    buf_free(&inb);
    buf_free(&payload);
}

static void *conn_main(void *opaque)
{
    struct conn *c = opaque;
    char *head = xmalloc(HEAD_MAX + 1);
    size_t got = 0;
    char *end = NULL;
    while (got < HEAD_MAX) {
        ssize_t r = recv(c->fd, head + got, HEAD_MAX - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        head[got] = '\0';
        if ((end = strstr(head, "\r\n\r\n")))
            break;
    }
    if (!end) {
        reply(c->fd, 400, "Bad Request", "bad request head\n");
        goto out;
    }
    char method[16], target[8192];
    if (sscanf(head, "%15s %8191s", method, target) != 2) {
        reply(c->fd, 400, "Bad Request", "bad request line\n");
        goto out;
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
    if (np == 4 && strcmp(parts[0], "containerLogs") == 0)
        serve_logs(c->a, c->fd, parts[1], parts[2], parts[3], &q);
    else if (np == 4 && strcmp(parts[0], "exec") == 0)
        serve_exec(c->a, c->fd, head, parts[1], parts[2], parts[3], &q, end + 4,
                   got - (size_t)(end + 4 - head));
    else if (np >= 1 && strcmp(parts[0], "healthz") == 0)
        reply(c->fd, 200, "OK", "ok");
    else
        reply(c->fd, 404, "Not Found", "not served by this agent (yet)\n");
out:
    free(head);
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
        struct conn *c = xcalloc(1, sizeof(*c));
        c->a = a;
        c->fd = fd;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, conn_main, c) != 0) {
            close(fd);
            free(c);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

int agent__http_start(struct agent *a, struct k8c_err **err)
{
    http_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (http_fd < 0)
        return k8c_err_errno(err, "socket");
    int one = 1;
    setsockopt(http_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(http_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(http_fd, 64) < 0) {
        k8c_err_errno(err, "listen on 127.0.0.1:%d", a->port);
        close(http_fd);
        return -1;
    }
    socklen_t sl = sizeof(sa);
    getsockname(http_fd, (struct sockaddr *)&sa, &sl);
    a->port = ntohs(sa.sin_port);
    if (pthread_create(&accept_thread, NULL, accept_main, a) != 0) {
        close(http_fd);
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "cannot start the HTTP thread");
    }
    return 0;
}

void agent__http_stop(struct agent *a)
{
    (void)a;
    pthread_join(accept_thread, NULL);
    close(http_fd);
}
