/* NetworkPolicy wiring: the informers' Pods, Namespaces and NetworkPolicies (JSON) turned into
 * the plain data src/net/policy.c enforces. Every array built here lives in one holder freed
 * at once; strings are borrowed from the JSON, which the caller keeps alive meanwhile. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/internal.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/policy.h"

struct agent_netpol {
    void **blocks; /* every allocation made for the input */
    size_t n, cap;
    struct net_pol_input in;
};

static void *alloc(struct agent_netpol *h, size_t count, size_t size)
{
    void *p = xcalloc(count ? count : 1, size);
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 32;
        h->blocks = xrealloc(h->blocks, h->cap * sizeof(void *));
    }
    h->blocks[h->n++] = p;
    return p;
}

static char *keep(struct agent_netpol *h, char *s_take)
{
    char *p = alloc(h, strlen(s_take) + 1, 1);
    strcpy(p, s_take);
    free(s_take);
    return p;
}

void agent__netpol_free(struct agent_netpol *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->blocks[i]);
    free(h->blocks);
    free(h);
}

static const struct net_label *labels_of(struct agent_netpol *h, const json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    struct net_label *l = alloc(h, *n, sizeof(*l));
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach ((json_t *)obj, k, v) {
        if (!json_is_string(v))
            continue;
        l[i].key = k;
        l[i++].value = json_string_value(v);
    }
    *n = i;
    return l;
}

/* A LabelSelector; NULL for an unknown operator (the API validates them: this is defensive
 * and makes the policy select nothing rather than everything). */
static const struct net_selector *selector_of(struct agent_netpol *h, const json_t *sel)
{
    struct net_selector *s = alloc(h, 1, sizeof(*s));
    s->match_labels = labels_of(h, json_object_get(sel, "matchLabels"), &s->n_match_labels);
    const json_t *exprs = json_object_get(sel, "matchExpressions");
    struct net_sel_req *r = alloc(h, json_array_size(exprs), sizeof(*r));
    size_t i;
    json_t *e;
    json_array_foreach (exprs, i, e) {
        const char *op = json_string_value(json_object_get(e, "operator"));
        static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
        size_t k = 0;
        while (op && k < 4 && strcmp(op, ops[k]) != 0)
            k++;
        if (!op || k == 4)
            return NULL;
        r[i].key = json_string_value(json_object_get(e, "key"));
        r[i].op = (enum net_sel_op)k;
        const json_t *vals = json_object_get(e, "values");
        const char **v = alloc(h, json_array_size(vals), sizeof(char *));
        size_t j;
        json_t *x;
        json_array_foreach (vals, j, x)
            v[r[i].n_values++] = json_string_value(x) ? json_string_value(x) : "";
        r[i].values = v;
        if (!r[i].key)
            return NULL;
    }
    s->exprs = r;
    s->n_exprs = json_array_size(exprs);
    return s;
}

static enum net_proto proto_of(const json_t *obj)
{
    const char *p = json_string_value(json_object_get(obj, "protocol"));
    return p && strcmp(p, "UDP") == 0    ? NET_PROTO_UDP
           : p && strcmp(p, "SCTP") == 0 ? NET_PROTO_SCTP
                                         : NET_PROTO_TCP;
}

/* An IPv4 CIDR with its host bits cleared (Kubernetes accepts "10.0.0.1/8"); NULL for IPv6
 * or garbage. */
static const char *cidr_of(struct agent_netpol *h, const char *text)
{
    char addr[32];
    const char *slash = text ? strchr(text, '/') : NULL;
    struct in_addr a;
    if (!slash || (size_t)(slash - text) >= sizeof(addr))
        return NULL;
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    char *end;
    unsigned long prefix = strtoul(slash + 1, &end, 10);
    if (*end || slash[1] == '\0' || prefix > 32 || inet_pton(AF_INET, addr, &a) != 1)
        return NULL;
    uint32_t ip = ntohl(a.s_addr) & (prefix ? ~0u << (32 - prefix) : 0);
    return keep(h, xasprintf("%u.%u.%u.%u/%lu", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
                             ip & 255, prefix));
}

/* One ingress/egress rule; false when it must be left out entirely (every peer it names is
 * one we cannot express, such as an IPv6 block: dropping just those peers would widen it). */
