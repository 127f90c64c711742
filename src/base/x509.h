/* X.509 helpers shared by the API server's certificate authority and the agent's self-signed
 * serving certificate (both build certificates with GnuTLS). */
#ifndef K8C_BASE_X509_H
#define K8C_BASE_X509_H

#include <gnutls/x509.h>

/* Appends a subject alternative name to crt for each of hosts (NULL-terminated): an IPv4 or
 * IPv6 literal becomes an IP SAN, anything else a DNS SAN. Returns 0 or GnuTLS' negative
 * error code (for gnutls_strerror). */
int x509_add_host_sans(gnutls_x509_crt_t crt, const char *const *hosts);

#endif
