/* The content-addressed image store under <data-dir>/images:
 *   blobs/sha256/<hex>     manifests, configs and compressed layers, verified on write
 *   layers/sha256/<hex>    one unpacked directory per layer, keyed by its diff-id
 *   records/<hex>.json     one file per image name (hex = sha256 of the name), atomic writes
 *   ingest/, tmp/          partial downloads and unpacks in progress (never used as content)
 *   locks/, lock           per-blob/per-layer locks; the store lock (shared by pulls and
 *                          imports, exclusive for garbage collection)
 * A layer is unpacked into tmp/ and renamed into layers/ only when complete and verified. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "image/internal.h"

char *image__blob_path(const struct image_store *s, const char *digest)
{
    return xasprintf("%s/%s", s->blobs, image__digest_hex(digest));
}

char *image__layer_path(const struct image_store *s, const char *diff_id)
{
    return xasprintf("%s/%s", s->layers, image__digest_hex(diff_id));
}

bool image__blob_exists(const struct image_store *s, const char *digest)
{
    _cleanup_free_ char *p = image__blob_path(s, digest);
    return access(p, F_OK) == 0;
}

struct image_store *image_store_open(const char *data_dir, struct k8c_err **err)
{
    struct image_store *s = xcalloc(1, sizeof(*s));
    s->lock_fd = -1;
    s->root = xasprintf("%s/images", data_dir);
    s->blobs = xasprintf("%s/blobs/sha256", s->root);
    s->layers = xasprintf("%s/layers/sha256", s->root);
    s->ingest = xasprintf("%s/ingest", s->root);
    s->records = xasprintf("%s/records", s->root);
    s->tmp = xasprintf("%s/tmp", s->root);
    _cleanup_free_ char *locks = xasprintf("%s/locks", s->root);
    const char *dirs[] = {s->blobs, s->layers, s->ingest, s->records, s->tmp, locks};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        if (file_mkdir_p(dirs[i], 0700, err) < 0) {
            k8c_err_wrap(err, "open image store `%s`", s->root);
            image_store_close(s);
            return NULL;
        }
    }
    _cleanup_free_ char *lock = xasprintf("%s/lock", s->root);
    s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        k8c_err_errno(err, "open image store lock `%s`", lock);
        image_store_close(s);
        return NULL;
    }
    return s;
}

void image_store_close(struct image_store *s)
{
    if (s == NULL)
        return;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->root);
    free(s->blobs);
    free(s->layers);
    free(s->ingest);
    free(s->records);
    free(s->tmp);
    free(s);
}

int image__store_lock(const struct image_store *s, bool exclusive, struct k8c_err **err)
{
    _cleanup_free_ char *lock = xasprintf("%s/lock", s->root);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return k8c_err_errno(err, "open `%s`", lock);
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno != EINTR) {
            k8c_err_errno(err, "lock `%s`", lock);
            close(fd);
            return -1;
        }
    }
    return fd;
}

int image__named_lock(const struct image_store *s, const char *name, struct k8c_err **err)
{
    _cleanup_free_ char *path = xasprintf("%s/locks/%s", s->root, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return k8c_err_errno(err, "open lock `%s`", path);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            k8c_err_errno(err, "lock `%s`", path);
            close(fd);
            return -1;
        }
    }
    return fd;
}

char *image__blob_read(const struct image_store *s, const char *digest, size_t max, size_t *len,
                       struct k8c_err **err)
{
    _cleanup_free_ char *path = image__blob_path(s, digest);
    size_t n = 0;
    _cleanup_free_ char *data = file_read_all(path, max, &n, err);
    if (data == NULL)
        return NULL;
    char got[IMAGE_DIGEST_LEN + 1];
    image__sha256_buf(data, n, got);
    if (strcmp(got, digest) != 0) {
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "blob `%s` in the store is corrupt (hashes to %s)",
                    digest, got);
        return NULL;
    }
    if (len)
        *len = n;
    return steal_ptr(&data);
}

int image__blob_commit(const struct image_store *s, const char *tmp_path, const char *digest,
                       struct k8c_err **err)
{
    _cleanup_free_ char *path = image__blob_path(s, digest);
    if (rename(tmp_path, path) < 0)
        return k8c_err_errno(err, "store blob `%s`", digest);
    return file_fsync_dir(s->blobs, err);
}

int image__blob_put(const struct image_store *s, const char *digest, const void *data, size_t len,
                    char out_digest[IMAGE_DIGEST_LEN + 1], struct k8c_err **err)
{
    char got[IMAGE_DIGEST_LEN + 1];
    image__sha256_buf(data, len, got);
    if (digest != NULL && strcmp(got, digest) != 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "digest mismatch: content of `%s` hashes to %s", digest, got);
    if (out_digest)
        memcpy(out_digest, got, sizeof(got));
    if (image__blob_exists(s, got))
        return 0;
    _cleanup_free_ char *path = image__blob_path(s, got);
    return file_write_atomic(path, data, len, 0600, err);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf path, not crossing into other filesystems nor following symlinks. */
