/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Vring indexes and sizes a frontend controls (libvhost-user used the index
 * of SET_VRING_NUM/ADDR/BASE unchecked, and trusted the ring size). Here:
 * every per-queue request with index max_queues, 255, 256 and 0xffffffff is
 * refused by name (the fd ones with their fd closed), as are ring sizes 0,
 * 3 (not a power of two), 1025 and 0xffffffff; 1024 is accepted; the queue
 * that does exist keeps working through it all.
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hostile.h"

static void test_state_requests(Hostile *h) {
        static const uint32_t idx[] = { 2, 255, 256, 0xffffffff };
        static const uint32_t reqs[] = { VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_BASE,
                                         VHOST_USER_GET_VRING_BASE, VHOST_USER_SET_VRING_ENABLE };

        for (size_t r = 0; r < ELEMENTSOF(reqs); r++)
                for (size_t i = 0; i < ELEMENTSOF(idx); i++) {
                        struct vhost_vring_state st = { .index = idx[i], .num = 16 };
                        char dec[16], hex[16];

                        hostile_step("%s index %u", vu_request_to_string(reqs[r]), idx[i]);
                        snprintf(dec, sizeof(dec), "%u", idx[i]);
                        snprintf(hex, sizeof(hex), "%x", idx[i]);
                        hostile_expect_refused(h, reqs[r], &st, sizeof(st), NULL, 0, dec, hex);
                }
}

static void test_addr_request(Hostile *h) {
        static const uint32_t idx[] = { 2, 255, 256, 0xffffffff };

        for (size_t i = 0; i < ELEMENTSOF(idx); i++) {
                struct vhost_vring_addr a = {
                        .index = idx[i],
                        .desc_user_addr = HOSTILE_QVA_BASE + 0x1000,
                        .avail_user_addr = HOSTILE_QVA_BASE + 0x1100,
                        .used_user_addr = HOSTILE_QVA_BASE + 0x2000,
                };
                char dec[16], hex[16];

                hostile_step("SET_VRING_ADDR index %u", idx[i]);
                snprintf(dec, sizeof(dec), "%u", idx[i]);
                snprintf(hex, sizeof(hex), "%x", idx[i]);
                hostile_expect_refused(h, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, dec, hex);
        }
}

static void test_fd_requests(Hostile *h) {
        static const uint64_t idx[] = { 2, 255 };
        static const uint32_t reqs[] = { VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
                                         VHOST_USER_SET_VRING_ERR };
        int before = hostile_count_fds();

        for (size_t r = 0; r < ELEMENTSOF(reqs); r++)
                for (size_t i = 0; i < ELEMENTSOF(idx); i++) {
                        int fd = eventfd(0, EFD_CLOEXEC);
                        char dec[16], hex[16];

                        check(fd >= 0);
                        hostile_step("%s index %llu", vu_request_to_string(reqs[r]), (unsigned long long) idx[i]);
                        snprintf(dec, sizeof(dec), "%llu", (unsigned long long) idx[i]);
                        snprintf(hex, sizeof(hex), "%llx", (unsigned long long) idx[i]);
                        hostile_expect_refused(h, reqs[r], &idx[i], 8, &fd, 1, dec, hex);
                        close(fd);
                }
        check_msg(hostile_count_fds() == before, "refused vring fds leaked: %d before, %d after", before,
                  hostile_count_fds());
}

static void test_ring_sizes(Hostile *h) {
        static const uint32_t bad[] = { 0, 3, 1025, 0xffffffff };
        struct vhost_vring_state st = { .index = 1, .num = 1024 };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct vhost_vring_state b = { .index = 1, .num = bad[i] };
                char dec[16], hex[16];

                hostile_step("SET_VRING_NUM size %u", bad[i]);
                snprintf(dec, sizeof(dec), "%u", bad[i]);
                snprintf(hex, sizeof(hex), "%x", bad[i]);
                hostile_expect_refused(h, VHOST_USER_SET_VRING_NUM, &b, sizeof(b), NULL, 0, dec, hex);
        }
        hostile_step("SET_VRING_NUM size 1024 on queue 1");
        hostile_expect_ok(h, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0, NULL);
}

int main(void) {
        int fds = hostile_count_fds();
        VuVirtqElement *e;
        Hostile h;

        hostile_setup_default(&h);
        test_state_requests(&h);
        test_addr_request(&h);
        test_fd_requests(&h);
        test_ring_sizes(&h);

        hostile_step("queue 0 still works");
        hostile_desc(&h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 64, 0, 0);
        hostile_avail(&h, 0, 0);
        e = hostile_pop(&h, 0);
        check_msg(e, "queue 0 no longer works: %s", vu_last_error(&h.dev));
        free(e);
        hostile_free(&h);

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
