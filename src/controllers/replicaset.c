/* The ReplicaSet controller: keeps spec.replicas active pods matching the selector, adopting
 * and releasing by ownerReferences, creating in slow-start batches (1, 2, 4, …), deleting the
 * least valuable pods first, with expectations so a lagging watch never makes it act twice;
 * and keeps status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
 * observedGeneration, the ReplicaFailure condition) up to date. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

/* Kubernetes' burstReplicas: at most this many creates or deletes per sync. */
#define BURST_REPLICAS 500
#define WRITE_THREADS 16

struct rs_state {
    struct ctl_expectations *exp;
};

static void rs_state_free(void *opaque)
{
    struct rs_state *st = opaque;
    ctl__expectations_free(st->exp);
    free(st);
}

/* --- event handlers --- */

static char *rs_key_of_ref(const json_t *pod, const json_t *ref)
{
    const char *kind = kjson_path_str(ref, "kind");
    const char *name = kjson_path_str(ref, "name");
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    if (kind == NULL || strcmp(kind, "ReplicaSet") != 0 || name == NULL || ns == NULL)
        return NULL;
    return xasprintf("%s/%s", ns, name);
}

/* The key of the ReplicaSet controlling pod, when it is in the cache with that uid. */
static char *controlling_rs(struct ctl *ctl, const json_t *pod)
{
    json_t *ref = ctl__controller_ref(pod);
    _cleanup_free_ char *key = rs_key_of_ref(pod, ref);
    if (key == NULL)
        return NULL;
    _cleanup_json_ json_t *rs = ctl__get(ctl, CTL_REPLICASETS, key);
    const char *uid = kjson_path_str(rs, "metadata.uid");
    const char *ruid = kjson_path_str(ref, "uid");
    if (rs == NULL || uid == NULL || ruid == NULL || strcmp(uid, ruid) != 0)
        return NULL;
    return steal_ptr(&key);
}

/* Orphans: every ReplicaSet of the namespace whose selector matches may adopt the pod. */
static void enqueue_matching(struct ctl_controller *cc, const json_t *pod)
{
    _cleanup_json_ json_t *sets =
        ctl__list(cc->ctl, CTL_REPLICASETS, kjson_path_str(pod, "metadata.namespace"));
    size_t i;
    json_t *rs;
    json_array_foreach (sets, i, rs) {
        if (ctl__selector_matches(kjson_path(rs, "spec.selector"),
                                  kjson_path(pod, "metadata.labels")))
            ctl__enqueue_obj(cc, rs);
    }
}

static void pod_deleted(struct ctl_controller *cc, const json_t *pod)
{
    struct rs_state *st = cc->state;
    json_t *ref = ctl__controller_ref(pod);
    _cleanup_free_ char *key = rs_key_of_ref(pod, ref);
    if (key == NULL)
        return;
    _cleanup_free_ char *pod_key = informer_key_of(pod);
    ctl__expectations_deletion_observed(st->exp, key, pod_key);
    workqueue_add(cc->queue, key);
}

static void on_pod_add(struct ctl *ctl, json_t *pod, void *opaque)
{
    struct ctl_controller *cc = opaque;
    struct rs_state *st = cc->state;
    if (ctl__is_deleting(pod)) {
        pod_deleted(cc, pod);
        return;
    }
    json_t *ref = ctl__controller_ref(pod);
    if (ref != NULL) {
        _cleanup_free_ char *key = controlling_rs(ctl, pod);
        if (key == NULL)
            return;
        ctl__expectations_creation_observed(st->exp, key);
        workqueue_add(cc->queue, key);
        return;
    }
    enqueue_matching(cc, pod);
}

static void on_pod_update(struct ctl *ctl, json_t *old_pod, json_t *pod, void *opaque)
{
    struct ctl_controller *cc = opaque;
    if (ctl__is_deleting(pod)) {
        /* A graceful delete shows as an update first: that is the deletion we waited for. */
        pod_deleted(cc, pod);
        return;
    }
    bool labels_changed =
        !json_equal(kjson_path(old_pod, "metadata.labels"), kjson_path(pod, "metadata.labels"));
    json_t *old_ref = ctl__controller_ref(old_pod);
    json_t *ref = ctl__controller_ref(pod);
    if (old_ref && !json_equal(old_ref, ref)) {
        _cleanup_free_ char *old_key = controlling_rs(ctl, old_pod);
        if (old_key)
            workqueue_add(cc->queue, old_key);
    }
    if (ref != NULL) {
        _cleanup_free_ char *key = controlling_rs(ctl, pod);
        if (key == NULL)
            return;
        workqueue_add(cc->queue, key);
        /* Becoming ready counts as available only after minReadySeconds: look again then. */
        if (!ctl__pod_ready(old_pod) && ctl__pod_ready(pod)) {
            _cleanup_json_ json_t *rs = ctl__get(ctl, CTL_REPLICASETS, key);
            int64_t mrs = ctl__int(rs, "spec.minReadySeconds", 0);
            if (mrs > 0)
                workqueue_add_after(cc->queue, key, (unsigned)(mrs * 1000 + 500));
        }
        return;
    }
    if (labels_changed || old_ref != NULL)
        enqueue_matching(cc, pod);
}

