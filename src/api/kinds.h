/* The kinds table: every resource k8c serves, with Kubernetes' group/version, verbs, short
 * names, categories, subresources and etcd storage prefix. Discovery, routing and storage
 * keys are all read from this one table (src/api/kinds.c). */
#ifndef K8C_API_KINDS_H
#define K8C_API_KINDS_H

#include <stdbool.h>
#include <stddef.h>

enum api_verb {
    API_VERB_GET = 1,
    API_VERB_LIST = 2,
    API_VERB_WATCH = 4,
    API_VERB_CREATE = 8,
    API_VERB_UPDATE = 16,
    API_VERB_PATCH = 32,
    API_VERB_DELETE = 64,
    API_VERB_DELETECOLLECTION = 128,
};

/* The verbs of an ordinary stored resource, and of a get/patch/update subresource. */
#define API_VERBS_ALL                                                                              \
    (API_VERB_GET | API_VERB_LIST | API_VERB_WATCH | API_VERB_CREATE | API_VERB_UPDATE |           \
     API_VERB_PATCH | API_VERB_DELETE | API_VERB_DELETECOLLECTION)
#define API_VERBS_GPU (API_VERB_GET | API_VERB_PATCH | API_VERB_UPDATE)

struct api_subresource {
    const char *name;    /* "status", "scale", "log", "exec", "binding", … */
    const char *group;   /* of the response kind: "" core, "autoscaling" for Scale */
    const char *version; /* "v1" */
    const char *kind;    /* response kind: "Pod", "Scale", "PodExecOptions", … */
    unsigned verbs;      /* enum api_verb bits */
};

struct api_kind {
    const char *group;   /* "" for core */
    const char *version; /* "v1" */
    const char *kind;    /* "Pod" */
    const char *list_kind;
    const char *resource; /* "pods" */
    const char *singular; /* "pod" */
    bool namespaced;
    unsigned verbs;                 /* enum api_verb bits */
    const char *const *short_names; /* NULL-terminated, may be NULL */
    const char *const *categories;  /* NULL-terminated, may be NULL ("all") */
    const struct api_subresource *subresources;
    size_t n_subresources;
    const char *storage_prefix; /* "/registry/pods"; no trailing slash */
    const char *api_version;    /* "v1", "apps/v1": what objects carry in apiVersion */
};

/* The whole table, borrowed (static); *n receives its length. */
const struct api_kind *api_kinds_all(size_t *n);

/* The kind served at /<group>/<version>/<resource> (group "" or NULL for core). Returns a
 * borrowed entry, or NULL when unknown. */
const struct api_kind *api_kind_by_resource(const char *group, const char *version,
                                            const char *resource);

/* The kind whose objects carry apiVersion api_version ("v1", "apps/v1") and kind. Returns a
 * borrowed entry, or NULL when unknown. */
const struct api_kind *api_kind_by_gvk(const char *api_version, const char *kind);

/* A subresource of k by name ("status"), borrowed; NULL when k has none of that name. */
const struct api_subresource *api_kind_subresource(const struct api_kind *k, const char *name);

/* Whether k has a status subresource (spec and status are then written separately). */
bool api_kind_has_status(const struct api_kind *k);

/* The storage key of one object: "<prefix>/<ns>/<name>" for namespaced kinds (ns required),
 * "<prefix>/<name>" otherwise. With name NULL, the list prefix ending in "/" (all namespaces
 * when ns is NULL). Returns a new string; caller frees. */
char *api_kind_storage_key(const struct api_kind *k, const char *ns, const char *name);

/* The verb's lower-case name as discovery prints it ("deletecollection"); NULL for a value
 * that is not exactly one verb bit. Borrowed. */
const char *api_verb_name(enum api_verb v);

#endif
