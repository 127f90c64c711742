/* `k8c runtime [global flags] VERB [flags] ID ...`: the crun/runc command line (create,
 * start, state, kill, delete, run, exec, list, ps, pause, resume) over the functions of this
 * module. Usage errors exit 2, failures exit 1 (one line on stderr each); run and exec exit
 * with the container process's status. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "runtime/internal.h"

struct cli {
    const char *root;
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "k8c: runtime: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'k8c runtime --help')\n");
    va_end(ap);
    return 2;
}

static int report(struct k8c_err *e)
{
    _cleanup_free_ char *text = k8c_err_text(e);
    for (char *p = text; *p; p++) /* one line, whatever the input quoted in it */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "k8c: runtime: %s\n", text);
    k8c_err_free(e);
    return 1;
}

/* ---- flag parsing: --name value, --name=value, -x value, boolean switches ---- */

struct flag {
    const char *name;
    char short_name;
    bool has_arg;
    const char **value; /* has_arg */
    bool *set;          /* !has_arg */
    char ***list;       /* repeatable (has_arg) */
};

static void list_push(char ***list, const char *v)
{
    size_t n = 0;
    while (*list && (*list)[n])
        n++;
    *list = xrealloc(*list, (n + 2) * sizeof(char *));
    (*list)[n] = (char *)v;
    (*list)[n + 1] = NULL;
}

/* Parses flags from argv[1..]; stops at the first non-flag (or "--"). Returns the index of
 * the first positional argument, or -1 after a usage error was printed. */
static int parse_flags(const char *verb, int argc, char **argv, const struct flag *flags,
                       size_t n_flags)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1;
        if (a[0] != '-' || a[1] == '\0')
            break;
        const struct flag *f = NULL;
        const char *inline_val = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            size_t len = strcspn(name, "=");
            for (size_t k = 0; k < n_flags; k++)
                if (strlen(flags[k].name) == len && strncmp(flags[k].name, name, len) == 0)
                    f = &flags[k];
            if (name[len] == '=')
                inline_val = name + len + 1;
        } else if (a[2] == '\0') {
            for (size_t k = 0; k < n_flags; k++)
                if (flags[k].short_name == a[1])
                    f = &flags[k];
        }
        if (f == NULL) {
            usage("%s: unknown flag \"%s\"", verb, a);
            return -1;
        }
        if (!f->has_arg) {
            if (inline_val) {
                if (strcmp(inline_val, "true") != 0 && strcmp(inline_val, "false") != 0) {
                    usage("%s: flag \"--%s\" takes true or false", verb, f->name);
                    return -1;
                }
                *f->set = strcmp(inline_val, "true") == 0;
            } else {
                *f->set = true;
            }
            continue;
        }
        const char *v = inline_val;
        if (v == NULL) {
            if (i + 1 >= argc) {
                usage("%s: flag \"--%s\" needs a value", verb, f->name);
                return -1;
            }
            v = argv[++i];
        }
        if (f->list)
            list_push(f->list, v);
        else
            *f->value = v;
    }
    return i;
}

static int need_id(const char *verb, int argc, char **argv, int first, int max_extra)
{
    if (first >= argc)
        return usage("%s: needs a container id", verb);
    if (argc - first - 1 > max_extra)
        return usage("%s: unexpected argument \"%s\"", verb, argv[first + 1 + max_extra]);
    return 0;
}

static char *abs_path(const char *p)
{
    if (p[0] == '/')
        return xstrdup(p);
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return xstrdup(p);
    if (strcmp(p, ".") == 0)
        return xstrdup(cwd);
    return xasprintf("%s/%s", cwd, p);
}

/* ---- create / run ---- */

static volatile sig_atomic_t forward_pid;

static void forward_signal(int sig)
{
    if (forward_pid > 0)
        kill(forward_pid, sig);
}

