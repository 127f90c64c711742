/* The kinds table as data: one row per resource, in Kubernetes' own terms (kube-apiserver
 * 1.32's discovery documents and its etcd layout, /registry/<resource>/<ns>/<name>). */
#include "api/kinds.h"

#include <string.h>

#include "base/mem.h"

#define VERBS_CREATE API_VERB_CREATE
#define VERBS_CONNECT (API_VERB_CREATE | API_VERB_GET)
/* Kubernetes' namespaces have no deletecollection. */
#define VERBS_NAMESPACE (API_VERBS_ALL & ~API_VERB_DELETECOLLECTION)

/* Short names and categories: NULL-terminated lists. */
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
static const char *const cat_all[] = {"all", NULL};

/* Subresources, grouped per parent. */
#define SUB(name, group, kind, verbs)                                                              \
    {                                                                                              \
        name, group, "v1", kind, verbs                                                             \
    }

static const struct api_subresource sub_namespaces[] = {
    SUB("finalize", "", "Namespace", API_VERB_UPDATE),
    SUB("status", "", "Namespace", API_VERBS_GPU),
};
static const struct api_subresource sub_nodes[] = {
    SUB("status", "", "Node", API_VERBS_GPU),
};
static const struct api_subresource sub_pods[] = {
    SUB("attach", "", "PodAttachOptions", VERBS_CONNECT),
    SUB("binding", "", "Binding", VERBS_CREATE),
    SUB("eviction", "policy", "Eviction", VERBS_CREATE),
    SUB("exec", "", "PodExecOptions", VERBS_CONNECT),
    SUB("log", "", "Pod", API_VERB_GET),
    SUB("portforward", "", "PodPortForwardOptions", VERBS_CONNECT),
    SUB("status", "", "Pod", API_VERBS_GPU),
};
static const struct api_subresource sub_services[] = {
    SUB("status", "", "Service", API_VERBS_GPU),
};
static const struct api_subresource sub_serviceaccounts[] = {
    SUB("token", "authentication.k8s.io", "TokenRequest", VERBS_CREATE),
};
static const struct api_subresource sub_replicationcontrollers[] = {
    SUB("scale", "autoscaling", "Scale", API_VERBS_GPU),
    SUB("status", "", "ReplicationController", API_VERBS_GPU),
};
static const struct api_subresource sub_deployments[] = {
    SUB("scale", "autoscaling", "Scale", API_VERBS_GPU),
    SUB("status", "apps", "Deployment", API_VERBS_GPU),
};
static const struct api_subresource sub_replicasets[] = {
    SUB("scale", "autoscaling", "Scale", API_VERBS_GPU),
    SUB("status", "apps", "ReplicaSet", API_VERBS_GPU),
};
static const struct api_subresource sub_statefulsets[] = {
    SUB("scale", "autoscaling", "Scale", API_VERBS_GPU),
    SUB("status", "apps", "StatefulSet", API_VERBS_GPU),
};
static const struct api_subresource sub_daemonsets[] = {
    SUB("status", "apps", "DaemonSet", API_VERBS_GPU),
};
static const struct api_subresource sub_jobs[] = {
    SUB("status", "batch", "Job", API_VERBS_GPU),
};
static const struct api_subresource sub_cronjobs[] = {
    SUB("status", "batch", "CronJob", API_VERBS_GPU),
};
static const struct api_subresource sub_hpa[] = {
    {"status", "autoscaling", "v2", "HorizontalPodAutoscaler", API_VERBS_GPU},
};

#define SUBS(arr) arr, ARRAY_SIZE(arr)
#define NOSUBS NULL, 0
#define NS true
#define CLUSTER false

/* KIND(group, version, apiVersion, Kind, resource, singular, namespaced, verbs, short names,
 *      categories, subresources, storage prefix) */
#define KIND(g, v, av, kind, res, sing, nsd, verbs, shorts, cats, subs, prefix)                    \
    {                                                                                              \
        g, v, kind, kind "List", res, sing, nsd, verbs, shorts, cats, subs, prefix, av             \
    }

