/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packed rings (VIRTIO_F_RING_PACKED) against a guest that lies with the
 * AVAIL/USED bits and wrap counters, the state a packed ring lives by: a
 * descriptor in the middle of a chain that is marked used, a chain that runs
 * past the ring's end without flipping its lap, a slot reused before we
 * returned it, a buffer id made available twice, INDIRECT combined with a
 * chain, tables too large, writable before readable, and a SET_VRING_BASE
 * beyond the ring. Each is refused by name (panic for ring contents, a
 * refused request for the base); the lawful versions of the same shapes
 * (a chain of exactly the ring's size, a chain across the end with the lap
 * flipped) still pop, and a head that only looks used is just "nothing".
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hostile.h"

#define QSIZE 16
#define RING_PACKED_BIT 34
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define F_AVAIL (1u << 7)
#define F_USED (1u << 15)
#define TABLE UINT64_C(0x8000)
#define FRESH_BASE UINT32_C(0x80008000) /* both positions 0, both wrap counters 1 */

static void setup_base(Hostile *h, uint16_t num, uint32_t base) {
        hostile_new(h, 2);
        hostile_negotiate(h, UINT64_C(1) << RING_PACKED_BIT);
        check_msg(h->dev.features & (UINT64_C(1) << RING_PACKED_BIT),
                  "RING_PACKED not negotiated (features 0x%llx)", (unsigned long long) h->dev.features);
        hostile_mem_add(h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_table_send(h);
        hostile_queue_setup_base(h, 0, num, HOSTILE_DESC_GPA, base);
}

/* Slot @i as a driver in lap @lap writes it (AVAIL = lap, USED = !lap), plus @flags. */
static void pdesc(Hostile *h, unsigned int i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags,
                  bool lap) {
        struct vring_packed_desc d = {
                .addr = addr,
                .len = len,
                .id = id,
                .flags = (uint16_t) (flags | (lap ? F_AVAIL : F_USED)),
        };

        memcpy(hostile_gpa(h, HOSTILE_DESC_GPA + 16 * (uint64_t) i, 16), &d, 16);
}

/* Slot @i with exactly @flags (no lap bits added). */
static void pdesc_raw(Hostile *h, unsigned int i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags) {
        struct vring_packed_desc d = {.addr = addr, .len = len, .id = id, .flags = flags};

        memcpy(hostile_gpa(h, HOSTILE_DESC_GPA + 16 * (uint64_t) i, 16), &d, 16);
}

static struct vring_packed_desc slot(Hostile *h, unsigned int i) {
        struct vring_packed_desc d;

        memcpy(&d, hostile_gpa(h, HOSTILE_DESC_GPA + 16 * (uint64_t) i, 16), 16);
        return d;
}

typedef void (*Layout)(Hostile *h);

static void run(const char *what, uint32_t base, Layout layout, const char *n1, const char *n2) {
        Hostile h;

        hostile_step("packed: %s", what);
        setup_base(&h, QSIZE, base);
        layout(&h);
        hostile_expect_pop_refused(&h, 0, n1, n2);
        hostile_free(&h);
}

static void middle_marked_used(Hostile *h) {
        pdesc(h, 0, HOSTILE_BUF_GPA, 8, 0, F_NEXT, true);
        pdesc_raw(h, 1, HOSTILE_BUF_GPA + 8, 8, 0, F_NEXT | F_AVAIL | F_USED);
        pdesc(h, 2, HOSTILE_BUF_GPA + 16, 8, 0, 0, true);
}

static void middle_of_older_lap(Hostile *h) {
        pdesc(h, 0, HOSTILE_BUF_GPA, 8, 0, F_NEXT, true);
        pdesc_raw(h, 1, HOSTILE_BUF_GPA + 8, 8, 0, 0); /* AVAIL 0, USED 0: a used slot of lap 0 */
}

/* Base: slot 14 of lap 1. */
#define BASE_14 (UINT32_C(14) | UINT32_C(1) << 15 | UINT32_C(14) << 16 | UINT32_C(1) << 31)

static void across_end_without_flip(Hostile *h) {
        pdesc(h, 14, HOSTILE_BUF_GPA, 8, 0, F_NEXT, true);
        pdesc(h, 15, HOSTILE_BUF_GPA + 8, 8, 0, F_NEXT, true);
        pdesc(h, 0, HOSTILE_BUF_GPA + 16, 8, 3, 0, true); /* should be lap 0 after the end */
}

static void indirect_with_next(Hostile *h) {
        pdesc(h, 0, TABLE, 32, 0, F_INDIRECT | F_NEXT, true);
        pdesc(h, 1, HOSTILE_BUF_GPA, 8, 0, 0, true);
}

static void indirect_mid_chain(Hostile *h) {
        pdesc(h, 0, HOSTILE_BUF_GPA, 8, 0, F_NEXT, true);
        pdesc(h, 1, TABLE, 32, 0, F_INDIRECT, true);
}

static void indirect_huge(Hostile *h) {
        pdesc(h, 0, TABLE, 2048 * 16, 0, F_INDIRECT, true);
}

static void writable_then_readable(Hostile *h) {
        pdesc(h, 0, HOSTILE_BUF_GPA, 8, 0, F_NEXT | F_WRITE, true);
        pdesc(h, 1, HOSTILE_BUF_GPA + 8, 8, 0, 0, true);
}

static void test_chain_of_ring_size(void) {
        VuVirtqElement *e;
        Hostile h;

        hostile_step("packed: a chain of exactly the ring's 16 descriptors pops");
        setup_base(&h, QSIZE, FRESH_BASE);
        for (unsigned int i = 0; i < QSIZE; i++)
                pdesc(&h, i, HOSTILE_BUF_GPA + 16 * i, 16, 9, i + 1 < QSIZE ? F_NEXT : 0, true);
        e = hostile_pop(&h, 0);
        check_msg(e, "a 16-descriptor chain in a 16-entry ring was refused: %s", vu_last_error(&h.dev));
        check(e->index == 9 && e->out_num == QSIZE && e->in_num == 0);
        /* The ring is all ours now: nothing more is available, and that is not an error. */
        check(!hostile_pop(&h, 0) && !h.dev.broken);
        free(e);
        hostile_free(&h);
}

static void test_across_end_with_flip(void) {
        struct vring_packed_desc used;
        VuVirtqElement *e;
        VuQueueInfo qi;
        Hostile h;

        hostile_step("packed: a chain across the ring's end with the lap flipped pops and completes");
        setup_base(&h, QSIZE, BASE_14);
        pdesc(&h, 14, HOSTILE_BUF_GPA, 8, 0, F_NEXT, true);
        pdesc(&h, 15, HOSTILE_BUF_GPA + 8, 8, 0, F_NEXT, true);
        pdesc(&h, 0, HOSTILE_BUF_GPA + 16, 64, 3, F_WRITE, false);
        e = hostile_pop(&h, 0);
        check_msg(e, "a chain across the end was refused: %s", vu_last_error(&h.dev));
        check(e->index == 3 && e->out_num == 2 && e->in_num == 1);
        vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 64);
        free(e);
        used = slot(&h, 14);
        check_msg(used.id == 3 && used.len == 64, "used descriptor id %u len %u, want 3 and 64", used.id,
                  used.len);
        check_msg((used.flags & (F_AVAIL | F_USED)) == (F_AVAIL | F_USED),
                  "used flags 0x%x: want AVAIL|USED of lap 1", used.flags);
        check(vu_queue_get_info(&h.dev, 0, &qi) == 0);
        check_msg(qi.last_avail_idx == 1 && !qi.avail_wrap_counter && qi.used_idx == 1 &&
                          !qi.used_wrap_counter,
                  "after the chain: avail %u/%d used %u/%d, want 1/0 and 1/0", qi.last_avail_idx,
                  qi.avail_wrap_counter, qi.used_idx, qi.used_wrap_counter);
        hostile_free(&h);
}

