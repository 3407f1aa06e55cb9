/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A generic varlink server on sd-event: it listens on a unix socket (or
 * takes a socket-activated one), accepts a bounded number of clients,
 * frames and validates their calls with vu-varlink, checks SO_PEERCRED
 * before mutating methods, dispatches to a method table, and writes
 * replies without ever blocking the loop (a client that does not read is
 * dropped once its output buffer passes a cap). It answers
 * org.varlink.service.GetInfo and GetInterfaceDescription itself.
 * It is control-server.c (listening, accepting), control-connection.c
 * (a client's I/O) and control-dispatch.c (calls, permissions, replies).
 * The daemon's methods are listed in control-methods.c.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "varlink.h"

#define CONTROL_CLIENTS_MAX 32 /* connections at once */
/* Of those, kept for privileged callers (our uid, root, the control group), so that however many
 * connections an unprivileged user holds, the operator's probe still gets in. */
#define CONTROL_CLIENTS_RESERVED 4
/* A refused connection is answered, shut down for writing, and closed once the peer has hung up or
 * after this long, so the peer reads the refusal instead of a reset or a broken pipe. */
#define CONTROL_REFUSAL_LINGER_USEC (1000ULL * 1000ULL)
#define CONTROL_REFUSALS_MAX 64 /* refusals lingering at once; beyond that they are closed at once */
#define CONTROL_OUTPUT_MAX (8U * 1024U * 1024U) /* unsent bytes before a client is dropped */
#define CONTROL_READ_CHUNK (64U * 1024U)        /* bytes read per wake-up, for fairness */
#ifndef CONTROL_IDLE_TIMEOUT_USEC
#define CONTROL_IDLE_TIMEOUT_USEC (60ULL * 1000000ULL) /* a silent, non-streaming client is closed */
#endif

typedef struct ControlServer ControlServer;
typedef struct ControlClient ControlClient;

enum {
        CONTROL_METHOD_MUTATING = 1 << 0, /* only our uid, root or the control group may call it */
        CONTROL_METHOD_STREAM = 1 << 1,   /* must be called with "more": true */
};

/*
 * A method handler. It answers with exactly one of control_client_reply(),
 * control_client_error*(), or (streams) control_client_start_stream()
 * followed by control_client_notify() calls. If it returns a negative
 * errno without having answered, the server answers io.vusidecar.Failed
 * with that errno. @flags are the call's VARLINK_CALL_* flags.
 */
typedef int (*ControlMethodHandler)(ControlClient *c, json_object *parameters, unsigned flags,
                                    void *userdata);

typedef struct ControlMethod {
        const char *name; /* fully qualified: "io.vusidecar.GetStatus" */
        ControlMethodHandler handler;
        unsigned flags; /* CONTROL_METHOD_* */
} ControlMethod;

typedef struct ControlInterface {
        const char *name;        /* "io.vusidecar" */
        const char *description; /* its varlink IDL */
        const ControlMethod *methods;
        size_t n_methods;
        const char *vendor, *product, *version, *url; /* for GetInfo */
        /*
         * The interface's own error for a bad parameter, declared in its IDL as
         * (parameter: string, reason: string), so the reply carries why. NULL: the standard
         * org.varlink.service.InvalidParameter, whose IDL has only "parameter".
         */
        const char *invalid_parameter_error;
} ControlInterface;

/*
 * Create a server on @event serving @iface (borrowed; must outlive the
 * server). @userdata is passed to every handler. Returns 0 or -ENOMEM.
 */
int control_server_new(sd_event *event, const ControlInterface *iface, void *userdata, ControlServer **ret);

/* Disconnect every client, stop listening, unlink a socket we bound. NULL-safe; returns NULL. */
ControlServer *control_server_free(ControlServer *s);

/*
 * Members of @gid may call mutating methods (besides our uid and root),
 * and a socket bound after this is chowned to that group so they can
 * connect. Call before control_server_listen().
 */
void control_server_set_group(ControlServer *s, gid_t gid);

/*
 * Bind and listen on @path with file mode @mode. A stale socket (nobody
 * answers on it) is replaced; a live one is -EADDRINUSE. Returns 0 or a
 * negative errno (-EINVAL: path too long).
 */
int control_server_listen(ControlServer *s, const char *path, mode_t mode);

/*
 * Serve a listening socket we were handed (socket activation). On success
 * the server owns @fd; on failure the caller still does. Returns 0,
 * -ENOTSOCK / -EINVAL if @fd is not a listening unix stream socket, or
 * another negative errno.
 */
int control_server_adopt_fd(ControlServer *s, int fd);

unsigned control_server_n_clients(const ControlServer *s);
/* The socket path we listen on, NULL if adopted without a known path. */
const char *control_server_get_path(const ControlServer *s);

/* ---- replying (from handlers) ------------------------------------------ */

/* Send the final reply; takes @parameters (NULL: {}). 0, or -ENOMEM (the client is then dropped). */
int control_client_reply(ControlClient *c, json_object *parameters);

/* Send an error reply; takes @parameters (NULL: {}). */
int control_client_error(ControlClient *c, const char *error, json_object *parameters);

/*
 * The interface's InvalidParameter error (ControlInterface.invalid_parameter_error) naming
 * @parameter, with a "reason" made from @format; or, for an interface without one,
 * org.varlink.service.InvalidParameter with "parameter" only, as its IDL declares.
 */
int control_client_error_invalid_parameter(ControlClient *c, const char *parameter, const char *format, ...)
        _printf_(3, 4);

/* io.vusidecar.Failed with a message made from @format and @error's errno (negative or positive). */
int control_client_error_errno(ControlClient *c, int error, const char *format, ...) _printf_(3, 4);

/*
 * Turn the current call into a stream (the call must have "more": true,
 * which CONTROL_METHOD_STREAM guarantees). @destroy(@data) runs when the
 * client goes away, from the event loop and never from inside a
 * control_client_notify(), so it may unsubscribe from whatever feeds the
 * stream. Returns 0, or -EBUSY if the client already streams.
 */
int control_client_start_stream(ControlClient *c, void *data, void (*destroy)(void *data));

/*
 * Send one streamed reply ("continues": true); takes @parameters. Returns
 * 0, or -ECONNRESET if the client is gone or was dropped for not reading.
 */
int control_client_notify(ControlClient *c, json_object *parameters);

/* The peer's credentials at connect time (SO_PEERCRED). */
const struct ucred *control_client_get_ucred(const ControlClient *c);

/* Whether the peer may call mutating methods (our uid, root, or the control group). */
bool control_client_is_privileged(const ControlClient *c);
