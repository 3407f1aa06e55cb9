/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk over a raw image file or a block device.
 *
 * Hot path: each queue has one request slot per ring entry, each with its
 * own iovec array, allocated when the queue starts; vu_queue_pop_into()
 * translates a chain straight into a slot, and reads and writes go from
 * and to guest memory through those iovecs (no bounce buffers, no
 * allocation per request). A kick pops until the ring is empty, submits
 * the batch to the I/O engine with one syscall and notifies once; each
 * completion batch pushes its requests and notifies once per queue.
 *
 * Everything a guest sends is checked before use: the header must be 16
 * readable bytes, the status byte the last writable one, the data a
 * multiple of 512 within the capacity, the type known. A bad request gets
 * IOERR or UNSUPP and a counter; a chain with no writable byte cannot even
 * be answered and is returned with length 0 and counted as malformed.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk-io.h"
#include "blk.h"
#include "events.h"
#include "log.h"
#include "sidecar.h"
#include "throttle.h"

#define _fallthrough_ __attribute__((fallthrough))

#define SECTOR_SIZE 512u
#define BLK_SEG_MAX_LIMIT 254u             /* Linux's own cap on segments per request */
#define BLK_IOV_SLACK 32u                  /* iovecs beyond seg_max: header, status, region splits */
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

static const DeviceVTable blk_vtable;

static BlkDevice *blk_from_device(Device *d) {
        return (BlkDevice *) d;
}

static BlkDevice *blk_from_vu(VuDev *vu) {
        return blk_from_device(device_from_vu(vu));
}

bool device_is_blk(const Device *d) {
        return d && d->vtable == &blk_vtable;
}

/* ---- iovec helpers -------------------------------------------------------- */

static uint64_t iov_size(const struct iovec *iov, unsigned int n) {
        uint64_t s = 0;

        for (unsigned int i = 0; i < n; i++)
                s += iov[i].iov_len;
        return s;
}

/* Copy up to @len bytes from the start of @iov into @buf; returns how many were copied. */
static size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip, void *buf, size_t len) {
        size_t done = 0;

        for (unsigned int i = 0; i < n && done < len; i++) {
                size_t l = iov[i].iov_len;

                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                size_t c = MIN(l - skip, len - done);
                memcpy((uint8_t *) buf + done, (uint8_t *) iov[i].iov_base + skip, c);
                done += c;
                skip = 0;
        }
        return done;
}

static size_t iov_from_buf(const struct iovec *iov, unsigned int n, const void *buf, size_t len) {
        size_t done = 0;

        for (unsigned int i = 0; i < n && done < len; i++) {
                size_t c = MIN(iov[i].iov_len, len - done);

                memcpy(iov[i].iov_base, (const uint8_t *) buf + done, c);
                done += c;
        }
        return done;
}

/* Drop @bytes from the front of *@iov (in place: the array is ours). */
static void iov_discard_front(struct iovec **iov, unsigned int *n, uint64_t bytes) {
        while (bytes > 0 && *n > 0) {
                if ((*iov)->iov_len <= bytes) {
                        bytes -= (*iov)->iov_len;
                        (*iov)++;
                        (*n)--;
                } else {
                        (*iov)->iov_base = (uint8_t *) (*iov)->iov_base + bytes;
                        (*iov)->iov_len -= bytes;
                        bytes = 0;
                }
        }
}

static bool iov_aligned(const struct iovec *iov, unsigned int n, uint64_t align) {
        for (unsigned int i = 0; i < n; i++)
                if (((uintptr_t) iov[i].iov_base | iov[i].iov_len) & (align - 1))
                        return false;
        return true;
}

/* ---- completion ---------------------------------------------------------- */

static VuVirtq *blk_queue_vq(BlkQueue *q) {
        return vu_get_queue(&q->blk->dev.vu, (int) q->index);
}

static void blk_request_release(BlkRequest *r) {
        BlkQueue *q = r->queue;

        r->busy = false;
        r->next = q->free_list;
        q->free_list = r;
        if (q->stats.in_flight > 0)
                q->stats.in_flight--;
        if (q->blk->stats.in_flight > 0)
                q->blk->stats.in_flight--;
}

static void blk_request_finish(BlkRequest *r, StatsStatus st) {
        BlkQueue *q = r->queue;
        BlkDevice *b = q->blk;
        uint64_t lat = now_usec(CLOCK_MONOTONIC) - r->start_usec;

        if (!b->detaching) {
                VuVirtq *vq = blk_queue_vq(q);

                if (r->status)
                        *r->status = st == STATS_STATUS_OK       ? VIRTIO_BLK_S_OK
                                     : st == STATS_STATUS_UNSUPP ? VIRTIO_BLK_S_UNSUPP
                                                                 : VIRTIO_BLK_S_IOERR;
                /*
                 * The push marks the pages of in_sg we wrote in the migration dirty log, up to
                 * in_len bytes: the status byte must be in in_sg again, or its page is not sent.
                 */
                if (r->status_iov) {
                        r->status_iov->iov_len++;
                        r->status_iov = NULL;
                }
                if (vq) {
                        vu_queue_push(&b->dev.vu, vq, &r->elem, r->status ? r->in_len : 0);
                        q->need_notify = true;
                }
        }

        if (st == STATS_STATUS_OK) {
                switch (r->stype) {
                case STATS_REQ_READ:
                case STATS_REQ_GET_ID:
                        q->stats.bytes_read += r->data_len;
                        b->stats.bytes_read += r->data_len;
                        break;
                case STATS_REQ_WRITE:
                        q->stats.bytes_written += r->data_len;
                        b->stats.bytes_written += r->data_len;
                        break;
                case STATS_REQ_DISCARD:
                case STATS_REQ_WRITE_ZEROES:
                        q->stats.bytes_discarded += r->data_len;
                        b->stats.bytes_discarded += r->data_len;
                        break;
                default:
                        break;
                }
        }
        stats_account(&q->stats, r->stype, st, lat);
        stats_account(&b->stats, r->stype, st, lat);
        blk_request_release(r);
}

/* ---- submission, with the I/O limits ------------------------------------- */

static void blk_submit(BlkRequest *r);

static int blk_on_throttle_timer(sd_event_source *source, uint64_t usec, void *userdata);

