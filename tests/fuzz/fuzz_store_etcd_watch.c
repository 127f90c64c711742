/* Fuzz target: the etcd backend's watch stream parser (store__etcd_stream_feed in
 * src/store/etcd_watch.c), which reads etcd's Watch RPC answers (gRPC frames of WatchResponse
 * protobufs) and publishes events to the watch hub. Input: one byte choosing where to split
 * the rest into two reads (a partial frame must wait), then the stream's bytes. The hub's own
 * checks (consecutive revisions) must hold for any input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "store/etcd_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t split = size > 1 ? data[0] % size : 0;
    data++;
    size--;
    if (split > size)
        split = size;

    struct store s = {0};
    struct etcd_backend b = {0};
    b.s = &s;
    b.prefix = (char *)"/p";
    b.prefix_len = 2;
    b.max_gap = 5000; /* revisions far apart are plausible, but slow to fuzz */
    pthread_mutex_init(&b.rev_lock, NULL);
    pthread_cond_init(&b.rev_cond, NULL);
    s.backend = &b;
    s.hub = store__hub_new(0, 1000, 1 << 20, 100);
    struct store_watch *w = store__hub_watch_open(s.hub, "/", 0, NULL);

    struct buf in = BUF_INIT;
    bool canceled = false;
    buf_append(&in, data, split);
    int rc = store__etcd_stream_feed(&s, &in, &canceled);
    if (rc == 0 && !canceled) {
        buf_append(&in, data + split, size - split);
        store__etcd_stream_feed(&s, &in, &canceled);
    }
    /* Every event handed out is in revision order and carries a key under the prefix. */
    struct store_event *ev;
    int64_t last = 0;
    while (store__hub_watch_next(w, 0, &ev, NULL) == 1) {
        K8C_ASSERT(ev->revision > last);
        last = ev->revision;
        store_event_unref(ev);
    }
    buf_free(&in);
    store__hub_watch_close(w);
    store__hub_close(s.hub);
    pthread_cond_destroy(&b.rev_cond);
    pthread_mutex_destroy(&b.rev_lock);
    return 0;
}
