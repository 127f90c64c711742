/* Fuzz target: apiserver__json_with_rv (src/apiserver/objects.c), which splices a
 * resourceVersion into stored bytes without decoding them (watch events, write answers); the
 * bytes may come from an etcd shared with other writers. Any input must be refused or spliced
 * without reading out of bounds, and for an input that is a JSON object the splice, when
 * done, must be that object with metadata.resourceVersion added and nothing else changed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that ASan sees any read past the end */
    char *in = xmalloc(size ? size : 1);
    memcpy(in, data, size);
    struct buf out = BUF_INIT;
    bool done = apiserver__json_with_rv(in, size, 42, &out);
    json_t *orig = kjson_parse(in, size, NULL);
    if (done && json_is_object(orig) && json_is_object(json_object_get(orig, "metadata"))) {
        json_t *got = kjson_parse(out.data, out.len, NULL);
        K8C_ASSERT(got != NULL);
        const char *rv = kjson_path_str(got, "metadata.resourceVersion");
        K8C_ASSERT(rv && strcmp(rv, "42") == 0);
        json_object_del(json_object_get(got, "metadata"), "resourceVersion");
        K8C_ASSERT(json_equal(got, orig));
        json_decref(got);
    }
    json_decref(orig);
    buf_free(&out);
    free(in);
    return 0;
}
