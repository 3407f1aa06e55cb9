/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The blk device's asynchronous I/O engines behind one interface:
 * io-uring.c (liburing; completions signalled through an eventfd that
 * sd-event watches) and io-threads.c (a small pthread pool doing the same
 * syscalls, completing through an eventfd). Both run the completion
 * callbacks on the event-loop thread, so the device needs no locks.
 *
 * The caller owns every BlkIoRequest (it lives in a per-queue slot) and
 * must keep it, and the memory its iovecs point at, valid until done().
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <systemd/sd-event.h>

#include "options.h"

typedef enum BlkIoOp {
        BLK_IO_READ,       /* preadv(fd, iov, iovcnt, offset) */
        BLK_IO_WRITE,      /* pwritev(fd, iov, iovcnt, offset) */
        BLK_IO_FLUSH,      /* fdatasync(fd) */
        BLK_IO_FALLOCATE,  /* fallocate(fd, mode, offset, len) */
        BLK_IO_BLKDISCARD, /* ioctl(fd, BLKDISCARD, {offset, len}) */
        BLK_IO_BLKZEROOUT, /* ioctl(fd, BLKZEROOUT, {offset, len}) */
        _BLK_IO_OP_MAX,
} BlkIoOp;

typedef struct BlkIoRequest {
        BlkIoOp op;
        int fd;
        const struct iovec *iov;
        unsigned int iovcnt;
        uint64_t offset;
        uint64_t len; /* FALLOCATE / BLK* ranges */
        int mode;     /* FALLOCATE mode */
        int rw_flags; /* READ/WRITE: RWF_* (RWF_DSYNC for write-through) */

        int64_t result;            /* set before done(): bytes transferred (READ/WRITE), 0, or -errno */
        struct BlkIoRequest *next; /* engine-private */
} BlkIoRequest;

/* Called on the event-loop thread once per finished request. */
typedef void (*blk_io_done_t)(BlkIoRequest *req, void *userdata);
/* Called after a run of done() calls (a good place to notify the guest once). */
typedef void (*blk_io_batch_done_t)(void *userdata);

typedef struct BlkIoEngine BlkIoEngine;

/*
 * Create an engine of @kind (IO_ENGINE_IO_URING or IO_ENGINE_THREADS) on
 * @event, sized for @depth concurrent requests. Returns 0 or -errno.
 */
int blk_io_engine_new(IoEngineKind kind, sd_event *event, unsigned int depth, blk_io_done_t done,
                      blk_io_batch_done_t batch_done, void *userdata, BlkIoEngine **ret);

/* Wait for every submitted request (their done() is called), then free. NULL-safe; returns NULL. */
BlkIoEngine *blk_io_engine_free(BlkIoEngine *e);

/*
 * Queue @req. It may not reach the kernel until blk_io_engine_flush().
 * Returns 0, or -errno if it could not be queued (done() is then not called).
 */
int blk_io_engine_submit(BlkIoEngine *e, BlkIoRequest *req);

/* Hand queued requests to the kernel or the workers (one syscall per batch). */
void blk_io_engine_flush(BlkIoEngine *e);

/* Block until every submitted request has completed and its done() ran. */
void blk_io_engine_drain(BlkIoEngine *e);

/* Requests submitted and not yet completed. */
unsigned int blk_io_engine_in_flight(const BlkIoEngine *e);

/* "io_uring" or "threads". */
const char *blk_io_engine_name(const BlkIoEngine *e);

/*
 * Can io_uring be used here? 0 if a ring could be created, else the
 * negative errno io_uring_queue_init() gave (-ENOSYS/-EPERM under a
 * container's seccomp profile).
 */
int blk_io_uring_probe(void);

/* Run one request synchronously on the calling thread (what a worker does); sets req->result. */
void blk_io_execute(BlkIoRequest *req);

/* Engine-private: the function tables of the two engines. */
typedef struct BlkIoEngineOps {
        const char *name;
        int (*init)(BlkIoEngine *e, unsigned int depth);
        int (*submit)(BlkIoEngine *e, BlkIoRequest *req);
        void (*flush)(BlkIoEngine *e);
        void (*drain)(BlkIoEngine *e);
        void (*done)(BlkIoEngine *e);
} BlkIoEngineOps;

struct BlkIoEngine {
        const BlkIoEngineOps *ops;
        sd_event *event;
        blk_io_done_t done;
        blk_io_batch_done_t batch_done;
        void *userdata;
        unsigned int in_flight;
        void *priv;
};

extern const BlkIoEngineOps blk_io_uring_ops;
extern const BlkIoEngineOps blk_io_threads_ops;

/* For the engines: report @req finished (in_flight--, done()). */
void blk_io_complete(BlkIoEngine *e, BlkIoRequest *req);
