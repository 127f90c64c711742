/* Object lifecycle bookkeeping (see meta.h): what kube-apiserver's rest.BeforeCreate,
 * rest.BeforeUpdate and the kinds' PrepareForCreate/PrepareForUpdate do to metadata and
 * status. */
#include "api/meta.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

static void random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            k8c_panic(__FILE__, __LINE__, "getrandom: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
}

void api_meta_uuid(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void api_meta_random_suffix(char *out, size_t n)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    const size_t len = sizeof(alphabet) - 1; /* 27 */
    size_t i = 0;
    while (i < n) {
        unsigned char b[16];
        random_bytes(b, sizeof(b));
        for (size_t j = 0; j < sizeof(b) && i < n; j++) {
            if (b[j] >= 27 * 9) /* reject to keep the choice uniform */
                continue;
            out[i++] = alphabet[b[j] % len];
        }
    }
    out[n] = '\0';
}

bool api_kind_has_generation(const struct api_kind *k)
{
    static const char *const kinds[] = {"Deployment",
                                        "ReplicaSet",
                                        "StatefulSet",
                                        "DaemonSet",
                                        "Job",
                                        "CronJob",
                                        "HorizontalPodAutoscaler",
                                        "ReplicationController"};
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (strcmp(k->kind, kinds[i]) == 0)
            return true;
    return false;
}

/* Fills apiVersion/kind from k when missing; BAD_REQUEST when they name something else. */
static int check_type(const struct api_kind *k, json_t *obj, struct k8c_err **err)
{
    json_t *av = json_object_get(obj, "apiVersion");
    json_t *kd = json_object_get(obj, "kind");
    if ((av != NULL && !json_is_string(av)) || (kd != NULL && !json_is_string(kd)))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "%s in version \"%s\" cannot be handled as a %s: apiVersion and kind "
                           "must be strings",
                           k->kind, k->version, k->kind);
    const char *api_version = json_string_value(av);
    const char *kind = json_string_value(kd);
    if (api_version == NULL || api_version[0] == '\0')
        api_version = k->api_version;
    if (kind == NULL || kind[0] == '\0')
        kind = k->kind;
    if (strcmp(api_version, k->api_version) != 0)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "the API version in the data (%s) does not match the expected API "
                           "version (%s)",
                           api_version, k->api_version);
    if (strcmp(kind, k->kind) != 0) {
        const char *slash = strrchr(api_version, '/');
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "%s in version \"%s\" cannot be handled as a %s: the kind in the data "
                           "(%s) does not match the expected kind (%s)",
                           kind, slash ? slash + 1 : api_version, k->kind, kind, k->kind);
    }
    /* Re-set even when present so that they come first in a new object's key order. */
    if (av == NULL || kd == NULL || json_string_length(av) == 0 || json_string_length(kd) == 0) {
        json_object_set_new(obj, "apiVersion", json_string(k->api_version));
        json_object_set_new(obj, "kind", json_string(k->kind));
    }
    return 0;
}

static json_t *metadata_of(json_t *obj, const struct api_kind *k, struct k8c_err **err)
{
    json_t *md = json_object_get(obj, "metadata");
    if (md == NULL) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    if (!json_is_object(md)) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "%s in version \"%s\" cannot be handled as a %s: metadata must be an object",
                    k->kind, k->version, k->kind);
        return NULL;
    }
    return md;
}

/* Kubernetes' QoS class (pkg/apis/core/helper/qos): BestEffort without any request or
 * limit, Guaranteed when every container limits cpu and memory and requests equal limits,
 * Burstable otherwise. Init containers count as containers. */
