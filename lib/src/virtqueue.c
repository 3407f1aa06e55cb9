/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Virtqueue lifecycle and the public queue API that does not depend on the
 * ring layout: allocating queues, translating ring addresses, starting and
 * stopping, watching kick fds, call notifications, snapshots and counters.
 * Layout-specific work (split or packed) goes through a
 * VqRingOps table, so adding a layout touches neither devices nor handlers.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/virtio_config.h>
#include <stdalign.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <syslog.h>

#include "internal.h"

/* Chains up to this many buffers are popped by vu_queue_pop() without a scratch allocation. */
#define POP_STACK_IOV 128

static const VqRingOps *vq_ops(const VuVirtq *vq) {
        /* priv->packed changes only together with the mapping (vq_map_rings), never under a started queue. */
        return vq->priv->packed ? &vq_packed_ops : &vq_split_ops;
}

/* The rings may be touched: mapped, and the connection not given up. */
static bool vq_ready(const VuDev *dev, const VuVirtq *vq) {
        return dev && vq && vq->priv && !dev->broken && vq->priv->ready;
}

/* New work may be taken: a stopped ring must not be processed at all (vhost-user "Ring states"). */
static bool vq_poppable(const VuDev *dev, const VuVirtq *vq) {
        return vq_ready(dev, vq) && vq->started;
}

static bool vq_addr_set(const VuVirtq *vq) {
        return vq->vra.desc_user_addr || vq->vra.avail_user_addr || vq->vra.used_user_addr;
}

/* ---- allocation ----------------------------------------------------------- */

static void vq_init_one(VuVirtq *vq, struct VuVirtqPriv *priv) {
        *vq = (VuVirtq) {
                .call_fd = -1,
                .kick_fd = -1,
                .err_fd = -1,
                .notification = true,
                .priv = priv,
        };
        *priv = (struct VuVirtqPriv) {};
}

int vq_alloc_all(VuDev *dev) {
        _cleanup_free_ VuVirtq *vqs = NULL;
        _cleanup_free_ struct VuVirtqPriv *privs = NULL;

        if (!dev || !dev->priv || dev->max_queues == 0)
                return -EINVAL;

        vqs = calloc(dev->max_queues, sizeof(VuVirtq));
        privs = calloc(dev->max_queues, sizeof(struct VuVirtqPriv));
        if (!vqs || !privs)
                return -ENOMEM;

        for (unsigned int i = 0; i < dev->max_queues; i++)
                vq_init_one(&vqs[i], &privs[i]);

        dev->vq = TAKE_PTR(vqs);
        dev->priv->vq_priv = TAKE_PTR(privs);
        return 0;
}

void vq_free_all(VuDev *dev) {
        if (!dev)
                return;
        if (dev->vq)
                for (unsigned int i = 0; i < dev->max_queues; i++)
                        vq_reset(dev, &dev->vq[i]);
        free(dev->vq);
        dev->vq = NULL;
        if (dev->priv) {
                free(dev->priv->vq_priv);
                dev->priv->vq_priv = NULL;
        }
}

/* ---- rings ---------------------------------------------------------------- */