static bool rule_of(struct agent_netpol *h, const json_t *rule, const char *peers_key,
                    struct net_pol_rule *out)
{
    const json_t *peers = json_object_get(rule, peers_key);
    const json_t *ports = json_object_get(rule, "ports");
    struct net_pol_peer *pv = alloc(h, json_array_size(peers), sizeof(*pv));
    struct net_pol_port *qv = alloc(h, json_array_size(ports), sizeof(*qv));
    size_t i;
    json_t *x;
    json_array_foreach (peers, i, x) {
        struct net_pol_peer *p = &pv[out->n_peers];
        memset(p, 0, sizeof(*p)); /* a peer left out before may have filled the slot */
        const json_t *ib = json_object_get(x, "ipBlock");
        if (json_is_object(ib)) {
            p->cidr = cidr_of(h, json_string_value(json_object_get(ib, "cidr")));
            if (!p->cidr)
                continue;
            const json_t *ex = json_object_get(ib, "except");
            const char **e = alloc(h, json_array_size(ex), sizeof(char *));
            size_t j;
            json_t *y;
            json_array_foreach (ex, j, y) {
                const char *c = cidr_of(h, json_string_value(y));
                if (c)
                    e[p->n_except++] = c;
            }
            p->except = e;
        } else {
            const json_t *ps = json_object_get(x, "podSelector");
            const json_t *ns = json_object_get(x, "namespaceSelector");
            if (json_is_object(ps) && !(p->pod_selector = selector_of(h, ps)))
                continue;
            if (json_is_object(ns) && !(p->ns_selector = selector_of(h, ns)))
                continue;
            if (!p->pod_selector && !p->ns_selector)
                continue;
        }
        out->n_peers++;
    }
    if (json_array_size(peers) > 0 && out->n_peers == 0)
        return false;
    json_array_foreach (ports, i, x) {
        struct net_pol_port *q = &qv[out->n_ports++];
        q->protocol = proto_of(x);
        const json_t *port = json_object_get(x, "port");
        if (json_is_integer(port))
            q->port = (unsigned)json_integer_value(port);
        else if (json_is_string(port))
            q->name = json_string_value(port);
        const json_t *end = json_object_get(x, "endPort");
        if (json_is_integer(end))
            q->end_port = (unsigned)json_integer_value(end);
    }
    out->peers = pv;
    out->ports = qv;
    return true;
}

static void policy_of(struct agent_netpol *h, const json_t *obj, struct net_policy *p)
{
    p->ns = kjson_path_str(obj, "metadata.namespace");
    p->name = kjson_path_str(obj, "metadata.name");
    const json_t *spec = json_object_get(obj, "spec");
    const struct net_selector *sel = selector_of(h, json_object_get(spec, "podSelector"));
    if (sel) {
        p->pod_selector = *sel;
    } else {
        /* an unknown operator: a selector no pod can satisfy, so the policy isolates none */
        static const char *const none[] = {NULL};
        static const struct net_sel_req never = {"", NET_SEL_IN, none, 0};
        p->pod_selector = (struct net_selector){NULL, 0, &never, 1};
    }
    const json_t *types = json_object_get(spec, "policyTypes");
    size_t i;
    json_t *t;
    json_array_foreach (types, i, t) {
        const char *s = json_string_value(t);
        p->ingress |= s && strcmp(s, "Ingress") == 0;
        p->egress |= s && strcmp(s, "Egress") == 0;
    }
    if (json_array_size(types) == 0) { /* the API defaults it; be safe with older objects */
        p->ingress = true;
        p->egress = json_array_size(json_object_get(spec, "egress")) > 0;
    }
    static const char *const dirs[] = {"ingress", "egress"}, *const keys[] = {"from", "to"};
    for (int d = 0; d < 2; d++) {
        const json_t *rules = json_object_get(spec, dirs[d]);
        struct net_pol_rule *rv = alloc(h, json_array_size(rules), sizeof(*rv));
        size_t n = 0;
        json_t *r;
        json_array_foreach (rules, i, r)
            if (rule_of(h, r, keys[d], &rv[n]))
                n++;
            else
                memset(&rv[n], 0, sizeof(rv[n]));
        if (d == 0)
            p->ingress_rules = rv, p->n_ingress = n;
        else
            p->egress_rules = rv, p->n_egress = n;
    }
}

static bool pod_running(const json_t *pod)
{
    const char *phase = kjson_path_str(pod, "status.phase");
    return !json_is_true(kjson_path(pod, "spec.hostNetwork")) &&
           kjson_path_str(pod, "status.podIP") &&
           !(phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0));
}

static void pod_of(struct agent_netpol *h, const json_t *obj, const char *node,
                   struct net_pol_pod *p)
{
    p->ns = kjson_path_str(obj, "metadata.namespace");
    p->name = kjson_path_str(obj, "metadata.name");
    p->ip = kjson_path_str(obj, "status.podIP");
    const char *n = kjson_path_str(obj, "spec.nodeName");
    p->local = n && node && strcmp(n, node) == 0;
    p->labels = labels_of(h, kjson_path(obj, "metadata.labels"), &p->n_labels);
    size_t total = 0, i, j;
    json_t *c, *port;
    const json_t *ctrs = kjson_path(obj, "spec.containers");
    json_array_foreach (ctrs, i, c)
        total += json_array_size(json_object_get(c, "ports"));
    struct net_named_port *v = alloc(h, total, sizeof(*v));
    json_array_foreach (ctrs, i, c) {
        json_array_foreach (json_object_get(c, "ports"), j, port) {
            const char *name = json_string_value(json_object_get(port, "name"));
            json_t *num = json_object_get(port, "containerPort");
            if (!name || !json_is_integer(num))
                continue;
            v[p->n_ports++] =
                (struct net_named_port){name, proto_of(port), (unsigned)json_integer_value(num)};
        }
    }
    p->ports = v;
}

