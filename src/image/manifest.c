/* Manifests, indexes and image configs: Docker v2 schema 2, OCI image manifest, Docker
 * manifest list and OCI image index, read from untrusted JSON with every field checked and
 * every error naming the field; platform selection from an index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "image/internal.h"

static const char *const layer_types[] = {
    IMAGE_MT_DOCKER_LAYER,
    "application/vnd.docker.image.rootfs.diff.tar",
    IMAGE_MT_OCI_LAYER,
    IMAGE_MT_OCI_LAYER_GZIP,
    IMAGE_MT_OCI_LAYER_ZSTD,
    /* Non-distributable layers carry the same content; k8c fetches them from the registry. */
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

bool image__layer_media_type_ok(const char *mt)
{
    for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++)
        if (strcmp(mt, layer_types[i]) == 0)
            return true;
    return false;
}

const char *image__host_arch(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    static const struct {
        const char *uname, *go;
    } map[] = {{"x86_64", "amd64"},    {"aarch64", "arm64"}, {"armv7l", "arm"},     {"i686", "386"},
               {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"}};
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strcmp(u.machine, map[i].uname) == 0)
            return map[i].go;
    return "amd64";
}

static void descriptor_clear(struct image__descriptor *d)
{
    free(d->media_type);
    free(d->platform.os);
    free(d->platform.architecture);
    free(d->platform.variant);
    free(d->ref_name);
    free(d->image_name);
    memset(d, 0, sizeof(*d));
}

void image__manifest_clear(struct image__manifest *m)
{
    free(m->media_type);
    descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n; i++)
        descriptor_clear(&m->items[i]);
    free(m->items);
    memset(m, 0, sizeof(*m));
}

static const char *opt_string(json_t *obj, const char *key, const char *field, bool *bad,
                              struct k8c_err **err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        k8c_err_set(err, 0, K8C_REASON_INVALID, "%s.%s: must be a string", field, key);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static int descriptor_parse(json_t *v, const char *field, bool index_entry,
                            struct image__descriptor *d, struct k8c_err **err)
{
    memset(d, 0, sizeof(*d));
    if (!json_is_object(v))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "%s: must be an object", field);
    bool bad = false;
    const char *mt = opt_string(v, "mediaType", field, &bad, err);
    const char *digest = opt_string(v, "digest", field, &bad, err);
    if (bad)
        return -1;
    if (digest == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "%s.digest: required", field);
    if (!image__digest_valid(digest))
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "%s.digest: `%.80s` is not a sha256 digest (sha256:<64 hex>)", field,
                           digest);
    json_t *size = json_object_get(v, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        (uint64_t)json_integer_value(size) > IMAGE_BLOB_MAX)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "%s.size: required, a non-negative integer up to 64 GiB", field);
    d->media_type = xstrdup(mt ? mt : "");
    memcpy(d->digest, digest, IMAGE_DIGEST_LEN + 1);
    d->size = (uint64_t)json_integer_value(size);
    json_t *ann = json_object_get(v, "annotations");
    if (json_is_object(ann)) {
        const char *rn =
            json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
        const char *in = json_string_value(json_object_get(ann, "io.containerd.image.name"));
        d->ref_name = rn ? xstrdup(rn) : NULL;
        d->image_name = in ? xstrdup(in) : NULL;
    }
    if (!index_entry)
        return 0;
    json_t *p = json_object_get(v, "platform");
    if (p == NULL)
        return 0;
    if (!json_is_object(p))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "%s.platform: must be an object", field);
    _cleanup_free_ char *pf = xasprintf("%s.platform", field);
    const char *os = opt_string(p, "os", pf, &bad, err);
    const char *arch = opt_string(p, "architecture", pf, &bad, err);
    const char *variant = opt_string(p, "variant", pf, &bad, err);
    if (bad)
        return -1;
    if (os == NULL || arch == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "%s: os and architecture are required", pf);
    d->platform.os = xstrdup(os);
    d->platform.architecture = xstrdup(arch);
    d->platform.variant = variant ? xstrdup(variant) : NULL;
    return 0;
}

