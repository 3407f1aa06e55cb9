/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tap back end: one tap queue per queue pair (IFF_MULTI_QUEUE when
 * there are several), opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR so the
 * guest's virtio-net header travels to and from the kernel unchanged:
 * TUNSETVNETHDRSZ follows the negotiated header length, TUNSETOFFLOAD the
 * offloads the driver accepted (what the kernel may hand us: partial
 * checksums, TSO), and frames the guest sends with offloads are
 * segmented or checksummed by the kernel.
 *
 * Creating a tap needs CAP_NET_ADMIN in the sidecar's network namespace
 * (a container's own namespace is enough). Without it, attach to a
 * persistent tap made beforehand for our uid:
 *   ip tuntap add dev NAME mode tap user UID vnet_hdr [multi_queue]
 * The tap's addresses and up/down state are the administrator's: we only
 * move frames (and follow our link state with its carrier, best effort).
 *
 * Guest → tap: writev() of the guest's buffers (header included). Tap →
 * guest: readv() straight into the guest's receive buffers, spread over
 * several with MRG_RXBUF (taken up to the largest frame the tap may hand
 * over; unused ones are returned to the ring). No receive buffer: the tap
 * is not read (the kernel's queue holds, then drops, as for any NIC)
 * until the guest kicks its receive queue.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "net-internal.h"
#include "sidecar.h"

static int tap_on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata);

int net_tap_open(NetDevice *n) {
        for (unsigned int i = 0; i < n->config.pairs; i++) {
                struct ifreq ifr = {};
                int hdr = (int) sizeof(struct virtio_net_hdr_mrg_rxbuf);
                _cleanup_close_ int fd = -EBADF;

                fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0)
                        return log_error_errno(errno,
                                               "%s: Failed to open /dev/net/tun: %m (a container needs the device "
                                               "passed in, e.g. --device /dev/net/tun)",
                                               n->dev.id);
                ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (n->config.pairs > 1 ? IFF_MULTI_QUEUE : 0);
                if (n->config.tap)
                        strncpy(ifr.ifr_name, n->config.tap, IFNAMSIZ - 1);
                if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                        int e = errno;

                        if (e == EPERM)
                                return log_error_errno(e,
                                                       "%s: Failed to attach to tap %s: %m. Creating a tap needs "
                                                       "CAP_NET_ADMIN; without it, create a persistent one for "
                                                       "uid %u first: ip tuntap add dev %s mode tap user %u "
                                                       "vnet_hdr%s",
                                                       n->dev.id, n->config.tap ?: "(new)", (unsigned) geteuid(),
                                                       n->config.tap ?: "NAME", (unsigned) geteuid(),
                                                       n->config.pairs > 1 ? " multi_queue" : "");
                        if (e == EINVAL)
                                return log_error_errno(e,
                                                       "%s: Failed to attach to tap %s: %m (an existing tap must "
                                                       "be a tap%s, and queues=%u %s multi_queue)",
                                                       n->dev.id, n->config.tap ?: "(new)",
                                                       n->config.pairs > 1 ? " made with multi_queue" : "",
                                                       n->config.pairs, n->config.pairs > 1 ? "needs" : "excludes");
                        return log_error_errno(e, "%s: Failed to attach to tap %s: %m", n->dev.id,
                                               n->config.tap ?: "(new)");
                }
                if (!n->config.tap) {
                        n->config.tap = strndup(ifr.ifr_name, IFNAMSIZ);
                        if (!n->config.tap)
                                return log_oom();
                }
                if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
                        return log_error_errno(errno, "%s: Failed to set the vnet header size of tap %s: %m",
                                               n->dev.id, n->config.tap);
                n->pairs[i]->tap_fd = TAKE_FD(fd);
        }
        log_info("%s: attached to tap %s (%u queue%s).", n->dev.id, n->config.tap, n->config.pairs,
                 n->config.pairs > 1 ? "s" : "");
        return 0;
}

