/* The prober: one thread per running container instance that has probes (kubelet runs one
 * worker per probe; one thread per container keeps the startup gate simple). Each probe has
 * its own schedule (initialDelaySeconds after the container's start, then every
 * periodSeconds, each run bounded by timeoutSeconds); results pass kubelet's success/failure
 * thresholds; a change of result queues the pod key so a pod worker writes the status or acts
 * on it. Pod workers never wait on a probe. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/probe.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

enum { K_STARTUP, K_LIVENESS, K_READINESS, K_N };
static const char *const kind_field[K_N] = {"startupProbe", "livenessProbe", "readinessProbe"};
static const char *const kind_word[K_N] = {"Startup", "Liveness", "Readiness"};

struct pentry {
    struct agent *a;
    char *uid, *ctr, *key, *cid, *netns, *pod_ip, *exitp;
    time_t started_at; /* which run of the container this is */
    json_t *spec;      /* the container's spec (a copy) */
    json_t *meta;      /* {"metadata": {namespace, name, uid}} for Events */
    const json_t *probe[K_N];
    struct agent_probe_timing timing[K_N];
    /* under the prober's lock */
    bool started, ready, failed[K_N], kill_done, stop;
    struct pentry *next;
};

struct agent_prober {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* wakes sleeping probe threads; signals threads == 0 */
    struct pentry *list;
    int threads;
};

static int field_int(const json_t *o, const char *k, int dflt, int min)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return dflt;
    json_int_t x = json_integer_value(v);
    return x < min ? min : x > 86400 ? 86400 : (int)x;
}

void agent__probe_timing(const json_t *probe, bool liveness_or_startup,
                         struct agent_probe_timing *out)
{
    out->initial_delay = field_int(probe, "initialDelaySeconds", 0, 0);
    out->period = field_int(probe, "periodSeconds", 10, 1);
    out->timeout = field_int(probe, "timeoutSeconds", 1, 1);
    out->success_threshold = field_int(probe, "successThreshold", 1, 1);
    /* liveness and startup must use 1 (the API validates it; be safe anyway) */
    if (liveness_or_startup)
        out->success_threshold = 1;
    out->failure_threshold = field_int(probe, "failureThreshold", 3, 1);
}

int agent__probe_feed(int *last, int *run, bool ok, const struct agent_probe_timing *t)
{
    int r = ok ? 1 : 0;
    if (*last == r) {
        if (*run < 1000000)
            (*run)++;
    } else {
        *last = r;
        *run = 1;
    }
    if (ok)
        return *run == t->success_threshold ? 1 : -1;
    return *run == t->failure_threshold ? 0 : -1;
}

void agent__prober_init(struct agent *a)
{
    struct agent_prober *pr = xcalloc(1, sizeof(*pr));
    pthread_mutex_init(&pr->lock, NULL);
    clock_cond_init_mono(&pr->cond);
    a->prober = pr;
}

void agent__prober_thread_enter(struct agent *a)
{
    pthread_mutex_lock(&a->prober->lock);
    a->prober->threads++;
    pthread_mutex_unlock(&a->prober->lock);
}

void agent__prober_thread_leave(struct agent *a)
{
    pthread_mutex_lock(&a->prober->lock);
    a->prober->threads--;
    pthread_cond_broadcast(&a->prober->cond);
    pthread_mutex_unlock(&a->prober->lock);
}

static void pentry_free(struct pentry *e)
{
    free(e->uid), free(e->ctr), free(e->key), free(e->cid), free(e->netns), free(e->pod_ip);
    free(e->exitp);
    json_decref(e->spec);
    json_decref(e->meta);
    free(e);
}