static int remove_tree(const char *path, struct k8c_err **err)
{
    if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
        return k8c_err_errno(err, "remove `%s`", path);
    return 0;
}

int image__layer_ensure(const struct image_store *s, const char *digest, const char *mt,
                        const char *diff_id, struct k8c_err **err)
{
    (void)mt; /* the compression is detected from the content */
    _cleanup_free_ char *dir = image__layer_path(s, diff_id);
    if (access(dir, F_OK) == 0)
        return 0;
    _cleanup_free_ char *lock_name = xasprintf("layer-%s", image__digest_hex(diff_id));
    _cleanup_close_ int lock = image__named_lock(s, lock_name, err);
    if (lock < 0)
        return -1;
    if (access(dir, F_OK) == 0) /* another process unpacked it while we waited */
        return 0;
    _cleanup_free_ char *blob = image__blob_path(s, digest);
    _cleanup_close_ int blob_fd = open(blob, O_RDONLY | O_CLOEXEC);
    if (blob_fd < 0)
        return k8c_err_errno(err, "open layer blob `%s`", digest);
    _cleanup_free_ char *tmp =
        xasprintf("%s/layer-%.12s-XXXXXX", s->tmp, image__digest_hex(diff_id));
    if (mkdtemp(tmp) == NULL)
        return k8c_err_errno(err, "create temporary directory in `%s`", s->tmp);
    if (chmod(tmp, 0755) < 0) {
        k8c_err_errno(err, "chmod `%s`", tmp);
        remove_tree(tmp, NULL);
        return -1;
    }
    _cleanup_close_ int dir_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        k8c_err_errno(err, "open `%s`", tmp);
        remove_tree(tmp, NULL);
        return -1;
    }
    char got[IMAGE_DIGEST_LEN + 1];
    int rc = image__unpack_layer(blob_fd, dir_fd, got, err);
    if (rc == 0 && strcmp(got, diff_id) != 0)
        rc = k8c_err_set(err, 0, K8C_REASON_INVALID,
                         "uncompressed content hashes to %s, not to the diff-id %s the image "
                         "config gives",
                         got, diff_id);
    /* Contents reach the disk before the directory appears under layers/: after a crash a
     * layer directory is either complete or absent. */
    if (rc == 0 && syncfs(dir_fd) < 0)
        rc = k8c_err_errno(err, "sync `%s`", tmp);
    if (rc == 0 && rename(tmp, dir) < 0)
        rc = k8c_err_errno(err, "rename `%s` to `%s`", tmp, dir);
    if (rc < 0) {
        struct k8c_err *ignored = NULL; /* the unpack error is the one worth reporting */
        remove_tree(tmp, &ignored);
        k8c_err_free(ignored);
        return k8c_err_wrap(err, "layer %s", digest);
    }
    return file_fsync_dir(s->layers, err);
}

