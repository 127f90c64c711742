/* Helpers shared by the store's unit tests: a temporary store that is removed afterwards. */
#ifndef K8C_TESTS_UNIT_STORE_HELPERS_H
#define K8C_TESTS_UNIT_STORE_HELPERS_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "base/mem.h"
#include "store/store.h"

/* Each test gets a fresh directory, made by the suite's .init and removed by its .fini, which
 * Criterion runs even when the test fails: nothing is left behind. A test that mounted
 * something on it (in its own mount namespace) has it unmounted first. */
static char *store_test_tmp;

static inline void store_test_setup(void)
{
    store_test_tmp = xstrdup("/tmp/k8c-store-unit-XXXXXX");
    cr_assert(mkdtemp(store_test_tmp) != NULL);
}

static inline void store_test_teardown(void)
{
    if (store_test_tmp == NULL)
        return;
    umount2(store_test_tmp, MNT_DETACH); /* fails harmlessly when nothing is mounted */
    char *cmd = xasprintf("rm -rf '%s'", store_test_tmp);
    int rc = system(cmd);
    (void)rc; /* nothing more to do about a directory that will not go */
    free(cmd);
    free(store_test_tmp);
    store_test_tmp = NULL;
}

static inline const char *store_test_dir(void)
{
    return store_test_tmp;
}

static inline struct store *store_test_open(const char *dir, const struct store_options *opts)
{
    char *path = xasprintf("sqlite:%s/state.db", dir);
    struct k8c_err *err = NULL;
    struct store *s = store_open(path, opts, &err);
    cr_assert(s != NULL, "store_open: %s", err ? err->msg : "?");
    free(path);
    return s;
}

static inline int64_t store_test_put(struct store *s, const char *key, const char *value)
{
    struct k8c_err *err = NULL;
    int64_t rev = store_create(s, key, value, strlen(value), &err);
    cr_assert(rev > 0, "create %s: %s", key, err ? err->msg : "?");
    return rev;
}

#endif
