/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Resets and reconnects driven by the frontend while the device still holds
 * popped elements: RESET_OWNER, RESET_DEVICE and a dropped connection must
 * leave no ring pointer a late vu_queue_push() could write through, and
 * vu_deinit() + vu_init() cycles (a frontend reconnecting again and again)
 * must leave fds and mappings as they were. Also: once the connection is
 * broken, further vu_dispatch() calls return false and vu_deinit() is safe
 * twice.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile.h"

static VuVirtqElement *pop_one(Hostile *h) {
        VuVirtqElement *e;

        hostile_desc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 64, VRING_DESC_F_WRITE, 0);
        hostile_avail(h, 0, 0);
        e = hostile_pop(h, 0);
        check_msg(e, "pop failed: %s", vu_last_error(&h->dev));
        return e;
}

static void test_reset_with_element_out(uint32_t request, const char *what) {
        VuVirtqElement *e;
        VuQueueInfo info;
        Hostile h;

        hostile_step("%s while an element is out, then the device completes it", what);
        hostile_setup_default(&h);
        e = pop_one(&h);
        hostile_expect_ok(&h, request, NULL, 0, NULL, 0, NULL);
        check(vu_queue_get_info(&h.dev, 0, &info) == 0);
        check_msg(!info.started, "queue 0 still started after %s", what);
        /* The device's I/O finishes late: this must not write into a ring the frontend took back. */
        memset(hostile_gpa(&h, h.q[0].used_gpa, 4 + 8 * 16), 0, 4 + 8 * 16);
        vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 64);
        vu_queue_notify(&h.dev, vu_get_queue(&h.dev, 0));
        free(e);
        check_msg(*(uint16_t *) hostile_gpa(&h, h.q[0].used_gpa + 2, 2) == 0,
                  "a push after %s advanced used->idx in a ring the frontend took back", what);
        check(!h.dev.broken);
        hostile_free(&h);
}

static void test_reconnect_cycles(void) {
        int fds = 0, maps = 0;

        hostile_step("200 connect / negotiate / map / pop / disconnect cycles");
        for (int i = 0; i < 200; i++) {
                VuVirtqElement *e;
                Hostile h;

                hostile_setup_default(&h);
                h.quiet = true;
                e = pop_one(&h);
                vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 8);
                free(e);
                hostile_free(&h);
                if (i == 0) {
                        fds = hostile_count_fds();
                        maps = hostile_count_maps();
                }
        }
        check_msg(hostile_count_fds() == fds, "fds grew from %d to %d", fds, hostile_count_fds());
        check_msg(hostile_count_maps() == maps, "mappings grew from %d to %d", maps, hostile_count_maps());
}

static void test_broken_stays_broken(void) {
        Hostile h;

        hostile_step("after the peer hung up: dispatch keeps returning false, deinit twice is safe");
        hostile_setup_default(&h);
        check(shutdown(h.fe, SHUT_WR) == 0);
        check(!hostile_dispatch(&h));
        check(h.dev.broken);
        check(!hostile_dispatch(&h));
        check_msg(!hostile_pop(&h, 0), "popped from a broken device");
        vu_deinit(&h.dev);
        vu_deinit(&h.dev);
        h.initialised = false;
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();

        test_reset_with_element_out(VHOST_USER_RESET_OWNER, "RESET_OWNER");
        test_reset_with_element_out(VHOST_USER_RESET_DEVICE, "RESET_DEVICE");
        test_reconnect_cycles();
        test_broken_stays_broken();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
