/* Functions shared by the patch and OpenAPI files of src/api (patch_*.c, openapi*.c,
 * schema*.c); not part of the module's public surface. */
#ifndef K8C_API_PATCH_INTERNAL_H
#define K8C_API_PATCH_INTERNAL_H

#include <jansson.h>

/* RFC 7386 merge of patch into target (neither is modified). Returns a new reference. */
json_t *api__merge_patch_value(const json_t *target, const json_t *patch);

#endif
