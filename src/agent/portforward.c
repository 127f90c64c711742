#include "agent/stream.h"
void agent__serve_portforward(struct sreq *r)
{
    sconn_reply(r->c, 501, "Not Implemented", "port-forward: not yet\n");
}
