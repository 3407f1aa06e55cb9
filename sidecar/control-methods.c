/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The io.vusidecar methods against the daemon's state, and the hooks that
 * start and stop the control socket (control_start()/control_stop() in
 * sidecar.h). Each method validates its parameters, reads snapshots from
 * the library (libvhost-user-ext.h) and the devices, or calls the device
 * mutators in blk.h; none of them touches guest memory directly. The
 * names of methods, fields and errors come from vusidecar-protocol.h; the
 * protocol is described in man/vu-sidecar-control.7.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blk.h"
#include "control-methods.h"
#include "control-server.h"
#include "device.h"
#include "events.h"
#include "libvhost-user-ext.h"
#include "log.h"
#include "net.h"
#include "sidecar.h"
#include "stats.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

/*
 * Adaptive polling is a device feature the daemon may or may not have; it
 * is bound late so the control socket builds either way and says "not
 * supported" instead of pretending.
 */
int device_set_poll_usec(Device *d, uint64_t usec) __attribute__((weak));
uint64_t device_get_poll_usec(const Device *d) __attribute__((weak));

/* virtio device status bits */
#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_NEEDS_RESET 64
#define STATUS_FAILED 128
#define PROTOCOL_F_CONFIG 9

/* ---- helpers ------------------------------------------------------------ */

void json_add_u64(json_object *o, const char *key, uint64_t v) {
        json_object_object_add(o, key, json_object_new_uint64(v));
}

void json_add_bool(json_object *o, const char *key, bool v) {
        json_object_object_add(o, key, json_object_new_boolean(v));
}

void json_add_str(json_object *o, const char *key, const char *v) {
        json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

int control_check_params(ControlClient *c, json_object *params, const char *const *known) {
        const char *unknown = NULL;

        if (varlink_params_check_known(params, known, &unknown) < 0) {
                control_client_error_invalid_parameter(c, unknown, "unknown parameter '%s'", unknown);
                return 0;
        }
        return 1;
}

static json_object *device_ids(Sidecar *s) {
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < s->n_devices; i++)
                json_object_array_add(a, json_object_new_string(s->devices[i]->id));
        return a;
}

int control_resolve_device(ControlClient *c, Sidecar *s, json_object *params, bool all_if_missing,
                           Device **ret) {
        const char *id = NULL;
        json_object *p;
        Device *d;
        int r;

        r = varlink_param_string(params, VL_PARAM_DEVICE, false, &id);
        if (r < 0) {
                control_client_error_invalid_parameter(c, VL_PARAM_DEVICE, "must be a string (a device id)");
                return 0;
        }
        if (!id || !*id) {
                if (all_if_missing) {
                        *ret = NULL;
                        return 1;
                }
                if (s->n_devices == 1) {
                        *ret = s->devices[0];
                        return 1;
                }
                p = json_object_new_object();
                if (p)
                        json_object_object_add(p, VL_PARAM_DEVICES, device_ids(s));
                control_client_error(c, VL_ERROR_DEVICE_REQUIRED, p);
                return 0;
        }

        d = sidecar_find_device(s, id);
        if (!d) {
                p = json_object_new_object();
                if (p) {
                        json_add_str(p, VL_PARAM_DEVICE, id);
                        json_object_object_add(p, VL_PARAM_DEVICES, device_ids(s));
                }
                control_client_error(c, VL_ERROR_NO_SUCH_DEVICE, p);
                return 0;
        }
        *ret = d;
        return 1;
}

static int error_not_supported(ControlClient *c, Device *d, const char *what) {
        json_object *p = json_object_new_object();

        if (p) {
                json_add_str(p, VL_PARAM_DEVICE, d ? d->id : NULL);
                json_add_str(p, VL_PARAM_WHAT, what);
        }
        return control_client_error(c, VL_ERROR_NOT_SUPPORTED, p);
}

static void log_mutation(ControlClient *c, const char *what) {
        const struct ucred *u = control_client_get_ucred(c);

        log_info("control: %s (by pid %d, uid %u)", what, (int) u->pid, (unsigned) u->uid);
}

/* ---- names -------------------------------------------------------------- */

static const char *blk_feature_name(unsigned bit) {
        static const char *const names[] = {
                [1] = "SIZE_MAX",      [2] = "SEG_MAX",  [4] = "GEOMETRY",      [5] = "RO",
                [6] = "BLK_SIZE",      [9] = "FLUSH",    [10] = "TOPOLOGY",     [11] = "CONFIG_WCE",
                [12] = "MQ",           [13] = "DISCARD", [14] = "WRITE_ZEROES", [15] = "LIFETIME",
                [16] = "SECURE_ERASE", [17] = "ZONED",
        };
        return bit < ELEMENTSOF(names) ? names[bit] : NULL;
}

static const char *net_feature_name(unsigned bit) {
        static const char *const names[] = {
                [0] = "CSUM",
                [1] = "GUEST_CSUM",
                [2] = "CTRL_GUEST_OFFLOADS",
                [3] = "MTU",
                [5] = "MAC",
                [7] = "GUEST_TSO4",
                [8] = "GUEST_TSO6",
                [9] = "GUEST_ECN",
                [10] = "GUEST_UFO",
                [11] = "HOST_TSO4",
                [12] = "HOST_TSO6",
                [13] = "HOST_ECN",
                [14] = "HOST_UFO",
                [15] = "MRG_RXBUF",
                [16] = "STATUS",
                [17] = "CTRL_VQ",
                [18] = "CTRL_RX",
                [19] = "CTRL_VLAN",
                [21] = "GUEST_ANNOUNCE",
                [22] = "MQ",
                [23] = "CTRL_MAC_ADDR",
        };
        return bit < ELEMENTSOF(names) ? names[bit] : NULL;
}

