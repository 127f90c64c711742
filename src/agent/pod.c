/* The pod lifecycle: per pod a sandbox, images per imagePullPolicy, init containers in order
 * then the containers, each run by a detached shim through the selected runtime; restarts
 * per restartPolicy with Kubernetes' back-off (10 s doubling to 5 min, CrashLoopBackOff);
 * status through pods/status; deletion with SIGTERM, grace period, SIGKILL and cleanup of
 * mounts, cgroups and namespaces, then the final delete (gracePeriodSeconds=0). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/proc.h"

#define BACKOFF_MAX_S 300

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
static int runtime_call(struct agent *a, const char *verb, const char *const *extra)
{
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
static bool runtime_has(const struct agent *a, const char *id)
{
    _cleanup_free_ char *dir = xasprintf("%s/runtime/%s", a->data_dir, id);
    return access(dir, F_OK) == 0;
}

void agent__event(struct agent *a, const json_t *pod, const char *type, const char *reason,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct buf msg = BUF_INIT;
    buf_vappendf(&msg, fmt, ap);
    va_end(ap);
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    const char *name = kjson_path_str(pod, "metadata.name");
    char stamp[21];
    clock_rfc3339(time(NULL), stamp);
    static atomic_uint seq;
    _cleanup_free_ char *ename =
        xasprintf("%s.%lx%x", name, (unsigned long)clock_mono_ns(), atomic_fetch_add(&seq, 1));
    _cleanup_json_ json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", ename, "namespace", ns,
        "involvedObject", "kind", "Pod", "apiVersion", "v1", "namespace", ns, "name", name, "uid",
        kjson_path_str(pod, "metadata.uid") ?: "", "type", type, "reason", reason, "message",
        msg.data ? msg.data : "", "source", "component", "kubelet", "host", a->node_name,
        "firstTimestamp", stamp, "lastTimestamp", stamp, "count", 1);
    buf_free(&msg);
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/events", ns);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *r = client_create(a->client, path, ev, &err);
    if (!r)
        LOG_DEBUG("event %s not recorded: %s", reason, err->msg);
}

/* ---- per-pod state ---- */

/* The pod behind key (only the worker holding key, per the work queue, uses the result). */
static struct agent_pod *pod_find(struct agent *a, const char *key)
{
    struct agent_pod *found = NULL;
    pthread_mutex_lock(&a->lock);
    for (struct agent_pod *p = a->pods; p && !found; p = p->next)
        if (strcmp(p->key, key) == 0)
            found = p;
    pthread_mutex_unlock(&a->lock);
    return found;
}

static struct agent_pod *pod_track(struct agent *a, const char *key, const json_t *pod)
{
    struct agent_pod *p = xcalloc(1, sizeof(*p));
    p->key = xstrdup(key);
    p->uid = xstrdup(kjson_path_str(pod, "metadata.uid"));
    p->ns = xstrdup(kjson_path_str(pod, "metadata.namespace"));
    p->name = xstrdup(kjson_path_str(pod, "metadata.name"));
    p->dir = xasprintf("%s/pods/%s", a->data_dir, p->uid);
    const json_t *lists[2] = {kjson_path(pod, "spec.initContainers"),
                              kjson_path(pod, "spec.containers")};
    p->n_ctrs = json_array_size(lists[0]) + json_array_size(lists[1]);
    p->ctrs = xcalloc(p->n_ctrs ? p->n_ctrs : 1, sizeof(*p->ctrs));
    size_t k = 0;
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach (lists[l], i, c) {
            p->ctrs[k].name = xstrdup(kjson_path_str(c, "name") ?: "");
            p->ctrs[k].init = l == 0;
            p->ctrs[k].waiting_reason = xstrdup(l == 0 ? "PodInitializing" : "ContainerCreating");
            k++;
        }
    }
    p->start_time = time(NULL);
    pthread_mutex_lock(&a->lock);
    p->next = a->pods;
    a->pods = p;
    pthread_mutex_unlock(&a->lock);
    return p;
}

static void pod_forget(struct agent *a, struct agent_pod *p)
{
    pthread_mutex_lock(&a->lock);
    for (struct agent_pod **pp = &a->pods; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&a->lock);
    for (size_t i = 0; i < p->n_ctrs; i++) {
        free(p->ctrs[i].name);
        free(p->ctrs[i].image_id);
        free(p->ctrs[i].waiting_reason);
        free(p->ctrs[i].waiting_msg);
    }
    free(p->ctrs);
    free(p->uid);
    free(p->key);
    free(p->ns);
    free(p->name);
    free(p->dir);
    free(p->last_status);
    free(p);
}

