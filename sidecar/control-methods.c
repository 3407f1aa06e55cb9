/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The io.vusidecar interface: its method table, the helpers every method
 * file shares (control-methods.h), the Monitor event stream, and the hooks
 * that start and stop the control socket (control_start()/control_stop()
 * in sidecar.h). The methods live in control-status.c (those that read
 * the daemon's state), control-mutators.c (those that change it) and
 * control-dump.c (DumpQueue). The names of methods, fields and errors
 * come from vusidecar-protocol.h; the protocol is described in
 * man/vu-sidecar-control.7.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control-methods.h"
#include "control-server.h"
#include "device.h"
#include "events.h"
#include "log.h"
#include "sidecar.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

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
