/* The container's process: clone3 into new namespaces (joining the ones named by path)
 * and straight into its cgroup, a parent/child handshake over a socketpair ('G': uid/gid
 * maps written; 'C': cgroup and pids.max done; 'H'/'h': run the create hooks; 'R' ready;
 * "E..." a one-line failure), then the child's setup in order: rootfs (createContainer
 * hooks before pivot_root), terminal, sysctl, masked/readonly paths, rlimits, the exec fifo
 * wait (create), startContainer hooks, capabilities, user, no_new_privs, seccomp, and exec
 * with every runtime descriptor closed. exec into a running container shares the child. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "runtime/internal.h"

extern char **environ;

/* clone3's argument, spelled out to keep <linux/sched.h> away from glibc's <sched.h>. */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* fork-like clone3 (no new stack) into new namespaces; with cgroup_fd >= 0 the child starts
 * in that cgroup v2 directory (CLONE_INTO_CGROUP: no migration afterwards). */
static pid_t clone3_fork(uint64_t flags, int *pidfd, int cgroup_fd)
{
    struct clone3_args a = {
        .flags = flags | CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)pidfd, .exit_signal = SIGCHLD};
    if (cgroup_fd >= 0) {
        a.flags |= CLONE_INTO_CGROUP;
        a.cgroup = (uint64_t)cgroup_fd;
    }
    return (pid_t)syscall(SYS_clone3, &a, sizeof(a));
}

int runtime__exit_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return 1;
}

/* ---- child side ---- */

struct child_ctx {
    const struct runtime_spec *spec;
    const struct runtime_cgroup *cg;
    const struct runtime_bpf *seccomp; /* or NULL */
    int sync;                          /* child's end of the socketpair */
    int fifo;                          /* exec fifo opened O_RDWR, or -1 */
    int console;                       /* connected console socket, or -1 */
    int preserve_fds;
    bool no_pivot;
    bool got_c;       /* 'C' arrived while waiting for something else */
    char *state_json; /* from the parent's 'h', for the hooks run in the container */
    bool exec_mode;   /* joining an existing container (no rootfs setup) */
    int join_pidfd;   /* exec: the container's pidfd */
    int join_flags;   /* exec: namespaces to enter */
    const int *stdio; /* fds to make 0, 1, 2 (-1: keep), or NULL */
};

static _Noreturn void child_fail(struct child_ctx *c, struct k8c_err *e)
{
    _cleanup_free_ char *text = k8c_err_text(e);
    struct buf msg = BUF_INIT;
    buf_appendf(&msg, "E%s", text);
    if (send(c->sync, msg.data, msg.len, MSG_NOSIGNAL) < 0)
        fprintf(stderr, "k8c: runtime: %s\n", text);
    _exit(1);
}

static int send_fd(int sock, int fd, const char *name, struct k8c_err **err)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name) + 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        return k8c_err_errno(err, "send the terminal to the console socket");
    return 0;
}

/* Opens a pty in the container's devpts, hands the master to the console socket and makes
 * the slave the process's controlling terminal and stdio. */
static int setup_terminal(struct child_ctx *c, struct k8c_err **err)
{
    _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return k8c_err_errno(err, "process.terminal: open /dev/ptmx");
    if (unlockpt(master) < 0)
        return k8c_err_errno(err, "process.terminal: unlockpt");
    char name[64];
    if (ptsname_r(master, name, sizeof(name)) != 0)
        return k8c_err_errno(err, "process.terminal: ptsname");
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0)
        return k8c_err_errno(err, "process.terminal: open `%s`", name);
    if (send_fd(c->console, master, name, err) < 0) {
        close(slave);
        return -1;
    }
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0) {
            close(slave);
            return k8c_err_errno(err, "process.terminal: dup2");
        }
    if (slave > 2)
        close(slave);
    if (ioctl(0, TIOCSCTTY, 0) < 0)
        return k8c_err_errno(err, "process.terminal: set the controlling terminal");
    return 0;
}

