/* Fuzz target: protobuf request bodies (src/api/protobuf.c), which arrive straight from
 * clients. Any input either decodes to a JSON object that re-encodes, or fails with an error;
 * the last byte picks the kind the URL would name. Every decoded object, and any input that
 * is a JSON object, then goes through the rest of the request path (type and unknown-field
 * checks, create bookkeeping, defaults, validation, a Table), which must not crash on odd
 * shapes. */
#include <stdint.h>
#include <stdlib.h>

#include "api/defaults.h"
#include "api/kinds.h"
#include "api/meta.h"
#include "api/protobuf.h"
#include "api/table.h"
#include "api/validate.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void object_path(const struct api_kind *k, json_t *obj)
{
    free(api_object_type_error(k, obj));
    json_decref(api_object_unknown_fields(k, obj));
    json_t *old = json_deep_copy(obj);
    struct k8c_err *err = NULL;
    if (api_meta_prepare_create(k, obj, "default", &err) < 0) {
        K8C_ASSERT(err != NULL);
        k8c_err_free(err);
        json_decref(old);
        return;
    }
    api_object_default(k, obj);
    json_decref(api_object_validate(k, obj, NULL));
    if (json_is_object(old) && api_meta_prepare_update(k, old, obj, false, NULL) == 0) {
        api_object_default(k, old);
        json_decref(api_object_validate(k, old, obj));
    }
    json_t *items = json_pack("[O]", obj);
    json_decref(api_table_build(k, items, "1", false));
    json_decref(items);
    json_decref(old);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == '{') {
        json_t *obj = json_loadb((const char *)data, size, 0, NULL);
        if (json_is_object(obj)) {
            size_t nk = 0;
            const struct api_kind *all = api_kinds_all(&nk);
            const struct api_kind *k =
                api_kind_by_gvk(json_string_value(json_object_get(obj, "apiVersion")),
                                json_string_value(json_object_get(obj, "kind")));
            object_path(k ? k : &all[size % nk], obj);
        }
        json_decref(obj);
        return 0;
    }
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
        const struct api_kind *k =
            api_kind_by_gvk(json_string_value(json_object_get(obj, "apiVersion")),
                            json_string_value(json_object_get(obj, "kind")));
        if (k != NULL)
            object_path(k, obj);
        json_decref(obj);
    }
    return 0;
}
