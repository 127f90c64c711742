/* What kube-apiserver's service registry does beyond storing: allocating each Service a
 * cluster IP from the service CIDR (`--service-cidr`, 10.43.0.0/16 by default) and
 * NodePort/LoadBalancer ports a node port from 30000-32767 (unused ones, chosen at random as
 * Kubernetes does), keeping them across updates that leave them out, and the `kubernetes` Service
 * and Endpoints in default that point at this API server. Creates of Services are serialized by
 * core->service_lock so two never get the same address. */
#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "api/status.h"
#include "apiserver/internal.h"
#include "base/json.h"
#include "base/mem.h"

int apiserver_service_cidr_parse(const char *text, uint32_t *base, unsigned *prefix,
                                 struct k8c_err **err)
{
    char addr[INET_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    struct in_addr a;
    char *end = NULL;
    unsigned long n = slash ? strtoul(slash + 1, &end, 10) : 0;
    size_t len = slash ? (size_t)(slash - text) : 0;
    if (!slash || len >= sizeof(addr) || !slash[1] || *end)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "service CIDR \"%s\" is not an IPv4 CIDR such as 10.43.0.0/16", text);
    memcpy(addr, text, len);
    addr[len] = '\0';
    if (inet_pton(AF_INET, addr, &a) != 1)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "service CIDR \"%s\" is not an IPv4 CIDR such as 10.43.0.0/16", text);
    /* kube-apiserver refuses ranges over 20 bits of addresses; under 16 leaves no room */
    if (n < 12 || n > 28)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "service CIDR \"%s\": the prefix must be /12 to /28", text);
    uint32_t h = ntohl(a.s_addr), mask = ~0u << (32 - n);
    if (h & ~mask)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "service CIDR \"%s\" has host bits set",
                           text);
    *base = h;
    *prefix = (unsigned)n;
    return 0;
}

/* The service CIDR's n-th address as text (1: the kubernetes Service, 10: kube-dns). */
void apiserver__service_ip(const struct apiserver_core *core, uint32_t n, char out[16])
{
    struct in_addr a = {htonl(core->svc_base + n)};
    inet_ntop(AF_INET, &a, out, 16);
}

static uint32_t random_u32(void)
{
    uint32_t v = 0;
    if (gnutls_rnd(GNUTLS_RND_NONCE, &v, sizeof(v)) < 0)
        v = 12345;
    return v;
}

/* Every cluster IP and node port in use (as host-order IPs and port numbers). */
static int in_use(struct apiserver_core *core, json_t **ips, json_t **ports, struct k8c_err **err)
{
    const struct api_kind *k = api_kind_by_resource("", "v1", "services");
    _cleanup_free_ char *prefix = api_kind_storage_key(k, NULL, NULL);
    struct store_list list = {0};
    if (store_list(core->store, prefix, 0, NULL, 0, &list, err) < 0)
        return -1;
    *ips = json_object();
    *ports = json_object();
    for (size_t i = 0; i < list.n_items; i++) {
        _cleanup_err_ struct k8c_err *pe = NULL;
        _cleanup_json_ json_t *svc = kjson_parse(list.items[i].value, list.items[i].value_len, &pe);
        const char *ip = kjson_path_str(svc, "spec.clusterIP");
        if (ip && *ip)
            json_object_set_new(*ips, ip, json_true());
        json_t *ps = kjson_path(svc, "spec.ports");
        size_t j;
        json_t *p;
        json_array_foreach (ps, j, p) {
            json_t *np = json_object_get(p, "nodePort");
            if (json_is_integer(np)) {
                char key[16];
                snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(np));
                json_object_set_new(*ports, key, json_true());
            }
        }
    }
    store_list_clear(&list);
    return 0;
}

static void invalid(struct apiserver_resp *resp, const struct api_kind *k, const json_t *obj,
                    const char *field, const char *value, const char *msg)
{
    _cleanup_free_ char *m = xasprintf("Invalid value: \"%s\": %s", value, msg);
    json_t *causes =
        json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueInvalid", "message", m, "field", field);
    const char *name = kjson_path_str(obj, "metadata.name");
    _cleanup_json_ json_t *st = api_status_invalid(k, name ? name : "", causes);
    apiserver__resp_json(resp, 422, st);
}

