/* Container state on disk: <root>/<id>/state.json (written atomically once the process is
 * set up) and <root>/<id>/exec.fifo (present from create until start). The status is never
 * stored: it is read live from the pid (checked against its start time), the fifo and the
 * freezer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "runtime/internal.h"

const char *runtime__status_name(enum runtime_status st)
{
    static const char *const names[] = {"creating", "created", "running", "paused", "stopped"};
    return names[st];
}

int runtime__id_check(const char *id, struct k8c_err **err)
{
    size_t n = strlen(id);
    bool ok = n > 0 && n <= 1024 && id[0] != '.' && id[0] != '-' && id[0] != '_';
    for (size_t i = 0; ok && i < n; i++) {
        char c = id[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    }
    if (!ok)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "invalid container id \"%s\": use letters, digits, '_', '-', '.'", id);
    return 0;
}

int runtime__state_dir_create(const char *root, const char *id, struct k8c_err **err)
{
    if (file_mkdir_p(root, 0700, err) < 0)
        return -1;
    _cleanup_free_ char *dir = xasprintf("%s/%s", root, id);
    if (mkdir(dir, 0700) < 0) {
        if (errno == EEXIST)
            return k8c_err_set(err, 0, K8C_REASON_ALREADY_EXISTS, "container \"%s\" already exists",
                               id);
        return k8c_err_errno(err, "create `%s`", dir);
    }
    return 0;
}

int runtime__state_save(const struct runtime_state *st, struct k8c_err **err)
{
    _cleanup_json_ json_t *o = json_pack(
        "{s:s, s:i, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:b}", "id", st->id, "pid",
        (int)st->pid, "pidStart", (json_int_t)st->pid_start, "bundle", st->bundle, "rootfs",
        st->rootfs ? st->rootfs : "", "created", st->created, "cgroupDriver", st->cgroup_driver,
        "cgroupRoot", st->cgroup_root, "cgroupPath", st->cgroup_path, "annotations",
        st->annotations ? st->annotations : json_object(), "oomKilled", st->oom_killed);
    if (o == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "state: cannot encode");
    _cleanup_free_ char *text = kjson_dumps(o);
    /* Atomic (write + rename) but not fsynced: containers do not survive a reboot, so
     * neither needs their state; fsync would cost more than the rest of a start. */
    _cleanup_free_ char *path = xasprintf("%s/state.json", st->dir);
    _cleanup_free_ char *tmp = xasprintf("%s/.state.json.tmp", st->dir);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        return k8c_err_errno(err, "write `%s`", tmp);
    if (rename(tmp, path) < 0)
        return k8c_err_errno(err, "rename `%s`", tmp);
    return 0;
}

static char *str_or_empty(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return xstrdup(s ? s : "");
}

int runtime__state_load(const char *root, const char *id, struct runtime_state *st,
                        struct k8c_err **err)
{
    memset(st, 0, sizeof(*st));
    if (runtime__id_check(id, err) < 0)
        return -1;
    st->id = xstrdup(id);
    st->dir = xasprintf("%s/%s", root, id);
    struct stat sb;
    if (stat(st->dir, &sb) < 0) {
        runtime__state_release(st);
        return k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "container \"%s\" does not exist", id);
    }
    _cleanup_free_ char *path = xasprintf("%s/state.json", st->dir);
    size_t len;
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_free_ char *text = file_read_all(path, 1 << 20, &len, &e);
    if (text == NULL) {
        /* a directory without state.json: a create in progress (or one that crashed) */
        st->bundle = xstrdup("");
        st->created = xstrdup("");
        return 0;
    }
    _cleanup_json_ json_t *o = kjson_parse(text, len, err);
    if (o == NULL || !json_is_object(o)) {
        runtime__state_release(st);
        if (o)
            k8c_err_set(err, 0, K8C_REASON_INTERNAL, "state of \"%s\" is not an object", id);
        return k8c_err_wrap(err, "`%s`", path);
    }
    st->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    st->pid_start = (uint64_t)json_integer_value(json_object_get(o, "pidStart"));
    st->bundle = str_or_empty(o, "bundle");
    st->rootfs = str_or_empty(o, "rootfs");
    st->created = str_or_empty(o, "created");
    st->cgroup_driver = str_or_empty(o, "cgroupDriver");
    st->cgroup_root = str_or_empty(o, "cgroupRoot");
    st->cgroup_path = str_or_empty(o, "cgroupPath");
    json_t *ann = json_object_get(o, "annotations");
    st->annotations = json_is_object(ann) ? json_incref(ann) : json_object();
    st->oom_killed = json_is_true(json_object_get(o, "oomKilled"));
    return 0;
}

