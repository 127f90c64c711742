/* `k8c agent`: flags, then the agent's threads: Node registration, the Lease loop, one pod
 * informer (spec.nodeName=<node>) feeding a work queue, a 1 s resync of our pods, and the
 * logs/exec endpoint. Containers keep running when the agent stops (their shims hold them). */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/internal.h"
#include "agent/network.h"
#include "agent/probe.h"
#include "api/defaults.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/dns.h"
#include "net/net.h"
#include "net/policy.h"

#define WORKERS 2

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
           "  --runtime R           builtin (default), runc or crun\n"
           "  --cluster-cidr CIDR   the pods' whole network (default " AGENT_CLUSTER_CIDR_DEFAULT
           ");\n"
           "                        pod traffic leaving it is masqueraded\n"
           "  --cleanup             remove the service rules, pod veths, routes and bridge this\n"
           "                        agent made (with --data-dir), then exit\n"
           "  --port N              the HTTPS logs/exec/attach/port-forward endpoint on\n"
           "                        --node-ip (default 10250; 0: any)\n"
           "  --container-log-max-size Q   rotate a container's log past this size (10Mi)\n"
           "  --container-log-max-files N  log files kept per container (5, at least 2)\n"
           "  --cluster-dns IP      the cluster DNS address pods use (default " API_CLUSTER_DNS_IP
           ";\n                        \"\": pods get the node's resolv.conf)\n"
           "  --cluster-domain D    the cluster domain (default cluster.local)\n"
           "  --dns-listen IP[:P]   where the node's DNS server listens (default: the pod\n"
           "                        network gateway, port 53)\n"
           "  --resolv-conf F       the node's resolver config: upstreams for names outside\n"
           "                        the cluster, dnsPolicy Default (default /etc/resolv.conf;\n"
           "                        \"\": none)\n"
           "  -v N                  log verbosity\n");
}

static void enqueue(struct agent *a, const json_t *pod)
{
    _cleanup_free_ char *key = informer_key_of(pod);
    if (key)
        workqueue_add(a->queue, key);
}

static void on_add(json_t *obj, void *opaque)
{
    enqueue(opaque, obj);
}

static void on_update(json_t *old, json_t *obj, void *opaque)
{
    (void)old;
    enqueue(opaque, obj);
}

static void on_delete(json_t *obj, void *opaque)
{
    enqueue(opaque, obj);
}

static void *worker(void *opaque)
{
    struct agent *a = opaque;
    char *key;
    while ((key = workqueue_get(a->queue)) != NULL) {
        if (agent__pod_sync(a, key) < 0)
            workqueue_add_rate_limited(a->queue, key);
        else
            workqueue_forget(a->queue, key);
        workqueue_done(a->queue, key);
        free(key);
    }
    return NULL;
}

/* Every second: every pod we know or the informer has (exits, back-offs, grace periods). */
static void resync(struct agent *a)
{
    _cleanup_json_ json_t *all = informer_list(a->informer);
    size_t i;
    json_t *p;
    json_array_foreach (all, i, p)
        enqueue(a, p);
    pthread_mutex_lock(&a->lock);
    for (struct agent_pod *ap = a->pods; ap; ap = ap->next)
        workqueue_add(a->queue, ap->key);
    pthread_mutex_unlock(&a->lock);
}

static char *resolve_runtime(const char *name)
{
    if (strcmp(name, "builtin") == 0)
        return xstrdup("builtin");
    const char *dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                          "/usr/bin",        "/sbin",          "/bin"};
    for (size_t i = 0; i < 6; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return steal_ptr(&p);
    }
    return NULL;
}

