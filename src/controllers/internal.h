/* What the controllers share inside src/controllers: the shared informers (one per resource,
 * fanned out to every controller that listens), the controller loop (a work queue and its
 * workers), expectations, and helpers over pods, owner references and conditions. */
#ifndef K8C_CONTROLLERS_INTERNAL_H
#define K8C_CONTROLLERS_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"
#include "client/client.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "controllers/controllers.h"

/* The resources some controller watches. */
enum ctl_res {
    CTL_PODS,
    CTL_REPLICASETS,
    CTL_DEPLOYMENTS,
    CTL_SERVICES,
    CTL_ENDPOINTS,
    CTL_ENDPOINTSLICES,
    CTL_NAMESPACES,
    CTL_SERVICEACCOUNTS,
    CTL_NODES,
    CTL_NODE_LEASES,
    CTL_CONFIGMAPS,
    CTL_SECRETS,
    CTL_STATEFULSETS,
    CTL_DAEMONSETS,
    CTL_JOBS,
    CTL_CRONJOBS,
    CTL_CONTROLLERREVISIONS,
    CTL_PVCS,
    CTL_RES_COUNT
};

struct ctl_resource {
    const char *api_version; /* "v1", "apps/v1" */
    const char *kind;        /* "Pod" */
    const char *resource;    /* "pods" */
    bool namespaced;
    const char *only_namespace; /* watch this namespace only (node leases), or NULL */
};
extern const struct ctl_resource ctl__resources[CTL_RES_COUNT];

struct ctl;

/* A controller's interest in one resource; each callback may be NULL. Objects are borrowed
 * and read-only. Called on the informer's thread: keep them short (enqueue keys). */
struct ctl_listener {
    void (*on_add)(struct ctl *ctl, json_t *obj, void *opaque);
    void (*on_update)(struct ctl *ctl, json_t *old_obj, json_t *new_obj, void *opaque);
    void (*on_delete)(struct ctl *ctl, json_t *obj, void *opaque);
    void *opaque;
};

#define CTL_MAX_LISTENERS 8
#define CTL_MAX_CONTROLLERS 16

struct ctl_shared {
    struct ctl *ctl;
    enum ctl_res res;
    struct informer *inf; /* NULL when nobody listens */
    struct ctl_listener listeners[CTL_MAX_LISTENERS];
    size_t n_listeners;
};

struct ctl_controller;
/* Reconciles one key. Returns 0 (done: the key's back-off is reset) or -1 with *err (the
 * key comes back after its back-off). */
typedef int (*ctl_sync_fn)(struct ctl_controller *cc, const char *key, struct k8c_err **err);
/* Periodic work (node monitor, pod GC), on the controller's own thread. */
typedef void (*ctl_tick_fn)(struct ctl_controller *cc);

struct ctl_controller {
    const char *name;
    struct ctl *ctl;
    struct workqueue *queue;
    ctl_sync_fn sync;
    ctl_tick_fn tick;
    unsigned tick_ms;
    void *state;
    void (*state_free)(void *state);
    unsigned n_threads;
    pthread_t *threads;
    pthread_t tick_thread;
    bool tick_started;
};

struct ctl {
    struct client *client;
    struct controllers_options opts;
    atomic_bool stopping;
    pthread_mutex_t tick_lock;
    pthread_cond_t tick_cond;
    struct ctl_shared shared[CTL_RES_COUNT];
    struct ctl_controller *controllers[CTL_MAX_CONTROLLERS];
    size_t n_controllers;
};

/* --- manager.c --- */
/* Registers a listener on res (before the informers start). */
void ctl__listen(struct ctl *ctl, enum ctl_res res, const struct ctl_listener *l);
/* Makes a controller with its queue; the manager starts opts->workers threads for it when
 * sync is set, and a ticking thread when tick is set. */
struct ctl_controller *ctl__controller_new(struct ctl *ctl, const char *name, ctl_sync_fn sync,
                                           void *state, void (*state_free)(void *));
/* The cached object (new reference) or NULL. */
json_t *ctl__get(struct ctl *ctl, enum ctl_res res, const char *key);
/* Cached objects of res in namespace ns (NULL: all): a new array of shared objects. */
json_t *ctl__list(struct ctl *ctl, enum ctl_res res, const char *ns);
/* Enqueues the informer key of obj on cc. */
void ctl__enqueue_obj(struct ctl_controller *cc, const json_t *obj);
/* Listener callbacks that only enqueue the object (opaque is the ctl_controller): for add
 * and delete, and for update. */
void ctl__on_enqueue(struct ctl *ctl, json_t *obj, void *opaque);
void ctl__on_enqueue_update(struct ctl *ctl, json_t *old_obj, json_t *obj, void *opaque);

