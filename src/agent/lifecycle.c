/* The edges of a container's run: postStart and preStop hooks, the graceful stop (preStop,
 * SIGTERM, SIGKILL at the end of the grace period) run by a detached thread so no pod worker
 * waits, the termination message (a per-run host file bound at terminationMessagePath, as
 * kubelet does: /dev in the container is a tmpfs that dies with it; FallbackToLogsOnError
 * takes the log's tail), and OOMKilled (the memory cgroup's oom_kill counter while the
 * cgroup exists, else the kernel's "oom-kill:" record in /dev/kmsg naming the container's
 * memory cgroup: both the built-in runtime and runc remove the cgroup as the container
 * exits, before the agent sees the exit). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/probe.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/proc.h"

#define MESSAGE_MAX 4096  /* state.terminated.message cap */
#define LOG_TAIL_LINES 80 /* FallbackToLogsOnError: kubelet's tail */
#define LOG_TAIL_BYTES 2048
#define HOOK_TIMEOUT_S 120 /* postStart has no timeout of its own in the API */

/* ---- termination message and OOM ---- */

int agent__lifecycle_prepare(struct agent_pod *p, struct agent_ctr *c, const json_t *spec,
                             json_t *cfg, struct k8c_err **err)
{
    free(c->last_term_msg);
    c->last_term_msg = steal_ptr(&c->term_msg);
    c->last_oom_killed = c->oom_killed;
    c->oom_killed = false;
    const char *path = kjson_path_str(spec, "terminationMessagePath");
    if (!path || !*path)
        path = "/dev/termination-log";
    if (path[0] != '/')
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "terminationMessagePath \"%s\": must be an absolute path", path),
               -1;
    const char *policy = kjson_path_str(spec, "terminationMessagePolicy");
    c->term_msg_from_logs = policy && strcmp(policy, "FallbackToLogsOnError") == 0;
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    _cleanup_free_ char *host = xasprintf("%s/termination-log", dir);
    int fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return k8c_err_errno(err, "create the termination message file `%s`", host);
    fchmod(fd, 0666); /* any user of the container may write it */
    close(fd);
    json_t *mounts = json_object_get(cfg, "mounts");
    if (!json_is_array(mounts))
        json_object_set_new(cfg, "mounts", mounts = json_array());
    json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:[s,s]}", "destination", path, "type",
                                            "bind", "source", host, "options", "rbind", "rw"));
    return 0;
}

void agent__lifecycle_save(const struct agent_ctr *c, json_t *st)
{
    json_object_set_new(st, "lastOOMKilled", json_boolean(c->last_oom_killed));
    if (c->last_term_msg)
        json_object_set_new(st, "lastMessage", json_string(c->last_term_msg));
    /* the run whose startup probe succeeded (0: none yet): a later run starts over */
    json_object_set_new(st, "startupDoneAt", json_integer((json_int_t)c->startup_done_at));
}

void agent__lifecycle_adopt(struct agent_ctr *c, const json_t *st)
{
    c->last_oom_killed = json_is_true(json_object_get(st, "lastOOMKilled"));
    const char *m = json_string_value(json_object_get(st, "lastMessage"));
    free(c->last_term_msg);
    c->last_term_msg = m ? xstrdup(m) : NULL;
    c->startup_done_at = (time_t)json_integer_value(json_object_get(st, "startupDoneAt"));
}

bool agent__kmsg_is_oom(const char *rec, size_t len, const char *memcg, uint64_t since_us)
{
    /* "<prio>,<seq>,<usec>,<flags>;oom-kill:constraint=…,task_memcg=/k8c/kubepods/besteffort/pod<uid>/<c>,…"
     */
    const char *semi = memchr(rec, ';', len);
    if (!semi)
        return false;
    const char *c1 = memchr(rec, ',', (size_t)(semi - rec));
    const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(semi - c1 - 1)) : NULL;
    if (!c2)
        return false;
    uint64_t us = 0;
    for (const char *d = c2 + 1; d < semi && *d != ','; d++) {
        if (*d < '0' || *d > '9')
            return false;
        us = us * 10 + (uint64_t)(*d - '0');
    }
    if (us < since_us)
        return false;
    const char *msg = semi + 1;
    size_t mlen = len - (size_t)(msg - rec);
    const char *nl = memchr(msg, '\n', mlen);
    if (nl)
        mlen = (size_t)(nl - msg);
    if (mlen < 9 || memcmp(msg, "oom-kill:", 9) != 0)
        return false;
    static const char key[] = "task_memcg=";
    const char *v = memmem(msg, mlen, key, sizeof(key) - 1);
    if (!v)
        return false;
    v += sizeof(key) - 1;
    const char *end = memchr(v, ',', mlen - (size_t)(v - msg));
    if (!end)
        end = msg + mlen;
    size_t vl = (size_t)(end - v), ml = strlen(memcg);
    /* the kernel prints the path from its cgroup root: ours may sit below a prefix */
    return vl >= ml && memcmp(end - ml, memcg, ml) == 0 &&
           (vl == ml || memcg[0] == '/' || end[-(long)ml - 1] == '/');
}

