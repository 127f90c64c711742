/* Functions shared by the patch and OpenAPI files of src/api (patch_*.c, openapi*.c,
 * schema*.c); not part of the module's public surface. */
#ifndef K8C_API_PATCH_INTERNAL_H
#define K8C_API_PATCH_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

/* RFC 7386 merge of patch into target (neither is modified). Returns a new reference. */
json_t *api__merge_patch_value(const json_t *target, const json_t *patch);

/* Field sets (patch_fields.c): a JSON object mapping a path key to a path, a JSON array of
 * structured-merge-diff segments ("f:spec", "k:{\"name\":\"web\"}", "v:\"x\""). */

/* The fields obj sets, by its schema (may be NULL: maps granular, lists atomic), leaving out
 * what the server owns (apiVersion, kind, status, metadata.name/uid/resourceVersion/…).
 * Returns a new set. */
json_t *api__fields_of(const json_t *obj, const json_t *schema);
void api__fields_add(json_t *set, const json_t *path);
bool api__fields_has(const json_t *set, const json_t *path);
void api__fields_del(json_t *set, const json_t *path);
/* The FieldsV1 tree of api__fields_of(obj, schema), built directly (the create path).
 * New reference. */
json_t *api__fields_v1_of(const json_t *obj, const json_t *schema);
/* Whether a and b set the same tracked fields to the same values (everything but apiVersion,
 * kind, status and the server-owned metadata). */
bool api__fields_tracked_equal(const json_t *a, const json_t *b);
/* A set as a FieldsV1 tree (new reference), and back (new set, or NULL when malformed). */
json_t *api__fields_to_v1(const json_t *set);
json_t *api__fields_from_v1(const json_t *v1);
/* The key of an associative list element: an object of its map_keys fields (key defaults
 * such as protocol TCP filled in). New reference; NULL when item is not an object. */
json_t *api__fields_item_key(const json_t *item, const json_t *map_keys);
/* Whether item's key fields (defaults filled in) equal every field of key. */
bool api__fields_item_matches(const json_t *item, const json_t *key);
/* The value at path in obj (borrowed), or NULL. */
json_t *api__fields_get(const json_t *obj, const json_t *path);
/* Removes the value at path from obj, if there. */
void api__fields_remove(json_t *obj, const json_t *path);
/* ".spec.containers[name=\"web\"].image", as Kubernetes names a conflicting field. Caller
 * frees. */
char *api__fields_path_string(const json_t *path);

#endif
