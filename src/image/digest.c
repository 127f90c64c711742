/* Content digests (sha256 over GnuTLS) and the base64 the registry auth headers need. */
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

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *image__base64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return NULL;
    char *out = xmalloc(n / 4 * 3 + 3 + 1);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    if (len)
        *len = o;
    return out;
}

char *image__base64_encode(const void *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}
