/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The io.vusidecar methods that change the daemon's state: SetLogLevel,
 * SetReadOnly, SetLimits, SetPolling, SetLink, Resize and ResetStats. All
 * are CONTROL_METHOD_MUTATING, so control-server.c lets only privileged
 * callers reach them. Each validates its parameters, calls the device
 * mutators (blk.h, net.h) and logs who changed what.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "blk.h"
#include "control-methods.h"
#include "control-server.h"
#include "device.h"
#include "events.h"
#include "libvhost-user-ext.h"
#include "log.h"
#include "net.h"
#include "sidecar.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

#define PROTOCOL_F_CONFIG 9 /* VHOST_USER_PROTOCOL_F_CONFIG: how a resize reaches the guest */

/* ---- helpers ------------------------------------------------------------ */

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

/* ---- reconfiguration --------------------------------------------------- */

int method_set_log_level(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_set_read_only(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_set_limits(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_set_polling(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_set_link(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

int method_resize(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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

/* ---- ResetStats --------------------------------------------------------- */

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

int method_reset_stats(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
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