int apiserver__service_allocate(struct apiserver_core *core, const struct api_kind *k, json_t *obj,
                                struct apiserver_resp *resp)
{
    json_t *spec = kjson_object_ensure(obj, "spec");
    if (!spec)
        return 0; /* validation reports it */
    const char *type = kjson_path_str(obj, "spec.type");
    if (type && strcmp(type, "ExternalName") == 0)
        return 0;
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *ips = NULL;
    _cleanup_json_ json_t *ports = NULL;
    if (in_use(core, &ips, &ports, &e) < 0) {
        apiserver__resp_err(resp, e);
        return -1;
    }
    const char *ip = kjson_path_str(obj, "spec.clusterIP");
    char chosen[INET_ADDRSTRLEN] = "";
    if (ip && strcmp(ip, "None") == 0) {
        snprintf(chosen, sizeof(chosen), "None");
    } else if (ip && *ip) {
        struct in_addr a;
        uint32_t h = inet_pton(AF_INET, ip, &a) == 1 ? ntohl(a.s_addr) : 0;
        if (h < core->svc_base || h >= core->svc_base + core->svc_size) {
            _cleanup_free_ char *msg =
                xasprintf("failed to allocate IP: the provided IP is not in the valid range. "
                          "The range of valid IPs is %s",
                          core->svc_cidr);
            invalid(resp, k, obj, "spec.clusterIPs", ip, msg);
            return -1;
        }
        if (json_object_get(ips, ip)) {
            invalid(resp, k, obj, "spec.clusterIPs", ip,
                    "failed to allocate IP: provided IP is already allocated");
            return -1;
        }
        snprintf(chosen, sizeof(chosen), "%s", ip);
    } else {
        uint32_t size = core->svc_size;
        uint32_t start = random_u32() % (size - 2);
        for (uint32_t n = 0; n < size - 2 && !chosen[0]; n++) {
            /* .0 is the network, .1 the kubernetes Service, the last the broadcast. */
            uint32_t h = core->svc_base + 2 + (start + n) % (size - 3);
            struct in_addr a = {htonl(h)};
            char buf[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a, buf, sizeof(buf));
            if (!json_object_get(ips, buf))
                snprintf(chosen, sizeof(chosen), "%s", buf);
        }
        if (!chosen[0]) {
            apiserver__resp_status(resp, 500, "InternalError",
                                   "Internal error occurred: failed to allocate a serviceIP: "
                                   "range is full",
                                   NULL, NULL, NULL);
            return -1;
        }
    }
    json_object_set_new(spec, "clusterIP", json_string(chosen));
    json_object_set_new(spec, "clusterIPs", json_pack("[s]", chosen));
    if (strcmp(chosen, "None") != 0 || !json_object_get(spec, "ipFamilies")) {
        json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
        if (!json_object_get(spec, "ipFamilyPolicy"))
            json_object_set_new(spec, "ipFamilyPolicy", json_string("SingleStack"));
    }
    bool node_ports = type && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0);
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(spec, "ports"), i, p) {
        if (!node_ports || !json_is_object(p))
            continue;
        json_t *np = json_object_get(p, "nodePort");
        char key[16];
        if (json_is_integer(np) && json_integer_value(np) != 0) {
            json_int_t want = json_integer_value(np);
            snprintf(key, sizeof(key), "%lld", (long long)want);
            if (want < core->node_port_min || want > core->node_port_max) {
                _cleanup_free_ char *f = xasprintf("spec.ports[%zu].nodePort", i);
                _cleanup_free_ char *m = xasprintf(
                    "provided port is not in the valid range. The range of valid ports is %d-%d",
                    core->node_port_min, core->node_port_max);
                invalid(resp, k, obj, f, key, m);
                return -1;
            }
            if (json_object_get(ports, key)) {
                _cleanup_free_ char *f = xasprintf("spec.ports[%zu].nodePort", i);
                invalid(resp, k, obj, f, key, "provided port is already allocated");
                return -1;
            }
            json_object_set_new(ports, key, json_true());
            continue;
        }
        int span = core->node_port_max - core->node_port_min + 1;
        int start = (int)(random_u32() % (uint32_t)span);
        int got = 0;
        for (int n = 0; n < span && !got; n++) {
            int port = core->node_port_min + (start + n) % span;
            snprintf(key, sizeof(key), "%d", port);
            if (!json_object_get(ports, key)) {
                got = port;
                json_object_set_new(ports, key, json_true());
            }
        }
        if (!got) {
            apiserver__resp_status(resp, 500, "InternalError",
                                   "Internal error occurred: failed to allocate a nodePort: "
                                   "range is full",
                                   NULL, NULL, NULL);
            return -1;
        }
        json_object_set_new(p, "nodePort", json_integer(got));
    }
    return 0;
}