int net_tap_configure(NetDevice *n) {
        unsigned int offloads = 0;
        int hdr = (int) n->hdr_len;

        if (n->guest_csum) {
                offloads |= TUN_F_CSUM;
                if (n->guest_gso & (1u << VIRTIO_NET_HDR_GSO_TCPV4))
                        offloads |= TUN_F_TSO4;
                if (n->guest_gso & (1u << VIRTIO_NET_HDR_GSO_TCPV6))
                        offloads |= TUN_F_TSO6;
                if ((offloads & (TUN_F_TSO4 | TUN_F_TSO6)) && n->guest_ecn)
                        offloads |= TUN_F_TSO_ECN;
        }
        for (unsigned int i = 0; i < n->config.pairs; i++) {
                int fd = n->pairs[i]->tap_fd;

                if (fd < 0)
                        continue;
                if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
                        return log_error_errno(errno, "%s: Failed to set the vnet header size %d of tap %s: %m",
                                               n->dev.id, hdr, n->config.tap);
                if (ioctl(fd, TUNSETOFFLOAD, (unsigned long) offloads) < 0)
                        return log_error_errno(errno, "%s: Failed to set offloads 0x%x on tap %s: %m", n->dev.id,
                                               offloads, n->config.tap);
        }
        log_debug("%s: tap %s: header %d bytes, offloads 0x%x", n->dev.id, n->config.tap, hdr, offloads);
        return 0;
}

