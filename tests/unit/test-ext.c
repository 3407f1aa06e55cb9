/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The extension API (libvhost-user-ext.h) as a control socket uses it:
 * queue snapshots agree with what the frontend's ring says, region and
 * device snapshots agree with the memory table, counters count, the
 * message observer sees every message in order with its outcome, the log
 * handler hears refusals, guest reads cross regions, and the name tables
 * name things.
 */
#include <syslog.h>

#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)

typedef struct Observed {
        uint32_t request[64];
        int result[64];
        unsigned int n;
} Observed;

static void observe(VuDev *dev, const VhostUserMsg *msg, int result, void *userdata) {
        Observed *o = userdata;

        if (o->n < ELEMENTSOF(o->request)) {
                o->request[o->n] = (uint32_t) msg->request;
                o->result[o->n++] = result;
        }
}

typedef struct Logged {
        unsigned int errors;
        char last[256];
} Logged;

static void log_handler(VuDev *dev, int priority, const char *msg, void *userdata) {
        Logged *l = userdata;

        if (priority <= LOG_WARNING) {
                l->errors++;
                snprintf(l->last, sizeof(l->last), "%s", msg);
        }
}

static void test_observer_and_log(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(2, REGION_SIZE);
        Observed o = {};
        Logged l = {};

        vu_set_message_observer(&td->dev, observe, &o);
        vu_set_log_handler(&td->dev, log_handler, &l);
        test_dev_negotiate(td, mem, F(VIRTIO_F_VERSION_1), F(VHOST_USER_PROTOCOL_F_REPLY_ACK));

        const uint32_t want[] = {
                VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES, VHOST_USER_SET_PROTOCOL_FEATURES,
                VHOST_USER_SET_OWNER,    VHOST_USER_SET_FEATURES,          VHOST_USER_SET_MEM_TABLE,
        };
        ASSERT_EQ(o.n, ELEMENTSOF(want));
        for (unsigned int i = 0; i < ELEMENTSOF(want); i++) {
                ASSERT_EQ(o.request[i], want[i]);
                ASSERT_EQ(o.result[i], 0);
        }
        ASSERT_EQ(l.errors, 0);
        ASSERT_STREQ(vu_last_error(&td->dev), "");

        /* A refusal: observed with its errno, logged, and vu_last_error() names request and value. */
        ASSERT_ERR(vf_set_vring_num(td->conn, 3, 64), -EREMOTEIO);
        ASSERT_EQ(o.n, ELEMENTSOF(want) + 1);
        ASSERT_EQ(o.request[o.n - 1], VHOST_USER_SET_VRING_NUM);
        ASSERT_TRUE(o.result[o.n - 1] < 0);
        ASSERT_GE(l.errors, 1);
        ASSERT_TRUE(strstr(vu_last_error(&td->dev), "SET_VRING_NUM") != NULL);
        ASSERT_TRUE(strstr(vu_last_error(&td->dev), "3") != NULL);

        VuDevInfo info;
        vu_get_info(&td->dev, &info);
        ASSERT_EQ(info.messages, ELEMENTSOF(want) + 1);
        ASSERT_EQ(info.messages_refused, 1);

        /* Detach: nothing more is observed. */
        vu_set_message_observer(&td->dev, NULL, NULL);
        uint64_t f;
        ASSERT_OK(vf_get_features(td->conn, &f));
        ASSERT_EQ(o.n, ELEMENTSOF(want) + 1);

        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_queue_info_agrees_with_ring(void) {
        TestDev *td = test_dev_new(2);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        VuQueueInfo qi;
        uint64_t buf[8];
        uint16_t head;
        uint32_t len;

        test_dev_negotiate(td, mem, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX),
                           F(VHOST_USER_PROTOCOL_F_REPLY_ACK));
        ASSERT_ERR(vu_queue_get_info(&td->dev, 2, &qi), -EINVAL);
        ASSERT_OK(vu_queue_get_info(&td->dev, 1, &qi));
        ASSERT_FALSE(qi.started);
        ASSERT_EQ(qi.size, 0);

        VfVring *vr = test_queue_start(td, mem, 1, 128, true, false);
        ASSERT_OK(vu_queue_get_info(&td->dev, 1, &qi));
        ASSERT_EQ(qi.index, 1);
        ASSERT_EQ(qi.size, 128);
        ASSERT_TRUE(qi.enabled);
        ASSERT_TRUE(qi.started);
        ASSERT_TRUE(qi.ready);
        ASSERT_TRUE(qi.event_idx);
        ASSERT_FALSE(qi.packed);
        ASSERT_TRUE(qi.kick_fd);
        ASSERT_TRUE(qi.call_fd);
        ASSERT_FALSE(qi.logging);
        ASSERT_EQ(qi.desc_user_addr, vf_mem_qva(mem, vf_vring_desc_gpa(vr)));
        ASSERT_EQ(qi.avail_user_addr, vf_mem_qva(mem, vf_vring_avail_gpa(vr)));
        ASSERT_EQ(qi.used_user_addr, vf_mem_qva(mem, vf_vring_used_gpa(vr)));

        uint64_t d, a, u;
        ASSERT_OK(vu_queue_get_ring_gpas(&td->dev, 1, &d, &a, &u));
        ASSERT_EQ(d, vf_vring_desc_gpa(vr));
        ASSERT_EQ(a, vf_vring_avail_gpa(vr));
        ASSERT_EQ(u, vf_vring_used_gpa(vr));
        ASSERT_ERR(vu_queue_get_ring_gpas(&td->dev, 0, &d, &a, &u), -ENXIO);

        /* Five chains of 100 readable + 300 writable bytes; the device holds three. */
        td->mode = TEST_MODE_HOLD;
        td->hold_max = 3;
        uint64_t out, in;
        ASSERT_OK(vf_mem_alloc(mem, 1, 100, 8, &out));
        ASSERT_OK(vf_mem_alloc(mem, 2, 300, 8, &in));
        VfBuf b[2] = {{.gpa = out, .len = 100}, {.gpa = in, .len = 300, .write = true}};
        for (unsigned int i = 0; i < 5; i++)
                ASSERT_OK(vf_vring_add(vr, b, 2, false, &head));
        vf_vring_set_used_event(vr, 2);
        ASSERT_EQ(vf_vring_publish_kick(vr), 1);
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 3);

        VuVirtq *vq = vu_get_queue(&td->dev, 1);
        vu_queue_push(&td->dev, vq, td->held[0], 250);
        vu_queue_notify(&td->dev, vq);

        ASSERT_OK(vu_queue_get_info(&td->dev, 1, &qi));
        ASSERT_EQ(qi.last_avail_idx, 3);
        ASSERT_EQ(qi.avail_idx, vf_vring_avail(vr)->idx);
        ASSERT_EQ(qi.avail_idx, 5);
        ASSERT_EQ(qi.avail_flags, vf_vring_avail(vr)->flags);
        ASSERT_EQ(qi.used_idx, 1);
        ASSERT_EQ(qi.ring_used_idx, vf_vring_used(vr)->idx);
        ASSERT_EQ(qi.ring_used_idx, 1);
        ASSERT_EQ(qi.used_flags, vf_vring_used(vr)->flags);
        ASSERT_EQ(qi.used_event, 2);
        ASSERT_EQ(qi.avail_event, vf_vring_avail_event(vr));
        ASSERT_EQ(qi.inuse, 2);
        ASSERT_EQ(qi.stats.kicks, 1);
        ASSERT_EQ(qi.stats.popped, 3);
        ASSERT_EQ(qi.stats.pushed, 1);
        ASSERT_EQ(qi.stats.bytes_out, 300);
        ASSERT_EQ(qi.stats.bytes_in, 250);
        ASSERT_EQ(qi.stats.calls_sent, 1);
        ASSERT_TRUE(qi.signalled_used_valid);
        ASSERT_EQ(qi.signalled_used, 1);

        ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
        ASSERT_EQ(len, 250);

        vu_queue_reset_stats(&td->dev, 1);
        ASSERT_OK(vu_queue_get_info(&td->dev, 1, &qi));
        ASSERT_EQ(qi.stats.popped, 0);
        ASSERT_EQ(qi.stats.kicks, 0);
        ASSERT_EQ(qi.inuse, 2); /* state, not a counter */

        VuDevInfo info;
        vu_get_info(&td->dev, &info);
        ASSERT_EQ(info.queues_started, 1);
        ASSERT_EQ(info.nregions, 3);

        /* Guest reads through the library, compared with what the frontend sees. */
        ASSERT_OK(vu_guest_read(&td->dev, vf_vring_avail_gpa(vr), buf, 4));
        ASSERT_MEMEQ(buf, vf_vring_avail(vr), 4);
        ASSERT_ERR(vu_guest_read(&td->dev, 0x10, buf, 8), -EFAULT);

        test_dev_free(td);
        vf_vring_free(vr);
        vf_mem_free(mem);
}