static void set_waiting(struct agent_ctr *c, const char *reason, const char *msg)
{
    free(c->waiting_reason);
    free(c->waiting_msg);
    c->waiting_reason = reason ? xstrdup(reason) : NULL;
    c->waiting_msg = msg ? xstrdup(msg) : NULL;
}

static const json_t *ctr_spec(const json_t *pod, const struct agent_ctr *c)
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

static char *ctr_dir(const struct agent_pod *p, const struct agent_ctr *c)
{
    return xasprintf("%s/%s", p->dir, c->name);
}

static void ctr_poll(struct agent_pod *p, struct agent_ctr *c);

/* What a restarted agent needs to adopt a container: <ctr dir>/agent-state.json. */
static void ctr_save(const struct agent_pod *p, const struct agent_ctr *c)
{
    _cleanup_free_ char *dir = ctr_dir(p, c);
    _cleanup_free_ char *path = xasprintf("%s/agent-state.json", dir);
    _cleanup_json_ json_t *st =
        json_pack("{s:i,s:I,s:s,s:b,s:i,s:I,s:I,s:i}", "restarts", c->restarts, "startedAt",
                  (json_int_t)c->started_at, "imageID", c->image_id ? c->image_id : "", "hasLast",
                  c->has_last, "lastExit", c->last_exit, "lastStarted", (json_int_t)c->last_started,
                  "lastFinished", (json_int_t)c->last_finished, "backoff", (int)c->backoff_s);
    _cleanup_free_ char *text = kjson_dumps(st);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (file_write_atomic(path, text, strlen(text), 0600, &err) < 0)
        LOG_WARN("%s", err->msg);
}

/* Adopts what an earlier agent left: the container's saved state; running when the shim has
 * not recorded an exit yet (the shim and the container outlive the agent). */
static void ctr_adopt(struct agent_pod *p, struct agent_ctr *c)
{
    _cleanup_free_ char *dir = ctr_dir(p, c);
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
    c->running = c->started_at != 0;
    set_waiting(c, NULL, NULL);
    ctr_poll(p, c);
}

/* Notices an exit recorded by the shim. */
static void ctr_poll(struct agent_pod *p, struct agent_ctr *c)
{
    if (!c->running)
        return;
    _cleanup_free_ char *dir = ctr_dir(p, c);
    _cleanup_free_ char *exitp = xasprintf("%s/exit", dir);
    _cleanup_free_ char *text = file_read_all(exitp, 64, NULL, NULL);
    if (!text)
        return;
    c->running = false;
    c->exited = true;
    c->exit_code = atoi(text);
    struct stat st;
    c->finished_at = stat(exitp, &st) == 0 ? st.st_mtime : time(NULL);
}

