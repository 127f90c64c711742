/* The Deployment controller: owns ReplicaSets named <deployment>-<pod-template-hash>, finds
 * the new one by comparing templates by meaning (so kubectl rollout undo reuses the old
 * ReplicaSet), rolls out with RollingUpdate (maxSurge/maxUnavailable) or Recreate, scales
 * proportionally when resized mid-rollout, keeps revision annotations and
 * revisionHistoryLimit, honours paused, and reports progress (Progressing and Available
 * conditions, progressDeadlineSeconds) in the status fields kubectl rollout status reads.
 * A port of Kubernetes' pkg/controller/deployment (sync.go, rolling.go, recreate.go,
 * progress.go). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

#define ANN_REVISION "deployment.kubernetes.io/revision"
#define ANN_REVISION_HISTORY "deployment.kubernetes.io/revision-history"
#define ANN_DESIRED "deployment.kubernetes.io/desired-replicas"
#define ANN_MAX "deployment.kubernetes.io/max-replicas"
#define HASH_LABEL "pod-template-hash"
#define DEFAULT_PROGRESS_DEADLINE 600
#define DEFAULT_HISTORY_LIMIT 10

/* One sync's view: the deployment (a private copy whose status is rebuilt) and its sets. */
struct dsync {
    struct ctl_controller *cc;
    struct ctl *ctl;
    const char *key;
    json_t *d;       /* owned copy */
    json_t *new_rs;  /* owned reference or NULL */
    json_t *old_rss; /* owned array */
    int64_t replicas, surge, unavailable;
    const char *ns, *name;
};

/* --- small accessors --- */

static int64_t rs_replicas(const json_t *rs)
{
    return ctl__int(rs, "spec.replicas", 1);
}

static const char *ann(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(kjson_path(obj, "metadata.annotations"), key));
}

static int64_t ann_int(const json_t *obj, const char *key, bool *ok)
{
    const char *s = ann(obj, key);
    char *end = NULL;
    long long v = s ? strtoll(s, &end, 10) : 0;
    *ok = s && *s && end && *end == '\0';
    return *ok ? v : 0;
}

static bool is_recreate(const json_t *d)
{
    const char *t = kjson_path_str(d, "spec.strategy.type");
    return t && strcmp(t, "Recreate") == 0;
}

