/* Unit tests for src/runtime/spec.c: config.json parsing and its one-line field errors. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "base/mem.h"
#include "runtime/runtime.h"

#define BASE_PROCESS "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}"
#define BASE_LINUX "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}"

static struct runtime_spec *parse(const char *text, struct k8c_err **err)
{
    return runtime_spec_parse(text, strlen(text), "/bundle", err);
}

/* Parses a config expected to fail and checks the message names `field`. */
static void expect_error(const char *text, const char *field)
{
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_spec_ struct runtime_spec *s = parse(text, &err);
    cr_assert(s == NULL, "parsed: %s", text);
    cr_assert(err != NULL);
    cr_assert(strstr(err->msg, field) != NULL, "\"%s\" does not name %s", err->msg, field);
    cr_assert(strchr(err->msg, '\n') == NULL, "not one line: %s", err->msg);
}

Test(runtime_spec, full_config)
{
    const char *text =
        "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
        "\"hostname\":\"box\","
        "\"process\":{\"terminal\":false,\"args\":[\"sh\",\"-c\",\"true\"],"
        "\"env\":[\"PATH=/bin\"],\"cwd\":\"/tmp\","
        "\"user\":{\"uid\":1000,\"gid\":100,\"umask\":18,\"additionalGids\":[5,6]},"
        "\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_CHOWN\"],\"ambient\":[]},"
        "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1024,\"hard\":4096}],"
        "\"noNewPrivileges\":true,\"oomScoreAdj\":500},"
        "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
        "{\"destination\":\"/data\",\"source\":\"/srv\",\"options\":[\"rbind\",\"ro\","
        "\"rslave\"]},"
        "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"options\":[\"nosuid\",\"mode=755\","
        "\"size=65536k\"]}],"
        "\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"pid\"},{\"type\":\"uts\"},"
        "{\"type\":\"network\"},{\"type\":\"ipc\"}],"
        "\"cgroupsPath\":\"/pods/c1\","
        "\"resources\":{\"memory\":{\"limit\":67108864},\"cpu\":{\"shares\":512,"
        "\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\"},\"pids\":{\"limit\":64}},"
        "\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},"
        "\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"],"
        "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":"
        "[\"SCMP_ARCH_X86_64\"],\"syscalls\":[{\"names\":[\"read\",\"write\"],"
        "\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"personality\"],\"action\":"
        "\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]}]}},"
        "\"annotations\":{\"a\":\"b\"}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_spec_ struct runtime_spec *s = parse(text, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(eq(str, s->root_path, "/bundle/rootfs"));
    cr_assert(s->root_readonly);
    cr_assert(eq(str, s->hostname, "box"));
    cr_assert(eq(str, s->args[2], "true"));
    cr_assert(s->args[3] == NULL);
    cr_assert(eq(u32, (uint32_t)s->uid, 1000));
    cr_assert(eq(u32, (uint32_t)s->gid, 100));
    cr_assert(s->has_umask);
    cr_assert(eq(u32, (uint32_t)s->umask, 022));
    cr_assert(eq(sz, s->n_additional_gids, 2));
    cr_assert(eq(u64, s->cap_bounding, (1ull << 5) | (1ull << 0)));
    cr_assert(eq(u64, s->cap_ambient, 0));
    cr_assert(eq(sz, s->n_rlimits, 1));
    cr_assert(eq(int, s->rlimits[0].resource, RLIMIT_NOFILE));
    cr_assert(eq(u64, s->rlimits[0].hard, 4096));
    cr_assert(s->no_new_privileges);
    cr_assert(eq(int, s->oom_score_adj, 500));
    cr_assert(eq(sz, s->n_mounts, 3));
    cr_assert(s->mounts[1].bind);
    cr_assert(eq(u64, (uint64_t)s->mounts[1].flags, (uint64_t)(MS_BIND | MS_REC | MS_RDONLY)));
    cr_assert(eq(u64, (uint64_t)s->mounts[1].propagation, (uint64_t)(MS_SLAVE | MS_REC)));
    cr_assert(eq(str, s->mounts[2].data, "mode=755,size=65536k"));
    cr_assert(eq(u64, (uint64_t)s->mounts[2].flags, (uint64_t)MS_NOSUID));
    cr_assert(s->ns[RUNTIME_NS_PID].wanted);
    cr_assert(s->ns[RUNTIME_NS_PID].path == NULL);
    cr_assert(s->ns[RUNTIME_NS_NETWORK].path == NULL);
    cr_assert(s->ns[RUNTIME_NS_IPC].wanted);
    cr_assert(s->ns[RUNTIME_NS_USER].wanted == false);
    cr_assert(eq(str, s->cgroups_path, "/pods/c1"));
    cr_assert(s->resources.has_memory_limit);
    cr_assert(eq(i64, s->resources.memory_limit, 67108864));
    cr_assert(eq(u64, s->resources.cpu_shares, 512));
    cr_assert(eq(i64, s->resources.cpu_quota, 50000));
    cr_assert(eq(str, s->resources.cpuset_cpus, "0-1"));
    cr_assert(eq(i64, s->resources.pids_limit, 64));
    cr_assert(eq(sz, s->n_sysctl, 1));
    cr_assert(eq(str, s->sysctl_values[0], "1"));
    cr_assert(s->seccomp != NULL);
    cr_assert(eq(sz, s->seccomp->n_rules, 2));
    cr_assert(eq(sz, s->seccomp->rules[1].n_args, 1));
    cr_assert(eq(str, s->seccomp->archs[0], "x86_64"));
    cr_assert(eq(str, s->masked_paths[0], "/proc/kcore"));
    cr_assert(eq(sz, json_object_size(s->annotations), 1));
}

