/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the packed ring's state machine, beyond the walker
 * alone (fuzz-descriptors covers that): a packed queue of any size from 1 to
 * 64 (not only powers of two), started at any base and wrap counters, with
 * an optional inflight buffer whose packed record comes from the input (as a
 * hostile frontend hands one back after a crash), then driven by a device
 * that pops, holds, completes in batches and out of order, puts chains back,
 * toggles notifications and asks for avail_bytes, over a ring image the
 * input writes.
 *
 * Input:
 *   u8  qsize - 1 (mod 64)
 *   u16 avail base (bits 0-14 mod qsize, bit 15 wrap)
 *   u16 used base (same)
 *   u8  flags: bit 0 EVENT_IDX; bit 1 inflight buffer from the input
 *   u8  ops[26]: bits 0-2 what (pop+push, pop+hold, flush held in reverse,
 *       unpop newest held, notifications off/on, notify, avail_bytes+empty,
 *       push one held), bits 3-7 an argument (push length)
 *   then, with flag bit 1, 32 + 32 * qsize bytes of the inflight record
 *   then the memory image at IMAGE_GPA (descriptor ring, driver area after it).
 *
 * Checked beyond "no crash, no UB, no leak, no hang": every popped buffer
 * lies in guest memory and its id is below the queue size.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostile.h"
#include "internal.h"

#define IMAGE_GPA HOSTILE_DESC_GPA
#define MEM0_SIZE UINT64_C(0x10000)
#define IMAGE_MAX (MEM0_SIZE - IMAGE_GPA)
#define HDR_SIZE 32
#define MAX_HELD 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool iov_in_guest_memory(Hostile *h, const struct iovec *v) {
        VuRegionInfo r[8];
        unsigned int n = vu_get_regions(&h->dev, r, 8);

        for (unsigned int i = 0; i < n && i < 8; i++) {
                uintptr_t start = (uintptr_t) r[i].host_addr, base = (uintptr_t) v->iov_base;

                if (base >= start && base - start <= r[i].size && v->iov_len <= r[i].size - (base - start))
                        return true;
        }
        return false;
}

static void check_element(Hostile *h, const VuVirtqElement *e, unsigned int qsize) {
        if (e->index >= qsize) {
                fprintf(stderr, "element id %u in a queue of %u\n", e->index, qsize);
                abort();
        }
        for (unsigned int i = 0; i < e->out_num + e->in_num; i++) {
                const struct iovec *v = i < e->out_num ? &e->out_sg[i] : &e->in_sg[i - e->out_num];

                if (v->iov_len > 0 && !iov_in_guest_memory(h, v)) {
                        fprintf(stderr, "iovec %u (%p+%zu) outside guest memory\n", i, v->iov_base,
                                v->iov_len);
                        abort();
                }
        }
}