static void tap_update_events(NetPair *p) {
        NetDevice *n = p->net;
        uint32_t events = (p->tap_reading ? EPOLLIN : 0) | (p->tap_tx_blocked ? EPOLLOUT : 0);
        int r;

        if (p->tap_fd < 0)
                return;
        if (!p->tap_source) {
                if (events == 0)
                        return;
                r = sd_event_add_io(n->dev.sidecar->event, &p->tap_source, p->tap_fd, events, tap_on_io, p);
                if (r < 0) {
                        log_error_errno(r, "%s: Failed to watch tap queue %u: %m", n->dev.id, p->index);
                        return;
                }
                (void) sd_event_source_set_description(p->tap_source, "net-tap");
                return;
        }
        if (events == 0) {
                (void) sd_event_source_set_enabled(p->tap_source, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(p->tap_source, events);
        (void) sd_event_source_set_enabled(p->tap_source, SD_EVENT_ON);
}

void net_tap_set_reading(NetPair *p, bool on) {
        if (p->tap_reading == on)
                return;
        p->tap_reading = on;
        tap_update_events(p);
}

static int tap_on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        NetPair *p = userdata;

        if (revents & EPOLLOUT) {
                p->tap_tx_blocked = false;
                tap_update_events(p);
                net_pair_kick(p);
        }
        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
                /* Level-triggered: what one pass leaves behind wakes us again. */
                for (unsigned int b = 0; b < 16 && p->tap_reading; b++)
                        if (net_tap_rx_run(p, NET_BURST) < NET_BURST)
                                break;
        return 0;
}

unsigned int net_tap_tx_run(NetPair *p, unsigned int budget) {
        NetDevice *n = p->net;
        VuDev *vu = &n->dev.vu;
        unsigned int txq = net_tx_qidx(p->index), taken = 0;
        VuVirtq *tx;

        if (!net_queue_usable(n, txq) || p->tap_fd < 0)
                return 0;
        tx = net_queue(n, txq);

        while (taken < budget && !p->tap_tx_blocked) {
                VuVirtqElement te;
                uint64_t len;
                ssize_t w;
                int k;

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

                len = net_iov_size(te.out_sg, te.out_num);
                if (te.in_num > 0 || len < n->hdr_len)
                        net_count_drop(n, txq, NET_DROP_MALFORMED);
                else if (len - n->hdr_len > NET_FRAME_MAX)
                        net_count_drop(n, txq, NET_DROP_TOO_BIG);
                else if (!n->link_up)
                        net_count_drop(n, txq, NET_DROP_LINK_DOWN);
                else {
                        do
                                w = writev(p->tap_fd, te.out_sg, (int) te.out_num);
                        while (w < 0 && errno == EINTR);
                        if (w < 0 && errno == EAGAIN) {
                                (void) vu_queue_rewind(vu, tx, 1);
                                p->tap_tx_blocked = true;
                                tap_update_events(p);
                                break;
                        }
                        if (w < 0) {
                                log_debug_errno(errno, "%s: tx %u: tap %s refused a frame of %" PRIu64 " bytes: %m",
                                                n->dev.id, p->index, n->config.tap, len - n->hdr_len);
                                net_count_drop(n, txq, NET_DROP_BACKEND);
                        } else
                                net_count_frame(n, txq, len - n->hdr_len);
                }
                vu_queue_fill(vu, tx, &te, 0, p->tx_used++);
                taken++;
        }
        net_pair_flush(p);
        return taken;
}

/* Read and discard one frame (link down, or nowhere to put it). Returns false when the tap is empty. */
static bool tap_discard_one(NetPair *p) {
        static uint8_t scratch[NET_FRAME_MAX + sizeof(struct virtio_net_hdr_mrg_rxbuf)];
        ssize_t r;

        do
                r = read(p->tap_fd, scratch, sizeof(scratch));
        while (r < 0 && errno == EINTR);
        return r >= 0;
}

/*
 * The receive ring holds buffers, but fewer bytes than the largest frame the
 * tap may hand over. net_pair_wait_rx() sees a non-empty ring and sends the
 * caller round again at once: the event loop would spin, deaf to the control
 * socket, signals and every other device, until the guest posts more, and
 * forever if it never does (a driver that stopped taking frames: testpmd in
 * txonly mode, a guest that is paused or wedged). Wait for the guest's kick
 * instead; the frames filled so far are flushed when the pass ends, so the
 * guest can recycle those buffers. With @recheck, room that arrived while
 * notifications were off is looked for once (true: go round again).
 */
static bool tap_wait_rx_room(NetPair *p, VuVirtq *rx, uint64_t need, bool recheck) {
        NetDevice *n = p->net;
        VuDev *vu = &n->dev.vu;

        if (!p->rx_wait) {
                p->rx_wait = true;
                n->qstats[net_rx_qidx(p->index)].holds++;
        }
        /* Every time: with EVENT_IDX this asks for a kick at the next buffer the guest posts. */
        vu_queue_set_notification(vu, rx, 1);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (recheck && vu_queue_avail_bytes(vu, rx, (unsigned int) MIN(need, (uint64_t) UINT32_MAX), 0)) {
                p->rx_wait = false;
                vu_queue_set_notification(vu, rx, 0);
                return true;
        }
        return false;
}

unsigned int net_tap_rx_run(NetPair *p, unsigned int budget) {
        NetDevice *n = p->net;
        VuDev *vu = &n->dev.vu;
        unsigned int rxq = net_rx_qidx(p->index), done = 0;
        uint64_t max_frame;
        VuVirtq *rx;

        if (!net_queue_usable(n, rxq) || p->tap_fd < 0 || !p->tap_reading)
                return 0;
        rx = net_queue(n, rxq);
        max_frame = n->guest_gso ? NET_FRAME_MAX : (uint64_t) n->config.mtu + 14 + 4;
        bool rechecked = false; /* looked again and went round: not twice without progress */

        while (done < budget) {
                unsigned int ne = 0, iov_used = 0, cnt = 0, used;
                uint64_t cap = 0, need = n->hdr_len + max_frame, left;
                ssize_t r;

                if (!n->link_up) {
                        if (!tap_discard_one(p))
                                break;
                        net_count_drop(n, rxq, NET_DROP_LINK_DOWN);
                        done++;
                        continue;
                }

                /* Buffers for the largest frame the tap may hand over. */
                while (cap < need && ne < (n->mrg_rxbuf ? NET_RX_ELEMS_MAX : 1u)) {
                        VuVirtqElement *e = &p->rx_elems[ne];
                        int k = vu_queue_pop_into(vu, rx, e, p->rx_iov + iov_used, NET_RX_IOV_MAX - iov_used);

                        if (k <= 0)
                                break;
                        p->rx_len[ne] = (uint32_t) MIN(net_iov_size(e->in_sg, e->in_num), (uint64_t) UINT32_MAX);
                        cap += p->rx_len[ne];
                        iov_used += e->out_num + e->in_num;
                        for (unsigned int j = 0; j < e->in_num && cnt < NET_RX_IOV_MAX; j++)
                                p->rx_read_iov[cnt++] = e->in_sg[j];
                        ne++;
                }
                if (ne == 0 || (n->mrg_rxbuf && cap < need)) {
                        /* Not enough room for a frame we cannot size beforehand: wait for the guest. */
                        (void) vu_queue_rewind(vu, rx, ne);
                        if (ne == 0 ? net_pair_wait_rx(p) : tap_wait_rx_room(p, rx, need, !rechecked)) {
                                rechecked = ne > 0;
                                continue;
                        }
                        net_tap_set_reading(p, false);
                        break;
                }
                rechecked = false;

                do
                        r = readv(p->tap_fd, p->rx_read_iov, (int) cnt);
                while (r < 0 && errno == EINTR);
                if (r < 0) {
                        (void) vu_queue_rewind(vu, rx, ne);
                        if (errno != EAGAIN) {
                                log_debug_errno(errno, "%s: rx %u: reading tap %s failed: %m", n->dev.id, p->index,
                                                n->config.tap);
                                net_count_drop(n, rxq, NET_DROP_BACKEND);
                        }
                        break;
                }
                if ((uint64_t) r < n->hdr_len || (uint64_t) r > cap) {
                        (void) vu_queue_rewind(vu, rx, ne);
                        net_count_drop(n, rxq,
                                       (uint64_t) r < n->hdr_len ? NET_DROP_MALFORMED : NET_DROP_RX_BUFFER_TOO_SMALL);
                        done++;
                        continue;
                }

                /* Which buffers the frame filled; the rest go back to the ring. */
                left = (uint64_t) r;
                for (used = 0; used < ne && left > 0; used++) {
                        uint32_t l = (uint32_t) MIN((uint64_t) p->rx_len[used], left);

                        p->rx_len[used] = l;
                        left -= l;
                }
                if (used == 0)
                        used = 1;
                (void) vu_queue_rewind(vu, rx, ne - used);
                if (n->hdr_len >= sizeof(struct virtio_net_hdr_mrg_rxbuf)) {
                        uint16_t nb = htole16((uint16_t) used);

                        net_iov_from_buf(p->rx_elems[0].in_sg, p->rx_elems[0].in_num,
                                         offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), &nb, sizeof(nb));
                }
                for (unsigned int j = 0; j < used; j++)
                        vu_queue_fill(vu, rx, &p->rx_elems[j], p->rx_len[j], p->rx_used++);
                net_count_frame(n, rxq, (uint64_t) r - n->hdr_len);
                done++;
        }
        net_pair_flush(p);
        return done;
}

void net_tap_set_carrier(NetDevice *n, bool up) {
        int on = up;

        if (n->pairs[0]->tap_fd < 0)
                return;
        if (ioctl(n->pairs[0]->tap_fd, TUNSETCARRIER, &on) < 0)
                log_debug_errno(errno, "%s: Failed to set the carrier of tap %s %s, ignoring: %m", n->dev.id,
                                n->config.tap, up ? "on" : "off");
}

void net_tap_close(NetDevice *n) {
        for (unsigned int i = 0; n->pairs && i < n->config.pairs; i++) {
                NetPair *p = n->pairs[i];

                if (!p)
                        continue;
                p->tap_source = sd_event_source_disable_unref(p->tap_source);
                p->tap_fd = safe_close(p->tap_fd);
        }
}
