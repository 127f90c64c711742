/* See tlsio.h. */
#include <errno.h>
#include <sys/socket.h>

#include "base/tlsio.h"

ssize_t tlsio_read(int fd, gnutls_session_t tls, void *buf, size_t n)
{
    ssize_t r;
    if (tls) {
        do
            r = gnutls_record_recv(tls, buf, n);
        while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
        if (r == GNUTLS_E_PREMATURE_TERMINATION)
            return 0;
        return r < 0 ? -1 : r;
    }
    do
        r = recv(fd, buf, n, 0);
    while (r < 0 && errno == EINTR);
    return r;
}

int tlsio_write(int fd, gnutls_session_t tls, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w;
        if (tls) {
            w = gnutls_record_send(tls, p, n);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                continue;
        } else {
            w = send(fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
        }
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
