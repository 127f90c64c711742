/* Unit tests for src/net/ipam.c: CIDR parsing and persistent pod IP allocation. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "base/mem.h"
#include "net/net.h"

static char *temp_dir(void)
{
    char *dir = xstrdup("/tmp/k8c-net-unit-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    return dir;
}

static void remove_tree(const char *dir)
{
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
    cr_assert(eq(int, system(cmd), 0));
}

static const char *ip_text(uint32_t ip, char *buf)
{
    return net_ip_format(ip, buf);
}

Test(net_cidr, parse_good_and_bad)
{
    struct net_cidr c;
    _cleanup_err_ struct k8c_err *err = NULL;
    cr_assert(eq(int, net_cidr_parse("10.42.1.0/24", &c, &err), 0));
    cr_assert(eq(u32, c.addr, 0x0a2a0100u));
    cr_assert(eq(u32, c.prefix, 24));
    char gw[16];
    cr_assert(eq(str, (char *)ip_text(net_cidr_gateway(&c), gw), "10.42.1.1"));
    const char *bad[] = {
        "",          "10.42.1.0",    "10.42.1.0/",   "10.42.1.0/33", "10.42.1.7/24",  "10.42.1/24",
        "x.y.z.w/8", "10.42.1.0/2a", "10.42.1.0/-1", "1.2.3.4.5/8",  "10.42.1.0/024x"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int rc = net_cidr_parse(bad[i], &c, &err);
        cr_assert(eq(int, rc, -1), "accepted %s", bad[i]);
        cr_assert(eq(int, (int)err->reason, (int)K8C_REASON_INVALID));
    }
    int rc = net_cidr_parse("10.42.1.7/24", &c, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(strstr(err->msg, "host bits") != NULL, "%s", err->msg);
}

Test(net_ipam, allocate_is_idempotent_and_persistent)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *state = xasprintf("%s/ipam", dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    uint32_t a = 0, b = 0, again = 0;
    char t[16];
    cr_assert(eq(int, net_ipam_allocate(state, "10.42.1.0/24", "pod-a", &a, &err), 0));
    cr_assert(eq(str, (char *)ip_text(a, t), "10.42.1.2"), "skips network and gateway");
    cr_assert(eq(int, net_ipam_allocate(state, "10.42.1.0/24", "pod-b", &b, &err), 0));
    cr_assert(eq(str, (char *)ip_text(b, t), "10.42.1.3"));
    cr_assert(eq(int, net_ipam_allocate(state, "10.42.1.0/24", "pod-a", &again, &err), 0));
    cr_assert(eq(u32, again, a), "same owner, same address");
    /* The state is the file: a lookup (as after a restart) sees it. */
    uint32_t seen = 0;
    int held = net_ipam_lookup(state, "pod-b", &seen, &err);
    cr_assert(eq(int, held, 1));
    cr_assert(eq(u32, seen, b));
    size_t len = 0;
    _cleanup_free_ char *text = file_read_all(state, 4096, &len, &err);
    cr_assert(text != NULL);
    cr_assert(strstr(text, "10.42.1.3 pod-b\n") != NULL, "%s", text);
    remove_tree(dir);
}

Test(net_ipam, release_frees_and_is_repeatable)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *state = xasprintf("%s/ipam", dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    uint32_t a = 0, ip = 0;
    cr_assert(eq(int, net_ipam_release(state, "nobody", &err), 0), "no state file yet");
    cr_assert(eq(int, net_ipam_allocate(state, "10.42.1.0/24", "pod-a", &a, &err), 0));
    cr_assert(eq(int, net_ipam_release(state, "pod-a", &err), 0));
    cr_assert(eq(int, net_ipam_release(state, "pod-a", &err), 0), "second release is fine");
    int held = net_ipam_lookup(state, "pod-a", &ip, &err);
    cr_assert(eq(int, held, 0));
    remove_tree(dir);
}

