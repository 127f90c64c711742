/* Per-request deadlines, as kube-apiserver's timeout filter: a request that is not
 * long-running (watches and the streaming subresources are) gets --request-timeout (60 s),
 * or less when the client asks with `?timeout=` (client-go sends its own timeout there) or,
 * for a list, `timeoutSeconds`, and
 * the client gets 504 Timeout once it passes, while the work may still complete ("may still
 * be processing the request": a write that was queued still lands).
 *
 * The deadline is cooperative: the one place a request waits on something outside the
 * process is the store, so the store is told the thread's deadline and a write still queued
 * or in progress at the deadline returns at once, left to the writer. A handler that is
 * merely slow answers 504 when it finishes late. The first version ran every request on a
 * worker thread and abandoned it at the deadline; the two extra thread hand-offs per request
 * cost ~70 us of CPU and doubled p50 create latency on 2 busy cores (bench/api), for no
 * behaviour a client can tell apart. */
#include <stdlib.h>
#include <string.h>

#include "apiserver/internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

/* Go's time.ParseDuration for the forms clients send ("30s", "1m0s", "500ms", "1.5h"):
 * a sequence of decimal numbers with units ns, us, µs, ms, s, m, h. */
int apiserver_parse_duration(const char *s, uint64_t *ns)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
    const char *p = s;
    double total = 0;
    bool negative = *p == '-';
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '\0')
        return -1;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    while (*p) {
        /* Digits and one dot only: strtod alone would also take "1e3", "inf" or "0x1p3". */
        size_t n = strspn(p, "0123456789."), digits = strspn(p, "0123456789");
        char num[64];
        if (n == 0 || n >= sizeof(num) || (n == 1 && *p == '.') ||
            memchr(p + digits + 1, '.', n > digits + 1 ? n - digits - 1 : 0))
            return -1;
        memcpy(num, p, n);
        num[n] = '\0';
        double v = strtod(num, NULL);
        p += n;
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > best_len) {
                best = i;
                best_len = l;
            }
        }
        if (best_len == 0)
            return -1;
        total += v * units[best].ns;
        p += best_len;
    }
    if (total > 9.2e18)
        return -1;
    *ns = negative ? 0 : (uint64_t)total; /* a negative timeout means none */
    return 0;
}

bool apiserver__streaming(const char *subresource)
{
    static const char *const streaming[] = {"log", "exec", "attach", "portforward", "proxy"};
    for (size_t i = 0; subresource && i < ARRAY_SIZE(streaming); i++)
        if (strcmp(subresource, streaming[i]) == 0)
            return true;
    return false;
}

int apiserver__deadline(const struct apiserver_core *core, const struct apiserver_req *req,
                        uint64_t *deadline_ns, struct apiserver_resp *resp)
{
    uint64_t timeout_ns = core->request_timeout_ns;
    const char *t = apiserver__param(req, "timeout");
    if (t && *t) {
        uint64_t asked = 0;
        if (apiserver_parse_duration(t, &asked) < 0) {
            _cleanup_free_ char *m = xasprintf("invalid timeout specified in the request URL - "
                                               "time: invalid duration \"%s\"",
                                               t);
            apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
            return -1;
        }
        if (asked > 0 && asked < timeout_ns)
            timeout_ns = asked;
    }
    /* A list's own bound ("limits the duration of the call"); a watch reads it itself. */
    const char *ts = apiserver__param(req, "timeoutSeconds");
    if (ts && *ts) {
        int64_t secs = 0;
        if (apiserver__parse_rv(ts, &secs, NULL) < 0) {
            _cleanup_free_ char *m = xasprintf("timeoutSeconds must be a non-negative integer, "
                                               "got \"%s\"",
                                               ts);
            apiserver__resp_status(resp, 400, "BadRequest", m, NULL, NULL, NULL);
            return -1;
        }
        if (secs > 0 && (uint64_t)secs < timeout_ns / 1000000000ull)
            timeout_ns = (uint64_t)secs * 1000000000ull;
    }
    *deadline_ns = timeout_ns ? clock_mono_ns() + timeout_ns : 0;
    return 0;
}

void apiserver__resp_timeout(const struct apiserver_req *req, struct apiserver_resp *resp)
{
    LOG_INFO("request timed out: %s %s", req->method, req->path);
    apiserver_response_clear(&resp->out);
    memset(&resp->out, 0, sizeof(resp->out));
    resp->n_warnings = 0;
    apiserver__resp_status(resp, 504, "Timeout",
                           "Timeout: request did not complete within requested timeout - "
                           "context deadline exceeded",
                           NULL, NULL, NULL);
}
