/* File helpers: whole-file reads with a size bound, durable atomic writes, mkdir -p. */
#ifndef K8C_BASE_FILE_H
#define K8C_BASE_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

/* Reads the whole file at path into a new NUL-terminated buffer (caller frees) and sets *len.
 * Files over max_size bytes fail with TOO_LARGE, so outside input never sizes an allocation
 * unchecked. Returns NULL and sets *err on failure. */
char *file_read_all(const char *path, size_t max_size, size_t *len, struct k8c_err **err);

/* Reads everything from fd until EOF (same bound and ownership as file_read_all). */
char *file_read_fd(int fd, size_t max_size, size_t *len, struct k8c_err **err);

/* Replaces path with data durably: writes a temporary file in the same directory, fsyncs it,
 * renames it over path and fsyncs the directory. After it returns 0, a crash leaves either
 * the old or the new content, never a mix. Returns 0, or -1 and sets *err. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct k8c_err **err);

/* Creates dir and its missing parents with mode. Existing directories are fine. */
/* Replaces path with data atomically for readers (temporary file + rename) but without the
 * fsyncs: for files rebuilt from other state on every use (a container's config.json, a pod's
 * hosts file), where a power loss may leave the old or an empty file. Returns 0 or -1. */
int file_write_replace(const char *path, const void *data, size_t len, mode_t mode,
                       struct k8c_err **err);

int file_mkdir_p(const char *dir, mode_t mode, struct k8c_err **err);

/* fsyncs the directory at path (after a create, rename or unlink in it). */
int file_fsync_dir(const char *path, struct k8c_err **err);

#endif
