/* `k8c store get|ls|compact|check --data-dir DIR`: the operator's view of the store file
 * (<data-dir>/db/state.db). get, ls and check open the file read-only and work while the
 * server runs; compact needs the file to itself. Also the hidden test driver verbs `stress`
 * and `stress-verify` (cli_stress.c) used by the crash-safety test. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mem.h"
#include "store/cli_internal.h"
#include "store/internal.h"

#define DEFAULT_DATA_DIR "/var/lib/k8c"
#define LS_PAGE 1000

static const char usage_text[] =
    "usage: k8c store <command> [--data-dir DIR | --store URL]\n"
    "\n"
    "Inspects the server's store file, DIR/db/state.db (DIR defaults to $K8C_DATA_DIR "
    "or\n" DEFAULT_DATA_DIR ").\n"
    "\n"
    "commands:\n"
    "  get KEY                          print KEY's value\n"
    "  ls [PREFIX] [--revision R] [--limit N]\n"
    "                                   list keys with their revisions and sizes\n"
    "  compact [--revision R]           forget history before R (default: the current\n"
    "                                   revision) and give the space back; the server\n"
    "                                   must be stopped\n"
    "  check                            verify the file's integrity\n"
    "  snapshot FILE [--store URL]      a consistent backup of the whole store, taken while\n"
    "                                   the server runs: SQLite's online backup for the\n"
    "                                   embedded store, k8c's portable format (every key at\n"
    "                                   one revision) for etcd://\n"
    "  restore FILE [--store URL] [--force]\n"
    "                                   bring a store back from a snapshot (either kind, into\n"
    "                                   either backend); refuses a non-empty store unless\n"
    "                                   --force; the server must be stopped\n"
    "  migrate --from URL --to URL [--force]\n"
    "                                   copy every key between stores (sqlite:PATH or\n"
    "                                   etcd://…); the servers must be stopped\n"
    "\n"
    "After a restore or migration that rewrites keys, resourceVersions are new: in SQLite\n"
    "they continue above the source's revision (older ones answer 410 Gone, clients\n"
    "re-list); in etcd they continue from etcd's own revision, so restart the API servers.\n";

int store__cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "k8c: store: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'k8c store --help')\n");
    va_end(ap);
    return 2;
}

int store__cli_fail(struct k8c_err *err)
{
    _cleanup_free_ char *text = k8c_err_text(err);
    fprintf(stderr, "k8c: store: %s\n", text);
    k8c_err_free(err);
    return 1;
}

static int parse_number(const char *flag, const char *text, int64_t min, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min)
        return store__cli_usage("flag %s wants a number >= %lld, not \"%s\"", flag, (long long)min,
                                text);
    *out = v;
    return 0;
}

int store__cli_parse(int argc, char **argv, struct store_cli_flags *f)
{
    memset(f, 0, sizeof(*f));
    f->data_dir = getenv("K8C_DATA_DIR") ? getenv("K8C_DATA_DIR") : DEFAULT_DATA_DIR;
    f->writers = 8;
    f->keys = 64;
    f->seconds = 60;
    static const struct {
        const char *name;
        size_t offset;
        int64_t min;
    } numbers[] = {
        {"--revision", offsetof(struct store_cli_flags, revision), 1},
        {"--limit", offsetof(struct store_cli_flags, limit), 1},
        {"--writers", offsetof(struct store_cli_flags, writers), 1},
        {"--watchers", offsetof(struct store_cli_flags, watchers), 0},
        {"--keys", offsetof(struct store_cli_flags, keys), 1},
        {"--seconds", offsetof(struct store_cli_flags, seconds), 1},
    };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            f->help = true;
            continue;
        }
        if (strcmp(a, "--compact") == 0) {
            f->compact = true;
            continue;
        }
        if (strcmp(a, "--force") == 0) {
            f->force = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (f->n_args == ARRAY_SIZE(f->args))
                return store__cli_usage("%s: unexpected argument \"%s\"", argv[1], a);
            f->args[f->n_args++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        static const struct {
            const char *name;
            size_t offset;
        } strings[] = {
            {"--data-dir", offsetof(struct store_cli_flags, data_dir)},
            {"--store", offsetof(struct store_cli_flags, store_url)},
            {"--from", offsetof(struct store_cli_flags, from)},
            {"--to", offsetof(struct store_cli_flags, to)},
        };
        int string = -1, number = -1;
        for (size_t j = 0; j < ARRAY_SIZE(strings) && string < 0; j++)
            if (strlen(strings[j].name) == name_len && strncmp(a, strings[j].name, name_len) == 0)
                string = (int)j;
        for (size_t j = 0; j < ARRAY_SIZE(numbers) && number < 0; j++)
            if (strlen(numbers[j].name) == name_len && strncmp(a, numbers[j].name, name_len) == 0)
                number = (int)j;
        if (string < 0 && number < 0)
            return store__cli_usage("unknown flag \"%.*s\"", (int)name_len, a);
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc)
                return store__cli_usage("flag %.*s needs a value", (int)name_len, a);
            value = argv[++i];
        }
        if (string >= 0) {
            if (value[0] == '\0')
                return store__cli_usage("flag %s needs a value", strings[string].name);
            *(const char **)((char *)f + strings[string].offset) = value;
            continue;
        }
        if (parse_number(numbers[number].name, value, numbers[number].min,
                         (int64_t *)((char *)f + numbers[number].offset)) != 0)
            return 2;
    }
    return 0;
}

struct store *store__cli_open(const struct store_cli_flags *f, bool read_only, struct k8c_err **err)
{
    if (f->store_url != NULL) { /* etcd://…, or sqlite:PATH */
        struct store_options opts = {.read_only = read_only};
        return store_open(f->store_url, &opts, err);
    }
    _cleanup_free_ char *path = store_path_from_data_dir(f->data_dir);
    struct stat st;
    if (read_only && stat(path, &st) < 0) {
        k8c_err_set(err, errno, K8C_REASON_NOT_FOUND,
                    "no store at `%s` (is --data-dir the server's data directory?)", path);
        return NULL;
    }
    _cleanup_free_ char *url = xasprintf("sqlite:%s", path);
    struct store_options opts = {.read_only = read_only};
    return store_open(url, &opts, err);
}