static int64_t progress_deadline(const json_t *d)
{
    return ctl__int(d, "spec.progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE);
}

static bool has_progress_deadline(const json_t *d)
{
    return progress_deadline(d) != INT32_MAX;
}

/* MaxUnavailable(d) as the Available condition uses it. */
static int64_t max_unavailable(const struct dsync *x)
{
    if (is_recreate(x->d) || x->replicas == 0)
        return 0;
    return x->unavailable > x->replicas ? x->replicas : x->unavailable;
}

static int cmp_created(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    time_t ta = ctl__time(a, "metadata.creationTimestamp");
    time_t tb = ctl__time(b, "metadata.creationTimestamp");
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(kjson_path_str(a, "metadata.name") ?: "",
                  kjson_path_str(b, "metadata.name") ?: "");
}

static int cmp_created_desc(const void *pa, const void *pb)
{
    return -cmp_created(pa, pb);
}

/* Largest first; ties broken newer first (scaling up) or older first (scaling down). */
static int cmp_size_newer(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int64_t ra = rs_replicas(a), rb = rs_replicas(b);
    if (ra != rb)
        return ra > rb ? -1 : 1;
    return cmp_created_desc(pa, pb);
}

static int cmp_size_older(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int64_t ra = rs_replicas(a), rb = rs_replicas(b);
    if (ra != rb)
        return ra > rb ? -1 : 1;
    return cmp_created(pa, pb);
}

static int64_t revision_of(const json_t *rs)
{
    bool ok;
    int64_t v = ann_int(rs, ANN_REVISION, &ok);
    return ok ? v : 0;
}

static int cmp_revision(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int64_t ra = revision_of(a), rb = revision_of(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return cmp_created(pa, pb);
}

/* oldRSs plus newRS (when set) as a new array. */
static json_t *all_rss(const struct dsync *x)
{
    json_t *all = json_copy(x->old_rss);
    if (x->new_rs)
        json_array_append(all, x->new_rs);
    return all;
}

/* Sets with spec.replicas > 0. */
static json_t *active_rss(const json_t *rss)
{
    json_t *out = json_array();
    size_t i;
    json_t *rs;
    json_array_foreach (rss, i, rs) {
        if (rs_replicas(rs) > 0)
            json_array_append(out, rs);
    }
    return out;
}

static int64_t sum_int(const json_t *rss, const char *path, int64_t dflt)
{
    int64_t n = 0;
    size_t i;
    json_t *rs;
    json_array_foreach (rss, i, rs) {
        n += ctl__int(rs, path, dflt);
    }
    return n;
}

/* --- Deployment conditions, with Kubernetes' SetDeploymentCondition semantics --- */

static void dcond_set(json_t *status, const char *type, const char *cstatus, const char *reason,
                      const char *message)
{
    json_t *cur = ctl__condition(status, type);
    const char *cs = kjson_path_str(cur, "status");
    const char *cr = kjson_path_str(cur, "reason");
    if (cur && cs && cr && strcmp(cs, cstatus) == 0 && strcmp(cr, reason) == 0)
        return;
    char now[21];
    ctl__now(now);
    _cleanup_free_ char *transition =
        xstrdup(cur && cs && strcmp(cs, cstatus) == 0 && kjson_path_str(cur, "lastTransitionTime")
                    ? kjson_path_str(cur, "lastTransitionTime")
                    : now);
    ctl__condition_remove(status, type);
    json_t *conds = json_object_get(status, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status",
                                           cstatus, "lastUpdateTime", now, "lastTransitionTime",
                                           transition, "reason", reason, "message", message));
}

/* --- writes --- */

/* Replaces x->d's metadata (resourceVersion included) with what the server returned. */
static void adopt_metadata(struct dsync *x, const json_t *out)
{
    json_t *md = json_object_get(out, "metadata");
    if (md)
        json_object_set_new(x->d, "metadata", json_deep_copy(md));
}

static int write_status(struct dsync *x, json_t *status, struct k8c_err **err)
{
    _cleanup_json_ json_t *copy = json_deep_copy(x->d);
    json_object_set(copy, "status", status);
    _cleanup_free_ char *path = ctl__path(CTL_DEPLOYMENTS, x->ns, x->name, "status");
    _cleanup_json_ json_t *out = client_update(x->ctl->client, path, copy, err);
    if (out == NULL)
        return -1;
    adopt_metadata(x, out);
    json_object_set(x->d, "status", status);
    return 0;
}

/* Sets the deployment's revision annotation (a metadata patch; no generation change). */
static int set_deployment_revision(struct dsync *x, const char *revision, struct k8c_err **err)
{
    const char *cur = ann(x->d, ANN_REVISION);
    if (revision == NULL || (cur && strcmp(cur, revision) == 0))
        return 0;
    _cleanup_json_ json_t *patch =
        json_pack("{s:{s:{s:s},s:s}}", "metadata", "annotations", ANN_REVISION, revision,
                  "resourceVersion", kjson_path_str(x->d, "metadata.resourceVersion") ?: "");
    _cleanup_free_ char *path = ctl__path(CTL_DEPLOYMENTS, x->ns, x->name, NULL);
    _cleanup_json_ json_t *out = client_patch(x->ctl->client, path, "merge", patch, err);
    if (out == NULL)
        return -1;
    adopt_metadata(x, out);
    return 0;
}

static bool set_annotation(json_t *obj, const char *key, const char *value)
{
    json_t *md = kjson_object_ensure(obj, "metadata");
    json_t *a = kjson_object_ensure(md, "annotations");
    if (a == NULL) {
        json_object_set_new(md, "annotations", json_object());
        a = json_object_get(md, "annotations");
    }
    const char *cur = json_string_value(json_object_get(a, key));
    if (cur && strcmp(cur, value) == 0)
        return false;
    json_object_set_new(a, key, json_string(value));
    return true;
}

/* SetReplicasAnnotations: desired-replicas and max-replicas. */
static bool set_replicas_annotations(json_t *rs, int64_t desired, int64_t max)
{
    char a[32], b[32];
    snprintf(a, sizeof(a), "%lld", (long long)desired);
    snprintf(b, sizeof(b), "%lld", (long long)max);
    bool changed = set_annotation(rs, ANN_DESIRED, a);
    changed |= set_annotation(rs, ANN_MAX, b);
    return changed;
}

static bool skip_copy(const char *key)
{
    static const char *const skip[] = {"kubectl.kubernetes.io/last-applied-configuration",
                                       ANN_REVISION,
                                       ANN_REVISION_HISTORY,
                                       ANN_DESIRED,
                                       ANN_MAX,
                                       "deprecated.deployment.rollback.to"};
    for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
        if (strcmp(key, skip[i]) == 0)
            return true;
    return false;
}

/* SetNewReplicaSetAnnotations: copies the deployment's annotations, moves the revision up to
 * new_revision (remembering the old one in revision-history). */
static bool set_new_rs_annotations(const json_t *d, json_t *rs, int64_t new_revision, bool exists,
                                   int64_t desired, int64_t max)
{
    bool changed = false;
    const char *k;
    json_t *v;
    json_object_foreach (kjson_path(d, "metadata.annotations"), k, v) {
        if (!skip_copy(k) && json_is_string(v))
            changed |= set_annotation(rs, k, json_string_value(v));
    }
    bool ok;
    int64_t old = ann_int(rs, ANN_REVISION, &ok);
    _cleanup_free_ char *old_text = ann(rs, ANN_REVISION) ? xstrdup(ann(rs, ANN_REVISION)) : NULL;
    if (old < new_revision) {
        char nr[32];
        snprintf(nr, sizeof(nr), "%lld", (long long)new_revision);
        set_annotation(rs, ANN_REVISION, nr);
        changed = true;
        if (old_text && *old_text) {
            const char *hist = ann(rs, ANN_REVISION_HISTORY);
            _cleanup_free_ char *h =
                hist && *hist ? xasprintf("%s,%s", hist, old_text) : xstrdup(old_text);
            set_annotation(rs, ANN_REVISION_HISTORY, h);
        }
    }
    if (!exists)
        changed |= set_replicas_annotations(rs, desired, max);
    return changed;
}

static json_t *put_rs(struct dsync *x, json_t *rs, struct k8c_err **err)
{
    if (rs == NULL) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "put: no replica set");
        return NULL;
    }
    _cleanup_free_ char *path =
        ctl__path(CTL_REPLICASETS, x->ns, kjson_path_str(rs, "metadata.name"), NULL);
    return client_update(x->ctl->client, path, rs, err);
}

/* Scales rs to size (and refreshes its replica annotations); returns the new object. */
static json_t *scale_rs(struct dsync *x, const json_t *rs, int64_t size, struct k8c_err **err)
{
    if (rs == NULL) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "scale: replica set not found in this sync");
        return NULL;
    }
    int64_t cur = rs_replicas(rs);
    _cleanup_json_ json_t *copy = json_deep_copy(rs);
    bool ann_changed = set_replicas_annotations(copy, x->replicas, x->replicas + x->surge);
    if (cur == size && !ann_changed)
        return json_incref((json_t *)rs);
    json_object_set_new(kjson_object_ensure(copy, "spec"), "replicas", json_integer(size));
    json_t *out = put_rs(x, copy, err);
    if (out != NULL && cur != size)
        ctl__event(x->ctl, x->d, "Normal", "ScalingReplicaSet",
                   "Scaled %s replica set %s from %lld to %lld", size > cur ? "up" : "down",
                   kjson_path_str(rs, "metadata.name"), (long long)cur, (long long)size);
    return out;
}

