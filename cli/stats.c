/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl stats: counters per queue and per device, with the direction in
 * every name (G>B: guest to backend, B>G: backend to guest). With --watch N
 * it refreshes in place every N seconds and shows rates per second,
 * computed from the daemon's own monotonic timestamps so a slow round trip
 * does not skew them. Also the Prometheus text format for scrapers.
 *
 * A net device's own counters are frames, not requests: per queue its
 * direction, packets, bytes, drops, holds and polls, then the drops by
 * reason and the frame sizes per direction, as a NIC's statistics read.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vuctl.h"

typedef struct Counter {
        const char *field;
        const char *header;
        const char *rate_header;
        bool bytes;
        const char *help; /* Prometheus HELP */
} Counter;

static const Counter queue_counters[] = {
        {VL_FIELD_KICKS, "KICKS", "KICKS/s", false, "Kick notifications received from the guest."},
        {VL_FIELD_G2B_CHAINS, "G>B CHAINS", "G>B CHAINS/s", false,
         "Descriptor chains the guest made available to the backend."},
        {VL_FIELD_B2G_CHAINS, "B>G CHAINS", "B>G CHAINS/s", false,
         "Descriptor chains the backend returned to the guest."},
        {VL_FIELD_G2B_BYTES, "G>B BYTES", "G>B BYTES/s", true,
         "Bytes in device-readable buffers the guest made available."},
        {VL_FIELD_B2G_BYTES, "B>G BYTES", "B>G BYTES/s", true,
         "Bytes the backend reported written to the guest's buffers."},
        {VL_FIELD_CALLS_SENT, "CALLS", "CALLS/s", false, "Call notifications sent to the guest."},
        {VL_FIELD_CALLS_SUPPRESSED, "SUPPRESSED", "SUPPRESSED/s", false,
         "Call notifications skipped thanks to EVENT_IDX or NO_INTERRUPT."},
        {VL_FIELD_MALFORMED_CHAINS, "MALFORMED", "MALFORMED/s", false,
         "Descriptor chains refused as malformed."},
        {VL_FIELD_RESUBMITTED_CHAINS, "RESUBMITTED", "RESUBMITTED/s", false,
         "Descriptor chains resubmitted from the inflight buffer after a reconnect."},
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        interrupted = 1;
}

static json_object *find_by(json_object *array, const char *key, json_object *like) {
        json_object *want = json_get(like, key);

        if (!array || !want)
                return NULL;
        for (size_t i = 0; i < json_object_array_length(array); i++) {
                json_object *e = json_object_array_get_idx(array, i);

                if (json_object_equal(json_get(e, key), want))
                        return e;
        }
        return NULL;
}

static void add_counter_cell(Table *t, const Counter *c, json_object *cur, json_object *prev, double dt) {
        uint64_t v = json_get_uint(cur, c->field, 0);
        char b[32];

        if (dt <= 0) {
                if (c->bytes)
                        table_add(t, "%s", format_bytes(b, sizeof(b), v));
                else
                        table_add(t, "%" PRIu64, v);
                return;
        }
        if (!prev) {
                table_add(t, "-");
                return;
        }
        {
                uint64_t p = json_get_uint(prev, c->field, 0);
                double rate = v >= p ? (double) (v - p) / dt : 0; /* reset-stats in between: show 0 */

                if (c->bytes)
                        table_add(t, "%s/s", format_bytes(b, sizeof(b), (uint64_t) llround(rate)));
                else
                        table_add(t, "%.1f", rate);
        }
}

