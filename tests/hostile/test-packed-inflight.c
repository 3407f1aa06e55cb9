/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packed layout of the inflight buffer (vhost-user DescStatePacked)
 * written by a hostile frontend before a reconnect: chains of 0 or 65535
 * descriptors, links that leave the table, recorded buffer ids past the
 * ring or buffers outside guest memory, a header whose indexes point
 * nowhere, more chains in flight than the ring holds. None may crash, hang
 * or read outside the buffer: bad entries are dropped or the header is
 * started afresh (the queue still works), and a recorded chain that does
 * not walk is refused by name like a bad ring. A well-formed record is
 * resubmitted with its id and completed in the ring.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostile.h"

#define QSIZE 16
#define RING_PACKED_BIT 34
#define F_NEXT 1
#define F_WRITE 2
#define F_AVAIL (1u << 7)
#define F_USED (1u << 15)
#define FRESH_BASE UINT32_C(0x80008000)

/* The spec's layout, as a frontend (or another backend) sees it. */
typedef struct PEntry {
        uint8_t inflight;
        uint8_t padding;
        uint16_t next;
        uint16_t last;
        uint16_t num;
        uint64_t counter;
        uint16_t id;
        uint16_t flags;
        uint32_t len;
        uint64_t addr;
} PEntry;

typedef struct PRegion {
        uint64_t features;
        uint16_t version;
        uint16_t desc_num;
        uint16_t free_head;
        uint16_t old_free_head;
        uint16_t used_idx;
        uint16_t old_used_idx;
        uint8_t used_wrap_counter;
        uint8_t old_used_wrap_counter;
        uint8_t padding[7];
        PEntry desc[];
} PRegion;

_Static_assert(sizeof(PEntry) == 32 && sizeof(PRegion) == 32, "DescStatePacked layout");

typedef struct Fixture {
        Hostile h;
        VhostUserInflight inf;
        int fd;
        PRegion *q; /* queue 0's region, our mapping */
} Fixture;

