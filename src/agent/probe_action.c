/* One probe or hook action against a container: exec through the runtime (as `kubectl exec`
 * does), httpGet and tcpSocket from inside the pod's network namespace. A short-lived thread
 * setns()es into <pod dir>/ns/net and creates the socket there, so the connection reaches the
 * pod's loopback (or its podIP) with or without a pod network; the thread and its namespace
 * membership end right after, no thread ever has to switch back. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/probe.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

#define OUTPUT_MAX (10 * 1024) /* kubelet keeps 10 KiB of a probe's output */

static int ms_left(uint64_t deadline_ns)
{
    uint64_t now = clock_mono_ns();
    return now >= deadline_ns ? 0 : (int)((deadline_ns - now) / 1000000 + 1);
}

/* ---- exec ---- */

static enum agent_action_result run_exec(const struct agent *a, struct agent_target *t,
                                         const json_t *cmd, uint64_t deadline, char **msg)
{
    if (!json_is_array(cmd) || json_array_size(cmd) == 0 || json_array_size(cmd) > 64) {
        *msg = xstrdup("exec.command: must be a non-empty list of strings");
        return AGENT_ACTION_ERROR;
    }
    const char *argv[96], *args[64];
    size_t n, nargs = 0;
    agent__runtime_argv(a, "exec", argv, &n);
    struct buf joined = BUF_INIT;
    size_t i;
    json_t *s;
    json_array_foreach (cmd, i, s) {
        if (!json_is_string(s)) {
            buf_free(&joined);
            *msg = xasprintf("exec.command[%zu]: must be a string", i);
            return AGENT_ACTION_ERROR;
        }
        args[nargs++] = json_string_value(s);
        buf_appendf(&joined, "%s%s", i ? " " : "", json_string_value(s));
    }
    /* the container's dir: <pod dir>/<name>, beside <pod dir>/ns/net */
    size_t pl = strlen(t->netns) > 7 ? strlen(t->netns) - 7 : 0;
    _cleanup_free_ char *ctr_dir =
        xasprintf("%.*s/%s", (int)pl, t->netns, kjson_path_str(t->ctr, "name") ?: "");
    _cleanup_free_ char *procf = agent__exec_process(a, ctr_dir, args, nargs, false);
    if (procf) {
        argv[n++] = "--process";
        argv[n++] = procf;
    }
    argv[n++] = t->cid;
    for (size_t k = 0; k < nargs && !procf; k++)
        argv[n++] = args[k];
    argv[n] = NULL;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        buf_free(&joined);
        if (procf)
            unlink(procf);
        *msg = xasprintf("pipe: %s", strerror(errno));
        return AGENT_ACTION_ERROR;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        buf_free(&joined);
        if (procf)
            unlink(procf);
        *msg = xasprintf("fork: %s", strerror(errno));
        return AGENT_ACTION_ERROR;
    }
    struct buf out = BUF_INIT;
    bool timed_out = false;
    for (;;) {
        if (t->stop && atomic_load(t->stop)) {
            timed_out = true;
            break;
        }
        int left = ms_left(deadline);
        if (left == 0) {
            timed_out = true;
            break;
        }
        struct pollfd pf = {pfd[0], POLLIN, 0};
        int r = poll(&pf, 1, left < 100 ? left : 100);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        char chunk[4096];
        ssize_t got = read(pfd[0], chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (out.len < OUTPUT_MAX)
            buf_append(&out, chunk,
                       (size_t)got > OUTPUT_MAX - out.len ? OUTPUT_MAX - out.len : (size_t)got);
    }
    close(pfd[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (procf)
        unlink(procf);
    enum agent_action_result res;
    if (timed_out) {
        *msg = xasprintf("command \"%s\" timed out", joined.data);
        res = AGENT_ACTION_FAIL;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        *msg = buf_steal(&out);
        res = AGENT_ACTION_OK;
    } else {
        /* kubelet's probe message is the output; hooks quote the code as well */
        t->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        *msg = buf_steal(&out);
        res = AGENT_ACTION_FAIL;
    }
    if (!*msg)
        *msg = xstrdup("");
    buf_free(&out);
    buf_free(&joined);
    return res;
}

/* ---- sockets inside the pod's network namespace ---- */

struct ns_socket {
    const char *netns;
    int fd, err;
};

static void *ns_socket_main(void *opaque)
{
    struct ns_socket *s = opaque;
    int ns = open(s->netns, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
        s->err = errno;
        if (ns >= 0)
            close(ns);
        return NULL;
    }
    close(ns);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        s->err = errno;
    return NULL; /* the thread, and its membership of the pod's netns, end here */
}

int agent__socket_in_netns(const char *netns)
{
    struct ns_socket s = {netns, -1, 0};
    pthread_t th;
    int rc = pthread_create(&th, NULL, ns_socket_main, &s);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    pthread_join(th, NULL);
    if (s.fd < 0)
        errno = s.err;
    return s.fd;
}

/* Go's wording of an errno ("connection refused"). */
static void go_strerror(int e, char *out, size_t n)
{
    snprintf(out, n, "%s", strerror(e));
    out[0] = (char)(out[0] >= 'A' && out[0] <= 'Z' ? out[0] - 'A' + 'a' : out[0]);
}

/* Connects to ip:port from the pod's network namespace before the deadline. Returns the fd,
 * or -1 with *msg ("dial tcp 127.0.0.1:80: connect: connection refused" / "i/o timeout"). */
static int dial(const struct agent_target *t, const char *ip, int port, uint64_t deadline,
                char **msg)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        *msg = xasprintf("dial tcp %s:%d: host must be an IPv4 address", ip, port);
        return -1;
    }
    int fd = agent__socket_in_netns(t->netns);
    char es[128];
    if (fd < 0) {
        go_strerror(errno, es, sizeof(es));
        *msg = xasprintf("dial tcp %s:%d: socket in the pod's network namespace: %s", ip, port, es);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        go_strerror(errno, es, sizeof(es));
        *msg = xasprintf("dial tcp %s:%d: connect: %s", ip, port, es);
        close(fd);
        return -1;
    }
    struct pollfd pf = {fd, POLLOUT, 0};
    int r;
    while ((r = poll(&pf, 1, ms_left(deadline))) < 0 && errno == EINTR)
        ;
    if (r <= 0) {
        *msg = xasprintf("dial tcp %s:%d: i/o timeout", ip, port);
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        go_strerror(soerr, es, sizeof(es));
        *msg = xasprintf("dial tcp %s:%d: connect: %s", ip, port, es);
        close(fd);
        return -1;
    }
    return fd;
}

