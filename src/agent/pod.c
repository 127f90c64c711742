/* The pod lifecycle: per pod a sandbox, init containers in order then the containers (each
 * one's life is container.c's, the status status.c's); adoption of what an earlier agent
 * left; deletion with SIGTERM, grace period, SIGKILL and cleanup of mounts, cgroups and
 * namespaces, then the final delete (gracePeriodSeconds=0). */
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
#include "agent/network.h"
#include "agent/probe.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/proc.h"

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
    agent__probes_forget(a, p->uid);
    agent__pod_free(p);
}

void agent__pod_free(struct agent_pod *p)
{
    for (size_t i = 0; i < p->n_ctrs; i++) {
        free(p->ctrs[i].term_msg);
        free(p->ctrs[i].last_term_msg);
        free(p->ctrs[i].name);
        free(p->ctrs[i].image_id);
        free(p->ctrs[i].waiting_reason);
        free(p->ctrs[i].waiting_msg);
        if (p->ctrs[i].notify_fd > 0) /* dropped while creating (notify.c forgets it) */
            close(p->ctrs[i].notify_fd);
    }
    free(p->ctrs);
    free(p->uid);
    free(p->key);
    free(p->ns);
    free(p->name);
    free(p->dir);
    free(p->last_status);
    free(p->ip);
    free(p->volumes_err);
    free(p->volumes_rv);
    free(p->evict_msg);
    free(p);
}

static void cgroups_remove(const char *uid)
{
    agent_pod_cgroups_remove("/sys/fs/cgroup", uid);
}

static void pod_teardown(struct agent *a, struct agent_pod *p)
{
    for (size_t i = 0; i < p->n_ctrs; i++) {
        _cleanup_free_ char *id = agent__container_id(p->uid, p->ctrs[i].name);
        const char *kill9[] = {id, "KILL", NULL};
        if (p->ctrs[i].running)
            agent__runtime_call(a, "kill", kill9);
        const char *del[] = {"--force", id, NULL};
        if (agent__runtime_has(a, id))
            agent__runtime_call(a, "delete", del);
        _cleanup_free_ char *dir = agent__ctr_dir(p, &p->ctrs[i]);
        agent_rootfs_unmount(dir);
    }
    agent_sandbox_destroy(p->dir);
    agent__net_pod_detach(a, p->uid);
    agent_volumes_teardown(p->dir);
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
            agent__ctr_stop(a, p, &p->ctrs[i], pod, (long)grace); /* preStop, TERM, KILL */
        }
    }
    bool alive = false;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        agent__ctr_poll(p, &p->ctrs[i]);
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
            if (ce->d_name[0] == '.' || ce->d_type != DT_DIR || strcmp(ce->d_name, "ns") == 0 ||
                strcmp(ce->d_name, "volumes") == 0)
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
        agent__ctr_adopt(p, &p->ctrs[i]);
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
        /* a pod this agent never started (no startTime reported) must fit first; one it
         * ran before a restart was admitted then */
        int64_t want[AGENT_RES_COUNT];
        agent__admit_begin();
        if (!is_deleting && !kjson_path_str(pod, "status.startTime") &&
            !agent__pod_admit(a, pod, want)) {
            agent__admit_end();
            return 0;
        }
        if (is_deleting || kjson_path_str(pod, "status.startTime"))
            agent_pod_requests(pod, want);
        p = pod_track(a, key, pod);
        memcpy(p->requests, want, sizeof(want));
        agent__admit_end();
        pod_adopt(p, pod);
    }
    if (is_deleting) {
        int r = pod_kill(a, p, pod);
        return r < 0 ? -1 : 0;
    }
    if (agent__pod_evicting(a, p, pod))
        return agent__pod_write_status(a, p, pod);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (a->fake)
        p->sandbox = true; /* fake.c: no namespaces to hold */
    if (!p->sandbox) {
        if (file_mkdir_p(p->dir, 0755, &err) < 0 ||
            agent_sandbox_create(p->dir, p->name, p->name,
                                 json_is_true(kjson_path(pod, "spec.hostNetwork")), &err) < 0 ||
            agent__dns_resolv_conf(a, pod, p->dir, &err) < 0) {
            agent__event(a, pod, "Warning", "FailedCreatePodSandBox",
                         "Failed to create pod sandbox: %s", err->msg);
            return -1;
        }
        p->sandbox = true;
    }
    /* fake.c: no namespace to attach (the pod reports no podIP, like a hollow node) */
    if (!a->fake && !p->ip && agent__net_pod_attach(a, p, pod, &err) < 0) {
        agent__event(a, pod, "Warning", "FailedCreatePodSandBox",
                     "Failed to create pod sandbox: %s", err->msg);
        return -1;
    }
    if (agent__pod_volumes(a, p, pod) < 0) /* containers wait in ContainerCreating */
        return agent__pod_write_status(a, p, pod);
    const char *policy = kjson_path_str(pod, "spec.restartPolicy");
    /* init containers in order: each must succeed before the next */
    bool inits_done = true;
    for (size_t i = 0; i < p->n_ctrs && inits_done; i++) {
        struct agent_ctr *c = &p->ctrs[i];
        if (!c->init)
            continue;
        agent__ctr_poll(p, c);
        if (c->exited && c->exit_code == 0)
            continue;
        inits_done = false;
        if (c->running)
            break;
        if (!c->started_at || c->relaunch)
            agent__ctr_start(a, p, c, pod);
        else
            agent__ctr_maybe_restart(
                a, p, c, pod, policy && strcmp(policy, "Never") == 0 ? "Never" : "OnFailure");
    }
    if (inits_done) {
        for (size_t i = 0; i < p->n_ctrs; i++) {
            struct agent_ctr *c = &p->ctrs[i];
            if (c->init)
                continue;
            agent__ctr_poll(p, c);
            agent__probes_sync(a, p, c, pod);
            if (c->running)
                continue;
            if ((!c->started_at && !c->exited) || c->relaunch)
                agent__ctr_start(a, p, c, pod);
            else
                agent__ctr_maybe_restart(a, p, c, pod, policy);
        }
    }
    bool creating = false;
    for (size_t i = 0; i < p->n_ctrs; i++)
        creating |= agent__ctr_created(a, p, &p->ctrs[i]);
    if (creating) /* back soon to report it running (container.c) */
        workqueue_add_after(a->queue, key, 10);
    return agent__pod_write_status(a, p, pod);
}
