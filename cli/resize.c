/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl resize [--shrink] SIZE: change a block device's capacity while it
 * runs, and say whether the guest was told. Growing is safe; shrinking
 * destroys the data past the new end, so like qemu-img resize it takes
 * --shrink, and the sidecar refuses it otherwise.
 */
#include <errno.h>

#include "vuctl.h"

int verb_resize(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        json_object *params;
        uint64_t size, previous;
        char b[32], b2[32];
        int r;

        if (argc != 2)
                return vuctl_usage_error("resize takes one SIZE, e.g. 'vuctl resize 20G'");
        r = parse_size(argv[1], &size);
        if (r < 0)
                return vuctl_usage_error("resize: '%s' is not a size %s", argv[1],
                                         r == -ERANGE ? "that fits in 64 bits"
                                                      : "(bytes, or a number with K, M, G or T)");
        if (size == 0 || size % 512 != 0)
                return vuctl_usage_error(
                        "resize: the size must be a non-zero multiple of 512 bytes, not %" PRIu64, size);
        if (size > INT64_MAX)
                return vuctl_usage_error("resize: %s is too large", argv[1]);

        params = vuctl_device_params(ctx);
        if (!params)
                return VUCTL_EXIT_DAEMON;
        json_object_object_add(params, VL_PARAM_SIZE, json_object_new_int64((int64_t) size));
        if (ctx->shrink)
                json_object_object_add(params, VL_PARAM_SHRINK, json_object_new_boolean(true));
        r = vuctl_call(ctx, VL_METHOD_RESIZE, params, &reply);
        if (r != VUCTL_EXIT_OK)
                return r;
        if (ctx->output == OUTPUT_JSON) {
                vuctl_print_json(reply, false);
                return VUCTL_EXIT_OK;
        }
        size = json_get_uint(reply, VL_FIELD_SIZE, size);
        previous = json_get_uint(reply, VL_FIELD_PREVIOUS_SIZE, size);
        printf("%s resized from %s to %s (%" PRIu64 " bytes); ",
               json_get_str(reply, VL_FIELD_DEVICE, "the device"), format_bytes(b2, sizeof(b2), previous),
               format_bytes(b, sizeof(b), size), size);
        if (json_get_bool(reply, VL_FIELD_ANNOUNCED, false))
                printf("the guest was told\n");
        else if (json_get_bool(reply, VL_FIELD_CONNECTED, false))
                printf("the guest was not told: its frontend did not negotiate the backend channel and "
                       "config changes (protocol features BACKEND_REQ, a.k.a. SLAVE_REQ, and CONFIG), so "
                       "the guest sees the new size when it next reads the config (a rescan or a reboot)\n");
        else
                printf("no frontend is connected: the next one sees the new size when it connects\n");
        return VUCTL_EXIT_OK;
}
