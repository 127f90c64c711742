/* config.json -> struct runtime_spec: every field the runtime uses, typed and checked, with
 * one-line errors that name the field ("process.rlimits[1].hard: ..."). Nothing here touches
 * the host except runtime_spec_validate_host. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "runtime/internal.h"

#define SPEC_MAX_SIZE (4u << 20)

static int fail(struct k8c_err **err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct k8c_err **err, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "config.json: %s: %s", field, msg);
}

/* Field path helpers: "a.b[3].c" built on the fly. */
static char *sub(const char *parent, const char *key)
{
    return xasprintf("%s.%s", parent, key);
}

static char *idx(const char *parent, size_t i)
{
    return xasprintf("%s[%zu]", parent, i);
}

static int get_string(json_t *obj, const char *key, const char *field, bool required, char **out,
                      struct k8c_err **err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return fail(err, field, "is required");
        return 0;
    }
    if (!json_is_string(v))
        return fail(err, field, "must be a string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, field, "must not contain NUL bytes");
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int get_bool(json_t *obj, const char *key, const char *field, bool *out,
                    struct k8c_err **err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(err, field, "must be a boolean");
    *out = json_is_true(v);
    return 0;
}

/* Integers: jansson keeps json_int_t (int64). uint64 values above INT64_MAX arrive as reals
 * and are accepted when integral (rlimit "infinity" is 18446744073709551615). */
static int get_int(json_t *v, const char *field, int64_t min, int64_t max, int64_t *out,
                   struct k8c_err **err)
{
    if (!json_is_integer(v))
        return fail(err, field, "must be an integer");
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return fail(err, field, "%lld is out of range [%lld, %lld]", (long long)n, (long long)min,
                    (long long)max);
    *out = n;
    return 0;
}

static int get_u64(json_t *v, const char *field, uint64_t *out, struct k8c_err **err)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0)
            return fail(err, field, "must not be negative");
        *out = (uint64_t)n;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* jansson hands integers above INT64_MAX over as reals */
        if (d >= 9.2233720368547758e18 && d <= 1.8446744073709552e19) {
            *out = d >= 1.8446744073709552e19 ? UINT64_MAX : (uint64_t)d;
            return 0;
        }
    }
    return fail(err, field, "must be a non-negative integer");
}

static int get_strv(json_t *obj, const char *key, const char *field, char ***out, size_t *n,
                    struct k8c_err **err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return fail(err, field, "must be an array of strings");
    size_t count = json_array_size(v);
    char **strv = xcalloc(count + 1, sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            mem_free_strv(&strv);
            _cleanup_free_ char *f = idx(field, i);
            return fail(err, f, "must be a string");
        }
        strv[i] = xstrdup(json_string_value(s));
    }
    *out = strv;
    if (n)
        *n = count;
    return 0;
}

static int get_object(json_t *obj, const char *key, const char *field, json_t **out,
                      struct k8c_err **err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fail(err, field, "must be an object");
    *out = v;
    return 0;
}

static int get_array(json_t *obj, const char *key, const char *field, json_t **out,
                     struct k8c_err **err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return fail(err, field, "must be an array");
    *out = v;
    return 0;
}

/* ---- tables ---- */

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

static const char *const ns_names[RUNTIME_NS_COUNT] = {
    [RUNTIME_NS_USER] = "user",       [RUNTIME_NS_MOUNT] = "mount", [RUNTIME_NS_PID] = "pid",
    [RUNTIME_NS_NETWORK] = "network", [RUNTIME_NS_IPC] = "ipc",     [RUNTIME_NS_UTS] = "uts",
    [RUNTIME_NS_CGROUP] = "cgroup",
};

const char *runtime__ns_name(enum runtime_ns_kind kind)
{
    return ns_names[kind];
}

int runtime__ns_clone_flag(enum runtime_ns_kind kind)
{
    static const int flags[RUNTIME_NS_COUNT] = {
        [RUNTIME_NS_USER] = CLONE_NEWUSER,     [RUNTIME_NS_MOUNT] = CLONE_NEWNS,
        [RUNTIME_NS_PID] = CLONE_NEWPID,       [RUNTIME_NS_NETWORK] = CLONE_NEWNET,
        [RUNTIME_NS_IPC] = CLONE_NEWIPC,       [RUNTIME_NS_UTS] = CLONE_NEWUTS,
        [RUNTIME_NS_CGROUP] = CLONE_NEWCGROUP,
    };
    return flags[kind];
}

/* Mount options: flags to set, flags to clear, propagation. Anything else is kernel data. */
static const struct {
    const char *name;
    unsigned long set, clear, propagation;
    bool bind, rec;
} mount_opts[] = {
    {"defaults", 0, 0, 0, false, false},
    {"ro", MS_RDONLY, 0, 0, false, false},
    {"rw", 0, MS_RDONLY, 0, false, false},
    {"nosuid", MS_NOSUID, 0, 0, false, false},
    {"suid", 0, MS_NOSUID, 0, false, false},
    {"nodev", MS_NODEV, 0, 0, false, false},
    {"dev", 0, MS_NODEV, 0, false, false},
    {"noexec", MS_NOEXEC, 0, 0, false, false},
    {"exec", 0, MS_NOEXEC, 0, false, false},
    {"sync", MS_SYNCHRONOUS, 0, 0, false, false},
    {"async", 0, MS_SYNCHRONOUS, 0, false, false},
    {"dirsync", MS_DIRSYNC, 0, 0, false, false},
    {"remount", MS_REMOUNT, 0, 0, false, false},
    {"mand", MS_MANDLOCK, 0, 0, false, false},
    {"nomand", 0, MS_MANDLOCK, 0, false, false},
    {"atime", 0, MS_NOATIME, 0, false, false},
    {"noatime", MS_NOATIME, 0, 0, false, false},
    {"diratime", 0, MS_NODIRATIME, 0, false, false},
    {"nodiratime", MS_NODIRATIME, 0, 0, false, false},
    {"relatime", MS_RELATIME, 0, 0, false, false},
    {"norelatime", 0, MS_RELATIME, 0, false, false},
    {"strictatime", MS_STRICTATIME, 0, 0, false, false},
    {"nostrictatime", 0, MS_STRICTATIME, 0, false, false},
    {"bind", MS_BIND, 0, 0, true, false},
    {"rbind", MS_BIND | MS_REC, 0, 0, true, true},
    {"private", 0, 0, MS_PRIVATE, false, false},
    {"rprivate", 0, 0, MS_PRIVATE | MS_REC, false, false},
    {"shared", 0, 0, MS_SHARED, false, false},
    {"rshared", 0, 0, MS_SHARED | MS_REC, false, false},
    {"slave", 0, 0, MS_SLAVE, false, false},
    {"rslave", 0, 0, MS_SLAVE | MS_REC, false, false},
    {"unbindable", 0, 0, MS_UNBINDABLE, false, false},
    {"runbindable", 0, 0, MS_UNBINDABLE | MS_REC, false, false},
    {"tmpcopyup", 0, 0, 0, false, false}, /* crun extension, accepted and ignored */
};

