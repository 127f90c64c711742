/* The error values every fallible function hands back (see err.h). */
#include "base/err.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static const struct {
    int code;
    const char *name;
} reason_table[] = {
#define K8C_REASON_ROW(name, code, text) {code, text},
    K8C_REASONS(K8C_REASON_ROW)
#undef K8C_REASON_ROW
};

int k8c_reason_http_code(enum k8c_reason reason)
{
    K8C_ASSERT((size_t)reason < ARRAY_SIZE(reason_table));
    return reason_table[reason].code;
}

const char *k8c_reason_name(enum k8c_reason reason)
{
    K8C_ASSERT((size_t)reason < ARRAY_SIZE(reason_table));
    return reason_table[reason].name;
}

enum k8c_reason k8c_reason_from_status(const char *reason_name, int http_code)
{
    if (reason_name != NULL) {
        if (strcmp(reason_name, "Gone") == 0)
            return K8C_REASON_GONE;
        for (size_t i = 0; i < ARRAY_SIZE(reason_table); i++)
            if (strcmp(reason_table[i].name, reason_name) == 0)
                return (enum k8c_reason)i;
    }
    for (size_t i = 0; i < ARRAY_SIZE(reason_table); i++)
        if (reason_table[i].code == http_code)
            return (enum k8c_reason)i;
    return K8C_REASON_INTERNAL;
}

int k8c_err_setv(struct k8c_err **err, int errnum, enum k8c_reason reason, const char *fmt,
                 va_list ap)
{
    if (err == NULL)
        return -1;
    k8c_err_free(*err);
    struct k8c_err *e = xmalloc(sizeof(*e));
    e->errnum = errnum;
    e->reason = reason;
    e->msg = xvasprintf(fmt, ap);
    *err = e;
    return -1;
}

int k8c_err_set(struct k8c_err **err, int errnum, enum k8c_reason reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    k8c_err_setv(err, errnum, reason, fmt, ap);
    va_end(ap);
    return -1;
}

int k8c_err_wrap(struct k8c_err **err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *context = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", context, (*err)->msg);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

char *k8c_err_text(const struct k8c_err *e)
{
    if (e == NULL)
        return xstrdup("unknown error");
    if (e->errnum != 0)
        return xasprintf("%s: %s", e->msg, strerror(e->errnum));
    return xstrdup(e->msg);
}

void k8c_err_free(struct k8c_err *e)
{
    if (e == NULL)
        return;
    free(e->msg);
    free(e);
}

void k8c_err_freep(struct k8c_err **e)
{
    k8c_err_free(*e);
    *e = NULL;
}
