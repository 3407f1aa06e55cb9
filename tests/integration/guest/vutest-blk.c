/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vutest-blk: the program a test guest runs against its virtio-blk disk. It is
 * built static (gcc -static) into the guest initramfs; the host test picks the
 * checks from the kernel command line and reads the verdicts from the serial
 * console, one machine-readable line per check:
 *
 *   VUTEST: PASS <check> <details>      VUTEST: FAIL <check> <why>
 *   VUTEST-BENCH: name=<n> bs=<b> qd=<q> secs=<s> mbps=<x> iops=<y>
 *   VUTEST: DONE pass=<n> fail=<n>
 *
 * Kernel command line (all optional but vutest=):
 *   vutest=STEP[,STEP...]  steps, run in order: write verify verify-only flush
 *                          discard zeroes readonly packed capacity serial mq bench idle
 *   vutest.dev=/dev/vda    vutest.seed=N (pattern seed, default 1)
 *   vutest.mib=N           MiB covered by write/verify (0 = whole disk; default 16)
 *   vutest.scratch=N       MiB offset of the scratch ranges flush/discard/zeroes/mq use
 *                          (default mib+1, past the verified region; mq needs scratch+4 MiB)
 *   vutest.sectors=N       capacity expected by "capacity" (512-byte sectors)
 *   vutest.serial=S        serial expected by "serial"
 *   vutest.queues=N        queue count expected by "mq"
 *   vutest.bench-mib=N vutest.bench-secs=N vutest.qd=N   benchmark region, time per test, depth
 *   vutest.idle-secs=N     how long "idle" keeps the device open and quiet
 *
 * The data pattern depends on the seed and on the byte offset only, so a later
 * boot (after a QEMU restart, a backend restart or a migration) can check what
 * an earlier boot wrote with "verify-only".
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
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
#define CHUNK MIB
#define ALIGN 4096
#define VIRTIO_BLK_F_FLUSH_BIT 9
#define VIRTIO_F_RING_PACKED_BIT 34

typedef struct Config {
        char dev[64];
        char steps[512];
        char serial[64];
        uint64_t seed;
        uint64_t mib;
        uint64_t scratch_mib;
        uint64_t sectors;
        unsigned queues;
        uint64_t bench_mib;
        unsigned bench_secs;
        unsigned qd;
        unsigned idle_secs;
} Config;

static Config arg = {
        .dev = "/dev/vda",
        .seed = 1,
        .mib = 16,
        .scratch_mib = UINT64_MAX,
        .bench_mib = 64,
        .bench_secs = 3,
        .qd = 16,
        .idle_secs = 8,
};

static unsigned n_pass, n_fail;

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

/* Always returns -1 so a check can end with "return fail(...)". */
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

/* splitmix64 of (seed, word index): cheap, and every 8-byte word of the disk differs. */
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

/* Returns the index of the first word that differs, or SIZE_MAX when all match. */
static size_t pattern_check(const void *buf, size_t len, uint64_t offset, uint64_t seed) {
        const uint64_t *w = buf;

        for (size_t i = 0; i < len / 8; i++)
                if (w[i] != pattern_word(seed, offset + i * 8))
                        return i;
        return SIZE_MAX;
}

static bool all_zero(const void *buf, size_t len, size_t *ret_at) {
        const uint8_t *p = buf;

        for (size_t i = 0; i < len; i++)
                if (p[i]) {
                        *ret_at = i;
                        return false;
                }
        return true;
}

