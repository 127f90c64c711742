/* Probes, lifecycle hooks, graceful stops, termination messages and OOM detection
 * (src/agent/probe.c, probe_action.c, lifecycle.c): the agent's health checking. */
#ifndef K8C_AGENT_PROBE_H
#define K8C_AGENT_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "agent/internal.h"

/* ---- probe_action.c: one exec / httpGet / tcpSocket action against a container ---- */

/* Where an action reaches its container. */
struct agent_target {
    const char *cid;    /* runtime id, for exec */
    const char *netns;  /* <pod dir>/ns/net: sockets are created in there */
    const char *pod_ip; /* status.podIP, or NULL: 127.0.0.1 inside the pod's netns */
    const json_t *ctr;  /* the container's spec (named ports) */
    const atomic_bool *stop;
    int exit_code; /* out: an exec's exit code when it ran and failed, else -1 */
};

enum agent_action_result { AGENT_ACTION_ERROR = -1, AGENT_ACTION_FAIL = 0, AGENT_ACTION_OK = 1 };

/* Runs the probe or hook handler `action` ({exec|httpGet|tcpSocket: …}) with a timeout.
 * Returns OK, FAIL (with *msg as Kubernetes words it: an exec's output (its code in
 * t->exit_code), `command "…" timed out`, "HTTP probe
 * failed with statuscode: 500", "dial tcp …: connect: connection refused", …) or ERROR (the
 * action is malformed or could not run; *msg says why). *msg is set in every case; caller
 * frees. */
enum agent_action_result agent__action_run(const struct agent *a, struct agent_target *t,
                                           const json_t *action, double timeout_s, char **msg);

/* The HTTP status code of a response's status line ("HTTP/1.x NNN …"), or -1 when data does
 * not start with one (yet). Exposed for tests and fuzzing. */
int agent__http_status_code(const char *data, size_t len);
/* probe_action.c: a non-blocking TCP socket made in the network namespace at netns (the
 * path of an nsfs mount). Returns the fd, or -1 with errno set. */
int agent__socket_in_netns(const char *netns);

/* probe_curl.c: httpGet with scheme HTTPS (hdrs: the request's headers) and grpc
 * (grpc.health.v1.Health/Check for service, h2c); results and *msg as agent__action_run. */
struct curl_slist;
enum agent_action_result agent__probe_https(const struct agent_target *t, const char *host,
                                            int port, const char *path, struct curl_slist *hdrs,
                                            uint64_t deadline, char **msg);
enum agent_action_result agent__probe_grpc(const struct agent_target *t, const char *host, int port,
                                           const char *service, double timeout_s, uint64_t deadline,
                                           char **msg);
/* The status of a framed grpc.health.v1.HealthCheckResponse (1 = SERVING), or -1 when data is
 * not one. Exposed for tests and fuzzing. */
int agent__grpc_health_status(const uint8_t *data, size_t len);

/* The port an action names (number, or the name of one of the container's ports). Returns
 * 1-65535, or -1 with *msg. */
int agent__action_port(const json_t *port, const json_t *ctr, char **msg);

/* ---- probe.c: the prober (one thread per probed container instance) ---- */

/* The probe timing of a probe spec, with Kubernetes' defaults. */
struct agent_probe_timing {
    int initial_delay, period, timeout, success_threshold, failure_threshold;
};
void agent__probe_timing(const json_t *probe, bool liveness_or_startup,
                         struct agent_probe_timing *out);

/* kubelet's threshold rule: feeds one probe outcome. *run counts equal results in a row,
 * *last is the last outcome (-1 before any). Returns 1 when the result flips to success, 0
 * when it flips to failure, -1 when nothing is decided yet. */
int agent__probe_feed(int *last, int *run, bool ok, const struct agent_probe_timing *t);

void agent__prober_init(struct agent *a);
/* Stops every probe and hook thread (waits for them). */
void agent__prober_shutdown(struct agent *a);
/* Per sync of a container: starts/stops its probe thread, copies started/ready into c,
 * acts on a liveness or startup failure (Killing event, graceful stop). */
void agent__probes_sync(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                        const json_t *pod);
/* Stops the probes of every container of the pod with uid. */
void agent__probes_forget(struct agent *a, const char *uid);

/* Counts a detached helper thread in (hooks, stops) so shutdown can wait for it. */
void agent__prober_thread_enter(struct agent *a);
void agent__prober_thread_leave(struct agent *a);

/* ---- lifecycle.c ---- */

/* Before a start: a fresh termination-log file bound at terminationMessagePath into cfg's
 * mounts, the previous run's message/OOM moved to last*. */
int agent__lifecycle_prepare(struct agent_pod *p, struct agent_ctr *c, const json_t *spec,
                             json_t *cfg, struct k8c_err **err);
/* After a start: runs postStart (if any) in its own thread; a failure records
 * FailedPostStartHook and stops the container. */
void agent__lifecycle_started(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                              const json_t *pod);
/* Stops a running container without blocking: preStop (if any), SIGTERM, SIGKILL when
 * grace_s has passed since the call; the pod key is queued when it is done. */
void agent__ctr_stop(struct agent *a, struct agent_pod *p, struct agent_ctr *c, const json_t *pod,
                     long grace_s);
/* Waits (at most timeout_s) until the runtime reports container cid running. False when it
 * exited (exitp exists) or the time ran out. */
bool agent__ctr_wait_running(const struct agent *a, const char *cid, const char *exitp,
                             double timeout_s);
/* After an exit was seen: OOMKilled and the termination message into c. */
void agent__lifecycle_exited(struct agent_pod *p, struct agent_ctr *c);
/* What kubelet keeps across its own restart (from the API's pod status) and k8c keeps in the
 * container's agent-state.json: the last run's OOMKilled and termination message, whether the
 * startup probe of the current run succeeded. Adds them to st / takes them from st. */
void agent__lifecycle_save(const struct agent_ctr *c, json_t *st);
void agent__lifecycle_adopt(struct agent_ctr *c, const json_t *st);

/* Whether a /dev/kmsg record reports an OOM kill of a task in memory cgroup memcg at or after
 * since_us (the kernel's monotonic microseconds). Exposed for tests and fuzzing. */
bool agent__kmsg_is_oom(const char *rec, size_t len, const char *memcg, uint64_t since_us);
/* The termination message from a log's tail (FallbackToLogsOnError): the last 80 lines, at
 * most 2048 bytes, of CRI log text. Caller frees. */
char *agent__log_tail_message(const char *cri, size_t len);

#endif
