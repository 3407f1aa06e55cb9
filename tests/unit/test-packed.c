/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packed virtqueues (VIRTIO_F_RING_PACKED) as a device author and a driver
 * see them, through the unchanged vu_queue_* API: echoed data arrives
 * intact over many laps of a ring whose size is not a power of two, with
 * chains and indirect tables; used descriptors carry the right ids and
 * lengths; event suppression really saves calls and kicks; GET/SET_VRING_BASE
 * carry both wrap counters; unpop and avail_bytes behave; one-buffer chains
 * popped without allocation (a short path) come out and are refused as the
 * walker would have it; and after a backend
 * crash the inflight buffer brings back exactly the requests in flight.
 */
#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)

static const uint64_t features_base =
        F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_F_RING_PACKED);
static const uint64_t protocol_base = F(VHOST_USER_PROTOCOL_F_REPLY_ACK);

/* One request: readable buffers in region 1, writable ones in region 2. */
typedef struct Req {
        VfBuf bufs[8];
        unsigned int n, nout;
        uint32_t out_bytes, in_bytes;
        uint16_t id;
        bool done;
} Req;

static void req_make(VfMem *mem, Req *q, unsigned int nout, uint32_t out_len, unsigned int nin,
                     uint32_t in_len, unsigned int seed) {
        *q = (Req){.n = nout + nin, .nout = nout};
        for (unsigned int i = 0; i < nout; i++) {
                ASSERT_OK(vf_mem_alloc(mem, 1, out_len, 8, &q->bufs[i].gpa));
                q->bufs[i].len = out_len;
                test_fill_pattern(vf_mem_gpa(mem, q->bufs[i].gpa, out_len), out_len, seed * 131 + i);
                q->out_bytes += out_len;
        }
        for (unsigned int i = nout; i < nout + nin; i++) {
                ASSERT_OK(vf_mem_alloc(mem, 2, in_len, 8, &q->bufs[i].gpa));
                memset(vf_mem_gpa(mem, q->bufs[i].gpa, in_len), 0, in_len);
                q->bufs[i].len = in_len;
                q->bufs[i].write = true;
                q->in_bytes += in_len;
        }
}

static void req_check_echo(VfMem *mem, const Req *q, uint32_t used_len) {
        uint32_t expect = MIN(q->out_bytes, q->in_bytes);
        uint8_t want[4096], got[4096];
        size_t off = 0;

        ASSERT_LE(q->out_bytes, sizeof(want));
        ASSERT_LE(q->in_bytes, sizeof(got));
        ASSERT_EQ(used_len, expect);
        for (unsigned int i = 0; i < q->nout; i++) {
                memcpy(want + off, vf_mem_gpa(mem, q->bufs[i].gpa, q->bufs[i].len), q->bufs[i].len);
                off += q->bufs[i].len;
        }
        off = 0;
        for (unsigned int i = q->nout; i < q->n; i++) {
                memcpy(got + off, vf_mem_gpa(mem, q->bufs[i].gpa, q->bufs[i].len), q->bufs[i].len);
                off += q->bufs[i].len;
        }
        ASSERT_MEMEQ(got, want, expect);
}

static void reset_allocs(VfMem *mem) {
        ((VfRegion *) vf_mem_region(mem, 1))->next_free = 0;
        ((VfRegion *) vf_mem_region(mem, 2))->next_free = 0;
}

static VfPacked *packed_start(TestDev *td, VfMem *mem, unsigned int qidx, unsigned int num, bool event_idx) {
        VfPacked *pr;
        uint64_t calls;

        ASSERT_OK(vf_packed_new(mem, 0, num, event_idx, &pr));
        ASSERT_OK(vf_packed_setup(td->conn, qidx, pr, vf_packed_base(pr), false));
        ASSERT_OK(vf_set_vring_enable(td->conn, qidx, true));
        VuVirtq *vq = vu_get_queue(&td->dev, (int) qidx);
        ASSERT_TRUE(vu_queue_started(&td->dev, vq));
        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, (int) qidx, &qi));
        ASSERT_TRUE(qi.packed);
        ASSERT_EQ(td->panics, 0);
        /* A call may follow SET_VRING_CALL on a started ring: not part of what the tests count. */
        ASSERT_OK(vf_packed_take_calls(pr, 0, &calls));
        return pr;
}

/* Echo over many laps of a 6-entry ring (not a power of two), chains of 1..3 buffers, some indirect. */
static void run_laps(bool event_idx, bool pop_into) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        const unsigned int num = 6;
        unsigned int total = 0;

        td->use_pop_into = pop_into;
        test_dev_negotiate(td, mem, features_base | (event_idx ? F(VIRTIO_RING_F_EVENT_IDX) : 0),
                           protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, num, event_idx);

        for (unsigned int round = 0; round < 40; round++) {
                Req reqs[6];
                unsigned int n = 0;

                reset_allocs(mem);
                /* Fill what the ring holds, with shapes that move the chain ends round the ring. */
                for (;;) {
                        unsigned int shape = (round + n) % 4;
                        bool indirect = shape == 3;
                        unsigned int nout = shape == 0 ? 1 : 2, nin = shape == 1 ? 0 : 1;
                        Req *q = &reqs[n];

                        if (n == ELEMENTSOF(reqs))
                                break;
                        req_make(mem, q, nout, 40 + round, nin, 200, round * 7 + n);
                        if (vf_packed_add(pr, q->bufs, q->n, indirect, &q->id) == -ENOSPC)
                                break;
                        n++;
                }
                ASSERT_GE(n, 1);
                int k = vf_packed_publish_kick(pr);
                ASSERT_OK(k);
                ASSERT_EQ(k, 1); /* the device asked for kicks (ENABLE, or DESC at our next slot) */
                ASSERT_GE(test_dev_run(td, 1000), 1);

                uint64_t calls;
                ASSERT_OK(vf_packed_take_calls(pr, 0, &calls));
                ASSERT_EQ(calls, 1); /* one call per batch */

                for (unsigned int i = 0; i < n; i++) {
                        uint16_t id;
                        uint32_t len;

                        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                        /* Completed in the order popped: the i-th used descriptor is the i-th request. */
                        ASSERT_EQ(id, reqs[i].id);
                        req_check_echo(mem, &reqs[i], len);
                }
                uint16_t id;
                uint32_t len;
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 0);
                ASSERT_EQ(vf_packed_num_free(pr), num);
                total += n;
        }

        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.stats.popped, total);
        ASSERT_EQ(qi.stats.pushed, total);
        ASSERT_EQ(qi.inuse, 0);
        ASSERT_GE(total, 3 * num); /* several laps, so both wrap counters flipped more than once */
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_laps(void) {
        run_laps(false, false);
}

