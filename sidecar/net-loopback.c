/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The loopback back end: every frame a queue pair's transmit ring carries
 * comes back on the same pair's receive ring, copied once, straight from
 * the guest's transmit buffers into its receive buffers (no bounce
 * buffer), spread over several receive buffers when MRG_RXBUF was
 * negotiated. The virtio-net header travels with the frame, so offload
 * metadata (partial checksum, GSO type and size) arrives as it was sent.
 *
 * No receive buffer: the frame stays in the transmit ring (not popped)
 * and receive-queue kicks are armed, as a NIC's back-pressure would; if
 * the guest posts nothing for NET_HOLD_USEC, frames are dropped and
 * counted as no_rx_buffer until buffers come back, so a guest that never
 * reads cannot wedge its own transmit path.
 *
 * Also the iovec helpers the other net files share.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "net-internal.h"
#include "prefetch.h"

/* ---- iovec helpers ------------------------------------------------------------- */

uint64_t net_iov_size(const struct iovec *iov, unsigned int n) {
        uint64_t s = 0;

        for (unsigned int i = 0; i < n; i++)
                s += iov[i].iov_len;
        return s;
}

size_t net_iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip, void *buf, size_t len) {
        size_t done = 0;

        for (unsigned int i = 0; i < n && done < len; i++) {
                size_t l = iov[i].iov_len, c;

                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                c = MIN(l - skip, len - done);
                memcpy((uint8_t *) buf + done, (const uint8_t *) iov[i].iov_base + skip, c);
                done += c;
                skip = 0;
        }
        return done;
}

size_t net_iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip, const void *buf, size_t len) {
        size_t done = 0;

        for (unsigned int i = 0; i < n && done < len; i++) {
                size_t l = iov[i].iov_len, c;

                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                c = MIN(l - skip, len - done);
                memcpy((uint8_t *) iov[i].iov_base + skip, (const uint8_t *) buf + done, c);
                done += c;
                skip = 0;
        }
        return done;
}

/* A read position in an iovec list. */
typedef struct IovCursor {
        const struct iovec *iov;
        unsigned int n;
        size_t off;             /* into iov[0] */
} IovCursor;

static void cursor_init(IovCursor *c, const struct iovec *iov, unsigned int n, size_t skip) {
        *c = (IovCursor) { .iov = iov, .n = n };
        while (c->n > 0 && skip >= c->iov->iov_len) {
                skip -= c->iov->iov_len;
                c->iov++;
                c->n--;
        }
        c->off = skip;
}

/* Copy up to @len bytes from @src (advancing it) into @dst at @dst_skip. Returns bytes copied. */
static size_t cursor_copy_to(IovCursor *src, const struct iovec *dst, unsigned int dst_n, size_t dst_skip,
                             size_t len) {
        size_t done = 0;

        for (unsigned int i = 0; i < dst_n && done < len && src->n > 0; i++) {
                size_t dl = dst[i].iov_len, doff;

                if (dst_skip >= dl) {
                        dst_skip -= dl;
                        continue;
                }
                doff = dst_skip;
                dst_skip = 0;
                while (doff < dl && done < len && src->n > 0) {
                        size_t c = MIN(MIN(dl - doff, src->iov->iov_len - src->off), len - done);

                        memcpy((uint8_t *) dst[i].iov_base + doff, (const uint8_t *) src->iov->iov_base + src->off,
                               c);
                        doff += c;
                        done += c;
                        src->off += c;
                        if (src->off == src->iov->iov_len) {
                                src->iov++;
                                src->n--;
                                src->off = 0;
                        }
                }
        }
        return done;
}

/* The Internet checksum of @len bytes at @skip of @iov, as a completed (folded, inverted) value. */
static uint16_t iov_inet_csum(const struct iovec *iov, unsigned int n, size_t skip, size_t len) {
        uint64_t sum = 0;
        size_t pos = 0;

        for (unsigned int i = 0; i < n && pos < len; i++) {
                const uint8_t *b = iov[i].iov_base;
                size_t l = iov[i].iov_len;

                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                for (size_t k = skip; k < l && pos < len; k++, pos++)
                        sum += (pos & 1) ? b[k] : (uint64_t) b[k] << 8;
                skip = 0;
        }
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) ~sum;
}

/* ---- the loopback ------------------------------------------------------------- */

