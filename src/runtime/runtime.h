/* The built-in OCI container runtime: its public face. Parses an OCI runtime-spec bundle
 * (config.json + rootfs) into a typed struct, runs it with namespaces and cgroups, and
 * offers the crun/runc command line (`k8c runtime ...`) and the Docker-equivalent defaults
 * the agent puts into bundles. Depends on src/base only. */
#ifndef K8C_RUNTIME_RUNTIME_H
#define K8C_RUNTIME_RUNTIME_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

/* One entry of `mounts`. flags/clear_flags are MS_* bits from the options; propagation holds
 * MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC) applied after the mount. */
struct runtime_mount {
    char *destination;
    char *type;   /* may be NULL (bind mounts) */
    char *source; /* may be NULL */
    unsigned long flags;
    unsigned long propagation;
    bool bind;  /* "bind" or "rbind" */
    char *data; /* options the kernel reads as data ("mode=755,size=65536k"), or NULL */
};

struct runtime_idmap {
    uint32_t container_id;
    uint32_t host_id;
    uint32_t size;
};

/* Namespace kinds, in the order the runtime enters joined ones. */
enum runtime_ns_kind {
    RUNTIME_NS_USER = 0,
    RUNTIME_NS_MOUNT,
    RUNTIME_NS_PID,
    RUNTIME_NS_NETWORK,
    RUNTIME_NS_IPC,
    RUNTIME_NS_UTS,
    RUNTIME_NS_CGROUP,
    RUNTIME_NS_COUNT
};

struct runtime_ns {
    bool wanted;
    char *path; /* join this one (NULL: create a new namespace) */
};

struct runtime_rlimit {
    int resource; /* RLIMIT_* */
    uint64_t soft;
    uint64_t hard;
};

struct runtime_device {
    char type; /* 'c', 'b', 'u' or 'p' */
    char *path;
    int64_t major, minor;
    uint32_t mode; /* permission bits; 0666 when absent */
    uid_t uid;
    gid_t gid;
};

/* A devices cgroup rule from linux.resources.devices. */
struct runtime_device_rule {
    bool allow;
    char type;            /* 'a', 'c' or 'b' */
    int64_t major, minor; /* -1: any */
    char access[4];       /* subset of "rwm" */
};

struct runtime_seccomp_arg {
    unsigned index;
    uint64_t value, value_two;
    int op; /* enum scmp_compare */
};

struct runtime_seccomp_rule {
    char **names;
    size_t n_names;
    uint32_t action; /* SCMP_ACT_* (with errno folded in for SCMP_ACT_ERRNO) */
    struct runtime_seccomp_arg args[6];
    size_t n_args;
};

struct runtime_seccomp {
    uint32_t default_action;
    char **archs; /* libseccomp arch names ("x86_64"), NULL-terminated, may be empty */
    struct runtime_seccomp_rule *rules;
    size_t n_rules;
    bool log_flag; /* SECCOMP_FILTER_FLAG_LOG */
    char *source;  /* the compact JSON it was parsed from (the compiled-filter cache key) */
};

/* One of linux.resources.hugepageLimits. */
struct runtime_hugepage_limit {
    char page_size[16]; /* as the kernel names it: "2MB", "1GB", "64KB" */
    uint64_t limit;     /* bytes */
};

/* linux.resources; the has_ flags say which values the spec set. */
struct runtime_resources {
    bool has_memory_limit, has_memory_reservation, has_memory_swap;
    int64_t memory_limit, memory_reservation, memory_swap; /* -1: unlimited */
    bool has_cpu_shares, has_cpu_quota, has_cpu_period;
    uint64_t cpu_shares, cpu_period;
    int64_t cpu_quota; /* -1: unlimited */
    char *cpuset_cpus, *cpuset_mems;
    bool has_pids_limit;
    int64_t pids_limit; /* <= 0: unlimited */
    struct runtime_device_rule *devices;
    size_t n_devices;
    struct runtime_hugepage_limit *hugepages;
    size_t n_hugepages;
};

/* One OCI hook: a host program run with the container's state on stdin. */
struct runtime_hook {
    char *path;
    char **args, **env; /* NULL-terminated; args may be NULL (then argv = {path}) */
    int timeout;        /* seconds, 0: none */
};

enum runtime_hook_kind {
    RUNTIME_HOOK_PRESTART = 0, /* deprecated alias of createRuntime, run before it */
    RUNTIME_HOOK_CREATE_RUNTIME,
    RUNTIME_HOOK_CREATE_CONTAINER,
    RUNTIME_HOOK_START_CONTAINER,
    RUNTIME_HOOK_POSTSTART,
    RUNTIME_HOOK_POSTSTOP,
    RUNTIME_HOOK_COUNT
};

struct runtime_spec {
    char *oci_version;
    char *bundle;    /* absolute bundle directory */
    char *root_path; /* absolute rootfs path */
    bool root_readonly;
    char *hostname, *domainname;

    bool terminal;
    char **args, **env; /* NULL-terminated */
    char *cwd;
    uid_t uid;
    gid_t gid;
    gid_t *additional_gids;
    size_t n_additional_gids;
    bool has_umask;
    mode_t umask;
    bool has_caps; /* process.capabilities present */
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    struct runtime_rlimit *rlimits;
    size_t n_rlimits;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;

    struct runtime_mount *mounts;
    size_t n_mounts;

