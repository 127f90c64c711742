/* Layer unpacking: a tar stream (plain, gzip or zstd) written into one empty directory with
 * nothing ever landing outside it, whiteouts converted to overlayfs form.
 *
 * Every path is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) from the layer
 * directory, so `..`, absolute paths and symlinks planted by earlier entries cannot lead out;
 * names with `..` or a leading `/` are refused outright. Files are created with O_EXCL |
 * O_NOFOLLOW after removing what was there. One pass: the decompressed stream is hashed on its
 * way to the tar reader, which gives the layer's diff-id. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <dirent.h>

#include "base/mem.h"
#include "image/internal.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define READ_BLOCK (256 * 1024)

struct dir_time {
    char *path;
    struct timespec mtime;
};

struct unpack {
    int root;
    struct archive *outer; /* decompression only (format "raw") */
    struct image__sha256 hash;
    char *block;
    /* The last parent directory resolved, reused while entries stay in one directory. Dropped
     * whenever an entry removes something, since a removal can change what a path means. */
    char *cache_path;
    int cache_fd;
    bool cache_stale; /* set by removals; the fd stays open until the next open_dir */
    struct dir_time *dirs;
    size_t n_dirs, cap_dirs;
};

static long sys_openat2(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)flags | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd;
}

static int entry_err(struct k8c_err **err, int errnum, const char *entry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int entry_err(struct k8c_err **err, int errnum, const char *entry, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *what = xvasprintf(fmt, ap);
    va_end(ap);
    return k8c_err_set(err, errnum, errnum ? K8C_REASON_INTERNAL : K8C_REASON_INVALID,
                       "entry `%.512s`: %s", entry, what);
}

/* Cleans a tar path: drops "." and empty components. Refuses absolute paths and `..`.
 * Returns the clean relative path ("" for the root; caller frees) or NULL with *err. */
static char *clean_path(const char *entry, const char *p, const char *what, struct k8c_err **err)
{
    if (p == NULL)
        return entry_err(err, 0, entry ? entry : "?", "%s is not valid text", what), NULL;
    if (p[0] == '/')
        return entry_err(err, 0, entry,
                         "%s `%.512s` is absolute: it would land outside the "
                         "layer directory",
                         what, p),
               NULL;
    if (strlen(p) >= PATH_MAX)
        return entry_err(err, 0, entry, "%s is longer than %d bytes", what, PATH_MAX), NULL;
    char *out = xmalloc(strlen(p) + 1);
    size_t o = 0;
    for (const char *c = p; *c;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            free(out);
            return entry_err(err, 0, entry,
                             "%s `%.512s` contains `..`: it would land outside "
                             "the layer directory",
                             what, p),
                   NULL;
        }
        if (n > 0 && !(n == 1 && c[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, c, n);
            o += n;
        }
        c += n;
        while (*c == '/')
            c++;
    }
    out[o] = '\0';
    return out;
}

static void cache_drop(struct unpack *u)
{
    free(u->cache_path);
    u->cache_path = NULL;
    if (u->cache_fd >= 0)
        close(u->cache_fd);
    u->cache_fd = -1;
}

/* Opens directory `rel` beneath the root (O_PATH), creating missing components (0755).
 * Returns a borrowed fd (the root, or the cached one), or -1 with *err. */
static int open_dir(struct unpack *u, const char *entry, const char *rel, struct k8c_err **err)
{
    if (u->cache_stale) {
        cache_drop(u);
        u->cache_stale = false;
    }
    if (*rel == '\0')
        return u->root;
    if (u->cache_path != NULL && strcmp(u->cache_path, rel) == 0)
        return u->cache_fd;
    cache_drop(u);
    long fd = sys_openat2(u->root, rel, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
        /* Create the missing components one at a time, each resolved beneath the root. */
        _cleanup_free_ char *path = xstrdup(rel);
        for (char *p = path;; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char saved = *p;
            *p = '\0';
            long sub = sys_openat2(u->root, path, O_PATH | O_DIRECTORY);
            if (sub < 0 && errno == ENOENT) {
                char *slash = strrchr(path, '/');
                const char *name = slash ? slash + 1 : path;
                long parent = u->root;
                if (slash) {
                    *slash = '\0';
                    parent = sys_openat2(u->root, path, O_PATH | O_DIRECTORY);
                    *slash = '/';
                    if (parent < 0)
                        break;
                }
                int rc = mkdirat((int)parent, name, 0755);
                int saved_errno = errno;
                if (slash)
                    close((int)parent);
                if (rc < 0 && saved_errno != EEXIST) {
                    errno = saved_errno;
                    break;
                }
                sub = sys_openat2(u->root, path, O_PATH | O_DIRECTORY);
            }
            if (sub < 0)
                break;
            close((int)sub);
            *p = saved;
            if (saved == '\0')
                break;
        }
        fd = sys_openat2(u->root, rel, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) {
        if (errno == EXDEV || errno == ELOOP)
            return entry_err(err, 0, entry,
                             "directory `%.512s` leads outside the layer directory (through a "
                             "symlink)",
                             rel);
        if (errno == ENOTDIR)
            return entry_err(err, 0, entry, "`%.512s` is not a directory", rel);
        return entry_err(err, errno, entry, "open directory `%.512s`", rel);
    }
    u->cache_path = xstrdup(rel);
    u->cache_fd = (int)fd;
    return (int)fd;
}

/* Removes name (a whole tree if a directory) under dirfd, never following symlinks. */
static int remove_at(int parent, const char *name)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = remove_at(dirfd(d), de->d_name);
    }
    closedir(d);
    if (rc < 0)
        return -1;
    return unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

/* Makes room for a new entry at (pfd, name). Returns 1 when a directory is there and the new
 * entry is a directory too (kept), 0 when the place is free, -1 with errno on failure. */
static int make_room(struct unpack *u, int pfd, const char *name, bool new_is_dir)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode) && new_is_dir)
        return 1;
    u->cache_stale = true;
    return remove_at(pfd, name);
}

