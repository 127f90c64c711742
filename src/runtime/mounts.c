/* The container's filesystem view, built inside its new mount namespace: mount targets
 * resolved inside the rootfs by a component-by-component walk (no symlink can lead out),
 * the spec's mounts, the default /dev, pivot_root (MS_MOVE + chroot on ramfs roots), then
 * sysctls, masked and readonly paths and the readonly root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "runtime/internal.h"

#define MAX_SYMLINKS 40

static int dup_cloexec(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int runtime__open_in_root(int rootfd, const char *path, bool create, bool last_is_file,
                          struct k8c_err **err)
{
    struct buf rest = BUF_INIT;
    buf_append_str(&rest, path);
    int cur = dup_cloexec(rootfd);
    int depth = 0, links = 0;
    size_t pos = 0;
    char comp[NAME_MAX + 1];
    if (cur < 0) {
        buf_free(&rest);
        return k8c_err_errno(err, "dup");
    }
    for (;;) {
        while (rest.data[pos] == '/')
            pos++;
        if (rest.data[pos] == '\0')
            break;
        size_t len = strcspn(rest.data + pos, "/");
        if (len > NAME_MAX) {
            k8c_err_set(err, ENAMETOOLONG, K8C_REASON_BAD_REQUEST, "`%s`", path);
            goto fail;
        }
        memcpy(comp, rest.data + pos, len);
        comp[len] = '\0';
        pos += len;
        bool last = rest.data[pos + strspn(rest.data + pos, "/")] == '\0';
        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            if (depth == 0) {
                /* errnum 0: EXDEV's text ("cross-device link") would only confuse */
                k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                            "`%s` escapes the rootfs through a symlink", path);
                goto fail;
            }
            int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (up < 0) {
                k8c_err_errno(err, "`%s`", path);
                goto fail;
            }
            close(cur);
            cur = up;
            depth--;
            continue;
        }
        int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            if (last && last_is_file) {
                int w =
                    openat(cur, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (w >= 0)
                    close(w);
            } else {
                mkdirat(cur, comp, 0755);
            }
            fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) {
            k8c_err_errno(err, "`%s`", path);
            goto fail;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
            close(fd);
            k8c_err_errno(err, "`%s`", path);
            goto fail;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
            close(fd);
            if (n <= 0 || ++links > MAX_SYMLINKS) {
                k8c_err_set(err, n < 0 ? errno : ELOOP, K8C_REASON_BAD_REQUEST, "`%s`", path);
                goto fail;
            }
            target[n] = '\0';
            struct buf next = BUF_INIT;
            buf_appendf(&next, "%s/%s", target, rest.data + pos);
            buf_free(&rest);
            rest = next;
            pos = 0;
            if (target[0] == '/') {
                close(cur);
                cur = dup_cloexec(rootfd);
                depth = 0;
            }
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            close(fd);
            k8c_err_set(err, ENOTDIR, K8C_REASON_BAD_REQUEST, "`%s`", path);
            goto fail;
        }
        close(cur);
        cur = fd;
        depth++;
    }
    buf_free(&rest);
    return cur;
fail:
    buf_free(&rest);
    close(cur);
    return -1;
}

/* mount(2) onto an O_PATH descriptor through its /proc/self/fd magic link. */
static int mount_at(const char *source, int fd, const char *type, unsigned long flags,
                    const char *data)
{
    char target[64];
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    return mount(source, target, type, flags, data);
}

