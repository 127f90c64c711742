/* The agent's pod network (host-gw, as flannel's host-gw backend or kube-router): a Node
 * informer tells this node its spec.podCIDR (-> bridge k8c0 with the CIDR's gateway) and the
 * other Nodes' podCIDRs and InternalIPs (-> routes "<their CIDR> via <their IP>"); each pod's
 * sandbox gets a veth on the bridge with an address from the persistent IPAM state under
 * <data-dir>/net, released when the pod goes. All the netlink work is src/net's. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/network.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/net.h"

static char *routes_path(const char *data_dir)
{
    return xasprintf("%s/net/routes.json", data_dir);
}

/* <data-dir>/net/ipam-10.42.1.0_24: one state per CIDR, so a node given another CIDR starts
 * afresh instead of failing on the old state. */
static char *ipam_path(const char *data_dir, const char *cidr)
{
    _cleanup_free_ char *name = xstrdup(cidr);
    for (char *c = name; *c; c++)
        if (*c == '/')
            *c = '_';
    return xasprintf("%s/net/ipam-%s", data_dir, name);
}

/* Whether a file name under <data-dir>/net is an IPAM state (not its lock). */
static bool is_ipam_state(const char *name)
{
    size_t len = strlen(name);
    return strncmp(name, "ipam-", 5) == 0 && !(len > 5 && strcmp(name + len - 5, ".lock") == 0);
}

static const char *internal_ip(const json_t *node)
{
    size_t i;
    json_t *ad;
    json_array_foreach (kjson_path(node, "status.addresses"), i, ad) {
        const char *t = kjson_path_str(ad, "type");
        if (t && strcmp(t, "InternalIP") == 0)
            return kjson_path_str(ad, "address");
    }
    return NULL;
}

static void save_routes(struct agent *a)
{
    _cleanup_free_ char *path = routes_path(a->data_dir);
    _cleanup_free_ char *text = kjson_dumps(a->net->routes);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (file_write_atomic(path, text, strlen(text), 0600, &err) < 0)
        LOG_WARN("network: cannot record routes: %s", err->msg);
}

/* Our own podCIDR appeared: the bridge, and from now on pods get addresses. (A CIDR that
 * changes under a running node is not followed: Kubernetes does not allow that either.) */
static void own_cidr(struct agent *a, const char *cidr)
{
    struct agent_net *n = a->net;
    if (n->pod_cidr)
        return;
    struct net_node_config cfg = {.pod_cidr = cidr};
    _cleanup_err_ struct k8c_err *err = NULL;
    if (net_node_setup(&cfg, &err) < 0) {
        LOG_ERROR("network: node %s: %s", a->node_name, err->msg);
        return;
    }
    n->pod_cidr = xstrdup(cidr);
    n->ipam_state = ipam_path(a->data_dir, cidr);
    LOG_INFO("network: node %s pod CIDR %s on bridge " NET_BRIDGE_DEFAULT, a->node_name, cidr);
}

