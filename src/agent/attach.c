/* The attach socket (<ctr dir>/attach.sock): the shim listens, the agent's attach handler
 * (exec.c) connects. Both directions carry frames [channel u8][length u32 BE][payload] with
 * kubelet's channel numbers: 0 stdin, 1 stdout, 2 stderr (shim to client), 4 resize
 * ({"Width":W,"Height":H}, applied to the shim's terminal of a tty container), 5 the streams the
 * client wants (3 bytes: stdin, stdout, stderr), 255 the client's stdin ended. With stdinOnce the
 * container's stdin is closed when the first client that used it leaves, as kubelet does. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/stream.h"
#include "base/json.h"
#include "base/mem.h"

#define ATTACH_CLIENTS 16
#define ATTACH_FRAME_MAX (1u << 20)

int agent__unix_socket(const char *path, bool listening)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int dirfd = -1;
    if (strlen(path) < sizeof(sa.sun_path)) {
        strcpy(sa.sun_path, path);
    } else {
        /* a long pod directory: reach the socket through an fd of its directory */
        _cleanup_free_ char *copy = xstrdup(path);
        dirfd = open(dirname(copy), O_PATH | O_CLOEXEC);
        const char *base = strrchr(path, '/') + 1;
        if (dirfd < 0 || snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd,
                                  base) >= (int)sizeof(sa.sun_path)) {
            if (dirfd >= 0)
                close(dirfd);
            errno = ENAMETOOLONG;
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0 && listening) {
        unlink(sa.sun_path);
        rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ? -1 : 0;
    } else if (rc == 0) {
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    }
    int saved = errno;
    if (dirfd >= 0)
        close(dirfd);
    if (rc < 0 && fd >= 0) {
        close(fd);
        fd = -1;
    }
    errno = saved;
    return fd;
}