static int apply_rlimits(const struct runtime_spec *s, struct k8c_err **err)
{
    for (size_t i = 0; i < s->n_rlimits; i++) {
        struct rlimit rl = {
            .rlim_cur = s->rlimits[i].soft == UINT64_MAX ? RLIM_INFINITY : s->rlimits[i].soft,
            .rlim_max = s->rlimits[i].hard == UINT64_MAX ? RLIM_INFINITY : s->rlimits[i].hard};
        if (setrlimit(s->rlimits[i].resource, &rl) < 0)
            return k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST,
                               "config.json: process.rlimits[%zu]: setrlimit", i);
    }
    return 0;
}

/* Waits for the parent's byte: 'G' (uid/gid maps written: go on with the setup) or 'C'
 * (the process is in its cgroup: it may unshare the cgroup namespace and exec). */
static int wait_for(struct child_ctx *c, char want, struct k8c_err **err)
{
    if (want == 'C' && c->got_c)
        return 0;
    for (;;) {
        char msg[8192];
        ssize_t n;
        do
            n = recv(c->sync, msg, sizeof(msg) - 1, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return k8c_err_set(err, EPIPE, K8C_REASON_INTERNAL, "the runtime went away");
        if (msg[0] == 'C' && want != 'C') {
            c->got_c = true;
            continue;
        }
        if (msg[0] != want)
            return k8c_err_set(err, EPROTO, K8C_REASON_INTERNAL, "unexpected message '%c'", msg[0]);
        if (want == 'h') {
            msg[n] = '\0';
            c->state_json = xstrdup(msg + 1);
        }
        return 0;
    }
}

static bool has_hooks(const struct runtime_spec *s, enum runtime_hook_kind kind)
{
    return s->n_hooks[kind] > 0;
}

/* Before pivot_root: the parent runs createRuntime (and prestart) hooks in the runtime's
 * namespaces, then we run createContainer hooks in ours (host paths are still visible). */
static int before_pivot(void *opaque, struct k8c_err **err)
{
    struct child_ctx *c = opaque;
    const struct runtime_spec *s = c->spec;
    if (!has_hooks(s, RUNTIME_HOOK_PRESTART) && !has_hooks(s, RUNTIME_HOOK_CREATE_RUNTIME) &&
        !has_hooks(s, RUNTIME_HOOK_CREATE_CONTAINER) && !has_hooks(s, RUNTIME_HOOK_START_CONTAINER))
        return 0;
    if (send(c->sync, "H", 1, MSG_NOSIGNAL) != 1)
        return k8c_err_errno(err, "ask for the hooks");
    if (wait_for(c, 'h', err) < 0)
        return -1;
    return runtime__hooks_run(s, RUNTIME_HOOK_CREATE_CONTAINER, c->state_json, err);
}

/* Checks that process.args[0] can be found (as execvp will look for it, in the container's
 * PATH), so that create fails instead of a later start (as runc does). */
static int find_program(const struct runtime_spec *s, struct k8c_err **err)
{
    const char *prog = s->args[0];
    if (strchr(prog, '/')) {
        if (access(prog, X_OK) == 0)
            return 0;
        return k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST, "config.json: process.args[0]: `%s`",
                           prog);
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (size_t i = 0; s->env[i]; i++)
        if (strncmp(s->env[i], "PATH=", 5) == 0)
            path = s->env[i] + 5;
    for (const char *p = path;;) {
        size_t len = strcspn(p, ":");
        _cleanup_free_ char *full = xasprintf("%.*s%s%s", (int)len, p, len ? "/" : "", prog);
        if (access(full, X_OK) == 0)
            return 0;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                       "config.json: process.args[0]: `%s` is not in the container's PATH "
                       "(%s)",
                       prog, path);
}

/* The last steps, shared by create and exec: user, capabilities, seccomp, exec. */
static _Noreturn void finish_and_exec(struct child_ctx *c)
{
    const struct runtime_spec *s = c->spec;
    struct k8c_err *err = NULL;
    if (s->has_caps && runtime__caps_drop_bounding(s->cap_bounding, &err) < 0)
        child_fail(c, err);
    /* Without no_new_privs the filter must go in while CAP_SYS_ADMIN is still held. */
    if (c->seccomp && !s->no_new_privileges && runtime__seccomp_load(c->seccomp, &err) < 0)
        child_fail(c, err);
    if (runtime__caps_apply_user(s, &err) < 0)
        child_fail(c, err);
    if (s->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        k8c_err_errno(&err, "process.noNewPrivileges");
        child_fail(c, err);
    }
    if (chdir(s->cwd) < 0) {
        k8c_err_set(&err, errno, K8C_REASON_BAD_REQUEST, "config.json: process.cwd: `%s`", s->cwd);
        child_fail(c, err);
    }
    umask(s->has_umask ? s->umask : 022);
    if (c->seccomp && s->no_new_privileges && runtime__seccomp_load(c->seccomp, &err) < 0)
        child_fail(c, err);
    /* Nothing of the runtime may reach the container: every descriptor above stdio (and the
     * preserved ones) closes at exec. */
    if (syscall(SYS_close_range, 3 + c->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3 + c->preserve_fds; fd < 65536; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    environ = s->env;
    execvp(s->args[0], s->args);
    k8c_err_set(&err, errno, K8C_REASON_BAD_REQUEST, "config.json: process.args[0]: exec `%s`",
                s->args[0]);
    child_fail(c, err);
}

/* Puts the caller's chosen descriptors on 0, 1, 2 (copied above 2 first, so that one already
 * on a low number is not overwritten before it is used). */
static int set_stdio(const int *stdio, struct k8c_err **err)
{
    int high[3];
    for (int i = 0; i < 3; i++)
        if ((high[i] = stdio[i] < 0 ? -1 : fcntl(stdio[i], F_DUPFD_CLOEXEC, 3)) < 0 &&
            stdio[i] >= 0)
            return k8c_err_errno(err, "the container's stdio");
    for (int i = 0; i < 3; i++)
        if (high[i] >= 0 && (dup2(high[i], i) < 0 || close(high[i]) < 0))
            return k8c_err_errno(err, "the container's stdio");
    return 0;
}

static _Noreturn void child_main(struct child_ctx *c)
{
    const struct runtime_spec *s = c->spec;
    struct k8c_err *err = NULL;
    bool in_cgroup = false;
    if (c->stdio && set_stdio(c->stdio, &err) < 0)
        child_fail(c, err);
    if (wait_for(c, 'G', &err) < 0)
        child_fail(c, err);
    /* The parent moves us into the cgroup while we set up; a new cgroup namespace must
     * wait for that (its root is the cgroup we are in when unsharing). */
    if (c->exec_mode || s->ns[RUNTIME_NS_CGROUP].wanted) {
        if (wait_for(c, 'C', &err) < 0)
            child_fail(c, err);
        in_cgroup = true;
    }
    if (c->exec_mode) {
        if (c->join_flags && setns(c->join_pidfd, c->join_flags) < 0) {
            k8c_err_errno(&err, "enter the container's namespaces");
            child_fail(c, err);
        }
    } else {
        if (s->ns[RUNTIME_NS_USER].path) {
            _cleanup_close_ int fd = open(s->ns[RUNTIME_NS_USER].path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0) {
                k8c_err_errno(&err, "linux.namespaces: join user namespace `%s`",
                              s->ns[RUNTIME_NS_USER].path);
                child_fail(c, err);
            }
        }
        if (s->ns[RUNTIME_NS_CGROUP].wanted && s->ns[RUNTIME_NS_CGROUP].path == NULL &&
            unshare(CLONE_NEWCGROUP) < 0) {
            k8c_err_errno(&err, "linux.namespaces: new cgroup namespace");
            child_fail(c, err);
        }
    }
    /* a new session (and so no controlling terminal) for the container's process; an
     * exec'd process that already leads one keeps it */
    if (setsid() < 0 && !c->exec_mode) {
        k8c_err_errno(&err, "setsid");
        child_fail(c, err);
    }
    if (!c->exec_mode) {
        if (s->ns[RUNTIME_NS_USER].wanted && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
            k8c_err_errno(&err, "linux.uidMappings: become root in the user namespace");
            child_fail(c, err);
        }
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) {
            k8c_err_errno(&err, "hostname");
            child_fail(c, err);
        }
        if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0) {
            k8c_err_errno(&err, "domainname");
            child_fail(c, err);
        }
        if (runtime__rootfs_setup(s, c->cg, c->no_pivot, before_pivot, c, &err) < 0)
            child_fail(c, err);
    }
    if (c->console >= 0 && setup_terminal(c, &err) < 0)
        child_fail(c, err);
    if (!c->exec_mode) {
        if (runtime__sysctl_apply(s, &err) < 0 || runtime__rootfs_finish(s, &err) < 0)
            child_fail(c, err);
    }
    if (apply_rlimits(s, &err) < 0 || find_program(s, &err) < 0)
        child_fail(c, err);
    if (!in_cgroup && wait_for(c, 'C', &err) < 0)
        child_fail(c, err);
    if (c->fifo >= 0) {
        /* create: report ready, then block until `start` writes a byte into the fifo */
        if (send(c->sync, "R", 1, MSG_NOSIGNAL) != 1)
            _exit(1);
        char b;
        ssize_t n;
        do
            n = read(c->fifo, &b, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            _exit(1);
        close(c->fifo);
    }
    if (!c->exec_mode && c->state_json &&
        runtime__hooks_run(s, RUNTIME_HOOK_START_CONTAINER, c->state_json, &err) < 0)
        child_fail(c, err);
    finish_and_exec(c);
}

/* ---- parent side ---- */

static int write_idmap(pid_t pid, const char *file, const struct runtime_idmap *m, size_t n,
                       struct k8c_err **err)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        buf_appendf(&b, "%u %u %u\n", m[i].container_id, m[i].host_id, m[i].size);
    _cleanup_free_ char *path = xasprintf("/proc/%d/%s", (int)pid, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    int r = 0;
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len)
        r = k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST, "config.json: linux.%s: write %s",
                        strcmp(file, "uid_map") == 0 ? "uidMappings" : "gidMappings", file);
    buf_free(&b);
    return r;
}

