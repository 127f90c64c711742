/* Unit tests for src/agent/status.c's pure parts: the phase kubelet derives from the
 * containers (Running only once a container runs or has run, not while its first run is being
 * created) and the hold that makes a fast start one status write. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>
#include <time.h>

#include "agent/internal.h"

static struct agent_ctr ctrs[2];
static struct agent_pod pod = {.key = "default/p", .ctrs = ctrs, .n_ctrs = 1};

static void reset(void)
{
    memset(ctrs, 0, sizeof(ctrs));
    pod.n_ctrs = 1;
    pod.status_hold_ns = 0;
    ctrs[0].probe_ready = ctrs[0].probe_started = true;
}

static const char *phase(const char *policy, bool *ready)
{
    struct agent_pod_summary s;
    agent__pod_summary(&pod, policy, &s);
    if (ready)
        *ready = s.ready;
    return s.phase;
}

Test(agent_status, pending_while_the_first_run_is_created)
{
    reset();
    bool ready = true;
    cr_assert(eq(str, (char *)phase("Always", &ready), "Pending")); /* not started yet */
    ctrs[0].running = ctrs[0].creating = true;                      /* shim spawned */
    ctrs[0].started_at = time(NULL);
    cr_assert(eq(str, (char *)phase("Always", &ready), "Pending"));
    cr_assert(not(ready));
    ctrs[0].creating = false; /* the runtime created it */
    cr_assert(eq(str, (char *)phase("Always", &ready), "Running"));
    cr_assert(ready);
}

Test(agent_status, running_while_restarting_or_in_back_off)
{
    reset();
    ctrs[0].started_at = time(NULL);
    ctrs[0].exited = true;
    ctrs[0].exit_code = 1; /* CrashLoopBackOff: still Running for restartPolicy Always */
    cr_assert(eq(str, (char *)phase("Always", NULL), "Running"));
    ctrs[0].exited = false; /* restarted: the second run is being created */
    ctrs[0].has_last = true;
    ctrs[0].running = ctrs[0].creating = true;
    cr_assert(eq(str, (char *)phase("Always", NULL), "Running"));
    /* restartPolicy Never: an exit ends the pod */
    reset();
    ctrs[0].started_at = time(NULL);
    ctrs[0].exited = true;
    cr_assert(eq(str, (char *)phase("Never", NULL), "Succeeded"));
    ctrs[0].exit_code = 2;
    cr_assert(eq(str, (char *)phase("Never", NULL), "Failed"));
}

Test(agent_status, init_containers_gate_running)
{
    reset();
    pod.n_ctrs = 2;
    ctrs[0].init = true;
    ctrs[0].running = true; /* the init container runs */
    ctrs[0].started_at = time(NULL);
    ctrs[1].probe_ready = true;
    cr_assert(eq(str, (char *)phase("Always", NULL), "Pending"));
    ctrs[0].running = false;
    ctrs[0].exited = true; /* succeeded: the app container starts */
    ctrs[1].running = true;
    ctrs[1].started_at = time(NULL);
    bool ready = false;
    cr_assert(eq(str, (char *)phase("Always", &ready), "Running"));
    cr_assert(ready);
}

Test(agent_status, a_creating_container_holds_the_write_at_most_100ms)
{
    reset();
    struct agent a = {0}; /* no work queue: nothing to schedule */
    cr_assert(not(agent__status_held(&a, &pod)));
    ctrs[0].running = ctrs[0].creating = true;
    cr_assert(agent__status_held(&a, &pod));
    cr_assert(agent__status_held(&a, &pod)); /* the same hold */
    struct timespec ts = {0, 120 * 1000000L};
    nanosleep(&ts, NULL);
    cr_assert(not(agent__status_held(&a, &pod))); /* slow start: ContainerCreating is written */
    ctrs[0].creating = false;
    cr_assert(not(agent__status_held(&a, &pod)));
    cr_assert(eq(u64, pod.status_hold_ns, 0)); /* a later creation holds again */
}
