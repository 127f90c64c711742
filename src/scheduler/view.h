/* The scheduler's typed, compact views of pods and nodes: decoded once from the API's JSON,
 * holding only the fields the filter and score plugins read (requests, selectors, affinity,
 * tolerations, ports, topology spread, labels, priority, taints, allocatable, images). */
#ifndef K8C_SCHEDULER_VIEW_H
#define K8C_SCHEDULER_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

struct api_label_selector;

/* An extended ("scalar") resource such as nvidia.com/gpu or hugepages-2Mi. */
struct scheduler_scalar {
    char *name;
    int64_t value;
};

/* Amounts of resources: cpu in millicores, memory and ephemeral-storage in bytes. */
struct scheduler_resources {
    int64_t milli_cpu;
    int64_t memory;
    int64_t ephemeral;
    int64_t pods; /* allocatable pod slots (nodes) */
    struct scheduler_scalar *scalar;
    size_t n_scalar;
};

enum scheduler_op {
    SCHEDULER_OP_IN,
    SCHEDULER_OP_NOT_IN,
    SCHEDULER_OP_EXISTS,
    SCHEDULER_OP_DOES_NOT_EXIST,
    SCHEDULER_OP_GT,
    SCHEDULER_OP_LT,
};

/* One NodeSelectorRequirement (a matchExpressions or matchFields entry). */
struct scheduler_node_req {
    char *key;
    enum scheduler_op op;
    char **values;
    size_t n_values;
    int64_t number; /* Gt/Lt operand */
    bool field;     /* from matchFields: the key is a node field (metadata.name) */
};

/* One NodeSelectorTerm: its requirements all hold. An invalid or empty term matches no
 * node, as Kubernetes' node selector does. */
struct scheduler_node_term {
    struct scheduler_node_req *reqs;
    size_t n_reqs;
    bool invalid;
    int32_t weight; /* preferred terms only */
};

struct scheduler_toleration {
    char *key;   /* "" matches every key (with Exists) */
    bool exists; /* operator Exists (else Equal) */
    bool bad_op; /* an operator that is neither: tolerates nothing */
    char *value;
    char *effect; /* "" matches every effect */
};

struct scheduler_taint {
    char *key;
    char *value;
    char *effect; /* NoSchedule, PreferNoSchedule, NoExecute */
};

struct scheduler_port {
    char *ip;       /* hostIP, "0.0.0.0" when unset */
    char *protocol; /* TCP when unset */
    int32_t port;   /* hostPort */
};

/* A pod (anti-)affinity term. The namespaces it applies to are `namespaces` plus those whose
 * labels ns_selector selects, every namespace when all_namespaces (an empty
 * namespaceSelector), or the pod's own when neither was given. */
struct scheduler_affinity_term {
    struct api_label_selector *selector; /* NULL selects nothing */
    char **namespaces;
    size_t n_namespaces;
    bool all_namespaces;
    struct api_label_selector *ns_selector; /* a non-empty namespaceSelector, or NULL */
    char *topology_key;
    int32_t weight; /* preferred terms only */
};

struct scheduler_spread {
    int32_t max_skew;
    char *topology_key;
    bool hard;                           /* whenUnsatisfiable DoNotSchedule */
    struct api_label_selector *selector; /* NULL selects nothing */
    int32_t min_domains;                 /* 0 when unset */
    bool honor_affinity;                 /* nodeAffinityPolicy Honor (the default) */
    bool honor_taints;                   /* nodeTaintsPolicy Honor (default Ignore) */
};

struct scheduler_pod {
    char *ns, *name, *uid;
    char *key;            /* "ns/name" */
    char *node_name;      /* spec.nodeName or NULL */
    char *nominated_node; /* status.nominatedNodeName or NULL */
    char *scheduler_name; /* default-scheduler when unset */
    json_t *labels;       /* an object (owned reference; empty when none) */
    int32_t priority;
    bool preempt_never; /* preemptionPolicy Never */
    bool terminating;   /* metadata.deletionTimestamp set */
    time_t created;     /* metadata.creationTimestamp */
    char *resource_version;
    char *owner; /* the controller: "ReplicaSet/<name>" (Kind/name) or NULL */

