/* `k8c net-test …`: a hidden driver of the pod-network library for the lab tests (the agent
 * calls the library directly). Usage errors exit 2, failures exit 1, one line each. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "net/net.h"

static int usage(const char *msg)
{
    fprintf(stderr,
            "k8c net-test: %s (usage: net-test node-setup|attach|detach|route-add|route-del "
            "[--pod-cidr C] [--bridge B] [--netns PATH] [--pod ID] [--state FILE] "
            "[--cidr C --via IP])\n",
            msg);
    return 2;
}

static int fail(struct k8c_err *err)
{
    _cleanup_free_ char *text = k8c_err_text(err);
    fprintf(stderr, "k8c net-test: %s\n", text);
    k8c_err_free(err);
    return 1;
}

int net_cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing subcommand");
    const char *sub = argv[1];
    const char *pod_cidr = NULL, *bridge = NULL, *netns = NULL, *pod = NULL, *state = NULL,
               *cidr = NULL, *via = NULL;
    static const struct option opts[] = {
        {"pod-cidr", required_argument, NULL, 'c'}, {"bridge", required_argument, NULL, 'b'},
        {"netns", required_argument, NULL, 'n'},    {"pod", required_argument, NULL, 'p'},
        {"state", required_argument, NULL, 's'},    {"cidr", required_argument, NULL, 'C'},
        {"via", required_argument, NULL, 'v'},      {NULL, 0, NULL, 0},
    };
    optind = 2;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': pod_cidr = optarg; break;
        case 'b': bridge = optarg; break;
        case 'n': netns = optarg; break;
        case 'p': pod = optarg; break;
        case 's': state = optarg; break;
        case 'C': cidr = optarg; break;
        case 'v': via = optarg; break;
        default: return usage("unknown or incomplete flag");
        }
    }
    if (optind != argc)
        return usage("unexpected argument");
    struct k8c_err *err = NULL;
    if (strcmp(sub, "node-setup") == 0) {
        if (!pod_cidr)
            return usage("node-setup needs --pod-cidr");
        struct net_node_config cfg = {.bridge = bridge, .pod_cidr = pod_cidr};
        return net_node_setup(&cfg, &err) < 0 ? fail(err) : 0;
    }
    if (strcmp(sub, "route-add") == 0 || strcmp(sub, "route-del") == 0) {
        if (!cidr || !via)
            return usage("route-add/route-del need --cidr and --via");
        int rc = sub[6] == 'a' ? net_node_route_add(cidr, via, &err)
                               : net_node_route_del(cidr, via, &err);
        return rc < 0 ? fail(err) : 0;
    }
    struct net_pod_config cfg = {.netns_path = netns,
                                 .pod_id = pod,
                                 .bridge = bridge,
                                 .pod_cidr = pod_cidr,
                                 .ipam_state = state};
    if (strcmp(sub, "attach") == 0) {
        if (!netns || !pod || !pod_cidr || !state)
            return usage("attach needs --netns, --pod, --pod-cidr and --state");
        uint32_t ip;
        if (net_pod_attach(&cfg, &ip, &err) < 0)
            return fail(err);
        char text[16];
        printf("%s\n", net_ip_format(ip, text));
        return 0;
    }
    if (strcmp(sub, "detach") == 0) {
        if (!pod || !state)
            return usage("detach needs --pod and --state");
        return net_pod_detach(&cfg, &err) < 0 ? fail(err) : 0;
    }
    return usage("unknown subcommand");
}
