/* Pod templates compared and hashed by meaning, not by bytes: what kubectl rollout undo sends
 * back has been through Go structs (creationTimestamp: null, resources: {}, explicit false
 * and "" dropped), and must still match the ReplicaSet it came from. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/defaults.h"
#include "api/kinds.h"
#include "base/json.h"
#include "base/mem.h"
#include "controllers/internal.h"

/* Map-typed or non-pointer struct fields whose empty value Go writes as {} or omits: both
 * mean "nothing". Pointer structs such as emptyDir: {} keep their meaning and stay. */
static const char *const empty_object_keys[] = {
    "resources", "labels",      "annotations", "nodeSelector", "limits",
    "requests",  "matchLabels", "overhead",    "metadata",
};
/* Non-pointer bools: an explicit false is what Go omits. */
static const char *const false_keys[] = {
    "stdin", "stdinOnce", "tty", "hostNetwork", "hostPID", "hostIPC", "readOnly",
};
/* Non-pointer ints whose zero Go omits. */
static const char *const zero_keys[] = {"hostPort"};

static bool in_set(const char *key, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, set[i]) == 0)
            return true;
    return false;
}

/* Whether the member key: v is Go's "absent" (after v was normalized). */
static bool is_absent(const char *key, const json_t *v)
{
    if (json_is_null(v))
        return true;
    if (json_is_string(v) && json_string_length(v) == 0)
        return true;
    if (json_is_array(v) && json_array_size(v) == 0)
        return true;
    if (json_is_object(v) && json_object_size(v) == 0)
        return in_set(key, empty_object_keys, ARRAY_SIZE(empty_object_keys));
    if (json_is_false(v))
        return in_set(key, false_keys, ARRAY_SIZE(false_keys));
    if (json_is_integer(v) && json_integer_value(v) == 0)
        return in_set(key, zero_keys, ARRAY_SIZE(zero_keys));
    return false;
}

/* Normalizes v in place (v is a private deep copy). */
static void normalize(json_t *v)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *member;
        void *tmp;
        json_object_foreach_safe (v, tmp, key, member) {
            normalize(member);
            if (is_absent(key, member))
                json_object_del(v, key);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *el;
        json_array_foreach (v, i, el) {
            normalize(el);
        }
    }
}

/* The template as the API server defaults it inside a ReplicaSet, so a template written with
 * and without defaults compare equal. New reference. */
static json_t *defaulted(const json_t *tmpl)
{
    json_t *rs = json_pack("{s:s,s:s,s:{s:O}}", "apiVersion", "apps/v1", "kind", "ReplicaSet",
                           "spec", "template", (json_t *)tmpl);
    json_t *wrapped = json_deep_copy(rs);
    json_decref(rs);
    const struct api_kind *k = api_kind_by_gvk("apps/v1", "ReplicaSet");
    if (k != NULL)
        api_object_default(k, wrapped);
    json_t *out = json_incref(kjson_path(wrapped, "spec.template"));
    json_decref(wrapped);
    return out;
}

json_t *ctl__template_normalize(const json_t *tmpl)
{
    if (!json_is_object(tmpl))
        return json_object();
    json_t *copy = defaulted(tmpl);
    json_t *labels = kjson_path(copy, "metadata.labels");
    if (json_is_object(labels))
        json_object_del(labels, "pod-template-hash");
    normalize(copy);
    return copy;
}

bool ctl__template_equal(const json_t *a, const json_t *b)
{
    _cleanup_json_ json_t *na = ctl__template_normalize(a);
    _cleanup_json_ json_t *nb = ctl__template_normalize(b);
    return json_equal(na, nb);
}

char *ctl__template_hash(const json_t *tmpl, int64_t collision_count)
{
    _cleanup_json_ json_t *n = ctl__template_normalize(tmpl);
    _cleanup_free_ char *text = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    if (collision_count > 0) {
        uint32_t c = (uint32_t)collision_count;
        for (int i = 0; i < 4; i++) {
            h ^= (c >> (8 * i)) & 0xffu;
            h *= 16777619u;
        }
    }
    /* rand.SafeEncodeString(fmt.Sprint(hash)): no vowels, no look-alike characters. */
    static const char alphanums[] = "bcdfghjklmnpqrstvwxz2456789";
    char dec[16];
    snprintf(dec, sizeof(dec), "%u", h);
    char *out = xstrdup(dec);
    for (char *p = out; *p; p++)
        *p = alphanums[(unsigned char)*p % (sizeof(alphanums) - 1)];
    return out;
}