static void on_pod_delete(struct ctl *ctl, json_t *pod, void *opaque)
{
    pod_deleted(opaque, pod);
}

static void on_rs_delete(struct ctl *ctl, json_t *rs, void *opaque)
{
    struct ctl_controller *cc = opaque;
    struct rs_state *st = cc->state;
    _cleanup_free_ char *key = informer_key_of(rs);
    if (key)
        ctl__expectations_delete(st->exp, key);
}

/* --- managing replicas --- */

struct create_job {
    struct ctl *ctl;
    const char *path;
    const char *body;
    size_t body_len;
    struct k8c_err *first_err; /* guarded by being written once under lock */
    pthread_mutex_t lock;
};

static int create_one(size_t i, void *opaque)
{
    struct create_job *job = opaque;
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_request(job->ctl->client, "POST", job->path, NULL,
                                                job->body, job->body_len, NULL, &err);
    if (out != NULL)
        return 0;
    pthread_mutex_lock(&job->lock);
    if (job->first_err == NULL)
        job->first_err = steal_ptr(&err);
    pthread_mutex_unlock(&job->lock);
    return -1;
}

/* The pod a ReplicaSet creates from its template. */
static json_t *pod_from_template(const json_t *rs)
{
    json_t *tmpl = kjson_path(rs, "spec.template");
    json_t *md = json_object();
    _cleanup_free_ char *gen = xasprintf("%s-", kjson_path_str(rs, "metadata.name"));
    json_object_set_new(md, "generateName", json_string(gen));
    json_object_set_new(md, "namespace", json_string(kjson_path_str(rs, "metadata.namespace")));
    json_t *labels = kjson_path(tmpl, "metadata.labels");
    if (json_is_object(labels))
        json_object_set_new(md, "labels", json_deep_copy(labels));
    json_t *ann = kjson_path(tmpl, "metadata.annotations");
    if (json_is_object(ann))
        json_object_set_new(md, "annotations", json_deep_copy(ann));
    json_t *fin = kjson_path(tmpl, "metadata.finalizers");
    if (json_is_array(fin))
        json_object_set_new(md, "finalizers", json_deep_copy(fin));
    json_t *refs = json_array();
    json_array_append_new(refs, ctl__owner_ref(rs, "apps/v1", "ReplicaSet"));
    json_object_set_new(md, "ownerReferences", refs);
    json_t *spec = json_deep_copy(json_object_get(tmpl, "spec"));
    return json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", md, "spec",
                     spec ? spec : json_object());
}

/* Creates n pods in slow-start batches; returns -1 with *err on the first failed batch. */
static int create_pods(struct ctl_controller *cc, const json_t *rs, const char *key, int64_t n,
                       struct k8c_err **err)
{
    struct rs_state *st = cc->state;
    ctl__expectations_expect_creations(st->exp, key, n);
    _cleanup_json_ json_t *pod = pod_from_template(rs);
    _cleanup_free_ char *body = kjson_dumps(pod);
    _cleanup_free_ char *path =
        ctl__path(CTL_PODS, kjson_path_str(rs, "metadata.namespace"), NULL, NULL);
    struct create_job job = {.ctl = cc->ctl, .path = path, .body = body, .body_len = strlen(body)};
    pthread_mutex_init(&job.lock, NULL);
    int64_t remaining = n, batch = 1, created = 0, attempted = 0;
    int rc = 0;
    while (remaining > 0) {
        if (batch > remaining)
            batch = remaining;
        size_t ok = ctl__parallel((size_t)batch, WRITE_THREADS, create_one, &job);
        attempted += batch;
        created += (int64_t)ok;
        for (int64_t i = (int64_t)ok; i < batch; i++)
            ctl__expectations_creation_observed(st->exp, key);
        if ((int64_t)ok < batch) {
            rc = -1;
            break;
        }
        remaining -= batch;
        batch *= 2;
    }
    /* Pods never attempted will never be observed either. */
    for (int64_t i = attempted; i < n; i++)
        ctl__expectations_creation_observed(st->exp, key);
    pthread_mutex_destroy(&job.lock);
    if (created > 0)
        LOG_DEBUG("replicaset created pods key=%s n=%lld", key, (long long)created);
    if (rc < 0) {
        ctl__event(cc->ctl, rs, "Warning", "FailedCreate", "Error creating: %s",
                   job.first_err ? job.first_err->msg : "unknown error");
        if (err)
            *err = steal_ptr(&job.first_err);
    }
    k8c_err_free(job.first_err);
    if (created > 0)
        ctl__event(cc->ctl, rs, "Normal", "SuccessfulCreate", "Created %lld pod%s",
                   (long long)created, created == 1 ? "" : "s");
    return rc;
}

