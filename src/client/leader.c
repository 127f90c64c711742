/* Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection: a
 * holder renews every retry period; another candidate takes the Lease only after it has seen
 * the same record unchanged for the lease duration on its own monotonic clock (so clock skew
 * between machines does not matter). The controller manager (kube-system/
 * k8c-controller-manager) and the scheduler (kube-system/k8c-scheduler) both run behind it, so
 * several servers on one store act through one of them at a time.
 *
 * client-go's candidates look at the Lease every retry period, so they see a renewal up to a
 * retry period late and take over up to that much after the lease really ran out. Here a
 * candidate also watches the Lease (one watch per candidate, on its name): the time a
 * record was seen to change is the time its event arrived, and the candidate wakes at the
 * exact instant that record expires (or at once when it is released or deleted). The look
 * every retry period stays, for when the watch is down. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/client.h"

struct client_leader {
    struct client *client;
    char *ns, *name;
    char *path;       /* the Leases collection of ns */
    char *lease_path; /* path/name */
    char *identity;
    unsigned duration_s;
    bool held;

    /* What this candidate has seen of the record, from its own reads and from the watch. */
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* broadcast when the record is seen to change */
    char *observed_rv;    /* the record last seen */
    uint64_t observed_at; /* when it last changed, monotonic ns */
    uint64_t expires_at;  /* when that record expires (now: released or deleted), monotonic ns */

    /* The watch on the Lease (client_leader_watch). */
    pthread_t watcher;
    bool watching;
    atomic_bool watch_stop;
};

struct client_leader *client_leader_new(struct client *c, const char *ns, const char *name,
                                        const char *identity, unsigned lease_duration_s)
{
    struct client_leader *l = xcalloc(1, sizeof(*l));
    l->client = c;
    l->ns = xstrdup(ns);
    l->name = xstrdup(name);
    l->path = xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", ns);
    l->lease_path = xasprintf("%s/%s", l->path, name);
    if (identity) {
        l->identity = xstrdup(identity);
    } else {
        char host[256] = "k8c";
        gethostname(host, sizeof(host) - 1);
        unsigned char r[8] = {0};
        if (getrandom(r, sizeof(r), 0) < 0)
            memset(r, 0, sizeof(r));
        l->identity = xasprintf("%s_%02x%02x%02x%02x%02x%02x%02x%02x", host, r[0], r[1], r[2], r[3],
                                r[4], r[5], r[6], r[7]);
    }
    l->duration_s = lease_duration_s ? lease_duration_s : 15;
    pthread_mutex_init(&l->lock, NULL);
    clock_cond_init_mono(&l->cond);
    atomic_init(&l->watch_stop, false);
    return l;
}

const char *client_leader_identity(const struct client_leader *l)
{
    return l->identity;
}

