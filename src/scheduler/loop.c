/* The scheduler's run loop (see scheduler.h): informer handlers feed the snapshot and the
 * queue; one scheduling thread pops the most important pending pod, decides under the lock
 * (the snapshot is never copied), assumes the pod onto its node at once so the next decision
 * sees it, and hands the API writes to binder threads, so that HTTP round trips never stall
 * scheduling. A failed binding forgets the assumption and retries the pod after back-off. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/informer.h"
#include "scheduler/algorithm.h"
#include "scheduler/internal.h"
#include "scheduler/queue.h"
#include "scheduler/scheduler.h"

#define DEFAULT_BINDERS 8
#define MAX_BINDERS 32
/* Big list pages: fewer round trips when a scheduler starts on a large cluster. */
#define LIST_PAGE_SIZE 5000
/* Events wait in a bounded queue for one poster thread, which posts while no binding waits;
 * when the queue is full new events are dropped, as client-go's event broadcaster drops
 * them, so that under load the API's write capacity goes to bindings first. */
#define EVENT_QUEUE_MAX 1000

enum job_kind { JOB_BIND, JOB_FAIL };

struct victim {
    char *ns, *name, *uid;
};

/* One unit of API work for a binder thread. */
struct job {
    enum job_kind kind;
    struct scheduler_qentry *entry;      /* JOB_BIND: the in-flight entry */
    const struct scheduler_pod *assumed; /* JOB_BIND: its view in the snapshot (identity) */
    char *ns, *name, *uid, *rv, *node;
    json_t *obj;     /* the pod as last seen (JOB_FAIL) */
    char *message;   /* JOB_FAIL */
    char *nominated; /* JOB_FAIL with preemption */
    struct victim *victims;
    size_t n_victims;
    struct job *next;
};

struct event {
    char *ns, *name, *uid, *rv;
    const char *type, *reason, *action; /* static strings */
    char *message;
    struct event *next;
};

struct sched {
    struct client *client;
    const char *name;
    bool scheduled_events;
    const atomic_bool *stop;
    struct scheduler_stats *stats;

    pthread_mutex_t lock; /* snapshot, queue, algorithm */
    pthread_cond_t wake;  /* queue has work, or stop */
    struct scheduler_snapshot *snap;
    struct scheduler_queue *queue;
    struct scheduler_algorithm algo;

    pthread_mutex_t jlock;
    pthread_cond_t jwake;
    struct job *jhead, *jtail;
    bool jstop;
    pthread_t *binders;
    unsigned n_binders;

    unsigned jbusy;              /* jobs being run by binders (guarded by jlock) */
    struct event *ehead, *etail; /* guarded by jlock, signalled through ewake */
    size_t n_events;
    uint64_t dropped_events;
    pthread_cond_t ewake;
    pthread_t poster;
    bool poster_started;
};

static void event_free(struct event *e)
{
    free(e->ns);
    free(e->name);
    free(e->uid);
    free(e->rv);
    free(e->message);
    free(e);
}

/* Queues an Event about pod ns/name for the poster thread (or drops it when the queue is
 * full). */
static void event_push(struct sched *s, const char *ns, const char *name, const char *uid,
                       const char *rv, const char *type, const char *reason, const char *action,
                       const char *message)
{
    pthread_mutex_lock(&s->jlock);
    if (s->n_events >= EVENT_QUEUE_MAX || s->jstop) {
        s->dropped_events++;
        pthread_mutex_unlock(&s->jlock);
        return;
    }
    struct event *e = xcalloc(1, sizeof(*e));
    e->ns = xstrdup(ns);
    e->name = xstrdup(name);
    e->uid = uid ? xstrdup(uid) : NULL;
    e->rv = rv ? xstrdup(rv) : NULL;
    e->type = type;
    e->reason = reason;
    e->action = action;
    e->message = xstrdup(message);
    if (s->etail)
        s->etail->next = e;
    else
        s->ehead = e;
    s->etail = e;
    s->n_events++;
    pthread_cond_signal(&s->ewake);
    pthread_mutex_unlock(&s->jlock);
}

