/* Tables per kind (see table.h): columns and cells as kube-apiserver's printers make them
 * (k8s.io/kubernetes/pkg/printers/internalversion/printers.go), including the pod STATUS
 * reason logic and the "5 (3m ago)" restarts. */
#include "api/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/meta.h"
#include "api/selector.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

char *api_human_duration(long long seconds, char out[16])
{
    const size_t n = 16;
    if (seconds < -1) {
        snprintf(out, n, "<invalid>");
        return out;
    }
    if (seconds < 0)
        seconds = 0;
    if (seconds < 60 * 2) {
        snprintf(out, n, "%llds", seconds);
        return out;
    }
    long long minutes = seconds / 60;
    if (minutes < 10) {
        long long s = seconds % 60;
        if (s == 0)
            snprintf(out, n, "%lldm", minutes);
        else
            snprintf(out, n, "%lldm%llds", minutes, s);
        return out;
    }
    if (minutes < 60 * 3) {
        snprintf(out, n, "%lldm", minutes);
        return out;
    }
    long long hours = seconds / 3600;
    if (hours < 8) {
        long long m = minutes % 60;
        if (m == 0)
            snprintf(out, n, "%lldh", hours);
        else
            snprintf(out, n, "%lldh%lldm", hours, m);
    } else if (hours < 48) {
        snprintf(out, n, "%lldh", hours);
    } else if (hours < 24 * 8) {
        long long h = hours % 24;
        if (h == 0)
            snprintf(out, n, "%lldd", hours / 24);
        else
            snprintf(out, n, "%lldd%lldh", hours / 24, h);
    } else if (hours < 24 * 365 * 2) {
        snprintf(out, n, "%lldd", hours / 24);
    } else if (hours < 24 * 365 * 8) {
        long long dy = (hours / 24) % 365;
        if (dy == 0)
            snprintf(out, n, "%lldy", hours / 24 / 365);
        else
            snprintf(out, n, "%lldy%lldd", hours / 24 / 365, dy);
    } else {
        snprintf(out, n, "%lldy", hours / 24 / 365);
    }
    return out;
}

/* ---- helpers ---- */

struct ctx {
    time_t now;
};

/* translateTimestampSince: "<unknown>" for a missing stamp. */
static json_t *age_cell(const struct ctx *c, const char *stamp)
{
    time_t t;
    if (stamp == NULL || stamp[0] == '\0' || clock_parse_rfc3339(stamp, &t) < 0)
        return json_string("<unknown>");
    char out[16];
    return json_string(api_human_duration((long long)(c->now - t), out));
}

static const char *str_at(const json_t *obj, const char *path)
{
    return kjson_path_str(obj, path);
}

static const char *str_or(const json_t *obj, const char *path, const char *fallback)
{
    const char *s = kjson_path_str(obj, path);
    return s != NULL && s[0] != '\0' ? s : fallback;
}

static json_int_t int_at(const json_t *obj, const char *path)
{
    return json_integer_value(kjson_path(obj, path));
}

static json_t *name_cell(const json_t *obj)
{
    return json_string(str_or(obj, "metadata.name", ""));
}

static json_t *creation_age(const struct ctx *c, const json_t *obj)
{
    return age_cell(c, str_at(obj, "metadata.creationTimestamp"));
}

/* labels.FormatLabels: sorted "a=b,c=d", "<none>" when empty. */
static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *format_labels(const json_t *labels)
{
    size_t n = json_object_size(labels);
    if (n == 0)
        return json_string("<none>");
    const char **keys = xcalloc(n, sizeof(char *));
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)labels, key, v)
        keys[i++] = key;
    qsort(keys, n, sizeof(char *), cmp_keys);
    _cleanup_buf_ struct buf b = BUF_INIT;
    for (i = 0; i < n; i++) {
        const char *val = json_string_value(json_object_get(labels, keys[i]));
        buf_appendf(&b, "%s%s=%s", i ? "," : "", keys[i], val ? val : "");
    }
    free(keys);
    return json_string(b.data);
}

/* Containers and Images columns of a pod template. */
static void container_cells(json_t *cells, const json_t *pod_spec)
{
    _cleanup_buf_ struct buf names = BUF_INIT;
    _cleanup_buf_ struct buf images = BUF_INIT;
    buf_append_str(&names, "");
    buf_append_str(&images, "");
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(pod_spec, "containers"), i, c) {
        buf_appendf(&names, "%s%s", i ? "," : "", str_or(c, "name", ""));
        buf_appendf(&images, "%s%s", i ? "," : "", str_or(c, "image", ""));
    }
    json_array_append_new(cells, json_string(names.data));
    json_array_append_new(cells, json_string(images.data));
}

static json_t *selector_cell(const json_t *selector)
{
    char *s = api_label_selector_json_format(selector);
    json_t *cell = json_string(s);
    free(s);
    return cell;
}

static json_t *fmt_cell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *fmt_cell(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    json_t *cell = json_string(s);
    free(s);
    return cell;
}

static bool has_condition(const json_t *obj, const char *type, const char *status)
{
    size_t i;
    json_t *c;
    json_array_foreach (kjson_path(obj, "status.conditions"), i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));
        if (t != NULL && strcmp(t, type) == 0 && s != NULL && strcmp(s, status) == 0)
            return true;
    }
    return false;
}

/* ---- column definitions ---- */

struct column {
    const char *name;
    const char *type;
    const char *format;
    int priority;
    const char *description;
};

#define COL(n, t, d)                                                                               \
    {                                                                                              \
        n, t, "", 0, d                                                                             \
    }
#define WIDE(n, t, d)                                                                              \
    {                                                                                              \
        n, t, "", 1, d                                                                             \
    }
#define NAME_COL                                                                                   \
    {                                                                                              \
        "Name", "string", "name", 0,                                                               \
            "Name must be unique within a namespace. Is required when creating resources, "        \
            "although some "                                                                       \
            "resources may allow a client to request the generation of an appropriate name "       \
            "automatically."                                                                       \
    }
#define AGE_COL                                                                                    \
    COL("Age", "string",                                                                           \
        "CreationTimestamp is a timestamp representing the server time when this object was "      \
        "created.")
#define CONTAINERS_COLS                                                                            \
    WIDE("Containers", "string", "Names of each container in the template."),                      \
        WIDE("Images", "string", "Images referenced by each container in the template.")
#define SELECTOR_COL WIDE("Selector", "string", "The label selector of the object.")

