/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One control client's connection: reading a bounded chunk per wake-up
 * and splitting it into messages (vu-varlink's framer), buffering the
 * replies the socket does not take at once, keeping the epoll mask in
 * step, and dropping the client (closed at once, freed later from the
 * loop). What a message asks for is control-dispatch.c's business.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "control-server-internal.h"
#include "log.h"
#include "macro.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

static void client_update_events(ControlClient *c);

/* ---- client life cycle -------------------------------------------------- */

ControlClient *client_free(ControlClient *c) {
        if (!c)
                return NULL;
        if (c->stream_destroy)
                c->stream_destroy(c->stream_data);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->idle_timer);
        safe_close(c->fd);
        varlink_framer_done(&c->framer);
        free(c->out);
        free(c->groups);
        free(c);
        return NULL;
}

void client_drop(ControlClient *c, const char *why) {
        ControlServer *s = c->server;

        if (c->dead)
                return;
        log_debug("control: client %u (pid %d, uid %u) disconnected: %s", c->id, (int) c->ucred.pid,
                  (unsigned) c->ucred.uid, why);
        c->dead = true;
        /* Close now so the peer sees it at once; free later, from the loop. */
        c->io = sd_event_source_disable_unref(c->io);
        c->idle_timer = sd_event_source_disable_unref(c->idle_timer);
        c->fd = safe_close(c->fd);
        s->n_clients--;
        if (sd_event_source_set_enabled(s->reaper, SD_EVENT_ONESHOT) < 0)
                log_warning("control: cannot schedule freeing client %u, ignoring", c->id);
}

/* ---- output ------------------------------------------------------------- */

/* Write as much buffered output as the socket takes. Returns 0 or a negative errno (peer gone). */
static int client_flush(ControlClient *c) {
        while (c->out_start < c->out_end) {
                ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                c->out_start += (size_t) n;
        }
        if (c->out_start == c->out_end)
                c->out_start = c->out_end = 0;
        return 0;
}

/* Queue one message (takes @msg). Returns 0, or -ECONNRESET if the client is (now) gone. */
int client_send(ControlClient *c, json_object *msg) {
        _cleanup_free_ char *text = NULL;
        size_t len, pending;
        int r;

        if (!msg) {
                client_drop(c, "out of memory building a reply");
                return -ECONNRESET;
        }
        if (c->dead) {
                json_object_put(msg);
                return -ECONNRESET;
        }
        r = varlink_message_serialize(msg, &text, &len);
        json_object_put(msg);
        if (r < 0) {
                client_drop(c, "out of memory serialising a reply");
                return -ECONNRESET;
        }

        pending = c->out_end - c->out_start;
        if (pending + len > CONTROL_OUTPUT_MAX) {
                log_warning("control: client %u (pid %d) does not read its replies (%zu bytes unsent), "
                            "dropping it",
                            c->id, (int) c->ucred.pid, pending + len);
                client_drop(c, "output buffer full");
                return -ECONNRESET;
        }

        if (c->out_end + len > c->out_allocated) {
                size_t n;
                char *p;

                /* Move pending bytes to the front before growing. */
                if (c->out_start > 0) {
                        memmove(c->out, c->out + c->out_start, pending);
                        c->out_start = 0;
                        c->out_end = pending;
                }
                n = MAX(c->out_allocated * 2, c->out_end + len);
                n = MAX(n, (size_t) 4096);
                p = realloc(c->out, n);
                if (!p) {
                        client_drop(c, "out of memory buffering a reply");
                        return -ECONNRESET;
                }
                c->out = p;
                c->out_allocated = n;
        }
        memcpy(c->out + c->out_end, text, len);
        c->out_end += len;

        r = client_flush(c);
        if (r < 0) {
                client_drop(c, "peer closed the connection");
                return -ECONNRESET;
        }
        client_update_events(c);
        return 0;
}

static void client_update_events(ControlClient *c) {
        uint32_t events = 0;

        if (c->dead)
                return;
        if (!c->read_eof && !c->closing)
                events |= EPOLLIN;
        if (c->out_start < c->out_end)
                events |= EPOLLOUT;

        if (events == 0) {
                /* Nothing to read or write: done, unless a stream still feeds it. */
                if (c->closing || !c->streaming) {
                        client_drop(c, c->closing ? "closed after an error" : "peer finished");
                        return;
                }
        }
        if (sd_event_source_set_io_events(c->io, events) < 0)
                client_drop(c, "cannot update its event mask");
}

/* ---- input -------------------------------------------------------------- */

static void client_read(ControlClient *c) {
        const char *msg;
        size_t len, room;
        char *buf;
        ssize_t n;
        int r;

        r = varlink_framer_reserve(&c->framer, CONTROL_READ_CHUNK, &buf, &room);
        if (r < 0) {
                client_drop(c, "out of memory or over the message cap");
                return;
        }
        n = recv(c->fd, buf, room, MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                client_drop(c, "receive failed");
                return;
        }
        if (n == 0) {
                c->read_eof = true;
                if (varlink_framer_pending(&c->framer) > 0)
                        log_debug("control: client %u hung up in the middle of a message", c->id);
                client_update_events(c);
                return;
        }
        varlink_framer_commit(&c->framer, (size_t) n);
        if (c->idle_timer)
                (void) sd_event_source_set_time_relative(c->idle_timer, CONTROL_IDLE_TIMEOUT_USEC);

        while (!c->dead && !c->closing) {
                r = varlink_framer_next(&c->framer, &msg, &len);
                if (r == 0)
                        break;
                if (r < 0) {
                        json_object *p = json_object_new_object();

                        if (p)
                                json_object_object_add(p, VL_PARAM_MAX,
                                                       json_object_new_int64(VARLINK_MESSAGE_MAX));
                        log_notice("control: client %u (pid %d) sent a message over %u bytes, closing",
                                   c->id, (int) c->ucred.pid, VARLINK_MESSAGE_MAX);
                        client_error_now(c, VL_ERROR_MESSAGE_TOO_LARGE, p);
                        if (!c->dead) {
                                c->closing = true;
                                client_update_events(c);
                        }
                        return;
                }
                client_handle_message(c, msg, len);
        }
}

int client_io_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ControlClient *c = userdata;

        if (revents & EPOLLOUT) {
                if (client_flush(c) < 0) {
                        client_drop(c, "peer closed the connection");
                        return 0;
                }
                client_update_events(c);
                if (c->dead)
                        return 0;
        }
        if (revents & EPOLLIN) {
                client_read(c);
                return 0;
        }
        if (revents & (EPOLLHUP | EPOLLERR))
                client_drop(c, "connection closed");
        return 0;
}