static void blk_throttle_arm(BlkDevice *b) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        uint64_t when = now + throttle_wait_usec(&b->throttle, now);
        int r;

        if (b->throttle_timer) {
                r = sd_event_source_set_time(b->throttle_timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(b->throttle_timer, SD_EVENT_ONESHOT);
        } else
                /* Accuracy 1 µs: sd-event's default (0 = 250 ms) would turn the limits into bursts. */
                r = sd_event_add_time(b->dev.sidecar->event, &b->throttle_timer, CLOCK_MONOTONIC, when, 1,
                                      blk_on_throttle_timer, b);
        if (r < 0)
                log_error_errno(r, "%s: Failed to arm the I/O-limit timer: %m", b->dev.id);
}

/* Submit what the limits allow from the FIFO (all of it if @force). */
static void blk_throttle_run(BlkDevice *b, bool force) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        while (b->throttle_head) {
                BlkRequest *r = b->throttle_head;
                uint64_t cost = r->stype == STATS_REQ_READ || r->stype == STATS_REQ_WRITE ? r->data_len : 0;

                if (!force && throttle_enabled(&b->throttle) && !throttle_admit(&b->throttle, cost, now)) {
                        blk_throttle_arm(b);
                        return;
                }
                b->throttle_head = r->next;
                if (!b->throttle_head)
                        b->throttle_tail = NULL;
                b->throttle_waiting--;
                r->admitted = true;
                blk_submit(r);
        }
}

static int blk_on_throttle_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        BlkDevice *b = userdata;

        blk_throttle_run(b, b->draining);
        blk_io_engine_flush(b->engine);
        return 0;
}

static void blk_submit(BlkRequest *r) {
        BlkDevice *b = r->queue->blk;
        int k;

        if (!r->admitted && throttle_enabled(&b->throttle) && !b->draining) {
                uint64_t cost = r->stype == STATS_REQ_READ || r->stype == STATS_REQ_WRITE ? r->data_len : 0;

                /* FIFO: nobody overtakes a request already waiting. */
                if (b->throttle_head || !throttle_admit(&b->throttle, cost, now_usec(CLOCK_MONOTONIC))) {
                        r->next = NULL;
                        if (b->throttle_tail)
                                b->throttle_tail->next = r;
                        else
                                b->throttle_head = r;
                        b->throttle_tail = r;
                        b->throttle_waiting++;
                        r->queue->stats.throttled++;
                        b->stats.throttled++;
                        if (b->throttle_head == r)
                                blk_throttle_arm(b);
                        return;
                }
        }
        r->admitted = true;

        k = blk_io_engine_submit(b->engine, &r->io);
        if (k < 0) {
                log_warning_errno(k, "%s: Failed to submit a %s request, failing it: %m", b->dev.id,
                                  stats_request_type_to_string(r->stype));
                blk_request_finish(r, STATS_STATUS_IOERR);
        }
}

/* Set up r->io for the data part that is left (reads and writes). */
static void blk_prepare_rw(BlkRequest *r, BlkIoOp op) {
        BlkDevice *b = r->queue->blk;

        r->io.op = op;
        r->io.iov = r->cur_iov;
        r->io.iovcnt = r->cur_cnt;
        r->io.offset = r->offset;
        r->io.len = r->left;
        r->io.rw_flags = op == BLK_IO_WRITE && b->write_through ? RWF_DSYNC : 0;
        /* O_DIRECT wants sector-aligned memory and lengths; anything else goes through the page cache. */
        r->io.fd = b->fd_direct >= 0 && iov_aligned(r->cur_iov, r->cur_cnt, b->blk_size) &&
                                   (r->offset % b->blk_size) == 0
                           ? b->fd_direct
                           : b->fd;
}

/* Next step of a write-zeroes request; false if no method is left. */
static bool blk_prepare_zero(BlkRequest *r) {
        BlkDevice *b = r->queue->blk;

        r->io.fd = b->fd;
        r->io.offset = r->offset;
        r->io.len = r->left;
        r->io.rw_flags = 0;
        switch (r->zero) {
        case ZERO_BLKZEROOUT:
                r->io.op = BLK_IO_BLKZEROOUT;
                return true;
        case ZERO_PUNCH_HOLE:
                if (b->punch_hole_ok) {
                        r->io.op = BLK_IO_FALLOCATE;
                        r->io.mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
                        return true;
                }
                r->zero = ZERO_RANGE;
                _fallthrough_;
        case ZERO_RANGE:
                if (b->zero_range_ok) {
                        r->io.op = BLK_IO_FALLOCATE;
                        r->io.mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
                        return true;
                }
                r->zero = ZERO_WRITE;
                _fallthrough_;
        case ZERO_WRITE: {
                /* One pwritev of as many references to the zero buffer as the slot has iovecs. */
                unsigned int n = 0;
                uint64_t left = r->left;

                while (left > 0 && n < b->iov_per_slot) {
                        r->iov[n].iov_base = b->zero_buf;
                        r->iov[n].iov_len = MIN(left, (uint64_t) BLK_ZERO_BUF_SIZE);
                        left -= r->iov[n].iov_len;
                        n++;
                }
                r->cur_iov = r->iov;
                r->cur_cnt = n;
                r->io.op = BLK_IO_WRITE;
                r->io.iov = r->iov;
                r->io.iovcnt = n;
                r->io.fd =
                        b->fd_direct >= 0 && (r->offset % b->blk_size) == 0 && (r->left % b->blk_size) == 0
                                ? b->fd_direct
                                : b->fd;
                return true;
        }
        }
        return false;
}

