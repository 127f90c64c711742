/* libarchive, opened when k8c first reads or writes an image rather than when a process
 * starts: linked normally it brings libxml2, ICU and libstdc++ along, about 2 MiB resident in
 * every k8c process (the agent and the server mostly never unpack a layer). The libarchive
 * functions k8c calls are defined here under their own names, so the image code is plain
 * libarchive code; each forwards to the library once it is open. The image code calls
 * image__archive_load before its first libarchive call, so a missing library is an error it
 * reports rather than an abort. */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "image/internal.h"

#define LIBARCHIVE_SONAME "libarchive.so.13"

static struct {
    __typeof__(archive_entry_filetype) *archive_entry_filetype;
    __typeof__(archive_entry_free) *archive_entry_free;
    __typeof__(archive_entry_gid) *archive_entry_gid;
    __typeof__(archive_entry_hardlink) *archive_entry_hardlink;
    __typeof__(archive_entry_mtime) *archive_entry_mtime;
    __typeof__(archive_entry_mtime_nsec) *archive_entry_mtime_nsec;
    __typeof__(archive_entry_new) *archive_entry_new;
    __typeof__(archive_entry_pathname) *archive_entry_pathname;
    __typeof__(archive_entry_perm) *archive_entry_perm;
    __typeof__(archive_entry_rdev) *archive_entry_rdev;
    __typeof__(archive_entry_set_filetype) *archive_entry_set_filetype;
    __typeof__(archive_entry_set_pathname) *archive_entry_set_pathname;
    __typeof__(archive_entry_set_perm) *archive_entry_set_perm;
    __typeof__(archive_entry_set_size) *archive_entry_set_size;
    __typeof__(archive_entry_size) *archive_entry_size;
    __typeof__(archive_entry_symlink) *archive_entry_symlink;
    __typeof__(archive_entry_uid) *archive_entry_uid;
    __typeof__(archive_entry_xattr_next) *archive_entry_xattr_next;
    __typeof__(archive_entry_xattr_reset) *archive_entry_xattr_reset;
    __typeof__(archive_error_string) *archive_error_string;
    __typeof__(archive_read_data) *archive_read_data;
    __typeof__(archive_read_data_block) *archive_read_data_block;
    __typeof__(archive_read_free) *archive_read_free;
    __typeof__(archive_read_new) *archive_read_new;
    __typeof__(archive_read_next_header) *archive_read_next_header;
    __typeof__(archive_read_open) *archive_read_open;
    __typeof__(archive_read_open_fd) *archive_read_open_fd;
    __typeof__(archive_read_open_filename) *archive_read_open_filename;
    __typeof__(archive_read_support_filter_all) *archive_read_support_filter_all;
    __typeof__(archive_read_support_filter_gzip) *archive_read_support_filter_gzip;
    __typeof__(archive_read_support_filter_none) *archive_read_support_filter_none;
    __typeof__(archive_read_support_filter_zstd) *archive_read_support_filter_zstd;
    __typeof__(archive_read_support_format_gnutar) *archive_read_support_format_gnutar;
    __typeof__(archive_read_support_format_raw) *archive_read_support_format_raw;
    __typeof__(archive_read_support_format_tar) *archive_read_support_format_tar;
    __typeof__(archive_write_close) *archive_write_close;
    __typeof__(archive_write_data) *archive_write_data;
    __typeof__(archive_write_free) *archive_write_free;
    __typeof__(archive_write_header) *archive_write_header;
    __typeof__(archive_write_new) *archive_write_new;
    __typeof__(archive_write_open_fd) *archive_write_open_fd;
    __typeof__(archive_write_set_format_pax_restricted) *archive_write_set_format_pax_restricted;
} LIBARCHIVE;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[256]; /* why it could not be loaded */
static bool loaded;

static void load(void)
{
    void *lib = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(load_error, sizeof(load_error), "%s", dlerror());
        return;
    }
