/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The split virtqueue: a descriptor table and an available ring that the
 * driver writes, and a used ring that we write. This file holds the
 * descriptor walker (the code that guest memory drives most directly),
 * taking chains from the available ring, returning them in the used ring,
 * and notification suppression (flags, EVENT_IDX). virtqueue.c reaches it
 * through vq_split_ops.
 *
 * The guest can rewrite its rings at any moment, so every field it controls
 * is read exactly once into a local, then checked, then used; nothing is read
 * twice from guest memory (no time-of-check/time-of-use gap).
 */
#include <endian.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <syslog.h>

#include "internal.h"
#include "prefetch.h"

/* Single, untorn accesses to memory the guest shares with us. */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *) &(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *) &(x) = (v))

/* Ordering against the driver on another CPU (split-ring.tex, "memory barriers"). */
static inline void smp_rmb(void) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
}
static inline void smp_wmb(void) {
        __atomic_thread_fence(__ATOMIC_RELEASE);
}
static inline void smp_mb(void) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#define DESC_SIZE sizeof(struct vring_desc)
_Static_assert(sizeof(struct vring_desc) == 16, "descriptor layout");
_Static_assert(VIRTQUEUE_MAX_SIZE % 64 == 0 && VU_MAX_INDIRECT_DESCS % 64 == 0, "bitmap sizes");

/* ---- the descriptor walker ---------------------------------------------- */

/*
 * This runs for every buffer the guest hands us, so its common case (a
 * buffer wholly inside one region of a small memory table) is translated
 * inline, and it leaves the inline path only for errors, buffers that cross
 * regions and large tables. Every check stays on the common path; only
 * their reporting is out of line.
 */

typedef struct Walk {
        VuDev *dev;
        struct iovec *iov;      /* NULL: count only */
        unsigned int iov_max;
        unsigned int niov;
        unsigned int ndesc;     /* buffer descriptors, direct and indirect */
        bool seen_write;
        uint64_t total;         /* bytes of every descriptor, bounded by UINT32_MAX */
        VqChain chain;
        const VuDevRegion *region; /* where the last buffer was: the next is likely there too */
        char *err;
        size_t errlen;
} Walk;

/*
 * The walker's helpers are forced inline and this takes no Walk: the Walk's
 * address then never escapes, so the compiler keeps its fields in registers
 * (with -fno-strict-aliasing every iovec store would otherwise reload them).
 */
static int walk_fail_at(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4)
        __attribute__((cold, noinline));
static int walk_fail_at(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        if (err && errlen > 0) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}
#define walk_fail(w, ...) walk_fail_at((w)->err, (w)->errlen, __VA_ARGS__)
#define _walk_inline_ static inline __attribute__((always_inline))

static const char *desc_kind(bool indirect) {
        return indirect ? "indirect descriptor" : "descriptor";
}

/* Copy a descriptor out of guest memory, each field read once. */
static inline void desc_copy(const struct vring_desc *src, struct vring_desc *ret) {
        ret->addr = le64toh(READ_ONCE(src->addr));
        ret->len = le32toh(READ_ONCE(src->len));
        ret->flags = le16toh(READ_ONCE(src->flags));
        ret->next = le16toh(READ_ONCE(src->next));
}

/* Copy @len bytes at guest address @gpa, which may span regions. */
static int guest_copy(VuDev *dev, uint64_t gpa, void *buf, size_t len) {
        uint8_t *out = buf;

        while (len > 0) {
                uint64_t plen = len;
                const void *p = vu_gpa_to_va(dev, &plen, gpa);

                if (!p || plen == 0)
                        return -EFAULT;
                plen = MIN(plen, (uint64_t) len);
                memcpy(out, p, plen);
                out += plen;
                gpa += plen;
                len -= plen;
        }
        return 0;
}

/* Whether all of [gpa, gpa+len) is guest memory, possibly over several regions. */
static bool guest_range_mapped(VuDev *dev, uint64_t gpa, uint64_t len) {
        while (len > 0) {
                uint64_t plen = len;

                if (!vu_gpa_to_va(dev, &plen, gpa) || plen == 0)
                        return false;
                plen = MIN(plen, len);
                gpa += plen;
                len -= plen;
        }
        return true;
}

/* Up to this many regions the walker scans them itself rather than call out for a lookup. */
#define WALK_SCAN_REGIONS 4

/*
 * Host address of [gpa, gpa+len) if it lies wholly in one region: the last
 * buffer's region first, else the region that holds it becomes the new
 * guess. NULL if the range is not mapped or crosses regions.
 */
_walk_inline_ void *walk_translate(Walk *w, uint64_t gpa, uint64_t len) {
        unsigned int n = w->dev->nregions;
        void *p = vq_region_range(w->region, gpa, len);

        if (_likely_(p))
                return p;
        /* Headers and data often sit in different regions: a short scan beats a call per buffer. */
        if (n <= WALK_SCAN_REGIONS) {
                for (unsigned int k = 0; k < n; k++) {
                        const VuDevRegion *r = &w->dev->regions[k];

                        if (gpa >= r->gpa && gpa - r->gpa < r->size) {
                                w->region = r;
                                return vq_region_range(r, gpa, len);
                        }
                }
                return NULL;
        }
        w->region = vu_mem_region_find(w->dev, gpa);
        return vq_region_range(w->region, gpa, len);
}

