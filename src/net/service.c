/* Service load balancing (the kube-proxy part of issue 10) with nftables through
 * libnftables: one table of our own ("ip k8c"), replaced as a whole in one atomic
 * transaction on every sync, so rules are reconciled and never duplicated, other tables are
 * never touched, and established connections keep their conntrack NAT across a sync. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "net/internal.h"
#include "net/net.h"

#define TABLE "ip k8c"

static int check_port(unsigned port, const char *what, struct k8c_err **err)
{
    if (port < 1 || port > 65535)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "%s: port %u out of range 1-65535", what,
                           port);
    return 0;
}

#define NODEPORT_MARK "0x4000"

/* What render_service adds to: the chains, and the elements of the four verdict maps. */
struct render {
    struct buf chains;
    struct buf svc_ips;    /* service-ips: "CIP . proto . port : goto svc-i" */
    struct buf node_ports; /* service-nodeports: "proto . port : goto svc-i-np" */
    struct buf noep_ips;   /* no-endpoint-ips: "... : goto reject-no-endpoints" */
    struct buf noep_ports; /* no-endpoint-nodeports */
};

static void elem(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void elem(struct buf *b, const char *fmt, ...)
{
    if (b->len)
        buf_appendf(b, ",\n\t\t\t");
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(b, fmt, ap);
    va_end(ap);
}

/* Every value reaches the script as a number formatted here, never as caller text. */
static int render_service(struct render *r, size_t idx, const struct net_service *svc,
                          struct k8c_err **err)
{
    uint32_t cip;
    const char *what = svc->name ? svc->name : "service";
    if (net_ip_parse(svc->cluster_ip, &cip, err) < 0 || check_port(svc->port, what, err) < 0)
        return k8c_err_wrap(err, "service %s", what);
    if (svc->node_port && check_port(svc->node_port, what, err) < 0)
        return k8c_err_wrap(err, "service %s node port", what);
    if (svc->affinity_seconds > 86400)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "service %s: session affinity timeout %u s over 86400", what,
                           svc->affinity_seconds);
    const char *proto = svc->protocol ? svc->protocol : "tcp";
    if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "service %s: protocol \"%s\" is not tcp or udp", what, proto);
    char ip[16];
    net_ip_format(cip, ip);
    if (svc->n_endpoints == 0) {
        /* No ready endpoint: refuse at once rather than let the client time out. */
        elem(&r->noep_ips, "%s . %s . %u : goto reject-no-endpoints", ip, proto, svc->port);
        if (svc->node_port)
            elem(&r->noep_ports, "%s . %u : goto reject-no-endpoints", proto, svc->node_port);
        return 0;
    }
    elem(&r->svc_ips, "%s . %s . %u : goto svc-%zu", ip, proto, svc->port, idx);
    /* The endpoints as "ip . port" map entries, checked before any chain is written; the
     * local ones apart for externalTrafficPolicy Local. */
    _cleanup_buf_ struct buf targets = BUF_INIT, local = BUF_INIT;
    size_t n_local = 0;
    for (size_t e = 0; e < svc->n_endpoints; e++) {
        uint32_t eip;
        const struct net_endpoint *ep = &svc->endpoints[e];
        if (net_ip_parse(ep->ip, &eip, err) < 0 || check_port(ep->port, what, err) < 0)
            return k8c_err_wrap(err, "service %s endpoint %zu", what, e);
        net_ip_format(eip, ip);
        buf_appendf(&targets, "%s%zu : %s . %u", e ? ", " : "", e, ip, ep->port);
        if (ep->local) {
            buf_appendf(&local, "%s%zu : %s . %u", n_local ? ", " : "", n_local, ip, ep->port);
            n_local++;
        }
    }
    if (svc->node_port && svc->external_local) {
        /* This node's endpoints only, the client's address kept: no mark, no masquerade. */
        elem(&r->node_ports, "%s . %u : goto svc-%zu-npl", proto, svc->node_port, idx);
        if (n_local)
            buf_appendf(&r->chains,
                        "\tchain svc-%zu-npl {\n\t\tmeta l4proto %s dnat ip addr . port to numgen "
                        "random mod %zu map { %s }\n\t}\n",
                        idx, proto, n_local, local.data);
        else
            buf_appendf(&r->chains, "\tchain svc-%zu-npl {\n\t\tdrop\n\t}\n", idx);
    } else if (svc->node_port) {
        /* Marked for masquerade: the endpoint may be on another node, whose reply must come
         * back through this one to be un-NATed. */
        elem(&r->node_ports, "%s . %u : goto svc-%zu-np", proto, svc->node_port, idx);
        buf_appendf(&r->chains,
                    "\tchain svc-%zu-np {\n\t\tmeta mark set meta mark | " NODEPORT_MARK
                    "\n\t\tgoto svc-%zu\n\t}\n",
                    idx, idx);
    }
    if (!svc->affinity_seconds) {
        /* One rule: a random endpoint, equal weight, no chain per endpoint. */
        buf_appendf(&r->chains,
                    "\tchain svc-%zu {\n\t\tmeta l4proto %s dnat ip addr . port to numgen random "
                    "mod %zu map { %s }\n\t}\n",
                    idx, proto, svc->n_endpoints, targets.data);
        return 0;
    }
    /* ClientIP affinity: a client seen lately goes back to its endpoint (a timeout set per
     * endpoint, refreshed on each new connection); others get a random one. */
    for (size_t e = 0; e < svc->n_endpoints; e++)
        buf_appendf(&r->chains,
                    "\tset svc-%zu-ep-%zu-aff {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n"
                    "\t\ttimeout %us\n\t}\n",
                    idx, e, svc->affinity_seconds);
    buf_appendf(&r->chains, "\tchain svc-%zu {\n", idx);
    for (size_t e = 0; e < svc->n_endpoints; e++)
        buf_appendf(&r->chains, "\t\tip saddr @svc-%zu-ep-%zu-aff goto svc-%zu-ep-%zu\n", idx, e,
                    idx, e);
    buf_appendf(&r->chains, "\t\tnumgen random mod %zu vmap {", svc->n_endpoints);
    for (size_t e = 0; e < svc->n_endpoints; e++)
        buf_appendf(&r->chains, "%s %zu : goto svc-%zu-ep-%zu", e ? "," : "", e, idx, e);
    buf_appendf(&r->chains, " }\n\t}\n");
    for (size_t e = 0; e < svc->n_endpoints; e++) {
        uint32_t eip;
        net_ip_parse(svc->endpoints[e].ip, &eip, NULL);
        buf_appendf(&r->chains,
                    "\tchain svc-%zu-ep-%zu {\n\t\tupdate @svc-%zu-ep-%zu-aff { ip saddr }\n"
                    "\t\tmeta l4proto %s dnat to %s:%u\n\t}\n",
                    idx, e, idx, e, proto, net_ip_format(eip, ip), svc->endpoints[e].port);
    }
    return 0;
}

