/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Implementation of stats.h: names and the latency bucket arithmetic. */
#include "stats.h"
#include "macro.h"

static const char *const request_names[_STATS_REQ_MAX] = {
        [STATS_REQ_READ] = "read",       [STATS_REQ_WRITE] = "write",
        [STATS_REQ_FLUSH] = "flush",     [STATS_REQ_GET_ID] = "get-id",
        [STATS_REQ_DISCARD] = "discard", [STATS_REQ_WRITE_ZEROES] = "write-zeroes",
        [STATS_REQ_OTHER] = "other",
};

static const char *const status_names[_STATS_STATUS_MAX] = {
        [STATS_STATUS_OK] = "ok",
        [STATS_STATUS_IOERR] = "ioerr",
        [STATS_STATUS_UNSUPP] = "unsupp",
        [STATS_STATUS_MALFORMED] = "malformed",
};

const char *stats_request_type_to_string(StatsRequestType t) {
        return (unsigned) t < _STATS_REQ_MAX ? request_names[t] : NULL;
}

const char *stats_status_to_string(StatsStatus s) {
        return (unsigned) s < _STATS_STATUS_MAX ? status_names[s] : NULL;
}

uint64_t stats_latency_bucket_limit(unsigned int i) {
        if (i >= STATS_LATENCY_BUCKETS - 1)
                return UINT64_MAX;
        return UINT64_C(1) << i;
}

void stats_account(IoStats *s, StatsRequestType type, StatsStatus status, uint64_t usec) {
        unsigned int b = 0;

        if ((unsigned) type < _STATS_REQ_MAX)
                s->requests[type]++;
        if ((unsigned) status < _STATS_STATUS_MAX)
                s->status[status]++;

        /* bucket = number of significant bits of usec: 0 → 0, 1 → 1, 2..3 → 2, … */
        if (usec > 0)
                b = 64 - (unsigned) __builtin_clzll(usec);
        if (b >= STATS_LATENCY_BUCKETS)
                b = STATS_LATENCY_BUCKETS - 1;
        s->latency[b]++;
        s->latency_usec_total += usec;
}
