/* JSON merge patch (RFC 7386), as the Kubernetes API server applies
 * application/merge-patch+json (kubectl label/annotate/scale send it): objects merge
 * recursively, null deletes a key, anything else (arrays included) replaces. */
#include "api/patch.h"

#include "api/patch_internal.h"
#include "base/json.h"
#include "base/mem.h"

json_t *api__merge_patch_value(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *key;
    json_t *pv;
    json_object_foreach ((json_t *)patch, key, pv) {
        if (json_is_null(pv)) {
            json_object_del(out, key);
            continue;
        }
        json_object_set_new(out, key, api__merge_patch_value(json_object_get(out, key), pv));
    }
    return out;
}

json_t *api_patch_merge(const json_t *doc, const char *patch, size_t len, struct k8c_err **err)
{
    _cleanup_json_ json_t *p = kjson_parse(patch, len, err);
    if (p == NULL) {
        k8c_err_wrap(err, "invalid JSON merge patch");
        return NULL;
    }
    if (!json_is_object(p)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "invalid JSON merge patch: json: cannot unmarshal %s into Go value of type "
                    "map[string]interface {}",
                    json_is_array(p) ? "array" : "value");
        return NULL;
    }
    return api__merge_patch_value(doc, p);
}
