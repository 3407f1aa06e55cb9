/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vu-frontend packed-ring driver: what a guest's virtio driver does with a
 * packed virtqueue (VIRTIO_F_RING_PACKED). It lays out the descriptor ring
 * and the two event suppression areas, hands out buffer ids, writes chains
 * (direct or through one indirect table) with the AVAIL/USED bits of its
 * lap, makes each chain available by writing its first descriptor's flags
 * last, decides whether to kick from the device's event suppression area,
 * and collects used descriptors, skipping the slots each chain took. With
 * VIRTIO_F_IN_ORDER it also accepts one used descriptor for a run of
 * buffers (the ones before it were used whole).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "vu-frontend.h"

#define P_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define P_USED (1u << VRING_PACKED_DESC_F_USED)
#define P_EVENT_WRAP (1u << VRING_PACKED_EVENT_F_WRAP_CTR)

struct VfPacked {
        VfMem *mem;
        unsigned int region;
        unsigned int num;
        bool event_idx;

        uint64_t desc_gpa, driver_gpa, device_gpa;
        struct vring_packed_desc *desc;
        struct vring_packed_desc_event *driver; /* ours: used buffer notification wishes */
        struct vring_packed_desc_event *device; /* the device's: kick wishes */

        uint16_t next_avail; /* next slot we write, and our lap's wrap counter */
        bool avail_wrap;
        uint16_t next_used; /* next slot the device writes a used descriptor to */
        bool used_wrap;
        uint16_t kicked_pos; /* next_avail as of the last publish */
        bool kicked_wrap;
        unsigned int num_free;

        /* per buffer id: ring slots its chain took (0: free), and its indirect table */
        uint16_t *sgs;
        uint64_t *indirect_gpa;
        uint32_t *indirect_cap;
        uint16_t *free_ids;
        unsigned int nfree_ids;

        /* chains written but not yet made available: their first slot and its flags */
        uint16_t *pending_pos;
        uint16_t *pending_flags;
        unsigned int npending;

        /* IN_ORDER: ids in the order made available, writable bytes per id, a run being handed out */
        bool in_order;
        uint16_t *fifo;
        unsigned int fifo_head, fifo_len;
        uint32_t *wlen;
        bool run_pending;
        uint16_t run_id;
        uint32_t run_len;

        int kick_fd;
        int call_fd;
};

static uint64_t align_up(uint64_t v, uint64_t a) {
        return (v + a - 1) & ~(a - 1);
}

/* A slot and its lap as one number modulo 2*num (the device's view uses the same). */
static unsigned int lap_pos(unsigned int num, unsigned int pos, bool wrap) {
        return (pos % num) + (wrap ? num : 0);
}

int vf_packed_new(VfMem *m, unsigned int region, unsigned int num, bool event_idx, VfPacked **ret) {
        if (num == 0 || num > 32768)
                return -EINVAL;

        VfPacked *pr = calloc(1, sizeof(*pr));
        if (!pr)
                return -ENOMEM;
        pr->kick_fd = pr->call_fd = -EBADF;
        pr->mem = m;
        pr->region = region;
        pr->num = num;
        pr->event_idx = event_idx;
        pr->sgs = calloc(num, sizeof(uint16_t));
        pr->indirect_gpa = calloc(num, sizeof(uint64_t));
        pr->indirect_cap = calloc(num, sizeof(uint32_t));
        pr->free_ids = calloc(num, sizeof(uint16_t));
        pr->pending_pos = calloc(num, sizeof(uint16_t));
        pr->pending_flags = calloc(num, sizeof(uint16_t));
        pr->fifo = calloc(num, sizeof(uint16_t));
        pr->wlen = calloc(num, sizeof(uint32_t));
        if (!pr->sgs || !pr->indirect_gpa || !pr->indirect_cap || !pr->free_ids || !pr->pending_pos ||
            !pr->pending_flags || !pr->fifo || !pr->wlen) {
                vf_packed_free(pr);
                return -ENOMEM;
        }

        /* Each part on its own page, so dirty-log tests can tell them apart. */
        int r = vf_mem_alloc(m, region, align_up(16ull * num, VF_PAGE_SIZE), VF_PAGE_SIZE, &pr->desc_gpa);
        if (r >= 0)
                r = vf_mem_alloc(m, region, VF_PAGE_SIZE, VF_PAGE_SIZE, &pr->driver_gpa);
        if (r >= 0)
                r = vf_mem_alloc(m, region, VF_PAGE_SIZE, VF_PAGE_SIZE, &pr->device_gpa);
        if (r < 0) {
                vf_packed_free(pr);
                return r;
        }
        pr->desc = vf_mem_gpa(m, pr->desc_gpa, 16ull * num);
        pr->driver = vf_mem_gpa(m, pr->driver_gpa, 4);
        pr->device = vf_mem_gpa(m, pr->device_gpa, 4);

        /* packed-ring.tex: both wrap counters start at 1; the ring starts zeroed. */
        pr->avail_wrap = pr->used_wrap = pr->kicked_wrap = true;
        pr->num_free = num;
        for (unsigned int i = 0; i < num; i++)
                pr->free_ids[i] = (uint16_t) (num - 1 - i); /* pop hands out 0 first */
        pr->nfree_ids = num;

        pr->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pr->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (pr->kick_fd < 0 || pr->call_fd < 0) {
                r = -errno;
                vf_packed_free(pr);
                return r;
        }
        *ret = pr;
        return 0;
}

