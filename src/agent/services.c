/* The agent's service proxy (kube-proxy's nftables mode in spirit): informers on Services
 * and EndpointSlices; any change wakes one thread that rebuilds the whole service list (ready
 * endpoints only) and hands it to src/net, which replaces the node's "ip k8c" table in one
 * transaction — so a change reaches the rules within ~50 ms, an agent restart reconciles
 * rather than duplicates, and established connections keep their conntrack entries. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/network.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/net.h"

#define BATCH_MS 20
#define RESYNC_S 60
#define AFFINITY_DEFAULT_S 10800 /* Kubernetes' sessionAffinityConfig default: 3 h */

static const char *lower_proto(const char *p)
{
    if (!p || strcmp(p, "TCP") == 0)
        return "tcp";
    if (strcmp(p, "UDP") == 0)
        return "udp";
    return NULL; /* SCTP: not proxied */
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The ready endpoints of the service port (name, protocol) from the service's slices. */
static json_t *ready_endpoints(const json_t *slices, const char *port_name, const char *proto,
                               const char *node_name)
{
    json_t *eps = json_array();
    _cleanup_json_ json_t *seen = json_object();
    size_t i, j, k;
    json_t *sl, *sp, *ep;
    json_array_foreach (slices, i, sl) {
        const char *at = kjson_path_str(sl, "addressType");
        if (at && strcmp(at, "IPv4") != 0)
            continue;
        json_int_t port = 0;
        json_array_foreach (kjson_path(sl, "ports"), j, sp) {
            if (str_eq(kjson_path_str(sp, "name"), port_name) &&
                str_eq(kjson_path_str(sp, "protocol") ?: "TCP", proto))
                port = json_integer_value(json_object_get(sp, "port"));
        }
        if (port <= 0 || port > 65535)
            continue;
        json_array_foreach (kjson_path(sl, "endpoints"), j, ep) {
            /* ready unset means ready (EndpointConditions) */
            if (json_is_false(kjson_path(ep, "conditions.ready")))
                continue;
            json_t *addr;
            json_array_foreach (kjson_path(ep, "addresses"), k, addr) {
                const char *ip = json_string_value(addr);
                if (!ip)
                    continue;
                _cleanup_free_ char *key = xasprintf("%s:%lld", ip, (long long)port);
                if (json_object_get(seen, key))
                    continue;
                json_object_set_new(seen, key, json_true());
                const char *on = kjson_path_str(ep, "nodeName");
                json_array_append_new(eps,
                                      json_pack("{s:s,s:I,s:b}", "ip", ip, "port", port, "local",
                                                node_name && on && !strcmp(on, node_name)));
                break; /* one address per endpoint */
            }
        }
    }
    return eps;
}

json_t *agent__services_build(const json_t *services, const json_t *slices, const char *node_name)
{
    /* slices by "<namespace>/<service>" */
    _cleanup_json_ json_t *by_svc = json_object();
    size_t i, j;
    json_t *sl, *svc, *port;
    json_array_foreach (slices, i, sl) {
        const char *ns = kjson_path_str(sl, "metadata.namespace");
        json_t *labels = kjson_path(sl, "metadata.labels");
        const char *name = json_string_value(json_object_get(labels, "kubernetes.io/service-name"));
        if (!ns || !name)
            continue;
        _cleanup_free_ char *key = xasprintf("%s/%s", ns, name);
        json_t *list = json_object_get(by_svc, key);
        if (!list)
            json_object_set_new(by_svc, key, list = json_array());
        json_array_append(list, sl);
    }
    json_t *out = json_array();
    json_array_foreach (services, i, svc) {
        const char *ns = kjson_path_str(svc, "metadata.namespace");
        const char *name = kjson_path_str(svc, "metadata.name");
        const char *cip = kjson_path_str(svc, "spec.clusterIP");
        const char *type = kjson_path_str(svc, "spec.type");
        if (!ns || !name || !cip || !*cip || strcmp(cip, "None") == 0 ||
            (type && strcmp(type, "ExternalName") == 0))
            continue;
        bool node_ports = type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer"));
        const char *aff = kjson_path_str(svc, "spec.sessionAffinity");
        json_int_t aff_s = 0;
        if (aff && strcmp(aff, "ClientIP") == 0) {
            json_t *t = kjson_path(svc, "spec.sessionAffinityConfig.clientIP.timeoutSeconds");
            aff_s = json_is_integer(t) ? json_integer_value(t) : AFFINITY_DEFAULT_S;
        }
        const char *etp = kjson_path_str(svc, "spec.externalTrafficPolicy");
        bool local = etp && strcmp(etp, "Local") == 0;
        _cleanup_free_ char *key = xasprintf("%s/%s", ns, name);
        json_t *svc_slices = json_object_get(by_svc, key);
        json_array_foreach (kjson_path(svc, "spec.ports"), j, port) {
            const char *proto = kjson_path_str(port, "protocol");
            const char *lp = lower_proto(proto);
            json_int_t p = json_integer_value(json_object_get(port, "port"));
            if (!lp || p <= 0)
                continue;
            json_t *np = json_object_get(port, "nodePort");
            json_array_append_new(
                out, json_pack("{s:s,s:s,s:I,s:s,s:I,s:I,s:b,s:o}", "name", key, "cluster_ip", cip,
                               "port", p, "protocol", lp, "node_port",
                               node_ports && json_is_integer(np) ? json_integer_value(np) : 0,
                               "affinity", aff_s, "external_local", local, "endpoints",
                               ready_endpoints(svc_slices, kjson_path_str(port, "name"),
                                               proto ? proto : "TCP", node_name)));
        }
    }
    return out;
}

/* The built list as src/net's structs: *list and *eps (caller frees both) point into built,
 * which must outlive them. Returns the number of services. */
static size_t to_net(const json_t *built, struct net_service **list_out,
                     struct net_endpoint **eps_out)
{
    size_t count = json_array_size(built), total_eps = 0, i, k;
    json_t *s, *ep;
    json_array_foreach (built, i, s)
        total_eps += json_array_size(json_object_get(s, "endpoints"));
    struct net_service *list = xcalloc(count ? count : 1, sizeof(*list));
    struct net_endpoint *eps = xcalloc(total_eps ? total_eps : 1, sizeof(*eps));
    size_t e = 0;
    json_array_foreach (built, i, s) {
        struct net_service *ns = &list[i];
        ns->name = kjson_path_str(s, "name");
        ns->cluster_ip = kjson_path_str(s, "cluster_ip");
        ns->port = (unsigned)json_integer_value(json_object_get(s, "port"));
        ns->protocol = kjson_path_str(s, "protocol");
        ns->node_port = (unsigned)json_integer_value(json_object_get(s, "node_port"));
        ns->affinity_seconds = (unsigned)json_integer_value(json_object_get(s, "affinity"));
        ns->external_local = json_is_true(json_object_get(s, "external_local"));
        ns->endpoints = &eps[e];
        json_array_foreach (json_object_get(s, "endpoints"), k, ep) {
            eps[e].ip = kjson_path_str(ep, "ip");
            eps[e].port = (unsigned)json_integer_value(json_object_get(ep, "port"));
            eps[e].local = json_is_true(json_object_get(ep, "local"));
            e++;
            ns->n_endpoints++;
        }
    }
    *list_out = list;
    *eps_out = eps;
    return count;
}

char *agent__services_render(const json_t *services, const json_t *slices, const char *node_name,
                             const struct net_service_config *cfg, struct k8c_err **err)
{
    _cleanup_json_ json_t *built = agent__services_build(services, slices, node_name);
    struct net_service *list;
    struct net_endpoint *eps;
    size_t n = to_net(built, &list, &eps);
    char *script = net_services_render(cfg, list, n, err);
    free(list);
    free(eps);
    return script;
}

/* One sync: the whole table from the informers' caches. */
static int sync_once(struct agent *a, const char *pod_cidr, struct k8c_err **err)
{
    struct agent_net *n = a->net;
    _cleanup_json_ json_t *svcs = informer_list(n->services);
    _cleanup_json_ json_t *slices = informer_list(n->slices);
    _cleanup_json_ json_t *built = agent__services_build(svcs, slices, a->node_name);
    struct net_service *list;
    struct net_endpoint *eps;
    size_t count = to_net(built, &list, &eps);
    struct net_service_config cfg = {.pod_cidr = pod_cidr, .cluster_cidr = a->cluster_cidr};
    int rc = net_services_sync(&cfg, list, count, err);
    if (rc == 0)
        LOG_DEBUG("services synced services=%zu", count);
    free(list);
    free(eps);
    return rc;
}

static void *svc_main(void *opaque)
{
    struct agent *a = opaque;
    struct agent_net *n = a->net;
    for (;;) {
        pthread_mutex_lock(&n->svc_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += RESYNC_S;
        while (!n->svc_dirty && !n->svc_stop)
            if (pthread_cond_timedwait(&n->svc_cond, &n->svc_lock, &until) != 0)
                break;
        bool stop = n->svc_stop;
        n->svc_dirty = false;
        pthread_mutex_unlock(&n->svc_lock);
        if (stop)
            return NULL;
        /* a rollout changes many slices at once: one sync for the burst */
        struct timespec batch = {0, BATCH_MS * 1000000L};
        nanosleep(&batch, NULL);
        _cleanup_free_ char *cidr = agent__net_pod_cidr(a);
        if (!cidr)
            continue; /* no pod network on this node: no service rules either */
        _cleanup_err_ struct k8c_err *err = NULL;
        if (sync_once(a, cidr, &err) < 0) {
            LOG_WARN("services: %s (retrying in 1 s)", err->msg);
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
            agent__services_kick(a);
        }
    }
}

void agent__services_kick(struct agent *a)
{
    struct agent_net *n = a->net;
    if (!n)
        return;
    pthread_mutex_lock(&n->svc_lock);
    n->svc_dirty = true;
    pthread_cond_signal(&n->svc_cond);
    pthread_mutex_unlock(&n->svc_lock);
}

static void on_any(json_t *obj, void *opaque)
{
    (void)obj;
    agent__services_kick(opaque);
}

static void on_any_update(json_t *old, json_t *obj, void *opaque)
{
    (void)old, (void)obj;
    agent__services_kick(opaque);
}

int agent__services_start(struct agent *a, struct k8c_err **err)
{
    struct agent_net *n = a->net;
    struct informer_options so = {.path = "/api/v1/services",
                                  .handlers = {on_any, on_any_update, on_any, a},
                                  .transform = informer_strip_managed_fields};
    struct informer_options eo = {.path = "/apis/discovery.k8s.io/v1/endpointslices",
                                  .handlers = {on_any, on_any_update, on_any, a},
                                  .transform = informer_strip_managed_fields};
    n->services = informer_new(a->client, &so);
    n->slices = informer_new(a->client, &eo);
    if (informer_start(n->services, err) < 0 || informer_start(n->slices, err) < 0)
        return -1;
    if (pthread_create(&n->svc_thread, NULL, svc_main, a) != 0)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "start the service proxy thread");
    n->svc_started = true;
    agent__services_kick(a);
    return 0;
}

void agent__services_stop(struct agent *a)
{
    struct agent_net *n = a->net;
    if (n->svc_started) {
        pthread_mutex_lock(&n->svc_lock);
        n->svc_stop = true;
        pthread_cond_signal(&n->svc_cond);
        pthread_mutex_unlock(&n->svc_lock);
        pthread_join(n->svc_thread, NULL);
        n->svc_started = false;
    }
    informer_free(n->services);
    informer_free(n->slices);
    n->services = n->slices = NULL;
}
