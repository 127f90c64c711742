/* The agent's serving certificate. The agent holds no CA key (only the API server does), so,
 * as a kubelet without --tls-cert-file does, it makes a self-signed certificate on first start
 * and keeps it under <data-dir>/tls/. It publishes the certificate's SHA-256 on its Node
 * (annotation k8c.io/agent-cert-sha256) and the API server pins that digest when it connects:
 * only the owner of the Node object can change it. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/stream.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/x509.h"

#define CERT_YEARS 10

static int tls_fail(struct k8c_err **err, int rc, const char *what)
{
    return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "agent certificate: %s: %s", what,
                       gnutls_strerror(rc));
}

static int make_self_signed(const char *const *hosts, char **crt_pem, char **key_pem,
                            struct k8c_err **err)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d = {NULL, 0};
    unsigned char serial[16];
    const char *bad = NULL;
    time_t now = time(NULL);
    int rc;
    gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
    serial[0] &= 0x7f;
    if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
        (rc = gnutls_x509_privkey_generate(
             key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
        (rc = gnutls_x509_crt_init(&crt)) < 0 || (rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (rc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
        (rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)CERT_YEARS * 365 * 86400)) <
            0 ||
        (rc = gnutls_x509_crt_set_dn(crt, "CN=k8c-agent", &bad)) < 0 ||
        (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0)
        goto fail;
    if ((rc = x509_add_host_sans(crt, hosts)) < 0)
        goto fail;
    if ((rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
        (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d)) < 0)
        goto fail;
    *crt_pem = xstrndup((const char *)d.data, d.size);
    gnutls_free(d.data);
    if ((rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d)) < 0) {
        free(*crt_pem);
        *crt_pem = NULL;
        goto fail;
    }
    *key_pem = xstrndup((const char *)d.data, d.size);
    gnutls_free(d.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return 0;
fail:
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return tls_fail(err, rc, "make a self-signed certificate");
}

static char *pem_sha256_hex(const char *pem, struct k8c_err **err)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)strlen(pem)}, der = {NULL, 0};
    int rc;
    if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
        (rc = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM)) < 0 ||
        (rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der)) < 0) {
        if (crt)
            gnutls_x509_crt_deinit(crt);
        tls_fail(err, rc, "read the certificate");
        return NULL;
    }
    unsigned char sum[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, sum);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    char *hex = xmalloc(65);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    return hex;
}

int agent__tls_cert_ensure(const char *data_dir, const char *const *hosts, char **crt_pem,
                           char **key_pem, char **sha256_hex, struct k8c_err **err)
{
    _cleanup_free_ char *dir = xasprintf("%s/tls", data_dir);
    _cleanup_free_ char *cp = xasprintf("%s/agent.crt", dir);
    _cleanup_free_ char *kp = xasprintf("%s/agent.key", dir);
    *crt_pem = file_read_all(cp, 65536, NULL, NULL);
    *key_pem = *crt_pem ? file_read_all(kp, 65536, NULL, NULL) : NULL;
    bool covers = false;
    if (*crt_pem && *key_pem) {
        /* a certificate made for another --node-ip is made again */
        gnutls_x509_crt_t crt = NULL;
        gnutls_datum_t in = {(unsigned char *)*crt_pem, (unsigned)strlen(*crt_pem)};
        if (gnutls_x509_crt_init(&crt) >= 0 &&
            gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) >= 0) {
            covers = true;
            for (size_t i = 0; hosts[i]; i++)
                covers = covers && gnutls_x509_crt_check_hostname2(crt, hosts[i], 0) != 0;
        }
        if (crt)
            gnutls_x509_crt_deinit(crt);
    }
    if (!covers) {
        free(*crt_pem);
        free(*key_pem);
        *crt_pem = *key_pem = NULL;
        if (file_mkdir_p(dir, 0700, err) < 0 || make_self_signed(hosts, crt_pem, key_pem, err) < 0)
            goto fail;
        if (file_write_atomic(kp, *key_pem, strlen(*key_pem), 0600, err) < 0 ||
            file_write_atomic(cp, *crt_pem, strlen(*crt_pem), 0644, err) < 0)
            goto fail;
    }
    if (!(*sha256_hex = pem_sha256_hex(*crt_pem, err)))
        goto fail;
    return 0;
fail:
    free(*crt_pem);
    free(*key_pem);
    *crt_pem = *key_pem = NULL;
    return -1;
}
