/* The cluster's certificates: on first start a CA, a serving certificate for the listen
 * address (plus 127.0.0.1 and localhost) and the admin client certificate (O=system:masters,
 * CN=kubernetes-admin), all ECDSA P-256 made with GnuTLS and kept under <data-dir>/tls/.
 * Later starts load them; a serving certificate that does not cover the listen address is
 * re-issued from the same CA so existing kubeconfigs keep working. */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/internal.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/x509.h"

#define CERT_FILE_MAX (64 * 1024)
#define CA_YEARS 10
#define LEAF_YEARS 1

static void crt_freep(gnutls_x509_crt_t *c)
{
    if (*c)
        gnutls_x509_crt_deinit(*c);
}
static void key_freep(gnutls_x509_privkey_t *k)
{
    if (*k)
        gnutls_x509_privkey_deinit(*k);
}
#define _cleanup_crt_ __attribute__((cleanup(crt_freep)))
#define _cleanup_key_ __attribute__((cleanup(key_freep)))

static int tls_fail(struct k8c_err **err, int rc, const char *what)
{
    return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "%s: %s", what, gnutls_strerror(rc));
}

static int export_pem_crt(gnutls_x509_crt_t crt, char **out, struct k8c_err **err)
{
    gnutls_datum_t d = {NULL, 0};
    int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
    if (rc < 0)
        return tls_fail(err, rc, "export certificate");
    *out = xstrndup((const char *)d.data, d.size);
    gnutls_free(d.data);
    return 0;
}

static int export_pem_key(gnutls_x509_privkey_t key, char **out, struct k8c_err **err)
{
    gnutls_datum_t d = {NULL, 0};
    int rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d);
    if (rc < 0)
        return tls_fail(err, rc, "export private key");
    *out = xstrndup((const char *)d.data, d.size);
    gnutls_free(d.data);
    return 0;
}

static int new_key(gnutls_x509_privkey_t *key, struct k8c_err **err)
{
    int rc = gnutls_x509_privkey_init(key);
    if (rc < 0)
        return tls_fail(err, rc, "init private key");
    rc = gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
                                      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc < 0)
        return tls_fail(err, rc, "generate ECDSA key");
    return 0;
}

/* Fills the fields every certificate has: version, serial, validity, subject, key. */
static int crt_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *dn, int years,
                      struct k8c_err **err)
{
    unsigned char serial[16];
    gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
    serial[0] &= 0x7f; /* positive */
    time_t now = time(NULL);
    const char *bad = NULL;
    int rc;
    if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0)
        return tls_fail(err, rc, "set version");
    if ((rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0)
        return tls_fail(err, rc, "set serial");
    if ((rc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0)
        return tls_fail(err, rc, "set activation time");
    if ((rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)years * 365 * 86400)) < 0)
        return tls_fail(err, rc, "set expiration time");
    if ((rc = gnutls_x509_crt_set_dn(crt, dn, &bad)) < 0)
        return tls_fail(err, rc, "set subject");
    if ((rc = gnutls_x509_crt_set_key(crt, key)) < 0)
        return tls_fail(err, rc, "set key");
    return 0;
}

