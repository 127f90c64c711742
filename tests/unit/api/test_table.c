/* Unit tests for src/api/table.c: Tables with kubectl's columns and Kubernetes' cells. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "api/kinds.h"
#include "api/table.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/mem.h"

static time_t now_at(const char *stamp)
{
    time_t t = 0;
    cr_assert(eq(int, clock_parse_rfc3339(stamp, &t), 0));
    return t;
}

#define NOW "2026-01-01T01:00:00Z"

/* The cells of the only row, as compact JSON. */
static char *row_of(const char *av, const char *kind, const char *obj)
{
    const struct api_kind *k = api_kind_by_gvk(av, kind);
    cr_assert(k != NULL);
    _cleanup_free_ char *text = xasprintf("[%s]", obj);
    _cleanup_json_ json_t *items = kjson_parse(text, strlen(text), NULL);
    cr_assert(items != NULL, "%s", text);
    _cleanup_json_ json_t *t = api_table_build_at(k, items, "42", false, now_at(NOW));
    json_t *row = json_array_get(json_object_get(t, "rows"), 0);
    return kjson_dumps(json_object_get(row, "cells"));
}

static char *column_names(const char *av, const char *kind)
{
    const struct api_kind *k = api_kind_by_gvk(av, kind);
    _cleanup_json_ json_t *items = json_array();
    _cleanup_json_ json_t *t = api_table_build_at(k, items, NULL, false, 0);
    struct buf b = BUF_INIT;
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(t, "columnDefinitions"), i, c) {
        buf_appendf(&b, "%s%s%s", i ? "," : "", json_string_value(json_object_get(c, "name")),
                    json_integer_value(json_object_get(c, "priority")) ? "*" : "");
    }
    return buf_steal(&b);
}

Test(table, human_duration)
{
    char out[16];
    struct {
        long long s;
        const char *want;
    } cases[] = {{-5, "<invalid>"},
                 {-1, "0s"},
                 {5, "5s"},
                 {119, "119s"},
                 {120, "2m"},
                 {200, "3m20s"},
                 {600, "10m"},
                 {3 * 3600 - 1, "179m"},
                 {3 * 3600, "3h"},
                 {3 * 3600 + 60, "3h1m"},
                 {8 * 3600, "8h"},
                 {47 * 3600, "47h"},
                 {51 * 3600, "2d3h"},
                 {48 * 3600, "2d"},
                 {10 * 86400, "10d"},
                 {800 * 86400LL, "2y70d"},
                 {3000 * 86400LL, "8y"}};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        cr_assert(eq(str, api_human_duration(cases[i].s, out), (char *)cases[i].want), "%lld",
                  cases[i].s);
}

Test(table, columns)
{
    _cleanup_free_ char *pods = column_names("v1", "Pod");
    cr_assert(
        eq(str, pods, "Name,Ready,Status,Restarts,Age,IP*,Node*,Nominated Node*,Readiness Gates*"));
    _cleanup_free_ char *d = column_names("apps/v1", "Deployment");
    cr_assert(eq(str, d, "Name,Ready,Up-to-date,Available,Age,Containers*,Images*,Selector*"));
    _cleanup_free_ char *s = column_names("v1", "Service");
    cr_assert(eq(str, s, "Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector*"));
    _cleanup_free_ char *n = column_names("v1", "Node");
    cr_assert(eq(str, n,
                 "Name,Status,Roles,Age,Version,Internal-IP*,External-IP*,OS-Image*,"
                 "Kernel-Version*,Container-Runtime*"));
    _cleanup_free_ char *e = column_names("v1", "Event");
    cr_assert(eq(str, e,
                 "Last Seen,Type,Reason,Object,Subobject*,Source*,Message,First Seen*,"
                 "Count*,Name*"));
    _cleanup_free_ char *ns = column_names("v1", "Namespace");
    cr_assert(eq(str, ns, "Name,Status,Age"));
    _cleanup_free_ char *cm = column_names("v1", "ConfigMap");
    cr_assert(eq(str, cm, "Name,Data,Age"));
    _cleanup_free_ char *sec = column_names("v1", "Secret");
    cr_assert(eq(str, sec, "Name,Type,Data,Age"));
}

