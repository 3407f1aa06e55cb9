/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for QEMU's qemu/ctype.h: the locale-proof character class helpers
 * QEMU's programs call, on <ctype.h> with the argument made unsigned.
 */
#pragma once

#include <ctype.h>

#define qemu_isdigit(c) isdigit((unsigned char) (c))
#define qemu_isspace(c) isspace((unsigned char) (c))
#define qemu_isalpha(c) isalpha((unsigned char) (c))
#define qemu_isxdigit(c) isxdigit((unsigned char) (c))
