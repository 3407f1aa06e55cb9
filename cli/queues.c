/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl queues: every virtqueue's state as the backend holds it (indexes,
 * in-use and in-flight counts, notification state) next to what the
 * guest's rings say, so a stuck queue shows where it is stuck. Packed
 * queues have no avail/used rings: a third table shows their wrap counters
 * and event suppression areas instead.
 */
#include <string.h>

#include "vuctl.h"

static const char *flag_cell(json_object *q, const char *field) {
        return json_get_bool(q, field, false) ? "y" : "-";
}

/* "ENABLE", "DISABLE", or "DESC 17 wrap 1": the slot the other side wants to be told about. */
static int add_event_cell(Table *t, json_object *area) {
        if (!area)
                return table_add(t, "-");
        if (strcmp(json_get_str(area, VL_FIELD_MODE, ""), "DESC") == 0)
                return table_add(t, "DESC %" PRIu64 " wrap %d", json_get_uint(area, VL_FIELD_OFFSET, 0),
                                 json_get_bool(area, VL_FIELD_WRAP, false));
        return table_add(t, "%s", json_get_str(area, VL_FIELD_MODE, "?"));
}

int verb_queues(Vuctl *ctx, int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL, *a = NULL, *pk = NULL;
        json_object *queues;
        unsigned packed = 0;
        int r;

        if (argc > 1)
                return vuctl_usage_error("queues takes no arguments (use --device ID)");

        r = vuctl_call(ctx, VL_METHOD_GET_QUEUES, vuctl_device_params(ctx), &reply);
        if (r != VUCTL_EXIT_OK)
                return r;
        if (ctx->output == OUTPUT_JSON) {
                vuctl_print_json(reply, false);
                return VUCTL_EXIT_OK;
        }

        queues = json_get(reply, VL_FIELD_QUEUES);
        printf("%s: %zu queues\n", json_get_str(reply, VL_FIELD_DEVICE, "?"),
               queues ? json_object_array_length(queues) : 0);
        if (!queues || json_object_array_length(queues) == 0)
                return VUCTL_EXIT_OK;

        /* Backend's view, then the ring's view: indexes are mod 2^16 as on the wire. */
        t = table_new(18, "Q", "SIZE", "EN", "ST", "RDY", "KICK", "CALL", "LAST_AVAIL", "SHADOW_AVAIL",
                      "USED_IDX", "AVAIL.IDX", "USED.IDX", "AVAIL.FL", "USED.FL", "USED_EV", "AVAIL_EV",
                      "IN_USE", "INFLIGHT");
        a = table_new(9, "Q", "PACKED", "EVENT_IDX", "SIGNALLED", "LOGGING", "DESC", "AVAIL", "USED", "LOG");
        pk = table_new(7, "Q", "AVAIL_WRAP", "USED_WRAP", "DRIVER_EVENT", "DRV.OFF_WRAP", "DEVICE_EVENT",
                       "DEV.OFF_WRAP");
        if (!t || !a || !pk)
                return VUCTL_EXIT_DAEMON;
        for (size_t i = 0; i < 18; i++)
                if (i == 1 || i >= 7)
                        table_align_right(t, i);

        for (size_t i = 0; i < json_object_array_length(queues); i++) {
                json_object *q = json_object_array_get_idx(queues, i);
                int64_t idx = json_get_int(q, VL_FIELD_INDEX, (int64_t) i);

                table_add(t, "%" PRIi64, idx);
                table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_SIZE, 0));
                table_add(t, "%s", flag_cell(q, VL_FIELD_ENABLED));
                table_add(t, "%s", flag_cell(q, VL_FIELD_STARTED));
                table_add(t, "%s", flag_cell(q, VL_FIELD_READY));
                table_add(t, "%s", flag_cell(q, VL_FIELD_KICK_FD));
                table_add(t, "%s", flag_cell(q, VL_FIELD_CALL_FD));
                table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_LAST_AVAIL_IDX, 0));
                table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_SHADOW_AVAIL_IDX, 0));
                table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_USED_IDX, 0));
                if (json_get_bool(q, VL_FIELD_PACKED, false)) {
                        /* No avail/used rings to read: the packed table below has the ring's side. */
                        for (int k = 0; k < 6; k++)
                                table_add(t, "-");
                        table_add(pk, "%" PRIi64, idx);
                        table_add(pk, "%d", json_get_bool(q, VL_FIELD_AVAIL_WRAP_COUNTER, false));
                        table_add(pk, "%d", json_get_bool(q, VL_FIELD_USED_WRAP_COUNTER, false));
                        add_event_cell(pk, json_get(q, VL_FIELD_DRIVER_EVENT));
                        table_add(pk, "0x%04" PRIx64,
                                  json_get_uint(json_get(q, VL_FIELD_DRIVER_EVENT), VL_FIELD_OFF_WRAP, 0));
                        add_event_cell(pk, json_get(q, VL_FIELD_DEVICE_EVENT));
                        table_add(pk, "0x%04" PRIx64,
                                  json_get_uint(json_get(q, VL_FIELD_DEVICE_EVENT), VL_FIELD_OFF_WRAP, 0));
                        packed++;
                } else {
                        table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_AVAIL_IDX, 0));
                        table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_RING_USED_IDX, 0));
                        table_add(t, "0x%" PRIx64, json_get_uint(q, VL_FIELD_AVAIL_FLAGS, 0));
                        table_add(t, "0x%" PRIx64, json_get_uint(q, VL_FIELD_USED_FLAGS, 0));
                        table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_USED_EVENT, 0));
                        table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_AVAIL_EVENT, 0));
                }
                table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_INUSE, 0));
                table_add(t, "%" PRIu64, json_get_uint(q, VL_FIELD_INFLIGHT, 0));

                table_add(a, "%" PRIi64, idx);
                table_add(a, "%s", flag_cell(q, VL_FIELD_PACKED));
                table_add(a, "%s", flag_cell(q, VL_FIELD_EVENT_IDX));
                if (json_get_bool(q, VL_FIELD_SIGNALLED_USED_VALID, false))
                        table_add(a, "%" PRIu64, json_get_uint(q, VL_FIELD_SIGNALLED_USED, 0));
                else
                        table_add(a, "-");
                table_add(a, "%s", flag_cell(q, VL_FIELD_LOGGING));
                table_add(a, "0x%" PRIx64, json_get_uint(q, VL_FIELD_DESC_USER_ADDR, 0));
                table_add(a, "0x%" PRIx64, json_get_uint(q, VL_FIELD_AVAIL_USER_ADDR, 0));
                table_add(a, "0x%" PRIx64, json_get_uint(q, VL_FIELD_USED_USER_ADDR, 0));
                table_add(a, "0x%" PRIx64, json_get_uint(q, VL_FIELD_LOG_GUEST_ADDR, 0));
        }
        table_print(t, stdout);
        putchar('\n');
        table_print(a, stdout);
        if (packed > 0) {
                putchar('\n');
                table_print(pk, stdout);
        }
        printf("\nEN enabled, ST started, RDY rings mapped; indexes wrap at 65536; "
               "addresses are the frontend's (QVA)\n"
               "USED_EV: used_event, the driver wants a call once used.idx passes it;\n"
               "AVAIL_EV: avail_event, we want a kick once avail.idx passes it (both with EVENT_IDX)\n");
        if (packed > 0)
                printf("packed: indexes are ring slots, the wrap counters tell the lap; "
                       "DRIVER_EVENT is what the driver asks of our calls, DEVICE_EVENT what we ask of its "
                       "kicks\n");
        return VUCTL_EXIT_OK;
}
