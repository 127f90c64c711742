/* `k8c server`: opens the store, starts the API server, then the embedded scheduler,
 * controllers and node agent (each on its own thread, as clients of the API with the admin
 * kubeconfig), and runs in the foreground until SIGINT or SIGTERM. The agent makes the server
 * a one-node cluster (like k3s or minikube); it stays off, with one log line saying why, with
 * --no-agent or where this process cannot run pods (not root, no namespaces). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/defaults.h"
#include "apiserver/apiserver.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/client.h"
#include "controllers/controllers.h"
#include "scheduler/scheduler.h"
#include "server/server.h"
#include "store/store.h"

#define DEFAULT_DATA_DIR "/var/lib/k8c"
#define DEFAULT_LISTEN "127.0.0.1:6443"

static int usage(const char *what, const char *arg)
{
    fprintf(stderr, "k8c: server: %s \"%s\"", what, arg);
    fprintf(stderr, " (usage: k8c server [--data-dir DIR] [--listen ADDR:PORT] [--store URL] "
                    "[--no-agent] [--node-name N] [--node-ip IP] [--runtime R] [--agent-port N] "
                    "[--disable-scheduler] [--disable-controller-manager] "
                    "[--max-requests-inflight N] [--max-mutating-requests-inflight N] "
                    "[--cluster-cidr CIDR] [--node-cidr-mask-size N] "
                    "[--service-node-port-range MIN-MAX] [--service-cidr CIDR] "
                    "[--request-timeout DURATION] [--min-request-timeout SECONDS] "
                    "[--leader-elect-lease-duration D] [--leader-elect-renew-deadline D] "
                    "[--leader-elect-retry-period D] [-v N])\n");
    return 2;
}

/* Leader election of the embedded scheduler and controllers (kube's flag names): several
 * servers on one etcd act through one elected scheduler and controller manager. */
struct election {
    unsigned lease_s, renew_s, retry_ms;
};

/* One embedded component: a thread running a blocking *_run function until stop. */
struct component {
    const char *name;
    struct client *client;
    const atomic_bool *stop;
    const struct election *election;
    const void *opts; /* the component's own settings */
    int (*run)(struct component *self, struct k8c_err **err);
    const struct controllers_options *ctl_opts; /* for the controllers */
    pthread_t thread;
    bool started;
};

static int run_scheduler(struct component *self, struct k8c_err **err)
{
    struct scheduler_options opts = {.leader_elect = true,
                                     .lease_duration_seconds = self->election->lease_s,
                                     .renew_deadline_seconds = self->election->renew_s,
                                     .retry_period_ms = self->election->retry_ms};
    return scheduler_run(self->client, &opts, self->stop, NULL, err);
}

static int run_controllers(struct component *self, struct k8c_err **err)
{
    struct controllers_options opts = *self->ctl_opts;
    opts.lease_duration_seconds = self->election->lease_s;
    opts.renew_deadline_seconds = self->election->renew_s;
    opts.retry_period_ms = self->election->retry_ms;
    return controllers_run(self->client, &opts, self->stop, err);
}

static int run_agent(struct component *self, struct k8c_err **err)
{
    return agent_run(self->client, self->opts, self->stop, err);
}

static void *component_main(void *opaque)
{
    struct component *self = opaque;
    _cleanup_err_ struct k8c_err *err = NULL;
    if (self->run(self, &err) < 0) {
        /* The edge for this component: the API server keeps serving without it. */
        _cleanup_free_ char *t = k8c_err_text(err);
        LOG_ERROR("embedded %s stopped: %s", self->name, t);
    }
    return NULL;
}

/* Starts the enabled components against the API server through the admin kubeconfig. */
static struct client *start_components(const char *kubeconfig, struct component *comps, size_t n,
                                       struct k8c_err **err)
{
    struct client_config cfg;
    if (client_config_load(kubeconfig, &cfg, err) < 0)
        return NULL;
    struct client *c = client_new(&cfg, err);
    client_config_clear(&cfg);
    if (c == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        comps[i].client = c;
        int rc = pthread_create(&comps[i].thread, NULL, component_main, &comps[i]);
        if (rc != 0) {
            k8c_err_set(err, rc, K8C_REASON_INTERNAL, "start the embedded %s", comps[i].name);
            return c; /* the caller stops what did start */
        }
        comps[i].started = true;
        LOG_INFO("embedded %s started", comps[i].name);
    }
    return c;
}

