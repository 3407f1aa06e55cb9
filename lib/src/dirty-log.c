/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration dirty log: a bitmap the frontend shares (SET_LOG_BASE), one
 * bit per 4 KiB page of guest memory, in which we mark every page we write
 * while VHOST_F_LOG_ALL is negotiated, so the pages are sent again. Marks
 * are atomic ORs (queue threads and the frontend touch the bitmap at once);
 * counters say how much we marked, for vuctl.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "internal.h"

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

void vu_log_unmap(VuDev *dev) {
        if (!dev)
                return;
        if (dev->log_table) {
                munmap(dev->log_table, dev->log_size);
                dev->log_table = NULL;
                if (dev->priv)
                        dev->priv->log_stopped_usec = now_usec();
        }
        dev->log_size = 0;
        dev->log_call_fd = safe_close(dev->log_call_fd);
}

int vu_handle_set_log_base(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        uint64_t size = msg->payload.log.mmap_size, offset = msg->payload.log.mmap_offset;
        long page = sysconf(_SC_PAGESIZE);
        struct stat st;
        void *p;

        /* message.c checked: one fd, size in 1..VU_MAX_LOG_SIZE, offset + size does not overflow. */
        if (!vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_LOG_SHMFD))
                return vu_error(dev, -EPROTO, "SET_LOG_BASE: a log fd without LOG_SHMFD negotiated");
        if (page <= 0)
                page = 4096;
        /* We map the log at its offset; every frontend sends 0, so a page-aligned offset is no burden. */
        if (offset % (uint64_t) page != 0)
                return vu_error(dev, -EINVAL, "SET_LOG_BASE: log offset 0x%" PRIx64 " is not page aligned",
                                offset);
        if (size > SIZE_MAX)
                return vu_error(dev, -E2BIG,
                                "SET_LOG_BASE: log size %" PRIu64 " does not fit our address space", size);
        if (fstat(msg->fds[0], &st) < 0)
                return vu_error(dev, -errno, "SET_LOG_BASE: cannot stat the log fd: %m");
        /* Writing past the end of a shared file raises SIGBUS. */
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size < offset + size)
                return vu_error(dev, -EINVAL,
                                "SET_LOG_BASE: log of %" PRIu64 " bytes at 0x%" PRIx64
                                " is beyond its file's %" PRIu64 " bytes",
                                size, offset, (uint64_t) st.st_size);

        p = mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, msg->fds[0],
                 (off_t) offset);
        if (p == MAP_FAILED)
                return vu_error(dev, -errno, "SET_LOG_BASE: Failed to map %" PRIu64 " bytes of log: %m",
                                size);

        /* A new log replaces the old one (the frontend resizes it as memory grows). */
        if (dev->log_table)
                munmap(dev->log_table, dev->log_size);
        dev->log_table = p;
        dev->log_size = size;
        dev->priv->log_started_usec = now_usec();
        vu_log(dev, LOG_INFO, "Dirty log of %" PRIu64 " bytes (covers %" PRIu64 " MiB of guest memory)",
               size, size * 8 * VHOST_LOG_PAGE / (1024 * 1024));

        /*
         * With LOG_SHMFD the frontend waits for an answer to SET_LOG_BASE
         * (QEMU reads one before it goes on), although the message table in
         * the spec lists no reply payload.
         */
        if (vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_LOG_SHMFD)) {
                msg->payload.u64 = 0;
                msg->size = sizeof(uint64_t);
                *ret_reply = true;
        }
        return 0;
}

int vu_handle_set_log_fd(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        /* Signalled from the data path: a pipe nobody drains must not block a queue. */
        int r = vu_fd_set_nonblock(msg->fds[0]);

        if (r < 0)
                return vu_error(dev, r, "SET_LOG_FD: fd %d unusable: %s", msg->fds[0], strerror(-r));
        safe_close(dev->log_call_fd);
        dev->log_call_fd = TAKE_FD(msg->fds[0]);
        return 0;
}

