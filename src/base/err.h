/* The one error convention of k8c (docs/errors.md).
 *
 * A function that can fail returns int (>= 0 success, < 0 failure) or a pointer (NULL on
 * failure) and takes `struct k8c_err **err` last. On failure it sets *err to an allocated
 * error; the caller either propagates it (adding context with k8c_err_wrap), or reports it at
 * the edge (main prints one line, an HTTP handler writes a Status) and frees it. */
#ifndef K8C_BASE_ERR_H
#define K8C_BASE_ERR_H

#include <stdarg.h>

/* Reasons map to HTTP status codes and Kubernetes StatusReason strings, so an error raised
 * deep in the store reaches the client with the right code without translation tables. */
#define K8C_REASONS(X)                                                                             \
    X(INTERNAL, 500, "InternalError")                                                              \
    X(BAD_REQUEST, 400, "BadRequest")                                                              \
    X(UNAUTHORIZED, 401, "Unauthorized")                                                           \
    X(FORBIDDEN, 403, "Forbidden")                                                                 \
    X(NOT_FOUND, 404, "NotFound")                                                                  \
    X(METHOD_NOT_ALLOWED, 405, "MethodNotAllowed")                                                 \
    X(NOT_ACCEPTABLE, 406, "NotAcceptable")                                                        \
    X(ALREADY_EXISTS, 409, "AlreadyExists")                                                        \
    X(CONFLICT, 409, "Conflict")                                                                   \
    X(GONE, 410, "Expired")                                                                        \
    X(TOO_LARGE, 413, "RequestEntityTooLarge")                                                     \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "UnsupportedMediaType")                                         \
    X(INVALID, 422, "Invalid")                                                                     \
    X(TOO_MANY_REQUESTS, 429, "TooManyRequests")                                                   \
    X(SERVICE_UNAVAILABLE, 503, "ServiceUnavailable")                                              \
    X(TIMEOUT, 504, "Timeout")

enum k8c_reason {
#define K8C_REASON_ENUM(name, code, text) K8C_REASON_##name,
    K8C_REASONS(K8C_REASON_ENUM)
#undef K8C_REASON_ENUM
};

struct k8c_err {
    int errnum;             /* errno of the failed system call, or 0 */
    enum k8c_reason reason; /* what kind of failure, for the HTTP code and Status reason */
    char *msg;              /* lower case, names the object; context prepended by wraps */
};

/* Sets *err (if err is non-NULL) and returns -1. The message is formatted from fmt; errnum's
 * text is not appended here, only at the edge (k8c_err_text). If *err is already set, the old
 * error is freed: the newest failure wins. */
int k8c_err_set(struct k8c_err **err, int errnum, enum k8c_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int k8c_err_setv(struct k8c_err **err, int errnum, enum k8c_reason reason, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

/* Shorthand for a failed system call: reason INTERNAL, errnum = errno. Returns -1. */
#define k8c_err_errno(err, ...) k8c_err_set((err), errno, K8C_REASON_INTERNAL, __VA_ARGS__)

/* Prepends "<context>: " to the message of *err. Returns -1 so it can be returned directly. */
int k8c_err_wrap(struct k8c_err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The full text for reporting: the message, plus ": <strerror>" when errnum is set.
 * Caller frees. */
char *k8c_err_text(const struct k8c_err *e);

void k8c_err_free(struct k8c_err *e);
void k8c_err_freep(struct k8c_err **e);
#define _cleanup_err_ __attribute__((cleanup(k8c_err_freep)))

int k8c_reason_http_code(enum k8c_reason reason);
const char *k8c_reason_name(enum k8c_reason reason);
/* The reason for a Kubernetes Status: by its reason name when known ("NotFound"), else by
 * its HTTP code; INTERNAL when neither matches. "Gone" is read as GONE too. */
enum k8c_reason k8c_reason_from_status(const char *reason_name, int http_code);

#endif
