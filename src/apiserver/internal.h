/* What the files of src/apiserver share: the parsed request, the response being built, the
 * route, the handler core and the per-concern entry points. Not for other modules. */
#ifndef K8C_APISERVER_INTERNAL_H
#define K8C_APISERVER_INTERNAL_H

#include <gnutls/gnutls.h>
#include <jansson.h>
#include <sys/types.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/kinds.h"
#include "apiserver/apiserver.h"
#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

#define APISERVER_MAX_BODY (3u * 1024 * 1024) /* 3 MiB, as kube-apiserver */
#define APISERVER_KUBE_MAJOR "1"
#define APISERVER_KUBE_MINOR "32"

/* ---- certificates, tokens, kubeconfig (certs.c, kubeconfig.c) ---- */

struct apiserver_certs {
    char *ca_crt, *ca_key;         /* PEM */
    char *server_crt, *server_key; /* serving certificate */
    char *admin_crt, *admin_key;   /* O=system:masters, CN=kubernetes-admin */
    char *sa_key;                  /* signs service account tokens */
};

/* Loads <data-dir>/tls/{ca,apiserver,admin}.{crt,key}, making whatever is missing (keys 0600,
 * atomic writes). Re-issues the serving certificate if it does not cover listen_host. */
int apiserver__certs_ensure(const char *data_dir, const char *listen_host,
                            struct apiserver_certs *out, struct k8c_err **err);
void apiserver__certs_clear(struct apiserver_certs *c);

/* Reads <data-dir>/node-token or makes a random one (0600). *token: caller frees. */
int apiserver__token_ensure(const char *data_dir, char **token, struct k8c_err **err);

/* Writes <data-dir>/admin.kubeconfig (0600) for server_url with the CA and admin credentials
 * embedded. *path receives the file's path (caller frees). */
int apiserver__kubeconfig_write(const char *data_dir, const char *server_url,
                                const struct apiserver_certs *certs, char **path,
                                struct k8c_err **err);

/* ---- authentication and authorization (authn.c) ---- */

struct apiserver_user {
    char name[128];
    char groups[4][64];
    unsigned n_groups;
};

/* The authorizer hook: whether user may do verb on the resource (group, resource,
 * subresource, namespace, name; any may be NULL). Today every authenticated user may do
 * everything; RBAC replaces this one function. */
bool apiserver__authorize(const struct apiserver_user *user, const char *verb, const char *group,
                          const char *resource, const char *subresource, const char *ns,
                          const char *name);

struct apiserver_req;
struct apiserver_resp;
/* POST …/selfsubjectaccessreviews (kubectl auth can-i): asks the authorizer hook. */
void apiserver__serve_access_review(const struct apiserver_req *req, struct apiserver_resp *resp);

/* ---- the request, as the handlers see it ---- */

struct apiserver_param {
    char *key;
    char *value;
};

struct apiserver_req {
    const char *method;
    const char *path;
    struct apiserver_param *params; /* decoded query, owned */
    size_t n_params;
    const char *accept;
    const char *content_type;
    const char *body;
    size_t body_len;
    const struct apiserver_user *user;
    int conn_fd; /* the client socket for watches to notice a hang-up; -1 in-process */
    const char *forward_headers; /* "Name: value\r\n"… of upgrade headers, for the agent */
};

/* Splits and percent-decodes a query string into req->params. Returns 0, or -1 (BAD_REQUEST)
 * for malformed escapes. */
int apiserver__query_parse(struct apiserver_req *req, const char *query, struct k8c_err **err);
void apiserver__req_clear(struct apiserver_req *req);
/* The last value of key, or NULL (borrowed). */
const char *apiserver__param(const struct apiserver_req *req, const char *key);
/* Whether key holds a true value as Go's strconv.ParseBool reads it ("true", "1", "True"…). */
bool apiserver__param_bool(const struct apiserver_req *req, const char *key);

struct apiserver_watch;

/* The answer being built; a watch hands over a stream instead of a body. */
struct apiserver_resp {
    struct apiserver_response_out out;
    struct apiserver_watch *watch;
    struct apiserver_agent_conn *proxy; /* a streaming subresource answered by the agent */
    size_t n_warnings;
    bool cache_immutable; /* Cache-Control: public, immutable (hashed OpenAPI documents) */
};

void apiserver__resp_json(struct apiserver_resp *r, int code, const json_t *v);
void apiserver__resp_json_ct(struct apiserver_resp *r, int code, const json_t *v,
                             const char *content_type);
