/* The container as a child of the calling process: create (the process set up and waiting on
 * the exec fifo), start, and after the caller has reaped it, destroy. The agent's shim runs
 * built-in-runtime containers this way in place of exec'ing `k8c runtime run`, so no runtime
 * process stays behind as the container's parent; the state directory is the same as the
 * command line's, so `k8c runtime state|kill|exec|delete` work on these containers. Also
 * the post-start/post-stop steps the command line shares. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "runtime/internal.h"

void runtime__post_hooks(const struct runtime_spec *spec, const struct runtime_state *st,
                         enum runtime_hook_kind kind, enum runtime_status status)
{
    _cleanup_spec_ struct runtime_spec *loaded = NULL;
    _cleanup_err_ struct k8c_err *err = NULL;
    if (spec == NULL) {
        if (st->bundle == NULL || st->bundle[0] == '\0')
            return;
        loaded = runtime_spec_load(st->bundle, &err);
        if (loaded == NULL) {
            /* a bundle gone by delete time has no hooks we could run */
            return;
        }
        spec = loaded;
    }
    if (spec->n_hooks[kind] == 0)
        return;
    _cleanup_json_ json_t *state = runtime__state_json(st, status);
    _cleanup_free_ char *text = kjson_dumps(state);
    if (runtime__hooks_run(spec, kind, text, &err) < 0) {
        _cleanup_free_ char *msg = k8c_err_text(err);
        fprintf(stderr, "k8c: runtime: warning: %s\n", msg);
    }
}

void runtime__destroy(const char *root, const char *id)
{
    struct runtime_state st;
    _cleanup_err_ struct k8c_err *e = NULL;
    if (runtime__state_load(root, id, &st, &e) < 0)
        return;
    struct runtime_cgroup cg;
    runtime__state_cgroup(&st, &cg);
    pid_t *pids = NULL;
    size_t n = 0;
    _cleanup_err_ struct k8c_err *e2 = NULL;
    if (cg.ops->pids(&cg, &pids, &n, &e2) == 0)
        for (size_t i = 0; i < n; i++)
            if (pids[i] > 0)
                kill(pids[i], SIGKILL);
    free(pids);
    _cleanup_err_ struct k8c_err *e3 = NULL;
    runtime__cgroup_destroy_wait(&cg, &e3);
    _cleanup_err_ struct k8c_err *e4 = NULL;
    runtime__state_remove(st.dir, &e4);
    runtime__post_hooks(NULL, &st, RUNTIME_HOOK_POSTSTOP, RUNTIME_STATUS_STOPPED);
    runtime__cgroup_release(&cg);
    runtime__state_release(&st);
}

struct runtime_run {
    char *root, *id;
    pid_t pid;
    bool has_poststart; /* the spec has poststart hooks: start runs them */
};

struct runtime_run *runtime_run_create(const struct runtime_run_opts *o, int *master,
                                       struct k8c_err **err)
{
    *master = -1;
    const char *root = o->root ? o->root : RUNTIME_DEFAULT_ROOT;
    if (runtime__id_check(o->id, err) < 0)
        return NULL;
    _cleanup_spec_ struct runtime_spec *spec = runtime_spec_load(o->bundle, err);
    if (spec == NULL || runtime_spec_validate_host(spec, err) < 0)
        return NULL;
    /* a terminal's master comes back over a socket pair from inside the container */
    int console[2] = {-1, -1};
    if (spec->terminal && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0) {
        k8c_err_errno(err, "socketpair");
        return NULL;
    }
    struct runtime_create_opts co = {.root = root,
                                     .id = o->id,
                                     .console_fd = console[1] > 2 ? console[1] : 0,
                                     .stdio = o->stdio};
    pid_t pid = runtime__container_create(spec, &co, err);
    if (console[1] >= 0)
        close(console[1]);
    if (pid >= 0 && console[0] >= 0 && (*master = runtime__console_recv(console[0], err)) < 0) {
        runtime__destroy(root, o->id);
        waitpid(pid, NULL, 0);
        pid = -1;
    }
    if (console[0] >= 0)
        close(console[0]);
    if (pid < 0)
        return NULL;
    struct runtime_run *r = xcalloc(1, sizeof(*r));
    r->root = xstrdup(root);
    r->id = xstrdup(o->id);
    r->pid = pid;
    r->has_poststart = spec->n_hooks[RUNTIME_HOOK_POSTSTART] > 0;
    return r;
}

pid_t runtime_run_pid(const struct runtime_run *r)
{
    return r->pid;
}

int runtime_run_start(struct runtime_run *r, struct k8c_err **err)
{
    struct runtime_state st;
    if (runtime__state_load(r->root, r->id, &st, err) < 0)
        return -1;
    int rc = runtime__container_start(&st, err);
    if (rc == 0 && r->has_poststart)
        runtime__post_hooks(NULL, &st, RUNTIME_HOOK_POSTSTART, RUNTIME_STATUS_RUNNING);
    runtime__state_release(&st);
    return rc;
}

void runtime_run_destroy(struct runtime_run *r)
{
    if (!r)
        return;
    runtime__destroy(r->root, r->id);
    free(r->root);
    free(r->id);
    free(r);
}
