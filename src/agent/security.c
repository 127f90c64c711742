/* A container's securityContext (the pod's, field by field overridden by the container's) as
 * kubelet and containerd apply it to the OCI config: the user (runAsUser/runAsGroup, the
 * image's user resolved through its /etc/passwd and /etc/group), runAsNonRoot,
 * supplementalGroups and fsGroup, privileged, capabilities add/drop, readOnlyRootFilesystem,
 * allowPrivilegeEscalation, seccompProfile, procMount and the pod's sysctls. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agent/bundle.h"
#include "base/file.h"
#include "base/json.h"
#include "base/mem.h"
#include "runtime/runtime.h"

/* The container's field, else the pod's. */
static const json_t *sc_get(const struct agent_bundle_in *in, const char *field)
{
    const json_t *v = kjson_path(json_object_get(in->container, "securityContext"), field);
    if (v && !json_is_null(v))
        return v;
    v = kjson_path(kjson_path(in->pod, "spec.securityContext"), field);
    return json_is_null(v) ? NULL : v;
}

/* Finds an /etc/passwd or /etc/group entry of the rootfs by name or by numeric id (field 0 is
 * the name, 2 the id, 3 the passwd's gid or the group's members). Returns the line's fields
 * split in place (in *line, caller frees) or false. */
static bool etc_lookup(const char *rootfs, const char *file, const char *name, long id, char **line,
                       char *fields[4])
{
    _cleanup_free_ char *path = xasprintf("%s/etc/%s", rootfs, file);
    _cleanup_free_ char *text = rootfs ? file_read_all(path, 1 << 20, NULL, NULL) : NULL;
    if (!text)
        return false;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *copy = xstrdup(l), *f[4] = {0}, *p = copy;
        for (int i = 0; i < 4 && p; i++) {
            f[i] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        if (f[2] && ((name && strcmp(f[0], name) == 0) || (!name && atol(f[2]) == id))) {
            *line = copy;
            memcpy(fields, f, sizeof(f));
            return true;
        }
        free(copy);
    }
    return false;
}

static bool numeric(const char *s, long *out)
{
    char *end;
    if (!s || !*s)
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        return false;
    *out = v;
    return true;
}

static void add_gid(json_t *gids, json_int_t g)
{
    size_t i;
    json_t *v;
    json_array_foreach (gids, i, v)
        if (json_integer_value(v) == g)
            return;
    json_array_append_new(gids, json_integer(g));
}

