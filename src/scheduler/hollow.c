/* `k8c hollow`: N simulated nodes in one process, the kubemark of k8c. It registers Node
 * objects (capacity, allocatable, Ready, kubelet v1.32.0-k8c), renews one Lease per node in
 * kube-node-lease every 10 s (spread evenly over the period, so 5,000 nodes make a steady
 * 500 writes/s rather than bursts), and watches pods bound to any of its nodes through ONE
 * informer, reporting them Running and Ready with a pod IP at once; no containers run.
 * Pods being deleted are finalized (grace period 0), as a kubelet does after stopping them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "scheduler/internal.h"
#include "scheduler/scheduler.h"

#define LEASE_PERIOD_NS (10ull * 1000000000ull)
#define LEASE_DURATION_S 40
#define LEASE_THREADS 2
#define REGISTER_THREADS 4
#define POD_WORKERS 4
#define KUBELET_VERSION "v1.32.0-k8c"
#define LEASE_NS "kube-node-lease"

struct hollow {
    struct client *client;
    const atomic_bool *stop;
    long n_nodes;
    const char *prefix, *cpu, *memory, *pods;
    char **zones;
    size_t n_zones;
    json_t *names; /* node name -> index */
    struct informer *informer;
    struct workqueue *queue;
    atomic_uint pod_seq;
    atomic_long registered;
    atomic_int failures;
    bool no_pod_status; /* accept pods but write nothing (scheduler benchmarks) */
};

static char *node_name(const struct hollow *h, long i)
{
    return xasprintf("%s%ld", h->prefix, i);
}

static void node_ip(long i, char out[32])
{
    snprintf(out, 32, "10.128.%ld.%ld", (i / 250) % 250, i % 250 + 1);
}

static json_t *node_status(const struct hollow *h, long i)
{
    char stamp[21], ip[32];
    clock_rfc3339(time(NULL), stamp);
    node_ip(i, ip);
    _cleanup_free_ char *name = node_name(h, i);
    json_t *res = json_pack("{s:s,s:s,s:s,s:s}", "cpu", h->cpu, "memory", h->memory, "pods",
                            h->pods, "ephemeral-storage", "100Gi");
    return json_pack(
        "{s:O,s:o,s:[{s:s,s:s,s:s,s:s,s:s,s:s}],s:[{s:s,s:s},{s:s,s:s}],s:{s:s,s:s,s:s,s:s,s:s,"
        "s:s,s:s},s:{s:{s:i}}}",
        "capacity", res, "allocatable", res, "conditions", "type", "Ready", "status", "True",
        "reason", "KubeletReady", "message", "kubelet is posting ready status", "lastHeartbeatTime",
        stamp, "lastTransitionTime", stamp, "addresses", "type", "InternalIP", "address", ip,
        "type", "Hostname", "address", name, "nodeInfo", "kubeletVersion", KUBELET_VERSION,
        "kubeProxyVersion", KUBELET_VERSION, "operatingSystem", "linux", "architecture", "amd64",
        "containerRuntimeVersion", "hollow://1.0", "osImage", "k8c hollow node", "kernelVersion",
        "hollow", "daemonEndpoints", "kubeletEndpoint", "Port", 10250);
}

static json_t *node_object(const struct hollow *h, long i)
{
    _cleanup_free_ char *name = node_name(h, i);
    json_t *labels = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kubernetes.io/hostname", name,
                               "kubernetes.io/os", "linux", "kubernetes.io/arch", "amd64",
                               "beta.kubernetes.io/os", "linux", "node.k8c.io/hollow", "true");
    if (h->n_zones > 0)
        json_object_set_new(labels, "topology.kubernetes.io/zone",
                            json_string(h->zones[(size_t)i % h->n_zones]));
    return json_pack("{s:s,s:s,s:{s:s,s:o},s:{},s:o}", "apiVersion", "v1", "kind", "Node",
                     "metadata", "name", name, "labels", labels, "spec", "status",
                     node_status(h, i));
}

