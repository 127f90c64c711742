/* Unit tests for src/image/unpack.c and the layer part of store.c: tarballs built here
 * (good ones, whiteouts, and hostile ones that try to write outside the layer directory). */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/mem.h"
#include "image/internal.h"

enum kind { F, DIR_, SYM, HARD };

struct tent {
    const char *name;
    enum kind kind;
    const char *data; /* file content, or link target */
    mode_t mode;
    uid_t uid;
    const char *xattr; /* "name=value" or NULL */
};

/* Writes the entries as a tar (filter: 0 none, 1 gzip, 2 zstd) into a memfd, rewound. */
static int make_tar(const struct tent *e, size_t n, int filter)
{
    int fd = memfd_create("k8c-image-test-tar", MFD_CLOEXEC);
    cr_assert(fd >= 0);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter == 1)
        archive_write_add_filter_gzip(a);
    if (filter == 2)
        archive_write_add_filter_zstd(a);
    cr_assert(eq(int, archive_write_open_fd(a, fd), ARCHIVE_OK));
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_mtime(ae, 1700000000, 0);
        archive_entry_set_uid(ae, e[i].uid);
        archive_entry_set_gid(ae, e[i].uid);
        size_t len = 0;
        switch (e[i].kind) {
        case F:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
            len = e[i].data ? strlen(e[i].data) : 0;
            archive_entry_set_size(ae, (la_int64_t)len);
            break;
        case DIR_:
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
            break;
        case SYM:
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_perm(ae, 0777);
            archive_entry_set_symlink(ae, e[i].data);
            break;
        case HARD:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e[i].data);
            archive_entry_set_size(ae, 0);
            break;
        }
        if (e[i].xattr) {
            const char *eq = strchr(e[i].xattr, '=');
            _cleanup_free_ char *k = xstrndup(e[i].xattr, (size_t)(eq - e[i].xattr));
            archive_entry_xattr_add_entry(ae, k, eq + 1, strlen(eq + 1));
        }
        cr_assert(eq(int, archive_write_header(a, ae), ARCHIVE_OK));
        if (len)
            cr_assert(eq(int, (int)archive_write_data(a, e[i].data, len), (int)len));
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    cr_assert(eq(int, (int)lseek(fd, 0, SEEK_SET), 0));
    return fd;
}

struct sandbox {
    char *top;     /* temp dir holding layer/ and outside/ */
    char *layer;   /* the layer directory */
    char *outside; /* must stay as it was */
    int layer_fd;
};

/* The sandbox of the running test, removed by the suites' fini even when an assertion fails
 * (each Criterion test runs in its own process). */
static char current_top[64];

static void remove_current(void)
{
    if (current_top[0] == '\0')
        return;
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", current_top);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", current_top);
    current_top[0] = '\0';
}

TestSuite(image_unpack, .fini = remove_current);
TestSuite(image_store, .fini = remove_current);