Test(table, every_kind_builds_rows_from_odd_objects)
{
    size_t n = 0;
    const struct api_kind *all = api_kinds_all(&n);
    const char *text = "[{},{\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"bad\"},"
                       "\"spec\":[],\"status\":\"x\"},7,{\"metadata\":{\"name\":\"y\"},"
                       "\"spec\":{\"replicas\":2,\"ports\":[{}],\"selector\":{\"a\":\"b\"}},"
                       "\"subsets\":[{\"addresses\":[{\"ip\":\"1.2.3.4\"}]}]}]";
    _cleanup_json_ json_t *items = kjson_parse(text, strlen(text), NULL);
    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *t = api_table_build(&all[i], items, "1", i % 2 == 0);
        cr_assert(eq(sz, json_array_size(json_object_get(t, "rows")), 3), "%s", all[i].kind);
        cr_assert(eq(str, (char *)kjson_path_str(t, "metadata.resourceVersion"), "1"));
        cr_assert(eq(str, (char *)kjson_path_str(t, "kind"), "Table"));
    }
}

Test(table, pod_status_reasons)
{
    _cleanup_free_ char *pending =
        row_of("v1", "Pod",
               "{\"metadata\":{\"name\":\"p\",\"creationTimestamp\":\"2026-01-01T00:59:55Z\"},"
               "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\"}}");
    cr_assert(eq(str, pending,
                 "[\"p\",\"0/1\",\"Pending\",\"0\",\"5s\",\"<none>\",\"<none>\",\"<none>\","
                 "\"<none>\"]"));
    _cleanup_free_ char *creating = row_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":"
        "\"c\"}]},\"status\":{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"c\","
        "\"ready\":false,\"restartCount\":0,\"state\":{\"waiting\":{\"reason\":"
        "\"ContainerCreating\"}}}]}}");
    cr_assert(strstr(creating, "\"ContainerCreating\"") != NULL, "%s", creating);
    cr_assert(strstr(creating, "\"n1\"") != NULL, "%s", creating);
    _cleanup_free_ char *running = row_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},\"spec\":{"
        "\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},\"status\":{\"phase\":\"Running\","
        "\"podIP\":\"10.0.0.5\",\"containerStatuses\":[{\"name\":\"a\",\"ready\":true,"
        "\"restartCount\":5,\"state\":{\"running\":{}},\"lastState\":{\"terminated\":{"
        "\"finishedAt\":\"2026-01-01T00:57:00Z\"}}},{\"name\":\"b\",\"ready\":true,"
        "\"restartCount\":0,\"state\":{\"running\":{}}}]}}");
    cr_assert(eq(str, running,
                 "[\"p\",\"2/2\",\"Running\",\"5 (3m ago)\",\"60m\",\"10.0.0.5\",\"<none>\","
                 "\"<none>\",\"<none>\"]"));
    _cleanup_free_ char *crash = row_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{"
        "\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"a\",\"ready\":false,"
        "\"restartCount\":3,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}");
    cr_assert(strstr(crash, "\"0/1\",\"CrashLoopBackOff\",\"3\"") != NULL, "%s", crash);
    _cleanup_free_ char *done = row_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{"
        "\"phase\":\"Succeeded\",\"containerStatuses\":[{\"name\":\"a\",\"state\":{\"terminated\":"
        "{\"reason\":\"Completed\",\"exitCode\":0}}}]}}");
    cr_assert(strstr(done, "\"Completed\"") != NULL, "%s", done);
    _cleanup_free_ char *exitcode = row_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{"
        "\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"a\",\"state\":{\"terminated\":"
        "{\"exitCode\":2}}}]}}");
    cr_assert(strstr(exitcode, "\"ExitCode:2\"") != NULL, "%s", exitcode);
    _cleanup_free_ char *init = row_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"initContainers\":[{\"name\":\"i\"},{\"name\":"
        "\"j\"}],\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Pending\","
        "\"initContainerStatuses\":[{\"name\":\"i\",\"state\":{\"terminated\":{\"exitCode\":0}}},"
        "{\"name\":\"j\",\"state\":{\"running\":{}}}]}}");
    cr_assert(strstr(init, "\"Init:1/2\"") != NULL, "%s", init);
    _cleanup_free_ char *term = row_of(
        "v1", "Pod",
        "{\"metadata\":{\"name\":\"p\",\"deletionTimestamp\":\"2026-01-01T00:59:00Z\"},\"spec\":{"
        "\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Running\"}}");
    cr_assert(strstr(term, "\"Terminating\"") != NULL, "%s", term);
}

