/* Fuzz target for what the agent reads out of a pod object (outside input from the API):
 * the QoS class and cgroup resources, env resolution with $(VAR) expansion of command and
 * args, downward API values (labels/annotations subscripts, resource fields). The input is
 * the pod's JSON; the first container's env values are also expanded as raw strings. Also
 * what admission counts (requests of containers, init containers, sidecars, overhead). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *pod = kjson_parse((const char *)data, size, NULL);
    if (!json_is_object(pod)) {
        json_decref(pod);
        /* not JSON: the bytes as one string to expand */
        char *s = xstrndup((const char *)data, size);
        json_t *vars = json_pack("{s:s,s:s}", "A", "a", "B", "$(A)");
        free(agent_expand(s, vars));
        agent_env_name_valid(s);
        json_decref(vars);
        free(s);
        return 0;
    }
    agent_qos_class(pod);
    int64_t want[AGENT_RES_COUNT], used[AGENT_RES_COUNT] = {INT64_MAX, 1, 1, 1};
    const int64_t alloc[AGENT_RES_COUNT] = {110, 2000, 1ll << 33, 1ll << 36};
    agent_pod_requests(pod, want);
    char *reason = NULL, *message = NULL;
    if (!agent_pod_fits(want, used, alloc, &reason, &message)) {
        free(reason);
        free(message);
    }
    size_t i;
    json_t *c;
    json_array_foreach (kjson_path(pod, "spec.containers"), i, c) {
        json_decref(agent_ctr_resources(c));
        struct agent_bundle_in in = {pod, c, NULL, "/nonexistent", NULL, "192.0.2.1", NULL};
        json_t *vars = json_object();
        if (agent_env_resolve(&in, vars, NULL) == 0) {
            json_decref(agent_expand_array(json_object_get(c, "command"), vars));
            json_decref(agent_expand_array(json_object_get(c, "args"), vars));
        }
        json_decref(vars);
        size_t k;
        json_t *e;
        json_array_foreach (json_object_get(c, "env"), k, e) {
            const char *fp = kjson_path_str(e, "valueFrom.fieldRef.fieldPath");
            if (fp) {
                free(agent_field_value(pod, fp, NULL, true, NULL));
                free(agent_field_value(pod, fp, NULL, false, NULL));
            }
            const json_t *rf = kjson_path(e, "valueFrom.resourceFieldRef");
            if (rf)
                free(agent_resource_value(pod, c, rf, NULL));
        }
    }
    json_decref(pod);
    return 0;
}
