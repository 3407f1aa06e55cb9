/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dispatcher's contract with a device written against the original
 * library: what process_msg may keep and send back, requests newer than
 * the library reaching the device, NEED_REPLY answered without REPLY_ACK,
 * a queue handler set once surviving a ring restart, and a log fd that
 * cannot block the data path.
 */
#include <fcntl.h>
#include <sys/eventfd.h>

#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)

/* A request number above every one the library knows. */
#define DEVICE_PRIVATE_REQUEST 77
#define BIG_REPLY 1000

static int kept_fd = -EBADF, sent_fd = -EBADF;
static unsigned int private_calls;

static int device_process_msg(VuDev *dev, VhostUserMsg *msg, int *do_reply) {
        static uint8_t big[BIG_REPLY];

        switch (msg->request) {
        case VHOST_USER_GPU_SET_SOCKET:
                /* What QEMU's vhost-user-gpu does: keep the fd, leave msg->fds alone. */
                kept_fd = msg->fds[0];
                return 1;
        case DEVICE_PRIVATE_REQUEST:
                private_calls++;
                /* A reply bigger than the payload union, from msg->data, with one fd. */
                for (unsigned int i = 0; i < sizeof(big); i++)
                        big[i] = (uint8_t) (i * 7);
                msg->data = malloc(sizeof(big));
                ASSERT_NOT_NULL(msg->data);
                memcpy(msg->data, big, sizeof(big));
                msg->size = sizeof(big);
                msg->fds[0] = sent_fd = eventfd(0, EFD_CLOEXEC);
                msg->fd_num = 1;
                *do_reply = 1;
                return 1;
        default:
                return 0;
        }
}

static TestDev *setup(VfMem **ret_mem, uint64_t protocol_features) {
        TestDev *td = test_dev_new(1);

        td->iface.process_msg = device_process_msg;
        *ret_mem = test_mem_new(1, REGION_SIZE);
        test_dev_negotiate(td, *ret_mem, F(VIRTIO_F_VERSION_1), protocol_features);
        return td;
}

static void test_process_msg_keeps_fds(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, F(VHOST_USER_PROTOCOL_F_REPLY_ACK));
        unsigned int fds = test_count_fds();
        int efd = eventfd(0, EFD_CLOEXEC);

        ASSERT_OK(vf_request(td->conn, VHOST_USER_GPU_SET_SOCKET, NULL, 0, &efd, 1, NULL));
        close(efd);
        /* The device's copy is open and usable after vu_dispatch() returned. */
        ASSERT_GE(kept_fd, 0);
        ASSERT_GE(fcntl(kept_fd, F_GETFD), 0);
        uint64_t one = 1;
        ASSERT_EQ(write(kept_fd, &one, sizeof(one)), (ssize_t) sizeof(one));
        ASSERT_EQ(test_count_fds(), fds + 1);
        close(kept_fd);
        kept_fd = -EBADF;
        ASSERT_EQ(test_count_fds(), fds);

        ASSERT_EQ(td->panics, 0);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_process_msg_new_request_and_big_reply(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, F(VHOST_USER_PROTOCOL_F_REPLY_ACK));
        unsigned int fds = test_count_fds();
        VfMsg reply;

        private_calls = 0;
        ASSERT_OK(vf_send(td->conn, DEVICE_PRIVATE_REQUEST, 1, NULL, 0, NULL, 0));
        ASSERT_OK(vf_recv(td->conn, &reply));
        ASSERT_EQ(private_calls, 1);
        ASSERT_EQ(reply.request, DEVICE_PRIVATE_REQUEST);
        ASSERT_TRUE(reply.flags & VHOST_USER_REPLY_MASK);
        ASSERT_EQ(reply.size, BIG_REPLY);
        for (unsigned int i = 0; i < BIG_REPLY; i++)
                if (reply.payload.bytes[i] != (uint8_t) (i * 7))
                        TEST_FAIL("reply byte %u is 0x%02x", i, reply.payload.bytes[i]);
        ASSERT_EQ(reply.nfds, 1);
        vf_msg_close_fds(&reply);
        /* The device's reply fd was sent, not kept; msg->data was freed (LeakSanitizer checks). */
        ASSERT_EQ(test_count_fds(), fds + 1);
        close(sent_fd);

        /* A request the device does not take either is refused, and the connection lives. */
        ASSERT_ERR(vf_request(td->conn, DEVICE_PRIVATE_REQUEST + 1, NULL, 0, NULL, 0, NULL), -EREMOTEIO);
        ASSERT_TRUE(strstr(vu_last_error(&td->dev), "unknown request 78") != NULL);
        uint64_t f;
        ASSERT_OK(vf_get_features(td->conn, &f));

        ASSERT_EQ(td->panics, 0);
        test_dev_free(td);
        vf_mem_free(mem);
}