Test(table, workloads_and_services)
{
    _cleanup_free_ char *d = row_of(
        "apps/v1", "Deployment",
        "{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"2025-12-29T22:00:00Z\"},\"spec\":{"
        "\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"spec\":{"
        "\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1\"},{\"name\":\"side\",\"image\":"
        "\"busybox\"}]}}},\"status\":{\"readyReplicas\":2,\"updatedReplicas\":3,"
        "\"availableReplicas\":2}}");
    cr_assert(eq(str, d,
                 "[\"web\",\"2/3\",3,2,\"2d3h\",\"nginx,side\",\"nginx:1,busybox\","
                 "\"app=web\"]"));
    _cleanup_free_ char *s = row_of(
        "v1", "Service",
        "{\"metadata\":{\"name\":\"svc\"},\"spec\":{\"type\":\"NodePort\",\"clusterIP\":"
        "\"10.96.0.7\",\"ports\":[{\"port\":80,\"nodePort\":30080,\"protocol\":\"TCP\"},{\"port\":"
        "53,\"protocol\":\"UDP\"}],\"selector\":{\"b\":\"2\",\"a\":\"1\"}}}");
    cr_assert(eq(str, s,
                 "[\"svc\",\"NodePort\",\"10.96.0.7\",\"<none>\",\"80:30080/TCP,53/UDP\","
                 "\"<unknown>\",\"a=1,b=2\"]"));
    _cleanup_free_ char *lb = row_of("v1", "Service",
                                     "{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"type\":"
                                     "\"LoadBalancer\",\"ports\":[{\"port\":80,\"protocol\":"
                                     "\"TCP\"}]}}");
    cr_assert(strstr(lb, "\"<pending>\"") != NULL, "%s", lb);
    _cleanup_free_ char *j =
        row_of("batch/v1", "Job",
               "{\"metadata\":{\"name\":\"j\"},\"spec\":{\"completions\":1,\"template\":{\"spec\":{"
               "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}},\"status\":{\"succeeded\":1,"
               "\"startTime\":\"2026-01-01T00:00:00Z\",\"completionTime\":\"2026-01-01T00:00:12Z\","
               "\"conditions\":[{\"type\":\"Complete\",\"status\":\"True\"}]}}");
    cr_assert(strstr(j, "[\"j\",\"Complete\",\"1/1\",\"12s\",") == j, "%s", j);
    _cleanup_free_ char *ep = row_of(
        "v1", "Endpoints",
        "{\"metadata\":{\"name\":\"e\"},\"subsets\":[{\"addresses\":[{\"ip\":\"10.0.0.1\"},{\"ip\":"
        "\"10.0.0.2\"},{\"ip\":\"10.0.0.3\"},{\"ip\":\"10.0.0.4\"}],\"ports\":[{\"port\":80}]}]}");
    cr_assert(strstr(ep, "\"10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...\"") != NULL, "%s", ep);
    _cleanup_free_ char *cm = row_of("v1", "ConfigMap",
                                     "{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\",\"b\":"
                                     "\"2\"},\"binaryData\":{\"c\":\"\"}}");
    cr_assert(eq(str, cm, "[\"c\",3,\"<unknown>\"]"));
}

