/* Unit tests for runtime__open_in_root (src/runtime/mounts.c): every symlink resolves
 * inside the root, missing parts are created, and a link that climbs out is refused. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/proc.h"
#include "runtime/internal.h"

static char root[64];
static int rootfd = -1;

static void setup(void)
{
    strcpy(root, "/tmp/k8c-runtime-unit-XXXXXX");
    cr_assert(mkdtemp(root) != NULL);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/etc", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/abs", root);
    cr_assert(symlink("/etc", p) == 0); /* absolute: means <root>/etc */
    snprintf(p, sizeof(p), "%s/etc/up", root);
    cr_assert(symlink("../../../../..", p) == 0); /* climbs above the root */
    snprintf(p, sizeof(p), "%s/rel", root);
    cr_assert(symlink("etc/../etc", p) == 0);
    snprintf(p, sizeof(p), "%s/loop", root);
    cr_assert(symlink("loop", p) == 0);
    rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cr_assert(rootfd >= 0);
}

static void teardown(void)
{
    close(rootfd);
    char *argv[] = {"rm", "-rf", root, NULL};
    struct proc_result r;
    proc_run(argv, NULL, 0, NULL, &r, NULL);
}

/* The real path of an O_PATH descriptor. */
static char *where(int fd)
{
    char link[64], *out = xcalloc(1, PATH_MAX);
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, PATH_MAX - 1);
    cr_assert(n > 0);
    return out;
}

TestSuite(runtime_open_in_root, .init = setup, .fini = teardown);

Test(runtime_open_in_root, absolute_symlink_stays_inside)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_close_ int fd = runtime__open_in_root(rootfd, "/abs/new/dir", true, false, &err);
    cr_assert(fd >= 0, "%s", err ? err->msg : "");
    _cleanup_free_ char *w = where(fd);
    _cleanup_free_ char *want = xasprintf("%s/etc/new/dir", root);
    cr_assert(eq(str, w, want));
}

Test(runtime_open_in_root, relative_symlink_and_file_creation)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_close_ int fd = runtime__open_in_root(rootfd, "rel/hosts", true, true, &err);
    cr_assert(fd >= 0, "%s", err ? err->msg : "");
    _cleanup_free_ char *p = xasprintf("%s/etc/hosts", root);
    struct stat st;
    cr_assert(stat(p, &st) == 0);
    bool regular = S_ISREG(st.st_mode);
    cr_assert(regular);
}

Test(runtime_open_in_root, escape_is_refused)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    int fd = runtime__open_in_root(rootfd, "/etc/up/tmp", true, false, &err);
    cr_assert(eq(int, fd, -1));
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
    cr_assert(strstr(err->msg, "escapes") != NULL, "%s", err->msg);
}

Test(runtime_open_in_root, loops_and_missing)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    int fd = runtime__open_in_root(rootfd, "/loop/x", false, false, &err);
    cr_assert(eq(int, fd, -1));
    cr_assert(eq(int, err->errnum, ELOOP));
    _cleanup_err_ struct k8c_err *err2 = NULL;
    fd = runtime__open_in_root(rootfd, "/nope/x", false, false, &err2);
    cr_assert(eq(int, fd, -1));
    cr_assert(eq(int, err2->errnum, ENOENT));
}
