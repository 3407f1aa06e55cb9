/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inflight I/O tracking (vhost-user "Inflight I/O tracking", split and
 * packed layouts): a shared buffer, kept by the frontend across our
 * restarts, that records which chains we took and have not completed, so
 * that a restarted backend can redo them. Here: GET/SET_INFLIGHT_FD, the
 * bookkeeping that pop, fill and flush do, and rebuilding the resubmit list
 * when a queue starts.
 *
 * The buffer comes back from the frontend and may hold any bytes: every
 * index read from it is bounded by the geometry we validated, never by the
 * sizes written inside it.
 */
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>

#include "internal.h"

#define INFLIGHT_VERSION 1
/* Queue regions start on cache lines; this also matches the original library's layout. */
#define INFLIGHT_ALIGN 64

#define READ_ONCE(x) (*(const volatile __typeof__(x) *) &(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *) &(x) = (v))

/* The buffer only has to be consistent for a later process reading the memfd: program order is enough. */
#define compiler_barrier() __asm__ __volatile__("" ::: "memory")

_Static_assert(sizeof(VuDescStateSplit) == 16, "inflight entry layout");
_Static_assert(sizeof(VuVirtqInflight) == 16, "inflight header layout");

/* The packed layout (vhost-user DescStatePacked / QueueRegionPacked). */
typedef struct InflightDescPacked {
        uint8_t inflight;       /* head entry: its chain is in flight */
        uint8_t padding;
        uint16_t next;          /* free list link, and chain link while in flight */
        uint16_t last;          /* head entry: the chain's last entry */
        uint16_t num;           /* head entry: descriptors in the chain */
        uint64_t counter;       /* head entry: fetch order */
        uint16_t id;            /* the descriptor as we took it */
        uint16_t flags;
        uint32_t len;
        uint64_t addr;
} InflightDescPacked;

typedef struct InflightQueuePacked {
        uint64_t features;
        uint16_t version;
        uint16_t desc_num;
        uint16_t free_head;
        uint16_t old_free_head;
        uint16_t used_idx;
        uint16_t old_used_idx;
        uint8_t used_wrap_counter;
        uint8_t old_used_wrap_counter;
        uint8_t padding[7];
        InflightDescPacked desc[];
} InflightQueuePacked;

_Static_assert(sizeof(InflightDescPacked) == 32, "packed inflight entry layout");
_Static_assert(offsetof(InflightQueuePacked, desc) == 32, "packed inflight header layout");
_Static_assert(offsetof(InflightQueuePacked, version) == offsetof(VuVirtqInflight, version), "version field shared");

static uint64_t inflight_region_size(uint16_t queue_size, bool packed) {
        uint64_t s = packed ? sizeof(InflightQueuePacked) + (uint64_t) queue_size * sizeof(InflightDescPacked)
                            : sizeof(VuVirtqInflight) + (uint64_t) queue_size * sizeof(VuDescStateSplit);

        return (s + INFLIGHT_ALIGN - 1) & ~(uint64_t) (INFLIGHT_ALIGN - 1);
}

