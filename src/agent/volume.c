/* Pod volumes as kubelet makes them, under <pod dir>/volumes/kubernetes.io~<plugin>/<name>:
 * emptyDir (disk, or tmpfs for medium Memory with sizeLimit), hostPath (with its type
 * checks), configMap, secret, downwardAPI and projected (configMap, secret, downwardAPI,
 * serviceAccountToken through TokenRequest), the last four written by kubelet's atomic
 * writer (a timestamped directory and a `..data` symlink swapped by rename, the user-visible
 * names symlinks through `..data`) and rewritten when their source changes; fsGroup
 * ownership; the containers' bind mounts per volumeMounts (subPath, subPathExpr, readOnly,
 * mountPropagation); teardown with the pod. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "base/clock.h"
#include "base/buf.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

/* kubelet's plugin directory names */
static const char *plugin_of(const json_t *vol)
{
    static const char *const map[][2] = {
        {"emptyDir", "kubernetes.io~empty-dir"},  {"configMap", "kubernetes.io~configmap"},
        {"secret", "kubernetes.io~secret"},       {"downwardAPI", "kubernetes.io~downward-api"},
        {"projected", "kubernetes.io~projected"}, {"hostPath", NULL}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (json_object_get(vol, map[i][0]))
            return map[i][1] ? map[i][1] : "hostPath";
    return NULL;
}

char *agent_volume_dir(const char *pod_dir, const json_t *vol)
{
    const char *plugin = plugin_of(vol);
    if (!plugin || strcmp(plugin, "hostPath") == 0)
        return NULL;
    return xasprintf("%s/volumes/%s/%s", pod_dir, plugin, kjson_path_str(vol, "name") ?: "");
}

static bool is_tmpfs(const char *dir)
{
    struct statfs sf;
    return statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

static bool is_mountpoint(const char *dir)
{
    struct stat a, b;
    _cleanup_free_ char *parent = xasprintf("%s/..", dir);
    return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* A tmpfs at dir (once), size bytes when > 0. */
static int tmpfs_at(const char *dir, int64_t size, struct k8c_err **err)
{
    if (file_mkdir_p(dir, 0755, err) < 0)
        return -1;
    if (is_mountpoint(dir) && is_tmpfs(dir))
        return 0;
    char opts[64] = "mode=0777";
    if (size > 0)
        snprintf(opts, sizeof(opts), "mode=0777,size=%lld", (long long)size);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return k8c_err_errno(err, "mount tmpfs at `%s`", dir);
    return 0;
}

/* fsGroup: group ownership and group permissions as kubelet's SetVolumeOwnership gives
 * them: read (ro) or read-write, plus search and setgid on directories. */
static void own(const char *path, const json_t *pod, bool ro)
{
    const json_t *g = kjson_path(pod, "spec.securityContext.fsGroup");
    if (!json_is_integer(g))
        return;
    if (lchown(path, (uid_t)-1, (gid_t)json_integer_value(g)) < 0)
        LOG_WARN("fsGroup chown %s: %s", path, strerror(errno));
    struct stat st;
    if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode))
        return;
    mode_t mask = ro ? 0440 : 0660;
    if (S_ISDIR(st.st_mode))
        mask |= 0110 | S_ISGID;
    chmod(path, (st.st_mode & 07777) | mask);
}

/* ---- hostPath ---- */

static int host_path(const json_t *hp, struct k8c_err **err)
{
    const char *path = kjson_path_str(hp, "path") ?: "";
    const char *type = kjson_path_str(hp, "type") ?: "";
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (strcmp(type, "DirectoryOrCreate") == 0) {
        if (!exists)
            return file_mkdir_p(path, 0755, err);
        if (!S_ISDIR(st.st_mode))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "hostPath type check failed: %s is not a directory", path);
        return 0;
    }
    if (strcmp(type, "FileOrCreate") == 0) {
        if (!exists) {
            int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0)
                return k8c_err_errno(err, "hostPath: create file `%s`", path);
            close(fd);
            return 0;
        }
        if (!S_ISREG(st.st_mode))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "hostPath type check failed: %s is not a file", path);
        return 0;
    }
    static const struct {
        const char *type, *what;
        mode_t fmt;
    } checks[] = {{"Directory", "a directory", S_IFDIR},
                  {"File", "a file", S_IFREG},
                  {"Socket", "a socket file", S_IFSOCK},
                  {"CharDevice", "a character device", S_IFCHR},
                  {"BlockDevice", "a block device", S_IFBLK}};
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (strcmp(type, checks[i].type) != 0)
            continue;
        if (!exists)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "hostPath type check failed: %s does not exist", path);
        if ((st.st_mode & S_IFMT) != checks[i].fmt)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "hostPath type check failed: %s is not %s", path, checks[i].what);
        return 0;
    }
    if (*type)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid HostPathType %s", type);
    return 0; /* "" : no check */
}

