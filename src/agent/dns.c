/* Cluster DNS and NetworkPolicy in the agent: informers over Services, EndpointSlices, Pods,
 * Namespaces and NetworkPolicies of the whole cluster feed one thread that rebuilds the DNS
 * records (src/net/dns_table.c, swapped atomically into the node's DNS server) and the policy
 * rules (src/net/policy.c) whenever something changed; and each pod's resolv.conf as the
 * kubelet writes it for its dnsPolicy and dnsConfig. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/internal.h"
#include "agent/network.h"
#include "api/defaults.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/dns.h"
#include "net/net.h"
#include "net/policy.h"

enum { INF_SVCS, INF_SLICES, INF_PODS, INF_NSS, INF_POLS, N_INF };

static const char *const paths[N_INF] = {
    "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/pods",
    "/api/v1/namespaces", "/apis/networking.k8s.io/v1/networkpolicies"};

struct agent_net_view {
    struct informer *inf[N_INF];
    atomic_bool dirty;
    pthread_t thread;
    bool started;
    struct net_dns_server *server;
    char *pod_cidr;      /* the Node's spec.podCIDR once known */
    char *policy_script; /* the rules last applied, to skip no-op syncs */
};

/* ---- DNS records from API objects ---- */

struct svc_build {
    struct net_dns_service svc;
    struct net_dns_port *ports;
    struct net_dns_endpoint *eps;
};

/* The ready endpoints of the EndpointSlices of ns/name (IPv4 slices). */
static void slice_endpoints(const json_t *slices, const char *ns, const char *name,
                            struct svc_build *b)
{
    size_t i, j, k, cap = 0, n = 0;
    json_t *s, *e, *addr;
    json_array_foreach (slices, i, s) {
        const char *sns = kjson_path_str(s, "metadata.namespace");
        const char *owner = json_string_value(
            json_object_get(kjson_path(s, "metadata.labels"), "kubernetes.io/service-name"));
        const char *family = json_string_value(json_object_get(s, "addressType"));
        if (!sns || !owner || strcmp(sns, ns) || strcmp(owner, name) ||
            (family && strcmp(family, "IPv4")))
            continue;
        json_array_foreach (json_object_get(s, "endpoints"), j, e) {
            /* "nil should be interpreted as ready" (discovery/v1) */
            if (json_is_false(kjson_path(e, "conditions.ready")))
                continue;
            json_array_foreach (json_object_get(e, "addresses"), k, addr) {
                if (!json_is_string(addr))
                    continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 8;
                    b->eps = xrealloc(b->eps, cap * sizeof(*b->eps));
                }
                b->eps[n].ip = json_string_value(addr);
                b->eps[n++].hostname = json_string_value(json_object_get(e, "hostname"));
            }
        }
    }
    b->svc.endpoints = b->eps;
    b->svc.n_endpoints = n;
}

static bool valid_ip(const char *s)
{
    uint32_t ip;
    return s && net_ip_parse(s, &ip, NULL) == 0;
}