void client_leader_free(struct client_leader *l)
{
    if (l == NULL)
        return;
    client_leader_unwatch(l);
    free(l->ns);
    free(l->name);
    free(l->path);
    free(l->lease_path);
    free(l->identity);
    free(l->observed_rv);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* Records a sighting of the Lease (NULL: it does not exist) at monotonic time now: a record
 * with another resourceVersion than the last one seen starts its lease duration now. Returns
 * when that record expires. */
static uint64_t observe(struct client_leader *l, const json_t *lease, uint64_t now)
{
    const char *rv = kjson_path_str(lease, "metadata.resourceVersion");
    const char *holder = kjson_path_str(lease, "spec.holderIdentity");
    json_int_t dur = json_integer_value(kjson_path(lease, "spec.leaseDurationSeconds"));
    if (dur <= 0)
        dur = l->duration_s;
    pthread_mutex_lock(&l->lock);
    if (lease == NULL || rv == NULL || l->observed_rv == NULL || strcmp(l->observed_rv, rv) != 0) {
        free(l->observed_rv);
        l->observed_rv = lease && rv ? xstrdup(rv) : NULL;
        l->observed_at = now;
        /* Nobody holds a missing or released Lease: it may be taken at once. */
        l->expires_at = lease == NULL || holder == NULL || *holder == '\0'
                            ? now
                            : now + (uint64_t)dur * 1000000000u;
        pthread_cond_broadcast(&l->cond);
    }
    uint64_t expires = l->expires_at;
    pthread_mutex_unlock(&l->lock);
    return expires;
}

static int on_lease_event(const char *type, json_t *obj, void *opaque)
{
    struct client_leader *l = opaque;
    uint64_t now = clock_mono_ns();
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
        observe(l, obj, now);
    else if (strcmp(type, "DELETED") == 0)
        observe(l, NULL, now);
    return 0;
}

static void *watcher_main(void *opaque)
{
    struct client_leader *l = opaque;
    /* No resourceVersion: each (re-)watch starts with the Lease as it is now (an ADDED
     * event), so a change missed while the watch was down is seen when it comes back. */
    _cleanup_free_ char *path =
        xasprintf("%s?watch=true&fieldSelector=metadata.name%%3D%s", l->path, l->name);
    while (!atomic_load(&l->watch_stop)) {
        _cleanup_err_ struct k8c_err *err = NULL;
        if (client_watch(l->client, path, on_lease_event, l, &l->watch_stop, &err) < 0) {
            LOG_DEBUG("leader election: watch of lease %s/%s: %s", l->ns, l->name, err->msg);
            /* A pause before watching again, cut short by client_leader_unwatch. */
            uint64_t end = clock_mono_ns() + 500000000u;
            while (!atomic_load(&l->watch_stop) && clock_mono_ns() < end) {
                struct timespec ts = {0, 50 * 1000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    return NULL;
}

int client_leader_watch(struct client_leader *l, struct k8c_err **err)
{
    if (l->watching)
        return 0;
    atomic_store(&l->watch_stop, false);
    int rc = pthread_create(&l->watcher, NULL, watcher_main, l);
    if (rc != 0)
        return k8c_err_set(err, rc, K8C_REASON_INTERNAL, "leader election: start the lease watch");
    l->watching = true;
    return 0;
}

void client_leader_unwatch(struct client_leader *l)
{
    if (!l->watching)
        return;
    atomic_store(&l->watch_stop, true);
    pthread_join(l->watcher, NULL);
    l->watching = false;
}

bool client_leader_wait(struct client_leader *l, const atomic_bool *stop, unsigned max_ms)
{
    uint64_t until = clock_mono_ns() + (uint64_t)max_ms * 1000000u;
    bool expired = false;
    pthread_mutex_lock(&l->lock);
    while (stop == NULL || !atomic_load(stop)) {
        uint64_t now = clock_mono_ns();
        if (l->expires_at != 0 && l->expires_at <= now) {
            expired = true;
            break;
        }
        uint64_t wake = l->expires_at != 0 && l->expires_at < until ? l->expires_at : until;
        if (now >= wake)
            break;
        /* Slices of at most 100 ms: *stop is a plain flag nobody signals. */
        if (wake > now + 100000000u)
            wake = now + 100000000u;
        struct timespec ts = clock_mono_timespec(wake);
        pthread_cond_timedwait(&l->cond, &l->lock, &ts);
    }
    pthread_mutex_unlock(&l->lock);
    return expired;
}

static void now_micro(char out[28])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    clock_rfc3339_micro(&ts, out);
}

static json_t *lease_spec(struct client_leader *l, const json_t *old_spec)
{
    char now[28];
    now_micro(now);
    const char *holder = kjson_path_str(old_spec, "holderIdentity");
    bool same = holder && strcmp(holder, l->identity) == 0;
    json_int_t transitions = json_integer_value(json_object_get(old_spec, "leaseTransitions"));
    const char *acquired = kjson_path_str(old_spec, "acquireTime");
    return json_pack("{s:s,s:i,s:s,s:s,s:I}", "holderIdentity", l->identity, "leaseDurationSeconds",
                     (int)l->duration_s, "acquireTime", same && acquired ? acquired : now,
                     "renewTime", now, "leaseTransitions",
                     (json_int_t)(same || old_spec == NULL ? transitions : transitions + 1));
}

static bool try_create(struct client_leader *l)
{
    _cleanup_json_ json_t *spec = lease_spec(l, NULL);
    _cleanup_json_ json_t *lease =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:O}", "apiVersion", "coordination.k8s.io/v1", "kind",
                  "Lease", "metadata", "name", l->name, "namespace", l->ns, "spec", spec);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_create(l->client, l->path, lease, &err);
    if (out == NULL && err->reason == K8C_REASON_NOT_FOUND) {
        /* No kube-system yet (a bare API server): make it, then the Lease. */
        _cleanup_json_ json_t *ns = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind",
                                              "Namespace", "metadata", "name", l->ns);
        _cleanup_json_ json_t *made = client_create(l->client, "/api/v1/namespaces", ns, NULL);
        k8c_err_freep(&err);
        out = client_create(l->client, l->path, lease, &err);
    }
    if (out == NULL) {
        LOG_DEBUG("leader election: create lease failed: %s", err->msg);
        return false;
    }
    return true;
}

bool client_leader_try(struct client_leader *l)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *lease = client_get(l->client, l->lease_path, &err);
    if (lease == NULL) {
        if (err->reason == K8C_REASON_NOT_FOUND) {
            l->held = try_create(l);
            return l->held;
        }
        LOG_DEBUG("leader election: get lease failed: %s", err->msg);
        l->held = false;
        return false;
    }
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = kjson_path_str(lease, "spec.holderIdentity");
    bool mine = holder && strcmp(holder, l->identity) == 0;
    uint64_t now = clock_mono_ns();
    uint64_t expires_at = observe(l, lease, now);
    if (!mine && holder && *holder && now < expires_at) {
        l->held = false;
        return false;
    }
    json_t *new_spec = lease_spec(l, spec);
    json_object_set_new(lease, "spec", new_spec);
    _cleanup_json_ json_t *out = client_update(l->client, l->lease_path, lease, &err);
    if (out == NULL) {
        LOG_DEBUG("leader election: update lease failed: %s", err->msg);
        l->held = false;
        return false;
    }
    observe(l, out, clock_mono_ns());
    if (!mine)
        LOG_INFO("leader election: acquired lease lease=%s/%s identity=%s", l->ns, l->name,
                 l->identity);
    l->held = true;
    return true;
}

