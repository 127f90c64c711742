/* JSON helpers over jansson: parsing with positioned errors, compact encoding into a buf,
 * and path lookups. Objects are jansson json_t; a json_t * returned "new" carries one
 * reference the caller owns (release with json_decref or _cleanup_json_). */
#ifndef K8C_BASE_JSON_H
#define K8C_BASE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* Parses one JSON value (any type) from data[0..len). Trailing garbage is an error.
 * On failure returns NULL and sets *err (BAD_REQUEST) with line, column and jansson's text.
 * Returns a new reference. */
json_t *kjson_parse(const char *data, size_t len, struct k8c_err **err);

/* Appends the compact encoding of v to out (key order preserved). */
void kjson_dump(const json_t *v, struct buf *out);
/* Compact encoding as a new string; caller frees. */
char *kjson_dumps(const json_t *v);

/* Looks up a dotted path ("metadata.name") through nested objects. Returns a borrowed
 * reference, or NULL when any step is missing or not an object. */
json_t *kjson_path(const json_t *root, const char *dotted);
/* The string at a dotted path, borrowed from root; NULL when missing or not a string. */
const char *kjson_path_str(const json_t *root, const char *dotted);
/* Returns the object at key in obj, creating an empty one if missing (borrowed). Returns
 * NULL when obj is not an object or key holds a non-object. */
json_t *kjson_object_ensure(json_t *obj, const char *key);

void kjson_decrefp(json_t **v);
#define _cleanup_json_ __attribute__((cleanup(kjson_decrefp)))

#endif
