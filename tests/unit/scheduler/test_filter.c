/* Unit tests for the filter plugins (filter.c) through scheduler_schedule, with the
 * FailedScheduling messages kube-scheduler writes. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "helpers.h"

#define ZONE "topology.kubernetes.io/zone"

static struct scheduler_snapshot *three_nodes(void)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(
        s, mknode("n1", "{'disk':'ssd','gen':'5'}", "2", "4Gi", 110, NULL));
    scheduler_snapshot_node_set_take(
        s, mknode("n2", "{'disk':'hdd','gen':'3'}", "2", "4Gi", 110, NULL));
    scheduler_snapshot_node_set_take(s, mknode("n3", "{'gen':'x'}", "2", "4Gi", 110, NULL));
    return s;
}

/* Where pod goes (spec text), or its message prefixed with "!" when it goes nowhere. */
static char *place(struct scheduler_snapshot *s, const char *labels, const char *spec)
{
    struct scheduler_pod *p = mkpod("p", labels, spec);
    struct scheduler_decision d = decide(s, p);
    char *out = d.node ? xstrdup(d.node) : xasprintf("!%s", d.message);
    scheduler_decision_clear(&d);
    scheduler_pod_free(p);
    return out;
}

static void expect(struct scheduler_snapshot *s, const char *labels, const char *spec,
                   const char *want)
{
    char *got = place(s, labels, spec);
    cr_assert(eq(str, got, (char *)want), "spec %s", spec);
    free(got);
}

