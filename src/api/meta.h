/* Object lifecycle bookkeeping on decoded objects (json_t), as kube-apiserver's generic
 * registry and the kinds' strategies do it: UIDs, creation stamps, generateName, generation,
 * the status subresource split, and conversion between the two Event versions. */
#ifndef K8C_API_META_H
#define K8C_API_META_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/kinds.h"
#include "base/err.h"

/* Readies obj (a decoded body) for create under kind k:
 * - apiVersion/kind missing are filled from k (as Kubernetes' decoder does with the URL's
 *   kind); a different apiVersion or kind is BAD_REQUEST ("the API version in the data
 *   (apps/v1) does not match the expected API version (v1)", "Service in version \"v1\"
 *   cannot be handled as a Pod: …");
 * - namespace: taken from url_namespace when empty; a different one is BAD_REQUEST "the
 *   namespace of the provided object does not match the namespace sent on the request";
 *   cleared for cluster-scoped kinds;
 * - generateName resolved to name (prefix cut to 58 characters + 5 random characters);
 * - uid (v4), creationTimestamp (now) set; resourceVersion, selfLink, deletionTimestamp and
 *   deletionGracePeriodSeconds cleared; generation 1 for the kinds whose strategy keeps one
 *   (workloads, HPA, ReplicationController), removed for the others;
 * - status reset as the kind's strategy does (workloads, services, jobs: empty; pods:
 *   phase Pending with its QoS class; namespaces: phase Active; nodes keep theirs).
 * A missing name is left for validation (422 "name or generateName is required").
 * Returns 0, or -1 with *err (BAD_REQUEST). */
int api_meta_prepare_create(const struct api_kind *k, json_t *obj, const char *url_namespace,
                            struct k8c_err **err);

/* Readies obj for an update of old under kind k (status_subresource: the write came through
 * …/status). Keeps from old: uid when obj has none, creationTimestamp, deletionTimestamp,
 * deletionGracePeriodSeconds. Fills missing apiVersion/kind (mismatch: BAD_REQUEST as on
 * create). For kinds with a status subresource, a main-resource write keeps old's status and a
 * status write keeps old's spec (every top-level field but metadata and status) and old's
 * labels, annotations, finalizers, ownerReferences. Generation: old's, plus one when the spec
 * changed (Deployments: or the annotations) for the kinds that keep one. The caller's
 * resourceVersion is left alone (it is the precondition). Changes to uid, name or namespace
 * are left for api_object_validate to refuse. Returns 0, or -1 with *err. */
int api_meta_prepare_update(const struct api_kind *k, json_t *obj, const json_t *old,
                            bool status_subresource, struct k8c_err **err);

/* The grace period of a DELETE, as Kubernetes' CheckGracefulDelete decides it. requested is
 * the gracePeriodSeconds query/body value, or -1 when absent. Pods: requested, else
 * spec.terminationGracePeriodSeconds (30 when unset); 0 for a pod not yet scheduled
 * (no spec.nodeName) or already Succeeded/Failed; a negative request becomes 1. Other kinds:
 * always 0 (deleted at once unless finalizers hold them). */
long long api_meta_grace_period(const struct api_kind *k, const json_t *obj, long long requested);

/* Marks obj as being deleted: metadata.deletionTimestamp = now + grace_seconds (RFC 3339),
 * metadata.deletionGracePeriodSeconds = grace_seconds. An object already being deleted keeps
 * its stamp unless the new grace period is shorter, as Kubernetes does. Returns true when it
 * changed obj. */
bool api_meta_mark_deleting(json_t *obj, long long grace_seconds);

/* Whether obj may leave the store now: it is being deleted, has no finalizers left, and its
 * grace period is 0. */
bool api_meta_deletion_done(const json_t *obj);

/* Sets metadata.resourceVersion to the decimal string of rv (creating metadata if needed). */
void api_meta_set_resource_version(json_t *obj, int64_t rv);

/* Whether Kubernetes keeps metadata.generation for k's objects. */
bool api_kind_has_generation(const struct api_kind *k);

/* A random version-4 UUID in its 36-character text form, from getrandom(2). out must hold
 * 37 bytes. */
void api_meta_uuid(char out[37]);

/* n random characters from Kubernetes' name-suffix alphabet "bcdfghjklmnpqrstvwxz2456789"
 * into out (NUL-terminated; out holds n + 1). */
void api_meta_random_suffix(char *out, size_t n);

/* Converts an Event between core "v1" and "events.k8s.io/v1" (which Kubernetes stores
 * together): involvedObject<->regarding, message<->note, source<->deprecatedSource,
 * firstTimestamp/lastTimestamp/count<->deprecated*, reportingComponent<->reportingController.
 * to_api_version is "v1" or "events.k8s.io/v1"; an event already in that version is copied.
 * Returns a new reference, or NULL for another to_api_version. */
json_t *api_event_convert(const json_t *event, const char *to_api_version);

#endif