/* ---- records ---------------------------------------------------------------------------- */

static char *record_path(const struct image_store *s, const char *name)
{
    char d[IMAGE_DIGEST_LEN + 1];
    image__sha256_buf(name, strlen(name), d);
    return xasprintf("%s/%s.json", s->records, image__digest_hex(d));
}

/* The name an image is stored under: with a digest, the tag is not part of it. */
static char *record_name(const struct image_ref *ref)
{
    if (ref->digest)
        return xasprintf("%s/%s@%s", ref->registry, ref->repository, ref->digest);
    return image_ref_string(ref);
}

static int record_write(const struct image_store *s, const char *name, json_t *rec,
                        struct k8c_err **err)
{
    _cleanup_free_ char *text = kjson_dumps(rec);
    _cleanup_free_ char *path = record_path(s, name);
    return file_write_atomic(path, text, strlen(text), 0600, err);
}

int image__store_commit(struct image_store *s, const char *name, const char *manifest_digest,
                        struct k8c_err **err)
{
    size_t len = 0;
    _cleanup_free_ char *mdata =
        image__blob_read(s, manifest_digest, IMAGE_MANIFEST_MAX, &len, err);
    if (mdata == NULL)
        return -1;
    struct image__manifest m;
    if (image__manifest_parse(mdata, len, NULL, &m, err) < 0)
        return -1;
    int rc = -1;
    _cleanup_free_ char *cdata = NULL;
    char **diff_ids = NULL;
    struct image_config cfg = {0};
    if (m.kind != IMAGE_MANIFEST_IMAGE) {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "manifest %s is an index, not an image",
                    manifest_digest);
        goto out;
    }
    size_t clen = 0;
    cdata = image__blob_read(s, m.config.digest, IMAGE_MANIFEST_MAX, &clen, err);
    if (cdata == NULL || image__config_parse(cdata, clen, &cfg, &diff_ids, err) < 0)
        goto out;
    size_t n_ids = 0;
    while (diff_ids[n_ids])
        n_ids++;
    if (n_ids != m.n) {
        k8c_err_set(err, 0, K8C_REASON_INVALID,
                    "image config lists %zu diff-ids but the manifest has %zu layers", n_ids, m.n);
        goto out;
    }
    uint64_t size = m.config.size;
    json_t *layers = json_array();
    for (size_t i = 0; i < m.n; i++) {
        if (image__layer_ensure(s, m.items[i].digest, m.items[i].media_type, diff_ids[i], err) <
            0) {
            json_decref(layers);
            goto out;
        }
        size += m.items[i].size;
        json_array_append_new(layers,
                              json_pack("{s:s,s:s,s:I,s:s}", "digest", m.items[i].digest,
                                        "mediaType", m.items[i].media_type, "size",
                                        (json_int_t)m.items[i].size, "diffId", diff_ids[i]));
    }
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:I}", "name", name, "digest", manifest_digest,
                  "mediaType", m.media_type, "config", m.config.digest, "layers", layers, "size",
                  (json_int_t)size, "created", (json_int_t)time(NULL));
    rc = record_write(s, name, rec, err);
    json_decref(rec);
out:
    image__manifest_clear(&m);
    image__config_clear(&cfg);
    mem_free_strv(&diff_ids);
    return rc;
}

static json_t *record_load(const char *path, struct k8c_err **err)
{
    size_t len = 0;
    _cleanup_free_ char *data = file_read_all(path, IMAGE_MANIFEST_MAX, &len, err);
    if (data == NULL)
        return NULL;
    json_t *rec = kjson_parse(data, len, err);
    if (rec == NULL)
        return NULL;
    if (!json_is_string(json_object_get(rec, "name")) ||
        !json_is_string(json_object_get(rec, "digest")) ||
        !json_is_array(json_object_get(rec, "layers"))) {
        json_decref(rec);
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "image record `%s` is damaged", path);
        return NULL;
    }
    return rec;
}

