/* The device cgroup of cgroup v2: linux.resources.devices compiled into an eBPF program
 * (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's cgroup, as runc and crun do.
 * Without it a container holding CAP_MKNOD could create and open any host device. Rules are
 * checked last to first and the first match decides (the last matching rule of the spec
 * wins); nothing matching means deny. The devices every container gets are allowed after
 * the spec's rules, as on v1. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/mem.h"
#include "runtime/internal.h"

#define MAX_INSNS 4096

struct prog {
    struct bpf_insn insns[MAX_INSNS];
    size_t n;
};

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    K8C_ASSERT(p->n < MAX_INSNS);
    p->insns[p->n++] =
        (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

static const struct runtime_device_rule always_allowed[] = {
    {true, 'c', 1, 3, "rwm"},    {true, 'c', 1, 5, "rwm"}, {true, 'c', 1, 7, "rwm"},
    {true, 'c', 1, 8, "rwm"},    {true, 'c', 1, 9, "rwm"}, {true, 'c', 5, 0, "rwm"},
    {true, 'c', 5, 1, "rwm"},    {true, 'c', 5, 2, "rwm"}, {true, 'c', 136, -1, "rwm"},
    {true, 'c', 10, 200, "rwm"},
};

/* One rule: jumps to the next rule unless type, access, major and minor match. Returns
 * true when the rule matches every device (nothing after it can run: the verifier refuses
 * unreachable code, so the caller stops there). */
static bool emit_rule(struct prog *p, const struct runtime_device_rule *r)
{
    size_t start = p->n;
    size_t jumps[4];
    size_t n_jumps = 0;
    if (r->type != 'a') {
        jumps[n_jumps++] = p->n;
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0,
             r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    }
    int32_t acc = 0;
    for (const char *c = r->access; *c; c++)
        acc |= *c == 'r'   ? BPF_DEVCG_ACC_READ
               : *c == 'w' ? BPF_DEVCG_ACC_WRITE
                           : BPF_DEVCG_ACC_MKNOD;
    int32_t all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
    if (acc != all) {
        /* matches when the requested access is within the rule's */
        emit(p, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
        emit(p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, ~acc & all);
        jumps[n_jumps++] = p->n;
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0);
    }
    if (r->major >= 0) {
        jumps[n_jumps++] = p->n;
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int32_t)r->major);
    }
    if (r->minor >= 0) {
        jumps[n_jumps++] = p->n;
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int32_t)r->minor);
    }
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0);
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (size_t i = 0; i < n_jumps; i++)
        p->insns[jumps[i]].off = (int16_t)(p->n - (jumps[i] + 1));
    (void)start;
    return n_jumps == 0;
}

int runtime__cgroup_v2_devices(const char *dir, const struct runtime_resources *res,
                               struct k8c_err **err)
{
    _cleanup_free_ struct prog *p = xcalloc(1, sizeof(*p));
    /* r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx) */
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);
    emit(p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 0, 0);
    emit(p, BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0);
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0);
    /* last rule first: the always-allowed devices, then the spec's from its end */
    bool done = false;
    for (size_t i = ARRAY_SIZE(always_allowed); i-- > 0;)
        emit_rule(p, &always_allowed[i]);
    if (res->n_devices > (MAX_INSNS - 200) / 10)
        return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                           "linux.resources.devices: too many rules (%zu)", res->n_devices);
    for (size_t i = res->n_devices; i-- > 0 && !done;)
        done = emit_rule(p, &res->devices[i]);
    if (!done) { /* nothing matched: deny */
        emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
        emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }

    char log[4096] = "";
    union bpf_attr load;
    memset(&load, 0, sizeof(load));
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (uint64_t)(uintptr_t)p->insns;
    load.insn_cnt = (uint32_t)p->n;
    load.license = (uint64_t)(uintptr_t) "GPL";
    load.log_buf = (uint64_t)(uintptr_t)log;
    load.log_size = sizeof(log);
    load.log_level = 1;
    _cleanup_close_ int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
    if (prog < 0)
        return k8c_err_errno(err, "linux.resources.devices: load the device filter");
    _cleanup_close_ int cgfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (cgfd < 0)
        return k8c_err_errno(err, "cgroup: open `%s`", dir);
    union bpf_attr attach;
    memset(&attach, 0, sizeof(attach));
    attach.target_fd = (uint32_t)cgfd;
    attach.attach_bpf_fd = (uint32_t)prog;
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) < 0)
        return k8c_err_errno(err, "linux.resources.devices: attach the device filter");
    /* the attachment keeps the program alive until the cgroup goes */
    return 0;
}
