/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Moving vhost-user messages over the AF_UNIX stream: read one message with
 * the fds that came with its header, write a message (with fds), read a
 * reply. The only I/O of the protocol half; everything it reads is judged
 * later by message.c. A peer that stops in the middle of a message cannot
 * hold us forever: every wait for the rest of a message is bounded.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "internal.h"

/* How long we wait for the rest of a message (or a reply) once it has begun. */
#define VU_MESSAGE_TIMEOUT_MSEC 5000

/*
 * Our notification fds must never block us: a frontend could pass a pipe
 * nobody drains. Eventfds from QEMU and DPDK are already non-blocking.
 */
int vu_fd_set_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        if ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

void vu_message_close_fds(VhostUserMsg *msg) {
        int n;

        if (!msg)
                return;
        n = MIN(MAX(msg->fd_num, 0), VHOST_MEMORY_BASELINE_NREGIONS);
        for (int i = 0; i < n; i++)
                msg->fds[i] = safe_close(msg->fds[i]);
        msg->fd_num = 0;
}

static int wait_fd(int fd, short events) {
        struct pollfd p = {.fd = fd, .events = events};
        int r;

        for (;;) {
                r = poll(&p, 1, VU_MESSAGE_TIMEOUT_MSEC);
                if (r > 0)
                        return 0;
                if (r == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Close every fd a control message carried (used when we refuse them all). */
static void close_cmsg_fds(struct msghdr *mh) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                size_t n;
                int fds[VHOST_MEMORY_BASELINE_NREGIONS + 8];

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
                        continue;
                n = MIN((c->cmsg_len - CMSG_LEN(0)) / sizeof(int), ELEMENTSOF(fds));
                memcpy(fds, CMSG_DATA(c), n * sizeof(int));
                for (size_t i = 0; i < n; i++)
                        safe_close(fds[i]);
        }
}

/*
 * Read exactly @len bytes of a message that has begun into @buf, waiting
 * (bounded) for the rest. Returns 0, -ECONNRESET on EOF, -ETIMEDOUT or -errno.
 */
static int read_full(int sock, void *buf, size_t len) {
        uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = recv(sock, p, len, MSG_CMSG_CLOEXEC);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                int r = wait_fd(sock, POLLIN);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/*
 * Read a header (and the fds sent with its first byte) into @msg. Fds
 * beyond VHOST_MEMORY_BASELINE_NREGIONS, or a truncated control message,
 * make the whole message unusable: every fd received is closed.
 */
static int read_header(int sock, VhostUserMsg *msg, char *err, size_t errlen) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(VHOST_MEMORY_BASELINE_NREGIONS * sizeof(int))];
        } control = {};
        uint8_t hdr[VHOST_USER_HDR_SIZE];
        struct iovec iov = {.iov_base = hdr, .iov_len = sizeof(hdr)};
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n;
        int r;

        msg->fd_num = 0;
        for (;;) {
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
                if (n >= 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        r = wait_fd(sock, POLLIN);
                        if (r < 0) {
                                snprintf(err, errlen, "no message arrived: %s", strerror(-r));
                                return r;
                        }
                        continue;
                }
                r = -errno;
                snprintf(err, errlen, "Failed to receive message header: %s", strerror(-r));
                return r;
        }

        if (mh.msg_flags & MSG_CTRUNC) {
                close_cmsg_fds(&mh);
                snprintf(err, errlen, "message with more than %u fds (control data truncated)",
                         VHOST_MEMORY_BASELINE_NREGIONS);
                return -EBADMSG;
        }

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t nfds;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                if ((size_t) msg->fd_num + nfds > VHOST_MEMORY_BASELINE_NREGIONS) {
                        close_cmsg_fds(&mh);
                        msg->fd_num = 0;
                        snprintf(err, errlen, "message with more than %u fds",
                                 VHOST_MEMORY_BASELINE_NREGIONS);
                        return -EBADMSG;
                }
                memcpy(&msg->fds[msg->fd_num], CMSG_DATA(c), nfds * sizeof(int));
                msg->fd_num += (int) nfds;
        }

        if (n == 0) {
                vu_message_close_fds(msg);
                snprintf(err, errlen, "connection closed by the frontend");
                return -ECONNRESET;
        }

        /* The fds came with the first byte; the rest of the header may trail. */
        if ((size_t) n < sizeof(hdr)) {
                r = read_full(sock, hdr + n, sizeof(hdr) - (size_t) n);
                if (r < 0) {
                        vu_message_close_fds(msg);
                        snprintf(err, errlen, "Failed to receive message header: %s", strerror(-r));
                        return r;
                }
        }

        memcpy(msg, hdr, sizeof(hdr));
        return 0;
}

