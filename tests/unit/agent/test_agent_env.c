/* Unit tests for the agent's env.c, qos.c, security.c and volume.c: $(VAR) expansion, the
 * downward API values, QoS classes and cgroup resources, runAsNonRoot, capabilities, and the
 * volume files written the kubelet way. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"

static json_t *parse(const char *s)
{
    json_t *v = kjson_parse(s, strlen(s), NULL);
    cr_assert(v != NULL, "bad test JSON: %s", s);
    return v;
}

Test(agent_env, expansion_follows_kubernetes_rules)
{
    _cleanup_json_ json_t *vars = parse("{\"A\":\"a\",\"B\":\"$(A)\",\"EMPTY\":\"\"}");
    static const char *const cases[][2] = {
        {"$(A)", "a"},
        {"x$(A)y$(A)", "xaya"},
        {"$$(A)", "$(A)"},
        {"$$$(A)", "$a"},
        {"$(UNKNOWN)", "$(UNKNOWN)"},
        {"$(A", "$(A"},
        {"$A", "$A"},
        {"$", "$"},
        {"a$", "a$"},
        {"$()", "$()"},
        {"$(EMPTY)!", "!"},
        {"$(B)", "$(A)"}, /* values are not expanded twice */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *got = agent_expand(cases[i][0], vars);
        cr_assert(eq(str, got, (char *)cases[i][1]), "expand(%s)", cases[i][0]);
    }
}

Test(agent_env, env_var_names)
{
    cr_assert(agent_env_name_valid("A_b.c-1"));
    cr_assert(agent_env_name_valid("_x"));
    cr_assert(eq(int, agent_env_name_valid("1abc"), 0));
    cr_assert(eq(int, agent_env_name_valid("a b"), 0));
    cr_assert(eq(int, agent_env_name_valid("a=b"), 0));
    cr_assert(eq(int, agent_env_name_valid(""), 0));
}

static const char *POD =
    "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u1\",\"labels\":{\"b\":\"2\","
    "\"a\":\"x\\\"y\"},\"annotations\":{\"k\":\"v\"}},\"spec\":{\"nodeName\":\"n1\","
    "\"serviceAccountName\":\"sa\",\"containers\":[{\"name\":\"c\",\"image\":\"i\","
    "\"command\":[\"echo\",\"$(GREETING) $(NAME)\",\"$$(NAME)\"],"
    "\"env\":[{\"name\":\"NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},"
    "{\"name\":\"GREETING\",\"value\":\"hi-$(NAME)-$(LATER)\"},{\"name\":\"LATER\",\"value\":"
    "\"l\"},{\"name\":\"LBL\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['b']\"}}"
    "},"
    "{\"name\":\"IP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.hostIP\"}}},"
    "{\"name\":\"PODIP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}},"
    "{\"name\":\"MEM\",\"valueFrom\":{\"resourceFieldRef\":{\"resource\":\"limits.memory\","
    "\"divisor\":\"1Mi\"}}},{\"name\":\"CPU\",\"valueFrom\":{\"resourceFieldRef\":{\"resource\":"
    "\"requests.cpu\"}}},{\"name\":\"CPUM\",\"valueFrom\":{\"resourceFieldRef\":{\"resource\":"
    "\"requests.cpu\",\"divisor\":\"1m\"}}}],"
    "\"resources\":{\"limits\":{\"memory\":\"64Mi\"},\"requests\":{\"cpu\":\"250m\"}}}]},"
    "\"status\":{\"podIP\":\"10.1.2.3\"}}";

static json_t *config_of(const char *pod_json, const char *user, const char *pod_dir,
                         struct k8c_err **err)
{
    _cleanup_json_ json_t *pod = parse(pod_json);
    char *layers[] = {"/l0", NULL};
    struct image_info img = {.name = "x", .n_layers = 1, .layer_dirs = layers};
    char *cmd[] = {"sh", NULL};
    img.config.cmd = cmd;
    img.config.user = (char *)user;
    struct agent_bundle_in in = {pod,  json_array_get(kjson_path(pod, "spec.containers"), 0),
                                 &img, pod_dir,
                                 NULL, "192.0.2.7",
                                 NULL};
    return agent_bundle_config(&in, err);
}