static void blk_io_done(BlkIoRequest *io, void *userdata) {
        BlkRequest *r = (BlkRequest *) ((char *) io - offsetof(BlkRequest, io));
        BlkDevice *b = userdata;
        int64_t res = io->result;

        if (b->detaching) {
                blk_request_release(r);
                return;
        }

        switch (io->op) {
        case BLK_IO_READ:
        case BLK_IO_WRITE:
                if (res == -EINVAL && io->fd == b->fd_direct && b->fd_direct != b->fd) {
                        /* The file system wanted a stricter O_DIRECT alignment: use the page cache. */
                        io->fd = b->fd;
                        blk_submit(r);
                        return;
                }
                if (res < 0) {
                        log_debug_errno((int) res, "%s: %s at offset %" PRIu64 " failed: %m", b->dev.id,
                                        io->op == BLK_IO_READ ? "read" : "write", r->offset);
                        break;
                }
                if (res == 0 && r->left > 0) {
                        log_debug("%s: %s at offset %" PRIu64 " hit the end of the image", b->dev.id,
                                  io->op == BLK_IO_READ ? "read" : "write", r->offset);
                        res = -EIO;
                        break;
                }
                if ((uint64_t) res < r->left) {
                        /* Short transfer: go on with the rest. */
                        iov_discard_front(&r->cur_iov, &r->cur_cnt, (uint64_t) res);
                        r->offset += (uint64_t) res;
                        r->left -= (uint64_t) res;
                        if (r->type == VIRTIO_BLK_T_WRITE_ZEROES)
                                blk_prepare_zero(r);
                        else
                                blk_prepare_rw(r, io->op);
                        blk_submit(r);
                        return;
                }
                r->offset += r->left;
                r->left = 0;
                res = 0;
                break;
        case BLK_IO_FALLOCATE:
                if (r->type == VIRTIO_BLK_T_WRITE_ZEROES &&
                    (res == -EOPNOTSUPP || res == -EINVAL || res == -ENOSYS || res == -ENODEV)) {
                        if (r->zero == ZERO_PUNCH_HOLE)
                                b->punch_hole_ok = false;
                        else if (r->zero == ZERO_RANGE)
                                b->zero_range_ok = false;
                        r->zero++;
                        blk_prepare_zero(r);
                        blk_submit(r);
                        return;
                }
                if (r->type == VIRTIO_BLK_T_DISCARD && (res == -EOPNOTSUPP || res == -ENOSYS)) {
                        /* A discard is a hint: a file system that cannot punch holes keeps the data. */
                        b->punch_hole_ok = false;
                        res = 0;
                }
                break;
        case BLK_IO_BLKDISCARD:
                if (res == -EOPNOTSUPP)
                        res = 0;
                break;
        default:
                break;
        }

        blk_request_finish(r, res < 0 ? STATS_STATUS_IOERR : STATS_STATUS_OK);
}

/* ---- requests ------------------------------------------------------------ */

static StatsRequestType blk_type_to_stats(uint32_t type) {
        switch (type) {
        case VIRTIO_BLK_T_IN:
                return STATS_REQ_READ;
        case VIRTIO_BLK_T_OUT:
                return STATS_REQ_WRITE;
        case VIRTIO_BLK_T_FLUSH:
                return STATS_REQ_FLUSH;
        case VIRTIO_BLK_T_GET_ID:
                return STATS_REQ_GET_ID;
        case VIRTIO_BLK_T_DISCARD:
                return STATS_REQ_DISCARD;
        case VIRTIO_BLK_T_WRITE_ZEROES:
                return STATS_REQ_WRITE_ZEROES;
        default:
                return STATS_REQ_OTHER;
        }
}

/* Is [sector, sector + bytes/512) inside the disk? Written so that nothing can overflow. */
static bool blk_range_ok(BlkDevice *b, uint64_t sector, uint64_t bytes) {
        if (bytes % SECTOR_SIZE != 0)
                return false;
        if (sector > b->capacity)
                return false;
        return bytes / SECTOR_SIZE <= b->capacity - sector;
}

static void blk_log_bad(BlkRequest *r, const char *what, uint64_t value) {
        BlkQueue *q = r->queue;

        log_debug("%s: queue %u: bad %s request: %s %" PRIu64, q->blk->dev.id, q->index,
                  stats_request_type_to_string(r->stype), what, value);
}

