/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The net device's own contract between its files: net-config.c parses a
 * --net SPEC, net.c is the device (features, config space, control queue,
 * counters, life cycle), net-loopback.c and net-tap.c are the two back
 * ends' data paths, net-poll.c drives queue pairs (kicks, batching,
 * adaptive and busy polling). Everything runs on the event-loop thread.
 *
 * Queue layout (virtio-net): pair i has its receive queue at virtqueue 2i
 * and its transmit queue at 2i+1; the control queue follows the last pair
 * (2 * pairs).
 */
#pragma once

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "device.h"
#include "net.h"
#include "options.h"

#define NET_PAIRS_MAX 16u
#define NET_MTU_MIN 68u
#define NET_MTU_MAX 65535u
#define NET_MTU_DEFAULT 1500u
#define NET_POLL_USEC_DEFAULT 50u
#define NET_POLL_USEC_MAX 1000000u

/* The largest frame either side may hand over: 64 KiB of GSO payload and headers, plus a VLAN tag. */
#define NET_FRAME_MAX (65535u + 14u + 4u)
/* Transmit chains longer than this are refused (a sane driver uses a few). */
#define NET_TX_IOV_MAX 1024u
/* Receive buffers one frame may spread over (MRG_RXBUF), and their iovecs. */
#define NET_RX_ELEMS_MAX 256u
#define NET_RX_IOV_MAX 1024u
/* Frames handled per pass before the guest is notified, so long runs still interrupt it. */
#define NET_BURST 64u
/* Transmit chains of one buffer popped at a time (vu_queue_pop_burst), the usual frame. */
#define NET_TX_BURST 32u
/* Receive buffers are handed back to the guest every this many frames of a burst. */
#define NET_RX_PUBLISH 8u
/* How long a frame waits for a receive buffer before frames are dropped (no_rx_buffer). */
#define NET_HOLD_USEC (20u * 1000u)

typedef enum NetBackendKind {
        NET_BACKEND_LOOPBACK,
        NET_BACKEND_TAP,
        _NET_BACKEND_MAX,
} NetBackendKind;

typedef enum NetPollMode {
        NET_POLL_OFF,           /* purely event-driven */
        NET_POLL_ADAPTIVE,      /* after work, poll poll_usec before re-arming notifications */
        NET_POLL_BUSY,          /* never re-arm: poll for as long as a frontend is attached */
        _NET_POLL_MAX,
} NetPollMode;

/* Why a frame did not make it; counted on the queue it was taken from or meant for. */
typedef enum NetDrop {
        NET_DROP_NO_RX_BUFFER,          /* the receive ring stayed empty longer than NET_HOLD_USEC */
        NET_DROP_RX_BUFFER_TOO_SMALL,   /* the frame did not fit the guest's buffers */
        NET_DROP_MALFORMED,             /* shorter than the header, writable buffers, bad offload header */
        NET_DROP_TOO_BIG,               /* longer than NET_FRAME_MAX */
        NET_DROP_LINK_DOWN,             /* the link is set down */
        NET_DROP_OFFLOAD,               /* a GSO frame for a guest that did not accept that offload */
        NET_DROP_BACKEND,               /* the back end refused it (tap write error) */
        _NET_DROP_MAX,
} NetDrop;

/* Frame sizes as DPDK's per-vring statistics bucket them (Ethernet frame, no virtio header). */
typedef enum NetSizeBucket {
        NET_SIZE_64,            /* ≤ 64 */
        NET_SIZE_65_127,
        NET_SIZE_128_255,
        NET_SIZE_256_511,
        NET_SIZE_512_1023,
        NET_SIZE_1024_1518,
        NET_SIZE_1519_MAX,
        _NET_SIZE_MAX,
} NetSizeBucket;

typedef struct NetQueueStats {
        uint64_t packets;               /* frames that crossed this queue */
        uint64_t bytes;                 /* their Ethernet bytes (no virtio header) */
        uint64_t drops[_NET_DROP_MAX];
        uint64_t sizes[_NET_SIZE_MAX];
        uint64_t holds;                 /* times a frame had to wait for receive buffers */
        uint64_t polls;                 /* polling passes over this queue */
} NetQueueStats;

typedef struct NetConfig {
        char *id;
        char *socket;
        DeviceSocketMode mode;
        NetBackendKind backend;
        char *tap;                      /* tap interface name (tap back end), NULL: let the kernel pick */
        uint8_t mac[6];
        unsigned int mtu;
        unsigned int pairs;             /* queue pairs, 1..NET_PAIRS_MAX */
        NetPollMode poll;
        uint64_t poll_usec;             /* adaptive window */
} NetConfig;

typedef struct NetDevice NetDevice;

