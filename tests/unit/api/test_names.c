/* Unit tests for src/api/names.c and the quantity parser: Kubernetes' syntax checks. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/internal.h"
#include "base/mem.h"

Test(names, dns_subdomain_and_label)
{
    cr_assert(api__check_dns1123_subdomain("example.com") == NULL);
    cr_assert(api__check_dns1123_subdomain("a") == NULL);
    _cleanup_free_ char *a = api__check_dns1123_subdomain("Example");
    cr_assert(strncmp(a, "a lowercase RFC 1123 subdomain must consist of", 46) == 0, "%s", a);
    _cleanup_free_ char *b = api__check_dns1123_subdomain("a..b");
    cr_assert(b != NULL);
    _cleanup_free_ char *c = api__check_dns1123_subdomain("-a");
    cr_assert(c != NULL);
    char long_name[300];
    memset(long_name, 'a', 260);
    long_name[260] = 0;
    _cleanup_free_ char *d = api__check_dns1123_subdomain(long_name);
    cr_assert(strncmp(d, "must be no more than 253 characters", 35) == 0, "%s", d);
    cr_assert(api__check_dns1123_label("my-name") == NULL);
    _cleanup_free_ char *e = api__check_dns1123_label("my.name");
    cr_assert(eq(str, e, "must not contain dots"));
    _cleanup_free_ char *f = api__check_dns1123_label("My_Name");
    cr_assert(eq(str, f,
                 "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                 "or '-', and must start and end with an alphanumeric character (e.g. 'my-name', "
                 " or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"));
    long_name[64] = 0;
    _cleanup_free_ char *g = api__check_dns1123_label(long_name);
    cr_assert(eq(str, g, "must be no more than 63 characters"));
    cr_assert(api__check_dns1035_label("web") == NULL);
    _cleanup_free_ char *h = api__check_dns1035_label("1web");
    cr_assert(strncmp(h, "a DNS-1035 label must consist of", 32) == 0, "%s", h);
}

Test(names, qualified_names_and_label_values)
{
    cr_assert(api__check_qualified_name("app") == NULL);
    cr_assert(api__check_qualified_name("example.com/App_1.x") == NULL);
    _cleanup_free_ char *a = api__check_qualified_name("/x");
    cr_assert(eq(str, a, "prefix part must be non-empty"));
    _cleanup_free_ char *b = api__check_qualified_name("a/b/c");
    cr_assert(strncmp(b, "a qualified name must consist of", 32) == 0, "%s", b);
    _cleanup_free_ char *c = api__check_qualified_name("Example.com/x");
    cr_assert(strncmp(c, "prefix part a lowercase RFC 1123 subdomain", 42) == 0, "%s", c);
    _cleanup_free_ char *d = api__check_qualified_name("x/");
    cr_assert(strncmp(d, "name part must be non-empty; name part must consist of", 53) == 0, "%s",
              d);
    cr_assert(api__check_label_value("") == NULL);
    cr_assert(api__check_label_value("v1.2_3-x") == NULL);
    _cleanup_free_ char *e = api__check_label_value("a b");
    cr_assert(strncmp(e, "a valid label must be an empty string", 37) == 0, "%s", e);
    _cleanup_free_ char *f = api__check_path_segment("..");
    cr_assert(eq(str, f, "may not be '..'"));
    _cleanup_free_ char *g = api__check_path_segment("a%b/c");
    cr_assert(eq(str, g, "may not contain '/'; may not contain '%'"));
    cr_assert(api__check_path_segment("system:node") == NULL);
    cr_assert(api__check_c_identifier("MY_VAR.x-1") == NULL);
    _cleanup_free_ char *h = api__check_c_identifier("1X");
    cr_assert(h != NULL);
}

Test(names, quote_and_quantities)
{
    _cleanup_free_ char *q = api__quote("a\"b\\c\n\x01");
    cr_assert(eq(str, q, "\"a\\\"b\\\\c\\n\\x01\""));
    double v = 0;
    cr_assert(api__parse_quantity("100m", &v) && v > 0.0999 && v < 0.1001);
    cr_assert(api__parse_quantity("1Gi", &v) && v == 1073741824.0);
    cr_assert(api__parse_quantity("1.5", &v) && v == 1.5);
    cr_assert(api__parse_quantity("1e3", &v) && v == 1000.0);
    cr_assert(api__parse_quantity("2E", &v) && v == 2e18);
    cr_assert(api__parse_quantity("-1", &v) && v == -1.0);
    cr_assert(api__parse_quantity(".5k", &v) && v == 500.0);
    const char *bad[] = {"", "abc", "1x", "1Kii", "1e", "1e+", "--1", "1 ", "Mi", "1e999"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        cr_assert(false == api__parse_quantity(bad[i], &v), "%s", bad[i]);
}
