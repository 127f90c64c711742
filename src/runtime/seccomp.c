/* seccomp with libseccomp: the spec's linux.seccomp compiled to BPF in the runtime (before
 * clone, so the container's process only loads it), with unknown syscall names skipped as
 * runc and crun do (a profile lists syscalls of newer kernels and other architectures), and
 * a cache of compiled filters keyed by the profile text. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "runtime/internal.h"

static scmp_filter_ctx build(const struct runtime_seccomp *sc, struct k8c_err **err)
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
    /* A binary tree of syscall numbers rather than libseccomp's default list (one compare
     * per rule): Docker's default profile allows ~370 syscalls, and the kernel runs the
     * filter for every syscall number of every architecture when it is loaded (the
     * action cache of seccomp_attach_filter), then at each syscall of the container. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
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
        /* Several conditions on the same argument mean "any of them" in OCI profiles: add
         * one rule per comparison then, as runc does. */
        bool same_arg = false;
        for (size_t a = 1; a < rule->n_args; a++)
            if (rule->args[a].index == rule->args[0].index)
                same_arg = true;
        for (size_t n = 0; n < rule->n_names; n++) {
            int nr = seccomp_syscall_resolve_name(rule->names[n]);
            if (nr == __NR_SCMP_ERROR)
                continue;
            if (same_arg) {
                r = 0;
                for (size_t a = 0; a < rule->n_args && (r == 0 || r == -EEXIST); a++)
                    r = seccomp_rule_add_array(ctx, rule->action, nr, 1, &cmp[a]);
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

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static char *cache_path(const struct runtime_seccomp *sc, const char *cache_dir)
{
    const struct scmp_version *v = seccomp_version();
    char ver[64];
    snprintf(ver, sizeof(ver), "|%u.%u.%u|%u|tree", v->major, v->minor, v->micro,
             seccomp_arch_native());
    uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ull, sc->source ? sc->source : ""), ver);
    return xasprintf("%s/%016llx.bpf", cache_dir, (unsigned long long)h);
}

int runtime__seccomp_compile(const struct runtime_seccomp *sc, const char *cache_dir,
                             struct runtime_bpf *out, struct k8c_err **err)
{
    memset(out, 0, sizeof(*out));
    out->flags = sc->log_flag ? SECCOMP_FILTER_FLAG_LOG : 0;
    _cleanup_free_ char *path = cache_dir && sc->source ? cache_path(sc, cache_dir) : NULL;
    if (path) {
        size_t len;
        _cleanup_err_ struct k8c_err *e = NULL;
        char *data = file_read_all(path, 1 << 20, &len, &e);
        if (data && len > 0 && len % sizeof(struct sock_filter) == 0) {
            out->insns = data;
            out->len = len;
            return 0;
        }
        free(data);
    }
    scmp_filter_ctx ctx = build(sc, err);
    if (ctx == NULL)
        return -1;
    _cleanup_close_ int fd = memfd_create("k8c-seccomp", MFD_CLOEXEC);
    int r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (r < 0)
        return k8c_err_set(err, -r, K8C_REASON_INTERNAL, "seccomp: compile the filter");
    if (lseek(fd, 0, SEEK_SET) < 0)
        return k8c_err_errno(err, "seccomp: rewind");
    size_t len;
    out->insns = file_read_fd(fd, 1 << 20, &len, err);
    if (out->insns == NULL)
        return -1;
    out->len = len;
    if (path && file_mkdir_p(cache_dir, 0700, NULL) == 0) {
        /* best effort: a missing cache entry only costs a compile */
        _cleanup_free_ char *tmp = xasprintf("%s.%d", path, (int)getpid());
        _cleanup_close_ int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (w >= 0 && write(w, out->insns, len) == (ssize_t)len && rename(tmp, path) == 0)
            return 0;
        unlink(tmp);
    }
    return 0;
}

int runtime__seccomp_load(const struct runtime_bpf *bpf, struct k8c_err **err)
{
    struct sock_fprog prog = {.len = (unsigned short)(bpf->len / sizeof(struct sock_filter)),
                              .filter = bpf->insns};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, bpf->flags, &prog) < 0)
        return k8c_err_errno(err, "load the seccomp filter");
    return 0;
}

void runtime__bpf_release(struct runtime_bpf *bpf)
{
    free(bpf->insns);
    bpf->insns = NULL;
    bpf->len = 0;
}
