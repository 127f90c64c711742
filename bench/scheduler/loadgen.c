/* Load generator for bench/scheduler (a standalone program, built by the run script):
 *   loadgen create URL CA CERT KEY NS N C SCHEDULER   POST N pods "s0".."s<N-1>" into NS from
 *       C keep-alive HTTPS clients, spec.schedulerName SCHEDULER, 100m cpu / 64Mi each;
 *       prints "creates_per_s=<x> seconds=<y>"
 *   loadgen bind URL CA CERT KEY NS N C PREFIX NODES   POST N Bindings of those pods to
 *       nodes PREFIX0..PREFIX<NODES-1> round robin (what a scheduler writes, without the
 *       deciding); prints "binds_per_s=<x> seconds=<y>"
 *   loadgen waitbound URL CA CERT KEY NS N TIMEOUT_S   watches pods in NS and waits until
 *       N distinct pods carry spec.nodeName; prints "bound=<n> seconds=<since start>"
 * Exits 1 on errors (printed to stderr). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url, *ca, *cert, *key, *ns, *sched, *prefix;
static long total, conc, nodes;
static bool binding;
static atomic_long next_id, failures;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static CURL *handle(void)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* GnuTLS libcurl: only this CA */
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

static void *creator(void *arg)
{
    (void)arg;
    CURL *c = handle();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    char path[512], body[1024];
    snprintf(path, sizeof(path), "%s/api/v1/namespaces/%s/pods", url, ns);
    if (!binding)
        curl_easy_setopt(c, CURLOPT_URL, path);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    for (;;) {
        long id = atomic_fetch_add(&next_id, 1);
        if (id >= total)
            break;
        if (binding) {
            char bpath[600];
            snprintf(bpath, sizeof(bpath), "%s/s%ld/binding", path, id);
            curl_easy_setopt(c, CURLOPT_URL, bpath);
            snprintf(body, sizeof(body),
                     "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":"
                     "\"s%ld\",\"namespace\":\"%s\"},\"target\":{\"apiVersion\":\"v1\","
                     "\"kind\":\"Node\",\"name\":\"%s%ld\"}}",
                     id, ns, prefix, id % nodes);
        } else {
            snprintf(body, sizeof(body),
                     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"s%ld\","
                     "\"labels\":{\"app\":\"bench\"}},\"spec\":{\"schedulerName\":\"%s\","
                     "\"containers\":[{\"name\":\"main\",\"image\":\"registry.example/app:1.0\","
                     "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]}}",
                     id, sched);
        }
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        long code = 0;
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || (code != 201 && code != 200)) {
            if (atomic_fetch_add(&failures, 1) < 5)
                fprintf(stderr, "loadgen: %s s%ld: curl %d http %ld\n", binding ? "bind" : "create",
                        id, rc, code);
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static int create_main(void)
{
    pthread_t *t = calloc((size_t)conc, sizeof(pthread_t));
    double t0 = now_s();
    for (long i = 0; i < conc; i++)
        pthread_create(&t[i], NULL, creator, NULL);
    for (long i = 0; i < conc; i++)
        pthread_join(t[i], NULL);
    double dt = now_s() - t0;
    free(t);
    if (atomic_load(&failures) > 0) {
        fprintf(stderr, "loadgen: %ld creates failed\n", atomic_load(&failures));
        return 1;
    }
    printf("%s=%.0f seconds=%.2f\n", binding ? "binds_per_s" : "creates_per_s", (double)total / dt,
           dt);
    return 0;
}

/* ---- waitbound ---- */

static unsigned char *seen;
static long n_bound;
static double t_start, t_done;
static char line[1 << 16];
static size_t line_len;
static bool overflow;

static void on_line(const char *l)
{
    if (strstr(l, "\"nodeName\":\"") == NULL)
        return;
    const char *n = strstr(l, "\"name\":\"s");
    if (n == NULL)
        return;
    long id = strtol(n + 9, NULL, 10);
    if (id < 0 || id >= total || seen[id])
        return;
    seen[id] = 1;
    if (++n_bound == total)
        t_done = now_s();
}

static size_t on_data(char *p, size_t s, size_t nmemb, void *u)
{
    (void)u;
    size_t n = s * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            line[line_len] = '\0';
            if (!overflow)
                on_line(line);
            line_len = 0;
            overflow = false;
        } else if (line_len + 1 < sizeof(line)) {
            line[line_len++] = p[i];
        } else {
            overflow = true;
        }
    }
    return n_bound == total ? 0 : n; /* 0 ends the transfer once everything is bound */
}

static int progress(void *u, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return now_s() > *(double *)u; /* non-zero aborts at the deadline */
}

static int waitbound_main(double timeout)
{
    seen = calloc((size_t)total, 1);
    t_start = now_s();
    double deadline = t_start + timeout;
    while (n_bound < total && now_s() < deadline) {
        CURL *c = handle();
        char path[512];
        snprintf(path, sizeof(path),
                 "%s/api/v1/namespaces/%s/pods?watch=true&allowWatchBookmarks=false"
                 "&timeoutSeconds=%d",
                 url, ns, (int)timeout + 5);
        curl_easy_setopt(c, CURLOPT_URL, path);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &deadline);
        line_len = 0;
        curl_easy_perform(c); /* without resourceVersion: every pod first, then changes */
        curl_easy_cleanup(c);
    }
    printf("bound=%ld seconds=%.2f\n", n_bound, (n_bound == total ? t_done : now_s()) - t_start);
    free(seen);
    return n_bound == total ? 0 : 1;
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc == 10 && strcmp(argv[1], "create") == 0) {
        url = argv[2], ca = argv[3], cert = argv[4], key = argv[5], ns = argv[6];
        total = atol(argv[7]), conc = atol(argv[8]), sched = argv[9];
        return create_main();
    }
    if (argc == 11 && strcmp(argv[1], "bind") == 0) {
        url = argv[2], ca = argv[3], cert = argv[4], key = argv[5], ns = argv[6];
        total = atol(argv[7]), conc = atol(argv[8]), prefix = argv[9], nodes = atol(argv[10]);
        binding = true;
        return nodes > 0 ? create_main() : 2;
    }
    if (argc == 9 && strcmp(argv[1], "waitbound") == 0) {
        url = argv[2], ca = argv[3], cert = argv[4], key = argv[5], ns = argv[6];
        total = atol(argv[7]);
        return waitbound_main(atof(argv[8]));
    }
    fprintf(stderr, "usage: loadgen create URL CA CERT KEY NS N C SCHEDULER | "
                    "loadgen waitbound URL CA CERT KEY NS N TIMEOUT_S\n");
    return 2;
}