static int connect_console(const char *path, struct k8c_err **err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "--console-socket: path too long");
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return k8c_err_errno(err, "socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        k8c_err_errno(err, "--console-socket: connect `%s`", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the child's report: 'R' (ready), 'H' (run the runtime's hooks), EOF (exec'd) or
 * "E<message>". Returns 0 for R or EOF (*ready says which; *hooks for H), -1 with *err for
 * a failure. */
static int read_report_hooks(int sync, bool *ready, bool *hooks, struct k8c_err **err)
{
    *hooks = false;
    char msg[4096];
    ssize_t n;
    int resets = 0;
    /* A child that fails exits with our 'C' unread, and the kernel reports that as
     * ECONNRESET once (then clears it) even though its message is still queued for us. */
    do
        n = recv(sync, msg, sizeof(msg) - 1, 0);
    while (n < 0 && (errno == EINTR || (errno == ECONNRESET && resets++ < 2)));
    if (n < 0)
        return k8c_err_errno(err, "read from the container process");
    *ready = n == 1 && msg[0] == 'R';
    *hooks = n == 1 && msg[0] == 'H';
    if (n == 0 || *ready || *hooks)
        return 0;
    msg[n] = '\0';
    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s", msg[0] == 'E' ? msg + 1 : msg);
}

static int read_report(int sync, bool *ready, struct k8c_err **err)
{
    bool hooks;
    if (read_report_hooks(sync, ready, &hooks, err) < 0)
        return -1;
    if (hooks)
        return k8c_err_set(err, EPROTO, K8C_REASON_INTERNAL, "unexpected hooks request");
    return 0;
}

/* The parent's side of 'H': createRuntime hooks (prestart first) with the state, then the
 * state goes to the child for its own hooks. */
static int run_runtime_hooks(const struct runtime_spec *spec, struct runtime_state *st, pid_t pid,
                             int sync, struct k8c_err **err)
{
    st->pid = pid;
    _cleanup_json_ json_t *state = runtime__state_json(st, RUNTIME_STATUS_CREATING);
    st->pid = 0;
    _cleanup_free_ char *text = kjson_dumps(state);
    if (runtime__hooks_run(spec, RUNTIME_HOOK_PRESTART, text, err) < 0 ||
        runtime__hooks_run(spec, RUNTIME_HOOK_CREATE_RUNTIME, text, err) < 0)
        return -1;
    _cleanup_free_ char *msg = xasprintf("h%s", text);
    if (send(sync, msg, strlen(msg), MSG_NOSIGNAL) < 0)
        return k8c_err_errno(err, "send the state to the container process");
    return 0;
}

static int write_pid_file(const char *path, pid_t pid, struct k8c_err **err)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
    return file_write_atomic(path, buf, (size_t)n, 0644, err);
}

