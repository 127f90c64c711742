/* Replays a fuzz target's corpus without libFuzzer: `replay DIR|FILE...` feeds each file to
 * LLVMFuzzerTestOneInput once. Linked with every fuzz target for `make test` and `make asan`,
 * so the committed corpora guard against regressions on every run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    struct k8c_err *err = NULL;
    size_t len = 0;
    char *data = file_read_all(path, 16 << 20, &len, &err);
    if (data == NULL) {
        fprintf(stderr, "replay: %s\n", err->msg);
        k8c_err_free(err);
        return -1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: no corpus at `%s`\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) < 0)
                return 1;
            files++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        if (dir == NULL)
            return 1;
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char *path = xasprintf("%s/%s", argv[i], de->d_name);
            int rc = replay_file(path);
            free(path);
            if (rc < 0) {
                closedir(dir);
                return 1;
            }
            files++;
        }
        closedir(dir);
    }
    printf("replay: %s: %d inputs ran clean\n", argc > 1 ? argv[1] : "-", files);
    return 0;
}
