/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-net device: what it offers (features, config space with MAC,
 * link status, queue pairs and MTU), the control queue, its counters and
 * its life cycle across frontends. The data paths live in net-loopback.c
 * and net-tap.c, the kick/poll machinery in net-poll.c.
 *
 * Offloads are offered only where the back end honours them: the loopback
 * hands each frame's virtio-net header to the receiving side as it was
 * sent (completing a partial checksum itself if the driver did not accept
 * partial checksums, and refusing a GSO frame the driver cannot take); the
 * tap passes the header to the kernel (IFF_VNET_HDR) and is told which
 * offloads the driver takes (TUNSETOFFLOAD).
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "macro.h"
#include "net-internal.h"
#include "sidecar.h"

#define F(bit) (UINT64_C(1) << (bit))

static const DeviceVTable net_vtable;

bool device_is_net(const Device *d) {
        return d && d->vtable == &net_vtable;
}

/* ---- counters ------------------------------------------------------------ */

void net_count_frame(NetDevice *n, unsigned int qidx, uint64_t len) {
        NetQueueStats *st = &n->qstats[qidx];

        st->packets++;
        st->bytes += len;
        st->sizes[net_size_bucket(len)]++;
}

void net_count_tally(NetDevice *n, unsigned int qidx, const NetTally *t) {
        NetQueueStats *st = &n->qstats[qidx];

        st->packets += t->packets;
        st->bytes += t->bytes;
        for (unsigned int k = 0; k < _NET_SIZE_MAX; k++)
                st->sizes[k] += t->sizes[k];
}

void net_count_drop(NetDevice *n, unsigned int qidx, NetDrop why) {
        n->qstats[qidx].drops[why]++;
}

/* ---- control queue ------------------------------------------------------- */

static uint8_t net_ctrl_command(NetDevice *n, uint8_t class, uint8_t cmd, const uint8_t *data, size_t len) {
        switch (class) {
        case VIRTIO_NET_CTRL_RX:
                if (!(n->features & F(VIRTIO_NET_F_CTRL_RX)) || len != 1)
                        return VIRTIO_NET_ERR;
                /* Every frame is looped back or handed to the tap: the filters only change what we report. */
                if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
                        n->promisc = data[0];
                else if (cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)
                        n->allmulti = data[0];
                else
                        return VIRTIO_NET_ERR; /* ALLUNI…NOBCAST need CTRL_RX_EXTRA, never offered */
                return VIRTIO_NET_OK;

        case VIRTIO_NET_CTRL_MAC:
                if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
                        if (!(n->features & F(VIRTIO_NET_F_CTRL_MAC_ADDR)) || len != 6 || (data[0] & 1))
                                return VIRTIO_NET_ERR;
                        memcpy(n->config.mac, data, 6);
                        return VIRTIO_NET_OK;
                }
                if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
                        /* Two tables (unicast, multicast), each a le32 count and that many addresses. */
                        size_t off = 0;

                        for (int t = 0; t < 2; t++) {
                                uint32_t entries;

                                if (len - off < 4)
                                        return VIRTIO_NET_ERR;
                                memcpy(&entries, data + off, 4);
                                entries = le32toh(entries);
                                off += 4;
                                if (entries > (len - off) / 6)
                                        return VIRTIO_NET_ERR;
                                off += (size_t) entries * 6;
                        }
                        return off == len ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
                }
                return VIRTIO_NET_ERR;

        case VIRTIO_NET_CTRL_MQ:
                if (cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
                        uint16_t pairs;

                        if (!(n->features & F(VIRTIO_NET_F_MQ)) || len != 2)
                                return VIRTIO_NET_ERR;
                        memcpy(&pairs, data, 2);
                        pairs = le16toh(pairs);
                        if (pairs < 1 || pairs > n->config.pairs) {
                                log_debug("%s: control queue: MQ_VQ_PAIRS_SET %u out of range 1..%u", n->dev.id,
                                          pairs, n->config.pairs);
                                return VIRTIO_NET_ERR;
                        }
                        n->active_pairs = pairs;
                        event_emit(n->dev.sidecar, &n->dev, "queue-pairs", "driver uses %u queue pair(s)",
                                   (unsigned) pairs);
                        return VIRTIO_NET_OK;
                }
                return VIRTIO_NET_ERR;

        case VIRTIO_NET_CTRL_ANNOUNCE:
                return VIRTIO_NET_ERR; /* GUEST_ANNOUNCE is never offered */

        default:
                return VIRTIO_NET_ERR;
        }
}

