/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the varlink framing and message layer: what a peer can send
 * (split, merged, oversize, garbage, bad UTF-8, wrong shapes and types) and
 * what the framer and parser make of it. No sockets: everything is bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

static unsigned passed, failed;

#define CHECK(cond)                                                                                         \
        do {                                                                                                \
                if (cond)                                                                                   \
                        passed++;                                                                           \
                else {                                                                                      \
                        failed++;                                                                           \
                        fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, __func__,      \
                                #cond);                                                                     \
                }                                                                                           \
        } while (0)

static void test_framer_split_and_merged(void) {
        VarlinkFramer f;
        const char *m;
        size_t len;
        static const char two[] = "{\"a\":1}\0{\"b\":2}"; /* second one lacks its NUL so far */

        varlink_framer_init(&f, 64);
        CHECK(varlink_framer_next(&f, &m, &len) == 0);

        CHECK(varlink_framer_feed(&f, two, sizeof(two) - 1) == 0);
        CHECK(varlink_framer_next(&f, &m, &len) == 1);
        CHECK(len == 7 && strcmp(m, "{\"a\":1}") == 0);
        CHECK(varlink_framer_next(&f, &m, &len) == 0);
        CHECK(varlink_framer_pending(&f) == 7);

        CHECK(varlink_framer_feed(&f, "", 1) == 0); /* the NUL arrives */
        CHECK(varlink_framer_next(&f, &m, &len) == 1);
        CHECK(len == 7 && strcmp(m, "{\"b\":2}") == 0);
        CHECK(varlink_framer_pending(&f) == 0);

        /* One byte at a time. */
        static const char one[] = "{\"method\":\"a.b.C\"}";
        for (size_t i = 0; i < sizeof(one); i++) {
                CHECK(varlink_framer_feed(&f, one + i, 1) == 0);
                if (i + 1 < sizeof(one))
                        CHECK(varlink_framer_next(&f, &m, &len) == 0);
        }
        CHECK(varlink_framer_next(&f, &m, &len) == 1);
        CHECK(len == sizeof(one) - 1 && memcmp(m, one, len) == 0);

        /* An empty message is framed (the parser refuses it). */
        CHECK(varlink_framer_feed(&f, "", 1) == 0);
        CHECK(varlink_framer_next(&f, &m, &len) == 1 && len == 0);

        varlink_framer_done(&f);
}

static void test_framer_cap(void) {
        VarlinkFramer f;
        char big[100];
        const char *m;
        size_t len;

        memset(big, 'x', sizeof(big));

        /* Exactly the cap is fine. */
        varlink_framer_init(&f, 16);
        CHECK(varlink_framer_feed(&f, big, 16) == 0);
        CHECK(varlink_framer_next(&f, &m, &len) == 0);
        CHECK(varlink_framer_feed(&f, "", 1) == 0);
        CHECK(varlink_framer_next(&f, &m, &len) == 1 && len == 16);
        varlink_framer_done(&f);

        /* One more byte without a NUL is refused, and the buffer stays bounded. */
        varlink_framer_init(&f, 16);
        CHECK(varlink_framer_feed(&f, big, 17) == 0);
        CHECK(varlink_framer_next(&f, &m, &len) == -E2BIG);
        CHECK(varlink_framer_feed(&f, big, 1) == -E2BIG);
        CHECK(f.allocated <= 17);
        varlink_framer_done(&f);

        /* A peer streaming far past the cap is refused, not buffered. */
        varlink_framer_init(&f, 16);
        CHECK(varlink_framer_feed(&f, big, sizeof(big)) == -E2BIG);
        CHECK(f.allocated <= 17);
        varlink_framer_done(&f);

        /* Room handed out never exceeds the cap. */
        char *p;
        size_t room;
        varlink_framer_init(&f, 16);
        CHECK(varlink_framer_reserve(&f, 1 << 20, &p, &room) == 0);
        CHECK(room == 17);
        varlink_framer_done(&f);
}