/* Calls fn for every record; stops when fn returns nonzero (and returns that). */
static int records_each(const struct image_store *s,
                        int (*fn)(json_t *rec, const char *path, void *opaque), void *opaque,
                        struct k8c_err **err)
{
    DIR *d = opendir(s->records);
    if (d == NULL)
        return k8c_err_errno(err, "open `%s`", s->records);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", s->records, de->d_name);
        struct k8c_err *e = NULL;
        _cleanup_json_ json_t *rec = record_load(path, &e);
        if (rec == NULL) { /* vanished (removed concurrently) or damaged: skip it */
            LOG_DEBUG("image record skipped path=%s err=%s", path, e ? e->msg : "");
            k8c_err_free(e);
            continue;
        }
        rc = fn(rec, path, opaque);
    }
    closedir(d);
    return rc;
}

struct find_ctx {
    const char *repo_name; /* "registry/repo" for digest lookups, or NULL */
    const char *digest;
    const char *id_prefix; /* hex prefix of an image id or manifest digest, or NULL */
    json_t *found;
    char *path;
    int matches;
};

static int find_fn(json_t *rec, const char *path, void *opaque)
{
    struct find_ctx *c = opaque;
    const char *name = json_string_value(json_object_get(rec, "name"));
    const char *digest = json_string_value(json_object_get(rec, "digest"));
    const char *config = json_string_value(json_object_get(rec, "config"));
    bool match = false;
    if (c->repo_name != NULL) {
        size_t n = strlen(c->repo_name);
        match = strncmp(name, c->repo_name, n) == 0 && (name[n] == ':' || name[n] == '@') &&
                strcmp(digest, c->digest) == 0;
    } else if (c->id_prefix != NULL) {
        size_t n = strlen(c->id_prefix);
        match = (config && strncmp(config + 7, c->id_prefix, n) == 0) ||
                strncmp(digest + 7, c->id_prefix, n) == 0;
    }
    if (!match)
        return 0;
    if (c->found == NULL ||
        strcmp(json_string_value(json_object_get(c->found, "config")), config ? config : "") != 0)
        c->matches++;
    if (c->found == NULL) {
        c->found = json_incref(rec);
        c->path = xstrdup(path);
    }
    return c->repo_name != NULL; /* a digest match is enough; ids must be unambiguous */
}