/* Each controller's setup: builds its controller(s) and registers its listeners. */
void ctl__replicaset_setup(struct ctl *ctl);
void ctl__deployment_setup(struct ctl *ctl);
void ctl__endpoints_setup(struct ctl *ctl);
void ctl__endpointslice_setup(struct ctl *ctl);
void ctl__gc_setup(struct ctl *ctl);
void ctl__namespace_setup(struct ctl *ctl);
void ctl__serviceaccount_setup(struct ctl *ctl);
void ctl__podgc_setup(struct ctl *ctl);
void ctl__nodelifecycle_setup(struct ctl *ctl);
void ctl__nodeipam_setup(struct ctl *ctl);

/* --- endpoints.c, shared with endpointslice.c --- */
/* Enqueues on cc every Service of pod's namespace whose selector matches pod's labels. */
void ctl__enqueue_services_for_pod(struct ctl_controller *cc, const json_t *pod);
/* Pod listener callbacks for both endpoint controllers: enqueue the pod's Services (on a
 * label change, the old labels' Services too). */
void ctl__on_pod_services(struct ctl *ctl, json_t *pod, void *opaque);
void ctl__on_pod_services_update(struct ctl *ctl, json_t *old_pod, json_t *pod, void *opaque);
/* Whether pod belongs in a Service's endpoints (has an IP, not terminal; terminating only when
 * publish_not_ready or include_terminating). */
bool ctl__pod_in_endpoints(const json_t *pod, bool publish_not_ready, bool include_terminating);
/* The Service's ports resolved for pod ([{name?, port, protocol, appProtocol?}]); ports the
 * pod lacks (a named targetPort no container declares) are left out. New array. */
json_t *ctl__endpoint_ports(const json_t *svc, const json_t *pod);

/* --- util.c --- */
/* "/api/v1/namespaces/<ns>/pods[/<name>[/<sub>]]" for res (ns NULL for cluster-scoped or
 * all namespaces). Caller frees. */
char *ctl__path(enum ctl_res res, const char *ns, const char *name, const char *sub);
/* The same for any apiVersion/kind the api table knows; NULL when unknown. Caller frees. */
char *ctl__path_gvk(const char *api_version, const char *kind, const char *ns, const char *name);
/* Whether the API serves res (per the kinds table): unserved ones are not watched. */
bool ctl__served(enum ctl_res res);
/* Splits "ns/name" (or "name") into allocated parts (*ns NULL for cluster-scoped). */
void ctl__split_key(const char *key, char **ns, char **name);

int64_t ctl__int(const json_t *obj, const char *path, int64_t dflt);
const char *ctl__str(const json_t *obj, const char *path);
/* Seconds since the epoch of an RFC 3339 field, or 0 when missing. */
time_t ctl__time(const json_t *obj, const char *path);
/* Now as RFC 3339 (second precision). */
void ctl__now(char out[21]);

/* The ownerReference with controller=true, borrowed, or NULL. */
json_t *ctl__controller_ref(const json_t *obj);
/* A new targetRef {kind: Pod, namespace, name, uid} to pod (Endpoints, EndpointSlices). */
json_t *ctl__pod_target_ref(const json_t *pod);
/* Sorts a JSON array (of any values) in place with a qsort comparator over json_t *const *. */
void ctl__json_array_sort(json_t *arr, int (*cmp)(const void *, const void *));
/* A new ownerReference to owner (controller=true, blockOwnerDeletion=true). */
json_t *ctl__owner_ref(const json_t *owner, const char *api_version, const char *kind);
bool ctl__is_deleting(const json_t *obj);

bool ctl__pod_ready(const json_t *pod);
/* Ready for at least min_ready seconds as of now. */
bool ctl__pod_available(const json_t *pod, int64_t min_ready, time_t now);
/* Not terminal and not being deleted. */
bool ctl__pod_active(const json_t *pod);
bool ctl__pod_terminal(const json_t *pod);
/* The highest restartCount over the pod's containers. */
int64_t ctl__pod_restarts(const json_t *pod);

/* conditions[] of status with .type == type, borrowed, or NULL. */
json_t *ctl__condition(const json_t *status, const char *type);
/* Sets condition type on status. lastTransitionTime changes only when the status changes;
 * with_update also keeps lastUpdateTime (Deployment conditions). Returns true on change. */
bool ctl__condition_set(json_t *status, const char *type, const char *cstatus, const char *reason,
                        const char *message, bool with_update);
bool ctl__condition_remove(json_t *status, const char *type);

/* Whether labels (object of strings) match the LabelSelector object sel. */
bool ctl__selector_matches(const json_t *sel, const json_t *labels);
/* Whether a Service's map selector matches labels; an empty selector selects nothing. */
bool ctl__map_selector_matches(const json_t *sel, const json_t *labels);

