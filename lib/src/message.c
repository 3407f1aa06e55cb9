/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vhost-user wire format and its validation, with no I/O and no device
 * state: one table says, for every request, its name, how big its payload
 * may be, how many fds it carries and whether it is always answered.
 * vu_message_check() holds a received message against that table before
 * anything acts on it, so this file can be fuzzed on its own.
 */
#include <inttypes.h>
#include <stdio.h>

#include "internal.h"

typedef enum SizeRule {
        SIZE_EXACT,     /* size == min */
        SIZE_RANGE,     /* min <= size <= max */
        SIZE_MEM_TABLE, /* 8 + nregions * 32, nregions in 1..8 */
        SIZE_CONFIG,    /* 12 + config.size, config.size <= 256 */
} SizeRule;

typedef enum IndexField {
        INDEX_NONE,
        INDEX_STATE,  /* payload.state.index */
        INDEX_ADDR,   /* payload.addr.index */
        INDEX_U64_FD, /* payload.u64 bits 0-7, bit 8 = no fd (kick/call/err) */
} IndexField;

typedef struct RequestRule {
        const char *name;
        uint8_t size_rule;
        uint16_t size_min;
        uint16_t size_max;
        uint8_t fds_min;
        uint8_t fds_max;
        uint8_t index;
        bool reply; /* answered in every case */
} RequestRule;

#define PAYLOAD_MAX ((uint16_t) sizeof(((VhostUserMsg *) NULL)->payload))
#define INFLIGHT_MIN ((uint16_t) (offsetof(VhostUserInflight, queue_size) + sizeof(uint16_t)))

#define R(req, ...) [VHOST_USER_##req] = {.name = "VHOST_USER_" #req, __VA_ARGS__}
#define EXACT(n) .size_rule = SIZE_EXACT, .size_min = (n), .size_max = (n)
#define RANGE(a, b) .size_rule = SIZE_RANGE, .size_min = (a), .size_max = (b)
#define FDS(a, b) .fds_min = (a), .fds_max = (b)

static const RequestRule request_rules[VHOST_USER_MAX] = {
        R(NONE, EXACT(0)),
        R(GET_FEATURES, EXACT(0), .reply = true),
        R(SET_FEATURES, EXACT(8)),
        R(SET_OWNER, EXACT(0)),
        R(RESET_OWNER, EXACT(0)),
        R(SET_MEM_TABLE, .size_rule = SIZE_MEM_TABLE, FDS(1, VHOST_MEMORY_BASELINE_NREGIONS)),
        /* The spec calls it u64, but every frontend sends VhostUserLog. */
        R(SET_LOG_BASE, EXACT(sizeof(VhostUserLog)), FDS(1, 1)),
        R(SET_LOG_FD, RANGE(0, 8), FDS(1, 1)),
        R(SET_VRING_NUM, EXACT(sizeof(struct vhost_vring_state)), .index = INDEX_STATE),
        R(SET_VRING_ADDR, EXACT(sizeof(struct vhost_vring_addr)), .index = INDEX_ADDR),
        R(SET_VRING_BASE, EXACT(sizeof(struct vhost_vring_state)), .index = INDEX_STATE),
        R(GET_VRING_BASE, EXACT(sizeof(struct vhost_vring_state)), .index = INDEX_STATE, .reply = true),
        R(SET_VRING_KICK, EXACT(8), FDS(0, 1), .index = INDEX_U64_FD),
        R(SET_VRING_CALL, EXACT(8), FDS(0, 1), .index = INDEX_U64_FD),
        R(SET_VRING_ERR, EXACT(8), FDS(0, 1), .index = INDEX_U64_FD),
        R(GET_PROTOCOL_FEATURES, EXACT(0), .reply = true),
        R(SET_PROTOCOL_FEATURES, EXACT(8)),
        R(GET_QUEUE_NUM, EXACT(0), .reply = true),
        R(SET_VRING_ENABLE, EXACT(sizeof(struct vhost_vring_state)), .index = INDEX_STATE),
        R(SEND_RARP, EXACT(8)),
        R(NET_SET_MTU, EXACT(8)),
        R(SET_SLAVE_REQ_FD, EXACT(0), FDS(1, 1)),
        /* Never offered (no IOMMU_PLATFORM); answered so a frontend does not wait. */
        R(IOTLB_MSG, RANGE(0, PAYLOAD_MAX), .reply = true),
        R(SET_VRING_ENDIAN, EXACT(sizeof(struct vhost_vring_state)), .index = INDEX_STATE),
        R(GET_CONFIG, .size_rule = SIZE_CONFIG, .reply = true),
        R(SET_CONFIG, .size_rule = SIZE_CONFIG),
        R(CREATE_CRYPTO_SESSION, RANGE(0, PAYLOAD_MAX), .reply = true),
        R(CLOSE_CRYPTO_SESSION, EXACT(8)),
        R(POSTCOPY_ADVISE, EXACT(0), .reply = true),
        R(POSTCOPY_LISTEN, EXACT(0)),
        R(POSTCOPY_END, EXACT(0), .reply = true),
        R(GET_INFLIGHT_FD, RANGE(INFLIGHT_MIN, sizeof(VhostUserInflight)), .reply = true),
        R(SET_INFLIGHT_FD, RANGE(INFLIGHT_MIN, sizeof(VhostUserInflight)), FDS(1, 1)),
        R(GPU_SET_SOCKET, EXACT(0), FDS(1, 1)),
        R(RESET_DEVICE, EXACT(0)),
        R(VRING_KICK, EXACT(sizeof(struct vhost_vring_state)), .index = INDEX_STATE),
        R(GET_MAX_MEM_SLOTS, EXACT(0), .reply = true),
        R(ADD_MEM_REG, EXACT(sizeof(VhostUserMemRegMsg)), FDS(1, 1)),
        /* The spec says no fd, but lets a backend take (and close) one from older frontends. */
        R(REM_MEM_REG, EXACT(sizeof(VhostUserMemRegMsg)), FDS(0, 1)),
        R(SET_STATUS, EXACT(8)),
        R(GET_STATUS, EXACT(0), .reply = true),
};

