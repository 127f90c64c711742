/* `k8c shim [--log-max-size N] [--log-max-files N] [--notify-fd FD] LOG EXITFILE
 * (-- CMD… | --builtin ROOT BUNDLE ID)`: the per-container shim. Started detached by the agent
 * (its own session), it runs the container with stdin on /dev/null and stdout/stderr on pipes,
 * writes every line to LOG in the CRI log format `<RFC3339Nano> stdout|stderr F|P <line>` (P
 * for pieces of a line longer than 16 KiB), and when the container ends writes its status
 * (exit code, or 128+signal) to EXITFILE atomically. The agent can restart meanwhile.
 *
 * How it runs the container: with `-- CMD…` it runs CMD (runc's or crun's `run`) as its child;
 * with --builtin it is the built-in runtime itself (src/runtime/run.c, linked in): it creates
 * the container under state root ROOT from BUNDLE, starts it, and is its parent, reaping it
 * and removing its cgroup and state when it ends — one small static exec per container and no
 * runtime process left resident. With --notify-fd it writes "R" on FD once the container is
 * running and closes it (a failure closes it without; EXITFILE is written first), so the
 * agent knows without polling. A failure to create goes to LOG as the container's stderr, and
 * the status is 1, as with `k8c runtime run`. *
 * Log rotation, as kubelet's containerLogMaxSize / containerLogMaxFiles: before a line would
 * take LOG past the max size, LOG is renamed LOG.<UTC stamp> (names sort by age) and a new LOG
 * begun; rotated files beyond max files - 1 are removed, oldest first, so a container that
 * floods stdout uses at most about max size × max files on disk.
 *
 * With --attach SOCK the shim serves kubectl attach (attach.c): the container's output goes to
 * attached clients too, and with --stdin the container's stdin is a pipe the shim holds for
 * them (closed after the first client with --stdin-once); with --tty the runtime runs on a pty
 * the shim holds (see below) and attach clients can resize it. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/stream.h"
#include "base/buf.h"
#include "base/file.h"
#include "base/mem.h"
#include "runtime/runtime.h"

#define LINE_MAX_BYTES (16 * 1024)

/* The log file and its rotation. */
struct logf {
    const char *path;
    int fd;
    long long size, max_size; /* max_size 0: never rotate */
    int max_files;
};

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Removes the oldest rotated files of l->path until max_files - 1 remain. */
static void prune(const struct logf *l)
{
    char *copy = strdup(l->path);
    char *dir = dirname(copy);
    const char *base = strrchr(l->path, '/') ? strrchr(l->path, '/') + 1 : l->path;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, base, bl) == 0 && e->d_name[bl] == '.' && e->d_name[bl + 1]) {
            names = xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = xasprintf("%s/%s", dir, e->d_name);
        }
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (n - i > (size_t)(l->max_files - 1))
            unlink(names[i]);
        free(names[i]);
    }
    free(names);
    free(copy);
}

static void rotate(struct logf *l, const char *stamp)
{
    char rotated[4096];
    /* 2026-01-02T03:04:05.123456789Z -> LOG.20260102-030405.123456789 */
    snprintf(rotated, sizeof(rotated), "%s.%.4s%.2s%.2s-%.2s%.2s%.2s.%.9s", l->path, stamp,
             stamp + 5, stamp + 8, stamp + 11, stamp + 14, stamp + 17, stamp + 20);
    if (rename(l->path, rotated) < 0)
        return;
    int fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        rename(rotated, l->path); /* keep writing where we were */
        return;
    }
    close(l->fd);
    l->fd = fd;
    l->size = 0;
    prune(l);
}

static void stamp(char out[64])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

static void emit(struct logf *l, const char *stream, const char *data, size_t len, bool partial)
{
    char ts[64];
    stamp(ts);
    struct buf b = BUF_INIT;
    buf_appendf(&b, "%s %s %c ", ts, stream, partial ? 'P' : 'F');
    buf_append(&b, data, len);
    buf_append_char(&b, '\n');
    if (l->max_size > 0 && l->size > 0 && l->size + (long long)b.len > l->max_size)
        rotate(l, ts);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(l->fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
        l->size += w;
    }
    buf_free(&b);
}

/* Writes the complete lines of pending, keeping the rest; at eof flushes the rest too. */
static void drain(struct logf *l, const char *stream, struct buf *pending, bool eof)
{
    size_t start = 0;
    if (pending->len == 0)
        return; /* nothing buffered (data may still be NULL) */
    for (;;) {
        char *nl = memchr(pending->data + start, '\n', pending->len - start);
        if (!nl)
            break;
        emit(l, stream, pending->data + start, (size_t)(nl - (pending->data + start)), false);
        start = (size_t)(nl - pending->data) + 1;
    }
    size_t rest = pending->len - start;
    if (rest >= LINE_MAX_BYTES || (eof && rest > 0)) {
        emit(l, stream, pending->data + start, rest, !eof);
        start = pending->len;
    }
    memmove(pending->data, pending->data + start, pending->len - start);
    pending->len -= start;
}

