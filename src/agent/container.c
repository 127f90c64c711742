/* One container's life: the runtime's argv, the image per imagePullPolicy, the bundle and the
 * detached shim that runs it; exits noticed from the shim's exit file; restarts per
 * restartPolicy with Kubernetes' back-off (10 s doubling to 5 min, CrashLoopBackOff); the
 * state a restarted agent adopts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "agent/probe.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/proc.h"

#define BACKOFF_MAX_S 300

static void ctr_record_start(struct agent_pod *p, struct agent_ctr *c);

char *agent__container_id(const char *uid, const char *cname)
{
    return xasprintf("k8c-%s-%s", uid, cname);
}

void agent__runtime_argv(const struct agent *a, const char *verb, const char **argv, size_t *n)
{
    size_t k = 0;
    static _Thread_local char root[4096];
    snprintf(root, sizeof(root), "%s/runtime", a->data_dir);
    if (strcmp(a->runtime, "builtin") == 0) {
        argv[k++] = a->self_exe;
        argv[k++] = "runtime";
    } else {
        argv[k++] = a->runtime;
    }
    argv[k++] = "--root";
    argv[k++] = root;
    argv[k++] = verb;
    argv[k] = NULL;
    *n = k;
}

/* Runs the runtime's verb with extra args; quiet (stdout discarded). Returns its exit code. */
int agent__runtime_call(struct agent *a, const char *verb, const char *const *extra)
{
    if (a->fake)
        return agent__fake_call(a, verb, extra);
    const char *argv[32];
    size_t n;
    agent__runtime_argv(a, verb, argv, &n);
    for (size_t i = 0; extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    struct buf out = BUF_INIT;
    struct proc_result r = {0};
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = proc_run((char *const *)argv, NULL, 0, &out, &r, &err);
    buf_free(&out);
    return rc < 0 ? -1 : r.exit_code;
}

/* Whether the runtime has state for id (runc, crun and the built-in keep <root>/<id>/). */
bool agent__runtime_has(const struct agent *a, const char *id)
{
    _cleanup_free_ char *dir = xasprintf("%s/runtime/%s", a->data_dir, id);
    return access(dir, F_OK) == 0;
}

void agent__ctr_set_waiting(struct agent_ctr *c, const char *reason, const char *msg)
{
    free(c->waiting_reason);
    free(c->waiting_msg);
    c->waiting_reason = reason ? xstrdup(reason) : NULL;
    c->waiting_msg = msg ? xstrdup(msg) : NULL;
}

const json_t *agent__ctr_spec(const json_t *pod, const struct agent_ctr *c)
{
    size_t i;
    json_t *s;
    json_array_foreach (kjson_path(pod, c->init ? "spec.initContainers" : "spec.containers"), i,
                        s) {
        const char *n = kjson_path_str(s, "name");
        if (n && strcmp(n, c->name) == 0)
            return s;
    }
    return NULL;
}

char *agent__ctr_dir(const struct agent_pod *p, const struct agent_ctr *c)
{
    return xasprintf("%s/%s", p->dir, c->name);
}

/* What a restarted agent needs to adopt a container: <ctr dir>/agent-state.json. */
void agent__ctr_save(const struct agent_pod *p, const struct agent_ctr *c)
{
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    _cleanup_free_ char *path = xasprintf("%s/agent-state.json", dir);
    _cleanup_json_ json_t *st =
        json_pack("{s:i,s:I,s:s,s:b,s:i,s:I,s:I,s:i}", "restarts", c->restarts, "startedAt",
                  (json_int_t)c->started_at, "imageID", c->image_id ? c->image_id : "", "hasLast",
                  c->has_last, "lastExit", c->last_exit, "lastStarted", (json_int_t)c->last_started,
                  "lastFinished", (json_int_t)c->last_finished, "backoff", (int)c->backoff_s);
    agent__lifecycle_save(c, st);
    _cleanup_free_ char *text = kjson_dumps(st);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (file_write_replace(path, text, strlen(text), 0600, &err) < 0)
        LOG_WARN("%s", err->msg);
}

/* Start-once: the agent records a start (agent-state.json) BEFORE launching the shim, and
 * the shim holds an exclusive flock on <ctr dir>/shim.lock for its whole life: the agent
 * takes it on a new file before the fork and the shim inherits it (a flock belongs to the
 * open file, shared by every descriptor of it), so it is released when the shim ends, or at
 * once if the agent dies before the fork. A restarted agent that finds a start recorded and
 * no exit file tells the two cases apart by the lock: held, the shim runs (adopted, never
 * launched again: SIGKILL right after the fork used to find no record and start a second
 * container); free, no shim was launched (launched now). */
static int shim_lock_new(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/shim.lock", dir);
    unlink(path); /* the last run's shim may still hold its own file a moment */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Whether the shim of the container in dir runs: its lock is held. No lock file (a shim of an
 * agent before start-once) counts as running, as it did then. */
static bool shim_alive(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/shim.lock", dir);
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    return flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* K8C_TEST_AGENT_KILL_AT=<point>:<pod name>: the agent SIGKILLs itself at that point of the
 * pod's container start ("recorded": start recorded, shim not launched; "launched": the shim
 * launched, nothing else done): the e2e tests' way to hit the windows of a crash. */
static void test_kill_point(const char *point, const char *pod)
{
    const char *v = getenv("K8C_TEST_AGENT_KILL_AT");
    size_t n = strlen(point);
    if (v && strncmp(v, point, n) == 0 && v[n] == ':' && strcmp(v + n + 1, pod) == 0) {
        LOG_WARN("K8C_TEST_AGENT_KILL_AT=%s: killing the agent", v);
        raise(SIGKILL);
    }
}

/* Adopts what an earlier agent left: the container's saved state; running when the shim has
 * not recorded an exit yet (the shim and the container outlive the agent). */
void agent__ctr_adopt(struct agent_pod *p, struct agent_ctr *c)
{
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    _cleanup_free_ char *path = xasprintf("%s/agent-state.json", dir);
    _cleanup_free_ char *text = file_read_all(path, 65536, NULL, NULL);
    if (!text)
        return;
    _cleanup_json_ json_t *st = kjson_parse(text, strlen(text), NULL);
    if (!json_is_object(st))
        return;
    c->restarts = (int)json_integer_value(json_object_get(st, "restarts"));
    c->started_at = (time_t)json_integer_value(json_object_get(st, "startedAt"));
    const char *img = json_string_value(json_object_get(st, "imageID"));
    free(c->image_id);
    c->image_id = img && *img ? xstrdup(img) : NULL;
    c->has_last = json_is_true(json_object_get(st, "hasLast"));
    c->last_exit = (int)json_integer_value(json_object_get(st, "lastExit"));
    c->last_started = (time_t)json_integer_value(json_object_get(st, "lastStarted"));
    c->last_finished = (time_t)json_integer_value(json_object_get(st, "lastFinished"));
    c->backoff_s = (unsigned)json_integer_value(json_object_get(st, "backoff"));
    agent__lifecycle_adopt(c, st);
    c->running = c->started_at != 0;
    agent__ctr_set_waiting(c, NULL, NULL);
    agent__ctr_poll(p, c);
    if (c->running && !shim_alive(dir)) {
        /* recorded as started, no exit, no shim: the earlier agent died between recording
         * the start and launching the shim (or the shim was killed): launch it now, as the
         * same start (not a restart) */
        LOG_WARN("container %s of pod %s: recorded as started but no shim runs: starting it",
                 c->name, p->uid);
        c->running = false;
        c->relaunch = true;
    }
}

/* Notices an exit recorded by the shim. */
void agent__ctr_poll(struct agent_pod *p, struct agent_ctr *c)
{
    if (!c->running)
        return;
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    _cleanup_free_ char *exitp = xasprintf("%s/exit", dir);
    _cleanup_free_ char *text = file_read_all(exitp, 64, NULL, NULL);
    if (!text)
        return;
    c->running = false;
    c->creating = false;
    c->exited = true;
    c->exit_code = atoi(text);
    struct stat st;
    c->finished_at = stat(exitp, &st) == 0 ? st.st_mtime : time(NULL);
    agent__lifecycle_exited(p, c);
}

/* Whether container c is still being created, to be looked at again soon. The built-in
 * runtime's shim says on its pipe (c->notify_fd, watched by notify.c, which queues the pod
 * when it is readable): "R" once the container runs; closed unsaid when it failed, after
 * writing the exit file (the runtime's message in the log), which the poll here then sees.
 * runc and crun have created the container once their state file exists (runc writes
 * <root>/<id>/state.json, crun <root>/<id>/status, once the container's process exists):
 * for them the pod's sync comes back every 10 ms meanwhile (pod.c); a runtime that fails
 * leaves the shim's exit file instead. Until then the container is reported
 * ContainerCreating, not running and Ready. */
bool agent__ctr_created(struct agent *a, struct agent_pod *p, struct agent_ctr *c)
{
    if (c->notify_fd > 0) {
        char b = 0;
        ssize_t r = read(c->notify_fd, &b, 1);
        if (r < 0 && errno == EAGAIN && c->creating)
            return a->notify == NULL; /* polled only without the watcher */
        agent__notify_close(a, c->notify_fd);
        c->notify_fd = 0;
        c->creating = false;
        if (r != 1 || b != 'R')
            agent__ctr_poll(p, c);
        return false;
    }
    if (!c->creating)
        return false;
    _cleanup_free_ char *id = agent__container_id(p->uid, c->name);
    _cleanup_free_ char *st = xasprintf("%s/runtime/%s/state.json", a->data_dir, id);
    _cleanup_free_ char *cst = xasprintf("%s/runtime/%s/status", a->data_dir, id);
    if (access(st, F_OK) == 0 || access(cst, F_OK) == 0 || !c->running)
        c->creating = false;
    return c->creating;
}

/* Starts container c: image, bundle, shim. Returns 0, or -1 with the waiting reason set. */
int agent__ctr_start(struct agent *a, struct agent_pod *p, struct agent_ctr *c, const json_t *pod)
{
    if (a->fake)
        return agent__fake_ctr_start(a, p, c, pod);
    const json_t *spec = agent__ctr_spec(pod, c);
    const char *image = kjson_path_str(spec, "image");
    const char *pol_s = kjson_path_str(spec, "imagePullPolicy");
    enum image_pull_policy pol = IMAGE_PULL_IF_NOT_PRESENT;
    if (pol_s)
        image_pull_policy_parse(pol_s, &pol);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_image_info_ struct image_info *img = NULL;
    if (pol != IMAGE_PULL_ALWAYS)
        img = image_store_get(a->images, image ? image : "", &err);
    if (img) {
        if (!c->image_id)
            agent__event(a, pod, "Normal", "Pulled",
                         "Container image \"%s\" already present on machine", image);
    } else {
        k8c_err_free(err);
        err = NULL;
        agent__event(a, pod, "Normal", "Pulling", "Pulling image \"%s\"", image);
        img = image_ensure(a->images, image ? image : "", pol, NULL, &err);
        if (!img) {
            bool backoff =
                c->waiting_reason && (strcmp(c->waiting_reason, "ErrImagePull") == 0 ||
                                      strcmp(c->waiting_reason, "ImagePullBackOff") == 0);
            agent__ctr_set_waiting(c, backoff ? "ImagePullBackOff" : "ErrImagePull", err->msg);
            agent__event(a, pod, "Warning", "Failed", "Failed to pull image \"%s\": %s", image,
                         err->msg);
            return -1;
        }
        agent__event(a, pod, "Normal", "Pulled", "Successfully pulled image \"%s\"", image);
    }
    free(c->image_id);
    c->image_id = xstrdup(img->config_digest);
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    _cleanup_free_ char *id = agent__container_id(p->uid, c->name);
    const char *del[] = {"--force", id, NULL};
    if (agent__runtime_has(a, id))
        agent__runtime_call(a, "delete", del);
    _cleanup_free_ char *exitp = xasprintf("%s/exit", dir);
    _cleanup_free_ char *logp = xasprintf("%s/0.log", dir);
    _cleanup_free_ char *prevp = xasprintf("%s/previous.log", dir);
    unlink(exitp);
    rename(logp, prevp);
    agent__logs_drop_rotated(dir);
    _cleanup_json_ json_t *warnings = json_array();
    struct agent_bundle_in in = {pod, spec, img, p->dir, a->client, a->node_ip, warnings};
    _cleanup_json_ json_t *cfg = NULL;
    if (file_mkdir_p(dir, 0755, &err) < 0 || agent_rootfs_mount(dir, img, &err) < 0 ||
        !(cfg = agent_bundle_config(&in, &err)) ||
        agent__lifecycle_prepare(p, c, spec, cfg, &err) < 0) {
        bool config = err->reason == K8C_REASON_INVALID || err->reason == K8C_REASON_NOT_FOUND;
        agent__ctr_set_waiting(c, config ? "CreateContainerConfigError" : "CreateContainerError",
                               err->msg);
        agent__event(a, pod, "Warning", "Failed", "Error: %s", err->msg);
        return -1;
    }
    size_t wi;
    json_t *w;
    json_array_foreach (warnings, wi, w)
        agent__event(a, pod, "Warning", "InvalidEnvironmentVariableNames", "%s",
                     json_string_value(w));
    _cleanup_free_ char *cfgp = xasprintf("%s/config.json", dir);
    _cleanup_free_ char *text = kjson_dumps(cfg);
    if (file_write_replace(cfgp, text, strlen(text), 0600, &err) < 0) {
        agent__ctr_set_waiting(c, "CreateContainerError", err->msg);
        return -1;
    }
    agent__event(a, pod, "Normal", "Created", "Created container %s", c->name);
    /* the shim, detached in its own session; with the built-in runtime it is the runtime too
     * (shim.c --builtin) and says on a pipe when the container runs */
    bool builtin = strcmp(a->runtime, "builtin") == 0;
    const char *rargv[32];
    size_t n = 0;
    if (!builtin)
        agent__runtime_argv(a, "run", rargv, &n);
    const char *argv[48];
    size_t k = 0;
    argv[k++] = a->shim_exe ? a->shim_exe : a->self_exe;
    argv[k++] = "shim";
    char max_size[32], max_files[16];
    snprintf(max_size, sizeof(max_size), "%lld", a->log_max_size);
    snprintf(max_files, sizeof(max_files), "%d", a->log_max_files);
    argv[k++] = "--log-max-size";
    argv[k++] = max_size;
    argv[k++] = "--log-max-files";
    argv[k++] = max_files;
    _cleanup_free_ char *attach = xasprintf("%s/attach.sock", dir);
    argv[k++] = "--attach";
    argv[k++] = attach;
    if (json_is_true(json_object_get(spec, "stdin")))
        argv[k++] = "--stdin";
    if (json_is_true(json_object_get(spec, "stdinOnce")))
        argv[k++] = "--stdin-once";
    if (json_is_true(json_object_get(spec, "tty")))
        argv[k++] = "--tty";
    int notify[2] = {-1, -1};
    if (builtin) {
        if (pipe2(notify, O_CLOEXEC | O_NONBLOCK) < 0) {
            agent__ctr_set_waiting(c, "CreateContainerError", "pipe failed");
            return -1;
        }
        argv[k++] = "--notify-fd";
        argv[k++] = "3";
    }
    argv[k++] = logp;
    argv[k++] = exitp;
    _cleanup_free_ char *root = xasprintf("%s/runtime", a->data_dir);
    if (builtin) {
        argv[k++] = "--builtin";
        argv[k++] = root;
        argv[k++] = dir;
    } else {
        argv[k++] = "--";
        for (size_t i = 0; i < n; i++)
            argv[k++] = rargv[i];
        argv[k++] = "--bundle";
        argv[k++] = dir;
    }
    argv[k++] = id;
    argv[k] = NULL;
    /* the start is recorded before the shim is launched, and the shim holds the lock taken
     * here (see shim_lock_new) */
    int lock = shim_lock_new(dir);
    if (lock < 0) {
        if (builtin) {
            close(notify[0]);
            close(notify[1]);
        }
        agent__ctr_set_waiting(c, "CreateContainerError", "cannot lock the shim's lock file");
        return -1;
    }
    struct agent_ctr before = *c;
    ctr_record_start(p, c);
    test_kill_point("recorded", p->name);
    pid_t pid = fork();
    if (pid < 0) {
        if (builtin) {
            close(notify[0]);
            close(notify[1]);
        }
        close(lock);
        c->running = before.running; /* not started after all */
        c->exited = before.exited;
        c->started_at = before.started_at;
        c->has_last = before.has_last;
        c->last_exit = before.last_exit;
        c->last_started = before.last_started;
        c->last_finished = before.last_finished;
        c->relaunch = before.relaunch;
        agent__ctr_save(p, c);
        agent__ctr_set_waiting(c, "CreateContainerError", "fork failed");
        return -1;
    }
    if (pid == 0) {
        setsid();
        if (fork() == 0) {
            /* fds 0-2 /dev/null, 3 the notify pipe (built-in), 4 the lock; nothing else */
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            int nfd = notify[1] >= 0 ? fcntl(notify[1], F_DUPFD, 10) : -1;
            int lfd = fcntl(lock, F_DUPFD, 10);
            if (nfd >= 0)
                dup2(nfd, 3);
            else
                close(3);
            dup2(lfd, 4);
            for (int fd = 5; fd < 1024; fd++)
                close(fd);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        _exit(0);
    }
    close(lock);
    waitpid(pid, NULL, 0);
    test_kill_point("launched", p->name);
    agent__event(a, pod, "Normal", "Started", "Started container %s", c->name);
    agent__lifecycle_started(a, p, c, pod);
    c->creating = true;
    if (builtin) {
        /* running when the shim says so on the pipe (agent__ctr_created) */
        close(notify[1]);
        if (c->notify_fd > 0) /* the last run's, if its exit was seen first */
            agent__notify_close(a, c->notify_fd);
        c->notify_fd = notify[0];
        if (agent__notify_watch(a, c->notify_fd, p->key) < 0)
            LOG_WARN("watching the shim of %s: %s (polled)", id, strerror(errno));
    }
    return 0;
}

/* The bookkeeping of a start, saved: the last run becomes lastState (unless this launches
 * again a start that was recorded but never launched), running from now. */
static void ctr_record_start(struct agent_pod *p, struct agent_ctr *c)
{
    if (c->started_at && !c->relaunch) {
        c->has_last = true;
        c->last_exit = c->exit_code;
        c->last_started = c->started_at;
        c->last_finished = c->finished_at;
    }
    c->relaunch = false;
    c->running = true;
    c->exited = false;
    c->started_at = time(NULL);
    agent__ctr_set_waiting(c, NULL, NULL);
    agent__ctr_save(p, c);
}

void agent__ctr_started(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                        const json_t *pod)
{
    ctr_record_start(p, c);
    agent__event(a, pod, "Normal", "Started", "Started container %s", c->name);
    agent__lifecycle_started(a, p, c, pod);
}

bool agent__wants_restart(const char *policy, int code)
{
    if (!policy || strcmp(policy, "Always") == 0)
        return true;
    return strcmp(policy, "OnFailure") == 0 && code != 0;
}

/* Restarts an exited container when the policy says so and its back-off has passed. */
void agent__ctr_maybe_restart(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                              const json_t *pod, const char *policy)
{
    if (!c->exited || !agent__wants_restart(policy, c->exit_code))
        return;
    uint64_t now = clock_mono_ns();
    if (c->backoff_until_ns == 0) {
        c->backoff_until_ns = now + (uint64_t)c->backoff_s * 1000000000ull;
        c->backoff_s = c->backoff_s == 0 ? 10 : c->backoff_s * 2;
        if (c->backoff_s > BACKOFF_MAX_S)
            c->backoff_s = BACKOFF_MAX_S;
    }
    if (now < c->backoff_until_ns) {
        if (!c->waiting_reason || strcmp(c->waiting_reason, "CrashLoopBackOff") != 0) {
            char msg[256];
            snprintf(msg, sizeof(msg), "back-off %us restarting failed container=%s pod=%s_%s(%s)",
                     c->backoff_s / 2, c->name, p->name, p->ns, p->uid);
            agent__ctr_set_waiting(c, "CrashLoopBackOff", msg);
            agent__event(a, pod, "Warning", "BackOff", "Back-off restarting failed container %s",
                         c->name);
        }
        return;
    }
    c->backoff_until_ns = 0;
    c->restarts++;
    agent__ctr_start(a, p, c, pod);
}

/* ---- status ---- */