#undef R
#undef EXACT
#undef RANGE
#undef FDS

_public_ const char *vu_request_to_string(unsigned int req) {
        if (req >= VHOST_USER_MAX || !request_rules[req].name)
                return "unknown";
        return request_rules[req].name;
}

bool vu_request_has_reply(uint32_t request) {
        return request < VHOST_USER_MAX && request_rules[request].reply;
}

static const char *short_name(uint32_t request) {
        /* "SET_MEM_TABLE" reads better in an error line than the full constant. */
        return vu_request_to_string(request) + (request < VHOST_USER_MAX ? strlen("VHOST_USER_") : 0);
}

_printf_(4, 5) static int check_fail(int err, char *buf, size_t buflen, const char *fmt, ...) {
        va_list ap;

        if (buf && buflen > 0) {
                va_start(ap, fmt);
                vsnprintf(buf, buflen, fmt, ap);
                va_end(ap);
        }
        return err;
}

/* A region's fields that need no device state: non-empty, no end wraps around. */
static int check_region(const char *name, unsigned int i, const VhostUserMemoryRegion *r, char *err,
                        size_t errlen) {
        if (r->memory_size == 0)
                return check_fail(-EBADMSG, err, errlen, "%s: region %u has size 0", name, i);
        if (r->guest_phys_addr > UINT64_MAX - r->memory_size)
                return check_fail(-EBADMSG, err, errlen,
                                  "%s: region %u guest address 0x%" PRIx64 " + size 0x%" PRIx64 " overflows",
                                  name, i, r->guest_phys_addr, r->memory_size);
        if (r->userspace_addr > UINT64_MAX - r->memory_size)
                return check_fail(-EBADMSG, err, errlen,
                                  "%s: region %u user address 0x%" PRIx64 " + size 0x%" PRIx64 " overflows",
                                  name, i, r->userspace_addr, r->memory_size);
        if (r->mmap_offset > UINT64_MAX - r->memory_size)
                return check_fail(-EBADMSG, err, errlen,
                                  "%s: region %u mmap offset 0x%" PRIx64 " + size 0x%" PRIx64 " overflows",
                                  name, i, r->mmap_offset, r->memory_size);
        return 0;
}

