/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-queue requests: ring size, addresses and base index, the kick,
 * call and error eventfds, enabling, stopping (GET_VRING_BASE) and in-band
 * kicks. Each handler checks the queue index and every field before it
 * changes anything; a queue's geometry cannot change while it is started,
 * because the rings were checked against it when they were mapped.
 */
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <sys/eventfd.h>
#include <syslog.h>

#include "internal.h"

static int vring_get(VuDev *dev, const char *req, uint64_t idx, VuVirtq **ret_vq) {
        int r = vu_check_queue_index(dev, req, idx);

        if (r < 0)
                return r;
        *ret_vq = &dev->vq[idx];
        return 0;
}

/* Stop watching the current kick fd before it is replaced or closed. */
static void vring_unwatch_kick(VuDev *dev, VuVirtq *vq) {
        if (vq->priv->kick_watched && dev->remove_watch)
                dev->remove_watch(dev, vq->kick_fd);
        vq->priv->kick_watched = false;
}

/*
 * The u64 payload of SET_VRING_KICK/CALL/ERR: queue index in bits 0-7, NOFD
 * in bit 8, nothing else. On success takes the fd from the message (-1 for
 * NOFD) and returns the queue.
 */
static int vring_fd_request(VuDev *dev, VhostUserMsg *msg, const char *req, VuVirtq **ret_vq, int *ret_fd) {
        uint64_t u = msg->payload.u64;
        uint64_t idx = u & VHOST_USER_VRING_IDX_MASK;
        bool nofd = u & VHOST_USER_VRING_NOFD_MASK;
        VuVirtq *vq;
        int r;

        if (u & ~(uint64_t) (VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
                return vu_error(dev, -EINVAL, "%s: unknown bits in payload 0x%" PRIx64, req, u);
        r = vring_get(dev, req, idx, &vq);
        if (r < 0)
                return r;

        if (nofd) {
                if (msg->fd_num != 0)
                        return vu_error(dev, -EBADMSG, "%s: queue %" PRIu64 ": NOFD set but %d fds passed", req,
                                        idx, msg->fd_num);
                *ret_vq = vq;
                *ret_fd = -1;
                return 0;
        }

        if (msg->fd_num != 1 || msg->fds[0] < 0)
                return vu_error(dev, -EBADMSG, "%s: queue %" PRIu64 ": expected one fd, got %d", req, idx,
                                msg->fd_num);
        r = vu_fd_set_nonblock(msg->fds[0]);
        if (r < 0)
                return vu_error(dev, r, "%s: queue %" PRIu64 ": fd %d unusable: %s", req, idx, msg->fds[0],
                                strerror(-r));
        *ret_vq = vq;
        *ret_fd = TAKE_FD(msg->fds[0]);
        return 0;
}

int vu_handle_set_vring_num(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        unsigned int num = msg->payload.state.num;
        VuVirtq *vq;
        int r;

        r = vring_get(dev, "SET_VRING_NUM", msg->payload.state.index, &vq);
        if (r < 0)
                return r;
        if (num == 0 || num > VIRTQUEUE_MAX_SIZE)
                return vu_error(dev, -EINVAL, "SET_VRING_NUM: queue %u: size %u out of range (1..%u)",
                                msg->payload.state.index, num, VIRTQUEUE_MAX_SIZE);
        /* split-ring.tex: a split queue's size is a power of two (only packed rings may differ). */
        if (!vu_has_feature(dev, VIRTIO_F_RING_PACKED) && (num & (num - 1)) != 0)
                return vu_error(dev, -EINVAL, "SET_VRING_NUM: queue %u: size %u is not a power of two",
                                msg->payload.state.index, num);
        if (vq->started)
                return vu_error(dev, -EBUSY, "SET_VRING_NUM: queue %u is started (size %u), refusing size %u",
                                msg->payload.state.index, vq->vring.num, num);

        if (vq->priv->num_set != num) {
                /* The rings were checked for the old size: map them again, for the new one, at start. */
                vq->priv->ready = false;
                vq->vring.desc = NULL;
                vq->vring.avail = NULL;
                vq->vring.used = NULL;
        }
        vq->priv->num_set = num;
        vq->vring.num = num;
        return 0;
}

int vu_handle_set_vring_addr(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        struct vhost_vring_addr addr = msg->payload.addr;
        const uint32_t known = 1u << VHOST_VRING_F_LOG;
        struct vhost_vring_addr old;
        VuVirtq *vq;
        int r;

        r = vring_get(dev, "SET_VRING_ADDR", addr.index, &vq);
        if (r < 0)
                return r;
        if (addr.flags & ~known)
                return vu_error(dev, -EINVAL, "SET_VRING_ADDR: queue %u: unknown flags 0x%x", addr.index,
                                addr.flags);
        /* The used ring's log offsets are added to log_guest_addr: keep the sum representable. */
        if ((addr.flags & known) && addr.log_guest_addr > UINT64_MAX - 6 - 8 * (uint64_t) VIRTQUEUE_MAX_SIZE)
                return vu_error(dev, -EINVAL, "SET_VRING_ADDR: queue %u: log_guest_addr 0x%" PRIx64 " overflows",
                                addr.index, (uint64_t) addr.log_guest_addr);

        old = vq->vra;
        vq->vra = addr;

        /* Map now if the memory is there (QEMU re-sends this on a running queue to turn logging on). */
        if (dev->nregions > 0 && vq->priv->num_set > 0) {
                r = vq_map_rings(dev, vq);
                if (r < 0) {
                        if (vq->started)
                                vq->vra = old; /* keep serving the rings already mapped */
                        else {
                                vq->priv->ready = false;
                                vq->vring.desc = NULL;
                                vq->vring.avail = NULL;
                                vq->vring.used = NULL;
                        }
                        return r;
                }
        } else if (!vq->started)
                vq->priv->ready = false; /* mapped at kick */

        vq->vring.flags = addr.flags;
        vq->vring.log_guest_addr = addr.log_guest_addr;
        return 0;
}

int vu_handle_set_vring_base(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        unsigned int num = msg->payload.state.num;
        VuVirtq *vq;
        int r;

        r = vring_get(dev, "SET_VRING_BASE", msg->payload.state.index, &vq);
        if (r < 0)
                return r;
        if (vq->started)
                return vu_error(dev, -EBUSY, "SET_VRING_BASE: queue %u is started; stop it with GET_VRING_BASE first",
                                msg->payload.state.index);

        if (vu_has_feature(dev, VIRTIO_F_RING_PACKED)) {
                /* Packed: avail index in bits 0-14, its wrap counter in bit 15 (used side above). */
                vq->last_avail_idx = vq->shadow_avail_idx = num & 0x7fff;
                vq->priv->avail_wrap_counter = num & 0x8000;
                vq->used_idx = (num >> 16) & 0x7fff;
                vq->priv->used_wrap_counter = num & 0x80000000u;
                return 0;
        }

        if (num > UINT16_MAX)
                return vu_error(dev, -EINVAL, "SET_VRING_BASE: queue %u: base %u does not fit a split ring index",
                                msg->payload.state.index, num);
        vq->last_avail_idx = vq->shadow_avail_idx = (uint16_t) num;
        return 0;
}

int vu_handle_get_vring_base(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        unsigned int idx = msg->payload.state.index;
        VuVirtq *vq;
        int r;

        r = vring_get(dev, "GET_VRING_BASE", idx, &vq);
        if (r < 0)
                return r;

        /*
         * The handler stays, as in the original library: a device that set it
         * once, outside queue_set_started, is served again after the restart.
         */
        vq_stop(dev, vq);
        vring_unwatch_kick(dev, vq);
        /* Like the original library: the frontend sends new kick/call fds when it restarts the ring. */
        safe_close(vq->kick_fd);
        vq->kick_fd = -1;
        safe_close(vq->call_fd);
        vq->call_fd = -1;
        vq_inflight_drop_resubmit(vq);

        if (vq->priv->packed || vu_has_feature(dev, VIRTIO_F_RING_PACKED))
                msg->payload.state.num = (vq->last_avail_idx & 0x7fffu) |
                                         (vq->priv->avail_wrap_counter ? 0x8000u : 0) |
                                         ((unsigned int) (vq->used_idx & 0x7fffu) << 16) |
                                         (vq->priv->used_wrap_counter ? 0x80000000u : 0);
        else
                msg->payload.state.num = vq->last_avail_idx;
        msg->payload.state.index = idx;
        msg->size = sizeof(msg->payload.state);
        *ret_reply = true;
        return 0;
}

int vu_handle_set_vring_kick(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        VuVirtq *vq = NULL;
        int fd = -EBADF, r;

        r = vring_fd_request(dev, msg, "SET_VRING_KICK", &vq, &fd);
        if (r < 0)
                return r;

        vring_unwatch_kick(dev, vq);
        safe_close(vq->kick_fd);
        vq->kick_fd = fd; /* -1: the frontend asked us to poll */

        /* A kick fd starts the ring (QEMU sends it last); a started ring just watches the new fd. */
        return vq_start(dev, vq);
}

int vu_handle_set_vring_call(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        VuVirtq *vq = NULL;
        int fd = -EBADF, r;

        r = vring_fd_request(dev, msg, "SET_VRING_CALL", &vq, &fd);
        if (r < 0)
                return r;

        safe_close(vq->call_fd);
        vq->call_fd = fd;

        /*
         * A notification may have been lost while the old fd was being
         * replaced (for instance across a reconnect): one spurious call is
         * harmless (drivers must tolerate them), a lost one hangs the guest.
         */
        if (fd >= 0 && vq->started)
                (void) eventfd_write(fd, 1);
        return 0;
}

int vu_handle_set_vring_err(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        VuVirtq *vq = NULL;
        int fd = -EBADF, r;

        r = vring_fd_request(dev, msg, "SET_VRING_ERR", &vq, &fd);
        if (r < 0)
                return r;

        safe_close(vq->err_fd);
        vq->err_fd = fd;
        return 0;
}

int vu_handle_set_vring_enable(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        unsigned int num = msg->payload.state.num;
        VuVirtq *vq;
        int r;

        r = vring_get(dev, "SET_VRING_ENABLE", msg->payload.state.index, &vq);
        if (r < 0)
                return r;
        if (num > 1)
                return vu_error(dev, -EINVAL, "SET_VRING_ENABLE: queue %u: value %u is neither 0 nor 1",
                                msg->payload.state.index, num);

        vq->enable = num;
        vu_log(dev, LOG_INFO, "queue %u %s", msg->payload.state.index, num ? "enabled" : "disabled");
        return 0;
}

int vu_handle_vring_kick(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        VuVirtq *vq;
        int r;

        if (!vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS))
                return vu_error(dev, -EPROTO, "VRING_KICK: INBAND_NOTIFICATIONS not negotiated");
        r = vring_get(dev, "VRING_KICK", msg->payload.state.index, &vq);
        if (r < 0)
                return r;

        /* An in-band kick starts the ring like a readable kick fd does. */
        r = vq_start(dev, vq);
        if (r < 0)
                return r;
        vq_kicked(dev, vq);
        return 0;
}
