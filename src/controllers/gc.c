/* The garbage collector: an ownerReferences graph over every watched resource (uid -> object,
 * owner uid -> dependents). A dependent whose owners are all gone is deleted (Background, or
 * what its own finalizers ask); owners deleted with propagationPolicy Foreground (the API
 * server adds the foregroundDeletion finalizer) get their dependents deleted first and lose
 * the finalizer once no dependent with blockOwnerDeletion remains; owners deleted with Orphan
 * (the orphan finalizer) get their dependents' references removed, then lose the finalizer.
 * As Kubernetes' garbagecollector, an owner missing from the caches is confirmed with a live
 * GET before anything is deleted. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/kinds.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

#define FIN_ORPHAN "orphan"
#define FIN_FOREGROUND "foregroundDeletion"

struct gc_listener {
    struct ctl_controller *cc;
    enum ctl_res res;
};

struct gc_state {
    pthread_mutex_t lock;
    json_t *uids; /* uid -> "res|ns/name" */
    json_t *deps; /* owner uid -> {dependent uid: "res|ns/name"} */
    struct gc_listener listeners[CTL_RES_COUNT];
};

static void gc_state_free(void *opaque)
{
    struct gc_state *st = opaque;
    json_decref(st->uids);
    json_decref(st->deps);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static bool has_finalizer(const json_t *obj, const char *f)
{
    size_t i;
    json_t *v;
    json_array_foreach (kjson_path(obj, "metadata.finalizers"), i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), f) == 0)
            return true;
    }
    return false;
}

static char *node_id(enum ctl_res res, const json_t *obj)
{
    _cleanup_free_ char *key = informer_key_of(obj);
    return key ? xasprintf("%d|%s", (int)res, key) : NULL;
}

static void enqueue(struct ctl_controller *cc, char kind, const char *id)
{
    _cleanup_free_ char *qkey = xasprintf("%c|%s", kind, id);
    workqueue_add(cc->queue, qkey);
}

/* Updates the graph for obj (NULL old for an add, NULL obj for a delete). */
static void index_obj(struct gc_state *st, const char *id, const json_t *old, const json_t *obj)
{
    const json_t *any = obj ? obj : old;
    const char *uid = kjson_path_str(any, "metadata.uid");
    if (uid == NULL)
        return;
    size_t i;
    json_t *ref;
    json_array_foreach (kjson_path(old, "metadata.ownerReferences"), i, ref) {
        const char *ouid = kjson_path_str(ref, "uid");
        json_t *set = ouid ? json_object_get(st->deps, ouid) : NULL;
        if (set) {
            json_object_del(set, uid);
            if (json_object_size(set) == 0)
                json_object_del(st->deps, ouid);
        }
    }
    if (obj == NULL) {
        json_object_del(st->uids, uid);
        return;
    }
    json_object_set_new(st->uids, uid, json_string(id));
    json_array_foreach (kjson_path(obj, "metadata.ownerReferences"), i, ref) {
        const char *ouid = kjson_path_str(ref, "uid");
        if (ouid == NULL)
            continue;
        json_t *set = json_object_get(st->deps, ouid);
        if (set == NULL) {
            set = json_object();
            json_object_set_new(st->deps, ouid, set);
        }
        json_object_set_new(set, uid, json_string(id));
    }
}