static void test_json_parse(void) {
        json_object *o = NULL;
        VarlinkParseError e = {};
        static const char bad_utf8[] = "{\"method\":\"a.b.C\",\"x\":\"\xff\xfe\"}";

        CHECK(varlink_json_parse("{\"a\": [1, 2]}", 13, &o, &e) == 0);
        CHECK(o && json_object_is_type(o, json_type_object));
        json_object_put(o);
        o = NULL;

        CHECK(varlink_json_parse(bad_utf8, strlen(bad_utf8), &o, &e) == -EBADMSG);
        CHECK(!o);
        CHECK(e.offset >= 22 && e.offset <= 24);
        CHECK(e.reason[0] != 0);

        CHECK(varlink_json_parse("{\"a\":1} x", 9, &o, &e) == -EBADMSG);
        CHECK(e.offset == 8);
        CHECK(varlink_json_parse("{\"a\":1}  \n", 10, &o, &e) == 0);
        json_object_put(o);

        CHECK(varlink_json_parse("{\"a\":", 5, &o, &e) == -EBADMSG);
        CHECK(e.offset == 5);
        CHECK(varlink_json_parse("", 0, &o, &e) == -EBADMSG);
        CHECK(varlink_json_parse("null", 4, &o, &e) == -EBADMSG);
        CHECK(varlink_json_parse("{'a':1}", 7, &o, &e) == -EBADMSG); /* strict */
        CHECK(e.offset == 1);

        /* Nesting beyond the limit is refused instead of recursing. */
        char deep[2 * (VARLINK_JSON_DEPTH_MAX + 10) + 1];
        size_t n = 0;
        for (int i = 0; i < VARLINK_JSON_DEPTH_MAX + 10; i++)
                deep[n++] = '[';
        for (int i = 0; i < VARLINK_JSON_DEPTH_MAX + 10; i++)
                deep[n++] = ']';
        CHECK(varlink_json_parse(deep, n, &o, &e) == -EBADMSG);
}

static json_object *parse(const char *s);

/* What json-c takes and RFC 8259 does not, and reasons that name the real problem. */
static void test_json_strict(void) {
        static const struct {
                const char *text;
                size_t offset;
                const char *reason; /* a part of it */
        } bad[] = {
                {"not json", 0, "unexpected word 'not'"},
                {"{\"a\":NaN}", 5, "NaN is not a JSON number"},
                {"{\"a\":-Infinity}", 5, "-Infinity is not a JSON number"},
                {"{\"a\":tru}", 5, "'tru'"},
                {"{a:1}", 1, "'a'"},
                {"{\"method\":\"a.b.C\",\"method\":\"a.b.D\"}", 18, "duplicate key 'method'"},
                {"{\"x\":{\"k\":1,\"k\":2}}", 12, "duplicate key 'k'"},
                {"{\"\\u0061\":1,\"a\":2}", 12, "duplicate key 'a'"},
                {"{\"a\":1.}", 6, "digit must follow"},
                {"{\"a\":\"\x01\"}", 6, "control character"},
                {"{\"a\":1", 6, "unexpected end"},
                {"  ", 2, "empty message"},
        };
        static const char *const good[] = {
                "42",
                "-1",
                "true",
                "[]",
                "\"abc\"",
                "1e5",
                "1.5E+3",
                "{\"a\":[{\"x\":1},{\"x\":2}]}",
                "{\"a\":{\"k\":1},\"b\":{\"k\":2}}",
                "{\"k\":\"\\\"k\\\"\"}",
        };
        json_object *o = NULL;
        VarlinkParseError e;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                o = NULL;
                CHECK(varlink_json_parse(bad[i].text, strlen(bad[i].text), &o, &e) == -EBADMSG);
                CHECK(!o);
                if (e.offset != bad[i].offset || !strstr(e.reason, bad[i].reason))
                        fprintf(stderr, "%s: offset %zu reason '%s'\n", bad[i].text, e.offset, e.reason);
                CHECK(e.offset == bad[i].offset);
                CHECK(strstr(e.reason, bad[i].reason) != NULL);
        }
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                o = NULL;
                CHECK(varlink_json_parse(good[i], strlen(good[i]), &o, &e) == 0);
                CHECK(o != NULL);
                json_object_put(o);
        }
        /* A top-level number is a whole value, not an unexpected end. */
        CHECK(varlink_json_parse("42", 2, &o, &e) == 0 && json_object_get_int(o) == 42);
        json_object_put(o);
}

