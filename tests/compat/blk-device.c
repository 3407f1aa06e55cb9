/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blk-device: virtio-blk over a RAM disk or a file, on the compatible
 * libvhost-user API only (see blk-device.h). Requests are handled
 * synchronously, in order, straight between guest buffers and the disk,
 * with one call notification per batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blk-device.h"

#define BLK_MAX_IOV 2048

static BlkDevice *blk_of(VuDev *dev) {
        return (BlkDevice *) dev;
}

/* ---- the program's event loop: a poll table -------------------------- */

static void blk_set_watch(VuDev *dev, int fd, int condition, vu_watch_cb cb, void *data) {
        BlkDevice *blk = blk_of(dev);

        for (int i = 0; i < blk->nwatches; i++)
                if (blk->watches[i].fd == fd) {
                        blk->watches[i] = (BlkWatch){fd, condition, cb, data};
                        return;
                }
        if (blk->nwatches >= BLK_MAX_WATCHES) {
                fprintf(stderr, "blk-device: more than %d watches, ignoring fd %d\n", BLK_MAX_WATCHES, fd);
                return;
        }
        blk->watches[blk->nwatches++] = (BlkWatch){fd, condition, cb, data};
}

static void blk_remove_watch(VuDev *dev, int fd) {
        BlkDevice *blk = blk_of(dev);

        for (int i = 0; i < blk->nwatches; i++)
                if (blk->watches[i].fd == fd) {
                        blk->watches[i] = blk->watches[--blk->nwatches];
                        return;
                }
}

static void blk_panic(VuDev *dev, const char *err) {
        BlkDevice *blk = blk_of(dev);

        blk->panicked = true;
        fprintf(stderr, "blk-device: %s\n", err ? err : "connection failed");
}

bool blk_device_run_once(BlkDevice *blk, int timeout_ms) {
        struct pollfd p[BLK_MAX_WATCHES + 1];
        BlkWatch w[BLK_MAX_WATCHES];
        int n = blk->nwatches;

        if (blk->dev.broken)
                return false;
        memcpy(w, blk->watches, sizeof(BlkWatch) * (size_t) n);
        p[0] = (struct pollfd){.fd = blk->dev.sock, .events = POLLIN};
        for (int i = 0; i < n; i++)
                p[i + 1] = (struct pollfd){.fd = w[i].fd, .events = (short) w[i].events};

        int r = poll(p, (nfds_t) n + 1, timeout_ms);
        if (r < 0)
                return errno == EINTR;
        if (p[0].revents && !vu_dispatch(&blk->dev))
                return false;
        for (int i = 0; i < n; i++) {
                if (!p[i + 1].revents)
                        continue;
                /* A message just handled may have replaced or removed this watch. */
                for (int j = 0; j < blk->nwatches; j++)
                        if (blk->watches[j].fd == w[i].fd && blk->watches[j].cb == w[i].cb &&
                            blk->watches[j].data == w[i].data) {
                                w[i].cb(&blk->dev, p[i + 1].revents, w[i].data);
                                break;
                        }
        }
        return !blk->dev.broken;
}

/* ---- scatter/gather ----------------------------------------------------- */

/* The part of @iov[0..n) from byte @skip, @len bytes long, as iovecs in @dst. Returns their count. */
static int iov_slice(const struct iovec *iov, unsigned int n, size_t skip, size_t len, struct iovec *dst,
                     int max) {
        int k = 0;

        for (unsigned int i = 0; i < n && len > 0; i++) {
                if (skip >= iov[i].iov_len) {
                        skip -= iov[i].iov_len;
                        continue;
                }
                if (k >= max)
                        return -1;
                size_t take = iov[i].iov_len - skip;
                if (take > len)
                        take = len;
                dst[k++] = (struct iovec){(uint8_t *) iov[i].iov_base + skip, take};
                len -= take;
                skip = 0;
        }
        return k;
}

static size_t iov_size(const struct iovec *iov, unsigned int n) {
        size_t s = 0;

        for (unsigned int i = 0; i < n; i++)
                s += iov[i].iov_len;
        return s;
}

