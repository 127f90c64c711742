/* Fuzz target: label selectors, field selectors and LabelSelector objects (src/api/selector.c,
 * field_selector.c), which come straight from query strings and manifests. Any input either
 * parses, matches and re-prints, or fails with an error message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/kinds.h"
#include "api/selector.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char labels_json[] = "{\"app\":\"web\",\"tier\":\"front\",\"n\":\"5\",\"e\":\"\"}";
static const char pod_json[] =
    "{\"metadata\":{\"name\":\"p1\",\"namespace\":\"d\"},\"spec\":{\"nodeName\":\"n1\"},"
    "\"status\":{\"phase\":\"Running\",\"replicas\":3}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = xstrndup((const char *)data + 1, size - 1);
    json_t *labels = json_loads(labels_json, 0, NULL);
    json_t *pod = json_loads(pod_json, 0, NULL);
    struct k8c_err *err = NULL;
    switch (data[0] % 3) {
    case 0: {
        struct api_label_selector *s = api_label_selector_parse(text, &err);
        if (s == NULL) {
            K8C_ASSERT(err != NULL && err->msg != NULL);
            break;
        }
        (void)api_label_selector_match(s, labels);
        char *canon = api_label_selector_string(s);
        /* The canonical text parses again to the same text. */
        struct api_label_selector *again = api_label_selector_parse(canon, NULL);
        K8C_ASSERT(again != NULL);
        char *canon2 = api_label_selector_string(again);
        K8C_ASSERT(strcmp(canon, canon2) == 0);
        free(canon2);
        api_label_selector_free(again);
        free(canon);
        api_label_selector_free(s);
        break;
    }
    case 1: {
        size_t n = 0;
        const struct api_kind *kinds = api_kinds_all(&n);
        const struct api_kind *k = &kinds[(size > 1 ? data[1] : 0) % n];
        struct api_field_selector *s = api_field_selector_parse(k, text, &err);
        if (s == NULL) {
            K8C_ASSERT(err != NULL && err->msg != NULL);
            break;
        }
        (void)api_field_selector_match(s, pod);
        (void)api_field_selector_exact(s, "metadata.name");
        api_field_selector_free(s);
        break;
    }
    default: {
        json_t *sel = json_loadb((const char *)data + 1, size - 1, 0, NULL);
        struct api_label_selector *s = api_label_selector_from_json(sel, &err);
        if (s != NULL) {
            (void)api_label_selector_match(s, labels);
            api_label_selector_free(s);
        } else {
            K8C_ASSERT(err != NULL);
        }
        free(api_label_selector_json_format(sel));
        json_decref(sel);
    }
    }
    k8c_err_free(err);
    json_decref(labels);
    json_decref(pod);
    free(text);
    return 0;
}
