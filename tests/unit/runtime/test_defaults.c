/* Unit tests for src/runtime/defaults.c and state ids: the RuntimeDefault settings parse
 * as a spec and compile with libseccomp; ids are checked. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "base/json.h"
#include "base/mem.h"
#include "runtime/internal.h"

Test(runtime_defaults, caps_are_dockers_fourteen)
{
    uint64_t caps = runtime_default_caps();
    int n = __builtin_popcountll(caps);
    cr_assert(eq(int, n, 14));
    cr_assert(eq(u64, caps, 0xa80425fbull));
}

Test(runtime_defaults, applied_config_parses_and_compiles)
{
    const char *base = "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"/r\"},\"process\":"
                       "{\"args\":[\"sh\"],\"cwd\":\"/\"},\"linux\":{\"namespaces\":"
                       "[{\"type\":\"mount\"}]}}";
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *cfg = kjson_parse(base, strlen(base), &err);
    cr_assert(cfg != NULL);
    int sys_admin = runtime_cap_from_name("CAP_SYS_ADMIN");
    int net_raw = runtime_cap_from_name("CAP_NET_RAW");
    int r = runtime_defaults_apply(cfg, 1ull << sys_admin, 1ull << net_raw, &err);
    cr_assert(eq(int, r, 0));
    _cleanup_free_ char *text = kjson_dumps(cfg);
    _cleanup_spec_ struct runtime_spec *s = runtime_spec_parse(text, strlen(text), "/b", &err);
    cr_assert(s != NULL, "%s", err ? err->msg : "");
    cr_assert(s->seccomp != NULL);
    bool has_admin = (s->cap_bounding & (1ull << sys_admin)) != 0;
    bool has_raw = (s->cap_bounding & (1ull << net_raw)) != 0;
    cr_assert(has_admin);
    cr_assert(has_raw == false);
    cr_assert(eq(u64, s->cap_inheritable, 0));
    cr_assert(eq(u64, s->cap_ambient, 0));
    struct runtime_bpf bpf;
    r = runtime__seccomp_compile(s->seccomp, NULL, &bpf, &err);
    cr_assert(eq(int, r, 0), "%s", err ? err->msg : "");
    cr_assert(bpf.len > 100 * 8);
    cr_assert(eq(sz, bpf.len % 8, 0));
    runtime__bpf_release(&bpf);
}

Test(runtime_defaults, without_sys_admin_clone_is_restricted)
{
    _cleanup_json_ json_t *p = runtime_default_seccomp(runtime_default_caps());
    _cleanup_free_ char *text = kjson_dumps(p);
    cr_assert(strstr(text, "\"mount\"") == NULL);
    cr_assert(strstr(text, "SCMP_CMP_MASKED_EQ") != NULL);
    cr_assert(strstr(text, "\"clone3\"") != NULL);
    _cleanup_json_ json_t *q = runtime_default_seccomp(~0ull);
    _cleanup_free_ char *all = kjson_dumps(q);
    cr_assert(strstr(all, "\"mount\"") != NULL);
    cr_assert(strstr(all, "SCMP_CMP_MASKED_EQ") == NULL);
}

Test(runtime_state, ids)
{
    static const char *const good[] = {"a", "abc-DEF_1.2", "0x"};
    static const char *const bad[] = {"", ".hidden", "-x", "a/b", "a b", "..", "x\n"};
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        int r = runtime__id_check(good[i], NULL);
        cr_assert(eq(int, r, 0), "%s", good[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_err_ struct k8c_err *err = NULL;
        int r = runtime__id_check(bad[i], &err);
        cr_assert(eq(int, r, -1), "%s", bad[i]);
    }
}