/* Scales the set at x->new_rs or x->old_rss[i] and puts the result back in place. */
static int scale_in_place(struct dsync *x, json_t *rs, int64_t size, bool *scaled,
                          struct k8c_err **err)
{
    int64_t before = rs_replicas(rs);
    json_t *out = scale_rs(x, rs, size, err);
    if (out == NULL)
        return -1;
    if (scaled)
        *scaled = before != size;
    if (rs == x->new_rs) {
        json_decref(x->new_rs);
        x->new_rs = out;
        return 0;
    }
    size_t i;
    json_t *o;
    json_array_foreach (x->old_rss, i, o) {
        if (o == rs) {
            json_array_set_new(x->old_rss, i, out);
            return 0;
        }
    }
    json_decref(out);
    return 0;
}

/* --- finding and creating the new ReplicaSet --- */

static json_t *template_of(const json_t *obj)
{
    return kjson_path(obj, "spec.template");
}

/* Splits the owned sets into x->new_rs (oldest set whose template matches) and x->old_rss. */
static void split_sets(struct dsync *x, json_t *owned)
{
    ctl__json_array_sort(owned, cmp_created);
    x->old_rss = json_array();
    size_t i;
    json_t *rs;
    json_array_foreach (owned, i, rs) {
        if (x->new_rs == NULL && ctl__template_equal(template_of(rs), template_of(x->d)))
            x->new_rs = json_incref(rs);
        else
            json_array_append(x->old_rss, rs);
    }
}

static int64_t max_revision(const json_t *rss)
{
    int64_t max = 0;
    size_t i;
    json_t *rs;
    json_array_foreach (rss, i, rs) {
        int64_t r = revision_of(rs);
        if (r > max)
            max = r;
    }
    return max;
}

static int create_new_rs(struct dsync *x, int64_t new_revision, struct k8c_err **err)
{
    json_t *status = kjson_object_ensure(x->d, "status");
    int64_t collisions = ctl__int(x->d, "status.collisionCount", 0);
    _cleanup_free_ char *hash = ctl__template_hash(template_of(x->d), collisions);
    _cleanup_json_ json_t *tmpl = json_deep_copy(template_of(x->d));
    json_t *tmd = kjson_object_ensure(tmpl, "metadata");
    json_t *labels = json_object_get(tmd, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(tmd, "labels", labels);
    }
    json_object_set_new(labels, HASH_LABEL, json_string(hash));
    _cleanup_json_ json_t *selector = json_deep_copy(kjson_path(x->d, "spec.selector"));
    if (!json_is_object(selector)) {
        json_decref(selector);
        selector = json_object();
    }
    json_t *ml = json_object_get(selector, "matchLabels");
    if (!json_is_object(ml)) {
        ml = json_object();
        json_object_set_new(selector, "matchLabels", ml);
    }
    json_object_set_new(ml, HASH_LABEL, json_string(hash));
    _cleanup_free_ char *name = xasprintf("%s-%s", x->name, hash);
    json_t *refs = json_array();
    json_array_append_new(refs, ctl__owner_ref(x->d, "apps/v1", "Deployment"));
    json_error_t jerr;
    _cleanup_json_ json_t *rs =
        json_pack_ex(&jerr, 0, "{s:s,s:s,s:{s:s,s:s,s:o,s:O},s:{s:I,s:I,s:O,s:O}}", "apiVersion",
                     "apps/v1", "kind", "ReplicaSet", "metadata", "name", name, "namespace", x->ns,
                     "ownerReferences", refs, "labels", labels, "spec", "replicas", (json_int_t)0,
                     "minReadySeconds", (json_int_t)ctl__int(x->d, "spec.minReadySeconds", 0),
                     "selector", selector, "template", tmpl);
    if (rs == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "build replica set %s: %s", name,
                           jerr.text);
    /* The new set's size: as NewRSNewReplicas sees it with the set added at zero. */
    int64_t size = x->replicas;
    if (!is_recreate(x->d)) {
        _cleanup_json_ json_t *all = all_rss(x);
        size =
            ctl__rolling_new_replicas(x->replicas, x->surge, sum_int(all, "spec.replicas", 1), 0);
    }
    json_object_set_new(json_object_get(rs, "spec"), "replicas", json_integer(size));
    set_new_rs_annotations(x->d, rs, new_revision, false, x->replicas, x->replicas + x->surge);

    _cleanup_free_ char *path = ctl__path(CTL_REPLICASETS, x->ns, NULL, NULL);
    _cleanup_err_ struct k8c_err *cerr = NULL;
    json_t *created = client_create(x->ctl->client, path, rs, &cerr);
    bool already = false;
    if (created == NULL && cerr->reason == K8C_REASON_ALREADY_EXISTS) {
        already = true;
        _cleanup_free_ char *key = xasprintf("%s/%s", x->ns, name);
        _cleanup_free_ char *get_path = ctl__path(CTL_REPLICASETS, x->ns, name, NULL);
        json_t *existing = client_get(x->ctl->client, get_path, NULL);
        json_t *ref = ctl__controller_ref(existing);
        const char *uid = kjson_path_str(x->d, "metadata.uid");
        if (existing && ref && uid && kjson_path_str(ref, "uid") &&
            strcmp(kjson_path_str(ref, "uid"), uid) == 0 &&
            ctl__template_equal(template_of(existing), template_of(x->d))) {
            created = existing;
        } else {
            /* A hash collision: count it so the next hash differs, and come back. */
            json_decref(existing);
            json_object_set_new(status, "collisionCount", json_integer(collisions + 1));
            _cleanup_json_ json_t *st = json_deep_copy(status);
            _cleanup_err_ struct k8c_err *werr = NULL;
            write_status(x, st, &werr);
            *err = steal_ptr(&cerr);
            return -1;
        }
    } else if (created == NULL) {
        _cleanup_free_ char *msg =
            xasprintf("Failed to create new replica set \"%s\": %s", name, cerr->msg);
        if (has_progress_deadline(x->d)) {
            _cleanup_json_ json_t *st = json_deep_copy(status);
            dcond_set(st, "Progressing", "False", "ReplicaSetCreateError", msg);
            _cleanup_err_ struct k8c_err *werr = NULL;
            write_status(x, st, &werr);
        }
        ctl__event(x->ctl, x->d, "Warning", "ReplicaSetCreateError", "%s", msg);
        *err = steal_ptr(&cerr);
        return -1;
    }
    if (!already && size > 0)
        ctl__event(x->ctl, x->d, "Normal", "ScalingReplicaSet", "Scaled up replica set %s to %lld",
                   name, (long long)size);
    x->new_rs = created;
    char rev[32];
    snprintf(rev, sizeof(rev), "%lld", (long long)new_revision);
    if (set_deployment_revision(x, rev, err) < 0)
        return -1;
    if (!already && has_progress_deadline(x->d)) {
        _cleanup_json_ json_t *st = json_deep_copy(kjson_object_ensure(x->d, "status"));
        _cleanup_free_ char *msg = xasprintf("Created new replica set \"%s\"", name);
        dcond_set(st, "Progressing", "True", "NewReplicaSetCreated", msg);
        if (write_status(x, st, err) < 0)
            return -1;
    }
    return 0;
}