/* The oom_kill counter of the container's memory cgroup, when it still exists (v1
 * memory.oom_control, v2 memory.events). */
static long cgroup_oom_kills(const char *memcg)
{
    const char *files[][2] = {{"/sys/fs/cgroup/memory", "memory.oom_control"},
                              {"/sys/fs/cgroup", "memory.events"}};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *path = xasprintf("%s%s/%s", files[i][0], memcg, files[i][1]);
        _cleanup_free_ char *text = file_read_all(path, 4096, NULL, NULL);
        const char *k = text ? strstr(text, "oom_kill ") : NULL;
        if (k)
            return atol(k + 9);
    }
    return -1;
}

static bool kmsg_oom(const char *memcg, uint64_t since_us)
{
    int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool found = false;
    char rec[8192];
    for (int guard = 0; guard < 200000 && !found; guard++) {
        ssize_t n = read(fd, rec, sizeof(rec) - 1);
        if (n < 0 && errno == EPIPE)
            continue; /* records overwritten under us: go on with the next */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        found = agent__kmsg_is_oom(rec, (size_t)n, memcg, since_us);
    }
    close(fd);
    return found;
}

static bool oom_killed(const struct agent_pod *p, const struct agent_ctr *c)
{
    /* qos.c places the container by its pod's QoS class, which the pod's spec decides; the
     * exit path has no spec at hand, so each class's place is tried (only one exists). */
    static const char *const classes[] = {"", "/burstable", "/besteffort"};
    /* the kernel's clock for kmsg is monotonic: the run started (now - age) ago */
    time_t age = time(NULL) - c->started_at + 2;
    uint64_t now_us = clock_mono_ns() / 1000;
    uint64_t since = (uint64_t)age * 1000000ull < now_us ? now_us - (uint64_t)age * 1000000ull : 0;
    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        _cleanup_free_ char *memcg =
            xasprintf("/k8c/kubepods%s/pod%s/%s", classes[i], p->uid, c->name);
        if (cgroup_oom_kills(memcg) > 0 || kmsg_oom(memcg, since))
            return true;
    }
    return false;
}

char *agent__log_tail_message(const char *cri, size_t len)
{
    struct buf out = BUF_INIT;
    agent__cri_format(cri, len, false, &out);
    if (!out.data || out.len == 0) {
        buf_free(&out);
        return NULL;
    }
    /* the last 80 lines, then at most the last 2048 bytes of those */
    size_t start = out.len, lines = 0;
    if (start > 0 && out.data[start - 1] == '\n')
        start--;
    while (start > 0) {
        if (out.data[start - 1] == '\n' && ++lines == LOG_TAIL_LINES)
            break;
        start--;
    }
    if (out.len - start > LOG_TAIL_BYTES)
        start = out.len - LOG_TAIL_BYTES;
    char *msg = xstrndup(out.data + start, out.len - start);
    buf_free(&out);
    return msg;
}

/* The log's last 64 KiB from its first complete line (enough for 80 lines / 2 KiB). */
static char *log_tail(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    off_t from = fstat(fd, &st) == 0 && st.st_size > 65536 ? st.st_size - 65536 : 0;
    lseek(fd, from, SEEK_SET);
    char *text = file_read_fd(fd, 65536 + 1, len, NULL);
    close(fd);
    if (text && from > 0) {
        char *nl = memchr(text, '\n', *len);
        size_t skip = nl ? (size_t)(nl - text) + 1 : *len;
        memmove(text, text + skip, *len - skip + 1);
        *len -= skip;
    }
    return text;
}

