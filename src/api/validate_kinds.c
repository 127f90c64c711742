/* Kind-specific validation (pkg/apis/{core,apps,batch,...}/validation) in Kubernetes'
 * wording: workloads (selectors, templates, strategies, immutable selectors), Services,
 * ConfigMaps and Secrets (keys, sizes, immutability), Namespaces, RBAC, HPA, PriorityClass,
 * CronJob schedules. */
#include <string.h>

#include "api/internal.h"
#include "api/meta.h"
#include "api/selector.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"

#define CONFIG_MAP_MAX_SIZE (1024 * 1024)

static const char *const only_always[] = {"Always", NULL};
static const char *const job_restart[] = {"OnFailure", "Never", NULL};

static bool is_kind(const struct api_kind *k, const char *group, const char *kind)
{
    return strcmp(k->group, group) == 0 && strcmp(k->kind, kind) == 0;
}

static void non_negative(struct api__verr *v, const json_t *obj, const char *key, const char *path)
{
    json_t *n = json_object_get(obj, key);
    _cleanup_free_ char *f = xasprintf("%s.%s", path, key);
    if (n != NULL && !json_is_null(n) && !json_is_integer(n))
        api__verr_invalid(v, f, n, "must be an integer");
    else if (json_is_integer(n) && json_integer_value(n) < 0)
        api__verr_invalid_int(v, f, json_integer_value(n), "must be greater than or equal to 0");
}

/* selector required (and non-empty when required_nonempty), template labels matching it,
 * the template's pod spec. */
static void validate_selector_and_template(struct api__verr *v, const json_t *spec,
                                           const char *path, const char *const *restart,
                                           bool template_required, const char *empty_msg)
{
    json_t *sel = json_object_get(spec, "selector");
    _cleanup_free_ char *sp = xasprintf("%s.selector", path);
    struct api_label_selector *ls = NULL;
    if (sel == NULL || json_is_null(sel)) {
        api__verr_required(v, sp, "");
    } else {
        _cleanup_err_ struct k8c_err *err = NULL;
        ls = api_label_selector_from_json(sel, &err);
        if (ls == NULL)
            api__verr_invalid(v, sp, sel, err->msg);
        else if (empty_msg != NULL && api_label_selector_empty(ls))
            api__verr_invalid(v, sp, sel, empty_msg);
        json_t *ml = json_object_get(sel, "matchLabels");
        _cleanup_free_ char *mlp = xasprintf("%s.matchLabels", sp);
        if (json_is_object(ml))
            api__validate_labels(v, ml, mlp);
    }
    json_t *tmpl = json_object_get(spec, "template");
    _cleanup_free_ char *tp = xasprintf("%s.template", path);
    if (!json_is_object(tmpl)) {
        if (template_required) {
            _cleanup_free_ char *cp = xasprintf("%s.spec.containers", tp);
            api__verr_required(v, cp, "");
        }
        api_label_selector_free(ls);
        return;
    }
    json_t *labels = kjson_path(tmpl, "metadata.labels");
    _cleanup_free_ char *lp = xasprintf("%s.metadata.labels", tp);
    api__validate_labels(v, labels, lp);
    _cleanup_free_ char *ap = xasprintf("%s.metadata.annotations", tp);
    api__validate_annotations(v, kjson_path(tmpl, "metadata.annotations"), ap);
    if (ls != NULL && !api_label_selector_empty(ls) && !api_label_selector_match(ls, labels)) {
        json_t *shown = labels ? json_incref(labels) : json_object();
        api__verr_invalid(v, lp, shown, "`selector` does not match template `labels`");
        json_decref(shown);
    }
    api_label_selector_free(ls);
    _cleanup_free_ char *psp = xasprintf("%s.spec", tp);
    api__validate_pod_spec(v, json_object_get(tmpl, "spec"), psp, restart);
}

static void immutable_field(struct api__verr *v, const json_t *obj, const json_t *old,
                            const char *path)
{
    json_t *a = kjson_path(obj, path);
    json_t *b = kjson_path(old, path);
    if (a == NULL && b == NULL)
        return;
    if (a == NULL || b == NULL || !json_equal(a, b))
        api__verr_invalid(v, path, a ? a : json_null(), "field is immutable");
}

/* IsValidPercent or an integer for maxSurge/maxUnavailable. Returns the value (percent or
 * count) or -1 when invalid (reported). */