VfPacked *vf_packed_free(VfPacked *pr) {
        if (!pr)
                return NULL;
        safe_close(pr->kick_fd);
        safe_close(pr->call_fd);
        free(pr->sgs);
        free(pr->indirect_gpa);
        free(pr->indirect_cap);
        free(pr->free_ids);
        free(pr->pending_pos);
        free(pr->pending_flags);
        free(pr->fifo);
        free(pr->wlen);
        free(pr);
        return NULL;
}

unsigned int vf_packed_num(const VfPacked *pr) {
        return pr->num;
}
uint64_t vf_packed_desc_gpa(const VfPacked *pr) {
        return pr->desc_gpa;
}
uint64_t vf_packed_driver_event_gpa(const VfPacked *pr) {
        return pr->driver_gpa;
}
uint64_t vf_packed_device_event_gpa(const VfPacked *pr) {
        return pr->device_gpa;
}
int vf_packed_kick_fd(const VfPacked *pr) {
        return pr->kick_fd;
}
int vf_packed_call_fd(const VfPacked *pr) {
        return pr->call_fd;
}
struct vring_packed_desc *vf_packed_desc(VfPacked *pr) {
        return pr->desc;
}
unsigned int vf_packed_num_free(const VfPacked *pr) {
        return pr->num_free;
}
void vf_packed_next_avail(const VfPacked *pr, uint16_t *ret_pos, bool *ret_wrap) {
        *ret_pos = pr->next_avail;
        *ret_wrap = pr->avail_wrap;
}
void vf_packed_next_used(const VfPacked *pr, uint16_t *ret_pos, bool *ret_wrap) {
        *ret_pos = pr->next_used;
        *ret_wrap = pr->used_wrap;
}

uint32_t vf_packed_base(const VfPacked *pr) {
        uint32_t half = (uint32_t) pr->next_used | (pr->used_wrap ? 0x8000u : 0);

        return half | half << 16;
}

int vf_packed_setup(VfConn *c, unsigned int idx, VfPacked *pr, uint32_t base, bool log_used) {
        struct vhost_vring_addr addr = {
                .index = idx,
                .flags = log_used ? (1u << VHOST_VRING_F_LOG) : 0,
                .desc_user_addr = vf_mem_qva(pr->mem, pr->desc_gpa),
                .avail_user_addr = vf_mem_qva(pr->mem, pr->driver_gpa), /* the driver area */
                .used_user_addr = vf_mem_qva(pr->mem, pr->device_gpa),  /* the device area */
                .log_guest_addr = pr->device_gpa,
        };

        int r = vf_set_vring_num(c, idx, pr->num);
        if (r >= 0)
                r = vf_set_vring_base(c, idx, base);
        if (r >= 0)
                r = vf_request(c, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL);
        if (r >= 0)
                r = vf_set_vring_call(c, idx, pr->call_fd);
        if (r >= 0)
                r = vf_set_vring_kick(c, idx, pr->kick_fd);
        return r;
}

static uint16_t lap_bits(bool wrap) {
        return (uint16_t) (wrap ? P_AVAIL : P_USED);
}

static void slot_advance(VfPacked *pr, uint16_t *pos, bool *wrap) {
        if (++*pos == pr->num) {
                *pos = 0;
                *wrap = !*wrap;
        }
}

