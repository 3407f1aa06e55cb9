/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unit tests' tiny harness: assertions that print file:line and both
 * values, and a fixture that puts one VuDev (the library under test) and
 * one test frontend on the two ends of a socketpair, with a poll-based
 * watch table standing in for the program's event loop and a small "echo"
 * device whose queue handler can be told how to behave.
 *
 * Everything is single-threaded: the frontend's pump runs vu_dispatch()
 * after every message it sends, and test_dev_run() runs the kick watches.
 */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvhost-user-ext.h"
#include "macro.h"
#include "vu-frontend.h"

/* ---- assertions ---------------------------------------------------------- */

#define TEST_FAIL(...)                                                                                      \
        do {                                                                                                \
                fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                                     \
                fprintf(stderr, __VA_ARGS__);                                                               \
                fputc('\n', stderr);                                                                        \
                abort();                                                                                    \
        } while (0)

#define ASSERT_TRUE(x)                                                                                      \
        do {                                                                                                \
                if (!(x))                                                                                   \
                        TEST_FAIL("expected true: %s", #x);                                                 \
        } while (0)

#define ASSERT_FALSE(x)                                                                                     \
        do {                                                                                                \
                if (x)                                                                                      \
                        TEST_FAIL("expected false: %s", #x);                                                \
        } while (0)

#define ASSERT_EQ(a, b)                                                                                     \
        do {                                                                                                \
                long long _a = (long long) (a), _b = (long long) (b);                                       \
                if (_a != _b)                                                                               \
                        TEST_FAIL("%s == %s: %lld (0x%llx) != %lld (0x%llx)", #a, #b, _a,                   \
                                  (unsigned long long) _a, _b, (unsigned long long) _b);                    \
        } while (0)

#define ASSERT_NE(a, b)                                                                                     \
        do {                                                                                                \
                long long _a = (long long) (a), _b = (long long) (b);                                       \
                if (_a == _b)                                                                               \
                        TEST_FAIL("%s != %s: both %lld", #a, #b, _a);                                       \
        } while (0)

#define ASSERT_GE(a, b)                                                                                     \
        do {                                                                                                \
                long long _a = (long long) (a), _b = (long long) (b);                                       \
                if (!(_a >= _b))                                                                            \
                        TEST_FAIL("%s >= %s: %lld < %lld", #a, #b, _a, _b);                                 \
        } while (0)

#define ASSERT_LE(a, b)                                                                                     \
        do {                                                                                                \
                long long _a = (long long) (a), _b = (long long) (b);                                       \
                if (!(_a <= _b))                                                                            \
                        TEST_FAIL("%s <= %s: %lld > %lld", #a, #b, _a, _b);                                 \
        } while (0)

/* A call that returns 0/positive or -errno. */
#define ASSERT_OK(expr)                                                                                     \
        do {                                                                                                \
                long long _r = (long long) (expr);                                                          \
                if (_r < 0)                                                                                 \
                        TEST_FAIL("%s: %lld (%s)", #expr, _r, strerror((int) -_r));                         \
        } while (0)

#define ASSERT_ERR(expr, err)                                                                               \
        do {                                                                                                \
                long long _r = (long long) (expr);                                                          \
                if (_r != (long long) (err))                                                                \
                        TEST_FAIL("%s: expected %s (%d), got %lld (%s)", #expr, #err, (int) (err), _r,      \
                                  _r < 0 ? strerror((int) -_r) : "success");                                \
        } while (0)

#define ASSERT_NOT_NULL(p)                                                                                  \
        do {                                                                                                \
                if (!(p))                                                                                   \
                        TEST_FAIL("expected non-NULL: %s", #p);                                             \
        } while (0)

#define ASSERT_NULL(p)                                                                                      \
        do {                                                                                                \
                if (p)                                                                                      \
                        TEST_FAIL("expected NULL: %s", #p);                                                 \
        } while (0)

#define ASSERT_MEMEQ(a, b, n)                                                                               \
        do {                                                                                                \
                size_t _n = (n);                                                                            \
                const uint8_t *_pa = (const uint8_t *) (a), *_pb = (const uint8_t *) (b);                   \
                for (size_t _i = 0; _i < _n; _i++)                                                          \
                        if (_pa[_i] != _pb[_i])                                                             \
                                TEST_FAIL("%s and %s differ at byte %zu of %zu: 0x%02x != 0x%02x", #a, #b,  \
                                          _i, _n, _pa[_i], _pb[_i]);                                        \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                                  \
        do {                                                                                                \
                const char *_a = (a), *_b = (b);                                                            \
                if (!_a || !_b || strcmp(_a, _b) != 0)                                                      \
                        TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)",                 \
                                  _b ? _b : "(null)");                                                      \
        } while (0)

/* Run one test function, announcing it (ctest shows this on failure). */
#define RUN_TEST(fn)                                                                                        \
        do {                                                                                                \
                fprintf(stderr, "== %s\n", #fn);                                                            \
                fn();                                                                                       \
        } while (0)

/* Open fds in this process (to catch leaks: the library runs in-process). */
unsigned int test_count_fds(void);

/* ---- fixture ------------------------------------------------------------- */

typedef enum TestMode {
        TEST_MODE_ECHO,   /* pop all, copy readable bytes into writable ones, push, notify once */
        TEST_MODE_HOLD,   /* pop up to hold_max and keep the elements (no push) */
        TEST_MODE_IGNORE, /* handler does nothing */
} TestMode;

#define TEST_MAX_WATCHES 1100
#define TEST_MAX_HELD 1024

typedef struct TestWatch {
        int fd;
        int condition;
        vu_watch_cb cb;
        void *data;
} TestWatch;

typedef struct TestDev {
        VuDev dev; /* first: callbacks get &dev and cast back */
        VuDevIface iface;
        int backend_fd;
        VfConn *conn;

        TestWatch watches[TEST_MAX_WATCHES];
        unsigned int nwatches;

        unsigned int panics;
        char panic_msg[256];

        /* what the device offers */
        uint64_t device_features;
        uint64_t device_protocol_features;
        uint64_t acked_features;
        uint64_t acked_protocol_features;
        uint8_t config[VHOST_USER_MAX_CONFIG_SIZE];
        uint32_t config_len;
        unsigned int set_config_calls;

        /* queue handler */
        TestMode mode;
        bool use_pop_into;
        unsigned int handler_calls;
        uint64_t echoed;
        unsigned int hold_max;
        VuVirtqElement *held[TEST_MAX_HELD];
        unsigned int nheld;
        unsigned int started_calls;
        bool in_order;
} TestDev;

/* Which queues the fixture's device serves: "max_queues" for vu_init(). */
TestDev *test_dev_new(uint16_t max_queues);

/*
 * A device serving a frontend on @fd (a connected unix socket, owned and
 * closed by the fixture), without a test frontend: for the
 * two-process test. Serve it with test_dev_serve().
 */
TestDev *test_dev_new_on_fd(uint16_t max_queues, int fd);

/*
 * One turn of a plain event loop: wait up to @timeout_ms for the socket or
 * a watched fd, then dispatch messages and run watches. Returns false once
 * the connection is gone (the frontend closed it, or the library broke it).
 */
bool test_dev_serve(TestDev *td, int timeout_ms);

/* vu_deinit(), close both ends, free (held elements freed too). */
void test_dev_free(TestDev *td);

/* Handle every message waiting on the backend socket (the frontend's pump). */
void test_dev_pump(void *userdata);

/* Run the watches whose fds are ready, waiting up to @timeout_ms for the first. Returns how many ran. */
unsigned int test_dev_run(TestDev *td, int timeout_ms);

/*
 * The usual start: GET/SET_FEATURES (@features & what the backend offers,
 * plus PROTOCOL_FEATURES), GET/SET_PROTOCOL_FEATURES (@protocol_features),
 * SET_OWNER, SET_MEM_TABLE of @mem. Asserts on failure.
 */
void test_dev_negotiate(TestDev *td, VfMem *mem, uint64_t features, uint64_t protocol_features);

/*
 * Lay out a ring of @num entries in region 0 of @mem, announce it as queue
 * @qidx (NUM, BASE 0, ADDR, CALL, KICK; @log_used sets VHOST_VRING_F_LOG),
 * enable it, and assert the backend started it.
 */
VfVring *test_queue_start(TestDev *td, VfMem *mem, unsigned int qidx, unsigned int num, bool event_idx,
                          bool log_used);

/* A frontend memory map with @n regions of @size bytes each, 1 MiB apart in guest space. */
VfMem *test_mem_new(unsigned int n, uint64_t size);

/* The fixture's queue handler (what td->mode says), for a device that installs it itself. */
void test_dev_queue_handler(VuDev *dev, int qidx);

/* Free the elements held by TEST_MODE_HOLD. */
void test_dev_drop_held(TestDev *td);

/* Fill @buf with a pattern derived from @seed (to check data arrives intact). */
void test_fill_pattern(void *buf, size_t len, unsigned int seed);
