/* The agent's life, shared by `k8c agent` and `k8c server`: checks, the image store, then its
 * threads: Node registration, the Lease and node-status loop, one pod informer
 * (spec.nodeName=<node>) feeding a work queue served by the pod workers, the Event recorder,
 * a 1 s resync of our pods, and the logs/exec endpoint. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/internal.h"
#include "agent/network.h"
#include "agent/probe.h"
#include "api/defaults.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

void agent_config_init(struct agent_config *cfg)
{
    *cfg = (struct agent_config){.node_ip = "127.0.0.1",
                                 .data_dir = "/var/lib/k8c",
                                 .runtime = "builtin",
                                 .port = 10250,
                                 .workers = AGENT_DEFAULT_WORKERS,
                                 .max_pods = 110,
                                 .cluster_cidr = AGENT_CLUSTER_CIDR_DEFAULT,
                                 .log_max_size = 10 << 20,
                                 .log_max_files = 5,
                                 .cluster_dns = API_CLUSTER_DNS_IP,
                                 .cluster_domain = "cluster.local",
                                 .resolv_conf = "/etc/resolv.conf"};
}

char *agent_unsupported(const char *runtime)
{
    if (runtime && strcmp(runtime, "fake") == 0)
        return NULL;
    if (geteuid() != 0)
        return xstrdup("running pods needs root (namespaces, mounts, cgroups)");
    /* A pod sandbox is network, IPC and UTS namespaces and each container a mount namespace:
     * try them in a child (inside some containers the kernel refuses them). */
    pid_t pid = fork();
    if (pid < 0)
        return xasprintf("fork: %s", strerror(errno));
    if (pid == 0)
        _exit(unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) == 0 ? 0 : 1);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return xstrdup("this process cannot create namespaces (unshare refused)");
    return NULL;
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

/* Every this many seconds the heap's free pages go back to the system (malloc_trim). */
#define AGENT_TRIM_EVERY_S 2

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
    if (strcmp(name, "builtin") == 0 || strcmp(name, "fake") == 0)
        return xstrdup(name);
    const char *dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                          "/usr/bin",        "/sbin",          "/bin"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return steal_ptr(&p);
    }
    return NULL;
}

/* The small static shim program the build embeds (Makefile: k8c-shim, shim_main.c). */
extern const char k8c_shim_blob[], k8c_shim_blob_end[];

/* Writes the embedded shim to <data-dir>/bin/k8c-shim unless it is there already (running
 * shims of an older build keep their own file: the new one replaces it by rename). Returns
 * its path, or NULL (then `k8c shim` is used: slower to start, same behaviour). */
static char *install_shim(const char *data_dir)
{
    size_t len = (size_t)(k8c_shim_blob_end - k8c_shim_blob);
    _cleanup_free_ char *dir = xasprintf("%s/bin", data_dir);
    char *path = xasprintf("%s/k8c-shim", dir);
    size_t have_len = 0;
    _cleanup_free_ char *have = file_read_all(path, len + 1, &have_len, NULL);
    if (have && have_len == len && memcmp(have, k8c_shim_blob, len) == 0 && access(path, X_OK) == 0)
        return path;
    _cleanup_err_ struct k8c_err *err = NULL;
    if (len == 0 || file_mkdir_p(dir, 0755, &err) < 0 ||
        file_write_atomic(path, k8c_shim_blob, len, 0755, &err) < 0) {
        LOG_WARN("shim not installed (%s): containers use `k8c shim`",
                 err ? err->msg : "not built in");
        free(path);
        return NULL;
    }
    return path;
}

static bool sleep_ms(const atomic_bool *stop, unsigned ms)
{
    for (unsigned left = ms; left > 0 && !atomic_load(stop);) {
        unsigned d = left > 100 ? 100 : left;
        struct timespec ts = {0, (long)d * 1000000L};
        nanosleep(&ts, NULL);
        left -= d;
    }
    return !atomic_load(stop);
}