static const char *pod_qos_class(const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    bool any = false, guaranteed = true;
    const char *lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get(spec, lists[l]), i, c) {
            json_t *res = json_object_get(c, "resources");
            json_t *req = json_object_get(res, "requests");
            json_t *lim = json_object_get(res, "limits");
            const char *names[] = {"cpu", "memory"};
            for (size_t n = 0; n < 2; n++) {
                json_t *r = json_object_get(req, names[n]);
                json_t *m = json_object_get(lim, names[n]);
                if (r != NULL || m != NULL)
                    any = true;
                if (m == NULL || (r != NULL && !json_equal(r, m)))
                    guaranteed = false;
            }
        }
    }
    if (!any)
        return "BestEffort";
    return guaranteed ? "Guaranteed" : "Burstable";
}

static void reset_status_on_create(const struct api_kind *k, json_t *obj)
{
    if (k->group[0] == '\0' && strcmp(k->kind, "Pod") == 0) {
        json_t *st = json_object();
        json_object_set_new(st, "phase", json_string("Pending"));
        json_object_set_new(st, "qosClass", json_string(pod_qos_class(obj)));
        json_object_set_new(obj, "status", st);
        return;
    }
    if (k->group[0] == '\0' && strcmp(k->kind, "Namespace") == 0) {
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        return;
    }
    if (k->group[0] == '\0' && strcmp(k->kind, "Node") == 0)
        return; /* nodes may register with their status */
    if (api_kind_has_status(k))
        json_object_set_new(obj, "status", json_object());
}

int api_meta_prepare_create(const struct api_kind *k, json_t *obj, const char *url_namespace,
                            struct k8c_err **err)
{
    if (!json_is_object(obj))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "%s in version \"%s\" cannot be handled as a %s: the body is not a "
                           "JSON object",
                           k->kind, k->version, k->kind);
    if (check_type(k, obj, err) < 0)
        return -1;
    json_t *md = metadata_of(obj, k, err);
    if (md == NULL)
        return -1;

    if (k->namespaced) {
        json_t *ns = json_object_get(md, "namespace");
        const char *body_ns = json_string_value(ns);
        if (ns != NULL && !json_is_string(ns))
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "metadata.namespace must be a string");
        if (body_ns == NULL || body_ns[0] == '\0') {
            if (url_namespace != NULL && url_namespace[0] != '\0')
                json_object_set_new(md, "namespace", json_string(url_namespace));
        } else if (url_namespace != NULL && url_namespace[0] != '\0' &&
                   strcmp(body_ns, url_namespace) != 0) {
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "the namespace of the provided object does not match the "
                               "namespace sent on the request");
        }
    } else {
        json_object_del(md, "namespace");
    }

    const char *name = json_string_value(json_object_get(md, "name"));
    const char *gen = json_string_value(json_object_get(md, "generateName"));
    if ((name == NULL || name[0] == '\0') && gen != NULL && gen[0] != '\0') {
        char suffix[6];
        api_meta_random_suffix(suffix, 5);
        size_t base = strlen(gen);
        if (base > 58)
            base = 58;
        _cleanup_free_ char *generated = xasprintf("%.*s%s", (int)base, gen, suffix);
        json_object_set_new(md, "name", json_string(generated));
    }

    char uid[37];
    api_meta_uuid(uid);
    json_object_set_new(md, "uid", json_string(uid));
    char stamp[21];
    clock_rfc3339(time(NULL), stamp);
    json_object_set_new(md, "creationTimestamp", json_string(stamp));
    json_object_del(md, "resourceVersion");
    json_object_del(md, "selfLink");
    json_object_del(md, "deletionTimestamp");
    json_object_del(md, "deletionGracePeriodSeconds");
    if (api_kind_has_generation(k))
        json_object_set_new(md, "generation", json_integer(1));
    else
        json_object_del(md, "generation");
    reset_status_on_create(k, obj);
    return 0;
}

static void copy_key(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v != NULL)
        json_object_set_new(dst, key, json_deep_copy(v));
    else
        json_object_del(dst, key);
}

