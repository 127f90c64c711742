/* Load generator for bench/api: N JSON POSTs from C concurrent clients (one libcurl easy
 * handle and one keep-alive HTTPS connection each), against the k8c API server or against
 * etcd's JSON gateway (/v3/kv/put), printing throughput and latency percentiles.
 *   loadgen api  URL CA CERT KEY N C     POST pods to URL/api/v1/namespaces/default/pods
 *   loadgen etcd URL N C                 PUT keys through URL/v3/kv/put
 *   loadgen list URL CA CERT KEY         GET URL/api/v1/pods once (seconds, bytes)
 *   loadgen watch URL CA CERT KEY W E    W watchers on configmaps in default, E creates;
 *                                        delivery latency of every event to every watcher
 * Output: one line "creates_per_s=<x> p50_ms=<y> p99_ms=<z>" (or "list_s=… bytes=…"). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *mode, *url, *ca, *cert, *key;
static long total, conc;
static atomic_long next_id;
static double *lat;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    size_t *count = u;
    *count += s * n;
    return s * n;
}

static void b64(const char *in, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), j = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[j++] = t[(v >> 18) & 63];
        out[j++] = t[(v >> 12) & 63];
        out[j++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[j++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[j] = '\0';
}

static const char *POD = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%ld\","
                         "\"labels\":{\"app\":\"bench\"}},\"spec\":{\"containers\":[{\"name\":"
                         "\"main\",\"image\":\"registry.example/app:1.0\",\"ports\":[{"
                         "\"containerPort\":8080}]}]}}";

static void *worker(void *arg)
{
    CURL *c = curl_easy_init();
    size_t got = 0;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char target[512], body[4096], val[1024], k64[256], v64[2048];
    int api = strcmp(mode, "api") == 0;
    if (api) {
        snprintf(target, sizeof(target), "%s/api/v1/namespaces/default/pods", url);
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* GnuTLS libcurl: only this CA */
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    } else {
        snprintf(target, sizeof(target), "%s/v3/kv/put", url);
    }
    curl_easy_setopt(c, CURLOPT_URL, target);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    for (;;) {
        long id = atomic_fetch_add(&next_id, 1);
        if (id >= total)
            break;
        if (api) {
            snprintf(body, sizeof(body), POD, id);
        } else {
            char k[64];
            snprintf(k, sizeof(k), "/registry/pods/default/p%ld", id);
            snprintf(val, sizeof(val), POD, id);
            b64(k, k64);
            b64(val, v64);
            snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
        }
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || (code != 200 && code != 201)) {
            fprintf(stderr, "loadgen: request %ld failed: %s (HTTP %ld)\n", id,
                    curl_easy_strerror(rc), code);
            exit(1);
        }
        lat[id] = now_s() - t0;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

/* ---- watch fan-out ---- */

#define MAX_EVENTS 1000
static double sent_at[MAX_EVENTS];
static atomic_int sent_count;
static double *delivery;
static atomic_long n_delivery;
static long watch_total;

struct watcher {
    char line[8192];
    size_t len;
};

static size_t on_watch(char *p, size_t s, size_t n, void *u)
{
    struct watcher *w = u;
    size_t total_in = s * n;
    double t = now_s();
    for (size_t i = 0; i < total_in; i++) {
        char c = p[i];
        if (c != '\n') {
            if (w->len < sizeof(w->line) - 1)
                w->line[w->len++] = c;
            continue;
        }
        w->line[w->len] = '\0';
        w->len = 0;
        char *e = strstr(w->line, "\"name\":\"fan");
        if (!e)
            continue;
        int id = atoi(e + 11);
        if (id >= 0 && id < MAX_EVENTS && sent_at[id] > 0) {
            long k = atomic_fetch_add(&n_delivery, 1);
            if (k < watch_total)
                delivery[k] = t - sent_at[id];
        }
    }
    return total_in;
}