/* Creates node i (or re-asserts the status of an existing one) and its Lease. */
static int register_node(struct hollow *h, long i, struct k8c_err **err)
{
    _cleanup_json_ json_t *node = node_object(h, i);
    _cleanup_free_ char *name = node_name(h, i);
    _cleanup_err_ struct k8c_err *cerr = NULL;
    _cleanup_json_ json_t *created = client_create(h->client, "/api/v1/nodes", node, &cerr);
    bool need_status = created == NULL || kjson_path(created, "status.allocatable") == NULL;
    if (created == NULL && cerr->reason != K8C_REASON_ALREADY_EXISTS) {
        *err = steal_ptr(&cerr);
        return k8c_err_wrap(err, "register node `%s`", name);
    }
    if (need_status) {
        _cleanup_free_ char *path = xasprintf("/api/v1/nodes/%s/status", name);
        _cleanup_json_ json_t *patch = json_pack("{s:o}", "status", node_status(h, i));
        _cleanup_json_ json_t *res = client_patch(h->client, path, "merge", patch, err);
        if (res == NULL)
            return k8c_err_wrap(err, "report status of node `%s`", name);
    }
    if (client_node_lease_renew(h->client, name, LEASE_DURATION_S, err) < 0)
        return -1;
    return 0;
}

/* Sleeps until the monotonic time at (or until stopped); false when stopped. */
static bool sleep_until(const atomic_bool *stop, uint64_t at)
{
    while (!atomic_load(stop)) {
        uint64_t now = clock_mono_ns();
        if (now >= at)
            return true;
        uint64_t d = at - now;
        if (d > 200000000u)
            d = 200000000u; /* notice a stop within 0.2 s */
        struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
        nanosleep(&ts, NULL);
    }
    return false;
}

struct range {
    struct hollow *h;
    long from, to; /* [from, to) */
};

static void *register_main(void *opaque)
{
    struct range *r = opaque;
    for (long i = r->from; i < r->to && !atomic_load(r->h->stop); i++) {
        /* As a kubelet, keep trying while the API server is unreachable or busy (for up to
         * a minute); any other answer is final. */
        for (unsigned attempt = 0;; attempt++) {
            _cleanup_err_ struct k8c_err *err = NULL;
            if (register_node(r->h, i, &err) == 0)
                break;
            bool transient = err->reason == K8C_REASON_SERVICE_UNAVAILABLE ||
                             err->reason == K8C_REASON_TOO_MANY_REQUESTS ||
                             err->reason == K8C_REASON_TIMEOUT;
            if (!transient || attempt >= 120 || atomic_load(r->h->stop)) {
                LOG_ERROR("%s", err->msg);
                atomic_fetch_add(&r->h->failures, 1);
                return NULL;
            }
            LOG_DEBUG("retrying registration: %s", err->msg);
            sleep_until(r->h->stop, clock_mono_ns() + 500000000u);
        }
        atomic_fetch_add(&r->h->registered, 1);
    }
    return NULL;
}

/* Renews the leases of nodes [from, to), each at its own offset in the 10 s period. */
static void *lease_main(void *opaque)
{
    struct range *r = opaque;
    struct hollow *h = r->h;
    long n = r->to - r->from;
    if (n <= 0)
        return NULL;
    uint64_t period_start = clock_mono_ns();
    for (;;) {
        for (long k = 0; k < n; k++) {
            uint64_t at = period_start + LEASE_PERIOD_NS * (uint64_t)k / (uint64_t)n;
            if (!sleep_until(h->stop, at))
                return NULL;
            _cleanup_free_ char *name = node_name(h, r->from + k);
            _cleanup_err_ struct k8c_err *err = NULL;
            if (client_node_lease_renew(h->client, name, LEASE_DURATION_S, &err) < 0)
                LOG_DEBUG("lease renewal failed node=%s err=%s", name, err->msg);
        }
        period_start += LEASE_PERIOD_NS;
    }
}

/* ---- pods ---- */

static bool ours(struct hollow *h, const json_t *pod)
{
    const char *node = kjson_path_str(pod, "spec.nodeName");
    return node != NULL && json_object_get(h->names, node) != NULL;
}

static void enqueue(struct hollow *h, const json_t *pod)
{
    if (!ours(h, pod))
        return;
    _cleanup_free_ char *key = informer_key_of(pod);
    if (key != NULL)
        workqueue_add(h->queue, key);
}

static void on_add(json_t *obj, void *opaque)
{
    enqueue(opaque, obj);
}

