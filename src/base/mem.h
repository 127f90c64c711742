/* Memory and resource ownership helpers: allocation that aborts on exhaustion, and the
 * cleanup attributes every owned local carries (see docs/errors.md, "Ownership"). */
#ifndef K8C_BASE_MEM_H
#define K8C_BASE_MEM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Allocation never returns NULL: running out of memory is not an error the caller can
 * handle meaningfully, so these abort with a message (as crun's xmalloc and redis' zmalloc). */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formats into a newly allocated string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

void mem_free_ptr(void *pptr);
void mem_close_fd(int *fd);
void mem_fclose(FILE **f);
void mem_free_strv(char ***strv);

#define _cleanup_free_ __attribute__((cleanup(mem_free_ptr)))
#define _cleanup_close_ __attribute__((cleanup(mem_close_fd)))
#define _cleanup_fclose_ __attribute__((cleanup(mem_fclose)))
#define _cleanup_strv_ __attribute__((cleanup(mem_free_strv)))

/* Hands ownership out of a cleanup variable: returns the value and leaves NULL / -1 behind. */
#define steal_ptr(pp)                                                                              \
    ({                                                                                             \
        __typeof__(*(pp)) steal_tmp_ = *(pp);                                                      \
        *(pp) = NULL;                                                                              \
        steal_tmp_;                                                                                \
    })
#define steal_fd(pfd)                                                                              \
    ({                                                                                             \
        int steal_fd_tmp_ = *(pfd);                                                                \
        *(pfd) = -1;                                                                               \
        steal_fd_tmp_;                                                                             \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A bug, not an error: log where and abort (redis serverAssert, h2o h2o_fatal). */
#define K8C_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            k8c_panic(__FILE__, __LINE__, "assertion failed: %s", #cond);                          \
    } while (0)

_Noreturn void k8c_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