/* Write @len bytes of @buf at byte @offset of the frame spread over the first @ne receive elements. */
static void rx_elems_write(NetPair *p, unsigned int ne, size_t offset, const void *buf, size_t len) {
        for (unsigned int j = 0; j < ne && len > 0; j++) {
                const VuVirtqElement *e = &p->rx_elems[j];
                size_t l = p->rx_len[j], c;

                if (offset >= l) {
                        offset -= l;
                        continue;
                }
                c = net_iov_from_buf(e->in_sg, e->in_num, offset, buf, MIN(len, l - offset));
                buf = (const uint8_t *) buf + c;
                len -= c;
                offset = 0;
        }
}

/* Receive bytes of a popped element: the walker bounds a chain to UINT32_MAX bytes. */
static inline uint32_t rx_elem_len(const VuVirtqElement *e) {
        if (_likely_(e->in_num == 1))
                return (uint32_t) e->in_sg[0].iov_len;
        return (uint32_t) MIN(net_iov_size(e->in_sg, e->in_num), (uint64_t) UINT32_MAX);
}

/*
 * loopback_take_rx() past its first element: @ne elements (holding @cap
 * bytes) are taken, more are needed, or pop returned @k. Out of line: the
 * usual frame fits the first buffer.
 */
static int take_rx_more(NetPair *p, VuVirtq *rx, uint64_t need, unsigned int ne, uint64_t cap, int k,
                        NetDrop *ret_drop) __attribute__((noinline));
static int take_rx_more(NetPair *p, VuVirtq *rx, uint64_t need, unsigned int ne, uint64_t cap, int k,
                        NetDrop *ret_drop) {
        NetDevice *n = p->net;
        VuDev *vu = &n->dev.vu;
        unsigned int max_elems = n->mrg_rxbuf ? NET_RX_ELEMS_MAX : 1;
        unsigned int iov_used = ne > 0 ? p->rx_elems[0].out_num + p->rx_elems[0].in_num : 0;

        for (;;) {
                if (k == 0) {
                        (void) vu_queue_rewind(vu, rx, ne);
                        if (p->hold_expired) {
                                *ret_drop = NET_DROP_NO_RX_BUFFER;
                                return 0;
                        }
                        /* Buffers there may be, but too few: wait for room for this frame, not for any. */
                        p->rx_need = need;
                        return -EAGAIN;
                }
                if (k == -E2BIG) {
                        (void) vu_queue_rewind(vu, rx, ne);
                        *ret_drop = NET_DROP_RX_BUFFER_TOO_SMALL;
                        return 0;
                }
                if (k < 0) {
                        /* The ring is malformed: the library panicked, the device detaches. */
                        (void) vu_queue_rewind(vu, rx, ne);
                        *ret_drop = NET_DROP_MALFORMED;
                        return 0;
                }
                if (cap >= need)
                        return (int) ne;
                if (ne >= max_elems) {
                        (void) vu_queue_rewind(vu, rx, ne);
                        *ret_drop = NET_DROP_RX_BUFFER_TOO_SMALL;
                        return 0;
                }

                VuVirtqElement *e = &p->rx_elems[ne];

                k = vu_queue_pop_into(vu, rx, e, p->rx_iov + iov_used, NET_RX_IOV_MAX - iov_used);
                if (k > 0) {
                        p->rx_len[ne] = rx_elem_len(e);
                        cap += p->rx_len[ne];
                        iov_used += e->out_num + e->in_num;
                        ne++;
                }
        }
}

/*
 * Take receive buffers for @need bytes into p->rx_elems. Returns the
 * number taken, 0 if the frame must be dropped (why in @ret_drop), or
 * -EAGAIN if the ring has not enough buffers yet. Nothing stays taken
 * unless the return is positive.
 */
/*
 * Give the receive buffers popped ahead and not taken back to the ring:
 * they are the last popped from it, so a rewind returns exactly them.
 */
static void loopback_rx_burst_return(NetPair *p, VuVirtq *rx) {
        if (p->rx_burst_i < p->rx_burst_n)
                (void) vu_queue_rewind(&p->net->dev.vu, rx, p->rx_burst_n - p->rx_burst_i);
        p->rx_burst_n = p->rx_burst_i = 0;
}

/*
 * Fill the receive buffers of rx_burst that frames were copied into, in one
 * call. Before rx_burst is popped into again: the elements point at its iovecs.
 */
