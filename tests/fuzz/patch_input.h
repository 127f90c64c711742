/* Shared by the patch fuzz targets: the input is a JSON document, a newline, then the patch.
 * A document that does not parse as an object is replaced by fallback_doc, so patch bytes
 * alone still reach the patcher. Header-only: each target is its own program. */
#ifndef K8C_FUZZ_PATCH_INPUT_H
#define K8C_FUZZ_PATCH_INPUT_H

#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

struct patch_input {
    json_t *doc; /* owned */
    const char *patch;
    size_t patch_len;
};

static inline void patch_input_split(const char *text, size_t size, const char *fallback_doc,
                                     struct patch_input *in)
{
    const char *nl = memchr(text, '\n', size);
    in->doc = nl ? kjson_parse(text, (size_t)(nl - text), NULL) : NULL;
    if (!json_is_object(in->doc)) {
        json_decref(in->doc);
        in->doc = kjson_parse(fallback_doc, strlen(fallback_doc), NULL);
    }
    in->patch = nl ? nl + 1 : text;
    in->patch_len = size - (size_t)(in->patch - text);
}

/* The patchers' contract: an object, or NULL with an error that says something. Frees all. */
static inline void patch_input_check(struct patch_input *in, json_t *out, struct k8c_err *err)
{
    if (out == NULL) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
    } else {
        K8C_ASSERT(err == NULL);
        K8C_ASSERT(json_is_object(out));
        free(kjson_dumps(out));
        json_decref(out);
    }
    json_decref(in->doc);
}

#endif