static bool is_id_prefix(const char *s)
{
    if (strncmp(s, "sha256:", 7) == 0)
        s += 7;
    size_t n = strlen(s);
    if (n < 12 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Finds the record for ref; returns it (new reference) and its path (caller frees). */
static json_t *record_find(struct image_store *s, const char *ref, char **path_out,
                           struct k8c_err **err)
{
    if (is_id_prefix(ref)) {
        struct find_ctx c = {.id_prefix = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref};
        if (records_each(s, find_fn, &c, err) < 0)
            return NULL;
        if (c.matches > 1) {
            json_decref(c.found);
            free(c.path);
            return k8c_err_set(err, 0, K8C_REASON_CONFLICT,
                               "image id prefix `%s` matches more than one image", ref),
                   NULL;
        }
        if (c.found != NULL) {
            *path_out = c.path;
            return c.found;
        }
    }
    struct image_ref r;
    if (image_ref_parse(ref, &r, err) < 0)
        return NULL;
    _cleanup_free_ char *name = record_name(&r);
    _cleanup_free_ char *path = record_path(s, name);
    struct k8c_err *e = NULL;
    json_t *rec = record_load(path, &e);
    if (rec != NULL) {
        image_ref_clear(&r);
        *path_out = steal_ptr(&path);
        return rec;
    }
    if (e->errnum != ENOENT) {
        image_ref_clear(&r);
        image__err_pass(err, e);
        return NULL;
    }
    k8c_err_free(e);
    if (r.digest != NULL) { /* stored under a tag, asked for by digest */
        _cleanup_free_ char *repo = image_ref_name(&r);
        struct find_ctx c = {.repo_name = repo, .digest = r.digest};
        if (records_each(s, find_fn, &c, err) < 0) {
            image_ref_clear(&r);
            return NULL;
        }
        if (c.found != NULL) {
            image_ref_clear(&r);
            *path_out = c.path;
            return c.found;
        }
    }
    _cleanup_free_ char *canon = image_ref_string(&r);
    image_ref_clear(&r);
    k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "image `%s` is not in the store", canon);
    return NULL;
}

void image_info_free(struct image_info *info)
{
    if (info == NULL)
        return;
    free(info->name);
    free(info->digest);
    free(info->config_digest);
    for (size_t i = 0; i < info->n_layers; i++)
        free(info->layer_dirs[i]);
    free(info->layer_dirs);
    image__config_clear(&info->config);
    free(info);
}

void image_info_freep(struct image_info **info)
{
    image_info_free(*info);
    *info = NULL;
}

static struct image_info *info_from_record(struct image_store *s, json_t *rec, struct k8c_err **err)
{
    _cleanup_image_info_ struct image_info *info = xcalloc(1, sizeof(*info));
    info->name = xstrdup(json_string_value(json_object_get(rec, "name")));
    info->digest = xstrdup(json_string_value(json_object_get(rec, "digest")));
    const char *config = json_string_value(json_object_get(rec, "config"));
    if (config == NULL || !image__digest_valid(config))
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "image record of `%s` is damaged",
                           info->name),
               NULL;
    info->config_digest = xstrdup(config);
    info->size = (uint64_t)json_integer_value(json_object_get(rec, "size"));
    json_t *layers = json_object_get(rec, "layers");
    info->layer_dirs = xcalloc(json_array_size(layers) + 1, sizeof(char *));
    size_t i;
    json_t *l;
    json_array_foreach (layers, i, l) {
        const char *diff_id = json_string_value(json_object_get(l, "diffId"));
        if (diff_id == NULL || !image__digest_valid(diff_id))
            return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "image record of `%s` is damaged",
                               info->name),
                   NULL;
        char *dir = image__layer_path(s, diff_id);
        info->layer_dirs[info->n_layers++] = dir;
        if (access(dir, F_OK) < 0)
            return k8c_err_set(err, ENOENT, K8C_REASON_NOT_FOUND,
                               "image `%s`: layer directory `%s` is missing (pull it again)",
                               info->name, dir),
                   NULL;
    }
    size_t clen = 0;
    _cleanup_free_ char *cdata = image__blob_read(s, config, IMAGE_MANIFEST_MAX, &clen, err);
    if (cdata == NULL || image__config_parse(cdata, clen, &info->config, NULL, err) < 0) {
        k8c_err_wrap(err, "image `%s`", info->name);
        return NULL;
    }
    return steal_ptr(&info);
}

struct image_info *image_store_get(struct image_store *s, const char *ref, struct k8c_err **err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *rec = record_find(s, ref, &path, err);
    if (rec == NULL)
        return NULL;
    return info_from_record(s, rec, err);
}

char *image__record_name(const struct image_ref *ref)
{
    return record_name(ref);
}

struct list_ctx {
    struct image_summary *rows;
    size_t n, cap;
};

static int list_fn(json_t *rec, const char *path, void *opaque)
{
    (void)path;
    struct list_ctx *c = opaque;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->rows = xrealloc(c->rows, c->cap * sizeof(*c->rows));
    }
    const char *config = json_string_value(json_object_get(rec, "config"));
    c->rows[c->n++] = (struct image_summary){
        .name = xstrdup(json_string_value(json_object_get(rec, "name"))),
        .digest = xstrdup(json_string_value(json_object_get(rec, "digest"))),
        .config_digest = xstrdup(config ? config : ""),
        .size = (uint64_t)json_integer_value(json_object_get(rec, "size")),
        .created = (int64_t)json_integer_value(json_object_get(rec, "created")),
    };
    return 0;
}

