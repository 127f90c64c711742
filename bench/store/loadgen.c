/* The store benchmark's load generator: the same load against k8c's store (called in-process,
 * as the API server calls it) and against etcd (through its HTTP/JSON gateway, /v3/kv/put and
 * /v3/kv/range), so the figures compare the stores and not two different clients.
 *
 *   loadgen write k8c DIR|etcd URL  WRITERS SECONDS [VALUE_LEN]
 *                                                     -> writes/s, p50, p99 (1 KiB values)
 *   loadgen api URL CA CERT KEY WRITERS SECONDS [FIRST_ID]
 *                                                     -> the same for ConfigMap creates (1 KiB of
 *                                                        data) through a k8c API server, one
 *                                                        keep-alive HTTPS connection per writer
 *   loadgen read  k8c DIR|etcd URL  KEYS SECONDS      -> ranges/s over KEYS keys of 1 KiB
 *   loadgen growth DIR KEYS UPDATES                   -> file size vs live data after compact
 *
 * Each writer thread owns 100 keys and cycles through them: creates first, then updates (k8c:
 * guarded by the mod_revision it got back, as the API server does; etcd: plain puts). */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/mem.h"
#include "store/store.h"

#define VALUE_LEN 1024
#define KEYS_PER_WRITER 100

struct target {
    bool etcd;
    bool api;                    /* ConfigMap creates through a k8c API server over HTTPS */
    const char *where;           /* k8c: directory; etcd, api: base URL */
    const char *ca, *cert, *key; /* api: TLS files */
    struct store *s;
    size_t value_len; /* etcd: the size of each put's value */
};

struct lat {
    uint64_t *ns;
    size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->ns = xrealloc(l->ns, l->cap * sizeof(*l->ns));
    }
    l->ns[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *o++ = b64chars[(v >> 18) & 63];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

struct http {
    CURL *curl;
    struct curl_slist *headers;
    size_t received;
};

static size_t sink(char *ptr, size_t size, size_t n, void *opaque)
{
    struct http *h = opaque;
    h->received += size * n;
    return size * n;
}

static void http_init(struct http *h, const struct target *t)
{
    h->curl = curl_easy_init();
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
    if (t->api) {
        /* One keep-alive HTTPS connection per writer, as kubectl or client-go keep. */
        curl_easy_setopt(h->curl, CURLOPT_CAINFO, t->ca);
        curl_easy_setopt(h->curl, CURLOPT_CAPATH, NULL); /* GnuTLS libcurl: only this CA */
        curl_easy_setopt(h->curl, CURLOPT_SSLCERT, t->cert);
        curl_easy_setopt(h->curl, CURLOPT_SSLKEY, t->key);
        h->headers = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    }
}

/* POSTs body to base+path; exits on any failure (a benchmark with errors means nothing). */
static void http_post(struct http *h, const char *base, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(h->curl);
    long code = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK || (code != 200 && code != 201)) {
        fprintf(stderr, "loadgen: POST %s: %s (HTTP %ld)\n", url, curl_easy_strerror(rc), code);
        exit(1);
    }
}

struct writer {
    struct target *t;
    int id;
    uint64_t deadline;
    size_t count; /* writes to do when deadline is 0 */
    struct lat lat;
};

static void fill_value(char *v, size_t len, int writer, uint64_t n)
{
    memset(v, 'a' + (int)(n % 26), len);
    snprintf(v, len, "{\"writer\":%d,\"n\":%" PRIu64 "}", writer, n);
    v[strlen(v)] = ' ';
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct target *t = w->t;
    int64_t mod[KEYS_PER_WRITER] = {0};
    struct http h = {0};
    if (t->etcd || t->api)
        http_init(&h, t);
    size_t value_len = t->etcd && t->value_len ? t->value_len : VALUE_LEN;
    _cleanup_free_ char *value = xmalloc(value_len + 1);
    for (uint64_t n = 0;; n++) {
        if (w->deadline ? clock_mono_ns() >= w->deadline : n >= w->count)
            break;
        int k = (int)(n % KEYS_PER_WRITER);
        char key[64];
        snprintf(key, sizeof(key), "/bench/w%03d/k%03d", w->id, k);
        fill_value(value, value_len, w->id, n);
        uint64_t start = clock_mono_ns();
        if (t->api) {
            /* A ConfigMap of a new name each time, its data 1 KiB of JSON-safe text. */
            value[value_len] = '\0';
            for (size_t i = 0; i < value_len; i++)
                if (value[i] == '"' || value[i] == '\\')
                    value[i] = '.';
            _cleanup_free_ char *body =
                xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                          "\"bench-w%03d-%llu\"},\"data\":{\"v\":\"%s\"}}",
                          w->id, (unsigned long long)n, value);
            http_post(&h, t->where, "/api/v1/namespaces/default/configmaps", body);
        } else if (t->etcd) {
            _cleanup_free_ char *k64 = b64(key, strlen(key));
            _cleanup_free_ char *v64 = b64(value, value_len);
            _cleanup_free_ char *body = xasprintf("{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
            http_post(&h, t->where, "/v3/kv/put", body);
        } else {
            struct k8c_err *err = NULL;
            int64_t rev = mod[k] ? store_update(t->s, key, value, VALUE_LEN, mod[k], &err)
                                 : store_create(t->s, key, value, VALUE_LEN, &err);
            if (rev < 0) {
                fprintf(stderr, "loadgen: write `%s`: %s\n", key, err->msg);
                exit(1);
            }
            mod[k] = rev;
        }
        lat_add(&w->lat, clock_mono_ns() - start);
    }
    if (t->etcd || t->api) {
        curl_easy_cleanup(h.curl);
        curl_slist_free_all(h.headers);
    }
    return NULL;
}

