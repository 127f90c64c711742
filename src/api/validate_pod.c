/* PodSpec validation (pkg/apis/core/validation: ValidatePodSpec and friends) in Kubernetes'
 * wording: containers, ports, env, resources, volumes, probes' enums, and the pod update
 * rule. Shared by Pods and every PodTemplateSpec. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "base/mem.h"

static const char *const restart_policies[] = {"Always", "OnFailure", "Never", NULL};
static const char *const pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};
static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};
static const char *const dns_policies[] = {"ClusterFirstWithHostNet", "ClusterFirst", "Default",
                                           "None", NULL};
static const char *const message_policies[] = {"File", "FallbackToLogsOnError", NULL};

bool api__parse_quantity(const char *s, double *out)
{
    /* (+|-)?(digits(.digits?)?|.digits)(suffix)?  with suffix Ki..Ei | n u m k M G T P E |
     * e/E exponent */
    const char *p = s;
    double sign = 1;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    const char *num = p;
    bool digits = false;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    char digits_buf[64];
    size_t nd = (size_t)(p - num);
    if (nd >= sizeof(digits_buf))
        return false;
    memcpy(digits_buf, num, nd);
    digits_buf[nd] = '\0';
    double value = strtod(digits_buf, NULL);
    double mult = 1;
    static const struct {
        const char *suffix;
        double mult;
    } suffixes[] = {{"Ki", 1024.0},
                    {"Mi", 1048576.0},
                    {"Gi", 1073741824.0},
                    {"Ti", 1099511627776.0},
                    {"Pi", 1125899906842624.0},
                    {"Ei", 1152921504606846976.0},
                    {"n", 1e-9},
                    {"u", 1e-6},
                    {"m", 1e-3},
                    {"k", 1e3},
                    {"M", 1e6},
                    {"G", 1e9},
                    {"T", 1e12},
                    {"P", 1e15},
                    {"E", 1e18}};
    if (*p == 'e' || *p == 'E') {
        if (p[1] == '\0' && *p == 'E') {
            mult = 1e18;
            p++;
        } else {
            const char *q = p + 1;
            if (*q == '+' || *q == '-')
                q++;
            if (!isdigit((unsigned char)*q))
                return false;
            long e = strtol(p + 1, NULL, 10);
            while (isdigit((unsigned char)*q))
                q++;
            if (e > 300 || e < -300)
                return false;
            mult = pow(10, (double)e);
            p = q;
        }
    } else if (*p != '\0') {
        bool found = false;
        for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
            if (strcmp(p, suffixes[i].suffix) == 0) {
                mult = suffixes[i].mult;
                p += strlen(suffixes[i].suffix);
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    if (*p != '\0')
        return false;
    if (out != NULL)
        *out = sign * value * mult;
    return true;
}

#define QUANTITY_REGEX_MSG                                                                         \
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

static bool standard_container_resource(const char *name)
{
    if (strchr(name, '/') != NULL)
        return strncmp(name, "kubernetes.io/", 14) != 0 &&
               strncmp(name, "requests.", 9) != 0; /* extended resources: fully qualified */
    return strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0 ||
           strcmp(name, "ephemeral-storage") == 0 || strncmp(name, "hugepages-", 10) == 0;
}

static void validate_resources(struct api__verr *v, const json_t *res, const char *path)
{
    if (res == NULL || json_is_null(res))
        return;
    static const char *const lists[] = {"limits", "requests"};
    for (size_t l = 0; l < 2; l++) {
        json_t *m = json_object_get(res, lists[l]);
        const char *name;
        json_t *q;
        json_object_foreach (m, name, q) {
            _cleanup_free_ char *field = xasprintf("%s.%s[%s]", path, lists[l], name);
            if (!standard_container_resource(name)) {
                api__verr_invalid_str(v, field, name, "must be a standard resource for containers");
                continue;
            }
            double value = 0;
            const char *text = json_string_value(q);
            _cleanup_free_ char *num = NULL;
            if (json_is_integer(q))
                num = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(q));
            else if (json_is_real(q))
                num = xasprintf("%.17g", json_real_value(q));
            if (num != NULL)
                text = num;
            if (text == NULL || !api__parse_quantity(text, &value)) {
                api__verr_invalid(v, field, q, QUANTITY_REGEX_MSG);
                continue;
            }
            if (value < 0)
                api__verr_invalid(v, field, q, "must be greater than or equal to 0");
        }
    }
    /* requests <= limits */
    json_t *limits = json_object_get(res, "limits");
    const char *name;
    json_t *rq;
    json_object_foreach (json_object_get(res, "requests"), name, rq) {
        json_t *lq = json_object_get(limits, name);
        double r, l;
        const char *rs = json_string_value(rq), *ls = json_string_value(lq);
        if (rs == NULL || ls == NULL || !api__parse_quantity(rs, &r) ||
            !api__parse_quantity(ls, &l))
            continue;
        if (r > l) {
            _cleanup_free_ char *field = xasprintf("%s.requests", path);
            _cleanup_free_ char *detail =
                xasprintf("must be less than or equal to %s limit of %s", name, ls);
            api__verr_invalid_str(v, field, rs, detail);
        }
    }
}

