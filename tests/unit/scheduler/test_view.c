/* Unit tests for src/scheduler/quantity.c and view.c: quantities, effective pod requests
 * (init containers, sidecars, overhead), decoding errors, node decoding. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "helpers.h"

static int64_t q(const char *text, int64_t scale)
{
    json_t *j = json_string(text);
    int64_t v = -42;
    struct k8c_err *err = NULL;
    int rc = scheduler_quantity_parse(j, scale, &v, &err);
    json_decref(j);
    if (rc < 0) {
        k8c_err_free(err);
        return -1;
    }
    return v;
}

Test(scheduler_quantity, forms)
{
    cr_assert(eq(i64, q("100m", 1000), 100));
    cr_assert(eq(i64, q("0.1", 1000), 100));
    cr_assert(eq(i64, q("1.5", 1000), 1500));
    cr_assert(eq(i64, q("2", 1000), 2000));
    cr_assert(eq(i64, q("1Gi", 1), 1073741824));
    cr_assert(eq(i64, q("512Mi", 1), 536870912));
    cr_assert(eq(i64, q("1k", 1), 1000));
    cr_assert(eq(i64, q("1M", 1), 1000000));
    cr_assert(eq(i64, q("1e3", 1), 1000));
    cr_assert(eq(i64, q("1E", 1), 1000000000000000000LL));
    cr_assert(eq(i64, q("128974848", 1), 128974848));
    cr_assert(eq(i64, q("+5", 1), 5));
    /* Kubernetes rounds up: 1.5 bytes is 2, 0.5m is 1m */
    cr_assert(eq(i64, q("1.5", 1), 2));
    cr_assert(eq(i64, q("0.5m", 1000), 1));
    cr_assert(eq(i64, q("500u", 1000), 1));
}