/* Runs `writers` threads for `seconds` (or `count` writes each) and prints one result line. */
static void run_writers(struct target *t, int writers, double seconds, size_t count, int first_id,
                        bool quiet)
{
    struct writer *ws = xcalloc((size_t)writers, sizeof(*ws));
    pthread_t *th = xcalloc((size_t)writers, sizeof(*th));
    uint64_t start = clock_mono_ns();
    for (int i = 0; i < writers; i++) {
        ws[i].t = t;
        ws[i].id = first_id + i;
        ws[i].deadline = seconds > 0 ? start + (uint64_t)(seconds * 1e9) : 0;
        ws[i].count = count;
        pthread_create(&th[i], NULL, writer_main, &ws[i]);
    }
    struct lat all = {0};
    for (int i = 0; i < writers; i++) {
        pthread_join(th[i], NULL);
        for (size_t j = 0; j < ws[i].lat.n; j++)
            lat_add(&all, ws[i].lat.ns[j]);
        free(ws[i].lat.ns);
    }
    double elapsed = (double)(clock_mono_ns() - start) / 1e9;
    qsort(all.ns, all.n, sizeof(uint64_t), cmp_u64);
    if (!quiet && all.n > 0)
        printf("%s writers=%d writes=%zu writes_per_s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
               "max_ms=%.1f\n",
               t->api    ? "api"
               : t->etcd ? "etcd"
                         : "k8c",
               writers, all.n, (double)all.n / elapsed, (double)all.ns[all.n / 2] / 1e6,
               (double)all.ns[all.n * 9 / 10] / 1e6, (double)all.ns[all.n * 99 / 100] / 1e6,
               (double)all.ns[all.n - 1] / 1e6);
    free(all.ns);
    free(ws);
    free(th);
}

static void open_target(struct target *t, const char *kind, const char *where)
{
    t->etcd = strcmp(kind, "etcd") == 0;
    t->where = where;
    if (t->etcd) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        return;
    }
    /* "k8c DIR": the SQLite store in DIR; "store URL": any store URL (etcd://…). */
    _cleanup_free_ char *url =
        strcmp(kind, "store") == 0 ? xstrdup(where) : xasprintf("sqlite:%s/state.db", where);
    struct k8c_err *err = NULL;
    t->s = store_open(url, NULL, &err);
    if (t->s == NULL) {
        fprintf(stderr, "loadgen: %s\n", err->msg);
        exit(1);
    }
}