static void test_laps_event_idx(void) {
        run_laps(true, false);
}

static void test_laps_pop_into(void) {
        run_laps(true, true);
}

/* What a device sees of a chain, and what the driver gets back, out of order. */
static void test_chain_shapes(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        Req direct, ind;
        uint16_t id;
        uint32_t len;

        td->mode = TEST_MODE_HOLD;
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 16, false);

        req_make(mem, &direct, 2, 10, 1, 30, 1);
        req_make(mem, &ind, 3, 20, 2, 50, 2);
        ASSERT_OK(vf_packed_add(pr, direct.bufs, direct.n, false, &direct.id));
        ASSERT_OK(vf_packed_add(pr, ind.bufs, ind.n, true, &ind.id));
        ASSERT_EQ(vf_packed_num_free(pr), 16 - 3 - 1);
        ASSERT_EQ(vf_packed_publish_kick(pr), 1);
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 2);

        VuVirtqElement *a = td->held[0], *b = td->held[1];
        ASSERT_EQ(a->index, direct.id);
        ASSERT_EQ(a->out_num, 2);
        ASSERT_EQ(a->in_num, 1);
        ASSERT_EQ(a->out_sg[1].iov_len, 10);
        ASSERT_MEMEQ(a->out_sg[0].iov_base, vf_mem_gpa(mem, direct.bufs[0].gpa, 10), 10);
        ASSERT_EQ(b->index, ind.id);
        ASSERT_EQ(b->out_num, 3);
        ASSERT_EQ(b->in_num, 2);
        ASSERT_EQ(b->in_sg[1].iov_len, 50);

        /* Complete the second first: its used descriptor goes in the first slot, the chain of one. */
        VuVirtq *vq = vu_get_queue(&td->dev, 0);
        memset(b->in_sg[0].iov_base, 0xab, 50);
        vu_queue_push(&td->dev, vq, b, 50);
        vu_queue_notify(&td->dev, vq);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_EQ(id, ind.id);
        ASSERT_EQ(len, 50);
        ASSERT_EQ(((uint8_t *) vf_mem_gpa(mem, ind.bufs[3].gpa, 50))[49], 0xab);
        /* The driver skipped one slot (the indirect chain's): the next used descriptor is in slot 1. */
        uint16_t pos;
        bool wrap;
        vf_packed_next_used(pr, &pos, &wrap);
        ASSERT_EQ(pos, 1);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 0);

        vu_queue_push(&td->dev, vq, a, 0);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_EQ(id, direct.id);
        ASSERT_EQ(len, 0);
        /* A used descriptor with nothing written does not carry WRITE. */
        ASSERT_EQ(vf_packed_desc(pr)[1].flags & VRING_DESC_F_WRITE, 0);
        ASSERT_EQ(vf_packed_num_free(pr), 16);
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/* A batch of three completions becomes visible at once: the first used descriptor's flags come last. */
static void test_batch_flush(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        Req reqs[3];
        uint16_t id;
        uint32_t len;

        td->mode = TEST_MODE_HOLD;
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 8, false);
        for (unsigned int i = 0; i < 3; i++) {
                req_make(mem, &reqs[i], 1, 8, 1, 8, i);
                ASSERT_OK(vf_packed_add(pr, reqs[i].bufs, reqs[i].n, false, &reqs[i].id));
        }
        vf_packed_publish_kick(pr);
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 3);

        VuVirtq *vq = vu_get_queue(&td->dev, 0);
        vu_queue_fill(&td->dev, vq, td->held[2], 3, 0);
        vu_queue_fill(&td->dev, vq, td->held[0], 1, 1);
        vu_queue_fill(&td->dev, vq, td->held[1], 2, 2);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 0); /* nothing before the flush */
        vu_queue_flush(&td->dev, vq, 3);
        const unsigned int order[3] = {2, 0, 1};
        for (unsigned int i = 0; i < 3; i++) {
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                ASSERT_EQ(id, reqs[order[i]].id);
                ASSERT_EQ(len, order[i] + 1);
        }
        ASSERT_EQ(vf_packed_num_free(pr), 8);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * A batch with holes: an element filled twice is returned once, a fill
 * index left unset is skipped, and a batch that crosses the ring's end
 * writes its used descriptors with the next lap's flags.
 */
static void test_batch_flush_gaps(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        Req reqs[3];
        uint16_t id;
        uint32_t len;

        td->mode = TEST_MODE_HOLD;
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 8, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        /* Four rounds of three one-buffer chains in an 8-slot ring: the third crosses its end. */
        for (unsigned int round = 0; round < 4; round++) {
                for (unsigned int i = 0; i < 3; i++) {
                        req_make(mem, &reqs[i], 0, 0, 1, 8, round * 3 + i);
                        ASSERT_OK(vf_packed_add(pr, reqs[i].bufs, reqs[i].n, false, &reqs[i].id));
                }
                vf_packed_publish_kick(pr);
                test_dev_run(td, 1000);
                ASSERT_EQ(td->nheld, 3);

                vu_queue_fill(&td->dev, vq, td->held[1], 5, 0);
                vu_queue_fill(&td->dev, vq, td->held[1], 6, 1); /* twice: ignored */
                vu_queue_fill(&td->dev, vq, td->held[0], 7, 3); /* index 2 left unset */
                vu_queue_fill(&td->dev, vq, td->held[2], 0, 4);
                vu_queue_flush(&td->dev, vq, 5);
                const unsigned int order[3] = {1, 0, 2};
                const uint32_t lens[3] = {5, 7, 0};
                for (unsigned int i = 0; i < 3; i++) {
                        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                        ASSERT_EQ(id, reqs[order[i]].id);
                        ASSERT_EQ(len, lens[i]);
                }
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 0);
                ASSERT_EQ(vf_packed_num_free(pr), 8);
                test_dev_drop_held(td);
        }
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * VIRTIO_F_IN_ORDER (offered by a device that completes in order): a run of
 * buffers used whole costs one used descriptor, written in the run's first
 * slot with its last id; a partly written buffer ends a run. The driver
 * still gets every buffer, with its length.
 */
