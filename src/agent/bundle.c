/* Sandboxes and bundles: the pod's namespaces (network, IPC, UTS) held as nsfs bind mounts
 * under <pod dir>/ns, its /etc/hosts, /etc/resolv.conf and /etc/hostname, and for each
 * container an OCI bundle: config.json generated from the pod and the image config, rootfs =
 * overlay of the image layers with a writable upper. The network namespace has loopback only
 * (no bridge, no pod IP yet). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "base/codec.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

static const char *const ns_names[] = {"net", "ipc", "uts"};

static int touch(const char *path, struct k8c_err **err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return k8c_err_errno(err, "create `%s`", path);
    close(fd);
    return 0;
}

static void lo_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
}

/* The namespaces are made by a short-lived thread, not a forked child: unshare(2) of the
 * network, IPC and UTS namespaces acts on the calling thread alone, and the bind mounts of
 * /proc/thread-self/ns/... keep them once the thread ends. A fork of the agent would copy its
 * page tables (a few ms of CPU per pod, the biggest item of a pod start in perf). */
struct sandbox_job {
    const char *nsdir, *hostname;
    bool host_network;
    int err_no;       /* 0: done */
    const char *what; /* what failed */
};

static void *sandbox_thread(void *opaque)
{
    struct sandbox_job *j = opaque;
    if (unshare((j->host_network ? 0 : CLONE_NEWNET) | CLONE_NEWIPC | CLONE_NEWUTS) < 0) {
        j->err_no = errno, j->what = "unshare";
        return NULL;
    }
    if (sethostname(j->hostname, strlen(j->hostname)) < 0) {
        j->err_no = errno, j->what = "sethostname";
        return NULL;
    }
    if (!j->host_network)
        lo_up();
    for (size_t i = 0; i < 3; i++) {
        char src[64], dst[4096];
        snprintf(src, sizeof(src), "/proc/thread-self/ns/%s", ns_names[i]);
        snprintf(dst, sizeof(dst), "%s/%s", j->nsdir, ns_names[i]);
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
            j->err_no = errno, j->what = ns_names[i];
            return NULL;
        }
    }
    return NULL;
}