    struct scheduler_resources req; /* effective requests incl. init containers, overhead */
    int64_t nonzero_cpu;            /* requests with kube-scheduler's defaults for scoring */
    int64_t nonzero_memory;

    json_t *node_selector;                /* spec.nodeSelector (owned) or NULL */
    struct scheduler_node_term *required; /* required node affinity terms (ORed) */
    size_t n_required;
    bool has_required; /* requiredDuringScheduling… was given (even with no terms) */
    struct scheduler_node_term *preferred;
    size_t n_preferred;

    struct scheduler_toleration *tolerations;
    size_t n_tolerations;
    struct scheduler_port *ports;
    size_t n_ports;
    struct scheduler_spread *spread;
    size_t n_spread;

    struct scheduler_affinity_term *affinity, *anti_affinity; /* required */
    size_t n_affinity, n_anti_affinity;
    struct scheduler_affinity_term *pref_affinity, *pref_anti_affinity; /* preferred */
    size_t n_pref_affinity, n_pref_anti_affinity;

    char **images; /* normalized image names of init containers and containers */
    size_t n_images;
    size_t n_containers; /* init containers + containers, for ImageLocality */
};

struct scheduler_image {
    char *name;
    int64_t size;
};

struct scheduler_node {
    char *name;
    json_t *labels; /* owned object */
    bool unschedulable;
    struct scheduler_taint *taints;
    size_t n_taints;
    struct scheduler_resources allocatable;
    char *invalid; /* why the node cannot be used (bad allocatable), or NULL */
    struct scheduler_image *images;
    size_t n_images;
};

/* Decodes a Pod. Returns a new view (free with scheduler_pod_free), or NULL with *err
 * (BAD_REQUEST) naming the bad field, e.g. an unknown label selector operator in
 * spec.affinity. Quantities that do not parse are errors too. */
struct scheduler_pod *scheduler_pod_decode(const json_t *pod, struct k8c_err **err);
void scheduler_pod_free(struct scheduler_pod *p);

/* Decodes a Node. Never fails on the contents of status: a node whose allocatable does not
 * parse gets `invalid` set (and is never chosen). Returns NULL with *err only when the
 * object has no name. Free with scheduler_node_free. */
struct scheduler_node *scheduler_node_decode(const json_t *node, struct k8c_err **err);
void scheduler_node_free(struct scheduler_node *n);

/* Parses a Kubernetes quantity ("100m", "1.5", "2Gi", "1e3", "500M") and returns its value
 * times `scale` (1000 for millicores, 1 for bytes), rounded up as Quantity.MilliValue and
 * Value do. Returns 0, or -1 with *err (BAD_REQUEST) for text that is not a quantity or
 * overflows int64. A JSON number is accepted as well. */
int scheduler_quantity_parse(const json_t *q, int64_t scale, int64_t *out, struct k8c_err **err);

/* The amount of resource name in r (0 when absent). */
int64_t scheduler_resources_get(const struct scheduler_resources *r, const char *name);
/* Adds (sign 1) or subtracts (sign -1) b into a, extended resources included. */
void scheduler_resources_add(struct scheduler_resources *a, const struct scheduler_resources *b,
                             int sign);
void scheduler_resources_clear(struct scheduler_resources *r);

/* "nginx" -> "nginx:latest"; names with a tag or digest are kept (ImageLocality's rule). */
char *scheduler_image_normalize(const char *image);

/* Whether a toleration tolerates a taint (v1.Toleration.ToleratesTaint). */
bool scheduler_toleration_tolerates(const struct scheduler_toleration *t,
                                    const struct scheduler_taint *taint);

#endif