int agent__action_port(const json_t *port, const json_t *ctr, char **msg)
{
    if (json_is_integer(port)) {
        json_int_t v = json_integer_value(port);
        if (v >= 1 && v <= 65535)
            return (int)v;
        *msg = xasprintf("invalid port %lld: must be between 1 and 65535", (long long)v);
        return -1;
    }
    const char *name = json_string_value(port);
    if (!name) {
        *msg = xstrdup("port: required (a number or the name of a container port)");
        return -1;
    }
    char *end;
    long v = strtol(name, &end, 10);
    if (*name && !*end && v >= 1 && v <= 65535)
        return (int)v;
    size_t i;
    json_t *p;
    json_array_foreach (kjson_path(ctr, "ports"), i, p) {
        const char *pn = kjson_path_str(p, "name");
        json_t *cp = json_object_get(p, "containerPort");
        if (pn && strcmp(pn, name) == 0 && json_is_integer(cp))
            return (int)json_integer_value(cp);
    }
    *msg = xasprintf("couldn't find port: %s in %s", name, kjson_path_str(ctr, "name") ?: "");
    return -1;
}

int agent__http_status_code(const char *data, size_t len)
{
    /* "HTTP/1.1 200 OK\r\n": the code is the 3 digits after the first space */
    if (len < 12 || memcmp(data, "HTTP/", 5) != 0)
        return -1;
    const char *sp = memchr(data, ' ', len < 16 ? len : 16);
    if (!sp || (size_t)(sp - data) + 4 > len)
        return -1;
    int code = 0;
    for (int k = 1; k <= 3; k++) {
        char ch = sp[k];
        if (ch < '0' || ch > '9')
            return -1;
        code = code * 10 + (ch - '0');
    }
    if ((size_t)(sp - data) + 4 < len && sp[4] != ' ' && sp[4] != '\r' && sp[4] != '\n')
        return -1;
    return code >= 100 ? code : -1;
}

