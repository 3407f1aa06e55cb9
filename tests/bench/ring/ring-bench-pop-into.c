/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ring-bench's no-allocation pop, for our library (libvhost-user-ext.h):
 * the blk device handles one request at a time, so one element and one
 * iovec array are reused for every request.
 */
#include "libvhost-user-ext.h"
#include "ring-bench.h"

#define POP_INTO_IOV 2048

static VuVirtqElement scratch_elem;
static struct iovec scratch_iov[POP_INTO_IOV];

static VuVirtqElement *pop_into(BlkDevice *blk, VuVirtq *vq) {
        int r = vu_queue_pop_into(&blk->dev, vq, &scratch_elem, scratch_iov, POP_INTO_IOV);

        return r == 1 ? &scratch_elem : NULL;
}

static void release_nothing(BlkDevice *blk, VuVirtqElement *elem) {
}

bool ring_bench_use_pop_into(BlkDevice *blk) {
        blk->pop = pop_into;
        blk->release = release_nothing;
        return true;
}