/* ---- payloads: path -> {data, mode} ---- */

static void payload_put(json_t *payload, const char *path, const json_t *data, const json_t *mode,
                        int default_mode)
{
    int m = json_is_integer(mode) ? (int)json_integer_value(mode) : default_mode;
    json_object_set_new(payload, path, json_pack("{s:O,s:i}", "data", data, "mode", m));
}

/* A ConfigMap or Secret source (its items, or all its keys) into payload. */
static int payload_source(const struct agent_vol_in *in, const json_t *src, bool secret,
                          int default_mode, json_t *payload, struct k8c_err **err)
{
    const char *ns = kjson_path_str(in->pod, "metadata.namespace");
    const char *name = kjson_path_str(src, secret ? "secretName" : "name");
    if (!name)
        name = kjson_path_str(src, "name") ?: "";
    bool optional = json_is_true(json_object_get(src, "optional"));
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *data =
        in->agent ? agent__objwatch_get(in->agent, in->pod_key, ns, name, secret, &e)
                  : agent_source_get(in->client, ns, name, secret, &e);
    if (!data) {
        if (optional && e->reason == K8C_REASON_NOT_FOUND)
            return 0;
        return k8c_err_set(err, e->errnum, e->reason, "%s", e->msg);
    }
    const json_t *items = json_object_get(src, "items");
    if (json_array_size(items) == 0) {
        const char *k;
        json_t *v;
        json_object_foreach (data, k, v)
            payload_put(payload, k, v, NULL, default_mode);
        return 0;
    }
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it) {
        const char *key = kjson_path_str(it, "key") ?: "";
        const json_t *v = json_object_get(data, key);
        if (!v) {
            if (optional)
                continue;
            return k8c_err_set(err, 0, K8C_REASON_NOT_FOUND,
                               "%s references non-existent %s key: %s",
                               secret ? "secret" : "configmap", secret ? "secret" : "config", key);
        }
        payload_put(payload, kjson_path_str(it, "path") ?: key, v, json_object_get(it, "mode"),
                    default_mode);
    }
    return 0;
}

static int payload_downward(const struct agent_vol_in *in, const json_t *items, int default_mode,
                            json_t *payload, struct k8c_err **err)
{
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it) {
        const char *fp = kjson_path_str(it, "fieldRef.fieldPath");
        const json_t *rf = json_object_get(it, "resourceFieldRef");
        _cleanup_free_ char *v = fp   ? agent_field_value(in->pod, fp, in->host_ip, true, err)
                                 : rf ? agent_resource_value(in->pod, NULL, rf, err)
                                      : xstrdup("");
        if (!v)
            return -1;
        _cleanup_json_ json_t *s = json_string(v);
        payload_put(payload, kjson_path_str(it, "path") ?: "", s, json_object_get(it, "mode"),
                    default_mode);
    }
    return 0;
}

#define TOKEN_FILE_DEFAULT_EXPIRY 3600