/* Negotiate packed, get an inflight buffer (laid out for packed), and a region for us to write. */
static void fixture_new(Fixture *f) {
        VhostUserInflight want = {.num_queues = 2, .queue_size = QSIZE};
        VhostUserMsg reply;
        void *map;

        hostile_new(&f->h, 2);
        hostile_negotiate(&f->h, UINT64_C(1) << RING_PACKED_BIT);
        check(f->h.dev.features & (UINT64_C(1) << RING_PACKED_BIT));
        check(hostile_has_protocol(&f->h, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
        hostile_mem_add(&f->h, 0, HOSTILE_MEM_SIZE);
        hostile_mem_table_send(&f->h);
        hostile_expect_ok(&f->h, VHOST_USER_GET_INFLIGHT_FD, &want, sizeof(want), NULL, 0, &reply);
        check_msg(reply.fd_num == 1, "GET_INFLIGHT_FD answered with %d fds", reply.fd_num);
        f->fd = reply.fds[0];
        f->inf = reply.payload.inflight;
        check_msg(f->inf.mmap_size >= 2 * (sizeof(PRegion) + QSIZE * sizeof(PEntry)),
                  "inflight buffer of %llu bytes is too small for the packed layout",
                  (unsigned long long) f->inf.mmap_size);
        map = mmap(NULL, f->inf.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
        check_msg(map != MAP_FAILED, "mmap inflight: %m");
        f->q = map;
        /* What a crashed backend leaves: a used region with every entry on the free list. */
        memset(f->q, 0, sizeof(PRegion) + QSIZE * sizeof(PEntry));
        for (unsigned int i = 0; i < QSIZE; i++)
                f->q->desc[i].next = (uint16_t) (i + 1);
        f->q->version = 1;
        f->q->desc_num = QSIZE;
        f->q->used_wrap_counter = f->q->old_used_wrap_counter = 1;
}

/* Record a chain of @n entries from entry @head onward, in flight, as taken @counter-th. */
static void record(Fixture *f, uint16_t head, uint16_t n, uint16_t id, uint64_t counter) {
        for (uint16_t k = 0; k < n; k++) {
                PEntry *e = &f->q->desc[head + k];

                e->addr = HOSTILE_BUF_GPA + 0x100 * (head + k);
                e->len = 32;
                e->id = id;
                e->flags = (uint16_t) ((k + 1 < n ? F_NEXT : F_WRITE) | F_AVAIL);
        }
        f->q->desc[head].num = n;
        f->q->desc[head].last = (uint16_t) (head + n - 1);
        f->q->desc[head].counter = counter;
        f->q->desc[head].inflight = 1;
        /* Taken from the free list: it now starts after the chain. */
        f->q->free_head = f->q->old_free_head = (uint16_t) (head + n);
}

/* Hand the buffer to the library and start queue 0 as a reconnecting frontend does. */
static void fixture_start(Fixture *f) {
        hostile_expect_ok(&f->h, VHOST_USER_SET_INFLIGHT_FD, &f->inf, sizeof(f->inf), &f->fd, 1, NULL);
        hostile_queue_setup_base(&f->h, 0, QSIZE, HOSTILE_DESC_GPA, FRESH_BASE);
}

static void fixture_free(Fixture *f) {
        munmap(f->q, f->inf.mmap_size);
        close(f->fd);
        hostile_free(&f->h);
}

/* The queue works after the library dropped what it could not believe: a ring chain pops and completes. */
static void check_queue_works(Fixture *f) {
        VuVirtqElement *e;
        VuQueueInfo qi;
        struct vring_packed_desc d;

        check(vu_queue_get_info(&f->h.dev, 0, &qi) == 0);
        d = (struct vring_packed_desc){
                .addr = HOSTILE_BUF_GPA,
                .len = 8,
                .id = 2,
                .flags = (uint16_t) (qi.avail_wrap_counter ? F_AVAIL : F_USED),
        };
        memcpy(hostile_gpa(&f->h, HOSTILE_DESC_GPA + 16 * (uint64_t) qi.last_avail_idx, 16), &d, 16);
        e = hostile_pop(&f->h, 0);
        check_msg(e && e->index == 2, "a plain chain at slot %u did not pop: %s", qi.last_avail_idx,
                  vu_last_error(&f->h.dev));
        vu_queue_push(&f->h.dev, vu_get_queue(&f->h.dev, 0), e, 0);
        free(e);
        check_msg(!f->h.dev.broken && f->h.panics == 0, "device broken: %s", f->h.panic_msg);
}

typedef void (*Corrupt)(Fixture *f);

static void run_dropped(const char *what, Corrupt corrupt) {
        Fixture f;
        VuQueueInfo qi;

        hostile_step("packed inflight: %s (dropped, the queue goes on)", what);
        fixture_new(&f);
        corrupt(&f);
        fixture_start(&f);
        check(vu_queue_get_info(&f.h.dev, 0, &qi) == 0);
        check_msg(qi.resubmit_pending == 0, "%u chains to resubmit from a corrupt buffer",
                  qi.resubmit_pending);
        check_queue_works(&f);
        fixture_free(&f);
}

static void run_refused(const char *what, Corrupt corrupt, const char *n1, const char *n2) {
        Fixture f;

        hostile_step("packed inflight: %s (refused when resubmitted)", what);
        fixture_new(&f);
        corrupt(&f);
        fixture_start(&f);
        hostile_expect_pop_refused(&f.h, 0, n1, n2);
        fixture_free(&f);
}

static void chain_of_zero(Fixture *f) {
        record(f, 0, 1, 1, 0);
        f->q->desc[0].num = 0;
}

static void chain_of_65535(Fixture *f) {
        record(f, 0, 1, 1, 0);
        f->q->desc[0].num = 0xffff;
}

static void header_free_head_nowhere(Fixture *f) {
        record(f, 0, 2, 1, 0);
        f->q->free_head = f->q->old_free_head = 0xffff;
}

static void header_used_beyond_ring(Fixture *f) {
        record(f, 0, 2, 1, 0);
        f->q->used_idx = f->q->old_used_idx = 0x7fff;
}

static void header_wrap_not_a_bit(Fixture *f) {
        record(f, 0, 2, 1, 0);
        f->q->used_wrap_counter = f->q->old_used_wrap_counter = 7;
}

static void more_than_the_ring(Fixture *f) {
        for (uint16_t i = 0; i < 8; i++)
                record(f, (uint16_t) (2 * i), 2, i, i); /* 8 chains of 2 ... */
        f->q->desc[14].num = 3;                         /* ... and one claims 3: 17 slots of 16 */
        f->q->free_head = f->q->old_free_head = QSIZE;  /* every entry taken: the free list is empty */
}

static void link_leaves_table(Fixture *f) {
        record(f, 0, 3, 1, 0);
        f->q->desc[0].next = 200;
}

static void id_past_ring(Fixture *f) {
        record(f, 0, 2, QSIZE, 0);
}

static void buffer_outside(Fixture *f) {
        record(f, 0, 2, 1, 0);
        f->q->desc[1].addr = 0x40000000;
}

static void test_good_record(void) {
        struct vring_packed_desc used;
        VuVirtqElement *e;
        VuQueueInfo qi;
        Fixture f;

        hostile_step("packed inflight: a well-formed record of two chains is resubmitted in counter order");
        fixture_new(&f);
        record(&f, 0, 2, 5, 7);
        record(&f, 2, 1, 9, 3);
        for (unsigned int i = 0; i < 3; i++) {
                f.q->desc[i].next = (uint16_t) (i + 1);
        }
        fixture_start(&f);
        check(vu_queue_get_info(&f.h.dev, 0, &qi) == 0);
        check_msg(qi.resubmit_pending == 2, "resubmit_pending %u, want 2", qi.resubmit_pending);
        /* Three slots in flight after used index 0: new chains start at slot 3. */
        check_msg(qi.last_avail_idx == 3 && qi.avail_wrap_counter, "resuming at %u/%d, want 3/1",
                  qi.last_avail_idx, qi.avail_wrap_counter);

        e = hostile_pop(&f.h, 0);
        check_msg(e && e->index == 9 && e->out_num == 0 && e->in_num == 1, "first resubmission: %s",
                  e ? "wrong chain" : vu_last_error(&f.h.dev));
        free(e);
        e = hostile_pop(&f.h, 0);
        check_msg(e && e->index == 5 && e->out_num == 1 && e->in_num == 1, "second resubmission: %s",
                  e ? "wrong chain" : vu_last_error(&f.h.dev));
        check((uint8_t *) e->in_sg[0].iov_base - (uint8_t *) e->out_sg[0].iov_base == 0x100);
        vu_queue_push(&f.h.dev, vu_get_queue(&f.h.dev, 0), e, 32);
        free(e);
        memcpy(&used, hostile_gpa(&f.h, HOSTILE_DESC_GPA, 16), 16);
        check_msg(used.id == 5 && used.len == 32 && (used.flags & (F_AVAIL | F_USED)) == (F_AVAIL | F_USED),
                  "used descriptor id %u len %u flags 0x%x", used.id, used.len, used.flags);
        check(!f.h.dev.broken && f.h.panics == 0);
        fixture_free(&f);
}

int main(void) {
        int fds = hostile_count_fds();

        run_dropped("a chain of 0 descriptors", chain_of_zero);
        run_dropped("a chain of 65535 descriptors", chain_of_65535);
        run_dropped("free_head 65535", header_free_head_nowhere);
        run_dropped("used_idx 32767 in a 16-entry ring", header_used_beyond_ring);
        run_dropped("a wrap counter of 7", header_wrap_not_a_bit);
        run_dropped("17 slots in flight in a 16-entry ring", more_than_the_ring);
        run_refused("a chain link to entry 200 of 16", link_leaves_table, "inflight", "inconsistent");
        run_refused("a recorded buffer id 16 in a 16-entry ring", id_past_ring, "16", "id");
        run_refused("a recorded buffer outside guest memory", buffer_outside, "40000000", "guest memory");
        test_good_record();

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
