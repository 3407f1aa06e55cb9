/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SET_INFLIGHT_FD from a hostile frontend (libvhost-user trusted its
 * num_queues and sized everything from it). Here: more queues than the
 * device has, an mmap_size too small for the geometry, larger than the file,
 * an offset + size that wraps, no fd or too many — all refused by name with
 * every fd closed; the buffer GET_INFLIGHT_FD handed out is accepted back and
 * popping a chain marks it in flight in it.
 */
#include <string.h>
#include <unistd.h>

#include "hostile.h"

static VhostUserInflight get_buffer(Hostile *h, int *ret_fd) {
        VhostUserInflight inf = { .num_queues = 2, .queue_size = 16 };
        VhostUserMsg reply;

        hostile_expect_ok(h, VHOST_USER_GET_INFLIGHT_FD, &inf, sizeof(inf), NULL, 0, &reply);
        check_msg(reply.fd_num == 1, "GET_INFLIGHT_FD answered with %d fds", reply.fd_num);
        *ret_fd = reply.fds[0];
        return reply.payload.inflight;
}

int main(void) {
        int fds = hostile_count_fds(), before, fd, extra[3];
        VhostUserInflight good, bad;
        VuVirtqElement *e;
        VuQueueInfo info;
        Hostile h;

        hostile_new(&h, 2);
        hostile_negotiate(&h, 0);
        check_msg(hostile_has_protocol(&h, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
                  "the library does not offer INFLIGHT_SHMFD");
        hostile_mem_add(&h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_table_send(&h);
        good = get_buffer(&h, &fd);
        before = hostile_count_fds();
        for (int i = 0; i < 3; i++)
                extra[i] = hostile_memfd(good.mmap_size);

        hostile_step("SET_INFLIGHT_FD claiming 65535 queues");
        bad = good;
        bad.num_queues = 0xffff;
        hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &bad, sizeof(bad), &fd, 1, "65535", "ffff");
        hostile_step("SET_INFLIGHT_FD claiming 3 queues on a 2-queue device");
        bad = good;
        bad.num_queues = 3;
        hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &bad, sizeof(bad), &fd, 1, "3", "num_queues");
        hostile_step("SET_INFLIGHT_FD with queue_size 0xffff");
        bad = good;
        bad.queue_size = 0xffff;
        hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &bad, sizeof(bad), &fd, 1, "65535", "ffff");
        hostile_step("SET_INFLIGHT_FD with mmap_size too small for 2 x 16 descriptors");
        bad = good;
        bad.mmap_size = 64;
        hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &bad, sizeof(bad), &fd, 1, "64", "40");
        hostile_step("SET_INFLIGHT_FD with mmap_size beyond the file");
        bad = good;
        bad.mmap_size = good.mmap_size * 64;
        {
                char dec[32], hex[32];

                snprintf(dec, sizeof(dec), "%llu", (unsigned long long) bad.mmap_size);
                snprintf(hex, sizeof(hex), "%llx", (unsigned long long) bad.mmap_size);
                hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &bad, sizeof(bad), &fd, 1, dec, hex);
        }
        hostile_step("SET_INFLIGHT_FD with mmap_offset + mmap_size wrapping 2^64");
        bad = good;
        bad.mmap_offset = UINT64_MAX - 0xfff;
        hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &bad, sizeof(bad), &fd, 1, "fffffffffffff000",
                               "18446744073709547520");
        hostile_step("SET_INFLIGHT_FD without an fd");
        hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &good, sizeof(good), NULL, 0, "fd", "0");
        hostile_step("SET_INFLIGHT_FD with three fds");
        hostile_expect_refused(&h, VHOST_USER_SET_INFLIGHT_FD, &good, sizeof(good), extra, 3, "fd", "3");

        for (int i = 0; i < 3; i++)
                close(extra[i]);
        check_msg(hostile_count_fds() == before, "refusals leaked fds: %d before, %d after", before,
                  hostile_count_fds());

        hostile_step("the buffer GET_INFLIGHT_FD gave is accepted back and tracks a popped chain");
        hostile_expect_ok(&h, VHOST_USER_SET_INFLIGHT_FD, &good, sizeof(good), &fd, 1, NULL);
        close(fd);
        hostile_queue_setup(&h, 0, 16, HOSTILE_DESC_GPA);
        hostile_desc(&h, HOSTILE_DESC_GPA, 3, HOSTILE_BUF_GPA, 64, 0, 0);
        hostile_avail(&h, 0, 3);
        e = hostile_pop(&h, 0);
        check_msg(e, "pop with an inflight buffer failed: %s", vu_last_error(&h.dev));
        check(vu_queue_get_info(&h.dev, 0, &info) == 0);
        check_msg(info.inflight == 1, "inflight count is %u after one pop, want 1", info.inflight);
        vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 0);
        free(e);
        check(vu_queue_get_info(&h.dev, 0, &info) == 0);
        check_msg(info.inflight == 0, "inflight count is %u after the push, want 0", info.inflight);
        hostile_free(&h);

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
