/* The agent's streaming endpoint, shared by its files: http.c (the HTTPS server, client
 * authentication, routing), ws.c (WebSocket framing), exec.c (exec and attach over
 * v5.channel.k8s.io), logs.c (containerLogs), spdy.c + portforward.c (port-forward over SPDY/3.1,
 * raw or tunnelled in WebSocket, and over WebSocket portforward.k8s.io), tlscert.c (the serving
 * certificate). */
#ifndef K8C_AGENT_STREAM_H
#define K8C_AGENT_STREAM_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/internal.h"
#include "base/buf.h"

/* One client connection: TLS over fd (tls NULL: plain, for in-process tests). */
struct sconn {
    struct agent *a;
    int fd;
    gnutls_session_t tls;
};

/* Reads up to n bytes: >0, 0 at EOF, -1 on error. */
ssize_t sconn_read(struct sconn *c, void *buf, size_t n);
/* Writes all of buf: 0 or -1. Not thread-safe against other writers of the same conn. */
int sconn_write(struct sconn *c, const void *buf, size_t n);
/* Whether TLS holds decrypted bytes that poll(2) on fd cannot see. */
bool sconn_pending(struct sconn *c);
/* A complete non-streaming answer with a text/plain body, Connection: close. */
void sconn_reply(struct sconn *c, int code, const char *reason, const char *body);

/* The request's decoded query. */
struct query {
    char *keys[64], *vals[64];
    size_t n;
};
const char *q_get(const struct query *q, const char *k);
bool q_true(const struct query *q, const char *k);

/* The value of header name in an HTTP head (thread-local copy), or NULL. */
const char *http_header(const char *head, const char *name);

/* What a streaming handler gets: the connection, the request head, the bytes read past it. */
struct sreq {
    struct sconn *c;
    const char *method, *head;
    const char *ns, *pod, *ctr; /* ctr NULL for portForward */
    const struct query *q;
    const char *extra;
    size_t extra_len;
};

/* ws.c: the 101 answer to a WebSocket upgrade, echoing protocol (NULL: none). 0 or -1. */
int ws_accept(struct sconn *c, const char *head, const char *protocol);
/* Whether the head offers WebSocket subprotocol p (Sec-WebSocket-Protocol, comma list). */
bool ws_offers(const char *head, const char *p);
/* Sends one unmasked frame (opcode 2 binary, 8 close, 10 pong). With channel >= 0 the payload
 * is prefixed by that byte (v4/v5.channel.k8s.io). */
int ws_send(struct sconn *c, uint8_t opcode, int channel, const void *data, size_t len);

/* The pod with ns/name on this node: its uid (caller frees), or NULL after a 404 answer. */
char *stream_pod_uid(struct sreq *r, json_t **pod_out);

/* exec.c */
void agent__serve_exec(struct sreq *r, bool attach);
/* logs.c */
void agent__serve_logs(struct sreq *r);
/* agent__cri_format with lines stamped before since (RFC3339Nano UTC; NULL: none) skipped. */
void agent__cri_format_opts(const char *text, size_t len, bool timestamps, const char *since,
                            struct buf *out);
/* portforward.c */
void agent__serve_portforward(struct sreq *r);

/* attach.c: a unix stream socket listening at, or connected to, path (paths too long for
 * sun_path are reached through /proc/self/fd). -1 with errno. */
int agent__unix_socket(const char *path, bool listening);
/* One frame [ch][u32 BE len][data] on fd: 0 or -1. */
int agent__frame_send(int fd, uint8_t ch, const void *data, size_t len);
/* Parses one frame from in[0..n): bytes used (payload at in + 5, *len bytes), 0 when
 * incomplete, (size_t)-1 for one over 1 MiB. */
size_t agent__frame_parse(const uint8_t *in, size_t n, uint8_t *ch, size_t *len);

/* The shim's side of the attach socket. stdin_fd: the container's stdin to write to (owned
 * from now on), or -1; master: the terminal of a tty container (resizes), or -1. NULL when the
 * socket cannot be made. */
struct pollfd;
struct shim_attach;
struct shim_attach *shim_attach_open(const char *path, int stdin_fd, bool stdin_once, int master);
/* Fills fds (room for 17) with what to poll; returns how many. */
size_t shim_attach_pollfds(struct shim_attach *s, struct pollfd *fds);
/* Accepts clients and acts on their frames after poll(fds, n). */
void shim_attach_handle(struct shim_attach *s, const struct pollfd *fds, size_t n);
/* Sends the container's output (ch 1 stdout, 2 stderr) to the clients that want it. */
void shim_attach_broadcast(struct shim_attach *s, int ch, const void *data, size_t len);
void shim_attach_close(struct shim_attach *s, const char *path);

/* tty.c: a raw pty (master close-on-exec): 0 or -1 with errno. */
int agent__pty_open(int *master, int *slave);
/* In a forked child: a new session with slave as controlling terminal and stdio. */
void agent__pty_child(int slave);
/* Writes all of data to fd (a pipe or terminal): 0, or -1 when the reader is gone. */
int agent__write_all(int fd, const void *data, size_t len);

/* tlscert.c: loads <data-dir>/tls/agent.{crt,key} or makes a self-signed ECDSA P-256 pair for
 * hosts (IP literals become IP SANs); *crt_pem, *key_pem: caller frees. *sha256_hex: the hex
 * SHA-256 of the certificate's DER (what the API server pins), caller frees. */
int agent__tls_cert_ensure(const char *data_dir, const char *const *hosts, char **crt_pem,
                           char **key_pem, char **sha256_hex, struct k8c_err **err);

#endif
