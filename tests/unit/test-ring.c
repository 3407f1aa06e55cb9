/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split-ring processing as a device author sees it: data a device echoes
 * back arrives intact with the right used lengths, with and without
 * EVENT_IDX, direct and indirect, across regions; notification
 * suppression really saves calls and kicks; pop_into and pop give the same
 * chains; one-buffer chains take the walker's short path with the same
 * results; unpop, rewind, empty and avail_bytes behave.
 */
#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)

static const uint64_t features_base = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC);
static const uint64_t protocol_base = F(VHOST_USER_PROTOCOL_F_REPLY_ACK);

/* One request: readable buffers in region 1, writable ones in region 2. */
typedef struct Chain {
        VfBuf bufs[130];
        unsigned int n, nout;
        uint32_t out_bytes, in_bytes;
        uint16_t head;
} Chain;

static void chain_make(VfMem *mem, Chain *c, unsigned int nout, uint32_t out_len, unsigned int nin,
                       uint32_t in_len, unsigned int seed) {
        *c = (Chain){.n = nout + nin, .nout = nout};
        for (unsigned int i = 0; i < nout; i++) {
                ASSERT_OK(vf_mem_alloc(mem, 1, out_len, 8, &c->bufs[i].gpa));
                c->bufs[i].len = out_len;
                test_fill_pattern(vf_mem_gpa(mem, c->bufs[i].gpa, out_len), out_len, seed * 131 + i);
                c->out_bytes += out_len;
        }
        for (unsigned int i = nout; i < nout + nin; i++) {
                ASSERT_OK(vf_mem_alloc(mem, 2, in_len, 8, &c->bufs[i].gpa));
                c->bufs[i].len = in_len;
                c->bufs[i].write = true;
                c->in_bytes += in_len;
        }
}

/* The device wrote the readable bytes, in order, into the writable buffers. */
static void chain_check_echo(VfMem *mem, const Chain *c, uint32_t used_len) {
        uint32_t expect = MIN(c->out_bytes, c->in_bytes);
        uint8_t *want = malloc(c->out_bytes), *got = malloc(c->in_bytes);
        size_t off = 0;

        ASSERT_EQ(used_len, expect);
        for (unsigned int i = 0; i < c->nout; i++) {
                memcpy(want + off, vf_mem_gpa(mem, c->bufs[i].gpa, c->bufs[i].len), c->bufs[i].len);
                off += c->bufs[i].len;
        }
        off = 0;
        for (unsigned int i = c->nout; i < c->n; i++) {
                memcpy(got + off, vf_mem_gpa(mem, c->bufs[i].gpa, c->bufs[i].len), c->bufs[i].len);
                off += c->bufs[i].len;
        }
        ASSERT_MEMEQ(got, want, expect);
        free(want);
        free(got);
}

static void reset_allocs(VfMem *mem) {
        /* Regions 1 and 2 hold only buffers: reuse them from the start for each round. */
        ((VfRegion *) vf_mem_region(mem, 1))->next_free = 0;
        ((VfRegion *) vf_mem_region(mem, 2))->next_free = 0;
}

