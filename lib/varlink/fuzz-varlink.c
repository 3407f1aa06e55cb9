/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for everything the control socket does with a peer's
 * bytes before a method runs: framing, strict JSON parsing, the call shape
 * check and typed parameter access.
 */
#include <stddef.h>
#include <stdint.h>

#include "varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VarlinkFramer f;
        const char *msg;
        size_t len;

        varlink_framer_init(&f, 4096);
        while (size > 0) {
                size_t chunk = size < 777 ? size : 777;
                int r;

                if (varlink_framer_feed(&f, data, chunk) < 0)
                        break;
                data += chunk;
                size -= chunk;

                while ((r = varlink_framer_next(&f, &msg, &len)) > 0) {
                        json_object *o = NULL;
                        VarlinkCall call;
                        const char *s;
                        int64_t i;

                        if (varlink_json_parse(msg, len, &o, NULL) < 0)
                                continue;
                        if (varlink_call_parse(o, &call, NULL) == 0) {
                                (void) varlink_param_string(call.parameters, "device", false, &s);
                                (void) varlink_param_int64(call.parameters, "queue", false, 0, 1023, &i);
                        }
                        json_object_put(o);
                }
                if (r < 0)
                        break;
        }
        varlink_framer_done(&f);
        return 0;
}