static int summary_cmp(const void *a, const void *b)
{
    return strcmp(((const struct image_summary *)a)->name, ((const struct image_summary *)b)->name);
}

ssize_t image_store_list(struct image_store *s, struct image_summary **out, struct k8c_err **err)
{
    struct list_ctx c = {0};
    if (records_each(s, list_fn, &c, err) < 0) {
        image_summaries_free(c.rows, c.n);
        return -1;
    }
    if (c.n > 0)
        qsort(c.rows, c.n, sizeof(*c.rows), summary_cmp);
    *out = c.rows;
    return (ssize_t)c.n;
}

void image_summaries_free(struct image_summary *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].digest);
        free(rows[i].config_digest);
    }
    free(rows);
}

/* ---- garbage collection ----------------------------------------------------------------- */

static int mark_fn(json_t *rec, const char *path, void *opaque)
{
    (void)path;
    json_t *keep = opaque;
    const char *keys[] = {"digest", "config", "index"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *d = json_string_value(json_object_get(rec, keys[i]));
        if (d && image__digest_valid(d))
            json_object_set_new(keep, image__digest_hex(d), json_true());
    }
    size_t i;
    json_t *l;
    json_array_foreach (json_object_get(rec, "layers"), i, l) {
        const char *d = json_string_value(json_object_get(l, "digest"));
        const char *id = json_string_value(json_object_get(l, "diffId"));
        if (d && image__digest_valid(d))
            json_object_set_new(keep, image__digest_hex(d), json_true());
        if (id && image__digest_valid(id))
            json_object_set_new(keep, image__digest_hex(id), json_true());
    }
    return 0;
}

/* Removes every entry of dir whose name is not in keep (keep NULL: everything). */
static int sweep(const char *dir, json_t *keep, uint64_t *freed, struct k8c_err **err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : k8c_err_errno(err, "open `%s`", dir);
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (keep != NULL && json_object_get(keep, de->d_name) != NULL)
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if (remove_tree(path, err) < 0) {
            closedir(d);
            return -1;
        }
        if (freed && S_ISREG(st.st_mode))
            *freed += (uint64_t)st.st_size;
        removed++;
    }
    closedir(d);
    return removed;
}

static int collect(struct image_store *s, uint64_t *freed, bool partials, struct k8c_err **err)
{
    _cleanup_close_ int lock = image__store_lock(s, true, err);
    if (lock < 0)
        return -1;
    _cleanup_json_ json_t *keep = json_object();
    if (records_each(s, mark_fn, keep, err) < 0)
        return -1;
    uint64_t bytes = 0;
    int total = 0, n;
    if ((n = sweep(s->blobs, keep, &bytes, err)) < 0)
        return -1;
    total += n;
    if ((n = sweep(s->layers, keep, NULL, err)) < 0)
        return -1;
    total += n;
    if (partials) { /* the exclusive lock means no pull or import is using these */
        if ((n = sweep(s->ingest, NULL, &bytes, err)) < 0)
            return -1;
        total += n;
        if ((n = sweep(s->tmp, NULL, NULL, err)) < 0)
            return -1;
        total += n;
    }
    if (freed)
        *freed = bytes;
    return total;
}

int image_store_prune(struct image_store *s, uint64_t *freed_bytes, struct k8c_err **err)
{
    return collect(s, freed_bytes, true, err);
}

int image_store_remove(struct image_store *s, const char *ref, struct k8c_err **err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_json_ json_t *rec = record_find(s, ref, &path, err);
    if (rec == NULL)
        return -1;
    if (unlink(path) < 0)
        return k8c_err_errno(err, "remove image record `%s`", path);
    if (file_fsync_dir(s->records, err) < 0)
        return -1;
    /* Partial downloads are kept: another pull may be resuming them. */
    return collect(s, NULL, false, err) < 0 ? -1 : 0;
}