static void test_head_looks_used(void) {
        Hostile h;

        hostile_step("packed: a head marked used (AVAIL == USED == lap) is simply not available");
        setup_base(&h, QSIZE, FRESH_BASE);
        pdesc_raw(&h, 0, HOSTILE_BUF_GPA, 8, 0, F_AVAIL | F_USED);
        check(!hostile_pop(&h, 0));
        check_msg(!h.dev.broken && h.panics == 0, "an unavailable head broke the device: %s", h.panic_msg);
        check(vu_queue_empty(&h.dev, vu_get_queue(&h.dev, 0)));
        hostile_free(&h);
}

static void test_id_twice_in_flight(void) {
        VuVirtqElement *e;
        Hostile h;

        hostile_step("packed: buffer id 3 made available again while still in flight");
        setup_base(&h, QSIZE, FRESH_BASE);
        pdesc(&h, 0, HOSTILE_BUF_GPA, 8, 3, 0, true);
        pdesc(&h, 1, HOSTILE_BUF_GPA + 8, 8, 3, 0, true);
        e = hostile_pop(&h, 0);
        check_msg(e && e->index == 3, "the first use of id 3 was refused: %s", vu_last_error(&h.dev));
        hostile_expect_pop_refused(&h, 0, "id 3", "in flight");
        free(e);
        hostile_free(&h);
}