static void *buf_new(size_t len) {
        void *p = NULL;

        if (posix_memalign(&p, ALIGN, len) != 0)
                return NULL;
        memset(p, 0, len);
        return p;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off) {
        while (len > 0) {
                ssize_t n = pwrite(fd, buf, len, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ENOSPC;
                buf = (const uint8_t *) buf + n;
                len -= (size_t) n;
                off += (uint64_t) n;
        }
        return 0;
}

static int full_pread(int fd, void *buf, size_t len, uint64_t off) {
        while (len > 0) {
                ssize_t n = pread(fd, buf, len, (off_t) off);
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

/* Reads a sysfs attribute of the disk into buf, without the trailing newline. */
static int sysfs_read(const char *attr, char *buf, size_t size) {
        char path[256];
        const char *name = strrchr(arg.dev, '/');
        FILE *f;

        snprintf(path, sizeof(path), "/sys/block/%s/%s", name ? name + 1 : arg.dev, attr);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, (int) size, f)) {
                fclose(f);
                return -EIO;
        }
        fclose(f);
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

static int sysfs_u64(const char *attr, uint64_t *ret) {
        char buf[64];
        int r = sysfs_read(attr, buf, sizeof(buf));

        if (r < 0)
                return r;
        *ret = strtoull(buf, NULL, 10);
        return 0;
}

static int disk_size(uint64_t *ret) {
        uint64_t sz;
        int fd = open(arg.dev, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        close(fd);
        *ret = sz;
        return 0;
}

/* The byte range write/verify cover: vutest.mib MiB, or the whole disk. */
static int region_len(const char *what, uint64_t *ret) {
        uint64_t sz;
        int r = disk_size(&sz);

        if (r < 0)
                return fail(what, "cannot get the size of %s: %s", arg.dev, strerror(-r));
        if (arg.mib == 0 || arg.mib * MIB > sz) {
                if (arg.mib != 0)
                        printf("VUTEST: INFO %s: disk has %" PRIu64 " bytes, less than mib=%" PRIu64
                               ": using the whole disk\n",
                               what, sz, arg.mib);
                *ret = sz / ALIGN * ALIGN;
        } else
                *ret = arg.mib * MIB;
        return 0;
}

/* Drops the page cache of the disk so that buffered reads go to the device. */
static int drop_cache(int fd) {
        if (fsync(fd) < 0 || ioctl(fd, BLKFLSBUF, 0) < 0)
                return -errno;
        return 0;
}

/* Even MiB chunks go through O_DIRECT, odd ones through the page cache: both paths get data. */
static int step_write(void) {
        int fd_direct = -EBADF, fd_buffered = -EBADF, r = 0;
        uint64_t len, off;
        uint8_t *buf = NULL;
        double t0 = now_sec();

        if (region_len("write", &len) < 0)
                return -1;
        buf = buf_new(CHUNK);
        fd_direct = open(arg.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
        fd_buffered = open(arg.dev, O_RDWR | O_CLOEXEC);
        if (!buf || fd_direct < 0 || fd_buffered < 0) {
                r = fail("write", "cannot open %s read-write: %m", arg.dev);
                goto out;
        }
        for (off = 0; off < len; off += CHUNK) {
                size_t n = (size_t) (len - off < CHUNK ? len - off : CHUNK);
                bool direct = (off / CHUNK) % 2 == 0;

                pattern_fill(buf, n, off, arg.seed);
                r = full_pwrite(direct ? fd_direct : fd_buffered, buf, n, off);
                if (r < 0) {
                        r = fail("write", "%s write of %zu bytes at offset %" PRIu64 " failed: %s",
                                 direct ? "O_DIRECT" : "buffered", n, off, strerror(-r));
                        goto out;
                }
        }
        if (fsync(fd_buffered) < 0 || fsync(fd_direct) < 0) {
                r = fail("write", "fsync after writing %" PRIu64 " bytes failed: %m", len);
                goto out;
        }
        pass("write", "bytes=%" PRIu64 " seed=%" PRIu64 " secs=%.2f", len, arg.seed, now_sec() - t0);
out:
        if (fd_direct >= 0)
                close(fd_direct);
        if (fd_buffered >= 0)
                close(fd_buffered);
        free(buf);
        return r;
}

static int verify_with(const char *what, int fd, const char *how, uint64_t len, uint8_t *buf) {
        for (uint64_t off = 0; off < len; off += CHUNK) {
                size_t n = (size_t) (len - off < CHUNK ? len - off : CHUNK), at;
                int r = full_pread(fd, buf, n, off);

                if (r < 0)
                        return fail(what, "%s read of %zu bytes at offset %" PRIu64 " failed: %s", how, n,
                                    off, strerror(-r));
                at = pattern_check(buf, n, off, arg.seed);
                if (at != SIZE_MAX)
                        return fail(what,
                                    "%s read: data differs at offset %" PRIu64 ": expected %016" PRIx64
                                    " got %016" PRIx64,
                                    how, off + at * 8, pattern_word(arg.seed, off + at * 8),
                                    ((uint64_t *) buf)[at]);
        }
        return 0;
}

static int step_verify(const char *what) {
        int fd_direct = -EBADF, fd_buffered = -EBADF, r = -1;
        uint64_t len;
        uint8_t *buf = NULL;
        double t0 = now_sec();

        if (region_len(what, &len) < 0)
                return -1;
        buf = buf_new(CHUNK);
        fd_direct = open(arg.dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
        fd_buffered = open(arg.dev, O_RDONLY | O_CLOEXEC);
        if (!buf || fd_direct < 0 || fd_buffered < 0) {
                fail(what, "cannot open %s: %m", arg.dev);
                goto out;
        }
        if (verify_with(what, fd_direct, "O_DIRECT", len, buf) < 0)
                goto out;
        if (drop_cache(fd_buffered) < 0) {
                fail(what, "BLKFLSBUF on %s failed: %m", arg.dev);
                goto out;
        }
        if (verify_with(what, fd_buffered, "buffered", len, buf) < 0)
                goto out;
        pass(what, "bytes=%" PRIu64 " seed=%" PRIu64 " direct+buffered secs=%.2f", len, arg.seed,
             now_sec() - t0);
        r = 0;
out:
        if (fd_direct >= 0)
                close(fd_direct);
        if (fd_buffered >= 0)
                close(fd_buffered);
        free(buf);
        return r;
}

/*
 * A flush only reaches stable storage if the device offered VIRTIO_BLK_F_FLUSH; the cache mode
 * (write back, or write through when the device says its writes are stable) is reported.
 */
static int step_flush(void) {
        char cache[64] = "", features[80] = "?";
        uint8_t *buf = buf_new(ALIGN);
        int fd, r = -1;
        uint64_t off = arg.scratch_mib * MIB;

        if (!buf)
                return fail("flush", "out of memory");
        (void) sysfs_read("queue/write_cache", cache, sizeof(cache));
        (void) sysfs_read("device/features", features, sizeof(features));
        fd = open(arg.dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                free(buf);
                return fail("flush", "cannot open %s read-write: %m", arg.dev);
        }
        pattern_fill(buf, ALIGN, off, arg.seed);
        if (full_pwrite(fd, buf, ALIGN, off) < 0)
                fail("flush", "buffered write at offset %" PRIu64 " failed: %m", off);
        else if (fsync(fd) < 0)
                fail("flush", "fsync failed: %m");
        else if (ioctl(fd, BLKFLSBUF, 0) < 0)
                fail("flush", "BLKFLSBUF failed: %m");
        else if (strlen(features) <= VIRTIO_BLK_F_FLUSH_BIT || features[VIRTIO_BLK_F_FLUSH_BIT] != '1')
                fail("flush", "VIRTIO_BLK_F_FLUSH not negotiated (features %s): fsync cannot reach stable storage",
                     features);
        else {
                pass("flush", "write_cache=\"%s\" fsync+BLKFLSBUF ok", cache);
                r = 0;
        }
        close(fd);
        free(buf);
        return r;
}

/*
 * discard and zeroes: write the pattern over [scratch - 64 KiB, scratch + 1 MiB + 64 KiB), clear
 * the middle MiB with the ioctl, then check the middle reads back as zeroes and the edges kept
 * their data (the device must not clear more than asked).
 */
static int step_clear(const char *what, unsigned long request, const char *max_attr) {
        const uint64_t guard = 64 * 1024, len = MIB, off = arg.scratch_mib * MIB;
        const size_t total = (size_t) (len + 2 * guard);
        uint64_t max_bytes = 0, sz, range[2] = {off, len};
        uint8_t *buf = NULL;
        size_t at;
        int fd = -EBADF, r = -1;

        if (sysfs_u64(max_attr, &max_bytes) < 0 || max_bytes == 0)
                return fail(what, "%s=%" PRIu64 ": the device does not offer it", max_attr, max_bytes);
        if (disk_size(&sz) < 0 || off < guard || off + len + guard > sz)
                return fail(what, "disk too small for the scratch range at %" PRIu64 " MiB", arg.scratch_mib);
        buf = buf_new(total);
        fd = open(arg.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (!buf || fd < 0) {
                fail(what, "cannot open %s read-write: %m", arg.dev);
                goto out;
        }
        pattern_fill(buf, total, off - guard, arg.seed);
        if (full_pwrite(fd, buf, total, off - guard) < 0 || fsync(fd) < 0) {
                fail(what, "writing the pattern around offset %" PRIu64 " failed: %m", off);
                goto out;
        }
        if (ioctl(fd, request, range) < 0) {
                fail(what, "ioctl on [%" PRIu64 ", +%" PRIu64 ") failed: %m", off, len);
                goto out;
        }
        memset(buf, 0xa5, total);
        if (full_pread(fd, buf, total, off - guard) < 0) {
                fail(what, "reading back around offset %" PRIu64 " failed: %m", off);
                goto out;
        }
        if (!all_zero(buf + guard, (size_t) len, &at)) {
                fail(what, "range not zero after the ioctl: byte at offset %" PRIu64 " is 0x%02x",
                     off + at, buf[guard + at]);
                goto out;
        }
        at = pattern_check(buf, (size_t) guard, off - guard, arg.seed);
        if (at == SIZE_MAX)
                at = pattern_check(buf + guard + len, (size_t) guard, off + len, arg.seed);
        if (at != SIZE_MAX) {
                fail(what, "data beside the cleared range was changed (guard word %zu)", at);
                goto out;
        }
        pass(what, "offset=%" PRIu64 " len=%" PRIu64 " zeroed %s=%" PRIu64, off, len, max_attr, max_bytes);
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

static bool write_refused(int err) {
        return err == EROFS || err == EPERM || err == EACCES || err == EIO;
}

/* A read-only device: the kernel knows (sysfs ro=1), writes fail, and the data stays as it was. */
static int step_readonly(void) {
        const size_t len = 64 * 1024;
        uint8_t *before = buf_new(len), *after = buf_new(len), *junk = buf_new(len);
        char how[128] = "";
        uint64_t ro = 0;
        int fd = -EBADF, r = -1;

        if (!before || !after || !junk) {
                fail("readonly", "out of memory");
                goto out;
        }
        memset(junk, 0x5a, len);
        fd = open(arg.dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd < 0 || full_pread(fd, before, len, 0) < 0) {
                fail("readonly", "cannot read %s: %m", arg.dev);
                goto out;
        }
        close(fd);

        fd = open(arg.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (fd < 0) {
                if (!write_refused(errno)) {
                        fail("readonly", "open O_RDWR failed with an unexpected error: %m");
                        goto out;
                }
                snprintf(how, sizeof(how), "open=%s", strerrorname_np(errno) ?: "?");
        } else {
                int w = full_pwrite(fd, junk, len, 0);
                if (w == 0 && fsync(fd) < 0)
                        w = -errno;
                if (w == 0) {
                        fail("readonly", "a 64 KiB O_DIRECT write at offset 0 succeeded");
                        goto out;
                }
                if (!write_refused(-w)) {
                        fail("readonly", "write failed with an unexpected error: %s", strerror(-w));
                        goto out;
                }
                snprintf(how, sizeof(how), "write=%s", strerrorname_np(-w) ?: "?");
                close(fd);
        }

        fd = open(arg.dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd < 0 || full_pread(fd, after, len, 0) < 0) {
                fail("readonly", "cannot read %s back: %m", arg.dev);
                goto out;
        }
        if (memcmp(before, after, len) != 0) {
                fail("readonly", "the data at offset 0 changed although the write was refused");
                goto out;
        }
        if (sysfs_u64("ro", &ro) < 0 || ro != 1) {
                fail("readonly", "sysfs ro=%" PRIu64 ": the device did not offer VIRTIO_BLK_F_RO (%s)", ro,
                     how);
                goto out;
        }
        pass("readonly", "ro=1 %s data unchanged", how);
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        free(before);
        free(after);
        free(junk);
        return r;
}

/* The guest driver runs the packed ring layout only if both sides negotiated VIRTIO_F_RING_PACKED. */
static int step_packed(void) {
        char features[80] = "";
        int r = sysfs_read("device/features", features, sizeof(features));

        if (r < 0)
                return fail("packed", "cannot read the negotiated features: %s", strerror(-r));
        if (strlen(features) <= VIRTIO_F_RING_PACKED_BIT || features[VIRTIO_F_RING_PACKED_BIT] != '1')
                return fail("packed", "VIRTIO_F_RING_PACKED not negotiated (features %s)", features);
        pass("packed", "features=%s", features);
        return 0;
}

static int step_capacity(void) {
        uint64_t sectors = 0, bytes = 0;

        if (sysfs_u64("size", &sectors) < 0 || disk_size(&bytes) < 0)
                return fail("capacity", "cannot read the size of %s: %m", arg.dev);
        if (arg.sectors && sectors != arg.sectors)
                return fail("capacity", "sectors=%" PRIu64 " expected=%" PRIu64, sectors, arg.sectors);
        if (bytes != sectors * 512)
                return fail("capacity", "BLKGETSIZE64=%" PRIu64 " but sysfs size=%" PRIu64 " sectors", bytes,
                            sectors);
        pass("capacity", "sectors=%" PRIu64 " bytes=%" PRIu64, sectors, bytes);
        return 0;
}

static int step_serial(void) {
        char serial[64] = "";
        int r = sysfs_read("serial", serial, sizeof(serial));

        if (r < 0)
                return fail("serial", "cannot read the serial: %s", strerror(-r));
        if (strcmp(serial, arg.serial) != 0)
                return fail("serial", "serial=\"%s\" expected=\"%s\"", serial, arg.serial);
        pass("serial", "serial=\"%s\"", serial);
        return 0;
}

static unsigned count_hw_queues(void) {
        char path[128];
        const char *name = strrchr(arg.dev, '/');
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "/sys/block/%s/mq", name ? name + 1 : arg.dev);
        d = opendir(path);
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (isdigit((unsigned char) de->d_name[0]))
                        n++;
        closedir(d);
        return n;
}

/* Times hardware queue q was run (dispatched requests), from block-layer debugfs; -1 if unavailable. */
static long long hctx_dispatched(unsigned q) {
        char path[128], line[128];
        const char *name = strrchr(arg.dev, '/');
        long long total = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/sys/kernel/debug/block/%s/hctx%u/run", name ? name + 1 : arg.dev, q);
        f = fopen(path, "re");
        if (!f)
                return -1;
        if (fgets(line, sizeof(line), f))
                total = strtoll(line, NULL, 10);
        fclose(f);
        return total;
}

typedef struct MqWorker {
        pthread_t thread;
        int cpu;
        uint64_t offset;
        int r;
        char error[160];
} MqWorker;

/* Writes and verifies 1 MiB in 4 KiB O_DIRECT requests from one pinned CPU. */
static void *mq_worker(void *userdata) {
        MqWorker *w = userdata;
        cpu_set_t set;
        uint8_t *buf = buf_new(ALIGN);
        int fd;

        CPU_ZERO(&set);
        CPU_SET(w->cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0) {
                snprintf(w->error, sizeof(w->error), "cannot pin to CPU %d: %m", w->cpu);
                w->r = -1;
                free(buf);
                return NULL;
        }
        fd = open(arg.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (!buf || fd < 0) {
                snprintf(w->error, sizeof(w->error), "cannot open %s: %m", arg.dev);
                w->r = -1;
                free(buf);
                return NULL;
        }
        for (int pass_no = 0; pass_no < 2 && w->r == 0; pass_no++)
                for (uint64_t off = w->offset; off < w->offset + MIB; off += ALIGN) {
                        if (pass_no == 0) {
                                pattern_fill(buf, ALIGN, off, arg.seed);
                                if (full_pwrite(fd, buf, ALIGN, off) < 0) {
                                        snprintf(w->error, sizeof(w->error),
                                                 "CPU %d: write at %" PRIu64 " failed: %m", w->cpu, off);
                                        w->r = -1;
                                        break;
                                }
                        } else if (full_pread(fd, buf, ALIGN, off) < 0 ||
                                   pattern_check(buf, ALIGN, off, arg.seed) != SIZE_MAX) {
                                snprintf(w->error, sizeof(w->error), "CPU %d: data at %" PRIu64 " differs",
                                         w->cpu, off);
                                w->r = -1;
                                break;
                        }
                }
        close(fd);
        free(buf);
        return NULL;
}

static int step_mq(void) {
        unsigned nq = count_hw_queues();
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        long long before[64], after;
        MqWorker workers[2] = {};
        char counts[256] = "";
        size_t used = 0;

        if (arg.queues && nq != arg.queues)
                return fail("mq", "hw_queues=%u expected=%u", nq, arg.queues);
        if (ncpu < 2)
                return fail("mq", "needs 2 CPUs to drive 2 queues, the guest has %ld", ncpu);
        for (unsigned q = 0; q < nq && q < 64; q++)
                before[q] = hctx_dispatched(q);
        for (int i = 0; i < 2; i++) {
                workers[i].cpu = i;
                workers[i].offset = (arg.scratch_mib + 2 + (uint64_t) i) * MIB;
                if (pthread_create(&workers[i].thread, NULL, mq_worker, &workers[i]) != 0)
                        return fail("mq", "cannot start a thread on CPU %d", i);
        }
        for (int i = 0; i < 2; i++)
                pthread_join(workers[i].thread, NULL);
        for (int i = 0; i < 2; i++)
                if (workers[i].r < 0)
                        return fail("mq", "%s", workers[i].error);
        for (unsigned q = 0; q < nq && q < 64; q++) {
                after = hctx_dispatched(q);
                if (before[q] < 0 || after < 0) {
                        snprintf(counts + used, sizeof(counts) - used, "n/a");
                        break;
                }
                /* Each CPU maps to its own queue when there are as many queues as CPUs. */
                if (nq <= (unsigned) ncpu && after == before[q])
                        return fail("mq", "hardware queue %u carried no request while both CPUs did I/O", q);
                used += (size_t) snprintf(counts + used, sizeof(counts) - used, "%s%lld", q ? "," : "",
                                          after - before[q]);
                if (used >= sizeof(counts))
                        break;
        }
        pass("mq", "hw_queues=%u cpus=%ld per_queue_runs=%s", nq, ncpu, counts);
        return 0;
}

/* Native AIO through raw syscalls: no libaio needed in a static binary. */
static long io_setup_(unsigned nr, aio_context_t *ctx) {
        return syscall(SYS_io_setup, nr, ctx);
}
static long io_destroy_(aio_context_t ctx) {
        return syscall(SYS_io_destroy, ctx);
}
static long io_submit_(aio_context_t ctx, long n, struct iocb **iocbs) {
        return syscall(SYS_io_submit, ctx, n, iocbs);
}
static long io_getevents_(aio_context_t ctx, long min_nr, long nr, struct io_event *events) {
        return syscall(SYS_io_getevents, ctx, min_nr, nr, events, NULL);
}

static uint64_t rng_state = 0x1234567;
static uint64_t rng_next(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

/* Runs one benchmark for bench_secs seconds at depth qd; prints a VUTEST-BENCH line. */
static int bench_one(int fd, const char *name, bool write, bool random, size_t bs, unsigned qd,
                     uint64_t region) {
        aio_context_t ctx = 0;
        struct iocb *cbs = calloc(qd, sizeof(*cbs));
        struct iocb **ptrs = calloc(qd, sizeof(*ptrs));
        struct io_event *events = calloc(qd, sizeof(*events));
        uint8_t *bufs = buf_new(bs * qd);
        uint64_t next_off = 0, done = 0, blocks = region / bs;
        unsigned inflight = 0;
        double t0, elapsed;
        bool stop = false;
        int r = -1;

        if (!cbs || !ptrs || !events || !bufs || blocks == 0) {
                fail("bench", "%s: out of memory or region too small", name);
                goto out;
        }
        if (io_setup_(qd, &ctx) < 0) {
                fail("bench", "%s: io_setup(%u) failed: %m", name, qd);
                goto out;
        }
        for (unsigned i = 0; i < qd; i++)
                pattern_fill(bufs + i * bs, bs, i * bs, arg.seed);
        t0 = now_sec();
        for (;;) {
                unsigned n = 0;

                while (!stop && inflight + n < qd) {
                        /* A slot is free while its aio_data is 0; completions free them again. */
                        struct iocb *cb = NULL;
                        for (unsigned i = 0; i < qd && !cb; i++)
                                if (cbs[i].aio_data == 0)
                                        cb = &cbs[i];
                        if (!cb)
                                break;
                        uint64_t blk = random ? rng_next() % blocks : next_off++ % blocks;
                        unsigned slot = (unsigned) (cb - cbs);
                        *cb = (struct iocb){
                                .aio_data = slot + 1,
                                .aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD,
                                .aio_fildes = (uint32_t) fd,
                                .aio_buf = (uint64_t) (uintptr_t) (bufs + slot * bs),
                                .aio_nbytes = bs,
                                .aio_offset = (int64_t) (blk * bs),
                        };
                        ptrs[n++] = cb;
                }
                if (n > 0) {
                        long s = io_submit_(ctx, n, ptrs);
                        if (s < 0) {
                                fail("bench", "%s: io_submit failed: %m", name);
                                goto out;
                        }
                        /* Slots the kernel did not take are freed again. */
                        for (unsigned i = (unsigned) s; i < n; i++)
                                ptrs[i]->aio_data = 0;
                        inflight += (unsigned) s;
                }
                if (inflight == 0)
                        break;
                long got = io_getevents_(ctx, 1, qd, events);
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        fail("bench", "%s: io_getevents failed: %m", name);
                        goto out;
                }
                for (long i = 0; i < got; i++) {
                        struct iocb *cb = (struct iocb *) (uintptr_t) events[i].obj;
                        if (events[i].res != (int64_t) bs) {
                                fail("bench", "%s: I/O at offset %" PRId64 " returned %" PRId64, name,
                                     (int64_t) cb->aio_offset, (int64_t) events[i].res);
                                stop = true;
                        }
                        cb->aio_data = 0;
                        inflight--;
                        done++;
                }
                if (!stop && now_sec() - t0 >= arg.bench_secs)
                        stop = true;
        }
        elapsed = now_sec() - t0;
        if (stop && done == 0)
                goto out;
        printf("VUTEST-BENCH: name=%s bs=%zu qd=%u secs=%.2f mbps=%.1f iops=%.0f\n", name, bs, qd, elapsed,
               (double) done * bs / MIB / elapsed, (double) done / elapsed);
        fflush(stdout);
        r = 0;
out:
        if (ctx)
                io_destroy_(ctx);
        free(cbs);
        free(ptrs);
        free(events);
        free(bufs);
        return r;
}

static int step_bench(void) {
        uint64_t sz, region = arg.bench_mib * MIB;
        int fd, r = 0;

        if (disk_size(&sz) < 0)
                return fail("bench", "cannot get the size of %s: %m", arg.dev);
        if (region == 0 || region > sz)
                region = sz / MIB * MIB;
        fd = open(arg.dev, O_RDWR | O_DIRECT | O_CLOEXEC);
        if (fd < 0)
                return fail("bench", "cannot open %s: %m", arg.dev);
        /* Write first so the reads see allocated blocks, not holes of a sparse image. */
        r |= bench_one(fd, "seqwrite-1m", true, false, MIB, 4, region);
        r |= bench_one(fd, "seqread-1m", false, false, MIB, 4, region);
        r |= bench_one(fd, "randread-4k", false, true, 4096, arg.qd, region);
        r |= bench_one(fd, "randwrite-4k", true, true, 4096, arg.qd, region);
        close(fd);
        if (r == 0)
                pass("bench", "region=%" PRIu64 " secs=%u qd=%u", region, arg.bench_secs, arg.qd);
        return r;
}

/* Keeps the device open and quiet so the host can measure a backend's idle cost. */
static int step_idle(void) {
        int fd = open(arg.dev, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return fail("idle", "cannot open %s: %m", arg.dev);
        printf("VUTEST: IDLE begin secs=%u\n", arg.idle_secs);
        fflush(stdout);
        sleep(arg.idle_secs);
        close(fd);
        pass("idle", "secs=%u", arg.idle_secs);
        return 0;
}

static void parse_u64(const char *key, const char *value, uint64_t *ret) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 0);

        if (errno || end == value || *end)
                printf("VUTEST: INFO ignoring %s=%s: not a number\n", key, value);
        else
                *ret = v;
}

static void parse_unsigned(const char *key, const char *value, unsigned *ret) {
        uint64_t v = *ret;

        parse_u64(key, value, &v);
        if (v <= 0xffffffffu)
                *ret = (unsigned) v;
}

static void copy_str(char *dst, size_t size, const char *key, const char *value) {
        if (strlen(value) >= size)
                printf("VUTEST: INFO ignoring %s: longer than %zu bytes\n", key, size - 1);
        else
                strcpy(dst, value);
}

static void parse_cmdline(const char *cmdline) {
        char *copy = strdup(cmdline), *save = NULL;

        for (char *tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                char *eq = strchr(tok, '=');
                if (!eq || strncmp(tok, "vutest", 6) != 0)
                        continue;
                *eq = 0;
                const char *k = tok, *v = eq + 1;
                if (!strcmp(k, "vutest"))
                        copy_str(arg.steps, sizeof(arg.steps), k, v);
                else if (!strcmp(k, "vutest.dev"))
                        copy_str(arg.dev, sizeof(arg.dev), k, v);
                else if (!strcmp(k, "vutest.serial"))
                        copy_str(arg.serial, sizeof(arg.serial), k, v);
                else if (!strcmp(k, "vutest.seed"))
                        parse_u64(k, v, &arg.seed);
                else if (!strcmp(k, "vutest.mib"))
                        parse_u64(k, v, &arg.mib);
                else if (!strcmp(k, "vutest.scratch"))
                        parse_u64(k, v, &arg.scratch_mib);
                else if (!strcmp(k, "vutest.sectors"))
                        parse_u64(k, v, &arg.sectors);
                else if (!strcmp(k, "vutest.queues"))
                        parse_unsigned(k, v, &arg.queues);
                else if (!strcmp(k, "vutest.bench-mib"))
                        parse_u64(k, v, &arg.bench_mib);
                else if (!strcmp(k, "vutest.bench-secs"))
                        parse_unsigned(k, v, &arg.bench_secs);
                else if (!strcmp(k, "vutest.qd"))
                        parse_unsigned(k, v, &arg.qd);
                else if (!strcmp(k, "vutest.idle-secs"))
                        parse_unsigned(k, v, &arg.idle_secs);
                else
                        printf("VUTEST: INFO ignoring unknown option %s\n", k);
        }
        free(copy);
        if (arg.scratch_mib == UINT64_MAX)
                arg.scratch_mib = arg.mib + 1;
        if (arg.qd == 0 || arg.qd > 256)
                arg.qd = 16;
}

static int wait_for_device(unsigned secs) {
        struct stat st;

        for (unsigned i = 0; i < secs * 10; i++) {
                if (stat(arg.dev, &st) == 0 && S_ISBLK(st.st_mode))
                        return 0;
                usleep(100 * 1000);
        }
        return -ENODEV;
}

static int run_step(const char *step) {
        if (!strcmp(step, "write"))
                return step_write();
        if (!strcmp(step, "verify") || !strcmp(step, "verify-only"))
                return step_verify(step);
        if (!strcmp(step, "flush"))
                return step_flush();
        if (!strcmp(step, "discard"))
                return step_clear("discard", BLKDISCARD, "queue/discard_max_bytes");
        if (!strcmp(step, "zeroes"))
                return step_clear("zeroes", BLKZEROOUT, "queue/write_zeroes_max_bytes");
        if (!strcmp(step, "readonly"))
                return step_readonly();
        if (!strcmp(step, "packed"))
                return step_packed();
        if (!strcmp(step, "capacity"))
                return step_capacity();
        if (!strcmp(step, "serial"))
                return step_serial();
        if (!strcmp(step, "mq"))
                return step_mq();
        if (!strcmp(step, "bench"))
                return step_bench();
        if (!strcmp(step, "idle"))
                return step_idle();
        return fail(step, "unknown step (known: write verify verify-only flush discard zeroes readonly "
                          "packed capacity serial mq bench idle)");
}

int main(int argc, char **argv) {
        char cmdline[4096] = "";
        char *save = NULL;
        FILE *f;

        /* The host can also pass the command line as arguments (handy when testing this program). */
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
        if (wait_for_device(15) < 0) {
                fail("device", "%s did not appear within 15 s (virtio-blk probe failed or no device)",
                     arg.dev);
                goto done;
        }
        printf("VUTEST: START steps=%s dev=%s\n", arg.steps, arg.dev);
        fflush(stdout);
        for (char *s = strtok_r(arg.steps, ",", &save); s; s = strtok_r(NULL, ",", &save))
                (void) run_step(s);
done:
        printf("VUTEST: DONE pass=%u fail=%u\n", n_pass, n_fail);
        fflush(stdout);
        return n_fail ? 1 : 0;
}