void agent__lifecycle_exited(struct agent_pod *p, struct agent_ctr *c)
{
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    _cleanup_free_ char *path = xasprintf("%s/termination-log", dir);
    free(c->term_msg);
    c->term_msg = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        char buf[MESSAGE_MAX];
        ssize_t n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n > 0)
            c->term_msg = xstrndup(buf, (size_t)n);
    }
    if (!c->term_msg && c->term_msg_from_logs && c->exit_code != 0) {
        _cleanup_free_ char *logp = xasprintf("%s/0.log", dir);
        _cleanup_free_ char *text = log_tail(logp, &len);
        if (text)
            c->term_msg = agent__log_tail_message(text, len);
    }
    c->oom_killed = c->exit_code != 0 && oom_killed(p, c);
    if (c->oom_killed)
        LOG_INFO("container OOM-killed pod=%s container=%s", p->key, c->name);
}

/* ---- hooks and the graceful stop ---- */

static bool runtime_status_running(const struct agent *a, const char *cid)
{
    if (!agent__runtime_has(a, cid))
        return false; /* not created yet: spare the runtime's "does not exist" */
    const char *argv[16];
    size_t n;
    agent__runtime_argv(a, "state", argv, &n);
    argv[n++] = cid;
    argv[n] = NULL;
    struct buf out = BUF_INIT;
    struct proc_result r = {0};
    int rc = proc_run((char *const *)argv, NULL, 0, &out, &r, NULL);
    _cleanup_json_ json_t *st =
        rc == 0 && r.exit_code == 0 && out.data ? kjson_parse(out.data, out.len, NULL) : NULL;
    buf_free(&out);
    const char *status = kjson_path_str(st, "status");
    return status && strcmp(status, "running") == 0;
}

bool agent__ctr_wait_running(const struct agent *a, const char *cid, const char *exitp,
                             double timeout_s)
{
    uint64_t deadline = clock_mono_ns() + (uint64_t)(timeout_s * 1e9);
    for (unsigned i = 0;; i++) {
        if (runtime_status_running(a, cid))
            return true;
        if (access(exitp, F_OK) == 0 || clock_mono_ns() >= deadline || atomic_load(a->stop))
            return false;
        struct timespec ts = {0, i < 10 ? 20000000 : 100000000};
        nanosleep(&ts, NULL);
    }
}

struct stop_job {
    struct agent *a;
    char *key, *cid, *ctr, *exitp, *netns, *pod_ip, *podfmt;
    json_t *spec, *meta;
    const json_t *post_start; /* in spec: run first; only a failure leads to the stop */
    const json_t *pre_stop;
    long grace_s;
};

static void job_free(struct stop_job *j)
{
    free(j->key), free(j->cid), free(j->ctr), free(j->exitp), free(j->netns), free(j->pod_ip);
    free(j->podfmt);
    json_decref(j->spec);
    json_decref(j->meta);
    free(j);
}

/* Runs a hook; on failure records reason with kubelet's message. Returns whether it ran OK. */
static bool run_hook(struct stop_job *j, const json_t *hook, double timeout_s, const char *reason)
{
    struct agent_target t = {j->cid, j->netns, j->pod_ip, j->spec, j->a->stop, -1};
    _cleanup_free_ char *msg = NULL;
    enum agent_action_result r = agent__action_run(j->a, &t, hook, timeout_s, &msg);
    if (r == AGENT_ACTION_OK || atomic_load(j->a->stop))
        return r == AGENT_ACTION_OK;
    const json_t *cmd = kjson_path(hook, "exec.command");
    if (cmd) {
        struct buf words = BUF_INIT;
        size_t i;
        json_t *w;
        json_array_foreach (cmd, i, w)
            buf_appendf(&words, "%s%s", i ? " " : "", json_string_value(w) ?: "");
        const char *ws = words.data ? words.data : "";
        if (t.exit_code >= 0)
            agent__event(j->a, j->meta, "Warning", reason,
                         "Exec lifecycle hook ([%s]) for Container \"%s\" in Pod \"%s\" failed - "
                         "error: command '%s' exited with %d: , message: \"%s\"",
                         ws, j->ctr, j->podfmt, ws, t.exit_code, msg ? msg : "");
        else
            agent__event(j->a, j->meta, "Warning", reason,
                         "Exec lifecycle hook ([%s]) for Container \"%s\" in Pod \"%s\" failed - "
                         "error: %s, message: \"\"",
                         ws, j->ctr, j->podfmt, msg ? msg : "");
        buf_free(&words);
    } else {
        agent__event(
            j->a, j->meta, "Warning", reason,
            "HTTP lifecycle hook (%s) for Container \"%s\" in Pod \"%s\" failed - error: %s",
            kjson_path_str(hook, "httpGet.path") ?: "", j->ctr, j->podfmt, msg ? msg : "");
    }
    return false;
}

