/* Unit tests for the TLS material of src/client/rest.c: the PEMs libcurl reads by path live in
 * sealed memfds owned by the client (the TLS round trips themselves are in the e2e tests). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "client/client.h"

/* The fd of this process whose link reads "/memfd:<name> (deleted)", or -1. */
static int find_memfd(const char *name)
{
    _cleanup_free_ char *want = xasprintf("/memfd:%s (deleted)", name);
    DIR *d = opendir("/proc/self/fd");
    cr_assert(d != NULL);
    int found = -1;
    for (struct dirent *e; found < 0 && (e = readdir(d)) != NULL;) {
        char link[256], path[300];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            if (strcmp(link, want) == 0)
                found = atoi(e->d_name);
        }
    }
    closedir(d);
    return found;
}

Test(client, tls_material_lives_in_sealed_memfds_until_freed)
{
    struct client_config cfg = {.server = "https://127.0.0.1:1",
                                .ca_pem = "CA PEM\n",
                                .cert_pem = "CERT PEM\n",
                                .key_pem = "KEY PEM\n"};
    struct client *c = client_new(&cfg, NULL);
    cr_assert(c != NULL);
    const char *names[] = {"k8c-client-ca", "k8c-client-cert", "k8c-client-key"};
    const char *pems[] = {cfg.ca_pem, cfg.cert_pem, cfg.key_pem};
    for (int i = 0; i < 3; i++) {
        int fd = find_memfd(names[i]);
        cr_assert(fd >= 0, "no memfd %s", names[i]);
        cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        int seals = fcntl(fd, F_GET_SEALS);
        cr_assert(eq(int, seals &(F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
                     F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL));
        /* what libcurl opens: the path, from the start, whatever the fd's offset */
        char path[64], got[64] = "";
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        FILE *f = fopen(path, "r");
        cr_assert(f != NULL);
        size_t n = fread(got, 1, sizeof(got) - 1, f);
        fclose(f);
        got[n] = '\0';
        cr_assert(eq(str, got, (char *)pems[i]));
        cr_assert(eq(int, (int)write(fd, "x", 1), -1), "a sealed memfd took a write");
    }
    client_free(c);
    for (int i = 0; i < 3; i++)
        cr_assert(eq(int, find_memfd(names[i]), -1), "%s left open", names[i]);

    /* without TLS material there is no memfd at all */
    struct client_config plain = {.server = "http://127.0.0.1:1"};
    c = client_new(&plain, NULL);
    cr_assert(c != NULL);
    cr_assert(eq(int, find_memfd("k8c-client-ca"), -1));
    client_free(c);
}
