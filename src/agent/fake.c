/* --runtime fake: containers without processes, for scale tests (like kubemark's hollow
 * kubelet, but through the agent's real pod workers, status and Events). A container "runs"
 * from its start until the runtime is asked to kill it; the kill writes the exit file a real
 * shim would write (128 + signal), so deletion and grace periods take the real path. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/internal.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#define UID_LEN 36 /* a UUID: container ids are k8c-<uid>-<container name> */

int agent__fake_ctr_start(struct agent *a, struct agent_pod *p, struct agent_ctr *c,
                          const json_t *pod)
{
    const char *image = kjson_path_str(agent__ctr_spec(pod, c), "image");
    _cleanup_image_info_ struct image_info *img = NULL;
    _cleanup_err_ struct k8c_err *err = NULL;
    img = image_store_get(a->images, image ? image : "", &err);
    free(c->image_id);
    /* nothing is pulled: an image that is not here gets a made-up id naming the fake */
    c->image_id = img ? xstrdup(img->config_digest) : xasprintf("k8c-fake://%s", image ?: "");
    if (!c->started_at)
        agent__event(a, pod, "Normal", "Pulled",
                     "Container image \"%s\" already present on machine", image ?: "");
    _cleanup_free_ char *dir = agent__ctr_dir(p, c);
    _cleanup_free_ char *exitp = xasprintf("%s/exit", dir);
    k8c_err_free(err);
    err = NULL;
    if (file_mkdir_p(dir, 0755, &err) < 0) {
        agent__ctr_set_waiting(c, "CreateContainerError", err->msg);
        return -1;
    }
    unlink(exitp);
    agent__event(a, pod, "Normal", "Created", "Created container %s", c->name);
    agent__ctr_started(a, p, c, pod);
    return 0;
}

int agent__fake_call(struct agent *a, const char *verb, const char *const *extra)
{
    if (strcmp(verb, "kill") != 0)
        return 0;
    const char *id = extra[0], *sig = extra[1] ? extra[1] : "TERM";
    if (!id || strncmp(id, "k8c-", 4) != 0 || strlen(id) < 4 + UID_LEN + 2)
        return 1;
    _cleanup_free_ char *uid = xstrndup(id + 4, UID_LEN);
    _cleanup_free_ char *exitp =
        xasprintf("%s/pods/%s/%s/exit", a->data_dir, uid, id + 4 + UID_LEN + 1);
    int code = 128 + (strcmp(sig, "KILL") == 0 ? SIGKILL : SIGTERM);
    char text[16];
    int n = snprintf(text, sizeof(text), "%d\n", code);
    _cleanup_err_ struct k8c_err *err = NULL;
    if (file_write_replace(exitp, text, (size_t)n, 0644, &err) < 0) {
        LOG_DEBUG("fake kill %s: %s", id, err->msg);
        return 1;
    }
    return 0;
}
