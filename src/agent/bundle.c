/* Sandboxes and bundles: the pod's namespaces (network, IPC, UTS) held as nsfs bind mounts
 * under <pod dir>/ns, its /etc/hosts, /etc/resolv.conf and /etc/hostname, and for each
 * container an OCI bundle: config.json generated from the pod and the image config, rootfs =
 * overlay of the image layers with a writable upper. The network namespace has loopback only
 * (no bridge, no pod IP yet). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
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
#include "runtime/runtime.h"

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
    int ready[2], hold[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0)
        return k8c_err_errno(err, "pipe");
    pid_t pid = fork();
    if (pid < 0)
        return k8c_err_errno(err, "fork");
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        char ok = 1;
        if (unshare((host_network ? 0 : CLONE_NEWNET) | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
            ok = 0;
        if (ok && sethostname(hostname, strlen(hostname)) < 0)
            ok = 0;
        if (ok && !host_network)
            lo_up();
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        char c;
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    char ok = 0;
    ssize_t r;
    while ((r = read(ready[0], &ok, 1)) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    int rc = 0;
    if (r != 1 || !ok)
        rc = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "cannot create the pod's namespaces");
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        _cleanup_free_ char *src = xasprintf("/proc/%d/ns/%s", (int)pid, ns_names[i]);
        _cleanup_free_ char *dst = xasprintf("%s/%s", nsdir, ns_names[i]);
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
            rc = k8c_err_errno(err, "bind-mount %s namespace to `%s`", ns_names[i], dst);
    }
    close(hold[1]);
    waitpid(pid, NULL, 0);
    if (rc < 0)
        return -1;
    /* the files every container of the pod gets */
    _cleanup_free_ char *hosts =
        xasprintf("# Kubernetes-managed hosts file (k8c).\n127.0.0.1\tlocalhost\n::1\tlocalhost "
                  "ip6-localhost ip6-loopback\n127.0.1.1\t%s %s\n",
                  hostname, pod_name);
    _cleanup_free_ char *hosts_p = xasprintf("%s/hosts", pod_dir);
    _cleanup_free_ char *resolv_p = xasprintf("%s/resolv.conf", pod_dir);
    _cleanup_free_ char *hn_p = xasprintf("%s/hostname", pod_dir);
    _cleanup_free_ char *hn = xasprintf("%s\n", hostname);
    /* no cluster DNS yet: the pod gets the search path and loopback only */
    const char *resolv = "search default.svc.cluster.local svc.cluster.local cluster.local\n"
                         "nameserver 127.0.0.1\noptions ndots:5\n";
    if (file_write_atomic(hosts_p, hosts, strlen(hosts), 0644, err) < 0 ||
        file_write_atomic(resolv_p, resolv, strlen(resolv), 0644, err) < 0 ||
        file_write_atomic(hn_p, hn, strlen(hn), 0644, err) < 0)
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
            *out = (int64_t)(v * sfx[i].mul * (double)scale + 0.5);
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