/* A token from the API's TokenRequest, bound to the pod; the one written before is kept
 * until 80% of its life (kubelet's refresh rule). */
static int payload_token(const struct agent_vol_in *in, const char *dir, const json_t *src,
                         int default_mode, json_t *payload, struct k8c_err **err)
{
    const char *path = kjson_path_str(src, "path") ?: "token";
    const json_t *es = json_object_get(src, "expirationSeconds");
    json_int_t life = json_is_integer(es) ? json_integer_value(es) : TOKEN_FILE_DEFAULT_EXPIRY;
    _cleanup_free_ char *old = xasprintf("%s/..data/%s", dir, path);
    struct stat st;
    _cleanup_free_ char *text = NULL;
    if (stat(old, &st) == 0 && time(NULL) - st.st_mtime < life * 8 / 10)
        text = file_read_all(old, 1 << 16, NULL, NULL);
    if (!text) {
        const char *ns = kjson_path_str(in->pod, "metadata.namespace");
        const char *sa = kjson_path_str(in->pod, "spec.serviceAccountName") ?: "default";
        const char *aud = kjson_path_str(src, "audience");
        _cleanup_json_ json_t *req = json_pack(
            "{s:s,s:s,s:{s:I,s:{s:s,s:s,s:s,s:s}}}", "apiVersion", "authentication.k8s.io/v1",
            "kind", "TokenRequest", "spec", "expirationSeconds", life, "boundObjectRef", "kind",
            "Pod", "apiVersion", "v1", "name", kjson_path_str(in->pod, "metadata.name") ?: "",
            "uid", kjson_path_str(in->pod, "metadata.uid") ?: "");
        if (aud && *aud)
            json_object_set_new(json_object_get(req, "spec"), "audiences", json_pack("[s]", aud));
        _cleanup_free_ char *url =
            xasprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
        _cleanup_err_ struct k8c_err *e = NULL;
        _cleanup_json_ json_t *res = in->client ? client_create(in->client, url, req, &e) : NULL;
        const char *tok = kjson_path_str(res, "status.token");
        if (!tok)
            return k8c_err_set(err, 0, e ? e->reason : K8C_REASON_INTERNAL,
                               "failed to fetch token: %s", e ? e->msg : "no token in reply");
        text = xstrdup(tok);
    }
    _cleanup_json_ json_t *s = json_string(text);
    payload_put(payload, path, s, json_object_get(src, "mode"), default_mode);
    return 0;
}