    struct runtime_ns ns[RUNTIME_NS_COUNT];
    struct runtime_idmap *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
    struct runtime_device *devices;
    size_t n_devices;
    char *cgroups_path; /* NULL: the runtime picks /k8c-runtime/<id> */
    struct runtime_resources resources;
    char **sysctl_keys, **sysctl_values;
    size_t n_sysctl;
    struct runtime_seccomp *seccomp; /* NULL: none */
    char **masked_paths, **readonly_paths;
    size_t n_masked_paths, n_readonly_paths;
    unsigned long rootfs_propagation; /* 0: default (MS_REC|MS_SLAVE) */

    struct runtime_hook *hooks[RUNTIME_HOOK_COUNT];
    size_t n_hooks[RUNTIME_HOOK_COUNT];

    json_t *annotations; /* owned reference, an object (maybe empty) */
};

/* Parses config.json text. bundle is the bundle directory (the rootfs path is resolved
 * against it); rootfs existence is not checked here (see runtime_spec_validate_host).
 * Returns a new spec (free with runtime_spec_free) or NULL with *err (BAD_REQUEST) whose
 * message names the offending field, e.g. "linux.namespaces[2].type: unknown namespace
 * type \"foo\"". */
struct runtime_spec *runtime_spec_parse(const char *data, size_t len, const char *bundle,
                                        struct k8c_err **err);

/* Reads and parses <bundle>/config.json (bounded to 4 MiB). Same contract as above. */
struct runtime_spec *runtime_spec_load(const char *bundle, struct k8c_err **err);

/* Checks what the spec names on this host before anything is created: the rootfs is a
 * directory, joined namespace paths exist and are namespaces of the right kind. Returns 0 or
 * -1 with *err naming the field. */
int runtime_spec_validate_host(const struct runtime_spec *spec, struct k8c_err **err);

void runtime_spec_free(struct runtime_spec *spec);
void runtime_spec_freep(struct runtime_spec **spec);
#define _cleanup_spec_ __attribute__((cleanup(runtime_spec_freep)))

/* Capability names <-> numbers ("CAP_SYS_ADMIN" <-> 21). Returns -1 for an unknown name. */
int runtime_cap_from_name(const char *name);

/* The Docker/containerd default capability set (14 capabilities) as a bit mask. */
uint64_t runtime_default_caps(void);

/* The Docker default seccomp profile as an OCI linux.seccomp object for a container whose
 * bounding set is caps (capability-gated rules are included as Docker does). Returns a new
 * reference. */
json_t *runtime_default_seccomp(uint64_t caps);

/* Fills an OCI config (a parsed config.json object) with the RuntimeDefault security
 * settings: process.capabilities (bounding, effective and permitted; inheritable and ambient
 * empty) = the default caps plus
 * add_caps minus drop_caps, and linux.seccomp = the default profile. Returns 0. */
int runtime_defaults_apply(json_t *config, uint64_t add_caps, uint64_t drop_caps,
                           struct k8c_err **err);

/* Cgroup usage read back for metrics. */
struct runtime_cgroup_stats {
    uint64_t cpu_usage_ns;
    uint64_t memory_usage;       /* bytes, including cache */
    uint64_t memory_working_set; /* usage minus inactive file cache */
    uint64_t memory_limit;       /* 0: unlimited */
    uint64_t oom_kills;
    uint64_t pids_current;
};

/* Reads the usage of a container by id under state root dir (NULL: /run/k8c-runtime).
 * Returns 0 or -1 with *err (NOT_FOUND for an unknown container). */
int runtime_container_stats(const char *root, const char *id, struct runtime_cgroup_stats *st,
                            struct k8c_err **err);

/* A container run as the calling process's child (run.c): the agent's shim creates, starts,
 * reaps and removes its container with these instead of exec'ing `k8c runtime run`, so the
 * shim is the container's parent and no runtime process stays resident. The state lives in
 * <root>/<id> as the command line's (`k8c runtime state|kill|exec|delete` work on it). */
struct runtime_run_opts {
    const char *root;   /* state root (NULL: /run/k8c-runtime) */
    const char *bundle; /* absolute bundle directory */
    const char *id;
    int stdio[3]; /* the container process's stdin, stdout, stderr (-1: the caller's) */
};
struct runtime_run;
/* Creates the container: its process is set up and waits for runtime_run_start. With
 * process.terminal its stdio is a new pty (made inside the container, as runc's) whose master
 * goes to *master (the caller's to close); otherwise *master is -1. Returns a handle (free
 * with runtime_run_destroy) or NULL with *err; on failure nothing is left. */
struct runtime_run *runtime_run_create(const struct runtime_run_opts *o, int *master,
                                       struct k8c_err **err);
/* The container process's pid: the caller's child, which the caller waits for. */
pid_t runtime_run_pid(const struct runtime_run *r);
/* Lets the process exec its program, then runs the poststart hooks. Returns 0 or -1. */
int runtime_run_start(struct runtime_run *r, struct k8c_err **err);
/* Kills what is left in the container's cgroup, removes it and the state, runs the poststop
 * hooks, frees r (NULL is fine). Call once the caller has reaped the process (before, the
 * process is killed and the caller still reaps it). */
void runtime_run_destroy(struct runtime_run *r);

/* `k8c runtime ...`: the crun/runc command line. argv[0] is "runtime". Returns the exit
 * status: 0, 1 for failures, 2 for usage errors, or the container's status for run/exec. */
int runtime_cli_main(int argc, char **argv);

#endif
