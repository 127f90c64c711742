/* Fuzz target: CIDR parsing and the IPAM state file (src/net/ipam.c). The first line is a
 * CIDR: one that parses formats back to text that parses to the same network. The rest is a
 * state file: it is either refused with a message or yields a consistent allocation (the
 * address lies inside the CIDR, is not network/gateway/broadcast, and is found again). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char state[96];

static void remove_dir(void)
{
    char lock[128];
    snprintf(lock, sizeof(lock), "%s.lock", state);
    unlink(state);
    unlink(lock);
    rmdir(dir);
}

static void check_cidr(const char *text)
{
    struct net_cidr c, again;
    struct k8c_err *err = NULL;
    if (net_cidr_parse(text, &c, &err) < 0) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
        return;
    }
    K8C_ASSERT(c.prefix <= 32);
    char ip[16], back[24];
    snprintf(back, sizeof(back), "%s/%u", net_ip_format(c.addr, ip), c.prefix);
    K8C_ASSERT(net_cidr_parse(back, &again, NULL) == 0);
    K8C_ASSERT(again.addr == c.addr && again.prefix == c.prefix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/k8c-net-fuzz-XXXXXX");
        K8C_ASSERT(mkdtemp(dir) != NULL);
        snprintf(state, sizeof(state), "%s/ipam", dir);
        atexit(remove_dir);
    }
    char *s = xstrndup((const char *)data, size);
    char *nl = strchr(s, '\n');
    const char *rest = nl ? nl + 1 : "";
    if (nl)
        *nl = '\0';
    check_cidr(s);

    FILE *f = fopen(state, "w");
    K8C_ASSERT(f != NULL);
    fwrite(rest, 1, strlen(rest), f);
    fclose(f);
    struct k8c_err *err = NULL;
    uint32_t ip = 0, seen = 0;
    int held = net_ipam_lookup(state, "fuzz-owner", &ip, &err);
    if (held < 0) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
        free(s);
        return 0;
    }
    if (net_ipam_allocate(state, "10.42.1.0/24", "fuzz-owner", &ip, &err) < 0) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        k8c_err_free(err);
        free(s);
        return 0;
    }
    K8C_ASSERT(ip > 0x0a2a0101u && ip < 0x0a2a01ffu);
    K8C_ASSERT(net_ipam_lookup(state, "fuzz-owner", &seen, NULL) == 1 && seen == ip);
    K8C_ASSERT(net_ipam_release(state, "fuzz-owner", NULL) == 0);
    free(s);
    return 0;
}
