/* Validation framework and ObjectMeta rules (see validate.h): field.Error in Kubernetes'
 * wording (k8s.io/apimachinery/pkg/util/validation/field), ValidateObjectMeta and its
 * update rules, then the kind's own rules (validate_pod.c, validate_kinds.c). */
#include "api/validate.h"

#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"

#define TOTAL_ANNOTATION_SIZE_LIMIT (256 * 1024)

static void add_cause(struct api__verr *v, const char *reason, const char *field, char *msg_take)
{
    if (v->causes == NULL)
        v->causes = json_array();
    json_array_append_new(v->causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message",
                                               msg_take, "field", field));
    free(msg_take);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *api__value_text(const json_t *value)
{
    if (value == NULL || json_is_null(value))
        return xstrdup("null");
    if (json_is_string(value))
        return api__quote(json_string_value(value));
    if (json_is_object(value)) {
        /* Go prints a map[string]string with %#v as map[string]string{"a":"b"}. */
        bool strings = true;
        const char *key;
        json_t *x;
        json_object_foreach ((json_t *)value, key, x)
            strings = strings && json_is_string(x);
        if (strings) {
            /* Go prints map keys sorted. */
            size_t n = json_object_size(value), i = 0;
            const char **keys = xcalloc(n + 1, sizeof(char *));
            json_object_foreach ((json_t *)value, key, x)
                keys[i++] = key;
            qsort(keys, n, sizeof(char *), cmp_keys);
            struct buf b = BUF_INIT;
            buf_append_str(&b, "map[string]string{");
            for (i = 0; i < n; i++) {
                _cleanup_free_ char *k = api__quote(keys[i]);
                _cleanup_free_ char *s =
                    api__quote(json_string_value(json_object_get(value, keys[i])));
                buf_appendf(&b, "%s%s:%s", i ? ", " : "", k, s);
            }
            free(keys);
            buf_append_char(&b, '}');
            return buf_steal(&b);
        }
    }
    return kjson_dumps(value);
}

void api__verr_invalid(struct api__verr *v, const char *field, const json_t *value,
                       const char *detail)
{
    _cleanup_free_ char *text = api__value_text(value);
    add_cause(v, "FieldValueInvalid", field,
              detail && detail[0] ? xasprintf("Invalid value: %s: %s", text, detail)
                                  : xasprintf("Invalid value: %s", text));
}

void api__verr_invalid_str(struct api__verr *v, const char *field, const char *value,
                           const char *detail)
{
    json_t *s = json_string(value ? value : "");
    if (s == NULL) /* not UTF-8: quote the bytes anyway */
        s = json_stringn_nocheck(value, strlen(value));
    api__verr_invalid(v, field, s, detail);
    json_decref(s);
}

void api__verr_invalid_int(struct api__verr *v, const char *field, long long value,
                           const char *detail)
{
    add_cause(v, "FieldValueInvalid", field, xasprintf("Invalid value: %lld: %s", value, detail));
}

void api__verr_required(struct api__verr *v, const char *field, const char *detail)
{
    add_cause(v, "FieldValueRequired", field,
              detail && detail[0] ? xasprintf("Required value: %s", detail)
                                  : xstrdup("Required value"));
}

void api__verr_forbidden(struct api__verr *v, const char *field, const char *detail)
{
    add_cause(v, "FieldValueForbidden", field,
              detail && detail[0] ? xasprintf("Forbidden: %s", detail) : xstrdup("Forbidden"));
}

void api__verr_duplicate(struct api__verr *v, const char *field, const json_t *value)
{
    _cleanup_free_ char *text = api__value_text(value);
    add_cause(v, "FieldValueDuplicate", field, xasprintf("Duplicate value: %s", text));
}

void api__verr_not_found(struct api__verr *v, const char *field, const json_t *value)
{
    _cleanup_free_ char *text = api__value_text(value);
    add_cause(v, "FieldValueNotFound", field, xasprintf("Not found: %s", text));
}

void api__verr_too_long(struct api__verr *v, const char *field, long long max)
{
    add_cause(v, "FieldValueTooLong", field,
              xasprintf("Too long: may not be more than %lld bytes", max));
}

void api__verr_not_supported(struct api__verr *v, const char *field, const json_t *value,
                             const char *const *supported)
{
    _cleanup_free_ char *text = api__value_text(value);
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_appendf(&b, "Unsupported value: %s", text);
    for (size_t i = 0; supported != NULL && supported[i] != NULL; i++)
        buf_appendf(&b, "%s\"%s\"", i == 0 ? ": supported values: " : ", ", supported[i]);
    add_cause(v, "FieldValueNotSupported", field, buf_steal(&b));
}