int agent__frame_send(int fd, uint8_t ch, const void *data, size_t len)
{
    uint8_t h[5] = {ch, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                    (uint8_t)len};
    struct iovec iov[2] = {{h, 5}, {(void *)data, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    size_t total = 5 + len;
    ssize_t w;
    do
        w = sendmsg(fd, &m, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)total)
        return 0;
    if (w < 0)
        return -1;
    /* a short write: the rest, byte-exact */
    struct buf rest = BUF_INIT;
    buf_append(&rest, h, 5);
    buf_append(&rest, data, len);
    size_t off = (size_t)w;
    int rc = 0;
    while (off < total && rc == 0) {
        w = send(fd, rest.data + off, total - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    buf_free(&rest);
    return rc;
}

size_t agent__frame_parse(const uint8_t *in, size_t n, uint8_t *ch, size_t *len)
{
    if (n < 5)
        return 0;
    size_t l = (size_t)in[1] << 24 | (size_t)in[2] << 16 | (size_t)in[3] << 8 | in[4];
    if (l > ATTACH_FRAME_MAX)
        return (size_t)-1;
    if (n < 5 + l)
        return 0;
    *ch = in[0];
    *len = l;
    return 5 + l;
}

struct attach_client {
    int fd;
    bool want[3], used_stdin;
    struct buf in;
};

struct shim_attach {
    int lfd;
    int stdin_fd; /* the container's stdin (write end), or -1 */
    bool stdin_once;
    int master; /* tty containers: the terminal to resize, or -1 */
    struct attach_client cl[ATTACH_CLIENTS];
    size_t n;
};

struct shim_attach *shim_attach_open(const char *path, int stdin_fd, bool stdin_once, int master)
{
    int lfd = agent__unix_socket(path, true);
    if (lfd < 0)
        return NULL;
    struct shim_attach *s = xcalloc(1, sizeof(*s));
    s->lfd = lfd;
    s->stdin_fd = stdin_fd;
    s->stdin_once = stdin_once;
    s->master = master;
    return s;
}

size_t shim_attach_pollfds(struct shim_attach *s, struct pollfd *fds)
{
    if (!s)
        return 0;
    fds[0] = (struct pollfd){s->lfd, POLLIN, 0};
    for (size_t i = 0; i < s->n; i++)
        fds[i + 1] = (struct pollfd){s->cl[i].fd, POLLIN, 0};
    return s->n + 1;
}

static void close_stdin(struct shim_attach *s)
{
    if (s->stdin_fd >= 0) {
        close(s->stdin_fd);
        s->stdin_fd = -1;
    }
}

static void drop(struct shim_attach *s, size_t i)
{
    if (s->stdin_once && s->cl[i].used_stdin)
        close_stdin(s);
    close(s->cl[i].fd);
    buf_free(&s->cl[i].in);
    s->cl[i] = s->cl[--s->n];
}

/* Acts on client i's complete frames; -1 when it sent garbage. */
static int client_frames(struct shim_attach *s, struct attach_client *c)
{
    size_t used, len;
    uint8_t ch;
    while ((used = agent__frame_parse((uint8_t *)c->in.data, c->in.len, &ch, &len)) > 0) {
        if (used == (size_t)-1)
            return -1;
        const uint8_t *p = (const uint8_t *)c->in.data + 5;
        if (ch == 5 && len == 3) {
            for (int k = 0; k < 3; k++)
                c->want[k] = p[k] != 0;
        } else if (ch == 0 && c->want[0] && s->stdin_fd >= 0) {
            c->used_stdin = true;
            if (agent__write_all(s->stdin_fd, p, len) < 0)
                close_stdin(s);
        } else if (ch == 4 && s->master >= 0) {
            json_t *j = json_loadb((const char *)p, len, 0, NULL);
            json_int_t w = json_integer_value(json_object_get(j, "Width"));
            json_int_t h = json_integer_value(json_object_get(j, "Height"));
            json_decref(j);
            if (w > 0 && h > 0 && w < 65536 && h < 65536) {
                struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
                ioctl(s->master, TIOCSWINSZ, &ws);
            }
        } else if (ch == 255 && c->want[0]) {
            c->used_stdin = true;
            if (s->stdin_once)
                close_stdin(s);
        }
        memmove(c->in.data, c->in.data + used, c->in.len - used);
        c->in.len -= used;
    }
    return 0;
}

void shim_attach_handle(struct shim_attach *s, const struct pollfd *fds, size_t n)
{
    if (!s || n == 0)
        return;
    /* clients first (fds[1..] match cl[] as shim_attach_pollfds made them), newest last */
    for (size_t i = n - 1; i >= 1; i--) {
        if (!fds[i].revents || i - 1 >= s->n || s->cl[i - 1].fd != fds[i].fd)
            continue;
        struct attach_client *c = &s->cl[i - 1];
        char chunk[8192];
        ssize_t r = recv(c->fd, chunk, sizeof(chunk), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            drop(s, i - 1);
            continue;
        }
        buf_append(&c->in, chunk, (size_t)r);
        if (client_frames(s, c) < 0)
            drop(s, i - 1);
    }
    if (fds[0].revents) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0 && s->n == ATTACH_CLIENTS)
            close(fd);
        else if (fd >= 0)
            s->cl[s->n++] = (struct attach_client){.fd = fd, .in = BUF_INIT};
    }
}

void shim_attach_broadcast(struct shim_attach *s, int ch, const void *data, size_t len)
{
    for (size_t i = 0; s && i < s->n;) {
        if (s->cl[i].want[ch] && agent__frame_send(s->cl[i].fd, (uint8_t)ch, data, len) < 0) {
            drop(s, i);
            continue;
        }
        i++;
    }
}

void shim_attach_close(struct shim_attach *s, const char *path)
{
    if (!s)
        return;
    while (s->n)
        drop(s, 0);
    close_stdin(s);
    close(s->lfd);
    unlink(path);
    free(s);
}