struct net_dns_table *agent__dns_table(const json_t *svcs, const json_t *slices, const json_t *pods,
                                       const char *domain, struct k8c_err **err)
{
    size_t n = json_array_size(svcs), i, j, n_svcs = 0, n_pods = 0;
    struct svc_build *b = xcalloc(n + 1, sizeof(*b));
    struct net_dns_service *sv = xcalloc(n + 1, sizeof(*sv));
    struct net_dns_pod *pv = xcalloc(json_array_size(pods) + 1, sizeof(*pv));
    json_t *s, *p;
    json_array_foreach (svcs, i, s) {
        struct svc_build *x = &b[n_svcs];
        x->svc.ns = kjson_path_str(s, "metadata.namespace");
        x->svc.name = kjson_path_str(s, "metadata.name");
        const char *type = kjson_path_str(s, "spec.type");
        const char *cip = kjson_path_str(s, "spec.clusterIP");
        if (!x->svc.ns || !x->svc.name)
            continue;
        if (type && strcmp(type, "ExternalName") == 0) {
            x->svc.external_name = kjson_path_str(s, "spec.externalName");
            if (!x->svc.external_name)
                continue;
        } else if (cip && *cip && strcmp(cip, "None") != 0) {
            if (!valid_ip(cip)) /* an IPv6 cluster IP: no A record to give */
                continue;
            x->svc.cluster_ip = cip;
        } else {
            slice_endpoints(slices, x->svc.ns, x->svc.name, x);
        }
        const json_t *ports = kjson_path(s, "spec.ports");
        x->ports = xcalloc(json_array_size(ports) + 1, sizeof(*x->ports));
        json_array_foreach (ports, j, p) {
            json_t *num = json_object_get(p, "port");
            if (!json_is_integer(num))
                continue;
            x->ports[x->svc.n_ports++] =
                (struct net_dns_port){json_string_value(json_object_get(p, "name")),
                                      json_string_value(json_object_get(p, "protocol")),
                                      (unsigned)json_integer_value(num)};
        }
        x->svc.ports = x->ports;
        /* endpoints with addresses that are not IPv4 are left out rather than failing all */
        size_t keep = 0;
        for (size_t e = 0; e < x->svc.n_endpoints; e++)
            if (valid_ip(x->eps[e].ip))
                x->eps[keep++] = x->eps[e];
        x->svc.n_endpoints = keep;
        sv[n_svcs++] = x->svc;
    }
    json_array_foreach (pods, i, p) {
        const char *ip = kjson_path_str(p, "status.podIP");
        const char *ns = kjson_path_str(p, "metadata.namespace");
        if (ns && valid_ip(ip) && !json_is_true(kjson_path(p, "spec.hostNetwork")))
            pv[n_pods++] = (struct net_dns_pod){ns, ip};
    }
    struct net_dns_table *t = net_dns_table_new(domain, sv, n_svcs, pv, n_pods, err);
    for (i = 0; i < n; i++)
        free(b[i].ports), free(b[i].eps);
    free(b), free(sv), free(pv);
    return t;
}

/* ---- resolv.conf ---- */

struct resolv {
    char *servers[3];
    size_t n_servers;
    char *search[32];
    size_t n_search;
    char *options[16]; /* "name" or "name:value" */
    size_t n_options;
};

static void resolv_clear(struct resolv *r)
{
    for (size_t i = 0; i < r->n_servers; i++)
        free(r->servers[i]);
    for (size_t i = 0; i < r->n_search; i++)
        free(r->search[i]);
    for (size_t i = 0; i < r->n_options; i++)
        free(r->options[i]);
    memset(r, 0, sizeof(*r));
}

static void add_server(struct resolv *r, const char *s)
{
    for (size_t i = 0; i < r->n_servers; i++)
        if (strcmp(r->servers[i], s) == 0)
            return;
    if (r->n_servers < 3)
        r->servers[r->n_servers++] = xstrdup(s);
}

static void add_search(struct resolv *r, const char *s)
{
    for (size_t i = 0; i < r->n_search; i++)
        if (strcmp(r->search[i], s) == 0)
            return;
    if (r->n_search < 32)
        r->search[r->n_search++] = xstrdup(s);
}

/* An option replaces one of the same name (the pod's dnsConfig wins over defaults). */
static void add_option(struct resolv *r, const char *name, const char *value)
{
    char *o = value ? xasprintf("%s:%s", name, value) : xstrdup(name);
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->n_options; i++) {
        if (strncmp(r->options[i], name, nl) == 0 &&
            (r->options[i][nl] == '\0' || r->options[i][nl] == ':')) {
            free(r->options[i]);
            r->options[i] = o;
            return;
        }
    }
    if (r->n_options < 16)
        r->options[r->n_options++] = o;
    else
        free(o);
}

