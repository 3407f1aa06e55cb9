/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl log: the migration dirty log — whether the frontend gave us one,
 * how big, how many pages we marked, and when logging started and stopped.
 */
#include "vuctl.h"

int verb_log(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        char b[32], t1[64], t2[64];
        int r;

        if (argc > 1)
                return vuctl_usage_error("log takes no arguments (use --device ID)");

        r = vuctl_call(ctx, VL_METHOD_GET_LOG, vuctl_device_params(ctx), &reply);
        if (r != VUCTL_EXIT_OK)
                return r;
        if (ctx->output == OUTPUT_JSON) {
                vuctl_print_json(reply, false);
                return VUCTL_EXIT_OK;
        }

        printf("%s: dirty log %s\n", json_get_str(reply, VL_FIELD_DEVICE, "?"),
               json_get_bool(reply, VL_FIELD_ACTIVE, false) ? "active (a migration is running)"
                                                            : "inactive");
        printf("  %-16s %s\n", "LOG_ALL",
               json_get_bool(reply, VL_FIELD_LOG_ALL, false) ? "negotiated" : "no");
        printf("  %-16s %s\n", "log size",
               format_bytes(b, sizeof(b), json_get_uint(reply, VL_FIELD_LOG_SIZE, 0)));
        printf("  %-16s %" PRIu64 "\n", "pages marked", json_get_uint(reply, VL_FIELD_PAGES_MARKED, 0));
        printf("  %-16s %" PRIu64 "\n", "log writes", json_get_uint(reply, VL_FIELD_LOG_WRITES, 0));
        printf("  %-16s %" PRIu64 "\n", "rings logging", json_get_uint(reply, VL_FIELD_RINGS_LOGGING, 0));
        printf("  %-16s %s\n", "started",
               format_timestamp(t1, sizeof(t1), json_get_uint(reply, VL_FIELD_LOG_STARTED, 0)));
        printf("  %-16s %s\n", "stopped",
               format_timestamp(t2, sizeof(t2), json_get_uint(reply, VL_FIELD_LOG_STOPPED, 0)));
        return VUCTL_EXIT_OK;
}