static struct sandbox sandbox_new(void)
{
    struct sandbox s;
    s.top = xstrdup("/tmp/k8c-image-unit-XXXXXX");
    cr_assert(mkdtemp(s.top) != NULL);
    snprintf(current_top, sizeof(current_top), "%s", s.top);
    s.layer = xasprintf("%s/layer", s.top);
    s.outside = xasprintf("%s/outside", s.top);
    cr_assert(eq(int, mkdir(s.layer, 0755), 0));
    cr_assert(eq(int, mkdir(s.outside, 0755), 0));
    _cleanup_free_ char *secret = xasprintf("%s/secret", s.outside);
    FILE *f = fopen(secret, "w");
    fputs("secret\n", f);
    fclose(f);
    s.layer_fd = open(s.layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return s;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Nothing landed outside the layer: top has layer/ and outside/, outside/ only secret, and the
 * secret is untouched with one link. */
static void assert_outside_untouched(struct sandbox *s)
{
    int top = count_entries(s->top);
    cr_assert(eq(int, top, 2));
    int out = count_entries(s->outside);
    cr_assert(eq(int, out, 1));
    _cleanup_free_ char *secret = xasprintf("%s/secret", s->outside);
    struct stat st;
    cr_assert(eq(int, stat(secret, &st), 0));
    cr_assert(eq(u64, (uint64_t)st.st_nlink, 1));
    cr_assert(eq(i64, (int64_t)st.st_size, 7));
}

static void sandbox_free(struct sandbox *s)
{
    close(s->layer_fd);
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", s->top);
    cr_assert(eq(int, system(cmd), 0));
    current_top[0] = '\0';
    free(s->top);
    free(s->layer);
    free(s->outside);
}

static char *layer_file(struct sandbox *s, const char *rel)
{
    return xasprintf("%s/%s", s->layer, rel);
}

/* Unpacks entries that must be refused; the error must name `entry`. */
static void check_hostile(const struct tent *e, size_t n, const char *entry)
{
    struct sandbox s = sandbox_new();
    int fd = make_tar(e, n, 1);
    char diff_id[IMAGE_DIGEST_LEN + 1];
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = image__unpack_layer(fd, s.layer_fd, diff_id, &err);
    close(fd);
    cr_assert(eq(int, rc, -1), "hostile tar with `%s` was unpacked", entry);
    _cleanup_free_ char *want = xasprintf("entry `%s", entry); /* dirs get a trailing / */
    cr_assert(strstr(err->msg, want) != NULL, "error does not name the entry: %s", err->msg);
    assert_outside_untouched(&s);
    sandbox_free(&s);
}

Test(image_unpack, refuses_dotdot)
{
    struct tent e[] = {{"ok", F, "fine", 0, 0, NULL}, {"../outside/escape", F, "x", 0, 0, NULL}};
    check_hostile(e, 2, "../outside/escape");
    struct tent e2[] = {{"a/b/../../../outside/escape", F, "x", 0, 0, NULL}};
    check_hostile(e2, 1, "a/b/../../../outside/escape");
}

Test(image_unpack, refuses_absolute_paths)
{
    struct tent e[] = {{"/tmp/k8c-image-unit-absolute-escape", F, "x", 0, 0, NULL}};
    check_hostile(e, 1, "/tmp/k8c-image-unit-absolute-escape");
    cr_assert(access("/tmp/k8c-image-unit-absolute-escape", F_OK) != 0);
}

Test(image_unpack, refuses_writing_through_planted_symlinks)
{
    struct sandbox probe = sandbox_new();
    _cleanup_free_ char *abs = xstrdup(probe.outside); /* an absolute path outside a layer */
    sandbox_free(&probe);
    /* relative symlink leading up and out, then a file written through it */
    struct tent e[] = {{"evil", SYM, "../outside", 0, 0, NULL}, {"evil/pwned", F, "x", 0, 0, NULL}};
    check_hostile(e, 2, "evil/pwned");
    /* a symlink deeper down, then a directory created through it */
    struct tent e2[] = {{"a", DIR_, NULL, 0, 0, NULL},
                        {"a/up", SYM, "../../outside", 0, 0, NULL},
                        {"a/up/newdir", DIR_, NULL, 0, 0, NULL}};
    check_hostile(e2, 3, "a/up/newdir");
    /* an absolute symlink target is resolved inside the layer only, so it cannot lead out */
    struct tent e3[] = {{"abs", SYM, "/", 0, 0, NULL}, {"abs/../../x", F, "x", 0, 0, NULL}};
    check_hostile(e3, 2, "abs/../../x");
    struct tent e4[] = {{"abs", SYM, abs, 0, 0, NULL}, {"abs/pwned", F, "x", 0, 0, NULL}};
    check_hostile(e4, 2, "abs/pwned");
}

Test(image_unpack, refuses_hardlinks_to_outside)
{
    struct tent e[] = {{"h", HARD, "../outside/secret", 0, 0, NULL}};
    check_hostile(e, 1, "h");
    struct tent e2[] = {{"s", SYM, "../outside", 0, 0, NULL}, {"h", HARD, "s/secret", 0, 0, NULL}};
    check_hostile(e2, 2, "h");
    struct tent e3[] = {{"h", HARD, "/etc/passwd", 0, 0, NULL}};
    check_hostile(e3, 1, "h");
}

Test(image_unpack, replaces_a_planted_symlink_instead_of_following_it)
{
    struct sandbox s = sandbox_new();
    struct tent e[] = {{"f", SYM, "../outside/secret", 0, 0, NULL},
                       {"f", F, "inside\n", 0, 0, NULL}};
    int fd = make_tar(e, 2, 0);
    char diff_id[IMAGE_DIGEST_LEN + 1];
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = image__unpack_layer(fd, s.layer_fd, diff_id, &err);
    close(fd);
    cr_assert(eq(int, rc, 0), "%s", err ? err->msg : "");
    _cleanup_free_ char *f = layer_file(&s, "f");
    struct stat st;
    cr_assert(eq(int, lstat(f, &st), 0));
    bool is_reg = S_ISREG(st.st_mode);
    cr_assert(is_reg);
    assert_outside_untouched(&s);
    sandbox_free(&s);
}

static void unpack_good(int filter)
{
    struct sandbox s = sandbox_new();
    struct tent e[] = {
        {"./", DIR_, NULL, 0755, 0, NULL},
        {"./bin/", DIR_, NULL, 0755, 0, NULL},
        {"./bin/tool", F, "#!/bin/sh\n", 04755, 0, "user.k8c=yes"},
        {"bin/same", HARD, "./bin/tool", 0, 0, NULL},
        {"bin/link", SYM, "tool", 0, 0, NULL},
        {"home/user/file", F, "mine\n", 0600, 1000, NULL}, /* parents made implicitly */
        {"etc/.wh.gone", F, "", 0, 0, NULL},
        {"var/.wh..wh..opq", F, "", 0, 0, NULL},
        {"var/keep", F, "k\n", 0, 0, NULL},
        {"tmp", DIR_, NULL, 01777, 0, NULL},
    };
    int fd = make_tar(e, ARRAY_SIZE(e), filter);
    /* the diff-id is the sha256 of the uncompressed tar */
    int raw = make_tar(e, ARRAY_SIZE(e), 0);
    struct stat rst;
    fstat(raw, &rst);
    void *map = mmap(NULL, (size_t)rst.st_size, PROT_READ, MAP_PRIVATE, raw, 0);
    char want[IMAGE_DIGEST_LEN + 1];
    image__sha256_buf(map, (size_t)rst.st_size, want);
    munmap(map, (size_t)rst.st_size);
    close(raw);

    char diff_id[IMAGE_DIGEST_LEN + 1];
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = image__unpack_layer(fd, s.layer_fd, diff_id, &err);
    close(fd);
    cr_assert(eq(int, rc, 0), "%s", err ? err->msg : "");
    cr_assert(eq(str, diff_id, want));

    struct stat st, st2;
    _cleanup_free_ char *tool = layer_file(&s, "bin/tool");
    cr_assert(eq(int, lstat(tool, &st), 0));
    cr_assert(eq(int, st.st_mode & 07777, 04755), "setuid bit kept");
    cr_assert(eq(i64, (int64_t)st.st_mtime, 1700000000));
    char xv[8] = {0};
    ssize_t xn = getxattr(tool, "user.k8c", xv, sizeof(xv));
    if (xn >= 0) /* tmpfs without user xattrs: EOPNOTSUPP is tolerated by the unpacker */
        cr_assert(eq(str, xv, "yes"));
    _cleanup_free_ char *same = layer_file(&s, "bin/same");
    cr_assert(eq(int, lstat(same, &st2), 0));
    cr_assert(eq(u64, (uint64_t)st.st_ino, (uint64_t)st2.st_ino), "hardlink kept");
    _cleanup_free_ char *link = layer_file(&s, "bin/link");
    char target[16] = {0};
    cr_assert(eq(int, (int)readlink(link, target, sizeof(target) - 1), 4));
    cr_assert(eq(str, target, "tool"));
    _cleanup_free_ char *mine = layer_file(&s, "home/user/file");
    cr_assert(eq(int, lstat(mine, &st), 0));
    cr_assert(eq(u32, (uint32_t)st.st_uid, 1000), "ownership kept");
    cr_assert(eq(int, st.st_mode & 07777, 0600));
    _cleanup_free_ char *gone = layer_file(&s, "etc/gone");
    cr_assert(eq(int, lstat(gone, &st), 0));
    bool is_chr = S_ISCHR(st.st_mode);
    cr_assert(is_chr, "whiteout became a character device");
    cr_assert(eq(u64, (uint64_t)st.st_rdev, 0));
    _cleanup_free_ char *wh = layer_file(&s, "etc/.wh.gone");
    cr_assert(access(wh, F_OK) != 0);
    _cleanup_free_ char *var = layer_file(&s, "var");
    char ov[4] = {0};
    cr_assert(eq(int, (int)getxattr(var, "trusted.overlay.opaque", ov, sizeof(ov)), 1));
    cr_assert(eq(str, ov, "y"));
    _cleanup_free_ char *opq = layer_file(&s, "var/.wh..wh..opq");
    cr_assert(access(opq, F_OK) != 0);
    _cleanup_free_ char *tmpd = layer_file(&s, "tmp");
    cr_assert(eq(int, stat(tmpd, &st), 0));
    cr_assert(eq(int, st.st_mode & 07777, 01777));
    assert_outside_untouched(&s);
    sandbox_free(&s);
}

Test(image_unpack, plain_tar)
{
    unpack_good(0);
}

Test(image_unpack, gzip)
{
    unpack_good(1);
}

Test(image_unpack, zstd)
{
    unpack_good(2);
}

Test(image_unpack, refuses_garbage)
{
    struct sandbox s = sandbox_new();
    int fd = memfd_create("k8c-image-garbage", MFD_CLOEXEC);
    cr_assert(eq(int, (int)write(fd, "\x1f\x8bgarbage that is not gzip", 26), 26));
    lseek(fd, 0, SEEK_SET);
    char diff_id[IMAGE_DIGEST_LEN + 1];
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, image__unpack_layer(fd, s.layer_fd, diff_id, &err), -1));
    cr_assert(err != NULL);
    close(fd);
    sandbox_free(&s);
}