static void net_on_ctrl_kick(VuDev *vu, int qidx) {
        NetDevice *n = net_from_vu(vu);
        VuVirtq *vq = net_queue(n, (unsigned) qidx);
        bool pushed = false;

        if ((unsigned) qidx != net_ctrl_qidx(n) || !net_queue_usable(n, (unsigned) qidx))
                return;

        for (;;) {
                _cleanup_free_ VuVirtqElement *e = vu_queue_pop(vu, vq, sizeof(VuVirtqElement));
                uint8_t hdr[2], ack = VIRTIO_NET_ERR, data[256];
                uint64_t out_len, in_len;

                if (!e)
                        break;
                out_len = net_iov_size(e->out_sg, e->out_num);
                in_len = net_iov_size(e->in_sg, e->in_num);
                n->ctrl_commands++;

                if (in_len < 1) {
                        /* No room for the ack: nothing can be reported, the chain goes back empty. */
                        log_debug("%s: control queue: command without a writable ack byte, ignoring", n->dev.id);
                        n->ctrl_errors++;
                        vu_queue_push(vu, vq, e, 0);
                        pushed = true;
                        continue;
                }
                if (out_len < 2 || out_len - 2 > sizeof(data)) {
                        log_debug("%s: control queue: command of %" PRIu64 " bytes (2..%zu allowed), failing it",
                                  n->dev.id, out_len, sizeof(data) + 2);
                } else {
                        net_iov_to_buf(e->out_sg, e->out_num, 0, hdr, 2);
                        net_iov_to_buf(e->out_sg, e->out_num, 2, data, (size_t) out_len - 2);
                        ack = net_ctrl_command(n, hdr[0], hdr[1], data, (size_t) out_len - 2);
                        if (ack != VIRTIO_NET_OK)
                                log_debug("%s: control queue: class %u command %u (%" PRIu64
                                          " bytes) refused",
                                          n->dev.id, hdr[0], hdr[1], out_len - 2);
                }
                if (ack != VIRTIO_NET_OK)
                        n->ctrl_errors++;
                /* The ack is the last writable byte. */
                net_iov_from_buf(e->in_sg, e->in_num, (size_t) in_len - 1, &ack, 1);
                vu_queue_push(vu, vq, e, 1);
                pushed = true;
        }
        if (pushed)
                vu_queue_notify(vu, vq);
}

/* ---- the library's device interface -------------------------------------- */

static uint64_t net_get_features(VuDev *vu) {
        NetDevice *n = net_from_vu(vu);
        uint64_t f = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_STATUS) |
                     F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
                     F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
                     F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) |
                     F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN);

        /*
         * IN_ORDER: both back ends and the control queue use every queue's
         * buffers in the order the driver made them available (a frame
         * waiting for receive buffers is rewound, never passed), so drivers
         * that can (DPDK's virtio PMD by default) take their in-order paths,
         * and the library writes one used descriptor per run of packed
         * transmit buffers.
         */
        f |= F(VIRTIO_F_IN_ORDER);
        /* UFO: the loopback passes it through; a tap no longer segments it reliably. */
        if (n->config.backend == NET_BACKEND_LOOPBACK)
                f |= F(VIRTIO_NET_F_HOST_UFO) | F(VIRTIO_NET_F_GUEST_UFO);
        if (n->config.pairs > 1)
                f |= F(VIRTIO_NET_F_MQ);
        return f;
}

