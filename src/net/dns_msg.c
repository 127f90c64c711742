/* DNS messages (RFC 1035, EDNS0 from RFC 6891): a query parser that never trusts a length
 * or a compression pointer, and the answers of the cluster zone built from a table. Queries
 * come from any pod, so every read is bounded by the message and every name by 255 bytes;
 * compression pointers must point strictly backwards, which makes loops impossible. */
#include <stdio.h>
#include <string.h>

#include "net/dns_internal.h"

#define FLAG_QR 0x8000u
#define FLAG_AA 0x0400u
#define FLAG_TC 0x0200u
#define FLAG_RD 0x0100u
#define FLAG_RA 0x0080u
#define HEADER 12
#define CLASS_IN 1
#define EDNS_SIZE 1232 /* the DNS flag day 2020 size: no fragmentation on common paths */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Decodes a name; *odd is set when a label holds a byte that would make the dotted text
 * ambiguous ('.', NUL, '\\'). */
static int read_name(const uint8_t *msg, size_t len, size_t *off, char *out, bool *odd)
{
    size_t pos = *off, limit = *off, n = 0, wire = 1, end = 0;
    bool jumped = false;
    for (;;) {
        if (pos >= len)
            return -1;
        uint8_t c = msg[pos];
        if ((c & 0xC0) == 0xC0) {
            if (pos + 1 >= len)
                return -1;
            size_t target = (size_t)(c & 0x3F) << 8 | msg[pos + 1];
            /* Strictly backwards from where this stretch of the name began: the targets
             * decrease at every jump, so no loop can form. Never into the header: no name
             * lives there (and an echoed question must not point at our own header). */
            if (target >= limit || target < HEADER)
                return -1;
            if (!jumped)
                end = pos + 2;
            jumped = true;
            pos = limit = target;
            continue;
        }
        if (c & 0xC0) /* 0x40 and 0x80: extended label types, obsolete */
            return -1;
        if (c == 0) {
            pos++;
            break;
        }
        if (pos + 1 + c > len)
            return -1;
        wire += 1u + c;
        if (wire > 255)
            return -1;
        if (n)
            out[n++] = '.';
        for (size_t i = 0; i < c; i++) {
            char ch = (char)msg[pos + 1 + i];
            if (ch == '.' || ch == '\0' || ch == '\\')
                *odd = true;
            out[n++] = ch;
        }
        pos += 1u + c;
    }
    out[n] = '\0';
    *off = jumped ? end : pos;
    return 0;
}

int net_dns_read_name(const uint8_t *msg, size_t len, size_t *off, char *out)
{
    bool odd = false;
    return read_name(msg, len, off, out, &odd);
}

/* Skips one resource record at *off, reporting its type and class. */
static int skip_rr(const uint8_t *msg, size_t len, size_t *off, uint16_t *type, uint16_t *cls)
{
    char name[256];
    bool odd = false;
    if (read_name(msg, len, off, name, &odd) < 0 || *off + 10 > len)
        return -1;
    *type = rd16(msg + *off);
    *cls = rd16(msg + *off + 2);
    size_t rdlen = rd16(msg + *off + 8);
    if (*off + 10 + rdlen > len)
        return -1;
    *off += 10 + rdlen;
    return 0;
}

int net_dns_check_message(const uint8_t *msg, size_t len)
{
    if (len < HEADER)
        return -1;
    size_t off = HEADER;
    for (unsigned i = 0; i < rd16(msg + 4); i++) {
        char name[256];
        bool odd = false;
        if (read_name(msg, len, &off, name, &odd) < 0 || off + 4 > len)
            return -1;
        off += 4;
    }
    unsigned records = (unsigned)rd16(msg + 6) + rd16(msg + 8) + rd16(msg + 10);
    for (unsigned i = 0; i < records; i++) {
        uint16_t type, cls;
        if (skip_rr(msg, len, &off, &type, &cls) < 0)
            return -1;
    }
    return 0;
}

