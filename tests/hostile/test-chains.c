/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split-ring chains and avail indexes a malicious guest controls: a
 * descriptor loop, a self-loop (a chain longer than the ring), a next index
 * or head index outside the table, avail->idx running more than a ring
 * ahead of what was consumed. Each must be refused with the device marked
 * broken (the ring can no longer be trusted) and panic() naming the problem;
 * vu_queue_get_avail_bytes reports 0/0 on such a ring instead of spinning.
 * A full ring (idx exactly num ahead) is legal and pops num chains.
 */
#include <string.h>

#include "hostile.h"

typedef void (*Layout)(Hostile *h);

static void run(const char *what, Layout layout, const char *n1, const char *n2) {
        Hostile h;

        hostile_step("chain: %s", what);
        hostile_setup_default(&h);
        layout(&h);
        hostile_expect_pop_refused(&h, 0, n1, n2);
        hostile_free(&h);
}

static void two_loop(Hostile *h) {
        hostile_desc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
        hostile_desc(h, HOSTILE_DESC_GPA, 1, HOSTILE_BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
        hostile_avail(h, 0, 0);
}

static void self_loop(Hostile *h) {
        hostile_desc(h, HOSTILE_DESC_GPA, 5, HOSTILE_BUF_GPA, 8, VRING_DESC_F_NEXT, 5);
        hostile_avail(h, 0, 5);
}

static void next_out_of_range(Hostile *h) {
        hostile_desc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 8, VRING_DESC_F_NEXT, 16);
        hostile_avail(h, 0, 0);
}

static void next_way_out_of_range(Hostile *h) {
        hostile_desc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 8, VRING_DESC_F_NEXT, 0xffff);
        hostile_avail(h, 0, 0);
}

static void head_out_of_range(Hostile *h) {
        hostile_avail(h, 0, 16);
}

static void head_way_out_of_range(Hostile *h) {
        hostile_avail(h, 0, 0xffff);
}

static void idx_jumps(Hostile *h) {
        for (unsigned int i = 0; i < 16; i++)
                hostile_desc(h, HOSTILE_DESC_GPA, i, HOSTILE_BUF_GPA, 8, 0, 0);
        hostile_avail_set_idx(h, 0, 17);
}

static void idx_backwards(Hostile *h) {
        hostile_avail_set_idx(h, 0, 0xffff);
}

static void test_avail_bytes_on_loop(void) {
        unsigned int in = 123, out = 456;
        Hostile h;

        hostile_step("vu_queue_get_avail_bytes on a looping chain");
        hostile_setup_default(&h);
        two_loop(&h);
        vu_queue_get_avail_bytes(&h.dev, vu_get_queue(&h.dev, 0), &in, &out, UINT32_MAX, UINT32_MAX);
        check_msg(in == 0 && out == 0, "got in %u out %u on a malformed ring, want 0/0", in, out);
        check_msg(h.dev.broken, "a looping ring did not mark the device broken");
        hostile_free(&h);
}

static void test_full_ring(void) {
        unsigned int n = 0;
        Hostile h;

        hostile_step("a full ring (avail->idx exactly 16 ahead) pops 16 chains");
        hostile_setup_default(&h);
        for (unsigned int i = 0; i < 16; i++) {
                hostile_desc(&h, HOSTILE_DESC_GPA, i, HOSTILE_BUF_GPA + 64 * i, 64, 0, 0);
                hostile_avail(&h, 0, (uint16_t) i);
        }
        for (VuVirtqElement *e; (e = hostile_pop(&h, 0)); n++) {
                check(e->index == n);
                free(e);
        }
        check_msg(n == 16 && !h.dev.broken, "popped %u of 16: %s", n, vu_last_error(&h.dev));
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();

        run("0 -> 1 -> 0 loop", two_loop, "loop", "chain");
        run("descriptor 5 -> 5 (longer than the ring)", self_loop, "loop", "chain");
        run("next index 16 in a 16-entry table", next_out_of_range, "16", "next");
        run("next index 65535", next_way_out_of_range, "65535", "ffff");
        run("head index 16", head_out_of_range, "16", "head");
        run("head index 65535", head_way_out_of_range, "65535", "ffff");
        run("avail->idx 17 ahead of a 16-entry ring", idx_jumps, "17", "idx");
        run("avail->idx 65535 ahead", idx_backwards, "65535", "ffff");
        test_avail_bytes_on_loop();
        test_full_ring();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
