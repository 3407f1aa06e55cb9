/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine-independent part of blk-io.h: construction, the dispatch to
 * an engine's table, and the synchronous execution of one request that the
 * thread pool (and io_uring, for the ioctls it cannot do) relies on.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "blk-io.h"
#include "macro.h"

int blk_io_engine_new(IoEngineKind kind, sd_event *event, unsigned int depth, blk_io_done_t done,
                      blk_io_batch_done_t batch_done, void *userdata, BlkIoEngine **ret) {
        BlkIoEngine *e;
        int r;

        if (!event || !done || !ret || depth == 0)
                return -EINVAL;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->ops = kind == IO_ENGINE_IO_URING ? &blk_io_uring_ops : &blk_io_threads_ops;
        e->event = sd_event_ref(event);
        e->done = done;
        e->batch_done = batch_done;
        e->userdata = userdata;

        r = e->ops->init(e, depth);
        if (r < 0) {
                sd_event_unref(e->event);
                free(e);
                return r;
        }
        *ret = e;
        return 0;
}

BlkIoEngine *blk_io_engine_free(BlkIoEngine *e) {
        if (!e)
                return NULL;
        blk_io_engine_drain(e);
        e->ops->done(e);
        sd_event_unref(e->event);
        free(e);
        return NULL;
}

int blk_io_engine_submit(BlkIoEngine *e, BlkIoRequest *req) {
        int r;

        if ((unsigned) req->op >= _BLK_IO_OP_MAX)
                return -EINVAL;
        r = e->ops->submit(e, req);
        if (r >= 0)
                e->in_flight++;
        return r;
}

void blk_io_engine_flush(BlkIoEngine *e) {
        e->ops->flush(e);
}

void blk_io_engine_drain(BlkIoEngine *e) {
        if (e->in_flight > 0)
                e->ops->drain(e);
}

unsigned int blk_io_engine_in_flight(const BlkIoEngine *e) {
        return e->in_flight;
}

const char *blk_io_engine_name(const BlkIoEngine *e) {
        return e->ops->name;
}

void blk_io_complete(BlkIoEngine *e, BlkIoRequest *req) {
        if (e->in_flight > 0)
                e->in_flight--;
        e->done(req, e->userdata);
}

void blk_io_execute(BlkIoRequest *req) {
        uint64_t range[2] = {req->offset, req->len};
        ssize_t n;

        switch (req->op) {
        case BLK_IO_READ:
                n = preadv2(req->fd, req->iov, (int) req->iovcnt, (off_t) req->offset, req->rw_flags);
                req->result = n < 0 ? -errno : n;
                break;
        case BLK_IO_WRITE:
                n = pwritev2(req->fd, req->iov, (int) req->iovcnt, (off_t) req->offset, req->rw_flags);
                req->result = n < 0 ? -errno : n;
                break;
        case BLK_IO_FLUSH:
                req->result = fdatasync(req->fd) < 0 ? -errno : 0;
                break;
        case BLK_IO_FALLOCATE:
                req->result = fallocate(req->fd, req->mode, (off_t) req->offset, (off_t) req->len) < 0
                                      ? -errno
                                      : 0;
                break;
        case BLK_IO_BLKDISCARD:
                req->result = ioctl(req->fd, BLKDISCARD, range) < 0 ? -errno : 0;
                break;
        case BLK_IO_BLKZEROOUT:
                req->result = ioctl(req->fd, BLKZEROOUT, range) < 0 ? -errno : 0;
                break;
        default:
                req->result = -EINVAL;
        }
}
