/* Kubernetes' defaults per kind (see defaults.h), written from the v1 SetDefaults_* functions
 * of k8s.io/kubernetes/pkg/apis/{core,apps,batch,autoscaling,...}/v1 and the admission
 * plugins that change pods on create (DefaultTolerationSeconds, ServiceAccount, Priority). */
#include "api/defaults.h"

#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/meta.h"
#include "base/mem.h"

/* Sets key to value_take when it is absent or null (and, for strings, empty). */
static void def(json_t *obj, const char *key, json_t *value_take)
{
    json_t *cur = json_object_get(obj, key);
    if (cur == NULL || json_is_null(cur) ||
        (json_is_string(cur) && json_string_length(cur) == 0 && json_is_string(value_take))) {
        json_object_set_new(obj, key, value_take);
        return;
    }
    json_decref(value_take);
}

static void def_str(json_t *obj, const char *key, const char *value)
{
    def(obj, key, json_string(value));
}

static void def_int(json_t *obj, const char *key, json_int_t value)
{
    def(obj, key, json_integer(value));
}

/* The object at key (created when absent); NULL when key holds something else. */
static json_t *obj_at(json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        v = json_object();
        json_object_set_new(obj, key, v);
    }
    return json_is_object(v) ? v : NULL;
}

/* The object at key only if present. */
static json_t *obj_get(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? v : NULL;
}

const char *api_image_pull_policy(const char *image)
{
    if (image == NULL)
        return "Always";
    if (strchr(image, '@') != NULL)
        return "IfNotPresent";
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');
    if (colon == NULL || (slash != NULL && colon < slash))
        return "Always";
    return strcmp(colon + 1, "latest") == 0 ? "Always" : "IfNotPresent";
}

static void default_http_get(json_t *handler)
{
    json_t *http = obj_get(handler, "httpGet");
    if (http != NULL) {
        def_str(http, "path", "/");
        def_str(http, "scheme", "HTTP");
    }
}

static void default_probe(json_t *c, const char *key)
{
    json_t *p = obj_get(c, key);
    if (p == NULL)
        return;
    def_int(p, "timeoutSeconds", 1);
    def_int(p, "periodSeconds", 10);
    def_int(p, "successThreshold", 1);
    def_int(p, "failureThreshold", 3);
    default_http_get(p);
    json_t *grpc = obj_get(p, "grpc");
    if (grpc != NULL)
        def_str(grpc, "service", "");
}

static void default_container(json_t *c, bool host_network, bool pod)
{
    if (!json_is_object(c))
        return;
    const char *image = json_string_value(json_object_get(c, "image"));
    def_str(c, "imagePullPolicy", api_image_pull_policy(image));
    def_str(c, "terminationMessagePath", "/dev/termination-log");
    def_str(c, "terminationMessagePolicy", "File");
    size_t i;
    json_t *port;
    json_array_foreach (json_object_get(c, "ports"), i, port) {
        if (!json_is_object(port))
            continue;
        def_str(port, "protocol", "TCP");
        if (host_network && json_object_get(port, "containerPort") != NULL)
            def(port, "hostPort", json_deep_copy(json_object_get(port, "containerPort")));
    }
    json_t *env;
    json_array_foreach (json_object_get(c, "env"), i, env) {
        json_t *fr = obj_get(obj_get(env, "valueFrom"), "fieldRef");
        if (fr != NULL)
            def_str(fr, "apiVersion", "v1");
    }
    json_t *res = obj_at(c, "resources");
    if (pod && res != NULL) {
        /* Pods (not templates): requests default to limits. */
        json_t *limits = obj_get(res, "limits");
        if (limits != NULL && json_object_size(limits) > 0) {
            json_t *requests = obj_at(res, "requests");
            const char *name;
            json_t *q;
            if (requests != NULL)
                json_object_foreach (limits, name, q)
                    def(requests, name, json_deep_copy(q));
        }
    }
    default_probe(c, "livenessProbe");
    default_probe(c, "readinessProbe");
    default_probe(c, "startupProbe");
    json_t *lc = obj_get(c, "lifecycle");
    if (lc != NULL) {
        default_http_get(obj_get(lc, "postStart"));
        default_http_get(obj_get(lc, "preStop"));
    }
}