static void on_change(struct gc_listener *l, const json_t *old, const json_t *obj)
{
    struct ctl_controller *cc = l->cc;
    struct gc_state *st = cc->state;
    _cleanup_free_ char *id = node_id(l->res, obj ? obj : old);
    if (id == NULL)
        return;
    pthread_mutex_lock(&st->lock);
    index_obj(st, id, old, obj);
    json_t *dependents = NULL;
    if (obj == NULL) {
        const char *uid = kjson_path_str(old, "metadata.uid");
        dependents = json_deep_copy(uid ? json_object_get(st->deps, uid) : NULL);
    }
    pthread_mutex_unlock(&st->lock);
    if (obj != NULL) {
        bool refs_changed = old == NULL || !json_equal(kjson_path(old, "metadata.ownerReferences"),
                                                       kjson_path(obj, "metadata.ownerReferences"));
        if (refs_changed && json_array_size(kjson_path(obj, "metadata.ownerReferences")) > 0)
            enqueue(cc, 'a', id);
        if (ctl__is_deleting(obj) &&
            (has_finalizer(obj, FIN_ORPHAN) || has_finalizer(obj, FIN_FOREGROUND)))
            enqueue(cc, 'o', id);
        return;
    }
    /* Gone: its dependents may now be orphans, and an owner waiting for it may finish. */
    const char *duid;
    json_t *did;
    json_object_foreach (dependents, duid, did) {
        enqueue(cc, 'a', json_string_value(did));
    }
    json_decref(dependents);
    size_t i;
    json_t *ref;
    json_array_foreach (kjson_path(old, "metadata.ownerReferences"), i, ref) {
        const char *ouid = kjson_path_str(ref, "uid");
        pthread_mutex_lock(&st->lock);
        const char *oid = ouid ? json_string_value(json_object_get(st->uids, ouid)) : NULL;
        _cleanup_free_ char *owner_id = oid ? xstrdup(oid) : NULL;
        pthread_mutex_unlock(&st->lock);
        if (owner_id)
            enqueue(cc, 'o', owner_id);
    }
}

static void on_add(struct ctl *ctl, json_t *obj, void *opaque)
{
    on_change(opaque, NULL, obj);
}

static void on_update(struct ctl *ctl, json_t *old, json_t *obj, void *opaque)
{
    on_change(opaque, old, obj);
}

static void on_delete(struct ctl *ctl, json_t *obj, void *opaque)
{
    on_change(opaque, obj, NULL);
}

/* The cached object of a node id "res|ns/name" (new reference) and its resource. */
static json_t *lookup(struct ctl *ctl, const char *id, enum ctl_res *res)
{
    char *bar = strchr(id, '|');
    if (bar == NULL)
        return NULL;
    int r = atoi(id);
    if (r < 0 || r >= CTL_RES_COUNT)
        return NULL;
    if (res)
        *res = (enum ctl_res)r;
    return ctl__get(ctl, (enum ctl_res)r, bar + 1);
}

static char *object_path(enum ctl_res res, const json_t *obj)
{
    return ctl__path(res, kjson_path_str(obj, "metadata.namespace"),
                     kjson_path_str(obj, "metadata.name"), NULL);
}

/* The owner named by ref, as far as the API knows: 1 exists (*owner set), 0 gone, -1 error. */
static int find_owner(struct ctl_controller *cc, const json_t *dependent, const json_t *ref,
                      json_t **owner, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    struct gc_state *st = cc->state;
    const char *ouid = kjson_path_str(ref, "uid");
    /* In the caches with that uid: it exists. */
    pthread_mutex_lock(&st->lock);
    const char *cid = ouid ? json_string_value(json_object_get(st->uids, ouid)) : NULL;
    _cleanup_free_ char *id = cid ? xstrdup(cid) : NULL;
    pthread_mutex_unlock(&st->lock);
    if (id != NULL) {
        json_t *cached = lookup(ctl, id, NULL);
        const char *cuid = kjson_path_str(cached, "metadata.uid");
        if (cuid && strcmp(cuid, ouid) == 0) {
            *owner = cached;
            return 1;
        }
        json_decref(cached);
    }
    const char *api_version = kjson_path_str(ref, "apiVersion");
    const char *kind = kjson_path_str(ref, "kind");
    const char *name = kjson_path_str(ref, "name");
    if (ouid == NULL || api_version == NULL || kind == NULL || name == NULL)
        return 0;
    const struct api_kind *k = api_kind_by_gvk(api_version, kind);
    if (k == NULL)
        return 1; /* a kind this server does not serve: never collect on its account */
    const char *ns = k->namespaced ? kjson_path_str(dependent, "metadata.namespace") : NULL;
    _cleanup_free_ char *path = ctl__path_gvk(api_version, kind, ns, name);
    _cleanup_err_ struct k8c_err *gerr = NULL;
    json_t *live = client_get(ctl->client, path, &gerr);
    if (live == NULL) {
        if (gerr->reason == K8C_REASON_NOT_FOUND)
            return 0;
        *err = steal_ptr(&gerr);
        return -1;
    }
    const char *uid = kjson_path_str(live, "metadata.uid");
    if (uid == NULL || strcmp(uid, ouid) != 0) {
        json_decref(live);
        return 0;
    }
    *owner = live;
    return 1;
}

