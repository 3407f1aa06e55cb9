/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's varlink server (see control-server.h for the
 * contract). Everything runs on the daemon's sd-event loop and nothing
 * blocks it: sockets are non-blocking, each wake-up reads a bounded chunk,
 * replies that do not fit in the kernel's buffer wait in a per-client
 * buffer, and a client whose buffer passes CONTROL_OUTPUT_MAX is dropped.
 * Dropped clients are freed from a deferred event source, so a handler or
 * an event stream never sees a client vanish under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-server.h"
#include "log.h"
#include "macro.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

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

/* A connection refused for lack of slots: answered, shut down for writing, drained, then closed. */
typedef struct ControlRefusal {
        ControlServer *server;
        struct ControlRefusal *next;
        int fd;
        sd_event_source *io;
        sd_event_source *timer;
} ControlRefusal;

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

/* The org.varlink.service interface, as every varlink service offers it. */
static const char varlink_service_description[] =
        "# The Varlink Service Interface is provided by every varlink service. It\n"
        "# describes the service and the interfaces it implements.\n"
        "interface org.varlink.service\n"
        "\n"
        "method GetInfo() -> (\n"
        "  vendor: string,\n"
        "  product: string,\n"
        "  version: string,\n"
        "  url: string,\n"
        "  interfaces: []string\n"
        ")\n"
        "\n"
        "method GetInterfaceDescription(interface: string) -> (description: string)\n"
        "\n"
        "error InterfaceNotFound (interface: string)\n"
        "error MethodNotFound (method: string)\n"
        "error MethodNotImplemented (method: string)\n"
        "error InvalidParameter (parameter: string)\n"
        "error PermissionDenied ()\n"
        "error ExpectedMore ()\n";

static void client_update_events(ControlClient *c);
static void client_drop(ControlClient *c, const char *why);

/* ---- client life cycle -------------------------------------------------- */

