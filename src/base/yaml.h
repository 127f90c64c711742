/* YAML -> JSON, as Kubernetes reads manifests (sigs.k8s.io/yaml over YAML 1.1 rules):
 * multi-document streams, anchors/aliases and `<<` merge keys, YAML 1.1 plain-scalar
 * resolution (`yes`, `on`, `~`, 0x1f, 0o17, 1_000), non-string keys turned into strings,
 * integers too large for int64 read as floats. A schema hook keeps a plain scalar a string
 * where the target field is a string (a ConfigMap's `enabled: on` stays "on"). */
#ifndef K8C_BASE_YAML_H
#define K8C_BASE_YAML_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* Asked for each plain scalar that would not resolve to a string. `path` is the field path
 * from the document root, keys joined with '.' and sequence items written "[]"
 * ("spec.containers[].args[]"). Returning true keeps the scalar's text as a string. */
typedef bool (*kyaml_string_field_fn)(const char *path, void *opaque);

struct kyaml_options {
    kyaml_string_field_fn string_field; /* optional */
    void *opaque;
    /* Upper bound on JSON nodes produced, aliases expanded (0: the default, 1,000,000);
     * stops "billion laughs" documents. */
    size_t max_nodes;
    /* Maximum nesting of collections (0: the default, 1,000). */
    size_t max_depth;
};

/* Parses every document of a YAML stream into a new JSON array, one element per non-empty
 * document (documents that are empty or only `null` are skipped, as kubectl does).
 * opts may be NULL. On failure returns NULL and sets *err (BAD_REQUEST) naming the line
 * and column. Returns a new reference. */
json_t *kyaml_load_all(const char *data, size_t len, const struct kyaml_options *opts,
                       struct k8c_err **err);

/* Parses a stream that must hold exactly one document. Returns a new reference. */
json_t *kyaml_load_one(const char *data, size_t len, const struct kyaml_options *opts,
                       struct k8c_err **err);

#endif
