/* Kubernetes' syntax checks for names, label keys and values (internal.h), hand-written
 * matchers for the regular expressions in k8s.io/apimachinery/pkg/util/validation with the
 * exact messages it returns. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/buf.h"
#include "base/mem.h"

#define QUALIFIED_NAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QUALIFIED_NAME_MSG                                                                         \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "         \
    "validation is '" QUALIFIED_NAME_FMT "')"
#define LABEL_VALUE_MSG                                                                            \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "             \
    "'my_value',  or '12345', regex used for validation is '(" QUALIFIED_NAME_FMT ")?')"
#define DNS1123_SUBDOMAIN_MSG                                                                      \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "  \
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define DNS1123_LABEL_MSG                                                                          \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "   \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "     \
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define DNS1035_LABEL_MSG                                                                          \
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "   \
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "           \
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..n) */
static bool match_qualified(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool match_dns_label(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool match_dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return false;
    const char *p = s;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(s + n - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(s + n - p);
        if (!match_dns_label(p, len))
            return false;
        if (dot == NULL)
            return true;
        p = dot + 1;
    }
}

static void add(struct buf *b, const char *prefix, const char *msg)
{
    if (b->len > 0)
        buf_append_str(b, "; ");
    buf_append_str(b, prefix);
    buf_append_str(b, msg);
}

static char *result(struct buf *b)
{
    return b->len > 0 ? buf_steal(b) : NULL;
}

char *api__check_dns1123_subdomain(const char *value)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    if (strlen(value) > 253)
        add(&b, "", "must be no more than 253 characters");
    if (!match_dns_subdomain(value))
        add(&b, "", DNS1123_SUBDOMAIN_MSG);
    return result(&b);
}

char *api__check_dns1123_label(const char *value)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    size_t n = strlen(value);
    if (n > 63)
        add(&b, "", "must be no more than 63 characters");
    if (!match_dns_label(value, n)) {
        if (match_dns_subdomain(value))
            add(&b, "", "must not contain dots");
        else
            add(&b, "", DNS1123_LABEL_MSG);
    }
    return result(&b);
}

char *api__check_dns1035_label(const char *value)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    size_t n = strlen(value);
    if (n > 63)
        add(&b, "", "must be no more than 63 characters");
    if (!match_dns_label(value, n) || !(value[0] >= 'a' && value[0] <= 'z'))
        add(&b, "", DNS1035_LABEL_MSG);
    return result(&b);
}

char *api__check_qualified_name(const char *value)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    const char *slash = strchr(value, '/');
    const char *name = value;
    if (slash != NULL) {
        if (strchr(slash + 1, '/') != NULL) {
            add(&b, "",
                "a qualified name " QUALIFIED_NAME_MSG " with an optional DNS subdomain prefix "
                "and '/' (e.g. 'example.com/MyName')");
            return result(&b);
        }
        _cleanup_free_ char *prefix = xstrndup(value, (size_t)(slash - value));
        if (prefix[0] == '\0') {
            add(&b, "prefix part ", "must be non-empty");
        } else {
            _cleanup_free_ char *m = api__check_dns1123_subdomain(prefix);
            if (m != NULL)
                add(&b, "prefix part ", m);
        }
        name = slash + 1;
    }
    size_t n = strlen(name);
    if (n == 0)
        add(&b, "name part ", "must be non-empty");
    else if (n > 63)
        add(&b, "name part ", "must be no more than 63 characters");
    if (!match_qualified(name, n))
        add(&b, "name part ", QUALIFIED_NAME_MSG);
    return result(&b);
}

char *api__check_label_value(const char *value)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    size_t n = strlen(value);
    if (n > 63)
        add(&b, "", "must be no more than 63 characters");
    if (n > 0 && !match_qualified(value, n))
        add(&b, "", LABEL_VALUE_MSG);
    return result(&b);
}

char *api__check_path_segment(const char *value)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0) {
        char *m = xasprintf("may not be '%s'", value);
        add(&b, "", m);
        free(m);
        return result(&b);
    }
    if (strchr(value, '/') != NULL)
        add(&b, "", "may not contain '/'");
    if (strchr(value, '%') != NULL)
        add(&b, "", "may not contain '%'");
    return result(&b);
}

char *api__check_c_identifier(const char *value)
{
    /* Kubernetes' IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]* */
    bool ok = value[0] != '\0' && !(value[0] >= '0' && value[0] <= '9');
    for (const char *p = value; ok && *p; p++)
        ok = is_alnum(*p) || *p == '-' || *p == '.' || *p == '_';
    if (ok)
        return NULL;
    return xstrdup("a valid environment variable name must consist of alphabetic characters, "
                   "digits, '_', '-', or '.', and must not start with a digit (e.g. "
                   "'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
                   "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')");
}

char *api__quote(const char *s)
{
    struct buf b = BUF_INIT;
    buf_append_char(&b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': buf_append_str(&b, "\\\""); break;
        case '\\': buf_append_str(&b, "\\\\"); break;
        case '\n': buf_append_str(&b, "\\n"); break;
        case '\t': buf_append_str(&b, "\\t"); break;
        case '\r': buf_append_str(&b, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                buf_appendf(&b, "\\x%02x", *p);
            else
                buf_append_char(&b, (char)*p);
        }
    }
    buf_append_char(&b, '"');
    return buf_steal(&b);
}
