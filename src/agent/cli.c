/* `k8c agent`: flags into a struct agent_config, the client from the kubeconfig or a server
 * URL and token, then agent_run (agent.c) in the foreground until SIGTERM/SIGINT. */
#include <malloc.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/network.h"
#include "api/defaults.h"
#include "net/dns.h"
#include "net/net.h"
#include "net/policy.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/client.h"

static atomic_bool stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, true);
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "k8c: agent: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'k8c agent --help')\n");
    return 2;
}

static void help(void)
{
    printf("usage: k8c agent (--kubeconfig FILE | --server URL --token-file F) [flags]\n\n"
           "The node agent: registers this machine as a Node and runs the pods bound to it.\n\n"
           "  --kubeconfig FILE     how to reach the API server\n"
           "  --server URL          the API server (with --token-file; TLS not verified\n"
           "                        unless --ca-file is given)\n"
           "  --token-file F        a bearer token\n"
           "  --ca-file F           the cluster CA (PEM)\n"
           "  --node-name N         the Node's name (default: the host name)\n"
           "  --node-ip IP          the InternalIP reported (default 127.0.0.1)\n"
           "  --data-dir DIR        pods, images and runtime state (default /var/lib/k8c)\n"
           "  --runtime R           builtin (default), runc, crun, or fake (pods go Running\n"
           "                        without processes: for scale tests)\n"
           "  --port N              the HTTPS logs/exec/attach/port-forward endpoint on\n"
           "                        --node-ip (default 10250; 0: any)\n"
           "  --workers N           pods worked on at once (default %d)\n"
           "  --max-pods N          pods this node takes (capacity.pods; default 110)\n"
           "  --cluster-cidr CIDR   the pods' whole network (default " AGENT_CLUSTER_CIDR_DEFAULT
           ");\n"
           "                        pod traffic leaving it is masqueraded\n"
           "  --container-log-max-size Q   rotate a container's log past this size (10Mi)\n"
           "  --container-log-max-files N  log files kept per container (5, at least 2)\n"
           "  --cleanup             remove the service rules, pod veths, routes and bridge this\n"
           "                        agent made (with --data-dir), then exit\n"
           "  --cluster-dns IP      the cluster DNS address pods use (default " API_CLUSTER_DNS_IP
           ";\n                        \"\": pods get the node's resolv.conf)\n"
           "  --cluster-domain D    the cluster domain (default cluster.local)\n"
           "  --dns-listen IP[:P]   where the node's DNS server listens (default: the pod\n"
           "                        network gateway, port 53)\n"
           "  --resolv-conf F       the node's resolver config: upstreams for names outside\n"
           "                        the cluster, dnsPolicy Default (default /etc/resolv.conf;\n"
           "                        \"\": none)\n"
           "  -v N                  log verbosity\n",
           AGENT_DEFAULT_WORKERS);
}

/* Checks what `k8c agent` and `k8c server` share; writes the usage message into msg. */
int agent_config_check(const struct agent_config *cfg, char *msg, size_t len)
{
    const char *rt = cfg->runtime;
    if (strcmp(rt, "builtin") && strcmp(rt, "runc") && strcmp(rt, "crun") && strcmp(rt, "fake"))
        snprintf(msg, len, "--runtime wants builtin, runc, crun or fake, not \"%s\"", rt);
    else if (cfg->data_dir[0] != '/')
        snprintf(msg, len, "--data-dir \"%s\" must be an absolute path", cfg->data_dir);
    else
        return 0;
    return -1;
}

