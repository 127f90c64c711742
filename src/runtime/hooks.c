/* OCI hooks: host programs the runtime runs at fixed points of a container's life, each
 * with the container's state JSON on stdin (createRuntime/prestart in the runtime's
 * namespaces before pivot_root, createContainer in the container's before pivot_root,
 * startContainer in the container just before the user's program, poststart after start,
 * poststop after delete). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "runtime/internal.h"

extern char **environ;

static int run_one(const struct runtime_hook *h, const char *field, const char *state,
                   struct k8c_err **err)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return k8c_err_errno(err, "%s: pipe", field);
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return k8c_err_errno(err, "%s: fork", field);
    }
    if (pid == 0) {
        dup2(in[0], 0);
        char *const fallback[] = {h->path, NULL};
        static char *const empty_env[] = {NULL};
        execve(h->path, h->args ? h->args : fallback, h->env ? h->env : empty_env);
        _exit(127);
    }
    close(in[0]);
    /* the hook may not read its stdin: never die of SIGPIPE for it (and leave the
     * disposition as it was: the container's process inherits it) */
    size_t len = strlen(state);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    ssize_t w = write(in[1], state, len);
    (void)w; /* a hook that does not read its state is fine: its exit status decides */
    sigaction(SIGPIPE, &old, NULL);
    close(in[1]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int r;
        do
            r = poll(&p, 1, h->timeout > 0 ? h->timeout * 1000 : -1);
        while (r < 0 && errno == EINTR);
        close(pidfd);
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return k8c_err_set(err, ETIMEDOUT, K8C_REASON_TIMEOUT, "%s: `%s` timed out after %d s",
                               field, h->path, h->timeout);
        }
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return k8c_err_errno(err, "%s: wait", field);
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
        return 0;
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "config.json: %s: cannot run `%s`",
                           field, h->path);
    if (WIFEXITED(ws))
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s: `%s` exited with status %d", field,
                           h->path, WEXITSTATUS(ws));
    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST, "%s: `%s` killed by signal %d", field,
                       h->path, WTERMSIG(ws));
}

int runtime__hooks_run(const struct runtime_spec *spec, enum runtime_hook_kind kind,
                       const char *state_json, struct k8c_err **err)
{
    for (size_t i = 0; i < spec->n_hooks[kind]; i++) {
        _cleanup_free_ char *field = xasprintf("hooks.%s[%zu]", runtime__hook_name(kind), i);
        if (run_one(&spec->hooks[kind][i], field, state_json, err) < 0)
            return -1;
    }
    return 0;
}
