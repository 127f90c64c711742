/* Child processes: run a program and collect its output and exit status. */
#ifndef K8C_BASE_PROC_H
#define K8C_BASE_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/err.h"

struct proc_result {
    int exit_code; /* 0-255 when the child exited; -1 when it was killed by a signal */
    int signal;    /* the terminating signal, or 0 */
};

/* Runs argv[0] (searched in PATH) with argv, feeding `input` (may be NULL) on its stdin and
 * appending its stdout to `out` (may be NULL: stdout is then inherited). stderr is inherited.
 * Returns 0 when the child ran (whatever its status, see *result), -1 with *err when it could
 * not be started or waited for. No descriptor of the caller leaks into the child except
 * 0, 1 and 2. */
int proc_run(char *const argv[], const char *input, size_t input_len, struct buf *out,
             struct proc_result *result, struct k8c_err **err);

/* Waits for pid, retrying on EINTR. Returns 0 and fills *result, or -1 with *err. */
int proc_wait(pid_t pid, struct proc_result *result, struct k8c_err **err);

#endif
