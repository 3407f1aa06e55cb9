/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvhost-user: the back-end side of the vhost-user protocol.
 *
 * This is the compatible API: the same types, constants and functions, with
 * the same meaning, as the long-standing libvhost-user interface, so that a
 * device written against that interface builds against this library unchanged.
 * The library owns no event loop: it asks the program to watch file
 * descriptors (set_watch/remove_watch) and the program calls vu_dispatch()
 * whenever the vhost-user socket is readable.
 *
 * Additions that go beyond the compatible API (state snapshots, counters,
 * a message observer, logging, a no-allocation pop) live in
 * libvhost-user-ext.h.
 *
 * Thread rules: a VuDev is not internally locked. vu_dispatch() and every
 * vu_queue_*() call on one device must be serialised by the caller, except
 * that distinct queues may be processed concurrently by distinct threads
 * once started (as with the original library). Only the backend channel
 * (slave_fd) is protected by slave_mutex.
 */
#ifndef LIBVHOST_USER_H
#define LIBVHOST_USER_H

#include <linux/vhost.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_LOG_PAGE 4096

/* Largest virtqueue the library accepts (SET_VRING_NUM). */
#define VIRTQUEUE_MAX_SIZE 1024

/* Regions carried by one SET_MEM_TABLE (one fd each, in one message). */
#define VHOST_MEMORY_BASELINE_NREGIONS 8

/*
 * Memory slots served through CONFIGURE_MEM_SLOTS (ADD/REM_MEM_REG). The
 * original library stopped at 32; QEMU's frontends offer up to 509 (the
 * KVM slot limit less a few).
 */
#define VHOST_USER_MAX_RAM_SLOTS 509

#define VHOST_USER_HDR_SIZE offsetof(VhostUserMsg, payload.u64)

typedef enum VhostSetConfigType {
        VHOST_SET_CONFIG_TYPE_MASTER = 0,
        VHOST_SET_CONFIG_TYPE_MIGRATION = 1,
} VhostSetConfigType;

/* Largest device config space GET/SET_CONFIG may carry. */
#define VHOST_USER_MAX_CONFIG_SIZE 256

enum VhostUserProtocolFeature {
        VHOST_USER_PROTOCOL_F_MQ = 0,
        VHOST_USER_PROTOCOL_F_LOG_SHMFD = 1,
        VHOST_USER_PROTOCOL_F_RARP = 2,
        VHOST_USER_PROTOCOL_F_REPLY_ACK = 3,
        VHOST_USER_PROTOCOL_F_NET_MTU = 4,
        VHOST_USER_PROTOCOL_F_SLAVE_REQ = 5,
        VHOST_USER_PROTOCOL_F_CROSS_ENDIAN = 6,
        VHOST_USER_PROTOCOL_F_CRYPTO_SESSION = 7,
        VHOST_USER_PROTOCOL_F_PAGEFAULT = 8,
        VHOST_USER_PROTOCOL_F_CONFIG = 9,
        VHOST_USER_PROTOCOL_F_SLAVE_SEND_FD = 10,
        VHOST_USER_PROTOCOL_F_HOST_NOTIFIER = 11,
        VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD = 12,
        VHOST_USER_PROTOCOL_F_RESET_DEVICE = 13,
        VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS = 14,
        VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
        VHOST_USER_PROTOCOL_F_STATUS = 16,

        VHOST_USER_PROTOCOL_F_MAX
};

/* The spec's newer names for the backend channel features. */
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ VHOST_USER_PROTOCOL_F_SLAVE_REQ
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD VHOST_USER_PROTOCOL_F_SLAVE_SEND_FD

#define VHOST_USER_PROTOCOL_FEATURE_MASK ((1ULL << VHOST_USER_PROTOCOL_F_MAX) - 1)

