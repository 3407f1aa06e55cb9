/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unit tests' fixture: a VuDev on one end of a socketpair, the test
 * frontend on the other, a poll() watch table for set_watch/remove_watch,
 * and an echo device. See harness.h.
 */
#include <dirent.h>
#include <poll.h>
#include <sys/uio.h>

#include "harness.h"
#include "macro.h"

unsigned int test_count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned int n = 0;

        if (!d)
                TEST_FAIL("opendir(/proc/self/fd): %m");
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own fd */
}

void test_fill_pattern(void *buf, size_t len, unsigned int seed) {
        uint8_t *p = buf;
        uint32_t x = seed * 2654435761u + 1;

        for (size_t i = 0; i < len; i++) {
                x = x * 1103515245u + 12345u;
                p[i] = (uint8_t) (x >> 16);
        }
}

static TestDev *td_of(VuDev *dev) {
        return (TestDev *) dev;
}

static void td_panic(VuDev *dev, const char *err) {
        TestDev *td = td_of(dev);

        td->panics++;
        snprintf(td->panic_msg, sizeof(td->panic_msg), "%s", err ? err : "");
        fprintf(stderr, "(backend panic: %s)\n", td->panic_msg);
}

static void td_set_watch(VuDev *dev, int fd, int condition, vu_watch_cb cb, void *data) {
        TestDev *td = td_of(dev);

        for (unsigned int i = 0; i < td->nwatches; i++)
                if (td->watches[i].fd == fd) {
                        td->watches[i] = (TestWatch){fd, condition, cb, data};
                        return;
                }
        if (td->nwatches >= TEST_MAX_WATCHES)
                TEST_FAIL("too many watches (%u)", td->nwatches);
        td->watches[td->nwatches++] = (TestWatch){fd, condition, cb, data};
}

static void td_remove_watch(VuDev *dev, int fd) {
        TestDev *td = td_of(dev);

        for (unsigned int i = 0; i < td->nwatches; i++)
                if (td->watches[i].fd == fd) {
                        td->watches[i] = td->watches[--td->nwatches];
                        return;
                }
}

static uint64_t td_get_features(VuDev *dev) {
        return td_of(dev)->device_features;
}

static void td_set_features(VuDev *dev, uint64_t features) {
        td_of(dev)->acked_features = features;
}

static uint64_t td_get_protocol_features(VuDev *dev) {
        return td_of(dev)->device_protocol_features;
}

static void td_set_protocol_features(VuDev *dev, uint64_t features) {
        td_of(dev)->acked_protocol_features = features;
}

static int td_get_config(VuDev *dev, uint8_t *config, uint32_t len) {
        TestDev *td = td_of(dev);

        if (len > sizeof(td->config))
                return -1;
        memcpy(config, td->config, len);
        return 0;
}

static int td_set_config(VuDev *dev, const uint8_t *data, uint32_t offset, uint32_t size, uint32_t flags) {
        TestDev *td = td_of(dev);

        if (offset > sizeof(td->config) || size > sizeof(td->config) - offset)
                return -1;
        memcpy(td->config + offset, data, size);
        td->set_config_calls++;
        return 0;
}

static bool td_in_order(VuDev *dev, int qidx) {
        return td_of(dev)->in_order;
}

/* Copy the element's readable bytes into its writable buffers; returns bytes written. */
static unsigned int echo_element(const VuVirtqElement *e) {
        unsigned int oi = 0, ii = 0;
        size_t ooff = 0, ioff = 0, written = 0;

        while (oi < e->out_num && ii < e->in_num) {
                size_t n = MIN(e->out_sg[oi].iov_len - ooff, e->in_sg[ii].iov_len - ioff);
                memcpy((uint8_t *) e->in_sg[ii].iov_base + ioff, (uint8_t *) e->out_sg[oi].iov_base + ooff,
                       n);
                ooff += n;
                ioff += n;
                written += n;
                if (ooff == e->out_sg[oi].iov_len) {
                        oi++;
                        ooff = 0;
                }
                if (ioff == e->in_sg[ii].iov_len) {
                        ii++;
                        ioff = 0;
                }
        }
        return (unsigned int) written;
}

