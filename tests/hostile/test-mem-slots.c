/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ADD_MEM_REG / REM_MEM_REG (CONFIGURE_MEM_SLOTS) from a hostile frontend.
 * libvhost-user leaked the fd a frontend attaches to REM_MEM_REG; the spec
 * lets a backend accept one there but it must be closed. Here: add/remove
 * cycles keep fds and mappings flat, removing an unknown region is refused
 * with its fd closed, the 510th slot is refused by name (509 is the limit we
 * announce), overlapping or wrapping regions and wrong fd counts are refused.
 */
#include <string.h>
#include <unistd.h>

#include "hostile.h"

static VhostUserMemRegMsg reg(uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off) {
        return (VhostUserMemRegMsg){ .region = { gpa, size, qva, off } };
}

static void add_ok(Hostile *h, uint64_t gpa, uint64_t size) {
        VhostUserMemRegMsg r = reg(gpa, size, HOSTILE_QVA_BASE + gpa, 0);
        int fd = hostile_memfd(size);

        hostile_expect_ok(h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), &fd, 1, NULL);
        close(fd);
}

static void setup(Hostile *h) {
        hostile_new(h, 2);
        hostile_negotiate(h, 0);
        check_msg(hostile_has_protocol(h, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS),
                  "the library does not offer CONFIGURE_MEM_SLOTS");
}

static void test_add_remove_cycles(void) {
        int fds = 0, maps = 0;
        Hostile h;

        hostile_step("ADD_MEM_REG + REM_MEM_REG (with a stray fd) 300 times");
        setup(&h);
        for (int i = 0; i < 300; i++) {
                VhostUserMemRegMsg r = reg(0x100000, 0x10000, HOSTILE_QVA_BASE + 0x100000, 0);
                int fd = hostile_memfd(0x1000);

                add_ok(&h, 0x100000, 0x10000);
                check(vu_get_regions(&h.dev, NULL, 0) == 1);
                /* One fd on REM_MEM_REG is tolerated by the spec, and must be closed. */
                hostile_expect_ok(&h, VHOST_USER_REM_MEM_REG, &r, sizeof(r), &fd, 1, NULL);
                close(fd);
                check(vu_get_regions(&h.dev, NULL, 0) == 0);
                if (i == 0) {
                        fds = hostile_count_fds();
                        maps = hostile_count_maps();
                }
        }
        check_msg(hostile_count_fds() == fds, "fds grew from %d to %d", fds, hostile_count_fds());
        check_msg(hostile_count_maps() == maps, "mappings grew from %d to %d", maps, hostile_count_maps());
        hostile_free(&h);
}

static void test_bad_requests(void) {
        const uint64_t Q = HOSTILE_QVA_BASE;
        VhostUserMemRegMsg r;
        int fd[3], before;
        Hostile h;

        setup(&h);
        add_ok(&h, 0, 0x10000);
        before = hostile_count_fds();
        for (int i = 0; i < 3; i++)
                fd[i] = hostile_memfd(0x10000);

        hostile_step("REM_MEM_REG of a region that is not there, with an fd");
        r = reg(0x500000, 0x10000, Q + 0x500000, 0);
        hostile_expect_refused(&h, VHOST_USER_REM_MEM_REG, &r, sizeof(r), fd, 1, "500000", "5242880");
        hostile_step("REM_MEM_REG with two fds");
        r = reg(0, 0x10000, Q, 0);
        hostile_expect_refused(&h, VHOST_USER_REM_MEM_REG, &r, sizeof(r), fd, 2, "fd", "2");
        hostile_step("ADD_MEM_REG without an fd");
        r = reg(0x100000, 0x10000, Q + 0x100000, 0);
        hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), NULL, 0, "fd", "0");
        hostile_step("ADD_MEM_REG with three fds");
        hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), fd, 3, "fd", "3");
        hostile_step("ADD_MEM_REG overlapping a region in force");
        r = reg(0x8000, 0x10000, Q + 0x100000, 0);
        hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), fd, 1, "8000", "32768");
        hostile_step("ADD_MEM_REG with gpa + size wrapping 2^64");
        r = reg(UINT64_MAX - 0xfff, 0x10000, Q + 0x100000, 0);
        hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), fd, 1, "fffffffffffff000",
                               "18446744073709547520");
        hostile_step("ADD_MEM_REG with userspace_addr + size wrapping 2^64");
        r = reg(0x100000, 0x10000, UINT64_MAX - 0xfff, 0);
        hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), fd, 1, "fffffffffffff000",
                               "18446744073709547520");
        hostile_step("ADD_MEM_REG of size 0");
        r = reg(0x100000, 0, Q + 0x100000, 0);
        hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), fd, 1, "size", "0");
        hostile_step("ADD_MEM_REG larger than its file");
        r = reg(0x100000, 0x100000, Q + 0x100000, 0);
        hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), fd, 1, "100000", "1048576");

        for (int i = 0; i < 3; i++)
                close(fd[i]);
        check_msg(hostile_count_fds() == before, "refusals leaked fds: %d before, %d after", before,
                  hostile_count_fds());
        check(vu_get_regions(&h.dev, NULL, 0) == 1);
        hostile_free(&h);
}

static void test_slot_limit(void) {
        VhostUserMsg reply;
        VhostUserMemRegMsg r;
        uint64_t slots;
        int fd;
        Hostile h;

        setup(&h);
        hostile_expect_ok(&h, VHOST_USER_GET_MAX_MEM_SLOTS, NULL, 0, NULL, 0, &reply);
        slots = reply.payload.u64;
        check_msg(slots >= 8 && slots <= VHOST_USER_MAX_RAM_SLOTS, "GET_MAX_MEM_SLOTS says %llu",
                  (unsigned long long) slots);
        hostile_step("filling all %llu slots, then one more", (unsigned long long) slots);
        h.quiet = true;
        for (uint64_t i = 0; i < slots; i++)
                add_ok(&h, i * 0x10000, 0x1000);
        h.quiet = false;
        check(vu_get_regions(&h.dev, NULL, 0) == slots);

        fd = hostile_memfd(0x1000);
        r = reg(slots * 0x10000, 0x1000, HOSTILE_QVA_BASE + slots * 0x10000, 0);
        {
                char n[32];

                snprintf(n, sizeof(n), "%llu", (unsigned long long) slots);
                hostile_expect_refused(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), &fd, 1, n, "slot");
        }
        hostile_step("after removing one, a slot is free again");
        r = reg(0, 0x1000, HOSTILE_QVA_BASE, 0);
        hostile_expect_ok(&h, VHOST_USER_REM_MEM_REG, &r, sizeof(r), NULL, 0, NULL);
        r = reg(slots * 0x10000, 0x1000, HOSTILE_QVA_BASE + slots * 0x10000, 0);
        hostile_expect_ok(&h, VHOST_USER_ADD_MEM_REG, &r, sizeof(r), &fd, 1, NULL);
        close(fd);
        check(vu_get_regions(&h.dev, NULL, 0) == slots);
        hostile_free(&h);
}

int main(void) {
        int fds = hostile_count_fds();

        test_add_remove_cycles();
        test_bad_requests();
        test_slot_limit();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