/* GET_INFLIGHT_FD, overwrite queue 0's record with @rec, SET_INFLIGHT_FD. */
static void inflight_from_input(Hostile *h, const uint8_t *rec, size_t len) {
        VhostUserInflight want = {.num_queues = 2, .queue_size = 64}, got;
        VhostUserMsg reply;
        void *map;
        int fd;

        hostile_expect_ok(h, VHOST_USER_GET_INFLIGHT_FD, &want, sizeof(want), NULL, 0, &reply);
        if (reply.fd_num != 1)
                abort();
        fd = reply.fds[0];
        got = reply.payload.inflight;
        map = mmap(NULL, got.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                abort();
        memcpy(map, rec, MIN(len, (size_t) got.mmap_size / 2));
        munmap(map, got.mmap_size);
        hostile_expect_ok(h, VHOST_USER_SET_INFLIGHT_FD, &got, sizeof(got), &fd, 1, NULL);
        close(fd);
}

static void flush_held(Hostile *h, VuVirtq *vq, VuVirtqElement **held, unsigned int *nheld,
                       unsigned int len) {
        /* Completed newest first: a batch out of pop order. */
        for (unsigned int k = 0; k < *nheld; k++)
                vu_queue_fill(&h->dev, vq, held[*nheld - 1 - k], len, k);
        vu_queue_flush(&h->dev, vq, *nheld);
        for (unsigned int k = 0; k < *nheld; k++)
                free(held[k]);
        *nheld = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VuVirtqElement *held[MAX_HELD];
        unsigned int nheld = 0, qsize;
        uint8_t flags;
        uint32_t base;
        const uint8_t *ops;
        VuVirtq *vq;
        Hostile h;

        if (size < HDR_SIZE)
                return 0;
        qsize = (data[0] % 64) + 1;
        {
                uint16_t a = (uint16_t) (data[1] | data[2] << 8), u = (uint16_t) (data[3] | data[4] << 8);

                /* Out-of-range positions are refused at start (hostile tests pin that): keep them in range.
                 */
                base = ((a & 0x7fffu) % qsize) | (a & 0x8000u) |
                       (((u & 0x7fffu) % qsize) | (u & 0x8000u)) << 16;
        }
        flags = data[5];
        ops = data + 6;
        data += HDR_SIZE;
        size -= HDR_SIZE;

        hostile_new(&h, 2);
        h.quiet = true;
        hostile_negotiate(&h, UINT64_C(1) << VIRTIO_F_RING_PACKED |
                                      (flags & 1 ? UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX : 0));
        if (!(h.dev.features & (UINT64_C(1) << VIRTIO_F_RING_PACKED)))
                abort(); /* the library offers packed rings */
        hostile_mem_add(&h, 0, MEM0_SIZE);
        hostile_mem_add(&h, MEM0_SIZE, 0x1000);
        hostile_mem_add(&h, 0x100000, 0x1000);
        hostile_mem_table_send(&h);

        if (flags & 2) {
                size_t rec = 32 + 32 * (size_t) qsize;

                if (size < rec) {
                        hostile_free(&h);
                        return 0;
                }
                inflight_from_input(&h, data, rec);
                data += rec;
                size -= rec;
        }

        /* The start reads the inflight record (over a zeroed ring); its chains are walked when popped. */
        memset(hostile_gpa(&h, 0, MEM0_SIZE), 0, MEM0_SIZE);
        hostile_queue_setup_base(&h, 0, (uint16_t) qsize, IMAGE_GPA, base);
        memcpy(hostile_gpa(&h, IMAGE_GPA, MIN(size, IMAGE_MAX)), data, MIN(size, IMAGE_MAX));
        vq = vu_get_queue(&h.dev, 0);

        for (unsigned int i = 0; i < 26 && !h.dev.broken; i++) {
                unsigned int arg = ops[i] >> 3;
                VuVirtqElement *e;

                switch (ops[i] & 7) {
                case 0:
                case 1:
                        e = vu_queue_pop(&h.dev, vq, sizeof(VuVirtqElement));
                        if (!e)
                                break;
                        check_element(&h, e, qsize);
                        if ((ops[i] & 7) == 0 || nheld >= MAX_HELD) {
                                vu_queue_push(
                                        &h.dev, vq, e,
                                        (unsigned int) MIN(hostile_iov_len(e->in_sg, e->in_num), arg * 8));
                                free(e);
                        } else
                                held[nheld++] = e;
                        break;
                case 2:
                        flush_held(&h, vq, held, &nheld, arg);
                        break;
                case 3:
                        if (nheld > 0) {
                                vu_queue_unpop(&h.dev, vq, held[nheld - 1], 0);
                                free(held[--nheld]);
                        }
                        break;
                case 4:
                        vu_queue_set_notification(&h.dev, vq, arg & 1);
                        break;
                case 5:
                        vu_queue_notify(&h.dev, vq);
                        break;
                case 6: {
                        unsigned int in = 0, out = 0;

                        vu_queue_get_avail_bytes(&h.dev, vq, &in, &out, arg * 64, UINT32_MAX);
                        (void) vu_queue_empty(&h.dev, vq);
                        break;
                }
                case 7:
                        if (nheld > 0) {
                                unsigned int k = arg % nheld;

                                vu_queue_push(&h.dev, vq, held[k], 0);
                                free(held[k]);
                                held[k] = held[--nheld];
                        }
                        break;
                }
        }
        {
                VuQueueInfo qi;

                (void) vu_queue_get_info(&h.dev, 0, &qi);
        }
        for (unsigned int k = 0; k < nheld; k++)
                free(held[k]);
        hostile_free(&h);
        return 0;
}