int vq_map_rings(VuDev *dev, VuVirtq *vq) {
        static const char *const split_names[3] = { "descriptor table", "avail ring", "used ring" };
        static const char *const packed_names[3] = { "descriptor ring", "driver event area", "device event area" };
        const char *const *names = split_names;
        unsigned int idx = vq_index(dev, vq), num = vq->priv->num_set;
        uint64_t qva[3] = { vq->vra.desc_user_addr, vq->vra.avail_user_addr, vq->vra.used_user_addr };
        bool packed = vu_has_feature(dev, VIRTIO_F_RING_PACKED);
        uint64_t size[3], align[3];
        void *p[3];

        if (packed) {
                names = packed_names;
                if (vq->started && !vq->priv->packed)
                        return vu_error(dev, -EBUSY, "queue %u: ring layout cannot change to packed while started", idx);
        } else if (vq->started && vq->priv->packed)
                return vu_error(dev, -EBUSY, "queue %u: ring layout cannot change to split while started", idx);
        if (num == 0)
                return vu_error(dev, -EINVAL, "queue %u: ring size not set (SET_VRING_NUM missing)", idx);
        if (!vq_addr_set(vq))
                return vu_error(dev, -EINVAL, "queue %u: ring addresses not set (SET_VRING_ADDR missing)", idx);

        (packed ? &vq_packed_ops : &vq_split_ops)->ring_sizes(num, size, align);
        for (unsigned int k = 0; k < 3; k++) {
                if (qva[k] % align[k] != 0)
                        return vu_error(dev, -EINVAL, "queue %u: %s address 0x%" PRIx64 " is not %" PRIu64 "-byte aligned",
                                        idx, names[k], qva[k], align[k]);
                /* The whole ring for this size, so no later index can reach past the mapping. */
                p[k] = vu_mem_qva_range(dev, qva[k], size[k]);
                if (!p[k])
                        return vu_error(dev, -EFAULT,
                                        "queue %u: %s at 0x%" PRIx64 " (%" PRIu64 " bytes for size %u) is not in guest memory",
                                        idx, names[k], qva[k], size[k], num);
                if ((uintptr_t) p[k] % align[k] != 0)
                        return vu_error(dev, -EINVAL, "queue %u: %s at 0x%" PRIx64 " maps to a misaligned address",
                                        idx, names[k], qva[k]);
        }

        vq->vring.num = num;
        vq->vring.desc = p[0];
        vq->vring.avail = p[1];
        vq->vring.used = p[2];
        vq->priv->packed = packed;
        vq->priv->desc_packed = packed ? p[0] : NULL;
        vq->priv->driver_event = packed ? p[1] : NULL;
        vq->priv->device_event = packed ? p[2] : NULL;
        vq->priv->ready = true;
        return 0;
}

static void vq_unmap_rings(VuVirtq *vq) {
        vq->priv->ready = false;
        vq->vring.desc = NULL;
        vq->vring.avail = NULL;
        vq->vring.used = NULL;
        vq->priv->desc_packed = NULL;
        vq->priv->driver_event = NULL;
        vq->priv->device_event = NULL;
}

void vq_remap_all(VuDev *dev) {
        if (!dev || !dev->vq)
                return;

        for (unsigned int i = 0; i < dev->max_queues; i++) {
                VuVirtq *vq = &dev->vq[i];

                /* Queues not mapped yet are mapped at kick; only re-translate what is in use. */
                if (!vq->priv->ready)
                        continue;
                if (vq_map_rings(dev, vq) >= 0)
                        continue;

                vu_log(dev, LOG_ERR, "queue %u: rings no longer in guest memory, stopping the queue", i);
                vq_stop(dev, vq);
                vq_unmap_rings(vq);
        }
}

/* ---- kick watch and start/stop -------------------------------------------- */

static void vq_kick_cb(VuDev *dev, int condition, void *data) {
        VuVirtq *vq = data;
        uint64_t v;
        ssize_t n;

        n = read(vq->kick_fd, &v, sizeof(v));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n != (ssize_t) sizeof(v)) {
                /* Not an eventfd that works (closed pipe, EOF, error): stop watching rather than spin. */
                vu_log(dev, LOG_ERR, "queue %u: kick fd %d unusable (read returned %zd, condition 0x%x), no longer watched",
                       vq_index(dev, vq), vq->kick_fd, n, (unsigned int) condition);
                if (vq->priv->kick_watched && dev->remove_watch)
                        dev->remove_watch(dev, vq->kick_fd);
                vq->priv->kick_watched = false;
                return;
        }

        vq_kicked(dev, vq);
}

void vq_update_kick_watch(VuDev *dev, VuVirtq *vq) {
        bool want = vq->started && vq->kick_fd >= 0 && vq->handler && !dev->broken;

        if (want && !vq->priv->kick_watched) {
                if (!dev->set_watch)
                        return;
                dev->set_watch(dev, vq->kick_fd, VU_WATCH_IN, vq_kick_cb, vq);
                vq->priv->kick_watched = true;
        } else if (!want && vq->priv->kick_watched) {
                if (dev->remove_watch)
                        dev->remove_watch(dev, vq->kick_fd);
                vq->priv->kick_watched = false;
        }
}

void vq_kicked(VuDev *dev, VuVirtq *vq) {
        vq->priv->stats.kicks++;
        if (vq->handler)
                vq->handler(dev, (int) vq_index(dev, vq));
}

