/* Unit tests for the score plugins (score.c, interpod.c), preemption (algorithm.c) and the
 * incremental snapshot (snapshot.c). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "helpers.h"

#define ZONE "topology.kubernetes.io/zone"

static void expect(struct scheduler_snapshot *s, const char *labels, const char *spec,
                   const char *want)
{
    /* several seeds: ties would show up as different answers */
    for (unsigned seed = 1; seed < 6; seed++) {
        struct scheduler_pod *p = mkpod("p", labels, spec);
        struct scheduler_algorithm a = {.seed = seed};
        struct scheduler_decision d;
        scheduler_schedule(&a, s, p, &d);
        cr_assert(d.node != NULL, "%s", d.message);
        cr_assert(eq(str, d.node, (char *)want), "spec %s seed %u", spec, seed);
        scheduler_decision_clear(&d);
        scheduler_pod_free(p);
    }
}

Test(scheduler_score, least_allocated_prefers_the_emptier_node)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "4", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(s, mknode("n2", NULL, "4", "8Gi", 110, NULL));
    scheduler_snapshot_pod_set_take(s, mkreq("a", "2", "4Gi", "n1"));
    expect(s, NULL,
           "'containers':[{'name':'c','resources':{'requests':{'cpu':'1','memory':'1Gi'}}}]", "n2");
    /* pods requesting nothing count 100m / 200Mi for scoring */
    scheduler_snapshot_pod_set_take(s, mkreq("a", NULL, NULL, "n1"));
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "e%d", i);
        scheduler_snapshot_pod_set_take(s, mkreq(name, NULL, NULL, "n2"));
    }
    expect(s, NULL, NULL, "n1");
    scheduler_snapshot_free(s);
}

Test(scheduler_score, balanced_allocation_breaks_equal_least_allocated)
{
    /* Both nodes end up 50% allocated on average; n2 balanced (50/50), n1 not (100/0). */
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "4", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(s, mknode("n2", NULL, "4", "8Gi", 110, NULL));
    scheduler_snapshot_pod_set_take(s, mkreq("a", "3", "1", "n1"));
    scheduler_snapshot_pod_set_take(s, mkreq("b", "1", "4Gi", "n2"));
    expect(s, NULL, "'containers':[{'name':'c','resources':{'requests':{'cpu':'1','memory':'1'}}}]",
           "n2");
    scheduler_snapshot_free(s);
}

Test(scheduler_score, prefer_no_schedule_taints)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(
        s, mknode("n1", NULL, "4", "8Gi", 110,
                  "'taints':[{'key':'spot','value':'yes','effect':'PreferNoSchedule'}]"));
    scheduler_snapshot_node_set_take(s, mknode("n2", NULL, "4", "8Gi", 110, NULL));
    scheduler_snapshot_pod_set_take(s, mkreq("a", "1", "1Gi", "n2"));
    expect(s, NULL, NULL, "n2");
    /* tolerated: n1 is emptier and wins */
    expect(s, NULL, "'containers':[],'tolerations':[{'key':'spot','operator':'Exists'}]", "n1");
    scheduler_snapshot_free(s);
}

Test(scheduler_score, preferred_node_affinity_weights)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", "{'disk':'ssd'}", "4", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(s, mknode("n2", "{'gpu':'yes'}", "4", "8Gi", 110, NULL));
    const char *spec =
        "'containers':[],'affinity':{'nodeAffinity':{'preferredDuringSchedulingIgnoredDuring"
        "Execution':[{'weight':10,'preference':{'matchExpressions':[{'key':'disk','operator':"
        "'In','values':['ssd']}]}},{'weight':50,'preference':{'matchExpressions':[{'key':"
        "'gpu','operator':'Exists'}]}}]}}";
    expect(s, NULL, spec, "n2");
    scheduler_snapshot_free(s);
}

Test(scheduler_score, image_locality)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "4", "8Gi", 110, NULL));
    json_t *j = jq("{'metadata':{'name':'n2'},'status':{'allocatable':{'cpu':'4','memory':'8Gi',"
                   "'pods':'110'},'images':[{'names':['docker.io/library/big:1','big:1'],"
                   "'sizeBytes':800000000}]}}");
    scheduler_snapshot_node_set_take(s, scheduler_node_decode(j, NULL));
    json_decref(j);
    cr_assert(eq(sz, scheduler_snapshot_image_nodes(s, "big:1"), 1));
    expect(s, NULL, "'containers':[{'name':'c','image':'big:1'}]", "n2");
    scheduler_snapshot_node_remove(s, "n2");
    cr_assert(eq(sz, scheduler_snapshot_image_nodes(s, "big:1"), 0));
    scheduler_snapshot_free(s);
}

