/* Scale subresource (see scale.h): pkg/registry/apps/deployment/storage ScaleREST and its
 * ReplicaSet, StatefulSet and ReplicationController siblings. */
#include "api/scale.h"

#include <string.h>

#include "api/internal.h"
#include "api/selector.h"
#include "base/json.h"
#include "base/mem.h"

/* status.selector: LabelSelectorAsSelector(spec.selector).String() for apps kinds,
 * SelectorFromSet(spec.selector) for ReplicationControllers. */
static char *selector_text(const struct api_kind *k, const json_t *obj)
{
    const json_t *sel = kjson_path(obj, "spec.selector");
    struct api_label_selector *s = NULL;
    if (k->group[0] == '\0') {
        json_t *wrapped = json_pack("{s:O}", "matchLabels", sel ? sel : json_null());
        s = api_label_selector_from_json(json_is_object(sel) ? wrapped : NULL, NULL);
        json_decref(wrapped);
    } else {
        s = api_label_selector_from_json(sel, NULL);
    }
    if (s == NULL)
        return xstrdup("");
    char *text = api_label_selector_string(s);
    api_label_selector_free(s);
    return text;
}

json_t *api_scale_from_object(const struct api_kind *k, const json_t *obj)
{
    if (api_kind_subresource(k, "scale") == NULL)
        return NULL;
    json_t *md = json_object();
    static const char *const keys[] = {"name", "namespace", "uid", "resourceVersion",
                                       "creationTimestamp"};
    const json_t *omd = json_object_get(obj, "metadata");
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(omd, keys[i]);
        if (v != NULL)
            json_object_set(md, keys[i], v);
    }
    _cleanup_free_ char *sel = selector_text(k, obj);
    json_t *spec_replicas = kjson_path(obj, "spec.replicas");
    return json_pack(
        "{s:s,s:s,s:o,s:{s:I},s:{s:I,s:s}}", "kind", "Scale", "apiVersion", "autoscaling/v1",
        "metadata", md, "spec", "replicas",
        (json_int_t)(json_is_integer(spec_replicas) ? json_integer_value(spec_replicas) : 1),
        "status", "replicas", json_integer_value(kjson_path(obj, "status.replicas")), "selector",
        sel);
}

int api_scale_apply(const struct api_kind *k, json_t *obj, const json_t *scale, json_t **causes,
                    struct k8c_err **err)
{
    if (api_kind_subresource(k, "scale") == NULL)
        return k8c_err_set(err, 0, K8C_REASON_NOT_FOUND,
                           "the server could not find the requested resource");
    if (!json_is_object(scale))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "Scale in version \"v1\" cannot be handled as a Scale: the body is not "
                           "a JSON object");
    const char *av = json_string_value(json_object_get(scale, "apiVersion"));
    const char *kind = json_string_value(json_object_get(scale, "kind"));
    if (av != NULL && av[0] != '\0' && strcmp(av, "autoscaling/v1") != 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "the API version in the data (%s) does not match the expected API "
                           "version (autoscaling/v1)",
                           av);
    if (kind != NULL && kind[0] != '\0' && strcmp(kind, "Scale") != 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "%s in version \"v1\" cannot be handled as a Scale", kind);
    const char *name = json_string_value(kjson_path(scale, "metadata.name"));
    const char *obj_name = json_string_value(kjson_path(obj, "metadata.name"));
    if (name != NULL && name[0] != '\0' && obj_name != NULL && strcmp(name, obj_name) != 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "the name of the object (%s) does not match the name on the URL (%s)",
                           name, obj_name);
    json_t *replicas = kjson_path(scale, "spec.replicas");
    struct api__verr v = {NULL};
    if (replicas != NULL && !json_is_null(replicas) && !json_is_integer(replicas))
        api__verr_invalid(&v, "spec.replicas", replicas, "must be an integer");
    else if (json_integer_value(replicas) < 0)
        api__verr_invalid_int(&v, "spec.replicas", json_integer_value(replicas),
                              "must be greater than or equal to 0");
    if (v.causes != NULL) {
        if (causes != NULL)
            *causes = v.causes;
        else
            json_decref(v.causes);
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "Scale \"%s\" is invalid: spec.replicas",
                           obj_name ? obj_name : "");
    }
    json_t *spec = kjson_object_ensure(obj, "spec");
    if (spec == NULL)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "the stored object has no spec object");
    json_object_set_new(spec, "replicas", json_integer(json_integer_value(replicas)));
    return 0;
}
