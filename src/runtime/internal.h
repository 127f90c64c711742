/* Functions and types shared between the files of src/runtime (never used outside it). */
#ifndef K8C_RUNTIME_INTERNAL_H
#define K8C_RUNTIME_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "runtime/runtime.h"

#define RUNTIME_DEFAULT_ROOT "/run/k8c-runtime"
/* Containers without linux.cgroupsPath live in <hierarchy>/k8c-runtime/<id>. */
#define RUNTIME_CGROUP_PARENT "/k8c-runtime"

/* ---- spec.c ---- */
const char *runtime__ns_name(enum runtime_ns_kind kind);
int runtime__ns_clone_flag(enum runtime_ns_kind kind);
unsigned long runtime__propagation_from_name(const char *name);
const char *runtime__hook_name(enum runtime_hook_kind kind);

/* ---- hooks.c ---- */
/* Runs the spec's hooks of one kind in order, each with state_json on its stdin, waiting
 * for each (bounded by its timeout). Returns 0, or -1 with *err naming the hook
 * ("hooks.createRuntime[0]: `/x` exited with status 3"). */
int runtime__hooks_run(const struct runtime_spec *spec, enum runtime_hook_kind kind,
                       const char *state_json, struct k8c_err **err);

/* ---- caps.c ---- */
/* The name of capability number cap ("CAP_CHOWN"), or NULL. Static storage. */
const char *runtime__cap_name(int cap);
/* The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap). */
int runtime__cap_last(void);
/* Drops every capability not in the bounding set. Must run with CAP_SETPCAP. */
int runtime__caps_drop_bounding(uint64_t bounding, struct k8c_err **err);
/* Switches to uid/gid/groups keeping capabilities, then sets effective, permitted,
 * inheritable and ambient as the spec says (or, without process.capabilities, leaves the
 * kernel's rules for the uid in place). */
int runtime__caps_apply_user(const struct runtime_spec *spec, struct k8c_err **err);

/* ---- seccomp.c ---- */
/* A compiled seccomp filter: classic BPF instructions (struct sock_filter, 8 bytes each). */
struct runtime_bpf {
    void *insns;
    size_t len;     /* bytes */
    unsigned flags; /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
};

/* Compiles the spec's filter with libseccomp into BPF. With cache_dir (may be NULL), a
 * filter compiled before from the same profile text is read from <cache_dir>/<hash>.bpf
 * instead, and a new one is stored there: every container of a node shares a handful of
 * profiles, and compiling Docker's takes milliseconds. Returns 0 or -1 with *err. */
int runtime__seccomp_compile(const struct runtime_seccomp *sc, const char *cache_dir,
                             struct runtime_bpf *out, struct k8c_err **err);
/* Loads the filter into the calling process (the container's, just before exec). */
int runtime__seccomp_load(const struct runtime_bpf *bpf, struct k8c_err **err);
void runtime__bpf_release(struct runtime_bpf *bpf);

/* ---- cgroup.c, cgroup-v1.c, cgroup-v2.c ---- */
struct runtime_cgroup;

/* A cgroup driver: one per hierarchy kind, chosen once (runtime__cgroup_driver). */
struct runtime_cgroup_ops {
    const char *name; /* "v1" or "v2" */
    /* Creates the cgroup (and parents) and writes the resources. */
    int (*create)(struct runtime_cgroup *cg, const struct runtime_resources *res,
                  struct k8c_err **err);
    /* Writes resources into an existing cgroup. */
    int (*update)(struct runtime_cgroup *cg, const struct runtime_resources *res,
                  struct k8c_err **err);
    /* Optional: moves the calling thread into the cgroup cheaply, so a process it clones
     * is born inside; leave moves it back to *saved (where it was: a NULL-terminated
     * string array, free with mem_free_strv). */
    int (*enter)(struct runtime_cgroup *cg, char ***saved, struct k8c_err **err);
    int (*leave)(struct runtime_cgroup *cg, char **saved, struct k8c_err **err);
    int (*add_pid)(struct runtime_cgroup *cg, pid_t pid, struct k8c_err **err);
    int (*freeze)(struct runtime_cgroup *cg, bool frozen, struct k8c_err **err);
    /* Returns 1 when frozen, 0 when not, -1 with *err. */
    int (*is_frozen)(struct runtime_cgroup *cg, struct k8c_err **err);
    int (*stats)(struct runtime_cgroup *cg, struct runtime_cgroup_stats *st, struct k8c_err **err);
    /* The pids in the cgroup; *pids is a new array the caller frees. */
    int (*pids)(struct runtime_cgroup *cg, pid_t **pids, size_t *n, struct k8c_err **err);
    /* Removes the cgroup directories (the processes must be gone). Missing is fine. */
    int (*destroy)(struct runtime_cgroup *cg, struct k8c_err **err);
};

