/* Protobuf request bodies (see protobuf.h): a small wire-format reader driven by per-message
 * field tables written from the upstream generated.proto field numbers (k8s.io/api core/v1,
 * apps/v1, batch/v1, authentication/v1, authorization/v1; apimachinery meta/v1, intstr,
 * resource). Checked against bodies captured from kubectl 1.32 (tests/fuzz/corpus/
 * api_protobuf). */
#include "api/protobuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/mem.h"

enum pb_type {
    PB_STRING,
    PB_BYTES, /* base64 string in JSON */
    PB_INT,   /* int32/int64 varint, sign-extended */
    PB_BOOL,
    PB_MSG,
    PB_MAP_SS, /* map<string,string> */
    PB_MAP_SB, /* map<string,bytes> */
    PB_MAP_SQ, /* map<string,Quantity> */
    PB_TIME,   /* meta/v1 Time {1 seconds, 2 nanos} */
    PB_INTSTR, /* intstr.IntOrString {1 type, 2 intVal, 3 strVal} */
};

#define PB_REPEATED 1u
#define PB_OPTIONAL 2u /* a pointer in Go: present means set, zero included */

struct pb_msg;
struct pb_field {
    uint32_t num;
    const char *json;
    enum pb_type type;
    unsigned flags;
    const struct pb_msg *msg;
};
struct pb_msg {
    const struct pb_field *fields;
    size_t n;
};