/* getAllReplicaSetsAndSyncRevision: x->new_rs (made when create and missing) and x->old_rss,
 * with revision annotations brought up to date. */
static int sync_revision(struct dsync *x, bool create, struct k8c_err **err)
{
    int64_t new_revision = max_revision(x->old_rss) + 1;
    if (x->new_rs != NULL) {
        _cleanup_json_ json_t *copy = json_deep_copy(x->new_rs);
        bool changed = set_new_rs_annotations(x->d, copy, new_revision, true, 0, 0);
        int64_t mrs = ctl__int(x->d, "spec.minReadySeconds", 0);
        if (ctl__int(copy, "spec.minReadySeconds", 0) != mrs) {
            json_object_set_new(kjson_object_ensure(copy, "spec"), "minReadySeconds",
                                json_integer(mrs));
            changed = true;
        }
        if (changed) {
            json_t *out = put_rs(x, copy, err);
            if (out == NULL)
                return -1;
            json_decref(x->new_rs);
            x->new_rs = out;
            return 0;
        }
        if (set_deployment_revision(x, ann(x->new_rs, ANN_REVISION), err) < 0)
            return -1;
        json_t *status = kjson_object_ensure(x->d, "status");
        if (has_progress_deadline(x->d) && ctl__condition(status, "Progressing") == NULL) {
            _cleanup_json_ json_t *st = json_deep_copy(status);
            _cleanup_free_ char *msg = xasprintf("Found new replica set \"%s\"",
                                                 kjson_path_str(x->new_rs, "metadata.name"));
            dcond_set(st, "Progressing", "True", "FoundNewReplicaSet", msg);
            if (write_status(x, st, err) < 0)
                return -1;
        }
        return 0;
    }
    if (!create)
        return 0;
    return create_new_rs(x, new_revision, err);
}

/* --- status --- */

static json_t *calculate_status(struct dsync *x)
{
    _cleanup_json_ json_t *all = all_rss(x);
    int64_t available = sum_int(all, "status.availableReplicas", 0);
    int64_t total = sum_int(all, "spec.replicas", 1);
    int64_t unavailable = total - available;
    if (unavailable < 0)
        unavailable = 0;
    json_t *old = kjson_path(x->d, "status");
    json_t *status = json_object();
    json_object_set_new(status, "observedGeneration",
                        json_integer(ctl__int(x->d, "metadata.generation", 0)));
    struct {
        const char *name;
        int64_t v;
    } fields[] = {
        {"replicas", sum_int(all, "status.replicas", 0)},
        {"updatedReplicas", x->new_rs ? ctl__int(x->new_rs, "status.replicas", 0) : 0},
        {"readyReplicas", sum_int(all, "status.readyReplicas", 0)},
        {"availableReplicas", available},
        {"unavailableReplicas", unavailable},
    };
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        if (fields[i].v != 0)
            json_object_set_new(status, fields[i].name, json_integer(fields[i].v));
    json_t *cc = json_object_get(old, "collisionCount");
    if (cc)
        json_object_set(status, "collisionCount", cc);
    json_t *conds = json_object_get(old, "conditions");
    if (json_is_array(conds))
        json_object_set_new(status, "conditions", json_deep_copy(conds));
    if (available >= x->replicas - max_unavailable(x))
        dcond_set(status, "Available", "True", "MinimumReplicasAvailable",
                  "Deployment has minimum availability.");
    else
        dcond_set(status, "Available", "False", "MinimumReplicasUnavailable",
                  "Deployment does not have minimum availability.");
    return status;
}

static bool deployment_complete(const struct dsync *x, const json_t *st)
{
    return ctl__int(st, "updatedReplicas", 0) == x->replicas &&
           ctl__int(st, "replicas", 0) == x->replicas &&
           ctl__int(st, "availableReplicas", 0) == x->replicas &&
           ctl__int(st, "observedGeneration", 0) >= ctl__int(x->d, "metadata.generation", 0);
}

static bool deployment_progressing(const json_t *old, const json_t *st)
{
    int64_t old_old = ctl__int(old, "replicas", 0) - ctl__int(old, "updatedReplicas", 0);
    int64_t new_old = ctl__int(st, "replicas", 0) - ctl__int(st, "updatedReplicas", 0);
    return ctl__int(st, "updatedReplicas", 0) > ctl__int(old, "updatedReplicas", 0) ||
           new_old < old_old ||
           ctl__int(st, "readyReplicas", 0) > ctl__int(old, "readyReplicas", 0) ||
           ctl__int(st, "availableReplicas", 0) > ctl__int(old, "availableReplicas", 0);
}

static bool deployment_timed_out(const json_t *d, const json_t *st)
{
    if (!has_progress_deadline(d))
        return false;
    json_t *c = ctl__condition(st, "Progressing");
    const char *reason = kjson_path_str(c, "reason");
    if (c == NULL || reason == NULL)
        return false;
    if (strcmp(reason, "NewReplicaSetAvailable") == 0)
        return false;
    if (strcmp(reason, "ProgressDeadlineExceeded") == 0)
        return true;
    time_t from = ctl__time(c, "lastUpdateTime");
    return from + progress_deadline(d) < time(NULL);
}