/* Check the geometry a frontend asks for; 0 or -EINVAL (logged, naming @req). */
static int inflight_check_geometry(VuDev *dev, const char *req, uint16_t num_queues, uint16_t queue_size) {
        if (!vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
                return vu_error(dev, -EPROTO, "%s: INFLIGHT_SHMFD not negotiated", req);
        if (num_queues == 0 || num_queues > dev->max_queues)
                return vu_error(dev, -EINVAL, "%s: num_queues %u out of range (1..%u)", req, num_queues,
                                dev->max_queues);
        if (queue_size == 0 || queue_size > VIRTQUEUE_MAX_SIZE)
                return vu_error(dev, -EINVAL, "%s: queue_size %u out of range (1..%u)", req, queue_size,
                                VIRTQUEUE_MAX_SIZE);
        return 0;
}

/* Put a mapped buffer in force: the device keeps @fd and @addr; queues point into it. */
static void inflight_install(VuDev *dev, int fd, void *addr, uint64_t size, uint16_t num_queues,
                             uint16_t queue_size) {
        /* The callers checked that @size is whole regions of one layout or the other. */
        uint64_t region = size / num_queues;

        vu_inflight_unmap(dev);
        dev->inflight_info.fd = fd;
        dev->inflight_info.addr = addr;
        dev->inflight_info.size = size;
        dev->priv->inflight_num_queues = num_queues;
        dev->priv->inflight_queue_size = queue_size;
        for (unsigned int i = 0; i < num_queues && i < dev->max_queues; i++) {
                dev->vq[i].inflight = (VuVirtqInflight *) ((uint8_t *) addr + i * region);
                /* A packed region is only written after the queue's start has read and checked it. */
                dev->vq[i].priv->inflight_packed_ok = false;
        }
}

void vu_inflight_unmap(VuDev *dev) {
        if (!dev)
                return;
        if (dev->vq)
                for (unsigned int i = 0; i < dev->max_queues; i++) {
                        dev->vq[i].inflight = NULL;
                        vq_inflight_drop_resubmit(&dev->vq[i]);
                }
        if (dev->inflight_info.addr)
                munmap(dev->inflight_info.addr, dev->inflight_info.size);
        safe_close(dev->inflight_info.fd);
        dev->inflight_info.fd = -1;
        dev->inflight_info.addr = NULL;
        dev->inflight_info.size = 0;
        if (dev->priv) {
                dev->priv->inflight_num_queues = 0;
                dev->priv->inflight_queue_size = 0;
        }
}

int vu_handle_get_inflight_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        VhostUserInflight in = msg->payload.inflight; /* copied: the message is packed */
        uint16_t num_queues = in.num_queues, queue_size = in.queue_size;
        _cleanup_close_ int fd = -EBADF, reply_fd = -EBADF;
        bool packed = vu_has_feature(dev, VIRTIO_F_RING_PACKED);
        uint64_t region, size;
        void *addr;
        int r;

        r = inflight_check_geometry(dev, "GET_INFLIGHT_FD", num_queues, queue_size);
        if (r < 0)
                return r;
        /* QEMU and DPDK negotiate features first: the layout follows the ring type in force. */
        region = inflight_region_size(queue_size, packed);
        size = region * num_queues; /* at most 256 queues of 16 KiB: far below VU_MAX_INFLIGHT_SIZE */

        fd = memfd_create("vhost-user-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return vu_error(dev, -errno, "GET_INFLIGHT_FD: cannot create memfd: %m");
        if (ftruncate(fd, (off_t) size) < 0)
                return vu_error(dev, -errno, "GET_INFLIGHT_FD: cannot size memfd to %" PRIu64 " bytes: %m", size);
        /* Sealed size: nobody can shrink it under a mapping (SIGBUS), including after our restart. */
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                vu_log(dev, LOG_WARNING, "GET_INFLIGHT_FD: cannot seal memfd: %m, ignoring");

        addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (addr == MAP_FAILED)
                return vu_error(dev, -errno, "GET_INFLIGHT_FD: cannot map %" PRIu64 " bytes: %m", size);

        /*
         * A memfd starts zeroed; stamp each queue region so a later SET_INFLIGHT_FD knows it is ours.
         * A packed region stays version 0 (uninitialised): its positions are not in guest memory, so
         * the first start takes them from SET_VRING_BASE.
         */
        for (unsigned int i = 0; i < num_queues; i++) {
                VuVirtqInflight *q = (VuVirtqInflight *) ((uint8_t *) addr + i * region);

                q->version = packed ? 0 : INFLIGHT_VERSION;
                q->desc_num = queue_size;
        }

        reply_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (reply_fd < 0) {
                r = -errno;
                munmap(addr, size);
                return vu_error(dev, r, "GET_INFLIGHT_FD: cannot duplicate memfd: %s", strerror(-r));
        }

        inflight_install(dev, TAKE_FD(fd), addr, size, num_queues, queue_size);

        safe_close(dev->priv->reply_fd);
        dev->priv->reply_fd = TAKE_FD(reply_fd);
        in.mmap_size = size;
        in.mmap_offset = 0;
        in.num_queues = num_queues;
        in.queue_size = queue_size;
        msg->payload.inflight = in;
        msg->size = sizeof(in);
        *ret_reply = true;
        vu_log(dev, LOG_INFO, "inflight buffer created: %u queues of %u entries, %s layout, %" PRIu64 " bytes",
               num_queues, queue_size, packed ? "packed" : "split", size);
        return 0;
}

int vu_handle_set_inflight_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        const VhostUserInflight in = msg->payload.inflight; /* copied: the message is packed */
        uint64_t size = in.mmap_size, offset = in.mmap_offset, need, need_packed;
        long page = sysconf(_SC_PAGESIZE);
        struct stat st;
        void *addr;
        int r;

        r = inflight_check_geometry(dev, "SET_INFLIGHT_FD", in.num_queues, in.queue_size);
        if (r < 0)
                return r;
        if (msg->fd_num != 1 || msg->fds[0] < 0)
                return vu_error(dev, -EBADMSG, "SET_INFLIGHT_FD: expected one fd, got %d", msg->fd_num);

        need = inflight_region_size(in.queue_size, false) * in.num_queues;
        need_packed = inflight_region_size(in.queue_size, true) * in.num_queues;
        if (size != need && size != need_packed)
                return vu_error(dev, -EINVAL,
                                "SET_INFLIGHT_FD: mmap_size %" PRIu64 " does not match %u queues of %u entries (%" PRIu64
                                " split, %" PRIu64 " packed)",
                                size, in.num_queues, in.queue_size, need, need_packed);
        if (size > VU_MAX_INFLIGHT_SIZE)
                return vu_error(dev, -E2BIG, "SET_INFLIGHT_FD: mmap_size %" PRIu64 " above %" PRIu64, size,
                                VU_MAX_INFLIGHT_SIZE);
        if (page <= 0 || offset % (uint64_t) page != 0)
                return vu_error(dev, -EINVAL, "SET_INFLIGHT_FD: mmap_offset 0x%" PRIx64 " not page aligned", offset);
        if (offset > UINT64_MAX - size || offset + size > (uint64_t) INT64_MAX)
                return vu_error(dev, -EINVAL, "SET_INFLIGHT_FD: mmap_offset 0x%" PRIx64 " + size overflows", offset);

        /* Mapping past the end of the file would SIGBUS us on first touch. */
        if (fstat(msg->fds[0], &st) < 0)
                return vu_error(dev, -errno, "SET_INFLIGHT_FD: cannot stat fd: %m");
        if (!S_ISREG(st.st_mode))
                return vu_error(dev, -EINVAL, "SET_INFLIGHT_FD: fd is not a memfd or regular file (mode 0%o)",
                                (unsigned int) st.st_mode);
        if ((uint64_t) st.st_size < offset + size)
                return vu_error(dev, -EINVAL,
                                "SET_INFLIGHT_FD: file of %" PRIu64 " bytes is shorter than offset 0x%" PRIx64 " + %" PRIu64,
                                (uint64_t) st.st_size, offset, size);

        addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, msg->fds[0], (off_t) offset);
        if (addr == MAP_FAILED)
                return vu_error(dev, -errno, "SET_INFLIGHT_FD: cannot map %" PRIu64 " bytes: %m", size);

        inflight_install(dev, TAKE_FD(msg->fds[0]), addr, size, in.num_queues, in.queue_size);
        vu_log(dev, LOG_INFO, "inflight buffer set: %u queues of %u entries, %" PRIu64 " bytes", in.num_queues,
               in.queue_size, size);
        return 0;
}

