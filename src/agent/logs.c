/* containerLogs: the container's CRI log files (the shim's current <ctr dir>/0.log and its
 * rotated 0.log.<stamp> files, oldest first; previous.log for ?previous) as kubectl shows
 * them, with kubelet's options: tailLines, timestamps, sinceSeconds / sinceTime (lines older
 * are skipped), limitBytes (the answer stops there) and follow (waits for lines until the
 * container ends or the client goes; a rotation reopens the new file). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/stream.h"
#include "base/clock.h"
#include "base/mem.h"

#define FOLLOW_POLL_MS 200

struct log_opts {
    bool timestamps;
    char since[64];  /* RFC3339Nano UTC cut-off ("" none): stamps sort as strings */
    long long limit; /* bytes still allowed, -1 unbounded */
};

static void fmt_stamp(const struct timespec *ts, char out[64])
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec);
}

void agent__cri_format_opts(const char *text, size_t len, bool timestamps, const char *since,
                            struct buf *out)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        const char *sp1 = memchr(p, ' ', (size_t)(nl - p));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1)) : NULL;
        const char *sp3 = sp2 ? memchr(sp2 + 1, ' ', (size_t)(nl - sp2 - 1)) : NULL;
        bool keep = sp3 != NULL;
        if (keep && since && *since) {
            size_t sl = strlen(since), tl = (size_t)(sp1 - p);
            int cmp = memcmp(p, since, tl < sl ? tl : sl);
            keep = cmp > 0 || (cmp == 0 && tl >= sl);
        }
        if (keep) {
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

void agent__cri_format(const char *text, size_t len, bool timestamps, struct buf *out)
{
    agent__cri_format_opts(text, len, timestamps, NULL, out);
}

/* Writes the complete lines of text[0..len) as kubectl shows them; -1 when the client is
 * gone or limitBytes is used up. */
static int emit_lines(struct sconn *c, const char *text, size_t len, struct log_opts *o)
{
    struct buf out = BUF_INIT;
    agent__cri_format_opts(text, len, o->timestamps, o->since, &out);
    size_t n = out.len;
    bool full = false;
    if (o->limit >= 0 && (long long)n >= o->limit) {
        n = (size_t)o->limit;
        full = true;
    }
    int rc = n ? sconn_write(c, out.data, n) : 0;
    if (o->limit >= 0)
        o->limit -= (long long)n;
    buf_free(&out);
    return rc < 0 || full ? -1 : 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The rotated files of dir/0.log, oldest first (names sort by their stamp). */
static size_t rotated_files(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "0.log.", 6) != 0)
            continue;
        names = xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = xasprintf("%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    return n;
}

void agent__logs_drop_rotated(const char *ctr_dir)
{
    char **rot = NULL;
    size_t n = rotated_files(ctr_dir, &rot);
    for (size_t i = 0; i < n; i++) {
        unlink(rot[i]);
        free(rot[i]);
    }
    free(rot);
}

static void read_file_into(const char *path, struct buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char chunk[65536];
    ssize_t r;
    while (fd >= 0 && (r = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(b, chunk, (size_t)r);
    if (fd >= 0)
        close(fd);
}

/* Start of the last tail lines of all[0..complete) (complete ends at a newline). */
static size_t tail_start(const struct buf *all, size_t complete, long tail)
{
    if (tail < 0)
        return 0;
    if (tail == 0)
        return complete;
    long lines = 0;
    size_t start = complete;
    while (start > 0) {
        if (all->data[start - 1] == '\n' && start != complete && ++lines >= tail)
            break;
        start--;
    }
    return start;
}

/* Whether the client closed its end (readable with 0 bytes). */
static bool client_gone(struct sconn *c)
{
    struct pollfd pf = {c->fd, POLLIN, 0};
    if (poll(&pf, 1, FOLLOW_POLL_MS) > 0) {
        char tmp[64];
        if (recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT | MSG_PEEK) == 0)
            return true;
    }
    return false;
}

void agent__serve_logs(struct sreq *r)
{
    struct agent *a = r->c->a;
    _cleanup_free_ char *uid = stream_pod_uid(r, NULL);
    if (!uid)
        return;
    const struct query *q = r->q;
    bool prev = q_true(q, "previous"), follow = q_true(q, "follow") && !prev;
    struct log_opts o = {.timestamps = q_true(q, "timestamps"), .limit = -1};
    const char *tl = q_get(q, "tailLines"), *ss = q_get(q, "sinceSeconds");
    const char *st = q_get(q, "sinceTime"), *lb = q_get(q, "limitBytes");
    long tail = tl ? atol(tl) : -1;
    if (lb)
        o.limit = atoll(lb) > 0 ? atoll(lb) : -1;
    struct timespec cut = {0, 0};
    if (ss && atoll(ss) > 0) {
        clock_gettime(CLOCK_REALTIME, &cut);
        cut.tv_sec -= atoll(ss);
        cut.tv_nsec = 0;
    } else if (st && *st) {
        time_t t;
        if (clock_parse_rfc3339(st, &t) < 0) {
            _cleanup_free_ char *m = xasprintf("sinceTime \"%s\" is not an RFC3339 time\n", st);
            sconn_reply(r->c, 400, "Bad Request", m);
            return;
        }
        cut.tv_sec = (time_t)t;
    }
    if (cut.tv_sec)
        fmt_stamp(&cut, o.since);
    _cleanup_free_ char *dir = xasprintf("%s/pods/%s/%s", a->data_dir, uid, r->ctr);
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, prev ? "previous.log" : "0.log");
    _cleanup_free_ char *exitp = xasprintf("%s/exit", dir);
    struct buf all = BUF_INIT;
    if (!prev) {
        char **rot = NULL;
        size_t nrot = rotated_files(dir, &rot);
        for (size_t i = 0; i < nrot; i++) {
            read_file_into(rot[i], &all);
            free(rot[i]);
        }
        free(rot);
    }
    int lf = open(path, O_RDONLY | O_CLOEXEC);
    if (lf < 0) {
        buf_free(&all);
        _cleanup_free_ char *m =
            prev ? xasprintf("previous terminated container \"%s\" in pod \"%s\" not found\n",
                             r->ctr, r->pod)
                 : xasprintf("container \"%s\" in pod \"%s\" is waiting to start: "
                             "ContainerCreating\n",
                             r->ctr, r->pod);
        sconn_reply(r->c, 400, "Bad Request", m);
        return;
    }
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
    if (sconn_write(r->c, head, strlen(head)) < 0) {
        buf_free(&all);
        close(lf);
        return;
    }
    char chunk[65536];
    ssize_t n;
    while ((n = read(lf, chunk, sizeof(chunk))) > 0)
        buf_append(&all, chunk, (size_t)n);
    size_t complete = all.len;
    while (complete > 0 && all.data[complete - 1] != '\n')
        complete--;
    size_t start = tail_start(&all, complete, tail);
    int rc = emit_lines(r->c, all.data ? all.data + start : "", complete - start, &o);
    /* keep the partial last line for follow */
    memmove(all.data, all.data + complete, all.len - complete);
    all.len -= complete;
    while (rc == 0 && follow && !atomic_load(a->stop)) {
        n = read(lf, chunk, sizeof(chunk));
        if (n > 0) {
            buf_append(&all, chunk, (size_t)n);
            size_t c = all.len;
            while (c > 0 && all.data[c - 1] != '\n')
                c--;
            rc = emit_lines(r->c, all.data, c, &o);
            memmove(all.data, all.data + c, all.len - c);
            all.len -= c;
            continue;
        }
        /* at EOF: a rotation put a new file at path; go on from its beginning */
        struct stat cur, now;
        if (fstat(lf, &cur) == 0 && stat(path, &now) == 0 && cur.st_ino != now.st_ino) {
            int nf = open(path, O_RDONLY | O_CLOEXEC);
            if (nf >= 0) {
                close(lf);
                lf = nf;
                continue;
            }
        }
        bool torn_down = fstat(lf, &cur) == 0 && cur.st_nlink == 0 && stat(path, &now) != 0;
        if (access(exitp, F_OK) == 0 || torn_down) {
            /* the container ended (or its pod was torn down before we saw the exit): drain
             * what is left, then stop */
            n = read(lf, chunk, sizeof(chunk));
            if (n > 0) {
                buf_append(&all, chunk, (size_t)n);
                continue;
            }
            break;
        }
        if (!r->c->tls || !sconn_pending(r->c))
            if (client_gone(r->c))
                break;
    }
    buf_free(&all);
    close(lf);
}