static void *producer(void *arg)
{
    long events = (long)arg;
    CURL *c = curl_easy_init();
    size_t got = 0;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char target[512], body[512];
    snprintf(target, sizeof(target), "%s/api/v1/namespaces/default/configmaps", url);
    curl_easy_setopt(c, CURLOPT_URL, target);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* GnuTLS libcurl: only this CA */
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    for (long i = 0; i < events; i++) {
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                 "\"fan%ld\"},\"data\":{\"a\":\"b\"}}",
                 i);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        sent_at[i] = now_s();
        if (curl_easy_perform(c) != CURLE_OK) {
            fprintf(stderr, "loadgen: create fan%ld failed\n", i);
            exit(1);
        }
        atomic_fetch_add(&sent_count, 1);
        struct timespec ts = {0, 20 * 1000 * 1000}; /* 50 events/s */
        nanosleep(&ts, NULL);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static int watch_main(long watchers, long events)
{
    if (events > MAX_EVENTS)
        events = MAX_EVENTS;
    watch_total = watchers * events;
    delivery = calloc((size_t)watch_total, sizeof(double));
    CURLM *m = curl_multi_init();
    struct watcher *ws = calloc((size_t)watchers, sizeof(*ws));
    char target[512];
    /* Watch from the current revision: only the events created below. */
    snprintf(target, sizeof(target),
             "%s/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=120", url);
    for (long i = 0; i < watchers; i++) {
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, target);
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* GnuTLS libcurl: only this CA */
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_watch);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &ws[i]);
        curl_multi_add_handle(m, c);
    }
    int running = 1;
    double t0 = now_s();
    /* Connect everything first (the TLS handshakes), then produce. */
    while (now_s() - t0 < 30) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
        long connected = 0;
        int q = 0;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &q)))
            if (msg->msg == CURLMSG_DONE) {
                fprintf(stderr, "loadgen: a watch ended early\n");
                return 1;
            }
        /* A watch with response headers received counts as connected. */
        (void)connected;
        if (now_s() - t0 > 1.0 + (double)watchers / 200.0)
            break;
    }
    double tc = now_s() - t0;
    pthread_t th;
    pthread_create(&th, NULL, producer, (void *)events);
    double deadline = now_s() + 60;
    while (atomic_load(&n_delivery) < watch_total && now_s() < deadline) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    pthread_join(th, NULL);
    /* The server's footprint while every watch is open (SERVER_PID from bench/api/run). */
    long rss_kb = -1, threads = -1;
    const char *pid = getenv("SERVER_PID");
    if (pid) {
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%s/status", pid);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f)) {
            if (strncmp(line, "VmRSS:", 6) == 0)
                rss_kb = atol(line + 6);
            else if (strncmp(line, "Threads:", 8) == 0)
                threads = atol(line + 8);
        }
        if (f)
            fclose(f);
    }
    long got = atomic_load(&n_delivery);
    if (got > watch_total)
        got = watch_total;
    qsort(delivery, (size_t)got, sizeof(double), cmp);
    printf("watchers=%ld events=%ld delivered=%ld/%ld connect_s=%.1f p50_ms=%.2f p99_ms=%.2f "
           "server_rss_mib=%ld server_threads=%ld\n",
           watchers, events, got, watch_total, tc, got ? delivery[got / 2] * 1000 : -1.0,
           got ? delivery[(long)(got * 0.99)] * 1000 : -1.0, rss_kb / 1024, threads);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: loadgen api|etcd|list ...\n");
        return 2;
    }
    mode = argv[1];
    url = argv[2];
    curl_global_init(CURL_GLOBAL_ALL);
    if (strcmp(mode, "watch") == 0 && argc == 8) {
        ca = argv[3];
        cert = argv[4];
        key = argv[5];
        return watch_main(atol(argv[6]), atol(argv[7]));
    }
    if (strcmp(mode, "list") == 0 && argc == 6) {
        CURL *c = curl_easy_init();
        size_t got = 0;
        char target[512];
        snprintf(target, sizeof(target), "%s/api/v1/pods", url);
        curl_easy_setopt(c, CURLOPT_URL, target);
        curl_easy_setopt(c, CURLOPT_CAINFO, argv[3]);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* GnuTLS libcurl: only this CA */
        curl_easy_setopt(c, CURLOPT_SSLCERT, argv[4]);
        curl_easy_setopt(c, CURLOPT_SSLKEY, argv[5]);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
        double t0 = now_s();
        if (curl_easy_perform(c) != CURLE_OK)
            return 1;
        printf("list_s=%.3f bytes=%zu\n", now_s() - t0, got);
        return 0;
    }
    int api = strcmp(mode, "api") == 0;
    if ((api && argc != 8) || (!api && argc != 5)) {
        fprintf(stderr, "loadgen: wrong arguments\n");
        return 2;
    }
    if (api) {
        ca = argv[3];
        cert = argv[4];
        key = argv[5];
    }
    total = atol(argv[api ? 6 : 3]);
    conc = atol(argv[api ? 7 : 4]);
    lat = calloc((size_t)total, sizeof(double));
    pthread_t th[256];
    if (conc > 256)
        conc = 256;
    double t0 = now_s();
    for (long i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (long i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    double el = now_s() - t0;
    qsort(lat, (size_t)total, sizeof(double), cmp);
    printf("creates_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n", (double)total / el,
           lat[total / 2] * 1000, lat[(long)(total * 0.99)] * 1000);
    return 0;
}
