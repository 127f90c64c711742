/* Fuzz target: image references (src/image/ref.c). Any input either parses into a reference
 * whose canonical string parses again to the same reference, or fails with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xstrndup((const char *)data, size);
    struct k8c_err *err = NULL;
    struct image_ref ref;
    if (image_ref_parse(s, &ref, &err) < 0) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
        free(s);
        return 0;
    }
    K8C_ASSERT(ref.registry && ref.repository && (ref.tag || ref.digest));
    char *canon = image_ref_string(&ref);
    struct image_ref again;
    int rc = image_ref_parse(canon, &again, NULL);
    K8C_ASSERT(rc == 0);
    K8C_ASSERT(strcmp(ref.registry, again.registry) == 0);
    K8C_ASSERT(strcmp(ref.repository, again.repository) == 0);
    char *canon2 = image_ref_string(&again);
    K8C_ASSERT(strcmp(canon, canon2) == 0);
    free(canon2);
    free(canon);
    image_ref_clear(&again);
    image_ref_clear(&ref);
    free(s);
    return 0;
}