static void *poster_main(void *opaque)
{
    struct sched *s = opaque;
    for (;;) {
        pthread_mutex_lock(&s->jlock);
        /* Bindings first: while binder work is queued or running, an event waits (up to a
         * second, so a steady load still lets some through). */
        uint64_t waited_since = clock_mono_ns();
        while (!s->jstop && (s->ehead == NULL || s->jhead != NULL || s->jbusy > 0)) {
            if (s->ehead != NULL && clock_mono_ns() - waited_since > 1000000000u)
                break;
            uint64_t at = clock_mono_ns() + 100000000u;
            struct timespec ts = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
            pthread_cond_timedwait(&s->ewake, &s->jlock, &ts);
            if (s->ehead == NULL)
                waited_since = clock_mono_ns();
        }
        struct event *e = s->ehead;
        if (e == NULL) {
            pthread_mutex_unlock(&s->jlock);
            return NULL;
        }
        s->ehead = e->next;
        if (s->ehead == NULL)
            s->etail = NULL;
        s->n_events--;
        pthread_mutex_unlock(&s->jlock);
        struct scheduler__event_ref ref = {e->ns, e->name, e->uid, e->rv, s->name};
        scheduler__event(s->client, &ref, e->type, e->reason, e->action, e->message);
        event_free(e);
    }
}

static void stat_add(struct sched *s, uint64_t *field)
{
    if (s->stats != NULL)
        __atomic_add_fetch(field, 1, __ATOMIC_RELAXED);
}

static void job_free(struct job *j)
{
    free(j->ns);
    free(j->name);
    free(j->uid);
    free(j->rv);
    free(j->node);
    json_decref(j->obj);
    free(j->message);
    free(j->nominated);
    for (size_t i = 0; i < j->n_victims; i++) {
        free(j->victims[i].ns);
        free(j->victims[i].name);
        free(j->victims[i].uid);
    }
    free(j->victims);
    free(j);
}

static void job_push(struct sched *s, struct job *j)
{
    pthread_mutex_lock(&s->jlock);
    if (s->jtail)
        s->jtail->next = j;
    else
        s->jhead = j;
    s->jtail = j;
    pthread_cond_signal(&s->jwake);
    pthread_mutex_unlock(&s->jlock);
}

static struct job *job_new(enum job_kind kind, const json_t *obj)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->kind = kind;
    const char *ns = kjson_path_str(obj, "metadata.namespace");
    const char *uid = kjson_path_str(obj, "metadata.uid");
    const char *rv = kjson_path_str(obj, "metadata.resourceVersion");
    j->ns = xstrdup(ns ? ns : "default");
    j->name = xstrdup(kjson_path_str(obj, "metadata.name"));
    j->uid = uid ? xstrdup(uid) : NULL;
    j->rv = rv ? xstrdup(rv) : NULL;
    j->obj = json_incref((json_t *)obj);
    return j;
}

/* ---- binder threads ---- */