static void run_echo(bool event_idx, bool indirect, bool pop_into, unsigned int nout, unsigned int nin) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        uint64_t features = features_base | (event_idx ? F(VIRTIO_RING_F_EVENT_IDX) : 0);

        td->use_pop_into = pop_into;
        test_dev_negotiate(td, mem, features, protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 256, event_idx, false);

        /* As many chains per batch as the table holds (direct chains take one entry per buffer). */
        unsigned int per_batch = indirect ? 8 : MIN(8u, 256 / (nout + nin));

        for (unsigned int round = 0; round < 6; round++) {
                Chain c[8];

                reset_allocs(mem);
                for (unsigned int i = 0; i < per_batch; i++) {
                        chain_make(mem, &c[i], nout, 100 + 37 * i, nin, 300 + 11 * round, round * 8 + i);
                        ASSERT_OK(vf_vring_add(vr, c[i].bufs, c[i].n, indirect, &c[i].head));
                }
                if (event_idx)
                        vf_vring_set_used_event(vr, vf_vring_last_used(vr));
                ASSERT_EQ(vf_vring_publish_kick(vr), 1);
                ASSERT_GE(test_dev_run(td, 1000), 1);

                for (unsigned int i = 0; i < per_batch; i++) {
                        uint16_t head;
                        uint32_t len;
                        ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
                        ASSERT_EQ(head, c[i].head);
                        chain_check_echo(mem, &c[i], len);
                }
                uint16_t head;
                uint32_t len;
                ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 0);

                /* One batch, one call. */
                uint64_t calls;
                ASSERT_OK(vf_vring_take_calls(vr, 0, &calls));
                ASSERT_EQ(calls, 1);
        }
        ASSERT_EQ(vf_vring_num_free(vr), 256);
        ASSERT_EQ(td->panics, 0);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_echo_direct(void) {
        run_echo(false, false, false, 2, 2);
}
static void test_echo_direct_event_idx(void) {
        run_echo(true, false, false, 2, 2);
}
static void test_echo_indirect(void) {
        run_echo(false, true, false, 3, 3);
}
static void test_echo_indirect_event_idx(void) {
        run_echo(true, true, false, 3, 3);
}
static void test_echo_long_chains(void) {
        run_echo(false, false, false, 32, 32);
        run_echo(true, true, false, 64, 64);
}
static void test_echo_pop_into(void) {
        run_echo(false, false, true, 1, 1);
        run_echo(true, true, true, 64, 64);
}

/* A buffer that crosses from one region into the next (contiguous in guest space) arrives whole. */
static void test_buffer_across_regions(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem;
        uint16_t head;
        uint32_t len;

        ASSERT_OK(vf_mem_new(&mem));
        ASSERT_OK(vf_mem_add_region(mem, 0x100000, REGION_SIZE));
        ASSERT_OK(vf_mem_add_region(mem, 0x200000, REGION_SIZE)); /* right after region 0 */
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, false);

        /* 8 KiB starting 4 KiB before the boundary, echoed into 8 KiB of region 1. */
        VfBuf bufs[2] = {
                {.gpa = 0x200000 - 0x1000, .len = 0x2000},
                {.gpa = 0x200000 + 0x10000, .len = 0x2000, .write = true},
        };
        test_fill_pattern(vf_mem_gpa(mem, 0x200000 - 0x1000, 0x1000), 0x1000, 1);
        test_fill_pattern(vf_mem_gpa(mem, 0x200000, 0x1000), 0x1000, 2);

        td->mode = TEST_MODE_HOLD;
        td->hold_max = 1;
        ASSERT_OK(vf_vring_add(vr, bufs, 2, false, &head));
        vf_vring_publish_kick(vr);
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 1);
        VuVirtqElement *e = td->held[0];
        ASSERT_EQ(e->index, head);
        ASSERT_EQ(e->out_num, 2); /* the readable descriptor spans two regions: two iovecs */
        ASSERT_EQ(e->in_num, 1);
        ASSERT_EQ(e->out_sg[0].iov_len, 0x1000);
        ASSERT_EQ(e->out_sg[1].iov_len, 0x1000);
        ASSERT_MEMEQ(e->out_sg[0].iov_base, vf_mem_gpa(mem, 0x200000 - 0x1000, 0x1000), 0x1000);
        ASSERT_MEMEQ(e->out_sg[1].iov_base, vf_mem_gpa(mem, 0x200000, 0x1000), 0x1000);

        VuVirtq *vq = vu_get_queue(&td->dev, 0);
        /* Write through the backend's pointers, then check the frontend sees it. */
        memset(e->in_sg[0].iov_base, 0x5a, e->in_sg[0].iov_len);
        vu_queue_push(&td->dev, vq, e, (unsigned int) e->in_sg[0].iov_len);
        vu_queue_notify(&td->dev, vq);
        test_dev_drop_held(td);
        ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
        ASSERT_EQ(len, 0x2000);
        uint8_t *p = vf_mem_gpa(mem, bufs[1].gpa, 0x2000);
        for (unsigned int i = 0; i < 0x2000; i++)
                ASSERT_EQ(p[i], 0x5a);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/* One chain per batch, @batches times; returns the calls seen after each batch in @calls. */
