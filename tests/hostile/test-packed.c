/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The same hostile-guest classes against a packed virtqueue
 * (VIRTIO_F_RING_PACKED), where the driver writes buffer ids and AVAIL/USED
 * flag bits into one shared ring: a buffer id past the ring, a chain that
 * runs all the way round the ring, a chain whose middle descriptor is not
 * available, buffers outside guest memory or wrapping 2^64, and indirect
 * tables that are empty, cross a region end or nest. Each is refused with
 * the device marked broken and panic() naming the problem; a plain chain
 * pops and its completion is written back with the right id and flags.
 *
 * Skipped (exit 77, with the reason printed) while the library does not
 * offer packed rings.
 */
#include <string.h>

#include "hostile.h"

#define QSIZE 16
#define RING_PACKED_BIT 34
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define F_AVAIL (1u << 7)
#define F_USED (1u << 15)
#define TABLE UINT64_C(0x8000)

static bool setup(Hostile *h) {
        hostile_new(h, 2);
        hostile_negotiate(h, UINT64_C(1) << RING_PACKED_BIT);
        if (!(h->dev.features & (UINT64_C(1) << RING_PACKED_BIT))) {
                hostile_free(h);
                return false;
        }
        hostile_mem_add(h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_table_send(h);
        /* A fresh packed ring: both wrap counters start at 1 (bits 15 and 31 of the base). */
        hostile_queue_setup_base(h, 0, QSIZE, HOSTILE_DESC_GPA, UINT32_C(0x80008000));
        return true;
}

/* Slot @i as the driver makes it available in the first lap (wrap counter 1). */
static void pdesc(Hostile *h, uint64_t table, unsigned int i, uint64_t addr, uint32_t len, uint16_t id,
                  uint16_t flags, bool avail) {
        struct vring_packed_desc d = {
                .addr = addr,
                .len = len,
                .id = id,
                .flags = (uint16_t) (flags | (avail ? F_AVAIL : F_USED)),
        };

        memcpy(hostile_gpa(h, table + 16 * (uint64_t) i, 16), &d, 16);
}

/* An indirect table entry: packed layout (addr, len, id, flags), no AVAIL/USED bits there. */
static void tdesc(Hostile *h, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags) {
        struct vring_packed_desc d = { .addr = addr, .len = len, .id = 0, .flags = flags };

        memcpy(hostile_gpa(h, TABLE + 16 * (uint64_t) i, 16), &d, 16);
}

typedef void (*Layout)(Hostile *h);

static void run(const char *what, Layout layout, const char *n1, const char *n2) {
        Hostile h;

        hostile_step("packed: %s", what);
        check(setup(&h));
        layout(&h);
        hostile_expect_pop_refused(&h, 0, n1, n2);
        hostile_free(&h);
}

static void id_out_of_range(Hostile *h) {
        pdesc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 64, QSIZE, 0, true);
}

static void id_way_out_of_range(Hostile *h) {
        pdesc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 64, 0xffff, 0, true);
}

static void chain_round_the_ring(Hostile *h) {
        for (unsigned int i = 0; i < QSIZE; i++)
                pdesc(h, HOSTILE_DESC_GPA, i, HOSTILE_BUF_GPA, 8, 0, F_NEXT, true);
}

static void middle_not_available(Hostile *h) {
        pdesc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 8, 0, F_NEXT, true);
        pdesc(h, HOSTILE_DESC_GPA, 1, HOSTILE_BUF_GPA, 8, 0, F_NEXT, false);
        pdesc(h, HOSTILE_DESC_GPA, 2, HOSTILE_BUF_GPA, 8, 0, 0, true);
}

static void buffer_outside(Hostile *h) {
        pdesc(h, HOSTILE_DESC_GPA, 0, 0x40000000, 64, 0, 0, true);
}

static void buffer_wraps(Hostile *h) {
        pdesc(h, HOSTILE_DESC_GPA, 0, UINT64_C(0xfffffffffffff000), 0x2000, 0, 0, true);
}

static void indirect_empty(Hostile *h) {
        tdesc(h, 0, HOSTILE_BUF_GPA, 8, 0);
        pdesc(h, HOSTILE_DESC_GPA, 0, TABLE, 0, 0, F_INDIRECT, true);
}

static void indirect_crossing_end(Hostile *h) {
        pdesc(h, HOSTILE_DESC_GPA, 0, HOSTILE_MEM_SIZE - 0x20, 0x80, 0, F_INDIRECT, true);
}

static void indirect_nested(Hostile *h) {
        tdesc(h, 0, TABLE + 0x100, 32, F_INDIRECT);
        pdesc(h, HOSTILE_DESC_GPA, 0, TABLE, 16, 0, F_INDIRECT, true);
}

static void test_plain(void) {
        struct vring_packed_desc used;
        VuVirtqElement *e;
        Hostile h;

        hostile_step("packed: a plain 1 out + 1 in chain pops and completes with its id");
        check(setup(&h));
        pdesc(&h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 16, 5, F_NEXT, true);
        pdesc(&h, HOSTILE_DESC_GPA, 1, HOSTILE_BUF_GPA + 0x100, 512, 5, F_WRITE, true);
        e = hostile_pop(&h, 0);
        check_msg(e, "a plain packed chain was refused: %s", vu_last_error(&h.dev));
        check(e->index == 5 && e->out_num == 1 && e->in_num == 1);
        check(e->out_sg[0].iov_len == 16 && e->in_sg[0].iov_len == 512);
        vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 100);
        free(e);
        memcpy(&used, hostile_gpa(&h, HOSTILE_DESC_GPA, 16), 16);
        check_msg(used.id == 5 && used.len == 100, "used descriptor id %u len %u, want 5 and 100", used.id,
                  used.len);
        check_msg((used.flags & (F_AVAIL | F_USED)) == (F_AVAIL | F_USED),
                  "used descriptor flags 0x%x: AVAIL and USED should both equal the wrap counter (1)", used.flags);
        check(!hostile_pop(&h, 0) && !h.dev.broken);
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();
        Hostile probe;

        if (!setup(&probe)) {
                printf("SKIP: the library does not offer VIRTIO_F_RING_PACKED (bit %d) yet\n", RING_PACKED_BIT);
                return 77;
        }
        hostile_free(&probe);

        run("buffer id 16 in a 16-entry ring", id_out_of_range, "16", "id");
        run("buffer id 65535", id_way_out_of_range, "65535", "ffff");
        run("a chain running round the whole ring", chain_round_the_ring, "chain", "16");
        run("a chain whose middle descriptor is not available", middle_not_available, "avail", "1");
        run("buffer outside guest memory", buffer_outside, "40000000", "1073741824");
        run("buffer address + length wrapping 2^64", buffer_wraps, "fffffffffffff000", "18446744073709547520");
        run("zero-length indirect table", indirect_empty, "length", "0");
        run("indirect table crossing the region end", indirect_crossing_end, "fffe0", "1048544");
        run("indirect inside indirect", indirect_nested, "INDIRECT", "indirect");
        test_plain();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
