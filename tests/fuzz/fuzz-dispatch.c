/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the whole receive path: a stream of messages, with
 * fds, written to a socketpair and handled by vu_dispatch() in-process until
 * the library gives up or the stream ends — reader, validator, handlers and
 * the state they leave behind for the next message.
 *
 * Input: a sequence of chunks, each
 *   u8  fds       bits 0-3: how many fds to attach (0-15; more than a
 *                 message may carry on purpose), bit 4: memfds of 64 KiB
 *                 instead of eventfds
 *   12-byte header (request, flags, size), sent as is
 *   u16 len       payload bytes that follow (capped by what is left; the
 *                 header's size may disagree: that is the point)
 *   payload
 * The whole stream is written first, then our end is shut for writing, so a
 * truncated message meets EOF instead of blocking.
 *
 * Every memfd sent holds the input itself, and between messages any started
 * queue is served (pop, push, notify) as a device would, so ring contents
 * and the message stream are fuzzed together.
 *
 * Postcopy is kept out (PAGEFAULT is cleared from SET_PROTOCOL_FEATURES):
 * with userfaultfd registered and nobody serving faults, any touch of guest
 * memory blocks by design, which is not a bug to find here.
 *
 * Checked beyond "no crash, no UB, no leak": after vu_deinit() the process
 * holds exactly the fds it held before the input.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile.h"
#include "internal.h"

#define MAX_FDS_PER_INPUT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain_replies(Hostile *h) {
        for (;;) {
                union {
                        struct cmsghdr hdr;
                        char buf[CMSG_SPACE(sizeof(int) * 16)];
                } control;
                uint8_t buf[4096];
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf),
                };
                ssize_t n = recvmsg(h->fe, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

                if (n <= 0)
                        return;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                int fds[16];

                                memcpy(fds, CMSG_DATA(c), MIN(k, ELEMENTSOF(fds)) * sizeof(int));
                                for (size_t i = 0; i < k && i < ELEMENTSOF(fds); i++)
                                        close(fds[i]);
                        }
        }
}

static void list_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        while (d && (de = readdir(d))) {
                char path[300], target[256];
                ssize_t n;

                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                n = readlink(path, target, sizeof(target) - 1);
                if (n >= 0) {
                        target[n] = 0;
                        fprintf(stderr, "  fd %s -> %s\n", de->d_name, target);
                }
        }
        if (d)
                closedir(d);
}

/* Guest memory holds the input itself, so rings and descriptors the stream points at are fuzzed too. */
static int make_fd(bool memfd, const uint8_t *data, size_t size) {
        int fd = memfd ? hostile_memfd(0x10000) : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

        if (fd < 0)
                abort();
        if (memfd && size > 0 && pwrite(fd, data, MIN(size, (size_t) 0x10000), 0) < 0)
                abort();
        return fd;
}

/* What a device does between messages: take what its started queues offer and complete it. */
static void serve_queues(Hostile *h) {
        for (int q = 0; q < h->dev.max_queues && !h->dev.broken; q++) {
                VuVirtq *vq = vu_get_queue(&h->dev, q);

                if (!vq || !vu_queue_started(&h->dev, vq))
                        continue;
                for (int i = 0; i < 4 && !h->dev.broken; i++) {
                        VuVirtqElement *e = vu_queue_pop(&h->dev, vq, sizeof(VuVirtqElement));

                        if (!e)
                                break;
                        vu_queue_push(&h->dev, vq, e, (unsigned int) MIN(hostile_iov_len(e->in_sg, e->in_num), 16));
                        free(e);
                }
                if (!h->dev.broken)
                        vu_queue_notify(&h->dev, vq);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int fds_at_start = hostile_count_fds();
        unsigned int total_fds = 0;
        size_t pos = 0;
        Hostile h;

        hostile_new(&h, 2);
        h.quiet = true;

        while (pos + 15 <= size) {
                uint8_t hdr[12], payload[1024];
                unsigned int nfds = data[pos] & 0xf;
                bool memfd = data[pos] & 0x10;
                uint32_t request;
                size_t len;
                int fds[16];

                memcpy(hdr, data + pos + 1, 12);
                len = (size_t) (data[pos + 13] | data[pos + 14] << 8);
                pos += 15;
                len = MIN(len, MIN(size - pos, sizeof(payload)));
                memcpy(payload, data + pos, len);
                pos += len;

                memcpy(&request, hdr, 4);
                if (request == VHOST_USER_SET_PROTOCOL_FEATURES && len >= 8) {
                        uint64_t pf;

                        memcpy(&pf, payload, 8);
                        pf &= ~(UINT64_C(1) << VHOST_USER_PROTOCOL_F_PAGEFAULT);
                        memcpy(payload, &pf, 8);
                }

                if (total_fds + nfds > MAX_FDS_PER_INPUT)
                        nfds = 0;
                total_fds += nfds;
                for (unsigned int i = 0; i < nfds; i++)
                        fds[i] = make_fd(memfd, data, size);

                {
                        uint8_t msg[12 + sizeof(payload)];

                        memcpy(msg, hdr, 12);
                        memcpy(msg + 12, payload, len);
                        if (hostile_send_raw(&h, msg, 12 + len, fds, nfds) < 0)
                                abort();
                }
                for (unsigned int i = 0; i < nfds; i++)
                        close(fds[i]);
        }
        shutdown(h.fe, SHUT_WR);

        for (unsigned int i = 0; i < 10000; i++) {
                bool more = hostile_dispatch(&h);

                drain_replies(&h);
                if (!more)
                        break;
                serve_queues(&h);
        }
        hostile_free(&h);

        if (hostile_count_fds() != fds_at_start) {
                fprintf(stderr, "fd leak: %d fds before the input, %d after\n", fds_at_start, hostile_count_fds());
                list_fds();
                abort();
        }
        return 0;
}