static void run_batches(TestDev *td, VfMem *mem, VfVring *vr, unsigned int batches, uint64_t *calls) {
        for (unsigned int b = 0; b < batches; b++) {
                Chain c;
                uint16_t head;
                uint32_t len;

                reset_allocs(mem);
                chain_make(mem, &c, 1, 64, 1, 64, b);
                ASSERT_OK(vf_vring_add(vr, c.bufs, c.n, false, &c.head));
                vf_vring_publish(vr);
                ASSERT_OK(vf_vring_kick(vr));
                ASSERT_GE(test_dev_run(td, 1000), 1);
                ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
                ASSERT_EQ(head, c.head);
                chain_check_echo(mem, &c, len);
                ASSERT_OK(vf_vring_take_calls(vr, 0, &calls[b]));
        }
}

static void test_event_idx_suppresses_calls(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        uint64_t calls[8];

        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, true, false);

        /*
         * "Call me once the used index passes 4": one call after the 5th
         * completion. The first completion after a start is always signalled
         * too (the device cannot know what the driver saw before), as in
         * virtio implementations generally.
         */
        vf_vring_set_used_event(vr, 4);
        run_batches(td, mem, vr, 8, calls);
        for (unsigned int b = 0; b < 8; b++) {
                bool want = b == 0 || b == 4;
                if (calls[b] != want)
                        fprintf(stderr, "batch %u: %" PRIu64 " call(s), expected %u\n", b, calls[b], want);
                ASSERT_EQ(calls[b], want);
        }

        VuQueueInfo info;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &info));
        ASSERT_EQ(info.stats.calls_sent, 2);
        ASSERT_EQ(info.stats.calls_suppressed, 6);

        /* Once it knows, nothing before the next used_event. */
        vf_vring_set_used_event(vr, (uint16_t) (vf_vring_last_used(vr) + 2));
        run_batches(td, mem, vr, 4, calls);
        ASSERT_EQ(calls[0], 0);
        ASSERT_EQ(calls[1], 0);
        ASSERT_EQ(calls[2], 1);
        ASSERT_EQ(calls[3], 0);

        /* used_event kept current: a call for every completion. */
        for (unsigned int b = 0; b < 4; b++) {
                vf_vring_set_used_event(vr, vf_vring_last_used(vr));
                run_batches(td, mem, vr, 1, calls);
                ASSERT_EQ(calls[0], 1);
        }

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_no_interrupt_suppresses_calls(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        uint64_t calls[6];

        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, false);

        vf_vring_set_no_interrupt(vr, true);
        run_batches(td, mem, vr, 6, calls);
        for (unsigned int b = 0; b < 6; b++)
                ASSERT_EQ(calls[b], 0);

        vf_vring_set_no_interrupt(vr, false);
        run_batches(td, mem, vr, 6, calls);
        for (unsigned int b = 0; b < 6; b++)
                ASSERT_EQ(calls[b], 1);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/* The device's side: it can tell the driver not to kick (NO_NOTIFY, or avail_event with EVENT_IDX). */
