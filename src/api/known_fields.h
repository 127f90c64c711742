/* The compact schema of the served kinds (generated into known_fields.c by
 * known_fields_gen.py): per type, its Go name and its fields as "name=code;…", where code is
 * s string, i int32, l int64, n float64, b bool, B base64 bytes, q int-or-string, Q quantity,
 * t time, x anything, @N the type at index N, [code a list, {code a map. Internal to src/api. */
#ifndef K8C_API_KNOWN_FIELDS_H
#define K8C_API_KNOWN_FIELDS_H

#include <stddef.h>

struct api__known_type {
    const char *go_name; /* "v1.PodSpec" */
    const char *fields;  /* "activeDeadlineSeconds=l;affinity=@12;…", sorted by name */
};

struct api__known_root {
    const char *api_version;
    const char *kind;
    size_t type; /* index into api__known_types */
};

extern const struct api__known_type api__known_types[];
extern const size_t api__n_known_types;
extern const struct api__known_root api__known_roots[];
extern const size_t api__n_known_roots;

#endif