/* Makes the routes to the other nodes' pod CIDRs match what the Nodes say. */
static void sync_nodes(struct agent *a)
{
    struct agent_net *n = a->net;
    _cleanup_json_ json_t *nodes = informer_list(n->nodes);
    _cleanup_json_ json_t *want = json_object();
    bool became_ready = false;
    size_t i;
    json_t *node;
    pthread_mutex_lock(&n->lock);
    json_array_foreach (nodes, i, node) {
        const char *name = kjson_path_str(node, "metadata.name");
        const char *cidr = kjson_path_str(node, "spec.podCIDR");
        if (!name || !cidr || !*cidr)
            continue;
        if (strcmp(name, a->node_name) == 0) {
            bool had = n->pod_cidr != NULL;
            own_cidr(a, cidr);
            became_ready = !had && n->pod_cidr;
            continue;
        }
        const char *ip = internal_ip(node);
        if (ip && strcmp(ip, a->node_ip) != 0)
            json_object_set_new(want, cidr, json_string(ip));
    }
    bool changed = false;
    const char *cidr;
    json_t *via, *tmp;
    json_object_foreach_safe (n->routes, tmp, cidr, via) {
        json_t *w = json_object_get(want, cidr);
        if (w && json_equal(w, via))
            continue;
        _cleanup_err_ struct k8c_err *err = NULL;
        if (net_node_route_del(cidr, json_string_value(via), &err) < 0)
            LOG_WARN("network: %s", err->msg);
        json_object_del(n->routes, cidr);
        changed = true;
    }
    json_object_foreach (want, cidr, via) {
        if (json_object_get(n->routes, cidr))
            continue;
        _cleanup_err_ struct k8c_err *err = NULL;
        if (net_node_route_add(cidr, json_string_value(via), &err) < 0) {
            LOG_WARN("network: %s", err->msg);
            continue;
        }
        LOG_INFO("network: route %s via %s", cidr, json_string_value(via));
        json_object_set(n->routes, cidr, via);
        changed = true;
    }
    if (changed)
        save_routes(a);
    pthread_mutex_unlock(&n->lock);
    if (became_ready) {
        agent__services_kick(a);
        /* pods that started before the CIDR was known get their address now */
        pthread_mutex_lock(&a->lock);
        for (struct agent_pod *p = a->pods; p; p = p->next)
            workqueue_add(a->queue, p->key);
        pthread_mutex_unlock(&a->lock);
    }
}

static void on_node(json_t *obj, void *opaque)
{
    (void)obj;
    sync_nodes(opaque);
}

static void on_node_update(json_t *old, json_t *obj, void *opaque)
{
    (void)old;
    sync_nodes(opaque);
}

char *agent__net_pod_cidr(struct agent *a)
{
    if (!a->net)
        return NULL;
    pthread_mutex_lock(&a->net->lock);
    char *c = a->net->pod_cidr ? xstrdup(a->net->pod_cidr) : NULL;
    pthread_mutex_unlock(&a->net->lock);
    return c;
}

