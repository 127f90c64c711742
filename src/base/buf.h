/* A growable byte buffer, always NUL-terminated so its data can be used as a C string.
 * One buffer is passed by pointer and appended to (buf_append(&b, ...)); appends never
 * invalidate the struct, only b.data may move. */
#ifndef K8C_BASE_BUF_H
#define K8C_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NULL until the first append; then NUL-terminated */
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vappendf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259 requires. */
void buf_append_json_string(struct buf *b, const char *s, size_t len);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Returns the data (never NULL; "" for an empty buffer) and leaves the buffer empty; caller
 * frees the result. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
#define _cleanup_buf_ __attribute__((cleanup(buf_free)))

#endif
