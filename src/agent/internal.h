/* Shared by the agent's files: the agent, its pods and containers, module-internal helpers. */
#ifndef K8C_AGENT_INTERNAL_H
#define K8C_AGENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "client/client.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "image/image.h"

#define AGENT_KUBELET_VERSION "v1.32.0-k8c"

/* What the agent knows about one container of a pod (kept in memory; files under its dir). */
struct agent_ctr {
    char *name;
    bool init;
    int restarts;
    bool running;  /* a shim was started and no exit file seen yet */
    bool creating; /* running, but the runtime has not created the container yet */
    int notify_fd; /* creating with the built-in shim: its "running" pipe (notify.c), else 0 */
    bool exited;   /* the last run ended; exit_code holds its status */
    bool relaunch; /* a start recorded but not launched (agent killed between): launch it */
    int exit_code;
    time_t started_at, finished_at;
    bool has_last; /* lastState.terminated */
    int last_exit;
    time_t last_started, last_finished;
    uint64_t backoff_until_ns; /* monotonic: no restart before */
    unsigned backoff_s;
    char *image_id;       /* config digest of the image it runs */
    char *waiting_reason; /* when not running: ContainerCreating, ErrImagePull, … */
    char *waiting_msg;
    /* probe.c / lifecycle.c: health and the end of a run */
    bool probe_started, probe_ready; /* from the prober (true without probes) */
    time_t startup_done_at;          /* started_at of the run whose startup probe passed */
    bool oom_killed, last_oom_killed;
    char *term_msg, *last_term_msg; /* state.terminated.message */
    bool term_msg_from_logs;        /* FallbackToLogsOnError */
};

/* The resources admission counts (admit.c), in kubelet's order of checking. */
enum { AGENT_RES_PODS, AGENT_RES_CPU, AGENT_RES_MEMORY, AGENT_RES_EPHEMERAL, AGENT_RES_COUNT };

struct agent_pod {
    char *uid, *key, *ns, *name;
    char *dir; /* <data-dir>/pods/<uid> */
    bool sandbox;
    time_t start_time;
    struct agent_ctr *ctrs; /* init containers first, then containers */
    size_t n_ctrs;
    bool killing;
    uint64_t kill_deadline_ns;
    char *last_status;        /* the status JSON last written, to skip no-op writes */
    uint64_t status_hold_ns;  /* monotonic: a creating container holds status writes (status.c) */
    uint64_t status_digest;   /* what last_status was built from (status.c) */
    char *ip;                 /* status.podIP (network.c); NULL: no pod network */
    bool volumes_ready;       /* every volume was set up once (volume.c) */
    uint64_t volumes_next_ns; /* monotonic: next resync of ConfigMap/Secret/... volumes */
    char *volumes_err;        /* the last FailedMount message, to not repeat the Event */
    uint64_t volumes_gen;     /* objwatch.c's generation the volumes were last written at */
    char *volumes_rv;         /* the pod's resourceVersion then (downward API files) */
    char *evict_msg;          /* set (under the agent's lock) when the eviction picked this pod */
    int64_t requests[AGENT_RES_COUNT]; /* what admission counted for it (admit.c) */
    bool terminal; /* under the agent's lock: its last status was Succeeded or Failed */
    struct agent_pod *next;
};

