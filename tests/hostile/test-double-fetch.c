/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Double fetch: the guest rewrites a descriptor while the backend walks it
 * (the classic virtio time-of-check/time-of-use hole). A thread flips
 * descriptor fields between a valid buffer and hostile values (an address
 * that wraps, a length past guest memory, a bad indirect table length) as
 * fast as it can while the main thread pops. Whatever interleaving happens,
 * every element handed out must lie wholly inside guest memory as the
 * library mapped it; a refusal is fine (the device is then re-created).
 * The same race against vu_queue_pop_burst(), which leaves to
 * vu_queue_pop_into() what it does not take.
 * The run is bounded in time; how many races were won is only printed.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "hostile.h"

#define SECONDS 0.5
#define TABLE UINT64_C(0x8000)

typedef struct Flipper {
        struct vring_desc *desc;   /* descriptor 0 of the ring */
        struct vring_desc *table;  /* entry 0 of the indirect table */
        bool indirect;
        bool stop;
        uint64_t flips;
} Flipper;

static void *flip(void *arg) {
        Flipper *f = arg;

        for (uint64_t n = 0; !__atomic_load_n(&f->stop, __ATOMIC_RELAXED); n++) {
                struct vring_desc *d = f->indirect ? f->table : f->desc;

                switch (n % 4) {
                case 0:
                        __atomic_store_n(&d->addr, HOSTILE_BUF_GPA, __ATOMIC_RELAXED);
                        __atomic_store_n(&d->len, 64, __ATOMIC_RELAXED);
                        break;
                case 1:
                        __atomic_store_n(&d->addr, UINT64_C(0xfffffffffffff000), __ATOMIC_RELAXED);
                        break;
                case 2:
                        __atomic_store_n(&d->addr, HOSTILE_MEM_SIZE - 16, __ATOMIC_RELAXED);
                        __atomic_store_n(&d->len, 0x100000, __ATOMIC_RELAXED);
                        break;
                case 3:
                        if (f->indirect)
                                __atomic_store_n(&f->desc->len, (uint32_t) (n & 1 ? 16 : 0x7fff0), __ATOMIC_RELAXED);
                        break;
                }
                __atomic_store_n(&f->flips, n + 1, __ATOMIC_RELAXED);
        }
        return NULL;
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static bool in_library_memory(Hostile *h, const struct iovec *v) {
        VuRegionInfo r[HOSTILE_MAX_MEM];
        unsigned int n = vu_get_regions(&h->dev, r, HOSTILE_MAX_MEM);

        for (unsigned int i = 0; i < n && i < HOSTILE_MAX_MEM; i++) {
                uintptr_t start = (uintptr_t) r[i].host_addr, base = (uintptr_t) v->iov_base;

                if (base >= start && base - start <= r[i].size && v->iov_len <= r[i].size - (base - start))
                        return true;
        }
        return false;
}

static void start(Hostile *h, Flipper *f, pthread_t *t, bool indirect) {
        hostile_setup_default(h);
        h->quiet = true;
        hostile_desc(h, TABLE, 0, HOSTILE_BUF_GPA, 64, 0, 0);
        hostile_desc(h, HOSTILE_DESC_GPA, 0, indirect ? TABLE : HOSTILE_BUF_GPA, 16,
                     indirect ? VRING_DESC_F_INDIRECT : 0, 0);
        f->desc = hostile_gpa(h, HOSTILE_DESC_GPA, 16);
        f->table = hostile_gpa(h, TABLE, 16);
        f->indirect = indirect;
        f->stop = false;
        f->flips = 0;
        check(pthread_create(t, NULL, flip, f) == 0);
        /* Race a running thread, not one still being created. */
        while (__atomic_load_n(&f->flips, __ATOMIC_RELAXED) == 0)
                sched_yield();
}

static void stop(Hostile *h, Flipper *f, pthread_t t) {
        __atomic_store_n(&f->stop, true, __ATOMIC_RELAXED);
        check(pthread_join(t, NULL) == 0);
        hostile_free(h);
}

/* One pop as a NIC pops: a burst of one, else vu_queue_pop_into(). Returns the element or NULL. */
static VuVirtqElement *pop_burst(Hostile *h, VuVirtqElement *e, struct iovec *iov, unsigned int iov_max) {
        VuVirtq *vq = vu_get_queue(&h->dev, 0);
        int r = vu_queue_pop_burst(&h->dev, vq, e, iov, 1);

        if (r == 0)
                r = vu_queue_pop_into(&h->dev, vq, e, iov, iov_max);
        return r > 0 ? e : NULL;
}

static void run(bool indirect, bool burst) {
        unsigned int popped = 0, refused = 0;
        Flipper f;
        pthread_t t;
        Hostile h;

        hostile_step("%.1f s of %s racing a thread that rewrites the %s", SECONDS, burst ? "burst pops" : "pops",
                     indirect ? "indirect table and its length" : "descriptor");
        start(&h, &f, &t, indirect);
        for (double t0 = now(); now() - t0 < SECONDS;) {
                VuVirtqElement *e, be;
                struct iovec biov[8];

                hostile_avail(&h, 0, 0);
                e = burst ? pop_burst(&h, &be, biov, ELEMENTSOF(biov)) : hostile_pop(&h, 0);
                if (!e) {
                        check_msg(h.dev.broken, "pop returned nothing on a non-empty ring without refusing it");
                        refused++;
                        stop(&h, &f, t);
                        start(&h, &f, &t, indirect);
                        continue;
                }
                for (unsigned int k = 0; k < e->out_num + e->in_num; k++) {
                        const struct iovec *v = k < e->out_num ? &e->out_sg[k] : &e->in_sg[k - e->out_num];

                        check_msg(in_library_memory(&h, v), "element %u buffer %u (%p+%zu) is outside guest memory",
                                  e->index, k, v->iov_base, v->iov_len);
                }
                vu_queue_push(&h.dev, vu_get_queue(&h.dev, 0), e, 0);
                if (!burst)
                        free(e);
                popped++;
        }
        stop(&h, &f, t);
        /* How often the race was won depends on scheduling; it is reported, never judged. */
        printf("   %u popped, %u refused\n", popped, refused);
}

int main(void) {
        int fds = hostile_count_fds();

        run(false, false);
        run(true, false);
        run(false, true);

        check_msg(hostile_count_fds() == fds, "fd leak: %d open before, %d after", fds, hostile_count_fds());
        printf("ok\n");
        return 0;
}