/* Posts an Event about obj (best effort). type "Normal" or "Warning". */
void ctl__event(struct ctl *ctl, const json_t *obj, const char *type, const char *reason,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Runs fn(i, opaque) for i in [0, n) on up to max_threads threads; returns how many calls
 * returned 0. */
size_t ctl__parallel(size_t n, unsigned max_threads, int (*fn)(size_t i, void *opaque),
                     void *opaque);

/* Adopts orphans that match selector and releases owned objects that stop matching: the
 * objects (of resource res) that owner controls afterwards, as a new array. Writes are
 * merge patches with a resourceVersion precondition. */
json_t *ctl__claim(struct ctl *ctl, const json_t *owner, const char *owner_api_version,
                   const char *owner_kind, const json_t *selector, json_t *candidates,
                   enum ctl_res res);

/* --- expectations.c --- */
/* What a controller is waiting to observe after its own writes, so a lagging watch never
 * makes it act twice (client-go's ControllerExpectations, with deletions tracked by pod key
 * as UIDTrackingControllerExpectations). Entries expire after 5 minutes. Thread-safe. */
struct ctl_expectations;
struct ctl_expectations *ctl__expectations_new(void);
void ctl__expectations_free(struct ctl_expectations *e);
/* Whether key has nothing outstanding (or its entry expired / does not exist). */
bool ctl__expectations_satisfied(struct ctl_expectations *e, const char *key);
void ctl__expectations_expect_creations(struct ctl_expectations *e, const char *key, int64_t n);
void ctl__expectations_expect_deletions(struct ctl_expectations *e, const char *key,
                                        const char *const *pod_keys, size_t n);
void ctl__expectations_creation_observed(struct ctl_expectations *e, const char *key);
void ctl__expectations_deletion_observed(struct ctl_expectations *e, const char *key,
                                         const char *pod_key);
void ctl__expectations_delete(struct ctl_expectations *e, const char *key);
/* For tests: moves every entry's timestamp back by seconds. */
void ctl__expectations_age(struct ctl_expectations *e, int64_t seconds);

/* --- hash.c --- */
/* The template with everything that does not change meaning removed: the pod-template-hash
 * label, nulls, empty objects and arrays, empty strings and the zero values Go omits
 * (creationTimestamp: null and resources: {} from kubectl rollout undo). New reference. */
json_t *ctl__template_normalize(const json_t *tmpl);
/* Whether two pod templates are the same once normalized (EqualIgnoreHash). */
bool ctl__template_equal(const json_t *a, const json_t *b);
/* pod-template-hash: fnv-1a 32 of the normalized template's canonical JSON and the collision
 * count, printed in decimal and mapped to the safe alphabet, as Kubernetes' ComputeHash.
 * Caller frees. */
char *ctl__template_hash(const json_t *tmpl, int64_t collision_count);

/* --- rank.c --- */
/* Sorts pods (an array) so the least valuable come first: unassigned < assigned, Pending <
 * Unknown < Running, not ready < ready, lower pod-deletion-cost first, more pods of the same
 * owner on the node first, ready for less time, more restarts, newer. */
void ctl__pods_rank_for_deletion(json_t *pods, time_t now);

/* --- rollout.c (pure arithmetic of the Deployment controller) --- */
/* Resolves an IntOrString (int, "25%") against total; round_up for maxSurge. Absent uses
 * dflt. Returns -1 for a malformed value. */
int64_t ctl__intstr_scaled(const json_t *v, const char *dflt, int64_t total, bool round_up);
/* maxSurge and maxUnavailable of a RollingUpdate deployment spec, resolved as Kubernetes'
 * ResolveFenceposts (both zero makes maxUnavailable 1). */
void ctl__fenceposts(const json_t *deploy, int64_t *surge, int64_t *unavailable);
/* NewRSNewReplicas for RollingUpdate: the new ReplicaSet's size given the deployment's
 * replicas, resolved maxSurge, the sum of every ReplicaSet's replicas and its current size. */
int64_t ctl__rolling_new_replicas(int64_t replicas, int64_t surge, int64_t all_replicas,
                                  int64_t new_replicas);
/* How many old pods may go now: all - (replicas - maxUnavailable) - new RS unavailable. */
int64_t ctl__rolling_max_scale_down(int64_t replicas, int64_t unavailable, int64_t all_replicas,
                                    int64_t new_replicas, int64_t new_available);
/* GetProportion: the share of to_add (positive or negative) one ReplicaSet of size
 * rs_replicas takes when the deployment is resized during a rollout; annotated_max is the
 * max-replicas annotation (replicas + surge when last sized). */
int64_t ctl__proportion(int64_t rs_replicas, int64_t replicas, int64_t surge, int64_t annotated_max,
                        int64_t to_add, int64_t added);

#endif
