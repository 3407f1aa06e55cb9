/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What happens to one control call: the message is parsed as strict JSON
 * and checked to be a varlink call (errors say what is wrong and where),
 * org.varlink.service's GetInfo and GetInterfaceDescription are answered
 * here, mutating methods are refused to unprivileged peers (SO_PEERCRED:
 * our uid, root or the control group), and everything else goes to the
 * interface's method table. The replying functions handlers call are
 * here too, and make sure each call is answered exactly once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control-server-internal.h"
#include "log.h"
#include "macro.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

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
int client_error_now(ControlClient *c, const char *error, json_object *parameters) {
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

void client_handle_message(ControlClient *c, const char *text, size_t len) {
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