static void net_set_features(VuDev *vu, uint64_t features) {
        NetDevice *n = net_from_vu(vu);

        n->features = features;
        n->mrg_rxbuf = features & F(VIRTIO_NET_F_MRG_RXBUF);
        n->hdr_len = (features & (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF)))
                             ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
                             : sizeof(struct virtio_net_hdr);
        n->guest_csum = features & F(VIRTIO_NET_F_GUEST_CSUM);
        n->guest_ecn = features & F(VIRTIO_NET_F_GUEST_ECN);
        n->guest_gso = 0;
        if (features & F(VIRTIO_NET_F_GUEST_TSO4))
                n->guest_gso |= 1u << VIRTIO_NET_HDR_GSO_TCPV4;
        if (features & F(VIRTIO_NET_F_GUEST_TSO6))
                n->guest_gso |= 1u << VIRTIO_NET_HDR_GSO_TCPV6;
        if (features & F(VIRTIO_NET_F_GUEST_UFO))
                n->guest_gso |= 1u << VIRTIO_NET_HDR_GSO_UDP;
        if (n->config.backend == NET_BACKEND_TAP)
                (void) net_tap_configure(n);
}

static uint64_t net_get_protocol_features(VuDev *vu) {
        return UINT64_C(1) << VHOST_USER_PROTOCOL_F_MQ;
}

static int net_get_config(VuDev *vu, uint8_t *config, uint32_t len) {
        NetDevice *n = net_from_vu(vu);
        struct virtio_net_config c = {};

        memcpy(c.mac, n->config.mac, sizeof(c.mac));
        n->status_offered = n->link_up ? VIRTIO_NET_S_LINK_UP : 0;
        c.status = htole16(n->status_offered);
        c.max_virtqueue_pairs = htole16((uint16_t) n->config.pairs);
        c.mtu = htole16((uint16_t) n->config.mtu);
        c.speed = htole32(UINT32_MAX); /* unknown: SPEED_DUPLEX is not offered anyway */
        c.duplex = 0xff;

        memset(config, 0, len);
        memcpy(config, &c, MIN((size_t) len, sizeof(c)));
        return 0;
}

static int net_set_config(VuDev *vu, const uint8_t *data, uint32_t offset, uint32_t size, uint32_t flags) {
        NetDevice *n = net_from_vu(vu);

        /* Virtio 1 net config space is read-only for the driver (the MAC changes via the control queue). */
        log_debug("%s: ignoring a config write of %" PRIu32 " bytes at offset %" PRIu32, n->dev.id, size, offset);
        return -1;
}

static bool net_queue_is_processed_in_order(VuDev *vu, int qidx) {
        return true; /* every chain is used before the next one is popped */
}

static int net_on_deferred_kick(sd_event_source *source, void *userdata);

