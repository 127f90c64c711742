/* Unit tests for src/agent/dns.c and netpol.c: pods' resolv.conf per dnsPolicy/dnsConfig, DNS
 * records from Services/EndpointSlices/Pods as the API serves them, and NetworkPolicy objects
 * turned into the rules of src/net/policy.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "net/dns.h"
#include "net/policy.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert(j != NULL, "%s: %s", e.text, text);
    return j;
}

static char host_conf[] = "/tmp/k8c-agent-dns-unit-XXXXXX";

static struct agent test_agent(void)
{
    int fd = mkstemp(host_conf);
    const char *text = "search corp.example\nnameserver 192.0.2.53\noptions edns0 ndots:1\n";
    cr_assert(eq(sz, (size_t)write(fd, text, strlen(text)), strlen(text)));
    close(fd);
    struct agent a = {0};
    a.cluster_dns = "10.96.0.10";
    a.cluster_domain = "cluster.local";
    a.resolv_conf = host_conf;
    return a;
}

static char *resolv(const struct agent *a, const char *pod)
{
    _cleanup_json_ json_t *p = parse(pod);
    return agent__dns_resolv_text(a, p);
}

Test(agent_dns, resolv_conf_per_dns_policy)
{
    struct agent a = test_agent();
    _cleanup_free_ char *first = resolv(&a, "{\"metadata\":{\"namespace\":\"shop\"},\"spec\":{}}");
    cr_assert(eq(str, first,
                 "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
                 "nameserver 10.96.0.10\noptions ndots:5\n"));
    _cleanup_free_ char *dflt =
        resolv(&a, "{\"metadata\":{\"namespace\":\"shop\"},\"spec\":{\"dnsPolicy\":\"Default\"}}");
    cr_assert(eq(str, dflt, "search corp.example\nnameserver 192.0.2.53\noptions edns0 ndots:1\n"));
    /* ClusterFirst on the host network falls back to Default; WithHostNet keeps the cluster */
    _cleanup_free_ char *hostnet =
        resolv(&a, "{\"metadata\":{\"namespace\":\"shop\"},\"spec\":{\"hostNetwork\":true}}");
    cr_assert(eq(str, hostnet, dflt));
    _cleanup_free_ char *withhost =
        resolv(&a, "{\"metadata\":{\"namespace\":\"shop\"},\"spec\":{\"hostNetwork\":true,"
                   "\"dnsPolicy\":\"ClusterFirstWithHostNet\"}}");
    cr_assert(eq(str, withhost, first));
    _cleanup_free_ char *none =
        resolv(&a, "{\"metadata\":{\"namespace\":\"shop\"},\"spec\":{\"dnsPolicy\":\"None\","
                   "\"dnsConfig\":{\"nameservers\":[\"1.2.3.4\"],\"searches\":[\"ns1.svc.my\"],"
                   "\"options\":[{\"name\":\"ndots\",\"value\":\"2\"},{\"name\":\"edns0\"}]}}}");
    cr_assert(eq(str, none, "search ns1.svc.my\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"));
    /* dnsConfig merges into ClusterFirst: servers and searches appended, options override */
    _cleanup_free_ char *merged =
        resolv(&a, "{\"metadata\":{\"namespace\":\"shop\"},\"spec\":{\"dnsConfig\":{"
                   "\"nameservers\":[\"1.2.3.4\"],\"searches\":[\"cluster.local\",\"x.y\"],"
                   "\"options\":[{\"name\":\"ndots\",\"value\":\"1\"}]}}}");
    cr_assert(eq(str, merged,
                 "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example x.y\n"
                 "nameserver 10.96.0.10\nnameserver 1.2.3.4\noptions ndots:1\n"));
    unlink(host_conf);
}

