/* Unit tests for the cluster DNS (src/net/dns_*.c): records built from plain data, answers to
 * real wire-format queries (decoded again here), hostile messages, and the UDP/TCP server. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"
#include "net/dns.h"

/* ---- a query encoder and an answer decoder, written from RFC 1035 independently of the
 * code under test (only the name decoder is shared) ---- */

static size_t query(uint8_t *out, uint16_t id, const char *name, uint16_t type, bool edns,
                    uint16_t udp_size)
{
    size_t n = 0;
    uint8_t hdr[12] = {id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns ? 1 : 0};
    memcpy(out, hdr, 12);
    n = 12;
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        out[n++] = (uint8_t)l;
        memcpy(out + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    out[n++] = 0;
    out[n++] = type >> 8, out[n++] = type & 255, out[n++] = 0, out[n++] = 1;
    if (edns) {
        uint8_t opt[11] = {0, 0, 41, udp_size >> 8, udp_size & 255, 0, 0, 0, 0, 0, 0};
        memcpy(out + n, opt, 11);
        n += 11;
    }
    return n;
}

struct rec {
    char name[256];
    unsigned type, ttl;
    char data[300]; /* A: dotted quad; names: dotted; SRV: "prio weight port target" */
};

struct answer {
    unsigned id, flags, rcode, qd, counts[3];
    struct rec recs[3][128];
};

static uint16_t r16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void decode(const uint8_t *m, size_t len, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    cr_assert(len >= 12);
    a->id = r16(m);
    a->flags = r16(m + 2);
    a->rcode = a->flags & 15;
    a->qd = r16(m + 4);
    size_t off = 12;
    char name[256];
    for (unsigned i = 0; i < a->qd; i++) {
        cr_assert(eq(int, net_dns_read_name(m, len, &off, name), 0));
        off += 4;
    }
    for (int s = 0; s < 3; s++) {
        a->counts[s] = r16(m + 6 + 2 * s);
        cr_assert(a->counts[s] <= 128);
        for (unsigned i = 0; i < a->counts[s]; i++) {
            struct rec *r = &a->recs[s][i];
            cr_assert(eq(int, net_dns_read_name(m, len, &off, r->name), 0));
            cr_assert(off + 10 <= len);
            r->type = r16(m + off);
            r->ttl = (unsigned)r16(m + off + 4) << 16 | r16(m + off + 6);
            size_t rdlen = r16(m + off + 8), rd = off + 10;
            cr_assert(rd + rdlen <= len);
            size_t p = rd;
            if (r->type == 1) {
                cr_assert(eq(sz, rdlen, 4));
                snprintf(r->data, sizeof(r->data), "%u.%u.%u.%u", m[rd], m[rd + 1], m[rd + 2],
                         m[rd + 3]);
            } else if (r->type == 33) {
                p += 6;
                cr_assert(eq(int, net_dns_read_name(m, len, &p, name), 0));
                snprintf(r->data, sizeof(r->data), "%u %u %u %s", r16(m + rd), r16(m + rd + 2),
                         r16(m + rd + 4), name);
            } else if (r->type == 5 || r->type == 12 || r->type == 6 || r->type == 2) {
                cr_assert(eq(int, net_dns_read_name(m, len, &p, r->data), 0));
            }
            off = rd + rdlen;
        }
    }
    cr_assert(eq(sz, off, len), "trailing bytes");
}

/* ---- the records of a small cluster ---- */

static const struct net_dns_port web_ports[] = {{"http", "TCP", 80}, {"metrics", "TCP", 9090}};
static const struct net_dns_port dns_ports[] = {{"dns", "UDP", 53}, {"dns-tcp", "TCP", 53}};
static const struct net_dns_endpoint db_eps[] = {{"10.42.1.5", "db-0"}, {"10.42.2.6", NULL}};
static const struct net_dns_service svcs[] = {
    {"default", "web", "10.96.0.20", NULL, web_ports, 2, NULL, 0},
    {"kube-system", "kube-dns", "10.96.0.10", NULL, dns_ports, 2, NULL, 0},
    {"shop", "db", "None", NULL, web_ports, 1, db_eps, 2},
    {"shop", "ext", NULL, "Example.COM.", NULL, 0, NULL, 0},
};
static const struct net_dns_pod pods[] = {{"shop", "10.42.1.5"}, {"default", "10.42.1.7"}};

static struct net_dns_table *cluster(void)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    struct net_dns_table *t = net_dns_table_new(NULL, svcs, 4, pods, 2, &err);
    cr_assert(t != NULL, "%s", err ? err->msg : "");
    return t;
}