unsigned long runtime__propagation_from_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(mount_opts); i++)
        if (mount_opts[i].propagation && strcmp(mount_opts[i].name, name) == 0)
            return mount_opts[i].propagation;
    return 0;
}

/* ---- sections ---- */

static int parse_caps(json_t *caps, const char *field, struct runtime_spec *s, struct k8c_err **err)
{
    static const char *const sets[] = {"bounding", "effective", "permitted", "inheritable",
                                       "ambient"};
    uint64_t *masks[] = {&s->cap_bounding, &s->cap_effective, &s->cap_permitted,
                         &s->cap_inheritable, &s->cap_ambient};
    s->has_caps = true;
    for (size_t k = 0; k < ARRAY_SIZE(sets); k++) {
        _cleanup_free_ char *f = sub(field, sets[k]);
        _cleanup_strv_ char **names = NULL;
        if (get_strv(caps, sets[k], f, &names, NULL, err) < 0)
            return -1;
        for (size_t i = 0; names && names[i]; i++) {
            int cap = runtime_cap_from_name(names[i]);
            if (cap < 0) {
                _cleanup_free_ char *fi = idx(f, i);
                return fail(err, fi, "unknown capability \"%s\"", names[i]);
            }
            *masks[k] |= 1ull << cap;
        }
    }
    return 0;
}

static int parse_rlimits(json_t *arr, const char *field, struct runtime_spec *s,
                         struct k8c_err **err)
{
    size_t n = json_array_size(arr);
    s->rlimits = xcalloc(n ? n : 1, sizeof(*s->rlimits));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *f = idx(field, i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return fail(err, f, "must be an object");
        _cleanup_free_ char *ft = sub(f, "type");
        _cleanup_free_ char *type = NULL;
        if (get_string(o, "type", ft, true, &type, err) < 0)
            return -1;
        int resource = -1;
        for (size_t j = 0; j < ARRAY_SIZE(rlimit_names); j++)
            if (strcmp(rlimit_names[j].name, type) == 0)
                resource = rlimit_names[j].resource;
        if (resource < 0)
            return fail(err, ft, "unknown rlimit \"%s\"", type);
        for (size_t j = 0; j < s->n_rlimits; j++)
            if (s->rlimits[j].resource == resource)
                return fail(err, ft, "duplicate rlimit \"%s\"", type);
        struct runtime_rlimit *r = &s->rlimits[s->n_rlimits];
        _cleanup_free_ char *fs = sub(f, "soft");
        _cleanup_free_ char *fh = sub(f, "hard");
        json_t *soft = json_object_get(o, "soft"), *hard = json_object_get(o, "hard");
        if (soft == NULL)
            return fail(err, fs, "is required");
        if (hard == NULL)
            return fail(err, fh, "is required");
        if (get_u64(soft, fs, &r->soft, err) < 0 || get_u64(hard, fh, &r->hard, err) < 0)
            return -1;
        if (r->soft > r->hard)
            return fail(err, fs, "%llu is above the hard limit %llu", (unsigned long long)r->soft,
                        (unsigned long long)r->hard);
        if (resource == RLIMIT_NOFILE && r->hard != UINT64_MAX && r->hard > (1u << 30))
            return fail(err, fh, "%llu open files is absurd (the kernel allows at most %u)",
                        (unsigned long long)r->hard, 1u << 30);
        if (resource == RLIMIT_NICE && r->hard > 40 && r->hard != UINT64_MAX)
            return fail(err, fh, "%llu is above 40", (unsigned long long)r->hard);
        r->resource = resource;
        s->n_rlimits++;
    }
    return 0;
}

static int parse_process(json_t *p, struct runtime_spec *s, struct k8c_err **err)
{
    if (p == NULL)
        return fail(err, "process", "is required");
    if (get_bool(p, "terminal", "process.terminal", &s->terminal, err) < 0 ||
        get_strv(p, "args", "process.args", &s->args, NULL, err) < 0 ||
        get_strv(p, "env", "process.env", &s->env, NULL, err) < 0 ||
        get_string(p, "cwd", "process.cwd", true, &s->cwd, err) < 0 ||
        get_bool(p, "noNewPrivileges", "process.noNewPrivileges", &s->no_new_privileges, err) < 0)
        return -1;
    if (s->args == NULL || s->args[0] == NULL)
        return fail(err, "process.args", "must name the program to run");
    if (s->args[0][0] == '\0')
        return fail(err, "process.args[0]", "must not be empty");
    if (s->env == NULL)
        s->env = xcalloc(1, sizeof(char *));
    for (size_t i = 0; s->env[i]; i++)
        if (strchr(s->env[i], '=') == NULL || s->env[i][0] == '=') {
            _cleanup_free_ char *f = idx("process.env", i);
            return fail(err, f, "\"%s\" is not NAME=VALUE", s->env[i]);
        }
    if (s->cwd[0] != '/')
        return fail(err, "process.cwd", "\"%s\" must be an absolute path", s->cwd);

    json_t *user = NULL;
    if (get_object(p, "user", "process.user", &user, err) < 0)
        return -1;
    if (user) {
        json_t *v;
        int64_t n;
        if ((v = json_object_get(user, "uid"))) {
            if (get_int(v, "process.user.uid", 0, UINT32_MAX - 1, &n, err) < 0)
                return -1;
            s->uid = (uid_t)n;
        }
        if ((v = json_object_get(user, "gid"))) {
            if (get_int(v, "process.user.gid", 0, UINT32_MAX - 1, &n, err) < 0)
                return -1;
            s->gid = (gid_t)n;
        }
        if ((v = json_object_get(user, "umask")) && !json_is_null(v)) {
            if (get_int(v, "process.user.umask", 0, 0777, &n, err) < 0)
                return -1;
            s->has_umask = true;
            s->umask = (mode_t)n;
        }
        json_t *gids = NULL;
        if (get_array(user, "additionalGids", "process.user.additionalGids", &gids, err) < 0)
            return -1;
        if (gids) {
            size_t count = json_array_size(gids);
            if (count > 65536)
                return fail(err, "process.user.additionalGids", "too many groups (%zu)", count);
            s->additional_gids = xcalloc(count ? count : 1, sizeof(gid_t));
            for (size_t i = 0; i < count; i++) {
                _cleanup_free_ char *f = idx("process.user.additionalGids", i);
                if (get_int(json_array_get(gids, i), f, 0, UINT32_MAX - 1, &n, err) < 0)
                    return -1;
                s->additional_gids[i] = (gid_t)n;
            }
            s->n_additional_gids = count;
        }
    }
    json_t *caps = NULL, *rl = NULL, *v;
    if (get_object(p, "capabilities", "process.capabilities", &caps, err) < 0)
        return -1;
    if (caps && parse_caps(caps, "process.capabilities", s, err) < 0)
        return -1;
    if (get_array(p, "rlimits", "process.rlimits", &rl, err) < 0)
        return -1;
    if (rl && parse_rlimits(rl, "process.rlimits", s, err) < 0)
        return -1;
    if ((v = json_object_get(p, "oomScoreAdj")) && !json_is_null(v)) {
        int64_t n;
        if (get_int(v, "process.oomScoreAdj", -1000, 1000, &n, err) < 0)
            return -1;
        s->has_oom_score_adj = true;
        s->oom_score_adj = (int)n;
    }
    return 0;
}

