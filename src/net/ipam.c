/* IPv4 CIDR helpers and persistent pod IP allocation (IPAM) from a node's pod CIDR: one small
 * state file per CIDR, locked with flock and replaced atomically, so addresses survive
 * restarts and two processes never hand out the same one. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/mem.h"
#include "net/net.h"

#define STATE_MAGIC "k8c-ipam 1"
#define STATE_MAX_SIZE (8u << 20)
#define OWNER_MAX 253
#define PREFIX_MIN 16
#define PREFIX_MAX 30

int net_ip_parse(const char *text, uint32_t *out, struct k8c_err **err)
{
    struct in_addr a;
    if (!text || inet_pton(AF_INET, text, &a) != 1)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid IPv4 address \"%s\"",
                           text ? text : "");
    *out = ntohl(a.s_addr);
    return 0;
}

char *net_ip_format(uint32_t ip, char *buf)
{
    snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return buf;
}

int net_cidr_parse(const char *text, struct net_cidr *out, struct k8c_err **err)
{
    const char *slash = text ? strchr(text, '/') : NULL;
    if (!slash || slash - text > 15 || !slash[1] || strlen(slash + 1) > 2)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid CIDR \"%s\": want a.b.c.d/n",
                           text ? text : "");
    char addr[16];
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    unsigned prefix = 0;
    for (const char *p = slash + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid CIDR \"%s\": bad prefix", text);
        prefix = prefix * 10 + (unsigned)(*p - '0');
    }
    uint32_t ip = 0;
    if (prefix > 32 || net_ip_parse(addr, &ip, NULL) < 0)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid CIDR \"%s\"", text);
    uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
    if (ip & ~mask)
        return k8c_err_set(err, 0, K8C_REASON_INVALID,
                           "invalid CIDR \"%s\": host bits set (network is not %s)", text, addr);
    out->addr = ip;
    out->prefix = prefix;
    return 0;
}

uint32_t net_cidr_gateway(const struct net_cidr *cidr)
{
    return cidr->addr + 1;
}

struct lease {
    uint32_t ip;
    char *owner;
};

struct state {
    struct net_cidr cidr;
    char cidr_text[32];
    uint32_t last; /* the last address handed out: allocation continues after it */
    struct lease *leases;
    size_t n, cap;
};

static void state_clear(struct state *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->leases[i].owner);
    free(st->leases);
    memset(st, 0, sizeof(*st));
}

static int check_owner(const char *owner, struct k8c_err **err)
{
    size_t len = owner ? strlen(owner) : 0;
    if (len == 0 || len > OWNER_MAX)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "invalid IPAM owner: want 1-%d chars",
                           OWNER_MAX);
    for (const char *p = owner; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "invalid IPAM owner \"%s\": whitespace or control character", owner);
    return 0;
}

/* Parses the state file text. Anything malformed is an error naming the file and line:
 * a damaged state must not silently double-allocate. */
static int state_parse(const char *path, char *text, struct state *st, struct k8c_err **err)
{
    char *save = NULL;
    unsigned lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (lineno == 1) {
            char cidr[32], last[32];
            if (strncmp(line, STATE_MAGIC " ", strlen(STATE_MAGIC) + 1) != 0 ||
                sscanf(line + strlen(STATE_MAGIC) + 1, "%31s %31s", cidr, last) != 2 ||
                net_cidr_parse(cidr, &st->cidr, NULL) < 0 ||
                net_ip_parse(last, &st->last, NULL) < 0)
                return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "IPAM state %s: bad header line",
                                   path);
            snprintf(st->cidr_text, sizeof(st->cidr_text), "%s", cidr);
            continue;
        }
        char *sp = strchr(line, ' ');
        uint32_t ip = 0;
        if (!sp)
            return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "IPAM state %s: bad line %u", path,
                               lineno);
        *sp = '\0';
        uint32_t mask = st->cidr.prefix ? 0xffffffffu << (32 - st->cidr.prefix) : 0;
        if (net_ip_parse(line, &ip, NULL) < 0 || check_owner(sp + 1, NULL) < 0 ||
            (ip & mask) != st->cidr.addr)
            return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "IPAM state %s: bad line %u", path,
                               lineno);
        if (st->n == st->cap) {
            st->cap = st->cap ? st->cap * 2 : 16;
            st->leases = xrealloc(st->leases, st->cap * sizeof(*st->leases));
        }
        st->leases[st->n++] = (struct lease){ip, xstrdup(sp + 1)};
    }
    if (lineno == 0)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "IPAM state %s: empty", path);
    return 0;
}

/* Takes the lock and reads the state (st->n == 0 and no CIDR when the file does not exist
 * yet). Returns the lock fd (close to unlock), or -1 and sets *err. */
static int state_load(const char *path, struct state *st, bool *exists, struct k8c_err **err)
{
    _cleanup_free_ char *lock_path = xasprintf("%s.lock", path);
    _cleanup_close_ int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return k8c_err_errno(err, "open IPAM lock %s", lock_path);
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return k8c_err_errno(err, "lock %s", lock_path);
    memset(st, 0, sizeof(*st));
    *exists = false;
    if (access(path, F_OK) < 0) {
        if (errno == ENOENT)
            return steal_fd(&fd);
        return k8c_err_errno(err, "IPAM state %s", path);
    }
    size_t len;
    _cleanup_free_ char *text = file_read_all(path, STATE_MAX_SIZE, &len, err);
    if (!text)
        return k8c_err_wrap(err, "IPAM state");
    if (state_parse(path, text, st, err) < 0) {
        state_clear(st);
        return -1;
    }
    *exists = true;
    return steal_fd(&fd);
}

