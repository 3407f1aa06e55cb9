/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The blk device's own contract between its files: blk.c is the device
 * (construction, the library's device interface, DeviceVTable, queues
 * start and stop), blk-request.c the per-request hot path (validating a
 * guest request, submitting it within the I/O limits, completing it, and
 * the kick that pops requests), blk-image.c the image (opening it, its
 * size, its lock) and the mutators the control socket calls. Everything
 * runs on the event-loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <systemd/sd-event.h>

#include "blk-io.h"
#include "blk.h"
#include "device.h"
#include "options.h"
#include "stats.h"
#include "throttle.h"

#define SECTOR_SIZE 512u
#define BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per discard / write-zeroes */
#define BLK_ZERO_BUF_SIZE (64u * 1024u)    /* the shared buffer the write-zeroes fallback writes */

typedef struct BlkDevice BlkDevice;
typedef struct BlkQueue BlkQueue;
typedef struct BlkRequest BlkRequest;

/* Where a write-zeroes request is in its fallback chain. */
typedef enum ZeroMethod {
        ZERO_PUNCH_HOLE, /* fallocate(PUNCH_HOLE|KEEP_SIZE): only when unmap is allowed */
        ZERO_RANGE,      /* fallocate(ZERO_RANGE|KEEP_SIZE) */
        ZERO_WRITE,      /* pwritev() of a zero buffer */
        ZERO_BLKZEROOUT, /* block devices: ioctl(BLKZEROOUT) */
} ZeroMethod;

struct BlkRequest {
        BlkIoRequest io;
        BlkQueue *queue;
        VuVirtqElement elem;
        struct iovec *iov; /* this slot's part of the queue's iovec pool */
        uint8_t *status;   /* the guest's status byte, NULL if it gave none */
        /* The in_sg entry the status byte was carved from, given back before the push. */
        struct iovec *status_iov;
        uint32_t type;
        StatsRequestType stype;
        struct iovec *cur_iov; /* data still to transfer (short reads/writes advance it) */
        unsigned int cur_cnt;
        uint64_t offset;   /* byte offset of what is left */
        uint64_t left;     /* bytes left */
        uint64_t data_len; /* data bytes of the request, for the counters */
        uint32_t in_len;   /* bytes we report written to the guest */
        uint64_t start_usec;
        ZeroMethod zero;
        bool unmap;
        bool admitted; /* passed the I/O limits */
        bool busy;
        BlkRequest *next; /* free list, or the throttle FIFO */
};

struct BlkQueue {
        BlkDevice *blk;
        unsigned int index;
        bool started;
        bool starved; /* stopped popping for want of a slot */
        bool need_notify;
        BlkRequest *slots;
        unsigned int n_slots;
        struct iovec *iov_pool;
        BlkRequest *free_list;
        IoStats stats;
};

struct BlkDevice {
        Device dev;

        char *path;
        char serial[BLK_SERIAL_MAX + 1];
        int fd;        /* buffered */
        int fd_direct; /* O_DIRECT, -EBADF if the file system refused it */
        bool block_device;
        bool read_only_opened;
        bool read_only;  /* enforced now */
        bool ro_offered; /* VIRTIO_BLK_F_RO offered to the current frontend */
        uint64_t features_offered; /* what GET_FEATURES told the current frontend; 0 until asked */
        bool discard;
        bool write_zeroes;
        bool zero_range_ok; /* fallocate(ZERO_RANGE) worked or was not tried yet */
        bool punch_hole_ok;
        bool write_through; /* the driver did not negotiate FLUSH: writes must be stable */
        uint64_t size;
        uint64_t capacity; /* sectors */
        uint32_t blk_size;
        uint32_t seg_max;
        unsigned int iov_per_slot;
        unsigned int queue_size;
        uint64_t resizes;

        BlkQueue *queues; /* dev.queues of them */
        BlkIoEngine *engine;
        void *zero_buf;

        Throttle throttle;
        BlkRequest *throttle_head, *throttle_tail;
        uint64_t throttle_waiting;
        sd_event_source *throttle_timer;
        sd_event_source *kick_source; /* deferred first pass over freshly started queues */

        bool draining;  /* graceful stop: no new requests */
        bool detaching; /* the frontend is going: touch no guest memory */
        IoStats stats;

        BlkLock lock_mode;
        bool lock_held; /* our flock on fd (lock=running: only while queues run) */
};

static inline BlkDevice *blk_from_device(Device *d) {
        return (BlkDevice *) d;
}

static inline BlkDevice *blk_from_vu(VuDev *vu) {
        return blk_from_device(device_from_vu(vu));
}

/* ---- used by the hot path and the device alike: inline, so the per-request path makes no calls ---- */

static inline VuVirtq *blk_queue_vq(BlkQueue *q) {
        return vu_get_queue(&q->blk->dev.vu, (int) q->index);
}

static inline void blk_request_release(BlkRequest *r) {
        BlkQueue *q = r->queue;

        r->busy = false;
        r->next = q->free_list;
        q->free_list = r;
        if (q->stats.in_flight > 0)
                q->stats.in_flight--;
        if (q->blk->stats.in_flight > 0)
                q->blk->stats.in_flight--;
}

static inline void blk_queue_notify(BlkQueue *q) {
        VuVirtq *vq;

        if (!q->need_notify || q->blk->detaching)
                return;
        q->need_notify = false;
        vq = blk_queue_vq(q);
        if (vq)
                vu_queue_notify(&q->blk->dev.vu, vq);
}

/* ---- blk-request.c ---- */

/* The I/O engine's callbacks: one request done, and the end of a batch of completions. */
void blk_io_done(BlkIoRequest *io, void *userdata);
void blk_batch_done(void *userdata);
/* A kick on queue @qidx: pop and start requests until the ring is empty. */
void blk_on_kick(VuDev *vu, int qidx);
/* The deferred first pass over freshly started queues (b->kick_source). */
int blk_on_deferred_kick(sd_event_source *source, void *userdata);
/* Submit what the I/O limits allow from the waiting FIFO (all of it if @force). */
void blk_throttle_run(BlkDevice *b, bool force);

/* ---- blk-image.c ---- */

/*
 * Open the image of @c into @b (fd, fd_direct, block_device, blk_size,
 * size, capacity; with lock=on the lock too). Returns 0 or -errno after
 * logging what failed.
 */
int blk_open_image(BlkDevice *b, const BlkConfig *c);
/* flock() the image (exclusive if writable, shared if read-only) without blocking: 0, -EBUSY or -errno. */
int blk_lock_take(BlkDevice *b);
/* lock=running: unlock the image once no queue runs any more. */
void blk_lock_release_idle(BlkDevice *b);
