/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The thread-pool I/O engine: for when io_uring is refused (container
 * seccomp profiles refuse it) or not wanted. A few workers take requests
 * from a FIFO, run the syscall (blk_io_execute()), put the request on a
 * done list and bump an eventfd; the event loop reads the eventfd and runs
 * the completions. Only the two lists are shared, under one mutex.
 * The workers inherit the main thread's blocked signals, so SIGTERM and
 * friends always reach the event loop's signalfd.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blk-io.h"
#include "log.h"
#include "macro.h"

#define THREADS_MAX 4

typedef struct ThreadsPriv {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        BlkIoRequest *pending_head, *pending_tail; /* under lock: waiting for a worker */
        BlkIoRequest *done_head, *done_tail;       /* under lock: finished */
        bool quit;                                 /* under lock */

        BlkIoRequest *staged_head, *staged_tail; /* loop thread only: submitted, not flushed */

        pthread_t threads[THREADS_MAX];
        unsigned int n_threads;
        int efd;
        sd_event_source *source;
} ThreadsPriv;

static void list_append(BlkIoRequest **head, BlkIoRequest **tail, BlkIoRequest *req) {
        req->next = NULL;
        if (*tail)
                (*tail)->next = req;
        else
                *head = req;
        *tail = req;
}

static void *threads_worker(void *userdata) {
        ThreadsPriv *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                BlkIoRequest *req;

                while (!p->pending_head && !p->quit)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (!p->pending_head)
                        break; /* quit, and nothing left to do */

                req = p->pending_head;
                p->pending_head = req->next;
                if (!p->pending_head)
                        p->pending_tail = NULL;
                pthread_mutex_unlock(&p->lock);

                blk_io_execute(req);

                pthread_mutex_lock(&p->lock);
                list_append(&p->done_head, &p->done_tail, req);
                uint64_t one = 1;
                (void) !write(p->efd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void threads_process(BlkIoEngine *e) {
        ThreadsPriv *p = e->priv;
        BlkIoRequest *req;
        uint64_t v;

        (void) !read(p->efd, &v, sizeof(v));

        pthread_mutex_lock(&p->lock);
        req = p->done_head;
        p->done_head = p->done_tail = NULL;
        pthread_mutex_unlock(&p->lock);

        if (!req)
                return;
        while (req) {
                BlkIoRequest *next = req->next;

                blk_io_complete(e, req);
                req = next;
        }
        if (e->batch_done)
                e->batch_done(e->userdata);
}

static int threads_on_event(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        threads_process(userdata);
        return 0;
}

static int threads_init(BlkIoEngine *e, unsigned int depth) {
        ThreadsPriv *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        e->priv = p;

        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e->event, &p->source, p->efd, EPOLLIN, threads_on_event, e);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(p->source, "io-threads");

        for (unsigned int i = 0; i < MIN(depth, (unsigned) THREADS_MAX); i++) {
                r = -pthread_create(&p->threads[i], NULL, threads_worker, p);
                if (r < 0)
                        goto fail;
                p->n_threads++;
        }
        return 0;

fail:
        e->ops->done(e);
        return r;
}

static int threads_submit(BlkIoEngine *e, BlkIoRequest *req) {
        ThreadsPriv *p = e->priv;

        list_append(&p->staged_head, &p->staged_tail, req);
        return 0;
}

static void threads_flush(BlkIoEngine *e) {
        ThreadsPriv *p = e->priv;

        if (!p->staged_head)
                return;
        pthread_mutex_lock(&p->lock);
        if (p->pending_tail)
                p->pending_tail->next = p->staged_head;
        else
                p->pending_head = p->staged_head;
        p->pending_tail = p->staged_tail;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        p->staged_head = p->staged_tail = NULL;
}

static void threads_drain(BlkIoEngine *e) {
        ThreadsPriv *p = e->priv;

        while (e->in_flight > 0) {
                struct pollfd pfd = {.fd = p->efd, .events = POLLIN};

                /* A completion may resubmit (short transfer, a fallback): flush before every wait. */
                threads_flush(e);

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        break;
                threads_process(e);
        }
}

static void threads_done(BlkIoEngine *e) {
        ThreadsPriv *p = e->priv;

        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->quit = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (unsigned int i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);
        p->source = sd_event_source_disable_unref(p->source);
        safe_close(p->efd);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        e->priv = NULL;
}

const BlkIoEngineOps blk_io_threads_ops = {
        .name = "threads",
        .init = threads_init,
        .submit = threads_submit,
        .flush = threads_flush,
        .drain = threads_drain,
        .done = threads_done,
};