static void test_in_order(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        const uint32_t lens[5] = {16, 16, 8, 16, 16};
        Req reqs[5];
        uint16_t id;
        uint32_t len;

        td->mode = TEST_MODE_HOLD;
        td->device_features |= F(VIRTIO_F_IN_ORDER);
        test_dev_negotiate(td, mem, features_base | F(VIRTIO_F_IN_ORDER), protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 12, false);
        vf_packed_set_in_order(pr, true);
        for (unsigned int i = 0; i < 5; i++) {
                req_make(mem, &reqs[i], 1, 32, 1, 16, i);
                ASSERT_OK(vf_packed_add(pr, reqs[i].bufs, reqs[i].n, i == 3, &reqs[i].id));
        }
        vf_packed_publish_kick(pr);
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 5);

        VuVirtq *vq = vu_get_queue(&td->dev, 0);
        for (unsigned int i = 0; i < 5; i++)
                vu_queue_fill(&td->dev, vq, td->held[i], lens[i], i);
        vu_queue_flush(&td->dev, vq, 5);

        /* Slots: req0 0-1, req1 2-3, req2 4-5, req3 6 (indirect), req4 7-8. Runs: [0,1,2] and [3,4]. */
        struct vring_packed_desc *ring = vf_packed_desc(pr);
        const uint16_t used_bits = (1u << VRING_PACKED_DESC_F_AVAIL) | (1u << VRING_PACKED_DESC_F_USED);
        ASSERT_EQ(ring[0].id, reqs[2].id);
        ASSERT_EQ(ring[0].len, 8);
        ASSERT_EQ(ring[0].flags & used_bits, used_bits);
        ASSERT_EQ(ring[2].flags & used_bits, 1u << VRING_PACKED_DESC_F_AVAIL); /* req1's slot: not written */
        ASSERT_EQ(ring[4].flags & used_bits, 1u << VRING_PACKED_DESC_F_AVAIL);
        ASSERT_EQ(ring[6].id, reqs[4].id);
        ASSERT_EQ(ring[6].flags & used_bits, used_bits);
        ASSERT_EQ(ring[7].flags & used_bits, 1u << VRING_PACKED_DESC_F_AVAIL);

        for (unsigned int i = 0; i < 5; i++) {
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                ASSERT_EQ(id, reqs[i].id);
                ASSERT_EQ(len, lens[i]);
        }
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 0);
        ASSERT_EQ(vf_packed_num_free(pr), 12);

        /* Completed out of order anyway (a device bug): each gets its own descriptor, nothing is lost. */
        test_dev_drop_held(td);
        for (unsigned int i = 0; i < 2; i++) {
                req_make(mem, &reqs[i], 1, 32, 1, 16, 10 + i);
                ASSERT_OK(vf_packed_add(pr, reqs[i].bufs, reqs[i].n, false, &reqs[i].id));
        }
        vf_packed_publish_kick(pr);
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 2);
        vu_queue_fill(&td->dev, vq, td->held[1], 16, 0);
        vu_queue_fill(&td->dev, vq, td->held[0], 16, 1);
        vu_queue_flush(&td->dev, vq, 2);
        ASSERT_EQ(ring[9].id, reqs[1].id);
        ASSERT_EQ(ring[11].id, reqs[0].id);
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * Migration: with LOG_ALL on, a packed ring marks exactly what the device
 * wrote: the descriptor ring's page (the used descriptor), the bytes written
 * into the buffer, and the device event area when it moves (EVENT_IDX).
 */
