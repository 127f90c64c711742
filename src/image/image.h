/* Images: references, manifests, the content-addressed image store under <data-dir>/images,
 * registry pulls (distribution API v2), OCI layout / docker-save import and OCI export.
 *
 * The agent uses image_store_open, image_ensure (pull policy) and the image_info it returns:
 * the ordered layer directories (lowest first, usable as overlayfs lowerdirs) and the config
 * (entrypoint, cmd, env, working dir, user) to build a container's rootfs. Depends on base only. */
#ifndef K8C_IMAGE_IMAGE_H
#define K8C_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

/* ---- references ------------------------------------------------------------------------- */

/* A parsed image reference, normalized as Docker does: `busybox` is registry "docker.io",
 * repository "library/busybox", tag "latest". */
struct image_ref {
    char *registry;   /* "docker.io", "localhost:5000", "[::1]:5000" */
    char *repository; /* "library/busybox" */
    char *tag;        /* NULL when only a digest was given */
    char *digest;     /* "sha256:<64 hex>" or NULL */
};

/* Parses s. Returns 0, or -1 with *err (INVALID, naming what is wrong). On success the caller
 * owns ref's strings (image_ref_clear). */
int image_ref_parse(const char *s, struct image_ref *ref, struct k8c_err **err);
/* The canonical name: "docker.io/library/busybox:latest", "host/repo@sha256:…" or
 * "host/repo:tag@sha256:…". Caller frees. */
char *image_ref_string(const struct image_ref *ref);
/* "registry/repository" without tag or digest. Caller frees. */
char *image_ref_name(const struct image_ref *ref);
void image_ref_clear(struct image_ref *ref);

/* ---- image config ----------------------------------------------------------------------- */

/* What a container needs from the image config (the `config` object of an OCI image config). */
struct image_config {
    char **entrypoint; /* NULL-terminated, or NULL when unset */
    char **cmd;        /* NULL-terminated, or NULL when unset */
    char **env;        /* NULL-terminated "KEY=value", or NULL */
    char *working_dir; /* NULL when unset */
    char *user;        /* NULL when unset */
    char *os;
    char *architecture;
};

/* An image present in the store, ready for a container. */
struct image_info {
    char *name;          /* canonical reference it was stored under */
    char *digest;        /* manifest digest "sha256:…" */
    char *config_digest; /* the image id */
    uint64_t size;       /* compressed size of config + layers, as registries report */
    size_t n_layers;
    char **layer_dirs; /* absolute paths, lowest layer first (overlay lowerdir order reversed) */
    struct image_config config;
};

void image_info_free(struct image_info *info);
void image_info_freep(struct image_info **info);
#define _cleanup_image_info_ __attribute__((cleanup(image_info_freep)))

/* ---- store ------------------------------------------------------------------------------ */

struct image_store;

/* Opens (creating as needed) the image store under <data_dir>/images. Returns a new store the
 * caller closes with image_store_close, or NULL with *err. Safe to use from several processes
 * at once: blob writes, layer unpacks and records are locked or atomic. */
struct image_store *image_store_open(const char *data_dir, struct k8c_err **err);
void image_store_close(struct image_store *store);

/* Looks up ref (any form image_ref_parse accepts, or an image id / manifest digest prefix of
 * at least 12 hex digits). Returns a new image_info (caller frees), or NULL with *err
 * (NOT_FOUND when the store does not have it). */
struct image_info *image_store_get(struct image_store *store, const char *ref,
                                   struct k8c_err **err);

/* One row per stored name, for `ls` and for image garbage collection by the agent. */
struct image_summary {
    char *name;   /* "docker.io/library/busybox:latest" */
    char *digest; /* manifest digest */
    char *config_digest;
    uint64_t size;
    int64_t created; /* unix seconds when the record was written */
};
/* Lists every stored image into a new array (caller frees with image_summaries_free). Returns
 * the count, or -1 with *err. */
ssize_t image_store_list(struct image_store *store, struct image_summary **out,
                         struct k8c_err **err);
void image_summaries_free(struct image_summary *rows, size_t n);

/* Removes the name ref from the store, then every blob and layer no remaining image uses.
 * Returns 0, or -1 with *err (NOT_FOUND when ref is not stored). */
int image_store_remove(struct image_store *store, const char *ref, struct k8c_err **err);
/* Removes blobs, layer directories, partial downloads and temporary directories that no
 * image uses. *freed_bytes (may be NULL) gets the bytes of blobs removed. Returns the number
 * of items removed, or -1 with *err. */
int image_store_prune(struct image_store *store, uint64_t *freed_bytes, struct k8c_err **err);

/* ---- pulls ------------------------------------------------------------------------------ */

enum image_progress { IMAGE_PROGRESS_NONE = 0, IMAGE_PROGRESS_LOG, IMAGE_PROGRESS_BAR };

struct image_pull_options {
    const char *const *insecure_registries; /* "HOST:PORT" entries allowed over plain HTTP */
    size_t n_insecure;
    const char *auth_file;        /* docker config.json with `auths`; NULL: $DOCKER_CONFIG or ~ */
    int timeout_seconds;          /* a transfer stalled this long fails; 0: 60 seconds */
    const char *platform;         /* "os/arch[/variant]"; NULL: linux/<this machine> */
    enum image_progress progress; /* shown on stderr */
    int parallel;                 /* layers fetched at once; 0: 4 */
};

/* Pulls ref from its registry into the store: manifest (selecting the platform from an index),
 * config and every layer, each verified against its digest, layers unpacked once. Returns the
 * stored image (caller frees), or NULL with *err naming the image and the cause. */
struct image_info *image_pull(struct image_store *store, const char *ref,
                              const struct image_pull_options *opts, struct k8c_err **err);

enum image_pull_policy { IMAGE_PULL_ALWAYS = 0, IMAGE_PULL_IF_NOT_PRESENT, IMAGE_PULL_NEVER };

/* Parses "Always", "IfNotPresent", "Never" (Kubernetes' imagePullPolicy). Returns 0 or -1. */
int image_pull_policy_parse(const char *s, enum image_pull_policy *out);

/* Makes ref present per policy (Kubernetes' imagePullPolicy) and returns it as image_get does.
 * NEVER on a missing image fails with NOT_FOUND. Caller frees the result. */
struct image_info *image_ensure(struct image_store *store, const char *ref,
                                enum image_pull_policy policy,
                                const struct image_pull_options *opts, struct k8c_err **err);

/* ---- import / export -------------------------------------------------------------------- */

/* Imports every image of an OCI layout (directory or tar) or a `docker save` tar at path.
 * Images whose only name is a bare tag are stored as <ref_name>:<tag> (ref_name may be NULL:
 * then such an image is an error). Returns the number of images imported, or -1 with *err.
 * names (may be NULL) receives a NULL-terminated array of the stored names (caller frees). */
int image_import(struct image_store *store, const char *path, const char *ref_name, char ***names,
                 struct k8c_err **err);

/* Writes ref as an OCI layout tar at path (replaced atomically). Returns 0 or -1 with *err. */
int image_export(struct image_store *store, const char *ref, const char *path,
                 struct k8c_err **err);

/* `k8c image …`: the command line (src/image/cli.c). argv[0] is "image". */
int image_cli_main(int argc, char **argv);

#endif
