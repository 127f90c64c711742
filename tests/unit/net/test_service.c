/* Unit tests for src/net/service.c: the nftables script for ClusterIP balancing. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "base/mem.h"
#include "net/net.h"

static const struct net_service_config cfg = {.bridge = NULL, .pod_cidr = "10.42.1.0/24"};

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(net_service, renders_equal_weight_vmap_and_atomic_replace)
{
    const struct net_endpoint eps[] = {
        {"10.42.1.2", 8080}, {"10.42.2.2", 8080}, {"10.42.2.3", 9090}};
    const struct net_service svcs[] = {
        {"default/web", "10.43.0.10", 80, NULL, eps, 3},
        {"kube-system/dns", "10.43.0.11", 53, "udp", NULL, 0},
    };
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *s = net_services_render(&cfg, svcs, 2, &err);
    cr_assert(s != NULL);
    cr_assert(strncmp(s, "table ip k8c\ndelete table ip k8c\ntable ip k8c {", 46) == 0, "%s", s);
    cr_assert(strstr(s, "ip daddr 10.43.0.10 tcp dport 80 goto svc-0\n") != NULL, "%s", s);
    cr_assert(strstr(s, "numgen random mod 3 vmap { 0 : goto svc-0-ep-0, 1 : goto svc-0-ep-1, "
                        "2 : goto svc-0-ep-2 }") != NULL,
              "%s", s);
    cr_assert(strstr(s, "dnat to 10.42.2.3:9090") != NULL, "%s", s);
    cr_assert(strstr(s, "ip daddr 10.43.0.11 udp dport 53 reject") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr 10.42.1.0/24 oifname \"k8c0\" masquerade") != NULL, "%s", s);
    size_t tables = count(s, "table ");
    cr_assert(eq(sz, tables, 3), "only our own table is named");
}

Test(net_service, bad_input_names_the_service)
{
    const struct net_endpoint good[] = {{"10.42.1.2", 8080}};
    const struct net_endpoint bad_ip[] = {{"10.42.1.2; flush ruleset", 8080}};
    const struct net_endpoint bad_port[] = {{"10.42.1.2", 70000}};
    const struct net_service cases[] = {
        {"ns/a", "10.43.0.300", 80, NULL, good, 1},    {"ns/b", "10.43.0.10", 0, NULL, good, 1},
        {"ns/c", "10.43.0.10", 80, "sctp", good, 1},   {"ns/d", "10.43.0.10", 80, NULL, bad_ip, 1},
        {"ns/e", "10.43.0.10", 80, NULL, bad_port, 1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_err_ struct k8c_err *err = NULL;
        _cleanup_free_ char *s = net_services_render(&cfg, &cases[i], 1, &err);
        cr_assert(s == NULL, "case %zu accepted", i);
        cr_assert(strstr(err->msg, cases[i].name) != NULL, "%s", err->msg);
    }
    _cleanup_err_ struct k8c_err *err = NULL;
    const struct net_service_config bad_cfg = {.bridge = "k8c0\"; flush",
                                               .pod_cidr = "10.42.1.0/24"};
    _cleanup_free_ char *s = net_services_render(&bad_cfg, NULL, 0, &err);
    cr_assert(s == NULL);
}

Test(net_service, egress_masquerade_only_with_a_cluster_cidr)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *without = net_services_render(&cfg, NULL, 0, &err);
    cr_assert(without != NULL);
    cr_assert(strstr(without, "chain egress") == NULL);
    const struct net_service_config with = {.pod_cidr = "10.42.1.0/24",
                                            .cluster_cidr = "10.42.0.0/16"};
    _cleanup_free_ char *s = net_services_render(&with, NULL, 0, &err);
    cr_assert(s != NULL);
    cr_assert(strstr(s, "ip saddr 10.42.1.0/24 ip daddr != 10.42.0.0/16 oifname != \"k8c0\" "
                        "masquerade") != NULL,
              "%s", s);
    const struct net_service_config bad = {.pod_cidr = "10.42.1.0/24", .cluster_cidr = "10.42/16"};
    _cleanup_free_ char *none = net_services_render(&bad, NULL, 0, &err);
    cr_assert(none == NULL);
    cr_assert(strstr(err->msg, "cluster CIDR") != NULL, "%s", err->msg);
}