static int make_ca(char **crt_pem, char **key_pem, struct k8c_err **err)
{
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    int rc;
    if (new_key(&key, err) < 0)
        return -1;
    if ((rc = gnutls_x509_crt_init(&crt)) < 0)
        return tls_fail(err, rc, "init certificate");
    if (crt_common(crt, key, "CN=k8c-ca", CA_YEARS, err) < 0)
        return -1;
    if ((rc = gnutls_x509_crt_set_basic_constraints(crt, 1, -1)) < 0)
        return tls_fail(err, rc, "set basic constraints");
    if ((rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
                                                     GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0)
        return tls_fail(err, rc, "set key usage");
    if ((rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0)
        return tls_fail(err, rc, "self-sign CA");
    if (export_pem_crt(crt, crt_pem, err) < 0 || export_pem_key(key, key_pem, err) < 0)
        return -1;
    return 0;
}

static int import_crt(const char *pem, gnutls_x509_crt_t *crt, struct k8c_err **err)
{
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    int rc = gnutls_x509_crt_init(crt);
    if (rc < 0)
        return tls_fail(err, rc, "init certificate");
    if ((rc = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM)) < 0)
        return tls_fail(err, rc, "parse certificate");
    return 0;
}

static int import_key(const char *pem, gnutls_x509_privkey_t *key, struct k8c_err **err)
{
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    int rc = gnutls_x509_privkey_init(key);
    if (rc < 0)
        return tls_fail(err, rc, "init private key");
    if ((rc = gnutls_x509_privkey_import(*key, &d, GNUTLS_X509_FMT_PEM)) < 0)
        return tls_fail(err, rc, "parse private key");
    return 0;
}

/* Issues a leaf signed by the CA. server: SANs for hosts (IP literals become IP SANs) and
 * serverAuth; otherwise a client certificate (clientAuth). */
static int make_leaf(const char *ca_crt_pem, const char *ca_key_pem, const char *dn, bool server,
                     const char *const *hosts, char **crt_pem, char **key_pem, struct k8c_err **err)
{
    _cleanup_crt_ gnutls_x509_crt_t ca = NULL;
    _cleanup_key_ gnutls_x509_privkey_t ca_key = NULL;
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    int rc;
    if (import_crt(ca_crt_pem, &ca, err) < 0 || import_key(ca_key_pem, &ca_key, err) < 0)
        return k8c_err_wrap(err, "load CA");
    if (new_key(&key, err) < 0)
        return -1;
    if ((rc = gnutls_x509_crt_init(&crt)) < 0)
        return tls_fail(err, rc, "init certificate");
    if (crt_common(crt, key, dn, LEAF_YEARS, err) < 0)
        return -1;
    if ((rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0)
        return tls_fail(err, rc, "set basic constraints");
    if ((rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                     GNUTLS_KEY_KEY_ENCIPHERMENT)) < 0)
        return tls_fail(err, rc, "set key usage");
    rc = gnutls_x509_crt_set_key_purpose_oid(
        crt, server ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT, 0);
    if (rc < 0)
        return tls_fail(err, rc, "set key purpose");
    if (server && (rc = x509_add_host_sans(crt, hosts)) < 0)
        return tls_fail(err, rc, "set subject alternative name");
    if ((rc = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0)) < 0)
        return tls_fail(err, rc, "sign certificate");
    if (export_pem_crt(crt, crt_pem, err) < 0 || export_pem_key(key, key_pem, err) < 0)
        return -1;
    return 0;
}

/* Whether the serving certificate in pem covers host (an IP literal or a DNS name). */
static bool crt_covers(const char *pem, const char *host)
{
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    if (import_crt(pem, &crt, NULL) < 0)
        return false;
    if (gnutls_x509_crt_check_hostname2(crt, host, 0) == 0)
        return false;
    /* Renew a month before expiry. */
    time_t exp = gnutls_x509_crt_get_expiration_time(crt);
    return exp > time(NULL) + 30 * 86400;
}

static char *read_opt(const char *path, struct k8c_err **err)
{
    if (access(path, F_OK) < 0)
        return NULL;
    size_t len = 0;
    return file_read_all(path, CERT_FILE_MAX, &len, err);
}

static int write_pair(const char *dir, const char *name, const char *crt, const char *key,
                      struct k8c_err **err)
{
    _cleanup_free_ char *cp = xasprintf("%s/%s.crt", dir, name);
    _cleanup_free_ char *kp = xasprintf("%s/%s.key", dir, name);
    /* The key first: a crash between the two leaves a key without a certificate, which the
     * next start regenerates as a pair. */
    if (file_write_atomic(kp, key, strlen(key), 0600, err) < 0)
        return -1;
    if (file_write_atomic(cp, crt, strlen(crt), 0644, err) < 0)
        return -1;
    return 0;
}

/* Loads name.crt and name.key from dir into *crt and *key (both or neither). Returns 1 when loaded,
 * 0 when missing, -1 on a read error. */
static int read_pair(const char *dir, const char *name, char **crt, char **key,
                     struct k8c_err **err)
{
    _cleanup_free_ char *cp = xasprintf("%s/%s.crt", dir, name);
    _cleanup_free_ char *kp = xasprintf("%s/%s.key", dir, name);
    _cleanup_free_ char *c = read_opt(cp, err);
    if (!c && *err)
        return -1;
    _cleanup_free_ char *k = read_opt(kp, err);
    if (!k && *err)
        return -1;
    if (!c || !k)
        return 0;
    *crt = steal_ptr(&c);
    *key = steal_ptr(&k);
    return 1;
}

void apiserver__certs_clear(struct apiserver_certs *c)
{
    free(c->ca_crt);
    free(c->ca_key);
    free(c->server_crt);
    free(c->server_key);
    free(c->admin_crt);
    free(c->admin_key);
    free(c->sa_key);
    memset(c, 0, sizeof(*c));
}

