/* Structural schema lookups over the generated OpenAPI data (see schema.h). */
#include "api/schema.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/openapi_data.h"
#include "base/json.h"
#include "base/mem.h"

/* Parsed schemas, one slot per entry of api__openapi_defs; filled under the lock and never
 * freed (a few MB at most: only the schemas actually used are parsed). A slot, once set,
 * never changes, so readers load it without the lock (acquire pairs with the release
 * store below) and only the first use of a schema pays for the mutex. */
static json_t **parsed;
static pthread_once_t parsed_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t parsed_lock = PTHREAD_MUTEX_INITIALIZER;

static void parsed_alloc(void)
{
    parsed = xcalloc(api__openapi_n_defs, sizeof(*parsed));
}

static int def_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct api__openapi_def *)elem)->name);
}

/* Drops "description" everywhere: the patchers never read it and it is most of the size. */
static void strip_descriptions(json_t *v)
{
    if (json_is_object(v)) {
        json_object_del(v, "description");
        const char *k;
        json_t *c;
        json_object_foreach (v, k, c) {
            strip_descriptions(c);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach (v, i, c) {
            strip_descriptions(c);
        }
    }
}

const json_t *api__schema_by_name(const char *name)
{
    if (name == NULL)
        return NULL;
    const struct api__openapi_def *d = bsearch(name, api__openapi_defs, api__openapi_n_defs,
                                               sizeof(api__openapi_defs[0]), def_cmp);
    if (d == NULL)
        return NULL;
    size_t i = (size_t)(d - api__openapi_defs);
    pthread_once(&parsed_once, parsed_alloc);
    json_t *v = __atomic_load_n(&parsed[i], __ATOMIC_ACQUIRE);
    if (v != NULL)
        return v;
    pthread_mutex_lock(&parsed_lock);
    v = parsed[i];
    if (v == NULL) {
        v = kjson_parse(d->json, strlen(d->json), NULL);
        K8C_ASSERT(v != NULL); /* generated data: a parse failure is a build bug */
        strip_descriptions(v);
        __atomic_store_n(&parsed[i], v, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&parsed_lock);
    return v;
}

static int gvk_cmp(const void *key, const void *elem)
{
    const struct api__openapi_gvk *a = key, *b = elem;
    int c = strcmp(a->api_version, b->api_version);
    return c ? c : strcmp(a->kind, b->kind);
}

const json_t *api__schema_for_kind(const char *api_version, const char *kind)
{
    if (api_version == NULL || kind == NULL)
        return NULL;
    struct api__openapi_gvk key = {api_version, kind, NULL};
    const struct api__openapi_gvk *g = bsearch(&key, api__openapi_gvks, api__openapi_n_gvks,
                                               sizeof(api__openapi_gvks[0]), gvk_cmp);
    return g ? api__schema_by_name(g->def) : NULL;
}

static const char *ref_name(const json_t *s)
{
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (ref == NULL) {
        json_t *all = json_object_get(s, "allOf");
        if (json_array_size(all) == 1)
            ref = json_string_value(json_object_get(json_array_get(all, 0), "$ref"));
    }
    static const char prefix[] = "#/components/schemas/";
    if (ref == NULL || strncmp(ref, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    return ref + sizeof(prefix) - 1;
}

const json_t *api__schema_resolve(const json_t *s)
{
    /* Definitions never reference each other in a loop without a property in between, so
     * a short bound only guards against bad data. */
    for (int i = 0; s != NULL && i < 8; i++) {
        const char *name = ref_name(s);
        if (name == NULL)
            return s;
        s = api__schema_by_name(name);
    }
    return s;
}

const json_t *api__schema_field(const json_t *s, const char *name)
{
    s = api__schema_resolve(s);
    if (!json_is_object(s))
        return NULL;
    json_t *props = json_object_get(s, "properties");
    if (props != NULL)
        return json_object_get(props, name);
    json_t *ap = json_object_get(s, "additionalProperties");
    return json_is_object(ap) ? ap : NULL;
}

const json_t *api__schema_items(const json_t *s)
{
    s = api__schema_resolve(s);
    return s ? json_object_get(s, "items") : NULL;
}

const char *api__schema_type(const json_t *s)
{
    return json_string_value(json_object_get(api__schema_resolve(s), "type"));
}

void api__schema_patch_meta(const json_t *field, struct api__patch_meta *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(field))
        return;
    out->merge_key = json_string_value(json_object_get(field, "x-kubernetes-patch-merge-key"));
    const char *strategy = json_string_value(json_object_get(field, "x-kubernetes-patch-strategy"));
    if (strategy != NULL) {
        out->strategy_merge = strstr(strategy, "merge") != NULL;
        out->strategy_retain = strstr(strategy, "retainKeys") != NULL;
        out->strategy_replace = strcmp(strategy, "replace") == 0;
    }
    out->list_type = json_string_value(json_object_get(field, "x-kubernetes-list-type"));
    json_t *keys = json_object_get(field, "x-kubernetes-list-map-keys");
    out->map_keys = json_is_array(keys) ? keys : NULL;
    const char *map_type = json_string_value(json_object_get(field, "x-kubernetes-map-type"));
    out->map_atomic = map_type != NULL && strcmp(map_type, "atomic") == 0;
}
