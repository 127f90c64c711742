/* The generated OpenAPI data (src/api/openapi_data.c, written by scripts/gen-openapi.py):
 * Kubernetes' schemas for the kinds k8c serves, in OpenAPI 3 form, and each served
 * group-version's paths. Read through openapi.h and schema.h; module-internal. */
#ifndef K8C_API_OPENAPI_DATA_H
#define K8C_API_OPENAPI_DATA_H

#include <stddef.h>

/* One schema: its name ("io.k8s.api.core.v1.Pod") and its JSON text. */
struct api__openapi_def {
    const char *name;
    const char *json;
};

/* (apiVersion, kind) -> schema name, sorted by apiVersion then kind. */
struct api__openapi_gvk {
    const char *api_version;
    const char *kind;
    const char *def;
};

/* One group-version's document: the schemas it carries (NULL-terminated, sorted) and its
 * "paths" object as JSON text. prefix is the index key ("api/v1", "apis/apps/v1"). */
struct api__openapi_gv {
    const char *group;
    const char *version;
    const char *prefix;
    const char *const *defs;
    const char *paths;
};

/* Sorted by name (strcmp order), for bsearch. */
extern const struct api__openapi_def api__openapi_defs[];
extern const size_t api__openapi_n_defs;
extern const struct api__openapi_gvk api__openapi_gvks[];
extern const size_t api__openapi_n_gvks;
extern const struct api__openapi_gv api__openapi_gvs[];
extern const size_t api__openapi_n_gvs;

#endif
