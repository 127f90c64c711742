/* The incremental cluster snapshot (see snapshot.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "scheduler/snapshot.h"

struct scheduler_snapshot *scheduler_snapshot_new(void)
{
    struct scheduler_snapshot *s = xcalloc(1, sizeof(*s));
    s->info_index = json_object();
    s->pod_index = json_object();
    s->image_nodes = json_object();
    s->nominations = json_object();
    s->namespaces = json_object();
    s->services = json_object();
    s->controllers = json_object();
    return s;
}

static void info_free(struct scheduler_node_info *ni)
{
    for (size_t i = 0; i < ni->n_nominees; i++) {
        free(ni->nominees[i].key);
        scheduler_resources_clear(&ni->nominees[i].req);
    }
    free(ni->nominees);
    scheduler_node_free(ni->node);
    free(ni->name);
    scheduler_resources_clear(&ni->requested);
    free(ni->pods);
    free(ni);
}

void scheduler_snapshot_free(struct scheduler_snapshot *s)
{
    if (s == NULL)
        return;
    const char *key;
    json_t *v;
    json_object_foreach (s->pod_index, key, v) {
        scheduler_pod_free((struct scheduler_pod *)(intptr_t)json_integer_value(v));
    }
    for (size_t i = 0; i < s->n_infos; i++)
        info_free(s->infos[i]);
    free(s->infos);
    json_decref(s->info_index);
    json_decref(s->pod_index);
    json_decref(s->image_nodes);
    json_decref(s->nominations);
    json_decref(s->namespaces);
    json_decref(s->services);
    json_decref(s->controllers);
    free(s);
}

struct scheduler_node_info *scheduler_snapshot_info(const struct scheduler_snapshot *s,
                                                    const char *name)
{
    json_t *idx = json_object_get(s->info_index, name);
    return idx ? s->infos[json_integer_value(idx)] : NULL;
}

static struct scheduler_node_info *info_ensure(struct scheduler_snapshot *s, const char *name)
{
    struct scheduler_node_info *ni = scheduler_snapshot_info(s, name);
    if (ni != NULL)
        return ni;
    if (s->n_infos == s->cap_infos) {
        s->cap_infos = s->cap_infos ? s->cap_infos * 2 : 64;
        s->infos = xrealloc(s->infos, s->cap_infos * sizeof(*s->infos));
    }
    ni = xcalloc(1, sizeof(*ni));
    ni->name = xstrdup(name);
    json_object_set_new(s->info_index, name, json_integer((json_int_t)s->n_infos));
    s->infos[s->n_infos++] = ni;
    return ni;
}

/* Drops an info that has neither a node nor pods (swap with the last to stay compact). */
static void info_drop_if_empty(struct scheduler_snapshot *s, struct scheduler_node_info *ni)
{
    if (ni->node != NULL || ni->n_pods > 0 || ni->n_nominees > 0)
        return;
    size_t idx = (size_t)json_integer_value(json_object_get(s->info_index, ni->name));
    struct scheduler_node_info *last = s->infos[s->n_infos - 1];
    s->infos[idx] = last;
    json_object_set_new(s->info_index, last->name, json_integer((json_int_t)idx));
    s->n_infos--;
    json_object_del(s->info_index, ni->name);
    info_free(ni);
}

/* Counts (delta 1) or uncounts (-1) the node's distinct images. */
static void images_account(struct scheduler_snapshot *s, const struct scheduler_node *n, int delta)
{
    for (size_t i = 0; i < n->n_images; i++) {
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(n->images[j].name, n->images[i].name) == 0;
        if (dup)
            continue;
        json_int_t c = json_integer_value(json_object_get(s->image_nodes, n->images[i].name));
        c += delta;
        if (c <= 0)
            json_object_del(s->image_nodes, n->images[i].name);
        else
            json_object_set_new(s->image_nodes, n->images[i].name, json_integer(c));
    }
}

void scheduler_snapshot_node_set_take(struct scheduler_snapshot *s, struct scheduler_node *n)
{
    struct scheduler_node_info *ni = info_ensure(s, n->name);
    if (ni->node != NULL) {
        images_account(s, ni->node, -1);
        scheduler_node_free(ni->node);
    } else {
        s->n_nodes++;
    }
    ni->node = n;
    images_account(s, n, 1);
}

void scheduler_snapshot_node_remove(struct scheduler_snapshot *s, const char *name)
{
    struct scheduler_node_info *ni = scheduler_snapshot_info(s, name);
    if (ni == NULL || ni->node == NULL)
        return;
    images_account(s, ni->node, -1);
    scheduler_node_free(ni->node);
    ni->node = NULL;
    s->n_nodes--;
    info_drop_if_empty(s, ni);
}

static bool has_affinity(const struct scheduler_pod *p)
{
    return p->n_affinity || p->n_anti_affinity || p->n_pref_affinity || p->n_pref_anti_affinity;
}

const struct scheduler_pod *scheduler_snapshot_pod_get(const struct scheduler_snapshot *s,
                                                       const char *key)
{
    json_t *v = json_object_get(s->pod_index, key);
    return v ? (const struct scheduler_pod *)(intptr_t)json_integer_value(v) : NULL;
}