static char *now_rfc3339(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* Joins the namespaces named by path that the runtime process itself may enter before the
 * clone (network, ipc, uts, cgroup, and pid for the children): the new namespaces are then
 * created on top of them. User namespaces are joined by the child. */
static int join_in_parent(const struct runtime_spec *s, struct k8c_err **err)
{
    static const enum runtime_ns_kind kinds[] = {RUNTIME_NS_PID, RUNTIME_NS_NETWORK, RUNTIME_NS_IPC,
                                                 RUNTIME_NS_UTS, RUNTIME_NS_CGROUP};
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        const char *path = s->ns[kinds[i]].path;
        if (path == NULL)
            continue;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, runtime__ns_clone_flag(kinds[i])) < 0)
            return k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST,
                               "config.json: linux.namespaces: join %s namespace `%s`",
                               runtime__ns_name(kinds[i]), path);
    }
    return 0;
}

pid_t runtime__container_create(const struct runtime_spec *spec,
                                const struct runtime_create_opts *o, struct k8c_err **err)
{
    if (spec->ns[RUNTIME_NS_MOUNT].path)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "config.json: linux.namespaces: joining a mount namespace is not "
                           "supported (the rootfs needs a new one)");
    if (spec->terminal && o->console_socket == NULL && o->console_fd <= 2)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "process.terminal needs --console-socket");
    if (runtime__state_dir_create(o->root, o->id, err) < 0)
        return -1;
    struct runtime_state st = {0};
    st.id = xstrdup(o->id);
    st.dir = xasprintf("%s/%s", o->root, o->id);
    st.bundle = xstrdup(spec->bundle);
    st.rootfs = xstrdup(spec->root_path);
    st.created = now_rfc3339();
    st.annotations = json_incref(spec->annotations);
    const char *cgroot = getenv("K8C_RUNTIME_CGROUP_ROOT"); /* tests and odd hosts */
    const struct runtime_cgroup_ops *ops = runtime__cgroup_driver(cgroot);
    struct runtime_cgroup cg;
    _cleanup_free_ char *cgpath =
        spec->cgroups_path
            ? xasprintf("%s%s", spec->cgroups_path[0] == '/' ? "" : "/", spec->cgroups_path)
            : xasprintf(RUNTIME_CGROUP_PARENT "/%s", o->id);
    runtime__cgroup_init(&cg, ops, cgroot, cgpath);
    st.cgroup_driver = xstrdup(ops->name);
    st.cgroup_root = xstrdup(cg.mount_root);
    st.cgroup_path = xstrdup(cg.path);
    bool cg_made = false;
    pid_t pid = -1;
    int pidfd = -1;
    int sync[2] = {-1, -1};
    _cleanup_close_ int fifo = -1, console = -1;
    struct runtime_bpf bpf = {0};
    _cleanup_strv_ char **saved_cgroups = NULL;
    bool entered = false;

    /* pids.max goes in after the clone: the runtime passes through the cgroup for it */
    struct runtime_resources res = spec->resources;
    res.has_pids_limit = false;
    if (ops->create(&cg, &res, err) < 0) {
        cg_made = true;
        goto fail;
    }
    cg_made = true;
    if (spec->seccomp) {
        _cleanup_free_ char *cache = xasprintf("%s/.seccomp-cache", o->root);
        if (runtime__seccomp_compile(spec->seccomp, cache, &bpf, err) < 0)
            goto fail;
    }
    if (!o->start_now) {
        _cleanup_free_ char *fpath = xasprintf("%s/exec.fifo", st.dir);
        if (mkfifo(fpath, 0600) < 0) {
            k8c_err_errno(err, "create `%s`", fpath);
            goto fail;
        }
        if ((fifo = open(fpath, O_RDWR | O_CLOEXEC)) < 0) {
            k8c_err_errno(err, "open `%s`", fpath);
            goto fail;
        }
    }
    if (spec->terminal && o->console_fd > 2) {
        if ((console = fcntl(o->console_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
            k8c_err_errno(err, "console");
            goto fail;
        }
    } else if (spec->terminal && (console = connect_console(o->console_socket, err)) < 0) {
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0) {
        k8c_err_errno(err, "socketpair");
        goto fail;
    }
    if (join_in_parent(spec, err) < 0)
        goto fail;
    uint64_t flags = 0;
    for (int k = 0; k < RUNTIME_NS_COUNT; k++)
        if (spec->ns[k].wanted && spec->ns[k].path == NULL && k != RUNTIME_NS_CGROUP)
            flags |= (uint64_t)runtime__ns_clone_flag(k);
    bool in_cgroup = false;
    if (ops == &runtime__cgroup_v2) {
        _cleanup_free_ char *dir = xasprintf("%s%s", cg.mount_root, cg.path);
        _cleanup_close_ int cgfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cgfd >= 0 && (pid = clone3_fork(flags, &pidfd, cgfd)) >= 0)
            in_cgroup = true;
    }
    if (!in_cgroup && ops->enter) {
        _cleanup_err_ struct k8c_err *e = NULL;
        if (ops->enter(&cg, &saved_cgroups, &e) == 0) {
            entered = true;
        } else if (saved_cgroups) {
            _cleanup_err_ struct k8c_err *e2 = NULL;
            ops->leave(&cg, saved_cgroups, &e2); /* then migrate it the slow way */
        }
    }
    if (!in_cgroup)
        pid = clone3_fork(flags, &pidfd, -1);
    if (pid == 0) {
        close(sync[0]);
        struct child_ctx c = {.spec = spec,
                              .cg = &cg,
                              .seccomp = bpf.insns ? &bpf : NULL,
                              .sync = sync[1],
                              .fifo = fifo,
                              .console = console,
                              .preserve_fds = o->preserve_fds,
                              .no_pivot = o->no_pivot,
                              .join_pidfd = -1,
                              .stdio = o->stdio};
        child_main(&c);
    }
    if (entered) {
        entered = false;
        if (ops->leave(&cg, saved_cgroups, err) < 0) {
            k8c_err_wrap(err, "leave the container's cgroup");
            goto fail;
        }
        in_cgroup = pid > 0;
    }
    if (pid < 0) {
        k8c_err_errno(err, "clone the container process");
        goto fail;
    }
    close(sync[1]);
    sync[1] = -1;
    if (spec->ns[RUNTIME_NS_USER].wanted && spec->ns[RUNTIME_NS_USER].path == NULL) {
        if (write_idmap(pid, "uid_map", spec->uid_mappings, spec->n_uid_mappings, err) < 0 ||
            write_idmap(pid, "gid_map", spec->gid_mappings, spec->n_gid_mappings, err) < 0)
            goto fail;
    }
    if (send(sync[0], "G", 1, MSG_NOSIGNAL) != 1) {
        /* the child failed already: its report says why */
        bool unused;
        if (read_report(sync[0], &unused, err) == 0)
            k8c_err_set(err, 0, K8C_REASON_INTERNAL, "the container process exited early");
        goto fail;
    }
    if (!in_cgroup && ops->add_pid(&cg, pid, err) < 0)
        goto fail;
    if (spec->resources.has_pids_limit) {
        struct runtime_resources pids = {.has_pids_limit = true,
                                         .pids_limit = spec->resources.pids_limit};
        if (ops->update(&cg, &pids, err) < 0)
            goto fail;
    }
    if (spec->has_oom_score_adj) {
        _cleanup_free_ char *dir = xasprintf("/proc/%d", (int)pid);
        char v[16];
        snprintf(v, sizeof(v), "%d", spec->oom_score_adj);
        if (runtime__cgroup_write(dir, "oom_score_adj", v, err) < 0) {
            k8c_err_wrap(err, "process.oomScoreAdj");
            goto fail;
        }
    }
    if (send(sync[0], "C", 1, MSG_NOSIGNAL) != 1) {
        bool unused;
        if (read_report(sync[0], &unused, err) == 0)
            k8c_err_set(err, 0, K8C_REASON_INTERNAL, "the container process exited early");
        goto fail;
    }
    bool ready, hooks;
    for (;;) {
        if (read_report_hooks(sync[0], &ready, &hooks, err) < 0)
            goto fail;
        if (!hooks)
            break;
        if (run_runtime_hooks(spec, &st, pid, sync[0], err) < 0)
            goto fail;
    }
    if (!o->start_now && !ready) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "the container process exited during setup");
        goto fail;
    }
    st.pid = pid;
    st.pid_start = runtime__pid_start_time(pid);
    if (runtime__state_save(&st, err) < 0)
        goto fail;
    if (o->pid_file && write_pid_file(o->pid_file, pid, err) < 0)
        goto fail;
    close(sync[0]);
    if (pidfd >= 0)
        close(pidfd);
    runtime__bpf_release(&bpf);
    runtime__cgroup_release(&cg);
    runtime__state_release(&st);
    return pid;