static int cmd_create_or_run(struct cli *cli, int argc, char **argv, bool run)
{
    const char *bundle = ".", *pid_file = NULL, *console = NULL, *preserve = NULL;
    bool detach = false, no_pivot = false, ignored = false;
    const struct flag flags[] = {
        {"bundle", 'b', true, &bundle, NULL, NULL},
        {"pid-file", 0, true, &pid_file, NULL, NULL},
        {"console-socket", 0, true, &console, NULL, NULL},
        {"preserve-fds", 0, true, &preserve, NULL, NULL},
        {"no-pivot", 0, false, NULL, &no_pivot, NULL},
        {"no-new-keyring", 0, false, NULL, &ignored, NULL}, /* we never make one */
        /* run only: */
        {"detach", 'd', false, NULL, &detach, NULL},
        {"no-subreaper", 0, false, NULL, &ignored, NULL},
        {"keep", 0, false, NULL, &ignored, NULL},
    };
    int first = parse_flags(argv[0], argc, argv, flags, run ? ARRAY_SIZE(flags) : 6);
    if (first < 0)
        return 2;
    if (need_id(argv[0], argc, argv, first, 0))
        return 2;
    const char *id = argv[first];
    int preserve_fds = 0;
    if (preserve) {
        char *end;
        long v = strtol(preserve, &end, 10);
        if (*end || v < 0 || v > 65536)
            return usage("%s: --preserve-fds \"%s\" is not a count", argv[0], preserve);
        preserve_fds = (int)v;
    }
    struct k8c_err *err = NULL;
    if (runtime__id_check(id, &err) < 0)
        return report(err);
    _cleanup_free_ char *bundle_abs = abs_path(bundle);
    _cleanup_spec_ struct runtime_spec *spec = runtime_spec_load(bundle_abs, &err);
    if (spec == NULL || runtime_spec_validate_host(spec, &err) < 0)
        return report(err);
    if (spec->terminal && console == NULL && (!run || detach))
        return report((k8c_err_set(&err, 0, K8C_REASON_BAD_REQUEST,
                                   "config.json: process.terminal is set: --console-socket "
                                   "is required to detach"),
                       err));
    struct runtime_create_opts o = {.root = cli->root,
                                    .id = id,
                                    .console_socket = console,
                                    .pid_file = pid_file,
                                    .preserve_fds = preserve_fds,
                                    .start_now = run};
    if (run && !detach) {
        /* forward the usual signals to the container while it runs */
        struct sigaction sa = {.sa_handler = forward_signal};
        sigemptyset(&sa.sa_mask);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
        for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
            sigaction(sigs[i], &sa, NULL);
    }
    /* run in the foreground with a terminal and no console socket: we hold the master */
    int console_pair[2] = {-1, -1};
    if (spec->terminal && console == NULL && run && !detach) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console_pair) < 0)
            return report((k8c_err_errno(&err, "socketpair"), err));
        o.console_fd = console_pair[1];
    }
    pid_t pid = runtime__container_create(spec, &o, &err);
    if (console_pair[1] >= 0)
        close(console_pair[1]);
    if (pid < 0) {
        if (console_pair[0] >= 0)
            close(console_pair[0]);
        return report(err);
    }
    if (run && spec->n_hooks[RUNTIME_HOOK_POSTSTART]) {
        struct runtime_state st;
        _cleanup_err_ struct k8c_err *e = NULL;
        if (runtime__state_load(cli->root, id, &st, &e) == 0) {
            runtime__post_hooks(spec, &st, RUNTIME_HOOK_POSTSTART, RUNTIME_STATUS_RUNNING);
            runtime__state_release(&st);
        }
    }
    if (!run || detach)
        return 0;
    forward_pid = pid;
    int ws;
    if (console_pair[0] >= 0) {
        int master = runtime__console_recv(console_pair[0], &err);
        close(console_pair[0]);
        if (master < 0) {
            report(err);
            err = NULL;
            while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
                ;
        } else {
            ws = runtime__console_proxy(master, pid);
            close(master);
        }
    } else {
        while (waitpid(pid, &ws, 0) < 0) {
            if (errno != EINTR) {
                ws = 1 << 8;
                break;
            }
        }
    }
    forward_pid = 0;
    runtime__destroy(cli->root, id);
    return runtime__exit_status(ws);
}