bool scheduler_snapshot_pod_remove(struct scheduler_snapshot *s, const char *key)
{
    struct scheduler_pod *p = (struct scheduler_pod *)scheduler_snapshot_pod_get(s, key);
    if (p == NULL)
        return false;
    struct scheduler_node_info *ni = scheduler_snapshot_info(s, p->node_name);
    K8C_ASSERT(ni != NULL);
    for (size_t i = 0; i < ni->n_pods; i++) {
        if (ni->pods[i] == p) {
            ni->pods[i] = ni->pods[--ni->n_pods];
            break;
        }
    }
    scheduler_resources_add(&ni->requested, &p->req, -1);
    ni->requested.pods--;
    ni->nonzero_cpu -= p->nonzero_cpu;
    ni->nonzero_memory -= p->nonzero_memory;
    if (has_affinity(p)) {
        ni->n_affinity_pods--;
        s->n_affinity_pods--;
    }
    if (p->n_anti_affinity)
        s->n_anti_pods--;
    json_object_del(s->pod_index, key);
    scheduler_pod_free(p);
    info_drop_if_empty(s, ni);
    return true;
}

void scheduler_snapshot_pod_set_take(struct scheduler_snapshot *s, struct scheduler_pod *p)
{
    scheduler_snapshot_pod_remove(s, p->key);
    if (p->node_name == NULL) {
        scheduler_pod_free(p);
        return;
    }
    struct scheduler_node_info *ni = info_ensure(s, p->node_name);
    if (ni->n_pods == ni->cap_pods) {
        ni->cap_pods = ni->cap_pods ? ni->cap_pods * 2 : 8;
        ni->pods = xrealloc(ni->pods, ni->cap_pods * sizeof(*ni->pods));
    }
    ni->pods[ni->n_pods++] = p;
    scheduler_resources_add(&ni->requested, &p->req, 1);
    ni->requested.pods++;
    ni->nonzero_cpu += p->nonzero_cpu;
    ni->nonzero_memory += p->nonzero_memory;
    if (has_affinity(p)) {
        ni->n_affinity_pods++;
        s->n_affinity_pods++;
    }
    if (p->n_anti_affinity)
        s->n_anti_pods++;
    json_object_set_new(s->pod_index, p->key, json_integer((json_int_t)(intptr_t)p));
}

size_t scheduler_snapshot_image_nodes(const struct scheduler_snapshot *s, const char *image)
{
    return (size_t)json_integer_value(json_object_get(s->image_nodes, image));
}

void scheduler_snapshot_unnominate(struct scheduler_snapshot *s, const char *key)
{
    const char *node = json_string_value(json_object_get(s->nominations, key));
    if (node == NULL)
        return;
    struct scheduler_node_info *ni = scheduler_snapshot_info(s, node);
    json_object_del(s->nominations, key); /* node is dangling from here on */
    if (ni == NULL)
        return;
    for (size_t i = 0; i < ni->n_nominees; i++) {
        if (strcmp(ni->nominees[i].key, key) != 0)
            continue;
        free(ni->nominees[i].key);
        scheduler_resources_clear(&ni->nominees[i].req);
        ni->nominees[i] = ni->nominees[--ni->n_nominees];
        break;
    }
    info_drop_if_empty(s, ni);
}

void scheduler_snapshot_nominate(struct scheduler_snapshot *s, const struct scheduler_pod *p,
                                 const char *node)
{
    scheduler_snapshot_unnominate(s, p->key);
    struct scheduler_node_info *ni = info_ensure(s, node);
    ni->nominees = xrealloc(ni->nominees, (ni->n_nominees + 1) * sizeof(*ni->nominees));
    struct scheduler_nominee *n = &ni->nominees[ni->n_nominees++];
    memset(n, 0, sizeof(*n));
    n->key = xstrdup(p->key);
    n->priority = p->priority;
    scheduler_resources_add(&n->req, &p->req, 1);
    json_object_set_new(s->nominations, p->key, json_string(node));
}

void scheduler_snapshot_namespace_set(struct scheduler_snapshot *s, const char *name,
                                      json_t *labels)
{
    if (labels == NULL)
        json_object_del(s->namespaces, name);
    else if (json_is_object(labels))
        json_object_set(s->namespaces, name, labels);
    else
        json_object_set_new(s->namespaces, name, json_object());
}

void scheduler_snapshot_workload_set(struct scheduler_snapshot *s, const char *kind, const char *ns,
                                     const char *name, json_t *selector)
{
    if (strcmp(kind, "Service") == 0) {
        json_t *in_ns = json_object_get(s->services, ns);
        if (selector == NULL || !json_is_object(selector) || json_object_size(selector) == 0) {
            json_object_del(in_ns, name); /* no selector: selects no pod */
            if (in_ns != NULL && json_object_size(in_ns) == 0)
                json_object_del(s->services, ns);
            return;
        }
        if (in_ns == NULL) {
            in_ns = json_object();
            json_object_set_new(s->services, ns, in_ns);
        }
        json_object_set(in_ns, name, selector);
        return;
    }
    char *key = xasprintf("%s/%s/%s", ns, kind, name);
    if (selector == NULL || !json_is_object(selector))
        json_object_del(s->controllers, key);
    else if (strcmp(kind, "ReplicationController") == 0)
        json_object_set_new(s->controllers, key, json_pack("{s:O}", "matchLabels", selector));
    else
        json_object_set(s->controllers, key, selector);
    free(key);
}