int apiserver__certs_ensure(const char *data_dir, const char *listen_host,
                            struct apiserver_certs *out, struct k8c_err **err)
{
    _cleanup_free_ char *dir = xasprintf("%s/tls", data_dir);
    _cleanup_free_ char *sa_path = xasprintf("%s/sa.key", dir);
    if (file_mkdir_p(dir, 0700, err) < 0)
        return k8c_err_wrap(err, "create `%s`", dir);
    memset(out, 0, sizeof(*out));
    int rc = read_pair(dir, "ca", &out->ca_crt, &out->ca_key, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        if (make_ca(&out->ca_crt, &out->ca_key, err) < 0 ||
            write_pair(dir, "ca", out->ca_crt, out->ca_key, err) < 0)
            goto fail;
        /* A new CA invalidates every leaf. */
        _cleanup_free_ char *a = xasprintf("%s/apiserver.crt", dir);
        _cleanup_free_ char *b = xasprintf("%s/admin.crt", dir);
        unlink(a);
        unlink(b);
    }
    rc = read_pair(dir, "apiserver", &out->server_crt, &out->server_key, err);
    if (rc < 0)
        goto fail;
    if (rc == 1 &&
        (!crt_covers(out->server_crt, listen_host) || !crt_covers(out->server_crt, "127.0.0.1"))) {
        free(out->server_crt);
        free(out->server_key);
        out->server_crt = out->server_key = NULL;
        rc = 0;
    }
    if (rc == 0) {
        const char *hosts[] = {"127.0.0.1",
                               "localhost",
                               "::1",
                               "kubernetes",
                               "kubernetes.default",
                               "kubernetes.default.svc",
                               listen_host,
                               NULL};
        if (strcmp(listen_host, "127.0.0.1") == 0 || strcmp(listen_host, "localhost") == 0)
            hosts[6] = NULL;
        if (make_leaf(out->ca_crt, out->ca_key, "CN=kube-apiserver", true, hosts, &out->server_crt,
                      &out->server_key, err) < 0 ||
            write_pair(dir, "apiserver", out->server_crt, out->server_key, err) < 0)
            goto fail;
    }
    rc = read_pair(dir, "admin", &out->admin_crt, &out->admin_key, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        if (make_leaf(out->ca_crt, out->ca_key, "O=system:masters,CN=kubernetes-admin", false, NULL,
                      &out->admin_crt, &out->admin_key, err) < 0 ||
            write_pair(dir, "admin", out->admin_crt, out->admin_key, err) < 0)
            goto fail;
    }
    out->sa_key = read_opt(sa_path, err);
    if (!out->sa_key) {
        if (*err)
            goto fail;
        _cleanup_key_ gnutls_x509_privkey_t key = NULL;
        if (new_key(&key, err) < 0 || export_pem_key(key, &out->sa_key, err) < 0 ||
            file_write_atomic(sa_path, out->sa_key, strlen(out->sa_key), 0600, err) < 0)
            goto fail;
    }
    return 0;
fail:
    apiserver__certs_clear(out);
    return k8c_err_wrap(err, "certificates in `%s`", dir);
}

int apiserver__token_ensure(const char *data_dir, char **token, struct k8c_err **err)
{
    _cleanup_free_ char *path = xasprintf("%s/node-token", data_dir);
    if (access(path, F_OK) == 0) {
        size_t len = 0;
        _cleanup_free_ char *t = file_read_all(path, 4096, &len, err);
        if (!t)
            return k8c_err_wrap(err, "read node token");
        while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
            t[--len] = '\0';
        if (len >= 16) {
            *token = steal_ptr(&t);
            return 0;
        }
    }
    unsigned char raw[24];
    int rc = gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw));
    if (rc < 0)
        return tls_fail(err, rc, "random node token");
    static const char hex[] = "0123456789abcdef";
    char t[2 * sizeof(raw) + 2];
    for (size_t i = 0; i < sizeof(raw); i++) {
        t[2 * i] = hex[raw[i] >> 4];
        t[2 * i + 1] = hex[raw[i] & 15];
    }
    t[2 * sizeof(raw)] = '\n';
    t[2 * sizeof(raw) + 1] = '\0';
    if (file_write_atomic(path, t, strlen(t), 0600, err) < 0)
        return k8c_err_wrap(err, "write node token");
    t[2 * sizeof(raw)] = '\0';
    *token = xstrdup(t);
    return 0;
}
