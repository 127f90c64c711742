/* Namespaces known to be active, for the check every namespaced create makes (404 when the
 * namespace is missing, 403 while it terminates): a read of the namespace per create cost a
 * store read, and each pod start makes five creates (the pod and four Events). Like
 * kube-apiserver's NamespaceLifecycle admission, which asks an informer's cache, the answer
 * comes from memory, kept current by a store watch on the namespaces: every change to a
 * namespace drops its entry, and the watch is drained before each lookup. A write
 * acknowledged to its client has been published to every watch already, so a create never
 * misses a deletion that finished before it began. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

struct apiserver_ns_cache {
    pthread_mutex_t lock;
    char *prefix;          /* the namespaces' storage keys start so */
    struct store_watch *w; /* opened on first use */
    json_t *active;        /* name -> true */
    int64_t last_event;    /* the newest namespace change drained */
};

struct apiserver_ns_cache *apiserver__ns_cache_new(void)
{
    struct apiserver_ns_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->active = json_object();
    c->prefix = api_kind_storage_key(api_kind_by_resource("", "v1", "namespaces"), NULL, NULL);
    return c;
}

void apiserver__ns_cache_free(struct apiserver_ns_cache *c)
{
    if (!c)
        return;
    if (c->w)
        store_watch_close(c->w);
    json_decref(c->active);
    free(c->prefix);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* With the lock held: applies the changes published since the last call. False when the
 * cache cannot be trusted (no watch); it is then emptied. */
static bool drain(struct apiserver_ns_cache *c, struct store *s)
{
    if (!c->w) {
        /* Changes before now are unknown: nothing read before now may be cached. */
        int64_t now = store_revision(s);
        c->w = store_watch_open(s, c->prefix, now, NULL);
        json_object_clear(c->active);
        c->last_event = now;
        return c->w != NULL;
    }
    for (;;) {
        struct store_event *ev = NULL;
        int rc = store_watch_next(c->w, 0, &ev, NULL);
        if (rc == 0)
            return true;
        if (rc < 0) {
            /* cut off (or closing): forget everything, watch again from now */
            store_watch_close(c->w);
            c->w = NULL;
            return drain(c, s);
        }
        if (strncmp(ev->key, c->prefix, strlen(c->prefix)) == 0)
            json_object_del(c->active, ev->key + strlen(c->prefix));
        if (ev->revision > c->last_event)
            c->last_event = ev->revision;
        store_event_unref(ev);
    }
}

int64_t apiserver__ns_cache_check(struct apiserver_ns_cache *c, struct store *s, const char *ns,
                                  bool *active)
{
    pthread_mutex_lock(&c->lock);
    bool ok = drain(c, s);
    *active = ok && json_object_get(c->active, ns) != NULL;
    /* The watch covers every change after this revision: a read from now on may be cached. */
    int64_t rev = ok ? store_revision(s) : -1;
    pthread_mutex_unlock(&c->lock);
    return rev;
}

void apiserver__ns_cache_put(struct apiserver_ns_cache *c, struct store *s, const char *ns,
                             int64_t checked_rev)
{
    if (checked_rev < 0)
        return;
    pthread_mutex_lock(&c->lock);
    /* A change drained since the check may postdate the read: then do not cache it. */
    if (drain(c, s) && c->last_event <= checked_rev)
        json_object_set_new(c->active, ns, json_true());
    pthread_mutex_unlock(&c->lock);
}
