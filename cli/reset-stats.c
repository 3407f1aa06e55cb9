/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl reset-stats: zero the counters of one device (--device) or of all,
 * e.g. before a benchmark. In-flight gauges are not counters and stay.
 */
#include "vuctl.h"

int verb_reset_stats(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        int r;

        if (argc > 1)
                return vuctl_usage_error("reset-stats takes no arguments (use --device ID for one device)");

        r = vuctl_call(ctx, VL_METHOD_RESET_STATS, vuctl_device_params(ctx), &reply);
        if (r != VUCTL_EXIT_OK)
                return r;
        if (ctx->output == OUTPUT_JSON)
                vuctl_print_json(reply, false);
        else
                printf("counters of %s reset\n", ctx->device ?: "every device");
        return VUCTL_EXIT_OK;
}
