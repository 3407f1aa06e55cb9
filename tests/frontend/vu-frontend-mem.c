/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vu-frontend guest memory: memfd-backed regions placed anywhere in guest
 * physical space (with gaps, so chains can cross regions), a per-region
 * bump allocator, and the requests that announce memory to a backend
 * (SET_MEM_TABLE, ADD/REM_MEM_REG). Also the two other shared buffers a
 * frontend hands over: the dirty log and the inflight buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "vu-frontend.h"

#define VF_MAX_REGIONS 1024u

struct VfMem {
        VfRegion regions[VF_MAX_REGIONS];
        unsigned int n;
};

int vf_mem_new(VfMem **ret) {
        VfMem *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}

static void region_release(VfRegion *r) {
        if (r->host)
                munmap(r->host, r->size);
        if (r->owns_fd)
                safe_close(r->fd);
        *r = (VfRegion){.fd = -EBADF};
}

VfMem *vf_mem_free(VfMem *m) {
        if (!m)
                return NULL;
        for (unsigned int i = 0; i < m->n; i++)
                region_release(&m->regions[i]);
        free(m);
        return NULL;
}

static bool is_page_aligned(uint64_t v) {
        return (v & (VF_PAGE_SIZE - 1)) == 0;
}

static int region_insert(VfMem *m, uint64_t gpa, uint64_t size, int fd, bool owns_fd, uint64_t offset) {
        if (m->n >= VF_MAX_REGIONS)
                return -ENOSPC;
        if (size == 0 || !is_page_aligned(gpa) || !is_page_aligned(size) || !is_page_aligned(offset) ||
            gpa + size < gpa)
                return -EINVAL;
        for (unsigned int i = 0; i < m->n; i++) {
                const VfRegion *o = &m->regions[i];
                if (gpa < o->gpa + o->size && o->gpa < gpa + size)
                        return -EEXIST;
        }

        void *host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t) offset);
        if (host == MAP_FAILED)
                return -errno;
        m->regions[m->n] = (VfRegion){
                .gpa = gpa,
                .size = size,
                .mmap_offset = offset,
                .fd = fd,
                .owns_fd = owns_fd,
                .host = host,
        };
        return (int) m->n++;
}

int vf_mem_add_region(VfMem *m, uint64_t gpa, uint64_t size) {
        _cleanup_close_ int fd = memfd_create("vf-guest-ram", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t) size) < 0)
                return -errno;
        int r = region_insert(m, gpa, size, fd, true, 0);
        if (r >= 0)
                TAKE_FD(fd);
        return r;
}

int vf_mem_add_region_fd(VfMem *m, uint64_t gpa, uint64_t size, int fd, uint64_t offset) {
        return region_insert(m, gpa, size, fd, false, offset);
}

int vf_mem_remove_region(VfMem *m, unsigned int index) {
        if (index >= m->n)
                return -EINVAL;
        region_release(&m->regions[index]);
        memmove(&m->regions[index], &m->regions[index + 1], (m->n - index - 1) * sizeof(VfRegion));
        m->n--;
        return 0;
}

unsigned int vf_mem_nregions(const VfMem *m) {
        return m->n;
}

const VfRegion *vf_mem_region(const VfMem *m, unsigned int index) {
        return index < m->n ? &m->regions[index] : NULL;
}

static VfRegion *region_of(VfMem *m, uint64_t gpa, uint64_t len) {
        for (unsigned int i = 0; i < m->n; i++) {
                VfRegion *r = &m->regions[i];
                if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
                        return r;
        }
        return NULL;
}

void *vf_mem_gpa(VfMem *m, uint64_t gpa, uint64_t len) {
        VfRegion *r = region_of(m, gpa, len);

        return r ? r->host + (gpa - r->gpa) : NULL;
}

uint64_t vf_mem_qva(VfMem *m, uint64_t gpa) {
        VfRegion *r = region_of(m, gpa, 1);

        return r ? (uint64_t) (uintptr_t) (r->host + (gpa - r->gpa)) : 0;
}

int vf_mem_alloc(VfMem *m, unsigned int index, uint64_t size, uint64_t align, uint64_t *ret_gpa) {
        if (index >= m->n || align == 0 || (align & (align - 1)))
                return -EINVAL;
        VfRegion *r = &m->regions[index];
        uint64_t off = (r->next_free + align - 1) & ~(align - 1);
        if (off > r->size || size > r->size - off)
                return -ENOMEM;
        memset(r->host + off, 0, size);
        r->next_free = off + size;
        *ret_gpa = r->gpa + off;
        return 0;
}

void vf_mem_describe(const VfMem *m, unsigned int index, VhostUserMemoryRegion *ret) {
        const VfRegion *r = &m->regions[index];

        *ret = (VhostUserMemoryRegion){
                .guest_phys_addr = r->gpa,
                .memory_size = r->size,
                .userspace_addr = (uint64_t) (uintptr_t) r->host,
                .mmap_offset = r->mmap_offset,
        };
}

int vf_set_mem_table(VfConn *c, VfMem *m) {
        VhostUserMemory mem = {.nregions = m->n};
        int fds[VHOST_MEMORY_BASELINE_NREGIONS];

        if (m->n > VHOST_MEMORY_BASELINE_NREGIONS)
                return -E2BIG;
        for (unsigned int i = 0; i < m->n; i++) {
                vf_mem_describe(m, i, &mem.regions[i]);
                fds[i] = m->regions[i].fd;
        }
        return vf_request(c, VHOST_USER_SET_MEM_TABLE, &mem,
                          (uint32_t) (offsetof(VhostUserMemory, regions) + m->n * sizeof(mem.regions[0])),
                          fds, m->n, NULL);
}