static int patch_refs_without(struct ctl *ctl, enum ctl_res res, const json_t *obj,
                              const json_t *drop_uids, struct k8c_err **err)
{
    _cleanup_json_ json_t *refs = json_array();
    size_t i;
    json_t *ref;
    json_array_foreach (kjson_path(obj, "metadata.ownerReferences"), i, ref) {
        const char *u = kjson_path_str(ref, "uid");
        if (u == NULL || json_object_get(drop_uids, u) == NULL)
            json_array_append(refs, ref);
    }
    _cleanup_json_ json_t *patch = json_pack(
        "{s:{s:O,s:s}}", "metadata", "ownerReferences", json_array_size(refs) ? refs : json_null(),
        "resourceVersion", kjson_path_str(obj, "metadata.resourceVersion") ?: "");
    _cleanup_free_ char *path = object_path(res, obj);
    _cleanup_err_ struct k8c_err *perr = NULL;
    _cleanup_json_ json_t *out = client_patch(ctl->client, path, "merge", patch, &perr);
    if (out == NULL && perr->reason != K8C_REASON_NOT_FOUND) {
        *err = steal_ptr(&perr);
        return -1;
    }
    return 0;
}

static int delete_with(struct ctl *ctl, enum ctl_res res, const json_t *obj, const char *policy,
                       struct k8c_err **err)
{
    _cleanup_json_ json_t *opts = json_pack(
        "{s:s,s:s,s:s,s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1", "propagationPolicy",
        policy, "preconditions", "uid", kjson_path_str(obj, "metadata.uid") ?: "");
    _cleanup_free_ char *path = object_path(res, obj);
    _cleanup_err_ struct k8c_err *derr = NULL;
    _cleanup_json_ json_t *out = client_delete(ctl->client, path, opts, &derr);
    if (out == NULL && derr->reason != K8C_REASON_NOT_FOUND &&
        derr->reason != K8C_REASON_CONFLICT) {
        *err = steal_ptr(&derr);
        return -1;
    }
    LOG_DEBUG("gc deleted %s policy=%s", path, policy);
    return 0;
}

/* attemptToDelete: one dependent, judged by its owners. */
static int attempt(struct ctl_controller *cc, const char *id, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    struct gc_state *st = cc->state;
    enum ctl_res res;
    _cleanup_json_ json_t *obj = lookup(ctl, id, &res);
    if (obj == NULL)
        return 0;
    if (ctl__is_deleting(obj) && !has_finalizer(obj, FIN_FOREGROUND))
        return 0;
    json_t *refs = kjson_path(obj, "metadata.ownerReferences");
    if (json_array_size(refs) == 0)
        return 0;
    size_t solid = 0;
    _cleanup_json_ json_t *drop = json_object(); /* dangling and waiting owners' uids */
    size_t dangling = 0, waiting = 0;
    size_t i;
    json_t *ref;
    json_array_foreach (refs, i, ref) {
        json_t *owner = NULL;
        const char *ouid = kjson_path_str(ref, "uid");
        int found = find_owner(cc, obj, ref, &owner, err);
        if (found < 0)
            return -1;
        if (found == 0) {
            dangling++;
            if (ouid)
                json_object_set_new(drop, ouid, json_true());
            continue;
        }
        bool wait = owner && ctl__is_deleting(owner) && has_finalizer(owner, FIN_FOREGROUND);
        json_decref(owner);
        if (wait) {
            waiting++;
            if (ouid)
                json_object_set_new(drop, ouid, json_true());
        } else {
            solid++;
        }
    }
    if (solid > 0) {
        if (dangling + waiting == 0)
            return 0;
        return patch_refs_without(ctl, res, obj, drop, err);
    }
    const char *uid = kjson_path_str(obj, "metadata.uid");
    pthread_mutex_lock(&st->lock);
    bool has_dependents = uid && json_object_size(json_object_get(st->deps, uid)) > 0;
    pthread_mutex_unlock(&st->lock);
    if (ctl__is_deleting(obj))
        return 0; /* already deleting its own dependents in the foreground */
    const char *policy = "Background";
    if (waiting > 0 && has_dependents)
        policy = "Foreground";
    else if (has_finalizer(obj, FIN_ORPHAN))
        policy = "Orphan";
    else if (has_finalizer(obj, FIN_FOREGROUND))
        policy = "Foreground";
    return delete_with(ctl, res, obj, policy, err);
}

