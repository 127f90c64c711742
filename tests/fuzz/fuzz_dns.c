/* Fuzz target: the cluster DNS message parser and answerer (src/net/dns_msg.c) on hostile
 * packets. The input is a query as a pod would send it. Invariants: nothing reads outside the
 * input (ASan), a reply is itself a well-formed message that carries the query's id and fits
 * the transport (512 bytes over UDP without EDNS, 1232 with it, 65535 over TCP), and the
 * whole-message checker used on upstream answers agrees with itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct net_dns_table *table;

static void build(void)
{
    static const struct net_dns_port ports[] = {{"http", "TCP", 80}, {"dns", "UDP", 53}};
    static const struct net_dns_endpoint eps[] = {{"10.42.1.5", "db-0"}, {"10.42.2.6", NULL}};
    static const struct net_dns_service svcs[] = {
        {"default", "web", "10.96.0.20", NULL, ports, 2, NULL, 0},
        {"shop", "db", "None", NULL, ports, 1, eps, 2},
        {"shop", "ext", NULL, "example.com", NULL, 0, NULL, 0},
    };
    static const struct net_dns_pod pods[] = {{"shop", "10.42.1.5"}};
    table = net_dns_table_new(NULL, svcs, 3, pods, 1, NULL);
    K8C_ASSERT(table != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!table)
        build();
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *msg = xmalloc(size ? size : 1);
    memcpy(msg, data, size);
    (void)net_dns_check_message(msg, size);
    struct net_dns_question q;
    int parsed = net_dns_parse_query(msg, size, &q);
    for (int tcp = 0; tcp < 2; tcp++) {
        for (int fwd = 0; fwd < 2; fwd++) {
            struct buf out = BUF_INIT;
            enum net_dns_action a = net_dns_answer(table, msg, size, tcp, fwd, &out);
            K8C_ASSERT(parsed >= 0 || a == NET_DNS_DROP);
            K8C_ASSERT(a != NET_DNS_FORWARD || fwd);
            if (a == NET_DNS_REPLY) {
                size_t limit = tcp ? 65535 : parsed == 0 && q.edns ? 1232 : 512;
                K8C_ASSERT(out.len >= 12 && out.len <= limit);
                K8C_ASSERT(memcmp(out.data, msg, 2) == 0);
                K8C_ASSERT((uint8_t)out.data[2] & 0x80);
                K8C_ASSERT(net_dns_check_message((const uint8_t *)out.data, out.len) == 0);
            }
            buf_free(&out);
        }
    }
    struct buf out = BUF_INIT;
    if (net_dns_servfail(msg, size, &out) == NET_DNS_REPLY)
        K8C_ASSERT(net_dns_check_message((const uint8_t *)out.data, out.len) == 0);
    buf_free(&out);
    free(msg);
    return 0;
}
