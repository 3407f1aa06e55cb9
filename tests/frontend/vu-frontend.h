/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vu-frontend: a small vhost-user frontend (the QEMU side) for tests and
 * benchmarks. It speaks the wire protocol on a unix socket or a socketpair,
 * owns memfd-backed guest memory, drives split rings as a virtio driver
 * would, and keeps dirty-log and inflight buffers. It never links the
 * backend library: it only borrows the wire types from libvhost-user.h, so
 * it can drive any vhost-user backend, ours or someone else's.
 *
 * In-process use: vf_conn_new_pair() gives the backend's end of a
 * socketpair; set a pump with vf_conn_set_pump() and it is called once
 * after every message sent (the pump calls vu_dispatch()), so a test stays
 * single-threaded and deterministic.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure: -ETIMEDOUT when no reply came in time, -EPROTO when the reply
 * was not the one expected, -EREMOTEIO when the backend answered a
 * REPLY_ACK with a failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libvhost-user.h" /* wire types and request numbers only */

#define VF_PAGE_SIZE 4096u
#define VF_MAX_FDS 8u
#define VF_MAX_PAYLOAD 4096u
#define VF_DEFAULT_TIMEOUT_MS 2000

/* ---- messages and connection ------------------------------------------- */

typedef struct VfMsg {
        uint32_t request;
        uint32_t flags;
        uint32_t size;
        union {
                uint8_t bytes[VF_MAX_PAYLOAD];
                uint64_t u64;
                struct vhost_vring_state state;
                struct vhost_vring_addr addr;
                VhostUserMemory memory;
                VhostUserMemRegMsg memreg;
                VhostUserLog log;
                VhostUserConfig config;
                VhostUserInflight inflight;
        } payload;
        int fds[VF_MAX_FDS]; /* received fds, owned by the message: vf_msg_close_fds() */
        unsigned int nfds;
} VfMsg;

/* Close the fds a received message still holds. */
void vf_msg_close_fds(VfMsg *msg);

typedef struct VfConn VfConn;

/* Called after each message sent, in-process: typically runs vu_dispatch() once. */
typedef void (*vf_pump_cb)(void *userdata);

/*
 * vf_conn_new_pair: a connection over a fresh socketpair. *@ret_backend_fd
 * is the backend's end; the caller owns it (give it to vu_init() and close
 * it after vu_deinit()). Returns 0 or -errno.
 */
int vf_conn_new_pair(VfConn **ret, int *ret_backend_fd);

/* vf_conn_connect: connect to a listening vhost-user socket at @path (waits up to @timeout_ms). */
int vf_conn_connect(const char *path, int timeout_ms, VfConn **ret);

/* vf_conn_free: close the socket; returns NULL. */
VfConn *vf_conn_free(VfConn *c);

/* The socket, for raw I/O or poll(). Still owned by the connection. */
int vf_conn_fd(const VfConn *c);

void vf_conn_set_pump(VfConn *c, vf_pump_cb pump, void *userdata);
void vf_conn_set_timeout(VfConn *c, int timeout_ms);

/*
 * Use REPLY_ACK for requests without a reply of their own (set by
 * vf_set_protocol_features() when the bit is in; can be forced either way).
 */
void vf_conn_set_reply_ack(VfConn *c, bool on);
bool vf_conn_reply_ack(const VfConn *c);

/*
 * vf_send: send one message (header + @size bytes of @payload + @fds). The
 * fds stay the caller's. Calls the pump afterwards.
 */
int vf_send(VfConn *c, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds,
            unsigned int nfds);

/* vf_send_raw: write bytes as they are (hostile tests), with optional fds. Calls the pump. */
int vf_send_raw(VfConn *c, const void *buf, size_t len, const int *fds, unsigned int nfds);

/*
 * vf_recv: read one message, waiting up to the connection's timeout. The
 * fds it carried go into @ret (close them with vf_msg_close_fds()).
 * Returns 0, -ETIMEDOUT, -ECONNRESET when the backend closed, -EPROTO on a
 * message too big or malformed.
 */
int vf_recv(VfConn *c, VfMsg *ret);

/*
 * vf_request: send a request and collect what answers it. With @ret_reply
 * the request has a reply of its own: it is read and checked (request
 * number, REPLY flag); an empty one means refused (-EREMOTEIO). Without, and REPLY_ACK on, NEED_REPLY is set
 * and the ack is read: -EREMOTEIO if it says failure. Without either, nothing is read.
 */
int vf_request(VfConn *c, uint32_t request, const void *payload, uint32_t size, const int *fds,
               unsigned int nfds, VfMsg *ret_reply);

