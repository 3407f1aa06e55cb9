/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every request of the protocol, as a frontend sends it: each is accepted
 * or refused, and the frontend gets an answer wherever it waits for one
 * (replies, REPLY_ACK acks: 0 for accepted, non-zero for refused). After a
 * refusal the connection keeps working, no stray reply is left behind, the
 * fds the request carried are closed, and the message observer and
 * vu_last_error() say what happened.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)

typedef struct Seen {
        uint32_t request;
        int result;
} Seen;

static Seen seen[256];
static unsigned int nseen;

static void observer(VuDev *dev, const VhostUserMsg *msg, int result, void *userdata) {
        if (nseen < ELEMENTSOF(seen))
                seen[nseen++] = (Seen){(uint32_t) msg->request, result};
}

static const Seen *last_seen(void) {
        ASSERT_GE(nseen, 1);
        return &seen[nseen - 1];
}

/* Send @req with NEED_REPLY; returns 0 for an ack of success, 1 for an ack of failure. */
static int ack_of(TestDev *td, uint32_t req, const void *payload, uint32_t size, const int *fds,
                  unsigned int nfds) {
        int r = vf_request(td->conn, req, payload, size, fds, nfds, NULL);
        if (r == -EREMOTEIO)
                return 1;
        ASSERT_OK(r);
        return 0;
}

/* The connection still answers, with the right reply (nothing stray queued before it). */
static void assert_alive(TestDev *td) {
        uint64_t f;

        ASSERT_OK(vf_get_features(td->conn, &f));
        ASSERT_TRUE(f & F(VHOST_USER_F_PROTOCOL_FEATURES));
        ASSERT_EQ(td->panics, 0);
        ASSERT_FALSE(td->dev.broken);
}

static TestDev *setup(VfMem **ret_mem, uint64_t extra_protocol) {
        TestDev *td = test_dev_new(2);

        nseen = 0;
        vu_set_message_observer(&td->dev, observer, NULL);
        *ret_mem = test_mem_new(2, REGION_SIZE);
        test_dev_negotiate(td, *ret_mem, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX),
                           F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | extra_protocol);
        ASSERT_TRUE(vf_conn_reply_ack(td->conn));
        return td;
}