/* ReplicaFailure of the sets, surfaced on the deployment. */
static void replica_failures(struct dsync *x, json_t *status)
{
    _cleanup_json_ json_t *all = all_rss(x);
    size_t n = json_array_size(all);
    for (size_t k = 0; k < n; k++) {
        /* The new set first (it is last in all). */
        json_t *rs = json_array_get(all, n - 1 - k);
        json_t *c = ctl__condition(json_object_get(rs, "status"), "ReplicaFailure");
        const char *s = kjson_path_str(c, "status");
        if (s && strcmp(s, "True") == 0) {
            dcond_set(status, "ReplicaFailure", "True", kjson_path_str(c, "reason") ?: "",
                      kjson_path_str(c, "message") ?: "");
            return;
        }
    }
    ctl__condition_remove(status, "ReplicaFailure");
}

static void requeue_stuck(struct dsync *x, const json_t *st)
{
    json_t *c = ctl__condition(st, "Progressing");
    if (!has_progress_deadline(x->d) || c == NULL)
        return;
    const char *reason = kjson_path_str(c, "reason");
    if (deployment_complete(x, st) || (reason && strcmp(reason, "ProgressDeadlineExceeded") == 0))
        return;
    time_t at = ctl__time(c, "lastUpdateTime") + progress_deadline(x->d);
    time_t now = time(NULL);
    if (at - now < 1)
        workqueue_add(x->cc->queue, x->key);
    else
        workqueue_add_after(x->cc->queue, x->key, (unsigned)((at - now) * 1000 + 500));
}

static int sync_rollout_status(struct dsync *x, struct k8c_err **err)
{
    _cleanup_json_ json_t *st = calculate_status(x);
    json_t *old = kjson_path(x->d, "status");
    if (!has_progress_deadline(x->d))
        ctl__condition_remove(st, "Progressing");
    json_t *cur = ctl__condition(st, "Progressing");
    const char *cur_reason = kjson_path_str(cur, "reason");
    bool complete_already = ctl__int(st, "replicas", 0) == ctl__int(st, "updatedReplicas", 0) &&
                            cur_reason && strcmp(cur_reason, "NewReplicaSetAvailable") == 0;
    const char *rs_name = x->new_rs ? kjson_path_str(x->new_rs, "metadata.name") : NULL;
    if (has_progress_deadline(x->d) && !complete_already) {
        if (deployment_complete(x, st)) {
            _cleanup_free_ char *msg =
                rs_name ? xasprintf("ReplicaSet \"%s\" has successfully progressed.", rs_name)
                        : xasprintf("Deployment \"%s\" has successfully progressed.", x->name);
            dcond_set(st, "Progressing", "True", "NewReplicaSetAvailable", msg);
        } else if (deployment_progressing(old, st)) {
            _cleanup_free_ char *msg =
                rs_name ? xasprintf("ReplicaSet \"%s\" is progressing.", rs_name)
                        : xasprintf("Deployment \"%s\" is progressing.", x->name);
            /* Progress refreshes lastUpdateTime (the deadline restarts) but keeps a True
             * condition's lastTransitionTime. */
            const char *cs = kjson_path_str(cur, "status");
            _cleanup_free_ char *keep =
                cs && strcmp(cs, "True") == 0 && kjson_path_str(cur, "lastTransitionTime")
                    ? xstrdup(kjson_path_str(cur, "lastTransitionTime"))
                    : NULL;
            ctl__condition_remove(st, "Progressing");
            dcond_set(st, "Progressing", "True", "ReplicaSetUpdated", msg);
            if (keep)
                json_object_set_new(ctl__condition(st, "Progressing"), "lastTransitionTime",
                                    json_string(keep));
        } else if (deployment_timed_out(x->d, st)) {
            _cleanup_free_ char *msg =
                rs_name ? xasprintf("ReplicaSet \"%s\" has timed out progressing.", rs_name)
                        : xasprintf("Deployment \"%s\" has timed out progressing.", x->name);
            dcond_set(st, "Progressing", "False", "ProgressDeadlineExceeded", msg);
            ctl__event(x->ctl, x->d, "Warning", "ProgressDeadlineExceeded", "%s", msg);
        }
    }
    replica_failures(x, st);
    if (json_array_size(json_object_get(st, "conditions")) == 0)
        json_object_del(st, "conditions");
    if (json_equal(st, old)) {
        requeue_stuck(x, st);
        return 0;
    }
    if (write_status(x, st, err) < 0)
        return -1;
    requeue_stuck(x, st);
    return 0;
}

static int sync_status_only(struct dsync *x, struct k8c_err **err)
{
    _cleanup_json_ json_t *st = calculate_status(x);
    if (json_array_size(json_object_get(st, "conditions")) == 0)
        json_object_del(st, "conditions");
    if (json_equal(st, kjson_path(x->d, "status")))
        return 0;
    return write_status(x, st, err);
}

/* --- cleanup and scaling --- */

static int cleanup_history(struct dsync *x, struct k8c_err **err)
{
    int64_t limit = ctl__int(x->d, "spec.revisionHistoryLimit", DEFAULT_HISTORY_LIMIT);
    _cleanup_json_ json_t *cleanable = json_array();
    size_t i;
    json_t *rs;
    json_array_foreach (x->old_rss, i, rs) {
        if (!ctl__is_deleting(rs))
            json_array_append(cleanable, rs);
    }
    int64_t diff = (int64_t)json_array_size(cleanable) - limit;
    if (diff <= 0)
        return 0;
    ctl__json_array_sort(cleanable, cmp_revision);
    for (int64_t k = 0; k < diff; k++) {
        rs = json_array_get(cleanable, (size_t)k);
        if (ctl__int(rs, "status.replicas", 0) != 0 || rs_replicas(rs) != 0 ||
            ctl__int(rs, "metadata.generation", 0) > ctl__int(rs, "status.observedGeneration", 0))
            continue;
        _cleanup_free_ char *path =
            ctl__path(CTL_REPLICASETS, x->ns, kjson_path_str(rs, "metadata.name"), NULL);
        _cleanup_err_ struct k8c_err *derr = NULL;
        _cleanup_json_ json_t *out = client_delete(x->ctl->client, path, NULL, &derr);
        if (out == NULL && derr->reason != K8C_REASON_NOT_FOUND) {
            *err = steal_ptr(&derr);
            return -1;
        }
    }
    return 0;
}

