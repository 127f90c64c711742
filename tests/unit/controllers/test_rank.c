/* Unit tests for src/controllers/rank.c and expectations.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "controllers/internal.h"

static json_t *pod(const char *name, const char *node, const char *phase, bool ready,
                   const char *created, int restarts)
{
    json_t *p =
        json_pack("{s:{s:s,s:s},s:{},s:{s:s,s:[{s:s,s:s,s:s}],s:[{s:i}]}}", "metadata", "name",
                  name, "creationTimestamp", created, "spec", "status", "phase", phase,
                  "conditions", "type", "Ready", "status", ready ? "True" : "False",
                  "lastTransitionTime", created, "containerStatuses", "restartCount", restarts);
    if (node)
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
    return p;
}

static const char *name_at(json_t *pods, size_t i)
{
    return kjson_path_str(json_array_get(pods, i), "metadata.name");
}

Test(controllers_rank, least_valuable_first)
{
    _cleanup_json_ json_t *pods = json_array();
    json_array_append_new(pods,
                          pod("running-old", "n1", "Running", true, "2026-01-01T00:00:00Z", 0));
    json_array_append_new(pods,
                          pod("running-new", "n2", "Running", true, "2026-01-02T00:00:00Z", 0));
    json_array_append_new(pods,
                          pod("unassigned", NULL, "Pending", false, "2026-01-01T00:00:00Z", 0));
    json_array_append_new(pods, pod("pending", "n3", "Pending", false, "2026-01-01T00:00:00Z", 0));
    json_array_append_new(pods, pod("notready", "n4", "Running", false, "2026-01-01T00:00:00Z", 0));
    json_array_append_new(pods, pod("restarts", "n5", "Running", true, "2026-01-01T00:00:00Z", 5));
    ctl__pods_rank_for_deletion(pods, 0);
    const char *want[] = {"unassigned",  "pending",  "notready",
                          "running-new", "restarts", "running-old"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        cr_assert(eq(str, (char *)name_at(pods, i), (char *)want[i]), "position %zu", i);
}

Test(controllers_rank, deletion_cost_and_colocation)
{
    _cleanup_json_ json_t *pods = json_array();
    json_t *costly = pod("costly", "n1", "Running", true, "2026-01-01T00:00:00Z", 0);
    json_object_set_new(json_object_get(costly, "metadata"), "annotations",
                        json_pack("{s:s}", "controller.kubernetes.io/pod-deletion-cost", "100"));
    json_array_append_new(pods, costly);
    json_array_append_new(pods, pod("alone", "n2", "Running", true, "2026-01-01T00:00:00Z", 0));
    json_array_append_new(pods, pod("crowded-a", "n3", "Running", true, "2026-01-01T00:00:00Z", 0));
    json_array_append_new(pods, pod("crowded-b", "n3", "Running", true, "2026-01-01T00:00:00Z", 0));
    ctl__pods_rank_for_deletion(pods, 0);
    cr_assert(eq(str, (char *)name_at(pods, 0), "crowded-a"));
    cr_assert(eq(str, (char *)name_at(pods, 1), "crowded-b"));
    cr_assert(eq(str, (char *)name_at(pods, 2), "alone"));
    cr_assert(eq(str, (char *)name_at(pods, 3), "costly"));
}

Test(controllers_expectations, creations_and_deletions_must_be_observed)
{
    struct ctl_expectations *e = ctl__expectations_new();
    cr_assert(ctl__expectations_satisfied(e, "ns/rs"));
    ctl__expectations_expect_creations(e, "ns/rs", 2);
    cr_assert(not(ctl__expectations_satisfied(e, "ns/rs")));
    ctl__expectations_creation_observed(e, "ns/rs");
    cr_assert(not(ctl__expectations_satisfied(e, "ns/rs")));
    ctl__expectations_creation_observed(e, "ns/rs");
    cr_assert(ctl__expectations_satisfied(e, "ns/rs"));
    /* An extra observation (someone else's pod) never goes negative. */
    ctl__expectations_creation_observed(e, "ns/rs");
    ctl__expectations_expect_creations(e, "ns/rs", 1);
    cr_assert(not(ctl__expectations_satisfied(e, "ns/rs")));
    ctl__expectations_creation_observed(e, "ns/rs");

    const char *victims[] = {"ns/a", "ns/b"};
    ctl__expectations_expect_deletions(e, "ns/rs", victims, 2);
    cr_assert(not(ctl__expectations_satisfied(e, "ns/rs")));
    /* The same deletion seen twice (graceful update, then DELETED) counts once. */
    ctl__expectations_deletion_observed(e, "ns/rs", "ns/a");
    ctl__expectations_deletion_observed(e, "ns/rs", "ns/a");
    cr_assert(not(ctl__expectations_satisfied(e, "ns/rs")));
    ctl__expectations_deletion_observed(e, "ns/rs", "ns/b");
    cr_assert(ctl__expectations_satisfied(e, "ns/rs"));
    ctl__expectations_free(e);
}

Test(controllers_expectations, expire_after_five_minutes)
{
    struct ctl_expectations *e = ctl__expectations_new();
    ctl__expectations_expect_creations(e, "ns/rs", 5);
    cr_assert(not(ctl__expectations_satisfied(e, "ns/rs")));
    ctl__expectations_age(e, 301);
    cr_assert(ctl__expectations_satisfied(e, "ns/rs"));
    ctl__expectations_delete(e, "ns/rs");
    cr_assert(ctl__expectations_satisfied(e, "ns/rs"));
    ctl__expectations_free(e);
}
