/* The agent's Node: registration with this machine's capacity (cpu, memory, pods,
 * ephemeral-storage of the data dir), addresses, nodeInfo and the conditions (Ready,
 * MemoryPressure, DiskPressure, PIDPressure), then every 10 s the Lease renewal and the
 * pressure check (eviction.c: status and the pressure taints change at once when a condition
 * does; evict.c picks a pod under memory or disk pressure), and the heartbeat every 60 s. */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/eviction.h"
#include "agent/internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "version.h"

#define LEASE_PERIOD_NS (10ull * 1000000000ull)
#define STATUS_PERIOD_NS (60ull * 1000000000ull)

static unsigned long long mem_total_kib(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    unsigned long long kib = 0;
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

void agent__node_allocatable(const struct agent *a, int64_t out[AGENT_RES_COUNT])
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct statvfs sv;
    unsigned long long disk = 0;
    if (statvfs(a->data_dir, &sv) == 0)
        disk = (unsigned long long)sv.f_blocks * sv.f_frsize;
    out[AGENT_RES_PODS] = a->max_pods;
    out[AGENT_RES_CPU] = (cpus > 0 ? cpus : 1) * 1000;
    out[AGENT_RES_MEMORY] = (int64_t)mem_total_kib() * 1024;
    out[AGENT_RES_EPHEMERAL] = (int64_t)disk;
}

static json_t *node_status(const struct agent *a)
{
    int64_t alloc[AGENT_RES_COUNT];
    agent__node_allocatable(a, alloc);
    char cpu[32], mem[32], eph[32];
    snprintf(cpu, sizeof(cpu), "%lld", (long long)alloc[AGENT_RES_CPU] / 1000);
    snprintf(mem, sizeof(mem), "%lldKi", (long long)alloc[AGENT_RES_MEMORY] / 1024);
    snprintf(eph, sizeof(eph), "%lld", (long long)alloc[AGENT_RES_EPHEMERAL]);
    struct utsname u;
    uname(&u);
    const char *arch = strcmp(u.machine, "x86_64") == 0    ? "amd64"
                       : strcmp(u.machine, "aarch64") == 0 ? "arm64"
                                                           : u.machine;
    _cleanup_free_ char *rt = xasprintf("k8c-%s://%s", a->runtime, K8C_VERSION);
    char pods[16];
    snprintf(pods, sizeof(pods), "%lld", (long long)alloc[AGENT_RES_PODS]);
    json_t *res = json_pack("{s:s,s:s,s:s,s:s}", "cpu", cpu, "memory", mem, "pods", pods,
                            "ephemeral-storage", eph);
    return json_pack("{s:O,s:o,s:o,s:[{s:s,s:s},{s:s,s:s}],s:{s:s,s:s,s:s,s:s,s:s,"
                     "s:s,s:s},s:{s:{s:i}}}",
                     "capacity", res, "allocatable", res, "conditions",
                     agent_node_conditions(a->pressure, time(NULL)), "addresses", "type",
                     "InternalIP", "address", a->node_ip, "type", "Hostname", "address",
                     a->node_name, "nodeInfo", "kubeletVersion", AGENT_KUBELET_VERSION,
                     "kubeProxyVersion", AGENT_KUBELET_VERSION, "operatingSystem", "linux",
                     "architecture", arch, "containerRuntimeVersion", rt, "osImage", "k8c node",
                     "kernelVersion", u.release, "daemonEndpoints", "kubeletEndpoint", "Port",
                     a->port);
}

static int patch_status(struct agent *a, struct k8c_err **err)
{
    _cleanup_free_ char *path = xasprintf("/api/v1/nodes/%s/status", a->node_name);
    _cleanup_json_ json_t *patch = json_pack("{s:o}", "status", node_status(a));
    _cleanup_json_ json_t *res = client_patch(a->client, path, "merge", patch, err);
    return res ? 0 : k8c_err_wrap(err, "report status of node `%s`", a->node_name);
}

/* Brings the pressure taints in line with the conditions (Kubernetes' node lifecycle
 * controller does this from the conditions; the agent does it with the condition change so
 * the scheduler sees both at once). Other taints are kept; a conflict retries next check. */
static void sync_taints(struct agent *a)
{
    _cleanup_free_ char *path = xasprintf("/api/v1/nodes/%s", a->node_name);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *node = client_get(a->client, path, &err);
    if (!node) {
        LOG_WARN("%s", err->msg);
        return;
    }
    _cleanup_json_ json_t *next =
        agent_pressure_taints(kjson_path(node, "spec.taints"), a->pressure);
    if (!next)
        return;
    _cleanup_json_ json_t *patch = json_pack(
        "{s:{s:O},s:{s:s}}", "spec", "taints", json_array_size(next) ? next : json_null(),
        "metadata", "resourceVersion", kjson_path_str(node, "metadata.resourceVersion") ?: "");
    _cleanup_json_ json_t *r = client_patch(a->client, path, "merge", patch, &err);
    if (!r)
        LOG_WARN("update the pressure taints of node `%s`: %s", a->node_name, err->msg);
}