static void check_port_number(struct api__verr *v, const json_t *port, const char *field,
                              bool required)
{
    if (port == NULL || json_is_null(port) ||
        (json_is_integer(port) && json_integer_value(port) == 0)) {
        if (required)
            api__verr_required(v, field, "");
        return;
    }
    if (!json_is_integer(port)) {
        api__verr_invalid(v, field, port, "must be an integer");
        return;
    }
    json_int_t n = json_integer_value(port);
    if (n < 1 || n > 65535)
        api__verr_invalid_int(v, field, n, "must be between 1 and 65535, inclusive");
}

/* IsValidPortName (IANA_SVC_NAME). */
static const char *port_name_error(const char *name)
{
    size_t n = strlen(name);
    if (n > 15)
        return "must be no more than 15 characters";
    bool letter = false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
        letter = letter || (c >= 'a' && c <= 'z');
    }
    if (strstr(name, "--") != NULL)
        return "must not contain consecutive hyphens";
    if (!letter)
        return "must contain at least one letter (a-z)";
    if (n > 0 && (name[0] == '-' || name[n - 1] == '-'))
        return "must not begin or end with a hyphen";
    return NULL;
}

static void validate_ports(struct api__verr *v, const json_t *ports, const char *path)
{
    size_t i;
    json_t *p;
    json_array_foreach (ports, i, p) {
        _cleanup_free_ char *pp = xasprintf("%s[%zu]", path, i);
        _cleanup_free_ char *cp = xasprintf("%s.containerPort", pp);
        check_port_number(v, json_object_get(p, "containerPort"), cp, true);
        json_t *hp = json_object_get(p, "hostPort");
        if (hp != NULL && !(json_is_integer(hp) && json_integer_value(hp) == 0)) {
            _cleanup_free_ char *f = xasprintf("%s.hostPort", pp);
            check_port_number(v, hp, f, false);
        }
        api__check_enum(v, p, "protocol", pp, protocols, false);
        const char *name = json_string_value(json_object_get(p, "name"));
        if (name != NULL && name[0] != '\0') {
            _cleanup_free_ char *f = xasprintf("%s.name", pp);
            const char *e = port_name_error(name);
            if (e != NULL)
                api__verr_invalid_str(v, f, name, e);
            for (size_t j = 0; j < i; j++) {
                const char *other =
                    json_string_value(json_object_get(json_array_get(ports, j), "name"));
                if (other != NULL && strcmp(other, name) == 0) {
                    api__verr_duplicate(v, f, json_object_get(p, "name"));
                    break;
                }
            }
        }
    }
}

static void validate_env(struct api__verr *v, const json_t *env, const char *path)
{
    size_t i;
    json_t *e;
    json_array_foreach (env, i, e) {
        _cleanup_free_ char *f = xasprintf("%s[%zu].name", path, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name == NULL || name[0] == '\0') {
            api__verr_required(v, f, "");
            continue;
        }
        char *m = api__check_c_identifier(name);
        if (m != NULL) {
            api__verr_invalid_str(v, f, name, m);
            free(m);
        }
    }
}