/* Starts container c: image, bundle, shim. Returns 0, or -1 with the waiting reason set. */
static int ctr_start(struct agent *a, struct agent_pod *p, struct agent_ctr *c, const json_t *pod)
{
    const json_t *spec = ctr_spec(pod, c);
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
            set_waiting(c, backoff ? "ImagePullBackOff" : "ErrImagePull", err->msg);
            agent__event(a, pod, "Warning", "Failed", "Failed to pull image \"%s\": %s", image,
                         err->msg);
            return -1;
        }
        agent__event(a, pod, "Normal", "Pulled", "Successfully pulled image \"%s\"", image);
    }
    free(c->image_id);
    c->image_id = xstrdup(img->config_digest);
    _cleanup_free_ char *dir = ctr_dir(p, c);
    _cleanup_free_ char *id = agent__container_id(p->uid, c->name);
    const char *del[] = {"--force", id, NULL};
    if (runtime_has(a, id))
        runtime_call(a, "delete", del);
    _cleanup_free_ char *exitp = xasprintf("%s/exit", dir);
    _cleanup_free_ char *logp = xasprintf("%s/0.log", dir);
    _cleanup_free_ char *prevp = xasprintf("%s/previous.log", dir);
    unlink(exitp);
    rename(logp, prevp);
    struct agent_bundle_in in = {pod, spec, img, p->dir, a->client};
    _cleanup_json_ json_t *cfg = NULL;
    if (file_mkdir_p(dir, 0755, &err) < 0 || agent_rootfs_mount(dir, img, &err) < 0 ||
        !(cfg = agent_bundle_config(&in, &err))) {
        set_waiting(c, "CreateContainerError", err->msg);
        agent__event(a, pod, "Warning", "Failed", "Error: %s", err->msg);
        return -1;
    }
    _cleanup_free_ char *cfgp = xasprintf("%s/config.json", dir);
    _cleanup_free_ char *text = kjson_dumps(cfg);
    if (file_write_atomic(cfgp, text, strlen(text), 0600, &err) < 0) {
        set_waiting(c, "CreateContainerError", err->msg);
        return -1;
    }
    agent__event(a, pod, "Normal", "Created", "Created container %s", c->name);
    /* the shim, detached in its own session */
    const char *rargv[32];
    size_t n;
    agent__runtime_argv(a, "run", rargv, &n);
    const char *argv[40];
    size_t k = 0;
    argv[k++] = a->self_exe;
    argv[k++] = "shim";
    argv[k++] = logp;
    argv[k++] = exitp;
    argv[k++] = "--";
    for (size_t i = 0; i < n; i++)
        argv[k++] = rargv[i];
    argv[k++] = "--bundle";
    argv[k++] = dir;
    argv[k++] = id;
    argv[k] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        set_waiting(c, "CreateContainerError", "fork failed");
        return -1;
    }
    if (pid == 0) {
        setsid();
        if (fork() == 0) {
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            for (int fd = 3; fd < 1024; fd++)
                if (fd != null)
                    close(fd);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    if (c->started_at) {
        c->has_last = true;
        c->last_exit = c->exit_code;
        c->last_started = c->started_at;
        c->last_finished = c->finished_at;
    }
    c->running = true;
    c->exited = false;
    c->started_at = time(NULL);
    set_waiting(c, NULL, NULL);
    ctr_save(p, c);
    agent__event(a, pod, "Normal", "Started", "Started container %s", c->name);
    return 0;
}

static bool wants_restart(const char *policy, int code)
{
    if (!policy || strcmp(policy, "Always") == 0)
        return true;
    return strcmp(policy, "OnFailure") == 0 && code != 0;
}

/* Restarts an exited container when the policy says so and its back-off has passed. */
static void ctr_maybe_restart(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                              const json_t *pod, const char *policy)
{
    if (!c->exited || !wants_restart(policy, c->exit_code))
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
            set_waiting(c, "CrashLoopBackOff", msg);
            agent__event(a, pod, "Warning", "BackOff", "Back-off restarting failed container %s",
                         c->name);
        }
        return;
    }
    c->backoff_until_ns = 0;
    c->restarts++;
    ctr_start(a, p, c, pod);
}

/* ---- status ---- */

static void stamp_of(time_t t, char out[21])
{
    clock_rfc3339(t, out);
}

static json_t *terminated(int code, time_t started, time_t finished, const char *cid)
{
    char s[21], f[21];
    stamp_of(started, s);
    stamp_of(finished, f);
    return json_pack("{s:{s:i,s:s,s:s,s:s,s:s}}", "terminated", "exitCode", code, "reason",
                     code == 0     ? "Completed"
                     : code == 137 ? "Error"
                                   : "Error",
                     "startedAt", s, "finishedAt", f, "containerID", cid);
}

static json_t *ctr_status(const struct agent_pod *p, const struct agent_ctr *c, const json_t *pod)
{
    const json_t *spec = ctr_spec(pod, c);
    _cleanup_free_ char *id = agent__container_id(p->uid, c->name);
    _cleanup_free_ char *cid = xasprintf("k8c://%s", id);
    json_t *state;
    char s[21];
    if (c->running) {
        stamp_of(c->started_at, s);
        state = json_pack("{s:{s:s}}", "running", "startedAt", s);
    } else if (c->waiting_reason) {
        state = json_pack("{s:{s:s}}", "waiting", "reason", c->waiting_reason);
        if (c->waiting_msg)
            json_object_set_new(json_object_get(state, "waiting"), "message",
                                json_string(c->waiting_msg));
    } else if (c->exited) {
        state = terminated(c->exit_code, c->started_at, c->finished_at, cid);
    } else {
        state = json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating");
    }
    json_t *last = c->has_last ? terminated(c->last_exit, c->last_started, c->last_finished, cid)
                               : json_object();
    /* while waiting after a crash, the last run is lastState */
    if (!c->running && c->waiting_reason && c->exited) {
        json_decref(last);
        last = terminated(c->exit_code, c->started_at, c->finished_at, cid);
    }
    json_t *st = json_pack("{s:s,s:o,s:o,s:b,s:i,s:s,s:s,s:b}", "name", c->name, "state", state,
                           "lastState", last, "ready", c->running && !c->init, "restartCount",
                           c->restarts, "image", kjson_path_str(spec, "image") ?: "", "imageID",
                           c->image_id ? c->image_id : "", "started", c->running);
    if (c->started_at)
        json_object_set_new(st, "containerID", json_string(cid));
    return st;
}

