/* Unit tests for src/base/x509.c. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <gnutls/gnutls.h>

#include "base/x509.h"

/* A self-signed certificate whose SANs came from hosts, exported and read back: what a TLS
 * client would see. */
static gnutls_x509_crt_t crt_with_sans(const char *const *hosts)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL, back = NULL;
    gnutls_datum_t der = {NULL, 0};
    unsigned char serial[1] = {1};
    cr_assert(eq(int, gnutls_x509_privkey_init(&key), 0));
    cr_assert(eq(int,
                 gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                              GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                 0));
    cr_assert(eq(int, gnutls_x509_crt_init(&crt), 0));
    cr_assert(eq(int, gnutls_x509_crt_set_version(crt, 3), 0));
    cr_assert(eq(int, gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0));
    cr_assert(eq(int, gnutls_x509_crt_set_activation_time(crt, 0), 0));
    cr_assert(eq(int, gnutls_x509_crt_set_expiration_time(crt, 2000000000), 0));
    cr_assert(eq(int, gnutls_x509_crt_set_key(crt, key), 0));
    cr_assert(eq(int, x509_add_host_sans(crt, hosts), 0));
    cr_assert(eq(int, gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0));
    cr_assert(eq(int, gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0));
    cr_assert(eq(int, gnutls_x509_crt_init(&back), 0));
    cr_assert(eq(int, gnutls_x509_crt_import(back, &der, GNUTLS_X509_FMT_DER), 0));
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return back;
}

Test(x509, literals_become_ip_sans_and_names_dns_sans)
{
    const char *hosts[] = {"127.0.0.1", "::1", "node-a.example", NULL};
    gnutls_x509_crt_t crt = crt_with_sans(hosts);
    cr_expect(gnutls_x509_crt_check_ip(crt, (const unsigned char[]){127, 0, 0, 1}, 4, 0));
    cr_expect(gnutls_x509_crt_check_hostname2(crt, "node-a.example", 0));
    cr_expect(gnutls_x509_crt_check_hostname2(crt, "::1", 0));
    cr_expect(eq(int, gnutls_x509_crt_check_hostname2(crt, "node-b.example", 0), 0));
    cr_expect(
        eq(int, gnutls_x509_crt_check_ip(crt, (const unsigned char[]){10, 0, 0, 1}, 4, 0), 0));
    /* an IP literal is not also a DNS name */
    char name[64];
    size_t len = sizeof(name);
    unsigned type = 0;
    cr_expect(eq(int, gnutls_x509_crt_get_subject_alt_name2(crt, 0, name, &len, &type, NULL),
                 GNUTLS_SAN_IPADDRESS));
    gnutls_x509_crt_deinit(crt);
}

Test(x509, no_hosts_adds_nothing)
{
    gnutls_x509_crt_t empty = NULL;
    cr_assert(eq(int, gnutls_x509_crt_init(&empty), 0));
    cr_expect(eq(int, x509_add_host_sans(empty, NULL), 0));
    gnutls_x509_crt_deinit(empty);
    gnutls_x509_crt_t crt = crt_with_sans((const char *const[]){NULL});
    char name[64];
    size_t len = sizeof(name);
    cr_expect(eq(int, gnutls_x509_crt_get_subject_alt_name(crt, 0, name, &len, NULL),
                 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE));
    gnutls_x509_crt_deinit(crt);
}
