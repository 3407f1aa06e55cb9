/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the library's files share and nobody outside sees: private device
 * and queue state, the request-handler signature, and the functions each
 * protocol concern exports to the others. One section per file.
 *
 * Conventions: internal functions return 0 or a negative errno; a peer's
 * protocol violation is -EPROTO / -EBADMSG / -E2BIG / -EINVAL and is
 * reported through vu_error() naming the request and the bad value.
 * Received fds belong to the dispatcher: a handler that keeps one sets
 * msg->fds[i] = -1 (TAKE_FD); whatever is left is closed after the handler.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libvhost-user-ext.h"
#include "macro.h" /* lib/shared */

/* ---- limits a peer could push; named so tests and docs can cite them ---- */
#define VU_MAX_CHAIN_LEN VIRTQUEUE_MAX_SIZE        /* descriptors in one chain (direct + indirect) */
#define VU_MAX_INDIRECT_DESCS VIRTQUEUE_MAX_SIZE   /* entries in one indirect table */
#define VU_MAX_QUEUES 256                          /* VHOST_USER_VRING_IDX_MASK + 1 */
#define VU_MAX_LOG_SIZE (UINT64_C(1) << 40)        /* bitmap bytes: covers 32 PiB of guest memory */
#define VU_MAX_INFLIGHT_SIZE (UINT64_C(1) << 30)   /* bytes of the inflight buffer */

/* ---- private state ------------------------------------------------------ */

struct VuVirtqPriv {
        VuQueueStats stats;
        uint32_t num_set;           /* SET_VRING_NUM value, 0 before */
        bool packed;                /* VIRTIO_F_RING_PACKED negotiated */
        bool ready;                 /* rings translated (vring.desc/avail/used valid) */
        uint16_t resubmit_next;     /* next index into resubmit_list to hand back */
        bool kick_watched;          /* set_watch() active on kick_fd */
        uint64_t inflight_mask;     /* reserved for packed inflight */
        /* packed ring state (VIRTIO_F_RING_PACKED) */
        struct vring_packed_desc *desc_packed;
        struct vring_packed_desc_event *driver_event;
        struct vring_packed_desc_event *device_event;
        bool avail_wrap_counter;
        bool used_wrap_counter;
};

struct VuDevPriv {
        vu_log_cb log_cb;
        void *log_userdata;
        vu_message_observer_cb observer;
        void *observer_userdata;
        char last_error[256];

        bool owner;
        uint8_t status;
        uint64_t messages;
        uint64_t messages_refused;

        /* guest memory: last region hit, to make repeated translations O(1) */
        unsigned int region_hint;

        /* dirty log */
        uint64_t log_pages_marked;
        uint64_t log_writes;
        uint64_t log_started_usec;
        uint64_t log_stopped_usec;

        /* inflight buffer geometry from GET/SET_INFLIGHT_FD */
        uint16_t inflight_num_queues;
        uint16_t inflight_queue_size;

        /* one per queue; dev->vq[i].priv points here */
        struct VuVirtqPriv *vq_priv;

        /*
         * An fd to pass with the reply (GET_INFLIGHT_FD, POSTCOPY_ADVISE): a
         * handler that sets *ret_reply stores it here and gives it up; the
         * dispatcher sends it and closes it. -EBADF otherwise.
         */
        int reply_fd;
};

/* ---- dispatch.c: init, dispatch, logging -------------------------------- */

/* Log at a syslog priority through the program's handler (if any). */
void vu_log(VuDev *dev, int priority, const char *fmt, ...) _printf_(3, 4);

/* Record and log a refusal; returns @err (a negative errno) for chaining. */
int vu_error(VuDev *dev, int err, const char *fmt, ...) _printf_(3, 4);

/* The connection cannot go on: record, set dev->broken, call dev->panic(). */
void vu_panic(VuDev *dev, const char *fmt, ...) _printf_(2, 3);

/* Whether a virtio feature / protocol feature is negotiated. */
static inline bool vu_has_feature(const VuDev *dev, unsigned int bit) {
        return bit < 64 && (dev->features & (UINT64_C(1) << bit));
}
static inline bool vu_has_protocol_feature(const VuDev *dev, unsigned int bit) {
        return bit < 64 && (dev->protocol_features & (UINT64_C(1) << bit));
}

/*
 * A request handler. Returns 0 or -errno (having called vu_error()). A
 * handler whose request has a reply fills msg->payload/size and sets
 * *ret_reply; the dispatcher sends it. REPLY_ACK acks are the dispatcher's.
 */
typedef int (*vu_request_handler)(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);

/* Check a queue index from a request; -EINVAL (logged, naming @req) if out of range. */
int vu_check_queue_index(VuDev *dev, const char *req, uint64_t idx);

/* ---- message.c: wire format and validation (pure: no I/O, no VuDev) ----- */

/*
 * Check a message's framing against the table of requests: version bits,
 * payload size (exact or bounded by a count field), fd count, and the
 * payload fields that need no device state (nregions, config offset/size,
 * inflight geometry). On failure writes a reason naming the request and the
 * value into @err and returns -EBADMSG (bad size/fields), -E2BIG (too big)
 * or -EPROTO (unknown request, bad flags).
 */
int vu_message_check(const VhostUserMsg *msg, char *err, size_t errlen);