void test_dev_queue_handler(VuDev *dev, int qidx) {
        TestDev *td = td_of(dev);
        VuVirtq *vq = vu_get_queue(dev, qidx);
        unsigned int pushed = 0;

        td->handler_calls++;
        if (td->mode == TEST_MODE_IGNORE)
                return;

        for (;;) {
                if (td->mode == TEST_MODE_HOLD) {
                        if (td->nheld >= td->hold_max || td->nheld >= TEST_MAX_HELD)
                                break;
                        VuVirtqElement *e = vu_queue_pop(dev, vq, sizeof(VuVirtqElement));
                        if (!e)
                                break;
                        td->held[td->nheld++] = e;
                        continue;
                }

                if (td->use_pop_into) {
                        static struct iovec iov[4096];
                        VuVirtqElement e;
                        int r = vu_queue_pop_into(dev, vq, &e, iov, ELEMENTSOF(iov));
                        if (r <= 0)
                                break;
                        unsigned int len = echo_element(&e);
                        vu_queue_push(dev, vq, &e, len);
                        td->echoed += len;
                } else {
                        VuVirtqElement *e = vu_queue_pop(dev, vq, sizeof(VuVirtqElement));
                        if (!e)
                                break;
                        unsigned int len = echo_element(e);
                        vu_queue_push(dev, vq, e, len);
                        td->echoed += len;
                        free(e);
                }
                pushed++;
        }
        if (pushed > 0)
                vu_queue_notify(dev, vq);
}

static void td_queue_set_started(VuDev *dev, int qidx, bool started) {
        TestDev *td = td_of(dev);

        td->started_calls++;
        vu_set_queue_handler(dev, vu_get_queue(dev, qidx), started ? test_dev_queue_handler : NULL);
}