static unsigned long locked_flags(int fd)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (fstatvfs(fd, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

#define REMOUNT_FLAGS                                                                              \
    (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME |     \
     MS_STRICTATIME)

/* Remounts a bind mount with flags; inside a user namespace the kernel insists the locked
 * flags of the source stay, so retry with them on EPERM. */
static int bind_remount(int fd, unsigned long flags)
{
    if (mount_at(NULL, fd, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0)
        return 0;
    if (errno != EPERM)
        return -1;
    unsigned long keep = locked_flags(fd) & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
    return mount_at(NULL, fd, NULL, MS_BIND | MS_REMOUNT | flags | keep, NULL);
}

/* Binds source on dest (inside rootfd), then applies flags and propagation to the new
 * mount: a descriptor opened before the mount names the dentry below it, so the target is
 * resolved again for those steps. */
static int do_bind(const char *source, int rootfd, const char *dest, bool is_file,
                   unsigned long flags, unsigned long propagation, struct k8c_err **err)
{
    _cleanup_close_ int fd = runtime__open_in_root(rootfd, dest, true, is_file, err);
    if (fd < 0)
        return -1;
    if (mount_at(source, fd, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
        return k8c_err_errno(err, "bind `%s` on `%s`", source, dest);
    if (!(flags & REMOUNT_FLAGS) && !propagation)
        return 0;
    _cleanup_close_ int top = runtime__open_in_root(rootfd, dest, false, false, err);
    if (top < 0)
        return -1;
    if ((flags & REMOUNT_FLAGS) && bind_remount(top, flags & REMOUNT_FLAGS) < 0)
        return k8c_err_errno(err, "remount `%s`", dest);
    if (propagation && mount_at(NULL, top, NULL, propagation, NULL) < 0)
        return k8c_err_errno(err, "propagation of `%s`", dest);
    return 0;
}

static const char *const cgroup_v1_controllers[] = {"cpu",  "cpuacct", "cpuset",  "memory",
                                                    "pids", "freezer", "devices", "hugetlb"};

/* A "cgroup" mount: v2 mounts cgroup2 (or binds the container's directory); v1 gets a tmpfs
 * with the container's directory of each joined controller bound under it. */
static int mount_cgroup(int rootfd, const struct runtime_mount *m, const struct runtime_cgroup *cg,
                        bool cgroupns, struct k8c_err **err)
{
    unsigned long ro = m->flags & MS_RDONLY;
    unsigned long base = (m->flags & REMOUNT_FLAGS) & ~MS_RDONLY;
    if (cg == NULL)
        return 0;
    if (cg->ops == &runtime__cgroup_v2) {
        _cleanup_close_ int fd = runtime__open_in_root(rootfd, m->destination, true, false, err);
        if (fd < 0)
            return -1;
        if (cgroupns && mount_at("cgroup2", fd, "cgroup2", m->flags & REMOUNT_FLAGS, NULL) == 0)
            return 0;
        _cleanup_free_ char *src = xasprintf("%s%s", cg->mount_root, cg->path);
        return do_bind(src, rootfd, m->destination, false, MS_REC | (m->flags & REMOUNT_FLAGS), 0,
                       err);
    }
    {
        _cleanup_close_ int fd = runtime__open_in_root(rootfd, m->destination, true, false, err);
        if (fd < 0)
            return -1;
        if (mount_at("tmpfs", fd, "tmpfs", base, "mode=755") < 0)
            return k8c_err_errno(err, "tmpfs for cgroups");
    }
    for (size_t i = 0; i < ARRAY_SIZE(cgroup_v1_controllers); i++) {
        _cleanup_free_ char *src =
            xasprintf("%s/%s%s", cg->mount_root, cgroup_v1_controllers[i], cg->path);
        if (access(src, F_OK) < 0)
            continue;
        _cleanup_free_ char *dest = xasprintf("%s/%s", m->destination, cgroup_v1_controllers[i]);
        if (do_bind(src, rootfd, dest, false, base | ro, 0, err) < 0)
            return -1;
    }
    if (ro) {
        _cleanup_close_ int top = runtime__open_in_root(rootfd, m->destination, false, false, err);
        if (top < 0)
            return -1;
        if (mount_at(NULL, top, NULL, MS_REMOUNT | base | MS_RDONLY, "mode=755") < 0)
            return k8c_err_errno(err, "remount cgroup tmpfs readonly");
    }
    return 0;
}

static int do_mount(int rootfd, const struct runtime_spec *spec, size_t i,
                    const struct runtime_cgroup *cg, struct k8c_err **err)
{
    const struct runtime_mount *m = &spec->mounts[i];
    if (m->bind) {
        struct stat st;
        if (stat(m->source, &st) < 0)
            return k8c_err_errno(err, "mounts[%zu].source: `%s`", i, m->source);
        if (do_bind(m->source, rootfd, m->destination, !S_ISDIR(st.st_mode), m->flags,
                    m->propagation, err) < 0)
            return k8c_err_wrap(err, "config.json: mounts[%zu]", i);
        return 0;
    }
    if (strcmp(m->type, "cgroup") == 0 || strcmp(m->type, "cgroup2") == 0) {
        bool cgroupns = spec->ns[RUNTIME_NS_CGROUP].wanted;
        if (mount_cgroup(rootfd, m, cg, cgroupns, err) < 0)
            return k8c_err_wrap(err, "mounts[%zu] (%s)", i, m->destination);
        return 0;
    }
    _cleanup_close_ int fd = runtime__open_in_root(rootfd, m->destination, true, false, err);
    if (fd < 0)
        return k8c_err_wrap(err, "config.json: mounts[%zu].destination", i);
    const char *source = m->source ? m->source : m->type;
    /* sysfs has one superblock per network namespace, shared by every container of a pod: a
     * read-only mount would make it read-only for all (a privileged sibling started later
     * would get a read-only /sys). Mount it writable; the read-only bit goes on this mount
     * alone, by a bind remount below. */
    bool sysfs_ro = strcmp(m->type, "sysfs") == 0 && (m->flags & MS_RDONLY);
    unsigned long flags = (m->flags & ~MS_REMOUNT) & ~(sysfs_ro ? MS_RDONLY : 0ul);
    if (mount_at(source, fd, m->type, flags, m->data) < 0) {
        int e = errno;
        /* inside a user namespace sysfs and mqueue may be refused: bind the host's */
        const char *host = strcmp(m->type, "sysfs") == 0    ? "/sys"
                           : strcmp(m->type, "mqueue") == 0 ? "/dev/mqueue"
                                                            : NULL;
        if (e == EPERM && host) {
            _cleanup_err_ struct k8c_err *e2 = NULL;
            if (do_bind(host, rootfd, m->destination, false, MS_REC | (m->flags & REMOUNT_FLAGS), 0,
                        &e2) == 0)
                return 0;
        }
        errno = e;
        return k8c_err_errno(err, "mounts[%zu]: mount %s on `%s`", i, m->type, m->destination);
    }
    if (sysfs_ro) {
        _cleanup_close_ int top = runtime__open_in_root(rootfd, m->destination, false, false, err);
        if (top < 0 || bind_remount(top, m->flags & REMOUNT_FLAGS) < 0)
            return k8c_err_errno(err, "mounts[%zu]: read-only `%s`", i, m->destination);
    }
    if (m->propagation) {
        _cleanup_close_ int top = runtime__open_in_root(rootfd, m->destination, false, false, err);
        if (top < 0 || mount_at(NULL, top, NULL, m->propagation, NULL) < 0)
            return k8c_err_errno(err, "mounts[%zu]: propagation of `%s`", i, m->destination);
    }
    return 0;
}

static const struct {
    const char *path;
    unsigned major, minor;
} default_devices[] = {
    {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

static int make_device(int rootfd, const char *path, char type, unsigned major, unsigned minor,
                       mode_t mode, uid_t uid, gid_t gid, struct k8c_err **err)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *name = path + (slash - dir) + 1;
    *slash = '\0';
    _cleanup_close_ int dfd = runtime__open_in_root(rootfd, dir[0] ? dir : "/", true, false, err);
    if (dfd < 0)
        return -1;
    mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
    /* O_PATH directory descriptors cannot be the dirfd of mknodat: use the magic link */
    char dpath[64];
    snprintf(dpath, sizeof(dpath), "/proc/self/fd/%d", dfd);
    _cleanup_close_ int real = open(dpath, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (real < 0)
        return k8c_err_errno(err, "device `%s`", path);
    if (mknodat(real, name, kind | (mode & 07777), makedev(major, minor)) == 0) {
        if (fchownat(real, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return k8c_err_errno(err, "chown device `%s`", path);
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    if (errno != EPERM)
        return k8c_err_errno(err, "mknod `%s`", path);
    /* in a user namespace: bind the host's device onto an empty file */
    int f = openat(real, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f >= 0)
        close(f);
    _cleanup_close_ int tfd = openat(real, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (tfd < 0 || mount_at(path, tfd, NULL, MS_BIND, NULL) < 0)
        return k8c_err_errno(err, "bind device `%s`", path);
    return 0;
}

static int setup_dev(int rootfd, const struct runtime_spec *spec, struct k8c_err **err)
{
    bool dev_tmpfs = false, devpts = false;
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct runtime_mount *m = &spec->mounts[i];
        if (strcmp(m->destination, "/dev") == 0)
            dev_tmpfs = !m->bind;
        if (strcmp(m->destination, "/dev/pts") == 0)
            devpts = true;
    }
    if (dev_tmpfs) {
        for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++)
            if (make_device(rootfd, default_devices[i].path, 'c', default_devices[i].major,
                            default_devices[i].minor, 0666, 0, 0, err) < 0)
                return -1;
        static const struct {
            const char *target, *link;
        } links[] = {
            {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
            {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
            {"pts/ptmx", "ptmx"},
        };
        _cleanup_close_ int dev = runtime__open_in_root(rootfd, "/dev", false, false, err);
        if (dev < 0)
            return -1;
        char dpath[64];
        snprintf(dpath, sizeof(dpath), "/proc/self/fd/%d", dev);
        _cleanup_close_ int real = open(dpath, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (real < 0)
            return k8c_err_errno(err, "open /dev");
        for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
            if (i == 4 && !devpts)
                continue;
            if (symlinkat(links[i].target, real, links[i].link) < 0 && errno != EEXIST)
                return k8c_err_errno(err, "symlink /dev/%s", links[i].link);
        }
    }
    for (size_t i = 0; i < spec->n_devices; i++) {
        const struct runtime_device *d = &spec->devices[i];
        if (make_device(rootfd, d->path, d->type == 'u' ? 'c' : d->type, (unsigned)d->major,
                        (unsigned)d->minor, d->mode, d->uid, d->gid, err) < 0)
            return k8c_err_wrap(err, "linux.devices[%zu]", i);
    }
    return 0;
}

static int enter_root(const char *root, bool no_pivot, struct k8c_err **err)
{
    if (chdir(root) < 0)
        return k8c_err_errno(err, "chdir `%s`", root);
    int perr = EINVAL;
    if (!no_pivot) {
        if (syscall(SYS_pivot_root, ".", ".") == 0) {
            /* the old root is stacked under the new one at "."; detach it */
            if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                return k8c_err_errno(err, "make the old root a slave");
            if (umount2(".", MNT_DETACH) < 0)
                return k8c_err_errno(err, "detach the old root");
            perr = 0;
        } else {
            perr = errno;
        }
    }
    if (perr == EINVAL) {
        /* the rootfs lives on ramfs/initramfs, which cannot be pivoted away from (or the
         * caller said --no-pivot): move it over / and chroot into it */
        if (mount(root, "/", NULL, MS_MOVE, NULL) < 0)
            return k8c_err_errno(err, "move `%s` to /", root);
        if (chroot(".") < 0)
            return k8c_err_errno(err, "chroot `%s`", root);
    } else if (perr != 0) {
        errno = perr;
        return k8c_err_errno(err, "pivot_root `%s`", root);
    }
    if (chdir("/") < 0)
        return k8c_err_errno(err, "chdir /");
    return 0;
}

int runtime__rootfs_setup(const struct runtime_spec *spec, const struct runtime_cgroup *cg,
                          bool no_pivot, runtime_before_pivot_fn before_pivot, void *opaque,
                          struct k8c_err **err)
{
    umask(0); /* device and directory modes exactly as given; process.user.umask comes later */
    unsigned long prop = spec->rootfs_propagation ? spec->rootfs_propagation : MS_SLAVE | MS_REC;
    /* shared is set after pivot_root: pivot_root refuses a shared parent mount */
    unsigned long first = (prop & MS_SHARED) ? MS_SLAVE | MS_REC : prop | MS_REC;
    if (mount(NULL, "/", NULL, first, NULL) < 0)
        return k8c_err_errno(err, "make / %s", (first & MS_PRIVATE) ? "private" : "slave");
    if (mount(spec->root_path, spec->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return k8c_err_errno(err, "root.path: bind `%s` on itself", spec->root_path);
    _cleanup_close_ int rootfd = open(spec->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return k8c_err_errno(err, "root.path: `%s`", spec->root_path);
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (do_mount(rootfd, spec, i, cg, err) < 0)
            return -1;
    if (setup_dev(rootfd, spec, err) < 0)
        return -1;
    if (before_pivot && before_pivot(opaque, err) < 0)
        return -1;
    if (enter_root(spec->root_path, no_pivot, err) < 0)
        return -1;
    if ((prop & MS_SHARED) && mount(NULL, "/", NULL, prop, NULL) < 0)
        return k8c_err_errno(err, "linux.rootfsPropagation");
    return 0;
}

int runtime__sysctl_apply(const struct runtime_spec *spec, struct k8c_err **err)
{
    for (size_t i = 0; i < spec->n_sysctl; i++) {
        _cleanup_free_ char *path = xstrdup(spec->sysctl_keys[i]);
        for (char *p = path; *p; p++)
            if (*p == '.')
                *p = '/';
        _cleanup_free_ char *full = xasprintf("/proc/sys/%s", path);
        _cleanup_close_ int fd = open(full, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        const char *v = spec->sysctl_values[i];
        if (fd < 0 || write(fd, v, strlen(v)) < 0)
            return k8c_err_set(err, errno, K8C_REASON_BAD_REQUEST, "config.json: linux.sysctl.%s",
                               spec->sysctl_keys[i]);
    }
    return 0;
}

int runtime__rootfs_finish(const struct runtime_spec *spec, struct k8c_err **err)
{
    _cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return k8c_err_errno(err, "open /");
    for (size_t i = 0; i < spec->n_masked_paths; i++) {
        _cleanup_err_ struct k8c_err *e = NULL;
        _cleanup_close_ int fd =
            runtime__open_in_root(rootfd, spec->masked_paths[i], false, false, &e);
        if (fd < 0) {
            if (e->errnum == ENOENT)
                continue;
            *err = steal_ptr(&e);
            return k8c_err_wrap(err, "linux.maskedPaths[%zu]", i);
        }
        struct stat st;
        int r = fstat(fd, &st);
        if (r == 0 && S_ISDIR(st.st_mode))
            r = mount_at("tmpfs", fd, "tmpfs", MS_RDONLY, "size=0");
        else if (r == 0)
            r = mount_at("/dev/null", fd, NULL, MS_BIND, NULL);
        if (r < 0)
            return k8c_err_errno(err, "linux.maskedPaths[%zu]: mask `%s`", i,
                                 spec->masked_paths[i]);
    }
    for (size_t i = 0; i < spec->n_readonly_paths; i++) {
        _cleanup_err_ struct k8c_err *e = NULL;
        _cleanup_close_ int fd =
            runtime__open_in_root(rootfd, spec->readonly_paths[i], false, false, &e);
        if (fd < 0) {
            if (e->errnum == ENOENT)
                continue;
            *err = steal_ptr(&e);
            return k8c_err_wrap(err, "linux.readonlyPaths[%zu]", i);
        }
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        if (mount(self, self, NULL, MS_BIND | MS_REC, NULL) < 0)
            return k8c_err_errno(err, "linux.readonlyPaths[%zu]: bind `%s`", i,
                                 spec->readonly_paths[i]);
        /* the new mount sits on top: reopen to remount it, not the one below */
        _cleanup_close_ int top =
            runtime__open_in_root(rootfd, spec->readonly_paths[i], false, false, err);
        if (top < 0 || bind_remount(top, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0)
            return k8c_err_errno(err, "linux.readonlyPaths[%zu]: remount `%s` readonly", i,
                                 spec->readonly_paths[i]);
    }
    if (spec->root_readonly) {
        if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(rootfd), NULL) <
            0)
            return k8c_err_errno(err, "root.readonly: remount / readonly");
    }
    return 0;
}
