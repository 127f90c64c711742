/* Events the agent records about pods (source component "kubelet", as Kubernetes). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/bundle.h"
#include "agent/internal.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/proc.h"

void agent__event(struct agent *a, const json_t *pod, const char *type, const char *reason,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct buf msg = BUF_INIT;
    buf_vappendf(&msg, fmt, ap);
    va_end(ap);
    const char *ns = kjson_path_str(pod, "metadata.namespace");
    const char *name = kjson_path_str(pod, "metadata.name");
    char stamp[21];
    clock_rfc3339(time(NULL), stamp);
    static atomic_uint seq;
    _cleanup_free_ char *ename =
        xasprintf("%s.%lx%x", name, (unsigned long)clock_mono_ns(), atomic_fetch_add(&seq, 1));
    _cleanup_json_ json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", ename, "namespace", ns,
        "involvedObject", "kind", "Pod", "apiVersion", "v1", "namespace", ns, "name", name, "uid",
        kjson_path_str(pod, "metadata.uid") ?: "", "type", type, "reason", reason, "message",
        msg.data ? msg.data : "", "source", "component", "kubelet", "host", a->node_name,
        "firstTimestamp", stamp, "lastTimestamp", stamp, "count", 1);
    buf_free(&msg);
    _cleanup_free_ char *path = xasprintf("/api/v1/namespaces/%s/events", ns);
    _cleanup_err_ struct k8c_err *err = NULL;
    _cleanup_json_ json_t *r = client_create(a->client, path, ev, &err);
    if (!r)
        LOG_DEBUG("event %s not recorded: %s", reason, err->msg);
}

/* ---- per-pod state ---- */
