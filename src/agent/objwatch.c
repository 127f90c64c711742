/* ConfigMaps and Secrets for pod volumes, watched instead of polled (kubelet's default "Watch"
 * change-detection strategy): one informer per referenced object, limited to it by
 * `fieldSelector=metadata.name=<name>` in its namespace, started at the first lookup. A change
 * (or creation, or deletion) bumps a generation counter and queues every pod that looked the
 * object up, so agent__pod_volumes rewrites its files at once from the cache, with no request
 * to the API. An object no pod has looked up for WATCH_IDLE_S is dropped with its informer
 * (pods re-read their volumes at least every minute, so a live reference never idles out). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/informer.h"

#define WATCH_IDLE_S 180
#define SYNC_WAIT_MS 2000 /* the first list of a new watch; a plain GET after that */
#define MAX_PODS 64       /* pod keys queued at a change, per object */

struct owatch {
    char *ns, *name;
    bool secret;
    struct informer *inf;
    uint64_t used_ns; /* monotonic: the last lookup */
    char *pods[MAX_PODS];
    size_t n_pods;
    struct agent_objwatch *w;
    struct owatch *next;
};

struct agent_objwatch {
    struct agent *a;
    pthread_mutex_t lock;
    struct owatch *list;
    atomic_uint_fast64_t gen;
};

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_change(struct owatch *o)
{
    struct agent_objwatch *w = o->w;
    atomic_fetch_add(&w->gen, 1);
    /* the pods that read it resync now; others (past MAX_PODS) at the agent's 1 s resync,
     * which sees the new generation */
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < o->n_pods; i++)
        workqueue_add(w->a->queue, o->pods[i]);
    pthread_mutex_unlock(&w->lock);
}

static void on_add(json_t *obj, void *opaque)
{
    (void)obj;
    on_change(opaque);
}

static void on_update(json_t *old_obj, json_t *new_obj, void *opaque)
{
    (void)old_obj, (void)new_obj;
    on_change(opaque);
}

static void owatch_free(struct owatch *o)
{
    if (o->inf)
        informer_free(o->inf); /* joins its thread: never with w->lock held */
    for (size_t i = 0; i < o->n_pods; i++)
        free(o->pods[i]);
    free(o->ns), free(o->name);
    free(o);
}

static struct agent_objwatch *objwatch_of(struct agent *a)
{
    pthread_mutex_lock(&create_lock);
    if (!a->objwatch) {
        struct agent_objwatch *w = xcalloc(1, sizeof(*w));
        w->a = a;
        pthread_mutex_init(&w->lock, NULL);
        a->objwatch = w;
    }
    pthread_mutex_unlock(&create_lock);
    return a->objwatch;
}

/* Unlinks the entries (lock held) no lookup has used for WATCH_IDLE_S, but `keep`; returns
 * them for owatch_free once the lock is released. */
static struct owatch *unlink_idle(struct agent_objwatch *w, uint64_t now, const struct owatch *keep)
{
    struct owatch *idle = NULL;
    for (struct owatch **pp = &w->list; *pp;) {
        struct owatch *x = *pp;
        if (x != keep && now - x->used_ns > WATCH_IDLE_S * 1000000000ull) {
            *pp = x->next;
            x->next = idle;
            idle = x;
            continue;
        }
        pp = &x->next;
    }
    return idle;
}

static void free_idle(struct owatch *idle)
{
    while (idle) {
        struct owatch *next = idle->next;
        LOG_DEBUG("volume source %s/%s no longer used: watch stopped", idle->ns, idle->name);
        owatch_free(idle);
        idle = next;
    }
}

uint64_t agent__objwatch_gen(struct agent *a)
{
    struct agent_objwatch *w = a->objwatch;
    if (!w)
        return 0;
    /* also where unused watches end: every pod's sync asks */
    pthread_mutex_lock(&w->lock);
    struct owatch *idle = unlink_idle(w, clock_mono_ns(), NULL);
    pthread_mutex_unlock(&w->lock);
    free_idle(idle);
    return atomic_load(&w->gen);
}

json_t *agent__objwatch_get(struct agent *a, const char *pod_key, const char *ns, const char *name,
                            bool secret, struct k8c_err **err)
{
    struct agent_objwatch *w = objwatch_of(a);
    uint64_t now = clock_mono_ns();
    struct owatch *o = NULL;
    pthread_mutex_lock(&w->lock);
    for (struct owatch *x = w->list; x && !o; x = x->next)
        if (x->secret == secret && strcmp(x->ns, ns) == 0 && strcmp(x->name, name) == 0)
            o = x;
    struct owatch *idle = unlink_idle(w, now, o);
    bool fresh = !o;
    if (fresh) {
        o = xcalloc(1, sizeof(*o));
        o->ns = xstrdup(ns);
        o->name = xstrdup(name);
        o->secret = secret;
        o->w = w;
        _cleanup_free_ char *path =
            xasprintf("/api/v1/namespaces/%s/%s", ns, secret ? "secrets" : "configmaps");
        _cleanup_free_ char *fs = xasprintf("metadata.name=%s", name);
        struct informer_options opts = {
            .path = path, .field_selector = fs, .handlers = {on_add, on_update, on_add, o}};
        o->inf = informer_new(a->client, &opts);
        o->next = w->list;
        w->list = o;
    }
    o->used_ns = now;
    bool known = false;
    for (size_t i = 0; i < o->n_pods && !known; i++)
        known = strcmp(o->pods[i], pod_key) == 0;
    if (!known && o->n_pods < MAX_PODS)
        o->pods[o->n_pods++] = xstrdup(pod_key);
    struct informer *inf = o->inf;
    pthread_mutex_unlock(&w->lock);
    free_idle(idle);
    _cleanup_err_ struct k8c_err *e = NULL;
    if (fresh && informer_start(inf, &e) < 0)
        LOG_WARN("watch of %s %s/%s: %s", secret ? "secret" : "configmap", ns, name, e->msg);
    /* the informer's thread lives as long as the entry; until its first list is in, ask */
    if (!informer_wait_synced(inf, fresh ? SYNC_WAIT_MS : 0))
        return agent_source_get(a->client, ns, name, secret, err);
    _cleanup_free_ char *key = xasprintf("%s/%s", ns, name);
    _cleanup_json_ json_t *obj = informer_get(inf, key);
    if (!obj)
        return k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "%s \"%s\" not found",
                           secret ? "secret" : "configmap", name),
               NULL;
    return agent_source_data(obj, secret);
}

void agent__objwatch_free(struct agent *a)
{
    struct agent_objwatch *w = a->objwatch;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    struct owatch *list = w->list;
    w->list = NULL;
    pthread_mutex_unlock(&w->lock);
    while (list) {
        struct owatch *next = list->next;
        owatch_free(list);
        list = next;
    }
    pthread_mutex_destroy(&w->lock);
    free(w);
    a->objwatch = NULL;
}
