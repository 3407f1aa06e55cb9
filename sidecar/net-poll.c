/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How the net device's queue pairs are driven: kicks, batching, waiting
 * for receive buffers, and polling.
 *
 * Everything runs on the daemon's one event-loop thread, so the counters
 * and ring state the control socket reads are never touched concurrently.
 * Polling is an sd-event I/O source on an eventfd that is always readable
 * (written once, never read), enabled only while some pair polls: each
 * dispatch passes over the polling pairs for at most NET_POLL_SLICE_USEC
 * and returns to the loop, so the control socket, signals and vhost-user
 * messages are served between slices, and the loop's epoll_wait() is all a
 * slice costs. (Not a defer source: sd-event skips epoll entirely while
 * one is pending, which would starve every fd. Not a timer set in the past:
 * re-arming its timerfd every slice costs a system call that, on a virtual
 * machine, took 15% of a busy poller's time.)
 *
 *   off       a kick runs the pair in bursts of NET_BURST (one guest
 *             notification per burst) until its ring is empty; notifications
 *             stay armed. A pair that still has work after NET_KICK_BURSTS
 *             bursts continues from the defer source, so one busy guest cannot
 *             starve the loop.
 *   adaptive  after work, the pair's transmit notifications are switched off
 *             and its rings polled until poll_usec pass without a frame; then
 *             notifications are re-armed and the ring checked once more (a
 *             frame that raced the re-arm is not lost). Idle: no source is
 *             enabled, the process sleeps in epoll.
 *   busy      as adaptive, but never re-armed: the pair is polled for as long
 *             as its queues run (a benchmark mode: one core at 100%).
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "net-internal.h"
#include "sidecar.h"

/* The longest one poll dispatch keeps the loop. */
#define NET_POLL_SLICE_USEC 200u
/*
 * The clock is read once per this much work (a frame, or a look at an empty
 * ring, counts one): on a virtual machine one read can cost as much as a
 * few frames, and the slice and the adaptive window need no finer grain.
 */
#define NET_POLL_CLOCK_EVERY 64u
/* Bursts a kick runs before the rest is left to the defer source (off mode). */
#define NET_KICK_BURSTS 16u

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static unsigned int pair_run(NetPair *p, unsigned int budget) {
        if (p->net->config.backend == NET_BACKEND_TAP)
                return net_tap_tx_run(p, budget);
        return net_loopback_run(p, budget);
}

void net_pair_flush(NetPair *p) {
        NetDevice *n = p->net;
        VuDev *vu = &n->dev.vu;

        if (n->detaching || !n->dev.vu_ready) {
                p->tx_used = p->rx_used = 0;
                p->rx_unnotified = false;
                return;
        }
        if (p->tx_used > 0) {
                VuVirtq *vq = net_queue(n, net_tx_qidx(p->index));

                vu_queue_flush(vu, vq, p->tx_used);
                p->tx_used = 0;
                vu_queue_notify(vu, vq);
        }
        if (p->rx_used > 0 || p->rx_unnotified) {
                VuVirtq *vq = net_queue(n, net_rx_qidx(p->index));

                if (p->rx_used > 0)
                        vu_queue_flush(vu, vq, p->rx_used);
                p->rx_used = 0;
                p->rx_unnotified = false;
                vu_queue_notify(vu, vq);
        }
}

/* ---- the poll set ------------------------------------------------------------- */

static int net_on_poll(sd_event_source *source, int fd, uint32_t revents, void *userdata);

/* The poll source: an eventfd made readable once, so the loop dispatches it every time round. */
static int poll_source_add(NetDevice *n) {
        uint64_t one = 1;
        int fd, r;

        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (write(fd, &one, sizeof(one)) != sizeof(one)) {
                r = -errno;
                close(fd);
                return r;
        }
        r = sd_event_add_io(n->dev.sidecar->event, &n->poll_source, fd, EPOLLIN, net_on_poll, n);
        if (r < 0) {
                close(fd);
                return r;
        }
        (void) sd_event_source_set_io_fd_own(n->poll_source, true);
        (void) sd_event_source_set_description(n->poll_source, "net-poll");
        return sd_event_source_set_enabled(n->poll_source, SD_EVENT_OFF);
}

static void pair_set_tx_notification(NetPair *p, bool on) {
        NetDevice *n = p->net;

        if (net_queue_usable(n, net_tx_qidx(p->index)))
                vu_queue_set_notification(&n->dev.vu, net_queue(n, net_tx_qidx(p->index)), on);
}

static void pair_start_polling(NetPair *p) {
        NetDevice *n = p->net;
        int r;

        if (p->polling)
                return;
        if (!n->poll_source) {
                r = poll_source_add(n);
                if (r < 0) {
                        log_warning_errno(r, "%s: Failed to add the poll source, staying event-driven: %m",
                                          n->dev.id);
                        n->poll_source = sd_event_source_disable_unref(n->poll_source);
                        return;
                }
        }
        if (n->n_polling == 0 && sd_event_source_set_enabled(n->poll_source, SD_EVENT_ON) < 0)
                return;
        p->polling = true;
        n->n_polling++;
        p->poll_deadline = mono_usec() + (n->poll == NET_POLL_OFF ? 0 : n->poll_usec);
        /* Off mode only continues a long run: its notifications stay armed. */
        if (n->poll != NET_POLL_OFF)
                pair_set_tx_notification(p, false);
}

void net_pair_stop_polling(NetPair *p) {
        NetDevice *n = p->net;

        if (!p->polling)
                return;
        p->polling = false;
        n->n_polling--;
        pair_set_tx_notification(p, true);
        if (n->n_polling == 0 && n->poll_source)
                (void) sd_event_source_set_enabled(n->poll_source, SD_EVENT_OFF);
}

void net_poll_stop_all(NetDevice *n) {
        for (unsigned int i = 0; n->pairs && i < n->config.pairs; i++)
                if (n->pairs[i])
                        net_pair_stop_polling(n->pairs[i]);
}

/* Re-arm notifications, then look once more: a frame queued just before the re-arm sent no kick. */
static void pair_rearm(NetPair *p) {
        NetDevice *n = p->net;
        unsigned int txq = net_tx_qidx(p->index);

        net_pair_stop_polling(p);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (net_queue_usable(n, txq) && !p->rx_wait && !vu_queue_empty(&n->dev.vu, net_queue(n, txq)))
                pair_start_polling(p);
}

/*
 * What a poll pass finds on the transmit ring, from one look at it: -1 if
 * it no longer looks like the ring we were given, 0 if nothing waits, 1 if
 * the pair should run. A frontend that tears its rings down (DPDK's
 * virtio_user re-initialises them when the port stops) before it stops the
 * queue with GET_VRING_BASE is never noticed by an event-driven backend,
 * which is not kicked any more; a polling one would read the reset ring and
 * declare it corrupt. So a poll that finds avail->idx more than a ring's
 * worth away from our position stops polling that pair quietly: a kick
 * still goes through the library's full checks. A packed ring has no
 * avail->idx (that address is its driver event area): a zeroed one just
 * shows no available slot. An empty ring is not run at all: the pass costs
 * one read of avail->idx (or the library's look at the next packed slot).
 */
static int pair_poll_look(NetPair *p) {
        NetDevice *n = p->net;
        VuVirtq *vq = net_queue(n, net_tx_qidx(p->index));
        uint16_t avail;

        if (!vq || !vq->vring.avail)
                return -1;
        if (n->features & (UINT64_C(1) << VIRTIO_F_RING_PACKED))
                return !vu_queue_empty(&n->dev.vu, vq);
        avail = le16toh(__atomic_load_n(&vq->vring.avail->idx, __ATOMIC_ACQUIRE));
        if ((uint16_t) (avail - vq->last_avail_idx) > vq->vring.num)
                return -1;
        /* Chains handed back by a restarted backend's inflight buffer are not in avail->idx. */
        return avail != vq->last_avail_idx || vq->resubmit_list;
}

static int net_on_poll(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        NetDevice *n = userdata;
        uint64_t start = mono_usec(), now = start;
        unsigned int work = 0;

        for (;;) {
                for (unsigned int i = 0; i < n->config.pairs; i++) {
                        NetPair *p = n->pairs[i];
                        unsigned int k;
                        int look;

                        if (!p->polling)
                                continue;
                        if (!net_queue_usable(n, net_tx_qidx(i))) {
                                net_pair_stop_polling(p);
                                continue;
                        }
                        look = pair_poll_look(p);
                        if (look < 0) {
                                log_debug("%s: tx %u: the frontend reset the ring under us, back to kicks",
                                          n->dev.id, i);
                                p->polling = false;
                                if (--n->n_polling == 0)
                                        (void) sd_event_source_set_enabled(n->poll_source, SD_EVENT_OFF);
                                continue;
                        }
                        /* (A frame waiting for receive buffers is still in the ring: look > 0.) */
                        k = look > 0 ? pair_run(p, NET_BURST) : 0;
                        n->qstats[net_tx_qidx(i)].polls++;
                        work += k > 0 ? k : 1;
                        if (k > 0) {
                                if (n->poll != NET_POLL_OFF)
                                        p->poll_deadline = now + n->poll_usec;
                                continue;
                        }
                        if (n->poll != NET_POLL_BUSY && now >= p->poll_deadline)
                                pair_rearm(p);
                }
                if (n->n_polling == 0)
                        break;
                if (work < NET_POLL_CLOCK_EVERY)
                        continue;
                work = 0;
                now = mono_usec();
                if (now - start >= NET_POLL_SLICE_USEC)
                        break;
        }
        return 0;
}

/* ---- kicks ------------------------------------------------------------------------ */

void net_pair_kick(NetPair *p) {
        NetDevice *n = p->net;
        unsigned int total = 0, k = 0;

        if (p->polling)
                return; /* the poll source runs it */
        for (unsigned int b = 0; b < NET_KICK_BURSTS; b++) {
                k = pair_run(p, NET_BURST);
                total += k;
                if (k < NET_BURST)
                        break;
        }
        if (!net_queue_usable(n, net_tx_qidx(p->index)))
                return;
        if (n->poll == NET_POLL_BUSY || (n->poll == NET_POLL_ADAPTIVE && total > 0) || k == NET_BURST)
                pair_start_polling(p);
}

static void pair_rx_resume(NetPair *p) {
        NetDevice *n = p->net;
        unsigned int rxq = net_rx_qidx(p->index);

        p->rx_wait = false;
        p->rx_need = 0;
        (void) sd_event_source_set_enabled(p->hold_timer, SD_EVENT_OFF);
        if (net_queue_usable(n, rxq))
                vu_queue_set_notification(&n->dev.vu, net_queue(n, rxq), 0);
}

static int pair_on_hold_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        NetPair *p = userdata;

        if (!p->rx_wait)
                return 0;
        log_debug("%s: rx %u: no receive buffer for %u ms, dropping frames until the guest posts some",
                  p->net->dev.id, p->index, NET_HOLD_USEC / 1000);
        pair_rx_resume(p);
        p->hold_expired = true;
        net_pair_kick(p);
        return 0;
}

