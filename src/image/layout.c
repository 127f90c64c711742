/* Air-gapped transfer: import OCI image layouts (a directory or a tar) and `docker save`
 * archives into the store; export one image as an OCI layout tar. Every blob is verified
 * against its digest on the way in; names come from the layout's annotations, docker-save's
 * RepoTags, or the caller. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "image/internal.h"

#define COPY_BLOCK (256 * 1024)

/* Where the blobs of an import come from: a directory, or a tar already streamed into the
 * store (name -> digest, with symlinks resolved at lookup). */
struct source {
    struct image_store *store;
    const char *path;
    bool is_dir;
    json_t *names; /* tar: entry name -> digest */
    json_t *links; /* tar: symlink name -> target name */
    json_t *small; /* tar: index.json, manifest.json, oci-layout -> their text */
};

/* Streams fd into a new blob, hashing as it goes. Returns 0 and the digest, or -1. */
static int store_stream(struct image_store *s, int fd, struct archive *a, const char *what,
                        char digest[IMAGE_DIGEST_LEN + 1], struct k8c_err **err)
{
    _cleanup_free_ char *tmp = xasprintf("%s/import-XXXXXX", s->ingest);
    _cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0)
        return k8c_err_errno(err, "create a temporary file in `%s`", s->ingest);
    struct image__sha256 h;
    image__sha256_init(&h);
    _cleanup_free_ char *block = xmalloc(COPY_BLOCK);
    int rc = 0;
    for (;;) {
        ssize_t n = a ? archive_read_data(a, block, COPY_BLOCK) : read(fd, block, COPY_BLOCK);
        if (n < 0 && a == NULL && errno == EINTR)
            continue;
        if (n < 0) {
            rc = a ? k8c_err_set(err, 0, K8C_REASON_INVALID, "read `%s`: %s", what,
                                 archive_error_string(a))
                   : k8c_err_errno(err, "read `%s`", what);
            break;
        }
        if (n == 0)
            break;
        image__sha256_update(&h, block, (size_t)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, block + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = k8c_err_errno(err, "write `%s`", tmp);
                break;
            }
            off += w;
        }
        if (rc < 0)
            break;
    }
    image__sha256_final(&h, digest);
    if (rc == 0 && fsync(out) < 0)
        rc = k8c_err_errno(err, "fsync `%s`", tmp);
    if (rc == 0 && !image__blob_exists(s, digest))
        return image__blob_commit(s, tmp, digest, err);
    unlink(tmp);
    return rc;
}

/* "./a//b" -> "a/b" (caller frees). */
static char *norm_name(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    while (*n == '/')
        n++;
    struct buf b = BUF_INIT;
    for (const char *p = n; *p; p++)
        if (!(*p == '/' && (p[1] == '/' || p[1] == '\0')))
            buf_append_char(&b, *p);
    return buf_steal(&b);
}

static bool is_small(const char *name)
{
    return strcmp(name, "index.json") == 0 || strcmp(name, "manifest.json") == 0 ||
           strcmp(name, "oci-layout") == 0;
}