static void default_volume(json_t *v)
{
    if (!json_is_object(v))
        return;
    static const char *const sources[] = {
        "hostPath",    "emptyDir",  "secret",    "configMap", "persistentVolumeClaim",
        "downwardAPI", "projected", "nfs",       "csi",       "ephemeral",
        "image",       "iscsi",     "rbd",       "cephfs",    "fc",
        "flocker",     "azureFile", "azureDisk", "gitRepo",   "glusterfs"};
    bool has = false;
    for (size_t i = 0; i < ARRAY_SIZE(sources); i++)
        has = has || json_object_get(v, sources[i]) != NULL;
    if (!has)
        json_object_set_new(v, "emptyDir", json_object());
    const char *with_mode[] = {"secret", "configMap", "downwardAPI", "projected"};
    for (size_t i = 0; i < ARRAY_SIZE(with_mode); i++) {
        json_t *src = obj_get(v, with_mode[i]);
        if (src != NULL)
            def_int(src, "defaultMode", 0644);
    }
    json_t *hp = obj_get(v, "hostPath");
    if (hp != NULL)
        def_str(hp, "type", "");
}

/* SetDefaults_PodSpec and the container/volume defaults; pod adds what only Pods get. */
static void default_pod_spec(json_t *spec, bool pod)
{
    if (!json_is_object(spec))
        return;
    def_str(spec, "dnsPolicy", "ClusterFirst");
    def_str(spec, "restartPolicy", "Always");
    def(spec, "securityContext", json_object());
    def_int(spec, "terminationGracePeriodSeconds", 30);
    def_str(spec, "schedulerName", "default-scheduler");
    bool host_network = json_is_true(json_object_get(spec, "hostNetwork"));
    const char *lists[] = {"initContainers", "containers", "ephemeralContainers"};
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(spec, lists[l]), i, c)
            default_container(c, host_network, pod);
    }
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(spec, "volumes"), i, v)
        default_volume(v);
    if (!pod)
        return;
    def(spec, "enableServiceLinks", json_true());
    /* Admission: ServiceAccount, Priority, DefaultTolerationSeconds. */
    def_str(spec, "serviceAccountName", "default");
    def(spec, "serviceAccount", json_deep_copy(json_object_get(spec, "serviceAccountName")));
    if (json_string_length(json_object_get(spec, "priorityClassName")) == 0)
        def_int(spec, "priority", 0);
    def_str(spec, "preemptionPolicy", "PreemptLowerPriority");
    json_t *tols = json_object_get(spec, "tolerations");
    if (tols == NULL || json_is_null(tols)) {
        tols = json_array();
        json_object_set_new(spec, "tolerations", tols);
    }
    if (!json_is_array(tols))
        return;
    static const char *const taints[] = {"node.kubernetes.io/not-ready",
                                         "node.kubernetes.io/unreachable"};
    for (size_t t = 0; t < ARRAY_SIZE(taints); t++) {
        bool tolerated = false;
        size_t j;
        json_t *tol;
        json_array_foreach (tols, j, tol) {
            const char *key = json_string_value(json_object_get(tol, "key"));
            const char *op = json_string_value(json_object_get(tol, "operator"));
            const char *effect = json_string_value(json_object_get(tol, "effect"));
            bool key_match = (key && strcmp(key, taints[t]) == 0) ||
                             ((key == NULL || key[0] == '\0') && op && strcmp(op, "Exists") == 0);
            bool effect_match =
                effect == NULL || effect[0] == '\0' || strcmp(effect, "NoExecute") == 0;
            tolerated = tolerated || (key_match && effect_match);
        }
        if (!tolerated)
            json_array_append_new(tols, json_pack("{s:s,s:s,s:s,s:i}", "key", taints[t], "operator",
                                                  "Exists", "effect", "NoExecute",
                                                  "tolerationSeconds", 300));
    }
}

static void default_template(json_t *spec)
{
    json_t *tmpl = obj_get(spec, "template");
    if (tmpl != NULL)
        default_pod_spec(obj_get(tmpl, "spec"), false);
}