static void validate_probe(struct api__verr *v, const json_t *c, const char *key, const char *path)
{
    json_t *p = json_object_get(c, key);
    if (p == NULL || json_is_null(p))
        return;
    static const char *const fields[] = {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                                         "successThreshold", "failureThreshold"};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        json_t *n = json_object_get(p, fields[i]);
        if (json_is_integer(n) && json_integer_value(n) < 0) {
            _cleanup_free_ char *f = xasprintf("%s.%s.%s", path, key, fields[i]);
            api__verr_invalid_int(v, f, json_integer_value(n),
                                  "must be greater than or equal to 0");
        }
    }
    static const char *const handlers[] = {"exec", "httpGet", "tcpSocket", "grpc"};
    int count = 0;
    for (size_t i = 0; i < ARRAY_SIZE(handlers); i++)
        count += json_object_get(p, handlers[i]) != NULL;
    _cleanup_free_ char *pp = xasprintf("%s.%s", path, key);
    if (count == 0)
        api__verr_required(v, pp, "must specify a handler type");
    else if (count > 1)
        api__verr_forbidden(v, pp, "may not specify more than 1 handler type");
    json_t *http = json_object_get(p, "httpGet");
    if (http != NULL) {
        static const char *const schemes[] = {"HTTP", "HTTPS", NULL};
        _cleanup_free_ char *hp = xasprintf("%s.httpGet", pp);
        api__check_enum(v, http, "scheme", hp, schemes, false);
    }
}

static void validate_containers(struct api__verr *v, const json_t *list, const char *path,
                                const json_t *volumes, json_t *seen_names, bool required)
{
    if (list == NULL || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0)) {
        if (required)
            api__verr_required(v, path, "");
        return;
    }
    if (!json_is_array(list)) {
        api__verr_invalid(v, path, list, "must be a list of containers");
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach (list, i, c) {
        _cleanup_free_ char *cp = xasprintf("%s[%zu]", path, i);
        _cleanup_free_ char *np = xasprintf("%s.name", cp);
        json_t *jname = json_object_get(c, "name");
        const char *name = json_string_value(jname);
        if (name == NULL || name[0] == '\0') {
            api__verr_required(v, np, "");
        } else {
            char *m = api__check_dns1123_label(name);
            if (m != NULL) {
                char *save = NULL;
                for (char *t = strtok_r(m, ";", &save); t; t = strtok_r(NULL, ";", &save))
                    api__verr_invalid_str(v, np, name, t[0] == ' ' ? t + 1 : t);
                free(m);
            }
            if (json_object_get(seen_names, name) != NULL)
                api__verr_duplicate(v, np, jname);
            json_object_set_new(seen_names, name, json_true());
        }
        const char *image = json_string_value(json_object_get(c, "image"));
        if (image == NULL || image[0] == '\0') {
            _cleanup_free_ char *f = xasprintf("%s.image", cp);
            api__verr_required(v, f, "");
        } else if (image[0] == ' ' || image[strlen(image) - 1] == ' ') {
            _cleanup_free_ char *f = xasprintf("%s.image", cp);
            api__verr_invalid_str(v, f, image, "must not have leading or trailing whitespace");
        }
        api__check_enum(v, c, "imagePullPolicy", cp, pull_policies, false);
        api__check_enum(v, c, "terminationMessagePolicy", cp, message_policies, false);
        _cleanup_free_ char *pp = xasprintf("%s.ports", cp);
        validate_ports(v, json_object_get(c, "ports"), pp);
        _cleanup_free_ char *ep = xasprintf("%s.env", cp);
        validate_env(v, json_object_get(c, "env"), ep);
        _cleanup_free_ char *rp = xasprintf("%s.resources", cp);
        validate_resources(v, json_object_get(c, "resources"), rp);
        validate_probe(v, c, "livenessProbe", cp);
        validate_probe(v, c, "readinessProbe", cp);
        validate_probe(v, c, "startupProbe", cp);
        size_t j;
        json_t *vm;
        json_array_foreach (json_object_get(c, "volumeMounts"), j, vm) {
            _cleanup_free_ char *vp = xasprintf("%s.volumeMounts[%zu]", cp, j);
            json_t *vname = json_object_get(vm, "name");
            const char *vn = json_string_value(vname);
            _cleanup_free_ char *vnp = xasprintf("%s.name", vp);
            if (vn == NULL || vn[0] == '\0') {
                api__verr_required(v, vnp, "");
            } else {
                bool found = false;
                size_t k;
                json_t *vol;
                json_array_foreach (volumes, k, vol) {
                    const char *other = json_string_value(json_object_get(vol, "name"));
                    found = found || (other != NULL && strcmp(other, vn) == 0);
                }
                if (!found)
                    api__verr_not_found(v, vnp, vname);
            }
            if (json_string_length(json_object_get(vm, "mountPath")) == 0) {
                _cleanup_free_ char *mp = xasprintf("%s.mountPath", vp);
                api__verr_required(v, mp, "");
            }
        }
    }
}