Test(scheduler_filter, resources_fill_up_then_insufficient_cpu)
{
    struct scheduler_snapshot *s = three_nodes();
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "b%d", i);
        char node[16];
        snprintf(node, sizeof(node), "n%d", i + 1);
        scheduler_snapshot_pod_set_take(s, mkreq(name, "1500m", "1Gi", node));
    }
    expect(s, NULL, "'containers':[{'name':'c','resources':{'requests':{'cpu':'500m'}}}]", "n1");
    expect(s, NULL, "'containers':[{'name':'c','resources':{'requests':{'cpu':'501m'}}}]",
           "!0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
           "3 No preemption victims found for incoming pod.");
    expect(s, NULL,
           "'containers':[{'name':'c','resources':{'requests':{'cpu':'1','memory':'4Gi'}}}]",
           "!0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory. preemption: "
           "0/3 nodes are available: 3 No preemption victims found for incoming pod.");
    expect(s, NULL, "'containers':[{'name':'c','resources':{'requests':{'example.com/fpga':'1'}}}]",
           "!0/3 nodes are available: 3 Insufficient example.com/fpga. preemption: 0/3 nodes are "
           "available: 3 No preemption victims found for incoming pod.");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, too_many_pods)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "2", "4Gi", 1, NULL));
    scheduler_snapshot_pod_set_take(s, mkreq("a", NULL, NULL, "n1"));
    expect(s, NULL, NULL,
           "!0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No "
           "preemption victims found for incoming pod.");
    scheduler_snapshot_pod_remove(s, "default/a");
    expect(s, NULL, NULL, "n1");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, taints_and_tolerations)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "1", "1Gi", 110, NULL));
    const char *infra = "'taints':[{'key':'node-role','value':'infra','effect':'NoSchedule'}]";
    scheduler_snapshot_node_set_take(s, mknode("n2", NULL, "4", "4Gi", 110, infra));
    scheduler_snapshot_node_set_take(s, mknode("n3", NULL, "4", "4Gi", 110, infra));
    scheduler_snapshot_pod_set_take(s, mkreq("big", "1", NULL, "n1"));
    expect(s, NULL, "'containers':[{'name':'c','resources':{'requests':{'cpu':'100m'}}}]",
           "!0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
           "{node-role: infra}. preemption: 0/3 nodes are available: 1 No preemption victims "
           "found for incoming pod, 2 Preemption is not helpful for scheduling.");
    const char *tolerate = "'containers':[],'tolerations':[{'key':'node-role','operator':"
                           "'Equal','value':'infra','effect':'NoSchedule'}]";
    char *got = place(s, NULL, tolerate);
    bool ok = strcmp(got, "n2") == 0 || strcmp(got, "n3") == 0;
    cr_assert(ok, "%s", got);
    free(got);
    /* Exists with an empty key tolerates everything */
    got = place(s, NULL, "'containers':[],'tolerations':[{'operator':'Exists'}]");
    cr_assert(got[0] != '!', "%s", got);
    free(got);
    /* a toleration for another effect does not help: only n1 (which has cpu left for a pod
     * that requests none) */
    expect(s, NULL,
           "'containers':[],'tolerations':[{'key':'node-role','operator':'Exists','effect':"
           "'NoExecute'}]",
           "n1");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, no_execute_taints_filter_too_and_prefer_no_schedule_does_not)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(
        s,
        mknode("n1", NULL, "1", "1Gi", 110,
               "'taints':[{'key':'gone','effect':'NoExecute'},{'key':'x','effect':'NoSchedule'}]"));
    expect(s, NULL, NULL,
           "!0/1 nodes are available: 1 node(s) had untolerated taint {gone: }. preemption: 0/1 "
           "nodes are available: 1 Preemption is not helpful for scheduling.");
    scheduler_snapshot_node_set_take(
        s, mknode("n1", NULL, "1", "1Gi", 110,
                  "'taints':[{'key':'soft','value':'v','effect':'PreferNoSchedule'}]"));
    expect(s, NULL, NULL, "n1");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, unschedulable_node)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s,
                                     mknode("n1", NULL, "1", "1Gi", 110, "'unschedulable':true"));
    expect(s, NULL, NULL,
           "!0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
           "available: 1 Preemption is not helpful for scheduling.");
    expect(s, NULL,
           "'containers':[],'tolerations':[{'key':'node.kubernetes.io/unschedulable',"
           "'operator':'Exists','effect':'NoSchedule'}]",
           "n1");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, node_selector_and_every_affinity_operator)
{
    struct scheduler_snapshot *s = three_nodes();
    const char *msg3 = "!0/3 nodes are available: 3 node(s) didn't match Pod's node "
                       "affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is "
                       "not helpful for scheduling.";
    expect(s, NULL, "'containers':[],'nodeSelector':{'disk':'hdd'}", "n2");
    expect(s, NULL, "'containers':[],'nodeSelector':{'disk':'nvme'}", msg3);
#define REQ(expr)                                                                                  \
    "'containers':[],'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuring"           \
    "Execution':{'nodeSelectorTerms':[{'matchExpressions':[" expr "]}]}}}"
    expect(s, NULL, REQ("{'key':'disk','operator':'In','values':['ssd','nvme']}"), "n1");
    expect(s, NULL, REQ("{'key':'disk','operator':'NotIn','values':['ssd','hdd']}"), "n3");
    expect(s, NULL,
           REQ("{'key':'disk','operator':'Exists'},{'key':'disk','operator':'NotIn','values':"
               "['ssd']}"),
           "n2");
    expect(s, NULL, REQ("{'key':'disk','operator':'DoesNotExist'}"), "n3");
    expect(s, NULL, REQ("{'key':'gen','operator':'Gt','values':['4']}"), "n1");
    expect(s, NULL, REQ("{'key':'gen','operator':'Lt','values':['4']}"), "n2");
    /* a label that is not an integer never satisfies Gt/Lt; an operand that is not one
     * makes the term invalid */
    expect(s, NULL, REQ("{'key':'gen','operator':'Gt','values':['9']}"), msg3);
    expect(s, NULL, REQ("{'key':'gen','operator':'Gt','values':['four']}"), msg3);
    expect(s, NULL, REQ("{'key':'gen','operator':'Bogus','values':['1']}"), msg3);
#undef REQ
    /* terms are ORed; matchFields on metadata.name */
    expect(s, NULL,
           "'containers':[],'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuring"
           "Execution':{'nodeSelectorTerms':[{'matchExpressions':[{'key':'disk','operator':'In',"
           "'values':['none']}]},{'matchFields':[{'key':'metadata.name','operator':'In',"
           "'values':['n3']}]}]}}}",
           "n3");
    /* an empty term list matches nothing */
    expect(s, NULL,
           "'containers':[],'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuring"
           "Execution':{'nodeSelectorTerms':[]}}}",
           msg3);
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, host_ports)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "1", "1Gi", 110, NULL));
    struct scheduler_pod *web = mkpod(
        "web", NULL,
        "'nodeName':'n1','containers':[{'name':'c','ports':[{'containerPort':80,'hostPort':80},"
        "{'containerPort':53,'hostPort':53,'protocol':'UDP','hostIP':'10.0.0.1'}]}]");
    scheduler_snapshot_pod_set_take(s, web);
    const char *busy = "!0/1 nodes are available: 1 node(s) didn't have free ports for the "
                       "requested pod ports. preemption: 0/1 nodes are available: 1 No preemption "
                       "victims found for incoming pod.";
    expect(s, NULL, "'containers':[{'name':'c','ports':[{'containerPort':8,'hostPort':80}]}]",
           busy);
    expect(
        s, NULL,
        "'containers':[{'name':'c','ports':[{'containerPort':8,'hostPort':80,'protocol':'UDP'}]}]",
        "n1");
    expect(s, NULL,
           "'containers':[{'name':'c','ports':[{'containerPort':8,'hostPort':53,'protocol':'UDP',"
           "'hostIP':'10.0.0.2'}]}]",
           "n1");
    expect(
        s, NULL,
        "'containers':[{'name':'c','ports':[{'containerPort':8,'hostPort':53,'protocol':'UDP'}]}]",
        busy);
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, no_nodes)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    expect(s, NULL, NULL, "!no nodes available to schedule pods");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, invalid_node_is_never_chosen)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    json_t *j = jq("{'metadata':{'name':'bad'},'status':{'allocatable':{'cpu':'lots'}}}");
    scheduler_snapshot_node_set_take(s, scheduler_node_decode(j, NULL));
    json_decref(j);
    expect(s, NULL, NULL,
           "!0/1 nodes are available: 1 node(s) had invalid allocatable resources. preemption: "
           "0/1 nodes are available: 1 Preemption is not helpful for scheduling.");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, reasons_sort_as_strings)
{
    /* 10 nodes out of cpu, 2 tainted: "10 Insufficient cpu" sorts before "2 node(s)…" */
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%02d", i);
        scheduler_snapshot_node_set_take(
            s, mknode(name, NULL, i < 10 ? "100m" : "8", "1Gi", 110,
                      i < 10 ? NULL : "'taints':[{'key':'a','value':'b','effect':'NoSchedule'}]"));
    }
    char *got = place(s, NULL, "'containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]");
    cr_assert(eq(str, got,
                 "!0/12 nodes are available: 10 Insufficient cpu, 2 node(s) had untolerated taint "
                 "{a: b}. preemption: 0/12 nodes are available: 10 No preemption victims found for "
                 "incoming pod, 2 Preemption is not helpful for scheduling."));
    free(got);
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, preemption_policy_never)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "1", "1Gi", 110, NULL));
    scheduler_snapshot_pod_set_take(s, mkreq("a", "1", NULL, "n1"));
    expect(s, NULL,
           "'priority':10,'preemptionPolicy':'Never','containers':[{'name':'c','resources':"
           "{'requests':{'cpu':'1'}}}]",
           "!0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to "
           "preemptionPolicy=Never.");
    scheduler_snapshot_free(s);
}

