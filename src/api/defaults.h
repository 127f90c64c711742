/* Kubernetes' defaulting (the v1 defaults.go of each API group), plus what the admission
 * plugins and registries kube-apiserver runs by default add on create: pod tolerations,
 * service account, priority; namespace finalizers; Job selectors. */
#ifndef K8C_API_DEFAULTS_H
#define K8C_API_DEFAULTS_H

/* The default service CIDR (`--service-cidr`, as k3s's) and, at its tenth address, the
 * kube-dns Service's cluster IP (the API server creates it; agents serve DNS there and write
 * it into pods' resolv.conf). */
#define API_SERVICE_CIDR_DEFAULT "10.43.0.0/16"
#define API_CLUSTER_DNS_IP "10.43.0.10"

#include <jansson.h>

#include "api/kinds.h"

/* Fills in Kubernetes' defaults on obj (a decoded object of kind k), in place, without
 * overwriting what is set. Idempotent, so it may run on create and again on update. Call it
 * after api_meta_prepare_create: the Job selector is built from metadata.uid. Fields of the
 * wrong JSON type are left for validation to report. */
void api_object_default(const struct api_kind *k, json_t *obj);

/* The imagePullPolicy Kubernetes picks for image: "Always" for ":latest" or no tag,
 * "IfNotPresent" for any other tag or a digest. Borrowed static string. */
const char *api_image_pull_policy(const char *image);

/* The ServiceAccount admission plugin's token volume: unless spec.automountServiceAccountToken
 * is false or a container already mounts /var/run/secrets/kubernetes.io/serviceaccount, adds
 * the projected volume "kube-api-access-<5 random>" (a bound service account token expiring
 * in 3607 s, the kube-root-ca.crt ConfigMap's ca.crt, the pod's namespace) and mounts it
 * read-only there in every container and init container. Not called by api_object_default:
 * the API server calls it on pod create when the service account allows automounting. */
void api_pod_mount_service_account_token(json_t *pod);

#endif
