/* rtnetlink over libmnl: the links, addresses and routes of the pod network (bridge, veth
 * pairs, moves into pod namespaces by nsfs fd, host-gw routes). No `ip` is ever run. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "net/internal.h"

struct net_nl {
    struct mnl_socket *sock;
    unsigned portid;
    unsigned seq;
};

struct net_nl *net__nl_open(int netns_fd, struct k8c_err **err)
{
    _cleanup_close_ int orig = -1;
    if (netns_fd >= 0) {
        orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (orig < 0)
            return k8c_err_errno(err, "open own network namespace"), NULL;
        if (setns(netns_fd, CLONE_NEWNET) < 0)
            return k8c_err_errno(err, "enter network namespace"), NULL;
    }
    struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    int saved = errno;
    if (netns_fd >= 0 && setns(orig, CLONE_NEWNET) < 0)
        /* Staying in the pod's namespace would misdirect every later call of this thread. */
        k8c_panic(__FILE__, __LINE__, "cannot return to the original network namespace");
    if (!sock) {
        errno = saved;
        return k8c_err_errno(err, "open netlink socket"), NULL;
    }
    if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        k8c_err_errno(err, "bind netlink socket");
        mnl_socket_close(sock);
        return NULL;
    }
    struct net_nl *nl = xcalloc(1, sizeof(*nl));
    nl->sock = sock;
    nl->portid = mnl_socket_get_portid(sock);
    nl->seq = (unsigned)time(NULL);
    return nl;
}

void net__nl_close(struct net_nl *nl)
{
    if (!nl)
        return;
    mnl_socket_close(nl->sock);
    free(nl);
}

void net__nl_closep(struct net_nl **nl)
{
    net__nl_close(*nl);
    *nl = NULL;
}

/* Sends one request and reads replies until its ACK (or error). cb (may be NULL) sees data
 * replies. Returns 0, or -1 with errno set (the kernel's error for NLMSG_ERROR). */
static int transact(struct net_nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
    nlh->nlmsg_seq = ++nl->seq;
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -1;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
        if (n < 0)
            return -1;
        int rc = mnl_cb_run(buf, (size_t)n, nl->seq, nl->portid, cb, data);
        if (rc < 0)
            return -1;
        if (rc == MNL_CB_STOP)
            return 0;
    }
}

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int index)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = index;
    return nlh;
}

static int check_name(const char *name, struct k8c_err **err)
{
    if (!name || !*name || strlen(name) >= IFNAMSIZ)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid interface name \"%s\"",
                           name ? name : "");
    return 0;
}

static int index_cb(const struct nlmsghdr *nlh, void *data)
{
    const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    *(int *)data = ifm->ifi_index;
    return MNL_CB_OK;
}

int net__link_index(struct net_nl *nl, const char *name, struct k8c_err **err)
{
    if (check_name(name, err) < 0)
        return -1;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    int index = 0;
    if (transact(nl, nlh, index_cb, &index) < 0) {
        if (errno == ENODEV)
            return 0;
        return k8c_err_errno(err, "look up link %s", name);
    }
    return index;
}

/* The index of an existing link, or a NOT_FOUND error. */
static int need_index(struct net_nl *nl, const char *name, struct k8c_err **err)
{
    int index = net__link_index(nl, name, err);
    if (index == 0)
        return k8c_err_set(err, ENODEV, K8C_REASON_NOT_FOUND, "link %s", name);
    return index;
}

int net__link_bridge_add(struct net_nl *nl, const char *name, struct k8c_err **err)
{
    if (check_name(name, err) < 0)
        return -1;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    if (transact(nl, nlh, NULL, NULL) < 0 && errno != EEXIST)
        return k8c_err_errno(err, "create bridge %s", name);
    return 0;
}

/* Hairpin mode on a bridge port (kubelet's hairpin-veth): with br_netfilter, a pod's
 * connection to a Service that is DNAT'ed back to the pod itself is bridged back out of the
 * port it came in by, which a bridge refuses otherwise. */
static int set_hairpin(struct net_nl *nl, const char *name, int index, struct k8c_err **err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, 0, index);
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    ifm->ifi_family = AF_BRIDGE;
    struct nlattr *nest = mnl_attr_nest_start(nlh, IFLA_PROTINFO | NLA_F_NESTED);
    mnl_attr_put_u8(nlh, IFLA_BRPORT_MODE, 1);
    mnl_attr_nest_end(nlh, nest);
    if (transact(nl, nlh, NULL, NULL) < 0)
        return k8c_err_errno(err, "set hairpin mode on bridge port %s", name);
    return 0;
}