#define X(name)                                                                                    \
    if ((*(void **)&LIBARCHIVE.name = dlsym(lib, #name)) == NULL) {                                \
        snprintf(load_error, sizeof(load_error), "%s: no symbol %s", LIBARCHIVE_SONAME, #name);    \
        return;                                                                                    \
    }
    X(archive_entry_filetype)
    X(archive_entry_free)
    X(archive_entry_gid)
    X(archive_entry_hardlink)
    X(archive_entry_mtime)
    X(archive_entry_mtime_nsec)
    X(archive_entry_new)
    X(archive_entry_pathname)
    X(archive_entry_perm)
    X(archive_entry_rdev)
    X(archive_entry_set_filetype)
    X(archive_entry_set_pathname)
    X(archive_entry_set_perm)
    X(archive_entry_set_size)
    X(archive_entry_size)
    X(archive_entry_symlink)
    X(archive_entry_uid)
    X(archive_entry_xattr_next)
    X(archive_entry_xattr_reset)
    X(archive_error_string)
    X(archive_read_data)
    X(archive_read_data_block)
    X(archive_read_free)
    X(archive_read_new)
    X(archive_read_next_header)
    X(archive_read_open)
    X(archive_read_open_fd)
    X(archive_read_open_filename)
    X(archive_read_support_filter_all)
    X(archive_read_support_filter_gzip)
    X(archive_read_support_filter_none)
    X(archive_read_support_filter_zstd)
    X(archive_read_support_format_gnutar)
    X(archive_read_support_format_raw)
    X(archive_read_support_format_tar)
    X(archive_write_close)
    X(archive_write_data)
    X(archive_write_free)
    X(archive_write_header)
    X(archive_write_new)
    X(archive_write_open_fd)
    X(archive_write_set_format_pax_restricted)
#undef X
    loaded = true;
}

/* For a caller that did not go through image__archive_load (a test writing its own archives
 * with libarchive before calling the image code): load now, and stop loudly if it cannot. */
static inline void ensure_loaded(void)
{
    pthread_once(&load_once, load);
    if (!loaded) {
        fprintf(stderr, "k8c: load libarchive: %s\n", load_error);
        abort();
    }
}

int image__archive_load(struct k8c_err **err)
{
    pthread_once(&load_once, load);
    if (!loaded)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "load libarchive: %s", load_error);
    return 0;
}

mode_t archive_entry_filetype(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_filetype(a0);
}

void archive_entry_free(struct archive_entry *a0)
{
    ensure_loaded();
    LIBARCHIVE.archive_entry_free(a0);
}

la_int64_t archive_entry_gid(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_gid(a0);
}

const char *archive_entry_hardlink(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_hardlink(a0);
}

time_t archive_entry_mtime(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_mtime(a0);
}

long archive_entry_mtime_nsec(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_mtime_nsec(a0);
}

struct archive_entry *archive_entry_new(void)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_new();
}

const char *archive_entry_pathname(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_pathname(a0);
}

mode_t archive_entry_perm(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_perm(a0);
}

dev_t archive_entry_rdev(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_rdev(a0);
}

void archive_entry_set_filetype(struct archive_entry *a0, unsigned int a1)
{
    ensure_loaded();
    LIBARCHIVE.archive_entry_set_filetype(a0, a1);
}

void archive_entry_set_pathname(struct archive_entry *a0, const char *a1)
{
    ensure_loaded();
    LIBARCHIVE.archive_entry_set_pathname(a0, a1);
}

void archive_entry_set_perm(struct archive_entry *a0, mode_t a1)
{
    ensure_loaded();
    LIBARCHIVE.archive_entry_set_perm(a0, a1);
}

void archive_entry_set_size(struct archive_entry *a0, la_int64_t a1)
{
    ensure_loaded();
    LIBARCHIVE.archive_entry_set_size(a0, a1);
}

la_int64_t archive_entry_size(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_size(a0);
}

const char *archive_entry_symlink(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_symlink(a0);
}

la_int64_t archive_entry_uid(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_uid(a0);
}

int archive_entry_xattr_next(struct archive_entry *a0, const char **a1, const void **a2, size_t *a3)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_xattr_next(a0, a1, a2, a3);
}

int archive_entry_xattr_reset(struct archive_entry *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_entry_xattr_reset(a0);
}

const char *archive_error_string(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_error_string(a0);
}

la_ssize_t archive_read_data(struct archive *a0, void *a1, size_t a2)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_data(a0, a1, a2);
}

int archive_read_data_block(struct archive *a0, const void **a1, size_t *a2, la_int64_t *a3)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_data_block(a0, a1, a2, a3);
}

int archive_read_free(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_free(a0);
}

struct archive *archive_read_new(void)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_new();
}

int archive_read_next_header(struct archive *a0, struct archive_entry **a1)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_next_header(a0, a1);
}

int archive_read_open(struct archive *a0, void *a1, archive_open_callback *a2,
                      archive_read_callback *a3, archive_close_callback *a4)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_open(a0, a1, a2, a3, a4);
}

int archive_read_open_fd(struct archive *a0, int a1, size_t a2)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_open_fd(a0, a1, a2);
}

int archive_read_open_filename(struct archive *a0, const char *a1, size_t a2)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_open_filename(a0, a1, a2);
}

int archive_read_support_filter_all(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_support_filter_all(a0);
}

int archive_read_support_filter_gzip(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_support_filter_gzip(a0);
}

int archive_read_support_filter_none(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_support_filter_none(a0);
}

int archive_read_support_filter_zstd(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_support_filter_zstd(a0);
}

int archive_read_support_format_gnutar(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_support_format_gnutar(a0);
}

int archive_read_support_format_raw(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_support_format_raw(a0);
}

int archive_read_support_format_tar(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_read_support_format_tar(a0);
}

int archive_write_close(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_write_close(a0);
}

la_ssize_t archive_write_data(struct archive *a0, const void *a1, size_t a2)
{
    ensure_loaded();
    return LIBARCHIVE.archive_write_data(a0, a1, a2);
}

int archive_write_free(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_write_free(a0);
}

int archive_write_header(struct archive *a0, struct archive_entry *a1)
{
    ensure_loaded();
    return LIBARCHIVE.archive_write_header(a0, a1);
}

struct archive *archive_write_new(void)
{
    ensure_loaded();
    return LIBARCHIVE.archive_write_new();
}

int archive_write_open_fd(struct archive *a0, int a1)
{
    ensure_loaded();
    return LIBARCHIVE.archive_write_open_fd(a0, a1);
}

int archive_write_set_format_pax_restricted(struct archive *a0)
{
    ensure_loaded();
    return LIBARCHIVE.archive_write_set_format_pax_restricted(a0);
}