static int read_tar(struct source *src, struct k8c_err **err)
{
    if (image__archive_load(err) < 0)
        return -1;
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    int rc = 0;
    if (archive_read_open_filename(a, src->path, COPY_BLOCK) != ARCHIVE_OK) {
        rc = k8c_err_set(err, errno, K8C_REASON_INVALID, "open `%s`: %s", src->path,
                         archive_error_string(a));
        archive_read_free(a);
        return rc;
    }
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = k8c_err_set(err, 0, K8C_REASON_INVALID, "`%s`: not a readable tar: %s", src->path,
                             archive_error_string(a));
            break;
        }
        const char *raw = archive_entry_pathname(e);
        if (raw == NULL)
            continue;
        _cleanup_free_ char *name = norm_name(raw);
        if (archive_entry_filetype(e) == AE_IFLNK) {
            const char *t = archive_entry_symlink(e);
            if (t == NULL)
                continue;
            /* Relative to the link's directory, as docker save writes them. */
            const char *slash = strrchr(name, '/');
            _cleanup_free_ char *joined =
                slash ? xasprintf("%.*s/%s", (int)(slash - name), name, t) : xstrdup(t);
            /* collapse "dir/../x" */
            struct buf b = BUF_INIT;
            char *save = NULL;
            json_t *parts = json_array();
            for (char *tok = strtok_r(joined, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                if (strcmp(tok, "..") == 0) {
                    if (json_array_size(parts) > 0)
                        json_array_remove(parts, json_array_size(parts) - 1);
                } else if (strcmp(tok, ".") != 0) {
                    json_array_append_new(parts, json_string(tok));
                }
            }
            size_t i;
            json_t *part;
            json_array_foreach (parts, i, part) {
                buf_appendf(&b, "%s%s", i ? "/" : "", json_string_value(part));
            }
            json_decref(parts);
            char *target = buf_steal(&b);
            json_object_set_new(src->links, name, json_string(target));
            free(target);
            continue;
        }
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        if (is_small(name)) {
            if (archive_entry_size(e) > IMAGE_MANIFEST_MAX) {
                rc = k8c_err_set(err, 0, K8C_REASON_TOO_LARGE, "`%s` in `%s` is too large", name,
                                 src->path);
                break;
            }
            struct buf b = BUF_INIT;
            char chunk[8192];
            la_ssize_t n;
            while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0 &&
                   b.len <= IMAGE_MANIFEST_MAX)
                buf_append(&b, chunk, (size_t)n);
            char *text = buf_steal(&b);
            json_object_set_new(src->small, name, json_string(text));
            free(text);
            continue;
        }
        char digest[IMAGE_DIGEST_LEN + 1];
        if (store_stream(src->store, -1, a, name, digest, err) < 0) {
            rc = -1;
            break;
        }
        if (strncmp(name, "blobs/sha256/", 13) == 0 && strcmp(name + 13, digest + 7) != 0) {
            rc = k8c_err_set(err, 0, K8C_REASON_INVALID,
                             "`%s` in `%s`: digest mismatch: its content hashes to %s", name,
                             src->path, digest);
            break;
        }
        json_object_set_new(src->names, name, json_string(digest));
    }
    archive_read_free(a);
    return rc;
}

/* The text of index.json / manifest.json / oci-layout, or NULL when absent (caller frees). */
static char *source_small(struct source *src, const char *name, size_t *len, struct k8c_err **err)
{
    if (!src->is_dir) {
        const char *t = json_string_value(json_object_get(src->small, name));
        if (t == NULL)
            return NULL;
        *len = strlen(t);
        return xstrdup(t);
    }
    _cleanup_free_ char *p = xasprintf("%s/%s", src->path, name);
    struct k8c_err *e = NULL;
    char *data = file_read_all(p, IMAGE_MANIFEST_MAX, len, &e);
    if (data == NULL && e->errnum != ENOENT)
        image__err_pass(err, e);
    else
        k8c_err_free(e);
    return data;
}

/* Makes the file `name` of the source a store blob. Returns 0 with its digest, or -1. */
static int source_blob(struct source *src, const char *name, char digest[IMAGE_DIGEST_LEN + 1],
                       struct k8c_err **err)
{
    _cleanup_free_ char *n = norm_name(name);
    if (strstr(n, "..") != NULL)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "`%s` in `%s`: path leaves the archive",
                           name, src->path);
    if (!src->is_dir) {
        const char *cur = n;
        for (int hops = 0; hops < 8; hops++) {
            const char *d = json_string_value(json_object_get(src->names, cur));
            if (d != NULL) {
                memcpy(digest, d, IMAGE_DIGEST_LEN + 1);
                return 0;
            }
            cur = json_string_value(json_object_get(src->links, cur));
            if (cur == NULL)
                break;
        }
        return k8c_err_set(err, ENOENT, K8C_REASON_NOT_FOUND, "`%s` is missing from `%s`", name,
                           src->path);
    }
    _cleanup_free_ char *p = xasprintf("%s/%s", src->path, n);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return k8c_err_errno(err, "open `%s`", p);
    if (store_stream(src->store, fd, NULL, p, digest, err) < 0)
        return -1;
    if (strncmp(n, "blobs/sha256/", 13) == 0 && strcmp(n + 13, digest + 7) != 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "`%s`: digest mismatch: its content hashes to %s", p, digest);
    return 0;
}

/* Ensures the blob `digest` of an OCI layout is in the store. */
static int source_oci_blob(struct source *src, const char *digest, struct k8c_err **err)
{
    if (image__blob_exists(src->store, digest))
        return 0;
    _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", image__digest_hex(digest));
    char got[IMAGE_DIGEST_LEN + 1];
    return source_blob(src, name, got, err);
}

static void add_name(char ***names, size_t *n, const char *name)
{
    *names = xrealloc(*names, (*n + 2) * sizeof(char *));
    (*names)[(*n)++] = xstrdup(name);
    (*names)[*n] = NULL;
}