static int parse_mount_options(json_t *opts, const char *field, struct runtime_mount *m,
                               struct k8c_err **err)
{
    struct buf data = BUF_INIT;
    for (size_t i = 0; i < json_array_size(opts); i++) {
        json_t *o = json_array_get(opts, i);
        _cleanup_free_ char *f = idx(field, i);
        if (!json_is_string(o)) {
            buf_free(&data);
            return fail(err, f, "must be a string");
        }
        const char *name = json_string_value(o);
        bool known = false;
        for (size_t j = 0; j < ARRAY_SIZE(mount_opts); j++) {
            if (strcmp(mount_opts[j].name, name) != 0)
                continue;
            known = true;
            m->flags = (m->flags | mount_opts[j].set) & ~mount_opts[j].clear;
            if (mount_opts[j].propagation)
                m->propagation = mount_opts[j].propagation;
            if (mount_opts[j].bind)
                m->bind = true;
        }
        if (!known) {
            if (strchr(name, ',') != NULL) {
                buf_free(&data);
                return fail(err, f, "\"%s\" must be one option, not a list", name);
            }
            if (data.len)
                buf_append_char(&data, ',');
            buf_append_str(&data, name);
        }
    }
    m->data = data.len ? buf_steal(&data) : NULL;
    buf_free(&data);
    return 0;
}

static bool has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

static int parse_mounts(json_t *arr, struct runtime_spec *s, struct k8c_err **err)
{
    size_t n = json_array_size(arr);
    s->mounts = xcalloc(n ? n : 1, sizeof(*s->mounts));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *f = idx("mounts", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return fail(err, f, "must be an object");
        struct runtime_mount *m = &s->mounts[s->n_mounts++];
        _cleanup_free_ char *fd = sub(f, "destination");
        _cleanup_free_ char *ft = sub(f, "type");
        _cleanup_free_ char *fs = sub(f, "source");
        _cleanup_free_ char *fo = sub(f, "options");
        json_t *opts = NULL;
        if (get_string(o, "destination", fd, true, &m->destination, err) < 0 ||
            get_string(o, "type", ft, false, &m->type, err) < 0 ||
            get_string(o, "source", fs, false, &m->source, err) < 0 ||
            get_array(o, "options", fo, &opts, err) < 0)
            return -1;
        if (m->destination[0] != '/')
            return fail(err, fd, "\"%s\" must be an absolute path", m->destination);
        if (has_dotdot(m->destination))
            return fail(err, fd, "\"%s\" escapes the rootfs through \"..\"", m->destination);
        if (opts && parse_mount_options(opts, fo, m, err) < 0)
            return -1;
        if (m->type && strcmp(m->type, "bind") == 0)
            m->bind = true;
        if (m->bind && m->source == NULL)
            return fail(err, fs, "a bind mount needs a source");
        if (!m->bind && m->type == NULL)
            return fail(err, ft, "is required for a mount that is not a bind mount");
        if (m->bind && m->source[0] != '/') {
            char *abs = xasprintf("%s/%s", s->bundle, m->source);
            free(m->source);
            m->source = abs;
        }
    }
    return 0;
}

static int parse_idmaps(json_t *arr, const char *field, struct runtime_idmap **out, size_t *n,
                        struct k8c_err **err)
{
    size_t count = json_array_size(arr);
    if (count > 340)
        return fail(err, field, "too many mappings (%zu; the kernel takes 340)", count);
    *out = xcalloc(count ? count : 1, sizeof(**out));
    for (size_t i = 0; i < count; i++) {
        _cleanup_free_ char *f = idx(field, i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return fail(err, f, "must be an object");
        static const char *const keys[] = {"containerID", "hostID", "size"};
        int64_t v[3];
        for (size_t k = 0; k < 3; k++) {
            _cleanup_free_ char *fk = sub(f, keys[k]);
            json_t *x = json_object_get(o, keys[k]);
            if (x == NULL)
                return fail(err, fk, "is required");
            if (get_int(x, fk, k == 2 ? 1 : 0, UINT32_MAX, &v[k], err) < 0)
                return -1;
        }
        if (v[0] + v[2] > (int64_t)UINT32_MAX + 1 || v[1] + v[2] > (int64_t)UINT32_MAX + 1)
            return fail(err, f, "range overflows 32-bit ids");
        (*out)[i] = (struct runtime_idmap){(uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2]};
        (*n)++;
    }
    return 0;
}

static int parse_devices(json_t *arr, struct runtime_spec *s, struct k8c_err **err)
{
    size_t n = json_array_size(arr);
    s->devices = xcalloc(n ? n : 1, sizeof(*s->devices));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *f = idx("linux.devices", i);
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return fail(err, f, "must be an object");
        struct runtime_device *d = &s->devices[s->n_devices++];
        _cleanup_free_ char *fp = sub(f, "path");
        _cleanup_free_ char *ft = sub(f, "type");
        _cleanup_free_ char *type = NULL;
        if (get_string(o, "path", fp, true, &d->path, err) < 0 ||
            get_string(o, "type", ft, true, &type, err) < 0)
            return -1;
        if (d->path[0] != '/' || has_dotdot(d->path))
            return fail(err, fp, "\"%s\" must be an absolute path without \"..\"", d->path);
        if (strlen(type) != 1 || strchr("cbup", type[0]) == NULL)
            return fail(err, ft, "unknown device type \"%s\"", type);
        d->type = type[0];
        d->mode = 0666;
        static const char *const keys[] = {"major", "minor", "fileMode", "uid", "gid"};
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
            json_t *x = json_object_get(o, keys[k]);
            _cleanup_free_ char *fk = sub(f, keys[k]);
            int64_t v;
            if (x == NULL || json_is_null(x)) {
                if (k < 2 && d->type != 'p')
                    return fail(err, fk, "is required");
                continue;
            }
            if (get_int(x, fk, 0, k < 2 ? 0xfffff : k == 2 ? 07777 : UINT32_MAX - 1, &v, err) < 0)
                return -1;
            if (k == 0)
                d->major = v;
            else if (k == 1)
                d->minor = v;
            else if (k == 2)
                d->mode = (uint32_t)v;
            else if (k == 3)
                d->uid = (uid_t)v;
            else
                d->gid = (gid_t)v;
        }
    }
    return 0;
}

