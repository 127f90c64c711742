/* The admin kubeconfig: <data-dir>/admin.kubeconfig with the CA and the admin client
 * certificate embedded (base64), so `kubectl --kubeconfig` needs no other file. */
#include <gnutls/gnutls.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/buf.h"
#include "base/file.h"
#include "base/mem.h"

static char *b64(const char *pem)
{
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)strlen(pem)};
    gnutls_datum_t out = {NULL, 0};
    if (gnutls_base64_encode2(&in, &out) < 0)
        return NULL;
    char *s = xstrndup((const char *)out.data, out.size);
    gnutls_free(out.data);
    return s;
}

int apiserver__kubeconfig_write(const char *data_dir, const char *server_url,
                                const struct apiserver_certs *certs, char **path,
                                struct k8c_err **err)
{
    _cleanup_free_ char *ca = b64(certs->ca_crt);
    _cleanup_free_ char *crt = b64(certs->admin_crt);
    _cleanup_free_ char *key = b64(certs->admin_key);
    if (!ca || !crt || !key)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "base64 encoding of certificates");
    _cleanup_buf_ struct buf b = BUF_INIT;
    buf_appendf(&b,
                "apiVersion: v1\n"
                "kind: Config\n"
                "clusters:\n"
                "- name: k8c\n"
                "  cluster:\n"
                "    server: %s\n"
                "    certificate-authority-data: %s\n"
                "users:\n"
                "- name: kubernetes-admin\n"
                "  user:\n"
                "    client-certificate-data: %s\n"
                "    client-key-data: %s\n"
                "contexts:\n"
                "- name: kubernetes-admin@k8c\n"
                "  context:\n"
                "    cluster: k8c\n"
                "    user: kubernetes-admin\n"
                "current-context: kubernetes-admin@k8c\n"
                "preferences: {}\n",
                server_url, ca, crt, key);
    _cleanup_free_ char *p = xasprintf("%s/admin.kubeconfig", data_dir);
    if (file_write_atomic(p, b.data, b.len, 0600, err) < 0)
        return k8c_err_wrap(err, "write kubeconfig");
    *path = steal_ptr(&p);
    return 0;
}
