/* `k8c net-test dns-serve` (hidden): the cluster DNS server alone, answering the records of
 * services given on the command line or in a file, until SIGTERM or SIGINT; for benchmarks
 * and tests that need no API server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "net/dns.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "k8c net-test dns-serve: %s (usage: net-test dns-serve --listen IP[:PORT] "
            "[--svc NS/NAME=IP]... [--svc-file F: lines \"NS NAME IP\"] [--upstream IP[:PORT]])\n",
            msg);
    return 2;
}

int net_dns_cli_main(int argc, char **argv)
{
    const char *listen = NULL, *file = NULL, *upstream = NULL;
    size_t n = 0, cap = 16;
    struct net_dns_service *svcs = xcalloc(cap, sizeof(*svcs));
    _cleanup_free_ char *text = NULL;
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = 2;
    char **owned = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n_owned = 0;
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) {
            rc = usage("flag needs a value");
            goto out;
        }
        const char *f = argv[i], *v = argv[++i];
        if (strcmp(f, "--listen") == 0) {
            listen = v;
        } else if (strcmp(f, "--svc-file") == 0) {
            file = v;
        } else if (strcmp(f, "--upstream") == 0) {
            upstream = v;
        } else if (strcmp(f, "--svc") == 0) {
            char *s = owned[n_owned++] = xstrdup(v);
            char *slash = strchr(s, '/'), *eq = strchr(s, '=');
            if (!slash || !eq || eq < slash) {
                rc = usage("bad --svc: want NS/NAME=IP");
                goto out;
            }
            *slash = *eq = '\0';
            if (n == cap)
                svcs = xrealloc(svcs, (cap *= 2) * sizeof(*svcs));
            svcs[n++] = (struct net_dns_service){.ns = s, .name = slash + 1, .cluster_ip = eq + 1};
        } else {
            rc = usage("unknown flag");
            goto out;
        }
    }
    if (!listen) {
        rc = usage("--listen is required");
        goto out;
    }
    rc = 1;
    if (file) {
        if (!(text = file_read_all(file, 256 << 20, NULL, &err)))
            goto fail;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *ws = NULL, *ns = strtok_r(line, " \t", &ws), *name = strtok_r(NULL, " \t", &ws),
                 *ip = strtok_r(NULL, " \t", &ws);
            if (!ns || !name || !ip)
                continue;
            if (n == cap)
                svcs = xrealloc(svcs, (cap *= 2) * sizeof(*svcs));
            svcs[n++] = (struct net_dns_service){.ns = ns, .name = name, .cluster_ip = ip};
        }
    }
    struct net_dns_table *t = net_dns_table_new(NULL, svcs, n, NULL, 0, &err);
    if (!t)
        goto fail;
    char ip[16];
    const char *colon = strchr(listen, ':');
    snprintf(ip, sizeof(ip), "%.*s", (int)(colon ? colon - listen : 15), listen);
    struct net_dns_server_config cfg = {.listen_ip = ip,
                                        .port = colon ? (unsigned)atoi(colon + 1) : 53,
                                        .upstreams = &upstream,
                                        .n_upstreams = upstream ? 1 : 0};
    struct net_dns_server *s = net_dns_server_start(&cfg, t, &err);
    if (!s)
        goto fail;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("serving %zu services on %s:%u\n", n, ip, net_dns_server_port(s));
    fflush(stdout);
    while (!stopping)
        pause();
    net_dns_server_stop(s);
    rc = 0;
    goto out;
fail:
    if (err) {
        _cleanup_free_ char *msg = k8c_err_text(err);
        fprintf(stderr, "k8c net-test dns-serve: %s\n", msg);
    }
out:
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(svcs);
    return rc;
}
