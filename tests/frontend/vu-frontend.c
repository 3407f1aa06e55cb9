/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vu-frontend connection: the socket, message framing with fds, replies and
 * REPLY_ACK, and one helper per standard request. Guest memory, the dirty
 * log and inflight buffers are in vu-frontend-mem.c; the ring driver in
 * vu-frontend-vring.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "vu-frontend.h"

#define VF_HDR_SIZE 12u
#define VF_VERSION 0x1u

struct VfConn {
        int fd;
        int timeout_ms;
        bool reply_ack;
        vf_pump_cb pump;
        void *pump_userdata;
};

void vf_msg_close_fds(VfMsg *msg) {
        for (unsigned int i = 0; i < msg->nfds; i++)
                msg->fds[i] = safe_close(msg->fds[i]);
        msg->nfds = 0;
}

static int conn_new(int fd, VfConn **ret) {
        VfConn *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = fd;
        c->timeout_ms = VF_DEFAULT_TIMEOUT_MS;
        *ret = c;
        return 0;
}

int vf_conn_new_pair(VfConn **ret, int *ret_backend_fd) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        int r = conn_new(sv[0], ret);
        if (r < 0) {
                safe_close(sv[0]);
                safe_close(sv[1]);
                return r;
        }
        *ret_backend_fd = sv[1];
        return 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int vf_conn_connect(const char *path, int timeout_ms, VfConn **ret) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        uint64_t deadline = now_ms() + (uint64_t) MAX(timeout_ms, 0);

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        /* The backend may still be starting: retry until the deadline. */
        for (;;) {
                _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        int r = conn_new(fd, ret);
                        if (r < 0)
                                return r;
                        TAKE_FD(fd);
                        return 0;
                }
                int r = -errno;
                if ((r != -ENOENT && r != -ECONNREFUSED) || now_ms() >= deadline)
                        return r;
                usleep(10 * 1000);
        }
}

VfConn *vf_conn_free(VfConn *c) {
        if (!c)
                return NULL;
        safe_close(c->fd);
        free(c);
        return NULL;
}

int vf_conn_fd(const VfConn *c) {
        return c->fd;
}

void vf_conn_set_pump(VfConn *c, vf_pump_cb pump, void *userdata) {
        c->pump = pump;
        c->pump_userdata = userdata;
}

void vf_conn_set_timeout(VfConn *c, int timeout_ms) {
        c->timeout_ms = timeout_ms;
}

void vf_conn_set_reply_ack(VfConn *c, bool on) {
        c->reply_ack = on;
}

bool vf_conn_reply_ack(const VfConn *c) {
        return c->reply_ack;
}

static int send_iov(VfConn *c, struct iovec *iov, int iovcnt, const int *fds, unsigned int nfds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * VF_MAX_FDS)];
        } control = {};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = iovcnt};
        size_t total = 0;

        if (nfds > VF_MAX_FDS)
                return -E2BIG;
        for (int i = 0; i < iovcnt; i++)
                total += iov[i].iov_len;
        if (nfds > 0) {
                mh.msg_control = control.buf;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }

        ssize_t n;
        do
                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        /* Local stream sockets take a whole small message at once; anything else is a surprise. */
        if ((size_t) n != total)
                return -EIO;
        return 0;
}

static void pump(VfConn *c) {
        if (c->pump)
                c->pump(c->pump_userdata);
}

int vf_send(VfConn *c, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds,
            unsigned int nfds) {
        uint32_t hdr[3] = {request, flags, size};
        struct iovec iov[2] = {
                {.iov_base = hdr, .iov_len = sizeof(hdr)},
                {.iov_base = (void *) payload, .iov_len = payload ? size : 0},
        };

        int r = send_iov(c, iov, payload && size ? 2 : 1, fds, nfds);
        if (r < 0)
                return r;
        pump(c);
        return 0;
}

int vf_send_raw(VfConn *c, const void *buf, size_t len, const int *fds, unsigned int nfds) {
        struct iovec iov = {.iov_base = (void *) buf, .iov_len = len};

        int r = send_iov(c, &iov, 1, fds, nfds);
        if (r < 0)
                return r;
        pump(c);
        return 0;
}