/* The record name for an imported image: ref_name (the caller's) wins, taking `tag` when it
 * has none of its own; then the full name annotation; then a full-reference ref.name. */
static char *import_name(const char *ref_name, const char *image_name, const char *tag,
                         const char *where, struct k8c_err **err)
{
    _cleanup_free_ char *text = NULL;
    if (ref_name != NULL) {
        const char *last = strrchr(ref_name, '/');
        bool has_tag = strchr(last ? last : ref_name, ':') || strchr(ref_name, '@');
        text = has_tag || tag == NULL ? xstrdup(ref_name) : xasprintf("%s:%s", ref_name, tag);
    } else if (image_name != NULL) {
        text = xstrdup(image_name);
    } else if (tag != NULL && (strchr(tag, '/') || strchr(tag, '@'))) {
        text = xstrdup(tag);
    } else {
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "%s has no image name%s%s%s: give one with --ref", where,
                           tag ? " (only the tag `" : "", tag ? tag : "", tag ? "`)" : ""),
               NULL;
    }
    struct image_ref r;
    if (image_ref_parse(text, &r, err) < 0)
        return NULL;
    char *name = image__record_name(&r);
    image_ref_clear(&r);
    return name;
}

static int import_oci(struct source *src, const char *index_text, size_t len, const char *ref_name,
                      char ***names, size_t *n_names, struct k8c_err **err)
{
    struct image__manifest idx;
    if (image__manifest_parse(index_text, len, NULL, &idx, err) < 0)
        return k8c_err_wrap(err, "`%s`: index.json", src->path);
    int rc = 0;
    if (idx.kind != IMAGE_MANIFEST_INDEX) {
        rc = k8c_err_set(err, 0, K8C_REASON_INVALID, "`%s`: index.json is not an image index",
                         src->path);
        goto out;
    }
    for (size_t i = 0; i < idx.n && rc == 0; i++) {
        const struct image__descriptor *d = &idx.items[i];
        char digest[IMAGE_DIGEST_LEN + 1];
        memcpy(digest, d->digest, sizeof(digest));
        struct image__manifest m = {0};
        for (int depth = 0; rc == 0; depth++) {
            size_t mlen = 0;
            _cleanup_free_ char *mdata = NULL;
            if (source_oci_blob(src, digest, err) < 0 ||
                (mdata = image__blob_read(src->store, digest, IMAGE_MANIFEST_MAX, &mlen, err)) ==
                    NULL ||
                image__manifest_parse(mdata, mlen, NULL, &m, err) < 0) {
                rc = -1;
                break;
            }
            if (m.kind == IMAGE_MANIFEST_IMAGE)
                break;
            int sel = depth < 2 ? image__index_select(&m, NULL, err) : -1;
            if (sel < 0) {
                rc = -1;
                break;
            }
            memcpy(digest, m.items[sel].digest, sizeof(digest));
            image__manifest_clear(&m);
        }
        if (rc == 0 && source_oci_blob(src, m.config.digest, err) < 0)
            rc = -1;
        for (size_t l = 0; rc == 0 && l < m.n; l++)
            if (source_oci_blob(src, m.items[l].digest, err) < 0)
                rc = -1;
        image__manifest_clear(&m);
        if (rc < 0)
            break;
        _cleanup_free_ char *where = xasprintf("`%s` manifests[%zu]", src->path, i);
        _cleanup_free_ char *name = import_name(ref_name, d->image_name, d->ref_name, where, err);
        if (name == NULL || image__store_commit(src->store, name, digest, err) < 0) {
            rc = -1;
            break;
        }
        add_name(names, n_names, name);
    }
out:
    image__manifest_clear(&idx);
    return rc;
}