/* FindActiveOrLatest: the only active set, or the newest when none is active. */
static json_t *active_or_latest(struct dsync *x)
{
    if (x->new_rs == NULL && json_array_size(x->old_rss) == 0)
        return NULL;
    _cleanup_json_ json_t *olds = json_copy(x->old_rss);
    ctl__json_array_sort(olds, cmp_created_desc);
    _cleanup_json_ json_t *all = all_rss(x);
    _cleanup_json_ json_t *active = active_rss(all);
    switch (json_array_size(active)) {
    case 0:
        return x->new_rs                       ? x->new_rs
               : json_array_get(x->old_rss, 0) ? json_array_get(olds, 0)
                                               : NULL;
    case 1: return json_array_get(active, 0);
    default: return NULL;
    }
}

/* Returns the object in x's arrays that is the same set as rs (by name). */
static json_t *find_live(struct dsync *x, const json_t *rs)
{
    const char *name = kjson_path_str(rs, "metadata.name");
    if (x->new_rs && strcmp(kjson_path_str(x->new_rs, "metadata.name"), name) == 0)
        return x->new_rs;
    size_t i;
    json_t *o;
    json_array_foreach (x->old_rss, i, o) {
        if (strcmp(kjson_path_str(o, "metadata.name"), name) == 0)
            return o;
    }
    return NULL;
}

static bool is_saturated(struct dsync *x)
{
    if (x->new_rs == NULL)
        return false;
    bool ok;
    int64_t desired = ann_int(x->new_rs, ANN_DESIRED, &ok);
    return ok && desired == x->replicas && rs_replicas(x->new_rs) == x->replicas &&
           ctl__int(x->new_rs, "status.availableReplicas", 0) == x->replicas;
}

/* scale(): a resize of the deployment, spread over its sets in proportion mid-rollout. */
static int scale_deployment(struct dsync *x, struct k8c_err **err)
{
    json_t *aol = active_or_latest(x);
    if (aol != NULL) {
        if (rs_replicas(aol) == x->replicas)
            return 0;
        return scale_in_place(x, find_live(x, aol), x->replicas, NULL, err);
    }
    if (is_saturated(x)) {
        _cleanup_json_ json_t *olds = active_rss(x->old_rss);
        size_t i;
        json_t *rs;
        json_array_foreach (olds, i, rs) {
            if (scale_in_place(x, find_live(x, rs), 0, NULL, err) < 0)
                return -1;
        }
        return 0;
    }
    if (is_recreate(x->d))
        return 0;
    _cleanup_json_ json_t *all = all_rss(x);
    _cleanup_json_ json_t *active = active_rss(all);
    int64_t current = sum_int(active, "spec.replicas", 1);
    int64_t allowed = x->replicas > 0 ? x->replicas + x->surge : x->replicas;
    int64_t to_add = allowed - current;
    if (to_add > 0)
        ctl__json_array_sort(active, cmp_size_newer);
    else if (to_add < 0)
        ctl__json_array_sort(active, cmp_size_older);
    size_t n = json_array_size(active);
    int64_t *sizes = xcalloc(n ? n : 1, sizeof(int64_t));
    int64_t added = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *rs = json_array_get(active, i);
        sizes[i] = rs_replicas(rs);
        if (to_add != 0) {
            bool ok;
            int64_t annotated = ann_int(rs, ANN_MAX, &ok);
            if (!ok)
                annotated = ctl__int(x->d, "status.replicas", 0);
            int64_t p = ctl__proportion(sizes[i], x->replicas, x->surge, annotated, to_add, added);
            sizes[i] += p;
            added += p;
        }
    }
    if (n > 0 && added != to_add) {
        sizes[0] += to_add - added;
        if (sizes[0] < 0)
            sizes[0] = 0;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = scale_in_place(x, find_live(x, json_array_get(active, i)), sizes[i], NULL, err);
    free(sizes);
    return rc;
}

static bool is_scaling_event(struct dsync *x)
{
    _cleanup_json_ json_t *all = all_rss(x);
    _cleanup_json_ json_t *active = active_rss(all);
    size_t i;
    json_t *rs;
    json_array_foreach (active, i, rs) {
        bool ok;
        int64_t desired = ann_int(rs, ANN_DESIRED, &ok);
        if (ok && desired != x->replicas)
            return true;
    }
    return false;
}

/* --- RollingUpdate --- */

static int reconcile_new(struct dsync *x, bool *scaled, struct k8c_err **err)
{
    *scaled = false;
    int64_t cur = rs_replicas(x->new_rs);
    if (cur == x->replicas)
        return 0;
    if (cur > x->replicas)
        return scale_in_place(x, x->new_rs, x->replicas, scaled, err);
    _cleanup_json_ json_t *all = all_rss(x);
    int64_t size =
        ctl__rolling_new_replicas(x->replicas, x->surge, sum_int(all, "spec.replicas", 1), cur);
    return scale_in_place(x, x->new_rs, size, scaled, err);
}