/* ---- bookkeeping on the data path ------------------------------------------ */

/* Entries of @vq's region we may touch: the validated geometry, never the buffer's own desc_num. */
static unsigned int inflight_entries(const VuDev *dev, const VuVirtq *vq) {
        return vq->inflight ? dev->priv->inflight_queue_size : 0;
}

void vq_inflight_pop(VuDev *dev, VuVirtq *vq, unsigned int head) {
        VuDescStateSplit *d;

        if (head >= inflight_entries(dev, vq))
                return;
        d = &vq->inflight->desc[head];
        WRITE_ONCE(d->counter, vq->counter++);
        compiler_barrier();
        WRITE_ONCE(d->inflight, 1);
}

void vq_inflight_fill(VuDev *dev, VuVirtq *vq, unsigned int head) {
        if (head >= inflight_entries(dev, vq))
                return;
        WRITE_ONCE(vq->inflight->desc[head].next, READ_ONCE(vq->inflight->last_batch_head));
        compiler_barrier();
        WRITE_ONCE(vq->inflight->last_batch_head, (uint16_t) head);
}

/* Clear the in-flight mark of up to @num entries of the last-batch list. */
static void inflight_clear_batch(VuDev *dev, VuVirtq *vq, unsigned int num) {
        unsigned int n = inflight_entries(dev, vq);
        uint16_t i = READ_ONCE(vq->inflight->last_batch_head);

        for (unsigned int k = 0; k < num && k < n; k++) {
                if (i >= n)
                        break;
                WRITE_ONCE(vq->inflight->desc[i].inflight, 0);
                i = READ_ONCE(vq->inflight->desc[i].next);
        }
}