static void ask(const struct net_dns_table *t, const char *name, uint16_t type, bool tcp,
                struct answer *a)
{
    uint8_t q[512];
    size_t n = query(q, 0x1234, name, type, false, 0);
    _cleanup_buf_ struct buf out = BUF_INIT;
    cr_assert(eq(int, net_dns_answer(t, q, n, tcp, false, &out), NET_DNS_REPLY));
    decode((uint8_t *)out.data, out.len, a);
    cr_assert(eq(u32, a->id, 0x1234));
    cr_assert(eq(u32, a->flags & 0x8000, 0x8000), "QR set");
    cr_assert(eq(u32, a->qd, 1));
}

static bool has(const struct answer *a, int section, const char *name, unsigned type,
                const char *data)
{
    for (unsigned i = 0; i < a->counts[section]; i++) {
        const struct rec *r = &a->recs[section][i];
        if (strcasecmp(r->name, name) == 0 && r->type == type && strcmp(r->data, data) == 0)
            return true;
    }
    return false;
}

Test(net_dns, cluster_ip_service_a_record)
{
    struct net_dns_table *t = cluster();
    struct answer a;
    ask(t, "web.default.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NOERROR));
    cr_assert(eq(u32, a.flags & 0x0400, 0x400), "authoritative");
    cr_assert(eq(u32, a.counts[0], 1));
    cr_assert(has(&a, 0, "web.default.svc.cluster.local", 1, "10.96.0.20"));
    cr_assert(eq(u32, a.recs[0][0].ttl, NET_DNS_TTL));
    /* names are case-insensitive; the question comes back as it was asked */
    ask(t, "WEB.Default.SVC.cluster.LOCAL", NET_DNS_A, false, &a);
    cr_assert(has(&a, 0, "web.default.svc.cluster.local", 1, "10.96.0.20"));
    net_dns_table_unref(t);
}

Test(net_dns, aaaa_of_an_ipv4_name_is_nodata_with_soa)
{
    struct net_dns_table *t = cluster();
    struct answer a;
    ask(t, "web.default.svc.cluster.local", NET_DNS_AAAA, false, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NOERROR));
    cr_assert(eq(u32, a.counts[0], 0));
    cr_assert(eq(u32, a.counts[1], 1));
    cr_assert(has(&a, 1, "cluster.local", 6, "ns.dns.cluster.local"));
    net_dns_table_unref(t);
}