/* Validate a popped chain and start it; every path ends in finish() or an engine submission. */
static void blk_request_start(BlkQueue *q, BlkRequest *r) {
        BlkDevice *b = q->blk;
        VuVirtqElement *e = &r->elem;
        struct virtio_blk_outhdr hdr;
        struct iovec *out = e->out_sg, *in = e->in_sg;
        unsigned int out_num = e->out_num, in_num = e->in_num;
        uint64_t sector;

        r->busy = true;
        r->start_usec = now_usec(CLOCK_MONOTONIC);
        r->status = NULL;
        r->status_iov = NULL;
        r->in_len = 0;
        r->data_len = 0;
        r->admitted = false;
        r->stype = STATS_REQ_OTHER;
        r->type = UINT32_MAX;
        q->stats.in_flight++;
        b->stats.in_flight++;

        /* The status byte is the last byte the device may write. */
        while (in_num > 0 && in[in_num - 1].iov_len == 0)
                in_num--;
        if (in_num == 0) {
                log_debug("%s: queue %u: request %u has no writable status byte, returning it unanswered",
                          b->dev.id, q->index, e->index);
                blk_request_finish(r, STATS_STATUS_MALFORMED);
                return;
        }
        r->status = (uint8_t *) in[in_num - 1].iov_base + in[in_num - 1].iov_len - 1;
        r->status_iov = &in[in_num - 1];
        in[in_num - 1].iov_len--;
        if (in[in_num - 1].iov_len == 0)
                in_num--;
        r->in_len = 1;

        if (iov_to_buf(out, out_num, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
                log_debug("%s: queue %u: request header is %" PRIu64 " bytes, need %zu", b->dev.id, q->index,
                          iov_size(out, out_num), sizeof(hdr));
                blk_request_finish(r, STATS_STATUS_IOERR);
                return;
        }
        iov_discard_front(&out, &out_num, sizeof(hdr));

        r->type = le32toh(hdr.type);
        r->stype = blk_type_to_stats(r->type);
        sector = le64toh(hdr.sector);

        switch (r->type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT: {
                bool is_read = r->type == VIRTIO_BLK_T_IN;

                r->cur_iov = is_read ? in : out;
                r->cur_cnt = is_read ? in_num : out_num;
                r->data_len = iov_size(r->cur_iov, r->cur_cnt);
                if (!is_read && b->read_only) {
                        blk_log_bad(r, "write to a read-only disk at sector", sector);
                        blk_request_finish(r, STATS_STATUS_IOERR);
                        return;
                }
                if (!blk_range_ok(b, sector, r->data_len)) {
                        blk_log_bad(r, "sector", sector);
                        blk_log_bad(r, "length", r->data_len);
                        blk_request_finish(r, STATS_STATUS_IOERR);
                        return;
                }
                if (is_read)
                        r->in_len += (uint32_t) MIN(r->data_len, (uint64_t) UINT32_MAX - 1);
                if (r->data_len == 0) {
                        blk_request_finish(r, STATS_STATUS_OK);
                        return;
                }
                r->offset = sector * SECTOR_SIZE;
                r->left = r->data_len;
                blk_prepare_rw(r, is_read ? BLK_IO_READ : BLK_IO_WRITE);
                blk_submit(r);
                return;
        }

        case VIRTIO_BLK_T_FLUSH:
                if (b->read_only_opened) {
                        blk_request_finish(r, STATS_STATUS_OK);
                        return;
                }
                r->io.op = BLK_IO_FLUSH;
                r->io.fd = b->fd;
                blk_submit(r);
                return;

        case VIRTIO_BLK_T_GET_ID: {
                char id[VIRTIO_BLK_ID_BYTES] = {};
                size_t n;

                /* Up to 20 bytes, NUL-padded; no terminator when the serial fills all 20. */
                memcpy(id, b->serial, strnlen(b->serial, sizeof(id)));
                n = iov_from_buf(in, in_num, id, sizeof(id));
                r->in_len += (uint32_t) n;
                r->data_len = n;
                blk_request_finish(r, STATS_STATUS_OK);
                return;
        }

        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES: {
                struct virtio_blk_discard_write_zeroes seg;
                bool is_discard = r->type == VIRTIO_BLK_T_DISCARD;
                uint64_t seg_bytes = iov_size(out, out_num);
                uint32_t flags, n_sectors;

                if ((is_discard && !b->discard) || (!is_discard && !b->write_zeroes)) {
                        blk_log_bad(r, "not enabled on this device, type", r->type);
                        blk_request_finish(r, STATS_STATUS_UNSUPP);
                        return;
                }
                if (b->read_only) {
                        blk_log_bad(r, "on a read-only disk at sector", sector);
                        blk_request_finish(r, STATS_STATUS_IOERR);
                        return;
                }
                /* We advertise max_*_seg = 1: exactly one 16-byte segment. */
                if (seg_bytes != sizeof(seg)) {
                        blk_log_bad(r, "segment bytes (want 16)", seg_bytes);
                        blk_request_finish(r, STATS_STATUS_IOERR);
                        return;
                }
                iov_to_buf(out, out_num, 0, &seg, sizeof(seg));
                sector = le64toh(seg.sector);
                n_sectors = le32toh(seg.num_sectors);
                flags = le32toh(seg.flags);

                if (flags & ~(uint32_t) (is_discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)) {
                        blk_log_bad(r, "flags", flags);
                        blk_request_finish(r, STATS_STATUS_UNSUPP);
                        return;
                }
                if (n_sectors > BLK_MAX_DISCARD_SECTORS ||
                    !blk_range_ok(b, sector, (uint64_t) n_sectors * SECTOR_SIZE)) {
                        blk_log_bad(r, "range at sector", sector);
                        blk_request_finish(r, STATS_STATUS_IOERR);
                        return;
                }
                r->data_len = (uint64_t) n_sectors * SECTOR_SIZE;
                r->offset = sector * SECTOR_SIZE;
                r->left = r->data_len;
                if (r->left == 0) {
                        blk_request_finish(r, STATS_STATUS_OK);
                        return;
                }

                r->io.fd = b->fd;
                r->io.offset = r->offset;
                r->io.len = r->left;
                if (is_discard) {
                        if (b->block_device)
                                r->io.op = BLK_IO_BLKDISCARD;
                        else if (b->punch_hole_ok) {
                                r->io.op = BLK_IO_FALLOCATE;
                                r->io.mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
                        } else {
                                blk_request_finish(r, STATS_STATUS_OK); /* a hint we cannot act on */
                                return;
                        }
                } else {
                        r->unmap = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) && b->discard;
                        r->zero = b->block_device ? ZERO_BLKZEROOUT
                                  : r->unmap      ? ZERO_PUNCH_HOLE
                                                  : ZERO_RANGE;
                        blk_prepare_zero(r);
                }
                blk_submit(r);
                return;
        }

        default:
                blk_log_bad(r, "type", r->type);
                blk_request_finish(r, STATS_STATUS_UNSUPP);
                return;
        }
}

/*
 * A chain longer than a slot's iovecs (the driver ignored seg_max): answer
 * IOERR without a slot. Returns false if the chain could not be taken at
 * all (then the library has given up on the ring, or memory ran out).
 */
static bool blk_refuse_oversized(BlkQueue *q, VuVirtq *vq) {
        BlkDevice *b = q->blk;
        VuVirtqElement *e = vu_queue_pop(&b->dev.vu, vq, sizeof(VuVirtqElement));
        unsigned int len = 0;

        if (!e)
                return false;
        for (unsigned int i = e->in_num; i > 0; i--)
                if (e->in_sg[i - 1].iov_len > 0) {
                        ((uint8_t *) e->in_sg[i - 1].iov_base)[e->in_sg[i - 1].iov_len - 1] =
                                VIRTIO_BLK_S_IOERR;
                        len = 1;
                        break;
                }
        log_debug("%s: queue %u: request with %u+%u buffers exceeds seg_max %u, failing it", b->dev.id,
                  q->index, e->out_num, e->in_num, b->seg_max);
        vu_queue_push(&b->dev.vu, vq, e, len);
        q->need_notify = true;
        stats_account(&q->stats, STATS_REQ_OTHER, len ? STATS_STATUS_IOERR : STATS_STATUS_MALFORMED, 0);
        stats_account(&b->stats, STATS_REQ_OTHER, len ? STATS_STATUS_IOERR : STATS_STATUS_MALFORMED, 0);
        free(e);
        return true;
}

static void blk_queue_notify(BlkQueue *q) {
        VuVirtq *vq;

        if (!q->need_notify || q->blk->detaching)
                return;
        q->need_notify = false;
        vq = blk_queue_vq(q);
        if (vq)
                vu_queue_notify(&q->blk->dev.vu, vq);
}

static void blk_queue_process(BlkQueue *q) {
        BlkDevice *b = q->blk;
        VuDev *vu = &b->dev.vu;
        VuVirtq *vq;

        if (!q->started || !q->slots || b->draining || b->detaching || !b->dev.vu_ready || vu->broken)
                return;
        vq = blk_queue_vq(q);
        if (!vq)
                return;

        for (;;) {
                BlkRequest *r = q->free_list;
                int k;

                if (!r) {
                        q->starved = true; /* resumed when a completion frees a slot */
                        break;
                }
                k = vu_queue_pop_into(vu, vq, &r->elem, r->iov, b->iov_per_slot);
                if (k == 0)
                        break;
                if (k == -E2BIG) {
                        if (!blk_refuse_oversized(q, vq))
                                break;
                        continue;
                }
                if (k < 0)
                        break; /* the ring is malformed: the library panicked, we detach */
                q->free_list = r->next;
                blk_request_start(q, r);
        }

        blk_io_engine_flush(b->engine);
        blk_queue_notify(q);
}