static void test_dirty_log(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        const uint64_t page = VF_PAGE_SIZE;
        uint64_t out, in;
        uint16_t id;
        uint32_t len;
        VfLog *log;

        test_dev_negotiate(td, mem, features_base | F(VHOST_F_LOG_ALL) | F(VIRTIO_RING_F_EVENT_IDX),
                           protocol_base | F(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
        ASSERT_OK(vf_log_new(16 * 1024 * 1024, &log));
        ASSERT_OK(vf_set_log_base(td->conn, log));
        VfPacked *pr;
        ASSERT_OK(vf_packed_new(mem, 0, 16, true, &pr));
        ASSERT_OK(vf_packed_setup(td->conn, 0, pr, vf_packed_base(pr), true));
        ASSERT_OK(vf_set_vring_enable(td->conn, 0, true));

        ASSERT_OK(vf_mem_alloc(mem, 1, 2 * page, page, &out));
        ASSERT_OK(vf_mem_alloc(mem, 2, 3 * page, page, &in));
        test_fill_pattern(vf_mem_gpa(mem, out, 2 * page), 2 * page, 3);
        vf_log_clear(log);

        VfBuf b[2] = {{.gpa = out, .len = 2 * page}, {.gpa = in, .len = 3 * page, .write = true}};
        ASSERT_OK(vf_packed_add(pr, b, 2, false, &id));
        ASSERT_EQ(vf_packed_publish_kick(pr), 1);
        test_dev_run(td, 1000);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_EQ(len, 2 * page);

        ASSERT_TRUE(vf_log_test(log, vf_packed_desc_gpa(pr)));
        ASSERT_TRUE(vf_log_test(log, vf_packed_device_event_gpa(pr)));
        ASSERT_TRUE(vf_log_test(log, in));
        ASSERT_TRUE(vf_log_test(log, in + page));
        ASSERT_FALSE(vf_log_test(log, in + 2 * page));
        ASSERT_FALSE(vf_log_test(log, out));
        ASSERT_FALSE(vf_log_test(log, vf_packed_driver_event_gpa(pr)));
        ASSERT_EQ(vf_log_count(log), 4);
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_log_free(log);
        vf_mem_free(mem);
}

/* Used-buffer notifications follow the driver's event area; kicks follow the device's. */
static void test_event_suppression(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        uint64_t calls;
        uint16_t id, flags, off_wrap, pos;
        uint32_t len;
        bool wrap;
        Req q;

        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 8, true);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        /* EVENT_IDX: the device asks for a kick at the slot it will read next. */
        vf_packed_device_event(pr, &flags, &off_wrap);
        ASSERT_EQ(flags, VRING_PACKED_EVENT_FLAG_DESC);
        ASSERT_EQ(off_wrap, 0 | 0x8000);

        /* The driver disables used notifications: completions are written, no call. */
        vf_packed_set_driver_event(pr, VRING_PACKED_EVENT_FLAG_DISABLE, 0);
        for (unsigned int i = 0; i < 3; i++) {
                reset_allocs(mem);
                req_make(mem, &q, 1, 16, 1, 16, i);
                ASSERT_OK(vf_packed_add(pr, q.bufs, q.n, false, &q.id));
                ASSERT_EQ(vf_packed_publish_kick(pr), 1);
                test_dev_run(td, 1000);
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        }
        ASSERT_OK(vf_packed_take_calls(pr, 0, &calls));
        ASSERT_EQ(calls, 0);
        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.stats.calls_suppressed, 3);
        ASSERT_EQ(qi.avail_flags, VRING_PACKED_EVENT_FLAG_DISABLE);
        /* The device moved its kick slot along as it took chains (6 slots taken, lap 1). */
        vf_packed_device_event(pr, &flags, &off_wrap);
        ASSERT_EQ(off_wrap, 6 | 0x8000);

        /* DESC: a call only for the batch whose used slots cover slot 2 of the next lap (wrap 0). */
        vf_packed_set_driver_event(pr, VRING_PACKED_EVENT_FLAG_DESC, 2);
        unsigned int called_at = 0;
        for (unsigned int i = 0; i < 4; i++) {
                reset_allocs(mem);
                req_make(mem, &q, 1, 16, 1, 16, i);
                ASSERT_OK(vf_packed_add(pr, q.bufs, q.n, false, &q.id));
                vf_packed_publish_kick(pr);
                test_dev_run(td, 1000);
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                ASSERT_OK(vf_packed_take_calls(pr, 0, &calls));
                ASSERT_LE(calls, 1);
                if (calls > 0) {
                        ASSERT_EQ(called_at, 0);
                        called_at = i + 1;
                }
        }
        /* Requests at slots 6-7 (lap 1), 0-1, 2-3, 4-5 (lap 0): the third covers slot 2. */
        ASSERT_EQ(called_at, 3);
        vf_packed_next_used(pr, &pos, &wrap);
        ASSERT_EQ(pos, 6);
        ASSERT_FALSE(wrap);
        reset_allocs(mem);
        req_make(mem, &q, 1, 16, 1, 16, 9);
        ASSERT_OK(vf_packed_add(pr, q.bufs, q.n, false, &q.id));
        vf_packed_publish_kick(pr);
        test_dev_run(td, 1000);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_OK(vf_packed_take_calls(pr, 0, &calls));
        ASSERT_EQ(calls, 0); /* slot 6 of lap 0 is not slot 2 */

        /* The device turns kicks off: the driver publishes without kicking; on again: it kicks. */
        vf_packed_set_driver_event(pr, VRING_PACKED_EVENT_FLAG_ENABLE, 0);
        vu_queue_set_notification(&td->dev, vq, false);
        vf_packed_device_event(pr, &flags, &off_wrap);
        ASSERT_EQ(flags, VRING_PACKED_EVENT_FLAG_DISABLE);
        reset_allocs(mem);
        req_make(mem, &q, 1, 16, 1, 16, 10);
        ASSERT_OK(vf_packed_add(pr, q.bufs, q.n, false, &q.id));
        ASSERT_EQ(vf_packed_publish_kick(pr), 0);
        ASSERT_FALSE(vu_queue_empty(&td->dev, vq));
        vu_queue_set_notification(&td->dev, vq, true);
        vf_packed_device_event(pr, &flags, &off_wrap);
        ASSERT_EQ(flags, VRING_PACKED_EVENT_FLAG_DESC);
        ASSERT_EQ(off_wrap, 0 | 0x8000); /* slot 0 of lap 1: the chain not taken yet */
        ASSERT_OK(vf_packed_kick(pr));
        test_dev_run(td, 1000);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_OK(vf_packed_take_calls(pr, 0, &calls));
        ASSERT_EQ(calls, 1); /* ENABLE: every batch calls */
        ASSERT_TRUE(vu_queue_empty(&td->dev, vq));
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/* Without EVENT_IDX the device area says ENABLE or DISABLE, never DESC. */
static void test_notification_no_event_idx(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        uint16_t flags, off_wrap;

        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 8, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);
        vf_packed_device_event(pr, &flags, &off_wrap);
        ASSERT_EQ(flags, VRING_PACKED_EVENT_FLAG_ENABLE);
        vu_queue_set_notification(&td->dev, vq, false);
        vf_packed_device_event(pr, &flags, &off_wrap);
        ASSERT_EQ(flags, VRING_PACKED_EVENT_FLAG_DISABLE);
        vu_queue_set_notification(&td->dev, vq, true);
        vf_packed_device_event(pr, &flags, &off_wrap);
        ASSERT_EQ(flags, VRING_PACKED_EVENT_FLAG_ENABLE);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/* GET_VRING_BASE reports both positions and wrap counters; a new backend given them carries on. */
static void test_vring_base_roundtrip(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        unsigned int base;
        uint16_t id;
        uint32_t len;
        Req q;

        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 5, false);
        /* 7 single-buffer requests round a 5-entry ring: positions 2, wrap counters 0. */
        for (unsigned int i = 0; i < 7; i++) {
                reset_allocs(mem);
                req_make(mem, &q, 1, 8, 0, 0, i);
                ASSERT_OK(vf_packed_add(pr, q.bufs, q.n, false, &q.id));
                vf_packed_publish_kick(pr);
                test_dev_run(td, 1000);
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        }
        ASSERT_OK(vf_get_vring_base(td->conn, 0, &base));
        ASSERT_EQ(base, 2 | 0 << 15 | 2 << 16 | 0u << 31);
        ASSERT_EQ(vf_packed_base(pr), base);
        test_dev_free(td);

        /* A new backend from that base: the next request lands in slot 2 of lap 0 and comes back. */
        td = test_dev_new(1);
        test_dev_negotiate(td, mem, features_base, protocol_base);
        ASSERT_OK(vf_packed_setup(td->conn, 0, pr, base, false));
        ASSERT_OK(vf_set_vring_enable(td->conn, 0, true));
        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.last_avail_idx, 2);
        ASSERT_FALSE(qi.avail_wrap_counter);
        ASSERT_EQ(qi.used_idx, 2);
        ASSERT_FALSE(qi.used_wrap_counter);
        for (unsigned int i = 0; i < 2; i++) {
                reset_allocs(mem);
                req_make(mem, &q, 1, 8, 1, 8, 20 + i);
                ASSERT_OK(vf_packed_add(pr, q.bufs, q.n, false, &q.id));
                vf_packed_publish_kick(pr);
                test_dev_run(td, 1000);
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                ASSERT_EQ(id, q.id);
                req_check_echo(mem, &q, len);
        }
        /* 11 slots in all: slot 1, back in lap 1. */
        ASSERT_OK(vf_get_vring_base(td->conn, 0, &base));
        ASSERT_EQ(base, 1 | 1u << 15 | 1u << 16 | 1u << 31);
        ASSERT_EQ(td->panics, 0);
        test_dev_free(td);

        /* Positions beyond the ring are refused when the ring starts, naming them. */
        td = test_dev_new(1);
        test_dev_negotiate(td, mem, features_base, protocol_base);
        ASSERT_ERR(vf_packed_setup(td->conn, 0, pr, 5 | 1u << 15 | 1u << 31, false), -EREMOTEIO);
        ASSERT_TRUE(strstr(vu_last_error(&td->dev), "5") != NULL);
        ASSERT_FALSE(vu_queue_started(&td->dev, vu_get_queue(&td->dev, 0)));
        test_dev_free(td);

        vf_packed_free(pr);
        vf_mem_free(mem);
}