static long long int_or_percent(struct api__verr *v, const json_t *x, const char *field)
{
    if (x == NULL || json_is_null(x))
        return -2;
    if (json_is_integer(x)) {
        if (json_integer_value(x) < 0) {
            api__verr_invalid_int(v, field, json_integer_value(x),
                                  "must be greater than or equal to 0");
            return -1;
        }
        return json_integer_value(x);
    }
    const char *s = json_string_value(x);
    size_t n = s ? strlen(s) : 0;
    bool ok = n >= 2 && s[n - 1] == '%';
    for (size_t i = 0; ok && i + 1 < n; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok) {
        api__verr_invalid(v, field, x,
                          "a valid percent string must be a numeric string followed by an ending "
                          "'%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
        return -1;
    }
    long long pct = strtoll(s, NULL, 10);
    if (pct > 100) {
        api__verr_invalid(v, field, x, "must not be greater than 100%");
        return -1;
    }
    return pct;
}

static void validate_deployment(struct api__verr *v, const json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        api__verr_required(v, "spec.selector", "");
        return;
    }
    non_negative(v, spec, "replicas", "spec");
    non_negative(v, spec, "revisionHistoryLimit", "spec");
    non_negative(v, spec, "minReadySeconds", "spec");
    validate_selector_and_template(v, spec, "spec", only_always, true,
                                   "empty selector is invalid for deployment");
    json_t *strategy = json_object_get(spec, "strategy");
    static const char *const types[] = {"Recreate", "RollingUpdate", NULL};
    api__check_enum(v, strategy, "type", "spec.strategy", types, false);
    const char *type = json_string_value(json_object_get(strategy, "type"));
    json_t *ru = json_object_get(strategy, "rollingUpdate");
    if (type != NULL && strcmp(type, "Recreate") == 0 && ru != NULL && !json_is_null(ru))
        api__verr_forbidden(v, "spec.strategy.rollingUpdate",
                            "may not be specified when strategy `type` is 'Recreate'");
    if (type != NULL && strcmp(type, "RollingUpdate") == 0 && json_is_object(ru)) {
        long long mu = int_or_percent(v, json_object_get(ru, "maxUnavailable"),
                                      "spec.strategy.rollingUpdate.maxUnavailable");
        long long ms = int_or_percent(v, json_object_get(ru, "maxSurge"),
                                      "spec.strategy.rollingUpdate.maxSurge");
        if (mu == 0 && ms == 0)
            api__verr_invalid(v, "spec.strategy.rollingUpdate.maxUnavailable",
                              json_object_get(ru, "maxUnavailable"),
                              "may not be 0 when `maxSurge` is 0");
    }
    json_t *pds = json_object_get(spec, "progressDeadlineSeconds");
    json_t *mrs = json_object_get(spec, "minReadySeconds");
    if (json_is_integer(pds)) {
        if (json_integer_value(pds) < 0)
            api__verr_invalid_int(v, "spec.progressDeadlineSeconds", json_integer_value(pds),
                                  "must be greater than or equal to 0");
        else if (json_integer_value(pds) <= json_integer_value(mrs))
            api__verr_invalid_int(v, "spec.progressDeadlineSeconds", json_integer_value(pds),
                                  "must be greater than minReadySeconds");
    }
    if (old != NULL)
        immutable_field(v, obj, old, "spec.selector");
}

static void validate_replicaset(struct api__verr *v, const json_t *obj, const json_t *old,
                                const char *kind_word)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        api__verr_required(v, "spec.selector", "");
        return;
    }
    non_negative(v, spec, "replicas", "spec");
    non_negative(v, spec, "minReadySeconds", "spec");
    _cleanup_free_ char *empty = xasprintf("empty selector is invalid for %s", kind_word);
    validate_selector_and_template(v, spec, "spec", only_always, true, empty);
    if (old != NULL)
        immutable_field(v, obj, old, "spec.selector");
}

static void validate_statefulset(struct api__verr *v, const json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        api__verr_required(v, "spec.selector", "");
        return;
    }
    non_negative(v, spec, "replicas", "spec");
    static const char *const pmp[] = {"OrderedReady", "Parallel", NULL};
    api__check_enum(v, spec, "podManagementPolicy", "spec", pmp, false);
    static const char *const types[] = {"RollingUpdate", "OnDelete", NULL};
    api__check_enum(v, json_object_get(spec, "updateStrategy"), "type", "spec.updateStrategy",
                    types, false);
    validate_selector_and_template(v, spec, "spec", only_always, true,
                                   "empty selector is invalid for statefulset");
    if (old != NULL) {
        /* Only replicas, ordinals, template, updateStrategy, the PVC retention policy and
         * minReadySeconds may change. */
        json_t *a = json_deep_copy(json_object_get(obj, "spec"));
        json_t *b = json_deep_copy(json_object_get(old, "spec"));
        static const char *const mutable_keys[] = {"replicas",
                                                   "ordinals",
                                                   "template",
                                                   "updateStrategy",
                                                   "persistentVolumeClaimRetentionPolicy",
                                                   "minReadySeconds",
                                                   "revisionHistoryLimit"};
        for (size_t i = 0; i < ARRAY_SIZE(mutable_keys); i++) {
            json_object_del(a, mutable_keys[i]);
            json_object_del(b, mutable_keys[i]);
        }
        if (!json_equal(a, b))
            api__verr_forbidden(v, "spec",
                                "updates to statefulset spec for fields other than 'replicas', "
                                "'ordinals', 'template', 'updateStrategy', "
                                "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                                "are forbidden");
        json_decref(a);
        json_decref(b);
    }
}

