/* Resources and QoS as kubelet does them: the pod's QoS class (Guaranteed, Burstable,
 * BestEffort), each container's cgroup limits (memory, cpu quota/period from limits, cpu
 * shares from requests), the cgroup placement by QoS (k8c/kubepods[/burstable|/besteffort]/
 * pod<uid>/<container>, as kubelet's cgroupfs driver under its own k8c root) and the removal
 * of a pod's cgroups with the parents left empty. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "base/json.h"
#include "base/mem.h"

/* A container's request for res (cpu in milli-units): the request, else the limit (the API's
 * defaulting), else 0. */
static int64_t amount(const json_t *ctr, const char *kind, const char *res)
{
    _cleanup_free_ char *path = xasprintf("resources.%s.%s", kind, res);
    const char *q = kjson_path_str(ctr, path);
    if (!q && strcmp(kind, "requests") == 0) {
        free(path);
        path = xasprintf("resources.limits.%s", res);
        q = kjson_path_str(ctr, path);
    }
    int64_t v = 0;
    if (!q || agent_quantity(q, strcmp(res, "cpu") == 0 ? 1000 : 1, &v) < 0)
        return 0;
    return v;
}

const char *agent_qos_class(const json_t *pod)
{
    /* Kubernetes' GetPodQOS over init and app containers, cpu and memory only */
    static const char *const res[] = {"cpu", "memory"};
    int64_t req[2] = {0}, lim[2] = {0};
    bool has_req[2] = {0}, has_lim[2] = {0}, guaranteed = true;
    const char *lists[] = {"spec.initContainers", "spec.containers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach (kjson_path(pod, lists[l]), i, c) {
            for (size_t r = 0; r < 2; r++) {
                int64_t q = amount(c, "requests", res[r]);
                if (q > 0) {
                    req[r] = req[r] > INT64_MAX - q ? INT64_MAX : req[r] + q;
                    has_req[r] = true;
                }
                int64_t m = amount(c, "limits", res[r]);
                if (m > 0) {
                    lim[r] = lim[r] > INT64_MAX - m ? INT64_MAX : lim[r] + m;
                    has_lim[r] = true;
                } else {
                    guaranteed = false; /* every container needs both limits */
                }
            }
        }
    }
    if (!has_req[0] && !has_req[1] && !has_lim[0] && !has_lim[1])
        return "BestEffort";
    for (size_t r = 0; r < 2 && guaranteed; r++)
        if (has_req[r] != has_lim[r] || (has_req[r] && req[r] != lim[r]))
            guaranteed = false;
    return guaranteed ? "Guaranteed" : "Burstable";
}

json_t *agent_ctr_resources(const json_t *ctr)
{
    json_t *res = json_object();
    int64_t mem = amount(ctr, "limits", "memory");
    if (mem > 0)
        json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t)mem));
    json_t *cpu = json_object();
    int64_t lcpu = amount(ctr, "limits", "cpu");
    if (lcpu > 0) {
        /* kubelet's MilliCPUToQuota with the 100 ms period; at least 1 ms */
        int64_t quota = lcpu * 100000 / 1000;
        json_object_set_new(cpu, "quota", json_integer(quota < 1000 ? 1000 : quota));
        json_object_set_new(cpu, "period", json_integer(100000));
    }
    /* MilliCPUToShares: no request gets the minimum, 2 */
    int64_t shares = amount(ctr, "requests", "cpu") * 1024 / 1000;
    json_object_set_new(cpu, "shares", json_integer(shares < 2 ? 2 : shares));
    json_object_set_new(res, "cpu", cpu);
    return res;
}

/* The QoS parent below k8c/kubepods: "" for Guaranteed. */
static const char *qos_dir(const char *qos)
{
    return strcmp(qos, "Burstable") == 0    ? "/burstable"
           : strcmp(qos, "BestEffort") == 0 ? "/besteffort"
                                            : "";
}

char *agent_cgroup_path(const json_t *pod, const char *cname)
{
    return xasprintf("/k8c/kubepods%s/pod%s/%s", qos_dir(agent_qos_class(pod)),
                     kjson_path_str(pod, "metadata.uid") ?: "", cname);
}

/* rmdir of dir's child cgroups, then dir (cgroup dirs hold only control files). */
static void cgroup_rmdir_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        _cleanup_free_ char *c = xasprintf("%s/%s", dir, e->d_name);
        cgroup_rmdir_tree(c);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

void agent_pod_cgroups_remove(const char *cgroup_root, const char *uid)
{
    /* every v1 hierarchy (cgroup_root/<controller>) and the v2 tree (cgroup_root itself) */
    DIR *d = opendir(cgroup_root);
    struct dirent *e;
    bool self = true;
    while (d) {
        _cleanup_free_ char *h = NULL;
        if (self) {
            h = xstrdup(cgroup_root);
            self = false;
        } else {
            if (!(e = readdir(d)))
                break;
            if (e->d_name[0] == '.' || e->d_type != DT_DIR)
                continue;
            h = xasprintf("%s/%s", cgroup_root, e->d_name);
        }
        static const char *const places[] = {"/k8c/kubepods/burstable", "/k8c/kubepods/besteffort",
                                             "/k8c/kubepods", "/k8c"};
        for (size_t i = 0; i < 4; i++) {
            _cleanup_free_ char *pod = xasprintf("%s%s/pod%s", h, places[i], uid);
            cgroup_rmdir_tree(pod);
        }
        /* the parents the agent made, once no pod is left in them (EBUSY otherwise) */
        for (size_t i = 0; i < 4; i++) {
            _cleanup_free_ char *p = xasprintf("%s%s", h, places[i]);
            rmdir(p);
        }
    }
    if (d)
        closedir(d);
}
