/* Unit tests for src/agent/services.c: Services and EndpointSlices to the services the node
 * programs (ready endpoints only, ports matched by name and protocol, node ports, affinity). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "agent/network.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *parse(const char *text)
{
    json_t *j = kjson_parse(text, strlen(text), NULL);
    cr_assert(j != NULL, "%s", text);
    return j;
}

Test(agent_services, ready_endpoints_by_port_name)
{
    _cleanup_json_ json_t *svcs = parse(
        "[{\"metadata\":{\"namespace\":\"default\",\"name\":\"web\"},\"spec\":{\"type\":"
        "\"NodePort\",\"clusterIP\":\"10.96.0.10\",\"sessionAffinity\":\"ClientIP\","
        "\"externalTrafficPolicy\":\"Local\",\"ports\":["
        "{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"nodePort\":30080},"
        "{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\",\"nodePort\":30053},"
        "{\"name\":\"s\",\"port\":9,\"protocol\":\"SCTP\"}]}},"
        "{\"metadata\":{\"namespace\":\"default\",\"name\":\"headless\"},\"spec\":{"
        "\"clusterIP\":\"None\",\"ports\":[{\"port\":80}]}},"
        "{\"metadata\":{\"namespace\":\"other\",\"name\":\"web\"},\"spec\":{"
        "\"clusterIP\":\"10.96.0.11\",\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
        "{\"clientIP\":{\"timeoutSeconds\":60}},\"ports\":[{\"port\":81}]}}]");
    _cleanup_json_ json_t *slices = parse(
        "[{\"metadata\":{\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":"
        "\"web\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080,"
        "\"protocol\":\"TCP\"},{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"}],"
        "\"endpoints\":[{\"addresses\":[\"10.42.1.2\"],\"nodeName\":\"node-1\","
        "\"conditions\":{\"ready\":true}},"
        "{\"addresses\":[\"10.42.2.2\"],\"conditions\":{\"ready\":false}},"
        "{\"addresses\":[\"10.42.3.2\"]},{\"addresses\":[\"10.42.1.2\"]}]},"
        "{\"metadata\":{\"namespace\":\"other\",\"labels\":{\"kubernetes.io/service-name\":"
        "\"web\"}},\"addressType\":\"IPv6\",\"ports\":[{\"port\":8081}],"
        "\"endpoints\":[{\"addresses\":[\"fd00::1\"]}]}]");
    _cleanup_json_ json_t *out = agent__services_build(svcs, slices, "node-1");
    cr_assert(eq(sz, json_array_size(out), 3)); /* http, dns, other/web; no SCTP, no headless */
    json_t *http = json_array_get(out, 0);
    cr_assert(eq(str, (char *)kjson_path_str(http, "name"), "default/web"));
    cr_assert(eq(str, (char *)kjson_path_str(http, "protocol"), "tcp"));
    cr_assert(eq(i64, json_integer_value(json_object_get(http, "node_port")), 30080));
    cr_assert(eq(i64, json_integer_value(json_object_get(http, "affinity")), 10800));
    _cleanup_free_ char *eps = kjson_dumps(json_object_get(http, "endpoints"));
    /* not ready left out, unset ready counts as ready, the duplicate once */
    cr_assert(eq(str, eps,
                 "[{\"ip\":\"10.42.1.2\",\"port\":8080,\"local\":true},"
                 "{\"ip\":\"10.42.3.2\",\"port\":8080,\"local\":false}]"));
    bool local = json_is_true(json_object_get(http, "external_local"));
    cr_assert(local, "externalTrafficPolicy Local");
    json_t *dns = json_array_get(out, 1);
    cr_assert(eq(str, (char *)kjson_path_str(dns, "protocol"), "udp"));
    cr_assert(eq(sz, json_array_size(json_object_get(dns, "endpoints")), 2));
    json_t *other = json_array_get(out, 2);
    cr_assert(eq(i64, json_integer_value(json_object_get(other, "node_port")), 0));
    cr_assert(eq(i64, json_integer_value(json_object_get(other, "affinity")), 60));
    cr_assert(eq(sz, json_array_size(json_object_get(other, "endpoints")), 0), "IPv6 ignored");
}