void vq_inflight_flush(VuDev *dev, VuVirtq *vq, unsigned int num) {
        if (inflight_entries(dev, vq) == 0)
                return;
        /* used->idx was written first: a crash before this point is repaired at the next start. */
        compiler_barrier();
        inflight_clear_batch(dev, vq, num);
        compiler_barrier();
        WRITE_ONCE(vq->inflight->used_idx, vq->used_idx);
}

unsigned int vq_inflight_count(VuDev *dev, VuVirtq *vq) {
        unsigned int n = inflight_entries(dev, vq), count = 0;

        if (vq->priv->packed) {
                const InflightQueuePacked *q = (const InflightQueuePacked *) vq->inflight;

                if (!vq->priv->inflight_packed_ok)
                        return 0;
                for (unsigned int i = 0; i < n; i++)
                        count += READ_ONCE(q->desc[i].inflight) == 1;
                return count;
        }

        for (unsigned int i = 0; i < n; i++)
                count += READ_ONCE(vq->inflight->desc[i].inflight) == 1;
        return count;
}

void vq_inflight_drop_resubmit(VuVirtq *vq) {
        free(vq->resubmit_list);
        vq->resubmit_list = NULL;
        vq->resubmit_num = 0;
        if (vq->priv)
                vq->priv->resubmit_next = 0;
}

static int inflight_desc_compare(const void *a, const void *b) {
        const VuVirtqInflightDesc *x = a, *y = b;

        return x->counter < y->counter ? -1 : x->counter > y->counter;
}

/* ---- packed layout ------------------------------------------------------------ */

/* The queue's region as the packed layout, or NULL when it is not in use for this queue. */
static InflightQueuePacked *inflight_packed(const VuVirtq *vq) {
        return vq->inflight && vq->priv->packed && vq->priv->inflight_packed_ok ? (InflightQueuePacked *) vq->inflight
                                                                                   : NULL;
}

static void inflight_packed_disable(VuDev *dev, VuVirtq *vq, const char *why) {
        if (vq->priv->inflight_packed_ok)
                vu_log(dev, LOG_WARNING, "queue %u: inflight buffer %s, no longer tracking in-flight requests",
                       vq_index(dev, vq), why);
        vq->priv->inflight_packed_ok = false;
}

int vq_inflight_packed_pop(VuDev *dev, VuVirtq *vq, const struct vring_packed_desc *descs, unsigned int n) {
        InflightQueuePacked *q = inflight_packed(vq);
        unsigned int entries = inflight_entries(dev, vq);
        uint16_t head, i, last = 0;

        if (!q || n == 0)
                return -1;

        /* Each descriptor goes to the next free entry; the first one's entry is the chain's head. */
        head = i = READ_ONCE(q->free_head);
        for (unsigned int k = 0; k < n; k++) {
                InflightDescPacked *d;

                if (i >= entries) {
                        inflight_packed_disable(dev, vq, "free list broken");
                        return -1;
                }
                d = &q->desc[i];
                WRITE_ONCE(d->addr, descs[k].addr);
                WRITE_ONCE(d->len, descs[k].len);
                WRITE_ONCE(d->id, descs[k].id);
                WRITE_ONCE(d->flags, descs[k].flags);
                last = i;
                i = READ_ONCE(d->next);
        }
        WRITE_ONCE(q->desc[head].num, (uint16_t) n);
        WRITE_ONCE(q->desc[head].last, last);
        WRITE_ONCE(q->desc[head].counter, vq->counter++);
        compiler_barrier();
        WRITE_ONCE(q->desc[head].inflight, 1);
        compiler_barrier();
        WRITE_ONCE(q->free_head, i);
        compiler_barrier();
        /* Until here a restarted backend rolls back to old_free_head: the chain is not taken. */
        WRITE_ONCE(q->old_free_head, i);
        return head;
}