/* One table of the queue counters: their values (@dt 0), or their rates over @dt seconds. */
static void print_queue_table(json_object *dev, json_object *prev_dev, double dt) {
        const char *headers[1 + ELEMENTSOF(queue_counters)] = {"QUEUE"};
        json_object *queues = json_get(dev, VL_FIELD_QUEUES);
        json_object *prev_queues = json_get(prev_dev, VL_FIELD_QUEUES);
        _cleanup_(table_freep) Table *t = NULL;

        for (size_t i = 0; i < ELEMENTSOF(queue_counters); i++)
                headers[i + 1] = dt > 0 ? queue_counters[i].rate_header : queue_counters[i].header;
        t = table_new_array(ELEMENTSOF(headers), headers);
        if (!t)
                return;
        for (size_t i = 0; i < ELEMENTSOF(headers); i++)
                table_align_right(t, i);

        for (size_t q = 0; queues && q < json_object_array_length(queues); q++) {
                json_object *cur = json_object_array_get_idx(queues, q);
                json_object *prev = find_by(prev_queues, VL_FIELD_INDEX, cur);

                table_add(t, "%" PRIi64, json_get_int(cur, VL_FIELD_INDEX, (int64_t) q));
                for (size_t i = 0; i < ELEMENTSOF(queue_counters); i++)
                        add_counter_cell(t, &queue_counters[i], cur, prev, dt);
        }
        table_add(t, "total");
        for (size_t i = 0; i < ELEMENTSOF(queue_counters); i++)
                add_counter_cell(t, &queue_counters[i], json_get(dev, VL_FIELD_TOTALS),
                                 json_get(prev_dev, VL_FIELD_TOTALS), dt);
        table_print(t, stdout);
}

/* ---- net devices --------------------------------------------------------- */

/* The fields of a net object (per queue, and "tx"/"rx" per device); see vu-sidecar-control(7). */
#define NET_DIRECTION "direction"
#define NET_DROPS "drops"
#define NET_SIZES "sizes"
#define NET_TX "tx"
#define NET_RX "rx"
#define NET_CONTROL_COMMANDS "control_commands"
#define NET_CONTROL_ERRORS "control_errors"

static const Counter net_packets = {"packets", "PACKETS", "PACKETS/s", false, NULL};
static const Counter net_bytes = {"bytes", "BYTES", "BYTES/s", true, NULL};

/* Each direction's counters per queue; "sizes" and "drops" are objects of integers, a label each. */
static const struct {
        const char *field;
        const char *metric;
        const char *label; /* NULL: the field is an integer */
        const char *help;
} net_metrics[] = {
        {"packets", "vusidecar_net_packets_total", NULL,
         "Frames the net queue carried in its direction (dropped ones not included)."},
        {"bytes", "vusidecar_net_bytes_total", NULL,
         "Ethernet bytes of those frames (no virtio-net header)."},
        {NET_DROPS, "vusidecar_net_drops_total", "reason", "Frames the net queue dropped, by reason."},
        {NET_SIZES, "vusidecar_net_frames_total", "size", "Frames the net queue carried, by size in bytes."},
        {"holds", "vusidecar_net_holds_total", NULL,
         "Times a frame had to wait for the guest's receive buffers."},
        {"polls", "vusidecar_net_polls_total", NULL, "Polling passes over the net queue."},
};

static const char *net_direction_words(const char *direction) {
        if (strcmp(direction, "guest_to_backend") == 0)
                return "guest→backend";
        if (strcmp(direction, "backend_to_guest") == 0)
                return "backend→guest";
        return direction;
}

static uint64_t net_drops_total(json_object *net) {
        json_object *drops = json_get(net, NET_DROPS);
        struct json_object_iter it;
        uint64_t sum = 0;

        if (!drops || !json_object_is_type(drops, json_type_object))
                return 0;
        json_object_object_foreachC(drops, it) {
                if (json_object_is_type(it.val, json_type_int))
                        sum += json_object_get_uint64(it.val);
        }
        return sum;
}

/* "size_64" → "≤64", "size_65_127" → "65-127", "size_1519_max" → "1519+". */
static char *net_size_label(char *buf, size_t size, const char *key) {
        const char *r = strncmp(key, "size_", 5) == 0 ? key + 5 : key, *u = strchr(r, '_');

        if (!u)
                snprintf(buf, size, "≤%s", r);
        else if (strcmp(u, "_max") == 0)
                snprintf(buf, size, "%.*s+", (int) (u - r), r);
        else {
                snprintf(buf, size, "%s", r);
                for (char *p = buf; *p; p++)
                        if (*p == '_')
                                *p = '-';
        }
        return buf;
}

