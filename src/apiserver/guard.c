/* Deadlines on reading requests, against slowloris clients. libmicrohttpd's connection
 * timeout only measures silence, so a client that trickles its headers (or its body) one
 * byte at a time keeps a connection, and its thread, forever. As Go's ReadHeaderTimeout does
 * for kube-apiserver, each connection here has a deadline by which the request being read
 * must be complete; a thread of its own shuts down (shutdown(2), so the connection's thread
 * sees end of file and closes it as usual) every connection past its deadline.
 *
 * The descriptor's number can be reused once libmicrohttpd closes it, so each entry also
 * remembers the socket's inode and the reaper checks it before acting. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define REAP_EVERY_MS 250

struct apiserver_guarded {
    int fd;
    dev_t dev;
    ino_t ino;
    uint64_t deadline_ns; /* 0: none */
    bool exempt;          /* handed to a pipe (exec, port-forward): never again */
    struct apiserver_guarded *prev, *next;
};

struct apiserver_guard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct apiserver_guarded *conns;
    bool stopping;
    pthread_t reaper;
    unsigned long cut;
};

static void *reaper_main(void *arg)
{
    struct apiserver_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec until = clock_mono_after(REAP_EVERY_MS * 1000000ull);
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
        uint64_t now = clock_mono_ns();
        for (struct apiserver_guarded *c = g->conns; c; c = c->next) {
            if (c->exempt || c->deadline_ns == 0 || now < c->deadline_ns)
                continue;
            c->deadline_ns = 0;
            struct stat st;
            if (fstat(c->fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino) {
                shutdown(c->fd, SHUT_RDWR);
                g->cut++;
                LOG_INFO("closed a connection that did not send its request in time fd=%d", c->fd);
            }
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

struct apiserver_guard *apiserver__guard_new(void)
{
    struct apiserver_guard *g = xcalloc(1, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    clock_cond_init_mono(&g->wake);
    int r = pthread_create(&g->reaper, NULL, reaper_main, g);
    if (r != 0)
        k8c_panic(__FILE__, __LINE__, "cannot start the connection reaper: %s", strerror(r));
    return g;
}

void apiserver__guard_free(struct apiserver_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->reaper, NULL);
    while (g->conns) {
        struct apiserver_guarded *c = g->conns;
        g->conns = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

struct apiserver_guarded *apiserver__guard_add(struct apiserver_guard *g, int fd,
                                               uint64_t deadline_ns)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    struct apiserver_guarded *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->deadline_ns = deadline_ns;
    pthread_mutex_lock(&g->lock);
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    pthread_mutex_unlock(&g->lock);
    return c;
}

void apiserver__guard_set(struct apiserver_guard *g, struct apiserver_guarded *c,
                          uint64_t deadline_ns, bool exempt)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    c->deadline_ns = deadline_ns;
    c->exempt = c->exempt || exempt;
    pthread_mutex_unlock(&g->lock);
}

void apiserver__guard_remove(struct apiserver_guard *g, struct apiserver_guarded *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&g->lock);
    free(c);
}