/* The request expects a reply in every case (GET_* and friends). */
bool vu_request_has_reply(uint32_t request);

/* ---- socket.c: reading and writing messages ----------------------------- */

/* The default read_msg: one message with its fds (MSG_CMSG_CLOEXEC); false on failure, fds closed. */
bool vu_message_read_default(VuDev *dev, int sock, VhostUserMsg *msg);

/* Send header + payload (+ fds). Returns 0 or -errno. */
int vu_message_write(int sock, const VhostUserMsg *msg, const int *fds, size_t nfds);

/* Read a reply (header + payload, no fds) with the given request number; -EPROTO on mismatch. */
int vu_message_read_reply(int sock, uint32_t request, VhostUserMsg *ret);

/* Close every fd in msg->fds[0..fd_num) that is still >= 0. */
void vu_message_close_fds(VhostUserMsg *msg);

/* ---- handlers-device.c: features, owner, config, status, queue count ----- */

int vu_handle_get_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_get_protocol_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_protocol_features(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_owner(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_reset_owner(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_reset_device(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_get_queue_num(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_get_config(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_config(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_status(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_get_status(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);

/* ---- memory.c: guest memory regions and address translation ------------- */

int vu_handle_set_mem_table(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_get_max_mem_slots(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_add_mem_reg(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_rem_mem_reg(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);

/* Unmap every region (disconnect, reset, new table). */
void vu_mem_unmap_all(VuDev *dev);

/* Pointer to [gpa, gpa+len) if it lies wholly inside one region, else NULL. len 0 is refused. */
void *vu_mem_gpa_range(VuDev *dev, uint64_t gpa, uint64_t len);

/* Pointer to [qva, qva+len) in the frontend's address space, wholly inside one region, else NULL. */
void *vu_mem_qva_range(VuDev *dev, uint64_t qva, uint64_t len);

/* Guest physical address of a pointer into our mapping of guest memory; false if not in one. */
bool vu_mem_va_to_gpa(const VuDev *dev, const void *va, uint64_t *ret_gpa);

/* ---- dirty-log.c: migration dirty log ----------------------------------- */

int vu_handle_set_log_base(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_log_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);

/* Drop the log mapping and log_call_fd. */
void vu_log_unmap(VuDev *dev);

/* Whether writes must be logged now (a log is mapped and LOG_ALL negotiated). */
static inline bool vu_log_enabled(const VuDev *dev) {
        return dev->log_table && (dev->features & (UINT64_C(1) << VHOST_F_LOG_ALL));
}

/* Mark the pages of [gpa, gpa+len) dirty (atomic OR); bits beyond the log are ignored. */
void vu_log_write(VuDev *dev, uint64_t gpa, uint64_t len);

/* Mark guest buffers written by the device: the first @len bytes of @iov[0..n). */
void vu_log_iov(VuDev *dev, const struct iovec *iov, unsigned int n, uint64_t len);

/* Mark [offset, offset+len) of @vq's used ring, if the ring is logged (VHOST_VRING_F_LOG). */
void vu_log_used(VuDev *dev, VuVirtq *vq, uint64_t offset, uint64_t len);

/* Signal log_call_fd (if any) after a batch of logged writes. */
void vu_log_kick(VuDev *dev);

/* ---- backend-channel.c: messages from us to the frontend ---------------- */

int vu_handle_set_slave_req_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);

/*
 * Send @msg (request, payload, size set by the caller) on the backend
 * channel with @fds; when the frontend negotiated REPLY_ACK and @want_reply,
 * wait for its ack. Returns 0, -ENOTCONN without a channel, or -errno.
 */
int vu_backend_send(VuDev *dev, VhostUserMsg *msg, const int *fds, size_t nfds, bool want_reply);

/* Close the channel. */
void vu_backend_close(VuDev *dev);

/* ---- postcopy.c: postcopy live migration (userfaultfd) ------------------ */

int vu_handle_postcopy_advise(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_postcopy_listen(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_postcopy_end(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
void vu_postcopy_close(VuDev *dev);

/* Whether userfaultfd can be opened here (PAGEFAULT is offered only then). */
bool vu_postcopy_available(void);

/* ---- handlers-vring.c: per-queue requests -------------------------------- */

int vu_handle_set_vring_num(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_vring_addr(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_vring_base(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_get_vring_base(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_vring_kick(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_vring_call(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_vring_err(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_vring_enable(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_vring_kick(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);

/* ---- inflight.c: inflight I/O tracking ---------------------------------- */

int vu_handle_get_inflight_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
int vu_handle_set_inflight_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply);
void vu_inflight_unmap(VuDev *dev);

/* ---- virtqueue.c / virtq-split.c: rings --------------------------------- */

/* Allocate dev->vq[] and their priv for max_queues; called by vu_init(). */
int vq_alloc_all(VuDev *dev);
void vq_free_all(VuDev *dev);

/* Translate @vq's ring addresses into pointers; -EFAULT (logged) if any ring is not mapped whole. */
int vq_map_rings(VuDev *dev, VuVirtq *vq);

/* Re-translate every queue's rings after the memory table changed; queues whose rings vanished stop. */
void vq_remap_all(VuDev *dev);

/* Stop and forget a queue (fds closed, watches removed, state zeroed); used by reset and deinit. */
void vq_reset(VuDev *dev, VuVirtq *vq);
