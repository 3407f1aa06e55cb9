/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The io.vusidecar methods that only read the daemon's state: Ping,
 * GetStatus, GetStats, GetQueues and GetLog. They read snapshots from the
 * library (libvhost-user-ext.h) and the devices (blk.h, net.h) and never
 * touch guest memory; any caller may use them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "blk.h"
#include "control-methods.h"
#include "control-server.h"
#include "device.h"
#include "libvhost-user-ext.h"
#include "log.h"
#include "net.h"
#include "sidecar.h"
#include "stats.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

/* virtio device status bits */
#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_NEEDS_RESET 64
#define STATUS_FAILED 128

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

int method_ping(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_get_status(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

/* ---- GetStats ----------------------------------------------------------- */

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
                /* Requests, statuses and latency describe a disk; a NIC's queues count frames instead:
                 * packets, drops by reason and frame sizes, with their direction. */
                if (device_is_blk(d) && d->vtable->fill_queue_stats &&
                    d->vtable->fill_queue_stats(d, q, &qio) == 0)
                        json_object_object_add(e, VL_FIELD_DEVICE_COUNTERS, io_stats_json(&qio));
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

        /* device_counters is declared non-optional: every device has its connection counts, and only
         * a blk device the request counters that go with them. */
        if (device_is_blk(d) && d->vtable->fill_stats)
                d->vtable->fill_stats(d, &io);
        {
                json_object *dc = device_is_blk(d) ? io_stats_json(&io) : json_object_new_object();

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

int method_get_stats(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_get_queues(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_get_log(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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