/* The node's resolv.conf (--resolv-conf; "" for none) into r. */
static void read_host(const char *path, struct resolv *r, bool servers)
{
    if (!path || !*path)
        return;
    _cleanup_err_ struct k8c_err *err = NULL; /* unreadable: the pod gets no host entries */
    _cleanup_free_ char *text = file_read_all(path, 1 << 20, NULL, &err);
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *words[40];
        size_t n = 0;
        char *ws = NULL;
        for (char *w = strtok_r(line, " \t\r", &ws); w && n < 40; w = strtok_r(NULL, " \t\r", &ws))
            words[n++] = w;
        if (n < 2 || words[0][0] == '#' || words[0][0] == ';')
            continue;
        if (servers && strcmp(words[0], "nameserver") == 0)
            add_server(r, words[1]);
        else if (strcmp(words[0], "search") == 0 || strcmp(words[0], "domain") == 0)
            for (size_t i = 1; i < n; i++)
                add_search(r, words[i]);
        else if (servers && strcmp(words[0], "options") == 0)
            for (size_t i = 1; i < n; i++) {
                char *colon = strchr(words[i], ':');
                if (colon)
                    *colon = '\0';
                add_option(r, words[i], colon ? colon + 1 : NULL);
            }
    }
}

char *agent__dns_resolv_text(const struct agent *a, const json_t *pod)
{
    struct resolv r = {0};
    const char *policy = kjson_path_str(pod, "spec.dnsPolicy");
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    bool host_net = json_is_true(kjson_path(pod, "spec.hostNetwork"));
    if (!policy)
        policy = "ClusterFirst";
    bool cluster = a->cluster_dns && *a->cluster_dns &&
                   ((strcmp(policy, "ClusterFirst") == 0 && !host_net) ||
                    strcmp(policy, "ClusterFirstWithHostNet") == 0);
    if (cluster) {
        const char *d = a->cluster_domain;
        _cleanup_free_ char *s1 = xasprintf("%s.svc.%s", ns ? ns : "default", d);
        _cleanup_free_ char *s2 = xasprintf("svc.%s", d);
        add_server(&r, a->cluster_dns);
        add_search(&r, s1);
        add_search(&r, s2);
        add_search(&r, d);
        read_host(a->resolv_conf, &r, false); /* the node's search domains follow */
        add_option(&r, "ndots", "5");
    } else if (strcmp(policy, "None") != 0) {
        read_host(a->resolv_conf, &r, true); /* Default, or ClusterFirst on the host network */
    }
    const json_t *cfg = kjson_path(pod, "spec.dnsConfig");
    size_t i;
    json_t *x;
    json_array_foreach (json_object_get(cfg, "nameservers"), i, x)
        if (json_is_string(x))
            add_server(&r, json_string_value(x));
    json_array_foreach (json_object_get(cfg, "searches"), i, x)
        if (json_is_string(x))
            add_search(&r, json_string_value(x));
    json_array_foreach (json_object_get(cfg, "options"), i, x) {
        const char *name = json_string_value(json_object_get(x, "name"));
        if (name)
            add_option(&r, name, json_string_value(json_object_get(x, "value")));
    }
    _cleanup_buf_ struct buf b = BUF_INIT;
    for (i = 0; i < r.n_search; i++)
        buf_appendf(&b, "%s%s%s", i ? " " : "search ", r.search[i],
                    i + 1 == r.n_search ? "\n" : "");
    for (i = 0; i < r.n_servers; i++)
        buf_appendf(&b, "nameserver %s\n", r.servers[i]);
    for (i = 0; i < r.n_options; i++)
        buf_appendf(&b, "%s%s%s", i ? " " : "options ", r.options[i],
                    i + 1 == r.n_options ? "\n" : "");
    resolv_clear(&r);
    return buf_steal(&b);
}

int agent__dns_resolv_conf(const struct agent *a, const json_t *pod, const char *pod_dir,
                           struct k8c_err **err)
{
    _cleanup_free_ char *text = agent__dns_resolv_text(a, pod);
    _cleanup_free_ char *path = xasprintf("%s/resolv.conf", pod_dir);
    return file_write_replace(path, text, strlen(text), 0644, err); /* regenerable: no fsync */
}

