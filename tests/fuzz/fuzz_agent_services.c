/* Fuzz target: Services and EndpointSlices as the API sends them (src/agent/services.c) into
 * the nftables script (src/net/service.c). Input: {"services":[...],"slices":[...]}. Any
 * input is either refused with a message or renders a script that names only our table and
 * carries no caller text outside the numbers it parsed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/network.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = kjson_parse((const char *)data, size, NULL);
    if (!in)
        return 0;
    struct net_service_config cfg = {.pod_cidr = "10.42.1.0/24", .cluster_cidr = "10.42.0.0/16"};
    struct k8c_err *err = NULL;
    char *script = agent__services_render(json_object_get(in, "services"),
                                          json_object_get(in, "slices"), "node-1", &cfg, &err);
    if (!script) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
    } else {
        /* only our table, and nothing that could end a statement early */
        size_t tables = 0;
        for (const char *p = strstr(script, "table "); p; p = strstr(p + 1, "table "))
            tables++;
        K8C_ASSERT(tables == 3);
        K8C_ASSERT(strchr(script, ';') == NULL || strstr(script, "policy accept;") != NULL);
        K8C_ASSERT(strchr(script, '"') == NULL || strstr(script, "oifname \"k8c0\"") != NULL);
        free(script);
    }
    json_decref(in);
    return 0;
}