static void net_queue_set_started(VuDev *vu, int qidx, bool started) {
        NetDevice *n = net_from_vu(vu);
        VuVirtq *vq;
        NetPair *p;

        if (qidx < 0 || (unsigned) qidx > net_ctrl_qidx(n))
                return;
        vq = net_queue(n, (unsigned) qidx);
        if (!vq)
                return;

        if ((unsigned) qidx == net_ctrl_qidx(n)) {
                vu_set_queue_handler(vu, vq, started ? net_on_ctrl_kick : NULL);
                event_emit(n->dev.sidecar, &n->dev, started ? "queue-start" : "queue-stop",
                           "control queue %d %s", qidx, started ? "started" : "stopped");
                return;
        }

        p = n->pairs[qidx / 2];
        if (qidx % 2 == 0) {
                /* Receive queue: its kicks only matter while a frame waits for buffers. */
                if (started) {
                        vu_set_queue_handler(vu, vq, net_pair_rx_ready_cb);
                        vu_queue_set_notification(vu, vq, 0);
                        if (n->config.backend == NET_BACKEND_TAP)
                                net_tap_set_reading(p, true);
                } else {
                        p->rx_wait = false;
                        p->hold_expired = false;
                        (void) sd_event_source_set_enabled(p->hold_timer, SD_EVENT_OFF);
                        if (n->config.backend == NET_BACKEND_TAP)
                                net_tap_set_reading(p, false);
                        vu_set_queue_handler(vu, vq, NULL);
                }
        } else {
                if (started)
                        vu_set_queue_handler(vu, vq, net_pair_tx_kick_cb);
                else {
                        net_pair_stop_polling(p);
                        vu_set_queue_handler(vu, vq, NULL);
                }
        }
        event_emit(n->dev.sidecar, &n->dev, started ? "queue-start" : "queue-stop", "queue %d (%s %u) %s, %u entries",
                   qidx, qidx % 2 ? "tx" : "rx", (unsigned) qidx / 2, started ? "started" : "stopped",
                   vq->vring.num);

        /* Frames may already be waiting (kicks before the start, or a reconnect). */
        if (started && !n->kick_source &&
            sd_event_add_defer(n->dev.sidecar->event, &n->kick_source, net_on_deferred_kick, n) < 0)
                log_warning("%s: queue %d: Failed to schedule the first pass, waiting for a kick", n->dev.id,
                            qidx);
}

static int net_on_deferred_kick(sd_event_source *source, void *userdata) {
        NetDevice *n = userdata;

        n->kick_source = sd_event_source_disable_unref(n->kick_source);
        for (unsigned int i = 0; i < n->config.pairs; i++) {
                NetPair *p = n->pairs[i];

                if (net_queue_usable(n, net_tx_qidx(i)))
                        net_pair_kick(p);
                if (n->config.backend == NET_BACKEND_TAP && net_queue_usable(n, net_rx_qidx(i)))
                        net_pair_rx_ready(p);
        }
        return 0;
}

static const char *net_feature_name(unsigned int bit) {
        static const char *const names[24] = {
                [VIRTIO_NET_F_CSUM] = "CSUM",
                [VIRTIO_NET_F_GUEST_CSUM] = "GUEST_CSUM",
                [VIRTIO_NET_F_CTRL_GUEST_OFFLOADS] = "CTRL_GUEST_OFFLOADS",
                [VIRTIO_NET_F_MTU] = "MTU",
                [VIRTIO_NET_F_MAC] = "MAC",
                [VIRTIO_NET_F_GUEST_TSO4] = "GUEST_TSO4",
                [VIRTIO_NET_F_GUEST_TSO6] = "GUEST_TSO6",
                [VIRTIO_NET_F_GUEST_ECN] = "GUEST_ECN",
                [VIRTIO_NET_F_GUEST_UFO] = "GUEST_UFO",
                [VIRTIO_NET_F_HOST_TSO4] = "HOST_TSO4",
                [VIRTIO_NET_F_HOST_TSO6] = "HOST_TSO6",
                [VIRTIO_NET_F_HOST_ECN] = "HOST_ECN",
                [VIRTIO_NET_F_HOST_UFO] = "HOST_UFO",
                [VIRTIO_NET_F_MRG_RXBUF] = "MRG_RXBUF",
                [VIRTIO_NET_F_STATUS] = "STATUS",
                [VIRTIO_NET_F_CTRL_VQ] = "CTRL_VQ",
                [VIRTIO_NET_F_CTRL_RX] = "CTRL_RX",
                [VIRTIO_NET_F_CTRL_VLAN] = "CTRL_VLAN",
                [VIRTIO_NET_F_GUEST_ANNOUNCE] = "GUEST_ANNOUNCE",
                [VIRTIO_NET_F_MQ] = "MQ",
                [VIRTIO_NET_F_CTRL_MAC_ADDR] = "CTRL_MAC_ADDR",
        };
        return bit < ELEMENTSOF(names) ? names[bit] : NULL;
}