/* ---- the standard requests ---------------------------------------------- */

int vf_get_features(VfConn *c, uint64_t *ret);
int vf_set_features(VfConn *c, uint64_t features);
int vf_get_protocol_features(VfConn *c, uint64_t *ret);
/* Also turns on REPLY_ACK use when @features has it. */
int vf_set_protocol_features(VfConn *c, uint64_t features);
int vf_set_owner(VfConn *c);
int vf_reset_owner(VfConn *c);
int vf_reset_device(VfConn *c);
int vf_get_queue_num(VfConn *c, uint64_t *ret);
int vf_get_max_mem_slots(VfConn *c, uint64_t *ret);
int vf_set_vring_num(VfConn *c, unsigned int idx, unsigned int num);
int vf_set_vring_base(VfConn *c, unsigned int idx, unsigned int base);
int vf_get_vring_base(VfConn *c, unsigned int idx, unsigned int *ret);
/* @fd < 0 sends the NOFD flag (polling / no notifications). */
int vf_set_vring_kick(VfConn *c, unsigned int idx, int fd);
int vf_set_vring_call(VfConn *c, unsigned int idx, int fd);
int vf_set_vring_err(VfConn *c, unsigned int idx, int fd);
int vf_set_vring_enable(VfConn *c, unsigned int idx, bool enable);
int vf_get_config(VfConn *c, uint32_t offset, uint32_t size, void *ret_buf);
int vf_set_config(VfConn *c, uint32_t offset, const void *buf, uint32_t size);
int vf_set_status(VfConn *c, uint8_t status);
int vf_get_status(VfConn *c, uint8_t *ret);

/* ---- guest memory -------------------------------------------------------- */

typedef struct VfRegion {
        uint64_t gpa;
        uint64_t size;
        uint64_t mmap_offset; /* where the region starts in its fd */
        int fd;               /* memfd (owned if owns_fd) */
        bool owns_fd;
        uint8_t *host;      /* our mapping of [gpa, gpa+size) */
        uint64_t next_free; /* bump allocator: offset of the next free byte */
} VfRegion;

typedef struct VfMem VfMem;

int vf_mem_new(VfMem **ret);
VfMem *vf_mem_free(VfMem *m);

/*
 * vf_mem_add_region: a new memfd-backed region of @size bytes at guest
 * address @gpa (both page-aligned, no overlap). Returns its index (>= 0).
 */
int vf_mem_add_region(VfMem *m, uint64_t gpa, uint64_t size);

/*
 * vf_mem_add_region_fd: a region that maps @size bytes of @fd from @offset
 * (page-aligned). The fd stays the caller's and must outlive the region:
 * this lets hundreds of regions share one memfd. Returns its index.
 */
int vf_mem_add_region_fd(VfMem *m, uint64_t gpa, uint64_t size, int fd, uint64_t offset);

/* Drop region @index from our table (unmap; close its fd if owned). Later indexes shift down. */
int vf_mem_remove_region(VfMem *m, unsigned int index);

unsigned int vf_mem_nregions(const VfMem *m);
const VfRegion *vf_mem_region(const VfMem *m, unsigned int index);

/* Our pointer to [gpa, gpa+len), or NULL unless it lies wholly inside one region. */
void *vf_mem_gpa(VfMem *m, uint64_t gpa, uint64_t len);

/* The frontend's own address of a guest address (what SET_VRING_ADDR carries); 0 if unmapped. */
uint64_t vf_mem_qva(VfMem *m, uint64_t gpa);

/* Bump-allocate @size bytes aligned to @align inside region @index; *@ret_gpa. Zeroed. */
int vf_mem_alloc(VfMem *m, unsigned int index, uint64_t size, uint64_t align, uint64_t *ret_gpa);

/* The VhostUserMemoryRegion that announces region @index. */
void vf_mem_describe(const VfMem *m, unsigned int index, VhostUserMemoryRegion *ret);

/* SET_MEM_TABLE with every region (at most 8). */
int vf_set_mem_table(VfConn *c, VfMem *m);
/* ADD_MEM_REG / REM_MEM_REG for region @index. */
int vf_add_mem_reg(VfConn *c, VfMem *m, unsigned int index);
int vf_rem_mem_reg(VfConn *c, VfMem *m, unsigned int index);

/* ---- split ring driver --------------------------------------------------- */

typedef struct VfBuf {
        uint64_t gpa;
        uint32_t len;
        bool write; /* device-writable */
} VfBuf;

typedef struct VfVring VfVring;