static void run_kick_suppression(bool event_idx) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        Chain c;

        test_dev_negotiate(td, mem, features_base | (event_idx ? F(VIRTIO_RING_F_EVENT_IDX) : 0),
                           protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, event_idx, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        chain_make(mem, &c, 1, 16, 1, 16, 0);
        ASSERT_OK(vf_vring_add(vr, c.bufs, c.n, false, &c.head));
        ASSERT_TRUE(vf_vring_publish(vr)); /* a fresh queue wants kicks */

        vu_queue_set_notification(&td->dev, vq, 0);
        ASSERT_OK(vf_vring_add(vr, c.bufs, c.n, false, &c.head));
        ASSERT_FALSE(vf_vring_publish(vr));
        ASSERT_OK(vf_vring_add(vr, c.bufs, c.n, false, &c.head));
        ASSERT_FALSE(vf_vring_publish(vr));

        /* Re-enabled and drained, the device wants to hear about the next chain. */
        vu_queue_set_notification(&td->dev, vq, 1);
        for (unsigned int i = 0; i < 3; i++) {
                VuVirtqElement *e = vu_queue_pop(&td->dev, vq, sizeof(*e));
                ASSERT_NOT_NULL(e);
                vu_queue_push(&td->dev, vq, e, 0);
                free(e);
        }
        ASSERT_NULL(vu_queue_pop(&td->dev, vq, sizeof(VuVirtqElement)));
        ASSERT_OK(vf_vring_add(vr, c.bufs, c.n, false, &c.head));
        ASSERT_TRUE(vf_vring_publish(vr));

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_kick_suppression(void) {
        run_kick_suppression(false);
        run_kick_suppression(true);
}

static void assert_same_element(const VuVirtqElement *a, const VuVirtqElement *b) {
        ASSERT_EQ(a->index, b->index);
        ASSERT_EQ(a->out_num, b->out_num);
        ASSERT_EQ(a->in_num, b->in_num);
        for (unsigned int i = 0; i < a->out_num; i++) {
                ASSERT_TRUE(a->out_sg[i].iov_base == b->out_sg[i].iov_base);
                ASSERT_EQ(a->out_sg[i].iov_len, b->out_sg[i].iov_len);
        }
        for (unsigned int i = 0; i < a->in_num; i++) {
                ASSERT_TRUE(a->in_sg[i].iov_base == b->in_sg[i].iov_base);
                ASSERT_EQ(a->in_sg[i].iov_len, b->in_sg[i].iov_len);
        }
}

/* pop and pop_into hand out the same chains; unpop and rewind give them back in order. */
static void test_pop_into_unpop_rewind(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        struct iovec iov[300];
        Chain c[4];

        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 128, true, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        ASSERT_TRUE(vu_queue_empty(&td->dev, vq));
        chain_make(mem, &c[0], 1, 512, 1, 512, 1);
        chain_make(mem, &c[1], 3, 100, 2, 50, 2);
        chain_make(mem, &c[2], 64, 8, 64, 8, 3);
        chain_make(mem, &c[3], 0, 0, 5, 4096, 4);
        for (unsigned int i = 0; i < 4; i++)
                ASSERT_OK(vf_vring_add(vr, c[i].bufs, c[i].n, i == 2, &c[i].head));
        ASSERT_TRUE(vu_queue_empty(&td->dev, vq)); /* not published yet */
        vf_vring_publish(vr);
        ASSERT_FALSE(vu_queue_empty(&td->dev, vq));

        for (unsigned int i = 0; i < 4; i++) {
                VuVirtqElement *a = vu_queue_pop(&td->dev, vq, sizeof(*a));
                ASSERT_NOT_NULL(a);
                ASSERT_EQ(a->index, c[i].head);
                ASSERT_EQ(a->out_num, c[i].nout);
                ASSERT_EQ(a->in_num, c[i].n - c[i].nout);

                /* unpop: the same chain comes back. */
                vu_queue_unpop(&td->dev, vq, a, 0);
                VuVirtqElement *a2 = vu_queue_pop(&td->dev, vq, sizeof(*a2));
                ASSERT_NOT_NULL(a2);
                assert_same_element(a, a2);
                free(a2);

                /* rewind(1): and again through pop_into, identical. */
                ASSERT_TRUE(vu_queue_rewind(&td->dev, vq, 1));
                VuVirtqElement b;
                ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &b, iov, ELEMENTSOF(iov)), 1);
                assert_same_element(a, &b);

                /* pop_into with too few iovecs consumes nothing. */
                if (a->out_num + a->in_num > 1) {
                        ASSERT_TRUE(vu_queue_rewind(&td->dev, vq, 1));
                        ASSERT_ERR(vu_queue_pop_into(&td->dev, vq, &b, iov, a->out_num + a->in_num - 1),
                                   -E2BIG);
                        ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &b, iov, ELEMENTSOF(iov)), 1);
                        assert_same_element(a, &b);
                }
                free(a);
        }
        ASSERT_TRUE(vu_queue_empty(&td->dev, vq));
        ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &(VuVirtqElement){}, iov, ELEMENTSOF(iov)), 0);

        /* rewind(4) after four pops: the four come back in order; rewind(5) is refused. */
        ASSERT_FALSE(vu_queue_rewind(&td->dev, vq, 5));
        ASSERT_TRUE(vu_queue_rewind(&td->dev, vq, 4));
        for (unsigned int i = 0; i < 4; i++) {
                VuVirtqElement *a = vu_queue_pop(&td->dev, vq, sizeof(*a) + 16);
                ASSERT_NOT_NULL(a);
                ASSERT_EQ(a->index, c[i].head);
                vu_queue_push(&td->dev, vq, a, 0);
                free(a);
        }
        ASSERT_TRUE(vu_queue_empty(&td->dev, vq));
        for (unsigned int i = 0; i < 4; i++) {
                uint16_t head;
                uint32_t len;
                ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
                ASSERT_EQ(head, c[i].head);
                ASSERT_EQ(len, 0);
        }
        ASSERT_EQ(td->panics, 0);
        /* Every unpop and rewind gave a chain back: four chains were taken, four returned. */
        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.stats.popped, 4);
        ASSERT_EQ(qi.stats.pushed, 4);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * One-buffer chains, which the walker takes on a short path: in alternating
 * regions (its region guess misses every time), empty, crossing a region
 * boundary, with no room for an iovec; each comes out as the general walk
 * would give it, and nothing is consumed when it does not fit.
 */
