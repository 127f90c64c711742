/* Terminals the agent hands to a runtime (exec -t with runc/crun, the shim of a tty container):
 * a raw pty whose slave becomes the runtime's stdio and controlling terminal, so a window size
 * set on the master reaches it as SIGWINCH. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent/stream.h"

int agent__pty_open(int *master, int *slave)
{
    if (openpty(master, slave, NULL, NULL, NULL) < 0)
        return -1;
    fcntl(*master, F_SETFD, FD_CLOEXEC);
    /* the runtime relays bytes; our side must not echo or translate them */
    struct termios t;
    if (tcgetattr(*slave, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(*slave, TCSANOW, &t);
    }
    return 0;
}

void agent__pty_child(int slave)
{
    setsid();
    ioctl(slave, TIOCSCTTY, 0);
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
}

int agent__write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}