/* Appends the shim's own failure to the log as the container's stderr (where a runtime's
 * message would be) and records exit status 1, as `k8c runtime run` failing did. */
static int fail_builtin(struct logf *l, const char *exit_path, struct k8c_err *e)
{
    _cleanup_free_ char *text = k8c_err_text(e);
    k8c_err_free(e);
    for (char *p = text; *p; p++) /* one line */
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    _cleanup_free_ char *line = xasprintf("k8c: runtime: %s", text);
    emit(l, "stderr", line, strlen(line), false);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (file_write_replace(exit_path, "1\n", 2, 0644, &err) < 0)
        fprintf(stderr, "k8c: shim: %s\n", err->msg);
    return 1;
}

/* Once the container runs the shim only relays its output, yet its resident set still holds
 * every page of code and read-only data it touched to create the container (the built-in
 * runtime, seccomp, libcap, jansson): about half a MiB per container. Those pages are dropped
 * from the resident set here; a page needed again faults back in from the page cache. Only
 * the loaded segments without write permission qualify, whole pages of them: they hold
 * nothing but clean page-cache pages, so dropping them loses nothing (RELRO, relocated then
 * made read-only, lies in a writable segment and stays). The program headers say where they
 * are: reading /proc/self/smaps to find them walked every page table (~0.2 ms per
 * container). The heap's free pages go back too. */
static int drop_readonly_segments(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (vdso && (uintptr_t)info->dlpi_phdr >= vdso && (uintptr_t)info->dlpi_phdr < vdso + 65536)
        return 0; /* the vDSO is not a file mapping */
    uintptr_t page = *(const uintptr_t *)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr + page - 1) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(page - 1);
        if (end > start)
            madvise((void *)start, end - start, MADV_DONTNEED);
    }
    return 0;
}

static void shim_drop_startup_pages(void)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    dl_iterate_phdr(drop_readonly_segments, &page);
    malloc_trim(0);
}