Test(agent_env, env_field_and_resource_refs_and_command_expansion)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *cfg = config_of(POD, NULL, "/nonexistent/pods/u1", &err);
    cr_assert(cfg != NULL, "%s", err ? err->msg : "");
    _cleanup_free_ char *env = kjson_dumps(kjson_path(cfg, "process.env"));
    const char *want[] = {"\"NAME=p\"",         "\"GREETING=hi-p-$(LATER)\"",
                          "\"LBL=2\"",          "\"IP=192.0.2.7\"",
                          "\"PODIP=10.1.2.3\"", "\"MEM=64\"",
                          "\"CPU=1\"",          "\"CPUM=250\""};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert(strstr(env, want[i]) != NULL, "%s not in %s", want[i], env);
    _cleanup_free_ char *args = kjson_dumps(kjson_path(cfg, "process.args"));
    cr_assert(eq(str, args, "[\"echo\",\"hi-p-$(LATER) p\",\"$(NAME)\"]"));
}

Test(agent_env, downward_api_values)
{
    _cleanup_json_ json_t *pod = parse(POD);
    _cleanup_free_ char *labels = agent_field_value(pod, "metadata.labels", NULL, true, NULL);
    cr_assert(eq(str, labels, "a=\"x\\\"y\"\nb=\"2\""));
    _cleanup_free_ char *ann =
        agent_field_value(pod, "metadata.annotations['k']", NULL, false, NULL);
    cr_assert(eq(str, ann, "v"));
    _cleanup_free_ char *absent =
        agent_field_value(pod, "metadata.labels['zz']", NULL, false, NULL);
    cr_assert(eq(str, absent, ""));
    _cleanup_free_ char *sa = agent_field_value(pod, "spec.serviceAccountName", NULL, false, NULL);
    cr_assert(eq(str, sa, "sa"));
    _cleanup_err_ struct k8c_err *err = NULL;
    char *bad = agent_field_value(pod, "metadata.labels", NULL, false, &err);
    cr_assert(bad == NULL && strstr(err->msg, "unsupported fieldPath") != NULL);
}

Test(agent_qos, classes_as_kubernetes_computes_them)
{
    static const char *const cases[][2] = {
        {"[{\"name\":\"a\"}]", "BestEffort"},
        {"[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]", "Burstable"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]",
         "Guaranteed"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
         "\"requests\":{\"cpu\":\"1000m\",\"memory\":\"1Gi\"}}}]",
         "Guaranteed"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
         "\"requests\":{\"cpu\":\"500m\"}}}]",
         "Burstable"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]", "Burstable"},
        {"[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}},"
         "{\"name\":\"b\"}]",
         "Burstable"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *s = xasprintf("{\"spec\":{\"containers\":%s}}", cases[i][0]);
        _cleanup_json_ json_t *pod = parse(s);
        cr_assert(eq(str, (char *)agent_qos_class(pod), (char *)cases[i][1]), "%s", s);
    }
    /* an init container without limits makes a pod Burstable */
    _cleanup_json_ json_t *pod =
        parse("{\"spec\":{\"initContainers\":[{\"name\":\"i\"}],\"containers\":[{\"name\":\"a\","
              "\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]}}");
    cr_assert(eq(str, (char *)agent_qos_class(pod), "Burstable"));
}

