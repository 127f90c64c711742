/* Events the agent records about pods (source component "kubelet", as Kubernetes). A pod worker
 * only builds the Event and queues it; the recorder thread posts them, so the start path never
 * waits on the API server for an Event (three of them per container started). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

/* At most this many Events wait; beyond it new ones are dropped (client-go's broadcaster
 * drops too when its channel is full) rather than blocking a pod worker. */
#define EVENTS_MAX_QUEUED 4096
/* On stop, what is queued is still posted until this deadline. */
#define EVENTS_DRAIN_NS (3ull * 1000000000ull)

struct agent_events {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    json_t *queue; /* array of Event objects */
    bool stopping;
    pthread_t thread;
    unsigned long dropped;
};

static void post(struct agent *a, json_t *ev)
{
    const char *ns = kjson_path_str(ev, "metadata.namespace");
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/events", ns ? ns : "default");
    _cleanup_err_ struct k8c_err *err = NULL;
    if (client_send(a->client, "POST", path, NULL, ev, &err) < 0)
        LOG_DEBUG("event %s not recorded: %s", kjson_path_str(ev, "reason"), err->msg);
}

static void *recorder(void *opaque)
{
    struct agent *a = opaque;
    struct agent_events *e = a->events;
    uint64_t deadline = 0;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (json_array_size(e->queue) == 0 && !e->stopping)
            pthread_cond_wait(&e->cond, &e->lock);
        if (e->stopping && deadline == 0)
            deadline = clock_mono_ns() + EVENTS_DRAIN_NS;
        if (json_array_size(e->queue) == 0 || (deadline && clock_mono_ns() > deadline))
            break;
        /* take the whole batch, post it unlocked */
        json_t *batch = e->queue;
        e->queue = json_array();
        pthread_mutex_unlock(&e->lock);
        size_t i;
        json_t *ev;
        json_array_foreach (batch, i, ev)
            post(a, ev);
        json_decref(batch);
        pthread_mutex_lock(&e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

void agent__events_start(struct agent *a)
{
    struct agent_events *e = xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    e->queue = json_array();
    a->events = e;
    pthread_create(&e->thread, NULL, recorder, a);
}

void agent__events_stop(struct agent *a)
{
    struct agent_events *e = a->events;
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    if (e->dropped)
        LOG_WARN("%lu events dropped (the API server did not keep up)", e->dropped);
    json_decref(e->queue);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
    a->events = NULL;
}

void agent__event(struct agent *a, const json_t *pod, const char *type, const char *reason,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct buf msg = BUF_INIT;
    buf_vappendf(&msg, fmt, ap);
    va_end(ap);
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    const char *name = kjson_path_str(pod, "metadata.name");
    char stamp[21];
    clock_rfc3339(time(NULL), stamp);
    static atomic_uint seq;
    _cleanup_free_ char *ename =
        xasprintf("%s.%lx%x", name, (unsigned long)clock_mono_ns(), atomic_fetch_add(&seq, 1));
    json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", ename, "namespace", ns,
        "involvedObject", "kind", "Pod", "apiVersion", "v1", "namespace", ns, "name", name, "uid",
        kjson_path_str(pod, "metadata.uid") ?: "", "type", type, "reason", reason, "message",
        msg.data ? msg.data : "", "source", "component", "kubelet", "host", a->node_name,
        "firstTimestamp", stamp, "lastTimestamp", stamp, "count", 1);
    buf_free(&msg);
    struct agent_events *e = a->events;
    if (!ev)
        return;
    if (!e) { /* no recorder (a unit test's agent): post in place */
        post(a, ev);
        json_decref(ev);
        return;
    }
    pthread_mutex_lock(&e->lock);
    if (json_array_size(e->queue) >= EVENTS_MAX_QUEUED || e->stopping) {
        e->dropped++;
        json_decref(ev);
    } else {
        json_array_append_new(e->queue, ev);
        pthread_cond_signal(&e->cond);
    }
    pthread_mutex_unlock(&e->lock);
}
