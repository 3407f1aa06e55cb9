/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * I/O counters a device keeps per queue and in total, for the control
 * socket and the logs. Directions are named from the guest's side of the
 * wire: "read" bytes went backend→guest, "written" bytes went guest→backend.
 * Everything here is touched only by the event-loop thread, so a snapshot
 * (a struct copy) taken from a control-socket handler is consistent.
 */
#pragma once

#include <stdint.h>
#include <string.h>

/* Request kinds a device counts; a device type maps its own opcodes onto these. */
typedef enum StatsRequestType {
        STATS_REQ_READ,  /* blk IN */
        STATS_REQ_WRITE, /* blk OUT */
        STATS_REQ_FLUSH,
        STATS_REQ_GET_ID,
        STATS_REQ_DISCARD,
        STATS_REQ_WRITE_ZEROES,
        STATS_REQ_OTHER, /* unknown or unsupported opcodes */
        _STATS_REQ_MAX,
} StatsRequestType;

/* Outcome of a request as the guest sees it (the virtio-blk status byte). */
typedef enum StatsStatus {
        STATS_STATUS_OK,
        STATS_STATUS_IOERR,
        STATS_STATUS_UNSUPP,
        STATS_STATUS_MALFORMED, /* no writable status byte: nothing could be reported */
        _STATS_STATUS_MAX,
} StatsStatus;

/*
 * Latency histogram: bucket i counts requests that took less than 2^i µs
 * (bucket 0: < 1 µs) and at least 2^(i-1) µs; the last bucket takes
 * everything slower (≥ 2^(N-2) µs, about 17 minutes for N = 32).
 */
#define STATS_LATENCY_BUCKETS 32

typedef struct IoStats {
        uint64_t requests[_STATS_REQ_MAX];  /* completed, by type */
        uint64_t status[_STATS_STATUS_MAX]; /* completed, by outcome */
        uint64_t bytes_read;                /* backend→guest data bytes (reads, GET_ID) */
        uint64_t bytes_written;             /* guest→backend data bytes (writes) */
        uint64_t bytes_discarded;           /* discard and write-zeroes ranges, in bytes */
        uint64_t in_flight;                 /* popped, not yet pushed back (a gauge) */
        uint64_t throttled;                 /* requests that had to wait for the I/O limits */
        uint64_t latency_usec_total;        /* sum, for an average */
        uint64_t latency[STATS_LATENCY_BUCKETS];
} IoStats;

/* Names for the control socket and logs: "read", "write", …; "ok", "ioerr", … */
const char *stats_request_type_to_string(StatsRequestType t);
const char *stats_status_to_string(StatsStatus s);

/* Upper bound in µs of latency bucket @i (UINT64_MAX for the last one). */
uint64_t stats_latency_bucket_limit(unsigned int i);

/* Account one completed request. */
void stats_account(IoStats *s, StatsRequestType type, StatsStatus status, uint64_t usec);

static inline void stats_reset(IoStats *s) {
        uint64_t in_flight = s->in_flight; /* a gauge, not a counter: keep it */

        memset(s, 0, sizeof(*s));
        s->in_flight = in_flight;
}
