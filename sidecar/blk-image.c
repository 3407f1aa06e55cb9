/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The blk device's image: opening it (O_DIRECT where the file system
 * allows it, refusing a read-only block device served read-write), its
 * size and logical block size, the flock() that keeps two sidecars from
 * serving it read-write, and the mutators the control socket and SIGHUP
 * call while it runs (resize, read-only, I/O limits, info).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk-internal.h"
#include "events.h"
#include "log.h"
#include "sidecar.h"

/* ---- the lock ------------------------------------------------------------- */

/* Exclusive for a writable image, shared for a read-only one; never blocks. */
int blk_lock_take(BlkDevice *b) {
        if (b->lock_held)
                return 0;
        if (flock(b->fd, (b->read_only_opened ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        b->lock_held = true;
        return 0;
}

/* lock=running: the last queue stopped (or the frontend left), so another sidecar may now run the guest. */
void blk_lock_release_idle(BlkDevice *b) {
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

/*
 * The blk device of this process that already has @b's image open, if any: flock() locks
 * per open file, so a second device on the same image is refused like another process's.
 */
static BlkDevice *blk_same_image(BlkDevice *b) {
        Sidecar *s = b->dev.sidecar;
        struct stat st, o;

        if (!s || fstat(b->fd, &st) < 0)
                return NULL;
        for (size_t i = 0; i < s->n_devices; i++) {
                BlkDevice *x;

                if (s->devices[i]->type != DEVICE_BLK)
                        continue;
                x = blk_from_device(s->devices[i]);
                if (x == b || x->fd < 0 || fstat(x->fd, &o) < 0)
                        continue;
                if (S_ISBLK(st.st_mode) ? S_ISBLK(o.st_mode) && o.st_rdev == st.st_rdev
                                        : o.st_dev == st.st_dev && o.st_ino == st.st_ino)
                        return x;
        }
        return NULL;
}

int blk_open_image(BlkDevice *b, const BlkConfig *c) {
        BlkDevice *other;
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
                if (r == -EBUSY && (other = blk_same_image(b)))
                        return log_error_errno(
                                EBUSY,
                                "%s: image %s is already served by device %s of this sidecar (as %s): one "
                                "image backs one writable device (read-only=on on every device shares it).",
                                c->id, c->path, other->dev.id, other->path);
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