static int write_status(struct agent *a, struct agent_pod *p, const json_t *pod)
{
    const char *policy = kjson_path_str(pod, "spec.restartPolicy");
    bool never = policy && strcmp(policy, "Never") == 0;
    bool initialized = true, init_failed = false, all_running = true, any_running = false;
    bool all_done = true, all_ok = true, any_started = false;
    size_t n_main = 0;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        if (c->init) {
            if (!(c->exited && c->exit_code == 0))
                initialized = false;
            if (c->exited && c->exit_code != 0 && !wants_restart(policy, c->exit_code))
                init_failed = true;
            continue;
        }
        n_main++;
        any_started |= c->started_at != 0;
        any_running |= c->running;
        all_running &= c->running;
        bool done = c->exited && !wants_restart(policy, c->exit_code);
        all_done &= done;
        all_ok &= done && c->exit_code == 0;
    }
    const char *phase = "Pending";
    if (init_failed)
        phase = "Failed";
    else if (n_main > 0 && all_done)
        phase = all_ok ? "Succeeded" : "Failed";
    else if (any_running || (any_started && initialized))
        phase = "Running";
    (void)never;
    char st[21];
    stamp_of(p->start_time, st);
    bool ready = initialized && all_running && n_main > 0;
    json_t *conds = json_array();
    const char *types[] = {"Initialized", "Ready", "ContainersReady", "PodScheduled"};
    bool vals[] = {initialized, ready, ready, true};
    for (size_t k = 0; k < 4; k++)
        json_array_append_new(conds, json_pack("{s:s,s:s,s:n}", "type", types[k], "status",
                                               vals[k] ? "True" : "False", "lastProbeTime"));
    json_t *inits = json_array(), *mains = json_array();
    for (size_t i = 0; i < p->n_ctrs; i++)
        json_array_append_new(p->ctrs[i].init ? inits : mains, ctr_status(p, &p->ctrs[i], pod));
    _cleanup_json_ json_t *status = json_pack(
        "{s:s,s:o,s:s,s:[{s:s}],s:s,s:o,s:o,s:s}", "phase", phase, "conditions", conds, "hostIP",
        a->node_ip, "hostIPs", "ip", a->node_ip, "startTime", st, "initContainerStatuses", inits,
        "containerStatuses", mains, "qosClass", "BestEffort");
    _cleanup_free_ char *text = kjson_dumps(status);
    if (p->last_status && strcmp(p->last_status, text) == 0)
        return 0;
    /* lastTransitionTime moves only when a condition's status changes */
    char now[21];
    stamp_of(time(NULL), now);
    size_t i, k;
    json_t *cd, *old;
    json_array_foreach (json_object_get(status, "conditions"), i, cd) {
        const char *when = now;
        json_array_foreach (kjson_path(pod, "status.conditions"), k, old) {
            const char *ot = kjson_path_str(old, "type"), *os = kjson_path_str(old, "status");
            const char *olt = kjson_path_str(old, "lastTransitionTime");
            if (ot && os && olt && strcmp(ot, kjson_path_str(cd, "type")) == 0 &&
                strcmp(os, kjson_path_str(cd, "status")) == 0)
                when = olt;
        }
        json_object_set_new(cd, "lastTransitionTime", json_string(when));
    }
    _cleanup_json_ json_t *patch = json_pack("{s:O}", "status", status);
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *res = client_patch(a->client, path, "strategic", patch, &err);
    if (!res) {
        LOG_DEBUG("pod status update failed pod=%s err=%s", p->key, err->msg);
        return err->reason == K8C_REASON_NOT_FOUND ? 0 : -1;
    }
    free(p->last_status);
    p->last_status = steal_ptr(&text);
    return 0;
}

/* ---- teardown ---- */

