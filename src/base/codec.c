/* Encodings (see codec.h). */
#include "base/codec.h"

#include <gnutls/gnutls.h>
#include <string.h>

#include "base/mem.h"

char *codec_base64_encode(const void *data, size_t len)
{
    gnutls_datum_t in = {(unsigned char *)data, (unsigned)len};
    gnutls_datum_t out = {NULL, 0};
    if (len == 0)
        return xstrdup("");
    if (gnutls_base64_encode2(&in, &out) < 0)
        k8c_panic(__FILE__, __LINE__, "base64 encoding of %zu bytes failed", len);
    char *s = xstrndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    return s;
}

char *codec_base64_decode(const char *text, size_t text_len, size_t *out_len, struct k8c_err **err)
{
    if (text_len == 0) {
        *out_len = 0;
        return xstrdup("");
    }
    gnutls_datum_t in = {(unsigned char *)text, (unsigned)text_len};
    gnutls_datum_t out = {NULL, 0};
    if (text_len > (1u << 30) || gnutls_base64_decode2(&in, &out) < 0) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "invalid base64 data");
        return NULL;
    }
    char *data = xmalloc(out.size + 1);
    memcpy(data, out.data, out.size);
    data[out.size] = '\0';
    *out_len = out.size;
    gnutls_free(out.data);
    return data;
}
