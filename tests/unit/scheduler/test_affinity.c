/* Unit tests for PodTopologySpread (spread.c) and InterPodAffinity (interpod.c) filters. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "api/selector.h"
#include "helpers.h"
#include "scheduler/internal.h"

#define ZONE "topology.kubernetes.io/zone"

/* n1 in zone a, n2 and n3 in zone b, n4 without a zone label (when with_bare). */
static struct scheduler_snapshot *zones(bool with_bare)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(
        s, mknode("n1", "{'" ZONE "':'a','kubernetes.io/hostname':'n1'}", "4", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(
        s, mknode("n2", "{'" ZONE "':'b','kubernetes.io/hostname':'n2'}", "4", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(
        s, mknode("n3", "{'" ZONE "':'b','kubernetes.io/hostname':'n3'}", "4", "8Gi", 110, NULL));
    if (with_bare)
        scheduler_snapshot_node_set_take(
            s, mknode("n4", "{'kubernetes.io/hostname':'n4'}", "4", "8Gi", 110, NULL));
    return s;
}

static void bind(struct scheduler_snapshot *s, const char *name, const char *labels,
                 const char *node, const char *extra)
{
    char *spec = xasprintf("'nodeName':'%s','containers':[]%s%s", node, extra ? "," : "",
                           extra ? extra : "");
    scheduler_snapshot_pod_set_take(s, mkpod(name, labels, spec));
    free(spec);
}

static char *place(struct scheduler_snapshot *s, const char *labels, const char *spec)
{
    struct scheduler_pod *p = mkpod("p", labels, spec);
    struct scheduler_decision d = decide(s, p);
    char *out = d.node ? xstrdup(d.node) : xasprintf("!%s", d.message);
    scheduler_decision_clear(&d);
    scheduler_pod_free(p);
    return out;
}

#define SPREAD(skew, key, when, extra)                                                             \
    "'containers':[],'topologySpreadConstraints':[{'maxSkew':" #skew ",'topologyKey':'" key        \
    "','whenUnsatisfiable':'" when "','labelSelector':{'matchLabels':{'app':'web'}}" extra "}]"

Test(scheduler_spread, max_skew_keeps_zones_even)
{
    struct scheduler_snapshot *s = zones(false);
    bind(s, "w1", "{'app':'web'}", "n1", NULL);
    for (int i = 0; i < 5; i++) {
        char *got = place(s, "{'app':'web'}", SPREAD(1, ZONE, "DoNotSchedule", ""));
        bool in_b = strcmp(got, "n2") == 0 || strcmp(got, "n3") == 0;
        bool in_a = strcmp(got, "n1") == 0;
        cr_assert(in_a || in_b, "%s", got);
        char name[16];
        snprintf(name, sizeof(name), "x%d", i);
        bind(s, name, "{'app':'web'}", got, NULL);
        free(got);
    }
    /* 6 pods over 2 zones with skew 1: 3 and 3 */
    size_t a = scheduler_snapshot_info(s, "n1")->n_pods;
    size_t b = scheduler_snapshot_info(s, "n2")->n_pods + scheduler_snapshot_info(s, "n3")->n_pods;
    cr_assert(eq(sz, a, 3));
    cr_assert(eq(sz, b, 3));
    scheduler_snapshot_free(s);
}

Test(scheduler_spread, skew_violated_everywhere_and_missing_label)
{
    struct scheduler_snapshot *s = zones(true);
    bind(s, "w1", "{'app':'web'}", "n1", NULL);
    bind(s, "w2", "{'app':'web'}", "n1", NULL);
    /* only zone a is allowed by nodeSelector; nodeAffinityPolicy Honor (default) then counts
     * only zone a as a domain, so min = 2 and skew 2 + 1 - 2 = 1 fits */
    char *got = place(s, "{'app':'web'}",
                      "'nodeSelector':{'" ZONE "':'a'}," SPREAD(1, ZONE, "DoNotSchedule", ""));
    cr_assert(eq(str, got, "n1"));
    free(got);
    /* with nodeAffinityPolicy Ignore, zone b counts (min 0): 2 + 1 - 0 > 1 */
    got = place(s, "{'app':'web'}",
                "'nodeSelector':{'" ZONE
                "':'a'}," SPREAD(1, ZONE, "DoNotSchedule", ",'nodeAffinityPolicy':'Ignore'"));
    cr_assert(eq(str, got,
                 "!0/4 nodes are available: 1 node(s) didn't match pod topology spread "
                 "constraints, 3 node(s) didn't match Pod's node affinity/selector. preemption: "
                 "0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 "
                 "Preemption is not helpful for scheduling."));
    free(got);
    /* the node without a zone label fails with the missing-label reason */
    got = place(
        s, "{'app':'web'}",
        "'nodeSelector':{'kubernetes.io/hostname':'n4'}," SPREAD(1, ZONE, "DoNotSchedule", ""));
    cr_assert(eq(str, got,
                 "!0/4 nodes are available: 1 node(s) didn't match pod topology spread constraints "
                 "(missing required label), 3 node(s) didn't match Pod's node affinity/selector. "
                 "preemption: 0/4 nodes are available: 4 Preemption is not helpful for "
                 "scheduling."));
    free(got);
    scheduler_snapshot_free(s);
}

Test(scheduler_spread, self_match_and_min_domains)
{
    struct scheduler_snapshot *s = zones(false);
    bind(s, "w1", "{'app':'web'}", "n1", NULL);
    /* the incoming pod is not selected by its own constraint: self match 0, so zone a
     * (1 + 0 - 0 = 1) is allowed */
    char *got = place(s, "{'app':'other'}",
                      "'nodeSelector':{'" ZONE
                      "':'a'}," SPREAD(1, ZONE, "DoNotSchedule", ",'nodeAffinityPolicy':'Ignore'"));
    cr_assert(eq(str, got, "n1"));
    free(got);
    /* one web pod per zone: the global minimum is 1, so either zone takes one more */
    bind(s, "w2", "{'app':'web'}", "n2", NULL);
    got = place(s, "{'app':'web'}", SPREAD(1, ZONE, "DoNotSchedule", ""));
    cr_assert(got[0] != '!', "%s", got);
    free(got);
    /* minDomains 3 > 2 zones: the global minimum is taken as 0, so 1 + 1 - 0 > 1 anywhere */
    got = place(s, "{'app':'web'}", SPREAD(1, ZONE, "DoNotSchedule", ",'minDomains':3"));
    cr_assert(eq(str, got,
                 "!0/3 nodes are available: 3 node(s) didn't match pod topology spread "
                 "constraints. preemption: 0/3 nodes are available: 3 No preemption victims "
                 "found for incoming pod."));
    free(got);
    scheduler_snapshot_free(s);
}

Test(scheduler_spread, schedule_anyway_scores_emptier_domains)
{
    struct scheduler_snapshot *s = zones(false);
    bind(s, "w1", "{'app':'web'}", "n2", NULL);
    bind(s, "w2", "{'app':'web'}", "n3", NULL);
    char *got = place(s, "{'app':'web'}", SPREAD(1, ZONE, "ScheduleAnyway", ""));
    cr_assert(eq(str, got, "n1"));
    free(got);
    scheduler_snapshot_free(s);
}

Test(scheduler_spread, terminating_and_other_namespace_pods_do_not_count)
{
    struct scheduler_snapshot *s = zones(false);
    json_t *j = jq("{'metadata':{'name':'t','namespace':'default','labels':{'app':'web'},"
                   "'deletionTimestamp':'2026-01-01T00:00:00Z'},'spec':{'nodeName':'n2',"
                   "'containers':[]}}");
    scheduler_snapshot_pod_set_take(s, scheduler_pod_decode(j, NULL));
    json_decref(j);
    j = jq("{'metadata':{'name':'o','namespace':'other','labels':{'app':'web'}},"
           "'spec':{'nodeName':'n3','containers':[]}}");
    scheduler_snapshot_pod_set_take(s, scheduler_pod_decode(j, NULL));
    json_decref(j);
    bind(s, "w1", "{'app':'web'}", "n1", NULL);
    char *got = place(s, "{'app':'web'}", SPREAD(1, ZONE, "DoNotSchedule", ""));
    bool in_b = strcmp(got, "n2") == 0 || strcmp(got, "n3") == 0;
    cr_assert(in_b, "%s", got);
    free(got);
    scheduler_snapshot_free(s);
}

#define ANTI(key)                                                                                  \
    "'containers':[],'affinity':{'podAntiAffinity':{'requiredDuringSchedulingIgnoredDuring"        \
    "Execution':[{'topologyKey':'" key "','labelSelector':{'matchLabels':{'app':'web'}}}]}}"
#define AFF(key, app)                                                                              \
    "'containers':[],'affinity':{'podAffinity':{'requiredDuringSchedulingIgnoredDuring"            \
    "Execution':[{'topologyKey':'" key "','labelSelector':{'matchLabels':{'app':'" app "'}}}]}}"

Test(scheduler_interpod, required_anti_affinity)
{
    struct scheduler_snapshot *s = zones(false);
    bind(s, "w1", "{'app':'web'}", "n1", NULL);
    bind(s, "w2", "{'app':'web'}", "n2", NULL);
    char *got = place(s, "{'app':'web'}", ANTI("kubernetes.io/hostname"));
    cr_assert(eq(str, got, "n3"));
    free(got);
    got = place(s, "{'app':'web'}", ANTI(ZONE));
    cr_assert(eq(str, got,
                 "!0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
                 "preemption: 0/3 nodes are available: 3 No preemption victims found for "
                 "incoming pod."));
    free(got);
    scheduler_snapshot_free(s);
}

Test(scheduler_interpod, required_affinity)
{
    struct scheduler_snapshot *s = zones(true);
    /* the first pod of a group with affinity to itself may go anywhere with the key */
    char *got = place(s, "{'app':'db'}", AFF(ZONE, "db"));
    cr_assert(got[0] != '!' && strcmp(got, "n4") != 0, "%s", got);
    free(got);
    /* affinity to a group that does not exist, and the pod is not in it */
    got = place(s, "{'app':'web'}", AFF(ZONE, "db"));
    cr_assert(eq(str, got,
                 "!0/4 nodes are available: 4 node(s) didn't match pod affinity rules. "
                 "preemption: 0/4 nodes are available: 4 Preemption is not helpful for "
                 "scheduling."));
    free(got);
    bind(s, "db1", "{'app':'db'}", "n2", NULL);
    for (int i = 0; i < 4; i++) {
        got = place(s, "{'app':'web'}", AFF(ZONE, "db"));
        bool in_b = strcmp(got, "n2") == 0 || strcmp(got, "n3") == 0;
        cr_assert(in_b, "%s", got);
        free(got);
    }
    scheduler_snapshot_free(s);
}

Test(scheduler_interpod, existing_pods_anti_affinity)
{
    struct scheduler_snapshot *s = zones(false);
    bind(s, "loner", "{'app':'loner'}", "n1",
         &ANTI("kubernetes.io/hostname")[strlen("'containers':[],")]);
    char *got = place(s, "{'app':'web'}",
                      "'nodeSelector':{'kubernetes.io/hostname':'n1'},"
                      "'containers':[]");
    cr_assert(eq(str, got,
                 "!0/3 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity "
                 "rules, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 "
                 "nodes are available: 1 No preemption victims found for incoming pod, 2 "
                 "Preemption is not helpful for scheduling."));
    free(got);
    /* a pod the term does not select is welcome */
    got = place(s, "{'app':'api'}",
                "'nodeSelector':{'kubernetes.io/hostname':'n1'},"
                "'containers':[]");
    cr_assert(eq(str, got, "n1"));
    free(got);
    /* other namespaces are not selected by a term without namespaces */
    scheduler_snapshot_free(s);
}

Test(scheduler_interpod, namespaces_of_terms)
{
    struct scheduler_snapshot *s = zones(false);
    json_t *j = jq("{'metadata':{'name':'o','namespace':'other','labels':{'app':'web'}},"
                   "'spec':{'nodeName':'n1','containers':[]}}");
    scheduler_snapshot_pod_set_take(s, scheduler_pod_decode(j, NULL));
    json_decref(j);
    /* own namespace only: the web pod in "other" does not repel */
    char *got = place(s, "{'app':'web'}", ANTI(ZONE) "");
    bool ok = got[0] != '!';
    cr_assert(ok, "%s", got);
    free(got);
    /* an empty namespaceSelector selects every namespace */
    got = place(s, "{'app':'web'}",
                "'nodeSelector':{'" ZONE "':'a'},'containers':[],'affinity':{'podAntiAffinity':"
                "{'requiredDuringSchedulingIgnoredDuringExecution':[{'topologyKey':'" ZONE "',"
                "'namespaceSelector':{},'labelSelector':{'matchLabels':{'app':'web'}}}]}}");
    cr_assert(got[0] == '!', "%s", got);
    free(got);
    /* listed namespaces */
    got = place(s, "{'app':'web'}",
                "'nodeSelector':{'" ZONE "':'a'},'containers':[],'affinity':{'podAntiAffinity':"
                "{'requiredDuringSchedulingIgnoredDuringExecution':[{'topologyKey':'" ZONE "',"
                "'namespaces':['other'],'labelSelector':{'matchLabels':{'app':'web'}}}]}}");
    cr_assert(got[0] == '!', "%s", got);
    free(got);
    scheduler_snapshot_free(s);
}

Test(scheduler_interpod, namespace_selector_with_labels)
{
    struct scheduler_snapshot *s = zones(false);
    json_t *labels = jq("{'team':'blue'}");
    scheduler_snapshot_namespace_set(s, "other", labels);
    json_decref(labels);
    json_t *j = jq("{'metadata':{'name':'o','namespace':'other','labels':{'app':'web'}},"
                   "'spec':{'nodeName':'n1','containers':[]}}");
    scheduler_snapshot_pod_set_take(s, scheduler_pod_decode(j, NULL));
    json_decref(j);
    const char *spec =
        "'nodeSelector':{'" ZONE "':'a'},'containers':[],'affinity':{'podAntiAffinity':"
        "{'requiredDuringSchedulingIgnoredDuringExecution':[{'topologyKey':'" ZONE "',"
        "'namespaceSelector':{'matchLabels':{'team':'blue'}},'labelSelector':{'matchLabels':"
        "{'app':'web'}}}]}}";
    char *got = place(s, "{'app':'web'}", spec);
    cr_assert(got[0] == '!', "%s", got);
    free(got);
    /* relabel the namespace: the term no longer selects it */
    labels = jq("{'team':'red'}");
    scheduler_snapshot_namespace_set(s, "other", labels);
    json_decref(labels);
    got = place(s, "{'app':'web'}", spec);
    cr_assert(eq(str, got, "n1"));
    free(got);
    scheduler_snapshot_namespace_set(s, "other", NULL);
    scheduler_snapshot_free(s);
}

Test(scheduler_spread, system_defaults_spread_pods_of_a_service_and_controller)
{
    /* Three equal nodes; web pods: two on n1, one on n2, none on n3. n3 carries other pods
     * so that the resource scores do not favour it. */
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    const char *names[] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++) {
        char labels[128];
        snprintf(labels, sizeof(labels), "{'kubernetes.io/hostname':'%s'}", names[i]);
        scheduler_snapshot_node_set_take(s, mknode(names[i], labels, "100", "100Gi", 110, NULL));
    }
    bind(s, "w1", "{'app':'web'}", "n1", NULL);
    bind(s, "w2", "{'app':'web'}", "n1", NULL);
    bind(s, "w3", "{'app':'web'}", "n2", NULL);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "other%d", i);
        bind(s, name, "{'app':'other'}", "n3", NULL);
    }
    struct scheduler_pod *p = mkpod("p", "{'app':'web'}", "'containers':[]");
    struct api_label_selector *none = scheduler__default_spread_selector(s, p);
    cr_assert(none == NULL);
    json_t *sel = jq("{'app':'web'}");
    scheduler_snapshot_workload_set(s, "Service", "default", "web", sel);
    json_decref(sel);
    for (unsigned seed = 1; seed < 6; seed++) {
        struct scheduler_algorithm a = {.seed = seed};
        struct scheduler_decision d;
        scheduler_schedule(&a, s, p, &d);
        cr_assert(eq(str, d.node, "n3"), "seed %u", seed);
        scheduler_decision_clear(&d);
    }
    scheduler_pod_free(p);
    /* a ReplicaSet owner's selector joins in; a Service in another namespace does not */
    sel = jq("{'matchExpressions':[{'key':'tier','operator':'In','values':['front']}]}");
    scheduler_snapshot_workload_set(s, "ReplicaSet", "default", "web-1", sel);
    json_decref(sel);
    json_t *j = jq("{'metadata':{'name':'q','namespace':'default','labels':{'app':'web','tier':"
                   "'front'},'ownerReferences':[{'apiVersion':'apps/v1','kind':'ReplicaSet',"
                   "'name':'web-1','uid':'u','controller':true}]},'spec':{'containers':[]}}");
    struct scheduler_pod *q = scheduler_pod_decode(j, NULL);
    json_decref(j);
    struct api_label_selector *both = scheduler__default_spread_selector(s, q);
    cr_assert(both != NULL);
    char *text = api_label_selector_string(both);
    cr_assert(eq(str, text, "app=web,tier in (front)"));
    free(text);
    api_label_selector_free(both);
    scheduler_pod_free(q);
    scheduler_snapshot_workload_set(s, "Service", "default", "web", NULL);
    scheduler_snapshot_workload_set(s, "ReplicaSet", "default", "web-1", NULL);
    scheduler_snapshot_free(s);
}
