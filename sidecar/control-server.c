/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's varlink server (see control-server.h for the
 * contract): its life cycle, the listening socket (bound under a
 * temporary name and renamed into place, or socket-activated), and
 * accepting clients: SO_PEERCRED and groups, the CONTROL_CLIENTS_MAX
 * limit with slots reserved for privileged callers, refusals that are
 * answered before the socket closes, and idle timeouts. A client's
 * connection is in control-connection.c, its calls in control-dispatch.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-server-internal.h"
#include "log.h"
#include "macro.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

/* A connection refused for lack of slots: answered, shut down for writing, drained, then closed. */
struct ControlRefusal {
        ControlServer *server;
        struct ControlRefusal *next;
        int fd;
        sd_event_source *io;
        sd_event_source *timer;
};

/* ---- accepting ---------------------------------------------------------- */

static int client_idle_handler(sd_event_source *source, uint64_t usec, void *userdata) {
        ControlClient *c = userdata;

        /* A stream is quiet by nature: it is ended by the client or by not reading. */
        if (c->streaming || c->out_start < c->out_end) {
                (void) sd_event_source_set_time_relative(source, CONTROL_IDLE_TIMEOUT_USEC);
                (void) sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
                return 0;
        }
        log_debug("control: client %u (pid %d) idle for %llu s, closing", c->id, (int) c->ucred.pid,
                  (unsigned long long) (CONTROL_IDLE_TIMEOUT_USEC / 1000000));
        client_drop(c, "idle");
        return 0;
}

static void client_fetch_groups(ControlClient *c) {
        socklen_t len = 64 * sizeof(gid_t);

        for (int attempt = 0; attempt < 2; attempt++) {
                gid_t *g = realloc(c->groups, len);

                if (!g)
                        return;
                c->groups = g;
                if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) == 0) {
                        c->n_groups = len / sizeof(gid_t);
                        return;
                }
                if (errno != ERANGE)
                        break;
        }
        log_debug("control: cannot get the groups of client %u's peer, only its primary group counts",
                  c->id);
        c->n_groups = 0;
}

static ControlRefusal *refusal_free(ControlRefusal *f) {
        if (!f)
                return NULL;
        sd_event_source_disable_unref(f->io);
        sd_event_source_disable_unref(f->timer);
        safe_close(f->fd);
        free(f);
        return NULL;
}

static void refusal_done(ControlRefusal *f) {
        ControlServer *s = f->server;

        for (ControlRefusal **p = &s->refusals; *p; p = &(*p)->next)
                if (*p == f) {
                        *p = f->next;
                        s->n_refusals--;
                        break;
                }
        refusal_free(f);
}

/* Read and discard what the refused peer sends (its call) until it hangs up. */
static int refusal_io_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ControlRefusal *f = userdata;
        char buf[4096];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
                return 0;
        refusal_done(f);
        return 0;
}

static int refusal_timer_handler(sd_event_source *source, uint64_t usec, void *userdata) {
        refusal_done(userdata);
        return 0;
}

/*
 * Answer @fd with TooManyClients (@max: the limit that applied to this caller) and close it without
 * losing the answer: a peer that sends its call after we closed gets EPIPE and never reads the
 * error; one whose call was unread when we closed may see a reset. So shut down our sending side
 * only, read and drop what the peer sends until it hangs up or CONTROL_REFUSAL_LINGER_USEC pass,
 * then close. Takes @fd.
 */
static void refuse_client(ControlServer *s, int fd, unsigned max) {
        json_object *p = json_object_new_object(), *msg;
        _cleanup_free_ char *text = NULL;
        ControlRefusal *f = NULL;
        size_t len;
        int r;

        if (p)
                json_object_object_add(p, VL_PARAM_MAX, json_object_new_int(max));
        msg = varlink_error_build(VL_ERROR_TOO_MANY_CLIENTS, p);
        if (msg && varlink_message_serialize(msg, &text, &len) == 0)
                (void) !send(fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        json_object_put(msg);
        (void) shutdown(fd, SHUT_WR);

        if (s->n_refusals >= CONTROL_REFUSALS_MAX)
                goto close; /* a flood: do not let refusals pile up either */
        f = calloc(1, sizeof(*f));
        if (!f)
                goto close;
        f->server = s;
        f->fd = fd;
        r = sd_event_add_io(s->event, &f->io, fd, EPOLLIN, refusal_io_handler, f);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &f->timer, CLOCK_MONOTONIC,
                                               CONTROL_REFUSAL_LINGER_USEC, 0, refusal_timer_handler, f);
        if (r < 0) {
                f->fd = -EBADF;
                refusal_free(f);
                goto close;
        }
        f->next = s->refusals;
        s->refusals = f;
        s->n_refusals++;
        return;
close:
        safe_close(fd);
}