/* ---- start / state / kill / delete / pause / resume ---- */

static int load(struct cli *cli, const char *id, struct runtime_state *st)
{
    struct k8c_err *err = NULL;
    if (runtime__state_load(cli->root, id, st, &err) < 0)
        return report(err);
    return 0;
}

static int cmd_start(struct cli *cli, int argc, char **argv)
{
    int first = parse_flags(argv[0], argc, argv, NULL, 0);
    if (first < 0 || need_id(argv[0], argc, argv, first, 0))
        return 2;
    struct runtime_state st;
    if (load(cli, argv[first], &st))
        return 1;
    struct k8c_err *err = NULL;
    enum runtime_status status = runtime__state_status(&st);
    int r = 0;
    if (status != RUNTIME_STATUS_CREATED)
        r = report(
            (k8c_err_set(&err, 0, K8C_REASON_CONFLICT, "cannot start container \"%s\": it is %s",
                         st.id, runtime__status_name(status)),
             err));
    else if (runtime__container_start(&st, &err) < 0)
        r = report(err);
    else
        runtime__post_hooks(NULL, &st, RUNTIME_HOOK_POSTSTART, RUNTIME_STATUS_RUNNING);
    runtime__state_release(&st);
    return r;
}

static int cmd_state(struct cli *cli, int argc, char **argv)
{
    int first = parse_flags(argv[0], argc, argv, NULL, 0);
    if (first < 0 || need_id(argv[0], argc, argv, first, 0))
        return 2;
    struct runtime_state st;
    if (load(cli, argv[first], &st))
        return 1;
    _cleanup_json_ json_t *o = runtime__state_json(&st, runtime__state_status(&st));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    runtime__state_release(&st);
    return 0;
}

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

static int parse_signal(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && *end == '\0')
        return v > 0 && v < 65 ? (int)v : -1;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        if (strcmp(signals[i].name, s) == 0)
            return signals[i].sig;
    return -1;
}

static int signal_container(const struct runtime_state *st, int sig, bool all, struct k8c_err **err)
{
    if (all) {
        struct runtime_cgroup cg;
        runtime__state_cgroup(st, &cg);
        pid_t *pids = NULL;
        size_t n = 0;
        int r = cg.ops->pids(&cg, &pids, &n, err);
        for (size_t i = 0; r == 0 && i < n; i++)
            if (pids[i] > 0)
                kill(pids[i], sig);
        free(pids);
        runtime__cgroup_release(&cg);
        if (r < 0)
            return -1;
    }
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
    if (pidfd < 0 || runtime__pid_start_time(st->pid) != st->pid_start)
        return all ? 0
                   : k8c_err_set(err, 0, K8C_REASON_CONFLICT, "container \"%s\" is not running",
                                 st->id);
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
        return k8c_err_errno(err, "signal container \"%s\"", st->id);
    return 0;
}

static int cmd_kill(struct cli *cli, int argc, char **argv)
{
    bool all = false;
    const struct flag flags[] = {{"all", 'a', false, NULL, &all, NULL}};
    int first = parse_flags(argv[0], argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0 || need_id(argv[0], argc, argv, first, 1))
        return 2;
    int sig = SIGTERM;
    if (first + 1 < argc && (sig = parse_signal(argv[first + 1])) < 0)
        return usage("kill: unknown signal \"%s\"", argv[first + 1]);
    struct runtime_state st;
    if (load(cli, argv[first], &st))
        return 1;
    struct k8c_err *err = NULL;
    enum runtime_status status = runtime__state_status(&st);
    int r = 0;
    if (status == RUNTIME_STATUS_STOPPED || status == RUNTIME_STATUS_CREATING)
        r = report((k8c_err_set(&err, 0, K8C_REASON_CONFLICT, "container \"%s\" is %s", st.id,
                                runtime__status_name(status)),
                    err));
    else if (signal_container(&st, sig, all, &err) < 0)
        r = report(err);
    runtime__state_release(&st);
    return r;
}