typedef enum VhostUserRequest {
        VHOST_USER_NONE = 0,
        VHOST_USER_GET_FEATURES = 1,
        VHOST_USER_SET_FEATURES = 2,
        VHOST_USER_SET_OWNER = 3,
        VHOST_USER_RESET_OWNER = 4,
        VHOST_USER_SET_MEM_TABLE = 5,
        VHOST_USER_SET_LOG_BASE = 6,
        VHOST_USER_SET_LOG_FD = 7,
        VHOST_USER_SET_VRING_NUM = 8,
        VHOST_USER_SET_VRING_ADDR = 9,
        VHOST_USER_SET_VRING_BASE = 10,
        VHOST_USER_GET_VRING_BASE = 11,
        VHOST_USER_SET_VRING_KICK = 12,
        VHOST_USER_SET_VRING_CALL = 13,
        VHOST_USER_SET_VRING_ERR = 14,
        VHOST_USER_GET_PROTOCOL_FEATURES = 15,
        VHOST_USER_SET_PROTOCOL_FEATURES = 16,
        VHOST_USER_GET_QUEUE_NUM = 17,
        VHOST_USER_SET_VRING_ENABLE = 18,
        VHOST_USER_SEND_RARP = 19,
        VHOST_USER_NET_SET_MTU = 20,
        VHOST_USER_SET_SLAVE_REQ_FD = 21,
        VHOST_USER_IOTLB_MSG = 22,
        VHOST_USER_SET_VRING_ENDIAN = 23,
        VHOST_USER_GET_CONFIG = 24,
        VHOST_USER_SET_CONFIG = 25,
        VHOST_USER_CREATE_CRYPTO_SESSION = 26,
        VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
        VHOST_USER_POSTCOPY_ADVISE = 28,
        VHOST_USER_POSTCOPY_LISTEN = 29,
        VHOST_USER_POSTCOPY_END = 30,
        VHOST_USER_GET_INFLIGHT_FD = 31,
        VHOST_USER_SET_INFLIGHT_FD = 32,
        VHOST_USER_GPU_SET_SOCKET = 33,
        VHOST_USER_RESET_DEVICE = 34,
        VHOST_USER_VRING_KICK = 35,
        VHOST_USER_GET_MAX_MEM_SLOTS = 36,
        VHOST_USER_ADD_MEM_REG = 37,
        VHOST_USER_REM_MEM_REG = 38,
        VHOST_USER_SET_STATUS = 39,
        VHOST_USER_GET_STATUS = 40,
        VHOST_USER_MAX
} VhostUserRequest;

typedef enum VhostUserSlaveRequest {
        VHOST_USER_SLAVE_NONE = 0,
        VHOST_USER_SLAVE_IOTLB_MSG = 1,
        VHOST_USER_SLAVE_CONFIG_CHANGE_MSG = 2,
        VHOST_USER_SLAVE_VRING_HOST_NOTIFIER_MSG = 3,
        VHOST_USER_SLAVE_VRING_CALL = 4,
        VHOST_USER_SLAVE_VRING_ERR = 5,
        VHOST_USER_SLAVE_MAX
} VhostUserSlaveRequest;

typedef struct VhostUserMemoryRegion {
        uint64_t guest_phys_addr;
        uint64_t memory_size;
        uint64_t userspace_addr;
        uint64_t mmap_offset;
} VhostUserMemoryRegion;

#define VHOST_USER_MEM_REG_SIZE (sizeof(VhostUserMemoryRegion))

typedef struct VhostUserMemory {
        uint32_t nregions;
        uint32_t padding;
        VhostUserMemoryRegion regions[VHOST_MEMORY_BASELINE_NREGIONS];
} VhostUserMemory;

typedef struct VhostUserMemRegMsg {
        uint64_t padding;
        VhostUserMemoryRegion region;
} VhostUserMemRegMsg;

typedef struct VhostUserLog {
        uint64_t mmap_size;
        uint64_t mmap_offset;
} VhostUserLog;