void runtime__state_release(struct runtime_state *st)
{
    free(st->id);
    free(st->dir);
    free(st->bundle);
    free(st->rootfs);
    free(st->created);
    free(st->cgroup_driver);
    free(st->cgroup_root);
    free(st->cgroup_path);
    json_decref(st->annotations);
    memset(st, 0, sizeof(*st));
}

int runtime__state_remove(const char *dir, struct k8c_err **err)
{
    static const char *const files[] = {"state.json", "exec.fifo", ".state.json.tmp"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            return k8c_err_errno(err, "remove `%s`", p);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        return k8c_err_errno(err, "remove `%s`", dir);
    return 0;
}

/* Field 3 (state) and 22 (start time) of /proc/<pid>/stat. */
static uint64_t pid_stat(pid_t pid, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    p += 2; /* field 3 */
    *state = *p;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

uint64_t runtime__pid_start_time(pid_t pid)
{
    char state = 0;
    return pid > 0 ? pid_stat(pid, &state) : 0;
}

void runtime__state_cgroup(const struct runtime_state *st, struct runtime_cgroup *cg)
{
    const struct runtime_cgroup_ops *ops =
        strcmp(st->cgroup_driver ? st->cgroup_driver : "", "v2") == 0 ? &runtime__cgroup_v2
                                                                      : &runtime__cgroup_v1;
    runtime__cgroup_init(cg, ops, st->cgroup_root && st->cgroup_root[0] ? st->cgroup_root : NULL,
                         st->cgroup_path ? st->cgroup_path : "");
}

enum runtime_status runtime__state_status(const struct runtime_state *st)
{
    if (st->pid <= 0)
        return RUNTIME_STATUS_CREATING;
    char state = 0;
    uint64_t start = pid_stat(st->pid, &state);
    if (start == 0 || start != st->pid_start || state == 'Z' || state == 'X')
        return RUNTIME_STATUS_STOPPED;
    _cleanup_free_ char *fifo = xasprintf("%s/exec.fifo", st->dir);
    if (access(fifo, F_OK) == 0)
        return RUNTIME_STATUS_CREATED;
    struct runtime_cgroup cg;
    runtime__state_cgroup(st, &cg);
    _cleanup_err_ struct k8c_err *e = NULL;
    int frozen = cg.ops->is_frozen(&cg, &e);
    runtime__cgroup_release(&cg);
    return frozen == 1 ? RUNTIME_STATUS_PAUSED : RUNTIME_STATUS_RUNNING;
}

json_t *runtime__state_json(const struct runtime_state *st, enum runtime_status status)
{
    json_t *o = json_object();
    json_object_set_new(o, "ociVersion", json_string("1.0.2"));
    json_object_set_new(o, "id", json_string(st->id));
    json_object_set_new(o, "pid", json_integer(status == RUNTIME_STATUS_STOPPED ? 0 : st->pid));
    json_object_set_new(o, "status", json_string(runtime__status_name(status)));
    json_object_set_new(o, "bundle", json_string(st->bundle ? st->bundle : ""));
    json_object_set_new(o, "rootfs", json_string(st->rootfs ? st->rootfs : ""));
    json_object_set_new(o, "created", json_string(st->created ? st->created : ""));
    json_object_set_new(o, "owner", json_string(""));
    if (st->annotations && json_object_size(st->annotations))
        json_object_set(o, "annotations", st->annotations);
    if (status == RUNTIME_STATUS_STOPPED && st->cgroup_path && st->cgroup_path[0]) {
        bool oom = st->oom_killed;
        if (!oom) {
            struct runtime_cgroup cg;
            struct runtime_cgroup_stats stats;
            runtime__state_cgroup(st, &cg);
            _cleanup_err_ struct k8c_err *e = NULL;
            oom = cg.ops->stats(&cg, &stats, &e) == 0 && stats.oom_kills > 0;
            runtime__cgroup_release(&cg);
        }
        if (oom)
            json_object_set_new(o, "oomKilled", json_true());
    }
    return o;
}
