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
        /* ring walkers: the region of the last buffer walked, a guess (checked); in dev->regions or NULL */
        const VuDevRegion *region_hint;
        uint64_t inflight_mask;     /* reserved for packed inflight */
        /* packed ring state (VIRTIO_F_RING_PACKED) */
        struct vring_packed_desc *desc_packed;
        struct vring_packed_desc_event *driver_event;
        struct vring_packed_desc_event *device_event;
        bool avail_wrap_counter;
        bool used_wrap_counter;
        /* per buffer id and per batch slot, allocated at start (virtq-packed.c) */
        struct VqPackedState *packed_state;
        /* the inflight region of this queue holds the packed layout and is used (inflight.c) */
        bool inflight_packed_ok;
};

struct VuDevPriv {
        vu_log_cb log_cb;
        void *log_userdata;
        vu_message_observer_cb observer;
        void *observer_userdata;
        char last_error[256];

        bool owner;
        bool indirect_order_noted; /* told once: an indirect table's out-of-order WRITE flags ignored */
        uint8_t status;
        uint64_t messages;
        uint64_t messages_refused;

        /* guest memory: last region hit, to make repeated translations O(1) */
        unsigned int region_hint;
        /* bytes mapped at dev->regions[i].mmap_addr (hugetlbfs needs the exact length to unmap) */
        uint64_t region_map_len[VHOST_USER_MAX_RAM_SLOTS];

