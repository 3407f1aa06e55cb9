/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the message validator, vu_message_check(): the one
 * place a frontend's framing is judged before any handler acts on it.
 *
 * Input: [fd count byte][request u32][flags u32][size u32][payload …]. The
 * payload is copied into the message union (at most its size; the rest is
 * zero), fd_num is the first byte modulo 10 (so out-of-range counts are
 * tried too) with placeholder fd numbers that the validator must not touch.
 *
 * Checked beyond "no crash, no UB": the return value is 0 or one of the
 * documented errors, a refusal always comes with a non-empty, terminated
 * reason, and an accepted message never claims more payload than the union
 * holds or more fds than a message can carry.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VhostUserMsg msg;
        char err[256];
        uint32_t u;
        int r;

        if (size < 13)
                return 0;

        memset(&msg, 0, sizeof(msg));
        msg.fd_num = data[0] % (VHOST_MEMORY_BASELINE_NREGIONS + 2);
        for (int i = 0; i < VHOST_MEMORY_BASELINE_NREGIONS; i++)
                msg.fds[i] = i < msg.fd_num ? 1000 + i : -1;
        memcpy(&u, data + 1, 4);
        msg.request = (int) u;
        memcpy(&msg.flags, data + 5, 4);
        memcpy(&msg.size, data + 9, 4);
        memcpy(&msg.payload, data + 13, MIN(size - 13, sizeof(msg.payload)));

        memset(err, 'X', sizeof(err));
        r = vu_message_check(&msg, err, sizeof(err));
        if (r < 0) {
                if (r != -EBADMSG && r != -E2BIG && r != -EPROTO && r != -EINVAL) {
                        fprintf(stderr, "vu_message_check returned %d, not a documented error\n", r);
                        abort();
                }
                if (!memchr(err, 0, sizeof(err)) || err[0] == 0) {
                        fprintf(stderr, "refusal %d without a terminated reason\n", r);
                        abort();
                }
        } else if (r == 0) {
                if (msg.size > sizeof(msg.payload) || msg.fd_num > VHOST_MEMORY_BASELINE_NREGIONS) {
                        fprintf(stderr, "accepted request %d with size %u and %d fds\n", msg.request, msg.size,
                                msg.fd_num);
                        abort();
                }
        } else {
                fprintf(stderr, "vu_message_check returned %d (positive)\n", r);
                abort();
        }

        /* The table lookups the dispatcher makes with the same untrusted number. */
        (void) vu_request_has_reply((uint32_t) msg.request);
        if (!vu_request_to_string((uint32_t) msg.request))
                abort();
        /* And with no room for a reason at all. */
        (void) vu_message_check(&msg, NULL, 0);
        return 0;
}