static const VuDevIface net_iface = {
        .get_features = net_get_features,
        .set_features = net_set_features,
        .get_protocol_features = net_get_protocol_features,
        .queue_set_started = net_queue_set_started,
        .queue_is_processed_in_order = net_queue_is_processed_in_order,
        .get_config = net_get_config,
        .set_config = net_set_config,
};

/* ---- DeviceVTable --------------------------------------------------------- */

static void net_forget_negotiation(NetDevice *n) {
        n->features = 0;
        n->hdr_len = sizeof(struct virtio_net_hdr_mrg_rxbuf);
        n->mrg_rxbuf = false;
        n->guest_csum = false;
        n->guest_ecn = false;
        n->guest_gso = 0;
        n->active_pairs = 1;
        n->promisc = n->allmulti = false;
}

static int net_start(Device *d) {
        NetDevice *n = net_from_device(d);

        n->detaching = false;
        net_forget_negotiation(n);
        return 0;
}

static void net_stop(Device *d) {
        NetDevice *n = net_from_device(d);

        /* The frontend is gone or broken: nothing may touch its memory any more. */
        n->detaching = true;
        n->kick_source = sd_event_source_disable_unref(n->kick_source);
        net_poll_stop_all(n);
        for (unsigned int i = 0; i < n->config.pairs; i++) {
                NetPair *p = n->pairs[i];

                p->rx_wait = false;
                p->hold_expired = false;
                p->rx_used = p->tx_used = 0;
                p->rx_unnotified = false;
                (void) sd_event_source_set_enabled(p->hold_timer, SD_EVENT_OFF);
                if (n->config.backend == NET_BACKEND_TAP)
                        net_tap_set_reading(p, false);
        }
}

static void net_reset(Device *d) {
        NetDevice *n = net_from_device(d);

        n->detaching = false;
        net_forget_negotiation(n);
        if (n->draining)
                sidecar_check_stopped(d->sidecar);
}

static void net_drain(Device *d) {
        NetDevice *n = net_from_device(d);

        /* Nothing is ever held across loop iterations: every frame taken was used before we returned. */
        n->draining = true;
        sidecar_check_stopped(d->sidecar);
}

static uint64_t net_in_flight(Device *d) {
        return 0;
}

/*
 * The generic counters: "read" is backend→guest (receive queues), "write"
 * is guest→backend (transmit queues); a frame is one request.
 */
static void net_fill_io_stats(NetDevice *n, unsigned int qidx, IoStats *io) {
        const NetQueueStats *st = &n->qstats[qidx];
        uint64_t drops = 0;

        for (unsigned int k = 0; k < _NET_DROP_MAX; k++)
                drops += st->drops[k];
        if (qidx == net_ctrl_qidx(n))
                return;
        if (qidx % 2 == 0) {
                io->requests[STATS_REQ_READ] += st->packets;
                io->bytes_read += st->bytes;
        } else {
                io->requests[STATS_REQ_WRITE] += st->packets;
                io->bytes_written += st->bytes;
        }
        io->status[STATS_STATUS_OK] += st->packets;
        io->status[STATS_STATUS_IOERR] += drops;
}

static void net_fill_stats(Device *d, IoStats *ret) {
        NetDevice *n = net_from_device(d);
        IoStats io = {};

        for (unsigned int q = 0; q < d->queues; q++)
                net_fill_io_stats(n, q, &io);
        *ret = io;
}

static int net_fill_queue_stats(Device *d, unsigned int qidx, IoStats *ret) {
        NetDevice *n = net_from_device(d);
        IoStats io = {};

        if (qidx >= d->queues)
                return -EINVAL;
        net_fill_io_stats(n, qidx, &io);
        *ret = io;
        return 0;
}

