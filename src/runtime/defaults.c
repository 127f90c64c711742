/* The RuntimeDefault security settings, equal in effect to Docker's and containerd's: the
 * 14 default capabilities and the default seccomp profile (moby's profiles/seccomp/
 * default.json: errno EPERM by default, an allow list, argument-checked personality and
 * clone, and rules that open up with the capabilities the container holds). The agent calls
 * runtime_defaults_apply to fill a bundle's config.json. */
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "runtime/internal.h"

static const char *const default_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

uint64_t runtime_default_caps(void)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < ARRAY_SIZE(default_caps); i++) {
        int c = runtime_cap_from_name(default_caps[i]);
        K8C_ASSERT(c >= 0);
        mask |= 1ull << c;
    }
    return mask;
}

/* Allowed for every container. */
static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr",
    "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
    "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
    "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
    "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
    "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair",
    "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
    "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
    "wait4", "waitid", "waitpid", "write", "writev",
    /* x86_64 */
    "arch_prctl", "modify_ldt",
    /* kernels >= 4.8 check ptrace against seccomp after the tracer's filters */
    "ptrace", "process_vm_readv", "process_vm_writev", NULL};

/* Syscalls that open up when the container holds a capability. */
static const struct {
    const char *cap;
    const char *const names[24];
} by_cap[] = {
    {"CAP_DAC_READ_SEARCH", {"open_by_handle_at", NULL}},
    {"CAP_SYS_ADMIN", {"bpf",           "clone",           "clone3",
                       "fanotify_init", "fsconfig",        "fsmount",
                       "fsopen",        "fspick",          "lookup_dcookie",
                       "mount",         "mount_setattr",   "move_mount",
                       "open_tree",     "perf_event_open", "quotactl",
                       "quotactl_fd",   "setdomainname",   "sethostname",
                       "setns",         "syslog",          "umount",
                       "umount2",       "unshare",         NULL}},
    {"CAP_SYS_BOOT", {"reboot", NULL}},
    {"CAP_SYS_CHROOT", {"chroot", NULL}},
    {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module", NULL}},
    {"CAP_SYS_PACCT", {"acct", NULL}},
    {"CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise", NULL}},
    {"CAP_SYS_RAWIO", {"iopl", "ioperm", NULL}},
    {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64", NULL}},
    {"CAP_SYS_TTY_CONFIG", {"vhangup", NULL}},
    {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", NULL}},
    {"CAP_SYSLOG", {"syslog", NULL}},
    {"CAP_BPF", {"bpf", NULL}},
    {"CAP_PERFMON", {"perf_event_open", NULL}},
};

static json_t *names_array(const char *const *names)
{
    json_t *a = json_array();
    for (size_t i = 0; names[i]; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

static json_t *rule(json_t *names, const char *action, json_t *args)
{
    json_t *r = json_pack("{s:o, s:s}", "names", names, "action", action);
    if (args)
        json_object_set_new(r, "args", args);
    return r;
}

static json_t *arg(unsigned index, json_int_t value, json_int_t value_two, const char *op)
{
    return json_pack("{s:i, s:I, s:I, s:s}", "index", (int)index, "value", value, "valueTwo",
                     value_two, "op", op);
}

json_t *runtime_default_seccomp(uint64_t caps)
{
    json_t *syscalls = json_array();
    json_array_append_new(syscalls, rule(names_array(allowed), "SCMP_ACT_ALLOW", NULL));
    /* personality: only the harmless personas (Linux, Linux32, UNAME26, and the query) */
    static const json_int_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    for (size_t i = 0; i < ARRAY_SIZE(personas); i++)
        json_array_append_new(syscalls,
                              rule(json_pack("[s]", "personality"), "SCMP_ACT_ALLOW",
                                   json_pack("[o]", arg(0, personas[i], 0, "SCMP_CMP_EQ"))));
    uint64_t sys_admin = 1ull << runtime_cap_from_name("CAP_SYS_ADMIN");
    for (size_t i = 0; i < ARRAY_SIZE(by_cap); i++) {
        int c = runtime_cap_from_name(by_cap[i].cap);
        if (c >= 0 && (caps & (1ull << c)))
            json_array_append_new(syscalls,
                                  rule(names_array(by_cap[i].names), "SCMP_ACT_ALLOW", NULL));
    }
    if (!(caps & sys_admin)) {
        /* clone without any CLONE_NEW* flag (0x7E020000); clone3 cannot be inspected, so
         * it fails with ENOSYS and libcs fall back to clone */
        json_array_append_new(syscalls,
                              rule(json_pack("[s]", "clone"), "SCMP_ACT_ALLOW",
                                   json_pack("[o]", arg(0, 2114060288, 0, "SCMP_CMP_MASKED_EQ"))));
        json_t *r = rule(json_pack("[s]", "clone3"), "SCMP_ACT_ERRNO", NULL);
        json_object_set_new(r, "errnoRet", json_integer(38));
        json_array_append_new(syscalls, r);
    }
    return json_pack("{s:s, s:i, s:[s,s,s], s:o}", "defaultAction", "SCMP_ACT_ERRNO",
                     "defaultErrnoRet", 1, "architectures", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                     "SCMP_ARCH_X32", "syscalls", syscalls);
}

int runtime_defaults_apply(json_t *config, uint64_t add_caps, uint64_t drop_caps,
                           struct k8c_err **err)
{
    if (!json_is_object(config))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "config.json: must be an object");
    json_t *process = kjson_object_ensure(config, "process");
    json_t *linux_obj = kjson_object_ensure(config, "linux");
    if (process == NULL || linux_obj == NULL)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "config.json: process and linux must be objects");
    uint64_t caps = (runtime_default_caps() | add_caps) & ~drop_caps;
    json_t *set = json_array();
    for (int c = 0; c < 64; c++)
        if (caps & (1ull << c)) {
            const char *name = runtime__cap_name(c);
            if (name)
                json_array_append_new(set, json_string(name));
        }
    /* inheritable stays empty as in Docker >= 20.10.14 (CVE-2022-24769) */
    json_t *capobj = json_pack("{s:O, s:O, s:O, s:[], s:[]}", "bounding", set, "effective", set,
                               "permitted", set, "inheritable", "ambient");
    json_decref(set);
    json_object_set_new(process, "capabilities", capobj);
    json_object_set_new(linux_obj, "seccomp", runtime_default_seccomp(caps));
    return 0;
}