static int check_size(const RequestRule *rule, const VhostUserMsg *msg, char *err, size_t errlen) {
        const char *name = short_name(msg->request);

        switch (rule->size_rule) {
        case SIZE_EXACT:
                if (msg->size != rule->size_min)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: payload of %" PRIu32 " bytes, expected %u", name, msg->size,
                                          rule->size_min);
                return 0;

        case SIZE_RANGE:
                if (msg->size < rule->size_min || msg->size > rule->size_max)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: payload of %" PRIu32 " bytes, expected %u..%u", name,
                                          msg->size, rule->size_min, rule->size_max);
                return 0;

        case SIZE_MEM_TABLE: {
                const VhostUserMemory mem = msg->payload.memory; /* copied: packed, unaligned */
                const VhostUserMemory *m = &mem;
                size_t want;

                if (msg->size < offsetof(VhostUserMemory, regions))
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: payload of %" PRIu32 " bytes, at least %zu", name, msg->size,
                                          offsetof(VhostUserMemory, regions));
                if (m->nregions == 0)
                        return check_fail(-EBADMSG, err, errlen, "%s: 0 regions", name);
                if (m->nregions > VHOST_MEMORY_BASELINE_NREGIONS)
                        return check_fail(-E2BIG, err, errlen, "%s: %" PRIu32 " regions, at most %u", name,
                                          m->nregions, VHOST_MEMORY_BASELINE_NREGIONS);
                want = offsetof(VhostUserMemory, regions) + m->nregions * sizeof(VhostUserMemoryRegion);
                if (msg->size != want)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: payload of %" PRIu32 " bytes for %" PRIu32
                                          " regions, expected %zu",
                                          name, msg->size, m->nregions, want);
                if ((uint32_t) msg->fd_num != m->nregions)
                        return check_fail(-EBADMSG, err, errlen, "%s: %d fds for %" PRIu32 " regions", name,
                                          msg->fd_num, m->nregions);
                for (uint32_t i = 0; i < m->nregions; i++) {
                        int r = check_region(name, i, &m->regions[i], err, errlen);
                        if (r < 0)
                                return r;
                }
                return 0;
        }

        case SIZE_CONFIG: {
                const VhostUserConfig cfg = msg->payload.config;
                const VhostUserConfig *c = &cfg;

                if (msg->size < VHOST_USER_CONFIG_HDR_SIZE)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: payload of %" PRIu32 " bytes, at least %zu", name, msg->size,
                                          (size_t) VHOST_USER_CONFIG_HDR_SIZE);
                if (c->size > VHOST_USER_MAX_CONFIG_SIZE)
                        return check_fail(-E2BIG, err, errlen, "%s: config size %" PRIu32 ", at most %u",
                                          name, c->size, VHOST_USER_MAX_CONFIG_SIZE);
                if (c->offset > VHOST_USER_MAX_CONFIG_SIZE - c->size)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: config offset %" PRIu32 " + size %" PRIu32 " beyond %u", name,
                                          c->offset, c->size, VHOST_USER_MAX_CONFIG_SIZE);
                if (msg->size != VHOST_USER_CONFIG_HDR_SIZE + c->size)
                        return check_fail(
                                -EBADMSG, err, errlen,
                                "%s: payload of %" PRIu32 " bytes for config size %" PRIu32 ", expected %zu",
                                name, msg->size, c->size, (size_t) VHOST_USER_CONFIG_HDR_SIZE + c->size);
                return 0;
        }
        }

        return check_fail(-EPROTO, err, errlen, "%s: no size rule", name);
}