static void net_reset_stats(Device *d) {
        NetDevice *n = net_from_device(d);

        memset(n->qstats, 0, sizeof(NetQueueStats) * d->queues);
        n->ctrl_commands = n->ctrl_errors = 0;
}

static void net_free(Device *d) {
        NetDevice *n = net_from_device(d);

        n->detaching = true;
        n->kick_source = sd_event_source_disable_unref(n->kick_source);
        net_poll_stop_all(n);
        n->poll_source = sd_event_source_disable_unref(n->poll_source);
        if (n->config.backend == NET_BACKEND_TAP)
                net_tap_close(n);
        if (n->pairs)
                for (unsigned int i = 0; i < n->config.pairs; i++) {
                        if (!n->pairs[i])
                                continue;
                        sd_event_source_disable_unref(n->pairs[i]->hold_timer);
                        free(n->pairs[i]);
                }
        free(n->pairs);
        free(n->qstats);
        net_config_done(&n->config);
        free(n);
}

static const DeviceVTable net_vtable = {
        .type_name = "net",
        .iface = &net_iface,
        .feature_name = net_feature_name,
        .start = net_start,
        .stop = net_stop,
        .reset = net_reset,
        .drain = net_drain,
        .in_flight = net_in_flight,
        .fill_stats = net_fill_stats,
        .fill_queue_stats = net_fill_queue_stats,
        .reset_stats = net_reset_stats,
        .free = net_free,
};

/* ---- construction ---------------------------------------------------------- */

static int net_check_conflicts(Sidecar *s, const char *what, const NetConfig *c) {
        for (size_t i = 0; i < s->n_devices; i++) {
                Device *o = s->devices[i];

                if (strcmp(o->id, c->id) == 0) {
                        fprintf(stderr, "vu-sidecar: %s: id=%s: used by two devices\n", what, c->id);
                        return -EINVAL;
                }
                if (o->socket_path && strcmp(o->socket_path, c->socket) == 0) {
                        fprintf(stderr, "vu-sidecar: %s: socket=%s: used by devices %s and %s\n", what, c->socket,
                                o->id, c->id);
                        return -EINVAL;
                }
                if (device_is_net(o) && c->backend == NET_BACKEND_TAP && c->tap &&
                    net_from_device(o)->config.tap && strcmp(net_from_device(o)->config.tap, c->tap) == 0) {
                        fprintf(stderr, "vu-sidecar: %s: tap=%s: used by devices %s and %s\n", what, c->tap, o->id,
                                c->id);
                        return -EINVAL;
                }
        }
        if (s->options.control_path && strcmp(s->options.control_path, c->socket) == 0) {
                fprintf(stderr, "vu-sidecar: --control: %s: also the socket of device %s\n",
                        s->options.control_path, c->id);
                return -EINVAL;
        }
        return 0;
}