#define MSG(name, ...)                                                                             \
    static const struct pb_field name##_fields[] = {__VA_ARGS__};                                  \
    static const struct pb_msg name = {name##_fields, ARRAY_SIZE(name##_fields)}
#define F(num, json, type)                                                                         \
    {                                                                                              \
        num, json, type, 0, NULL                                                                   \
    }
#define FO(num, json, type)                                                                        \
    {                                                                                              \
        num, json, type, PB_OPTIONAL, NULL                                                         \
    }
#define FR(num, json, type)                                                                        \
    {                                                                                              \
        num, json, type, PB_REPEATED, NULL                                                         \
    }
#define M(num, json, msg)                                                                          \
    {                                                                                              \
        num, json, PB_MSG, 0, &msg                                                                 \
    }
#define MO(num, json, msg)                                                                         \
    {                                                                                              \
        num, json, PB_MSG, PB_OPTIONAL, &msg                                                       \
    }
#define MR(num, json, msg)                                                                         \
    {                                                                                              \
        num, json, PB_MSG, PB_REPEATED, &msg                                                       \
    }

/* meta/v1 */
MSG(owner_reference, F(1, "kind", PB_STRING), F(3, "name", PB_STRING), F(4, "uid", PB_STRING),
    F(5, "apiVersion", PB_STRING), FO(6, "controller", PB_BOOL),
    FO(7, "blockOwnerDeletion", PB_BOOL));
MSG(object_meta, F(1, "name", PB_STRING), F(2, "generateName", PB_STRING),
    F(3, "namespace", PB_STRING), F(4, "selfLink", PB_STRING), F(5, "uid", PB_STRING),
    F(6, "resourceVersion", PB_STRING), F(7, "generation", PB_INT),
    F(8, "creationTimestamp", PB_TIME), F(9, "deletionTimestamp", PB_TIME),
    FO(10, "deletionGracePeriodSeconds", PB_INT), F(11, "labels", PB_MAP_SS),
    F(12, "annotations", PB_MAP_SS), MR(13, "ownerReferences", owner_reference),
    FR(14, "finalizers", PB_STRING));
MSG(label_selector_requirement, F(1, "key", PB_STRING), F(2, "operator", PB_STRING),
    FR(3, "values", PB_STRING));
MSG(label_selector, F(1, "matchLabels", PB_MAP_SS),
    MR(2, "matchExpressions", label_selector_requirement));

/* core/v1 pieces of a pod template */
MSG(container_port, F(1, "name", PB_STRING), F(2, "hostPort", PB_INT),
    F(3, "containerPort", PB_INT), F(4, "protocol", PB_STRING), F(5, "hostIP", PB_STRING));
MSG(object_field_selector, F(1, "apiVersion", PB_STRING), F(2, "fieldPath", PB_STRING));
MSG(env_var_source, MO(1, "fieldRef", object_field_selector));
MSG(env_var, F(1, "name", PB_STRING), F(2, "value", PB_STRING), MO(3, "valueFrom", env_var_source));
MSG(resource_requirements, F(1, "limits", PB_MAP_SQ), F(2, "requests", PB_MAP_SQ));
MSG(volume_mount, F(1, "name", PB_STRING), F(2, "readOnly", PB_BOOL), F(3, "mountPath", PB_STRING),
    F(4, "subPath", PB_STRING));
MSG(container, F(1, "name", PB_STRING), F(2, "image", PB_STRING), FR(3, "command", PB_STRING),
    FR(4, "args", PB_STRING), F(5, "workingDir", PB_STRING), MR(6, "ports", container_port),
    MR(7, "env", env_var), M(8, "resources", resource_requirements),
    MR(9, "volumeMounts", volume_mount), F(13, "terminationMessagePath", PB_STRING),
    F(14, "imagePullPolicy", PB_STRING), F(16, "stdin", PB_BOOL), F(17, "stdinOnce", PB_BOOL),
    F(18, "tty", PB_BOOL), F(20, "terminationMessagePolicy", PB_STRING),
    FO(24, "restartPolicy", PB_STRING));
MSG(local_object_reference, F(1, "name", PB_STRING));
MSG(pod_spec, MR(2, "containers", container), F(3, "restartPolicy", PB_STRING),
    FO(4, "terminationGracePeriodSeconds", PB_INT), FO(5, "activeDeadlineSeconds", PB_INT),
    F(6, "dnsPolicy", PB_STRING), F(7, "nodeSelector", PB_MAP_SS),
    F(8, "serviceAccountName", PB_STRING), F(9, "serviceAccount", PB_STRING),
    F(10, "nodeName", PB_STRING), F(11, "hostNetwork", PB_BOOL), F(12, "hostPID", PB_BOOL),
    F(13, "hostIPC", PB_BOOL), MR(15, "imagePullSecrets", local_object_reference),
    F(16, "hostname", PB_STRING), F(17, "subdomain", PB_STRING), F(19, "schedulerName", PB_STRING),
    MR(20, "initContainers", container), FO(21, "automountServiceAccountToken", PB_BOOL),
    F(24, "priorityClassName", PB_STRING), FO(25, "priority", PB_INT),
    FO(30, "enableServiceLinks", PB_BOOL), FO(31, "preemptionPolicy", PB_STRING));
MSG(pod_template_spec, M(1, "metadata", object_meta), M(2, "spec", pod_spec));

/* apps/v1 Deployment */
static const struct pb_field rolling_update_fields_real[] = {
    {1, "maxUnavailable", PB_INTSTR, PB_OPTIONAL, NULL},
    {2, "maxSurge", PB_INTSTR, PB_OPTIONAL, NULL},
};
static const struct pb_msg rolling_update = {rolling_update_fields_real,
                                             ARRAY_SIZE(rolling_update_fields_real)};
MSG(deployment_strategy, F(1, "type", PB_STRING), MO(2, "rollingUpdate", rolling_update));
MSG(deployment_spec, FO(1, "replicas", PB_INT), MO(2, "selector", label_selector),
    M(3, "template", pod_template_spec), M(4, "strategy", deployment_strategy),
    F(5, "minReadySeconds", PB_INT), FO(6, "revisionHistoryLimit", PB_INT), F(7, "paused", PB_BOOL),
    FO(9, "progressDeadlineSeconds", PB_INT));
MSG(deployment, M(1, "metadata", object_meta), M(2, "spec", deployment_spec));

/* batch/v1 Job */
MSG(job_spec, FO(1, "parallelism", PB_INT), FO(2, "completions", PB_INT),
    FO(3, "activeDeadlineSeconds", PB_INT), MO(4, "selector", label_selector),
    FO(5, "manualSelector", PB_BOOL), M(6, "template", pod_template_spec),
    FO(7, "backoffLimit", PB_INT), FO(8, "ttlSecondsAfterFinished", PB_INT),
    FO(9, "completionMode", PB_STRING), FO(10, "suspend", PB_BOOL),
    FO(14, "podReplacementPolicy", PB_STRING));
MSG(job, M(1, "metadata", object_meta), M(2, "spec", job_spec));

/* core/v1 ConfigMap, Secret, Namespace, ServiceAccount, Service */
MSG(config_map, M(1, "metadata", object_meta), F(2, "data", PB_MAP_SS),
    F(3, "binaryData", PB_MAP_SB), FO(4, "immutable", PB_BOOL));
MSG(secret, M(1, "metadata", object_meta), F(2, "data", PB_MAP_SB), F(3, "type", PB_STRING),
    F(4, "stringData", PB_MAP_SS), FO(5, "immutable", PB_BOOL));
MSG(namespace_spec, FR(1, "finalizers", PB_STRING));
MSG(namespace, M(1, "metadata", object_meta), M(2, "spec", namespace_spec));
MSG(object_reference, F(1, "kind", PB_STRING), F(2, "namespace", PB_STRING),
    F(3, "name", PB_STRING), F(4, "uid", PB_STRING), F(5, "apiVersion", PB_STRING),
    F(6, "resourceVersion", PB_STRING), F(7, "fieldPath", PB_STRING));
MSG(service_account, M(1, "metadata", object_meta), MR(2, "secrets", object_reference),
    MR(3, "imagePullSecrets", local_object_reference),
    FO(4, "automountServiceAccountToken", PB_BOOL));
static const struct pb_field service_port_fields[] = {
    F(1, "name", PB_STRING),       F(2, "protocol", PB_STRING), F(3, "port", PB_INT),
    F(4, "targetPort", PB_INTSTR), F(5, "nodePort", PB_INT),    FO(6, "appProtocol", PB_STRING),
};
static const struct pb_msg service_port = {service_port_fields, ARRAY_SIZE(service_port_fields)};
MSG(service_spec, MR(1, "ports", service_port), F(2, "selector", PB_MAP_SS),
    F(3, "clusterIP", PB_STRING), F(4, "type", PB_STRING), FR(5, "externalIPs", PB_STRING),
    F(7, "sessionAffinity", PB_STRING), F(8, "loadBalancerIP", PB_STRING),
    FR(9, "loadBalancerSourceRanges", PB_STRING), F(10, "externalName", PB_STRING),
    F(11, "externalTrafficPolicy", PB_STRING), F(12, "healthCheckNodePort", PB_INT),
    F(13, "publishNotReadyAddresses", PB_BOOL), FO(17, "ipFamilyPolicy", PB_STRING),
    FR(18, "clusterIPs", PB_STRING), FR(19, "ipFamilies", PB_STRING),
    FO(20, "allocateLoadBalancerNodePorts", PB_BOOL), FO(21, "loadBalancerClass", PB_STRING),
    FO(22, "internalTrafficPolicy", PB_STRING));
MSG(service, M(1, "metadata", object_meta), M(2, "spec", service_spec));

/* authentication.k8s.io/v1 TokenRequest */
MSG(bound_object_reference, F(1, "kind", PB_STRING), F(2, "apiVersion", PB_STRING),
    F(3, "name", PB_STRING), F(4, "uid", PB_STRING));
MSG(token_request_spec, FR(1, "audiences", PB_STRING),
    MO(3, "boundObjectRef", bound_object_reference), FO(4, "expirationSeconds", PB_INT));
MSG(token_request, M(1, "metadata", object_meta), M(2, "spec", token_request_spec));

/* authorization.k8s.io/v1 SelfSubjectAccessReview */
MSG(resource_attributes, F(1, "namespace", PB_STRING), F(2, "verb", PB_STRING),
    F(3, "group", PB_STRING), F(4, "version", PB_STRING), F(5, "resource", PB_STRING),
    F(6, "subresource", PB_STRING), F(7, "name", PB_STRING));
MSG(non_resource_attributes, F(1, "path", PB_STRING), F(2, "verb", PB_STRING));
MSG(self_subject_access_review_spec, MO(1, "resourceAttributes", resource_attributes),
    MO(2, "nonResourceAttributes", non_resource_attributes));
MSG(self_subject_access_review, M(1, "metadata", object_meta),
    M(2, "spec", self_subject_access_review_spec));

static const struct {
    const char *api_version, *kind;
    const struct pb_msg *msg;
} known[] = {
    {"v1", "ConfigMap", &config_map},
    {"v1", "Secret", &secret},
    {"v1", "Namespace", &namespace},
    {"v1", "Service", &service},
    {"v1", "ServiceAccount", &service_account},
    {"apps/v1", "Deployment", &deployment},
    {"batch/v1", "Job", &job},
    {"authentication.k8s.io/v1", "TokenRequest", &token_request},
    {"authorization.k8s.io/v1", "SelfSubjectAccessReview", &self_subject_access_review},
};

/* ---- wire format ---- */

struct reader {
    const uint8_t *p, *end;
};

static int read_varint(struct reader *r, uint64_t *out, struct k8c_err **err)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "malformed protobuf body: truncated varint");
        uint8_t b = *r->p++;
        if (shift == 63 && b > 1)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "malformed protobuf body: varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            return 0;
        }
    }
    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                       "malformed protobuf body: varint longer than 10 bytes");
}