static int agent_run(struct agent *a, struct k8c_err **err)
{
    if (agent__http_start(a, err) < 0)
        return -1;
    bool v6 = strchr(a->node_ip, ':') != NULL;
    a->agent_url =
        xasprintf("https://%s%s%s:%d", v6 ? "[" : "", a->node_ip, v6 ? "]" : "", a->port);
    int rc = -1;
    for (unsigned attempt = 0;; attempt++) {
        k8c_err_free(*err);
        *err = NULL;
        if (agent__node_register(a, err) == 0) {
            rc = 0;
            break;
        }
        if (attempt > 60 || atomic_load(a->stop))
            break;
        struct timespec ts = {0, 500000000};
        nanosleep(&ts, NULL);
    }
    if (rc < 0) {
        atomic_store(&stop_flag, true);
        agent__http_stop(a);
        return -1;
    }
    LOG_INFO("node registered node=%s agent-url=%s", a->node_name, a->agent_url);
    a->queue = workqueue_new(200, 10000);
    if (agent__net_start(a, err) < 0) {
        agent__net_stop(a);
        atomic_store(&stop_flag, true);
        agent__http_stop(a);
        workqueue_free(a->queue);
        return -1;
    }
    agent__prober_init(a);
    _cleanup_free_ char *sel = xasprintf("spec.nodeName=%s", a->node_name);
    struct informer_options opts = {
        .path = "/api/v1/pods",
        .field_selector = sel,
        .handlers = {on_add, on_update, on_delete, a},
    };
    a->informer = informer_new(a->client, &opts);
    pthread_t workers[WORKERS], lease;
    rc = informer_start(a->informer, err);
    if (rc == 0 && informer_wait_synced(a->informer, 60000))
        agent__orphans_cleanup(a);
    if (rc == 0)
        rc = agent__dns_start(a, err);
    if (rc == 0) {
        for (int t = 0; t < WORKERS; t++)
            pthread_create(&workers[t], NULL, worker, a);
        pthread_create(&lease, NULL, agent__lease_main, a);
        printf("agent: node %s ready\n", a->node_name);
        fflush(stdout);
        while (!atomic_load(a->stop)) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
            resync(a);
        }
        pthread_join(lease, NULL);
        workqueue_shutdown(a->queue);
        for (int t = 0; t < WORKERS; t++)
            pthread_join(workers[t], NULL);
    }
    agent__prober_shutdown(a); /* after the workers: they start probes and stops */
    agent__http_stop(a);
    agent__dns_stop(a);
    agent__net_stop(a);
    informer_free(a->informer);
    workqueue_free(a->queue);
    return rc;
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

