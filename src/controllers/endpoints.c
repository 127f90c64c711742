/* The Endpoints controller: for each Service with a selector, an Endpoints object of the same
 * name listing the matching pods' IPs (ready ones under addresses, others under
 * notReadyAddresses, all ready when publishNotReadyAddresses), with the service's ports
 * resolved per pod (targetPort by number or by container port name). Also the pod-to-service
 * mapping the EndpointSlice controller shares. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "controllers/internal.h"

void ctl__enqueue_services_for_pod(struct ctl_controller *cc, const json_t *pod)
{
    _cleanup_json_ json_t *svcs =
        ctl__list(cc->ctl, CTL_SERVICES, kjson_path_str(pod, "metadata.namespace"));
    size_t i;
    json_t *svc;
    json_array_foreach (svcs, i, svc) {
        if (ctl__map_selector_matches(kjson_path(svc, "spec.selector"),
                                      kjson_path(pod, "metadata.labels")))
            ctl__enqueue_obj(cc, svc);
    }
}

bool ctl__pod_in_endpoints(const json_t *pod, bool publish_not_ready, bool include_terminating)
{
    const char *ip = kjson_path_str(pod, "status.podIP");
    if (ip == NULL || *ip == '\0' || ctl__pod_terminal(pod))
        return false;
    if (ctl__is_deleting(pod) && !(include_terminating || publish_not_ready))
        return false;
    return true;
}

json_t *ctl__endpoint_ports(const json_t *svc, const json_t *pod)
{
    json_t *ports = json_array();
    size_t i;
    json_t *sp;
    json_array_foreach (kjson_path(svc, "spec.ports"), i, sp) {
        const char *proto = kjson_path_str(sp, "protocol") ?: "TCP";
        json_t *target = json_object_get(sp, "targetPort");
        int64_t port = -1;
        if (json_is_string(target)) {
            const char *want = json_string_value(target);
            size_t c, p;
            json_t *ctr, *cp;
            json_array_foreach (kjson_path(pod, "spec.containers"), c, ctr) {
                json_array_foreach (json_object_get(ctr, "ports"), p, cp) {
                    const char *name = kjson_path_str(cp, "name");
                    const char *cproto = kjson_path_str(cp, "protocol") ?: "TCP";
                    if (port < 0 && name && strcmp(name, want) == 0 && strcmp(cproto, proto) == 0)
                        port = ctl__int(cp, "containerPort", -1);
                }
            }
        } else if (json_is_integer(target)) {
            port = json_integer_value(target);
        } else {
            port = ctl__int(sp, "port", -1);
        }
        if (port <= 0)
            continue; /* no such port on this pod: as Kubernetes, it is left out */
        json_t *ep = json_pack("{s:I,s:s}", "port", (json_int_t)port, "protocol", proto);
        const char *name = kjson_path_str(sp, "name");
        if (name && *name)
            json_object_set_new(ep, "name", json_string(name));
        json_t *app = json_object_get(sp, "appProtocol");
        if (json_is_string(app))
            json_object_set(ep, "appProtocol", app);
        json_array_append_new(ports, ep);
    }
    return ports;
}

static json_t *address_of(const json_t *pod, const json_t *svc)
{
    json_t *a = json_pack("{s:s}", "ip", kjson_path_str(pod, "status.podIP"));
    const char *node = kjson_path_str(pod, "spec.nodeName");
    if (node && *node)
        json_object_set_new(a, "nodeName", json_string(node));
    const char *hostname = kjson_path_str(pod, "spec.hostname");
    const char *sub = kjson_path_str(pod, "spec.subdomain");
    const char *svc_name = kjson_path_str(svc, "metadata.name");
    if (hostname && *hostname && sub && svc_name && strcmp(sub, svc_name) == 0)
        json_object_set_new(a, "hostname", json_string(hostname));
    json_object_set_new(a, "targetRef", ctl__pod_target_ref(pod));
    return a;
}

static int cmp_ip(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    return strcmp(kjson_path_str(a, "ip") ?: "", kjson_path_str(b, "ip") ?: "");
}

/* The subsets for svc: pods grouped by their resolved port list. */
static json_t *build_subsets(struct ctl *ctl, const json_t *svc)
{
    bool publish = json_is_true(kjson_path(svc, "spec.publishNotReadyAddresses"));
    bool headless_no_ports = json_array_size(kjson_path(svc, "spec.ports")) == 0;
    _cleanup_json_ json_t *pods =
        ctl__list(ctl, CTL_PODS, kjson_path_str(svc, "metadata.namespace"));
    _cleanup_json_ json_t *groups = json_object(); /* ports JSON -> subset */
    size_t i;
    json_t *pod;
    json_array_foreach (pods, i, pod) {
        if (!ctl__map_selector_matches(kjson_path(svc, "spec.selector"),
                                       kjson_path(pod, "metadata.labels")))
            continue;
        if (!ctl__pod_in_endpoints(pod, publish, false))
            continue;
        _cleanup_json_ json_t *ports = ctl__endpoint_ports(svc, pod);
        if (json_array_size(ports) == 0 && !headless_no_ports)
            continue;
        _cleanup_free_ char *gk = json_dumps(ports, JSON_COMPACT | JSON_SORT_KEYS);
        json_t *subset = json_object_get(groups, gk);
        if (subset == NULL) {
            subset = json_object();
            if (json_array_size(ports) > 0)
                json_object_set(subset, "ports", ports);
            json_object_set_new(groups, gk, subset);
        }
        bool ready = publish || ctl__pod_ready(pod);
        const char *field = ready ? "addresses" : "notReadyAddresses";
        json_t *list = json_object_get(subset, field);
        if (list == NULL) {
            list = json_array();
            json_object_set_new(subset, field, list);
        }
        json_array_append_new(list, address_of(pod, svc));
    }
    json_t *subsets = json_array();
    const char *k;
    json_t *subset;
    json_object_foreach (groups, k, subset) {
        ctl__json_array_sort(json_object_get(subset, "addresses"), cmp_ip);
        ctl__json_array_sort(json_object_get(subset, "notReadyAddresses"), cmp_ip);
        json_array_append(subsets, subset);
    }
    return subsets;
}