static int parse_opt_i64(json_t *o, const char *key, const char *parent, int64_t min, int64_t max,
                         bool *has, int64_t *out, struct k8c_err **err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    _cleanup_free_ char *f = sub(parent, key);
    if (get_int(v, f, min, max, out, err) < 0)
        return -1;
    *has = true;
    return 0;
}

static int parse_hugepages(json_t *arr, struct runtime_resources *res, struct k8c_err **err)
{
    size_t n = json_array_size(arr);
    res->hugepages = xcalloc(n ? n : 1, sizeof(*res->hugepages));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *f = idx("linux.resources.hugepageLimits", i);
        _cleanup_free_ char *fp = sub(f, "pageSize");
        _cleanup_free_ char *fl = sub(f, "limit");
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o))
            return fail(err, f, "must be an object");
        _cleanup_free_ char *size = NULL;
        if (get_string(o, "pageSize", fp, true, &size, err) < 0)
            return -1;
        /* "<number><KB|MB|GB>", the names of /sys/kernel/mm/hugepages and the cgroup files */
        size_t digits = strspn(size, "0123456789");
        if (digits == 0 || digits > 6 ||
            (strcmp(size + digits, "KB") != 0 && strcmp(size + digits, "MB") != 0 &&
             strcmp(size + digits, "GB") != 0))
            return fail(err, fp, "\"%s\" is not a page size like \"2MB\"", size);
        struct runtime_hugepage_limit *h = &res->hugepages[res->n_hugepages];
        json_t *limit = json_object_get(o, "limit");
        if (limit == NULL)
            return fail(err, fl, "is required");
        if (get_u64(limit, fl, &h->limit, err) < 0)
            return -1;
        snprintf(h->page_size, sizeof(h->page_size), "%s", size);
        res->n_hugepages++;
    }
    return 0;
}

static int parse_resources(json_t *r, struct runtime_resources *res, struct k8c_err **err)
{
    json_t *mem = NULL, *cpu = NULL, *pids = NULL, *devs = NULL, *huge = NULL;
    if (get_array(r, "hugepageLimits", "linux.resources.hugepageLimits", &huge, err) < 0)
        return -1;
    if (huge && parse_hugepages(huge, res, err) < 0)
        return -1;
    if (get_object(r, "memory", "linux.resources.memory", &mem, err) < 0 ||
        get_object(r, "cpu", "linux.resources.cpu", &cpu, err) < 0 ||
        get_object(r, "pids", "linux.resources.pids", &pids, err) < 0 ||
        get_array(r, "devices", "linux.resources.devices", &devs, err) < 0)
        return -1;
    if (mem) {
        const char *p = "linux.resources.memory";
        if (parse_opt_i64(mem, "limit", p, -1, INT64_MAX, &res->has_memory_limit,
                          &res->memory_limit, err) < 0 ||
            parse_opt_i64(mem, "reservation", p, -1, INT64_MAX, &res->has_memory_reservation,
                          &res->memory_reservation, err) < 0 ||
            parse_opt_i64(mem, "swap", p, -1, INT64_MAX, &res->has_memory_swap, &res->memory_swap,
                          err) < 0)
            return -1;
        if (res->has_memory_limit && res->memory_limit >= 0 && res->memory_limit < 4096)
            return fail(err, "linux.resources.memory.limit",
                        "%lld bytes is below the 4096-byte minimum", (long long)res->memory_limit);
        if (res->has_memory_swap && res->memory_swap >= 0 && res->has_memory_limit &&
            res->memory_limit >= 0 && res->memory_swap < res->memory_limit)
            return fail(err, "linux.resources.memory.swap",
                        "%lld is below the memory limit (swap counts memory plus swap)",
                        (long long)res->memory_swap);
    }
    if (cpu) {
        const char *p = "linux.resources.cpu";
        int64_t v;
        if (parse_opt_i64(cpu, "shares", p, 0, 262144, &res->has_cpu_shares, &v, err) < 0)
            return -1;
        res->cpu_shares = (uint64_t)v;
        if (parse_opt_i64(cpu, "quota", p, -1, INT64_MAX, &res->has_cpu_quota, &res->cpu_quota,
                          err) < 0)
            return -1;
        v = 0;
        if (parse_opt_i64(cpu, "period", p, 0, 1000000, &res->has_cpu_period, &v, err) < 0)
            return -1;
        res->cpu_period = (uint64_t)v;
        if (res->has_cpu_period && res->cpu_period != 0 && res->cpu_period < 1000)
            return fail(err, "linux.resources.cpu.period", "%llu is below 1000 microseconds",
                        (unsigned long long)res->cpu_period);
        if (res->has_cpu_quota && res->cpu_quota > 0 && res->cpu_quota < 1000)
            return fail(err, "linux.resources.cpu.quota", "%lld is below 1000 microseconds",
                        (long long)res->cpu_quota);
        if (get_string(cpu, "cpus", "linux.resources.cpu.cpus", false, &res->cpuset_cpus, err) <
                0 ||
            get_string(cpu, "mems", "linux.resources.cpu.mems", false, &res->cpuset_mems, err) < 0)
            return -1;
        const char *sets[] = {res->cpuset_cpus, res->cpuset_mems};
        for (size_t k = 0; k < 2; k++)
            if (sets[k] && strspn(sets[k], "0123456789,-") != strlen(sets[k]))
                return fail(err, k ? "linux.resources.cpu.mems" : "linux.resources.cpu.cpus",
                            "\"%s\" is not a list like \"0-2,4\"", sets[k]);
    }
    if (pids && parse_opt_i64(pids, "limit", "linux.resources.pids", INT64_MIN, INT64_MAX,
                              &res->has_pids_limit, &res->pids_limit, err) < 0)
        return -1;
    if (devs) {
        size_t n = json_array_size(devs);
        res->devices = xcalloc(n ? n : 1, sizeof(*res->devices));
        for (size_t i = 0; i < n; i++) {
            _cleanup_free_ char *f = idx("linux.resources.devices", i);
            json_t *o = json_array_get(devs, i);
            if (!json_is_object(o))
                return fail(err, f, "must be an object");
            struct runtime_device_rule *d = &res->devices[res->n_devices++];
            _cleanup_free_ char *fa = sub(f, "allow");
            json_t *allow = json_object_get(o, "allow");
            if (!json_is_boolean(allow))
                return fail(err, fa, "must be a boolean");
            d->allow = json_is_true(allow);
            _cleanup_free_ char *type = NULL, *access = NULL;
            _cleanup_free_ char *ft = sub(f, "type");
            _cleanup_free_ char *fc = sub(f, "access");
            if (get_string(o, "type", ft, false, &type, err) < 0 ||
                get_string(o, "access", fc, false, &access, err) < 0)
                return -1;
            d->type = type ? type[0] : 'a';
            if (type && (strlen(type) != 1 || strchr("acb", type[0]) == NULL))
                return fail(err, ft, "unknown device type \"%s\"", type);
            const char *acc = access ? access : "rwm";
            if (strlen(acc) > 3 || strspn(acc, "rwm") != strlen(acc))
                return fail(err, fc, "\"%s\" is not a subset of \"rwm\"", acc);
            strcpy(d->access, acc);
            d->major = d->minor = -1;
            bool unused;
            if (parse_opt_i64(o, "major", f, -1, 0xfffff, &unused, &d->major, err) < 0 ||
                parse_opt_i64(o, "minor", f, -1, 0xfffff, &unused, &d->minor, err) < 0)
                return -1;
        }
    }
    return 0;
}