void vq_inflight_packed_fill(VuDev *dev, VuVirtq *vq, int entry) {
        InflightQueuePacked *q = inflight_packed(vq);
        unsigned int entries = inflight_entries(dev, vq);
        uint16_t last;

        if (!q || entry < 0 || (unsigned int) entry >= entries)
                return;
        last = READ_ONCE(q->desc[entry].last);
        if (last >= entries)
                return;
        WRITE_ONCE(q->desc[last].next, READ_ONCE(q->free_head));
        compiler_barrier();
        WRITE_ONCE(q->free_head, (uint16_t) entry);
}

void vq_inflight_packed_flush_begin(VuDev *dev, VuVirtq *vq) {
        InflightQueuePacked *q = inflight_packed(vq);

        if (!q)
                return;
        WRITE_ONCE(q->used_idx, vq->used_idx);
        WRITE_ONCE(q->used_wrap_counter, vq->priv->used_wrap_counter);
        compiler_barrier();
}

void vq_inflight_packed_clear(VuDev *dev, VuVirtq *vq, int entry) {
        InflightQueuePacked *q = inflight_packed(vq);

        if (!q || entry < 0 || (unsigned int) entry >= inflight_entries(dev, vq))
                return;
        WRITE_ONCE(q->desc[entry].inflight, 0);
}

void vq_inflight_packed_commit(VuDev *dev, VuVirtq *vq) {
        InflightQueuePacked *q = inflight_packed(vq);

        if (!q)
                return;
        compiler_barrier();
        WRITE_ONCE(q->old_free_head, READ_ONCE(q->free_head));
        WRITE_ONCE(q->old_used_idx, vq->used_idx);
        WRITE_ONCE(q->old_used_wrap_counter, vq->priv->used_wrap_counter);
}

int vq_inflight_packed_chain(VuDev *dev, VuVirtq *vq, unsigned int entry, struct vring_packed_desc *ret,
                             unsigned int max) {
        InflightQueuePacked *q = inflight_packed(vq);
        unsigned int entries = inflight_entries(dev, vq), n;
        uint16_t i = (uint16_t) entry;

        if (!q || entry >= entries)
                return -EBADMSG;
        n = READ_ONCE(q->desc[entry].num);
        if (n == 0 || n > max)
                return -EBADMSG;
        for (unsigned int k = 0; k < n; k++) {
                if (i >= entries)
                        return -EBADMSG;
                ret[k] = (struct vring_packed_desc) {
                        .addr = READ_ONCE(q->desc[i].addr),
                        .len = READ_ONCE(q->desc[i].len),
                        .id = READ_ONCE(q->desc[i].id),
                        .flags = READ_ONCE(q->desc[i].flags),
                };
                i = READ_ONCE(q->desc[i].next);
        }
        return (int) n;
}

/* A fresh region: every entry free, positions from SET_VRING_BASE. */
static void inflight_packed_init(VuDev *dev, VuVirtq *vq, InflightQueuePacked *q, unsigned int entries) {
        memset(q->desc, 0, (size_t) entries * sizeof(InflightDescPacked));
        for (unsigned int i = 0; i < entries; i++)
                q->desc[i].next = (uint16_t) (i + 1); /* the last one points past the end: list exhausted */
        q->features = 0;
        q->desc_num = (uint16_t) entries;
        q->free_head = q->old_free_head = 0;
        q->used_idx = q->old_used_idx = vq->used_idx;
        q->used_wrap_counter = q->old_used_wrap_counter = vq->priv->used_wrap_counter;
        compiler_barrier();
        q->version = INFLIGHT_VERSION;
        vq->priv->inflight_packed_ok = true;
}

