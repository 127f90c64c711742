/* The OpenAPI documents k8c serves (kubectl-wire.md §5): /openapi/v3 (an index and one
 * OpenAPI 3.0 document per group-version, with Kubernetes' schemas and patch metadata, which
 * `kubectl apply`, `create -f` and `explain` need) and the answer for /openapi/v2.
 * Also the schema question YAML decoding asks: is this field a string?
 *
 * How the API server answers:
 *   GET /openapi/v3             200 application/json, api_openapi_v3_index()
 *   GET /openapi/v3/<prefix>    ("api/v1", "apis/apps/v1"; any ?hash= query ignored)
 *                               200 application/json, api_openapi_v3_document(group, version);
 *                               404 when it returns NULL. The document never changes while
 *                               the binary runs: encode it once per group-version and cache
 *                               the text (building one costs a few milliseconds); when the
 *                               request's hash equals the index's, Cache-Control may say
 *                               "public, immutable".
 *   GET /openapi/v2             200 with an EMPTY body and Content-Type
 *                               API_OPENAPI_V2_CONTENT_TYPE (exactly that string: the "@"
 *                               form kubectl sends in Accept breaks Go's mime parser, and a
 *                               JSON body fails as "cannot parse invalid wire-format data").
 *                               An empty protobuf is a valid empty Document: kubectl then
 *                               reports an unknown kind as `no matches for kind "Gizmo" in
 *                               version "v1"` as against a real server, while a 404 makes it
 *                               fail with "failed to download openapi". */
#ifndef K8C_API_OPENAPI_H
#define K8C_API_OPENAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define API_OPENAPI_V2_CONTENT_TYPE "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

/* The /openapi/v2 answer: status 200, Content-Type API_OPENAPI_V2_CONTENT_TYPE (returned,
 * static) and an empty body (*body_len set to 0). See the header comment for why. */
const char *api_openapi_v2_response(size_t *body_len);

/* {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=<hex>"},
 * "apis/apps/v1":{…},…}} for every group-version served. Returns a new reference. */
json_t *api_openapi_v3_index(void);

/* The OpenAPI 3.0 document of one group-version (group "" for core): "paths" for every
 * resource and subresource served in it (each PATCH operation declares the query parameter
 * fieldValidation on the operation itself, carries x-kubernetes-group-version-kind and lists
 * json-patch, merge-patch, strategic-merge-patch and apply-patch media types), and
 * "components.schemas" with every schema those paths reference (Kubernetes' names,
 * descriptions, and patch metadata x-kubernetes-patch-merge-key/-strategy, list types).
 * Returns a new reference, or NULL when k8c serves no such group-version. */
json_t *api_openapi_v3_document(const char *group, const char *version);

/* The hash of a group-version's document as the index advertises it (16 hex digits), or NULL
 * when unknown. Borrowed, static. */
const char *api_openapi_v3_hash(const char *group, const char *version);

/* Whether the field at path (keys joined by '.', list items written "[]", as base/yaml.h's
 * string_field hook passes it: "data.enabled", "spec.containers[].args[]") of kind
 * api_version/kind has type string in Kubernetes' schema (not int-or-string), so that a YAML
 * plain scalar there stays a string (a ConfigMap's `enabled: on`, `version: 1.10`). False for
 * unknown kinds and fields. */
bool api_openapi_field_is_string(const char *api_version, const char *kind, const char *path);

#endif