static void default_deployment(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    def_int(spec, "replicas", 1);
    json_t *strategy = obj_at(spec, "strategy");
    if (strategy != NULL) {
        def_str(strategy, "type", "RollingUpdate");
        const char *type = json_string_value(json_object_get(strategy, "type"));
        if (type != NULL && strcmp(type, "RollingUpdate") == 0) {
            json_t *ru = obj_at(strategy, "rollingUpdate");
            if (ru != NULL) {
                def_str(ru, "maxUnavailable", "25%");
                def_str(ru, "maxSurge", "25%");
            }
        }
    }
    def_int(spec, "revisionHistoryLimit", 10);
    def_int(spec, "progressDeadlineSeconds", 600);
    default_template(spec);
}

static void default_statefulset(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    def_int(spec, "replicas", 1);
    def_str(spec, "podManagementPolicy", "OrderedReady");
    json_t *us = obj_at(spec, "updateStrategy");
    if (us != NULL) {
        def_str(us, "type", "RollingUpdate");
        const char *type = json_string_value(json_object_get(us, "type"));
        if (type != NULL && strcmp(type, "RollingUpdate") == 0) {
            json_t *ru = obj_at(us, "rollingUpdate");
            if (ru != NULL)
                def_int(ru, "partition", 0);
        }
    }
    def_int(spec, "revisionHistoryLimit", 10);
    json_t *pvc = obj_at(spec, "persistentVolumeClaimRetentionPolicy");
    if (pvc != NULL) {
        def_str(pvc, "whenDeleted", "Retain");
        def_str(pvc, "whenScaled", "Retain");
    }
    default_template(spec);
}

static void default_daemonset(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    json_t *us = obj_at(spec, "updateStrategy");
    if (us != NULL) {
        def_str(us, "type", "RollingUpdate");
        const char *type = json_string_value(json_object_get(us, "type"));
        if (type != NULL && strcmp(type, "RollingUpdate") == 0) {
            json_t *ru = obj_at(us, "rollingUpdate");
            if (ru != NULL) {
                def_int(ru, "maxUnavailable", 1);
                def_int(ru, "maxSurge", 0);
            }
        }
    }
    def_int(spec, "revisionHistoryLimit", 10);
    default_template(spec);
}

static void default_job_spec(json_t *spec, const json_t *md, bool is_job)
{
    if (!json_is_object(spec))
        return;
    if (is_job) {
        json_t *comp = json_object_get(spec, "completions");
        json_t *par = json_object_get(spec, "parallelism");
        if ((comp == NULL || json_is_null(comp)) && (par == NULL || json_is_null(par))) {
            json_object_set_new(spec, "completions", json_integer(1));
            json_object_set_new(spec, "parallelism", json_integer(1));
        }
        def_int(spec, "parallelism", 1);
        if (json_object_get(spec, "backoffLimitPerIndex") != NULL &&
            !json_is_null(json_object_get(spec, "backoffLimitPerIndex")))
            def_int(spec, "backoffLimit", 2147483647);
        else
            def_int(spec, "backoffLimit", 6);
        def_str(spec, "completionMode", "NonIndexed");
        def(spec, "suspend", json_false());
        if (json_object_get(spec, "podFailurePolicy") != NULL)
            def_str(spec, "podReplacementPolicy", "Failed");
        else
            def_str(spec, "podReplacementPolicy", "TerminatingOrFailed");
        /* The registry's generated selector (batch/job strategy generateSelector). */
        const char *uid = json_string_value(json_object_get(md, "uid"));
        const char *name = json_string_value(json_object_get(md, "name"));
        if (!json_is_true(json_object_get(spec, "manualSelector")) && uid != NULL && name != NULL) {
            json_t *tmpl = obj_at(spec, "template");
            json_t *tmd = tmpl ? obj_at(tmpl, "metadata") : NULL;
            json_t *labels = tmd ? obj_at(tmd, "labels") : NULL;
            if (labels != NULL) {
                def_str(labels, "batch.kubernetes.io/controller-uid", uid);
                def_str(labels, "batch.kubernetes.io/job-name", name);
                def_str(labels, "controller-uid", uid);
                def_str(labels, "job-name", name);
            }
            json_t *sel = json_object_get(spec, "selector");
            if (sel == NULL || json_is_null(sel))
                json_object_set_new(spec, "selector",
                                    json_pack("{s:{s:s}}", "matchLabels",
                                              "batch.kubernetes.io/controller-uid", uid));
        }
    }
    default_template(spec);
}