static void loopback_rx_fill_flush(NetPair *p, VuVirtq *rx) {
        if (p->rx_fill_n == 0)
                return;
        vu_queue_fill_burst(&p->net->dev.vu, rx, p->rx_fill, p->rx_fill_len, p->rx_fill_n, p->rx_fill_idx);
        p->rx_fill_n = 0;
}

/*
 * Hand the receive buffers filled so far to the guest, mid-burst: its
 * driver starts on the first frames of a burst while we copy the rest, the
 * two sides working at once instead of in turn. Its notification waits for
 * the end of the pass (net_pair_flush()), one memory fence per pass.
 */
static void loopback_rx_publish(NetPair *p, VuVirtq *rx) {
        loopback_rx_fill_flush(p, rx);
        if (p->rx_used == 0)
                return;
        vu_queue_flush(&p->net->dev.vu, rx, p->rx_used);
        p->rx_used = 0;
        p->rx_unnotified = true;
}

/*
 * Start loading the first 128 bytes (a small frame's whole header and data)
 * of @n elements' first buffers: of each frame sent, to read them; of each
 * receive buffer, to write them.
 */
static inline void prefetch_first_bytes(const VuVirtqElement *e, unsigned int n, bool write) {
        for (unsigned int i = 0; i < n; i++) {
                const struct iovec *v = write ? e[i].in_sg : e[i].out_sg;

                if ((write ? e[i].in_num : e[i].out_num) == 0)
                        continue;
                for (size_t off = 0; off < MIN(v->iov_len, (size_t) 128); off += 64) {
                        const uint8_t *b = (const uint8_t *) v->iov_base + off;

                        if (write)
                                prefetch_write(b);
                        else
                                prefetch_read(b);
                        prefetch_keep();
                }
        }
}

static inline int loopback_take_rx(NetPair *p, VuVirtq *rx, uint64_t need, NetDrop *ret_drop) {
        VuVirtqElement *e = &p->rx_elems[0];
        int k;

        p->rx_from_burst = false;
        /* One receive buffer per frame, the usual case: popped ahead for the frames in hand. */
        if (p->rx_burst_i == p->rx_burst_n && p->rx_want > 1) {
                loopback_rx_fill_flush(p, rx);
                k = vu_queue_pop_burst(&p->net->dev.vu, rx, p->rx_burst, p->rx_burst_iov,
                                       MIN(p->rx_want, NET_TX_BURST));
                p->rx_burst_n = k > 0 ? (unsigned int) k : 0;
                p->rx_burst_i = 0;
                prefetch_first_bytes(p->rx_burst, p->rx_burst_n, true);
        }
        if (p->rx_burst_i < p->rx_burst_n) {
                const VuVirtqElement *b = &p->rx_burst[p->rx_burst_i];

                if (_likely_(b->in_num == 1 && b->in_sg[0].iov_len >= need)) {
                        *e = *b;
                        p->rx_len[0] = (uint32_t) b->in_sg[0].iov_len;
                        p->rx_burst_i++;
                        p->rx_from_burst = true;
                        return 1;
                }
                /* Too small, or not writable: the general path below, which pops them again in order. */
                loopback_rx_burst_return(p, rx);
        }

        k = vu_queue_pop_into(&p->net->dev.vu, rx, e, p->rx_iov, NET_RX_IOV_MAX);

        if (_likely_(k > 0)) {
                p->rx_len[0] = rx_elem_len(e);
                if (_likely_(p->rx_len[0] >= need))
                        return 1;
                return take_rx_more(p, rx, need, 1, p->rx_len[0], k, ret_drop);
        }
        return take_rx_more(p, rx, need, 0, 0, k, ret_drop);
}

/*
 * Spread header and frame over @ne receive elements (any shape), and
 * complete the checksum if @fix_csum; rx_len[] ends up as the bytes each
 * element received. Out of line: the usual frame takes one buffer.
 */
static void loopback_copy_general(NetPair *p, const VuVirtqElement *te, int ne, const void *h, size_t hdr_len,
                                  uint64_t frame_len) __attribute__((noinline));
