/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every device type shares: the library's set_watch/remove_watch
 * mapped onto sd-event io sources (one per fd; a second set_watch on the
 * same fd replaces the first), the vhost-user socket's reader, panics
 * turned into a deferred detach (the library may panic from deep inside a
 * queue handler, where tearing the device down would pull memory out from
 * under it), peer credentials, and the connect/disconnect events.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "device.h"
#include "events.h"
#include "log.h"
#include "net.h"
#include "sidecar.h"

struct DeviceWatch {
        Device *device;
        int fd;
        sd_event_source *source;
        vu_watch_cb cb;
        void *data;
        DeviceWatch *next;
};

static const char *const device_type_names[_DEVICE_TYPE_MAX] = {
        [DEVICE_BLK] = "blk",
        [DEVICE_NET] = "net",
};

static const char *const device_state_names[_DEVICE_STATE_MAX] = {
        [DEVICE_WAITING] = "waiting",
        [DEVICE_CONNECTING] = "connecting",
        [DEVICE_CONNECTED] = "connected",
        [DEVICE_STOPPED] = "stopped",
};

const char *device_type_to_string(DeviceType t) {
        return (unsigned) t < _DEVICE_TYPE_MAX ? device_type_names[t] : NULL;
}

const char *device_state_to_string(DeviceState s) {
        return (unsigned) s < _DEVICE_STATE_MAX ? device_state_names[s] : NULL;
}

int device_init(Device *d, Sidecar *s, const DeviceVTable *vtable, DeviceType type, const char *id,
                unsigned int queues, DeviceSocketMode mode, const char *socket_path) {
        d->sidecar = s;
        d->vtable = vtable;
        d->type = type;
        d->queues = queues;
        d->mode = mode;
        d->listen_fd = -EBADF;
        d->conn_fd = -EBADF;
        d->state = DEVICE_WAITING;
        d->id = strdup(id);
        if (!d->id)
                return -ENOMEM;
        if (socket_path) {
                d->socket_path = strdup(socket_path);
                if (!d->socket_path)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- the library's watches ------------------------------------------------ */

static int watch_dispatch(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        DeviceWatch *w = userdata;

        /* epoll and poll share the bit values for IN/OUT/PRI/ERR/HUP. */
        w->cb(&w->device->vu, (int) (revents & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP)),
              w->data);
        return 0;
}

static DeviceWatch *device_find_watch(Device *d, int fd) {
        for (DeviceWatch *w = d->watches; w; w = w->next)
                if (w->fd == fd)
                        return w;
        return NULL;
}

static void device_set_watch(VuDev *vu, int fd, int condition, vu_watch_cb cb, void *data) {
        Device *d = device_from_vu(vu);
        uint32_t events = (uint32_t) condition & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP);
        DeviceWatch *w;
        int r;

        if (fd < 0 || !cb)
                return;

        w = device_find_watch(d, fd);
        if (w) {
                w->cb = cb;
                w->data = data;
                r = sd_event_source_set_io_events(w->source, events);
                if (r < 0)
                        log_warning_errno(r, "%s: Failed to change the watch on fd %d, ignoring: %m", d->id,
                                          fd);
                return;
        }

        w = calloc(1, sizeof(*w));
        if (!w) {
                log_oom();
                return;
        }
        w->device = d;
        w->fd = fd;
        w->cb = cb;
        w->data = data;
        r = sd_event_add_io(d->sidecar->event, &w->source, fd, events, watch_dispatch, w);
        if (r < 0) {
                log_error_errno(r, "%s: Failed to watch fd %d for the library: %m", d->id, fd);
                free(w);
                return;
        }
        (void) sd_event_source_set_description(w->source, "vu-watch");
        w->next = d->watches;
        d->watches = w;
}

static void device_remove_watch(VuDev *vu, int fd) {
        Device *d = device_from_vu(vu);

        for (DeviceWatch **p = &d->watches; *p; p = &(*p)->next) {
                DeviceWatch *w = *p;

                if (w->fd != fd)
                        continue;
                *p = w->next;
                /* Safe even while this very source is dispatching: sd-event defers the free. */
                sd_event_source_disable_unref(w->source);
                free(w);
                return;
        }
}

static void device_remove_all_watches(Device *d) {
        while (d->watches)
                device_remove_watch(&d->vu, d->watches->fd);
}

/* ---- panics, logging, observation -------------------------------------- */

static int device_on_deferred_detach(sd_event_source *source, void *userdata) {
        Device *d = userdata;

        d->detach_source = sd_event_source_disable_unref(d->detach_source);
        device_detach(d, d->last_disconnect[0] ? d->last_disconnect : "the library gave up on it");
        return 0;
}

