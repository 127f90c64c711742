/* NetworkPolicy to nftables: selectors evaluated over plain data, one rule per allowed
 * (peer, port) pair in a chain per isolated local pod, the whole table replaced in one
 * transaction (never duplicated, other tables never touched). See policy.h for the
 * semantics. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "net/internal.h"
#include "net/net.h"
#include "net/policy.h"

#define TABLE "ip k8c-policy"

static const char *label_value(const struct net_label *labels, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (labels[i].key && strcmp(labels[i].key, key) == 0)
            return labels[i].value ? labels[i].value : "";
    return NULL;
}

bool net_selector_matches(const struct net_selector *sel, const struct net_label *labels,
                          size_t n_labels)
{
    for (size_t i = 0; i < sel->n_match_labels; i++) {
        const char *v = label_value(labels, n_labels, sel->match_labels[i].key);
        if (!v || strcmp(v, sel->match_labels[i].value ? sel->match_labels[i].value : "") != 0)
            return false;
    }
    for (size_t i = 0; i < sel->n_exprs; i++) {
        const struct net_sel_req *r = &sel->exprs[i];
        const char *v = label_value(labels, n_labels, r->key);
        bool in = false;
        for (size_t k = 0; v && k < r->n_values && !in; k++)
            in = strcmp(v, r->values[k]) == 0;
        bool ok = r->op == NET_SEL_IN       ? in
                  : r->op == NET_SEL_NOT_IN ? !in
                  : r->op == NET_SEL_EXISTS ? v != NULL
                                            : v == NULL;
        if (!ok)
            return false;
    }
    return true;
}

static const char *proto_name(enum net_proto p)
{
    return p == NET_PROTO_UDP ? "udp" : p == NET_PROTO_SCTP ? "sctp" : "tcp";
}

static const struct net_pol_ns *find_ns(const struct net_pol_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_namespaces; i++)
        if (strcmp(in->namespaces[i].name, name) == 0)
            return &in->namespaces[i];
    return NULL;
}

/* Whether pod p is one of peer's pods (a peer of a policy in namespace ns). */
static bool peer_selects(const struct net_pol_input *in, const struct net_pol_peer *peer,
                         const char *ns, const struct net_pol_pod *p)
{
    if (peer->ns_selector) {
        const struct net_pol_ns *pns = find_ns(in, p->ns);
        /* A namespace the caller did not describe has no labels: only an empty selector
         * (every namespace) takes it in. */
        if (!net_selector_matches(peer->ns_selector, pns ? pns->labels : NULL,
                                  pns ? pns->n_labels : 0))
            return false;
    } else if (strcmp(p->ns, ns) != 0) {
        return false;
    }
    return !peer->pod_selector || net_selector_matches(peer->pod_selector, p->labels, p->n_labels);
}

static bool pod_usable(const struct net_pol_pod *p)
{
    return p->ip && *p->ip && p->ns;
}

/* The port a pod declares under name for protocol, or 0. */
static unsigned named_port(const struct net_pol_pod *p, const char *name, enum net_proto proto)
{
    for (size_t i = 0; i < p->n_ports; i++)
        if (p->ports[i].name && strcmp(p->ports[i].name, name) == 0 &&
            p->ports[i].protocol == proto)
            return p->ports[i].port;
    return 0;
}

struct ctx {
    const struct net_pol_input *in;
    const struct net_policy *pol;
    const char *what; /* "ns/name" of the policy, for errors */
    struct buf *b;
    const char *dir; /* "saddr" (ingress) or "daddr" (egress) */
    const char *verdict;
};

static int port_check(const struct ctx *c, const struct net_pol_port *pt, struct k8c_err **err)
{
    if ((pt->port > 65535 || pt->end_port > 65535 || (pt->end_port && pt->end_port < pt->port) ||
         (pt->end_port && !pt->port)) ||
        (unsigned)pt->protocol > NET_PROTO_SCTP)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "network policy `%s`: bad port %u-%u",
                           c->what, pt->port, pt->end_port);
    return 0;
}

/* " tcp dport 80" / " tcp dport 80-90" / " meta l4proto tcp" for a numeric port (or none). */
static void port_match(struct buf *b, enum net_proto proto, unsigned port, unsigned end)
{
    if (port == 0)
        buf_appendf(b, " meta l4proto %s", proto_name(proto));
    else if (end && end != port)
        buf_appendf(b, " %s dport %u-%u", proto_name(proto), port, end);
    else
        buf_appendf(b, " %s dport %u", proto_name(proto), port);
}