static void on_update(json_t *old, json_t *obj, void *opaque)
{
    enqueue(opaque, obj);
}

static json_t *running_status(struct hollow *h, const json_t *pod)
{
    const char *node = kjson_path_str(pod, "spec.nodeName");
    long idx = (long)json_integer_value(json_object_get(h->names, node));
    char host_ip[32], stamp[21];
    node_ip(idx, host_ip);
    clock_rfc3339(time(NULL), stamp);
    unsigned seq = atomic_fetch_add(&h->pod_seq, 1);
    _cleanup_free_ char *pod_ip =
        xasprintf("10.%ld.%ld.%u", 64 + (idx / 250) % 64, idx % 250, seq % 250 + 2);
    const char *uid = kjson_path_str(pod, "metadata.uid");
    json_t *statuses = json_array();
    size_t i;
    json_t *c;
    json_array_foreach (kjson_path(pod, "spec.containers"), i, c) {
        const char *cname = json_string_value(json_object_get(c, "name"));
        const char *image = json_string_value(json_object_get(c, "image"));
        _cleanup_free_ char *cid = xasprintf("hollow://%s-%s", uid ? uid : "pod", cname);
        json_array_append_new(statuses, json_pack("{s:s,s:b,s:i,s:b,s:s,s:s,s:s,s:{s:{s:s}}}",
                                                  "name", cname ? cname : "", "ready", 1,
                                                  "restartCount", 0, "started", 1, "image",
                                                  image ? image : "", "imageID", "", "containerID",
                                                  cid, "state", "running", "startedAt", stamp));
    }
    json_t *conds = json_array();
    const char *types[] = {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                           "PodScheduled"};
    for (size_t k = 0; k < ARRAY_SIZE(types); k++)
        json_array_append_new(conds,
                              json_pack("{s:s,s:s,s:n,s:s}", "type", types[k], "status", "True",
                                        "lastProbeTime", "lastTransitionTime", stamp));
    return json_pack("{s:{s:s,s:o,s:s,s:[{s:s}],s:s,s:[{s:s}],s:s,s:o,s:s}}", "status", "phase",
                     "Running", "conditions", conds, "hostIP", host_ip, "hostIPs", "ip", host_ip,
                     "podIP", pod_ip, "podIPs", "ip", pod_ip, "startTime", stamp,
                     "containerStatuses", statuses, "qosClass", "BestEffort");
}

/* Brings one pod to what a kubelet would report. Returns 0, or -1 to retry later. */
static int sync_pod(struct hollow *h, const char *key)
{
    _cleanup_json_ json_t *pod = informer_get(h->informer, key);
    if (pod == NULL || !ours(h, pod))
        return 0;
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    const char *name = kjson_path_str(pod, "metadata.name");
    _cleanup_free_ char *path =
        xasprintf("/api/v1/namespaces/%s/pods/%s", ns ? ns : "default", name);
    _cleanup_err_ struct k8c_err *err = NULL;
    const json_t *deleting = kjson_path(pod, "metadata.deletionTimestamp");
    if (deleting != NULL && !json_is_null(deleting)) {
        /* nothing runs, so it has stopped: finalize the deletion */
        _cleanup_json_ json_t *opts = json_pack("{s:s,s:s,s:i}", "apiVersion", "v1", "kind",
                                                "DeleteOptions", "gracePeriodSeconds", 0);
        _cleanup_json_ json_t *res = client_delete(h->client, path, opts, &err);
        if (res == NULL && err->reason != K8C_REASON_NOT_FOUND) {
            LOG_DEBUG("finalizing pod failed pod=%s err=%s", key, err->msg);
            return -1;
        }
        return 0;
    }
    if (h->no_pod_status)
        return 0;
    const char *phase = kjson_path_str(pod, "status.phase");
    if (phase && strcmp(phase, "Running") == 0 && kjson_path_str(pod, "status.podIP"))
        return 0;
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
        return 0;
    _cleanup_json_ json_t *patch = running_status(h, pod);
    _cleanup_free_ char *spath = xasprintf("%s/status", path);
    _cleanup_json_ json_t *res = client_patch(h->client, spath, "merge", patch, &err);
    if (res == NULL && err->reason != K8C_REASON_NOT_FOUND) {
        LOG_DEBUG("pod status update failed pod=%s err=%s", key, err->msg);
        return -1;
    }
    return 0;
}

