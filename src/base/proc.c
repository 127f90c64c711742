/* Child processes (see proc.h). */
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"

int proc_wait(pid_t pid, struct proc_result *result, struct k8c_err **err)
{
    int status;
    for (;;) {
        if (waitpid(pid, &status, 0) >= 0)
            break;
        if (errno != EINTR)
            return k8c_err_errno(err, "waitpid %d", (int)pid);
    }
    if (WIFEXITED(status)) {
        result->exit_code = WEXITSTATUS(status);
        result->signal = 0;
    } else {
        result->exit_code = -1;
        result->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return 0;
}

/* In the child: wire the pipes to 0/1, close everything else, exec. Never returns. */
static _Noreturn void exec_child(char *const argv[], int in_fd, int out_fd)
{
    if (in_fd >= 0 && dup2(in_fd, STDIN_FILENO) < 0)
        _exit(127);
    if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    /* close_range would be simpler; this loop also works on kernels before 5.9. */
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        close(fd);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    _exit(127);
}

int proc_run(char *const argv[], const char *input, size_t input_len, struct buf *out,
             struct proc_result *result, struct k8c_err **err)
{
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
    if (pipe2(in_pipe, O_CLOEXEC) < 0)
        return k8c_err_errno(err, "pipe");
    if (out != NULL && pipe2(out_pipe, O_CLOEXEC) < 0) {
        k8c_err_errno(err, "pipe");
        close(in_pipe[0]);
        close(in_pipe[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        k8c_err_errno(err, "fork `%s`", argv[0]);
        close(in_pipe[0]);
        close(in_pipe[1]);
        if (out != NULL) {
            close(out_pipe[0]);
            close(out_pipe[1]);
        }
        return -1;
    }
    if (pid == 0)
        exec_child(argv, in_pipe[0], out != NULL ? out_pipe[1] : -1);

    close(in_pipe[0]);
    if (out != NULL)
        close(out_pipe[1]);
    _cleanup_close_ int to_child = in_pipe[1];
    _cleanup_close_ int from_child = out != NULL ? out_pipe[0] : -1;
    if (input == NULL || input_len == 0)
        mem_close_fd(&to_child);
    else
        fcntl(to_child, F_SETFL, O_NONBLOCK);

    /* Feed stdin and drain stdout together, so a child that writes before it has read all
     * its input cannot deadlock against us. */
    size_t sent = 0;
    while (to_child >= 0 || from_child >= 0) {
        struct pollfd fds[2] = {{.fd = to_child, .events = POLLOUT},
                                {.fd = from_child, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (to_child >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(to_child, input + sent, input_len - sent);
            if (n > 0)
                sent += (size_t)n;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == input_len)
                mem_close_fd(&to_child);
        }
        if (from_child >= 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
            char chunk[65536];
            ssize_t n = read(from_child, chunk, sizeof(chunk));
            if (n > 0)
                buf_append(out, chunk, (size_t)n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                mem_close_fd(&from_child);
        }
    }
    if (proc_wait(pid, result, err) < 0)
        return -1;
    if (result->exit_code == 127)
        return k8c_err_set(err, ENOENT, K8C_REASON_INTERNAL, "run `%s`", argv[0]);
    return 0;
}