/* The frontend hung up (we may already have read its EOF). */
static bool device_peer_hung_up(Device *d) {
        struct pollfd p = {.fd = d->conn_fd, .events = POLLRDHUP};

        return d->conn_fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void device_on_panic(VuDev *vu, const char *err) {
        Device *d = device_from_vu(vu);
        int r;

        if (device_peer_hung_up(d)) {
                /* A frontend going away (VM shut down, QEMU restarted) is normal life, not an error. */
                snprintf(d->last_disconnect, sizeof(d->last_disconnect),
                         "the frontend closed the connection");
        } else {
                log_error("%s: vhost-user connection failed: %s", d->id, err ? err : "unknown error");
                event_emit(d->sidecar, d, "error", "%s", err ? err : "unknown error");
                snprintf(d->last_disconnect, sizeof(d->last_disconnect), "%s", err ? err : "library panic");
        }

        if (d->detach_source)
                return;
        /* Not now: the library may be in the middle of using the device. */
        r = sd_event_add_defer(d->sidecar->event, &d->detach_source, device_on_deferred_detach, d);
        if (r < 0)
                log_error_errno(r, "%s: Failed to schedule the disconnect: %m", d->id);
}

static void device_on_library_log(VuDev *vu, int priority, const char *msg, void *userdata) {
        Device *d = userdata;

        log_full_errno(priority, 0, "%s: %s", d->id, msg);
}

void device_format_features(const Device *d, uint64_t features, char *buf, size_t size) {
        size_t n = 0;

        if (size == 0)
                return;
        buf[0] = 0;
        for (unsigned int bit = 0; bit < 64 && n < size; bit++) {
                const char *name;
                int k;

                if (!(features & (UINT64_C(1) << bit)))
                        continue;
                name = NULL;
                if (bit < 24 && d->vtable->feature_name)
                        name = d->vtable->feature_name(bit);
                if (!name)
                        name = vu_virtio_feature_name(bit);
                if (name)
                        k = snprintf(buf + n, size - n, "%s%s", n ? " " : "", name);
                else
                        k = snprintf(buf + n, size - n, "%sbit%u", n ? " " : "", bit);
                if (k < 0)
                        break;
                n += (size_t) k;
        }
}

static void device_on_message(VuDev *vu, const VhostUserMsg *msg, int result, void *userdata) {
        Device *d = userdata;
        VuLogInfo log_info;

        if (result < 0) {
                const char *why = vu_last_error(vu);

                event_emit(d->sidecar, d, "error", "%s refused: %s",
                           vu_request_to_string((unsigned) msg->request),
                           why && why[0] ? why : strerror(-result));
                return;
        }

        switch (msg->request) {
        case VHOST_USER_SET_FEATURES: {
                char names[512];

                device_format_features(d, vu->features, names, sizeof(names));
                if (vu->features != d->features_seen || d->features_seen == 0)
                        event_emit(d->sidecar, d, "negotiated", "virtio features 0x%" PRIx64 " (%s)",
                                   vu->features, names);
                d->features_seen = vu->features;
                break;
        }
        case VHOST_USER_SET_PROTOCOL_FEATURES:
                event_emit(d->sidecar, d, "negotiated", "protocol features 0x%" PRIx64,
                           vu->protocol_features);
                break;
        case VHOST_USER_SET_MEM_TABLE:
        case VHOST_USER_ADD_MEM_REG:
        case VHOST_USER_REM_MEM_REG:
                event_emit(d->sidecar, d, "memory", "%s: %" PRIu32 " region(s) mapped",
                           vu_request_to_string((unsigned) msg->request), vu->nregions);
                break;
        default:
                break;
        }

        /* Dirty logging starts with SET_LOG_BASE and ends when LOG_ALL is dropped or the log unmapped. */
        vu_get_log_info(vu, &log_info);
        bool active = log_info.active && log_info.log_all;
        if (active != d->log_active) {
                d->log_active = active;
                if (active)
                        event_emit(d->sidecar, d, "log-start", "dirty log of %" PRIu64 " bytes",
                                   log_info.size);
                else
                        event_emit(d->sidecar, d, "log-stop", "%" PRIu64 " pages marked, %" PRIu64 " writes",
                                   log_info.pages_marked, log_info.writes);
        }
}

/* ---- the vhost-user socket ---------------------------------------------- */

static int device_on_socket(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Device *d = userdata;

        if (!d->vu_ready)
                return 0;

        if (!(revents & EPOLLIN) && (revents & (EPOLLHUP | EPOLLERR))) {
                device_detach(d, "the frontend closed the connection");
                return 0;
        }

        if (!vu_dispatch(&d->vu)) {
                const char *why = vu_last_error(&d->vu);

                if (!d->last_disconnect[0])
                        snprintf(d->last_disconnect, sizeof(d->last_disconnect), "%s",
                                 why && why[0] ? why : "the frontend closed the connection");
                device_detach(d, d->last_disconnect);
        }
        return 0;
}

static void device_read_peer(Device *d) {
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        char path[64];
        int fd;

        d->peer_pid = 0;
        d->peer_uid = (uid_t) -1;
        d->peer_gid = (gid_t) -1;
        d->peer_comm[0] = 0;

        if (getsockopt(d->conn_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_warning_errno(errno, "%s: Failed to read the frontend's credentials, ignoring: %m",
                                  d->id);
                return;
        }
        d->peer_pid = cred.pid;
        d->peer_uid = cred.uid;
        d->peer_gid = cred.gid;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int) cred.pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t n = read(fd, d->peer_comm, sizeof(d->peer_comm) - 1);

                if (n > 0) {
                        d->peer_comm[n] = 0;
                        d->peer_comm[strcspn(d->peer_comm, "\n")] = 0;
                }
                safe_close(fd);
        }
}

