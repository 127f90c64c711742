/* Structural access to the built-in kinds' schemas (the generated OpenAPI data, with
 * descriptions dropped), for the patchers and the YAML string-field hook: find a kind's
 * schema, step into properties, map values and list items, and read the patch metadata
 * Kubernetes keeps on each field (x-kubernetes-patch-merge-key, -patch-strategy,
 * -list-type, -list-map-keys, -map-type). Module-internal.
 *
 * Schemas are parsed on first use and kept for the life of the process; every json_t
 * returned is borrowed and immutable, safe to read from any thread. */
#ifndef K8C_API_SCHEMA_H
#define K8C_API_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The schema of a kind ("apps/v1", "Deployment"), or NULL for kinds without one. */
const json_t *api__schema_for_kind(const char *api_version, const char *kind);

/* The schema named name ("io.k8s.api.core.v1.PodSpec"), or NULL. */
const json_t *api__schema_by_name(const char *name);

/* Follows $ref (directly or through a one-element allOf) to the definition; returns s itself
 * when it has no reference. NULL stays NULL. */
const json_t *api__schema_resolve(const json_t *s);

/* The schema of field name inside object schema s (resolved first): a property, or the
 * value schema of a map (additionalProperties). NULL when unknown or s is NULL. The returned
 * node carries the field's patch metadata; resolve it before stepping further. */
const json_t *api__schema_field(const json_t *s, const char *name);

/* The item schema of an array schema s (resolved first), or NULL. */
const json_t *api__schema_items(const json_t *s);

/* The "type" of s after resolving ("object", "array", "string", …), or NULL. */
const char *api__schema_type(const json_t *s);

/* Patch metadata of a field schema (unresolved: the metadata sits beside the $ref). */
struct api__patch_meta {
    const char *merge_key;  /* x-kubernetes-patch-merge-key, or NULL */
    bool strategy_merge;    /* patch strategy has "merge" */
    bool strategy_retain;   /* patch strategy has "retainKeys" */
    bool strategy_replace;  /* patch strategy is "replace" */
    const char *list_type;  /* x-kubernetes-list-type: "atomic", "set", "map" or NULL */
    const json_t *map_keys; /* x-kubernetes-list-map-keys (borrowed array) or NULL */
    bool map_atomic;        /* x-kubernetes-map-type: atomic */
};
void api__schema_patch_meta(const json_t *field, struct api__patch_meta *out);

#endif
