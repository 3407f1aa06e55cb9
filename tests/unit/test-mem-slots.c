/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory slots the way QEMU hot-plugs memory (CONFIGURE_MEM_SLOTS): all
 * 509 slots can be filled and a 510th is refused; regions are added and
 * removed while a queue keeps processing requests whose buffers live in
 * those regions, and every byte still lands where the guest expects it.
 * 508 of the regions are single pages of one shared memfd, so the test
 * stays small in fds and memory.
 */
#include <sys/mman.h>

#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define PAGE VF_PAGE_SIZE
#define SMALL_BASE UINT64_C(0x40000000)
#define NSMALL (VHOST_USER_MAX_RAM_SLOTS - 1)

static uint64_t small_gpa(unsigned int i, unsigned int generation) {
        /* A gap after every page; each generation at fresh addresses. */
        return SMALL_BASE + (uint64_t) generation * 0x10000000 + (uint64_t) i * 2 * PAGE;
}

/* One request: @len bytes read at @out, echoed into @in; checks the bytes arrived. */
static void echo_check(TestDev *td, VfMem *mem, VfVring *vr, uint64_t out, uint64_t in, uint32_t len,
                       unsigned int seed) {
        VfBuf b[2] = {{.gpa = out, .len = len}, {.gpa = in, .len = len, .write = true}};
        uint16_t head, got;
        uint32_t used;

        test_fill_pattern(vf_mem_gpa(mem, out, len), len, seed);
        memset(vf_mem_gpa(mem, in, len), 0, len);
        ASSERT_OK(vf_vring_add(vr, b, 2, seed % 2, &head));
        vf_vring_publish(vr);
        ASSERT_OK(vf_vring_kick(vr));
        ASSERT_GE(test_dev_run(td, 1000), 1);
        ASSERT_EQ(vf_vring_get_used(vr, &got, &used), 1);
        ASSERT_EQ(got, head);
        ASSERT_EQ(used, len);
        ASSERT_MEMEQ(vf_mem_gpa(mem, in, len), vf_mem_gpa(mem, out, len), len);
}

static int find_region(VfMem *mem, uint64_t gpa) {
        for (unsigned int i = 0; i < vf_mem_nregions(mem); i++)
                if (vf_mem_region(mem, i)->gpa == gpa)
                        return (int) i;
        TEST_FAIL("no region at 0x%" PRIx64, gpa);
}

