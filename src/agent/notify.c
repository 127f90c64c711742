/* The built-in shims' "running" pipes (shim.c --notify-fd), watched by one epoll thread: when
 * one becomes readable (the shim wrote "R", or exited) the pod's key is queued, and the pod's
 * sync reads the pipe (agent__ctr_created). So a start neither holds a pod worker while the
 * shim creates the container nor polls for it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent/internal.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/workqueue.h"

struct notify_watch {
    int fd;
    char *key;
};

struct agent_notify {
    int ep;
    pthread_t thread;
    pthread_mutex_t lock; /* guards watches */
    struct notify_watch *watches;
    size_t n;
};

static void *notify_main(void *opaque)
{
    struct agent *a = opaque;
    struct agent_notify *nt = a->notify;
    while (!atomic_load(a->stop)) {
        struct epoll_event ev[16];
        /* the timeout only bounds how late the stop flag is seen */
        int n = epoll_wait(nt->ep, ev, 16, 500);
        pthread_mutex_lock(&nt->lock);
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < nt->n; k++)
                if (nt->watches[k].fd == ev[i].data.fd)
                    workqueue_add(a->queue, nt->watches[k].key);
        pthread_mutex_unlock(&nt->lock);
    }
    return NULL;
}

void agent__notify_start(struct agent *a)
{
    struct agent_notify *nt = xcalloc(1, sizeof(*nt));
    nt->ep = epoll_create1(EPOLL_CLOEXEC);
    if (nt->ep < 0) {
        LOG_WARN("epoll_create1: %s (container starts are polled)", strerror(errno));
        free(nt);
        return;
    }
    pthread_mutex_init(&nt->lock, NULL);
    a->notify = nt;
    if (pthread_create(&nt->thread, NULL, notify_main, a) != 0) {
        close(nt->ep);
        free(nt);
        a->notify = NULL;
    }
}

void agent__notify_stop(struct agent *a)
{
    struct agent_notify *nt = a->notify;
    if (!nt)
        return;
    pthread_join(nt->thread, NULL);
    for (size_t k = 0; k < nt->n; k++)
        free(nt->watches[k].key);
    free(nt->watches);
    close(nt->ep);
    pthread_mutex_destroy(&nt->lock);
    free(nt);
    a->notify = NULL;
}

int agent__notify_watch(struct agent *a, int fd, const char *key)
{
    struct agent_notify *nt = a->notify;
    if (!nt)
        return -1;
    pthread_mutex_lock(&nt->lock);
    /* an entry left with this number by a closed pipe (a pod dropped while creating) goes */
    size_t k = 0;
    while (k < nt->n && nt->watches[k].fd != fd)
        k++;
    if (k == nt->n) {
        nt->watches = xrealloc(nt->watches, (nt->n + 1) * sizeof(*nt->watches));
        nt->n++;
    } else {
        free(nt->watches[k].key);
    }
    nt->watches[k] = (struct notify_watch){fd, xstrdup(key)};
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = fd};
    int rc = epoll_ctl(nt->ep, EPOLL_CTL_ADD, fd, &ev);
    pthread_mutex_unlock(&nt->lock);
    return rc;
}

void agent__notify_close(struct agent *a, int fd)
{
    struct agent_notify *nt = a->notify;
    if (nt) {
        /* under the lock: the number is not reused before its entry is gone */
        pthread_mutex_lock(&nt->lock);
        for (size_t k = 0; k < nt->n; k++) {
            if (nt->watches[k].fd != fd)
                continue;
            free(nt->watches[k].key);
            nt->watches[k] = nt->watches[--nt->n];
            break;
        }
        epoll_ctl(nt->ep, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        pthread_mutex_unlock(&nt->lock);
    } else {
        close(fd);
    }
}