        /* dirty log */
        uint64_t log_pages_marked;
        uint64_t log_writes;
        uint64_t log_rewalk_fallbacks; /* fills logged from the element's iovecs: the chain no longer walked */
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

/* Send the header of @msg, then msg->size bytes from @body (which may be larger than the payload union). */
int vu_message_write_body(int sock, const VhostUserMsg *msg, const void *body, const int *fds, size_t nfds);

/* Read a reply (header + payload, no fds) with the given request number; -EPROTO on mismatch. */
int vu_message_read_reply(int sock, uint32_t request, VhostUserMsg *ret);

/* O_NONBLOCK on a notification fd the frontend passed (kick, call, err, log). Returns 0 or -errno. */
int vu_fd_set_nonblock(int fd);

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

/*
 * The region holding guest address @gpa, or NULL. For the descriptor walker,
 * which keeps the region of a chain's last buffer and translates the next
 * ones against it inline; the pointer is good until the memory table changes.
 */
const VuDevRegion *vu_mem_region_find(VuDev *dev, uint64_t gpa);

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

/*
 * The chain of @elem no longer walks (@why: the guest rewrote it, or it was
 * overwritten): mark from the element's iovecs instead, and count it.
 */
void vu_log_fill_fallback(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, uint64_t len,
                          const char *why);

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

/* Why PAGEFAULT is not offered (userfaultfd refused, and by what), or NULL when it is. */
const char *vu_postcopy_unavailable_reason(void);

/* Register dev->regions[i]'s mapping with the userfaultfd (when listening). */
int vu_postcopy_register(VuDev *dev, unsigned int i);

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

/* ---- virtqueue.c: queue lifecycle shared by every ring layout ------------ */

/* Buffers one chain may be translated into: a descriptor spanning regions takes several. */
#define VU_MAX_CHAIN_IOV (4 * VU_MAX_CHAIN_LEN)

/* Index of @vq in dev->vq[]. */
static inline unsigned int vq_index(const VuDev *dev, const VuVirtq *vq) {
        return (unsigned int) (vq - dev->vq);
}

/*
 * Start @vq: map its rings, prepare inflight resubmission, mark it started,
 * tell the device (queue_set_started) and watch its kick fd if a handler is
 * set. A started queue is left as it is. Returns 0 or -errno (logged).
 */
int vq_start(VuDev *dev, VuVirtq *vq);

/* Stop @vq: unwatch kick, mark stopped, tell the device. Fds and rings stay. */
void vq_stop(VuDev *dev, VuVirtq *vq);

/* Watch the kick fd iff the queue is started, has a kick fd and a handler; unwatch otherwise. */
void vq_update_kick_watch(VuDev *dev, VuVirtq *vq);

/* A kick arrived (eventfd or in-band VRING_KICK): count it and run the handler. */
void vq_kicked(VuDev *dev, VuVirtq *vq);

/*
 * Host address of [gpa, gpa+len) (len > 0) if it lies wholly in region @r
 * (may be NULL), else NULL; the ring walkers' inline translation against the
 * region of the last buffer. Region ends do not overflow (message.c checks
 * them), so neither does a range found inside one.
 */
static inline void *vq_region_range(const VuDevRegion *r, uint64_t gpa, uint64_t len) {
        uint64_t off;

        if (!r || gpa < r->gpa)
                return NULL;
        off = gpa - r->gpa;
        if (off >= r->size || len > r->size - off)
                return NULL;
        return (uint8_t *) (uintptr_t) (r->mmap_addr + r->mmap_offset) + off;
}

/* Whether @r (a walker's region guess, NULL or an entry of dev->regions) is below nregions. */
static inline bool vq_region_hint_valid(const VuDev *dev, const VuDevRegion *r) {
        return (uintptr_t) r < (uintptr_t) (dev->regions + dev->nregions);
}

/* ---- virtq-split.c: the split ring (split-ring.tex) ---------------------- */

/* What walking one descriptor chain found. */
typedef struct VqChain {
        unsigned int out_num;   /* device-readable iovecs, first in the array */
        unsigned int in_num;    /* device-writable iovecs, after them */
        uint64_t out_bytes;
        uint64_t in_bytes;
} VqChain;

/*
 * The descriptor walker, the part of the library that guest memory drives
 * most directly; pure so it can be fuzzed alone. Walks the chain at @head of
 * the @num-entry table @desc (guest memory), into an indirect table if there
 * is one, copying each descriptor once before checking it, and translates
 * every buffer into @iov[0..@iov_max) (@iov NULL: count and check only).
 * Changes no state. Returns 0 and fills @ret; -E2BIG if @iov_max is too
 * small (nothing consumed, retry with more); -EBADMSG for a malformed chain
 * (loop, bad index, bad indirect table, bad order, unmapped or overflowing
 * buffer, too long), with the reason in @err.
 */
int vq_split_walk(VuDev *dev, const struct vring_desc *desc, unsigned int num, unsigned int head,
                  struct iovec *iov, unsigned int iov_max, VqChain *ret, char *err, size_t errlen);

/* A chain found by peek() and not yet taken: commit() takes it. */
typedef struct VqPeek {
        unsigned int head;
        bool resubmit;          /* from the inflight resubmit list, not the avail ring */
        VqChain chain;
        unsigned int ndescs;    /* packed: ring descriptors the chain occupies */
        unsigned int entry;     /* packed resubmit: the inflight head entry */
} VqPeek;

/*
 * What a ring layout provides; virtqueue.c dispatches the public vu_queue_*()
 * calls through it, so a second layout (packed) adds a table, not a branch
 * in every device. Called only on a ready (mapped) queue of a sane device.
 */
typedef struct VqRingOps {
        /* Ring sizes for @num entries (bytes) and the alignment each needs. */
        void (*ring_sizes)(unsigned int num, uint64_t ret_size[3], uint64_t ret_align[3]);
        /* The queue is starting: read what the ring holds (used->idx). */
        void (*start)(VuDev *dev, VuVirtq *vq);
        /* 1 and @ret if a chain is available, 0 if none, -E2BIG, -EBADMSG (device broken). */
        int (*peek)(VuDev *dev, VuVirtq *vq, struct iovec *iov, unsigned int iov_max, VqPeek *ret);
        void (*commit)(VuDev *dev, VuVirtq *vq, const VqPeek *p);
        /*
         * peek() and commit() in one, filling @elem (its sg pointers into
         * @iov, which is not NULL): vu_queue_pop_into(), the hot path of the
         * devices that pop without allocating. Returns as peek().
         */
        int (*pop_into)(VuDev *dev, VuVirtq *vq, VuVirtqElement *elem, struct iovec *iov, unsigned int iov_max);
        /* vu_queue_pop_burst() on a poppable queue, @max > 0: chains taken (0: none here), or -EBADMSG. */
        int (*pop_burst)(VuDev *dev, VuVirtq *vq, VuVirtqElement *elems, struct iovec *iov, unsigned int max);
        bool (*rewind)(VuDev *dev, VuVirtq *vq, unsigned int num);
        void (*fill)(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, unsigned int len,
                     unsigned int idx);
        /* vu_queue_fill_burst() on a ready queue: fill() for each element. */
        void (*fill_burst)(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elems, const unsigned int *lens,
                           unsigned int n, unsigned int idx);
        void (*flush)(VuDev *dev, VuVirtq *vq, unsigned int num);
        bool (*empty)(VuDev *dev, VuVirtq *vq);
        void (*set_notification)(VuDev *dev, VuVirtq *vq, bool enable);
        /* Whether the driver wants a used-buffer notification now (EVENT_IDX, NO_INTERRUPT). */
        bool (*need_notify)(VuDev *dev, VuVirtq *vq);
        /* Sum the bytes of the available chains up to the limits; -EBADMSG (device broken). */
        int (*avail_bytes)(VuDev *dev, VuVirtq *vq, uint64_t max_in, uint64_t max_out, uint64_t *ret_in,
                           uint64_t *ret_out);
        /* The ring's own fields for a snapshot. */
        void (*get_info)(VuDev *dev, VuVirtq *vq, VuQueueInfo *ret);
} VqRingOps;

extern const VqRingOps vq_split_ops;

/* ---- virtq-packed.c: the packed ring (packed-ring.tex) -------------------- */

/*
 * The packed descriptor walker, pure like vq_split_walk() so it can be
 * fuzzed alone: the chain whose first descriptor sits at position @pos of
 * the @num-entry ring @ring, made available with driver wrap counter @wrap.
 * Each descriptor is copied once; every one of the chain must carry the
 * AVAIL/USED pattern of its lap (the counter flips past the ring's end), a
 * chain may not be longer than the ring, an INDIRECT descriptor must stand
 * alone and its table may not nest, buffer ids must be below @num, and every
 * buffer is translated and range-checked. Returns 1 and fills @ret,
 * *@ret_id (the buffer id) and *@ret_ndescs (ring slots taken); 0 if the
 * descriptor at @pos is not available; -E2BIG if @iov_max is too small;
 * -EBADMSG with the reason in @err. Changes no state.
 */
int vq_packed_walk(VuDev *dev, const struct vring_packed_desc *ring, unsigned int num, unsigned int pos,
                   bool wrap, struct iovec *iov, unsigned int iov_max, VqChain *ret, unsigned int *ret_id,
                   unsigned int *ret_ndescs, char *err, size_t errlen);

/* At start of a packed queue: check the bases against the size, (re)allocate per-id state. 0 or -errno (logged). */
int vq_packed_prepare(VuDev *dev, VuVirtq *vq);

/* Free what vq_packed_prepare() allocated. */
void vq_packed_free(VuVirtq *vq);

extern const VqRingOps vq_packed_ops;

/* ---- inflight.c: inflight bookkeeping on the pop/fill/flush path --------- */

/* At queue start: rebuild the resubmit list from the inflight buffer. 0 or -ENOMEM. */
int vq_inflight_prepare(VuDev *dev, VuVirtq *vq);

/* @head was taken from the avail ring: mark it in flight with the next counter value. */
void vq_inflight_pop(VuDev *dev, VuVirtq *vq, unsigned int head);

/* @head was written to the used ring: link it into the last-batch list. */
void vq_inflight_fill(VuDev *dev, VuVirtq *vq, unsigned int head);

/* @num entries were published (used->idx written): clear them, record used_idx. */
void vq_inflight_flush(VuDev *dev, VuVirtq *vq, unsigned int num);

/* Entries marked in flight for @vq (0 without an inflight buffer). */
unsigned int vq_inflight_count(VuDev *dev, VuVirtq *vq);

/* Forget the resubmit list of @vq. */
void vq_inflight_drop_resubmit(VuVirtq *vq);

/*
 * Packed layout (vhost-user "Inflight I/O tracking", DescStatePacked). The
 * resubmit list of a packed queue holds head entries of the region, not ring
 * positions. All of these do nothing when the queue has no usable region.
 */

/* A chain of @n ring descriptors (copies) was taken: record it. Returns its head entry, or -1 if untracked. */
int vq_inflight_packed_pop(VuDev *dev, VuVirtq *vq, const struct vring_packed_desc *descs, unsigned int n);

/* The chain recorded at head @entry is being returned (or put back): give its entries back to the free list. */
void vq_inflight_packed_fill(VuDev *dev, VuVirtq *vq, int entry);

/* Before a batch is published in the ring: record the used index and wrap counter it leads to. */
void vq_inflight_packed_flush_begin(VuDev *dev, VuVirtq *vq);

/* After: clear the in-flight mark of head @entry (once per chain of the batch)... */
void vq_inflight_packed_clear(VuDev *dev, VuVirtq *vq, int entry);

/* ...then make the batch the state a restarted backend rolls back to. */
void vq_inflight_packed_commit(VuDev *dev, VuVirtq *vq);

/*
 * Copy the descriptors recorded for head @entry into @ret[0..max). Returns
 * how many (1..max), or -EBADMSG when the region's links or counts are
 * inconsistent (the frontend owns that memory).
 */
int vq_inflight_packed_chain(VuDev *dev, VuVirtq *vq, unsigned int entry, struct vring_packed_desc *ret,
                             unsigned int max);