/* NEED_REPLY is answered even without REPLY_ACK (QEMU sets it on POSTCOPY_LISTEN regardless). */
static void test_need_reply_without_reply_ack(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, 0);
        struct vhost_vring_state s = {.index = 0, .num = 64};
        VfMsg reply;

        ASSERT_FALSE(vf_conn_reply_ack(td->conn));
        ASSERT_OK(vf_send(td->conn, VHOST_USER_SET_VRING_NUM, 1 | VHOST_USER_NEED_REPLY_MASK, &s, sizeof(s),
                          NULL, 0));
        ASSERT_OK(vf_recv(td->conn, &reply));
        ASSERT_EQ(reply.request, VHOST_USER_SET_VRING_NUM);
        ASSERT_EQ(reply.size, sizeof(uint64_t));
        ASSERT_EQ(reply.payload.u64, 0);

        s.index = 9;
        ASSERT_OK(vf_send(td->conn, VHOST_USER_SET_VRING_NUM, 1 | VHOST_USER_NEED_REPLY_MASK, &s, sizeof(s),
                          NULL, 0));
        ASSERT_OK(vf_recv(td->conn, &reply));
        ASSERT_EQ(reply.request, VHOST_USER_SET_VRING_NUM);
        ASSERT_NE(reply.payload.u64, 0);

        ASSERT_EQ(td->panics, 0);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void started_without_handler(VuDev *dev, int qidx, bool started) {
        (void) dev;
        (void) qidx;
        (void) started;
}

/* A device that set its handler once (not in queue_set_started) is served after a ring restart. */
static void test_handler_survives_restart(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, F(VHOST_USER_PROTOCOL_F_REPLY_ACK));
        uint64_t out, in;
        uint16_t head, got;
        uint32_t len;
        unsigned int base;

        td->iface.queue_set_started = started_without_handler;
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, false);
        vu_set_queue_handler(&td->dev, vu_get_queue(&td->dev, 0), test_dev_queue_handler);

        ASSERT_OK(vf_mem_alloc(mem, 0, 64, 8, &out));
        ASSERT_OK(vf_mem_alloc(mem, 0, 64, 8, &in));
        VfBuf b[2] = {{.gpa = out, .len = 64}, {.gpa = in, .len = 64, .write = true}};
        for (unsigned int round = 0; round < 2; round++) {
                ASSERT_OK(vf_vring_add(vr, b, 2, false, &head));
                vf_vring_publish(vr);
                ASSERT_OK(vf_vring_kick(vr));
                ASSERT_GE(test_dev_run(td, 1000), 1);
                ASSERT_EQ(vf_vring_get_used(vr, &got, &len), 1);
                ASSERT_EQ(got, head);
                ASSERT_EQ(len, 64);

                /* Stop the ring (GET_VRING_BASE) and start it again where it was. */
                ASSERT_OK(vf_get_vring_base(td->conn, 0, &base));
                ASSERT_OK(vf_vring_setup(td->conn, 0, vr, base, false));
                ASSERT_TRUE(vu_queue_started(&td->dev, vu_get_queue(&td->dev, 0)));
        }

        ASSERT_EQ(td->panics, 0);
        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/* The log eventfd is signalled from the data path: a blocking fd is made non-blocking. */
static void test_log_fd_nonblocking(void) {
        VfMem *mem;
        TestDev *td = setup(&mem, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) | F(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
        int p[2];

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_FALSE(fcntl(p[1], F_GETFL) & O_NONBLOCK);
        ASSERT_OK(vf_set_log_fd(td->conn, p[1]));
        /* Same open file description: the flag set on the backend's copy shows here. */
        ASSERT_TRUE(fcntl(p[1], F_GETFL) & O_NONBLOCK);

        close(p[0]);
        close(p[1]);
        ASSERT_EQ(td->panics, 0);
        test_dev_free(td);
        vf_mem_free(mem);
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_process_msg_keeps_fds);
        RUN_TEST(test_process_msg_new_request_and_big_reply);
        RUN_TEST(test_need_reply_without_reply_ack);
        RUN_TEST(test_handler_survives_restart);
        RUN_TEST(test_log_fd_nonblocking);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