_walk_inline_ int walk_add_iov(Walk *w, void *base, uint64_t len, bool write) {
        if (_unlikely_(w->niov >= VU_MAX_CHAIN_IOV))
                return walk_fail(w, "chain needs more than %u buffers", VU_MAX_CHAIN_IOV);
        if (w->iov) {
                if (_unlikely_(w->niov >= w->iov_max))
                        return -E2BIG;
                w->iov[w->niov] = (struct iovec) { .iov_base = base, .iov_len = len };
        }
        w->niov++;
        if (write)
                w->chain.in_num++;
        else
                w->chain.out_num++;
        return 0;
}

/* A buffer that crosses regions (or is not mapped): one iovec per piece, each translated on its own. */
_walk_inline_ int walk_buffer_pieces(Walk *w, const struct vring_desc *d, unsigned int i, bool indirect,
                                     bool write) {
        uint64_t gpa = d->addr, left = d->len;
        int r = 0;

        while (left > 0 && r == 0) {
                uint64_t plen = left;
                void *p = vu_gpa_to_va(w->dev, &plen, gpa);

                if (!p || plen == 0)
                        return walk_fail(w,
                                         "%s %u: buffer 0x%" PRIx64 "+%" PRIu32
                                         " not in guest memory (at 0x%" PRIx64 ")",
                                         desc_kind(indirect), i, (uint64_t) d->addr, (uint32_t) d->len, gpa);
                plen = MIN(plen, left);
                r = walk_add_iov(w, p, plen, write);
                gpa += plen;
                left -= plen;
        }
        return r;
}

/* One buffer descriptor (not an indirect one), already copied out of guest memory. */
_walk_inline_ int walk_buffer(Walk *w, const struct vring_desc *d, unsigned int i, bool indirect) {
        bool write = d->flags & VRING_DESC_F_WRITE;
        void *p;
        int r;

        /*
         * Buffers are what is bounded: the descriptor that points at an
         * indirect table is not one (a full queue-sized table behind it is legal).
         */
        if (_unlikely_(++w->ndesc > VU_MAX_CHAIN_LEN))
                return walk_fail(w, "chain has more than %u buffers", VU_MAX_CHAIN_LEN);

        /* virtio: readable buffers come first; a device that mixed them would misparse requests. */
        if (_unlikely_(!write && w->seen_write))
                return walk_fail(w, "%s %u: device-readable after a device-writable one",
                                 desc_kind(indirect), i);
        w->seen_write = w->seen_write || write;

        w->total += d->len;
        if (_unlikely_(w->total > UINT32_MAX))
                return walk_fail(w, "%s %u: chain longer than %" PRIu32 " bytes", desc_kind(indirect), i,
                                 UINT32_MAX);
        if (d->len == 0)
                return 0; /* tolerated, nothing to translate */
        if (_unlikely_(d->addr > UINT64_MAX - d->len))
                return walk_fail(w, "%s %u: addr 0x%" PRIx64 " + len %" PRIu32 " overflows",
                                 desc_kind(indirect), i, (uint64_t) d->addr, (uint32_t) d->len);

        p = walk_translate(w, d->addr, d->len);
        if (_likely_(p))
                r = walk_add_iov(w, p, d->len, write);
        else
                r = walk_buffer_pieces(w, d, i, indirect, write);
        if (r < 0)
                return r;

        if (write)
                w->chain.in_bytes += d->len;
        else
                w->chain.out_bytes += d->len;
        return 0;
}

