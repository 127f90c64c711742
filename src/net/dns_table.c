/* The cluster DNS records (Kubernetes' DNS-based service discovery specification, as CoreDNS's
 * kubernetes plugin serves it) built from plain data into one immutable, sorted table, so the
 * server answers from a snapshot and the agent swaps whole tables atomically. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "net/dns_internal.h"
#include "net/net.h"

struct pair {
    char *name;
    bool has_rr; /* false: an empty non-terminal */
    struct net_dns_rr rr;
    size_t seq; /* insertion order, so records keep the order they were given in */
};

struct builder {
    struct pair *v;
    size_t n, cap;
};

static void add(struct builder *b, char *name_take, const struct net_dns_rr *rr)
{
    /* A name past 253 characters cannot be asked for nor written: leave it out. */
    if (strlen(name_take) > 253 || (rr && rr->target && strlen(rr->target) > 253)) {
        free(name_take);
        if (rr)
            free(rr->target);
        return;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
    }
    struct pair *p = &b->v[b->n];
    memset(p, 0, sizeof(*p));
    p->name = name_take;
    p->seq = b->n++;
    if (rr) {
        p->has_rr = true;
        p->rr = *rr;
    }
}

static void add_ent(struct builder *b, char *name_take)
{
    add(b, name_take, NULL);
}

/* Every proper ancestor of name below (and including) domain, as empty non-terminals. */
static void add_ancestors(struct builder *b, const char *name, const char *domain)
{
    size_t dl = strlen(domain);
    for (const char *p = strchr(name, '.'); p; p = strchr(p + 1, '.')) {
        add_ent(b, xstrdup(p + 1));
        if (strlen(p + 1) == dl)
            break;
    }
}

/* A DNS label as Kubernetes names are (RFC 1123: letters, digits, '-', not at the ends). */
static bool valid_label(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

/* A domain name to point a CNAME at: labels of letters, digits, '-' and '_', at most 253
 * characters; one trailing dot is allowed. */
static bool valid_domain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n && s[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') && ++label <= 63) {
            continue;
        } else {
            return false;
        }
    }
    return label > 0;
}

static char *lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

