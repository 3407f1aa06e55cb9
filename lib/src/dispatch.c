/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device's life and the message loop: vu_init()/vu_deinit(), and
 * vu_dispatch(), which reads one message, has message.c judge it, lets the
 * program see it first (process_msg), runs the request's handler from one
 * table, closes whatever fds nobody took, and answers where the frontend
 * waits for an answer. Also the library's voice: vu_log(), vu_error() for a
 * refusal the connection survives, vu_panic() for one it does not.
 */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>

#include "internal.h"

static const vu_request_handler request_handlers[VHOST_USER_MAX] = {
        [VHOST_USER_GET_FEATURES] = vu_handle_get_features,
        [VHOST_USER_SET_FEATURES] = vu_handle_set_features,
        [VHOST_USER_SET_OWNER] = vu_handle_set_owner,
        [VHOST_USER_RESET_OWNER] = vu_handle_reset_owner,
        [VHOST_USER_SET_MEM_TABLE] = vu_handle_set_mem_table,
        [VHOST_USER_SET_LOG_BASE] = vu_handle_set_log_base,
        [VHOST_USER_SET_LOG_FD] = vu_handle_set_log_fd,
        [VHOST_USER_SET_VRING_NUM] = vu_handle_set_vring_num,
        [VHOST_USER_SET_VRING_ADDR] = vu_handle_set_vring_addr,
        [VHOST_USER_SET_VRING_BASE] = vu_handle_set_vring_base,
        [VHOST_USER_GET_VRING_BASE] = vu_handle_get_vring_base,
        [VHOST_USER_SET_VRING_KICK] = vu_handle_set_vring_kick,
        [VHOST_USER_SET_VRING_CALL] = vu_handle_set_vring_call,
        [VHOST_USER_SET_VRING_ERR] = vu_handle_set_vring_err,
        [VHOST_USER_GET_PROTOCOL_FEATURES] = vu_handle_get_protocol_features,
        [VHOST_USER_SET_PROTOCOL_FEATURES] = vu_handle_set_protocol_features,
        [VHOST_USER_GET_QUEUE_NUM] = vu_handle_get_queue_num,
        [VHOST_USER_SET_VRING_ENABLE] = vu_handle_set_vring_enable,
        [VHOST_USER_SET_SLAVE_REQ_FD] = vu_handle_set_slave_req_fd,
        [VHOST_USER_GET_CONFIG] = vu_handle_get_config,
        [VHOST_USER_SET_CONFIG] = vu_handle_set_config,
        [VHOST_USER_POSTCOPY_ADVISE] = vu_handle_postcopy_advise,
        [VHOST_USER_POSTCOPY_LISTEN] = vu_handle_postcopy_listen,
        [VHOST_USER_POSTCOPY_END] = vu_handle_postcopy_end,
        [VHOST_USER_GET_INFLIGHT_FD] = vu_handle_get_inflight_fd,
        [VHOST_USER_SET_INFLIGHT_FD] = vu_handle_set_inflight_fd,
        [VHOST_USER_RESET_DEVICE] = vu_handle_reset_device,
        [VHOST_USER_VRING_KICK] = vu_handle_vring_kick,
        [VHOST_USER_GET_MAX_MEM_SLOTS] = vu_handle_get_max_mem_slots,
        [VHOST_USER_ADD_MEM_REG] = vu_handle_add_mem_reg,
        [VHOST_USER_REM_MEM_REG] = vu_handle_rem_mem_reg,
        [VHOST_USER_SET_STATUS] = vu_handle_set_status,
        [VHOST_USER_GET_STATUS] = vu_handle_get_status,
        /*
         * No handler: SEND_RARP, NET_SET_MTU, IOTLB_MSG, SET_VRING_ENDIAN,
         * the crypto sessions and GPU_SET_SOCKET. We never offer the
         * features that allow them; a device that wants them takes them in
         * process_msg (and offers the bit through get_protocol_features),
         * as it may take requests newer than this library.
         */
};

/* ---- the library's voice ---------------------------------------------- */

static void log_va(VuDev *dev, int priority, const char *fmt, va_list ap) _printf_(3, 0);
static void log_va(VuDev *dev, int priority, const char *fmt, va_list ap) {
        char buf[512];

        if (!dev || !dev->priv || !dev->priv->log_cb)
                return;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        dev->priv->log_cb(dev, priority, buf, dev->priv->log_userdata);
}

void vu_log(VuDev *dev, int priority, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_va(dev, priority, fmt, ap);
        va_end(ap);
}