Test(agent_qos, cgroup_resources_and_placement)
{
    _cleanup_json_ json_t *c =
        parse("{\"resources\":{\"limits\":{\"cpu\":\"1500m\",\"memory\":\"128Mi\"},"
              "\"requests\":{\"cpu\":\"250m\"}}}");
    _cleanup_json_ json_t *r = agent_ctr_resources(c);
    cr_assert(eq(i64, json_integer_value(kjson_path(r, "memory.limit")), 128ll << 20));
    cr_assert(eq(i64, json_integer_value(kjson_path(r, "cpu.quota")), 150000));
    cr_assert(eq(i64, json_integer_value(kjson_path(r, "cpu.period")), 100000));
    cr_assert(eq(i64, json_integer_value(kjson_path(r, "cpu.shares")), 256));
    _cleanup_json_ json_t *none = parse("{}");
    _cleanup_json_ json_t *r2 = agent_ctr_resources(none);
    cr_assert(eq(i64, json_integer_value(kjson_path(r2, "cpu.shares")), 2));
    cr_assert(kjson_path(r2, "memory") == NULL);
    _cleanup_json_ json_t *pod =
        parse("{\"metadata\":{\"uid\":\"U\"},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
    _cleanup_free_ char *path = agent_cgroup_path(pod, "a");
    cr_assert(eq(str, path, "/k8c/kubepods/besteffort/podU/a"));
}

static char *tmpdir(void)
{
    char *d = xstrdup("/tmp/volumes-unit-XXXXXX");
    cr_assert(mkdtemp(d) != NULL);
    return d;
}

Test(agent_security, run_as_non_root_and_user_resolution)
{
    _cleanup_free_ char *dir = tmpdir();
    _cleanup_free_ char *etc = xasprintf("%s/c/rootfs/etc", dir);
    cr_assert(file_mkdir_p(etc, 0755, NULL) == 0);
    _cleanup_free_ char *passwd = xasprintf("%s/passwd", etc);
    _cleanup_free_ char *group = xasprintf("%s/group", etc);
    const char *pw = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const char *gr = "root:x:0:\napp:x:1001:\nextra:x:2000:app,other\n";
    cr_assert(file_write_atomic(passwd, pw, strlen(pw), 0644, NULL) == 0);
    cr_assert(file_write_atomic(group, gr, strlen(gr), 0644, NULL) == 0);
    const char *nonroot = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                          "\"spec\":{\"securityContext\":{\"runAsNonRoot\":true,"
                          "\"supplementalGroups\":[5],\"fsGroup\":6},"
                          "\"containers\":[{\"name\":\"c\"}]}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    json_t *cfg = config_of(nonroot, NULL, dir, &err);
    cr_assert(cfg == NULL);
    cr_assert(eq(int, err->reason, K8C_REASON_INVALID));
    cr_assert(eq(str, err->msg,
                 "container has runAsNonRoot and image will run as root (pod: \"p_ns(u)\", "
                 "container: c)"));
    /* a named image user resolved through the image's passwd and group files */
    _cleanup_err_ struct k8c_err *err2 = NULL;
    _cleanup_json_ json_t *ok = config_of(nonroot, "app", dir, &err2);
    cr_assert(ok == NULL && strstr(err2->msg, "non-numeric user (app)") != NULL);
    const char *named = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                        "\"spec\":{\"securityContext\":{\"supplementalGroups\":[5],"
                        "\"fsGroup\":6},\"containers\":[{\"name\":\"c\",\"securityContext\":"
                        "{\"readOnlyRootFilesystem\":true,\"allowPrivilegeEscalation\":false,"
                        "\"capabilities\":{\"drop\":[\"ALL\"],\"add\":[\"NET_ADMIN\"]}}}]}}";
    _cleanup_err_ struct k8c_err *err3 = NULL;
    _cleanup_json_ json_t *cfg3 = config_of(named, "app", dir, &err3);
    cr_assert(cfg3 != NULL, "%s", err3 ? err3->msg : "");
    cr_assert(eq(i64, json_integer_value(kjson_path(cfg3, "process.user.uid")), 1000));
    cr_assert(eq(i64, json_integer_value(kjson_path(cfg3, "process.user.gid")), 1001));
    _cleanup_free_ char *gids = kjson_dumps(kjson_path(cfg3, "process.user.additionalGids"));
    cr_assert(eq(str, gids, "[1001,2000,5,6]"));
    cr_assert(eq(int, json_is_true(kjson_path(cfg3, "root.readonly")), 1));
    cr_assert(eq(int, json_is_true(kjson_path(cfg3, "process.noNewPrivileges")), 1));
    _cleanup_free_ char *caps = kjson_dumps(kjson_path(cfg3, "process.capabilities.bounding"));
    cr_assert(eq(str, caps, "[\"CAP_NET_ADMIN\"]"));
    /* unset allowPrivilegeEscalation allows it; Unconfined drops seccomp */
    const char *priv = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                       "\"spec\":{\"securityContext\":{\"runAsUser\":0,\"seccompProfile\":"
                       "{\"type\":\"Unconfined\"}},\"containers\":[{\"name\":\"c\"}]}}";
    _cleanup_json_ json_t *cfg4 = config_of(priv, "app", dir, NULL);
    cr_assert(cfg4 != NULL);
    cr_assert(eq(int, json_is_false(kjson_path(cfg4, "process.noNewPrivileges")), 1));
    cr_assert(kjson_path(cfg4, "linux.seccomp") == NULL);
    cr_assert(eq(i64, json_integer_value(kjson_path(cfg4, "process.user.uid")), 0));
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", dir);
    cr_assert(system(rm) == 0);
}

static char *read_file(const char *dir, const char *name)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    return file_read_all(p, 65536, NULL, NULL);
}

