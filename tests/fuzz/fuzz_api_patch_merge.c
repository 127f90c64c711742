/* Fuzz target: JSON merge patch (src/api/patch_merge.c), applied by the API server to
 * request bodies. Input: a JSON document, a newline, then the patch. A document that does not
 * parse is replaced by a small Deployment, so patch bytes alone still reach the patcher. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/patch.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char default_doc[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"labels\":{\"a\":\"b\"}},\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":"
    "[{\"name\":\"c\",\"image\":\"nginx\",\"ports\":[{\"containerPort\":80}]}]}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t doc_len = nl ? (size_t)(nl - text) : 0;
    json_t *doc = nl ? kjson_parse(text, doc_len, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = kjson_parse(default_doc, sizeof(default_doc) - 1, NULL);
    }
    const char *patch = nl ? nl + 1 : text;
    size_t patch_len = size - (size_t)(patch - text);
    struct k8c_err *err = NULL;
    json_t *out = api_patch_merge(doc, patch, patch_len, &err);
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