static int reconcile_old(struct dsync *x, bool *scaled, struct k8c_err **err)
{
    *scaled = false;
    int64_t old_count = sum_int(x->old_rss, "spec.replicas", 1);
    if (old_count == 0)
        return 0;
    _cleanup_json_ json_t *all = all_rss(x);
    int64_t all_count = sum_int(all, "spec.replicas", 1);
    int64_t max_down =
        ctl__rolling_max_scale_down(x->replicas, x->unavailable, all_count, rs_replicas(x->new_rs),
                                    ctl__int(x->new_rs, "status.availableReplicas", 0));
    if (max_down <= 0)
        return 0;
    /* First the unhealthy replicas of old sets: they cost no availability. */
    _cleanup_json_ json_t *olds = json_copy(x->old_rss);
    ctl__json_array_sort(olds, cmp_created);
    int64_t cleaned = 0;
    size_t i;
    json_t *rs;
    json_array_foreach (olds, i, rs) {
        if (cleaned >= max_down)
            break;
        int64_t r = rs_replicas(rs);
        int64_t avail = ctl__int(rs, "status.availableReplicas", 0);
        if (r == 0 || r == avail)
            continue;
        int64_t down = max_down - cleaned < r - avail ? max_down - cleaned : r - avail;
        bool s = false;
        if (scale_in_place(x, find_live(x, rs), r - down, &s, err) < 0)
            return -1;
        cleaned += down;
        *scaled |= s;
    }
    /* Then as many healthy ones as keep replicas - maxUnavailable available. */
    json_decref(all);
    all = all_rss(x);
    int64_t min_available = x->replicas - x->unavailable;
    int64_t available = sum_int(all, "status.availableReplicas", 0);
    if (available > min_available) {
        int64_t total_down = available - min_available, done = 0;
        json_decref(olds);
        olds = json_copy(x->old_rss);
        ctl__json_array_sort(olds, cmp_created);
        json_array_foreach (olds, i, rs) {
            if (done >= total_down)
                break;
            int64_t r = rs_replicas(rs);
            if (r == 0)
                continue;
            int64_t down = r < total_down - done ? r : total_down - done;
            bool s = false;
            if (scale_in_place(x, find_live(x, rs), r - down, &s, err) < 0)
                return -1;
            done += down;
            *scaled |= s;
        }
    }
    return 0;
}

static int rollout_rolling(struct dsync *x, struct k8c_err **err)
{
    if (sync_revision(x, true, err) < 0)
        return -1;
    bool scaled = false;
    if (reconcile_new(x, &scaled, err) < 0)
        return -1;
    if (scaled)
        return sync_rollout_status(x, err);
    if (reconcile_old(x, &scaled, err) < 0)
        return -1;
    if (scaled)
        return sync_rollout_status(x, err);
    _cleanup_json_ json_t *probe = calculate_status(x);
    if (deployment_complete(x, probe) && cleanup_history(x, err) < 0)
        return -1;
    return sync_rollout_status(x, err);
}

/* --- Recreate --- */

/* Whether any pod of an old set may still run. */
static bool old_pods_running(struct dsync *x)
{
    if (sum_int(x->old_rss, "status.replicas", 0) > 0)
        return true;
    _cleanup_json_ json_t *pods = ctl__list(x->ctl, CTL_PODS, x->ns);
    size_t i, j;
    json_t *pod, *rs;
    json_array_foreach (pods, i, pod) {
        json_t *ref = ctl__controller_ref(pod);
        const char *ruid = kjson_path_str(ref, "uid");
        if (ruid == NULL || ctl__pod_terminal(pod))
            continue;
        json_array_foreach (x->old_rss, j, rs) {
            const char *uid = kjson_path_str(rs, "metadata.uid");
            if (uid && strcmp(uid, ruid) == 0)
                return true;
        }
    }
    return false;
}

static int rollout_recreate(struct dsync *x, struct k8c_err **err)
{
    if (sync_revision(x, false, err) < 0)
        return -1;
    bool scaled_down = false;
    _cleanup_json_ json_t *active = active_rss(x->old_rss);
    size_t i;
    json_t *rs;
    json_array_foreach (active, i, rs) {
        bool s = false;
        if (scale_in_place(x, find_live(x, rs), 0, &s, err) < 0)
            return -1;
        scaled_down |= s;
    }
    if (scaled_down || old_pods_running(x))
        return sync_rollout_status(x, err);
    if (x->new_rs == NULL && sync_revision(x, true, err) < 0)
        return -1;
    if (x->new_rs != NULL && rs_replicas(x->new_rs) != x->replicas &&
        scale_in_place(x, x->new_rs, x->replicas, NULL, err) < 0)
        return -1;
    _cleanup_json_ json_t *probe = calculate_status(x);
    if (deployment_complete(x, probe) && cleanup_history(x, err) < 0)
        return -1;
    return sync_rollout_status(x, err);
}

/* --- sync --- */