static int remove_finalizer(struct ctl *ctl, enum ctl_res res, const json_t *obj, const char *fin,
                            struct k8c_err **err)
{
    _cleanup_json_ json_t *fins = json_array();
    size_t i;
    json_t *v;
    json_array_foreach (kjson_path(obj, "metadata.finalizers"), i, v) {
        if (!json_is_string(v) || strcmp(json_string_value(v), fin) != 0)
            json_array_append(fins, v);
    }
    _cleanup_json_ json_t *patch = json_pack(
        "{s:{s:O,s:s}}", "metadata", "finalizers", json_array_size(fins) ? fins : json_null(),
        "resourceVersion", kjson_path_str(obj, "metadata.resourceVersion") ?: "");
    _cleanup_free_ char *path = object_path(res, obj);
    _cleanup_err_ struct k8c_err *perr = NULL;
    _cleanup_json_ json_t *out = client_patch(ctl->client, path, "merge", patch, &perr);
    if (out == NULL && perr->reason != K8C_REASON_NOT_FOUND) {
        *err = steal_ptr(&perr);
        return -1;
    }
    return 0;
}

/* An owner being deleted with the orphan or foregroundDeletion finalizer. */
static int process_owner(struct ctl_controller *cc, const char *id, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    struct gc_state *st = cc->state;
    enum ctl_res res;
    _cleanup_json_ json_t *obj = lookup(ctl, id, &res);
    if (obj == NULL || !ctl__is_deleting(obj))
        return 0;
    const char *uid = kjson_path_str(obj, "metadata.uid");
    if (uid == NULL)
        return 0;
    pthread_mutex_lock(&st->lock);
    _cleanup_json_ json_t *deps = json_deep_copy(json_object_get(st->deps, uid));
    pthread_mutex_unlock(&st->lock);
    if (has_finalizer(obj, FIN_ORPHAN)) {
        _cleanup_json_ json_t *drop = json_pack("{s:b}", uid, 1);
        const char *duid;
        json_t *did;
        json_object_foreach (deps, duid, did) {
            enum ctl_res dres;
            _cleanup_json_ json_t *dep = lookup(ctl, json_string_value(did), &dres);
            if (dep && patch_refs_without(ctl, dres, dep, drop, err) < 0)
                return -1;
        }
        return remove_finalizer(ctl, res, obj, FIN_ORPHAN, err);
    }
    if (!has_finalizer(obj, FIN_FOREGROUND))
        return 0;
    size_t blocking = 0;
    const char *duid;
    json_t *did;
    json_object_foreach (deps, duid, did) {
        enum ctl_res dres;
        _cleanup_json_ json_t *dep = lookup(ctl, json_string_value(did), &dres);
        if (dep == NULL)
            continue;
        size_t i;
        json_t *ref;
        json_array_foreach (kjson_path(dep, "metadata.ownerReferences"), i, ref) {
            const char *ouid = kjson_path_str(ref, "uid");
            if (ouid && strcmp(ouid, uid) == 0 &&
                json_is_true(json_object_get(ref, "blockOwnerDeletion")))
                blocking++;
        }
        if (!ctl__is_deleting(dep))
            enqueue(cc, 'a', json_string_value(did));
    }
    if (blocking > 0)
        return 0; /* their deletions bring this owner back */
    return remove_finalizer(ctl, res, obj, FIN_FOREGROUND, err);
}

static int gc_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    if (key[0] == 'a' && key[1] == '|')
        return attempt(cc, key + 2, err);
    if (key[0] == 'o' && key[1] == '|')
        return process_owner(cc, key + 2, err);
    return 0;
}

void ctl__gc_setup(struct ctl *ctl)
{
    struct gc_state *st = xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    st->uids = json_object();
    st->deps = json_object();
    struct ctl_controller *cc =
        ctl__controller_new(ctl, "garbagecollector", gc_sync, st, gc_state_free);
    for (int r = 0; r < CTL_RES_COUNT; r++) {
        st->listeners[r].cc = cc;
        st->listeners[r].res = (enum ctl_res)r;
        struct ctl_listener l = {on_add, on_update, on_delete, &st->listeners[r]};
        ctl__listen(ctl, (enum ctl_res)r, &l);
    }
}