static int accept_retry_handler(sd_event_source *source, uint64_t usec, void *userdata) {
        ControlServer *s = userdata;

        (void) sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
        return 0;
}

static int listen_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ControlServer *s = userdata;
        _cleanup_close_ int cfd = -EBADF;
        socklen_t len = sizeof(struct ucred);
        ControlClient *c;
        unsigned limit;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                log_warning_errno(-errno, "control: accept() failed: %m; pausing for a second");
                /* EMFILE and friends would fire again at once: pause instead of spinning. */
                (void) sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF);
                s->accept_retry = sd_event_source_disable_unref(s->accept_retry);
                r = sd_event_add_time_relative(s->event, &s->accept_retry, CLOCK_MONOTONIC, 1000000, 0,
                                               accept_retry_handler, s);
                if (r < 0)
                        (void) sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c) {
                log_oom();
                return 0;
        }
        c->server = s;
        c->fd = TAKE_FD(cfd);
        varlink_framer_init(&c->framer, VARLINK_MESSAGE_MAX);
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &c->ucred, &len) < 0) {
                /* Unknown peers are treated as strangers: uid -1 is never privileged. */
                log_warning_errno(-errno,
                                  "control: SO_PEERCRED failed: %m, treating the peer as unprivileged");
                c->ucred = (struct ucred){.pid = 0, .uid = (uid_t) -1, .gid = (gid_t) -1};
        }
        if (s->have_group)
                client_fetch_groups(c);

        /* The last CONTROL_CLIENTS_RESERVED slots are for privileged callers only. */
        limit = control_client_is_privileged(c) ? CONTROL_CLIENTS_MAX
                                                : CONTROL_CLIENTS_MAX - CONTROL_CLIENTS_RESERVED;
        if (s->n_clients >= limit) {
                log_warning("control: %u clients connected already, refusing another (pid %d, uid %u%s)",
                            s->n_clients, (int) c->ucred.pid, (unsigned) c->ucred.uid,
                            limit < CONTROL_CLIENTS_MAX ? ", unprivileged: the last slots are reserved"
                                                        : "");
                refuse_client(s, TAKE_FD(c->fd), limit);
                client_free(c);
                return 0;
        }
        c->id = ++s->next_id;

        r = sd_event_add_io(s->event, &c->io, c->fd, EPOLLIN, client_io_handler, c);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &c->idle_timer, CLOCK_MONOTONIC,
                                               CONTROL_IDLE_TIMEOUT_USEC, 0, client_idle_handler, c);
        if (r < 0) {
                log_warning_errno(r, "control: cannot watch a new client: %m");
                client_free(c);
                return 0;
        }
        c->next = s->clients;
        s->clients = c;
        s->n_clients++;
        log_debug("control: client %u connected (pid %d, uid %u, gid %u)", c->id, (int) c->ucred.pid,
                  (unsigned) c->ucred.uid, (unsigned) c->ucred.gid);
        return 0;
}

/* ---- the server --------------------------------------------------------- */

/* Free the dropped clients, from the loop (client_drop() schedules this). */
static int reaper_handler(sd_event_source *source, void *userdata) {
        ControlServer *s = userdata;

        for (ControlClient **p = &s->clients; *p;) {
                ControlClient *c = *p;

                if (c->dead) {
                        *p = c->next;
                        client_free(c);
                } else
                        p = &c->next;
        }
        return 0;
}

int control_server_new(sd_event *event, const ControlInterface *iface, void *userdata, ControlServer **ret) {
        ControlServer *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->iface = iface;
        s->userdata = userdata;
        s->listen_fd = -EBADF;

        r = sd_event_add_defer(event, &s->reaper, reaper_handler, s);
        if (r < 0) {
                control_server_free(s);
                return r;
        }
        (void) sd_event_source_set_enabled(s->reaper, SD_EVENT_OFF);
        *ret = s;
        return 0;
}

