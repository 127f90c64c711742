/* Steering the cluster DNS address to the node's DNS server: table "ip k8c-dns" DNATs
 * <cluster DNS IP>:53 (UDP and TCP) to the address the agent's server listens on, for pods
 * (prerouting) and the node itself (output). Its own table, replaced as a whole, so the
 * service rules of kube-proxy's table are never touched. */
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "net/dns.h"
#include "net/internal.h"
#include "net/net.h"

#define TABLE "ip k8c-dns"

char *net_dns_redirect_render(const char *cluster_dns, const char *listen_ip, unsigned port,
                              struct k8c_err **err)
{
    uint32_t from, to;
    if (net_ip_parse(cluster_dns, &from, err) < 0)
        return k8c_err_wrap(err, "dns redirect: cluster DNS address"), NULL;
    if (net_ip_parse(listen_ip, &to, err) < 0)
        return k8c_err_wrap(err, "dns redirect: listen address"), NULL;
    if (port < 1 || port > 65535)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "dns redirect: port %u out of range", port),
               NULL;
    char f[16], t[16];
    net_ip_format(from, f);
    net_ip_format(to, t);
    _cleanup_buf_ struct buf rules = BUF_INIT, b = BUF_INIT;
    static const char *const protos[] = {"udp", "tcp"};
    for (int i = 0; i < 2; i++)
        buf_appendf(&rules, "\t\tip daddr %s %s dport 53 dnat to %s:%u\n", f, protos[i], t, port);
    buf_appendf(&b, "table " TABLE "\ndelete table " TABLE "\ntable " TABLE " {\n");
    /* Loopback targets are reachable from the node only (pods' packets to 127/8 would be
     * martians), so pods get the prerouting rule only for a routable listen address. */
    if ((to >> 24) != 127)
        buf_appendf(&b,
                    "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat - 5; "
                    "policy accept;\n%s\t}\n",
                    rules.data);
    buf_appendf(&b,
                "\tchain output {\n\t\ttype nat hook output priority -105; policy accept;\n%s\t}\n",
                rules.data);
    buf_appendf(&b, "}\n");
    return buf_steal(&b);
}

int net_dns_redirect_sync(const char *cluster_dns, const char *listen_ip, unsigned port,
                          struct k8c_err **err)
{
    _cleanup_free_ char *script = net_dns_redirect_render(cluster_dns, listen_ip, port, err);
    if (!script)
        return -1;
    return net__nft_run(script, "sync cluster DNS redirect", err);
}

int net_dns_redirect_cleanup(struct k8c_err **err)
{
    return net__nft_run("table " TABLE "\ndelete table " TABLE "\n",
                        "clean up cluster DNS redirect", err);
}