static void test_single_buffer_chains(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem;
        struct iovec iov[4];
        VuVirtqElement e;
        VfBuf bufs[6] = {
                {.gpa = 0x110000, .len = 64},
                {.gpa = 0x220000, .len = 1500, .write = true},
                {.gpa = 0x120000, .len = 0},
                {.gpa = 0x200000 - 0x100, .len = 0x200}, /* crosses into region 1 */
                {.gpa = 0x230000, .len = 12, .write = true},
                {.gpa = 0x130000, .len = 4096},
        };
        uint16_t heads[6];

        ASSERT_OK(vf_mem_new(&mem));
        ASSERT_OK(vf_mem_add_region(mem, 0x100000, REGION_SIZE));
        ASSERT_OK(vf_mem_add_region(mem, 0x200000, REGION_SIZE));
        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, true, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        for (unsigned int i = 0; i < ELEMENTSOF(bufs); i++) {
                if (bufs[i].len > 0 && i != 3)
                        test_fill_pattern(vf_mem_gpa(mem, bufs[i].gpa, bufs[i].len), bufs[i].len, i);
                ASSERT_OK(vf_vring_add(vr, &bufs[i], 1, false, &heads[i]));
        }
        test_fill_pattern(vf_mem_gpa(mem, bufs[3].gpa, 0x100), 0x100, 3);
        test_fill_pattern(vf_mem_gpa(mem, 0x200000, 0x100), 0x100, 33);
        vf_vring_publish(vr);

        for (unsigned int i = 0; i < ELEMENTSOF(bufs); i++) {
                unsigned int want = bufs[i].len == 0 ? 0 : i == 3 ? 2 : 1;

                if (want > 0) {
                        /* No room: -E2BIG, and the same chain comes next. */
                        ASSERT_ERR(vu_queue_pop_into(&td->dev, vq, &e, iov, want - 1), -E2BIG);
                }
                ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e, iov, ELEMENTSOF(iov)), 1);
                ASSERT_EQ(e.index, heads[i]);
                ASSERT_EQ(e.out_num, bufs[i].write ? 0 : want);
                ASSERT_EQ(e.in_num, bufs[i].write ? want : 0);
                /* The backend maps guest memory on its own: same bytes, not the same addresses. */
                if (want == 1) {
                        ASSERT_EQ(iov[0].iov_len, bufs[i].len);
                        ASSERT_MEMEQ(iov[0].iov_base, vf_mem_gpa(mem, bufs[i].gpa, bufs[i].len), bufs[i].len);
                } else if (want == 2) {
                        ASSERT_EQ(iov[0].iov_len, 0x100);
                        ASSERT_EQ(iov[1].iov_len, 0x100);
                        ASSERT_MEMEQ(iov[0].iov_base, vf_mem_gpa(mem, bufs[i].gpa, 0x100), 0x100);
                        ASSERT_MEMEQ(iov[1].iov_base, vf_mem_gpa(mem, 0x200000, 0x100), 0x100);
                }
                vu_queue_push(&td->dev, vq, &e, 0);
        }
        ASSERT_TRUE(vu_queue_empty(&td->dev, vq));
        ASSERT_EQ(td->panics, 0);

        /* A one-buffer chain outside guest memory is refused like any other. */
        VfBuf bad = {.gpa = 0x200000 + REGION_SIZE - 8, .len = 16}; /* runs off the end of region 1 */
        uint16_t head;
        ASSERT_OK(vf_vring_add(vr, &bad, 1, false, &head));
        vf_vring_publish(vr);
        ASSERT_ERR(vu_queue_pop_into(&td->dev, vq, &e, iov, ELEMENTSOF(iov)), -EBADMSG);
        ASSERT_EQ(td->panics, 1);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * vu_queue_pop_burst(): one-buffer chains in a run, each as
 * vu_queue_pop_into() gives it; it stops untaken before a chain that is
 * not one buffer in one region (empty, two buffers, crossing a region
 * boundary, outside guest memory), which vu_queue_pop_into() then takes or
 * refuses; with EVENT_IDX avail_event ends where the burst ended.
 */