static int payload_projected(const struct agent_vol_in *in, const char *dir, const json_t *pr,
                             json_t *payload, struct k8c_err **err)
{
    const json_t *dm = json_object_get(pr, "defaultMode");
    int mode = json_is_integer(dm) ? (int)json_integer_value(dm) : 0644;
    size_t i;
    json_t *src;
    json_array_foreach (json_object_get(pr, "sources"), i, src) {
        int r = 0;
        if (json_object_get(src, "configMap"))
            r = payload_source(in, json_object_get(src, "configMap"), false, mode, payload, err);
        else if (json_object_get(src, "secret"))
            r = payload_source(in, json_object_get(src, "secret"), true, mode, payload, err);
        else if (json_object_get(src, "downwardAPI"))
            r = payload_downward(in, kjson_path(src, "downwardAPI.items"), mode, payload, err);
        else if (json_object_get(src, "serviceAccountToken"))
            r = payload_token(in, dir, json_object_get(src, "serviceAccountToken"), mode, payload,
                              err);
        else
            r = k8c_err_set(err, 0, K8C_REASON_INVALID,
                            "projected source %zu: unsupported (clusterTrustBundle is not built)",
                            i);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* ---- kubelet's atomic writer ---- */

static bool path_ok(const char *p)
{
    if (!*p || *p == '/')
        return false;
    _cleanup_free_ char *copy = xstrdup(p);
    for (char *save = NULL, *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
        if (strncmp(t, "..", 2) == 0)
            return false;
    return true;
}

/* A digest of payload (FNV-1a 64 over path, mode, length and data of each entry): written
 * beside the files, it tells whether a resync has anything to change. */
static char *payload_digest(const json_t *payload)
{
    uint64_t h = 1469598103934665603ull;
    const char *p;
    json_t *v;
    json_object_foreach ((json_t *)payload, p, v) {
        const json_t *d = json_object_get(v, "data");
        char head[64];
        int n = snprintf(head, sizeof(head), "\n%lld\n%zu\n",
                         (long long)json_integer_value(json_object_get(v, "mode")),
                         json_string_length(d));
        const char *parts[] = {p, head, json_string_value(d)};
        size_t lens[] = {strlen(p), (size_t)n, json_string_length(d)};
        for (size_t k = 0; k < 3; k++)
            for (size_t i = 0; i < lens[k]; i++) {
                h ^= (unsigned char)parts[k][i];
                h *= 1099511628211ull;
            }
    }
    return xasprintf("%016llx", (unsigned long long)h);
}

/* Whether p has a ".." element (kubelet's subPath rule; "..data" is a name like another). */
static bool has_dotdot(const char *p)
{
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
            return true;
    return false;
}

/* Whether dir/..data already holds exactly payload. */
static bool payload_same(const char *dir, const char *digest)
{
    _cleanup_free_ char *data = xasprintf("%s/..data", dir);
    char target[PATH_MAX];
    ssize_t n = readlink(data, target, sizeof(target) - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    _cleanup_free_ char *listp = xasprintf("%s/%s/..payload", dir, target);
    _cleanup_free_ char *old = file_read_all(listp, 256, NULL, NULL);
    return old && strcmp(old, digest) == 0;
}

/* The payload's files in tsdir (modes not filtered by the umask, fsGroup ownership), and
 * the digest beside them, to tell later whether anything changed. */
static int fill_tsdir(const char *tsdir, const json_t *payload, const char *digest,
                      const json_t *pod, struct k8c_err **err)
{
    const char *p;
    json_t *v;
    json_object_foreach ((json_t *)payload, p, v) {
        _cleanup_free_ char *f = xasprintf("%s/%s", tsdir, p);
        char *slash = strrchr(f, '/');
        *slash = '\0';
        if (file_mkdir_p(f, 0755, err) < 0)
            return -1;
        *slash = '/';
        const json_t *d = json_object_get(v, "data");
        mode_t mode = (mode_t)json_integer_value(json_object_get(v, "mode")) & 07777;
        if (file_write_atomic(f, json_string_value(d), json_string_length(d), mode, err) < 0)
            return -1;
        chmod(f, mode);
        own(f, pod, true);
    }
    _cleanup_free_ char *listp = xasprintf("%s/..payload", tsdir);
    return file_write_atomic(listp, digest, strlen(digest), 0600, err);
}

static int write_payload(const char *dir, const json_t *payload, const json_t *pod,
                         struct k8c_err **err)
{
    const char *p;
    json_t *v;
    json_object_foreach ((json_t *)payload, p, v)
        if (!path_ok(p))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "invalid path %s: must be relative and may not contain '..'", p);
    _cleanup_free_ char *digest = payload_digest(payload);
    if (payload_same(dir, digest))
        return 0;
    char ts[64];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "..%Y_%m_%d_%H_%M_%S.XXXXXX", &tm);
    _cleanup_free_ char *tsdir = xasprintf("%s/%s", dir, ts);
    if (!mkdtemp(tsdir))
        return k8c_err_errno(err, "create `%s`", tsdir);
    chmod(tsdir, 0755);
    own(tsdir, pod, true);
    const char *tsname = strrchr(tsdir, '/') + 1;
    if (fill_tsdir(tsdir, payload, digest, pod, err) < 0) {
        agent_rm_rf(tsdir); /* a half-written payload is never shown */
        return -1;
    }
    /* swap ..data atomically, then the user-visible names */
    _cleanup_free_ char *data = xasprintf("%s/..data", dir);
    _cleanup_free_ char *tmp = xasprintf("%s/..data_tmp", dir);
    char old[PATH_MAX] = "";
    ssize_t n = readlink(data, old, sizeof(old) - 1);
    old[n > 0 ? n : 0] = '\0';
    unlink(tmp);
    if (symlink(tsname, tmp) < 0 || rename(tmp, data) < 0) {
        k8c_err_errno(err, "swap `%s`", data);
        unlink(tmp);
        agent_rm_rf(tsdir);
        return -1;
    }
    json_t *tops = json_object();
    json_object_foreach ((json_t *)payload, p, v) {
        _cleanup_free_ char *top = xstrndup(p, strcspn(p, "/"));
        json_object_set_new(tops, top, json_true());
        _cleanup_free_ char *link = xasprintf("%s/%s", dir, top);
        _cleanup_free_ char *to = xasprintf("..data/%s", top);
        if (symlink(to, link) < 0 && errno != EEXIST)
            LOG_WARN("symlink %s: %s", link, strerror(errno));
    }
    /* what the new payload no longer has, and the old timestamped directory */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '.' || e->d_name[1] == '\0'))
            continue;
        if (!json_object_get(tops, e->d_name)) {
            _cleanup_free_ char *link = xasprintf("%s/%s", dir, e->d_name);
            unlink(link);
        }
    }
    if (d)
        closedir(d);
    json_decref(tops);
    if (*old && strcmp(old, tsname) != 0) {
        _cleanup_free_ char *od = xasprintf("%s/%s", dir, old);
        agent_rm_rf(od);
    }
    return 0;
}

