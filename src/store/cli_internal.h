/* Shared by the store's command line files: cli.c (get, ls, compact, check) and
 * cli_stress.c (the crash-safety test driver). */
#ifndef K8C_STORE_CLI_INTERNAL_H
#define K8C_STORE_CLI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

struct store_cli_flags {
    const char *data_dir;
    const char *store_url;                    /* --store URL (instead of --data-dir) */
    const char *from, *to;                    /* migrate */
    bool force;                               /* restore, migrate: replace a non-empty target */
    int64_t revision, limit;                  /* ls, compact */
    int64_t writers, keys, seconds, watchers; /* stress */
    bool compact;                             /* stress: compact while writing */
    bool help;
    const char *args[4]; /* positional arguments after the verb */
    size_t n_args;
};

/* Parses argv[2..] (argv[1] is the verb). Returns 0, or the exit status 2 after printing a
 * one-line usage error. */
int store__cli_parse(int argc, char **argv, struct store_cli_flags *f);
/* Prints "k8c: store: <msg> (see 'k8c store --help')" and returns 2. */
int store__cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints err in one line, frees it and returns 1. */
int store__cli_fail(struct k8c_err *err);
/* Opens DATA_DIR/db/state.db; read-only opens need the file to exist. */
struct store *store__cli_open(const struct store_cli_flags *f, bool read_only,
                              struct k8c_err **err);

int store__cli_stress(const struct store_cli_flags *f);
/* snapshot_cli.c */
int store__cli_snapshot(const struct store_cli_flags *f);
int store__cli_restore(const struct store_cli_flags *f);
int store__cli_migrate(const struct store_cli_flags *f);
int store__cli_stress_verify(const struct store_cli_flags *f);

#endif
