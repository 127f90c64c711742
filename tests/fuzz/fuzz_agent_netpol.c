/* Fuzz target: NetworkPolicy objects to nftables rules (src/agent/netpol.c, src/net/policy.c).
 * The input is a JSON array of Pods, Namespaces and NetworkPolicies, as informers hold them.
 * Any input must convert and render or fail with an error, and a rendered script must carry
 * no text of the input: only the characters our own rules are made of (no quotes, no
 * semicolons, no braces beyond ours), so no object can inject nftables commands. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "base/json.h"
#include "base/mem.h"
#include "net/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = kjson_parse((const char *)data, size, NULL);
    if (!json_is_array(root)) {
        json_decref(root);
        return 0;
    }
    json_t *pods = json_array(), *nss = json_array(), *pols = json_array();
    size_t i;
    json_t *o;
    json_array_foreach (root, i, o) {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        json_t *to = kind && !strcmp(kind, "Namespace")       ? nss
                     : kind && !strcmp(kind, "NetworkPolicy") ? pols
                                                              : pods;
        json_array_append(to, o);
    }
    const struct net_pol_input *in = NULL;
    struct agent_netpol *h = agent__netpol_input(pods, nss, pols, "n1", &in);
    struct k8c_err *err = NULL;
    char *s = net_policy_render(in, &err);
    if (s) {
        K8C_ASSERT(strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789 \t\n.,:;/{}!=-") == strlen(s));
        size_t semicolons = 0; /* the two of the base chain's "priority ...; policy accept;" */
        for (const char *p = s; *p; p++)
            semicolons += *p == ';';
        K8C_ASSERT(semicolons == 2);
        free(s);
    } else {
        K8C_ASSERT(err && err->msg);
        k8c_err_free(err);
    }
    agent__netpol_free(h);
    json_decref(pods), json_decref(nss), json_decref(pols), json_decref(root);
    return 0;
}