static json_object *feature_names(DeviceType type, uint64_t features) {
        json_object *a = json_object_new_array();

        for (unsigned bit = 0; a && bit < 64; bit++) {
                const char *name;
                char buf[16];

                if (!(features & (UINT64_C(1) << bit)))
                        continue;
                name = vu_virtio_feature_name(bit);
                if (!name)
                        name = type == DEVICE_BLK   ? blk_feature_name(bit)
                               : type == DEVICE_NET ? net_feature_name(bit)
                                                    : NULL;
                if (!name) {
                        snprintf(buf, sizeof(buf), "bit%u", bit);
                        name = buf;
                }
                json_object_array_add(a, json_object_new_string(name));
        }
        return a;
}

static json_object *protocol_feature_names(uint64_t features) {
        json_object *a = json_object_new_array();

        for (unsigned bit = 0; a && bit < 64; bit++) {
                const char *name;
                char buf[16];

                if (!(features & (UINT64_C(1) << bit)))
                        continue;
                name = vu_protocol_feature_name(bit);
                if (!name) {
                        snprintf(buf, sizeof(buf), "bit%u", bit);
                        name = buf;
                }
                json_object_array_add(a, json_object_new_string(name));
        }
        return a;
}

static json_object *device_status_names(uint8_t status) {
        static const struct {
                uint8_t bit;
                const char *name;
        } bits[] = {
                {STATUS_ACKNOWLEDGE, "ACKNOWLEDGE"},        {STATUS_DRIVER, "DRIVER"},
                {STATUS_FEATURES_OK, "FEATURES_OK"},        {STATUS_DRIVER_OK, "DRIVER_OK"},
                {STATUS_NEEDS_RESET, "DEVICE_NEEDS_RESET"}, {STATUS_FAILED, "FAILED"},
        };
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < ELEMENTSOF(bits); i++)
                if (status & bits[i].bit)
                        json_object_array_add(a, json_object_new_string(bits[i].name));
        return a;
}

/* ---- Ping, GetStatus ---------------------------------------------------- */

static int method_ping(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {NULL};
        Sidecar *s = userdata;
        json_object *p;

        if (!control_check_params(c, params, known))
                return 0;
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_str(p, VL_FIELD_VERSION, VUSIDECAR_VERSION);
        json_add_u64(p, VL_FIELD_UPTIME_USEC, sidecar_uptime_usec(s));
        return control_client_reply(c, p);
}

static json_object *blk_config_json(Device *d) {
        json_object *o;
        BlkInfo info;

        if (blk_get_info(d, &info) < 0)
                return json_object_new_object();
        o = json_object_new_object();
        if (!o)
                return NULL;
        json_add_str(o, "path", info.path);
        json_add_bool(o, "block_device", info.block_device);
        json_add_u64(o, "size_bytes", info.size_bytes);
        json_add_u64(o, "capacity_sectors", info.capacity_sectors);
        json_add_bool(o, "read_only", info.read_only);
        json_add_bool(o, "read_only_negotiated", info.read_only_negotiated);
        json_add_str(o, "serial", info.serial);
        json_add_u64(o, "queues", info.queues);
        json_add_u64(o, "queue_size", info.queue_size);
        json_add_u64(o, "blk_size", info.blk_size);
        json_add_u64(o, "seg_max", info.seg_max);
        json_add_bool(o, "discard", info.discard);
        json_add_bool(o, "write_zeroes", info.write_zeroes);
        json_add_bool(o, "direct_io", info.direct);
        json_add_str(o, "io_engine", info.io_engine);
        json_add_u64(o, "iops_limit", info.iops_limit);
        json_add_u64(o, "bps_limit", info.bps_limit);
        json_add_u64(o, "throttled_waiting", info.throttled_waiting);
        json_add_u64(o, "resizes", info.resizes);
        return o;
}