/* A verdict map declaration with its elements (none: an empty map). */
static void render_map(struct buf *b, const char *name, const char *type, const struct buf *elems)
{
    buf_appendf(b, "\tmap %s {\n\t\ttype %s : verdict\n", name, type);
    if (elems->len)
        buf_appendf(b, "\t\telements = {\n\t\t\t%s\n\t\t}\n", elems->data);
    buf_appendf(b, "\t}\n");
}

char *net_services_render(const struct net_service_config *cfg, const struct net_service *svcs,
                          size_t n, struct k8c_err **err)
{
    struct net_cidr pod_cidr;
    if (net_cidr_parse(cfg->pod_cidr, &pod_cidr, err) < 0)
        return k8c_err_wrap(err, "services: node pod CIDR"), NULL;
    const char *bridge = cfg->bridge ? cfg->bridge : NET_BRIDGE_DEFAULT;
    if (strlen(bridge) >= 16 ||
        strspn(bridge, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(bridge))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "services: bad bridge name"), NULL;
    struct net_cidr cluster;
    if (cfg->cluster_cidr && net_cidr_parse(cfg->cluster_cidr, &cluster, err) < 0)
        return k8c_err_wrap(err, "services: cluster CIDR"), NULL;
    struct render r = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT};
    _cleanup_free_ char *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (render_service(&r, i, &svcs[i], err) < 0)
            goto done;
    char ip[16];
    struct buf b = BUF_INIT;
    /* "add, delete, create" in one transaction: an atomic replace whether or not the table
     * existed. */
    buf_appendf(&b, "table " TABLE "\ndelete table " TABLE "\ntable " TABLE " {\n");
    /* Dispatch by hash lookup (one rule, however many services), as kube-proxy's nftables
     * mode does. */
    render_map(&b, "service-ips", "ipv4_addr . inet_proto . inet_service", &r.svc_ips);
    render_map(&b, "service-nodeports", "inet_proto . inet_service", &r.node_ports);
    render_map(&b, "no-endpoint-ips", "ipv4_addr . inet_proto . inet_service", &r.noep_ips);
    render_map(&b, "no-endpoint-nodeports", "inet_proto . inet_service", &r.noep_ports);
    buf_appendf(&b, "\tchain services {\n\t\tip daddr . meta l4proto . th dport vmap "
                    "@service-ips\n\t\tfib daddr type local meta l4proto . th dport vmap "
                    "@service-nodeports\n\t}\n");
    buf_appendf(&b, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; "
                    "policy accept;\n\t\tjump services\n\t}\n");
    buf_appendf(&b, "\tchain output {\n\t\ttype nat hook output priority -100; "
                    "policy accept;\n\t\tjump services\n\t}\n");
    /* Hairpin: a pod reaching a service endpoint on its own bridge would get the reply
     * straight over the bridge, un-NATed; masquerading makes the reply come back through us. */
    buf_appendf(&b,
                "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
                "policy accept;\n\t\tct status dnat ip saddr %s/%u oifname \"%s\" masquerade\n"
                "\t\tmeta mark & " NODEPORT_MARK " == " NODEPORT_MARK " masquerade\n\t}\n",
                net_ip_format(pod_cidr.addr, ip), pod_cidr.prefix, bridge);
    if (cfg->cluster_cidr) {
        /* Pods leaving the cluster network: the outside world cannot route pod CIDRs back. */
        char cip[16];
        buf_appendf(&b,
                    "\tchain egress {\n\t\ttype nat hook postrouting priority srcnat + 1; "
                    "policy accept;\n\t\tip saddr %s/%u ip daddr != %s/%u oifname != \"%s\" "
                    "masquerade\n\t}\n",
                    ip, pod_cidr.prefix, net_ip_format(cluster.addr, cip), cluster.prefix, bridge);
    }
    buf_appendf(&b, "\tchain reject-no-endpoints {\n\t\treject\n\t}\n");
    buf_appendf(&b, "\tchain no-endpoints {\n\t\tip daddr . meta l4proto . th dport vmap "
                    "@no-endpoint-ips\n\t\tfib daddr type local meta l4proto . th dport vmap "
                    "@no-endpoint-nodeports\n\t}\n");
    buf_appendf(&b, "\tchain filter-forward {\n\t\ttype filter hook forward priority filter; "
                    "policy accept;\n\t\tjump no-endpoints\n\t}\n");
    buf_appendf(&b, "\tchain filter-input {\n\t\ttype filter hook input priority filter; "
                    "policy accept;\n\t\tjump no-endpoints\n\t}\n");
    buf_appendf(&b, "\tchain filter-output {\n\t\ttype filter hook output priority filter; "
                    "policy accept;\n\t\tjump no-endpoints\n\t}\n");
    buf_appendf(&b, "%s}\n", r.chains.data ? r.chains.data : "");
    out = buf_steal(&b);
done:
    buf_free(&r.chains);
    buf_free(&r.svc_ips);
    buf_free(&r.node_ports);
    buf_free(&r.noep_ips);
    buf_free(&r.noep_ports);
    return steal_ptr(&out);
}

int net_services_sync(const struct net_service_config *cfg, const struct net_service *svcs,
                      size_t n, struct k8c_err **err)
{
    _cleanup_free_ char *script = net_services_render(cfg, svcs, n, err);
    if (!script)
        return -1;
    return net__nft_run(script, "sync services", err);
}

int net_services_cleanup(struct k8c_err **err)
{
    return net__nft_run("table " TABLE "\ndelete table " TABLE "\n", "clean up services", err);
}