/* ---- the thread ---- */

static void mark(struct agent *a)
{
    atomic_store(&a->net_view->dirty, true);
}

static void on_add(json_t *obj, void *opaque)
{
    (void)obj;
    mark(opaque);
}

static void on_update(json_t *old, json_t *obj, void *opaque)
{
    (void)old, (void)obj;
    mark(opaque);
}

/* The Node's pod CIDR, once the IPAM controller gave it one (network.c watches the Node). */
static void learn_pod_cidr(struct agent *a)
{
    a->net_view->pod_cidr = agent__net_pod_cidr(a);
}

/* Starts the DNS server once its address is known: --dns-listen, else the gateway of the
 * node's pod CIDR (the bridge's address, reachable from every pod), port 53. */
static void start_server(struct agent *a)
{
    struct agent_net_view *v = a->net_view;
    char ip[16] = "";
    unsigned port = 53;
    if (a->dns_listen) {
        const char *colon = strchr(a->dns_listen, ':');
        size_t n = colon ? (size_t)(colon - a->dns_listen) : strlen(a->dns_listen);
        snprintf(ip, sizeof(ip), "%.*s", (int)(n < 15 ? n : 15), a->dns_listen);
        if (colon)
            port = (unsigned)atoi(colon + 1);
    } else if (v->pod_cidr) {
        struct net_cidr c;
        if (net_cidr_parse(v->pod_cidr, &c, NULL) == 0)
            net_ip_format(net_cidr_gateway(&c), ip);
    }
    if (!ip[0])
        return;
    char *ups[3] = {0};
    int n_ups = a->resolv_conf && *a->resolv_conf
                    ? net_dns_read_resolv_conf(a->resolv_conf, ups, 3, NULL)
                    : 0;
    struct net_dns_server_config cfg = {.listen_ip = ip,
                                        .port = port,
                                        .upstreams = (const char *const *)ups,
                                        .n_upstreams = n_ups > 0 ? (size_t)n_ups : 0};
    _cleanup_err_ struct k8c_err *err = NULL;
    v->server = net_dns_server_start(&cfg, NULL, &err);
    for (int i = 0; i < n_ups; i++)
        free(ups[i]);
    if (!v->server) {
        LOG_DEBUG("cluster DNS not started yet: %s", err->msg); /* the bridge may come later */
        return;
    }
    mark(a);
    LOG_INFO("cluster DNS serving addr=%s:%u cluster-dns=%s upstreams=%d", ip, port, a->cluster_dns,
             n_ups > 0 ? n_ups : 0);
    if (a->cluster_dns && *a->cluster_dns && (strcmp(ip, a->cluster_dns) || port != 53) &&
        net_dns_redirect_sync(a->cluster_dns, ip, net_dns_server_port(v->server), &err) < 0)
        LOG_WARN("cluster DNS redirect: %s", err->msg);
}

static void rebuild(struct agent *a)
{
    struct agent_net_view *v = a->net_view;
    _cleanup_json_ json_t *svcs = informer_list(v->inf[INF_SVCS]);
    _cleanup_json_ json_t *slices = informer_list(v->inf[INF_SLICES]);
    _cleanup_json_ json_t *pods = informer_list(v->inf[INF_PODS]);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (v->server) {
        struct net_dns_table *t = agent__dns_table(svcs, slices, pods, a->cluster_domain, &err);
        if (t)
            net_dns_server_set_table(v->server, t);
        else
            LOG_WARN("cluster DNS records: %s", err->msg); /* the old records stay */
    }
    if (!v->pod_cidr)
        return; /* no pod network: no pod traffic to filter */
    _cleanup_json_ json_t *nss = informer_list(v->inf[INF_NSS]);
    _cleanup_json_ json_t *pols = informer_list(v->inf[INF_POLS]);
    const struct net_pol_input *in = NULL;
    struct agent_netpol *h = agent__netpol_input(pods, nss, pols, a->node_name, &in);
    _cleanup_free_ char *script = net_policy_render(in, &err);
    if (!script) {
        LOG_WARN("network policies: %s", err->msg);
    } else if (!v->policy_script || strcmp(script, v->policy_script) != 0) {
        if (net_policy_sync(in, &err) < 0) {
            LOG_WARN("network policies: %s", err->msg);
        } else {
            free(v->policy_script);
            v->policy_script = steal_ptr(&script);
        }
    }
    agent__netpol_free(h);
}