/* Through the store: a layer that fails to unpack leaves no layer directory and no temporary
 * directory behind, and a layer whose content does not match its diff-id is refused. */
Test(image_store, failed_unpack_leaves_nothing)
{
    struct sandbox s = sandbox_new();
    _cleanup_err_ struct k8c_err *err = NULL;
    struct image_store *st = image_store_open(s.top, &err);
    cr_assert(st != NULL);
    struct tent e[] = {{"fine", F, "ok", 0, 0, NULL}, {"../escape", F, "x", 0, 0, NULL}};
    int fd = make_tar(e, 2, 1);
    struct stat sb;
    fstat(fd, &sb);
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    char digest[IMAGE_DIGEST_LEN + 1];
    cr_assert(eq(int, image__blob_put(st, NULL, map, (size_t)sb.st_size, digest, &err), 0));
    munmap(map, (size_t)sb.st_size);
    close(fd);
    const char *diff_id = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    int rc = image__layer_ensure(st, digest, IMAGE_MT_OCI_LAYER_GZIP, diff_id, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(strstr(err->msg, "entry `../escape`") != NULL, "%s", err->msg);
    cr_assert(strstr(err->msg, digest) != NULL, "names the layer: %s", err->msg);
    int n = count_entries(st->layers);
    cr_assert(eq(int, n, 0));
    n = count_entries(st->tmp);
    cr_assert(eq(int, n, 0));

    struct tent good[] = {{"fine", F, "ok", 0, 0, NULL}};
    fd = make_tar(good, 1, 0);
    fstat(fd, &sb);
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    cr_assert(eq(int, image__blob_put(st, NULL, map, (size_t)sb.st_size, digest, &err), 0));
    munmap(map, (size_t)sb.st_size);
    close(fd);
    rc = image__layer_ensure(st, digest, IMAGE_MT_OCI_LAYER, diff_id, &err);
    cr_assert(eq(int, rc, -1), "wrong diff-id accepted");
    cr_assert(strstr(err->msg, "diff-id") != NULL, "%s", err->msg);
    n = count_entries(st->layers);
    cr_assert(eq(int, n, 0));
    /* with the right diff-id (the blob is an uncompressed tar: its own digest) it works */
    rc = image__layer_ensure(st, digest, IMAGE_MT_OCI_LAYER, digest, &err);
    cr_assert(eq(int, rc, 0), "%s", err ? err->msg : "");
    n = count_entries(st->layers);
    cr_assert(eq(int, n, 1));
    /* blobs are verified on write */
    rc = image__blob_put(st, diff_id, "x", 1, NULL, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(strstr(err->msg, "digest mismatch") != NULL, "%s", err->msg);
    image_store_close(st);
    /* the store's own directories sit next to the sandbox's */
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s/images'", s.top);
    cr_assert(eq(int, system(cmd), 0));
    sandbox_free(&s);
}