int agent__net_start(struct agent *a, struct k8c_err **err)
{
    struct agent_net *n = xcalloc(1, sizeof(*n));
    pthread_mutex_init(&n->lock, NULL);
    pthread_mutex_init(&n->svc_lock, NULL);
    pthread_cond_init(&n->svc_cond, NULL);
    a->net = n;
    _cleanup_free_ char *dir = xasprintf("%s/net", a->data_dir);
    if (file_mkdir_p(dir, 0700, err) < 0)
        return -1;
    /* the routes an earlier agent installed: kept or removed by the first sync */
    _cleanup_free_ char *rp = routes_path(a->data_dir);
    _cleanup_free_ char *text = file_read_all(rp, 1 << 20, NULL, NULL);
    n->routes = text ? kjson_parse(text, strlen(text), NULL) : NULL;
    if (!json_is_object(n->routes)) {
        json_decref(n->routes);
        n->routes = json_object();
    }
    struct informer_options o = {.path = "/api/v1/nodes",
                                 .handlers = {on_node, on_node_update, on_node, a},
                                 .transform = informer_strip_managed_fields};
    n->nodes = informer_new(a->client, &o);
    if (informer_start(n->nodes, err) < 0)
        return -1;
    informer_wait_synced(n->nodes, 10000);
    /* The node IPAM controller patches a new Node within milliseconds; pods scheduled right
     * away should not start without an address. Without a controller this costs 1 s once. */
    for (int i = 0; i < 20 && !atomic_load(a->stop); i++) {
        _cleanup_free_ char *c = agent__net_pod_cidr(a);
        if (c)
            break;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return agent__services_start(a, err);
}

void agent__net_stop(struct agent *a)
{
    struct agent_net *n = a->net;
    if (!n)
        return;
    agent__services_stop(a);
    informer_free(n->nodes);
    json_decref(n->routes);
    free(n->pod_cidr);
    free(n->ipam_state);
    pthread_mutex_destroy(&n->lock);
    pthread_mutex_destroy(&n->svc_lock);
    pthread_cond_destroy(&n->svc_cond);
    free(n);
    a->net = NULL;
}

int agent__net_pod_attach(struct agent *a, struct agent_pod *p, const json_t *pod,
                          struct k8c_err **err)
{
    if (json_is_true(kjson_path(pod, "spec.hostNetwork"))) {
        free(p->ip);
        p->ip = xstrdup(a->node_ip);
        return 0;
    }
    if (!a->net)
        return 0;
    pthread_mutex_lock(&a->net->lock);
    _cleanup_free_ char *cidr = a->net->pod_cidr ? xstrdup(a->net->pod_cidr) : NULL;
    _cleanup_free_ char *state = a->net->ipam_state ? xstrdup(a->net->ipam_state) : NULL;
    pthread_mutex_unlock(&a->net->lock);
    if (!cidr)
        return 0;
    _cleanup_free_ char *netns = xasprintf("%s/ns/net", p->dir);
    struct net_pod_config cfg = {
        .netns_path = netns, .pod_id = p->uid, .pod_cidr = cidr, .ipam_state = state};
    uint32_t ip;
    if (net_pod_attach(&cfg, &ip, err) < 0)
        return -1;
    char text[16];
    free(p->ip);
    p->ip = xstrdup(net_ip_format(ip, text));
    return 0;
}

/* Calls fn(state path, opaque) for every IPAM state under <data-dir>/net (a node given
 * another CIDR has more than one); stops at the first fn < 0 and returns it, else 0. */
static int each_ipam_state(const char *data_dir, int (*fn)(const char *state, void *opaque),
                           void *opaque)
{
    _cleanup_free_ char *dir = xasprintf("%s/net", data_dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && d && (e = readdir(d))) {
        if (!is_ipam_state(e->d_name))
            continue;
        _cleanup_free_ char *state = xasprintf("%s/%s", dir, e->d_name);
        rc = fn(state, opaque);
    }
    if (d)
        closedir(d);
    return rc;
}

static int detach_in(const char *state, void *uid)
{
    struct net_pod_config cfg = {.pod_id = uid, .ipam_state = state};
    _cleanup_err_ struct k8c_err *err = NULL;
    if (net_pod_detach(&cfg, &err) < 0)
        LOG_WARN("network: %s", err->msg);
    return 0;
}

void agent__net_pod_detach(struct agent *a, const char *uid)
{
    each_ipam_state(a->data_dir, detach_in, (void *)uid);
}

struct cleanup_ctx {
    const char *data_dir;
    struct k8c_err **err;
};

/* Every pod holding an address in state: its veth goes and the address is released. */
static int detach_all_in(const char *state, void *opaque)
{
    struct cleanup_ctx *c = opaque;
    char **owners = net_ipam_owners(state, c->err);
    if (!owners)
        return -1;
    for (char **o = owners; *o; o++) {
        each_ipam_state(c->data_dir, detach_in, *o);
        free(*o);
    }
    free(owners);
    return 0;
}

int agent__net_cleanup(const char *data_dir, struct k8c_err **err)
{
    struct cleanup_ctx ctx = {data_dir, err};
    if (net_services_cleanup(err) < 0 || each_ipam_state(data_dir, detach_all_in, &ctx) < 0)
        return -1;
    _cleanup_free_ char *rp = routes_path(data_dir);
    _cleanup_free_ char *text = file_read_all(rp, 1 << 20, NULL, NULL);
    _cleanup_json_ json_t *routes = text ? kjson_parse(text, strlen(text), NULL) : NULL;
    const char *cidr;
    json_t *via;
    json_object_foreach (routes, cidr, via) {
        if (net_node_route_del(cidr, json_string_value(via) ?: "", err) < 0)
            return -1;
    }
    unlink(rp);
    return net_node_teardown(NULL, err);
}
