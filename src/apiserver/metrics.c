/* /metrics in Prometheus text format: apiserver_request_total{verb,resource,code},
 * apiserver_request_duration_seconds (histogram by verb and resource) and
 * apiserver_storage_duration_seconds (histogram by store operation). Series live in small
 * arrays under one mutex: the label sets are bounded (verbs x kinds x codes). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/mem.h"

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NB (sizeof(buckets) / sizeof(buckets[0]))
#define MAX_SERIES 2048

struct counter {
    char verb[16];
    char resource[48];
    int code;
    uint64_t n;
};

struct histo {
    char a[48]; /* verb or store op */
    char b[48]; /* resource or "" */
    uint64_t counts[NB + 1];
    double sum;
    uint64_t n;
};

struct apiserver_metrics {
    pthread_mutex_t lock;
    struct counter *counters;
    size_t n_counters;
    struct histo *req;
    size_t n_req;
    struct histo *store;
    size_t n_store;
};

struct apiserver_metrics *apiserver__metrics_new(void)
{
    struct apiserver_metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->counters = xcalloc(MAX_SERIES, sizeof(*m->counters));
    m->req = xcalloc(MAX_SERIES, sizeof(*m->req));
    m->store = xcalloc(64, sizeof(*m->store));
    return m;
}

void apiserver__metrics_free(struct apiserver_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->counters);
    free(m->req);
    free(m->store);
    free(m);
}

static void copy(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size)
        n = size - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void observe(struct histo *arr, size_t *n, size_t max, const char *a, const char *b,
                    double seconds)
{
    struct histo *h = NULL;
    for (size_t i = 0; i < *n && !h; i++)
        if (strncmp(arr[i].a, a, sizeof(arr[i].a) - 1) == 0 &&
            strncmp(arr[i].b, b, sizeof(arr[i].b) - 1) == 0)
            h = &arr[i];
    if (!h) {
        if (*n >= max)
            return;
        h = &arr[(*n)++];
        copy(h->a, sizeof(h->a), a);
        copy(h->b, sizeof(h->b), b);
    }
    size_t i = 0;
    while (i < NB && seconds > buckets[i])
        i++;
    h->counts[i]++;
    h->sum += seconds;
    h->n++;
}

void apiserver__metrics_request(struct apiserver_metrics *m, const char *verb, const char *resource,
                                int code, uint64_t duration_ns)
{
    pthread_mutex_lock(&m->lock);
    struct counter *c = NULL;
    for (size_t i = 0; i < m->n_counters && !c; i++)
        if (m->counters[i].code == code && strcmp(m->counters[i].verb, verb) == 0 &&
            strncmp(m->counters[i].resource, resource, sizeof(c->resource) - 1) == 0)
            c = &m->counters[i];
    if (!c && m->n_counters < MAX_SERIES) {
        c = &m->counters[m->n_counters++];
        copy(c->verb, sizeof(c->verb), verb);
        copy(c->resource, sizeof(c->resource), resource);
        c->code = code;
    }
    if (c)
        c->n++;
    if (strcmp(verb, "WATCH") != 0)
        observe(m->req, &m->n_req, MAX_SERIES, verb, resource, (double)duration_ns / 1e9);
    pthread_mutex_unlock(&m->lock);
}

void apiserver__metrics_store(struct apiserver_metrics *m, const char *op, uint64_t duration_ns)
{
    pthread_mutex_lock(&m->lock);
    observe(m->store, &m->n_store, 64, op, "", (double)duration_ns / 1e9);
    pthread_mutex_unlock(&m->lock);
}

static void render_histo(struct buf *out, const char *name, const char *la, const char *lb,
                         const struct histo *h)
{
    char labels[160];
    if (lb)
        snprintf(labels, sizeof(labels), "%s=\"%s\",%s=\"%s\"", la, h->a, lb, h->b);
    else
        snprintf(labels, sizeof(labels), "%s=\"%s\"", la, h->a);
    uint64_t cum = 0;
    for (size_t i = 0; i < NB; i++) {
        cum += h->counts[i];
        buf_appendf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, buckets[i],
                    (unsigned long long)cum);
    }
    buf_appendf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)h->n);
    buf_appendf(out, "%s_sum{%s} %.6f\n", name, labels, h->sum);
    buf_appendf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->n);
}

void apiserver__metrics_render(struct apiserver_metrics *m, struct buf *out)
{
    pthread_mutex_lock(&m->lock);
    buf_append_str(out, "# HELP apiserver_request_total Requests by verb, resource and HTTP "
                        "code.\n# TYPE apiserver_request_total counter\n");
    for (size_t i = 0; i < m->n_counters; i++)
        buf_appendf(out, "apiserver_request_total{verb=\"%s\",resource=\"%s\",code=\"%d\"} %llu\n",
                    m->counters[i].verb, m->counters[i].resource, m->counters[i].code,
                    (unsigned long long)m->counters[i].n);
    buf_append_str(out, "# HELP apiserver_request_duration_seconds Request latency (watches "
                        "excluded).\n# TYPE apiserver_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_req; i++)
        render_histo(out, "apiserver_request_duration_seconds", "verb", "resource", &m->req[i]);
    buf_append_str(out, "# HELP apiserver_storage_duration_seconds Store operation latency.\n"
                        "# TYPE apiserver_storage_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_store; i++)
        render_histo(out, "apiserver_storage_duration_seconds", "operation", NULL, &m->store[i]);
    pthread_mutex_unlock(&m->lock);
}
