/* Unit tests for the agent's streaming pieces: SPDY/3.1 frames and header blocks (one zlib
 * context per direction, as kubectl's spdystream keeps them), attach socket frames and the
 * sinceTime cut-off of container logs. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "agent/spdy.h"
#include "agent/stream.h"
#include "base/buf.h"

static int capture(void *ctx, const void *data, size_t len)
{
    buf_append(ctx, data, len);
    return 0;
}

Test(agent_stream, spdy_syn_reply_decodes_in_the_peer_context)
{
    struct buf wire = BUF_INIT;
    struct spdy *out = spdy_new(capture, &wire);
    struct spdy *in = spdy_new(capture, &wire);
    /* two replies: the second block only decodes with the context the first one left */
    cr_assert(eq(int, spdy_syn_reply(out, 1), 0));
    cr_assert(eq(int, spdy_syn_reply(out, 3), 0));
    cr_assert(eq(int, spdy_data(out, 3, "hi", 2, true), 0));
    size_t off = 0;
    uint32_t want[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        struct spdy_frame f;
        size_t used = agent__spdy_parse((uint8_t *)wire.data + off, wire.len - off, &f);
        cr_assert(used > 8);
        cr_assert(f.control && f.type == SPDY_SYN_REPLY && f.version == 3);
        cr_assert(eq(u32, f.stream, want[i]));
        json_t *h = spdy_headers(in, f.data + 4, f.len - 4);
        cr_assert(h != NULL && json_object_size(h) == 0);
        json_decref(h);
        off += used;
    }
    struct spdy_frame f;
    size_t used = agent__spdy_parse((uint8_t *)wire.data + off, wire.len - off, &f);
    cr_assert(eq(sz, used, 10));
    cr_assert(f.control == false && f.stream == 3 && (f.flags & SPDY_FLAG_FIN) && f.len == 2);
    cr_assert(memcmp(f.data, "hi", 2) == 0);
    /* incomplete input asks for more */
    cr_assert(eq(sz, agent__spdy_parse((uint8_t *)wire.data, 7, &f), 0));
    cr_assert(eq(sz, agent__spdy_parse((uint8_t *)wire.data + off, 9, &f), 0));
    spdy_free(out);
    spdy_free(in);
    buf_free(&wire);
}

Test(agent_stream, spdy_header_pairs)
{
    static const uint8_t ok[] = {0,   0,   0,   2,   0, 0, 0, 4,  'p', 'o', 'r', 't', 0,   0,
                                 0,   2,   '8', '0', 0, 0, 0, 10, 's', 't', 'r', 'e', 'a', 'm',
                                 't', 'y', 'p', 'e', 0, 0, 0, 4,  'd', 'a', 't', 'a'};
    json_t *h = agent__spdy_header_pairs(ok, sizeof(ok));
    cr_assert(h != NULL);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(h, "port")), "80"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(h, "streamtype")), "data"));
    json_decref(h);
    /* a length past the end, and a count larger than the pairs present */
    static const uint8_t bad[] = {0, 0, 0, 1, 0, 0, 0, 99, 'x'};
    cr_assert(agent__spdy_header_pairs(bad, sizeof(bad)) == NULL);
    static const uint8_t short_count[] = {0, 0, 0, 3, 0, 0, 0, 1, 'a', 0, 0, 0, 0};
    cr_assert(agent__spdy_header_pairs(short_count, sizeof(short_count)) == NULL);
}

Test(agent_stream, attach_frames)
{
    static const uint8_t two[] = {1, 0, 0, 0, 2, 'h', 'i', 255, 0, 0, 0, 0};
    uint8_t ch;
    size_t len;
    cr_assert(eq(sz, agent__frame_parse(two, sizeof(two), &ch, &len), 7));
    cr_assert(ch == 1 && len == 2);
    cr_assert(eq(sz, agent__frame_parse(two + 7, 5, &ch, &len), 5));
    cr_assert(ch == 255 && len == 0);
    cr_assert(eq(sz, agent__frame_parse(two, 6, &ch, &len), 0));
    static const uint8_t huge[] = {0, 0x10, 0, 0, 0};
    cr_assert(eq(sz, agent__frame_parse(huge, sizeof(huge), &ch, &len), (size_t)-1));
}

Test(agent_stream, logs_since_cut_off)
{
    const char *log = "2026-01-01T00:00:00.100000000Z stdout F old\n"
                      "2026-01-01T00:00:01.000000000Z stderr F new\n"
                      "2026-01-01T00:00:02.000000000Z stdout P par\n"
                      "2026-01-01T00:00:02.000000001Z stdout F tial\n";
    struct buf out = BUF_INIT;
    agent__cri_format_opts(log, strlen(log), false, "2026-01-01T00:00:01.000000000Z", &out);
    buf_append_char(&out, '\0');
    cr_assert(eq(str, out.data, "new\npartial\n"));
    buf_free(&out);
}
