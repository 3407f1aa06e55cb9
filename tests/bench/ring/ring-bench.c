/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ring-bench: requests per second through the ring hot path (pop, handle,
 * push, notify) for short and long chains, direct and indirect, with and
 * without EVENT_IDX, and vu_queue_pop() against the no-allocation
 * vu_queue_pop_into(). The test frontend drives tests/compat's blk device
 * (compatible API only) in this process over a socketpair, with real kick
 * and call eventfds; or, with --connect, any vhost-user-blk backend over
 * its socket. It prints a table; it is a benchmark, never a test.
 *
 *   ring-bench [--duration-ms N] [--batch N] [--connect PATH]
 */
#include <errno.h>
#include <getopt.h>
#include <linux/virtio_blk.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk-device.h"
#include "ring-bench.h"
#include "vu-frontend.h"

#define F(bit) (UINT64_C(1) << (bit))
#define QSIZE 256
#define DATA_SEG 512

typedef struct Scenario {
        const char *name;
        unsigned int descs; /* per chain: header + data + status */
        bool indirect;
        bool event_idx;
        bool pop_into;
} Scenario;

typedef struct Bench {
        VfConn *conn;
        VfMem *mem;
        VfVring *vr;
        BlkDevice blk; /* in-process device */
        int backend_fd;
        bool in_process;
        uint64_t hdr_gpa[QSIZE], status_gpa[QSIZE], data_gpa;
        uint64_t kicks, calls;
} Bench;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void die(const char *what, int r) {
        fprintf(stderr, "ring-bench: Failed to %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

static void pump(void *userdata) {
        Bench *b = userdata;

        for (;;) {
                struct pollfd p = {.fd = b->backend_fd, .events = POLLIN};
                if (poll(&p, 1, 0) <= 0 || !vu_dispatch(&b->blk.dev))
                        return;
        }
}

static int bench_open(Bench *b, const Scenario *s, const char *connect_path) {
        uint64_t features = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC) |
                            F(VHOST_USER_F_PROTOCOL_FEATURES) |
                            (s->event_idx ? F(VIRTIO_RING_F_EVENT_IDX) : 0);
        uint64_t offered;
        int r;

        memset(b, 0, sizeof(*b));
        b->backend_fd = -1;
        if (connect_path) {
                r = vf_conn_connect(connect_path, 5000, &b->conn);
                if (r < 0)
                        die("connect to the backend", r);
        } else {
                b->in_process = true;
                r = vf_conn_new_pair(&b->conn, &b->backend_fd);
                if (r < 0)
                        die("create a socketpair", r);
                if (blk_device_init(&b->blk, b->backend_fd, NULL, 1024 * 1024, "ring-bench") < 0)
                        die("set up the device", errno);
                if (s->pop_into && !ring_bench_use_pop_into(&b->blk))
                        return -EOPNOTSUPP;
                vf_conn_set_pump(b->conn, pump, b);
        }

        if ((r = vf_mem_new(&b->mem)) < 0 ||
            (r = vf_mem_add_region(b->mem, 0x100000, 4 * 1024 * 1024)) < 0 ||
            (r = vf_mem_add_region(b->mem, 0x1000000, 4 * 1024 * 1024)) < 0)
                die("create guest memory", r);
        if ((r = vf_get_features(b->conn, &offered)) < 0)
                die("get features", r);
        if ((offered & features) != features)
                die("negotiate (features missing)", EOPNOTSUPP);
        if ((r = vf_set_protocol_features(b->conn, 0)) < 0 || (r = vf_set_owner(b->conn)) < 0 ||
            (r = vf_set_features(b->conn, features)) < 0 || (r = vf_set_mem_table(b->conn, b->mem)) < 0)
                die("negotiate", r);
        if ((r = vf_vring_new(b->mem, 0, QSIZE, s->event_idx, &b->vr)) < 0 ||
            (r = vf_vring_setup(b->conn, 0, b->vr, 0, false)) < 0 ||
            (r = vf_set_vring_enable(b->conn, 0, true)) < 0)
                die("set up the queue", r);

        for (unsigned int i = 0; i < QSIZE; i++)
                if ((r = vf_mem_alloc(b->mem, 0, 16, 16, &b->hdr_gpa[i])) < 0 ||
                    (r = vf_mem_alloc(b->mem, 0, 1, 1, &b->status_gpa[i])) < 0)
                        die("allocate request headers", r);
        if ((r = vf_mem_alloc(b->mem, 1, 64 * DATA_SEG, 4096, &b->data_gpa)) < 0)
                die("allocate data buffers", r);
        return 0;
}

static void bench_close(Bench *b) {
        b->conn = vf_conn_free(b->conn);
        if (b->in_process) {
                blk_device_deinit(&b->blk);
                close(b->backend_fd);
        }
        b->vr = vf_vring_free(b->vr);
        b->mem = vf_mem_free(b->mem);
}

/* Queue one read request of @descs descriptors in slot @slot. */
static void add_request(Bench *b, const Scenario *s, unsigned int slot) {
        VfBuf bufs[66];
        unsigned int n = 0;
        uint16_t head;

        struct virtio_blk_outhdr *hdr = vf_mem_gpa(b->mem, b->hdr_gpa[slot], sizeof(*hdr));
        *hdr = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN, .sector = slot % 64};
        bufs[n++] = (VfBuf){.gpa = b->hdr_gpa[slot], .len = sizeof(*hdr)};
        for (unsigned int i = 0; i < s->descs - 2; i++)
                bufs[n++] = (VfBuf){
                        .gpa = b->data_gpa + (uint64_t) i * DATA_SEG, .len = DATA_SEG, .write = true};
        bufs[n++] = (VfBuf){.gpa = b->status_gpa[slot], .len = 1, .write = true};
        int r = vf_vring_add(b->vr, bufs, n, s->indirect, &head);
        if (r < 0)
                die("add a request", r);
}