static json_object *device_status_json(Device *d) {
        json_object *o = json_object_new_object(), *regions;
        bool ready = d->vu_ready;
        VuDevInfo info = {};

        if (!o)
                return NULL;
        if (ready)
                vu_get_info(&d->vu, &info);

        json_add_str(o, VL_FIELD_ID, d->id);
        json_add_str(o, VL_FIELD_TYPE, device_type_to_string(d->type));
        json_add_str(o, "state", device_state_to_string(d->state));
        json_add_str(o, VL_FIELD_SOCKET, d->socket_path);
        json_add_str(o, VL_FIELD_SOCKET_MODE, d->mode == DEVICE_SOCKET_CLIENT ? "client" : "server");
        json_add_bool(o, "socket_activated", d->socket_activated);
        json_add_bool(o, VL_FIELD_CONNECTED, device_is_connected(d));
        if (device_is_connected(d)) {
                json_object *peer = json_object_new_object();

                if (peer) {
                        json_add_u64(peer, VL_FIELD_PID, (uint64_t) d->peer_pid);
                        json_add_u64(peer, VL_FIELD_UID, d->peer_uid);
                        json_add_u64(peer, VL_FIELD_GID, d->peer_gid);
                        json_add_str(peer, "comm", d->peer_comm);
                }
                json_object_object_add(o, VL_FIELD_PEER, peer);
                json_add_u64(o, "connected_realtime_usec", d->connect_realtime_usec);
        } else
                json_object_object_add(o, VL_FIELD_PEER, NULL);
        json_add_u64(o, "connections", d->connections);
        json_add_u64(o, "connections_refused", d->connections_refused);
        json_add_str(o, "last_disconnect", d->last_disconnect[0] ? d->last_disconnect : NULL);

        json_add_u64(o, VL_FIELD_FEATURES, info.features);
        json_object_object_add(o, VL_FIELD_FEATURE_NAMES, feature_names(d->type, info.features));
        json_add_u64(o, VL_FIELD_PROTOCOL_FEATURES, info.protocol_features);
        json_object_object_add(o, VL_FIELD_PROTOCOL_FEATURE_NAMES,
                               protocol_feature_names(info.protocol_features));
        json_add_u64(o, VL_FIELD_DEVICE_STATUS, info.status);
        json_object_object_add(o, VL_FIELD_DEVICE_STATUS_NAMES, device_status_names(info.status));
        json_add_u64(o, VL_FIELD_QUEUES_MAX, ready ? info.max_queues : d->queues);
        json_add_u64(o, VL_FIELD_QUEUES_STARTED, info.queues_started);

        regions = json_object_new_array();
        if (regions && ready && info.nregions > 0) {
                _cleanup_free_ VuRegionInfo *r = calloc(info.nregions, sizeof(VuRegionInfo));
                unsigned n = r ? vu_get_regions(&d->vu, r, info.nregions) : 0;

                for (unsigned i = 0; r && i < n && i < info.nregions; i++) {
                        json_object *e = json_object_new_object();

                        if (!e)
                                break;
                        json_add_u64(e, VL_FIELD_GPA, r[i].gpa);
                        json_add_u64(e, VL_FIELD_SIZE, r[i].size);
                        json_add_u64(e, VL_FIELD_QVA, r[i].qva);
                        json_add_u64(e, VL_FIELD_MMAP_OFFSET, r[i].mmap_offset);
                        json_object_array_add(regions, e);
                }
        }
        json_object_object_add(o, VL_FIELD_REGIONS, regions);
        json_add_u64(o, VL_FIELD_MESSAGES, info.messages);
        json_add_u64(o, VL_FIELD_MESSAGES_REFUSED, info.messages_refused);
        json_add_bool(o, VL_FIELD_BROKEN, info.broken);
        json_add_bool(o, VL_FIELD_BACKEND_CHANNEL, info.backend_channel);
        json_add_bool(o, VL_FIELD_INFLIGHT_BUFFER, info.inflight);
        json_add_str(o, VL_FIELD_LAST_ERROR, ready && *vu_last_error(&d->vu) ? vu_last_error(&d->vu) : NULL);
        json_add_u64(o, VL_FIELD_POLL_USEC, device_get_poll_usec ? device_get_poll_usec(d) : 0);
        json_object_object_add(o, VL_FIELD_CONFIG,
                               device_is_blk(d)   ? blk_config_json(d)
                               : device_is_net(d) ? net_config_json(d)
                                                  : json_object_new_object());
        return o;
}

static int method_get_status(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, NULL};
        Sidecar *s = userdata;
        json_object *p, *devices;
        Device *only;
        char engine[192];

        if (!control_check_params(c, params, known) || !control_resolve_device(c, s, params, true, &only))
                return 0;

        p = json_object_new_object();
        devices = json_object_new_array();
        if (!p || !devices) {
                json_object_put(p);
                json_object_put(devices);
                return -ENOMEM;
        }
        json_add_str(p, VL_FIELD_VERSION, VUSIDECAR_VERSION);
        json_add_u64(p, VL_FIELD_PID, (uint64_t) getpid());
        json_add_u64(p, VL_FIELD_UID, geteuid());
        json_add_u64(p, VL_FIELD_UPTIME_USEC, sidecar_uptime_usec(s));
        json_add_u64(p, VL_FIELD_STARTED_REALTIME_USEC, s->start_realtime_usec);
        json_add_str(p, VL_FIELD_LOG_LEVEL, log_level_to_string(log_get_max_level()));
        if (s->io_engine_reason[0])
                snprintf(engine, sizeof(engine), "%s (%s)", io_engine_to_string(s->io_engine),
                         s->io_engine_reason);
        else
                snprintf(engine, sizeof(engine), "%s", io_engine_to_string(s->io_engine));
        json_add_str(p, VL_FIELD_IO_ENGINE, engine);
        json_add_str(p, VL_FIELD_CONTROL_SOCKET, s->control ? control_server_get_path(s->control) : NULL);
        for (size_t i = 0; i < s->n_devices; i++)
                if (!only || s->devices[i] == only)
                        json_object_array_add(devices, device_status_json(s->devices[i]));
        json_object_object_add(p, VL_FIELD_DEVICES, devices);
        return control_client_reply(c, p);
}

/* ---- GetStats, ResetStats ---------------------------------------------- */

static void add_queue_counters(json_object *o, const VuQueueStats *st) {
        json_add_u64(o, VL_FIELD_KICKS, st->kicks);
        json_add_u64(o, VL_FIELD_G2B_CHAINS, st->popped);
        json_add_u64(o, VL_FIELD_B2G_CHAINS, st->pushed);
        json_add_u64(o, VL_FIELD_G2B_BYTES, st->bytes_out);
        json_add_u64(o, VL_FIELD_B2G_BYTES, st->bytes_in);
        json_add_u64(o, VL_FIELD_CALLS_SENT, st->calls_sent);
        json_add_u64(o, VL_FIELD_CALLS_SUPPRESSED, st->calls_suppressed);
        json_add_u64(o, VL_FIELD_MALFORMED_CHAINS, st->malformed);
        json_add_u64(o, VL_FIELD_RESUBMITTED_CHAINS, st->resubmitted);
}

