/* Shared by the etcd backend's files: etcd.c (URL, HTTP calls with failover, reads and
 * writes) and etcd_watch.c (the one watch stream per store that feeds the watch hub).
 *
 * The backend reads and writes through etcd v3's gRPC-gateway JSON API (etcd 3.4:
 * /v3/kv/range, /v3/kv/txn, /v3/kv/compaction) over HTTP/1.1 with libcurl: keys and values
 * travel base64, 64-bit numbers as JSON strings. The watch is etcd's native Watch RPC (gRPC
 * over HTTP/2, protobuf), which costs etcd a third of the gateway's /v3/watch per event.
 * Store keys live in etcd under a prefix taken from the URL (etcd://h1:2379,h2:2379/PREFIX):
 * store key "/registry/x" is etcd key "PREFIX/registry/x". */
#ifndef K8C_STORE_ETCD_INTERNAL_H
#define K8C_STORE_ETCD_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/internal.h"

#define ETCD_POOL_MAX 16

struct etcd_backend {
    struct store *s;
    char **endpoints; /* "http://h:p" or "https://h:p" */
    size_t n_endpoints;
    atomic_size_t current; /* the endpoint that answered last */
    char *prefix;          /* "" or "/name" (no trailing slash) */
    size_t prefix_len;
    char *cacert, *cert, *key; /* TLS files, or NULL */

    /* Reads of one key at the same time share ranges (etcd_get). */
    pthread_mutex_t get_lock;
    pthread_cond_t get_cond;
    struct get_batch *gets; /* ranges waiting or in flight */

    pthread_mutex_t pool_lock;
    CURL *pool[ETCD_POOL_MAX];
    size_t pool_len;

    /* The watch stream (etcd_watch.c). */
    CURLM *wmulti;
    pthread_t watcher;
    bool watcher_running;
    atomic_bool stopping;
    pthread_mutex_t rev_lock;
    pthread_cond_t rev_cond; /* broadcast when `published` advances */
    int64_t published;       /* the newest revision in the hub (under rev_lock) */
    /* Writes whose events etcd's answers gave before every earlier revision was published,
     * in revision order (under rev_lock). */
    struct store_event **held;
    size_t n_held;
    int64_t max_gap; /* placeholders published at most at once (0: 2^31-1) */
};

/* Calls POST <endpoint>/v3/<path> with the JSON body req, trying each endpoint in turn when
 * one cannot be reached. Returns the parsed answer (new reference), or NULL with *err:
 * SERVICE_UNAVAILABLE when no endpoint answers, GONE/TIMEOUT for compacted/future
 * revisions, INTERNAL for other etcd errors. */
json_t *store__etcd_call(struct etcd_backend *b, const char *path, json_t *req,
                         struct k8c_err **err);
/* Sets up a curl handle for one call to url (TLS files, timeouts, no signals). */
void store__etcd_curl_setup(struct etcd_backend *b, CURL *h, const char *url);

/* A 64-bit field of a gRPC-gateway answer (a string or a number; 0 when missing). */
int64_t store__etcd_i64(const json_t *obj, const char *name);
/* Decodes a base64 field into a new NUL-terminated buffer (empty when missing). Returns NULL
 * with *err when it is not base64. */
char *store__etcd_b64(const json_t *obj, const char *name, size_t *len, struct k8c_err **err);

/* Parses the complete watch answers at the start of in (gRPC frames of WatchResponse
 * protobufs), publishes their events to s->hub and removes them from in; a partial frame
 * stays for the next call. Sets *canceled when etcd ended the watch. Returns -1 when the
 * stream is garbage (a compressed or oversized frame, a message that does not parse): the
 * caller restarts it. */
int store__etcd_stream_feed(struct store *s, struct buf *in, bool *canceled);
/* Starts the watch stream from the revision after s->revision (after the hub exists). */
void store__etcd_watch_start(struct store *s);
/* Stops and joins the watch stream. */
void store__etcd_watch_stop(struct etcd_backend *b);
/* Waits (up to a few seconds) until the watch stream has published revision rev, so a write
 * is visible to watches and store_revision when it returns. */
void store__etcd_wait_revision(struct etcd_backend *b, int64_t rev);
/* A write's own event, built from etcd's answer to its transaction (so the write need not wait
 * for it to come back on the watch stream): published as soon as every earlier revision is
 * (from the stream, or from other writes of this process), then waits as
 * store__etcd_wait_revision does. The stream's copy of it is then skipped. Takes the
 * reference. */
void store__etcd_publish_write(struct etcd_backend *b, struct store_event *ev);

extern const struct store_driver store__etcd_driver;

#endif