/* ---- setup and teardown ---- */

static int volume_setup(const struct agent_vol_in *in, const json_t *vol, struct k8c_err **err)
{
    const char *plugin = plugin_of(vol);
    if (!plugin)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "unsupported volume type");
    if (strcmp(plugin, "hostPath") == 0)
        return host_path(json_object_get(vol, "hostPath"), err);
    _cleanup_free_ char *dir = agent_volume_dir(in->pod_dir, vol);
    if (json_object_get(vol, "emptyDir")) {
        const char *medium = kjson_path_str(vol, "emptyDir.medium");
        if (medium && strcmp(medium, "Memory") == 0) {
            int64_t size = 0;
            const char *sl = kjson_path_str(vol, "emptyDir.sizeLimit");
            if (sl && agent_quantity(sl, 1, &size) < 0)
                return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid sizeLimit %s", sl);
            if (tmpfs_at(dir, size, err) < 0)
                return -1;
        } else if (file_mkdir_p(dir, 0777, err) < 0) {
            return -1;
        }
        chmod(dir, 0777);
        own(dir, in->pod, false);
        return 0;
    }
    /* secrets and projected volumes (tokens) live in memory, as kubelet keeps them */
    bool memory = json_object_get(vol, "secret") || json_object_get(vol, "projected");
    if (memory ? tmpfs_at(dir, 0, err) < 0 : file_mkdir_p(dir, 0755, err) < 0)
        return -1;
    chmod(dir, 0755);
    _cleanup_json_ json_t *payload = json_object();
    int r;
    if (json_object_get(vol, "configMap") || json_object_get(vol, "secret")) {
        bool secret = json_object_get(vol, "secret") != NULL;
        const json_t *src = json_object_get(vol, secret ? "secret" : "configMap");
        const json_t *dm = json_object_get(src, "defaultMode");
        r = payload_source(in, src, secret,
                           json_is_integer(dm) ? (int)json_integer_value(dm) : 0644, payload, err);
    } else if (json_object_get(vol, "downwardAPI")) {
        const json_t *dm = kjson_path(vol, "downwardAPI.defaultMode");
        r = payload_downward(in, kjson_path(vol, "downwardAPI.items"),
                             json_is_integer(dm) ? (int)json_integer_value(dm) : 0644, payload,
                             err);
    } else {
        r = payload_projected(in, dir, json_object_get(vol, "projected"), payload, err);
    }
    if (r < 0)
        return -1;
    own(dir, in->pod, true);
    return write_payload(dir, payload, in->pod, err);
}