/* A port number (0-65535) or a worker count (1-256) from v into *out; -1 when it is not. */
int agent_parse_number(const char *v, long lo, long hi, long *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

/* "10Mi", "512Ki", "1G", "4096": bytes, or -1. */
static long long parse_size(const char *v)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    static const struct {
        const char *suffix;
        long long mult;
    } units[] = {{"", 1},     {"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30},
                 {"k", 1000}, {"K", 1000},       {"M", 1000000},    {"G", 1000000000}};
    if (end == v || n < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(units); i++)
        if (strcmp(end, units[i].suffix) == 0)
            return n > (1LL << 40) ? -1 : n * units[i].mult;
    return -1;
}

/* IPv4 or IPv4:PORT with a port from 1 to 65535 (the DNS server's --dns-listen). */
static bool dns_listen_ok(const char *v)
{
    char ip[64];
    const char *colon = strchr(v, ':');
    size_t n = colon ? (size_t)(colon - v) : strlen(v);
    if (n >= sizeof(ip))
        return false;
    memcpy(ip, v, n);
    ip[n] = '\0';
    uint32_t addr;
    if (net_ip_parse(ip, &addr, NULL) < 0)
        return false;
    if (!colon)
        return true;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && !*end && errno == 0 && port >= 1 && port <= 65535;
}

int agent_cli_main(int argc, char **argv)
{
    /* glibc gives each thread that allocates its own arena (up to 8 per core): with the pod
     * workers, informers and the recorder that is ~10 MiB of mostly free heap; two arenas
     * keep the RSS target (20 MiB with 100 pods) at no measurable CPU cost. Before any
     * thread exists. */
    mallopt(M_ARENA_MAX, 2);
    /* A fixed threshold (glibc raises it after each big free otherwise): libnftables' 2 MiB
     * batch buffers (Service and DNS rules syncs) stay mmap'ed and go back at once. */
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    const char *kubeconfig = NULL, *server = NULL, *token_file = NULL, *ca_file = NULL;
    struct agent_config ac;
    agent_config_init(&ac);
    bool cleanup = false;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            help();
            return 0;
        }
        if (strcmp(f, "--cleanup") == 0) {
            cleanup = true;
            continue;
        }
        const char *names[] = {"--kubeconfig",
                               "--server",
                               "--token-file",
                               "--ca-file",
                               "--node-name",
                               "--data-dir",
                               "--runtime",
                               "--port",
                               "--node-ip",
                               "-v",
                               "--workers",
                               "--max-pods",
                               "--cluster-cidr",
                               "--container-log-max-size",
                               "--container-log-max-files",
                               "--cluster-dns",
                               "--cluster-domain",
                               "--dns-listen",
                               "--resolv-conf"};
        const char **dst[] = {&kubeconfig,        &server,        &token_file,    &ca_file,
                              &ac.node_name,      &ac.data_dir,   &ac.runtime,    NULL,
                              &ac.node_ip,        NULL,           NULL,           NULL,
                              &ac.cluster_cidr,   NULL,           NULL,           &ac.cluster_dns,
                              &ac.cluster_domain, &ac.dns_listen, &ac.resolv_conf};
        size_t k;
        for (k = 0; k < ARRAY_SIZE(names); k++)
            if (strcmp(f, names[k]) == 0)
                break;
        if (k == ARRAY_SIZE(names))
            return usage("unknown argument \"%s\"", f);
        if (i + 1 >= argc)
            return usage("flag %s needs a value", f);
        const char *v = argv[++i];
        long n;
        if (strcmp(f, "--port") == 0) {
            if (agent_parse_number(v, 0, 65535, &n) < 0)
                return usage("--port wants a number from 0 to 65535, not \"%s\"", v);
            ac.port = (int)n;
        } else if (strcmp(f, "--workers") == 0) {
            if (agent_parse_number(v, 1, 256, &n) < 0)
                return usage("--workers wants a number from 1 to 256, not \"%s\"", v);
            ac.workers = (unsigned)n;
        } else if (strcmp(f, "--max-pods") == 0) {
            if (agent_parse_number(v, 1, 100000, &n) < 0)
                return usage("--max-pods wants a number from 1 to 100000, not \"%s\"", v);
            ac.max_pods = (unsigned)n;
        } else if (strcmp(f, "--container-log-max-size") == 0) {
            if ((ac.log_max_size = parse_size(v)) < 4096)
                return usage("--container-log-max-size wants a size of at least 4Ki such as "
                             "10Mi, not \"%s\"",
                             v);
        } else if (strcmp(f, "--container-log-max-files") == 0) {
            if (agent_parse_number(v, 2, 1000, &n) < 0)
                return usage("--container-log-max-files wants a number from 2 to 1000, not "
                             "\"%s\"",
                             v);
            ac.log_max_files = (int)n;
        } else if (strcmp(f, "-v") == 0) {
            log_set_verbosity(atoi(v));
        } else {
            *dst[k] = v;
        }
    }
    if (ac.data_dir[0] != '/')
        return usage("--data-dir \"%s\" must be an absolute path", ac.data_dir);
    if (cleanup) {
        _cleanup_err_ struct k8c_err *cerr = NULL;
        if (agent__net_cleanup(ac.data_dir, &cerr) < 0 || net_policy_cleanup(&cerr) < 0 ||
            net_dns_redirect_cleanup(&cerr) < 0) {
            fprintf(stderr, "k8c: agent: cleanup: %s\n", cerr->msg);
            return 1;
        }
        printf("agent: removed the pod network, service, policy and DNS rules of %s\n",
               ac.data_dir);
        return 0;
    }
    if (!kubeconfig && !server)
        return usage("%s", "one of --kubeconfig or --server is required");
    if (server && !token_file)
        return usage("%s", "--server needs --token-file");
    char msg[512];
    if (agent_config_check(&ac, msg, sizeof(msg)) < 0)
        return usage("%s", msg);
    uint32_t dns_ip;
    if (*ac.cluster_dns && net_ip_parse(ac.cluster_dns, &dns_ip, NULL) < 0)
        return usage("--cluster-dns wants an IPv4 address or \"\", not \"%s\"", ac.cluster_dns);
    if (ac.dns_listen && !dns_listen_ok(ac.dns_listen))
        return usage("--dns-listen wants IP or IP:PORT, not \"%s\"", ac.dns_listen);
    int rc = 1;
    _cleanup_err_ struct k8c_err *err = NULL;
    struct client_config cfg = {0};
    struct client *client = NULL;
    if (kubeconfig) {
        if (client_config_load(kubeconfig, &cfg, &err) < 0)
            goto out;
    } else {
        cfg.server = xstrdup(server);
        char *tok = file_read_all(token_file, 65536, NULL, &err);
        if (!tok)
            goto out;
        tok[strcspn(tok, "\r\n")] = '\0';
        cfg.token = tok;
        if (ca_file) {
            if (!(cfg.ca_pem = file_read_all(ca_file, 1 << 20, NULL, &err)))
                goto out;
        } else {
            cfg.insecure = true;
        }
    }
    ac.ca_pem = cfg.ca_pem; /* borrowed: cfg outlives the agent */
    client = client_new(&cfg, &err);
    if (!client)
        goto out;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (agent_run(client, &ac, &stop_flag, &err) == 0)
        rc = 0;
out:
    if (err) {
        _cleanup_free_ char *text = k8c_err_text(err);
        fprintf(stderr, "k8c: agent: %s\n", text);
    }
    client_config_clear(&cfg);
    client_free(client);
    return rc;
}
