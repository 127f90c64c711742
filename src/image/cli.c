/* `k8c image pull|import|export|ls|rm|inspect|prune`: flags and output only; the work is in
 * the store, pull and layout code. Usage errors exit 2, failures exit 1, each with one line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "image/image.h"

#define DEFAULT_DATA_DIR "/var/lib/k8c"

static const char usage_text[] =
    "usage: k8c image [--data-dir DIR] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  pull REF [--insecure-registry HOST:PORT]... [--auth-file F] [--platform OS/ARCH]\n"
    "           [--timeout SECONDS] [--parallel N] [--pull-policy Always|IfNotPresent|Never]\n"
    "           [--quiet]\n"
    "  import FILE|DIR [--ref NAME]   an OCI layout (directory or tar) or a docker save tar\n"
    "  export REF FILE                 write REF as an OCI layout tar\n"
    "  ls [-q]                         REPOSITORY TAG DIGEST SIZE\n"
    "  inspect REF                     the stored image as JSON (layers, config)\n"
    "  rm REF...                       remove names, then what no image uses\n"
    "  prune                           remove blobs, layers and partial downloads no image uses\n";

struct cli {
    const char *data_dir;
    const char *insecure[32];
    size_t n_insecure;
    const char *auth_file;
    const char *platform;
    const char *ref_name;
    enum image_pull_policy policy;
    int timeout;
    int parallel;
    bool quiet;
    const char *args[8];
    size_t n_args;
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "k8c: image: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'k8c image --help')\n");
    va_end(ap);
    return 2;
}

static int fail(struct k8c_err *err)
{
    _cleanup_free_ char *text = k8c_err_text(err);
    fprintf(stderr, "k8c: image: %s\n", text);
    k8c_err_free(err);
    return 1;
}

/* Matches "--name VALUE" or "--name=VALUE" at argv[*i]; returns the value or NULL. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int parse_int(const char *s, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0 || v > 86400)
        return -1;
    *out = (int)v;
    return 0;
}

static void human(uint64_t b, char out[16])
{
    if (b >= 1000000000)
        snprintf(out, 16, "%.3gGB", (double)b / 1e9);
    else if (b >= 1000000)
        snprintf(out, 16, "%.3gMB", (double)b / 1e6);
    else if (b >= 1000)
        snprintf(out, 16, "%.3gkB", (double)b / 1e3);
    else
        snprintf(out, 16, "%lluB", (unsigned long long)b);
}

static int cmd_ls(struct image_store *s, struct cli *c)
{
    struct k8c_err *err = NULL;
    struct image_summary *rows = NULL;
    ssize_t n = image_store_list(s, &rows, &err);
    if (n < 0)
        return fail(err);
    if (!c->quiet)
        printf("%-50s %-20s %-14s %s\n", "REPOSITORY", "TAG", "DIGEST", "SIZE");
    for (ssize_t i = 0; i < n; i++) {
        if (c->quiet) {
            printf("%s\n", rows[i].config_digest);
            continue;
        }
        _cleanup_free_ char *repo = xstrdup(rows[i].name);
        const char *tag = "<none>";
        char *at = strchr(repo, '@');
        char *slash = strrchr(repo, '/');
        char *colon = strrchr(slash ? slash : repo, ':');
        if (at)
            *at = '\0';
        else if (colon) {
            *colon = '\0';
            tag = colon + 1;
        }
        char size[16];
        human(rows[i].size, size);
        printf("%-50s %-20s %-14.12s %s\n", repo, tag, rows[i].digest + 7, size);
    }
    image_summaries_free(rows, (size_t)n);
    return 0;
}

static json_t *strv_json(char **v)
{
    if (v == NULL)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int cmd_inspect(struct image_store *s, const char *ref)
{
    struct k8c_err *err = NULL;
    _cleanup_image_info_ struct image_info *info = image_store_get(s, ref, &err);
    if (info == NULL)
        return fail(err);
    json_t *layers = json_array();
    for (size_t i = 0; i < info->n_layers; i++)
        json_array_append_new(layers, json_string(info->layer_dirs[i]));
    const struct image_config *c = &info->config;
    _cleanup_json_ json_t *out = json_pack(
        "{s:s,s:s,s:s,s:I,s:s,s:s,s:o,s:{s:o,s:o,s:o,s:s?,s:s?}}", "name", info->name, "digest",
        info->digest, "id", info->config_digest, "size", (json_int_t)info->size, "os",
        c->os ? c->os : "", "architecture", c->architecture ? c->architecture : "", "layers",
        layers, "config", "Entrypoint", strv_json(c->entrypoint), "Cmd", strv_json(c->cmd), "Env",
        strv_json(c->env), "WorkingDir", c->working_dir, "User", c->user);
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    return 0;
}

static int run(struct image_store *s, const char *cmd, struct cli *c)
{
    struct k8c_err *err = NULL;
    if (strcmp(cmd, "pull") == 0) {
        if (c->n_args != 1)
            return usage("pull: want exactly one image reference");
        struct image_pull_options o = {
            .insecure_registries = c->insecure,
            .n_insecure = c->n_insecure,
            .auth_file = c->auth_file,
            .timeout_seconds = c->timeout,
            .platform = c->platform,
            .parallel = c->parallel,
            .progress = c->quiet                ? IMAGE_PROGRESS_NONE
                        : isatty(STDERR_FILENO) ? IMAGE_PROGRESS_BAR
                                                : IMAGE_PROGRESS_LOG,
        };
        _cleanup_image_info_ struct image_info *info =
            image_ensure(s, c->args[0], c->policy, &o, &err);
        if (info == NULL)
            return fail(err);
        printf("%s %s\n", info->name, info->digest);
        return 0;
    }
    if (strcmp(cmd, "import") == 0) {
        if (c->n_args != 1)
            return usage("import: want exactly one FILE or DIR");
        char **names = NULL;
        if (image_import(s, c->args[0], c->ref_name, &names, &err) < 0)
            return fail(err);
        for (size_t i = 0; names[i]; i++)
            printf("imported %s\n", names[i]);
        mem_free_strv(&names);
        return 0;
    }
    if (strcmp(cmd, "export") == 0) {
        if (c->n_args != 2)
            return usage("export: want REF FILE");
        if (image_export(s, c->args[0], c->args[1], &err) < 0)
            return fail(err);
        return 0;
    }
    if (strcmp(cmd, "ls") == 0 || strcmp(cmd, "list") == 0) {
        if (c->n_args != 0)
            return usage("ls: unexpected argument \"%s\"", c->args[0]);
        return cmd_ls(s, c);
    }
    if (strcmp(cmd, "inspect") == 0) {
        if (c->n_args != 1)
            return usage("inspect: want exactly one image reference");
        return cmd_inspect(s, c->args[0]);
    }
    if (strcmp(cmd, "rm") == 0 || strcmp(cmd, "rmi") == 0) {
        if (c->n_args == 0)
            return usage("rm: want at least one image reference");
        for (size_t i = 0; i < c->n_args; i++) {
            if (image_store_remove(s, c->args[i], &err) < 0)
                return fail(err);
            printf("removed %s\n", c->args[i]);
        }
        return 0;
    }
    if (strcmp(cmd, "prune") == 0) {
        if (c->n_args != 0)
            return usage("prune: unexpected argument \"%s\"", c->args[0]);
        uint64_t freed = 0;
        int n = image_store_prune(s, &freed, &err);
        if (n < 0)
            return fail(err);
        char h[16];
        human(freed, h);
        printf("removed %d unused items, %s freed\n", n, h);
        return 0;
    }
    return usage("unknown command \"%s\"", cmd);
}

int image_cli_main(int argc, char **argv)
{
    struct cli c = {.data_dir = getenv("K8C_DATA_DIR") ? getenv("K8C_DATA_DIR") : DEFAULT_DATA_DIR};
    const char *cmd = NULL;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if ((v = flag_value(argc, argv, &i, "--data-dir", &missing))) {
            c.data_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--insecure-registry", &missing))) {
            if (c.n_insecure == ARRAY_SIZE(c.insecure))
                return usage("too many --insecure-registry flags");
            c.insecure[c.n_insecure++] = v;
        } else if ((v = flag_value(argc, argv, &i, "--auth-file", &missing))) {
            c.auth_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--platform", &missing))) {
            c.platform = v;
        } else if ((v = flag_value(argc, argv, &i, "--ref", &missing))) {
            c.ref_name = v;
        } else if ((v = flag_value(argc, argv, &i, "--pull-policy", &missing))) {
            if (image_pull_policy_parse(v, &c.policy) < 0)
                return usage("--pull-policy: want Always, IfNotPresent or Never, got \"%s\"", v);
        } else if ((v = flag_value(argc, argv, &i, "--timeout", &missing))) {
            if (parse_int(v, &c.timeout) < 0)
                return usage("--timeout: want seconds (1-86400), got \"%s\"", v);
        } else if ((v = flag_value(argc, argv, &i, "--parallel", &missing))) {
            if (parse_int(v, &c.parallel) < 0 || c.parallel > 64)
                return usage("--parallel: want 1-64, got \"%s\"", v);
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            c.quiet = true;
        } else if (missing) {
            return usage("flag %s needs a value", a);
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("unknown flag \"%s\"", a);
        } else if (cmd == NULL) {
            cmd = a;
        } else {
            if (c.n_args == ARRAY_SIZE(c.args))
                return usage("too many arguments");
            c.args[c.n_args++] = a;
        }
        if (missing)
            return usage("flag %s needs a value", a);
    }
    if (cmd == NULL) {
        fputs(usage_text, stderr);
        return 2;
    }
    static const char *const known[] = {"pull",    "import", "export", "ls",   "list",
                                        "inspect", "rm",     "rmi",    "prune"};
    bool ok = false;
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        ok = ok || strcmp(cmd, known[i]) == 0;
    if (!ok)
        return usage("unknown command \"%s\"", cmd);
    struct k8c_err *err = NULL;
    struct image_store *s = image_store_open(c.data_dir, &err);
    if (s == NULL)
        return fail(err);
    int rc = run(s, cmd, &c);
    image_store_close(s);
    return rc;
}