/* vuctl checks replies against the IDL: required fields, types, nesting, unknown fields. */
static void test_idl(void) {
        _cleanup_(varlink_idl_freep) VarlinkIdl *idl = NULL;
        static const struct {
                VarlinkIdlWhat what;
                const char *member, *json;
                unsigned flags;
                int r;
                const char *problem;
        } cases[] = {
                {VARLINK_IDL_METHOD_OUTPUT, "Ping", "{\"version\":\"1\",\"uptime_usec\":5}", 0, 0, NULL},
                {VARLINK_IDL_METHOD_OUTPUT, "io.vusidecar.Ping", "{\"version\":5,\"uptime_usec\":5}", 0,
                 -EBADMSG, "version: expected a string"},
                {VARLINK_IDL_METHOD_OUTPUT, "Ping", "{\"version\":\"1\"}", 0, -EBADMSG,
                 "field 'uptime_usec' is missing"},
                {VARLINK_IDL_METHOD_OUTPUT, "Ping", "{\"version\":\"1\",\"uptime_usec\":5,\"new\":1}", 0,
                 -EBADMSG, "field 'new' is not declared"},
                {VARLINK_IDL_METHOD_OUTPUT, "Ping", "{\"version\":\"1\",\"uptime_usec\":5,\"new\":1}",
                 VARLINK_IDL_ALLOW_UNKNOWN, 0, NULL},
                {VARLINK_IDL_METHOD_OUTPUT, "GetStatus", "{\"devices\":\"x\"}", VARLINK_IDL_ALLOW_UNKNOWN,
                 -EBADMSG, NULL},
                {VARLINK_IDL_METHOD_OUTPUT, "GetQueues",
                 "{\"device\":\"b\",\"connected\":true,\"queues\":\"x\"}", 0, -EBADMSG,
                 "queues: expected an array, got a string"},
                {VARLINK_IDL_METHOD_OUTPUT, "GetQueues",
                 "{\"device\":\"b\",\"connected\":true,\"queues\":[{}]}", 0, -EBADMSG,
                 "queues[0]: field 'index' is missing"},
                {VARLINK_IDL_METHOD_OUTPUT, "GetLog",
                 "{\"device\":\"b\",\"active\":false,\"log_all\":false,\"log_size_bytes\":0,"
                 "\"pages_marked\":0,\"log_writes\":0,\"rings_logging\":0,\"started_realtime_usec\":null}",
                 0, 0, NULL},
                {VARLINK_IDL_ERROR, "NoSuchDevice", "{\"device\":\"x\",\"devices\":[\"a\",1]}", 0, -EBADMSG,
                 "devices[1]: expected a string, got a number"},
                {VARLINK_IDL_ERROR, "io.vusidecar.InvalidParameter",
                 "{\"parameter\":\"x\",\"reason\":\"y\"}", 0, 0, NULL},
                {VARLINK_IDL_ERROR, "org.varlink.service.InvalidParameter", "{}", 0, -ENOENT, NULL},
                {VARLINK_IDL_METHOD_OUTPUT, "Frobnicate", "{}", 0, -ENOENT, NULL},
                {VARLINK_IDL_METHOD_INPUT, "Resize", "{\"size\":512,\"shrink\":true}", 0, 0, NULL},
        };

        CHECK(varlink_idl_parse(vusidecar_interface_description, &idl) == 0);
        CHECK(idl && strcmp(varlink_idl_get_interface(idl), VL_INTERFACE) == 0);
        for (size_t i = 0; idl && i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *problem = NULL;
                json_object *o = parse(cases[i].json);
                int r;

                CHECK(o != NULL);
                r = varlink_idl_validate(idl, cases[i].what, cases[i].member, o, cases[i].flags, &problem);
                if (r != cases[i].r ||
                    (cases[i].problem && (!problem || !strstr(problem, cases[i].problem))))
                        fprintf(stderr, "case %zu: %d %s\n", i, r, problem ?: "-");
                CHECK(r == cases[i].r);
                if (cases[i].problem)
                        CHECK(problem && strstr(problem, cases[i].problem));
                json_object_put(o);
        }

        /* Grammar it does not know is refused, not guessed at. */
        {
                VarlinkIdl *x = NULL;

                CHECK(varlink_idl_parse("interface a.b\nmethod F(x: int -> ()\n", &x) == -EBADMSG);
                CHECK(varlink_idl_parse("interface a.b\nfrobnicate\n", &x) == -EBADMSG);
                CHECK(varlink_idl_parse(
                              "interface a.b\ntype E (one, two)\nmethod F(e: E, m: [string]?int) -> ()\n",
                              &x) == 0);
                varlink_idl_free(x);
        }
}