static void teardown(TestDev *td, VfMem *mem) {
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_features(void) {
        TestDev *td = test_dev_new(2);
        uint64_t f, pf;

        ASSERT_OK(vf_get_features(td->conn, &f));
        ASSERT_EQ(f & td->device_features, td->device_features);
        ASSERT_TRUE(f & F(VHOST_USER_F_PROTOCOL_FEATURES));

        ASSERT_OK(vf_get_protocol_features(td->conn, &pf));
        /* What a frontend counts on from any libvhost-user backend. */
        ASSERT_TRUE(pf & F(VHOST_USER_PROTOCOL_F_REPLY_ACK));
        ASSERT_TRUE(pf & F(VHOST_USER_PROTOCOL_F_MQ));
        ASSERT_TRUE(pf & F(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
        ASSERT_TRUE(pf & F(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
        /* The device asked for INFLIGHT_SHMFD and has get/set_config. */
        ASSERT_TRUE(pf & F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
        ASSERT_TRUE(pf & F(VHOST_USER_PROTOCOL_F_CONFIG));

        ASSERT_OK(vf_set_protocol_features(td->conn, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
                                                             F(VHOST_USER_PROTOCOL_F_MQ)));
        ASSERT_EQ(td->acked_protocol_features,
                  F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_MQ));
        ASSERT_OK(vf_set_owner(td->conn));
        uint64_t want =
                F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | F(VHOST_USER_F_PROTOCOL_FEATURES);
        ASSERT_OK(vf_set_features(td->conn, want));
        ASSERT_EQ(td->acked_features & ~F(VHOST_USER_F_PROTOCOL_FEATURES),
                  want & ~F(VHOST_USER_F_PROTOCOL_FEATURES));

        VuDevInfo info;
        vu_get_info(&td->dev, &info);
        ASSERT_TRUE(info.owner);
        ASSERT_EQ(info.features & want, want);
        ASSERT_EQ(info.protocol_features, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_MQ));
        ASSERT_EQ(info.max_queues, 2);

        uint64_t n;
        ASSERT_OK(vf_get_queue_num(td->conn, &n));
        ASSERT_EQ(n, 2);
        ASSERT_OK(vf_get_max_mem_slots(td->conn, &n));
        ASSERT_EQ(n, VHOST_USER_MAX_RAM_SLOTS);
        ASSERT_EQ(n, 509);
        assert_alive(td);
        test_dev_free(td);
}

static void test_vring_requests(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, 0);
        VfVring *vr;
        unsigned int base;

        ASSERT_OK(vf_vring_new(mem, 0, 64, true, &vr));
        ASSERT_OK(vf_vring_setup(td->conn, 1, vr, 7, false));
        ASSERT_OK(vf_set_vring_enable(td->conn, 1, true));
        ASSERT_OK(vf_set_vring_err(td->conn, 1, vf_vring_call_fd(vr)));
        VuVirtq *vq = vu_get_queue(&td->dev, 1);
        ASSERT_TRUE(vu_queue_started(&td->dev, vq));
        ASSERT_EQ(vq->last_avail_idx, 7);

        /* GET_VRING_BASE stops the queue and reports where it stopped. */
        ASSERT_OK(vf_get_vring_base(td->conn, 1, &base));
        ASSERT_EQ(base, 7);
        ASSERT_FALSE(vu_queue_started(&td->dev, vq));

        /* Restart it with NOFD kick/call (polling mode) and disable it. */
        ASSERT_OK(vf_set_vring_base(td->conn, 1, 9));
        ASSERT_OK(vf_set_vring_call(td->conn, 1, -1));
        ASSERT_OK(vf_set_vring_kick(td->conn, 1, -1));
        ASSERT_OK(vf_set_vring_enable(td->conn, 1, false));
        ASSERT_FALSE(vu_queue_enabled(&td->dev, vq));
        ASSERT_OK(vf_get_vring_base(td->conn, 1, &base));
        ASSERT_EQ(base, 9);

        /* Refusals, each with a failed ack and a named reason. */
        struct vhost_vring_state s = {.index = 2, .num = 64};
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 1);
        ASSERT_TRUE(last_seen()->result < 0);
        ASSERT_TRUE(strstr(vu_last_error(&td->dev), "2") != NULL);
        s = (struct vhost_vring_state){.index = 0, .num = VIRTQUEUE_MAX_SIZE * 2};
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 1);
        s.num = 0;
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0), 1);
        s = (struct vhost_vring_state){.index = 200, .num = 1};
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0), 1);
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_BASE, &s, sizeof(s), NULL, 0), 1);

        /* Ring addresses outside guest memory. */
        struct vhost_vring_addr a = {
                .index = 0,
                .desc_user_addr = 0x10,
                .avail_user_addr = 0x2000,
                .used_user_addr = 0x4000,
        };
        ASSERT_OK(vf_set_vring_num(td->conn, 0, 64));
        int r = ack_of(td, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
        /* Either refused at once or the queue never starts on it. */
        if (r == 0) {
                int kfd = eventfd(0, EFD_CLOEXEC);
                ASSERT_OK(vf_set_vring_kick(td->conn, 0, kfd));
                close(kfd);
                ASSERT_FALSE(vu_queue_started(&td->dev, vu_get_queue(&td->dev, 0)));
        }

        /* A refused kick with an fd: the library closes the fd it received. */
        unsigned int fds = test_count_fds();
        int efd = eventfd(0, EFD_CLOEXEC);
        uint64_t v = 5; /* queue 5 of 2 */
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &efd, 1), 1);
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_CALL, &v, sizeof(v), &efd, 1), 1);
        v = 0 | VHOST_USER_VRING_NOFD_MASK; /* NOFD, yet an fd */
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_VRING_ERR, &v, sizeof(v), &efd, 1), 1);
        close(efd);
        ASSERT_EQ(test_count_fds(), fds);

        assert_alive(td);
        vf_vring_free(vr);
        teardown(td, mem);
}