bool net_pair_wait_rx(NetPair *p) {
        NetDevice *n = p->net;
        unsigned int rxq = net_rx_qidx(p->index);
        VuVirtq *rx;
        int r;

        if (!net_queue_usable(n, rxq))
                return false;
        rx = net_queue(n, rxq);
        if (!p->rx_wait) {
                p->rx_wait = true;
                n->qstats[rxq].holds++;
                vu_queue_set_notification(&n->dev.vu, rx, 1);
                if (n->config.backend == NET_BACKEND_LOOPBACK) {
                        if (!p->hold_timer) {
                                r = sd_event_add_time_relative(n->dev.sidecar->event, &p->hold_timer,
                                                               CLOCK_MONOTONIC, NET_HOLD_USEC, 0,
                                                               pair_on_hold_timer, p);
                                if (r < 0)
                                        log_warning_errno(r, "%s: rx %u: Failed to arm the hold timer: %m",
                                                          n->dev.id, p->index);
                        } else {
                                (void) sd_event_source_set_time_relative(p->hold_timer, NET_HOLD_USEC);
                                (void) sd_event_source_set_enabled(p->hold_timer, SD_EVENT_ONESHOT);
                        }
                }
        }
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        /*
         * A frame that needs several buffers (mergeable, or a jumbo frame) and
         * found fewer must not be sent round again while the ring still holds
         * just as few: that would spin inside this callback, deaf to signals,
         * the control socket and every other device, for as long as the guest
         * posts nothing more. It waits for enough bytes, or the kick.
         */
        if (p->rx_need > 0 ? vu_queue_avail_bytes(&n->dev.vu, rx, (unsigned int) MIN(p->rx_need, (uint64_t) UINT32_MAX), 0)
                           : !vu_queue_empty(&n->dev.vu, rx)) {
                pair_rx_resume(p); /* forgets rx_need too */
                return true;
        }
        return false;
}