int net_device_new(Sidecar *s, const char *what, const char *spec, unsigned int index, Device **ret) {
        NetConfig c = {};
        NetDevice *n;
        int r;

        r = net_config_parse(what, spec, index, s->options.runtime_dir, &c);
        if (r < 0)
                return r;
        r = net_check_conflicts(s, what, &c);
        if (r < 0) {
                net_config_done(&c);
                return r;
        }

        n = calloc(1, sizeof(*n));
        if (!n) {
                net_config_done(&c);
                return log_oom();
        }
        n->config = c;
        n->link_up = true;
        n->poll = c.poll;
        n->poll_usec = c.poll_usec;
        net_forget_negotiation(n);

        r = device_init(&n->dev, s, &net_vtable, DEVICE_NET, c.id, c.pairs * 2 + 1, c.mode, c.socket);
        if (r < 0) {
                log_oom();
                goto fail;
        }
        n->pairs = calloc(c.pairs, sizeof(NetPair *));
        n->qstats = calloc(n->dev.queues, sizeof(NetQueueStats));
        if (!n->pairs || !n->qstats) {
                r = log_oom();
                goto fail;
        }
        for (unsigned int i = 0; i < c.pairs; i++) {
                NetPair *p = calloc(1, sizeof(NetPair));

                if (!p) {
                        r = log_oom();
                        goto fail;
                }
                p->net = n;
                p->index = i;
                p->tap_fd = -EBADF;
                n->pairs[i] = p;
        }
        if (c.backend == NET_BACKEND_TAP) {
                r = net_tap_open(n);
                if (r < 0)
                        goto fail;
        }

        log_info("%s: virtio-net, %s back end%s%s, MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %u, %u queue pair(s), "
                 "polling %s",
                 c.id, net_backend_to_string(c.backend), c.backend == NET_BACKEND_TAP ? " " : "",
                 c.backend == NET_BACKEND_TAP ? n->config.tap : "", c.mac[0], c.mac[1], c.mac[2], c.mac[3],
                 c.mac[4], c.mac[5], c.mtu, c.pairs, net_poll_mode_to_string(c.poll));
        *ret = &n->dev;
        return 0;

fail:
        device_free(&n->dev);
        return r;
}

/* ---- control-socket API ------------------------------------------------------ */

int net_set_link(Device *d, bool up) {
        NetDevice *n;

        if (!device_is_net(d))
                return -EINVAL;
        n = net_from_device(d);
        if (n->link_up == up)
                return 0;
        n->link_up = up;
        if (n->config.backend == NET_BACKEND_TAP)
                net_tap_set_carrier(n, up);
        if (device_is_connected(d) && (n->features & F(VIRTIO_NET_F_STATUS))) {
                if (!vu_config_change_msg(&d->vu))
                        log_debug("%s: the frontend takes no config-change message; the guest sees the link "
                                  "state when it next reads the config space",
                                  d->id);
        }
        event_emit(d->sidecar, d, "link", "link %s", up ? "up" : "down");
        log_info("%s: link %s.", d->id, up ? "up" : "down");
        sidecar_update_status(d->sidecar);
        return 1;
}

bool net_get_link(const Device *d) {
        return device_is_net(d) && ((const NetDevice *) d)->link_up;
}

const char *net_poll_mode_string(const Device *d) {
        return device_is_net(d) ? net_poll_mode_to_string(((const NetDevice *) d)->poll) : NULL;
}

void net_describe(const Device *d, char *buf, size_t size) {
        const NetDevice *n = (const NetDevice *) d;

        if (size == 0)
                return;
        buf[0] = 0;
        if (!device_is_net(d))
                return;
        if (n->poll == NET_POLL_ADAPTIVE)
                snprintf(buf, size, ", link %s, %s, poll adaptive %" PRIu64 "us", n->link_up ? "up" : "down",
                         net_backend_to_string(n->config.backend), n->poll_usec);
        else
                snprintf(buf, size, ", link %s, %s, poll %s", n->link_up ? "up" : "down",
                         net_backend_to_string(n->config.backend), net_poll_mode_to_string(n->poll));
}

static void json_u64(json_object *o, const char *key, uint64_t v) {
        json_object_object_add(o, key, json_object_new_uint64(v));
}

