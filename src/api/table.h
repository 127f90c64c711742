/* Server-side Tables (meta.k8s.io/v1 Table) with the columns kubectl prints for each kind,
 * built as kube-apiserver's printers (pkg/printers/internalversion) build them. kubectl 1.32
 * has no client-side printers: without these, `get` shows only NAME and AGE. */
#ifndef K8C_API_TABLE_H
#define K8C_API_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "api/kinds.h"

/* A Table for items (a borrowed JSON array of objects of kind k): columnDefinitions (with
 * priority-1 columns for -o wide), one row per item with its cells and object (a
 * PartialObjectMetadata, or the full object when include_object), metadata.resourceVersion
 * = resource_version (omitted when NULL). Ages are computed against now. New reference. */
json_t *api_table_build(const struct api_kind *k, json_t *items, const char *resource_version,
                        bool include_object);
json_t *api_table_build_at(const struct api_kind *k, json_t *items, const char *resource_version,
                           bool include_object, time_t now);

/* Kubernetes' duration.HumanDuration for a number of seconds: "5s", "3m20s", "2d3h", "3y",
 * "<invalid>" below -1 s. Writes into out (at least 16 bytes) and returns it. */
char *api_human_duration(long long seconds, char out[16]);

#endif
