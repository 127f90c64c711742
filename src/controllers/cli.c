/* `k8c controller-manager --kubeconfig FILE`: the controllers as their own process, against
 * any API server the kubeconfig names, until SIGINT or SIGTERM. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/controllers.h"

#define USAGE                                                                                      \
    "usage: k8c controller-manager --kubeconfig FILE [--server URL[,URL...]] [--workers N] "       \
    "[--node-monitor-grace-period DURATION] [--terminated-pod-gc-threshold N] "                    \
    "[--leader-elect=true|false] [--leader-elect-identity ID] "                                    \
    "[--leader-elect-lease-duration D] [--leader-elect-renew-deadline D] "                         \
    "[--leader-elect-retry-period D] [--allocate-node-cidrs=true|false] "                          \
    "[--cluster-cidr CIDR] [--node-cidr-mask-size N] [-v N]"

static int usage(const char *what, const char *arg)
{
    fprintf(stderr, "k8c: controller-manager: %s \"%s\" (%s)\n", what, arg, USAGE);
    return 2;
}

/* "--flag" alone or "--flag=true" -> 1, "=false" -> 0, anything else -> -1. */
static int parse_bool(const char *s)
{
    if (s == NULL || strcmp(s, "true") == 0)
        return 1;
    return strcmp(s, "false") == 0 ? 0 : -1;
}

static long parse_count(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return (end == s || *end != '\0' || v < 0) ? -1 : v;
}

struct run_args {
    struct client *client;
    struct controllers_options opts;
    atomic_bool stop;
    int rc;
    struct k8c_err *err;
};

static void *run_main(void *opaque)
{
    struct run_args *a = opaque;
    a->rc = controllers_run(a->client, &a->opts, &a->stop, &a->err);
    /* Wake the signal wait when the controllers end on their own. */
    kill(getpid(), SIGTERM);
    return NULL;
}

int controllers_cli_main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *server = NULL;
    struct controllers_options o = {0};
    static const struct option opts[] = {
        {"kubeconfig", required_argument, NULL, 'k'},
        {"server", required_argument, NULL, 's'},
        {"workers", required_argument, NULL, 'w'},
        {"node-monitor-grace-period", required_argument, NULL, 'g'},
        {"terminated-pod-gc-threshold", required_argument, NULL, 't'},
        {"leader-elect", optional_argument, NULL, 'l'},
        {"leader-elect-identity", required_argument, NULL, 'i'},
        {"leader-elect-lease-duration", required_argument, NULL, 'L'},
        {"leader-elect-renew-deadline", required_argument, NULL, 'R'},
        {"leader-elect-retry-period", required_argument, NULL, 'P'},
        {"allocate-node-cidrs", optional_argument, NULL, 'A'},
        {"cluster-cidr", required_argument, NULL, 'c'},
        {"node-cidr-mask-size", required_argument, NULL, 'm'},
        {"v", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "+v:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': kubeconfig = optarg; break;
        case 's': server = optarg; break;
        case 'w':
            if ((v = parse_count(optarg)) <= 0 || v > 256)
                return usage("--workers wants a count from 1 to 256, got", optarg);
            o.workers = (unsigned)v;
            break;
        case 'g':
            if ((v = clock_parse_seconds(optarg)) <= 0 || v > 86400)
                return usage("--node-monitor-grace-period wants a duration like 40s, got", optarg);
            o.node_monitor_grace_seconds = (unsigned)v;
            break;
        case 't':
            if ((v = parse_count(optarg)) <= 0 || v > 10000000)
                return usage("--terminated-pod-gc-threshold wants a positive count, got", optarg);
            o.terminated_pod_gc_threshold = (unsigned)v;
            break;
        case 'l':
            if ((v = parse_bool(optarg)) < 0)
                return usage("--leader-elect wants true or false, got", optarg);
            o.no_leader_elect = v == 0;
            break;
        case 'i': o.identity = optarg; break;
        case 'L':
            if ((v = clock_parse_seconds(optarg)) <= 0 || v > 3600)
                return usage("--leader-elect-lease-duration wants a duration like 15s, got",
                             optarg);
            o.lease_duration_seconds = (unsigned)v;
            break;
        case 'R':
            if ((v = clock_parse_seconds(optarg)) <= 0 || v > 3600)
                return usage("--leader-elect-renew-deadline wants a duration like 10s, got",
                             optarg);
            o.renew_deadline_seconds = (unsigned)v;
            break;
        case 'P':
            if ((v = clock_parse_seconds(optarg)) <= 0 || v > 3600)
                return usage("--leader-elect-retry-period wants a duration like 2s, got", optarg);
            o.retry_period_ms = (unsigned)v * 1000;
            break;
        case 'A':
            if ((v = parse_bool(optarg)) < 0)
                return usage("--allocate-node-cidrs wants true or false, got", optarg);
            o.no_allocate_node_cidrs = v == 0;
            break;
        case 'c': o.cluster_cidr = optarg; break;
        case 'm':
            if ((v = parse_count(optarg)) <= 0 || v > 32)
                return usage("--node-cidr-mask-size wants a prefix length, got", optarg);
            o.node_cidr_mask_size = (unsigned)v;
            break;
        case 'v': log_set_verbosity(atoi(optarg)); break;
        case 'h': printf("%s\n", USAGE); return 0;
        default: return usage("unknown or incomplete flag", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("unexpected argument", argv[optind]);
    if (kubeconfig == NULL)
        return usage("missing flag", "--kubeconfig");
    _cleanup_err_ struct k8c_err *err = NULL;
    if (controllers_node_cidr_check(o.cluster_cidr ? o.cluster_cidr : CTL_CLUSTER_CIDR_DEFAULT,
                                    o.node_cidr_mask_size ? o.node_cidr_mask_size : 24, &err) < 0) {
        fprintf(stderr, "k8c: controller-manager: %s\n", err->msg);
        return 2;
    }
    struct client_config cfg = {0};
    if (client_config_load(kubeconfig, &cfg, &err) < 0) {
        _cleanup_free_ char *t = k8c_err_text(err);
        fprintf(stderr, "k8c: controller-manager: %s\n", t);
        return 1;
    }
    if (server != NULL) { /* several API servers: the client fails over between them */
        free(cfg.server);
        cfg.server = xstrdup(server);
    }
    struct client *client = client_new(&cfg, &err);
    client_config_clear(&cfg);
    if (client == NULL) {
        _cleanup_free_ char *t = k8c_err_text(err);
        fprintf(stderr, "k8c: controller-manager: %s\n", t);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct run_args *a = xcalloc(1, sizeof(*a));
    a->client = client;
    a->opts = o;
    atomic_init(&a->stop, false);
    pthread_t t;
    if (pthread_create(&t, NULL, run_main, a) != 0) {
        fprintf(stderr, "k8c: controller-manager: cannot start a thread\n");
        client_free(client);
        free(a);
        return 1;
    }
    LOG_INFO("controller-manager started kubeconfig=%s leader-elect=%s", kubeconfig,
             o.no_leader_elect ? "false" : "true");
    fflush(stderr);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    atomic_store(&a->stop, true);
    pthread_join(t, NULL);
    int rc = 0;
    if (a->rc < 0) {
        _cleanup_free_ char *text = k8c_err_text(a->err);
        fprintf(stderr, "k8c: controller-manager: %s\n", text);
        rc = 1;
    }
    k8c_err_free(a->err);
    free(a);
    client_free(client);
    LOG_INFO("controller-manager stopped");
    return rc;
}