/* process.user: uid, gid and additionalGids. Returns 0, or -1 with *err. */
static int user_apply(const struct agent_bundle_in *in, json_t *cfg, struct k8c_err **err)
{
    const char *img_user = in->image->config.user;
    const char *cname = kjson_path_str(in->container, "name") ?: "";
    _cleanup_free_ char *rootfs = xasprintf("%s/%s/rootfs", in->pod_dir, cname);
    long uid = 0, gid = 0;
    bool gid_set = false;
    _cleanup_free_ char *uname = NULL;      /* for /etc/group memberships */
    _cleanup_free_ char *image_name = NULL; /* a non-numeric image user */
    const json_t *ru = sc_get(in, "runAsUser"), *rg = sc_get(in, "runAsGroup");
    if (json_is_integer(ru)) {
        uid = (long)json_integer_value(ru);
    } else if (img_user && *img_user) {
        _cleanup_free_ char *u = xstrdup(img_user);
        char *g = strchr(u, ':');
        if (g)
            *g++ = '\0';
        if (!numeric(u, &uid)) {
            image_name = xstrdup(u);
            _cleanup_free_ char *line = NULL;
            char *f[4];
            if (!etc_lookup(rootfs, "passwd", u, 0, &line, f))
                return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                                   "unable to find user %s: no matching entries in passwd file", u);
            uid = atol(f[2]);
            gid = f[3] ? atol(f[3]) : 0;
            gid_set = true;
            uname = xstrdup(u);
        }
        if (g && *g) {
            if (!numeric(g, &gid)) {
                _cleanup_free_ char *line = NULL;
                char *f[4];
                if (!etc_lookup(rootfs, "group", g, 0, &line, f))
                    return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                                       "unable to find group %s: no matching entries in group file",
                                       g);
                gid = atol(f[2]);
            }
            gid_set = true;
        }
    }
    if (!gid_set) { /* the primary group of the uid, when the image knows it */
        _cleanup_free_ char *line = NULL;
        char *f[4];
        if (etc_lookup(rootfs, "passwd", NULL, uid, &line, f)) {
            gid = f[3] ? atol(f[3]) : 0;
            if (!uname)
                uname = xstrdup(f[0]);
        }
    }
    if (json_is_integer(rg))
        gid = (long)json_integer_value(rg);
    /* runAsNonRoot, with kubelet's messages */
    if (json_is_true(sc_get(in, "runAsNonRoot"))) {
        const char *pn = kjson_path_str(in->pod, "metadata.name") ?: "";
        const char *pns = kjson_path_str(in->pod, "metadata.namespace") ?: "";
        const char *pu = kjson_path_str(in->pod, "metadata.uid") ?: "";
        if (json_is_integer(ru) && uid == 0)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "container's runAsUser breaks non-root policy (pod: \"%s_%s(%s)\", "
                               "container: %s)",
                               pn, pns, pu, cname);
        if (!json_is_integer(ru) && image_name)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "container has runAsNonRoot and image has non-numeric user (%s), "
                               "cannot verify user is non-root (pod: \"%s_%s(%s)\", container: %s)",
                               image_name, pn, pns, pu, cname);
        if (uid == 0)
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "container has runAsNonRoot and image will run as root (pod: "
                               "\"%s_%s(%s)\", container: %s)",
                               pn, pns, pu, cname);
    }
    json_t *gids = json_array();
    add_gid(gids, gid);
    if (uname) { /* the groups of the image's /etc/group that list the user */
        _cleanup_free_ char *path = xasprintf("%s/etc/group", rootfs);
        _cleanup_free_ char *text = file_read_all(path, 1 << 20, NULL, NULL);
        for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
            char *f[4] = {0}, *p = l;
            for (int i = 0; i < 4 && p; i++) {
                f[i] = p;
                p = strchr(p, ':');
                if (p)
                    *p++ = '\0';
            }
            for (char *s2 = NULL, *m = f[3] ? strtok_r(f[3], ",", &s2) : NULL; m;
                 m = strtok_r(NULL, ",", &s2))
                if (f[2] && strcmp(m, uname) == 0)
                    add_gid(gids, atol(f[2]));
        }
    }
    size_t i;
    json_t *g;
    json_array_foreach (kjson_path(in->pod, "spec.securityContext.supplementalGroups"), i, g)
        if (json_is_integer(g))
            add_gid(gids, json_integer_value(g));
    const json_t *fsg = kjson_path(in->pod, "spec.securityContext.fsGroup");
    if (json_is_integer(fsg))
        add_gid(gids, json_integer_value(fsg));
    json_object_set_new(json_object_get(cfg, "process"), "user",
                        json_pack("{s:I,s:I,s:o}", "uid", (json_int_t)uid, "gid", (json_int_t)gid,
                                  "additionalGids", gids));
    return 0;
}

static uint64_t cap_bit(const char *name)
{
    if (!name)
        return 0;
    _cleanup_free_ char *full =
        strncmp(name, "CAP_", 4) == 0 ? xstrdup(name) : xasprintf("CAP_%s", name);
    int b = runtime_cap_from_name(full);
    return b >= 0 ? 1ull << b : 0;
}

/* "All capabilities": the ones this agent may hand out (its bounding set; a container
 * cannot get what the agent lacks). */
static uint64_t all_caps(void)
{
    uint64_t caps = 0;
    for (int c = 0; c < 64; c++)
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
            caps |= 1ull << c;
    return caps;
}

static bool has_all(const json_t *list)
{
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), "ALL") == 0)
            return true;
    return false;
}

/* The host's devices for a privileged container (top level of /dev, as Docker does). */
static void host_devices(json_t *linux_obj)
{
    json_t *devs = json_array();
    DIR *d = opendir("/dev");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        _cleanup_free_ char *p = xasprintf("/dev/%s", e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || lstat(p, &st) < 0 ||
            !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            continue;
        /* the runtime makes these itself */
        static const char *const std[] = {"null",    "zero", "full", "random",
                                          "urandom", "tty",  "ptmx", "console"};
        bool skip = false;
        for (size_t k = 0; k < sizeof(std) / sizeof(std[0]); k++)
            skip |= strcmp(e->d_name, std[k]) == 0;
        if (skip)
            continue;
        json_array_append_new(
            devs, json_pack("{s:s,s:s,s:I,s:I,s:i,s:I,s:I}", "path", p, "type",
                            S_ISCHR(st.st_mode) ? "c" : "b", "major", (json_int_t)major(st.st_rdev),
                            "minor", (json_int_t)minor(st.st_rdev), "fileMode",
                            (int)(st.st_mode & 07777), "uid", (json_int_t)0, "gid", (json_int_t)0));
    }
    if (d)
        closedir(d);
    json_object_set_new(linux_obj, "devices", devs);
    json_t *res = kjson_object_ensure(linux_obj, "resources");
    json_object_set_new(res, "devices", json_pack("[{s:b,s:s}]", "allow", 1, "access", "rwm"));
}