static json_t *service_labels(const json_t *svc)
{
    json_t *labels = json_deep_copy(kjson_path(svc, "metadata.labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    const char *cip = kjson_path_str(svc, "spec.clusterIP");
    if (cip && strcmp(cip, "None") == 0)
        json_object_set_new(labels, "service.kubernetes.io/headless", json_string(""));
    return labels;
}

static int endpoints_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    _cleanup_free_ char *ns = NULL, *name = NULL;
    ctl__split_key(key, &ns, &name);
    _cleanup_json_ json_t *svc = ctl__get(ctl, CTL_SERVICES, key);
    _cleanup_json_ json_t *cur = ctl__get(ctl, CTL_ENDPOINTS, key);
    _cleanup_free_ char *path = ctl__path(CTL_ENDPOINTS, ns, name, NULL);
    if (svc == NULL) {
        if (cur == NULL)
            return 0;
        _cleanup_err_ struct k8c_err *derr = NULL;
        _cleanup_json_ json_t *out = client_delete(ctl->client, path, NULL, &derr);
        if (out == NULL && derr->reason != K8C_REASON_NOT_FOUND) {
            *err = steal_ptr(&derr);
            return -1;
        }
        return 0;
    }
    json_t *sel = kjson_path(svc, "spec.selector");
    if (!json_is_object(sel) || json_object_size(sel) == 0)
        return 0; /* no selector: the user manages this Endpoints */
    _cleanup_json_ json_t *subsets = build_subsets(ctl, svc);
    _cleanup_json_ json_t *labels = service_labels(svc);
    if (cur != NULL) {
        json_t *cs = json_object_get(cur, "subsets");
        bool same_subsets = json_equal(cs ? cs : json_array(), subsets) ||
                            (cs == NULL && json_array_size(subsets) == 0);
        json_t *cl = kjson_path(cur, "metadata.labels");
        bool same_labels = json_equal(cl, labels) || (cl == NULL && json_object_size(labels) == 0);
        if (same_subsets && same_labels)
            return 0;
        _cleanup_json_ json_t *copy = json_deep_copy(cur);
        json_object_set(copy, "subsets", subsets);
        json_object_set(json_object_get(copy, "metadata"), "labels", labels);
        _cleanup_json_ json_t *out = client_update(ctl->client, path, copy, err);
        return out ? 0 : -1;
    }
    _cleanup_json_ json_t *ep =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:O},s:O}", "apiVersion", "v1", "kind", "Endpoints",
                  "metadata", "name", name, "namespace", ns, "labels", labels, "subsets", subsets);
    _cleanup_free_ char *coll = ctl__path(CTL_ENDPOINTS, ns, NULL, NULL);
    _cleanup_json_ json_t *out = client_create(ctl->client, coll, ep, err);
    return out ? 0 : -1;
}

void ctl__on_pod_services(struct ctl *ctl, json_t *pod, void *opaque)
{
    ctl__enqueue_services_for_pod(opaque, pod);
}

void ctl__on_pod_services_update(struct ctl *ctl, json_t *old_pod, json_t *pod, void *opaque)
{
    ctl__enqueue_services_for_pod(opaque, pod);
    if (!json_equal(kjson_path(old_pod, "metadata.labels"), kjson_path(pod, "metadata.labels")))
        ctl__enqueue_services_for_pod(opaque, old_pod);
}

/* Someone else changed or removed an Endpoints we manage: put it back. */
static void on_ep_update(struct ctl *ctl, json_t *old_ep, json_t *ep, void *opaque)
{
    ctl__enqueue_obj(opaque, ep);
}

void ctl__endpoints_setup(struct ctl *ctl)
{
    struct ctl_controller *cc = ctl__controller_new(ctl, "endpoints", endpoints_sync, NULL, NULL);
    struct ctl_listener svcs = {ctl__on_enqueue, ctl__on_enqueue_update, ctl__on_enqueue, cc};
    struct ctl_listener pods = {ctl__on_pod_services, ctl__on_pod_services_update,
                                ctl__on_pod_services, cc};
    struct ctl_listener eps = {NULL, on_ep_update, ctl__on_enqueue, cc};
    ctl__listen(ctl, CTL_SERVICES, &svcs);
    ctl__listen(ctl, CTL_PODS, &pods);
    ctl__listen(ctl, CTL_ENDPOINTS, &eps);
}
