/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inflight I/O tracking across a backend crash, as QEMU drives it: the
 * device pops some requests and completes one out of order, then dies
 * (vu_deinit without pushing the rest). A new backend is given the same
 * inflight buffer (SET_INFLIGHT_FD) and the queue base QEMU would use (the
 * used index): the requests that were in flight come back first, in the
 * order they were first popped, then the ones never popped. Nothing is
 * lost and nothing is done twice.
 */
#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)
#define QSIZE 64

static const uint64_t features = F(VIRTIO_F_VERSION_1);
static const uint64_t protocol =
        F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);

static void add_chains(VfMem *mem, VfVring *vr, unsigned int n, uint16_t *heads) {
        for (unsigned int i = 0; i < n; i++) {
                VfBuf b[2] = {{.len = 64}, {.len = 64, .write = true}};
                ASSERT_OK(vf_mem_alloc(mem, 1, 64, 8, &b[0].gpa));
                ASSERT_OK(vf_mem_alloc(mem, 1, 64, 8, &b[1].gpa));
                ASSERT_OK(vf_vring_add(vr, b, 2, false, &heads[i]));
        }
}

static void test_resubmit_after_crash(void) {
        VfMem *mem = test_mem_new(2, REGION_SIZE);
        VfInflight *inf;
        uint16_t heads[6], head;
        uint32_t len;

        /* First backend: pops four, completes the second, crashes. */
        TestDev *td = test_dev_new(1);
        td->mode = TEST_MODE_HOLD;
        td->hold_max = 4;
        test_dev_negotiate(td, mem, features, protocol);
        ASSERT_OK(vf_get_inflight_fd(td->conn, 1, QSIZE, &inf));
        ASSERT_OK(vf_set_inflight_fd(td->conn, inf));
        VfVring *vr = test_queue_start(td, mem, 0, QSIZE, false, false);

        add_chains(mem, vr, 6, heads);
        ASSERT_EQ(vf_vring_publish_kick(vr), 1);
        ASSERT_GE(test_dev_run(td, 1000), 1);
        ASSERT_EQ(td->nheld, 4);
        for (unsigned int i = 0; i < 4; i++)
                ASSERT_EQ(td->held[i]->index, heads[i]);

        VuVirtq *vq = vu_get_queue(&td->dev, 0);
        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.inflight, 4);
        vu_queue_push(&td->dev, vq, td->held[1], 0);
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.inflight, 3);
        test_dev_free(td); /* the crash: nothing else pushed */

        ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
        ASSERT_EQ(head, heads[1]);
        ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 0);

        /* Second backend, same guest memory, ring and inflight buffer. */
        td = test_dev_new(1);
        td->mode = TEST_MODE_HOLD;
        test_dev_negotiate(td, mem, features, protocol);
        ASSERT_OK(vf_set_inflight_fd(td->conn, inf));
        /* QEMU restarts a queue whose backend died at the used index. */
        ASSERT_OK(vf_vring_setup(td->conn, 0, vr, vf_vring_used(vr)->idx, false));
        ASSERT_OK(vf_set_vring_enable(td->conn, 0, true));
        vq = vu_get_queue(&td->dev, 0);
        ASSERT_TRUE(vu_queue_started(&td->dev, vq));
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.resubmit_pending, 3);

        ASSERT_OK(vf_vring_kick(vr));
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 5);
        const unsigned int order[5] = {0, 2, 3, 4, 5};
        for (unsigned int i = 0; i < 5; i++)
                ASSERT_EQ(td->held[i]->index, heads[order[i]]);
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.stats.resubmitted, 3);
        ASSERT_EQ(qi.resubmit_pending, 0);

        /* Completing them all hands every head back exactly once. */
        for (unsigned int i = 0; i < 5; i++)
                vu_queue_push(&td->dev, vq, td->held[i], 0);
        vu_queue_notify(&td->dev, vq);
        for (unsigned int i = 0; i < 5; i++) {
                ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
                ASSERT_EQ(head, heads[order[i]]);
        }
        ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 0);
        ASSERT_EQ(vf_vring_num_free(vr), QSIZE);
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.inflight, 0);
        ASSERT_EQ(td->panics, 0);

        test_dev_free(td);
        vf_vring_free(vr);
        vf_inflight_free(inf);
        vf_mem_free(mem);
}

/* A clean stop (GET_VRING_BASE) leaves nothing to resubmit on the next connection. */
static void test_clean_restart_resubmits_nothing(void) {
        VfMem *mem = test_mem_new(2, REGION_SIZE);
        VfInflight *inf;
        uint16_t heads[3], head;
        uint32_t len;
        unsigned int base;

        TestDev *td = test_dev_new(1);
        test_dev_negotiate(td, mem, features, protocol);
        ASSERT_OK(vf_get_inflight_fd(td->conn, 1, QSIZE, &inf));
        ASSERT_OK(vf_set_inflight_fd(td->conn, inf));
        VfVring *vr = test_queue_start(td, mem, 0, QSIZE, false, false);
        add_chains(mem, vr, 3, heads);
        vf_vring_publish_kick(vr);
        test_dev_run(td, 1000);
        for (unsigned int i = 0; i < 3; i++)
                ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
        ASSERT_OK(vf_get_vring_base(td->conn, 0, &base));
        ASSERT_EQ(base, 3);
        test_dev_free(td);

        td = test_dev_new(1);
        td->mode = TEST_MODE_HOLD;
        test_dev_negotiate(td, mem, features, protocol);
        ASSERT_OK(vf_set_inflight_fd(td->conn, inf));
        ASSERT_OK(vf_vring_setup(td->conn, 0, vr, base, false));
        ASSERT_OK(vf_set_vring_enable(td->conn, 0, true));
        ASSERT_OK(vf_vring_kick(vr));
        test_dev_run(td, 100);
        ASSERT_EQ(td->nheld, 0);

        test_dev_free(td);
        vf_vring_free(vr);
        vf_inflight_free(inf);
        vf_mem_free(mem);
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_resubmit_after_crash);
        RUN_TEST(test_clean_restart_resubmits_nothing);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
