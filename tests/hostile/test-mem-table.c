/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SET_MEM_TABLE from a hostile frontend: overlapping guest ranges, gpa + size,
 * userspace_addr + size or mmap_offset + size wrapping 2^64, empty regions,
 * a region larger than the file behind it (which would SIGBUS the backend
 * on first touch), fd counts that do not match nregions. Each is refused by
 * name, every fd it carried is closed, and the table in force before keeps
 * working.
 */
#include <string.h>
#include <unistd.h>

#include "hostile.h"

static void expect_table_refused(Hostile *h, const VhostUserMemoryRegion *regions, unsigned int n,
                                 unsigned int nfds, uint64_t file_size, const char *n1, const char *n2) {
        VhostUserMemory mem = { .nregions = n };
        int fds[VHOST_MEMORY_BASELINE_NREGIONS] = { -EBADF, -EBADF, -EBADF, -EBADF, -EBADF, -EBADF, -EBADF, -EBADF };

        for (unsigned int i = 0; i < nfds; i++)
                fds[i] = hostile_memfd(file_size);
        memcpy(mem.regions, regions, n * sizeof(*regions));
        hostile_expect_refused(h, VHOST_USER_SET_MEM_TABLE, &mem, 8 + n * sizeof(VhostUserMemoryRegion), fds,
                               nfds, n1, n2);
        for (unsigned int i = 0; i < nfds; i++)
                close(fds[i]);
}

static void still_works(Hostile *h) {
        VuVirtqElement *e;

        hostile_desc(h, HOSTILE_DESC_GPA, 0, HOSTILE_BUF_GPA, 128, 0, 0);
        hostile_avail(h, 0, 0);
        e = hostile_pop(h, 0);
        check_msg(e, "the table in force stopped working after refused tables: %s", vu_last_error(&h->dev));
        check(e->out_num == 1 && e->out_sg[0].iov_len == 128);
        vu_queue_push(&h->dev, vu_get_queue(&h->dev, 0), e, 0);
        free(e);
}

int main(void) {
        const uint64_t Q = HOSTILE_QVA_BASE;
        int fds = hostile_count_fds(), before;
        Hostile h;

        hostile_setup_default(&h);
        before = hostile_count_fds();

        hostile_step("overlapping guest ranges");
        expect_table_refused(&h,
                             (VhostUserMemoryRegion[]){ { 0, 0x10000, Q, 0 }, { 0x8000, 0x10000, Q + 0x100000, 0 } },
                             2, 2, 0x10000, "8000", "32768");
        hostile_step("the same region twice");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0x10000, Q, 0 }, { 0, 0x10000, Q, 0 } }, 2, 2,
                             0x10000, "overlap", "0x0");
        hostile_step("gpa + size wrapping 2^64");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { UINT64_MAX - 0xfff, 0x10000, Q, 0 } }, 1, 1, 0x10000,
                             "fffffffffffff000", "18446744073709547520");
        hostile_step("userspace_addr + size wrapping 2^64");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0x10000, UINT64_MAX - 0xfff, 0 } }, 1, 1, 0x10000,
                             "fffffffffffff000", "18446744073709547520");
        hostile_step("mmap_offset + size wrapping 2^64");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0x10000, Q, UINT64_MAX - 0xfff } }, 1, 1, 0x10000,
                             "fffffffffffff000", "18446744073709547520");
        hostile_step("memory_size 0");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0, Q, 0 } }, 1, 1, 0x10000, "size", "0");
        hostile_step("region larger than its file (would SIGBUS on first touch)");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0x100000, Q, 0 } }, 1, 1, 0x10000, "100000",
                             "1048576");
        hostile_step("region at an offset past the end of its file");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0x10000, Q, 0x10000 } }, 1, 1, 0x10000, "10000",
                             "65536");
        hostile_step("two regions, one fd");
        expect_table_refused(&h,
                             (VhostUserMemoryRegion[]){ { 0, 0x10000, Q, 0 }, { 0x100000, 0x10000, Q + 0x100000, 0 } },
                             2, 1, 0x10000, "fd", "2");
        hostile_step("one region, three fds");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0x10000, Q, 0 } }, 1, 3, 0x10000, "fd", "3");
        hostile_step("one region, no fd");
        expect_table_refused(&h, (VhostUserMemoryRegion[]){ { 0, 0x10000, Q, 0 } }, 1, 0, 0x10000, "fd", "0");

        check_msg(hostile_count_fds() == before, "refused tables leaked fds: %d before, %d after", before,
                  hostile_count_fds());
        hostile_step("the table in force still works");
        still_works(&h);
        hostile_free(&h);

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
