/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Postcopy live migration: the guest runs on the destination before all its
 * memory has arrived, so we register guest memory with a userfaultfd and
 * hand that fd to the frontend, which fills missing pages as we touch them.
 * Kernels often refuse userfaultfd to unprivileged processes
 * (vm.unprivileged_userfaultfd=0) or inside containers (seccomp): we then
 * neither offer PAGEFAULT nor pretend to support it.
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <syslog.h>

#include "internal.h"

static int userfaultfd_open(void) {
#ifdef __NR_userfaultfd
        int fd = (int) syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
        return fd < 0 ? -errno : fd;
#else
        return -ENOSYS;
#endif
}

static const char *userfaultfd_why(int err) {
        switch (err) {
        case -EPERM:
                return "the kernel refuses userfaultfd to this process (vm.unprivileged_userfaultfd=0, or a "
                       "seccomp filter)";
        case -ENOSYS:
                return "this kernel has no userfaultfd (or a seccomp filter hides it)";
        default:
                return strerror(-err);
        }
}

bool vu_postcopy_available(void) {
        int fd = userfaultfd_open();

        if (fd < 0)
                return false;
        safe_close(fd);
        return true;
}

const char *vu_postcopy_unavailable_reason(void) {
        int fd = userfaultfd_open();

        if (fd >= 0) {
                safe_close(fd);
                return NULL;
        }
        return userfaultfd_why(fd);
}

void vu_postcopy_close(VuDev *dev) {
        if (!dev)
                return;
        dev->postcopy_ufd = safe_close(dev->postcopy_ufd);
        dev->postcopy_listening = false;
}

int vu_handle_postcopy_advise(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        struct uffdio_api api = {.api = UFFD_API};
        _cleanup_close_ int fd = -EBADF;

        if (!vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_PAGEFAULT))
                return vu_error(dev, -EPROTO, "POSTCOPY_ADVISE: PAGEFAULT was not negotiated");

        fd = userfaultfd_open();
        if (fd < 0)
                return vu_error(dev, fd, "POSTCOPY_ADVISE: cannot open a userfaultfd: %s",
                                userfaultfd_why(fd));
        if (ioctl(fd, UFFDIO_API, &api) < 0)
                return vu_error(dev, -errno, "POSTCOPY_ADVISE: UFFDIO_API failed: %m");

        /* The frontend gets its own copy through SCM_RIGHTS; we keep ours to register regions. */
        dev->priv->reply_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dev->priv->reply_fd < 0) {
                dev->priv->reply_fd = -EBADF;
                return vu_error(dev, -errno, "POSTCOPY_ADVISE: cannot duplicate the userfaultfd: %m");
        }
        safe_close(dev->postcopy_ufd);
        dev->postcopy_ufd = TAKE_FD(fd);
        dev->postcopy_listening = false;

        msg->size = 0;
        *ret_reply = true;
        vu_log(dev, LOG_INFO, "Postcopy advised: userfaultfd handed to the frontend");
        return 0;
}

int vu_postcopy_register(VuDev *dev, unsigned int i) {
        const VuDevRegion *r;
        struct uffdio_register reg;

        if (dev->postcopy_ufd < 0 || i >= dev->nregions)
                return 0;
        r = &dev->regions[i];

        /* The whole mapping: it starts page aligned and its length is in whole pages. */
        reg = (struct uffdio_register){
                .range = {.start = r->mmap_addr, .len = dev->priv->region_map_len[i]},
                .mode = UFFDIO_REGISTER_MODE_MISSING,
        };
        if (ioctl(dev->postcopy_ufd, UFFDIO_REGISTER, &reg) < 0)
                return vu_error(dev, -errno,
                                "POSTCOPY: cannot register region at guest 0x%llx with userfaultfd: %m",
                                (unsigned long long) r->gpa);
        return 0;
}

int vu_handle_postcopy_listen(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        if (dev->postcopy_ufd < 0)
                return vu_error(dev, -EPROTO, "POSTCOPY_LISTEN: no POSTCOPY_ADVISE before it");
        if (dev->nregions > 0)
                /* Normally the table follows LISTEN; regions already mapped are registered now. */
                for (unsigned int i = 0; i < dev->nregions; i++) {
                        int r = vu_postcopy_register(dev, i);
                        if (r < 0)
                                return r;
                }
        dev->postcopy_listening = true;
        vu_log(dev, LOG_INFO, "Postcopy listening");
        return 0;
}

int vu_handle_postcopy_end(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        /* Closing the userfaultfd unregisters every range. */
        vu_postcopy_close(dev);
        msg->payload.u64 = 0;
        msg->size = sizeof(uint64_t);
        *ret_reply = true;
        vu_log(dev, LOG_INFO, "Postcopy ended");
        return 0;
}