static void *pod_worker(void *opaque)
{
    struct hollow *h = opaque;
    char *key;
    while ((key = workqueue_get(h->queue)) != NULL) {
        if (sync_pod(h, key) < 0)
            workqueue_add_rate_limited(h->queue, key);
        else
            workqueue_forget(h->queue, key);
        workqueue_done(h->queue, key);
        free(key);
    }
    return NULL;
}

static int hollow_run(struct hollow *h, struct k8c_err **err)
{
    h->names = json_object();
    for (long i = 0; i < h->n_nodes; i++) {
        _cleanup_free_ char *name = node_name(h, i);
        json_object_set_new(h->names, name, json_integer(i));
    }
    uint64_t t0 = clock_mono_ns();
    pthread_t reg[REGISTER_THREADS];
    struct range rr[REGISTER_THREADS];
    for (int t = 0; t < REGISTER_THREADS; t++) {
        rr[t] = (struct range){h, h->n_nodes * t / REGISTER_THREADS,
                               h->n_nodes * (t + 1) / REGISTER_THREADS};
        pthread_create(&reg[t], NULL, register_main, &rr[t]);
    }
    for (int t = 0; t < REGISTER_THREADS; t++)
        pthread_join(reg[t], NULL);
    if (atomic_load(&h->failures) > 0)
        return k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE, "registered %ld of %ld nodes",
                           atomic_load(&h->registered), h->n_nodes);
    if (atomic_load(h->stop))
        return 0;
    LOG_INFO("hollow nodes registered nodes=%ld seconds=%.2f", h->n_nodes,
             (double)(clock_mono_ns() - t0) / 1e9);
    /* The pod informer (one for all nodes): bound pods only. */
    h->queue = workqueue_new(100, 10000);
    struct informer_options opts = {
        .path = "/api/v1/pods",
        .field_selector = "spec.nodeName!=",
        .handlers = {on_add, on_update, NULL, h},
    };
    h->informer = informer_new(h->client, &opts);
    pthread_t workers[POD_WORKERS], leases[LEASE_THREADS];
    struct range lr[LEASE_THREADS];
    int rc = informer_start(h->informer, err);
    if (rc == 0) {
        for (int t = 0; t < POD_WORKERS; t++)
            pthread_create(&workers[t], NULL, pod_worker, h);
        for (int t = 0; t < LEASE_THREADS; t++) {
            lr[t] = (struct range){h, h->n_nodes * t / LEASE_THREADS,
                                   h->n_nodes * (t + 1) / LEASE_THREADS};
            pthread_create(&leases[t], NULL, lease_main, &lr[t]);
        }
        printf("hollow: %ld nodes ready\n", h->n_nodes);
        fflush(stdout);
        while (!atomic_load(h->stop))
            sleep_until(h->stop, clock_mono_ns() + 1000000000u);
        for (int t = 0; t < LEASE_THREADS; t++)
            pthread_join(leases[t], NULL);
        workqueue_shutdown(h->queue);
        for (int t = 0; t < POD_WORKERS; t++)
            pthread_join(workers[t], NULL);
    }
    informer_free(h->informer);
    workqueue_free(h->queue);
    return rc;
}

static void hollow_help(void)
{
    printf("usage: k8c hollow --nodes N --kubeconfig FILE [flags]\n\n"
           "Simulated nodes: registered, leased, pods reported Running at once.\n\n"
           "  --nodes N            how many nodes (1-100000, required)\n"
           "  --kubeconfig FILE    how to reach the API server (required)\n"
           "  --server URL[,URL...] API servers instead of the kubeconfig's (fail over)\n"
           "  --name-prefix P      node names P0, P1, … (default hollow-node-)\n"
           "  --cpu Q              allocatable cpu per node (default 4)\n"
           "  --memory Q           allocatable memory per node (default 16Gi)\n"
           "  --pods N             allocatable pods per node (default 110)\n"
           "  --zones a,b,…        spread nodes over topology.kubernetes.io/zone values\n"
           "  --no-pod-status      do not report pods Running (benchmarks of the scheduler)\n"
           "  -v N                 log verbosity\n");
}