static const struct column pod_cols[] = {
    NAME_COL,
    COL("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    COL("Status", "string", "The aggregate status of the containers in this pod."),
    COL("Restarts", "string",
        "The number of times the containers in this pod have been restarted and when the last "
        "container in this pod has restarted."),
    AGE_COL,
    WIDE("IP", "string", "IP address allocated to the pod. Routable at least within the cluster."),
    WIDE("Node", "string", "NodeName indicates in which node this pod is scheduled."),
    WIDE("Nominated Node", "string",
         "nominatedNodeName is set only when this pod preempts other pods on the node."),
    WIDE("Readiness Gates", "string", "If specified, all readiness gates will be evaluated."),
};
static const struct column deployment_cols[] = {
    NAME_COL,
    COL("Ready", "string", "Number of the pod with ready state"),
    COL("Up-to-date", "integer",
        "Total number of non-terminated pods targeted by this deployment that have the desired "
        "template spec."),
    COL("Available", "integer",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this "
        "deployment."),
    AGE_COL,
    CONTAINERS_COLS,
    SELECTOR_COL,
};
static const struct column replicaset_cols[] = {
    NAME_COL,
    COL("Desired", "integer", "Number of desired pods."),
    COL("Current", "integer", "Number of actual replicas."),
    COL("Ready", "integer", "The number of ready replicas."),
    AGE_COL,
    CONTAINERS_COLS,
    SELECTOR_COL,
};
static const struct column daemonset_cols[] = {
    NAME_COL,
    COL("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
    COL("Current", "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
        "daemon pod."),
    COL("Ready", "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the "
        "daemon pod running and ready."),
    COL("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    COL("Available", "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the "
        "daemon pod running and available."),
    COL("Node Selector", "string",
        "NodeSelector is a selector which must be true for the pod to "
        "fit on a node."),
    AGE_COL,
    CONTAINERS_COLS,
    SELECTOR_COL,
};
static const struct column statefulset_cols[] = {
    NAME_COL,
    COL("Ready", "string", "Number of the pod with ready state"),
    AGE_COL,
    CONTAINERS_COLS,
};
static const struct column job_cols[] = {
    NAME_COL,
    COL("Status", "string", "Status of the job."),
    COL("Completions", "string",
        "The completion status of the job (succeeded/desired completions)."),
    COL("Duration", "string", "Time required to complete the job."),
    AGE_COL,
    CONTAINERS_COLS,
    SELECTOR_COL,
};
static const struct column cronjob_cols[] = {
    NAME_COL,
    COL("Schedule", "string", "The schedule in Cron format."),
    COL("Timezone", "string", "The time zone name for the given schedule."),
    COL("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions."),
    COL("Active", "integer", "A list of pointers to currently running jobs."),
    COL("Last Schedule", "string",
        "Information when was the last time the job was successfully scheduled."),
    AGE_COL,
    CONTAINERS_COLS,
    SELECTOR_COL,
};
static const struct column service_cols[] = {
    NAME_COL,
    COL("Type", "string", "determines how the Service is exposed."),
    COL("Cluster-IP", "string", "clusterIP is the IP address of the service."),
    COL("External-IP", "string",
        "List of IP addresses for which nodes in the cluster will "
        "also accept traffic for this service."),
    COL("Port(s)", "string", "The list of ports that are exposed by this service."),
    AGE_COL,
    WIDE("Selector", "string",
         "Route service traffic to pods with label keys and values matching this selector."),
};
static const struct column endpoints_cols[] = {
    NAME_COL,
    COL("Endpoints", "string", "Endpoints of the service"),
    AGE_COL,
};
static const struct column endpointslice_cols[] = {
    NAME_COL,
    COL("AddressType", "string", "The type of address carried by this EndpointSlice."),
    COL("Ports", "string", "List of ports exposed by this EndpointSlice."),
    COL("Endpoints", "string", "List of endpoints in this EndpointSlice."),
    AGE_COL,
};
static const struct column node_cols[] = {
    NAME_COL,
    COL("Status", "string", "The status of the node"),
    COL("Roles", "string", "The roles of the node"),
    AGE_COL,
    COL("Version", "string", "Kubelet Version reported by the node."),
    WIDE("Internal-IP", "string", "List of addresses reachable to the node."),
    WIDE("External-IP", "string", "List of addresses reachable to the node."),
    WIDE("OS-Image", "string", "OS Image reported by the node from /etc/os-release."),
    WIDE("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r'."),
    WIDE("Container-Runtime", "string", "ContainerRuntime Version reported by the node."),
};
static const struct column event_cols[] = {
    COL("Last Seen", "string",
        "The time at which the most recent occurrence of this event was "
        "recorded."),
    COL("Type", "string",
        "Type of this event (Normal, Warning), new types could be added in the "
        "future."),
    COL("Reason", "string",
        "This should be a short, machine understandable string that gives "
        "the reason for the transition into the object's current status."),
    COL("Object", "string", "The object that this event is about."),
    WIDE("Subobject", "string", "The subobject (a field path) that this event is about."),
    WIDE("Source", "string", "The component reporting this event."),
    COL("Message", "string", "A human-readable description of the status of this operation."),
    WIDE("First Seen", "string", "The time at which the event was first recorded."),
    WIDE("Count", "integer", "The number of times this event has occurred."),
    {"Name", "string", "name", 1, "Name of the event."},
};
static const struct column namespace_cols[] = {
    NAME_COL,
    COL("Status", "string", "The status of the namespace"),
    AGE_COL,
};
static const struct column configmap_cols[] = {
    NAME_COL,
    COL("Data", "integer", "Number of data entries"),
    AGE_COL,
};
static const struct column secret_cols[] = {
    NAME_COL,
    COL("Type", "string", "The type of the secret"),
    COL("Data", "integer", "Number of data entries"),
    AGE_COL,
};
static const struct column serviceaccount_cols[] = {
    NAME_COL,
    COL("Secrets", "integer",
        "Secrets is a list of the secrets in the same namespace that pods "
        "running using this ServiceAccount are allowed to use."),
    AGE_COL,
};
static const struct column networkpolicy_cols[] = {
    NAME_COL,
    COL("Pod-Selector", "string", "Selects the pods to which this NetworkPolicy object applies."),
    AGE_COL,
};
static const struct column lease_cols[] = {
    NAME_COL,
    COL("Holder", "string", "The holder of the lease"),
    AGE_COL,
};
static const struct column hpa_cols[] = {
    NAME_COL,
    COL("Reference", "string", "reference to scaled resource"),
    COL("Targets", "string", "the current and target values of the metrics"),
    COL("MinPods", "string", "lower limit for the number of pods"),
    COL("MaxPods", "integer", "upper limit for the number of pods"),
    COL("Replicas", "integer", "current number of replicas of pods managed by this autoscaler"),
    AGE_COL,
};
static const struct column priorityclass_cols[] = {
    NAME_COL,
    COL("Value", "integer", "The integer value of this priority class."),
    COL("Global-Default", "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default "
        "priority."),
    AGE_COL,
    COL("PreemptionPolicy", "string", "The policy for preempting pods with lower priority."),
};
static const struct column role_cols[] = {
    NAME_COL,
    COL("Created At", "date", "Time the object was created."),
};
static const struct column rolebinding_cols[] = {
    NAME_COL,
    COL("Role", "string", "RoleRef is the Role to bind to."),
    AGE_COL,
    WIDE("Users", "string", "Users in the roleBinding"),
    WIDE("Groups", "string", "Groups in the roleBinding"),
    WIDE("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
};
static const struct column rc_cols[] = {
    NAME_COL,
    COL("Desired", "integer", "Number of desired pods."),
    COL("Current", "integer", "Number of actual replicas."),
    COL("Ready", "integer", "The number of ready replicas."),
    AGE_COL,
    CONTAINERS_COLS,
    SELECTOR_COL,
};
static const struct column generic_cols[] = {
    NAME_COL,
    AGE_COL,
};

/* ---- rows ---- */

/* Pod STATUS and RESTARTS (printPod). */
static bool restartable_init(const json_t *spec, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(spec, "initContainers"), i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        const char *rp = json_string_value(json_object_get(c, "restartPolicy"));
        if (n != NULL && name != NULL && strcmp(n, name) == 0)
            return rp != NULL && strcmp(rp, "Always") == 0;
    }
    return false;
}

static void later_stamp(const json_t *container, time_t *latest)
{
    const char *f = str_at(container, "lastState.terminated.finishedAt");
    time_t t;
    if (f != NULL && clock_parse_rfc3339(f, &t) == 0 && t > *latest)
        *latest = t;
}

static void pod_row(const struct ctx *cx, const json_t *pod, json_t *cells)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *status = json_object_get(pod, "status");
    long long restarts = 0, init_restarts = 0;
    size_t total = json_array_size(json_object_get(spec, "containers"));
    size_t ready = 0;
    time_t last_restart = 0, last_init_restart = 0;
    const char *phase = str_or(pod, "status.phase", "");
    _cleanup_free_ char *reason = xstrdup(phase);
    const char *status_reason = str_at(pod, "status.reason");
    if (status_reason != NULL && status_reason[0] != '\0') {
        free(reason);
        reason = xstrdup(status_reason);
    }
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(status, "conditions"), i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *r = json_string_value(json_object_get(c, "reason"));
        if (t && r && strcmp(t, "PodScheduled") == 0 && strcmp(r, "SchedulingGated") == 0) {
            free(reason);
            reason = xstrdup("SchedulingGated");
        }
    }
    json_array_foreach (json_object_get(spec, "initContainers"), i, c) {
        const char *rp = json_string_value(json_object_get(c, "restartPolicy"));
        if (rp != NULL && strcmp(rp, "Always") == 0)
            total++;
    }
    bool initializing = false;
    size_t n_init = json_array_size(json_object_get(spec, "initContainers"));
    json_array_foreach (json_object_get(status, "initContainerStatuses"), i, c) {
        restarts += json_integer_value(json_object_get(c, "restartCount"));
        later_stamp(c, &last_restart);
        const char *name = json_string_value(json_object_get(c, "name"));
        bool restartable = restartable_init(spec, name);
        if (restartable) {
            init_restarts += json_integer_value(json_object_get(c, "restartCount"));
            later_stamp(c, &last_init_restart);
        }
        json_t *term = kjson_path(c, "state.terminated");
        json_t *waiting = kjson_path(c, "state.waiting");
        const char *wreason = json_string_value(json_object_get(waiting, "reason"));
        if (term != NULL && json_integer_value(json_object_get(term, "exitCode")) == 0)
            continue;
        if (restartable && json_is_true(json_object_get(c, "started"))) {
            if (json_is_true(json_object_get(c, "ready")))
                ready++;
            continue;
        }
        free(reason);
        if (term != NULL) {
            const char *tr = json_string_value(json_object_get(term, "reason"));
            if (tr == NULL || tr[0] == '\0') {
                json_int_t sig = json_integer_value(json_object_get(term, "signal"));
                if (sig != 0)
                    reason = xasprintf("Init:Signal:%lld", (long long)sig);
                else
                    reason =
                        xasprintf("Init:ExitCode:%lld",
                                  (long long)json_integer_value(json_object_get(term, "exitCode")));
            } else {
                reason = xasprintf("Init:%s", tr);
            }
        } else if (wreason != NULL && wreason[0] != '\0' &&
                   strcmp(wreason, "PodInitializing") != 0) {
            reason = xasprintf("Init:%s", wreason);
        } else {
            reason = xasprintf("Init:%zu/%zu", i, n_init);
        }
        initializing = true;
        break;
    }
    if (!initializing || has_condition(pod, "Initialized", "True")) {
        restarts = init_restarts;
        last_restart = last_init_restart;
        bool has_running = false;
        json_t *statuses = json_object_get(status, "containerStatuses");
        for (size_t j = json_array_size(statuses); j-- > 0;) {
            c = json_array_get(statuses, j);
            restarts += json_integer_value(json_object_get(c, "restartCount"));
            later_stamp(c, &last_restart);
            const char *wr = str_at(c, "state.waiting.reason");
            json_t *term = kjson_path(c, "state.terminated");
            const char *tr = json_string_value(json_object_get(term, "reason"));
            if (wr != NULL && wr[0] != '\0') {
                free(reason);
                reason = xstrdup(wr);
            } else if (term != NULL && tr != NULL && tr[0] != '\0') {
                free(reason);
                reason = xstrdup(tr);
            } else if (term != NULL) {
                free(reason);
                json_int_t sig = json_integer_value(json_object_get(term, "signal"));
                if (sig != 0)
                    reason = xasprintf("Signal:%lld", (long long)sig);
                else
                    reason =
                        xasprintf("ExitCode:%lld",
                                  (long long)json_integer_value(json_object_get(term, "exitCode")));
            } else if (json_is_true(json_object_get(c, "ready")) &&
                       kjson_path(c, "state.running") != NULL) {
                has_running = true;
                ready++;
            }
        }
        if (strcmp(reason, "Completed") == 0 && has_running) {
            free(reason);
            reason = xstrdup(has_condition(pod, "Ready", "True") ? "Running" : "NotReady");
        }
    }
    bool deleting = kjson_path(pod, "metadata.deletionTimestamp") != NULL &&
                    !json_is_null(kjson_path(pod, "metadata.deletionTimestamp"));
    if (deleting && status_reason != NULL && strcmp(status_reason, "NodeLost") == 0) {
        free(reason);
        reason = xstrdup("Unknown");
    } else if (deleting && strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0) {
        free(reason);
        reason = xstrdup("Terminating");
    }

    json_array_append_new(cells, name_cell(pod));
    json_array_append_new(cells, fmt_cell("%zu/%zu", ready, total));
    json_array_append_new(cells, json_string(reason));
    if (restarts != 0 && last_restart != 0) {
        char ago[16];
        api_human_duration((long long)(cx->now - last_restart), ago);
        json_array_append_new(cells, fmt_cell("%lld (%s ago)", restarts, ago));
    } else {
        json_array_append_new(cells, fmt_cell("%lld", restarts));
    }
    json_array_append_new(cells, creation_age(cx, pod));
    json_array_append_new(cells, json_string(str_or(pod, "status.podIP", "<none>")));
    json_array_append_new(cells, json_string(str_or(pod, "spec.nodeName", "<none>")));
    json_array_append_new(cells, json_string(str_or(pod, "status.nominatedNodeName", "<none>")));
    size_t gates = json_array_size(json_object_get(spec, "readinessGates"));
    if (gates == 0) {
        json_array_append_new(cells, json_string("<none>"));
    } else {
        size_t true_gates = 0;
        json_t *g;
        json_array_foreach (json_object_get(spec, "readinessGates"), i, g) {
            const char *ct = json_string_value(json_object_get(g, "conditionType"));
            if (ct != NULL && has_condition(pod, ct, "True"))
                true_gates++;
        }
        json_array_append_new(cells, fmt_cell("%zu/%zu", true_gates, gates));
    }
}