struct runtime_cgroup {
    const struct runtime_cgroup_ops *ops;
    char *mount_root; /* "/sys/fs/cgroup" (v1: one directory per controller under it) */
    char *path;       /* the container's cgroup below each hierarchy root, "/k8c-runtime/id" */
};

/* Picks the driver for the hierarchy mounted at mount_root (NULL: /sys/fs/cgroup): v2 when
 * it is a cgroup2 mount, v1 otherwise (hybrid hosts are driven as v1). */
const struct runtime_cgroup_ops *runtime__cgroup_driver(const char *mount_root);
extern const struct runtime_cgroup_ops runtime__cgroup_v1;
extern const struct runtime_cgroup_ops runtime__cgroup_v2;
/* Fills cg (owned strings) for path under mount_root with the given driver. */
void runtime__cgroup_init(struct runtime_cgroup *cg, const struct runtime_cgroup_ops *ops,
                          const char *mount_root, const char *path);
void runtime__cgroup_release(struct runtime_cgroup *cg);
/* Removes the cgroup, waiting (bounded) for the kernel to let go of exiting tasks. */
int runtime__cgroup_destroy_wait(struct runtime_cgroup *cg, struct k8c_err **err);
/* mkdir -p for a cgroup directory, retrying when a parent vanishes meanwhile. */
int runtime__cgroup_mkdir(const char *dir, struct k8c_err **err);
/* Writes value to dir/file. */
int runtime__cgroup_write(const char *dir, const char *file, const char *value,
                          struct k8c_err **err);
/* Reads dir/file into a new string (trailing newline removed) or NULL with *err. */
char *runtime__cgroup_read(const char *dir, const char *file, struct k8c_err **err);
/* "key value" lines (memory.stat, cpu.stat): the value of key, or 0 when absent. */
uint64_t runtime__cgroup_keyed(const char *text, const char *key);
/* The pids listed in dir/cgroup.procs; *pids is a new array. */
int runtime__cgroup_read_pids(const char *dir, pid_t **pids, size_t *n, struct k8c_err **err);
/* Attaches the eBPF device filter for res->devices (plus the always-allowed devices) to
 * the v2 cgroup directory dir (cgroup-devices.c). */
int runtime__cgroup_v2_devices(const char *dir, const struct runtime_resources *res,
                               struct k8c_err **err);
/* cgroup v1 cpu.shares -> v2 cpu.weight, as runc and crun convert. */
uint64_t runtime__cpu_shares_to_weight(uint64_t shares);

/* ---- mounts.c ---- */
/* Opens path inside the directory rootfd, resolving every symlink as if rootfd were "/"
 * (an absolute link restarts at rootfd), never leaving it. With create, missing
 * components are made (directories; the last one a regular file when last_is_file).
 * Returns an O_PATH descriptor, or -1 with *err; a link that climbs above the root with
 * ".." is an error (BAD_REQUEST, "escapes the rootfs"). */
int runtime__open_in_root(int rootfd, const char *path, bool create, bool last_is_file,
                          struct k8c_err **err);
/* In the container's new mount namespace: prepares the rootfs (mounts, devices, then
 * before_pivot (the hooks; may be NULL), then pivot_root, or MS_MOVE + chroot with no_pivot
 * or when pivot_root refuses a ramfs root).
 * cg names the container's cgroup for cgroup mounts. On return the process's root is the
 * container's rootfs. */
typedef int (*runtime_before_pivot_fn)(void *opaque, struct k8c_err **err);
int runtime__rootfs_setup(const struct runtime_spec *spec, const struct runtime_cgroup *cg,
                          bool no_pivot, runtime_before_pivot_fn before_pivot, void *opaque,
                          struct k8c_err **err);
/* Writes linux.sysctl under /proc/sys (after the rootfs is set up). */
int runtime__sysctl_apply(const struct runtime_spec *spec, struct k8c_err **err);
/* Masked paths, readonly paths and the readonly root: the last mount steps, after sysctl. */
int runtime__rootfs_finish(const struct runtime_spec *spec, struct k8c_err **err);

/* ---- state.c ---- */
enum runtime_status {
    RUNTIME_STATUS_CREATING = 0,
    RUNTIME_STATUS_CREATED,
    RUNTIME_STATUS_RUNNING,
    RUNTIME_STATUS_PAUSED,
    RUNTIME_STATUS_STOPPED,
};