Test(runtime_spec, errors_name_the_field)
{
    expect_error("{", "config.json");
    expect_error("[]", "config.json");
    expect_error("{\"ociVersion\":\"1\"," BASE_PROCESS "," BASE_LINUX "}", "root");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":5}," BASE_PROCESS "," BASE_LINUX "}",
                 "root.path");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_LINUX "}", "process");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[],"
                 "\"cwd\":\"/\"}," BASE_LINUX "}",
                 "process.args");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],"
                 "\"cwd\":\"rel\"}," BASE_LINUX "}",
                 "process.cwd");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"bogus\"}]}}",
                 "linux.namespaces[1].type: unknown namespace type \"bogus\"");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"mount\"}]}}",
                 "duplicate");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}",
                 "mount namespace is required");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],"
                 "\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,"
                 "\"hard\":5}]}," BASE_LINUX "}",
                 "process.rlimits[0].soft");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],"
                 "\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":10,"
                 "\"hard\":99999999999999}]}," BASE_LINUX "}",
                 "process.rlimits[0].hard");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],"
                 "\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_BOGUS\",\"soft\":1,"
                 "\"hard\":1}]}," BASE_LINUX "}",
                 "process.rlimits[0].type: unknown rlimit");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],"
                 "\"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_NOPE\"]}}," BASE_LINUX "}",
                 "process.capabilities.bounding[0]");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"mounts\":[{\"destination\":\"/a/../../etc\",\"type\":\"tmpfs\"}]," BASE_LINUX
                 "}",
                 "mounts[0].destination");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"mounts\":[{\"destination\":\"/x\"}]," BASE_LINUX "}",
                 "mounts[0].type");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"resources\":{\"memory\":"
                 "{\"limit\":\"big\"}}}}",
                 "linux.resources.memory.limit");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"seccomp\":{"
                 "\"defaultAction\":\"SCMP_ACT_NOPE\"}}}",
                 "linux.seccomp.defaultAction");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"user\"}]}}",
                 "uidMappings");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"cgroupsPath\":"
                 "\"system.slice:k8c:x\"}}",
                 "linux.cgroupsPath");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"},\"hostname\":\"h\"," BASE_PROCESS
                 "," BASE_LINUX "}",
                 "hostname");
}

Test(runtime_spec, joined_namespace_path)
{
    const char *text = "{\"ociVersion\":\"1\",\"root\":{\"path\":\"/r\"}," BASE_PROCESS
                       ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":"
                       "\"network\",\"path\":\"/var/run/netns/x\"},{\"type\":\"ipc\","
                       "\"path\":\"\"}]}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_spec_ struct runtime_spec *s = parse(text, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(eq(str, s->ns[RUNTIME_NS_NETWORK].path, "/var/run/netns/x"));
    cr_assert(s->ns[RUNTIME_NS_IPC].wanted);
    cr_assert(s->ns[RUNTIME_NS_IPC].path == NULL); /* "" means a new one */
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"},{\"type\":"
                 "\"network\",\"path\":\"netns/x\"}]}}",
                 "linux.namespaces[1].path");
}