static void loopback_copy_general(NetPair *p, const VuVirtqElement *te, int ne, const void *h, size_t hdr_len,
                                  uint64_t frame_len) {
        IovCursor src;
        size_t left = frame_len, off = hdr_len;

        rx_elems_write(p, (unsigned) ne, 0, h, hdr_len);
        /* The frame itself: one copy, transmit buffers → receive buffers. */
        cursor_init(&src, te->out_sg, te->out_num, hdr_len);
        for (int j = 0; j < ne; j++) {
                const VuVirtqElement *e = &p->rx_elems[j];
                size_t room = p->rx_len[j] > off ? p->rx_len[j] - off : 0, c;

                c = cursor_copy_to(&src, e->in_sg, e->in_num, off, MIN(room, left));
                left -= c;
                p->rx_len[j] = (uint32_t) (off + c);
                off = 0;
        }
}

/* Complete the partial checksum the sender left for us, in the receive buffers. */
static void loopback_fix_csum(NetPair *p, const VuVirtqElement *te, int ne, size_t hdr_len, uint64_t frame_len,
                              uint16_t csum_start, uint16_t csum_offset) __attribute__((noinline));
static void loopback_fix_csum(NetPair *p, const VuVirtqElement *te, int ne, size_t hdr_len, uint64_t frame_len,
                              uint16_t csum_start, uint16_t csum_offset) {
        uint16_t sum = iov_inet_csum(te->out_sg, te->out_num, hdr_len + (size_t) csum_start,
                                     (size_t) (frame_len - csum_start));

        if (sum == 0 && csum_offset == 6)
                sum = 0xffff; /* UDP: zero means "no checksum" */
        sum = htobe16(sum);
        rx_elems_write(p, (unsigned) ne, hdr_len + (size_t) csum_start + csum_offset, &sum, 2);
}

/*
 * The virtio-net header as two words in host order, from its little-endian
 * bytes 0-7 (flags, gso_type, hdr_len, gso_size, csum_start) and 8-11
 * (csum_offset, then num_buffers when the header has 12 bytes). Kept in
 * registers: a header patched byte-wise in memory and read back whole
 * cannot be forwarded from the store buffer, and the read then waits for
 * every store before it, guest memory included, to drain.
 */
typedef struct NetHdrWords {
        uint64_t w0;
        uint32_t w1;
} NetHdrWords;

#define NET_HDR_MRG sizeof(struct virtio_net_hdr_mrg_rxbuf) /* 12: the header with num_buffers */

static inline NetHdrWords hdr_words_read(const VuVirtqElement *te, unsigned int hdr_len) {
        const struct iovec *out = te->out_sg;
        const uint8_t *src = out[0].iov_base;
        uint8_t raw[NET_HDR_MRG];
        uint64_t w0;
        uint32_t w1;

        if (_unlikely_(out[0].iov_len < NET_HDR_MRG)) {
                memset(raw, 0, sizeof(raw));
                net_iov_to_buf(out, te->out_num, 0, raw, hdr_len);
                src = raw;
        }
        memcpy(&w0, src, 8);
        memcpy(&w1, src + 8, 4);
        w1 = le32toh(w1);
        /* A 10-byte header ends at csum_offset: what follows is the frame. */
        if (hdr_len < NET_HDR_MRG)
                w1 &= 0xffff;
        return (NetHdrWords) { .w0 = le64toh(w0), .w1 = w1 };
}

static inline void hdr_words_write(NetHdrWords h, unsigned int hdr_len, uint8_t *dst) {
        uint64_t w0 = htole64(h.w0);
        uint32_t w1 = htole32(h.w1);

        memcpy(dst, &w0, 8);
        memcpy(dst + 8, &w1, hdr_len >= NET_HDR_MRG ? 4 : 2);
}

/*
 * One transmitted frame (@te) into the receive ring. Returns 0 when the
 * frame is done with (delivered or dropped and counted), -EAGAIN when it
 * must wait for receive buffers.
 */
