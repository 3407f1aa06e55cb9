/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvhost-user extensions: what this library offers beyond the compatible
 * API in libvhost-user.h. Read-only snapshots of device, queue, memory and
 * dirty-log state (for a control socket or a debugger), per-queue counters,
 * a log handler and a message observer, a no-allocation pop for hot paths,
 * safe reads of guest memory for ring dumps, and feature-name tables.
 *
 * Every function here takes a VuDev that vu_init() prepared. None of them
 * changes what the frontend sees, except vu_config_change_msg(). Snapshot
 * functions copy; they never hand out pointers into guest memory.
 */
#ifndef LIBVHOST_USER_EXT_H
#define LIBVHOST_USER_EXT_H

#include "libvhost-user.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- logging and observation ------------------------------------------ */

/*
 * Called for every diagnostic the library produces; @priority is a syslog
 * level (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). Without a handler the
 * library is silent (the panic callback still fires).
 */
typedef void (*vu_log_cb)(VuDev *dev, int priority, const char *msg, void *userdata);
void vu_set_log_handler(VuDev *dev, vu_log_cb cb, void *userdata);

/*
 * Called after each message from the frontend was handled. @result is 0 if
 * it was accepted, or the negative errno it was refused with (then
 * vu_last_error() says why). @msg is only valid during the call; its fds
 * have already been consumed or closed.
 */
typedef void (*vu_message_observer_cb)(VuDev *dev, const VhostUserMsg *msg, int result, void *userdata);
void vu_set_message_observer(VuDev *dev, vu_message_observer_cb cb, void *userdata);

/* The text of the last refusal or panic ("SET_VRING_NUM: queue 9 out of range (max 2)"), or "". */
const char *vu_last_error(const VuDev *dev);

/* ---- hot path ---------------------------------------------------------- */

/*
 * vu_queue_pop_into: vu_queue_pop() without allocation. The chain's buffers
 * are translated into @iov (device-readable ones first, then
 * device-writable ones); @elem->out_sg and @elem->in_sg point into @iov.
 *
 * Returns 1 if an element was popped, 0 if the queue is empty or not ready,
 * -E2BIG if the chain needs more than @iov_max entries (nothing is consumed;
 * retry with a larger array), -EBADMSG if the chain is malformed (the device
 * is then broken, as with vu_queue_pop()).
 */
int vu_queue_pop_into(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                      unsigned int iov_max);

/*
 * vu_queue_pop_burst: take up to @max chains of exactly one buffer each,
 * for devices that move many small buffers (a NIC's frames), with one look
 * at the ring's index and one event update for the whole burst. Chain k
 * fills @elems[k], whose one iovec is @iov[k] (out_sg or in_sg, by the
 * buffer's direction); @elems and @iov hold at least @max entries. Every
 * chain is checked as vu_queue_pop_into() checks it.
 *
 * Stops early at an empty ring and before the first chain it does not take
 * (several buffers, an indirect table, anything malformed), and takes
 * nothing while an inflight buffer or a resubmission is in force: the
 * caller then pops with vu_queue_pop_into(), which takes or refuses the
 * chain. Chains popped here are returned with vu_queue_fill() and
 * vu_queue_flush(), or given back with vu_queue_rewind(), like any other.
 *
 * Returns the number of chains popped (0..@max; 0 says "use
 * vu_queue_pop_into()", which may find the ring empty), -EINVAL for bad
 * arguments, -EBADMSG if the ring's index is malformed (the device is then
 * broken, as with vu_queue_pop()).
 */
int vu_queue_pop_burst(VuDev *dev, VuVirtq *vq, VuVirtqElement *elems, struct iovec *iov, unsigned int max);

/*
 * vu_queue_fill_burst: vu_queue_fill() for @n elements with its checks made
 * once: @elems[k] goes at fill index @idx + k with @lens[k] bytes written,
 * or 0 bytes for every element when @lens is NULL (a transmit ring's
 * buffers come back unwritten). Publish them with vu_queue_flush().
 */
void vu_queue_fill_burst(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elems, const unsigned int *lens,
                         unsigned int n, unsigned int idx);

/* The kick eventfd of a queue (-1 if none), for programs that poll rings themselves. */
int vu_queue_get_kick_fd(const VuDev *dev, const VuVirtq *vq);

/* ---- counters ---------------------------------------------------------- */

/*
 * Per-queue counters kept by the library. "out" is guest→backend (buffers
 * the driver made available for the device to read), "in" is
 * backend→guest (bytes the device reported written to the driver's
 * buffers, the used-element length).
 */
typedef struct VuQueueStats {
        uint64_t kicks;             /* kick notifications received (eventfd or in-band) */
        uint64_t popped;            /* chains taken from the avail ring (guest→backend); a chain given
                                     * back with vu_queue_rewind()/unpop() and taken again counts once */
        uint64_t pushed;            /* chains returned in the used ring (backend→guest) */
        uint64_t bytes_out;         /* guest→backend bytes in popped chains' readable buffers (a chain
                                     * given back and taken again counts its bytes each time) */
        uint64_t bytes_in;          /* backend→guest bytes reported in used elements */
        uint64_t calls_sent;        /* call notifications signalled */
        uint64_t calls_suppressed;  /* notifications skipped by EVENT_IDX / NO_INTERRUPT */
        uint64_t malformed;         /* chains refused as malformed */
        uint64_t resubmitted;       /* inflight chains handed back after a reconnect */
} VuQueueStats;

void vu_queue_reset_stats(VuDev *dev, int qidx);

/* ---- snapshots --------------------------------------------------------- */

