/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-net device, as the rest of the daemon sees it: the mutators
 * the control socket calls (link state, polling) and the snapshots it
 * serves. net_device_new() itself is the weak hook declared in sidecar.h.
 * Every function here runs on the event-loop thread (the only thread the
 * net device has), so a snapshot is always consistent.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "device.h"

bool device_is_net(const Device *d);

/*
 * Set the link up or down. Down: frames the guest sends are dropped
 * (counted as link_down), nothing is delivered to it, and the STATUS
 * config field says so; the frontend is told through a config-change
 * message where it negotiated one. Returns 1 if the state changed, 0 if
 * it already was so, -EINVAL if @d is not a net device.
 */
int net_set_link(Device *d, bool up);

/* The link state (false for a device that is not a net device). */
bool net_get_link(const Device *d);

/* The polling mode as a word: "off", "adaptive" or "busy" (NULL if not net). */
const char *net_poll_mode_string(const Device *d);

/*
 * Control-socket snapshots. Each returns a new json object (NULL on OOM
 * or if @d is not a net device), owned by the caller:
 *   net_config_json(): back end, MAC, MTU, queue pairs, link, polling,
 *     negotiated header length and offloads;
 *   net_queue_stats_json(): the net counters of virtqueue @qidx, with its
 *     direction ("guest_to_backend" for a transmit queue,
 *     "backend_to_guest" for a receive queue), good packets and bytes,
 *     drops by reason and frame-size buckets; NULL for the control queue
 *     or an index out of range;
 *   net_stats_json(): the same counters summed per direction.
 */
json_object *net_config_json(Device *d);
json_object *net_queue_stats_json(Device *d, unsigned int qidx);
json_object *net_stats_json(Device *d);

/* One line for STATUS=: ", link up, loopback, poll adaptive 50us". Empty for other devices. */
void net_describe(const Device *d, char *buf, size_t size);