static int loopback_frame(NetPair *p, VuVirtq *rx, const VuVirtqElement *te, NetTally *tally) {
        NetDevice *n = p->net;
        VuDev *vu = &n->dev.vu;
        unsigned int txq = net_tx_qidx(p->index), rxq = net_rx_qidx(p->index), hdr_len = n->hdr_len;
        const struct iovec *out = te->out_sg;
        uint64_t out_len = te->out_num == 1 ? out[0].iov_len : net_iov_size(out, te->out_num), frame_len;
        uint16_t csum_start = 0, csum_offset = 0;
        uint8_t flags, gso_type, gso;
        bool fix_csum = false;
        NetDrop why = NET_DROP_NO_RX_BUFFER;
        NetHdrWords h;
        int ne;

        if (te->in_num > 0 || out_len < hdr_len) {
                net_count_drop(n, txq, NET_DROP_MALFORMED);
                return 0;
        }
        frame_len = out_len - hdr_len;
        if (frame_len > NET_FRAME_MAX) {
                net_count_drop(n, txq, NET_DROP_TOO_BIG);
                return 0;
        }
        if (!n->link_up) {
                net_count_drop(n, txq, NET_DROP_LINK_DOWN);
                return 0;
        }

        /* Read once from guest memory. */
        h = hdr_words_read(te, hdr_len);
        flags = (uint8_t) h.w0;
        gso_type = (uint8_t) (h.w0 >> 8);
        gso = gso_type & (uint8_t) ~VIRTIO_NET_HDR_GSO_ECN;
        if (gso != VIRTIO_NET_HDR_GSO_NONE &&
            (gso >= 8 || !(n->guest_gso & (1u << gso)) ||
             ((gso_type & VIRTIO_NET_HDR_GSO_ECN) && !n->guest_ecn))) {
                net_count_drop(n, txq, NET_DROP_OFFLOAD);
                return 0;
        }
        if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
                csum_start = (uint16_t) (h.w0 >> 48);
                csum_offset = (uint16_t) h.w1;
                if ((uint64_t) csum_start + csum_offset + 2 > frame_len) {
                        net_count_drop(n, txq, NET_DROP_MALFORMED);
                        return 0;
                }
                if (!n->guest_csum) {
                        /* The receiver cannot take a partial checksum: complete it here (not for GSO,
                         * whose segments would each need one). */
                        if (gso != VIRTIO_NET_HDR_GSO_NONE) {
                                net_count_drop(n, txq, NET_DROP_OFFLOAD);
                                return 0;
                        }
                        fix_csum = true;
                }
        }

        ne = loopback_take_rx(p, rx, hdr_len + frame_len, &why);
        if (ne < 0)
                return ne;
        if (ne == 0) {
                /* Lost on its way back: both directions count it. */
                net_count_drop(n, txq, why);
                net_count_drop(n, rxq, why);
                return 0;
        }
        p->hold_expired = false;

        /* The receive header: as sent, less what the receiver did not accept, with the buffer count. */
        if (fix_csum || !n->guest_csum)
                flags = 0;
        else
                flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.w0 = (h.w0 & ~(uint64_t) 0xff) | flags;
        if (hdr_len >= NET_HDR_MRG)
                h.w1 = (h.w1 & 0xffff) | (uint32_t) ne << 16;

        if (_likely_(ne == 1 && p->rx_elems[0].in_num == 1)) {
                /*
                 * One contiguous receive buffer, the usual case: the header,
                 * then one copy per transmit buffer. take_rx() made sure it
                 * holds hdr_len + frame_len, which is what the transmit
                 * buffers hold.
                 */
                uint8_t *dst = p->rx_elems[0].in_sg[0].iov_base;
                size_t skip = hdr_len, pos = hdr_len;

                hdr_words_write(h, hdr_len, dst);
                for (unsigned int i = 0; i < te->out_num; i++) {
                        size_t l = out[i].iov_len;

                        if (skip >= l) {
                                skip -= l;
                                continue;
                        }
                        memcpy(dst + pos, (const uint8_t *) out[i].iov_base + skip, l - skip);
                        pos += l - skip;
                        skip = 0;
                }
                p->rx_len[0] = (uint32_t) pos;
        } else {
                uint8_t hb[NET_HDR_MRG];

                hdr_words_write(h, hdr_len, hb);
                loopback_copy_general(p, te, ne, hb, hdr_len, frame_len);
        }
        if (_unlikely_(fix_csum))
                loopback_fix_csum(p, te, ne, hdr_len, frame_len, csum_start, csum_offset);

        if (_likely_(p->rx_from_burst)) {
                /* Filled with the others of its burst, at the next fill index. */
                if (p->rx_fill_n == 0)
                        p->rx_fill_idx = p->rx_used;
                p->rx_fill[p->rx_fill_n] = p->rx_elems[0];
                p->rx_fill_len[p->rx_fill_n++] = p->rx_len[0];
                p->rx_used++;
        } else {
                /* Fill indexes stay in order: those waiting first. */
                loopback_rx_fill_flush(p, rx);
                for (int j = 0; j < ne; j++)
                        vu_queue_fill(vu, rx, &p->rx_elems[j], p->rx_len[j], p->rx_used++);
        }
        /* Counted on both queues when the pass ends. */
        net_tally_frame(tally, frame_len);
        return 0;
}

