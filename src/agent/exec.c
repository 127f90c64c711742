/* exec and attach over WebSocket (v5.channel.k8s.io, or v4 without the close channel): binary
 * messages whose first byte is the channel: 0 stdin, 1 stdout, 2 stderr, 3 the final Status
 * (exit code as kubectl reads it), 4 terminal resize {"Width":W,"Height":H}, 255 + channel to
 * close (v5: [255,0] is stdin EOF). Pings get pongs; the session ends with the Status and a
 * close frame (1000), as kubelet does.
 *
 * exec runs the runtime's `exec`; with ?tty the terminal's master is held here and resized
 * with TIOCSWINSZ (see serve_exec_process for how each runtime gets its terminal). attach joins
 * the shim's attach socket (<ctr dir>/attach.sock, attach.c), which carries the same channels
 * framed as [channel][u32 length][payload]. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/stream.h"
#include "base/json.h"
#include "base/mem.h"

#define CONSOLE_WAIT_MS 15000
#define MAX_ARGS 64

/* One streaming session between the WebSocket client and a process or the shim. */
struct session {
    struct sconn *c;
    bool v5;
    int in_fd;   /* the process's stdin (or the terminal master); -1 closed */
    int master;  /* terminal master for resizes, or -1 */
    int shim_fd; /* attach: the shim's socket, or -1 */
    bool tty;
    struct buf inb, payload;
    bool client_gone;
};

static void close_stdin(struct session *s)
{
    if (s->shim_fd >= 0) {
        uint8_t f[6] = {255, 0, 0, 0, 1, 0};
        if (write(s->shim_fd, f, sizeof(f)) < 0) {
            /* the shim is gone too: the session ends on its EOF */
        }
        return;
    }
    if (s->in_fd < 0)
        return;
    if (s->tty) {
        /* a terminal has no EOF of its own: send the EOF character, as a shell's user would */
        char eot = 4;
        if (write(s->in_fd, &eot, 1) < 0) {
            /* the process ended */
        }
        return;
    }
    close(s->in_fd);
    s->in_fd = -1;
}

static void resize(struct session *s, const char *json, size_t len)
{
    _cleanup_json_ json_t *j = json_loadb(json, len, 0, NULL);
    json_int_t w = json_integer_value(json_object_get(j, "Width"));
    json_int_t h = json_integer_value(json_object_get(j, "Height"));
    if (w <= 0 || h <= 0 || w > 65535 || h > 65535)
        return;
    if (s->master >= 0) {
        struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
        ioctl(s->master, TIOCSWINSZ, &ws);
    }
}

static void shim_send(int fd, uint8_t ch, const void *data, size_t len)
{
    /* a failure means the shim is gone: its EOF ends the session */
    (void)agent__frame_send(fd, ch, data, len);
}

/* Acts on the complete messages in s->inb. -1 when the client closed or sent garbage. */
static int client_messages(struct session *s)
{
    size_t used;
    uint8_t op;
    while (s->inb.len &&
           (used = agent__ws_parse((uint8_t *)s->inb.data, s->inb.len, &op, &s->payload)) > 0) {
        if (used == (size_t)-1)
            return -1;
        const uint8_t *p = (const uint8_t *)s->payload.data;
        size_t n = s->payload.len;
        if (op == 9) {
            ws_send(s->c, 10, -1, p, n);
        } else if (op == 8) {
            return -1;
        } else if ((op == 2 || op == 1) && n >= 1) {
            if (p[0] == 0 && n > 1) {
                if (s->shim_fd >= 0) {
                    shim_send(s->shim_fd, 0, p + 1, n - 1);
                } else if (s->in_fd >= 0 && agent__write_all(s->in_fd, p + 1, n - 1) < 0) {
                    close_stdin(s);
                }
            } else if (p[0] == 4 && n > 1) {
                if (s->shim_fd >= 0)
                    shim_send(s->shim_fd, 4, p + 1, n - 1);
                else
                    resize(s, (const char *)p + 1, n - 1);
            } else if (p[0] == 255 && n >= 2 && p[1] == 0 && s->v5) {
                close_stdin(s);
            }
        }
        memmove(s->inb.data, s->inb.data + used, s->inb.len - used);
        s->inb.len -= used;
    }
    return 0;
}