typedef struct NetPair {
        NetDevice *net;
        unsigned int index;

        bool polling;                   /* in the poll set: TX notifications off */
        uint64_t poll_deadline;         /* CLOCK_MONOTONIC µs; adaptive mode re-arms after it */

        bool rx_wait;                   /* a frame waits for receive buffers (RX notifications on) */
        bool hold_expired;              /* waited NET_HOLD_USEC: drop instead of waiting */
        uint64_t rx_need;               /* bytes the waiting frame needs (0: any buffer will do) */
        sd_event_source *hold_timer;

        /* tap back end */
        int tap_fd;
        sd_event_source *tap_source;
        bool tap_tx_blocked;            /* the tap refused a write (EAGAIN): waiting for EPOLLOUT */
        bool tap_reading;               /* the receive queue runs: read the tap when it has frames */

        /* per-pass scratch: popped chains' iovecs (no allocation per frame) */
        struct iovec tx_iov[NET_TX_IOV_MAX];
        VuVirtqElement tx_burst[NET_TX_BURST];
        struct iovec tx_burst_iov[NET_TX_BURST];
        /* receive buffers of one buffer each popped ahead for the frames of the transmit burst */
        VuVirtqElement rx_burst[NET_TX_BURST];
        struct iovec rx_burst_iov[NET_TX_BURST];
        unsigned int rx_burst_n, rx_burst_i;    /* popped, taken */
        unsigned int rx_want;                   /* frames in hand: at most this many are popped ahead */
        bool rx_from_burst;                     /* rx_elems[0] came from rx_burst */
        /* receive buffers of rx_burst used, to be filled at fill indexes rx_fill_idx.. in one call */
        VuVirtqElement rx_fill[NET_TX_BURST];
        unsigned int rx_fill_len[NET_TX_BURST];
        unsigned int rx_fill_n, rx_fill_idx;
        struct iovec rx_iov[NET_RX_IOV_MAX];
        struct iovec rx_read_iov[NET_RX_IOV_MAX];
        VuVirtqElement rx_elems[NET_RX_ELEMS_MAX];
        uint32_t rx_len[NET_RX_ELEMS_MAX];
        unsigned int rx_used;           /* receive elements filled, not yet flushed */
        bool rx_unnotified;             /* receive elements flushed mid-pass: notify when the pass ends */
        unsigned int tx_used;           /* transmit elements filled, not yet flushed */
} NetPair;

struct NetDevice {
        Device dev;

        NetConfig config;
        bool link_up;
        uint16_t status_offered;        /* last status the config space showed */
        NetPollMode poll;
        uint64_t poll_usec;

        /* negotiated with the current frontend */
        uint64_t features;
        unsigned int hdr_len;           /* virtio-net header: 12 (VERSION_1 or MRG_RXBUF) or 10 */
        bool mrg_rxbuf;
        bool guest_csum;                /* the driver takes partial checksums */
        uint8_t guest_gso;              /* bit per VIRTIO_NET_HDR_GSO_* type the driver takes */
        bool guest_ecn;
        unsigned int active_pairs;      /* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, else 1 */
        bool promisc, allmulti;         /* VIRTIO_NET_CTRL_RX state, for status only */
        uint64_t ctrl_commands, ctrl_errors;

        NetPair **pairs;                /* config.pairs of them */
        NetQueueStats *qstats;          /* one per virtqueue (2 * pairs + 1) */

        sd_event_source *poll_source;   /* defer source while any pair polls */
        sd_event_source *kick_source;   /* deferred first pass over freshly started queues */
        unsigned int n_polling;
        bool detaching;                 /* the frontend is going: touch no guest memory */
        bool draining;
};

static inline NetDevice *net_from_device(Device *d) {
        return (NetDevice *) d;
}

static inline NetDevice *net_from_vu(VuDev *vu) {
        return net_from_device(device_from_vu(vu));
}

static inline unsigned int net_rx_qidx(unsigned int pair) {
        return pair * 2;
}

static inline unsigned int net_tx_qidx(unsigned int pair) {
        return pair * 2 + 1;
}

static inline unsigned int net_ctrl_qidx(const NetDevice *n) {
        return n->config.pairs * 2;
}

/* ---- net-config.c ---- */

/*
 * Parse one --net SPEC as device number @index (default id "net<index>").
 * @what names the source in messages ("--net", "VU_SIDECAR_NET"). Returns
 * 0, or -EINVAL after printing "vu-sidecar: WHAT: KEY=VALUE: what is
 * allowed". @ret is freed with net_config_done().
 */
int net_config_parse(const char *what, const char *spec, unsigned int index, const char *runtime_dir,
                     NetConfig *ret);
void net_config_done(NetConfig *c);
const char *net_backend_to_string(NetBackendKind k);
const char *net_poll_mode_to_string(NetPollMode m);
const char *net_drop_to_string(NetDrop d);
const char *net_size_bucket_to_string(NetSizeBucket b);

/* ---- net.c: counters and helpers the data paths share ---- */

