/* The node side of the pod network: the node bridge with the pod CIDR's gateway address,
 * host-gw routes to other nodes' pod CIDRs, and attaching/detaching a pod's network
 * namespace with a veth pair (eth0 inside, a port of the bridge outside). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "net/internal.h"
#include "net/net.h"

#define POD_IFNAME "eth0"
/* loopback's index in every network namespace (the kernel's LOOPBACK_IFINDEX) */
#define LOOPBACK_IFINDEX 1

char *net_pod_host_ifname(uint32_t ip, char *buf)
{
    /* Named by the pod's address: unique on the node for as long as the address is held
     * (a hash of the UID could collide and make one pod's attach delete another's link). */
    snprintf(buf, 16, "k8c%08x", ip);
    return buf;
}

static const char *bridge_of(const char *bridge)
{
    return bridge ? bridge : NET_BRIDGE_DEFAULT;
}

static int enable_forwarding(struct k8c_err **err)
{
    /* /proc/sys/net is per network namespace: of the opener's (this thread's) namespace. */
    _cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1", 1) != 1)
        return k8c_err_errno(err, "enable IPv4 forwarding");
    return 0;
}

int net_node_setup(const struct net_node_config *cfg, struct k8c_err **err)
{
    struct net_cidr cidr;
    if (net_cidr_parse(cfg->pod_cidr, &cidr, err) < 0)
        return k8c_err_wrap(err, "node pod CIDR");
    if (cidr.prefix > 30)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "node pod CIDR %s: too small",
                           cfg->pod_cidr);
    const char *bridge = bridge_of(cfg->bridge);
    _cleanup_nl_ struct net_nl *nl = net__nl_open(-1, err);
    if (!nl || net__link_bridge_add(nl, bridge, err) < 0 ||
        net__addr_add(nl, bridge, net_cidr_gateway(&cidr), cidr.prefix, err) < 0 ||
        net__link_set_up(nl, bridge, NULL, err) < 0 || enable_forwarding(err) < 0)
        return k8c_err_wrap(err, "set up node bridge %s", bridge);
    return 0;
}

int net_node_teardown(const char *bridge, struct k8c_err **err)
{
    _cleanup_nl_ struct net_nl *nl = net__nl_open(-1, err);
    if (!nl || net__link_del(nl, bridge_of(bridge), err) < 0)
        return k8c_err_wrap(err, "delete node bridge %s", bridge_of(bridge));
    return 0;
}

static int node_route(bool add, const char *cidr_text, const char *node_ip, struct k8c_err **err)
{
    struct net_cidr cidr;
    uint32_t gw;
    if (net_cidr_parse(cidr_text, &cidr, err) < 0 || net_ip_parse(node_ip, &gw, err) < 0)
        return -1;
    _cleanup_nl_ struct net_nl *nl = net__nl_open(-1, err);
    if (!nl)
        return -1;
    int rc = add ? net__route_replace(nl, cidr.addr, cidr.prefix, gw, err)
                 : net__route_del(nl, cidr.addr, cidr.prefix, gw, err);
    if (rc < 0)
        return k8c_err_wrap(err, "route %s via %s", cidr_text, node_ip);
    return 0;
}

int net_node_route_add(const char *cidr, const char *node_ip, struct k8c_err **err)
{
    return node_route(true, cidr, node_ip, err);
}

int net_node_route_del(const char *cidr, const char *node_ip, struct k8c_err **err)
{
    return node_route(false, cidr, node_ip, err);
}

/* Configures eth0 inside the pod (address, up, default route via the bridge) and lo. */
static int configure_pod_side(int netns_fd, uint32_t ip, const struct net_cidr *cidr,
                              struct k8c_err **err)
{
    _cleanup_nl_ struct net_nl *pod = net__nl_open(netns_fd, err);
    int index = pod ? net__link_index(pod, POD_IFNAME, err) : -1;
    if (index == 0)
        k8c_err_set(err, ENODEV, K8C_REASON_NOT_FOUND, "link %s", POD_IFNAME);
    if (index <= 0 || net__addr_add_index(pod, index, ip, cidr->prefix, err) < 0 ||
        net__link_set_up_index(pod, index, err) < 0 ||
        net__link_set_up_index(pod, LOOPBACK_IFINDEX, err) < 0 ||
        net__route_replace(pod, 0, 0, net_cidr_gateway(cidr), err) < 0)
        return k8c_err_wrap(err, "configure pod interface");
    return 0;
}

