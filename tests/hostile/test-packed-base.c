/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A packed ring's SET_VRING_BASE as real frontends send it. QEMU gives both
 * positions (avail in bits 0-15, used in bits 16-31); DPDK's virtio_user
 * gives only the avail half (0x8000 for a fresh ring: slot 0, lap 1) and
 * leaves used at slot 0 of lap 0, a position no ring can hold, so a backend
 * that believed it would write used descriptors the driver never sees. The
 * used position must then follow avail's, while a used position a whole ring
 * behind that the ring itself bears out (every slot still waiting for us)
 * is kept.
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hostile.h"

#define QSIZE 4
#define RING_PACKED_BIT 34
#define F_AVAIL (1u << 7)
#define F_USED (1u << 15)
#define DPDK_FRESH_BASE UINT32_C(0x8000) /* avail slot 0 lap 1; used half left 0 */

static void pdesc(Hostile *h, unsigned int i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags) {
        struct vring_packed_desc d = {.addr = addr, .len = len, .id = id, .flags = flags};

        memcpy(hostile_gpa(h, HOSTILE_DESC_GPA + 16 * (uint64_t) i, 16), &d, 16);
}

static void setup_packed(Hostile *h) {
        hostile_new(h, 2);
        hostile_negotiate(h, UINT64_C(1) << RING_PACKED_BIT);
        check_msg(h->dev.features & (UINT64_C(1) << RING_PACKED_BIT), "RING_PACKED not negotiated");
        hostile_mem_add(h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_table_send(h);
}

static void expect_positions(Hostile *h, unsigned int avail, bool avail_wrap, unsigned int used,
                             bool used_wrap) {
        VuQueueInfo qi;

        check(vu_queue_get_info(&h->dev, 0, &qi) == 0);
        check_msg(qi.last_avail_idx == avail && qi.avail_wrap_counter == avail_wrap && qi.used_idx == used &&
                          qi.used_wrap_counter == used_wrap,
                  "positions avail %u/%d used %u/%d, want %u/%d and %u/%d", qi.last_avail_idx,
                  qi.avail_wrap_counter, qi.used_idx, qi.used_wrap_counter, avail, avail_wrap, used,
                  used_wrap);
}

static void test_dpdk_fresh_base(void) {
        struct vring_packed_desc used;
        VuVirtqElement *e;
        Hostile h;

        hostile_step("packed: DPDK's fresh base 0x8000 (no used half): the buffer comes back in lap 1");
        setup_packed(&h);
        hostile_queue_setup_base(&h, 0, QSIZE, HOSTILE_DESC_GPA, DPDK_FRESH_BASE);
        expect_positions(&h, 0, true, 0, true);
        pdesc(&h, 0, HOSTILE_BUF_GPA, 64, 2, F_AVAIL | VRING_DESC_F_WRITE);
        e = hostile_pop(&h, 0);
        check_msg(e && e->index == 2, "the lap-1 buffer did not pop: %s", vu_last_error(&h.dev));
        vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 64);
        free(e);
        memcpy(&used, hostile_gpa(&h, HOSTILE_DESC_GPA, 16), 16);
        check_msg(used.id == 2 && (used.flags & (F_AVAIL | F_USED)) == (F_AVAIL | F_USED),
                  "used descriptor id %u flags 0x%x: want id 2 with AVAIL|USED (lap 1), which the driver "
                  "reads",
                  used.id, used.flags);
        expect_positions(&h, 1, true, 1, true);
        hostile_free(&h);
}

static void test_dpdk_resumed_base(void) {
        Hostile h;

        hostile_step("packed: avail slot 3 of lap 1 with no used half: used follows avail");
        setup_packed(&h);
        hostile_queue_setup_base(&h, 0, QSIZE, HOSTILE_DESC_GPA, UINT32_C(3) | UINT32_C(1) << 15);
        expect_positions(&h, 3, true, 3, true);
        check(!h.dev.broken);
        hostile_free(&h);
}

static void test_whole_ring_in_flight(void) {
        struct vhost_vring_state st = {.index = 0, .num = QSIZE};
        struct vhost_vring_addr addr = {.index = 0};
        uint64_t u = 0;
        Hostile h;
        int fd;

        hostile_step("packed: used a whole ring behind avail, every slot still waiting: kept as given");
        setup_packed(&h);
        addr.desc_user_addr = HOSTILE_DESC_GPA + HOSTILE_QVA_BASE;
        addr.avail_user_addr = HOSTILE_DESC_GPA + 16 * QSIZE + HOSTILE_QVA_BASE;
        addr.used_user_addr = HOSTILE_DESC_GPA + 16 * QSIZE + 4 + HOSTILE_QVA_BASE;
        /* Lap 0 (AVAIL 0, USED 1): the previous backend took all four and returned none. */
        for (unsigned int i = 0; i < QSIZE; i++)
                pdesc(&h, i, HOSTILE_BUF_GPA + 8 * i, 8, (uint16_t) i, F_USED);
        hostile_expect_ok(&h, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0, NULL);
        hostile_expect_ok(&h, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL);
        st.num = UINT32_C(1) << 15; /* avail slot 0 lap 1, used slot 0 lap 0 */
        hostile_expect_ok(&h, VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0, NULL);
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        check(fd >= 0);
        hostile_expect_ok(&h, VHOST_USER_SET_VRING_KICK, &u, 8, &fd, 1, NULL);
        close(fd);
        check(vu_queue_started(&h.dev, vu_get_queue(&h.dev, 0)));
        expect_positions(&h, 0, true, 0, false);
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();

        test_dpdk_fresh_base();
        test_dpdk_resumed_base();
        test_whole_ring_in_flight();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
