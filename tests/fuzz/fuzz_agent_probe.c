/* Fuzz target for what the agent's probes and lifecycle code read from outside: HTTP status
 * lines sent back by a container, /dev/kmsg records (OOM kills), and CRI log text turned
 * into a termination message (FallbackToLogsOnError), gRPC health responses (grpc probes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    (void)agent__http_status_code(text, size);
    (void)agent__kmsg_is_oom(text, size, "/k8c/podU/main", size % 3 == 0 ? 0 : 1000);
    free(agent__log_tail_message(text, size));
    (void)agent__grpc_health_status(data, size);
    return 0;
}
