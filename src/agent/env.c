/* A container's environment as kubelet builds it: envFrom (ConfigMaps and Secrets, with
 * prefix; invalid names skipped and reported), then env (literal values with $(VAR)
 * expansion, configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef), and the $(VAR)
 * expansion of command and args. Also the downward API values the volumes share. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "base/buf.h"
#include "base/codec.h"
#include "base/json.h"
#include "base/mem.h"

char *agent_expand(const char *s, const json_t *vars)
{
    struct buf out = BUF_INIT;
    buf_append_str(&out, "");
    for (const char *p = s; *p;) {
        if (p[0] != '$' || !p[1]) {
            buf_append_char(&out, *p++);
            continue;
        }
        if (p[1] == '$') { /* $$ is an escaped $ */
            buf_append_char(&out, '$');
            p += 2;
            continue;
        }
        const char *close = p[1] == '(' ? strchr(p + 2, ')') : NULL;
        if (!close) { /* "$x" and an unterminated "$(" stay as they are */
            buf_append_char(&out, *p++);
            continue;
        }
        _cleanup_free_ char *name = xstrndup(p + 2, (size_t)(close - p - 2));
        const json_t *v = *name ? json_object_get(vars, name) : NULL;
        if (json_is_string(v))
            buf_append_str(&out, json_string_value(v));
        else /* unknown references are kept literally */
            buf_append(&out, p, (size_t)(close - p + 1));
        p = close + 1;
    }
    return buf_steal(&out);
}

bool agent_env_name_valid(const char *s)
{
    /* Kubernetes' IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]* */
    if (!s || !*s || isdigit((unsigned char)*s))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    return true;
}

json_t *agent_source_get(struct client *c, const char *ns, const char *name, bool secret,
                         struct k8c_err **err)
{
    const char *kind = secret ? "secret" : "configmap";
    if (!c)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "no API client for %s \"%s\"", kind, name),
               NULL;
    _cleanup_free_ char *path =
        xasprintf("/api/v1/namespaces/%s/%s/%s", ns, secret ? "secrets" : "configmaps", name);
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *obj = client_get(c, path, &e);
    if (!obj) {
        if (e->reason == K8C_REASON_NOT_FOUND)
            k8c_err_set(err, 0, K8C_REASON_NOT_FOUND, "%s \"%s\" not found", kind, name);
        else
            k8c_err_set(err, e->errnum, e->reason, "get %s \"%s\": %s", kind, name, e->msg);
        return NULL;
    }
    return agent_source_data(obj, secret);
}

json_t *agent_source_data(const json_t *obj, bool secret)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    /* Secrets' data and ConfigMaps' binaryData are base64 */
    const char *b64_field = secret ? "data" : "binaryData";
    json_object_foreach (json_object_get(obj, b64_field), k, v) {
        const char *s = json_string_value(v);
        size_t len = 0;
        _cleanup_free_ char *raw = s ? codec_base64_decode(s, strlen(s), &len, NULL) : NULL;
        if (raw)
            json_object_set_new(out, k, json_stringn_nocheck(raw, len));
    }
    json_object_foreach (json_object_get(obj, secret ? "stringData" : "data"), k, v)
        if (json_is_string(v))
            json_object_set(out, k, v);
    return out;
}

/* ---- downward API ---- */

/* labels['k'] and annotations['k']: the key, or NULL when s is not that form. */
static char *subscript(const char *s, const char *field)
{
    size_t n = strlen(field);
    if (strncmp(s, field, n) != 0 || strncmp(s + n, "['", 2) != 0)
        return NULL;
    const char *k = s + n + 2;
    size_t kl = strlen(k);
    if (kl < 2 || strcmp(k + kl - 2, "']") != 0)
        return NULL;
    return xstrndup(k, kl - 2);
}

/* Go's %q of s, enough for label and annotation values. */
static void go_quote(struct buf *out, const char *s)
{
    buf_append_char(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_appendf(out, "\\%c", *p);
        else if (*p == '\n')
            buf_append_str(out, "\\n");
        else if (*p == '\t')
            buf_append_str(out, "\\t");
        else if (*p == '\r')
            buf_append_str(out, "\\r");
        else if (*p < 0x20 || *p == 0x7f)
            buf_appendf(out, "\\x%02x", *p);
        else
            buf_append_char(out, (char)*p);
    }
    buf_append_char(out, '"');
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* kubelet's FormatMap: k="v" lines sorted by key, no trailing newline. */
static char *format_map(const json_t *m)
{
    size_t n = json_object_size(m), i = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)m, k, v)
        keys[i++] = k;
    qsort(keys, n, sizeof(*keys), cmp_str);
    struct buf out = BUF_INIT;
    buf_append_str(&out, "");
    for (i = 0; i < n; i++) {
        if (i)
            buf_append_char(&out, '\n');
        buf_appendf(&out, "%s=", keys[i]);
        go_quote(&out, json_string_value(json_object_get(m, keys[i])) ?: "");
    }
    free(keys);
    return buf_steal(&out);
}

