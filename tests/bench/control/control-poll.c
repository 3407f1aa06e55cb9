/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * control-poll: the client side of the control benchmark. It calls a method of
 * the sidecar's control socket over one connection, as a monitoring agent
 * would, and reports the latency of each call (send to reply parsed), or
 * samples the data-path counters so the benchmark can compute throughput.
 *
 *   control-poll SOCKET --count N [--method M]         N calls back to back
 *   control-poll SOCKET --rate HZ --secs S [--method M] paced calls for S seconds
 *   control-poll SOCKET --sample                       one GetStats: "TIMESTAMP_USEC BYTES"
 *
 * Latency output, one line: calls=N errors=E p50_us= p90_us= p99_us= max_us=.
 * With --raw FILE every latency (µs) is also written to FILE, one a line, so
 * several runs can be pooled. Exit 0, 1 when a call failed, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static double now_nsec_f(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p) {
        size_t i;

        if (n == 0)
                return 0;
        i = (size_t) ceil(p / 100.0 * (double) n);
        return sorted[i == 0 ? 0 : i - 1];
}

/* One call; returns 0 and the reply, or a negative errno with the reason printed. */
static int call_once(VarlinkClient *c, const char *method, VarlinkReply *ret) {
        int r = varlink_client_call(c, method, NULL, 10000, ret);

        if (r < 0) {
                fprintf(stderr, "control-poll: %s failed: %s\n", method, strerror(-r));
                return r;
        }
        if (ret->error) {
                fprintf(stderr, "control-poll: %s answered %s\n", method, ret->error);
                varlink_reply_done(ret);
                return -EIO;
        }
        return 0;
}

/* Sum of the device counters' data bytes in both directions, over every device. */
static int sample(VarlinkClient *c) {
        VarlinkReply reply = {};
        json_object *devices, *ts;
        uint64_t bytes = 0;
        int r;

        r = call_once(c, VL_METHOD_GET_STATS, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply.parameters, "timestamp_usec", &ts) ||
            !json_object_object_get_ex(reply.parameters, "devices", &devices) ||
            !json_object_is_type(devices, json_type_array)) {
                fprintf(stderr, "control-poll: GetStats reply lacks timestamp_usec or devices\n");
                varlink_reply_done(&reply);
                return -EBADMSG;
        }
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                json_object *dev = json_object_array_get_idx(devices, i), *dc, *v;

                if (!json_object_object_get_ex(dev, "device_counters", &dc))
                        continue;
                if (json_object_object_get_ex(dc, "backend_to_guest_data_bytes", &v))
                        bytes += (uint64_t) json_object_get_int64(v);
                if (json_object_object_get_ex(dc, "guest_to_backend_data_bytes", &v))
                        bytes += (uint64_t) json_object_get_int64(v);
        }
        printf("%" PRIu64 " %" PRIu64 "\n", (uint64_t) json_object_get_int64(ts), bytes);
        varlink_reply_done(&reply);
        return 0;
}

static void usage(FILE *f) {
        fprintf(f, "usage: control-poll SOCKET (--count N | --rate HZ --secs S | --sample) [--method M] "
                   "[--raw FILE]\n");
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                {"count", required_argument, NULL, 'c'}, {"rate", required_argument, NULL, 'r'},
                {"secs", required_argument, NULL, 's'},  {"method", required_argument, NULL, 'm'},
                {"raw", required_argument, NULL, 'w'},   {"sample", no_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},        {},
        };
        _cleanup_(varlink_client_freep) VarlinkClient *client = NULL;
        const char *method = VL_METHOD_GET_STATS, *raw = NULL;
        unsigned long count = 0;
        double rate = 0, secs = 0;
        bool do_sample = false;
        _cleanup_free_ double *lat = NULL;
        size_t n = 0, cap, errors = 0;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'c':
                        count = strtoul(optarg, NULL, 10);
                        break;
                case 'r':
                        rate = strtod(optarg, NULL);
                        break;
                case 's':
                        secs = strtod(optarg, NULL);
                        break;
                case 'm':
                        method = optarg;
                        break;
                case 'w':
                        raw = optarg;
                        break;
                case 'S':
                        do_sample = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (optind + 1 != argc || (!do_sample && count == 0 && !(rate > 0 && rate <= 100000 && secs > 0))) {
                usage(stderr);
                return 2;
        }
        r = varlink_client_connect(argv[optind], &client);
        if (r < 0) {
                fprintf(stderr, "control-poll: cannot connect to %s: %s\n", argv[optind], strerror(-r));
                return 1;
        }
        if (do_sample)
                return sample(client) < 0 ? 1 : 0;

        cap = count > 0 ? count : (size_t) (rate * secs) + 16;
        lat = calloc(cap, sizeof(*lat));
        if (!lat)
                return 1;
        uint64_t start = now_usec(), period = rate > 0 ? (uint64_t) (1e6 / rate) : 0;
        for (size_t i = 0; n < cap; i++) {
                VarlinkReply reply = {};
                double t0;

                if (count == 0) {
                        /* Paced: the i-th call is due at start + i periods; never catch up in a burst. */
                        uint64_t due = start + i * period, now = now_usec();
                        if (now - start >= (uint64_t) (secs * 1e6))
                                break;
                        if (due > now) {
                                struct timespec ts = {.tv_sec = (time_t) ((due - now) / 1000000),
                                                      .tv_nsec = (long) ((due - now) % 1000000) * 1000};
                                nanosleep(&ts, NULL);
                        } else if (now - due > period)
                                start += now - due - period;
                }
                t0 = now_nsec_f();
                if (call_once(client, method, &reply) < 0) {
                        errors++;
                        break;
                }
                lat[n++] = (now_nsec_f() - t0) / 1000.0;
                varlink_reply_done(&reply);
        }
        if (raw) {
                FILE *f = fopen(raw, "ae");
                if (f) {
                        for (size_t i = 0; i < n; i++)
                                fprintf(f, "%.1f\n", lat[i]);
                        fclose(f);
                }
        }
        qsort(lat, n, sizeof(*lat), cmp_double);
        printf("calls=%zu errors=%zu p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f\n", n, errors,
               percentile(lat, n, 50), percentile(lat, n, 90), percentile(lat, n, 99), n ? lat[n - 1] : 0.0);
        return errors ? 1 : 0;
}