typedef struct VhostUserConfig {
        uint32_t offset;
        uint32_t size;
        uint32_t flags;
        uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
} VhostUserConfig;

#define VHOST_USER_CONFIG_HDR_SIZE offsetof(VhostUserConfig, region)

typedef struct VhostUserVringArea {
        uint64_t u64;
        uint64_t size;
        uint64_t offset;
} VhostUserVringArea;

typedef struct VhostUserInflight {
        uint64_t mmap_size;
        uint64_t mmap_offset;
        uint16_t num_queues;
        uint16_t queue_size;
} VhostUserInflight;

#define VU_PACKED __attribute__((packed))

/*
 * One message as it travels on the socket: a 12-byte header (request,
 * flags, size), a payload of `size` bytes, and up to
 * VHOST_MEMORY_BASELINE_NREGIONS file descriptors passed with SCM_RIGHTS.
 * `fds`, `fd_num` and `data` are local bookkeeping, never sent.
 */
typedef struct VhostUserMsg {
        int request;

#define VHOST_USER_VERSION_MASK (0x3)
#define VHOST_USER_REPLY_MASK (0x1 << 2)
#define VHOST_USER_NEED_REPLY_MASK (0x1 << 3)
        uint32_t flags;
        uint32_t size; /* payload bytes that follow the header */

        union {
#define VHOST_USER_VRING_IDX_MASK (0xff)
#define VHOST_USER_VRING_NOFD_MASK (0x1 << 8)
                uint64_t u64;
                struct vhost_vring_state state;
                struct vhost_vring_addr addr;
                VhostUserMemory memory;
                VhostUserMemRegMsg memreg;
                VhostUserLog log;
                VhostUserConfig config;
                VhostUserVringArea area;
                VhostUserInflight inflight;
        } payload;

        int fds[VHOST_MEMORY_BASELINE_NREGIONS];
        int fd_num;
        uint8_t *data;
} VU_PACKED VhostUserMsg;

/*
 * One region of guest memory as we mapped it. The region's first byte is at
 * mmap_addr + mmap_offset in our address space. mmap_offset is not the
 * frontend's offset into its fd: the library maps from that offset rounded
 * down to the fd's (huge) page size, so mmap_offset is only the remainder.
 */
typedef struct VuDevRegion {
        uint64_t gpa;         /* guest physical address of the region */
        uint64_t size;        /* bytes */
        uint64_t qva;         /* the frontend's virtual address of it */
        uint64_t mmap_offset; /* where the region starts inside our mapping */
        uint64_t mmap_addr;   /* our mapping's start (0 = not mapped) */
} VuDevRegion;

typedef struct VuDev VuDev;

typedef uint64_t (*vu_get_features_cb)(VuDev *dev);
typedef void (*vu_set_features_cb)(VuDev *dev, uint64_t features);
typedef int (*vu_process_msg_cb)(VuDev *dev, VhostUserMsg *vmsg, int *do_reply);
typedef bool (*vu_read_msg_cb)(VuDev *dev, int sock, VhostUserMsg *vmsg);
typedef void (*vu_queue_set_started_cb)(VuDev *dev, int qidx, bool started);
typedef bool (*vu_queue_is_processed_in_order_cb)(VuDev *dev, int qidx);
typedef int (*vu_get_config_cb)(VuDev *dev, uint8_t *config, uint32_t len);
typedef int (*vu_set_config_cb)(VuDev *dev, const uint8_t *data, uint32_t offset, uint32_t size,
                                uint32_t flags);

