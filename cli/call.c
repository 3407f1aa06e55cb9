/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl's side of the control socket: connecting (with an error that says
 * what to do when nobody is there), calling a method, and turning the
 * daemon's error replies into sentences. Exit codes follow the contract in
 * vuctl.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vuctl.h"

int vuctl_connect(Vuctl *ctx) {
        int r;

        if (ctx->client)
                return VUCTL_EXIT_OK;
        r = varlink_client_connect(ctx->socket_path, &ctx->client);
        if (r < 0) {
                if (r == -EINVAL)
                        fprintf(stderr, "vuctl: cannot connect to %s: path too long for a unix socket\n",
                                ctx->socket_path);
                else if (r == -EACCES)
                        fprintf(stderr,
                                "vuctl: cannot connect to %s: %s — run as the sidecar's user or root, or as "
                                "a "
                                "member of its --control-group\n",
                                ctx->socket_path, strerror(-r));
                else
                        fprintf(stderr,
                                "vuctl: cannot connect to %s: %s — is vu-sidecar running? (--socket, "
                                "$VUCTL_SOCKET)\n",
                                ctx->socket_path, strerror(-r));
                return VUCTL_EXIT_CONNECT;
        }
        return VUCTL_EXIT_OK;
}

json_object *vuctl_device_params(const Vuctl *ctx) {
        json_object *p = json_object_new_object();

        if (p && ctx->device)
                json_object_object_add(p, VL_PARAM_DEVICE, json_object_new_string(ctx->device));
        return p;
}

static char *join_array(json_object *a) {
        char *s = format_string_array(a);

        return s;
}

/* "io.vusidecar.SetLogLevel" → "SetLogLevel", for messages. */
static const char *short_name(const char *name) {
        const char *dot = name ? strrchr(name, '.') : NULL;

        return dot ? dot + 1 : name ?: "?";
}

void vuctl_print_error(const char *method, const char *error, json_object *p) {
        char b1[32], b2[32];

        if (strcmp(error, VL_ERROR_NO_SUCH_DEVICE) == 0) {
                _cleanup_free_ char *list = join_array(json_get(p, VL_PARAM_DEVICES));

                fprintf(stderr, "vuctl: the sidecar has no device '%s' (it has: %s)\n",
                        json_get_str(p, VL_PARAM_DEVICE, "?"), list ?: "?");
        } else if (strcmp(error, VL_ERROR_DEVICE_REQUIRED) == 0) {
                _cleanup_free_ char *list = join_array(json_get(p, VL_PARAM_DEVICES));

                fprintf(stderr,
                        "vuctl: the sidecar serves several devices (%s): name one with --device ID\n",
                        list ?: "?");
        } else if (strcmp(error, VL_ERROR_NO_SUCH_QUEUE) == 0)
                fprintf(stderr,
                        "vuctl: device %s has no queue %" PRIi64 " (it has %" PRIi64 " queue%s, 0…%" PRIi64
                        ")\n",
                        json_get_str(p, VL_PARAM_DEVICE, "?"), json_get_int(p, VL_PARAM_QUEUE, -1),
                        json_get_int(p, VL_PARAM_QUEUES, 0),
                        json_get_int(p, VL_PARAM_QUEUES, 0) == 1 ? "" : "s",
                        json_get_int(p, VL_PARAM_QUEUES, 0) - 1);
        else if (strcmp(error, VL_ERROR_QUEUE_NOT_READY) == 0)
                fprintf(stderr,
                        "vuctl: queue %" PRIi64
                        " of %s is not set up yet (no frontend, or the driver has not "
                        "started it)\n",
                        json_get_int(p, VL_PARAM_QUEUE, -1), json_get_str(p, VL_PARAM_DEVICE, "?"));
        else if (strcmp(error, VL_ERROR_NOT_SUPPORTED) == 0)
                fprintf(stderr, "vuctl: %s%s%s\n", json_get_str(p, VL_PARAM_DEVICE, ""),
                        json_get(p, VL_PARAM_DEVICE) ? ": " : "",
                        json_get_str(p, VL_PARAM_WHAT, "not supported"));
        else if (strcmp(error, VL_ERROR_FAILED) == 0)
                fprintf(stderr, "vuctl: the sidecar failed: %s\n", json_get_str(p, VL_PARAM_MESSAGE, "?"));
        else if (strcmp(error, VL_ERROR_SHRINK_REFUSED) == 0) {
                uint64_t size = json_get_uint(p, VL_PARAM_SIZE, 0),
                         cur = json_get_uint(p, VL_PARAM_CURRENT_SIZE, 0);

                char exact[32];

                fprintf(stderr,
                        "vuctl: %s is %s (%" PRIu64 " bytes); resizing it to %s (%" PRIu64
                        " bytes) would shrink it and destroy the data past the new end. If that is "
                        "what you want: vuctl resize --shrink %s\n",
                        json_get_str(p, VL_PARAM_DEVICE, "?"), format_bytes(b1, sizeof(b1), cur), cur,
                        format_bytes(b2, sizeof(b2), size), size,
                        format_size_exact(exact, sizeof(exact), size));
        } else if (strcmp(error, VL_ERROR_DEVICE_READ_ONLY) == 0)
                fprintf(stderr,
                        "vuctl: %s is read-only, and a read-only device keeps its size too: 'vuctl set "
                        "read-only off' first (a device started with read-only=on stays read-only)\n",
                        json_get_str(p, VL_PARAM_DEVICE, "?"));
        else if (strcmp(error, VARLINK_ERROR_PERMISSION_DENIED) == 0)
                fprintf(stderr,
                        "vuctl: permission denied: %s changes the sidecar and needs its uid, root or its "
                        "--control-group\n",
                        short_name(method));
        else if (strcmp(error, VL_ERROR_INVALID_PARAMETER) == 0 ||
                 strcmp(error, VARLINK_ERROR_INVALID_PARAMETER) == 0)
                fprintf(stderr, "vuctl: the sidecar refused parameter '%s' of %s: %s\n",
                        json_get_str(p, VL_PARAM_PARAMETER, "?"), short_name(method),
                        json_get_str(p, VL_PARAM_REASON, "invalid"));
        else if (strcmp(error, VARLINK_ERROR_METHOD_NOT_FOUND) == 0 ||
                 strcmp(error, VARLINK_ERROR_INTERFACE_NOT_FOUND) == 0)
                fprintf(stderr, "vuctl: the sidecar does not know %s (an older vu-sidecar?)\n",
                        json_get_str(p, "method", json_get_str(p, "interface", method ?: "this call")));
        else if (strcmp(error, VL_ERROR_TOO_MANY_CLIENTS) == 0)
                fprintf(stderr,
                        "vuctl: the sidecar has too many control connections (%" PRIi64
                        " for this user); try again, or look for clients that do not hang up\n",
                        json_get_int(p, VL_PARAM_MAX, 0));
        else if (strcmp(error, VL_ERROR_INVALID_MESSAGE) == 0)
                fprintf(stderr, "vuctl: the sidecar could not read our call to %s: %s\n", short_name(method),
                        json_get_str(p, VL_PARAM_REASON, "?"));
        else {
                const char *msg = json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN);

                fprintf(stderr, "vuctl: the sidecar answered %s %s\n", short_name(error), msg ?: "");
        }
}