static int read_payload(int sock, VhostUserMsg *msg, char *err, size_t errlen) {
        int r;

        if (msg->size > sizeof(msg->payload)) {
                /* Skipping it would mean reading up to 4 GiB a peer chose: framing is lost instead. */
                snprintf(err, errlen, "%s: payload of %" PRIu32 " bytes, at most %zu",
                         vu_request_to_string((unsigned) msg->request), msg->size, sizeof(msg->payload));
                return -E2BIG;
        }
        if (msg->size == 0)
                return 0;

        r = read_full(sock, &msg->payload, msg->size);
        if (r < 0) {
                snprintf(err, errlen, "%s: Failed to receive %" PRIu32 " bytes of payload: %s",
                         vu_request_to_string((unsigned) msg->request), msg->size, strerror(-r));
                return r;
        }
        return 0;
}

bool vu_message_read_default(VuDev *dev, int sock, VhostUserMsg *msg) {
        char err[160] = "";
        int r;

        if (!msg)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(msg->fds); i++)
                msg->fds[i] = -EBADF;
        msg->fd_num = 0;
        msg->data = NULL;

        r = read_header(sock, msg, err, sizeof(err));
        if (r >= 0)
                r = read_payload(sock, msg, err, sizeof(err));
        if (r < 0) {
                vu_message_close_fds(msg);
                /* vu_dispatch() names the reason when it gives up on the connection. */
                if (dev && dev->priv)
                        snprintf(dev->priv->last_error, sizeof(dev->priv->last_error), "%s", err);
                return false;
        }
        return true;
}

int vu_message_write_body(int sock, const VhostUserMsg *msg, const void *body, const int *fds, size_t nfds) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(VHOST_MEMORY_BASELINE_NREGIONS * sizeof(int))];
        } control = {};
        size_t len, done = 0;

        if (!msg || sock < 0 || (msg->size > 0 && !body))
                return -EINVAL;
        if (nfds > VHOST_MEMORY_BASELINE_NREGIONS || (nfds > 0 && !fds))
                return -EINVAL;
        len = VHOST_USER_HDR_SIZE + (size_t) msg->size;

        while (done < len) {
                struct iovec iov[2];
                struct msghdr mh = {.msg_iov = iov};
                ssize_t n;

                if (done < VHOST_USER_HDR_SIZE)
                        iov[mh.msg_iovlen++] = (struct iovec){.iov_base = (uint8_t *) msg + done,
                                                              .iov_len = VHOST_USER_HDR_SIZE - done};
                if (msg->size > 0) {
                        size_t off = done > VHOST_USER_HDR_SIZE ? done - VHOST_USER_HDR_SIZE : 0;

                        iov[mh.msg_iovlen++] = (struct iovec){.iov_base = (uint8_t *) body + off,
                                                              .iov_len = msg->size - off};
                }

                /* The fds travel with the first byte, where a reader looks for them. */
                if (done == 0 && nfds > 0) {
                        struct cmsghdr *c;

                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
                        c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
                        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
                }

                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                int r = wait_fd(sock, POLLOUT);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                done += (size_t) n;
        }
        return 0;
}

int vu_message_write(int sock, const VhostUserMsg *msg, const int *fds, size_t nfds) {
        if (msg && msg->size > sizeof(msg->payload))
                return -E2BIG;
        return vu_message_write_body(sock, msg, msg ? &msg->payload : NULL, fds, nfds);
}

int vu_message_read_reply(int sock, uint32_t request, VhostUserMsg *ret) {
        VhostUserMsg msg = {};
        char err[160];
        int r;

        if (!ret || sock < 0)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(msg.fds); i++)
                msg.fds[i] = -EBADF;

        /* The peer owes us this reply: do not wait for it longer than for a message's tail. */
        r = wait_fd(sock, POLLIN);
        if (r < 0)
                return r;

        r = read_header(sock, &msg, err, sizeof(err));
        if (r < 0)
                return r;
        /* Replies carry no fds we would use. */
        vu_message_close_fds(&msg);

        r = read_payload(sock, &msg, err, sizeof(err));
        if (r < 0)
                return r;

        if ((uint32_t) msg.request != request)
                return -EPROTO;
        if ((msg.flags & VHOST_USER_VERSION_MASK) != 1 || !(msg.flags & VHOST_USER_REPLY_MASK))
                return -EPROTO;

        *ret = msg;
        return 0;
}
