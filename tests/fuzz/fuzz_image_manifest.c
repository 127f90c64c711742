/* Fuzz target: manifests, indexes and image configs (src/image/manifest.c), the JSON a
 * registry or an imported archive hands us. Any input parses or fails with a message; an
 * index always answers platform selection one way or the other. */
#include <stdint.h>
#include <stdlib.h>

#include "base/mem.h"
#include "image/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct k8c_err *err = NULL;
    struct image__manifest m;
    const char *ctype = size % 2 ? IMAGE_MT_DOCKER_LIST : NULL;
    if (image__manifest_parse((const char *)data, size, ctype, &m, &err) < 0) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
        err = NULL;
    } else {
        K8C_ASSERT(m.kind == IMAGE_MANIFEST_IMAGE || m.kind == IMAGE_MANIFEST_INDEX);
        for (size_t i = 0; i < m.n; i++)
            K8C_ASSERT(image__digest_valid(m.items[i].digest));
        if (m.kind == IMAGE_MANIFEST_INDEX) {
            int i = image__index_select(&m, size % 3 ? "linux/amd64" : "linux/arm64/v8", &err);
            K8C_ASSERT(i >= 0 ? (size_t)i < m.n : err != NULL);
            k8c_err_free(err);
            err = NULL;
        }
        image__manifest_clear(&m);
    }
    struct image_config cfg;
    char **ids = NULL;
    if (image__config_parse((const char *)data, size, &cfg, &ids, &err) < 0) {
        K8C_ASSERT(err != NULL);
        k8c_err_free(err);
    } else {
        mem_free_strv(&ids);
        image__config_clear(&cfg);
    }
    return 0;
}
