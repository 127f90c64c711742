/* Shared by the cluster DNS files of src/net (dns_table.c builds, dns_msg.c answers). */
#ifndef K8C_NET_DNS_INTERNAL_H
#define K8C_NET_DNS_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "net/dns.h"

/* One record's data; the owner name is its entry's. */
struct net_dns_rr {
    uint16_t type;                   /* A, CNAME, SRV or PTR */
    uint32_t ip;                     /* A: host order */
    uint16_t priority, weight, port; /* SRV */
    char *target;                    /* CNAME, SRV, PTR: dotted, no trailing dot */
};

/* A name and its records rrs[first .. first+n); n == 0: an empty non-terminal. */
struct net_dns_entry {
    char *name; /* lower case, dotted, no trailing dot */
    size_t first, n;
};

struct net_dns_table {
    atomic_int refs;
    char *domain; /* lower case, no trailing dot */
    uint32_t serial;
    struct net_dns_entry *entries; /* sorted by name (strcmp) */
    size_t n_entries;
    struct net_dns_rr *rrs;
    size_t n_rrs;
};

/* The entry for name (lower case), or NULL. */
const struct net_dns_entry *net__dns_lookup(const struct net_dns_table *t, const char *name);

/* Whether name is domain or below it. */
bool net__dns_in_zone(const char *name, const char *domain);

#endif