static void net_add_row(Table *t, const char *label, json_object *net, json_object *prev_net, double dt) {
        table_add(t, "%s", label);
        table_add(t, "%s", net_direction_words(json_get_str(net, NET_DIRECTION, "?")));
        add_counter_cell(t, &net_packets, net, NULL, 0);
        if (dt > 0)
                add_counter_cell(t, &net_packets, net, prev_net, dt);
        add_counter_cell(t, &net_bytes, net, NULL, 0);
        if (dt > 0)
                add_counter_cell(t, &net_bytes, net, prev_net, dt);
        table_add(t, "%" PRIu64, net_drops_total(net));
        table_add(t, "%" PRIu64, json_get_uint(net, "holds", 0));
        table_add(t, "%" PRIu64, json_get_uint(net, "polls", 0));
}

/* Per queue and per direction: the counts, and in --watch mode the packet and byte rates beside them. */
static void print_net_queues(json_object *dev, json_object *prev_dev, double dt) {
        static const char *const totals[] = {NET_RX, NET_TX}; /* in the queues' order: receiveq first */
        json_object *queues = json_get(dev, VL_FIELD_QUEUES),
                    *prev_queues = json_get(prev_dev, VL_FIELD_QUEUES);
        json_object *net = json_get(dev, VL_FIELD_NET), *prev_net = json_get(prev_dev, VL_FIELD_NET);
        _cleanup_(table_freep) Table *t = NULL;
        size_t columns = dt > 0 ? 9 : 7;

        t = dt > 0 ? table_new(columns, "QUEUE", "DIRECTION", "PACKETS", "PACKETS/s", "BYTES", "BYTES/s",
                               "DROPS", "HOLDS", "POLLS")
                   : table_new(columns, "QUEUE", "DIRECTION", "PACKETS", "BYTES", "DROPS", "HOLDS", "POLLS");
        if (!t)
                return;
        for (size_t i = 0; i < columns; i++)
                if (i != 1) /* numbers, but the direction */
                        table_align_right(t, i);
        for (size_t q = 0; queues && q < json_object_array_length(queues); q++) {
                json_object *cur = json_object_array_get_idx(queues, q);
                json_object *qnet = json_get(cur, VL_FIELD_NET);
                char label[24];

                if (!qnet) /* the control queue carries commands, not frames */
                        continue;
                snprintf(label, sizeof(label), "%" PRIi64, json_get_int(cur, VL_FIELD_INDEX, (int64_t) q));
                net_add_row(t, label, qnet,
                            json_get(find_by(prev_queues, VL_FIELD_INDEX, cur), VL_FIELD_NET), dt);
        }
        for (size_t i = 0; i < ELEMENTSOF(totals); i++)
                if (json_get(net, totals[i]))
                        net_add_row(t, "total", json_get(net, totals[i]), json_get(prev_net, totals[i]), dt);
        putchar('\n');
        table_print(t, stdout);
}

