/* The probe actions that need more than plain HTTP/1.1: httpGet with scheme HTTPS (TLS without
 * certificate verification, as kubelet) and grpc (grpc.health.v1.Health/Check over HTTP/2
 * without TLS, "h2c" with prior knowledge, as kubelet's insecure gRPC dial). Both go through
 * libcurl, whose socket is created in the pod's network namespace (CURLOPT_OPENSOCKETFUNCTION
 * with probe_action.c's agent__socket_in_netns), so 127.0.0.1 is the pod's loopback. Messages
 * are kubelet's (Go's net/http and grpc wording). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/probe.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/curlinit.h"
#include "base/json.h"
#include "base/mem.h"

#define BODY_MAX 65536 /* what is kept of a response body (grpc: the one message) */

struct xfer {
    const char *netns;
    struct buf body;
    bool over; /* the body grew past BODY_MAX */
    int grpc_status;
    char *grpc_message;
};

static curl_socket_t open_socket(void *opaque, curlsocktype purpose, struct curl_sockaddr *addr)
{
    const struct xfer *x = opaque;
    if (purpose != CURLSOCKTYPE_IPCXN || addr->family != AF_INET)
        return CURL_SOCKET_BAD;
    int fd = agent__socket_in_netns(x->netns);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    struct xfer *x = opaque;
    size_t len = size * n;
    if (x->body.len + len > BODY_MAX)
        x->over = true;
    else
        buf_append(&x->body, data, len);
    return len;
}

/* Headers and (HTTP/2) trailers: grpc-status and grpc-message may come in either. */
static size_t on_header(char *data, size_t size, size_t n, void *opaque)
{
    struct xfer *x = opaque;
    size_t len = size * n;
    static const char st[] = "grpc-status:", gm[] = "grpc-message:";
    if (len > sizeof(st) - 1 && strncasecmp(data, st, sizeof(st) - 1) == 0) {
        x->grpc_status = atoi(data + sizeof(st) - 1);
    } else if (len > sizeof(gm) - 1 && strncasecmp(data, gm, sizeof(gm) - 1) == 0) {
        const char *v = data + sizeof(gm) - 1;
        size_t vl = len - (sizeof(gm) - 1);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        free(x->grpc_message);
        x->grpc_message = xstrndup(v, vl);
    }
    return len;
}

static CURL *easy(struct xfer *x, const char *url, uint64_t deadline, char *errbuf)
{
    curl_init_process();
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    uint64_t now = clock_mono_ns();
    long ms = deadline > now ? (long)((deadline - now) / 1000000 + 1) : 1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https"); /* as every k8c handle: curlinit.h */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    return c;
}

/* Go's words for what curl reports about reaching addr (host:port). */
static char *dial_error(CURLcode rc, const char *errbuf, const char *addr)
{
    if (rc == CURLE_COULDNT_CONNECT)
        return xasprintf("dial tcp %s: connect: connection refused", addr);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return xstrdup("context deadline exceeded (Client.Timeout exceeded while awaiting "
                       "headers)");
    return xstrdup(*errbuf ? errbuf : curl_easy_strerror(rc));
}

enum agent_action_result agent__probe_https(const struct agent_target *t, const char *host,
                                            int port, const char *path, struct curl_slist *hdrs,
                                            uint64_t deadline, char **msg)
{
    _cleanup_free_ char *url = xasprintf("https://%s:%d%s", host, port, path);
    _cleanup_free_ char *addr = xasprintf("%s:%d", host, port);
    struct xfer x = {.netns = t->netns};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = easy(&x, url, deadline, errbuf);
    if (!c) {
        *msg = xstrdup("cannot make an HTTP client");
        return AGENT_ACTION_ERROR;
    }
    /* kubelet: InsecureSkipVerify, the probe checks the service, not its certificate */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    buf_free(&x.body);
    free(x.grpc_message);
    /* A server that closes its TLS connection without close_notify after a close-delimited
     * answer (Python's http.server does) ended the answer all the same: GnuTLS reports the
     * missing close_notify as a receive error, Go's TLS (kubelet's prober) does not. */
    if (rc == CURLE_RECV_ERROR && code > 0 && strstr(errbuf, "non-properly terminated"))
        rc = CURLE_OK;
    if (rc == CURLE_OK && code >= 200 && code < 400) {
        *msg = xstrdup("");
        return AGENT_ACTION_OK;
    }
    if (rc == CURLE_OK || code > 0) {
        *msg = xasprintf("HTTP probe failed with statuscode: %ld", code);
        return AGENT_ACTION_FAIL;
    }
    _cleanup_free_ char *why = dial_error(rc, errbuf, addr);
    *msg = xasprintf("Get \"%s\": %s", url, why);
    return AGENT_ACTION_FAIL;
}

/* ---- grpc ---- */

static const char *const grpc_codes[] = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

static const char *const health_names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};