int agent_volumes_setup(const struct agent_vol_in *in, struct k8c_err **err)
{
    size_t i;
    json_t *vol;
    json_array_foreach (kjson_path(in->pod, "spec.volumes"), i, vol) {
        if (volume_setup(in, vol, err) < 0)
            return k8c_err_wrap(err, "MountVolume.SetUp failed for volume \"%s\" ",
                                kjson_path_str(vol, "name") ?: "");
    }
    return 0;
}

void agent_volumes_teardown(const char *pod_dir)
{
    _cleanup_free_ char *root = xasprintf("%s/volumes", pod_dir);
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *plugin = xasprintf("%s/%s", root, e->d_name);
        DIR *pd = opendir(plugin);
        struct dirent *ve;
        while (pd && (ve = readdir(pd))) {
            if (ve->d_name[0] == '.')
                continue;
            _cleanup_free_ char *v = xasprintf("%s/%s", plugin, ve->d_name);
            if (is_mountpoint(v) && umount2(v, MNT_DETACH) < 0)
                LOG_WARN("umount %s: %s", v, strerror(errno));
        }
        if (pd)
            closedir(pd);
    }
    if (d)
        closedir(d);
    agent_rm_rf(root);
}

/* ---- the container's mounts ---- */

static const json_t *volume_named(const json_t *pod, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach (kjson_path(pod, "spec.volumes"), i, v)
        if (strcmp(kjson_path_str(v, "name") ?: "", name) == 0)
            return v;
    return NULL;
}

static size_t depth(const json_t *m)
{
    size_t n = 0;
    for (const char *p = kjson_path_str(m, "destination") ?: ""; *p; p++)
        n += *p == '/' && p[1] && p[1] != '/';
    return n;
}

void agent_mounts_sort(json_t *mounts)
{
    /* shallower destinations first, stable (containerd's order): /etc before /etc/hosts */
    size_t n = json_array_size(mounts);
    json_t **a = xcalloc(n ? n : 1, sizeof(*a));
    for (size_t i = 0; i < n; i++)
        a[i] = json_incref(json_array_get(mounts, i));
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && depth(a[j - 1]) > depth(a[j]); j--) {
            json_t *t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
    json_array_clear(mounts);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(mounts, a[i]);
    free(a);
}