Test(net_dns, unknown_names_nxdomain_and_empty_non_terminals_nodata)
{
    struct net_dns_table *t = cluster();
    struct answer a;
    ask(t, "nope.default.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NXDOMAIN));
    cr_assert(has(&a, 1, "cluster.local", 6, "ns.dns.cluster.local"));
    /* what a search path produces: web.default.svc.cluster.local.default.svc.cluster.local */
    ask(t, "web.default.svc.cluster.local.default.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NXDOMAIN));
    ask(t, "example.com.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NXDOMAIN));
    const char *ents[] = {"default.svc.cluster.local", "svc.cluster.local",
                          "shop.pod.cluster.local", "_tcp.web.default.svc.cluster.local"};
    for (size_t i = 0; i < ARRAY_SIZE(ents); i++) {
        ask(t, ents[i], NET_DNS_A, false, &a);
        cr_assert(eq(u32, a.rcode, NET_DNS_NOERROR), "%s", ents[i]);
        cr_assert(eq(u32, a.counts[0], 0), "%s", ents[i]);
    }
    ask(t, "cluster.local", NET_DNS_SOA, false, &a);
    cr_assert(has(&a, 0, "cluster.local", 6, "ns.dns.cluster.local"));
    net_dns_table_unref(t);
}

Test(net_dns, headless_service_endpoints_and_srv)
{
    struct net_dns_table *t = cluster();
    struct answer a;
    ask(t, "db.shop.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(eq(u32, a.counts[0], 2));
    cr_assert(has(&a, 0, "db.shop.svc.cluster.local", 1, "10.42.1.5"));
    cr_assert(has(&a, 0, "db.shop.svc.cluster.local", 1, "10.42.2.6"));
    ask(t, "db-0.db.shop.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(has(&a, 0, "db-0.db.shop.svc.cluster.local", 1, "10.42.1.5"));
    ask(t, "10-42-2-6.db.shop.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(has(&a, 0, "10-42-2-6.db.shop.svc.cluster.local", 1, "10.42.2.6"));
    ask(t, "_http._tcp.db.shop.svc.cluster.local", NET_DNS_SRV, false, &a);
    cr_assert(eq(u32, a.counts[0], 2));
    cr_assert(has(&a, 0, "_http._tcp.db.shop.svc.cluster.local", 33,
                  "0 50 80 db-0.db.shop.svc.cluster.local"));
    cr_assert(has(&a, 0, "_http._tcp.db.shop.svc.cluster.local", 33,
                  "0 50 80 10-42-2-6.db.shop.svc.cluster.local"));
    cr_assert(has(&a, 2, "db-0.db.shop.svc.cluster.local", 1, "10.42.1.5"), "glue");
    /* a ClusterIP service's SRV points at the service; the protocol is part of the name */
    ask(t, "_dns._udp.kube-dns.kube-system.svc.cluster.local", NET_DNS_SRV, false, &a);
    cr_assert(has(&a, 0, "_dns._udp.kube-dns.kube-system.svc.cluster.local", 33,
                  "0 100 53 kube-dns.kube-system.svc.cluster.local"));
    cr_assert(has(&a, 2, "kube-dns.kube-system.svc.cluster.local", 1, "10.96.0.10"));
    ask(t, "_dns._tcp.kube-dns.kube-system.svc.cluster.local", NET_DNS_SRV, false, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NXDOMAIN));
    /* SRV on the service name lists every port */
    ask(t, "web.default.svc.cluster.local", NET_DNS_SRV, false, &a);
    cr_assert(eq(u32, a.counts[0], 2));
    net_dns_table_unref(t);
}

Test(net_dns, pods_external_names_and_reverse)
{
    struct net_dns_table *t = cluster();
    struct answer a;
    ask(t, "10-42-1-7.default.pod.cluster.local", NET_DNS_A, false, &a);
    cr_assert(has(&a, 0, "10-42-1-7.default.pod.cluster.local", 1, "10.42.1.7"));
    /* verified: no pod with that address in that namespace */
    ask(t, "10-42-1-7.shop.pod.cluster.local", NET_DNS_A, false, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NXDOMAIN));
    ask(t, "ext.shop.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(has(&a, 0, "ext.shop.svc.cluster.local", 5, "example.com"));
    ask(t, "20.0.96.10.in-addr.arpa", NET_DNS_PTR, false, &a);
    cr_assert(has(&a, 0, "20.0.96.10.in-addr.arpa", 12, "web.default.svc.cluster.local"));
    net_dns_table_unref(t);
}

Test(net_dns, outside_the_zone_refused_or_forwarded)
{
    struct net_dns_table *t = cluster();
    uint8_t q[512];
    size_t n = query(q, 7, "example.com", NET_DNS_A, false, 0);
    _cleanup_buf_ struct buf out = BUF_INIT;
    cr_assert(eq(int, net_dns_answer(t, q, n, false, false, &out), NET_DNS_REPLY));
    struct answer a;
    decode((uint8_t *)out.data, out.len, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_REFUSED));
    cr_assert(eq(int, net_dns_answer(t, q, n, false, true, &out), NET_DNS_FORWARD));
    /* unknown reverse names are not ours either */
    n = query(q, 7, "1.1.168.192.in-addr.arpa", NET_DNS_PTR, false, 0);
    cr_assert(eq(int, net_dns_answer(t, q, n, false, true, &out), NET_DNS_FORWARD));
    net_dns_table_unref(t);
}

Test(net_dns, large_answers_truncate_over_udp_only)
{
    struct net_dns_endpoint eps[100];
    char ips[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(ips[i], 16, "10.42.%u.%u", (unsigned)i / 50 % 2, 2 + (unsigned)i % 50);
        eps[i] = (struct net_dns_endpoint){ips[i], NULL};
    }
    const struct net_dns_service big = {"default", "big", NULL, NULL, web_ports, 1, eps, 100};
    struct net_dns_table *t = net_dns_table_new(NULL, &big, 1, NULL, 0, NULL);
    cr_assert(t != NULL);
    struct answer a;
    ask(t, "big.default.svc.cluster.local", NET_DNS_A, false, &a);
    cr_assert(eq(u32, a.flags & 0x0200, 0x200), "TC over UDP");
    cr_assert(eq(u32, a.counts[0], 0));
    ask(t, "big.default.svc.cluster.local", NET_DNS_A, true, &a);
    cr_assert(eq(u32, a.flags & 0x0200, 0), "no TC over TCP");
    cr_assert(eq(u32, a.counts[0], 100));
    /* EDNS lets 1232 bytes through UDP: 100 A records (16 bytes each) do not fit, 50 do */
    uint8_t q[512];
    size_t n = query(q, 9, "big.default.svc.cluster.local", NET_DNS_A, true, 4096);
    _cleanup_buf_ struct buf out = BUF_INIT;
    net_dns_answer(t, q, n, false, false, &out);
    cr_assert(out.len <= 1232);
    decode((uint8_t *)out.data, out.len, &a);
    cr_assert(eq(u32, a.flags & 0x0200, 0x200));
    cr_assert(eq(u32, a.counts[2], 1), "OPT echoed");
    net_dns_table_unref(t);
}

Test(net_dns, hostile_messages)
{
    struct net_dns_table *t = cluster();
    _cleanup_buf_ struct buf out = BUF_INIT;
    struct answer a;
    /* a compression pointer to itself, and two pointing at each other */
    const uint8_t self[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
    const uint8_t pair[] = {0, 1, 1,   0,    0,  1,    0,  0, 0, 0, 0,
                            0, 1, 'a', 0xC0, 16, 0xC0, 12, 0, 1, 0, 1};
    const uint8_t *loops[] = {self, pair};
    const size_t loop_len[] = {sizeof(self), sizeof(pair)};
    for (int i = 0; i < 2; i++) {
        cr_assert(
            eq(int, net_dns_answer(t, loops[i], loop_len[i], false, false, &out), NET_DNS_REPLY));
        decode((uint8_t *)out.data, out.len, &a);
        cr_assert(eq(u32, a.rcode, NET_DNS_FORMERR));
    }
    uint8_t q[512];
    size_t n = query(q, 1, "web.default.svc.cluster.local", NET_DNS_A, false, 0);
    /* every truncation of a good query: dropped or FORMERR, never a read past the end */
    for (size_t cut = 0; cut < n; cut++) {
        enum net_dns_action act = net_dns_answer(t, q, cut, false, false, &out);
        if (cut < 12) {
            cr_assert(eq(int, act, NET_DNS_DROP));
        } else {
            decode((uint8_t *)out.data, out.len, &a);
            cr_assert(eq(u32, a.rcode, NET_DNS_FORMERR), "cut %zu", cut);
        }
    }
    /* a response is never answered (two servers would loop) */
    q[2] |= 0x80;
    cr_assert(eq(int, net_dns_answer(t, q, n, false, false, &out), NET_DNS_DROP));
    q[2] &= 0x7F;
    /* another opcode: NOTIMP; two questions: FORMERR */
    q[2] |= 0x10;
    net_dns_answer(t, q, n, false, false, &out);
    decode((uint8_t *)out.data, out.len, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_NOTIMP));
    q[2] &= (uint8_t)~0x10;
    q[5] = 2;
    net_dns_answer(t, q, n, false, false, &out);
    decode((uint8_t *)out.data, out.len, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_FORMERR));
    q[5] = 1;
    /* a label with a dot inside is never one of our names */
    n = query(q, 1, "x", NET_DNS_A, false, 0);
    const uint8_t odd[] = {0,   1,   1,   0,   0,   1,   0,   0,   0,   0,   0,   0,
                           17,  'w', 'e', 'b', '.', 'c', 'l', 'u', 's', 't', 'e', 'r',
                           '.', 'l', 'o', 'c', 'a', 'l', 0,   0,   1,   0,   1};
    net_dns_answer(t, odd, sizeof(odd), false, false, &out);
    decode((uint8_t *)out.data, out.len, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_REFUSED));
    /* a name longer than 255 bytes */
    uint8_t longq[400] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t off = 12;
    for (int i = 0; i < 5; i++) {
        longq[off++] = 60;
        memset(longq + off, 'a', 60);
        off += 60;
    }
    longq[off++] = 0;
    off += 4;
    net_dns_answer(t, longq, off, false, false, &out);
    decode((uint8_t *)out.data, out.len, &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_FORMERR));
    net_dns_table_unref(t);
}

Test(net_dns, bad_records_name_the_object)
{
    const struct net_dns_service bad[] = {
        {"default", "Bad_Name", "10.96.0.1", NULL, NULL, 0, NULL, 0},
        {"default", "web", "10.96.0.300", NULL, NULL, 0, NULL, 0},
        {"default", "ext", NULL, "bad name.com", NULL, 0, NULL, 0},
        {"default", "ports", "10.96.0.1", NULL, (struct net_dns_port[]){{"x", "ICMP", 1}}, 1, NULL,
         0},
        {"default", "eps", NULL, NULL, NULL, 0, (struct net_dns_endpoint[]){{"10.1.1", NULL}}, 1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_err_ struct k8c_err *err = NULL;
        cr_assert(net_dns_table_new(NULL, &bad[i], 1, NULL, 0, &err) == NULL, "case %zu", i);
        cr_assert(strstr(err->msg, bad[i].name) != NULL, "%s", err->msg);
    }
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(net_dns_table_new("bad..domain", NULL, 0, NULL, 0, &err) == NULL);
}

/* ---- the server over real sockets ---- */

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    return to;
}

static size_t udp_ask(unsigned port, const uint8_t *q, size_t n, uint8_t *resp)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = loopback(port);
    cr_assert(sendto(fd, q, n, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)n);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    cr_assert(eq(int, poll(&p, 1, 5000), 1), "no UDP answer");
    ssize_t r = recv(fd, resp, 65535, 0);
    close(fd);
    cr_assert(r > 0);
    return (size_t)r;
}