static void validate_daemonset(struct api__verr *v, const json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        api__verr_required(v, "spec.selector", "");
        return;
    }
    static const char *const types[] = {"RollingUpdate", "OnDelete", NULL};
    api__check_enum(v, json_object_get(spec, "updateStrategy"), "type", "spec.updateStrategy",
                    types, false);
    validate_selector_and_template(v, spec, "spec", only_always, true,
                                   "empty selector is invalid for daemonset");
    if (old != NULL)
        immutable_field(v, obj, old, "spec.selector");
}

static void validate_job_spec(struct api__verr *v, const json_t *spec, const char *path,
                              bool has_selector)
{
    non_negative(v, spec, "parallelism", path);
    non_negative(v, spec, "completions", path);
    non_negative(v, spec, "backoffLimit", path);
    json_t *ads = json_object_get(spec, "activeDeadlineSeconds");
    if (json_is_integer(ads) && json_integer_value(ads) <= 0) {
        _cleanup_free_ char *f = xasprintf("%s.activeDeadlineSeconds", path);
        api__verr_invalid_int(v, f, json_integer_value(ads), "must be greater than 0");
    }
    static const char *const modes[] = {"NonIndexed", "Indexed", NULL};
    api__check_enum(v, spec, "completionMode", path, modes, false);
    if (has_selector) {
        validate_selector_and_template(v, spec, path, job_restart, true, NULL);
    } else {
        json_t *tmpl = json_object_get(spec, "template");
        _cleanup_free_ char *tp = xasprintf("%s.template.spec", path);
        api__validate_pod_spec(v, json_object_get(tmpl, "spec"), tp, job_restart);
    }
}

static void validate_job(struct api__verr *v, const json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        api__verr_required(v, "spec.template.spec.containers", "");
        return;
    }
    validate_job_spec(v, spec, "spec", true);
    if (old != NULL) {
        immutable_field(v, obj, old, "spec.selector");
        immutable_field(v, obj, old, "spec.completions");
        immutable_field(v, obj, old, "spec.completionMode");
        /* The template may change only while the job is suspended (Kubernetes allows a few
         * scheduling directives then); otherwise it is immutable. */
        if (!json_is_true(kjson_path(old, "spec.suspend")))
            immutable_field(v, obj, old, "spec.template");
    }
}

/* One cron field: '*', numbers, names, ranges, steps, lists. */
static bool cron_field_ok(const char *f, int lo, int hi, bool names)
{
    if (f[0] == '\0')
        return false;
    _cleanup_free_ char *copy = xstrdup(f);
    char *save = NULL;
    for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char *step = strchr(part, '/');
        if (step != NULL) {
            *step++ = '\0';
            char *end;
            long s = strtol(step, &end, 10);
            if (*step == '\0' || *end != '\0' || s <= 0)
                return false;
        }
        if (strcmp(part, "*") == 0 || strcmp(part, "?") == 0)
            continue;
        char *dash = strchr(part, '-');
        char *ends[2] = {part, dash ? dash + 1 : NULL};
        if (dash)
            *dash = '\0';
        for (int e = 0; e < 2 && ends[e]; e++) {
            char *end;
            long n = strtol(ends[e], &end, 10);
            if (ends[e][0] != '\0' && *end == '\0') {
                if (n < lo || n > hi)
                    return false;
            } else if (!(names && strlen(ends[e]) == 3)) {
                return false;
            }
        }
    }
    return true;
}

