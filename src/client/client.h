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
    char *server;    /* "https://127.0.0.1:6443" */
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
 * AlreadyExists, 410 GONE, 422 INVALID …). Transport failures are SERVICE_UNAVAILABLE. */
json_t *client_request(struct client *c, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len, long *http_code,
                       struct k8c_err **err);

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
 * calling thread; *stop is checked at least once a second. */
int client_watch(struct client *c, const char *path, client_watch_fn fn, void *opaque,
                 const atomic_bool *stop, struct k8c_err **err);

/* Renews the Lease kube-node-lease/<node> (holderIdentity node, renewTime now), creating it
 * when missing. Returns 0, or -1 with *err. */
int client_node_lease_renew(struct client *c, const char *node, int duration_s,
                            struct k8c_err **err);

#endif