/* Copy between guest buffers and the disk at byte @off; @to_disk says which way. Returns 0 or -1. */
static int disk_io(BlkDevice *blk, const struct iovec *iov, int n, uint64_t off, bool to_disk) {
        if (blk->disk) {
                for (int i = 0; i < n; i++) {
                        if (to_disk)
                                memcpy(blk->disk + off, iov[i].iov_base, iov[i].iov_len);
                        else
                                memcpy(iov[i].iov_base, blk->disk + off, iov[i].iov_len);
                        off += iov[i].iov_len;
                }
                return 0;
        }
        size_t want = iov_size(iov, (unsigned int) n);
        ssize_t r = to_disk ? pwritev(blk->disk_fd, iov, n, (off_t) off)
                            : preadv(blk->disk_fd, iov, n, (off_t) off);
        return r == (ssize_t) want ? 0 : -1;
}

/* ---- requests ----------------------------------------------------------- */

/* Handle one request; returns the bytes written into the guest's buffers (the used length). */
static unsigned int blk_request(BlkDevice *blk, VuVirtqElement *e) {
        static struct iovec part[BLK_MAX_IOV];
        struct virtio_blk_outhdr hdr;
        uint8_t status = VIRTIO_BLK_S_OK;
        size_t in_total = iov_size(e->in_sg, e->in_num), data_in, done = 0;
        uint8_t *status_p;
        int n;

        /* A request needs a header to read and a status byte to write: without, no reply is possible. */
        if (iov_size(e->out_sg, e->out_num) < sizeof(hdr) || in_total < 1 ||
            e->in_sg[e->in_num - 1].iov_len < 1) {
                fprintf(stderr, "blk-device: request %u malformed (%zu readable, %zu writable bytes)\n",
                        e->index, iov_size(e->out_sg, e->out_num), in_total);
                return 0;
        }
        n = iov_slice(e->out_sg, e->out_num, 0, sizeof(hdr), part, BLK_MAX_IOV);
        for (int i = 0, off = 0; i < n; off += (int) part[i].iov_len, i++)
                memcpy((uint8_t *) &hdr + off, part[i].iov_base, part[i].iov_len);
        status_p = (uint8_t *) e->in_sg[e->in_num - 1].iov_base + e->in_sg[e->in_num - 1].iov_len - 1;
        data_in = in_total - 1;

        uint64_t off = hdr.sector * BLK_SECTOR;
        bool in_range = hdr.sector <= blk->capacity / BLK_SECTOR;

        switch (hdr.type & ~VIRTIO_BLK_T_BARRIER) {
        case VIRTIO_BLK_T_IN:
                if (!in_range || data_in > blk->capacity - off) {
                        status = VIRTIO_BLK_S_IOERR;
                        break;
                }
                n = iov_slice(e->in_sg, e->in_num, 0, data_in, part, BLK_MAX_IOV);
                if (n < 0 || disk_io(blk, part, n, off, false) < 0)
                        status = VIRTIO_BLK_S_IOERR;
                else
                        done = data_in;
                break;
        case VIRTIO_BLK_T_OUT: {
                size_t data_out = iov_size(e->out_sg, e->out_num) - sizeof(hdr);
                if (blk->read_only || !in_range || data_out > blk->capacity - off) {
                        status = VIRTIO_BLK_S_IOERR;
                        break;
                }
                n = iov_slice(e->out_sg, e->out_num, sizeof(hdr), data_out, part, BLK_MAX_IOV);
                if (n < 0 || disk_io(blk, part, n, off, true) < 0)
                        status = VIRTIO_BLK_S_IOERR;
                break;
        }
        case VIRTIO_BLK_T_FLUSH:
                if (blk->disk_fd >= 0 && fdatasync(blk->disk_fd) < 0)
                        status = VIRTIO_BLK_S_IOERR;
                break;
        case VIRTIO_BLK_T_GET_ID: {
                size_t len = data_in < sizeof(blk->serial) ? data_in : sizeof(blk->serial);
                n = iov_slice(e->in_sg, e->in_num, 0, len, part, BLK_MAX_IOV);
                for (int i = 0, o = 0; i < n; o += (int) part[i].iov_len, i++)
                        memcpy(part[i].iov_base, blk->serial + o, part[i].iov_len);
                done = len;
                break;
        }
        default:
                status = VIRTIO_BLK_S_UNSUPP;
        }

        *status_p = status;
        return (unsigned int) (done + 1);
}