int device_attach(Device *d, int fd) {
        Sidecar *s = d->sidecar;
        int r;

        if (d->vu_ready) {
                safe_close(fd);
                return -EBUSY;
        }

        d->conn_fd = fd;
        d->last_disconnect[0] = 0;
        device_read_peer(d);

        memset(&d->vu, 0, sizeof(d->vu));
        if (!vu_init(&d->vu, (uint16_t) d->queues, d->conn_fd, device_on_panic, NULL, device_set_watch,
                     device_remove_watch, d->vtable->iface)) {
                log_error("%s: Failed to set up the vhost-user device for the new connection.", d->id);
                d->conn_fd = safe_close(d->conn_fd);
                return -ENOMEM;
        }
        d->vu_ready = true;
        vu_set_log_handler(&d->vu, device_on_library_log, d);
        vu_set_message_observer(&d->vu, device_on_message, d);
        d->log_active = false;
        d->features_seen = 0;

        r = sd_event_add_io(s->event, &d->conn_source, d->conn_fd, EPOLLIN, device_on_socket, d);
        if (r < 0) {
                log_error_errno(r, "%s: Failed to watch the vhost-user connection: %m", d->id);
                goto fail;
        }
        (void) sd_event_source_set_description(d->conn_source, "vhost-user");

        d->state = DEVICE_CONNECTED;
        d->connect_realtime_usec = now_usec(CLOCK_REALTIME);
        d->connections++;

        if (d->vtable->start) {
                r = d->vtable->start(d);
                if (r < 0) {
                        log_error_errno(r, "%s: Failed to start serving the frontend: %m", d->id);
                        goto fail;
                }
        }

        if (d->peer_pid > 0)
                log_info("%s: frontend connected: pid %d (%s) uid %u gid %u", d->id, (int) d->peer_pid,
                         d->peer_comm[0] ? d->peer_comm : "?", (unsigned) d->peer_uid,
                         (unsigned) d->peer_gid);
        else
                log_info("%s: frontend connected (credentials unknown)", d->id);
        event_emit(s, d, "connect", "pid %d (%s) uid %u gid %u", (int) d->peer_pid,
                   d->peer_comm[0] ? d->peer_comm : "?", (unsigned) d->peer_uid, (unsigned) d->peer_gid);
        sidecar_update_status(s);
        return 0;

fail:
        device_detach(d, "setup failed");
        return r;
}

