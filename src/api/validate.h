/* Validation of objects as kube-apiserver validates them (pkg/apis/<group>/validation), with
 * Kubernetes' field paths and messages, so that an invalid object gets the 422 Status kubectl
 * prints as `The Pod "x" is invalid: spec.containers[0].image: Required value`. Also the
 * unknown-field check behind fieldValidation=Strict|Warn. */
#ifndef K8C_API_VALIDATE_H
#define K8C_API_VALIDATE_H

#include <jansson.h>

#include "api/kinds.h"

/* Validates obj (decoded, defaulted) of kind k; old is the stored object on update, NULL on
 * create (then immutable fields are not checked). Returns NULL when valid, else a new array
 * of causes [{"reason":"FieldValueInvalid|FieldValueRequired|FieldValueNotSupported|
 * FieldValueDuplicate|FieldValueForbidden|FieldValueTooLong|FieldValueNotFound",
 * "message":"Invalid value: \"Bad_Name\": a lowercase RFC 1123 …","field":"metadata.name"}]
 * in Kubernetes' wording (feed it to api_status_invalid). */
json_t *api_object_validate(const struct api_kind *k, const json_t *obj, const json_t *old);

/* The fields of obj the kind's schema does not know, as dotted paths ("spec.foo",
 * "spec.containers[0].imagePullPolicyy"), in document order; NULL when there are none (or k
 * has no schema here). For fieldValidation=Strict (400 `strict decoding error: unknown field
 * "spec.foo"`) and Warn (one Warning header each). New reference. */
json_t *api_object_unknown_fields(const struct api_kind *k, const json_t *obj);

/* The JSON type mismatches of obj against the kind's schema (a string where an integer
 * belongs, …), as Kubernetes' decoder reports them: NULL when none, else a new string such as
 * `json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type
 * string` (the caller answers 400 "<Kind> in version \"v1\" cannot be handled as a <Kind>:
 * <text>"). Caller frees. */
char *api_object_type_error(const struct api_kind *k, const json_t *obj);

#endif