int agent_volume_mounts(const struct agent_bundle_in *in, const json_t *vars, json_t *mounts,
                        struct k8c_err **err)
{
    size_t i;
    json_t *vm;
    json_array_foreach (json_object_get(in->container, "volumeMounts"), i, vm) {
        const char *name = kjson_path_str(vm, "name") ?: "";
        const char *dst = kjson_path_str(vm, "mountPath") ?: "";
        const json_t *vol = volume_named(in->pod, name);
        if (!vol)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "cannot find volume \"%s\" to mount into container \"%s\"", name,
                               kjson_path_str(in->container, "name") ?: "");
        _cleanup_free_ char *src = agent_volume_dir(in->pod_dir, vol);
        bool host = !src;
        if (host)
            src = xstrdup(kjson_path_str(vol, "hostPath.path") ?: "");
        const char *sub = kjson_path_str(vm, "subPath");
        _cleanup_free_ char *expanded = NULL;
        if ((!sub || !*sub) && kjson_path_str(vm, "subPathExpr"))
            sub = expanded = agent_expand(kjson_path_str(vm, "subPathExpr"), vars);
        if (sub && *sub) {
            if (*sub == '/' || has_dotdot(sub))
                return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                   "subPath \"%s\" must be a relative path without '..'", sub);
            char *full = xasprintf("%s/%s", src, sub);
            free(src);
            src = full;
            struct stat st;
            if (lstat(src, &st) < 0 && file_mkdir_p(src, 0755, err) < 0)
                return -1; /* kubelet creates a missing subPath as a directory */
            /* a symlink may not lead out of the volume */
            char real[PATH_MAX], base[PATH_MAX];
            _cleanup_free_ char *vdir = host ? xstrdup(kjson_path_str(vol, "hostPath.path") ?: "/")
                                             : agent_volume_dir(in->pod_dir, vol);
            if (!realpath(src, real) || !realpath(vdir, base) ||
                (strncmp(real, base, strlen(base)) != 0 ||
                 (real[strlen(base)] != '/' && real[strlen(base)] != '\0' &&
                  strcmp(base, "/") != 0)))
                return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                   "subPath \"%s\" of volume \"%s\" leads outside the volume", sub,
                                   name);
            free(src);
            src = xstrdup(real);
        }
        bool ro = json_is_true(json_object_get(vm, "readOnly")) ||
                  json_object_get(vol, "configMap") || json_object_get(vol, "secret") ||
                  json_object_get(vol, "downwardAPI") || json_object_get(vol, "projected");
        const char *prop = kjson_path_str(vm, "mountPropagation") ?: "None";
        const char *popt = strcmp(prop, "HostToContainer") == 0 ? "rslave"
                           : strcmp(prop, "Bidirectional") == 0 ? "rshared"
                                                                : "rprivate";
        json_t *opts = json_pack("[s,s]", "rbind", popt);
        if (ro)
            json_array_append_new(opts, json_string("ro"));
        json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:o}", "destination", dst, "type",
                                                "bind", "source", src, "options", opts));
    }
    return 0;
}

/* ---- the agent's side: resync and FailedMount ---- */

/* ConfigMaps and Secrets are watched (objwatch.c): a change is a new generation and queues
 * the pod. Volumes are rewritten (only files whose payload changed) at a new generation, when
 * the pod object changed (downward API), after a failure every VOLUME_RETRY_S, and every
 * VOLUME_RESYNC_S anyway (ServiceAccount tokens refreshed at 80% of their life). */
#define VOLUME_RETRY_S 5
#define VOLUME_RESYNC_S 60

int agent__pod_volumes(struct agent *a, struct agent_pod *p, const json_t *pod)
{
    uint64_t now = clock_mono_ns(), gen = agent__objwatch_gen(a);
    const char *rv = kjson_path_str(pod, "metadata.resourceVersion") ?: "";
    if (p->volumes_ready && now < p->volumes_next_ns && gen == p->volumes_gen && p->volumes_rv &&
        strcmp(p->volumes_rv, rv) == 0)
        return 0;
    struct agent_vol_in in = {pod, p->dir, a->client, a->node_ip, a, p->key};
    _cleanup_err_ struct k8c_err *err = NULL;
    if (agent_volumes_setup(&in, &err) < 0) {
        if (!p->volumes_err || strcmp(p->volumes_err, err->msg) != 0) {
            agent__event(a, pod, "Warning", "FailedMount", "%s", err->msg);
            free(p->volumes_err);
            p->volumes_err = xstrdup(err->msg);
        }
        LOG_DEBUG("pod %s: %s", p->key, err->msg);
        /* running containers keep the files they have (kubelet keeps the last content) */
        p->volumes_next_ns = now + VOLUME_RETRY_S * 1000000000ull;
        return p->volumes_ready ? 0 : -1;
    }
    free(p->volumes_err);
    p->volumes_err = NULL;
    p->volumes_ready = true;
    p->volumes_gen = gen;
    free(p->volumes_rv);
    p->volumes_rv = xstrdup(rv);
    p->volumes_next_ns = now + VOLUME_RESYNC_S * 1000000000ull;
    return 0;
}
