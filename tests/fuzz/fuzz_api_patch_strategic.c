/* Fuzz target: strategic merge patch (src/api/patch_strategic.c), applied by the API server to
 * request bodies. Input: one byte choosing the kind, a JSON document, a newline, then the
 * patch. A document that does not parse is replaced by a small Deployment. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/patch.h"
#include "base/json.h"
#include "base/mem.h"

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
    const char *nl = memchr(text, '\n', size);
    json_t *doc = nl ? kjson_parse(text, (size_t)(nl - text), NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = kjson_parse(default_doc, sizeof(default_doc) - 1, NULL);
    }
    const char *patch = nl ? nl + 1 : text;
    size_t patch_len = size - (size_t)(patch - text);
    struct k8c_err *err = NULL;
    json_t *out = api_patch_strategic(kind[0], kind[1], doc, patch, patch_len, &err);
    if (out == NULL) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
    } else {
        K8C_ASSERT(err == NULL);
        K8C_ASSERT(json_is_object(out));
        free(kjson_dumps(out));
        json_decref(out);
    }
    json_decref(doc);
    return 0;
}
