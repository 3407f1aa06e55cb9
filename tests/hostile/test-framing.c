/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message framing from a hostile frontend: more fds than a request takes
 * (and more than any request takes), a size field larger than the payload
 * union, a size that does not match the request, unknown requests, a bad
 * version, nregions past 8, a truncated header or payload followed by EOF.
 * Where the stream stays in step the library refuses and keeps serving (the
 * next request gets a correct reply); where it cannot, vu_dispatch() returns
 * false with panic() called. Either way every received fd is closed.
 */
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile.h"

static int fresh_fds(int *fds, int n) {
        for (int i = 0; i < n; i++) {
                fds[i] = eventfd(0, EFD_CLOEXEC);
                check(fds[i] >= 0);
        }
        return n;
}

static void close_all(int *fds, int n) {
        for (int i = 0; i < n; i++)
                close(fds[i]);
}

/* After a refusal that kept the connection: the next request must get its proper reply. */
static void still_in_step(Hostile *h) {
        VhostUserMsg reply;

        hostile_expect_ok(h, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0, &reply);
        check_msg(reply.request == VHOST_USER_GET_FEATURES && reply.size == 8,
                  "out of step after a refusal: reply to request %d with %u bytes", reply.request, reply.size);
}

static void test_too_many_fds(void) {
        int fds[16], before;
        uint64_t u = 0;
        Hostile h;

        hostile_setup_default(&h);
        before = hostile_count_fds();

        hostile_step("SET_VRING_KICK with 8 fds");
        fresh_fds(fds, 8);
        hostile_expect_refused(&h, VHOST_USER_SET_VRING_KICK, &u, 8, fds, 8, "8", "fd");
        close_all(fds, 8);
        still_in_step(&h);

        hostile_step("GET_FEATURES with 2 fds");
        fresh_fds(fds, 2);
        {
                unsigned int observed = h.observed;

                hostile_request(&h, VHOST_USER_GET_FEATURES, NULL, 0, fds, 2, NULL);
                check_msg(h.observed > observed && h.last_result < 0, "GET_FEATURES with 2 fds was accepted");
        }
        close_all(fds, 2);
        still_in_step(&h);

        hostile_step("SET_VRING_CALL with 16 fds (more than any request takes)");
        fresh_fds(fds, 16);
        check(hostile_send_full(&h, VHOST_USER_SET_VRING_CALL, 1 | VHOST_USER_NEED_REPLY_MASK, 8, &u, 8, fds,
                                16) == 0);
        close_all(fds, 16);
        if (hostile_dispatch(&h)) {
                VhostUserMsg reply;

                check_msg(h.last_result < 0, "a message with 16 fds was accepted");
                if (hostile_recv(&h, &reply) > 0)
                        hostile_close_fds(&reply);
                still_in_step(&h);
        } else
                check(h.dev.broken && h.panics > 0);
        printf("   16 fds: %s\n", vu_last_error(&h.dev));

        hostile_free(&h);
        check_msg(hostile_count_fds() <= before, "fds leaked: %d before, %d after", before, hostile_count_fds());
}