static int cmd_get(const struct store_cli_flags *f)
{
    if (f->n_args != 1)
        return store__cli_usage("get wants exactly one KEY");
    struct k8c_err *err = NULL;
    struct store *s = store__cli_open(f, true, &err);
    if (s == NULL)
        return store__cli_fail(err);
    struct store_kv kv = {0};
    int rc = store_get(s, f->args[0], &kv, &err);
    store_close(s);
    if (rc < 0)
        return store__cli_fail(err);
    fwrite(kv.value, 1, kv.value_len, stdout);
    if (kv.value_len == 0 || kv.value[kv.value_len - 1] != '\n')
        fputc('\n', stdout);
    store_kv_clear(&kv);
    return 0;
}

static int cmd_ls(const struct store_cli_flags *f)
{
    if (f->n_args > 1)
        return store__cli_usage("ls wants at most one PREFIX");
    const char *prefix = f->n_args ? f->args[0] : "";
    struct k8c_err *err = NULL;
    struct store *s = store__cli_open(f, true, &err);
    if (s == NULL)
        return store__cli_fail(err);
    printf("%-16s %-16s %-10s %s\n", "CREATE_REVISION", "MOD_REVISION", "BYTES", "KEY");
    /* Pages at one revision, so a huge store lists in bounded memory and consistently. */
    int64_t revision = f->revision;
    _cleanup_free_ char *start = NULL;
    int64_t shown = 0;
    for (;;) {
        size_t page = LS_PAGE;
        if (f->limit && f->limit - shown < (int64_t)page)
            page = (size_t)(f->limit - shown);
        struct store_list l = {0};
        if (store_list(s, prefix, revision, start, page, &l, &err) < 0) {
            store_close(s);
            return store__cli_fail(err);
        }
        revision = l.revision;
        for (size_t i = 0; i < l.n_items; i++)
            printf("%-16" PRId64 " %-16" PRId64 " %-10zu %s\n", l.items[i].create_revision,
                   l.items[i].mod_revision, l.items[i].value_len, l.items[i].key);
        shown += (int64_t)l.n_items;
        bool more = l.more && (f->limit == 0 || shown < f->limit);
        free(start);
        start = more ? xasprintf("%s\x01", l.items[l.n_items - 1].key) : NULL;
        store_list_clear(&l);
        if (!more)
            break;
    }
    store_close(s);
    fprintf(stderr, "%" PRId64 " keys at revision %" PRId64 "\n", shown, revision);
    return 0;
}

static long long file_size(const char *data_dir)
{
    _cleanup_free_ char *path = store_path_from_data_dir(data_dir);
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int cmd_compact(const struct store_cli_flags *f)
{
    if (f->n_args != 0)
        return store__cli_usage("compact takes no arguments");
    struct k8c_err *err = NULL;
    struct store *s = store__cli_open(f, false, &err);
    if (s == NULL)
        return store__cli_fail(err);
    long long before = file_size(f->data_dir);
    int64_t revision = f->revision ? f->revision : store_revision(s);
    if (revision == 0) {
        store_close(s);
        printf("the store is empty: nothing to compact\n");
        return 0;
    }
    if (store_compact(s, revision, &err) < 0) {
        store_close(s);
        return store__cli_fail(err);
    }
    store_close(s); /* checkpoints the WAL, so the file shows its new size */
    printf("compacted at revision %" PRId64 ": %lld bytes -> %lld bytes\n", revision, before,
           file_size(f->data_dir));
    return 0;
}

static int cmd_check(const struct store_cli_flags *f)
{
    if (f->n_args != 0)
        return store__cli_usage("check takes no arguments");
    struct k8c_err *err = NULL;
    struct store *s = store__cli_open(f, true, &err);
    if (s == NULL)
        return store__cli_fail(err);
    _cleanup_free_ char *report = NULL;
    int rc = store_check(s, &report, &err);
    store_close(s);
    if (rc < 0)
        return store__cli_fail(err);
    printf("%s\n", report);
    return 0;
}

int store_cli_main(int argc, char **argv)
{
    if (argc < 2)
        return store__cli_usage(
            "missing command (get, ls, compact, check, snapshot, restore or migrate)");
    const char *verb = argv[1];
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    static const struct {
        const char *name;
        int (*run)(const struct store_cli_flags *f);
    } verbs[] = {
        {"get", cmd_get},
        {"ls", cmd_ls},
        {"compact", cmd_compact},
        {"check", cmd_check},
        {"snapshot", store__cli_snapshot},
        {"restore", store__cli_restore},
        {"migrate", store__cli_migrate},
        {"stress", store__cli_stress},
        {"stress-verify", store__cli_stress_verify},
    };
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        if (strcmp(verbs[i].name, verb) != 0)
            continue;
        struct store_cli_flags f;
        int rc = store__cli_parse(argc, argv, &f);
        if (rc != 0)
            return rc;
        if (f.help) {
            fputs(usage_text, stdout);
            return 0;
        }
        return verbs[i].run(&f);
    }
    return store__cli_usage("unknown command \"%s\"", verb);
}
