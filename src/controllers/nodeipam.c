/* The node IPAM controller (kube-controller-manager's --allocate-node-cidrs with the range
 * allocator): every Node without spec.podCIDR gets the first free /mask of the cluster CIDR
 * (podCIDR and podCIDRs), freed again when the Node goes; a full cluster CIDR is reported as
 * a "CIDRNotAvailable" Event on the Node. The set of used subnets lives in memory only and is
 * rebuilt from the Nodes' podCIDRs before the first allocation, as Kubernetes does. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"
#include "net/net.h"

struct nodeipam {
    pthread_mutex_t lock;
    struct net_cidr cluster;
    unsigned mask;
    uint32_t n_subnets;
    uint8_t *used;   /* one byte per subnet */
    json_t *by_node; /* node name -> subnet index */
    bool primed;     /* existing Nodes' podCIDRs marked */
};

static void nodeipam_free(void *opaque)
{
    struct nodeipam *s = opaque;
    pthread_mutex_destroy(&s->lock);
    free(s->used);
    json_decref(s->by_node);
    free(s);
}

/* The subnet index of cidr text in the cluster CIDR, or -1 when it is not one of ours. */
static int64_t subnet_index(const struct nodeipam *s, const char *text)
{
    struct net_cidr c;
    _cleanup_err_ struct k8c_err *err = NULL;
    if (!text || net_cidr_parse(text, &c, &err) < 0 || c.prefix != s->mask)
        return -1;
    uint32_t host_bits = 32 - s->cluster.prefix;
    uint32_t netmask = host_bits >= 32 ? 0 : ~0u << host_bits;
    if ((c.addr & netmask) != s->cluster.addr)
        return -1;
    return (c.addr - s->cluster.addr) >> (32 - s->mask);
}

static void subnet_text(const struct nodeipam *s, uint32_t idx, char out[24])
{
    char ip[16];
    uint32_t addr = s->cluster.addr + (idx << (32 - s->mask));
    snprintf(out, 24, "%s/%u", net_ip_format(addr, ip), s->mask);
}

/* Marks the podCIDR node holds as used by it (caller holds the lock). */
static void mark_node(struct nodeipam *s, const json_t *node)
{
    const char *name = kjson_path_str(node, "metadata.name");
    int64_t idx = subnet_index(s, kjson_path_str(node, "spec.podCIDR"));
    if (!name || idx < 0)
        return;
    s->used[idx] = 1;
    json_object_set_new(s->by_node, name, json_integer(idx));
}

static void release_node(struct nodeipam *s, const char *name)
{
    json_t *idx = json_object_get(s->by_node, name);
    if (!idx)
        return;
    s->used[json_integer_value(idx)] = 0;
    json_object_del(s->by_node, name);
}

static void prime(struct ctl *ctl, struct nodeipam *s)
{
    if (s->primed)
        return;
    _cleanup_json_ json_t *nodes = ctl__list(ctl, CTL_NODES, NULL);
    size_t i;
    json_t *n;
    json_array_foreach (nodes, i, n)
        mark_node(s, n);
    s->primed = true;
}

static int nodeipam_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    struct nodeipam *s = cc->state;
    _cleanup_json_ json_t *node = ctl__get(ctl, CTL_NODES, key);
    pthread_mutex_lock(&s->lock);
    prime(ctl, s);
    if (!node || ctl__is_deleting(node)) {
        release_node(s, key);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    const char *have = kjson_path_str(node, "spec.podCIDR");
    if (have && *have) {
        mark_node(s, node);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    /* Already given one whose patch the cache has not shown yet: the same again, never a
     * second CIDR (the agent may already use the first). */
    json_t *mine = json_object_get(s->by_node, key);
    bool reused = mine != NULL;
    int64_t idx = mine ? json_integer_value(mine) : -1;
    for (uint32_t i = 0; i < s->n_subnets && idx < 0; i++)
        if (!s->used[i])
            idx = i;
    if (idx < 0) {
        pthread_mutex_unlock(&s->lock);
        /* Kubernetes' range allocator reports the same: the node keeps waiting for a CIDR
         * (retried when another Node frees one). */
        ctl__event(ctl, node, "Normal", "CIDRNotAvailable", "Node %s status is now: %s", key,
                   "CIDRNotAvailable");
        LOG_WARN("node ipam: no pod CIDR left for node %s", key);
        return 0;
    }
    s->used[idx] = 1;
    json_object_set_new(s->by_node, key, json_integer(idx));
    pthread_mutex_unlock(&s->lock);

    char cidr[24];
    subnet_text(s, (uint32_t)idx, cidr);
    _cleanup_json_ json_t *patch =
        json_pack("{s:{s:s,s:[s]}}", "spec", "podCIDR", cidr, "podCIDRs", cidr);
    _cleanup_free_ char *path = ctl__path(CTL_NODES, NULL, key, NULL);
    _cleanup_json_ json_t *out = client_patch(ctl->client, path, "merge", patch, err);
    if (!out) {
        pthread_mutex_lock(&s->lock);
        if (!reused)
            release_node(s, key);
        pthread_mutex_unlock(&s->lock);
        return (*err)->reason == K8C_REASON_NOT_FOUND ? 0 : -1;
    }
    LOG_INFO("node ipam: node %s gets pod CIDR %s", key, cidr);
    return 0;
}

static void on_node_delete(struct ctl *ctl, json_t *node, void *opaque)
{
    struct ctl_controller *cc = opaque;
    ctl__enqueue_obj(cc, node);
    /* A freed subnet may be what a waiting Node needs. */
    _cleanup_json_ json_t *nodes = ctl__list(ctl, CTL_NODES, NULL);
    size_t i;
    json_t *n;
    json_array_foreach (nodes, i, n)
        if (!kjson_path_str(n, "spec.podCIDR"))
            ctl__enqueue_obj(cc, n);
}

int controllers_node_cidr_check(const char *cluster_cidr, unsigned mask, struct k8c_err **err)
{
    struct net_cidr c;
    if (net_cidr_parse(cluster_cidr, &c, err) < 0)
        return k8c_err_wrap(err, "--cluster-cidr");
    if (mask < c.prefix || mask > 30 || mask - c.prefix > 16)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "--node-cidr-mask-size %u: must be between the cluster CIDR's prefix "
                           "(/%u) and 30, at most 16 more than it",
                           mask, c.prefix);
    return 0;
}

void ctl__nodeipam_setup(struct ctl *ctl)
{
    const char *cidr = ctl->opts.cluster_cidr ? ctl->opts.cluster_cidr : CTL_CLUSTER_CIDR_DEFAULT;
    unsigned mask = ctl->opts.node_cidr_mask_size ? ctl->opts.node_cidr_mask_size : 24;
    _cleanup_err_ struct k8c_err *err = NULL;
    if (controllers_node_cidr_check(cidr, mask, &err) < 0) {
        LOG_ERROR("node ipam disabled: %s", err->msg);
        return;
    }
    struct nodeipam *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    net_cidr_parse(cidr, &s->cluster, NULL);
    s->mask = mask;
    s->n_subnets = 1u << (mask - s->cluster.prefix);
    s->used = xcalloc(s->n_subnets, 1);
    s->by_node = json_object();
    struct ctl_controller *cc =
        ctl__controller_new(ctl, "nodeipam", nodeipam_sync, s, nodeipam_free);
    struct ctl_listener nodes = {ctl__on_enqueue, ctl__on_enqueue_update, on_node_delete, cc};
    ctl__listen(ctl, CTL_NODES, &nodes);
}
