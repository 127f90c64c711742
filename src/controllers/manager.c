/* The controller manager: shared informers fanned out to the controllers that listen, a work
 * queue with N workers per controller, periodic ticks, and leader election around it all. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

#define DEFAULT_WORKERS 5
#define SYNC_WAIT_MS 60000

/* --- shared informers: one per resource, every listener called for each event --- */

static void fan_add(json_t *obj, void *opaque)
{
    struct ctl_shared *s = opaque;
    for (size_t i = 0; i < s->n_listeners; i++)
        if (s->listeners[i].on_add)
            s->listeners[i].on_add(s->ctl, obj, s->listeners[i].opaque);
}

static void fan_update(json_t *old_obj, json_t *new_obj, void *opaque)
{
    struct ctl_shared *s = opaque;
    for (size_t i = 0; i < s->n_listeners; i++)
        if (s->listeners[i].on_update)
            s->listeners[i].on_update(s->ctl, old_obj, new_obj, s->listeners[i].opaque);
}

static void fan_delete(json_t *obj, void *opaque)
{
    struct ctl_shared *s = opaque;
    for (size_t i = 0; i < s->n_listeners; i++)
        if (s->listeners[i].on_delete)
            s->listeners[i].on_delete(s->ctl, obj, s->listeners[i].opaque);
}

void ctl__listen(struct ctl *ctl, enum ctl_res res, const struct ctl_listener *l)
{
    struct ctl_shared *s = &ctl->shared[res];
    K8C_ASSERT(s->n_listeners < CTL_MAX_LISTENERS);
    s->listeners[s->n_listeners++] = *l;
}

struct ctl_controller *ctl__controller_new(struct ctl *ctl, const char *name, ctl_sync_fn sync,
                                           void *state, void (*state_free)(void *))
{
    K8C_ASSERT(ctl->n_controllers < CTL_MAX_CONTROLLERS);
    struct ctl_controller *cc = xcalloc(1, sizeof(*cc));
    cc->name = name;
    cc->ctl = ctl;
    cc->queue = workqueue_new(0, 0);
    cc->sync = sync;
    cc->state = state;
    cc->state_free = state_free;
    ctl->controllers[ctl->n_controllers++] = cc;
    return cc;
}

json_t *ctl__get(struct ctl *ctl, enum ctl_res res, const char *key)
{
    struct informer *inf = ctl->shared[res].inf;
    return inf ? informer_get(inf, key) : NULL;
}

json_t *ctl__list(struct ctl *ctl, enum ctl_res res, const char *ns)
{
    struct informer *inf = ctl->shared[res].inf;
    if (inf == NULL)
        return json_array();
    json_t *all = informer_list(inf);
    if (ns == NULL)
        return all;
    json_t *out = json_array();
    size_t i;
    json_t *obj;
    json_array_foreach (all, i, obj) {
        const char *ons = kjson_path_str(obj, "metadata.namespace");
        if (ons && strcmp(ons, ns) == 0)
            json_array_append(out, obj);
    }
    json_decref(all);
    return out;
}

void ctl__enqueue_obj(struct ctl_controller *cc, const json_t *obj)
{
    _cleanup_free_ char *key = informer_key_of(obj);
    if (key)
        workqueue_add(cc->queue, key);
}

void ctl__on_enqueue(struct ctl *ctl, json_t *obj, void *opaque)
{
    ctl__enqueue_obj(opaque, obj);
}

void ctl__on_enqueue_update(struct ctl *ctl, json_t *old_obj, json_t *obj, void *opaque)
{
    ctl__enqueue_obj(opaque, obj);
}

/* --- controller threads --- */