static json_object *io_stats_json(const IoStats *st) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        for (int t = 0; t < _STATS_REQ_MAX; t++) {
                char key[64];

                snprintf(key, sizeof(key), "requests_%s", stats_request_type_to_string(t));
                for (char *k = key; *k; k++)
                        if (*k == '-')
                                *k = '_';
                json_add_u64(o, key, st->requests[t]);
        }
        for (int t = 0; t < _STATS_STATUS_MAX; t++) {
                char key[64];

                snprintf(key, sizeof(key), "status_%s", stats_status_to_string(t));
                json_add_u64(o, key, st->status[t]);
        }
        json_add_u64(o, "backend_to_guest_data_bytes", st->bytes_read);
        json_add_u64(o, "guest_to_backend_data_bytes", st->bytes_written);
        json_add_u64(o, "discarded_bytes", st->bytes_discarded);
        json_add_u64(o, "in_flight", st->in_flight);
        json_add_u64(o, "throttled", st->throttled);
        json_add_u64(o, "latency_usec_total", st->latency_usec_total);
        return o;
}

static json_object *device_stats_json(Device *d) {
        json_object *o = json_object_new_object(), *queues = json_object_new_array(), *totals;
        VuQueueStats total = {};
        IoStats io = {};

        if (!o || !queues) {
                json_object_put(o);
                json_object_put(queues);
                return NULL;
        }
        json_add_str(o, VL_FIELD_ID, d->id);
        json_add_str(o, VL_FIELD_TYPE, device_type_to_string(d->type));
        json_add_bool(o, VL_FIELD_CONNECTED, device_is_connected(d));

        for (unsigned q = 0; q < d->queues; q++) {
                json_object *e = json_object_new_object();
                VuQueueInfo qi = {};
                IoStats qio = {};

                if (!e)
                        break;
                /* The library's counters live while a frontend is attached. */
                if (d->vu_ready)
                        (void) vu_queue_get_info(&d->vu, (int) q, &qi);
                json_add_u64(e, VL_FIELD_INDEX, q);
                add_queue_counters(e, &qi.stats);
                if (d->vtable->fill_queue_stats && d->vtable->fill_queue_stats(d, q, &qio) == 0)
                        json_object_object_add(e, VL_FIELD_DEVICE_COUNTERS, io_stats_json(&qio));
                /* Net queues also count packets, drops by reason and frame sizes, with their direction. */
                if (device_is_net(d))
                        json_object_object_add(e, VL_FIELD_NET, net_queue_stats_json(d, q));
                json_object_array_add(queues, e);

                total.kicks += qi.stats.kicks;
                total.popped += qi.stats.popped;
                total.pushed += qi.stats.pushed;
                total.bytes_out += qi.stats.bytes_out;
                total.bytes_in += qi.stats.bytes_in;
                total.calls_sent += qi.stats.calls_sent;
                total.calls_suppressed += qi.stats.calls_suppressed;
                total.malformed += qi.stats.malformed;
                total.resubmitted += qi.stats.resubmitted;
        }
        totals = json_object_new_object();
        if (totals)
                add_queue_counters(totals, &total);
        json_object_object_add(o, VL_FIELD_TOTALS, totals);
        json_object_object_add(o, VL_FIELD_QUEUES, queues);

        if (d->vtable->fill_stats)
                d->vtable->fill_stats(d, &io);
        {
                json_object *dc = io_stats_json(&io);

                if (dc) {
                        json_add_u64(dc, "connections", d->connections);
                        json_add_u64(dc, "connections_refused", d->connections_refused);
                }
                json_object_object_add(o, VL_FIELD_DEVICE_COUNTERS, dc);
                if (device_is_net(d))
                        json_object_object_add(o, VL_FIELD_NET, net_stats_json(d));
        }
        return o;
}

static int method_get_stats(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, NULL};
        Sidecar *s = userdata;
        json_object *p, *devices;
        Device *only;

        if (!control_check_params(c, params, known) || !control_resolve_device(c, s, params, true, &only))
                return 0;
        p = json_object_new_object();
        devices = json_object_new_array();
        if (!p || !devices) {
                json_object_put(p);
                json_object_put(devices);
                return -ENOMEM;
        }
        json_add_u64(p, VL_FIELD_TIMESTAMP_USEC, now_usec(CLOCK_MONOTONIC));
        for (size_t i = 0; i < s->n_devices; i++)
                if (!only || s->devices[i] == only)
                        json_object_array_add(devices, device_stats_json(s->devices[i]));
        json_object_object_add(p, VL_FIELD_DEVICES, devices);
        return control_client_reply(c, p);
}

/*
 * Zero every counter GetStats reports for @d, so that each is monotonic from one reset to the next
 * (what Prometheus expects of a counter): the library's per-queue counters, the device's own, and
 * the connection counts (GetStatus shows the same ones). Gauges (in_flight, throttled_waiting)
 * describe the present and stay.
 */
static void device_reset_stats(Device *d) {
        d->connections = 0;
        d->connections_refused = 0;
        if (d->vu_ready)
                for (unsigned q = 0; q < d->queues; q++)
                        vu_queue_reset_stats(&d->vu, (int) q);
        if (d->vtable->reset_stats)
                d->vtable->reset_stats(d);
}