static int indirect_table(VfPacked *pr, uint16_t id, unsigned int n, struct vring_packed_desc **ret) {
        /* Tables are kept per id and reused, so long runs do not exhaust guest memory. */
        if (pr->indirect_cap[id] < n) {
                uint64_t gpa;
                int r = vf_mem_alloc(pr->mem, pr->region, 16ull * n, 16, &gpa);
                if (r < 0)
                        return r;
                pr->indirect_gpa[id] = gpa;
                pr->indirect_cap[id] = n;
        }
        *ret = vf_mem_gpa(pr->mem, pr->indirect_gpa[id], 16ull * n);
        return *ret ? 0 : -EFAULT;
}

int vf_packed_add(VfPacked *pr, const VfBuf *bufs, unsigned int n, bool indirect, uint16_t *ret_id) {
        unsigned int need = indirect ? 1 : n;
        uint16_t id, head_flags = 0, head = pr->next_avail;

        if (n == 0 || n > 65535)
                return -EINVAL;
        if (pr->num_free < need || pr->nfree_ids == 0)
                return -ENOSPC;
        id = pr->free_ids[pr->nfree_ids - 1];

        if (indirect) {
                struct vring_packed_desc *t;
                int r = indirect_table(pr, id, n, &t);
                if (r < 0)
                        return r;
                for (unsigned int i = 0; i < n; i++)
                        t[i] = (struct vring_packed_desc){
                                .addr = bufs[i].gpa,
                                .len = bufs[i].len,
                                .flags = bufs[i].write ? VRING_DESC_F_WRITE : 0,
                        };
                struct vring_packed_desc *d = &pr->desc[pr->next_avail];
                d->addr = pr->indirect_gpa[id];
                d->len = 16u * n;
                d->id = id;
                head_flags = (uint16_t) (VRING_DESC_F_INDIRECT | lap_bits(pr->avail_wrap));
                slot_advance(pr, &pr->next_avail, &pr->avail_wrap);
        } else
                for (unsigned int i = 0; i < n; i++) {
                        struct vring_packed_desc *d = &pr->desc[pr->next_avail];
                        uint16_t f =
                                (uint16_t) ((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
                                            (i + 1 < n ? VRING_DESC_F_NEXT : 0) | lap_bits(pr->avail_wrap));

                        d->addr = bufs[i].gpa;
                        d->len = bufs[i].len;
                        d->id = id;
                        if (i == 0)
                                head_flags = f; /* written by vf_packed_publish(), after the rest */
                        else
                                __atomic_store_n(&d->flags, f, __ATOMIC_RELEASE);
                        slot_advance(pr, &pr->next_avail, &pr->avail_wrap);
                }

        pr->nfree_ids--;
        pr->sgs[id] = (uint16_t) need;
        pr->wlen[id] = 0;
        for (unsigned int i = 0; i < n; i++)
                pr->wlen[id] += bufs[i].write ? bufs[i].len : 0;
        if (pr->in_order)
                pr->fifo[(pr->fifo_head + pr->fifo_len++) % pr->num] = id;
        pr->num_free -= need;
        pr->pending_pos[pr->npending] = head;
        pr->pending_flags[pr->npending] = head_flags;
        pr->npending++;
        *ret_id = id;
        return 0;
}

bool vf_packed_publish(VfPacked *pr) {
        unsigned int num = pr->num, mod = 2 * num, old, new, ev;
        uint16_t flags, off_wrap;

        if (pr->npending == 0)
                return false;
        /* Everything else of the chains before the flags that make them available. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        for (unsigned int i = 0; i < pr->npending; i++)
                __atomic_store_n(&pr->desc[pr->pending_pos[i]].flags, pr->pending_flags[i],
                                 __ATOMIC_RELEASE);
        pr->npending = 0;
        /* The flags before we look at the device's wishes. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);

        old = lap_pos(num, pr->kicked_pos, pr->kicked_wrap);
        new = lap_pos(num, pr->next_avail, pr->avail_wrap);
        pr->kicked_pos = pr->next_avail;
        pr->kicked_wrap = pr->avail_wrap;

        flags = __atomic_load_n(&pr->device->flags, __ATOMIC_ACQUIRE) & 0x3;
        off_wrap = __atomic_load_n(&pr->device->off_wrap, __ATOMIC_ACQUIRE);
        if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
                return false;
        if (flags != VRING_PACKED_EVENT_FLAG_DESC || !pr->event_idx)
                return true;
        ev = lap_pos(num, off_wrap & ~P_EVENT_WRAP, off_wrap & P_EVENT_WRAP);
        return (new + mod - ev - 1) % mod < (new + mod - old) % mod;
}

int vf_packed_kick(VfPacked *pr) {
        uint64_t one = 1;

        return write(pr->kick_fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int vf_packed_publish_kick(VfPacked *pr) {
        if (!vf_packed_publish(pr))
                return 0;
        int r = vf_packed_kick(pr);
        return r < 0 ? r : 1;
}

int vf_packed_take_calls(VfPacked *pr, int timeout_ms, uint64_t *ret_count) {
        if (timeout_ms > 0) {
                struct pollfd p = {.fd = pr->call_fd, .events = POLLIN};
                int r;
                do
                        r = poll(&p, 1, timeout_ms);
                while (r < 0 && errno == EINTR);
                if (r < 0)
                        return -errno;
        }

        uint64_t v;
        if (read(pr->call_fd, &v, sizeof(v)) != sizeof(v)) {
                if (errno != EAGAIN)
                        return -errno;
                v = 0;
        }
        *ret_count = v;
        return 0;
}

void vf_packed_set_in_order(VfPacked *pr, bool on) {
        pr->in_order = on;
}

/* IN_ORDER: hand out the oldest id of the run; the run's own id last, with the length the device wrote. */
static int in_order_next(VfPacked *pr, uint16_t *ret_id, uint32_t *ret_len) {
        uint16_t id = pr->fifo[pr->fifo_head];

        pr->fifo_head = (pr->fifo_head + 1) % pr->num;
        pr->fifo_len--;
        if (id == pr->run_id) {
                pr->run_pending = false;
                *ret_len = pr->run_len;
        } else
                *ret_len = pr->wlen[id]; /* skipped: used whole */
        pr->num_free += pr->sgs[id];
        pr->sgs[id] = 0;
        pr->free_ids[pr->nfree_ids++] = id;
        *ret_id = id;
        return 1;
}

int vf_packed_get_used(VfPacked *pr, uint16_t *ret_id, uint32_t *ret_len) {
        if (pr->in_order && pr->run_pending)
                return in_order_next(pr, ret_id, ret_len);

        struct vring_packed_desc *d = &pr->desc[pr->next_used];
        uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);

        if (!!(flags & P_AVAIL) != pr->used_wrap || !!(flags & P_USED) != pr->used_wrap)
                return 0;

        uint16_t id = d->id;
        uint32_t len = d->len;
        if (id >= pr->num || pr->sgs[id] == 0)
                return -EPROTO; /* the device returned an id we never gave it */

        if (pr->in_order) {
                /* The run is every id made available up to this one: skip all their slots. */
                unsigned int k;

                for (k = 0; k < pr->fifo_len; k++) {
                        uint16_t x = pr->fifo[(pr->fifo_head + k) % pr->num];

                        for (unsigned int i = 0; i < pr->sgs[x]; i++)
                                slot_advance(pr, &pr->next_used, &pr->used_wrap);
                        if (x == id)
                                break;
                }
                if (k == pr->fifo_len)
                        return -EPROTO; /* not an id we have outstanding */
                pr->run_pending = true;
                pr->run_id = id;
                pr->run_len = len;
                return in_order_next(pr, ret_id, ret_len);
        }

        /* The chain's other slots hold nothing for us: skip them. */
        for (unsigned int i = 0; i < pr->sgs[id]; i++)
                slot_advance(pr, &pr->next_used, &pr->used_wrap);
        pr->num_free += pr->sgs[id];
        pr->sgs[id] = 0;
        pr->free_ids[pr->nfree_ids++] = id;
        *ret_id = id;
        *ret_len = len;
        return 1;
}

void vf_packed_set_driver_event(VfPacked *pr, uint16_t flags, uint16_t off_wrap) {
        __atomic_store_n(&pr->driver->off_wrap, off_wrap, __ATOMIC_RELEASE);
        __atomic_store_n(&pr->driver->flags, flags, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void vf_packed_device_event(VfPacked *pr, uint16_t *ret_flags, uint16_t *ret_off_wrap) {
        *ret_flags = __atomic_load_n(&pr->device->flags, __ATOMIC_ACQUIRE);
        *ret_off_wrap = __atomic_load_n(&pr->device->off_wrap, __ATOMIC_ACQUIRE);
}
