/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl status: who the sidecar is and what each device is doing — its
 * socket, the connected frontend, what was negotiated (features decoded by
 * name), guest memory regions and the device's own settings.
 */
#include <stdarg.h>
#include <string.h>

#include "vuctl.h"

static void kv(const char *key, const char *format, ...) _printf_(2, 3);
static void kv(const char *key, const char *format, ...) {
        va_list ap;

        printf("  %-21s ", key);
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
}

static void print_features(const char *key, json_object *dev, const char *bits_field,
                           const char *names_field, int width) {
        _cleanup_free_ char *names = format_string_array(json_get(dev, names_field));

        kv(key, "0x%0*" PRIx64 " %s", width, json_get_uint(dev, bits_field, 0), names ?: "");
}

/* Settings the "polling" line already says (a net device's mode, window and polling pairs). */
static const char *const config_shown_above[] = {"poll_mode", "poll_usec", "polling_pairs"};

static bool config_is_shown_above(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_shown_above); i++)
                if (strcmp(key, config_shown_above[i]) == 0)
                        return true;
        return false;
}

static void print_config(json_object *config) {
        if (!config || !json_object_is_type(config, json_type_object))
                return;
        json_object_object_foreach(config, key, val) {
                char label[64];

                if (config_is_shown_above(key))
                        continue;

                /* "queues" here is the device's setting, beside the "queues started" row above. */
                snprintf(label, sizeof(label), "%s", strcmp(key, "queues") == 0 ? "queues configured" : key);
                for (char *p = label; *p; p++)
                        if (*p == '_')
                                *p = ' ';
                if (json_object_is_type(val, json_type_boolean))
                        kv(label, "%s", json_object_get_boolean(val) ? "yes" : "no");
                else if (json_object_is_type(val, json_type_int) && strstr(key, "bytes")) {
                        uint64_t v = json_object_get_uint64(val);
                        char b[32];

                        /* The exact count beside a rounded size; "12 B" needs no "(12)". */
                        if (v < 1024)
                                kv(label, "%s", format_bytes(b, sizeof(b), v));
                        else
                                kv(label, "%s (%" PRIu64 ")", format_bytes(b, sizeof(b), v), v);
                } else if (json_object_is_type(val, json_type_null))
                        kv(label, "-");
                else
                        kv(label, "%s", json_object_get_string(val));
        }
}

/*
 * Polling, once. A net device says its mode (off, adaptive with its window, busy) in its config; the
 * top-level poll_usec is only the adaptive window, which busy polling does not use. A device without
 * modes does not poll unless it reports a window.
 */
static void print_polling(json_object *dev) {
        json_object *config = json_get(dev, VL_FIELD_CONFIG);
        const char *mode = json_get_str(config, "poll_mode", NULL);
        uint64_t pairs = json_get_uint(config, "queue_pairs", 0),
                 polling = json_get_uint(config, "polling_pairs", 0);
        char now[64] = "";

        if (!mode) {
                int64_t poll = json_get_int(dev, VL_FIELD_POLL_USEC, 0);

                if (poll > 0)
                        kv("polling", "%" PRIi64 " µs after work", poll);
                return;
        }
        if (json_get_bool(dev, VL_FIELD_CONNECTED, false))
                snprintf(now, sizeof(now), "; %" PRIu64 " of %" PRIu64 " queue pair%s polling now", polling,
                         pairs, pairs == 1 ? "" : "s");
        if (strcmp(mode, "adaptive") == 0)
                kv("polling", "adaptive, %" PRIu64 " µs after work before re-arming notifications%s",
                   json_get_uint(config, "poll_usec", 0), now);
        else if (strcmp(mode, "busy") == 0)
                kv("polling", "busy, notifications never re-armed%s", now);
        else if (strcmp(mode, "off") == 0)
                kv("polling", "off (event-driven)");
        else
                kv("polling", "%s%s", mode, now);
}

/* The I/O engine is the block devices' (image reads and writes); a sidecar of NICs has none in use. */
static bool any_blk(json_object *devices) {
        for (size_t i = 0; devices && i < json_object_array_length(devices); i++)
                if (strcmp(json_get_str(json_object_array_get_idx(devices, i), VL_FIELD_TYPE, ""), "blk") ==
                    0)
                        return true;
        return false;
}