static void test_509_slots_under_load(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem;
        uint64_t n;

        ASSERT_OK(vf_mem_new(&mem));
        /* QEMU with CONFIGURE_MEM_SLOTS sends no SET_MEM_TABLE: every region comes by ADD_MEM_REG. */
        test_dev_negotiate(td, NULL, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC),
                           F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
                                   F(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
        ASSERT_OK(vf_get_max_mem_slots(td->conn, &n));
        ASSERT_EQ(n, 509);

        ASSERT_OK(vf_mem_add_region(mem, 0x100000, 1024 * 1024)); /* rings */
        ASSERT_OK(vf_add_mem_reg(td->conn, mem, 0));
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, false);

        int shared = memfd_create("slots", MFD_CLOEXEC);
        ASSERT_TRUE(shared >= 0);
        ASSERT_OK(ftruncate(shared, (off_t) NSMALL * PAGE));
        unsigned int fds = test_count_fds();

        /* Fill every slot, processing a request across the two newest regions every 16. */
        for (unsigned int i = 0; i < NSMALL; i++) {
                int idx = vf_mem_add_region_fd(mem, small_gpa(i, 0), PAGE, shared, (uint64_t) i * PAGE);
                ASSERT_OK(idx);
                ASSERT_OK(vf_add_mem_reg(td->conn, mem, (unsigned int) idx));
                if (i > 0 && i % 16 == 0)
                        echo_check(td, mem, vr, small_gpa(i, 0) + 100, small_gpa(i - 1, 0) + 7, 1000, i);
        }
        VuDevInfo info;
        vu_get_info(&td->dev, &info);
        ASSERT_EQ(info.nregions, 509);
        ASSERT_EQ(vu_get_regions(&td->dev, NULL, 0), 509);
        /* The library keeps no fd per region. */
        ASSERT_LE(test_count_fds(), fds + 2);

        /* Full: a 510th slot is refused. */
        int extra = vf_mem_add_region(mem, 0x80000000, PAGE);
        ASSERT_OK(extra);
        ASSERT_ERR(vf_add_mem_reg(td->conn, mem, (unsigned int) extra), -EREMOTEIO);
        ASSERT_OK(vf_mem_remove_region(mem, (unsigned int) extra));

        /* Requests across far-apart slots: first and last, translation right for both. */
        echo_check(td, mem, vr, small_gpa(0, 0), small_gpa(NSMALL - 1, 0), PAGE, 1);
        echo_check(td, mem, vr, small_gpa(NSMALL - 1, 0), small_gpa(250, 0) + 1, PAGE - 1, 2);

        /* Churn: remove the even pages, re-add them at new addresses, with requests in between. */
        for (unsigned int i = 0; i < NSMALL; i += 2) {
                int idx = find_region(mem, small_gpa(i, 0));
                ASSERT_OK(vf_rem_mem_reg(td->conn, mem, (unsigned int) idx));
                ASSERT_OK(vf_mem_remove_region(mem, (unsigned int) idx));
                if (i % 32 == 0)
                        echo_check(td, mem, vr, small_gpa(i + 1, 0), small_gpa(i + 3, 0), 512, i);
        }
        vu_get_info(&td->dev, &info);
        ASSERT_EQ(info.nregions, 1 + NSMALL / 2);
        /* A removed region is gone for the device too. */
        uint64_t plen = PAGE;
        ASSERT_NULL(vu_gpa_to_va(&td->dev, &plen, small_gpa(0, 0)));
        plen = PAGE;
        ASSERT_NOT_NULL(vu_gpa_to_va(&td->dev, &plen, small_gpa(1, 0)));

        for (unsigned int i = 0; i < NSMALL; i += 2) {
                int idx = vf_mem_add_region_fd(mem, small_gpa(i, 1), PAGE, shared, (uint64_t) i * PAGE);
                ASSERT_OK(idx);
                ASSERT_OK(vf_add_mem_reg(td->conn, mem, (unsigned int) idx));
                if (i % 32 == 0)
                        echo_check(td, mem, vr, small_gpa(i, 1), small_gpa(i + 1, 0), 2048, i + 1);
        }
        vu_get_info(&td->dev, &info);
        ASSERT_EQ(info.nregions, 509);

        /*
         * A request in flight while other slots change: its buffers (slots 1
         * and 5) stay mapped and right while slot 7 goes and comes back.
         */
        td->mode = TEST_MODE_HOLD;
        td->hold_max = 1;
        VfBuf b[2] = {{.gpa = small_gpa(1, 0), .len = 256},
                      {.gpa = small_gpa(5, 0) + 64, .len = 256, .write = true}};
        uint16_t head, got;
        uint32_t used;
        test_fill_pattern(vf_mem_gpa(mem, b[0].gpa, 256), 256, 77);
        ASSERT_OK(vf_vring_add(vr, b, 2, false, &head));
        vf_vring_publish(vr);
        ASSERT_OK(vf_vring_kick(vr));
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 1);
        int idx7 = find_region(mem, small_gpa(7, 0));
        ASSERT_OK(vf_rem_mem_reg(td->conn, mem, (unsigned int) idx7));
        ASSERT_OK(vf_mem_remove_region(mem, (unsigned int) idx7));
        idx7 = vf_mem_add_region_fd(mem, small_gpa(7, 2), PAGE, shared, 7 * PAGE);
        ASSERT_OK(idx7);
        ASSERT_OK(vf_add_mem_reg(td->conn, mem, (unsigned int) idx7));
        VuVirtqElement *e = td->held[0];
        ASSERT_EQ(e->out_num, 1);
        ASSERT_EQ(e->in_num, 1);
        memcpy(e->in_sg[0].iov_base, e->out_sg[0].iov_base, 256);
        vu_queue_push(&td->dev, vu_get_queue(&td->dev, 0), e, 256);
        vu_queue_notify(&td->dev, vu_get_queue(&td->dev, 0));
        test_dev_drop_held(td);
        ASSERT_EQ(vf_vring_get_used(vr, &got, &used), 1);
        ASSERT_EQ(got, head);
        ASSERT_EQ(used, 256);
        ASSERT_MEMEQ(vf_mem_gpa(mem, b[1].gpa, 256), vf_mem_gpa(mem, b[0].gpa, 256), 256);
        td->mode = TEST_MODE_ECHO;

        /* Same page of the memfd, seen through its new guest address. */
        echo_check(td, mem, vr, small_gpa(NSMALL - 2, 1), small_gpa(3, 0), 300, 3);
        ASSERT_EQ(td->panics, 0);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
        close(shared);
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_509_slots_under_load);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