static void test_regions_and_guest_read(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem;
        VuRegionInfo r[4];
        uint8_t want[8192], got[8192];

        ASSERT_OK(vf_mem_new(&mem));
        ASSERT_OK(vf_mem_add_region(mem, 0x100000, REGION_SIZE));
        ASSERT_OK(vf_mem_add_region(mem, 0x200000, REGION_SIZE)); /* adjacent */
        ASSERT_OK(vf_mem_add_region(mem, 0x800000, REGION_SIZE));
        test_dev_negotiate(td, mem, F(VIRTIO_F_VERSION_1), F(VHOST_USER_PROTOCOL_F_REPLY_ACK));

        ASSERT_EQ(vu_get_regions(&td->dev, r, 2), 3); /* count even when @max is smaller */
        ASSERT_EQ(vu_get_regions(&td->dev, r, 4), 3);
        for (unsigned int i = 0; i < 3; i++) {
                const VfRegion *fr = vf_mem_region(mem, i);
                bool found = false;
                for (unsigned int j = 0; j < 3; j++) {
                        if (r[j].gpa != fr->gpa)
                                continue;
                        found = true;
                        ASSERT_EQ(r[j].size, fr->size);
                        ASSERT_EQ(r[j].qva, (uint64_t) (uintptr_t) fr->host);
                        ASSERT_EQ(r[j].mmap_offset, fr->mmap_offset);
                        /* host_addr is where the device sees the same bytes. */
                        test_fill_pattern(fr->host, 64, i);
                        ASSERT_MEMEQ((void *) (uintptr_t) r[j].host_addr, fr->host, 64);
                }
                ASSERT_TRUE(found);
        }

        /* A read across the boundary of two adjacent regions. */
        test_fill_pattern(vf_mem_gpa(mem, 0x200000 - 4096, 4096), 4096, 9);
        test_fill_pattern(vf_mem_gpa(mem, 0x200000, 4096), 4096, 10);
        memcpy(want, vf_mem_gpa(mem, 0x200000 - 4096, 4096), 4096);
        memcpy(want + 4096, vf_mem_gpa(mem, 0x200000, 4096), 4096);
        ASSERT_OK(vu_guest_read(&td->dev, 0x200000 - 4096, got, sizeof(got)));
        ASSERT_MEMEQ(got, want, sizeof(got));
        /* Across a gap: refused. */
        ASSERT_ERR(vu_guest_read(&td->dev, 0x300000 - 16, got, 32), -EFAULT);

        uint64_t plen = 8192;
        uint8_t *p = vu_gpa_to_va(&td->dev, &plen, 0x200000 - 4096);
        ASSERT_NOT_NULL(p);
        ASSERT_EQ(plen, 4096); /* contiguous only up to the region's end */
        ASSERT_MEMEQ(p, want, 4096);

        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_names(void) {
        ASSERT_STREQ(vu_request_to_string(VHOST_USER_SET_MEM_TABLE), "VHOST_USER_SET_MEM_TABLE");
        ASSERT_STREQ(vu_request_to_string(VHOST_USER_GET_STATUS), "VHOST_USER_GET_STATUS");
        ASSERT_STREQ(vu_request_to_string(1000), "unknown");
        ASSERT_STREQ(vu_virtio_feature_name(VIRTIO_RING_F_EVENT_IDX), "EVENT_IDX");
        ASSERT_STREQ(vu_virtio_feature_name(VIRTIO_RING_F_INDIRECT_DESC), "INDIRECT_DESC");
        ASSERT_STREQ(vu_virtio_feature_name(VIRTIO_F_VERSION_1), "VERSION_1");
        ASSERT_STREQ(vu_protocol_feature_name(VHOST_USER_PROTOCOL_F_REPLY_ACK), "REPLY_ACK");
        ASSERT_STREQ(vu_protocol_feature_name(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS),
                     "CONFIGURE_MEM_SLOTS");
        ASSERT_NULL(vu_protocol_feature_name(63));
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_observer_and_log);
        RUN_TEST(test_queue_info_agrees_with_ring);
        RUN_TEST(test_regions_and_guest_read);
        RUN_TEST(test_names);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
