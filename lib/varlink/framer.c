/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Cutting a byte stream into NUL-terminated varlink messages. No I/O here:
 * the caller reads into the space varlink_framer_reserve() hands out, so
 * the framing is tested with plain byte strings. The buffer is capped at
 * one maximal message plus its NUL, which bounds what a peer can make us
 * hold.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "varlink.h"

void varlink_framer_init(VarlinkFramer *f, size_t max_message) {
        *f = (VarlinkFramer){
                .max_message = max_message,
        };
}

void varlink_framer_done(VarlinkFramer *f) {
        free(f->buf);
        varlink_framer_init(f, f->max_message);
}

size_t varlink_framer_pending(const VarlinkFramer *f) {
        return f->end - f->start;
}

/* Drop handed-out bytes so the pending message starts at offset 0. */
static void framer_compact(VarlinkFramer *f) {
        if (f->start == 0)
                return;
        memmove(f->buf, f->buf + f->start, f->end - f->start);
        f->end -= f->start;
        f->start = 0;
}

int varlink_framer_reserve(VarlinkFramer *f, size_t want, char **ret_ptr, size_t *ret_len) {
        size_t cap = f->max_message + 1, need, room;

        if (want == 0)
                want = 1;

        framer_compact(f);
        if (f->end >= cap)
                return -E2BIG;

        /* Never hand out more than what keeps the buffer within the cap. */
        room = cap - f->end;
        if (want > room)
                want = room;

        need = f->end + want;
        if (need > f->allocated) {
                size_t n = f->allocated ? f->allocated : 4096;
                char *p;

                while (n < need)
                        n *= 2;
                if (n > cap)
                        n = cap;
                p = realloc(f->buf, n);
                if (!p)
                        return -ENOMEM;
                f->buf = p;
                f->allocated = n;
        }

        *ret_ptr = f->buf + f->end;
        *ret_len = f->allocated - f->end < want ? f->allocated - f->end : want;
        return 0;
}

void varlink_framer_commit(VarlinkFramer *f, size_t n) {
        if (n > f->allocated - f->end) /* a caller bug; never trust it to overrun */
                n = f->allocated - f->end;
        f->end += n;
}

int varlink_framer_feed(VarlinkFramer *f, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                char *dst;
                size_t n;
                int r;

                r = varlink_framer_reserve(f, len, &dst, &n);
                if (r < 0)
                        return r;
                memcpy(dst, p, n);
                varlink_framer_commit(f, n);
                p += n;
                len -= n;
        }
        return 0;
}

int varlink_framer_next(VarlinkFramer *f, const char **ret_msg, size_t *ret_len) {
        const char *nul;
        size_t len;

        if (f->start == f->end)
                return 0;

        nul = memchr(f->buf + f->start + f->scanned, 0, f->end - f->start - f->scanned);
        if (!nul) {
                f->scanned = f->end - f->start;
                if (f->scanned > f->max_message)
                        return -E2BIG;
                return 0;
        }

        len = (size_t) (nul - (f->buf + f->start));
        if (len > f->max_message)
                return -E2BIG;

        *ret_msg = f->buf + f->start;
        *ret_len = len;
        f->start += len + 1;
        f->scanned = 0;
        if (f->start == f->end)
                f->start = f->end = 0;
        return 1;
}