static json_object *parse(const char *s) {
        json_object *o = NULL;

        if (varlink_json_parse(s, strlen(s), &o, NULL) < 0)
                return NULL;
        return o;
}

static void test_call_parse(void) {
        VarlinkCall c;
        const char *bad = NULL;
        json_object *o;

        o = parse("{\"method\":\"io.vusidecar.Ping\"}");
        CHECK(varlink_call_parse(o, &c, &bad) == 0);
        CHECK(strcmp(c.method, VL_METHOD_PING) == 0);
        CHECK(json_object_is_type(c.parameters, json_type_object));
        CHECK(c.flags == 0);
        json_object_put(o);

        o = parse("{\"method\":\"io.vusidecar.Monitor\",\"parameters\":{},\"more\":true}");
        CHECK(varlink_call_parse(o, &c, &bad) == 0 && c.flags == VARLINK_CALL_MORE);
        json_object_put(o);

        static const struct {
                const char *text, *field;
        } bad_calls[] = {
                {"[1]", "message"},
                {"{}", "method"},
                {"{\"method\":5}", "method"},
                {"{\"method\":\"a.b\\u0000.C\"}", "method"},
                {"{\"method\":\"a.b.C\",\"parameters\":[]}", "parameters"},
                {"{\"method\":\"a.b.C\",\"more\":\"yes\"}", "more"},
                {"{\"method\":\"a.b.C\",\"oneway\":1}", "oneway"},
                {"{\"method\":\"a.b.C\",\"more\":true,\"oneway\":true}", "oneway"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_calls); i++) {
                o = parse(bad_calls[i].text);
                CHECK(o != NULL);
                bad = NULL;
                CHECK(varlink_call_parse(o, &c, &bad) == -EBADMSG);
                CHECK(bad && strcmp(bad, bad_calls[i].field) == 0);
                json_object_put(o);
        }
}

static void test_names(void) {
        CHECK(varlink_name_is_valid("io.vusidecar.GetStatus"));
        CHECK(varlink_name_is_valid("org.varlink.service.GetInfo"));
        CHECK(varlink_name_is_valid("org.example-x.Foo2"));
        CHECK(!varlink_name_is_valid("GetStatus"));
        CHECK(!varlink_name_is_valid("io.GetStatus")); /* the interface needs two segments */
        CHECK(!varlink_name_is_valid("io..vusidecar.Ping"));
        CHECK(!varlink_name_is_valid("io.vusidecar.ping"));
        CHECK(!varlink_name_is_valid("io.vusidecar.Pi ng"));
        CHECK(!varlink_name_is_valid(".io.vusidecar.Ping"));
        CHECK(!varlink_name_is_valid("1o.vusidecar.Ping"));
        CHECK(!varlink_name_is_valid(""));
}

static void test_params(void) {
        json_object *o =
                parse("{\"s\":\"x\",\"z\":\"a\\u0000b\",\"b\":true,\"i\":-5,\"u\":18446744073709551615,"
                      "\"big\":99999999999999999999999,\"f\":1.5,\"n\":null}");
        const char *s = NULL, *unknown = NULL;
        bool b = false;
        int64_t i = 0;
        uint64_t u = 0;

        CHECK(o != NULL);
        CHECK(varlink_param_string(o, "s", true, &s) == 0 && strcmp(s, "x") == 0);
        CHECK(varlink_param_string(o, "z", true, &s) == -EINVAL);
        CHECK(varlink_param_string(o, "b", true, &s) == -EINVAL);
        CHECK(varlink_param_string(o, "missing", true, &s) == -ENOENT);
        s = "untouched";
        CHECK(varlink_param_string(o, "missing", false, &s) == 0 && strcmp(s, "untouched") == 0);
        CHECK(varlink_param_string(o, "n", false, &s) == 0 && strcmp(s, "untouched") == 0);
        CHECK(varlink_param_bool(o, "b", true, &b) == 0 && b);
        CHECK(varlink_param_bool(o, "i", true, &b) == -EINVAL);
        CHECK(varlink_param_int64(o, "i", true, -10, 10, &i) == 0 && i == -5);
        CHECK(varlink_param_int64(o, "i", true, 0, 10, &i) == -EINVAL);
        CHECK(varlink_param_int64(o, "f", true, INT64_MIN, INT64_MAX, &i) == -EINVAL);
        /* json-c saturates integers beyond 64 bits; range checks still refuse them. */
        CHECK(varlink_param_int64(o, "big", true, 0, INT64_C(1) << 40, &i) == -EINVAL);
        CHECK(varlink_param_uint64(o, "u", true, &u) == 0 && u == UINT64_MAX);
        CHECK(varlink_param_uint64(o, "i", true, &u) == -EINVAL); /* negative */

        static const char *const known[] = {"s", "z", "b", "i", "u", "big", "f", "n", NULL};
        static const char *const fewer[] = {"s", NULL};
        CHECK(varlink_params_check_known(o, known, &unknown) == 0);
        CHECK(varlink_params_check_known(o, fewer, &unknown) == -EINVAL && strcmp(unknown, "z") == 0);
        json_object_put(o);
}