/* What a device provides. Every member may be NULL. */
typedef struct VuDevIface {
        /* GET_FEATURES: the device's virtio feature bits (the library adds its own). */
        vu_get_features_cb get_features;
        /* SET_FEATURES: the bits the frontend accepted. */
        vu_set_features_cb set_features;
        /* GET_PROTOCOL_FEATURES: extra protocol bits the device supports. */
        vu_get_features_cb get_protocol_features;
        /* SET_PROTOCOL_FEATURES: the protocol bits the frontend accepted. */
        vu_set_features_cb set_protocol_features;
        /* Called for every message that passed validation, and for requests the
         * library does not know; return non-zero to say it was handled. The fds
         * in vmsg are then the device's, and *do_reply says whether vmsg now
         * holds a reply to send (payload, or size bytes at data, freed after
         * sending; fds[0..fd_num) go with it and stay the device's). */
        vu_process_msg_cb process_msg;
        /* A queue started (kick fd set, rings mapped) or stopped. */
        vu_queue_set_started_cb queue_set_started;
        /* The device completes in order: after a crash the queue can resume from used->idx. */
        vu_queue_is_processed_in_order_cb queue_is_processed_in_order;
        /* GET_CONFIG: fill len bytes of config space; return 0 or -1. */
        vu_get_config_cb get_config;
        /* SET_CONFIG: the frontend wrote config space; return 0 or -1. */
        vu_set_config_cb set_config;
} VuDevIface;

typedef void (*vu_queue_handler_cb)(VuDev *dev, int qidx);

typedef struct VuRing {
        unsigned int num;
        struct vring_desc *desc;
        struct vring_avail *avail;
        struct vring_used *used;
        uint64_t log_guest_addr;
        uint32_t flags;
} VuRing;

/* Inflight tracking, split ring: one entry per descriptor (vhost-user spec layout). */
typedef struct VuDescStateSplit {
        uint8_t inflight;   /* head is in flight */
        uint8_t padding[5];
        uint16_t next;      /* link in the last-batch list */
        uint64_t counter;   /* fetch order of a head */
} VuDescStateSplit;

typedef struct VuVirtqInflight {
        uint64_t features;
        uint16_t version;         /* 1; 0 means a fresh (uninitialised) buffer */
        uint16_t desc_num;        /* entries in desc[] (the queue size) */
        uint16_t last_batch_head;
        uint16_t used_idx;        /* used->idx as last published */
        VuDescStateSplit desc[];
} VuVirtqInflight;

typedef struct VuVirtqInflightDesc {
        uint16_t index;
        uint64_t counter;
} VuVirtqInflightDesc;

/* Library-private state of a queue; read it through libvhost-user-ext.h. */
struct VuVirtqPriv;

typedef struct VuVirtq {
        VuRing vring;

        VuVirtqInflight *inflight;

        VuVirtqInflightDesc *resubmit_list;

        uint16_t resubmit_num;

        uint64_t counter;

        /* Next head to pop */
        uint16_t last_avail_idx;

        /* Last avail->idx read from the ring */
        uint16_t shadow_avail_idx;

        uint16_t used_idx;

        /* used_idx at the last call notification */
        uint16_t signalled_used;

        /* signalled_used means something */
        bool signalled_used_valid;

        /* Notifications wanted from the driver */
        bool notification;

        /* Elements popped and not yet flushed */
        int inuse;

        vu_queue_handler_cb handler;

        int call_fd;
        int kick_fd;
        int err_fd;
        unsigned int enable;
        bool started;

        /* Ring addresses as the frontend gave them */
        struct vhost_vring_addr vra;

        /* Everything below is ours; not part of the compatible API. */
        struct VuVirtqPriv *priv;
} VuVirtq;

enum VuWatchCondtion {
        VU_WATCH_IN = POLLIN,
        VU_WATCH_OUT = POLLOUT,
        VU_WATCH_PRI = POLLPRI,
        VU_WATCH_ERR = POLLERR,
        VU_WATCH_HUP = POLLHUP,
};

typedef void (*vu_panic_cb)(VuDev *dev, const char *err);
typedef void (*vu_watch_cb)(VuDev *dev, int condition, void *data);
typedef void (*vu_set_watch_cb)(VuDev *dev, int fd, int condition, vu_watch_cb cb, void *data);
typedef void (*vu_remove_watch_cb)(VuDev *dev, int fd);

