/* Functions shared inside src/api (not part of its public surface): Kubernetes' name and
 * label syntax checks (apimachinery/pkg/util/validation), worded as Kubernetes words them. */
#ifndef K8C_API_INTERNAL_H
#define K8C_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Each check returns NULL when value is valid, else the error details joined by "; " (as
 * Kubernetes joins them into one field.Invalid), newly allocated: caller frees. */
char *api__check_qualified_name(const char *value); /* label and annotation keys */
char *api__check_label_value(const char *value);    /* label values (may be empty) */
char *api__check_dns1123_subdomain(const char *value);
char *api__check_dns1123_label(const char *value);
char *api__check_dns1035_label(const char *value);
char *api__check_path_segment(const char *value); /* not ".", "..", no '/' or '%' */
char *api__check_c_identifier(const char *value); /* env var names are looser; see use */

/* Formats a string the way Go's %q does for printable ASCII (quotes and backslashes
 * escaped, control bytes as \xNN or \n etc.). Caller frees. */
char *api__quote(const char *s);

/* Standard base64 (with padding) of data[0..len) (protobuf.c). Caller frees. */
char *api__base64(const void *data, size_t len);

/* ---- validation (validate.c, validate_pod.c, validate_kinds.c) ---- */

#include <jansson.h>

#include "api/kinds.h"

/* The causes collected while validating one object, and a field path being built. */
struct api__verr {
    json_t *causes; /* array of {reason, message, field} */
};

/* Appends a cause; field is the full path ("spec.containers[0].image"). */
void api__verr_invalid(struct api__verr *v, const char *field, const json_t *value,
                       const char *detail);
void api__verr_invalid_str(struct api__verr *v, const char *field, const char *value,
                           const char *detail);
void api__verr_invalid_int(struct api__verr *v, const char *field, long long value,
                           const char *detail);
void api__verr_required(struct api__verr *v, const char *field, const char *detail);
void api__verr_forbidden(struct api__verr *v, const char *field, const char *detail);
void api__verr_duplicate(struct api__verr *v, const char *field, const json_t *value);
void api__verr_not_found(struct api__verr *v, const char *field, const json_t *value);
void api__verr_too_long(struct api__verr *v, const char *field, long long max);
/* supported is a NULL-terminated list. */
void api__verr_not_supported(struct api__verr *v, const char *field, const json_t *value,
                             const char *const *supported);

/* Go's %#v-like rendering of a JSON value for messages: strings quoted, maps as
 * map[string]string{"a":"b"}, other objects and arrays as compact JSON. Caller frees. */
char *api__value_text(const json_t *value);

/* Checks an enum string field at obj[key] (absent is fine unless required). */
void api__check_enum(struct api__verr *v, const json_t *obj, const char *key, const char *path,
                     const char *const *supported, bool required);

/* ObjectMeta of a PodTemplateSpec and the PodSpec (validate_pod.c). restart lists the
 * allowed restartPolicy values (NULL: any valid one). */
void api__validate_pod_spec(struct api__verr *v, const json_t *spec, const char *path,
                            const char *const *restart);
void api__validate_labels(struct api__verr *v, const json_t *labels, const char *path);
void api__validate_annotations(struct api__verr *v, const json_t *annotations, const char *path);
/* The pod spec update rule (only images, activeDeadlineSeconds, tolerations additions). */
void api__validate_pod_update(struct api__verr *v, const json_t *obj, const json_t *old);

/* Kind-specific rules (validate_kinds.c). */
void api__validate_kind(struct api__verr *v, const struct api_kind *k, const json_t *obj,
                        const json_t *old);

/* NetworkPolicy's spec (validate_netpol.c). */
void api__validate_network_policy(struct api__verr *v, const json_t *obj);

/* Quantity syntax ("100m", "1Gi", "1e3"); returns false when value is not one. *out gets
 * its value (approximate, for comparisons). */
bool api__parse_quantity(const char *value, double *out);

#endif