Test(table, nodes_and_events)
{
    _cleanup_free_ char *n = row_of(
        "v1", "Node",
        "{\"metadata\":{\"name\":\"n1\",\"labels\":{\"node-role.kubernetes.io/control-plane\":\"\","
        "\"node-role.kubernetes.io/master\":\"\"}},\"spec\":{\"unschedulable\":true},\"status\":{"
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"addresses\":[{\"type\":"
        "\"InternalIP\",\"address\":\"192.168.1.2\"}],\"nodeInfo\":{\"kubeletVersion\":\"v1.32.0\","
        "\"osImage\":\"Debian 12\"}}}");
    cr_assert(eq(str, n,
                 "[\"n1\",\"Ready,SchedulingDisabled\",\"control-plane,master\","
                 "\"<unknown>\",\"v1.32.0\",\"192.168.1.2\",\"<none>\",\"Debian 12\","
                 "\"<unknown>\",\"<unknown>\"]"));
    _cleanup_free_ char *e = row_of(
        "v1", "Event",
        "{\"metadata\":{\"name\":\"p.1\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"},"
        "\"reason\":\"Started\",\"type\":\"Normal\",\"message\":\" Started container \\n\","
        "\"source\":{\"component\":\"kubelet\",\"host\":\"n1\"},\"firstTimestamp\":"
        "\"2026-01-01T00:50:00Z\",\"lastTimestamp\":\"2026-01-01T00:59:00Z\",\"count\":2}");
    cr_assert(eq(str, e,
                 "[\"60s\",\"Normal\",\"Started\",\"pod/p\",\"\",\"kubelet, n1\","
                 "\"Started container\",\"10m\",2,\"p.1\"]"));
    _cleanup_free_ char *e2 =
        row_of("events.k8s.io/v1", "Event",
               "{\"metadata\":{\"name\":\"x\"},\"regarding\":{\"kind\":\"Node\",\"name\":\"n1\"},"
               "\"reason\":\"R\",\"type\":\"Warning\",\"note\":\"m\",\"reportingController\":\"k\","
               "\"eventTime\":\"2026-01-01T00:59:30.000000Z\"}");
    cr_assert(
        eq(str, e2, "[\"30s\",\"Warning\",\"R\",\"node/n1\",\"\",\"k\",\"m\",\"30s\",1,\"x\"]"));
}

Test(table, row_object_and_conditions)
{
    const struct api_kind *k = api_kind_by_gvk("v1", "Pod");
    const char *text = "[{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\",\"labels\":{\"a\":"
                       "\"b\"}},\"spec\":{},\"status\":{\"phase\":\"Succeeded\"}}]";
    _cleanup_json_ json_t *items = kjson_parse(text, strlen(text), NULL);
    _cleanup_json_ json_t *t = api_table_build(k, items, "7", false);
    json_t *row = json_array_get(json_object_get(t, "rows"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(row, "object.kind"), "PartialObjectMetadata"));
    cr_assert(eq(str, (char *)kjson_path_str(row, "object.apiVersion"), "meta.k8s.io/v1"));
    cr_assert(eq(str, (char *)kjson_path_str(row, "object.metadata.namespace"), "d"));
    cr_assert(eq(str, (char *)kjson_path_str(row, "object.metadata.labels.a"), "b"));
    cr_assert(kjson_path(row, "object.spec") == NULL);
    json_t *cond = json_array_get(json_object_get(row, "conditions"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(cond, "type"), "Completed"));
    _cleanup_json_ json_t *full = api_table_build(k, items, NULL, true);
    json_t *frow = json_array_get(json_object_get(full, "rows"), 0);
    cr_assert(eq(str, (char *)kjson_path_str(frow, "object.status.phase"), "Succeeded"));
    cr_assert(kjson_path(full, "metadata.resourceVersion") == NULL);
}