struct agent {
    struct client *client;
    const atomic_bool *stop;
    char *node_name;
    char *data_dir;
    char *runtime; /* "builtin", "fake", or the path of runc or crun */
    bool fake;     /* --runtime fake: containers are simulated (fake.c) */
    char *self_exe;
    char *shim_exe; /* <data-dir>/bin/k8c-shim, or NULL: `<self_exe> shim` */
    char *node_ip;
    char *agent_url;
    int port;
    unsigned max_pods;      /* capacity.pods (node.c) */
    const char *ca_pem;     /* the cluster CA: who may use the streaming endpoint (http.c) */
    char *cert_sha256;      /* the endpoint's serving certificate, pinned by the API server */
    long long log_max_size; /* a container's log file rotates past this size (shim.c) */
    int log_max_files;      /* files kept per container, the current one included */
    struct image_store *images;
    struct informer *informer;
    struct workqueue *queue;
    pthread_mutex_t lock; /* guards pods */
    struct agent_pod *pods;
    char *cluster_cidr;              /* pods' whole network (egress masquerade beyond it) */
    struct agent_net *net;           /* network.h: pod network and service proxy */
    struct agent_prober *prober;     /* probe.c */
    struct agent_events *events;     /* events.c's recorder */
    struct agent_pressure *pressure; /* node.c's conditions (the lease thread's) */
    /* dns.c: cluster DNS and NetworkPolicy (flags borrowed from argv) */
    const char *cluster_dns, *cluster_domain, *dns_listen, *resolv_conf;
    struct agent_net_view *net_view;
    struct agent_notify *notify;     /* notify.c: the built-in shims' "running" pipes */
    struct agent_objwatch *objwatch; /* objwatch.c: watched ConfigMaps/Secrets of volumes */
};

/* notify.c: one thread watching the built-in shims' "running" pipes; a readable one queues
 * its pod's key. start/stop around the workers (stop after they are joined). watch returns
 * -1 when there is no watcher (then the pod's sync polls the pipe); close forgets and closes
 * fd. */
void agent__notify_start(struct agent *a);
void agent__notify_stop(struct agent *a);
int agent__notify_watch(struct agent *a, int fd, const char *key);
void agent__notify_close(struct agent *a, int fd);

/* node.c: registration with the machine's capacity, and the Lease loop (runs until stop). */
int agent__node_register(struct agent *a, struct k8c_err **err);
void *agent__lease_main(void *opaque);

/* evict.c: every 10 s from the lease thread: the machine's readings against the eviction
 * thresholds; on memory or disk pressure, picks one pod (kubelet's order) to evict. */
void agent__evict_pick(struct agent *a, unsigned breached, const void *readings);
/* In the pod's sync: when the pod was picked, kills its containers at once (a hard
 * threshold has no grace period) and returns true: its status is then Failed/Evicted. */
bool agent__pod_evicting(struct agent *a, struct agent_pod *p, const json_t *pod);

/* objwatch.c: the ConfigMap or Secret ns/name as agent_source_get gives it, from a watch
 * of that object (started at the first lookup; pod_key is queued when it changes).
 * agent__objwatch_gen counts the changes seen; agent__objwatch_free stops every watch. */
json_t *agent__objwatch_get(struct agent *a, const char *pod_key, const char *ns, const char *name,
                            bool secret, struct k8c_err **err);
uint64_t agent__objwatch_gen(struct agent *a);
void agent__objwatch_free(struct agent *a);

/* pod.c: frees one pod's memory (not its containers: see the teardown). */
void agent__pod_free(struct agent_pod *p);
/* pod.c: brings the pod behind key to its desired state. Returns 0, or -1 to retry later. */
int agent__pod_sync(struct agent *a, const char *key);
/* After the first list: stops and removes what <data-dir>/pods holds for pods the API no
 * longer binds here (deleted while no agent ran). */
void agent__orphans_cleanup(struct agent *a);

/* container.c: the runtime's argv prefix for verb, NULL-terminated, into argv (at least 8
 * slots). */
void agent__runtime_argv(const struct agent *a, const char *verb, const char **argv, size_t *n);
/* exec_process.c: for crun and runc, a file with the container's process (config.json in
 * ctr_dir) running args, to pass as `exec --process FILE ID` (no args after ID); NULL for
 * the built-in runtime or when it cannot be made (plain `exec ID ARGS…` then). Caller unlinks
 * the file once the runtime has exited, and frees the path. */
char *agent__exec_process(const struct agent *a, const char *ctr_dir, const char *const *args,
                          size_t nargs, bool tty);