static bool exited(const struct stop_job *j)
{
    return access(j->exitp, F_OK) == 0;
}

static void runtime_signal(struct stop_job *j, const char *sig)
{
    const char *args[] = {j->cid, sig, NULL};
    agent__runtime_call(j->a, "kill", args);
}

static void *stop_main(void *opaque)
{
    struct stop_job *j = opaque;
    struct agent *a = j->a;
    bool stop = true;
    if (j->post_start) {
        /* the shim has only just been forked: the hook needs the container's process */
        agent__ctr_wait_running(a, j->cid, j->exitp, 10);
        stop = !run_hook(j, j->post_start, HOOK_TIMEOUT_S, "FailedPostStartHook");
        if (stop && !atomic_load(a->stop))
            agent__event(a, j->meta, "Normal", "Killing", "FailedPostStartHook");
    }
    if (stop && !atomic_load(a->stop)) {
        uint64_t start = clock_mono_ns();
        uint64_t deadline = start + (uint64_t)j->grace_s * 1000000000ull;
        if (j->pre_stop && !exited(j)) {
            run_hook(j, j->pre_stop, (double)(j->grace_s > 0 ? j->grace_s : 1),
                     "FailedPreStopHook");
            /* kubelet leaves SIGTERM at least 2 s after a preStop hook */
            uint64_t min = clock_mono_ns() + 2000000000ull;
            if (deadline < min)
                deadline = min;
        }
        if (!exited(j))
            runtime_signal(j, "TERM");
        while (!exited(j) && clock_mono_ns() < deadline && !atomic_load(a->stop)) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
        if (!exited(j) && !atomic_load(a->stop))
            runtime_signal(j, "KILL");
        if (!atomic_load(a->stop))
            workqueue_add(a->queue, j->key);
    }
    job_free(j);
    agent__prober_thread_leave(a);
    return NULL;
}

static void job_start(struct agent *a, struct agent_pod *p, struct agent_ctr *c, const json_t *pod,
                      bool post_start, long grace_s)
{
    const json_t *spec = agent__ctr_spec(pod, c);
    struct stop_job *j = xcalloc(1, sizeof(*j));
    j->a = a;
    j->key = xstrdup(p->key);
    j->cid = agent__container_id(p->uid, c->name);
    j->ctr = xstrdup(c->name);
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    j->exitp = xasprintf("%s/exit", dir);
    j->netns = xasprintf("%s/ns/net", p->dir);
    const char *ip = kjson_path_str(pod, "status.podIP");
    j->pod_ip = ip ? xstrdup(ip) : NULL;
    j->podfmt = xasprintf("%s_%s(%s)", p->name, p->ns, p->uid);
    j->spec = spec ? json_deep_copy(spec) : json_object();
    j->meta = json_pack("{s:{s:s,s:s,s:s}}", "metadata", "namespace", p->ns, "name", p->name, "uid",
                        p->uid);
    if (post_start)
        j->post_start = kjson_path(j->spec, "lifecycle.postStart");
    j->pre_stop = kjson_path(j->spec, "lifecycle.preStop");
    j->grace_s = grace_s < 0 ? 0 : grace_s;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1024 * 1024); /* curl+TLS for Events */
    pthread_t th;
    agent__prober_thread_enter(a);
    if (pthread_create(&th, &attr, stop_main, j) != 0) {
        agent__prober_thread_leave(a);
        LOG_WARN("cannot start the stop thread of %s/%s: signalling directly", p->key, c->name);
        if (!post_start)
            runtime_signal(j, "KILL");
        job_free(j);
    }
    pthread_attr_destroy(&attr);
}

void agent__lifecycle_started(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                              const json_t *pod)
{
    if (!kjson_path(agent__ctr_spec(pod, c), "lifecycle.postStart"))
        return;
    const json_t *g = kjson_path(pod, "spec.terminationGracePeriodSeconds");
    job_start(a, p, c, pod, true, json_is_integer(g) ? (long)json_integer_value(g) : 30);
}

void agent__ctr_stop(struct agent *a, struct agent_pod *p, struct agent_ctr *c, const json_t *pod,
                     long grace_s)
{
    job_start(a, p, c, pod, false, grace_s);
}
