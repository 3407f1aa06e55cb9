/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's qemu/osdep.h, so that QEMU's own libvhost-user programs
 * (contrib/vhost-user-blk, tests/vhost-user-bridge) build outside QEMU's tree
 * against OUR libvhost-user.h: the system headers and the few helper macros
 * those programs take from it, nothing of libvhost-user's API (that must come
 * from our header alone, it is what tests/compat/qemu-contrib.sh proves).
 */
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

/* glib defines MIN and MAX already; QEMU's programs use both. */
#ifndef MIN
#define MIN(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) (((a) > (b)) ? (a) : (b))
#endif

#ifndef container_of
#define container_of(ptr, type, member) ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))
#endif

/* QEMU's copies of the kernel's virtio headers mark wire structs with it. */
#ifndef QEMU_PACKED
#define QEMU_PACKED __attribute__((packed))
#endif

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))
#endif

/* In QEMU 7.2 a function-like macro over a global; the programs only call it. */
static inline uintptr_t qemu_real_host_page_size(void) {
        return (uintptr_t) sysconf(_SC_PAGESIZE);
}
