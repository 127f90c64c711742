/* Encodings: base64 (standard alphabet, with padding) over GnuTLS' implementation. */
#ifndef K8C_BASE_CODEC_H
#define K8C_BASE_CODEC_H

#include <stddef.h>

#include "base/err.h"

/* Encodes data[0..len) as base64; returns a new NUL-terminated string (caller frees). */
char *codec_base64_encode(const void *data, size_t len);

/* Decodes base64 text (whitespace not allowed). Returns a new buffer, NUL-terminated for
 * convenience (caller frees), and sets *out_len; NULL with *err (BAD_REQUEST) when the text
 * is not valid base64. */
char *codec_base64_decode(const char *text, size_t text_len, size_t *out_len, struct k8c_err **err);

#endif