/* One field: its number, wire type, and value (varint in v, or bytes in data and len). */
struct pb_item {
    uint32_t num;
    unsigned wire;
    uint64_t v;
    const uint8_t *data;
    size_t len;
};

static int read_item(struct reader *r, struct pb_item *it, struct k8c_err **err)
{
    uint64_t key;
    if (read_varint(r, &key, err) < 0)
        return -1;
    it->num = (uint32_t)(key >> 3);
    it->wire = (unsigned)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 536870911)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "malformed protobuf body: invalid field number");
    switch (it->wire) {
    case 0: return read_varint(r, &it->v, err);
    case 1:
        if (r->end - r->p < 8)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "malformed protobuf body: truncated fixed64");
        r->p += 8;
        return 0;
    case 5:
        if (r->end - r->p < 4)
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "malformed protobuf body: truncated fixed32");
        r->p += 4;
        return 0;
    case 2: {
        uint64_t n;
        if (read_varint(r, &n, err) < 0)
            return -1;
        if (n > (uint64_t)(r->end - r->p))
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "malformed protobuf body: field %u runs past the end", it->num);
        it->data = r->p;
        it->len = (size_t)n;
        r->p += n;
        return 0;
    }
    default:
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "malformed protobuf body: unsupported wire type %u", it->wire);
    }
}