Test(net_ipam, exhausted_cidr_is_a_clear_error_and_release_makes_room)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *state = xasprintf("%s/ipam", dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    uint32_t ip = 0;
    char t[16];
    /* A /29 has 8 addresses: network, gateway and broadcast leave 5 for pods. */
    for (int i = 0; i < 5; i++) {
        _cleanup_free_ char *owner = xasprintf("pod-%d", i);
        cr_assert(eq(int, net_ipam_allocate(state, "10.42.1.0/29", owner, &ip, &err), 0));
        cr_assert(ip >= 0x0a2a0102u && ip <= 0x0a2a0106u, "%s", ip_text(ip, t));
    }
    int rc = net_ipam_allocate(state, "10.42.1.0/29", "pod-5", &ip, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(strstr(err->msg, "exhausted") != NULL, "%s", err->msg);
    cr_assert(eq(int, (int)err->reason, (int)K8C_REASON_SERVICE_UNAVAILABLE));
    cr_assert(eq(int, net_ipam_release(state, "pod-2", &err), 0));
    cr_assert(eq(int, net_ipam_allocate(state, "10.42.1.0/29", "pod-5", &ip, &err), 0));
    cr_assert(eq(str, (char *)ip_text(ip, t), "10.42.1.4"), "the freed address");
    remove_tree(dir);
}

Test(net_ipam, bad_input_and_changed_cidr)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *state = xasprintf("%s/ipam", dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    uint32_t ip = 0;
    int rc = net_ipam_allocate(state, "10.42.1.0/24", "has space", &ip, &err);
    cr_assert(eq(int, rc, -1));
    rc = net_ipam_allocate(state, "10.42.1.0/24", "", &ip, &err);
    cr_assert(eq(int, rc, -1));
    rc = net_ipam_allocate(state, "10.0.0.0/8", "pod", &ip, &err);
    cr_assert(eq(int, rc, -1), "a /8 is not a node's pod CIDR");
    rc = net_ipam_allocate(state, "10.42.1.0/31", "pod", &ip, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, net_ipam_allocate(state, "10.42.1.0/24", "pod", &ip, &err), 0));
    rc = net_ipam_allocate(state, "10.42.2.0/24", "pod2", &ip, &err);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, (int)err->reason, (int)K8C_REASON_CONFLICT));
    remove_tree(dir);
}

Test(net_ipam, damaged_state_is_refused)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *state = xasprintf("%s/ipam", dir);
    _cleanup_err_ struct k8c_err *err = NULL;
    uint32_t ip = 0;
    const char *damaged[] = {"", "garbage\n", "k8c-ipam 1 10.42.1.0/24\n",
                             "k8c-ipam 1 10.42.1.0/24 10.42.1.1\n10.42.1.2\n",
                             "k8c-ipam 1 10.42.1.0/24 10.42.1.1\nnot-an-ip pod\n"};
    for (size_t i = 0; i < ARRAY_SIZE(damaged); i++) {
        cr_assert(eq(int, file_write_atomic(state, damaged[i], strlen(damaged[i]), 0600, &err), 0));
        int rc = net_ipam_allocate(state, "10.42.1.0/24", "pod", &ip, &err);
        cr_assert(eq(int, rc, -1), "accepted damaged state %zu", i);
        cr_assert(strstr(err->msg, "IPAM state") != NULL, "%s", err->msg);
    }
    remove_tree(dir);
}

Test(net_pod, host_ifname_is_named_by_the_address)
{
    char a[16];
    net_pod_host_ifname(0x0a2a0102u, a);
    cr_assert(eq(str, a, "k8c0a2a0102"));
    net_pod_host_ifname(0xffffffffu, a);
    cr_assert(eq(sz, strlen(a), 11));
}

Test(net_ipam, concurrent_processes_never_share_an_address)
{
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *state = xasprintf("%s/ipam", dir);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        cr_assert(kids[k] >= 0);
        if (kids[k] == 0) {
            for (int i = 0; i < 40; i++) {
                char owner[32];
                uint32_t ip;
                snprintf(owner, sizeof(owner), "proc%d-pod%d", k, i);
                if (net_ipam_allocate(state, "10.42.1.0/24", owner, &ip, NULL) < 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status = 0;
        cr_assert(eq(int, waitpid(kids[k], &status, 0), kids[k]));
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        cr_assert(clean, "an allocating process failed");
    }
    unsigned char seen[256] = {0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 40; i++) {
            char owner[32];
            uint32_t ip = 0;
            snprintf(owner, sizeof(owner), "proc%d-pod%d", k, i);
            int held = net_ipam_lookup(state, owner, &ip, NULL);
            cr_assert(eq(int, held, 1), "%s lost", owner);
            cr_assert(eq(int, seen[ip & 255], 0), "address handed out twice");
            seen[ip & 255] = 1;
        }
    remove_tree(dir);
}
