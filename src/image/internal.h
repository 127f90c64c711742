/* Shared inside src/image: digests, manifest parsing, the store's blob and layer primitives,
 * layer unpacking and the registry client. Not for other modules (use image.h). */
#ifndef K8C_IMAGE_INTERNAL_H
#define K8C_IMAGE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "image/image.h"

/* Bounds on outside input, checked before anything is allocated. */
#define IMAGE_MANIFEST_MAX (4u << 20) /* manifests, indexes and configs */
#define IMAGE_MAX_LAYERS 256          /* Docker's limit is 127 */
#define IMAGE_BLOB_MAX (64ull << 30)  /* a single layer */
#define IMAGE_DIGEST_LEN (7 + 64)     /* "sha256:" + hex */

/* Hands the error e to the caller's err (freeing it when err is NULL). */
/* Opens libarchive (archive_lazy.c) before the first libarchive call: 0, or -1 when the
 * library cannot be loaded. */
int image__archive_load(struct k8c_err **err);

static inline void image__err_pass(struct k8c_err **err, struct k8c_err *e)
{
    if (err != NULL) {
        k8c_err_free(*err);
        *err = e;
    } else {
        k8c_err_free(e);
    }
}

/* ---- digests (digest.c) ----------------------------------------------------------------- */

/* Incremental sha256 over GnuTLS. */
struct image__sha256 {
    void *h; /* gnutls_hash_hd_t */
};
void image__sha256_init(struct image__sha256 *s);
void image__sha256_update(struct image__sha256 *s, const void *data, size_t len);
/* Writes "sha256:<hex>" (72 bytes with the NUL) and releases the state. */
void image__sha256_final(struct image__sha256 *s, char out[IMAGE_DIGEST_LEN + 1]);
/* Digest of a buffer, "sha256:<hex>" into out. */
void image__sha256_buf(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1]);
/* True when d is "sha256:" followed by exactly 64 lower-case hex digits. */
bool image__digest_valid(const char *d);
/* The hex part of a valid digest (borrowed from d). */
const char *image__digest_hex(const char *d);

/* ---- manifests (manifest.c) ------------------------------------------------------------- */

#define IMAGE_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMAGE_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMAGE_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMAGE_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IMAGE_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMAGE_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMAGE_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMAGE_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMAGE_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMAGE_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

/* The Accept header a registry gets for manifests. */
#define IMAGE_MANIFEST_ACCEPT                                                                      \
    IMAGE_MT_OCI_INDEX ", " IMAGE_MT_OCI_MANIFEST ", " IMAGE_MT_DOCKER_LIST                        \
                       ", " IMAGE_MT_DOCKER_MANIFEST

struct image__platform {
    char *os;
    char *architecture;
    char *variant; /* may be NULL */
};

struct image__descriptor {
    char *media_type;
    char digest[IMAGE_DIGEST_LEN + 1];
    uint64_t size;
    struct image__platform platform; /* index entries only; os NULL when absent */
    char *ref_name;                  /* annotation org.opencontainers.image.ref.name, or NULL */
    char *image_name;                /* annotation io.containerd.image.name, or NULL */
};

enum image__manifest_kind { IMAGE_MANIFEST_IMAGE = 1, IMAGE_MANIFEST_INDEX };

struct image__manifest {
    enum image__manifest_kind kind;
    char *media_type;
    struct image__descriptor config; /* IMAGE only */
    size_t n;                        /* layers (IMAGE) or manifests (INDEX) */
    struct image__descriptor *items;
};

/* Parses a manifest or index. content_type (may be NULL) is the registry's Content-Type,
 * used when the document has no mediaType. Returns 0, or -1 with *err (INVALID, or
 * UNSUPPORTED_MEDIA_TYPE for a media type k8c does not read). Caller clears *m. */
int image__manifest_parse(const char *data, size_t len, const char *content_type,
                          struct image__manifest *m, struct k8c_err **err);
void image__manifest_clear(struct image__manifest *m);

/* Picks the entry of index m for platform "os/arch[/variant]" (NULL: linux and this
 * machine's architecture). Returns its index, or -1 with *err naming the platforms there are. */
int image__index_select(const struct image__manifest *m, const char *platform,
                        struct k8c_err **err);
/* This machine's GOARCH-style architecture ("amd64", "arm64", …). Static string. */
const char *image__host_arch(void);

/* Parses an image config blob into cfg and its rootfs.diff_ids into *diff_ids (a new
 * NULL-terminated array, caller frees). Returns 0, or -1 with *err. */
int image__config_parse(const char *data, size_t len, struct image_config *cfg, char ***diff_ids,
                        struct k8c_err **err);
void image__config_clear(struct image_config *cfg);

/* True for the layer media types k8c unpacks. */
bool image__layer_media_type_ok(const char *mt);

/* ---- store primitives (store.c) --------------------------------------------------------- */