static json_t *utf8_string(const uint8_t *data, size_t len, const char *field, struct k8c_err **err)
{
    json_t *s = json_stringn((const char *)data, len);
    if (s == NULL)
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "malformed protobuf body: field %s is not valid UTF-8", field);
    return s;
}

char *api__base64(const void *data_, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *data = data_;
    struct buf b = BUF_INIT;
    buf_reserve(&b, (len + 2) / 3 * 4 + 1);
    buf_append_str(&b, "");
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        char out[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63],
                       i + 1 < len ? tbl[(v >> 6) & 63] : '=', i + 2 < len ? tbl[v & 63] : '='};
        buf_append(&b, out, 4);
    }
    return buf_steal(&b);
}

static json_t *base64_string(const uint8_t *data, size_t len)
{
    char *s = api__base64(data, len);
    json_t *v = json_string(s);
    free(s);
    return v;
}

static json_t *decode_msg(const struct pb_msg *m, const uint8_t *data, size_t len, int depth,
                          struct k8c_err **err);

/* A map entry {1 key, 2 value}: sets obj[key] = value decoded as vtype. */
static int decode_map_entry(json_t *obj, enum pb_type vtype, const char *field, const uint8_t *data,
                            size_t len, struct k8c_err **err)
{
    struct reader r = {data, data + len};
    json_t *key = NULL, *value = NULL;
    while (r.p < r.end) {
        struct pb_item it;
        if (read_item(&r, &it, err) < 0)
            goto fail;
        if (it.num == 1 && it.wire == 2) {
            json_decref(key);
            if ((key = utf8_string(it.data, it.len, field, err)) == NULL)
                goto fail;
        } else if (it.num == 2 && it.wire == 2) {
            json_decref(value);
            value = NULL;
            if (vtype == PB_MAP_SS) {
                value = utf8_string(it.data, it.len, field, err);
            } else if (vtype == PB_MAP_SB) {
                value = base64_string(it.data, it.len);
            } else { /* Quantity {1 string} */
                struct reader q = {it.data, it.data + it.len};
                while (q.p < q.end) {
                    struct pb_item qi;
                    if (read_item(&q, &qi, err) < 0)
                        goto fail;
                    if (qi.num == 1 && qi.wire == 2) {
                        json_decref(value);
                        value = utf8_string(qi.data, qi.len, field, err);
                        if (value == NULL)
                            goto fail;
                    }
                }
                if (value == NULL)
                    value = json_string("0");
            }
            if (value == NULL)
                goto fail;
        } else if (it.num <= 2) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "malformed protobuf body: bad map entry in %s", field);
            goto fail;
        }
    }
    json_object_set_new(obj, key ? json_string_value(key) : "",
                        value ? value : json_string(vtype == PB_MAP_SQ ? "0" : ""));
    json_decref(key);
    return 0;
