/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The few QEMU utility functions (qemu/iov.h, qemu/sockets.h, qapi/error.h)
 * that QEMU's libvhost-user sample programs link from QEMU's libqemuutil, written here so that those programs
 * link with nothing of QEMU but their own source file and, for libvhost-user,
 * only with our library.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qapi/error.h"
#include "qemu/iov.h"
#include "qemu/sockets.h"

size_t iov_size(const struct iovec *iov, unsigned int iov_cnt) {
        size_t n = 0;

        for (unsigned int i = 0; i < iov_cnt; i++)
                n += iov[i].iov_len;
        return n;
}

static size_t iov_transfer(const struct iovec *iov, unsigned int iov_cnt, size_t offset, void *buf,
                           size_t bytes, int to_iov) {
        size_t done = 0;

        for (unsigned int i = 0; i < iov_cnt && done < bytes; i++) {
                size_t len;

                if (offset >= iov[i].iov_len) {
                        offset -= iov[i].iov_len;
                        continue;
                }
                len = iov[i].iov_len - offset;
                if (len > bytes - done)
                        len = bytes - done;
                if (to_iov)
                        memcpy((char *) iov[i].iov_base + offset, (char *) buf + done, len);
                else
                        memcpy((char *) buf + done, (char *) iov[i].iov_base + offset, len);
                done += len;
                offset = 0;
        }
        return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt, size_t offset, const void *buf,
                    size_t bytes) {
        return iov_transfer(iov, iov_cnt, offset, (void *) buf, bytes, 1);
}

size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt, size_t offset, void *buf, size_t bytes) {
        return iov_transfer(iov, iov_cnt, offset, buf, bytes, 0);
}

unsigned iov_copy(struct iovec *dst_iov, unsigned int dst_iov_cnt, const struct iovec *iov,
                  unsigned int iov_cnt, size_t offset, size_t bytes) {
        unsigned int n = 0;

        for (unsigned int i = 0; i < iov_cnt && n < dst_iov_cnt && bytes > 0; i++) {
                size_t len;

                if (offset >= iov[i].iov_len) {
                        offset -= iov[i].iov_len;
                        continue;
                }
                len = iov[i].iov_len - offset;
                if (len > bytes)
                        len = bytes;
                dst_iov[n].iov_base = (char *) iov[i].iov_base + offset;
                dst_iov[n].iov_len = len;
                n++;
                bytes -= len;
                offset = 0;
        }
        return n;
}

size_t iov_discard_front(struct iovec **iov, unsigned int *iov_cnt, size_t bytes) {
        size_t done = 0;

        while (*iov_cnt > 0 && done < bytes) {
                struct iovec *cur = *iov;
                size_t left = bytes - done;

                if (cur->iov_len > left) {
                        cur->iov_base = (char *) cur->iov_base + left;
                        cur->iov_len -= left;
                        return bytes;
                }
                done += cur->iov_len;
                (*iov)++;
                (*iov_cnt)--;
        }
        return done;
}

void iov_hexdump(const struct iovec *iov, const unsigned int iov_cnt, FILE *fp, const char *prefix,
                 size_t limit) {
        size_t pos = 0;

        for (unsigned int i = 0; i < iov_cnt && pos < limit; i++)
                for (size_t b = 0; b < iov[i].iov_len && pos < limit; b++, pos++) {
                        if (pos % 16 == 0)
                                fprintf(fp, "%s%s%04zx:", pos ? "\n" : "", prefix, pos);
                        fprintf(fp, " %02x", ((const unsigned char *) iov[i].iov_base)[b]);
                }
        if (pos)
                fputc('\n', fp);
}

struct Error {
        char msg[256];
};

Error *error_fatal;

void error_setg_shim(Error **errp, const char *msg) {
        Error *e;

        if (errp == &error_fatal) {
                fprintf(stderr, "%s\n", msg);
                exit(1);
        }
        if (!errp)
                return;
        e = calloc(1, sizeof(*e));
        if (e)
                snprintf(e->msg, sizeof(e->msg), "%s", msg);
        *errp = e;
}

int unix_listen(const char *path, Error **errp) {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        char msg[200];
        int fd;

        if (strlen(path) >= sizeof(un.sun_path)) {
                snprintf(msg, sizeof(msg), "Socket path '%s' is too long", path);
                error_setg_shim(errp, msg);
                return -1;
        }
        strcpy(un.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                snprintf(msg, sizeof(msg), "Failed to create a socket: %s", strerror(errno));
                error_setg_shim(errp, msg);
                return -1;
        }
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &un, sizeof(un)) < 0 || listen(fd, 1) < 0) {
                snprintf(msg, sizeof(msg), "Failed to listen on %s: %s", path, strerror(errno));
                close(fd);
                error_setg_shim(errp, msg);
                return -1;
        }
        return fd;
}
