/* Fuzz target: YAML -> JSON (src/base/yaml.c), the path every manifest takes. Checks that
 * any input either converts or fails with an error, and that what converts re-encodes. */
#include <stdint.h>
#include <stdlib.h>

#include "base/json.h"
#include "base/mem.h"
#include "base/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool every_third_path_is_string(const char *path, void *opaque)
{
    (void)opaque;
    size_t n = 0;
    while (path[n])
        n++;
    return n % 3 == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct k8c_err *err = NULL;
    struct kyaml_options opts = {.string_field = every_third_path_is_string, .max_nodes = 100000};
    json_t *docs = kyaml_load_all((const char *)data, size, size % 2 ? &opts : NULL, &err);
    if (docs == NULL) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
        return 0;
    }
    K8C_ASSERT(json_is_array(docs));
    char *text = kjson_dumps(docs);
    free(text);
    json_decref(docs);
    return 0;
}
