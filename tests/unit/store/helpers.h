/* Helpers shared by the store's unit tests: a temporary store that is removed afterwards. */
#ifndef K8C_TESTS_UNIT_STORE_HELPERS_H
#define K8C_TESTS_UNIT_STORE_HELPERS_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "store/store.h"

static inline char *store_test_dir(void)
{
    char *dir = xstrdup("/tmp/k8c-store-unit-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    return dir;
}

static inline void store_test_rmdir(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    cr_assert(rc == 0);
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