/* Waits (bounded) for pid to be gone: pidfds poll readable once the process has exited. */
static void wait_gone(pid_t pid, uint64_t start)
{
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0 || runtime__pid_start_time(pid) != start)
        return;
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    poll(&p, 1, 10000);
}

static int cmd_delete(struct cli *cli, int argc, char **argv)
{
    bool force = false;
    const struct flag flags[] = {{"force", 'f', false, NULL, &force, NULL}};
    int first = parse_flags(argv[0], argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0 || need_id(argv[0], argc, argv, first, 0))
        return 2;
    struct runtime_state st;
    if (load(cli, argv[first], &st))
        return 1;
    struct k8c_err *err = NULL;
    enum runtime_status status = runtime__state_status(&st);
    int r = 0;
    if ((status == RUNTIME_STATUS_RUNNING || status == RUNTIME_STATUS_PAUSED) && !force) {
        r = report((k8c_err_set(&err, 0, K8C_REASON_CONFLICT,
                                "cannot delete container \"%s\": it is %s (use --force)", st.id,
                                runtime__status_name(status)),
                    err));
        goto out;
    }
    struct runtime_cgroup cg;
    runtime__state_cgroup(&st, &cg);
    if (status != RUNTIME_STATUS_STOPPED && st.pid > 0) {
        if (status == RUNTIME_STATUS_PAUSED) {
            _cleanup_err_ struct k8c_err *e = NULL;
            signal_container(&st, SIGKILL, true, &e);
            cg.ops->freeze(&cg, false, &e);
        }
        _cleanup_err_ struct k8c_err *e = NULL;
        signal_container(&st, SIGKILL, true, &e);
        wait_gone(st.pid, st.pid_start);
    } else if (st.cgroup_path && st.cgroup_path[0]) {
        _cleanup_err_ struct k8c_err *e = NULL;
        signal_container(&st, SIGKILL, true, &e);
    }
    if (st.cgroup_path && st.cgroup_path[0] && runtime__cgroup_destroy_wait(&cg, &err) < 0)
        r = report(err);
    runtime__cgroup_release(&cg);
    if (r == 0 && runtime__state_remove(st.dir, &err) < 0)
        r = report(err);
    if (r == 0)
        runtime__post_hooks(NULL, &st, RUNTIME_HOOK_POSTSTOP, RUNTIME_STATUS_STOPPED);
out:
    runtime__state_release(&st);
    return r;
}

static int cmd_freeze(struct cli *cli, int argc, char **argv, bool frozen)
{
    int first = parse_flags(argv[0], argc, argv, NULL, 0);
    if (first < 0 || need_id(argv[0], argc, argv, first, 0))
        return 2;
    struct runtime_state st;
    if (load(cli, argv[first], &st))
        return 1;
    struct k8c_err *err = NULL;
    enum runtime_status status = runtime__state_status(&st);
    enum runtime_status need = frozen ? RUNTIME_STATUS_RUNNING : RUNTIME_STATUS_PAUSED;
    int r = 0;
    if (status != need) {
        r = report(
            (k8c_err_set(&err, 0, K8C_REASON_CONFLICT, "cannot %s container \"%s\": it is %s",
                         argv[0], st.id, runtime__status_name(status)),
             err));
    } else {
        struct runtime_cgroup cg;
        runtime__state_cgroup(&st, &cg);
        if (cg.ops->freeze(&cg, frozen, &err) < 0)
            r = report(err);
        runtime__cgroup_release(&cg);
    }
    runtime__state_release(&st);
    return r;
}

/* ---- list / ps ---- */

