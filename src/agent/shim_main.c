/* The stand-alone shim program: `k8c-shim shim LOG EXITFILE -- CMD…`, the same code as the
 * hidden `k8c shim`, linked statically with only what the shim uses (base's buffers, files,
 * errors) so that each container's shim costs a few hundred KiB and no dynamic loading of
 * k8c's libraries. The Makefile embeds it in k8c; the agent writes it to
 * <data-dir>/bin/k8c-shim (agent.c). Not part of libk8c. */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "shim") != 0) {
        fprintf(stderr, "k8c-shim: usage: k8c-shim shim LOG EXITFILE -- CMD...\n");
        return 2;
    }
    return agent_shim_main(argc - 1, argv + 1);
}
