/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-blk device over a raw image file or a block device, and the
 * mutators the control socket calls while it runs. Every function here
 * runs on the event-loop thread and takes a Device that blk_device_new()
 * made (device_is_blk() tells).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "options.h"

/*
 * Open the image of @config (O_DIRECT where the file system allows it,
 * flock()ed so two sidecars cannot serve it read-write), set up its I/O
 * engine, and return the device in @ret. The device does not listen yet
 * (device_listen()). Returns 0 or -errno after logging what failed with
 * the path and the reason.
 */
int blk_device_new(Sidecar *s, const BlkConfig *config, Device **ret);

bool device_is_blk(const Device *d);

/* What the control socket shows about a blk device. Strings point into the device. */
typedef struct BlkInfo {
        const char *path;
        const char *serial;
        const char *io_engine; /* "io_uring" or "threads" */
        bool block_device;
        bool direct;               /* O_DIRECT in use */
        bool read_only;            /* as now enforced (blk_set_read_only() may change it) */
        bool read_only_negotiated; /* VIRTIO_BLK_F_RO as offered to the current frontend */
        bool discard;
        bool write_zeroes;
        uint64_t size_bytes;       /* image size */
        uint64_t capacity_sectors; /* 512-byte sectors announced to the guest */
        uint32_t blk_size;
        uint32_t seg_max;
        unsigned int queues;
        unsigned int queue_size;
        uint64_t iops_limit; /* 0 = none */
        uint64_t bps_limit;
        uint64_t throttled_waiting; /* requests waiting for the limits now */
        uint64_t resizes;           /* capacity changes announced */
} BlkInfo;

/* Fill @ret. Returns 0, or -EINVAL if @d is not a blk device. */
int blk_get_info(Device *d, BlkInfo *ret);

/*
 * Change the image's size to @size_bytes (a multiple of 512; regular files
 * only: ftruncate) and announce the new capacity to the guest (config
 * change through the backend channel, if a frontend is connected and
 * negotiated it). Returns 0, -EINVAL (not a multiple of 512, or 0),
 * -ENOTTY (a block device: resize it underneath and SIGHUP us), -EROFS
 * (read-only device) or the ftruncate() errno.
 */
int blk_resize(Device *d, uint64_t size_bytes);

/*
 * Re-read the image's size (SIGHUP does this) and announce it if it
 * changed. Returns 1 if the capacity changed, 0 if not, or -errno.
 */
int blk_refresh_size(Device *d);

/*
 * Refuse (or allow again) writes, discards and write-zeroes from now on:
 * they fail with VIRTIO_BLK_S_IOERR. The RO feature bit a frontend already
 * negotiated cannot change, so the guest learns of it on its next
 * connection. Making a read-only-opened image writable returns -EPERM.
 */
int blk_set_read_only(Device *d, bool read_only);

/* New I/O limits (0 = none); requests waiting for the old ones are re-evaluated. Returns 0. */
int blk_set_limits(Device *d, uint64_t iops, uint64_t bps);
