/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's event stream: connect, disconnect, negotiated, queue-start,
 * queue-stop, log-start, log-stop, resize, error, … Every event is logged at
 * debug level, kept in a ring of the last EVENT_RING_SIZE, and handed to
 * each subscriber (the control socket's `monitor` stream subscribes). All
 * of it runs on the event-loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct Sidecar Sidecar;
typedef struct Device Device;

#define EVENT_RING_SIZE 64
#define EVENT_TYPE_MAX 24
#define EVENT_MESSAGE_MAX 256

typedef struct Event {
        uint64_t seq;                    /* 1, 2, 3, … since start; never reused */
        uint64_t realtime_usec;          /* CLOCK_REALTIME when emitted */
        char device[33];                 /* device id, "" for daemon-wide events */
        char type[EVENT_TYPE_MAX];       /* "connect", "disconnect", … */
        char message[EVENT_MESSAGE_MAX]; /* human-readable detail */
} Event;

/* Called for every event; @event is only valid during the call. */
typedef void (*event_callback_t)(Sidecar *s, const Event *event, void *userdata);

typedef struct EventSubscriber EventSubscriber;

typedef struct EventLog {
        Event ring[EVENT_RING_SIZE];
        uint64_t next_seq; /* seq the next event gets (starts at 1) */
        EventSubscriber *subscribers;
        unsigned int emitting; /* nesting depth of event_emit() */
} EventLog;

/*
 * Record an event of @type for device @d (NULL: the daemon), with a
 * printf-style message. Never fails: a message too long is truncated.
 */
void event_emit(Sidecar *s, Device *d, const char *type, const char *fmt, ...) _printf_(4, 5);

/*
 * Call @cb for every later event. The subscriber is owned by the event log
 * until event_unsubscribe(); @ret (may be NULL) receives a handle for it.
 * Returns 0 or -ENOMEM. Subscribing or unsubscribing from inside a
 * callback is allowed.
 */
int event_subscribe(Sidecar *s, event_callback_t cb, void *userdata, EventSubscriber **ret);

/* Stop calling @sub's callback and free it. Accepts NULL; returns NULL. */
EventSubscriber *event_unsubscribe(Sidecar *s, EventSubscriber *sub);

/*
 * Copy the kept events with seq > @after_seq, oldest first, into @ret (at
 * most @max). Returns how many were copied.
 */
size_t event_log_get(const Sidecar *s, uint64_t after_seq, Event *ret, size_t max);

/* Release every subscriber (at exit). */
void event_log_done(EventLog *log);
