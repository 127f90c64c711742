/* Helpers for the etcd backend's unit tests: a real etcd (/usr/bin/etcd) on 127.0.0.1 with
 * free ports and a data directory inside the test's temporary directory, killed by PID in the
 * suite's .fini. Tests skip cleanly when etcd is not installed. */
#ifndef K8C_TESTS_UNIT_STORE_ETCD_HELPERS_H
#define K8C_TESTS_UNIT_STORE_ETCD_HELPERS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define ETCD_TEST_BIN "/usr/bin/etcd"
#define ETCD_TEST_MAX 3

static pid_t etcd_test_pids[ETCD_TEST_MAX];

static inline int etcd_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static inline void etcd_test_teardown(void)
{
    for (int i = 0; i < ETCD_TEST_MAX; i++) {
        if (etcd_test_pids[i] > 0) {
            kill(etcd_test_pids[i], SIGKILL);
            waitpid(etcd_test_pids[i], NULL, 0);
            etcd_test_pids[i] = 0;
        }
    }
    store_test_teardown();
}

/* Kills member i (of etcd_test_cluster) by PID. */
static inline void etcd_test_kill(int i)
{
    if (etcd_test_pids[i] > 0) {
        kill(etcd_test_pids[i], SIGKILL);
        waitpid(etcd_test_pids[i], NULL, 0);
        etcd_test_pids[i] = 0;
    }
}

/* Makes a CA, a server certificate for 127.0.0.1 and a client certificate in dir with
 * openssl (ca.crt, server.crt/key, client.crt/key). Skips the test without openssl. */
static inline void etcd_test_certs(const char *dir)
{
    if (access("/usr/bin/openssl", X_OK) != 0)
        cr_skip_test("openssl is not installed");
    char *cmd = xasprintf(
        "cd '%s' && exec >certs.log 2>&1 && "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=k8c-test-ca "
        "-keyout ca.key -out ca.crt && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key "
        "-out server.csr && "
        "printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >ext && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile ext -out server.crt && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=k8c -keyout client.key -out client.csr && "
        "printf 'extendedKeyUsage=clientAuth\n' >cext && "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile cext -out client.crt",
        dir);
    int rc = system(cmd);
    free(cmd);
    cr_assert(rc == 0, "openssl failed (see %s/certs.log)", dir);
}

/* Starts an n-member cluster on loopback and returns its store URL ("etcd://a,b,c" + suffix,
 * caller frees), once a store can be opened on it. With tls_dir (from etcd_test_certs) the
 * client URLs are https and require a client certificate; suffix must then carry the
 * cacert/cert/key parameters. Skips the test when etcd is missing. */
static inline char *etcd_test_cluster_tls(int n, const char *suffix, const char *tls_dir)
{
    if (access(ETCD_TEST_BIN, X_OK) != 0)
        cr_skip_test("%s is not installed", ETCD_TEST_BIN);
    cr_assert(n >= 1 && n <= ETCD_TEST_MAX);
    int client[ETCD_TEST_MAX], peer[ETCD_TEST_MAX];
    for (int i = 0; i < n; i++) {
        client[i] = etcd_test_free_port();
        peer[i] = etcd_test_free_port();
    }
    char cluster[512] = "", url[512] = "etcd://";
    for (int i = 0; i < n; i++) {
        char part[128];
        snprintf(part, sizeof(part), "%sm%d=http://127.0.0.1:%d", i ? "," : "", i, peer[i]);
        strcat(cluster, part);
        snprintf(part, sizeof(part), "%s127.0.0.1:%d", i ? "," : "", client[i]);
        strcat(url, part);
    }
    for (int i = 0; i < n; i++) {
        char name[16], data[512], curl_[64], purl[64], log[512], cert[600], key[600], ca[600];
        snprintf(cert, sizeof(cert), "--cert-file=%s/server.crt", tls_dir ? tls_dir : "");
        snprintf(key, sizeof(key), "--key-file=%s/server.key", tls_dir ? tls_dir : "");
        snprintf(ca, sizeof(ca), "--trusted-ca-file=%s/ca.crt", tls_dir ? tls_dir : "");
        snprintf(name, sizeof(name), "m%d", i);
        snprintf(data, sizeof(data), "%s/etcd-m%d", store_test_dir(), i);
        snprintf(curl_, sizeof(curl_), "%s://127.0.0.1:%d", tls_dir ? "https" : "http", client[i]);
        snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", peer[i]);
        snprintf(log, sizeof(log), "%s/etcd-m%d.log", store_test_dir(), i);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            /* killed with the test process: Criterion SIGKILLs a test that times out, which
             * then never reaches its cleanup */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(ETCD_TEST_BIN, "etcd", "--name", name, "--data-dir", data, "--listen-client-urls",
                  curl_, "--advertise-client-urls", curl_, "--listen-peer-urls", purl,
                  "--initial-advertise-peer-urls", purl, "--initial-cluster", cluster,
                  "--initial-cluster-state", "new", "--heartbeat-interval", "50",
                  "--election-timeout", "500", tls_dir ? "--client-cert-auth" : (char *)NULL, cert,
                  key, ca, (char *)NULL);
            _exit(127);
        }
        etcd_test_pids[i] = pid;
    }
    char *full = xasprintf("%s%s", url, suffix ? suffix : "");
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct k8c_err *err = NULL;
        struct store *s = store_open(full, NULL, &err);
        if (s) {
            store_close(s);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 30) {
            char *cmd = xasprintf("tail -n 5 %s/etcd-m0.log %s/certs.log >&2", store_test_dir(),
                                  store_test_dir());
            int rc = system(cmd); /* shows why in the test's output */
            (void)rc;
            free(cmd);
            cr_assert(false, "etcd did not start: %s", err->msg);
        }
        k8c_err_free(err);
        struct timespec pause = {0, 50 * 1000000L}; /* polling for readiness */
        nanosleep(&pause, NULL);
    }
    return full;
}

static inline char *etcd_test_cluster(int n, const char *suffix)
{
    return etcd_test_cluster_tls(n, suffix, NULL);
}

#endif