struct runtime_state {
    char *id;
    char *dir; /* <root>/<id> */
    pid_t pid;
    uint64_t pid_start; /* field 22 of /proc/<pid>/stat, against pid reuse */
    char *bundle;
    char *rootfs;
    char *created; /* RFC 3339 */
    char *cgroup_driver;
    char *cgroup_root;
    char *cgroup_path;
    json_t *annotations;
    bool oom_killed; /* set by `run` when the memory cgroup reported an OOM kill */
};

const char *runtime__status_name(enum runtime_status st);
/* Ids are [A-Za-z0-9][A-Za-z0-9_.-]*, at most 1024 bytes. */
int runtime__id_check(const char *id, struct k8c_err **err);
/* Creates <root>/<id> (fails ALREADY_EXISTS). */
int runtime__state_dir_create(const char *root, const char *id, struct k8c_err **err);
int runtime__state_save(const struct runtime_state *st, struct k8c_err **err);
/* Loads <root>/<id>/state.json (NOT_FOUND when there is no such container). */
int runtime__state_load(const char *root, const char *id, struct runtime_state *st,
                        struct k8c_err **err);
void runtime__state_release(struct runtime_state *st);
/* Removes the state directory and what is in it. */
int runtime__state_remove(const char *dir, struct k8c_err **err);
/* Live status from the pid, its start time, the exec fifo and the freezer. */
enum runtime_status runtime__state_status(const struct runtime_state *st);
/* The OCI state JSON ({ociVersion, id, status, pid, bundle, annotations}). New reference. */
json_t *runtime__state_json(const struct runtime_state *st, enum runtime_status status);
/* The start time of pid from /proc, or 0 when it is gone. */
uint64_t runtime__pid_start_time(pid_t pid);
/* Fills cg from the state's cgroup fields. */
void runtime__state_cgroup(const struct runtime_state *st, struct runtime_cgroup *cg);

/* ---- process.c ---- */
struct runtime_create_opts {
    const char *root; /* state root */
    const char *id;
    const char *console_socket; /* or NULL */
    int console_fd;             /* a connected socket (> 2) used instead, or 0 */
    const char *pid_file;       /* or NULL */
    int preserve_fds;
    bool no_pivot;    /* --no-pivot: MS_MOVE + chroot instead of pivot_root */
    bool start_now;   /* run: no exec fifo, the process runs as soon as it is set up */
    const int *stdio; /* the process's fds 0, 1, 2 (-1: inherited), or NULL: all inherited */
};

/* Creates the container: state dir, cgroup, namespaces, rootfs; the process waits on the
 * exec fifo (or runs at once with start_now). On failure everything is removed again.
 * Returns the container's pid or -1 with *err. */
pid_t runtime__container_create(const struct runtime_spec *spec,
                                const struct runtime_create_opts *opts, struct k8c_err **err);
/* Lets a created container's process run (opens the fifo, writes a byte). */
int runtime__container_start(const struct runtime_state *st, struct k8c_err **err);

struct runtime_exec_opts {
    const char *console_socket;
    int console_fd; /* a connected socket (> 2) used instead, or 0 */
    int proxy_fd;   /* the other end of console_fd: receive the master and proxy it */
    const char *pid_file;
    const char *cwd; /* or NULL: the container's */
    char **env;      /* extra NAME=VALUE, or NULL */
    bool tty;
    bool detach;
    bool has_user;
    uid_t uid;
    gid_t gid;
    bool no_new_privs_set; /* --no-new-privs given */
    char **args;
    const char *process_json; /* --process FILE, or NULL */
};

/* Runs a process inside a running container; returns its exit status (detach: 0), or -1
 * with *err. */
int runtime__container_exec(const struct runtime_state *st, const struct runtime_exec_opts *o,
                            struct k8c_err **err);
/* ---- console.c ---- */
/* Receives a terminal master sent with SCM_RIGHTS on sock. Returns the fd or -1 with *err. */
int runtime__console_recv(int sock, struct k8c_err **err);
/* Copies between our stdin/stdout and the terminal master (stdin in raw mode when it is a
 * terminal, whose size is passed on) until the container side closes, then waits for pid.
 * Returns the wait status. */
int runtime__console_proxy(int master, pid_t pid);

/* ---- run.c ---- */
/* poststart and poststop hooks: their failures are warnings on stderr, the life cycle goes on
 * (OCI). spec may be NULL (then the bundle's config.json is read). */
void runtime__post_hooks(const struct runtime_spec *spec, const struct runtime_state *st,
                         enum runtime_hook_kind kind, enum runtime_status status);
/* After a container's process has ended: kills what is left in its cgroup, removes the
 * cgroup and the state directory, runs the poststop hooks. Quiet; nothing to do is fine. */
void runtime__destroy(const char *root, const char *id);

/* Exit status for a wait status as shells report it: code, or 128+signal. */
int runtime__exit_status(int wstatus);

#endif
