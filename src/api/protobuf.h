/* Decoding of the protobuf request bodies kubectl's typed clients send
 * (application/vnd.kubernetes.protobuf: "k8s\0" + runtime.Unknown wrapping the object in the
 * wire format of k8s.io/api's generated.proto), into the JSON objects the rest of k8c
 * handles. Only the kinds kubectl's generators create are known. */
#ifndef K8C_API_PROTOBUF_H
#define K8C_API_PROTOBUF_H

#include <jansson.h>
#include <stddef.h>

#include "api/kinds.h"
#include "base/err.h"

/* Decodes body[0..len). expected (may be NULL) is the kind the URL names; the body's
 * apiVersion/kind must then match it (BAD_REQUEST otherwise, worded as for JSON bodies).
 * Known kinds: ConfigMap, Secret, Namespace, Service, ServiceAccount, Deployment, Job,
 * TokenRequest (authentication.k8s.io/v1) and SelfSubjectAccessReview
 * (authorization.k8s.io/v1); another kind is UNSUPPORTED_MEDIA_TYPE. Malformed bytes are
 * BAD_REQUEST. Zero values of non-optional fields are dropped, as JSON's omitempty would;
 * secret data becomes base64 strings, times RFC 3339 strings, IntOrString an integer or a
 * string. Returns a new object ({"apiVersion", "kind", "metadata", …}) or NULL with *err. */
json_t *api_protobuf_decode(const void *body, size_t len, const struct api_kind *expected,
                            struct k8c_err **err);

#endif
