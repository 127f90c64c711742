/* A work queue of string keys with client-go's semantics: a key queued several times before
 * it is processed is processed once; a key being processed is never handed to a second
 * worker, and if it is queued meanwhile it comes back once the first worker is done; failed
 * keys come back after a per-key exponential back-off. */
#ifndef K8C_CLIENT_WORKQUEUE_H
#define K8C_CLIENT_WORKQUEUE_H

#include <stddef.h>

struct workqueue;

/* base_delay_ms and max_delay_ms bound the per-key back-off of workqueue_add_rate_limited
 * (0 selects client-go's defaults: 5 ms doubling up to 1000 s). */
struct workqueue *workqueue_new(unsigned base_delay_ms, unsigned max_delay_ms);
/* Shuts the queue down (if not yet) and frees it; no thread may still be using it. */
void workqueue_free(struct workqueue *q);

void workqueue_add(struct workqueue *q, const char *key);
/* Queues key after delay_ms (0 queues at once). */
void workqueue_add_after(struct workqueue *q, const char *key, unsigned delay_ms);
/* Queues key after its back-off, which doubles with each call until workqueue_forget. */
void workqueue_add_rate_limited(struct workqueue *q, const char *key);
/* Resets key's back-off (call after it was processed successfully). */
void workqueue_forget(struct workqueue *q, const char *key);
/* How many times key was rate-limited since the last forget. */
unsigned workqueue_requeues(struct workqueue *q, const char *key);

/* Blocks until a key is ready and returns it (caller frees, and must call workqueue_done
 * with it), or returns NULL once the queue is shut down. */
char *workqueue_get(struct workqueue *q);
void workqueue_done(struct workqueue *q, const char *key);

/* Keys waiting (not counting delayed or in-process ones). */
size_t workqueue_len(struct workqueue *q);
/* Wakes every waiting workqueue_get, which then return NULL; later adds are ignored. */
void workqueue_shutdown(struct workqueue *q);

#endif
