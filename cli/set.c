/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl set KEY VALUE…: change the sidecar while it runs — log-level,
 * read-only, iops, bps, poll, link. Every pair is checked before anything is
 * sent, so a typo in the third pair does not leave the first two applied;
 * the device is looked up first, so a wrong --device or a key its type does
 * not have changes nothing. What the sidecar may still refuse (making an
 * image opened read-only writable) stops the rest, and vuctl then says which
 * settings were applied and which were not.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "vuctl.h"

typedef enum SettingKind {
        SETTING_LOG_LEVEL,
        SETTING_READ_ONLY,
        SETTING_LIMITS, /* iops and bps go in one call */
        SETTING_POLL,
        SETTING_LINK,
        _SETTING_MAX,
} SettingKind;

/* Members of the -j output. */
static const char *const setting_json_key[_SETTING_MAX] = {
        [SETTING_LOG_LEVEL] = "log-level", [SETTING_READ_ONLY] = "read-only", [SETTING_LIMITS] = "limits",
        [SETTING_POLL] = "poll",           [SETTING_LINK] = "link",
};

typedef struct Settings {
        const char *level;
        bool read_only, link_up;
        bool have_iops, have_bps;
        uint64_t iops, bps, poll;
        const char *bps_text, *poll_text; /* as typed */
        SettingKind order[_SETTING_MAX];  /* in the order the command line first names them */
        size_t n;
} Settings;

/* Bytes per second as --blk bps= takes them: N, or N with K, M or G (powers of 1024). */
static int parse_rate(const char *s, uint64_t *ret) {
        static const struct {
                char c;
                unsigned shift;
        } suffixes[] = {{'k', 10}, {'m', 20}, {'g', 30}};
        uint64_t v;
        size_t n = strlen(s);
        unsigned shift = 0;
        char digits[32];

        if (n == 0 || n >= sizeof(digits))
                return -EINVAL;
        memcpy(digits, s, n + 1);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (n > 1 && (digits[n - 1] | 0x20) == suffixes[i].c) {
                        shift = suffixes[i].shift;
                        digits[--n] = 0;
                }
        if (parse_uint(digits, &v) < 0 || v > (UINT64_MAX >> shift))
                return -EINVAL;
        *ret = v << shift;
        return 0;
}

static void settings_add(Settings *st, SettingKind kind) {
        for (size_t i = 0; i < st->n; i++)
                if (st->order[i] == kind)
                        return;
        st->order[st->n++] = kind;
}

/* "iops 9 bps 1M": a setting as the user would type it, for the applied / not applied report. */
static const char *setting_describe(const Settings *st, SettingKind kind, char *buf, size_t size) {
        switch (kind) {
        case SETTING_LOG_LEVEL:
                snprintf(buf, size, "log-level %s", st->level);
                break;
        case SETTING_READ_ONLY:
                snprintf(buf, size, "read-only %s", st->read_only ? "on" : "off");
                break;
        case SETTING_LIMITS:
                if (st->have_iops && st->have_bps)
                        snprintf(buf, size, "iops %" PRIu64 " bps %s", st->iops, st->bps_text);
                else if (st->have_iops)
                        snprintf(buf, size, "iops %" PRIu64, st->iops);
                else
                        snprintf(buf, size, "bps %s", st->bps_text);
                break;
        case SETTING_POLL:
                snprintf(buf, size, "poll %s", st->poll_text);
                break;
        case SETTING_LINK:
                snprintf(buf, size, "link %s", st->link_up ? "up" : "down");
                break;
        default:
                snprintf(buf, size, "?");
        }
        return buf;
}

