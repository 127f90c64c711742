/* Unit tests for src/net/policy.c: selector evaluation and the nftables rules of
 * NetworkPolicies (isolation, peers, ports, ipBlock, named ports). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "base/mem.h"
#include "net/policy.h"

static const struct net_label web_l[] = {{"app", "web"}, {"tier", "front"}};
static const struct net_label db_l[] = {{"app", "db"}};
static const struct net_label client_l[] = {{"app", "client"}};
static const struct net_label prod_l[] = {{"kubernetes.io/metadata.name", "prod"}, {"env", "prod"}};
static const struct net_named_port db_ports[] = {{"pg", NET_PROTO_TCP, 5432}};

/* web and db in prod on this node, a client in prod elsewhere, a pod in dev */
static const struct net_pol_pod pods[] = {
    {"prod", "web", "10.42.1.2", web_l, 2, NULL, 0, true},
    {"prod", "db", "10.42.1.3", db_l, 1, db_ports, 1, true},
    {"prod", "client", "10.42.2.4", client_l, 1, NULL, 0, false},
    {"dev", "tester", "10.42.2.5", client_l, 1, NULL, 0, false},
    {"prod", "pending", NULL, client_l, 1, NULL, 0, true},
};
static const struct net_pol_ns nss[] = {{"prod", prod_l, 2}, {"dev", NULL, 0}};

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *render(const struct net_policy *pols, size_t n)
{
    struct net_pol_input in = {pods, ARRAY_SIZE(pods), nss, ARRAY_SIZE(nss), pols, n};
    _cleanup_err_ struct k8c_err *err = NULL;
    char *s = net_policy_render(&in, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    return s;
}

Test(net_policy, selectors)
{
    const char *vals[] = {"web", "db"};
    const struct net_sel_req in[] = {{"app", NET_SEL_IN, vals, 2}};
    const struct net_sel_req notin[] = {{"app", NET_SEL_NOT_IN, vals, 2}};
    const struct net_sel_req exists[] = {{"tier", NET_SEL_EXISTS, NULL, 0}};
    const struct net_sel_req absent[] = {{"tier", NET_SEL_DOES_NOT_EXIST, NULL, 0}};
    const struct net_selector all = {0}, sel_in = {NULL, 0, in, 1}, sel_notin = {NULL, 0, notin, 1},
                              sel_ex = {NULL, 0, exists, 1}, sel_abs = {NULL, 0, absent, 1},
                              labels = {web_l, 2, NULL, 0};
    cr_assert(net_selector_matches(&all, NULL, 0));
    cr_assert(net_selector_matches(&sel_in, db_l, 1));
    cr_assert(not(net_selector_matches(&sel_in, client_l, 1)));
    cr_assert(net_selector_matches(&sel_notin, client_l, 1));
    cr_assert(net_selector_matches(&sel_notin, NULL, 0), "NotIn matches a missing key");
    cr_assert(net_selector_matches(&sel_ex, web_l, 2));
    cr_assert(not(net_selector_matches(&sel_ex, db_l, 1)));
    cr_assert(net_selector_matches(&sel_abs, db_l, 1));
    cr_assert(net_selector_matches(&labels, web_l, 2));
    cr_assert(not(net_selector_matches(&labels, db_l, 1)));
}

Test(net_policy, no_policy_no_isolation)
{
    _cleanup_free_ char *s = render(NULL, 0);
    cr_assert(strncmp(s, "table ip k8c-policy\ndelete table ip k8c-policy\n", 46) == 0, "%s", s);
    cr_assert(strstr(s, "ct state established,related accept") != NULL, "%s", s);
    cr_assert(eq(sz, count(s, "vmap"), 0), "%s", s);
    cr_assert(eq(sz, count(s, "drop"), 0), "%s", s);
}

Test(net_policy, default_deny_ingress_isolates_selected_local_pods_only)
{
    /* podSelector {} with no ingress rules: every pod of prod is isolated, nothing allowed */
    const struct net_policy deny = {"prod", "deny", {0}, true, false, NULL, 0, NULL, 0};
    _cleanup_free_ char *s = render(&deny, 1);
    cr_assert(
        strstr(s, "ip daddr vmap { 10.42.1.2 : jump ingress-0, 10.42.1.3 : jump ingress-1 }") !=
            NULL,
        "%s", s);
    cr_assert(strstr(s, "chain ingress-0 {\n\t\tdrop\n\t}") != NULL, "%s", s);
    cr_assert(eq(sz, count(s, "10.42.2.4 : jump"), 0), "remote pods get no chain here: %s", s);
    cr_assert(eq(sz, count(s, "saddr vmap"), 0), "no egress isolation: %s", s);
}

Test(net_policy, ingress_from_pods_and_namespaces_on_ports)
{
    const struct net_selector client = {client_l, 1, NULL, 0};
    const struct net_selector prod = {(struct net_label[]){{"env", "prod"}}, 1, NULL, 0};
    const struct net_selector any = {0};
    const struct net_pol_peer peers[] = {
        {&client, NULL, NULL, NULL, 0}, /* clients in the policy's namespace */
        {&client, &any, NULL, NULL, 0}, /* clients in any namespace */
        {NULL, &prod, NULL, NULL, 0},   /* every pod of namespaces labelled env=prod */
    };
    const struct net_pol_port ports[] = {{NET_PROTO_TCP, 80, NULL, 0},
                                         {NET_PROTO_UDP, 8000, NULL, 8010}};
    const struct net_pol_rule rules[] = {
        {&peers[0], 1, ports, 2}, {&peers[1], 1, NULL, 0}, {&peers[2], 1, &ports[0], 1}};
    const struct net_selector web = {web_l, 1, NULL, 0};
    const struct net_policy pol = {"prod", "web-in", web, true, false, rules, 3, NULL, 0};
    _cleanup_free_ char *s = render(&pol, 1);
    cr_assert(strstr(s, "ip daddr vmap { 10.42.1.2 : jump ingress-0 }") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr { 10.42.2.4 } tcp dport 80 accept") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr { 10.42.2.4 } udp dport 8000-8010 accept") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr { 10.42.2.4, 10.42.2.5 } accept") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr { 10.42.1.2, 10.42.1.3, 10.42.2.4 } tcp dport 80 accept") != NULL,
              "%s", s);
    cr_assert(eq(sz, count(s, "chain ingress-"), 1), "db is not selected: %s", s);
}