_walk_inline_ int walk_indirect(Walk *w, const struct vring_desc *ind, unsigned int at) {
        uint64_t visited[VU_MAX_INDIRECT_DESCS / 64];
        const struct vring_desc *table;
        unsigned int n, j = 0;
        int r;

        if (!vu_has_feature(w->dev, VIRTIO_RING_F_INDIRECT_DESC))
                return walk_fail(w, "descriptor %u: INDIRECT but VIRTIO_RING_F_INDIRECT_DESC not negotiated",
                                 at);
        if (ind->len == 0 || ind->len % DESC_SIZE != 0 || ind->len > VU_MAX_INDIRECT_DESCS * DESC_SIZE)
                return walk_fail(w,
                                 "descriptor %u: indirect table length %" PRIu32
                                 " is not a non-zero multiple of %zu up to %zu",
                                 at, (uint32_t) ind->len, DESC_SIZE, VU_MAX_INDIRECT_DESCS * DESC_SIZE);
        if (ind->addr > UINT64_MAX - ind->len)
                return walk_fail(w, "descriptor %u: indirect table 0x%" PRIx64 " + %" PRIu32 " overflows", at,
                                 (uint64_t) ind->addr, (uint32_t) ind->len);
        n = ind->len / DESC_SIZE;
        /* Entries are below n: only the words they reach need clearing. */
        for (unsigned int k = 0; k < (n + 63) / 64; k++)
                visited[k] = 0;

        /* Fast path: the table lies in one region and is aligned; else copy entries out one by one. */
        table = walk_translate(w, ind->addr, ind->len);
        if (!table && !guest_range_mapped(w->dev, ind->addr, ind->len))
                return walk_fail(w, "descriptor %u: indirect table 0x%" PRIx64 "+%" PRIu32 " not in guest memory",
                                 at, (uint64_t) ind->addr, (uint32_t) ind->len);
        if (table && ((uintptr_t) table % _Alignof(struct vring_desc)) != 0)
                table = NULL;

        for (;;) {
                struct vring_desc d;

                if (visited[j / 64] & (UINT64_C(1) << (j % 64)))
                        return walk_fail(w, "indirect descriptor %u: loop in chain", j);
                visited[j / 64] |= UINT64_C(1) << (j % 64);

                if (table)
                        desc_copy(&table[j], &d);
                else {
                        struct vring_desc raw;

                        if (guest_copy(w->dev, ind->addr + (uint64_t) j * DESC_SIZE, &raw, sizeof(raw)) < 0)
                                return walk_fail(w, "indirect table 0x%" PRIx64 "+%" PRIu32
                                                 " not in guest memory", (uint64_t) ind->addr, (uint32_t) ind->len);
                        desc_copy(&raw, &d);
                }

                if (d.flags & VRING_DESC_F_INDIRECT)
                        return walk_fail(w, "indirect descriptor %u: INDIRECT inside an indirect table", j);
                r = walk_buffer(w, &d, j, true);
                if (r < 0)
                        return r;
                if (!(d.flags & VRING_DESC_F_NEXT))
                        return 0;
                if (d.next >= n)
                        return walk_fail(w, "indirect descriptor %u: next %u out of range (table of %u)", j,
                                         d.next, n);
                j = d.next;
        }
}

/*
 * vq_split_walk(), inlined into split_peek(): a call per chain showed in the
 * ring bench. @first, if not NULL, is the caller's copy of desc[@head],
 * used instead of reading it again. @region_hint (may be NULL) points into dev->regions at the
 * region the previous chain's last buffer was in: the first buffer of this
 * one is looked for there first (a guess, checked like any other), and the
 * region where this chain ended is stored back.
 *
 * Most chains are one descriptor (a network frame with its header in front,
 * a receive buffer), and one descriptor cannot loop: the visited bitmap is
 * cleared only when the first descriptor has NEXT. Every chain of two or
 * more is checked exactly as before.
 */
_walk_inline_ int split_walk(VuDev *dev, const struct vring_desc *desc, unsigned int num, unsigned int head,
                             const struct vring_desc *first, struct iovec *iov, unsigned int iov_max,
                             VqChain *ret, char *err, size_t errlen, const VuDevRegion **region_hint) {
        uint64_t visited[VIRTQUEUE_MAX_SIZE / 64];
        Walk w = {
                .dev = dev,
                .iov = iov,
                .iov_max = iov_max,
                .err = err,
                .errlen = errlen,
        };
        unsigned int i = head;
        struct vring_desc d;
        int r;

        if (_unlikely_(head >= num))
                return walk_fail(&w, "head %u out of range (queue size %u)", head, num);
        /* Any entry below nregions is a region: the guess is checked like any other. */
        if (region_hint && vq_region_hint_valid(dev, *region_hint))
                w.region = *region_hint;

        if (first)
                d = *first; /* the caller's copy of desc[head] */
        else
                desc_copy(&desc[i], &d);

        /*
         * The common case, straight through: one non-empty buffer in the
         * region of the last one. What walk_buffer() checks holds here by
         * construction (one buffer of at most UINT32_MAX bytes, nothing
         * before it) or is checked (the range lies in the region, so its end
         * cannot overflow: region ends do not). Anything else takes the
         * general path below, with the descriptor already copied.
         */
        if (_likely_(!(d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) && d.len > 0)) {
                void *p = vq_region_range(w.region, d.addr, d.len);
                bool write = d.flags & VRING_DESC_F_WRITE;

                if (_likely_(p)) {
                        if (iov) {
                                if (_unlikely_(iov_max == 0))
                                        return -E2BIG;
                                iov[0] = (struct iovec) { .iov_base = p, .iov_len = d.len };
                        }
                        *ret = (VqChain) {
                                .out_num = !write,
                                .in_num = write,
                                .out_bytes = write ? 0 : d.len,
                                .in_bytes = write ? d.len : 0,
                        };
                        return 0;
                }
        }

        if (d.flags & VRING_DESC_F_NEXT) {
                /* A chain: every index is remembered. Only the words below num need clearing. */
                for (unsigned int k = 0; k < (num + 63) / 64; k++)
                        visited[k] = 0;
                visited[head / 64] |= UINT64_C(1) << (head % 64);
        }
        for (;;) {
                if (d.flags & VRING_DESC_F_INDIRECT) {
                        if (d.flags & VRING_DESC_F_NEXT)
                                return walk_fail(&w, "descriptor %u: both INDIRECT and NEXT", i);
                        r = walk_indirect(&w, &d, i);
                        if (r < 0)
                                return r;
                        break;
                }

                r = walk_buffer(&w, &d, i, false);
                if (r < 0)
                        return r;
                if (!(d.flags & VRING_DESC_F_NEXT))
                        break;
                if (d.next >= num)
                        return walk_fail(&w, "descriptor %u: next %u out of range (queue size %u)", i, d.next,
                                         num);
                i = d.next;
                if (visited[i / 64] & (UINT64_C(1) << (i % 64)))
                        return walk_fail(&w, "descriptor %u: loop in chain", i);
                visited[i / 64] |= UINT64_C(1) << (i % 64);
                desc_copy(&desc[i], &d);
        }

        if (region_hint && w.region)
                *region_hint = w.region;
        *ret = w.chain;
        return 0;
}