static void default_cronjob(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    def_str(spec, "concurrencyPolicy", "Allow");
    def(spec, "suspend", json_false());
    def_int(spec, "successfulJobsHistoryLimit", 3);
    def_int(spec, "failedJobsHistoryLimit", 1);
    json_t *jt = obj_get(spec, "jobTemplate");
    if (jt != NULL)
        default_job_spec(obj_get(jt, "spec"), NULL, false);
}

static void default_ports(json_t *ports)
{
    size_t i;
    json_t *p;
    json_array_foreach (ports, i, p)
        if (json_is_object(p))
            def_str(p, "protocol", "TCP");
}

/* SetDefaults_NetworkPolicy: ports are TCP unless said; policyTypes is Ingress, plus Egress
 * when there are egress rules. */
static void default_network_policy(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    obj_at(spec, "podSelector");
    static const char *const dirs[] = {"ingress", "egress"};
    for (size_t d = 0; d < 2; d++) {
        size_t i;
        json_t *r;
        json_array_foreach (json_object_get(spec, dirs[d]), i, r)
            if (json_is_object(r))
                default_ports(json_object_get(r, "ports"));
    }
    json_t *types = json_object_get(spec, "policyTypes");
    if (json_is_array(types) && json_array_size(types) > 0)
        return;
    types = json_array();
    json_array_append_new(types, json_string("Ingress"));
    if (json_array_size(json_object_get(spec, "egress")) > 0)
        json_array_append_new(types, json_string("Egress"));
    json_object_set_new(spec, "policyTypes", types);
}

static void default_service(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    def_str(spec, "type", "ClusterIP");
    def_str(spec, "sessionAffinity", "None");
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *affinity = json_string_value(json_object_get(spec, "sessionAffinity"));
    if (affinity != NULL && strcmp(affinity, "ClientIP") == 0) {
        json_t *cfg = obj_at(spec, "sessionAffinityConfig");
        json_t *cip = cfg ? obj_at(cfg, "clientIP") : NULL;
        if (cip != NULL)
            def_int(cip, "timeoutSeconds", 10800);
    }
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(spec, "ports"), i, p) {
        if (!json_is_object(p))
            continue;
        def_str(p, "protocol", "TCP");
        json_t *tp = json_object_get(p, "targetPort");
        bool unset = tp == NULL || json_is_null(tp) ||
                     (json_is_integer(tp) && json_integer_value(tp) == 0) ||
                     (json_is_string(tp) && json_string_length(tp) == 0);
        if (unset && json_object_get(p, "port") != NULL)
            json_object_set_new(p, "targetPort", json_deep_copy(json_object_get(p, "port")));
    }
    bool external_name = type != NULL && strcmp(type, "ExternalName") == 0;
    bool node_ports =
        type != NULL && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0);
    if (!external_name) {
        def_str(spec, "internalTrafficPolicy", "Cluster");
        /* The registry's IP family choice on a single-stack IPv4 cluster. */
        def_str(spec, "ipFamilyPolicy", "SingleStack");
        def(spec, "ipFamilies", json_pack("[s]", "IPv4"));
    }
    const char *cip = json_string_value(json_object_get(spec, "clusterIP"));
    if (cip != NULL && cip[0] != '\0')
        def(spec, "clusterIPs", json_pack("[s]", cip));
    if (node_ports)
        def_str(spec, "externalTrafficPolicy", "Cluster");
    if (type != NULL && strcmp(type, "LoadBalancer") == 0)
        def(spec, "allocateLoadBalancerNodePorts", json_true());
}

