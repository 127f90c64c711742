/* Content digests: sha256 over GnuTLS, and the checks on digest strings. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/internal.h"

void image__sha256_init(struct image__sha256 *s)
{
    gnutls_hash_hd_t h = NULL;
    int rc = gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
    K8C_ASSERT(rc == 0);
    s->h = h;
}

void image__sha256_update(struct image__sha256 *s, const void *data, size_t len)
{
    if (len > 0)
        gnutls_hash((gnutls_hash_hd_t)s->h, data, len);
}

static void to_digest(const unsigned char raw[32], char out[IMAGE_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[raw[i] >> 4];
        out[7 + 2 * i + 1] = hex[raw[i] & 15];
    }
    out[IMAGE_DIGEST_LEN] = '\0';
}

void image__sha256_final(struct image__sha256 *s, char out[IMAGE_DIGEST_LEN + 1])
{
    unsigned char raw[32];
    gnutls_hash_deinit((gnutls_hash_hd_t)s->h, raw);
    s->h = NULL;
    to_digest(raw, out);
}

void image__sha256_buf(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1])
{
    unsigned char raw[32];
    int rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, raw);
    K8C_ASSERT(rc == 0);
    to_digest(raw, out);
}

bool image__digest_valid(const char *d)
{
    if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != IMAGE_DIGEST_LEN)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

const char *image__digest_hex(const char *d)
{
    return d + 7;
}