void apiserver__service_keep_allocated(json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec))
        return;
    const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
    json_t *old_ip = kjson_path((json_t *)old, "spec.clusterIP");
    if ((!ip || !*ip) && old_ip)
        json_object_set(spec, "clusterIP", old_ip);
    json_t *old_ips = kjson_path((json_t *)old, "spec.clusterIPs");
    if (!json_object_get(spec, "clusterIPs") && old_ips)
        json_object_set(spec, "clusterIPs", old_ips);
    static const char *const keep[] = {"ipFamilies", "ipFamilyPolicy"};
    for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
        json_t *v = kjson_path((json_t *)old, "spec");
        v = json_object_get(v, keep[i]);
        if (v && !json_object_get(spec, keep[i]))
            json_object_set(spec, keep[i], v);
    }
    /* A port keeps its node port when the update leaves it out (same port number). */
    size_t i, j;
    json_t *p, *q;
    json_array_foreach (json_object_get(spec, "ports"), i, p) {
        json_t *np = json_object_get(p, "nodePort");
        if (json_is_integer(np) && json_integer_value(np) != 0)
            continue;
        json_array_foreach (kjson_path((json_t *)old, "spec.ports"), j, q) {
            if (json_equal(json_object_get(p, "port"), json_object_get(q, "port")) &&
                json_is_integer(json_object_get(q, "nodePort"))) {
                json_object_set(p, "nodePort", json_object_get(q, "nodePort"));
                break;
            }
        }
    }
}

int apiserver__bootstrap_kubernetes_service(struct apiserver_core *core, const char *host,
                                            unsigned port, struct k8c_err **err)
{
    static const struct apiserver_user system = {
        .name = "system:apiserver", .groups = {"system:masters"}, .n_groups = 1};
    char kubernetes_ip[16];
    apiserver__service_ip(core, 1, kubernetes_ip);
    _cleanup_free_ char *svc = xasprintf(
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"kubernetes\","
        "\"labels\":{\"component\":\"apiserver\",\"provider\":\"kubernetes\"}},\"spec\":{"
        "\"type\":\"ClusterIP\",\"clusterIP\":\"%s\",\"ports\":[{"
        "\"name\":\"https\",\"port\":443,\"protocol\":\"TCP\",\"targetPort\":%u}],"
        "\"sessionAffinity\":\"None\"}}",
        kubernetes_ip, port);
    _cleanup_free_ char *ep = xasprintf(
        "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"kubernetes\","
        "\"labels\":{\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[{"
        "\"addresses\":[{\"ip\":\"%s\"}],\"ports\":[{\"name\":\"https\",\"port\":%u,"
        "\"protocol\":\"TCP\"}]}]}",
        host, port);
    struct {
        const char *path, *body;
    } objs[] = {{"/api/v1/namespaces/default/services", svc},
                {"/api/v1/namespaces/default/endpoints", ep}};
    for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
        struct apiserver_req req = {.method = "POST",
                                    .path = objs[i].path,
                                    .content_type = "application/json",
                                    .body = objs[i].body,
                                    .body_len = strlen(objs[i].body),
                                    .user = &system,
                                    .conn_fd = -1};
        struct apiserver_resp resp = {0};
        apiserver__dispatch(core, &req, &resp);
        int code = resp.out.code;
        if (code != 201 && code != 409 && code != 422) {
            k8c_err_set(err, 0, K8C_REASON_INTERNAL, "create %s: %d %s", objs[i].path, code,
                        resp.out.body.data ? resp.out.body.data : "");
            apiserver_response_clear(&resp.out);
            return -1;
        }
        apiserver_response_clear(&resp.out);
    }
    return 0;
}