struct agent_netpol *agent__netpol_input(const json_t *pods, const json_t *namespaces,
                                         const json_t *policies, const char *node,
                                         const struct net_pol_input **in)
{
    struct agent_netpol *h = xcalloc(1, sizeof(*h));
    struct net_pol_pod *pv = alloc(h, json_array_size(pods), sizeof(*pv));
    struct net_pol_ns *nv = alloc(h, json_array_size(namespaces), sizeof(*nv));
    struct net_policy *qv = alloc(h, json_array_size(policies), sizeof(*qv));
    size_t i;
    json_t *x;
    json_array_foreach (pods, i, x)
        if (pod_running(x) && kjson_path_str(x, "metadata.namespace"))
            pod_of(h, x, node, &pv[h->in.n_pods++]);
    json_array_foreach (namespaces, i, x) {
        struct net_pol_ns *ns = &nv[h->in.n_namespaces];
        ns->name = kjson_path_str(x, "metadata.name");
        if (!ns->name)
            continue;
        /* The label every namespace carries in Kubernetes (1.21+), in case it is missing. */
        json_t *labels = json_deep_copy(kjson_path(x, "metadata.labels"));
        if (!labels)
            labels = json_object();
        if (!json_object_get(labels, "kubernetes.io/metadata.name"))
            json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(ns->name));
        const struct net_label *l = labels_of(h, labels, &ns->n_labels);
        /* the copied strings must outlive this loop: keep them in the holder */
        for (size_t k = 0; k < ns->n_labels; k++) {
            struct net_label *w = (struct net_label *)&l[k];
            w->key = keep(h, xstrdup(w->key));
            w->value = keep(h, xstrdup(w->value));
        }
        json_decref(labels);
        ns->labels = l;
        h->in.n_namespaces++;
    }
    json_array_foreach (policies, i, x)
        if (kjson_path_str(x, "metadata.namespace"))
            policy_of(h, x, &qv[h->in.n_policies++]);
    h->in.pods = pv;
    h->in.namespaces = nv;
    h->in.policies = qv;
    *in = &h->in;
    return h;
}

/* ---- `k8c netpol-test` (hidden): the same conversion and rules without an API server ---- */

static int netpol_usage(const char *msg)
{
    fprintf(stderr,
            "k8c netpol-test: %s (usage: netpol-test render|sync|cleanup [--node N] "
            "[--objects FILE: a JSON List of Pods, Namespaces and NetworkPolicies])\n",
            msg);
    return 2;
}

int agent_netpol_test_main(int argc, char **argv)
{
    if (argc < 2)
        return netpol_usage("missing subcommand");
    const char *sub = argv[1], *node = NULL, *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--node") == 0)
            node = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--objects") == 0)
            file = argv[++i];
        else
            return netpol_usage("unknown or incomplete flag");
    }
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = 1;
    if (strcmp(sub, "cleanup") == 0) {
        rc = net_policy_cleanup(&err) < 0 ? 1 : 0;
    } else if (strcmp(sub, "render") == 0 || strcmp(sub, "sync") == 0) {
        if (!node || !file)
            return netpol_usage("render and sync need --node and --objects");
        _cleanup_free_ char *text = file_read_all(file, 64 << 20, NULL, &err);
        _cleanup_json_ json_t *list = text ? kjson_parse(text, strlen(text), &err) : NULL;
        if (!list)
            goto out;
        _cleanup_json_ json_t *pods = json_array(), *nss = json_array(), *pols = json_array();
        size_t i;
        json_t *o;
        json_array_foreach (json_object_get(list, "items"), i, o) {
            const char *kind = json_string_value(json_object_get(o, "kind"));
            json_t *to = !kind                                ? NULL
                         : strcmp(kind, "Pod") == 0           ? pods
                         : strcmp(kind, "Namespace") == 0     ? nss
                         : strcmp(kind, "NetworkPolicy") == 0 ? pols
                                                              : NULL;
            if (to)
                json_array_append(to, o);
        }
        const struct net_pol_input *in = NULL;
        struct agent_netpol *h = agent__netpol_input(pods, nss, pols, node, &in);
        if (sub[0] == 'r') {
            _cleanup_free_ char *s = net_policy_render(in, &err);
            if (s)
                fputs(s, stdout), rc = 0;
        } else {
            rc = net_policy_sync(in, &err) < 0 ? 1 : 0;
        }
        agent__netpol_free(h);
    } else {
        return netpol_usage("unknown subcommand");
    }
out:
    if (rc && err) {
        _cleanup_free_ char *t = k8c_err_text(err);
        fprintf(stderr, "k8c netpol-test: %s\n", t);
    }
    return rc;
}
