/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Implementation of events.h. Subscribers live in a singly linked list;
 * removal during an emit only marks the entry, and the list is swept once
 * the outermost emit returns, so a callback may unsubscribe anyone.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "events.h"
#include "log.h"
#include "sidecar.h"

struct EventSubscriber {
        event_callback_t cb;
        void *userdata;
        bool dead;
        EventSubscriber *next;
};

static uint64_t now_realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void event_log_sweep(EventLog *log) {
        EventSubscriber **p = &log->subscribers;

        while (*p) {
                EventSubscriber *sub = *p;

                if (sub->dead) {
                        *p = sub->next;
                        free(sub);
                } else
                        p = &sub->next;
        }
}

void event_emit(Sidecar *s, Device *d, const char *type, const char *fmt, ...) {
        EventLog *log;
        Event *ev;
        va_list ap;

        if (!s || !type || !fmt)
                return;
        /* device_detach() already reported the stop of every queue the departed frontend had started. */
        if (d && d->queue_stops_reported && strcmp(type, "queue-stop") == 0)
                return;
        log = &s->events;
        if (log->next_seq == 0)
                log->next_seq = 1;

        ev = &log->ring[(log->next_seq - 1) % EVENT_RING_SIZE];
        memset(ev, 0, sizeof(*ev));
        ev->seq = log->next_seq++;
        ev->realtime_usec = now_realtime_usec();
        if (d && d->id)
                snprintf(ev->device, sizeof(ev->device), "%s", d->id);
        snprintf(ev->type, sizeof(ev->type), "%s", type);
        va_start(ap, fmt);
        vsnprintf(ev->message, sizeof(ev->message), fmt, ap);
        va_end(ap);

        log_debug("%s%sevent %s: %s", ev->device, ev->device[0] ? ": " : "", ev->type, ev->message);

        /* A subscriber may emit again; the copy keeps what it sees stable. */
        Event copy = *ev;
        log->emitting++;
        for (EventSubscriber *sub = log->subscribers; sub; sub = sub->next)
                if (!sub->dead)
                        sub->cb(s, &copy, sub->userdata);
        if (--log->emitting == 0)
                event_log_sweep(log);
}

int event_subscribe(Sidecar *s, event_callback_t cb, void *userdata, EventSubscriber **ret) {
        EventSubscriber *sub, **tail;

        if (!s || !cb)
                return -EINVAL;
        sub = calloc(1, sizeof(*sub));
        if (!sub)
                return -ENOMEM;
        sub->cb = cb;
        sub->userdata = userdata;

        /* Append, so subscribers are called in the order they came. */
        for (tail = &s->events.subscribers; *tail; tail = &(*tail)->next)
                ;
        *tail = sub;
        if (ret)
                *ret = sub;
        return 0;
}

EventSubscriber *event_unsubscribe(Sidecar *s, EventSubscriber *sub) {
        if (!s || !sub)
                return NULL;
        sub->dead = true;
        if (s->events.emitting == 0)
                event_log_sweep(&s->events);
        return NULL;
}

size_t event_log_get(const Sidecar *s, uint64_t after_seq, Event *ret, size_t max) {
        const EventLog *log = &s->events;
        uint64_t first, last;
        size_t n = 0;

        if (log->next_seq <= 1)
                return 0;
        last = log->next_seq - 1;
        first = last >= EVENT_RING_SIZE ? last - EVENT_RING_SIZE + 1 : 1;
        if (first <= after_seq)
                first = after_seq + 1;

        for (uint64_t seq = first; seq <= last && n < max; seq++)
                ret[n++] = log->ring[(seq - 1) % EVENT_RING_SIZE];
        return n;
}

void event_log_done(EventLog *log) {
        while (log->subscribers) {
                EventSubscriber *sub = log->subscribers;

                log->subscribers = sub->next;
                free(sub);
        }
}