static int method_reset_stats(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, NULL};
        Sidecar *s = userdata;
        Device *only;
        char what[96];

        if (!control_check_params(c, params, known) || !control_resolve_device(c, s, params, true, &only))
                return 0;
        for (size_t i = 0; i < s->n_devices; i++)
                if (!only || s->devices[i] == only)
                        device_reset_stats(s->devices[i]);
        snprintf(what, sizeof(what), "counters of %s reset", only ? only->id : "every device");
        log_mutation(c, what);
        event_emit(s, only, "stats-reset", "%s", what);
        return control_client_reply(c, NULL);
}

/* ---- GetQueues, GetLog -------------------------------------------------- */

static json_object *queue_json(const VuQueueInfo *q) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_add_u64(o, VL_FIELD_INDEX, q->index);
        json_add_u64(o, VL_FIELD_SIZE, q->size);
        json_add_bool(o, VL_FIELD_ENABLED, q->enabled);
        json_add_bool(o, VL_FIELD_STARTED, q->started);
        json_add_bool(o, VL_FIELD_READY, q->ready);
        json_add_bool(o, VL_FIELD_PACKED, q->packed);
        json_add_bool(o, VL_FIELD_EVENT_IDX, q->event_idx);
        json_add_bool(o, VL_FIELD_KICK_FD, q->kick_fd);
        json_add_bool(o, VL_FIELD_CALL_FD, q->call_fd);
        json_add_bool(o, VL_FIELD_ERR_FD, q->err_fd);
        json_add_bool(o, VL_FIELD_LOGGING, q->logging);
        json_add_u64(o, VL_FIELD_LAST_AVAIL_IDX, q->last_avail_idx);
        json_add_u64(o, VL_FIELD_SHADOW_AVAIL_IDX, q->shadow_avail_idx);
        json_add_u64(o, VL_FIELD_USED_IDX, q->used_idx);
        json_add_u64(o, VL_FIELD_SIGNALLED_USED, q->signalled_used);
        json_add_bool(o, VL_FIELD_SIGNALLED_USED_VALID, q->signalled_used_valid);
        json_add_u64(o, VL_FIELD_INUSE, q->inuse);
        json_add_u64(o, VL_FIELD_INFLIGHT, q->inflight);
        json_add_u64(o, VL_FIELD_RESUBMIT_PENDING, q->resubmit_pending);
        json_add_u64(o, VL_FIELD_AVAIL_IDX, q->avail_idx);
        json_add_u64(o, VL_FIELD_AVAIL_FLAGS, q->avail_flags);
        json_add_u64(o, VL_FIELD_RING_USED_IDX, q->ring_used_idx);
        json_add_u64(o, VL_FIELD_USED_FLAGS, q->used_flags);
        json_add_u64(o, VL_FIELD_USED_EVENT, q->used_event);
        json_add_u64(o, VL_FIELD_AVAIL_EVENT, q->avail_event);
        json_add_bool(o, VL_FIELD_AVAIL_WRAP_COUNTER, q->avail_wrap_counter);
        json_add_bool(o, VL_FIELD_USED_WRAP_COUNTER, q->used_wrap_counter);
        /* Packed: the library's snapshot carries the event areas in the split ring's fields. */
        json_object_object_add(o, VL_FIELD_DRIVER_EVENT,
                               q->packed && q->ready ? control_event_area_json(q->avail_flags, q->used_event)
                                                     : NULL);
        json_object_object_add(o, VL_FIELD_DEVICE_EVENT,
                               q->packed && q->ready ? control_event_area_json(q->used_flags, q->avail_event)
                                                     : NULL);
        json_add_u64(o, VL_FIELD_DESC_USER_ADDR, q->desc_user_addr);
        json_add_u64(o, VL_FIELD_AVAIL_USER_ADDR, q->avail_user_addr);
        json_add_u64(o, VL_FIELD_USED_USER_ADDR, q->used_user_addr);
        json_add_u64(o, VL_FIELD_LOG_GUEST_ADDR, q->log_guest_addr);
        return o;
}

static int method_get_queues(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, NULL};
        Sidecar *s = userdata;
        json_object *p, *queues;
        Device *d;

        if (!control_check_params(c, params, known) || !control_resolve_device(c, s, params, false, &d))
                return 0;
        p = json_object_new_object();
        queues = json_object_new_array();
        if (!p || !queues) {
                json_object_put(p);
                json_object_put(queues);
                return -ENOMEM;
        }
        json_add_str(p, VL_FIELD_DEVICE, d->id);
        json_add_bool(p, VL_FIELD_CONNECTED, device_is_connected(d));
        /* Without a frontend there are no queues to describe: the list is empty. */
        if (d->vu_ready) {
                VuDevInfo info;

                vu_get_info(&d->vu, &info);
                for (uint32_t q = 0; q < info.max_queues; q++) {
                        VuQueueInfo qi;

                        if (vu_queue_get_info(&d->vu, (int) q, &qi) < 0)
                                break;
                        json_object_array_add(queues, queue_json(&qi));
                }
        }
        json_object_object_add(p, VL_FIELD_QUEUES, queues);
        return control_client_reply(c, p);
}