static const char *const node_role_prefix = "node-role.kubernetes.io/";

static void node_row(const struct ctx *cx, const json_t *node, json_t *cells)
{
    _cleanup_buf_ struct buf status = BUF_INIT;
    size_t i;
    json_t *c;
    json_array_foreach (kjson_path(node, "status.conditions"), i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));
        if (t != NULL && strcmp(t, "Ready") == 0)
            buf_append_str(&status, s != NULL && strcmp(s, "True") == 0 ? "Ready" : "NotReady");
    }
    if (status.len == 0)
        buf_append_str(&status, "Unknown");
    if (json_is_true(kjson_path(node, "spec.unschedulable")))
        buf_append_str(&status, ",SchedulingDisabled");
    /* Roles: node-role.kubernetes.io/<role> labels and kubernetes.io/role, sorted. */
    json_t *roles = json_object();
    const char *key;
    json_t *v;
    json_object_foreach (kjson_path(node, "metadata.labels"), key, v) {
        if (strncmp(key, node_role_prefix, strlen(node_role_prefix)) == 0 &&
            key[strlen(node_role_prefix)] != '\0')
            json_object_set_new(roles, key + strlen(node_role_prefix), json_true());
        else if (strcmp(key, "kubernetes.io/role") == 0 && json_string_length(v) > 0)
            json_object_set_new(roles, json_string_value(v), json_true());
    }
    _cleanup_buf_ struct buf rb = BUF_INIT;
    size_t n = json_object_size(roles);
    const char **names = xcalloc(n + 1, sizeof(char *));
    i = 0;
    json_object_foreach (roles, key, v)
        names[i++] = key;
    qsort(names, n, sizeof(char *), cmp_keys);
    for (i = 0; i < n; i++)
        buf_appendf(&rb, "%s%s", i ? "," : "", names[i]);
    free(names);
    json_array_append_new(cells, name_cell(node));
    json_array_append_new(cells, json_string(status.data));
    json_array_append_new(cells, json_string(rb.len ? rb.data : "<none>"));
    json_decref(roles);
    json_array_append_new(cells, creation_age(cx, node));
    json_array_append_new(cells, json_string(str_or(node, "status.nodeInfo.kubeletVersion", "")));
    const char *types[] = {"InternalIP", "ExternalIP"};
    for (int t = 0; t < 2; t++) {
        const char *addr = "<none>";
        json_array_foreach (kjson_path(node, "status.addresses"), i, c) {
            const char *at = json_string_value(json_object_get(c, "type"));
            if (at != NULL && strcmp(at, types[t]) == 0) {
                addr = str_or(c, "address", "<none>");
                break;
            }
        }
        json_array_append_new(cells, json_string(addr));
    }
    json_array_append_new(cells, json_string(str_or(node, "status.nodeInfo.osImage", "<unknown>")));
    json_array_append_new(cells,
                          json_string(str_or(node, "status.nodeInfo.kernelVersion", "<unknown>")));
    json_array_append_new(
        cells, json_string(str_or(node, "status.nodeInfo.containerRuntimeVersion", "<unknown>")));
}

