/* Node pressure and eviction (src/agent/eviction.c): the machine's readings, kubelet's default
 * hard eviction thresholds, the node conditions and pressure taints they give, and the order
 * in which pods are evicted. The pure parts take their inputs (readings, clock, candidates),
 * so unit tests drive them with made-up numbers. */
#ifndef K8C_AGENT_EVICTION_H
#define K8C_AGENT_EVICTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The eviction signals (kubelet's names), in the order they are checked. */
enum agent_signal {
    AGENT_SIG_MEMORY,  /* memory.available < 100Mi */
    AGENT_SIG_NODEFS,  /* nodefs.available < 10% */
    AGENT_SIG_INODES,  /* nodefs.inodesFree < 5% */
    AGENT_SIG_IMAGEFS, /* imagefs.available < 15% (the data dir holds the images too) */
    AGENT_SIG_PID,     /* pid.available < 5% (kubelet has no default: k8c's choice) */
    AGENT_SIGNALS
};

/* What the machine has: bytes, inodes, process ids. A capacity of 0 means unknown (the
 * signal is never breached). */
struct agent_readings {
    int64_t mem_available, mem_capacity;
    int64_t fs_available, fs_capacity;
    int64_t inodes_free, inodes_capacity;
    int64_t imagefs_available, imagefs_capacity;
    int64_t pids, pid_max;
};

/* The node's conditions, in the order the Node reports them. */
enum agent_condition { AGENT_COND_READY, AGENT_COND_MEMORY, AGENT_COND_DISK, AGENT_COND_PID };
#define AGENT_CONDITIONS 4

/* How long a pressure condition stays True after its signal was last under the threshold
 * (kubelet's --eviction-pressure-transition-period default). */
#define AGENT_PRESSURE_TRANSITION_NS (300ull * 1000000000ull)

struct agent_pressure {
    uint64_t last_breach_ns[AGENT_SIGNALS]; /* monotonic; 0: never */
    bool status[AGENT_CONDITIONS];          /* as last computed */
    time_t transition[AGENT_CONDITIONS];    /* lastTransitionTime (0: not yet reported) */
};

/* The machine's readings for a node whose data lives in data_dir; K8C_TEST_NODE_READINGS
 * (a JSON file, e.g. {"memory.available": 1048576}) overrides signals, for tests. */
void agent_readings_take(const char *data_dir, struct agent_readings *r);

/* Which signals r breaches (a bit per enum agent_signal). */
unsigned agent_signals_breached(const struct agent_readings *r);

/* Records the breaches observed at now_ns and computes the conditions (a pressure condition
 * stays True for the transition period after its last breach); transition times move when a
 * status changes. Returns whether any condition's status changed. */
bool agent_pressure_update(struct agent_pressure *st, unsigned breached, uint64_t now_ns,
                           time_t now);

/* The Node's status.conditions for st, heartbeat now. New array. */
json_t *agent_node_conditions(const struct agent_pressure *st, time_t now);

/* The node's spec.taints with the node.kubernetes.io/{memory,disk,pid}-pressure NoSchedule
 * taints matching st (others kept). New array, or NULL when taints already match. */
json_t *agent_pressure_taints(const json_t *taints, const struct agent_pressure *st);

/* A pod the eviction may pick: its usage of the starved resource and its requests of it. */
struct agent_evict_candidate {
    const char *key;
    int64_t usage, request;
    int32_t priority;
    const char *qos; /* for the log */
};

/* Sorts candidates in kubelet's eviction order: pods using more than they request first
 * (every BestEffort pod using anything), then lower spec.priority, then the larger usage above
 * requests. */
void agent_evict_rank(struct agent_evict_candidate *c, size_t n);

/* Kubelet's eviction message for signal (the available amount from r) and the pod's
 * container that used the most. Caller frees. */
char *agent_evict_message(enum agent_signal sig, const struct agent_readings *r,
                          const char *container, int64_t usage, int64_t request);

#endif
