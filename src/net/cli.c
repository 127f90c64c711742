/* `k8c net-test …`: a hidden driver of the pod-network library for the lab tests (the agent
 * calls the library directly). Usage errors exit 2, failures exit 1, one line each. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"
#include "net/dns.h"
#include "net/net.h"

/* svc-scale: n services of m endpoints each (10.43.x.y:80 -> 10.42.a.b:8080), synced twice
 * (the second is what an endpoint change costs: the whole table replaced); prints the
 * milliseconds of each. */
static int svc_scale(const struct net_service_config *cfg, size_t n, size_t m)
{
    struct net_service *svcs = xcalloc(n, sizeof(*svcs));
    struct net_endpoint *eps = xcalloc(n * m, sizeof(*eps));
    char(*ips)[16] = xcalloc(n * (m + 1), 16);
    for (size_t i = 0; i < n; i++) {
        char *cip = ips[i * (m + 1)];
        snprintf(cip, 16, "10.43.%u.%u", (unsigned)((i + 1) / 250 % 256),
                 (unsigned)((i + 1) % 250 + 1));
        for (size_t e = 0; e < m; e++) {
            char *ep = ips[i * (m + 1) + 1 + e];
            size_t k = i * m + e;
            snprintf(ep, 16, "10.42.%u.%u", (unsigned)(k / 250 % 256), (unsigned)(k % 250 + 2));
            eps[k] = (struct net_endpoint){.ip = ep, .port = 8080};
        }
        svcs[i] = (struct net_service){.name = "scale",
                                       .cluster_ip = cip,
                                       .port = 80,
                                       .endpoints = &eps[i * m],
                                       .n_endpoints = m};
    }
    int rc = 0;
    for (int round = 0; round < 2 && rc == 0; round++) {
        if (round == 1)
            eps[0].port = 8081; /* one endpoint changed */
        struct k8c_err *err = NULL;
        uint64_t t0 = clock_mono_ns();
        if (net_services_sync(cfg, svcs, n, &err) < 0) {
            fprintf(stderr, "k8c net-test: %s\n", err->msg);
            k8c_err_free(err);
            rc = 1;
            break;
        }
        printf("%s_ms=%.1f\n", round ? "change" : "initial", (double)(clock_mono_ns() - t0) / 1e6);
    }
    free(svcs);
    free(eps);
    free(ips);
    return rc;
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "k8c net-test: %s (usage: net-test node-setup|attach|detach|route-add|route-del|"
            "svc-sync|svc-render|svc-cleanup|svc-scale [--pod-cidr C] [--bridge B] [--netns PATH] "
            "[--pod ID] "
            "[--state FILE] [--cidr C --via IP] [--svc CIP:PORT[/udp]=IP:PORT,...] [--cluster-cidr "
            "C] [--node-port N] [--affinity S] [--count N --endpoints M])\n",
            msg);
    return 2;
}

#define MAX_SVCS 64
#define MAX_EPS 64

struct svc_arg {
    struct net_service svc;
    struct net_endpoint eps[MAX_EPS];
    char ips[MAX_EPS + 1][16];
    char proto[4];
};

/* "a.b.c.d:port" into ip (16 bytes) and *port; 0 or -1. */
static int parse_hostport(const char *s, size_t len, char *ip, unsigned *port)
{
    const char *colon = memchr(s, ':', len);
    if (!colon || colon - s > 15 || colon - s == 0)
        return -1;
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = '\0';
    char digits[8];
    size_t n = len - (size_t)(colon + 1 - s);
    if (n == 0 || n > 5)
        return -1;
    memcpy(digits, colon + 1, n);
    digits[n] = '\0';
    if (strspn(digits, "0123456789") != n)
        return -1;
    *port = (unsigned)strtoul(digits, NULL, 10);
    return 0;
}

