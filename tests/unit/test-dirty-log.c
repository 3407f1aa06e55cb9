/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration dirty log as the frontend reads it: while LOG_ALL is on,
 * exactly the pages the device wrote are marked (the used ring, and the
 * bytes written into guest buffers, no more), nothing else; with LOG_ALL
 * off nothing is marked; the log eventfd is signalled; the ext counters
 * agree with the bitmap.
 */
#include <sys/eventfd.h>

#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)
#define PAGE VF_PAGE_SIZE

static const uint64_t features = F(VIRTIO_F_VERSION_1) | F(VHOST_F_LOG_ALL);

/* Push one chain: @out_len readable bytes at @out, @in_len writable bytes at @in. Returns used len. */
static uint32_t echo_one(TestDev *td, VfVring *vr, uint64_t out, uint32_t out_len, uint64_t in,
                         uint32_t in_len) {
        VfBuf b[2] = {{.gpa = out, .len = out_len}, {.gpa = in, .len = in_len, .write = true}};
        uint16_t head, got;
        uint32_t len;

        ASSERT_OK(vf_vring_add(vr, b, 2, false, &head));
        vf_vring_publish(vr);
        ASSERT_OK(vf_vring_kick(vr));
        ASSERT_GE(test_dev_run(td, 1000), 1);
        ASSERT_EQ(vf_vring_get_used(vr, &got, &len), 1);
        ASSERT_EQ(got, head);
        return len;
}

static void test_dirty_pages_exact(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        VfLog *log;
        uint64_t out, in;

        test_dev_negotiate(td, mem, features,
                           F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
        ASSERT_OK(vf_log_new(16 * 1024 * 1024, &log));
        ASSERT_OK(vf_set_log_base(td->conn, log));
        int log_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ASSERT_OK(vf_set_log_fd(td->conn, log_efd));
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, true);

        ASSERT_OK(vf_mem_alloc(mem, 1, 2 * PAGE, PAGE, &out));
        ASSERT_OK(vf_mem_alloc(mem, 2, 3 * PAGE, PAGE, &in));
        test_fill_pattern(vf_mem_gpa(mem, out, 2 * PAGE), 2 * PAGE, 7);
        vf_log_clear(log);

        /* 8 KiB echoed into a 12 KiB buffer: its first two pages are written, not the third. */
        ASSERT_EQ(echo_one(td, vr, out, 2 * PAGE, in, 3 * PAGE), 2 * PAGE);
        ASSERT_TRUE(vf_log_test(log, vf_vring_used_gpa(vr)));
        ASSERT_TRUE(vf_log_test(log, in));
        ASSERT_TRUE(vf_log_test(log, in + PAGE));
        ASSERT_FALSE(vf_log_test(log, in + 2 * PAGE));
        ASSERT_FALSE(vf_log_test(log, out));
        ASSERT_FALSE(vf_log_test(log, out + PAGE));
        ASSERT_FALSE(vf_log_test(log, vf_vring_desc_gpa(vr)));
        ASSERT_FALSE(vf_log_test(log, vf_vring_avail_gpa(vr)));
        ASSERT_EQ(vf_log_count(log), 3);

        uint64_t kicks = 0;
        ASSERT_EQ(read(log_efd, &kicks, sizeof(kicks)), (ssize_t) sizeof(kicks));
        ASSERT_GE(kicks, 1);

        /* 100 bytes written across a page boundary mark both pages, and only them. */
        vf_log_clear(log);
        ASSERT_EQ(echo_one(td, vr, out, 100, in + PAGE - 40, 100), 100);
        ASSERT_TRUE(vf_log_test(log, in));
        ASSERT_TRUE(vf_log_test(log, in + PAGE));
        ASSERT_TRUE(vf_log_test(log, vf_vring_used_gpa(vr)));
        ASSERT_EQ(vf_log_count(log), 3);

        /* One byte written: its page and the used ring. */
        vf_log_clear(log);
        ASSERT_EQ(echo_one(td, vr, out, 1, in + 2 * PAGE, 1), 1);
        ASSERT_TRUE(vf_log_test(log, in + 2 * PAGE));
        ASSERT_EQ(vf_log_count(log), 2);
        vf_log_clear(log);

        VuLogInfo li;
        vu_get_log_info(&td->dev, &li);
        ASSERT_TRUE(li.active);
        ASSERT_TRUE(li.log_all);
        ASSERT_EQ(li.size, log->size);
        ASSERT_EQ(li.rings_logging, 1);
        ASSERT_GE(li.pages_marked, 3 + 3 + 2);
        ASSERT_GE(li.writes, 3);
        ASSERT_NE(li.started_usec, 0);

        /* LOG_ALL dropped (migration over): the device writes, nothing is marked. */
        ASSERT_OK(vf_set_features(td->conn, F(VIRTIO_F_VERSION_1) | F(VHOST_USER_F_PROTOCOL_FEATURES)));
        ASSERT_EQ(echo_one(td, vr, out, 2 * PAGE, in, 3 * PAGE), 2 * PAGE);
        ASSERT_EQ(vf_log_count(log), 0);
        vu_get_log_info(&td->dev, &li);
        ASSERT_FALSE(li.log_all);

        ASSERT_EQ(td->panics, 0);
        close(log_efd);
        vf_vring_free(vr);
        test_dev_free(td);
        vf_log_free(log);
        vf_mem_free(mem);
}