typedef struct VuDevInflightInfo {
        int fd;
        void *addr;
        uint64_t size;
} VuDevInflightInfo;

/* Library-private state of a device. */
struct VuDevPriv;

struct VuDev {
        int sock;
        uint32_t nregions;
        VuDevRegion regions[VHOST_USER_MAX_RAM_SLOTS];
        VuVirtq *vq;
        VuDevInflightInfo inflight_info;
        int log_call_fd;
        /* Held while using slave_fd */
        pthread_mutex_t slave_mutex;
        int slave_fd;
        uint64_t log_size;
        uint8_t *log_table;
        uint64_t features;
        uint64_t protocol_features;
        bool broken;
        uint16_t max_queues;

        /*
         * read_msg: read one message from sock into vmsg; on failure close
         * any fds it received and return false. NULL: the library's reader.
         */
        vu_read_msg_cb read_msg;

        /* set_watch: watch fd for condition and call cb; replaces a previous watch on fd. */
        vu_set_watch_cb set_watch;

        /* remove_watch: stop watching fd. */
        vu_remove_watch_cb remove_watch;

        /* panic: the connection is unusable; the program may vu_deinit() and serve again. */
        vu_panic_cb panic;
        const VuDevIface *iface;

        /* Postcopy */
        int postcopy_ufd;
        bool postcopy_listening;

        /* Everything below is ours; not part of the compatible API. */
        struct VuDevPriv *priv;
};

typedef struct VuVirtqElement {
        unsigned int index;
        unsigned int out_num;
        unsigned int in_num;
        struct iovec *in_sg;
        struct iovec *out_sg;
} VuVirtqElement;

/**
 * vu_init: prepare @dev to serve the frontend connected on @socket.
 *
 * The library does not take ownership of @socket: vu_deinit() leaves it
 * open (the program closes it), matching the original library's users.
 * @read_msg may be NULL (the library's reader is used). @panic,
 * @set_watch, @remove_watch and @iface must not be NULL.
 *
 * Returns: true on success; false if an argument is invalid or memory ran out.
 */
bool vu_init(VuDev *dev, uint16_t max_queues, int socket, vu_panic_cb panic, vu_read_msg_cb read_msg,
             vu_set_watch_cb set_watch, vu_remove_watch_cb remove_watch, const VuDevIface *iface);

/**
 * vu_deinit: release everything @dev holds: guest memory mappings, the dirty
 * log, the inflight buffer, every kick/call/err fd (watches removed first),
 * the backend channel and allocations. Safe to call twice and on a device whose
 * vu_init() failed. Does not close dev->sock.
 */
void vu_deinit(VuDev *dev);

/**
 * vu_request_to_string: the name of request @req ("VHOST_USER_SET_MEM_TABLE"),
 * or "unknown" for a number outside the protocol. Static storage; do not free.
 */
const char *vu_request_to_string(unsigned int req);

/**
 * vu_dispatch: read and handle one message from the frontend.
 *
 * A request that is malformed or not allowed is refused: the error is
 * logged naming the request and the bad value, the fds it carried are
 * closed, a failure reply is sent where the frontend waits for one, and
 * the connection keeps being served. Returns false only when the
 * connection is unusable (peer closed, read error, a reply that cannot be
 * formed); then dev->broken is set and panic() has been called.
 */
bool vu_dispatch(VuDev *dev);

/**
 * vu_gpa_to_va: translate guest physical address @guest_addr.
 *
 * On input *@plen is the length wanted; on return it is the length that is
 * contiguous in our mapping from the returned pointer (possibly shorter, when
 * the range crosses a region end). Returns NULL if @guest_addr lies in no region.
 */
void *vu_gpa_to_va(VuDev *dev, uint64_t *plen, uint64_t guest_addr);

/** vu_get_queue: queue @qidx, or NULL if @qidx is not below max_queues. */
VuVirtq *vu_get_queue(VuDev *dev, int qidx);