static void test_pop_burst(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem;
        struct iovec iov[8];
        VuVirtqElement e[8];
        VfBuf bufs[] = {
                {.gpa = 0x110000, .len = 64},
                {.gpa = 0x220000, .len = 1500, .write = true},
                {.gpa = 0x230000, .len = 12, .write = true},
                {.gpa = 0x120000, .len = 0},                  /* 3: empty */
                {.gpa = 0x130000, .len = 4096},
                {.gpa = 0x140000, .len = 64},
                {.gpa = 0x200000 - 0x100, .len = 0x200},      /* 6: crosses into region 1 */
        };
        VfBuf two[2] = {{.gpa = 0x150000, .len = 16}, {.gpa = 0x240000, .len = 16, .write = true}};
        uint16_t heads[ELEMENTSOF(bufs)], two_head, head;
        uint32_t len;
        VuQueueInfo info;

        ASSERT_OK(vf_mem_new(&mem));
        ASSERT_OK(vf_mem_add_region(mem, 0x100000, REGION_SIZE));
        ASSERT_OK(vf_mem_add_region(mem, 0x200000, REGION_SIZE));
        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, true, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        for (unsigned int i = 0; i < ELEMENTSOF(bufs); i++) {
                if (bufs[i].len > 0 && i != 6)
                        test_fill_pattern(vf_mem_gpa(mem, bufs[i].gpa, bufs[i].len), bufs[i].len, i);
                ASSERT_OK(vf_vring_add(vr, &bufs[i], 1, false, &heads[i]));
                if (i == 4)
                        ASSERT_OK(vf_vring_add(vr, two, 2, false, &two_head));
        }
        vf_vring_publish(vr);

        /* Bad arguments, and nothing asked for. */
        ASSERT_ERR(vu_queue_pop_burst(&td->dev, vq, NULL, iov, 1), -EINVAL);
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, 0), 0);

        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 3);
        for (unsigned int i = 0; i < 3; i++) {
                ASSERT_EQ(e[i].index, heads[i]);
                ASSERT_EQ(e[i].out_num, bufs[i].write ? 0 : 1);
                ASSERT_EQ(e[i].in_num, bufs[i].write ? 1 : 0);
                ASSERT_TRUE((bufs[i].write ? e[i].in_sg : e[i].out_sg) == &iov[i]);
                ASSERT_EQ(iov[i].iov_len, bufs[i].len);
                ASSERT_MEMEQ(iov[i].iov_base, vf_mem_gpa(mem, bufs[i].gpa, bufs[i].len), bufs[i].len);
        }
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &info));
        ASSERT_EQ(info.avail_event, 3);
        ASSERT_EQ(info.stats.popped, 3);
        ASSERT_EQ(info.stats.bytes_out, 64);
        ASSERT_EQ(info.inuse, 3);
        /* Returned as a burst too, then published at once. */
        const unsigned int lens[3] = {0, 7, 7};
        vu_queue_fill_burst(&td->dev, vq, e, lens, 3, 0);
        ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 0);
        vu_queue_flush(&td->dev, vq, 3);
        for (unsigned int i = 0; i < 3; i++) {
                ASSERT_EQ(vf_vring_get_used(vr, &head, &len), 1);
                ASSERT_EQ(head, heads[i]);
                ASSERT_EQ(len, lens[i]);
        }

        /* The empty buffer: not here, but pop_into takes it. */
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 0);
        ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e[0], iov, ELEMENTSOF(iov)), 1);
        ASSERT_EQ(e[0].index, heads[3]);
        vu_queue_push(&td->dev, vq, &e[0], 0);

        /* A burst of at most one, then the two-buffer chain for pop_into. */
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, 1), 1);
        ASSERT_EQ(e[0].index, heads[4]);
        vu_queue_push(&td->dev, vq, &e[0], 0);
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 0);
        ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e[0], iov, ELEMENTSOF(iov)), 1);
        ASSERT_EQ(e[0].index, two_head);
        ASSERT_EQ(e[0].out_num, 1);
        ASSERT_EQ(e[0].in_num, 1);
        vu_queue_push(&td->dev, vq, &e[0], 16);

        /* Rewound and taken again: the same chain; then the one crossing regions goes to pop_into. */
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 1);
        ASSERT_EQ(e[0].index, heads[5]);
        ASSERT_TRUE(vu_queue_rewind(&td->dev, vq, 1));
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 1);
        ASSERT_EQ(e[0].index, heads[5]);
        vu_queue_push(&td->dev, vq, &e[0], 0);
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 0);
        ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e[0], iov, ELEMENTSOF(iov)), 1);
        ASSERT_EQ(e[0].index, heads[6]);
        ASSERT_EQ(e[0].out_num, 2);
        vu_queue_push(&td->dev, vq, &e[0], 0);

        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 0);
        ASSERT_TRUE(vu_queue_empty(&td->dev, vq));
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &info));
        ASSERT_EQ(info.avail_event, 8);
        ASSERT_EQ(info.ring_used_idx, 8);
        ASSERT_EQ(info.inuse, 0);
        ASSERT_EQ(td->panics, 0);

        /* Outside guest memory: the burst leaves it, pop_into refuses it. */
        VfBuf bad = {.gpa = 0x200000 + REGION_SIZE - 8, .len = 16};
        ASSERT_OK(vf_vring_add(vr, &bad, 1, false, &head));
        vf_vring_publish(vr);
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 0);
        ASSERT_EQ(td->panics, 0);
        ASSERT_ERR(vu_queue_pop_into(&td->dev, vq, &e[0], iov, ELEMENTSOF(iov)), -EBADMSG);
        ASSERT_EQ(td->panics, 1);
        /* A broken device pops nothing. */
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 0);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_avail_bytes(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        unsigned int in = 1, out = 1;
        Chain c;

        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, false, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        vu_queue_get_avail_bytes(&td->dev, vq, &in, &out, 1u << 30, 1u << 30);
        ASSERT_EQ(in, 0);
        ASSERT_EQ(out, 0);
        ASSERT_FALSE(vu_queue_avail_bytes(&td->dev, vq, 1, 0));

        for (unsigned int i = 0; i < 3; i++) {
                chain_make(mem, &c, 2, 50, 1, 200, i); /* 100 readable, 200 writable */
                ASSERT_OK(vf_vring_add(vr, c.bufs, c.n, i == 1, &c.head));
        }
        vf_vring_publish(vr);

        vu_queue_get_avail_bytes(&td->dev, vq, &in, &out, 1u << 30, 1u << 30);
        ASSERT_EQ(in, 600);
        ASSERT_EQ(out, 300);
        ASSERT_TRUE(vu_queue_avail_bytes(&td->dev, vq, 600, 300));
        ASSERT_TRUE(vu_queue_avail_bytes(&td->dev, vq, 1, 0));
        ASSERT_FALSE(vu_queue_avail_bytes(&td->dev, vq, 601, 0));
        ASSERT_FALSE(vu_queue_avail_bytes(&td->dev, vq, 0, 301));

        /* Counting consumed nothing. */
        VuVirtqElement *e = vu_queue_pop(&td->dev, vq, sizeof(*e));
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->out_num, 2);
        free(e);
        vu_queue_get_avail_bytes(&td->dev, vq, &in, &out, 1u << 30, 1u << 30);
        ASSERT_EQ(in, 400);
        ASSERT_EQ(out, 200);

        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * EVENT_IDX: finding the ring empty puts avail_event at last_avail_idx, even
 * when it was stale (left by an earlier backend): otherwise the driver's next
 * chain is not kicked and waits forever.
 */
