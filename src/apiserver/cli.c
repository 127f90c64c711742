/* `k8c server`: opens the store, starts the API server in the foreground and runs until
 * SIGINT or SIGTERM. The embedded node agent, scheduler and controllers are not built yet;
 * the start-up log says so instead of pretending. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"

#define DEFAULT_DATA_DIR "/var/lib/k8c"
#define DEFAULT_LISTEN "127.0.0.1:6443"

static int usage(const char *what, const char *arg)
{
    fprintf(stderr, "k8c: server: %s \"%s\"", what, arg);
    fprintf(
        stderr,
        " (usage: k8c server [--data-dir DIR] [--listen ADDR:PORT] [--store URL] "
        "[--no-agent] [--max-requests-inflight N] [--max-mutating-requests-inflight N] [-v N])\n");
    return 2;
}

int apiserver_cli_main(int argc, char **argv)
{
    const char *data_dir = DEFAULT_DATA_DIR;
    const char *listen = DEFAULT_LISTEN;
    const char *store_url = NULL;
    bool no_agent = false;
    unsigned long max_ro = 0, max_mut = 0;
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"store", required_argument, NULL, 's'},
        {"no-agent", no_argument, NULL, 'n'},
        {"v", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"max-requests-inflight", required_argument, NULL, 'r'},
        {"max-mutating-requests-inflight", required_argument, NULL, 'm'},
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
        case 'h':
            printf("usage: k8c server [--data-dir DIR] [--listen ADDR:PORT] [--store URL] "
                   "[--no-agent] [--max-requests-inflight N (400)] "
                   "[--max-mutating-requests-inflight N (200)] [-v N]\n");
            return 0;
        default: return usage("unknown or incomplete flag", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("unexpected argument", argv[optind]);
    _cleanup_err_ struct k8c_err *err = NULL;
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
    /* The watch window serves watches that resume from an older revision (kubectl and
     * informers resume from the last event they saw, seconds old): 20,000 events or 64 MiB
     * is minutes of history at this scale and bounds the server's memory below the store's
     * default (100,000 events / 256 MiB). */
    struct store_options sopts = {.watch_window_events = 20000,
                                  .watch_window_bytes = 64u * 1024 * 1024};
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
                                   .max_mutating_inflight = (unsigned)max_mut};
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
    if (no_agent)
        LOG_INFO("node agent disabled by --no-agent");
    else
        LOG_INFO("node agent, scheduler and controllers are not built yet: this server stores "
                 "and serves objects, nothing runs pods");
    fflush(stderr);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    LOG_INFO("shutting down signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    apiserver_stop(srv);
    store_close(st);
    LOG_INFO("stopped");
    return 0;
}
