/* Unit tests for the agent's probes and lifecycle helpers: timing defaults, kubelet's
 * threshold rule, HTTP status lines, named ports, kmsg OOM records, the log-tail message,
 * gRPC health responses. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "agent/probe.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *parse(const char *text)
{
    json_t *v = kjson_parse(text, strlen(text), NULL);
    cr_assert(v != NULL);
    return v;
}

Test(agent_probe, timing_defaults_and_bounds)
{
    struct agent_probe_timing t;
    agent__probe_timing(NULL, false, &t);
    cr_assert(eq(int, t.initial_delay, 0));
    cr_assert(eq(int, t.period, 10));
    cr_assert(eq(int, t.timeout, 1));
    cr_assert(eq(int, t.success_threshold, 1));
    cr_assert(eq(int, t.failure_threshold, 3));
    json_t *p = parse("{\"initialDelaySeconds\":5,\"periodSeconds\":0,\"timeoutSeconds\":-3,"
                      "\"successThreshold\":4,\"failureThreshold\":7}");
    agent__probe_timing(p, false, &t);
    cr_assert(eq(int, t.initial_delay, 5));
    cr_assert(eq(int, t.period, 1)); /* at least 1 s */
    cr_assert(eq(int, t.timeout, 1));
    cr_assert(eq(int, t.success_threshold, 4));
    cr_assert(eq(int, t.failure_threshold, 7));
    agent__probe_timing(p, true, &t); /* liveness/startup: successThreshold is 1 */
    cr_assert(eq(int, t.success_threshold, 1));
    json_decref(p);
}

Test(agent_probe, thresholds_follow_kubelet)
{
    struct agent_probe_timing t = {0, 1, 1, 2, 3};
    int last = -1, run = 0;
    /* failures: decided on the 3rd in a row, not before, not again after */
    cr_assert(eq(int, agent__probe_feed(&last, &run, false, &t), -1));
    cr_assert(eq(int, agent__probe_feed(&last, &run, false, &t), -1));
    cr_assert(eq(int, agent__probe_feed(&last, &run, false, &t), 0));
    cr_assert(eq(int, agent__probe_feed(&last, &run, false, &t), -1));
    /* a success resets the run: two needed */
    cr_assert(eq(int, agent__probe_feed(&last, &run, true, &t), -1));
    cr_assert(eq(int, agent__probe_feed(&last, &run, true, &t), 1));
    /* an interrupted failure run starts over */
    cr_assert(eq(int, agent__probe_feed(&last, &run, false, &t), -1));
    cr_assert(eq(int, agent__probe_feed(&last, &run, false, &t), -1));
    cr_assert(eq(int, agent__probe_feed(&last, &run, true, &t), -1));
    cr_assert(eq(int, agent__probe_feed(&last, &run, false, &t), -1));
}

Test(agent_probe, http_status_lines)
{
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    cr_assert(eq(int, agent__http_status_code(ok, strlen(ok)), 200));
    cr_assert(eq(int, agent__http_status_code("HTTP/1.0 404 Not Found\r\n", 24), 404));
    cr_assert(eq(int, agent__http_status_code("HTTP/1.1 302\r\n", 14), 302));
    cr_assert(eq(int, agent__http_status_code("HTTP/1.1 20", 11), -1)); /* incomplete */
    cr_assert(eq(int, agent__http_status_code("SSH-2.0-OpenSSH\r\n", 17), -1));
    cr_assert(eq(int, agent__http_status_code("HTTP/1.1 2000 x\r\n", 17), -1));
    cr_assert(eq(int, agent__http_status_code("HTTP/1.1 abc x\r\n", 16), -1));
    cr_assert(eq(int, agent__http_status_code("HTTP/1.1 099 x\r\n", 16), -1));
}

Test(agent_probe, ports_by_number_and_name)
{
    json_t *ctr = parse("{\"name\":\"main\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080},"
                        "{\"containerPort\":9090}]}");
    json_t *p80 = json_integer(80), *named = json_string("http"), *numstr = json_string("81");
    json_t *absent = json_string("metrics"), *zero = json_integer(0);
    char *msg = NULL;
    cr_assert(eq(int, agent__action_port(p80, ctr, &msg), 80));
    cr_assert(eq(int, agent__action_port(named, ctr, &msg), 8080));
    cr_assert(eq(int, agent__action_port(numstr, ctr, &msg), 81));
    cr_assert(eq(int, agent__action_port(absent, ctr, &msg), -1));
    cr_assert(eq(str, msg, "couldn't find port: metrics in main"));
    free(msg);
    msg = NULL;
    cr_assert(eq(int, agent__action_port(zero, ctr, &msg), -1));
    cr_assert(msg != NULL);
    free(msg);
    msg = NULL;
    cr_assert(eq(int, agent__action_port(NULL, ctr, &msg), -1));
    free(msg);
    json_decref(p80), json_decref(named), json_decref(numstr), json_decref(absent);
    json_decref(zero), json_decref(ctr);
}

