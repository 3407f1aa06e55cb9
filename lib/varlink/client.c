/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small blocking varlink client for command-line tools (vuctl) and tests:
 * connect, send a call, wait for replies with a timeout. It trusts the
 * server no more than the server trusts it: replies go through the same
 * framer cap and strict JSON parser.
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
#include "varlink.h"

struct VarlinkClient {
        int fd;
        VarlinkFramer framer;
};

int varlink_client_connect(const char *path, VarlinkClient **ret) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        VarlinkClient *c;
        size_t len;

        if (!path || !*path)
                return -EINVAL;
        len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, offsetof(struct sockaddr_un, sun_path) + len + 1) < 0)
                return -errno;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = TAKE_FD(fd);
        varlink_framer_init(&c->framer, VARLINK_REPLY_MAX);
        *ret = c;
        return 0;
}

VarlinkClient *varlink_client_free(VarlinkClient *c) {
        if (!c)
                return NULL;
        safe_close(c->fd);
        varlink_framer_done(&c->framer);
        free(c);
        return NULL;
}

int varlink_client_get_fd(const VarlinkClient *c) {
        return c->fd;
}

int varlink_client_send(VarlinkClient *c, const char *method, json_object *parameters, unsigned flags) {
        _cleanup_(json_object_putp) json_object *msg = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len, done = 0;
        int r;

        r = varlink_call_build(method, parameters, flags, &msg);
        if (r < 0)
                return r;
        r = varlink_message_serialize(msg, &text, &len);
        if (r < 0)
                return r;

        while (done < len) {
                ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        return 0;
}

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int varlink_client_receive(VarlinkClient *c, int timeout_ms, VarlinkReply *ret) {
        int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

        for (;;) {
                _cleanup_(json_object_putp) json_object *obj = NULL;
                struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
                const char *msg;
                size_t len, room;
                char *p;
                ssize_t n;
                int r, wait_ms;

                r = varlink_framer_next(&c->framer, &msg, &len);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = varlink_json_parse(msg, len, &obj, NULL);
                        if (r < 0)
                                return r;
                        return varlink_reply_parse(obj, ret);
                }

                if (deadline < 0)
                        wait_ms = -1;
                else {
                        int64_t left = deadline - now_ms();

                        if (left <= 0)
                                return -ETIMEDOUT;
                        wait_ms = left > INT32_MAX ? INT32_MAX : (int) left;
                }
                r = poll(&pfd, 1, wait_ms);
                if (r < 0)
                        return -errno; /* EINTR included: the caller decides (^C in monitor) */
                if (r == 0)
                        return -ETIMEDOUT;

                r = varlink_framer_reserve(&c->framer, 64 * 1024, &p, &room);
                if (r < 0)
                        return r;
                n = recv(c->fd, p, room, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                varlink_framer_commit(&c->framer, (size_t) n);
        }
}

int varlink_client_call(VarlinkClient *c, const char *method, json_object *parameters, int timeout_ms,
                        VarlinkReply *ret) {
        int r;

        r = varlink_client_send(c, method, parameters, 0);
        if (r == -EPIPE || r == -ECONNRESET) {
                /* A server that refuses us (too many clients) may answer and close before our call
                 * even arrives: its answer is then waiting to be read, and says more than EPIPE. */
                if (varlink_client_receive(c, 100, ret) == 0)
                        return 0;
                return r;
        }
        if (r < 0)
                return r;
        return varlink_client_receive(c, timeout_ms, ret);
}
