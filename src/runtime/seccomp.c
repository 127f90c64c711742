/* seccomp with libseccomp: the spec's linux.seccomp compiled in the runtime (before clone,
 * so the container's process only loads it), with unknown syscall names skipped as runc and
 * crun do (a profile lists syscalls of newer kernels and other architectures). */
#include <errno.h>
#include <seccomp.h>
#include <string.h>

#include "runtime/internal.h"

void *runtime__seccomp_build(const struct runtime_seccomp *sc, struct k8c_err **err)
{
    scmp_filter_ctx ctx = seccomp_init(sc->default_action);
    if (ctx == NULL) {
        k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                    "config.json: linux.seccomp.defaultAction: rejected by libseccomp");
        return NULL;
    }
    int r;
    for (size_t i = 0; sc->archs && sc->archs[i]; i++) {
        uint32_t arch = seccomp_arch_resolve_name(sc->archs[i]);
        if (arch == 0 || arch == seccomp_arch_native())
            continue;
        if ((r = seccomp_arch_add(ctx, arch)) < 0 && r != -EEXIST) {
            k8c_err_set(err, -r, K8C_REASON_INTERNAL, "seccomp: add architecture %s", sc->archs[i]);
            seccomp_release(ctx);
            return NULL;
        }
    }
    /* no_new_privs is the runtime's business (process.noNewPrivileges), not libseccomp's */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (sc->log_flag)
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
    for (size_t i = 0; i < sc->n_rules; i++) {
        const struct runtime_seccomp_rule *rule = &sc->rules[i];
        if (rule->action == sc->default_action)
            continue; /* libseccomp refuses rules equal to the default */
        struct scmp_arg_cmp cmp[6];
        for (size_t k = 0; k < rule->n_args; k++) {
            cmp[k] = (struct scmp_arg_cmp){.arg = rule->args[k].index,
                                           .op = (enum scmp_compare)rule->args[k].op,
                                           .datum_a = rule->args[k].value,
                                           .datum_b = rule->args[k].value_two};
        }
        for (size_t n = 0; n < rule->n_names; n++) {
            int nr = seccomp_syscall_resolve_name(rule->names[n]);
            if (nr == __NR_SCMP_ERROR)
                continue;
            /* Several conditions on the same argument mean "any of them" in OCI profiles
             * (Docker's clone flags rule): add one rule per comparison then. */
            bool same_arg = false;
            for (size_t a = 1; a < rule->n_args; a++)
                if (rule->args[a].index == rule->args[0].index)
                    same_arg = true;
            if (same_arg) {
                for (size_t a = 0; a < rule->n_args; a++) {
                    r = seccomp_rule_add_array(ctx, rule->action, nr, 1, &cmp[a]);
                    if (r < 0 && r != -EEXIST)
                        break;
                    r = 0;
                }
            } else {
                r = seccomp_rule_add_array(ctx, rule->action, nr, (unsigned)rule->n_args, cmp);
            }
            if (r < 0 && r != -EEXIST) {
                k8c_err_set(err, -r, K8C_REASON_BAD_REQUEST,
                            "config.json: linux.seccomp.syscalls[%zu]: rule for %s", i,
                            rule->names[n]);
                seccomp_release(ctx);
                return NULL;
            }
        }
    }
    return ctx;
}

int runtime__seccomp_load(void *ctx, struct k8c_err **err)
{
    int r = seccomp_load((scmp_filter_ctx)ctx);
    if (r < 0)
        return k8c_err_set(err, -r, K8C_REASON_INTERNAL, "load the seccomp filter");
    return 0;
}

void runtime__seccomp_free(void *ctx)
{
    if (ctx)
        seccomp_release((scmp_filter_ctx)ctx);
}