int net_dns_parse_query(const uint8_t *msg, size_t len, struct net_dns_question *q)
{
    memset(q, 0, sizeof(*q));
    if (len < HEADER)
        return -1;
    q->id = rd16(msg);
    q->flags = rd16(msg + 2);
    q->udp_size = 512;
    if (q->flags & FLAG_QR)
        return -1;
    if (((q->flags >> 11) & 0xF) != 0)
        return NET_DNS_NOTIMP;
    if (rd16(msg + 4) != 1)
        return NET_DNS_FORMERR;
    size_t off = HEADER;
    if (read_name(msg, len, &off, q->name, &q->odd_name) < 0 || off + 4 > len)
        return NET_DNS_FORMERR;
    for (char *p = q->name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    q->qtype = rd16(msg + off);
    q->qclass = rd16(msg + off + 2);
    off += 4;
    q->question_end = off;
    unsigned before_ar = (unsigned)rd16(msg + 6) + rd16(msg + 8);
    unsigned records = before_ar + rd16(msg + 10);
    for (unsigned i = 0; i < records; i++) {
        uint16_t type, cls;
        if (skip_rr(msg, len, &off, &type, &cls) < 0)
            return NET_DNS_FORMERR;
        if (type != NET_DNS_OPT)
            continue;
        if (i < before_ar || q->edns) /* OPT only in additional, and only once */
            return NET_DNS_FORMERR;
        q->edns = true;
        q->udp_size = cls < 512 ? 512 : cls;
    }
    return 0;
}

/* ---- answers ---- */

struct reply {
    struct buf *b;
    const struct net_dns_question *q;
    uint16_t counts[3]; /* answer, authority, additional */
};

static void put16(struct buf *b, unsigned v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    buf_append(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
    put16(b, v >> 16);
    put16(b, v & 0xFFFF);
}

/* A dotted name from the table (validated: labels 1..63, at most 253 characters). */
static void put_name(struct buf *b, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t)(dot - name) : strlen(name);
        buf_append_char(b, (char)n);
        buf_append(b, name, n);
        name += n + (dot ? 1 : 0);
    }
    buf_append_char(b, 0);
}

/* Writes an owner name: a pointer to the question when it is the question's name. */
static void put_owner(struct reply *r, const char *name)
{
    if (strcmp(name, r->q->name) == 0)
        put16(r->b, 0xC000 | HEADER);
    else
        put_name(r->b, name);
}

/* Starts a record; returns the offset of its RDLENGTH, to be patched by end_rr. */
static size_t begin_rr(struct reply *r, int section, const char *owner, uint16_t type)
{
    put_owner(r, owner);
    put16(r->b, type);
    put16(r->b, CLASS_IN);
    put32(r->b, NET_DNS_TTL);
    size_t at = r->b->len;
    put16(r->b, 0);
    r->counts[section]++;
    return at;
}

static void end_rr(struct reply *r, size_t at)
{
    size_t n = r->b->len - at - 2;
    r->b->data[at] = (char)(n >> 8);
    r->b->data[at + 1] = (char)n;
}

static void put_rr(struct reply *r, int section, const char *owner, const struct net_dns_rr *rr)
{
    size_t at = begin_rr(r, section, owner, rr->type);
    switch (rr->type) {
    case NET_DNS_A: put32(r->b, rr->ip); break;
    case NET_DNS_SRV:
        put16(r->b, rr->priority);
        put16(r->b, rr->weight);
        put16(r->b, rr->port);
        put_name(r->b, rr->target); /* RFC 2782: never compressed */
        break;
    default: put_name(r->b, rr->target); break;
    }
    end_rr(r, at);
}