void client_leader_release(struct client_leader *l)
{
    if (!l->held)
        return;
    _cleanup_json_ json_t *lease = client_get(l->client, l->lease_path, NULL);
    const char *holder = kjson_path_str(lease, "spec.holderIdentity");
    if (lease == NULL || holder == NULL || strcmp(holder, l->identity) != 0)
        return;
    json_t *spec = json_object_get(lease, "spec");
    json_object_set_new(spec, "holderIdentity", json_string(""));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    _cleanup_json_ json_t *out = client_update(l->client, l->lease_path, lease, NULL);
    l->held = false;
}

static void sleep_ms_unless(const atomic_bool *stop, unsigned ms)
{
    uint64_t end = clock_mono_ns() + (uint64_t)ms * 1000000u;
    while (!atomic_load(stop) && clock_mono_ns() < end) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
}

struct term {
    client_leader_fn lead;
    void *opaque;
    atomic_bool stop;
};

static void *term_main(void *opaque)
{
    struct term *t = opaque;
    t->lead(&t->stop, t->opaque);
    return NULL;
}

int client_leader_run(struct client *c, const struct client_leader_options *opts,
                      const atomic_bool *stop, client_leader_fn lead, void *opaque,
                      struct k8c_err **err)
{
    struct client_leader_options o = *opts;
    if (o.lease_duration_seconds == 0)
        o.lease_duration_seconds = 15;
    if (o.renew_deadline_seconds == 0)
        o.renew_deadline_seconds = 10;
    if (o.retry_period_ms == 0)
        o.retry_period_ms = 2000;
    if (o.renew_deadline_seconds >= o.lease_duration_seconds)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "leader election: the renew deadline (%us) must be shorter than the "
                           "lease duration (%us)",
                           o.renew_deadline_seconds, o.lease_duration_seconds);
    struct client_leader *l =
        client_leader_new(c, o.lease_namespace, o.lease_name, o.identity, o.lease_duration_seconds);
    _cleanup_err_ struct k8c_err *werr = NULL;
    if (client_leader_watch(l, &werr) < 0)
        LOG_WARN("%s: %s; looking at the lease every retry period only", o.lease_name, werr->msg);
    while (!atomic_load(stop)) {
        if (!client_leader_try(l)) {
            /* Look again a retry period later (client-go's pace), or as soon as the watch
             * shows the record expired, released or deleted: a dead leader is replaced at
             * the instant its lease allows. */
            client_leader_wait(l, stop, o.retry_period_ms);
            continue;
        }
        LOG_INFO("%s became leader identity=%s", o.lease_name, l->identity);
        struct term t = {.lead = lead, .opaque = opaque};
        atomic_init(&t.stop, false);
        pthread_t th;
        if (pthread_create(&th, NULL, term_main, &t) != 0) {
            client_leader_release(l);
            client_leader_free(l);
            return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "%s: start the leader's thread",
                               o.lease_name);
        }
        uint64_t last_renew = clock_mono_ns();
        while (!atomic_load(stop)) {
            sleep_ms_unless(stop, o.retry_period_ms);
            if (atomic_load(stop))
                break;
            if (client_leader_try(l)) {
                last_renew = clock_mono_ns();
                continue;
            }
            if (clock_mono_ns() - last_renew > (uint64_t)o.renew_deadline_seconds * 1000000000u) {
                LOG_WARN("%s lost the leader lease: stopping", o.lease_name);
                break;
            }
        }
        /* Stopping: the lease watch ends while the term winds down, not after it. */
        if (atomic_load(stop))
            atomic_store(&l->watch_stop, true);
        atomic_store(&t.stop, true);
        pthread_join(th, NULL);
        if (atomic_load(stop))
            client_leader_release(l);
    }
    client_leader_free(l);
    return 0;
}