int agent_security_apply(const struct agent_bundle_in *in, json_t *cfg, struct k8c_err **err)
{
    if (user_apply(in, cfg, err) < 0)
        return -1;
    json_t *process = json_object_get(cfg, "process");
    json_t *linux_obj = json_object_get(cfg, "linux");
    const json_t *csc = json_object_get(in->container, "securityContext");
    bool privileged = json_is_true(json_object_get(csc, "privileged"));
    /* capabilities as containerd orders them: ALL first, then the named ones */
    uint64_t caps = runtime_default_caps();
    const json_t *add = kjson_path(csc, "capabilities.add");
    const json_t *drop = kjson_path(csc, "capabilities.drop");
    if (privileged || has_all(add))
        caps = all_caps();
    if (!privileged && has_all(drop))
        caps = 0;
    size_t i;
    json_t *cn;
    json_array_foreach (add, i, cn)
        caps |= cap_bit(json_string_value(cn));
    if (!privileged)
        json_array_foreach (drop, i, cn)
            caps &= ~cap_bit(json_string_value(cn));
    if (runtime_defaults_apply(cfg, caps, ~caps, err) < 0)
        return -1;
    /* allowPrivilegeEscalation unset means allowed (Kubernetes' default) */
    const json_t *ape = json_object_get(csc, "allowPrivilegeEscalation");
    json_object_set_new(process, "noNewPrivileges",
                        json_boolean(!privileged && json_is_false(ape)));
    json_object_set_new(json_object_get(cfg, "root"), "readonly",
                        json_boolean(json_is_true(json_object_get(csc, "readOnlyRootFilesystem"))));
    const char *seccomp = json_string_value(sc_get(in, "seccompProfile.type"));
    if (privileged || (seccomp && strcmp(seccomp, "Unconfined") == 0)) {
        json_object_del(linux_obj, "seccomp");
    } else if (seccomp && strcmp(seccomp, "Localhost") == 0) {
        const char *prof = json_string_value(sc_get(in, "seccompProfile.localhostProfile"));
        if (!prof || !*prof || *prof == '/' || strncmp(prof, "../", 3) == 0 ||
            strstr(prof, "/../") || (strlen(prof) >= 3 && !strcmp(prof + strlen(prof) - 3, "/..")))
            return k8c_err_set(err, 0, K8C_REASON_INVALID,
                               "seccompProfile.localhostProfile \"%s\": must be a relative path "
                               "without '..'",
                               prof ? prof : "");
        /* <data-dir>/seccomp, the kubelet's <root-dir>/seccomp */
        _cleanup_free_ char *path = xasprintf("%s/../../seccomp/%s", in->pod_dir, prof ?: "");
        _cleanup_err_ struct k8c_err *e = NULL;
        _cleanup_free_ char *text = prof ? file_read_all(path, 1 << 20, NULL, &e) : NULL;
        json_t *p = text ? kjson_parse(text, strlen(text), NULL) : NULL;
        if (!json_is_object(p)) {
            json_decref(p);
            return k8c_err_set(err, 0, K8C_REASON_BAD_REQUEST,
                               "failed to generate seccomp spec opts: cannot load seccomp profile "
                               "\"%s\": %s",
                               prof ?: "", e ? e->msg : "not a JSON object");
        }
        json_object_set_new(linux_obj, "seccomp", p);
    } /* RuntimeDefault and unset: the runtime's default profile */
    const char *pm = json_string_value(json_object_get(csc, "procMount"));
    if (privileged || (pm && strcmp(pm, "Unmasked") == 0)) {
        json_object_set_new(linux_obj, "maskedPaths", json_array());
        json_object_set_new(linux_obj, "readonlyPaths", json_array());
    }
    if (privileged) {
        json_t *m;
        json_array_foreach (json_object_get(cfg, "mounts"), i, m)
            if (strcmp(kjson_path_str(m, "destination") ?: "", "/sys") == 0)
                json_object_set_new(m, "options",
                                    json_pack("[s,s,s,s]", "nosuid", "noexec", "nodev", "rw"));
        host_devices(linux_obj);
    }
    json_t *sysctl = json_object();
    json_t *s;
    json_array_foreach (kjson_path(in->pod, "spec.securityContext.sysctls"), i, s) {
        const char *n = kjson_path_str(s, "name"), *v = kjson_path_str(s, "value");
        if (n && v)
            json_object_set_new(sysctl, n, json_string(v));
    }
    if (json_object_size(sysctl))
        json_object_set_new(linux_obj, "sysctl", sysctl);
    else
        json_decref(sysctl);
    return 0;
}