/* Runs the runtime's verb with extra args (NULL-terminated), output discarded. Returns its
 * exit code, or -1 when it could not run. */
int agent__runtime_call(struct agent *a, const char *verb, const char *const *extra);
/* Whether the runtime has state for container id. */
bool agent__runtime_has(const struct agent *a, const char *id);
/* The runtime id of container cname of the pod with uid. Caller frees. */
char *agent__container_id(const char *uid, const char *cname);
/* The container's spec in pod (init or not, by name), or NULL. */
const json_t *agent__ctr_spec(const json_t *pod, const struct agent_ctr *c);
/* <pod dir>/<container name>. Caller frees. */
char *agent__ctr_dir(const struct agent_pod *p, const struct agent_ctr *c);
/* Sets (copies) or clears the waiting reason and message. */
void agent__ctr_set_waiting(struct agent_ctr *c, const char *reason, const char *msg);
/* Saves / adopts <ctr dir>/agent-state.json (what a restarted agent needs). */
void agent__ctr_save(const struct agent_pod *p, const struct agent_ctr *c);
void agent__ctr_adopt(struct agent_pod *p, struct agent_ctr *c);
/* Notices that the runtime created a creating container (the built-in shim's pipe, runc's
 * or crun's state file). Returns whether the pod's sync should look again soon (polled). */
bool agent__ctr_created(struct agent *a, struct agent_pod *p, struct agent_ctr *c);
/* Notices an exit the shim recorded. */
void agent__ctr_poll(struct agent_pod *p, struct agent_ctr *c);
/* Starts container c: image, bundle, shim. Returns 0, or -1 with the waiting reason set. */
int agent__ctr_start(struct agent *a, struct agent_pod *p, struct agent_ctr *c, const json_t *pod);
/* The bookkeeping once container c runs: lastState, startedAt, saved state, the Started
 * Event. */
void agent__ctr_started(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                        const json_t *pod);
/* fake.c (--runtime fake): starts c without a process (image from the store if present, no
 * pull), and the runtime verbs: kill records the exit a signal would cause, others succeed. */
int agent__fake_ctr_start(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                          const json_t *pod);
int agent__fake_call(struct agent *a, const char *verb, const char *const *extra);
/* Whether restartPolicy policy restarts a container that exited with code. */
bool agent__wants_restart(const char *policy, int code);
/* Restarts an exited container when the policy says so and its back-off has passed. */
void agent__ctr_maybe_restart(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                              const json_t *pod, const char *policy);

/* volume.c: sets up the pod's volumes (again every VOLUME_RESYNC_S once ready, so
 * ConfigMap/Secret/downward API changes reach the files); a FailedMount Event when it fails.
 * Returns 0 when the containers may start, -1 while a volume is missing. */
int agent__pod_volumes(struct agent *a, struct agent_pod *p, const json_t *pod);

/* status.c: the phase and conditions kubelet derives from the containers' states. */
struct agent_pod_summary {
    const char *phase; /* Pending, Running (a container runs or has run: not while the first
                        * run is being created), Succeeded, Failed */
    bool initialized, ready;
};
void agent__pod_summary(const struct agent_pod *p, const char *restart_policy,
                        struct agent_pod_summary *out);
/* Whether the status write waits for a container the runtime is still creating (up to
 * 100 ms from the first such wait, so a fast start costs one write); the pod's sync is
 * queued for the end of the hold. */
bool agent__status_held(struct agent *a, struct agent_pod *p);
/* status.c: writes the pod's status through pods/status when it changed. 0, or -1 to retry. */
int agent__pod_write_status(struct agent *a, struct agent_pod *p, const json_t *pod);

/* http.c: the agent's HTTPS endpoint for logs, exec, attach and port-forward on
 * node_ip:port (thread per connection; stream.h has its internals). */
int agent__http_start(struct agent *a, struct k8c_err **err);
void agent__http_stop(struct agent *a);

/* logs.c: removes the rotated log files of the run before (0.log.<stamp>) at a restart, so
 * `kubectl logs` shows the new run only (its last file is kept as previous.log). */