fail:
    json_decref(key);
    json_decref(value);
    return -1;
}

static json_t *decode_time(const uint8_t *data, size_t len, struct k8c_err **err)
{
    struct reader r = {data, data + len};
    int64_t seconds = 0;
    while (r.p < r.end) {
        struct pb_item it;
        if (read_item(&r, &it, err) < 0)
            return NULL;
        if (it.num == 1 && it.wire == 0)
            seconds = (int64_t)it.v;
    }
    if (seconds == 0)
        return json_null(); /* the zero time: omitted */
    char out[21];
    clock_rfc3339((time_t)seconds, out);
    return json_string(out);
}

static json_t *decode_intstr(const uint8_t *data, size_t len, struct k8c_err **err)
{
    struct reader r = {data, data + len};
    uint64_t type = 0;
    int64_t ival = 0;
    json_t *sval = NULL;
    while (r.p < r.end) {
        struct pb_item it;
        if (read_item(&r, &it, err) < 0) {
            json_decref(sval);
            return NULL;
        }
        if (it.num == 1 && it.wire == 0) {
            type = it.v;
        } else if (it.num == 2 && it.wire == 0) {
            ival = (int32_t)(uint32_t)it.v;
        } else if (it.num == 3 && it.wire == 2) {
            json_decref(sval);
            if ((sval = utf8_string(it.data, it.len, "IntOrString", err)) == NULL)
                return NULL;
        }
    }
    if (type == 1)
        return sval ? sval : json_string("");
    json_decref(sval);
    return json_integer(ival);
}

static const struct pb_field *find_field(const struct pb_msg *m, uint32_t num)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->fields[i].num == num)
            return &m->fields[i];
    return NULL;
}

static bool wire_ok(const struct pb_field *f, unsigned wire)
{
    switch (f->type) {
    case PB_INT:
    case PB_BOOL: return wire == 0;
    default: return wire == 2;
    }
}

static json_t *decode_msg(const struct pb_msg *m, const uint8_t *data, size_t len, int depth,
                          struct k8c_err **err)
{
    if (depth > 32) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "malformed protobuf body: nested too deep");
        return NULL;
    }
    json_t *obj = json_object();
    struct reader r = {data, data + len};
    while (r.p < r.end) {
        struct pb_item it;
        if (read_item(&r, &it, err) < 0)
            goto fail;
        const struct pb_field *f = find_field(m, it.num);
        if (f == NULL)
            continue; /* unknown fields are skipped, as Go's proto decoder does */
        if (!wire_ok(f, it.wire)) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "malformed protobuf body: field %s has wire type %u", f->json, it.wire);
            goto fail;
        }
        json_t *v = NULL;
        bool keep_zero = (f->flags & (PB_OPTIONAL | PB_REPEATED)) != 0;
        switch (f->type) {
        case PB_STRING:
            if ((v = utf8_string(it.data, it.len, f->json, err)) == NULL)
                goto fail;
            if (!keep_zero && it.len == 0) {
                json_decref(v);
                v = NULL;
            }
            break;
        case PB_BYTES: v = base64_string(it.data, it.len); break;
        case PB_INT:
            if (keep_zero || it.v != 0)
                v = json_integer((json_int_t)(int64_t)it.v);
            break;
        case PB_BOOL:
            if (keep_zero || it.v != 0)
                v = json_boolean(it.v != 0);
            break;
        case PB_MSG:
            if ((v = decode_msg(f->msg, it.data, it.len, depth + 1, err)) == NULL)
                goto fail;
            break;
        case PB_MAP_SS:
        case PB_MAP_SB:
        case PB_MAP_SQ: {
            json_t *map = json_object_get(obj, f->json);
            if (map == NULL) {
                map = json_object();
                json_object_set_new(obj, f->json, map);
            }
            if (decode_map_entry(map, f->type, f->json, it.data, it.len, err) < 0)
                goto fail;
            continue;
        }
        case PB_TIME:
            if ((v = decode_time(it.data, it.len, err)) == NULL)
                goto fail;
            if (json_is_null(v)) {
                json_decref(v);
                v = NULL;
            }
            break;
        case PB_INTSTR:
            if ((v = decode_intstr(it.data, it.len, err)) == NULL)
                goto fail;
            if (!keep_zero && json_is_integer(v) && json_integer_value(v) == 0) {
                json_decref(v);
                v = NULL;
            }
            break;
        }
        if (v == NULL)
            continue;
        if (f->flags & PB_REPEATED) {
            json_t *arr = json_object_get(obj, f->json);
            if (arr == NULL) {
                arr = json_array();
                json_object_set_new(obj, f->json, arr);
            }
            json_array_append_new(arr, v);
        } else {
            json_object_set_new(obj, f->json, v);
        }
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static const uint8_t magic[4] = {'k', '8', 's', 0};

