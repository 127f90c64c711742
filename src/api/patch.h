/* Patches applied to API objects, as the Kubernetes API server applies them on PATCH:
 * JSON Patch (RFC 6902, application/json-patch+json), JSON merge patch (RFC 7386,
 * application/merge-patch+json), strategic merge patch (application/strategic-merge-patch+json,
 * driven by the built-in kinds' patch metadata) and server-side apply
 * (application/apply-patch+yaml, with managedFields bookkeeping and conflict detection).
 *
 * All functions are pure: they never change their inputs and return a new object (a new
 * reference the caller owns) or NULL with *err set. Errors:
 *   BAD_REQUEST             the patch body is malformed (not JSON/YAML, wrong shape, bad
 *                           directive)
 *   INVALID (422)           a JSON Patch operation does not apply (test failed, missing path,
 *                           bad index), worded as Kubernetes (evanphx/json-patch) words it
 *   TOO_LARGE (413)         a JSON Patch with more than 10,000 operations
 *   UNSUPPORTED_MEDIA_TYPE  strategic merge patch for a kind without schema (Kubernetes
 *                           refuses it for custom resources the same way)
 *   CONFLICT (409)          server-side apply conflicts (see api_patch_apply_conflict_causes)
 * The caller (the API server) still defaults, validates and stores the result: these
 * functions do not check that apiVersion/kind/name stayed the same.
 *
 * managedFields, as the API server should keep them: after a create, an update (PUT) or a
 * json/merge/strategic PATCH, once defaults are applied, call api_patch_record_update with
 * the request's fieldManager (Kubernetes' defaults to the User-Agent's program name,
 * e.g. "kubectl"); after api_patch_apply do not (it records the Apply entry itself). */
#ifndef K8C_API_PATCH_H
#define K8C_API_PATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* Kubernetes caps a JSON Patch at this many operations (413 above it). */
#define API_PATCH_JSON_MAX_OPS 10000

/* Applies the JSON Patch text patch[0..len) (an array of operations: add, remove, replace,
 * move, copy, test; RFC 6901 pointers with ~0/~1 escapes and "-" for the end of an array;
 * negative array indexes count from the end as in Kubernetes) to doc. Returns the patched
 * object (a new reference; doc is not modified). The result must still be a JSON object. */
json_t *api_patch_json(const json_t *doc, const char *patch, size_t len, struct k8c_err **err);

/* Applies the JSON merge patch text patch[0..len) (a JSON object; null deletes a key, objects
 * merge recursively, everything else replaces) to doc. Returns a new reference. */
json_t *api_patch_merge(const json_t *doc, const char *patch, size_t len, struct k8c_err **err);

/* Applies a strategic merge patch for the built-in kind gvk_api_version/gvk_kind ("apps/v1",
 * "Deployment"): lists merged by their patch merge key (containers by name, ports by
 * containerPort, …), primitive lists with strategy merge as sets, maps recursively, null
 * deletes, and the directives $patch (delete/replace/merge), $retainKeys,
 * $setElementOrder/<list> and $deleteFromPrimitiveList/<list>. Lists without patch metadata
 * are replaced. UNSUPPORTED_MEDIA_TYPE for kinds without schema. Returns a new reference. */
json_t *api_patch_strategic(const char *gvk_api_version, const char *gvk_kind, const json_t *doc,
                            const char *patch, size_t len, struct k8c_err **err);

/* Server-side apply (application/apply-patch+yaml; the body may be YAML or JSON) of the
 * configuration patch[0..len) by field_manager (required) onto live (NULL when the object does
 * not exist yet: the result is then the applied configuration with managedFields). The body's
 * apiVersion and kind must equal api_version/kind (BAD_REQUEST otherwise). Fields owned by
 * another manager that the body sets to a different value are conflicts: CONFLICT (409) with
 * the message "Apply failed with N conflict(s): …" unless force, in which case ownership
 * moves to field_manager. Fields field_manager applied before and no longer applies are
 * removed when no other manager owns them. metadata.managedFields of the result holds one
 * operation "Apply" entry per apply manager (fieldsType FieldsV1, fieldsV1, time now).
 * Returns a new reference. Use api_patch_apply_conflict_causes for the Status causes. */
json_t *api_patch_apply(const char *api_version, const char *kind, const json_t *live,
                        const char *patch, size_t len, const char *field_manager, bool force,
                        struct k8c_err **err);

/* The Status details.causes for the last CONFLICT a server-side apply on this thread reported:
 * [{"reason":"FieldManagerConflict","message":"conflict with \"kubectl-client-side-apply\"
 * using apps/v1","field":".spec.replicas"}, …]. Returns a new reference, or NULL when the
 * last api_patch_apply on this thread did not fail with a conflict. */
json_t *api_patch_apply_conflict_causes(void);

/* Records an update (create, PUT, or a non-apply PATCH) by field_manager in obj's
 * metadata.managedFields, so that later server-side applies see which fields that manager
 * owns, as Kubernetes' field manager does for operation "Update": the manager comes to own
 * every field that differs between old (NULL on create) and obj, and those fields are taken
 * from other managers' entries. api_version is the object's ("apps/v1"). obj is modified in
 * place. A NULL or empty field_manager records nothing. */
void api_patch_record_update(const char *api_version, const json_t *old, json_t *obj,
                             const char *field_manager);

#endif