static bool blob_is_gzip(struct image_store *s, const char *digest)
{
    _cleanup_free_ char *p = image__blob_path(s, digest);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    unsigned char magic[2] = {0};
    return fd >= 0 && read(fd, magic, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

static int import_docker(struct source *src, const char *text, size_t len, const char *ref_name,
                         char ***names, size_t *n_names, struct k8c_err **err)
{
    _cleanup_json_ json_t *root = kjson_parse(text, len, err);
    if (root == NULL)
        return k8c_err_wrap(err, "`%s`: manifest.json", src->path);
    if (!json_is_array(root))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "`%s`: manifest.json must be an array",
                           src->path);
    size_t i;
    json_t *img;
    json_array_foreach (root, i, img) {
        const char *config = json_string_value(json_object_get(img, "Config"));
        json_t *layers = json_object_get(img, "Layers");
        if (config == NULL || !json_is_array(layers) || json_array_size(layers) == 0 ||
            json_array_size(layers) > IMAGE_MAX_LAYERS)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "`%s`: manifest.json[%zu] needs Config and Layers", src->path, i);
        char cdigest[IMAGE_DIGEST_LEN + 1];
        if (source_blob(src, config, cdigest, err) < 0)
            return -1;
        _cleanup_free_ char *cpath = image__blob_path(src->store, cdigest);
        struct stat st;
        if (stat(cpath, &st) < 0)
            return k8c_err_errno(err, "stat `%s`", cpath);
        json_t *ldesc = json_array();
        _cleanup_json_ json_t *manifest =
            json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
                      IMAGE_MT_DOCKER_MANIFEST, "config", "mediaType", IMAGE_MT_DOCKER_CONFIG,
                      "digest", cdigest, "size", (json_int_t)st.st_size, "layers", ldesc);
        size_t l;
        json_t *lname;
        json_array_foreach (layers, l, lname) {
            const char *ln = json_string_value(lname);
            char ldigest[IMAGE_DIGEST_LEN + 1];
            if (ln == NULL || source_blob(src, ln, ldigest, err) < 0)
                return ln ? -1
                          : k8c_err_set(err, 0, K8C_REASON_INVALID,
                                        "`%s`: manifest.json[%zu].Layers[%zu] must be a string",
                                        src->path, i, l);
            _cleanup_free_ char *lpath = image__blob_path(src->store, ldigest);
            if (stat(lpath, &st) < 0)
                return k8c_err_errno(err, "stat `%s`", lpath);
            json_array_append_new(ldesc,
                                  json_pack("{s:s,s:s,s:I}", "mediaType",
                                            blob_is_gzip(src->store, ldigest)
                                                ? IMAGE_MT_DOCKER_LAYER
                                                : "application/vnd.docker.image.rootfs.diff.tar",
                                            "digest", ldigest, "size", (json_int_t)st.st_size));
        }
        _cleanup_free_ char *mtext = kjson_dumps(manifest);
        char mdigest[IMAGE_DIGEST_LEN + 1];
        if (image__blob_put(src->store, NULL, mtext, strlen(mtext), mdigest, err) < 0)
            return -1;
        json_t *tags = json_object_get(img, "RepoTags");
        size_t t, n_tags = ref_name ? 0 : json_array_size(tags);
        for (t = 0; t < (n_tags ? n_tags : 1); t++) {
            const char *tag = json_string_value(json_array_get(tags, t));
            _cleanup_free_ char *where = xasprintf("`%s` manifest.json[%zu]", src->path, i);
            _cleanup_free_ char *name =
                import_name(ref_name, ref_name ? NULL : tag, NULL, where, err);
            if (name == NULL || image__store_commit(src->store, name, mdigest, err) < 0)
                return -1;
            add_name(names, n_names, name);
        }
    }
    return 0;
}

int image_import(struct image_store *store, const char *path, const char *ref_name,
                 char ***names_out, struct k8c_err **err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return k8c_err_set(err, errno, errno == ENOENT ? K8C_REASON_NOT_FOUND : K8C_REASON_INTERNAL,
                           "import `%s`", path);
    _cleanup_close_ int lock = image__store_lock(store, false, err);
    if (lock < 0)
        return -1;
    struct source src = {.store = store, .path = path, .is_dir = S_ISDIR(st.st_mode)};
    src.names = json_object();
    src.links = json_object();
    src.small = json_object();
    char **names = NULL;
    size_t n = 0;
    int rc = src.is_dir ? 0 : read_tar(&src, err);
    size_t len = 0;
    _cleanup_free_ char *index = NULL;
    _cleanup_free_ char *docker = NULL;
    if (rc == 0) {
        struct k8c_err *e = NULL;
        index = source_small(&src, "index.json", &len, &e);
        if (index == NULL && e == NULL)
            docker = source_small(&src, "manifest.json", &len, &e);
        if (e != NULL) {
            image__err_pass(err, e);
            rc = -1;
        } else if (index != NULL) {
            rc = import_oci(&src, index, len, ref_name, &names, &n, err);
        } else if (docker != NULL) {
            rc = import_docker(&src, docker, len, ref_name, &names, &n, err);
        } else {
            rc = k8c_err_set(err, 0, K8C_REASON_INVALID,
                             "`%s` is neither an OCI layout (no index.json) nor a docker save "
                             "archive (no manifest.json)",
                             path);
        }
    }
    json_decref(src.names);
    json_decref(src.links);
    json_decref(src.small);
    if (rc < 0) {
        mem_free_strv(&names);
        return k8c_err_wrap(err, "import `%s`", path);
    }
    if (n == 0) {
        mem_free_strv(&names);
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "import `%s`: no images in it", path);
    }
    if (names_out)
        *names_out = names;
    else
        mem_free_strv(&names);
    return (int)n;
}

