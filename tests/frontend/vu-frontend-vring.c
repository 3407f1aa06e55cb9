/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vu-frontend split-ring driver: what a guest's virtio driver does with a
 * split virtqueue. It lays out the three rings in guest memory, keeps a
 * free list of descriptors, adds direct or indirect chains, publishes the
 * avail index with the barriers the spec asks for, honours EVENT_IDX and
 * NO_NOTIFY when deciding to kick, and collects used elements.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "vu-frontend.h"

struct VfVring {
        VfMem *mem;
        unsigned int region;
        unsigned int num;
        bool event_idx;

        uint64_t desc_gpa, avail_gpa, used_gpa;
        struct vring_desc *desc;
        struct vring_avail *avail;
        struct vring_used *used;

        uint16_t free_head;
        unsigned int num_free;
        uint16_t avail_shadow;    /* next avail slot we fill */
        uint16_t avail_published; /* avail->idx as last published */
        uint16_t last_used;
        bool announced; /* vf_vring_setup() ran once */

        /* per head: descriptors it took from the table, and its indirect table */
        uint16_t *chain_len;
        uint64_t *indirect_gpa;
        uint32_t *indirect_cap;

        int kick_fd;
        int call_fd;
};

static uint64_t align_up(uint64_t v, uint64_t a) {
        return (v + a - 1) & ~(a - 1);
}

int vf_vring_new(VfMem *m, unsigned int region, unsigned int num, bool event_idx, VfVring **ret) {
        if (num == 0 || num > 32768 || (num & (num - 1)))
                return -EINVAL;

        VfVring *vr = calloc(1, sizeof(*vr));
        if (!vr)
                return -ENOMEM;
        vr->kick_fd = vr->call_fd = -EBADF;
        vr->mem = m;
        vr->region = region;
        vr->num = num;
        vr->event_idx = event_idx;
        vr->chain_len = calloc(num, sizeof(uint16_t));
        vr->indirect_gpa = calloc(num, sizeof(uint64_t));
        vr->indirect_cap = calloc(num, sizeof(uint32_t));
        if (!vr->chain_len || !vr->indirect_gpa || !vr->indirect_cap) {
                vf_vring_free(vr);
                return -ENOMEM;
        }

        uint64_t desc_size = 16ull * num, avail_size = 6ull + 2ull * num, used_size = 6ull + 8ull * num;
        int r = vf_mem_alloc(m, region, align_up(desc_size, VF_PAGE_SIZE), VF_PAGE_SIZE, &vr->desc_gpa);
        if (r >= 0)
                r = vf_mem_alloc(m, region, align_up(avail_size, VF_PAGE_SIZE), VF_PAGE_SIZE,
                                 &vr->avail_gpa);
        if (r >= 0)
                r = vf_mem_alloc(m, region, align_up(used_size, VF_PAGE_SIZE), VF_PAGE_SIZE, &vr->used_gpa);
        if (r < 0) {
                vf_vring_free(vr);
                return r;
        }
        vr->desc = vf_mem_gpa(m, vr->desc_gpa, desc_size);
        vr->avail = vf_mem_gpa(m, vr->avail_gpa, avail_size);
        vr->used = vf_mem_gpa(m, vr->used_gpa, used_size);

        for (unsigned int i = 0; i < num; i++)
                vr->desc[i].next = (uint16_t) ((i + 1) % num);
        vr->free_head = 0;
        vr->num_free = num;

        vr->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        vr->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vr->kick_fd < 0 || vr->call_fd < 0) {
                r = -errno;
                vf_vring_free(vr);
                return r;
        }
        *ret = vr;
        return 0;
}

VfVring *vf_vring_free(VfVring *vr) {
        if (!vr)
                return NULL;
        safe_close(vr->kick_fd);
        safe_close(vr->call_fd);
        free(vr->chain_len);
        free(vr->indirect_gpa);
        free(vr->indirect_cap);
        free(vr);
        return NULL;
}

