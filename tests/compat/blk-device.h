/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blk-device: a small virtio-blk device written only against the
 * long-standing libvhost-user API (libvhost-user.h, nothing else of ours),
 * the way a hand-rolled backend looks: its own poll() table fed by
 * set_watch/remove_watch, a RAM disk or a file, and IN/OUT/FLUSH/GET_ID.
 * It proves source compatibility (it builds against the seed's header too)
 * and it is the device the ring benchmark drives, so the same file can be
 * linked against another libvhost-user to compare.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "libvhost-user.h"

#define BLK_MAX_WATCHES 64
#define BLK_SECTOR 512u

typedef struct BlkDevice BlkDevice;

/*
 * How the device takes a request off a queue and gives it back. The
 * default is vu_queue_pop() and free(); a program can swap in another
 * (the benchmark's no-allocation pop) without touching this file.
 */
typedef VuVirtqElement *(*blk_pop_cb)(BlkDevice *blk, VuVirtq *vq);
typedef void (*blk_release_cb)(BlkDevice *blk, VuVirtqElement *elem);

typedef struct BlkWatch {
        int fd;
        int events;
        vu_watch_cb cb;
        void *data;
} BlkWatch;

struct BlkDevice {
        VuDev dev;         /* first: the library's callbacks hand back &dev */
        uint8_t *disk;     /* RAM disk, or NULL with a file */
        int disk_fd;       /* file, or -1 with a RAM disk */
        uint64_t capacity; /* bytes */
        char serial[20];
        bool read_only;

        BlkWatch watches[BLK_MAX_WATCHES];
        int nwatches;

        blk_pop_cb pop;
        blk_release_cb release;
        void *userdata;

        uint64_t requests; /* completed */
        bool panicked;
};

/*
 * Prepare @blk on connected socket @sock (not taken over) with a zeroed RAM
 * disk of @capacity bytes (@path NULL) or the file at @path (its size).
 * Returns 0, or -1 with errno set.
 */
int blk_device_init(BlkDevice *blk, int sock, const char *path, uint64_t capacity, const char *serial);

/* vu_deinit() and release the disk. The socket stays the caller's. */
void blk_device_deinit(BlkDevice *blk);

/*
 * One turn of the device's loop: poll the socket and the watched fds for
 * up to @timeout_ms, dispatch a message, run ready watches. Returns false
 * once the frontend is gone or the connection broke.
 */
bool blk_device_run_once(BlkDevice *blk, int timeout_ms);

/* Handle every request waiting on queue @qidx (what the kick watch does). */
void blk_device_process_queue(BlkDevice *blk, int qidx);
