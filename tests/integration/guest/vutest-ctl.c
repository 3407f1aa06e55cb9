/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vutest-ctl: the guest side of the control-socket tests (control-*.bats) and
 * of the control benchmark. The host changes the device through vuctl while
 * this program does precisely counted I/O and reports what the guest kernel
 * saw, so the host can hold the sidecar's counters, ring state and settings
 * against the guest's own view. Selected with vutest.prog=vutest-ctl; verdict
 * lines as vutest-blk prints them, plus:
 *
 *   VUTEST: STAT tag=T rd_ios= rd_sectors= wr_ios= wr_sectors= fl_ios= in_flight=
 *                             the guest kernel's /sys/block/vda/stat counters
 *   VUTEST: WAIT name         waiting for the host to write "GO name" into the mailbox
 *   VUTEST: GO name polls=N   seen after N mailbox reads (4096 bytes each)
 *   VUTEST: IDLE begin|end    the device is open and quiet in between
 *   VUTEST: SIZE sectors=N    the capacity the guest kernel shows now
 *
 * Steps (vutest=STEP[,STEP...]; arguments after ':'):
 *   stat:TAG            print the STAT line
 *   write:MIB:SEED      O_DIRECT write of MIB MiB from offset 0, 1 MiB per call
 *   read:MIB:SEED       O_DIRECT read of MIB MiB from offset 0, checked against SEED
 *   wait:NAME           poll the mailbox (O_DIRECT 4 KiB reads, every 50 ms)
 *   idle:SECS           keep the device open and do nothing
 *   grow                wait until /sys/block/vda/size changes, then read the new last block
 *   blkw:SEED           write one 4 KiB block of SEED at vuc.blk MiB; must succeed
 *   blkw-fail:SEED      the same write must fail with EIO, the block must be unchanged
 *   blkr:SEED           the block at vuc.blk MiB must hold SEED's pattern
 *   iops:N              N sequential 4 KiB O_DIRECT writes at queue depth 1, timed
 *   seq:SECS:DIR        sequential 256 KiB O_DIRECT I/O at depth vuc.qd for SECS seconds over
 *                       the first vuc.seq-mib MiB (DIR r or w), then a VUTEST-SEQ line; the
 *                       requests take turns over vuc.bufs buffers (a migration test makes the
 *                       device write many distinct guest pages)
 * Parameters: vuc.dev=/dev/vda vuc.mailbox=MIB (63) vuc.blk=MIB (40) vuc.timeout=S (90)
 *             vuc.qd=N (4) vuc.seq-mib=N (32) vuc.bufs=N (vuc.qd; at most 1024)
 *
 * The mailbox is one 4 KiB block the host writes into the image file behind
 * the device: a channel from the host to the guest that needs no network and
 * whose cost (polls x 4096 bytes read) the guest reports exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MIB (UINT64_C(1) << 20)
#define BLK 4096u

typedef struct Config {
        char dev[64];
        char steps[1024];
        uint64_t mailbox_mib;
        uint64_t blk_mib;
        unsigned timeout;
        unsigned qd;
        unsigned bufs;
        uint64_t seq_mib;
} Config;

static Config arg = {
        .dev = "/dev/vda",
        .mailbox_mib = 63,
        .blk_mib = 40,
        .timeout = 90,
        .qd = 4,
        .seq_mib = 32,
};

static unsigned n_pass, n_fail;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
}