static int inflight_prepare_packed(VuDev *dev, VuVirtq *vq) {
        unsigned int idx = vq_index(dev, vq), entries = inflight_entries(dev, vq), num = vq->vring.num, count = 0;
        InflightQueuePacked *q = (InflightQueuePacked *) vq->inflight;
        _cleanup_free_ VuVirtqInflightDesc *list = NULL;
        uint16_t version, free_head, old_free_head, used, old_used;
        uint8_t wrap, old_wrap;
        uint64_t max_counter = 0, slots = 0;

        vq->priv->inflight_packed_ok = false;
        if (entries == 0)
                return 0;
        if (dev->inflight_info.size / dev->priv->inflight_num_queues < inflight_region_size(entries, true)) {
                vu_log(dev, LOG_WARNING, "queue %u: inflight buffer is laid out for split rings, packed ring runs untracked",
                       idx);
                return 0;
        }
        if (entries < num) {
                vu_log(dev, LOG_WARNING, "queue %u: inflight buffer has %u entries for a ring of %u, ring runs untracked",
                       idx, entries, num);
                return 0;
        }

        version = READ_ONCE(q->version);
        free_head = READ_ONCE(q->free_head);
        old_free_head = READ_ONCE(q->old_free_head);
        used = READ_ONCE(q->used_idx);
        old_used = READ_ONCE(q->old_used_idx);
        wrap = READ_ONCE(q->used_wrap_counter);
        old_wrap = READ_ONCE(q->old_used_wrap_counter);
        if (version == INFLIGHT_VERSION &&
            (free_head > entries || old_free_head > entries || used >= num || old_used >= num || wrap > 1 || old_wrap > 1)) {
                vu_log(dev, LOG_WARNING,
                       "queue %u: inflight header inconsistent (free_head %u/%u, used_idx %u/%u, wrap %u/%u for %u entries), starting afresh",
                       idx, free_head, old_free_head, used, old_used, wrap, old_wrap, entries);
                version = 0;
        } else if (version != INFLIGHT_VERSION && version != 0)
                vu_log(dev, LOG_WARNING, "queue %u: inflight region has version %u (expected %u), starting afresh", idx,
                       version, INFLIGHT_VERSION);
        if (version != INFLIGHT_VERSION) {
                inflight_packed_init(dev, vq, q, entries);
                return 0;
        }
        /* free_head == entries: every entry in use (the list is exhausted), legal for a full ring. */

        /*
         * A crash inside a flush: if the used descriptor at old_used_idx no longer
         * looks available for its lap, the batch reached the guest: keep it; else
         * roll back to the state before it.
         */
        if (used != old_used || wrap != old_wrap) {
                uint16_t flags = le16toh(READ_ONCE(vq->priv->desc_packed[old_used].flags));
                bool still_avail = !!(flags & (1u << VRING_PACKED_DESC_F_AVAIL)) == old_wrap &&
                                   !!(flags & (1u << VRING_PACKED_DESC_F_USED)) != old_wrap;

                if (!still_avail) {
                        old_free_head = free_head;
                        old_used = used;
                        old_wrap = wrap;
                }
        }
        WRITE_ONCE(q->free_head, old_free_head);
        WRITE_ONCE(q->old_free_head, old_free_head);
        WRITE_ONCE(q->used_idx, old_used);
        WRITE_ONCE(q->old_used_idx, old_used);
        WRITE_ONCE(q->used_wrap_counter, old_wrap);
        WRITE_ONCE(q->old_used_wrap_counter, old_wrap);

        /* Entries on the free list are not in flight, whatever they say (a chain half taken). */
        for (unsigned int k = 0, i = old_free_head; k < entries && i < entries; k++) {
                WRITE_ONCE(q->desc[i].inflight, 0);
                i = READ_ONCE(q->desc[i].next);
        }

        list = calloc(entries, sizeof(*list));
        if (!list)
                return -ENOMEM;
        for (unsigned int i = 0; i < entries; i++) {
                uint16_t n;

                if (READ_ONCE(q->desc[i].inflight) != 1)
                        continue;
                n = READ_ONCE(q->desc[i].num);
                if (n == 0 || n > num) {
                        vu_log(dev, LOG_WARNING, "queue %u: inflight entry %u has a chain of %u for a ring of %u, dropped",
                               idx, i, n, num);
                        WRITE_ONCE(q->desc[i].inflight, 0);
                        continue;
                }
                list[count].index = (uint16_t) i;
                list[count].counter = READ_ONCE(q->desc[i].counter);
                max_counter = MAX(max_counter, list[count].counter);
                slots += n;
                count++;
        }
        if (slots > num) {
                vu_log(dev, LOG_WARNING, "queue %u: inflight chains take %" PRIu64 " slots of a ring of %u, starting afresh",
                       idx, slots, num);
                inflight_packed_init(dev, vq, q, entries);
                return 0;
        }

        /* The region, not SET_VRING_BASE, knows where a crashed backend stood; chains in flight follow used_idx. */
        vq->used_idx = old_used;
        vq->priv->used_wrap_counter = old_wrap;
        vq->last_avail_idx = (uint16_t) ((old_used + slots) % num);
        vq->priv->avail_wrap_counter = (old_used + slots >= num) ? !old_wrap : old_wrap;
        vq->shadow_avail_idx = vq->last_avail_idx;
        vq->inuse = (int) count;
        vq->priv->inflight_packed_ok = true;
        if (count == 0)
                return 0;

        qsort(list, count, sizeof(*list), inflight_desc_compare);
        vq->counter = max_counter + 1;
        vq->resubmit_list = TAKE_PTR(list);
        vq->resubmit_num = (uint16_t) count;
        vq->priv->resubmit_next = 0;
        vu_log(dev, LOG_INFO, "queue %u: %u inflight chains to resubmit, resuming at slot %u (wrap %u)", idx, count,
               vq->last_avail_idx, vq->priv->avail_wrap_counter);
        return 0;
}

