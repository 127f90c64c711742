/* The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets, StatefulSets and
 * ReplicationControllers, as kube-apiserver's ScaleREST builds and applies it. */
#ifndef K8C_API_SCALE_H
#define K8C_API_SCALE_H

#include <jansson.h>

#include "api/kinds.h"
#include "base/err.h"

/* The Scale of obj (a stored object of kind k): metadata name, namespace, uid,
 * resourceVersion, creationTimestamp; spec.replicas; status.replicas and status.selector
 * (the selector's canonical text). NULL when k has no scale subresource. New reference. */
json_t *api_scale_from_object(const struct api_kind *k, const json_t *obj);

/* Applies scale (a decoded Scale body, e.g. after a patch) to obj: sets spec.replicas.
 * The body must be an autoscaling/v1 Scale (missing apiVersion/kind are accepted) naming the
 * same object (BAD_REQUEST otherwise). Negative or non-integer replicas: INVALID, with
 * *causes (when causes is non-NULL) set to a new array for api_status_invalid
 * ([{"field":"spec.replicas","message":"Invalid value: -1: must be greater than or equal to
 * 0",…}]). Returns 0 or -1 with *err. The caller checks metadata.resourceVersion. */
int api_scale_apply(const struct api_kind *k, json_t *obj, const json_t *scale, json_t **causes,
                    struct k8c_err **err);

#endif