static void validate_schedule(struct api__verr *v, const json_t *spec)
{
    json_t *js = json_object_get(spec, "schedule");
    const char *s = json_string_value(js);
    if (s == NULL || s[0] == '\0') {
        api__verr_required(v, "spec.schedule", "");
        return;
    }
    if (s[0] == '@') {
        static const char *const macros[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                             "@daily",  "@midnight", "@hourly"};
        for (size_t i = 0; i < ARRAY_SIZE(macros); i++)
            if (strcmp(s, macros[i]) == 0)
                return;
        if (strncmp(s, "@every ", 7) == 0)
            return;
        _cleanup_free_ char *d = xasprintf("unrecognized descriptor: %s", s);
        api__verr_invalid_str(v, "spec.schedule", s, d);
        return;
    }
    const char *text = s;
    if (strncmp(s, "TZ=", 3) == 0 || strncmp(s, "CRON_TZ=", 8) == 0) {
        api__verr_invalid_str(v, "spec.schedule", s,
                              "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
        return;
    }
    _cleanup_free_ char *copy = xstrdup(text);
    char *fields[6];
    int n = 0;
    char *save = NULL;
    for (char *f = strtok_r(copy, " \t", &save); f && n < 6; f = strtok_r(NULL, " \t", &save))
        fields[n++] = f;
    if (n != 5) {
        int count = 0;
        _cleanup_free_ char *c2 = xstrdup(text);
        char *s2 = NULL;
        for (char *f = strtok_r(c2, " \t", &s2); f; f = strtok_r(NULL, " \t", &s2))
            count++;
        _cleanup_free_ char *d = xasprintf("expected exactly 5 fields, found %d: %s", count, s);
        api__verr_invalid_str(v, "spec.schedule", s, d);
        return;
    }
    static const int ranges[5][2] = {{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}};
    for (int i = 0; i < 5; i++) {
        if (!cron_field_ok(fields[i], ranges[i][0], ranges[i][1], i >= 3)) {
            _cleanup_free_ char *d = xasprintf("failed to parse field: %s", fields[i]);
            api__verr_invalid_str(v, "spec.schedule", s, d);
            return;
        }
    }
}

static void validate_cronjob(struct api__verr *v, const json_t *obj)
{
    const char *name = json_string_value(kjson_path(obj, "metadata.name"));
    if (name != NULL && strlen(name) > 52)
        api__verr_invalid_str(v, "metadata.name", name, "must be no more than 52 characters");
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        api__verr_required(v, "spec.schedule", "");
        return;
    }
    validate_schedule(v, spec);
    static const char *const policies[] = {"Allow", "Forbid", "Replace", NULL};
    api__check_enum(v, spec, "concurrencyPolicy", "spec", policies, false);
    non_negative(v, spec, "startingDeadlineSeconds", "spec");
    non_negative(v, spec, "successfulJobsHistoryLimit", "spec");
    non_negative(v, spec, "failedJobsHistoryLimit", "spec");
    json_t *jt = json_object_get(spec, "jobTemplate");
    json_t *js = json_object_get(jt, "spec");
    if (!json_is_object(js)) {
        api__verr_required(v, "spec.jobTemplate.spec.template.spec.containers", "");
        return;
    }
    api__validate_labels(v, kjson_path(jt, "metadata.labels"), "spec.jobTemplate.metadata.labels");
    validate_job_spec(v, js, "spec.jobTemplate.spec", false);
}