static void event_row(const struct ctx *cx, const json_t *ev, json_t *cells)
{
    json_t *first = age_cell(cx, str_at(ev, "firstTimestamp"));
    if (str_at(ev, "firstTimestamp") == NULL) {
        json_decref(first);
        first = age_cell(cx, str_at(ev, "eventTime"));
    }
    json_t *last = str_at(ev, "lastTimestamp") ? age_cell(cx, str_at(ev, "lastTimestamp"))
                                               : json_incref(first);
    json_int_t count = int_at(ev, "count");
    if (json_is_object(json_object_get(ev, "series"))) {
        json_decref(last);
        last = age_cell(cx, str_at(ev, "series.lastObservedTime"));
        count = int_at(ev, "series.count");
    } else if (count == 0) {
        count = 1;
    }
    _cleanup_free_ char *kind = xstrdup(str_or(ev, "involvedObject.kind", ""));
    for (char *p = kind; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    const char *name = str_at(ev, "involvedObject.name");
    json_array_append_new(cells, last);
    json_array_append_new(cells, json_string(str_or(ev, "type", "")));
    json_array_append_new(cells, json_string(str_or(ev, "reason", "")));
    if (name != NULL && name[0] != '\0')
        json_array_append_new(cells, fmt_cell("%s/%s", kind, name));
    else
        json_array_append_new(cells, json_string(kind));
    json_array_append_new(cells, json_string(str_or(ev, "involvedObject.fieldPath", "")));
    const char *component = str_or(ev, "source.component", str_or(ev, "reportingComponent", ""));
    const char *instance = str_or(ev, "source.host", str_or(ev, "reportingInstance", ""));
    if (component[0] == '\0')
        json_array_append_new(cells, json_string("<unknown>"));
    else if (instance[0] == '\0')
        json_array_append_new(cells, json_string(component));
    else
        json_array_append_new(cells, fmt_cell("%s, %s", component, instance));
    /* strings.TrimSpace */
    const char *msg = str_or(ev, "message", "");
    while (*msg == ' ' || *msg == '\n' || *msg == '\t' || *msg == '\r')
        msg++;
    size_t mlen = strlen(msg);
    while (mlen > 0 && (msg[mlen - 1] == ' ' || msg[mlen - 1] == '\n' || msg[mlen - 1] == '\t' ||
                        msg[mlen - 1] == '\r'))
        mlen--;
    json_array_append_new(cells, json_stringn(msg, mlen));
    json_array_append_new(cells, first);
    json_array_append_new(cells, json_integer(count));
    json_array_append_new(cells, name_cell(ev));
}

static json_t *service_ports(const json_t *svc)
{
    json_t *ports = kjson_path(svc, "spec.ports");
    if (json_array_size(ports) == 0)
        return json_string("<none>");
    _cleanup_buf_ struct buf b = BUF_INIT;
    size_t i;
    json_t *p;
    json_array_foreach (ports, i, p) {
        json_int_t port = int_at(p, "port"), node_port = int_at(p, "nodePort");
        const char *proto = str_or(p, "protocol", "");
        if (node_port > 0)
            buf_appendf(&b, "%s%lld:%lld/%s", i ? "," : "", (long long)port, (long long)node_port,
                        proto);
        else
            buf_appendf(&b, "%s%lld/%s", i ? "," : "", (long long)port, proto);
    }
    return json_string(b.data);
}

static json_t *join_strings(const json_t *arr, const char *sep)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_append_str(&b, "");
    size_t i;
    json_t *s;
    json_array_foreach (arr, i, s)
        buf_appendf(&b, "%s%s", i ? sep : "", json_string_value(s) ? json_string_value(s) : "");
    return json_string(b.data);
}

