/* meta/v1 Status objects, worded as kube-apiserver words them (k8s.io/apimachinery
 * pkg/api/errors), so that kubectl prints `Error from server (NotFound): pods "x" not found`. */
#ifndef K8C_API_STATUS_H
#define K8C_API_STATUS_H

#include <jansson.h>
#include <stdint.h>

#include "api/kinds.h"
#include "base/err.h"

/* A Failure Status: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
 * "message","reason","details":{name,group,kind,causes},"code"}. details_kind may be a
 * group-qualified resource ("deployments.apps"): it is split into details.group and
 * details.kind as Kubernetes does. details is omitted when kind, name and causes are all
 * absent. causes_take (a JSON array, may be NULL) is owned by the result. New reference. */
json_t *api_status_failure(int code, const char *reason, const char *message,
                           const char *details_kind, const char *details_name, json_t *causes_take);

/* The Status for an error. resource is the group-qualified resource ("pods",
 * "deployments.apps") and name the object (both may be NULL). With both given, NOT_FOUND,
 * ALREADY_EXISTS and CONFLICT use Kubernetes' sentences (`pods "x" not found`, `pods "x"
 * already exists`, `Operation cannot be fulfilled on pods "x": the object has been modified;
 * please apply your changes to the latest version and try again`); otherwise, and for every
 * other reason, the message is the error's text (INTERNAL is prefixed "Internal error
 * occurred: " as Kubernetes does). New reference. */
json_t *api_status_from_err(const struct k8c_err *e, const char *resource, const char *name);

/* 422 Invalid: `Deployment.apps "x" is invalid: <field>: <message>` for one cause, or
 * `… is invalid: [a: m1, b: m2]` for several, with details {name, group, kind, causes}.
 * causes_take is an array as api_object_validate returns it, owned by the result.
 * New reference. */
json_t *api_status_invalid(const struct api_kind *k, const char *name, json_t *causes_take);

/* 410 Expired for a watch or list from a compacted revision:
 * "too old resource version: <requested> (<oldest>)". New reference. */
json_t *api_status_expired(int64_t requested, int64_t oldest);

/* A Success Status ({"status":"Success","details":{name,group,kind}}), as some deletes
 * return. New reference. */
json_t *api_status_success(const char *details_kind, const char *details_name);

/* "pods" or "deployments.apps": the resource as Kubernetes names it in messages. Caller
 * frees. */
char *api_kind_qualified_resource(const struct api_kind *k);

#endif