static void print_device(json_object *dev) {
        json_object *peer = json_get(dev, VL_FIELD_PEER), *regions = json_get(dev, VL_FIELD_REGIONS);
        bool connected = json_get_bool(dev, VL_FIELD_CONNECTED, false);
        char t[64];

        printf("\n%s (%s): %s\n", json_get_str(dev, VL_FIELD_ID, "?"), json_get_str(dev, VL_FIELD_TYPE, "?"),
               json_get_str(dev, "state", connected ? "connected" : "waiting"));
        kv("socket", "%s (%s%s)", json_get_str(dev, VL_FIELD_SOCKET, "-"),
           json_get_str(dev, VL_FIELD_SOCKET_MODE, "?"),
           json_get_bool(dev, "socket_activated", false) ? ", socket-activated" : "");
        if (peer) {
                const char *comm = json_get_str(peer, "comm", "");

                kv("frontend", "pid %" PRIi64 "%s%s%s, uid %" PRIi64 ", gid %" PRIi64 ", since %s",
                   json_get_int(peer, VL_FIELD_PID, 0), *comm ? " (" : "", comm, *comm ? ")" : "",
                   json_get_int(peer, VL_FIELD_UID, -1), json_get_int(peer, VL_FIELD_GID, -1),
                   format_timestamp(t, sizeof(t), json_get_uint(dev, "connected_realtime_usec", 0)));
        } else
                kv("frontend", "none");
        kv("connections", "%" PRIu64 " served, %" PRIu64 " turned away%s%s",
           json_get_uint(dev, "connections", 0), json_get_uint(dev, "connections_refused", 0),
           json_get(dev, "last_disconnect") ? "; last ended: " : "",
           json_get_str(dev, "last_disconnect", ""));

        if (connected) {
                print_features("features", dev, VL_FIELD_FEATURES, VL_FIELD_FEATURE_NAMES, 16);
                print_features("protocol features", dev, VL_FIELD_PROTOCOL_FEATURES,
                               VL_FIELD_PROTOCOL_FEATURE_NAMES, 5);
                print_features("device status", dev, VL_FIELD_DEVICE_STATUS, VL_FIELD_DEVICE_STATUS_NAMES,
                               2);
                kv("queues started", "%" PRIu64 " of %" PRIu64,
                   json_get_uint(dev, VL_FIELD_QUEUES_STARTED, 0),
                   json_get_uint(dev, VL_FIELD_QUEUES_MAX, 0));
                kv("messages", "%" PRIu64 " handled, %" PRIu64 " refused",
                   json_get_uint(dev, VL_FIELD_MESSAGES, 0),
                   json_get_uint(dev, VL_FIELD_MESSAGES_REFUSED, 0));
                kv("backend channel", "%s",
                   json_get_bool(dev, VL_FIELD_BACKEND_CHANNEL, false) ? "yes" : "no");
                kv("inflight buffer", "%s",
                   json_get_bool(dev, VL_FIELD_INFLIGHT_BUFFER, false) ? "yes" : "no");
                if (json_get_bool(dev, VL_FIELD_BROKEN, false))
                        kv("broken", "yes: the device stopped serving this frontend");
        } else
                kv("queues started", "0 of %" PRIu64 " (no frontend)",
                   json_get_uint(dev, VL_FIELD_QUEUES_MAX, 0));
        if (json_get(dev, VL_FIELD_LAST_ERROR))
                kv("last error", "%s", json_get_str(dev, VL_FIELD_LAST_ERROR, ""));
        print_polling(dev);

        print_config(json_get(dev, VL_FIELD_CONFIG));

        if (regions && json_object_is_type(regions, json_type_array) &&
            json_object_array_length(regions) > 0) {
                _cleanup_(table_freep) Table *tab =
                        table_new(5, "    GPA", "SIZE", "", "QVA", "MMAP OFFSET");

                if (!tab)
                        return;
                printf("  memory regions        %zu\n", json_object_array_length(regions));
                table_align_right(tab, 1);
                for (size_t i = 0; i < json_object_array_length(regions); i++) {
                        json_object *r = json_object_array_get_idx(regions, i);
                        char b[32];

                        table_add(tab, "    0x%" PRIx64, json_get_uint(r, VL_FIELD_GPA, 0));
                        table_add(tab, "0x%" PRIx64, json_get_uint(r, VL_FIELD_SIZE, 0));
                        table_add(tab, "(%s)",
                                  format_bytes(b, sizeof(b), json_get_uint(r, VL_FIELD_SIZE, 0)));
                        table_add(tab, "0x%" PRIx64, json_get_uint(r, VL_FIELD_QVA, 0));
                        table_add(tab, "0x%" PRIx64, json_get_uint(r, VL_FIELD_MMAP_OFFSET, 0));
                }
                table_print(tab, stdout);
        }
}

int verb_status(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        json_object *devices;
        char up[64], since[64];
        int r;

        if (argc > 1)
                return vuctl_usage_error("status takes no arguments (use --device ID for one device)");

        r = vuctl_call(ctx, VL_METHOD_GET_STATUS, vuctl_device_params(ctx), &reply);
        if (r != VUCTL_EXIT_OK)
                return r;
        if (ctx->output == OUTPUT_JSON) {
                vuctl_print_json(reply, false);
                return VUCTL_EXIT_OK;
        }

        printf("vu-sidecar %s (pid %" PRIi64 ", uid %" PRIi64 "), up %s since %s\n",
               json_get_str(reply, VL_FIELD_VERSION, "?"), json_get_int(reply, VL_FIELD_PID, 0),
               json_get_int(reply, VL_FIELD_UID, -1),
               format_duration(up, sizeof(up), json_get_uint(reply, VL_FIELD_UPTIME_USEC, 0)),
               format_timestamp(since, sizeof(since),
                                json_get_uint(reply, VL_FIELD_STARTED_REALTIME_USEC, 0)));
        devices = json_get(reply, VL_FIELD_DEVICES);
        if (any_blk(devices))
                printf("log level %s, I/O engine %s, control socket %s\n",
                       json_get_str(reply, VL_FIELD_LOG_LEVEL, "?"),
                       json_get_str(reply, VL_FIELD_IO_ENGINE, "?"),
                       json_get_str(reply, VL_FIELD_CONTROL_SOCKET, "-"));
        else
                printf("log level %s, control socket %s\n", json_get_str(reply, VL_FIELD_LOG_LEVEL, "?"),
                       json_get_str(reply, VL_FIELD_CONTROL_SOCKET, "-"));

        if (!devices || json_object_array_length(devices) == 0) {
                printf("\nno devices\n");
                return VUCTL_EXIT_OK;
        }
        for (size_t i = 0; i < json_object_array_length(devices); i++)
                print_device(json_object_array_get_idx(devices, i));
        return VUCTL_EXIT_OK;
}