static void default_hpa(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    def_int(spec, "minReplicas", 1);
    json_t *metrics = json_object_get(spec, "metrics");
    if (metrics == NULL || json_is_null(metrics) ||
        (json_is_array(metrics) && json_array_size(metrics) == 0))
        json_object_set_new(spec, "metrics",
                            json_pack("[{s:s,s:{s:s,s:{s:s,s:i}}}]", "type", "Resource", "resource",
                                      "name", "cpu", "target", "type", "Utilization",
                                      "averageUtilization", 80));
    json_t *behavior = obj_get(spec, "behavior");
    if (behavior == NULL)
        return;
    json_t *up = obj_at(behavior, "scaleUp");
    if (up != NULL) {
        def_int(up, "stabilizationWindowSeconds", 0);
        def_str(up, "selectPolicy", "Max");
        def(up, "policies",
            json_pack("[{s:s,s:i,s:i},{s:s,s:i,s:i}]", "type", "Pods", "value", 4, "periodSeconds",
                      15, "type", "Percent", "value", 100, "periodSeconds", 15));
    }
    json_t *down = obj_at(behavior, "scaleDown");
    if (down != NULL) {
        def_str(down, "selectPolicy", "Max");
        def(down, "policies",
            json_pack("[{s:s,s:i,s:i}]", "type", "Percent", "value", 100, "periodSeconds", 15));
    }
}

static void default_rc(json_t *obj)
{
    json_t *spec = obj_at(obj, "spec");
    if (spec == NULL)
        return;
    def_int(spec, "replicas", 1);
    json_t *tlabels = obj_get(obj_get(obj_get(spec, "template"), "metadata"), "labels");
    if (tlabels != NULL) {
        json_t *sel = json_object_get(spec, "selector");
        if (sel == NULL || json_is_null(sel) || (json_is_object(sel) && json_object_size(sel) == 0))
            json_object_set_new(spec, "selector", json_deep_copy(tlabels));
        json_t *md = obj_at(obj, "metadata");
        if (md != NULL) {
            json_t *labels = json_object_get(md, "labels");
            if (labels == NULL || json_is_null(labels) ||
                (json_is_object(labels) && json_object_size(labels) == 0))
                json_object_set_new(md, "labels", json_deep_copy(tlabels));
        }
    }
    default_template(spec);
}

static void default_binding_subjects(json_t *obj)
{
    size_t i;
    json_t *s;
    json_array_foreach (json_object_get(obj, "subjects"), i, s) {
        const char *kind = json_string_value(json_object_get(s, "kind"));
        if (kind == NULL)
            continue;
        if (strcmp(kind, "User") == 0 || strcmp(kind, "Group") == 0)
            def_str(s, "apiGroup", "rbac.authorization.k8s.io");
        else if (strcmp(kind, "ServiceAccount") == 0)
            def_str(s, "apiGroup", "");
    }
}

/* Secret.stringData is write-only: Kubernetes' conversion merges it into data (base64),
 * overriding keys present in both, and never stores it. */
static void merge_string_data(json_t *obj)
{
    json_t *sd = json_object_get(obj, "stringData");
    if (!json_is_object(sd))
        return;
    json_t *data = obj_at(obj, "data");
    if (data == NULL)
        return;
    const char *key;
    json_t *v;
    json_object_foreach (sd, key, v) {
        if (!json_is_string(v))
            return; /* left for validation to report */
    }
    json_object_foreach (sd, key, v) {
        char *b64 = api__base64(json_string_value(v), json_string_length(v));
        json_object_set_new(data, key, json_string(b64));
        free(b64);
    }
    json_object_del(obj, "stringData");
}