void apiserver__resp_text(struct apiserver_resp *r, int code, const char *content_type,
                          const char *text);
/* A Status failure; causes_take may be NULL. */
void apiserver__resp_status(struct apiserver_resp *r, int code, const char *reason,
                            const char *message, const char *details_kind, const char *details_name,
                            json_t *causes_take);
/* A Status from an error: the code and reason from e->reason, the message from e->msg. */
void apiserver__resp_err(struct apiserver_resp *r, const struct k8c_err *e);
void apiserver__resp_warn(struct apiserver_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- content negotiation (negotiate.c) ---- */

enum apiserver_out_format {
    APISERVER_OUT_JSON = 0,
    APISERVER_OUT_TABLE,     /* meta.k8s.io/v1 Table */
    APISERVER_OUT_DISCOVERY, /* apidiscovery.k8s.io/v2 APIGroupDiscoveryList */
    APISERVER_OUT_DISCOVERY_V2BETA1,
    APISERVER_OUT_PROTOBUF_ONLY, /* only protobuf would do: 406 */
};

/* What to answer for an Accept header: Tables and discovery only where allowed. */
enum apiserver_out_format apiserver__negotiate(const char *accept, bool table_ok,
                                               bool discovery_ok);

enum apiserver_in_format {
    APISERVER_IN_JSON = 0, /* also: no Content-Type (kubectl's PUT …/scale) */
    APISERVER_IN_YAML,
    APISERVER_IN_PROTOBUF,
    APISERVER_IN_JSON_PATCH,
    APISERVER_IN_MERGE_PATCH,
    APISERVER_IN_STRATEGIC_PATCH,
    APISERVER_IN_APPLY_PATCH,
    APISERVER_IN_UNSUPPORTED,
};
enum apiserver_in_format apiserver__content_type(const char *content_type);

/* ---- routing (router.c) ---- */

enum apiserver_route_type {
    ROUTE_NOT_FOUND = 0,
    ROUTE_VERSION,
    ROUTE_HEALTH, /* /healthz, /livez, /readyz (+ /…/<check>) */
    ROUTE_METRICS,
    ROUTE_API,            /* /api */
    ROUTE_APIS,           /* /apis */
    ROUTE_GROUP,          /* /apis/<g> */
    ROUTE_GROUP_VERSION,  /* /api/v1, /apis/<g>/<v> */
    ROUTE_OPENAPI_V2,     /* /openapi/v2 (and /swagger.json) */
    ROUTE_OPENAPI_V3,     /* /openapi/v3 */
    ROUTE_OPENAPI_V3_DOC, /* /openapi/v3/api/v1, /openapi/v3/apis/<g>/<v> */
    ROUTE_RESOURCE,       /* an object, a collection or a subresource */
    ROUTE_UNKNOWN_GV,     /* /apis/<g>/<v>/... for a group-version not served */
    ROUTE_ACCESS_REVIEW,  /* POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews */
};

struct apiserver_route {
    enum apiserver_route_type type;
    char group[64];
    char version[32];
    const struct api_kind *kind; /* ROUTE_RESOURCE */
    char *ns;                    /* NULL: cluster scope or all namespaces */
    char *name;                  /* NULL: the collection */
    char *subresource;           /* NULL: the object itself */
    bool legacy_watch;           /* /api/v1/watch/... */
    char resource[64];           /* the resource segment as written (for 404 texts) */
};

/* Parses a decoded path. Returns 0 and fills *route (clear with apiserver__route_clear), or
 * -1 with *err: BAD_REQUEST for names that cannot be object names ("..", "."),
 * NOT_FOUND for unknown resources or subresources. */
int apiserver__route_parse(const char *path, struct apiserver_route *route, struct k8c_err **err);
void apiserver__route_clear(struct apiserver_route *route);

/* ---- metrics (metrics.c) ---- */

struct apiserver_metrics;
struct apiserver_metrics *apiserver__metrics_new(void);
void apiserver__metrics_free(struct apiserver_metrics *m);
void apiserver__metrics_request(struct apiserver_metrics *m, const char *verb, const char *resource,
                                int code, uint64_t duration_ns);
void apiserver__metrics_store(struct apiserver_metrics *m, const char *op, uint64_t duration_ns);
void apiserver__metrics_render(struct apiserver_metrics *m, struct buf *out);

/* ---- the handler core ---- */

struct apiserver_core {
    struct store *store;
    struct apiserver_metrics *metrics;
    atomic_int inflight_mutating;
    atomic_int inflight_readonly;
    atomic_int watches;
    int max_mutating;
    int max_readonly;
    atomic_bool stopping;
    atomic_bool ready;
    pthread_mutex_t service_lock;          /* serializes Service creates (address allocation) */
    int node_port_min, node_port_max;      /* the NodePort range */
    uint32_t svc_base, svc_size;           /* the service CIDR: network (host order), addresses */
    char svc_cidr[32];                     /* as text, for messages */
    struct apiserver_tokens *tokens;       /* NULL in-process: no token signing */
    const struct apiserver_certs *certs;   /* NULL in-process: no agent connections */
    struct apiserver_event_cache *events;  /* encoded watch objects shared by watchers */
    struct apiserver_ns_cache *namespaces; /* namespaces known to be active (nscache.c) */
    uint64_t request_timeout_ns;           /* --request-timeout */
    unsigned min_request_timeout_s;        /* --min-request-timeout: default watch length */
};

/* ---- read deadlines on connections, against slowloris clients (guard.c) ---- */

struct apiserver_guard;
struct apiserver_guarded;
struct apiserver_guard *apiserver__guard_new(void);
void apiserver__guard_free(struct apiserver_guard *g);
/* Watches socket fd: shut down once deadline_ns (monotonic, 0: none) passes. NULL if fd is
 * not open. */
struct apiserver_guarded *apiserver__guard_add(struct apiserver_guard *g, int fd,
                                               uint64_t deadline_ns);
/* A new deadline; exempt takes the socket out for good (it became a pipe). c may be NULL. */
void apiserver__guard_set(struct apiserver_guard *g, struct apiserver_guarded *c,
                          uint64_t deadline_ns, bool exempt);
void apiserver__guard_remove(struct apiserver_guard *g, struct apiserver_guarded *c);

/* ---- request deadlines (deadline.c) ---- */

/* Whether a subresource streams (log, exec, attach, portforward, proxy): long-running, as a
 * watch, so neither deadline nor in-flight limit applies. */
bool apiserver__streaming(const char *subresource);
/* The request's deadline (monotonic ns; 0: none): --request-timeout, or `?timeout=` or
 * `timeoutSeconds` when shorter. -1 with a 400 Status in resp when either is malformed. */
int apiserver__deadline(const struct apiserver_core *core, const struct apiserver_req *req,
                        uint64_t *deadline_ns, struct apiserver_resp *resp);
/* Replaces whatever resp holds with kube-apiserver's 504 Timeout Status. */
void apiserver__resp_timeout(const struct apiserver_req *req, struct apiserver_resp *resp);

/* Serves a parsed request (dispatch.c): routing, authorization, limits, metrics. */
void apiserver__dispatch(struct apiserver_core *core, struct apiserver_req *req,
                         struct apiserver_resp *resp);

/* Discovery and fixed documents (discovery.c). */
void apiserver__serve_discovery(struct apiserver_core *core, const struct apiserver_req *req,
                                const struct apiserver_route *route, struct apiserver_resp *resp);
void apiserver__serve_version(struct apiserver_resp *resp);
void apiserver__serve_openapi(const struct apiserver_req *req, const struct apiserver_route *route,
                              struct apiserver_resp *resp);

/* The resource verbs (objects.c: get/create/update/delete; list.c: list; patch.c: patch;
 * watch.c: watch). verb is the Kubernetes verb the dispatcher decided. */
void apiserver__serve_get(struct apiserver_core *core, const struct apiserver_req *req,
                          const struct apiserver_route *route, struct apiserver_resp *resp);
void apiserver__serve_list(struct apiserver_core *core, const struct apiserver_req *req,
                           const struct apiserver_route *route, struct apiserver_resp *resp);
void apiserver__serve_create(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp);
void apiserver__serve_update(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp);
void apiserver__serve_patch(struct apiserver_core *core, const struct apiserver_req *req,
                            const struct apiserver_route *route, struct apiserver_resp *resp);
void apiserver__serve_delete(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp);
void apiserver__serve_deletecollection(struct apiserver_core *core, const struct apiserver_req *req,
                                       const struct apiserver_route *route,
                                       struct apiserver_resp *resp);
void apiserver__serve_watch(struct apiserver_core *core, const struct apiserver_req *req,
                            const struct apiserver_route *route, struct apiserver_resp *resp);

/* ---- shared object plumbing (objects.c) ---- */

/* "pods", "deployments.apps": the qualified resource Kubernetes names in messages. */
void apiserver__qualified(const struct api_kind *k, char *out, size_t size);

/* Reads one object; sets metadata.resourceVersion from the store. NOT_FOUND worded as
 * Kubernetes words it. *mod_rev receives the object's revision. Returns a new reference. */
json_t *apiserver__object_read(struct apiserver_core *core, const struct api_kind *k,
                               const char *ns, const char *name, int64_t *mod_rev,
                               struct k8c_err **err);

/* Parses a stored value of kind k (converting Events to the kind's version) and sets its
 * resourceVersion to mod_rev. Returns a new reference. */
json_t *apiserver__object_decode_stored(const struct api_kind *k, const char *value, size_t len,
                                        int64_t mod_rev, struct k8c_err **err);

/* Deletes one object, guarded by mod_rev (0: unguarded). Returns the new revision or -1. */
int64_t apiserver__object_remove(struct apiserver_core *core, const struct api_kind *k,
                                 const char *ns, const char *name, int64_t mod_rev,
                                 struct k8c_err **err);

/* Decodes a JSON, YAML or protobuf request body into a new object for kind k. */
json_t *apiserver__body_decode(const struct apiserver_req *req, const struct api_kind *k,
                               struct k8c_err **err);

/* Writes obj as an update guarded by mod_rev (stale: 409 Conflict worded as Kubernetes).
 * Sets the new resourceVersion in obj. Returns the new revision or -1. */
int64_t apiserver__object_write(struct apiserver_core *core, const struct api_kind *k,
                                const char *ns, const char *name, json_t *obj, int64_t mod_rev,
                                struct k8c_err **err);

/* apiserver__object_write that also puts obj's JSON, with its new resourceVersion, in
 * answer (when not NULL): the stored bytes with the resourceVersion spliced in, not a second
 * encoding. */
int64_t apiserver__object_write_answer(struct apiserver_core *core, const struct api_kind *k,
                                       const char *ns, const char *name, json_t *obj,
                                       int64_t mod_rev, struct buf *answer, struct k8c_err **err);

/* Appends to out the JSON object in v (len bytes, without metadata.resourceVersion) with
 * metadata.resourceVersion rev inserted after `"metadata":{` - instead of a decode and an
 * encode. False (out unchanged or partly written: reset it) when v is not a JSON object
 * with a metadata object or already names a resourceVersion. */
bool apiserver__json_with_rv(const char *v, size_t len, int64_t rev, struct buf *out);

/* Validates, defaults (create) and stores the outcome of an update or patch of an existing
 * object: the shared tail of PUT and PATCH, status and scale subresources included. new_obj
 * is the full object as the client wants it; old is the live object (mod_rev its revision).
 * Answers resp. Returns 0, or -1 with *err when the caller should retry (CONFLICT on a write
 * without a client-given resourceVersion) - any other failure is answered in resp. */
int apiserver__finish_update(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, json_t *new_obj,
                             const json_t *old, int64_t mod_rev, bool client_rv,
                             struct apiserver_resp *resp, struct k8c_err **err);

/* Creates obj (already decoded) in the namespace of route: the shared tail of POST and of a
 * server-side apply that creates. Answers resp. */
void apiserver__finish_create(struct apiserver_core *core, const struct apiserver_req *req,
                              const struct apiserver_route *route, json_t *obj,
                              struct apiserver_resp *resp);

/* Builds the autoscaling/v1 Scale of obj (a Deployment, ReplicaSet, StatefulSet). */
json_t *apiserver__scale_from(const json_t *obj);

bool apiserver__dry_run(const struct apiserver_req *req);
/* Parses resourceVersion text ("" -> 0). Returns 0, or -1 (BAD_REQUEST) for garbage. */
int apiserver__parse_rv(const char *text, int64_t *rv, struct k8c_err **err);

/* ---- continue tokens (list.c) ---- */

/* base64 of {"v":"meta.k8s.io/v1","rv":<rev>,"start":"<key>"}, as Kubernetes' own; caller
 * frees. */
char *apiserver__continue_encode(int64_t rev, const char *start_key);
/* Decodes a token; the key must lie under prefix. BAD_REQUEST for anything else. */
int apiserver__continue_decode(const char *token, const char *prefix, int64_t *rev,
                               char **start_key, struct k8c_err **err);

/* ---- watch streams (watch.c) ---- */

struct apiserver_event_cache;

/* ---- namespaces known to be active (nscache.c) ---- */
struct apiserver_ns_cache;
struct apiserver_ns_cache *apiserver__ns_cache_new(void);
void apiserver__ns_cache_free(struct apiserver_ns_cache *c);
/* Sets *active when ns is known to be active. Returns the revision from which a read of the
 * namespace may be cached with apiserver__ns_cache_put, or -1 (do not cache). */
int64_t apiserver__ns_cache_check(struct apiserver_ns_cache *c, struct store *s, const char *ns,
                                  bool *active);
/* Records ns as active, as read after apiserver__ns_cache_check returned checked_rev. */
void apiserver__ns_cache_put(struct apiserver_ns_cache *c, struct store *s, const char *ns,
                             int64_t checked_rev);
struct apiserver_event_cache *apiserver__event_cache_new(void);
void apiserver__event_cache_free(struct apiserver_event_cache *c);

/* Produces the next bytes of the stream into out (at most max). Blocks until an event, the
 * deadline, a hang-up of conn_fd or shutdown. Returns the bytes written, 0 when the stream
 * is over. */
size_t apiserver__watch_read(struct apiserver_watch *w, char *out, size_t max);
void apiserver__watch_free(struct apiserver_watch *w);

/* ---- service account tokens (tokens.c) ---- */

struct apiserver_tokens;
/* Loads the signing key (PEM). Returns NULL with *err on a bad key. */
struct apiserver_tokens *apiserver__tokens_new(const char *key_pem, struct k8c_err **err);
void apiserver__tokens_free(struct apiserver_tokens *t);
/* An ES256 JWT for the service account; *expires gets its exp. Caller frees; NULL when
 * signing fails. */
char *apiserver__token_issue(struct apiserver_tokens *t, const char *ns, const char *name,
                             const char *uid, const json_t *audiences, int64_t lifetime_s,
                             int64_t *expires);
/* 0 and *user filled when jwt is a valid unexpired token of ours; -1 otherwise. */
int apiserver__token_verify(struct apiserver_tokens *t, const char *jwt,
                            struct apiserver_user *user);
struct apiserver_route;
/* POST serviceaccounts/<name>/token. */
void apiserver__serve_token_request(struct apiserver_core *core, const struct apiserver_req *req,
                                    const struct apiserver_route *route,
                                    struct apiserver_resp *resp);

/* ---- services (services.c) ---- */

/* Allocates spec.clusterIP(s) and node ports for a Service being created (caller holds
 * core->service_lock until it is stored). Returns 0, or -1 after answering resp (422 for a
 * requested address that is taken or out of range). */
int apiserver__service_allocate(struct apiserver_core *core, const struct api_kind *k, json_t *obj,
                                struct apiserver_resp *resp);
/* Keeps old's cluster IPs and node ports in an update that leaves them out. */
void apiserver__service_keep_allocated(json_t *obj, const json_t *old);
/* The service CIDR's n-th address as text into out (1: kubernetes, 10: kube-dns). */
void apiserver__service_ip(const struct apiserver_core *core, uint32_t n, char out[16]);
/* Creates the `kubernetes` Service (the service CIDR's first address, port 443) and Endpoints
 * (host:port) in default. */
int apiserver__bootstrap_kubernetes_service(struct apiserver_core *core, const char *host,
                                            unsigned port, struct k8c_err **err);

/* ---- streaming subresources (stream.c) ---- */

/* A connection to a node agent whose answer head has been read. */
struct apiserver_agent_conn {
    int fd;
    gnutls_session_t tls; /* NULL for http:// agents */
    gnutls_certificate_credentials_t cred;
    int status;      /* the agent's HTTP status */
    char *head;      /* the answer head (NUL-terminated) followed by extra bytes */
    size_t head_len; /* up to and including the blank line */
    char *extra;     /* bytes read past the head */
    size_t extra_len;
};

/* pods/<name>/{exec,attach,portforward,log}: connects to the pod's node agent and sends the
 * request; sets resp->proxy (server.c relays or pipes it) or answers a Status. */
void apiserver__serve_stream(struct apiserver_core *core, const struct apiserver_req *req,
                             const struct apiserver_route *route, struct apiserver_resp *resp);
ssize_t apiserver__agent_read(struct apiserver_agent_conn *c, void *buf, size_t n);
int apiserver__agent_write(struct apiserver_agent_conn *c, const void *buf, size_t n);
/* Whether TLS has decrypted bytes buffered (poll would not show them). */
bool apiserver__agent_pending(struct apiserver_agent_conn *c);
void apiserver__agent_close(struct apiserver_agent_conn *c);

/* ---- bootstrap (bootstrap.c) ---- */

/* Creates default, kube-system, kube-public and kube-node-lease when missing. */
int apiserver__bootstrap(struct apiserver_core *core, struct k8c_err **err);

#endif
