/* cgroups behind one interface: the driver is picked once from the hierarchy mounted at
 * /sys/fs/cgroup (cgroup2: v2; anything else, including v1/v2 hybrids: v1), plus the file
 * helpers both drivers share. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "base/file.h"
#include "base/mem.h"
#include "runtime/internal.h"

const struct runtime_cgroup_ops *runtime__cgroup_driver(const char *mount_root)
{
    struct statfs sfs;
    if (mount_root == NULL)
        mount_root = "/sys/fs/cgroup";
    if (statfs(mount_root, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
        return &runtime__cgroup_v2;
    return &runtime__cgroup_v1;
}

void runtime__cgroup_init(struct runtime_cgroup *cg, const struct runtime_cgroup_ops *ops,
                          const char *mount_root, const char *path)
{
    cg->ops = ops;
    cg->mount_root = xstrdup(mount_root ? mount_root : "/sys/fs/cgroup");
    cg->path = xstrdup(path);
}

void runtime__cgroup_release(struct runtime_cgroup *cg)
{
    free(cg->mount_root);
    free(cg->path);
    cg->mount_root = cg->path = NULL;
}

int runtime__cgroup_destroy_wait(struct runtime_cgroup *cg, struct k8c_err **err)
{
    /* rmdir fails with EBUSY while the kernel still finishes exiting tasks: retry with a
     * deadline (5 s) rather than a fixed sleep. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        _cleanup_err_ struct k8c_err *e = NULL;
        if (cg->ops->destroy(cg, &e) == 0) {
            /* the runtime's own parent goes too once empty (busy: other containers) */
            if (strncmp(cg->path, RUNTIME_CGROUP_PARENT "/", strlen(RUNTIME_CGROUP_PARENT) + 1) ==
                0) {
                char *leaf = cg->path;
                cg->path = (char *)RUNTIME_CGROUP_PARENT;
                _cleanup_err_ struct k8c_err *ignored = NULL;
                cg->ops->destroy(cg, &ignored);
                cg->path = leaf;
            }
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (e->errnum != EBUSY || now.tv_sec - start.tv_sec >= 5) {
            *err = steal_ptr(&e);
            return -1;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int runtime__cgroup_write(const char *dir, const char *file, const char *value,
                          struct k8c_err **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
    if (fd < 0)
        return k8c_err_errno(err, "cgroup: open `%s`", path);
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    if (n < 0)
        return k8c_err_errno(err, "cgroup: write \"%s\" to `%s`", value, path);
    if ((size_t)n != len)
        return k8c_err_set(err, EIO, K8C_REASON_INTERNAL, "cgroup: short write to `%s`", path);
    return 0;
}

char *runtime__cgroup_read(const char *dir, const char *file, struct k8c_err **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
    size_t len;
    char *data = file_read_all(path, 1 << 20, &len, err);
    if (data == NULL)
        return NULL;
    while (len > 0 && data[len - 1] == '\n')
        data[--len] = '\0';
    return data;
}

uint64_t runtime__cgroup_keyed(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return strtoull(p + klen + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

uint64_t runtime__cpu_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

int runtime__cgroup_read_pids(const char *dir, pid_t **pids, size_t *n, struct k8c_err **err)
{
    _cleanup_free_ char *text = runtime__cgroup_read(dir, "cgroup.procs", err);
    if (text == NULL)
        return -1;
    size_t cap = 16, count = 0;
    pid_t *out = xcalloc(cap, sizeof(pid_t));
    for (char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        p = end;
        /* A task that is exiting shows as 0 (its pid is already released): never keep
         * it, kill(0) would signal the caller's own process group. */
        if (v <= 0)
            continue;
        if (count == cap)
            out = xrealloc(out, (cap *= 2) * sizeof(pid_t));
        out[count++] = (pid_t)v;
        while (*p == '\n')
            p++;
    }
    *pids = out;
    *n = count;
    return 0;
}

int runtime__cgroup_mkdir(const char *dir, struct k8c_err **err)
{
    /* the leaf first: its parents mostly exist already (a mkdir -p from the root costs
     * ~5 failing mkdirs per controller, 7 controllers per container) */
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    /* a delete may remove the shared parent between our mkdir of it and of the leaf */
    for (int attempt = 0;; attempt++) {
        _cleanup_err_ struct k8c_err *e = NULL;
        if (file_mkdir_p(dir, 0755, &e) == 0)
            return 0;
        if (e->errnum != ENOENT || attempt == 3) {
            *err = steal_ptr(&e);
            return -1;
        }
    }
}
