/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's qapi/error.h: only what QEMU's libvhost-user sample
 * programs pass around, an opaque Error and error_fatal (a failure reported
 * through &error_fatal prints the error and exits, as in QEMU).
 */
#pragma once

typedef struct Error Error;

extern Error *error_fatal;

/* Reports msg: exits with status 1 when errp is &error_fatal, else stores an Error in *errp. */
void error_setg_shim(Error **errp, const char *msg);