/* Whether any top-level field but apiVersion, kind, metadata and status differs. */
static bool spec_changed(const json_t *a, const json_t *b)
{
    const char *key;
    json_t *v;
    static const char *const skip[] = {"apiVersion", "kind", "metadata", "status"};
    json_object_foreach ((json_t *)a, key, v) {
        bool skipped = false;
        for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
            skipped = skipped || strcmp(key, skip[i]) == 0;
        if (!skipped && !json_equal(v, json_object_get(b, key)))
            return true;
    }
    json_object_foreach ((json_t *)b, key, v) {
        bool skipped = false;
        for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
            skipped = skipped || strcmp(key, skip[i]) == 0;
        if (!skipped && json_object_get(a, key) == NULL)
            return true;
    }
    return false;
}

/* The Service registry keeps allocated values an update leaves out (patchAllocatedValues):
 * clusterIP(s), and each port's nodePort matched by port number and protocol. */
static void keep_service_allocations(json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    const json_t *old_spec = json_object_get(old, "spec");
    if (!json_is_object(spec) || !json_is_object(old_spec))
        return;
    if (json_string_length(json_object_get(spec, "clusterIP")) == 0) {
        copy_key(spec, old_spec, "clusterIP");
        copy_key(spec, old_spec, "clusterIPs");
    }
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(spec, "ports"), i, p) {
        if (!json_is_object(p) || json_integer_value(json_object_get(p, "nodePort")) != 0)
            continue;
        size_t j;
        json_t *q;
        json_array_foreach (json_object_get(old_spec, "ports"), j, q) {
            if (json_equal(json_object_get(p, "port"), json_object_get(q, "port")) &&
                json_object_get(q, "nodePort") != NULL) {
                json_object_set(p, "nodePort", json_object_get(q, "nodePort"));
                break;
            }
        }
    }
}

int api_meta_prepare_update(const struct api_kind *k, json_t *obj, const json_t *old,
                            bool status_subresource, struct k8c_err **err)
{
    if (!json_is_object(obj))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "%s in version \"%s\" cannot be handled as a %s: the body is not a "
                           "JSON object",
                           k->kind, k->version, k->kind);
    if (check_type(k, obj, err) < 0)
        return -1;
    json_t *md = metadata_of(obj, k, err);
    if (md == NULL)
        return -1;
    const json_t *old_md = json_object_get(old, "metadata");

    if (json_string_length(json_object_get(md, "uid")) == 0)
        copy_key(md, old_md, "uid");
    if (!k->namespaced)
        json_object_del(md, "namespace");
    else if (json_string_length(json_object_get(md, "namespace")) == 0)
        copy_key(md, old_md, "namespace");
    copy_key(md, old_md, "creationTimestamp");
    copy_key(md, old_md, "deletionTimestamp");
    copy_key(md, old_md, "deletionGracePeriodSeconds");
    json_object_del(md, "selfLink");

    bool split = api_kind_has_status(k);
    if (split && status_subresource) {
        /* A status write changes status only. */
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe (obj, tmp, key, v) {
            if (strcmp(key, "metadata") != 0 && strcmp(key, "status") != 0 &&
                strcmp(key, "apiVersion") != 0 && strcmp(key, "kind") != 0)
                json_object_del(obj, key);
        }
        json_object_foreach ((json_t *)old, key, v) {
            if (strcmp(key, "metadata") != 0 && strcmp(key, "status") != 0 &&
                strcmp(key, "apiVersion") != 0 && strcmp(key, "kind") != 0)
                json_object_set_new(obj, key, json_deep_copy(v));
        }
        static const char *const kept[] = {"labels", "annotations", "finalizers",
                                           "ownerReferences"};
        for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
            copy_key(md, old_md, kept[i]);
    } else if (split) {
        /* A spec write keeps the stored status. */
        copy_key(obj, old, "status");
    }

    if (k->group[0] == '\0' && strcmp(k->kind, "Service") == 0 && !status_subresource)
        keep_service_allocations(obj, old);

    copy_key(md, old_md, "generation");
    if (api_kind_has_generation(k) && !status_subresource) {
        bool changed = spec_changed(obj, old);
        if (strcmp(k->kind, "Deployment") == 0) {
            /* Deployments also count annotations: the controller copies them to its sets. */
            json_t *a = json_object_get(md, "annotations");
            json_t *b = json_object_get(old_md, "annotations");
            if ((a != NULL || b != NULL) && !json_equal(a, b))
                changed = true;
        }
        json_int_t g = json_integer_value(json_object_get(old_md, "generation"));
        if (g <= 0)
            g = 1;
        json_object_set_new(md, "generation", json_integer(changed ? g + 1 : g));
    }
    return 0;
}