/* Only the reasons that happened: a NIC's operator looks for the one that grows. */
static void print_net_drops(json_object *dev) {
        json_object *queues = json_get(dev, VL_FIELD_QUEUES);
        _cleanup_(table_freep) Table *t = table_new(4, "QUEUE", "DIRECTION", "DROP REASON", "DROPS");
        size_t rows = 0;

        if (!t)
                return;
        table_align_right(t, 0);
        table_align_right(t, 3);
        for (size_t q = 0; queues && q < json_object_array_length(queues); q++) {
                json_object *cur = json_object_array_get_idx(queues, q), *qnet = json_get(cur, VL_FIELD_NET);
                json_object *drops = json_get(qnet, NET_DROPS);

                if (!drops || !json_object_is_type(drops, json_type_object))
                        continue;
                json_object_object_foreach(drops, key, val) {
                        if (!json_object_is_type(val, json_type_int) || json_object_get_uint64(val) == 0)
                                continue;
                        table_add(t, "%" PRIi64, json_get_int(cur, VL_FIELD_INDEX, (int64_t) q));
                        table_add(t, "%s", net_direction_words(json_get_str(qnet, NET_DIRECTION, "?")));
                        table_add(t, "%s", key);
                        table_add(t, "%" PRIu64, json_object_get_uint64(val));
                        rows++;
                }
        }
        putchar('\n');
        if (rows == 0)
                printf("no drops\n");
        else
                table_print(t, stdout);
}

static void print_net_sizes(json_object *dev) {
        json_object *net = json_get(dev, VL_FIELD_NET);
        json_object *g2b = json_get(json_get(net, NET_TX), NET_SIZES),
                    *b2g = json_get(json_get(net, NET_RX), NET_SIZES);
        json_object *keys = g2b ?: b2g;
        _cleanup_(table_freep) Table *t = table_new(3, "FRAME BYTES", "GUEST→BACKEND", "BACKEND→GUEST");

        if (!t || !keys || !json_object_is_type(keys, json_type_object))
                return;
        for (size_t i = 0; i < 3; i++)
                table_align_right(t, i);
        json_object_object_foreach(keys, key, val) {
                char label[32];

                if (!json_object_is_type(val, json_type_int))
                        continue;
                table_add(t, "%s", net_size_label(label, sizeof(label), key));
                table_add(t, "%" PRIu64, json_get_uint(g2b, key, 0));
                table_add(t, "%" PRIu64, json_get_uint(b2g, key, 0));
        }
        putchar('\n');
        table_print(t, stdout);
}

static void print_net(json_object *dev, json_object *prev_dev, double dt) {
        json_object *net = json_get(dev, VL_FIELD_NET), *dc = json_get(dev, VL_FIELD_DEVICE_COUNTERS);

        print_net_queues(dev, prev_dev, dt);
        print_net_drops(dev);
        print_net_sizes(dev);
        printf("\ncontrol queue: %" PRIu64 " commands, %" PRIu64 " failed; connections: %" PRIu64
               " served, %" PRIu64 " turned away\n",
               json_get_uint(net, NET_CONTROL_COMMANDS, 0), json_get_uint(net, NET_CONTROL_ERRORS, 0),
               json_get_uint(dc, "connections", 0), json_get_uint(dc, "connections_refused", 0));
}

/* ---- every device --------------------------------------------------------- */

static void print_device_table(json_object *dev, json_object *prev_dev, double dt) {
        json_object *counters = json_get(dev, VL_FIELD_DEVICE_COUNTERS);
        _cleanup_(table_freep) Table *dc = NULL;

        /* The counts since start (or the last reset-stats), and while watching their rates too:
         * a rate alone hides what has accumulated. */
        printf("%s (%s)%s\n", json_get_str(dev, VL_FIELD_ID, "?"), json_get_str(dev, VL_FIELD_TYPE, "?"),
               dt > 0 ? ": totals" : "");
        print_queue_table(dev, NULL, 0);
        if (dt > 0) {
                printf("\n%s: rates per second\n", json_get_str(dev, VL_FIELD_ID, "?"));
                print_queue_table(dev, prev_dev, dt);
        }

        /* A NIC's counters are frames: its own tables, not the request counters of a disk. */
        if (json_get(dev, VL_FIELD_NET)) {
                print_net(dev, prev_dev, dt);
                return;
        }
        if (!counters || !json_object_is_type(counters, json_type_object) ||
            json_object_object_length(counters) == 0)
                return;
        /* Values, and in --watch mode their rates too (gauges have none). */
        dc = dt > 0 ? table_new(3, "DEVICE COUNTER", "VALUE", "PER SECOND")
                    : table_new(2, "DEVICE COUNTER", "VALUE");
        if (!dc)
                return;
        table_align_right(dc, 1);
        table_align_right(dc, 2);
        json_object_object_foreach(counters, key, val) {
                Counter c = {.field = key, .bytes = strstr(key, "bytes") != NULL};

                if (!json_object_is_type(val, json_type_int))
                        continue;
                table_add(dc, "%s", key);
                add_counter_cell(dc, &c, counters, NULL, 0);
                if (dt > 0) {
                        if (strcmp(key, "in_flight") == 0)
                                table_add(dc, "-");
                        else
                                add_counter_cell(dc, &c, counters,
                                                 json_get(prev_dev, VL_FIELD_DEVICE_COUNTERS), dt);
                }
        }
        putchar('\n');
        table_print(dc, stdout);
}

