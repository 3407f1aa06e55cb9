/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration dirty log from a hostile frontend: SET_LOG_BASE with a huge
 * mmap_size, with a size beyond its file, without an fd or with several,
 * before LOG_SHMFD was negotiated. All refused by name, fds closed. A small
 * valid log is accepted, and a device write to guest memory the log does not
 * cover (a region far above it) is simply not logged — no write past the
 * log, no crash.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostile.h"

#define LOG_ALL_BIT 26 /* VHOST_F_LOG_ALL */

static void expect_log_refused(Hostile *h, uint64_t size, uint64_t offset, uint64_t file, int nfds,
                               const char *n1, const char *n2) {
        VhostUserLog log = { .mmap_size = size, .mmap_offset = offset };
        int fds[3] = { -EBADF, -EBADF, -EBADF };

        for (int i = 0; i < nfds; i++)
                fds[i] = hostile_memfd(file);
        hostile_expect_refused(h, VHOST_USER_SET_LOG_BASE, &log, sizeof(log), fds, (size_t) nfds, n1, n2);
        for (int i = 0; i < nfds; i++)
                close(fds[i]);
}

static void test_bad_logs(void) {
        int before;
        Hostile h;

        hostile_setup_default(&h);
        check_msg(hostile_has_protocol(&h, VHOST_USER_PROTOCOL_F_LOG_SHMFD), "LOG_SHMFD not offered");
        before = hostile_count_fds();

        hostile_step("SET_LOG_BASE with mmap_size 2^50");
        expect_log_refused(&h, UINT64_C(1) << 50, 0, 4096, 1, "1125899906842624", "4000000000000");
        hostile_step("SET_LOG_BASE with mmap_size beyond its 4 KiB file");
        expect_log_refused(&h, 1 << 20, 0, 4096, 1, "1048576", "100000");
        hostile_step("SET_LOG_BASE at an offset past its file");
        expect_log_refused(&h, 4096, 8192, 4096, 1, "8192", "2000");
        hostile_step("SET_LOG_BASE without an fd");
        expect_log_refused(&h, 4096, 0, 4096, 0, "fd", "0");
        hostile_step("SET_LOG_BASE with 3 fds");
        expect_log_refused(&h, 4096, 0, 4096, 3, "fd", "3");
        check_msg(hostile_count_fds() == before, "refused logs leaked fds: %d before, %d after", before,
                  hostile_count_fds());
        hostile_free(&h);

        hostile_step("SET_LOG_BASE before LOG_SHMFD was negotiated");
        hostile_new(&h, 2);
        {
                VhostUserLog log = { .mmap_size = 4096 };
                int fd = hostile_memfd(4096);

                hostile_expect_refused(&h, VHOST_USER_SET_LOG_BASE, &log, sizeof(log), &fd, 1, "LOG_SHMFD",
                                       "LOG_BASE");
                close(fd);
        }
        hostile_free(&h);
}

static void test_write_beyond_log(void) {
        const uint64_t far = UINT64_C(1) << 40; /* 1 TiB: page 2^28, far beyond a 4 KiB log */
        VhostUserLog log = { .mmap_size = 4096 };
        uint8_t *bits;
        VuVirtqElement *e;
        VuLogInfo li;
        int fd;
        Hostile h;

        hostile_step("device writes to guest memory beyond what a 4 KiB log covers");
        hostile_new(&h, 2);
        hostile_negotiate(&h, UINT64_C(1) << LOG_ALL_BIT);
        check_msg(h.dev.features & (UINT64_C(1) << LOG_ALL_BIT), "LOG_ALL not offered (features 0x%llx)",
                  (unsigned long long) h.dev.features);
        hostile_mem_add(&h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_add(&h, far, 0x10000);
        hostile_mem_table_send(&h);
        hostile_queue_setup(&h, 0, 16, HOSTILE_DESC_GPA);

        fd = hostile_memfd(4096);
        bits = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        check(bits != MAP_FAILED);
        hostile_expect_ok(&h, VHOST_USER_SET_LOG_BASE, &log, sizeof(log), &fd, 1, NULL);
        close(fd);

        hostile_desc(&h, HOSTILE_DESC_GPA, 0, far, 4096, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        hostile_desc(&h, HOSTILE_DESC_GPA, 1, HOSTILE_BUF_GPA, 4096, VRING_DESC_F_WRITE, 0);
        hostile_avail(&h, 0, 0);
        e = hostile_pop(&h, 0);
        check_msg(e, "pop failed: %s", vu_last_error(&h.dev));
        check(e->in_num == 2);
        vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 8192);
        free(e);
        check(!h.dev.broken);

        /* The page inside the log's reach is marked; the far one could not be, and nothing crashed. */
        check_msg(bits[(HOSTILE_BUF_GPA / 4096) / 8] & (1u << ((HOSTILE_BUF_GPA / 4096) % 8)),
                  "the written page at 0x%llx is not marked in the log", (unsigned long long) HOSTILE_BUF_GPA);
        vu_get_log_info(&h.dev, &li);
        check(li.active && li.size == 4096);
        munmap(bits, 4096);
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();

        test_bad_logs();
        test_write_beyond_log();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