int vu_error(VuDev *dev, int err, const char *fmt, ...) {
        va_list ap;

        if (!dev || !dev->priv)
                return err;
        va_start(ap, fmt);
        vsnprintf(dev->priv->last_error, sizeof(dev->priv->last_error), fmt, ap);
        va_end(ap);
        vu_log(dev, LOG_WARNING, "%s", dev->priv->last_error);
        return err;
}

void vu_panic(VuDev *dev, const char *fmt, ...) {
        char buf[sizeof(((struct VuDevPriv *) NULL)->last_error)];
        va_list ap;

        if (!dev)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        if (dev->priv)
                memcpy(dev->priv->last_error, buf, sizeof(buf));
        vu_log(dev, LOG_ERR, "%s", buf);
        dev->broken = true;
        if (dev->panic)
                dev->panic(dev, buf);
}

int vu_check_queue_index(VuDev *dev, const char *req, uint64_t idx) {
        if (!dev->vq || idx >= dev->max_queues)
                return vu_error(dev, -EINVAL, "%s: queue %" PRIu64 " out of range (max %u)", req, idx,
                                dev->max_queues);
        return 0;
}

/* ---- life of a device ---------------------------------------------------- */

_public_ bool vu_init(VuDev *dev, uint16_t max_queues, int socket, vu_panic_cb panic,
                      vu_read_msg_cb read_msg, vu_set_watch_cb set_watch, vu_remove_watch_cb remove_watch,
                      const VuDevIface *iface) {
        if (!dev)
                return false;

        /* First make the device safe for vu_deinit(), whatever follows. */
        memset(dev, 0, sizeof(*dev));
        pthread_mutex_init(&dev->slave_mutex, NULL);
        dev->sock = -EBADF;
        dev->log_call_fd = -EBADF;
        dev->slave_fd = -EBADF;
        dev->postcopy_ufd = -EBADF;
        dev->inflight_info.fd = -EBADF;

        if (socket < 0 || max_queues == 0 || max_queues > VU_MAX_QUEUES || !panic || !set_watch ||
            !remove_watch || !iface)
                return false;

        dev->sock = socket;
        dev->max_queues = max_queues;
        dev->panic = panic;
        dev->read_msg = read_msg;
        dev->set_watch = set_watch;
        dev->remove_watch = remove_watch;
        dev->iface = iface;

        dev->priv = calloc(1, sizeof(*dev->priv));
        if (!dev->priv)
                return false;
        dev->priv->reply_fd = -EBADF;

        if (vq_alloc_all(dev) < 0) {
                vu_deinit(dev);
                return false;
        }
        return true;
}

_public_ void vu_deinit(VuDev *dev) {
        if (!dev)
                return;

        /* Queues first: their watches go before the memory their rings live in. */
        if (dev->vq || (dev->priv && dev->priv->vq_priv))
                vq_free_all(dev);
        vu_mem_unmap_all(dev);
        vu_log_unmap(dev);
        vu_inflight_unmap(dev);
        vu_backend_close(dev);
        vu_postcopy_close(dev);

        if (dev->priv) {
                safe_close(dev->priv->reply_fd);
                free(dev->priv);
                dev->priv = NULL;
        }
        /* slave_mutex stays initialised: destroying it would make a second vu_deinit() undefined. */
}

/* ---- replies -------------------------------------------------------------- */