/* unpop puts a chain back; avail_bytes counts what is there without taking it. */
static void test_unpop_and_avail_bytes(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        unsigned int in, out;
        Req a, b;

        td->mode = TEST_MODE_IGNORE;
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 4, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        req_make(mem, &a, 2, 100, 1, 300, 1);
        req_make(mem, &b, 1, 50, 2, 70, 2);
        ASSERT_OK(vf_packed_add(pr, a.bufs, a.n, false, &a.id));
        ASSERT_OK(vf_packed_add(pr, b.bufs, b.n, true, &b.id));
        vf_packed_publish(pr);

        vu_queue_get_avail_bytes(&td->dev, vq, &in, &out, UINT32_MAX, UINT32_MAX);
        ASSERT_EQ(out, 250);
        ASSERT_EQ(in, 440);
        ASSERT_TRUE(vu_queue_avail_bytes(&td->dev, vq, 440, 250));
        ASSERT_FALSE(vu_queue_avail_bytes(&td->dev, vq, 441, 0));

        VuVirtqElement *e = vu_queue_pop(&td->dev, vq, sizeof(VuVirtqElement));
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->index, a.id);
        vu_queue_unpop(&td->dev, vq, e, 0);
        free(e);
        e = vu_queue_pop(&td->dev, vq, sizeof(VuVirtqElement));
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->index, a.id); /* the same chain again */
        VuVirtqElement *f = vu_queue_pop(&td->dev, vq, sizeof(VuVirtqElement));
        ASSERT_NOT_NULL(f);
        ASSERT_EQ(f->index, b.id);
        ASSERT_NULL(vu_queue_pop(&td->dev, vq, sizeof(VuVirtqElement)));
        ASSERT_TRUE(vu_queue_empty(&td->dev, vq));
        /* Only the newest pop can be put back (it must be next to last_avail_idx). */
        ASSERT_FALSE(vu_queue_rewind(&td->dev, vq, 3));
        ASSERT_TRUE(vu_queue_rewind(&td->dev, vq, 2));
        free(e);
        free(f);
        e = vu_queue_pop(&td->dev, vq, sizeof(VuVirtqElement));
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->index, a.id);
        vu_queue_push(&td->dev, vq, e, 0);
        free(e);
        e = vu_queue_pop(&td->dev, vq, sizeof(VuVirtqElement));
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->index, b.id);
        vu_queue_push(&td->dev, vq, e, 0);
        free(e);
        uint16_t id;
        uint32_t len;
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_EQ(id, a.id);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_EQ(id, b.id);
        ASSERT_EQ(vf_packed_num_free(pr), 4);
        ASSERT_EQ(td->panics, 0);
        /* Two chains, each popped three times and given back twice: two pops, two pushes. */
        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.stats.popped, 2);
        ASSERT_EQ(qi.stats.pushed, 2);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * One-buffer chains through vu_queue_pop_into(), which takes them on a short
 * path: over several laps of a 5-entry ring, alternating regions, rewound
 * and popped again; each arrives as the general walk gives it.
 */