int vq_split_walk(VuDev *dev, const struct vring_desc *desc, unsigned int num, unsigned int head,
                  struct iovec *iov, unsigned int iov_max, VqChain *ret, char *err, size_t errlen) {
        if (err && errlen > 0)
                err[0] = 0;
        if (!dev || !desc || !ret || num == 0 || num > VIRTQUEUE_MAX_SIZE)
                return walk_fail_at(err, errlen, "queue size %u invalid", num);
        return split_walk(dev, desc, num, head, NULL, iov, iov_max, ret, err, errlen, NULL);
}

/* ---- ring fields ---------------------------------------------------------- */

static inline uint16_t avail_idx_read(const VuVirtq *vq) {
        return le16toh(READ_ONCE(vq->vring.avail->idx));
}

static inline uint16_t avail_flags_read(const VuVirtq *vq) {
        return le16toh(READ_ONCE(vq->vring.avail->flags));
}

/*
 * The slot of ring position @pos. Split queue sizes are powers of two
 * (vu_handle_set_vring_num), so a mask does what % would without a division
 * per request; for any size the slot stays below num.
 */
static inline unsigned int ring_slot(const VuVirtq *vq, unsigned int pos) {
        return pos & (vq->vring.num - 1);
}

static inline uint16_t avail_ring_read(const VuVirtq *vq, uint16_t pos) {
        return le16toh(READ_ONCE(vq->vring.avail->ring[ring_slot(vq, pos)]));
}

/* used_event sits just after the avail ring (inside the 6 + 2*num bytes mapped). */
static inline uint16_t used_event_read(const VuVirtq *vq) {
        return le16toh(READ_ONCE(vq->vring.avail->ring[vq->vring.num]));
}

/* avail_event sits just after the used ring (inside the 6 + 8*num bytes mapped). */
static inline uint16_t *avail_event_ptr(const VuVirtq *vq) {
        return (uint16_t *) &vq->vring.used->ring[vq->vring.num];
}

static inline uint64_t used_elem_offset(unsigned int slot) {
        return offsetof(struct vring_used, ring) + (uint64_t) slot * sizeof(struct vring_used_elem);
}

static void avail_event_write(VuDev *dev, VuVirtq *vq, uint16_t val) {
        WRITE_ONCE(*avail_event_ptr(vq), htole16(val));
        if (vu_log_enabled(dev))
                vu_log_used(dev, vq, used_elem_offset(vq->vring.num), sizeof(uint16_t));
}