int net__link_veth_add(struct net_nl *nl, const char *name, const char *master, const char *peer,
                       int netns_fd, struct k8c_err **err)
{
    if (check_name(name, err) < 0 || check_name(peer, err) < 0)
        return -1;
    int master_index = need_index(nl, master, err);
    if (master_index < 0)
        return -1;
    /* one request instead of create, move, rename, up, enslave: the peer is made in the pod's
     * namespace under its final name (as `ip link add … up master B type veth peer name P
     * netns N up`), so the kernel never registers it in ours first */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_index);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *peer_attr = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    struct ifinfomsg *pifm = mnl_nlmsg_get_payload_tail(nlh);
    memset(pifm, 0, sizeof(*pifm));
    pifm->ifi_family = AF_UNSPEC; /* not up here: veth refuses that before both ends exist */
    nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifm));
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
    mnl_attr_nest_end(nlh, peer_attr);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    if (transact(nl, nlh, NULL, NULL) < 0)
        return k8c_err_errno(err, "create veth pair %s/%s", name, peer);
    int index = need_index(nl, name, err);
    if (index < 0)
        return -1;
    return set_hairpin(nl, name, index, err);
}

int net__link_set_up_index(struct net_nl *nl, int index, struct k8c_err **err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, index);
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    if (transact(nl, nlh, NULL, NULL) < 0)
        return k8c_err_errno(err, "set link %d up", index);
    return 0;
}

int net__link_set_up(struct net_nl *nl, const char *name, const char *master, struct k8c_err **err)
{
    int index = need_index(nl, name, err);
    if (index < 0)
        return -1;
    int master_index = 0;
    if (master && (master_index = need_index(nl, master, err)) < 0)
        return -1;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, index);
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    if (master)
        mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_index);
    if (transact(nl, nlh, NULL, NULL) < 0)
        return k8c_err_errno(err, "set link %s up", name);
    if (!master)
        return 0;
    return set_hairpin(nl, name, index, err);
}

int net__link_del(struct net_nl *nl, const char *name, struct k8c_err **err)
{
    int index = net__link_index(nl, name, err);
    if (index <= 0)
        return index;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, index);
    if (transact(nl, nlh, NULL, NULL) < 0 && errno != ENODEV)
        return k8c_err_errno(err, "delete link %s", name);
    return 0;
}

int net__addr_add(struct net_nl *nl, const char *name, uint32_t ip, unsigned prefix,
                  struct k8c_err **err)
{
    int index = need_index(nl, name, err);
    if (index < 0 || net__addr_add_index(nl, index, ip, prefix, err) < 0)
        return k8c_err_wrap(err, "link %s", name);
    return 0;
}

int net__addr_add_index(struct net_nl *nl, int index, uint32_t ip, unsigned prefix,
                        struct k8c_err **err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)index;
    uint32_t be = htonl(ip);
    mnl_attr_put_u32(nlh, IFA_LOCAL, be);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
    if (prefix < 31)
        mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(ip | (0xffffffffu >> prefix)));
    if (transact(nl, nlh, NULL, NULL) < 0 && errno != EEXIST)
        return k8c_err_errno(err, "add address");
    return 0;
}

static struct nlmsghdr *route_msg(char *buf, uint16_t type, uint16_t flags, uint32_t dst,
                                  unsigned prefix, uint32_t gw)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = (unsigned char)prefix;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_STATIC;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    if (prefix > 0)
        mnl_attr_put_u32(nlh, RTA_DST, htonl(dst));
    mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
    return nlh;
}

int net__route_replace(struct net_nl *nl, uint32_t dst, unsigned prefix, uint32_t gw,
                       struct k8c_err **err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh =
        route_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, dst, prefix, gw);
    if (transact(nl, nlh, NULL, NULL) < 0)
        return k8c_err_errno(err, "add route");
    return 0;
}

int net__route_del(struct net_nl *nl, uint32_t dst, unsigned prefix, uint32_t gw,
                   struct k8c_err **err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = route_msg(buf, RTM_DELROUTE, 0, dst, prefix, gw);
    struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
    rtm->rtm_protocol = 0;
    rtm->rtm_scope = RT_SCOPE_NOWHERE;
    if (transact(nl, nlh, NULL, NULL) < 0 && errno != ESRCH)
        return k8c_err_errno(err, "delete route");
    return 0;
}