static int cmd_list(struct cli *cli, int argc, char **argv)
{
    const char *format = "table";
    bool quiet = false;
    const struct flag flags[] = {{"format", 'f', true, &format, NULL, NULL},
                                 {"quiet", 'q', false, NULL, &quiet, NULL}};
    int first = parse_flags(argv[0], argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0)
        return 2;
    if (first < argc)
        return usage("list: unexpected argument \"%s\"", argv[first]);
    bool json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "table") != 0)
        return usage("list: unknown format \"%s\" (table or json)", format);
    _cleanup_json_ json_t *arr = json_array();
    DIR *d = opendir(cli->root);
    if (d == NULL && errno != ENOENT) {
        fprintf(stderr, "k8c: runtime: list `%s`: %s\n", cli->root, strerror(errno));
        return 1;
    }
    if (!json && !quiet)
        printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
               "OWNER");
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        struct runtime_state st;
        _cleanup_err_ struct k8c_err *e = NULL;
        if (runtime__state_load(cli->root, de->d_name, &st, &e) < 0)
            continue;
        enum runtime_status status = runtime__state_status(&st);
        if (json) {
            json_array_append_new(arr, runtime__state_json(&st, status));
        } else if (quiet) {
            printf("%s\n", st.id);
        } else {
            printf("%-20s %-8d %-10s %-40s %-30s %s\n", st.id,
                   status == RUNTIME_STATUS_STOPPED ? 0 : (int)st.pid, runtime__status_name(status),
                   st.bundle, st.created, "root");
        }
        runtime__state_release(&st);
    }
    if (d)
        closedir(d);
    if (json) {
        char *text = json_dumps(arr, JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
    }
    return 0;
}

static int cmd_ps(struct cli *cli, int argc, char **argv)
{
    const char *format = "table";
    const struct flag flags[] = {{"format", 'f', true, &format, NULL, NULL}};
    int first = parse_flags(argv[0], argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0 || need_id(argv[0], argc, argv, first, 0))
        return 2;
    bool json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "table") != 0)
        return usage("ps: unknown format \"%s\" (table or json)", format);
    struct runtime_state st;
    if (load(cli, argv[first], &st))
        return 1;
    struct runtime_cgroup cg;
    runtime__state_cgroup(&st, &cg);
    pid_t *pids = NULL;
    size_t n = 0;
    struct k8c_err *err = NULL;
    int r = 0;
    if (cg.ops->pids(&cg, &pids, &n, &err) < 0) {
        r = report(err);
    } else if (json) {
        printf("[");
        for (size_t i = 0; i < n; i++)
            printf("%s%d", i ? "," : "", (int)pids[i]);
        printf("]\n");
    } else {
        printf("%-8s %s\n", "PID", "CMD");
        for (size_t i = 0; i < n; i++) {
            char path[64], cmd[256] = "";
            snprintf(path, sizeof(path), "/proc/%d/comm", (int)pids[i]);
            FILE *f = fopen(path, "re");
            if (f) {
                if (fgets(cmd, sizeof(cmd), f) == NULL)
                    cmd[0] = '\0';
                fclose(f);
                cmd[strcspn(cmd, "\n")] = '\0';
            }
            printf("%-8d %s\n", (int)pids[i], cmd);
        }
    }
    free(pids);
    runtime__cgroup_release(&cg);
    runtime__state_release(&st);
    return r;
}

/* ---- events --stats: cgroup usage as runc prints it (one JSON object) ---- */

