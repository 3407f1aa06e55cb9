/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.vusidecar.DumpQueue: a queue's rings as the guest wrote them — the
 * descriptor table (indirect tables followed one level, as the virtio spec
 * allows), the avail ring and the used ring, flags decoded. A packed ring has
 * one descriptor ring and two event suppression areas instead: each slot says
 * whether the device may take it in its current lap, which only the wrap
 * counters we hold can tell. Guest memory is
 * read only through vu_guest_read(), which copies and range-checks, so a
 * ring pointing anywhere yields an error in the reply, never a crash. Ring
 * layouts are little-endian as virtio 1.x defines them.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "control-methods.h"
#include "libvhost-user-ext.h"
#include "vusidecar-protocol.h"

#define DUMP_COUNT_DEFAULT 16
#define DUMP_COUNT_MAX 1024
#define DUMP_INDIRECT_MAX 1024 /* entries shown of one indirect table */

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4
#define PACKED_DESC_F_AVAIL (1 << 7)
#define PACKED_DESC_F_USED (1 << 15)
#define AVAIL_F_NO_INTERRUPT 1
#define USED_F_NO_NOTIFY 1
#define PACKED_EVENT_F_WRAP (1 << 15)

/* How a 16-byte descriptor is laid out and which of its fields mean something. */
typedef enum DescKind {
        DESC_SPLIT,
        DESC_PACKED_RING,     /* a slot of the packed ring: id, AVAIL/USED and a lap state */
        DESC_PACKED_INDIRECT, /* an entry of a packed indirect table: only addr, len, WRITE count */
} DescKind;

/* What the device knows of a packed ring: where it reads next, and in which lap. */
typedef struct PackedLap {
        uint16_t last_avail_idx;
        bool avail_wrap_counter;
} PackedLap;

typedef struct RawDesc { /* split: addr, len, flags, next; packed: addr, len, id, flags */
        uint64_t addr;
        uint32_t len;
        uint16_t a;
        uint16_t b;
} __attribute__((packed)) RawDesc;

static json_object *flag_names(uint16_t flags, bool packed) {
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        if (flags & DESC_F_NEXT)
                json_object_array_add(a, json_object_new_string("NEXT"));
        if (flags & DESC_F_WRITE)
                json_object_array_add(a, json_object_new_string("WRITE"));
        if (flags & DESC_F_INDIRECT)
                json_object_array_add(a, json_object_new_string("INDIRECT"));
        if (packed && (flags & PACKED_DESC_F_AVAIL))
                json_object_array_add(a, json_object_new_string("AVAIL"));
        if (packed && (flags & PACKED_DESC_F_USED))
                json_object_array_add(a, json_object_new_string("USED"));
        return a;
}

/*
 * A packed slot's state as the device sees it. Slots before last_avail_idx
 * were read in this lap, so the next time the device reaches them is the
 * next lap, with the wrap counter flipped. "used": AVAIL == USED, the driver
 * owns the slot. "taken": marked available for a lap the device has already
 * read past, so in flight or a later descriptor of a chain since returned.
 */
static const char *packed_slot_state(unsigned slot, uint16_t flags, const PackedLap *lap,
                                     bool *ret_available) {
        bool wrap = slot >= lap->last_avail_idx ? lap->avail_wrap_counter : !lap->avail_wrap_counter;
        bool avail = flags & PACKED_DESC_F_AVAIL, used = flags & PACKED_DESC_F_USED;

        *ret_available = avail == wrap && used != wrap;
        if (*ret_available)
                return "available";
        return avail == used ? "used" : "taken";
}

static json_object *desc_json(unsigned index, const RawDesc *raw, DescKind kind, const PackedLap *lap) {
        json_object *o = json_object_new_object();
        bool packed = kind != DESC_SPLIT;
        uint16_t flags = packed ? le16toh(raw->b) : le16toh(raw->a);

        if (!o)
                return NULL;
        json_add_u64(o, VL_FIELD_INDEX, index);
        json_add_u64(o, VL_FIELD_ADDR, le64toh(raw->addr));
        json_add_u64(o, VL_FIELD_LEN, le32toh(raw->len));
        json_add_u64(o, VL_FIELD_FLAGS, flags);
        json_object_object_add(o, VL_FIELD_FLAG_NAMES, flag_names(flags, packed));
        if (kind == DESC_PACKED_RING) {
                bool available;
                const char *state = packed_slot_state(index, flags, lap, &available);

                json_add_u64(o, VL_FIELD_BUFFER_ID, le16toh(raw->a));
                json_add_bool(o, VL_FIELD_AVAILABLE, available);
                json_add_str(o, VL_FIELD_STATE, state);
        } else if (kind == DESC_SPLIT && (flags & DESC_F_NEXT))
                json_add_u64(o, VL_FIELD_NEXT, le16toh(raw->b));
        return o;
}