static int send_reply(VuDev *dev, VhostUserMsg *msg) {
        int fd = TAKE_FD(dev->priv->reply_fd);
        int r;

        msg->flags = 1 | VHOST_USER_REPLY_MASK;
        r = vu_message_write(dev->sock, msg, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
        safe_close(fd);
        return r;
}

/*
 * A reply the device built in process_msg goes out as the original library
 * sent it: the payload, or msg->size bytes at msg->data, with the fds in
 * msg->fds[0..fd_num).
 */
static int send_device_reply(VuDev *dev, VhostUserMsg *msg) {
        size_t nfds = msg->fd_num > 0 ? MIN((size_t) msg->fd_num, ELEMENTSOF(msg->fds)) : 0;
        int fds[ELEMENTSOF(msg->fds)];

        memcpy(fds, msg->fds, sizeof(fds));
        dev->priv->reply_fd = safe_close(dev->priv->reply_fd);
        msg->flags = 1 | VHOST_USER_REPLY_MASK;
        if (!msg->data && msg->size > sizeof(msg->payload))
                return -E2BIG;
        return vu_message_write_body(dev->sock, msg, msg->data ?: (void *) &msg->payload, fds, nfds);
}

static int send_reply_u64(VuDev *dev, VhostUserMsg *msg, uint64_t v) {
        msg->size = sizeof(uint64_t);
        msg->payload.u64 = v;
        return send_reply(dev, msg);
}

/*
 * A refused request the frontend waits on still gets an answer it can
 * recognise as failure: an empty payload where the reply has a body (the
 * spec's convention for GET_CONFIG, and a size any frontend rejects), a
 * non-zero u64 where the reply is a status.
 */
static int send_failure_reply(VuDev *dev, VhostUserMsg *msg, bool need_reply) {
        switch (msg->request) {
        case VHOST_USER_IOTLB_MSG:
        case VHOST_USER_POSTCOPY_END:
                return send_reply_u64(dev, msg, 1);
        case VHOST_USER_SET_LOG_BASE:
                if (vu_has_protocol_feature(dev, VHOST_USER_PROTOCOL_F_LOG_SHMFD))
                        return send_reply_u64(dev, msg, 1);
                break;
        case VHOST_USER_SET_MEM_TABLE:
        case VHOST_USER_ADD_MEM_REG:
                /*
                 * While postcopy listens, QEMU waits for the region addresses
                 * without asking (no NEED_REPLY): an empty reply is its failure.
                 */
                if (dev->postcopy_listening) {
                        msg->size = 0;
                        return send_reply(dev, msg);
                }
                break;
        default:
                if (msg->request > VHOST_USER_NONE && vu_request_has_reply((uint32_t) msg->request)) {
                        msg->size = 0;
                        return send_reply(dev, msg);
                }
        }

        /*
         * NEED_REPLY is answered whether or not REPLY_ACK was negotiated, as
         * the original library did: QEMU sets it on POSTCOPY_LISTEN either way.
         */
        if (need_reply)
                return send_reply_u64(dev, msg, 1);
        return 0;
}

static int refuse_unsupported(VuDev *dev, const VhostUserMsg *msg) {
        const char *why;

        switch (msg->request) {
        case VHOST_USER_SEND_RARP:
                why = "this device does not send RARP (RARP not offered)";
                break;
        case VHOST_USER_NET_SET_MTU:
                why = "this device takes no MTU (NET_MTU not offered)";
                break;
        case VHOST_USER_IOTLB_MSG:
                why = "no device IOTLB (IOMMU_PLATFORM is never offered)";
                break;
        case VHOST_USER_SET_VRING_ENDIAN:
                why = "legacy cross-endian rings are not supported (CROSS_ENDIAN not offered)";
                break;
        case VHOST_USER_CREATE_CRYPTO_SESSION:
        case VHOST_USER_CLOSE_CRYPTO_SESSION:
                why = "not a crypto device (CRYPTO_SESSION not offered)";
                break;
        case VHOST_USER_GPU_SET_SOCKET:
                why = "not a GPU device";
                break;
        default:
                why = "not supported";
        }
        return vu_error(dev, -EOPNOTSUPP, "%s: %s",
                        vu_request_to_string((unsigned) msg->request) + strlen("VHOST_USER_"), why);
}

/* ---- the loop ------------------------------------------------------------- */

/* A request this library has no rule for: only a device's process_msg may take it. */
static bool request_is_known(int request) {
        return request > VHOST_USER_NONE && request < VHOST_USER_MAX;
}

_public_ bool vu_dispatch(VuDev *dev) {
        struct VuDevPriv *priv;
        VhostUserMsg msg = {}, request = {};
        vu_read_msg_cb read_msg;
        bool reply = false, need_reply, device_took = false;
        char err[sizeof(((struct VuDevPriv *) NULL)->last_error)];
        int r;

        if (!dev || !dev->priv || dev->broken)
                return false;
        priv = dev->priv;

        for (size_t i = 0; i < ELEMENTSOF(msg.fds); i++)
                msg.fds[i] = -EBADF;
        read_msg = dev->read_msg ?: vu_message_read_default;
        if (!read_msg(dev, dev->sock, &msg)) {
                vu_message_close_fds(&msg);
                /* The built-in reader left its reason in last_error; a program's reader did not. */
                if (read_msg == vu_message_read_default)
                        memcpy(err, priv->last_error, sizeof(err));
                else
                        snprintf(err, sizeof(err), "the program's read_msg failed");
                vu_panic(dev, "Failed to read a message from the frontend: %s", err);
                return false;
        }
        priv->messages++;
        need_reply = msg.flags & VHOST_USER_NEED_REPLY_MASK;
        if (priv->observer)
                request = msg;

        /*
         * In postcopy, QEMU ends a batch of ADD/REM_MEM_REG with a u64 0 sent
         * under the same request: its go-ahead after our replies, not a
         * region. When the batch changed nothing, the request is left 0.
         */
        if (dev->postcopy_listening && msg.size == sizeof(uint64_t) && msg.fd_num == 0 &&
            (msg.request == VHOST_USER_ADD_MEM_REG || msg.request == VHOST_USER_REM_MEM_REG ||
             msg.request == VHOST_USER_NONE)) {
                vu_log(dev, LOG_DEBUG, "Postcopy: the frontend acknowledged the memory regions");
                r = 0;
                goto finish;
        }

        /* Known requests are held against the table before anyone, the device included, sees them. */
        if (request_is_known(msg.request)) {
                r = vu_message_check(&msg, err, sizeof(err));
                if (r < 0) {
                        vu_error(dev, r, "%s", err);
                        goto finish;
                }
        } else if ((msg.flags & VHOST_USER_VERSION_MASK) != 1) {
                r = vu_error(dev, -EPROTO, "request %d: protocol version %u, expected 1", msg.request,
                             (unsigned) (msg.flags & VHOST_USER_VERSION_MASK));
                goto finish;
        }

        if (dev->iface->process_msg) {
                int do_reply = 0;

                if (dev->iface->process_msg(dev, &msg, &do_reply)) {
                        /* As with the original library: the device owns the message's fds now. */
                        device_took = true;
                        reply = do_reply;
                        r = 0;
                        goto finish;
                }
        }

        if (!request_is_known(msg.request))
                r = vu_error(dev, -EPROTO, "unknown request %d", msg.request);
        else if (request_handlers[msg.request])
                r = request_handlers[msg.request](dev, &msg, &reply);
        else
                r = refuse_unsupported(dev, &msg);

finish:
        /* Whatever fds the handler did not take are ours to close, on every path. */
        if (!device_took)
                vu_message_close_fds(&msg);

        if (r < 0) {
                priv->messages_refused++;
                priv->reply_fd = safe_close(priv->reply_fd);
                if (send_failure_reply(dev, &msg, need_reply) < 0)
                        goto broken;
        } else if (reply) {
                if ((device_took ? send_device_reply(dev, &msg) : send_reply(dev, &msg)) < 0)
                        goto broken;
        } else {
                priv->reply_fd = safe_close(priv->reply_fd);
                /* Answered whether or not REPLY_ACK was negotiated: see send_failure_reply(). */
                if (need_reply && send_reply_u64(dev, &msg, 0) < 0)
                        goto broken;
        }
        free(msg.data);
        msg.data = NULL;

        if (priv->observer) {
                request.fd_num = 0;
                request.data = NULL;
                priv->observer(dev, &request, r, priv->observer_userdata);
        }
        return true;

broken:
        free(msg.data);
        vu_panic(dev, "%s: Failed to send the reply the frontend waits for",
                 vu_request_to_string((unsigned) msg.request));
        return false;
}

/* ---- extensions: hooks and a snapshot ---------------------------------------- */

_public_ void vu_set_log_handler(VuDev *dev, vu_log_cb cb, void *userdata) {
        if (!dev || !dev->priv)
                return;
        dev->priv->log_cb = cb;
        dev->priv->log_userdata = userdata;
}

_public_ void vu_set_message_observer(VuDev *dev, vu_message_observer_cb cb, void *userdata) {
        if (!dev || !dev->priv)
                return;
        dev->priv->observer = cb;
        dev->priv->observer_userdata = userdata;
}

_public_ const char *vu_last_error(const VuDev *dev) {
        if (!dev || !dev->priv)
                return "";
        return dev->priv->last_error;
}

_public_ void vu_get_info(const VuDev *dev, VuDevInfo *ret) {
        if (!ret)
                return;
        *ret = (VuDevInfo){};
        if (!dev)
                return;

        ret->features = dev->features;
        ret->protocol_features = dev->protocol_features;
        ret->nregions = dev->nregions;
        ret->max_queues = dev->max_queues;
        ret->broken = dev->broken;
        ret->backend_channel = dev->slave_fd >= 0;
        ret->inflight = dev->inflight_info.addr != NULL;
        ret->inflight_size = dev->inflight_info.size;
        if (dev->vq)
                for (unsigned int i = 0; i < dev->max_queues; i++)
                        if (dev->vq[i].started)
                                ret->queues_started++;
        if (dev->priv) {
                ret->status = dev->priv->status;
                ret->owner = dev->priv->owner;
                ret->messages = dev->priv->messages;
                ret->messages_refused = dev->priv->messages_refused;
        }
}