int vuctl_check_reply(Vuctl *ctx, const char *method, const VarlinkReply *reply) {
        _cleanup_free_ char *problem = NULL;
        int r;

        if (!ctx->idl) {
                r = varlink_idl_parse(vusidecar_interface_description, &ctx->idl);
                if (r < 0) {
                        fprintf(stderr, "vuctl: cannot read the io.vusidecar interface description: %s\n",
                                strerror(-r));
                        return VUCTL_EXIT_DAEMON;
                }
        }
        /* Fields a newer sidecar adds are fine; a missing one or a wrong type is not. Errors of other
         * interfaces (org.varlink.service) and ones this vuctl does not know are shown as they come. */
        r = varlink_idl_validate(ctx->idl, reply->error ? VARLINK_IDL_ERROR : VARLINK_IDL_METHOD_OUTPUT,
                                 reply->error ?: method, reply->parameters, VARLINK_IDL_ALLOW_UNKNOWN,
                                 &problem);
        if (r == -EBADMSG) {
                fprintf(stderr, "vuctl: the sidecar sent a malformed reply to %s: %s%s%s\n",
                        short_name(method), reply->error ? short_name(reply->error) : "",
                        reply->error ? ": " : "", problem ?: "?");
                return VUCTL_EXIT_DAEMON;
        }
        if (r == -ENOMEM) {
                fprintf(stderr, "vuctl: out of memory\n");
                return VUCTL_EXIT_DAEMON;
        }
        return VUCTL_EXIT_OK;
}

int vuctl_call(Vuctl *ctx, const char *method, json_object *parameters, json_object **ret) {
        _cleanup_(json_object_putp) json_object *params = parameters;
        VarlinkReply reply = {};
        int r;

        r = vuctl_connect(ctx);
        if (r != VUCTL_EXIT_OK)
                return r;

        r = varlink_client_call(ctx->client, method, params, ctx->timeout_ms, &reply);
        if (r == -ETIMEDOUT) {
                fprintf(stderr, "vuctl: %s: no answer from %s within %d ms — is the sidecar stuck?\n",
                        method, ctx->socket_path, ctx->timeout_ms);
                return VUCTL_EXIT_DAEMON;
        }
        if (r == -ECONNRESET || r == -EPIPE) {
                fprintf(stderr, "vuctl: %s: the sidecar closed the connection — did it stop?\n", method);
                return VUCTL_EXIT_DAEMON;
        }
        if (r == -EBADMSG || r == -E2BIG) {
                fprintf(stderr, "vuctl: the sidecar sent a malformed reply to %s: %s\n", short_name(method),
                        r == -E2BIG
                                ? "longer than the 16 MiB a reply may have"
                                : "not a varlink reply (one JSON object with \"parameters\" or \"error\")");
                return VUCTL_EXIT_DAEMON;
        }
        if (r < 0) {
                fprintf(stderr, "vuctl: %s: %s\n", method, strerror(-r));
                return VUCTL_EXIT_DAEMON;
        }
        r = vuctl_check_reply(ctx, method, &reply);
        if (r != VUCTL_EXIT_OK) {
                varlink_reply_done(&reply);
                return r;
        }
        if (reply.error) {
                vuctl_print_error(method, reply.error, reply.parameters);
                varlink_reply_done(&reply);
                return VUCTL_EXIT_DAEMON;
        }
        *ret = TAKE_PTR(reply.parameters);
        varlink_reply_done(&reply);
        return VUCTL_EXIT_OK;
}

int vuctl_usage_error(const char *format, ...) {
        va_list ap;

        fputs("vuctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputs(" (see 'vuctl help')\n", stderr);
        return VUCTL_EXIT_USAGE;
}

void vuctl_print_json(json_object *obj, bool compact) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                    (compact ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);

        puts(json_object_to_json_string_ext(obj, flags));
}