static const struct {
    const char *name;
    uint32_t action;
} seccomp_actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0)},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0)},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG},
};

static const struct {
    const char *name;
    int op;
} seccomp_ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
    const char *oci, *scmp;
} seccomp_archs[] = {
    {"SCMP_ARCH_X86", "x86"},
    {"SCMP_ARCH_X86_64", "x86_64"},
    {"SCMP_ARCH_X32", "x32"},
    {"SCMP_ARCH_ARM", "arm"},
    {"SCMP_ARCH_AARCH64", "aarch64"},
    {"SCMP_ARCH_MIPS", "mips"},
    {"SCMP_ARCH_MIPS64", "mips64"},
    {"SCMP_ARCH_MIPS64N32", "mips64n32"},
    {"SCMP_ARCH_MIPSEL", "mipsel"},
    {"SCMP_ARCH_MIPSEL64", "mipsel64"},
    {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32"},
    {"SCMP_ARCH_PPC", "ppc"},
    {"SCMP_ARCH_PPC64", "ppc64"},
    {"SCMP_ARCH_PPC64LE", "ppc64le"},
    {"SCMP_ARCH_S390", "s390"},
    {"SCMP_ARCH_S390X", "s390x"},
    {"SCMP_ARCH_RISCV64", "riscv64"},
};

static int parse_action(json_t *o, const char *key, const char *field, json_t *errno_ret,
                        uint32_t *out, struct k8c_err **err)
{
    _cleanup_free_ char *name = NULL;
    if (get_string(o, key, field, true, &name, err) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(seccomp_actions); i++) {
        if (strcmp(seccomp_actions[i].name, name) != 0)
            continue;
        uint32_t a = seccomp_actions[i].action;
        if (a == SCMP_ACT_ERRNO(0) || a == SCMP_ACT_TRACE(0)) {
            int64_t e = a == SCMP_ACT_ERRNO(0) ? EPERM : 0;
            if (errno_ret && !json_is_null(errno_ret) &&
                get_int(errno_ret, field, 0, 4095, &e, err) < 0)
                return -1;
            a = a == SCMP_ACT_ERRNO(0) ? SCMP_ACT_ERRNO((uint32_t)e) : SCMP_ACT_TRACE((uint32_t)e);
        }
        *out = a;
        return 0;
    }
    return fail(err, field, "unknown seccomp action \"%s\"", name);
}

static int parse_seccomp(json_t *sc, struct runtime_spec *s, struct k8c_err **err)
{
    struct runtime_seccomp *p = s->seccomp = xcalloc(1, sizeof(*p));
    p->source = kjson_dumps(sc);
    if (parse_action(sc, "defaultAction", "linux.seccomp.defaultAction",
                     json_object_get(sc, "defaultErrnoRet"), &p->default_action, err) < 0)
        return -1;
    _cleanup_strv_ char **archs = NULL, **flags = NULL;
    size_t n_archs = 0;
    if (get_strv(sc, "architectures", "linux.seccomp.architectures", &archs, &n_archs, err) < 0 ||
        get_strv(sc, "flags", "linux.seccomp.flags", &flags, NULL, err) < 0)
        return -1;
    p->archs = xcalloc(n_archs + 1, sizeof(char *));
    for (size_t i = 0; i < n_archs; i++) {
        const char *found = NULL;
        for (size_t j = 0; j < ARRAY_SIZE(seccomp_archs); j++)
            if (strcmp(seccomp_archs[j].oci, archs[i]) == 0)
                found = seccomp_archs[j].scmp;
        if (found == NULL) {
            _cleanup_free_ char *f = idx("linux.seccomp.architectures", i);
            return fail(err, f, "unknown architecture \"%s\"", archs[i]);
        }
        p->archs[i] = xstrdup(found);
    }
    for (size_t i = 0; flags && flags[i]; i++) {
        if (strcmp(flags[i], "SECCOMP_FILTER_FLAG_LOG") == 0)
            p->log_flag = true;
        else if (strcmp(flags[i], "SECCOMP_FILTER_FLAG_SPEC_ALLOW") != 0 &&
                 strcmp(flags[i], "SECCOMP_FILTER_FLAG_TSYNC") != 0) {
            _cleanup_free_ char *f = idx("linux.seccomp.flags", i);
            return fail(err, f, "unknown seccomp flag \"%s\"", flags[i]);
        }
    }
    json_t *syscalls = NULL;
    if (get_array(sc, "syscalls", "linux.seccomp.syscalls", &syscalls, err) < 0)
        return -1;
    size_t n = syscalls ? json_array_size(syscalls) : 0;
    p->rules = xcalloc(n ? n : 1, sizeof(*p->rules));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *f = idx("linux.seccomp.syscalls", i);
        json_t *o = json_array_get(syscalls, i);
        if (!json_is_object(o))
            return fail(err, f, "must be an object");
        struct runtime_seccomp_rule *r = &p->rules[p->n_rules++];
        _cleanup_free_ char *fn = sub(f, "names");
        _cleanup_free_ char *fa = sub(f, "action");
        _cleanup_free_ char *fg = sub(f, "args");
        if (get_strv(o, "names", fn, &r->names, &r->n_names, err) < 0)
            return -1;
        if (r->names == NULL || r->n_names == 0)
            return fail(err, fn, "must name at least one syscall");
        if (parse_action(o, "action", fa, json_object_get(o, "errnoRet"), &r->action, err) < 0)
            return -1;
        json_t *args = NULL;
        if (get_array(o, "args", fg, &args, err) < 0)
            return -1;
        if (args && json_array_size(args) > 6)
            return fail(err, fg, "a syscall has at most 6 arguments");
        for (size_t k = 0; args && k < json_array_size(args); k++) {
            _cleanup_free_ char *fk = idx(fg, k);
            json_t *a = json_array_get(args, k);
            if (!json_is_object(a))
                return fail(err, fk, "must be an object");
            struct runtime_seccomp_arg *arg = &r->args[r->n_args++];
            int64_t index;
            _cleanup_free_ char *fi = sub(fk, "index");
            _cleanup_free_ char *fv = sub(fk, "value");
            _cleanup_free_ char *fv2 = sub(fk, "valueTwo");
            _cleanup_free_ char *fo = sub(fk, "op");
            json_t *x = json_object_get(a, "index");
            if (x == NULL)
                return fail(err, fi, "is required");
            if (get_int(x, fi, 0, 5, &index, err) < 0)
                return -1;
            arg->index = (unsigned)index;
            if ((x = json_object_get(a, "value")) == NULL)
                return fail(err, fv, "is required");
            if (get_u64(x, fv, &arg->value, err) < 0)
                return -1;
            if ((x = json_object_get(a, "valueTwo")) && get_u64(x, fv2, &arg->value_two, err) < 0)
                return -1;
            _cleanup_free_ char *op = NULL;
            if (get_string(a, "op", fo, true, &op, err) < 0)
                return -1;
            arg->op = -1;
            for (size_t j = 0; j < ARRAY_SIZE(seccomp_ops); j++)
                if (strcmp(seccomp_ops[j].name, op) == 0)
                    arg->op = seccomp_ops[j].op;
            if (arg->op < 0)
                return fail(err, fo, "unknown operator \"%s\"", op);
        }
    }
    return 0;
}

