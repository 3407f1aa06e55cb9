/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl dump QUEUE: read one queue's rings out of guest memory through the
 * sidecar — the descriptor table (with indirect tables, flags decoded), the
 * avail ring and the used ring — for debugging a driver or the backend.
 * A packed ring shows each slot's buffer id and whether the device may take
 * it now, then the two event suppression areas and the wrap counters.
 */
#include <errno.h>

#include "vuctl.h"

static void add_descriptors(Table *t, json_object *descs, const char *indent, bool packed) {
        for (size_t i = 0; descs && i < json_object_array_length(descs); i++) {
                json_object *d = json_object_array_get_idx(descs, i);
                _cleanup_free_ char *names = format_string_array(json_get(d, VL_FIELD_FLAG_NAMES));
                json_object *indirect = json_get(d, VL_FIELD_INDIRECT);

                table_add(t, "%s%" PRIi64, indent, json_get_int(d, VL_FIELD_INDEX, (int64_t) i));
                table_add(t, "0x%" PRIx64, json_get_uint(d, VL_FIELD_ADDR, 0));
                table_add(t, "%" PRIu64, json_get_uint(d, VL_FIELD_LEN, 0));
                table_add(t, "0x%04" PRIx64 " %s", json_get_uint(d, VL_FIELD_FLAGS, 0), names ?: "");
                if (json_get(d, VL_FIELD_NEXT))
                        table_add(t, "%" PRIi64, json_get_int(d, VL_FIELD_NEXT, 0));
                else if (json_get(d, VL_FIELD_BUFFER_ID))
                        table_add(t, "%" PRIi64, json_get_int(d, VL_FIELD_BUFFER_ID, 0));
                else
                        table_add(t, "-");
                if (packed)
                        table_add(t, "%s", json_get_str(d, VL_FIELD_STATE, "-"));
                if (json_get(d, VL_FIELD_INDIRECT_ERROR)) {
                        table_add(t, "%s  (indirect table unreadable: %s)", indent,
                                  json_get_str(d, VL_FIELD_INDIRECT_ERROR, "?"));
                        for (int k = 0; k < (packed ? 5 : 4); k++)
                                table_add(t, "%s", "");
                }
                if (indirect)
                        add_descriptors(t, indirect, "  └ ", packed);
        }
}

static void print_event_area(const char *name, const char *why, json_object *area) {
        if (!area) {
                printf("%s: not in guest memory\n", name);
                return;
        }
        printf("%s (%s): flags 0x%" PRIx64 " %s, off_wrap 0x%04" PRIx64 " (slot %" PRIu64 ", wrap %d)\n",
               name, why, json_get_uint(area, VL_FIELD_FLAGS, 0), json_get_str(area, VL_FIELD_MODE, "?"),
               json_get_uint(area, VL_FIELD_OFF_WRAP, 0), json_get_uint(area, VL_FIELD_OFFSET, 0),
               json_get_bool(area, VL_FIELD_WRAP, false));
}