char *agent_field_value(const json_t *pod, const char *path, const char *host_ip, bool volume,
                        struct k8c_err **err)
{
    static const char *const direct[] = {"metadata.name", "metadata.namespace", "metadata.uid",
                                         "spec.nodeName", "spec.serviceAccountName"};
    for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++)
        if (strcmp(path, direct[i]) == 0)
            return xstrdup(kjson_path_str(pod, path) ?: "");
    if (strcmp(path, "status.hostIP") == 0 || strcmp(path, "status.hostIPs") == 0)
        return xstrdup(host_ip ? host_ip : kjson_path_str(pod, "status.hostIP") ?: "");
    if (strcmp(path, "status.podIP") == 0 || strcmp(path, "status.podIPs") == 0)
        return xstrdup(kjson_path_str(pod, "status.podIP") ?: "");
    if (volume && strcmp(path, "metadata.labels") == 0)
        return format_map(kjson_path(pod, "metadata.labels"));
    if (volume && strcmp(path, "metadata.annotations") == 0)
        return format_map(kjson_path(pod, "metadata.annotations"));
    const char *maps[] = {"metadata.labels", "metadata.annotations"};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *k = subscript(path, maps[i]);
        if (k)
            return xstrdup(json_string_value(json_object_get(kjson_path(pod, maps[i]), k)) ?: "");
    }
    k8c_err_set(err, 0, K8C_REASON_INVALID, "unsupported fieldPath: %s", path);
    return NULL;
}

static const json_t *ctr_by_name(const json_t *pod, const char *name)
{
    const char *lists[] = {"spec.containers", "spec.initContainers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach (kjson_path(pod, lists[l]), i, c)
            if (strcmp(kjson_path_str(c, "name") ?: "", name) == 0)
                return c;
    }
    return NULL;
}

/* What the node offers when a container sets no limit (kubelet uses allocatable). */
static int64_t node_allocatable(bool cpu)
{
    if (cpu) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return (n > 0 ? n : 1) * 1000;
    }
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return (int64_t)pages * size;
}

char *agent_resource_value(const json_t *pod, const json_t *ctr, const json_t *ref,
                           struct k8c_err **err)
{
    const char *cname = kjson_path_str(ref, "containerName");
    if (cname && *cname) {
        ctr = ctr_by_name(pod, cname);
        if (!ctr)
            return k8c_err_set(err, 0, K8C_REASON_INVALID, "container %s not found", cname), NULL;
    }
    if (!ctr)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "resourceFieldRef: containerName is required"),
               NULL;
    const char *res = kjson_path_str(ref, "resource") ?: "";
    bool cpu = strcmp(res, "limits.cpu") == 0 || strcmp(res, "requests.cpu") == 0;
    bool mem = strcmp(res, "limits.memory") == 0 || strcmp(res, "requests.memory") == 0;
    bool eph = strcmp(res, "limits.ephemeral-storage") == 0 ||
               strcmp(res, "requests.ephemeral-storage") == 0;
    if (!cpu && !mem && !eph)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "unsupported container resource: %s", res),
               NULL;
    bool limit = strncmp(res, "limits.", 7) == 0;
    const char *name = strchr(res, '.') + 1;
    /* cpu in milli-units, the rest in units */
    int64_t scale = cpu ? 1000 : 1;
    _cleanup_free_ char *lpath = xasprintf("resources.limits.%s", name);
    _cleanup_free_ char *rpath = xasprintf("resources.requests.%s", name);
    const char *q = kjson_path_str(ctr, limit ? lpath : rpath);
    if (!q && !limit) /* requests default to limits */
        q = kjson_path_str(ctr, lpath);
    int64_t v = 0;
    if (q) {
        if (agent_quantity(q, scale, &v) < 0)
            return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid quantity %s for %s", q, res),
                   NULL;
    } else if (limit) {
        v = eph ? 0 : node_allocatable(cpu);
    }
    int64_t div = 1 * scale;
    const char *d = kjson_path_str(ref, "divisor");
    if (d && (agent_quantity(d, scale, &div) < 0 || div <= 0))
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid divisor %s", d), NULL;
    /* Kubernetes rounds up: a 250m request with divisor 1 reads "1" */
    return xasprintf("%lld", (long long)ceil((double)v / (double)div));
}

/* ---- the container's environment ---- */