static void put_soa(struct reply *r, int section, const char *domain, uint32_t serial)
{
    size_t at = begin_rr(r, section, domain, NET_DNS_SOA);
    char mname[300], rname[300];
    snprintf(mname, sizeof(mname), "ns.dns.%s", domain);
    snprintf(rname, sizeof(rname), "hostmaster.%s", domain);
    put_name(r->b, mname);
    put_name(r->b, rname);
    put32(r->b, serial);
    put32(r->b, 7200);        /* refresh */
    put32(r->b, 1800);        /* retry */
    put32(r->b, 86400);       /* expire */
    put32(r->b, NET_DNS_TTL); /* minimum: how long resolvers cache a negative answer */
    end_rr(r, at);
}

static void put_ns(struct reply *r, const char *domain)
{
    size_t at = begin_rr(r, 0, domain, NET_DNS_NS);
    char ns[300];
    snprintf(ns, sizeof(ns), "ns.dns.%s", domain);
    put_name(r->b, ns);
    end_rr(r, at);
}

static void put_opt(struct reply *r)
{
    buf_append_char(r->b, 0); /* root */
    put16(r->b, NET_DNS_OPT);
    put16(r->b, EDNS_SIZE);
    put32(r->b, 0);
    put16(r->b, 0);
    r->counts[2]++;
}

/* Header (counts patched at the end) and the question echoed as it came. */
static void begin_reply(struct reply *r, const uint8_t *query, unsigned flags, unsigned rcode)
{
    buf_reset(r->b);
    put16(r->b, r->q->id);
    put16(r->b, FLAG_QR | (r->q->flags & (0x7800u | FLAG_RD)) | flags | rcode);
    put16(r->b, r->q->question_end ? 1 : 0);
    put16(r->b, 0);
    put16(r->b, 0);
    put16(r->b, 0);
    if (r->q->question_end)
        buf_append(r->b, query + HEADER, r->q->question_end - HEADER);
    memset(r->counts, 0, sizeof(r->counts));
}

static void finish_reply(struct reply *r)
{
    for (int i = 0; i < 3; i++) {
        r->b->data[6 + 2 * i] = (char)(r->counts[i] >> 8);
        r->b->data[7 + 2 * i] = (char)r->counts[i];
    }
}

static bool wanted(uint16_t qtype, uint16_t type)
{
    return qtype == NET_DNS_ANY || qtype == type || type == NET_DNS_CNAME;
}

/* Whether an SRV record before rrs[i] in e already has rrs[i]'s target. */
static bool earlier_target(const struct net_dns_table *t, const struct net_dns_entry *e, size_t i)
{
    for (size_t k = e->first; k < i; k++)
        if (t->rrs[k].type == NET_DNS_SRV && strcmp(t->rrs[k].target, t->rrs[i].target) == 0)
            return true;
    return false;
}

/* The A records of name into the additional section. */
static void put_addresses(struct reply *r, const struct net_dns_table *t, const char *name)
{
    const struct net_dns_entry *te = net__dns_lookup(t, name);
    for (size_t k = te ? te->first : 0; te && k < te->first + te->n; k++)
        if (t->rrs[k].type == NET_DNS_A)
            put_rr(r, 2, te->name, &t->rrs[k]);
}

/* The answer of a name in the zone (rcode NOERROR or NXDOMAIN). */
static unsigned answer_zone(struct reply *r, const struct net_dns_table *t, const char *domain,
                            uint32_t serial)
{
    const struct net_dns_question *q = r->q;
    const struct net_dns_entry *e = t ? net__dns_lookup(t, q->name) : NULL;
    unsigned rcode = NET_DNS_NOERROR;
    if (strcmp(q->name, domain) == 0) {
        if (q->qtype == NET_DNS_SOA || q->qtype == NET_DNS_ANY)
            put_soa(r, 0, domain, serial);
        if (q->qtype == NET_DNS_NS || q->qtype == NET_DNS_ANY)
            put_ns(r, domain);
    } else if (e) {
        for (size_t i = e->first; i < e->first + e->n; i++)
            if (wanted(q->qtype, t->rrs[i].type))
                put_rr(r, 0, e->name, &t->rrs[i]);
        /* The addresses of SRV targets, so clients need no second query. */
        for (size_t i = e->first; i < e->first + e->n && q->qtype == NET_DNS_SRV; i++)
            if (t->rrs[i].type == NET_DNS_SRV && !earlier_target(t, e, i))
                put_addresses(r, t, t->rrs[i].target);
    } else {
        rcode = NET_DNS_NXDOMAIN;
    }
    if (r->counts[0] == 0) /* NXDOMAIN or no data: the SOA says how long to cache that */
        put_soa(r, 1, domain, serial);
    return rcode;
}