unsigned int vf_vring_num(const VfVring *vr) {
        return vr->num;
}
uint64_t vf_vring_desc_gpa(const VfVring *vr) {
        return vr->desc_gpa;
}
uint64_t vf_vring_avail_gpa(const VfVring *vr) {
        return vr->avail_gpa;
}
uint64_t vf_vring_used_gpa(const VfVring *vr) {
        return vr->used_gpa;
}
int vf_vring_kick_fd(const VfVring *vr) {
        return vr->kick_fd;
}
int vf_vring_call_fd(const VfVring *vr) {
        return vr->call_fd;
}
struct vring_desc *vf_vring_desc(VfVring *vr) {
        return vr->desc;
}
struct vring_avail *vf_vring_avail(VfVring *vr) {
        return vr->avail;
}
struct vring_used *vf_vring_used(VfVring *vr) {
        return vr->used;
}
unsigned int vf_vring_num_free(const VfVring *vr) {
        return vr->num_free;
}
uint16_t vf_vring_last_used(const VfVring *vr) {
        return vr->last_used;
}
uint16_t vf_vring_avail_idx(const VfVring *vr) {
        return vr->avail_published;
}

int vf_vring_setup(VfConn *c, unsigned int idx, VfVring *vr, unsigned int base, bool log_used) {
        struct vhost_vring_addr addr = {
                .index = idx,
                .flags = log_used ? (1u << VHOST_VRING_F_LOG) : 0,
                .desc_user_addr = vf_mem_qva(vr->mem, vr->desc_gpa),
                .used_user_addr = vf_mem_qva(vr->mem, vr->used_gpa),
                .avail_user_addr = vf_mem_qva(vr->mem, vr->avail_gpa),
                .log_guest_addr = vr->used_gpa,
        };

        /* A fresh ring starts where the backend is told to start; a ring handed to a
         * new connection (reconnect) keeps what is in guest memory. */
        if (!vr->announced) {
                vr->avail_shadow = vr->avail_published = vr->last_used = (uint16_t) base;
                vr->avail->idx = (uint16_t) base;
                vr->used->idx = (uint16_t) base;
                vr->announced = true;
        }

        int r = vf_set_vring_num(c, idx, vr->num);
        if (r >= 0)
                r = vf_set_vring_base(c, idx, base);
        if (r >= 0)
                r = vf_request(c, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL);
        if (r >= 0)
                r = vf_set_vring_call(c, idx, vr->call_fd);
        if (r >= 0)
                r = vf_set_vring_kick(c, idx, vr->kick_fd);
        return r;
}

static int indirect_table(VfVring *vr, uint16_t head, unsigned int n, struct vring_desc **ret) {
        /* Tables are kept per head and reused, so long runs do not exhaust guest memory. */
        if (vr->indirect_cap[head] < n) {
                uint64_t gpa;
                int r = vf_mem_alloc(vr->mem, vr->region, 16ull * n, 16, &gpa);
                if (r < 0)
                        return r;
                vr->indirect_gpa[head] = gpa;
                vr->indirect_cap[head] = n;
        }
        *ret = vf_mem_gpa(vr->mem, vr->indirect_gpa[head], 16ull * n);
        return *ret ? 0 : -EFAULT;
}

static uint16_t buf_flags(const VfBuf *b, bool more) {
        return (uint16_t) ((b->write ? VRING_DESC_F_WRITE : 0) | (more ? VRING_DESC_F_NEXT : 0));
}