ControlServer *control_server_free(ControlServer *s) {
        if (!s)
                return NULL;
        while (s->clients) {
                ControlClient *c = s->clients;

                s->clients = c->next;
                client_free(c);
        }
        while (s->refusals) {
                ControlRefusal *f = s->refusals;

                s->refusals = f->next;
                refusal_free(f);
        }
        sd_event_source_disable_unref(s->reaper);
        sd_event_source_disable_unref(s->accept_retry);
        sd_event_source_disable_unref(s->listen_source);
        safe_close(s->listen_fd);
        if (s->path_created && s->path)
                (void) unlink(s->path);
        free(s->path);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void control_server_set_group(ControlServer *s, gid_t gid) {
        s->group = gid;
        s->have_group = true;
}

unsigned control_server_n_clients(const ControlServer *s) {
        return s->n_clients;
}

const char *control_server_get_path(const ControlServer *s) {
        return s->path;
}

static int server_watch(ControlServer *s, int fd) {
        int r;

        r = sd_event_add_io(s->event, &s->listen_source, fd, EPOLLIN, listen_handler, s);
        if (r < 0)
                return r;
        s->listen_fd = fd;
        return 0;
}

/* Is something answering on @sa? Then the path is in use and must not be replaced. */
static bool socket_is_live(const struct sockaddr_un *sa, socklen_t salen) {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return true; /* cannot tell: be safe */
        if (connect(fd, (const struct sockaddr *) sa, salen) == 0)
                return true;
        return errno != ECONNREFUSED && errno != ENOENT;
}

int control_server_listen(ControlServer *s, const char *path, mode_t mode) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX}, tmp = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *copy = NULL;
        socklen_t salen, tmplen;
        struct stat st;
        size_t len;
        mode_t old_umask;
        int r;

        if (s->listen_fd >= 0)
                return -EBUSY;
        len = strlen(path);
        if (len == 0 || len >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1);

        /* Bound and listening under a temporary name first, then renamed into place:
         * whoever sees the path can connect (no window between bind() and listen()). */
        r = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d.tmp", path, (int) getpid());
        if (r < 0 || (size_t) r >= sizeof(tmp.sun_path))
                return -EINVAL;
        tmplen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + (size_t) r + 1);

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        /* A socket left behind by a daemon that died is replaced; a live one is not. */
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (socket_is_live(&sa, salen))
                        return -EADDRINUSE;
        }

        (void) unlink(tmp.sun_path);
        /* The umask makes the socket no more open than @mode from its first moment. */
        old_umask = umask(~mode & 0777);
        r = bind(fd, (struct sockaddr *) &tmp, tmplen);
        if (r < 0)
                r = -errno;
        umask(old_umask);
        if (r < 0)
                return r;

        if (chmod(tmp.sun_path, mode) < 0)
                log_warning_errno(-errno, "control: cannot chmod %s to %04o: %m, ignoring", path, mode);
        if (s->have_group && chown(tmp.sun_path, (uid_t) -1, s->group) < 0)
                log_warning_errno(-errno, "control: cannot give %s to group %u: %m, ignoring", path,
                                  (unsigned) s->group);
        if (listen(fd, SOMAXCONN) < 0 || rename(tmp.sun_path, path) < 0) {
                r = -errno;
                (void) unlink(tmp.sun_path);
                return r;
        }
        s->path = TAKE_PTR(copy);
        s->path_created = true;

        r = server_watch(s, fd);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        return 0;
}

int control_server_adopt_fd(ControlServer *s, int fd) {
        struct sockaddr_un sa = {};
        socklen_t salen = sizeof(sa);
        int type = 0, listening = 0, flags;
        socklen_t len = sizeof(int);
        int r;

        if (s->listen_fd >= 0)
                return -EBUSY;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
                return -errno;
        len = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
                return -errno;
        if (getsockname(fd, (struct sockaddr *) &sa, &salen) < 0)
                return -errno;
        if (sa.sun_family != AF_UNIX || type != SOCK_STREAM || !listening)
                return -EINVAL;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);

        if (salen > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] != 0) {
                s->path = strndup(sa.sun_path, salen - offsetof(struct sockaddr_un, sun_path));
                if (!s->path)
                        return -ENOMEM;
        }
        r = server_watch(s, fd);
        if (r < 0)
                return r;
        return 0;
}
