/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Indirect descriptor tables (libvhost-user's known flaw: the table's
 * address and length were trusted, and the pointer arithmetic on a table
 * near the end of a region overflowed). Here: tables crossing a region end,
 * wrapping around 2^64, of length zero, of a length that is not a whole
 * number of descriptors, larger than any queue, nested, looping, or with a
 * next index outside the table — all refused; a plain table still works.
 */
#include <string.h>

#include "hostile.h"

#define TABLE UINT64_C(0x8000)

typedef void (*Layout)(Hostile *h);

static void run(const char *what, Layout layout, const char *n1, const char *n2) {
        Hostile h;

        hostile_step("indirect: %s", what);
        hostile_setup_default(&h);
        check_msg(h.dev.features & (UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC),
                  "INDIRECT_DESC was not negotiated (features 0x%llx)", (unsigned long long) h.dev.features);
        layout(&h);
        hostile_avail(&h, 0, 0);
        hostile_expect_pop_refused(&h, 0, n1, n2);
        hostile_free(&h);
}

static void head(Hostile *h, uint64_t addr, uint32_t len) {
        hostile_desc(h, HOSTILE_DESC_GPA, 0, addr, len, VRING_DESC_F_INDIRECT, 0);
}

static void fill_table(Hostile *h, uint64_t table, unsigned int n) {
        for (unsigned int i = 0; i < n; i++)
                hostile_desc(h, table, i, HOSTILE_BUF_GPA + 16 * i, 16, i + 1 < n ? VRING_DESC_F_NEXT : 0,
                             (uint16_t) (i + 1));
}

static void near_region_end(Hostile *h) {
        fill_table(h, HOSTILE_MEM_SIZE - 0x40, 4);
        head(h, HOSTILE_MEM_SIZE - 0x40, 0x80); /* 8 entries, the last 4 beyond the region */
}

static void wraps(Hostile *h) {
        head(h, UINT64_MAX - 0xf, 0x20);
}

static void zero_length(Hostile *h) {
        fill_table(h, TABLE, 4);
        head(h, TABLE, 0);
}

static void odd_length(Hostile *h) {
        fill_table(h, TABLE, 4);
        head(h, TABLE, 24);
}

static void too_many_entries(Hostile *h) {
        fill_table(h, TABLE, 2048);
        head(h, TABLE, 2048 * 16);
}

static void nested(Hostile *h) {
        fill_table(h, TABLE, 4);
        fill_table(h, TABLE + 0x1000, 4);
        hostile_desc(h, TABLE, 1, TABLE + 0x1000, 64, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 2);
        head(h, TABLE, 64);
}

static void loops(Hostile *h) {
        fill_table(h, TABLE, 4);
        hostile_desc(h, TABLE, 3, HOSTILE_BUF_GPA, 16, VRING_DESC_F_NEXT, 0);
        head(h, TABLE, 64);
}

static void next_out_of_table(Hostile *h) {
        fill_table(h, TABLE, 4);
        hostile_desc(h, TABLE, 3, HOSTILE_BUF_GPA, 16, VRING_DESC_F_NEXT, 4);
        head(h, TABLE, 64);
}

static void table_outside_memory(Hostile *h) {
        head(h, 0x40000000, 64);
}

static void buffer_outside_memory(Hostile *h) {
        fill_table(h, TABLE, 4);
        hostile_desc(h, TABLE, 2, 0x40000000, 16, VRING_DESC_F_NEXT, 3);
        head(h, TABLE, 64);
}

static void test_plain_table(void) {
        VuVirtqElement *e;
        Hostile h;

        hostile_step("indirect: a plain 2 out + 2 in table still works");
        hostile_setup_default(&h);
        hostile_desc(&h, TABLE, 0, HOSTILE_BUF_GPA, 10, VRING_DESC_F_NEXT, 1);
        hostile_desc(&h, TABLE, 1, HOSTILE_BUF_GPA + 0x100, 20, VRING_DESC_F_NEXT, 2);
        hostile_desc(&h, TABLE, 2, HOSTILE_BUF_GPA + 0x200, 30, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
        hostile_desc(&h, TABLE, 3, HOSTILE_BUF_GPA + 0x300, 40, VRING_DESC_F_WRITE, 0);
        head(&h, TABLE, 64);
        hostile_avail(&h, 0, 0);
        e = hostile_pop(&h, 0);
        check_msg(e, "a plain indirect table was refused: %s", vu_last_error(&h.dev));
        check(e->index == 0 && e->out_num == 2 && e->in_num == 2);
        check(e->out_sg[0].iov_len == 10 && e->out_sg[1].iov_len == 20);
        check(e->in_sg[0].iov_len == 30 && e->in_sg[1].iov_len == 40);
        check((uint8_t *) e->in_sg[1].iov_base - (uint8_t *) e->out_sg[0].iov_base == 0x300);
        free(e);
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();

        run("table crossing the region end", near_region_end, "ffc0", "1048512");
        run("table address + length wrapping 2^64", wraps, "fffffffffffffff0", "18446744073709551600");
        run("zero-length table", zero_length, "length", "0");
        run("length 24, not a multiple of 16", odd_length, "24", "18");
        run("2048 entries", too_many_entries, "2048", "32768");
        run("indirect inside indirect", nested, "indirect", "nested");
        run("loop inside the table", loops, "loop", "chain");
        run("next index 4 in a 4-entry table", next_out_of_table, "4", "next");
        run("table outside guest memory", table_outside_memory, "40000000", "1073741824");
        run("buffer in the table outside guest memory", buffer_outside_memory, "40000000", "1073741824");
        test_plain_table();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