static void test_slot_reused_before_returned(void) {
        VuVirtqElement *e[4];
        Hostile h;

        hostile_step("packed: the driver makes slot 0 available again before we returned it");
        setup_base(&h, 4, FRESH_BASE);
        for (unsigned int i = 0; i < 4; i++)
                pdesc(&h, i, HOSTILE_BUF_GPA + 8 * i, 8, (uint16_t) i, 0, true);
        for (unsigned int i = 0; i < 4; i++) {
                e[i] = hostile_pop(&h, 0);
                check_msg(e[i], "chain %u was refused: %s", i, vu_last_error(&h.dev));
        }
        pdesc(&h, 0, HOSTILE_BUF_GPA, 8, 0, 0, false); /* lap 0: the next lap, but nothing was used */
        hostile_expect_pop_refused(&h, 0, "in flight", "ring holds");
        for (unsigned int i = 0; i < 4; i++)
                free(e[i]);
        hostile_free(&h);
}

static void test_base_beyond_ring(void) {
        struct vhost_vring_state st = {.index = 0, .num = QSIZE};
        struct vhost_vring_addr addr = {.index = 0};
        uint64_t u = 0;
        Hostile h;
        int fd;

        hostile_step("packed: SET_VRING_BASE naming slot 16 of a 16-entry ring; the start is refused");
        hostile_new(&h, 2);
        hostile_negotiate(&h, UINT64_C(1) << RING_PACKED_BIT);
        hostile_mem_add(&h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_table_send(&h);
        addr.desc_user_addr = HOSTILE_DESC_GPA + HOSTILE_QVA_BASE;
        addr.avail_user_addr = HOSTILE_DESC_GPA + 16 * QSIZE + HOSTILE_QVA_BASE;
        addr.used_user_addr = HOSTILE_DESC_GPA + 16 * QSIZE + 4 + HOSTILE_QVA_BASE;
        hostile_expect_ok(&h, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0, NULL);
        hostile_expect_ok(&h, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL);
        st.num = 16 | 1u << 15 | 1u << 31;
        hostile_expect_ok(&h, VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0, NULL);
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        check(fd >= 0);
        hostile_expect_refused(&h, VHOST_USER_SET_VRING_KICK, &u, 8, &fd, 1, "avail index 16", "16");
        close(fd);
        check(!vu_queue_started(&h.dev, vu_get_queue(&h.dev, 0)));
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();

        run("a mid-chain descriptor marked used (AVAIL and USED both set)", FRESH_BASE, middle_marked_used,
            "descriptor 1", "available");
        run("a mid-chain descriptor left from an older lap", FRESH_BASE, middle_of_older_lap, "descriptor 1",
            "available");
        run("a chain across the ring's end that does not flip its lap", BASE_14, across_end_without_flip,
            "descriptor 0", "wrap counter 0");
        run("INDIRECT together with NEXT", FRESH_BASE, indirect_with_next, "INDIRECT", "NEXT");
        run("INDIRECT in the middle of a chain", FRESH_BASE, indirect_mid_chain, "INDIRECT", "middle");
        run("an indirect table of 2048 entries", FRESH_BASE, indirect_huge, "32768", "2048");
        run("a device-readable buffer after a device-writable one", FRESH_BASE, writable_then_readable,
            "readable", "writable");
        test_chain_of_ring_size();
        test_across_end_with_flip();
        test_head_looks_used();
        test_id_twice_in_flight();
        test_slot_reused_before_returned();
        test_base_beyond_ring();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