fail:
    if (entered) {
        _cleanup_err_ struct k8c_err *e = NULL;
        ops->leave(&cg, saved_cgroups, &e);
    }
    if (pid > 0) {
        if (pidfd >= 0)
            syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        else
            kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (pidfd >= 0)
        close(pidfd);
    if (sync[0] >= 0)
        close(sync[0]);
    if (sync[1] >= 0)
        close(sync[1]);
    runtime__bpf_release(&bpf);
    if (cg_made) {
        _cleanup_err_ struct k8c_err *e = NULL;
        runtime__cgroup_destroy_wait(&cg, &e);
    }
    _cleanup_err_ struct k8c_err *e2 = NULL;
    runtime__state_remove(st.dir, &e2);
    runtime__cgroup_release(&cg);
    runtime__state_release(&st);
    return -1;
}

int runtime__container_start(const struct runtime_state *st, struct k8c_err **err)
{
    _cleanup_free_ char *path = xasprintf("%s/exec.fifo", st->dir);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return k8c_err_set(err, 0, K8C_REASON_CONFLICT,
                               "container \"%s\" is not in the created state", st->id);
        return k8c_err_errno(err, "open `%s`", path);
    }
    if (write(fd, "S", 1) != 1)
        return k8c_err_errno(err, "start container \"%s\"", st->id);
    if (unlink(path) < 0)
        return k8c_err_errno(err, "remove `%s`", path);
    return 0;
}