static int split_malformed(VuDev *dev, VuVirtq *vq, const char *fmt, ...) _printf_(3, 4);
static int split_malformed(VuDev *dev, VuVirtq *vq, const char *fmt, ...) {
        char buf[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        vq->priv->stats.malformed++;
        /* The guest broke the ring protocol: nothing it says about this ring can be trusted now. */
        vu_panic(dev, "queue %u: %s", vq_index(dev, vq), buf);
        return -EBADMSG;
}

/* Read avail->idx into shadow_avail_idx, refusing an index that moved further than the ring holds. */
static int split_avail_refresh(VuDev *dev, VuVirtq *vq) {
        uint16_t idx = avail_idx_read(vq);
        uint16_t pending = (uint16_t) (idx - vq->last_avail_idx);

        if (pending > vq->vring.num)
                return split_malformed(dev, vq,
                                       "avail idx jumped: avail->idx %u, last_avail_idx %u, queue size %u", idx,
                                       vq->last_avail_idx, vq->vring.num);
        vq->shadow_avail_idx = idx;
        /* Ring entries and descriptors are read after the index that published them. */
        smp_rmb();
        return 0;
}

static bool split_resubmit_pending(const VuVirtq *vq) {
        return vq->resubmit_list && vq->priv->resubmit_next < vq->resubmit_num;
}

/* ---- ops ---------------------------------------------------------------- */

static void split_ring_sizes(unsigned int num, uint64_t ret_size[3], uint64_t ret_align[3]) {
        ret_size[0] = (uint64_t) num * sizeof(struct vring_desc);
        ret_size[1] = 6 + (uint64_t) num * sizeof(uint16_t);
        ret_size[2] = 6 + (uint64_t) num * sizeof(struct vring_used_elem);
        ret_align[0] = 16;
        ret_align[1] = 2;
        ret_align[2] = 4;
}

static void split_start(VuDev *dev, VuVirtq *vq) {
        /* vhost-user: for a split ring the next used index is whatever the used ring says. */
        vq->used_idx = le16toh(READ_ONCE(vq->vring.used->idx));
        vq->shadow_avail_idx = vq->last_avail_idx;
        /* We cannot know what the driver saw before the start: the first completion notifies. */
        vq->signalled_used_valid = false;
}

/*
 * The ring looks empty. With EVENT_IDX the driver kicks only when it moves
 * avail->idx past avail_event, and it reads avail_event right after
 * publishing: avail_event must say last_avail_idx (it may be stale after a
 * start), and that store must be visible before we read avail->idx again —
 * a full barrier, since x86 lets a load pass an earlier store. Without the
 * second look, a buffer published in between is never kicked and the
 * guest waits on it forever. Returns 1 when buffers arrived, 0 if still empty.
 */
static int split_arm_and_recheck(VuDev *dev, VuVirtq *vq) {
        int r;

        if (!vq->notification || !vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                return 0;
        if (le16toh(READ_ONCE(*avail_event_ptr(vq))) != vq->last_avail_idx)
                avail_event_write(dev, vq, vq->last_avail_idx);
        smp_mb();
        r = split_avail_refresh(dev, vq);
        if (r < 0)
                return r;
        return vq->last_avail_idx != vq->shadow_avail_idx;
}

/*
 * Find the next chain and walk it into @iov. Fills @ret only when it returns
 * 1; forced inline so that its callers keep @ret in registers. With @first,
 * the caller already read the avail ring (@head, checked below num) and
 * copied desc[@head] into @first; nothing is read twice.
 */
_walk_inline_ int split_peek_inline(VuDev *dev, VuVirtq *vq, struct iovec *iov, unsigned int iov_max,
                                    VqPeek *ret, unsigned int head, const struct vring_desc *first) {
        unsigned int num = vq->vring.num;
        bool resubmit = false;
        char err[192];
        int r;

        if (first) {
                /* taken from the avail ring by the caller */
        } else if (_unlikely_(split_resubmit_pending(vq))) {
                /* Bounded below num when the list was built (vq_inflight_prepare). */
                head = vq->resubmit_list[vq->priv->resubmit_next].index;
                resubmit = true;
        } else {
                if (vq->last_avail_idx == vq->shadow_avail_idx) {
                        r = split_avail_refresh(dev, vq);
                        if (r < 0)
                                return r;
                        if (vq->last_avail_idx == vq->shadow_avail_idx) {
                                r = split_arm_and_recheck(dev, vq);
                                if (r <= 0)
                                        return r;
                        }
                }
                head = avail_ring_read(vq, vq->last_avail_idx);
                if (_unlikely_(head >= num))
                        return split_malformed(dev, vq, "avail ring slot %u: head %u out of range (queue size %u)",
                                               vq->last_avail_idx % num, head, num);
        }

        r = split_walk(dev, vq->vring.desc, num, head, first, iov, iov_max, &ret->chain, err, sizeof(err),
                       &vq->priv->region_hint);
        if (_unlikely_(r < 0)) {
                if (r == -E2BIG)
                        return r;
                return split_malformed(dev, vq, "malformed chain at head %u: %s", head, err);
        }
        ret->head = head;
        ret->resubmit = resubmit;
        return 1;
}

static int split_peek(VuDev *dev, VuVirtq *vq, struct iovec *iov, unsigned int iov_max, VqPeek *ret) {
        /* Written only on success: no copy through a local. */
        return split_peek_inline(dev, vq, iov, iov_max, ret, 0, NULL);
}

_walk_inline_ void split_commit_inline(VuDev *dev, VuVirtq *vq, const VqPeek *p) {
        struct VuVirtqPriv *priv = vq->priv;

        if (_unlikely_(p->resubmit)) {
                /* Already counted in inuse and marked in flight when the list was built. */
                priv->resubmit_next++;
                priv->stats.resubmitted++;
                if (priv->resubmit_next >= vq->resubmit_num)
                        vq_inflight_drop_resubmit(vq);
        } else {
                vq->last_avail_idx++;
                vq->inuse++;
                if (vq->inflight) /* no inflight buffer, the usual case: not even a call */
                        vq_inflight_pop(dev, vq, p->head);
                /* Ask for a kick once the driver goes past what we took, unless notifications are off. */
                if (vq->notification && vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                        avail_event_write(dev, vq, vq->last_avail_idx);
        }
        priv->stats.popped++;
        priv->stats.bytes_out += p->chain.out_bytes;
}

static void split_commit(VuDev *dev, VuVirtq *vq, const VqPeek *p) {
        split_commit_inline(dev, vq, p);
}

/*
 * vu_queue_pop_into() for every chain the short path below does not take:
 * the general walk, resubmission, an empty-looking ring. @first as for
 * split_peek_inline().
 */
static int split_pop_into_slow(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                               unsigned int iov_max, unsigned int head, const struct vring_desc *first)
        __attribute__((noinline));
static int split_pop_into_slow(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                               unsigned int iov_max, unsigned int head, const struct vring_desc *first) {
        VqPeek p = {};
        int r;

        r = split_peek_inline(dev, vq, iov, iov_max, &p, head, first);
        if (r <= 0)
                return r;
        split_commit_inline(dev, vq, &p);
        elem->index = p.head;
        elem->out_num = p.chain.out_num;
        elem->in_num = p.chain.in_num;
        elem->out_sg = iov;
        elem->in_sg = iov + p.chain.out_num;
        return 1;
}

/*
 * peek + commit for vu_queue_pop_into(). The common chain (one non-empty
 * buffer in the region of the queue's last one, from the avail ring, its
 * index already read) is taken here with few live values; everything else,
 * and every refusal, is split_pop_into_slow()'s, which gets the head and the
 * descriptor as read here. The checks are the walker's: head below num,
 * neither NEXT nor INDIRECT, the whole range inside one region.
 */
static int split_pop_into(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                          unsigned int iov_max) {
        struct VuVirtqPriv *priv = vq->priv;
        const VuDevRegion *region = priv->region_hint;
        unsigned int head;
        struct vring_desc d;
        bool write;
        void *p;

        if (_unlikely_(vq->last_avail_idx == vq->shadow_avail_idx || split_resubmit_pending(vq)))
                return split_pop_into_slow(dev, vq, elem, iov, iov_max, 0, NULL);

        head = avail_ring_read(vq, vq->last_avail_idx);
        if (_unlikely_(head >= vq->vring.num))
                return split_pop_into_slow(dev, vq, elem, iov, iov_max, 0, NULL); /* reads it again to refuse it */
        desc_copy(&vq->vring.desc[head], &d);

        if (_unlikely_((d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d.len == 0 || iov_max == 0 ||
                       !vq_region_hint_valid(dev, region)))
                return split_pop_into_slow(dev, vq, elem, iov, iov_max, head, &d);
        p = vq_region_range(region, d.addr, d.len);
        if (_unlikely_(!p))
                return split_pop_into_slow(dev, vq, elem, iov, iov_max, head, &d);

        write = d.flags & VRING_DESC_F_WRITE;
        iov[0] = (struct iovec) { .iov_base = p, .iov_len = d.len };

        /* split_commit_inline() for a chain from the avail ring. */
        vq->last_avail_idx++;
        vq->inuse++;
        if (vq->inflight)
                vq_inflight_pop(dev, vq, head);
        if (vq->notification && vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                avail_event_write(dev, vq, vq->last_avail_idx);
        priv->stats.popped++;
        if (!write)
                priv->stats.bytes_out += d.len;

        elem->index = head;
        elem->out_num = !write;
        elem->in_num = write;
        elem->out_sg = iov;
        elem->in_sg = iov + !write;
        return 1;
}

/*
 * vu_queue_pop_burst(): split_pop_into()'s short path over up to @max
 * chains, with avail->idx read at most once (checked as
 * split_avail_refresh() checks it) and avail_event written once. Each
 * descriptor is copied once and checked as there (head below num, neither
 * NEXT nor INDIRECT, not empty, wholly inside one region); the first that
 * fails ends the burst untaken, for vu_queue_pop_into() to take or refuse.
 */
static int split_pop_burst(VuDev *dev, VuVirtq *vq, VuVirtqElement *elems, struct iovec *iov,
                           unsigned int max) {
        struct VuVirtqPriv *priv = vq->priv;
        const VuDevRegion *region = priv->region_hint;
        const struct vring_desc *desc = vq->vring.desc;
        unsigned int num = vq->vring.num, n;
        uint16_t last = vq->last_avail_idx, pending;
        uint64_t bytes_out = 0;
        int r;

        if (_unlikely_(split_resubmit_pending(vq) || vq->inflight))
                return 0;
        if (!vq_region_hint_valid(dev, region))
                region = NULL;

        pending = (uint16_t) (vq->shadow_avail_idx - last);
        if (pending < max) {
                r = split_avail_refresh(dev, vq);
                if (r < 0)
                        return r;
                pending = (uint16_t) (vq->shadow_avail_idx - last);
        }
        max = MIN(max, (unsigned int) pending);

        /*
         * Start loading every descriptor first: the driver's CPU wrote them
         * last, and their misses overlap rather than stall one chain each.
         * Only a hint: what is checked and used is read below.
         */
        for (n = 0; n < max; n++) {
                unsigned int head = avail_ring_read(vq, (uint16_t) (last + n));

                if (head < num)
                        prefetch_read(&desc[head]);
                prefetch_keep();
        }

        for (n = 0; n < max; n++) {
                unsigned int head = avail_ring_read(vq, (uint16_t) (last + n));
                struct vring_desc d;
                bool write;
                void *p;

                if (_unlikely_(head >= num))
                        break;
                desc_copy(&desc[head], &d);
                if (_unlikely_((d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d.len == 0))
                        break;
                p = vq_region_range(region, d.addr, d.len);
                if (_unlikely_(!p)) {
                        /* Another region than the last buffer's (or none yet): look it up. */
                        const VuDevRegion *found = vu_mem_region_find(dev, d.addr);

                        p = vq_region_range(found, d.addr, d.len);
                        if (!p)
                                break;
                        region = found;
                }

                write = d.flags & VRING_DESC_F_WRITE;
                iov[n] = (struct iovec) { .iov_base = p, .iov_len = d.len };
                elems[n] = (VuVirtqElement) {
                        .index = head,
                        .out_num = !write,
                        .in_num = write,
                        .out_sg = &iov[n],
                        .in_sg = &iov[n] + !write,
                };
                if (!write)
                        bytes_out += d.len;
        }
        priv->region_hint = region;
        if (n == 0)
                return 0;

        /* split_commit_inline() for @n chains from the avail ring, without an inflight buffer. */
        vq->last_avail_idx = (uint16_t) (last + n);
        vq->inuse += (int) n;
        if (vq->notification && vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                avail_event_write(dev, vq, vq->last_avail_idx);
        priv->stats.popped += n;
        priv->stats.bytes_out += bytes_out;
        return (int) n;
}

static bool split_rewind(VuDev *dev, VuVirtq *vq, unsigned int num) {
        if (num > (unsigned int) MAX(vq->inuse, 0))
                return false;
        vq->last_avail_idx -= num;
        vq->inuse -= (int) num;
        /* Given back, not taken: popped again later, they count once. */
        vq->priv->stats.popped -= MIN(vq->priv->stats.popped, (uint64_t) num);
        return true;
}

/*
 * Mark what the device wrote into @elem's chain while the log is on. The
 * device may have advanced or shortened elem->in_sg while doing its I/O, so
 * the pages come from the chain walked again from the ring by its head (same
 * walker, same checks), not from the element; if the guest rewrote the
 * chain meanwhile, the element's iovecs are the best we have.
 */
static void split_log_fill(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len)
        __attribute__((noinline));
static void split_log_fill(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len) {
        struct iovec small[64];
        _cleanup_free_ struct iovec *big = NULL;
        struct iovec *iov = small;
        char err[160];
        VqChain c;
        int r;

        r = vq_split_walk(dev, vq->vring.desc, vq->vring.num, elem->index, small, ELEMENTSOF(small), &c, err,
                          sizeof(err));
        if (r == -E2BIG) {
                /* A long chain: the walker's bound, on the heap (only ever while migrating). */
                big = calloc(VU_MAX_CHAIN_IOV, sizeof(struct iovec));
                if (!big) {
                        vu_log_fill_fallback(dev, vq, elem, len, "out of memory");
                        return;
                }
                iov = big;
                r = vq_split_walk(dev, vq->vring.desc, vq->vring.num, elem->index, big, VU_MAX_CHAIN_IOV, &c,
                                  err, sizeof(err));
        }
        if (r < 0) {
                if (r != -EBADMSG)
                        snprintf(err, sizeof(err), "walker error %d", r);
                vu_log_fill_fallback(dev, vq, elem, len, err);
                return;
        }
        /* The walker puts the device-readable buffers first. */
        vu_log_iov(dev, iov + c.out_num, c.in_num, len);
}

/* What a fill does besides writing the used element: the dirty log, the inflight buffer. */
static void split_fill_extra(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len,
                             unsigned int slot) __attribute__((noinline));
static void split_fill_extra(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len,
                             unsigned int slot) {
        /* Before flush publishes the element, so the pages are marked before the driver can see it. */
        if (vu_log_enabled(dev)) {
                split_log_fill(dev, vq, elem, len);
                vu_log_used(dev, vq, used_elem_offset(slot), sizeof(struct vring_used_elem));
        }
        if (vq->inflight)
                vq_inflight_fill(dev, vq, elem->index);
}

static void split_fill_refuse(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem) __attribute__((cold, noinline));
static void split_fill_refuse(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem) {
        vu_log(dev, LOG_ERR, "queue %u: element head %u out of range (queue size %u), not returned",
               vq_index(dev, vq), elem->index, vq->vring.num);
}

static inline void split_fill(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len,
                       unsigned int idx) {
        struct vring_used_elem *u;
        unsigned int slot;

        if (_unlikely_(elem->index >= vq->vring.num)) {
                split_fill_refuse(dev, vq, elem);
                return;
        }

        slot = ring_slot(vq, vq->used_idx + idx);
        u = &vq->vring.used->ring[slot];
        WRITE_ONCE(u->id, htole32(elem->index));
        WRITE_ONCE(u->len, htole32(len));
        if (_unlikely_(dev->log_table || vq->inflight))
                split_fill_extra(dev, vq, elem, len, slot);

        vq->priv->stats.pushed++;
        vq->priv->stats.bytes_in += len;
}

/* split_fill() for each element, inlined into one loop. */
static void split_fill_burst(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elems, const unsigned int *lens,
                             unsigned int n, unsigned int idx) {
        for (unsigned int k = 0; k < n; k++)
                split_fill(dev, vq, &elems[k], lens ? lens[k] : 0, idx + k);
}

static void split_flush(VuDev *dev, VuVirtq *vq, unsigned int num) {
        uint16_t old = vq->used_idx, new = (uint16_t) (old + num);

        if (num == 0)
                return;

        /* The elements must be visible before the index that publishes them. */
        smp_wmb();
        WRITE_ONCE(vq->vring.used->idx, htole16(new));
        if (vu_log_enabled(dev)) {
                vu_log_used(dev, vq, offsetof(struct vring_used, idx), sizeof(uint16_t));
                vu_log_kick(dev);
        }
        vq->used_idx = new;
        vq->inuse = num > (unsigned int) MAX(vq->inuse, 0) ? 0 : vq->inuse - (int) num;

        /* signalled_used fell behind by a whole wrap: EVENT_IDX cannot compare against it any more. */
        if ((uint16_t) (new - vq->signalled_used) < (uint16_t) (new - old))
                vq->signalled_used_valid = false;

        if (vq->inflight)
                vq_inflight_flush(dev, vq, num);
}

static bool split_empty(VuDev *dev, VuVirtq *vq) {
        if (split_resubmit_pending(vq))
                return false;
        if (vq->shadow_avail_idx != vq->last_avail_idx)
                return false;
        if (split_avail_refresh(dev, vq) < 0)
                return true;
        return vq->shadow_avail_idx == vq->last_avail_idx;
}

static void split_set_notification(VuDev *dev, VuVirtq *vq, bool enable) {
        vq->notification = enable;

        if (vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX)) {
                /* Disabling: leave avail_event behind; the driver stops kicking once it passes it. */
                if (enable)
                        avail_event_write(dev, vq, avail_idx_read(vq));
        } else {
                uint16_t flags = le16toh(READ_ONCE(vq->vring.used->flags));

                if (enable)
                        flags &= (uint16_t) ~VRING_USED_F_NO_NOTIFY;
                else
                        flags |= VRING_USED_F_NO_NOTIFY;
                WRITE_ONCE(vq->vring.used->flags, htole16(flags));
                if (vu_log_enabled(dev))
                        vu_log_used(dev, vq, offsetof(struct vring_used, flags), sizeof(uint16_t));
        }

        /* The store must be visible before the caller re-checks avail->idx, or a kick is lost. */
        if (enable)
                smp_mb();
}

static bool split_need_notify(VuDev *dev, VuVirtq *vq) {
        uint16_t old, new;
        bool valid;

        /* used->idx must be visible to the driver before we read its suppression fields. */
        smp_mb();

        if (vu_has_feature(dev, VIRTIO_F_NOTIFY_ON_EMPTY) && vq->inuse == 0 && !split_resubmit_pending(vq) &&
            avail_idx_read(vq) == vq->last_avail_idx)
                return true;

        if (!vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                return !(avail_flags_read(vq) & VRING_AVAIL_F_NO_INTERRUPT);

        valid = vq->signalled_used_valid;
        old = vq->signalled_used;
        new = vq->signalled_used = vq->used_idx;
        vq->signalled_used_valid = true;
        return !valid || vring_need_event(used_event_read(vq), new, old);
}

static int split_avail_bytes(VuDev *dev, VuVirtq *vq, uint64_t max_in, uint64_t max_out, uint64_t *ret_in,
                             uint64_t *ret_out) {
        unsigned int num = vq->vring.num;
        uint64_t in = 0, out = 0;
        char err[192];
        VqChain c;
        int r;

        for (unsigned int k = vq->priv->resubmit_next; vq->resubmit_list && k < vq->resubmit_num; k++) {
                unsigned int head = vq->resubmit_list[k].index;

                r = vq_split_walk(dev, vq->vring.desc, num, head, NULL, 0, &c, err, sizeof(err));
                if (r < 0)
                        return split_malformed(dev, vq, "malformed chain at head %u: %s", head, err);
                in += c.in_bytes;
                out += c.out_bytes;
                if (in >= max_in && out >= max_out)
                        goto done;
        }

        r = split_avail_refresh(dev, vq);
        if (r < 0)
                return r;

        for (uint16_t pos = vq->last_avail_idx; pos != vq->shadow_avail_idx; pos++) {
                unsigned int head = avail_ring_read(vq, pos);

                if (head >= num)
                        return split_malformed(dev, vq, "avail ring slot %u: head %u out of range (queue size %u)",
                                               pos % num, head, num);
                r = vq_split_walk(dev, vq->vring.desc, num, head, NULL, 0, &c, err, sizeof(err));
                if (r < 0)
                        return split_malformed(dev, vq, "malformed chain at head %u: %s", head, err);
                in += c.in_bytes;
                out += c.out_bytes;
                if (in >= max_in && out >= max_out)
                        break;
        }
done:
        *ret_in = in;
        *ret_out = out;
        return 0;
}

static void split_get_info(VuDev *dev, VuVirtq *vq, VuQueueInfo *ret) {
        ret->avail_idx = avail_idx_read(vq);
        ret->avail_flags = avail_flags_read(vq);
        ret->ring_used_idx = le16toh(READ_ONCE(vq->vring.used->idx));
        ret->used_flags = le16toh(READ_ONCE(vq->vring.used->flags));
        ret->used_event = used_event_read(vq);
        ret->avail_event = le16toh(READ_ONCE(*avail_event_ptr(vq)));
}

const VqRingOps vq_split_ops = {
        .ring_sizes = split_ring_sizes,
        .start = split_start,
        .peek = split_peek,
        .commit = split_commit,
        .pop_into = split_pop_into,
        .pop_burst = split_pop_burst,
        .rewind = split_rewind,
        .fill = split_fill,
        .fill_burst = split_fill_burst,
        .flush = split_flush,
        .empty = split_empty,
        .set_notification = split_set_notification,
        .need_notify = split_need_notify,
        .avail_bytes = split_avail_bytes,
        .get_info = split_get_info,
};
