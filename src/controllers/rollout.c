/* The arithmetic of Deployment rollouts, kept pure so it is unit-tested apart from the API:
 * IntOrString percentages, fenceposts, rolling-update sizes and proportional scaling, as in
 * Kubernetes' deployment util package. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "controllers/internal.h"

int64_t ctl__intstr_scaled(const json_t *v, const char *dflt, int64_t total, bool round_up)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_is_string(v) ? json_string_value(v) : dflt;
    if (s == NULL)
        return -1;
    size_t n = strlen(s);
    char *end = NULL;
    long long x = strtoll(s, &end, 10);
    if (end == s)
        return -1;
    if (n > 0 && s[n - 1] == '%' && end == s + n - 1 && x >= 0) {
        if (round_up)
            return (x * total + 99) / 100;
        return x * total / 100;
    }
    /* "5" as a string is not an int in Kubernetes either: only "<n>%" is valid. */
    return -1;
}

void ctl__fenceposts(const json_t *deploy, int64_t *surge, int64_t *unavailable)
{
    int64_t replicas = ctl__int(deploy, "spec.replicas", 1);
    json_t *ru = kjson_path(deploy, "spec.strategy.rollingUpdate");
    int64_t s = ctl__intstr_scaled(json_object_get(ru, "maxSurge"), "25%", replicas, true);
    int64_t u = ctl__intstr_scaled(json_object_get(ru, "maxUnavailable"), "25%", replicas, false);
    if (s < 0)
        s = 0;
    if (u < 0)
        u = 0;
    if (s == 0 && u == 0)
        u = 1;
    *surge = s;
    *unavailable = u;
}

int64_t ctl__rolling_new_replicas(int64_t replicas, int64_t surge, int64_t all_replicas,
                                  int64_t new_replicas)
{
    int64_t max_total = replicas + surge;
    if (all_replicas >= max_total)
        return new_replicas;
    int64_t up = max_total - all_replicas;
    if (up > replicas - new_replicas)
        up = replicas - new_replicas;
    if (up < 0)
        up = 0;
    return new_replicas + up;
}

int64_t ctl__rolling_max_scale_down(int64_t replicas, int64_t unavailable, int64_t all_replicas,
                                    int64_t new_replicas, int64_t new_available)
{
    int64_t min_available = replicas - unavailable;
    int64_t new_unavailable = new_replicas - new_available;
    if (new_unavailable < 0)
        new_unavailable = 0;
    return all_replicas - min_available - new_unavailable;
}

int64_t ctl__proportion(int64_t rs_replicas, int64_t replicas, int64_t surge, int64_t annotated_max,
                        int64_t to_add, int64_t added)
{
    if (rs_replicas == 0 || to_add == 0 || to_add == added)
        return 0;
    int64_t fraction;
    if (replicas == 0) {
        fraction = -rs_replicas;
    } else {
        int64_t deployment_replicas = replicas + surge;
        if (annotated_max <= 0) {
            fraction = 0;
        } else {
            double size = (double)(rs_replicas * deployment_replicas) / (double)annotated_max;
            fraction = (int64_t)llround(size) - rs_replicas;
        }
    }
    int64_t allowed = to_add - added;
    if (to_add > 0)
        return fraction < allowed ? fraction : allowed;
    return fraction > allowed ? fraction : allowed;
}