static int settings_parse(Settings *st, int argc, char *argv[]) {
        static const char *const levels[] = {VL_LOG_LEVELS};

        for (int i = 1; i < argc; i += 2) {
                const char *key = argv[i], *value = argv[i + 1];

                if (strcmp(key, "log-level") == 0) {
                        st->level = NULL;
                        for (size_t l = 0; l < ELEMENTSOF(levels); l++)
                                if (strcmp(value, levels[l]) == 0)
                                        st->level = levels[l];
                        if (!st->level)
                                return vuctl_usage_error(
                                        "log-level takes err, warning, notice, info or debug, not '%s'",
                                        value);
                        settings_add(st, SETTING_LOG_LEVEL);
                } else if (strcmp(key, "read-only") == 0) {
                        if (parse_bool(value, &st->read_only) < 0)
                                return vuctl_usage_error("read-only takes on or off, not '%s'", value);
                        settings_add(st, SETTING_READ_ONLY);
                } else if (strcmp(key, "iops") == 0) {
                        if (parse_uint(value, &st->iops) < 0 || st->iops > INT64_MAX)
                                return vuctl_usage_error(
                                        "iops takes a number of requests per second (0: no limit), "
                                        "not '%s'",
                                        value);
                        st->have_iops = true;
                        settings_add(st, SETTING_LIMITS);
                } else if (strcmp(key, "bps") == 0) {
                        if (parse_rate(value, &st->bps) < 0 || st->bps > INT64_MAX)
                                return vuctl_usage_error(
                                        "bps takes bytes per second, N or N with K, M or G (powers of "
                                        "1024; 0: no limit), not '%s'",
                                        value);
                        st->have_bps = true;
                        st->bps_text = value;
                        settings_add(st, SETTING_LIMITS);
                } else if (strcmp(key, "poll") == 0) {
                        if (strcmp(value, "off") == 0)
                                st->poll = 0;
                        else if (parse_uint(value, &st->poll) < 0 || st->poll > 1000000)
                                return vuctl_usage_error(
                                        "poll takes microseconds from 0 to 1000000, or off, not '%s'",
                                        value);
                        st->poll_text = value;
                        settings_add(st, SETTING_POLL);
                } else if (strcmp(key, "link") == 0) {
                        if (strcmp(value, "up") == 0)
                                st->link_up = true;
                        else if (strcmp(value, "down") == 0)
                                st->link_up = false;
                        else
                                return vuctl_usage_error("link takes up or down, not '%s'", value);
                        settings_add(st, SETTING_LINK);
                } else
                        return vuctl_usage_error(
                                "unknown setting '%s' (log-level, read-only, iops, bps, poll, link)", key);
        }
        return VUCTL_EXIT_OK;
}

/*
 * Look the device up before changing anything: a wrong --device, or a setting its type does not
 * have, must leave everything as it was (the log level included).
 */
static int settings_preflight(Vuctl *ctx, const Settings *st) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        bool device_scoped = false, blk_only = false, net_only = false;
        json_object *devices, *dev;
        const char *type, *id;
        int r;

        for (size_t i = 0; i < st->n; i++) {
                device_scoped = device_scoped || st->order[i] != SETTING_LOG_LEVEL;
                blk_only = blk_only || st->order[i] == SETTING_READ_ONLY || st->order[i] == SETTING_LIMITS;
                net_only = net_only || st->order[i] == SETTING_LINK;
        }
        if (!device_scoped)
                return VUCTL_EXIT_OK;

        r = vuctl_call(ctx, VL_METHOD_GET_STATUS, vuctl_device_params(ctx), &reply);
        if (r != VUCTL_EXIT_OK)
                goto unchanged;
        devices = json_get(reply, VL_FIELD_DEVICES);
        if (json_object_array_length(devices) > 1 && !ctx->device) {
                _cleanup_free_ char *ids = NULL;
                json_object *list = json_object_new_array();

                for (size_t i = 0; list && i < json_object_array_length(devices); i++)
                        json_object_array_add(
                                list, json_object_new_string(json_get_str(
                                              json_object_array_get_idx(devices, i), VL_FIELD_ID, "?")));
                ids = format_string_array(list);
                json_object_put(list);
                fprintf(stderr,
                        "vuctl: the sidecar serves several devices (%s): name one with --device ID\n",
                        ids ?: "?");
                r = VUCTL_EXIT_DAEMON;
                goto unchanged;
        }
        dev = json_object_array_get_idx(devices, 0);
        if (!dev)
                return VUCTL_EXIT_OK;
        type = json_get_str(dev, VL_FIELD_TYPE, "?");
        id = json_get_str(dev, VL_FIELD_ID, "?");
        if ((blk_only && strcmp(type, "blk") != 0) || (net_only && strcmp(type, "net") != 0)) {
                fprintf(stderr, "vuctl: %s is a %s device: %s\n", id, type,
                        blk_only && strcmp(type, "blk") != 0
                                ? "read-only, iops and bps apply to block devices only"
                                : "link applies to network devices only");
                r = VUCTL_EXIT_DAEMON;
                goto unchanged;
        }
        return VUCTL_EXIT_OK;

unchanged:
        fprintf(stderr, "vuctl: nothing was changed\n");
        return r;
}

