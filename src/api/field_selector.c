/* Field selectors (see selector.h): k8s.io/apimachinery/pkg/fields' parser (terms split on
 * unescaped ',', operators != == =, escapes \\ \, \=) and each kind's selectable fields as
 * kube-apiserver's registries define them (pkg/registry/<kind>/strategy.go). */
#include <string.h>

#include "api/selector.h"
#include "base/buf.h"
#include "base/mem.h"

/* A selectable field: the label clients use, where its value lives in the object, and how
 * a missing value reads (Go's zero value of the typed field). */
struct selectable {
    const char *label;
    const char *path; /* dotted JSON path */
    const char *zero; /* "" for strings, "false" for bools, "0" for integers */
};

static const struct selectable common_fields[] = {
    {"metadata.name", "metadata.name", ""},
    {"metadata.namespace", "metadata.namespace", ""},
};

static const struct selectable pod_fields[] = {
    {"spec.nodeName", "spec.nodeName", ""},
    {"spec.restartPolicy", "spec.restartPolicy", ""},
    {"spec.schedulerName", "spec.schedulerName", ""},
    {"spec.serviceAccountName", "spec.serviceAccountName", ""},
    {"spec.hostNetwork", "spec.hostNetwork", "false"},
    {"status.phase", "status.phase", ""},
    {"status.podIP", "status.podIP", ""},
    {"status.nominatedNodeName", "status.nominatedNodeName", ""},
};

static const struct selectable event_fields[] = {
    {"involvedObject.kind", "involvedObject.kind", ""},
    {"involvedObject.namespace", "involvedObject.namespace", ""},
    {"involvedObject.name", "involvedObject.name", ""},
    {"involvedObject.uid", "involvedObject.uid", ""},
    {"involvedObject.apiVersion", "involvedObject.apiVersion", ""},
    {"involvedObject.resourceVersion", "involvedObject.resourceVersion", ""},
    {"involvedObject.fieldPath", "involvedObject.fieldPath", ""},
    {"reason", "reason", ""},
    {"reportingComponent", "reportingComponent", ""},
    {"source", "source.component", ""},
    {"type", "type", ""},
};

/* events.k8s.io/v1 objects carry the renamed fields; the labels stay the core ones, and the
 * new names are accepted too. */
static const struct selectable events_v1_fields[] = {
    {"involvedObject.kind", "regarding.kind", ""},
    {"involvedObject.namespace", "regarding.namespace", ""},
    {"involvedObject.name", "regarding.name", ""},
    {"involvedObject.uid", "regarding.uid", ""},
    {"involvedObject.apiVersion", "regarding.apiVersion", ""},
    {"involvedObject.resourceVersion", "regarding.resourceVersion", ""},
    {"involvedObject.fieldPath", "regarding.fieldPath", ""},
    {"regarding.kind", "regarding.kind", ""},
    {"regarding.namespace", "regarding.namespace", ""},
    {"regarding.name", "regarding.name", ""},
    {"regarding.uid", "regarding.uid", ""},
    {"regarding.apiVersion", "regarding.apiVersion", ""},
    {"regarding.resourceVersion", "regarding.resourceVersion", ""},
    {"regarding.fieldPath", "regarding.fieldPath", ""},
    {"reason", "reason", ""},
    {"reportingComponent", "reportingController", ""},
    {"reportingController", "reportingController", ""},
    {"source", "deprecatedSource.component", ""},
    {"type", "type", ""},
};

static const struct selectable node_fields[] = {
    {"spec.unschedulable", "spec.unschedulable", "false"},
};
static const struct selectable secret_fields[] = {{"type", "type", ""}};
static const struct selectable namespace_fields[] = {{"status.phase", "status.phase", ""}};
static const struct selectable replicas_fields[] = {{"status.replicas", "status.replicas", "0"}};
static const struct selectable job_fields[] = {{"status.successful", "status.successful", "0"}};
static const struct selectable service_fields[] = {
    {"spec.clusterIP", "spec.clusterIP", ""},
    {"spec.type", "spec.type", ""},
};

static const struct {
    const char *api_version, *kind;
    const struct selectable *fields;
    size_t n;
} kind_fields[] = {
#define KF(av, k, arr)                                                                             \
    {                                                                                              \
        av, k, arr, ARRAY_SIZE(arr)                                                                \
    }
    KF("v1", "Pod", pod_fields),
    KF("v1", "Event", event_fields),
    KF("events.k8s.io/v1", "Event", events_v1_fields),
    KF("v1", "Node", node_fields),
    KF("v1", "Secret", secret_fields),
    KF("v1", "Namespace", namespace_fields),
    KF("v1", "ReplicationController", replicas_fields),
    KF("apps/v1", "ReplicaSet", replicas_fields),
    KF("batch/v1", "Job", job_fields),
    KF("v1", "Service", service_fields),
#undef KF
};