/**
 * vu_set_queue_handler: call @handler whenever @vq is kicked (NULL stops).
 * The kick fd is watched through set_watch while a handler is set.
 */
void vu_set_queue_handler(VuDev *dev, VuVirtq *vq, vu_queue_handler_cb handler);

/**
 * vu_set_queue_host_notifier: offer the frontend a host notifier area for
 * @vq (a page of @fd at @offset) through the backend channel; @fd == -1
 * withdraws it. The fd is not taken over. Returns false if the backend
 * channel or HOST_NOTIFIER/SLAVE_SEND_FD was not negotiated, or sending failed;
 * true once sent (the frontend's answer is not awaited: this is called while
 * the frontend starts the device and cannot answer yet).
 */
bool vu_set_queue_host_notifier(VuDev *dev, VuVirtq *vq, int fd, int size, int offset);

/** vu_queue_set_notification: ask the driver to kick (@enable) or not. */
void vu_queue_set_notification(VuDev *dev, VuVirtq *vq, int enable);

/** vu_queue_enabled: SET_VRING_ENABLE state. */
bool vu_queue_enabled(VuDev *dev, VuVirtq *vq);

/** vu_queue_started: the queue has a kick fd (or in-band kicks) and mapped rings. */
bool vu_queue_started(const VuDev *dev, const VuVirtq *vq);

/** vu_queue_empty: nothing to pop (also true when the queue is not ready). */
bool vu_queue_empty(VuDev *dev, VuVirtq *vq);

/** vu_queue_notify: signal the call fd unless EVENT_IDX/NO_INTERRUPT say it is not needed. */
void vu_queue_notify(VuDev *dev, VuVirtq *vq);

/** vu_queue_notify_sync: as vu_queue_notify(), waiting for the frontend's ack when the call
 *  goes in-band over the backend channel. */
void vu_queue_notify_sync(VuDev *dev, VuVirtq *vq);

/**
 * vu_queue_pop: take the next available chain, with its buffers translated.
 *
 * @sz is the size of the structure to allocate (>= sizeof(VuVirtqElement));
 * the element and its in_sg/out_sg arrays are one allocation the caller
 * free()s. Returns NULL when the queue is empty, or when the chain is
 * malformed (then the device is marked broken and panic() called, because
 * the ring can no longer be trusted).
 */
void *vu_queue_pop(VuDev *dev, VuVirtq *vq, size_t sz);

/** vu_queue_unpop: give back the most recently popped element (it is popped again next). */
void vu_queue_unpop(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, size_t len);

/** vu_queue_rewind: give back @num popped elements; false if fewer are in use. */
bool vu_queue_rewind(VuDev *dev, VuVirtq *vq, unsigned int num);

/** vu_queue_fill: write @elem (with @len bytes written to its in buffers) at used slot
 *  used_idx + @idx, without publishing it yet. */
void vu_queue_fill(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len,
                   unsigned int idx);

/** vu_queue_push: vu_queue_fill() then vu_queue_flush(1). */
void vu_queue_push(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len);

/** vu_queue_flush: publish @num filled elements (used->idx += num). */
void vu_queue_flush(VuDev *dev, VuVirtq *vq, unsigned int num);

/**
 * vu_queue_get_avail_bytes: count the bytes of the available chains, stopping
 * once both limits are reached. Sets both to 0 if the ring is malformed.
 */
void vu_queue_get_avail_bytes(VuDev *vdev, VuVirtq *vq, unsigned int *in_bytes,
                              unsigned int *out_bytes, unsigned max_in_bytes, unsigned max_out_bytes);

/** vu_queue_avail_bytes: true if at least @in_bytes and @out_bytes are available. */
bool vu_queue_avail_bytes(VuDev *dev, VuVirtq *vq, unsigned int in_bytes, unsigned int out_bytes);

#ifdef __cplusplus
}
#endif

#endif /* LIBVHOST_USER_H */
