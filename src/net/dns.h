/* Cluster DNS (issue 10), on src/base alone: the records Kubernetes' DNS specification asks
 * for (what CoreDNS's kubernetes plugin serves) built from plain data into an immutable
 * table, a DNS message parser/answerer that is safe on hostile packets, and a UDP+TCP server
 * whose table the caller replaces atomically. Names outside the cluster domain are forwarded
 * to upstream resolvers only when some are configured; otherwise they are REFUSED. */
#ifndef K8C_NET_DNS_H
#define K8C_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define NET_DNS_DOMAIN_DEFAULT "cluster.local"
/* The record TTL CoreDNS's kubernetes plugin uses by default: short, names follow pods. */
#define NET_DNS_TTL 5

/* ---- the records (dns_table.c) ---- */

struct net_dns_port {
    const char *name;     /* the port's name; NULL or "": no SRV record of its own */
    const char *protocol; /* "TCP" (NULL), "UDP" or "SCTP" */
    unsigned port;
};

struct net_dns_endpoint {
    const char *ip;       /* a ready endpoint's IPv4 address */
    const char *hostname; /* its hostname (pod spec.hostname), or NULL */
};

struct net_dns_service {
    const char *ns, *name;
    /* The IPv4 cluster IP; NULL, "" or "None": headless (A records are the endpoints'). */
    const char *cluster_ip;
    const char *external_name; /* type ExternalName: a CNAME to this name; else NULL */
    const struct net_dns_port *ports;
    size_t n_ports;
    const struct net_dns_endpoint *endpoints; /* ready ones only */
    size_t n_endpoints;
};

struct net_dns_pod {
    const char *ns;
    const char *ip; /* its IPv4 pod IP: a-b-c-d.<ns>.pod.<domain> */
};

/* An immutable, reference-counted set of records for one cluster domain. */
struct net_dns_table;

/* Builds the records of domain (NULL: NET_DNS_DOMAIN_DEFAULT):
 *   <svc>.<ns>.svc.<d>            A cluster IP; headless: A of every ready endpoint; SRV of
 *                                 every port; ExternalName: CNAME
 *   <ep>.<svc>.<ns>.svc.<d>       headless endpoints: A (ep = hostname, else a-b-c-d)
 *   _<port>._<proto>.<svc>...     SRV per named port (to the service, or to each endpoint)
 *   a-b-c-d.<ns>.pod.<d>          A of each pod given (verified: only pods that exist)
 *   d.c.b.a.in-addr.arpa          PTR of cluster IPs and headless endpoints
 * plus the empty non-terminals between them (answered NOERROR without data, never NXDOMAIN).
 * A name, address or port that is not valid fails with INVALID naming the object. Returns a
 * table holding one reference (release with net_dns_table_unref), or NULL and sets *err. */
struct net_dns_table *net_dns_table_new(const char *domain, const struct net_dns_service *svcs,
                                        size_t n_svcs, const struct net_dns_pod *pods,
                                        size_t n_pods, struct k8c_err **err);
/* Another reference to t (returns t). */
struct net_dns_table *net_dns_table_ref(struct net_dns_table *t);
/* Drops a reference; the last one frees the table. NULL is fine. */
void net_dns_table_unref(struct net_dns_table *t);
/* How many names the table holds (records and empty non-terminals), for logs and tests. */
size_t net_dns_table_size(const struct net_dns_table *t);

/* ---- messages (dns_msg.c) ---- */

enum net_dns_rcode {
    NET_DNS_NOERROR = 0,
    NET_DNS_FORMERR = 1,
    NET_DNS_SERVFAIL = 2,
    NET_DNS_NXDOMAIN = 3,
    NET_DNS_NOTIMP = 4,
    NET_DNS_REFUSED = 5,
};

enum net_dns_type {
    NET_DNS_A = 1,
    NET_DNS_NS = 2,
    NET_DNS_CNAME = 5,
    NET_DNS_SOA = 6,
    NET_DNS_PTR = 12,
    NET_DNS_AAAA = 28,
    NET_DNS_SRV = 33,
    NET_DNS_OPT = 41,
    NET_DNS_ANY = 255,
};

/* One question, as parsed from a query. */
struct net_dns_question {
    uint16_t id, flags;
    char name[256]; /* lower case, dotted, no trailing dot ("" is the root) */
    bool odd_name;  /* a label holds '.', NUL or '\\': never one of ours */
    uint16_t qtype, qclass;
    size_t question_end; /* offset just past the question (for echoing it) */
    bool edns;           /* an OPT record came with it */
    uint16_t udp_size;   /* its advertised UDP payload size (512 without EDNS) */
};