/* Registration (retried while the API server comes up), then the threads until stop. */
static int agent_loop(struct agent *a, unsigned n_workers, struct k8c_err **err)
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
        if (attempt > 600 || !sleep_ms(a->stop, attempt < 20 ? 50 : 500))
            break;
    }
    if (rc < 0) {
        agent__http_stop(a);
        if (!*err)
            k8c_err_set(err, 0, K8C_REASON_INTERNAL, "stopped before the node was registered");
        return -1;
    }
    LOG_INFO("node registered node=%s agent-url=%s runtime=%s", a->node_name, a->agent_url,
             a->runtime);
    a->queue = workqueue_new(200, 10000);
    if (agent__net_start(a, err) < 0) {
        agent__net_stop(a);
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
        .transform = informer_strip_managed_fields,
    };
    a->informer = informer_new(a->client, &opts);
    pthread_t *workers = xcalloc(n_workers, sizeof(*workers));
    pthread_t lease;
    agent__events_start(a);
    agent__notify_start(a);
    rc = informer_start(a->informer, err);
    if (rc == 0 && informer_wait_synced(a->informer, 60000))
        agent__orphans_cleanup(a);
    if (rc == 0)
        rc = agent__dns_start(a, err);
    if (rc == 0) {
        for (unsigned t = 0; t < n_workers; t++)
            pthread_create(&workers[t], NULL, worker, a);
        pthread_create(&lease, NULL, agent__lease_main, a);
        LOG_INFO("node ready node=%s workers=%u", a->node_name, n_workers);
        for (unsigned tick = 1; sleep_ms(a->stop, 1000); tick++) {
            resync(a);
            /* return the free pages a burst of pod starts left in the heap (glibc keeps
             * them: only the top of the main heap shrinks by itself) */
            if (tick % AGENT_TRIM_EVERY_S == 0)
                malloc_trim(0);
        }
        pthread_join(lease, NULL);
        workqueue_shutdown(a->queue);
        for (unsigned t = 0; t < n_workers; t++)
            pthread_join(workers[t], NULL);
    }
    free(workers);
    agent__prober_shutdown(a); /* after the workers: they start probes and stops */
    agent__notify_stop(a);
    agent__objwatch_free(a);
    agent__events_stop(a);
    agent__http_stop(a);
    agent__dns_stop(a);
    agent__net_stop(a);
    informer_free(a->informer);
    workqueue_free(a->queue);
    return rc;
}

static void agent_clear(struct agent *a)
{
    if (a->images)
        image_store_close(a->images);
    while (a->pods) {
        struct agent_pod *p = a->pods;
        a->pods = p->next;
        agent__pod_free(p);
    }
    free(a->node_name), free(a->node_ip), free(a->data_dir), free(a->runtime), free(a->self_exe);
    free(a->shim_exe);
    free(a->agent_url), free(a->cert_sha256);
    free(a->cluster_cidr);
    free(a->pressure);
    pthread_mutex_destroy(&a->lock);
}

int agent_run(struct client *client, const struct agent_config *cfg, const atomic_bool *stop,
              struct k8c_err **err)
{
    if (!cfg->data_dir || cfg->data_dir[0] != '/')
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "the data dir \"%s\" must be an absolute path",
                           cfg->data_dir ? cfg->data_dir : "");
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    struct agent a = {0};
    pthread_mutex_init(&a.lock, NULL);
    a.client = client;
    a.stop = stop;
    a.port = cfg->port;
    a.max_pods = cfg->max_pods ? cfg->max_pods : 110;
    a.node_name = xstrdup(cfg->node_name && *cfg->node_name ? cfg->node_name : host);
    a.node_ip = xstrdup(cfg->node_ip ? cfg->node_ip : "127.0.0.1");
    a.data_dir = xstrdup(cfg->data_dir);
    a.cluster_cidr = xstrdup(cfg->cluster_cidr ? cfg->cluster_cidr : AGENT_CLUSTER_CIDR_DEFAULT);
    a.log_max_size = cfg->log_max_size > 0 ? cfg->log_max_size : 10 << 20;
    a.log_max_files = cfg->log_max_files >= 2 ? cfg->log_max_files : 5;
    a.ca_pem = cfg->ca_pem;
    a.cluster_dns = cfg->cluster_dns ? cfg->cluster_dns : API_CLUSTER_DNS_IP;
    a.cluster_domain = cfg->cluster_domain ? cfg->cluster_domain : "cluster.local";
    a.dns_listen = cfg->dns_listen;
    a.resolv_conf = cfg->resolv_conf ? cfg->resolv_conf : "";
    a.runtime = resolve_runtime(cfg->runtime ? cfg->runtime : "builtin");
    a.fake = a.runtime && strcmp(a.runtime, "fake") == 0;
    char exe[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[el > 0 ? el : 0] = '\0';
    a.self_exe = xstrdup(exe);
    int rc = -1;
    _cleanup_free_ char *pods_dir = xasprintf("%s/pods", a.data_dir);
    if (!a.runtime) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "runtime %s not found in PATH", cfg->runtime);
    } else if (file_mkdir_p(pods_dir, 0755, err) == 0 &&
               (a.images = image_store_open(a.data_dir, err)) != NULL) {
        if (!a.fake)
            a.shim_exe = install_shim(a.data_dir);
        rc = agent_loop(&a, cfg->workers ? cfg->workers : AGENT_DEFAULT_WORKERS, err);
    }
    agent_clear(&a);
    return rc;
}
