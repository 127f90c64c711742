/* Unit tests for src/controllers/rollout.c: the rolling-update arithmetic, checked against
 * the values Kubernetes' deployment util computes. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "base/json.h"
#include "base/mem.h"
#include "controllers/internal.h"

Test(controllers_rollout, percentages_round_surge_up_and_unavailable_down)
{
    _cleanup_json_ json_t *p25 = json_string("25%");
    int64_t v = ctl__intstr_scaled(p25, NULL, 10, true);
    cr_assert(eq(i64, v, 3));
    v = ctl__intstr_scaled(p25, NULL, 10, false);
    cr_assert(eq(i64, v, 2));
    _cleanup_json_ json_t *i2 = json_integer(2);
    v = ctl__intstr_scaled(i2, NULL, 10, true);
    cr_assert(eq(i64, v, 2));
    v = ctl__intstr_scaled(NULL, "25%", 3, true);
    cr_assert(eq(i64, v, 1));
    v = ctl__intstr_scaled(NULL, "25%", 3, false);
    cr_assert(eq(i64, v, 0));
    _cleanup_json_ json_t *bad = json_string("5");
    v = ctl__intstr_scaled(bad, NULL, 10, true);
    cr_assert(eq(i64, v, -1));
    _cleanup_json_ json_t *bad2 = json_string("x%");
    v = ctl__intstr_scaled(bad2, NULL, 10, true);
    cr_assert(eq(i64, v, -1));
}

Test(controllers_rollout, fenceposts_never_both_zero)
{
    _cleanup_json_ json_t *d =
        json_pack("{s:{s:i,s:{s:s,s:{s:i,s:i}}}}", "spec", "replicas", 3, "strategy", "type",
                  "RollingUpdate", "rollingUpdate", "maxSurge", 0, "maxUnavailable", 0);
    int64_t surge, unavailable;
    ctl__fenceposts(d, &surge, &unavailable);
    cr_assert(eq(i64, surge, 0));
    cr_assert(eq(i64, unavailable, 1));
    _cleanup_json_ json_t *dflt = json_pack("{s:{s:i}}", "spec", "replicas", 10);
    ctl__fenceposts(dflt, &surge, &unavailable);
    cr_assert(eq(i64, surge, 3));
    cr_assert(eq(i64, unavailable, 2));
}

Test(controllers_rollout, new_replica_set_grows_within_surge)
{
    /* 10 replicas, surge 3: from 10 old pods the new set may start with 3. */
    int64_t n = ctl__rolling_new_replicas(10, 3, 10, 0);
    cr_assert(eq(i64, n, 3));
    /* Already at the ceiling: no growth. */
    n = ctl__rolling_new_replicas(10, 3, 13, 3);
    cr_assert(eq(i64, n, 3));
    /* Never past the desired count. */
    n = ctl__rolling_new_replicas(10, 3, 8, 9);
    cr_assert(eq(i64, n, 10));
}

Test(controllers_rollout, old_sets_shrink_only_while_enough_stay_available)
{
    /* 10 replicas, maxUnavailable 2: 10 old (available) + 3 new, none available yet: 2 old
     * may go (13 - 8 - 3). */
    int64_t n = ctl__rolling_max_scale_down(10, 2, 13, 3, 0);
    cr_assert(eq(i64, n, 2));
    /* With maxUnavailable 0 nothing may go until new pods are available. */
    n = ctl__rolling_max_scale_down(10, 0, 13, 3, 0);
    cr_assert(eq(i64, n, 0));
    /* New set fully available: 13 - 8 - 0 = 5. */
    n = ctl__rolling_max_scale_down(10, 2, 13, 3, 3);
    cr_assert(eq(i64, n, 5));
}

Test(controllers_rollout, proportional_scaling_splits_by_size)
{
    /* A 10-replica deployment (surge 3, so max 13 when last sized) mid-rollout with an old set
     * of 8 and a new set of 5, scaled to 20 (surge 5 -> 25 allowed, +12 to add). */
    int64_t added = 0;
    int64_t p_old = ctl__proportion(8, 20, 5, 13, 12, added);
    added += p_old;
    int64_t p_new = ctl__proportion(5, 20, 5, 13, 12, added);
    added += p_new;
    cr_assert(eq(i64, p_old, 7)); /* round(8*25/13) - 8 = 15 - 8 */
    cr_assert(eq(i64, p_new, 5)); /* capped by what is left: 12 - 7 */
    cr_assert(eq(i64, added, 12));
    /* Scaling to zero takes everything away. */
    int64_t z = ctl__proportion(8, 0, 0, 13, -13, 0);
    cr_assert(eq(i64, z, -8));
    /* Nothing to add: nothing. */
    z = ctl__proportion(8, 10, 3, 13, 0, 0);
    cr_assert(eq(i64, z, 0));
}