static void *view_main(void *opaque)
{
    struct agent *a = opaque;
    struct agent_net_view *v = a->net_view;
    uint64_t next_try = 0;
    while (!atomic_load(a->stop)) {
        uint64_t now = (uint64_t)time(NULL);
        if ((!v->server || !v->pod_cidr) && now >= next_try) {
            if (!v->pod_cidr)
                learn_pod_cidr(a);
            if (!v->server)
                start_server(a);
            if (v->pod_cidr)
                mark(a);
            next_try = now + 2;
        }
        if (atomic_exchange(&v->dirty, false))
            rebuild(a);
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* The view's copy of every pod of the cluster keeps only what the DNS table and the policy
 * rules read (netpol.c's pod_of, agent__dns_table): a whole pod is ~10x its JSON in jansson,
 * and the agent's own informer holds this node's pods in full already. */
static void pod_slim(json_t *pod)
{
    static const char *const keep_meta[] = {"name", "namespace", "uid", "labels",
                                            "resourceVersion"};
    static const char *const keep_spec[] = {"nodeName", "hostNetwork"};
    static const char *const keep_status[] = {"phase", "podIP", "podIPs"};
    const struct {
        const char *field;
        const char *const *keep;
        size_t n;
    } parts[] = {{"metadata", keep_meta, ARRAY_SIZE(keep_meta)},
                 {"spec", keep_spec, ARRAY_SIZE(keep_spec)},
                 {"status", keep_status, ARRAY_SIZE(keep_status)}};
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        json_t *old = json_object_get(pod, parts[i].field);
        json_t *slim = json_object();
        for (size_t k = 0; k < parts[i].n; k++) {
            json_t *v = json_object_get(old, parts[i].keep[k]);
            if (v)
                json_object_set(slim, parts[i].keep[k], v);
        }
        if (i == 1) { /* containers' ports: named ports of policies */
            json_t *ctrs = json_array(), *c;
            size_t j;
            json_array_foreach (json_object_get(old, "containers"), j, c) {
                json_t *ports = json_object_get(c, "ports");
                json_array_append_new(ctrs,
                                      ports ? json_pack("{s:O}", "ports", ports) : json_object());
            }
            json_object_set_new(slim, "containers", ctrs);
        }
        json_object_set_new(pod, parts[i].field, slim);
    }
}

int agent__dns_start(struct agent *a, struct k8c_err **err)
{
    struct agent_net_view *v = xcalloc(1, sizeof(*v));
    a->net_view = v;
    for (int i = 0; i < N_INF; i++) {
        struct informer_options opts = {.path = paths[i],
                                        .handlers = {on_add, on_update, on_add, a},
                                        .transform = i == INF_PODS ? pod_slim
                                                                   : informer_strip_managed_fields};
        v->inf[i] = informer_new(a->client, &opts);
        if (informer_start(v->inf[i], err) < 0)
            return -1;
    }
    atomic_store(&v->dirty, true);
    if (pthread_create(&v->thread, NULL, view_main, a) != 0)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "cannot start the cluster DNS thread");
    v->started = true;
    return 0;
}

void agent__dns_stop(struct agent *a)
{
    struct agent_net_view *v = a->net_view;
    if (!v)
        return;
    if (v->started)
        pthread_join(v->thread, NULL);
    net_dns_server_stop(v->server);
    for (int i = 0; i < N_INF; i++)
        informer_free(v->inf[i]);
    free(v->pod_cidr);
    free(v->policy_script);
    free(v);
    a->net_view = NULL;
}