void api_object_default(const struct api_kind *k, json_t *obj)
{
    if (!json_is_object(obj))
        return;
    const char *kind = k->kind;
    const char *g = k->group;
    if (g[0] == '\0') {
        if (strcmp(kind, "Pod") == 0) {
            default_pod_spec(obj_at(obj, "spec"), true);
        } else if (strcmp(kind, "Service") == 0) {
            default_service(obj);
        } else if (strcmp(kind, "Namespace") == 0) {
            json_t *spec = obj_at(obj, "spec");
            if (spec != NULL)
                def(spec, "finalizers", json_pack("[s]", "kubernetes"));
            json_t *md = obj_at(obj, "metadata");
            const char *name = json_string_value(json_object_get(md, "name"));
            json_t *labels = md ? obj_at(md, "labels") : NULL;
            if (labels != NULL && name != NULL)
                json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name));
            json_t *st = obj_at(obj, "status");
            if (st != NULL)
                def_str(st, "phase", "Active");
        } else if (strcmp(kind, "Secret") == 0) {
            def_str(obj, "type", "Opaque");
            merge_string_data(obj);
        } else if (strcmp(kind, "Node") == 0) {
            json_t *st = obj_get(obj, "status");
            json_t *cap = obj_get(st, "capacity");
            if (cap != NULL)
                def(st, "allocatable", json_deep_copy(cap));
        } else if (strcmp(kind, "Endpoints") == 0) {
            size_t i;
            json_t *sub;
            json_array_foreach (json_object_get(obj, "subsets"), i, sub)
                default_ports(json_object_get(sub, "ports"));
        } else if (strcmp(kind, "ReplicationController") == 0) {
            default_rc(obj);
        }
    } else if (strcmp(g, "apps") == 0) {
        if (strcmp(kind, "Deployment") == 0) {
            default_deployment(obj);
        } else if (strcmp(kind, "ReplicaSet") == 0) {
            json_t *spec = obj_at(obj, "spec");
            if (spec != NULL) {
                def_int(spec, "replicas", 1);
                default_template(spec);
            }
        } else if (strcmp(kind, "StatefulSet") == 0) {
            default_statefulset(obj);
        } else if (strcmp(kind, "DaemonSet") == 0) {
            default_daemonset(obj);
        }
    } else if (strcmp(g, "batch") == 0) {
        if (strcmp(kind, "Job") == 0)
            default_job_spec(obj_at(obj, "spec"), json_object_get(obj, "metadata"), true);
        else if (strcmp(kind, "CronJob") == 0)
            default_cronjob(obj);
    } else if (strcmp(g, "autoscaling") == 0) {
        default_hpa(obj);
    } else if (strcmp(g, "discovery.k8s.io") == 0) {
        default_ports(json_object_get(obj, "ports"));
    } else if (strcmp(g, "networking.k8s.io") == 0) {
        if (strcmp(kind, "NetworkPolicy") == 0)
            default_network_policy(obj);
    } else if (strcmp(g, "scheduling.k8s.io") == 0) {
        def_str(obj, "preemptionPolicy", "PreemptLowerPriority");
    } else if (strcmp(g, "rbac.authorization.k8s.io") == 0) {
        default_binding_subjects(obj);
    }
}

#define SA_MOUNT_PATH "/var/run/secrets/kubernetes.io/serviceaccount"

void api_pod_mount_service_account_token(json_t *pod)
{
    json_t *spec = json_object_get(pod, "spec");
    if (!json_is_object(spec) ||
        json_is_false(json_object_get(spec, "automountServiceAccountToken")))
        return;
    static const char *const lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        size_t i, j;
        json_t *c, *m;
        json_array_foreach (json_object_get(spec, lists[l]), i, c) {
            json_array_foreach (json_object_get(c, "volumeMounts"), j, m) {
                const char *path = json_string_value(json_object_get(m, "mountPath"));
                if (path != NULL && strcmp(path, SA_MOUNT_PATH) == 0)
                    return;
            }
        }
    }
    char suffix[6];
    api_meta_random_suffix(suffix, 5);
    char name[32];
    snprintf(name, sizeof(name), "kube-api-access-%s", suffix);
    json_t *volume = json_pack(
        "{s:s,s:{s:[{s:{s:i,s:s}},{s:{s:s,s:[{s:s,s:s}]}},{s:{s:[{s:s,s:{s:s,s:s}}]}}],s:i}}",
        "name", name, "projected", "sources", "serviceAccountToken", "expirationSeconds", 3607,
        "path", "token", "configMap", "name", "kube-root-ca.crt", "items", "key", "ca.crt", "path",
        "ca.crt", "downwardAPI", "items", "path", "namespace", "fieldRef", "apiVersion", "v1",
        "fieldPath", "metadata.namespace", "defaultMode", 0644);
    json_t *volumes = json_object_get(spec, "volumes");
    if (!json_is_array(volumes)) {
        volumes = json_array();
        json_object_set_new(spec, "volumes", volumes);
    }
    json_array_append_new(volumes, volume);
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(spec, lists[l]), i, c) {
            if (!json_is_object(c))
                continue;
            json_t *mounts = json_object_get(c, "volumeMounts");
            if (!json_is_array(mounts)) {
                mounts = json_array();
                json_object_set_new(c, "volumeMounts", mounts);
            }
            json_array_append_new(mounts, json_pack("{s:s,s:b,s:s}", "name", name, "readOnly", 1,
                                                    "mountPath", SA_MOUNT_PATH));
        }
    }
}
