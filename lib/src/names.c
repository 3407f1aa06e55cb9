/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Names for feature bits, so that vuctl and the logs can say "EVENT_IDX"
 * instead of "bit 29". Only the bits every virtio device shares (the
 * transport range) and the vhost-user protocol bits: device-specific bits
 * (blk, net) are named by the device that knows them.
 */
#include "internal.h"

/* One name a line reads better than the packed columns clang-format would make. */
/* clang-format off */
static const char *const virtio_feature_names[] = {
        [24] = "NOTIFY_ON_EMPTY",
        [26] = "LOG_ALL", /* VHOST_F_LOG_ALL: vhost's, in the device-reserved range */
        [27] = "ANY_LAYOUT",
        [28] = "INDIRECT_DESC",
        [29] = "EVENT_IDX",
        [30] = "PROTOCOL_FEATURES", /* VHOST_USER_F_PROTOCOL_FEATURES */
        [32] = "VERSION_1",
        [33] = "ACCESS_PLATFORM",
        [34] = "RING_PACKED",
        [35] = "IN_ORDER",
        [36] = "ORDER_PLATFORM",
        [37] = "SR_IOV",
        [38] = "NOTIFICATION_DATA",
        [39] = "NOTIF_CONFIG_DATA",
        [40] = "RING_RESET",
        [41] = "ADMIN_VQ",
};

static const char *const protocol_feature_names[] = {
        [VHOST_USER_PROTOCOL_F_MQ] = "MQ",
        [VHOST_USER_PROTOCOL_F_LOG_SHMFD] = "LOG_SHMFD",
        [VHOST_USER_PROTOCOL_F_RARP] = "RARP",
        [VHOST_USER_PROTOCOL_F_REPLY_ACK] = "REPLY_ACK",
        [VHOST_USER_PROTOCOL_F_NET_MTU] = "NET_MTU",
        [VHOST_USER_PROTOCOL_F_SLAVE_REQ] = "BACKEND_REQ",
        [VHOST_USER_PROTOCOL_F_CROSS_ENDIAN] = "CROSS_ENDIAN",
        [VHOST_USER_PROTOCOL_F_CRYPTO_SESSION] = "CRYPTO_SESSION",
        [VHOST_USER_PROTOCOL_F_PAGEFAULT] = "PAGEFAULT",
        [VHOST_USER_PROTOCOL_F_CONFIG] = "CONFIG",
        [VHOST_USER_PROTOCOL_F_SLAVE_SEND_FD] = "BACKEND_SEND_FD",
        [VHOST_USER_PROTOCOL_F_HOST_NOTIFIER] = "HOST_NOTIFIER",
        [VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD] = "INFLIGHT_SHMFD",
        [VHOST_USER_PROTOCOL_F_RESET_DEVICE] = "RESET_DEVICE",
        [VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS] = "INBAND_NOTIFICATIONS",
        [VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS] = "CONFIGURE_MEM_SLOTS",
        [VHOST_USER_PROTOCOL_F_STATUS] = "STATUS",
        /* Defined by the spec after the compatible header's enum ended. */
        [17] = "XEN_MMAP",
        [18] = "SHARED_OBJECT",
        [19] = "DEVICE_STATE",
        [20] = "GET_VRING_BASE_INFLIGHT",
};
/* clang-format on */

_public_ const char *vu_virtio_feature_name(unsigned int bit) {
        return bit < ELEMENTSOF(virtio_feature_names) ? virtio_feature_names[bit] : NULL;
}

_public_ const char *vu_protocol_feature_name(unsigned int bit) {
        return bit < ELEMENTSOF(protocol_feature_names) ? protocol_feature_names[bit] : NULL;
}