/*
 * vf_vring_new: lay out a split ring of @num entries (power of two) in
 * region @region of @m (desc, avail, used each page-aligned so tests can
 * tell their dirty-log pages apart), with fresh kick and call eventfds
 * (nonblocking, owned by the ring). @event_idx: the driver uses
 * used_event/avail_event. Indirect tables are taken from @region too.
 */
int vf_vring_new(VfMem *m, unsigned int region, unsigned int num, bool event_idx, VfVring **ret);
VfVring *vf_vring_free(VfVring *vr);

unsigned int vf_vring_num(const VfVring *vr);
uint64_t vf_vring_desc_gpa(const VfVring *vr);
uint64_t vf_vring_avail_gpa(const VfVring *vr);
uint64_t vf_vring_used_gpa(const VfVring *vr);
int vf_vring_kick_fd(const VfVring *vr);
int vf_vring_call_fd(const VfVring *vr);
struct vring_desc *vf_vring_desc(VfVring *vr);
struct vring_avail *vf_vring_avail(VfVring *vr);
struct vring_used *vf_vring_used(VfVring *vr);
unsigned int vf_vring_num_free(const VfVring *vr);

/* Tell the backend about the ring: NUM, BASE (@base), ADDR (with @log_flags/@log_gpa), KICK, CALL. */
int vf_vring_setup(VfConn *c, unsigned int idx, VfVring *vr, unsigned int base, bool log_used);

/*
 * vf_vring_add: put a chain of @n buffers on the descriptor table, either
 * directly or through one indirect table, and on the avail ring (not yet
 * published). Readable buffers must come before writable ones (as the spec
 * wants), but hostile tests may violate that. Returns 0 and *@ret_head, or
 * -ENOSPC when the table is full.
 */
int vf_vring_add(VfVring *vr, const VfBuf *bufs, unsigned int n, bool indirect, uint16_t *ret_head);

/*
 * vf_vring_publish: make the added chains visible (avail->idx). Returns
 * whether the device wants a kick (EVENT_IDX avail_event / NO_NOTIFY).
 */
bool vf_vring_publish(VfVring *vr);

/* Signal the kick eventfd. */
int vf_vring_kick(VfVring *vr);

/* Publish and kick if wanted. Returns 1 if kicked, 0 if not, or -errno. */
int vf_vring_publish_kick(VfVring *vr);

/*
 * vf_vring_take_calls: read the call eventfd without blocking; the number
 * of notifications since the last read (0 if none). With @timeout_ms > 0
 * wait up to that long for at least one.
 */
int vf_vring_take_calls(VfVring *vr, int timeout_ms, uint64_t *ret_count);

/*
 * vf_vring_get_used: the next used element, if any (returns 1, 0 if none):
 * its head and written length. The chain's descriptors are freed.
 */
int vf_vring_get_used(VfVring *vr, uint16_t *ret_head, uint32_t *ret_len);

/* EVENT_IDX: ask for a call when the used index passes @idx. */
void vf_vring_set_used_event(VfVring *vr, uint16_t idx);
/* EVENT_IDX: the device's avail_event. */
uint16_t vf_vring_avail_event(VfVring *vr);
/* VRING_AVAIL_F_NO_INTERRUPT on or off. */
void vf_vring_set_no_interrupt(VfVring *vr, bool on);
/* The used index we have consumed up to. */
uint16_t vf_vring_last_used(const VfVring *vr);
/* avail->idx as we published it. */
uint16_t vf_vring_avail_idx(const VfVring *vr);

/* ---- packed ring driver (VIRTIO_F_RING_PACKED) --------------------------- */

typedef struct VfPacked VfPacked;

/*
 * vf_packed_new: lay out a packed ring of @num entries (any size up to
 * 32768) in region @region of @m: the descriptor ring, the driver and the
 * device event suppression areas, each on its own page, with fresh kick and
 * call eventfds owned by the ring. Both wrap counters start at 1. @event_idx:
 * honour RING_EVENT_FLAGS_DESC when deciding to kick.
 */
int vf_packed_new(VfMem *m, unsigned int region, unsigned int num, bool event_idx, VfPacked **ret);
VfPacked *vf_packed_free(VfPacked *pr);

unsigned int vf_packed_num(const VfPacked *pr);
uint64_t vf_packed_desc_gpa(const VfPacked *pr);
uint64_t vf_packed_driver_event_gpa(const VfPacked *pr);
uint64_t vf_packed_device_event_gpa(const VfPacked *pr);
int vf_packed_kick_fd(const VfPacked *pr);
int vf_packed_call_fd(const VfPacked *pr);
struct vring_packed_desc *vf_packed_desc(VfPacked *pr);
/* Ring slots not taken by chains in flight. */
unsigned int vf_packed_num_free(const VfPacked *pr);
/* The slot (and lap) the driver writes next, and the one it expects the next used descriptor in. */
void vf_packed_next_avail(const VfPacked *pr, uint16_t *ret_pos, bool *ret_wrap);
void vf_packed_next_used(const VfPacked *pr, uint16_t *ret_pos, bool *ret_wrap);