static void blk_on_kick(VuDev *vu, int qidx) {
        BlkDevice *b = blk_from_vu(vu);

        if (qidx < 0 || (unsigned) qidx >= b->dev.queues)
                return;
        blk_queue_process(&b->queues[qidx]);
}

static void blk_batch_done(void *userdata) {
        BlkDevice *b = userdata;

        for (unsigned int i = 0; i < b->dev.queues; i++)
                blk_queue_notify(&b->queues[i]);
        for (unsigned int i = 0; i < b->dev.queues; i++)
                if (b->queues[i].starved && b->queues[i].free_list) {
                        b->queues[i].starved = false;
                        blk_queue_process(&b->queues[i]);
                }
        blk_io_engine_flush(b->engine);

        if (b->draining && b->stats.in_flight == 0)
                sidecar_check_stopped(b->dev.sidecar);
}

static int blk_on_deferred_kick(sd_event_source *source, void *userdata) {
        BlkDevice *b = userdata;

        b->kick_source = sd_event_source_disable_unref(b->kick_source);
        for (unsigned int i = 0; i < b->dev.queues; i++)
                blk_queue_process(&b->queues[i]);
        return 0;
}

/* ---- queues start and stop ----------------------------------------------- */

static void blk_queue_free_slots(BlkQueue *q) {
        free(q->slots);
        free(q->iov_pool);
        q->slots = NULL;
        q->iov_pool = NULL;
        q->free_list = NULL;
        q->n_slots = 0;
        q->starved = false;
}

static int blk_queue_alloc_slots(BlkQueue *q, unsigned int n) {
        BlkDevice *b = q->blk;

        if (q->slots && q->n_slots == n)
                return 0;
        blk_queue_free_slots(q);

        q->slots = calloc(n, sizeof(BlkRequest));
        q->iov_pool = calloc((size_t) n * b->iov_per_slot, sizeof(struct iovec));
        if (!q->slots || !q->iov_pool) {
                blk_queue_free_slots(q);
                return -ENOMEM;
        }
        q->n_slots = n;
        for (unsigned int i = n; i > 0; i--) {
                BlkRequest *r = &q->slots[i - 1];

                r->queue = q;
                r->iov = q->iov_pool + (size_t) (i - 1) * b->iov_per_slot;
                r->next = q->free_list;
                q->free_list = r;
        }
        return 0;
}

/* Wait for this device's I/O; throttled requests are submitted first, so everything completes. */
static void blk_flush_all(BlkDevice *b) {
        blk_throttle_run(b, true);
        blk_io_engine_drain(b->engine);
}