/* "CIP:PORT[/udp]=EP:PORT,EP:PORT" (no endpoints after '=': none ready). */
static int parse_svc(const char *text, struct svc_arg *a)
{
    memset(a, 0, sizeof(*a));
    const char *eq = strchr(text, '=');
    if (!eq)
        return -1;
    const char *slash = memchr(text, '/', (size_t)(eq - text));
    size_t head = (size_t)((slash ? slash : eq) - text);
    if (parse_hostport(text, head, a->ips[MAX_EPS], &a->svc.port) < 0)
        return -1;
    snprintf(a->proto, sizeof(a->proto), "tcp");
    if (slash) {
        if (eq - slash - 1 != 3)
            return -1;
        memcpy(a->proto, slash + 1, 3);
    }
    a->svc.name = text;
    a->svc.cluster_ip = a->ips[MAX_EPS];
    a->svc.protocol = a->proto;
    a->svc.endpoints = a->eps;
    for (const char *p = eq + 1; *p;) {
        const char *end = strchrnul(p, ',');
        size_t i = a->svc.n_endpoints;
        if (i == MAX_EPS || parse_hostport(p, (size_t)(end - p), a->ips[i], &a->eps[i].port) < 0)
            return -1;
        a->eps[i].ip = a->ips[i];
        a->svc.n_endpoints++;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int fail(struct k8c_err *err)
{
    _cleanup_free_ char *text = k8c_err_text(err);
    fprintf(stderr, "k8c net-test: %s\n", text);
    k8c_err_free(err);
    return 1;
}

int net_cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing subcommand");
    const char *sub = argv[1];
    if (strcmp(sub, "dns-serve") == 0)
        return net_dns_cli_main(argc, argv);
    const char *pod_cidr = NULL, *bridge = NULL, *netns = NULL, *pod = NULL, *state = NULL,
               *cidr = NULL, *via = NULL, *cluster_cidr = NULL;
    static const struct option opts[] = {
        {"pod-cidr", required_argument, NULL, 'c'},     {"bridge", required_argument, NULL, 'b'},
        {"netns", required_argument, NULL, 'n'},        {"pod", required_argument, NULL, 'p'},
        {"state", required_argument, NULL, 's'},        {"cidr", required_argument, NULL, 'C'},
        {"via", required_argument, NULL, 'v'},          {"svc", required_argument, NULL, 'S'},
        {"cluster-cidr", required_argument, NULL, 'K'}, {"node-port", required_argument, NULL, 'N'},
        {"affinity", required_argument, NULL, 'A'},     {"count", required_argument, NULL, 'x'},
        {"endpoints", required_argument, NULL, 'm'},    {NULL, 0, NULL, 0},
    };
    static struct svc_arg svcs[MAX_SVCS];
    struct net_service list[MAX_SVCS];
    size_t n_svcs = 0;
    unsigned long count = 0, per = 0;
    optind = 2;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': pod_cidr = optarg; break;
        case 'b': bridge = optarg; break;
        case 'n': netns = optarg; break;
        case 'p': pod = optarg; break;
        case 's': state = optarg; break;
        case 'C': cidr = optarg; break;
        case 'v': via = optarg; break;
        case 'K': cluster_cidr = optarg; break;
        case 'x': count = strtoul(optarg, NULL, 10); break;
        case 'm': per = strtoul(optarg, NULL, 10); break;
        case 'S':
            if (n_svcs == MAX_SVCS || parse_svc(optarg, &svcs[n_svcs]) < 0)
                return usage("bad --svc: want CIP:PORT[/tcp|/udp]=IP:PORT,IP:PORT");
            list[n_svcs] = svcs[n_svcs].svc;
            n_svcs++;
            break;
        case 'N':
        case 'A': {
            /* applies to the --svc before it */
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (n_svcs == 0 || *end || !*optarg || v > 100000)
                return usage("--node-port/--affinity want a number after a --svc");
            *(c == 'N' ? &list[n_svcs - 1].node_port : &list[n_svcs - 1].affinity_seconds) =
                (unsigned)v;
            break;
        }
        default: return usage("unknown or incomplete flag");
        }
    }
    if (optind != argc)
        return usage("unexpected argument");
    struct k8c_err *err = NULL;
    if (strcmp(sub, "node-setup") == 0) {
        if (!pod_cidr)
            return usage("node-setup needs --pod-cidr");
        struct net_node_config cfg = {.bridge = bridge, .pod_cidr = pod_cidr};
        return net_node_setup(&cfg, &err) < 0 ? fail(err) : 0;
    }
    if (strcmp(sub, "route-add") == 0 || strcmp(sub, "route-del") == 0) {
        if (!cidr || !via)
            return usage("route-add/route-del need --cidr and --via");
        int rc = sub[6] == 'a' ? net_node_route_add(cidr, via, &err)
                               : net_node_route_del(cidr, via, &err);
        return rc < 0 ? fail(err) : 0;
    }
    if (strcmp(sub, "svc-sync") == 0) {
        if (!pod_cidr)
            return usage("svc-sync needs --pod-cidr");
        struct net_service_config scfg = {
            .bridge = bridge, .pod_cidr = pod_cidr, .cluster_cidr = cluster_cidr};
        return net_services_sync(&scfg, list, n_svcs, &err) < 0 ? fail(err) : 0;
    }
    if (strcmp(sub, "svc-render") == 0) {
        if (!pod_cidr)
            return usage("svc-render needs --pod-cidr");
        struct net_service_config scfg = {
            .bridge = bridge, .pod_cidr = pod_cidr, .cluster_cidr = cluster_cidr};
        _cleanup_free_ char *script = net_services_render(&scfg, list, n_svcs, &err);
        if (!script)
            return fail(err);
        fputs(script, stdout);
        return 0;
    }
    if (strcmp(sub, "svc-scale") == 0) {
        if (!pod_cidr || count == 0 || count > 60000 || per == 0 || per > 1000)
            return usage("svc-scale needs --pod-cidr, --count 1-60000 and --endpoints 1-1000");
        struct net_service_config scfg = {.pod_cidr = pod_cidr, .cluster_cidr = cluster_cidr};
        return svc_scale(&scfg, count, per);
    }
    if (strcmp(sub, "svc-cleanup") == 0)
        return net_services_cleanup(&err) < 0 ? fail(err) : 0;
    struct net_pod_config cfg = {.netns_path = netns,
                                 .pod_id = pod,
                                 .bridge = bridge,
                                 .pod_cidr = pod_cidr,
                                 .ipam_state = state};
    if (strcmp(sub, "attach") == 0) {
        if (!netns || !pod || !pod_cidr || !state)
            return usage("attach needs --netns, --pod, --pod-cidr and --state");
        uint32_t ip;
        if (net_pod_attach(&cfg, &ip, &err) < 0)
            return fail(err);
        char text[16];
        printf("%s\n", net_ip_format(ip, text));
        return 0;
    }
    if (strcmp(sub, "detach") == 0) {
        if (!pod || !state)
            return usage("detach needs --pod and --state");
        return net_pod_detach(&cfg, &err) < 0 ? fail(err) : 0;
    }
    return usage("unknown subcommand");
}