/* One net metric for every rx/tx queue of every net device, its samples together. */
static void print_prometheus_net_metric(json_object *devices, size_t m) {
        size_t n = devices ? json_object_array_length(devices) : 0;

        for (size_t d = 0; d < n; d++) {
                json_object *dev = json_object_array_get_idx(devices, d);
                json_object *queues = json_get(dev, VL_FIELD_QUEUES);

                for (size_t q = 0; queues && q < json_object_array_length(queues); q++) {
                        json_object *qo = json_object_array_get_idx(queues, q);
                        json_object *net = json_get(qo, VL_FIELD_NET),
                                    *v = json_get(net, net_metrics[m].field);
                        char labels[192];

                        if (!v)
                                continue;
                        snprintf(labels, sizeof(labels),
                                 "device=\"%s\",queue=\"%" PRIi64 "\",direction=\"%s\"",
                                 json_get_str(dev, VL_FIELD_ID, "?"), json_get_int(qo, VL_FIELD_INDEX, 0),
                                 json_get_str(net, NET_DIRECTION, "?"));
                        if (!net_metrics[m].label) {
                                if (json_object_is_type(v, json_type_int))
                                        prom_sample(stdout, net_metrics[m].metric, "counter",
                                                    net_metrics[m].help, labels, json_object_get_uint64(v));
                                continue;
                        }
                        if (!json_object_is_type(v, json_type_object))
                                continue;
                        json_object_object_foreach(v, key, val) {
                                char more[320];

                                if (!json_object_is_type(val, json_type_int))
                                        continue;
                                /* size="64", "65_127", … "1519_max": the bucket's bounds in bytes. */
                                snprintf(more, sizeof(more), "%s,%s=\"%s\"", labels, net_metrics[m].label,
                                         strncmp(key, "size_", 5) == 0 ? key + 5 : key);
                                prom_sample(stdout, net_metrics[m].metric, "counter", net_metrics[m].help,
                                            more, json_object_get_uint64(val));
                        }
                }
        }
}

static void print_prometheus_net(json_object *devices) {
        static const struct {
                const char *field, *metric, *help;
        } control[] = {
                {NET_CONTROL_COMMANDS, "vusidecar_net_control_commands_total",
                 "Commands the guest sent on the net device's control queue."},
                {NET_CONTROL_ERRORS, "vusidecar_net_control_errors_total",
                 "Control-queue commands the net device refused."},
        };
        size_t n = devices ? json_object_array_length(devices) : 0;

        /* Per queue only: the device's per-direction totals are their sums, which a scraper adds up. */
        for (size_t m = 0; m < ELEMENTSOF(net_metrics); m++)
                print_prometheus_net_metric(devices, m);
        for (size_t i = 0; i < ELEMENTSOF(control); i++)
                for (size_t d = 0; d < n; d++) {
                        json_object *dev = json_object_array_get_idx(devices, d);
                        json_object *v = json_get(json_get(dev, VL_FIELD_NET), control[i].field);
                        char labels[128];

                        if (!v || !json_object_is_type(v, json_type_int))
                                continue;
                        snprintf(labels, sizeof(labels), "device=\"%s\"",
                                 json_get_str(dev, VL_FIELD_ID, "?"));
                        prom_sample(stdout, control[i].metric, "counter", control[i].help, labels,
                                    json_object_get_uint64(v));
                }
}

