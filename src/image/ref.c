/* Image references (`busybox`, `localhost:5000/a/b:v1`, `repo@sha256:…`) parsed and
 * normalized with Docker's grammar and defaults (docker.io, library/, latest). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "image/internal.h"

#define REF_NAME_MAX 255
#define REF_TAG_MAX 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | [-]+ */
static bool path_component_ok(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        if (s[i] == '.') {
            j = i + 1;
        } else if (s[i] == '_') {
            j = i + 1;
            if (j < n && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= n || !is_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

/* domain := component ('.' component)* [':' port] | '[' ipv6 ']' [':' port] */
static bool domain_ok(const char *s, size_t n)
{
    size_t host_end = n;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return false;
        host_end = (size_t)(close - s) + 1;
        if (host_end < n && s[host_end] != ':')
            return false;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon != NULL)
            host_end = (size_t)(colon - s);
        size_t start = 0;
        for (size_t i = 0; i <= host_end; i++) {
            if (i < host_end && s[i] != '.') {
                if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                    return false;
                continue;
            }
            /* one component [start, i) */
            if (i == start || s[start] == '-' || s[i - 1] == '-')
                return false;
            start = i + 1;
        }
    }
    if (host_end < n) {
        size_t digits = n - host_end - 1;
        if (digits == 0 || digits > 5)
            return false;
        for (size_t i = host_end + 1; i < n; i++)
            if (!isdigit((unsigned char)s[i]))
                return false;
    }
    return true;
}

static bool tag_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > REF_TAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool word = isalnum((unsigned char)c) || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-')))
            return false;
    }
    return true;
}

void image_ref_clear(struct image_ref *ref)
{
    free(ref->registry);
    free(ref->repository);
    free(ref->tag);
    free(ref->digest);
    memset(ref, 0, sizeof(*ref));
}

int image_ref_parse(const char *s, struct image_ref *ref, struct k8c_err **err)
{
    memset(ref, 0, sizeof(*ref));
    if (s == NULL || *s == '\0')
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid image reference: empty");
    if (strlen(s) > 1024)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid image reference: too long");
    _cleanup_free_ char *copy = xstrdup(s);
    char *at = strchr(copy, '@');
    _cleanup_free_ char *digest = NULL;
    if (at != NULL) {
        *at = '\0';
        if (!image__digest_valid(at + 1))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "invalid image reference `%s`: digest `%s` is not sha256:<64 "
                               "lower-case hex digits>",
                               s, at + 1);
        digest = xstrdup(at + 1);
    }
    /* The tag is after the last ':' that follows the last '/'. */
    char *slash = strrchr(copy, '/');
    char *colon = strrchr(slash ? slash : copy, ':');
    _cleanup_free_ char *tag = NULL;
    if (colon != NULL) {
        *colon = '\0';
        if (!tag_ok(colon + 1))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "invalid image reference `%s`: invalid tag `%s`", s, colon + 1);
        tag = xstrdup(colon + 1);
    }
    const char *name = copy;
    if (*name == '\0')
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "invalid image reference `%s`: no repository name", s);
    /* The first component is a registry when it looks like a host: has '.' or ':', is
     * "localhost", or is a bracketed IPv6 address. */
    _cleanup_free_ char *registry = NULL;
    const char *path = name;
    const char *first_slash = strchr(name, '/');
    if (first_slash != NULL) {
        size_t n = (size_t)(first_slash - name);
        bool host = memchr(name, '.', n) || memchr(name, ':', n) || name[0] == '[' ||
                    (n == 9 && memcmp(name, "localhost", 9) == 0);
        if (host) {
            if (!domain_ok(name, n))
                return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                   "invalid image reference `%s`: invalid registry `%.*s`", s,
                                   (int)n, name);
            registry = xstrndup(name, n);
            path = first_slash + 1;
        } else {
            for (size_t i = 0; i < n; i++)
                if (isupper((unsigned char)name[i]))
                    return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                       "invalid image reference `%s`: repository name must be "
                                       "lower case",
                                       s);
        }
    }
    if (registry == NULL || strcmp(registry, "index.docker.io") == 0 ||
        strcmp(registry, "registry-1.docker.io") == 0) {
        free(registry);
        registry = xstrdup("docker.io");
    }
    /* Validate each path component. */
    for (const char *p = path;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!path_component_ok(p, n)) {
            for (size_t i = 0; i < n; i++)
                if (isupper((unsigned char)p[i]))
                    return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                       "invalid image reference `%s`: repository name must be "
                                       "lower case",
                                       s);
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "invalid image reference `%s`: invalid repository component "
                               "`%.*s`",
                               s, (int)n, p);
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    char *repository = NULL;
    if (strcmp(registry, "docker.io") == 0 && strchr(path, '/') == NULL)
        repository = xasprintf("library/%s", path);
    else
        repository = xstrdup(path);
    if (strlen(registry) + 1 + strlen(repository) > REF_NAME_MAX) {
        free(repository);
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "invalid image reference `%s`: name longer than %d characters", s,
                           REF_NAME_MAX);
    }
    if (tag == NULL && digest == NULL)
        tag = xstrdup("latest");
    ref->registry = steal_ptr(&registry);
    ref->repository = repository;
    ref->tag = steal_ptr(&tag);
    ref->digest = steal_ptr(&digest);
    return 0;
}

char *image_ref_name(const struct image_ref *ref)
{
    return xasprintf("%s/%s", ref->registry, ref->repository);
}

char *image_ref_string(const struct image_ref *ref)
{
    return xasprintf("%s/%s%s%s%s%s", ref->registry, ref->repository, ref->tag ? ":" : "",
                     ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                     ref->digest ? ref->digest : "");
}
