/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's top-level state: the one sd_event loop, the devices it
 * serves, the options it was started with, and the hooks the control
 * socket (sidecar/control-*.c) plugs into. Everything here is owned and
 * touched by the event-loop thread only; a control-socket handler runs on
 * that thread too, so it may read any field and call the mutators in
 * device.h and blk.h directly.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "events.h"
#include "options.h"

typedef struct Device Device;

struct Sidecar {
        sd_event *event;
        Options options; /* as parsed; owned */

        IoEngineKind io_engine;     /* resolved: IO_ENGINE_IO_URING or IO_ENGINE_THREADS */
        char io_engine_reason[128]; /* why auto chose threads ("io_uring_queue_init: …"), or "" */

        Device **devices; /* in command-line order; owned */
        size_t n_devices;

        uint64_t start_realtime_usec;  /* CLOCK_REALTIME at start, for "started at" */
        uint64_t start_monotonic_usec; /* CLOCK_MONOTONIC at start, for uptime */

        /* The control socket: a socket-activated fd named "control" (owned,
         * -EBADF if none); otherwise control-*.c binds options.control_path. */
        int control_fd;
        void *control; /* control-*.c's state; NULL until control_start() */

        EventLog events;

        bool stopping; /* SIGTERM/SIGINT seen: draining */
        int exit_code;
        sd_event_source *stop_timer; /* forces the exit if draining takes too long */
        char *last_status;           /* the last STATUS= sent, to avoid resending */
};

/* How long a graceful stop may wait for in-flight requests. */
#define SIDECAR_STOP_TIMEOUT_USEC (10 * 1000000ULL)

/*
 * Control-socket hooks. They are weak: a build without sidecar/control-*.c
 * simply has no control socket. control_start() is called once the devices
 * are set up and before READY=1 (return 0 or a negative errno, which stops
 * the daemon); control_stop() is called before the devices are freed.
 */
int control_start(Sidecar *s) __attribute__((weak));
void control_stop(Sidecar *s) __attribute__((weak));

/*
 * The virtio-net device hook, weak as well: sidecar/net*.c provides it.
 * Parse one --net SPEC (device number @index), create the device (not yet
 * listening) and return it in @ret. Returns 0, -EINVAL after printing a
 * "vu-sidecar: --net: …" message (exit 2), or another -errno after logging
 * (exit 1).
 */
int net_device_new(Sidecar *s, const char *what, const char *spec, unsigned int index, Device **ret)
        __attribute__((weak));

/* The device with id @id, or, if @id is NULL or "", the only device (NULL if there are several). */
Device *sidecar_find_device(Sidecar *s, const char *id);

/* µs since start (CLOCK_MONOTONIC). */
uint64_t sidecar_uptime_usec(const Sidecar *s);

/* Rebuild the STATUS= line from every device's state and send it if it changed. */
void sidecar_update_status(Sidecar *s);

/* Called when a device's in-flight count drops to zero: finishes a graceful stop. */
void sidecar_check_stopped(Sidecar *s);

/* Begin a graceful stop (as SIGTERM does). */
void sidecar_stop(Sidecar *s);

/* "io_uring" or "threads". */
const char *io_engine_to_string(IoEngineKind k);

/* Monotonic and realtime clocks in µs. */
uint64_t now_usec(clockid_t clock);
