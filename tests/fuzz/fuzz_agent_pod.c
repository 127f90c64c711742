/* Fuzz target for what the agent reads out of a pod object (outside input from the API):
 * the QoS class and cgroup resources, env resolution with $(VAR) expansion of command and
 * args, downward API values (labels/annotations subscripts, resource fields). The input is
 * the pod's JSON; the first container's env values are also expanded as raw strings. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/bundle.h"
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