/* Exclusive for a writable image, shared for a read-only one; never blocks. */
static int blk_lock_take(BlkDevice *b) {
        if (b->lock_held)
                return 0;
        if (flock(b->fd, (b->read_only_opened ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        b->lock_held = true;
        return 0;
}

/* lock=running: the last queue stopped (or the frontend left), so another sidecar may now run the guest. */
static void blk_lock_release_idle(BlkDevice *b) {
        if (b->lock_mode != BLK_LOCK_RUNNING || !b->lock_held)
                return;
        for (unsigned int i = 0; i < b->dev.queues; i++)
                if (b->queues[i].started)
                        return;
        if (flock(b->fd, LOCK_UN) < 0) {
                log_warning_errno(errno, "%s: Failed to unlock image %s, ignoring: %m", b->dev.id, b->path);
                return;
        }
        b->lock_held = false;
        log_info("%s: no queue runs: image %s unlocked", b->dev.id, b->path);
}

static void blk_queue_set_started(VuDev *vu, int qidx, bool started) {
        BlkDevice *b = blk_from_vu(vu);
        BlkQueue *q;
        VuVirtq *vq;
        int r;

        if (qidx < 0 || (unsigned) qidx >= b->dev.queues)
                return;
        q = &b->queues[qidx];
        vq = vu_get_queue(vu, qidx);
        if (!vq)
                return;

        if (started) {
                unsigned int num = vq->vring.num;

                if (num == 0 || num > VIRTQUEUE_MAX_SIZE) {
                        log_warning("%s: queue %d: ring size %u is not usable, not serving it", b->dev.id,
                                    qidx, num);
                        return;
                }
                /*
                 * lock=running: whoever runs the guest holds the image. Serving without the lock could
                 * mix our writes with another sidecar's, so the queue is left unserved instead.
                 */
                if (b->lock_mode == BLK_LOCK_RUNNING && !b->lock_held) {
                        r = blk_lock_take(b);
                        if (r < 0) {
                                log_error_errno(r,
                                                "%s: queue %d: image %s is locked by another process (%m): "
                                                "not serving the queue",
                                                b->dev.id, qidx, b->path);
                                event_emit(b->dev.sidecar, &b->dev, "error",
                                           "queue %d not served: image %s is locked by another process",
                                           qidx, b->path);
                                return;
                        }
                        log_info("%s: queue %d starts: image %s locked", b->dev.id, qidx, b->path);
                }
                /* Requests of an earlier start of this queue must be done before the slots move. */
                if (q->slots && q->n_slots != num)
                        blk_flush_all(b);
                r = blk_queue_alloc_slots(q, num);
                if (r < 0) {
                        log_error_errno(r, "%s: queue %d: Failed to allocate %u request slots: %m",
                                        b->dev.id, qidx, num);
                        return;
                }
                q->started = true;
                vu_set_queue_handler(vu, vq, blk_on_kick);
                event_emit(b->dev.sidecar, &b->dev, "queue-start", "queue %d started, %u entries", qidx,
                           num);

                /* Requests may already be waiting (a reconnect, or kicks before the start). */
                if (!b->kick_source &&
                    sd_event_add_defer(b->dev.sidecar->event, &b->kick_source, blk_on_deferred_kick, b) < 0)
                        log_warning("%s: queue %d: Failed to schedule the first pass, waiting for a kick",
                                    b->dev.id, qidx);
        } else {
                if (!q->started)
                        return;
                /* GET_VRING_BASE: finish what was taken so the frontend gets a consistent ring. */
                q->started = false;
                blk_flush_all(b);
                blk_queue_notify(q);
                vu_set_queue_handler(vu, vq, NULL);
                blk_queue_free_slots(q);
                event_emit(b->dev.sidecar, &b->dev, "queue-stop", "queue %d stopped", qidx);
                blk_lock_release_idle(b);
        }
}

/* ---- the library's device interface -------------------------------------- */

static uint64_t blk_get_features(VuDev *vu) {
        BlkDevice *b = blk_from_vu(vu);
        uint64_t f = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
                     1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_MQ | 1ULL << VIRTIO_F_VERSION_1;

        b->ro_offered = b->read_only;
        if (b->read_only)
                f |= 1ULL << VIRTIO_BLK_F_RO;
        else {
                if (b->discard)
                        f |= 1ULL << VIRTIO_BLK_F_DISCARD;
                if (b->write_zeroes)
                        f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
        }
        return f;
}

static void blk_set_features(VuDev *vu, uint64_t features) {
        BlkDevice *b = blk_from_vu(vu);

        /* Without FLUSH the driver expects every completed write to be stable (virtio 1.2 5.2.6.1). */
        b->write_through = !(features & (1ULL << VIRTIO_BLK_F_FLUSH));
        if (b->write_through)
                log_debug("%s: the driver did not accept FLUSH (firmware, or an old driver): writes are "
                          "made stable one by one",
                          b->dev.id);
}

static uint64_t blk_get_protocol_features(VuDev *vu) {
        return 1ULL << VHOST_USER_PROTOCOL_F_CONFIG | 1ULL << VHOST_USER_PROTOCOL_F_MQ;
}

static int blk_get_config(VuDev *vu, uint8_t *config, uint32_t len) {
        BlkDevice *b = blk_from_vu(vu);
        struct virtio_blk_config c = {};

        c.capacity = htole64(b->capacity);
        c.seg_max = htole32(b->seg_max);
        c.blk_size = htole32(b->blk_size);
        c.num_queues = htole16((uint16_t) b->dev.queues);
        c.max_discard_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
        c.max_discard_seg = htole32(1);
        c.discard_sector_alignment = htole32(b->blk_size / SECTOR_SIZE);
        c.max_write_zeroes_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
        c.max_write_zeroes_seg = htole32(1);
        c.write_zeroes_may_unmap = b->discard ? 1 : 0;

        memset(config, 0, len);
        memcpy(config, &c, MIN((size_t) len, sizeof(c)));
        return 0;
}

static int blk_set_config(VuDev *vu, const uint8_t *data, uint32_t offset, uint32_t size, uint32_t flags) {
        BlkDevice *b = blk_from_vu(vu);

        /* Nothing in our config space is writable (no CONFIG_WCE). */
        log_debug("%s: ignoring a config write of %" PRIu32 " bytes at offset %" PRIu32, b->dev.id, size,
                  offset);
        return -1;
}

static bool blk_queue_is_processed_in_order(VuDev *vu, int qidx) {
        return false; /* completions come back in whatever order the I/O finishes */
}

static const char *blk_feature_name(unsigned int bit) {
        switch (bit) {
        case VIRTIO_BLK_F_SIZE_MAX:
                return "SIZE_MAX";
        case VIRTIO_BLK_F_SEG_MAX:
                return "SEG_MAX";
        case VIRTIO_BLK_F_GEOMETRY:
                return "GEOMETRY";
        case VIRTIO_BLK_F_RO:
                return "RO";
        case VIRTIO_BLK_F_BLK_SIZE:
                return "BLK_SIZE";
        case VIRTIO_BLK_F_FLUSH:
                return "FLUSH";
        case VIRTIO_BLK_F_TOPOLOGY:
                return "TOPOLOGY";
        case VIRTIO_BLK_F_CONFIG_WCE:
                return "CONFIG_WCE";
        case VIRTIO_BLK_F_MQ:
                return "MQ";
        case VIRTIO_BLK_F_DISCARD:
                return "DISCARD";
        case VIRTIO_BLK_F_WRITE_ZEROES:
                return "WRITE_ZEROES";
        default:
                return NULL;
        }
}

static const VuDevIface blk_iface = {
        .get_features = blk_get_features,
        .set_features = blk_set_features,
        .get_protocol_features = blk_get_protocol_features,
        .queue_set_started = blk_queue_set_started,
        .queue_is_processed_in_order = blk_queue_is_processed_in_order,
        .get_config = blk_get_config,
        .set_config = blk_set_config,
};

/* ---- DeviceVTable --------------------------------------------------------- */

static int blk_start(Device *d) {
        BlkDevice *b = blk_from_device(d);

        b->detaching = false;
        b->write_through = false;
        return 0;
}

static void blk_stop(Device *d) {
        BlkDevice *b = blk_from_device(d);

        /* The frontend is gone or broken: nothing may touch its memory any more, nothing is pushed. */
        b->detaching = true;
        b->kick_source = sd_event_source_disable_unref(b->kick_source);
        while (b->throttle_head) {
                BlkRequest *r = b->throttle_head;

                b->throttle_head = r->next;
                blk_request_release(r);
        }
        b->throttle_tail = NULL;
        b->throttle_waiting = 0;
        blk_io_engine_drain(b->engine);
        for (unsigned int i = 0; i < d->queues; i++) {
                b->queues[i].started = false;
                b->queues[i].need_notify = false;
                blk_queue_free_slots(&b->queues[i]);
        }
        blk_lock_release_idle(b);
}

static void blk_reset(Device *d) {
        BlkDevice *b = blk_from_device(d);

        b->detaching = false;
        b->write_through = false;
        if (b->draining)
                sidecar_check_stopped(d->sidecar);
}

static void blk_drain(Device *d) {
        BlkDevice *b = blk_from_device(d);

        b->draining = true;
        b->kick_source = sd_event_source_disable_unref(b->kick_source);
        blk_throttle_run(b, true);
        blk_io_engine_flush(b->engine);
        if (b->stats.in_flight == 0)
                sidecar_check_stopped(d->sidecar);
}

static uint64_t blk_in_flight(Device *d) {
        return blk_from_device(d)->stats.in_flight;
}

static void blk_fill_stats(Device *d, IoStats *ret) {
        *ret = blk_from_device(d)->stats;
}

static int blk_fill_queue_stats(Device *d, unsigned int qidx, IoStats *ret) {
        BlkDevice *b = blk_from_device(d);

        if (qidx >= d->queues)
                return -EINVAL;
        *ret = b->queues[qidx].stats;
        return 0;
}

static void blk_reset_stats(Device *d) {
        BlkDevice *b = blk_from_device(d);

        stats_reset(&b->stats);
        for (unsigned int i = 0; i < d->queues; i++)
                stats_reset(&b->queues[i].stats);
}

static void blk_reload(Device *d) {
        (void) blk_refresh_size(d);
}

static void blk_free(Device *d) {
        BlkDevice *b = blk_from_device(d);

        b->detaching = true;
        b->engine = blk_io_engine_free(b->engine);
        b->throttle_timer = sd_event_source_disable_unref(b->throttle_timer);
        b->kick_source = sd_event_source_disable_unref(b->kick_source);
        if (b->queues)
                for (unsigned int i = 0; i < d->queues; i++)
                        blk_queue_free_slots(&b->queues[i]);
        free(b->queues);
        free(b->zero_buf);
        free(b->path);
        safe_close(b->fd);
        safe_close(b->fd_direct);
        free(b);
}

static const DeviceVTable blk_vtable = {
        .type_name = "blk",
        .iface = &blk_iface,
        .feature_name = blk_feature_name,
        .start = blk_start,
        .stop = blk_stop,
        .reset = blk_reset,
        .drain = blk_drain,
        .in_flight = blk_in_flight,
        .fill_stats = blk_fill_stats,
        .fill_queue_stats = blk_fill_queue_stats,
        .reset_stats = blk_reset_stats,
        .reload = blk_reload,
        .free = blk_free,
};

/* ---- the image ------------------------------------------------------------ */

static int blk_read_size(BlkDevice *b, uint64_t *ret) {
        struct stat st;

        if (fstat(b->fd, &st) < 0)
                return -errno;
        if (S_ISBLK(st.st_mode)) {
                uint64_t size;

                if (ioctl(b->fd, BLKGETSIZE64, &size) < 0)
                        return -errno;
                *ret = size;
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        *ret = (uint64_t) st.st_size;
        return 0;
}

static int blk_open_image(BlkDevice *b, const BlkConfig *c) {
        int flags = (c->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY;
        struct stat st;
        int r;

        b->fd = open(c->path, flags);
        if (b->fd < 0) {
                r = -errno;
                if (!c->read_only && (r == -EACCES || r == -EROFS || r == -EPERM))
                        return log_error_errno(r,
                                               "%s: Failed to open image %s read-write: %m (read-only=on "
                                               "serves it read-only)",
                                               c->id, c->path);
                return log_error_errno(r, "%s: Failed to open image %s: %m", c->id, c->path);
        }
        if (fstat(b->fd, &st) < 0)
                return log_error_errno(errno, "%s: Failed to stat image %s: %m", c->id, c->path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return log_error_errno(EBADFD, "%s: image %s is neither a regular file nor a block device.",
                                       c->id, c->path);
        b->block_device = S_ISBLK(st.st_mode);
        if (b->block_device && !c->read_only) {
                int ro = 0;

                /* Linux opens a read-only block device for writing: only the guest's writes would fail. */
                if (ioctl(b->fd, BLKROGET, &ro) >= 0 && ro)
                        return log_error_errno(EROFS,
                                               "%s: image %s is a read-only block device, but "
                                               "read-only=off: serve it with read-only=on (or make it "
                                               "writable: blockdev --setrw)",
                                               c->id, c->path);
        }

        /*
         * Two sidecars must not serve one image read-write: exclusive for rw, shared for ro. With
         * lock=running the lock is taken when queues start (live migration: see BlkLock).
         */
        b->lock_mode = c->lock;
        if (c->lock == BLK_LOCK_ON) {
                r = blk_lock_take(b);
                if (r == -EBUSY)
                        return log_error_errno(
                                EBUSY, "%s: image %s is in use by another process (it holds %s lock).",
                                c->id, c->path, c->read_only ? "an exclusive" : "a");
                if (r < 0)
                        return log_error_errno(r, "%s: Failed to lock image %s: %m", c->id, c->path);
        } else
                log_info("%s: image %s is locked %s", c->id, c->path,
                         c->lock == BLK_LOCK_OFF ? "never (lock=off)"
                                                 : "only while queues run (lock=running)");

        /*
         * cache=none (and the default) bypasses the host page cache; the default falls back to it on
         * file systems without O_DIRECT (tmpfs), an explicit cache=none does not start there.
         */
        if (c->cache != BLK_CACHE_WRITEBACK) {
                b->fd_direct = open(c->path, flags | O_DIRECT);
                if (b->fd_direct < 0) {
                        r = -errno;
                        if (c->cache == BLK_CACHE_NONE)
                                return log_error_errno(r,
                                                       "%s: image %s: cache=none needs O_DIRECT, which the "
                                                       "file system refused: %m (use cache=writeback)",
                                                       c->id, c->path);
                        log_notice_errno(r, "%s: image %s: O_DIRECT refused (%m), using the page cache",
                                         c->id, c->path);
                }
        }

        b->blk_size = SECTOR_SIZE;
        if (b->block_device) {
                int lbs = 0;

                if (ioctl(b->fd, BLKSSZGET, &lbs) >= 0 && lbs >= (int) SECTOR_SIZE && lbs <= 65536 &&
                    (lbs & (lbs - 1)) == 0)
                        b->blk_size = (uint32_t) lbs;
        }

        r = blk_read_size(b, &b->size);
        if (r < 0)
                return log_error_errno(r, "%s: Failed to read the size of image %s: %m", c->id, c->path);
        b->capacity = b->size / SECTOR_SIZE;
        if (b->size % SECTOR_SIZE != 0)
                log_warning("%s: image %s is %" PRIu64 " bytes, not a multiple of 512; the last %" PRIu64
                            " bytes are not served",
                            c->id, c->path, b->size, b->size % SECTOR_SIZE);
        return 0;
}

int blk_device_new(Sidecar *s, const BlkConfig *c, Device **ret) {
        BlkDevice *b;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_oom();
        b->fd = -EBADF;
        b->fd_direct = -EBADF;

        r = device_init(&b->dev, s, &blk_vtable, DEVICE_BLK, c->id, c->queues, c->mode, c->socket);
        if (r < 0) {
                device_free(&b->dev);
                return log_oom();
        }

        b->path = strdup(c->path);
        if (!b->path) {
                device_free(&b->dev);
                return log_oom();
        }
        snprintf(b->serial, sizeof(b->serial), "%s", c->serial ? c->serial : c->id);
        b->read_only_opened = b->read_only = c->read_only;
        b->discard = c->discard;
        b->write_zeroes = c->write_zeroes;
        b->zero_range_ok = b->punch_hole_ok = true;
        b->queue_size = c->queue_size;
        b->seg_max = MIN(c->queue_size - 2, BLK_SEG_MAX_LIMIT);
        b->iov_per_slot = b->seg_max + BLK_IOV_SLACK;

        r = blk_open_image(b, c);
        if (r < 0) {
                device_free(&b->dev);
                return r;
        }

        b->queues = calloc(c->queues, sizeof(BlkQueue));
        b->zero_buf = aligned_alloc(4096, BLK_ZERO_BUF_SIZE);
        if (!b->queues || !b->zero_buf) {
                device_free(&b->dev);
                return log_oom();
        }
        memset(b->zero_buf, 0, BLK_ZERO_BUF_SIZE);
        for (unsigned int i = 0; i < c->queues; i++) {
                b->queues[i].blk = b;
                b->queues[i].index = i;
        }

        r = blk_io_engine_new(s->io_engine, s->event, MIN(c->queues * c->queue_size, 4096u), blk_io_done,
                              blk_batch_done, b, &b->engine);
        if (r < 0) {
                log_error_errno(r, "%s: Failed to set up the %s I/O engine: %m", c->id,
                                io_engine_to_string(s->io_engine));
                device_free(&b->dev);
                return r;
        }

        throttle_set_limits(&b->throttle, c->iops, c->bps, now_usec(CLOCK_MONOTONIC));

        log_info("%s: image %s: %" PRIu64 " bytes (%" PRIu64 " sectors), %s%s, %s, %s I/O, %u queue(s)",
                 c->id, c->path, b->size, b->capacity, b->block_device ? "block device" : "file",
                 b->fd_direct >= 0 ? ", cache=none (O_DIRECT)" : ", cache=writeback (page cache)",
                 b->read_only ? "read-only" : "read-write",
                 blk_io_engine_name(b->engine), c->queues);
        *ret = &b->dev;
        return 0;
}

/* ---- mutators ------------------------------------------------------------- */

static void blk_announce_capacity(BlkDevice *b, uint64_t old_capacity) {
        b->resizes++;
        log_info("%s: capacity changed from %" PRIu64 " to %" PRIu64 " sectors", b->dev.id, old_capacity,
                 b->capacity);
        event_emit(b->dev.sidecar, &b->dev, "resize", "capacity %" PRIu64 " -> %" PRIu64 " sectors",
                   old_capacity, b->capacity);
        if (!device_is_connected(&b->dev))
                return;
        if (!vu_config_change_msg(&b->dev.vu))
                log_warning(
                        "%s: could not tell the frontend about the new capacity (backend channel or CONFIG "
                        "not negotiated); the guest sees it after it reconnects",
                        b->dev.id);
}

int blk_refresh_size(Device *d) {
        BlkDevice *b;
        uint64_t size, old;
        int r;

        if (!device_is_blk(d))
                return -EINVAL;
        b = blk_from_device(d);
        r = blk_read_size(b, &size);
        if (r < 0)
                return log_warning_errno(r, "%s: Failed to re-read the size of %s, ignoring: %m", d->id,
                                         b->path);
        b->size = size;
        if (size / SECTOR_SIZE == b->capacity)
                return 0;
        old = b->capacity;
        b->capacity = size / SECTOR_SIZE;
        blk_announce_capacity(b, old);
        return 1;
}

int blk_resize(Device *d, uint64_t size_bytes) {
        BlkDevice *b;

        if (!device_is_blk(d))
                return -EINVAL;
        b = blk_from_device(d);
        if (size_bytes == 0 || size_bytes % SECTOR_SIZE != 0 || size_bytes > (uint64_t) INT64_MAX)
                return -EINVAL;
        if (b->block_device)
                return -ENOTTY;
        if (b->read_only_opened)
                return -EROFS;
        if (ftruncate(b->fd, (off_t) size_bytes) < 0)
                return log_warning_errno(errno, "%s: Failed to resize %s to %" PRIu64 " bytes: %m", d->id,
                                         b->path, size_bytes);
        return blk_refresh_size(d) < 0 ? -EIO : 0;
}

int blk_set_read_only(Device *d, bool read_only) {
        BlkDevice *b;

        if (!device_is_blk(d))
                return -EINVAL;
        b = blk_from_device(d);
        if (!read_only && b->read_only_opened)
                return -EPERM;
        if (b->read_only != read_only) {
                b->read_only = read_only;
                log_info("%s: now %s", d->id, read_only ? "read-only" : "read-write");
                event_emit(d->sidecar, d, "read-only", "%s", read_only ? "on" : "off");
        }
        return 0;
}

int blk_set_limits(Device *d, uint64_t iops, uint64_t bps) {
        BlkDevice *b;

        if (!device_is_blk(d))
                return -EINVAL;
        b = blk_from_device(d);
        throttle_set_limits(&b->throttle, iops, bps, now_usec(CLOCK_MONOTONIC));
        log_info("%s: I/O limits: iops=%" PRIu64 " bps=%" PRIu64, d->id, iops, bps);
        event_emit(d->sidecar, d, "limits", "iops=%" PRIu64 " bps=%" PRIu64, iops, bps);
        blk_throttle_run(b, !throttle_enabled(&b->throttle));
        blk_io_engine_flush(b->engine);
        return 0;
}

int blk_get_info(Device *d, BlkInfo *ret) {
        BlkDevice *b;

        if (!device_is_blk(d) || !ret)
                return -EINVAL;
        b = blk_from_device(d);
        *ret = (BlkInfo){
                .path = b->path,
                .serial = b->serial,
                .io_engine = blk_io_engine_name(b->engine),
                .block_device = b->block_device,
                .direct = b->fd_direct >= 0,
                .read_only = b->read_only,
                .read_only_negotiated =
                        device_is_connected(d) && (d->vu.features & (1ULL << VIRTIO_BLK_F_RO)),
                .discard = b->discard,
                .write_zeroes = b->write_zeroes,
                .size_bytes = b->size,
                .capacity_sectors = b->capacity,
                .blk_size = b->blk_size,
                .seg_max = b->seg_max,
                .queues = d->queues,
                .queue_size = b->queue_size,
                .iops_limit = b->throttle.iops,
                .bps_limit = b->throttle.bps,
                .throttled_waiting = b->throttle_waiting,
                .resizes = b->resizes,
        };
        return 0;
}
