/* Unit tests for src/client/rest.c and informer.c against an in-process fake API server
 * (libmicrohttpd, plain HTTP on 127.0.0.1): list, watch, re-watch, re-list on 410. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"
#include "client/client.h"
#include "client/informer.h"

/* The fake server's world: the current objects, an event log, and a compaction point. */
struct fake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    json_t *objects; /* name -> object */
    json_t *events;  /* array of {"type","object"} in revision order */
    int64_t rv;
    int64_t compacted; /* watches from before this get 410 */
    int watches_served;
    bool end_watches; /* makes open watch streams end */
    struct MHD_Daemon *daemon;
    int port;
};

static struct fake fake;

static json_t *pod(const char *name, int64_t rv)
{
    char rvs[32];
    snprintf(rvs, sizeof(rvs), "%lld", (long long)rv);
    return json_pack("{s:{s:s,s:s,s:s,s:[{s:s}]}}", "metadata", "name", name, "namespace", "ns",
                     "resourceVersion", rvs, "managedFields", "manager", "test");
}

/* Records a change (with the lock held). */
static void fake_change(const char *type, const char *name)
{
    fake.rv++;
    json_t *obj = pod(name, fake.rv);
    if (strcmp(type, "DELETED") == 0)
        json_object_del(fake.objects, name);
    else
        json_object_set(fake.objects, name, obj);
    json_array_append_new(fake.events, json_pack("{s:s,s:o}", "type", type, "object", obj));
    pthread_cond_broadcast(&fake.cond);
}

