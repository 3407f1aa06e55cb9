/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the split-ring descriptor walker: the input becomes
 * guest memory and ring state, as a malicious guest would lay them out.
 *
 * Input: a 12-byte header then a memory image copied to guest address
 * IMAGE_GPA (guest memory is three regions: [0, 64 KiB) and [64 KiB, 68 KiB)
 * adjacent, so buffers can cross a region boundary, and a lone page at 1 MiB).
 *   u16 num       queue size for the walker (any value: > 1024 must be refused)
 *   u16 head      head index
 *   u16 desc_off  where the descriptor table starts inside the image (x16)
 *   u16 iov_max   room given to the walker
 *   u8  mode      bit 0: walk with no iovec array (count only);
 *                 bit 1: also run the image through vu_queue_pop on a real queue;
 *                 bits 2-4: log2 of that queue's size; bit 5: negotiate EVENT_IDX;
 *                 bit 6: packed ring (VIRTIO_F_RING_PACKED) instead of split;
 *                 bit 7: the packed walker's driver wrap counter
 *   u8  pops      how many chains to pop at most
 *   u16 base      ignored (reserved)
 *
 * Checked beyond "no crash, no UB, no leak": an accepted chain's iovecs all lie
 * inside the library's mappings of guest memory and add up to the byte
 * counts it reports, never more than iov_max of them; a refusal says why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "hostile.h"
#include "internal.h"

#define IMAGE_GPA HOSTILE_DESC_GPA
#define MEM0_SIZE UINT64_C(0x10000)
#define IMAGE_MAX (MEM0_SIZE - IMAGE_GPA)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Hostile walker;
static bool walker_ready;
static struct iovec iov[VU_MAX_CHAIN_IOV];

static void setup_memory(Hostile *h) {
        hostile_mem_add(h, 0, MEM0_SIZE);
        hostile_mem_add(h, MEM0_SIZE, 0x1000);
        hostile_mem_add(h, 0x100000, 0x1000);
        hostile_mem_table_send(h);
}

static void load_image(Hostile *h, const uint8_t *img, size_t len) {
        memset(hostile_gpa(h, 0, MEM0_SIZE), 0, MEM0_SIZE);
        memcpy(hostile_gpa(h, IMAGE_GPA, len), img, len);
}

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