static void test_config_status(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, F(VHOST_USER_PROTOCOL_F_CONFIG) | F(VHOST_USER_PROTOCOL_F_STATUS));
        uint8_t buf[64], want[64];

        ASSERT_OK(vf_get_config(td->conn, 0, 32, buf));
        ASSERT_MEMEQ(buf, td->config, 32);

        for (unsigned int i = 0; i < 8; i++)
                want[i] = (uint8_t) (0xa0 + i);
        ASSERT_OK(vf_set_config(td->conn, 4, want, 8));
        ASSERT_EQ(td->set_config_calls, 1);
        ASSERT_MEMEQ(td->config + 4, want, 8);
        ASSERT_OK(vf_get_config(td->conn, 0, 16, buf));
        ASSERT_MEMEQ(buf + 4, want, 8);

        /* Beyond the largest config space: refused, before the device sees it. */
        VhostUserConfig cfg = {.offset = VHOST_USER_MAX_CONFIG_SIZE - 4, .size = 8};
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_CONFIG, &cfg, VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0), 1);
        ASSERT_EQ(td->set_config_calls, 1);

        uint8_t status = 0xff;
        ASSERT_OK(vf_set_status(td->conn, 0x0f));
        ASSERT_OK(vf_get_status(td->conn, &status));
        ASSERT_EQ(status, 0x0f);
        VuDevInfo info;
        vu_get_info(&td->dev, &info);
        ASSERT_EQ(info.status, 0x0f);

        assert_alive(td);
        teardown(td, mem);
}

static void test_memory_requests(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, F(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS));
        VuRegionInfo regs[8];

        ASSERT_EQ(vu_get_regions(&td->dev, regs, 8), 2);
        ASSERT_EQ(regs[0].gpa, vf_mem_region(mem, 0)->gpa);
        ASSERT_EQ(regs[1].size, REGION_SIZE);

        int idx = vf_mem_add_region(mem, 0x10000000, REGION_SIZE);
        ASSERT_OK(idx);
        ASSERT_OK(vf_add_mem_reg(td->conn, mem, (unsigned int) idx));
        ASSERT_EQ(vu_get_regions(&td->dev, regs, 8), 3);
        ASSERT_OK(vf_rem_mem_reg(td->conn, mem, (unsigned int) idx));
        ASSERT_EQ(vu_get_regions(&td->dev, regs, 8), 2);

        /* Removing a region that is not there is refused. */
        ASSERT_ERR(vf_rem_mem_reg(td->conn, mem, (unsigned int) idx), -EREMOTEIO);
        /* An overlapping region is refused, and its fd closed. */
        unsigned int fds = test_count_fds();
        VhostUserMemRegMsg m = {};
        vf_mem_describe(mem, 0, &m.region);
        m.region.guest_phys_addr += VF_PAGE_SIZE;
        m.region.memory_size = VF_PAGE_SIZE;
        int rfd = vf_mem_region(mem, 0)->fd;
        ASSERT_EQ(ack_of(td, VHOST_USER_ADD_MEM_REG, &m, sizeof(m), &rfd, 1), 1);
        ASSERT_EQ(test_count_fds(), fds);
        ASSERT_EQ(vu_get_regions(&td->dev, regs, 8), 2);

        /* A new table replaces the old one. */
        ASSERT_OK(vf_mem_remove_region(mem, (unsigned int) idx));
        ASSERT_OK(vf_mem_remove_region(mem, 1));
        ASSERT_OK(vf_set_mem_table(td->conn, mem));
        ASSERT_EQ(vu_get_regions(&td->dev, regs, 8), 1);

        assert_alive(td);
        teardown(td, mem);
}

static void test_log_inflight_backend_channel(void) {
        VfMem *mem;
        TestDev *td =
                setup(&mem, F(VHOST_USER_PROTOCOL_F_LOG_SHMFD) | F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
                                    F(VHOST_USER_PROTOCOL_F_SLAVE_REQ));
        VfLog *log;
        VfInflight *inf;

        ASSERT_OK(vf_log_new(64 * 1024 * 1024, &log));
        ASSERT_OK(vf_set_log_base(td->conn, log));
        int efd = eventfd(0, EFD_CLOEXEC);
        ASSERT_OK(vf_set_log_fd(td->conn, efd));
        close(efd);
        VuLogInfo li;
        vu_get_log_info(&td->dev, &li);
        ASSERT_TRUE(li.active);
        ASSERT_EQ(li.size, log->size);

        ASSERT_OK(vf_get_inflight_fd(td->conn, 2, 128, &inf));
        ASSERT_GE(inf->mmap_size, 2 * (sizeof(VuVirtqInflight) + 128 * sizeof(VuDescStateSplit)));
        ASSERT_OK(vf_set_inflight_fd(td->conn, inf));
        VuDevInfo info;
        vu_get_info(&td->dev, &info);
        ASSERT_TRUE(info.inflight);

        int sv[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_SLAVE_REQ_FD, NULL, 0, &sv[1], 1), 0);
        vu_get_info(&td->dev, &info);
        ASSERT_TRUE(info.backend_channel);
        close(sv[0]);
        close(sv[1]);

        assert_alive(td);
        vf_inflight_free(inf);
        vf_log_free(log);
        teardown(td, mem);
}

