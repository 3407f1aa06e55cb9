/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl set KEY VALUE…: change the sidecar while it runs — log-level,
 * read-only, iops, bps, poll, link. Every pair is checked before anything is
 * sent, so a typo in the third pair does not leave the first two applied.
 */
#include <string.h>

#include "vuctl.h"

int verb_set(Vuctl *ctx, int argc, char *argv[]) {
        static const char *const levels[] = {VL_LOG_LEVELS};
        const char *level = NULL;
        bool have_ro = false, read_only = false, have_iops = false, have_bps = false, have_poll = false;
        bool have_link = false, link_up = true;
        uint64_t iops = 0, bps = 0, poll = 0;
        int r;

        if (argc < 3 || (argc - 1) % 2 != 0)
                return vuctl_usage_error("set takes KEY VALUE pairs: log-level, read-only, iops, bps, poll, link");

        for (int i = 1; i < argc; i += 2) {
                const char *key = argv[i], *value = argv[i + 1];

                if (strcmp(key, "log-level") == 0) {
                        level = NULL;
                        for (size_t l = 0; l < ELEMENTSOF(levels); l++)
                                if (strcmp(value, levels[l]) == 0)
                                        level = levels[l];
                        if (!level)
                                return vuctl_usage_error(
                                        "log-level takes err, warning, notice, info or debug, not '%s'",
                                        value);
                } else if (strcmp(key, "read-only") == 0) {
                        if (parse_bool(value, &read_only) < 0)
                                return vuctl_usage_error("read-only takes on or off, not '%s'", value);
                        have_ro = true;
                } else if (strcmp(key, "iops") == 0) {
                        if (parse_uint(value, &iops) < 0 || iops > INT64_MAX)
                                return vuctl_usage_error(
                                        "iops takes a number of requests per second (0: no limit), "
                                        "not '%s'",
                                        value);
                        have_iops = true;
                } else if (strcmp(key, "bps") == 0) {
                        if (parse_size(value, &bps) < 0 || bps > INT64_MAX)
                                return vuctl_usage_error(
                                        "bps takes bytes per second with an optional K, M or G "
                                        "(0: no limit), not '%s'",
                                        value);
                        have_bps = true;
                } else if (strcmp(key, "poll") == 0) {
                        if (strcmp(value, "off") == 0)
                                poll = 0;
                        else if (parse_uint(value, &poll) < 0 || poll > 1000000)
                                return vuctl_usage_error(
                                        "poll takes microseconds from 0 to 1000000, or off, not '%s'",
                                        value);
                        have_poll = true;
                } else if (strcmp(key, "link") == 0) {
                        if (strcmp(value, "up") == 0)
                                link_up = true;
                        else if (strcmp(value, "down") == 0)
                                link_up = false;
                        else
                                return vuctl_usage_error("link takes up or down, not '%s'", value);
                        have_link = true;
                } else
                        return vuctl_usage_error(
                                "unknown setting '%s' (log-level, read-only, iops, bps, poll, link)", key);
        }

        if (level) {
                _cleanup_(json_object_putp) json_object *reply = NULL;
                json_object *p = json_object_new_object();

                if (!p)
                        return VUCTL_EXIT_DAEMON;
                json_object_object_add(p, VL_PARAM_LEVEL, json_object_new_string(level));
                r = vuctl_call(ctx, VL_METHOD_SET_LOG_LEVEL, p, &reply);
                if (r != VUCTL_EXIT_OK)
                        return r;
                if (ctx->output == OUTPUT_JSON)
                        vuctl_print_json(reply, true);
                else
                        printf("log-level: %s -> %s\n", json_get_str(reply, VL_FIELD_PREVIOUS, "?"), level);
        }
        if (have_ro) {
                _cleanup_(json_object_putp) json_object *reply = NULL;
                json_object *p = vuctl_device_params(ctx);

                if (!p)
                        return VUCTL_EXIT_DAEMON;
                json_object_object_add(p, VL_PARAM_READ_ONLY, json_object_new_boolean(read_only));
                r = vuctl_call(ctx, VL_METHOD_SET_READ_ONLY, p, &reply);
                if (r != VUCTL_EXIT_OK)
                        return r;
                if (ctx->output == OUTPUT_JSON)
                        vuctl_print_json(reply, true);
                else
                        printf("read-only: %s -> %s\n",
                               json_get_bool(reply, VL_FIELD_PREVIOUS, false) ? "on" : "off",
                               read_only ? "on" : "off");
        }
        if (have_iops || have_bps) {
                _cleanup_(json_object_putp) json_object *reply = NULL;
                json_object *p = vuctl_device_params(ctx);

                if (!p)
                        return VUCTL_EXIT_DAEMON;
                if (have_iops)
                        json_object_object_add(p, VL_PARAM_IOPS, json_object_new_int64((int64_t) iops));
                if (have_bps)
                        json_object_object_add(p, VL_PARAM_BPS, json_object_new_int64((int64_t) bps));
                r = vuctl_call(ctx, VL_METHOD_SET_LIMITS, p, &reply);
                if (r != VUCTL_EXIT_OK)
                        return r;
                if (ctx->output == OUTPUT_JSON)
                        vuctl_print_json(reply, true);
                else
                        printf("limits: iops %" PRIu64 ", bps %" PRIu64 " (0: none)\n",
                               json_get_uint(reply, VL_FIELD_IOPS, 0),
                               json_get_uint(reply, VL_FIELD_BPS, 0));
        }
        if (have_poll) {
                _cleanup_(json_object_putp) json_object *reply = NULL;
                json_object *p = vuctl_device_params(ctx);

                if (!p)
                        return VUCTL_EXIT_DAEMON;
                json_object_object_add(p, VL_PARAM_POLL_USEC, json_object_new_int64((int64_t) poll));
                r = vuctl_call(ctx, VL_METHOD_SET_POLLING, p, &reply);
                if (r != VUCTL_EXIT_OK)
                        return r;
                if (ctx->output == OUTPUT_JSON)
                        vuctl_print_json(reply, true);
                else
                        printf("poll: %" PRIu64 " µs -> %" PRIu64 " µs (0: off)\n",
                               json_get_uint(reply, VL_FIELD_PREVIOUS, 0), poll);
        }
        if (have_link) {
                _cleanup_(json_object_putp) json_object *reply = NULL;
                json_object *p = vuctl_device_params(ctx);

                if (!p)
                        return VUCTL_EXIT_DAEMON;
                json_object_object_add(p, VL_PARAM_UP, json_object_new_boolean(link_up));
                r = vuctl_call(ctx, VL_METHOD_SET_LINK, p, &reply);
                if (r != VUCTL_EXIT_OK)
                        return r;
                if (ctx->output == OUTPUT_JSON)
                        vuctl_print_json(reply, true);
                else
                        printf("link: %s -> %s\n", json_get_bool(reply, VL_FIELD_PREVIOUS, true) ? "up" : "down",
                               link_up ? "up" : "down");
        }
        return VUCTL_EXIT_OK;
}
