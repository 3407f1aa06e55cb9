/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hostile frontend's plumbing (see hostile.h): raw message writes with
 * SCM_RIGHTS, in-process dispatch, non-blocking reply reads, memfd guest
 * memory and hand-written split rings. Deliberately independent of the
 * library's own socket code, so a bug there cannot hide a bug in a test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "hostile.h"
#include "macro.h"

void hostile_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        abort();
}

void hostile_step(const char *fmt, ...) {
        va_list ap;

        fputs("-- ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static int count_dir_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        int n = 0;

        check_msg(d, "opendir(%s): %m", path);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the DIR's own fd */
}

int hostile_count_fds(void) {
        return count_dir_entries("/proc/self/fd");
}

int hostile_count_maps(void) {
        FILE *f = fopen("/proc/self/maps", "re");
        int n = 0, c;

        check_msg(f, "fopen(/proc/self/maps): %m");
        while ((c = fgetc(f)) != EOF)
                if (c == '\n')
                        n++;
        fclose(f);
        return n;
}

static Hostile *hostile_from_dev(VuDev *dev) {
        /* dev is the first member: the library only ever hands back our own pointer. */
        return (Hostile *) dev;
}

static void on_panic(VuDev *dev, const char *err) {
        Hostile *h = hostile_from_dev(dev);

        h->panics++;
        snprintf(h->panic_msg, sizeof(h->panic_msg), "%s", err ? err : "(null)");
        if (!h->quiet)
                fprintf(stderr, "   lib panic: %s\n", h->panic_msg);
}

static void on_log(VuDev *dev, int priority, const char *msg, void *userdata) {
        Hostile *h = userdata;

        snprintf(h->last_log, sizeof(h->last_log), "%s", msg ? msg : "(null)");
        if (!h->quiet && priority <= LOG_WARNING)
                fprintf(stderr, "   lib<%d>: %s\n", priority, h->last_log);
}

static void on_message(VuDev *dev, const VhostUserMsg *msg, int result, void *userdata) {
        Hostile *h = userdata;

        h->observed++;
        h->last_result = result;
}

static void on_set_watch(VuDev *dev, int fd, int condition, vu_watch_cb cb, void *data) {
}

static void on_remove_watch(VuDev *dev, int fd) {
}

static uint64_t iface_get_features(VuDev *dev) {
        return (UINT64_C(1) << 32) /* VERSION_1 */ | (UINT64_C(1) << 28) /* INDIRECT_DESC */ |
               (UINT64_C(1) << 29) /* EVENT_IDX */;
}

static uint64_t iface_get_protocol_features(VuDev *dev) {
        return UINT64_C(1) << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD;
}

static const VuDevIface hostile_iface = {
        .get_features = iface_get_features,
        .get_protocol_features = iface_get_protocol_features,
};

void hostile_new(Hostile *h, uint16_t max_queues) {
        int sv[2];

        memset(h, 0, sizeof(*h));
        h->fe = h->be = -EBADF;
        for (unsigned int i = 0; i < HOSTILE_MAX_MEM; i++)
                h->mem[i].fd = -EBADF;

        check_msg(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %m");
        h->fe = sv[0];
        h->be = sv[1];
        check_msg(vu_init(&h->dev, max_queues, h->be, on_panic, NULL, on_set_watch, on_remove_watch,
                          &hostile_iface),
                  "vu_init(max_queues=%u) failed", max_queues);
        h->initialised = true;
        vu_set_log_handler(&h->dev, on_log, h);
        vu_set_message_observer(&h->dev, on_message, h);
}

void hostile_free(Hostile *h) {
        if (h->initialised)
                vu_deinit(&h->dev);
        h->initialised = false;
        h->fe = safe_close(h->fe);
        h->be = safe_close(h->be);
        for (unsigned int i = 0; i < h->nmem; i++) {
                if (h->mem[i].map)
                        munmap(h->mem[i].map, h->mem[i].size);
                h->mem[i].map = NULL;
                h->mem[i].fd = safe_close(h->mem[i].fd);
        }
        h->nmem = 0;
}

int hostile_send_raw(Hostile *h, const void *buf, size_t len, const int *fds, size_t nfds) {
        union {
                struct cmsghdr hdr;
                char buf[CMSG_SPACE(sizeof(int) * 64)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        const uint8_t *p = buf;
        ssize_t n;

        if (nfds > 64)
                return -E2BIG;
        if (nfds > 0) {
                struct cmsghdr *cmsg;

                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
        }

        do
                n = sendmsg(h->fe, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        /* The fds went with the first chunk; the rest is plain bytes. */
        for (size_t done = (size_t) n; done < len; done += (size_t) n) {
                n = send(h->fe, p + done, len - done, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR) {
                        n = 0;
                        continue;
                }
                if (n < 0)
                        return -errno;
        }
        return 0;
}

int hostile_send_full(Hostile *h, uint32_t request, uint32_t flags, uint32_t size, const void *payload,
                      size_t len, const int *fds, size_t nfds) {
        uint8_t *buf;
        int r;

        buf = calloc(1, 12 + len);
        check(buf);
        memcpy(buf, &request, 4);
        memcpy(buf + 4, &flags, 4);
        memcpy(buf + 8, &size, 4);
        if (len > 0)
                memcpy(buf + 12, payload, len);
        r = hostile_send_raw(h, buf, 12 + len, fds, nfds);
        free(buf);
        return r;
}

bool hostile_dispatch(Hostile *h) {
        h->last_dispatch = vu_dispatch(&h->dev);
        return h->last_dispatch;
}

static int read_full(int fd, void *buf, size_t len) {
        uint8_t *p = buf;

        for (size_t done = 0; done < len;) {
                ssize_t n = read(fd, p + done, len - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EPIPE;
                done += (size_t) n;
        }
        return 0;
}

int hostile_recv(Hostile *h, VhostUserMsg *ret) {
        union {
                struct cmsghdr hdr;
                char buf[CMSG_SPACE(sizeof(int) * VHOST_MEMORY_BASELINE_NREGIONS)];
        } control;
        uint8_t hdr[12];
        struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(hdr) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        uint32_t size;
        ssize_t n;
        int r;

        memset(ret, 0, sizeof(*ret));
        n = recvmsg(h->fe, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0;
        if (n < 0)
                return -errno;
        if (n == 0)
                return 0; /* the library closed or shut down its end: no reply */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        check(k <= VHOST_MEMORY_BASELINE_NREGIONS);
                        memcpy(ret->fds, CMSG_DATA(c), k * sizeof(int));
                        ret->fd_num = (int) k;
                }
        check_msg(!(mh.msg_flags & MSG_CTRUNC), "the library sent more than %d fds",
                  VHOST_MEMORY_BASELINE_NREGIONS);
        if ((size_t) n < sizeof(hdr)) {
                r = read_full(h->fe, hdr + n, sizeof(hdr) - (size_t) n);
                if (r < 0)
                        return r;
        }

        memcpy(&ret->request, hdr, 4);
        memcpy(&ret->flags, hdr + 4, 4);
        memcpy(&size, hdr + 8, 4);
        ret->size = size;
        check_msg(size <= sizeof(ret->payload), "reply to request %d carries %u bytes (max %zu)",
                  ret->request, size, sizeof(ret->payload));
        check_msg(ret->flags & VHOST_USER_REPLY_MASK, "reply to request %d lacks the reply flag (flags 0x%x)",
                  ret->request, ret->flags);
        check_msg((ret->flags & VHOST_USER_VERSION_MASK) == 1, "reply to request %d has version %u",
                  ret->request, ret->flags & VHOST_USER_VERSION_MASK);
        r = read_full(h->fe, &ret->payload, size);
        if (r < 0)
                return r;
        return 1;
}

void hostile_close_fds(VhostUserMsg *msg) {
        for (int i = 0; i < msg->fd_num && i < VHOST_MEMORY_BASELINE_NREGIONS; i++)
                msg->fds[i] = safe_close(msg->fds[i]);
        msg->fd_num = 0;
}

int hostile_request(Hostile *h, uint32_t request, const void *payload, uint32_t size, const int *fds,
                    size_t nfds, VhostUserMsg *ret_reply) {
        VhostUserMsg reply;
        int r;

        r = hostile_send_full(h, request, 1 | VHOST_USER_NEED_REPLY_MASK, size, payload, size, fds, nfds);
        check_msg(r == 0, "sending %s: %s", vu_request_to_string(request), strerror(-r));
        check_msg(hostile_dispatch(h), "vu_dispatch() gave up on %s: %s", vu_request_to_string(request),
                  vu_last_error(&h->dev));
        r = hostile_recv(h, &reply);
        check_msg(r >= 0, "reading the reply to %s: %s", vu_request_to_string(request), strerror(-r));
        if (r > 0) {
                check_msg(reply.request == (int) request, "reply to %s names request %d",
                          vu_request_to_string(request), reply.request);
                if (ret_reply)
                        *ret_reply = reply;
                else
                        hostile_close_fds(&reply);
        }
        return r;
}

bool hostile_error_mentions(const Hostile *h, const char *needle) {
        return strstr(vu_last_error(&h->dev), needle) || strstr(h->last_log, needle) ||
               strstr(h->panic_msg, needle);
}

static bool request_has_own_reply(uint32_t request) {
        switch (request) {
        case VHOST_USER_GET_FEATURES:
        case VHOST_USER_GET_PROTOCOL_FEATURES:
        case VHOST_USER_GET_VRING_BASE:
        case VHOST_USER_GET_QUEUE_NUM:
        case VHOST_USER_GET_CONFIG:
        case VHOST_USER_GET_INFLIGHT_FD:
        case VHOST_USER_GET_MAX_MEM_SLOTS:
        case VHOST_USER_GET_STATUS:
        case VHOST_USER_POSTCOPY_ADVISE:
        case VHOST_USER_POSTCOPY_END:
        case VHOST_USER_SET_LOG_BASE:
                return true;
        default:
                return false;
        }
}

static bool needles_match(const Hostile *h, const char *const *needles) {
        if (!needles[0])
                return true;
        for (size_t i = 0; needles[i]; i++)
                if (hostile_error_mentions(h, needles[i]))
                        return true;
        return false;
}

void hostile_expect_refused_(Hostile *h, const char *file, int line, uint32_t request, const void *payload,
                             uint32_t size, const int *fds, size_t nfds, const char *const *needles) {
        unsigned int observed = h->observed;
        VuDevInfo before, after;
        VhostUserMsg reply;
        int r;

        vu_get_info(&h->dev, &before);
        r = hostile_request(h, request, payload, size, fds, nfds, &reply);
        vu_get_info(&h->dev, &after);
        if (r > 0)
                hostile_close_fds(&reply); /* a refusal may still answer; never keep what it sent */

        if (h->observed > observed) {
                if (h->last_result >= 0)
                        hostile_fail(file, line, "%s was accepted (observer result %d), expected a refusal",
                                     vu_request_to_string(request), h->last_result);
        } else if (after.messages_refused <= before.messages_refused)
                hostile_fail(file, line, "%s was not counted as refused", vu_request_to_string(request));

        if (r > 0 && !request_has_own_reply(request) && (h->dev.protocol_features &
                                                          (UINT64_C(1) << VHOST_USER_PROTOCOL_F_REPLY_ACK)))
                if (reply.size != sizeof(uint64_t) || reply.payload.u64 == 0)
                        hostile_fail(file, line, "%s refused but acked with success (size %u, value %llu)",
                                     vu_request_to_string(request), reply.size,
                                     (unsigned long long) reply.payload.u64);
        if (h->dev.broken)
                hostile_fail(file, line, "%s broke the device; a refusal should keep serving",
                             vu_request_to_string(request));
        if (!needles_match(h, needles))
                hostile_fail(file, line, "%s refused, but the error does not name the bad value (wanted \"%s\"): \"%s\"",
                             vu_request_to_string(request), needles[0], vu_last_error(&h->dev));
        if (!h->quiet)
                printf("   refused %s: %s\n", vu_request_to_string(request), vu_last_error(&h->dev));
}

void hostile_expect_ok_(Hostile *h, const char *file, int line, uint32_t request, const void *payload,
                        uint32_t size, const int *fds, size_t nfds, VhostUserMsg *ret_reply) {
        unsigned int observed = h->observed;
        VhostUserMsg reply;
        int r;

        r = hostile_request(h, request, payload, size, fds, nfds, &reply);
        if (h->observed > observed && h->last_result < 0)
                hostile_fail(file, line, "%s was refused (%d): %s", vu_request_to_string(request),
                             h->last_result, vu_last_error(&h->dev));
        if (r > 0 && !request_has_own_reply(request) && reply.size == sizeof(uint64_t) && reply.payload.u64 != 0)
                hostile_fail(file, line, "%s was nacked (%llu): %s", vu_request_to_string(request),
                             (unsigned long long) reply.payload.u64, vu_last_error(&h->dev));
        if (request_has_own_reply(request) && r <= 0)
                hostile_fail(file, line, "%s got no reply", vu_request_to_string(request));
        if (ret_reply) {
                if (r > 0)
                        *ret_reply = reply;
                else
                        memset(ret_reply, 0, sizeof(*ret_reply));
        } else if (r > 0)
                hostile_close_fds(&reply);
}

bool hostile_has_protocol(const Hostile *h, unsigned int bit) {
        return h->dev.protocol_features & (UINT64_C(1) << bit);
}

void hostile_negotiate(Hostile *h, uint64_t extra_features) {
        uint64_t want = (UINT64_C(1) << 32) | (UINT64_C(1) << 28) | (UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES) |
                        extra_features;
        uint64_t pwant = (UINT64_C(1) << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
                         (UINT64_C(1) << VHOST_USER_PROTOCOL_F_MQ) |
                         (UINT64_C(1) << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
                         (UINT64_C(1) << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
                         (UINT64_C(1) << VHOST_USER_PROTOCOL_F_LOG_SHMFD);
        VhostUserMsg reply;
        uint64_t v;

        hostile_expect_ok(h, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL);
        hostile_expect_ok(h, VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0, &reply);
        check_msg(reply.size == 8, "GET_FEATURES reply has %u bytes", reply.size);
        v = reply.payload.u64 & want;
        check_msg(v & (UINT64_C(1) << VHOST_USER_F_PROTOCOL_FEATURES),
                  "the library does not offer PROTOCOL_FEATURES (offered 0x%llx)",
                  (unsigned long long) reply.payload.u64);

        hostile_expect_ok(h, VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0, &reply);
        check_msg(reply.size == 8, "GET_PROTOCOL_FEATURES reply has %u bytes", reply.size);
        pwant &= reply.payload.u64;
        hostile_expect_ok(h, VHOST_USER_SET_PROTOCOL_FEATURES, &pwant, 8, NULL, 0, NULL);
        hostile_expect_ok(h, VHOST_USER_SET_FEATURES, &v, 8, NULL, 0, NULL);
        check_msg(hostile_has_protocol(h, VHOST_USER_PROTOCOL_F_REPLY_ACK),
                  "REPLY_ACK not negotiated (protocol features 0x%llx)",
                  (unsigned long long) h->dev.protocol_features);
}

int hostile_memfd(uint64_t size) {
        int fd = memfd_create("hostile-guest", MFD_CLOEXEC);

        check_msg(fd >= 0, "memfd_create: %m");
        check_msg(ftruncate(fd, (off_t) size) == 0, "ftruncate(%llu): %m", (unsigned long long) size);
        return fd;
}

HostileMem *hostile_mem_add(Hostile *h, uint64_t gpa, uint64_t size) {
        HostileMem *m;

        check(h->nmem < HOSTILE_MAX_MEM);
        m = &h->mem[h->nmem++];
        m->fd = hostile_memfd(size);
        m->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
        check_msg(m->map != MAP_FAILED, "mmap guest memory: %m");
        m->gpa = gpa;
        m->size = size;
        return m;
}

VhostUserMemoryRegion hostile_mem_region(const HostileMem *m) {
        return (VhostUserMemoryRegion){
                .guest_phys_addr = m->gpa,
                .memory_size = m->size,
                .userspace_addr = m->gpa + HOSTILE_QVA_BASE,
                .mmap_offset = 0,
        };
}

void hostile_mem_table_send(Hostile *h) {
        VhostUserMemory mem = { .nregions = h->nmem };
        int fds[HOSTILE_MAX_MEM];

        for (unsigned int i = 0; i < h->nmem; i++) {
                mem.regions[i] = hostile_mem_region(&h->mem[i]);
                fds[i] = h->mem[i].fd;
        }
        hostile_expect_ok(h, VHOST_USER_SET_MEM_TABLE, &mem, 8 + h->nmem * sizeof(VhostUserMemoryRegion), fds,
                          h->nmem, NULL);
}

void *hostile_gpa(Hostile *h, uint64_t gpa, uint64_t len) {
        for (unsigned int i = 0; i < h->nmem; i++) {
                HostileMem *m = &h->mem[i];

                if (gpa >= m->gpa && gpa - m->gpa <= m->size && len <= m->size - (gpa - m->gpa))
                        return m->map + (gpa - m->gpa);
        }
        hostile_fail(__FILE__, __LINE__, "test bug: gpa 0x%llx+%llu not in test memory",
                     (unsigned long long) gpa, (unsigned long long) len);
}

static void send_vring_fd(Hostile *h, uint32_t request, unsigned int qidx) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        uint64_t u = qidx;

        check_msg(fd >= 0, "eventfd: %m");
        hostile_expect_ok(h, request, &u, 8, &fd, 1, NULL);
        close(fd);
}

void hostile_queue_setup(Hostile *h, unsigned int qidx, uint16_t num, uint64_t desc_gpa) {
        hostile_queue_setup_base(h, qidx, num, desc_gpa, 0);
}

void hostile_queue_setup_base(Hostile *h, unsigned int qidx, uint16_t num, uint64_t desc_gpa, uint32_t base) {
        HostileQueue *q = &h->q[qidx];
        struct vhost_vring_state st = { .index = qidx, .num = num };
        struct vhost_vring_addr addr = { .index = qidx };

        check(qidx < ELEMENTSOF(h->q));
        q->num = num;
        q->desc_gpa = desc_gpa;
        q->avail_gpa = desc_gpa + 16 * (uint64_t) num;
        q->used_gpa = (q->avail_gpa + 6 + 2 * (uint64_t) num + 4095) & ~UINT64_C(4095);
        q->avail_idx = 0;
        memset(hostile_gpa(h, desc_gpa, 16 * (uint64_t) num), 0, 16 * (uint64_t) num);
        memset(hostile_gpa(h, q->avail_gpa, 6 + 2 * (uint64_t) num), 0, 6 + 2 * (uint64_t) num);
        memset(hostile_gpa(h, q->used_gpa, 6 + 8 * (uint64_t) num), 0, 6 + 8 * (uint64_t) num);

        addr.desc_user_addr = q->desc_gpa + HOSTILE_QVA_BASE;
        addr.avail_user_addr = q->avail_gpa + HOSTILE_QVA_BASE;
        addr.used_user_addr = q->used_gpa + HOSTILE_QVA_BASE;
        addr.log_guest_addr = q->used_gpa;

        hostile_expect_ok(h, VHOST_USER_SET_VRING_NUM, &st, sizeof(st), NULL, 0, NULL);
        hostile_expect_ok(h, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL);
        st.num = base;
        hostile_expect_ok(h, VHOST_USER_SET_VRING_BASE, &st, sizeof(st), NULL, 0, NULL);
        send_vring_fd(h, VHOST_USER_SET_VRING_KICK, qidx);
        send_vring_fd(h, VHOST_USER_SET_VRING_CALL, qidx);
        st.num = 1;
        hostile_expect_ok(h, VHOST_USER_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0, NULL);
        check_msg(vu_queue_started(&h->dev, vu_get_queue(&h->dev, (int) qidx)),
                  "queue %u not started after a complete setup", qidx);
}

void hostile_desc(Hostile *h, uint64_t table_gpa, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
                  uint16_t next) {
        struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

        memcpy(hostile_gpa(h, table_gpa + 16 * (uint64_t) i, 16), &d, 16);
}

void hostile_avail(Hostile *h, unsigned int qidx, uint16_t head) {
        HostileQueue *q = &h->q[qidx];
        uint16_t *ring = hostile_gpa(h, q->avail_gpa, 4 + 2 * (uint64_t) q->num);

        ring[2 + q->avail_idx % q->num] = head;
        q->avail_idx++;
        __atomic_store_n(&ring[1], q->avail_idx, __ATOMIC_RELEASE);
}

void hostile_avail_set_idx(Hostile *h, unsigned int qidx, uint16_t idx) {
        HostileQueue *q = &h->q[qidx];
        uint16_t *ring = hostile_gpa(h, q->avail_gpa, 4);

        q->avail_idx = idx;
        __atomic_store_n(&ring[1], idx, __ATOMIC_RELEASE);
}

VuVirtqElement *hostile_pop(Hostile *h, unsigned int qidx) {
        VuVirtq *vq = vu_get_queue(&h->dev, (int) qidx);

        check(vq);
        return vu_queue_pop(&h->dev, vq, sizeof(VuVirtqElement));
}

void hostile_expect_pop_refused_(Hostile *h, const char *file, int line, unsigned int qidx,
                                 const char *const *needles) {
        unsigned int panics = h->panics;
        VuVirtqElement *elem;

        elem = hostile_pop(h, qidx);
        if (elem) {
                unsigned int in = elem->in_num, out = elem->out_num, idx = elem->index;

                free(elem);
                hostile_fail(file, line, "malformed chain was popped (head %u, %u out + %u in buffers)", idx,
                             out, in);
        }
        if (!h->dev.broken)
                hostile_fail(file, line, "malformed chain refused but the device is not marked broken");
        if (h->panics <= panics)
                hostile_fail(file, line, "malformed chain refused without calling panic()");
        if (!needles_match(h, needles))
                hostile_fail(file, line, "the panic does not say what was wrong (wanted \"%s\"): \"%s\"",
                             needles[0], h->panic_msg);
        if (!h->quiet)
                printf("   refused chain: %s\n", h->panic_msg);
}

uint64_t hostile_iov_len(const struct iovec *iov, unsigned int n) {
        uint64_t sum = 0;

        for (unsigned int i = 0; i < n; i++)
                sum += iov[i].iov_len;
        return sum;
}

void hostile_setup_default(Hostile *h) {
        hostile_new(h, 2);
        hostile_negotiate(h, 0);
        hostile_mem_add(h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_table_send(h);
        hostile_queue_setup(h, 0, 16, HOSTILE_DESC_GPA);
}