int agent_cli_main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *server = NULL, *token_file = NULL, *ca_file = NULL;
    const char *node = NULL, *data_dir = "/var/lib/k8c", *runtime = "builtin";
    const char *node_ip = "127.0.0.1", *cluster_cidr = AGENT_CLUSTER_CIDR_DEFAULT;
    const char *cluster_dns = API_CLUSTER_DNS_IP, *cluster_domain = "cluster.local";
    const char *dns_listen = NULL, *resolv_conf = "/etc/resolv.conf";
    int port = 10250;
    bool cleanup = false;
    long long log_max_size = 10 << 20;
    long log_max_files = 5;
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
                               "--container-log-max-size",
                               "--container-log-max-files",
                               "--cluster-cidr",
                               "--cluster-dns",
                               "--cluster-domain",
                               "--dns-listen",
                               "--resolv-conf"};
        const char **dst[] = {
            &kubeconfig,   &server,      &token_file,     &ca_file,    &node,       &data_dir,
            &runtime,      NULL,         &node_ip,        NULL,        NULL,        NULL,
            &cluster_cidr, &cluster_dns, &cluster_domain, &dns_listen, &resolv_conf};
        size_t k;
        for (k = 0; k < ARRAY_SIZE(names); k++)
            if (strcmp(f, names[k]) == 0)
                break;
        if (k == ARRAY_SIZE(names))
            return usage("unknown argument \"%s\"", f);
        if (i + 1 >= argc)
            return usage("flag %s needs a value", f);
        const char *v = argv[++i];
        if (strcmp(f, "--port") == 0) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 0 || p > 65535)
                return usage("--port wants a number from 0 to 65535, not \"%s\"", v);
            port = (int)p;
        } else if (strcmp(f, "-v") == 0) {
            log_set_verbosity(atoi(v));
        } else if (strcmp(f, "--container-log-max-size") == 0) {
            if ((log_max_size = parse_size(v)) < 4096)
                return usage("--container-log-max-size wants a size of at least 4Ki such as "
                             "10Mi, not \"%s\"",
                             v);
        } else if (strcmp(f, "--container-log-max-files") == 0) {
            char *end;
            log_max_files = strtol(v, &end, 10);
            if (*end || log_max_files < 2 || log_max_files > 1000)
                return usage("--container-log-max-files wants a number from 2 to 1000, not "
                             "\"%s\"",
                             v);
        } else {
            *dst[k] = v;
        }
    }
    if (data_dir[0] != '/')
        return usage("--data-dir \"%s\" must be an absolute path", data_dir);
    if (cleanup) {
        _cleanup_err_ struct k8c_err *cerr = NULL;
        if (agent__net_cleanup(data_dir, &cerr) < 0 || net_policy_cleanup(&cerr) < 0 ||
            net_dns_redirect_cleanup(&cerr) < 0) {
            fprintf(stderr, "k8c: agent: cleanup: %s\n", cerr->msg);
            return 1;
        }
        printf("agent: removed the pod network, service, policy and DNS rules of %s\n", data_dir);
        return 0;
    }
    if (!kubeconfig && !server)
        return usage("%s", "one of --kubeconfig or --server is required");
    if (server && !token_file)
        return usage("%s", "--server needs --token-file");
    if (strcmp(runtime, "builtin") && strcmp(runtime, "runc") && strcmp(runtime, "crun"))
        return usage("--runtime wants builtin, runc or crun, not \"%s\"", runtime);
    uint32_t dns_ip;
    if (*cluster_dns && net_ip_parse(cluster_dns, &dns_ip, NULL) < 0)
        return usage("--cluster-dns wants an IPv4 address or \"\", not \"%s\"", cluster_dns);
    if (dns_listen && (net_ip_parse(dns_listen, &dns_ip, NULL) < 0 &&
                       (!strchr(dns_listen, ':') || atoi(strchr(dns_listen, ':') + 1) <= 0)))
        return usage("--dns-listen wants IP or IP:PORT, not \"%s\"", dns_listen);
    if (data_dir[0] != '/')
        return usage("--data-dir \"%s\" must be an absolute path", data_dir);
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    struct agent a = {0};
    pthread_mutex_init(&a.lock, NULL);
    a.stop = &stop_flag;
    a.port = port;
    a.log_max_size = log_max_size;
    a.log_max_files = (int)log_max_files;
    a.node_name = xstrdup(node ? node : host);
    a.node_ip = xstrdup(node_ip);
    a.cluster_cidr = xstrdup(cluster_cidr);
    a.data_dir = xstrdup(data_dir);
    a.runtime = resolve_runtime(runtime);
    a.cluster_dns = cluster_dns;
    a.cluster_domain = cluster_domain;
    a.dns_listen = dns_listen;
    a.resolv_conf = resolv_conf;
    char exe[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[el > 0 ? el : 0] = '\0';
    a.self_exe = xstrdup(exe);
    int rc = 1;
    _cleanup_err_ struct k8c_err *err = NULL;
    struct client_config cfg = {0};
    if (!a.runtime) {
        fprintf(stderr, "k8c: agent: runtime %s not found in PATH\n", runtime);
        goto out;
    }
    if (kubeconfig) {
        if (client_config_load(kubeconfig, &cfg, &err) < 0)
            goto fail;
    } else {
        cfg.server = xstrdup(server);
        char *tok = file_read_all(token_file, 65536, NULL, &err);
        if (!tok)
            goto fail;
        tok[strcspn(tok, "\r\n")] = '\0';
        cfg.token = tok;
        if (ca_file) {
            if (!(cfg.ca_pem = file_read_all(ca_file, 1 << 20, NULL, &err)))
                goto fail;
        } else {
            cfg.insecure = true;
        }
    }
    a.ca_pem = cfg.ca_pem; /* borrowed: cfg lives as long as the agent */
    a.client = client_new(&cfg, &err);
    if (!a.client)
        goto fail;
    char *pods_dir = xasprintf("%s/pods", data_dir);
    int mk = file_mkdir_p(pods_dir, 0755, &err);
    free(pods_dir);
    if (mk < 0)
        goto fail;
    a.images = image_store_open(data_dir, &err);
    if (!a.images)
        goto fail;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (agent_run(&a, &err) < 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    if (err) {
        char *text = k8c_err_text(err);
        fprintf(stderr, "k8c: agent: %s\n", text);
        free(text);
    }
out:
    client_config_clear(&cfg);
    if (a.images)
        image_store_close(a.images);
    client_free(a.client);
    while (a.pods) {
        struct agent_pod *p = a.pods;
        a.pods = p->next;
        for (size_t i = 0; i < p->n_ctrs; i++) {
            free(p->ctrs[i].name);
            free(p->ctrs[i].image_id);
            free(p->ctrs[i].waiting_reason);
            free(p->ctrs[i].waiting_msg);
            free(p->ctrs[i].term_msg), free(p->ctrs[i].last_term_msg);
        }
        free(p->ctrs);
        free(p->uid), free(p->key), free(p->ns), free(p->name), free(p->dir);
        free(p->last_status);
        free(p->ip);
        free(p);
    }
    free(a.node_name), free(a.node_ip), free(a.data_dir), free(a.runtime), free(a.self_exe);
    free(a.agent_url), free(a.cert_sha256);
    free(a.cluster_cidr);
    return rc;
}
