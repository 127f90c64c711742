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
    const struct net_endpoint eps[] = {{.ip = "10.42.1.2", .port = 8080},
                                       {.ip = "10.42.2.2", .port = 8080},
                                       {.ip = "10.42.2.3", .port = 9090}};
    const struct net_service svcs[] = {
        {.name = "default/web",
         .cluster_ip = "10.43.0.10",
         .port = 80,
         .protocol = NULL,
         .endpoints = eps,
         .n_endpoints = 3},
        {.name = "kube-system/dns",
         .cluster_ip = "10.43.0.11",
         .port = 53,
         .protocol = "udp",
         .endpoints = NULL,
         .n_endpoints = 0},
    };
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *s = net_services_render(&cfg, svcs, 2, &err);
    cr_assert(s != NULL);
    cr_assert(strncmp(s, "table ip k8c\ndelete table ip k8c\ntable ip k8c {", 46) == 0, "%s", s);
    cr_assert(strstr(s, "10.43.0.10 . tcp . 80 : goto svc-0") != NULL, "%s", s);
    cr_assert(strstr(s, "ip daddr . meta l4proto . th dport vmap @service-ips\n") != NULL, "%s", s);
    cr_assert(strstr(s,
                     "meta l4proto tcp dnat ip addr . port to numgen random mod 3 map { "
                     "0 : 10.42.1.2 . 8080, 1 : 10.42.2.2 . 8080, 2 : 10.42.2.3 . 9090 }") != NULL,
              "%s", s);
    cr_assert(strstr(s, "10.43.0.11 . udp . 53 : goto reject-no-endpoints") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr 10.42.1.0/24 oifname \"k8c0\" masquerade") != NULL, "%s", s);
    size_t tables = count(s, "table ");
    cr_assert(eq(sz, tables, 3), "only our own table is named");
}

Test(net_service, bad_input_names_the_service)
{
    const struct net_endpoint good[] = {{.ip = "10.42.1.2", .port = 8080}};
    const struct net_endpoint bad_ip[] = {{.ip = "10.42.1.2; flush ruleset", .port = 8080}};
    const struct net_endpoint bad_port[] = {{.ip = "10.42.1.2", .port = 70000}};
    const struct net_service cases[] = {
        {.name = "ns/a",
         .cluster_ip = "10.43.0.300",
         .port = 80,
         .protocol = NULL,
         .endpoints = good,
         .n_endpoints = 1},
        {.name = "ns/b",
         .cluster_ip = "10.43.0.10",
         .port = 0,
         .protocol = NULL,
         .endpoints = good,
         .n_endpoints = 1},
        {.name = "ns/c",
         .cluster_ip = "10.43.0.10",
         .port = 80,
         .protocol = "sctp",
         .endpoints = good,
         .n_endpoints = 1},
        {.name = "ns/d",
         .cluster_ip = "10.43.0.10",
         .port = 80,
         .protocol = NULL,
         .endpoints = bad_ip,
         .n_endpoints = 1},
        {.name = "ns/e",
         .cluster_ip = "10.43.0.10",
         .port = 80,
         .protocol = NULL,
         .endpoints = bad_port,
         .n_endpoints = 1},
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

Test(net_service, node_port_and_client_ip_affinity)
{
    const struct net_endpoint eps[] = {{.ip = "10.42.1.2", .port = 8080},
                                       {.ip = "10.42.2.2", .port = 8080}};
    const struct net_service svcs[] = {
        {.name = "default/web",
         .cluster_ip = "10.43.0.10",
         .port = 80,
         .endpoints = eps,
         .n_endpoints = 2,
         .node_port = 30080,
         .affinity_seconds = 10800},
        {.name = "default/none", .cluster_ip = "10.43.0.11", .port = 81, .node_port = 30081},
    };
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *s = net_services_render(&cfg, svcs, 2, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(strstr(s, "tcp . 30080 : goto svc-0-np") != NULL, "%s", s);
    cr_assert(strstr(s, "chain svc-0-np {\n\t\tmeta mark set meta mark | 0x4000\n\t\tgoto "
                        "svc-0\n") != NULL,
              "%s", s);
    cr_assert(strstr(s, "meta mark & 0x4000 == 0x4000 masquerade") != NULL, "%s", s);
    cr_assert(strstr(s, "set svc-0-ep-1-aff {") != NULL, "%s", s);
    cr_assert(strstr(s, "timeout 10800s") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr @svc-0-ep-1-aff goto svc-0-ep-1\n") != NULL, "%s", s);
    cr_assert(strstr(s, "update @svc-0-ep-0-aff { ip saddr }") != NULL, "%s", s);
    cr_assert(strstr(s, "tcp . 30081 : goto reject-no-endpoints") != NULL, "%s", s);
    const struct net_service bad = {
        .name = "ns/np", .cluster_ip = "10.43.0.10", .port = 80, .node_port = 70000};
    _cleanup_err_ struct k8c_err *err2 = NULL;
    _cleanup_free_ char *none = net_services_render(&cfg, &bad, 1, &err2);
    cr_assert(none == NULL);
    cr_assert(strstr(err2->msg, "ns/np") != NULL, "%s", err2->msg);
}

Test(net_service, external_traffic_policy_local)
{
    const struct net_endpoint eps[] = {{.ip = "10.42.1.2", .port = 8080, .local = true},
                                       {.ip = "10.42.2.2", .port = 8080}};
    const struct net_endpoint remote[] = {{.ip = "10.42.2.2", .port = 8080}};
    const struct net_service svcs[] = {
        {.name = "default/web",
         .cluster_ip = "10.43.0.10",
         .port = 80,
         .endpoints = eps,
         .n_endpoints = 2,
         .node_port = 30080,
         .external_local = true},
        {.name = "default/far",
         .cluster_ip = "10.43.0.11",
         .port = 80,
         .endpoints = remote,
         .n_endpoints = 1,
         .node_port = 30081,
         .external_local = true},
    };
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *s = net_services_render(&cfg, svcs, 2, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(strstr(s, "tcp . 30080 : goto svc-0-npl") != NULL, "%s", s);
    cr_assert(strstr(s, "chain svc-0-npl {\n\t\tmeta l4proto tcp dnat ip addr . port to numgen "
                        "random mod 1 map { 0 : 10.42.1.2 . 8080 }") != NULL,
              "%s", s);
    cr_assert(strstr(s, "chain svc-1-npl {\n\t\tdrop\n") != NULL, "no local endpoint: %s", s);
    cr_assert(strstr(s, "svc-0-np {") == NULL, "no masquerade mark for Local: %s", s);
    /* the ClusterIP still balances over every endpoint */
    cr_assert(strstr(s, "numgen random mod 2 map { 0 : 10.42.1.2 . 8080, 1 : 10.42.2.2 . 8080 }") !=
                  NULL,
              "%s", s);
}