struct delete_job {
    struct ctl_controller *cc;
    const char *key;
    json_t *victims;
    struct k8c_err *first_err;
    pthread_mutex_t lock;
};

static int delete_one(size_t i, void *opaque)
{
    struct delete_job *job = opaque;
    struct rs_state *st = job->cc->state;
    json_t *pod = json_array_get(job->victims, i);
    _cleanup_free_ char *path = ctl__path(CTL_PODS, kjson_path_str(pod, "metadata.namespace"),
                                          kjson_path_str(pod, "metadata.name"), NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *out = client_delete(job->cc->ctl->client, path, NULL, &err);
    if (out != NULL)
        return 0;
    _cleanup_free_ char *pod_key = informer_key_of(pod);
    ctl__expectations_deletion_observed(st->exp, job->key, pod_key);
    if (err->reason == K8C_REASON_NOT_FOUND)
        return 0;
    pthread_mutex_lock(&job->lock);
    if (job->first_err == NULL)
        job->first_err = steal_ptr(&err);
    pthread_mutex_unlock(&job->lock);
    return -1;
}

static int delete_pods(struct ctl_controller *cc, const json_t *rs, const char *key, json_t *owned,
                       int64_t n, struct k8c_err **err)
{
    struct rs_state *st = cc->state;
    ctl__pods_rank_for_deletion(owned, time(NULL));
    _cleanup_json_ json_t *victims = json_array();
    const char **keys = xcalloc((size_t)n, sizeof(char *));
    for (int64_t i = 0; i < n; i++) {
        json_t *p = json_array_get(owned, (size_t)i);
        json_array_append(victims, p);
        keys[i] = informer_key_of(p);
    }
    ctl__expectations_expect_deletions(st->exp, key, keys, (size_t)n);
    for (int64_t i = 0; i < n; i++)
        free((char *)keys[i]);
    free(keys);
    struct delete_job job = {.cc = cc, .key = key, .victims = victims};
    pthread_mutex_init(&job.lock, NULL);
    size_t ok = ctl__parallel((size_t)n, WRITE_THREADS, delete_one, &job);
    pthread_mutex_destroy(&job.lock);
    if (ok > 0)
        ctl__event(cc->ctl, rs, "Normal", "SuccessfulDelete", "Deleted %zu pod%s", ok,
                   ok == 1 ? "" : "s");
    if (job.first_err != NULL) {
        ctl__event(cc->ctl, rs, "Warning", "FailedDelete", "Error deleting: %s",
                   job.first_err->msg);
        if (err)
            *err = job.first_err;
        else
            k8c_err_free(job.first_err);
        return -1;
    }
    return 0;
}

/* --- status --- */

static json_t *compute_status(const json_t *rs, const json_t *owned, const struct k8c_err *merr,
                              bool creating)
{
    json_t *old = kjson_path(rs, "status");
    json_t *status = json_is_object(old) ? json_deep_copy(old) : json_object();
    json_t *tmpl_labels = kjson_path(rs, "spec.template.metadata.labels");
    int64_t min_ready = ctl__int(rs, "spec.minReadySeconds", 0);
    time_t now = time(NULL);
    int64_t full = 0, ready = 0, available = 0;
    size_t i;
    json_t *pod;
    json_array_foreach (owned, i, pod) {
        json_t *labels = kjson_path(pod, "metadata.labels");
        bool all = true;
        const char *k;
        json_t *v;
        json_object_foreach (tmpl_labels, k, v) {
            if (!json_equal(json_object_get(labels, k), v)) {
                all = false;
                break;
            }
        }
        full += all;
        if (ctl__pod_ready(pod)) {
            ready++;
            if (ctl__pod_available(pod, min_ready, now))
                available++;
        }
    }
    json_object_set_new(status, "replicas", json_integer((json_int_t)json_array_size(owned)));
    json_object_set_new(status, "fullyLabeledReplicas", json_integer(full));
    json_object_set_new(status, "readyReplicas", json_integer(ready));
    json_object_set_new(status, "availableReplicas", json_integer(available));
    json_object_set_new(status, "observedGeneration",
                        json_integer(ctl__int(rs, "metadata.generation", 0)));
    if (merr != NULL) {
        _cleanup_free_ char *msg = xstrdup(merr->msg);
        ctl__condition_set(status, "ReplicaFailure", "True",
                           creating ? "FailedCreate" : "FailedDelete", msg, false);
    } else {
        ctl__condition_remove(status, "ReplicaFailure");
    }
    if (json_array_size(json_object_get(status, "conditions")) == 0)
        json_object_del(status, "conditions");
    return status;
}

static int update_status(struct ctl *ctl, const json_t *rs, json_t *status, struct k8c_err **err)
{
    _cleanup_json_ json_t *copy = json_deep_copy(rs);
    json_object_set(copy, "status", status);
    _cleanup_free_ char *path = ctl__path(CTL_REPLICASETS, kjson_path_str(rs, "metadata.namespace"),
                                          kjson_path_str(rs, "metadata.name"), "status");
    _cleanup_json_ json_t *out = client_update(ctl->client, path, copy, err);
    if (out != NULL)
        return 0;
    if ((*err)->reason != K8C_REASON_CONFLICT)
        return -1;
    /* The cache was behind: write the status over the current object once. */
    k8c_err_freep(err);
    _cleanup_json_ json_t *fresh = client_get(ctl->client, path, err);
    if (fresh == NULL)
        return -1;
    json_object_set(fresh, "status", status);
    _cleanup_json_ json_t *out2 = client_update(ctl->client, path, fresh, err);
    return out2 ? 0 : -1;
}

/* --- sync --- */

static int rs_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    struct rs_state *st = cc->state;
    _cleanup_json_ json_t *rs = ctl__get(ctl, CTL_REPLICASETS, key);
    if (rs == NULL) {
        ctl__expectations_delete(st->exp, key);
        return 0;
    }
    bool needs_sync = ctl__expectations_satisfied(st->exp, key);
    const char *ns = kjson_path_str(rs, "metadata.namespace");
    _cleanup_json_ json_t *all = ctl__list(ctl, CTL_PODS, ns);
    _cleanup_json_ json_t *active = json_array();
    size_t i;
    json_t *pod;
    json_array_foreach (all, i, pod) {
        if (ctl__pod_active(pod))
            json_array_append(active, pod);
    }
    _cleanup_json_ json_t *owned = ctl__claim(ctl, rs, "apps/v1", "ReplicaSet",
                                              kjson_path(rs, "spec.selector"), active, CTL_PODS);
    _cleanup_err_ struct k8c_err *merr = NULL;
    bool creating = false;
    if (needs_sync && !ctl__is_deleting(rs)) {
        int64_t want = ctl__int(rs, "spec.replicas", 1);
        int64_t diff = (int64_t)json_array_size(owned) - want;
        if (diff < 0) {
            creating = true;
            int64_t n = -diff > BURST_REPLICAS ? BURST_REPLICAS : -diff;
            create_pods(cc, rs, key, n, &merr);
        } else if (diff > 0) {
            int64_t n = diff > BURST_REPLICAS ? BURST_REPLICAS : diff;
            _cleanup_json_ json_t *ranked = json_copy(owned);
            delete_pods(cc, rs, key, ranked, n, &merr);
        }
    }
    _cleanup_json_ json_t *status = compute_status(rs, owned, merr, creating);
    if (!json_equal(status, kjson_path(rs, "status"))) {
        _cleanup_err_ struct k8c_err *uerr = NULL;
        if (update_status(ctl, rs, status, &uerr) < 0 && uerr->reason != K8C_REASON_NOT_FOUND) {
            if (merr == NULL)
                merr = steal_ptr(&uerr);
        }
    }
    int64_t min_ready = ctl__int(rs, "spec.minReadySeconds", 0);
    if (merr == NULL && min_ready > 0 &&
        ctl__int(status, "readyReplicas", 0) > ctl__int(status, "availableReplicas", 0))
        workqueue_add_after(cc->queue, key, (unsigned)(min_ready * 1000 + 500));
    if (merr != NULL) {
        *err = steal_ptr(&merr);
        return -1;
    }
    return 0;
}

void ctl__replicaset_setup(struct ctl *ctl)
{
    struct rs_state *st = xcalloc(1, sizeof(*st));
    st->exp = ctl__expectations_new();
    struct ctl_controller *cc = ctl__controller_new(ctl, "replicaset", rs_sync, st, rs_state_free);
    struct ctl_listener pods = {on_pod_add, on_pod_update, on_pod_delete, cc};
    struct ctl_listener sets = {ctl__on_enqueue, ctl__on_enqueue_update, on_rs_delete, cc};
    ctl__listen(ctl, CTL_PODS, &pods);
    ctl__listen(ctl, CTL_REPLICASETS, &sets);
}