static int check_pod_config(const struct net_pod_config *cfg, struct net_cidr *cidr,
                            struct k8c_err **err)
{
    if (!cfg->pod_id || !*cfg->pod_id)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "pod network: no pod id");
    if (!cfg->ipam_state || !*cfg->ipam_state)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "pod network: no IPAM state file");
    return net_cidr_parse(cfg->pod_cidr, cidr, err);
}

/* Both ends already there: re-apply the configuration (an agent restarted mid-attach). */
static int attach_existing(struct net_nl *nl, int netns_fd, const char *host, uint32_t ip,
                           const struct net_pod_config *cfg, const struct net_cidr *cidr,
                           struct k8c_err **err)
{
    if (net__link_set_up(nl, host, bridge_of(cfg->bridge), err) < 0)
        return -1;
    return configure_pod_side(netns_fd, ip, cidr, err);
}

static int pod_has_eth0(int netns_fd, struct k8c_err **err)
{
    _cleanup_nl_ struct net_nl *pod = net__nl_open(netns_fd, err);
    if (!pod)
        return -1;
    return net__link_index(pod, POD_IFNAME, err);
}

int net_pod_attach(const struct net_pod_config *cfg, uint32_t *ip_out, struct k8c_err **err)
{
    struct net_cidr cidr;
    if (check_pod_config(cfg, &cidr, err) < 0)
        return k8c_err_wrap(err, "attach pod");
    _cleanup_close_ int netns_fd = open(cfg->netns_path, O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0)
        return k8c_err_set(err, errno, errno == ENOENT ? K8C_REASON_NOT_FOUND : K8C_REASON_INTERNAL,
                           "attach pod %s: network namespace %s", cfg->pod_id, cfg->netns_path);
    uint32_t ip;
    int held = net_ipam_lookup(cfg->ipam_state, cfg->pod_id, &ip, err);
    if (held < 0 || net_ipam_allocate(cfg->ipam_state, cfg->pod_cidr, cfg->pod_id, &ip, err) < 0)
        return k8c_err_wrap(err, "attach pod %s", cfg->pod_id);

    char host[16];
    net_pod_host_ifname(ip, host);
    _cleanup_nl_ struct net_nl *nl = net__nl_open(-1, err);
    if (!nl)
        goto fail;
    for (int attempt = 0;; attempt++) {
        if (net__link_veth_add(nl, host, bridge_of(cfg->bridge), POD_IFNAME, netns_fd, err) == 0)
            break;
        if (!err || !*err || (*err)->errnum != EEXIST || attempt > 0)
            goto fail;
        /* the host end exists: an agent restarted mid-attach, or a leftover */
        k8c_err_free(*err);
        *err = NULL;
        int inside = pod_has_eth0(netns_fd, err);
        if (inside < 0)
            goto fail;
        if (inside > 0) {
            if (attach_existing(nl, netns_fd, host, ip, cfg, &cidr, err) < 0)
                goto fail;
            *ip_out = ip;
            return 0;
        }
        /* a host end without its pod end: left over from an interrupted attach */
        if (net__link_del(nl, host, err) < 0)
            goto fail;
    }
    if (configure_pod_side(netns_fd, ip, &cidr, err) < 0) {
        net__link_del(nl, host, NULL);
        goto fail;
    }
    *ip_out = ip;
    return 0;
fail:
    if (held == 0)
        net_ipam_release(cfg->ipam_state, cfg->pod_id, NULL);
    return k8c_err_wrap(err, "attach pod %s", cfg->pod_id);
}

int net_pod_detach(const struct net_pod_config *cfg, struct k8c_err **err)
{
    if (!cfg->pod_id || !*cfg->pod_id || !cfg->ipam_state)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "detach pod: no pod id or IPAM state");
    uint32_t ip;
    int held = net_ipam_lookup(cfg->ipam_state, cfg->pod_id, &ip, err);
    if (held < 0)
        return k8c_err_wrap(err, "detach pod %s", cfg->pod_id);
    if (held == 0)
        return 0; /* never attached, or already detached: the link goes before the address */
    char host[16];
    net_pod_host_ifname(ip, host);
    _cleanup_nl_ struct net_nl *nl = net__nl_open(-1, err);
    if (!nl || net__link_del(nl, host, err) < 0 ||
        net_ipam_release(cfg->ipam_state, cfg->pod_id, err) < 0)
        return k8c_err_wrap(err, "detach pod %s", cfg->pod_id);
    return 0;
}