/* Read the indirect table a descriptor points at into the descriptor's JSON. */
static void add_indirect(VuDev *dev, json_object *o, const RawDesc *raw, bool packed) {
        /* A packed indirect table holds packed descriptors, but their id and AVAIL/USED mean nothing. */
        DescKind kind = packed ? DESC_PACKED_INDIRECT : DESC_SPLIT;
        uint64_t addr = le64toh(raw->addr);
        uint32_t len = le32toh(raw->len);
        json_object *table;
        unsigned n;

        if (len == 0 || len % sizeof(RawDesc) != 0) {
                json_add_str(o, VL_FIELD_INDIRECT_ERROR, "length is not a non-zero multiple of 16 bytes");
                return;
        }
        n = len / sizeof(RawDesc);
        if (n > DUMP_INDIRECT_MAX)
                n = DUMP_INDIRECT_MAX;
        table = json_object_new_array();
        if (!table)
                return;
        for (unsigned i = 0; i < n; i++) {
                RawDesc d;

                if (vu_guest_read(dev, addr + (uint64_t) i * sizeof(d), &d, sizeof(d)) < 0) {
                        json_object_put(table);
                        json_add_str(o, VL_FIELD_INDIRECT_ERROR, "the table is not in guest memory");
                        return;
                }
                json_object_array_add(table, desc_json(i, &d, kind, NULL));
        }
        json_object_object_add(o, VL_FIELD_INDIRECT, table);
}

static int reply_not_ready(ControlClient *c, Device *d, unsigned queue) {
        json_object *p = json_object_new_object();

        if (p) {
                json_add_str(p, VL_FIELD_DEVICE, d->id);
                json_add_u64(p, VL_FIELD_QUEUE, queue);
        }
        return control_client_error(c, VL_ERROR_QUEUE_NOT_READY, p);
}

static json_object *read_u16(VuDev *dev, uint64_t gpa) {
        uint16_t v;

        if (vu_guest_read(dev, gpa, &v, sizeof(v)) < 0)
                return NULL;
        return json_object_new_uint64(le16toh(v));
}

static json_object *avail_json(VuDev *dev, const VuQueueInfo *qi, uint64_t gpa, unsigned from,
                               unsigned count) {
        json_object *o = json_object_new_object(), *ring = json_object_new_array();
        uint16_t hdr[2];

        if (!o || !ring || vu_guest_read(dev, gpa, hdr, sizeof(hdr)) < 0) {
                json_object_put(o);
                json_object_put(ring);
                return NULL;
        }
        json_add_u64(o, VL_FIELD_FLAGS, le16toh(hdr[0]));
        {
                json_object *names = json_object_new_array();

                if (names && (le16toh(hdr[0]) & AVAIL_F_NO_INTERRUPT))
                        json_object_array_add(names, json_object_new_string("NO_INTERRUPT"));
                json_object_object_add(o, VL_FIELD_FLAG_NAMES, names);
        }
        json_add_u64(o, VL_FIELD_IDX, le16toh(hdr[1]));
        for (unsigned slot = from; slot < from + count; slot++) {
                json_object *e = json_object_new_object(),
                            *head = read_u16(dev, gpa + 4 + 2 * (uint64_t) slot);

                if (!e || !head) {
                        json_object_put(e);
                        json_object_put(head);
                        break;
                }
                json_add_u64(e, VL_FIELD_SLOT, slot);
                json_object_object_add(e, VL_FIELD_HEAD, head);
                json_object_array_add(ring, e);
        }
        json_object_object_add(o, VL_FIELD_RING, ring);
        json_object_object_add(o, VL_FIELD_USED_EVENT,
                               qi->event_idx ? read_u16(dev, gpa + 4 + 2 * (uint64_t) qi->size) : NULL);
        return o;
}