/* Requests this library does not serve: refused with an answer, connection intact, fds closed. */
static void test_unserved_requests(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, 0);
        unsigned int fds = test_count_fds();
        int efd = eventfd(0, EFD_CLOEXEC);
        uint64_t u = 0;
        VfMsg reply;
        uint8_t crypto[64] = {};

        /* Features not negotiated, or device-specific with no device handler. */
        /* CREATE_CRYPTO_SESSION has a reply of its own (the session id): an empty one says refused. */
        ASSERT_ERR(vf_request(td->conn, VHOST_USER_CREATE_CRYPTO_SESSION, crypto, sizeof(crypto), NULL, 0, &reply),
                   -EREMOTEIO);
        ASSERT_EQ(ack_of(td, VHOST_USER_CLOSE_CRYPTO_SESSION, &u, sizeof(u), NULL, 0), 1);
        ASSERT_EQ(ack_of(td, VHOST_USER_GPU_SET_SOCKET, NULL, 0, &efd, 1), 1);
        struct vhost_vring_state s = {.index = 0, .num = 0};
        ASSERT_EQ(ack_of(td, VHOST_USER_VRING_KICK, &s, sizeof(s), NULL, 0),
                  1); /* no INBAND_NOTIFICATIONS */

        /* IOTLB_MSG always has a reply: non-zero, no IOMMU here. */
        uint8_t iotlb[sizeof(uint64_t) * 4 + 8] = {};
        ASSERT_OK(vf_request(td->conn, VHOST_USER_IOTLB_MSG, iotlb, sizeof(iotlb), NULL, 0, &reply));
        vf_msg_close_fds(&reply);
        ASSERT_EQ(reply.size, 8);
        ASSERT_NE(reply.payload.u64, 0);

        /* Requests that are answered either way: an answer must come. */
        u = 0;
        (void) ack_of(td, VHOST_USER_SEND_RARP, &u, sizeof(u), NULL, 0);
        u = 1500;
        (void) ack_of(td, VHOST_USER_NET_SET_MTU, &u, sizeof(u), NULL, 0);
        s = (struct vhost_vring_state){.index = 0, .num = 0};
        (void) ack_of(td, VHOST_USER_SET_VRING_ENDIAN, &s, sizeof(s), NULL, 0);
        (void) ack_of(td, VHOST_USER_RESET_OWNER, NULL, 0, NULL, 0);

        /* Unknown requests and NONE. */
        ASSERT_EQ(ack_of(td, VHOST_USER_MAX, NULL, 0, NULL, 0), 1);
        ASSERT_EQ(ack_of(td, 9999, NULL, 0, NULL, 0), 1);
        ASSERT_EQ(ack_of(td, VHOST_USER_NONE, NULL, 0, NULL, 0), 1);
        ASSERT_TRUE(last_seen()->result < 0);
        ASSERT_TRUE(vu_last_error(&td->dev)[0] != '\0');

        /* A wrong payload size for a known request. */
        ASSERT_EQ(ack_of(td, VHOST_USER_SET_FEATURES, &u, 4, NULL, 0), 1);
        ASSERT_TRUE(strstr(vu_last_error(&td->dev), "FEATURES") != NULL);

        close(efd);
        ASSERT_EQ(test_count_fds(), fds);
        assert_alive(td);

        VuDevInfo info;
        vu_get_info(&td->dev, &info);
        ASSERT_GE(info.messages_refused, 8);
        teardown(td, mem);
}

