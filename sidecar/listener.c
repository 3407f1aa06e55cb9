/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vhost-user socket of a device, in its three modes.
 *
 * Server: the socket file is created under a umask that yields
 * --socket-mode directly (no window with a looser mode); a stale socket file
 * is replaced only if it is a socket nobody listens on. One frontend is
 * served at a time. While one is connected, another connection is accepted
 * and closed at once with a log line, rather than left pending: a pending
 * frontend would sit in its handshake waiting for a reply that never comes,
 * while a closed one fails (or, with QEMU's reconnect=, retries) visibly.
 * Before refusing, we check whether the current frontend has in fact hung
 * up: a restarted QEMU often connects before we have read the old one's
 * EOF, and it must get the device, not a refusal.
 *
 * Client: connect to the frontend's socket; on failure retry with an
 * exponential backoff from 100 ms to 5 s; after a disconnect, reconnect.
 *
 * Socket activation: the service manager hands us the listening socket
 * (or an already connected one with Accept=yes); we never unlink it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "sidecar.h"

#define RETRY_MIN_USEC (100 * 1000ULL)
#define RETRY_MAX_USEC (5 * 1000000ULL)

static int sockaddr_un_fill(struct sockaddr_un *sa, const char *path, socklen_t *ret_len) {
        size_t l = strlen(path);

        if (l == 0 || l >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        memcpy(sa->sun_path, path, l);
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + l + 1);
        return 0;
}

/* Returns 0 if nothing (or only a dead socket) is at @path, after removing it. */
static int socket_path_clear(Device *d) {
        struct sockaddr_un sa;
        struct stat st;
        socklen_t len;
        int fd, r;

        if (lstat(d->socket_path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "%s: Failed to check %s: %m", d->id, d->socket_path);
        }
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(EEXIST, "%s: Refusing to replace %s: it exists and is not a socket.",
                                       d->id, d->socket_path);

        /* A socket someone still listens on belongs to a running process: leave it. */
        r = sockaddr_un_fill(&sa, d->socket_path, &len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "%s: Failed to create a socket: %m", d->id);
        r = connect(fd, (struct sockaddr *) &sa, len);
        safe_close(fd);
        if (r == 0 || errno == EAGAIN)
                return log_error_errno(EADDRINUSE, "%s: %s is in use by a running process.", d->id,
                                       d->socket_path);

        if (unlink(d->socket_path) < 0 && errno != ENOENT)
                return log_error_errno(errno, "%s: Failed to remove the stale socket %s: %m", d->id,
                                       d->socket_path);
        log_info("%s: replaced the stale socket %s", d->id, d->socket_path);
        return 0;
}

static int device_on_listen(sd_event_source *source, int fd, uint32_t revents, void *userdata);

static int device_watch_listen_fd(Device *d) {
        int r;

        r = sd_event_add_io(d->sidecar->event, &d->listen_source, d->listen_fd, EPOLLIN, device_on_listen,
                            d);
        if (r < 0)
                return log_error_errno(r, "%s: Failed to watch the listening socket: %m", d->id);
        (void) sd_event_source_set_description(d->listen_source, "vhost-user-listen");
        d->state = DEVICE_WAITING;
        return 0;
}

static int device_bind(Device *d) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        socklen_t len;
        mode_t old_umask;
        int r;

        r = sockaddr_un_fill(&sa, d->socket_path, &len);
        if (r < 0)
                return log_error_errno(r, "%s: socket path %s: too long for a unix socket (max %zu bytes)",
                                       d->id, d->socket_path, sizeof(sa.sun_path) - 1);

        r = socket_path_clear(d);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "%s: Failed to create a socket: %m", d->id);

        /* bind() creates the file with 0777 & ~umask: make that the mode we want. */
        old_umask = umask(0777 & ~d->sidecar->options.socket_mode);
        r = bind(fd, (struct sockaddr *) &sa, len);
        umask(old_umask);
        if (r < 0)
                return log_error_errno(errno, "%s: Failed to bind %s: %m", d->id, d->socket_path);
        d->socket_created = true;

        if (listen(fd, 4) < 0)
                return log_error_errno(errno, "%s: Failed to listen on %s: %m", d->id, d->socket_path);

        d->listen_fd = TAKE_FD(fd);
        return device_watch_listen_fd(d);
}

static int device_on_retry(sd_event_source *source, uint64_t usec, void *userdata);

