/* Unit tests for leader election (src/client/leader.c) against a real API server started
 * in-process (SQLite store in the test's temporary directory, loopback, short leases): a
 * candidate that watches the Lease takes it at the instant the holder's record expires
 * (not up to a retry period later) and never before, takes a released Lease at once, and
 * client_leader_run hands the term over when the holder stops. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "../store/etcd_helpers.h"
#include "apiserver/apiserver.h"
#include "base/clock.h"
#include "base/mem.h"
#include "client/client.h"

static struct store *st;
static struct apiserver *srv;
static struct client *cl;

static void leader_setup(void)
{
    store_test_setup();
    _cleanup_free_ char *url = xasprintf("sqlite:%s/state.db", store_test_dir());
    struct k8c_err *err = NULL;
    st = store_open(url, NULL, &err);
    cr_assert(st != NULL);
    _cleanup_free_ char *listen = xasprintf("127.0.0.1:%d", etcd_test_free_port());
    _cleanup_free_ char *data = xasprintf("%s/server", store_test_dir());
    struct apiserver_config cfg = {.data_dir = data, .listen = listen, .store = st};
    srv = apiserver_start(&cfg, &err);
    cr_assert(srv != NULL, "apiserver_start: %s", err ? err->msg : "?");
    struct client_config cc;
    cr_assert(eq(int, client_config_load(apiserver_kubeconfig_path(srv), &cc, &err), 0));
    cl = client_new(&cc, &err);
    client_config_clear(&cc);
    cr_assert(cl != NULL);
}

static void leader_teardown(void)
{
    client_free(cl);
    apiserver_stop(srv);
    store_close(st);
    store_test_teardown();
}

TestSuite(leader, .init = leader_setup, .fini = leader_teardown);

static double since(uint64_t t0)
{
    return (double)(clock_mono_ns() - t0) / 1e9;
}

/* Tries as b (waiting between tries as client_leader_run does) until it holds the Lease;
 * returns the monotonic time it got it. */
static uint64_t campaign(struct client_leader *b, unsigned retry_ms)
{
    uint64_t give_up = clock_mono_ns() + 20ull * 1000000000u;
    while (!client_leader_try(b)) {
        cr_assert(clock_mono_ns() < give_up, "never acquired");
        client_leader_wait(b, NULL, retry_ms);
    }
    return clock_mono_ns();
}

Test(leader, takes_over_at_the_instant_the_lease_expires)
{
    struct client_leader *a = client_leader_new(cl, "kube-system", "t-expiry", "a", 2);
    struct client_leader *b = client_leader_new(cl, "kube-system", "t-expiry", "b", 2);
    cr_assert(client_leader_try(a), "a creates and holds the Lease");
    cr_assert(eq(int, client_leader_watch(b, NULL), 0));
    cr_assert(not(client_leader_try(b)), "held by a");
    /* a renews once more, then stops renewing (as a killed leader would). */
    struct timespec ts = {0, 700 * 1000000};
    nanosleep(&ts, NULL);
    uint64_t before_renew = clock_mono_ns();
    cr_assert(client_leader_try(a));
    uint64_t renewed = clock_mono_ns();
    /* A retry period of 1.5 s: a candidate that only looked every retry period would take
     * it up to 1.5 s late; through the watch it is on time. */
    uint64_t got = campaign(b, 1500);
    double after = (double)(got - renewed) / 1e9;
    cr_assert(got - before_renew >= 2000000000u,
              "taken %.3f s after the renewal began: before the "
              "2 s lease ran out",
              (double)(got - before_renew) / 1e9);
    cr_assert(after < 2.4, "taken %.3f s after the last renewal (lease 2 s)", after);
    client_leader_free(a);
    client_leader_free(b);
}

Test(leader, a_released_lease_is_taken_at_once)
{
    struct client_leader *a = client_leader_new(cl, "kube-system", "t-release", "a", 15);
    struct client_leader *b = client_leader_new(cl, "kube-system", "t-release", "b", 15);
    cr_assert(client_leader_try(a));
    cr_assert(eq(int, client_leader_watch(b, NULL), 0));
    cr_assert(not(client_leader_try(b)));
    uint64_t t0 = clock_mono_ns();
    client_leader_release(a);
    campaign(b, 2000);
    cr_assert(since(t0) < 1.0, "took %.3f s", since(t0));
    cr_assert(not(client_leader_try(a)), "b holds it now");
    client_leader_free(a);
    client_leader_free(b);
}

struct term_log {
    atomic_int terms;
};

static void count_term(const atomic_bool *term_stop, void *opaque)
{
    struct term_log *log = opaque;
    atomic_fetch_add(&log->terms, 1);
    while (!atomic_load(term_stop)) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

struct runner {
    const char *identity;
    atomic_bool stop;
    struct term_log log;
    pthread_t th;
    int rc;
};

static void *run_main(void *arg)
{
    struct runner *r = arg;
    struct client_leader_options o = {.lease_namespace = "kube-system",
                                      .lease_name = "t-run",
                                      .identity = r->identity,
                                      .lease_duration_seconds = 3,
                                      .renew_deadline_seconds = 2,
                                      .retry_period_ms = 500};
    r->rc = client_leader_run(cl, &o, &r->stop, count_term, &r->log, NULL);
    return NULL;
}

Test(leader, run_hands_the_term_over_when_the_holder_stops)
{
    struct runner a = {.identity = "a"}, b = {.identity = "b"};
    cr_assert(eq(int, pthread_create(&a.th, NULL, run_main, &a), 0));
    uint64_t give_up = clock_mono_ns() + 10ull * 1000000000u;
    while (atomic_load(&a.log.terms) == 0 && clock_mono_ns() < give_up) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert(eq(int, atomic_load(&a.log.terms), 1), "a leads");
    cr_assert(eq(int, pthread_create(&b.th, NULL, run_main, &b), 0));
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    cr_assert(eq(int, atomic_load(&b.log.terms), 0), "one leader at a time");
    /* a stops (SIGTERM): it releases the Lease, and b leads within moments, not a lease
     * duration later; a stops promptly. */
    uint64_t t0 = clock_mono_ns();
    atomic_store(&a.stop, true);
    pthread_join(a.th, NULL);
    double stop_s = since(t0);
    while (atomic_load(&b.log.terms) == 0 && since(t0) < 10) {
        struct timespec w = {0, 10 * 1000000};
        nanosleep(&w, NULL);
    }
    cr_assert(eq(int, atomic_load(&b.log.terms), 1), "b took over");
    cr_assert(since(t0) < 2.0, "b led %.3f s after a was told to stop", since(t0));
    cr_assert(stop_s < 1.5, "a took %.3f s to stop", stop_s);
    atomic_store(&b.stop, true);
    pthread_join(b.th, NULL);
    cr_assert(eq(int, a.rc, 0));
    cr_assert(eq(int, b.rc, 0));
}