Test(agent_volume, downward_api_and_empty_dir_written_the_kubelet_way)
{
    _cleanup_free_ char *dir = tmpdir();
    const char *pod_json =
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\",\"labels\":"
        "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":"
        "{\"memory\":\"32Mi\"}},\"volumeMounts\":[{\"name\":\"info\",\"mountPath\":\"/info\"},"
        "{\"name\":\"scratch\",\"mountPath\":\"/s\",\"subPathExpr\":\"$(POD)\"},"
        "{\"name\":\"scratch\",\"mountPath\":\"/etc\"}]}],"
        "\"volumes\":[{\"name\":\"info\",\"downwardAPI\":{\"items\":[{\"path\":\"labels\","
        "\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},{\"path\":\"sub/name\",\"fieldRef\":"
        "{\"fieldPath\":\"metadata.name\"},\"mode\":384},{\"path\":\"mem\",\"resourceFieldRef\":"
        "{\"containerName\":\"c\",\"resource\":\"limits.memory\",\"divisor\":\"1Mi\"}}]}},"
        "{\"name\":\"scratch\",\"emptyDir\":{}}]}}";
    _cleanup_json_ json_t *pod = parse(pod_json);
    struct agent_vol_in in = {pod, dir, NULL, NULL, NULL, NULL};
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, agent_volumes_setup(&in, &err), 0), "%s", err ? err->msg : "");
    _cleanup_free_ char *vd = xasprintf("%s/volumes/kubernetes.io~downward-api/info", dir);
    _cleanup_free_ char *labels = read_file(vd, "labels");
    cr_assert(eq(str, labels, "app=\"web\""));
    _cleanup_free_ char *name = read_file(vd, "sub/name");
    cr_assert(eq(str, name, "p"));
    _cleanup_free_ char *mem = read_file(vd, "mem");
    cr_assert(eq(str, mem, "32"));
    _cleanup_free_ char *data = xasprintf("%s/..data", vd);
    char target[PATH_MAX] = "";
    cr_assert(readlink(data, target, sizeof(target) - 1) > 0);
    cr_assert(strncmp(target, "..", 2) == 0 && strchr(target, '_') != NULL, "%s", target);
    _cleanup_free_ char *link = xasprintf("%s/labels", vd);
    char lt[PATH_MAX] = "";
    cr_assert(readlink(link, lt, sizeof(lt) - 1) > 0);
    cr_assert(eq(str, lt, "..data/labels"));
    struct stat st;
    _cleanup_free_ char *np = xasprintf("%s/sub/name", vd);
    cr_assert(stat(np, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* an unchanged payload is not rewritten; a changed one swaps ..data */
    cr_assert(eq(int, agent_volumes_setup(&in, NULL), 0));
    char again[PATH_MAX] = "";
    cr_assert(readlink(data, again, sizeof(again) - 1) > 0);
    cr_assert(eq(str, again, target));
    json_object_set_new(kjson_path(pod, "metadata.labels"), "app", json_string("db"));
    cr_assert(eq(int, agent_volumes_setup(&in, NULL), 0));
    _cleanup_free_ char *labels2 = read_file(vd, "labels");
    cr_assert(eq(str, labels2, "app=\"db\""));
    char now[PATH_MAX] = "";
    cr_assert(readlink(data, now, sizeof(now) - 1) > 0);
    cr_assert(strcmp(now, target) != 0);
    _cleanup_free_ char *old = xasprintf("%s/%s", vd, target);
    cr_assert(access(old, F_OK) != 0, "the old timestamped dir is removed");
    _cleanup_free_ char *ed = xasprintf("%s/volumes/kubernetes.io~empty-dir/scratch", dir);
    cr_assert(stat(ed, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0777);
    /* the container's mounts: subPathExpr expanded and created, sorted by depth */
    char *layers[] = {"/l0", NULL};
    struct image_info img = {.name = "x", .n_layers = 1, .layer_dirs = layers};
    char *cmd[] = {"sh", NULL};
    img.config.cmd = cmd;
    json_object_set_new(json_array_get(kjson_path(pod, "spec.containers"), 0), "env",
                        parse("[{\"name\":\"POD\",\"value\":\"pp\"}]"));
    struct agent_bundle_in bin = {
        pod, json_array_get(kjson_path(pod, "spec.containers"), 0), &img, dir, NULL, NULL, NULL};
    _cleanup_json_ json_t *cfg = agent_bundle_config(&bin, &err);
    cr_assert(cfg != NULL, "%s", err ? err->msg : "");
    _cleanup_free_ char *mounts = kjson_dumps(json_object_get(cfg, "mounts"));
    _cleanup_free_ char *sub = xasprintf("%s/pp\"", ed);
    cr_assert(strstr(mounts, sub) != NULL, "%s", mounts);
    cr_assert(strstr(mounts, "\"/info\",\"type\":\"bind\"") || strstr(mounts, "\"/info\""));
    const char *etc_at = strstr(mounts, "\"destination\":\"/etc\"");
    const char *hosts_at = strstr(mounts, "\"destination\":\"/etc/hosts\"");
    cr_assert(etc_at && hosts_at && etc_at < hosts_at, "%s", mounts);
    const char *info = strstr(mounts, "\"destination\":\"/info\"");
    cr_assert(info && strstr(info, "\"ro\"") != NULL);
    agent_volumes_teardown(dir);
    _cleanup_free_ char *vroot = xasprintf("%s/volumes", dir);
    cr_assert(access(vroot, F_OK) != 0);
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", dir);
    cr_assert(system(rm) == 0);
}

Test(agent_volume, host_path_type_checks)
{
    _cleanup_free_ char *dir = tmpdir();
    _cleanup_free_ char *f = xasprintf("%s/file", dir);
    cr_assert(file_write_atomic(f, "x", 1, 0644, NULL) == 0);
    struct {
        const char *path, *type, *err;
    } cases[] = {
        {f, "Directory", "is not a directory"},
        {dir, "File", "is not a file"},
        {f, "Socket", "is not a socket file"},
        {f, "BlockDevice", "is not a block device"},
        {"/dev/null", "CharDevice", NULL},
        {f, "File", NULL},
        {dir, "Directory", NULL},
        {"/nonexistent-volumes-x", "Directory", "does not exist"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *s = xasprintf(
            "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"volumes\":[{\"name\":\"h\",\"hostPath\":"
            "{\"path\":\"%s\",\"type\":\"%s\"}}]}}",
            cases[i].path, cases[i].type);
        _cleanup_json_ json_t *pod = parse(s);
        struct agent_vol_in in = {pod, dir, NULL, NULL, NULL, NULL};
        _cleanup_err_ struct k8c_err *err = NULL;
        int r = agent_volumes_setup(&in, &err);
        if (!cases[i].err) {
            cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
            continue;
        }
        cr_assert(eq(int, r, -1));
        _cleanup_free_ char *detail =
            xasprintf("hostPath type check failed: %s %s", cases[i].path, cases[i].err);
        _cleanup_free_ char *want =
            xasprintf("MountVolume.SetUp failed for volume \"h\" : %s", detail);
        cr_assert(eq(str, err->msg, want));
    }
    /* the OrCreate types make what is missing */
    _cleanup_free_ char *s = xasprintf(
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"volumes\":[{\"name\":\"d\",\"hostPath\":"
        "{\"path\":\"%s/new/dir\",\"type\":\"DirectoryOrCreate\"}},{\"name\":\"f\",\"hostPath\":"
        "{\"path\":\"%s/newfile\",\"type\":\"FileOrCreate\"}}]}}",
        dir, dir);
    _cleanup_json_ json_t *pod = parse(s);
    struct agent_vol_in in = {pod, dir, NULL, NULL, NULL, NULL};
    cr_assert(eq(int, agent_volumes_setup(&in, NULL), 0));
    struct stat st;
    _cleanup_free_ char *nd = xasprintf("%s/new/dir", dir);
    _cleanup_free_ char *nf = xasprintf("%s/newfile", dir);
    cr_assert(stat(nd, &st) == 0 && S_ISDIR(st.st_mode));
    cr_assert(stat(nf, &st) == 0 && S_ISREG(st.st_mode));
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", dir);
    cr_assert(system(rm) == 0);
}

Test(agent_qos, pod_cgroups_and_empty_parents_removed)
{
    /* a fake cgroup root: a v1 hierarchy "cpu" and v2 files at the root itself */
    _cleanup_free_ char *root = tmpdir();
    const char *dirs[] = {"cpu/k8c/kubepods/burstable/podU/c1",
                          "cpu/k8c/kubepods/besteffort/podO/c", "k8c/kubepods/podU/c2",
                          "memory/k8c/kubepods/burstable/podU"};
    for (size_t i = 0; i < 4; i++) {
        _cleanup_free_ char *d = xasprintf("%s/%s", root, dirs[i]);
        cr_assert(file_mkdir_p(d, 0755, NULL) == 0);
    }
    agent_pod_cgroups_remove(root, "U");
    const char *gone[] = {"cpu/k8c/kubepods/burstable", "k8c", "memory/k8c"};
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *d = xasprintf("%s/%s", root, gone[i]);
        cr_assert(access(d, F_OK) != 0, "%s is left", gone[i]);
    }
    /* another pod's cgroup and its parents stay */
    _cleanup_free_ char *other = xasprintf("%s/%s", root, dirs[1]);
    cr_assert(access(other, F_OK) == 0);
    agent_pod_cgroups_remove(root, "O");
    _cleanup_free_ char *k8c = xasprintf("%s/cpu/k8c", root);
    cr_assert(access(k8c, F_OK) != 0);
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", root);
    cr_assert(system(rm) == 0);
}

Test(agent_security, seccomp_localhost_proc_mount_and_sysctls)
{
    /* <data-dir>/pods/<uid> is the pod dir; profiles live in <data-dir>/seccomp */
    _cleanup_free_ char *data = tmpdir();
    _cleanup_free_ char *pod_dir = xasprintf("%s/pods/u", data);
    _cleanup_free_ char *prof_dir = xasprintf("%s/seccomp/profiles", data);
    cr_assert(file_mkdir_p(pod_dir, 0755, NULL) == 0 && file_mkdir_p(prof_dir, 0755, NULL) == 0);
    _cleanup_free_ char *prof = xasprintf("%s/audit.json", prof_dir);
    const char *text = "{\"defaultAction\":\"SCMP_ACT_LOG\"}";
    cr_assert(file_write_atomic(prof, text, strlen(text), 0644, NULL) == 0);
    const char *pod = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                      "\"spec\":{\"securityContext\":{\"seccompProfile\":{\"type\":\"Localhost\","
                      "\"localhostProfile\":\"profiles/audit.json\"},\"sysctls\":[{\"name\":"
                      "\"net.ipv4.ip_unprivileged_port_start\",\"value\":\"0\"}]},"
                      "\"containers\":[{\"name\":\"c\",\"securityContext\":{\"procMount\":"
                      "\"Unmasked\"}}]}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *cfg = config_of(pod, NULL, pod_dir, &err);
    cr_assert(cfg != NULL, "%s", err ? err->msg : "");
    cr_assert(eq(str, (char *)kjson_path_str(cfg, "linux.seccomp.defaultAction"), "SCMP_ACT_LOG"));
    cr_assert(eq(sz, json_array_size(kjson_path(cfg, "linux.maskedPaths")), 0));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(kjson_path(cfg, "linux.sysctl"),
                                                           "net.ipv4.ip_unprivileged_port_start")),
                 "0"));
    /* a missing profile is an error naming it */
    const char *missing = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                          "\"spec\":{\"containers\":[{\"name\":\"c\",\"securityContext\":"
                          "{\"seccompProfile\":{\"type\":\"Localhost\",\"localhostProfile\":"
                          "\"nope.json\"}}}]}}";
    _cleanup_err_ struct k8c_err *err2 = NULL;
    json_t *none = config_of(missing, NULL, pod_dir, &err2);
    cr_assert(none == NULL);
    cr_assert(strstr(err2->msg, "cannot load seccomp profile \"nope.json\"") != NULL, "%s",
              err2->msg);
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", data);
    cr_assert(system(rm) == 0);
}