bool net_tx_drop_long(NetPair *p, VuVirtq *tx) {
        NetDevice *n = p->net;
        VuVirtqElement *e = vu_queue_pop(&n->dev.vu, tx, sizeof(VuVirtqElement));

        if (!e)
                return false;
        log_debug("%s: tx %u: a frame of %u buffers (more than %u), dropping it", n->dev.id, p->index,
                  e->out_num + e->in_num, NET_TX_IOV_MAX);
        net_count_drop(n, net_tx_qidx(p->index), NET_DROP_MALFORMED);
        vu_queue_fill(&n->dev.vu, tx, e, 0, p->tx_used++);
        free(e);
        return true;
}

unsigned int net_loopback_run(NetPair *p, unsigned int budget) {
        NetDevice *n = p->net;
        VuDev *vu = &n->dev.vu;
        unsigned int txq = net_tx_qidx(p->index), rxq = net_rx_qidx(p->index), taken = 0;
        NetTally tally = {};
        VuVirtq *tx, *rx;

        if (!net_queue_usable(n, txq))
                return 0;
        tx = net_queue(n, txq);
        /* A stopped receive queue cannot take anything: leave the frames where they are. */
        if (!net_queue_usable(n, rxq))
                return 0;
        rx = net_queue(n, rxq);

        while (taken < budget) {
                VuVirtqElement te;
                int k;

                /* Waiting for receive buffers: a cheap look at the ring (polling finds them before the kick). */
                if (p->rx_wait && !p->hold_expired && !net_pair_wait_rx(p))
                        break;

                /* Frames in one buffer each, the usual kind, come a burst at a time. */
                k = vu_queue_pop_burst(vu, tx, p->tx_burst, p->tx_burst_iov, MIN(budget - taken, NET_TX_BURST));
                if (k > 0) {
                        unsigned int i;

                        prefetch_first_bytes(p->tx_burst, (unsigned int) k, false);
                        for (i = 0; i < (unsigned int) k; i++) {
                                p->rx_want = (unsigned int) k - i;
                                if (loopback_frame(p, rx, &p->tx_burst[i], &tally) == -EAGAIN)
                                        break;
                                if ((i + 1) % NET_RX_PUBLISH == 0 && i + 1 < (unsigned int) k)
                                        loopback_rx_publish(p, rx);
                        }
                        /* Delivered or dropped, each is done with: returned unwritten. */
                        vu_queue_fill_burst(vu, tx, p->tx_burst, NULL, i, p->tx_used);
                        p->tx_used += i;
                        taken += i;
                        if (i == (unsigned int) k)
                                continue;
                        /* Out of receive buffers: this frame and the rest of the burst stay in the ring. */
                        (void) vu_queue_rewind(vu, tx, (unsigned int) k - i);
                        if (net_pair_wait_rx(p))
                                continue;
                        break;
                }
                if (k < 0)
                        break;

                /* Anything else (several buffers, an empty or malformed ring): one at a time. */
                p->rx_want = 1;
                k = vu_queue_pop_into(vu, tx, &te, p->tx_iov, NET_TX_IOV_MAX);
                if (k == 0)
                        break;
                if (k == -E2BIG) {
                        if (!net_tx_drop_long(p, tx))
                                break;
                        taken++;
                        continue;
                }
                if (k < 0)
                        break;
                if (loopback_frame(p, rx, &te, &tally) == -EAGAIN) {
                        (void) vu_queue_rewind(vu, tx, 1);
                        if (net_pair_wait_rx(p))
                                continue;
                        break;
                }
                vu_queue_fill(vu, tx, &te, 0, p->tx_used++);
                taken++;
        }
        loopback_rx_fill_flush(p, rx);
        loopback_rx_burst_return(p, rx);
        if (tally.packets > 0) {
                net_count_tally(n, txq, &tally);
                net_count_tally(n, rxq, &tally);
        }
        net_pair_flush(p);
        return taken;
}
