/* NetworkPolicy validation (networking.k8s.io/v1), after Kubernetes'
 * ValidateNetworkPolicySpec, in its wording: selectors, policyTypes, ports (protocol, numeric
 * or IANA-named port, endPort), peers (exactly one of the selectors or an ipBlock) and
 * ipBlocks (a CIDR, excepts strictly inside it). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "api/selector.h"
#include "base/mem.h"

static void check_selector(struct api__verr *v, const json_t *sel, const char *path)
{
    if (sel == NULL || json_is_null(sel))
        return;
    _cleanup_err_ struct k8c_err *err = NULL;
    struct api_label_selector *s = api_label_selector_from_json(sel, &err);
    if (s == NULL)
        api__verr_invalid(v, path, sel, err ? err->msg : "invalid label selector");
    api_label_selector_free(s);
}

/* An IPv4 or IPv6 CIDR, host bits allowed (as Kubernetes' ParseCIDRSloppy); the network
 * into net (16 bytes), its family and prefix. */
static bool parse_cidr(const char *text, int *family, unsigned char *net, unsigned *prefix)
{
    char addr[64];
    const char *slash = text ? strchr(text, '/') : NULL;
    if (!slash || (size_t)(slash - text) >= sizeof(addr) || !slash[1])
        return false;
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    char *end;
    unsigned long p = strtoul(slash + 1, &end, 10);
    memset(net, 0, 16);
    *family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    unsigned max = *family == AF_INET6 ? 128 : 32;
    if (*end || !isdigit((unsigned char)slash[1]) || p > max || inet_pton(*family, addr, net) != 1)
        return false;
    *prefix = (unsigned)p;
    for (unsigned bit = *prefix; bit < max; bit++)
        net[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return true;
}

/* Whether the network (fam, b, pb) lies strictly inside (fam, a, pa). */
static bool strict_subset(const unsigned char *a, unsigned pa, const unsigned char *b, unsigned pb)
{
    if (pb <= pa)
        return false;
    for (unsigned bit = 0; bit < pa; bit++)
        if ((a[bit / 8] ^ b[bit / 8]) & (0x80u >> (bit % 8)))
            return false;
    return true;
}

static void check_ipblock(struct api__verr *v, const json_t *ib, const char *path)
{
    _cleanup_free_ char *cp = xasprintf("%s.cidr", path);
    const char *cidr = json_string_value(json_object_get(ib, "cidr"));
    int fam = 0, efam = 0;
    unsigned char net[16], enet[16];
    unsigned prefix = 0, eprefix = 0;
    if (!cidr || !*cidr) {
        api__verr_required(v, cp, "");
        return;
    }
    if (!parse_cidr(cidr, &fam, net, &prefix)) {
        api__verr_invalid_str(v, cp, cidr,
                              "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(ib, "except"), i, e) {
        _cleanup_free_ char *ep = xasprintf("%s.except[%zu]", path, i);
        const char *text = json_string_value(e);
        if (!parse_cidr(text, &efam, enet, &eprefix))
            api__verr_invalid(v, ep, e,
                              "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
        else if (efam != fam || !strict_subset(net, prefix, enet, eprefix))
            api__verr_invalid(v, ep, e, "must be a strict subset of `cidr`");
    }
}

/* An IANA service name, as a named port must be. */
static bool iana_name(const char *s)
{
    size_t n = strlen(s);
    bool letter = false;
    if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (islower((unsigned char)s[i]))
            letter = true;
        else if (!isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    }
    return letter;
}

static void check_port(struct api__verr *v, const json_t *p, const char *path)
{
    static const char *const protocols[] = {"TCP", "UDP", "SCTP", NULL};
    api__check_enum(v, p, "protocol", path, protocols, false);
    json_t *port = json_object_get(p, "port");
    json_t *end = json_object_get(p, "endPort");
    _cleanup_free_ char *pp = xasprintf("%s.port", path);
    _cleanup_free_ char *ep = xasprintf("%s.endPort", path);
    if (json_is_integer(port)) {
        json_int_t n = json_integer_value(port);
        if (n < 1 || n > 65535)
            api__verr_invalid_int(v, pp, n, "must be between 1 and 65535, inclusive");
    } else if (json_is_string(port) && !iana_name(json_string_value(port))) {
        api__verr_invalid(v, pp, port,
                          "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if (end == NULL || json_is_null(end))
        return;
    if (port == NULL || json_is_null(port))
        api__verr_required(v, pp, "must be specified when endPort is specified");
    else if (json_is_string(port))
        api__verr_forbidden(v, ep, "may not be specified when `port` is non-numeric");
    else if (json_is_integer(end) && json_integer_value(end) < json_integer_value(port))
        api__verr_invalid(v, ep, end, "must be greater than or equal to `port`");
}

static void check_peer(struct api__verr *v, const json_t *peer, const char *path)
{
    int n = 0;
    static const char *const sels[] = {"podSelector", "namespaceSelector"};
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_object_get(peer, sels[i]);
        if (s && !json_is_null(s)) {
            n++;
            _cleanup_free_ char *sp = xasprintf("%s.%s", path, sels[i]);
            check_selector(v, s, sp);
        }
    }
    json_t *ib = json_object_get(peer, "ipBlock");
    bool has_ib = ib && !json_is_null(ib);
    if (has_ib) {
        n++;
        _cleanup_free_ char *ip = xasprintf("%s.ipBlock", path);
        check_ipblock(v, ib, ip);
    }
    if (n == 0)
        api__verr_required(v, path, "must specify a peer");
    else if (n > 1 && has_ib)
        api__verr_forbidden(v, path, "may not specify both ipBlock and another peer");
}

void api__validate_network_policy(struct api__verr *v, const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    check_selector(v, json_object_get(spec, "podSelector"), "spec.podSelector");
    static const char *const dirs[] = {"ingress", "egress"}, *const peers[] = {"from", "to"};
    for (size_t d = 0; d < 2; d++) {
        size_t i, j;
        json_t *r, *x;
        json_array_foreach (json_object_get(spec, dirs[d]), i, r) {
            json_array_foreach (json_object_get(r, "ports"), j, x) {
                _cleanup_free_ char *path = xasprintf("spec.%s[%zu].ports[%zu]", dirs[d], i, j);
                check_port(v, x, path);
            }
            json_array_foreach (json_object_get(r, peers[d]), j, x) {
                _cleanup_free_ char *path =
                    xasprintf("spec.%s[%zu].%s[%zu]", dirs[d], i, peers[d], j);
                check_peer(v, x, path);
            }
        }
    }
    static const char *const types[] = {"Ingress", "Egress", NULL};
    json_t *pt = json_object_get(spec, "policyTypes");
    size_t i;
    json_t *t;
    json_array_foreach (pt, i, t) {
        const char *s = json_string_value(t);
        if (!s || (strcmp(s, "Ingress") != 0 && strcmp(s, "Egress") != 0)) {
            _cleanup_free_ char *path = xasprintf("spec.policyTypes[%zu]", i);
            api__verr_not_supported(v, path, t, types);
        }
    }
    if (json_array_size(pt) > 2)
        api__verr_invalid(v, "spec.policyTypes", pt, "may not specify more than two policyTypes");
}
