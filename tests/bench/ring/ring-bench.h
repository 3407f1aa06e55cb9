/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ring-bench: the one hook that depends on which libvhost-user the
 * benchmark is linked with. Ours has a no-allocation pop
 * (vu_queue_pop_into); another library gets the stub and those rows say n/a.
 */
#pragma once

#include <stdbool.h>

#include "blk-device.h"

/* Make @blk pop with vu_queue_pop_into(); false if this build has no such call. */
bool ring_bench_use_pop_into(BlkDevice *blk);