/* " ip saddr 10.0.0.0/8 ip saddr != { 10.1.0.0/16 }" for an ipBlock. */
static int cidr_match(const struct ctx *c, const struct net_pol_peer *peer, struct buf *b,
                      struct k8c_err **err)
{
    struct net_cidr cidr;
    char ip[16];
    if (net_cidr_parse(peer->cidr, &cidr, err) < 0)
        return k8c_err_wrap(err, "network policy `%s`: ipBlock.cidr", c->what);
    buf_appendf(b, " ip %s %s/%u", c->dir, net_ip_format(cidr.addr, ip), cidr.prefix);
    for (size_t i = 0; i < peer->n_except; i++) {
        struct net_cidr ex;
        if (net_cidr_parse(peer->except[i], &ex, err) < 0)
            return k8c_err_wrap(err, "network policy `%s`: ipBlock.except[%zu]", c->what, i);
        if (i == 0)
            buf_appendf(b, " ip %s != { ", c->dir);
        buf_appendf(b, "%s%s/%u", i ? ", " : "", net_ip_format(ex.addr, ip), ex.prefix);
    }
    if (peer->n_except)
        buf_appendf(b, " }");
    return 0;
}

/* One rule: "<peer match><port match> <verdict>". */
static void emit(const struct ctx *c, const char *peer, const char *port)
{
    _cleanup_free_ char *match = xasprintf("%s%s", peer, port);
    buf_appendf(c->b, "\t\t%s%s%s\n", match + (match[0] == ' '), match[0] ? " " : "", c->verdict);
}

/* The " ip saddr { a, b }" match of the usable pods in list (idx of n); "" when all. */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* " ip saddr { a, b }" of the pods idx[0..n), sorted, each address once (a set element twice
 * would make nftables refuse the whole table). */
static void pods_match(const struct ctx *c, const size_t *idx, size_t n, struct buf *out)
{
    char ip[16];
    _cleanup_free_ uint32_t *v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        net_ip_parse(c->in->pods[idx[i]].ip, &v[i], NULL); /* checked by the caller */
    qsort(v, n, sizeof(*v), cmp_u32);
    buf_appendf(out, " ip %s { ", c->dir);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || v[i] != v[i - 1])
            buf_appendf(out, "%s%s", i ? ", " : "", net_ip_format(v[i], ip));
    buf_appendf(out, " }");
}

/* The rules of one ingress/egress rule of a policy for local pod self. */
static int render_rule(const struct ctx *c, const struct net_pol_pod *self,
                       const struct net_pol_rule *r, bool egress, struct k8c_err **err)
{
    const struct net_pol_input *in = c->in;
    struct net_pol_peer all = {0};
    size_t n_peers = r->n_peers ? r->n_peers : 1;
    _cleanup_free_ size_t *idx = xcalloc(in->n_pods + 1, sizeof(size_t));
    for (size_t pi = 0; pi < n_peers; pi++) {
        const struct net_pol_peer *peer = r->n_peers ? &r->peers[pi] : &all;
        bool everyone = r->n_peers == 0;
        _cleanup_buf_ struct buf pm = BUF_INIT;
        size_t n = 0;
        if (peer->cidr) {
            if (peer->pod_selector || peer->ns_selector)
                return k8c_err_set(err, 0, K8C_REASON_INVALID,
                                   "network policy `%s`: ipBlock with a selector", c->what);
            if (cidr_match(c, peer, &pm, err) < 0)
                return -1;
        } else if (!everyone) {
            for (size_t k = 0; k < in->n_pods; k++)
                if (pod_usable(&in->pods[k]) && peer_selects(in, peer, c->pol->ns, &in->pods[k]))
                    idx[n++] = k;
            if (n == 0)
                continue; /* selects no pod: allows nothing */
            pods_match(c, idx, n, &pm);
        } else {
            for (size_t k = 0; k < in->n_pods; k++)
                if (pod_usable(&in->pods[k]))
                    idx[n++] = k;
        }
        const char *peer_text = pm.data ? pm.data : "";
        if (r->n_ports == 0) {
            emit(c, peer_text, "");
            continue;
        }
        for (size_t q = 0; q < r->n_ports; q++) {
            const struct net_pol_port *pt = &r->ports[q];
            if (port_check(c, pt, err) < 0)
                return -1;
            _cleanup_buf_ struct buf port = BUF_INIT;
            if (!pt->name) {
                port_match(&port, pt->protocol, pt->port, pt->end_port);
                emit(c, peer_text, port.data);
            } else if (!egress) {
                /* Ingress: the name is the selected pod's own port. */
                unsigned num = named_port(self, pt->name, pt->protocol);
                if (num) {
                    port_match(&port, pt->protocol, num, 0);
                    emit(c, peer_text, port.data);
                }
            } else if (!peer->cidr) {
                /* Egress: the name is resolved on each destination pod. */
                char ip[16];
                for (size_t k = 0; k < n; k++) {
                    const struct net_pol_pod *dst = &in->pods[idx[k]];
                    unsigned num = named_port(dst, pt->name, pt->protocol);
                    uint32_t a = 0;
                    if (!num || net_ip_parse(dst->ip, &a, NULL) < 0)
                        continue;
                    _cleanup_buf_ struct buf one = BUF_INIT;
                    buf_appendf(&one, " ip daddr %s", net_ip_format(a, ip));
                    buf_reset(&port);
                    port_match(&port, pt->protocol, num, 0);
                    emit(c, one.data, port.data);
                }
            }
        }
    }
    return 0;
}