void vu_log_write(VuDev *dev, uint64_t gpa, uint64_t len) {
        uint64_t page, last, marked = 0;

        if (!vu_log_enabled(dev) || len == 0)
                return;

        page = gpa / VHOST_LOG_PAGE;
        last = (gpa > UINT64_MAX - (len - 1) ? UINT64_MAX : gpa + (len - 1)) / VHOST_LOG_PAGE;
        for (; page <= last; page++) {
                uint8_t bit = (uint8_t) (1u << (page % 8)), old;

                /* Pages beyond the log are not ours to mark (the frontend sized it). */
                if (page / 8 >= dev->log_size)
                        break;
                old = __atomic_fetch_or(&dev->log_table[page / 8], bit, __ATOMIC_RELAXED);
                if (!(old & bit))
                        marked++;
                if (page == UINT64_MAX)
                        break;
        }

        if (dev->priv) {
                __atomic_fetch_add(&dev->priv->log_pages_marked, marked, __ATOMIC_RELAXED);
                __atomic_fetch_add(&dev->priv->log_writes, 1, __ATOMIC_RELAXED);
        }
}

void vu_log_iov(VuDev *dev, const struct iovec *iov, unsigned int n, uint64_t len) {
        if (!vu_log_enabled(dev))
                return;

        for (unsigned int i = 0; i < n && len > 0; i++) {
                uint64_t l = MIN((uint64_t) iov[i].iov_len, len), gpa;

                /* A buffer we translated ourselves is always in a region; skip anything that is not. */
                if (l > 0 && vu_mem_va_to_gpa(dev, iov[i].iov_base, &gpa))
                        vu_log_write(dev, gpa, l);
                len -= l;
        }
}

void vu_log_fill_fallback(VuDev *dev, VuVirtq *vq, const VuVirtqElement *elem, uint64_t len,
                          const char *why) {
        /*
         * Only the guest can make its own chain unwalkable after we took it;
         * the element's iovecs still cover what a device that left them alone wrote.
         */
        if (dev->priv)
                __atomic_fetch_add(&dev->priv->log_rewalk_fallbacks, 1, __ATOMIC_RELAXED);
        vu_log(dev, LOG_DEBUG, "queue %u: element %u no longer walks (%s), logging its %u buffers instead",
               vq_index(dev, vq), elem->index, why, elem->in_num);
        vu_log_iov(dev, elem->in_sg, elem->in_num, len);
}

void vu_log_used(VuDev *dev, VuVirtq *vq, uint64_t offset, uint64_t len) {
        if (!vq || !(vq->vring.flags & (1u << VHOST_VRING_F_LOG)))
                return;
        if (vq->vring.log_guest_addr > UINT64_MAX - offset)
                return;
        vu_log_write(dev, vq->vring.log_guest_addr + offset, len);
}

void vu_log_kick(VuDev *dev) {
        if (!vu_log_enabled(dev) || dev->log_call_fd < 0)
                return;
        /* The frontend only reads it as a hint; a full counter (EAGAIN) is as good as a kick. */
        (void) eventfd_write(dev->log_call_fd, 1);
}

_public_ void vu_get_log_info(const VuDev *dev, VuLogInfo *ret) {
        if (!ret)
                return;
        *ret = (VuLogInfo){};
        if (!dev)
                return;

        ret->active = dev->log_table != NULL;
        ret->log_all = dev->features & (UINT64_C(1) << VHOST_F_LOG_ALL);
        ret->size = dev->log_size;
        if (dev->priv) {
                ret->pages_marked = __atomic_load_n(&dev->priv->log_pages_marked, __ATOMIC_RELAXED);
                ret->writes = __atomic_load_n(&dev->priv->log_writes, __ATOMIC_RELAXED);
                ret->started_usec = dev->priv->log_started_usec;
                ret->stopped_usec = dev->priv->log_stopped_usec;
                ret->rewalk_fallbacks = __atomic_load_n(&dev->priv->log_rewalk_fallbacks, __ATOMIC_RELAXED);
        }
        if (dev->vq)
                for (unsigned int i = 0; i < dev->max_queues; i++)
                        if (dev->vq[i].vring.flags & (1u << VHOST_VRING_F_LOG))
                                ret->rings_logging++;
}