static void test_empty_ring_arms_avail_event(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        uint64_t out, in;
        uint16_t head, got;
        uint32_t len;

        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfVring *vr = test_queue_start(td, mem, 0, 64, true, false);
        ASSERT_OK(vf_mem_alloc(mem, 1, 64, 8, &out));
        ASSERT_OK(vf_mem_alloc(mem, 2, 64, 8, &in));
        VfBuf b[2] = {{.gpa = out, .len = 64}, {.gpa = in, .len = 64, .write = true}};

        for (unsigned int round = 0; round < 3; round++) {
                /* A stale avail_event that the driver's next publish would not cross. */
                *(volatile uint16_t *) &vf_vring_used(vr)->ring[64] = (uint16_t) (vf_vring_avail_idx(vr) + 0x7000);
                ASSERT_OK(vf_vring_kick(vr));
                test_dev_run(td, 1000);
                ASSERT_EQ(vf_vring_avail_event(vr), vf_vring_avail_idx(vr));

                ASSERT_OK(vf_vring_add(vr, b, 2, false, &head));
                ASSERT_TRUE(vf_vring_publish(vr));
                ASSERT_OK(vf_vring_kick(vr));
                ASSERT_GE(test_dev_run(td, 1000), 1);
                ASSERT_EQ(vf_vring_get_used(vr, &got, &len), 1);
                ASSERT_EQ(got, head);
        }

        ASSERT_EQ(td->panics, 0);
        vf_vring_free(vr);
        test_dev_free(td);
        vf_mem_free(mem);
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_echo_direct);
        RUN_TEST(test_echo_direct_event_idx);
        RUN_TEST(test_echo_indirect);
        RUN_TEST(test_echo_indirect_event_idx);
        RUN_TEST(test_echo_long_chains);
        RUN_TEST(test_echo_pop_into);
        RUN_TEST(test_buffer_across_regions);
        RUN_TEST(test_event_idx_suppresses_calls);
        RUN_TEST(test_no_interrupt_suppresses_calls);
        RUN_TEST(test_kick_suppression);
        RUN_TEST(test_pop_into_unpop_rewind);
        RUN_TEST(test_single_buffer_chains);
        RUN_TEST(test_pop_burst);
        RUN_TEST(test_avail_bytes);
        RUN_TEST(test_empty_ring_arms_avail_event);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