static int check_paused(struct dsync *x, struct k8c_err **err)
{
    if (!has_progress_deadline(x->d))
        return 0;
    json_t *status = kjson_object_ensure(x->d, "status");
    json_t *c = ctl__condition(status, "Progressing");
    const char *reason = kjson_path_str(c, "reason");
    if (reason && strcmp(reason, "ProgressDeadlineExceeded") == 0)
        return 0;
    bool paused = json_is_true(kjson_path(x->d, "spec.paused"));
    bool paused_cond = reason && strcmp(reason, "DeploymentPaused") == 0;
    _cleanup_json_ json_t *st = json_deep_copy(status);
    if (paused && !paused_cond)
        dcond_set(st, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused");
    else if (!paused && paused_cond)
        dcond_set(st, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed");
    else
        return 0;
    return write_status(x, st, err);
}

static int deployment_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    _cleanup_json_ json_t *cached = ctl__get(ctl, CTL_DEPLOYMENTS, key);
    if (cached == NULL)
        return 0;
    struct dsync x = {.cc = cc, .ctl = ctl, .key = key, .d = json_deep_copy(cached)};
    x.ns = kjson_path_str(cached, "metadata.namespace");
    x.name = kjson_path_str(cached, "metadata.name");
    x.replicas = ctl__int(x.d, "spec.replicas", 1);
    ctl__fenceposts(x.d, &x.surge, &x.unavailable);
    if (is_recreate(x.d))
        x.surge = 0;
    int rc = 0;
    json_t *selector = kjson_path(x.d, "spec.selector");
    if (json_is_object(selector) && json_object_size(selector) == 0) {
        /* An empty selector would select every pod of the namespace: refuse to act. */
        ctl__event(ctl, x.d, "Warning", "SelectingAll",
                   "This deployment is selecting all pods. A non-empty selector is required.");
        json_t *status = kjson_object_ensure(x.d, "status");
        int64_t gen = ctl__int(x.d, "metadata.generation", 0);
        if (ctl__int(status, "observedGeneration", 0) < gen) {
            _cleanup_json_ json_t *st = json_deep_copy(status);
            json_object_set_new(st, "observedGeneration", json_integer(gen));
            rc = write_status(&x, st, err);
        }
        json_decref(x.d);
        return rc;
    }
    if (!json_is_object(kjson_path(x.d, "spec.template")) ||
        !json_is_object(kjson_path(x.d, "spec.template.spec"))) {
        /* Validation normally refuses this; never loop on it. A spec change re-enqueues. */
        ctl__event(ctl, x.d, "Warning", "InvalidTemplate",
                   "Deployment %s has no pod template: nothing to roll out", x.name);
        json_decref(x.d);
        return 0;
    }
    _cleanup_json_ json_t *sets = ctl__list(ctl, CTL_REPLICASETS, x.ns);
    _cleanup_json_ json_t *owned =
        ctl__claim(ctl, x.d, "apps/v1", "Deployment", selector, sets, CTL_REPLICASETS);
    split_sets(&x, owned);

    if (ctl__is_deleting(x.d)) {
        rc = sync_status_only(&x, err);
        goto out;
    }
    if ((rc = check_paused(&x, err)) < 0)
        goto out;
    if (json_is_true(kjson_path(x.d, "spec.paused")) || is_scaling_event(&x)) {
        /* sync(): resize only; a paused deployment also trims its history. */
        if ((rc = sync_revision(&x, false, err)) < 0)
            goto out;
        if ((rc = scale_deployment(&x, err)) < 0)
            goto out;
        if (json_is_true(kjson_path(x.d, "spec.paused")) && (rc = cleanup_history(&x, err)) < 0)
            goto out;
        rc = sync_status_only(&x, err);
        goto out;
    }
    rc = is_recreate(x.d) ? rollout_recreate(&x, err) : rollout_rolling(&x, err);
out:
    json_decref(x.d);
    json_decref(x.new_rs);
    json_decref(x.old_rss);
    return rc;
}

/* --- event handlers --- */

static char *owner_deployment(struct ctl *ctl, const json_t *rs)
{
    json_t *ref = ctl__controller_ref(rs);
    const char *kind = kjson_path_str(ref, "kind");
    if (kind == NULL || strcmp(kind, "Deployment") != 0)
        return NULL;
    _cleanup_free_ char *key = xasprintf("%s/%s", kjson_path_str(rs, "metadata.namespace") ?: "",
                                         kjson_path_str(ref, "name") ?: "");
    _cleanup_json_ json_t *d = ctl__get(ctl, CTL_DEPLOYMENTS, key);
    const char *uid = kjson_path_str(d, "metadata.uid");
    const char *ruid = kjson_path_str(ref, "uid");
    if (uid == NULL || ruid == NULL || strcmp(uid, ruid) != 0)
        return NULL;
    return steal_ptr(&key);
}

static void enqueue_matching(struct ctl_controller *cc, const json_t *rs)
{
    _cleanup_json_ json_t *ds =
        ctl__list(cc->ctl, CTL_DEPLOYMENTS, kjson_path_str(rs, "metadata.namespace"));
    size_t i;
    json_t *d;
    json_array_foreach (ds, i, d) {
        if (ctl__selector_matches(kjson_path(d, "spec.selector"),
                                  kjson_path(rs, "metadata.labels")))
            ctl__enqueue_obj(cc, d);
    }
}

static void on_rs_add(struct ctl *ctl, json_t *rs, void *opaque)
{
    struct ctl_controller *cc = opaque;
    if (ctl__controller_ref(rs) == NULL) {
        enqueue_matching(cc, rs);
        return;
    }
    _cleanup_free_ char *key = owner_deployment(ctl, rs);
    if (key)
        workqueue_add(cc->queue, key);
}

static void on_rs_update(struct ctl *ctl, json_t *old_rs, json_t *rs, void *opaque)
{
    struct ctl_controller *cc = opaque;
    _cleanup_free_ char *old_key = owner_deployment(ctl, old_rs);
    _cleanup_free_ char *key = owner_deployment(ctl, rs);
    if (old_key && (key == NULL || strcmp(old_key, key) != 0))
        workqueue_add(cc->queue, old_key);
    if (key) {
        workqueue_add(cc->queue, key);
        return;
    }
    if (ctl__controller_ref(rs) == NULL)
        enqueue_matching(cc, rs);
}

static void on_rs_delete(struct ctl *ctl, json_t *rs, void *opaque)
{
    _cleanup_free_ char *key = owner_deployment(ctl, rs);
    if (key)
        workqueue_add(((struct ctl_controller *)opaque)->queue, key);
}

/* Recreate waits for the old pods to be gone: a pod deletion may unblock it. */
static void on_pod_delete(struct ctl *ctl, json_t *pod, void *opaque)
{
    json_t *ref = ctl__controller_ref(pod);
    const char *kind = kjson_path_str(ref, "kind");
    if (kind == NULL || strcmp(kind, "ReplicaSet") != 0)
        return;
    _cleanup_free_ char *rs_key =
        xasprintf("%s/%s", kjson_path_str(pod, "metadata.namespace") ?: "",
                  kjson_path_str(ref, "name") ?: "");
    _cleanup_json_ json_t *rs = ctl__get(ctl, CTL_REPLICASETS, rs_key);
    if (rs == NULL)
        return;
    _cleanup_free_ char *key = owner_deployment(ctl, rs);
    if (key == NULL)
        return;
    _cleanup_json_ json_t *d = ctl__get(ctl, CTL_DEPLOYMENTS, key);
    if (d && is_recreate(d))
        workqueue_add(((struct ctl_controller *)opaque)->queue, key);
}

void ctl__deployment_setup(struct ctl *ctl)
{
    struct ctl_controller *cc = ctl__controller_new(ctl, "deployment", deployment_sync, NULL, NULL);
    struct ctl_listener ds = {ctl__on_enqueue, ctl__on_enqueue_update, ctl__on_enqueue, cc};
    struct ctl_listener rss = {on_rs_add, on_rs_update, on_rs_delete, cc};
    struct ctl_listener pods = {NULL, NULL, on_pod_delete, cc};
    ctl__listen(ctl, CTL_DEPLOYMENTS, &ds);
    ctl__listen(ctl, CTL_REPLICASETS, &rss);
    ctl__listen(ctl, CTL_PODS, &pods);
}