struct stream {
    int64_t after;
    size_t next_event;
    struct buf pending;
    size_t sent;
    uint64_t deadline_ns;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *s = cls;
    pthread_mutex_lock(&fake.lock);
    while (s->sent == s->pending.len) {
        if (fake.end_watches) {
            pthread_mutex_unlock(&fake.lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        buf_reset(&s->pending);
        s->sent = 0;
        while (s->next_event < json_array_size(fake.events)) {
            json_t *ev = json_array_get(fake.events, s->next_event++);
            int64_t rv = atoll(kjson_path_str(ev, "object.metadata.resourceVersion"));
            if (rv <= s->after)
                continue;
            kjson_dump(ev, &s->pending);
            buf_append_char(&s->pending, '\n');
        }
        if (s->pending.len > 0)
            break;
        if (fake.end_watches || clock_mono_ns() > s->deadline_ns) {
            pthread_mutex_unlock(&fake.lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&fake.cond, &fake.lock, &ts);
    }
    size_t n = s->pending.len - s->sent;
    if (n > max)
        n = max;
    memcpy(out, s->pending.data + s->sent, n);
    s->sent += n;
    pthread_mutex_unlock(&fake.lock);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    buf_free(&s->pending);
    free(s);
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned code, json_t *body)
{
    char *text = kjson_dumps(body);
    json_decref(body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    if (strcmp(url, "/api/v1/pods") != 0)
        return reply_json(
            conn, 404,
            json_pack("{s:s,s:s,s:i}", "kind", "Status", "reason", "NotFound", "code", 404));
    const char *watch = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "watch");
    pthread_mutex_lock(&fake.lock);
    if (watch == NULL) {
        json_t *items = json_array();
        const char *name;
        json_t *obj;
        json_object_foreach (fake.objects, name, obj) {
            json_array_append(items, obj);
        }
        char rv[32];
        snprintf(rv, sizeof(rv), "%lld", (long long)fake.rv);
        pthread_mutex_unlock(&fake.lock);
        return reply_json(conn, 200,
                          json_pack("{s:s,s:{s:s},s:o}", "kind", "PodList", "metadata",
                                    "resourceVersion", rv, "items", items));
    }
    const char *rv_text =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "resourceVersion");
    int64_t after = rv_text ? atoll(rv_text) : 0;
    fake.watches_served++;
    if (after < fake.compacted) {
        pthread_mutex_unlock(&fake.lock);
        return reply_json(conn, 410,
                          json_pack("{s:s,s:s,s:s,s:i}", "kind", "Status", "reason", "Expired",
                                    "message", "too old resource version", "code", 410));
    }
    pthread_mutex_unlock(&fake.lock);
    struct stream *s = xcalloc(1, sizeof(*s));
    s->after = after;
    s->deadline_ns = clock_mono_ns() + 20ull * 1000000000u;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void fake_start(void)
{
    memset(&fake, 0, sizeof(fake));
    pthread_mutex_init(&fake.lock, NULL);
    pthread_cond_init(&fake.cond, NULL);
    fake.objects = json_object();
    fake.events = json_array();
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    fake.daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                         NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
    cr_assert(fake.daemon != NULL);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(fake.daemon, MHD_DAEMON_INFO_BIND_PORT);
    fake.port = info->port;
}

static void fake_stop(void)
{
    pthread_mutex_lock(&fake.lock);
    fake.end_watches = true;
    pthread_cond_broadcast(&fake.cond);
    pthread_mutex_unlock(&fake.lock);
    MHD_stop_daemon(fake.daemon);
    json_decref(fake.objects);
    json_decref(fake.events);
}

struct counts {
    int adds, updates, deletes;
};

static void on_add(json_t *obj, void *opaque)
{
    __atomic_add_fetch(&((struct counts *)opaque)->adds, 1, __ATOMIC_SEQ_CST);
}
static void on_update(json_t *old_obj, json_t *new_obj, void *opaque)
{
    __atomic_add_fetch(&((struct counts *)opaque)->updates, 1, __ATOMIC_SEQ_CST);
}
static void on_delete(json_t *obj, void *opaque)
{
    __atomic_add_fetch(&((struct counts *)opaque)->deletes, 1, __ATOMIC_SEQ_CST);
}

/* Waits up to 10 s for *value to reach want. */
static bool wait_for(int *value, int want)
{
    uint64_t deadline = clock_mono_ns() + 10ull * 1000000000u;
    while (__atomic_load_n(value, __ATOMIC_SEQ_CST) != want) {
        if (clock_mono_ns() > deadline)
            return false;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return true;
}

static struct client *fake_client(void)
{
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d", fake.port);
    struct client_config cfg = {.server = url};
    struct client *c = client_new(&cfg, NULL);
    cr_assert(c != NULL);
    return c;
}

Test(client, request_errors_carry_the_status_reason, .init = fake_start, .fini = fake_stop)
{
    struct client *c = fake_client();
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *v = client_get(c, "/api/v1/nothing", &err);
    cr_assert(v == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    k8c_err_freep(&err);
    _cleanup_json_ json_t *list = client_get(c, "/api/v1/pods", &err);
    cr_assert(list != NULL);
    cr_assert(eq(str, (char *)kjson_path_str(list, "kind"), "PodList"));
    client_free(c);

    struct client_config dead = {.server = "http://127.0.0.1:1"};
    struct client *d = client_new(&dead, NULL);
    cr_assert(client_get(d, "/api", &err) == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_SERVICE_UNAVAILABLE));
    client_free(d);
}

Test(informer, lists_watches_and_relists_on_gone, .init = fake_start, .fini = fake_stop,
     .timeout = 60)
{
    pthread_mutex_lock(&fake.lock);
    fake_change("ADDED", "a");
    fake_change("ADDED", "b");
    pthread_mutex_unlock(&fake.lock);

    struct client *c = fake_client();
    struct counts counts = {0};
    struct informer_options opts = {
        .path = "/api/v1/pods",
        .handlers = {on_add, on_update, on_delete, &counts},
    };
    struct informer *inf = informer_new(c, &opts);
    cr_assert(eq(int, informer_start(inf, NULL), 0));
    cr_assert(informer_wait_synced(inf, 10000));
    cr_assert(wait_for(&counts.adds, 2));
    _cleanup_free_ char *rv = informer_resource_version(inf);
    cr_assert(eq(str, rv, "2"));

    pthread_mutex_lock(&fake.lock);
    fake_change("MODIFIED", "a");
    fake_change("ADDED", "c");
    fake_change("DELETED", "b");
    pthread_mutex_unlock(&fake.lock);
    cr_assert(wait_for(&counts.adds, 3));
    cr_assert(wait_for(&counts.updates, 1));
    cr_assert(wait_for(&counts.deletes, 1));
    json_t *a = informer_get(inf, "ns/a");
    cr_assert(eq(str, (char *)kjson_path_str(a, "metadata.resourceVersion"), "3"));
    json_decref(a);
    cr_assert(informer_get(inf, "ns/b") == NULL);
    _cleanup_json_ json_t *all = informer_list(inf);
    cr_assert(eq(sz, json_array_size(all), 2));

    /* Compact past everything and end the open watch: the informer's next watch gets 410
     * and it must re-list, then keep watching from the new list's revision. */
    pthread_mutex_lock(&fake.lock);
    fake.end_watches = true;
    fake_change("MODIFIED", "c"); /* rv 6: seen only through the re-list */
    fake.compacted = fake.rv;
    pthread_cond_broadcast(&fake.cond);
    pthread_mutex_unlock(&fake.lock);

    uint64_t deadline = clock_mono_ns() + 10ull * 1000000000u;
    while (informer_list_count(inf) < 2 && clock_mono_ns() < deadline) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    cr_assert(eq(u32, informer_list_count(inf), 2));
    pthread_mutex_lock(&fake.lock);
    fake.end_watches = false;
    pthread_mutex_unlock(&fake.lock);
    cr_assert(wait_for(&counts.updates, 2), "the re-list reports c's change as an update");
    json_t *c6 = informer_get(inf, "ns/c");
    cr_assert(eq(str, (char *)kjson_path_str(c6, "metadata.resourceVersion"), "6"));
    json_decref(c6);

    informer_free(inf);
    client_free(c);
    cr_assert(eq(int, counts.adds, 3));
    cr_assert(eq(int, counts.deletes, 1));
}

Test(client, fails_over_to_the_next_server, .init = fake_start, .fini = fake_stop)
{
    /* The first server refuses connections: reads, writes (nothing was sent) and watches go
     * to the second, and the client stays there. */
    _cleanup_free_ char *urls = xasprintf("http://127.0.0.1:1,http://127.0.0.1:%d/", fake.port);
    struct client_config cfg = {.server = urls};
    struct client *c = client_new(&cfg, NULL);
    cr_assert(c != NULL);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *list = client_get(c, "/api/v1/pods", &err);
    cr_assert(list != NULL, "%s", err ? err->msg : "");
    cr_assert(eq(str, (char *)kjson_path_str(list, "kind"), "PodList"));
    /* A write that could not connect is safe to send elsewhere: the fake answers 404. */
    json_t *made = client_create(c, "/api/v1/namespaces", list, &err);
    cr_assert(made == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    k8c_err_freep(&err);

    pthread_mutex_lock(&fake.lock);
    fake_change("ADDED", "a");
    pthread_mutex_unlock(&fake.lock);
    struct counts counts = {0};
    struct informer_options opts = {
        .path = "/api/v1/pods",
        .handlers = {on_add, on_update, on_delete, &counts},
    };
    struct informer *inf = informer_new(c, &opts);
    cr_assert(eq(int, informer_start(inf, NULL), 0));
    cr_assert(informer_wait_synced(inf, 10000));
    pthread_mutex_lock(&fake.lock);
    fake_change("ADDED", "b");
    pthread_mutex_unlock(&fake.lock);
    cr_assert(wait_for(&counts.adds, 2), "the watch on the second server delivers b");
    informer_free(inf);
    client_free(c);

    struct client_config bad = {.server = "http://127.0.0.1:1,,http://127.0.0.1:2"};
    cr_assert(client_new(&bad, &err) == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_BAD_REQUEST));
}

Test(client, send_skips_the_answer_and_keeps_errors, .init = fake_start, .fini = fake_stop)
{
    struct client *c = fake_client();
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, client_send(c, "GET", "/api/v1/pods", NULL, NULL, &err), 0));
    cr_assert(eq(int, client_send(c, "GET", "/api/v1/nothing", NULL, NULL, &err), -1));
    cr_assert(eq(int, err->reason, K8C_REASON_NOT_FOUND));
    cr_assert(eq(str, (char *)client_patch_content_type("strategic"),
                 "application/strategic-merge-patch+json"));
    cr_assert(client_patch_content_type("bogus") == NULL);
    client_free(c);
}

Test(informer, transform_applies_to_listed_and_watched_objects, .init = fake_start,
     .fini = fake_stop, .timeout = 60)
{
    pthread_mutex_lock(&fake.lock);
    fake_change("ADDED", "a");
    pthread_mutex_unlock(&fake.lock);
    struct client *c = fake_client();
    struct counts counts = {0};
    struct informer_options opts = {.path = "/api/v1/pods",
                                    .handlers = {on_add, on_update, on_delete, &counts},
                                    .transform = informer_strip_managed_fields};
    struct informer *inf = informer_new(c, &opts);
    cr_assert(eq(int, informer_start(inf, NULL), 0));
    cr_assert(informer_wait_synced(inf, 10000));
    pthread_mutex_lock(&fake.lock);
    fake_change("ADDED", "b");
    pthread_mutex_unlock(&fake.lock);
    cr_assert(wait_for(&counts.adds, 2));
    const char *names[] = {"ns/a", "ns/b"}; /* a from the list, b from the watch */
    for (size_t i = 0; i < 2; i++) {
        _cleanup_json_ json_t *o = informer_get(inf, names[i]);
        cr_assert(o != NULL);
        cr_assert(kjson_path(o, "metadata.managedFields") == NULL, "%s", names[i]);
        cr_assert(kjson_path_str(o, "metadata.resourceVersion") != NULL);
    }
    informer_free(inf);
    client_free(c);
}