int vq_inflight_prepare(VuDev *dev, VuVirtq *vq) {
        unsigned int idx = vq_index(dev, vq), n = inflight_entries(dev, vq), count = 0;
        _cleanup_free_ VuVirtqInflightDesc *list = NULL;
        VuVirtqInflight *inf = vq->inflight;
        uint64_t max_counter = 0;
        uint16_t version, inf_used;

        vq_inflight_drop_resubmit(vq);
        vq->counter = 0;
        if (vq->priv->packed)
                return inflight_prepare_packed(dev, vq);
        if (n == 0)
                return 0;

        version = READ_ONCE(inf->version);
        if (version != INFLIGHT_VERSION) {
                if (version != 0)
                        vu_log(dev, LOG_WARNING, "queue %u: inflight region has version %u (expected %u), starting afresh",
                               idx, version, INFLIGHT_VERSION);
                memset(inf->desc, 0, (size_t) n * sizeof(VuDescStateSplit));
                inf->features = 0;
                inf->last_batch_head = 0;
                inf->used_idx = vq->used_idx;
                inf->desc_num = (uint16_t) n;
                compiler_barrier();
                inf->version = INFLIGHT_VERSION;
                return 0;
        }

        /* A crash between publishing used->idx and clearing the batch: that batch is done, clear it. */
        inf_used = READ_ONCE(inf->used_idx);
        if (inf_used != vq->used_idx) {
                uint16_t batch = (uint16_t) (vq->used_idx - inf_used);

                if (batch > n)
                        vu_log(dev, LOG_WARNING,
                               "queue %u: inflight used_idx %u is %u behind used->idx %u (more than %u entries), clearing at most %u",
                               idx, inf_used, batch, vq->used_idx, n, n);
                inflight_clear_batch(dev, vq, batch);
                WRITE_ONCE(inf->used_idx, vq->used_idx);
        }

        /* One pass, each entry read once: the frontend can write the buffer while we read it. */
        list = calloc(n, sizeof(*list));
        if (!list)
                return -ENOMEM;
        for (unsigned int i = 0; i < n; i++) {
                if (READ_ONCE(inf->desc[i].inflight) != 1)
                        continue;
                if (i >= vq->vring.num) {
                        /* A head the ring cannot have: the buffer is not ours to believe. */
                        vu_log(dev, LOG_WARNING, "queue %u: inflight entry %u beyond queue size %u, dropped", idx, i,
                               vq->vring.num);
                        WRITE_ONCE(inf->desc[i].inflight, 0);
                        continue;
                }
                list[count].index = (uint16_t) i;
                list[count].counter = READ_ONCE(inf->desc[i].counter);
                max_counter = MAX(max_counter, list[count].counter);
                count++;
        }

        /* Every chain we took is either in the used ring or still marked: resume after all of them. */
        vq->last_avail_idx = vq->shadow_avail_idx = (uint16_t) (vq->used_idx + count);
        vq->inuse = (int) count;
        if (count == 0)
                return 0;

        /* Redo them in the order they were first taken. */
        qsort(list, count, sizeof(*list), inflight_desc_compare);

        vq->counter = max_counter + 1;
        vq->resubmit_list = TAKE_PTR(list);
        vq->resubmit_num = (uint16_t) count;
        vq->priv->resubmit_next = 0;
        vu_log(dev, LOG_INFO, "queue %u: %u inflight chains to resubmit, resuming at avail index %u", idx, count,
               vq->last_avail_idx);
        return 0;
}
