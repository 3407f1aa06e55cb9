/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl monitor: print the sidecar's events (connect, disconnect,
 * negotiation, queue start/stop, dirty log, errors…) as they happen, one
 * line each, until ^C. With -j, one JSON object per line for scripts.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "vuctl.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        interrupted = 1;
}

int verb_monitor(Vuctl *ctx, int argc, char *argv[]) {
        struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: ^C ends the wait */
        json_object *params;
        int r;

        if (argc > 1)
                return vuctl_usage_error(
                        "monitor takes no arguments (use --device ID to follow one device)");

        r = vuctl_connect(ctx);
        if (r != VUCTL_EXIT_OK)
                return r;
        params = vuctl_device_params(ctx);
        r = varlink_client_send(ctx->client, VL_METHOD_MONITOR, params, VARLINK_CALL_MORE);
        json_object_put(params);
        if (r < 0) {
                fprintf(stderr, "vuctl: cannot send the monitor call to %s: %s\n", ctx->socket_path,
                        strerror(-r));
                return VUCTL_EXIT_DAEMON;
        }
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        while (!interrupted) {
                VarlinkReply reply = {};
                char t[64];

                r = varlink_client_receive(ctx->client, -1, &reply);
                if (r == -EINTR)
                        continue;
                if (r < 0 && r != -EBADMSG && r != -E2BIG) {
                        if (interrupted)
                                break;
                        fprintf(stderr, "vuctl: monitor: %s\n",
                                r == -ECONNRESET ? "the sidecar closed the connection — did it stop?"
                                                 : strerror(-r));
                        return VUCTL_EXIT_DAEMON;
                }
                if (r == -EBADMSG || r == -E2BIG) {
                        fprintf(stderr, "vuctl: the sidecar sent a malformed reply to Monitor: not a "
                                        "varlink reply\n");
                        return VUCTL_EXIT_DAEMON;
                }
                r = vuctl_check_reply(ctx, VL_METHOD_MONITOR, &reply);
                if (r != VUCTL_EXIT_OK) {
                        varlink_reply_done(&reply);
                        return r;
                }
                if (reply.error) {
                        vuctl_print_error(VL_METHOD_MONITOR, reply.error, reply.parameters);
                        varlink_reply_done(&reply);
                        return VUCTL_EXIT_DAEMON;
                }

                if (ctx->output == OUTPUT_JSON)
                        vuctl_print_json(reply.parameters, true);
                else if (strcmp(json_get_str(reply.parameters, VL_FIELD_EVENT, ""), VL_EVENT_SUBSCRIBED) ==
                         0)
                        fprintf(stderr, "Monitoring %s on %s; ^C to stop.\n", ctx->device ?: "every device",
                                ctx->socket_path);
                else
                        printf("%s  %-8s  %-14s  %s\n",
                               format_timestamp(t, sizeof(t),
                                                json_get_uint(reply.parameters, VL_FIELD_REALTIME_USEC, 0)),
                               json_get_str(reply.parameters, VL_FIELD_DEVICE, "-"),
                               json_get_str(reply.parameters, VL_FIELD_EVENT, "?"),
                               json_get_str(reply.parameters, "message", ""));
                fflush(stdout);
                if (!reply.continues) {
                        varlink_reply_done(&reply);
                        fprintf(stderr, "vuctl: the sidecar ended the event stream\n");
                        return VUCTL_EXIT_DAEMON;
                }
                varlink_reply_done(&reply);
        }
        return VUCTL_EXIT_OK;
}