int scheduler_hollow_main(int argc, char **argv)
{
    const char *cmd = "hollow";
    const char *kubeconfig = NULL, *server = NULL, *value = NULL, *zones = NULL;
    struct hollow h = {
        .n_nodes = -1, .prefix = "hollow-node-", .cpu = "4", .memory = "16Gi", .pods = "110"};
    for (int i = 1; i < argc; i++) {
        int r;
        long n;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            hollow_help();
            return 0;
        } else if ((r = scheduler__flag(argc, argv, &i, "--nodes", &value)) != 0) {
            if (r < 0 || scheduler__parse_uint(value, 100000, &n) < 0 || n == 0)
                return scheduler__usage(cmd, "--nodes wants a number from 1 to 100000");
            h.n_nodes = n;
        } else if ((r = scheduler__flag(argc, argv, &i, "--kubeconfig", &value)) != 0) {
            if (r < 0)
                return scheduler__usage(cmd, "flag --kubeconfig needs a value");
            kubeconfig = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--server", &value)) != 0) {
            if (r < 0 || *value == '\0')
                return scheduler__usage(cmd, "flag --server needs a value");
            server = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--name-prefix", &value)) != 0) {
            if (r < 0 || *value == '\0' || strlen(value) > 200)
                return scheduler__usage(cmd, "--name-prefix needs a value");
            h.prefix = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--cpu", &value)) != 0) {
            if (r < 0)
                return scheduler__usage(cmd, "flag --cpu needs a value");
            h.cpu = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--memory", &value)) != 0) {
            if (r < 0)
                return scheduler__usage(cmd, "flag --memory needs a value");
            h.memory = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--pods", &value)) != 0) {
            if (r < 0 || scheduler__parse_uint(value, 100000, &n) < 0)
                return scheduler__usage(cmd, "--pods wants a number");
            h.pods = value;
        } else if ((r = scheduler__flag(argc, argv, &i, "--zones", &value)) != 0) {
            if (r < 0 || *value == '\0')
                return scheduler__usage(cmd, "flag --zones needs a value");
            zones = value;
        } else if (strcmp(argv[i], "--no-pod-status") == 0) {
            h.no_pod_status = true;
        } else if ((r = scheduler__flag(argc, argv, &i, "-v", &value)) != 0) {
            if (r < 0 || scheduler__parse_uint(value, 10, &n) < 0)
                return scheduler__usage(cmd, "-v wants a number from 0 to 10");
            log_set_verbosity((int)n);
        } else {
            return scheduler__usage(cmd, "unknown argument \"%s\"", argv[i]);
        }
    }
    if (h.n_nodes < 0)
        return scheduler__usage(cmd, "flag --nodes is required");
    if (kubeconfig == NULL)
        return scheduler__usage(cmd, "flag --kubeconfig is required");
    /* Refuse bad quantities here rather than as API errors on every node. */
    const char *qs[] = {h.cpu, h.memory};
    for (size_t k = 0; k < 2; k++) {
        json_t *q = json_string(qs[k]);
        int64_t v;
        _cleanup_err_ struct k8c_err *qerr = NULL;
        int bad = scheduler_quantity_parse(q, 1000, &v, &qerr);
        json_decref(q);
        if (bad < 0)
            return scheduler__usage(cmd, "--%s: %s", k == 0 ? "cpu" : "memory", qerr->msg);
    }
    _cleanup_free_ char *zcopy = zones ? xstrdup(zones) : NULL;
    for (char *save = NULL, *z = zcopy ? strtok_r(zcopy, ",", &save) : NULL; z;
         z = strtok_r(NULL, ",", &save)) {
        h.zones = xrealloc(h.zones, (h.n_zones + 1) * sizeof(char *));
        h.zones[h.n_zones++] = z;
    }
    h.client = scheduler__client_from(cmd, kubeconfig, server);
    if (h.client == NULL) {
        free(h.zones);
        return 1;
    }
    h.stop = scheduler__stop_on_signals();
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = hollow_run(&h, &err);
    json_decref(h.names);
    free(h.zones);
    client_free(h.client);
    if (rc < 0) {
        _cleanup_free_ char *text = k8c_err_text(err);
        fprintf(stderr, "k8c: hollow: %s\n", text);
        return 1;
    }
    return 0;
}