static int set_xattrs(int pfd, const char *name, int fd, struct archive_entry *e, const char *entry,
                      struct k8c_err **err)
{
    const char *key;
    const void *value;
    size_t size;
    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
        /* overlayfs reads trusted.overlay.* (redirect, metacopy, opaque) from lower layers;
         * a layer must not be able to steer it. Opaque directories come from whiteouts. */
        if (strncmp(key, "trusted.overlay.", 16) == 0)
            continue;
        int rc;
        if (fd >= 0) {
            rc = fsetxattr(fd, key, value, size, 0);
        } else {
            char path[64 + NAME_MAX];
            snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", pfd, name);
            rc = lsetxattr(path, key, value, size, 0);
        }
        if (rc < 0 && errno != ENOTSUP && errno != EPERM)
            return entry_err(err, errno, entry, "set xattr `%s`", key);
    }
    return 0;
}

static int write_file(struct unpack *u, struct archive *a, int pfd, const char *name,
                      struct archive_entry *e, const char *entry, struct k8c_err **err)
{
    _cleanup_close_ int fd =
        openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_err(err, errno, entry, "create file");
    const void *data;
    size_t size;
    la_int64_t offset;
    int64_t end = 0;
    for (;;) {
        int r = archive_read_data_block(a, &data, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return entry_err(err, 0, entry, "read: %s", archive_error_string(a));
        const char *p = data;
        while (size > 0) {
            ssize_t n = pwrite(fd, p, size, offset);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return entry_err(err, errno, entry, "write");
            }
            p += n;
            size -= (size_t)n;
            offset += n;
        }
        if (offset > end)
            end = offset;
    }
    (void)u;
    int64_t want = archive_entry_size(e);
    if (want > end && ftruncate(fd, want) < 0) /* sparse file ending in a hole */
        return entry_err(err, errno, entry, "truncate");
    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return entry_err(err, errno, entry, "chown");
    /* After chown, which clears the setuid and setgid bits. */
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return entry_err(err, errno, entry, "chmod");
    if (set_xattrs(pfd, name, fd, e, entry, err) < 0)
        return -1;
    struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    if (futimens(fd, ts) < 0)
        return entry_err(err, errno, entry, "set times");
    return 0;
}