struct image_store {
    char *root;    /* <data-dir>/images */
    char *blobs;   /* root/blobs/sha256 */
    char *layers;  /* root/layers/sha256 */
    char *ingest;  /* root/ingest: partial downloads */
    char *records; /* root/records: one JSON file per name */
    char *tmp;     /* root/tmp: unpacks in progress */
    int lock_fd;   /* root/lock: shared by pulls/imports, exclusive for garbage collection */
};

/* Path of a blob in the store (caller frees). */
char *image__blob_path(const struct image_store *s, const char *digest);
/* Path of a layer directory, keyed by the layer's diff-id (caller frees). */
char *image__layer_path(const struct image_store *s, const char *diff_id);
bool image__blob_exists(const struct image_store *s, const char *digest);
/* Reads a blob of at most max bytes, verifying its digest. Caller frees. */
char *image__blob_read(const struct image_store *s, const char *digest, size_t max, size_t *len,
                       struct k8c_err **err);
/* Stores data as a blob after checking it hashes to digest (NULL: computed, written to
 * out_digest if non-NULL). Returns 0 or -1 with *err. */
int image__blob_put(const struct image_store *s, const char *digest, const void *data, size_t len,
                    char out_digest[IMAGE_DIGEST_LEN + 1], struct k8c_err **err);
/* Moves the complete file tmp_path into the store as digest's blob (rename; fsync'd). */
int image__blob_commit(const struct image_store *s, const char *tmp_path, const char *digest,
                       struct k8c_err **err);

/* Takes the store lock shared (pulls, imports) or exclusive (gc). Blocks. Returns an fd to
 * close to release it, or -1 with *err. */
int image__store_lock(const struct image_store *s, bool exclusive, struct k8c_err **err);
/* Takes an exclusive lock on root/locks/<name>. Returns an fd to close, or -1 with *err. */
int image__named_lock(const struct image_store *s, const char *name, struct k8c_err **err);

/* Makes sure the layer with diff_id is unpacked from blob `digest` (media type mt). Idempotent
 * and safe against concurrent callers. Returns 0, or -1 with *err naming the layer. */
int image__layer_ensure(const struct image_store *s, const char *digest, const char *mt,
                        const char *diff_id, struct k8c_err **err);

/* The record name for a parsed reference ("reg/repo:tag" or "reg/repo@digest"). Caller
 * frees. */
char *image__record_name(const struct image_ref *ref);

/* Given a stored manifest digest (an image manifest, whose config and layers are all stored
 * blobs), unpacks its layers and records it under `name`. Returns 0 or -1 with *err. */
int image__store_commit(struct image_store *s, const char *name, const char *manifest_digest,
                        struct k8c_err **err);

/* ---- unpacking (unpack.c) --------------------------------------------------------------- */

/* Unpacks the tar stream (plain, gzip or zstd; detected) in the file blob_fd into the empty
 * directory dir_fd, converting whiteouts to overlayfs form (.wh.NAME -> character device 0/0
 * NAME; .wh..wh..opq -> xattr trusted.overlay.opaque=y on its directory). Entries that would
 * land outside dir (absolute, `..`, through symlinks, hardlinks to outside) fail naming the
 * entry. The sha256 of the uncompressed stream is written to diff_id. Returns 0 or -1. */
int image__unpack_layer(int blob_fd, int dir_fd, char diff_id[IMAGE_DIGEST_LEN + 1],
                        struct k8c_err **err);

/* ---- registry client (registry.c) ------------------------------------------------------- */

struct image__registry;

/* A client for ref's registry and repository (borrowed ref fields are copied). */
struct image__registry *image__registry_new(const struct image_ref *ref,
                                            const struct image_pull_options *opts,
                                            struct k8c_err **err);
void image__registry_free(struct image__registry *r);

/* GETs the manifest for `reference` (tag or digest). Returns the body (caller frees) with
 * *len and *content_type (caller frees), or NULL with *err. */
char *image__registry_manifest(struct image__registry *r, const char *reference, size_t *len,
                               char **content_type, struct k8c_err **err);

/* Progress of one blob download, read by the progress display while it runs. */
enum image__stage {
    IMAGE_STAGE_WAITING = 0,
    IMAGE_STAGE_DOWNLOADING,
    IMAGE_STAGE_UNPACKING,
    IMAGE_STAGE_DONE,
    IMAGE_STAGE_FAILED
};
/* Fields are read and written with __atomic builtins (one writer, one reader). */
struct image__progress {
    uint64_t done;  /* bytes on disk */
    uint64_t total; /* expected size */
    int stage;      /* enum image__stage */
};

/* Downloads blob `digest` of `size` bytes into the store (resuming a partial download),
 * verifying its digest. Does nothing if the blob is stored. Returns 0 or -1 with *err. */
int image__registry_blob(struct image__registry *r, struct image_store *s, const char *digest,
                         uint64_t size, struct image__progress *progress, struct k8c_err **err);

#endif