Test(agent_probe, action_without_handler_is_an_error)
{
    json_t *a = parse("{\"grpc\":{\"port\":0}}");
    struct agent_target t = {0};
    char *msg = NULL;
    cr_assert(eq(int, agent__action_run(NULL, &t, a, 1, &msg), AGENT_ACTION_ERROR));
    cr_assert(strstr(msg, "grpc.port: must be a number between 1 and 65535") != NULL, "%s", msg);
    free(msg);
    json_decref(a);
    a = parse("{\"httpGet\":{\"port\":80,\"scheme\":\"FTP\"}}");
    cr_assert(eq(int, agent__action_run(NULL, &t, a, 1, &msg), AGENT_ACTION_ERROR));
    cr_assert(strstr(msg, "Unsupported value: \"FTP\"") != NULL, "%s", msg);
    free(msg);
    json_decref(a);
    a = parse("{}");
    cr_assert(eq(int, agent__action_run(NULL, &t, a, 1, &msg), AGENT_ACTION_ERROR));
    cr_assert(strstr(msg, "one of exec, httpGet, tcpSocket or grpc") != NULL);
    free(msg);
    json_decref(a);
}

Test(agent_probe, grpc_health_responses)
{
    /* framed HealthCheckResponse: SERVING, NOT_SERVING, the empty message (UNKNOWN) */
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\0\0\0\0\2\x08\x01", 7), 1));
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\0\0\0\0\2\x08\x02", 7), 2));
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\0\0\0\0\0", 5), 0));
    /* unknown fields (a string, a fixed64) are skipped; the last status wins */
    const uint8_t other[] = {0, 0, 0, 0, 15, 0x12, 2, 'h', 'i',  0x19,
                             1, 2, 3, 4, 5,  6,    7, 8,   0x08, 0x01};
    cr_assert(eq(int, agent__grpc_health_status(other, sizeof(other)), 1));
    /* compressed, short, truncated varint, length past the data, bad wire type */
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\1\0\0\0\2\x08\x01", 7), -1));
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\0\0\0", 3), -1));
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\0\0\0\0\2\x08\x81", 7), -1));
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\0\0\0\0\x09\x08\x01", 7), -1));
    cr_assert(eq(int, agent__grpc_health_status((const uint8_t *)"\0\0\0\0\2\x0f\x01", 7), -1));
}

Test(agent_probe, kmsg_oom_records)
{
    const char *memcg = "/k8c/podU/main";
    const char *rec = "3,1234,5000000,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
                      "cpuset=/,mems_allowed=0,oom_memcg=/k8c/podU/main,task_memcg=/k8c/podU/main,"
                      "task=tail,pid=42,uid=0\n";
    cr_assert(agent__kmsg_is_oom(rec, strlen(rec), memcg, 4000000));
    cr_assert(not(agent__kmsg_is_oom(rec, strlen(rec), memcg, 6000000))); /* too old */
    cr_assert(not(agent__kmsg_is_oom(rec, strlen(rec), "/k8c/podU/mai", 0)));
    cr_assert(not(agent__kmsg_is_oom(rec, strlen(rec), "/k8c/podU/main2", 0)));
    /* below a prefix (the kernel's root is not ours) and at the end of the record */
    const char *deep =
        "3,9,7,-;oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=/outer/k8c/podU/main";
    cr_assert(agent__kmsg_is_oom(deep, strlen(deep), memcg, 0));
    const char *glued = "3,9,7,-;oom-kill:task_memcg=/outer-k8c/podU/main,task=x";
    cr_assert(not(agent__kmsg_is_oom(glued, strlen(glued), "k8c/podU/main", 0)));
    const char *other = "6,10,8,-;Memory cgroup out of memory: Killed process 42 (tail)";
    cr_assert(not(agent__kmsg_is_oom(other, strlen(other), memcg, 0)));
    cr_assert(not(agent__kmsg_is_oom("garbage", 7, memcg, 0)));
    cr_assert(not(agent__kmsg_is_oom("1,2,x3,-;oom-kill:task_memcg=/k8c/podU/main", 42, memcg, 0)));
}

Test(agent_probe, log_tail_message)
{
    char *m = agent__log_tail_message("2026-01-01T00:00:00.000000000Z stdout F line1\n"
                                      "2026-01-01T00:00:00.000000001Z stderr F oops\n",
                                      92);
    cr_assert(eq(str, m, "line1\noops\n"));
    free(m);
    cr_assert(agent__log_tail_message("", 0) == NULL);
    /* 100 lines: the last 80 */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100; i++)
        buf_appendf(&b, "2026-01-01T00:00:00Z stdout F l%d\n", i);
    m = agent__log_tail_message(b.data, b.len);
    cr_assert(strncmp(m, "l20\n", 4) == 0);
    cr_assert(strstr(m, "l99\n") != NULL);
    free(m);
    buf_reset(&b);
    /* long lines: at most 2048 bytes */
    for (int i = 0; i < 10; i++) {
        buf_append_str(&b, "2026-01-01T00:00:00Z stdout F ");
        for (int k = 0; k < 500; k++)
            buf_append_char(&b, 'x');
        buf_append_char(&b, '\n');
    }
    m = agent__log_tail_message(b.data, b.len);
    cr_assert(eq(sz, strlen(m), 2048));
    free(m);
    buf_free(&b);
}