static void validate_volumes(struct api__verr *v, const json_t *volumes, const char *path)
{
    size_t i;
    json_t *vol;
    json_array_foreach (volumes, i, vol) {
        _cleanup_free_ char *np = xasprintf("%s[%zu].name", path, i);
        json_t *jname = json_object_get(vol, "name");
        const char *name = json_string_value(jname);
        if (name == NULL || name[0] == '\0') {
            api__verr_required(v, np, "");
            continue;
        }
        char *m = api__check_dns1123_label(name);
        if (m != NULL) {
            api__verr_invalid_str(v, np, name, m);
            free(m);
        }
        for (size_t j = 0; j < i; j++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(volumes, j), "name"));
            if (other != NULL && strcmp(other, name) == 0) {
                api__verr_duplicate(v, np, jname);
                break;
            }
        }
    }
}

void api__validate_pod_spec(struct api__verr *v, const json_t *spec, const char *path,
                            const char *const *restart)
{
    if (!json_is_object(spec)) {
        _cleanup_free_ char *f = xasprintf("%s.containers", path);
        api__verr_required(v, f, "");
        return;
    }
    const json_t *volumes = json_object_get(spec, "volumes");
    _cleanup_free_ char *vp = xasprintf("%s.volumes", path);
    validate_volumes(v, volumes, vp);
    json_t *names = json_object();
    _cleanup_free_ char *cp = xasprintf("%s.containers", path);
    _cleanup_free_ char *ip = xasprintf("%s.initContainers", path);
    validate_containers(v, json_object_get(spec, "containers"), cp, volumes, names, true);
    validate_containers(v, json_object_get(spec, "initContainers"), ip, volumes, names, false);
    json_decref(names);
    if (restart != NULL) {
        json_t *rp = json_object_get(spec, "restartPolicy");
        _cleanup_free_ char *f = xasprintf("%s.restartPolicy", path);
        const char *s = json_string_value(rp);
        bool ok = false;
        for (size_t i = 0; s != NULL && restart[i] != NULL; i++)
            ok = ok || strcmp(s, restart[i]) == 0;
        if (!ok) {
            if (s == NULL || s[0] == '\0')
                api__verr_required(v, f, "");
            else
                api__verr_not_supported(v, f, rp, restart);
        }
    } else {
        api__check_enum(v, spec, "restartPolicy", path, restart_policies, false);
    }
    api__check_enum(v, spec, "dnsPolicy", path, dns_policies, false);
    json_t *ads = json_object_get(spec, "activeDeadlineSeconds");
    if (json_is_integer(ads) &&
        (json_integer_value(ads) < 1 || json_integer_value(ads) > 2147483647)) {
        _cleanup_free_ char *f = xasprintf("%s.activeDeadlineSeconds", path);
        api__verr_invalid_int(v, f, json_integer_value(ads),
                              "must be between 1 and 2147483647, inclusive");
    }
    json_t *tgp = json_object_get(spec, "terminationGracePeriodSeconds");
    if (tgp != NULL && !json_is_null(tgp) && !json_is_integer(tgp)) {
        _cleanup_free_ char *f = xasprintf("%s.terminationGracePeriodSeconds", path);
        api__verr_invalid(v, f, tgp, "must be an integer");
    }
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get(spec, "tolerations"), i, t) {
        static const char *const ops[] = {"Equal", "Exists", NULL};
        static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
        _cleanup_free_ char *tp = xasprintf("%s.tolerations[%zu]", path, i);
        api__check_enum(v, t, "operator", tp, ops, false);
        api__check_enum(v, t, "effect", tp, effects, false);
        const char *op = json_string_value(json_object_get(t, "operator"));
        if (op != NULL && strcmp(op, "Exists") == 0 &&
            json_string_length(json_object_get(t, "value")) > 0) {
            _cleanup_free_ char *f = xasprintf("%s.operator", tp);
            api__verr_invalid(v, f, json_object_get(t, "value"),
                              "value must be empty when `operator` is 'Exists'");
        }
    }
    const char *node = json_string_value(json_object_get(spec, "nodeName"));
    if (node != NULL && node[0] != '\0') {
        char *m = api__check_dns1123_subdomain(node);
        if (m != NULL) {
            _cleanup_free_ char *f = xasprintf("%s.nodeName", path);
            api__verr_invalid_str(v, f, node, m);
            free(m);
        }
    }
}

