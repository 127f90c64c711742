/* Unit tests for src/client/kubeconfig.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/mem.h"
#include "client/client.h"

static char *write_temp(const char *name, const char *text)
{
    char dir[] = "/tmp/k8c-client-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char *path = xasprintf("%s/%s", dir, name);
    cr_assert(eq(int, file_write_atomic(path, text, strlen(text), 0600, NULL), 0));
    return path;
}

static void remove_parent(const char *path)
{
    _cleanup_free_ char *cmd = xasprintf("rm -rf \"$(dirname '%s')\"", path);
    cr_assert(eq(int, system(cmd), 0));
}

Test(kubeconfig, inline_data_and_current_context)
{
    /* "Q0EK" = "CA\n", "Q0VSVAo=" = "CERT\n", "S0VZCg==" = "KEY\n" */
    _cleanup_free_ char *path =
        write_temp("config", "apiVersion: v1\nkind: Config\ncurrent-context: two\n"
                             "clusters:\n- name: c1\n  cluster: {server: 'https://a:1'}\n"
                             "- name: c2\n  cluster:\n    server: https://127.0.0.1:6443/\n"
                             "    certificate-authority-data: Q0EK\n"
                             "users:\n- name: u2\n  user:\n    client-certificate-data: Q0VSVAo=\n"
                             "    client-key-data: S0VZCg==\n    token: abc\n"
                             "contexts:\n- name: one\n  context: {cluster: c1, user: u2}\n"
                             "- name: two\n  context: {cluster: c2, user: u2, namespace: team}\n");
    struct client_config cfg;
    _cleanup_err_ struct k8c_err *err = NULL;
    int rc = client_config_load(path, &cfg, &err);
    cr_assert(eq(int, rc, 0), "%s", err ? err->msg : "");
    cr_assert(eq(str, cfg.server, "https://127.0.0.1:6443/"));
    cr_assert(eq(str, cfg.ca_pem, "CA\n"));
    cr_assert(eq(str, cfg.cert_pem, "CERT\n"));
    cr_assert(eq(str, cfg.key_pem, "KEY\n"));
    cr_assert(eq(str, cfg.token, "abc"));
    cr_assert(eq(str, cfg.namespace, "team"));
    client_config_clear(&cfg);
    remove_parent(path);
}

Test(kubeconfig, file_references_are_relative_to_the_kubeconfig)
{
    _cleanup_free_ char *path =
        write_temp("config", "current-context: x\nclusters:\n- name: c\n  cluster:\n"
                             "    server: https://h:1\n    certificate-authority: ca.pem\n"
                             "users:\n- name: u\n  user: {tokenFile: tok}\n"
                             "contexts:\n- name: x\n  context: {cluster: c, user: u}\n");
    _cleanup_free_ char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    _cleanup_free_ char *ca = xasprintf("%s/ca.pem", dir);
    _cleanup_free_ char *tok = xasprintf("%s/tok", dir);
    cr_assert(eq(int, file_write_atomic(ca, "PEM", 3, 0600, NULL), 0));
    cr_assert(eq(int, file_write_atomic(tok, "secret\n", 7, 0600, NULL), 0));
    struct client_config cfg;
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, client_config_load(path, &cfg, &err), 0), "%s", err ? err->msg : "");
    cr_assert(eq(str, cfg.ca_pem, "PEM"));
    cr_assert(eq(str, cfg.token, "secret"));
    client_config_clear(&cfg);
    remove_parent(path);
}

Test(kubeconfig, errors_name_the_problem)
{
    struct {
        const char *text, *want;
    } cases[] = {
        {"clusters: []\n", "no current-context"},
        {"current-context: nope\ncontexts: []\n", "context \"nope\" not found"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n",
         "cluster \"c\" not found"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
         "clusters:\n- name: c\n  cluster: {}\n",
         "has no server"},
        {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
         "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
         "users:\n- name: u\n  user: {client-key-data: '!!!'}\n",
         "client-key-data: invalid base64"},
        {"a: [\n", "invalid YAML"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *path = write_temp("config", cases[i].text);
        struct client_config cfg;
        _cleanup_err_ struct k8c_err *err = NULL;
        cr_assert(eq(int, client_config_load(path, &cfg, &err), -1));
        cr_assert(strstr(err->msg, cases[i].want) != NULL, "case %zu: %s", i, err->msg);
        cr_assert(strstr(err->msg, path) != NULL, "names the file: %s", err->msg);
        remove_parent(path);
    }
    struct client_config cfg;
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, client_config_load("/nonexistent/kubeconfig", &cfg, &err), -1));
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
}