int vf_vring_add(VfVring *vr, const VfBuf *bufs, unsigned int n, bool indirect, uint16_t *ret_head) {
        unsigned int need = indirect ? 1 : n;
        uint16_t head = vr->free_head, idx = head, last = head;

        if (n == 0 || n > 65535)
                return -EINVAL;
        if (vr->num_free < need)
                return -ENOSPC;

        if (indirect) {
                struct vring_desc *t;
                int r = indirect_table(vr, head, n, &t);
                if (r < 0)
                        return r;
                for (unsigned int i = 0; i < n; i++)
                        t[i] = (struct vring_desc){
                                .addr = bufs[i].gpa,
                                .len = bufs[i].len,
                                .flags = buf_flags(&bufs[i], i + 1 < n),
                                .next = (uint16_t) (i + 1 < n ? i + 1 : 0),
                        };
                vr->desc[head].addr = vr->indirect_gpa[head];
                vr->desc[head].len = (uint32_t) (16u * n);
                vr->desc[head].flags = VRING_DESC_F_INDIRECT;
                last = head;
        } else
                for (unsigned int i = 0; i < n; i++) {
                        /* desc[idx].next already links to the next free entry: the chain follows it. */
                        vr->desc[idx].addr = bufs[i].gpa;
                        vr->desc[idx].len = bufs[i].len;
                        vr->desc[idx].flags = buf_flags(&bufs[i], i + 1 < n);
                        last = idx;
                        idx = vr->desc[idx].next;
                }

        vr->free_head = vr->desc[last].next;
        vr->num_free -= need;
        vr->chain_len[head] = (uint16_t) need;

        vr->avail->ring[vr->avail_shadow & (vr->num - 1)] = head;
        vr->avail_shadow++;
        *ret_head = head;
        return 0;
}

bool vf_vring_publish(VfVring *vr) {
        uint16_t old = vr->avail_published, new = vr->avail_shadow;

        /* Ring entries before the index; the index before we look at the device's wishes. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&vr->avail->idx, new, __ATOMIC_RELAXED);
        vr->avail_published = new;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);

        if (old == new)
                return false;
        if (vr->event_idx)
                return vring_need_event(vf_vring_avail_event(vr), new, old);
        return !(__atomic_load_n(&vr->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
}

int vf_vring_kick(VfVring *vr) {
        uint64_t one = 1;

        return write(vr->kick_fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int vf_vring_publish_kick(VfVring *vr) {
        if (!vf_vring_publish(vr))
                return 0;
        int r = vf_vring_kick(vr);
        return r < 0 ? r : 1;
}

int vf_vring_take_calls(VfVring *vr, int timeout_ms, uint64_t *ret_count) {
        if (timeout_ms > 0) {
                struct pollfd p = {.fd = vr->call_fd, .events = POLLIN};
                int r;
                do
                        r = poll(&p, 1, timeout_ms);
                while (r < 0 && errno == EINTR);
                if (r < 0)
                        return -errno;
        }

        uint64_t v;
        if (read(vr->call_fd, &v, sizeof(v)) != sizeof(v)) {
                if (errno != EAGAIN)
                        return -errno;
                v = 0;
        }
        *ret_count = v;
        return 0;
}

int vf_vring_get_used(VfVring *vr, uint16_t *ret_head, uint32_t *ret_len) {
        uint16_t used_idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);

        if (used_idx == vr->last_used)
                return 0;

        struct vring_used_elem e = vr->used->ring[vr->last_used & (vr->num - 1)];
        if (e.id >= vr->num || vr->chain_len[e.id] == 0)
                return -EPROTO; /* the device returned a head we never gave it */

        /* Give the chain's descriptors back to the free list. */
        uint16_t last = (uint16_t) e.id;
        for (unsigned int i = 1; i < vr->chain_len[e.id]; i++)
                last = vr->desc[last].next;
        vr->desc[last].next = vr->free_head;
        vr->free_head = (uint16_t) e.id;
        vr->num_free += vr->chain_len[e.id];
        vr->chain_len[e.id] = 0;

        vr->last_used++;
        *ret_head = (uint16_t) e.id;
        *ret_len = e.len;
        return 1;
}

void vf_vring_set_used_event(VfVring *vr, uint16_t idx) {
        __atomic_store_n(&vr->avail->ring[vr->num], idx, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint16_t vf_vring_avail_event(VfVring *vr) {
        uint16_t *p = (uint16_t *) &vr->used->ring[vr->num];

        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

void vf_vring_set_no_interrupt(VfVring *vr, bool on) {
        uint16_t f = vr->avail->flags;

        f = on ? (f | VRING_AVAIL_F_NO_INTERRUPT) : (f & ~VRING_AVAIL_F_NO_INTERRUPT);
        __atomic_store_n(&vr->avail->flags, f, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