/* Only namespaced sysctls may be set (as runc checks): anything else would change the
 * host. IPC ones need an ipc namespace, net.* a network namespace, the names a uts one. */
static int check_sysctl(const struct runtime_spec *s, const char *key, const char *field,
                        struct k8c_err **err)
{
    static const char *const ipc[] = {"kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                                      "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                                      "kernel.shmmni", "kernel.shm_rmid_forced"};
    for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
        if (strcmp(key, ipc[i]) == 0)
            goto need_ipc;
    if (strncmp(key, "fs.mqueue.", 10) == 0)
        goto need_ipc;
    if (strncmp(key, "net.", 4) == 0) {
        if (!s->ns[RUNTIME_NS_NETWORK].wanted || s->ns[RUNTIME_NS_NETWORK].path)
            return fail(err, field, "needs a new network namespace");
        return 0;
    }
    if (strcmp(key, "kernel.hostname") == 0 || strcmp(key, "kernel.domainname") == 0) {
        if (!s->ns[RUNTIME_NS_UTS].wanted)
            return fail(err, field, "needs a uts namespace");
        return 0;
    }
    return fail(err, field, "is not namespaced: setting it would change the host");
need_ipc:
    if (!s->ns[RUNTIME_NS_IPC].wanted)
        return fail(err, field, "needs an ipc namespace");
    return 0;
}

/* With a device cgroup policy in linux.resources.devices, the devices the spec creates are
 * allowed too (as runc and crun do). */
static void allow_spec_devices(struct runtime_spec *s)
{
    struct runtime_resources *r = &s->resources;
    r->devices = xrealloc(r->devices, (r->n_devices + s->n_devices) * sizeof(*r->devices));
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct runtime_device *d = &s->devices[i];
        if (d->type == 'p')
            continue;
        r->devices[r->n_devices++] =
            (struct runtime_device_rule){.allow = true,
                                         .type = d->type == 'b' ? 'b' : 'c',
                                         .major = d->major,
                                         .minor = d->minor,
                                         .access = "rwm"};
    }
}

static const char *const hook_names[RUNTIME_HOOK_COUNT] = {
    [RUNTIME_HOOK_PRESTART] = "prestart",
    [RUNTIME_HOOK_CREATE_RUNTIME] = "createRuntime",
    [RUNTIME_HOOK_CREATE_CONTAINER] = "createContainer",
    [RUNTIME_HOOK_START_CONTAINER] = "startContainer",
    [RUNTIME_HOOK_POSTSTART] = "poststart",
    [RUNTIME_HOOK_POSTSTOP] = "poststop",
};

const char *runtime__hook_name(enum runtime_hook_kind kind)
{
    return hook_names[kind];
}

static int parse_hooks(json_t *hooks, struct runtime_spec *s, struct k8c_err **err)
{
    for (int k = 0; k < RUNTIME_HOOK_COUNT; k++) {
        _cleanup_free_ char *field = sub("hooks", hook_names[k]);
        json_t *arr = NULL;
        if (get_array(hooks, hook_names[k], field, &arr, err) < 0)
            return -1;
        size_t n = arr ? json_array_size(arr) : 0;
        s->hooks[k] = xcalloc(n ? n : 1, sizeof(struct runtime_hook));
        for (size_t i = 0; i < n; i++) {
            _cleanup_free_ char *f = idx(field, i);
            json_t *o = json_array_get(arr, i);
            if (!json_is_object(o))
                return fail(err, f, "must be an object");
            struct runtime_hook *h = &s->hooks[k][s->n_hooks[k]++];
            _cleanup_free_ char *fp = sub(f, "path");
            _cleanup_free_ char *fa = sub(f, "args");
            _cleanup_free_ char *fe = sub(f, "env");
            _cleanup_free_ char *ft = sub(f, "timeout");
            if (get_string(o, "path", fp, true, &h->path, err) < 0 ||
                get_strv(o, "args", fa, &h->args, NULL, err) < 0 ||
                get_strv(o, "env", fe, &h->env, NULL, err) < 0)
                return -1;
            if (h->path[0] != '/')
                return fail(err, fp, "\"%s\" must be an absolute path", h->path);
            json_t *t = json_object_get(o, "timeout");
            int64_t v;
            if (t && !json_is_null(t)) {
                if (get_int(t, ft, 1, 86400, &v, err) < 0)
                    return -1;
                h->timeout = (int)v;
            }
        }
    }
    return 0;
}