static VuVirtqElement *pop_default(BlkDevice *blk, VuVirtq *vq) {
        return vu_queue_pop(&blk->dev, vq, sizeof(VuVirtqElement));
}

static void release_default(BlkDevice *blk, VuVirtqElement *elem) {
        free(elem);
}

void blk_device_process_queue(BlkDevice *blk, int qidx) {
        VuVirtq *vq = vu_get_queue(&blk->dev, qidx);
        unsigned int done = 0;
        VuVirtqElement *e;

        if (!vq)
                return;
        while ((e = blk->pop(blk, vq))) {
                unsigned int len = blk_request(blk, e);
                vu_queue_push(&blk->dev, vq, e, len);
                blk->release(blk, e);
                done++;
        }
        blk->requests += done;
        if (done > 0)
                vu_queue_notify(&blk->dev, vq);
}

static void blk_queue_handler(VuDev *dev, int qidx) {
        blk_device_process_queue(blk_of(dev), qidx);
}

/* ---- the device's interface --------------------------------------------- */

static uint64_t blk_get_features(VuDev *dev) {
        BlkDevice *blk = blk_of(dev);

        return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
               (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
               (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
               (blk->read_only ? 1ULL << VIRTIO_BLK_F_RO : 0);
}

static uint64_t blk_get_protocol_features(VuDev *dev) {
        return (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) | (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
}

static int blk_get_config(VuDev *dev, uint8_t *config, uint32_t len) {
        BlkDevice *blk = blk_of(dev);
        struct virtio_blk_config c;

        memset(&c, 0, sizeof(c));
        c.capacity = blk->capacity / BLK_SECTOR;
        c.blk_size = BLK_SECTOR;
        c.seg_max = VIRTQUEUE_MAX_SIZE - 2;
        c.num_queues = 1;
        if (len > sizeof(c))
                return -1;
        memcpy(config, &c, len);
        return 0;
}

static int blk_set_config(VuDev *dev, const uint8_t *data, uint32_t offset, uint32_t size, uint32_t flags) {
        /* Nothing in the config space is writable (no CONFIG_WCE). */
        return -1;
}

static void blk_queue_set_started(VuDev *dev, int qidx, bool started) {
        vu_set_queue_handler(dev, vu_get_queue(dev, qidx), started ? blk_queue_handler : NULL);
}

static bool blk_in_order(VuDev *dev, int qidx) {
        return true;
}

static const VuDevIface blk_iface = {
        .get_features = blk_get_features,
        .get_protocol_features = blk_get_protocol_features,
        .get_config = blk_get_config,
        .set_config = blk_set_config,
        .queue_set_started = blk_queue_set_started,
        .queue_is_processed_in_order = blk_in_order,
};

int blk_device_init(BlkDevice *blk, int sock, const char *path, uint64_t capacity, const char *serial) {
        memset(blk, 0, sizeof(*blk));
        blk->disk_fd = -1;
        blk->pop = pop_default;
        blk->release = release_default;
        strncpy(blk->serial, serial ? serial : "", sizeof(blk->serial));

        if (path) {
                struct stat st;
                blk->disk_fd = open(path, O_RDWR | O_CLOEXEC);
                if (blk->disk_fd < 0 || fstat(blk->disk_fd, &st) < 0)
                        goto fail;
                blk->capacity = (uint64_t) st.st_size & ~(uint64_t) (BLK_SECTOR - 1);
        } else {
                blk->capacity = capacity & ~(uint64_t) (BLK_SECTOR - 1);
                blk->disk = calloc(1, blk->capacity ? blk->capacity : 1);
                if (!blk->disk)
                        goto fail;
        }

        if (!vu_init(&blk->dev, 1, sock, blk_panic, NULL, blk_set_watch, blk_remove_watch, &blk_iface)) {
                errno = EINVAL;
                goto fail;
        }
        return 0;

fail:;
        int saved = errno;
        free(blk->disk);
        blk->disk = NULL;
        if (blk->disk_fd >= 0)
                close(blk->disk_fd);
        blk->disk_fd = -1;
        errno = saved;
        return -1;
}

void blk_device_deinit(BlkDevice *blk) {
        vu_deinit(&blk->dev);
        free(blk->disk);
        blk->disk = NULL;
        if (blk->disk_fd >= 0)
                close(blk->disk_fd);
        blk->disk_fd = -1;
}