static json_object *setting_params(Vuctl *ctx, const Settings *st, SettingKind kind,
                                   const char **ret_method) {
        json_object *p = kind == SETTING_LOG_LEVEL ? json_object_new_object() : vuctl_device_params(ctx);

        if (!p)
                return NULL;
        switch (kind) {
        case SETTING_LOG_LEVEL:
                *ret_method = VL_METHOD_SET_LOG_LEVEL;
                json_object_object_add(p, VL_PARAM_LEVEL, json_object_new_string(st->level));
                break;
        case SETTING_READ_ONLY:
                *ret_method = VL_METHOD_SET_READ_ONLY;
                json_object_object_add(p, VL_PARAM_READ_ONLY, json_object_new_boolean(st->read_only));
                break;
        case SETTING_LIMITS:
                *ret_method = VL_METHOD_SET_LIMITS;
                if (st->have_iops)
                        json_object_object_add(p, VL_PARAM_IOPS, json_object_new_int64((int64_t) st->iops));
                if (st->have_bps)
                        json_object_object_add(p, VL_PARAM_BPS, json_object_new_int64((int64_t) st->bps));
                break;
        case SETTING_POLL:
                *ret_method = VL_METHOD_SET_POLLING;
                json_object_object_add(p, VL_PARAM_POLL_USEC, json_object_new_int64((int64_t) st->poll));
                break;
        case SETTING_LINK:
                *ret_method = VL_METHOD_SET_LINK;
                json_object_object_add(p, VL_PARAM_UP, json_object_new_boolean(st->link_up));
                break;
        default:
                json_object_put(p);
                return NULL;
        }
        return p;
}

static void setting_print(const Settings *st, SettingKind kind, json_object *reply) {
        switch (kind) {
        case SETTING_LOG_LEVEL:
                printf("log-level: %s -> %s\n", json_get_str(reply, VL_FIELD_PREVIOUS, "?"), st->level);
                break;
        case SETTING_READ_ONLY:
                printf("read-only: %s -> %s\n",
                       json_get_bool(reply, VL_FIELD_PREVIOUS, false) ? "on" : "off",
                       st->read_only ? "on" : "off");
                break;
        case SETTING_LIMITS:
                printf("limits: iops %" PRIu64 ", bps %" PRIu64 " (0: none)\n",
                       json_get_uint(reply, VL_FIELD_IOPS, 0), json_get_uint(reply, VL_FIELD_BPS, 0));
                break;
        case SETTING_POLL:
                printf("poll: %" PRIu64 " µs -> %" PRIu64 " µs (0: off)\n",
                       json_get_uint(reply, VL_FIELD_PREVIOUS, 0), st->poll);
                break;
        case SETTING_LINK:
                printf("link: %s -> %s\n", json_get_bool(reply, VL_FIELD_PREVIOUS, true) ? "up" : "down",
                       st->link_up ? "up" : "down");
                break;
        default:
                break;
        }
}

int verb_set(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *all = NULL;
        Settings st = {.link_up = true};
        size_t i;
        int r = VUCTL_EXIT_OK;

        if (argc < 3 || (argc - 1) % 2 != 0)
                return vuctl_usage_error(
                        "set takes KEY VALUE pairs: log-level, read-only, iops, bps, poll, link");
        r = settings_parse(&st, argc, argv);
        if (r != VUCTL_EXIT_OK)
                return r;
        r = settings_preflight(ctx, &st);
        if (r != VUCTL_EXIT_OK)
                return r;

        /* -j: one object, a member per setting, each the sidecar's reply. */
        all = json_object_new_object();
        if (!all)
                return VUCTL_EXIT_DAEMON;
        for (i = 0; i < st.n; i++) {
                _cleanup_(json_object_putp) json_object *reply = NULL;
                const char *method = NULL;
                json_object *p = setting_params(ctx, &st, st.order[i], &method);

                if (!p)
                        return VUCTL_EXIT_DAEMON;
                r = vuctl_call(ctx, method, p, &reply);
                if (r != VUCTL_EXIT_OK)
                        break;
                if (ctx->output == OUTPUT_JSON)
                        json_object_object_add(all, setting_json_key[st.order[i]], TAKE_PTR(reply));
                else
                        setting_print(&st, st.order[i], reply);
        }
        if (ctx->output == OUTPUT_JSON && json_object_object_length(all) > 0)
                vuctl_print_json(all, false);

        if (i < st.n) {
                char b[96];

                /* Say exactly where the sidecar stands now. */
                fputs("vuctl: applied:", stderr);
                for (size_t k = 0; k < i; k++)
                        fprintf(stderr, "%s %s", k ? "," : "",
                                setting_describe(&st, st.order[k], b, sizeof(b)));
                fprintf(stderr, "%s; not applied: %s (refused)", i == 0 ? " nothing" : "",
                        setting_describe(&st, st.order[i], b, sizeof(b)));
                for (size_t k = i + 1; k < st.n; k++)
                        fprintf(stderr, ", %s", setting_describe(&st, st.order[k], b, sizeof(b)));
                fputc('\n', stderr);
                return r;
        }
        return VUCTL_EXIT_OK;
}