static void print_prometheus(json_object *reply) {
        json_object *devices = json_get(reply, VL_FIELD_DEVICES);
        size_t n = devices ? json_object_array_length(devices) : 0;

        /* The scrape worked (a failed one prints vusidecar_up 0), and which devices have a frontend. */
        prom_sample(stdout, "vusidecar_up", "gauge", "1 if vu-sidecar answered on its control socket.", NULL,
                    1);
        for (size_t d = 0; d < n; d++) {
                json_object *dev = json_object_array_get_idx(devices, d);
                char labels[128];

                snprintf(labels, sizeof(labels), "device=\"%s\",type=\"%s\"",
                         json_get_str(dev, VL_FIELD_ID, "?"), json_get_str(dev, VL_FIELD_TYPE, "?"));
                prom_sample(stdout, "vusidecar_device_connected", "gauge",
                            "1 while a frontend is connected to the device.", labels,
                            json_get_bool(dev, VL_FIELD_CONNECTED, false));
        }

        /* The text format wants every sample of a metric together: loop metric by metric. */
        for (size_t i = 0; i < ELEMENTSOF(queue_counters); i++) {
                char name[128];

                snprintf(name, sizeof(name), "vusidecar_queue_%s_total", queue_counters[i].field);
                for (size_t d = 0; d < n; d++) {
                        json_object *dev = json_object_array_get_idx(devices, d);
                        json_object *queues = json_get(dev, VL_FIELD_QUEUES);

                        for (size_t q = 0; queues && q < json_object_array_length(queues); q++) {
                                json_object *qo = json_object_array_get_idx(queues, q);
                                char labels[128];

                                snprintf(labels, sizeof(labels), "device=\"%s\",queue=\"%" PRIi64 "\"",
                                         json_get_str(dev, VL_FIELD_ID, "?"),
                                         json_get_int(qo, VL_FIELD_INDEX, 0));
                                prom_sample(stdout, name, "counter", queue_counters[i].help, labels,
                                            json_get_uint(qo, queue_counters[i].field, 0));
                        }
                }
        }

        print_prometheus_net(devices);

        /* Device counters: the names come from the daemon. Each name is printed once, with the
         * samples of every device that has it, the first time a device shows it. */
        for (size_t d = 0; d < n; d++) {
                json_object *counters =
                        json_get(json_object_array_get_idx(devices, d), VL_FIELD_DEVICE_COUNTERS);

                if (!counters || !json_object_is_type(counters, json_type_object))
                        continue;
                json_object_object_foreach(counters, key, val) {
                        bool gauge = strcmp(key, "in_flight") == 0 || strstr(key, "waiting"),
                             earlier = false;
                        char name[128];

                        if (!json_object_is_type(val, json_type_int))
                                continue;
                        for (size_t e = 0; e < d && !earlier; e++)
                                earlier = json_get(json_get(json_object_array_get_idx(devices, e),
                                                            VL_FIELD_DEVICE_COUNTERS),
                                                   key) != NULL;
                        if (earlier)
                                continue;
                        /* A counter's name ends in _total once: latency_usec_total stays as it is. */
                        snprintf(name, sizeof(name), "vusidecar_device_%s%s", key,
                                 gauge || (strlen(key) >= 6 && strcmp(key + strlen(key) - 6, "_total") == 0)
                                         ? ""
                                         : "_total");
                        for (char *p = name; *p; p++)
                                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                      (*p >= '0' && *p <= '9') || *p == '_'))
                                        *p = '_';
                        for (size_t e = d; e < n; e++) {
                                json_object *dev = json_object_array_get_idx(devices, e);
                                json_object *v = json_get(json_get(dev, VL_FIELD_DEVICE_COUNTERS), key);
                                char labels[128];

                                if (!v || !json_object_is_type(v, json_type_int))
                                        continue;
                                snprintf(labels, sizeof(labels), "device=\"%s\",type=\"%s\"",
                                         json_get_str(dev, VL_FIELD_ID, "?"),
                                         json_get_str(dev, VL_FIELD_TYPE, "?"));
                                prom_sample(
                                        stdout, name, gauge ? "gauge" : "counter",
                                        "Device counter reported by vu-sidecar (see vu-sidecar-control(7)).",
                                        labels, json_object_get_uint64(v));
                        }
                }
        }
}