static bool selects(const struct net_policy *pol, const struct net_pol_pod *p)
{
    return strcmp(pol->ns, p->ns) == 0 &&
           net_selector_matches(&pol->pod_selector, p->labels, p->n_labels);
}

/* The chain of local pod p for one direction; returns whether p is isolated that way. */
static int render_pod(const struct net_pol_input *in, size_t pi, bool egress, struct buf *chains,
                      struct k8c_err **err)
{
    const struct net_pol_pod *p = &in->pods[pi];
    bool isolated = false;
    _cleanup_buf_ struct buf b = BUF_INIT;
    for (size_t i = 0; i < in->n_policies; i++) {
        const struct net_policy *pol = &in->policies[i];
        if (!(egress ? pol->egress : pol->ingress) || !selects(pol, p))
            continue;
        isolated = true;
        _cleanup_free_ char *what = xasprintf("%s/%s", pol->ns, pol->name ? pol->name : "");
        struct ctx c = {.in = in,
                        .pol = pol,
                        .what = what,
                        .b = &b,
                        .dir = egress ? "daddr" : "saddr",
                        .verdict = egress ? "return" : "accept"};
        size_t n = egress ? pol->n_egress : pol->n_ingress;
        for (size_t r = 0; r < n; r++)
            if (render_rule(&c, p, egress ? &pol->egress_rules[r] : &pol->ingress_rules[r], egress,
                            err) < 0)
                return -1;
    }
    if (!isolated)
        return 0;
    buf_appendf(chains, "\tchain %s-%zu {\n%s\t\tdrop\n\t}\n", egress ? "egress" : "ingress", pi,
                b.data ? b.data : "");
    return 1;
}

char *net_policy_render(const struct net_pol_input *in, struct k8c_err **err)
{
    _cleanup_buf_ struct buf chains = BUF_INIT, ingress = BUF_INIT, egress = BUF_INIT;
    for (size_t i = 0; i < in->n_policies; i++)
        if (!in->policies[i].ns)
            return k8c_err_set(err, 0, K8C_REASON_INVALID, "network policy %zu: no namespace", i),
                   NULL;
    for (size_t i = 0; i < in->n_pods; i++) {
        const struct net_pol_pod *p = &in->pods[i];
        uint32_t a;
        char ip[16];
        if (!pod_usable(p))
            continue;
        if (net_ip_parse(p->ip, &a, err) < 0)
            return k8c_err_wrap(err, "network policy: pod `%s/%s`", p->ns, p->name ? p->name : ""),
                   NULL;
        if (!p->local)
            continue;
        for (int dir = 0; dir < 2; dir++) {
            int iso = render_pod(in, i, dir == 1, &chains, err);
            if (iso < 0)
                return NULL;
            struct buf *map = dir ? &egress : &ingress;
            /* A second local pod with the same address (a stale one) gets no second key. */
            bool dup = false;
            for (size_t k = 0; k < i && !dup; k++)
                dup = in->pods[k].local && pod_usable(&in->pods[k]) &&
                      strcmp(in->pods[k].ip, p->ip) == 0;
            if (iso && !dup)
                buf_appendf(map, "%s%s : jump %s-%zu", map->len ? ", " : "", net_ip_format(a, ip),
                            dir ? "egress" : "ingress", i);
        }
    }
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_appendf(&b, "table " TABLE "\ndelete table " TABLE "\ntable " TABLE " {\n");
    /* Before the service table's filter chains; replies of allowed flows pass at once. */
    buf_appendf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter - 10; "
                    "policy accept;\n\t\tct state established,related accept\n");
    /* Egress first: a return from it goes on to the destination's ingress check. */
    if (egress.len)
        buf_appendf(&b, "\t\tip saddr vmap { %s }\n", egress.data);
    if (ingress.len)
        buf_appendf(&b, "\t\tip daddr vmap { %s }\n", ingress.data);
    buf_appendf(&b, "\t}\n%s}\n", chains.data ? chains.data : "");
    return buf_steal(&b);
}

int net_policy_sync(const struct net_pol_input *in, struct k8c_err **err)
{
    _cleanup_free_ char *script = net_policy_render(in, err);
    if (!script)
        return -1;
    return net__nft_run(script, "sync network policies", err);
}

int net_policy_cleanup(struct k8c_err **err)
{
    return net__nft_run("table " TABLE "\ndelete table " TABLE "\n", "clean up network policies",
                        err);
}
