/* The /openapi/v3 index and documents, built from the generated data (openapi_data.c), and
 * the schema lookup behind the YAML string-field hook (see openapi.h). */
#include "api/openapi.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/openapi_data.h"
#include "api/schema.h"
#include "base/json.h"
#include "base/mem.h"

static const struct api__openapi_gv *gv_find(const char *group, const char *version)
{
    if (group == NULL || version == NULL)
        return NULL;
    for (size_t i = 0; i < api__openapi_n_gvs; i++)
        if (!strcmp(api__openapi_gvs[i].group, group) &&
            !strcmp(api__openapi_gvs[i].version, version))
            return &api__openapi_gvs[i];
    return NULL;
}

static const struct api__openapi_def *def_find(const char *name)
{
    size_t lo = 0, hi = api__openapi_n_defs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, api__openapi_defs[mid].name);
        if (c == 0)
            return &api__openapi_defs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* FNV-1a over everything a document is built from: equal hashes mean equal documents. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static char (*hashes)[17];
static pthread_once_t hashes_once = PTHREAD_ONCE_INIT;

static void hashes_compute(void)
{
    hashes = xcalloc(api__openapi_n_gvs, sizeof(*hashes));
    for (size_t i = 0; i < api__openapi_n_gvs; i++) {
        const struct api__openapi_gv *gv = &api__openapi_gvs[i];
        uint64_t h = fnv1a(0xcbf29ce484222325ULL, gv->paths);
        for (const char *const *d = gv->defs; *d; d++) {
            const struct api__openapi_def *def = def_find(*d);
            h = fnv1a(fnv1a(h, *d), def ? def->json : "");
        }
        snprintf(hashes[i], sizeof(hashes[i]), "%016llX", (unsigned long long)h);
    }
}

const char *api_openapi_v3_hash(const char *group, const char *version)
{
    const struct api__openapi_gv *gv = gv_find(group, version);
    if (gv == NULL)
        return NULL;
    pthread_once(&hashes_once, hashes_compute);
    return hashes[gv - api__openapi_gvs];
}

const char *api_openapi_v2_response(size_t *body_len)
{
    /* An empty protobuf message is a valid, empty openapi_v2.Document. */
    *body_len = 0;
    return API_OPENAPI_V2_CONTENT_TYPE;
}

json_t *api_openapi_v3_index(void)
{
    pthread_once(&hashes_once, hashes_compute);
    json_t *paths = json_object();
    for (size_t i = 0; i < api__openapi_n_gvs; i++) {
        const struct api__openapi_gv *gv = &api__openapi_gvs[i];
        _cleanup_free_ char *url = xasprintf("/openapi/v3/%s?hash=%s", gv->prefix, hashes[i]);
        json_object_set_new(paths, gv->prefix, json_pack("{s:s}", "serverRelativeURL", url));
    }
    return json_pack("{s:o}", "paths", paths);
}

static json_t *parse_generated(const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    K8C_ASSERT(v != NULL); /* generated data: a parse failure is a build bug */
    return v;
}

json_t *api_openapi_v3_document(const char *group, const char *version)
{
    const struct api__openapi_gv *gv = gv_find(group, version);
    if (gv == NULL)
        return NULL;
    json_t *schemas = json_object();
    for (const char *const *d = gv->defs; *d; d++) {
        const struct api__openapi_def *def = def_find(*d);
        K8C_ASSERT(def != NULL);
        json_object_set_new(schemas, def->name, parse_generated(def->json));
    }
    json_t *security =
        json_pack("{s:{s:s,s:s,s:s,s:s}}", "BearerToken", "type", "apiKey", "name", "authorization",
                  "in", "header", "description", "Bearer Token authentication");
    _cleanup_free_ char *title =
        xasprintf("Kubernetes %s%s%s", group, group[0] ? "/" : "", version);
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:o,s:o}}", "openapi", "3.0.0", "info", "title",
                     title, "version", "v1.32.0", "paths", parse_generated(gv->paths), "components",
                     "schemas", schemas, "securitySchemes", security);
}

bool api_openapi_field_is_string(const char *api_version, const char *kind, const char *path)
{
    const json_t *s = api__schema_for_kind(api_version, kind);
    if (s == NULL || path == NULL || *path == '\0')
        return false;
    const char *p = path;
    char name[256];
    while (*p && s != NULL) {
        const json_t *r = api__schema_resolve(s);
        const json_t *values = json_object_get(r, "additionalProperties");
        if (json_object_get(r, "properties") == NULL && json_is_object(values) && p[0] != '[') {
            /* A map (labels, annotations, data): the rest of the path is one key, dots and
             * all ("app.kubernetes.io/version"), when its values are scalars. */
            const char *vt = api__schema_type(values);
            if (vt != NULL && strcmp(vt, "object") != 0 && strcmp(vt, "array") != 0) {
                s = values;
                break;
            }
        }
        if (p[0] == '[' && p[1] == ']') {
            s = api__schema_items(s);
            p += 2;
        } else {
            size_t n = strcspn(p, ".[");
            if (n == 0 || n >= sizeof(name))
                return false;
            memcpy(name, p, n);
            name[n] = '\0';
            s = api__schema_field(s, name);
            p += n;
        }
        if (*p == '.')
            p++;
    }
    if (s == NULL)
        return false;
    const json_t *r = api__schema_resolve(s);
    const char *type = json_string_value(json_object_get(r, "type"));
    const char *format = json_string_value(json_object_get(r, "format"));
    if (type == NULL || strcmp(type, "string") != 0)
        return false;
    /* int-or-string keeps numbers numbers (ports, maxSurge: 1). */
    return format == NULL || strcmp(format, "int-or-string") != 0;
}