static void cmd_read(struct target *t, int keys, double seconds)
{
    /* Load KEYS keys (at most 10,000) with 16 writers at a time, writer ids from 500 up, so the
     * keys are exactly those under /bench/w5. */
    int writers = (keys + KEYS_PER_WRITER - 1) / KEYS_PER_WRITER;
    for (int first = 0; first < writers; first += 16) {
        int n = writers - first < 16 ? writers - first : 16;
        run_writers(t, n, 0, KEYS_PER_WRITER, 500 + first, true);
    }
    struct lat lat = {0};
    uint64_t start = clock_mono_ns(), deadline = start + (uint64_t)(seconds * 1e9);
    struct http h = {0};
    _cleanup_free_ char *body = NULL;
    if (t->etcd) {
        http_init(&h, t);
        _cleanup_free_ char *k64 = b64("/bench/w5", 9);
        _cleanup_free_ char *e64 = b64("/bench/w6", 9);
        body = xasprintf("{\"key\":\"%s\",\"range_end\":\"%s\"}", k64, e64);
    }
    size_t items = 0;
    while (clock_mono_ns() < deadline || lat.n < 3) {
        uint64_t t0 = clock_mono_ns();
        if (t->etcd) {
            h.received = 0;
            http_post(&h, t->where, "/v3/kv/range", body);
            items = h.received;
        } else {
            struct store_list l = {0};
            struct k8c_err *err = NULL;
            if (store_list(t->s, "/bench/w5", 0, NULL, 0, &l, &err) < 0) {
                fprintf(stderr, "loadgen: list: %s\n", err->msg);
                exit(1);
            }
            items = l.n_items;
            store_list_clear(&l);
        }
        lat_add(&lat, clock_mono_ns() - t0);
    }
    double elapsed = (double)(clock_mono_ns() - start) / 1e9;
    qsort(lat.ns, lat.n, sizeof(uint64_t), cmp_u64);
    printf("%s range keys=%d ranges=%zu ranges_per_s=%.2f p50_ms=%.1f (%s %zu)\n",
           t->etcd ? "etcd" : "k8c", keys, lat.n, (double)lat.n / elapsed,
           (double)lat.ns[lat.n / 2] / 1e6, t->etcd ? "bytes" : "items", items);
    free(lat.ns);
    if (t->etcd)
        curl_easy_cleanup(h.curl);
}

static void cmd_growth(const char *dir, int keys, size_t updates)
{
    struct target t = {0};
    open_target(&t, "k8c", dir);
    int writers = keys / KEYS_PER_WRITER;
    uint64_t start = clock_mono_ns();
    run_writers(&t, writers, 0, updates / (size_t)writers, 0, true);
    double fill_s = (double)(clock_mono_ns() - start) / 1e9;
    struct k8c_err *err = NULL;
    int64_t rev = store_revision(t.s);
    start = clock_mono_ns();
    if (store_compact(t.s, rev, &err) < 0) {
        fprintf(stderr, "loadgen: compact: %s\n", err->msg);
        exit(1);
    }
    double compact_s = (double)(clock_mono_ns() - start) / 1e9;
    struct store_list l = {0};
    if (store_list(t.s, "/", 0, NULL, 0, &l, &err) < 0)
        exit(1);
    size_t live = 0;
    for (size_t i = 0; i < l.n_items; i++)
        live += strlen(l.items[i].key) + l.items[i].value_len;
    size_t n_keys = l.n_items;
    store_list_clear(&l);
    store_close(t.s);
    _cleanup_free_ char *path = xasprintf("%s/state.db", dir);
    struct stat st;
    stat(path, &st);
    printf("growth keys=%zu updates=%" PRId64 " fill_s=%.1f compact_s=%.2f file_bytes=%lld "
           "live_bytes=%zu file_over_live=%.2f\n",
           n_keys, rev, fill_s, compact_s, (long long)st.st_size, live,
           (double)st.st_size / (double)live);
}

int main(int argc, char **argv)
{
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "write") == 0) {
        struct target t = {0};
        open_target(&t, argv[2], argv[3]);
        if (argc == 7)
            t.value_len = (size_t)atol(argv[6]);
        run_writers(&t, atoi(argv[4]), atof(argv[5]), 0, 0, false);
        store_close(t.s);
        return 0;
    }
    if ((argc == 8 || argc == 9) && strcmp(argv[1], "api") == 0) {
        struct target t = {
            .api = true, .where = argv[2], .ca = argv[3], .cert = argv[4], .key = argv[5]};
        curl_global_init(CURL_GLOBAL_DEFAULT);
        /* FIRST_ID: writers numbered from it, so a second run creates other names. */
        run_writers(&t, atoi(argv[6]), atof(argv[7]), 0, argc == 9 ? atoi(argv[8]) : 0, false);
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "read") == 0) {
        struct target t = {0};
        open_target(&t, argv[2], argv[3]);
        cmd_read(&t, atoi(argv[4]), atof(argv[5]));
        store_close(t.s);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "growth") == 0) {
        cmd_growth(argv[2], atoi(argv[3]), (size_t)atol(argv[4]));
        return 0;
    }
    fprintf(stderr,
            "usage: loadgen write|read k8c DIR|store URL|etcd URL N SECONDS [VALUE_LEN] | api URL "
            "CA CERT KEY WRITERS SECONDS [FIRST_ID] | growth DIR KEYS UPDATES\n");
    return 2;
}
