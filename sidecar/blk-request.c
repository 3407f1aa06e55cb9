/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The blk device's per-request path: a kick pops requests, each is
 * validated, submitted within the I/O limits and completed. It is one
 * file so that the compiler inlines the whole path.
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
#include <linux/virtio_blk.h>
#include <stdlib.h>
#include <string.h>

#include "blk-internal.h"
#include "log.h"
#include "sidecar.h"

#define _fallthrough_ __attribute__((fallthrough))

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
void blk_throttle_run(BlkDevice *b, bool force) {
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

void blk_io_done(BlkIoRequest *io, void *userdata) {
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

void blk_on_kick(VuDev *vu, int qidx) {
        BlkDevice *b = blk_from_vu(vu);

        if (qidx < 0 || (unsigned) qidx >= b->dev.queues)
                return;
        blk_queue_process(&b->queues[qidx]);
}

void blk_batch_done(void *userdata) {
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

int blk_on_deferred_kick(sd_event_source *source, void *userdata) {
        BlkDevice *b = userdata;

        b->kick_source = sd_event_source_disable_unref(b->kick_source);
        for (unsigned int i = 0; i < b->dev.queues; i++)
                blk_queue_process(&b->queues[i]);
        return 0;
}