int verb_dump(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        json_object *params, *avail, *used;
        uint64_t queue;
        bool packed;
        int r;

        if (argc != 2)
                return vuctl_usage_error("dump takes one QUEUE index, e.g. 'vuctl dump 0 --count 8'");
        if (parse_uint(argv[1], &queue) < 0 || queue > 1023)
                return vuctl_usage_error("dump: '%s' is not a queue index (0…1023)", argv[1]);

        params = vuctl_device_params(ctx);
        if (!params)
                return VUCTL_EXIT_DAEMON;
        json_object_object_add(params, VL_PARAM_QUEUE, json_object_new_int64((int64_t) queue));
        if (ctx->from >= 0)
                json_object_object_add(params, VL_PARAM_FROM, json_object_new_int64(ctx->from));
        if (ctx->count >= 0)
                json_object_object_add(params, VL_PARAM_COUNT, json_object_new_int64(ctx->count));
        r = vuctl_call(ctx, VL_METHOD_DUMP_QUEUE, params, &reply);
        if (r != VUCTL_EXIT_OK)
                return r;
        if (ctx->output == OUTPUT_JSON) {
                vuctl_print_json(reply, false);
                return VUCTL_EXIT_OK;
        }

        packed = json_get_bool(reply, VL_FIELD_PACKED, false);
        printf("%s queue %" PRIi64 ": %s ring of %" PRIu64 ", descriptors %" PRIi64 "…%" PRIi64 "\n",
               json_get_str(reply, VL_FIELD_DEVICE, "?"), json_get_int(reply, VL_FIELD_QUEUE, 0),
               packed ? "packed" : "split", json_get_uint(reply, VL_FIELD_SIZE, 0),
               json_get_int(reply, VL_FIELD_FROM, 0),
               json_get_int(reply, VL_FIELD_FROM, 0) + json_get_int(reply, VL_FIELD_COUNT, 0) - 1);
        if (packed) {
                printf("  rings at GPA desc 0x%" PRIx64 ", driver event 0x%" PRIx64
                       ", device event 0x%" PRIx64 "\n",
                       json_get_uint(reply, VL_FIELD_DESC_GPA, 0),
                       json_get_uint(reply, VL_FIELD_AVAIL_GPA, 0),
                       json_get_uint(reply, VL_FIELD_USED_GPA, 0));
                printf("  device reads next at slot %" PRIu64
                       " (avail wrap %d), writes used at slot %" PRIu64 " (used wrap %d)\n\n",
                       json_get_uint(reply, VL_FIELD_LAST_AVAIL_IDX, 0),
                       json_get_bool(reply, VL_FIELD_AVAIL_WRAP_COUNTER, false),
                       json_get_uint(reply, VL_FIELD_USED_IDX, 0),
                       json_get_bool(reply, VL_FIELD_USED_WRAP_COUNTER, false));
                t = table_new(6, "SLOT", "ADDR", "LEN", "FLAGS", "ID", "STATE");
        } else {
                printf("  rings at GPA desc 0x%" PRIx64 ", avail 0x%" PRIx64 ", used 0x%" PRIx64 "\n\n",
                       json_get_uint(reply, VL_FIELD_DESC_GPA, 0),
                       json_get_uint(reply, VL_FIELD_AVAIL_GPA, 0),
                       json_get_uint(reply, VL_FIELD_USED_GPA, 0));
                t = table_new(5, "DESC", "ADDR", "LEN", "FLAGS", "NEXT");
        }
        if (!t)
                return VUCTL_EXIT_DAEMON;
        table_align_right(t, 2);
        add_descriptors(t, json_get(reply, VL_FIELD_DESCRIPTORS), "", packed);
        table_print(t, stdout);
        if (packed) {
                putchar('\n');
                print_event_area("driver event area", "when the driver wants our calls",
                                 json_get(reply, VL_FIELD_DRIVER_EVENT));
                print_event_area("device event area", "when we want the driver's kicks",
                                 json_get(reply, VL_FIELD_DEVICE_EVENT));
                printf("STATE: available = the device may take it in its current lap; used = AVAIL equals "
                       "USED, "
                       "the driver's again; taken = marked for a lap the device has read past (in flight, "
                       "or "
                       "a chain's later slot)\n");
        }

        avail = json_get(reply, VL_FIELD_AVAIL);
        if (avail) {
                _cleanup_free_ char *names = format_string_array(json_get(avail, VL_FIELD_FLAG_NAMES));
                _cleanup_(table_freep) Table *a = table_new(2, "SLOT", "HEAD");
                json_object *ring = json_get(avail, VL_FIELD_RING);

                printf("\navail ring: idx %" PRIu64 ", flags 0x%" PRIx64 " %s",
                       json_get_uint(avail, VL_FIELD_IDX, 0), json_get_uint(avail, VL_FIELD_FLAGS, 0),
                       names ?: "");
                if (json_get(avail, VL_FIELD_USED_EVENT))
                        printf(", used_event %" PRIu64, json_get_uint(avail, VL_FIELD_USED_EVENT, 0));
                putchar('\n');
                for (size_t i = 0; a && ring && i < json_object_array_length(ring); i++) {
                        json_object *e = json_object_array_get_idx(ring, i);

                        table_add(a, "%" PRIi64, json_get_int(e, VL_FIELD_SLOT, 0));
                        table_add(a, "%" PRIi64, json_get_int(e, VL_FIELD_HEAD, 0));
                }
                if (a)
                        table_print(a, stdout);
        }
        used = json_get(reply, VL_FIELD_USED);
        if (used) {
                _cleanup_free_ char *names = format_string_array(json_get(used, VL_FIELD_FLAG_NAMES));
                _cleanup_(table_freep) Table *u = table_new(3, "SLOT", "ID", "LEN");
                json_object *ring = json_get(used, VL_FIELD_RING);

                printf("\nused ring: idx %" PRIu64 ", flags 0x%" PRIx64 " %s",
                       json_get_uint(used, VL_FIELD_IDX, 0), json_get_uint(used, VL_FIELD_FLAGS, 0),
                       names ?: "");
                if (json_get(used, VL_FIELD_AVAIL_EVENT))
                        printf(", avail_event %" PRIu64, json_get_uint(used, VL_FIELD_AVAIL_EVENT, 0));
                putchar('\n');
                for (size_t i = 0; u && ring && i < json_object_array_length(ring); i++) {
                        json_object *e = json_object_array_get_idx(ring, i);

                        table_add(u, "%" PRIi64, json_get_int(e, VL_FIELD_SLOT, 0));
                        table_add(u, "%" PRIi64, json_get_int(e, "id", 0));
                        table_add(u, "%" PRIu64, json_get_uint(e, VL_FIELD_LEN, 0));
                }
                if (u)
                        table_print(u, stdout);
        }
        return VUCTL_EXIT_OK;
}