static ControlClient *client_free(ControlClient *c) {
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

static void client_drop(ControlClient *c, const char *why) {
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
static int client_send(ControlClient *c, json_object *msg) {
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

/* ---- replying ----------------------------------------------------------- */

/* Whether the current call still wants an answer; marks it answered. */
static bool call_take_answer(ControlClient *c) {
        if (!c->in_call || c->call_answered)
                return false;
        c->call_answered = true;
        return !(c->call_flags & VARLINK_CALL_ONEWAY);
}

int control_client_reply(ControlClient *c, json_object *parameters) {
        if (!call_take_answer(c)) {
                json_object_put(parameters);
                return 0;
        }
        return client_send(c, varlink_reply_build(parameters, false));
}

int control_client_error(ControlClient *c, const char *error, json_object *parameters) {
        if (!call_take_answer(c)) {
                json_object_put(parameters);
                return 0;
        }
        log_debug("control: client %u: %s", c->id, error);
        return client_send(c, varlink_error_build(error, parameters));
}

/* An error outside any call (framing, bad JSON): always sent. */
static int client_error_now(ControlClient *c, const char *error, json_object *parameters) {
        log_debug("control: client %u (pid %d): %s", c->id, (int) c->ucred.pid, error);
        return client_send(c, varlink_error_build(error, parameters));
}

static json_object *params_with_string(const char *key, const char *value) {
        json_object *p = json_object_new_object();

        if (p)
                json_object_object_add(p, key, json_object_new_string(value));
        return p;
}

int control_client_error_invalid_parameter(ControlClient *c, const char *parameter, const char *format,
                                           ...) {
        const char *error = c->server->iface->invalid_parameter_error;
        json_object *p = params_with_string(VL_PARAM_PARAMETER, parameter);

        if (!error) {
                log_debug("control: client %u: parameter %s refused", c->id, parameter);
                return control_client_error(c, VARLINK_ERROR_INVALID_PARAMETER, p);
        }
        if (p && format) {
                _cleanup_free_ char *reason = NULL;
                va_list ap;
                int r;

                va_start(ap, format);
                r = vasprintf(&reason, format, ap);
                va_end(ap);
                if (r >= 0) {
                        log_debug("control: client %u: parameter %s refused: %s", c->id, parameter, reason);
                        json_object_object_add(p, VL_PARAM_REASON, json_object_new_string(reason));
                }
        }
        return control_client_error(c, error, p);
}

int control_client_error_errno(ControlClient *c, int error, const char *format, ...) {
        _cleanup_free_ char *text = NULL, *message = NULL;
        json_object *p;
        va_list ap;
        int r;

        error = abs(error);
        va_start(ap, format);
        r = vasprintf(&text, format, ap);
        va_end(ap);
        if (r < 0)
                text = NULL;
        if (asprintf(&message, "%s: %s", text ?: "failed", strerror(error)) < 0)
                message = NULL;

        p = json_object_new_object();
        if (p) {
                json_object_object_add(p, VL_PARAM_MESSAGE, json_object_new_string(message ?: "failed"));
                json_object_object_add(p, VL_PARAM_ERRNO, json_object_new_int(error));
        }
        return control_client_error(c, VL_ERROR_FAILED, p);
}

int control_client_start_stream(ControlClient *c, void *data, void (*destroy)(void *data)) {
        if (c->streaming)
                return -EBUSY;
        if (!c->in_call || !(c->call_flags & VARLINK_CALL_MORE))
                return -EINVAL;
        c->streaming = true;
        c->call_answered = true;
        c->stream_data = data;
        c->stream_destroy = destroy;
        return 0;
}

int control_client_notify(ControlClient *c, json_object *parameters) {
        if (c->dead || !c->streaming) {
                json_object_put(parameters);
                return -ECONNRESET;
        }
        return client_send(c, varlink_reply_build(parameters, true));
}

const struct ucred *control_client_get_ucred(const ControlClient *c) {
        return &c->ucred;
}

bool control_client_is_privileged(const ControlClient *c) {
        const ControlServer *s = c->server;

        if (c->ucred.uid == 0 || c->ucred.uid == geteuid())
                return true;
        if (!s->have_group)
                return false;
        if (c->ucred.gid == s->group)
                return true;
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i] == s->group)
                        return true;
        return false;
}

/* ---- dispatch ----------------------------------------------------------- */

static int builtin_get_info(ControlClient *c, json_object *parameters) {
        const ControlInterface *iface = c->server->iface;
        json_object *p, *list;

        p = json_object_new_object();
        list = json_object_new_array();
        if (!p || !list) {
                json_object_put(p);
                json_object_put(list);
                return -ENOMEM;
        }
        json_object_array_add(list, json_object_new_string("org.varlink.service"));
        json_object_array_add(list, json_object_new_string(iface->name));
        json_object_object_add(p, "vendor", json_object_new_string(iface->vendor ?: ""));
        json_object_object_add(p, "product", json_object_new_string(iface->product ?: ""));
        json_object_object_add(p, "version", json_object_new_string(iface->version ?: ""));
        json_object_object_add(p, "url", json_object_new_string(iface->url ?: ""));
        json_object_object_add(p, "interfaces", list);
        return control_client_reply(c, p);
}

static int builtin_get_interface_description(ControlClient *c, json_object *parameters) {
        static const char *const known[] = {"interface", NULL};
        const char *name = NULL, *unknown = NULL, *text;
        int r;

        /* org.varlink.service's own errors, as its IDL declares them: InvalidParameter (parameter). */
        if (varlink_params_check_known(parameters, known, &unknown) < 0)
                return control_client_error(c, VARLINK_ERROR_INVALID_PARAMETER,
                                            params_with_string(VL_PARAM_PARAMETER, unknown));
        r = varlink_param_string(parameters, "interface", true, &name);
        if (r < 0)
                return control_client_error(c, VARLINK_ERROR_INVALID_PARAMETER,
                                            params_with_string(VL_PARAM_PARAMETER, "interface"));

        if (strcmp(name, "org.varlink.service") == 0)
                text = varlink_service_description;
        else if (strcmp(name, c->server->iface->name) == 0)
                text = c->server->iface->description;
        else
                return control_client_error(c, VARLINK_ERROR_INTERFACE_NOT_FOUND,
                                            params_with_string("interface", name));

        return control_client_reply(c, params_with_string("description", text));
}

static const ControlMethod *server_find_method(const ControlServer *s, const char *name) {
        for (size_t i = 0; i < s->iface->n_methods; i++)
                if (strcmp(s->iface->methods[i].name, name) == 0)
                        return &s->iface->methods[i];
        return NULL;
}

static void client_dispatch(ControlClient *c, const VarlinkCall *call) {
        ControlServer *s = c->server;
        const ControlMethod *m;
        const char *dot;
        int r = 0;

        log_debug("control: client %u (pid %d, uid %u) calls %s", c->id, (int) c->ucred.pid,
                  (unsigned) c->ucred.uid, call->method);

        if (strcmp(call->method, VARLINK_SERVICE_GET_INFO) == 0) {
                r = builtin_get_info(c, call->parameters);
                goto finish;
        }
        if (strcmp(call->method, VARLINK_SERVICE_GET_INTERFACE_DESCRIPTION) == 0) {
                r = builtin_get_interface_description(c, call->parameters);
                goto finish;
        }

        m = server_find_method(s, call->method);
        if (!m) {
                dot = strrchr(call->method, '.');
                if (!dot || (size_t) (dot - call->method) != strlen(s->iface->name) ||
                    strncmp(call->method, s->iface->name, (size_t) (dot - call->method)) != 0) {
                        _cleanup_free_ char *iface = strndup(
                                call->method, dot ? (size_t) (dot - call->method) : strlen(call->method));

                        r = control_client_error(c, VARLINK_ERROR_INTERFACE_NOT_FOUND,
                                                 params_with_string("interface", iface ?: ""));
                } else
                        r = control_client_error(c, VARLINK_ERROR_METHOD_NOT_FOUND,
                                                 params_with_string("method", call->method));
                goto finish;
        }

        if ((m->flags & CONTROL_METHOD_MUTATING) && !control_client_is_privileged(c)) {
                /* The standard error, as org.varlink.service declares it: no parameters. The caller
                 * knows what it called and who it is; the log says it for the operator. */
                log_notice("control: refused %s to pid %d uid %u: not our uid, root or the control group",
                           call->method, (int) c->ucred.pid, (unsigned) c->ucred.uid);
                r = control_client_error(c, VARLINK_ERROR_PERMISSION_DENIED, NULL);
                goto finish;
        }
        if ((m->flags & CONTROL_METHOD_STREAM) && !(call->flags & VARLINK_CALL_MORE)) {
                r = control_client_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL);
                goto finish;
        }

        r = m->handler(c, call->parameters, call->flags, s->userdata);

finish:
        if (!c->dead && !c->call_answered) {
                if (r < 0)
                        control_client_error_errno(c, r, "%s failed", call->method);
                else
                        control_client_error_errno(c, EPROTO, "%s gave no reply", call->method);
        }
}