/* Parses a query. Returns 0 for a well-formed query; a positive rcode (FORMERR, NOTIMP) when
 * the message deserves an error answer (q->id and q->flags are set, question_end is 0 when
 * the question itself could not be read); -1 when it must be dropped (shorter than a header,
 * or a response: answering responses would let two servers loop). Names: compression
 * pointers must point strictly backwards (no loops), labels at most 63 bytes, names at most
 * 255; every length is checked against the message. Never reads outside msg[0..len). */
int net_dns_parse_query(const uint8_t *msg, size_t len, struct net_dns_question *q);

/* Decodes the (possibly compressed) name at msg[*off] into out (256 bytes, dotted, case
 * kept) and advances *off past it. Returns 0, or -1 for a malformed name. */
int net_dns_read_name(const uint8_t *msg, size_t len, size_t *off, char *out);

/* Walks a whole message (any section, any record), checking every length and name; used on
 * answers from upstream before they are relayed. Returns 0 when well-formed, else -1. */
int net_dns_check_message(const uint8_t *msg, size_t len);

enum net_dns_action {
    NET_DNS_DROP = 0,    /* send nothing */
    NET_DNS_REPLY = 1,   /* out holds the answer */
    NET_DNS_FORWARD = 2, /* outside the cluster domain and forwarding is on: relay the query */
};

/* Answers query from table t (NULL: an empty table for the default domain). tcp selects the
 * size limit: 65535 over TCP; over UDP 512, or the EDNS size (at most 1232), beyond which
 * the answer is cut to its header and question with TC set so the client retries over TCP.
 * forwarding says whether upstream resolvers exist: without them, names outside the
 * cluster domain are REFUSED. The answer is appended to out (reset first). */
enum net_dns_action net_dns_answer(const struct net_dns_table *t, const uint8_t *query, size_t len,
                                   bool tcp, bool forwarding, struct buf *out);

/* A SERVFAIL answer to query (upstreams unreachable), appended to out (reset first).
 * Returns NET_DNS_REPLY, or NET_DNS_DROP when query cannot be answered at all. */
enum net_dns_action net_dns_servfail(const uint8_t *query, size_t len, struct buf *out);

/* ---- the server (dns_server.c) ---- */

struct net_dns_server_config {
    const char *listen_ip; /* IPv4 address to bind (UDP and TCP) */
    unsigned port;         /* 0: any free port (see net_dns_server_port) */
    /* Resolvers for names outside the domain, "IPv4" or "IPv4:port"; none: REFUSED. */
    const char *const *upstreams;
    size_t n_upstreams;
};

struct net_dns_server;

/* Binds UDP and TCP on listen_ip:port and starts the serving thread, answering from
 * table_take (ownership of that reference passes to the server; NULL: no records yet).
 * Returns the server, or NULL and sets *err (e.g. the address is in use). */
struct net_dns_server *net_dns_server_start(const struct net_dns_server_config *cfg,
                                            struct net_dns_table *table_take, struct k8c_err **err);
/* Replaces the records atomically: queries already being answered finish with the old table.
 * Takes ownership of table_take's reference. */
void net_dns_server_set_table(struct net_dns_server *s, struct net_dns_table *table_take);
/* The bound port. */
unsigned net_dns_server_port(const struct net_dns_server *s);
/* Stops the thread, closes every socket, frees the server. NULL is fine. */
void net_dns_server_stop(struct net_dns_server *s);

/* ---- steering the cluster DNS address to the server (dns_redirect.c) ---- */

/* The nftables script of table "ip k8c-dns" (caller frees): cluster_dns:53 UDP and TCP DNAT'ed
 * to listen_ip:port, for the node's own traffic (output) and, unless listen_ip is a loopback
 * address, for pods (prerouting). Bad addresses or port: NULL and *err (INVALID). */
char *net_dns_redirect_render(const char *cluster_dns, const char *listen_ip, unsigned port,
                              struct k8c_err **err);
/* Applies that table in the calling thread's network namespace (atomic replace, no other table
 * touched). Returns 0, or -1 and sets *err. */
int net_dns_redirect_sync(const char *cluster_dns, const char *listen_ip, unsigned port,
                          struct k8c_err **err);
/* Removes the table; a missing one is fine. Returns 0, or -1 and sets *err. */
int net_dns_redirect_cleanup(struct k8c_err **err);

/* Reads the nameserver lines of a resolv.conf (IPv4 ones; at most max) into out (each
 * caller-freed). A missing file yields 0 servers. Returns the count, or -1 and sets *err. */
int net_dns_read_resolv_conf(const char *path, char **out, size_t max, struct k8c_err **err);

/* `k8c net-test dns-serve` (dns_cli.c, hidden): the server alone for benchmarks. */
int net_dns_cli_main(int argc, char **argv);

#endif