/* One batch: add, publish, kick if wanted, let the device run, collect. Returns requests done. */
static unsigned int run_batch(Bench *b, const Scenario *s, unsigned int batch) {
        unsigned int done = 0;
        uint16_t head;
        uint32_t len;
        uint64_t calls;

        for (unsigned int i = 0; i < batch; i++)
                add_request(b, s, i);
        if (s->event_idx) /* one call when the whole batch is back */
                vf_vring_set_used_event(b->vr, (uint16_t) (vf_vring_last_used(b->vr) + batch - 1));
        int k = vf_vring_publish_kick(b->vr);
        if (k < 0)
                die("kick", k);
        b->kicks += (uint64_t) k;

        while (done < batch) {
                if (b->in_process)
                        blk_device_run_once(&b->blk, 0);
                int r;
                while ((r = vf_vring_get_used(b->vr, &head, &len)) == 1)
                        done++;
                if (r < 0)
                        die("read the used ring", r);
                if (done < batch && !b->in_process) {
                        r = vf_vring_take_calls(b->vr, 5000, &calls);
                        if (r < 0)
                                die("wait for a call", r);
                        b->calls += calls;
                }
        }
        if (vf_vring_take_calls(b->vr, 0, &calls) == 0)
                b->calls += calls;
        return done;
}

#define SLICES 5

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static void run_scenario(const Scenario *s, const char *connect_path, unsigned int duration_ms,
                         unsigned int batch) {
        Bench b;
        uint64_t requests = 0;

        /* Direct chains take one table entry per descriptor: the batch must fit the table. */
        if (!s->indirect && batch > QSIZE / s->descs)
                batch = QSIZE / s->descs;

        if (bench_open(&b, s, connect_path) < 0) {
                printf("%-24s %5u %-9s %-9s %-9s %12s\n", s->name, s->descs,
                       s->indirect ? "indirect" : "direct", s->event_idx ? "on" : "off",
                       s->pop_into ? "pop_into" : "pop", "(n/a)");
                bench_close(&b);
                return;
        }

        /*
         * Warm up, then measure in five slices and report the median: two
         * cores and noisy neighbours make single figures jump; the spread
         * says how much to trust the median.
         */
        for (unsigned int i = 0; i < 50; i++)
                run_batch(&b, s, batch);
        b.kicks = b.calls = 0;
        double rate[SLICES];
        for (unsigned int k = 0; k < SLICES; k++) {
                uint64_t n = 0, start = now_ns(), end = start + (uint64_t) duration_ms * 1000000u / SLICES,
                         t;
                do {
                        for (unsigned int i = 0; i < 16; i++)
                                n += run_batch(&b, s, batch);
                        t = now_ns();
                } while (t < end);
                rate[k] = (double) n / ((double) (t - start) / 1e9);
                requests += n;
        }
        qsort(rate, SLICES, sizeof(rate[0]), cmp_double);

        printf("%-24s %5u %-9s %-9s %-9s %12.0f %7.0f%% %10.3f %10.3f\n", s->name, s->descs,
               s->indirect ? "indirect" : "direct", s->event_idx ? "on" : "off",
               s->pop_into ? "pop_into" : "pop", rate[SLICES / 2],
               100.0 * (rate[SLICES - 1] - rate[0]) / rate[SLICES / 2], (double) b.kicks / (double) requests,
               (double) b.calls / (double) requests);
        bench_close(&b);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"duration-ms", required_argument, NULL, 'd'},
                {"batch", required_argument, NULL, 'b'},
                {"connect", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        static const Scenario scenarios[] = {
                {"short", 3, false, false, false},         {"short", 3, false, true, false},
                {"short", 3, false, false, true},          {"short", 3, false, true, true},
                {"short-indirect", 3, true, false, false}, {"short-indirect", 3, true, true, true},
                {"long", 64, false, false, false},         {"long", 64, false, true, false},
                {"long", 64, false, true, true},           {"long-indirect", 64, true, false, false},
                {"long-indirect", 64, true, true, false},  {"long-indirect", 64, true, true, true},
        };
        unsigned int duration_ms = 200, batch = 32;
        const char *connect_path = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        duration_ms = (unsigned int) strtoul(optarg, NULL, 10);
                        if (duration_ms == 0 || duration_ms > 60000) {
                                fprintf(stderr, "ring-bench: --duration-ms: '%s', expected 1..60000\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'b':
                        batch = (unsigned int) strtoul(optarg, NULL, 10);
                        if (batch == 0 || batch > 64) {
                                fprintf(stderr, "ring-bench: --batch: '%s', expected 1..64\n", optarg);
                                return 2;
                        }
                        break;
                case 'c':
                        connect_path = optarg;
                        break;
                case 'h':
                        printf("Usage: ring-bench [--duration-ms N] [--batch N] [--connect PATH]\n");
                        return 0;
                default:
                        return 2;
                }

        printf("ring-bench: %s, batches of %u requests (virtio-blk reads of 512-byte segments), %u ms "
               "each\n",
               connect_path ? connect_path : "blk device in-process", batch, duration_ms);
        printf("%-24s %5s %-9s %-9s %-9s %12s %8s %10s %10s\n", "chains (batch <= table)", "descs", "layout",
               "event_idx", "pop", "requests/s", "spread", "kicks/req", "calls/req");
        for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
                /* A backend in another process pops as it likes: only the ring layouts differ. */
                if (connect_path && scenarios[i].pop_into)
                        continue;
                run_scenario(&scenarios[i], connect_path, duration_ms, batch);
        }
        return 0;
}
