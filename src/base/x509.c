#include "base/x509.h"

#include <arpa/inet.h>
#include <string.h>

int x509_add_host_sans(gnutls_x509_crt_t crt, const char *const *hosts)
{
    for (size_t i = 0; hosts && hosts[i]; i++) {
        unsigned char ip[16];
        int rc;
        if (inet_pton(AF_INET, hosts[i], ip) == 1)
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                      GNUTLS_FSAN_APPEND);
        else if (inet_pton(AF_INET6, hosts[i], ip) == 1)
            rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                      GNUTLS_FSAN_APPEND);
        else
            rc = gnutls_x509_crt_set_subject_alt_name(
                crt, GNUTLS_SAN_DNSNAME, hosts[i], (unsigned)strlen(hosts[i]), GNUTLS_FSAN_APPEND);
        if (rc < 0)
            return rc;
    }
    return 0;
}
