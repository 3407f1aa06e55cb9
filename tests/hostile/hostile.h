/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A hostile frontend in a few calls: the helpers every test-<class>.c uses to
 * attack the library in-process. One end of a socketpair goes to vu_init(),
 * the test writes raw vhost-user bytes (with SCM_RIGHTS fds) on the other,
 * calls vu_dispatch() itself and reads whatever the library answered. Guest
 * memory is a memfd the test also maps, so rings and descriptors are written
 * by hand, byte for byte, exactly as a malicious guest would lay them out.
 *
 * Nothing here trusts the library: every helper reports what happened
 * (observer result, ack value, broken flag, panic text) and the tests decide
 * whether that is a clean refusal.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "libvhost-user-ext.h"
#include "libvhost-user.h"
#include "macro.h"

/* ---- test assertions: a failed check aborts with file, line and why ---- */

_Noreturn void hostile_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define check(expr)                                                                  \
        do {                                                                         \
                if (!(expr))                                                         \
                        hostile_fail(__FILE__, __LINE__, "check failed: %s", #expr); \
        } while (0)

#define check_msg(expr, ...)                                      \
        do {                                                      \
                if (!(expr))                                      \
                        hostile_fail(__FILE__, __LINE__, __VA_ARGS__); \
        } while (0)

/* Fake frontend virtual addresses: qva = gpa + HOSTILE_QVA_BASE. */
#define HOSTILE_QVA_BASE UINT64_C(0x7f0000000000)

typedef struct HostileQueue {
        uint16_t num;
        uint64_t desc_gpa;
        uint64_t avail_gpa;
        uint64_t used_gpa;
        uint16_t avail_idx; /* next avail->idx we publish */
} HostileQueue;

typedef struct HostileMem {
        int fd;             /* memfd backing the region (ours; a dup goes to the library) */
        uint8_t *map;       /* our mapping */
        uint64_t gpa;
        uint64_t size;
} HostileMem;

#define HOSTILE_MAX_MEM 4

typedef struct Hostile {
        VuDev dev;
        int fe;             /* our (frontend) end of the socketpair */
        int be;             /* the library's end, closed by hostile_free() */
        bool initialised;

        /* what the library told us */
        unsigned int panics;
        char panic_msg[512];
        unsigned int observed;  /* messages the observer saw */
        int last_result;        /* observer's result for the last message */
        char last_log[512];     /* last diagnostic the log handler got */
        bool last_dispatch;     /* vu_dispatch()'s return value */
        bool quiet;             /* do not echo library logs (fuzzers) */

        HostileMem mem[HOSTILE_MAX_MEM];
        unsigned int nmem;
        HostileQueue q[8];
} Hostile;

/* Count open fds of this process (/proc/self/fd, minus the directory's own). */
int hostile_count_fds(void);

/* Count mappings of this process (/proc/self/maps lines), to see mmap leaks. */
int hostile_count_maps(void);

/* socketpair + vu_init(max_queues) with log handler and observer. Aborts on failure. */
void hostile_new(Hostile *h, uint16_t max_queues);

/* vu_deinit, close both ends, unmap our guest memory. */
void hostile_free(Hostile *h);

/*
 * Write one message: header (request, flags, size) then @len payload bytes
 * (@len may differ from @size: that is the point of some tests), with @fds
 * attached to the first byte. @fds are not closed (the kernel duplicates them).
 * Returns 0 or -errno.
 */
int hostile_send_full(Hostile *h, uint32_t request, uint32_t flags, uint32_t size, const void *payload,
                      size_t len, const int *fds, size_t nfds);

/* Write arbitrary bytes with fds attached. Returns 0 or -errno. */
int hostile_send_raw(Hostile *h, const void *buf, size_t len, const int *fds, size_t nfds);

/* Close the fds a reply carried. */
void hostile_close_fds(VhostUserMsg *msg);

/* Call vu_dispatch() once; remember and return its result. */
bool hostile_dispatch(Hostile *h);

/* Read one reply without blocking. Returns 1 (filled @ret), 0 (nothing there), -errno. */
int hostile_recv(Hostile *h, VhostUserMsg *ret);

/*
 * Send a well-framed request (version 1, NEED_REPLY set), dispatch it, and
 * read the answer. Returns 1 if a reply came (in @ret_reply, may be NULL),
 * 0 if none came; fds in the reply are the caller's to close (closed when
 * @ret_reply is NULL). Aborts if the connection broke (h->last_dispatch false):
 * use hostile_send_full() + hostile_dispatch() where breaking is allowed.
 */
int hostile_request(Hostile *h, uint32_t request, const void *payload, uint32_t size, const int *fds,
                    size_t nfds, VhostUserMsg *ret_reply);

/*
 * The library refused @request: the observer saw a negative result, an ack
 * (when one came) is non-zero, the connection is still served, the device is
 * not broken, and the error text mentions one of the @needles (NULL-ended;
 * typically the bad value in decimal and in hex). Prints the error text.
 */
void hostile_expect_refused_(Hostile *h, const char *file, int line, uint32_t request, const void *payload,
                             uint32_t size, const int *fds, size_t nfds, const char *const *needles);
#define hostile_expect_refused(h, req, payload, size, fds, nfds, ...)                            \
        hostile_expect_refused_(h, __FILE__, __LINE__, req, payload, size, fds, nfds,            \
                                (const char *const[]){ __VA_ARGS__, NULL })

/* The library accepted @request (observer result 0, ack 0 if one came). Returns the reply if any. */
void hostile_expect_ok_(Hostile *h, const char *file, int line, uint32_t request, const void *payload,
                        uint32_t size, const int *fds, size_t nfds, VhostUserMsg *ret_reply);
#define hostile_expect_ok(h, req, payload, size, fds, nfds, reply) \
        hostile_expect_ok_(h, __FILE__, __LINE__, req, payload, size, fds, nfds, reply)

/* Whether the library's last error text contains @needle. */
bool hostile_error_mentions(const Hostile *h, const char *needle);

/*
 * GET/SET_FEATURES (VERSION_1, INDIRECT_DESC, PROTOCOL_FEATURES and @extra
 * features when offered), GET/SET_PROTOCOL_FEATURES (REPLY_ACK, MQ,
 * CONFIGURE_MEM_SLOTS, INFLIGHT_SHMFD, LOG_SHMFD when offered), SET_OWNER.
 */
void hostile_negotiate(Hostile *h, uint64_t extra_features);

/* Whether the protocol feature @bit was negotiated. */
bool hostile_has_protocol(const Hostile *h, unsigned int bit);

/* A fresh memfd of @size bytes (sealed against shrinking). Returns the fd. */
int hostile_memfd(uint64_t size);

/* Create guest memory [gpa, gpa+size) backed by a memfd we also map; nothing is sent. */
HostileMem *hostile_mem_add(Hostile *h, uint64_t gpa, uint64_t size);

/* A region description for @m (qva = gpa + HOSTILE_QVA_BASE, offset 0). */
VhostUserMemoryRegion hostile_mem_region(const HostileMem *m);

/* SET_MEM_TABLE with every region hostile_mem_add() made; must be accepted. */
void hostile_mem_table_send(Hostile *h);

/* Pointer to guest physical address @gpa in our view of guest memory; aborts if unmapped. */
void *hostile_gpa(Hostile *h, uint64_t gpa, uint64_t len);

/*
 * SET_VRING_NUM/ADDR/BASE/KICK/CALL/ENABLE for queue @qidx with the rings at
 * @desc_gpa (descriptor table), @desc_gpa + 16*num (avail) and the next 4 KiB
 * boundary after it (used). All must be accepted.
 */
void hostile_queue_setup(Hostile *h, unsigned int qidx, uint16_t num, uint64_t desc_gpa);

/* The same with SET_VRING_BASE @base (packed rings: wrap counters in bits 15 and 31). */
void hostile_queue_setup_base(Hostile *h, unsigned int qidx, uint16_t num, uint64_t desc_gpa, uint32_t base);

/* Write descriptor @i of a table at @table_gpa. */
void hostile_desc(Hostile *h, uint64_t table_gpa, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
                  uint16_t next);

/* Make head @head available on queue @qidx: avail->ring[idx % num] = head; avail->idx++. */
void hostile_avail(Hostile *h, unsigned int qidx, uint16_t head);

/* Set avail->idx of queue @qidx to @idx (the test's own, possibly absurd, value). */
void hostile_avail_set_idx(Hostile *h, unsigned int qidx, uint16_t idx);

/* vu_queue_pop() on queue @qidx. */
VuVirtqElement *hostile_pop(Hostile *h, unsigned int qidx);

/*
 * vu_queue_pop() on a malformed ring must return NULL, mark the device
 * broken and call panic() once, naming one of @needles. Prints the panic text.
 */
void hostile_expect_pop_refused_(Hostile *h, const char *file, int line, unsigned int qidx,
                                 const char *const *needles);
#define hostile_expect_pop_refused(h, qidx, ...) \
        hostile_expect_pop_refused_(h, __FILE__, __LINE__, qidx, (const char *const[]){ __VA_ARGS__, NULL })

/* The layout most tests start from: one 1 MiB region at gpa 0, queue 0 of 16
 * entries with its descriptor table at HOSTILE_DESC_GPA, buffers from HOSTILE_BUF_GPA. */
#define HOSTILE_MEM_SIZE UINT64_C(0x100000)
#define HOSTILE_DESC_GPA UINT64_C(0x1000)
#define HOSTILE_BUF_GPA UINT64_C(0x10000)
void hostile_setup_default(Hostile *h);

/* Total bytes in an iovec array. */
uint64_t hostile_iov_len(const struct iovec *iov, unsigned int n);

/* Print "<test>: ok" style progress lines. */
void hostile_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