int agent_sandbox_create(const char *pod_dir, const char *hostname, const char *pod_name,
                         bool host_network, struct k8c_err **err)
{
    _cleanup_free_ char *nsdir = xasprintf("%s/ns", pod_dir);
    if (file_mkdir_p(nsdir, 0700, err) < 0)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", nsdir, ns_names[i]);
        if (touch(p, err) < 0)
            return -1;
    }
    struct sandbox_job job = {nsdir, hostname, host_network, 0, NULL};
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    int prc = pthread_create(&t, &attr, sandbox_thread, &job);
    pthread_attr_destroy(&attr);
    if (prc != 0) {
        errno = prc;
        return k8c_err_errno(err, "create the pod's namespaces: thread");
    }
    pthread_join(t, NULL);
    if (job.err_no) {
        errno = job.err_no;
        if (strlen(job.what) == 3)
            return k8c_err_errno(err, "bind-mount %s namespace under `%s`", job.what, nsdir);
        return k8c_err_errno(err, "cannot create the pod's namespaces: %s", job.what);
    }
    /* the files every container of the pod gets */
    _cleanup_free_ char *hosts =
        xasprintf("# Kubernetes-managed hosts file (k8c).\n127.0.0.1\tlocalhost\n::1\tlocalhost "
                  "ip6-localhost ip6-loopback\n127.0.1.1\t%s %s\n",
                  hostname, pod_name);
    _cleanup_free_ char *hosts_p = xasprintf("%s/hosts", pod_dir);
    _cleanup_free_ char *hn_p = xasprintf("%s/hostname", pod_dir);
    _cleanup_free_ char *hn = xasprintf("%s\n", hostname);
    /* resolv.conf is dns.c's (agent__dns_resolv_conf, right after the sandbox) */
    if (file_write_replace(hosts_p, hosts, strlen(hosts), 0644, err) < 0 ||
        file_write_replace(hn_p, hn, strlen(hn), 0644, err) < 0)
        return -1;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void agent_rm_rf(const char *path)
{
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

void agent_sandbox_destroy(const char *pod_dir)
{
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *p = xasprintf("%s/ns/%s", pod_dir, ns_names[i]);
        if (umount2(p, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            LOG_WARN("umount %s: %s", p, strerror(errno));
    }
}

void agent_rootfs_unmount(const char *ctr_dir)
{
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", ctr_dir);
    if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        LOG_WARN("umount %s: %s", rootfs, strerror(errno));
}

int agent_rootfs_mount(const char *ctr_dir, const struct image_info *img, struct k8c_err **err)
{
    agent_rootfs_unmount(ctr_dir);
    _cleanup_free_ char *upper = xasprintf("%s/upper", ctr_dir);
    _cleanup_free_ char *work = xasprintf("%s/work", ctr_dir);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", ctr_dir);
    agent_rm_rf(upper);
    agent_rm_rf(work);
    if (file_mkdir_p(upper, 0755, err) < 0 || file_mkdir_p(work, 0700, err) < 0 ||
        file_mkdir_p(rootfs, 0755, err) < 0)
        return -1;
    if (img->n_layers == 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "image `%s` has no layers", img->name);
    struct buf opts = BUF_INIT;
    buf_append_str(&opts, "lowerdir=");
    for (size_t i = img->n_layers; i-- > 0;) {
        buf_append_str(&opts, img->layer_dirs[i]);
        if (i > 0)
            buf_append_char(&opts, ':');
    }
    buf_appendf(&opts, ",upperdir=%s,workdir=%s", upper, work);
    int rc = mount("overlay", rootfs, "overlay", 0, opts.data);
    buf_free(&opts);
    if (rc < 0)
        return k8c_err_errno(err, "mount the overlay rootfs at `%s`", rootfs);
    return 0;
}

/* ---- config.json ---- */

int agent_quantity(const char *s, int64_t scale, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    static const struct {
        const char *sfx;
        double mul;
    } sfx[] = {{"", 1},
               {"m", 1e-3},
               {"k", 1e3},
               {"M", 1e6},
               {"G", 1e9},
               {"T", 1e12},
               {"Ki", 1024.0},
               {"Mi", 1048576.0},
               {"Gi", 1073741824.0},
               {"Ti", 1099511627776.0}};
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
        if (strcmp(end, sfx[i].sfx) == 0) {
            double r = v * sfx[i].mul * (double)scale + 0.5;
            /* beyond any machine (1e15 bytes or milli-cpus), and products stay in range */
            if (!(r <= 1e15))
                return -1;
            *out = (int64_t)r;
            return 0;
        }
    return -1;
}

static void extend(json_t *a, json_t *b)
{
    json_array_extend(a, b);
    json_decref(b);
}

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void env_set(json_t *env, const char *name, const char *value)
{
    size_t n = strlen(name);
    size_t i;
    json_t *v;
    _cleanup_free_ char *kv = xasprintf("%s=%s", name, value);
    json_array_foreach (env, i, v) {
        const char *s = json_string_value(v);
        if (s && strncmp(s, name, n) == 0 && s[n] == '=') {
            json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

static void add_mount(json_t *mounts, const char *dst, const char *type, const char *src,
                      const char *opts)
{
    json_t *m = json_pack("{s:s,s:s,s:s}", "destination", dst, "type", type, "source", src);
    json_t *o = json_array();
    _cleanup_free_ char *copy = xstrdup(opts);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(o, json_string(t));
    json_object_set_new(m, "options", o);
    json_array_append_new(mounts, m);
}

json_t *agent_bundle_config(const struct agent_bundle_in *in, struct k8c_err **err)
{
    const json_t *c = in->container, *pod = in->pod;
    const struct image_config *ic = &in->image->config;
    /* the container's own variables (envFrom, env): they expand command and args */
    _cleanup_json_ json_t *vars = json_object();
    if (agent_env_resolve(in, vars, err) < 0)
        return NULL;
    /* argv: command replaces the entrypoint, args the cmd (Kubernetes' rules) */
    json_t *cmd = json_object_get(c, "command"), *args = json_object_get(c, "args");
    _cleanup_json_ json_t *argv = json_array();
    if (json_array_size(cmd) > 0) {
        extend(argv, agent_expand_array(cmd, vars));
        if (args)
            extend(argv, agent_expand_array(args, vars));
    } else {
        extend(argv, strv_json(ic->entrypoint));
        if (args)
            extend(argv, agent_expand_array(args, vars));
        else
            extend(argv, strv_json(ic->cmd));
    }
    if (json_array_size(argv) == 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "no command specified: the image has neither entrypoint nor cmd"),
               NULL;
    /* env: PATH default, the image's, HOSTNAME, then the container's */
    json_t *env = json_array();
    json_array_append_new(env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                           "/sbin:/bin"));
    for (size_t i = 0; ic->env && ic->env[i]; i++) {
        char *eq = strchr(ic->env[i], '=');
        if (!eq)
            continue;
        _cleanup_free_ char *n = xstrndup(ic->env[i], (size_t)(eq - ic->env[i]));
        env_set(env, n, eq + 1);
    }
    const char *hostname = kjson_path_str(pod, "metadata.name");
    env_set(env, "HOSTNAME", hostname);
    const char *k;
    json_t *val;
    json_object_foreach (vars, k, val)
        env_set(env, k, json_string_value(val));
    const char *cwd = kjson_path_str(c, "workingDir");
    if (!cwd || !*cwd)
        cwd = ic->working_dir && *ic->working_dir ? ic->working_dir : "/";

    json_t *mounts = json_array();
    add_mount(mounts, "/proc", "proc", "proc", "nosuid,noexec,nodev");
    add_mount(mounts, "/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k");
    add_mount(mounts, "/dev/pts", "devpts", "devpts",
              "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5");
    add_mount(mounts, "/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k");
    add_mount(mounts, "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev");
    add_mount(mounts, "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro");
    const char *files[] = {"hosts", "resolv.conf", "hostname"};
    for (size_t f = 0; f < 3; f++) {
        _cleanup_free_ char *dst = xasprintf("/etc/%s", files[f]);
        _cleanup_free_ char *src = xasprintf("%s/%s", in->pod_dir, files[f]);
        add_mount(mounts, dst, "bind", src, "rbind,rprivate");
    }
    if (agent_volume_mounts(in, vars, mounts, err) < 0) {
        json_decref(env);
        json_decref(mounts);
        return NULL;
    }
    agent_mounts_sort(mounts);
    json_t *nss = json_array();
    const char *own[] = {"pid", "mount"};
    for (size_t n = 0; n < 2; n++)
        json_array_append_new(nss, json_pack("{s:s}", "type", own[n]));
    const char *joined[][2] = {{"network", "net"}, {"ipc", "ipc"}, {"uts", "uts"}};
    for (size_t n = 0; n < 3; n++) {
        _cleanup_free_ char *p = xasprintf("%s/ns/%s", in->pod_dir, joined[n][1]);
        json_array_append_new(nss, json_pack("{s:s,s:s}", "type", joined[n][0], "path", p));
    }
    _cleanup_free_ char *cg = agent_cgroup_path(pod, kjson_path_str(c, "name") ?: "");
    json_t *masked = json_pack("[s,s,s,s,s,s,s,s,s]", "/proc/acpi", "/proc/kcore", "/proc/keys",
                               "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                               "/proc/sched_debug", "/proc/scsi", "/sys/firmware");
    json_t *ro = json_pack("[s,s,s,s,s,s]", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                           "/proc/sys", "/proc/sysrq-trigger");
    _cleanup_json_ json_t *cfg = json_pack(
        "{s:s,s:{s:s,s:b},s:s,s:{s:b,s:O,s:o,s:s},s:o,s:{s:o,s:s,s:o,s:o,s:o}}", "ociVersion",
        "1.0.2", "root", "path", "rootfs", "readonly", 0, "hostname", hostname, "process",
        "terminal", json_is_true(json_object_get(c, "tty")), "args", argv, "env", env, "cwd", cwd,
        "mounts", mounts, "linux", "namespaces", nss, "cgroupsPath", cg, "resources",
        agent_ctr_resources(c), "maskedPaths", masked, "readonlyPaths", ro);
    if (!cfg)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "cannot build config.json"), NULL;
    if (agent_security_apply(in, cfg, err) < 0)
        return NULL;
    return steal_ptr(&cfg);
}