static void run_walker(const uint8_t *hdr, const uint8_t *img, size_t len) {
        unsigned int num, head, desc_off, iov_max;
        bool count_only = hdr[8] & 1;
        char err[256];
        VqChain chain;
        int r;

        if (!walker_ready) {
                hostile_new(&walker, 2);
                walker.quiet = true;
                hostile_negotiate(&walker, 0);
                setup_memory(&walker);
                walker_ready = true;
        }
        load_image(&walker, img, len);

        num = (unsigned int) (hdr[0] | hdr[1] << 8) % 1100;
        head = (unsigned int) (hdr[2] | hdr[3] << 8);
        desc_off = (unsigned int) (hdr[4] | hdr[5] << 8) * 16 % IMAGE_MAX;
        iov_max = (unsigned int) (hdr[6] | hdr[7] << 8) % (VU_MAX_CHAIN_IOV + 1);
        /* The table itself is the ring's and was mapped whole by the library; keep it in memory. */
        if (num > 0 && num <= VIRTQUEUE_MAX_SIZE && desc_off + 16 * (uint64_t) num > IMAGE_MAX)
                desc_off = (unsigned int) (IMAGE_MAX - 16 * (uint64_t) num);

        if (hdr[8] & 0x40) {
                unsigned int id, ndescs;

                r = vq_packed_walk(&walker.dev,
                                   hostile_gpa(&walker, IMAGE_GPA + desc_off, num <= 1024 ? 16 * num : 0), num, head,
                                   hdr[8] & 0x80, count_only ? NULL : iov, iov_max, &chain, &id, &ndescs, err,
                                   sizeof(err));
                if (r == 0)
                        return; /* nothing available at that slot */
                if (r == 1) {
                        if (id >= num || ndescs == 0 || ndescs > num)
                                abort();
                        r = 0;
                }
        } else
                r = vq_split_walk(&walker.dev,
                                  hostile_gpa(&walker, IMAGE_GPA + desc_off, num <= 1024 ? 16 * num : 0), num, head,
                                  count_only ? NULL : iov, iov_max, &chain, err, sizeof(err));
        if (r == -EBADMSG) {
                if (!err[0] || !memchr(err, 0, sizeof(err)))
                        abort();
                return;
        }
        if (r == -E2BIG) {
                if (count_only)
                        abort(); /* nothing to run out of */
                return;
        }
        if (r != 0)
                abort();
        if (count_only)
                return;
        if (chain.out_num + chain.in_num > iov_max)
                abort();
        {
                uint64_t out = 0, in = 0;

                for (unsigned int i = 0; i < chain.out_num + chain.in_num; i++) {
                        if (iov[i].iov_len > 0 && !iov_in_guest_memory(&walker, &iov[i])) {
                                fprintf(stderr, "iovec %u (%p+%zu) outside guest memory\n", i, iov[i].iov_base,
                                        iov[i].iov_len);
                                abort();
                        }
                        if (i < chain.out_num)
                                out += iov[i].iov_len;
                        else
                                in += iov[i].iov_len;
                }
                if (out != chain.out_bytes || in != chain.in_bytes) {
                        fprintf(stderr, "iovecs add up to %llu out + %llu in, chain says %llu + %llu\n",
                                (unsigned long long) out, (unsigned long long) in,
                                (unsigned long long) chain.out_bytes, (unsigned long long) chain.in_bytes);
                        abort();
                }
        }
}

static void run_queue(const uint8_t *hdr, const uint8_t *img, size_t len) {
        uint16_t qsize = (uint16_t) (1u << ((hdr[8] >> 2) & 7));
        unsigned int pops = hdr[9] % 64;
        VuVirtq *vq;
        Hostile h;

        bool packed = hdr[8] & 0x40;

        hostile_new(&h, 2);
        h.quiet = true;
        hostile_negotiate(&h, (hdr[8] & 0x20 ? UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX : 0) |
                                      (packed ? UINT64_C(1) << VIRTIO_F_RING_PACKED : 0));
        packed = h.dev.features & (UINT64_C(1) << VIRTIO_F_RING_PACKED); /* if the library offers it */
        setup_memory(&h);
        /* A fresh packed ring starts with both wrap counters at 1 (bits 15 and 31 of the base). */
        hostile_queue_setup_base(&h, 0, qsize, IMAGE_GPA, packed ? UINT32_C(0x80008000) : 0);
        load_image(&h, img, len);
        vq = vu_get_queue(&h.dev, 0);

        {
                unsigned int in = 0, out = 0;

                vu_queue_get_avail_bytes(&h.dev, vq, &in, &out, UINT32_MAX, UINT32_MAX);
        }
        for (unsigned int i = 0; i < pops && !h.dev.broken; i++) {
                VuVirtqElement *e = vu_queue_pop(&h.dev, vq, sizeof(VuVirtqElement));

                if (!e)
                        break;
                if (i % 3 == 2) {
                        vu_queue_unpop(&h.dev, vq, e, 0);
                        free(e);
                        continue;
                }
                vu_queue_push(&h.dev, vq, e, (unsigned int) MIN(hostile_iov_len(e->in_sg, e->in_num), 64));
                free(e);
        }
        if (!h.dev.broken) {
                vu_queue_notify(&h.dev, vq);
                (void) vu_queue_empty(&h.dev, vq);
        }
        hostile_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 12)
                return 0;
        size -= 12;
        if (size > IMAGE_MAX)
                size = IMAGE_MAX;
        run_walker(data, data + 12, size);
        if (data[8] & 2)
                run_queue(data, data + 12, size);
        return 0;
}
