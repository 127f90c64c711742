/* Fuzz target for the agent's parsers of outside input: WebSocket frames from the API server
 * (exec stdin) and CRI log text (the shim's files, read back for `kubectl logs`). */
#include <stddef.h>
#include <stdint.h>

#include "agent/internal.h"
#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT, payload = BUF_INIT;
    agent__cri_format((const char *)data, size, size % 2 == 0, &out);
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
