/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Implementation of throttle.h: the token-bucket arithmetic. */
#include <math.h>

#include "throttle.h"

static void throttle_refill(Throttle *t, uint64_t now_usec) {
        double dt;

        if (now_usec <= t->last_usec)
                return;
        dt = (double) (now_usec - t->last_usec) / 1e6;
        t->last_usec = now_usec;

        if (t->iops > 0) {
                t->ops_tokens += dt * (double) t->iops;
                if (t->ops_tokens > (double) t->iops)
                        t->ops_tokens = (double) t->iops;
        }
        if (t->bps > 0) {
                t->byte_tokens += dt * (double) t->bps;
                if (t->byte_tokens > (double) t->bps)
                        t->byte_tokens = (double) t->bps;
        }
}

void throttle_set_limits(Throttle *t, uint64_t iops, uint64_t bps, uint64_t now_usec) {
        t->iops = iops;
        t->bps = bps;
        t->ops_tokens = (double) iops;
        t->byte_tokens = (double) bps;
        t->last_usec = now_usec;
}

bool throttle_admit(Throttle *t, uint64_t bytes, uint64_t now_usec) {
        throttle_refill(t, now_usec);

        /* An operation needs a whole token; bytes may go into debt (see throttle.h). */
        if (t->iops > 0 && t->ops_tokens < 1.0)
                return false;
        if (t->bps > 0 && t->byte_tokens < 0.0)
                return false;

        if (t->iops > 0)
                t->ops_tokens -= 1.0;
        if (t->bps > 0)
                t->byte_tokens -= (double) bytes;
        return true;
}

uint64_t throttle_wait_usec(Throttle *t, uint64_t now_usec) {
        double wait = 0.0;

        throttle_refill(t, now_usec);

        if (t->iops > 0 && t->ops_tokens < 1.0)
                wait = fmax(wait, (1.0 - t->ops_tokens) / (double) t->iops);
        if (t->bps > 0 && t->byte_tokens < 0.0)
                wait = fmax(wait, -t->byte_tokens / (double) t->bps);

        /* Round up, and at least 1 µs when waiting at all, so a timer never fires early. */
        return wait > 0.0 ? (uint64_t) ceil(wait * 1e6) + 1 : 0;
}
