/* Sandbox and bundle building for the agent (src/agent/bundle.c). */
#ifndef K8C_AGENT_BUNDLE_H
#define K8C_AGENT_BUNDLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "client/client.h"
#include "image/image.h"

struct agent;

/* Creates the pod's network (loopback up, no other interface), IPC and UTS namespaces and
 * holds them as bind mounts at <pod_dir>/ns/{net,ipc,uts}; writes <pod_dir>/hosts and
 * hostname (resolv.conf: agent__dns_resolv_conf). host_network: ns/net is the agent's own network
 * namespace (hostNetwork: true). Returns 0 or -1 with *err. */
int agent_sandbox_create(const char *pod_dir, const char *hostname, const char *pod_name,
                         bool host_network, struct k8c_err **err);
/* Unmounts the namespace files (the namespaces go away with their last process). */
void agent_sandbox_destroy(const char *pod_dir);

/* Mounts <ctr_dir>/rootfs as an overlay of img's layers with a fresh upper/work. 0 or -1. */
int agent_rootfs_mount(const char *ctr_dir, const struct image_info *img, struct k8c_err **err);
void agent_rootfs_unmount(const char *ctr_dir);
/* Removes path recursively without crossing mount points. */
void agent_rm_rf(const char *path);

/* Parses a Kubernetes quantity ("100m", "64Mi", "2") times scale. Returns 0 or -1. */
int agent_quantity(const char *s, int64_t scale, int64_t *out);

struct agent_bundle_in {
    const json_t *pod, *container;
    const struct image_info *image;
    const char *pod_dir;
    struct client *client; /* for configMapKeyRef / secretKeyRef / envFrom */
    const char *host_ip;   /* status.hostIP for fieldRef; NULL: the pod's status */
    json_t *warnings;      /* NULL, or an array the Event messages for skipped envFrom keys
                            * are appended to (kubelet's InvalidEnvironmentVariableNames) */
};
/* The OCI config.json for one container. Returns a new object or NULL with *err: reason
 * INVALID or NOT_FOUND for what kubelet reports as CreateContainerConfigError (a missing
 * ConfigMap/Secret or key, runAsNonRoot refused), others for CreateContainerError. */
json_t *agent_bundle_config(const struct agent_bundle_in *in, struct k8c_err **err);

/* env.c */
/* Kubernetes' $(VAR) expansion of s with vars (object name -> string): "$$" is "$", unknown
 * references and a lone or unterminated "$(" are kept literally. Caller frees. */
char *agent_expand(const char *s, const json_t *vars);
/* A new array of agent_expand over the strings of a. */
json_t *agent_expand_array(const json_t *a, const json_t *vars);
/* Kubernetes' IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]*. */
bool agent_env_name_valid(const char *s);
/* The container's variables from envFrom then env, in order, into vars (name -> value).
 * 0, or -1 with *err (kubelet's messages: `configmap "x" not found`, `couldn't find key k in
 * ConfigMap ns/x`). */
int agent_env_resolve(const struct agent_bundle_in *in, json_t *vars, struct k8c_err **err);
/* A ConfigMap's or Secret's object as key -> bytes (Secrets' data and binaryData decoded). */
json_t *agent_source_data(const json_t *obj, bool secret);
/* A ConfigMap's data + binaryData or a Secret's decoded data (key -> string, possibly with
 * NULs) from the API. NULL with *err: NOT_FOUND with `configmap "x" not found`. */
json_t *agent_source_get(struct client *c, const char *ns, const char *name, bool secret,
                         struct k8c_err **err);
/* The downward API value of fieldPath (metadata.name, .namespace, .uid, .labels['k'],
 * .annotations['k'], spec.nodeName, spec.serviceAccountName, status.hostIP, status.podIP;
 * in volumes also metadata.labels and metadata.annotations, k="v" lines as kubelet writes
 * them). host_ip NULL: the pod's status. Caller frees; NULL with *err for an unknown path. */
char *agent_field_value(const json_t *pod, const char *path, const char *host_ip, bool volume,
                        struct k8c_err **err);
/* The value of a resourceFieldRef (limits/requests cpu, memory, ephemeral-storage, divisor,
 * rounded up; an unset limit is the node's capacity) for ctr (or ref's containerName). */
char *agent_resource_value(const json_t *pod, const json_t *ctr, const json_t *ref,
                           struct k8c_err **err);

/* security.c: the effective securityContext into cfg (process.user, capabilities,
 * noNewPrivileges, seccomp, root.readonly, privileged devices and /sys, procMount, sysctls).
 * 0, or -1 with *err (INVALID: runAsNonRoot refused). */
int agent_security_apply(const struct agent_bundle_in *in, json_t *cfg, struct k8c_err **err);

/* qos.c */
/* "Guaranteed", "Burstable" or "BestEffort", as Kubernetes' GetPodQOS. */
const char *agent_qos_class(const json_t *pod);
/* linux.resources of a container: memory limit, cpu quota/period, cpu shares (min 2). */
json_t *agent_ctr_resources(const json_t *ctr);
/* The container's cgroupsPath: /k8c/kubepods[/burstable|/besteffort]/pod<uid>/<name>. */
char *agent_cgroup_path(const json_t *pod, const char *cname);
/* Removes the pod's cgroups in every hierarchy under cgroup_root, and the parents the agent
 * made (kubepods/…, k8c) once empty. */
void agent_pod_cgroups_remove(const char *cgroup_root, const char *uid);

/* volume.c */
struct agent_vol_in {
    const json_t *pod;
    const char *pod_dir;
    struct client *client;
    const char *host_ip;
    struct agent *agent; /* optional: ConfigMaps and Secrets from its watches (objwatch.c) */
    const char *pod_key; /* with agent: queued when one of them changes */
};
/* Sets up or refreshes every volume of the pod. 0, or -1 with *err worded as kubelet's
 * FailedMount: `MountVolume.SetUp failed for volume "v" : configmap "c" not found`. */
int agent_volumes_setup(const struct agent_vol_in *in, struct k8c_err **err);
/* Unmounts the pod's tmpfs volumes and removes <pod_dir>/volumes. */
void agent_volumes_teardown(const char *pod_dir);
/* <pod_dir>/volumes/kubernetes.io~<plugin>/<name>, or NULL for hostPath. Caller frees. */
char *agent_volume_dir(const char *pod_dir, const json_t *vol);
/* Appends the container's volumeMounts as OCI bind mounts; vars expand subPathExpr. */
int agent_volume_mounts(const struct agent_bundle_in *in, const json_t *vars, json_t *mounts,
                        struct k8c_err **err);
/* Orders mounts by destination depth, stably (a mount at /etc before /etc/hosts). */
void agent_mounts_sort(json_t *mounts);

#endif