static int state_save(const char *path, const struct state *st, struct k8c_err **err)
{
    _cleanup_buf_ struct buf b = BUF_INIT;
    char ip[16];
    buf_appendf(&b, STATE_MAGIC " %s %s\n", st->cidr_text, net_ip_format(st->last, ip));
    for (size_t i = 0; i < st->n; i++)
        buf_appendf(&b, "%s %s\n", net_ip_format(st->leases[i].ip, ip), st->leases[i].owner);
    /* replaced atomically under the lock but not fsync'ed (as CNI's host-local): the leases
     * matter while the pods' namespaces exist, and a machine crash takes those with it; a
     * crash leaves the old file or the new one, never a torn one (rename) */
    return file_write_replace(path, b.data, b.len, 0600, err);
}

static struct lease *find_owner(struct state *st, const char *owner)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->leases[i].owner, owner) == 0)
            return &st->leases[i];
    return NULL;
}

int net_ipam_allocate(const char *state_path, const char *cidr_text, const char *owner,
                      uint32_t *ip, struct k8c_err **err)
{
    struct net_cidr cidr;
    if (net_cidr_parse(cidr_text, &cidr, err) < 0 || check_owner(owner, err) < 0)
        return -1;
    if (cidr.prefix < PREFIX_MIN || cidr.prefix > PREFIX_MAX)
        return k8c_err_set(err, 0, K8C_REASON_INVALID, "pod CIDR %s: prefix must be /%d to /%d",
                           cidr_text, PREFIX_MIN, PREFIX_MAX);
    struct state st;
    bool exists;
    /* Declared before any goto: a cleanup variable must never be jumped over. */
    _cleanup_free_ unsigned char *used = NULL;
    _cleanup_close_ int lock = state_load(state_path, &st, &exists, err);
    if (lock < 0)
        return -1;
    int rc = -1;
    if (!exists) {
        st.cidr = cidr;
        net_ip_format(cidr.addr, st.cidr_text);
        snprintf(st.cidr_text + strlen(st.cidr_text), 5, "/%u", cidr.prefix);
        st.last = net_cidr_gateway(&cidr);
    } else if (st.cidr.addr != cidr.addr || st.cidr.prefix != cidr.prefix) {
        k8c_err_set(err, 0, K8C_REASON_CONFLICT,
                    "IPAM state %s belongs to pod CIDR %s, not %s (the node's pod CIDR changed?)",
                    state_path, st.cidr_text, cidr_text);
        goto out;
    }
    struct lease *held = find_owner(&st, owner);
    if (held) {
        *ip = held->ip;
        rc = 0;
        goto out;
    }
    /* Usable host addresses: after the gateway (.1) up to before broadcast. */
    uint32_t first = cidr.addr + 2, size = 1u << (32 - cidr.prefix);
    uint32_t count = size - 3;
    used = xcalloc(size / 8 + 1, 1);
    for (size_t i = 0; i < st.n; i++) {
        uint32_t off = st.leases[i].ip - cidr.addr;
        if (off < size)
            used[off / 8] |= (unsigned char)(1u << (off % 8));
    }
    uint32_t start = st.last >= first && st.last < first + count ? st.last - first + 1 : 0;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t cand = first + (start + k) % count;
        uint32_t off = cand - cidr.addr;
        if (used[off / 8] & (1u << (off % 8)))
            continue;
        if (st.n == st.cap) {
            st.cap = st.cap ? st.cap * 2 : 16;
            st.leases = xrealloc(st.leases, st.cap * sizeof(*st.leases));
        }
        st.leases[st.n++] = (struct lease){cand, xstrdup(owner)};
        st.last = cand;
        if (state_save(state_path, &st, err) < 0)
            goto out;
        *ip = cand;
        rc = 0;
        goto out;
    }
    k8c_err_set(err, 0, K8C_REASON_SERVICE_UNAVAILABLE,
                "pod CIDR %s exhausted: all %u addresses are allocated", cidr_text, count);
out:
    state_clear(&st);
    return rc;
}

int net_ipam_release(const char *state_path, const char *owner, struct k8c_err **err)
{
    if (check_owner(owner, err) < 0)
        return -1;
    struct state st;
    bool exists;
    _cleanup_close_ int lock = state_load(state_path, &st, &exists, err);
    if (lock < 0)
        return -1;
    int rc = 0;
    struct lease *held = find_owner(&st, owner);
    if (held) {
        free(held->owner);
        *held = st.leases[--st.n];
        rc = state_save(state_path, &st, err);
    }
    state_clear(&st);
    return rc;
}

int net_ipam_lookup(const char *state_path, const char *owner, uint32_t *ip, struct k8c_err **err)
{
    if (check_owner(owner, err) < 0)
        return -1;
    struct state st;
    bool exists;
    _cleanup_close_ int lock = state_load(state_path, &st, &exists, err);
    if (lock < 0)
        return -1;
    struct lease *held = find_owner(&st, owner);
    int rc = held ? 1 : 0;
    if (held)
        *ip = held->ip;
    state_clear(&st);
    return rc;
}

char **net_ipam_owners(const char *state_path, struct k8c_err **err)
{
    struct state st;
    bool exists;
    _cleanup_close_ int lock = state_load(state_path, &st, &exists, err);
    if (lock < 0)
        return NULL;
    char **out = xcalloc(st.n + 1, sizeof(*out));
    for (size_t i = 0; i < st.n; i++)
        out[i] = xstrdup(st.leases[i].owner);
    state_clear(&st);
    return out;
}