int vq_start(VuDev *dev, VuVirtq *vq) {
        unsigned int idx = vq_index(dev, vq);
        int r;

        if (vq->started) {
                vq_update_kick_watch(dev, vq);
                return 0;
        }

        /* Mapped before the features said packed (or split): map again for the layout in force. */
        if (!vq->priv->ready || vq->priv->packed != vu_has_feature(dev, VIRTIO_F_RING_PACKED)) {
                r = vq_map_rings(dev, vq);
                if (r < 0)
                        return r;
        }
        if (vq->priv->packed) {
                r = vq_packed_prepare(dev, vq);
                if (r < 0)
                        return r;
        }

        vq_ops(vq)->start(dev, vq);

        if (dev->iface && dev->iface->queue_is_processed_in_order &&
            dev->iface->queue_is_processed_in_order(dev, (int) idx)) {
                /* Completions are in order: everything before used->idx is done, the rest is redone. */
                vq_inflight_drop_resubmit(vq);
                vq->last_avail_idx = vq->shadow_avail_idx = vq->used_idx;
                vq->priv->avail_wrap_counter = vq->priv->used_wrap_counter;
                vq->inuse = 0;
        } else {
                r = vq_inflight_prepare(dev, vq);
                if (r < 0)
                        return vu_error(dev, r, "queue %u: cannot prepare inflight resubmission: %s", idx, strerror(-r));
        }

        /* The positions are final now (inflight may have moved them): say where to kick. */
        if (vq->priv->packed)
                vq_ops(vq)->set_notification(dev, vq, vq->notification);

        vq->started = true;
        vu_log(dev, LOG_INFO, "queue %u started (%s, size %u, last_avail_idx %u, used_idx %u, resubmit %u)", idx,
               vq->priv->packed ? "packed" : "split", vq->vring.num, vq->last_avail_idx, vq->used_idx,
               vq->resubmit_num);
        if (dev->iface && dev->iface->queue_set_started)
                dev->iface->queue_set_started(dev, (int) idx, true);
        vq_update_kick_watch(dev, vq);
        return 0;
}

void vq_stop(VuDev *dev, VuVirtq *vq) {
        bool was = vq->started;

        vq->started = false;
        vq_update_kick_watch(dev, vq);
        if (!was)
                return;
        vu_log(dev, LOG_INFO, "queue %u stopped (last_avail_idx %u, used_idx %u, inuse %d)", vq_index(dev, vq),
               vq->last_avail_idx, vq->used_idx, vq->inuse);
        if (dev->iface && dev->iface->queue_set_started)
                dev->iface->queue_set_started(dev, (int) vq_index(dev, vq), false);
}

void vq_reset(VuDev *dev, VuVirtq *vq) {
        struct VuVirtqPriv *priv = vq->priv;

        if (!priv)
                return;
        vq_stop(dev, vq);
        vq->handler = NULL;
        vq_update_kick_watch(dev, vq);
        safe_close(vq->kick_fd);
        safe_close(vq->call_fd);
        safe_close(vq->err_fd);
        vq_inflight_drop_resubmit(vq);
        vq_packed_free(vq);
        vq_init_one(vq, priv);
}

/* ---- public: queues and handlers ------------------------------------------ */

_public_ VuVirtq *vu_get_queue(VuDev *dev, int qidx) {
        if (!dev || !dev->vq || qidx < 0 || qidx >= dev->max_queues)
                return NULL;
        return &dev->vq[qidx];
}

_public_ void vu_set_queue_handler(VuDev *dev, VuVirtq *vq, vu_queue_handler_cb handler) {
        if (!dev || !vq || !vq->priv)
                return;
        vq->handler = handler;
        vq_update_kick_watch(dev, vq);
}

_public_ bool vu_queue_enabled(VuDev *dev, VuVirtq *vq) {
        return vq && vq->enable;
}

_public_ bool vu_queue_started(const VuDev *dev, const VuVirtq *vq) {
        return vq && vq->started;
}

_public_ int vu_queue_get_kick_fd(const VuDev *dev, const VuVirtq *vq) {
        return vq ? vq->kick_fd : -1;
}

/* ---- public: notifications -------------------------------------------------- */

