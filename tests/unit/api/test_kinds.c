/* Unit tests for src/api/kinds.c: the table as Kubernetes 1.32 discovery shows it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "base/mem.h"

static bool has_name(const char *const *list, const char *name)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

Test(kinds, lookup_by_resource_and_gvk)
{
    const struct api_kind *pods = api_kind_by_resource("", "v1", "pods");
    cr_assert(pods != NULL);
    cr_assert(eq(str, (char *)pods->kind, "Pod"));
    cr_assert(eq(str, (char *)pods->list_kind, "PodList"));
    cr_assert(eq(str, (char *)pods->singular, "pod"));
    cr_assert(eq(str, (char *)pods->api_version, "v1"));
    cr_assert(pods->namespaced);
    cr_assert(api_kind_by_resource(NULL, "v1", "pods") == pods);
    cr_assert(api_kind_by_gvk("v1", "Pod") == pods);

    const struct api_kind *deploy = api_kind_by_gvk("apps/v1", "Deployment");
    cr_assert(deploy != NULL);
    cr_assert(api_kind_by_resource("apps", "v1", "deployments") == deploy);
    cr_assert(eq(str, (char *)deploy->storage_prefix, "/registry/deployments"));

    cr_assert(api_kind_by_gvk("apps/v1", "Pod") == NULL);
    cr_assert(api_kind_by_gvk("v1", "Deployment") == NULL);
    cr_assert(api_kind_by_resource("apps", "v2", "deployments") == NULL);
    cr_assert(api_kind_by_resource("", "v1", "gizmos") == NULL);
    cr_assert(api_kind_by_gvk(NULL, "Pod") == NULL);
}

Test(kinds, two_event_kinds)
{
    const struct api_kind *core = api_kind_by_gvk("v1", "Event");
    const struct api_kind *ev = api_kind_by_gvk("events.k8s.io/v1", "Event");
    cr_assert(core != NULL && ev != NULL && core != ev);
    cr_assert(api_kind_by_resource("events.k8s.io", "v1", "events") == ev);
    cr_assert(has_name(core->short_names, "ev"));
}

Test(kinds, verbs_short_names_categories)
{
    struct {
        const char *group, *resource, *shortname;
        bool all, namespaced;
    } want[] = {
        {"", "pods", "po", true, true},
        {"", "services", "svc", true, true},
        {"", "configmaps", "cm", false, true},
        {"", "namespaces", "ns", false, false},
        {"", "nodes", "no", false, false},
        {"", "endpoints", "ep", false, true},
        {"", "serviceaccounts", "sa", false, true},
        {"", "events", "ev", false, true},
        {"", "replicationcontrollers", "rc", true, true},
        {"apps", "deployments", "deploy", true, true},
        {"apps", "replicasets", "rs", true, true},
        {"apps", "daemonsets", "ds", true, true},
        {"apps", "statefulsets", "sts", true, true},
        {"batch", "cronjobs", "cj", true, true},
        {"autoscaling", "horizontalpodautoscalers", "hpa", true, true},
        {"scheduling.k8s.io", "priorityclasses", "pc", false, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        const char *version = strcmp(want[i].group, "autoscaling") == 0 ? "v2" : "v1";
        const struct api_kind *k = api_kind_by_resource(want[i].group, version, want[i].resource);
        cr_assert(k != NULL, "%s", want[i].resource);
        cr_assert(has_name(k->short_names, want[i].shortname), "%s", want[i].resource);
        cr_assert(has_name(k->categories, "all") == want[i].all, "%s", want[i].resource);
        cr_assert(k->namespaced == want[i].namespaced, "%s", want[i].resource);
    }
    const struct api_kind *ns = api_kind_by_resource("", "v1", "namespaces");
    cr_assert(0 == (ns->verbs & API_VERB_DELETECOLLECTION));
    cr_assert(0 != (ns->verbs & API_VERB_DELETE));
    const struct api_kind *secrets = api_kind_by_resource("", "v1", "secrets");
    cr_assert(secrets->short_names == NULL && secrets->categories == NULL);
    cr_assert(eq(uint, secrets->verbs, API_VERBS_ALL));
}

Test(kinds, subresources)
{
    const struct api_kind *pods = api_kind_by_resource("", "v1", "pods");
    const char *names[] = {"status", "binding", "log", "exec", "attach", "portforward", "eviction"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        cr_assert(api_kind_subresource(pods, names[i]) != NULL, "%s", names[i]);
    const struct api_subresource *ev = api_kind_subresource(pods, "eviction");
    cr_assert(eq(str, (char *)ev->group, "policy"));
    cr_assert(eq(str, (char *)ev->kind, "Eviction"));
    cr_assert(eq(uint, ev->verbs, API_VERB_CREATE));
    const struct api_subresource *ex = api_kind_subresource(pods, "exec");
    cr_assert(eq(uint, ex->verbs, API_VERB_CREATE | API_VERB_GET));
    cr_assert(api_kind_subresource(pods, "scale") == NULL);
    cr_assert(api_kind_has_status(pods));

    const char *scalable[] = {"deployments", "replicasets", "statefulsets"};
    for (size_t i = 0; i < ARRAY_SIZE(scalable); i++) {
        const struct api_kind *k = api_kind_by_resource("apps", "v1", scalable[i]);
        const struct api_subresource *s = api_kind_subresource(k, "scale");
        cr_assert(s != NULL);
        cr_assert(eq(str, (char *)s->group, "autoscaling"));
        cr_assert(eq(str, (char *)s->kind, "Scale"));
        cr_assert(api_kind_has_status(k));
    }
    cr_assert(api_kind_subresource(api_kind_by_resource("apps", "v1", "daemonsets"), "scale") ==
              NULL);
    const struct api_subresource *tok =
        api_kind_subresource(api_kind_by_resource("", "v1", "serviceaccounts"), "token");
    cr_assert(eq(str, (char *)tok->kind, "TokenRequest"));
    cr_assert(eq(str, (char *)tok->group, "authentication.k8s.io"));
    cr_assert(false == api_kind_has_status(api_kind_by_resource("", "v1", "configmaps")));
}

Test(kinds, storage_keys)
{
    const struct api_kind *svc = api_kind_by_resource("", "v1", "services");
    _cleanup_free_ char *a = api_kind_storage_key(svc, "default", "web");
    cr_assert(eq(str, a, "/registry/services/specs/default/web"));
    _cleanup_free_ char *b = api_kind_storage_key(svc, "default", NULL);
    cr_assert(eq(str, b, "/registry/services/specs/default/"));
    _cleanup_free_ char *c = api_kind_storage_key(svc, NULL, NULL);
    cr_assert(eq(str, c, "/registry/services/specs/"));
    const struct api_kind *nodes = api_kind_by_resource("", "v1", "nodes");
    _cleanup_free_ char *d = api_kind_storage_key(nodes, NULL, "n1");
    cr_assert(eq(str, d, "/registry/minions/n1"));
    _cleanup_free_ char *e = api_kind_storage_key(nodes, "ignored", NULL);
    cr_assert(eq(str, e, "/registry/minions/"));
}

Test(kinds, table_is_consistent)
{
    size_t n = 0;
    const struct api_kind *all = api_kinds_all(&n);
    cr_assert(n >= 25);
    for (size_t i = 0; i < n; i++) {
        const struct api_kind *k = &all[i];
        cr_assert(api_kind_by_resource(k->group, k->version, k->resource) == k, "%s", k->resource);
        cr_assert(api_kind_by_gvk(k->api_version, k->kind) == k, "%s", k->kind);
        cr_assert(strncmp(k->storage_prefix, "/registry/", 10) == 0);
        cr_assert(k->storage_prefix[strlen(k->storage_prefix) - 1] != '/');
        size_t kl = strlen(k->kind);
        cr_assert(strncmp(k->list_kind, k->kind, kl) == 0 &&
                  strcmp(k->list_kind + kl, "List") == 0);
        for (size_t j = 0; j < k->n_subresources; j++)
            cr_assert(k->subresources[j].verbs != 0);
    }
    cr_assert(eq(str, (char *)api_verb_name(API_VERB_DELETECOLLECTION), "deletecollection"));
    cr_assert(api_verb_name(API_VERB_GET | API_VERB_LIST) == NULL);
}