static json_t *service_external_ip(const json_t *svc)
{
    const char *type = str_or(svc, "spec.type", "");
    json_t *ext = kjson_path(svc, "spec.externalIPs");
    if (strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0) {
        if (json_array_size(ext) > 0)
            return join_strings(ext, ",");
        return json_string("<none>");
    }
    if (strcmp(type, "LoadBalancer") == 0) {
        _cleanup_buf_ struct buf b = BUF_INIT;
        size_t i;
        json_t *ing;
        json_array_foreach (kjson_path(svc, "status.loadBalancer.ingress"), i, ing) {
            const char *ip = str_or(ing, "ip", str_or(ing, "hostname", ""));
            if (ip[0] != '\0')
                buf_appendf(&b, "%s%s", b.len ? "," : "", ip);
        }
        json_t *e;
        json_array_foreach (ext, i, e)
            buf_appendf(&b, "%s%s", b.len ? "," : "",
                        json_string_value(e) ? json_string_value(e) : "");
        return json_string(b.len ? b.data : "<pending>");
    }
    if (strcmp(type, "ExternalName") == 0)
        return json_string(str_or(svc, "spec.externalName", ""));
    return json_string("<unknown>");
}

static json_t *endpoints_cell(const json_t *ep)
{
    json_t *subsets = json_object_get(ep, "subsets");
    if (json_array_size(subsets) == 0)
        return json_string("<none>");
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_append_str(&b, "");
    size_t listed = 0, count = 0, i;
    const size_t max = 3;
    bool more = false;
    json_t *ss;
    json_array_foreach (subsets, i, ss) {
        json_t *addrs = json_object_get(ss, "addresses");
        json_t *ports = json_object_get(ss, "ports");
        size_t np = json_array_size(ports);
        for (size_t p = 0; p < (np ? np : 1); p++) {
            count += json_array_size(addrs);
            for (size_t a = 0; a < json_array_size(addrs); a++) {
                if (listed == max) {
                    more = true;
                    break;
                }
                const char *ip = str_or(json_array_get(addrs, a), "ip", "");
                bool v6 = strchr(ip, ':') != NULL;
                if (np == 0)
                    buf_appendf(&b, "%s%s", listed ? "," : "", ip);
                else
                    buf_appendf(&b, v6 ? "%s[%s]:%lld" : "%s%s:%lld", listed ? "," : "", ip,
                                (long long)int_at(json_array_get(ports, p), "port"));
                listed++;
            }
        }
    }
    if (more)
        buf_appendf(&b, " + %zu more...", count - max);
    return json_string(b.data);
}

static json_t *list_with_more(json_t *values_take, size_t count)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    size_t i;
    json_t *v;
    json_array_foreach (values_take, i, v)
        buf_appendf(&b, "%s%s", i ? "," : "", json_string_value(v));
    if (count > 3)
        buf_appendf(&b, " + %zu more...", count - 3);
    json_decref(values_take);
    return json_string(b.data ? b.data : "");
}

