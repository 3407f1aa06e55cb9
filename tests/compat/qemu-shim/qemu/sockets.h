/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's qemu/sockets.h: the one listening-socket helper
 * contrib/vhost-user-input calls, implemented in qemu-shim.c.
 */
#pragma once

#include "qapi/error.h"

/* Binds and listens on the AF_UNIX stream socket at path (an old socket file there is
 * replaced); returns the listening fd (the caller owns it) or -1 with *errp set. */
int unix_listen(const char *path, Error **errp);
