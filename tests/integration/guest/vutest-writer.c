/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vutest-writer: a guest workload for migration and crash-recovery tests. It
 * keeps several O_DIRECT writes and reads in flight for a while (so a
 * migration or a backend crash always catches requests in the middle), and
 * remembers exactly which write each 4 KiB slot of the disk last received, so
 * that it can later prove that every acknowledged write is on the disk. It is
 * selected with vutest.prog=vutest-writer and prints the same verdict lines as
 * vutest-blk (VUTEST: PASS/FAIL <check>, VUTEST: DONE), plus progress:
 *
 *   VUTEST: RUNNING slots=<n> threads=<n> cache-blocks=<n>
 *   VUTEST: FLUSHED gen=<g>          every slot holds generation g and a flush succeeded
 *   VUTEST: TICK t=<s> gen=<g> writes=<n> reads=<n>      once a second while running
 *
 * Every slot is self-describing: a header (magic, slot, generation, seed) and
 * then words derived from all four, so a block that is stale, torn, misplaced
 * or from another run is told apart from the right one.
 *
 * Steps (vutest=STEP[,STEP...], in order):
 *   run          rounds of writing every slot with the next generation; after
 *                each chunk written the thread reads back an earlier chunk of
 *                its own into a "read cache" in guest memory (the device writes
 *                those pages: a migration must carry them, which only the
 *                backend's dirty log can tell it), checks it at once, and keeps
 *                it; a flush ends each round. Lasts vuw.secs (finishing the
 *                round), at most vuw.rounds rounds (0: no limit).
 *   verify       every slot holds exactly the generation this boot last wrote
 *                there, and every read-cache block still holds what was read.
 *   verify-disk  (a later boot) every slot is a valid block of this seed with a
 *                generation in vuw.min-gen..vuw.max-gen.
 *   park         fill vuw.park-mib MiB of guest memory with blocks for the region
 *                after the data region, and leave them untouched;
 *   unpark       (later, e.g. after a postcopy switch-over, when those pages may
 *                not have reached the destination yet) write them to the disk
 *                from that memory, then read them back and check them: the
 *                device reads guest memory the guest did not touch since.
 *   pause        sleep vuw.pause-secs (default 3), e.g. to let a migration end.
 *
 * Parameters: vuw.dev=/dev/vda vuw.seed=N vuw.mib=N (data region, from offset 0)
 * vuw.secs=N vuw.rounds=N vuw.threads=N (1..16) vuw.chunk=N (slots per I/O, 1..64)
 * vuw.cache-mib=N vuw.min-gen=N vuw.max-gen=N vuw.park-mib=N vuw.pause-secs=N.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOT 4096u
#define MAGIC UINT64_C(0x5655575249544552) /* "VUWRITER" */
#define MAX_THREADS 16
#define MAX_CHUNK 64

typedef struct Config {
        char dev[64];
        char steps[256];
        uint64_t seed;
        uint64_t mib;
        unsigned secs;
        unsigned rounds;
        unsigned threads;
        unsigned chunk;
        uint64_t cache_mib;
        uint64_t min_gen;
        uint64_t max_gen;
        uint64_t park_mib;
        unsigned pause_secs;
} Config;

static Config arg = {
        .dev = "/dev/vda",
        .seed = 1,
        .mib = 16,
        .secs = 10,
        .threads = 4,
        .chunk = 8,
        .cache_mib = 32,
        .max_gen = UINT32_MAX,
        .pause_secs = 3,
};

/* What a read-cache block should hold: the slot and generation it was read as. */
typedef struct CacheMeta {
        uint32_t slot;
        uint32_t gen; /* 0: never filled */
} CacheMeta;

typedef struct Worker {
        pthread_t thread;
        unsigned index;
        uint8_t *buf;       /* chunk * SLOT, for writes */
        uint8_t *cache;     /* this worker's part of the read cache */
        CacheMeta *meta;    /* one per cache block */
        size_t cache_blocks;
        size_t cache_pos;
        uint64_t writes, reads;
        int error;          /* -errno or -EBADMSG on a mismatch; 0 */
        char why[256];
} Worker;

static unsigned n_pass, n_fail;
static int disk_fd = -EBADF;
static uint64_t n_slots;
static uint32_t *slot_gen; /* generation whose write to the slot completed last (0: none) */
static Worker workers[MAX_THREADS];
static unsigned current_gen;
static pthread_barrier_t round_start, round_end;
static volatile bool stop_workers;
static uint8_t *park_buf;

__attribute__((format(printf, 2, 3))) static void pass(const char *what, const char *fmt, ...) {
        va_list ap;

        printf("VUTEST: PASS %s ", what);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        n_pass++;
}

/* Always returns -1 so a step can end with "return fail(...)". */
__attribute__((format(printf, 2, 3))) static int fail(const char *what, const char *fmt, ...) {
        va_list ap;

        printf("VUTEST: FAIL %s ", what);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        n_fail++;
        return -1;
}

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

static uint64_t block_word(uint64_t slot, uint64_t gen, size_t i) {
        return mix64(arg.seed * UINT64_C(0x9E3779B97F4A7C15) + (slot << 32) + (gen << 12) + i);
}

static void block_fill(uint8_t *b, uint64_t slot, uint32_t gen) {
        uint64_t *w = (uint64_t *) b;

        w[0] = MAGIC;
        w[1] = slot | ((uint64_t) gen << 32);
        w[2] = arg.seed;
        for (size_t i = 3; i < SLOT / 8; i++)
                w[i] = block_word(slot, gen, i);
}

/*
 * Checks a block read from @slot. Returns its generation (>= 1), or 0 with a
 * description of what is wrong in @why.
 */
static uint32_t block_check(const uint8_t *b, uint64_t slot, char *why, size_t why_len) {
        const uint64_t *w = (const uint64_t *) b;
        uint32_t gen = (uint32_t) (w[1] >> 32);

        if (w[0] != MAGIC) {
                snprintf(why, why_len, "slot %" PRIu64 ": no block header (first word %016" PRIx64 ")", slot,
                         w[0]);
                return 0;
        }
        if ((w[1] & UINT32_MAX) != slot || w[2] != arg.seed || gen == 0) {
                snprintf(why, why_len,
                         "slot %" PRIu64 ": header names slot %" PRIu64 " gen %" PRIu32 " seed %" PRIu64, slot,
                         w[1] & UINT32_MAX, gen, w[2]);
                return 0;
        }
        for (size_t i = 3; i < SLOT / 8; i++)
                if (w[i] != block_word(slot, gen, i)) {
                        snprintf(why, why_len,
                                 "slot %" PRIu64 " gen %" PRIu32 ": word %zu is %016" PRIx64 ", expected %016" PRIx64,
                                 slot, gen, i, w[i], block_word(slot, gen, i));
                        return 0;
                }
        return gen;
}

static int full_io(bool write, int fd, void *buf, size_t len, uint64_t off) {
        while (len > 0) {
                ssize_t n = write ? pwrite(fd, buf, len, (off_t) off) : pread(fd, buf, len, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ENODATA;
                buf = (uint8_t *) buf + n;
                len -= (size_t) n;
                off += (uint64_t) n;
        }
        return 0;
}

static void *aligned_zalloc(size_t len) {
        void *p = NULL;

        if (posix_memalign(&p, SLOT, len) != 0)
                return NULL;
        memset(p, 0, len);
        return p;
}

__attribute__((format(printf, 3, 4))) static void worker_fail(Worker *w, int err, const char *fmt, ...) {
        va_list ap;

        if (w->error)
                return;
        w->error = err;
        va_start(ap, fmt);
        vsnprintf(w->why, sizeof(w->why), fmt, ap);
        va_end(ap);
}

/* Reads @n slots from @first into the next place of the read cache, and checks them. */
static void worker_read_back(Worker *w, uint64_t first, unsigned n, uint32_t gen) {
        uint8_t *dst;
        int r;

        if (w->cache_blocks < n)
                return;
        if (w->cache_pos + n > w->cache_blocks)
                w->cache_pos = 0;
        dst = w->cache + w->cache_pos * SLOT;
        r = full_io(false, disk_fd, dst, (size_t) n * SLOT, first * SLOT);
        if (r < 0)
                return worker_fail(w, r, "read of %u slots at slot %" PRIu64 " (gen %" PRIu32 "): %s", n, first,
                                   gen, strerror(-r));
        w->reads++;
        for (unsigned i = 0; i < n; i++) {
                char why[200];
                uint32_t got = block_check(dst + (size_t) i * SLOT, first + i, why, sizeof(why));

                if (got != gen)
                        return worker_fail(w, -EBADMSG, "read back right after writing: %s%s (expected gen %" PRIu32 ")",
                                           got ? "" : why, got ? "wrong generation" : "", gen);
                w->meta[w->cache_pos + i] = (CacheMeta){.slot = (uint32_t) (first + i), .gen = gen};
        }
        w->cache_pos += n;
}

/* Writes every slot this worker owns (runs of @chunk slots, interleaved with the other workers). */
static void worker_round(Worker *w, uint32_t gen) {
        uint64_t stride = (uint64_t) arg.chunk * arg.threads, prev = UINT64_MAX;
        unsigned prev_n = 0;

        for (uint64_t first = (uint64_t) w->index * arg.chunk; first < n_slots && !w->error; first += stride) {
                unsigned n = (unsigned) (n_slots - first < arg.chunk ? n_slots - first : arg.chunk);
                int r;

                for (unsigned i = 0; i < n; i++)
                        block_fill(w->buf + (size_t) i * SLOT, first + i, gen);
                r = full_io(true, disk_fd, w->buf, (size_t) n * SLOT, first * SLOT);
                if (r < 0)
                        return worker_fail(w, r, "write of %u slots at slot %" PRIu64 " (gen %" PRIu32 "): %s", n,
                                           first, gen, strerror(-r));
                w->writes++;
                /* The write completed: from now on the disk must hold this generation there. */
                for (unsigned i = 0; i < n; i++)
                        __atomic_store_n(&slot_gen[first + i], gen, __ATOMIC_RELEASE);
                if (prev != UINT64_MAX)
                        worker_read_back(w, prev, prev_n, gen);
                prev = first;
                prev_n = n;
        }
}

static void *worker_main(void *userdata) {
        Worker *w = userdata;

        for (;;) {
                pthread_barrier_wait(&round_start);
                if (stop_workers)
                        return NULL;
                worker_round(w, __atomic_load_n(&current_gen, __ATOMIC_ACQUIRE));
                pthread_barrier_wait(&round_end);
        }
}

static int step_run(void) {
        size_t cache_blocks = arg.cache_mib * (1u << 20) / SLOT / arg.threads;
        double t0 = now_sec(), next_tick = t0 + 1;
        uint64_t writes = 0, reads = 0;
        unsigned rounds = 0;
        int r = 0;

        for (unsigned i = 0; i < arg.threads; i++) {
                Worker *w = &workers[i];

                w->index = i;
                if (!w->buf)
                        w->buf = aligned_zalloc((size_t) arg.chunk * SLOT);
                if (!w->cache) {
                        w->cache_blocks = cache_blocks;
                        w->cache = cache_blocks ? aligned_zalloc(cache_blocks * SLOT) : NULL;
                        w->meta = calloc(cache_blocks ? cache_blocks : 1, sizeof(CacheMeta));
                }
                if (!w->buf || (cache_blocks && !w->cache) || !w->meta)
                        return fail("run", "cannot allocate %zu bytes of read cache", cache_blocks * SLOT);
        }
        pthread_barrier_init(&round_start, NULL, arg.threads + 1);
        pthread_barrier_init(&round_end, NULL, arg.threads + 1);
        stop_workers = false;
        for (unsigned i = 0; i < arg.threads; i++)
                if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
                        return fail("run", "cannot start worker %u", i);

        printf("VUTEST: RUNNING slots=%" PRIu64 " threads=%u cache-blocks=%zu\n", n_slots, arg.threads,
               cache_blocks * arg.threads);
        fflush(stdout);
        for (;;) {
                bool failed = false;

                __atomic_store_n(&current_gen, current_gen + 1, __ATOMIC_RELEASE);
                pthread_barrier_wait(&round_start);
                /* Progress while the round runs, so the host can see the guest stall and resume. */
                pthread_barrier_wait(&round_end);
                rounds++;
                for (unsigned i = 0; i < arg.threads; i++)
                        if (workers[i].error) {
                                r = fail("run", "round %u: worker %u: %s", current_gen, i, workers[i].why);
                                failed = true;
                        }
                if (failed)
                        break;
                if (fdatasync(disk_fd) < 0) {
                        r = fail("run", "flush after round %u failed: %m", current_gen);
                        break;
                }
                writes = reads = 0;
                for (unsigned i = 0; i < arg.threads; i++) {
                        writes += workers[i].writes;
                        reads += workers[i].reads;
                }
                printf("VUTEST: FLUSHED gen=%u\n", current_gen);
                if (now_sec() >= next_tick) {
                        printf("VUTEST: TICK t=%.0f gen=%u writes=%" PRIu64 " reads=%" PRIu64 "\n", now_sec() - t0,
                               current_gen, writes, reads);
                        next_tick = now_sec() + 1;
                }
                fflush(stdout);
                if (now_sec() - t0 >= arg.secs || (arg.rounds && rounds >= arg.rounds))
                        break;
        }
        stop_workers = true;
        pthread_barrier_wait(&round_start);
        for (unsigned i = 0; i < arg.threads; i++)
                pthread_join(workers[i].thread, NULL);
        pthread_barrier_destroy(&round_start);
        pthread_barrier_destroy(&round_end);
        if (r < 0)
                return r;
        pass("run", "rounds=%u gen=%u writes=%" PRIu64 " reads=%" PRIu64 " bytes-written=%" PRIu64 " secs=%.1f", rounds,
             current_gen, writes, reads, (uint64_t) rounds * n_slots * SLOT, now_sec() - t0);
        return 0;
}

/* Reads the whole region; @check says whether slot i is right. Counts bytes verified. */
static int verify_region(const char *what, bool exact, uint64_t *ret_bytes) {
        const unsigned batch = 64;
        uint8_t *buf = aligned_zalloc((size_t) batch * SLOT);
        uint64_t bytes = 0;
        int r;

        if (!buf)
                return fail(what, "out of memory");
        for (uint64_t first = 0; first < n_slots; first += batch) {
                unsigned n = (unsigned) (n_slots - first < batch ? n_slots - first : batch);

                r = full_io(false, disk_fd, buf, (size_t) n * SLOT, first * SLOT);
                if (r < 0) {
                        free(buf);
                        return fail(what, "read of %u slots at slot %" PRIu64 " failed: %s", n, first, strerror(-r));
                }
                for (unsigned i = 0; i < n; i++) {
                        uint64_t slot = first + i;
                        char why[200];
                        uint32_t got = block_check(buf + (size_t) i * SLOT, slot, why, sizeof(why));

                        if (exact && slot_gen[slot] == 0)
                                continue; /* never written this boot */
                        if (!got) {
                                free(buf);
                                return fail(what, "%s", why);
                        }
                        if (exact ? got != slot_gen[slot] : (got < arg.min_gen || got > arg.max_gen)) {
                                free(buf);
                                if (exact)
                                        return fail(what,
                                                    "slot %" PRIu64 " holds gen %" PRIu32
                                                    ", but the write of gen %" PRIu32 " to it was acknowledged",
                                                    slot, got, slot_gen[slot]);
                                return fail(what,
                                            "slot %" PRIu64 " holds gen %" PRIu32 ", outside %" PRIu64 "..%" PRIu64,
                                            slot, got, arg.min_gen, arg.max_gen);
                        }
                        bytes += SLOT;
                }
        }
        free(buf);
        *ret_bytes = bytes;
        return 0;
}

/* The read cache: pages the device wrote into guest memory, checked long after. */
static int verify_cache(uint64_t *ret_bytes) {
        uint64_t bytes = 0;

        for (unsigned i = 0; i < arg.threads; i++) {
                Worker *w = &workers[i];

                for (size_t b = 0; b < w->cache_blocks; b++) {
                        char why[200];
                        uint32_t got;

                        if (w->meta[b].gen == 0)
                                continue;
                        got = block_check(w->cache + b * SLOT, w->meta[b].slot, why, sizeof(why));
                        if (got != w->meta[b].gen)
                                return fail("verify",
                                            "read cache block %zu of worker %u (guest memory the device wrote): %s%s"
                                            " (expected slot %" PRIu32 " gen %" PRIu32 ")",
                                            b, i, got ? "" : why, got ? "wrong generation" : "", w->meta[b].slot,
                                            w->meta[b].gen);
                        bytes += SLOT;
                }
        }
        *ret_bytes = bytes;
        return 0;
}

static int step_verify(void) {
        uint64_t disk_bytes = 0, cache_bytes = 0;
        double t0 = now_sec();

        if (verify_region("verify", true, &disk_bytes) < 0 || verify_cache(&cache_bytes) < 0)
                return -1;
        pass("verify", "bytes=%" PRIu64 " disk-bytes=%" PRIu64 " cache-bytes=%" PRIu64 " gen=%u secs=%.1f",
             disk_bytes + cache_bytes, disk_bytes, cache_bytes, current_gen, now_sec() - t0);
        return 0;
}

static int step_verify_disk(void) {
        uint64_t bytes = 0;

        if (verify_region("verify-disk", false, &bytes) < 0)
                return -1;
        pass("verify-disk", "bytes=%" PRIu64 " gens=%" PRIu64 "..%" PRIu64, bytes, arg.min_gen, arg.max_gen);
        return 0;
}

#define PARK_GEN 1u

static int step_park(void) {
        size_t len = arg.park_mib * (1u << 20);

        if (len == 0)
                return fail("park", "vuw.park-mib is 0");
        park_buf = aligned_zalloc(len);
        if (!park_buf)
                return fail("park", "cannot allocate %zu bytes", len);
        for (size_t i = 0; i < len / SLOT; i++)
                block_fill(park_buf + i * SLOT, n_slots + i, PARK_GEN);
        pass("park", "bytes=%zu", len);
        return 0;
}

static int step_unpark(void) {
        size_t len = arg.park_mib * (1u << 20), chunk = 1u << 20;
        uint8_t *back;
        double t0 = now_sec();
        int r;

        if (!park_buf)
                return fail("unpark", "no park step before");
        /* Straight from the parked pages: the device, not the guest CPU, is the first to read them. */
        for (size_t off = 0; off < len; off += chunk) {
                r = full_io(true, disk_fd, park_buf + off, chunk, n_slots * SLOT + off);
                if (r < 0)
                        return fail("unpark", "write of %zu bytes at disk offset %" PRIu64 " failed: %s", chunk,
                                    n_slots * SLOT + off, strerror(-r));
        }
        if (fdatasync(disk_fd) < 0)
                return fail("unpark", "flush failed: %m");
        back = aligned_zalloc(chunk);
        if (!back)
                return fail("unpark", "out of memory");
        for (size_t off = 0; off < len; off += chunk) {
                r = full_io(false, disk_fd, back, chunk, n_slots * SLOT + off);
                if (r < 0) {
                        free(back);
                        return fail("unpark", "read back at disk offset %" PRIu64 " failed: %s",
                                    n_slots * SLOT + off, strerror(-r));
                }
                for (size_t i = 0; i < chunk / SLOT; i++) {
                        uint64_t slot = n_slots + (off + i * SLOT) / SLOT;
                        char why[200];

                        if (block_check(back + i * SLOT, slot, why, sizeof(why)) != PARK_GEN) {
                                free(back);
                                return fail("unpark", "the disk got something else than the parked memory held: %s",
                                            why);
                        }
                }
        }
        free(back);
        pass("unpark", "bytes=%zu secs=%.1f", len, now_sec() - t0);
        return 0;
}

static void parse_u64(const char *key, const char *value, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(value, &end, 0);
        if (errno || end == value || *end || v > max) {
                printf("VUTEST: FAIL cmdline bad value for %s: '%s' (0..%" PRIu64 ")\n", key, value, max);
                n_fail++;
                return;
        }
        *ret = v;
}

static void parse_unsigned(const char *key, const char *value, unsigned max, unsigned *ret) {
        uint64_t v = *ret;

        parse_u64(key, value, max, &v);
        *ret = (unsigned) v;
}

static void parse_cmdline(char *cmdline) {
        char *save = NULL;

        for (char *w = strtok_r(cmdline, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
                char *v = strchr(w, '=');

                if (!v)
                        continue;
                *v++ = 0;
                if (!strcmp(w, "vutest"))
                        snprintf(arg.steps, sizeof(arg.steps), "%s", v);
                else if (!strcmp(w, "vuw.dev"))
                        snprintf(arg.dev, sizeof(arg.dev), "%s", v);
                else if (!strcmp(w, "vuw.seed"))
                        parse_u64(w, v, UINT64_MAX, &arg.seed);
                else if (!strcmp(w, "vuw.mib"))
                        parse_u64(w, v, 1u << 20, &arg.mib);
                else if (!strcmp(w, "vuw.secs"))
                        parse_unsigned(w, v, 3600, &arg.secs);
                else if (!strcmp(w, "vuw.rounds"))
                        parse_unsigned(w, v, UINT32_MAX - 1, &arg.rounds);
                else if (!strcmp(w, "vuw.threads"))
                        parse_unsigned(w, v, MAX_THREADS, &arg.threads);
                else if (!strcmp(w, "vuw.chunk"))
                        parse_unsigned(w, v, MAX_CHUNK, &arg.chunk);
                else if (!strcmp(w, "vuw.cache-mib"))
                        parse_u64(w, v, 1024, &arg.cache_mib);
                else if (!strcmp(w, "vuw.min-gen"))
                        parse_u64(w, v, UINT32_MAX, &arg.min_gen);
                else if (!strcmp(w, "vuw.max-gen"))
                        parse_u64(w, v, UINT32_MAX, &arg.max_gen);
                else if (!strcmp(w, "vuw.park-mib"))
                        parse_u64(w, v, 1024, &arg.park_mib);
                else if (!strcmp(w, "vuw.pause-secs"))
                        parse_unsigned(w, v, 3600, &arg.pause_secs);
        }
        if (arg.threads == 0)
                arg.threads = 1;
        if (arg.chunk == 0)
                arg.chunk = 1;
}

int main(int argc, char *argv[]) {
        char cmdline[4096] = "", *save = NULL;
        FILE *f;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc > 1) {
                size_t used = 0;
                for (int i = 1; i < argc && used < sizeof(cmdline); i++)
                        used += (size_t) snprintf(cmdline + used, sizeof(cmdline) - used, "%s ", argv[i]);
        } else if ((f = fopen("/proc/cmdline", "re"))) {
                if (!fgets(cmdline, sizeof(cmdline), f))
                        cmdline[0] = 0;
                fclose(f);
        }
        parse_cmdline(cmdline);

        n_slots = arg.mib * (1u << 20) / SLOT;
        slot_gen = calloc(n_slots ? n_slots : 1, sizeof(*slot_gen));
        disk_fd = open(arg.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (!slot_gen || disk_fd < 0) {
                fail("open", "cannot open %s for O_DIRECT I/O: %m", arg.dev);
                goto done;
        }
        if (!arg.steps[0])
                fail("cmdline", "no vutest=STEP[,STEP...] given");

        for (char *s = strtok_r(arg.steps, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
                int r;

                if (!strcmp(s, "run"))
                        r = step_run();
                else if (!strcmp(s, "verify"))
                        r = step_verify();
                else if (!strcmp(s, "verify-disk"))
                        r = step_verify_disk();
                else if (!strcmp(s, "park"))
                        r = step_park();
                else if (!strcmp(s, "unpark"))
                        r = step_unpark();
                else if (!strcmp(s, "pause")) {
                        sleep(arg.pause_secs);
                        r = 0;
                } else
                        r = fail(s, "unknown step (run, verify, verify-disk, park, unpark, pause)");
                if (r < 0 && !strcmp(s, "run"))
                        break; /* verifying a run that failed says nothing more */
        }
done:
        printf("VUTEST: DONE pass=%u fail=%u\n", n_pass, n_fail);
        fflush(stdout);
        return n_fail ? 1 : 0;
}