static void endpointslice_row(const struct ctx *cx, const json_t *es, json_t *cells)
{
    json_array_append_new(cells, name_cell(es));
    json_array_append_new(cells, json_string(str_or(es, "addressType", "")));
    json_t *ports = json_object_get(es, "ports");
    if (json_array_size(ports) == 0) {
        json_array_append_new(cells, json_string("<unset>"));
    } else {
        json_t *list = json_array();
        size_t i;
        json_t *p;
        json_array_foreach (ports, i, p) {
            if (i >= 3)
                break;
            json_t *port = json_object_get(p, "port");
            if (json_is_integer(port))
                json_array_append_new(list, fmt_cell("%lld", (long long)json_integer_value(port)));
            else
                json_array_append_new(list, json_string(str_or(p, "name", "*")));
        }
        json_array_append_new(cells, list_with_more(list, json_array_size(ports)));
    }
    json_t *eps = json_object_get(es, "endpoints");
    json_t *list = json_array();
    size_t count = 0, i;
    json_t *e;
    json_array_foreach (eps, i, e) {
        size_t j;
        json_t *a;
        json_array_foreach (json_object_get(e, "addresses"), j, a) {
            if (json_array_size(list) < 3)
                json_array_append(list, a);
            count++;
        }
    }
    if (count == 0) {
        json_decref(list);
        json_array_append_new(cells, json_string("<unset>"));
    } else {
        json_array_append_new(cells, list_with_more(list, count));
    }
    json_array_append_new(cells, creation_age(cx, es));
}

static void job_row(const struct ctx *cx, const json_t *job, json_t *cells)
{
    const char *status = "Running";
    if (has_condition(job, "Complete", "True"))
        status = "Complete";
    else if (has_condition(job, "Failed", "True"))
        status = "Failed";
    else if (kjson_path(job, "metadata.deletionTimestamp") != NULL)
        status = "Terminating";
    else if (has_condition(job, "Suspended", "True"))
        status = "Suspended";
    else if (has_condition(job, "FailureTarget", "True"))
        status = "FailureTarget";
    json_array_append_new(cells, name_cell(job));
    json_array_append_new(cells, json_string(status));
    json_int_t succeeded = int_at(job, "status.succeeded");
    json_t *comp = kjson_path(job, "spec.completions");
    json_int_t par = int_at(job, "spec.parallelism");
    if (json_is_integer(comp))
        json_array_append_new(cells, fmt_cell("%lld/%lld", (long long)succeeded,
                                              (long long)json_integer_value(comp)));
    else if (par > 1)
        json_array_append_new(cells,
                              fmt_cell("%lld/1 of %lld", (long long)succeeded, (long long)par));
    else
        json_array_append_new(cells, fmt_cell("%lld/1", (long long)succeeded));
    time_t start, end;
    const char *st = str_at(job, "status.startTime");
    const char *ct = str_at(job, "status.completionTime");
    char d[16];
    if (st == NULL || clock_parse_rfc3339(st, &start) < 0)
        json_array_append_new(cells, json_string(""));
    else if (ct == NULL || clock_parse_rfc3339(ct, &end) < 0)
        json_array_append_new(cells, json_string(api_human_duration(cx->now - start, d)));
    else
        json_array_append_new(cells, json_string(api_human_duration(end - start, d)));
    json_array_append_new(cells, creation_age(cx, job));
    container_cells(cells, kjson_path(job, "spec.template.spec"));
    json_array_append_new(cells, selector_cell(kjson_path(job, "spec.selector")));
}

static void cronjob_row(const struct ctx *cx, const json_t *cj, json_t *cells)
{
    json_array_append_new(cells, name_cell(cj));
    json_array_append_new(cells, json_string(str_or(cj, "spec.schedule", "")));
    json_array_append_new(cells, json_string(str_or(cj, "spec.timeZone", "<none>")));
    json_t *suspend = kjson_path(cj, "spec.suspend");
    json_array_append_new(cells, json_string(json_is_boolean(suspend)
                                                 ? (json_is_true(suspend) ? "True" : "False")
                                                 : "<unset>"));
    json_array_append_new(
        cells, json_integer((json_int_t)json_array_size(kjson_path(cj, "status.active"))));
    const char *last = str_at(cj, "status.lastScheduleTime");
    json_array_append_new(cells, last ? age_cell(cx, last) : json_string("<none>"));
    json_array_append_new(cells, creation_age(cx, cj));
    container_cells(cells, kjson_path(cj, "spec.jobTemplate.spec.template.spec"));
    json_array_append_new(cells, selector_cell(kjson_path(cj, "spec.jobTemplate.spec.selector")));
}

static json_t *hpa_targets(const json_t *hpa)
{
    json_t *metrics = kjson_path(hpa, "spec.metrics");
    if (json_array_size(metrics) == 0)
        return json_string("<none>");
    _cleanup_buf_ struct buf b = BUF_INIT;
    size_t i;
    json_t *m;
    json_array_foreach (metrics, i, m) {
        if (i == 3) {
            buf_appendf(&b, " + %zu more...", json_array_size(metrics) - 3);
            break;
        }
        if (i > 0)
            buf_append_str(&b, ", ");
        const char *type = str_or(m, "type", "");
        if (strcmp(type, "Resource") == 0) {
            const char *name = str_or(m, "resource.name", "");
            /* current value from status.currentMetrics for the same resource */
            const char *current = "<unknown>";
            char tmp[32];
            size_t j;
            json_t *cm;
            json_array_foreach (kjson_path(hpa, "status.currentMetrics"), j, cm) {
                if (strcmp(str_or(cm, "resource.name", ""), name) != 0)
                    continue;
                json_t *u = kjson_path(cm, "resource.current.averageUtilization");
                if (json_is_integer(u)) {
                    snprintf(tmp, sizeof(tmp), "%lld%%", (long long)json_integer_value(u));
                    current = tmp;
                } else if (str_at(cm, "resource.current.averageValue") != NULL) {
                    current = str_at(cm, "resource.current.averageValue");
                }
            }
            json_t *util = kjson_path(m, "resource.target.averageUtilization");
            if (json_is_integer(util))
                buf_appendf(&b, "%s: %s/%lld%%", name, current,
                            (long long)json_integer_value(util));
            else
                buf_appendf(&b, "%s: %s/%s", name, current,
                            str_or(m, "resource.target.averageValue", "<unknown>"));
        } else {
            buf_appendf(&b, "<unknown>/<unknown>");
        }
    }
    return json_string(b.data);
}

static void hpa_row(const struct ctx *cx, const json_t *hpa, json_t *cells)
{
    json_array_append_new(cells, name_cell(hpa));
    json_array_append_new(cells, fmt_cell("%s/%s", str_or(hpa, "spec.scaleTargetRef.kind", ""),
                                          str_or(hpa, "spec.scaleTargetRef.name", "")));
    json_array_append_new(cells, hpa_targets(hpa));
    json_t *min = kjson_path(hpa, "spec.minReplicas");
    json_array_append_new(cells, json_is_integer(min)
                                     ? fmt_cell("%lld", (long long)json_integer_value(min))
                                     : json_string("<unset>"));
    json_array_append_new(cells, json_integer(int_at(hpa, "spec.maxReplicas")));
    json_array_append_new(cells, json_integer(int_at(hpa, "status.currentReplicas")));
    json_array_append_new(cells, creation_age(cx, hpa));
}