static json_object *used_json(VuDev *dev, const VuQueueInfo *qi, uint64_t gpa, unsigned from,
                              unsigned count) {
        json_object *o = json_object_new_object(), *ring = json_object_new_array();
        uint16_t hdr[2];

        if (!o || !ring || vu_guest_read(dev, gpa, hdr, sizeof(hdr)) < 0) {
                json_object_put(o);
                json_object_put(ring);
                return NULL;
        }
        json_add_u64(o, VL_FIELD_FLAGS, le16toh(hdr[0]));
        {
                json_object *names = json_object_new_array();

                if (names && (le16toh(hdr[0]) & USED_F_NO_NOTIFY))
                        json_object_array_add(names, json_object_new_string("NO_NOTIFY"));
                json_object_object_add(o, VL_FIELD_FLAG_NAMES, names);
        }
        json_add_u64(o, VL_FIELD_IDX, le16toh(hdr[1]));
        for (unsigned slot = from; slot < from + count; slot++) {
                uint32_t elem[2];
                json_object *e;

                if (vu_guest_read(dev, gpa + 4 + 8 * (uint64_t) slot, elem, sizeof(elem)) < 0)
                        break;
                e = json_object_new_object();
                if (!e)
                        break;
                json_add_u64(e, VL_FIELD_SLOT, slot);
                json_add_u64(e, "id", le32toh(elem[0]));
                json_add_u64(e, VL_FIELD_LEN, le32toh(elem[1]));
                json_object_array_add(ring, e);
        }
        json_object_object_add(o, VL_FIELD_RING, ring);
        json_object_object_add(o, VL_FIELD_AVAIL_EVENT,
                               qi->event_idx ? read_u16(dev, gpa + 4 + 8 * (uint64_t) qi->size) : NULL);
        return o;
}

static const char *event_mode_name(uint16_t flags) {
        switch (flags & 3) {
        case 0:
                return "ENABLE";
        case 1:
                return "DISABLE";
        case 2:
                return "DESC";
        default:
                return "reserved";
        }
}

/*
 * A packed ring's event suppression area: {off_wrap, flags}, both le16. The
 * same object serves GetQueues, from the values the library snapshot holds.
 */
json_object *control_event_area_json(uint16_t flags, uint16_t off_wrap) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_add_u64(o, VL_FIELD_FLAGS, flags);
        json_add_str(o, VL_FIELD_MODE, event_mode_name(flags));
        json_add_u64(o, VL_FIELD_OFF_WRAP, off_wrap);
        json_add_u64(o, VL_FIELD_OFFSET, off_wrap & ~PACKED_EVENT_F_WRAP);
        json_add_bool(o, VL_FIELD_WRAP, off_wrap & PACKED_EVENT_F_WRAP);
        return o;
}

static json_object *event_area_read(VuDev *dev, uint64_t gpa) {
        uint16_t area[2];

        if (vu_guest_read(dev, gpa, area, sizeof(area)) < 0)
                return NULL;
        return control_event_area_json(le16toh(area[1]), le16toh(area[0]));
}