static void validate_service(struct api__verr *v, const json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        api__verr_required(v, "spec.ports", "");
        return;
    }
    static const char *const types[] = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort",
                                        NULL};
    api__check_enum(v, spec, "type", "spec", types, false);
    static const char *const affinities[] = {"ClientIP", "None", NULL};
    api__check_enum(v, spec, "sessionAffinity", "spec", affinities, false);
    static const char *const policies[] = {"Cluster", "Local", NULL};
    api__check_enum(v, spec, "internalTrafficPolicy", "spec", policies, false);
    api__check_enum(v, spec, "externalTrafficPolicy", "spec", policies, false);
    const char *type = json_string_value(json_object_get(spec, "type"));
    bool external_name = type != NULL && strcmp(type, "ExternalName") == 0;
    const char *cip = json_string_value(json_object_get(spec, "clusterIP"));
    bool headless = cip != NULL && strcmp(cip, "None") == 0;
    if (external_name) {
        const char *en = json_string_value(json_object_get(spec, "externalName"));
        if (en == NULL || en[0] == '\0')
            api__verr_required(v, "spec.externalName", "");
    }
    json_t *ports = json_object_get(spec, "ports");
    if (json_array_size(ports) == 0 && !headless && !external_name)
        api__verr_required(v, "spec.ports", "");
    size_t i;
    json_t *p;
    static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};
    json_array_foreach (ports, i, p) {
        _cleanup_free_ char *pp = xasprintf("spec.ports[%zu]", i);
        _cleanup_free_ char *np = xasprintf("%s.name", pp);
        json_t *jname = json_object_get(p, "name");
        const char *name = json_string_value(jname);
        if (json_array_size(ports) > 1 && (name == NULL || name[0] == '\0')) {
            api__verr_required(v, np, "");
        } else if (name != NULL && name[0] != '\0') {
            char *m = api__check_dns1123_label(name);
            if (m != NULL) {
                api__verr_invalid_str(v, np, name, m);
                free(m);
            }
            for (size_t j = 0; j < i; j++) {
                const char *o =
                    json_string_value(json_object_get(json_array_get(ports, j), "name"));
                if (o != NULL && strcmp(o, name) == 0) {
                    api__verr_duplicate(v, np, jname);
                    break;
                }
            }
        }
        json_t *port = json_object_get(p, "port");
        _cleanup_free_ char *portp = xasprintf("%s.port", pp);
        if (port != NULL && !json_is_integer(port))
            api__verr_invalid(v, portp, port, "must be an integer");
        else if (json_integer_value(port) < 1 || json_integer_value(port) > 65535)
            api__verr_invalid_int(v, portp, json_integer_value(port),
                                  "must be between 1 and 65535, inclusive");
        api__check_enum(v, p, "protocol", pp, protocols, false);
        json_t *tp = json_object_get(p, "targetPort");
        _cleanup_free_ char *tpp = xasprintf("%s.targetPort", pp);
        if (json_is_integer(tp) && (json_integer_value(tp) < 1 || json_integer_value(tp) > 65535))
            api__verr_invalid_int(v, tpp, json_integer_value(tp),
                                  "must be between 1 and 65535, inclusive");
        json_t *node_port = json_object_get(p, "nodePort");
        if (json_is_integer(node_port) && json_integer_value(node_port) != 0) {
            _cleanup_free_ char *npp = xasprintf("%s.nodePort", pp);
            if (type == NULL || strcmp(type, "ClusterIP") == 0)
                api__verr_forbidden(v, npp, "may not be used when `type` is 'ClusterIP'");
        }
    }
    api__validate_labels(v, json_object_get(spec, "selector"), "spec.selector");
    if (old != NULL) {
        const char *old_cip = json_string_value(kjson_path(old, "spec.clusterIP"));
        const char *old_type = json_string_value(kjson_path(old, "spec.type"));
        bool was_external = old_type != NULL && strcmp(old_type, "ExternalName") == 0;
        if (!was_external && !external_name && old_cip != NULL && old_cip[0] != '\0' &&
            (cip == NULL || strcmp(cip, old_cip) != 0))
            api__verr_invalid_str(v, "spec.clusterIP", cip ? cip : "", "field is immutable");
    }
}

