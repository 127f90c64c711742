/* Capabilities with libcap: names <-> numbers, the bounding set, and switching to the
 * container's user while keeping exactly the capabilities the spec lists (the order runc and
 * crun use: drop bounding, keep caps across setuid, set the sets, raise ambient). */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/mem.h"
#include "runtime/internal.h"

int runtime_cap_from_name(const char *name)
{
    if (name == NULL || strncmp(name, "CAP_", 4) != 0)
        return -1;
    cap_value_t v;
    /* libcap takes lower case names ("cap_sys_admin"), case-insensitively in 2.66 */
    char lower[64];
    size_t n = strlen(name);
    if (n >= sizeof(lower))
        return -1;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    if (cap_from_name(lower, &v) < 0 || v < 0 || v > 63)
        return -1;
    /* cap_from_name also accepts bare numbers ("cap_12" is not one, but be strict) */
    const char *check = runtime__cap_name(v);
    if (check == NULL || strcmp(check, name) != 0)
        return -1;
    return v;
}

const char *runtime__cap_name(int cap)
{
    static char names[64][32];
    if (cap < 0 || cap > 63)
        return NULL;
    if (names[cap][0] == '\0') {
        char *s = cap_to_name((cap_value_t)cap);
        if (s == NULL)
            return NULL;
        if (strlen(s) >= sizeof(names[cap]) - 1 || strncmp(s, "cap_", 4) != 0) {
            cap_free(s);
            return NULL;
        }
        for (size_t i = 0; s[i]; i++)
            names[cap][i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
        cap_free(s);
    }
    return names[cap];
}

int runtime__cap_last(void)
{
    static int last = -1;
    if (last < 0) {
        FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        if (f == NULL || fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
            last = CAP_LAST_CAP;
        if (f)
            fclose(f);
    }
    return last;
}

int runtime__caps_drop_bounding(uint64_t bounding, struct k8c_err **err)
{
    int last = runtime__cap_last();
    for (int c = 0; c <= last; c++) {
        if (bounding & (1ull << c))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return k8c_err_errno(err, "drop %s from the bounding set", runtime__cap_name(c));
    }
    return 0;
}

static int set_caps(const struct runtime_spec *s, struct k8c_err **err)
{
    int last = runtime__cap_last();
    cap_t caps = cap_init();
    if (caps == NULL)
        return k8c_err_errno(err, "cap_init");
    struct {
        cap_flag_t flag;
        uint64_t mask;
    } sets[] = {{CAP_EFFECTIVE, s->cap_effective},
                {CAP_PERMITTED, s->cap_permitted},
                {CAP_INHERITABLE, s->cap_inheritable}};
    for (size_t k = 0; k < ARRAY_SIZE(sets); k++)
        for (int c = 0; c <= last; c++)
            if (sets[k].mask & (1ull << c)) {
                cap_value_t v = c;
                cap_set_flag(caps, sets[k].flag, 1, &v, CAP_SET);
            }
    int r = cap_set_proc(caps);
    cap_free(caps);
    if (r < 0)
        return k8c_err_errno(err, "set capabilities");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return k8c_err_errno(err, "clear ambient capabilities");
    /* A capability rises into the ambient set only when it is permitted and inheritable;
     * runc and crun skip the others silently, and so do we. */
    for (int c = 0; c <= last; c++)
        if ((s->cap_ambient & (1ull << c)) &&
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EPERM)
            return k8c_err_errno(err, "raise ambient %s", runtime__cap_name(c));
    return 0;
}

int runtime__caps_apply_user(const struct runtime_spec *s, struct k8c_err **err)
{
    if (s->has_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return k8c_err_errno(err, "keep capabilities");
    if (setgroups(s->n_additional_gids, s->additional_gids) < 0 &&
        !(errno == EPERM && s->n_additional_gids == 0))
        return k8c_err_errno(err, "process.user.additionalGids: setgroups");
    if (setresgid(s->gid, s->gid, s->gid) < 0)
        return k8c_err_errno(err, "process.user.gid: setgid %u", (unsigned)s->gid);
    if (setresuid(s->uid, s->uid, s->uid) < 0)
        return k8c_err_errno(err, "process.user.uid: setuid %u", (unsigned)s->uid);
    if (!s->has_caps)
        return 0;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return k8c_err_errno(err, "reset keep capabilities");
    return set_caps(s, err);
}