static void *worker_main(void *opaque)
{
    struct ctl_controller *cc = opaque;
    for (;;) {
        _cleanup_free_ char *key = workqueue_get(cc->queue);
        if (key == NULL)
            return NULL;
        _cleanup_err_ struct k8c_err *err = NULL;
        uint64_t t0 = clock_mono_ns();
        int rc = cc->sync(cc, key, &err);
        LOG_TRACE("controller synced controller=%s key=%s ms=%.1f rc=%d", cc->name, key,
                  (double)(clock_mono_ns() - t0) / 1e6, rc);
        if (rc < 0) {
            LOG_DEBUG("controller sync failed controller=%s key=%s err=%s", cc->name, key,
                      err ? err->msg : "?");
            if (!atomic_load(&cc->ctl->stopping))
                workqueue_add_rate_limited(cc->queue, key);
        } else {
            workqueue_forget(cc->queue, key);
        }
        workqueue_done(cc->queue, key);
    }
}

/* Waits up to ms or until the manager stops; returns false when stopping. */
static bool tick_wait(struct ctl *ctl, unsigned ms)
{
    uint64_t at = clock_mono_ns() + (uint64_t)ms * 1000000u;
    struct timespec ts = clock_mono_timespec(at);
    pthread_mutex_lock(&ctl->tick_lock);
    while (!atomic_load(&ctl->stopping) && clock_mono_ns() < at)
        if (pthread_cond_timedwait(&ctl->tick_cond, &ctl->tick_lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&ctl->tick_lock);
    return !atomic_load(&ctl->stopping);
}

static void *tick_main(void *opaque)
{
    struct ctl_controller *cc = opaque;
    while (tick_wait(cc->ctl, cc->tick_ms))
        cc->tick(cc);
    return NULL;
}

/* --- one term as leader: informers, controllers, then teardown --- */

struct ctl_term {
    struct client *client;
    const struct controllers_options *opts;
};

static struct ctl *ctl_new(struct client *c, const struct controllers_options *opts)
{
    struct ctl *ctl = xcalloc(1, sizeof(*ctl));
    ctl->client = c;
    ctl->opts = *opts;
    atomic_init(&ctl->stopping, false);
    pthread_mutex_init(&ctl->tick_lock, NULL);
    clock_cond_init_mono(&ctl->tick_cond);
    for (int r = 0; r < CTL_RES_COUNT; r++) {
        ctl->shared[r].ctl = ctl;
        ctl->shared[r].res = (enum ctl_res)r;
    }
    ctl__replicaset_setup(ctl);
    ctl__deployment_setup(ctl);
    ctl__endpoints_setup(ctl);
    ctl__endpointslice_setup(ctl);
    ctl__gc_setup(ctl);
    ctl__namespace_setup(ctl);
    ctl__serviceaccount_setup(ctl);
    ctl__podgc_setup(ctl);
    ctl__nodelifecycle_setup(ctl);
    if (!opts->no_allocate_node_cidrs)
        ctl__nodeipam_setup(ctl);
    return ctl;
}

static int ctl_start(struct ctl *ctl, struct k8c_err **err)
{
    for (int r = 0; r < CTL_RES_COUNT; r++) {
        struct ctl_shared *s = &ctl->shared[r];
        if (s->n_listeners == 0)
            continue;
        const struct ctl_resource *res = &ctl__resources[r];
        if (!ctl__served((enum ctl_res)r)) {
            LOG_DEBUG("controllers: the API does not serve %s: not watched", res->resource);
            continue;
        }
        _cleanup_free_ char *path = ctl__path((enum ctl_res)r, res->only_namespace, NULL, NULL);
        struct informer_options o = {
            .path = path,
            .handlers = {fan_add, fan_update, fan_delete, s},
        };
        s->inf = informer_new(ctl->client, &o);
    }
    for (int r = 0; r < CTL_RES_COUNT; r++)
        if (ctl->shared[r].inf && informer_start(ctl->shared[r].inf, err) < 0)
            return -1;
    for (int r = 0; r < CTL_RES_COUNT; r++) {
        if (ctl->shared[r].inf == NULL)
            continue;
        while (!informer_wait_synced(ctl->shared[r].inf, 1000)) {
            if (atomic_load(&ctl->stopping))
                return 0;
            LOG_DEBUG("controllers waiting for informer resource=%s", ctl__resources[r].resource);
        }
    }
    unsigned workers = ctl->opts.workers ? ctl->opts.workers : DEFAULT_WORKERS;
    for (size_t i = 0; i < ctl->n_controllers; i++) {
        struct ctl_controller *cc = ctl->controllers[i];
        if (cc->sync) {
            cc->threads = xcalloc(workers, sizeof(pthread_t));
            for (unsigned w = 0; w < workers; w++) {
                if (pthread_create(&cc->threads[w], NULL, worker_main, cc) != 0)
                    return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "start %s worker", cc->name);
                cc->n_threads++;
            }
        }
        if (cc->tick) {
            if (pthread_create(&cc->tick_thread, NULL, tick_main, cc) != 0)
                return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "start %s ticker", cc->name);
            cc->tick_started = true;
        }
    }
    LOG_INFO("controllers started workers=%u", workers);
    return 0;
}