int server_cli_main(int argc, char **argv)
{
    const char *data_dir = DEFAULT_DATA_DIR;
    const char *listen = DEFAULT_LISTEN;
    const char *store_url = NULL;
    bool no_agent = false, no_scheduler = false, no_controllers = false;
    struct controllers_options ctl_opts = {0};
    const char *service_cidr = API_SERVICE_CIDR_DEFAULT;
    unsigned np_min = 0, np_max = 0;
    int np_len = 0;
    unsigned long max_ro = 0, max_mut = 0, min_req_timeout = 0;
    uint64_t req_timeout_ns = 0;
    struct election election = {0};
    struct agent_config agent;
    agent_config_init(&agent);
    long num;
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"store", required_argument, NULL, 's'},
        {"no-agent", no_argument, NULL, 'n'},
        {"disable-scheduler", no_argument, NULL, 'S'},
        {"disable-controller-manager", no_argument, NULL, 'C'},
        {"v", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"max-requests-inflight", required_argument, NULL, 'r'},
        {"max-mutating-requests-inflight", required_argument, NULL, 'm'},
        {"cluster-cidr", required_argument, NULL, 'c'},
        {"node-cidr-mask-size", required_argument, NULL, 'M'},
        {"service-node-port-range", required_argument, NULL, 'P'},
        {"service-cidr", required_argument, NULL, 'V'},
        {"request-timeout", required_argument, NULL, 't'},
        {"min-request-timeout", required_argument, NULL, 'T'},
        {"leader-elect-lease-duration", required_argument, NULL, 'L'},
        {"leader-elect-renew-deadline", required_argument, NULL, 'R'},
        {"leader-elect-retry-period", required_argument, NULL, 'Y'},
        {"node-name", required_argument, NULL, 'N'},
        {"node-ip", required_argument, NULL, 'I'},
        {"runtime", required_argument, NULL, 'U'},
        {"agent-port", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+v:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data_dir = optarg; break;
        case 'l': listen = optarg; break;
        case 's': store_url = optarg; break;
        case 'n': no_agent = true; break;
        case 'N': agent.node_name = optarg; break;
        case 'I': agent.node_ip = optarg; break;
        case 'U': agent.runtime = optarg; break;
        case 'A':
            if (agent_parse_number(optarg, 0, 65535, &num) < 0)
                return usage("--agent-port wants a number from 0 to 65535, got", optarg);
            agent.port = (int)num;
            break;
        case 'S': no_scheduler = true; break;
        case 'C': no_controllers = true; break;
        case 'v': log_set_verbosity(atoi(optarg)); break;
        case 'r':
        case 'm': {
            char *end = NULL;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > 100000)
                return usage("in-flight limit must be 1-100000, got", optarg);
            *(c == 'r' ? &max_ro : &max_mut) = v;
            break;
        }
        case 'c': ctl_opts.cluster_cidr = optarg; break;
        case 'V': {
            uint32_t base;
            unsigned prefix;
            _cleanup_err_ struct k8c_err *cerr = NULL;
            if (apiserver_service_cidr_parse(optarg, &base, &prefix, &cerr) < 0)
                return usage(cerr->msg, optarg);
            service_cidr = optarg;
            break;
        }
        case 'P':
            if (sscanf(optarg, "%u-%u%n", &np_min, &np_max, &np_len) != 2 ||
                (size_t)np_len != strlen(optarg) || np_min == 0 || np_max > 65535 ||
                np_min > np_max)
                return usage("--service-node-port-range wants MIN-MAX (1-65535), got", optarg);
            break;
        case 'M': {
            char *end = NULL;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > 32)
                return usage("--node-cidr-mask-size wants a prefix length, got", optarg);
            ctl_opts.node_cidr_mask_size = (unsigned)v;
            break;
        }
        case 't':
            if (apiserver_parse_duration(optarg, &req_timeout_ns) < 0 ||
                req_timeout_ns < 1000000000ull || req_timeout_ns > 86400ull * 1000000000ull)
                return usage("request timeout must be a duration of 1s-24h, got", optarg);
            break;
        case 'T': {
            char *end = NULL;
            min_req_timeout = strtoul(optarg, &end, 10);
            if (!*optarg || *end || min_req_timeout == 0 || min_req_timeout > 86400)
                return usage("min request timeout must be 1-86400 seconds, got", optarg);
            break;
        }
        case 'L':
        case 'R':
        case 'Y': {
            long v = clock_parse_seconds(optarg);
            if (v <= 0 || v > 3600)
                return usage("leader election wants a duration like 15s, got", optarg);
            if (c == 'L')
                election.lease_s = (unsigned)v;
            else if (c == 'R')
                election.renew_s = (unsigned)v;
            else
                election.retry_ms = (unsigned)v * 1000;
            break;
        }
        case 'h':
            printf("usage: k8c server [--data-dir DIR] [--listen ADDR:PORT] [--store URL] "
                   "[--no-agent] [--node-name N (host name)] [--node-ip IP (127.0.0.1)] "
                   "[--runtime builtin|runc|crun|fake] [--agent-port N (10250)] "
                   "[--disable-scheduler] [--disable-controller-manager] "
                   "[--max-requests-inflight N (400)] "
                   "[--max-mutating-requests-inflight N (200)] "
                   "[--cluster-cidr CIDR (" CTL_CLUSTER_CIDR_DEFAULT ")] "
                   "[--node-cidr-mask-size N (24)] "
                   "[--service-node-port-range MIN-MAX (30000-32767)] "
                   "[--service-cidr CIDR (" API_SERVICE_CIDR_DEFAULT ")] "
                   "[--request-timeout DURATION (1m0s)] "
                   "[--min-request-timeout SECONDS (1800)] "

                   "[--leader-elect-lease-duration D (15s)] [--leader-elect-renew-deadline D "
                   "(10s)] [--leader-elect-retry-period D (2s)] [-v N]\n");
            return 0;
        default: return usage("unknown or incomplete flag", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("unexpected argument", argv[optind]);
    char msg[512];
    if (agent_config_check(&agent, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "k8c: server: %s\n", msg);
        return 2;
    }
    _cleanup_err_ struct k8c_err *err = NULL;
    if (controllers_node_cidr_check(
            ctl_opts.cluster_cidr ? ctl_opts.cluster_cidr : CTL_CLUSTER_CIDR_DEFAULT,
            ctl_opts.node_cidr_mask_size ? ctl_opts.node_cidr_mask_size : 24, &err) < 0)
        return usage(err->msg, ctl_opts.cluster_cidr ? ctl_opts.cluster_cidr : "");
    if (file_mkdir_p(data_dir, 0700, &err) < 0) {
        _cleanup_free_ char *t = k8c_err_text(err);
        fprintf(stderr, "k8c: server: data dir `%s`: %s\n", data_dir, t);
        return 1;
    }
    _cleanup_free_ char *db_dir = xasprintf("%s/db", data_dir);
    _cleanup_free_ char *default_url = xasprintf("sqlite:%s/state.db", db_dir);
    if (!store_url) {
        if (file_mkdir_p(db_dir, 0700, &err) < 0) {
            _cleanup_free_ char *t = k8c_err_text(err);
            fprintf(stderr, "k8c: server: %s\n", t);
            return 1;
        }
        store_url = default_url;
    }
    /* Block the signals before any thread starts, so only sigwait below receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The store's defaults size the watch window per backend (store.h). */
    struct store_options sopts = {0};
    struct store *st = store_open(store_url, &sopts, &err);
    if (!st) {
        _cleanup_free_ char *t = k8c_err_text(err);
        fprintf(stderr, "k8c: server: open store %s: %s\n", store_url, t);
        return 1;
    }
    struct apiserver_config cfg = {.data_dir = data_dir,
                                   .listen = listen,
                                   .store = st,
                                   .max_readonly_inflight = (unsigned)max_ro,
                                   .max_mutating_inflight = (unsigned)max_mut,
                                   .service_cidr = service_cidr,
                                   .node_port_min = np_min,
                                   .node_port_max = np_max,
                                   .request_timeout_s = (unsigned)(req_timeout_ns / 1000000000ull),
                                   .min_request_timeout_s = (unsigned)min_req_timeout};
    struct apiserver *srv = apiserver_start(&cfg, &err);
    if (!srv) {
        _cleanup_free_ char *t = k8c_err_text(err);
        fprintf(stderr, "k8c: server: %s\n", t);
        store_close(st);
        return 1;
    }
    LOG_INFO("k8c API server listening url=https://%s store=%s", listen, store_url);
    LOG_INFO("admin kubeconfig written path=%s (use: kubectl --kubeconfig %s get ns)",
             apiserver_kubeconfig_path(srv), apiserver_kubeconfig_path(srv));
    atomic_bool stop_components;
    atomic_init(&stop_components, false);
    struct component comps[3];
    size_t n_comps = 0;
    if (!no_scheduler)
        comps[n_comps++] = (struct component){.name = "scheduler",
                                              .stop = &stop_components,
                                              .election = &election,
                                              .run = run_scheduler};
    if (!no_controllers)
        comps[n_comps++] = (struct component){.name = "controllers",
                                              .stop = &stop_components,
                                              .run = run_controllers,
                                              .ctl_opts = &ctl_opts,
                                              .election = &election};
    _cleanup_free_ char *agent_dir = xasprintf("%s/agent", data_dir);
    agent.data_dir = agent_dir;
    agent.cluster_cidr = ctl_opts.cluster_cidr ? ctl_opts.cluster_cidr : CTL_CLUSTER_CIDR_DEFAULT;
    /* pods resolve through kube-dns, the tenth address of the service CIDR */
    char cluster_dns[16];
    uint32_t svc_base;
    unsigned svc_prefix;
    if (apiserver_service_cidr_parse(service_cidr, &svc_base, &svc_prefix, NULL) == 0) {
        struct in_addr dns_addr = {htonl(svc_base + 10)};
        inet_ntop(AF_INET, &dns_addr, cluster_dns, sizeof(cluster_dns));
        agent.cluster_dns = cluster_dns;
    }
    /* the cluster CA the API server's client certificate chains to (apiserver/certs.c) */
    _cleanup_free_ char *ca_path = xasprintf("%s/tls/ca.crt", data_dir);
    _cleanup_free_ char *ca_pem = no_agent ? NULL : file_read_all(ca_path, 1 << 20, NULL, NULL);
    agent.ca_pem = ca_pem;
    _cleanup_free_ char *why_not = no_agent ? NULL : agent_unsupported(agent.runtime);
    if (no_agent)
        LOG_INFO("node agent disabled by --no-agent");
    else if (why_not)
        LOG_WARN("node agent not started: %s; the server runs without a node (join one with "
                 "`k8c agent`, or use --runtime fake)",
                 why_not);
    else
        comps[n_comps++] = (struct component){
            .name = "agent", .stop = &stop_components, .opts = &agent, .run = run_agent};
    struct client *client = NULL;
    if (n_comps > 0) {
        client = start_components(apiserver_kubeconfig_path(srv), comps, n_comps, &err);
        if (err != NULL) {
            _cleanup_free_ char *t = k8c_err_text(err);
            LOG_ERROR("embedded components not started: %s", t);
            k8c_err_freep(&err); /* reported here; the API server keeps serving */
        }
    }
    fflush(stderr);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    LOG_INFO("shutting down signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&stop_components, true);
    for (size_t i = 0; i < n_comps; i++)
        if (comps[i].started)
            pthread_join(comps[i].thread, NULL);
    client_free(client);
    apiserver_stop(srv);
    store_close(st);
    LOG_INFO("stopped");
    return 0;
}
