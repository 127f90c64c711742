/* Unit tests for src/agent: quantities, the config.json built from a pod and an image config,
 * CRI log formatting and WebSocket frame parsing. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "base/json.h"
#include "base/mem.h"

Test(agent, quantities)
{
    int64_t v = 0;
    int r = agent_quantity("100m", 1000, &v);
    cr_assert(eq(int, r, 0));
    cr_assert(eq(i64, v, 100));
    r = agent_quantity("64Mi", 1, &v);
    cr_assert(eq(int, r, 0));
    cr_assert(eq(i64, v, 64ll * 1024 * 1024));
    r = agent_quantity("2", 1000, &v);
    cr_assert(eq(i64, v, 2000));
    r = agent_quantity("1G", 1, &v);
    cr_assert(eq(i64, v, 1000000000ll));
    r = agent_quantity("12Q", 1, &v);
    cr_assert(eq(int, r, -1));
    r = agent_quantity("", 1, &v);
    cr_assert(eq(int, r, -1));
    r = agent_quantity("-1", 1, &v);
    cr_assert(eq(int, r, -1));
}

static json_t *config_for(const char *pod_json, char **entry, char **cmd, struct k8c_err **err)
{
    json_t *pod = kjson_parse(pod_json, strlen(pod_json), err);
    cr_assert(pod != NULL);
    char *env[] = {"PATH=/bin", "FROM_IMAGE=1", NULL};
    char *layers[] = {"/l0", NULL};
    struct image_info img = {.name = "x", .n_layers = 1, .layer_dirs = layers};
    img.config.entrypoint = entry;
    img.config.cmd = cmd;
    img.config.env = env;
    img.config.working_dir = "/w";
    img.config.user = "7:8";
    struct agent_bundle_in in = {
        pod, json_array_get(kjson_path(pod, "spec.containers"), 0), &img, "/pods/u1", NULL, NULL,
        NULL};
    json_t *cfg = agent_bundle_config(&in, err);
    json_decref(pod);
    return cfg;
}

Test(agent, config_from_pod_and_image)
{
    const char *pod = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u1\"},"
                      "\"spec\":{\"nodeName\":\"n\",\"containers\":[{\"name\":\"c\",\"image\":"
                      "\"i\",\"args\":[\"-x\"],\"env\":[{\"name\":\"A\",\"value\":\"b\"},"
                      "{\"name\":\"N\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
                      "\"spec.nodeName\"}}}],\"resources\":{\"limits\":{\"memory\":\"64Mi\","
                      "\"cpu\":\"500m\"}},\"securityContext\":{\"capabilities\":{\"drop\":"
                      "[\"ALL\"]}}}]}}";
    char *entry[] = {"/bin/ep", NULL};
    char *cmd[] = {"dflt", NULL};
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *cfg = config_for(pod, entry, cmd, &err);
    cr_assert(cfg != NULL);
    _cleanup_free_ char *args = kjson_dumps(kjson_path(cfg, "process.args"));
    cr_assert(eq(str, args, "[\"/bin/ep\",\"-x\"]"));
    _cleanup_free_ char *env = kjson_dumps(kjson_path(cfg, "process.env"));
    cr_assert(strstr(env, "\"PATH=/bin\"") != NULL);
    cr_assert(strstr(env, "\"FROM_IMAGE=1\"") != NULL);
    cr_assert(strstr(env, "\"A=b\"") != NULL);
    cr_assert(strstr(env, "\"N=n\"") != NULL);
    cr_assert(strstr(env, "\"HOSTNAME=p\"") != NULL);
    cr_assert(eq(str, (char *)kjson_path_str(cfg, "process.cwd"), "/w"));
    json_int_t uid = json_integer_value(kjson_path(cfg, "process.user.uid"));
    json_int_t gid = json_integer_value(kjson_path(cfg, "process.user.gid"));
    cr_assert(eq(i64, uid, 7));
    cr_assert(eq(i64, gid, 8));
    json_int_t mem = json_integer_value(kjson_path(cfg, "linux.resources.memory.limit"));
    cr_assert(eq(i64, mem, 64ll << 20));
    json_int_t quota = json_integer_value(kjson_path(cfg, "linux.resources.cpu.quota"));
    cr_assert(eq(i64, quota, 50000));
    cr_assert(eq(str, (char *)kjson_path_str(cfg, "linux.cgroupsPath"), "/k8c/kubepods/podu1/c"));
    size_t caps = json_array_size(kjson_path(cfg, "process.capabilities.bounding"));
    cr_assert(eq(sz, caps, 0));
    _cleanup_free_ char *ns = kjson_dumps(kjson_path(cfg, "linux.namespaces"));
    cr_assert(strstr(ns, "/pods/u1/ns/net") != NULL);
}

Test(agent, config_command_replaces_entrypoint_and_no_command_is_an_error)
{
    const char *pod = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"c\",\"command\":[\"sh\"]}]}}";
    char *entry[] = {"/bin/ep", NULL};
    char *cmd[] = {"dflt", NULL};
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *cfg = config_for(pod, entry, cmd, &err);
    cr_assert(cfg != NULL);
    _cleanup_free_ char *args = kjson_dumps(kjson_path(cfg, "process.args"));
    cr_assert(eq(str, args, "[\"sh\"]"));
    const char *bare = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                       "\"spec\":{\"containers\":[{\"name\":\"c\"}]}}";
    _cleanup_err_ struct k8c_err *err2 = NULL;
    json_t *none = config_for(bare, NULL, NULL, &err2);
    cr_assert(none == NULL);
    cr_assert(strstr(err2->msg, "no command") != NULL);
}

Test(agent, cri_log_format)
{
    const char *log = "2026-01-01T00:00:00.000000001Z stdout F hello\n"
                      "2026-01-01T00:00:00.2Z stderr P par\n"
                      "2026-01-01T00:00:00.3Z stderr F tial\n"
                      "garbage\n"
                      "2026-01-01T00:00:00.4Z stdout F no newline at end";
    struct buf out = BUF_INIT;
    agent__cri_format(log, strlen(log), false, &out);
    buf_append_char(&out, '\0');
    cr_assert(eq(str, out.data, "hello\npartial\n"));
    buf_reset(&out);
    agent__cri_format(log, 46, true, &out);
    buf_append_char(&out, '\0');
    cr_assert(eq(str, out.data, "2026-01-01T00:00:00.000000001Z hello\n"));
    buf_free(&out);
}

Test(agent, websocket_frames)
{
    /* masked binary frame: channel 0 + "hi" */
    uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t plain[3] = {0, 'h', 'i'};
    uint8_t frame[2 + 4 + 3] = {0x82, 0x80 | 3, 1, 2, 3, 4};
    for (int i = 0; i < 3; i++)
        frame[6 + i] = plain[i] ^ mask[i % 4];
    struct buf payload = BUF_INIT;
    uint8_t op = 0;
    size_t used = agent__ws_parse(frame, sizeof(frame), &op, &payload);
    cr_assert(eq(sz, used, sizeof(frame)));
    cr_assert(eq(int, op, 2));
    cr_assert(eq(sz, payload.len, 3));
    cr_assert(memcmp(payload.data, plain, 3) == 0);
    used = agent__ws_parse(frame, 5, &op, &payload);
    cr_assert(eq(sz, used, 0));
    uint8_t huge[10] = {0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0};
    used = agent__ws_parse(huge, sizeof(huge), &op, &payload);
    cr_assert(eq(sz, used, (size_t)-1));
    buf_free(&payload);
}