enum net_dns_action net_dns_answer(const struct net_dns_table *t, const uint8_t *query, size_t len,
                                   bool tcp, bool forwarding, struct buf *out)
{
    struct net_dns_question q;
    struct reply r = {.b = out, .q = &q};
    int rc = net_dns_parse_query(query, len, &q);
    if (rc < 0)
        return NET_DNS_DROP;
    unsigned ra = forwarding ? FLAG_RA : 0;
    if (rc > 0) {
        begin_reply(&r, query, ra, (unsigned)rc);
        finish_reply(&r);
        return NET_DNS_REPLY;
    }
    const char *domain = t ? t->domain : NET_DNS_DOMAIN_DEFAULT;
    uint32_t serial = t ? t->serial : 1;
    bool zone = !q.odd_name && net__dns_in_zone(q.name, domain);
    /* Reverse names are ours only for the addresses we know; the rest go upstream. */
    const struct net_dns_entry *rev =
        !zone && !q.odd_name && t && net__dns_in_zone(q.name, "in-addr.arpa")
            ? net__dns_lookup(t, q.name)
            : NULL;
    if (!zone && !rev) {
        if (forwarding)
            return NET_DNS_FORWARD;
        begin_reply(&r, query, 0, NET_DNS_REFUSED);
        finish_reply(&r);
        return NET_DNS_REPLY;
    }
    if (q.qclass != CLASS_IN && q.qclass != NET_DNS_ANY) {
        begin_reply(&r, query, ra, NET_DNS_REFUSED);
        finish_reply(&r);
        return NET_DNS_REPLY;
    }
    begin_reply(&r, query, FLAG_AA | ra, 0);
    unsigned rcode;
    if (rev) {
        rcode = NET_DNS_NOERROR;
        for (size_t i = rev->first; i < rev->first + rev->n; i++)
            if (wanted(q.qtype, t->rrs[i].type))
                put_rr(&r, 0, rev->name, &t->rrs[i]);
    } else {
        rcode = answer_zone(&r, t, domain, serial);
    }
    out->data[3] = (char)((uint8_t)out->data[3] | rcode);
    if (q.edns)
        put_opt(&r);
    finish_reply(&r);
    size_t limit = tcp ? 65535 : !q.edns ? 512 : q.udp_size < EDNS_SIZE ? q.udp_size : EDNS_SIZE;
    if (out->len > limit) {
        /* Too big for this transport: header and question with TC, the client asks again
         * over TCP (RFC 2181 section 9). */
        begin_reply(&r, query, FLAG_AA | FLAG_TC | ra, rcode);
        if (q.edns)
            put_opt(&r);
        finish_reply(&r);
    }
    return NET_DNS_REPLY;
}

enum net_dns_action net_dns_servfail(const uint8_t *query, size_t len, struct buf *out)
{
    struct net_dns_question q;
    struct reply r = {.b = out, .q = &q};
    if (net_dns_parse_query(query, len, &q) < 0)
        return NET_DNS_DROP;
    begin_reply(&r, query, FLAG_RA, NET_DNS_SERVFAIL);
    finish_reply(&r);
    return NET_DNS_REPLY;
}
