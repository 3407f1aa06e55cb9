/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-blk over a raw image file or a block device: the device itself.
 * Here are its construction, what it offers the frontend (features and
 * config space), its DeviceVTable (life cycle across frontends, counters)
 * and its queues' start and stop (request slots, the image lock with
 * lock=running). The per-request path is in blk-request.c, the image and
 * the control socket's mutators in blk-image.c; blk-internal.h holds the
 * types they share.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk-internal.h"
#include "events.h"
#include "log.h"
#include "sidecar.h"

#define BLK_SEG_MAX_LIMIT 254u /* Linux's own cap on segments per request */
#define BLK_IOV_SLACK 32u      /* iovecs beyond seg_max: header, status, region splits */

static const DeviceVTable blk_vtable;

bool device_is_blk(const Device *d) {
        return d && d->vtable == &blk_vtable;
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

/*
 * One offer per connection. QEMU reads GET_FEATURES once, when it connects,
 * and sends those bits back in SET_FEATURES each time the guest's driver
 * starts (boot, reboot, driver reload); the library refuses bits that were
 * not offered. Had `vuctl set read-only` changed the offer in between, the
 * next SET_FEATURES was refused, the ring came up without INDIRECT_DESC and
 * the first request killed the connection. A read-only switch during a
 * connection is enforced per request instead (IOERR on writes, discards
 * and write-zeroes); the next frontend sees VIRTIO_BLK_F_RO.
 */
static uint64_t blk_get_features(VuDev *vu) {
        BlkDevice *b = blk_from_vu(vu);
        uint64_t f = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
                     1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_MQ | 1ULL << VIRTIO_F_VERSION_1;

        if (b->features_offered)
                return b->features_offered;
        b->ro_offered = b->read_only;
        if (b->read_only)
                f |= 1ULL << VIRTIO_BLK_F_RO;
        else {
                if (b->discard)
                        f |= 1ULL << VIRTIO_BLK_F_DISCARD;
                if (b->write_zeroes)
                        f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
        }
        b->features_offered = f;
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
        b->features_offered = 0;
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

/* ---- construction -------------------------------------------------------- */

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