static void client_handle_message(ControlClient *c, const char *text, size_t len) {
        _cleanup_(json_object_putp) json_object *msg = NULL;
        VarlinkParseError perr = {};
        const char *bad = NULL;
        VarlinkCall call;
        json_object *p;
        int r;

        r = varlink_json_parse(text, len, &msg, &perr);
        if (r == -ENOMEM) {
                client_drop(c, "out of memory parsing a call");
                return;
        }
        if (r < 0) {
                p = params_with_string(VL_PARAM_REASON, perr.reason[0] ? perr.reason : "invalid JSON");
                if (p)
                        json_object_object_add(p, VL_PARAM_OFFSET,
                                               json_object_new_int64((int64_t) perr.offset));
                client_error_now(c, VL_ERROR_INVALID_MESSAGE, p);
                return;
        }

        if (!json_object_is_type(msg, json_type_object)) {
                _cleanup_free_ char *reason = NULL;
                size_t start = 0;

                while (start < len && strchr(" \t\r\n", text[start]))
                        start++;
                if (asprintf(&reason,
                             "the message is a JSON %s, not an object: a varlink call is one JSON object, "
                             "{\"method\": \"interface.Method\", \"parameters\": {…}}",
                             varlink_json_type_name(msg)) < 0)
                        reason = NULL;
                p = params_with_string(VL_PARAM_REASON, reason ?: "the message is not a JSON object");
                if (p)
                        json_object_object_add(p, VL_PARAM_OFFSET, json_object_new_int64((int64_t) start));
                client_error_now(c, VL_ERROR_INVALID_MESSAGE, p);
                return;
        }

        r = varlink_call_parse(msg, &call, &bad);
        if (r == -ENOMEM) {
                client_drop(c, "out of memory parsing a call");
                return;
        }
        if (r < 0) {
                _cleanup_free_ char *reason = NULL;

                if (asprintf(&reason, "not a varlink call: field '%s' is missing or of the wrong type",
                             bad) < 0)
                        reason = NULL;
                client_error_now(c, VL_ERROR_INVALID_MESSAGE,
                                 params_with_string(VL_PARAM_REASON, reason ?: "not a varlink call"));
                return;
        }

        c->in_call = true;
        c->call_answered = false;
        c->call_flags = call.flags;
        client_dispatch(c, &call);
        c->in_call = false;
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

static int client_io_handler(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
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
