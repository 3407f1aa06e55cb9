/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device abstraction: one vhost-user device the daemon serves (blk
 * now, net later), with its socket, its connection to one frontend, the
 * library's VuDev, and counters. A device type embeds Device as its first
 * member and provides a DeviceVTable; device.c does everything that is the
 * same for every type: sd-event glue for the library's watches, panics,
 * peer credentials, connect/disconnect bookkeeping and events.
 *
 * Life cycle: a device type's constructor fills a Device with device_init()
 * → device_listen() (listener.c: server, client or socket-activated) →
 * a frontend connects: device_attach() runs vu_init() and vtable->start()
 * → … → the peer hangs up or the library panics: device_detach() runs
 * vtable->stop(), vu_deinit(), vtable->reset(), and waits for the next
 * frontend → device_free().
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "libvhost-user-ext.h"
#include "libvhost-user.h"
#include "options.h"
#include "stats.h"

typedef struct Sidecar Sidecar;
typedef struct Device Device;

typedef enum DeviceType {
        DEVICE_BLK,
        DEVICE_NET,
        _DEVICE_TYPE_MAX,
} DeviceType;

typedef enum DeviceState {
        DEVICE_WAITING,    /* server: listening, no frontend */
        DEVICE_CONNECTING, /* client: between connection attempts */
        DEVICE_CONNECTED,  /* a frontend is being served */
        DEVICE_STOPPED,    /* shutting down */
        _DEVICE_STATE_MAX,
} DeviceState;

typedef struct DeviceVTable {
        const char *type_name;   /* "blk", "net" */
        const VuDevIface *iface; /* handed to vu_init() */
        /* Name of a device-specific virtio feature bit (0..23), "FLUSH"; NULL if unknown. */
        const char *(*feature_name)(unsigned int bit);

        /* A frontend connected and vu_init() succeeded. Return 0 or -errno (then we disconnect). */
        int (*start)(Device *d);
        /* The connection is going away: finish or abandon in-flight I/O so that no guest memory
         * is touched after this returns (vu_deinit() follows). */
        void (*stop)(Device *d);
        /* After vu_deinit(): back to the state a new frontend expects. */
        void (*reset)(Device *d);
        /* Graceful shutdown began: take no new requests; complete those already taken. */
        void (*drain)(Device *d);
        /* Requests taken from the rings and not yet given back. */
        uint64_t (*in_flight)(Device *d);
        /* Device totals; and one queue's (-EINVAL if @qidx is out of range). */
        void (*fill_stats)(Device *d, IoStats *ret);
        int (*fill_queue_stats)(Device *d, unsigned int qidx, IoStats *ret);
        /* Zero the counters (in-flight gauges stay). */
        void (*reset_stats)(Device *d);
        /* SIGHUP: re-read what may have changed underneath (a blk image's size). */
        void (*reload)(Device *d);
        /* Free the type's part; device_free() then frees the common part. */
        void (*free)(Device *d);
} DeviceVTable;

typedef struct DeviceWatch DeviceWatch;

struct Device {
        Sidecar *sidecar;
        const DeviceVTable *vtable;
        DeviceType type;
        char *id;
        unsigned int queues; /* max_queues handed to vu_init() */

        /* the vhost-user socket */
        DeviceSocketMode mode;
        char *socket_path;     /* NULL if socket-activated and none was named */
        bool socket_activated; /* listen_fd came from the service manager */
        bool socket_created;   /* we bound socket_path: unlink it on exit */
        int listen_fd;         /* server mode */
        sd_event_source *listen_source;
        sd_event_source *retry_timer; /* client mode backoff */
        uint64_t retry_usec;          /* next backoff delay */
        DeviceState state;

        /* the connection to the frontend */
        int conn_fd;
        sd_event_source *conn_source;
        sd_event_source *detach_source; /* deferred detach after a panic */
        pid_t peer_pid;                 /* SO_PEERCRED, 0 if unknown */
        uid_t peer_uid;
        gid_t peer_gid;
        char peer_comm[17];             /* /proc/PID/comm, "" if unknown */
        uint64_t connect_realtime_usec; /* CLOCK_REALTIME of the current connection, 0 if none */
        uint64_t connections;           /* frontends served since start */
        uint64_t connections_refused;   /* turned away while one was served */
        char last_disconnect[256];      /* why the last connection ended, "" if none */

        /* the library */
        VuDev vu;
        bool vu_ready;          /* vu_init() succeeded; vu_deinit() is due */
        DeviceWatch *watches;   /* fds the library asked us to watch */
        bool log_active;        /* dirty log was active after the last message */
        VuLogInfo last_log;     /* the dirty log as the last frontend left it (started_usec 0: none) */
        uint64_t features_seen; /* last negotiated virtio features we announced */
        bool queue_stops_reported; /* device_detach() emitted queue-stop for every started queue */
};

/* Device from the VuDev embedded in it. */
static inline Device *device_from_vu(VuDev *vu) {
        return (Device *) ((char *) vu - __builtin_offsetof(Device, vu));
}

/* Fill the common part; fds start at -EBADF. @id and @socket_path are copied. Returns 0 or -ENOMEM. */
int device_init(Device *d, Sidecar *s, const DeviceVTable *vtable, DeviceType type, const char *id,
                unsigned int queues, DeviceSocketMode mode, const char *socket_path);

/* Detach any frontend, close the sockets (unlinking the one we created), free. NULL-safe. */
Device *device_free(Device *d);

/*
 * Start serving @fd, a connected vhost-user socket (ownership passes to
 * the device, also on failure). Logs SO_PEERCRED, emits "connect".
 * Returns 0 or -errno.
 */
int device_attach(Device *d, int fd);

/*
 * End the current connection (no-op if none): vtable->stop(), vu_deinit(),
 * close, vtable->reset(), emit "disconnect" with @reason, then wait for the
 * next frontend (server: accept again; client: reconnect with backoff).
 */
void device_detach(Device *d, const char *reason);

/* True while a frontend is attached. */
static inline bool device_is_connected(const Device *d) {
        return d->state == DEVICE_CONNECTED && d->vu_ready;
}

/*
 * Write the names of the bits in @features into @buf, space-separated
 * ("SEG_MAX FLUSH VERSION_1 …"; unknown bits as "bitN"), device-specific
 * bits named by @d's type.
 */
void device_format_features(const Device *d, uint64_t features, char *buf, size_t size);

/* One line for STATUS= and logs: "blk0: serving pid 1234" / "blk0: waiting for frontend on PATH". */
void device_describe(const Device *d, char *buf, size_t size);

const char *device_type_to_string(DeviceType t);
const char *device_state_to_string(DeviceState s);

/* Socket handling (listener.c). */

/*
 * Set up the device's socket: adopt @activated_fd (≥ 0: a socket-activated
 * listening or connected socket, owned from now on), or create and listen
 * on socket_path (server), or start connecting (client). Returns 0 or
 * -errno after logging what failed with the path.
 */
int device_listen(Device *d, int activated_fd);

/* Stop accepting or reconnecting (graceful stop); the current connection stays. */
void device_stop_listening(Device *d);

/* After a detach: accept the next frontend or schedule a reconnect. */
void device_wait_for_frontend(Device *d);
