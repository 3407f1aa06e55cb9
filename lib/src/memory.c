/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest memory: the regions the frontend shares with us (SET_MEM_TABLE, or
 * one at a time with ADD/REM_MEM_REG), mapped into our address space, and
 * the translations everything else relies on (guest physical or frontend
 * virtual address to our pointer, and back for the dirty log).
 *
 * dev->regions[] stays sorted by guest address and never overlaps, so a
 * lookup is a binary search (509 slots stay fast), and priv->region_hint
 * remembers the last hit, which serves most lookups of a busy queue.
 *
 * How a region is mapped: QEMU's library maps each fd from offset 0 for
 * mmap_offset + size bytes. We map from the floor of mmap_offset aligned to
 * the fd's page size (the huge page size on hugetlbfs, which refuses
 * unaligned offsets), so a region deep inside a large file costs only its own
 * address space. VuDevRegion.mmap_addr is then the start of that mapping and
 * VuDevRegion.mmap_offset the distance from it to the region's first byte
 * (not the frontend's file offset), as the header documents.
 */
#include <inttypes.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <syslog.h>

#include "internal.h"

typedef struct MappedRegion {
        VuDevRegion region;
        uint64_t map_len;
} MappedRegion;

static uint64_t fd_page_size(int fd) {
        long page = sysconf(_SC_PAGESIZE);
        struct statfs fs;

        if (page <= 0)
                page = 4096;
        /* A hugetlbfs file maps only in units of its huge page size. */
        if (fstatfs(fd, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC && fs.f_bsize > page &&
            (fs.f_bsize & (fs.f_bsize - 1)) == 0)
                return (uint64_t) fs.f_bsize;
        return (uint64_t) page;
}

static void region_unmap(VuDevRegion *r, uint64_t map_len) {
        if (r->mmap_addr && map_len > 0)
                munmap((void *) (uintptr_t) r->mmap_addr, map_len);
        r->mmap_addr = 0;
}

/* Map @m (validated by message.c: size != 0, no end overflows) from @fd. The fd is not taken. */
static int region_map(VuDev *dev, const char *req, const VhostUserMemoryRegion *m, int fd,
                      MappedRegion *ret) {
        uint64_t align, floor_off, delta, len;
        struct stat st;
        void *p;

        if (fstat(fd, &st) < 0)
                return vu_error(dev, -errno, "%s: region at guest 0x%" PRIx64 ": cannot stat its fd: %m",
                                req, m->guest_phys_addr);
        /*
         * Touching a page beyond the end of a file raises SIGBUS: a frontend
         * must not be able to crash us by sharing a file shorter than it says.
         */
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size < m->mmap_offset + m->memory_size)
                return vu_error(dev, -EINVAL,
                                "%s: region at guest 0x%" PRIx64 " needs 0x%" PRIx64
                                " bytes of its file, which has 0x%" PRIx64,
                                req, m->guest_phys_addr, m->mmap_offset + m->memory_size,
                                (uint64_t) st.st_size);

        align = fd_page_size(fd);
        floor_off = m->mmap_offset & ~(align - 1);
        delta = m->mmap_offset - floor_off;
        if (m->memory_size > UINT64_MAX - delta - align || delta + m->memory_size + align - 1 > SIZE_MAX)
                return vu_error(dev, -E2BIG,
                                "%s: region at guest 0x%" PRIx64 " of 0x%" PRIx64 " bytes is too large", req,
                                m->guest_phys_addr, m->memory_size);
        len = (delta + m->memory_size + align - 1) & ~(align - 1);

        p = mmap(NULL, (size_t) len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
                 (off_t) floor_off);
        if (p == MAP_FAILED)
                return vu_error(dev, -errno,
                                "%s: Failed to map region at guest 0x%" PRIx64 " (0x%" PRIx64
                                " bytes at fd offset 0x%" PRIx64 "): %m",
                                req, m->guest_phys_addr, m->memory_size, m->mmap_offset);

        *ret = (MappedRegion){
                .region =
                        {
                                .gpa = m->guest_phys_addr,
                                .size = m->memory_size,
                                .qva = m->userspace_addr,
                                .mmap_offset = delta,
                                .mmap_addr = (uint64_t) (uintptr_t) p,
                        },
                .map_len = len,
        };
        return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
        /* Ends do not overflow (message.c checked), so plain comparisons hold. */
        return a < b + blen && b < a + alen;
}

/* Index of the first region whose gpa is greater than @gpa (0..nregions). */
static unsigned int region_upper_bound(const VuDev *dev, uint64_t gpa) {
        unsigned int lo = 0, hi = dev->nregions;

        while (lo < hi) {
                unsigned int mid = lo + (hi - lo) / 2;
                if (dev->regions[mid].gpa <= gpa)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static VuDevRegion *region_find(VuDev *dev, uint64_t gpa) {
        unsigned int n = dev->nregions, i;

        if (n == 0)
                return NULL;

        /* Queue threads translate concurrently: the hint is only a guess, read and written atomically. */
        if (dev->priv) {
                i = __atomic_load_n(&dev->priv->region_hint, __ATOMIC_RELAXED);
                if (i < n && gpa >= dev->regions[i].gpa && gpa - dev->regions[i].gpa < dev->regions[i].size)
                        return &dev->regions[i];
        }

        i = region_upper_bound(dev, gpa);
        if (i == 0)
                return NULL;
        i--;
        if (gpa - dev->regions[i].gpa >= dev->regions[i].size)
                return NULL;
        if (dev->priv)
                __atomic_store_n(&dev->priv->region_hint, i, __ATOMIC_RELAXED);
        return &dev->regions[i];
}

static inline uint8_t *region_host(const VuDevRegion *r) {
        return (uint8_t *) (uintptr_t) (r->mmap_addr + r->mmap_offset);
}

/* ---- translation ---------------------------------------------------------- */

_public_ void *vu_gpa_to_va(VuDev *dev, uint64_t *plen, uint64_t guest_addr) {
        VuDevRegion *r;
        uint64_t off;

        if (!dev || !plen)
                return NULL;
        r = region_find(dev, guest_addr);
        if (!r)
                return NULL;
        off = guest_addr - r->gpa;
        if (*plen > r->size - off)
                *plen = r->size - off;
        return region_host(r) + off;
}

const VuDevRegion *vu_mem_region_find(VuDev *dev, uint64_t gpa) {
        return dev ? region_find(dev, gpa) : NULL;
}

void *vu_mem_gpa_range(VuDev *dev, uint64_t gpa, uint64_t len) {
        VuDevRegion *r;
        uint64_t off;

        if (len == 0 || gpa > UINT64_MAX - len)
                return NULL;
        r = region_find(dev, gpa);
        if (!r)
                return NULL;
        off = gpa - r->gpa;
        if (len > r->size - off)
                return NULL;
        return region_host(r) + off;
}

void *vu_mem_qva_range(VuDev *dev, uint64_t qva, uint64_t len) {
        /* Rings are translated once per start: a linear scan is fine here. */
        if (len == 0 || qva > UINT64_MAX - len)
                return NULL;
        for (unsigned int i = 0; i < dev->nregions; i++) {
                const VuDevRegion *r = &dev->regions[i];

                if (qva >= r->qva && qva - r->qva < r->size && len <= r->size - (qva - r->qva))
                        return region_host(r) + (qva - r->qva);
        }
        return NULL;
}

bool vu_mem_va_to_gpa(const VuDev *dev, const void *va, uint64_t *ret_gpa) {
        uintptr_t a = (uintptr_t) va;

        for (unsigned int i = 0; i < dev->nregions; i++) {
                const VuDevRegion *r = &dev->regions[i];
                uintptr_t start = (uintptr_t) region_host(r);

                if (a >= start && a - start < r->size) {
                        *ret_gpa = r->gpa + (a - start);
                        return true;
                }
        }
        return false;
}

_public_ int vu_guest_read(VuDev *dev, uint64_t gpa, void *buf, size_t len) {
        uint8_t *out = buf;

        if (!dev || (!buf && len > 0))
                return -EINVAL;
        if (len > 0 && gpa > UINT64_MAX - (len - 1))
                return -EFAULT;

        while (len > 0) {
                uint64_t chunk = len;
                const void *p = vu_gpa_to_va(dev, &chunk, gpa);

                if (!p || chunk == 0)
                        return -EFAULT;
                memcpy(out, p, (size_t) chunk);
                out += chunk;
                gpa += chunk;
                len -= (size_t) chunk;
        }
        return 0;
}

_public_ unsigned int vu_get_regions(const VuDev *dev, VuRegionInfo *ret, unsigned int max) {
        if (!dev)
                return 0;
        for (unsigned int i = 0; i < dev->nregions && i < max && ret; i++) {
                const VuDevRegion *r = &dev->regions[i];

                ret[i] = (VuRegionInfo){
                        .gpa = r->gpa,
                        .size = r->size,
                        .qva = r->qva,
                        .mmap_offset = r->mmap_offset,
                        .host_addr = r->mmap_addr + r->mmap_offset,
                };
        }
        return dev->nregions;
}

/* ---- the table -------------------------------------------------------------- */

void vu_mem_unmap_all(VuDev *dev) {
        for (unsigned int i = 0; i < dev->nregions && i < VHOST_USER_MAX_RAM_SLOTS; i++) {
                region_unmap(&dev->regions[i], dev->priv ? dev->priv->region_map_len[i] : 0);
                dev->regions[i] = (VuDevRegion){};
        }
        dev->nregions = 0;
        if (dev->priv)
                dev->priv->region_hint = 0;
}

/* In postcopy, the frontend learns where each region lives in our address space. */
static int postcopy_register_all(VuDev *dev, const char *req) {
        for (unsigned int i = 0; i < dev->nregions; i++) {
                int r = vu_postcopy_register(dev, i);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int set_mem_table_postcopy_reply(VuDev *dev, VhostUserMsg *msg) {
        VhostUserMsg ack = {};
        uint32_t n = msg->payload.memory.nregions;
        int r;

        r = postcopy_register_all(dev, "SET_MEM_TABLE");
        if (r < 0)
                return r;

        /* Tell the frontend our address for each region, in its order, then wait for its go-ahead. */
        for (uint32_t i = 0; i < n; i++) {
                uint64_t gpa = msg->payload.memory.regions[i].guest_phys_addr;
                VuDevRegion *reg = region_find(dev, gpa);

                msg->payload.memory.regions[i].userspace_addr =
                        reg ? (uint64_t) (uintptr_t) region_host(reg) : 0;
        }
        msg->flags = 1 | VHOST_USER_REPLY_MASK;
        r = vu_message_write(dev->sock, msg, NULL, 0);
        if (r < 0)
                return vu_error(dev, r, "SET_MEM_TABLE: Failed to send region addresses for postcopy: %s",
                                strerror(-r));

        for (size_t i = 0; i < ELEMENTSOF(ack.fds); i++)
                ack.fds[i] = -EBADF;
        if (!(dev->read_msg ?: vu_message_read_default)(dev, dev->sock, &ack))
                return vu_error(dev, -EIO, "SET_MEM_TABLE: no postcopy acknowledgement from the frontend");
        vu_message_close_fds(&ack);
        if (ack.request != VHOST_USER_SET_MEM_TABLE || ack.size != sizeof(uint64_t) || ack.payload.u64 != 0)
                return vu_error(dev, -EPROTO,
                                "SET_MEM_TABLE: bad postcopy acknowledgement (request %d, %" PRIu32
                                " bytes)",
                                ack.request, ack.size);
        return 0;
}

int vu_handle_set_mem_table(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        MappedRegion new[VHOST_MEMORY_BASELINE_NREGIONS] = {};
        uint32_t n = msg->payload.memory.nregions;
        _cleanup_free_ MappedRegion *old = NULL;
        unsigned int nold = dev->nregions;
        unsigned int mapped = 0;
        int r;

        /* message.c checked 1 <= n <= 8 and one fd per region. */
        for (; mapped < n; mapped++) {
                VhostUserMemoryRegion m = msg->payload.memory.regions[mapped];

                r = region_map(dev, "SET_MEM_TABLE", &m, msg->fds[mapped], &new[mapped]);
                if (r < 0)
                        goto fail;
        }

        /* Sort (at most 8: insertion sort) and refuse overlapping guest ranges. */
        for (unsigned int i = 1; i < n; i++)
                for (unsigned int j = i; j > 0 && new[j - 1].region.gpa > new[j].region.gpa; j--) {
                        MappedRegion t = new[j];
                        new[j] = new[j - 1];
                        new[j - 1] = t;
                }
        for (unsigned int i = 1; i < n; i++)
                if (ranges_overlap(new[i - 1].region.gpa, new[i - 1].region.size, new[i].region.gpa,
                                   new[i].region.size)) {
                        r = vu_error(dev, -EINVAL,
                                     "SET_MEM_TABLE: region at guest 0x%" PRIx64 "+0x%" PRIx64
                                     " overlaps region at 0x%" PRIx64 "+0x%" PRIx64,
                                     new[i].region.gpa, new[i].region.size, new[i - 1].region.gpa,
                                     new[i - 1].region.size);
                        goto fail;
                }

        /* Keep the old mappings until the rings have moved to the new ones. */
        if (nold > 0) {
                old = calloc(nold, sizeof(*old));
                if (!old) {
                        r = vu_error(dev, -ENOMEM, "SET_MEM_TABLE: out of memory");
                        goto fail;
                }
                for (unsigned int i = 0; i < nold; i++)
                        old[i] = (MappedRegion){dev->regions[i], dev->priv->region_map_len[i]};
        }

        for (unsigned int i = 0; i < n; i++) {
                dev->regions[i] = new[i].region;
                dev->priv->region_map_len[i] = new[i].map_len;
        }
        for (unsigned int i = n; i < nold; i++) {
                dev->regions[i] = (VuDevRegion){};
                dev->priv->region_map_len[i] = 0;
        }
        dev->nregions = n;
        dev->priv->region_hint = 0;

        vq_remap_all(dev);
        for (unsigned int i = 0; i < nold; i++)
                region_unmap(&old[i].region, old[i].map_len);

        vu_log(dev, LOG_INFO, "Memory table: %u regions", n);

        if (dev->postcopy_listening)
                return set_mem_table_postcopy_reply(dev, msg);
        return 0;

fail:
        for (unsigned int i = 0; i < mapped && i < n; i++)
                region_unmap(&new[i].region, new[i].map_len);
        return r;
}

int vu_handle_get_max_mem_slots(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        msg->payload.u64 = VHOST_USER_MAX_RAM_SLOTS;
        msg->size = sizeof(uint64_t);
        *ret_reply = true;
        return 0;
}

int vu_handle_add_mem_reg(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        VhostUserMemoryRegion m = msg->payload.memreg.region;
        MappedRegion mr;
        unsigned int pos;
        int r;

        if (dev->nregions >= VHOST_USER_MAX_RAM_SLOTS)
                return vu_error(dev, -E2BIG, "ADD_MEM_REG: all %u memory slots are in use",
                                VHOST_USER_MAX_RAM_SLOTS);

        pos = region_upper_bound(dev, m.guest_phys_addr);
        if (pos > 0 && ranges_overlap(dev->regions[pos - 1].gpa, dev->regions[pos - 1].size,
                                      m.guest_phys_addr, m.memory_size))
                return vu_error(dev, -EINVAL,
                                "ADD_MEM_REG: region at guest 0x%" PRIx64 "+0x%" PRIx64
                                " overlaps region at 0x%" PRIx64 "+0x%" PRIx64,
                                m.guest_phys_addr, m.memory_size, dev->regions[pos - 1].gpa,
                                dev->regions[pos - 1].size);
        if (pos < dev->nregions &&
            ranges_overlap(dev->regions[pos].gpa, dev->regions[pos].size, m.guest_phys_addr, m.memory_size))
                return vu_error(dev, -EINVAL,
                                "ADD_MEM_REG: region at guest 0x%" PRIx64 "+0x%" PRIx64
                                " overlaps region at 0x%" PRIx64 "+0x%" PRIx64,
                                m.guest_phys_addr, m.memory_size, dev->regions[pos].gpa,
                                dev->regions[pos].size);

        r = region_map(dev, "ADD_MEM_REG", &m, msg->fds[0], &mr);
        if (r < 0)
                return r;

        memmove(&dev->regions[pos + 1], &dev->regions[pos], (dev->nregions - pos) * sizeof(dev->regions[0]));
        memmove(&dev->priv->region_map_len[pos + 1], &dev->priv->region_map_len[pos],
                (dev->nregions - pos) * sizeof(dev->priv->region_map_len[0]));
        dev->regions[pos] = mr.region;
        dev->priv->region_map_len[pos] = mr.map_len;
        dev->nregions++;
        dev->priv->region_hint = pos;

        vq_remap_all(dev);
        vu_log(dev, LOG_DEBUG, "Added region guest 0x%" PRIx64 "+0x%" PRIx64 " (%u in use)",
               m.guest_phys_addr, m.memory_size, dev->nregions);

        if (dev->postcopy_listening) {
                r = vu_postcopy_register(dev, pos);
                if (r < 0)
                        return r;
                /* The frontend learns where the region lives in our address space. */
                msg->payload.memreg.region.userspace_addr =
                        (uint64_t) (uintptr_t) region_host(&dev->regions[pos]);
                *ret_reply = true;
        }
        return 0;
}

int vu_handle_rem_mem_reg(VuDev *dev, VhostUserMsg *msg, bool *ret_reply) {
        VhostUserMemoryRegion m = msg->payload.memreg.region;
        VuDevRegion gone;
        uint64_t gone_len;
        unsigned int i;

        /*
         * An fd sent with it (older frontends do) is left in msg->fds: the
         * dispatcher closes it, which the original library forgot to do.
         */
        i = region_upper_bound(dev, m.guest_phys_addr);
        if (i == 0 || dev->regions[i - 1].gpa != m.guest_phys_addr ||
            dev->regions[i - 1].size != m.memory_size || dev->regions[i - 1].qva != m.userspace_addr)
                return vu_error(dev, -ENOENT,
                                "REM_MEM_REG: no region at guest 0x%" PRIx64 "+0x%" PRIx64
                                " (user 0x%" PRIx64 ")",
                                m.guest_phys_addr, m.memory_size, m.userspace_addr);
        i--;

        gone = dev->regions[i];
        gone_len = dev->priv->region_map_len[i];
        memmove(&dev->regions[i], &dev->regions[i + 1], (dev->nregions - i - 1) * sizeof(dev->regions[0]));
        memmove(&dev->priv->region_map_len[i], &dev->priv->region_map_len[i + 1],
                (dev->nregions - i - 1) * sizeof(dev->priv->region_map_len[0]));
        dev->nregions--;
        dev->regions[dev->nregions] = (VuDevRegion){};
        dev->priv->region_map_len[dev->nregions] = 0;
        dev->priv->region_hint = 0;

        /* Rings that lived in the region stop before it goes away. */
        vq_remap_all(dev);
        region_unmap(&gone, gone_len);
        vu_log(dev, LOG_DEBUG, "Removed region guest 0x%" PRIx64 "+0x%" PRIx64 " (%u in use)",
               m.guest_phys_addr, m.memory_size, dev->nregions);
        return 0;
}
