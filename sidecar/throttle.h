/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * I/O limits as two token buckets (operations and bytes per second). Pure
 * arithmetic over a caller-supplied monotonic clock, so it is testable and
 * the device decides what waiting means (a timer, never a busy loop).
 *
 * Each bucket holds at most one second of budget. A request is admitted
 * when both buckets are non-negative; it then takes its cost, which may
 * drive the byte bucket negative (a request bigger than one second's
 * budget still passes, and the debt delays the ones after it).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct Throttle {
        uint64_t iops; /* operations per second, 0 = unlimited */
        uint64_t bps;  /* bytes per second, 0 = unlimited */
        double ops_tokens;
        double byte_tokens;
        uint64_t last_usec; /* when the buckets were last refilled */
} Throttle;

/* Set new limits (0 = none) at time @now_usec; the buckets start full. */
void throttle_set_limits(Throttle *t, uint64_t iops, uint64_t bps, uint64_t now_usec);

/* True if any limit is set. */
static inline bool throttle_enabled(const Throttle *t) {
        return t->iops > 0 || t->bps > 0;
}

/*
 * Try to admit a request of @bytes at @now_usec. Returns true and charges
 * the buckets if admitted; returns false (charging nothing) if it must wait.
 */
bool throttle_admit(Throttle *t, uint64_t bytes, uint64_t now_usec);

/* µs from @now_usec until throttle_admit() can next succeed (0 if it can now). */
uint64_t throttle_wait_usec(Throttle *t, uint64_t now_usec);