static void test_pop_into_single_buffers(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        struct iovec iov[4];

        td->mode = TEST_MODE_IGNORE;
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 5, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        for (unsigned int round = 0; round < 6; round++) {
                Req q[4];
                VuVirtqElement e[4];

                for (unsigned int i = 0; i < 4; i++) {
                        bool out = (round + i) % 2 == 0;

                        req_make(mem, &q[i], out ? 1 : 0, 60 + i, out ? 0 : 1, 1500, round * 4 + i);
                        ASSERT_OK(vf_packed_add(pr, q[i].bufs, q[i].n, false, &q[i].id));
                }
                vf_packed_publish(pr);
                for (unsigned int i = 0; i < 4; i++) {
                        ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e[i], &iov[i], 1), 1);
                        if (i == 3) {
                                /* Put back and taken again: the same chain. */
                                ASSERT_TRUE(vu_queue_rewind(&td->dev, vq, 1));
                                ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e[i], &iov[i], 1), 1);
                        }
                        ASSERT_EQ(e[i].index, q[i].id);
                        ASSERT_EQ(e[i].out_num, q[i].nout);
                        ASSERT_EQ(e[i].in_num, q[i].n - q[i].nout);
                        ASSERT_EQ(iov[i].iov_len, q[i].bufs[0].len);
                        ASSERT_MEMEQ(iov[i].iov_base, vf_mem_gpa(mem, q[i].bufs[0].gpa, q[i].bufs[0].len),
                                     q[i].bufs[0].len);
                }
                ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &(VuVirtqElement){}, iov, 1), 0);
                for (unsigned int i = 0; i < 4; i++)
                        vu_queue_fill(&td->dev, vq, &e[i], e[i].in_num ? 1500 : 0, i);
                vu_queue_flush(&td->dev, vq, 4);
                for (unsigned int i = 0; i < 4; i++) {
                        uint16_t id;
                        uint32_t len;

                        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                        ASSERT_EQ(id, q[i].id);
                        ASSERT_EQ(len, q[i].nout ? 0 : 1500);
                }
                ASSERT_EQ(vf_packed_num_free(pr), 5);
        }
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * vu_queue_pop_burst() on a packed ring: one-buffer chains in a run over
 * several laps of a 7-slot ring (the wrap counter flips mid-burst), each as
 * vu_queue_pop_into() gives it; it stops untaken before a two-descriptor
 * chain, which pop_into takes; rewound bursts come again; with EVENT_IDX
 * the device event names the slot after the burst.
 */
static void test_pop_burst(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        struct iovec iov[8];
        VuVirtqElement e[8];
        VuQueueInfo info;

        td->mode = TEST_MODE_IGNORE;
        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 7, true);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        for (unsigned int round = 0; round < 6; round++) {
                Req q[5];

                /* Three one-buffer chains (one of them device-writable), a chain of two, one more. */
                for (unsigned int i = 0; i < 5; i++) {
                        if (i == 3)
                                req_make(mem, &q[i], 1, 16, 1, 16, round * 5 + i);
                        else
                                req_make(mem, &q[i], i == 1 ? 0 : 1, 60 + i, i == 1 ? 1 : 0, 1500,
                                         round * 5 + i);
                        ASSERT_OK(vf_packed_add(pr, q[i].bufs, q[i].n, false, &q[i].id));
                }
                vf_packed_publish(pr);

                ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, e, iov, ELEMENTSOF(e)), 3);
                ASSERT_TRUE(vu_queue_rewind(&td->dev, vq, 2));
                ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, &e[1], &iov[1], ELEMENTSOF(e) - 1), 2);
                for (unsigned int i = 0; i < 3; i++) {
                        ASSERT_EQ(e[i].index, q[i].id);
                        ASSERT_EQ(e[i].out_num, q[i].nout);
                        ASSERT_EQ(e[i].in_num, q[i].n - q[i].nout);
                        ASSERT_TRUE((q[i].nout ? e[i].out_sg : e[i].in_sg) == &iov[i]);
                        ASSERT_EQ(iov[i].iov_len, q[i].bufs[0].len);
                        ASSERT_MEMEQ(iov[i].iov_base, vf_mem_gpa(mem, q[i].bufs[0].gpa, q[i].bufs[0].len),
                                     q[i].bufs[0].len);
                }
                ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, &e[3], &iov[3], 5), 0);
                ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e[3], &iov[3], 2), 1);
                ASSERT_EQ(e[3].index, q[3].id);
                ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, &e[4], &iov[5], 3), 1);
                ASSERT_EQ(e[4].index, q[4].id);
                ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, &e[5], &iov[6], 2), 0);

                ASSERT_OK(vu_queue_get_info(&td->dev, 0, &info));
                ASSERT_EQ(info.inuse, 5);
                ASSERT_EQ(info.avail_event & 0x7fff, info.last_avail_idx);
                ASSERT_EQ(!!(info.avail_event & 0x8000), info.avail_wrap_counter);

                /* Returned as bursts: the first two unwritten, the rest with lengths. */
                unsigned int lens[5];
                for (unsigned int i = 0; i < 5; i++)
                        lens[i] = i >= 2 && e[i].in_num ? 9 : 0;
                vu_queue_fill_burst(&td->dev, vq, e, NULL, 2, 0);
                vu_queue_fill_burst(&td->dev, vq, &e[2], &lens[2], 3, 2);
                vu_queue_flush(&td->dev, vq, 5);
                for (unsigned int i = 0; i < 5; i++) {
                        uint16_t id;
                        uint32_t len;

                        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                        ASSERT_EQ(id, q[i].id);
                        ASSERT_EQ(len, lens[i]);
                }
                ASSERT_EQ(vf_packed_num_free(pr), 7);
        }
        ASSERT_EQ(td->panics, 0);

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

typedef enum BadSingle {
        BAD_NOT_IN_MEMORY,
        BAD_ID_RANGE,
        BAD_ID_IN_FLIGHT,
} BadSingle;