Test(scheduler_score, preferred_pod_affinity_and_anti_affinity)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", "{'" ZONE "':'a'}", "4", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(s, mknode("n2", "{'" ZONE "':'b'}", "4", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(s, mknode("n3", "{'" ZONE "':'c'}", "4", "8Gi", 110, NULL));
    scheduler_snapshot_pod_set_take(s,
                                    mkpod("db", "{'app':'db'}", "'nodeName':'n2','containers':[]"));
    expect(s, NULL,
           "'containers':[],'affinity':{'podAffinity':{'preferredDuringSchedulingIgnoredDuring"
           "Execution':[{'weight':100,'podAffinityTerm':{'topologyKey':'" ZONE "',"
           "'labelSelector':{'matchLabels':{'app':'db'}}}}]}}",
           "n2");
    /* an existing pod's preferred anti-affinity repels the incoming pod it selects */
    scheduler_snapshot_pod_set_take(
        s, mkpod("shy", "{'app':'shy'}",
                 "'nodeName':'n1','containers':[],'affinity':{'podAntiAffinity':{'preferred"
                 "DuringSchedulingIgnoredDuringExecution':[{'weight':100,'podAffinityTerm':"
                 "{'topologyKey':'" ZONE "','labelSelector':{'matchLabels':{'app':'web'}}}}]}}"));
    scheduler_snapshot_pod_set_take(s, mkpod("filler", NULL,
                                             "'nodeName':'n3','containers':[{'name':'c',"
                                             "'resources':{'requests':{'cpu':'3'}}}]"));
    /* n1 is repelled, n3 is full-ish, n2 wins despite the db pod's requests being nil */
    expect(s, "{'app':'web'}", "'containers':[]", "n2");
    scheduler_snapshot_free(s);
}

Test(scheduler_preemption, evicts_the_fewest_lowest_priority_pods)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "2", "8Gi", 110, NULL));
    scheduler_snapshot_node_set_take(s, mknode("n2", NULL, "2", "8Gi", 110, NULL));
    /* n1: two priority-5 pods of 1 cpu; n2: one priority-1 pod of 1 cpu and one of 1 cpu at
     * priority 1 too. The preemptor (priority 10) needs 1 cpu: one victim suffices on each,
     * the lower priority (n2) wins. */
    scheduler_snapshot_pod_set_take(
        s, mkpod("a1", NULL,
                 "'nodeName':'n1','priority':5,'containers':[{'name':'c','resources':"
                 "{'requests':{'cpu':'1'}}}]"));
    scheduler_snapshot_pod_set_take(
        s, mkpod("a2", NULL,
                 "'nodeName':'n1','priority':5,'containers':[{'name':'c','resources':"
                 "{'requests':{'cpu':'1'}}}]"));
    scheduler_snapshot_pod_set_take(
        s, mkpod("b1", NULL,
                 "'nodeName':'n2','priority':1,'containers':[{'name':'c','resources':"
                 "{'requests':{'cpu':'1'}}}]"));
    scheduler_snapshot_pod_set_take(s,
                                    mkpod("b2", NULL,
                                          "'nodeName':'n2','priority':20,'containers':[{'name':'c',"
                                          "'resources':{'requests':{'cpu':'1'}}}]"));
    struct scheduler_pod *p =
        mkpod("p", NULL,
              "'priority':10,'containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]");
    struct scheduler_decision d = decide(s, p);
    cr_assert(d.node == NULL);
    cr_assert(eq(str, d.message, "0/2 nodes are available: 2 Insufficient cpu."));
    cr_assert(eq(str, d.nominated_node, "n2"));
    cr_assert(eq(sz, d.n_victims, 1));
    cr_assert(eq(str, d.victims[0], "default/b1"));
    scheduler_decision_clear(&d);
    scheduler_pod_free(p);

    /* a pod that needs 2 cpu on n1 must evict both; on n2 it cannot (b2 outranks it) */
    p = mkpod("p", NULL,
              "'priority':10,'containers':[{'name':'c','resources':{'requests':{'cpu':'2'}}}]");
    d = decide(s, p);
    cr_assert(eq(str, d.nominated_node, "n1"));
    cr_assert(eq(sz, d.n_victims, 2));
    scheduler_decision_clear(&d);
    scheduler_pod_free(p);

    /* nothing to gain: the histogram of the dry run */
    p = mkpod("p", NULL,
              "'priority':10,'containers':[{'name':'c','resources':{'requests':{'cpu':'3'}}}]");
    d = decide(s, p);
    cr_assert(d.nominated_node == NULL);
    cr_assert(eq(str, d.message,
                 "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are "
                 "available: 2 Insufficient cpu."));
    scheduler_decision_clear(&d);
    scheduler_pod_free(p);
    scheduler_snapshot_free(s);
}