/* ConfigMap and Secret keys: [-._a-zA-Z0-9]+, not "." or "..", no "..*" prefix. */
static const char *config_key_error(const char *key)
{
    size_t n = strlen(key);
    if (n > 253)
        return "must be no more than 253 characters";
    bool ok = n > 0;
    for (size_t i = 0; ok && i < n; i++) {
        char c = key[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.' || c == '_';
    }
    if (!ok)
        return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
               "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
               "'[-._a-zA-Z0-9]+')";
    if (strcmp(key, ".") == 0)
        return "must not be '.'";
    if (strcmp(key, "..") == 0)
        return "must not be '..'";
    if (strncmp(key, "..", 2) == 0)
        return "must not start with '..'";
    return NULL;
}

static bool is_base64(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return pad <= 2;
}

static void validate_config_data(struct api__verr *v, const json_t *obj, const char *a,
                                 const char *b, bool base64_values, const char *size_field)
{
    size_t total = 0;
    const char *maps[] = {a, b};
    for (int m = 0; m < 2 && maps[m]; m++) {
        json_t *data = json_object_get(obj, maps[m]);
        if (data != NULL && !json_is_null(data) && !json_is_object(data)) {
            api__verr_invalid(v, maps[m], data, "must be a map of strings");
            continue;
        }
        const char *key;
        json_t *val;
        json_object_foreach (data, key, val) {
            _cleanup_free_ char *f = xasprintf("%s[%s]", maps[m], key);
            const char *e = config_key_error(key);
            if (e != NULL)
                api__verr_invalid_str(v, f, key, e);
            if (!json_is_string(val)) {
                api__verr_invalid(v, f, val, "must be a string");
                continue;
            }
            if ((base64_values || m == 1) && !is_base64(json_string_value(val)))
                api__verr_invalid(v, f, val, "illegal base64 data");
            if (m == 1 && json_object_get(json_object_get(obj, a), key) != NULL)
                api__verr_invalid_str(v, f, key, "duplicate of key present in data");
            total += json_string_length(val) + strlen(key);
        }
    }
    if (total > CONFIG_MAP_MAX_SIZE)
        api__verr_too_long(v, size_field, CONFIG_MAP_MAX_SIZE);
}

static void validate_immutable_data(struct api__verr *v, const json_t *obj, const json_t *old,
                                    const char *const *fields)
{
    if (!json_is_true(json_object_get(old, "immutable")))
        return;
    for (size_t i = 0; fields[i] != NULL; i++) {
        json_t *a = json_object_get(obj, fields[i]);
        json_t *b = json_object_get(old, fields[i]);
        bool a_empty = a == NULL || json_is_null(a) || json_object_size(a) == 0;
        bool b_empty = b == NULL || json_is_null(b) || json_object_size(b) == 0;
        if (!(a_empty && b_empty) && !json_equal(a, b))
            api__verr_forbidden(v, fields[i], "field is immutable when `immutable` is set");
    }
    if (!json_is_true(json_object_get(obj, "immutable")))
        api__verr_forbidden(v, "immutable", "field is immutable when `immutable` is set");
}

static void validate_secret(struct api__verr *v, const json_t *obj, const json_t *old)
{
    validate_config_data(v, obj, "data", NULL, true, "data");
    json_t *sd = json_object_get(obj, "stringData");
    const char *key;
    json_t *val;
    json_object_foreach (sd, key, val) {
        _cleanup_free_ char *f = xasprintf("stringData[%s]", key);
        const char *e = config_key_error(key);
        if (e != NULL)
            api__verr_invalid_str(v, f, key, e);
    }
    const char *type = json_string_value(json_object_get(obj, "type"));
    json_t *data = json_object_get(obj, "data");
    if (type != NULL && strcmp(type, "kubernetes.io/tls") == 0) {
        if (json_object_get(data, "tls.crt") == NULL && json_object_get(sd, "tls.crt") == NULL)
            api__verr_required(v, "data[tls.crt]", "");
        if (json_object_get(data, "tls.key") == NULL && json_object_get(sd, "tls.key") == NULL)
            api__verr_required(v, "data[tls.key]", "");
    } else if (type != NULL && strcmp(type, "kubernetes.io/dockerconfigjson") == 0) {
        if (json_object_get(data, ".dockerconfigjson") == NULL &&
            json_object_get(sd, ".dockerconfigjson") == NULL)
            api__verr_required(v, "data[.dockerconfigjson]", "");
    } else if (type != NULL && strcmp(type, "kubernetes.io/service-account-token") == 0) {
        if (json_string_length(json_object_get(kjson_path(obj, "metadata.annotations"),
                                               "kubernetes.io/service-account.name")) == 0)
            api__verr_required(v, "metadata.annotations[kubernetes.io/service-account.name]", "");
    }
    if (old != NULL) {
        static const char *const fields[] = {"data", NULL};
        validate_immutable_data(v, obj, old, fields);
        const char *old_type = json_string_value(json_object_get(old, "type"));
        if (old_type != NULL && type != NULL && strcmp(old_type, type) != 0)
            api__verr_invalid_str(v, "type", type, "field is immutable");
    }
}

static void validate_rbac(struct api__verr *v, const struct api_kind *k, const json_t *obj,
                          const json_t *old)
{
    if (strcmp(k->kind, "Role") == 0 || strcmp(k->kind, "ClusterRole") == 0) {
        size_t i;
        json_t *r;
        json_array_foreach (json_object_get(obj, "rules"), i, r) {
            _cleanup_free_ char *rp = xasprintf("rules[%zu]", i);
            if (json_array_size(json_object_get(r, "verbs")) == 0) {
                _cleanup_free_ char *f = xasprintf("%s.verbs", rp);
                api__verr_required(v, f, "verbs must contain at least one value");
            }
            bool has_urls = json_array_size(json_object_get(r, "nonResourceURLs")) > 0;
            bool has_resources = json_array_size(json_object_get(r, "resources")) > 0;
            if (has_urls && strcmp(k->kind, "Role") == 0) {
                _cleanup_free_ char *f = xasprintf("%s.nonResourceURLs", rp);
                api__verr_invalid(v, f, json_object_get(r, "nonResourceURLs"),
                                  "namespaced rules cannot apply to non-resource URLs");
            }
            if (!has_urls && json_object_get(r, "apiGroups") == NULL && has_resources) {
                _cleanup_free_ char *f = xasprintf("%s.apiGroups", rp);
                api__verr_required(v, f, "resource rules must supply at least one api group");
            }
        }
        return;
    }
    /* RoleBinding, ClusterRoleBinding */
    json_t *ref = json_object_get(obj, "roleRef");
    bool cluster = strcmp(k->kind, "ClusterRoleBinding") == 0;
    static const char *const ns_kinds[] = {"Role", "ClusterRole", NULL};
    static const char *const cluster_kinds[] = {"ClusterRole", NULL};
    api__check_enum(v, ref, "kind", "roleRef", cluster ? cluster_kinds : ns_kinds, true);
    if (json_string_length(json_object_get(ref, "name")) == 0)
        api__verr_required(v, "roleRef.name", "");
    static const char *const groups[] = {"rbac.authorization.k8s.io", NULL};
    api__check_enum(v, ref, "apiGroup", "roleRef", groups, false);
    size_t i;
    json_t *s;
    static const char *const subject_kinds[] = {"ServiceAccount", "User", "Group", NULL};
    json_array_foreach (json_object_get(obj, "subjects"), i, s) {
        _cleanup_free_ char *sp = xasprintf("subjects[%zu]", i);
        api__check_enum(v, s, "kind", sp, subject_kinds, true);
        if (json_string_length(json_object_get(s, "name")) == 0) {
            _cleanup_free_ char *f = xasprintf("%s.name", sp);
            api__verr_required(v, f, "");
        }
    }
    if (old != NULL && !json_equal(ref, json_object_get(old, "roleRef")))
        api__verr_invalid(v, "roleRef", ref ? ref : json_null(), "cannot change roleRef");
}

static void validate_hpa(struct api__verr *v, const json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *ref = json_object_get(spec, "scaleTargetRef");
    if (json_string_length(json_object_get(ref, "kind")) == 0)
        api__verr_required(v, "spec.scaleTargetRef.kind", "");
    if (json_string_length(json_object_get(ref, "name")) == 0)
        api__verr_required(v, "spec.scaleTargetRef.name", "");
    json_t *max = json_object_get(spec, "maxReplicas");
    json_t *min = json_object_get(spec, "minReplicas");
    if (max != NULL && !json_is_integer(max))
        api__verr_invalid(v, "spec.maxReplicas", max, "must be an integer");
    else if (json_integer_value(max) < 1)
        api__verr_invalid_int(v, "spec.maxReplicas", json_integer_value(max),
                              "must be greater than or equal to 1");
    else if (json_is_integer(min) && json_integer_value(min) > json_integer_value(max))
        api__verr_invalid_int(v, "spec.minReplicas", json_integer_value(min),
                              "must be less than or equal to maxReplicas");
}

/* ValidateEventCreate: the legacy rules for core/v1 writes; events.k8s.io/v1 writes must also
 * carry eventTime, a Normal/Warning type, reportingController/Instance, action and reason.
 * ev is in core/v1 shape (events.k8s.io objects are converted first). */
static void validate_event(struct api__verr *v, const json_t *ev, bool strict)
{
    const char *ns = json_string_value(kjson_path(ev, "metadata.namespace"));
    const char *ins = json_string_value(kjson_path(ev, "involvedObject.namespace"));
    bool has_time = json_string_length(json_object_get(ev, "eventTime")) > 0;
    ns = ns ? ns : "";
    ins = ins ? ins : "";
    if (!has_time) {
        if (ins[0] == '\0' ? (ns[0] != '\0' && strcmp(ns, "default") != 0) : strcmp(ns, ins) != 0)
            api__verr_invalid_str(v, "involvedObject.namespace", ins,
                                  "does not match event.namespace");
    } else if (ins[0] == '\0' && strcmp(ns, "default") != 0 && strcmp(ns, "kube-system") != 0) {
        api__verr_invalid_str(v, "involvedObject.namespace", ins, "does not match event.namespace");
    }
    if (has_time || strict) {
        const char *rc_field = strict ? "reportingController" : "reportingComponent";
        const char *rc = json_string_value(json_object_get(ev, "reportingComponent"));
        if (rc == NULL || rc[0] == '\0') {
            api__verr_required(v, rc_field, "");
        } else {
            char *m = api__check_qualified_name(rc);
            if (m != NULL) {
                api__verr_invalid_str(v, rc_field, rc, m);
                free(m);
            }
        }
        static const char *const required[] = {"reportingInstance", "action", "reason"};
        for (size_t i = 0; i < ARRAY_SIZE(required); i++)
            if (json_string_length(json_object_get(ev, required[i])) == 0)
                api__verr_required(v, required[i], "");
    }
    if (strict) {
        if (!has_time)
            api__verr_required(v, "eventTime", "");
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (type == NULL || (strcmp(type, "Normal") != 0 && strcmp(type, "Warning") != 0)) {
            _cleanup_free_ char *d = xasprintf("has invalid value: %s", type ? type : "");
            api__verr_invalid_str(v, "type", "", d);
        }
    }
}

void api__validate_kind(struct api__verr *v, const struct api_kind *k, const json_t *obj,
                        const json_t *old)
{
    if (is_kind(k, "", "Pod")) {
        api__validate_pod_spec(v, json_object_get(obj, "spec"), "spec", NULL);
        if (old != NULL)
            api__validate_pod_update(v, obj, old);
    } else if (is_kind(k, "apps", "Deployment")) {
        validate_deployment(v, obj, old);
    } else if (is_kind(k, "apps", "ReplicaSet")) {
        validate_replicaset(v, obj, old, "replicaset");
    } else if (is_kind(k, "apps", "StatefulSet")) {
        validate_statefulset(v, obj, old);
    } else if (is_kind(k, "apps", "DaemonSet")) {
        validate_daemonset(v, obj, old);
    } else if (is_kind(k, "batch", "Job")) {
        validate_job(v, obj, old);
    } else if (is_kind(k, "batch", "CronJob")) {
        validate_cronjob(v, obj);
    } else if (is_kind(k, "", "Service")) {
        validate_service(v, obj, old);
    } else if (is_kind(k, "", "ConfigMap")) {
        validate_config_data(v, obj, "data", "binaryData", false, "data");
        if (old != NULL) {
            static const char *const fields[] = {"data", "binaryData", NULL};
            validate_immutable_data(v, obj, old, fields);
        }
    } else if (is_kind(k, "", "Secret")) {
        validate_secret(v, obj, old);
    } else if (is_kind(k, "", "ReplicationController")) {
        json_t *spec = json_object_get(obj, "spec");
        non_negative(v, spec, "replicas", "spec");
        json_t *sel = json_object_get(spec, "selector");
        if (json_object_size(sel) == 0)
            api__verr_required(v, "spec.selector", "");
        api__validate_labels(v, sel, "spec.selector");
        json_t *tmpl = json_object_get(spec, "template");
        if (!json_is_object(tmpl)) {
            api__verr_required(v, "spec.template", "");
        } else {
            api__validate_pod_spec(v, json_object_get(tmpl, "spec"), "spec.template.spec",
                                   only_always);
        }
    } else if (strcmp(k->group, "rbac.authorization.k8s.io") == 0) {
        validate_rbac(v, k, obj, old);
    } else if (is_kind(k, "autoscaling", "HorizontalPodAutoscaler")) {
        validate_hpa(v, obj);
    } else if (is_kind(k, "scheduling.k8s.io", "PriorityClass")) {
        const char *name = json_string_value(kjson_path(obj, "metadata.name"));
        if (name != NULL && strncmp(name, "system-", 7) == 0 && old == NULL)
            api__verr_invalid_str(v, "metadata.name", name,
                                  "priority class names with 'system-' prefix are reserved");
        if (!json_is_integer(json_object_get(obj, "value")))
            api__verr_required(v, "value", "");
        if (old != NULL &&
            !json_equal(json_object_get(obj, "value"), json_object_get(old, "value")))
            api__verr_forbidden(v, "value", "may not be changed in an update.");
        static const char *const policies[] = {"Never", "PreemptLowerPriority", NULL};
        api__check_enum(v, obj, "preemptionPolicy", "", policies, false);
    } else if (is_kind(k, "discovery.k8s.io", "EndpointSlice")) {
        static const char *const types[] = {"IPv4", "IPv6", "FQDN", NULL};
        api__check_enum(v, obj, "addressType", "", types, true);
        if (old != NULL)
            immutable_field(v, obj, old, "addressType");
    } else if (is_kind(k, "networking.k8s.io", "NetworkPolicy")) {
        api__validate_network_policy(v, obj);
    } else if (is_kind(k, "", "Event")) {
        validate_event(v, obj, false);
    } else if (is_kind(k, "events.k8s.io", "Event")) {
        json_t *core = api_event_convert(obj, "v1");
        validate_event(v, core, true);
        json_decref(core);
    } else if (is_kind(k, "coordination.k8s.io", "Lease")) {
        json_t *d = kjson_path(obj, "spec.leaseDurationSeconds");
        if (json_is_integer(d) && json_integer_value(d) <= 0)
            api__verr_invalid_int(v, "spec.leaseDurationSeconds", json_integer_value(d),
                                  "must be greater than 0");
        json_t *t = kjson_path(obj, "spec.leaseTransitions");
        if (json_is_integer(t) && json_integer_value(t) < 0)
            api__verr_invalid_int(v, "spec.leaseTransitions", json_integer_value(t),
                                  "must be greater than or equal to 0");
    }
}
