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

#endif