static char *dashed(uint32_t ip)
{
    return xasprintf("%u-%u-%u-%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static char *reverse_name(uint32_t ip)
{
    return xasprintf("%u.%u.%u.%u.in-addr.arpa", ip & 255, (ip >> 8) & 255, (ip >> 16) & 255,
                     ip >> 24);
}

static const char *proto_label(const char *p)
{
    if (!p || strcasecmp(p, "TCP") == 0)
        return "tcp";
    if (strcasecmp(p, "UDP") == 0)
        return "udp";
    if (strcasecmp(p, "SCTP") == 0)
        return "sctp";
    return NULL;
}

static void add_a(struct builder *b, const char *name, uint32_t ip)
{
    struct net_dns_rr rr = {.type = NET_DNS_A, .ip = ip};
    add(b, xstrdup(name), &rr);
}

static void add_target(struct builder *b, const char *name, uint16_t type, const char *target)
{
    struct net_dns_rr rr = {.type = type, .target = xstrdup(target)};
    add(b, xstrdup(name), &rr);
}

static void add_srv(struct builder *b, const char *name, unsigned port, unsigned weight,
                    const char *target)
{
    struct net_dns_rr rr = {.type = NET_DNS_SRV,
                            .port = (uint16_t)port,
                            .weight = (uint16_t)weight,
                            .target = xstrdup(target)};
    add(b, xstrdup(name), &rr);
}

static int add_service(struct builder *b, const char *domain, const struct net_dns_service *s,
                       struct k8c_err **err)
{
    if (!valid_label(s->ns) || !valid_label(s->name))
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "dns: service `%s/%s`: not a valid DNS label", s->ns ? s->ns : "",
                           s->name ? s->name : "");
    _cleanup_free_ char *base = lower(xasprintf("%s.%s.svc.%s", s->name, s->ns, domain));
    add_ancestors(b, base, domain);
    if (s->external_name) {
        if (!valid_domain(s->external_name))
            return k8c_err_set(
                err, 0, K8C_REASON_INVALID,
                "dns: service `%s/%s`: spec.externalName \"%s\" is not a domain name", s->ns,
                s->name, s->external_name);
        _cleanup_free_ char *t = lower(xstrdup(s->external_name));
        size_t tl = strlen(t);
        if (t[tl - 1] == '.')
            t[tl - 1] = '\0';
        add_target(b, base, NET_DNS_CNAME, t);
        return 0;
    }
    bool headless = !s->cluster_ip || !*s->cluster_ip || strcmp(s->cluster_ip, "None") == 0;
    uint32_t cip = 0;
    if (!headless && net_ip_parse(s->cluster_ip, &cip, err) < 0)
        return k8c_err_wrap(err, "dns: service `%s/%s`: spec.clusterIP", s->ns, s->name);
    add_ent(b, xstrdup(base));
    /* The endpoints' names: hostname when set, else the dashed address (as CoreDNS). */
    size_t n_eps = headless ? s->n_endpoints : 0;
    _cleanup_strv_ char **ep_names = xcalloc(n_eps + 1, sizeof(char *));
    for (size_t e = 0; e < n_eps; e++) {
        const struct net_dns_endpoint *ep = &s->endpoints[e];
        uint32_t ip;
        if (net_ip_parse(ep->ip, &ip, err) < 0)
            return k8c_err_wrap(err, "dns: service `%s/%s`: endpoint %zu", s->ns, s->name, e);
        if (ep->hostname && *ep->hostname && !valid_label(ep->hostname))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "dns: service `%s/%s`: endpoint hostname \"%s\" is not a valid DNS "
                               "label",
                               s->ns, s->name, ep->hostname);
        _cleanup_free_ char *label =
            ep->hostname && *ep->hostname ? lower(xstrdup(ep->hostname)) : dashed(ip);
        ep_names[e] = xasprintf("%s.%s", label, base);
        add_a(b, base, ip);
        add_a(b, ep_names[e], ip);
        _cleanup_free_ char *rev = reverse_name(ip);
        add_target(b, rev, NET_DNS_PTR, ep_names[e]);
    }
    if (!headless) {
        add_a(b, base, cip);
        _cleanup_free_ char *rev = reverse_name(cip);
        add_target(b, rev, NET_DNS_PTR, base);
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct net_dns_port *p = &s->ports[i];
        const char *proto = proto_label(p->protocol);
        if (!proto || p->port < 1 || p->port > 65535)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "dns: service `%s/%s`: spec.ports[%zu]: bad port %u/%s", s->ns,
                               s->name, i, p->port, p->protocol ? p->protocol : "TCP");
        bool named = p->name && *p->name;
        if (named && !valid_label(p->name))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "dns: service `%s/%s`: spec.ports[%zu].name \"%s\" is not a valid "
                               "DNS label",
                               s->ns, s->name, i, p->name);
        _cleanup_free_ char *srv =
            named ? lower(xasprintf("_%s._%s.%s", p->name, proto, base)) : NULL;
        if (srv)
            add_ancestors(b, srv, domain);
        if (!headless) {
            add_srv(b, base, p->port, 100, base);
            if (srv)
                add_srv(b, srv, p->port, 100, base);
            continue;
        }
        for (size_t e = 0; e < n_eps; e++) {
            unsigned weight = 100 / (unsigned)(n_eps < 100 ? n_eps : 100);
            add_srv(b, base, p->port, weight, ep_names[e]);
            if (srv)
                add_srv(b, srv, p->port, weight, ep_names[e]);
        }
    }
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_rr(const struct net_dns_rr *a, const struct net_dns_rr *b)
{
    return a->type == b->type && a->ip == b->ip && a->port == b->port && a->weight == b->weight &&
           a->priority == b->priority &&
           (a->target == b->target || (a->target && b->target && !strcmp(a->target, b->target)));
}

static void builder_free(struct builder *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].name);
        free(b->v[i].rr.target);
    }
    free(b->v);
}

