/* The parts of src/api this module needs that may not have landed yet (defaults, validation,
 * Tables, protobuf decoding: branch `api`). With the real headers present they are used;
 * without them, minimal stand-ins keep the server working and say what is missing. Remove
 * this file once src/api has all of them. */
#ifndef K8C_APISERVER_APICOMPAT_H
#define K8C_APISERVER_APICOMPAT_H

#include <jansson.h>
#include <string.h>
#include <time.h>

#include "api/kinds.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/json.h"

#include "api/defaults.h"

#if __has_include("api/validate.h")
#include "api/validate.h"
#else
static inline json_t *api_object_validate(const struct api_kind *k, const json_t *obj,
                                          const json_t *old)
{
    (void)k;
    (void)old;
    const char *n = kjson_path_str(obj, "metadata.name");
    if (n && *n)
        return NULL;
    return json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueRequired", "message",
                     "Required value: name or generateName is required", "field", "metadata.name");
}
static inline json_t *api_object_unknown_fields(const struct api_kind *k, const json_t *obj)
{
    (void)k;
    (void)obj;
    return NULL;
}
#endif

#if __has_include("api/protobuf.h")
#include "api/protobuf.h"
#else
static inline json_t *api_protobuf_decode(const void *body, size_t len,
                                          const struct api_kind *expected, struct k8c_err **err)
{
    (void)body;
    (void)len;
    (void)expected;
    k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                "protobuf request bodies are not supported by this build");
    return NULL;
}
#endif

#if __has_include("api/table.h")
#include "api/table.h"
#else
static inline json_t *api_table_build(const struct api_kind *k, json_t *items,
                                      const char *resource_version, bool include_object)
{
    (void)k;
    json_t *rows = json_array();
    size_t i;
    json_t *o;
    time_t now = time(NULL);
    json_array_foreach (items, i, o) {
        const char *ts = kjson_path_str(o, "metadata.creationTimestamp");
        time_t t = now;
        if (ts)
            clock_parse_rfc3339(ts, &t);
        char age[32];
        long d = (long)(now - t);
        if (d < 120)
            snprintf(age, sizeof(age), "%lds", d);
        else if (d < 7200)
            snprintf(age, sizeof(age), "%ldm", d / 60);
        else
            snprintf(age, sizeof(age), "%ldh", d / 3600);
        json_t *obj;
        if (include_object) {
            obj = json_incref(o);
        } else {
            obj = json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion",
                            "meta.k8s.io/v1", "metadata", json_object_get(o, "metadata"));
        }
        const char *name = kjson_path_str(o, "metadata.name");
        json_array_append_new(
            rows, json_pack("{s:[s, s], s:o}", "cells", name ? name : "", age, "object", obj));
    }
    return json_pack("{s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:s, "
                     "s:i}], s:o}",
                     "kind", "Table", "apiVersion", "meta.k8s.io/v1", "metadata", "resourceVersion",
                     resource_version, "columnDefinitions", "name", "Name", "type", "string",
                     "format", "name", "description", "Name", "priority", 0, "name", "Age", "type",
                     "string", "format", "", "description", "Age", "priority", 0, "rows", rows);
}
#endif

/* Server-side apply and managedFields bookkeeping (api_patch_apply,
 * api_patch_record_update) are declared in api/patch.h but land later with branch `patch`:
 * set to 1 once src/api/patch_apply.c is merged. */
#ifndef APISERVER_HAVE_SSA
#define APISERVER_HAVE_SSA 1
#endif

#if APISERVER_HAVE_SSA
#define apiserver_compat_record_update api_patch_record_update
#define apiserver_compat_apply api_patch_apply
#define apiserver_compat_apply_conflict_causes api_patch_apply_conflict_causes
#else
static inline void apiserver_compat_record_update(const char *api_version, const json_t *old,
                                                  json_t *obj, const char *field_manager)
{
    (void)api_version;
    (void)old;
    (void)obj;
    (void)field_manager;
}
static inline json_t *apiserver_compat_apply(const char *api_version, const char *kind,
                                             const json_t *live, const char *patch, size_t len,
                                             const char *field_manager, bool force,
                                             struct k8c_err **err)
{
    (void)api_version;
    (void)kind;
    (void)live;
    (void)patch;
    (void)len;
    (void)field_manager;
    (void)force;
    k8c_err_set(err, 0, K8C_REASON_UNSUPPORTED_MEDIA_TYPE,
                "server-side apply is not supported by this build yet");
    return NULL;
}
static inline json_t *apiserver_compat_apply_conflict_causes(void)
{
    return NULL;
}
#endif

#endif
