/* Shared helpers for the scheduler's unit tests: objects from compact JSON text (single
 * quotes stand for double quotes) and a snapshot built from them. */
#ifndef K8C_TESTS_SCHEDULER_HELPERS_H
#define K8C_TESTS_SCHEDULER_HELPERS_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "scheduler/algorithm.h"
#include "scheduler/snapshot.h"
#include "scheduler/view.h"

static inline json_t *jq(const char *text)
{
    char *s = xstrdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    struct k8c_err *err = NULL;
    json_t *v = kjson_parse(s, strlen(s), &err);
    if (v == NULL)
        cr_fatal("bad test JSON %s: %s", s, err->msg);
    free(s);
    return v;
}

/* A node named name with labels (JSON object text or NULL), allocatable cpu/memory/pods and
 * extra spec (JSON object members text, e.g. "'taints':[…]", or NULL). */
static inline struct scheduler_node *mknode(const char *name, const char *labels, const char *cpu,
                                            const char *mem, int pods, const char *spec)
{
    char *text = xasprintf("{'metadata':{'name':'%s','labels':%s},'spec':{%s},"
                           "'status':{'allocatable':{'cpu':'%s','memory':'%s','pods':'%d'}}}",
                           name, labels ? labels : "{}", spec ? spec : "", cpu, mem, pods);
    json_t *j = jq(text);
    free(text);
    struct scheduler_node *n = scheduler_node_decode(j, NULL);
    json_decref(j);
    cr_assert(n != NULL);
    return n;
}

/* A pod from its spec members text (e.g. "'containers':[…]"), labels and priority. */
static inline struct scheduler_pod *mkpod(const char *name, const char *labels, const char *spec)
{
    char *text = xasprintf("{'metadata':{'name':'%s','namespace':'default','labels':%s,"
                           "'creationTimestamp':'2026-01-01T00:00:00Z'},'spec':{%s}}",
                           name, labels ? labels : "{}", spec ? spec : "'containers':[]");
    json_t *j = jq(text);
    free(text);
    struct k8c_err *err = NULL;
    struct scheduler_pod *p = scheduler_pod_decode(j, &err);
    json_decref(j);
    if (p == NULL)
        cr_fatal("pod decode: %s", err->msg);
    return p;
}

/* A pod requesting cpu and memory (NULL: none), optionally bound to node. */
static inline struct scheduler_pod *mkreq(const char *name, const char *cpu, const char *mem,
                                          const char *node)
{
    char *spec =
        xasprintf("'containers':[{'name':'c','image':'nginx','resources':{'requests':"
                  "{%s%s%s%s%s}}}]%s%s%s",
                  cpu ? "'cpu':'" : "", cpu ? cpu : "", cpu ? "'" : "", cpu && mem ? "," : "", "",
                  node ? ",'nodeName':'" : "", node ? node : "", node ? "'" : "");
    if (mem) {
        char *s2 = xasprintf("'containers':[{'name':'c','image':'nginx','resources':{'requests':"
                             "{%s%s%s%s'memory':'%s'}}}]%s%s%s",
                             cpu ? "'cpu':'" : "", cpu ? cpu : "", cpu ? "'" : "", cpu ? "," : "",
                             mem, node ? ",'nodeName':'" : "", node ? node : "", node ? "'" : "");
        free(spec);
        spec = s2;
    }
    struct scheduler_pod *p = mkpod(name, NULL, spec);
    free(spec);
    return p;
}

/* Schedules p on s with a fixed seed; returns the decision (caller clears). */
static inline struct scheduler_decision decide(const struct scheduler_snapshot *s,
                                               const struct scheduler_pod *p)
{
    struct scheduler_algorithm a = {.seed = 1};
    struct scheduler_decision d;
    scheduler_schedule(&a, s, p, &d);
    return d;
}

#endif