/* ---- exec ---- */

int runtime__container_exec(const struct runtime_state *st, const struct runtime_exec_opts *o,
                            struct k8c_err **err)
{
    _cleanup_spec_ struct runtime_spec *spec = runtime_spec_load(st->bundle, err);
    if (spec == NULL)
        return -1;
    /* the exec'd process: the container's settings with the command line's overrides */
    mem_free_strv(&spec->args);
    size_t n = 0;
    while (o->args[n])
        n++;
    spec->args = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        spec->args[i] = xstrdup(o->args[i]);
    if (o->cwd) {
        free(spec->cwd);
        spec->cwd = xstrdup(o->cwd);
    }
    if (o->env) {
        size_t have = 0, add = 0;
        while (spec->env[have])
            have++;
        while (o->env[add])
            add++;
        spec->env = xrealloc(spec->env, (have + add + 1) * sizeof(char *));
        for (size_t i = 0; i < add; i++)
            spec->env[have + i] = xstrdup(o->env[i]);
        spec->env[have + add] = NULL;
    }
    if (o->has_user) {
        spec->uid = o->uid;
        spec->gid = o->gid;
    }
    if (o->no_new_privs_set)
        spec->no_new_privileges = true;
    spec->terminal = o->tty;
    if (o->tty && o->console_socket == NULL && o->console_fd <= 2)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "--tty needs --console-socket");

    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
    if (pidfd < 0 || runtime__pid_start_time(st->pid) != st->pid_start)
        return k8c_err_set(err, 0, K8C_REASON_CONFLICT, "container \"%s\" is not running", st->id);
    /* Enter only the namespaces the container does not share with us. */
    static const struct {
        const char *name;
        int flag;
    } nss[] = {{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},  {"net", CLONE_NEWNET},
               {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP},
               {"pid", CLONE_NEWPID}};
    int join = 0;
    for (size_t i = 0; i < ARRAY_SIZE(nss); i++) {
        char a[64], b[64];
        struct stat sa, sb;
        snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)st->pid, nss[i].name);
        snprintf(b, sizeof(b), "/proc/self/ns/%s", nss[i].name);
        if (stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino != sb.st_ino)
            join |= nss[i].flag;
    }
    struct runtime_bpf bpf = {0};
    if (spec->seccomp) {
        _cleanup_free_ char *root = xstrdup(st->dir);
        char *slash = strrchr(root, '/');
        if (slash)
            *slash = '\0';
        _cleanup_free_ char *cache = xasprintf("%s/.seccomp-cache", root);
        if (runtime__seccomp_compile(spec->seccomp, cache, &bpf, err) < 0)
            return -1;
    }
    struct runtime_cgroup cg;
    runtime__state_cgroup(st, &cg);
    _cleanup_close_ int console = -1;
    int sync[2] = {-1, -1};
    pid_t pid = -1;
    int ret = -1;
    bool in_cgroup = false, entered = false;
    _cleanup_strv_ char **saved = NULL;
    _cleanup_close_ int child_pidfd = -1;
    if (o->tty && o->console_fd > 2) {
        if ((console = fcntl(o->console_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
            k8c_err_errno(err, "console");
            goto out;
        }
    } else if (o->tty && (console = connect_console(o->console_socket, err)) < 0) {
        goto out;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0) {
        k8c_err_errno(err, "socketpair");
        goto out;
    }
    /* the pid namespace applies to our children only: enter it here */
    if ((join & CLONE_NEWPID) && setns(pidfd, CLONE_NEWPID) < 0) {
        k8c_err_errno(err, "enter the container's pid namespace");
        goto out;
    }
    /* born in the container's cgroup: CLONE_INTO_CGROUP (v2) or passing through it (v1) */
    if (cg.ops == &runtime__cgroup_v2) {
        _cleanup_free_ char *dir = xasprintf("%s%s", cg.mount_root, cg.path);
        _cleanup_close_ int cgfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cgfd >= 0 && (pid = clone3_fork(0, &child_pidfd, cgfd)) >= 0)
            in_cgroup = true;
    } else if (cg.ops->enter) {
        _cleanup_err_ struct k8c_err *e = NULL;
        if (cg.ops->enter(&cg, &saved, &e) == 0) {
            entered = true;
        } else if (saved) {
            _cleanup_err_ struct k8c_err *e2 = NULL;
            cg.ops->leave(&cg, saved, &e2);
        }
    }
    if (!in_cgroup)
        pid = clone3_fork(0, &child_pidfd, -1);
    if (pid == 0) {
        close(sync[0]);
        struct child_ctx c = {.spec = spec,
                              .seccomp = bpf.insns ? &bpf : NULL,
                              .sync = sync[1],
                              .fifo = -1,
                              .console = console,
                              .exec_mode = true,
                              .join_pidfd = pidfd,
                              .join_flags = join & ~CLONE_NEWPID};
        child_main(&c);
    }
    if (entered) {
        if (cg.ops->leave(&cg, saved, err) < 0) {
            k8c_err_wrap(err, "leave the container's cgroup");
            goto out;
        }
        in_cgroup = pid > 0;
    }
    if (pid < 0) {
        k8c_err_errno(err, "clone");
        goto out;
    }
    close(sync[1]);
    sync[1] = -1;
    if ((!in_cgroup && cg.ops->add_pid(&cg, pid, err) < 0) ||
        send(sync[0], "G", 1, MSG_NOSIGNAL) != 1 || send(sync[0], "C", 1, MSG_NOSIGNAL) != 1)
        goto out;
    bool ready;
    if (read_report(sync[0], &ready, err) < 0)
        goto out;
    if (o->pid_file && write_pid_file(o->pid_file, pid, err) < 0)
        goto out;
    if (o->detach) {
        ret = 0;
        pid = -1;
        goto out;
    }
    int ws;
    if (o->tty && o->proxy_fd > 2) {
        int master = runtime__console_recv(o->proxy_fd, err);
        if (master < 0)
            goto out;
        ws = runtime__console_proxy(master, pid);
        close(master);
    } else {
        while (waitpid(pid, &ws, 0) < 0)
            if (errno != EINTR) {
                k8c_err_errno(err, "wait for the exec'd process");
                goto out;
            }
    }
    pid = -1;
    ret = runtime__exit_status(ws);
out:
    if (ret < 0 && pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (sync[0] >= 0)
        close(sync[0]);
    if (sync[1] >= 0)
        close(sync[1]);
    runtime__bpf_release(&bpf);
    runtime__cgroup_release(&cg);
    return ret;
}
