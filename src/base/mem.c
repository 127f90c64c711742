/* Allocation that aborts on exhaustion, and the destructors behind the cleanup attributes. */
#include "base/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn void k8c_panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "k8c: panic at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void *check_alloc(void *p, size_t size)
{
    if (p == NULL && size != 0)
        k8c_panic(__FILE__, __LINE__, "out of memory allocating %zu bytes", size);
    return p;
}

void *xmalloc(size_t size)
{
    return check_alloc(malloc(size ? size : 1), size);
}

void *xcalloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        count = size = 1;
    return check_alloc(calloc(count, size), count * size);
}

void *xrealloc(void *ptr, size_t size)
{
    return check_alloc(realloc(ptr, size ? size : 1), size);
}

char *xstrdup(const char *s)
{
    return check_alloc(strdup(s), strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
    return check_alloc(strndup(s, n), n + 1);
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        k8c_panic(__FILE__, __LINE__, "out of memory formatting a string");
    return out;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = xvasprintf(fmt, ap);
    va_end(ap);
    return out;
}

void mem_free_ptr(void *pptr)
{
    void **p = pptr;
    free(*p);
    *p = NULL;
}

void mem_close_fd(int *fd)
{
    if (*fd >= 0) {
        int saved = errno; /* a cleanup must not clobber the errno being reported */
        close(*fd);
        errno = saved;
    }
    *fd = -1;
}

void mem_fclose(FILE **f)
{
    if (*f != NULL) {
        int saved = errno;
        fclose(*f);
        errno = saved;
    }
    *f = NULL;
}

void mem_free_strv(char ***strv)
{
    if (*strv == NULL)
        return;
    for (char **s = *strv; *s != NULL; s++)
        free(*s);
    free(*strv);
    *strv = NULL;
}