static const char *target_host(const struct agent_target *t, const json_t *h)
{
    const char *host = kjson_path_str(h, "host");
    if (host && *host)
        return host;
    return t->pod_ip && *t->pod_ip ? t->pod_ip : "127.0.0.1";
}

static enum agent_action_result run_tcp(const struct agent_target *t, const json_t *h,
                                        uint64_t deadline, char **msg)
{
    int port = agent__action_port(json_object_get(h, "port"), t->ctr, msg);
    if (port < 0)
        return AGENT_ACTION_ERROR;
    int fd = dial(t, target_host(t, h), port, deadline, msg);
    if (fd < 0)
        return AGENT_ACTION_FAIL;
    close(fd);
    *msg = xstrdup("");
    return AGENT_ACTION_OK;
}

static bool header_set(const json_t *headers, const char *name)
{
    size_t i;
    json_t *hd;
    json_array_foreach (headers, i, hd) {
        const char *n = kjson_path_str(hd, "name");
        if (n && strcasecmp(n, name) == 0)
            return true;
    }
    return false;
}

/* HTTPS through libcurl with the headers of the request built for HTTP/1.1 (its lines
 * after the request line); frees req. */
static enum agent_action_result run_https(const struct agent_target *t, const char *host, int port,
                                          const char *path, struct buf *req, uint64_t deadline,
                                          char **msg)
{
    struct curl_slist *hdrs = NULL;
    char *line = strstr(req->data, "\r\n");
    while (line && line[2] != '\r') {
        line += 2;
        char *end = strstr(line, "\r\n");
        _cleanup_free_ char *one = xstrndup(line, (size_t)(end - line));
        if (strncasecmp(one, "Connection:", 11) != 0)
            hdrs = curl_slist_append(hdrs, one);
        line = end;
    }
    _cleanup_free_ char *p = xasprintf("%s%s", path[0] == '/' ? "" : "/", path);
    enum agent_action_result r = agent__probe_https(t, host, port, p, hdrs, deadline, msg);
    curl_slist_free_all(hdrs);
    buf_free(req);
    return r;
}

static enum agent_action_result run_grpc(const struct agent_target *t, const json_t *g,
                                         double timeout_s, uint64_t deadline, char **msg)
{
    const json_t *port = json_object_get(g, "port");
    if (!json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535) {
        *msg = xstrdup("grpc.port: must be a number between 1 and 65535");
        return AGENT_ACTION_ERROR;
    }
    /* grpc has no host field: the pod's IP (127.0.0.1 in the pod's netns without one) */
    const char *host = t->pod_ip && *t->pod_ip ? t->pod_ip : "127.0.0.1";
    return agent__probe_grpc(t, host, (int)json_integer_value(port), kjson_path_str(g, "service"),
                             timeout_s, deadline, msg);
}