static int cmd_events(struct cli *cli, int argc, char **argv)
{
    bool stats = false;
    const struct flag flags[] = {{"stats", 0, false, NULL, &stats, NULL}};
    int first = parse_flags(argv[0], argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0 || need_id(argv[0], argc, argv, first, 0))
        return 2;
    if (!stats)
        return usage("events: only --stats is supported (a one-shot usage report)");
    struct runtime_cgroup_stats st;
    struct k8c_err *err = NULL;
    if (runtime_container_stats(cli->root, argv[first], &st, &err) < 0)
        return report(err);
    _cleanup_json_ json_t *o = json_pack(
        "{s:s, s:s, s:{s:{s:{s:I}}, s:{s:{s:I, s:I}, s:I, s:I}, s:{s:I}}}", "type", "stats", "id",
        argv[first], "data", "cpu", "usage", "total", (json_int_t)st.cpu_usage_ns, "memory",
        "usage", "usage", (json_int_t)st.memory_usage, "limit", (json_int_t)st.memory_limit,
        "workingSet", (json_int_t)st.memory_working_set, "oomKills", (json_int_t)st.oom_kills,
        "pids", "current", (json_int_t)st.pids_current);
    char *text = json_dumps(o, JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    return 0;
}

/* ---- exec ---- */

static int parse_user(const char *s, uid_t *uid, gid_t *gid)
{
    char *end;
    unsigned long u = strtoul(s, &end, 10);
    if (end == s || (*end && *end != ':') || u >= UINT32_MAX)
        return -1;
    *uid = (uid_t)u;
    *gid = 0;
    if (*end == ':') {
        const char *g = end + 1;
        unsigned long v = strtoul(g, &end, 10);
        if (end == g || *end || v >= UINT32_MAX)
            return -1;
        *gid = (gid_t)v;
    }
    return 0;
}

static int cmd_exec(struct cli *cli, int argc, char **argv)
{
    const char *console = NULL, *cwd = NULL, *user = NULL, *process = NULL, *pid_file = NULL;
    _cleanup_free_ char **env = NULL;
    bool tty = false, detach = false, nnp = false, ignored = false;
    const struct flag flags[] = {
        {"console-socket", 0, true, &console, NULL, NULL},
        {"cwd", 0, true, &cwd, NULL, NULL},
        {"env", 'e', true, NULL, NULL, &env},
        {"tty", 't', false, NULL, &tty, NULL},
        {"user", 'u', true, &user, NULL, NULL},
        {"process", 'p', true, &process, NULL, NULL},
        {"detach", 'd', false, NULL, &detach, NULL},
        {"pid-file", 0, true, &pid_file, NULL, NULL},
        {"no-new-privs", 0, false, NULL, &nnp, NULL},
        {"no-subreaper", 0, false, NULL, &ignored, NULL},
    };
    int first = parse_flags(argv[0], argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0)
        return 2;
    if (first >= argc)
        return usage("exec: needs a container id");
    struct runtime_exec_opts o = {.console_socket = console,
                                  .pid_file = pid_file,
                                  .cwd = cwd,
                                  .env = env,
                                  .tty = tty,
                                  .detach = detach,
                                  .no_new_privs_set = nnp,
                                  .args = argv + first + 1};
    if (user && parse_user(user, &o.uid, &o.gid) < 0)
        return usage("exec: --user \"%s\" is not UID[:GID]", user);
    o.has_user = user != NULL;
    struct k8c_err *err = NULL;
    _cleanup_json_ json_t *pj = NULL;
    _cleanup_strv_ char **pargs = NULL, **penv = NULL;
    if (process) {
        size_t len;
        _cleanup_free_ char *text = file_read_all(process, 1 << 20, &len, &err);
        if (text == NULL || (pj = kjson_parse(text, len, &err)) == NULL)
            return report(err);
        json_t *a = json_object_get(pj, "args"), *e = json_object_get(pj, "env");
        size_t n = json_array_size(a);
        if (n == 0)
            return report((k8c_err_set(&err, 0, K8C_REASON_BAD_REQUEST,
                                       "--process: args must name the program to run"),
                           err));
        pargs = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            pargs[i] = xstrdup(json_string_value(json_array_get(a, i)) ?: "");
        penv = xcalloc(json_array_size(e) + 1, sizeof(char *));
        for (size_t i = 0; i < json_array_size(e); i++)
            penv[i] = xstrdup(json_string_value(json_array_get(e, i)) ?: "");
        o.args = pargs;
        o.env = penv;
        if (kjson_path_str(pj, "cwd"))
            o.cwd = kjson_path_str(pj, "cwd");
        if (json_is_integer(kjson_path(pj, "user.uid"))) {
            o.has_user = true;
            o.uid = (uid_t)json_integer_value(kjson_path(pj, "user.uid"));
            o.gid = (gid_t)json_integer_value(kjson_path(pj, "user.gid"));
        }
        if (json_is_true(json_object_get(pj, "terminal")))
            o.tty = true;
        if (json_is_true(json_object_get(pj, "noNewPrivileges")))
            o.no_new_privs_set = true;
    } else if (first + 1 >= argc) {
        return usage("exec: needs a command to run");
    }
    int pair[2] = {-1, -1};
    if (o.tty && console == NULL && !o.detach) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
            return report((k8c_err_errno(&err, "socketpair"), err));
        o.console_fd = pair[1];
        o.proxy_fd = pair[0];
    }
    struct runtime_state st;
    if (load(cli, argv[first], &st)) {
        if (pair[0] >= 0) {
            close(pair[0]);
            close(pair[1]);
        }
        return 1;
    }
    enum runtime_status status = runtime__state_status(&st);
    int r;
    if (status != RUNTIME_STATUS_RUNNING && status != RUNTIME_STATUS_CREATED) {
        r = report(
            (k8c_err_set(&err, 0, K8C_REASON_CONFLICT, "cannot exec in container \"%s\": it is %s",
                         st.id, runtime__status_name(status)),
             err));
    } else {
        r = runtime__container_exec(&st, &o, &err);
        if (r < 0)
            r = report(err);
    }
    if (pair[0] >= 0) {
        close(pair[0]);
        close(pair[1]);
    }
    runtime__state_release(&st);
    return r;
}

