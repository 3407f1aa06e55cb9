/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The requests about the device as a whole: virtio and protocol feature
 * negotiation, ownership, reset, the queue count, config space and device
 * status. A frontend may only accept features we offered; what we offer is
 * computed in one place for GET and SET alike.
 */
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <syslog.h>
#include <time.h>

#include "internal.h"

/* What the library itself can do, whatever the device. */
#define VU_LIB_FEATURES                                                                                     \
        ((UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES) | (UINT64_C(1) << VHOST_F_LOG_ALL) |               \
         (UINT64_C(1) << VIRTIO_RING_F_INDIRECT_DESC) | (UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX) |          \
         (UINT64_C(1) << VIRTIO_F_VERSION_1) | (UINT64_C(1) << VIRTIO_F_RING_PACKED))

#define PF(x) (UINT64_C(1) << VHOST_USER_PROTOCOL_F_##x)
#define VU_LIB_PROTOCOL_FEATURES                                                                            \
        (PF(MQ) | PF(LOG_SHMFD) | PF(REPLY_ACK) | PF(SLAVE_REQ) | PF(SLAVE_SEND_FD) | PF(HOST_NOTIFIER) |   \
         PF(INFLIGHT_SHMFD) | PF(RESET_DEVICE) | PF(INBAND_NOTIFICATIONS) | PF(CONFIGURE_MEM_SLOTS) |       \
         PF(STATUS))

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t offered_features(VuDev *dev) {
        uint64_t f = VU_LIB_FEATURES;

        if (dev->iface->get_features)
                f |= dev->iface->get_features(dev);
        return f;
}

static uint64_t offered_protocol_features(VuDev *dev) {
        uint64_t f = VU_LIB_PROTOCOL_FEATURES;

        if (dev->iface->get_config)
                f |= PF(CONFIG);
        if (vu_postcopy_available())
                f |= PF(PAGEFAULT);
        if (dev->iface->get_protocol_features)
                f |= dev->iface->get_protocol_features(dev);
        return f;
}

static void reset_all_queues(VuDev *dev) {
        if (!dev->vq)
                return;
        for (unsigned int i = 0; i < dev->max_queues; i++)
                vq_reset(dev, &dev->vq[i]);
}

int vu_handle_get_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        msg->payload.u64 = offered_features(dev);
        msg->size = sizeof(uint64_t);
        *ret_reply = true;
        return 0;
}

int vu_handle_set_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        uint64_t offered = offered_features(dev), want = msg->payload.u64;
        bool had_log_all = vu_has_feature(dev, VHOST_F_LOG_ALL);

        if (want & ~offered)
                return vu_error(dev, -EINVAL,
                                "SET_FEATURES: 0x%" PRIx64 " has bits we never offered (0x%" PRIx64 ")",
                                want, want & ~offered);

        dev->features = want;

        /* Turning LOG_ALL off is how a frontend ends dirty logging (migration done or cancelled). */
        if (had_log_all && !vu_has_feature(dev, VHOST_F_LOG_ALL)) {
                dev->priv->log_stopped_usec = now_usec();
                vu_log(dev, LOG_INFO, "Dirty logging stopped (LOG_ALL cleared)");
        } else if (!had_log_all && vu_has_feature(dev, VHOST_F_LOG_ALL))
                vu_log(dev, LOG_INFO, "Dirty logging requested (LOG_ALL set)");

        if (dev->vq)
                for (unsigned int i = 0; i < dev->max_queues; i++) {
                        if (dev->vq[i].priv)
                                dev->vq[i].priv->packed = vu_has_feature(dev, VIRTIO_F_RING_PACKED);
                        /* Without protocol features there is no SET_VRING_ENABLE: rings start enabled. */
                        if (!vu_has_feature(dev, VHOST_USER_F_PROTOCOL_FEATURES))
                                dev->vq[i].enable = 1;
                }

        if (dev->iface->set_features)
                dev->iface->set_features(dev, want);
        return 0;
}

int vu_handle_get_protocol_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        msg->payload.u64 = offered_protocol_features(dev);
        /* A frontend asked for postcopy is refused by QEMU itself; the operator reads why here. */
        if (!(msg->payload.u64 & PF(PAGEFAULT))) {
                const char *why = vu_postcopy_unavailable_reason();

                if (why)
                        vu_log(dev, LOG_NOTICE, "Not offering PAGEFAULT: postcopy migration is unavailable: %s",
                               why);
        }
        msg->size = sizeof(uint64_t);
        *ret_reply = true;
        return 0;
}

