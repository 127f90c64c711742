/* SPDY/3.1 framing for the agent's port-forward (spdy.c). */
#ifndef K8C_AGENT_SPDY_H
#define K8C_AGENT_SPDY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPDY_SYN_STREAM 1
#define SPDY_SYN_REPLY 2
#define SPDY_RST_STREAM 3
#define SPDY_SETTINGS 4
#define SPDY_PING 6
#define SPDY_GOAWAY 7
#define SPDY_HEADERS 8
#define SPDY_WINDOW_UPDATE 9
#define SPDY_FLAG_FIN 0x01
#define SPDY_FRAME_MAX (1u << 24) /* the 24-bit length field's whole range */

struct spdy_frame {
    bool control;
    uint16_t version, type; /* control frames */
    uint8_t flags;
    uint32_t stream;     /* data frames; control frames that name a stream */
    const uint8_t *data; /* the payload after the 8-byte header */
    size_t len;
};

/* Parses one frame from in[0..n): bytes used, 0 when incomplete. */
size_t agent__spdy_parse(const uint8_t *in, size_t n, struct spdy_frame *f);
/* The name/value pairs of a decompressed header block as a JSON object of strings (new
 * reference), or NULL when malformed. */
json_t *agent__spdy_header_pairs(const uint8_t *raw, size_t n);

/* Writes bytes to the peer (raw socket or one WebSocket message). 0 or -1. */
typedef int (*spdy_send_fn)(void *ctx, const void *data, size_t len);

struct spdy;
struct spdy *spdy_new(spdy_send_fn send, void *ctx);
void spdy_free(struct spdy *s);
/* A SYN_STREAM's header block (f->data + 10) decompressed in the session's inbound context:
 * a JSON object (new reference), or NULL when malformed. */
json_t *spdy_headers(struct spdy *s, const uint8_t *block, size_t len);
int spdy_syn_reply(struct spdy *s, uint32_t stream);
int spdy_data(struct spdy *s, uint32_t stream, const void *data, size_t len, bool fin);
int spdy_ping(struct spdy *s, const uint8_t *payload, size_t len);

#endif
