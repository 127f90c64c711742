/* Fuzz target for the agent's SPDY/3.1 reader (kubectl port-forward's frames, from the API
 * server): frames parsed from the input as one byte stream, each SYN_STREAM's header block
 * inflated in one session context (zlib with the SPDY dictionary) and split into pairs, and
 * the raw pair decoder on the whole input. */
#include <stddef.h>
#include <stdint.h>

#include "agent/spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int discard(void *ctx, const void *data, size_t len)
{
    (void)ctx, (void)data, (void)len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_decref(agent__spdy_header_pairs(data, size));
    struct spdy *s = spdy_new(discard, NULL);
    size_t off = 0;
    struct spdy_frame f;
    while (off < size) {
        size_t used = agent__spdy_parse(data + off, size - off, &f);
        if (used == 0 || used == (size_t)-1)
            break;
        if (f.control && f.type == SPDY_SYN_STREAM && f.len >= 10)
            json_decref(spdy_headers(s, f.data + 10, f.len - 10));
        if (f.control && f.type == SPDY_PING)
            spdy_ping(s, f.data, f.len);
        off += used;
    }
    spdy_free(s);
    return 0;
}