/* Reads what the client sent and acts on it. -1 when the client is gone. */
static int client_input(struct session *s)
{
    char chunk[16384];
    ssize_t r = sconn_read(s->c, chunk, sizeof(chunk));
    if (r <= 0)
        return -1;
    buf_append(&s->inb, chunk, (size_t)r);
    return client_messages(s);
}

static void finish(struct session *s, int code, const char *cmd0, const char *failure)
{
    _cleanup_free_ char *st = NULL;
    if (failure) {
        _cleanup_json_ json_t *j =
            json_pack("{s:{},s:s,s:s,s:s,s:i}", "metadata", "status", "Failure", "message", failure,
                      "reason", "InternalError", "code", 500);
        st = kjson_dumps(j);
    } else if (code == 0) {
        st = xstrdup("{\"metadata\":{},\"status\":\"Success\"}");
    } else {
        _cleanup_free_ char *msg =
            xasprintf("command terminated with non-zero exit code: error executing command "
                      "[%s], exit code %d",
                      cmd0, code);
        _cleanup_free_ char *cs = xasprintf("%d", code);
        _cleanup_json_ json_t *j = json_pack(
            "{s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}]}}", "metadata", "status", "Failure", "message", msg,
            "reason", "NonZeroExitCode", "details", "causes", "reason", "ExitCode", "message", cs);
        st = kjson_dumps(j);
    }
    if (!s->client_gone) {
        ws_send(s->c, 2, 3, st, strlen(st));
        uint8_t close_code[2] = {0x03, 0xe8};
        ws_send(s->c, 8, -1, close_code, 2);
    }
    buf_free(&s->inb);
    buf_free(&s->payload);
}

/* Receives one fd sent with SCM_RIGHTS on sock (the runtime's --console-socket). */
static int recv_fd(int sock)
{
    char name[256];
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {name, sizeof(name)};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
    return fd;
}

/* Waits for the runtime to connect to lfd and hand over the terminal; -1 if it exited or
 * timed out first. */
static int await_console(int lfd, pid_t pid)
{
    for (int waited = 0; waited < CONSOLE_WAIT_MS; waited += 100) {
        struct pollfd pf = {lfd, POLLIN, 0};
        if (poll(&pf, 1, 100) > 0) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd < 0)
                continue;
            int fd = recv_fd(cfd);
            close(cfd);
            return fd;
        }
        siginfo_t si = {0};
        /* WNOWAIT: the exit status stays for the caller's waitpid */
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            return -1;
    }
    return -1;
}

/* The process side: outputs out/err (-1: none) copied to channels 1 and 2 (when send[i]; else
 * drained) until both end; the client's messages handled meanwhile. */
static void pump(struct session *s, int out, int err, pid_t pid, const bool send[2])
{
    struct pollfd pf[3] = {{out, POLLIN, 0}, {err, POLLIN, 0}, {s->c->fd, POLLIN, 0}};
    int open_out = (out >= 0) + (err >= 0);
    while (open_out > 0) {
        int timeout = sconn_pending(s->c) ? 0 : 1000;
        if (poll(pf, 3, timeout) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            char chunk[16384];
            ssize_t r = read(pf[i].fd, chunk, sizeof(chunk));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) { /* EOF, or EIO from a terminal whose last user left */
                pf[i].fd = -1;
                open_out--;
                continue;
            }
            /* a terminal has one output: the runtime's own stderr joins it */
            int ch = s->tty ? 1 : i + 1;
            if (send[i] && !s->client_gone && ws_send(s->c, 2, ch, chunk, (size_t)r) < 0)
                s->client_gone = true;
        }
        if (pf[2].fd >= 0 && (pf[2].revents || sconn_pending(s->c))) {
            if (client_input(s) < 0) {
                pf[2].fd = -1;
                s->client_gone = true;
                if (pid > 0)
                    kill(pid, SIGKILL);
                else
                    break;
            }
        }
    }
}

