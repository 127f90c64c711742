/* Unit test for src/scheduler/loop.c against an in-process fake API server (libmicrohttpd,
 * plain HTTP on 127.0.0.1): a refused binding is retried after its back-off, then the pod
 * is bound and its Scheduled event posted. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "client/client.h"
#include "scheduler/scheduler.h"

static struct {
    pthread_mutex_t lock;
    int binds;
    uint64_t bind_ns[4];
    char *bound_to;
    int scheduled_events;
    int failed_events;
    struct MHD_Daemon *daemon;
    int port;
    char *failed_msg; /* the last FailedScheduling message, for the assertion */
} fake;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, json_t *body)
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

static json_t *list(const char *kind, json_t *items)
{
    return json_pack("{s:s,s:{s:s},s:o}", "kind", kind, "metadata", "resourceVersion", "1", "items",
                     items);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct buf *body = *con_cls;
    if (body == NULL) {
        body = xcalloc(1, sizeof(*body));
        *con_cls = body;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        buf_append(body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0) {
        if (MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "watch") != NULL) {
            /* an empty stream after a while, as a real server's watch timeout: the informer
             * re-lists. Answering at once made the informers re-list thousands of times a
             * second, and a scheduling cycle could then run between a node re-list's steps
             * (a FailedScheduling seen once under load). */
            struct timespec ts = {0, 500000000};
            nanosleep(&ts, NULL);
            return reply(conn, 200, json_object());
        }
        if (strcmp(url, "/api/v1/nodes") == 0)
            return reply(conn, 200,
                         list("NodeList",
                              json_pack("[{s:{s:s,s:s},s:{s:{s:s,s:s,s:s}}}]", "metadata", "name",
                                        "n1", "resourceVersion", "1", "status", "allocatable",
                                        "cpu", "4", "memory", "8Gi", "pods", "110")));
        if (strcmp(url, "/api/v1/pods") == 0)
            return reply(conn, 200,
                         list("PodList",
                              json_pack("[{s:{s:s,s:s,s:s,s:s},s:{s:[{s:s}]}}]", "metadata", "name",
                                        "p", "namespace", "default", "uid", "u1", "resourceVersion",
                                        "1", "spec", "containers", "name", "c")));
        return reply(conn, 200, list("List", json_array()));
    }
    json_t *obj = body->len ? kjson_parse(body->data, body->len, NULL) : NULL;
    enum MHD_Result ret;
    pthread_mutex_lock(&fake.lock);
    if (strcmp(url, "/api/v1/namespaces/default/pods/p/binding") == 0) {
        if (fake.binds < 4)
            fake.bind_ns[fake.binds] = clock_mono_ns();
        if (fake.binds++ == 0) {
            pthread_mutex_unlock(&fake.lock);
            ret = reply(conn, 409,
                        json_pack("{s:s,s:s,s:s,s:i}", "kind", "Status", "reason", "Conflict",
                                  "message", "try again", "code", 409));
        } else {
            free(fake.bound_to);
            fake.bound_to = xstrdup(kjson_path_str(obj, "target.name"));
            pthread_mutex_unlock(&fake.lock);
            ret = reply(conn, 201, json_object());
        }
    } else if (strcmp(url, "/api/v1/namespaces/default/events") == 0) {
        const char *reason = json_string_value(json_object_get(obj, "reason"));
        if (reason && strcmp(reason, "Scheduled") == 0)
            fake.scheduled_events++;
        if (reason && strcmp(reason, "FailedScheduling") == 0) {
            fake.failed_events++;
            free(fake.failed_msg);
            fake.failed_msg = xstrdup(json_string_value(json_object_get(obj, "message")) ?: "");
        }
        pthread_mutex_unlock(&fake.lock);
        ret = reply(conn, 201, json_object());
    } else {
        pthread_mutex_unlock(&fake.lock);
        ret = reply(conn, 200, json_object());
    }
    json_decref(obj);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct buf *body = *con_cls;
    if (body != NULL) {
        buf_free(body);
        free(body);
        *con_cls = NULL;
    }
}

struct run {
    struct client *client;
    atomic_bool stop;
    struct scheduler_stats stats;
    int rc;
};

static void *run_main(void *opaque)
{
    struct run *r = opaque;
    struct k8c_err *err = NULL;
    r->rc = scheduler_run(r->client, NULL, &r->stop, &r->stats, &err);
    k8c_err_free(err);
    return NULL;
}

Test(scheduler_loop, refused_binding_is_retried_after_backoff, .timeout = 60)
{
    log_set_level(LOG_LEVEL_WARN); /* the failed binding is logged at info level */
    pthread_mutex_init(&fake.lock, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    fake.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                   0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                                   MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    cr_assert(fake.daemon != NULL);
    fake.port = MHD_get_daemon_info(fake.daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    char server[64];
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", fake.port);
    struct client_config cfg = {.server = server};
    struct run r = {.client = client_new(&cfg, NULL)};
    cr_assert(r.client != NULL);
    atomic_init(&r.stop, false);
    pthread_t t;
    pthread_create(&t, NULL, run_main, &r);

    uint64_t deadline = clock_mono_ns() + 30ull * 1000000000u;
    bool done = false;
    while (!done && clock_mono_ns() < deadline) {
        pthread_mutex_lock(&fake.lock);
        done = fake.binds >= 2 && fake.scheduled_events >= 1;
        pthread_mutex_unlock(&fake.lock);
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&r.stop, true);
    pthread_join(t, NULL);
    MHD_stop_daemon(fake.daemon);

    cr_assert(done, "binds=%d scheduled events=%d", fake.binds, fake.scheduled_events);
    cr_assert(eq(int, r.rc, 0));
    cr_assert(eq(int, fake.binds, 2));
    cr_assert(eq(str, fake.bound_to, "n1"));
    /* the retry waited for the pod's first back-off (1 s) */
    uint64_t gap = fake.bind_ns[1] - fake.bind_ns[0];
    cr_assert(gap >= 900000000u, "retried after %llu ns", (unsigned long long)gap);
    cr_assert(eq(u64, r.stats.bind_errors, 1));
    cr_assert(eq(u64, r.stats.bound, 1));
    /* At least the refused cycle and the successful one; under sanitizers an informer update
     * can add a cycle that finds the pod already assumed (it must not bind again: binds == 2
     * above). */
    cr_assert(ge(u64, r.stats.attempts, 2));
    cr_assert(eq(int, fake.failed_events, 0), "FailedScheduling: %s",
              fake.failed_msg ? fake.failed_msg : "");
    free(fake.bound_to);
    free(fake.failed_msg);
    client_free(r.client);
}