int method_dump_queue(ControlClient *c, json_object *params, unsigned flags, void *userdata) {
        static const char *const known[] = {VL_PARAM_DEVICE, VL_PARAM_QUEUE, VL_PARAM_FROM, VL_PARAM_COUNT,
                                            NULL};
        Sidecar *s = userdata;
        int64_t queue = 0, from = 0, count = DUMP_COUNT_DEFAULT;
        uint64_t desc_gpa, avail_gpa, used_gpa;
        json_object *p, *descs;
        uint64_t max_queues;
        PackedLap lap;
        VuQueueInfo qi;
        VuDevInfo info;
        Device *d;
        int r;

        if (!control_check_params(c, params, known))
                return 0;
        r = varlink_param_int64(params, VL_PARAM_QUEUE, true, 0, 1023, &queue);
        if (r < 0)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_QUEUE, "%s", r == -ENOENT ? "missing" : "must be a queue index 0…1023");
        if (varlink_param_int64(params, VL_PARAM_FROM, false, 0, 65535, &from) < 0)
                return control_client_error_invalid_parameter(c, VL_PARAM_FROM, "must be an index 0…65535");
        if (varlink_param_int64(params, VL_PARAM_COUNT, false, 1, DUMP_COUNT_MAX, &count) < 0)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_COUNT, "must be a number of descriptors from 1 to %d", DUMP_COUNT_MAX);
        if (!control_resolve_device(c, s, params, false, &d))
                return 0;

        /* The device's queue count is known before any frontend comes (it is what vu_init() gets):
         * a queue it will never have is NoSuchQueue, not "not set up yet". */
        max_queues = d->queues;
        if (d->vu_ready) {
                vu_get_info(&d->vu, &info);
                max_queues = info.max_queues;
        }
        if ((uint64_t) queue >= max_queues) {
                p = json_object_new_object();
                if (p) {
                        json_add_str(p, VL_FIELD_DEVICE, d->id);
                        json_add_u64(p, VL_FIELD_QUEUE, (uint64_t) queue);
                        json_add_u64(p, VL_FIELD_QUEUES, max_queues);
                }
                return control_client_error(c, VL_ERROR_NO_SUCH_QUEUE, p);
        }
        if (!d->vu_ready)
                return reply_not_ready(c, d, (unsigned) queue);
        if (vu_queue_get_info(&d->vu, (int) queue, &qi) < 0 || !qi.ready || qi.size == 0 ||
            vu_queue_get_ring_gpas(&d->vu, (int) queue, &desc_gpa, &avail_gpa, &used_gpa) < 0)
                return reply_not_ready(c, d, (unsigned) queue);

        /* A window that starts past the ring shows nothing: say so rather than print an empty dump.
         * One that runs past the end is clipped (the default count is wider than small rings). */
        if (from >= qi.size)
                return control_client_error_invalid_parameter(
                        c, VL_PARAM_FROM,
                        "%" PRIi64 " is past the end of %s queue %" PRIi64 ": its ring has %u descriptors, "
                        "so from must be 0…%u",
                        from, d->id, queue, qi.size, qi.size - 1);
        if (from + count > qi.size)
                count = qi.size - from;

        lap = (PackedLap){.last_avail_idx = qi.last_avail_idx, .avail_wrap_counter = qi.avail_wrap_counter};

        p = json_object_new_object();
        descs = json_object_new_array();
        if (!p || !descs) {
                json_object_put(p);
                json_object_put(descs);
                return -ENOMEM;
        }
        json_add_str(p, VL_FIELD_DEVICE, d->id);
        json_add_u64(p, VL_FIELD_QUEUE, (uint64_t) queue);
        json_add_u64(p, VL_FIELD_SIZE, qi.size);
        json_add_bool(p, VL_FIELD_PACKED, qi.packed);
        json_add_u64(p, VL_FIELD_DESC_GPA, desc_gpa);
        json_add_u64(p, VL_FIELD_AVAIL_GPA, avail_gpa);
        json_add_u64(p, VL_FIELD_USED_GPA, used_gpa);
        json_add_u64(p, VL_FIELD_FROM, (uint64_t) from);
        json_add_u64(p, VL_FIELD_COUNT, (uint64_t) count);
        json_add_u64(p, VL_FIELD_LAST_AVAIL_IDX, qi.last_avail_idx);
        json_add_u64(p, VL_FIELD_USED_IDX, qi.used_idx);
        if (qi.packed) {
                json_add_bool(p, VL_FIELD_AVAIL_WRAP_COUNTER, qi.avail_wrap_counter);
                json_add_bool(p, VL_FIELD_USED_WRAP_COUNTER, qi.used_wrap_counter);
        }

        for (int64_t i = from; i < from + count; i++) {
                json_object *o;
                RawDesc raw;

                if (vu_guest_read(&d->vu, desc_gpa + (uint64_t) i * sizeof(raw), &raw, sizeof(raw)) < 0) {
                        json_object_put(descs);
                        json_object_put(p);
                        return control_client_error_errno(c, EFAULT,
                                                          "%s queue %" PRIi64 ": descriptor %" PRIi64
                                                          " is not in guest memory",
                                                          d->id, queue, i);
                }
                o = desc_json((unsigned) i, &raw, qi.packed ? DESC_PACKED_RING : DESC_SPLIT, &lap);
                if (o && ((qi.packed ? le16toh(raw.b) : le16toh(raw.a)) & DESC_F_INDIRECT))
                        add_indirect(&d->vu, o, &raw, qi.packed);
                json_object_array_add(descs, o);
        }
        json_object_object_add(p, VL_FIELD_DESCRIPTORS, descs);

        if (qi.packed) {
                /* No avail/used rings: the "avail" and "used" addresses are the event areas. */
                json_object_object_add(p, VL_FIELD_AVAIL, NULL);
                json_object_object_add(p, VL_FIELD_USED, NULL);
                json_object_object_add(p, VL_FIELD_DRIVER_EVENT, event_area_read(&d->vu, avail_gpa));
                json_object_object_add(p, VL_FIELD_DEVICE_EVENT, event_area_read(&d->vu, used_gpa));
        } else {
                json_object_object_add(
                        p, VL_FIELD_AVAIL,
                        avail_json(&d->vu, &qi, avail_gpa, (unsigned) from, (unsigned) count));
                json_object_object_add(p, VL_FIELD_USED,
                                       used_json(&d->vu, &qi, used_gpa, (unsigned) from, (unsigned) count));
        }
        return control_client_reply(c, p);
}
