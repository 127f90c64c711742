/* Leader election over a coordination.k8s.io/v1 Lease (kube-system/k8c-controller-manager),
 * as client-go's leaderelection: a holder renews every retry period; another candidate takes
 * the Lease only after it has seen the same record unchanged for the lease duration on its
 * own monotonic clock (so clock skew between machines does not matter). */
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
#include "controllers/internal.h"

#define LEASE_NS "kube-system"
#define LEASE_NAME "k8c-controller-manager"
#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/" LEASE_NS "/leases"

struct ctl_leader {
    struct client *client;
    char *identity;
    unsigned duration_s;
    char *observed_rv;    /* the record last seen */
    uint64_t observed_at; /* when it last changed, monotonic ns */
    bool held;
};

struct ctl_leader *ctl__leader_new(struct client *c, const struct controllers_options *opts)
{
    struct ctl_leader *l = xcalloc(1, sizeof(*l));
    l->client = c;
    if (opts->identity) {
        l->identity = xstrdup(opts->identity);
    } else {
        char host[256] = "k8c";
        gethostname(host, sizeof(host) - 1);
        unsigned char r[8] = {0};
        if (getrandom(r, sizeof(r), 0) < 0)
            memset(r, 0, sizeof(r));
        l->identity = xasprintf("%s_%02x%02x%02x%02x%02x%02x%02x%02x", host, r[0], r[1], r[2], r[3],
                                r[4], r[5], r[6], r[7]);
    }
    l->duration_s = opts->lease_duration_seconds ? opts->lease_duration_seconds : 15;
    return l;
}

void ctl__leader_free(struct ctl_leader *l)
{
    if (l == NULL)
        return;
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

static json_t *lease_spec(struct ctl_leader *l, const json_t *old_spec)
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

static bool try_create(struct ctl_leader *l)
{
    _cleanup_json_ json_t *spec = lease_spec(l, NULL);
    _cleanup_json_ json_t *lease =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:O}", "apiVersion", "coordination.k8s.io/v1", "kind",
                  "Lease", "metadata", "name", LEASE_NAME, "namespace", LEASE_NS, "spec", spec);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_create(l->client, LEASE_PATH, lease, &err);
    if (out == NULL && err->reason == K8C_REASON_NOT_FOUND) {
        /* No kube-system yet (a bare API server): make it, then the Lease. */
        _cleanup_json_ json_t *ns = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind",
                                              "Namespace", "metadata", "name", LEASE_NS);
        _cleanup_json_ json_t *made = client_create(l->client, "/api/v1/namespaces", ns, NULL);
        k8c_err_freep(&err);
        out = client_create(l->client, LEASE_PATH, lease, &err);
    }
    if (out == NULL) {
        LOG_DEBUG("leader election: create lease failed: %s", err->msg);
        return false;
    }
    return true;
}

bool ctl__leader_try(struct ctl_leader *l)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *lease = client_get(l->client, LEASE_PATH "/" LEASE_NAME, &err);
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
    bool expired = now - l->observed_at > (uint64_t)dur * 1000000000u;
    if (!mine && holder && *holder && !expired) {
        l->held = false;
        return false;
    }
    json_t *new_spec = lease_spec(l, spec);
    json_object_set_new(lease, "spec", new_spec);
    _cleanup_json_ json_t *out = client_update(l->client, LEASE_PATH "/" LEASE_NAME, lease, &err);
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
        LOG_INFO("leader election: acquired lease identity=%s", l->identity);
    l->held = true;
    return true;
}

void ctl__leader_release(struct ctl_leader *l)
{
    if (!l->held)
        return;
    _cleanup_json_ json_t *lease = client_get(l->client, LEASE_PATH "/" LEASE_NAME, NULL);
    const char *holder = kjson_path_str(lease, "spec.holderIdentity");
    if (lease == NULL || holder == NULL || strcmp(holder, l->identity) != 0)
        return;
    json_t *spec = json_object_get(lease, "spec");
    json_object_set_new(spec, "holderIdentity", json_string(""));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    _cleanup_json_ json_t *out = client_update(l->client, LEASE_PATH "/" LEASE_NAME, lease, NULL);
    l->held = false;
}