/* Unlinks e (lock held) and tells its thread to end; the thread frees it. */
static void pentry_stop(struct agent_prober *pr, struct pentry *e)
{
    for (struct pentry **pp = &pr->list; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    e->stop = true;
    pthread_cond_broadcast(&pr->cond);
}

void agent__prober_shutdown(struct agent *a)
{
    struct agent_prober *pr = a->prober;
    if (!pr)
        return;
    pthread_mutex_lock(&pr->lock);
    while (pr->list)
        pentry_stop(pr, pr->list);
    while (pr->threads > 0) {
        struct timespec ts = clock_mono_after(100 * 1000000ull);
        pthread_cond_broadcast(&pr->cond);
        pthread_cond_timedwait(&pr->cond, &pr->lock, &ts);
    }
    pthread_mutex_unlock(&pr->lock);
    pthread_mutex_destroy(&pr->lock);
    pthread_cond_destroy(&pr->cond);
    free(pr);
    a->prober = NULL;
}

/* Runs probe k once and records the Unhealthy event kubelet records for a failure. */
static bool probe_once(struct pentry *e, int k)
{
    struct agent_target t = {e->cid, e->netns, e->pod_ip, e->spec, e->a->stop, -1};
    _cleanup_free_ char *msg = NULL;
    enum agent_action_result r =
        agent__action_run(e->a, &t, e->probe[k], e->timing[k].timeout, &msg);
    if (r == AGENT_ACTION_OK)
        return true;
    if (atomic_load(e->a->stop))
        return false;
    agent__event(e->a, e->meta, "Warning", "Unhealthy", "%s probe %s: %s", kind_word[k],
                 r == AGENT_ACTION_ERROR ? "errored" : "failed", msg ? msg : "");
    return false;
}

static void *probe_main(void *opaque)
{
    struct pentry *e = opaque;
    struct agent_prober *pr = e->a->prober;
    uint64_t due[K_N], now = clock_mono_ns();
    /* the container started at started_at (wall clock): schedule from then */
    time_t age = time(NULL) - e->started_at;
    uint64_t start = now - (uint64_t)(age > 0 ? age : 0) * 1000000000ull;
    int last[K_N] = {-1, -1, -1}, run[K_N] = {0};
    /* probing starts once the runtime runs the container (the shim may have just started) */
    agent__ctr_wait_running(e->a, e->cid, e->exitp, 10);
    bool hold[K_N] = {false};
    for (int k = 0; k < K_N; k++)
        due[k] = start + (uint64_t)e->timing[k].initial_delay * 1000000000ull;
    pthread_mutex_lock(&pr->lock);
    while (!e->stop && !atomic_load(e->a->stop)) {
        int next = -1;
        for (int k = 0; k < K_N; k++) {
            if (!e->probe[k] || hold[k] || (k == K_STARTUP) == e->started)
                continue;
            if (next < 0 || due[k] < due[next])
                next = k;
        }
        now = clock_mono_ns();
        if (next < 0 || due[next] > now) {
            /* sleep until the next probe is due (at most 1 s: the agent's stop flag) */
            uint64_t until =
                next < 0 || due[next] > now + 1000000000ull ? now + 1000000000ull : due[next];
            struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
            pthread_cond_timedwait(&pr->cond, &pr->lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&pr->lock);
        bool ok = probe_once(e, next);
        int flip = agent__probe_feed(&last[next], &run[next], ok, &e->timing[next]);
        pthread_mutex_lock(&pr->lock);
        due[next] = clock_mono_ns() + (uint64_t)e->timing[next].period * 1000000000ull;
        bool changed = false;
        if (flip == 1 && next == K_STARTUP) {
            e->started = changed = true;
            hold[next] = true;
        } else if (flip == 1 && next == K_READINESS && !e->ready) {
            e->ready = changed = true;
        } else if (flip == 0 && next == K_READINESS && e->ready) {
            e->ready = false;
            changed = true;
        } else if (flip == 0 && next != K_READINESS) {
            /* liveness/startup failed: kubelet holds the probe until the container restarts */
            e->failed[next] = changed = true;
            hold[next] = true;
        }
        if (changed && !e->stop && !atomic_load(e->a->stop)) {
            LOG_INFO("probe result changed pod=%s container=%s probe=%s result=%s", e->key, e->ctr,
                     kind_field[next], flip == 1 ? "success" : "failure");
            workqueue_add(e->a->queue, e->key);
        }
    }
    if (!e->stop)
        pentry_stop(pr, e); /* ended by the agent's stop: unlink before freeing */
    pthread_mutex_unlock(&pr->lock);
    struct agent *a = e->a;
    pentry_free(e);
    agent__prober_thread_leave(a);
    return NULL;
}

static struct pentry *pentry_find(struct agent_prober *pr, const char *uid, const char *ctr)
{
    for (struct pentry *e = pr->list; e; e = e->next)
        if (strcmp(e->uid, uid) == 0 && strcmp(e->ctr, ctr) == 0)
            return e;
    return NULL;
}

/* A new entry and its thread for the running container c (lock held). */
static struct pentry *pentry_start(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                                   const json_t *pod, const json_t *spec)
{
    struct pentry *e = xcalloc(1, sizeof(*e));
    e->a = a;
    e->uid = xstrdup(p->uid);
    e->ctr = xstrdup(c->name);
    e->key = xstrdup(p->key);
    e->cid = agent__container_id(p->uid, c->name);
    e->netns = xasprintf("%s/ns/net", p->dir);
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    e->exitp = xasprintf("%s/exit", dir);
    const char *ip = kjson_path_str(pod, "status.podIP");
    e->pod_ip = ip ? xstrdup(ip) : NULL;
    e->started_at = c->started_at;
    e->spec = json_deep_copy(spec);
    e->meta = json_pack("{s:{s:s,s:s,s:s}}", "metadata", "namespace", p->ns, "name", p->name, "uid",
                        p->uid);
    for (int k = 0; k < K_N; k++) {
        e->probe[k] = json_object_get(e->spec, kind_field[k]);
        if (!json_is_object(e->probe[k]))
            e->probe[k] = NULL;
        agent__probe_timing(e->probe[k], k != K_READINESS, &e->timing[k]);
    }
    /* a startup probe that passed for this run before an agent restart is not run again */
    e->started = !e->probe[K_STARTUP] || c->startup_done_at == c->started_at;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1024 * 1024); /* curl+TLS for Events */
    pthread_t th;
    a->prober->threads++;
    if (pthread_create(&th, &attr, probe_main, e) != 0) {
        a->prober->threads--;
        LOG_WARN("cannot start the prober thread of %s/%s", p->key, c->name);
        pentry_free(e);
        e = NULL;
    } else {
        e->next = a->prober->list;
        a->prober->list = e;
    }
    pthread_attr_destroy(&attr);
    return e;
}

static bool has_probes(const json_t *spec)
{
    for (int k = 0; k < K_N; k++)
        if (json_is_object(json_object_get(spec, kind_field[k])))
            return true;
    return false;
}

void agent__probes_sync(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                        const json_t *pod)
{
    struct agent_prober *pr = a->prober;
    const json_t *spec = agent__ctr_spec(pod, c);
    int kill_kind = -1;
    pthread_mutex_lock(&pr->lock);
    struct pentry *e = pentry_find(pr, p->uid, c->name);
    if (e && (!c->running || e->started_at != c->started_at)) {
        pentry_stop(pr, e);
        e = NULL;
    }
    if (!e && c->running && !c->init && has_probes(spec))
        e = pentry_start(a, p, c, pod, spec);
    c->probe_started = c->running && (!e || e->started);
    c->probe_ready = c->running && (!e || (e->probe[K_READINESS] ? e->ready : e->started));
    bool startup_done = e && e->probe[K_STARTUP] && e->started;
    if (e && !e->kill_done && (e->failed[K_LIVENESS] || e->failed[K_STARTUP])) {
        e->kill_done = true;
        kill_kind = e->failed[K_LIVENESS] ? K_LIVENESS : K_STARTUP;
    }
    pthread_mutex_unlock(&pr->lock);
    if (startup_done && c->startup_done_at != c->started_at) {
        c->startup_done_at = c->started_at; /* kept for an agent restart */
        agent__ctr_save(p, c);
    }
    if (kill_kind < 0)
        return;
    agent__event(a, pod, "Normal", "Killing", "Container %s failed %s probe, will be restarted",
                 c->name, kind_field[kill_kind][0] == 'l' ? "liveness" : "startup");
    /* the probe's own grace period wins over the pod's */
    const json_t *g =
        kjson_path(json_object_get(spec, kind_field[kill_kind]), "terminationGracePeriodSeconds");
    if (!json_is_integer(g))
        g = kjson_path(pod, "spec.terminationGracePeriodSeconds");
    agent__ctr_stop(a, p, c, pod, json_is_integer(g) ? (long)json_integer_value(g) : 30);
}

void agent__probes_forget(struct agent *a, const char *uid)
{
    struct agent_prober *pr = a->prober;
    if (!pr)
        return;
    pthread_mutex_lock(&pr->lock);
    for (struct pentry *e = pr->list, *next; e; e = next) {
        next = e->next;
        if (strcmp(e->uid, uid) == 0)
            pentry_stop(pr, e);
    }
    pthread_mutex_unlock(&pr->lock);
}