static int device_schedule_retry(Device *d) {
        uint64_t when = now_usec(CLOCK_MONOTONIC) + d->retry_usec;
        int r;

        d->state = DEVICE_CONNECTING;
        if (d->retry_timer) {
                r = sd_event_source_set_time(d->retry_timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(d->retry_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(d->sidecar->event, &d->retry_timer, CLOCK_MONOTONIC, when, 10 * 1000,
                                      device_on_retry, d);
        if (r < 0)
                return log_error_errno(r, "%s: Failed to schedule a reconnect: %m", d->id);
        return 0;
}

/* One connection attempt. Returns 1 if connected, 0 if a retry was scheduled. */
static int device_try_connect(Device *d) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        socklen_t len;
        int r;

        r = sockaddr_un_fill(&sa, d->socket_path, &len);
        if (r < 0)
                return log_error_errno(r, "%s: socket path %s: too long for a unix socket", d->id,
                                       d->socket_path);

        /* Non-blocking, so a frontend with a full backlog cannot stall the loop (EAGAIN: retry). */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "%s: Failed to create a socket: %m", d->id);
        if (connect(fd, (struct sockaddr *) &sa, len) < 0) {
                log_full_errno(d->retry_usec <= RETRY_MIN_USEC ? LOG_INFO : LOG_DEBUG, errno,
                               "%s: frontend socket %s not ready (%m), retrying in %llu ms", d->id,
                               d->socket_path, (unsigned long long) (d->retry_usec / 1000));
                r = device_schedule_retry(d);
                d->retry_usec = MIN(d->retry_usec * 2, RETRY_MAX_USEC);
                return r < 0 ? r : 0;
        }

        /* The library reads whole messages with blocking reads. */
        r = fcntl(fd, F_GETFL);
        if (r < 0 || fcntl(fd, F_SETFL, r & ~O_NONBLOCK) < 0)
                return log_error_errno(errno, "%s: Failed to make the connection blocking: %m", d->id);

        d->retry_usec = RETRY_MIN_USEC;
        r = device_attach(d, TAKE_FD(fd));
        return r < 0 ? r : 1;
}

static int device_on_retry(sd_event_source *source, uint64_t usec, void *userdata) {
        Device *d = userdata;

        if (d->sidecar->stopping || d->vu_ready)
                return 0;
        (void) device_try_connect(d);
        return 0;
}

/* The current frontend has hung up but we have not read its EOF yet. */
static bool device_peer_gone(Device *d) {
        struct pollfd p = {.fd = d->conn_fd, .events = POLLRDHUP};

        if (d->conn_fd < 0)
                return true;
        if (poll(&p, 1, 0) <= 0)
                return false;
        return p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL);
}

static int device_on_listen(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Device *d = userdata;
        int conn;

        if (d->vu_ready && device_peer_gone(d))
                device_detach(d, "the frontend closed the connection");

        conn = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "%s: Failed to accept a connection, ignoring: %m", d->id);
                return 0;
        }

        if (d->vu_ready || d->sidecar->stopping) {
                struct ucred cred = {};
                socklen_t len = sizeof(cred);

                (void) getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len);
                log_warning("%s: refusing a second frontend (pid %d): already serving pid %d%s", d->id,
                            (int) cred.pid, (int) d->peer_pid, d->sidecar->stopping ? " (stopping)" : "");
                d->connections_refused++;
                safe_close(conn);
                return 0;
        }

        (void) device_attach(d, conn);
        return 0;
}

int device_listen(Device *d, int activated_fd) {
        int r;

        if (activated_fd >= 0) {
                int listening = 0;
                socklen_t len = sizeof(listening);

                d->socket_activated = true;
                if (getsockopt(activated_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
                        return log_error_errno(errno, "%s: the activated fd %d is not a socket: %m", d->id,
                                               activated_fd);
                if (!listening) {
                        /* Accept=yes: the service manager already accepted the frontend. */
                        log_info("%s: serving the frontend connected on the activated socket", d->id);
                        r = fcntl(activated_fd, F_GETFL);
                        if (r >= 0)
                                (void) fcntl(activated_fd, F_SETFL, r & ~O_NONBLOCK);
                        return device_attach(d, activated_fd);
                }
                r = fcntl(activated_fd, F_GETFL);
                if (r >= 0)
                        (void) fcntl(activated_fd, F_SETFL, r | O_NONBLOCK);
                d->listen_fd = activated_fd;
                log_info("%s: listening on the activated socket%s%s", d->id, d->socket_path ? " " : "",
                         d->socket_path ? d->socket_path : "");
                return device_watch_listen_fd(d);
        }

        if (!d->socket_path)
                return log_error_errno(EINVAL, "%s: no socket path", d->id);

        if (d->mode == DEVICE_SOCKET_CLIENT) {
                d->retry_usec = RETRY_MIN_USEC;
                r = device_try_connect(d);
                return r < 0 ? r : 0;
        }

        r = device_bind(d);
        if (r < 0)
                return r;
        log_info("%s: waiting for a frontend on %s", d->id, d->socket_path);
        return 0;
}

void device_stop_listening(Device *d) {
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        if (d->listen_source)
                (void) sd_event_source_set_enabled(d->listen_source, SD_EVENT_OFF);
}

void device_wait_for_frontend(Device *d) {
        if (d->sidecar->stopping) {
                d->state = DEVICE_STOPPED;
                return;
        }
        if (d->mode == DEVICE_SOCKET_CLIENT && !d->socket_activated) {
                d->retry_usec = RETRY_MIN_USEC;
                (void) device_schedule_retry(d);
                return;
        }
        d->state = d->listen_fd >= 0 ? DEVICE_WAITING : DEVICE_STOPPED;
        if (d->listen_fd < 0) {
                /* An Accept=yes connection is gone and there is nothing to listen on: we are done. */
                log_info("%s: the activated connection ended; nothing more to serve", d->id);
                sidecar_check_stopped(d->sidecar);
        }
}
