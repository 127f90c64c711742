/* File helpers (see file.h). */
#include "base/file.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"

char *file_read_fd(int fd, size_t max_size, size_t *len, struct k8c_err **err)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_reserve(&b, 4096);
    for (;;) {
        if (b.len > max_size) {
            k8c_err_set(err, 0, K8C_REASON_TOO_LARGE, "input is larger than %zu bytes", max_size);
            return NULL;
        }
        buf_reserve(&b, 65536);
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            k8c_err_errno(err, "read");
            return NULL;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
        b.data[b.len] = '\0';
    }
    if (b.len > max_size) {
        k8c_err_set(err, 0, K8C_REASON_TOO_LARGE, "input is larger than %zu bytes", max_size);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return buf_steal(&b);
}

char *file_read_all(const char *path, size_t max_size, size_t *len, struct k8c_err **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        k8c_err_set(err, errno, errno == ENOENT ? K8C_REASON_NOT_FOUND : K8C_REASON_INTERNAL,
                    "open `%s`", path);
        return NULL;
    }
    char *data = file_read_fd(fd, max_size, len, err);
    if (data == NULL)
        k8c_err_wrap(err, "read `%s`", path);
    return data;
}

int file_fsync_dir(const char *path, struct k8c_err **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return k8c_err_errno(err, "open directory `%s`", path);
    if (fsync(fd) < 0)
        return k8c_err_errno(err, "fsync directory `%s`", path);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable,
                         struct k8c_err **err)
{
    _cleanup_free_ char *dir_copy = xstrdup(path);
    const char *dir = dirname(dir_copy);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return k8c_err_errno(err, "create temporary file for `%s`", path);
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
        k8c_err_errno(err, "write `%s`", tmp);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        k8c_err_errno(err, "rename `%s` to `%s`", tmp, path);
        unlink(tmp);
        return -1;
    }
    return durable ? file_fsync_dir(dir, err) : 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct k8c_err **err)
{
    return write_replace(path, data, len, mode, true, err);
}

int file_write_replace(const char *path, const void *data, size_t len, mode_t mode,
                       struct k8c_err **err)
{
    return write_replace(path, data, len, mode, false, err);
}

int file_mkdir_p(const char *dir, mode_t mode, struct k8c_err **err)
{
    _cleanup_free_ char *path = xstrdup(dir);
    size_t n = strlen(path);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, mode) < 0 && errno != EEXIST)
            return k8c_err_errno(err, "mkdir `%s`", path);
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return k8c_err_errno(err, "stat `%s`", dir);
    if (!S_ISDIR(st.st_mode))
        return k8c_err_set(err, ENOTDIR, K8C_REASON_INTERNAL, "mkdir `%s`", dir);
    return 0;
}
