/* `k8c store snapshot|restore|migrate`: backups and moves of a whole store.
 *
 * snapshot: an SQLite store is copied with SQLite's online backup API (every revision and its
 * history, byte for byte); an etcd store is read page by page at one revision into k8c's
 * portable format (snapshot_internal.h). Either file restores into either backend.
 *
 * restore and migrate refuse a target that holds keys unless --force (which empties it
 * first). What happens to resourceVersions: an SQLite snapshot restored into an SQLite
 * store keeps every revision. Otherwise keys are written anew: into SQLite, after raising
 * the empty store's revision floor to the source's revision, so every new resourceVersion is
 * above every old one and a client resuming from an old one is answered 410 Gone and
 * re-lists (etcd's --bump-revision --mark-compacted); into etcd, at etcd's own next
 * revisions (etcd's revision only grows by writes), so API servers must be restarted and
 * clients re-list, as after any etcd restore in Kubernetes. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "store/cli_internal.h"
#include "store/internal.h"
#include "store/snapshot_internal.h"

#define PAGE 1000
#define WRITERS 16

/* ---- reading a store at one revision ---- */

/* Calls fn for every key of s at one revision (the current one when *revision is 0), page by
 * page; sets *revision to the revision read. */
static int each_key(struct store *s, int64_t *revision, snap_kv_fn fn, void *opaque,
                    struct k8c_err **err)
{
    _cleanup_free_ char *start = NULL;
    for (;;) {
        struct store_list l = {0};
        if (store_list(s, "", *revision, start, PAGE, &l, err) < 0)
            return -1;
        *revision = l.revision;
        int rc = 0;
        for (size_t i = 0; i < l.n_items && rc == 0; i++)
            rc = fn(&l.items[i], opaque, err);
        bool more = rc == 0 && l.more && l.n_items > 0;
        free(start);
        start = more ? xasprintf("%s\x01", l.items[l.n_items - 1].key) : NULL;
        store_list_clear(&l);
        if (rc != 0)
            return rc;
        if (!more)
            return 0;
    }
}

/* ---- writing keys into a store, WRITERS at a time (group commit, etcd round trips) ---- */

struct copier {
    struct store *to;
    struct store_kv *batch;
    size_t n;
    atomic_size_t next;
    pthread_mutex_t lock;
    struct k8c_err *err; /* the first failure */
    uint64_t written;
};

static void *copier_main(void *opaque)
{
    struct copier *c = opaque;
    for (;;) {
        size_t i = atomic_fetch_add(&c->next, 1);
        if (i >= c->n)
            return NULL;
        struct store_kv *kv = &c->batch[i];
        struct k8c_err *err = NULL;
        if (store_create(c->to, kv->key, kv->value, kv->value_len, &err) < 0) {
            pthread_mutex_lock(&c->lock);
            if (c->err == NULL)
                c->err = steal_ptr(&err);
            pthread_mutex_unlock(&c->lock);
            k8c_err_free(err);
        }
    }
}

static int copier_flush(struct copier *c, struct k8c_err **err)
{
    atomic_store(&c->next, 0);
    pthread_t t[WRITERS];
    size_t started = 0;
    for (size_t i = 0; i < WRITERS && i < c->n; i++)
        if (pthread_create(&t[started], NULL, copier_main, c) == 0)
            started++;
    if (started == 0 && c->n > 0)
        copier_main(c);
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < c->n; i++)
        store_kv_clear(&c->batch[i]);
    c->written += c->n;
    c->n = 0;
    if (c->err != NULL) {
        k8c_err_wrap(&c->err, "write into the target");
        *err = steal_ptr(&c->err);
        return -1;
    }
    return 0;
}

static int copier_add(const struct store_kv *kv, void *opaque, struct k8c_err **err)
{
    struct copier *c = opaque;
    struct store_kv *slot = &c->batch[c->n++];
    slot->key = xstrdup(kv->key);
    slot->value = xmalloc(kv->value_len + 1);
    memcpy(slot->value, kv->value, kv->value_len);
    slot->value[kv->value_len] = '\0';
    slot->value_len = kv->value_len;
    return c->n == PAGE ? copier_flush(c, err) : 0;
}

/* ---- the target of a restore or migration ---- */

struct target {
    const char *url;
    char *sqlite_path; /* the file, for an SQLite target; NULL for etcd */
    struct store *s;
};

