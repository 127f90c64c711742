/* k8c: one binary, many commands. This file only dispatches: each command's flags and work
 * live in its module (CLI verbs stay thin). Usage errors exit 2, failures exit 1, both after
 * one line on stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "apiserver/apiserver.h"
#include "base/err.h"
#include "base/mem.h"
#include "controllers/controllers.h"
#include "scheduler/scheduler.h"
#include "server/server.h"
#include "store/store.h"
#include "runtime/runtime.h"
#include "image/image.h"
#include "net/net.h"
#include "version.h"

#define DEFAULT_DATA_DIR "/var/lib/k8c"

struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_kubectl(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"server", server_cli_main, "run the control plane (API server, scheduler, controllers)"},
    {"agent", agent_cli_main, "run the node agent: register the Node, run its pods"},
    {"kubectl", cmd_kubectl, "run kubectl with the admin kubeconfig of --data-dir"},
    {"store", store_cli_main, "inspect, compact and check the store file of --data-dir"},
    {"runtime", runtime_cli_main, "the OCI container runtime (crun/runc command line)"},
    {"image", image_cli_main, "pull, import, export, list and remove images"},
    {"controller-manager", controllers_cli_main, "run the controllers against --kubeconfig"},
    {"scheduler", scheduler_cli_main, "run the scheduler against --kubeconfig's API server"},
    {"hollow", scheduler_hollow_main, "run N simulated nodes (register, leases, pods Running)"},
    {"version", cmd_version, "print the version and the git commit"},
    {"help", cmd_help, "show this help"},
    /* Hidden (no summary): internal entry points other commands and tests run. */
    {"shim", agent_shim_main, NULL},  /* the agent's per-container monitor */
    {"net-test", net_cli_main, NULL}, /* drives src/net in the lab tests */
    /* NetworkPolicy rules from API objects, in the lab tests */
    {"netpol-test", agent_netpol_test_main, NULL},
};

static void print_usage(FILE *out)
{
    fprintf(out, "k8c %s: a Kubernetes-compatible container orchestrator in one binary\n\n",
            K8C_VERSION);
    fprintf(out, "usage: k8c <command> [flags]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (commands[i].summary)
            fprintf(out, "  %-19s %s\n", commands[i].name, commands[i].summary);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "k8c: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'k8c --help')\n");
    va_end(ap);
    return 2;
}

static int cmd_help(int argc, char **argv)
{
    print_usage(stdout);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1)
        return usage_error("version: unexpected argument \"%s\"", argv[1]);
    printf("k8c version %s\ngit commit: %s\nkubernetes api: v%s.%s\n", K8C_VERSION, K8C_GIT_COMMIT,
           K8C_KUBE_MAJOR, K8C_KUBE_MINOR);
    return 0;
}

/* k8c kubectl [--data-dir DIR] ARGS...: execs the machine's kubectl with the admin
 * kubeconfig the server wrote into DIR. */
static int cmd_kubectl(int argc, char **argv)
{
    const char *data_dir = getenv("K8C_DATA_DIR") ? getenv("K8C_DATA_DIR") : DEFAULT_DATA_DIR;
    int first = 1;
    if (argc > 1 && strncmp(argv[1], "--data-dir", 10) == 0) {
        if (argv[1][10] == '=') {
            data_dir = argv[1] + 11;
            first = 2;
        } else if (argv[1][10] == '\0') {
            if (argc < 3)
                return usage_error("kubectl: flag --data-dir needs a value");
            data_dir = argv[2];
            first = 3;
        }
    }
    _cleanup_free_ char *kubeconfig = xasprintf("%s/admin.kubeconfig", data_dir);
    if (access(kubeconfig, R_OK) < 0) {
        fprintf(stderr,
                "k8c: kubectl: cannot read `%s`: %s (is `k8c server --data-dir %s` running?)\n",
                kubeconfig, strerror(errno), data_dir);
        return 1;
    }
    char **args = xcalloc((size_t)(argc - first) + 4, sizeof(char *));
    size_t n = 0;
    args[n++] = "kubectl";
    args[n++] = "--kubeconfig";
    args[n++] = kubeconfig;
    for (int i = first; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    execvp("kubectl", args);
    fprintf(stderr, "k8c: kubectl: cannot run `kubectl`: %s\n", strerror(errno));
    free(args);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(name, "--version") == 0)
        return cmd_version(1, argv + 1);
    if (name[0] == '-')
        return usage_error("unknown flag \"%s\"", name);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return usage_error("unknown command \"%s\"", name);
}
