/* Expectations (see internal.h): per controller key, the creations still to be observed and
 * the keys of objects whose deletion is still to be observed. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"
#include "controllers/internal.h"

/* client-go's ExpectationsTimeout: a lost watch event never wedges a controller for long. */
#define EXPECTATIONS_TTL_S 300

struct ctl_expectations {
    pthread_mutex_t lock;
    json_t *entries; /* key -> {"adds": n, "dels": {podkey: true}, "at": seconds} */
};

static int64_t now_s(void)
{
    return (int64_t)(clock_mono_ns() / 1000000000u);
}

struct ctl_expectations *ctl__expectations_new(void)
{
    struct ctl_expectations *e = xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    e->entries = json_object();
    return e;
}

void ctl__expectations_free(struct ctl_expectations *e)
{
    if (e == NULL)
        return;
    json_decref(e->entries);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

static json_t *entry(struct ctl_expectations *e, const char *key)
{
    json_t *en = json_object_get(e->entries, key);
    if (en == NULL) {
        en = json_pack("{s:I,s:{},s:I}", "adds", (json_int_t)0, "dels", "at", (json_int_t)now_s());
        json_object_set_new(e->entries, key, en);
    }
    return en;
}

bool ctl__expectations_satisfied(struct ctl_expectations *e, const char *key)
{
    pthread_mutex_lock(&e->lock);
    json_t *en = json_object_get(e->entries, key);
    bool ok = true;
    if (en != NULL) {
        json_int_t adds = json_integer_value(json_object_get(en, "adds"));
        size_t dels = json_object_size(json_object_get(en, "dels"));
        json_int_t at = json_integer_value(json_object_get(en, "at"));
        ok = (adds <= 0 && dels == 0) || now_s() - at > EXPECTATIONS_TTL_S;
    }
    pthread_mutex_unlock(&e->lock);
    return ok;
}

void ctl__expectations_expect_creations(struct ctl_expectations *e, const char *key, int64_t n)
{
    pthread_mutex_lock(&e->lock);
    json_t *en = entry(e, key);
    json_int_t adds = json_integer_value(json_object_get(en, "adds"));
    if (adds < 0)
        adds = 0;
    json_object_set_new(en, "adds", json_integer(adds + n));
    json_object_set_new(en, "at", json_integer(now_s()));
    pthread_mutex_unlock(&e->lock);
}

void ctl__expectations_expect_deletions(struct ctl_expectations *e, const char *key,
                                        const char *const *pod_keys, size_t n)
{
    pthread_mutex_lock(&e->lock);
    json_t *en = entry(e, key);
    json_t *dels = json_object_get(en, "dels");
    for (size_t i = 0; i < n; i++)
        json_object_set_new(dels, pod_keys[i], json_true());
    json_object_set_new(en, "at", json_integer(now_s()));
    pthread_mutex_unlock(&e->lock);
}

void ctl__expectations_creation_observed(struct ctl_expectations *e, const char *key)
{
    pthread_mutex_lock(&e->lock);
    json_t *en = json_object_get(e->entries, key);
    if (en != NULL) {
        json_int_t adds = json_integer_value(json_object_get(en, "adds"));
        if (adds > 0)
            json_object_set_new(en, "adds", json_integer(adds - 1));
    }
    pthread_mutex_unlock(&e->lock);
}

void ctl__expectations_deletion_observed(struct ctl_expectations *e, const char *key,
                                         const char *pod_key)
{
    pthread_mutex_lock(&e->lock);
    json_t *en = json_object_get(e->entries, key);
    if (en != NULL)
        json_object_del(json_object_get(en, "dels"), pod_key);
    pthread_mutex_unlock(&e->lock);
}

void ctl__expectations_delete(struct ctl_expectations *e, const char *key)
{
    pthread_mutex_lock(&e->lock);
    json_object_del(e->entries, key);
    pthread_mutex_unlock(&e->lock);
}

void ctl__expectations_age(struct ctl_expectations *e, int64_t seconds)
{
    pthread_mutex_lock(&e->lock);
    const char *k;
    json_t *en;
    json_object_foreach (e->entries, k, en) {
        json_int_t at = json_integer_value(json_object_get(en, "at"));
        json_object_set_new(en, "at", json_integer(at - seconds));
    }
    pthread_mutex_unlock(&e->lock);
}
