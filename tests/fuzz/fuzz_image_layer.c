/* Fuzz target: layer unpacking (src/image/unpack.c), the path every layer tarball from a
 * registry or an archive takes. Each input is unpacked into a fresh directory inside a
 * sandbox directory; whatever the input, the unpack either succeeds or fails with a message,
 * and nothing appears in the sandbox outside the layer directory. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "image/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    K8C_ASSERT(d != NULL);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char sandbox[] = "/tmp/k8c-image-fuzz-XXXXXX";
    K8C_ASSERT(mkdtemp(sandbox) != NULL);
    char *layer = xasprintf("%s/layer", sandbox);
    K8C_ASSERT(mkdir(layer, 0755) == 0);
    int dir_fd = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int in = memfd_create("k8c-image-fuzz", MFD_CLOEXEC);
    K8C_ASSERT(dir_fd >= 0 && in >= 0);
    K8C_ASSERT(write(in, data, size) == (ssize_t)size);
    K8C_ASSERT(lseek(in, 0, SEEK_SET) == 0);
    struct k8c_err *err = NULL;
    char diff_id[IMAGE_DIGEST_LEN + 1];
    if (image__unpack_layer(in, dir_fd, diff_id, &err) < 0) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
    } else {
        K8C_ASSERT(image__digest_valid(diff_id));
    }
    close(in);
    close(dir_fd);
    K8C_ASSERT(count_entries(sandbox) == 1); /* nothing escaped the layer directory */
    nftw(sandbox, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    free(layer);
    return 0;
}