static int method_get_log(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, NULL};
        Sidecar *s = userdata;
        VuLogInfo info = {};
        json_object *p;
        Device *d;

        if (!control_check_params(c, params, known) || !control_resolve_device(c, s, params, false, &d))
                return 0;
        if (d->vu_ready)
                vu_get_log_info(&d->vu, &info);
        /* No log from this frontend (or none connected): the last one's, ended. */
        if (info.started_usec == 0)
                info = d->last_log;
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_str(p, VL_FIELD_DEVICE, d->id);
        json_add_bool(p, VL_FIELD_ACTIVE, info.active);
        json_add_bool(p, VL_FIELD_LOG_ALL, info.log_all);
        json_add_u64(p, VL_FIELD_LOG_SIZE, info.size);
        json_add_u64(p, VL_FIELD_PAGES_MARKED, info.pages_marked);
        json_add_u64(p, VL_FIELD_LOG_WRITES, info.writes);
        json_add_u64(p, VL_FIELD_RINGS_LOGGING, info.rings_logging);
        if (info.started_usec)
                json_add_u64(p, VL_FIELD_LOG_STARTED, info.started_usec);
        else
                json_object_object_add(p, VL_FIELD_LOG_STARTED, NULL);
        if (info.stopped_usec)
                json_add_u64(p, VL_FIELD_LOG_STOPPED, info.stopped_usec);
        else
                json_object_object_add(p, VL_FIELD_LOG_STOPPED, NULL);
        return control_client_reply(c, p);
}

/* ---- reconfiguration --------------------------------------------------- */

static int method_set_log_level(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_LEVEL, NULL};
        Sidecar *s = userdata;
        const char *name = NULL, *previous;
        json_object *p;
        char what[96];
        int level, r;

        if (!control_check_params(c, params, known))
                return 0;
        r = varlink_param_string(params, VL_PARAM_LEVEL, true, &name);
        if (r < 0)
                return control_client_error_invalid_parameter(c, VL_PARAM_LEVEL,
                                                              "%s (err, warning, notice, info, debug)",
                                                              r == -ENOENT ? "missing" : "must be a string");
        level = log_level_from_string(name);
        if (level < 0)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_LEVEL, "'%.32s' is not err, warning, notice, info or debug", name);

        previous = log_level_to_string(log_get_max_level());
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_str(p, VL_FIELD_PREVIOUS, previous);
        snprintf(what, sizeof(what), "log level %s -> %s", previous, log_level_to_string(level));
        log_set_max_level(level);
        log_mutation(c, what);
        event_emit(s, NULL, "log-level", "%s", what);
        return control_client_reply(c, p);
}

/* The blk device a blk-only method acts on; 0 after answering otherwise. */
static int resolve_blk(ControlClient *c, Sidecar *s, json_object *params, const char *what, Device **ret) {
        Device *d;

        if (!control_resolve_device(c, s, params, false, &d))
                return 0;
        if (!device_is_blk(d)) {
                error_not_supported(c, d, what);
                return 0;
        }
        *ret = d;
        return 1;
}

static int method_set_read_only(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, VL_PARAM_READ_ONLY, NULL};
        Sidecar *s = userdata;
        bool read_only = false;
        json_object *p;
        BlkInfo info;
        Device *d;
        char what[96];
        int r;

        if (!control_check_params(c, params, known))
                return 0;
        r = varlink_param_bool(params, VL_PARAM_READ_ONLY, true, &read_only);
        if (r < 0)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_READ_ONLY, "%s", r == -ENOENT ? "missing" : "must be true or false");
        if (!resolve_blk(c, s, params, "read-only applies to block devices only", &d))
                return 0;
        r = blk_get_info(d, &info);
        if (r < 0)
                return r;
        r = blk_set_read_only(d, read_only);
        if (r == -EPERM)
                return control_client_error_errno(
                        c, r,
                        "%s: the image was opened read-only (read-only=on at start) and "
                        "cannot be made writable",
                        d->id);
        if (r < 0)
                return control_client_error_errno(c, r, "%s: cannot change read-only", d->id);

        snprintf(what, sizeof(what), "%s: read-only %s", d->id, read_only ? "on" : "off");
        log_mutation(c, what);
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_bool(p, VL_FIELD_PREVIOUS, info.read_only);
        return control_client_reply(c, p);
}

static int method_set_limits(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, VL_PARAM_IOPS, VL_PARAM_BPS, NULL};
        Sidecar *s = userdata;
        uint64_t iops, bps;
        json_object *p;
        BlkInfo info;
        Device *d;
        char what[128];
        int r;

        if (!control_check_params(c, params, known) ||
            !resolve_blk(c, s, params, "I/O limits apply to block devices only", &d))
                return 0;
        r = blk_get_info(d, &info);
        if (r < 0)
                return r;
        iops = info.iops_limit;
        bps = info.bps_limit;
        if (varlink_param_uint64(params, VL_PARAM_IOPS, false, &iops) < 0 || iops > INT64_MAX)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_IOPS, "must be a number of requests per second, 0 for none");
        if (varlink_param_uint64(params, VL_PARAM_BPS, false, &bps) < 0 || bps > INT64_MAX)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_BPS, "must be a number of bytes per second, 0 for none");
        r = blk_set_limits(d, iops, bps);
        if (r < 0)
                return control_client_error_errno(c, r, "%s: cannot set I/O limits", d->id);

        snprintf(what, sizeof(what), "%s: limits iops=%" PRIu64 " bps=%" PRIu64, d->id, iops, bps);
        log_mutation(c, what);
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_u64(p, VL_FIELD_IOPS, iops);
        json_add_u64(p, VL_FIELD_BPS, bps);
        return control_client_reply(c, p);
}