static void serve_exec_process(struct session *s, struct sreq *r, const char *uid)
{
    struct agent *a = r->c->a;
    const struct query *q = r->q;
    const char *cmd[MAX_ARGS];
    size_t nc = 0;
    for (size_t i = 0; i < q->n && nc < MAX_ARGS - 16; i++)
        if (strcmp(q->keys[i], "command") == 0)
            cmd[nc++] = q->vals[i];
    bool want_in = q_true(q, "stdin"), want_out = q_true(q, "stdout");
    bool want_err = q_true(q, "stderr") && !s->tty;
    _cleanup_free_ char *id = agent__container_id(uid, r->ctr);
    static atomic_uint seq;
    _cleanup_free_ char *sock =
        xasprintf("%s/exec-%d-%u.sock", a->data_dir, (int)getpid(), atomic_fetch_add(&seq, 1));
    const char *argv[MAX_ARGS + 16];
    size_t n;
    agent__runtime_argv(a, "exec", argv, &n);
    /* The terminal: the built-in runtime hands the container's pty master to a console
     * socket in the foreground; runc and crun accept a console socket only with --detach
     * (and the exit status would be lost), so they get a pty of ours as their stdio and copy
     * to the container's own, passing our window size on at SIGWINCH. */
    bool console = s->tty && strcmp(a->runtime, "builtin") == 0;
    int lfd = -1, pty_slave = -1;
    if (console) {
        if ((lfd = agent__unix_socket(sock, true)) < 0) {
            finish(s, 0, cmd[0], "cannot make the console socket for the terminal");
            return;
        }
        argv[n++] = "--tty";
        argv[n++] = "--console-socket";
        argv[n++] = sock;
    } else if (s->tty) {
        if (agent__pty_open(&s->master, &pty_slave) < 0) {
            finish(s, 0, cmd[0], "cannot allocate a terminal");
            return;
        }
        argv[n++] = "--tty";
    }
    _cleanup_free_ char *ctr_dir = xasprintf("%s/pods/%s/%s", a->data_dir, uid, r->ctr);
    _cleanup_free_ char *procf = agent__exec_process(a, ctr_dir, cmd, nc, s->tty);
    if (procf) {
        argv[n++] = "--process";
        argv[n++] = procf;
    }
    argv[n++] = id;
    for (size_t i = 0; i < nc && !procf; i++)
        argv[n++] = cmd[i];
    argv[n] = NULL;
    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
        for (int i = 0; i < 2; i++) {
            if (in_p[i] >= 0)
                close(in_p[i]);
            if (out_p[i] >= 0)
                close(out_p[i]);
        }
        finish(s, 0, cmd[0], "cannot make pipes for the process");
        goto out;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (pty_slave >= 0) {
            agent__pty_child(pty_slave); /* SIGWINCH reaches the runtime */
        } else {
            dup2(in_p[0], 0);
            dup2(out_p[1], 1);
            dup2(err_p[1], 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in_p[0]);
    close(out_p[1]);
    close(err_p[1]);
    if (pty_slave >= 0)
        close(pty_slave);
    if (console) {
        /* the runtime's own stdin stays unused: the terminal carries the process's */
        close(in_p[1]);
        s->master = pid > 0 ? await_console(lfd, pid) : -1;
        s->in_fd = want_in ? s->master : -1;
    } else if (s->tty) {
        close(in_p[1]);
        s->in_fd = want_in ? s->master : -1;
    } else {
        s->in_fd = in_p[1];
        if (!want_in)
            close_stdin(s);
    }
    client_messages(s); /* what came with the request head */
    /* the runtime's own messages (e.g. "executable file not found") reach stderr even with a
     * terminal, so a failed exec explains itself */
    int outfd = s->tty ? s->master : out_p[0];
    const bool send[2] = {want_out || s->tty, want_err || s->tty};
    pump(s, outfd, err_p[0], pid, send);
    if (!s->tty && s->in_fd >= 0)
        close(s->in_fd);
    s->in_fd = -1;
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (s->master >= 0)
        close(s->master);
    close(out_p[0]);
    close(err_p[0]);
    int code = pid < 0 ? 127 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    finish(s, code, cmd[0], NULL);
out:
    if (lfd >= 0) {
        close(lfd);
        unlink(sock);
    }
    if (procf)
        unlink(procf);
}

/* attach: frames from the shim's socket go to the client until the shim closes it. */
static void serve_attach(struct session *s, struct sreq *r, const char *uid)
{
    struct agent *a = r->c->a;
    _cleanup_free_ char *path = xasprintf("%s/pods/%s/%s/attach.sock", a->data_dir, uid, r->ctr);
    /* a container that just started may not have its shim's socket yet */
    int fd = -1;
    for (int tries = 0; tries < 50 && fd < 0; tries++) {
        fd = agent__unix_socket(path, false);
        if (fd < 0 && errno != ENOENT && errno != ECONNREFUSED)
            break;
        if (fd < 0)
            usleep(100 * 1000);
    }
    if (fd < 0) {
        _cleanup_free_ char *m = xasprintf("container %s is not running", r->ctr);
        finish(s, 0, "attach", m);
        return;
    }
    s->shim_fd = fd;
    /* tell the shim which streams this client wants: [ch 5]["stdin stdout stderr" flags] */
    uint8_t want[3] = {q_true(r->q, "stdin"), q_true(r->q, "stdout"), q_true(r->q, "stderr")};
    shim_send(fd, 5, want, 3);
    struct buf sb = BUF_INIT;
    struct pollfd pf[2] = {{fd, POLLIN, 0}, {r->c->fd, POLLIN, 0}};
    for (;;) {
        if (poll(pf, 2, sconn_pending(r->c) ? 0 : 1000) < 0 && errno != EINTR)
            break;
        if (pf[0].revents) {
            char chunk[16384];
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n <= 0)
                break;
            buf_append(&sb, chunk, (size_t)n);
            size_t used, len;
            uint8_t ch;
            while ((used = agent__frame_parse((uint8_t *)sb.data, sb.len, &ch, &len)) > 0 &&
                   used != (size_t)-1) {
                /* a terminal has one output channel */
                int out = s->tty ? 1 : ch;
                if ((ch == 1 || ch == 2) && ws_send(r->c, 2, out, sb.data + 5, len) < 0)
                    s->client_gone = true;
                memmove(sb.data, sb.data + used, sb.len - used);
                sb.len -= used;
            }
            if (s->client_gone)
                break;
        }
        if (pf[1].revents || sconn_pending(r->c)) {
            if (client_input(s) < 0) {
                s->client_gone = true;
                break;
            }
        }
    }
    buf_free(&sb);
    close(fd);
    finish(s, 0, "attach", NULL);
}

