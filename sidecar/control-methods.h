/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the io.vusidecar method files share: resolving the "device"
 * parameter, refusing unknown parameters, and small JSON builders
 * (control-methods.c, which also holds the method table), and the method
 * handlers of control-status.c, control-mutators.c and control-dump.c. The
 * methods run on the event-loop thread (control-dispatch.c calls them),
 * so they read the daemon's state directly.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "control-server.h"
#include "device.h"
#include "sidecar.h"

/*
 * Find the device the call names. Without a "device" parameter: NULL in
 * *ret if @all_if_missing (the call is about every device), else the only
 * device. Returns 1 with *ret set, or 0 after answering the call with the
 * error (NoSuchDevice, DeviceRequired, InvalidParameter).
 */
int control_resolve_device(ControlClient *c, Sidecar *s, json_object *params, bool all_if_missing,
                           Device **ret);

/* 1 if @params names only @known (NULL-terminated); else answers InvalidParameter and returns 0. */
int control_check_params(ControlClient *c, json_object *params, const char *const *known);

/* Add unsigned / signed / bool / string fields; ignore OOM (the reply is then shorter, not wrong). */
void json_add_u64(json_object *o, const char *key, uint64_t v);
void json_add_bool(json_object *o, const char *key, bool v);
void json_add_str(json_object *o, const char *key, const char *v); /* NULL → null */

/*
 * Adaptive polling is a device feature the daemon may or may not have; it
 * is bound late so the control socket builds either way and says "not
 * supported" instead of pretending.
 */
int device_set_poll_usec(Device *d, uint64_t usec) __attribute__((weak));
uint64_t device_get_poll_usec(const Device *d) __attribute__((weak));

/* The methods that read state (control-status.c); any caller may use them. */
int method_ping(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_get_status(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_get_stats(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_get_queues(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_get_log(ControlClient *c, json_object *params, unsigned flags, void *userdata);

/* The methods that change state (control-mutators.c), all CONTROL_METHOD_MUTATING. */
int method_set_log_level(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_set_read_only(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_set_limits(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_set_polling(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_set_link(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_resize(ControlClient *c, json_object *params, unsigned flags, void *userdata);
int method_reset_stats(ControlClient *c, json_object *params, unsigned flags, void *userdata);

/* io.vusidecar.DumpQueue (control-dump.c). */
int method_dump_queue(ControlClient *c, json_object *params, unsigned flags, void *userdata);

/*
 * A packed ring's event suppression area as JSON (flags, mode, off_wrap,
 * offset, wrap), from the two le16 words already converted to host order.
 * Returns a new object, or NULL on OOM (control-dump.c).
 */
json_object *control_event_area_json(uint16_t flags, uint16_t off_wrap);