static void test_bad_sizes(void) {
        static uint8_t big[4096];
        VhostUserMemory mem = { 0 };
        uint32_t four = 0;
        Hostile h;

        hostile_setup_default(&h);

        hostile_step("SET_FEATURES with 4 payload bytes (a u64 needs 8)");
        hostile_expect_refused(&h, VHOST_USER_SET_FEATURES, &four, 4, NULL, 0, "4", "size");
        still_in_step(&h);

        hostile_step("SET_VRING_NUM with 16 payload bytes (needs 8)");
        hostile_expect_refused(&h, VHOST_USER_SET_VRING_NUM, big, 16, NULL, 0, "16", "size");
        still_in_step(&h);

        hostile_step("unknown request 9999");
        hostile_expect_refused(&h, 9999, NULL, 0, NULL, 0, "9999", "270f");
        still_in_step(&h);

        hostile_step("request 0 (NONE)");
        hostile_expect_refused(&h, VHOST_USER_NONE, NULL, 0, NULL, 0, "0", "NONE");
        still_in_step(&h);

        hostile_step("SET_MEM_TABLE with nregions 2 and room for 1");
        mem.nregions = 2;
        hostile_expect_refused(&h, VHOST_USER_SET_MEM_TABLE, &mem, 8 + sizeof(VhostUserMemoryRegion), NULL, 0, "2",
                               "nregions");
        still_in_step(&h);

        hostile_step("SET_FEATURES with size 4096 (the payload union holds %zu)", sizeof(((VhostUserMsg *) 0)->payload));
        check(hostile_send_full(&h, VHOST_USER_SET_FEATURES, 1 | VHOST_USER_NEED_REPLY_MASK, sizeof(big), big,
                                sizeof(big), NULL, 0) == 0);
        if (hostile_dispatch(&h)) {
                VhostUserMsg reply;

                check_msg(h.last_result < 0, "a 4096-byte SET_FEATURES was accepted");
                if (hostile_recv(&h, &reply) > 0)
                        check_msg(reply.request == VHOST_USER_SET_FEATURES, "reply to %d", reply.request);
                still_in_step(&h);
        } else
                check(h.dev.broken && h.panics > 0);
        printf("   oversized: %s\n", vu_last_error(&h.dev));
        hostile_free(&h);

        hostile_setup_default(&h);
        hostile_step("SET_MEM_TABLE with nregions 9 and the size for 9");
        {
                uint8_t m9[8 + 9 * sizeof(VhostUserMemoryRegion)] = { 9 };

                check(hostile_send_full(&h, VHOST_USER_SET_MEM_TABLE, 1 | VHOST_USER_NEED_REPLY_MASK, sizeof(m9),
                                        m9, sizeof(m9), NULL, 0) == 0);
        }
        if (hostile_dispatch(&h)) {
                VhostUserMsg reply;

                check_msg(h.last_result < 0, "SET_MEM_TABLE claiming 9 regions was accepted");
                if (hostile_recv(&h, &reply) > 0)
                        hostile_close_fds(&reply);
                still_in_step(&h);
        } else
                check(h.dev.broken && h.panics > 0);
        printf("   9 regions: %s\n", vu_last_error(&h.dev));
        hostile_free(&h);

        hostile_setup_default(&h);
        hostile_step("bad version (flags 2)");
        check(hostile_send_full(&h, VHOST_USER_GET_FEATURES, 2, 0, NULL, 0, NULL, 0) == 0);
        if (hostile_dispatch(&h)) {
                VhostUserMsg reply;

                check_msg(h.last_result < 0, "a version-2 message was accepted");
                if (hostile_recv(&h, &reply) > 0)
                        hostile_close_fds(&reply);
                still_in_step(&h);
        } else
                check(h.dev.broken && h.panics > 0);
        printf("   version 2: %s\n", vu_last_error(&h.dev));
        hostile_free(&h);
}

static void expect_eof_breaks(Hostile *h, const char *what) {
        check(shutdown(h->fe, SHUT_WR) == 0);
        check_msg(!hostile_dispatch(h), "%s: vu_dispatch() kept going after EOF", what);
        check_msg(h->dev.broken, "%s: the device is not marked broken", what);
        check_msg(h->panics > 0, "%s: panic() was not called", what);
        printf("   %s: %s\n", what, h->panic_msg);
}

static void test_truncated(void) {
        uint8_t hdr[12] = { VHOST_USER_GET_FEATURES, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
        int fds[4], before = hostile_count_fds();
        Hostile h;

        hostile_step("EOF with nothing sent");
        hostile_setup_default(&h);
        expect_eof_breaks(&h, "EOF");
        hostile_free(&h);

        hostile_step("6 bytes of a header, then EOF");
        hostile_setup_default(&h);
        check(hostile_send_raw(&h, hdr, 6, NULL, 0) == 0);
        expect_eof_breaks(&h, "truncated header");
        hostile_free(&h);

        hostile_step("a header (with 4 fds) promising 8 bytes, 3 sent, then EOF");
        hostile_setup_default(&h);
        {
                uint8_t buf[15];
                uint32_t req = VHOST_USER_SET_VRING_CALL, flags = 1, size = 8;

                memcpy(buf, &req, 4);
                memcpy(buf + 4, &flags, 4);
                memcpy(buf + 8, &size, 4);
                memset(buf + 12, 0, 3);
                fresh_fds(fds, 4);
                check(hostile_send_raw(&h, buf, sizeof(buf), fds, 4) == 0);
                close_all(fds, 4);
        }
        expect_eof_breaks(&h, "truncated payload");
        hostile_free(&h);

        check_msg(hostile_count_fds() == before, "fds leaked: %d before, %d after", before, hostile_count_fds());
}

int main(void) {
        int fds = hostile_count_fds();

        test_too_many_fds();
        test_bad_sizes();
        test_truncated();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