/*
 * The SET_VRING_BASE word a frontend that lost its backend would send:
 * both positions at the next used slot the driver expects, with its wrap
 * counter (bits 0-14 + 15 avail, 16-30 + 31 used). A fresh ring: 0x80008000.
 */
uint32_t vf_packed_base(const VfPacked *pr);

/* Tell the backend about the ring: NUM, BASE (@base), ADDR (driver area as avail, device area as used), CALL, KICK. */
int vf_packed_setup(VfConn *c, unsigned int idx, VfPacked *pr, uint32_t base, bool log_used);

/*
 * vf_packed_add: write a chain of @n buffers (or one indirect table of
 * them) with a fresh buffer id, every descriptor but the first already
 * carrying its lap's AVAIL/USED bits; the first is made available by
 * vf_packed_publish(). Returns 0 and *@ret_id, or -ENOSPC.
 */
int vf_packed_add(VfPacked *pr, const VfBuf *bufs, unsigned int n, bool indirect, uint16_t *ret_id);

/* Make the added chains available (first descriptors' flags, after a release barrier). Returns whether to kick. */
bool vf_packed_publish(VfPacked *pr);
int vf_packed_kick(VfPacked *pr);
/* Publish and kick if wanted. Returns 1 if kicked, 0 if not, or -errno. */
int vf_packed_publish_kick(VfPacked *pr);
/* As vf_vring_take_calls(). */
int vf_packed_take_calls(VfPacked *pr, int timeout_ms, uint64_t *ret_count);

/*
 * vf_packed_get_used: the next used descriptor, if any (1; 0 if none; -EPROTO
 * for an id we never gave out): its id and written length. The slots of its
 * chain are skipped and the id is free again.
 */
int vf_packed_get_used(VfPacked *pr, uint16_t *ret_id, uint32_t *ret_len);

/*
 * VIRTIO_F_IN_ORDER negotiated: a used descriptor may stand for every buffer made
 * available up to its id; vf_packed_get_used() then hands them out one by one, the
 * skipped ones with their whole writable length. Set before adding buffers.
 */
void vf_packed_set_in_order(VfPacked *pr, bool on);

/* Our (driver) event suppression area: RING_EVENT_FLAGS_* and, for DESC, slot | wrap << 15. */
void vf_packed_set_driver_event(VfPacked *pr, uint16_t flags, uint16_t off_wrap);
/* The device's event suppression area as it wrote it. */
void vf_packed_device_event(VfPacked *pr, uint16_t *ret_flags, uint16_t *ret_off_wrap);

/* ---- dirty log ----------------------------------------------------------- */

typedef struct VfLog {
        int fd;
        uint64_t size; /* bytes of bitmap */
        uint8_t *map;
} VfLog;

/* A zeroed log memfd covering guest addresses [0, @guest_span). */
int vf_log_new(uint64_t guest_span, VfLog **ret);
VfLog *vf_log_free(VfLog *l);
/* Clear every bit. */
void vf_log_clear(VfLog *l);
/* Whether the page holding @gpa is marked. */
bool vf_log_test(const VfLog *l, uint64_t gpa);
/* Number of marked pages. */
uint64_t vf_log_count(const VfLog *l);

/* SET_LOG_BASE with the log's fd; reads the backend's reply (QEMU does). */
int vf_set_log_base(VfConn *c, VfLog *l);
/* SET_LOG_FD with an eventfd (kept by the caller). */
int vf_set_log_fd(VfConn *c, int fd);

/* ---- inflight ------------------------------------------------------------ */

typedef struct VfInflight {
        int fd;
        uint64_t mmap_size;
        uint64_t mmap_offset;
        uint16_t num_queues;
        uint16_t queue_size;
        void *map; /* our mapping, to look inside */
} VfInflight;

/* GET_INFLIGHT_FD for @num_queues queues of @queue_size; keeps the fd and maps it. */
int vf_get_inflight_fd(VfConn *c, uint16_t num_queues, uint16_t queue_size, VfInflight **ret);
/* SET_INFLIGHT_FD with a buffer kept from an earlier connection. */
int vf_set_inflight_fd(VfConn *c, const VfInflight *inf);
VfInflight *vf_inflight_free(VfInflight *inf);