static int parse_linux(json_t *l, struct runtime_spec *s, struct k8c_err **err)
{
    json_t *nss = NULL, *um = NULL, *gm = NULL, *devs = NULL, *res = NULL, *sysctl = NULL,
           *sc = NULL;
    if (l == NULL)
        return fail(err, "linux", "is required on Linux");
    if (get_array(l, "namespaces", "linux.namespaces", &nss, err) < 0 ||
        get_array(l, "uidMappings", "linux.uidMappings", &um, err) < 0 ||
        get_array(l, "gidMappings", "linux.gidMappings", &gm, err) < 0 ||
        get_array(l, "devices", "linux.devices", &devs, err) < 0 ||
        get_object(l, "resources", "linux.resources", &res, err) < 0 ||
        get_object(l, "sysctl", "linux.sysctl", &sysctl, err) < 0 ||
        get_object(l, "seccomp", "linux.seccomp", &sc, err) < 0 ||
        get_string(l, "cgroupsPath", "linux.cgroupsPath", false, &s->cgroups_path, err) < 0 ||
        get_strv(l, "maskedPaths", "linux.maskedPaths", &s->masked_paths, &s->n_masked_paths, err) <
            0 ||
        get_strv(l, "readonlyPaths", "linux.readonlyPaths", &s->readonly_paths,
                 &s->n_readonly_paths, err) < 0)
        return -1;
    for (size_t i = 0; nss && i < json_array_size(nss); i++) {
        _cleanup_free_ char *f = idx("linux.namespaces", i);
        _cleanup_free_ char *ft = sub(f, "type");
        _cleanup_free_ char *fp = sub(f, "path");
        json_t *o = json_array_get(nss, i);
        if (!json_is_object(o))
            return fail(err, f, "must be an object");
        _cleanup_free_ char *type = NULL, *path = NULL;
        if (get_string(o, "type", ft, true, &type, err) < 0 ||
            get_string(o, "path", fp, false, &path, err) < 0)
            return -1;
        int kind = -1;
        for (int k = 0; k < RUNTIME_NS_COUNT; k++)
            if (strcmp(ns_names[k], type) == 0)
                kind = k;
        if (kind < 0)
            return fail(err, ft, "unknown namespace type \"%s\"", type);
        if (s->ns[kind].wanted)
            return fail(err, ft, "duplicate namespace type \"%s\"", type);
        if (path && path[0] == '\0')
            free(steal_ptr(&path));
        if (path && path[0] != '/')
            return fail(err, fp, "\"%s\" must be an absolute path", path);
        s->ns[kind].wanted = true;
        s->ns[kind].path = steal_ptr(&path);
    }
    if (!s->ns[RUNTIME_NS_MOUNT].wanted)
        return fail(err, "linux.namespaces", "a mount namespace is required");
    if ((um || gm) && !s->ns[RUNTIME_NS_USER].wanted)
        return fail(err, "linux.uidMappings", "mappings need a user namespace");
    if (um && parse_idmaps(um, "linux.uidMappings", &s->uid_mappings, &s->n_uid_mappings, err) < 0)
        return -1;
    if (gm && parse_idmaps(gm, "linux.gidMappings", &s->gid_mappings, &s->n_gid_mappings, err) < 0)
        return -1;
    if (s->ns[RUNTIME_NS_USER].wanted && s->ns[RUNTIME_NS_USER].path == NULL &&
        (s->n_uid_mappings == 0 || s->n_gid_mappings == 0))
        return fail(err, "linux.uidMappings",
                    "a new user namespace needs uidMappings and gidMappings");
    if (devs && parse_devices(devs, s, err) < 0)
        return -1;
    if (res && parse_resources(res, &s->resources, err) < 0)
        return -1;
    if (sysctl) {
        size_t n = json_object_size(sysctl), i = 0;
        s->sysctl_keys = xcalloc(n + 1, sizeof(char *));
        s->sysctl_values = xcalloc(n + 1, sizeof(char *));
        const char *key;
        json_t *v;
        json_object_foreach (sysctl, key, v) {
            _cleanup_free_ char *f = sub("linux.sysctl", key);
            if (!json_is_string(v))
                return fail(err, f, "must be a string");
            if (key[0] == '\0' || has_dotdot(key) || strchr(key, '/') || key[0] == '.')
                return fail(err, f, "is not a sysctl name");
            s->sysctl_keys[i] = xstrdup(key);
            s->sysctl_values[i++] = xstrdup(json_string_value(v));
            s->n_sysctl = i;
            if (check_sysctl(s, key, f, err) < 0)
                return -1;
        }
    }
    if (s->n_devices && s->resources.n_devices)
        allow_spec_devices(s);
    if (sc && parse_seccomp(sc, s, err) < 0)
        return -1;
    _cleanup_free_ char *prop = NULL;
    if (get_string(l, "rootfsPropagation", "linux.rootfsPropagation", false, &prop, err) < 0)
        return -1;
    if (prop && (s->rootfs_propagation = runtime__propagation_from_name(prop)) == 0)
        return fail(err, "linux.rootfsPropagation", "unknown propagation \"%s\"", prop);
    for (size_t i = 0; i < s->n_masked_paths; i++)
        if (s->masked_paths[i][0] != '/') {
            _cleanup_free_ char *f = idx("linux.maskedPaths", i);
            return fail(err, f, "\"%s\" must be an absolute path", s->masked_paths[i]);
        }
    for (size_t i = 0; i < s->n_readonly_paths; i++)
        if (s->readonly_paths[i][0] != '/') {
            _cleanup_free_ char *f = idx("linux.readonlyPaths", i);
            return fail(err, f, "\"%s\" must be an absolute path", s->readonly_paths[i]);
        }
    if (s->cgroups_path && strchr(s->cgroups_path, ':') != NULL)
        return fail(err, "linux.cgroupsPath",
                    "\"%s\": the systemd form slice:prefix:name is not supported", s->cgroups_path);
    if (s->cgroups_path && has_dotdot(s->cgroups_path))
        return fail(err, "linux.cgroupsPath", "\"%s\" must not contain \"..\"", s->cgroups_path);
    return 0;
}

static struct runtime_spec *parse_spec(const char *data, size_t len, const char *bundle,
                                       struct k8c_err **err);

