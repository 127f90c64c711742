/* Fuzz target: protobuf request bodies (src/api/protobuf.c), which arrive straight from
 * clients. Any input either decodes to a JSON object that re-encodes, or fails with an error;
 * the first byte picks the kind the URL would name. */
#include <stdint.h>
#include <stdlib.h>

#include "api/kinds.h"
#include "api/protobuf.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0;
    const struct api_kind *kinds = api_kinds_all(&n);
    /* Corpus files are real bodies: decode them whole, unchecked, and also as the kind a
     * trailing byte would choose. */
    const struct api_kind *expected = size > 0 ? &kinds[data[size - 1] % n] : NULL;
    for (int pass = 0; pass < 2; pass++) {
        struct k8c_err *err = NULL;
        json_t *obj = api_protobuf_decode(data, size, pass ? expected : NULL, &err);
        if (obj == NULL) {
            K8C_ASSERT(err != NULL && err->msg != NULL);
            k8c_err_free(err);
            continue;
        }
        K8C_ASSERT(json_is_object(obj));
        K8C_ASSERT(json_is_string(json_object_get(obj, "kind")));
        char *text = kjson_dumps(obj);
        free(text);
        json_decref(obj);
    }
    return 0;
}
