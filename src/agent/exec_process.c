/* The process an exec (kubectl exec, exec probes and hooks) runs for crun and runc: the
 * container's own `process` from its bundle's config.json with the command's args, handed over
 * with `--process FILE`, as containerd does. crun's `exec CMD…` alone runs as root:root with a
 * small capability set of its own, not as the container's user (runAsUser, groups,
 * capabilities, noNewPrivileges, env, cwd): kubectl exec into a runAsUser pod would be root.
 * The built-in runtime starts an exec from the container's process itself. */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"

char *agent__exec_process(const struct agent *a, const char *ctr_dir, const char *const *args,
                          size_t nargs, bool tty)
{
    if (strcmp(a->runtime, "builtin") == 0 || nargs == 0)
        return NULL;
    _cleanup_free_ char *cfgp = xasprintf("%s/config.json", ctr_dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    size_t len = 0;
    _cleanup_free_ char *data = file_read_all(cfgp, 1 << 20, &len, &err);
    if (!data)
        return NULL;
    _cleanup_json_ json_t *cfg = kjson_parse(data, len, &err);
    json_t *proc = cfg ? json_object_get(cfg, "process") : NULL;
    if (!json_is_object(proc))
        return NULL;
    json_t *argv = json_array();
    for (size_t i = 0; i < nargs; i++)
        json_array_append_new(argv, json_string(args[i]));
    json_object_set_new(proc, "args", argv);
    json_object_set_new(proc, "terminal", json_boolean(tty));
    json_object_del(proc, "consoleSize");
    static atomic_uint seq;
    char *path = xasprintf("%s/exec-%d-%u.json", ctr_dir, (int)getpid(), atomic_fetch_add(&seq, 1));
    _cleanup_free_ char *out = kjson_dumps(proc);
    if (file_write_atomic(path, out, strlen(out), 0600, &err) < 0) {
        free(path);
        return NULL;
    }
    return path;
}