Test(agent_volume, sub_path_may_not_leave_the_volume)
{
    _cleanup_free_ char *dir = tmpdir();
    const char *subs[][2] = {{"../x", "must be a relative path without '..'"},
                             {"a/../../x", "must be a relative path without '..'"},
                             {"/etc", "must be a relative path without '..'"},
                             {"esc", "leads outside the volume"},
                             {"..fine", NULL}};
    _cleanup_free_ char *ed = xasprintf("%s/volumes/kubernetes.io~empty-dir/v", dir);
    cr_assert(file_mkdir_p(ed, 0755, NULL) == 0);
    _cleanup_free_ char *esc = xasprintf("%s/esc", ed);
    cr_assert(symlink("/etc", esc) == 0);
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        _cleanup_free_ char *s = xasprintf(
            "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},\"spec\":{"
            "\"containers\":[{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":"
            "\"/m\",\"subPath\":\"%s\"}]}],\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]}}",
            subs[i][0]);
        _cleanup_err_ struct k8c_err *err = NULL;
        _cleanup_json_ json_t *cfg = config_of(s, NULL, dir, &err);
        if (!subs[i][1]) {
            cr_assert(cfg != NULL, "%s: %s", subs[i][0], err ? err->msg : "");
            continue;
        }
        cr_assert(cfg == NULL, "%s accepted", subs[i][0]);
        cr_assert(strstr(err->msg, subs[i][1]) != NULL, "%s", err->msg);
    }
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", dir);
    cr_assert(system(rm) == 0);
}
