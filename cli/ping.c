/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl ping: the liveness probe. Exit 0 when the sidecar's event loop
 * answers; it needs no privileges and changes nothing.
 */
#include "vuctl.h"

int verb_ping(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        char up[64];
        int r;

        if (argc > 1)
                return vuctl_usage_error("ping takes no arguments");

        r = vuctl_call(ctx, VL_METHOD_PING, NULL, &reply);
        if (r != VUCTL_EXIT_OK)
                return r;

        if (ctx->output == OUTPUT_JSON)
                vuctl_print_json(reply, false);
        else
                printf("vu-sidecar %s is alive (up %s)\n", json_get_str(reply, VL_FIELD_VERSION, "?"),
                       format_duration(up, sizeof(up), json_get_uint(reply, VL_FIELD_UPTIME_USEC, 0)));
        return VUCTL_EXIT_OK;
}