static void cgroups_remove(const char *uid)
{
    DIR *d = opendir("/sys/fs/cgroup");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *pod = xasprintf("/sys/fs/cgroup/%s/k8c/pod%s", e->d_name, uid);
        DIR *pd = opendir(pod);
        struct dirent *ce;
        while (pd && (ce = readdir(pd))) {
            if (ce->d_name[0] == '.' || ce->d_type != DT_DIR)
                continue;
            _cleanup_free_ char *c = xasprintf("%s/%s", pod, ce->d_name);
            rmdir(c);
        }
        if (pd)
            closedir(pd);
        rmdir(pod);
    }
    if (d)
        closedir(d);
    _cleanup_free_ char *v2 = xasprintf("/sys/fs/cgroup/k8c/pod%s", uid);
    rmdir(v2);
}

static void pod_teardown(struct agent *a, struct agent_pod *p)
{
    for (size_t i = 0; i < p->n_ctrs; i++) {
        _cleanup_free_ char *id = agent__container_id(p->uid, p->ctrs[i].name);
        const char *kill9[] = {id, "KILL", NULL};
        if (p->ctrs[i].running)
            runtime_call(a, "kill", kill9);
        const char *del[] = {"--force", id, NULL};
        if (runtime_has(a, id))
            runtime_call(a, "delete", del);
        _cleanup_free_ char *dir = ctr_dir(p, &p->ctrs[i]);
        agent_rootfs_unmount(dir);
    }
    agent_sandbox_destroy(p->dir);
    cgroups_remove(p->uid);
    agent_rm_rf(p->dir);
}

/* Deletion: SIGTERM, then SIGKILL after the grace period, then teardown and the final delete.
 * Returns 1 while waiting, 0 when done, -1 to retry. */
static int pod_kill(struct agent *a, struct agent_pod *p, const json_t *pod)
{
    uint64_t now = clock_mono_ns();
    if (!p->killing) {
        const json_t *g = kjson_path(pod, "metadata.deletionGracePeriodSeconds");
        json_int_t grace = json_is_integer(g) ? json_integer_value(g) : 30;
        p->killing = true;
        p->kill_deadline_ns = now + (uint64_t)(grace < 0 ? 0 : grace) * 1000000000ull;
        for (size_t i = 0; i < p->n_ctrs; i++) {
            if (!p->ctrs[i].running)
                continue;
            agent__event(a, pod, "Normal", "Killing", "Stopping container %s", p->ctrs[i].name);
            _cleanup_free_ char *id = agent__container_id(p->uid, p->ctrs[i].name);
            const char *term[] = {id, "TERM", NULL};
            runtime_call(a, "kill", term);
        }
    }
    bool alive = false;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        ctr_poll(p, &p->ctrs[i]);
        alive |= p->ctrs[i].running;
    }
    if (alive && now < p->kill_deadline_ns)
        return 1;
    pod_teardown(a, p);
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/pods/%s", p->ns, p->name);
    _cleanup_json_ json_t *opts =
        json_pack("{s:s,s:s,s:i,s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
                  "gracePeriodSeconds", 0, "preconditions", "uid", p->uid);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *res = client_delete(a->client, path, opts, &err);
    if (!res && err->reason != K8C_REASON_NOT_FOUND && err->reason != K8C_REASON_CONFLICT) {
        LOG_WARN("final delete of pod %s failed: %s", p->key, err->msg);
        return -1;
    }
    pod_forget(a, p);
    return 0;
}

void agent__orphans_cleanup(struct agent *a)
{
    _cleanup_free_ char *pods = xasprintf("%s/pods", a->data_dir);
    _cleanup_json_ json_t *uids = json_object();
    _cleanup_json_ json_t *all = informer_list(a->informer);
    size_t i;
    json_t *pod;
    json_array_foreach (all, i, pod) {
        const char *uid = kjson_path_str(pod, "metadata.uid");
        if (uid)
            json_object_set_new(uids, uid, json_true());
    }
    DIR *d = opendir(pods);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || json_object_get(uids, e->d_name))
            continue;
        /* a pod deleted (or moved) while no agent ran: its containers go too */
        struct agent_pod p = {.uid = e->d_name};
        p.dir = xasprintf("%s/%s", pods, e->d_name);
        DIR *cd = opendir(p.dir);
        struct dirent *ce;
        while (cd && (ce = readdir(cd))) {
            if (ce->d_name[0] == '.' || ce->d_type != DT_DIR || strcmp(ce->d_name, "ns") == 0)
                continue;
            p.ctrs = xrealloc(p.ctrs, (p.n_ctrs + 1) * sizeof(*p.ctrs));
            p.ctrs[p.n_ctrs++] = (struct agent_ctr){.name = xstrdup(ce->d_name), .running = true};
        }
        if (cd)
            closedir(cd);
        LOG_INFO("removing orphaned pod uid=%s containers=%zu", p.uid, p.n_ctrs);
        pod_teardown(a, &p);
        for (size_t k = 0; k < p.n_ctrs; k++)
            free(p.ctrs[k].name);
        free(p.ctrs);
        free(p.dir);
    }
    if (d)
        closedir(d);
}