/* A malformed one-buffer chain is refused by pop_into's short path as by the walker. */
static void run_bad_single(BadSingle bad, const char *needle) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        struct iovec iov[4];
        VuVirtqElement e;
        Req a, b;
        uint16_t pos;
        bool wrap;

        td->mode = TEST_MODE_IGNORE;
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 8, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        req_make(mem, &a, 1, 64, 0, 0, 1);
        ASSERT_OK(vf_packed_add(pr, a.bufs, a.n, false, &a.id));
        vf_packed_publish(pr);
        ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e, iov, ELEMENTSOF(iov)), 1); /* a stays in flight */

        req_make(mem, &b, 1, 64, 0, 0, 2);
        vf_packed_next_avail(pr, &pos, &wrap);
        ASSERT_OK(vf_packed_add(pr, b.bufs, b.n, false, &b.id));
        struct vring_packed_desc *d = &vf_packed_desc(pr)[pos];
        if (bad == BAD_NOT_IN_MEMORY)
                d->addr = UINT64_C(0x300000) + REGION_SIZE - 8; /* runs off the end of region 1 */
        else if (bad == BAD_ID_RANGE)
                d->id = 8;
        else
                d->id = a.id;
        vf_packed_publish(pr);
        ASSERT_EQ(vu_queue_pop_burst(&td->dev, vq, &e, iov, 1), 0); /* left for pop_into to refuse */
        ASSERT_EQ(td->panics, 0);
        ASSERT_ERR(vu_queue_pop_into(&td->dev, vq, &e, iov, ELEMENTSOF(iov)), -EBADMSG);
        ASSERT_EQ(td->panics, 1);
        ASSERT_TRUE(td->dev.broken);
        ASSERT_NOT_NULL(strstr(td->panic_msg, needle));

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_pop_into_refuses_bad_single_buffers(void) {
        run_bad_single(BAD_NOT_IN_MEMORY, "not in guest memory");
        run_bad_single(BAD_ID_RANGE, "out of range");
        run_bad_single(BAD_ID_IN_FLIGHT, "in flight");
}

/*
 * A backend pops four requests, completes the second and crashes. The next
 * one, given the same inflight buffer and the base a frontend that lost its
 * backend sends, redoes the three in the order first taken, then the two
 * never taken; every id comes back exactly once.
 */
static void test_inflight_resubmit(void) {
        const uint64_t protocol = protocol_base | F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        const unsigned int num = 10;
        VfInflight *inf;
        Req reqs[6];
        uint16_t id;
        uint32_t len;

        TestDev *td = test_dev_new(1);
        td->mode = TEST_MODE_HOLD;
        td->hold_max = 4;
        test_dev_negotiate(td, mem, features_base, protocol);
        ASSERT_OK(vf_get_inflight_fd(td->conn, 1, num, &inf));
        ASSERT_OK(vf_set_inflight_fd(td->conn, inf));
        VfPacked *pr = packed_start(td, mem, 0, num, false);

        /* Put the ring off slot 0 first, so the crash happens mid-lap: one round trip of 7 slots. */
        td->mode = TEST_MODE_ECHO;
        for (unsigned int i = 0; i < 7; i++) {
                req_make(mem, &reqs[0], 1, 8, 0, 0, i);
                ASSERT_OK(vf_packed_add(pr, reqs[0].bufs, reqs[0].n, false, &reqs[0].id));
        }
        vf_packed_publish_kick(pr);
        test_dev_run(td, 1000);
        for (unsigned int i = 0; i < 7; i++)
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        td->mode = TEST_MODE_HOLD;

        for (unsigned int i = 0; i < 6; i++) {
                req_make(mem, &reqs[i], 1, 16, i % 2, 16, 100 + i);
                ASSERT_OK(vf_packed_add(pr, reqs[i].bufs, reqs[i].n, i == 5, &reqs[i].id));
        }
        ASSERT_EQ(vf_packed_publish_kick(pr), 1);
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 4);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);
        VuQueueInfo qi;
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.inflight, 4);
        vu_queue_push(&td->dev, vq, td->held[1], 0);
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.inflight, 3);
        test_dev_free(td); /* the crash */

        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_EQ(id, reqs[1].id);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 0);

        td = test_dev_new(1);
        td->mode = TEST_MODE_HOLD;
        test_dev_negotiate(td, mem, features_base, protocol);
        ASSERT_OK(vf_set_inflight_fd(td->conn, inf));
        /* The frontend's idea of the base is stale (it never saw GET_VRING_BASE): the buffer knows better.
         */
        ASSERT_OK(vf_packed_setup(td->conn, 0, pr, 0x80008000, false));
        ASSERT_OK(vf_set_vring_enable(td->conn, 0, true));
        vq = vu_get_queue(&td->dev, 0);
        ASSERT_TRUE(vu_queue_started(&td->dev, vq));
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.resubmit_pending, 3);

        ASSERT_OK(vf_packed_kick(pr));
        test_dev_run(td, 1000);
        ASSERT_EQ(td->nheld, 5);
        const unsigned int order[5] = {0, 2, 3, 4, 5};
        for (unsigned int i = 0; i < 5; i++) {
                ASSERT_EQ(td->held[i]->index, reqs[order[i]].id);
                ASSERT_EQ(td->held[i]->out_num, 1);
                ASSERT_EQ(td->held[i]->in_num, order[i] % 2);
                ASSERT_MEMEQ(td->held[i]->out_sg[0].iov_base,
                             vf_mem_gpa(mem, reqs[order[i]].bufs[0].gpa, 16), 16);
        }
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.stats.resubmitted, 3);

        for (unsigned int i = 0; i < 5; i++)
                vu_queue_push(&td->dev, vq, td->held[i], 0);
        vu_queue_notify(&td->dev, vq);
        for (unsigned int i = 0; i < 5; i++) {
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                ASSERT_EQ(id, reqs[order[i]].id);
        }
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 0);
        ASSERT_EQ(vf_packed_num_free(pr), num);
        ASSERT_OK(vu_queue_get_info(&td->dev, 0, &qi));
        ASSERT_EQ(qi.inflight, 0);
        ASSERT_EQ(td->panics, 0);

        /* And the ring goes on from there. */
        td->mode = TEST_MODE_ECHO;
        test_dev_drop_held(td);
        req_make(mem, &reqs[0], 1, 32, 1, 32, 77);
        ASSERT_OK(vf_packed_add(pr, reqs[0].bufs, reqs[0].n, false, &reqs[0].id));
        vf_packed_publish_kick(pr);
        test_dev_run(td, 1000);
        ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
        ASSERT_EQ(id, reqs[0].id);
        req_check_echo(mem, &reqs[0], len);

        test_dev_free(td);
        vf_packed_free(pr);
        vf_inflight_free(inf);
        vf_mem_free(mem);
}