Test(runtime_spec, hugepage_limits)
{
    const char *text = "{\"ociVersion\":\"1\",\"root\":{\"path\":\"/r\"}," BASE_PROCESS
                       ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"resources\":"
                       "{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":8388608}]}}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_spec_ struct runtime_spec *s = parse(text, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(eq(sz, s->resources.n_hugepages, 1));
    cr_assert(eq(str, s->resources.hugepages[0].page_size, "2MB"));
    cr_assert(eq(u64, s->resources.hugepages[0].limit, 8388608));
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"resources\":"
                 "{\"hugepageLimits\":[{\"pageSize\":\"2MB/../x\",\"limit\":1}]}}}",
                 "linux.resources.hugepageLimits[0].pageSize");
}

Test(runtime_spec, hooks)
{
    const char *text = "{\"ociVersion\":\"1\",\"root\":{\"path\":\"/r\"}," BASE_PROCESS
                       "," BASE_LINUX ",\"hooks\":{\"createRuntime\":[{\"path\":\"/bin/x\","
                       "\"args\":[\"x\",\"1\"],\"env\":[\"A=b\"],\"timeout\":5}],"
                       "\"poststop\":[{\"path\":\"/bin/y\"},{\"path\":\"/bin/z\"}]}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_spec_ struct runtime_spec *s = parse(text, &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(eq(sz, s->n_hooks[RUNTIME_HOOK_CREATE_RUNTIME], 1));
    cr_assert(eq(str, s->hooks[RUNTIME_HOOK_CREATE_RUNTIME][0].args[1], "1"));
    cr_assert(eq(int, s->hooks[RUNTIME_HOOK_CREATE_RUNTIME][0].timeout, 5));
    cr_assert(eq(sz, s->n_hooks[RUNTIME_HOOK_POSTSTOP], 2));
    cr_assert(eq(sz, s->n_hooks[RUNTIME_HOOK_PRESTART], 0));
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS "," BASE_LINUX
                 ",\"hooks\":{\"poststart\":[{\"path\":\"rel\"}]}}",
                 "hooks.poststart[0].path");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS "," BASE_LINUX
                 ",\"hooks\":{\"prestart\":[{\"path\":\"/x\",\"timeout\":0}]}}",
                 "hooks.prestart[0].timeout");
}

Test(runtime_spec, sysctls_must_be_namespaced)
{
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"sysctl\":"
                 "{\"vm.swappiness\":\"1\"}}}",
                 "linux.sysctl.vm.swappiness: is not namespaced");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"sysctl\":"
                 "{\"net.ipv4.ip_forward\":\"1\"}}}",
                 "needs a new network namespace");
    expect_error("{\"ociVersion\":\"1\",\"root\":{\"path\":\"r\"}," BASE_PROCESS
                 ",\"linux\":{\"namespaces\":[{\"type\":\"mount\"}],\"sysctl\":"
                 "{\"kernel.shmmax\":\"1\"}}}",
                 "needs an ipc namespace");
}

Test(runtime_spec, huge_rlimit_is_infinity)
{
    const char *text = "{\"ociVersion\":\"1\",\"root\":{\"path\":\"/r\"},\"process\":{\"args\":"
                       "[\"a\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_CORE\",\"soft\":"
                       "18446744073709551615,\"hard\":18446744073709551615}]}," BASE_LINUX "}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_spec_ struct runtime_spec *s = parse(text, &err);
    if (s == NULL) {
        /* jansson may refuse integers above INT64_MAX outright: then it must say so */
        cr_assert(err != NULL && strstr(err->msg, "config.json") != NULL);
        return;
    }
    cr_assert(eq(u64, s->rlimits[0].hard, UINT64_MAX));
}

Test(runtime_spec, cap_names)
{
    int c = runtime_cap_from_name("CAP_SYS_ADMIN");
    cr_assert(eq(int, c, 21));
    c = runtime_cap_from_name("CAP_CHOWN");
    cr_assert(eq(int, c, 0));
    c = runtime_cap_from_name("cap_chown");
    cr_assert(eq(int, c, -1));
    c = runtime_cap_from_name("CAP_BOGUS");
    cr_assert(eq(int, c, -1));
    c = runtime_cap_from_name("12");
    cr_assert(eq(int, c, -1));
}