static int fetch(Vuctl *ctx, json_object **ret) {
        return vuctl_call(ctx, VL_METHOD_GET_STATS, vuctl_device_params(ctx), ret);
}

static void print_once(Vuctl *ctx, json_object *reply, json_object *prev) {
        json_object *devices = json_get(reply, VL_FIELD_DEVICES);
        double dt = 0;

        if (ctx->output == OUTPUT_JSON) {
                vuctl_print_json(reply, ctx->watch_sec > 0);
                return;
        }
        if (ctx->output == OUTPUT_PROMETHEUS) {
                prom_reset();
                print_prometheus(reply);
                return;
        }
        if (ctx->watch_sec > 0) {
                uint64_t now = json_get_uint(reply, VL_FIELD_TIMESTAMP_USEC, 0);
                uint64_t then = json_get_uint(prev, VL_FIELD_TIMESTAMP_USEC, 0);

                /* The first sample has nothing to compare with: rates show "-". */
                dt = prev && now > then ? (double) (now - then) / 1e6 : 1e-9;
        }
        for (size_t d = 0; devices && d < json_object_array_length(devices); d++) {
                json_object *dev = json_object_array_get_idx(devices, d);

                if (d > 0)
                        putchar('\n');
                print_device_table(
                        dev, prev ? find_by(json_get(prev, VL_FIELD_DEVICES), VL_FIELD_ID, dev) : NULL, dt);
        }
        if (!devices || json_object_array_length(devices) == 0)
                printf("no devices\n");
        printf("\nG>B: guest to backend, B>G: backend to guest\n");
}

int verb_stats(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *prev = NULL;
        bool tty = isatty(STDOUT_FILENO);
        int r;

        if (argc > 1)
                return vuctl_usage_error("stats takes no arguments (use --device ID, --watch N)");

        if (ctx->watch_sec <= 0) {
                _cleanup_(json_object_putp) json_object *reply = NULL;

                r = fetch(ctx, &reply);
                if (r != VUCTL_EXIT_OK) {
                        /* A scraper learns of the failure from the metrics, as from any exporter. */
                        if (ctx->output == OUTPUT_PROMETHEUS)
                                prom_sample(stdout, "vusidecar_up", "gauge",
                                            "1 if vu-sidecar answered on its control socket.", NULL, 0);
                        return r;
                }
                print_once(ctx, reply, NULL);
                return VUCTL_EXIT_OK;
        }

        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!interrupted) {
                json_object *reply = NULL;
                struct timespec ts = {
                        .tv_sec = (time_t) ctx->watch_sec,
                        .tv_nsec = (long) ((ctx->watch_sec - floor(ctx->watch_sec)) * 1e9),
                };

                r = fetch(ctx, &reply);
                if (r != VUCTL_EXIT_OK)
                        return interrupted ? VUCTL_EXIT_OK : r;
                if (tty && ctx->output == OUTPUT_TABLE)
                        fputs("\033[H\033[2J", stdout); /* home + clear: refresh in place */
                else if (prev && ctx->output == OUTPUT_TABLE)
                        putchar('\n');
                print_once(ctx, reply, prev);
                fflush(stdout);
                json_object_put(prev);
                prev = reply;
                nanosleep(&ts, NULL); /* a signal ends the sleep early, and the loop */
        }
        return VUCTL_EXIT_OK;
}
