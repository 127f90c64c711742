/* Per-request deadlines, as kube-apiserver's timeout filter: a request that is not
 * long-running (watches and the streaming subresources are) gets --request-timeout (60 s),
 * or less when the client asks with `?timeout=` (client-go sends its own timeout there). When
 * the deadline passes the client gets 504 Timeout at once while the handler finishes in the
 * background ("may still be processing the request": a write that was queued still lands).
 *
 * So that a handler can be abandoned without killing it, requests run on a pool of worker
 * threads: the connection's thread hands the job over and waits for it with a deadline. The
 * pool grows while every worker is busy (one per request in progress, bounded by the
 * in-flight limits) and a worker idle for WORKER_IDLE_S exits. The job owns copies of
 * everything the handler reads, because an abandoned job outlives the connection. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define WORKER_STACK (512 * 1024) /* as the connection threads */
#define WORKER_IDLE_S 30

struct apiserver_job {
    struct apiserver_core *core;
    struct apiserver_req req;
    struct apiserver_resp resp;
    struct apiserver_user user;
    char *method, *path, *accept, *content_type, *body, *forward_headers;
    bool done, abandoned;
    pthread_cond_t cond;
    struct apiserver_job *next;
};

struct apiserver_pool {
    pthread_mutex_t lock;
    pthread_cond_t work, gone;
    struct apiserver_job *head, *tail;
    int threads, idle, queued;
    bool stopping;
};

static void job_free(struct apiserver_job *j)
{
    apiserver__req_clear(&j->req);
    apiserver_response_clear(&j->resp.out);
    free(j->method);
    free(j->path);
    free(j->accept);
    free(j->content_type);
    free(j->body);
    free(j->forward_headers);
    pthread_cond_destroy(&j->cond);
    free(j);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* A job holding its own copy of req (params are moved: req loses them). */
static struct apiserver_job *job_new(struct apiserver_core *core, struct apiserver_req *req)
{
    struct apiserver_job *j = xcalloc(1, sizeof(*j));
    j->core = core;
    j->method = xstrdup(req->method);
    j->path = xstrdup(req->path);
    j->accept = dup_or_null(req->accept);
    j->content_type = dup_or_null(req->content_type);
    j->body = xmalloc(req->body_len + 1);
    memcpy(j->body, req->body, req->body_len);
    j->body[req->body_len] = '\0';
    j->forward_headers = dup_or_null(req->forward_headers);
    j->req = (struct apiserver_req){
        .method = j->method,
        .path = j->path,
        .params = req->params,
        .n_params = req->n_params,
        .accept = j->accept,
        .content_type = j->content_type,
        .body = j->body,
        .body_len = req->body_len,
        .user = NULL,
        .conn_fd = -1,
        .forward_headers = j->forward_headers,
    };
    if (req->user) {
        j->user = *req->user;
        j->req.user = &j->user;
    }
    req->params = NULL;
    req->n_params = 0;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cond, &attr);
    pthread_condattr_destroy(&attr);
    return j;
}

static void *worker_main(void *arg)
{
    struct apiserver_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += WORKER_IDLE_S;
            p->idle++;
            int rc = pthread_cond_timedwait(&p->work, &p->lock, &until);
            p->idle--;
            if (rc == ETIMEDOUT && !p->head)
                goto out;
        }
        if (!p->head)
            break; /* stopping, and nothing left to run */
        struct apiserver_job *j = p->head;
        p->queued--;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        apiserver__dispatch(j->core, &j->req, &j->resp);
        pthread_mutex_lock(&p->lock);
        j->done = true;
        if (j->abandoned) {
            pthread_mutex_unlock(&p->lock);
            job_free(j);
            pthread_mutex_lock(&p->lock);
        } else {
            pthread_cond_signal(&j->cond);
        }
    }
out:
    p->threads--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct apiserver_pool *apiserver__pool_new(void)
{
    struct apiserver_pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&p->gone, NULL);
    return p;
}

void apiserver__pool_free(struct apiserver_pool *p)
{
    if (!p)
        return;
    /* Abandoned handlers still run against the core and the store: wait for them. */
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    while (p->threads > 0)
        pthread_cond_wait(&p->gone, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Starts a worker; called with the lock held. false when no thread can be made. */
static bool worker_start(struct apiserver_pool *p)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WORKER_STACK);
    pthread_t t;
    bool ok = pthread_create(&t, &attr, worker_main, p) == 0;
    pthread_attr_destroy(&attr);
    if (ok)
        p->threads++;
    return ok;
}

