/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server's own contract between its files: control-server.c
 * is the server (the listening socket, accepting and refusing clients,
 * its life cycle), control-connection.c one client's connection (output
 * buffering, input framing, dropping it), control-dispatch.c what happens
 * to a call (parsing it, the permission check, dispatching it to its
 * method or the built-in org.varlink.service methods, and the replies
 * handlers send).
 *
 * Everything runs on the daemon's sd-event loop and nothing blocks it:
 * sockets are non-blocking, each wake-up reads a bounded chunk, replies
 * that do not fit in the kernel's buffer wait in a per-client buffer,
 * and a client whose buffer passes CONTROL_OUTPUT_MAX is dropped.
 * Dropped clients are freed from a deferred event source, so a handler or
 * an event stream never sees a client vanish under it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "control-server.h"
#include "varlink.h"

typedef struct ControlRefusal ControlRefusal;

struct ControlClient {
        ControlServer *server;
        ControlClient *next;
        unsigned id; /* for log lines */

        int fd;
        sd_event_source *io;
        sd_event_source *idle_timer; /* drops a client that neither calls nor streams */
        struct ucred ucred;
        gid_t *groups; /* SO_PEERGROUPS, only fetched with a control group */
        size_t n_groups;

        VarlinkFramer framer;
        char *out; /* unsent bytes: out[out_start..out_end) */
        size_t out_start, out_end, out_allocated;

        bool read_eof; /* the peer shut down its sending side */
        bool closing;  /* close once the output is flushed */
        bool dead;     /* dropped: waits for the reaper */

        bool in_call;
        bool call_answered;
        unsigned call_flags;

        bool streaming;
        void *stream_data;
        void (*stream_destroy)(void *data);
};

struct ControlServer {
        sd_event *event;
        const ControlInterface *iface;
        void *userdata;

        int listen_fd;
        sd_event_source *listen_source;
        sd_event_source *accept_retry; /* re-enables accepting after EMFILE */
        char *path;
        bool path_created; /* we bound it: unlink on free */
        gid_t group;
        bool have_group;

        ControlClient *clients;
        unsigned n_clients; /* live (not dropped) clients */
        ControlRefusal *refusals;
        unsigned n_refusals;
        unsigned next_id;
        sd_event_source *reaper;
};

/* ---- control-connection.c ---- */

/* Free @c now (its stream's destroy callback runs). NULL-safe; returns NULL. */
ControlClient *client_free(ControlClient *c);
/* Close @c's connection at once (logging @why) and free it later, from the loop. */
void client_drop(ControlClient *c, const char *why);
/* Queue one message (takes @msg). Returns 0, or -ECONNRESET if the client is (now) gone. */
int client_send(ControlClient *c, json_object *msg);
/* The sd-event callback of a client's socket. */
int client_io_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata);

/* ---- control-dispatch.c ---- */

/* Parse one framed message of @len bytes and answer or dispatch it. */
void client_handle_message(ControlClient *c, const char *text, size_t len);
/* An error outside any call (framing, bad JSON): always sent; takes @parameters. */
int client_error_now(ControlClient *c, const char *error, json_object *parameters);