static int wait_readable(VfConn *c) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};

        for (;;) {
                int r = poll(&p, 1, c->timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

/* Read exactly @len bytes, collecting fds into @msg; the first read may carry SCM_RIGHTS. */
static int read_exact(VfConn *c, void *buf, size_t len, VfMsg *msg) {
        size_t got = 0;

        while (got < len) {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * VF_MAX_FDS)];
                } control;
                struct iovec iov = {.iov_base = (uint8_t *) buf + got, .iov_len = len - got};
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf),
                };

                int r = wait_readable(c);
                if (r < 0)
                        return r;
                ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ECONNRESET;
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                                continue;
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int fds[VF_MAX_FDS + 8];
                        memcpy(fds, CMSG_DATA(cm), MIN(k, ELEMENTSOF(fds)) * sizeof(int));
                        for (size_t i = 0; i < MIN(k, ELEMENTSOF(fds)); i++) {
                                if (msg->nfds < VF_MAX_FDS)
                                        msg->fds[msg->nfds++] = fds[i];
                                else
                                        safe_close(fds[i]);
                        }
                }
                got += (size_t) n;
        }
        return 0;
}

int vf_recv(VfConn *c, VfMsg *ret) {
        uint32_t hdr[3];

        memset(ret, 0, offsetof(VfMsg, payload));
        ret->nfds = 0;
        int r = read_exact(c, hdr, sizeof(hdr), ret);
        if (r < 0)
                goto fail;
        ret->request = hdr[0];
        ret->flags = hdr[1];
        ret->size = hdr[2];
        if (ret->size > VF_MAX_PAYLOAD) {
                r = -EPROTO;
                goto fail;
        }
        r = read_exact(c, ret->payload.bytes, ret->size, ret);
        if (r < 0)
                goto fail;
        return 0;
fail:
        vf_msg_close_fds(ret);
        return r;
}

int vf_request(VfConn *c, uint32_t request, const void *payload, uint32_t size, const int *fds,
               unsigned int nfds, VfMsg *ret_reply) {
        bool ack = !ret_reply && c->reply_ack;
        VfMsg reply;

        int r = vf_send(c, request, VF_VERSION | (ack ? VHOST_USER_NEED_REPLY_MASK : 0), payload, size, fds,
                        nfds);
        if (r < 0)
                return r;
        if (!ret_reply && !ack)
                return 0;

        r = vf_recv(c, &reply);
        if (r < 0)
                return r;
        if (reply.request != request || !(reply.flags & VHOST_USER_REPLY_MASK) ||
            (reply.flags & VHOST_USER_VERSION_MASK) != VF_VERSION) {
                vf_msg_close_fds(&reply);
                return -EPROTO;
        }
        if (ret_reply) {
                /* Every reply with a body of its own comes back empty when the backend refused. */
                if (reply.size == 0) {
                        vf_msg_close_fds(&reply);
                        return -EREMOTEIO;
                }
                *ret_reply = reply;
                return 0;
        }
        vf_msg_close_fds(&reply);
        if (reply.size != sizeof(uint64_t))
                return -EPROTO;
        return reply.payload.u64 == 0 ? 0 : -EREMOTEIO;
}

/* A request whose reply is one u64. */
static int request_u64(VfConn *c, uint32_t request, uint64_t *ret) {
        VfMsg reply;

        int r = vf_request(c, request, NULL, 0, NULL, 0, &reply);
        if (r < 0)
                return r;
        vf_msg_close_fds(&reply);
        if (reply.size != sizeof(uint64_t))
                return -EPROTO;
        *ret = reply.payload.u64;
        return 0;
}

static int request_set_u64(VfConn *c, uint32_t request, uint64_t value) {
        return vf_request(c, request, &value, sizeof(value), NULL, 0, NULL);
}

int vf_get_features(VfConn *c, uint64_t *ret) {
        return request_u64(c, VHOST_USER_GET_FEATURES, ret);
}

int vf_set_features(VfConn *c, uint64_t features) {
        return request_set_u64(c, VHOST_USER_SET_FEATURES, features);
}

int vf_get_protocol_features(VfConn *c, uint64_t *ret) {
        return request_u64(c, VHOST_USER_GET_PROTOCOL_FEATURES, ret);
}

int vf_set_protocol_features(VfConn *c, uint64_t features) {
        /* REPLY_ACK is usable only once the backend has the bit: send this one without. */
        int r = request_set_u64(c, VHOST_USER_SET_PROTOCOL_FEATURES, features);
        if (r < 0)
                return r;
        c->reply_ack = features & (UINT64_C(1) << VHOST_USER_PROTOCOL_F_REPLY_ACK);
        return 0;
}

int vf_set_owner(VfConn *c) {
        return vf_request(c, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL);
}