/* EVENT_IDX: finding the ring empty puts the device event back on the next slot, even when stale. */
static void test_empty_ring_arms_device_event(void) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        uint16_t flags, off_wrap, pos, id;
        uint32_t len;
        bool wrap;
        Req q;

        test_dev_negotiate(td, mem, features_base | F(VIRTIO_RING_F_EVENT_IDX), protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 8, true);
        struct vring_packed_desc_event *ev =
                (struct vring_packed_desc_event *) vf_mem_gpa(mem, vf_packed_device_event_gpa(pr), 4);

        for (unsigned int round = 0; round < 10; round++) {
                /* Stale: a slot half a ring away, on the other lap. */
                vf_packed_next_avail(pr, &pos, &wrap);
                ev->off_wrap = htole16((uint16_t) (((pos + 4) % 8) | (wrap ? 0 : 0x8000)));
                ASSERT_OK(vf_packed_kick(pr));
                test_dev_run(td, 1000);
                vf_packed_device_event(pr, &flags, &off_wrap);
                ASSERT_EQ(flags, VRING_PACKED_EVENT_FLAG_DESC);
                ASSERT_EQ(off_wrap, pos | (wrap ? 0x8000 : 0));

                reset_allocs(mem);
                req_make(mem, &q, 1, 16, 1, 16, round);
                ASSERT_OK(vf_packed_add(pr, q.bufs, q.n, false, &q.id));
                ASSERT_EQ(vf_packed_publish_kick(pr), 1);
                test_dev_run(td, 1000);
                ASSERT_EQ(vf_packed_get_used(pr, &id, &len), 1);
                ASSERT_EQ(id, q.id);
        }

        ASSERT_EQ(td->panics, 0);
        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

/*
 * DPDK's virtio transmit tables: entries of an indirect table keep
 * VRING_DESC_F_WRITE (the header, the entry at the ring slot's index) among
 * readable data entries. A table out of order is taken as all device-readable;
 * a table in order keeps its writable buffers; a direct chain out of order is
 * still refused.
 */
static void run_write_order(const bool write[3], bool indirect, unsigned int want_out, unsigned int want_in) {
        TestDev *td = test_dev_new(1);
        VfMem *mem = test_mem_new(3, REGION_SIZE);
        struct iovec iov[8];
        VuVirtqElement e;
        VfBuf bufs[3] = {
                {.gpa = 0x100000, .len = 12, .write = write[0]},
                {.gpa = 0x101000, .len = 64, .write = write[1]},
                {.gpa = 0x102000, .len = 64, .write = write[2]},
        };
        uint16_t id;

        td->mode = TEST_MODE_IGNORE;
        test_dev_negotiate(td, mem, features_base, protocol_base);
        VfPacked *pr = packed_start(td, mem, 0, 8, false);
        VuVirtq *vq = vu_get_queue(&td->dev, 0);

        ASSERT_OK(vf_packed_add(pr, bufs, 3, indirect, &id));
        vf_packed_publish(pr);
        if (want_out + want_in > 0) {
                ASSERT_EQ(vu_queue_pop_into(&td->dev, vq, &e, iov, ELEMENTSOF(iov)), 1);
                ASSERT_EQ(e.index, id);
                ASSERT_EQ(e.out_num, want_out);
                ASSERT_EQ(e.in_num, want_in);
                ASSERT_EQ(e.out_sg[0].iov_len, 12);
                ASSERT_EQ(td->panics, 0);
        } else {
                ASSERT_ERR(vu_queue_pop_into(&td->dev, vq, &e, iov, ELEMENTSOF(iov)), -EBADMSG);
                ASSERT_EQ(td->panics, 1);
                ASSERT_NOT_NULL(strstr(td->panic_msg, "device-readable after a device-writable one"));
        }

        vf_packed_free(pr);
        test_dev_free(td);
        vf_mem_free(mem);
}

static void test_indirect_write_order(void) {
        run_write_order((const bool[3]){true, false, false}, true, 3, 0); /* DPDK: the header */
        run_write_order((const bool[3]){true, true, false}, true, 3, 0);  /* DPDK: header, slot 1's entry */
        run_write_order((const bool[3]){true, false, true}, true, 3, 0);  /* out of order: only read */
        run_write_order((const bool[3]){false, true, true}, true, 1, 2);  /* in order: as marked */
        run_write_order((const bool[3]){true, false, false}, false, 0, 0); /* direct: refused */
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_laps);
        RUN_TEST(test_laps_event_idx);
        RUN_TEST(test_laps_pop_into);
        RUN_TEST(test_chain_shapes);
        RUN_TEST(test_batch_flush);
        RUN_TEST(test_batch_flush_gaps);
        RUN_TEST(test_in_order);
        RUN_TEST(test_dirty_log);
        RUN_TEST(test_event_suppression);
        RUN_TEST(test_notification_no_event_idx);
        RUN_TEST(test_vring_base_roundtrip);
        RUN_TEST(test_unpop_and_avail_bytes);
        RUN_TEST(test_pop_into_single_buffers);
        RUN_TEST(test_pop_into_refuses_bad_single_buffers);
        RUN_TEST(test_pop_burst);
        RUN_TEST(test_inflight_resubmit);
        RUN_TEST(test_empty_ring_arms_device_event);
        RUN_TEST(test_indirect_write_order);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