/* ---- export ----------------------------------------------------------------------------- */

static int write_entry(struct archive *a, const char *name, const void *data, size_t len, int fd,
                       uint64_t size, struct k8c_err **err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, fd >= 0 ? (la_int64_t)size : (la_int64_t)len);
    int rc = 0;
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        rc = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "write `%s`: %s", name,
                         archive_error_string(a));
    } else if (fd < 0) {
        if (archive_write_data(a, data, len) != (la_ssize_t)len)
            rc = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "write `%s`: %s", name,
                             archive_error_string(a));
    } else {
        _cleanup_free_ char *block = xmalloc(COPY_BLOCK);
        ssize_t n;
        while (rc == 0 && (n = read(fd, block, COPY_BLOCK)) > 0)
            if (archive_write_data(a, block, (size_t)n) != n)
                rc = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "write `%s`: %s", name,
                                 archive_error_string(a));
    }
    archive_entry_free(e);
    return rc;
}

static int write_blob(struct archive *a, struct image_store *s, const char *digest,
                      struct k8c_err **err)
{
    _cleanup_free_ char *p = image__blob_path(s, digest);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return k8c_err_errno(err, "open blob `%s`", digest);
    _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", image__digest_hex(digest));
    return write_entry(a, name, NULL, 0, fd, (uint64_t)st.st_size, err);
}

int image_export(struct image_store *store, const char *ref, const char *path, struct k8c_err **err)
{
    _cleanup_image_info_ struct image_info *info = image_store_get(store, ref, err);
    if (info == NULL)
        return -1;
    size_t mlen = 0;
    _cleanup_free_ char *mdata =
        image__blob_read(store, info->digest, IMAGE_MANIFEST_MAX, &mlen, err);
    if (mdata == NULL)
        return -1;
    struct image__manifest m;
    if (image__manifest_parse(mdata, mlen, NULL, &m, err) < 0)
        return -1;
    struct image_ref r;
    const char *tag = NULL;
    if (image_ref_parse(info->name, &r, NULL) == 0)
        tag = r.tag;
    json_t *ann = json_pack("{s:s}", "io.containerd.image.name", info->name);
    if (tag)
        json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(tag));
    _cleanup_json_ json_t *index =
        json_pack("{s:i,s:s,s:[{s:s,s:s,s:I,s:o}]}", "schemaVersion", 2, "mediaType",
                  IMAGE_MT_OCI_INDEX, "manifests", "mediaType", m.media_type, "digest",
                  info->digest, "size", (json_int_t)mlen, "annotations", ann);
    image_ref_clear(&r);
    _cleanup_free_ char *index_text = kjson_dumps(index);
    const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
    if (image__archive_load(err) < 0) {
        image__manifest_clear(&m);
        return -1;
    }
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        image__manifest_clear(&m);
        return k8c_err_errno(err, "create `%s`", tmp);
    }
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    int rc = 0;
    if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
        rc = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "write `%s`: %s", tmp,
                         archive_error_string(a));
    if (rc == 0)
        rc = write_entry(a, "oci-layout", layout, strlen(layout), -1, 0, err);
    if (rc == 0)
        rc = write_blob(a, store, info->digest, err);
    if (rc == 0)
        rc = write_blob(a, store, m.config.digest, err);
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        bool dup = false; /* a layer listed twice is one blob */
        for (size_t j = 0; j < i; j++)
            dup = dup || strcmp(m.items[j].digest, m.items[i].digest) == 0;
        if (!dup)
            rc = write_blob(a, store, m.items[i].digest, err);
    }
    if (rc == 0)
        rc = write_entry(a, "index.json", index_text, strlen(index_text), -1, 0, err);
    if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
        rc = k8c_err_set(err, 0, K8C_REASON_INTERNAL, "write `%s`: %s", tmp,
                         archive_error_string(a));
    archive_write_free(a);
    image__manifest_clear(&m);
    if (rc == 0 && fsync(fd) < 0)
        rc = k8c_err_errno(err, "fsync `%s`", tmp);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = k8c_err_errno(err, "rename `%s` to `%s`", tmp, path);
    if (rc < 0) {
        unlink(tmp);
        return k8c_err_wrap(err, "export `%s`", ref);
    }
    return 0;
}
