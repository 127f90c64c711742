/* Fuzz target: the reader of k8c's portable snapshot format (store__snap_read in
 * src/store/snapshot_format.c), which `k8c store restore` runs over files from anywhere.
 * Any input must end in 0 or a clean error, never a crash, a leak or an over-read; a file the
 * reader accepts must hold only keys in increasing order within the store's limits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "store/internal.h"
#include "store/snapshot_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    char *last;
    uint64_t n;
};

static int check_kv(const struct store_kv *kv, void *opaque, struct k8c_err **err)
{
    struct seen *s = opaque;
    size_t len = strlen(kv->key);
    if (len == 0 || len > STORE_MAX_KEY_LEN || kv->value_len > STORE_MAX_VALUE_LEN ||
        kv->value[kv->value_len] != '\0' || (s->last && strcmp(s->last, kv->key) >= 0))
        abort();
    free(s->last);
    s->last = xstrdup(kv->key);
    s->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen(size ? (void *)data : (void *)"", size, "rb");
    if (f == NULL)
        return 0;
    struct seen s = {0};
    int64_t revision = 0;
    uint64_t count = 0;
    struct k8c_err *err = NULL;
    int rc = store__snap_read(f, "fuzz", check_kv, &s, &revision, &count, &err);
    if (rc == 0 && count != s.n)
        abort();
    if (rc < 0 && err == NULL)
        abort();
    k8c_err_free(err);
    free(s.last);
    fclose(f);
    return 0;
}
