/* The REST client every in-cluster component uses to talk to the API server (controllers,
 * scheduler, agent): kubeconfig loading, JSON requests over HTTPS with client certificates or
 * bearer tokens, and watch streams. It never touches the store.
 *
 * A struct client is thread-safe: requests from many threads share a small pool of libcurl
 * handles, so connections are kept alive and reused. */
#ifndef K8C_CLIENT_CLIENT_H
#define K8C_CLIENT_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct client_config {
    /* "https://127.0.0.1:6443", or several API servers of one cluster separated by commas
     * ("https://a:6443,https://b:6443", as k3s agents take a list): requests go to one
     * server and move to the next when it cannot be reached (see client_request). */
    char *server;
    char *ca_pem;    /* CA bundle to verify the server; NULL uses the system store */
    char *cert_pem;  /* client certificate, or NULL */
    char *key_pem;   /* its key, or NULL */
    char *token;     /* bearer token, or NULL */
    char *namespace; /* the context's namespace, or NULL */
    bool insecure;   /* skip server verification (insecure-skip-tls-verify) */
};

/* Loads the current context of a kubeconfig file (YAML or JSON): server, certificate
 * authority, client certificate and key (inline `-data` or file paths, relative to the
 * kubeconfig's directory), token or token file. Fills *out (clear with client_config_clear).
 * Errors name the file and the missing or bad field. */
int client_config_load(const char *kubeconfig_path, struct client_config *out,
                       struct k8c_err **err);
void client_config_clear(struct client_config *cfg);

struct client;

/* Makes a client from cfg (copied). Returns NULL with *err when cfg lacks a server URL. */
struct client *client_new(const struct client_config *cfg, struct k8c_err **err);
void client_free(struct client *c);

/* Sends method to path (absolute path with query, e.g. "/api/v1/namespaces/default/pods")
 * with an optional body (content_type NULL means application/json). On a 2xx answer returns
 * the decoded JSON body (new reference; JSON null for an empty body) and sets *http_code if
 * non-NULL. On another answer returns NULL with *err carrying the server's Status: its reason
 * and message (a 404 NotFound Status becomes K8C_REASON_NOT_FOUND, 409 Conflict or
 * AlreadyExists, 410 GONE, 422 INVALID …). Transport failures are SERVICE_UNAVAILABLE.
 * With several servers, a request that could not reach its server (or a read that failed in
 * transport) is repeated on the next one, each server at most once; the client then keeps
 * using the server that answered. A write that failed after it was sent is not repeated
 * (it may have been applied): SERVICE_UNAVAILABLE, and the next request goes elsewhere. */
json_t *client_request(struct client *c, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len, long *http_code,
                       struct k8c_err **err);

/* A write whose answer the caller does not need (obj as JSON, content_type as in
 * client_request): the object the server echoes is not decoded, half of a small write's client
 * CPU (the agent's status writes and Events). Returns 0, or -1 with *err as client_request. */
int client_send(struct client *c, const char *method, const char *path, const char *content_type,
                const json_t *obj, struct k8c_err **err);
/* The content type of a patch_type of client_patch, or NULL for an unknown one. */
const char *client_patch_content_type(const char *patch_type);

/* Convenience wrappers over client_request (same returns and errors). */
json_t *client_get(struct client *c, const char *path, struct k8c_err **err);
json_t *client_create(struct client *c, const char *path, const json_t *obj, struct k8c_err **err);
json_t *client_update(struct client *c, const char *path, const json_t *obj, struct k8c_err **err);
/* patch_type: "merge" (application/merge-patch+json), "strategic", "json" or "apply". */
json_t *client_patch(struct client *c, const char *path, const char *patch_type,
                     const json_t *patch, struct k8c_err **err);
json_t *client_delete(struct client *c, const char *path, const json_t *options,
                      struct k8c_err **err);

/* Called for each event of a watch stream with the event type ("ADDED", "MODIFIED",
 * "DELETED", "BOOKMARK", "ERROR") and its object (borrowed for the call). Returning non-zero
 * ends the watch. */
typedef int (*client_watch_fn)(const char *type, json_t *object, void *opaque);

/* Opens a watch (path must carry `watch=true` and usually `resourceVersion=`) and calls fn
 * for each event until the server ends the stream (returns 0), fn asks to stop or *stop
 * becomes true (returns 1), or an error (-1 with *err; a 410 answer is GONE). Blocks the
 * calling thread; *stop is checked at least once a second. A watch that cannot connect tries
 * the next server; one that breaks later returns its error and the next watch (or re-list)
 * goes to the next server. */
int client_watch(struct client *c, const char *path, client_watch_fn fn, void *opaque,
                 const atomic_bool *stop, struct k8c_err **err);

/* Renews the Lease kube-node-lease/<node> (holderIdentity node, renewTime now), creating it
 * when missing. Returns 0, or -1 with *err. */
int client_node_lease_renew(struct client *c, const char *node, int duration_s,
                            struct k8c_err **err);

/* ---- leader election (leader.c) ---- */

/* One candidate for the Lease <ns>/<name> (coordination.k8s.io/v1), as client-go's
 * leaderelection. identity NULL makes "<hostname>_<random>"; lease_duration_s 0 is 15. */
struct client_leader;
struct client_leader *client_leader_new(struct client *c, const char *ns, const char *name,
                                        const char *identity, unsigned lease_duration_s);
void client_leader_free(struct client_leader *l);
const char *client_leader_identity(const struct client_leader *l);
/* One acquire-or-renew attempt: true when this candidate holds the Lease afterwards. Takes a
 * Lease held by another only after seeing its record unchanged for the lease duration on the
 * local monotonic clock; creates kube-system (or ns) when the Lease's namespace is missing. */
bool client_leader_try(struct client_leader *l);
/* Gives the Lease up (holder "", duration 1 s) so another candidate takes over at once. */
void client_leader_release(struct client_leader *l);
/* Starts watching the Lease on a thread of its own, so changes are seen (and their lease
 * duration counted) when they happen rather than at the next try. Returns 0, or -1 with
 * *err. client_leader_unwatch (or client_leader_free) stops it. */
int client_leader_watch(struct client_leader *l, struct k8c_err **err);
void client_leader_unwatch(struct client_leader *l);
/* Waits until the record last seen (by a try or the watch) has expired or was released or
 * deleted (returns true), or max_ms passed or *stop (stop may be NULL) became true (false). */
bool client_leader_wait(struct client_leader *l, const atomic_bool *stop, unsigned max_ms);

struct client_leader_options {
    const char *lease_namespace;     /* "kube-system" */
    const char *lease_name;          /* "k8c-scheduler" */
    const char *identity;            /* NULL: hostname_<random> */
    unsigned lease_duration_seconds; /* 0: 15 (Kubernetes' defaults) */
    unsigned renew_deadline_seconds; /* 0: 10 */
    unsigned retry_period_ms;        /* 0: 2000 */
};

/* Runs lead(term_stop, opaque) on its own thread for each term this process holds the Lease:
 * campaigns every retry period and the instant the holder's record expires (seen through a watch on
 * the Lease), renews while leading,
 * sets *term_stop (and waits for lead to return) when a renewal has failed for the renew deadline,
 * then campaigns again. Returns 0 once *stop is set (the Lease released), or -1 with *err for
 * unusable options. */
typedef void (*client_leader_fn)(const atomic_bool *term_stop, void *opaque);
int client_leader_run(struct client *c, const struct client_leader_options *opts,
                      const atomic_bool *stop, client_leader_fn lead, void *opaque,
                      struct k8c_err **err);

#endif
