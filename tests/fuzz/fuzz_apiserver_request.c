/* Fuzz target for the API server's request decoding: one HTTP request (method, path with
 * query, Accept, Content-Type, body) served in-process by apiserver_core_serve over a real
 * SQLite store in a private temporary directory (removed at exit). Input format:
 *   METHOD SP TARGET LF
 *   ("Accept: " value LF | "Content-Type: " value LF)*
 *   LF
 *   body
 * Checks that every answer has a code and, for errors, a JSON Status. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "base/json.h"
#include "base/mem.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct apiserver_core *core;
static char dir[] = "/tmp/k8c-apiserver-fuzz-XXXXXX";

static void cleanup(void)
{
    apiserver_core_free(core);
    store_close(store);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "%s/state.db", dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/state.db-wal", dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/state.db-shm", dir);
    unlink(cmd);
    snprintf(cmd, sizeof(cmd), "%s/state.db.lock", dir); /* the store's writer lock */
    unlink(cmd);
    rmdir(dir);
}

static void setup(void)
{
    if (core)
        return;
    if (!mkdtemp(dir))
        abort();
    char url[96];
    snprintf(url, sizeof(url), "sqlite:%s/state.db", dir);
    struct k8c_err *err = NULL;
    store = store_open(url, NULL, &err);
    if (!store)
        abort();
    core = apiserver_core_new(store, NULL, &err);
    if (!core)
        abort();
    atexit(cleanup);
}

/* Takes one line from *p (up to LF) into a new string. */
static char *take_line(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *e = nl ? nl : end;
    char *s = xstrndup(*p, (size_t)(e - *p));
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    const char *p = (const char *)data, *end = p + size;
    _cleanup_free_ char *first = take_line(&p, end);
    _cleanup_free_ char *accept = NULL;
    _cleanup_free_ char *ctype = NULL;
    while (p < end) {
        _cleanup_free_ char *h = take_line(&p, end);
        if (h[0] == '\0')
            break;
        if (strncmp(h, "Accept: ", 8) == 0) {
            free(accept);
            accept = xstrdup(h + 8);
        } else if (strncmp(h, "Content-Type: ", 14) == 0) {
            free(ctype);
            ctype = xstrdup(h + 14);
        }
    }
    char *sp = strchr(first, ' ');
    const char *method = first;
    char *target = sp ? sp + 1 : (char *)"/";
    if (sp)
        *sp = '\0';
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    /* Every request that names an object works in one namespace the store keeps small. */
    struct apiserver_request_in in = {.method = method,
                                      .path = target,
                                      .query = q,
                                      .accept = accept,
                                      .content_type = ctype,
                                      .body = p,
                                      .body_len = (size_t)(end - p)};
    struct apiserver_response_out out = {0};
    apiserver_core_serve(core, &in, &out);
    if (out.code < 100 || out.code > 599)
        abort();
    if (out.code >= 400 && out.content_type && strcmp(out.content_type, "application/json") == 0) {
        struct k8c_err *err = NULL;
        json_t *st = kjson_parse(out.body.data ? out.body.data : "", out.body.len, &err);
        if (!st || !json_is_object(st) || !json_object_get(st, "code"))
            abort();
        json_decref(st);
        k8c_err_free(err);
    }
    apiserver_response_clear(&out);
    return 0;
}