static int method_set_polling(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, VL_PARAM_POLL_USEC, NULL};
        Sidecar *s = userdata;
        int64_t usec = 0;
        uint64_t previous;
        json_object *p;
        Device *d;
        char what[96];
        int r;

        if (!control_check_params(c, params, known))
                return 0;
        r = varlink_param_int64(params, VL_PARAM_POLL_USEC, true, 0, 1000000, &usec);
        if (r < 0)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_POLL_USEC, "%s",
                        r == -ENOENT ? "missing" : "must be microseconds from 0 to 1000000");
        if (!control_resolve_device(c, s, params, false, &d))
                return 0;
        if (!device_set_poll_usec || !device_get_poll_usec)
                return error_not_supported(c, d, "adaptive polling is not available in this vu-sidecar");

        previous = device_get_poll_usec(d);
        r = device_set_poll_usec(d, (uint64_t) usec);
        if (r == -EOPNOTSUPP)
                return error_not_supported(c, d, "this device does not poll");
        if (r < 0)
                return control_client_error_errno(c, r, "%s: cannot set polling", d->id);
        snprintf(what, sizeof(what), "%s: polling %" PRIi64 " us", d->id, usec);
        log_mutation(c, what);
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_u64(p, VL_FIELD_PREVIOUS, previous);
        return control_client_reply(c, p);
}

static int method_set_link(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, VL_PARAM_UP, NULL};
        Sidecar *s = userdata;
        bool up = true, previous;
        json_object *p;
        Device *d;
        char what[96];
        int r;

        if (!control_check_params(c, params, known))
                return 0;
        r = varlink_param_bool(params, VL_PARAM_UP, true, &up);
        if (r < 0)
                return control_client_error_invalid_parameter(c, VL_PARAM_UP, "%s",
                                                              r == -ENOENT ? "missing" : "must be true or false");
        if (!control_resolve_device(c, s, params, false, &d))
                return 0;
        if (!device_is_net(d))
                return error_not_supported(c, d, "only network devices have a link");
        previous = net_get_link(d);
        r = net_set_link(d, up);
        if (r < 0)
                return control_client_error_errno(c, r, "%s: cannot set the link", d->id);
        snprintf(what, sizeof(what), "%s: link %s", d->id, up ? "up" : "down");
        log_mutation(c, what);
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_bool(p, VL_FIELD_PREVIOUS, previous);
        return control_client_reply(c, p);
}

static int method_resize(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, VL_PARAM_SIZE, VL_PARAM_SHRINK, NULL};
        Sidecar *s = userdata;
        uint64_t size = 0, previous;
        bool announced = false, shrink = false;
        json_object *p;
        BlkInfo info;
        Device *d;
        char what[128];
        int r;

        if (!control_check_params(c, params, known))
                return 0;
        r = varlink_param_uint64(params, VL_PARAM_SIZE, true, &size);
        if (r < 0)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_SIZE, "%s", r == -ENOENT ? "missing" : "must be a number of bytes");
        if (size == 0 || size % 512 != 0 || size > INT64_MAX)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_SIZE, "%" PRIu64 " is not a non-zero multiple of 512 bytes", size);
        if (varlink_param_bool(params, VL_PARAM_SHRINK, false, &shrink) < 0)
                return control_client_error_invalid_parameter(c, VL_PARAM_SHRINK, "must be true or false");
        if (!resolve_blk(c, s, params, "resize applies to block devices only", &d))
                return 0;
        r = blk_get_info(d, &info);
        if (r < 0)
                return r;
        previous = info.size_bytes;

        /*
         * Read-only means the guest's data does not change, its size included: a resize would
         * truncate or extend the image under a device that promised otherwise. This holds for
         * read-only=on at start and for SetReadOnly at run time alike.
         */
        if (info.read_only) {
                p = json_object_new_object();
                if (p)
                        json_add_str(p, VL_FIELD_DEVICE, d->id);
                return control_client_error(c, VL_ERROR_DEVICE_READ_ONLY, p);
        }
        /* Like qemu-img resize: making an image smaller destroys what lies past the new end, so it
         * takes an explicit shrink. */
        if (size < previous && !shrink) {
                p = json_object_new_object();
                if (p) {
                        json_add_str(p, VL_FIELD_DEVICE, d->id);
                        json_add_u64(p, VL_FIELD_SIZE, size);
                        json_add_u64(p, VL_PARAM_CURRENT_SIZE, previous);
                }
                return control_client_error(c, VL_ERROR_SHRINK_REFUSED, p);
        }

        r = blk_resize(d, size);
        if (r == -ENOTTY)
                return error_not_supported(
                        c, d,
                        "the image is a block device: resize it underneath, then send SIGHUP to "
                        "vu-sidecar");
        if (r < 0)
                return control_client_error_errno(c, r, "%s: cannot resize to %" PRIu64 " bytes", d->id,
                                                  size);

        /* The guest hears of it only over the backend channel with CONFIG negotiated. */
        if (device_is_connected(d)) {
                VuDevInfo info_dev;

                vu_get_info(&d->vu, &info_dev);
                announced = info_dev.backend_channel &&
                            (info_dev.protocol_features & (UINT64_C(1) << PROTOCOL_F_CONFIG));
        }
        snprintf(what, sizeof(what), "%s: resized from %" PRIu64 " to %" PRIu64 " bytes%s", d->id, previous,
                 size, size < previous ? " (shrunk)" : "");
        log_mutation(c, what);
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        json_add_str(p, VL_FIELD_DEVICE, d->id);
        json_add_u64(p, VL_FIELD_SIZE, blk_get_info(d, &info) == 0 ? info.size_bytes : size);
        json_add_u64(p, VL_FIELD_PREVIOUS_SIZE, previous);
        json_add_bool(p, VL_FIELD_ANNOUNCED, announced);
        json_add_bool(p, VL_FIELD_CONNECTED, device_is_connected(d));
        return control_client_reply(c, p);
}

/* ---- Monitor ------------------------------------------------------------ */

typedef struct Monitor {
        Sidecar *sidecar;
        ControlClient *client;
        EventSubscriber *subscriber;
        char *device; /* follow only this device, NULL: all */
} Monitor;