static size_t tcp_ask(unsigned port, const uint8_t *q, size_t n, uint8_t *resp)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = loopback(port);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&to, sizeof(to)), 0));
    uint8_t l[2] = {(uint8_t)(n >> 8), (uint8_t)n};
    /* the length and the message in separate writes: the server must reassemble */
    cr_assert(eq(sz, (size_t)write(fd, l, 1), 1));
    usleep(10000);
    cr_assert(eq(sz, (size_t)write(fd, l + 1, 1), 1));
    cr_assert(eq(sz, (size_t)write(fd, q, n), n));
    size_t got = 0, want = 0;
    while (got < 2 || got < 2 + want) {
        ssize_t r = read(fd, resp + got, 65537 - got);
        cr_assert(r > 0, "TCP answer cut short");
        got += (size_t)r;
        if (got >= 2)
            want = (size_t)resp[0] << 8 | resp[1];
    }
    close(fd);
    memmove(resp, resp + 2, want);
    return want;
}

Test(net_dns, server_udp_tcp_and_table_swap)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    struct net_dns_server_config cfg = {.listen_ip = "127.0.0.1", .port = 0};
    struct net_dns_server *s = net_dns_server_start(&cfg, cluster(), &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    unsigned port = net_dns_server_port(s);
    cr_assert(port > 0);
    static uint8_t resp[65537];
    uint8_t q[512];
    struct answer a;
    size_t n = query(q, 42, "web.default.svc.cluster.local", NET_DNS_A, false, 0);
    decode(resp, udp_ask(port, q, n, resp), &a);
    cr_assert(has(&a, 0, "web.default.svc.cluster.local", 1, "10.96.0.20"));
    decode(resp, tcp_ask(port, q, n, resp), &a);
    cr_assert(has(&a, 0, "web.default.svc.cluster.local", 1, "10.96.0.20"));
    /* a new table: the old name is gone at once, the new one answers */
    const struct net_dns_service moved = {"default", "web", "10.96.0.99", NULL, NULL, 0, NULL, 0};
    net_dns_server_set_table(s, net_dns_table_new(NULL, &moved, 1, NULL, 0, NULL));
    decode(resp, udp_ask(port, q, n, resp), &a);
    cr_assert(has(&a, 0, "web.default.svc.cluster.local", 1, "10.96.0.99"));
    /* outside the zone without upstreams: REFUSED, never sent anywhere */
    n = query(q, 43, "example.com", NET_DNS_A, false, 0);
    decode(resp, udp_ask(port, q, n, resp), &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_REFUSED));
    /* garbage does not stop it */
    const uint8_t junk[] = {1, 2, 3};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = loopback(port);
    sendto(fd, junk, sizeof(junk), 0, (struct sockaddr *)&to, sizeof(to));
    close(fd);
    n = query(q, 44, "web.default.svc.cluster.local", NET_DNS_A, false, 0);
    decode(resp, udp_ask(port, q, n, resp), &a);
    cr_assert(eq(u32, a.id, 44));
    net_dns_server_stop(s);
}