typedef struct VuQueueInfo {
        uint32_t index;
        uint32_t size;              /* SET_VRING_NUM (0: not set) */
        bool enabled;
        bool started;
        bool packed;
        bool event_idx;
        bool kick_fd;               /* a kick eventfd is set */
        bool call_fd;
        bool err_fd;
        bool ready;                 /* rings are mapped */
        bool logging;               /* VHOST_VRING_F_LOG set on the ring */

        /* what we hold */
        uint16_t last_avail_idx;
        uint16_t shadow_avail_idx;
        uint16_t used_idx;
        uint16_t signalled_used;
        bool signalled_used_valid;
        uint32_t inuse;             /* popped, not yet pushed */
        uint32_t inflight;          /* entries marked in flight in the inflight buffer */
        uint32_t resubmit_pending;  /* resubmit_num - already handed back */

        /*
         * what the guest's ring says (0 when not ready). Packed rings: avail_idx
         * and ring_used_idx repeat last_avail_idx and used_idx; avail_flags and
         * used_event are the driver event area's flags and off_wrap, used_flags
         * and avail_event the device event area's.
         */
        uint16_t avail_idx;
        uint16_t avail_flags;
        uint16_t ring_used_idx;
        uint16_t used_flags;
        uint16_t used_event;        /* driver's used_event (EVENT_IDX) */
        uint16_t avail_event;       /* our avail_event (EVENT_IDX) */

        /* packed rings */
        bool avail_wrap_counter;
        bool used_wrap_counter;

        /* addresses as the frontend gave them */
        uint64_t desc_user_addr;
        uint64_t avail_user_addr;
        uint64_t used_user_addr;
        uint64_t log_guest_addr;

        VuQueueStats stats;
} VuQueueInfo;

/* Fill @ret for queue @qidx. Returns 0, or -EINVAL if @qidx is out of range. */
int vu_queue_get_info(VuDev *dev, int qidx, VuQueueInfo *ret);

typedef struct VuRegionInfo {
        uint64_t gpa;
        uint64_t size;
        uint64_t qva;
        uint64_t mmap_offset;
        uint64_t host_addr;         /* where the region's first byte is in our address space */
} VuRegionInfo;

/* Copy up to @max regions into @ret; returns how many there are (may exceed @max). */
unsigned int vu_get_regions(const VuDev *dev, VuRegionInfo *ret, unsigned int max);

typedef struct VuDevInfo {
        uint64_t features;            /* negotiated virtio features */
        uint64_t protocol_features;   /* negotiated protocol features */
        uint32_t nregions;
        uint32_t max_queues;
        uint32_t queues_started;
        uint8_t status;               /* virtio device status from SET_STATUS */
        bool owner;                   /* SET_OWNER seen */
        bool broken;
        bool backend_channel;         /* SET_SLAVE_REQ_FD in force */
        bool inflight;                /* an inflight buffer is in force */
        uint64_t inflight_size;
        uint64_t messages;            /* messages handled */
        uint64_t messages_refused;    /* messages refused */
} VuDevInfo;

void vu_get_info(const VuDev *dev, VuDevInfo *ret);

typedef struct VuLogInfo {
        bool active;                  /* a log is mapped (SET_LOG_BASE in force) */
        bool log_all;                 /* VHOST_F_LOG_ALL negotiated */
        uint64_t size;                /* bytes of the log bitmap */
        uint64_t pages_marked;        /* bits set by us since the log was given */
        uint64_t writes;              /* logged writes (used-ring updates and guest buffers) */
        uint32_t rings_logging;       /* queues with VHOST_VRING_F_LOG */
        uint64_t started_usec;        /* CLOCK_REALTIME of the last SET_LOG_BASE, 0 if never */
        uint64_t stopped_usec;        /* CLOCK_REALTIME logging last stopped, 0 if never */
        uint64_t rewalk_fallbacks;    /* returned chains that no longer walked: logged from the iovecs */
} VuLogInfo;

void vu_get_log_info(const VuDev *dev, VuLogInfo *ret);

/* ---- ring dumps -------------------------------------------------------- */

/*
 * Copy @len bytes of guest memory at @gpa into @buf. The range may span
 * regions. Returns 0, or -EFAULT if any byte is not mapped.
 */
int vu_guest_read(VuDev *dev, uint64_t gpa, void *buf, size_t len);

/* Guest physical address of a queue's rings, as translated; -ENXIO if not ready. */
int vu_queue_get_ring_gpas(VuDev *dev, int qidx, uint64_t *ret_desc, uint64_t *ret_avail,
                           uint64_t *ret_used);

/* ---- device-initiated messages ---------------------------------------- */

/*
 * Tell the frontend the config space changed (backend channel
 * CONFIG_CHANGE_MSG). The message is not acknowledged synchronously:
 * QEMU answers it only after re-reading the config with GET_CONFIG on the
 * main channel, which the program serves from its loop afterwards.
 * Returns false if the channel or CONFIG was not negotiated, or sending failed.
 */
bool vu_config_change_msg(VuDev *dev);

/* ---- names ------------------------------------------------------------- */

/* "INDIRECT_DESC", "EVENT_IDX", "VERSION_1", "RING_PACKED", … for the
 * transport bits (24..41 and VHOST_USER_F_PROTOCOL_FEATURES); NULL if not one. */
const char *vu_virtio_feature_name(unsigned int bit);

/* "MQ", "LOG_SHMFD", "REPLY_ACK", … ; NULL for an unknown bit. */
const char *vu_protocol_feature_name(unsigned int bit);

#ifdef __cplusplus
}
#endif

#endif /* LIBVHOST_USER_EXT_H */
