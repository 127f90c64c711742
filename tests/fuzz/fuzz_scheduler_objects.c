/* Fuzz target: the scheduler's decoding of pods and nodes (src/scheduler/view.c, quantity.c)
 * and one scheduling decision with the decoded objects. The input is a JSON array of
 * objects; those with "spec.nodeName" or kind Node become the cluster, the last pod is
 * scheduled. Any input must decode or fail with an error, and never crash the algorithm. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "scheduler/algorithm.h"
#include "scheduler/snapshot.h"
#include "scheduler/view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = kjson_parse((const char *)data, size, NULL);
    if (root == NULL)
        return 0;
    if (!json_is_array(root)) {
        json_t *arr = json_array();
        json_array_append_new(arr, root);
        root = arr;
    }
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    struct scheduler_pod *pending = NULL;
    size_t i;
    json_t *obj;
    json_array_foreach (root, i, obj) {
        struct k8c_err *err = NULL;
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        if (kind != NULL && strcmp(kind, "Node") == 0) {
            struct scheduler_node *n = scheduler_node_decode(obj, &err);
            if (n != NULL)
                scheduler_snapshot_node_set_take(s, n);
        } else {
            struct scheduler_pod *p = scheduler_pod_decode(obj, &err);
            if (p != NULL && p->node_name != NULL) {
                scheduler_snapshot_pod_set_take(s, p);
            } else if (p != NULL) {
                scheduler_pod_free(pending);
                pending = p;
            }
        }
        if (err != NULL) {
            K8C_ASSERT(err->msg != NULL);
            k8c_err_free(err);
        }
    }
    if (pending != NULL) {
        struct scheduler_algorithm a = {.seed = 1};
        struct scheduler_decision d;
        scheduler_schedule(&a, s, pending, &d);
        K8C_ASSERT((d.node != NULL) != (d.message != NULL));
        if (d.nominated_node != NULL)
            scheduler_snapshot_nominate(s, pending, d.nominated_node);
        scheduler_decision_clear(&d);
        scheduler_snapshot_unnominate(s, pending->key);
        scheduler_pod_free(pending);
    }
    /* removing everything must leave an empty snapshot */
    json_array_foreach (root, i, obj) {
        char *key = xasprintf(
            "%s/%s",
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"))
                ?: "default",
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")) ?: "");
        scheduler_snapshot_pod_remove(s, key);
        free(key);
        const char *name =
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        if (name != NULL)
            scheduler_snapshot_node_remove(s, name);
    }
    K8C_ASSERT(s->n_nodes == 0);
    scheduler_snapshot_free(s);
    json_decref(root);
    return 0;
}
