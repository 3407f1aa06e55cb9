/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl resize SIZE: change a block device's capacity while it runs; the
 * sidecar grows or shrinks the image and tells the guest when the frontend
 * negotiated a way to be told.
 */
#include <errno.h>

#include "vuctl.h"

int verb_resize(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        json_object *params;
        uint64_t size;
        char b[32];
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
        r = vuctl_call(ctx, VL_METHOD_RESIZE, params, &reply);
        if (r != VUCTL_EXIT_OK)
                return r;
        if (ctx->output == OUTPUT_JSON) {
                vuctl_print_json(reply, false);
                return VUCTL_EXIT_OK;
        }
        printf("%s resized to %s (%" PRIu64 " bytes); %s\n",
               json_get_str(reply, VL_FIELD_DEVICE, "the device"),
               format_bytes(b, sizeof(b), json_get_uint(reply, VL_FIELD_SIZE, size)),
               json_get_uint(reply, VL_FIELD_SIZE, size),
               json_get_bool(reply, VL_FIELD_ANNOUNCED, false)
                       ? "the guest was told"
                       : "no frontend could be told now (it sees the new size when it reads the config "
                         "again)");
        return VUCTL_EXIT_OK;
}
