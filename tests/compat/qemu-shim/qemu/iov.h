/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's qemu/iov.h: the scatter-gather helpers that
 * tests/vhost-user-bridge takes from QEMU's utility library (not from
 * libvhost-user), implemented in qemu-shim.c with the same meaning.
 */
#pragma once

#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Total length of the iov_cnt buffers. */
size_t iov_size(const struct iovec *iov, unsigned int iov_cnt);

/* Copies up to bytes from buf into the buffers, starting offset bytes in; returns the count. */
size_t iov_from_buf(const struct iovec *iov, unsigned int iov_cnt, size_t offset, const void *buf, size_t bytes);

/* Copies up to bytes out of the buffers, starting offset bytes in, into buf; returns the count. */
size_t iov_to_buf(const struct iovec *iov, unsigned int iov_cnt, size_t offset, void *buf, size_t bytes);

/* Describes bytes of src_iov starting offset bytes in with at most dst_iov_cnt entries of
 * dst_iov (pointing into the same memory); returns the number of entries used. */
unsigned iov_copy(struct iovec *dst_iov, unsigned int dst_iov_cnt, const struct iovec *iov,
                  unsigned int iov_cnt, size_t offset, size_t bytes);

/* Drops bytes from the front of *iov (advancing *iov, lowering *iov_cnt, shortening the
 * first kept entry in place); returns the number of bytes dropped. */
size_t iov_discard_front(struct iovec **iov, unsigned int *iov_cnt, size_t bytes);

/* Writes a hex dump of at most limit bytes of the buffers to fp, each line led by prefix. */
void iov_hexdump(const struct iovec *iov, const unsigned int iov_cnt, FILE *fp, const char *prefix,
                 size_t limit);