static const struct api_kind kinds[] = {
    /* core/v1 */
    KIND("", "v1", "v1", "Namespace", "namespaces", "namespace", CLUSTER, VERBS_NAMESPACE,
         NAMES("ns"), NULL, SUBS(sub_namespaces), "/registry/namespaces"),
    KIND("", "v1", "v1", "Node", "nodes", "node", CLUSTER, API_VERBS_ALL, NAMES("no"), NULL,
         SUBS(sub_nodes), "/registry/minions"),
    KIND("", "v1", "v1", "Pod", "pods", "pod", NS, API_VERBS_ALL, NAMES("po"), cat_all,
         SUBS(sub_pods), "/registry/pods"),
    KIND("", "v1", "v1", "Service", "services", "service", NS, API_VERBS_ALL, NAMES("svc"), cat_all,
         SUBS(sub_services), "/registry/services/specs"),
    KIND("", "v1", "v1", "Endpoints", "endpoints", "endpoints", NS, API_VERBS_ALL, NAMES("ep"),
         NULL, NOSUBS, "/registry/services/endpoints"),
    KIND("", "v1", "v1", "ConfigMap", "configmaps", "configmap", NS, API_VERBS_ALL, NAMES("cm"),
         NULL, NOSUBS, "/registry/configmaps"),
    KIND("", "v1", "v1", "Secret", "secrets", "secret", NS, API_VERBS_ALL, NULL, NULL, NOSUBS,
         "/registry/secrets"),
    KIND("", "v1", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", NS, API_VERBS_ALL,
         NAMES("sa"), NULL, SUBS(sub_serviceaccounts), "/registry/serviceaccounts"),
    KIND("", "v1", "v1", "Event", "events", "event", NS, API_VERBS_ALL, NAMES("ev"), NULL, NOSUBS,
         "/registry/events"),
    KIND("", "v1", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller",
         NS, API_VERBS_ALL, NAMES("rc"), cat_all, SUBS(sub_replicationcontrollers),
         "/registry/controllers"),
    /* apps/v1 */
    KIND("apps", "v1", "apps/v1", "Deployment", "deployments", "deployment", NS, API_VERBS_ALL,
         NAMES("deploy"), cat_all, SUBS(sub_deployments), "/registry/deployments"),
    KIND("apps", "v1", "apps/v1", "ReplicaSet", "replicasets", "replicaset", NS, API_VERBS_ALL,
         NAMES("rs"), cat_all, SUBS(sub_replicasets), "/registry/replicasets"),
    KIND("apps", "v1", "apps/v1", "DaemonSet", "daemonsets", "daemonset", NS, API_VERBS_ALL,
         NAMES("ds"), cat_all, SUBS(sub_daemonsets), "/registry/daemonsets"),
    KIND("apps", "v1", "apps/v1", "StatefulSet", "statefulsets", "statefulset", NS, API_VERBS_ALL,
         NAMES("sts"), cat_all, SUBS(sub_statefulsets), "/registry/statefulsets"),
    /* batch/v1 */
    KIND("batch", "v1", "batch/v1", "Job", "jobs", "job", NS, API_VERBS_ALL, NULL, cat_all,
         SUBS(sub_jobs), "/registry/jobs"),
    KIND("batch", "v1", "batch/v1", "CronJob", "cronjobs", "cronjob", NS, API_VERBS_ALL,
         NAMES("cj"), cat_all, SUBS(sub_cronjobs), "/registry/cronjobs"),
    /* autoscaling/v2 */
    KIND("autoscaling", "v2", "autoscaling/v2", "HorizontalPodAutoscaler",
         "horizontalpodautoscalers", "horizontalpodautoscaler", NS, API_VERBS_ALL, NAMES("hpa"),
         cat_all, SUBS(sub_hpa), "/registry/horizontalpodautoscalers"),
    /* coordination.k8s.io/v1 */
    KIND("coordination.k8s.io", "v1", "coordination.k8s.io/v1", "Lease", "leases", "lease", NS,
         API_VERBS_ALL, NULL, NULL, NOSUBS, "/registry/leases"),
    /* discovery.k8s.io/v1 */
    KIND("discovery.k8s.io", "v1", "discovery.k8s.io/v1", "EndpointSlice", "endpointslices",
         "endpointslice", NS, API_VERBS_ALL, NULL, NULL, NOSUBS, "/registry/endpointslices"),
    /* networking.k8s.io/v1 */
    KIND("networking.k8s.io", "v1", "networking.k8s.io/v1", "NetworkPolicy", "networkpolicies",
         "networkpolicy", NS, API_VERBS_ALL, NAMES("netpol"), NULL, NOSUBS,
         "/registry/networkpolicies"),
    /* events.k8s.io/v1: Kubernetes stores these beside core events, in /registry/events;
     * see api_event_convert in meta.h for the field renames between the two versions. */
    KIND("events.k8s.io", "v1", "events.k8s.io/v1", "Event", "events", "event", NS, API_VERBS_ALL,
         NAMES("ev"), NULL, NOSUBS, "/registry/events"),
    /* scheduling.k8s.io/v1 */
    KIND("scheduling.k8s.io", "v1", "scheduling.k8s.io/v1", "PriorityClass", "priorityclasses",
         "priorityclass", CLUSTER, API_VERBS_ALL, NAMES("pc"), NULL, NOSUBS,
         "/registry/priorityclasses"),
    /* rbac.authorization.k8s.io/v1 */
    KIND("rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "Role", "roles", "role",
         NS, API_VERBS_ALL, NULL, NULL, NOSUBS, "/registry/roles"),
    KIND("rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "RoleBinding",
         "rolebindings", "rolebinding", NS, API_VERBS_ALL, NULL, NULL, NOSUBS,
         "/registry/rolebindings"),
    KIND("rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "ClusterRole",
         "clusterroles", "clusterrole", CLUSTER, API_VERBS_ALL, NULL, NULL, NOSUBS,
         "/registry/clusterroles"),
    KIND("rbac.authorization.k8s.io", "v1", "rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
         "clusterrolebindings", "clusterrolebinding", CLUSTER, API_VERBS_ALL, NULL, NULL, NOSUBS,
         "/registry/clusterrolebindings"),
};