/* A ring without VHOST_VRING_F_LOG: guest buffers are still logged, the used ring is not. */
static void test_used_ring_not_logged_without_flag(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        VfLog *log;
        uint64_t out, in;

        test_dev_negotiate(td, mem, features,
                           F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
        ASSERT_OK(vf_log_new(16 * 1024 * 1024, &log));
        ASSERT_OK(vf_set_log_base(td->conn, log));
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, false);

        ASSERT_OK(vf_mem_alloc(mem, 1, PAGE, PAGE, &out));
        ASSERT_OK(vf_mem_alloc(mem, 2, PAGE, PAGE, &in));
        ASSERT_EQ(echo_one(td, vr, out, PAGE, in, PAGE), PAGE);
        ASSERT_FALSE(vf_log_test(log, vf_vring_used_gpa(vr)));
        ASSERT_TRUE(vf_log_test(log, in));
        ASSERT_EQ(vf_log_count(log), 1);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_log_free(log);
        vf_mem_free(mem);
}

/*
 * A device that trims the element's iovecs while it works (as seed-API
 * devices do with iov_discard_back() to carve out a status byte) and
 * pushes the full length: the pages come from the chain in the ring, so
 * the trimmed tail's page is marked all the same.
 */
static void test_trimmed_iov_still_logged(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        VfLog *log;
        uint64_t out, in;
        uint16_t head, got;
        uint32_t len;

        test_dev_negotiate(td, mem, features,
                           F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
        ASSERT_OK(vf_log_new(16 * 1024 * 1024, &log));
        ASSERT_OK(vf_set_log_base(td->conn, log));
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, true);

        ASSERT_OK(vf_mem_alloc(mem, 1, PAGE, PAGE, &out));
        ASSERT_OK(vf_mem_alloc(mem, 2, 3 * PAGE, PAGE, &in));
        /* Two pages and one byte: the last byte alone is on the third page. */
        VfBuf b[2] = {{.gpa = out, .len = 16}, {.gpa = in, .len = 2 * PAGE + 1, .write = true}};
        td->mode = TEST_MODE_HOLD;
        td->hold_max = 1;
        ASSERT_OK(vf_vring_add(vr, b, 2, false, &head));
        vf_vring_publish(vr);
        ASSERT_OK(vf_vring_kick(vr));
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 1);

        VuVirtqElement *e = td->held[0];
        ASSERT_EQ(e->in_num, 1);
        uint8_t *tail = (uint8_t *) e->in_sg[0].iov_base + e->in_sg[0].iov_len - 1;
        e->in_sg[0].iov_len--;
        memset(e->in_sg[0].iov_base, 0x5a, e->in_sg[0].iov_len);
        *tail = 0;
        vf_log_clear(log);
        vu_queue_push(&td->dev, vu_get_queue(&td->dev, 0), e, 2 * PAGE + 1);
        vu_queue_notify(&td->dev, vu_get_queue(&td->dev, 0));

        ASSERT_EQ(vf_vring_get_used(vr, &got, &len), 1);
        ASSERT_EQ(got, head);
        ASSERT_EQ(len, 2 * PAGE + 1);
        ASSERT_TRUE(vf_log_test(log, in));
        ASSERT_TRUE(vf_log_test(log, in + PAGE));
        ASSERT_TRUE(vf_log_test(log, in + 2 * PAGE));
        ASSERT_TRUE(vf_log_test(log, vf_vring_used_gpa(vr)));
        ASSERT_FALSE(vf_log_test(log, out));
        ASSERT_EQ(vf_log_count(log), 4);

        VuLogInfo li;
        vu_get_log_info(&td->dev, &li);
        ASSERT_EQ(li.rewalk_fallbacks, 0);

        test_dev_drop_held(td);
        ASSERT_EQ(td->panics, 0);
        vf_vring_free(vr);
        test_dev_free(td);
        vf_log_free(log);
        vf_mem_free(mem);
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_dirty_pages_exact);
        RUN_TEST(test_used_ring_not_logged_without_flag);
        RUN_TEST(test_trimmed_iov_still_logged);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
