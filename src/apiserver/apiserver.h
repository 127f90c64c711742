/* The API server: Kubernetes' REST API over HTTPS (libmicrohttpd + GnuTLS) on top of the
 * store, so that real kubectl and client libraries work unchanged. */
#ifndef K8C_APISERVER_APISERVER_H
#define K8C_APISERVER_APISERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

struct apiserver_config {
    const char *data_dir;           /* certificates, kubeconfig and node token live here */
    const char *listen;             /* "127.0.0.1:6443" (host:port; [v6]:port) */
    struct store *store;            /* borrowed; outlives the server */
    unsigned max_mutating_inflight; /* 0: 200, as kube-apiserver */
    unsigned max_readonly_inflight; /* 0: 400 */
    const char *service_cidr;       /* --service-cidr (NULL: API_SERVICE_CIDR_DEFAULT) */
    unsigned node_port_min;         /* --service-node-port-range (both 0: 30000-32767) */
    unsigned node_port_max;
    unsigned request_timeout_s;     /* 0: 60 (kube-apiserver's --request-timeout) */
    unsigned min_request_timeout_s; /* 0: 1800; a watch without timeoutSeconds lasts 1-2x this */
};

struct apiserver;

/* Go's time.ParseDuration for the forms Kubernetes flags and clients use ("60s", "1m30s",
 * "250ms"), into nanoseconds (a negative one gives 0). Returns 0, or -1 when s is not a
 * duration. */
int apiserver_parse_duration(const char *s, uint64_t *ns);

/* Makes or loads the certificates and the node token, writes <data-dir>/admin.kubeconfig,
 * creates the default namespaces and starts serving in background threads. Returns NULL
 * and sets *err on failure (address in use, unreadable certificates, store errors). The
 * caller stops it with apiserver_stop. */
struct apiserver *apiserver_start(const struct apiserver_config *cfg, struct k8c_err **err);

/* The kubeconfig path written at start (borrowed from srv). */
const char *apiserver_kubeconfig_path(const struct apiserver *srv);

/* Stops accepting, ends open watches and joins every thread, then frees srv. */
void apiserver_stop(struct apiserver *srv);

/* ---- in-process entry point (tests, fuzzing): the HTTP layer minus sockets ---- */

struct apiserver_core;

/* A request as the HTTP layer hands it over: the path is already percent-decoded, the
 * query is the raw text after '?' (decoded here). All fields are borrowed. */
struct apiserver_request_in {
    const char *method;
    const char *path;
    const char *query;        /* may be NULL */
    const char *accept;       /* may be NULL */
    const char *content_type; /* may be NULL */
    const char *body;
    size_t body_len;
};

/* A non-streaming answer. Free with apiserver_response_clear. */
struct apiserver_response_out {
    int code;
    const char *content_type; /* static string */
    struct buf body;
    char **warnings; /* NULL-terminated texts for `Warning: 299 - "…"`, may be NULL */
    int retry_after; /* seconds, 0: no header */
};

void apiserver_response_clear(struct apiserver_response_out *r);

/* A handler core over store (borrowed) allocating cluster IPs from service_cidr (NULL: the
 * default): creates the default namespaces and kube-dns. Returns NULL and sets *err when the
 * store fails or the CIDR is bad. Free with apiserver_core_free. */
struct apiserver_core *apiserver_core_new(struct store *store, const char *service_cidr,
                                          struct k8c_err **err);
/* Parses a service CIDR ("10.43.0.0/16": IPv4, a /12 to a /28, no host bits) into the network
 * address (host order) and the prefix length. Returns 0, or -1 with *err naming the problem. */
int apiserver_service_cidr_parse(const char *text, uint32_t *base, unsigned *prefix,
                                 struct k8c_err **err);
void apiserver_core_free(struct apiserver_core *core);

/* Serves one request as the authenticated admin, without watches (a watch request is
 * answered with its first chunk of events and then closed). Fills *out. Never fails: every
 * error becomes a Status. */
void apiserver_core_serve(struct apiserver_core *core, const struct apiserver_request_in *in,
                          struct apiserver_response_out *out);

#endif