static char *key_ref(const struct agent_bundle_in *in, const json_t *ref, bool secret, bool *skip,
                     struct k8c_err **err)
{
    const char *ns = kjson_path_str(in->pod, "metadata.namespace");
    const char *name = kjson_path_str(ref, "name") ?: "";
    const char *key = kjson_path_str(ref, "key") ?: "";
    bool optional = json_is_true(json_object_get(ref, "optional"));
    _cleanup_err_ struct k8c_err *e = NULL;
    _cleanup_json_ json_t *data = agent_source_get(in->client, ns, name, secret, &e);
    if (!data) {
        if (optional && e->reason == K8C_REASON_NOT_FOUND) {
            *skip = true;
            return NULL;
        }
        k8c_err_set(err, e->errnum,
                    e->reason == K8C_REASON_NOT_FOUND ? K8C_REASON_INVALID : e->reason, "%s",
                    e->msg);
        return NULL;
    }
    const json_t *v = json_object_get(data, key);
    if (!json_is_string(v)) {
        if (optional) {
            *skip = true;
            return NULL;
        }
        k8c_err_set(err, 0, K8C_REASON_INVALID, "couldn't find key %s in %s %s/%s", key,
                    secret ? "Secret" : "ConfigMap", ns, name);
        return NULL;
    }
    return xstrdup(json_string_value(v));
}

static int env_from(const struct agent_bundle_in *in, json_t *vars, struct k8c_err **err)
{
    const char *ns = kjson_path_str(in->pod, "metadata.namespace");
    size_t i;
    json_t *src;
    json_array_foreach (json_object_get(in->container, "envFrom"), i, src) {
        const json_t *cm = json_object_get(src, "configMapRef");
        const json_t *sec = json_object_get(src, "secretRef");
        const json_t *ref = cm ? cm : sec;
        if (!ref)
            continue;
        const char *name = kjson_path_str(ref, "name") ?: "";
        _cleanup_err_ struct k8c_err *e = NULL;
        _cleanup_json_ json_t *data = agent_source_get(in->client, ns, name, sec != NULL, &e);
        if (!data) {
            if (json_is_true(json_object_get(ref, "optional")) && e->reason == K8C_REASON_NOT_FOUND)
                continue;
            return k8c_err_set(err, e->errnum,
                               e->reason == K8C_REASON_NOT_FOUND ? K8C_REASON_INVALID : e->reason,
                               "%s", e->msg);
        }
        const char *prefix = kjson_path_str(src, "prefix") ?: "";
        struct buf bad = BUF_INIT;
        const char *k;
        json_t *v;
        json_object_foreach (data, k, v) {
            _cleanup_free_ char *full = xasprintf("%s%s", prefix, k);
            if (!agent_env_name_valid(full)) {
                buf_appendf(&bad, "%s%s", bad.len ? " " : "", full);
                continue;
            }
            json_object_set(vars, full, v);
        }
        if (bad.len && in->warnings)
            /* kubelet's wording (InvalidEnvironmentVariableNames) */
            json_array_append_new(
                in->warnings,
                json_sprintf("Keys [%s] from the EnvFrom %s %s/%s were skipped since they are "
                             "considered invalid environment variable names.",
                             bad.data, sec ? "secret" : "configMap", ns, name));
        buf_free(&bad);
    }
    return 0;
}

int agent_env_resolve(const struct agent_bundle_in *in, json_t *vars, struct k8c_err **err)
{
    if (env_from(in, vars, err) < 0)
        return -1;
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(in->container, "env"), i, e) {
        const char *n = kjson_path_str(e, "name");
        if (!n)
            continue;
        const json_t *from = json_object_get(e, "valueFrom");
        _cleanup_free_ char *v = NULL;
        if (!from) {
            /* literal values see the variables defined before them */
            v = agent_expand(kjson_path_str(e, "value") ?: "", vars);
        } else if (json_object_get(from, "configMapKeyRef") ||
                   json_object_get(from, "secretKeyRef")) {
            const json_t *sk = json_object_get(from, "secretKeyRef");
            bool skip = false;
            v = key_ref(in, sk ? sk : json_object_get(from, "configMapKeyRef"), sk != NULL, &skip,
                        err);
            if (skip)
                continue;
        } else if (kjson_path_str(from, "fieldRef.fieldPath")) {
            v = agent_field_value(in->pod, kjson_path_str(from, "fieldRef.fieldPath"), in->host_ip,
                                  false, err);
        } else if (json_object_get(from, "resourceFieldRef")) {
            v = agent_resource_value(in->pod, in->container,
                                     json_object_get(from, "resourceFieldRef"), err);
        } else {
            v = xstrdup("");
        }
        if (!v)
            return -1;
        json_object_set_new(vars, n, json_string(v));
    }
    return 0;
}

json_t *agent_expand_array(const json_t *a, const json_t *vars)
{
    json_t *o = json_array();
    size_t i;
    json_t *v;
    json_array_foreach (a, i, v) {
        if (!json_is_string(v))
            continue;
        _cleanup_free_ char *s = agent_expand(json_string_value(v), vars);
        json_array_append_new(o, json_string(s));
    }
    return o;
}
