/* k8c's portable snapshot format (described in snapshot_internal.h): a writer that streams
 * keys with a running SHA-256, and a reader that trusts nothing in the file. */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "store/internal.h"
#include "store/snapshot_internal.h"

#define SNAP_END 0xFFFFFFFFu
#define SNAP_HASH_LEN 32

struct snap_writer {
    FILE *f;
    gnutls_hash_hd_t hash;
    uint64_t count;
    int64_t revision;
    bool failed;
};

static void be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void put(struct snap_writer *w, const void *data, size_t len)
{
    if (len == 0)
        return;
    gnutls_hash(w->hash, data, len);
    if (fwrite(data, 1, len, w->f) != len)
        w->failed = true;
}

struct snap_writer *store__snap_writer_new(FILE *f, int64_t revision)
{
    struct snap_writer *w = xcalloc(1, sizeof(*w));
    w->f = f;
    w->revision = revision;
    if (gnutls_hash_init(&w->hash, GNUTLS_DIG_SHA256) < 0)
        k8c_panic(__FILE__, __LINE__, "gnutls_hash_init(SHA-256) failed");
    unsigned char head[12];
    be32(head, SNAP_VERSION);
    be64(head + 4, (uint64_t)revision);
    put(w, SNAP_MAGIC, 8);
    put(w, head, sizeof(head));
    return w;
}

int store__snap_write(struct snap_writer *w, const struct store_kv *kv, struct k8c_err **err)
{
    unsigned char rec[24];
    size_t key_len = strlen(kv->key);
    be32(rec, (uint32_t)key_len);
    be32(rec + 4, (uint32_t)kv->value_len);
    be64(rec + 8, (uint64_t)kv->create_revision);
    be64(rec + 16, (uint64_t)kv->mod_revision);
    put(w, rec, sizeof(rec));
    put(w, kv->key, key_len);
    put(w, kv->value, kv->value_len);
    w->count++;
    if (w->failed)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "write the snapshot: %s", strerror(errno));
    return 0;
}

void store__snap_writer_free(struct snap_writer *w)
{
    if (w == NULL)
        return;
    gnutls_hash_deinit(w->hash, NULL);
    free(w);
}

int store__snap_writer_finish(struct snap_writer *w, struct k8c_err **err)
{
    unsigned char tail[12], digest[SNAP_HASH_LEN];
    be32(tail, SNAP_END);
    be64(tail + 4, w->count);
    put(w, tail, sizeof(tail));
    gnutls_hash_output(w->hash, digest);
    if (fwrite(digest, 1, sizeof(digest), w->f) != sizeof(digest))
        w->failed = true;
    bool failed = w->failed || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0;
    int saved = errno;
    store__snap_writer_free(w);
    if (failed)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "write the snapshot: %s", strerror(saved));
    return 0;
}

/* ---- reading ---- */

struct snap_in {
    FILE *f;
    const char *name;
    gnutls_hash_hd_t hash;
    uint64_t offset;
};

static int bad(struct snap_in *in, struct k8c_err **err, const char *what)
{
    return k8c_err_set(err, 0, K8C_REASON_INVALID,
                       "snapshot `%s` is damaged: %s at byte %llu (not a complete k8c snapshot)",
                       in->name, what, (unsigned long long)in->offset);
}

/* Reads exactly len bytes into out (hashed unless hash is false). */
static int take(struct snap_in *in, void *out, size_t len, bool hash, struct k8c_err **err)
{
    size_t got = fread(out, 1, len, in->f);
    if (got != len) {
        in->offset += got;
        if (ferror(in->f))
            return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "read snapshot `%s`: %s", in->name,
                               strerror(errno));
        return bad(in, err, "the file ends early");
    }
    if (hash && len > 0)
        gnutls_hash(in->hash, out, len);
    in->offset += len;
    return 0;
}