static const struct selectable *find_field(const struct api_kind *k, const char *label)
{
    for (size_t i = 0; i < ARRAY_SIZE(common_fields); i++)
        if (strcmp(common_fields[i].label, label) == 0)
            return &common_fields[i];
    if (k == NULL)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(kind_fields); i++) {
        if (strcmp(kind_fields[i].api_version, k->api_version) != 0 ||
            strcmp(kind_fields[i].kind, k->kind) != 0)
            continue;
        for (size_t j = 0; j < kind_fields[i].n; j++)
            if (strcmp(kind_fields[i].fields[j].label, label) == 0)
                return &kind_fields[i].fields[j];
    }
    return NULL;
}

struct term {
    const struct selectable *field;
    bool not_equal;
    char *value;
};

struct api_field_selector {
    struct term *terms;
    size_t n;
};

void api_field_selector_free(struct api_field_selector *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->terms[i].value);
    free(s->terms);
    free(s);
}

void api_field_selector_freep(struct api_field_selector **s)
{
    api_field_selector_free(*s);
    *s = NULL;
}

/* Splits text on commas not escaped by a backslash. Returns a NULL-terminated vector. */
static char **split_terms(const char *text)
{
    size_t n = 0;
    char **out = xcalloc(1, sizeof(char *));
    const char *start = text;
    for (const char *p = text;; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            continue;
        }
        if (*p == ',' || *p == '\0') {
            out = xrealloc(out, (n + 2) * sizeof(char *));
            out[n++] = xstrndup(start, (size_t)(p - start));
            out[n] = NULL;
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    return out;
}

/* fields.UnescapeValue: "\\\\", "\\,", "\\=" are escapes; bare ',' and '=' are refused. */
static char *unescape_value(const char *s, struct k8c_err **err)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_append_str(&b, "");
    for (const char *p = s; *p; p++) {
        if (*p == '\\') {
            if (p[1] == '\\' || p[1] == ',' || p[1] == '=') {
                buf_append_char(&b, p[1]);
                p++;
                continue;
            }
            if (p[1] == '\0') {
                k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                            "invalid field selector: invalid escape sequence: \\");
                return NULL;
            }
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "invalid field selector: invalid escape sequence: \\%c", p[1]);
            return NULL;
        }
        if (*p == ',' || *p == '=') {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "invalid field selector: unescaped character in value: %d", *p);
            return NULL;
        }
        buf_append_char(&b, *p);
    }
    return buf_steal(&b);
}

struct api_field_selector *api_field_selector_parse(const struct api_kind *k, const char *text,
                                                    struct k8c_err **err)
{
    struct api_field_selector *s = xcalloc(1, sizeof(*s));
    if (text == NULL || text[0] == '\0')
        return s;
    _cleanup_strv_ char **parts = split_terms(text);
    for (size_t i = 0; parts[i] != NULL; i++) {
        const char *part = parts[i];
        if (part[0] == '\0')
            continue;
        /* fields.splitTerm: the first position where "!=", "==" or "=" starts. */
        size_t at = 0, oplen = 0;
        bool ne = false;
        for (; part[at] != '\0'; at++) {
            if (strncmp(part + at, "!=", 2) == 0) {
                ne = true;
                oplen = 2;
                break;
            }
            if (strncmp(part + at, "==", 2) == 0) {
                oplen = 2;
                break;
            }
            if (part[at] == '=') {
                oplen = 1;
                break;
            }
        }
        if (oplen == 0) {
            api_field_selector_free(s);
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "invalid selector: '%s'; can't understand '%s'", text, part);
            return NULL;
        }
        _cleanup_free_ char *label = xstrndup(part, at);
        char *value = unescape_value(part + at + oplen, err);
        if (value == NULL) {
            api_field_selector_free(s);
            return NULL;
        }
        const struct selectable *f = find_field(k, label);
        if (f == NULL) {
            free(value);
            api_field_selector_free(s);
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "field label not supported: %s", label);
            return NULL;
        }
        s->terms = xrealloc(s->terms, (s->n + 1) * sizeof(*s->terms));
        s->terms[s->n++] = (struct term){f, ne, value};
    }
    return s;
}

/* The field's value as Kubernetes' selectable-field set renders it. Returns a borrowed
 * string, or tmp filled for numbers and booleans. */
static const char *field_value(const json_t *obj, const struct selectable *f, char tmp[32])
{
    const json_t *v = obj;
    const char *p = f->path;
    while (v != NULL && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[64];
        if (n >= sizeof(key))
            return f->zero;
        memcpy(key, p, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        p += n + (dot ? 1 : 0);
    }
    if (v == NULL || json_is_null(v))
        return f->zero;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (json_is_integer(v)) {
        snprintf(tmp, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tmp;
    }
    return f->zero;
}

bool api_field_selector_match(const struct api_field_selector *s, const json_t *obj)
{
    for (size_t i = 0; i < s->n; i++) {
        char tmp[32];
        const char *v = field_value(obj, s->terms[i].field, tmp);
        bool eq = strcmp(v, s->terms[i].value) == 0;
        if (eq == s->terms[i].not_equal)
            return false;
    }
    return true;
}

const char *api_field_selector_exact(const struct api_field_selector *s, const char *field)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->terms[i].not_equal && strcmp(s->terms[i].field->label, field) == 0)
            return s->terms[i].value;
    return NULL;
}