static void run_bind(struct sched *s, struct job *j)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = scheduler__bind(s->client, j->ns, j->name, j->uid, j->node, &err);
    if (rc == 0 && s->scheduled_events) {
        _cleanup_free_ char *msg =
            xasprintf("Successfully assigned %s/%s to %s", j->ns, j->name, j->node);
        event_push(s, j->ns, j->name, j->uid, j->rv, "Normal", "Scheduled", "Binding", msg);
    }
    pthread_mutex_lock(&s->lock);
    struct scheduler_qentry *e = j->entry;
    uint64_t now = clock_mono_ns();
    if (rc == 0) {
        stat_add(s, s->stats ? &s->stats->bound : NULL);
        scheduler_queue_done(s->queue, e, SCHEDULER_OUTCOME_BOUND, now);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    stat_add(s, s->stats ? &s->stats->bind_errors : NULL);
    LOG_INFO("binding failed pod=%s/%s node=%s err=%s", j->ns, j->name, j->node, err->msg);
    /* Forget the assumption unless the informer already replaced it with the bound pod. */
    const struct scheduler_pod *assumed = scheduler_snapshot_pod_get(s->snap, e->key);
    if (assumed != NULL && assumed == j->assumed && assumed->node_name &&
        strcmp(assumed->node_name, j->node) == 0) {
        scheduler_snapshot_pod_remove(s->snap, e->key);
        scheduler_queue_move_all(s->queue, now);
    }
    bool gone = err->reason == K8C_REASON_NOT_FOUND || e->deleted;
    if (!gone && e->pod == NULL && e->obj != NULL) {
        _cleanup_err_ struct k8c_err *derr = NULL;
        e->pod = scheduler_pod_decode(e->obj, &derr);
    }
    scheduler_queue_done(s->queue, e, gone ? SCHEDULER_OUTCOME_BOUND : SCHEDULER_OUTCOME_ERROR,
                         now);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

static void run_fail(struct sched *s, struct job *j)
{
    for (size_t i = 0; i < j->n_victims; i++) {
        struct victim *v = &j->victims[i];
        _cleanup_err_ struct k8c_err *err = NULL;
        if (scheduler__delete_pod(s->client, v->ns, v->name, v->uid, &err) < 0) {
            LOG_INFO("preemption: deleting victim failed pod=%s/%s err=%s", v->ns, v->name,
                     err->msg);
            continue;
        }
        stat_add(s, s->stats ? &s->stats->preemptions : NULL);
        _cleanup_free_ char *msg =
            xasprintf("Preempted by pod %s on node %s", j->uid ? j->uid : j->name, j->nominated);
        event_push(s, v->ns, v->name, v->uid, NULL, "Normal", "Preempted", "Preempting", msg);
    }
    event_push(s, j->ns, j->name, j->uid, j->rv, "Warning", "FailedScheduling", "Scheduling",
               j->message);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (scheduler__mark_unschedulable(s->client, j->obj, j->message, j->nominated, &err) < 0)
        LOG_DEBUG("updating PodScheduled failed pod=%s/%s err=%s", j->ns, j->name, err->msg);
}

static void *binder_main(void *opaque)
{
    struct sched *s = opaque;
    for (;;) {
        pthread_mutex_lock(&s->jlock);
        while (s->jhead == NULL && !s->jstop)
            pthread_cond_wait(&s->jwake, &s->jlock);
        struct job *j = s->jhead;
        if (j == NULL) { /* stopping, and nothing left */
            pthread_mutex_unlock(&s->jlock);
            return NULL;
        }
        s->jhead = j->next;
        if (s->jhead == NULL)
            s->jtail = NULL;
        s->jbusy++;
        pthread_mutex_unlock(&s->jlock);
        if (j->kind == JOB_BIND)
            run_bind(s, j);
        else
            run_fail(s, j);
        job_free(j);
        pthread_mutex_lock(&s->jlock);
        if (--s->jbusy == 0 && s->jhead == NULL)
            pthread_cond_signal(&s->ewake);
        pthread_mutex_unlock(&s->jlock);
    }
}

/* ---- informer handlers (on the informers' threads) ---- */

static bool is_terminal(const json_t *pod)
{
    const char *phase = kjson_path_str(pod, "status.phase");
    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static const char *node_of(const json_t *pod)
{
    const char *n = kjson_path_str(pod, "spec.nodeName");
    return n && *n ? n : NULL;
}

/* Whether an update changed what scheduling reads (not only status or bookkeeping), as
 * kube-scheduler's isPodUpdated. */
static bool pod_changed(const json_t *old, const json_t *new)
{
    if (old == NULL)
        return true;
    const char *keys[] = {"spec", "metadata.labels", "metadata.annotations",
                          "metadata.deletionTimestamp"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const json_t *a = kjson_path(old, keys[i]), *b = kjson_path(new, keys[i]);
        if ((a == NULL) != (b == NULL) || (a && !json_equal((json_t *)a, (json_t *)b)))
            return true;
    }
    return false;
}

static void pod_upsert(struct sched *s, json_t *old, json_t *obj)
{
    _cleanup_free_ char *key = informer_key_of(obj);
    if (key == NULL)
        return;
    uint64_t now = clock_mono_ns();
    const char *node = node_of(obj);
    const char *sname = kjson_path_str(obj, "spec.schedulerName");
    bool ours = sname == NULL || *sname == '\0' || strcmp(sname, s->name) == 0;
    bool deleting = kjson_path(obj, "metadata.deletionTimestamp") != NULL &&
                    !json_is_null(kjson_path(obj, "metadata.deletionTimestamp"));
    bool terminal = is_terminal(obj);
    /* Decode outside the lock: the scheduling thread holds it while deciding. */
    _cleanup_err_ struct k8c_err *err = NULL;
    struct scheduler_pod *p = NULL;
    if (!terminal && (node != NULL || (ours && !deleting)))
        p = scheduler_pod_decode(obj, &err);
    pthread_mutex_lock(&s->lock);
    if (node != NULL || terminal) {
        scheduler_queue_remove(s->queue, key);
        scheduler_snapshot_unnominate(s->snap, key);
        if (terminal) {
            if (scheduler_snapshot_pod_remove(s->snap, key))
                scheduler_queue_move_all(s->queue, now);
        } else {
            if (p == NULL) {
                LOG_WARN("bound pod not accounted pod=%s err=%s", key, err->msg);
            } else {
                /* A pod bound by someone else may satisfy pending pods' affinity. */
                bool known = scheduler_snapshot_pod_get(s->snap, key) != NULL;
                scheduler_snapshot_pod_set_take(s->snap, p);
                if (!known && (s->snap->n_affinity_pods > 0 ||
                               scheduler_queue_len(s->queue, SCHEDULER_Q_UNSCHEDULABLE) > 0))
                    scheduler_queue_move_all(s->queue, now);
            }
        }
    } else if (ours && !deleting && scheduler_snapshot_pod_get(s->snap, key) != NULL) {
        /* Assumed or already bound in our view: a late unbound update (our own status patch
         * of an earlier attempt, say) must not queue it again. */
        scheduler_pod_free(p);
    } else if (ours && !deleting) {
        if (p != NULL && p->nominated_node != NULL)
            scheduler_snapshot_nominate(s->snap, p, p->nominated_node);
        struct scheduler_qentry *e = scheduler_queue_get(s->queue, key);
        if (e != NULL && e->state != SCHEDULER_Q_IN_FLIGHT && !pod_changed(old, obj)) {
            /* A status-only change (often our own condition): refresh, do not retry. */
            json_decref(e->obj);
            e->obj = json_incref(obj);
            if (p != NULL) {
                scheduler_pod_free(e->pod);
                e->pod = p;
            }
        } else {
            scheduler_queue_upsert_take(s->queue, key, json_incref(obj), p, p ? NULL : err->msg,
                                        now);
        }
        pthread_cond_signal(&s->wake);
    } else {
        scheduler_queue_remove(s->queue, key);
    }
    pthread_mutex_unlock(&s->lock);
}

static void on_pod_add(json_t *obj, void *opaque)
{
    pod_upsert(opaque, NULL, obj);
}

static void on_pod_update(json_t *old, json_t *obj, void *opaque)
{
    pod_upsert(opaque, old, obj);
}

static void on_pod_delete(json_t *obj, void *opaque)
{
    struct sched *s = opaque;
    _cleanup_free_ char *key = informer_key_of(obj);
    if (key == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    scheduler_queue_remove(s->queue, key);
    scheduler_snapshot_unnominate(s->snap, key);
    if (scheduler_snapshot_pod_remove(s->snap, key)) {
        scheduler_queue_move_all(s->queue, clock_mono_ns());
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
}

static bool node_changed(const json_t *old, const json_t *new)
{
    if (old == NULL)
        return true;
    const char *keys[] = {"spec", "metadata.labels", "status.allocatable", "status.images"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const json_t *a = kjson_path(old, keys[i]), *b = kjson_path(new, keys[i]);
        if ((a == NULL) != (b == NULL) || (a && !json_equal((json_t *)a, (json_t *)b)))
            return true;
    }
    return false;
}

static void node_upsert(struct sched *s, json_t *old, json_t *obj)
{
    if (!node_changed(old, obj))
        return; /* heartbeats and conditions: nothing the plugins read */
    _cleanup_err_ struct k8c_err *err = NULL;
    struct scheduler_node *n = scheduler_node_decode(obj, &err);
    if (n == NULL)
        return;
    if (n->invalid != NULL)
        LOG_WARN("node cannot take pods node=%s reason=%s", n->name, n->invalid);
    pthread_mutex_lock(&s->lock);
    scheduler_snapshot_node_set_take(s->snap, n);
    scheduler_queue_move_all(s->queue, clock_mono_ns());
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

static void on_node_add(json_t *obj, void *opaque)
{
    node_upsert(opaque, NULL, obj);
}

static void on_node_update(json_t *old, json_t *obj, void *opaque)
{
    node_upsert(opaque, old, obj);
}

static void on_node_delete(json_t *obj, void *opaque)
{
    struct sched *s = opaque;
    const char *name = kjson_path_str(obj, "metadata.name");
    if (name == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    scheduler_snapshot_node_remove(s->snap, name);
    pthread_mutex_unlock(&s->lock);
}

static void ns_set(struct sched *s, json_t *obj, bool deleted)
{
    const char *name = kjson_path_str(obj, "metadata.name");
    if (name == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    scheduler_snapshot_namespace_set(s->snap, name,
                                     deleted ? NULL : kjson_path(obj, "metadata.labels"));
    pthread_mutex_unlock(&s->lock);
}

static void on_ns_add(json_t *obj, void *opaque)
{
    ns_set(opaque, obj, false);
}

static void on_ns_update(json_t *old, json_t *obj, void *opaque)
{
    ns_set(opaque, obj, false);
}

static void on_ns_delete(json_t *obj, void *opaque)
{
    ns_set(opaque, obj, true);
}

/* Services and controllers, for the system-default topology spread. The informer's path
 * tells which kind it watches. */
struct workload_watch {
    struct sched *s;
    const char *kind;
};

static void workload_set(struct workload_watch *w, json_t *obj, bool deleted)
{
    const char *ns = kjson_path_str(obj, "metadata.namespace");
    const char *name = kjson_path_str(obj, "metadata.name");
    if (ns == NULL || name == NULL)
        return;
    json_t *sel = deleted ? NULL : kjson_path(obj, "spec.selector");
    pthread_mutex_lock(&w->s->lock);
    scheduler_snapshot_workload_set(w->s->snap, w->kind, ns, name, sel);
    pthread_mutex_unlock(&w->s->lock);
}

static void on_workload_add(json_t *obj, void *opaque)
{
    workload_set(opaque, obj, false);
}

static void on_workload_update(json_t *old, json_t *obj, void *opaque)
{
    workload_set(opaque, obj, false);
}

static void on_workload_delete(json_t *obj, void *opaque)
{
    workload_set(opaque, obj, true);
}

static const struct {
    const char *path, *kind;
} workload_kinds[] = {
    {"/api/v1/services", "Service"},
    {"/api/v1/replicationcontrollers", "ReplicationController"},
    {"/apis/apps/v1/replicasets", "ReplicaSet"},
    {"/apis/apps/v1/statefulsets", "StatefulSet"},
};
#define N_WORKLOAD_KINDS 4

/* ---- the scheduling thread ---- */

/* Schedules one popped entry (lock held); returns the job to run, if any. */
static struct job *schedule_one(struct sched *s, struct scheduler_qentry *e, uint64_t now)
{
    stat_add(s, s->stats ? &s->stats->attempts : NULL);
    if (e->pod == NULL) {
        struct job *j = job_new(JOB_FAIL, e->obj);
        j->message = xstrdup(e->decode_error ? e->decode_error : "the pod could not be read");
        scheduler_queue_done(s->queue, e, SCHEDULER_OUTCOME_UNSCHEDULABLE, now);
        stat_add(s, s->stats ? &s->stats->unschedulable : NULL);
        return j;
    }
    struct scheduler_decision d;
    scheduler_schedule(&s->algo, s->snap, e->pod, &d);
    struct job *j;
    if (d.node != NULL) {
        j = job_new(JOB_BIND, e->obj);
        j->entry = e;
        j->node = xstrdup(d.node);
        /* Assume: account the pod on its node now; the informer's bound update replaces it. */
        struct scheduler_pod *p = steal_ptr(&e->pod);
        p->node_name = xstrdup(d.node);
        scheduler_snapshot_unnominate(s->snap, e->key);
        j->assumed = p;
        scheduler_snapshot_pod_set_take(s->snap, p);
    } else {
        j = job_new(JOB_FAIL, e->obj);
        j->message = xstrdup(d.message);
        LOG_DEBUG("unschedulable pod=%s msg=%s", e->key, d.message);
        if (d.nominated_node != NULL) {
            j->nominated = xstrdup(d.nominated_node);
            j->victims = xcalloc(d.n_victims ? d.n_victims : 1, sizeof(*j->victims));
            for (size_t i = 0; i < d.n_victims; i++) {
                const struct scheduler_pod *v = scheduler_snapshot_pod_get(s->snap, d.victims[i]);
                if (v == NULL)
                    continue;
                j->victims[j->n_victims++] =
                    (struct victim){xstrdup(v->ns), xstrdup(v->name), xstrdup(v->uid)};
            }
            /* Remember the nomination at once: the next attempt tries that node first, and
             * pods of lower priority may not take the room the victims leave. */
            free(e->pod->nominated_node);
            e->pod->nominated_node = xstrdup(d.nominated_node);
            scheduler_snapshot_nominate(s->snap, e->pod, d.nominated_node);
        }
        scheduler_queue_done(s->queue, e, SCHEDULER_OUTCOME_UNSCHEDULABLE, now);
        stat_add(s, s->stats ? &s->stats->unschedulable : NULL);
    }
    scheduler_decision_clear(&d);
    return j;
}

static void schedule_loop(struct sched *s)
{
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(s->stop)) {
        uint64_t now = clock_mono_ns();
        struct scheduler_qentry *e = scheduler_queue_pop(s->queue, now);
        if (e == NULL) {
            /* Sleep until work arrives, the earliest back-off ends, or a second passes (to
             * notice *stop). */
            uint64_t until = now + 1000000000u;
            uint64_t b = scheduler_queue_next_backoff(s->queue);
            if (b < until)
                until = b;
            struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
            pthread_cond_timedwait(&s->wake, &s->lock, &ts);
            continue;
        }
        struct job *j = schedule_one(s, e, now);
        pthread_mutex_unlock(&s->lock);
        if (j != NULL)
            job_push(s, j);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
}

/* One scheduler until *stop: informers, the deciding loop, binders. */
static int run_scheduler(struct client *c, const struct scheduler_options *opts,
                         const atomic_bool *stop, struct scheduler_stats *stats,
                         struct k8c_err **err)
{
    struct sched s = {
        .client = c,
        .name = opts->scheduler_name ? opts->scheduler_name : SCHEDULER_DEFAULT_NAME,
        .scheduled_events = !opts->no_scheduled_events,
        .stop = stop,
        .stats = stats,
        .snap = scheduler_snapshot_new(),
        .queue = scheduler_queue_new(),
        .algo = {.seed = (unsigned)clock_mono_ns(),
                 .percentage = opts->percentage_of_nodes_to_score},
    };
    pthread_mutex_init(&s.lock, NULL);
    clock_cond_init_mono(&s.wake);
    pthread_mutex_init(&s.jlock, NULL);
    pthread_cond_init(&s.jwake, NULL);
    clock_cond_init_mono(&s.ewake);

    struct informer_options nopts = {
        .path = "/api/v1/nodes",
        .page_size = LIST_PAGE_SIZE,
        .handlers = {on_node_add, on_node_update, on_node_delete, &s},
    };
    struct informer_options popts = {
        .path = "/api/v1/pods",
        .page_size = LIST_PAGE_SIZE,
        .handlers = {on_pod_add, on_pod_update, on_pod_delete, &s},
    };
    /* Namespace labels, for pod affinity terms with a namespaceSelector. */
    struct informer_options nsopts = {
        .path = "/api/v1/namespaces",
        .handlers = {on_ns_add, on_ns_update, on_ns_delete, &s},
    };
    struct informer *nodes = informer_new(c, &nopts);
    struct informer *pods = informer_new(c, &popts);
    struct informer *namespaces = informer_new(c, &nsopts);
    struct workload_watch ww[N_WORKLOAD_KINDS];
    struct informer *workloads[N_WORKLOAD_KINDS];
    for (size_t i = 0; i < N_WORKLOAD_KINDS; i++) {
        ww[i] = (struct workload_watch){&s, workload_kinds[i].kind};
        struct informer_options wopts = {
            .path = workload_kinds[i].path,
            .page_size = LIST_PAGE_SIZE,
            .handlers = {on_workload_add, on_workload_update, on_workload_delete, &ww[i]},
        };
        workloads[i] = informer_new(c, &wopts);
    }
    int rc = 0;
    s.n_binders = opts->binders ? opts->binders : DEFAULT_BINDERS;
    if (s.n_binders > MAX_BINDERS)
        s.n_binders = MAX_BINDERS;
    s.binders = xcalloc(s.n_binders, sizeof(pthread_t));
    unsigned started = 0;
    if (informer_start(nodes, err) < 0 || informer_start(pods, err) < 0 ||
        informer_start(namespaces, err) < 0) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < N_WORKLOAD_KINDS; i++) {
        if (informer_start(workloads[i], err) < 0) {
            rc = -1;
            goto out;
        }
    }
    /* Decide nothing before both caches are filled: a half-known cluster gives wrong
     * answers. */
    while (!atomic_load(stop) &&
           !(informer_wait_synced(nodes, 500) && informer_wait_synced(namespaces, 500) &&
             informer_wait_synced(pods, 500)))
        ;
    /* Services and controllers only refine scores: a server that lacks one of those
     * resources must not keep the scheduler from starting. */
    uint64_t deadline = clock_mono_ns() + 5000000000ull;
    for (size_t i = 0; i < N_WORKLOAD_KINDS && !atomic_load(stop); i++) {
        while (!informer_wait_synced(workloads[i], 200) && clock_mono_ns() < deadline &&
               !atomic_load(stop))
            ;
    }
    for (; started < s.n_binders; started++) {
        int prc = pthread_create(&s.binders[started], NULL, binder_main, &s);
        if (prc != 0) {
            rc = k8c_err_set(err, prc, K8C_REASON_INTERNAL, "start binder thread");
            goto out;
        }
    }
    int prc = pthread_create(&s.poster, NULL, poster_main, &s);
    if (prc != 0) {
        rc = k8c_err_set(err, prc, K8C_REASON_INTERNAL, "start event thread");
        goto out;
    }
    s.poster_started = true;
    LOG_INFO("scheduler started name=%s binders=%u", s.name, s.n_binders);
    schedule_loop(&s);
out:
    /* Stop the informers first so no handler runs while the rest is torn down; then let
     * the binders finish what is queued. All are told first, so their watches end together. */
    informer_stop(pods);
    informer_stop(nodes);
    informer_stop(namespaces);
    for (size_t i = 0; i < N_WORKLOAD_KINDS; i++)
        informer_stop(workloads[i]);
    informer_free(pods);
    informer_free(nodes);
    informer_free(namespaces);
    for (size_t i = 0; i < N_WORKLOAD_KINDS; i++)
        informer_free(workloads[i]);
    pthread_mutex_lock(&s.jlock);
    s.jstop = true;
    pthread_cond_broadcast(&s.jwake);
    pthread_cond_broadcast(&s.ewake);
    pthread_mutex_unlock(&s.jlock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(s.binders[i], NULL);
    if (s.poster_started)
        pthread_join(s.poster, NULL);
    for (struct event *e = s.ehead; e != NULL;) {
        struct event *next = e->next;
        event_free(e);
        e = next;
    }
    if (s.dropped_events > 0)
        LOG_INFO("scheduler dropped events under load count=%llu",
                 (unsigned long long)s.dropped_events);
    for (struct job *j = s.jhead; j != NULL;) {
        struct job *next = j->next;
        job_free(j);
        j = next;
    }
    free(s.binders);
    scheduler_queue_free(s.queue);
    scheduler_snapshot_free(s.snap);
    pthread_cond_destroy(&s.wake);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.jwake);
    pthread_cond_destroy(&s.ewake);
    pthread_mutex_destroy(&s.jlock);
    return rc;
}

struct elected {
    struct client *client;
    const struct scheduler_options *opts;
    struct scheduler_stats *stats;
};

static void lead_term(const atomic_bool *term_stop, void *opaque)
{
    struct elected *e = opaque;
    _cleanup_err_ struct k8c_err *err = NULL;
    if (run_scheduler(e->client, e->opts, term_stop, e->stats, &err) < 0)
        LOG_ERROR("scheduler failed to start: %s", err->msg);
}

int scheduler_run(struct client *c, const struct scheduler_options *opts, const atomic_bool *stop,
                  struct scheduler_stats *stats, struct k8c_err **err)
{
    struct scheduler_options defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    if (!opts->leader_elect)
        return run_scheduler(c, opts, stop, stats, err);
    struct client_leader_options lo = {
        .lease_namespace = "kube-system",
        /* Schedulers of another name (a second profile) elect among themselves. */
        .lease_name = opts->scheduler_name ? opts->scheduler_name : "k8c-scheduler",
        .identity = opts->identity,
        .lease_duration_seconds = opts->lease_duration_seconds,
        .renew_deadline_seconds = opts->renew_deadline_seconds,
        .retry_period_ms = opts->retry_period_ms,
    };
    struct elected e = {.client = c, .opts = opts, .stats = stats};
    return client_leader_run(c, &lo, stop, lead_term, &e, err);
}
