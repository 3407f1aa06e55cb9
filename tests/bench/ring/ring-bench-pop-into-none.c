/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ring-bench linked with a libvhost-user that has only the compatible API
 * (QEMU's, say): there is no no-allocation pop to compare.
 */
#include "ring-bench.h"

bool ring_bench_use_pop_into(BlkDevice *blk) {
        return false;
}