/* A pod first seen by this agent process: adopt the sandbox and containers an earlier one
 * left running (nothing is started twice). */
static void pod_adopt(struct agent_pod *p, const json_t *pod)
{
    time_t t;
    const char *start = kjson_path_str(pod, "status.startTime");
    if (start && clock_parse_rfc3339(start, &t) == 0)
        p->start_time = t;
    _cleanup_free_ char *net = xasprintf("%s/ns/net", p->dir);
    struct statfs sf;
    if (statfs(net, &sf) == 0 && sf.f_type == NSFS_MAGIC)
        p->sandbox = true;
    for (size_t i = 0; i < p->n_ctrs; i++)
        ctr_adopt(p, &p->ctrs[i]);
}

int agent__pod_sync(struct agent *a, const char *key)
{
    _cleanup_json_ json_t *pod = informer_get(a->informer, key);
    struct agent_pod *p = pod_find(a, key);
    if (p && pod && strcmp(p->uid, kjson_path_str(pod, "metadata.uid") ?: "") != 0) {
        /* a new pod under the same name: the old one is gone */
        pod_teardown(a, p);
        pod_forget(a, p);
        p = NULL;
    }
    if (!pod) {
        if (p) {
            pod_teardown(a, p);
            pod_forget(a, p);
        }
        return 0;
    }
    const char *node = kjson_path_str(pod, "spec.nodeName");
    if (!node || strcmp(node, a->node_name) != 0 || !kjson_path_str(pod, "metadata.uid"))
        return 0;
    const json_t *deleting = kjson_path(pod, "metadata.deletionTimestamp");
    bool is_deleting = deleting && !json_is_null(deleting);
    if (!p) {
        const char *phase = kjson_path_str(pod, "status.phase");
        if (is_deleting ||
            (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))) {
            if (!is_deleting)
                return 0; /* finished before we (re)started: nothing to run */
        }
        p = pod_track(a, key, pod);
        pod_adopt(p, pod);
    }
    if (is_deleting) {
        int r = pod_kill(a, p, pod);
        return r < 0 ? -1 : 0;
    }
    _cleanup_err_ struct k8c_err *err = NULL;
    if (!p->sandbox) {
        if (file_mkdir_p(p->dir, 0755, &err) < 0 ||
            agent_sandbox_create(p->dir, p->name, p->name, &err) < 0) {
            agent__event(a, pod, "Warning", "FailedCreatePodSandBox",
                         "Failed to create pod sandbox: %s", err->msg);
            return -1;
        }
        p->sandbox = true;
    }
    const char *policy = kjson_path_str(pod, "spec.restartPolicy");
    /* init containers in order: each must succeed before the next */
    bool inits_done = true;
    for (size_t i = 0; i < p->n_ctrs && inits_done; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        if (!c->init)
            continue;
        ctr_poll(p, c);
        if (c->exited && c->exit_code == 0)
            continue;
        inits_done = false;
        if (c->running)
            break;
        if (!c->started_at)
            ctr_start(a, p, c, pod);
        else
            ctr_maybe_restart(a, p, c, pod,
                              policy && strcmp(policy, "Never") == 0 ? "Never" : "OnFailure");
    }
    if (inits_done) {
        for (size_t i = 0; i < p->n_ctrs; i++) {
            struct agent_ctr *c = &p->ctrs[i];
            if (c->init)
                continue;
            ctr_poll(p, c);
            if (c->running)
                continue;
            if (!c->started_at && !c->exited)
                ctr_start(a, p, c, pod);
            else
                ctr_maybe_restart(a, p, c, pod, policy);
        }
    }
    return write_status(a, p, pod);
}