#define POD_UPDATE_MSG                                                                             \
    "pod updates may not change fields other than `spec.containers[*].image`,"                     \
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "        \
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set " \
    "to 1 if it was previously negative)"

void api__validate_pod_update(struct api__verr *v, const json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *old_spec = json_object_get(old, "spec");
    if (!json_is_object(spec) || !json_is_object(old_spec))
        return;
    /* Copy the mutable parts of the new spec onto the old and compare. */
    json_t *merged = json_deep_copy(old_spec);
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        json_t *nl = json_object_get(spec, lists[l]);
        json_t *ol = json_object_get(merged, lists[l]);
        if (json_array_size(nl) != json_array_size(ol))
            continue;
        for (size_t i = 0; i < json_array_size(ol); i++) {
            json_t *img = json_object_get(json_array_get(nl, i), "image");
            if (img != NULL && json_is_object(json_array_get(ol, i)))
                json_object_set(json_array_get(ol, i), "image", img);
        }
    }
    static const char *const mutable_keys[] = {"activeDeadlineSeconds", "tolerations",
                                               "schedulingGates"};
    for (size_t i = 0; i < ARRAY_SIZE(mutable_keys); i++) {
        json_t *x = json_object_get(spec, mutable_keys[i]);
        if (x != NULL)
            json_object_set(merged, mutable_keys[i], x);
        else
            json_object_del(merged, mutable_keys[i]);
    }
    json_t *tgp_old = json_object_get(old_spec, "terminationGracePeriodSeconds");
    if (json_is_integer(tgp_old) && json_integer_value(tgp_old) < 0)
        json_object_set(merged, "terminationGracePeriodSeconds",
                        json_object_get(spec, "terminationGracePeriodSeconds"));
    if (!json_equal(merged, spec))
        api__verr_forbidden(v, "spec", POD_UPDATE_MSG);
    json_decref(merged);

    /* Tolerations: additions only. */
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get(old_spec, "tolerations"), i, t) {
        bool kept = false;
        size_t j;
        json_t *u;
        json_array_foreach (json_object_get(spec, "tolerations"), j, u)
            kept = kept || json_equal(t, u);
        if (!kept) {
            api__verr_forbidden(
                v, "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds");
            break;
        }
    }
    /* activeDeadlineSeconds: may be set or lowered, never removed or raised. */
    json_t *a = json_object_get(spec, "activeDeadlineSeconds");
    json_t *b = json_object_get(old_spec, "activeDeadlineSeconds");
    if (json_is_integer(b)) {
        if (!json_is_integer(a))
            api__verr_invalid(v, "spec.activeDeadlineSeconds", a ? a : json_null(),
                              "must not update from a positive integer to nil value");
        else if (json_integer_value(a) > json_integer_value(b))
            api__verr_invalid_int(v, "spec.activeDeadlineSeconds", json_integer_value(a),
                                  "must be less than or equal to previous value");
    }
}