int agent_shim_main(int argc, char **argv)
{
    struct logf l = {.fd = -1, .max_files = 5};
    const char *attach_path = NULL;
    bool want_stdin = false, stdin_once = false, tty = false;
    int notify_fd = -1;
    int ai = 1;
    for (; ai < argc && strncmp(argv[ai], "--", 2) == 0 && argv[ai][2]; ai++) {
        bool has_val = ai + 1 < argc;
        if (strcmp(argv[ai], "--log-max-size") == 0 && has_val)
            l.max_size = atoll(argv[++ai]);
        else if (strcmp(argv[ai], "--log-max-files") == 0 && has_val)
            l.max_files = atoi(argv[++ai]) < 2 ? 2 : atoi(argv[ai]);
        else if (strcmp(argv[ai], "--attach") == 0 && has_val)
            attach_path = argv[++ai];
        else if (strcmp(argv[ai], "--notify-fd") == 0 && has_val)
            notify_fd = atoi(argv[++ai]);
        else if (strcmp(argv[ai], "--stdin") == 0)
            want_stdin = true;
        else if (strcmp(argv[ai], "--stdin-once") == 0)
            stdin_once = true;
        else if (strcmp(argv[ai], "--tty") == 0)
            tty = true;
        else
            break;
    }
    argc -= ai - 1;
    argv += ai - 1;
    bool builtin = argc == 7 && strcmp(argv[3], "--builtin") == 0;
    if (!builtin && (argc < 5 || strcmp(argv[3], "--") != 0)) {
        fprintf(stderr, "k8c: shim: usage: k8c shim [--log-max-size BYTES] [--log-max-files N] "
                        "[--attach SOCK [--stdin [--stdin-once]] [--tty]] [--notify-fd FD] LOG "
                        "EXITFILE (-- CMD... | --builtin ROOT BUNDLE ID)\n");
        return 2;
    }
    if (notify_fd >= 0)
        fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
    const char *log_path = argv[1], *exit_path = argv[2];
    l.path = log_path;
    l.fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (l.fd < 0) {
        fprintf(stderr, "k8c: shim: open %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(l.fd, &st) == 0)
        l.size = st.st_size;
    /* A tty container (spec.tty) run by runc or crun: the runtime gets a pty of ours as its
     * stdio and controlling terminal (they want one to relay the container's terminal to;
     * our window size reaches them by SIGWINCH); its output is the master's. The built-in
     * runtime hands us the container's own master instead (below). */
    int out[2], errp[2], in[2] = {-1, -1}, master = -1, slave = -1;
    if (tty && !builtin) {
        if (agent__pty_open(&master, &slave) < 0) {
            fprintf(stderr, "k8c: shim: openpty: %s\n", strerror(errno));
            return 1;
        }
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
        (want_stdin && !tty && pipe2(in, O_CLOEXEC) < 0)) {
        fprintf(stderr, "k8c: shim: pipe: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = -1;
    struct runtime_run *run = NULL;
    if (builtin) {
        /* the container is our child: created here (set up, waiting to exec), then started
         * once the attach socket is up */
        _cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        struct runtime_run_opts ro = {.root = argv[4],
                                      .bundle = argv[5],
                                      .id = argv[6],
                                      .stdio = {in[0] >= 0 ? in[0] : null, out[1], errp[1]}};
        struct k8c_err *err = NULL;
        run = runtime_run_create(&ro, &master, &err);
        if (!run)
            return fail_builtin(&l, exit_path, err);
        pid = runtime_run_pid(run);
    }
    /* the attach socket exists before the container starts, so an attach right after the
     * agent reports it running finds it; the container's stdin (spec.stdin) stays open here
     * for attach clients */
    int stdin_w = tty ? (want_stdin ? dup(master) : -1) : in[1];
    if (stdin_w >= 0)
        fcntl(stdin_w, F_SETFD, FD_CLOEXEC);
    struct shim_attach *att =
        attach_path ? shim_attach_open(attach_path, stdin_w, stdin_once, master) : NULL;
    if (!att && stdin_w >= 0)
        close(stdin_w);
    if (attach_path && !att)
        fprintf(stderr, "k8c: shim: attach socket %s: %s\n", attach_path, strerror(errno));
    if (builtin) {
        struct k8c_err *err = NULL;
        if (runtime_run_start(run, &err) < 0) {
            runtime_run_destroy(run);
            waitpid(pid, NULL, 0);
            shim_attach_close(att, attach_path);
            return fail_builtin(&l, exit_path, err);
        }
    } else if ((pid = fork()) < 0) {
        fprintf(stderr, "k8c: shim: fork: %s\n", strerror(errno));
        return 1;
    } else if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (slave >= 0) {
            agent__pty_child(slave);
        } else {
            dup2(in[0] >= 0 ? in[0] : null, 0);
            dup2(out[1], 1);
            dup2(errp[1], 2);
        }
        execv(argv[4], argv + 4);
        dprintf(2, "k8c shim: exec %s: %s\n", argv[4], strerror(errno));
        _exit(127);
    }
    /* running: the agent waiting on the other end reports it so */
    if (notify_fd >= 0) {
        if (write(notify_fd, "R", 1) < 0) {
            /* the agent went away meanwhile: it adopts the container when back */
        }
        close(notify_fd);
    }
    shim_drop_startup_pages();
    close(out[1]);
    close(errp[1]);
    if (in[0] >= 0)
        close(in[0]);
    if (slave >= 0)
        close(slave);
    if (master >= 0) {
        close(out[0]); /* the terminal carries all output */
        out[0] = master;
    }
    /* the built-in runtime's container: its end is seen on a pidfd, so that its cgroup (and
     * whatever of it still holds our pipes) goes at once, as `runtime run` did */
    int pidfd = run ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    int status = 0;
    bool reaped = false;
    struct pollfd fds[2 + 17 + 1] = {{out[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
    struct buf pend[2] = {BUF_INIT, BUF_INIT};
    const char *names[2] = {"stdout", "stderr"};
    int open_fds = 2;
    while (open_fds > 0) {
        size_t na = shim_attach_pollfds(att, fds + 2);
        fds[2 + na] = (struct pollfd){pidfd, POLLIN, 0};
        if (poll(fds, 2 + na + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        shim_attach_handle(att, fds + 2, na);
        if (pidfd >= 0 && fds[2 + na].revents) {
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            reaped = true;
            runtime_run_destroy(run);
            run = NULL;
            close(pidfd);
            pidfd = -1;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            char chunk[8192];
            ssize_t r = read(fds[i].fd, chunk, sizeof(chunk));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                drain(&l, names[i], &pend[i], true);
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            buf_append(&pend[i], chunk, (size_t)r);
            drain(&l, names[i], &pend[i], false);
            shim_attach_broadcast(att, i + 1, chunk, (size_t)r);
        }
    }
    shim_attach_close(att, attach_path);
    if (!reaped)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    runtime_run_destroy(run);
    if (pidfd >= 0)
        close(pidfd);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char text[16];
    int n = snprintf(text, sizeof(text), "%d\n", code);
    /* atomic for the agent reading it, not durable: a crash of the machine takes the
     * container with it, and the two fsyncs cost ~1.5 ms per container end */
    _cleanup_err_ struct k8c_err *err = NULL;
    if (file_write_replace(exit_path, text, (size_t)n, 0644, &err) < 0) {
        fprintf(stderr, "k8c: shim: %s\n", err->msg);
        return 1;
    }
    buf_free(&pend[0]);
    buf_free(&pend[1]);
    close(l.fd);
    return 0;
}