void api__check_enum(struct api__verr *v, const json_t *obj, const char *key, const char *path,
                     const char *const *supported, bool required)
{
    json_t *val = json_object_get(obj, key);
    _cleanup_free_ char *field = path[0] ? xasprintf("%s.%s", path, key) : xstrdup(key);
    if (val == NULL || json_is_null(val) || (json_is_string(val) && json_string_length(val) == 0)) {
        if (required)
            api__verr_required(v, field, "");
        return;
    }
    const char *s = json_string_value(val);
    for (size_t i = 0; s != NULL && supported[i] != NULL; i++)
        if (strcmp(s, supported[i]) == 0)
            return;
    api__verr_not_supported(v, field, val, supported);
}

/* Each "; "-joined detail of a name check becomes its own cause, as Kubernetes appends one
 * field.Invalid per message. */
static void invalid_each(struct api__verr *v, const char *field, const char *value, char *msgs)
{
    if (msgs == NULL)
        return;
    char *save = NULL;
    for (char *m = strtok_r(msgs, ";", &save); m != NULL; m = strtok_r(NULL, ";", &save)) {
        while (*m == ' ')
            m++;
        api__verr_invalid_str(v, field, value, m);
    }
    free(msgs);
}

void api__validate_labels(struct api__verr *v, const json_t *labels, const char *path)
{
    if (labels == NULL || json_is_null(labels))
        return;
    if (!json_is_object(labels)) {
        api__verr_invalid(v, path, labels, "must be a map of strings");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach ((json_t *)labels, key, val) {
        invalid_each(v, path, key, api__check_qualified_name(key));
        if (!json_is_string(val)) {
            api__verr_invalid(v, path, val, "must be a string");
            continue;
        }
        invalid_each(v, path, json_string_value(val),
                     api__check_label_value(json_string_value(val)));
    }
}

void api__validate_annotations(struct api__verr *v, const json_t *annotations, const char *path)
{
    if (annotations == NULL || json_is_null(annotations))
        return;
    if (!json_is_object(annotations)) {
        api__verr_invalid(v, path, annotations, "must be a map of strings");
        return;
    }
    size_t total = 0;
    const char *key;
    json_t *val;
    json_object_foreach ((json_t *)annotations, key, val) {
        _cleanup_free_ char *lower = xstrdup(key);
        for (char *p = lower; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        char *m = api__check_qualified_name(lower);
        if (m != NULL)
            invalid_each(v, path, key, m);
        if (!json_is_string(val))
            api__verr_invalid(v, path, val, "must be a string");
        total += strlen(key) + json_string_length(val);
    }
    if (total > TOTAL_ANNOTATION_SIZE_LIMIT)
        api__verr_too_long(v, path, TOTAL_ANNOTATION_SIZE_LIMIT);
}

enum name_rule { NAME_SUBDOMAIN, NAME_LABEL, NAME_DNS1035, NAME_PATH_SEGMENT };

static enum name_rule name_rule_of(const struct api_kind *k)
{
    if (k->group[0] == '\0' && strcmp(k->kind, "Namespace") == 0)
        return NAME_LABEL;
    if (k->group[0] == '\0' && strcmp(k->kind, "Service") == 0)
        return NAME_DNS1035;
    if (strcmp(k->group, "rbac.authorization.k8s.io") == 0 ||
        strcmp(k->kind, "HorizontalPodAutoscaler") == 0)
        return NAME_PATH_SEGMENT;
    return NAME_SUBDOMAIN;
}

static char *check_name(enum name_rule rule, const char *name)
{
    switch (rule) {
    case NAME_SUBDOMAIN: return api__check_dns1123_subdomain(name);
    case NAME_LABEL: return api__check_dns1123_label(name);
    case NAME_DNS1035: return api__check_dns1035_label(name);
    case NAME_PATH_SEGMENT: return api__check_path_segment(name);
    }
    return NULL;
}

static void validate_object_meta(struct api__verr *v, const struct api_kind *k, const json_t *md)
{
    if (!json_is_object(md)) {
        api__verr_required(v, "metadata", "");
        return;
    }
    enum name_rule rule = name_rule_of(k);
    json_t *jname = json_object_get(md, "name");
    json_t *jgen = json_object_get(md, "generateName");
    const char *name = json_string_value(jname);
    const char *gen = json_string_value(jgen);
    if (jgen != NULL && !json_is_null(jgen) && gen == NULL)
        api__verr_invalid(v, "metadata.generateName", jgen, "must be a string");
    if (gen != NULL && gen[0] != '\0') {
        /* A prefix may end in '-'. */
        _cleanup_free_ char *masked = xstrdup(gen);
        size_t n = strlen(masked);
        if (n > 1 && masked[n - 1] == '-')
            masked[n - 1] = 'a';
        invalid_each(v, "metadata.generateName", gen, check_name(rule, masked));
    }
    if (jname != NULL && !json_is_null(jname) && name == NULL) {
        api__verr_invalid(v, "metadata.name", jname, "must be a string");
    } else if (name == NULL || name[0] == '\0') {
        if (gen == NULL || gen[0] == '\0')
            api__verr_required(v, "metadata.name", "name or generateName is required");
    } else {
        invalid_each(v, "metadata.name", name, check_name(rule, name));
    }
    json_t *jns = json_object_get(md, "namespace");
    const char *ns = json_string_value(jns);
    if (k->namespaced) {
        if (ns == NULL || ns[0] == '\0')
            api__verr_required(v, "metadata.namespace", "");
        else
            invalid_each(v, "metadata.namespace", ns, api__check_dns1123_label(ns));
    } else if (ns != NULL && ns[0] != '\0') {
        api__verr_forbidden(v, "metadata.namespace", "not allowed on this type");
    }
    api__validate_labels(v, json_object_get(md, "labels"), "metadata.labels");
    api__validate_annotations(v, json_object_get(md, "annotations"), "metadata.annotations");

    json_t *fins = json_object_get(md, "finalizers");
    size_t i;
    json_t *f;
    if (fins != NULL && !json_is_null(fins) && !json_is_array(fins))
        api__verr_invalid(v, "metadata.finalizers", fins, "must be a list of strings");
    json_array_foreach (fins, i, f) {
        if (!json_is_string(f)) {
            api__verr_invalid(v, "metadata.finalizers", f, "must be a string");
            continue;
        }
        invalid_each(v, "metadata.finalizers", json_string_value(f),
                     api__check_qualified_name(json_string_value(f)));
    }

    json_t *refs = json_object_get(md, "ownerReferences");
    json_t *r;
    int controllers = 0;
    json_array_foreach (refs, i, r) {
        static const struct {
            const char *key, *msg;
        } req[] = {{"apiVersion", "version must not be empty"},
                   {"kind", "kind must not be empty"},
                   {"name", "name must not be empty"},
                   {"uid", "uid must not be empty"}};
        for (size_t j = 0; j < ARRAY_SIZE(req); j++) {
            if (json_string_length(json_object_get(r, req[j].key)) == 0) {
                _cleanup_free_ char *field = xasprintf("metadata.ownerReferences.%s", req[j].key);
                api__verr_invalid_str(v, field, "", req[j].msg);
            }
        }
        if (json_is_true(json_object_get(r, "controller")))
            controllers++;
    }
    if (controllers > 1)
        api__verr_invalid(v, "metadata.ownerReferences", refs,
                          "Only one reference can have Controller set to true");
}

static void validate_meta_update(struct api__verr *v, const json_t *md, const json_t *old_md)
{
    static const char *const immutable[] = {"name", "namespace", "uid"};
    for (size_t i = 0; i < ARRAY_SIZE(immutable); i++) {
        json_t *a = json_object_get(md, immutable[i]);
        json_t *b = json_object_get(old_md, immutable[i]);
        const char *as = json_string_value(a), *bs = json_string_value(b);
        if (strcmp(as ? as : "", bs ? bs : "") != 0) {
            _cleanup_free_ char *field = xasprintf("metadata.%s", immutable[i]);
            api__verr_invalid_str(v, field, as ? as : "", "field is immutable");
        }
    }
}

json_t *api_object_validate(const struct api_kind *k, const json_t *obj, const json_t *old)
{
    struct api__verr v = {NULL};
    if (!json_is_object(obj)) {
        api__verr_invalid(&v, "", obj, "must be an object");
        return v.causes;
    }
    const json_t *md = json_object_get(obj, "metadata");
    validate_object_meta(&v, k, md);
    if (old != NULL)
        validate_meta_update(&v, md, json_object_get(old, "metadata"));
    api__validate_kind(&v, k, obj, old);
    return v.causes;
}