/* Go's time.ParseDuration for the forms clients send ("30s", "1m0s", "500ms", "1.5h"):
 * a sequence of decimal numbers with units ns, us, µs, ms, s, m, h. */
int apiserver_parse_duration(const char *s, uint64_t *ns)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
    const char *p = s;
    double total = 0;
    bool negative = *p == '-';
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '\0')
        return -1;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    while (*p) {
        /* Digits and one dot only: strtod alone would also take "1e3", "inf" or "0x1p3". */
        size_t n = strspn(p, "0123456789."), digits = strspn(p, "0123456789");
        char num[64];
        if (n == 0 || n >= sizeof(num) || (n == 1 && *p == '.') ||
            memchr(p + digits + 1, '.', n > digits + 1 ? n - digits - 1 : 0))
            return -1;
        memcpy(num, p, n);
        num[n] = '\0';
        double v = strtod(num, NULL);
        p += n;
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > best_len) {
                best = i;
                best_len = l;
            }
        }
        if (best_len == 0)
            return -1;
        total += v * units[best].ns;
        p += best_len;
    }
    if (total > 9.2e18)
        return -1;
    *ns = negative ? 0 : (uint64_t)total; /* a negative timeout means none */
    return 0;
}

/* Whether kube-apiserver counts the request as long-running (no deadline, no in-flight
 * slot): watches and the streaming subresources. */
static bool long_running(const struct apiserver_req *req)
{
    struct apiserver_route route;
    _cleanup_err_ struct k8c_err *e = NULL;
    if (apiserver__route_parse(req->path, &route, &e) < 0)
        return false;
    bool lr = false;
    if (route.type == ROUTE_RESOURCE) {
        static const char *const streaming[] = {"log", "exec", "attach", "portforward", "proxy"};
        if (route.legacy_watch ||
            (!route.subresource &&
             (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) &&
             apiserver__param_bool(req, "watch")))
            lr = true;
        for (size_t i = 0; route.subresource && i < ARRAY_SIZE(streaming); i++)
            if (strcmp(route.subresource, streaming[i]) == 0)
                lr = true;
    }
    apiserver__route_clear(&route);
    return lr;
}

void apiserver__serve_with_deadline(struct apiserver_core *core, struct apiserver_req *req,
                                    struct apiserver_resp *resp)
{
    if (long_running(req)) {
        apiserver__dispatch(core, req, resp);
        return;
    }
    uint64_t timeout_ns = core->request_timeout_ns;
    const char *t = apiserver__param(req, "timeout");
    if (t && *t) {
        uint64_t asked = 0;
        if (apiserver_parse_duration(t, &asked) < 0) {
            _cleanup_free_ char *m = xasprintf("invalid timeout specified in the request URL - "
                                               "time: invalid duration \"%s\"",
                                               t);
            apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
            return;
        }
        if (asked > 0 && asked < timeout_ns)
            timeout_ns = asked;
    }
    if (!core->pool) {
        apiserver__dispatch(core, req, resp);
        return;
    }
    struct apiserver_pool *p = core->pool;
    struct apiserver_job *j = job_new(core, req);
    uint64_t deadline = clock_mono_ns() + timeout_ns;
    struct timespec until = {.tv_sec = (time_t)(deadline / 1000000000ull),
                             .tv_nsec = (long)(deadline % 1000000000ull)};
    pthread_mutex_lock(&p->lock);
    if (p->idle <= p->queued && !worker_start(p)) {
        pthread_mutex_unlock(&p->lock);
        /* No thread to spare: serve it here, without a deadline, rather than not at all. */
        apiserver__dispatch(core, &j->req, resp);
        job_free(j);
        return;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->work);
    while (!j->done) {
        if (pthread_cond_timedwait(&j->cond, &p->lock, &until) == ETIMEDOUT && !j->done)
            break;
    }
    if (!j->done) {
        j->abandoned = true; /* the worker frees it */
        pthread_mutex_unlock(&p->lock);
        LOG_INFO("request timed out after %.3f s: %s %s", (double)timeout_ns / 1e9, req->method,
                 req->path);
        apiserver__resp_status(resp, 504, "Timeout",
                               "Timeout: request did not complete within requested timeout - "
                               "context deadline exceeded",
                               NULL, NULL, NULL);
        return;
    }
    pthread_mutex_unlock(&p->lock);
    *resp = j->resp;
    memset(&j->resp, 0, sizeof(j->resp));
    job_free(j);
}