Test(net_policy, egress_ipblock_except_named_ports_and_union)
{
    const char *except[] = {"10.42.2.0/24"};
    const struct net_pol_peer block = {NULL, NULL, "10.42.0.0/16", except, 1};
    const struct net_selector db = {db_l, 1, NULL, 0};
    const struct net_pol_peer to_db = {&db, NULL, NULL, NULL, 0};
    const struct net_pol_port pg = {NET_PROTO_TCP, 0, "pg", 0};
    const struct net_pol_port dns = {NET_PROTO_UDP, 53, NULL, 0};
    const struct net_pol_rule rules1[] = {{&block, 1, NULL, 0}, {&to_db, 1, &pg, 1}};
    const struct net_pol_rule rules2[] = {{NULL, 0, &dns, 1}};
    const struct net_selector web = {web_l, 1, NULL, 0};
    const struct net_policy pols[] = {
        {"prod", "web-out", web, false, true, NULL, 0, rules1, 2},
        {"prod", "dns", web, false, true, NULL, 0, rules2, 1},
    };
    _cleanup_free_ char *s = render(pols, 2);
    cr_assert(strstr(s, "ip saddr vmap { 10.42.1.2 : jump egress-0 }") != NULL, "%s", s);
    cr_assert(strstr(s, "ip daddr 10.42.0.0/16 ip daddr != { 10.42.2.0/24 } return") != NULL, "%s",
              s);
    cr_assert(strstr(s, "ip daddr 10.42.1.3 tcp dport 5432 return") != NULL, "%s", s);
    cr_assert(strstr(s, "\t\tudp dport 53 return") != NULL, "the union of both: %s", s);
    /* egress is checked before ingress in the forward chain */
    cr_assert(strstr(s, "saddr vmap") < strstr(s, "chain egress-0"), "%s", s);
}

Test(net_policy, bad_input_names_the_policy)
{
    const struct net_pol_peer bad_cidr = {NULL, NULL, "10.42.0.1/16", NULL, 0};
    const struct net_pol_port bad_port = {NET_PROTO_TCP, 90, NULL, 80};
    const struct net_pol_rule r1 = {&bad_cidr, 1, NULL, 0}, r2 = {NULL, 0, &bad_port, 1};
    const struct net_policy cases[] = {
        {"prod", "cidr", {0}, true, false, &r1, 1, NULL, 0},
        {"prod", "port", {0}, true, false, &r2, 1, NULL, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct net_pol_input in = {pods, ARRAY_SIZE(pods), nss, ARRAY_SIZE(nss), &cases[i], 1};
        _cleanup_err_ struct k8c_err *err = NULL;
        cr_assert(net_policy_render(&in, &err) == NULL, "case %zu", i);
        cr_assert(strstr(err->msg, cases[i].name) != NULL, "%s", err->msg);
    }
    const struct net_pol_pod bad_pod = {"prod", "x", "10.42.1.2; flush ruleset", NULL, 0, NULL,
                                        0,      true};
    struct net_pol_input in = {&bad_pod, 1, NULL, 0, NULL, 0};
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(net_policy_render(&in, &err) == NULL);
    cr_assert(strstr(err->msg, "prod/x") != NULL, "%s", err->msg);
}

Test(net_policy, an_address_twice_is_one_key_and_one_element)
{
    /* a stale pod still reporting the address of a new one: nftables would refuse the table */
    const struct net_pol_pod twins[] = {
        {"prod", "old", "10.42.1.2", web_l, 2, NULL, 0, true},
        {"prod", "new", "10.42.1.2", web_l, 2, NULL, 0, true},
        {"prod", "c1", "10.42.2.4", client_l, 1, NULL, 0, false},
        {"prod", "c2", "10.42.2.4", client_l, 1, NULL, 0, false},
    };
    const struct net_selector client = {client_l, 1, NULL, 0};
    const struct net_pol_peer peer = {&client, NULL, NULL, NULL, 0};
    const struct net_pol_rule rule = {&peer, 1, NULL, 0};
    const struct net_policy pol = {"prod", "p", {0}, true, false, &rule, 1, NULL, 0};
    struct net_pol_input in = {twins, 4, nss, ARRAY_SIZE(nss), &pol, 1};
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *s = net_policy_render(&in, &err);
    cr_assert(s != NULL);
    cr_assert(strstr(s, "ip daddr vmap { 10.42.1.2 : jump ingress-0 }") != NULL, "%s", s);
    cr_assert(strstr(s, "ip saddr { 10.42.2.4 } accept") != NULL, "%s", s);
}