long long api_meta_grace_period(const struct api_kind *k, const json_t *obj, long long requested)
{
    if (k->group[0] != '\0' || strcmp(k->kind, "Pod") != 0)
        return 0;
    const char *node = kjson_path_str(obj, "spec.nodeName");
    const char *phase = kjson_path_str(obj, "status.phase");
    if (node == NULL || node[0] == '\0')
        return 0;
    if (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
        return 0;
    long long grace = requested;
    if (grace < 0 && requested != -1)
        return 1;
    if (grace == -1) {
        json_t *t = kjson_path(obj, "spec.terminationGracePeriodSeconds");
        grace = json_is_integer(t) ? json_integer_value(t) : 30;
    }
    return grace < 0 ? 1 : grace;
}

bool api_meta_mark_deleting(json_t *obj, long long grace_seconds)
{
    json_t *md = kjson_object_ensure(obj, "metadata");
    if (md == NULL)
        return false;
    if (grace_seconds < 0)
        grace_seconds = 0;
    json_t *cur = json_object_get(md, "deletionGracePeriodSeconds");
    if (json_string_length(json_object_get(md, "deletionTimestamp")) > 0 && json_is_integer(cur) &&
        json_integer_value(cur) <= grace_seconds)
        return false;
    char stamp[21];
    clock_rfc3339(time(NULL) + (time_t)grace_seconds, stamp);
    json_object_set_new(md, "deletionTimestamp", json_string(stamp));
    json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(grace_seconds));
    return true;
}

bool api_meta_deletion_done(const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    if (json_string_length(json_object_get(md, "deletionTimestamp")) == 0)
        return false;
    if (json_array_size(json_object_get(md, "finalizers")) > 0)
        return false;
    return json_integer_value(json_object_get(md, "deletionGracePeriodSeconds")) == 0;
}

void api_meta_set_resource_version(json_t *obj, int64_t rv)
{
    json_t *md = kjson_object_ensure(obj, "metadata");
    if (md == NULL)
        return;
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, rv);
    json_object_set_new(md, "resourceVersion", json_string(text));
}

/* Field renames between core/v1 Event (first) and events.k8s.io/v1 Event (second). */
static const char *const event_renames[][2] = {
    {"involvedObject", "regarding"},
    {"message", "note"},
    {"source", "deprecatedSource"},
    {"firstTimestamp", "deprecatedFirstTimestamp"},
    {"lastTimestamp", "deprecatedLastTimestamp"},
    {"count", "deprecatedCount"},
    {"reportingComponent", "reportingController"},
};

json_t *api_event_convert(const json_t *event, const char *to_api_version)
{
    int to;
    if (strcmp(to_api_version, "v1") == 0)
        to = 0;
    else if (strcmp(to_api_version, "events.k8s.io/v1") == 0)
        to = 1;
    else
        return NULL;
    json_t *out = json_deep_copy(event);
    const char *from_av = json_string_value(json_object_get(event, "apiVersion"));
    if (from_av != NULL && strcmp(from_av, to_api_version) == 0)
        return out;
    for (size_t i = 0; i < ARRAY_SIZE(event_renames); i++) {
        const char *from_key = event_renames[i][1 - to], *to_key = event_renames[i][to];
        json_t *v = json_object_get(out, from_key);
        if (v != NULL) {
            json_object_set(out, to_key, v);
            json_object_del(out, from_key);
        }
    }
    json_object_set_new(out, "apiVersion", json_string(to_api_version));
    json_object_set_new(out, "kind", json_string("Event"));
    return out;
}