/* "sqlite:PATH" or a plain path: the file; etcd URLs: NULL. */
static char *sqlite_path_of(const char *url)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        return xstrdup(url + 7);
    return strstr(url, "://") ? NULL : xstrdup(url);
}

static int count_up_to_one(const struct store_kv *kv, void *opaque, struct k8c_err **err)
{
    ++*(uint64_t *)opaque;
    return 1; /* one is enough */
}

static int delete_key(const struct store_kv *kv, void *opaque, struct k8c_err **err)
{
    return store_delete(opaque, kv->key, 0, NULL, err) < 0 ? -1 : 0;
}

static void target_close(struct target *t)
{
    store_close(t->s);
    t->s = NULL;
    free(t->sqlite_path);
}

static int remove_sqlite_files(const char *path, struct k8c_err **err)
{
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *p = xasprintf("%s%s", path, suffixes[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "remove `%s`: %s", p, strerror(errno));
    }
    return 0;
}

/* Opens the target and makes sure it is empty: refuses keys unless force, which removes them
 * (an SQLite file is replaced, etcd keys deleted). With keep_closed (an SQLite file about to
 * be replaced) the store is left closed. */
static int target_open(struct target *t, const char *url, bool force, bool keep_closed,
                       struct k8c_err **err)
{
    t->url = url;
    t->sqlite_path = sqlite_path_of(url);
    if (t->sqlite_path != NULL) { /* a new data directory is fine */
        _cleanup_free_ char *dir = xstrdup(t->sqlite_path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            if (file_mkdir_p(dir, 0700, err) < 0)
                return -1;
        }
    }
    /* Opening for writing takes the store's lock: a running server makes this fail. */
    t->s = store_open(url, NULL, err);
    if (t->s == NULL) {
        k8c_err_wrap(err, "open the target %s", url);
        return -1;
    }
    uint64_t keys = 0;
    int64_t rev = 0;
    if (each_key(t->s, &rev, count_up_to_one, &keys, err) < 0)
        return -1;
    if (keys > 0 && !force)
        return k8c_err_set(err, 0, K8C_REASON_ALREADY_EXISTS,
                           "the target %s is not empty (revision %" PRId64
                           "): restore into an empty store, or pass --force to replace "
                           "everything in it",
                           url, store_revision(t->s));
    if (t->sqlite_path != NULL && (keys > 0 || keep_closed)) {
        store_close(t->s);
        t->s = NULL;
        if (keys > 0 && remove_sqlite_files(t->sqlite_path, err) < 0)
            return -1;
        if (keep_closed)
            return 0;
        t->s = store_open(url, NULL, err);
        return t->s ? 0 : -1;
    }
    if (keys > 0) {
        rev = 0;
        if (each_key(t->s, &rev, delete_key, t->s, err) < 0) {
            k8c_err_wrap(err, "empty the target %s", url);
            return -1;
        }
    }
    return 0;
}

/* Re-opens an (empty) SQLite target with its revision floor at revision, so the keys written
 * next get resourceVersions above every one of the source. No-op for etcd. */
static int target_rebase(struct target *t, int64_t revision, struct k8c_err **err)
{
    if (t->sqlite_path == NULL || revision <= store_revision(t->s))
        return 0;
    store_close(t->s);
    t->s = NULL;
    if (store__snap_sqlite_bump(t->sqlite_path, revision, err) < 0)
        return -1;
    t->s = store_open(t->url, NULL, err);
    return t->s ? 0 : -1;
}

/* ---- sources ---- */

/* The URL a command's --store / --data-dir flags name. Caller frees. */
static char *url_of(const struct store_cli_flags *f)
{
    if (f->store_url)
        return xstrdup(f->store_url);
    _cleanup_free_ char *path = store_path_from_data_dir(f->data_dir);
    return xasprintf("sqlite:%s", path);
}

/* Opens a store to read from: SQLite read-only (works beside a running server). */
static struct store *open_source(const char *url, struct k8c_err **err)
{
    _cleanup_free_ char *path = sqlite_path_of(url);
    if (path != NULL && access(path, F_OK) < 0) {
        k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "no store at `%s`", path);
        return NULL;
    }
    struct store_options opts = {.read_only = path != NULL};
    return store_open(url, &opts, err);
}