const struct api_kind *api_kinds_all(size_t *n)
{
    *n = ARRAY_SIZE(kinds);
    return kinds;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

const struct api_kind *api_kind_by_resource(const char *group, const char *version,
                                            const char *resource)
{
    if (version == NULL || resource == NULL)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        const struct api_kind *k = &kinds[i];
        if (str_eq(k->group, group) && strcmp(k->version, version) == 0 &&
            strcmp(k->resource, resource) == 0)
            return k;
    }
    return NULL;
}

const struct api_kind *api_kind_by_gvk(const char *api_version, const char *kind)
{
    if (api_version == NULL || kind == NULL)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        const struct api_kind *k = &kinds[i];
        if (strcmp(k->api_version, api_version) == 0 && strcmp(k->kind, kind) == 0)
            return k;
    }
    return NULL;
}

const struct api_subresource *api_kind_subresource(const struct api_kind *k, const char *name)
{
    if (k == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < k->n_subresources; i++)
        if (strcmp(k->subresources[i].name, name) == 0)
            return &k->subresources[i];
    return NULL;
}

bool api_kind_has_status(const struct api_kind *k)
{
    return api_kind_subresource(k, "status") != NULL;
}

char *api_kind_storage_key(const struct api_kind *k, const char *ns, const char *name)
{
    if (name == NULL) {
        if (k->namespaced && ns != NULL && ns[0] != '\0')
            return xasprintf("%s/%s/", k->storage_prefix, ns);
        return xasprintf("%s/", k->storage_prefix);
    }
    if (k->namespaced)
        return xasprintf("%s/%s/%s", k->storage_prefix, ns ? ns : "", name);
    return xasprintf("%s/%s", k->storage_prefix, name);
}

const char *api_verb_name(enum api_verb v)
{
    switch (v) {
    case API_VERB_GET: return "get";
    case API_VERB_LIST: return "list";
    case API_VERB_WATCH: return "watch";
    case API_VERB_CREATE: return "create";
    case API_VERB_UPDATE: return "update";
    case API_VERB_PATCH: return "patch";
    case API_VERB_DELETE: return "delete";
    case API_VERB_DELETECOLLECTION: return "deletecollection";
    }
    return NULL;
}