Test(scheduler_quantity, garbage_is_an_error)
{
    cr_assert(eq(i64, q("", 1), -1));
    cr_assert(eq(i64, q("abc", 1), -1));
    cr_assert(eq(i64, q("1Xi", 1), -1));
    cr_assert(eq(i64, q("1..2", 1), -1));
    cr_assert(eq(i64, q("99999999999Ei", 1), -1));
    json_t *obj = json_object();
    struct k8c_err *err = NULL;
    int64_t v;
    int rc = scheduler_quantity_parse(obj, 1, &v, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(err != NULL);
    k8c_err_free(err);
    json_decref(obj);
    json_t *num = json_integer(3);
    rc = scheduler_quantity_parse(num, 1000, &v, NULL);
    cr_assert(eq(int, rc, 0));
    cr_assert(eq(i64, v, 3000));
    json_decref(num);
}

Test(scheduler_view, requests_with_init_containers_sidecars_and_overhead)
{
    /* containers: 300m; init: 500m then sidecar 100m then init 450m (450 + 100 = 550);
     * result max(300 + 100, 550) = 550, plus overhead 50m = 600m. */
    struct scheduler_pod *p =
        mkpod("p", NULL,
              "'containers':[{'name':'a','resources':{'requests':{'cpu':'100m','memory':'1Mi'}}},"
              "{'name':'b','resources':{'requests':{'cpu':'200m'}}}],"
              "'initContainers':[{'name':'i1','resources':{'requests':{'cpu':'500m'}}},"
              "{'name':'s','restartPolicy':'Always','resources':{'requests':{'cpu':'100m'}}},"
              "{'name':'i2','resources':{'requests':{'cpu':'450m','nvidia.com/gpu':'1'}}}],"
              "'overhead':{'cpu':'50m'}");
    cr_assert(eq(i64, p->req.milli_cpu, 600));
    cr_assert(eq(i64, p->req.memory, 1048576));
    cr_assert(eq(i64, scheduler_resources_get(&p->req, "nvidia.com/gpu"), 1));
    /* for scoring, every container missing memory counts 200Mi: containers 1Mi + 200Mi plus
     * the sidecar's 200Mi beat i2's 200Mi + 200Mi */
    cr_assert(eq(i64, p->nonzero_memory, 1048576 + 400LL * 1024 * 1024));
    scheduler_pod_free(p);
}

Test(scheduler_view, limits_stand_in_for_missing_requests)
{
    struct scheduler_pod *p =
        mkpod("p", NULL, "'containers':[{'name':'a','resources':{'limits':{'cpu':'2'}}}]");
    cr_assert(eq(i64, p->req.milli_cpu, 2000));
    cr_assert(eq(i64, p->nonzero_cpu, 2000));
    cr_assert(eq(i64, p->req.memory, 0));
    cr_assert(eq(i64, p->nonzero_memory, 200LL * 1024 * 1024));
    scheduler_pod_free(p);
    p = mkpod("p", NULL, "'containers':[{'name':'a'}]");
    cr_assert(eq(i64, p->req.milli_cpu, 0));
    cr_assert(eq(i64, p->nonzero_cpu, 100));
    scheduler_pod_free(p);
}

Test(scheduler_view, bad_quantity_names_the_field)
{
    json_t *j = jq("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'a','resources':"
                   "{'requests':{'cpu':'lots'}}}]}}");
    struct k8c_err *err = NULL;
    struct scheduler_pod *p = scheduler_pod_decode(j, &err);
    cr_assert(p == NULL);
    cr_assert(strstr(err->msg, "spec.containers[0].resources.requests[cpu]") != NULL, "%s",
              err->msg);
    k8c_err_free(err);
    json_decref(j);
}

Test(scheduler_view, malformed_affinity_selector_names_the_field)
{
    json_t *j = jq("{'metadata':{'name':'p'},'spec':{'containers':[],'affinity':{'podAntiAffinity':"
                   "{'requiredDuringSchedulingIgnoredDuringExecution':[{'topologyKey':'zone',"
                   "'labelSelector':{'matchExpressions':[{'key':'a','operator':'Foo'}]}}]}}}}");
    struct k8c_err *err = NULL;
    struct scheduler_pod *p = scheduler_pod_decode(j, &err);
    cr_assert(p == NULL);
    cr_assert(strstr(err->msg, "spec.affinity.podAntiAffinity.requiredDuringScheduling"
                               "IgnoredDuringExecution[0].labelSelector") != NULL,
              "%s", err->msg);
    cr_assert(strstr(err->msg, "Foo") != NULL, "%s", err->msg);
    k8c_err_free(err);
    json_decref(j);
}

Test(scheduler_view, pod_fields)
{
    struct scheduler_pod *p = mkpod(
        "p", "{'app':'web'}",
        "'containers':[{'name':'a','image':'nginx','ports':[{'containerPort':80,'hostPort':8080},"
        "{'containerPort':53,'hostPort':53,'protocol':'UDP','hostIP':'10.0.0.1'},"
        "{'containerPort':9}]}],'initContainers':[{'name':'i','image':'busybox:1.36'}],"
        "'priority':1000,'preemptionPolicy':'Never','schedulerName':'other',"
        "'tolerations':[{'operator':'Exists'}]");
    cr_assert(eq(str, p->key, "default/p"));
    cr_assert(eq(int, p->priority, 1000));
    cr_assert(p->preempt_never);
    cr_assert(eq(str, p->scheduler_name, "other"));
    cr_assert(eq(sz, p->n_ports, 2));
    cr_assert(eq(str, p->ports[0].ip, "0.0.0.0"));
    cr_assert(eq(str, p->ports[0].protocol, "TCP"));
    cr_assert(eq(str, p->ports[1].protocol, "UDP"));
    cr_assert(eq(sz, p->n_images, 2));
    cr_assert(eq(str, p->images[0], "busybox:1.36"));
    cr_assert(eq(str, p->images[1], "nginx:latest"));
    cr_assert(eq(i64, (int64_t)p->created, 1767225600));
    scheduler_pod_free(p);
}

Test(scheduler_view, node_with_garbage_allocatable_is_marked_invalid)
{
    json_t *j = jq("{'metadata':{'name':'n1'},'status':{'allocatable':{'cpu':'four'}}}");
    struct scheduler_node *n = scheduler_node_decode(j, NULL);
    cr_assert(n != NULL);
    cr_assert(n->invalid != NULL);
    cr_assert(strstr(n->invalid, "status.allocatable[cpu]") != NULL, "%s", n->invalid);
    scheduler_node_free(n);
    json_decref(j);
    j = jq("{'metadata':{'name':'n1'},'status':{'allocatable':'x'}}");
    n = scheduler_node_decode(j, NULL);
    cr_assert(n->invalid != NULL);
    scheduler_node_free(n);
    json_decref(j);
    j = jq("{'metadata':{}}");
    struct k8c_err *err = NULL;
    n = scheduler_node_decode(j, &err);
    cr_assert(n == NULL);
    k8c_err_free(err);
    json_decref(j);
}

Test(scheduler_view, image_names_are_normalized)
{
    char *a = scheduler_image_normalize("nginx");
    char *b = scheduler_image_normalize("localhost:5000/app");
    char *c = scheduler_image_normalize("nginx@sha256:abc");
    char *d = scheduler_image_normalize("registry.k8s.io/pause:3.9");
    cr_assert(eq(str, a, "nginx:latest"));
    cr_assert(eq(str, b, "localhost:5000/app:latest"));
    cr_assert(eq(str, c, "nginx@sha256:abc"));
    cr_assert(eq(str, d, "registry.k8s.io/pause:3.9"));
    free(a);
    free(b);
    free(c);
    free(d);
}

Test(scheduler_view, tolerations)
{
    struct scheduler_taint t = {"node-role", "infra", "NoSchedule"};
    struct scheduler_toleration equal = {"node-role", false, false, "infra", ""};
    struct scheduler_toleration wrong_value = {"node-role", false, false, "db", ""};
    struct scheduler_toleration exists_key = {"node-role", true, false, "", "NoSchedule"};
    struct scheduler_toleration exists_all = {"", true, false, "", ""};
    struct scheduler_toleration wrong_effect = {"node-role", true, false, "", "NoExecute"};
    bool r1 = scheduler_toleration_tolerates(&equal, &t);
    bool r2 = scheduler_toleration_tolerates(&wrong_value, &t);
    bool r3 = scheduler_toleration_tolerates(&exists_key, &t);
    bool r4 = scheduler_toleration_tolerates(&exists_all, &t);
    bool r5 = scheduler_toleration_tolerates(&wrong_effect, &t);
    cr_assert(r1 && !r2 && r3 && r4 && !r5, "%d %d %d %d %d", r1, r2, r3, r4, r5);
}