void agent__serve_exec(struct sreq *r, bool attach)
{
    _cleanup_free_ char *uid = stream_pod_uid(r, NULL);
    if (!uid)
        return;
    const char *up = http_header(r->head, "Upgrade");
    if (!up || strcasecmp(up, "websocket") != 0 || !http_header(r->head, "Sec-WebSocket-Key")) {
        sconn_reply(r->c, 400, "Bad Request",
                    "Upgrade request required (WebSocket v5.channel.k8s.io)\n");
        return;
    }
    bool v5 = ws_offers(r->head, "v5.channel.k8s.io");
    if (!v5 && !ws_offers(r->head, "v4.channel.k8s.io")) {
        sconn_reply(r->c, 400, "Bad Request",
                    "no supported subprotocol: offer v5.channel.k8s.io or v4.channel.k8s.io\n");
        return;
    }
    size_t nc = 0;
    for (size_t i = 0; i < r->q->n; i++)
        nc += strcmp(r->q->keys[i], "command") == 0;
    if (!attach && nc == 0) {
        sconn_reply(r->c, 400, "Bad Request", "you must specify at least one command\n");
        return;
    }
    if (!q_true(r->q, "stdin") && !q_true(r->q, "stdout") && !q_true(r->q, "stderr")) {
        sconn_reply(r->c, 400, "Bad Request",
                    "you must specify at least 1 of stdin, stdout, stderr\n");
        return;
    }
    if (ws_accept(r->c, r->head, v5 ? "v5.channel.k8s.io" : "v4.channel.k8s.io") < 0)
        return;
    struct session s = {.c = r->c,
                        .v5 = v5,
                        .in_fd = -1,
                        .master = -1,
                        .shim_fd = -1,
                        .tty = q_true(r->q, "tty"),
                        .inb = BUF_INIT,
                        .payload = BUF_INIT};
    buf_append(&s.inb, r->extra, r->extra_len);
    if (attach)
        serve_attach(&s, r, uid);
    else
        serve_exec_process(&s, r, uid);
}