Test(net_dns, server_forwards_to_upstream_and_servfails_without_answer)
{
    /* the "upstream": a second k8c DNS server on loopback serving another domain */
    _cleanup_err_ struct k8c_err *err = NULL;
    struct net_dns_server_config up_cfg = {.listen_ip = "127.0.0.1", .port = 0};
    const struct net_dns_service other = {"default", "far", "10.1.2.3", NULL, NULL, 0, NULL, 0};
    struct net_dns_server *up = net_dns_server_start(
        &up_cfg, net_dns_table_new("example.org", &other, 1, NULL, 0, NULL), &err);
    cr_assert(up != NULL);
    char upstream[32];
    snprintf(upstream, sizeof(upstream), "127.0.0.1:%u", net_dns_server_port(up));
    const char *ups[] = {upstream};
    struct net_dns_server_config cfg = {
        .listen_ip = "127.0.0.1", .port = 0, .upstreams = ups, .n_upstreams = 1};
    struct net_dns_server *s = net_dns_server_start(&cfg, cluster(), &err);
    cr_assert(s != NULL);
    unsigned port = net_dns_server_port(s);
    static uint8_t resp[65537];
    uint8_t q[512];
    struct answer a;
    size_t n = query(q, 77, "far.default.svc.example.org", NET_DNS_A, false, 0);
    decode(resp, udp_ask(port, q, n, resp), &a);
    cr_assert(eq(u32, a.id, 77), "the client's id is restored");
    cr_assert(has(&a, 0, "far.default.svc.example.org", 1, "10.1.2.3"));
    decode(resp, tcp_ask(port, q, n, resp), &a);
    cr_assert(has(&a, 0, "far.default.svc.example.org", 1, "10.1.2.3"));
    /* the cluster's own names are still answered here */
    n = query(q, 78, "web.default.svc.cluster.local", NET_DNS_A, false, 0);
    decode(resp, udp_ask(port, q, n, resp), &a);
    cr_assert(has(&a, 0, "web.default.svc.cluster.local", 1, "10.96.0.20"));
    cr_assert(eq(u32, a.flags & 0x0080, 0x80), "RA with upstreams");
    /* the upstream gone: SERVFAIL after the deadline */
    net_dns_server_stop(up);
    n = query(q, 79, "far.default.svc.example.org", NET_DNS_A, false, 0);
    decode(resp, udp_ask(port, q, n, resp), &a);
    cr_assert(eq(u32, a.rcode, NET_DNS_SERVFAIL));
    net_dns_server_stop(s);
}

Test(net_dns, resolv_conf_nameservers)
{
    char path[] = "/tmp/k8c-dns-unit-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# comment\nsearch example.com\nnameserver 192.0.2.1\n"
                       "nameserver ::1\n  nameserver\t192.0.2.2  \noptions ndots:2\n";
    cr_assert(eq(sz, (size_t)write(fd, text, strlen(text)), strlen(text)));
    close(fd);
    char *out[3] = {0};
    cr_assert(eq(int, net_dns_read_resolv_conf(path, out, 3, NULL), 2));
    cr_assert(eq(str, out[0], "192.0.2.1"));
    cr_assert(eq(str, out[1], "192.0.2.2"));
    free(out[0]), free(out[1]);
    unlink(path);
    cr_assert(eq(int, net_dns_read_resolv_conf(path, out, 3, NULL), 0));
}