/* Without NEED_REPLY nothing answers a refusal: the next reply is the next request's own. */
static void test_refusal_without_ack(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, 0);
        struct vhost_vring_state s = {.index = 7, .num = 64};

        vf_conn_set_reply_ack(td->conn, false);
        ASSERT_OK(vf_request(td->conn, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0, NULL));
        ASSERT_OK(vf_request(td->conn, 9999, NULL, 0, NULL, 0, NULL));
        ASSERT_EQ(last_seen()->request, 9999);
        ASSERT_TRUE(last_seen()->result < 0);
        assert_alive(td);

        /* Accepted requests with NEED_REPLY get a zero ack. */
        vf_conn_set_reply_ack(td->conn, true);
        ASSERT_OK(vf_set_vring_num(td->conn, 0, 64));
        ASSERT_EQ(last_seen()->result, 0);
        teardown(td, mem);
}

static void test_reset_device(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, F(VHOST_USER_PROTOCOL_F_RESET_DEVICE));
        VfVring *vr = test_queue_start(td, mem, 0, 64, true, false);

        ASSERT_OK(vf_reset_device(td->conn));
        ASSERT_FALSE(vu_queue_started(&td->dev, vu_get_queue(&td->dev, 0)));
        assert_alive(td);

        vf_vring_free(vr);
        teardown(td, mem);
}

/* Postcopy may be impossible here (no userfaultfd): whatever happens, the frontend gets its answers. */
static void test_postcopy_answers(void) {
        VfMem *mem;
        TestDev *probe = test_dev_new(1);
        uint64_t offered;
        VfMsg reply;

        /* PAGEFAULT is offered only where this process may open a userfaultfd. */
        ASSERT_OK(vf_get_protocol_features(probe->conn, &offered));
        test_dev_free(probe);
        bool pagefault = offered & F(VHOST_USER_PROTOCOL_F_PAGEFAULT);
        if (!pagefault)
                fprintf(stderr, "PAGEFAULT not offered here (no userfaultfd): postcopy refusals only\n");
        TestDev *td = setup(&mem, pagefault ? F(VHOST_USER_PROTOCOL_F_PAGEFAULT) : 0);

        int r = vf_request(td->conn, VHOST_USER_POSTCOPY_ADVISE, NULL, 0, NULL, 0, &reply);
        ASSERT_TRUE(r == 0 || r == -EREMOTEIO);
        if (r == 0)
                vf_msg_close_fds(&reply);
        (void) ack_of(td, VHOST_USER_POSTCOPY_LISTEN, NULL, 0, NULL, 0);
        if (pagefault) {
                ASSERT_TRUE(td->dev.postcopy_listening);
                /*
                 * While listening, QEMU waits for the region reply to ADD_MEM_REG
                 * without NEED_REPLY: a refused region (this one overlaps region 0)
                 * must still be answered, empty, or QEMU hangs.
                 */
                VhostUserMemRegMsg m = {.region = {.guest_phys_addr = 0x100000, .memory_size = 4096}};
                int efd = eventfd(0, EFD_CLOEXEC);
                ASSERT_OK(vf_send(td->conn, VHOST_USER_ADD_MEM_REG, 1, &m, sizeof(m), &efd, 1));
                close(efd);
                ASSERT_OK(vf_recv(td->conn, &reply));
                ASSERT_EQ(reply.request, VHOST_USER_ADD_MEM_REG);
                ASSERT_EQ(reply.size, 0);
                vf_msg_close_fds(&reply);
        }
        r = vf_request(td->conn, VHOST_USER_POSTCOPY_END, NULL, 0, NULL, 0, &reply);
        ASSERT_TRUE(r == 0 || r == -EREMOTEIO);
        if (r == 0) {
                vf_msg_close_fds(&reply);
                ASSERT_EQ(reply.size, 8);
        }
        assert_alive(td);
        teardown(td, mem);
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_features);
        RUN_TEST(test_vring_requests);
        RUN_TEST(test_config_status);
        RUN_TEST(test_memory_requests);
        RUN_TEST(test_log_inflight_backend_channel);
        RUN_TEST(test_unserved_requests);
        RUN_TEST(test_refusal_without_ack);
        RUN_TEST(test_reset_device);
        RUN_TEST(test_postcopy_answers);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
