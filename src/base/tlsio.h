/* Reads and writes on a socket that carries TLS (a GnuTLS session) or plain bytes, for the
 * agent's streaming endpoint and the API server's connections to agents. */
#ifndef K8C_BASE_TLSIO_H
#define K8C_BASE_TLSIO_H

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <sys/types.h>

/* Up to n bytes from tls (or fd when tls is NULL): >0, 0 at EOF (a TLS peer that closed
 * without close_notify counts as EOF), -1 on error. Retries EINTR/EAGAIN. */
ssize_t tlsio_read(int fd, gnutls_session_t tls, void *buf, size_t n);
/* All of buf: 0, or -1 when the peer is gone (no SIGPIPE). */
int tlsio_write(int fd, gnutls_session_t tls, const void *buf, size_t n);

#endif