static json_t *str_array(const json_t *a)
{
    json_t *o = json_array();
    size_t i;
    json_t *v;
    json_array_foreach (a, i, v)
        if (json_is_string(v))
            json_array_append(o, v);
    return o;
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

/* A key of a ConfigMap or Secret in ns, fetched from the API. Returns a new string or NULL
 * with *err. */
static char *ref_value(struct client *c, const char *ns, const json_t *ref, bool secret,
                       struct k8c_err **err)
{
    const char *name = kjson_path_str(ref, "name");
    const char *key = kjson_path_str(ref, "key");
    if (!name || !key)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "env keyRef lacks name or key"), NULL;
    _cleanup_free_ char *path =
        xasprintf("/api/v1/namespaces/%s/%s/%s", ns, secret ? "secrets" : "configmaps", name);
    _cleanup_json_ json_t *obj = client_get(c, path, err);
    if (!obj) {
        k8c_err_wrap(err, "%s \"%s\"", secret ? "secret" : "configmap", name);
        return NULL;
    }
    const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));
    if (!v) {
        k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "couldn't find key %s in %s %s/%s", key,
                    secret ? "Secret" : "ConfigMap", ns, name);
        return NULL;
    }
    if (!secret)
        return xstrdup(v);
    size_t len;
    return codec_base64_decode(v, strlen(v), &len, err);
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
    /* argv: command replaces the entrypoint, args the cmd (Kubernetes' rules) */
    json_t *cmd = json_object_get(c, "command"), *args = json_object_get(c, "args");
    _cleanup_json_ json_t *argv = json_array();
    if (json_array_size(cmd) > 0) {
        extend(argv, str_array(cmd));
        if (args)
            extend(argv, str_array(args));
    } else {
        extend(argv, strv_json(ic->entrypoint));
        if (args)
            extend(argv, str_array(args));
        else
            extend(argv, strv_json(ic->cmd));
    }
    if (json_array_size(argv) == 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "no command specified: the image has neither entrypoint nor cmd"),
               NULL;
    /* env: PATH default, the image's, then the container's */
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
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(c, "env"), i, e) {
        const char *n = kjson_path_str(e, "name");
        if (!n)
            continue;
        const json_t *from = json_object_get(e, "valueFrom");
        if (!from) {
            const char *v = kjson_path_str(e, "value");
            env_set(env, n, v ? v : "");
            continue;
        }
        const json_t *cm = json_object_get(from, "configMapKeyRef");
        const json_t *sk = json_object_get(from, "secretKeyRef");
        const char *fp = kjson_path_str(from, "fieldRef.fieldPath");
        _cleanup_free_ char *v = NULL;
        if (cm || sk) {
            v = ref_value(in->client, ns, cm ? cm : sk, sk != NULL, err);
            if (!v) {
                json_decref(env);
                return NULL;
            }
        } else if (fp) {
            const char *fv = strcmp(fp, "spec.nodeName") == 0             ? kjson_path_str(pod, fp)
                             : strcmp(fp, "metadata.name") == 0           ? hostname
                             : strcmp(fp, "metadata.namespace") == 0      ? ns
                             : strcmp(fp, "metadata.uid") == 0            ? kjson_path_str(pod, fp)
                             : strcmp(fp, "spec.serviceAccountName") == 0 ? kjson_path_str(pod, fp)
                                                                          : "";
            v = xstrdup(fv ? fv : "");
        } else {
            v = xstrdup("");
        }
        env_set(env, n, v);
    }
    /* user: securityContext, else the image's numeric user, else root */
    int64_t uid = 0, gid = 0;
    if (ic->user && *ic->user) {
        char *end;
        uid = strtoll(ic->user, &end, 10);
        if (*end == ':')
            gid = strtoll(end + 1, NULL, 10);
        else if (*end != '\0')
            uid = 0; /* user names need the image's /etc/passwd: not resolved yet */
    }
    const json_t *psc = kjson_path(pod, "spec.securityContext");
    const json_t *csc = json_object_get(c, "securityContext");
    const json_t *ru = json_object_get(csc, "runAsUser");
    if (!ru)
        ru = json_object_get(psc, "runAsUser");
    if (json_is_integer(ru))
        uid = json_integer_value(ru);
    const json_t *rg = json_object_get(csc, "runAsGroup");
    if (!rg)
        rg = json_object_get(psc, "runAsGroup");
    if (json_is_integer(rg))
        gid = json_integer_value(rg);
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
    for (size_t k = 0; k < 3; k++) {
        _cleanup_free_ char *dst = xasprintf("/etc/%s", files[k]);
        _cleanup_free_ char *src = xasprintf("%s/%s", in->pod_dir, files[k]);
        add_mount(mounts, dst, "bind", src, "rbind,rprivate");
    }
    json_t *nss = json_array();
    const char *own[] = {"pid", "mount"};
    for (size_t k = 0; k < 2; k++)
        json_array_append_new(nss, json_pack("{s:s}", "type", own[k]));
    const char *joined[][2] = {{"network", "net"}, {"ipc", "ipc"}, {"uts", "uts"}};
    for (size_t k = 0; k < 3; k++) {
        _cleanup_free_ char *p = xasprintf("%s/ns/%s", in->pod_dir, joined[k][1]);
        json_array_append_new(nss, json_pack("{s:s,s:s}", "type", joined[k][0], "path", p));
    }
    /* resources -> cgroup limits under k8c/pod<uid> */
    json_t *res = json_object();
    int64_t v;
    const char *mem = kjson_path_str(c, "resources.limits.memory");
    if (mem && agent_quantity(mem, 1, &v) == 0 && v > 0)
        json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t)v));
    json_t *cpu = json_object();
    const char *lcpu = kjson_path_str(c, "resources.limits.cpu");
    if (lcpu && agent_quantity(lcpu, 1000, &v) == 0 && v > 0) {
        json_object_set_new(cpu, "quota", json_integer(v * 100));
        json_object_set_new(cpu, "period", json_integer(100000));
    }
    const char *rcpu = kjson_path_str(c, "resources.requests.cpu");
    if (!rcpu)
        rcpu = lcpu;
    if (rcpu && agent_quantity(rcpu, 1000, &v) == 0) {
        int64_t shares = v * 1024 / 1000;
        json_object_set_new(cpu, "shares", json_integer(shares < 2 ? 2 : shares));
    }
    if (json_object_size(cpu) > 0)
        json_object_set_new(res, "cpu", cpu);
    else
        json_decref(cpu);
    const char *uidstr = kjson_path_str(pod, "metadata.uid");
    const char *cname = kjson_path_str(c, "name");
    _cleanup_free_ char *cg = xasprintf("/k8c/pod%s/%s", uidstr, cname);
    json_t *masked = json_pack("[s,s,s,s,s,s,s,s,s]", "/proc/acpi", "/proc/kcore", "/proc/keys",
                               "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                               "/proc/sched_debug", "/proc/scsi", "/sys/firmware");
    json_t *ro = json_pack("[s,s,s,s,s,s]", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                           "/proc/sys", "/proc/sysrq-trigger");
    bool ro_root = json_is_true(json_object_get(csc, "readOnlyRootFilesystem"));
    json_t *cfg = json_pack(
        "{s:s,s:{s:s,s:b},s:s,s:{s:b,s:O,s:o,s:s,s:{s:I,s:I},s:b},s:o,s:{s:o,s:s,s:o,s:o,s:o}}",
        "ociVersion", "1.0.2", "root", "path", "rootfs", "readonly", ro_root, "hostname", hostname,
        "process", "terminal", json_is_true(json_object_get(c, "tty")), "args", argv, "env", env,
        "cwd", cwd, "user", "uid", (json_int_t)uid, "gid", (json_int_t)gid, "noNewPrivileges",
        !json_is_true(json_object_get(csc, "allowPrivilegeEscalation")), "mounts", mounts, "linux",
        "namespaces", nss, "cgroupsPath", cg, "resources", res, "maskedPaths", masked,
        "readonlyPaths", ro);
    if (!cfg)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "cannot build config.json"), NULL;
    /* RuntimeDefault security: Docker's capabilities plus add minus drop, default seccomp */
    uint64_t add = 0, drop = 0;
    json_t *cn;
    json_array_foreach (kjson_path(csc, "capabilities.add"), i, cn) {
        _cleanup_free_ char *full = xasprintf("CAP_%s", json_string_value(cn));
        int b = runtime_cap_from_name(full);
        if (b >= 0)
            add |= 1ull << b;
    }
    json_array_foreach (kjson_path(csc, "capabilities.drop"), i, cn) {
        const char *s = json_string_value(cn);
        if (s && strcmp(s, "ALL") == 0) {
            drop = ~0ull;
            continue;
        }
        _cleanup_free_ char *full = xasprintf("CAP_%s", s);
        int b = runtime_cap_from_name(full);
        if (b >= 0)
            drop |= 1ull << b;
    }
    runtime_defaults_apply(cfg, add, drop, NULL);
    return cfg;
}