/* The pressure check: readings, conditions (reported at once when one changes), taints,
 * and under memory or disk pressure one pod evicted. */
static void pressure_check(struct agent *a, bool force_report)
{
    struct agent_readings r;
    agent_readings_take(a->data_dir, &r);
    unsigned breached = agent_signals_breached(&r);
    bool changed = agent_pressure_update(a->pressure, breached, clock_mono_ns(), time(NULL));
    if (changed || force_report) {
        _cleanup_err_ struct k8c_err *err = NULL;
        if (changed)
            LOG_INFO("node %s conditions: MemoryPressure=%d DiskPressure=%d PIDPressure=%d",
                     a->node_name, a->pressure->status[AGENT_COND_MEMORY],
                     a->pressure->status[AGENT_COND_DISK], a->pressure->status[AGENT_COND_PID]);
        if (patch_status(a, &err) < 0)
            LOG_WARN("%s", err->msg);
        sync_taints(a);
    }
    if (breached && a->queue)
        agent__evict_pick(a, breached, &r);
}

int agent__node_register(struct agent *a, struct k8c_err **err)
{
    if (!a->pressure) {
        a->pressure = xcalloc(1, sizeof(*a->pressure));
        struct agent_readings r;
        agent_readings_take(a->data_dir, &r);
        agent_pressure_update(a->pressure, agent_signals_breached(&r), clock_mono_ns(), time(NULL));
    }
    json_t *labels = json_pack("{s:s,s:s,s:s}", "kubernetes.io/hostname", a->node_name,
                               "kubernetes.io/os", "linux", "beta.kubernetes.io/os", "linux");
    _cleanup_json_ json_t *node = json_pack(
        "{s:s,s:s,s:{s:s,s:o,s:{s:s,s:s}},s:{}}", "apiVersion", "v1", "kind", "Node", "metadata",
        "name", a->node_name, "labels", labels, "annotations", "k8c.io/agent-url", a->agent_url,
        "k8c.io/agent-cert-sha256", a->cert_sha256 ? a->cert_sha256 : "", "spec");
    _cleanup_err_ struct k8c_err *cerr = NULL;
    _cleanup_json_ json_t *created = client_create(a->client, "/api/v1/nodes", node, &cerr);
    if (created == NULL) {
        if (cerr->reason != K8C_REASON_ALREADY_EXISTS) {
            *err = steal_ptr(&cerr);
            return k8c_err_wrap(err, "register node `%s`", a->node_name);
        }
        /* re-registration: keep the object, refresh the annotation (our URL may differ) */
        _cleanup_free_ char *path = xasprintf("/api/v1/nodes/%s", a->node_name);
        _cleanup_json_ json_t *p = json_pack(
            "{s:{s:{s:s,s:s}}}", "metadata", "annotations", "k8c.io/agent-url", a->agent_url,
            "k8c.io/agent-cert-sha256", a->cert_sha256 ? a->cert_sha256 : "");
        _cleanup_json_ json_t *r = client_patch(a->client, path, "merge", p, err);
        if (r == NULL)
            return k8c_err_wrap(err, "update node `%s`", a->node_name);
    }
    if (patch_status(a, err) < 0)
        return -1;
    sync_taints(a); /* pressure taints a previous run left */
    return client_node_lease_renew(a->client, a->node_name, 40, err);
}

static bool sleep_until(const atomic_bool *stop, uint64_t at)
{
    while (!atomic_load(stop)) {
        uint64_t now = clock_mono_ns();
        if (now >= at)
            return true;
        uint64_t d = at - now;
        if (d > 200000000u)
            d = 200000000u;
        struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
        nanosleep(&ts, NULL);
    }
    return false;
}

void *agent__lease_main(void *opaque)
{
    struct agent *a = opaque;
    uint64_t next = clock_mono_ns() + LEASE_PERIOD_NS, next_status = next + STATUS_PERIOD_NS;
    while (sleep_until(a->stop, next)) {
        _cleanup_err_ struct k8c_err *err = NULL;
        if (client_node_lease_renew(a->client, a->node_name, 40, &err) < 0)
            LOG_WARN("%s", err->msg);
        bool heartbeat = clock_mono_ns() >= next_status;
        pressure_check(a, heartbeat);
        if (heartbeat)
            next_status += STATUS_PERIOD_NS;
        next += LEASE_PERIOD_NS;
    }
    return NULL;
}