struct runtime_spec *runtime_spec_parse(const char *data, size_t len, const char *bundle,
                                        struct k8c_err **err)
{
    struct k8c_err *e = NULL;
    struct runtime_spec *s = parse_spec(data, len, bundle, &e);
    if (s == NULL && e != NULL) {
        /* Errors quote the input (names, values, jansson's context): keep them one line. */
        for (char *p = e->msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    if (err)
        *err = e;
    else
        k8c_err_free(e);
    return s;
}

static struct runtime_spec *parse_spec(const char *data, size_t len, const char *bundle,
                                       struct k8c_err **err)
{
    _cleanup_json_ json_t *root = kjson_parse(data, len, err);
    if (root == NULL) {
        k8c_err_wrap(err, "config.json");
        return NULL;
    }
    if (!json_is_object(root)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "config.json: must be a JSON object");
        return NULL;
    }
    _cleanup_spec_ struct runtime_spec *s = xcalloc(1, sizeof(*s));
    s->bundle = xstrdup(bundle);
    json_t *rootobj = NULL, *mounts = NULL, *ann = NULL;
    _cleanup_free_ char *rootpath = NULL;
    if (get_string(root, "ociVersion", "ociVersion", true, &s->oci_version, err) < 0 ||
        get_object(root, "root", "root", &rootobj, err) < 0)
        return NULL;
    if (rootobj == NULL) {
        fail(err, "root", "is required");
        return NULL;
    }
    if (get_string(rootobj, "path", "root.path", true, &rootpath, err) < 0 ||
        get_bool(rootobj, "readonly", "root.readonly", &s->root_readonly, err) < 0)
        return NULL;
    if (rootpath[0] == '\0') {
        fail(err, "root.path", "must not be empty");
        return NULL;
    }
    s->root_path = rootpath[0] == '/' ? xstrdup(rootpath) : xasprintf("%s/%s", bundle, rootpath);
    if (get_string(root, "hostname", "hostname", false, &s->hostname, err) < 0 ||
        get_string(root, "domainname", "domainname", false, &s->domainname, err) < 0)
        return NULL;
    if (parse_process(json_object_get(root, "process"), s, err) < 0)
        return NULL;
    if (get_array(root, "mounts", "mounts", &mounts, err) < 0)
        return NULL;
    if (mounts && parse_mounts(mounts, s, err) < 0)
        return NULL;
    json_t *linux_obj = NULL;
    if (get_object(root, "linux", "linux", &linux_obj, err) < 0 ||
        parse_linux(linux_obj, s, err) < 0)
        return NULL;
    if ((s->hostname || s->domainname) && !s->ns[RUNTIME_NS_UTS].wanted) {
        fail(err, "hostname", "setting a hostname needs a uts namespace");
        return NULL;
    }
    json_t *hooks = NULL;
    if (get_object(root, "hooks", "hooks", &hooks, err) < 0 ||
        (hooks && parse_hooks(hooks, s, err) < 0))
        return NULL;
    if (get_object(root, "annotations", "annotations", &ann, err) < 0)
        return NULL;
    s->annotations = ann ? json_incref(ann) : json_object();
    return steal_ptr(&s);
}

struct runtime_spec *runtime_spec_load(const char *bundle, struct k8c_err **err)
{
    _cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
    size_t len;
    _cleanup_free_ char *data = file_read_all(path, SPEC_MAX_SIZE, &len, err);
    if (data == NULL)
        return NULL;
    return runtime_spec_parse(data, len, bundle, err);
}

int runtime_spec_validate_host(const struct runtime_spec *spec, struct k8c_err **err)
{
    struct stat st;
    if (stat(spec->root_path, &st) < 0)
        return k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST, "config.json: root.path: `%s`",
                           spec->root_path);
    if (!S_ISDIR(st.st_mode))
        return fail(err, "root.path", "`%s` is not a directory", spec->root_path);
    for (int k = 0; k < RUNTIME_NS_COUNT; k++) {
        if (spec->ns[k].path == NULL)
            continue;
        _cleanup_close_ int fd = open(spec->ns[k].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST,
                               "config.json: linux.namespaces: %s namespace path `%s`", ns_names[k],
                               spec->ns[k].path);
        int type = ioctl(fd, NS_GET_NSTYPE);
        if (type < 0)
            return fail(err, "linux.namespaces", "`%s` is not a namespace", spec->ns[k].path);
        if (type != runtime__ns_clone_flag(k))
            return fail(err, "linux.namespaces", "`%s` is not a %s namespace", spec->ns[k].path,
                        ns_names[k]);
    }
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct runtime_mount *m = &spec->mounts[i];
        if (m->bind && stat(m->source, &st) < 0) {
            return k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST,
                               "config.json: mounts[%zu].source: `%s`", i, m->source);
        }
    }
    return 0;
}

static void free_strv(char **v)
{
    mem_free_strv(&v);
}

void runtime_spec_free(struct runtime_spec *s)
{
    if (s == NULL)
        return;
    free(s->oci_version);
    free(s->bundle);
    free(s->root_path);
    free(s->hostname);
    free(s->domainname);
    free_strv(s->args);
    free_strv(s->env);
    free(s->cwd);
    free(s->additional_gids);
    free(s->rlimits);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].destination);
        free(s->mounts[i].type);
        free(s->mounts[i].source);
        free(s->mounts[i].data);
    }
    free(s->mounts);
    for (int k = 0; k < RUNTIME_NS_COUNT; k++)
        free(s->ns[k].path);
    free(s->uid_mappings);
    free(s->gid_mappings);
    for (size_t i = 0; i < s->n_devices; i++)
        free(s->devices[i].path);
    free(s->devices);
    free(s->cgroups_path);
    free(s->resources.cpuset_cpus);
    free(s->resources.cpuset_mems);
    free(s->resources.devices);
    free(s->resources.hugepages);
    free_strv(s->sysctl_keys);
    free_strv(s->sysctl_values);
    if (s->seccomp) {
        free_strv(s->seccomp->archs);
        for (size_t i = 0; i < s->seccomp->n_rules; i++)
            free_strv(s->seccomp->rules[i].names);
        free(s->seccomp->rules);
        free(s->seccomp->source);
        free(s->seccomp);
    }
    free_strv(s->masked_paths);
    free_strv(s->readonly_paths);
    for (int k = 0; k < RUNTIME_HOOK_COUNT; k++) {
        for (size_t i = 0; i < s->n_hooks[k]; i++) {
            free(s->hooks[k][i].path);
            free_strv(s->hooks[k][i].args);
            free_strv(s->hooks[k][i].env);
        }
        free(s->hooks[k]);
    }
    json_decref(s->annotations);
    free(s);
}

void runtime_spec_freep(struct runtime_spec **s)
{
    runtime_spec_free(*s);
    *s = NULL;
}
