/* Label and field selectors as kube-apiserver parses and matches them
 * (k8s.io/apimachinery/pkg/labels, pkg/fields, and each kind's selectable fields), plus
 * LabelSelector objects ({matchLabels, matchExpressions}) as workloads carry them. */
#ifndef K8C_API_SELECTOR_H
#define K8C_API_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>

#include "api/kinds.h"
#include "base/err.h"

struct api_label_selector;
struct api_field_selector;

/* Parses a labelSelector query ("app=web,tier!=db,env in (a,b),!legacy,x"). Operators: =,
 * ==, !=, in, notin, exists (bare key), does-not-exist (!key), gt, lt. text NULL or empty
 * selects everything. On a syntax error returns NULL and sets *err (BAD_REQUEST) with
 * Kubernetes' message ("unable to parse requirement: found '', expected: '('"). Caller frees
 * the result with api_label_selector_free. */
struct api_label_selector *api_label_selector_parse(const char *text, struct k8c_err **err);

/* A LabelSelector object ({matchLabels, matchExpressions: [{key, operator In|NotIn|Exists|
 * DoesNotExist, values}]}). NULL (JSON null or absent) selects nothing, {} everything, as
 * Kubernetes' LabelSelectorAsSelector. Invalid shapes or operators: NULL and BAD_REQUEST
 * ("\"Foo\" is not a valid label selector operator"). Caller frees. */
struct api_label_selector *api_label_selector_from_json(const json_t *selector,
                                                        struct k8c_err **err);

/* Whether labels (a JSON object of strings, or NULL for none) satisfy s. */
bool api_label_selector_match(const struct api_label_selector *s, const json_t *labels);

/* Whether s selects everything (no requirements). */
bool api_label_selector_empty(const struct api_label_selector *s);

/* The selector in Kubernetes' canonical text (requirements sorted by key, "a=b,c in (d,e)"),
 * "" for everything. Caller frees. */
char *api_label_selector_string(const struct api_label_selector *s);

void api_label_selector_free(struct api_label_selector *s);
void api_label_selector_freep(struct api_label_selector **s);
#define _cleanup_label_selector_ __attribute__((cleanup(api_label_selector_freep)))

/* Parses a fieldSelector query ("metadata.name=x,status.phase!=Failed") for kind k (k may be
 * NULL: then only metadata.name and metadata.namespace). Operators =, ==, !=; values may
 * escape ',' '=' '!' '\\' with a backslash. BAD_REQUEST "field label not supported: foo" for
 * a field k does not select on, and Kubernetes' message for a term without an operator
 * ("invalid selector: 'x'; can't understand 'x'"). Caller frees. */
struct api_field_selector *api_field_selector_parse(const struct api_kind *k, const char *text,
                                                    struct k8c_err **err);

/* Whether obj (an object of the kind the selector was parsed for) satisfies s. */
bool api_field_selector_match(const struct api_field_selector *s, const json_t *obj);

/* If s requires field == value exactly (e.g. metadata.name=x, metadata.namespace=y), returns
 * that value (borrowed from s) so a caller can narrow a range scan; else NULL. */
const char *api_field_selector_exact(const struct api_field_selector *s, const char *field);

void api_field_selector_free(struct api_field_selector *s);
void api_field_selector_freep(struct api_field_selector **s);
#define _cleanup_field_selector_ __attribute__((cleanup(api_field_selector_freep)))

/* metav1.FormatLabelSelector: the canonical text of a LabelSelector object, "<none>" when it
 * selects everything, "<error>" when it is invalid. Caller frees. */
char *api_label_selector_json_format(const json_t *selector);

#endif