Test(agent_dns, records_from_api_objects)
{
    _cleanup_json_ json_t *svcs =
        parse("[{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"clusterIP\":"
              "\"10.96.3.4\",\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}]}},"
              "{\"metadata\":{\"namespace\":\"default\",\"name\":\"db\"},\"spec\":{\"clusterIP\":"
              "\"None\",\"ports\":[{\"port\":5432}]}},"
              "{\"metadata\":{\"namespace\":\"default\",\"name\":\"v6\"},\"spec\":{\"clusterIP\":"
              "\"fd00::1\"}},"
              "{\"metadata\":{\"namespace\":\"default\",\"name\":\"ext\"},\"spec\":{\"type\":"
              "\"ExternalName\",\"externalName\":\"example.com\"}}]");
    _cleanup_json_ json_t *slices = parse(
        "[{\"metadata\":{\"namespace\":\"default\",\"name\":\"db-abc\",\"labels\":{"
        "\"kubernetes.io/service-name\":\"db\"}},\"addressType\":\"IPv4\",\"endpoints\":["
        "{\"addresses\":[\"10.42.1.5\"],\"hostname\":\"db-0\",\"conditions\":{\"ready\":true}},"
        "{\"addresses\":[\"10.42.1.6\"],\"conditions\":{\"ready\":false}},"
        "{\"addresses\":[\"10.42.1.7\"]}]},"
        "{\"metadata\":{\"namespace\":\"other\",\"name\":\"db-x\",\"labels\":{"
        "\"kubernetes.io/service-name\":\"db\"}},\"addressType\":\"IPv4\",\"endpoints\":["
        "{\"addresses\":[\"10.42.9.9\"]}]}]");
    _cleanup_json_ json_t *pods =
        parse("[{\"metadata\":{\"namespace\":\"default\",\"name\":\"a\"},\"spec\":{},\"status\":{"
              "\"podIP\":\"10.42.1.5\"}},{\"metadata\":{\"namespace\":\"default\",\"name\":\"h\"},"
              "\"spec\":{\"hostNetwork\":true},\"status\":{\"podIP\":\"192.0.2.1\"}}]");
    _cleanup_err_ struct k8c_err *err = NULL;
    struct net_dns_table *t = agent__dns_table(svcs, slices, pods, "cluster.local", &err);
    cr_assert(t != NULL, "%s", err ? err->msg : "");
    /* ask the table through the wire answerer and look at the answer count */
    struct {
        const char *name;
        unsigned answers, rcode;
    } cases[] = {
        {"web.default.svc.cluster.local", 1, 0},
        {"db.default.svc.cluster.local", 2, 0},
        {"db-0.db.default.svc.cluster.local", 1, 0},
        {"10-42-1-7.db.default.svc.cluster.local", 1, 0},
        {"10-42-1-6.db.default.svc.cluster.local", 0, 3},
        {"ext.default.svc.cluster.local", 1, 0},
        {"v6.default.svc.cluster.local", 0, 3},
        {"10-42-1-5.default.pod.cluster.local", 1, 0},
        {"192-0-2-1.default.pod.cluster.local", 0, 3},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint8_t q[300] = {0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
        size_t n = 12;
        for (const char *p = cases[i].name; *p;) {
            const char *dot = strchrnul(p, '.');
            q[n++] = (uint8_t)(dot - p);
            memcpy(q + n, p, (size_t)(dot - p));
            n += (size_t)(dot - p);
            p = *dot ? dot + 1 : dot;
        }
        q[n++] = 0, q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
        _cleanup_buf_ struct buf out = BUF_INIT;
        cr_assert(eq(int, net_dns_answer(t, q, n, true, false, &out), NET_DNS_REPLY));
        const uint8_t *r = (const uint8_t *)out.data;
        cr_assert(eq(u32, r[3] & 15u, cases[i].rcode), "%s", cases[i].name);
        cr_assert(eq(u32, (unsigned)(r[6] << 8 | r[7]), cases[i].answers), "%s", cases[i].name);
    }
    net_dns_table_unref(t);
}

Test(agent_netpol, policy_objects_to_rules)
{
    _cleanup_json_ json_t *pods = parse(
        "[{\"metadata\":{\"namespace\":\"prod\",\"name\":\"web\",\"labels\":{\"app\":\"web\"}},"
        "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"ports\":[{\"name\":\"http\","
        "\"containerPort\":8080}]}]},\"status\":{\"podIP\":\"10.42.1.2\",\"phase\":\"Running\"}},"
        "{\"metadata\":{\"namespace\":\"dev\",\"name\":\"cli\",\"labels\":{\"app\":\"cli\"}},"
        "\"spec\":{\"nodeName\":\"n2\"},\"status\":{\"podIP\":\"10.42.2.3\"}},"
        "{\"metadata\":{\"namespace\":\"prod\",\"name\":\"done\",\"labels\":{\"app\":\"cli\"}},"
        "\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"podIP\":\"10.42.1.9\",\"phase\":"
        "\"Succeeded\"}}]");
    _cleanup_json_ json_t *nss = parse("[{\"metadata\":{\"name\":\"prod\"}},{\"metadata\":{"
                                       "\"name\":\"dev\",\"labels\":{\"team\":\"qa\"}}}]");
    _cleanup_json_ json_t *pols = parse(
        "[{\"metadata\":{\"namespace\":\"prod\",\"name\":\"web\"},\"spec\":{\"podSelector\":{"
        "\"matchLabels\":{\"app\":\"web\"}},\"policyTypes\":[\"Ingress\"],\"ingress\":[{"
        "\"from\":[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"team\",\"operator\":"
        "\"In\",\"values\":[\"qa\"]}]},\"podSelector\":{}}],\"ports\":[{\"port\":\"http\","
        "\"protocol\":\"TCP\"}]},{\"from\":[{\"ipBlock\":{\"cidr\":\"fd00::/8\"}}]},"
        "{\"from\":[{\"ipBlock\":{\"cidr\":\"192.168.7.9/16\",\"except\":[\"192.168.1.0/24\"]}}]}"
        "]}}]");
    const struct net_pol_input *in = NULL;
    struct agent_netpol *h = agent__netpol_input(pods, nss, pols, "n1", &in);
    cr_assert(eq(sz, in->n_pods, 2), "the finished pod is left out");
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_free_ char *s = net_policy_render(in, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(strstr(s, "ip daddr vmap { 10.42.1.2 : jump ingress-0 }") != NULL, "%s", s);
    /* the namespace selector by label; the named port resolved on the selected pod */
    cr_assert(strstr(s, "ip saddr { 10.42.2.3 } tcp dport 8080 accept") != NULL, "%s", s);
    /* host bits cleared as Kubernetes allows; an IPv6-only rule is dropped, never widened */
    cr_assert(strstr(s, "ip saddr 192.168.0.0/16 ip saddr != { 192.168.1.0/24 } accept") != NULL,
              "%s", s);
    cr_assert(eq(sz, in->policies[0].n_ingress, 2), "%s", s);
    cr_assert(strstr(s, "\t\taccept\n") == NULL, "no allow-all rule: %s", s);
    /* the namespace label Kubernetes sets on every namespace is there */
    bool found = false;
    for (size_t i = 0; i < in->namespaces[0].n_labels; i++)
        found |= strcmp(in->namespaces[0].labels[i].key, "kubernetes.io/metadata.name") == 0 &&
                 strcmp(in->namespaces[0].labels[i].value, "prod") == 0;
    cr_assert(found);
    agent__netpol_free(h);
}
