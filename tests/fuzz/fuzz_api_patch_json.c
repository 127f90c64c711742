/* Fuzz target: JSON Patch (src/api/patch_json.c), applied by the API server to
 * request bodies. Input: a JSON document, a newline, then the patch (patch_input.h). */
#include <stdint.h>

#include "api/patch.h"
#include "patch_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_doc[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"labels\":{\"a\":\"b\"}},\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":"
    "[{\"name\":\"c\",\"image\":\"nginx\",\"ports\":[{\"containerPort\":80}]}]}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct patch_input in;
    patch_input_split((const char *)data, size, default_doc, &in);
    struct k8c_err *err = NULL;
    json_t *out = api_patch_json(in.doc, in.patch, in.patch_len, &err);
    patch_input_check(&in, out, err);
    return 0;
}