static void vq_notify(VuDev *dev, VuVirtq *vq, bool sync) {
        unsigned int idx;

        if (!vq_ready(dev, vq))
                return;
        idx = vq_index(dev, vq);

        if (!vq_ops(vq)->need_notify(dev, vq)) {
                vq->priv->stats.calls_suppressed++;
                return;
        }

        if (vq->call_fd >= 0) {
                if (eventfd_write(vq->call_fd, 1) < 0) {
                        vu_log(dev, LOG_WARNING, "queue %u: failed to signal call fd %d: %m, ignoring", idx,
                               vq->call_fd);
                        return;
                }
                vq->priv->stats.calls_sent++;
                return;
        }

        if (vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS) &&
            vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_SLAVE_REQ)) {
                VhostUserMsg msg = {
                        .request = VHOST_USER_SLAVE_VRING_CALL,
                        .flags = 1, /* protocol version */
                        .size = sizeof(msg.payload.state),
                        .payload.state = { .index = idx, .num = 0 },
                };
                int r = vu_backend_send(dev, &msg, NULL, 0, sync);

                if (r < 0) {
                        vu_log(dev, LOG_WARNING, "queue %u: failed to send VRING_CALL on the backend channel: %s, ignoring",
                               idx, strerror(-r));
                        return;
                }
                vq->priv->stats.calls_sent++;
        }
        /* Otherwise the frontend polls the used ring (no call fd, no in-band channel). */
}

_public_ void vu_queue_notify(VuDev *dev, VuVirtq *vq) {
        vq_notify(dev, vq, false);
}

_public_ void vu_queue_notify_sync(VuDev *dev, VuVirtq *vq) {
        vq_notify(dev, vq, true);
}

_public_ void vu_queue_set_notification(VuDev *dev, VuVirtq *vq, int enable) {
        if (!vq)
                return;
        if (!vq_ready(dev, vq)) {
                vq->notification = enable;
                return;
        }
        vq_ops(vq)->set_notification(dev, vq, enable);
}

/* ---- public: taking and returning buffers ----------------------------------- */

_public_ bool vu_queue_empty(VuDev *dev, VuVirtq *vq) {
        if (!vq_poppable(dev, vq))
                return true;
        return vq_ops(vq)->empty(dev, vq);
}

static void vq_element_set(VuVirtqElement *elem, const VqPeek *p, struct iovec *iov) {
        elem->index = p->head;
        elem->out_num = p->chain.out_num;
        elem->in_num = p->chain.in_num;
        /* A chain of only empty buffers has no iovecs; keep NULL rather than offset it. */
        elem->out_sg = iov;
        elem->in_sg = iov ? iov + p->chain.out_num : NULL;
}

_public_ int vu_queue_pop_into(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov,
                               unsigned int iov_max) {
        struct iovec none[1];
        int r;

        if (_unlikely_(!dev || !vq || !elem || (!iov && iov_max > 0)))
                return -EINVAL;
        if (!vq_poppable(dev, vq))
                return 0;
        if (_likely_(iov))
                return vq_ops(vq)->pop_into(dev, vq, elem, iov, iov_max);

        /* A NULL array would mean "count only" to the walker: give it a real (empty) one. */
        r = vq_ops(vq)->pop_into(dev, vq, elem, none, 0);
        if (r > 0)
                elem->out_sg = elem->in_sg = NULL; /* a chain of only empty buffers has no iovecs */
        return r;
}

_public_ int vu_queue_pop_burst(VuDev *dev, VuVirtq *vq, VuVirtqElement *elems, struct iovec *iov,
                                unsigned int max) {
        if (_unlikely_(!dev || !vq || (max > 0 && (!elems || !iov))))
                return -EINVAL;
        if (max == 0 || !vq_poppable(dev, vq))
                return 0;
        return vq_ops(vq)->pop_burst(dev, vq, elems, iov, max);
}

/*
 * The element vu_queue_pop() returns for peeked chain @p, whose iovecs are in
 * @iov: one allocation, the caller's structure then the iovecs (the seed's
 * contract). The chain is taken off the ring only once that allocation worked.
 * Forced inline: vu_queue_pop() is the hot path of every seed-API device.
 */