static void ctl_stop_and_free(struct ctl *ctl)
{
    pthread_mutex_lock(&ctl->tick_lock);
    atomic_store(&ctl->stopping, true);
    pthread_cond_broadcast(&ctl->tick_cond);
    pthread_mutex_unlock(&ctl->tick_lock);
    /* Every informer's watch is told to end now, so they end together (each notices within
     * about a second) while the workers finish; the caches stay readable until freed. */
    for (int r = 0; r < CTL_RES_COUNT; r++)
        informer_stop(ctl->shared[r].inf);
    for (size_t i = 0; i < ctl->n_controllers; i++)
        workqueue_shutdown(ctl->controllers[i]->queue);
    for (size_t i = 0; i < ctl->n_controllers; i++) {
        struct ctl_controller *cc = ctl->controllers[i];
        for (unsigned w = 0; w < cc->n_threads; w++)
            pthread_join(cc->threads[w], NULL);
        if (cc->tick_started)
            pthread_join(cc->tick_thread, NULL);
    }
    /* Informers stop after the workers: a worker may still read their caches. */
    for (int r = 0; r < CTL_RES_COUNT; r++)
        informer_free(ctl->shared[r].inf);
    for (size_t i = 0; i < ctl->n_controllers; i++) {
        struct ctl_controller *cc = ctl->controllers[i];
        workqueue_free(cc->queue);
        if (cc->state_free)
            cc->state_free(cc->state);
        free(cc->threads);
        free(cc);
    }
    pthread_cond_destroy(&ctl->tick_cond);
    pthread_mutex_destroy(&ctl->tick_lock);
    free(ctl);
}

static void sleep_ms_unless(const atomic_bool *stop, unsigned ms)
{
    uint64_t end = clock_mono_ns() + (uint64_t)ms * 1000000u;
    while (!atomic_load(stop) && clock_mono_ns() < end) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* One term as leader: the controllers run until the term ends. */
static void lead_term(const atomic_bool *term_stop, void *opaque)
{
    struct ctl_term *t = opaque;
    struct ctl *ctl = ctl_new(t->client, t->opts);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (ctl_start(ctl, &err) < 0)
        LOG_ERROR("controllers failed to start: %s", err->msg);
    while (!atomic_load(term_stop))
        sleep_ms_unless(term_stop, 1000);
    ctl_stop_and_free(ctl);
}

int controllers_run(struct client *c, const struct controllers_options *opts,
                    const atomic_bool *stop, struct k8c_err **err)
{
    if (opts->no_leader_elect) {
        struct ctl *ctl = ctl_new(c, opts);
        int rc = ctl_start(ctl, err);
        while (rc == 0 && !atomic_load(stop))
            sleep_ms_unless(stop, 1000);
        ctl_stop_and_free(ctl);
        return rc;
    }
    struct client_leader_options lo = {
        .lease_namespace = "kube-system",
        .lease_name = "k8c-controller-manager",
        .identity = opts->identity,
        .lease_duration_seconds = opts->lease_duration_seconds,
        .renew_deadline_seconds = opts->renew_deadline_seconds,
        .retry_period_ms = opts->retry_period_ms,
    };
    struct ctl_term t = {.client = c, .opts = opts};
    return client_leader_run(c, &lo, stop, lead_term, &t, err);
}
