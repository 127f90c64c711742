/* Fuzz target: strategic merge patch (src/api/patch_strategic.c), applied by the API server to
 * request bodies. Input: one byte choosing the kind, a JSON document, a newline, then the
 * patch (patch_input.h). */
#include <stdint.h>

#include "api/patch.h"
#include "patch_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_doc[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"finalizers\":[\"a\"]},\"spec\":{\"replicas\":1,\"strategy\":{\"type\":\"RollingUpdate\"},"
    "\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\",\"env\":[{"
    "\"name\":\"A\"}],\"ports\":[{\"containerPort\":80}]}]}}}}";

static const char *const kinds[][2] = {
    {"apps/v1", "Deployment"}, {"v1", "Pod"}, {"v1", "ConfigMap"}, {"example.com/v1", "Gizmo"}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *const *kind = kinds[data[0] % ARRAY_SIZE(kinds)];
    const char *text = (const char *)data + 1;
    size--;
    struct patch_input in;
    patch_input_split(text, size, default_doc, &in);
    struct k8c_err *err = NULL;
    json_t *out = api_patch_strategic(kind[0], kind[1], in.doc, in.patch, in.patch_len, &err);
    patch_input_check(&in, out, err);
    return 0;
}