Test(scheduler_preemption, anti_affinity_victims_are_simulated)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(
        s, mknode("n1", "{'kubernetes.io/hostname':'n1'}", "4", "8Gi", 110, NULL));
    scheduler_snapshot_pod_set_take(
        s, mkpod("old", "{'app':'web'}", "'nodeName':'n1','priority':1,'containers':[]"));
    struct scheduler_pod *p = mkpod(
        "p", "{'app':'web'}",
        "'priority':10,'containers':[],'affinity':{'podAntiAffinity':{'requiredDuringScheduling"
        "IgnoredDuringExecution':[{'topologyKey':'kubernetes.io/hostname','labelSelector':"
        "{'matchLabels':{'app':'web'}}}]}}");
    struct scheduler_decision d = decide(s, p);
    cr_assert(eq(str, d.message,
                 "0/1 nodes are available: 1 node(s) didn't match pod "
                 "anti-affinity rules."));
    cr_assert(eq(str, d.nominated_node, "n1"));
    cr_assert(eq(sz, d.n_victims, 1));
    scheduler_decision_clear(&d);
    scheduler_pod_free(p);
    scheduler_snapshot_free(s);
}

Test(scheduler_snapshot, incremental_accounting)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    /* a pod bound to a node not yet seen is kept on a ghost entry */
    scheduler_snapshot_pod_set_take(s, mkreq("a", "500m", "1Gi", "n1"));
    cr_assert(eq(sz, s->n_nodes, 0));
    cr_assert(eq(sz, s->n_infos, 1));
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "4", "8Gi", 110, NULL));
    cr_assert(eq(sz, s->n_nodes, 1));
    struct scheduler_node_info *ni = scheduler_snapshot_info(s, "n1");
    cr_assert(eq(i64, ni->requested.milli_cpu, 500));
    cr_assert(eq(i64, ni->requested.pods, 1));
    /* an update replaces the old accounting; a move changes nodes */
    scheduler_snapshot_pod_set_take(s, mkreq("a", "1", "1Gi", "n1"));
    cr_assert(eq(i64, ni->requested.milli_cpu, 1000));
    cr_assert(eq(sz, ni->n_pods, 1));
    scheduler_snapshot_node_set_take(s, mknode("n2", NULL, "4", "8Gi", 110, NULL));
    scheduler_snapshot_pod_set_take(s, mkreq("b", "2", NULL, "n2"));
    scheduler_snapshot_pod_set_take(s, mkreq("c", "1", NULL, "n2"));
    struct scheduler_node_info *n2 = scheduler_snapshot_info(s, "n2");
    cr_assert(eq(i64, n2->requested.milli_cpu, 3000));
    bool removed = scheduler_snapshot_pod_remove(s, "default/b");
    cr_assert(removed);
    cr_assert(eq(i64, n2->requested.milli_cpu, 1000));
    removed = scheduler_snapshot_pod_remove(s, "default/b");
    cr_assert(eq(int, removed, false));
    /* node removal keeps its pods accounted until they go */
    scheduler_snapshot_node_remove(s, "n1");
    cr_assert(eq(sz, s->n_nodes, 1));
    cr_assert(scheduler_snapshot_info(s, "n1") != NULL);
    scheduler_snapshot_pod_remove(s, "default/a");
    cr_assert(scheduler_snapshot_info(s, "n1") == NULL);
    cr_assert(eq(sz, s->n_infos, 1));
    /* a pod without a node name is ignored */
    scheduler_snapshot_pod_set_take(s, mkreq("d", "1", NULL, NULL));
    cr_assert(scheduler_snapshot_pod_get(s, "default/d") == NULL);
    scheduler_snapshot_free(s);
}

Test(scheduler_preemption, nominated_pods_keep_their_room)
{
    struct scheduler_snapshot *s = scheduler_snapshot_new();
    scheduler_snapshot_node_set_take(s, mknode("n1", NULL, "2", "8Gi", 110, NULL));
    struct scheduler_pod *vip =
        mkpod("vip", NULL,
              "'priority':10,'containers':[{'name':'c','resources':{'requests':{'cpu':'2'}}}]");
    scheduler_snapshot_nominate(s, vip, "n1");
    struct scheduler_pod *low =
        mkpod("low", NULL,
              "'priority':0,'containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]");
    struct scheduler_decision d = decide(s, low);
    cr_assert(d.node == NULL);
    cr_assert(eq(str, d.message,
                 "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                 "available: 1 No preemption victims found for incoming pod."));
    scheduler_decision_clear(&d);
    /* the nominee itself, and pods of higher priority, are not held back */
    d = decide(s, vip);
    cr_assert(eq(str, d.node, "n1"));
    scheduler_decision_clear(&d);
    struct scheduler_pod *high =
        mkpod("high", NULL,
              "'priority':20,'containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]");
    d = decide(s, high);
    cr_assert(eq(str, d.node, "n1"));
    scheduler_decision_clear(&d);
    scheduler_snapshot_unnominate(s, "default/vip");
    d = decide(s, low);
    cr_assert(eq(str, d.node, "n1"));
    scheduler_decision_clear(&d);
    scheduler_pod_free(vip);
    scheduler_pod_free(low);
    scheduler_pod_free(high);
    scheduler_snapshot_free(s);
}