static void test_build_and_reply(void) {
        _cleanup_free_ char *text = NULL;
        json_object *call = NULL, *o;
        VarlinkReply r = {};
        size_t len;

        CHECK(varlink_call_build("not a name", NULL, 0, &call) == -EINVAL);
        CHECK(varlink_call_build(VL_METHOD_PING, NULL, VARLINK_CALL_MORE | VARLINK_CALL_ONEWAY, &call) ==
              -EINVAL);
        CHECK(varlink_call_build(VL_METHOD_MONITOR, NULL, VARLINK_CALL_MORE, &call) == 0);
        CHECK(varlink_message_serialize(call, &text, &len) == 0);
        CHECK(len == strlen(text) + 1 && text[len - 1] == 0);
        CHECK(strstr(text, "\"more\":true") != NULL);
        json_object_put(call);

        o = varlink_error_build(VL_ERROR_NO_SUCH_DEVICE, NULL);
        CHECK(o != NULL);
        json_object_object_add(json_object_object_get(o, "parameters"), VL_PARAM_DEVICE,
                               json_object_new_string("blk9"));
        CHECK(varlink_reply_parse(o, &r) == 0);
        CHECK(r.error && strcmp(r.error, VL_ERROR_NO_SUCH_DEVICE) == 0);
        CHECK(strcmp(json_object_get_string(json_object_object_get(r.parameters, "device")), "blk9") == 0);
        CHECK(!r.continues);
        varlink_reply_done(&r);
        json_object_put(o);

        o = varlink_reply_build(NULL, true);
        CHECK(varlink_reply_parse(o, &r) == 0 && !r.error && r.continues);
        varlink_reply_done(&r);
        json_object_put(o);

        o = parse("{\"parameters\":5}");
        CHECK(varlink_reply_parse(o, &r) == -EBADMSG);
        json_object_put(o);
        o = parse("{\"error\":[]}");
        CHECK(varlink_reply_parse(o, &r) == -EBADMSG);
        json_object_put(o);
}

static void test_interface_description(void) {
        /* Every method in the header is declared in the IDL. */
        static const char *const methods[] = {
                VL_METHOD_PING,          VL_METHOD_GET_STATUS,    VL_METHOD_GET_STATS,
                VL_METHOD_GET_QUEUES,    VL_METHOD_DUMP_QUEUE,    VL_METHOD_GET_LOG,
                VL_METHOD_SET_LOG_LEVEL, VL_METHOD_SET_READ_ONLY, VL_METHOD_SET_LIMITS,
                VL_METHOD_SET_POLLING,   VL_METHOD_RESIZE,        VL_METHOD_RESET_STATS,
                VL_METHOD_MONITOR,       VL_METHOD_SET_LINK,
        };
        char needle[128];

        CHECK(strstr(vusidecar_interface_description, "\ninterface " VL_INTERFACE "\n") != NULL);
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                snprintf(needle, sizeof(needle), "method %s(", methods[i] + strlen(VL_INTERFACE "."));
                CHECK(strstr(vusidecar_interface_description, needle) != NULL);
        }
}

int main(void) {
        test_framer_split_and_merged();
        test_framer_cap();
        test_json_parse();
        test_json_strict();
        test_call_parse();
        test_names();
        test_params();
        test_build_and_reply();
        test_interface_description();
        test_idl();

        printf("%u passed, %u failed\n", passed, failed);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