__attribute__((format(printf, 2, 3))) static int pass(const char *what, const char *fmt, ...) {
        va_list ap;

        printf("VUTEST: PASS %s ", what);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        n_pass++;
        return 0;
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
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The same pattern as vutest-blk: depends on the seed and the byte offset only. */
static uint64_t pattern_word(uint64_t seed, uint64_t offset) {
        uint64_t z = seed * UINT64_C(0x9E3779B97F4A7C15) + (offset >> 3) + 1;

        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
}

static void pattern_fill(void *buf, size_t len, uint64_t offset, uint64_t seed) {
        uint64_t *w = buf;

        for (size_t i = 0; i < len / 8; i++)
                w[i] = pattern_word(seed, offset + i * 8);
}

static bool pattern_matches(const void *buf, size_t len, uint64_t offset, uint64_t seed) {
        const uint64_t *w = buf;

        for (size_t i = 0; i < len / 8; i++)
                if (w[i] != pattern_word(seed, offset + i * 8))
                        return false;
        return true;
}

static void *buf_new(size_t len) {
        void *p = NULL;

        if (posix_memalign(&p, BLK, len) != 0)
                return NULL;
        memset(p, 0, len);
        return p;
}

static int open_direct(void) {
        return open(arg.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
}

static int read_u64_file(const char *path, uint64_t *ret) {
        char buf[64];
        FILE *f = fopen(path, "re");
        int r = -EIO;

        if (!f)
                return -errno;
        if (fgets(buf, sizeof(buf), f)) {
                *ret = strtoull(buf, NULL, 10);
                r = 0;
        }
        fclose(f);
        return r;
}

static int step_stat(const char *tag) {
        uint64_t v[17] = {0};
        FILE *f = fopen("/sys/block/vda/stat", "re");
        int n = 0;

        if (!f)
                return fail("stat", "cannot open /sys/block/vda/stat: %m");
        while (n < 17 && fscanf(f, "%" SCNu64, &v[n]) == 1)
                n++;
        fclose(f);
        if (n < 11)
                return fail("stat", "/sys/block/vda/stat has %d fields, expected at least 11", n);
        /* Fields: read ios, merges, sectors, ticks; write the same; in_flight; ...; flush ios (16th). */
        say("VUTEST: STAT tag=%s rd_ios=%" PRIu64 " rd_sectors=%" PRIu64 " wr_ios=%" PRIu64
            " wr_sectors=%" PRIu64 " fl_ios=%" PRIu64 " in_flight=%" PRIu64,
            tag, v[0], v[2], v[4], v[6], n >= 16 ? v[15] : 0, v[8]);
        return 0;
}

static int step_rw(bool write, uint64_t mib, uint64_t seed) {
        const char *what = write ? "write" : "read";
        uint8_t *buf = buf_new(MIB);
        int fd = open_direct();
        double t0 = now_sec();
        int r = 0;

        if (!buf || fd < 0) {
                r = fail(what, "cannot open %s with O_DIRECT or allocate: %m", arg.dev);
                goto out;
        }
        for (uint64_t i = 0; i < mib; i++) {
                ssize_t n;

                if (write) {
                        pattern_fill(buf, MIB, i * MIB, seed);
                        n = pwrite(fd, buf, MIB, (off_t) (i * MIB));
                } else
                        n = pread(fd, buf, MIB, (off_t) (i * MIB));
                if (n != (ssize_t) MIB) {
                        r = fail(what, "MiB %" PRIu64 ": %zd bytes (%m)", i, n);
                        goto out;
                }
                if (!write && !pattern_matches(buf, MIB, i * MIB, seed)) {
                        r = fail(what, "MiB %" PRIu64 " does not hold seed %" PRIu64 "'s pattern", i, seed);
                        goto out;
                }
        }
        pass(what, "bytes=%" PRIu64 " secs=%.2f", mib * MIB, now_sec() - t0);
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

static int step_wait(const char *name) {
        char want[64];
        uint8_t *buf = buf_new(BLK);
        int fd = open_direct();
        unsigned polls = 0;
        double t0 = now_sec();
        int r = -1;

        snprintf(want, sizeof(want), "GO %s\n", name);
        if (!buf || fd < 0) {
                r = fail("wait", "cannot open %s with O_DIRECT or allocate: %m", arg.dev);
                goto out;
        }
        say("VUTEST: WAIT %s", name);
        while (now_sec() - t0 < arg.timeout) {
                if (pread(fd, buf, BLK, (off_t) (arg.mailbox_mib * MIB)) != BLK) {
                        r = fail("wait", "%s: mailbox read failed: %m", name);
                        goto out;
                }
                polls++;
                if (memcmp(buf, want, strlen(want)) == 0) {
                        say("VUTEST: GO %s polls=%u", name, polls);
                        r = 0;
                        goto out;
                }
                usleep(50 * 1000);
        }
        r = fail("wait", "%s: no GO from the host within %u s (%u polls)", name, arg.timeout, polls);
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

static int step_idle(unsigned secs) {
        int fd = open(arg.dev, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return fail("idle", "cannot open %s: %m", arg.dev);
        say("VUTEST: IDLE begin secs=%u", secs);
        sleep(secs);
        say("VUTEST: IDLE end");
        close(fd);
        return 0;
}

static int step_grow(void) {
        uint64_t from, to = 0;
        uint8_t *buf = NULL;
        double t0;
        int fd = -1, r;

        if (read_u64_file("/sys/block/vda/size", &from) < 0)
                return fail("grow", "cannot read /sys/block/vda/size: %m");
        say("VUTEST: SIZE sectors=%" PRIu64, from);
        t0 = now_sec();
        for (;;) {
                if (read_u64_file("/sys/block/vda/size", &to) < 0)
                        return fail("grow", "cannot read /sys/block/vda/size: %m");
                if (to != from)
                        break;
                if (now_sec() - t0 > arg.timeout)
                        return fail("grow", "capacity still %" PRIu64 " sectors after %u s", from,
                                    arg.timeout);
                usleep(50 * 1000);
        }
        say("VUTEST: SIZE sectors=%" PRIu64, to);
        /* The new end of the disk must be readable: the kernel took the size, not just displayed it. */
        buf = buf_new(BLK);
        fd = open_direct();
        if (!buf || fd < 0)
                r = fail("grow", "cannot open %s with O_DIRECT or allocate: %m", arg.dev);
        else if (to * 512 < BLK || pread(fd, buf, BLK, (off_t) (to * 512 - BLK)) != BLK)
                r = fail("grow", "reading the last 4 KiB of the grown disk (%" PRIu64 " sectors) failed: %m",
                         to);
        else
                r = pass("grow", "from=%" PRIu64 " to=%" PRIu64 " secs=%.2f", from, to, now_sec() - t0);
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

static int step_blk(const char *what, uint64_t seed) {
        uint64_t off = arg.blk_mib * MIB;
        uint8_t *buf = buf_new(BLK);
        int fd = open_direct(), r = -1;
        ssize_t n;

        if (!buf || fd < 0) {
                r = fail(what, "cannot open %s with O_DIRECT or allocate: %m", arg.dev);
                goto out;
        }
        if (!strcmp(what, "blkr")) {
                if (pread(fd, buf, BLK, (off_t) off) != BLK)
                        r = fail(what, "read at %" PRIu64 " failed: %m", off);
                else if (!pattern_matches(buf, BLK, off, seed))
                        r = fail(what, "the block at %" PRIu64 " does not hold seed %" PRIu64, off, seed);
                else
                        r = pass(what, "seed=%" PRIu64, seed);
                goto out;
        }
        pattern_fill(buf, BLK, off, seed);
        errno = 0;
        n = pwrite(fd, buf, BLK, (off_t) off);
        if (!strcmp(what, "blkw")) {
                if (n != BLK)
                        r = fail(what, "write of seed %" PRIu64 " at %" PRIu64 " failed: %zd (%m)", seed,
                                 off, n);
                else
                        r = pass(what, "seed=%" PRIu64, seed);
                goto out;
        }
        /* blkw-fail: the device must refuse, and the guest must be told (not a silent drop). */
        if (n == BLK) {
                r = fail(what, "write of seed %" PRIu64 " succeeded on a read-only device", seed);
                goto out;
        }
        if (errno != EIO) {
                r = fail(what, "write failed with %d (%m), expected EIO", errno);
                goto out;
        }
        pass(what, "errno=EIO seed=%" PRIu64, seed);
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

static int step_iops(unsigned n) {
        uint8_t *buf = buf_new(BLK);
        int fd = open_direct(), r;
        double t0, secs;

        if (!buf || fd < 0) {
                r = fail("iops", "cannot open %s with O_DIRECT or allocate: %m", arg.dev);
                goto out;
        }
        pattern_fill(buf, BLK, 0, 7);
        t0 = now_sec();
        for (unsigned i = 0; i < n; i++)
                if (pwrite(fd, buf, BLK, (off_t) (arg.blk_mib * MIB + MIB + (uint64_t) (i % 256) * BLK)) !=
                    BLK) {
                        r = fail("iops", "write %u failed: %m", i);
                        goto out;
                }
        secs = now_sec() - t0;
        r = pass("iops", "n=%u secs=%.3f iops=%.0f", n, secs, n / secs);
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

/* Native AIO through raw syscalls: no libaio in a static binary. */
static long sys_io_setup(unsigned nr, aio_context_t *ctx) {
        return syscall(SYS_io_setup, nr, ctx);
}
static long sys_io_destroy(aio_context_t ctx) {
        return syscall(SYS_io_destroy, ctx);
}
static long sys_io_submit(aio_context_t ctx, long n, struct iocb **iocbs) {
        return syscall(SYS_io_submit, ctx, n, iocbs);
}
static long sys_io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events) {
        return syscall(SYS_io_getevents, ctx, min_nr, nr, events, NULL);
}

/* Keeps vuc.qd requests of 256 KiB in flight, sequentially over the region, for @secs seconds. */
static int step_seq(unsigned secs, bool write) {
        const size_t bs = 256 * 1024;
        unsigned qd = arg.qd;
        uint64_t blocks = arg.seq_mib * MIB / bs, next = 0, done = 0;
        struct iocb cbs[64], *ptr;
        struct io_event ev[64];
        aio_context_t ctx = 0;
        unsigned nbufs = arg.bufs, turn = 0;
        uint8_t *bufs = buf_new(bs * nbufs);
        int fd = open_direct(), r = -1;
        unsigned inflight = 0;
        double t0, elapsed;
        bool stop = false;

        if (!bufs || fd < 0 || blocks == 0) {
                r = fail("seq", "cannot open %s with O_DIRECT, allocate, or an empty region: %m", arg.dev);
                goto out;
        }
        if (sys_io_setup(qd, &ctx) < 0) {
                r = fail("seq", "io_setup(%u) failed: %m", qd);
                goto out;
        }
        say("VUTEST: SEQ begin dir=%s secs=%u qd=%u bs=%zu", write ? "w" : "r", secs, qd, bs);
        t0 = now_sec();
        for (unsigned i = 0; i < qd; i++) {
                cbs[i] = (struct iocb){
                        .aio_data = i,
                        .aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD,
                        .aio_fildes = (uint32_t) fd,
                        .aio_buf = (uint64_t) (uintptr_t) (bufs + (turn++ % nbufs) * bs),
                        .aio_nbytes = bs,
                        .aio_offset = (int64_t) (next++ % blocks * bs),
                };
                ptr = &cbs[i];
                if (sys_io_submit(ctx, 1, &ptr) != 1) {
                        r = fail("seq", "io_submit failed: %m");
                        goto out;
                }
                inflight++;
        }
        while (inflight > 0) {
                long got = sys_io_getevents(ctx, 1, qd, ev);
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        r = fail("seq", "io_getevents failed: %m");
                        goto out;
                }
                for (long i = 0; i < got; i++) {
                        struct iocb *cb = (struct iocb *) (uintptr_t) ev[i].obj;
                        inflight--;
                        if (ev[i].res != (int64_t) bs) {
                                fail("seq", "I/O at %" PRId64 " returned %" PRId64, (int64_t) cb->aio_offset,
                                     (int64_t) ev[i].res);
                                stop = true;
                                continue;
                        }
                        done++;
                        if (stop)
                                continue;
                        cb->aio_offset = (int64_t) (next++ % blocks * bs);
                        cb->aio_buf = (uint64_t) (uintptr_t) (bufs + (turn++ % nbufs) * bs);
                        if (sys_io_submit(ctx, 1, &cb) != 1) {
                                fail("seq", "io_submit failed: %m");
                                stop = true;
                                continue;
                        }
                        inflight++;
                }
                if (!stop && now_sec() - t0 >= secs)
                        stop = true;
        }
        elapsed = now_sec() - t0;
        say("VUTEST-SEQ: dir=%s secs=%.2f mbps=%.1f", write ? "w" : "r", elapsed,
            done * bs / (double) MIB / elapsed);
        r = n_fail ? -1 : pass("seq", "bytes=%" PRIu64, done * bs);
out:
        if (ctx)
                sys_io_destroy(ctx);
        if (fd >= 0)
                close(fd);
        free(bufs);
        return r;
}

static uint64_t num(const char *s, uint64_t dflt) {
        char *end;
        unsigned long long v;

        if (!s || !*s)
                return dflt;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || *end) {
                say("VUTEST: INFO '%s' is not a number, using %" PRIu64, s, dflt);
                return dflt;
        }
        return v;
}

static int run_step(char *step) {
        char *a1 = NULL, *a2 = NULL, *c;

        if ((c = strchr(step, ':'))) {
                *c = 0;
                a1 = c + 1;
                if ((c = strchr(a1, ':'))) {
                        *c = 0;
                        a2 = c + 1;
                }
        }
        if (!strcmp(step, "stat"))
                return step_stat(a1 ? a1 : "-");
        if (!strcmp(step, "write") || !strcmp(step, "read"))
                return step_rw(step[0] == 'w', num(a1, 1), num(a2, 1));
        if (!strcmp(step, "wait"))
                return step_wait(a1 ? a1 : "go");
        if (!strcmp(step, "idle"))
                return step_idle((unsigned) num(a1, 5));
        if (!strcmp(step, "grow"))
                return step_grow();
        if (!strcmp(step, "blkw") || !strcmp(step, "blkw-fail") || !strcmp(step, "blkr"))
                return step_blk(step, num(a1, 1));
        if (!strcmp(step, "iops"))
                return step_iops((unsigned) num(a1, 100));
        if (!strcmp(step, "seq"))
                return step_seq((unsigned) num(a1, 5), a2 && a2[0] == 'w');
        return fail(step,
                    "unknown step (known: stat write read wait idle grow blkw blkw-fail blkr iops seq)");
}

static void parse_cmdline(char *cmdline) {
        char *save = NULL;

        for (char *tok = strtok_r(cmdline, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                char *eq = strchr(tok, '=');
                if (!eq)
                        continue;
                *eq = 0;
                const char *k = tok, *v = eq + 1;
                if (!strcmp(k, "vutest")) {
                        if (strlen(v) < sizeof(arg.steps))
                                strcpy(arg.steps, v);
                } else if (!strcmp(k, "vuc.dev")) {
                        if (strlen(v) < sizeof(arg.dev))
                                strcpy(arg.dev, v);
                } else if (!strcmp(k, "vuc.mailbox"))
                        arg.mailbox_mib = num(v, arg.mailbox_mib);
                else if (!strcmp(k, "vuc.blk"))
                        arg.blk_mib = num(v, arg.blk_mib);
                else if (!strcmp(k, "vuc.timeout"))
                        arg.timeout = (unsigned) num(v, arg.timeout);
                else if (!strcmp(k, "vuc.qd"))
                        arg.qd = (unsigned) num(v, arg.qd);
                else if (!strcmp(k, "vuc.bufs"))
                        arg.bufs = (unsigned) num(v, arg.bufs);
                else if (!strcmp(k, "vuc.seq-mib"))
                        arg.seq_mib = num(v, arg.seq_mib);
        }
        if (arg.qd == 0 || arg.qd > 64)
                arg.qd = 4;
        if (arg.bufs < arg.qd || arg.bufs > 1024)
                arg.bufs = arg.qd;
}

int main(int argc, char **argv) {
        char cmdline[4096] = "";
        char *save = NULL;
        struct stat st;
        FILE *f;

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
        if (!arg.steps[0]) {
                fail("cmdline", "no vutest= on the kernel command line");
                goto done;
        }
        for (unsigned i = 0; i < 150 && !(stat(arg.dev, &st) == 0 && S_ISBLK(st.st_mode)); i++)
                usleep(100 * 1000);
        if (stat(arg.dev, &st) < 0) {
                fail("device", "%s did not appear within 15 s", arg.dev);
                goto done;
        }
        say("VUTEST: START steps=%s dev=%s", arg.steps, arg.dev);
        for (char *s = strtok_r(arg.steps, ",", &save); s; s = strtok_r(NULL, ",", &save))
                if (run_step(s) < 0 && strncmp(s, "stat", 4) != 0)
                        break; /* later steps assume earlier ones worked */
done:
        say("VUTEST: DONE pass=%u fail=%u", n_pass, n_fail);
        return n_fail ? 1 : 0;
}
