/* Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection: a
 * holder renews every retry period; another candidate takes the Lease only after it has seen
 * the same record unchanged for the lease duration on its own monotonic clock (so clock skew
 * between machines does not matter). The controller manager (kube-system/
 * k8c-controller-manager) and the scheduler (kube-system/k8c-scheduler) both run behind it, so
 * several servers on one store act through one of them at a time. */
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
    char *observed_rv;    /* the record last seen */
    uint64_t observed_at; /* when it last changed, monotonic ns */
    uint64_t expires_at;  /* when another's record seen unchanged since observed_at expires */
    bool held;
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
    free(l->ns);
    free(l->name);
    free(l->path);
    free(l->lease_path);
    free(l->identity);
    free(l->observed_rv);
    free(l);
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
    const char *rv = kjson_path_str(lease, "metadata.resourceVersion");
    uint64_t now = clock_mono_ns();
    if (l->observed_rv == NULL || rv == NULL || strcmp(l->observed_rv, rv) != 0) {
        free(l->observed_rv);
        l->observed_rv = xstrdup(rv ? rv : "");
        l->observed_at = now;
    }
    bool mine = holder && strcmp(holder, l->identity) == 0;
    json_int_t dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    if (dur <= 0)
        dur = l->duration_s;
    l->expires_at = l->observed_at + (uint64_t)dur * 1000000000u;
    bool expired = now > l->expires_at;
    if (!mine && holder && *holder && !expired) {
        l->held = false;
        return false;
    }
    l->expires_at = 0;
    json_t *new_spec = lease_spec(l, spec);
    json_object_set_new(lease, "spec", new_spec);
    _cleanup_json_ json_t *out = client_update(l->client, l->lease_path, lease, &err);
    if (out == NULL) {
        LOG_DEBUG("leader election: update lease failed: %s", err->msg);
        l->held = false;
        return false;
    }
    const char *nrv = kjson_path_str(out, "metadata.resourceVersion");
    free(l->observed_rv);
    l->observed_rv = xstrdup(nrv ? nrv : "");
    l->observed_at = clock_mono_ns();
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
    while (!atomic_load(stop)) {
        if (!client_leader_try(l)) {
            /* Look again half a retry period later (the holder renews every retry period,
             * so a candidate sees its last renewal at most that late, and the lease counts
             * from when it was seen), or right when the holder's record expires if that
             * comes first: a dead leader is replaced as soon as its lease allows. */
            unsigned ms = o.retry_period_ms / 2 ? o.retry_period_ms / 2 : 1;
            uint64_t now = clock_mono_ns();
            if (l->expires_at > now && (l->expires_at - now) / 1000000u + 10 < ms)
                ms = (unsigned)((l->expires_at - now) / 1000000u + 10);
            sleep_ms_unless(stop, ms);
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
        atomic_store(&t.stop, true);
        pthread_join(th, NULL);
        if (atomic_load(stop))
            client_leader_release(l);
    }
    client_leader_free(l);
    return 0;
}