static enum agent_action_result run_http(const struct agent_target *t, const json_t *h,
                                         uint64_t deadline, char **msg)
{
    const char *scheme = kjson_path_str(h, "scheme");
    bool https = scheme && strcmp(scheme, "HTTPS") == 0;
    if (scheme && strcmp(scheme, "HTTP") != 0 && !https) {
        *msg = xasprintf("httpGet.scheme: Unsupported value: \"%s\": supported values: "
                         "\"HTTP\", \"HTTPS\"",
                         scheme);
        return AGENT_ACTION_ERROR;
    }
    int port = agent__action_port(json_object_get(h, "port"), t->ctr, msg);
    if (port < 0)
        return AGENT_ACTION_ERROR;
    const char *host = target_host(t, h);
    const char *path = kjson_path_str(h, "path");
    if (!path || !*path)
        path = "/";
    for (const char *c = path; *c; c++)
        if (*c == '\r' || *c == '\n' || *c == ' ') {
            *msg = xstrdup("httpGet.path: must not contain spaces or line breaks");
            return AGENT_ACTION_ERROR;
        }
    _cleanup_free_ char *url =
        xasprintf("http://%s:%d%s%s", host, port, path[0] == '/' ? "" : "/", path);
    const json_t *headers = json_object_get(h, "httpHeaders");
    struct buf req = BUF_INIT;
    buf_appendf(&req, "GET %s%s HTTP/1.1\r\n", path[0] == '/' ? "" : "/", path);
    if (!header_set(headers, "Host"))
        buf_appendf(&req, "Host: %s:%d\r\n", host, port);
    if (!header_set(headers, "User-Agent"))
        buf_append_str(&req, "User-Agent: kube-probe/1.32\r\n");
    if (!header_set(headers, "Accept"))
        buf_append_str(&req, "Accept: */*\r\n");
    size_t i;
    json_t *hd;
    json_array_foreach (headers, i, hd) {
        const char *n = kjson_path_str(hd, "name"), *v = kjson_path_str(hd, "value");
        if (!n || !*n || strpbrk(n, "\r\n: ") || (v && strpbrk(v, "\r\n"))) {
            buf_free(&req);
            *msg = xasprintf("httpGet.httpHeaders[%zu]: invalid header", i);
            return AGENT_ACTION_ERROR;
        }
        buf_appendf(&req, "%s: %s\r\n", n, v ? v : "");
    }
    buf_append_str(&req, "Connection: close\r\n\r\n");
    if (https)
        return run_https(t, host, port, path, &req, deadline, msg);
    _cleanup_free_ char *dmsg = NULL;
    int fd = dial(t, host, port, deadline, &dmsg);
    if (fd < 0) {
        buf_free(&req);
        *msg = xasprintf("Get \"%s\": %s", url, dmsg);
        return AGENT_ACTION_FAIL;
    }
    size_t off = 0;
    char resp[1024];
    size_t got = 0;
    int code = -1;
    bool timeout = false, closed = false;
    while (code < 0 && !closed) {
        int left = ms_left(deadline);
        if (left == 0) {
            timeout = true;
            break;
        }
        struct pollfd pf = {fd, (short)(off < req.len ? POLLOUT : POLLIN), 0};
        int r = poll(&pf, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timeout = r == 0;
            closed = r < 0;
            break;
        }
        if (off < req.len) {
            ssize_t w = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                closed = true;
            else if (w > 0)
                off += (size_t)w;
            continue;
        }
        ssize_t rd = recv(fd, resp + got, sizeof(resp) - got, 0);
        if (rd < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (rd <= 0) {
            closed = true;
            break;
        }
        got += (size_t)rd;
        if (memchr(resp, '\n', got) || got == sizeof(resp)) {
            code = agent__http_status_code(resp, got);
            if (code < 0)
                closed = true;
        }
    }
    close(fd);
    buf_free(&req);
    if (code < 0 && got > 0)
        code = agent__http_status_code(resp, got);
    if (code >= 200 && code < 400) {
        *msg = xstrdup("");
        return AGENT_ACTION_OK;
    }
    if (code >= 0)
        *msg = xasprintf("HTTP probe failed with statuscode: %d", code);
    else if (timeout)
        *msg = xasprintf("Get \"%s\": context deadline exceeded (Client.Timeout exceeded while "
                         "awaiting headers)",
                         url);
    else if (got > 0)
        *msg = xasprintf("Get \"%s\": net/http: malformed HTTP response", url);
    else
        *msg = xasprintf("Get \"%s\": EOF", url);
    return AGENT_ACTION_FAIL;
}

enum agent_action_result agent__action_run(const struct agent *a, struct agent_target *t,
                                           const json_t *action, double timeout_s, char **msg)
{
    *msg = NULL;
    t->exit_code = -1;
    if (timeout_s <= 0)
        timeout_s = 1;
    uint64_t deadline = clock_mono_ns() + (uint64_t)(timeout_s * 1e9);
    const json_t *h;
    if ((h = json_object_get(action, "exec")))
        return run_exec(a, t, json_object_get(h, "command"), deadline, msg);
    if ((h = json_object_get(action, "httpGet")))
        return run_http(t, h, deadline, msg);
    if ((h = json_object_get(action, "tcpSocket")))
        return run_tcp(t, h, deadline, msg);
    if ((h = json_object_get(action, "grpc")))
        return run_grpc(t, h, timeout_s, deadline, msg);
    *msg = xstrdup("missing handler: one of exec, httpGet, tcpSocket or grpc is required");
    return AGENT_ACTION_ERROR;
}
