/* WebSocket (RFC 6455) for the agent's streams: the 101 handshake, unmasked server frames and
 * the parser of the client's masked frames. */
#include <gnutls/crypto.h>
#include <string.h>
#include <strings.h>

#include "agent/stream.h"
#include "base/codec.h"
#include "base/mem.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_FRAME_MAX (1u << 24)

bool ws_offers(const char *head, const char *p)
{
    const char *v = http_header(head, "Sec-WebSocket-Protocol");
    size_t n = strlen(p);
    for (const char *s = v; s && *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s + strcspn(s, ", ");
        if ((size_t)(e - s) == n && strncasecmp(s, p, n) == 0)
            return true;
        s = e;
    }
    return false;
}

int ws_accept(struct sconn *c, const char *head, const char *protocol)
{
    const char *key = http_header(head, "Sec-WebSocket-Key");
    if (!key)
        return -1;
    _cleanup_free_ char *cat = xasprintf("%s" WS_GUID, key);
    unsigned char sha[20];
    gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, strlen(cat), sha);
    _cleanup_free_ char *accept = codec_base64_encode(sha, 20);
    _cleanup_free_ char *resp =
        xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                  accept, protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
                  protocol ? "\r\n" : "");
    return sconn_write(c, resp, strlen(resp));
}

int ws_send(struct sconn *c, uint8_t opcode, int channel, const void *data, size_t len)
{
    uint8_t hdr[11];
    size_t h = 0, plen = len + (channel >= 0 ? 1 : 0);
    hdr[h++] = 0x80 | opcode;
    if (plen < 126) {
        hdr[h++] = (uint8_t)plen;
    } else if (plen < 65536) {
        hdr[h++] = 126;
        hdr[h++] = (uint8_t)(plen >> 8);
        hdr[h++] = (uint8_t)plen;
    } else {
        hdr[h++] = 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)plen >> (8 * i));
    }
    if (channel >= 0)
        hdr[h++] = (uint8_t)channel;
    /* one record per frame: header and payload together */
    struct buf b = BUF_INIT;
    buf_append(&b, hdr, h);
    if (len)
        buf_append(&b, data, len);
    int rc = sconn_write(c, b.data, b.len);
    buf_free(&b);
    return rc;
}

size_t agent__ws_parse(const uint8_t *in, size_t n, uint8_t *opcode, struct buf *payload)
{
    if (n < 2)
        return 0;
    size_t h = 2;
    uint64_t len = in[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)in[2] << 8 | in[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | in[2 + i];
        h = 10;
    }
    bool masked = in[1] & 0x80;
    const uint8_t *mask = in + h;
    if (masked)
        h += 4;
    if (len > WS_FRAME_MAX)
        return (size_t)-1;
    if (n < h + len)
        return 0;
    *opcode = in[0] & 0x0f;
    buf_reset(payload);
    buf_append(payload, in + h, (size_t)len);
    if (masked)
        for (uint64_t i = 0; i < len; i++)
            payload->data[i] ^= (char)mask[i % 4];
    return h + (size_t)len;
}
