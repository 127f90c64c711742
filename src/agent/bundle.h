/* Sandbox and bundle building for the agent (src/agent/bundle.c). */
#ifndef K8C_AGENT_BUNDLE_H
#define K8C_AGENT_BUNDLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "client/client.h"
#include "image/image.h"

/* Creates the pod's network (loopback up, no other interface), IPC and UTS namespaces and
 * holds them as bind mounts at <pod_dir>/ns/{net,ipc,uts}; writes <pod_dir>/hosts,
 * resolv.conf and hostname. host_network: ns/net is the agent's own network namespace
 * (hostNetwork: true). Returns 0 or -1 with *err. */
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
    struct client *client; /* for configMapKeyRef / secretKeyRef */
};
/* The OCI config.json for one container. Returns a new object or NULL with *err (a missing
 * ConfigMap/Secret key, no command). */
json_t *agent_bundle_config(const struct agent_bundle_in *in, struct k8c_err **err);

#endif