int image__manifest_parse(const char *data, size_t len, const char *content_type,
                          struct image__manifest *m, struct k8c_err **err)
{
    memset(m, 0, sizeof(*m));
    if (len > IMAGE_MANIFEST_MAX)
        return k8c_err_set(err, 0, K8C_REASON_TOO_LARGE, "manifest: larger than %u bytes",
                           IMAGE_MANIFEST_MAX);
    _cleanup_json_ json_t *root = kjson_parse(data, len, err);
    if (root == NULL)
        return k8c_err_wrap(err, "manifest");
    if (!json_is_object(root))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "manifest: must be a JSON object");
    json_t *sv = json_object_get(root, "schemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                           "manifest: schemaVersion must be 2 (schema 1 manifests are not "
                           "supported)");
    bool bad = false;
    const char *mt = opt_string(root, "mediaType", "manifest", &bad, err);
    if (bad)
        return -1;
    if (mt == NULL && content_type != NULL && *content_type != '\0' &&
        strcmp(content_type, "application/json") != 0)
        mt = content_type;
    if (mt == NULL) /* OCI allows omitting it: infer from the shape. */
        mt = json_object_get(root, "manifests") ? IMAGE_MT_OCI_INDEX : IMAGE_MT_OCI_MANIFEST;
    const char *list_key = NULL;
    if (strcmp(mt, IMAGE_MT_DOCKER_MANIFEST) == 0 || strcmp(mt, IMAGE_MT_OCI_MANIFEST) == 0) {
        m->kind = IMAGE_MANIFEST_IMAGE;
        list_key = "layers";
    } else if (strcmp(mt, IMAGE_MT_DOCKER_LIST) == 0 || strcmp(mt, IMAGE_MT_OCI_INDEX) == 0) {
        m->kind = IMAGE_MANIFEST_INDEX;
        list_key = "manifests";
    } else {
        return k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                           "manifest: unsupported media type `%.200s`", mt);
    }
    m->media_type = xstrdup(mt);
    if (m->kind == IMAGE_MANIFEST_IMAGE) {
        if (descriptor_parse(json_object_get(root, "config"), "config", false, &m->config, err) <
            0) {
            image__manifest_clear(m);
            return -1;
        }
    }
    json_t *list = json_object_get(root, list_key);
    if (!json_is_array(list)) {
        image__manifest_clear(m);
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "manifest.%s: required, an array", list_key);
    }
    size_t n = json_array_size(list);
    if (n > IMAGE_MAX_LAYERS) {
        image__manifest_clear(m);
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "manifest.%s: more than %d entries",
                           list_key, IMAGE_MAX_LAYERS);
    }
    m->items = xcalloc(n ? n : 1, sizeof(*m->items));
    for (size_t i = 0; i < n; i++) {
        char field[64];
        snprintf(field, sizeof(field), "%s[%zu]", list_key, i);
        m->n = i + 1; /* so that clearing frees what a failed parse of this item allocated */
        if (descriptor_parse(json_array_get(list, i), field, m->kind == IMAGE_MANIFEST_INDEX,
                             &m->items[i], err) < 0) {
            image__manifest_clear(m);
            return -1;
        }
        if (m->kind == IMAGE_MANIFEST_IMAGE &&
            !image__layer_media_type_ok(m->items[i].media_type)) {
            k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                        "manifest.%s.mediaType: unsupported layer media type `%.200s`", field,
                        m->items[i].media_type);
            image__manifest_clear(m);
            return -1;
        }
    }
    if (m->kind == IMAGE_MANIFEST_IMAGE && n == 0) {
        image__manifest_clear(m);
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "manifest.layers: no layers");
    }
    return 0;
}

int image__index_select(const struct image__manifest *m, const char *platform, struct k8c_err **err)
{
    K8C_ASSERT(m->kind == IMAGE_MANIFEST_INDEX);
    _cleanup_free_ char *want = xstrdup(platform ? platform : "");
    const char *os = "linux", *arch = image__host_arch(), *variant = NULL;
    if (platform != NULL) {
        char *save = NULL;
        os = strtok_r(want, "/", &save);
        arch = os ? strtok_r(NULL, "/", &save) : NULL;
        variant = arch ? strtok_r(NULL, "/", &save) : NULL;
        if (os == NULL || arch == NULL)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "invalid platform `%s`: want os/arch[/variant]", platform);
    }
    int best = -1;
    for (size_t i = 0; i < m->n; i++) {
        const struct image__platform *p = &m->items[i].platform;
        if (p->os == NULL || strcmp(p->os, os) != 0 || strcmp(p->architecture, arch) != 0)
            continue;
        if (variant != NULL && (p->variant == NULL || strcmp(p->variant, variant) != 0))
            continue;
        if (best < 0)
            best = (int)i;
    }
    if (best >= 0)
        return best;
    struct buf have = BUF_INIT;
    for (size_t i = 0; i < m->n; i++) {
        const struct image__platform *p = &m->items[i].platform;
        if (p->os == NULL)
            continue;
        buf_appendf(&have, "%s%s/%s%s%s", have.len ? ", " : "", p->os, p->architecture,
                    p->variant ? "/" : "", p->variant ? p->variant : "");
    }
    k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "no manifest for platform %s/%s%s%s (index has: %s)",
                os, arch, variant ? "/" : "", variant ? variant : "",
                have.len ? have.data : "none");
    buf_free(&have);
    return -1;
}