static inline NetSizeBucket net_size_bucket(uint64_t len) {
        if (len <= 64)
                return NET_SIZE_64;
        if (len <= 127)
                return NET_SIZE_65_127;
        if (len <= 255)
                return NET_SIZE_128_255;
        if (len <= 511)
                return NET_SIZE_256_511;
        if (len <= 1023)
                return NET_SIZE_512_1023;
        if (len <= 1518)
                return NET_SIZE_1024_1518;
        return NET_SIZE_1519_MAX;
}

/* Frames of one pass, counted per frame on the stack and added to a queue's counters once. */
typedef struct NetTally {
        uint64_t packets;
        uint64_t bytes;
        uint64_t sizes[_NET_SIZE_MAX];
} NetTally;

static inline void net_tally_frame(NetTally *t, uint64_t len) {
        t->packets++;
        t->bytes += len;
        t->sizes[net_size_bucket(len)]++;
}

void net_count_frame(NetDevice *n, unsigned int qidx, uint64_t len);
/* Add a pass's frames to virtqueue @qidx's counters. */
void net_count_tally(NetDevice *n, unsigned int qidx, const NetTally *t);
void net_count_drop(NetDevice *n, unsigned int qidx, NetDrop why);

/*
 * Virtqueue @qidx, or NULL. Inline, and reading the queue's public fields as
 * the compatible API allows: the poll loop asks for every pair on every
 * pass, and three library calls per question showed in its profile.
 */
static inline VuVirtq *net_queue(NetDevice *n, unsigned int qidx) {
        VuDev *vu = &n->dev.vu;

        return vu->vq && qidx < vu->max_queues ? &vu->vq[qidx] : NULL;
}

/* True when virtqueue @qidx may be popped: started, enabled, and no detach under way. */
static inline bool net_queue_usable(NetDevice *n, unsigned int qidx) {
        VuVirtq *vq;

        if (n->detaching || !n->dev.vu_ready || n->dev.vu.broken)
                return false;
        vq = net_queue(n, qidx);
        return vq && vq->started && vq->enable;
}

/* ---- net-poll.c ---- */

/* The library's queue handlers: a kick on pair qidx/2's transmit or receive queue. */
void net_pair_tx_kick_cb(VuDev *vu, int qidx);
void net_pair_rx_ready_cb(VuDev *vu, int qidx);
/* Run pair @p until its transmit ring is empty or it must wait; then poll or re-arm by mode. */
void net_pair_kick(NetPair *p);
/* A receive buffer arrived while a frame waited (RX kick), or the hold expired. */
void net_pair_rx_ready(NetPair *p);
/* Stop polling @p and re-arm its notifications (queue stop, detach). */
void net_pair_stop_polling(NetPair *p);
/* Wait for receive buffers: RX notifications on, the hold timer armed. Returns true if some arrived meanwhile. */
bool net_pair_wait_rx(NetPair *p);
/* Flush the pending used entries of @p's rings and notify the guest once per ring. */
void net_pair_flush(NetPair *p);
int net_set_poll(NetDevice *n, NetPollMode mode, uint64_t usec);
void net_poll_stop_all(NetDevice *n);

/* ---- net-loopback.c ---- */

/* Move up to @budget frames from @p's transmit ring to its receive ring. Returns frames taken. */
unsigned int net_loopback_run(NetPair *p, unsigned int budget);

/* A transmit chain longer than NET_TX_IOV_MAX: take it with the allocating pop, drop it, count it. */
bool net_tx_drop_long(NetPair *p, VuVirtq *tx);

/* ---- net-tap.c ---- */

/* Open (and create if needed) the tap queues of @n. Returns 0 or -errno after logging. */
int net_tap_open(NetDevice *n);
/* Apply the negotiated header size and offloads to the tap. Returns 0 or -errno after logging. */
int net_tap_configure(NetDevice *n);
/* Start or stop reading the tap for pair @p. */
void net_tap_set_reading(NetPair *p, bool on);
/* Guest → tap: up to @budget frames. Returns frames taken. */
unsigned int net_tap_tx_run(NetPair *p, unsigned int budget);
/* Tap → guest: up to @budget frames. Returns frames delivered. */
unsigned int net_tap_rx_run(NetPair *p, unsigned int budget);
/* Set the tap's carrier to follow the link state (best effort). */
void net_tap_set_carrier(NetDevice *n, bool up);
void net_tap_close(NetDevice *n);

/* ---- iovec helpers (net-loopback.c) ---- */

uint64_t net_iov_size(const struct iovec *iov, unsigned int n);
/* Copy @len bytes at @skip of @iov into @buf; returns bytes copied. */
size_t net_iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip, void *buf, size_t len);
/* Copy @len bytes of @buf into @iov at @skip; returns bytes copied. */
size_t net_iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip, const void *buf, size_t len);