json_object *net_config_json(Device *d) {
        NetDevice *n;
        json_object *o;
        char mac[18];

        if (!device_is_net(d))
                return NULL;
        n = net_from_device(d);
        o = json_object_new_object();
        if (!o)
                return NULL;
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->config.mac[0], n->config.mac[1],
                 n->config.mac[2], n->config.mac[3], n->config.mac[4], n->config.mac[5]);
        json_object_object_add(o, "backend", json_object_new_string(net_backend_to_string(n->config.backend)));
        if (n->config.backend == NET_BACKEND_TAP && n->config.tap)
                json_object_object_add(o, "tap", json_object_new_string(n->config.tap));
        json_object_object_add(o, "mac", json_object_new_string(mac));
        json_u64(o, "mtu", n->config.mtu);
        json_u64(o, "queue_pairs", n->config.pairs);
        json_u64(o, "active_queue_pairs", n->active_pairs);
        json_object_object_add(o, "link", json_object_new_string(n->link_up ? "up" : "down"));
        json_object_object_add(o, "poll_mode", json_object_new_string(net_poll_mode_to_string(n->poll)));
        json_u64(o, "poll_usec", n->poll == NET_POLL_OFF ? 0 : n->poll_usec);
        json_u64(o, "polling_pairs", n->n_polling);
        json_u64(o, "vnet_header_bytes", n->hdr_len);
        json_object_object_add(o, "mergeable_rx_buffers", json_object_new_boolean(n->mrg_rxbuf));
        json_object_object_add(o, "guest_csum", json_object_new_boolean(n->guest_csum));
        json_object_object_add(o, "guest_tso4",
                               json_object_new_boolean(n->guest_gso & (1u << VIRTIO_NET_HDR_GSO_TCPV4)));
        json_object_object_add(o, "guest_tso6",
                               json_object_new_boolean(n->guest_gso & (1u << VIRTIO_NET_HDR_GSO_TCPV6)));
        json_object_object_add(o, "promiscuous", json_object_new_boolean(n->promisc));
        json_u64(o, "control_commands", n->ctrl_commands);
        json_u64(o, "control_errors", n->ctrl_errors);
        return o;
}

static json_object *net_stats_object(const NetQueueStats *st, const char *direction) {
        json_object *o = json_object_new_object(), *drops, *sizes;

        if (!o)
                return NULL;
        drops = json_object_new_object();
        sizes = json_object_new_object();
        json_object_object_add(o, "direction", json_object_new_string(direction));
        json_u64(o, "packets", st->packets);
        json_u64(o, "bytes", st->bytes);
        for (unsigned int k = 0; drops && k < _NET_DROP_MAX; k++)
                json_u64(drops, net_drop_to_string(k), st->drops[k]);
        for (unsigned int k = 0; sizes && k < _NET_SIZE_MAX; k++)
                json_u64(sizes, net_size_bucket_to_string(k), st->sizes[k]);
        json_object_object_add(o, "drops", drops);
        json_object_object_add(o, "sizes", sizes);
        json_u64(o, "holds", st->holds);
        json_u64(o, "polls", st->polls);
        return o;
}

json_object *net_queue_stats_json(Device *d, unsigned int qidx) {
        NetDevice *n;

        if (!device_is_net(d))
                return NULL;
        n = net_from_device(d);
        if (qidx >= net_ctrl_qidx(n))
                return NULL;
        return net_stats_object(&n->qstats[qidx], qidx % 2 ? "guest_to_backend" : "backend_to_guest");
}

json_object *net_stats_json(Device *d) {
        NetQueueStats tx = {}, rx = {};
        NetDevice *n;
        json_object *o;

        if (!device_is_net(d))
                return NULL;
        n = net_from_device(d);
        for (unsigned int q = 0; q < net_ctrl_qidx(n); q++) {
                NetQueueStats *t = q % 2 ? &tx : &rx;
                const NetQueueStats *st = &n->qstats[q];

                t->packets += st->packets;
                t->bytes += st->bytes;
                t->holds += st->holds;
                t->polls += st->polls;
                for (unsigned int k = 0; k < _NET_DROP_MAX; k++)
                        t->drops[k] += st->drops[k];
                for (unsigned int k = 0; k < _NET_SIZE_MAX; k++)
                        t->sizes[k] += st->sizes[k];
        }
        o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "tx", net_stats_object(&tx, "guest_to_backend"));
        json_object_object_add(o, "rx", net_stats_object(&rx, "backend_to_guest"));
        json_u64(o, "control_commands", n->ctrl_commands);
        json_u64(o, "control_errors", n->ctrl_errors);
        return o;
}