static int whiteout(struct unpack *u, int pfd, const char *parent, const char *name,
                    const char *entry, struct k8c_err **err)
{
    if (strcmp(name, WHITEOUT_OPAQUE) == 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
        if (setxattr(path, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return entry_err(err, errno, entry, "mark directory `%s` opaque",
                             *parent ? parent : ".");
        return 0;
    }
    if (strncmp(name, WHITEOUT_PREFIX WHITEOUT_PREFIX, 8) == 0)
        return 0; /* other AUFS metadata (.wh..wh.plnk and friends): not content */
    const char *victim = name + strlen(WHITEOUT_PREFIX);
    if (*victim == '\0' || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
        return entry_err(err, 0, entry, "whiteout names nothing");
    if (make_room(u, pfd, victim, false) < 0)
        return entry_err(err, errno, entry, "remove `%s` for its whiteout", victim);
    if (mknodat(pfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
        return entry_err(err, errno, entry, "create whiteout device for `%s`", victim);
    return 0;
}

static void remember_dir(struct unpack *u, const char *path, struct archive_entry *e)
{
    if (u->n_dirs == u->cap_dirs) {
        u->cap_dirs = u->cap_dirs ? u->cap_dirs * 2 : 64;
        u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
    }
    u->dirs[u->n_dirs++] = (struct dir_time){
        .path = xstrdup(path),
        .mtime = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
    };
}

static int one_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
                     struct k8c_err **err)
{
    const char *entry = archive_entry_pathname(e);
    _cleanup_free_ char *path = clean_path(entry, entry, "path", err);
    if (path == NULL)
        return -1;
    if (*path == '\0')
        return 0; /* the layer root itself ("./") */
    char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    _cleanup_free_ char *parent = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    int pfd = open_dir(u, entry, parent, err);
    if (pfd < 0)
        return -1;
    if (strncmp(name, WHITEOUT_PREFIX, 4) == 0)
        return whiteout(u, pfd, parent, name, entry, err);

    const char *link = archive_entry_hardlink(e);
    if (link != NULL) {
        _cleanup_free_ char *target = clean_path(entry, link, "hardlink target", err);
        if (target == NULL)
            return -1;
        char *tslash = strrchr(target, '/');
        _cleanup_free_ char *tparent =
            tslash ? xstrndup(target, (size_t)(tslash - target)) : xstrdup("");
        const char *tname = tslash ? tslash + 1 : target;
        if (*target == '\0')
            return entry_err(err, 0, entry, "hardlink to the layer root");
        _cleanup_close_ int tfd = -1;
        if (*tparent != '\0') {
            long fd = sys_openat2(u->root, tparent, O_PATH | O_DIRECTORY);
            if (fd < 0)
                return entry_err(err, errno == EXDEV || errno == ELOOP ? 0 : errno, entry,
                                 "hardlink target `%.512s` is outside the layer directory or "
                                 "missing",
                                 link);
            tfd = (int)fd;
        }
        int tdir = tfd >= 0 ? tfd : u->root;
        struct stat ts, cur;
        if (fstatat(tdir, tname, &ts, AT_SYMLINK_NOFOLLOW) < 0)
            return entry_err(err, errno, entry, "hardlink target `%.512s`", link);
        if (S_ISDIR(ts.st_mode))
            return entry_err(err, 0, entry, "hardlink target `%.512s` is a directory", link);
        if (fstatat(pfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_ino == ts.st_ino &&
            cur.st_dev == ts.st_dev)
            return 0;
        if (make_room(u, pfd, name, false) < 0)
            return entry_err(err, errno, entry, "replace existing entry");
        pfd = open_dir(u, entry, parent, err); /* make_room may have dropped the cache */
        if (pfd < 0)
            return -1;
        if (tfd < 0 && *tparent == '\0')
            tdir = u->root;
        if (linkat(tdir, tname, pfd, name, 0) < 0)
            return entry_err(err, errno, entry, "hardlink to `%.512s`", link);
        return 0;
    }

    mode_t type = archive_entry_filetype(e);
    bool is_dir = type == AE_IFDIR;
    int room = make_room(u, pfd, name, is_dir);
    if (room < 0)
        return entry_err(err, errno, entry, "replace existing entry");
    pfd = open_dir(u, entry, parent, err);
    if (pfd < 0)
        return -1;
    uid_t uid = (uid_t)archive_entry_uid(e);
    gid_t gid = (gid_t)archive_entry_gid(e);
    mode_t perm = archive_entry_perm(e) & 07777;
    switch (type) {
    case AE_IFREG: return write_file(u, a, pfd, name, e, entry, err);
    case AE_IFDIR: {
        if (room == 0 && mkdirat(pfd, name, 0700) < 0)
            return entry_err(err, errno, entry, "mkdir");
        _cleanup_close_ int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return entry_err(err, errno, entry, "open directory");
        if (fchown(fd, uid, gid) < 0)
            return entry_err(err, errno, entry, "chown");
        if (fchmod(fd, perm) < 0)
            return entry_err(err, errno, entry, "chmod");
        if (set_xattrs(pfd, name, fd, e, entry, err) < 0)
            return -1;
        remember_dir(u, path, e);
        return 0;
    }
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        if (target == NULL || *target == '\0')
            return entry_err(err, 0, entry, "symlink without a target");
        if (symlinkat(target, pfd, name) < 0)
            return entry_err(err, errno, entry, "symlink");
        if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return entry_err(err, errno, entry, "chown");
        if (set_xattrs(pfd, name, -1, e, entry, err) < 0)
            return -1;
        struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                                 {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
        if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
            return entry_err(err, errno, entry, "set times");
        return 0;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
        if (mknodat(pfd, name, type | perm, archive_entry_rdev(e)) < 0)
            return entry_err(err, errno, entry, "mknod");
        if (fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return entry_err(err, errno, entry, "chown");
        if (fchmodat(pfd, name, perm, 0) < 0)
            return entry_err(err, errno, entry, "chmod");
        return set_xattrs(pfd, name, -1, e, entry, err);
    }
    default: return 0; /* sockets and unknown types carry no content */
    }
}

/* The tar reader's source: decompressed bytes from the outer reader, hashed on the way. */
static la_ssize_t inner_read(struct archive *a, void *opaque, const void **out)
{
    (void)a;
    struct unpack *u = opaque;
    la_ssize_t n = archive_read_data(u->outer, u->block, READ_BLOCK);
    if (n > 0)
        image__sha256_update(&u->hash, u->block, (size_t)n);
    *out = u->block;
    return n;
}

static void finish_dirs(struct unpack *u)
{
    /* Directory times last: creating their children changed them. Best effort. */
    for (size_t i = u->n_dirs; i-- > 0;) {
        long fd = sys_openat2(u->root, u->dirs[i].path, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            struct timespec ts[2] = {u->dirs[i].mtime, u->dirs[i].mtime};
            (void)futimens((int)fd, ts);
            close((int)fd);
        }
    }
}

int image__unpack_layer(int blob_fd, int dir_fd, char diff_id[IMAGE_DIGEST_LEN + 1],
                        struct k8c_err **err)
{
    if (image__archive_load(err) < 0)
        return -1;
    struct unpack u = {.root = dir_fd, .cache_fd = -1};
    u.block = xmalloc(READ_BLOCK);
    image__sha256_init(&u.hash);
    struct archive *inner = NULL;
    int rc = -1;
    u.outer = archive_read_new();
    archive_read_support_filter_gzip(u.outer);
    archive_read_support_filter_zstd(u.outer);
    archive_read_support_filter_none(u.outer);
    archive_read_support_format_raw(u.outer);
    struct archive_entry *e;
    if (archive_read_open_fd(u.outer, blob_fd, READ_BLOCK) != ARCHIVE_OK ||
        archive_read_next_header(u.outer, &e) != ARCHIVE_OK) {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "not a tar, tar+gzip or tar+zstd stream: %s",
                    archive_error_string(u.outer));
        goto out;
    }
    inner = archive_read_new();
    archive_read_support_format_tar(inner);
    archive_read_support_format_gnutar(inner);
    if (archive_read_open(inner, &u, NULL, inner_read, NULL) != ARCHIVE_OK) {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "not a tar stream: %s",
                    archive_error_string(inner));
        goto out;
    }
    for (;;) {
        int r = archive_read_next_header(inner, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            k8c_err_set(err, 0, K8C_REASON_INVALID, "bad tar stream: %s",
                        archive_error_string(inner));
            goto out;
        }
        if (one_entry(&u, inner, e, err) < 0)
            goto out;
    }
    /* The tar reader may stop at the end-of-archive blocks: hash the rest of the stream. */
    for (;;) {
        la_ssize_t n = archive_read_data(u.outer, u.block, READ_BLOCK);
        if (n < 0) {
            k8c_err_set(err, 0, K8C_REASON_INVALID, "bad compressed stream: %s",
                        archive_error_string(u.outer));
            goto out;
        }
        if (n == 0)
            break;
        image__sha256_update(&u.hash, u.block, (size_t)n);
    }
    finish_dirs(&u);
    rc = 0;
out:
    if (rc == 0) {
        image__sha256_final(&u.hash, diff_id);
    } else {
        char ignored[IMAGE_DIGEST_LEN + 1];
        image__sha256_final(&u.hash, ignored);
    }
    if (inner)
        archive_read_free(inner);
    archive_read_free(u.outer);
    cache_drop(&u);
    for (size_t i = 0; i < u.n_dirs; i++)
        free(u.dirs[i].path);
    free(u.dirs);
    free(u.block);
    return rc;
}