static void binding_row(const struct ctx *cx, const json_t *rb, json_t *cells)
{
    json_array_append_new(cells, name_cell(rb));
    json_array_append_new(
        cells, fmt_cell("%s/%s", str_or(rb, "roleRef.kind", ""), str_or(rb, "roleRef.name", "")));
    json_array_append_new(cells, creation_age(cx, rb));
    const char *kinds[] = {"User", "Group", "ServiceAccount"};
    for (int k = 0; k < 3; k++) {
        _cleanup_buf_ struct buf b = BUF_INIT;
        buf_append_str(&b, "");
        size_t i;
        json_t *s;
        json_array_foreach (json_object_get(rb, "subjects"), i, s) {
            if (strcmp(str_or(s, "kind", ""), kinds[k]) != 0)
                continue;
            if (k == 2)
                buf_appendf(&b, "%s%s/%s", b.len ? ", " : "", str_or(s, "namespace", ""),
                            str_or(s, "name", ""));
            else
                buf_appendf(&b, "%s%s", b.len ? ", " : "", str_or(s, "name", ""));
        }
        json_array_append_new(cells, json_string(b.data));
    }
}

static void row_for(const struct api_kind *k, const struct ctx *cx, const json_t *o, json_t *cells)
{
    const char *kind = k->kind;
    bool core = k->group[0] == '\0';
    if (core && strcmp(kind, "Pod") == 0) {
        pod_row(cx, o, cells);
    } else if (strcmp(kind, "Deployment") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_t *replicas = kjson_path(o, "spec.replicas");
        json_array_append_new(
            cells,
            fmt_cell("%lld/%lld", (long long)int_at(o, "status.readyReplicas"),
                     (long long)(json_is_integer(replicas) ? json_integer_value(replicas) : 0)));
        json_array_append_new(cells, json_integer(int_at(o, "status.updatedReplicas")));
        json_array_append_new(cells, json_integer(int_at(o, "status.availableReplicas")));
        json_array_append_new(cells, creation_age(cx, o));
        container_cells(cells, kjson_path(o, "spec.template.spec"));
        json_array_append_new(cells, selector_cell(kjson_path(o, "spec.selector")));
    } else if (strcmp(kind, "ReplicaSet") == 0 || strcmp(kind, "ReplicationController") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, json_integer(int_at(o, "spec.replicas")));
        json_array_append_new(cells, json_integer(int_at(o, "status.replicas")));
        json_array_append_new(cells, json_integer(int_at(o, "status.readyReplicas")));
        json_array_append_new(cells, creation_age(cx, o));
        container_cells(cells, kjson_path(o, "spec.template.spec"));
        if (strcmp(kind, "ReplicaSet") == 0)
            json_array_append_new(cells, selector_cell(kjson_path(o, "spec.selector")));
        else
            json_array_append_new(cells, format_labels(kjson_path(o, "spec.selector")));
    } else if (strcmp(kind, "DaemonSet") == 0) {
        json_array_append_new(cells, name_cell(o));
        static const char *const counts[] = {
            "status.desiredNumberScheduled", "status.currentNumberScheduled", "status.numberReady",
            "status.updatedNumberScheduled", "status.numberAvailable"};
        for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
            json_array_append_new(cells, json_integer(int_at(o, counts[i])));
        json_array_append_new(cells,
                              format_labels(kjson_path(o, "spec.template.spec.nodeSelector")));
        json_array_append_new(cells, creation_age(cx, o));
        container_cells(cells, kjson_path(o, "spec.template.spec"));
        json_array_append_new(cells, selector_cell(kjson_path(o, "spec.selector")));
    } else if (strcmp(kind, "StatefulSet") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_t *replicas = kjson_path(o, "spec.replicas");
        json_array_append_new(
            cells,
            fmt_cell("%lld/%lld", (long long)int_at(o, "status.readyReplicas"),
                     (long long)(json_is_integer(replicas) ? json_integer_value(replicas) : 0)));
        json_array_append_new(cells, creation_age(cx, o));
        container_cells(cells, kjson_path(o, "spec.template.spec"));
    } else if (strcmp(kind, "Job") == 0) {
        job_row(cx, o, cells);
    } else if (strcmp(kind, "CronJob") == 0) {
        cronjob_row(cx, o, cells);
    } else if (core && strcmp(kind, "Service") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, json_string(str_or(o, "spec.type", "")));
        json_array_append_new(cells, json_string(str_or(o, "spec.clusterIP", "<none>")));
        json_array_append_new(cells, service_external_ip(o));
        json_array_append_new(cells, service_ports(o));
        json_array_append_new(cells, creation_age(cx, o));
        json_array_append_new(cells, format_labels(kjson_path(o, "spec.selector")));
    } else if (core && strcmp(kind, "Endpoints") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, endpoints_cell(o));
        json_array_append_new(cells, creation_age(cx, o));
    } else if (strcmp(kind, "EndpointSlice") == 0) {
        endpointslice_row(cx, o, cells);
    } else if (core && strcmp(kind, "Node") == 0) {
        node_row(cx, o, cells);
    } else if (strcmp(kind, "Event") == 0) {
        if (!core) {
            json_t *converted = api_event_convert(o, "v1");
            event_row(cx, converted, cells);
            json_decref(converted);
        } else {
            event_row(cx, o, cells);
        }
    } else if (core && strcmp(kind, "Namespace") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, json_string(str_or(o, "status.phase", "")));
        json_array_append_new(cells, creation_age(cx, o));
    } else if (core && strcmp(kind, "ConfigMap") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(
            cells, json_integer((json_int_t)(json_object_size(json_object_get(o, "data")) +
                                             json_object_size(json_object_get(o, "binaryData")))));
        json_array_append_new(cells, creation_age(cx, o));
    } else if (core && strcmp(kind, "Secret") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, json_string(str_or(o, "type", "")));
        json_array_append_new(
            cells, json_integer((json_int_t)json_object_size(json_object_get(o, "data"))));
        json_array_append_new(cells, creation_age(cx, o));
    } else if (core && strcmp(kind, "ServiceAccount") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(
            cells, json_integer((json_int_t)json_array_size(json_object_get(o, "secrets"))));
        json_array_append_new(cells, creation_age(cx, o));
    } else if (strcmp(kind, "NetworkPolicy") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, selector_cell(kjson_path(o, "spec.podSelector")));
        json_array_append_new(cells, creation_age(cx, o));
    } else if (strcmp(kind, "Lease") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, json_string(str_or(o, "spec.holderIdentity", "")));
        json_array_append_new(cells, creation_age(cx, o));
    } else if (strcmp(kind, "HorizontalPodAutoscaler") == 0) {
        hpa_row(cx, o, cells);
    } else if (strcmp(kind, "PriorityClass") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, json_integer(int_at(o, "value")));
        json_array_append_new(cells,
                              json_boolean(json_is_true(json_object_get(o, "globalDefault"))));
        json_array_append_new(cells, creation_age(cx, o));
        json_array_append_new(cells, json_string(str_or(o, "preemptionPolicy", "")));
    } else if (strcmp(kind, "Role") == 0 || strcmp(kind, "ClusterRole") == 0) {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, json_string(str_or(o, "metadata.creationTimestamp", "")));
    } else if (strcmp(kind, "RoleBinding") == 0 || strcmp(kind, "ClusterRoleBinding") == 0) {
        binding_row(cx, o, cells);
    } else {
        json_array_append_new(cells, name_cell(o));
        json_array_append_new(cells, creation_age(cx, o));
    }
}