void net_pair_rx_ready(NetPair *p) {
        NetDevice *n = p->net;

        if (p->rx_wait)
                pair_rx_resume(p);
        if (n->config.backend == NET_BACKEND_TAP) {
                net_tap_set_reading(p, true);
                while (net_tap_rx_run(p, NET_BURST) == NET_BURST)
                        ;
                return;
        }
        net_pair_kick(p);
}

void net_pair_tx_kick_cb(VuDev *vu, int qidx) {
        NetDevice *n = net_from_vu(vu);

        if (qidx < 0 || (unsigned) qidx >= net_ctrl_qidx(n) || qidx % 2 != 1)
                return;
        net_pair_kick(n->pairs[qidx / 2]);
}

void net_pair_rx_ready_cb(VuDev *vu, int qidx) {
        NetDevice *n = net_from_vu(vu);

        if (qidx < 0 || (unsigned) qidx >= net_ctrl_qidx(n) || qidx % 2 != 0)
                return;
        net_pair_rx_ready(n->pairs[qidx / 2]);
}

/* ---- mode changes ----------------------------------------------------------------- */

int net_set_poll(NetDevice *n, NetPollMode mode, uint64_t usec) {
        if ((unsigned) mode >= _NET_POLL_MAX || (mode == NET_POLL_ADAPTIVE && (usec == 0 || usec > NET_POLL_USEC_MAX)))
                return -EINVAL;
        net_poll_stop_all(n);
        n->poll = mode;
        if (mode == NET_POLL_ADAPTIVE)
                n->poll_usec = usec;
        event_emit(n->dev.sidecar, &n->dev, "polling", "polling %s%s", net_poll_mode_to_string(mode),
                   mode == NET_POLL_ADAPTIVE ? " (window set)" : "");
        log_info("%s: polling %s, window %" PRIu64 " us.", n->dev.id, net_poll_mode_to_string(mode), n->poll_usec);
        /* Busy mode polls from now on, not from the next kick. */
        if (device_is_connected(&n->dev))
                for (unsigned int i = 0; i < n->config.pairs; i++)
                        if (net_queue_usable(n, net_tx_qidx(i)))
                                net_pair_kick(n->pairs[i]);
        sidecar_update_status(n->dev.sidecar);
        return 0;
}

/*
 * The control socket's polling hooks (weak in control-methods.h): a window
 * of 0 switches polling off, anything else makes it adaptive with that
 * window. Only net devices poll.
 */
int device_set_poll_usec(Device *d, uint64_t usec);
uint64_t device_get_poll_usec(const Device *d);

int device_set_poll_usec(Device *d, uint64_t usec) {
        if (!device_is_net(d))
                return -EOPNOTSUPP;
        return net_set_poll(net_from_device(d), usec == 0 ? NET_POLL_OFF : NET_POLL_ADAPTIVE, usec);
}

uint64_t device_get_poll_usec(const Device *d) {
        const NetDevice *n = (const NetDevice *) d;

        if (!device_is_net(d) || n->poll == NET_POLL_OFF)
                return 0;
        return n->poll_usec;
}