static int check_index(const RequestRule *rule, const VhostUserMsg *msg, char *err, size_t errlen) {
        const char *name = short_name(msg->request);
        uint64_t idx;

        switch (rule->index) {
        case INDEX_NONE:
                return 0;
        case INDEX_STATE:
                idx = msg->payload.state.index;
                break;
        case INDEX_ADDR:
                idx = msg->payload.addr.index;
                break;
        case INDEX_U64_FD: {
                uint64_t v = msg->payload.u64;
                bool nofd = v & VHOST_USER_VRING_NOFD_MASK;

                if (v & ~(uint64_t) (VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
                        return check_fail(-EBADMSG, err, errlen, "%s: unknown bits in 0x%" PRIx64, name, v);
                if (nofd && msg->fd_num != 0)
                        return check_fail(-EBADMSG, err, errlen, "%s: %d fds with the no-fd flag set", name,
                                          msg->fd_num);
                if (!nofd && msg->fd_num != 1)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: %d fds without the no-fd flag, expected 1", name,
                                          msg->fd_num);
                return 0;
        }
        default:
                return 0;
        }

        if (idx > VHOST_USER_VRING_IDX_MASK)
                return check_fail(-EBADMSG, err, errlen, "%s: queue index %" PRIu64 ", at most %u", name,
                                  idx, VHOST_USER_VRING_IDX_MASK);
        return 0;
}

static int check_inflight_geometry(const char *name, const VhostUserInflight *in, char *err, size_t errlen) {
        if (in->num_queues == 0 || in->num_queues > VU_MAX_QUEUES)
                return check_fail(-EBADMSG, err, errlen, "%s: %u queues, expected 1..%u", name,
                                  in->num_queues, VU_MAX_QUEUES);
        if (in->queue_size == 0 || in->queue_size > VIRTQUEUE_MAX_SIZE)
                return check_fail(-EBADMSG, err, errlen, "%s: queue size %u, expected 1..%u", name,
                                  in->queue_size, VIRTQUEUE_MAX_SIZE);
        return 0;
}

/* Fields beyond size, fds and indexes that can be judged without the device. */
static int check_fields(const VhostUserMsg *msg, char *err, size_t errlen) {
        const char *name = short_name(msg->request);

        switch (msg->request) {
        case VHOST_USER_ADD_MEM_REG:
        case VHOST_USER_REM_MEM_REG: {
                const VhostUserMemoryRegion reg = msg->payload.memreg.region;
                return check_region(name, 0, &reg, err, errlen);
        }

        case VHOST_USER_SET_LOG_BASE: {
                const VhostUserLog log = msg->payload.log;
                const VhostUserLog *l = &log;

                if (l->mmap_size == 0)
                        return check_fail(-EBADMSG, err, errlen, "%s: log size 0", name);
                if (l->mmap_size > VU_MAX_LOG_SIZE)
                        return check_fail(-E2BIG, err, errlen, "%s: log size %" PRIu64 ", at most %" PRIu64,
                                          name, l->mmap_size, VU_MAX_LOG_SIZE);
                if (l->mmap_offset > UINT64_MAX - l->mmap_size)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: log offset 0x%" PRIx64 " + size 0x%" PRIx64 " overflows",
                                          name, l->mmap_offset, l->mmap_size);
                return 0;
        }

        case VHOST_USER_SET_INFLIGHT_FD: {
                const VhostUserInflight inf = msg->payload.inflight;
                const VhostUserInflight *in = &inf;

                if (in->mmap_size == 0)
                        return check_fail(-EBADMSG, err, errlen, "%s: size 0", name);
                if (in->mmap_size > VU_MAX_INFLIGHT_SIZE)
                        return check_fail(-E2BIG, err, errlen, "%s: size %" PRIu64 ", at most %" PRIu64,
                                          name, in->mmap_size, VU_MAX_INFLIGHT_SIZE);
                if (in->mmap_offset > UINT64_MAX - in->mmap_size)
                        return check_fail(-EBADMSG, err, errlen,
                                          "%s: offset 0x%" PRIx64 " + size 0x%" PRIx64 " overflows", name,
                                          in->mmap_offset, in->mmap_size);
                return check_inflight_geometry(name, in, err, errlen);
        }

        case VHOST_USER_GET_INFLIGHT_FD: {
                const VhostUserInflight inf = msg->payload.inflight;
                return check_inflight_geometry(name, &inf, err, errlen);
        }

        case VHOST_USER_SET_VRING_ENABLE:
                if (msg->payload.state.num > 1)
                        return check_fail(-EBADMSG, err, errlen, "%s: queue %u state %u, expected 0 or 1",
                                          name, msg->payload.state.index, msg->payload.state.num);
                return 0;

        case VHOST_USER_SET_CONFIG:
                if (msg->payload.config.flags > VHOST_SET_CONFIG_TYPE_MIGRATION)
                        return check_fail(-EBADMSG, err, errlen, "%s: flags %" PRIu32 ", expected 0 or 1",
                                          name, msg->payload.config.flags);
                return 0;

        default:
                return 0;
        }
}

int vu_message_check(const VhostUserMsg *msg, char *err, size_t errlen) {
        const RequestRule *rule;
        uint32_t version;
        int r;

        if (err && errlen > 0)
                err[0] = '\0';
        if (!msg)
                return check_fail(-EINVAL, err, errlen, "no message");

        if (msg->request <= VHOST_USER_NONE || msg->request >= VHOST_USER_MAX)
                return check_fail(-EPROTO, err, errlen, "unknown request %d", msg->request);
        rule = &request_rules[msg->request];

        version = msg->flags & VHOST_USER_VERSION_MASK;
        if (version != 1)
                return check_fail(-EPROTO, err, errlen, "%s: protocol version %" PRIu32 ", expected 1",
                                  short_name(msg->request), version);
        if (msg->flags & VHOST_USER_REPLY_MASK)
                return check_fail(-EPROTO, err, errlen,
                                  "%s: reply flag set on a request (flags 0x%" PRIx32 ")",
                                  short_name(msg->request), msg->flags);

        if (msg->size > PAYLOAD_MAX)
                return check_fail(-E2BIG, err, errlen, "%s: payload of %" PRIu32 " bytes, at most %u",
                                  short_name(msg->request), msg->size, PAYLOAD_MAX);

        if (msg->fd_num < 0 || msg->fd_num > VHOST_MEMORY_BASELINE_NREGIONS)
                return check_fail(-EBADMSG, err, errlen, "%s: %d fds, at most %u", short_name(msg->request),
                                  msg->fd_num, VHOST_MEMORY_BASELINE_NREGIONS);

        /* Size first: "9 regions, at most 8" says more than the fd count that follows from it. */
        r = check_size(rule, msg, err, errlen);
        if (r < 0)
                return r;

        if (msg->fd_num < rule->fds_min || msg->fd_num > rule->fds_max)
                return check_fail(-EBADMSG, err, errlen, "%s: %d fds, expected %u..%u",
                                  short_name(msg->request), msg->fd_num, rule->fds_min, rule->fds_max);

        r = check_index(rule, msg, err, errlen);
        if (r < 0)
                return r;

        return check_fields(msg, err, errlen);
}