/* Copies every key of the store `from` at its current revision into t. */
static int copy_store(struct store *from, struct target *t, int64_t *revision, struct copier *c,
                      struct k8c_err **err)
{
    *revision = store_revision(from);
    if (target_rebase(t, *revision, err) < 0)
        return -1;
    c->to = t->s;
    if (each_key(from, revision, copier_add, c, err) < 0)
        return -1;
    return copier_flush(c, err);
}

static struct copier *copier_new(void)
{
    struct copier *c = xcalloc(1, sizeof(*c));
    c->batch = xcalloc(PAGE, sizeof(*c->batch));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void copier_free(struct copier *c)
{
    for (size_t i = 0; i < c->n; i++)
        store_kv_clear(&c->batch[i]);
    k8c_err_free(c->err);
    pthread_mutex_destroy(&c->lock);
    free(c->batch);
    free(c);
}

/* ---- the commands ---- */

/* Reports a failure built here (not returned by a callee): one line, exit status 1. */
static int fail(enum k8c_reason reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(enum k8c_reason reason, const char *fmt, ...)
{
    struct k8c_err *err = NULL;
    va_list ap;
    va_start(ap, fmt);
    k8c_err_setv(&err, 0, reason, fmt, ap);
    va_end(ap);
    return store__cli_fail(err);
}

static int count_key(const struct store_kv *kv, void *opaque, struct k8c_err **err)
{
    ++*(uint64_t *)opaque;
    return 0;
}

struct counted_writer {
    struct snap_writer *w;
    uint64_t n;
};

static int write_key(const struct store_kv *kv, void *opaque, struct k8c_err **err)
{
    struct counted_writer *cw = opaque;
    cw->n++;
    return store__snap_write(cw->w, kv, err);
}

int store__cli_snapshot(const struct store_cli_flags *f)
{
    if (f->n_args != 1)
        return store__cli_usage("snapshot wants exactly one FILE");
    const char *out = f->args[0];
    _cleanup_free_ char *url = url_of(f);
    _cleanup_free_ char *path = sqlite_path_of(url);
    struct k8c_err *err = NULL;
    if (path != NULL) {
        if (access(path, F_OK) < 0)
            return fail(K8C_REASON_NOT_FOUND,
                        "no store at `%s` (is --data-dir the server's data directory?)", path);
        if (store__snap_sqlite_backup(path, out, &err) < 0)
            return store__cli_fail(err);
        /* Report what the copy holds, and prove it opens and checks out. */
        _cleanup_free_ char *copy = xasprintf("sqlite:%s", out);
        struct store *s = open_source(copy, &err);
        if (s == NULL)
            return store__cli_fail(err);
        uint64_t keys = 0;
        int64_t rev = 0;
        int rc = each_key(s, &rev, count_key, &keys, &err);
        store_close(s);
        if (rc < 0)
            return store__cli_fail(err);
        printf("snapshot of %s at revision %" PRId64 " (%" PRIu64
               " keys) written to %s (SQLite online backup)\n",
               url, rev, keys, out);
        return 0;
    }
    struct store *s = open_source(url, &err);
    if (s == NULL)
        return store__cli_fail(err);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", out, (int)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (fp == NULL) {
        int saved = errno;
        store_close(s);
        return fail(K8C_REASON_INTERNAL, "create `%s`: %s", tmp, strerror(saved));
    }
    /* Pinned to one revision: every page is read at it, so the file is one consistent
     * state. A compaction racing past it makes the read GONE: start again at a newer one. */
    int64_t rev = 0;
    int rc = -1;
    struct counted_writer cw = {0};
    for (int attempt = 0; attempt < 5 && rc < 0; attempt++) {
        k8c_err_freep(&err);
        rewind(fp);
        if (ftruncate(fileno(fp), 0) < 0)
            break;
        rev = store_revision(s);
        cw = (struct counted_writer){.w = store__snap_writer_new(fp, rev)};
        rc = each_key(s, &rev, write_key, &cw, &err);
        if (rc == 0)
            rc = store__snap_writer_finish(cw.w, &err);
        else
            store__snap_writer_free(cw.w);
        if (rc < 0 && (err == NULL || err->reason != K8C_REASON_GONE))
            break;
    }
    store_close(s);
    fclose(fp);
    if (rc == 0 && rename(tmp, out) < 0)
        rc = k8c_err_set(&err, 0, K8C_REASON_INTERNAL, "rename `%s` to `%s`: %s", tmp, out,
                         strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        return store__cli_fail(err);
    }
    printf("snapshot of %s at revision %" PRId64 " (%" PRIu64
           " keys) written to %s (k8c portable format)\n",
           url, rev, cw.n, out);
    return 0;
}

static int restore_portable(FILE *fp, const char *file, struct target *t, int64_t revision,
                            struct copier *c, struct k8c_err **err)
{
    if (target_rebase(t, revision, err) < 0)
        return -1;
    c->to = t->s;
    rewind(fp);
    int64_t rev;
    uint64_t n;
    if (store__snap_read(fp, file, copier_add, c, &rev, &n, err) < 0)
        return -1;
    return copier_flush(c, err);
}

int store__cli_restore(const struct store_cli_flags *f)
{
    if (f->n_args != 1)
        return store__cli_usage("restore wants exactly one FILE");
    const char *file = f->args[0];
    _cleanup_free_ char *url = url_of(f);
    struct k8c_err *err = NULL;
    FILE *fp = fopen(file, "rb");
    if (fp == NULL)
        return fail(K8C_REASON_NOT_FOUND, "open snapshot `%s`: %s", file, strerror(errno));
    /* Check the whole file before touching the target. */
    bool is_sqlite = store__snap_is_sqlite(file);
    struct store *src = NULL;
    int64_t revision = 0;
    uint64_t count = 0;
    if (is_sqlite) {
        _cleanup_free_ char *src_url = xasprintf("sqlite:%s", file);
        src = open_source(src_url, &err);
        _cleanup_free_ char *report = NULL;
        if (src == NULL || store_check(src, &report, &err) < 0) {
            store_close(src);
            fclose(fp);
            k8c_err_wrap(&err, "snapshot `%s` is not a usable k8c store", file);
            return store__cli_fail(err);
        }
        revision = store_revision(src);
    } else if (store__snap_read(fp, file, NULL, NULL, &revision, &count, &err) < 0) {
        fclose(fp);
        return store__cli_fail(err);
    }

    struct target t = {0};
    struct copier *c = copier_new();
    _cleanup_free_ char *target_path = sqlite_path_of(url);
    bool install = is_sqlite && target_path != NULL;
    int rc = target_open(&t, url, f->force, install, &err);
    const char *how = "";
    if (rc == 0 && install) {
        store_close(src);
        src = NULL;
        rc = store__snap_sqlite_install(file, t.sqlite_path, &err);
        how = "every revision kept";
    } else if (rc == 0 && is_sqlite) {
        rc = copy_store(src, &t, &revision, c, &err);
        how = "keys written at the target's new revisions";
    } else if (rc == 0) {
        rc = restore_portable(fp, file, &t, revision, c, &err);
        how = t.sqlite_path ? "keys written at revisions after the snapshot's"
                            : "keys written at the target's new revisions";
    }
    store_close(src);
    fclose(fp);
    uint64_t written = c->written;
    copier_free(c);
    target_close(&t);
    if (rc < 0)
        return store__cli_fail(err);
    if (install)
        printf("restored %s (revision %" PRId64 ") into %s: %s\n", file, revision, url, how);
    else
        printf("restored %" PRIu64 " keys of %s (revision %" PRId64 ") into %s: %s\n", written,
               file, revision, url, how);
    return 0;
}

int store__cli_migrate(const struct store_cli_flags *f)
{
    if (f->n_args != 0)
        return store__cli_usage("migrate takes no arguments (use --from URL --to URL)");
    if (f->from == NULL || f->to == NULL)
        return store__cli_usage("migrate needs --from URL and --to URL");
    if (strcmp(f->from, f->to) == 0)
        return store__cli_usage("migrate needs two different stores");
    struct k8c_err *err = NULL;
    struct store *src = open_source(f->from, &err);
    if (src == NULL)
        return store__cli_fail(err);
    struct target t = {0};
    struct copier *c = copier_new();
    int64_t revision = 0;
    int rc = target_open(&t, f->to, f->force, false, &err);
    if (rc == 0)
        rc = copy_store(src, &t, &revision, c, &err);
    int64_t to_rev = rc == 0 ? store_revision(t.s) : 0;
    uint64_t written = c->written;
    store_close(src);
    copier_free(c);
    target_close(&t);
    if (rc < 0)
        return store__cli_fail(err);
    printf("migrated %" PRIu64 " keys from %s (revision %" PRId64 ") to %s (now at revision "
           "%" PRId64 ")\n",
           written, f->from, revision, f->to, to_rev);
    return 0;
}