void agent__logs_drop_rotated(const char *ctr_dir);

/* http.c parsers, exposed for tests and fuzzing. CRI log text (complete lines) as kubectl
 * shows it, appended to out: the message (+ "\n" for F lines), prefixed by its timestamp
 * when timestamps; malformed lines are skipped. */
void agent__cri_format(const char *text, size_t len, bool timestamps, struct buf *out);
/* Parses one WebSocket frame from in[0..n) (masked or not) into *opcode and payload (reset
 * first). Returns the bytes consumed, 0 when incomplete, (size_t)-1 for a frame over 16 MiB. */
size_t agent__ws_parse(const uint8_t *in, size_t n, uint8_t *opcode, struct buf *payload);

/* events.c: Events are queued and posted by a recorder thread, so a pod worker never waits
 * for the API server to record one (a full queue drops the Event with a log line). */
void agent__events_start(struct agent *a);
/* Posts what is queued (bounded by a deadline), then stops the thread. */
void agent__events_stop(struct agent *a);
/* dns.c: the cluster view (Services, EndpointSlices, Pods, Namespaces, NetworkPolicies) that
 * feeds the node's DNS server and policy rules; stopped with the agent's stop flag. */
int agent__dns_start(struct agent *a, struct k8c_err **err);
void agent__dns_stop(struct agent *a);
/* The DNS records of those objects (JSON arrays); a new table or NULL with *err. */
struct net_dns_table *agent__dns_table(const json_t *svcs, const json_t *slices, const json_t *pods,
                                       const char *domain, struct k8c_err **err);
/* The pod's resolv.conf as the kubelet writes it (dnsPolicy, dnsConfig). Caller frees. */
char *agent__dns_resolv_text(const struct agent *a, const json_t *pod);
/* Writes it to <pod_dir>/resolv.conf. Returns 0, or -1 and sets *err. */
int agent__dns_resolv_conf(const struct agent *a, const json_t *pod, const char *pod_dir,
                           struct k8c_err **err);
/* netpol.c: the plain input of src/net/policy.c from JSON arrays of Pods, Namespaces and
 * NetworkPolicies (node: this node's name, whose pods get rules). *in points into the
 * returned holder and borrows the JSON strings; free with agent__netpol_free. */
struct net_pol_input;
struct agent_netpol *agent__netpol_input(const json_t *pods, const json_t *namespaces,
                                         const json_t *policies, const char *node,
                                         const struct net_pol_input **in);
void agent__netpol_free(struct agent_netpol *h);

void agent__event(struct agent *a, const json_t *pod, const char *type, const char *reason,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* admit.c: kubelet's admission of a newly bound pod. agent_pod_requests: what the pod asks
 * for (pods 1; cpu in millicores, memory and ephemeral-storage in bytes): its containers
 * together or its largest init container, whichever is more, plus spec.overhead.
 * agent_pod_fits: 1 when want fits beside used within allocatable, else 0 with kubelet's
 * reason ("OutOfcpu") and message in *reason and *message (caller frees). agent__pod_admit
 * (between agent__admit_begin and agent__admit_end, which also cover tracking the pod): 1
 * when the pod fits beside the pods this agent runs (want filled), else 0 after failing the
 * pod (status and Warning Event). agent__node_allocatable (node.c): what the Node reports. */
void agent_pod_requests(const json_t *pod, int64_t out[AGENT_RES_COUNT]);
int agent_pod_fits(const int64_t want[AGENT_RES_COUNT], const int64_t used[AGENT_RES_COUNT],
                   const int64_t allocatable[AGENT_RES_COUNT], char **reason, char **message);
void agent__admit_begin(void);
void agent__admit_end(void);
int agent__pod_admit(struct agent *a, const json_t *pod, int64_t want[AGENT_RES_COUNT]);
void agent__node_allocatable(const struct agent *a, int64_t out[AGENT_RES_COUNT]);

#endif