static inline __attribute__((always_inline)) VuVirtqElement *
vq_element_new(VuDev *dev, VuVirtq *vq, const VqRingOps *ops, size_t sz, const VqPeek *p,
               const struct iovec *iov) {
        size_t n = (size_t) p->chain.out_num + p->chain.in_num;
        size_t off = (sz + alignof(struct iovec) - 1) & ~(alignof(struct iovec) - 1);
        VuVirtqElement *elem;

        elem = malloc(off + n * sizeof(struct iovec));
        if (!elem) {
                vu_log(dev, LOG_ERR, "queue %u: out of memory popping a chain of %zu buffers", vq_index(dev, vq),
                       n);
                return NULL; /* nothing consumed: the chain is popped again next time */
        }
        /* vq_element_set() fills the VuVirtqElement; zero what the caller's structure adds after it. */
        if (sz > sizeof(VuVirtqElement))
                memset((uint8_t *) elem + sizeof(VuVirtqElement), 0, sz - sizeof(VuVirtqElement));
        struct iovec *dst = (struct iovec *) ((uint8_t *) elem + off);

        if (n > 0)
                memcpy(dst, iov, n * sizeof(struct iovec));

        ops->commit(dev, vq, p);
        vq_element_set(elem, p, dst);
        return elem;
}

/* A chain longer than vu_queue_pop()'s stack room: walk it again into room for the longest one we accept. */
static VuVirtqElement *vq_pop_long(VuDev *dev, VuVirtq *vq, size_t sz) {
        _cleanup_free_ struct iovec *iov = NULL;
        const VqRingOps *ops = vq_ops(vq);
        VqPeek p;

        iov = malloc(VU_MAX_CHAIN_IOV * sizeof(struct iovec));
        if (!iov)
                return NULL;
        if (ops->peek(dev, vq, iov, VU_MAX_CHAIN_IOV, &p) <= 0)
                return NULL;
        return vq_element_new(dev, vq, ops, sz, &p, iov);
}

_public_ void *vu_queue_pop(VuDev *dev, VuVirtq *vq, size_t sz) {
        /* Most chains fit here; the hot path then allocates only the element it returns. */
        struct iovec stack_iov[POP_STACK_IOV];
        const VqRingOps *ops;
        VqPeek p;
        int r;

        if (!vq_poppable(dev, vq))
                return NULL;
        if (sz < sizeof(VuVirtqElement) || sz > SIZE_MAX / 2) {
                vu_log(dev, LOG_ERR, "vu_queue_pop: element size %zu invalid (at least %zu)", sz,
                       sizeof(VuVirtqElement));
                return NULL;
        }

        /* One look at the layout: the peek is an indirect call, after which it would be read again. */
        ops = vq_ops(vq);
        r = ops->peek(dev, vq, stack_iov, POP_STACK_IOV, &p);
        if (r == -E2BIG)
                return vq_pop_long(dev, vq, sz);
        if (r <= 0)
                return NULL;
        return vq_element_new(dev, vq, ops, sz, &p, stack_iov);
}

_public_ bool vu_queue_rewind(VuDev *dev, VuVirtq *vq, unsigned int num) {
        if (!vq_ready(dev, vq))
                return false;
        return vq_ops(vq)->rewind(dev, vq, num);
}

_public_ void vu_queue_unpop(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, size_t len) {
        (void) vu_queue_rewind(dev, vq, 1);
}

_public_ void vu_queue_fill(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len,
                            unsigned int idx) {
        if (!vq_ready(dev, vq) || !elem)
                return;
        vq_ops(vq)->fill(dev, vq, elem, len, idx);
}

_public_ void vu_queue_fill_burst(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elems, const unsigned int *lens,
                                  unsigned int n, unsigned int idx) {
        if (!vq_ready(dev, vq) || !elems || n == 0)
                return;
        vq_ops(vq)->fill_burst(dev, vq, elems, lens, n, idx);
}

_public_ void vu_queue_flush(VuDev *dev, VuVirtq *vq, unsigned int num) {
        if (!vq_ready(dev, vq))
                return;
        vq_ops(vq)->flush(dev, vq, num);
}

_public_ void vu_queue_push(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len) {
        const VqRingOps *ops;

        /* vu_queue_fill() + vu_queue_flush() with their checks made once: this runs for every request. */
        if (!vq_ready(dev, vq) || !elem)
                return;
        ops = vq_ops(vq);
        ops->fill(dev, vq, elem, len, 0);
        ops->flush(dev, vq, 1);
}