int vf_add_mem_reg(VfConn *c, VfMem *m, unsigned int index) {
        VhostUserMemRegMsg msg = {};

        if (index >= m->n)
                return -EINVAL;
        vf_mem_describe(m, index, &msg.region);
        return vf_request(c, VHOST_USER_ADD_MEM_REG, &msg, sizeof(msg), &m->regions[index].fd, 1, NULL);
}

int vf_rem_mem_reg(VfConn *c, VfMem *m, unsigned int index) {
        VhostUserMemRegMsg msg = {};

        if (index >= m->n)
                return -EINVAL;
        vf_mem_describe(m, index, &msg.region);
        return vf_request(c, VHOST_USER_REM_MEM_REG, &msg, sizeof(msg), NULL, 0, NULL);
}

/* ---- dirty log ----------------------------------------------------------- */

int vf_log_new(uint64_t guest_span, VfLog **ret) {
        uint64_t pages = (guest_span + VF_PAGE_SIZE - 1) / VF_PAGE_SIZE;
        uint64_t size = ((pages + 7) / 8 + VF_PAGE_SIZE - 1) & ~(uint64_t) (VF_PAGE_SIZE - 1);

        _cleanup_free_ VfLog *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        _cleanup_close_ int fd = memfd_create("vf-dirty-log", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t) size) < 0)
                return -errno;
        void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                return -errno;
        l->fd = TAKE_FD(fd);
        l->size = size;
        l->map = map;
        *ret = TAKE_PTR(l);
        return 0;
}

VfLog *vf_log_free(VfLog *l) {
        if (!l)
                return NULL;
        if (l->map)
                munmap(l->map, l->size);
        safe_close(l->fd);
        free(l);
        return NULL;
}

void vf_log_clear(VfLog *l) {
        memset(l->map, 0, l->size);
}

bool vf_log_test(const VfLog *l, uint64_t gpa) {
        uint64_t page = gpa / VF_PAGE_SIZE;

        if (page / 8 >= l->size)
                return false;
        return __atomic_load_n(&l->map[page / 8], __ATOMIC_ACQUIRE) & (1u << (page % 8));
}

uint64_t vf_log_count(const VfLog *l) {
        uint64_t n = 0;

        for (uint64_t i = 0; i < l->size; i++)
                n += (uint64_t) __builtin_popcount(__atomic_load_n(&l->map[i], __ATOMIC_ACQUIRE));
        return n;
}

int vf_set_log_base(VfConn *c, VfLog *l) {
        VhostUserLog log = {.mmap_size = l->size, .mmap_offset = 0};
        VfMsg reply;

        int r = vf_request(c, VHOST_USER_SET_LOG_BASE, &log, sizeof(log), &l->fd, 1, &reply);
        if (r < 0)
                return r;
        vf_msg_close_fds(&reply);
        return 0;
}

int vf_set_log_fd(VfConn *c, int fd) {
        return vf_request(c, VHOST_USER_SET_LOG_FD, NULL, 0, &fd, 1, NULL);
}

/* ---- inflight ------------------------------------------------------------ */

int vf_get_inflight_fd(VfConn *c, uint16_t num_queues, uint16_t queue_size, VfInflight **ret) {
        VhostUserInflight req = {.num_queues = num_queues, .queue_size = queue_size};
        VfMsg reply;

        int r = vf_request(c, VHOST_USER_GET_INFLIGHT_FD, &req, sizeof(req), NULL, 0, &reply);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = reply.nfds == 1 ? TAKE_FD(reply.fds[0]) : -EBADF;
        vf_msg_close_fds(&reply);
        if (reply.size != sizeof(VhostUserInflight) || fd < 0 || reply.payload.inflight.mmap_size == 0)
                return -EPROTO;

        _cleanup_free_ VfInflight *inf = calloc(1, sizeof(*inf));
        if (!inf)
                return -ENOMEM;
        inf->mmap_size = reply.payload.inflight.mmap_size;
        inf->mmap_offset = reply.payload.inflight.mmap_offset;
        inf->num_queues = reply.payload.inflight.num_queues;
        inf->queue_size = reply.payload.inflight.queue_size;
        void *map =
                mmap(NULL, inf->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t) inf->mmap_offset);
        if (map == MAP_FAILED)
                return -errno;
        inf->map = map;
        inf->fd = TAKE_FD(fd);
        *ret = TAKE_PTR(inf);
        return 0;
}

int vf_set_inflight_fd(VfConn *c, const VfInflight *inf) {
        VhostUserInflight req = {
                .mmap_size = inf->mmap_size,
                .mmap_offset = inf->mmap_offset,
                .num_queues = inf->num_queues,
                .queue_size = inf->queue_size,
        };

        return vf_request(c, VHOST_USER_SET_INFLIGHT_FD, &req, sizeof(req), &inf->fd, 1, NULL);
}

VfInflight *vf_inflight_free(VfInflight *inf) {
        if (!inf)
                return NULL;
        if (inf->map)
                munmap(inf->map, inf->mmap_size);
        safe_close(inf->fd);
        free(inf);
        return NULL;
}
