/* Informers: list, then watch from that resourceVersion, keep a local cache, re-list on
 * 410 Gone — the machinery every controller, the scheduler and the agent share.
 *
 * Each informer runs one thread. Handlers are called on it, one at a time, without any lock
 * held (a handler may call informer_get). Objects handed to handlers and returned from the
 * cache are shared and must be treated as read-only. */
#ifndef K8C_CLIENT_INFORMER_H
#define K8C_CLIENT_INFORMER_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "client/client.h"

struct informer_handlers {
    /* Each may be NULL. Objects are borrowed for the call (json_incref to keep them). */
    void (*on_add)(json_t *obj, void *opaque);
    void (*on_update)(json_t *old_obj, json_t *new_obj, void *opaque);
    void (*on_delete)(json_t *obj, void *opaque);
    void *opaque;
};

struct informer_options {
    const char *path;           /* collection path, e.g. "/api/v1/pods" */
    const char *label_selector; /* optional */
    const char *field_selector; /* optional */
    struct informer_handlers handlers;
    unsigned watch_timeout_seconds; /* server-side watch timeout (0: 300 s) */
    unsigned page_size;             /* list page size (0: 500) */
    /* Optional: called on each object (in place) before it is cached and handed to the
     * handlers, to drop what the component never reads (client-go's informer transforms):
     * objects are the biggest part of a component's memory. */
    void (*transform)(json_t *obj);
};

struct informer;

/* Makes an informer over c (borrowed: it must outlive the informer). opts is copied. */
struct informer *informer_new(struct client *c, const struct informer_options *opts);
/* Starts the informer's thread. Returns 0, or -1 with *err. */
int informer_start(struct informer *inf, struct k8c_err **err);
/* Waits until the first list has filled the cache; false on timeout (timeout_ms < 0 waits
 * forever). */
bool informer_wait_synced(struct informer *inf, int timeout_ms);
/* Asks the thread to stop without waiting for it (its watch notices within about a second;
 * handlers may run until then; the cache stays readable). Stopping several informers this
 * way before freeing them lets their watches end in parallel rather than one after another.
 * NULL is a no-op. */
void informer_stop(struct informer *inf);
/* Stops the thread (if running), waits for it, and frees the informer and its cache. */
void informer_free(struct informer *inf);

/* The cached object "namespace/name" (or "name" for cluster-scoped kinds): a new reference,
 * or NULL. */
json_t *informer_get(struct informer *inf, const char *key);
/* A snapshot of every cached object: a new array (the objects are shared, read-only). */
json_t *informer_list(struct informer *inf);
/* The resourceVersion the cache reflects ("" before the first list). Caller frees. */
char *informer_resource_version(struct informer *inf);
/* How many times the informer has (re-)listed: for tests and metrics. */
unsigned informer_list_count(struct informer *inf);

/* A transform: drops metadata.managedFields (client-go's TransformStripManagedFields), which
 * a component that never applies does not need. */
void informer_strip_managed_fields(json_t *obj);

/* The cache key of obj: "namespace/name" or "name". Caller frees; NULL without a name. */
char *informer_key_of(const json_t *obj);

#endif