static void monitor_free(void *data) {
        Monitor *m = data;

        if (!m)
                return;
        event_unsubscribe(m->sidecar, m->subscriber);
        free(m->device);
        free(m);
}

static json_object *event_json(const char *type, const char *device, uint64_t realtime_usec, uint64_t seq,
                               const char *message) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_add_str(o, VL_FIELD_EVENT, type);
        json_add_str(o, VL_FIELD_DEVICE, device && *device ? device : NULL);
        json_add_u64(o, VL_FIELD_REALTIME_USEC, realtime_usec);
        json_add_u64(o, "seq", seq);
        json_add_str(o, "message", message);
        return o;
}

static void monitor_on_event(Sidecar *s, const Event *e, void *userdata) {
        Monitor *m = userdata;

        if (m->device && strcmp(m->device, e->device) != 0)
                return;
        /* A client that does not keep up is dropped by the server; its Monitor is freed later. */
        (void) control_client_notify(m->client,
                                     event_json(e->type, e->device, e->realtime_usec, e->seq, e->message));
}

static int method_monitor(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, NULL};
        Sidecar *s = userdata;
        Monitor *m;
        Device *d;
        int r;

        if (!control_check_params(c, params, known) || !control_resolve_device(c, s, params, true, &d))
                return 0;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->sidecar = s;
        m->client = c;
        if (d) {
                m->device = strdup(d->id);
                if (!m->device) {
                        free(m);
                        return -ENOMEM;
                }
        }
        r = event_subscribe(s, monitor_on_event, m, &m->subscriber);
        if (r < 0) {
                monitor_free(m);
                return r;
        }
        r = control_client_start_stream(c, m, monitor_free);
        if (r < 0) {
                monitor_free(m);
                return r;
        }
        (void) control_client_notify(c, event_json(VL_EVENT_SUBSCRIBED, d ? d->id : NULL,
                                                   now_usec(CLOCK_REALTIME), 0, "subscribed"));
        return 0;
}

/* ---- the interface and the daemon hooks -------------------------------- */

static const ControlMethod methods[] = {
        {VL_METHOD_PING, method_ping, 0},
        {VL_METHOD_GET_STATUS, method_get_status, 0},
        {VL_METHOD_GET_STATS, method_get_stats, 0},
        {VL_METHOD_GET_QUEUES, method_get_queues, 0},
        {VL_METHOD_DUMP_QUEUE, method_dump_queue, 0},
        {VL_METHOD_GET_LOG, method_get_log, 0},
        {VL_METHOD_SET_LOG_LEVEL, method_set_log_level, CONTROL_METHOD_MUTATING},
        {VL_METHOD_SET_READ_ONLY, method_set_read_only, CONTROL_METHOD_MUTATING},
        {VL_METHOD_SET_LIMITS, method_set_limits, CONTROL_METHOD_MUTATING},
        {VL_METHOD_SET_POLLING, method_set_polling, CONTROL_METHOD_MUTATING},
        {VL_METHOD_SET_LINK, method_set_link, CONTROL_METHOD_MUTATING},
        {VL_METHOD_RESIZE, method_resize, CONTROL_METHOD_MUTATING},
        {VL_METHOD_RESET_STATS, method_reset_stats, CONTROL_METHOD_MUTATING},
        {VL_METHOD_MONITOR, method_monitor, CONTROL_METHOD_STREAM},
};

static const ControlInterface interface = {
        .name = VL_INTERFACE,
        .description = vusidecar_interface_description,
        .methods = methods,
        .n_methods = ELEMENTSOF(methods),
        .vendor = VL_VENDOR,
        .product = VL_PRODUCT,
        .version = VUSIDECAR_VERSION,
        .url = VL_URL,
        .invalid_parameter_error = VL_ERROR_INVALID_PARAMETER,
};

/* mkdir -p for the socket's directory, so --control /run/x/y.sock works on a fresh tmpfs. */
static void mkdir_parents(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return;
        *slash = 0;
        for (char *p = dir + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(dir, 0755);
                        *p = '/';
                }
        (void) mkdir(dir, 0755);
}

int control_start(Sidecar *s) {
        ControlServer *server = NULL;
        int r;

        if (s->control_fd < 0 && !s->options.control_path) {
                log_info("No control socket (--control none).");
                return 0;
        }

        r = control_server_new(s->event, &interface, s, &server);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the control socket: %m");
        if (s->options.control_group)
                control_server_set_group(server, s->options.control_gid);

        if (s->control_fd >= 0) {
                r = control_server_adopt_fd(server, s->control_fd);
                if (r < 0) {
                        control_server_free(server);
                        return log_error_errno(
                                r, "Failed to use the socket-activated control socket (fd %d): %m",
                                s->control_fd);
                }
                s->control_fd = -EBADF; /* the server owns it now */
        } else {
                mkdir_parents(s->options.control_path);
                r = control_server_listen(server, s->options.control_path, s->options.socket_mode);
                if (r < 0) {
                        control_server_free(server);
                        if (r == -EADDRINUSE)
                                return log_error_errno(
                                        r,
                                        "Failed to listen on control socket %s: another vu-sidecar "
                                        "answers there (use --control PATH)",
                                        s->options.control_path);
                        return log_error_errno(r, "Failed to listen on control socket %s: %m",
                                               s->options.control_path);
                }
        }
        s->control = server;
        log_info("Control socket on %s.", control_server_get_path(server) ?: "an inherited socket");
        return 0;
}

void control_stop(Sidecar *s) {
        s->control = control_server_free(s->control);
}
