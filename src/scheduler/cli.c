/* `k8c scheduler` and the flag parsing it shares with `k8c hollow`: flags here, work in
 * loop.c and hollow.c. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "scheduler/internal.h"
#include "scheduler/scheduler.h"

static atomic_bool cli_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&cli_stop, true);
}

const atomic_bool *scheduler__stop_on_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &cli_stop;
}

int scheduler__usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "k8c: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'k8c %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int scheduler__flag(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

int scheduler__parse_uint(const char *s, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

struct client *scheduler__client_from(const char *cmd, const char *kubeconfig, const char *server)
{
    struct client_config cfg = {0};
    _cleanup_err_ struct k8c_err *err = NULL;
    if (client_config_load(kubeconfig, &cfg, &err) < 0) {
        _cleanup_free_ char *text = k8c_err_text(err);
        fprintf(stderr, "k8c: %s: %s\n", cmd, text);
        return NULL;
    }
    if (server != NULL) { /* several API servers: the client fails over between them */
        free(cfg.server);
        cfg.server = xstrdup(server);
    }
    struct client *c = client_new(&cfg, &err);
    client_config_clear(&cfg);
    if (c == NULL) {
        _cleanup_free_ char *text = k8c_err_text(err);
        fprintf(stderr, "k8c: %s: %s\n", cmd, text);
    }
    return c;
}

/* A leader-election duration flag's value (1s to 1h) times scale into *out. */
static int duration(const char *value, unsigned scale, unsigned *out)
{
    long v = clock_parse_seconds(value);
    if (v <= 0 || v > 3600)
        return -1;
    *out = (unsigned)v * scale;
    return 0;
}

static void scheduler_help(void)
{
    printf("usage: k8c scheduler --kubeconfig FILE [flags]\n\n"
           "Places pending pods on nodes (kube-scheduler's default profile).\n\n"
           "  --kubeconfig FILE                   how to reach the API server (required)\n"
           "  --server URL[,URL...]               API servers to use instead of the "
           "kubeconfig's\n"
           "                                      (the client fails over between them)\n"
           "  --leader-elect=true|false           act only while holding the Lease\n"
           "                                      kube-system/k8c-scheduler (default true)\n"
           "  --leader-elect-lease-duration D     (15s) --leader-elect-renew-deadline D "
           "(10s)\n"
           "  --leader-elect-retry-period D       (2s)\n"
           "  --percentage-of-nodes-to-score N    0-100; 0 (default) adapts to the cluster\n"
           "  --scheduler-name NAME               spec.schedulerName served "
           "(default-scheduler)\n"
           "  --binders N                         parallel binding threads (default 8)\n"
           "  --no-scheduled-events               skip the Normal Scheduled events\n"
           "  -v N                                log verbosity\n");
}

int scheduler_cli_main(int argc, char **argv)
{
    const char *cmd = "scheduler";
    const char *kubeconfig = NULL, *server = NULL, *value = NULL;
    struct scheduler_options opts = {.leader_elect = true};
    for (int i = 1; i < argc; i++) {
        int r;
        long n;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            scheduler_help();
            return 0;
        } else if ((r = scheduler__flag(argc, argv, &i, "--kubeconfig", &value)) != 0) {
            if (r < 0)
                return scheduler__usage(cmd, "flag --kubeconfig needs a value");
            kubeconfig = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--server", &value)) != 0) {
            if (r < 0 || *value == '\0')
                return scheduler__usage(cmd, "flag --server needs a value");
            server = value;
        } else if (strcmp(argv[i], "--leader-elect") == 0 ||
                   strcmp(argv[i], "--leader-elect=true") == 0) {
            opts.leader_elect = true;
        } else if (strcmp(argv[i], "--leader-elect=false") == 0) {
            opts.leader_elect = false;
        } else if ((r = scheduler__flag(argc, argv, &i, "--leader-elect-lease-duration", &value)) !=
                   0) {
            if (r < 0 || duration(value, 1, &opts.lease_duration_seconds) < 0)
                return scheduler__usage(cmd, "--leader-elect-lease-duration wants a duration "
                                             "like 15s");
        } else if ((r = scheduler__flag(argc, argv, &i, "--leader-elect-renew-deadline", &value)) !=
                   0) {
            if (r < 0 || duration(value, 1, &opts.renew_deadline_seconds) < 0)
                return scheduler__usage(cmd, "--leader-elect-renew-deadline wants a duration "
                                             "like 10s");
        } else if ((r = scheduler__flag(argc, argv, &i, "--leader-elect-retry-period", &value)) !=
                   0) {
            if (r < 0 || duration(value, 1000, &opts.retry_period_ms) < 0)
                return scheduler__usage(cmd, "--leader-elect-retry-period wants a duration "
                                             "like 2s");
        } else if ((r = scheduler__flag(argc, argv, &i, "--percentage-of-nodes-to-score",
                                        &value)) != 0) {
            if (r < 0 || scheduler__parse_uint(value, 100, &n) < 0)
                return scheduler__usage(cmd, "--percentage-of-nodes-to-score wants 0 to 100");
            opts.percentage_of_nodes_to_score = (int)n;
        } else if ((r = scheduler__flag(argc, argv, &i, "--scheduler-name", &value)) != 0) {
            if (r < 0 || *value == '\0')
                return scheduler__usage(cmd, "flag --scheduler-name needs a value");
            opts.scheduler_name = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--binders", &value)) != 0) {
            if (r < 0 || scheduler__parse_uint(value, 32, &n) < 0 || n == 0)
                return scheduler__usage(cmd, "--binders wants 1 to 32");
            opts.binders = (unsigned)n;
        } else if (strcmp(argv[i], "--no-scheduled-events") == 0) {
            opts.no_scheduled_events = true;
        } else if ((r = scheduler__flag(argc, argv, &i, "-v", &value)) != 0) {
            if (r < 0 || scheduler__parse_uint(value, 10, &n) < 0)
                return scheduler__usage(cmd, "-v wants a number from 0 to 10");
            log_set_verbosity((int)n);
        } else {
            return scheduler__usage(cmd, "unknown argument \"%s\"", argv[i]);
        }
    }
    if (kubeconfig == NULL)
        return scheduler__usage(cmd, "flag --kubeconfig is required");
    struct client *c = scheduler__client_from(cmd, kubeconfig, server);
    if (c == NULL)
        return 1;
    const atomic_bool *stop = scheduler__stop_on_signals();
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = scheduler_run(c, &opts, stop, NULL, &err);
    client_free(c);
    if (rc < 0) {
        _cleanup_free_ char *text = k8c_err_text(err);
        fprintf(stderr, "k8c: scheduler: %s\n", text);
        return 1;
    }
    return 0;
}
