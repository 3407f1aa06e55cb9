/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backend channel (SET_SLAVE_REQ_FD): a second socket on which we are
 * the one asking, to tell the frontend the config space changed, to offer a
 * host notifier, or to signal a queue in band. Sends are serialised by
 * dev->slave_mutex because queue threads may use it too; a frontend that
 * does not answer an ack within a bound is treated as gone, never waited on
 * forever.
 */
#include <inttypes.h>
#include <sys/socket.h>
#include <syslog.h>

#include "internal.h"

/* How long a send or an ack may take on the backend channel. */
#define VU_BACKEND_TIMEOUT_SEC 5

int vu_handle_set_slave_req_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        struct timeval tv = {.tv_sec = VU_BACKEND_TIMEOUT_SEC};
        int type = 0;
        socklen_t sl = sizeof(type);

        if (!vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_SLAVE_REQ))
                return vu_error(dev, -EPROTO, "SET_SLAVE_REQ_FD: BACKEND_REQ was not negotiated");

        /* We will block on it: it must be a stream socket, and blocking must be bounded. */
        if (getsockopt(msg->fds[0], SOL_SOCKET, SO_TYPE, &type, &sl) < 0)
                return vu_error(dev, -ENOTSOCK, "SET_SLAVE_REQ_FD: the fd is not a socket: %m");
        if (type != SOCK_STREAM)
                return vu_error(dev, -EPROTOTYPE,
                                "SET_SLAVE_REQ_FD: socket type %d, expected a stream socket", type);
        if (setsockopt(msg->fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(msg->fds[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return vu_error(dev, -errno, "SET_SLAVE_REQ_FD: cannot bound the socket's timeouts: %m");

        pthread_mutex_lock(&dev->slave_mutex);
        safe_close(dev->slave_fd);
        dev->slave_fd = TAKE_FD(msg->fds[0]);
        pthread_mutex_unlock(&dev->slave_mutex);

        vu_log(dev, LOG_INFO, "Backend channel set up");
        return 0;
}

void vu_backend_close(VuDev *dev) {
        if (!dev)
                return;
        pthread_mutex_lock(&dev->slave_mutex);
        dev->slave_fd = safe_close(dev->slave_fd);
        pthread_mutex_unlock(&dev->slave_mutex);
}

int vu_backend_send(VuDev *dev, VhostUserMsg *msg, const int *fds, size_t nfds, bool want_reply) {
        VhostUserMsg reply;
        bool ack;
        int r;

        if (!dev || !msg)
                return -EINVAL;
        ack = want_reply && vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK);
        if (nfds > 0 && !vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_SLAVE_SEND_FD))
                return -EOPNOTSUPP;

        msg->flags = 1 | (ack ? VHOST_USER_NEED_REPLY_MASK : 0);

        pthread_mutex_lock(&dev->slave_mutex);
        if (dev->slave_fd < 0) {
                pthread_mutex_unlock(&dev->slave_mutex);
                return -ENOTCONN;
        }

        r = vu_message_write(dev->slave_fd, msg, fds, nfds);
        if (r >= 0 && ack) {
                r = vu_message_read_reply(dev->slave_fd, (uint32_t) msg->request, &reply);
                if (r >= 0 && (reply.size != sizeof(uint64_t) || reply.payload.u64 != 0))
                        r = -EIO;
        }
        /* A channel that lost a message or an ack is out of step: stop using it. */
        if (r < 0 && r != -EIO)
                dev->slave_fd = safe_close(dev->slave_fd);
        pthread_mutex_unlock(&dev->slave_mutex);

        if (r < 0)
                vu_log(dev, LOG_WARNING, "Backend channel: request %d failed: %s", msg->request,
                       strerror(-r));
        return r;
}

_public_ bool vu_set_queue_host_notifier(VuDev *dev, VuVirtq *vq, int fd, int size, int offset) {
        VhostUserMsg msg = {
                .request = VHOST_USER_SLAVE_VRING_HOST_NOTIFIER_MSG,
                .size = sizeof(VhostUserVringArea),
        };
        int idx;

        if (!dev || !vq || !dev->vq)
                return false;
        idx = (int) (vq - dev->vq);
        if (idx < 0 || idx >= dev->max_queues)
                return false;
        if (!vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_HOST_NOTIFIER) ||
            !vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_SLAVE_SEND_FD))
                return false;
        if (fd >= 0 && (size <= 0 || offset < 0))
                return false;

        /* No fd withdraws the notifier; the frontend is told by the no-fd flag. */
        msg.payload.area.u64 = (uint64_t) idx & VHOST_USER_VRING_IDX_MASK;
        if (fd < 0)
                msg.payload.area.u64 |= VHOST_USER_VRING_NOFD_MASK;
        msg.payload.area.size = fd >= 0 ? (uint64_t) size : 0;
        msg.payload.area.offset = fd >= 0 ? (uint64_t) offset : 0;

        /*
         * No ack, as for CONFIG_CHANGE_MSG: programs offer the notifier from
         * queue_set_started(), i.e. while QEMU is still starting the device,
         * and QEMU 7.2 serves this channel only after its start sequence,
         * which ends with GET_STATUS on the main channel (we offer STATUS):
         * waiting here stalled until the timeout and cost the channel (seen
         * with QEMU's tests/vhost-user-bridge -H, tests/compat/qemu-contrib.sh).
         */
        return vu_backend_send(dev, &msg, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, false) == 0;
}

_public_ bool vu_config_change_msg(VuDev *dev) {
        VhostUserMsg msg = {
                .request = VHOST_USER_SLAVE_CONFIG_CHANGE_MSG,
        };

        if (!dev || !vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_CONFIG))
                return false;
        /*
         * No ack: a frontend handles this by asking GET_CONFIG on the main
         * channel before it acks, and the program cannot serve that while it
         * waits here (QEMU does exactly this: waiting timed out and cost the
         * channel).
         */
        return vu_backend_send(dev, &msg, NULL, 0, false) == 0;
}
