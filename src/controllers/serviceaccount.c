/* The ServiceAccount controller: a `default` ServiceAccount in every active namespace, made
 * again if someone deletes it. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "controllers/internal.h"

static int sa_sync(struct ctl_controller *cc, const char *key, struct k8c_err **err)
{
    struct ctl *ctl = cc->ctl;
    _cleanup_json_ json_t *ns = ctl__get(ctl, CTL_NAMESPACES, key);
    if (ns == NULL || ctl__is_deleting(ns))
        return 0;
    const char *phase = kjson_path_str(ns, "status.phase");
    if (phase && strcmp(phase, "Terminating") == 0)
        return 0;
    _cleanup_free_ char *sa_key = xasprintf("%s/default", key);
    _cleanup_json_ json_t *sa = ctl__get(ctl, CTL_SERVICEACCOUNTS, sa_key);
    if (sa != NULL)
        return 0;
    _cleanup_json_ json_t *obj =
        json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1", "kind", "ServiceAccount", "metadata",
                  "name", "default", "namespace", key);
    _cleanup_free_ char *path = ctl__path(CTL_SERVICEACCOUNTS, key, NULL, NULL);
    _cleanup_err_ struct k8c_err *cerr = NULL;
    _cleanup_json_ json_t *out = client_create(ctl->client, path, obj, &cerr);
    if (out == NULL && cerr->reason != K8C_REASON_ALREADY_EXISTS &&
        cerr->reason != K8C_REASON_FORBIDDEN && cerr->reason != K8C_REASON_NOT_FOUND) {
        *err = steal_ptr(&cerr);
        return -1;
    }
    return 0;
}

static void on_sa_delete(struct ctl *ctl, json_t *sa, void *opaque)
{
    const char *name = kjson_path_str(sa, "metadata.name");
    const char *ns = kjson_path_str(sa, "metadata.namespace");
    if (name && ns && strcmp(name, "default") == 0)
        workqueue_add(((struct ctl_controller *)opaque)->queue, ns);
}

void ctl__serviceaccount_setup(struct ctl *ctl)
{
    struct ctl_controller *cc = ctl__controller_new(ctl, "serviceaccount", sa_sync, NULL, NULL);
    struct ctl_listener nss = {ctl__on_enqueue, ctl__on_enqueue_update, NULL, cc};
    struct ctl_listener sas = {NULL, NULL, on_sa_delete, cc};
    ctl__listen(ctl, CTL_NAMESPACES, &nss);
    ctl__listen(ctl, CTL_SERVICEACCOUNTS, &sas);
}
