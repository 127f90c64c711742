/* Unit tests for src/base/file.c, proc.c and clock.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/proc.h"

static char *temp_dir(void)
{
    char *dir = xstrdup("/tmp/k8c-unit-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    return dir;
}

static void remove_tree(const char *dir)
{
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
    cr_assert(eq(int, system(cmd), 0));
}

Test(file, atomic_write_then_read)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *path = xasprintf("%s/a/b/c.txt", dir);
    _cleanup_free_ char *sub = xasprintf("%s/a/b", dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, file_mkdir_p(sub, 0755, &err), 0));
    cr_assert(eq(int, file_mkdir_p(sub, 0755, &err), 0), "existing directory is fine");
    cr_assert(eq(int, file_write_atomic(path, "hello", 5, 0600, &err), 0));
    cr_assert(eq(int, file_write_atomic(path, "bye", 3, 0600, &err), 0));
    size_t len = 0;
    _cleanup_free_ char *data = file_read_all(path, 1024, &len, &err);
    cr_assert(eq(str, data, "bye"));
    cr_assert(eq(sz, len, 3));
    struct stat st;
    cr_assert(eq(int, stat(path, &st), 0));
    cr_assert(eq(int, st.st_mode & 0777, 0600));
    remove_tree(dir);
}

Test(file, read_errors)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    char *data = file_read_all("/nonexistent/k8c", 10, NULL, &err);
    cr_assert(data == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    cr_assert(eq(int, err->errnum, ENOENT));
    cr_assert(strstr(err->msg, "/nonexistent/k8c") != NULL);

    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *path = xasprintf("%s/big", dir);
    cr_assert(eq(int, file_write_atomic(path, "0123456789abc", 13, 0644, &err), 0));
    data = file_read_all(path, 10, NULL, &err);
    cr_assert(data == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_TOO_LARGE));
    remove_tree(dir);
}

Test(file, mkdir_over_a_file_fails)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *path = xasprintf("%s/f", dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, file_write_atomic(path, "x", 1, 0644, &err), 0));
    _cleanup_free_ char *below = xasprintf("%s/f/g", dir);
    cr_assert(eq(int, file_mkdir_p(below, 0755, &err), -1));
    cr_assert(err != NULL);
    remove_tree(dir);
}

Test(proc, run_captures_output_and_status)
{
    _cleanup_buf_ struct buf out = BUF_INIT;
    struct proc_result res;
    _cleanup_err_ struct k8c_err *err = NULL;
    char *const cat_argv[] = {"cat", NULL};
    cr_assert(eq(int, proc_run(cat_argv, "ping", 4, &out, &res, &err), 0));
    cr_assert(eq(str, out.data, "ping"));
    cr_assert(eq(int, res.exit_code, 0));

    char *const sh_argv[] = {"sh", "-c", "echo out; exit 3", NULL};
    buf_reset(&out);
    cr_assert(eq(int, proc_run(sh_argv, NULL, 0, &out, &res, &err), 0));
    cr_assert(eq(str, out.data, "out\n"));
    cr_assert(eq(int, res.exit_code, 3));

    char *const kill_argv[] = {"sh", "-c", "kill -9 $$", NULL};
    cr_assert(eq(int, proc_run(kill_argv, NULL, 0, NULL, &res, &err), 0));
    cr_assert(eq(int, res.exit_code, -1));
    cr_assert(eq(int, res.signal, 9));

    char *const missing_argv[] = {"/nonexistent/k8c-binary", NULL};
    cr_assert(eq(int, proc_run(missing_argv, NULL, 0, NULL, &res, &err), -1));
    cr_assert(strstr(err->msg, "k8c-binary") != NULL);
}

Test(proc, large_input_and_output_do_not_deadlock)
{
    size_t n = 4 << 20;
    _cleanup_free_ char *input = xmalloc(n);
    memset(input, 'z', n);
    _cleanup_buf_ struct buf out = BUF_INIT;
    struct proc_result res;
    char *const cat_argv[] = {"cat", NULL};
    cr_assert(eq(int, proc_run(cat_argv, input, n, &out, &res, NULL), 0));
    cr_assert(eq(sz, out.len, n));
}

Test(proc, no_descriptor_leaks_into_child)
{
    int fds[2];
    cr_assert(eq(int, pipe(fds), 0)); /* deliberately without O_CLOEXEC */
    _cleanup_buf_ struct buf out = BUF_INIT;
    struct proc_result res;
    char *const ls_argv[] = {"sh", "-c", "ls /proc/self/fd | wc -l", NULL};
    cr_assert(eq(int, proc_run(ls_argv, NULL, 0, &out, &res, NULL), 0));
    /* 0, 1, 2 and the directory fd ls opens to list /proc/self/fd */
    cr_assert(eq(int, atoi(out.data), 4), "child saw %s descriptors", out.data);
    close(fds[0]);
    close(fds[1]);
}

Test(clock, rfc3339_round_trip)
{
    char out[21];
    clock_rfc3339(1700000000, out);
    cr_assert(eq(str, out, "2023-11-14T22:13:20Z"));
    time_t t = 0;
    cr_assert(eq(int, clock_parse_rfc3339(out, &t), 0));
    cr_assert(eq(i64, (int64_t)t, 1700000000));
    cr_assert(eq(int, clock_parse_rfc3339("2023-11-14T23:13:20.5+01:00", &t), 0));
    cr_assert(eq(i64, (int64_t)t, 1700000000));
    cr_assert(eq(int, clock_parse_rfc3339("2023-11-14 22:13:20", &t), -1));
    cr_assert(eq(int, clock_parse_rfc3339("2023-11-14T22:13:20Zjunk", &t), -1));
    struct timespec ts = {1700000000, 123456789};
    char micro[28];
    clock_rfc3339_micro(&ts, micro);
    cr_assert(eq(str, micro, "2023-11-14T22:13:20.123456Z"));
}
