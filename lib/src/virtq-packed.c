/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The packed virtqueue (VIRTIO_F_RING_PACKED): one descriptor ring that the
 * driver and we both write, told apart by the AVAIL/USED flag bits and a
 * wrap counter on each side, plus two 4-byte event suppression structures.
 * This file holds the packed descriptor walker, taking chains from the ring,
 * writing used descriptors back (the first of a batch last, so the driver
 * never sees half a batch), and notification suppression. virtqueue.c
 * reaches it through vq_packed_ops, so devices see the same vu_queue_* API.
 *
 * Positions (vq->last_avail_idx, vq->used_idx) are ring slots in [0, num);
 * the wrap counters live in the queue's private state. As in the split
 * ring, everything the guest controls is read once into a local, checked,
 * then used.
 */
#include <endian.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <syslog.h>

#include "internal.h"
#include "prefetch.h"

#define READ_ONCE(x) (*(const volatile __typeof__(x) *) &(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *) &(x) = (v))

static inline void smp_rmb(void) {
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
}
static inline void smp_wmb(void) {
        __atomic_thread_fence(__ATOMIC_RELEASE);
}
static inline void smp_mb(void) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VRING_PACKED_DESC_F_USED)
#define EVENT_WRAP (1u << VRING_PACKED_EVENT_F_WRAP_CTR)
#define PDESC_SIZE sizeof(struct vring_packed_desc)
_Static_assert(sizeof(struct vring_packed_desc) == 16, "packed descriptor layout");
_Static_assert(sizeof(struct vring_packed_desc_event) == 4, "event suppression layout");

/* What we remember about a buffer id between pop and push. */
typedef struct PackedId {
        uint16_t ndescs; /* ring slots of its chain; 0: not in flight */
        uint16_t pos;    /* slot of its first descriptor, and that lap's wrap counter */
        bool wrap;
        bool resubmitted;  /* came from the inflight buffer: not in the ring order */
        int32_t entry;     /* inflight head entry, -1 if untracked */
        uint32_t in_bytes; /* device-writable bytes: IN_ORDER may skip a buffer written whole */
} PackedId;

/* A completion between vu_queue_fill() and vu_queue_flush(). */
typedef struct PackedUsed {
        uint32_t len;
        uint16_t id;
        uint16_t pos; /* where flush writes it */
        bool wrap;
        bool set;
        bool in_order; /* its slot is the one it was taken from: the ring order holds */
        bool skip;     /* IN_ORDER: covered by the next used descriptor of the batch */
} PackedUsed;

struct VqPackedState {
        unsigned int num;
        unsigned int used_since_signal; /* slots returned since need_notify last looked */
        unsigned int hist_top;          /* ids popped from the ring, newest at hist_top - 1 (mod num) */
        unsigned int hist_len;
        PackedId *ids;    /* [num] by buffer id */
        PackedUsed *used; /* [num] by fill index */
        uint16_t *hist;   /* [num] for rewind */
};

