/* Module-internal interface of src/net: the rtnetlink calls (netlink.c) that pod.c uses. */
#ifndef K8C_NET_INTERNAL_H
#define K8C_NET_INTERNAL_H

#include <stdint.h>

#include "base/err.h"

/* A route netlink socket, bound in the network namespace it was opened in. */
struct net_nl;

/* Opens a socket in the calling thread's network namespace (netns_fd < 0) or in the namespace
 * of netns_fd (entered and left again on the calling thread). Returns NULL and sets *err. */
struct net_nl *net__nl_open(int netns_fd, struct k8c_err **err);
void net__nl_close(struct net_nl *nl);
void net__nl_closep(struct net_nl **nl);
#define _cleanup_nl_ __attribute__((cleanup(net__nl_closep)))

/* The index of link name: > 0, 0 when there is no such link, -1 on error. */
int net__link_index(struct net_nl *nl, const char *name, struct k8c_err **err);
/* Creates a bridge; an existing one of that name is fine. */
int net__link_bridge_add(struct net_nl *nl, const char *name, struct k8c_err **err);
/* Creates a veth pair in one request: name, up, in nl's namespace as a port of bridge
 * master (hairpin mode on), peer inside the namespace of netns_fd, down (veth refuses to set an
 * end up before both exist). EEXIST (errno, with *err)
 * when name exists already. */
int net__link_veth_add(struct net_nl *nl, const char *name, const char *master, const char *peer,
                       int netns_fd, struct k8c_err **err);
/* Sets a link up; master (NULL: none) makes it a port of that bridge. */
int net__link_set_up(struct net_nl *nl, const char *name, const char *master, struct k8c_err **err);
/* Deletes a link; a missing one is fine (returns 0). */
int net__link_del(struct net_nl *nl, const char *name, struct k8c_err **err);
/* Sets the link with this index up (loopback is index 1 in every namespace). */
int net__link_set_up_index(struct net_nl *nl, int index, struct k8c_err **err);
/* Adds ip/prefix (host order) to link name; an existing identical address is fine. */
int net__addr_add(struct net_nl *nl, const char *name, uint32_t ip, unsigned prefix,
                  struct k8c_err **err);
/* The same for the link with this index. */
int net__addr_add_index(struct net_nl *nl, int index, uint32_t ip, unsigned prefix,
                        struct k8c_err **err);
/* Adds or replaces the route dst/prefix via gw (host order); dst 0/0 is the default route. */
int net__route_replace(struct net_nl *nl, uint32_t dst, unsigned prefix, uint32_t gw,
                       struct k8c_err **err);
/* Deletes that route; a missing one is fine. */
int net__route_del(struct net_nl *nl, uint32_t dst, unsigned prefix, uint32_t gw,
                   struct k8c_err **err);

/* nft.c: runs an nftables script in one transaction; what names it in errors. 0 or -1. */
int net__nft_run(const char *script, const char *what, struct k8c_err **err);

#endif