static TestDev *test_dev_alloc(void) {
        TestDev *td = calloc(1, sizeof(*td));

        ASSERT_NOT_NULL(td);
        td->device_features = (UINT64_C(1) << VIRTIO_F_VERSION_1) |
                              (UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC) |
                              (UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX);
        td->device_protocol_features = (UINT64_C(1) << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
        td->config_len = 64;
        for (unsigned int i = 0; i < sizeof(td->config); i++)
                td->config[i] = (uint8_t) i;
        td->iface = (VuDevIface){
                .get_features = td_get_features,
                .set_features = td_set_features,
                .get_protocol_features = td_get_protocol_features,
                .set_protocol_features = td_set_protocol_features,
                .queue_set_started = td_queue_set_started,
                .queue_is_processed_in_order = td_in_order,
                .get_config = td_get_config,
                .set_config = td_set_config,
        };
        td->hold_max = TEST_MAX_HELD;
        td->backend_fd = -EBADF;
        return td;
}

TestDev *test_dev_new(uint16_t max_queues) {
        TestDev *td = test_dev_alloc();

        ASSERT_OK(vf_conn_new_pair(&td->conn, &td->backend_fd));
        ASSERT_TRUE(vu_init(&td->dev, max_queues, td->backend_fd, td_panic, NULL, td_set_watch,
                            td_remove_watch, &td->iface));
        vf_conn_set_pump(td->conn, test_dev_pump, td);
        return td;
}

TestDev *test_dev_new_on_fd(uint16_t max_queues, int fd) {
        TestDev *td = test_dev_alloc();

        td->backend_fd = fd;
        ASSERT_TRUE(vu_init(&td->dev, max_queues, td->backend_fd, td_panic, NULL, td_set_watch,
                            td_remove_watch, &td->iface));
        return td;
}

bool test_dev_serve(TestDev *td, int timeout_ms) {
        struct pollfd p[TEST_MAX_WATCHES + 1];
        unsigned int n = 0;

        if (td->dev.broken)
                return false;
        p[n++] = (struct pollfd){.fd = td->backend_fd, .events = POLLIN};
        for (unsigned int i = 0; i < td->nwatches; i++)
                p[n++] =
                        (struct pollfd){.fd = td->watches[i].fd, .events = (short) td->watches[i].condition};
        if (poll(p, n, timeout_ms) <= 0)
                return true;
        if (p[0].revents && !vu_dispatch(&td->dev))
                return false;
        test_dev_run(td, 0);
        return !td->dev.broken;
}

void test_dev_drop_held(TestDev *td) {
        for (unsigned int i = 0; i < td->nheld; i++)
                free(td->held[i]);
        td->nheld = 0;
}

void test_dev_free(TestDev *td) {
        if (!td)
                return;
        test_dev_drop_held(td);
        vu_deinit(&td->dev);
        /* Every watch must be gone once the device is. */
        if (td->nwatches != 0)
                TEST_FAIL("vu_deinit() left %u watch(es), first on fd %d", td->nwatches, td->watches[0].fd);
        vf_conn_free(td->conn);
        safe_close(td->backend_fd);
        free(td);
}

void test_dev_pump(void *userdata) {
        TestDev *td = userdata;

        for (;;) {
                struct pollfd p = {.fd = td->backend_fd, .events = POLLIN};
                if (td->dev.broken || poll(&p, 1, 0) <= 0)
                        return;
                if (!vu_dispatch(&td->dev))
                        return;
        }
}

unsigned int test_dev_run(TestDev *td, int timeout_ms) {
        struct pollfd p[TEST_MAX_WATCHES];
        TestWatch w[TEST_MAX_WATCHES];
        unsigned int n = td->nwatches, ran = 0;

        memcpy(w, td->watches, n * sizeof(w[0]));
        for (unsigned int i = 0; i < n; i++)
                p[i] = (struct pollfd){.fd = w[i].fd, .events = (short) w[i].condition};
        if (poll(p, n, timeout_ms) <= 0)
                return 0;
        for (unsigned int i = 0; i < n; i++) {
                if (!p[i].revents)
                        continue;
                /* An earlier callback may have removed or replaced this watch. */
                bool live = false;
                for (unsigned int j = 0; j < td->nwatches; j++)
                        if (td->watches[j].fd == w[i].fd && td->watches[j].cb == w[i].cb &&
                            td->watches[j].data == w[i].data)
                                live = true;
                if (!live)
                        continue;
                w[i].cb(&td->dev, p[i].revents, w[i].data);
                ran++;
        }
        return ran;
}

void test_dev_negotiate(TestDev *td, VfMem *mem, uint64_t features, uint64_t protocol_features) {
        uint64_t offered, poffered;

        ASSERT_OK(vf_get_features(td->conn, &offered));
        ASSERT_TRUE(offered & (UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES));
        ASSERT_OK(vf_get_protocol_features(td->conn, &poffered));
        ASSERT_EQ(poffered & protocol_features, protocol_features);
        ASSERT_OK(vf_set_protocol_features(td->conn, protocol_features));
        ASSERT_OK(vf_set_owner(td->conn));
        ASSERT_EQ(offered & features, features);
        ASSERT_OK(vf_set_features(td->conn, features | (UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES)));
        if (mem)
                ASSERT_OK(vf_set_mem_table(td->conn, mem));
        ASSERT_EQ(td->panics, 0);
}

VfMem *test_mem_new(unsigned int n, uint64_t size) {
        VfMem *m;

        ASSERT_OK(vf_mem_new(&m));
        for (unsigned int i = 0; i < n; i++)
                ASSERT_OK(vf_mem_add_region(m, 0x100000 + (uint64_t) i * (size + 0x100000), size));
        return m;
}

VfVring *test_queue_start(TestDev *td, VfMem *mem, unsigned int qidx, unsigned int num, bool event_idx,
                          bool log_used) {
        VfVring *vr;

        ASSERT_OK(vf_vring_new(mem, 0, num, event_idx, &vr));
        ASSERT_OK(vf_vring_setup(td->conn, qidx, vr, 0, log_used));
        ASSERT_OK(vf_set_vring_enable(td->conn, qidx, true));
        VuVirtq *vq = vu_get_queue(&td->dev, (int) qidx);
        ASSERT_NOT_NULL(vq);
        ASSERT_TRUE(vu_queue_started(&td->dev, vq));
        ASSERT_TRUE(vu_queue_enabled(&td->dev, vq));
        ASSERT_EQ(td->panics, 0);
        return vr;
}