/* Sorted pairs into entries; duplicate records at one name are kept once. */
static struct net_dns_table *finish(struct builder *b, char *domain_take)
{
    qsort(b->v, b->n, sizeof(*b->v), cmp_pair);
    struct net_dns_table *t = xcalloc(1, sizeof(*t));
    atomic_init(&t->refs, 1);
    t->domain = domain_take;
    t->serial = (uint32_t)time(NULL);
    t->entries = xcalloc(b->n ? b->n : 1, sizeof(*t->entries));
    t->rrs = xcalloc(b->n ? b->n : 1, sizeof(*t->rrs));
    for (size_t i = 0; i < b->n; i++) {
        struct pair *p = &b->v[i];
        struct net_dns_entry *e = t->n_entries ? &t->entries[t->n_entries - 1] : NULL;
        if (!e || strcmp(e->name, p->name) != 0) {
            e = &t->entries[t->n_entries++];
            e->name = steal_ptr(&p->name);
            e->first = t->n_rrs;
        }
        if (!p->has_rr)
            continue;
        bool dup = false;
        for (size_t k = e->first; k < e->first + e->n && !dup; k++)
            dup = same_rr(&t->rrs[k], &p->rr);
        if (dup)
            continue;
        t->rrs[t->n_rrs++] = p->rr;
        p->rr.target = NULL;
        e->n++;
    }
    builder_free(b);
    return t;
}

struct net_dns_table *net_dns_table_new(const char *domain, const struct net_dns_service *svcs,
                                        size_t n_svcs, const struct net_dns_pod *pods,
                                        size_t n_pods, struct k8c_err **err)
{
    _cleanup_free_ char *d = lower(xstrdup(domain ? domain : NET_DNS_DOMAIN_DEFAULT));
    size_t dl = strlen(d);
    if (dl && d[dl - 1] == '.')
        d[--dl] = '\0';
    if (!valid_domain(d))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "dns: cluster domain \"%s\" is not valid",
                           domain),
               NULL;
    struct builder b = {0};
    add_ent(&b, xstrdup(d));
    add_ent(&b, xasprintf("svc.%s", d));
    add_ent(&b, xasprintf("pod.%s", d));
    for (size_t i = 0; i < n_svcs; i++) {
        if (add_service(&b, d, &svcs[i], err) < 0) {
            builder_free(&b);
            return NULL;
        }
    }
    for (size_t i = 0; i < n_pods; i++) {
        uint32_t ip;
        if (!valid_label(pods[i].ns) || net_ip_parse(pods[i].ip, &ip, err) < 0) {
            if (!err || !*err)
                k8c_err_set(err, 0, K8C_REASON_INVALID, "not a valid DNS label");
            k8c_err_wrap(err, "dns: pod %zu in namespace \"%s\"", i, pods[i].ns ? pods[i].ns : "");
            builder_free(&b);
            return NULL;
        }
        _cleanup_free_ char *label = dashed(ip);
        _cleanup_free_ char *name = lower(xasprintf("%s.%s.pod.%s", label, pods[i].ns, d));
        add_ancestors(&b, name, d);
        add_a(&b, name, ip);
    }
    return finish(&b, steal_ptr(&d));
}

struct net_dns_table *net_dns_table_ref(struct net_dns_table *t)
{
    atomic_fetch_add(&t->refs, 1);
    return t;
}

void net_dns_table_unref(struct net_dns_table *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    for (size_t i = 0; i < t->n_entries; i++)
        free(t->entries[i].name);
    for (size_t i = 0; i < t->n_rrs; i++)
        free(t->rrs[i].target);
    free(t->entries);
    free(t->rrs);
    free(t->domain);
    free(t);
}

size_t net_dns_table_size(const struct net_dns_table *t)
{
    return t ? t->n_entries : 0;
}

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct net_dns_entry *)elem)->name);
}

const struct net_dns_entry *net__dns_lookup(const struct net_dns_table *t, const char *name)
{
    return bsearch(name, t->entries, t->n_entries, sizeof(*t->entries), cmp_key);
}

bool net__dns_in_zone(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);
    if (n == d)
        return strcmp(name, domain) == 0;
    return n > d && name[n - d - 1] == '.' && strcmp(name + n - d, domain) == 0;
}