Test(scheduler_filter, sampling_follows_kube_scheduler)
{
    cr_assert(eq(sz, scheduler_nodes_to_find(3, 0), 3));
    cr_assert(eq(sz, scheduler_nodes_to_find(99, 0), 99));
    cr_assert(eq(sz, scheduler_nodes_to_find(100, 0), 100));  /* 50% = 50 < 100 */
    cr_assert(eq(sz, scheduler_nodes_to_find(1000, 0), 420)); /* 50 - 8 = 42% */
    cr_assert(eq(sz, scheduler_nodes_to_find(5000, 0), 500)); /* 50 - 40 = 10% */
    cr_assert(eq(sz, scheduler_nodes_to_find(6000, 0), 300)); /* floor 5% */
    cr_assert(eq(sz, scheduler_nodes_to_find(10000, 0), 500));
    cr_assert(eq(sz, scheduler_nodes_to_find(1000, 100), 1000));
    cr_assert(eq(sz, scheduler_nodes_to_find(1000, 1), 100));
}

Test(scheduler_filter, sampling_stops_early_and_rotates)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%04d", i);
        scheduler_snapshot_node_set_take(s, mknode(name, NULL, "4", "8Gi", 110, NULL));
    }
    struct scheduler_pod *p = mkreq("p", "100m", NULL, NULL);
    struct scheduler_algorithm a = {.seed = 7};
    struct scheduler_decision d;
    scheduler_schedule(&a, s, p, &d);
    cr_assert(eq(sz, d.evaluated, 420));
    cr_assert(eq(sz, d.feasible, 420));
    cr_assert(eq(sz, a.next_start, 420));
    scheduler_decision_clear(&d);
    scheduler_schedule(&a, s, p, &d);
    cr_assert(eq(sz, a.next_start, 840));
    scheduler_decision_clear(&d);
    scheduler_pod_free(p);
    scheduler_snapshot_free(s);
}