/* ---- spec: a default config.json (runc spec's shape with the RuntimeDefault security) ---- */

static const char spec_template[] =
    "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
    "\"args\":[\"sh\"],\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
    "/bin\",\"TERM=xterm\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\","
    "\"hard\":1024,\"soft\":1024}],\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"k8c\","
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\","
    "\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\",\"options\":"
    "[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\",\"gid=5\"]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\",\"options\":"
    "[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\",\"options\":"
    "[\"nosuid\",\"noexec\",\"nodev\"]},"
    "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\",\"options\":"
    "[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
    "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}],"
    "\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
    "{\"type\":\"uts\"},{\"type\":\"mount\"}],"
    "\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\","
    "\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/sched_debug\","
    "\"/sys/firmware\",\"/proc/scsi\",\"/sys/devices/virtual/powercap\"],"
    "\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
    "\"/proc/sysrq-trigger\"]}}";

static int cmd_spec(struct cli *cli, int argc, char **argv)
{
    const char *bundle = ".";
    const struct flag flags[] = {{"bundle", 'b', true, &bundle, NULL, NULL}};
    int first = parse_flags(argv[0], argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0)
        return 2;
    if (first < argc)
        return usage("spec: unexpected argument \"%s\"", argv[first]);
    struct k8c_err *err = NULL;
    _cleanup_json_ json_t *config = kjson_parse(spec_template, strlen(spec_template), &err);
    K8C_ASSERT(config != NULL);
    if (runtime_defaults_apply(config, 0, 0, &err) < 0)
        return report(err);
    _cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
    if (access(path, F_OK) == 0)
        return report(
            (k8c_err_set(&err, 0, K8C_REASON_ALREADY_EXISTS, "`%s` already exists", path), err));
    char *text = json_dumps(config, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int r = file_write_atomic(path, text, strlen(text), 0644, &err);
    free(text);
    return r < 0 ? report(err) : 0;
}

static void print_help(void)
{
    printf("usage: k8c runtime [--root DIR] COMMAND [flags] ID ...\n\n"
           "An OCI runtime with the crun/runc command line (default root %s).\n\n"
           "commands:\n"
           "  create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N]\n"
           "         [--no-pivot] ID\n"
           "  start ID\n"
           "  run [--bundle DIR] [--detach] [--pid-file F] [--console-socket S] ID\n"
           "  state ID\n"
           "  kill [--all] ID [SIGNAL]\n"
           "  delete [--force] ID\n"
           "  exec [--tty --console-socket S] [--cwd D] [--env K=V] [--user U[:G]] "
           "[--process F] [--detach] ID CMD...\n"
           "  list [--format table|json] [--quiet]\n"
           "  ps [--format table|json] ID\n"
           "  pause ID\n"
           "  resume ID\n"
           "  events --stats ID     cgroup usage (cpu, memory, working set, OOM kills, pids)\n"
           "  spec [--bundle DIR]   write a default config.json (RuntimeDefault security)\n",
           RUNTIME_DEFAULT_ROOT);
}

int runtime_cli_main(int argc, char **argv)
{
    struct cli cli = {.root = getenv("K8C_RUNTIME_ROOT") ? getenv("K8C_RUNTIME_ROOT")
                                                         : RUNTIME_DEFAULT_ROOT};
    const char *log_file = NULL, *log_format = NULL;
    bool debug = false, systemd = false, help = false;
    const struct flag flags[] = {
        {"root", 0, true, &cli.root, NULL, NULL},           {"log", 0, true, &log_file, NULL, NULL},
        {"log-format", 0, true, &log_format, NULL, NULL},   {"debug", 0, false, NULL, &debug, NULL},
        {"systemd-cgroup", 0, false, NULL, &systemd, NULL}, {"help", 'h', false, NULL, &help, NULL},
    };
    int first = parse_flags("runtime", argc, argv, flags, ARRAY_SIZE(flags));
    if (first < 0)
        return 2;
    if (help || (first < argc && strcmp(argv[first], "help") == 0)) {
        print_help();
        return 0;
    }
    if (systemd)
        return usage("--systemd-cgroup is not supported: cgroups are driven through cgroupfs");
    if (first >= argc)
        return usage("needs a command");
    if (cli.root[0] != '/')
        return usage("--root \"%s\" must be an absolute path", cli.root);
    const char *verb = argv[first];
    int n = argc - first;
    char **v = argv + first;
    if (strcmp(verb, "create") == 0)
        return cmd_create_or_run(&cli, n, v, false);
    if (strcmp(verb, "run") == 0)
        return cmd_create_or_run(&cli, n, v, true);
    if (strcmp(verb, "start") == 0)
        return cmd_start(&cli, n, v);
    if (strcmp(verb, "state") == 0)
        return cmd_state(&cli, n, v);
    if (strcmp(verb, "kill") == 0)
        return cmd_kill(&cli, n, v);
    if (strcmp(verb, "delete") == 0)
        return cmd_delete(&cli, n, v);
    if (strcmp(verb, "exec") == 0)
        return cmd_exec(&cli, n, v);
    if (strcmp(verb, "list") == 0)
        return cmd_list(&cli, n, v);
    if (strcmp(verb, "ps") == 0)
        return cmd_ps(&cli, n, v);
    if (strcmp(verb, "pause") == 0)
        return cmd_freeze(&cli, n, v, true);
    if (strcmp(verb, "resume") == 0)
        return cmd_freeze(&cli, n, v, false);
    if (strcmp(verb, "spec") == 0)
        return cmd_spec(&cli, n, v);
    if (strcmp(verb, "events") == 0)
        return cmd_events(&cli, n, v);
    return usage("unknown command \"%s\"", verb);
}

int runtime_container_stats(const char *root, const char *id, struct runtime_cgroup_stats *stats,
                            struct k8c_err **err)
{
    struct runtime_state st;
    if (runtime__state_load(root ? root : RUNTIME_DEFAULT_ROOT, id, &st, err) < 0)
        return -1;
    struct runtime_cgroup cg;
    runtime__state_cgroup(&st, &cg);
    int r = cg.ops->stats(&cg, stats, err);
    runtime__cgroup_release(&cg);
    runtime__state_release(&st);
    return r;
}