static int read_records(struct snap_in *in, snap_kv_fn fn, void *opaque, int64_t *revision,
                        uint64_t *count, struct k8c_err **err)
{
    unsigned char head[20];
    size_t got = fread(head, 1, sizeof(head), in->f);
    if (got < 8 || memcmp(head, SNAP_MAGIC, 8) != 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "`%s` is not a k8c snapshot (neither an SQLite store nor a file "
                           "written by `k8c store snapshot`)",
                           in->name);
    gnutls_hash(in->hash, head, got);
    in->offset = got;
    if (got < sizeof(head))
        return bad(in, err, "the file ends early");
    uint32_t version = (uint32_t)get_be(head + 8, 4);
    if (version != SNAP_VERSION)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "snapshot `%s` has format version %u; this k8c reads version %u",
                           in->name, version, SNAP_VERSION);
    int64_t rev = (int64_t)get_be(head + 12, 8);
    if (rev < 0)
        return bad(in, err, "a negative revision");
    _cleanup_free_ char *prev_key = NULL;
    _cleanup_free_ char *key = xmalloc(STORE_MAX_KEY_LEN + 1);
    _cleanup_free_ char *value = NULL;
    size_t value_cap = 0;
    uint64_t n = 0;
    for (;;) {
        unsigned char rec[24];
        if (take(in, rec, 4, true, err) < 0)
            return -1;
        uint32_t key_len = (uint32_t)get_be(rec, 4);
        if (key_len == SNAP_END)
            break;
        if (take(in, rec + 4, 20, true, err) < 0)
            return -1;
        uint32_t value_len = (uint32_t)get_be(rec + 4, 4);
        int64_t create = (int64_t)get_be(rec + 8, 8), mod = (int64_t)get_be(rec + 16, 8);
        if (key_len == 0 || key_len > STORE_MAX_KEY_LEN)
            return bad(in, err, "a key length out of range");
        if (value_len > STORE_MAX_VALUE_LEN)
            return bad(in, err, "a value length out of range");
        if (create <= 0 || mod < create || mod > rev)
            return bad(in, err, "revisions out of order");
        if (take(in, key, key_len, true, err) < 0)
            return -1;
        key[key_len] = '\0';
        if (memchr(key, '\0', key_len) != NULL)
            return bad(in, err, "a key with a NUL byte");
        if (prev_key != NULL && strcmp(prev_key, key) >= 0)
            return bad(in, err, "keys out of order");
        if (value_len + 1 > value_cap) {
            value_cap = value_len + 1;
            value = xrealloc(value, value_cap);
        }
        if (take(in, value, value_len, true, err) < 0)
            return -1;
        value[value_len] = '\0';
        free(prev_key);
        prev_key = xstrdup(key);
        n++;
        if (fn != NULL) {
            struct store_kv kv = {.key = key,
                                  .value = value,
                                  .value_len = value_len,
                                  .create_revision = create,
                                  .mod_revision = mod};
            int rc = fn(&kv, opaque, err);
            if (rc != 0)
                return rc;
        }
    }
    unsigned char tail[8], want[SNAP_HASH_LEN], digest[SNAP_HASH_LEN];
    if (take(in, tail, sizeof(tail), true, err) < 0)
        return -1;
    if (get_be(tail, 8) != n)
        return bad(in, err, "a key count that does not match");
    gnutls_hash_output(in->hash, want);
    if (take(in, digest, sizeof(digest), false, err) < 0)
        return -1;
    if (memcmp(want, digest, sizeof(want)) != 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "snapshot `%s` is corrupt: its SHA-256 checksum does not match",
                           in->name);
    if (fgetc(in->f) != EOF)
        return bad(in, err, "data after the end");
    *revision = rev;
    *count = n;
    return 0;
}

int store__snap_read(FILE *f, const char *name, snap_kv_fn fn, void *opaque, int64_t *revision,
                     uint64_t *count, struct k8c_err **err)
{
    struct snap_in in = {.f = f, .name = name};
    if (gnutls_hash_init(&in.hash, GNUTLS_DIG_SHA256) < 0)
        k8c_panic(__FILE__, __LINE__, "gnutls_hash_init(SHA-256) failed");
    int rc = read_records(&in, fn, opaque, revision, count, err);
    gnutls_hash_deinit(in.hash, NULL);
    return rc;
}

bool store__snap_is_sqlite(const char *path)
{
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return n == sizeof(head) && memcmp(head, "SQLite format 3", 16) == 0;
}