int vf_reset_owner(VfConn *c) {
        return vf_request(c, VHOST_USER_RESET_OWNER, NULL, 0, NULL, 0, NULL);
}

int vf_reset_device(VfConn *c) {
        return vf_request(c, VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0, NULL);
}

int vf_get_queue_num(VfConn *c, uint64_t *ret) {
        return request_u64(c, VHOST_USER_GET_QUEUE_NUM, ret);
}

int vf_get_max_mem_slots(VfConn *c, uint64_t *ret) {
        return request_u64(c, VHOST_USER_GET_MAX_MEM_SLOTS, ret);
}

static int request_state(VfConn *c, uint32_t request, unsigned int idx, unsigned int num) {
        struct vhost_vring_state s = {.index = idx, .num = num};

        return vf_request(c, request, &s, sizeof(s), NULL, 0, NULL);
}

int vf_set_vring_num(VfConn *c, unsigned int idx, unsigned int num) {
        return request_state(c, VHOST_USER_SET_VRING_NUM, idx, num);
}

int vf_set_vring_base(VfConn *c, unsigned int idx, unsigned int base) {
        return request_state(c, VHOST_USER_SET_VRING_BASE, idx, base);
}

int vf_set_vring_enable(VfConn *c, unsigned int idx, bool enable) {
        return request_state(c, VHOST_USER_SET_VRING_ENABLE, idx, enable);
}

int vf_get_vring_base(VfConn *c, unsigned int idx, unsigned int *ret) {
        struct vhost_vring_state s = {.index = idx};
        VfMsg reply;

        int r = vf_request(c, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &reply);
        if (r < 0)
                return r;
        vf_msg_close_fds(&reply);
        if (reply.size != sizeof(struct vhost_vring_state) || reply.payload.state.index != idx)
                return -EPROTO;
        *ret = reply.payload.state.num;
        return 0;
}

static int request_vring_fd(VfConn *c, uint32_t request, unsigned int idx, int fd) {
        uint64_t v = idx & VHOST_USER_VRING_IDX_MASK;

        if (fd < 0)
                v |= VHOST_USER_VRING_NOFD_MASK;
        return vf_request(c, request, &v, sizeof(v), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, NULL);
}

int vf_set_vring_kick(VfConn *c, unsigned int idx, int fd) {
        return request_vring_fd(c, VHOST_USER_SET_VRING_KICK, idx, fd);
}

int vf_set_vring_call(VfConn *c, unsigned int idx, int fd) {
        return request_vring_fd(c, VHOST_USER_SET_VRING_CALL, idx, fd);
}

int vf_set_vring_err(VfConn *c, unsigned int idx, int fd) {
        return request_vring_fd(c, VHOST_USER_SET_VRING_ERR, idx, fd);
}

int vf_get_config(VfConn *c, uint32_t offset, uint32_t size, void *ret_buf) {
        VhostUserConfig cfg = {.offset = offset, .size = size};
        VfMsg reply;

        if (size > VHOST_USER_MAX_CONFIG_SIZE)
                return -E2BIG;
        int r = vf_request(c, VHOST_USER_GET_CONFIG, &cfg, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0,
                           &reply);
        if (r < 0)
                return r;
        vf_msg_close_fds(&reply);
        if (reply.size != VHOST_USER_CONFIG_HDR_SIZE + size)
                return -EPROTO;
        /* A backend that failed answers with size 0 in the payload. */
        if (reply.payload.config.size != size)
                return -EREMOTEIO;
        memcpy(ret_buf, reply.payload.config.region, size);
        return 0;
}

int vf_set_config(VfConn *c, uint32_t offset, const void *buf, uint32_t size) {
        VhostUserConfig cfg = {.offset = offset, .size = size, .flags = VHOST_SET_CONFIG_TYPE_MASTER};

        if (size > VHOST_USER_MAX_CONFIG_SIZE)
                return -E2BIG;
        memcpy(cfg.region, buf, size);
        return vf_request(c, VHOST_USER_SET_CONFIG, &cfg, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0, NULL);
}

int vf_set_status(VfConn *c, uint8_t status) {
        return request_set_u64(c, VHOST_USER_SET_STATUS, status);
}

int vf_get_status(VfConn *c, uint8_t *ret) {
        uint64_t v;

        int r = request_u64(c, VHOST_USER_GET_STATUS, &v);
        if (r < 0)
                return r;
        if (v > UINT8_MAX)
                return -EPROTO;
        *ret = (uint8_t) v;
        return 0;
}