int vu_handle_set_protocol_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        uint64_t offered = offered_protocol_features(dev), want = msg->payload.u64;

        if (want & ~offered)
                return vu_error(dev, -EINVAL,
                                "SET_PROTOCOL_FEATURES: 0x%" PRIx64 " has bits we never offered (0x%" PRIx64
                                ")",
                                want, want & ~offered);

        dev->protocol_features = want;
        if (dev->iface->set_protocol_features)
                dev->iface->set_protocol_features(dev, want);
        return 0;
}

int vu_handle_set_owner(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        /* A second SET_OWNER is harmless; frontends differ on when they send it. */
        dev->priv->owner = true;
        return 0;
}

int vu_handle_reset_owner(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        /*
         * Deprecated; the spec suggests disabling the rings. Memory, log and
         * negotiated features stay: some frontends send it between runs
         * without renegotiating everything.
         */
        reset_all_queues(dev);
        return 0;
}

int vu_handle_reset_device(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        /*
         * Back to a device the driver can initialise again. The connection's
         * own negotiation (features, protocol features, memory) is not the
         * device's state: the frontend renegotiates what it wants before the
         * next start, and keeping REPLY_ACK lets us ack this very message.
         */
        reset_all_queues(dev);
        dev->priv->status = 0;
        return 0;
}

int vu_handle_get_queue_num(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        msg->payload.u64 = dev->max_queues;
        msg->size = sizeof(uint64_t);
        *ret_reply = true;
        return 0;
}

int vu_handle_get_config(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        uint8_t buf[VHOST_USER_MAX_CONFIG_SIZE] = {};
        uint32_t offset = msg->payload.config.offset, size = msg->payload.config.size;

        /* message.c checked offset + size <= VHOST_USER_MAX_CONFIG_SIZE. */
        if (!dev->iface->get_config)
                return vu_error(dev, -EOPNOTSUPP, "GET_CONFIG: this device has no config space");

        /* The device fills its space from the start; we hand back the window asked for. */
        if (dev->iface->get_config(dev, buf, offset + size) != 0)
                return vu_error(dev, -EIO,
                                "GET_CONFIG: the device failed to read %" PRIu32 " bytes at %" PRIu32, size,
                                offset);

        memcpy(msg->payload.config.region, buf + offset, size);
        *ret_reply = true;
        return 0;
}

int vu_handle_set_config(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        uint32_t offset = msg->payload.config.offset, size = msg->payload.config.size,
                 flags = msg->payload.config.flags;
        uint8_t buf[VHOST_USER_MAX_CONFIG_SIZE];

        if (!dev->iface->set_config)
                return vu_error(dev, -EOPNOTSUPP, "SET_CONFIG: this device has no writable config space");

        memcpy(buf, msg->payload.config.region, size);
        if (dev->iface->set_config(dev, buf, offset, size, flags) != 0)
                return vu_error(dev, -EINVAL,
                                "SET_CONFIG: the device refused %" PRIu32 " bytes at offset %" PRIu32
                                " (flags %" PRIu32 ")",
                                size, offset, flags);
        return 0;
}

int vu_handle_set_status(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        uint64_t status = msg->payload.u64;

        if (status > UINT8_MAX)
                return vu_error(dev, -EINVAL, "SET_STATUS: status 0x%" PRIx64 " does not fit 8 bits",
                                status);

        /*
         * Status 0 is a device reset for the driver, but queue state is not
         * dropped here: QEMU 7.2 sends SET_STATUS 0 on stop *before* it asks
         * GET_VRING_BASE for each ring, and answering those with zeroed
         * indexes would corrupt the rings when the VM resumes. Rings are
         * reset by RESET_DEVICE / RESET_OWNER, restarted by SET_VRING_BASE.
         */
        dev->priv->status = (uint8_t) status;
        vu_log(dev, LOG_DEBUG, "Device status 0x%02x", (unsigned) status);
        return 0;
}

int vu_handle_get_status(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        msg->payload.u64 = dev->priv->status;
        msg->size = sizeof(uint64_t);
        *ret_reply = true;
        return 0;
}