_public_ void vu_queue_get_avail_bytes(VuDev *dev, VuVirtq *vq, unsigned int *in_bytes, unsigned int *out_bytes,
                                       unsigned max_in_bytes, unsigned max_out_bytes) {
        uint64_t in = 0, out = 0;

        if (vq_poppable(dev, vq) &&
            vq_ops(vq)->avail_bytes(dev, vq, max_in_bytes, max_out_bytes, &in, &out) < 0)
                in = out = 0;
        if (in_bytes)
                *in_bytes = (unsigned int) MIN(in, (uint64_t) UINT_MAX);
        if (out_bytes)
                *out_bytes = (unsigned int) MIN(out, (uint64_t) UINT_MAX);
}

_public_ bool vu_queue_avail_bytes(VuDev *dev, VuVirtq *vq, unsigned int in_bytes, unsigned int out_bytes) {
        unsigned int in_total, out_total;

        vu_queue_get_avail_bytes(dev, vq, &in_total, &out_total, in_bytes, out_bytes);
        return in_bytes <= in_total && out_bytes <= out_total;
}

/* ---- public (extensions): counters and snapshots ---------------------------- */

_public_ void vu_queue_reset_stats(VuDev *dev, int qidx) {
        VuVirtq *vq = vu_get_queue(dev, qidx);

        if (vq)
                vq->priv->stats = (VuQueueStats) {};
}

_public_ int vu_queue_get_info(VuDev *dev, int qidx, VuQueueInfo *ret) {
        VuVirtq *vq = vu_get_queue(dev, qidx);
        struct VuVirtqPriv *priv;
        VuQueueInfo info = {};

        if (!vq || !ret)
                return -EINVAL;
        priv = vq->priv;

        info.index = (uint32_t) qidx;
        info.size = priv->num_set;
        info.enabled = vq->enable;
        info.started = vq->started;
        info.packed = priv->packed;
        info.event_idx = vu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
        info.kick_fd = vq->kick_fd >= 0;
        info.call_fd = vq->call_fd >= 0;
        info.err_fd = vq->err_fd >= 0;
        info.ready = priv->ready;
        info.logging = vq->vring.flags & (1u << VHOST_VRING_F_LOG);

        info.last_avail_idx = vq->last_avail_idx;
        info.shadow_avail_idx = vq->shadow_avail_idx;
        info.used_idx = vq->used_idx;
        info.signalled_used = vq->signalled_used;
        info.signalled_used_valid = vq->signalled_used_valid;
        info.inuse = (uint32_t) MAX(vq->inuse, 0);
        info.inflight = vq_inflight_count(dev, vq);
        info.resubmit_pending = vq->resubmit_list && priv->resubmit_next < vq->resubmit_num
                                        ? (uint32_t) (vq->resubmit_num - priv->resubmit_next)
                                        : 0;

        if (priv->ready && !dev->broken)
                vq_ops(vq)->get_info(dev, vq, &info);

        info.avail_wrap_counter = priv->avail_wrap_counter;
        info.used_wrap_counter = priv->used_wrap_counter;

        info.desc_user_addr = vq->vra.desc_user_addr;
        info.avail_user_addr = vq->vra.avail_user_addr;
        info.used_user_addr = vq->vra.used_user_addr;
        info.log_guest_addr = vq->vra.log_guest_addr;
        info.stats = priv->stats;

        *ret = info;
        return 0;
}

_public_ int vu_queue_get_ring_gpas(VuDev *dev, int qidx, uint64_t *ret_desc, uint64_t *ret_avail,
                                    uint64_t *ret_used) {
        VuVirtq *vq = vu_get_queue(dev, qidx);
        uint64_t d, a, u;

        if (!vq)
                return -EINVAL;
        if (!vq->priv->ready)
                return -ENXIO;
        if (!vu_mem_va_to_gpa(dev, vq->vring.desc, &d) || !vu_mem_va_to_gpa(dev, vq->vring.avail, &a) ||
            !vu_mem_va_to_gpa(dev, vq->vring.used, &u))
                return -ENXIO;

        if (ret_desc)
                *ret_desc = d;
        if (ret_avail)
                *ret_avail = a;
        if (ret_used)
                *ret_used = u;
        return 0;
}