static bool desc_is_avail(uint16_t flags, bool wrap) {
        return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

/* Advance a ring position by @n slots (n <= num), flipping the wrap counter past the end. */
static void pos_advance(unsigned int num, uint16_t *pos, bool *wrap, unsigned int n) {
        unsigned int p = *pos + n;

        if (p >= num) {
                p -= num;
                *wrap = !*wrap;
        }
        *pos = (uint16_t) p;
}

/* Slots from (@from, @from_wrap) forward to (@to, @to_wrap); more than num when inconsistent. */
static unsigned int pos_distance(unsigned int num, unsigned int from, bool from_wrap, unsigned int to,
                                 bool to_wrap) {
        if (from_wrap == to_wrap)
                return to >= from ? to - from : 2 * num;
        return to + num - from;
}

/* ---- the descriptor walker ---------------------------------------------- */

typedef struct Walk {
        VuDev *dev;
        struct iovec *iov; /* NULL: count only */
        unsigned int iov_max;
        unsigned int niov;
        unsigned int nbuf; /* buffer descriptors, direct and indirect */
        bool seen_write;
        bool order_broken; /* a device-readable buffer came after a device-writable one */
        bool reads_only;   /* WRITE flags ignored: every buffer is device-readable */
        uint64_t total;
        VqChain chain;
        const VuDevRegion *region; /* where the last buffer was: the next is likely there too */
        char *err;
        size_t errlen;
} Walk;

static int walk_fail(Walk *w, const char *fmt, ...) _printf_(2, 3);
static int walk_fail(Walk *w, const char *fmt, ...) {
        va_list ap;

        if (w->err && w->errlen > 0) {
                va_start(ap, fmt);
                vsnprintf(w->err, w->errlen, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

static void pdesc_copy(const struct vring_packed_desc *src, struct vring_packed_desc *ret) {
        ret->addr = le64toh(READ_ONCE(src->addr));
        ret->len = le32toh(READ_ONCE(src->len));
        ret->id = le16toh(READ_ONCE(src->id));
        ret->flags = le16toh(READ_ONCE(src->flags));
}

static int walk_add_iov(Walk *w, void *base, uint64_t len, bool write) {
        if (w->niov >= VU_MAX_CHAIN_IOV)
                return walk_fail(w, "chain needs more than %u buffers", VU_MAX_CHAIN_IOV);
        if (w->iov) {
                if (w->niov >= w->iov_max)
                        return -E2BIG;
                w->iov[w->niov] = (struct iovec){.iov_base = base, .iov_len = len};
        }
        w->niov++;
        if (write)
                w->chain.in_num++;
        else
                w->chain.out_num++;
        return 0;
}

/* One buffer descriptor (copied already); @at names it in errors. */
static int walk_buffer(Walk *w, const struct vring_packed_desc *d, unsigned int at, bool indirect) {
        const char *where = indirect ? "indirect descriptor" : "descriptor";
        bool write = (d->flags & VRING_DESC_F_WRITE) && !w->reads_only;
        uint64_t gpa = d->addr, left = d->len;
        void *p;
        int r;

        if (++w->nbuf > VU_MAX_CHAIN_LEN)
                return walk_fail(w, "chain has more than %u buffers", VU_MAX_CHAIN_LEN);
        if (!write && w->seen_write) {
                w->order_broken = true;
                return walk_fail(w, "%s %u: device-readable after a device-writable one", where, at);
        }
        w->seen_write = w->seen_write || write;

        w->total += d->len;
        if (w->total > UINT32_MAX)
                return walk_fail(w, "%s %u: chain longer than %" PRIu32 " bytes", where, at, UINT32_MAX);
        if (d->len == 0)
                return 0;
        if (d->addr > UINT64_MAX - d->len)
                return walk_fail(w, "%s %u: addr 0x%" PRIx64 " + len %" PRIu32 " overflows", where, at,
                                 (uint64_t) d->addr, (uint32_t) d->len);

        /* Usually in the region of the last buffer, or wholly in the one that holds its start. */
        p = vq_region_range(w->region, gpa, left);
        if (!p) {
                const VuDevRegion *found = vu_mem_region_find(w->dev, gpa);

                p = vq_region_range(found, gpa, left);
                if (p)
                        w->region = found;
        }
        if (_likely_(p)) {
                r = walk_add_iov(w, p, left, write);
                if (r < 0)
                        return r;
                left = 0;
        }

        /* Else one iovec per region the buffer crosses, each piece translated on its own. */
        while (left > 0) {
                uint64_t plen = left;

                p = vu_gpa_to_va(w->dev, &plen, gpa);
                if (!p || plen == 0)
                        return walk_fail(w,
                                         "%s %u: buffer 0x%" PRIx64 "+%" PRIu32
                                         " not in guest memory (at 0x%" PRIx64 ")",
                                         where, at, (uint64_t) d->addr, (uint32_t) d->len, gpa);
                plen = MIN(plen, left);
                r = walk_add_iov(w, p, plen, write);
                if (r < 0)
                        return r;
                gpa += plen;
                left -= plen;
        }

        if (write)
                w->chain.in_bytes += d->len;
        else
                w->chain.out_bytes += d->len;
        return 0;
}

/* Copy one indirect entry at guest address @gpa, which may straddle regions. */
static int indirect_entry_copy(VuDev *dev, uint64_t gpa, struct vring_packed_desc *ret) {
        struct vring_packed_desc raw;
        uint8_t *out = (uint8_t *) &raw;
        size_t len = sizeof(raw);

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
        pdesc_copy(&raw, ret);
        return 0;
}

/* The @n entries of indirect table @ind (mapped at @table, or NULL: copied out entry by entry). */
static int walk_table(Walk *w, const struct vring_packed_desc *ind, const struct vring_packed_desc *table,
                      unsigned int n, unsigned int at) {
        /* packed-ring.tex: the table is read in order, whole; NEXT is reserved in it. */
        for (unsigned int j = 0; j < n; j++) {
                struct vring_packed_desc d;
                int r;

                if (table)
                        pdesc_copy(&table[j], &d);
                else if (indirect_entry_copy(w->dev, ind->addr + (uint64_t) j * PDESC_SIZE, &d) < 0)
                        return walk_fail(w,
                                         "descriptor %u: indirect table 0x%" PRIx64 "+%" PRIu32
                                         " not in guest memory",
                                         at, (uint64_t) ind->addr, (uint32_t) ind->len);

                if (d.flags & VRING_DESC_F_INDIRECT)
                        return walk_fail(w, "indirect descriptor %u: INDIRECT inside an indirect table", j);
                r = walk_buffer(w, &d, j, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int walk_indirect(Walk *w, const struct vring_packed_desc *ind, unsigned int at) {
        const struct vring_packed_desc *table;
        unsigned int n;
        int r;

        if (!vu_has_feature(w->dev, VIRTIO_RING_F_INDIRECT_DESC))
                return walk_fail(w, "descriptor %u: INDIRECT but VIRTIO_RING_F_INDIRECT_DESC not negotiated",
                                 at);
        if (ind->len == 0 || ind->len % PDESC_SIZE != 0 || ind->len > VU_MAX_INDIRECT_DESCS * PDESC_SIZE)
                return walk_fail(w,
                                 "descriptor %u: indirect table length %" PRIu32
                                 " is not a non-zero multiple of %zu up to %zu",
                                 at, (uint32_t) ind->len, PDESC_SIZE, VU_MAX_INDIRECT_DESCS * PDESC_SIZE);
        if (ind->addr > UINT64_MAX - ind->len)
                return walk_fail(w, "descriptor %u: indirect table 0x%" PRIx64 " + %" PRIu32 " overflows",
                                 at, (uint64_t) ind->addr, (uint32_t) ind->len);
        n = ind->len / PDESC_SIZE;

        /* Fast path: the table lies in one region, aligned; otherwise each entry is copied out on its own.
         */
        table = vu_mem_gpa_range(w->dev, ind->addr, ind->len);
        if (table && ((uintptr_t) table % _Alignof(struct vring_packed_desc)) != 0)
                table = NULL;

        r = walk_table(w, ind, table, n, at);
        if (r == -EBADMSG && w->order_broken && !w->reads_only) {
                /*
                 * DPDK's virtio driver (22.11 and earlier) marks every entry of
                 * its packed transmit tables device-writable when it sets them
                 * up and clears the flag only on the data entries it fills, not
                 * on the header entry (nor on the entry whose index is the ring
                 * slot's): by the rules a malformed chain, and a multi-segment
                 * frame from testpmd would cost the connection. A table whose
                 * order is broken is walked again with every entry taken as
                 * device-readable: the device then only reads it, which it may
                 * do with any buffer, so no guest memory becomes writable that
                 * was not (DPDK's own vhost ignores these flags altogether).
                 * The table is the whole chain (INDIRECT stands alone), so the
                 * walk starts over from nothing. Said once per device.
                 */
                w->niov = 0;
                w->nbuf = 0;
                w->total = 0;
                w->seen_write = false;
                w->chain = (VqChain){};
                w->reads_only = true;
                r = walk_table(w, ind, table, n, at);
                if (r == 0 && !w->dev->priv->indirect_order_noted) {
                        w->dev->priv->indirect_order_noted = true;
                        vu_log(w->dev, LOG_INFO,
                               "descriptor %u: an indirect table lists device-writable buffers before "
                               "device-readable ones (DPDK's virtio transmit tables do): all taken as "
                               "device-readable, the device only reads them",
                               at);
                }
        }
        return r;
}

/* Descriptor @k of a chain, at ring slot @at: a buffer, or (alone) an indirect table. */
static int walk_one(Walk *w, const struct vring_packed_desc *d, unsigned int k, unsigned int at) {
        if (!(d->flags & VRING_DESC_F_INDIRECT))
                return walk_buffer(w, d, at, false);
        if (k > 0)
                return walk_fail(w, "descriptor %u: INDIRECT in the middle of a chain", at);
        if (d->flags & VRING_DESC_F_NEXT)
                return walk_fail(w, "descriptor %u: both INDIRECT and NEXT", at);
        return walk_indirect(w, d, at);
}

/*
 * vq_packed_walk(), inlined into the pop path. @first, if not NULL, is the
 * caller's copy of ring[@pos], whose flags it found available for @wrap and
 * whose other fields it read after that (in that order, with a read
 * barrier): it is used instead of reading the slot again. @region_hint as
 * for the split walker.
 */
static inline __attribute__((always_inline)) int
packed_walk(VuDev *dev, const struct vring_packed_desc *ring, unsigned int num, unsigned int pos, bool wrap,
            const struct vring_packed_desc *first, struct iovec *iov, unsigned int iov_max, VqChain *ret,
            unsigned int *ret_id, unsigned int *ret_ndescs, char *err, size_t errlen,
            const VuDevRegion **region_hint) {
        Walk w = {
                .dev = dev,
                .iov = iov,
                .iov_max = iov_max,
                .err = err,
                .errlen = errlen,
        };
        unsigned int at = pos, k;
        bool lap = wrap;
        uint16_t head_flags = 0, id = 0;
        int r;

        if (pos >= num)
                return walk_fail(&w, "position %u out of range (queue size %u)", pos, num);
        if (region_hint && vq_region_hint_valid(dev, *region_hint))
                w.region = *region_hint;

        if (!first) {
                /* The first descriptor's flags publish the whole chain: read them, then everything else. */
                head_flags = le16toh(READ_ONCE(ring[pos].flags));
                if (!desc_is_avail(head_flags, wrap))
                        return 0;
                smp_rmb();
        }

        for (k = 0;; k++) {
                struct vring_packed_desc d;

                if (k == 0 && first)
                        d = *first;
                else if (k == 0) {
                        d.addr = le64toh(READ_ONCE(ring[at].addr));
                        d.len = le32toh(READ_ONCE(ring[at].len));
                        d.id = le16toh(READ_ONCE(ring[at].id));
                        d.flags = head_flags;
                } else {
                        if (k >= num)
                                return walk_fail(&w, "chain at %u longer than the ring (%u descriptors)",
                                                 pos, num);
                        pdesc_copy(&ring[at], &d);
                        if (!desc_is_avail(d.flags, lap))
                                return walk_fail(&w,
                                                 "descriptor %u: flags 0x%04x are not available for wrap "
                                                 "counter %u in the middle of a chain",
                                                 at, d.flags, lap);
                }

                r = walk_one(&w, &d, k, at);
                if (r < 0)
                        return r;
                if ((d.flags & VRING_DESC_F_INDIRECT) || !(d.flags & VRING_DESC_F_NEXT)) {
                        id = d.id; /* the buffer id is in the chain's last descriptor */
                        break;
                }
                if (++at == num) {
                        at = 0;
                        lap = !lap;
                }
        }

        if (id >= num)
                return walk_fail(&w, "descriptor %u: buffer id %u out of range (queue size %u)", at, id,
                                 num);

        if (region_hint && w.region)
                *region_hint = w.region;
        *ret = w.chain;
        *ret_id = id;
        *ret_ndescs = k + 1;
        return 1;
}

int vq_packed_walk(VuDev *dev, const struct vring_packed_desc *ring, unsigned int num, unsigned int pos,
                   bool wrap, struct iovec *iov, unsigned int iov_max, VqChain *ret, unsigned int *ret_id,
                   unsigned int *ret_ndescs, char *err, size_t errlen) {
        if (err && errlen > 0)
                err[0] = 0;
        if (!dev || !ring || !ret || !ret_id || !ret_ndescs || num == 0 || num > VIRTQUEUE_MAX_SIZE) {
                if (err && errlen > 0)
                        snprintf(err, errlen, "queue size %u invalid", num);
                return -EBADMSG;
        }
        return packed_walk(dev, ring, num, pos, wrap, NULL, iov, iov_max, ret, ret_id, ret_ndescs, err, errlen,
                           NULL);
}

/* Walk a chain recorded in the inflight buffer (copies already): same rules, no wrap bits to check. */
static int walk_copied(VuDev *dev, const struct vring_packed_desc *descs, unsigned int n, unsigned int num,
                       struct iovec *iov, unsigned int iov_max, VqChain *ret, unsigned int *ret_id,
                       char *err, size_t errlen) {
        Walk w = {
                .dev = dev,
                .iov = iov,
                .iov_max = iov_max,
                .err = err,
                .errlen = errlen,
        };
        int r;

        if (err && errlen > 0)
                err[0] = 0;
        if (n == 0 || n > num)
                return walk_fail(&w, "recorded chain of %u descriptors (queue size %u)", n, num);
        for (unsigned int k = 0; k < n; k++) {
                bool more = descs[k].flags & VRING_DESC_F_NEXT;

                if ((descs[k].flags & VRING_DESC_F_INDIRECT) && n > 1)
                        return walk_fail(&w, "recorded descriptor %u: INDIRECT in a chain of %u", k, n);
                if (!(descs[k].flags & VRING_DESC_F_INDIRECT) && more != (k + 1 < n))
                        return walk_fail(
                                &w, "recorded descriptor %u: NEXT flag does not match a chain of %u", k, n);
                r = walk_one(&w, &descs[k], k, k);
                if (r < 0)
                        return r;
        }
        if (descs[n - 1].id >= num)
                return walk_fail(&w, "recorded buffer id %u out of range (queue size %u)", descs[n - 1].id,
                                 num);

        *ret = w.chain;
        *ret_id = descs[n - 1].id;
        return 0;
}

/* ---- state -------------------------------------------------------------- */

int vq_packed_prepare(VuDev *dev, VuVirtq *vq) {
        unsigned int idx = vq_index(dev, vq), num = vq->vring.num, dist;
        struct VqPackedState *s = vq->priv->packed_state;

        if (num == 0 || num > VIRTQUEUE_MAX_SIZE)
                return vu_error(dev, -EINVAL, "queue %u: packed ring size %u invalid", idx, num);
        /* SET_VRING_BASE carries 15-bit positions; a packed ring only has num of them. */
        if (vq->last_avail_idx >= num || vq->used_idx >= num)
                return vu_error(dev, -EINVAL,
                                "queue %u: packed ring base out of range: avail index %u, used index %u, "
                                "queue size %u",
                                idx, vq->last_avail_idx, vq->used_idx, num);

        /*
         * DPDK's virtio_user sends only the avail half of SET_VRING_BASE (its own
         * backend reads no more), leaving the used position at slot 0, wrap 0.
         * Used more than a ring behind avail is impossible, and a whole ring
         * behind is real only if the slot there still waits for us in the used
         * lap; otherwise nothing is in flight and used stands where avail does.
         */
        dist = pos_distance(num, vq->used_idx, vq->priv->used_wrap_counter, vq->last_avail_idx,
                            vq->priv->avail_wrap_counter);
        if (dist > num ||
            (dist == num && !desc_is_avail(le16toh(READ_ONCE(vq->priv->desc_packed[vq->used_idx].flags)),
                                           vq->priv->used_wrap_counter))) {
                vu_log(dev, LOG_NOTICE,
                       "queue %u: SET_VRING_BASE gave used slot %u wrap %d for avail slot %u wrap %d, "
                       "which no ring holds; using the avail position for both",
                       idx, vq->used_idx, vq->priv->used_wrap_counter, vq->last_avail_idx,
                       vq->priv->avail_wrap_counter);
                vq->used_idx = vq->last_avail_idx;
                vq->priv->used_wrap_counter = vq->priv->avail_wrap_counter;
        }

        if (s && s->num != num) {
                vq_packed_free(vq);
                s = NULL;
        }
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s)
                        return vu_error(dev, -ENOMEM, "queue %u: out of memory for packed ring state", idx);
                s->num = num;
                s->ids = calloc(num, sizeof(PackedId));
                s->used = calloc(num, sizeof(PackedUsed));
                s->hist = calloc(num, sizeof(uint16_t));
                vq->priv->packed_state = s;
                if (!s->ids || !s->used || !s->hist) {
                        vq_packed_free(vq);
                        return vu_error(dev, -ENOMEM, "queue %u: out of memory for packed ring state", idx);
                }
        } else {
                memset(s->ids, 0, num * sizeof(PackedId));
                memset(s->used, 0, num * sizeof(PackedUsed));
        }
        s->used_since_signal = 0;
        s->hist_top = s->hist_len = 0;
        return 0;
}

void vq_packed_free(VuVirtq *vq) {
        struct VqPackedState *s;

        if (!vq || !vq->priv || !vq->priv->packed_state)
                return;
        s = vq->priv->packed_state;
        free(s->ids);
        free(s->used);
        free(s->hist);
        free(s);
        vq->priv->packed_state = NULL;
}

/* ---- helpers on a mapped ring ------------------------------------------- */

static int packed_malformed(VuDev *dev, VuVirtq *vq, const char *fmt, ...) _printf_(3, 4);
static int packed_malformed(VuDev *dev, VuVirtq *vq, const char *fmt, ...) {
        char buf[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        vq->priv->stats.malformed++;
        vu_panic(dev, "queue %u: %s", vq_index(dev, vq), buf);
        return -EBADMSG;
}

static void packed_log_write(VuDev *dev, const void *p, uint64_t len) __attribute__((noinline));
static void packed_log_write(VuDev *dev, const void *p, uint64_t len) {
        uint64_t gpa;

        if (vu_mem_va_to_gpa(dev, p, &gpa))
                vu_log_write(dev, gpa, len);
}

/* Mark guest memory we wrote at @p (descriptor ring, device event) dirty when the ring is logged. */
static inline void packed_log(VuDev *dev, VuVirtq *vq, const void *p, uint64_t len) {
        if (_unlikely_(vu_log_enabled(dev) && (vq->vring.flags & (1u << VHOST_VRING_F_LOG))))
                packed_log_write(dev, p, len);
}

static bool packed_resubmit_pending(const VuVirtq *vq) {
        return vq->resubmit_list && vq->priv->resubmit_next < vq->resubmit_num;
}

/* The device event: where (with EVENT_IDX) the driver should kick next, or whether at all. */
static void device_event_write(VuDev *dev, VuVirtq *vq, uint16_t flags) {
        struct vring_packed_desc_event *e = vq->priv->device_event;

        if (flags == VRING_PACKED_EVENT_FLAG_DESC) {
                uint16_t off_wrap = vq->last_avail_idx | (vq->priv->avail_wrap_counter ? EVENT_WRAP : 0);

                WRITE_ONCE(e->off_wrap, htole16(off_wrap));
                /* The offset must be in place before the flags that make the driver read it. */
                smp_wmb();
        }
        WRITE_ONCE(e->flags, htole16(flags));
        packed_log(dev, vq, e, sizeof(*e));
}

/* Copy the recorded chain of a resubmitted head and walk it. */
static int resubmit_walk(VuDev *dev, VuVirtq *vq, unsigned int entry, struct iovec *iov,
                         unsigned int iov_max, VqPeek *p, char *err, size_t errlen) {
        struct vring_packed_desc descs[VIRTQUEUE_MAX_SIZE];
        unsigned int num = vq->vring.num, id = 0;
        int n, r;

        n = vq_inflight_packed_chain(dev, vq, entry, descs, num);
        if (n < 0) {
                snprintf(err, errlen, "inflight entry %u: recorded chain is inconsistent", entry);
                return -EBADMSG;
        }
        r = walk_copied(dev, descs, (unsigned int) n, num, iov, iov_max, &p->chain, &id, err, errlen);
        if (r < 0)
                return r;
        p->head = id;
        p->ndescs = (unsigned int) n;
        p->entry = entry;
        p->resubmit = true;
        return 1;
}

/* ---- ops ---------------------------------------------------------------- */

static void packed_ring_sizes(unsigned int num, uint64_t ret_size[3], uint64_t ret_align[3]) {
        ret_size[0] = (uint64_t) num * PDESC_SIZE;
        ret_size[1] = sizeof(struct vring_packed_desc_event); /* driver event suppression */
        ret_size[2] = sizeof(struct vring_packed_desc_event); /* device event suppression */
        ret_align[0] = 16;
        ret_align[1] = 4;
        ret_align[2] = 4;
}

static void packed_start(VuDev *dev, VuVirtq *vq) {
        /* Nothing in memory says where we are: SET_VRING_BASE (or the inflight buffer) did. */
        vq->shadow_avail_idx = vq->last_avail_idx;
        vq->signalled_used_valid = false;
}

/*
 * The next slot is not available. With EVENT_IDX the driver kicks only when
 * it makes the slot in our device event available, and reads the event
 * right after publishing: the event must name the next slot (it may be
 * stale after a start), and that store must be visible before we look at
 * the slot again (a full barrier: x86 lets a load pass an earlier store),
 * or a chain published in between is never kicked. Returns whether to look again.
 */
static bool packed_arm_for_recheck(VuDev *dev, VuVirtq *vq) {
        const struct vring_packed_desc_event *e = vq->priv->device_event;
        uint16_t off_wrap = vq->last_avail_idx | (vq->priv->avail_wrap_counter ? EVENT_WRAP : 0);

        if (!vq->notification || !vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                return false;
        if (le16toh(READ_ONCE(e->flags)) != VRING_PACKED_EVENT_FLAG_DESC ||
            le16toh(READ_ONCE(e->off_wrap)) != off_wrap)
                device_event_write(dev, vq, VRING_PACKED_EVENT_FLAG_DESC);
        smp_mb();
        return true;
}

/*
 * Find the next chain and walk it into @iov; fills @ret only when it returns
 * 1. @first as for packed_walk(): the caller's copy of the slot at
 * last_avail_idx, found available.
 */
static inline __attribute__((always_inline)) int
packed_peek_inline(VuDev *dev, VuVirtq *vq, struct iovec *iov, unsigned int iov_max, VqPeek *ret,
                   const struct vring_packed_desc *first) {
        struct VqPackedState *s = vq->priv->packed_state;
        unsigned int num = vq->vring.num, id = 0, nd = 0;
        VqPeek p = {};
        char err[192];
        int r;

        if (!s)
                return 0;

        if (!first && packed_resubmit_pending(vq)) {
                unsigned int entry = vq->resubmit_list[vq->priv->resubmit_next].index;

                r = resubmit_walk(dev, vq, entry, iov, iov_max, &p, err, sizeof(err));
                if (r == -E2BIG)
                        return r;
                if (r < 0)
                        return packed_malformed(dev, vq, "malformed inflight chain: %s", err);
        } else {
                for (bool rechecked = false;; rechecked = true) {
                        r = packed_walk(dev, vq->priv->desc_packed, num, vq->last_avail_idx,
                                        vq->priv->avail_wrap_counter, first, iov, iov_max, &p.chain, &id, &nd,
                                        err, sizeof(err), &vq->priv->region_hint);
                        if (r != 0 || rechecked || !packed_arm_for_recheck(dev, vq))
                                break;
                }
                if (r == 0 || r == -E2BIG)
                        return r;
                if (r < 0)
                        return packed_malformed(dev, vq, "malformed chain at %u: %s", vq->last_avail_idx,
                                                err);

                /* The driver can only reuse slots we marked used: more than the ring outstanding is a lie.
                 */
                if (pos_distance(num, vq->used_idx, vq->priv->used_wrap_counter, vq->last_avail_idx,
                                 vq->priv->avail_wrap_counter) +
                            nd >
                    num)
                        return packed_malformed(dev, vq,
                                                "chain of %u descriptors at %u: more descriptors in flight "
                                                "than the ring holds (%u, used index %u)",
                                                nd, vq->last_avail_idx, num, vq->used_idx);
                p.head = id;
                p.ndescs = nd;
        }

        if (s->ids[p.head].ndescs != 0)
                return packed_malformed(dev, vq, "buffer id %u made available again while in flight",
                                        p.head);

        *ret = p;
        return 1;
}

static int packed_peek(VuDev *dev, VuVirtq *vq, struct iovec *iov, unsigned int iov_max, VqPeek *ret) {
        return packed_peek_inline(dev, vq, iov, iov_max, ret, NULL);
}

/* The pop history for rewind: @id taken last. */
static inline void packed_hist_push(struct VqPackedState *s, unsigned int num, unsigned int id) {
        s->hist[s->hist_top] = (uint16_t) id;
        if (++s->hist_top == num)
                s->hist_top = 0;
        if (s->hist_len < num)
                s->hist_len++;
}

static void packed_commit(VuDev *dev, VuVirtq *vq, const VqPeek *p) {
        struct VqPackedState *s = vq->priv->packed_state;
        struct VuVirtqPriv *priv = vq->priv;
        PackedId *e = &s->ids[p->head];
        unsigned int num = vq->vring.num;

        e->ndescs = (uint16_t) p->ndescs;
        e->in_bytes = (uint32_t) MIN(p->chain.in_bytes, (uint64_t) UINT32_MAX);
        e->pos = vq->last_avail_idx;
        e->wrap = priv->avail_wrap_counter;
        e->resubmitted = p->resubmit;

        if (p->resubmit) {
                /* Counted in inuse and in the ring positions when the list was built. */
                e->entry = (int32_t) p->entry;
                priv->resubmit_next++;
                priv->stats.resubmitted++;
                if (priv->resubmit_next >= vq->resubmit_num)
                        vq_inflight_drop_resubmit(vq);
        } else {
                struct vring_packed_desc descs[VIRTQUEUE_MAX_SIZE];
                uint16_t at = vq->last_avail_idx;
                bool lap = priv->avail_wrap_counter;

                if (vq->inflight && priv->inflight_packed_ok) {
                        /* Record what we walked; the resubmission walks it again, so a rewrite meanwhile
                         * only hurts the guest. */
                        for (unsigned int k = 0; k < p->ndescs; k++) {
                                pdesc_copy(&priv->desc_packed[at], &descs[k]);
                                pos_advance(num, &at, &lap, 1);
                        }
                        e->entry = vq_inflight_packed_pop(dev, vq, descs, p->ndescs);
                } else
                        e->entry = -1;

                pos_advance(num, &vq->last_avail_idx, &priv->avail_wrap_counter, p->ndescs);
                vq->shadow_avail_idx = vq->last_avail_idx;
                vq->inuse++;
                packed_hist_push(s, num, p->head);

                /* Keep asking for a kick at the next slot, as the split ring moves avail_event. */
                if (vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX) && vq->notification)
                        device_event_write(dev, vq, VRING_PACKED_EVENT_FLAG_DESC);
        }
        priv->stats.popped++;
        priv->stats.bytes_out += p->chain.out_bytes;
}

/* vu_queue_pop_into() for every chain packed_pop_into() does not take itself; @first as for packed_walk(). */
static int packed_pop_into_slow(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                                unsigned int iov_max, const struct vring_packed_desc *first)
        __attribute__((noinline));
static int packed_pop_into_slow(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                                unsigned int iov_max, const struct vring_packed_desc *first) {
        VqPeek p;
        int r;

        r = packed_peek_inline(dev, vq, iov, iov_max, &p, first);
        if (r <= 0)
                return r;
        packed_commit(dev, vq, &p);
        elem->index = p.head;
        elem->out_num = p.chain.out_num;
        elem->in_num = p.chain.in_num;
        elem->out_sg = iov;
        elem->in_sg = iov + p.chain.out_num;
        return 1;
}

/*
 * peek + commit for vu_queue_pop_into(). The common chain (one non-empty
 * buffer in the region of the queue's last one, its id free, no inflight
 * buffer to record it in) is taken here; everything else, and every
 * refusal, is packed_pop_into_slow()'s, which is handed the slot as read
 * here once it was found available. The checks are the walker's and
 * peek's: the AVAIL/USED bits of the lap, neither NEXT nor INDIRECT, the
 * range inside one region, the id below num and not in flight, no more
 * slots outstanding than the ring has.
 */
static int packed_pop_into(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                           unsigned int iov_max) {
        struct VuVirtqPriv *priv = vq->priv;
        struct VqPackedState *s = priv->packed_state;
        const VuDevRegion *region = priv->region_hint;
        const struct vring_packed_desc *slot;
        unsigned int num = vq->vring.num;
        uint16_t pos = vq->last_avail_idx;
        bool wrap = priv->avail_wrap_counter, write;
        struct vring_packed_desc d;
        PackedId *e;
        void *p;

        if (_unlikely_(!s || packed_resubmit_pending(vq) || vq->inflight || iov_max == 0 ||
                       !vq_region_hint_valid(dev, region)))
                return packed_pop_into_slow(dev, vq, elem, iov, iov_max, NULL);

        /* The flags publish the descriptor: read them, then (after a barrier) the rest. */
        slot = &priv->desc_packed[pos];
        d.flags = le16toh(READ_ONCE(slot->flags));
        if (!desc_is_avail(d.flags, wrap))
                return packed_pop_into_slow(dev, vq, elem, iov, iov_max, NULL); /* arms the event, looks again */
        smp_rmb();
        d.addr = le64toh(READ_ONCE(slot->addr));
        d.len = le32toh(READ_ONCE(slot->len));
        d.id = le16toh(READ_ONCE(slot->id));

        if (_unlikely_((d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d.len == 0 || d.id >= num ||
                       s->ids[d.id].ndescs != 0 ||
                       pos_distance(num, vq->used_idx, priv->used_wrap_counter, pos, wrap) + 1 > num))
                return packed_pop_into_slow(dev, vq, elem, iov, iov_max, &d);
        p = vq_region_range(region, d.addr, d.len);
        if (_unlikely_(!p))
                return packed_pop_into_slow(dev, vq, elem, iov, iov_max, &d);

        write = d.flags & VRING_DESC_F_WRITE;
        iov[0] = (struct iovec) { .iov_base = p, .iov_len = d.len };

        /* packed_commit() for a one-descriptor chain from the ring, untracked. */
        e = &s->ids[d.id];
        *e = (PackedId) {
                .ndescs = 1,
                .pos = pos,
                .wrap = wrap,
                .entry = -1,
                .in_bytes = write ? d.len : 0,
        };
        pos_advance(num, &vq->last_avail_idx, &priv->avail_wrap_counter, 1);
        vq->shadow_avail_idx = vq->last_avail_idx;
        vq->inuse++;
        packed_hist_push(s, num, d.id);
        if (vq->notification && vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                device_event_write(dev, vq, VRING_PACKED_EVENT_FLAG_DESC);
        priv->stats.popped++;
        if (!write)
                priv->stats.bytes_out += d.len;

        elem->index = d.id;
        elem->out_num = !write;
        elem->in_num = write;
        elem->out_sg = iov;
        elem->in_sg = iov + !write;
        return 1;
}

/*
 * vu_queue_pop_burst(): packed_pop_into()'s short path over up to @max
 * slots, with the queue's state read once and the device event written
 * once. Each slot is checked as there (the AVAIL/USED bits of the lap,
 * then after a barrier the rest, read once: neither NEXT nor INDIRECT, not
 * empty, the id below num and not in flight, no more slots outstanding than
 * the ring has, the range wholly inside one region); the first that fails
 * ends the burst untaken, for vu_queue_pop_into() to take or refuse (or,
 * not available, to arm the event and look again).
 */
static int packed_pop_burst(VuDev *dev, VuVirtq *vq, VuVirtqElement *elems, struct iovec *iov,
                            unsigned int max) {
        struct VuVirtqPriv *priv = vq->priv;
        struct VqPackedState *s = priv->packed_state;
        const VuDevRegion *region = priv->region_hint;
        const struct vring_packed_desc *ring = priv->desc_packed;
        unsigned int num = vq->vring.num, n;
        uint16_t pos = vq->last_avail_idx;
        bool wrap = priv->avail_wrap_counter;
        uint64_t bytes_out = 0;
        unsigned int outstanding;

        if (_unlikely_(!s || packed_resubmit_pending(vq) || vq->inflight))
                return 0;
        /* Slots taken and not yet returned; each pop adds one (more than num: inconsistent, none taken). */
        outstanding = pos_distance(num, vq->used_idx, priv->used_wrap_counter, pos, wrap);
        if (!vq_region_hint_valid(dev, region))
                region = NULL;

        /*
         * Start loading the slots the burst may take: the driver's CPU wrote
         * them last, and their misses then overlap instead of stalling each
         * slot's flags in turn. Only a hint: the slots are read below.
         */
        for (n = 0; n < max; n += 64 / sizeof(*ring)) {
                prefetch_read(&ring[(pos + n) % num]);
                prefetch_keep();
        }

        for (n = 0; n < max; n++) {
                const struct vring_packed_desc *slot = &ring[pos];
                struct vring_packed_desc d;
                bool write;
                void *p;

                d.flags = le16toh(READ_ONCE(slot->flags));
                if (!desc_is_avail(d.flags, wrap))
                        break;
                smp_rmb();
                d.addr = le64toh(READ_ONCE(slot->addr));
                d.len = le32toh(READ_ONCE(slot->len));
                d.id = le16toh(READ_ONCE(slot->id));
                if (_unlikely_((d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d.len == 0 ||
                               d.id >= num || s->ids[d.id].ndescs != 0 || outstanding + n + 1 > num))
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
                        .index = d.id,
                        .out_num = !write,
                        .in_num = write,
                        .out_sg = &iov[n],
                        .in_sg = &iov[n] + !write,
                };
                /* packed_commit() for a one-descriptor chain from the ring, untracked. */
                s->ids[d.id] = (PackedId) {
                        .ndescs = 1,
                        .pos = pos,
                        .wrap = wrap,
                        .entry = -1,
                        .in_bytes = write ? d.len : 0,
                };
                packed_hist_push(s, num, d.id);
                pos_advance(num, &pos, &wrap, 1);
                if (!write)
                        bytes_out += d.len;
        }
        priv->region_hint = region;
        if (n == 0)
                return 0;

        vq->last_avail_idx = pos;
        priv->avail_wrap_counter = wrap;
        vq->shadow_avail_idx = pos;
        vq->inuse += (int) n;
        if (vq->notification && vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                device_event_write(dev, vq, VRING_PACKED_EVENT_FLAG_DESC);
        priv->stats.popped += n;
        priv->stats.bytes_out += bytes_out;
        return (int) n;
}

static bool packed_rewind(VuDev *dev, VuVirtq *vq, unsigned int n) {
        struct VqPackedState *s = vq->priv->packed_state;
        unsigned int num = vq->vring.num, top;
        uint16_t at = vq->last_avail_idx;
        bool lap = vq->priv->avail_wrap_counter;

        if (!s || n > (unsigned int) MAX(vq->inuse, 0) || n > s->hist_len)
                return false;

        /* All or nothing: the last @n pops, still in flight, back to back up to last_avail_idx. */
        top = s->hist_top;
        for (unsigned int k = 0; k < n; k++) {
                PackedId *e;
                uint16_t end;
                bool end_wrap;

                top = (top + num - 1) % num;
                e = &s->ids[s->hist[top]];
                if (e->ndescs == 0 || e->resubmitted)
                        return false;
                end = e->pos;
                end_wrap = e->wrap;
                pos_advance(num, &end, &end_wrap, e->ndescs);
                if (end != at || end_wrap != lap)
                        return false;
                at = e->pos;
                lap = e->wrap;
        }

        for (unsigned int k = 0; k < n; k++) {
                PackedId *e;

                s->hist_top = (s->hist_top + num - 1) % num;
                s->hist_len--;
                e = &s->ids[s->hist[s->hist_top]];
                /* Not completed, but no longer ours: the inflight buffer forgets it like a completion. */
                vq_inflight_packed_fill(dev, vq, e->entry);
                vq_inflight_packed_clear(dev, vq, e->entry);
                vq_inflight_packed_commit(dev, vq);
                vq->last_avail_idx = e->pos;
                vq->priv->avail_wrap_counter = e->wrap;
                *e = (PackedId){};
                vq->inuse--;
        }
        vq->shadow_avail_idx = vq->last_avail_idx;
        /* Given back, not taken: popped again later, they count once. */
        vq->priv->stats.popped -= MIN(vq->priv->stats.popped, (uint64_t) n);
        return true;
}

static void packed_fill_refuse(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int idx)
        __attribute__((cold, noinline));
static void packed_fill_refuse(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int idx) {
        struct VqPackedState *s = vq->priv->packed_state;
        unsigned int num = vq->vring.num;

        if (!s)
                return;
        if (elem->index >= num || s->ids[elem->index].ndescs == 0)
                vu_log(dev, LOG_ERR, "queue %u: element id %u is not in flight (queue size %u), not returned",
                       vq_index(dev, vq), elem->index, num);
        else
                vu_log(dev, LOG_ERR, "queue %u: fill index %u beyond queue size %u, element %u not returned",
                       vq_index(dev, vq), idx, num, elem->index);
}

static inline void packed_fill(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len,
                        unsigned int idx) {
        struct VqPackedState *s = vq->priv->packed_state;
        unsigned int num = vq->vring.num;

        if (_unlikely_(!s || elem->index >= num || s->ids[elem->index].ndescs == 0 || idx >= num)) {
                packed_fill_refuse(dev, vq, elem, idx);
                return;
        }

        if (_unlikely_(vu_log_enabled(dev)))
                vu_log_iov(dev, elem->in_sg, elem->in_num, len);

        /* The inflight buffer hears of it at flush, so a pop between fill and flush cannot interleave with
         * it. */
        s->used[idx] = (PackedUsed){.len = len, .id = (uint16_t) elem->index, .set = true};
        vq->priv->stats.pushed++;
        vq->priv->stats.bytes_in += len;
}

/* packed_fill() for each element, inlined into one loop. */
static void packed_fill_burst(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elems, const unsigned int *lens,
                              unsigned int n, unsigned int idx) {
        for (unsigned int k = 0; k < n; k++)
                packed_fill(dev, vq, &elems[k], lens ? lens[k] : 0, idx + k);
}

static uint16_t used_flags(bool wrap, uint32_t len) {
        return (uint16_t) ((wrap ? F_AVAIL | F_USED : 0) | (len > 0 ? VRING_DESC_F_WRITE : 0));
}

/*
 * packed_flush() for the usual batch: no inflight buffer to tell, no
 * IN_ORDER runs to fold, no dirty log. One pass instead of three: each
 * used descriptor's id and len, then (after a write barrier) its flags,
 * and the flags of the batch's first descriptor last of all, after
 * another barrier, so the driver still never sees half a batch.
 */
static void packed_flush_plain(VuVirtq *vq, struct VqPackedState *s, unsigned int n) {
        struct vring_packed_desc *ring = vq->priv->desc_packed;
        unsigned int num = vq->vring.num, count = 0, slots = 0;
        uint16_t pos = vq->used_idx, first_pos = 0, first_flags = 0;
        bool wrap = vq->priv->used_wrap_counter;

        for (unsigned int k = 0; k < n; k++) {
                PackedUsed *u = &s->used[k];
                PackedId *e;
                uint16_t flags;

                if (!u->set)
                        continue;
                u->set = false;
                e = &s->ids[u->id];
                if (e->ndescs == 0) /* filled twice in one batch */
                        continue;
                WRITE_ONCE(ring[pos].id, htole16(u->id));
                WRITE_ONCE(ring[pos].len, htole32(u->len));
                flags = used_flags(wrap, u->len);
                if (count == 0) {
                        first_pos = pos;
                        first_flags = flags;
                } else {
                        smp_wmb();
                        WRITE_ONCE(ring[pos].flags, htole16(flags));
                }
                count++;
                slots += e->ndescs;
                pos_advance(num, &pos, &wrap, e->ndescs);
                e->ndescs = 0; /* no longer in flight */
                e->entry = -1;
        }
        if (count == 0)
                return;

        vq->used_idx = pos;
        vq->priv->used_wrap_counter = wrap;
        smp_wmb();
        WRITE_ONCE(ring[first_pos].flags, htole16(first_flags));

        vq->inuse = count > (unsigned int) MAX(vq->inuse, 0) ? 0 : vq->inuse - (int) count;
        s->used_since_signal += slots;
}

static void packed_flush(VuDev *dev, VuVirtq *vq, unsigned int n) {
        struct VqPackedState *s = vq->priv->packed_state;
        struct vring_packed_desc *ring = vq->priv->desc_packed;
        unsigned int num = vq->vring.num, count = 0, slots = 0, first = UINT_MAX;
        bool in_order = vu_has_feature(dev, VIRTIO_F_IN_ORDER);
        /* An inflight buffer in use: the usual case has none, and then not even a call per element. */
        bool tracked = vq->inflight && vq->priv->inflight_packed_ok;
        uint16_t pos = vq->used_idx;
        bool wrap = vq->priv->used_wrap_counter;
        bool fold_ok[VIRTQUEUE_MAX_SIZE];

        if (!s || n == 0)
                return;
        if (n > num) {
                vu_log(dev, LOG_ERR, "queue %u: flush of %u elements beyond queue size %u, flushing %u",
                       vq_index(dev, vq), n, num, num);
                n = num;
        }
        if (_likely_(!tracked && !in_order && !vu_log_enabled(dev))) {
                packed_flush_plain(vq, s, n);
                return;
        }

        /* Lay the batch out: each used descriptor goes where the previous chain's slots end. */
        for (unsigned int k = 0; k < n; k++) {
                PackedUsed *u = &s->used[k];
                PackedId *e;

                if (!u->set)
                        continue;
                e = &s->ids[u->id];
                if (e->ndescs == 0) { /* filled twice in one batch */
                        u->set = false;
                        continue;
                }
                u->in_order = !e->resubmitted && e->pos == pos && e->wrap == wrap;
                u->skip = false;
                if (in_order && !u->in_order)
                        vu_log(dev, LOG_WARNING,
                               "queue %u: IN_ORDER negotiated but buffer id %u completes out of order",
                               vq_index(dev, vq), u->id);
                u->pos = pos;
                u->wrap = wrap;
                /* IN_ORDER: a buffer used whole needs no descriptor of its own if the next one follows it.
                 */
                fold_ok[k] = in_order && u->in_order && u->len == e->in_bytes;
                pos_advance(num, &pos, &wrap, e->ndescs);
                slots += e->ndescs;
                e->ndescs = 0; /* no longer in flight; a second fill of it is ignored above */
                if (tracked)
                        vq_inflight_packed_fill(dev, vq, e->entry);
                if (first == UINT_MAX)
                        first = k;
                count++;
        }
        if (count == 0)
                return;

        if (in_order) {
                unsigned int prev = UINT_MAX;

                /* One used descriptor per run, in the run's first slot, with the run's last id
                 * (packed-ring.tex). */
                for (unsigned int k = first; k < n; k++) {
                        PackedUsed *u = &s->used[k];

                        if (!u->set)
                                continue;
                        if (prev != UINT_MAX && fold_ok[prev] && u->in_order) {
                                s->used[prev].skip = true;
                                u->pos = s->used[prev].pos;
                                u->wrap = s->used[prev].wrap;
                        }
                        prev = k;
                }
                while (s->used[first].skip || !s->used[first].set)
                        first++; /* the last of the batch is never skipped */
        }

        vq->used_idx = pos;
        vq->priv->used_wrap_counter = wrap;
        if (tracked)
                vq_inflight_packed_flush_begin(dev, vq);

        for (unsigned int k = first; k < n; k++) {
                PackedUsed *u = &s->used[k];

                if (!u->set || u->skip)
                        continue;
                WRITE_ONCE(ring[u->pos].id, htole16(u->id));
                WRITE_ONCE(ring[u->pos].len, htole32(u->len));
        }
        /* id and len before the flags that hand a descriptor back; the first of the batch last of all. */
        smp_wmb();
        /* Untracked, an element is done with once its descriptor is written: forget it in the same pass. */
        for (unsigned int k = first + 1; k < n; k++) {
                PackedUsed *u = &s->used[k];

                if (!u->set)
                        continue;
                if (!u->skip) {
                        WRITE_ONCE(ring[u->pos].flags, htole16(used_flags(u->wrap, u->len)));
                        packed_log(dev, vq, &ring[u->pos], PDESC_SIZE);
                }
                if (!tracked) {
                        s->ids[u->id].entry = -1;
                        u->set = false;
                }
        }
        smp_wmb();
        WRITE_ONCE(ring[s->used[first].pos].flags,
                   htole16(used_flags(s->used[first].wrap, s->used[first].len)));
        packed_log(dev, vq, &ring[s->used[first].pos], PDESC_SIZE);
        if (vu_log_enabled(dev))
                vu_log_kick(dev);

        if (tracked) {
                /* The inflight buffer hears of the batch only once it is published. */
                for (unsigned int k = first; k < n; k++) {
                        PackedUsed *u = &s->used[k];

                        if (!u->set)
                                continue;
                        vq_inflight_packed_clear(dev, vq, s->ids[u->id].entry);
                        s->ids[u->id].entry = -1;
                        u->set = false;
                }
                vq_inflight_packed_commit(dev, vq);
        } else {
                s->ids[s->used[first].id].entry = -1;
                s->used[first].set = false;
        }

        vq->inuse = count > (unsigned int) MAX(vq->inuse, 0) ? 0 : vq->inuse - (int) count;
        s->used_since_signal += slots;
}

static bool packed_empty(VuDev *dev, VuVirtq *vq) {
        if (packed_resubmit_pending(vq))
                return false;
        return !desc_is_avail(le16toh(READ_ONCE(vq->priv->desc_packed[vq->last_avail_idx].flags)),
                              vq->priv->avail_wrap_counter);
}

static void packed_set_notification(VuDev *dev, VuVirtq *vq, bool enable) {
        vq->notification = enable;

        if (!enable)
                device_event_write(dev, vq, VRING_PACKED_EVENT_FLAG_DISABLE);
        else if (vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                device_event_write(dev, vq, VRING_PACKED_EVENT_FLAG_DESC);
        else
                device_event_write(dev, vq, VRING_PACKED_EVENT_FLAG_ENABLE);

        /* The store must be visible before the caller looks at the ring again, or a kick is lost. */
        if (enable)
                smp_mb();
}

/* A ring slot and its lap as one number modulo 2*num, increasing as the device goes round. */
static unsigned int lap_pos(unsigned int num, unsigned int pos, bool wrap) {
        return (pos % num) + (wrap ? num : 0);
}

static bool packed_need_notify(VuDev *dev, VuVirtq *vq) {
        struct VqPackedState *s = vq->priv->packed_state;
        const struct vring_packed_desc_event *e = vq->priv->driver_event;
        unsigned int num = vq->vring.num, mod = 2 * num, old, new, ev;
        uint16_t flags, off_wrap;
        bool valid;

        /* Our used descriptors must be visible before we read the driver's wishes. */
        smp_mb();

        if (vu_has_feature(dev, VIRTIO_F_NOTIFY_ON_EMPTY) && vq->inuse == 0 && packed_empty(dev, vq))
                return true;

        flags = le16toh(READ_ONCE(e->flags)) & 0x3;
        off_wrap = le16toh(READ_ONCE(e->off_wrap));

        old = vq->signalled_used;
        new = lap_pos(num, vq->used_idx, vq->priv->used_wrap_counter);
        /* Beyond a whole ring since the last look, the modular comparison below means nothing. */
        valid = vq->signalled_used_valid && s && s->used_since_signal <= num;
        vq->signalled_used = (uint16_t) new;
        vq->signalled_used_valid = true;
        if (s)
                s->used_since_signal = 0;

        if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
                return false;
        if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX))
                return true; /* ENABLE, or a value we must not rely on: a spurious call is harmless */
        if (!valid)
                return true;

        /* Notify if the slot the driver asked about was written by this batch: ev in [old, new). */
        ev = lap_pos(num, off_wrap & ~EVENT_WRAP, off_wrap & EVENT_WRAP);
        return (new + mod - ev - 1) % mod < (new + mod - old) % mod;
}

static int packed_avail_bytes(VuDev *dev, VuVirtq *vq, uint64_t max_in, uint64_t max_out, uint64_t *ret_in,
                              uint64_t *ret_out) {
        unsigned int num = vq->vring.num, seen, id = 0, nd = 0;
        uint16_t at = vq->last_avail_idx;
        bool lap = vq->priv->avail_wrap_counter;
        uint64_t in = 0, out = 0;
        char err[192];
        VqChain c = {}; /* set by every walk that returns > 0 (-O3 cannot tell) */
        int r;

        for (unsigned int k = vq->priv->resubmit_next; vq->resubmit_list && k < vq->resubmit_num; k++) {
                VqPeek p = {};

                r = resubmit_walk(dev, vq, vq->resubmit_list[k].index, NULL, 0, &p, err, sizeof(err));
                if (r < 0)
                        return packed_malformed(dev, vq, "malformed inflight chain: %s", err);
                in += p.chain.in_bytes;
                out += p.chain.out_bytes;
                if (in >= max_in && out >= max_out)
                        goto done;
        }

        seen = pos_distance(num, vq->used_idx, vq->priv->used_wrap_counter, at, lap);
        while (seen < num) {
                r = vq_packed_walk(dev, vq->priv->desc_packed, num, at, lap, NULL, 0, &c, &id, &nd, err,
                                   sizeof(err));
                if (r == 0)
                        break;
                if (r < 0)
                        return packed_malformed(dev, vq, "malformed chain at %u: %s", at, err);
                if (seen + nd > num)
                        break; /* peek refuses it when it gets there */
                in += c.in_bytes;
                out += c.out_bytes;
                if (in >= max_in && out >= max_out)
                        break;
                seen += nd;
                pos_advance(num, &at, &lap, nd);
        }
done:
        *ret_in = in;
        *ret_out = out;
        return 0;
}

/*
 * A packed ring has no avail/used index in memory: the snapshot shows our
 * positions there, and the two event suppression structures in the
 * flags/event fields (driver's: avail_flags/used_event; ours:
 * used_flags/avail_event).
 */
static void packed_get_info(VuDev *dev, VuVirtq *vq, VuQueueInfo *ret) {
        const struct vring_packed_desc_event *drv = vq->priv->driver_event, *dev_ev = vq->priv->device_event;

        ret->avail_idx = vq->last_avail_idx;
        ret->ring_used_idx = vq->used_idx;
        ret->avail_flags = le16toh(READ_ONCE(drv->flags));
        ret->used_event = le16toh(READ_ONCE(drv->off_wrap));
        ret->used_flags = le16toh(READ_ONCE(dev_ev->flags));
        ret->avail_event = le16toh(READ_ONCE(dev_ev->off_wrap));
}

const VqRingOps vq_packed_ops = {
        .ring_sizes = packed_ring_sizes,
        .start = packed_start,
        .peek = packed_peek,
        .commit = packed_commit,
        .pop_into = packed_pop_into,
        .pop_burst = packed_pop_burst,
        .rewind = packed_rewind,
        .fill = packed_fill,
        .fill_burst = packed_fill_burst,
        .flush = packed_flush,
        .empty = packed_empty,
        .set_notification = packed_set_notification,
        .need_notify = packed_need_notify,
        .avail_bytes = packed_avail_bytes,
        .get_info = packed_get_info,
};