static const struct column *columns_for(const struct api_kind *k, size_t *n)
{
    static const struct {
        const char *group, *kind;
        const struct column *cols;
        size_t n;
    } table[] = {
#define K(g, kind, cols) {g, kind, cols, ARRAY_SIZE(cols)}
        K("", "Pod", pod_cols),
        K("apps", "Deployment", deployment_cols),
        K("apps", "ReplicaSet", replicaset_cols),
        K("apps", "DaemonSet", daemonset_cols),
        K("apps", "StatefulSet", statefulset_cols),
        K("batch", "Job", job_cols),
        K("batch", "CronJob", cronjob_cols),
        K("", "Service", service_cols),
        K("", "Endpoints", endpoints_cols),
        K("discovery.k8s.io", "EndpointSlice", endpointslice_cols),
        K("", "Node", node_cols),
        K("", "Event", event_cols),
        K("events.k8s.io", "Event", event_cols),
        K("", "Namespace", namespace_cols),
        K("", "ConfigMap", configmap_cols),
        K("", "Secret", secret_cols),
        K("", "ServiceAccount", serviceaccount_cols),
        K("coordination.k8s.io", "Lease", lease_cols),
        K("networking.k8s.io", "NetworkPolicy", networkpolicy_cols),
        K("autoscaling", "HorizontalPodAutoscaler", hpa_cols),
        K("scheduling.k8s.io", "PriorityClass", priorityclass_cols),
        K("rbac.authorization.k8s.io", "Role", role_cols),
        K("rbac.authorization.k8s.io", "ClusterRole", role_cols),
        K("rbac.authorization.k8s.io", "RoleBinding", rolebinding_cols),
        K("rbac.authorization.k8s.io", "ClusterRoleBinding", rolebinding_cols),
        K("", "ReplicationController", rc_cols),
#undef K
    };
    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        if (strcmp(table[i].group, k->group) == 0 && strcmp(table[i].kind, k->kind) == 0) {
            *n = table[i].n;
            return table[i].cols;
        }
    }
    *n = ARRAY_SIZE(generic_cols);
    return generic_cols;
}

static json_t *row_conditions(const struct api_kind *k, const json_t *o)
{
    if (k->group[0] != '\0' || strcmp(k->kind, "Pod") != 0)
        return NULL;
    const char *phase = str_or(o, "status.phase", "");
    if (strcmp(phase, "Succeeded") == 0)
        return json_pack("[{s:s,s:s,s:s,s:s}]", "type", "Completed", "status", "True", "reason",
                         "Succeeded", "message", "The pod has completed successfully.");
    if (strcmp(phase, "Failed") == 0)
        return json_pack("[{s:s,s:s,s:s,s:s}]", "type", "Completed", "status", "True", "reason",
                         "Failed", "message", "The pod failed.");
    return NULL;
}

json_t *api_table_build_at(const struct api_kind *k, json_t *items, const char *resource_version,
                           bool include_object, time_t now)
{
    struct ctx cx = {now};
    size_t ncols;
    const struct column *cols = columns_for(k, &ncols);
    json_t *table = json_object();
    json_object_set_new(table, "kind", json_string("Table"));
    json_object_set_new(table, "apiVersion", json_string("meta.k8s.io/v1"));
    json_t *md = json_object();
    if (resource_version != NULL)
        json_object_set_new(md, "resourceVersion", json_string(resource_version));
    json_object_set_new(table, "metadata", md);
    json_t *defs = json_array();
    for (size_t i = 0; i < ncols; i++)
        json_array_append_new(defs, json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", cols[i].name, "type",
                                              cols[i].type, "format", cols[i].format, "description",
                                              cols[i].description, "priority", cols[i].priority));
    json_object_set_new(table, "columnDefinitions", defs);
    json_t *rows = json_array();
    size_t i;
    json_t *o;
    json_array_foreach (items, i, o) {
        if (!json_is_object(o))
            continue;
        json_t *cells = json_array();
        row_for(k, &cx, o, cells);
        K8C_ASSERT(json_array_size(cells) == ncols);
        json_t *row = json_object();
        json_object_set_new(row, "cells", cells);
        json_t *conds = row_conditions(k, o);
        if (conds != NULL)
            json_object_set_new(row, "conditions", conds);
        if (include_object) {
            json_object_set(row, "object", o);
        } else {
            json_t *pom = json_object();
            json_object_set_new(pom, "kind", json_string("PartialObjectMetadata"));
            json_object_set_new(pom, "apiVersion", json_string("meta.k8s.io/v1"));
            json_t *omd = json_object_get(o, "metadata");
            json_object_set_new(pom, "metadata", omd ? json_deep_copy(omd) : json_object());
            json_object_set_new(row, "object", pom);
        }
        json_array_append_new(rows, row);
    }
    json_object_set_new(table, "rows", rows);
    return table;
}

json_t *api_table_build(const struct api_kind *k, json_t *items, const char *resource_version,
                        bool include_object)
{
    return api_table_build_at(k, items, resource_version, include_object, time(NULL));
}