void device_detach(Device *d, const char *reason_in) {
        Sidecar *s = d->sidecar;
        bool was_connected = d->vu_ready;
        char reason[sizeof(d->last_disconnect)];

        /* @reason_in may be d->last_disconnect itself, which is rewritten below. */
        snprintf(reason, sizeof(reason), "%s", reason_in ? reason_in : "");

        d->detach_source = sd_event_source_disable_unref(d->detach_source);
        d->conn_source = sd_event_source_disable_unref(d->conn_source);

        if (d->vu_ready) {
                VuLogInfo log_info;

                /*
                 * The frontend is gone, and its started queues with it: say so for each, before the
                 * disconnect, as a GET_VRING_BASE would have. The device types report a queue's stop
                 * only when the frontend stops it; their own queue-stop events from the teardown
                 * below would repeat these, so events.c drops them until the teardown is over.
                 */
                for (unsigned int q = 0; q < d->queues; q++) {
                        VuQueueInfo qi;

                        if (vu_queue_get_info(&d->vu, (int) q, &qi) == 0 && qi.started)
                                event_emit(s, d, "queue-stop", "queue %u stopped: the frontend is gone", q);
                }
                d->queue_stops_reported = true;

                /*
                 * The library forgets the log with the frontend; keep what it was, so that
                 * GetLog can still say after a migration that the source's log ran and ended.
                 */
                vu_get_log_info(&d->vu, &log_info);
                if (log_info.started_usec != 0) {
                        d->last_log = log_info;
                        d->last_log.active = d->last_log.log_all = false;
                        d->last_log.rings_logging = 0;
                        if (d->last_log.stopped_usec == 0)
                                d->last_log.stopped_usec = now_usec(CLOCK_REALTIME);
                }
                /*
                 * A frontend that goes away ends its dirty log too: after a migration's switch-over
                 * the source's QEMU never clears LOG_ALL, it only stops the queues and later exits.
                 */
                if (d->log_active) {
                        d->log_active = false;
                        event_emit(s, d, "log-stop",
                                   "%" PRIu64 " pages marked, %" PRIu64 " writes (frontend gone)",
                                   log_info.pages_marked, log_info.writes);
                }
                /* Stop the I/O first: vu_deinit() unmaps the guest memory it targets. */
                if (d->vtable->stop)
                        d->vtable->stop(d);
                vu_deinit(&d->vu);
                device_remove_all_watches(d);
                d->vu_ready = false;
                if (d->vtable->reset)
                        d->vtable->reset(d);
                d->queue_stops_reported = false;
        }
        d->conn_fd = safe_close(d->conn_fd);

        if (was_connected) {
                snprintf(d->last_disconnect, sizeof(d->last_disconnect), "%s", reason);
                log_info("%s: frontend pid %d disconnected: %s", d->id, (int) d->peer_pid, reason);
                event_emit(s, d, "disconnect", "pid %d: %s", (int) d->peer_pid, reason);
        }
        d->connect_realtime_usec = 0;

        if (s->stopping || d->state == DEVICE_STOPPED) {
                d->state = DEVICE_STOPPED;
                sidecar_check_stopped(s);
        } else
                device_wait_for_frontend(d);
        sidecar_update_status(s);
}

Device *device_free(Device *d) {
        if (!d)
                return NULL;

        d->state = DEVICE_STOPPED;
        if (d->vu_ready || d->conn_fd >= 0) {
                d->conn_source = sd_event_source_disable_unref(d->conn_source);
                d->detach_source = sd_event_source_disable_unref(d->detach_source);
                if (d->vu_ready) {
                        if (d->vtable->stop)
                                d->vtable->stop(d);
                        vu_deinit(&d->vu);
                        device_remove_all_watches(d);
                        d->vu_ready = false;
                }
                d->conn_fd = safe_close(d->conn_fd);
        }
        device_remove_all_watches(d);
        d->detach_source = sd_event_source_disable_unref(d->detach_source);
        d->listen_source = sd_event_source_disable_unref(d->listen_source);
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        d->listen_fd = safe_close(d->listen_fd);
        if (d->socket_created && d->socket_path && unlink(d->socket_path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "%s: Failed to remove %s, ignoring: %m", d->id, d->socket_path);

        free(d->id);
        free(d->socket_path);
        d->id = d->socket_path = NULL;
        if (d->vtable && d->vtable->free)
                d->vtable->free(d);
        else
                free(d);
        return NULL;
}

void device_describe(const Device *d, char *buf, size_t size) {
        switch (d->state) {
        case DEVICE_CONNECTED:
                if (d->peer_pid > 0)
                        snprintf(buf, size, "%s: serving pid %d%s%s%s", d->id, (int) d->peer_pid,
                                 d->peer_comm[0] ? " (" : "", d->peer_comm, d->peer_comm[0] ? ")" : "");
                else
                        snprintf(buf, size, "%s: serving a frontend", d->id);
                break;
        case DEVICE_CONNECTING:
                snprintf(buf, size, "%s: connecting to frontend at %s", d->id,
                         d->socket_path ? d->socket_path : "?");
                break;
        case DEVICE_WAITING:
                if (d->socket_path)
                        snprintf(buf, size, "%s: waiting for frontend on %s", d->id, d->socket_path);
                else
                        snprintf(buf, size, "%s: waiting for frontend on the activated socket", d->id);
                break;
        default:
                snprintf(buf, size, "%s: stopping", d->id);
        }
        /* Net devices add their link and polling mode (", link up, loopback, poll adaptive 50us"). */
        if (d->type == DEVICE_NET && size > 0) {
                size_t l = strnlen(buf, size - 1);

                net_describe(d, buf + l, size - l);
        }
}
