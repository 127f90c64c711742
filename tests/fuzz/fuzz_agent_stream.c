/* Fuzz target for the agent's parsers of outside input: WebSocket frames from the API server
 * (exec stdin), attach socket frames, and CRI log text (the shim's files, read back for
 * `kubectl logs`, with and without a sinceTime cut-off). */
#include <stddef.h>
#include <stdint.h>

#include "agent/internal.h"
#include "agent/stream.h"
#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT, payload = BUF_INIT;
    agent__cri_format((const char *)data, size, size % 2 == 0, &out);
    agent__cri_format_opts((const char *)data, size, false, "2026-01-01T00:00:00.000000000Z", &out);
    for (size_t off = 0, used, len; off < size; off += used) {
        uint8_t ch;
        used = agent__frame_parse(data + off, size - off, &ch, &len);
        if (used == 0 || used == (size_t)-1)
            break;
    }
    size_t off = 0;
    while (off < size) {
        uint8_t op;
        size_t used = agent__ws_parse(data + off, size - off, &op, &payload);
        if (used == 0 || used == (size_t)-1)
            break;
        off += used;
    }
    buf_free(&out);
    buf_free(&payload);
    return 0;
}