/* A protobuf varint at *p (before end) into *out; false when it runs past end or 64 bits. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

int agent__grpc_health_status(const uint8_t *data, size_t len)
{
    /* one gRPC message: [compressed u8][length u32 BE][protobuf HealthCheckResponse] */
    if (len < 5 || data[0] != 0)
        return -1;
    uint32_t mlen =
        (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
    if (mlen > len - 5)
        return -1;
    const uint8_t *p = data + 5, *end = p + mlen;
    int status = 0; /* proto3: an absent field is its zero value, UNKNOWN */
    while (p < end) {
        uint64_t key, v;
        if (!varint(&p, end, &key))
            return -1;
        switch (key & 7) {
        case 0: /* varint: field 1 is the status */
            if (!varint(&p, end, &v))
                return -1;
            if (key >> 3 == 1)
                status = v > 1000 ? 1000 : (int)v;
            break;
        case 2: /* length-delimited: skipped */
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            p += v;
            break;
        case 1: /* fixed64, fixed32: skipped */
        case 5:
            if ((size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u))
                return -1;
            p += (key & 7) == 1 ? 8 : 4;
            break;
        default: return -1;
        }
    }
    return status;
}

enum agent_action_result agent__probe_grpc(const struct agent_target *t, const char *host, int port,
                                           const char *service, double timeout_s, uint64_t deadline,
                                           char **msg)
{
    _cleanup_free_ char *url = xasprintf("http://%s:%d/grpc.health.v1.Health/Check", host, port);
    _cleanup_free_ char *addr = xasprintf("%s:%d", host, port);
    /* HealthCheckRequest{service = 1}, framed */
    size_t sl = service ? strlen(service) : 0;
    if (sl > 1000) {
        *msg = xstrdup("grpc.service: longer than 1000 bytes");
        return AGENT_ACTION_ERROR;
    }
    uint8_t req[5 + 3 + 1000];
    size_t pl = sl ? 2 + sl + (sl >= 128) : 0;
    req[0] = 0;
    req[1] = 0, req[2] = 0, req[3] = (uint8_t)(pl >> 8), req[4] = (uint8_t)pl;
    size_t n = 5;
    if (sl) {
        req[n++] = 0x0a;
        if (sl >= 128) {
            req[n++] = (uint8_t)(0x80 | (sl & 0x7f));
            req[n++] = (uint8_t)(sl >> 7);
        } else {
            req[n++] = (uint8_t)sl;
        }
        memcpy(req + n, service, sl);
        n += sl;
    }
    struct xfer x = {.netns = t->netns, .grpc_status = -1};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = easy(&x, url, deadline, errbuf);
    if (!c) {
        *msg = xstrdup("cannot make an HTTP client");
        return AGENT_ACTION_ERROR;
    }
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/grpc");
    hdrs = curl_slist_append(hdrs, "TE: trailers");
    hdrs = curl_slist_append(hdrs, "User-Agent: kube-probe/1.32");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    enum agent_action_result res = AGENT_ACTION_FAIL;
    char tbuf[32];
    snprintf(tbuf, sizeof(tbuf), "%gs", timeout_s);
    if (rc != CURLE_OK && code == 0) {
        /* kubelet dials with WithBlock: a refused or silent port runs into its deadline */
        *msg = xasprintf("timeout: failed to connect service \"%s\" within %s: context "
                         "deadline exceeded",
                         addr, tbuf);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        *msg = xasprintf("timeout: health rpc did not complete within %s", tbuf);
    } else if (x.grpc_status > 0) {
        const char *name =
            (size_t)x.grpc_status < ARRAY_SIZE(grpc_codes) ? grpc_codes[x.grpc_status] : NULL;
        const char *desc = x.grpc_message ? x.grpc_message : "";
        if (x.grpc_status == 12)
            *msg = xasprintf("error: this server does not implement the grpc health protocol "
                             "(grpc.health.v1.Health): %s",
                             desc);
        else if (name)
            *msg = xasprintf("error: health rpc probe failed: rpc error: code = %s desc = %s", name,
                             desc);
        else
            *msg = xasprintf("error: health rpc probe failed: rpc error: code = Code(%d) desc = %s",
                             x.grpc_status, desc);
    } else if (rc != CURLE_OK || code != 200 || x.grpc_status < 0) {
        *msg = xasprintf("error: health rpc probe failed: rpc error: code = Unavailable desc = "
                         "%s",
                         rc != CURLE_OK ? (*errbuf ? errbuf : curl_easy_strerror(rc))
                         : code != 200  ? "unexpected HTTP status code received "
                                          "from server"
                                        : "server closed the stream without "
                                          "sending trailers");
    } else {
        int st = x.over ? -1 : agent__grpc_health_status((const uint8_t *)x.body.data, x.body.len);
        if (st < 0) {
            *msg = xstrdup("error: health rpc probe failed: rpc error: code = Internal desc = "
                           "grpc: failed to unmarshal the received message");
        } else if (st == 1) {
            *msg = xstrdup("service healthy");
            res = AGENT_ACTION_OK;
        } else {
            _cleanup_free_ char *num = xasprintf("%d", st);
            *msg = xasprintf("service unhealthy (responded with \"%s\")",
                             (size_t)st < ARRAY_SIZE(health_names) ? health_names[st] : num);
        }
    }
    buf_free(&x.body);
    free(x.grpc_message);
    return res;
}