static char **string_array(json_t *v, const char *field, struct k8c_err **err, bool *bad)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_array(v) || json_array_size(v) > 65536) {
        *bad = true;
        k8c_err_set(err, 0, K8C_REASON_INVALID, "image config: %s must be an array of strings",
                    field);
        return NULL;
    }
    size_t n = json_array_size(v);
    char **out = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (s == NULL) {
            *bad = true;
            k8c_err_set(err, 0, K8C_REASON_INVALID, "image config: %s[%zu] must be a string", field,
                        i);
            char **tmp = out;
            mem_free_strv(&tmp);
            return NULL;
        }
        out[i] = xstrdup(s);
    }
    return out;
}

void image__config_clear(struct image_config *cfg)
{
    mem_free_strv(&cfg->entrypoint);
    mem_free_strv(&cfg->cmd);
    mem_free_strv(&cfg->env);
    free(cfg->working_dir);
    free(cfg->user);
    free(cfg->os);
    free(cfg->architecture);
    memset(cfg, 0, sizeof(*cfg));
}

int image__config_parse(const char *data, size_t len, struct image_config *cfg, char ***diff_ids,
                        struct k8c_err **err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (diff_ids)
        *diff_ids = NULL;
    if (len > IMAGE_MANIFEST_MAX)
        return k8c_err_set(err, 0, K8C_REASON_TOO_LARGE, "image config: larger than %u bytes",
                           IMAGE_MANIFEST_MAX);
    _cleanup_json_ json_t *root = kjson_parse(data, len, err);
    if (root == NULL)
        return k8c_err_wrap(err, "image config");
    if (!json_is_object(root))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "image config: must be a JSON object");
    bool bad = false;
    json_t *c = json_object_get(root, "config");
    if (c != NULL && !json_is_null(c) && !json_is_object(c))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "image config: config must be an object");
    if (json_is_object(c)) {
        cfg->entrypoint =
            string_array(json_object_get(c, "Entrypoint"), "config.Entrypoint", err, &bad);
        cfg->cmd = string_array(json_object_get(c, "Cmd"), "config.Cmd", err, &bad);
        cfg->env = string_array(json_object_get(c, "Env"), "config.Env", err, &bad);
        const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
        const char *user = json_string_value(json_object_get(c, "User"));
        cfg->working_dir = wd && *wd ? xstrdup(wd) : NULL;
        cfg->user = user && *user ? xstrdup(user) : NULL;
    }
    const char *os = json_string_value(json_object_get(root, "os"));
    const char *arch = json_string_value(json_object_get(root, "architecture"));
    cfg->os = xstrdup(os ? os : "linux");
    cfg->architecture = xstrdup(arch ? arch : "");
    if (bad) {
        image__config_clear(cfg);
        return -1;
    }
    if (diff_ids == NULL)
        return 0;
    json_t *ids = kjson_path(root, "rootfs.diff_ids");
    char **out = string_array(ids, "rootfs.diff_ids", err, &bad);
    if (bad || out == NULL) {
        image__config_clear(cfg);
        if (!bad)
            k8c_err_set(err, 0, K8C_REASON_INVALID, "image config: rootfs.diff_ids: required");
        return -1;
    }
    for (size_t i = 0; out[i]; i++) {
        if (!image__digest_valid(out[i])) {
            k8c_err_set(err, 0, K8C_REASON_INVALID,
                        "image config: rootfs.diff_ids[%zu]: `%.80s` is not a sha256 digest", i,
                        out[i]);
            mem_free_strv(&out);
            image__config_clear(cfg);
            return -1;
        }
    }
    *diff_ids = out;
    return 0;
}