json_t *api_protobuf_decode(const void *body, size_t len, const struct api_kind *expected,
                            struct k8c_err **err)
{
    const uint8_t *b = body;
    if (len < sizeof(magic) || memcmp(b, magic, sizeof(magic)) != 0) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "provided data does not appear to be a protobuf message, expected prefix "
                    "[107 56 115 0]");
        return NULL;
    }
    struct reader r = {b + 4, b + len};
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    _cleanup_free_ char *api_version = NULL, *kind = NULL, *encoding = NULL;
    while (r.p < r.end) {
        struct pb_item it;
        if (read_item(&r, &it, err) < 0)
            return NULL;
        if (it.wire != 2)
            continue;
        if (it.num == 1) {
            struct reader t = {it.data, it.data + it.len};
            while (t.p < t.end) {
                struct pb_item ti;
                if (read_item(&t, &ti, err) < 0)
                    return NULL;
                if (ti.wire == 2 && ti.num == 1) {
                    free(api_version);
                    api_version = xstrndup((const char *)ti.data, ti.len);
                } else if (ti.wire == 2 && ti.num == 2) {
                    free(kind);
                    kind = xstrndup((const char *)ti.data, ti.len);
                }
            }
        } else if (it.num == 2) {
            raw = it.data;
            raw_len = it.len;
        } else if (it.num == 3) {
            free(encoding);
            encoding = xstrndup((const char *)it.data, it.len);
        }
    }
    if (encoding != NULL && encoding[0] != '\0') {
        k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                    "protobuf content encoding `%s` is not supported", encoding);
        return NULL;
    }
    if (kind == NULL || kind[0] == '\0') {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "Object 'Kind' is missing in the protobuf body");
        return NULL;
    }
    if (api_version == NULL || api_version[0] == '\0') {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "Object 'apiVersion' is missing in the protobuf body");
        return NULL;
    }
    if (expected != NULL) {
        if (strcmp(api_version, expected->api_version) != 0) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "the API version in the data (%s) does not match the expected API "
                        "version (%s)",
                        api_version, expected->api_version);
            return NULL;
        }
        if (strcmp(kind, expected->kind) != 0) {
            k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                        "%s in version \"%s\" cannot be handled as a %s: the kind in the data "
                        "(%s) does not match the expected kind (%s)",
                        kind, expected->version, expected->kind, kind, expected->kind);
            return NULL;
        }
    }
    const struct pb_msg *m = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strcmp(known[i].api_version, api_version) == 0 && strcmp(known[i].kind, kind) == 0)
            m = known[i].msg;
    if (m == NULL) {
        k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json, application/yaml (protobuf is supported for "
                    "ConfigMap, Secret, Namespace, Service, ServiceAccount, Deployment, Job, "
                    "TokenRequest and SelfSubjectAccessReview, not %s)",
                    kind);
        return NULL;
    }
    json_t *obj = decode_msg(m, raw ? raw : (const uint8_t *)"", raw_len, 0, err);
    if (obj == NULL)
        return NULL;
    json_t *out = json_object();
    json_t *av = json_string(api_version), *kd = json_string(kind);
    if (av == NULL || kd == NULL) {
        json_decref(av);
        json_decref(kd);
        json_decref(out);
        json_decref(obj);
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "malformed protobuf body: apiVersion or kind is not valid UTF-8");
        return NULL;
    }
    json_object_set_new(out, "apiVersion", av);
    json_object_set_new(out, "kind", kd);
    json_object_update(out, obj);
    json_decref(obj);
    if (json_object_get(out, "metadata") == NULL)
        json_object_set_new(out, "metadata", json_object());
    return out;
}
