/* Fuzz target: server-side apply (src/api/patch_apply.c, patch_fields.c), which reads an
 * apply-patch+yaml body and the managedFields of the stored object. Input: one byte choosing
 * the kind and force, a JSON live object (or nothing), a newline, then the YAML/JSON body.
 * The live object is also applied onto with its own managedFields, so malformed FieldsV1
 * reaches the parser too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/patch.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kinds[][2] = {
    {"apps/v1", "Deployment"}, {"v1", "Pod"}, {"v1", "ConfigMap"}, {"example.com/v1", "Gizmo"}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *const *kind = kinds[data[0] % ARRAY_SIZE(kinds)];
    bool force = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    size--;
    const char *nl = memchr(text, '\n', size);
    json_t *live = nl ? kjson_parse(text, (size_t)(nl - text), NULL) : NULL;
    if (!json_is_object(live)) {
        json_decref(live);
        live = NULL;
    }
    const char *body = (nl && live) ? nl + 1 : text;
    size_t body_len = size - (size_t)(body - text);
    struct k8c_err *err = NULL;
    json_t *out = api_patch_apply(kind[0], kind[1], live, body, body_len, "fuzz", force, &err);
    if (out == NULL) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
        json_decref(api_patch_apply_conflict_causes());
    } else {
        K8C_ASSERT(err == NULL);
        K8C_ASSERT(json_is_object(out));
        /* Applying the same body again by the same manager never conflicts. */
        json_t *again = api_patch_apply(kind[0], kind[1], out, body, body_len, "fuzz", false, &err);
        K8C_ASSERT(again != NULL);
        json_t *copy = json_deep_copy(again);
        api_patch_record_update(kind[0], out, copy, "other");
        free(kjson_dumps(copy));
        json_decref(copy);
        json_decref(again);
        json_decref(out);
    }
    json_decref(live);
    return 0;
}
