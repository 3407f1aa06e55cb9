/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The names of the io.vusidecar varlink interface: methods, parameters,
 * reply fields and errors, shared by vu-sidecar (which answers) and vuctl
 * (which asks) so a renamed field breaks the build, not a user's script.
 * The interface description (varlink IDL) that documents their types is
 * vusidecar_interface_description; man/vu-sidecar-control.7 explains them.
 *
 * Counters name their direction: guest_to_backend_* is what the driver
 * made available for the device to read, backend_to_guest_* is what the
 * device gave back in the used ring.
 */
#pragma once

#define VL_INTERFACE "io.vusidecar"
#define VL_VENDOR "vusidecar"
#define VL_PRODUCT "vu-sidecar"
#define VL_URL "man:vu-sidecar-control(7)"

/* ---- methods ----------------------------------------------------------- */
#define VL_METHOD_PING VL_INTERFACE ".Ping"
#define VL_METHOD_GET_STATUS VL_INTERFACE ".GetStatus"
#define VL_METHOD_GET_STATS VL_INTERFACE ".GetStats"
#define VL_METHOD_GET_QUEUES VL_INTERFACE ".GetQueues"
#define VL_METHOD_DUMP_QUEUE VL_INTERFACE ".DumpQueue"
#define VL_METHOD_GET_LOG VL_INTERFACE ".GetLog"
#define VL_METHOD_SET_LOG_LEVEL VL_INTERFACE ".SetLogLevel"
#define VL_METHOD_SET_READ_ONLY VL_INTERFACE ".SetReadOnly"
#define VL_METHOD_SET_LIMITS VL_INTERFACE ".SetLimits"
#define VL_METHOD_SET_POLLING VL_INTERFACE ".SetPolling"
#define VL_METHOD_SET_LINK VL_INTERFACE ".SetLink"
#define VL_METHOD_RESIZE VL_INTERFACE ".Resize"
#define VL_METHOD_RESET_STATS VL_INTERFACE ".ResetStats"
#define VL_METHOD_MONITOR VL_INTERFACE ".Monitor"

/* ---- errors ------------------------------------------------------------ */
#define VL_ERROR_NO_SUCH_DEVICE VL_INTERFACE ".NoSuchDevice"       /* (device, devices) */
#define VL_ERROR_DEVICE_REQUIRED VL_INTERFACE ".DeviceRequired"    /* (devices) */
#define VL_ERROR_NO_SUCH_QUEUE VL_INTERFACE ".NoSuchQueue"         /* (device, queue, queues) */
#define VL_ERROR_QUEUE_NOT_READY VL_INTERFACE ".QueueNotReady"     /* (device, queue) */
#define VL_ERROR_NOT_SUPPORTED VL_INTERFACE ".NotSupported"        /* (device, what) */
#define VL_ERROR_FAILED VL_INTERFACE ".Failed"                     /* (message, errno) */
#define VL_ERROR_INVALID_MESSAGE VL_INTERFACE ".InvalidMessage"    /* (reason, offset?) */
#define VL_ERROR_MESSAGE_TOO_LARGE VL_INTERFACE ".MessageTooLarge" /* (max) */
#define VL_ERROR_TOO_MANY_CLIENTS VL_INTERFACE ".TooManyClients"   /* (max) */
/* (parameter, reason): ours, so the reply may say why; org.varlink.service's has "parameter" only. */
#define VL_ERROR_INVALID_PARAMETER VL_INTERFACE ".InvalidParameter"
#define VL_ERROR_SHRINK_REFUSED VL_INTERFACE ".ShrinkRefused"    /* (device, size, current_size) */
#define VL_ERROR_DEVICE_READ_ONLY VL_INTERFACE ".DeviceReadOnly" /* (device) */

/* ---- parameters -------------------------------------------------------- */
#define VL_PARAM_DEVICE "device"       /* string: device id; optional with one device */
#define VL_PARAM_QUEUE "queue"         /* DumpQueue: queue index */
#define VL_PARAM_FROM "from"           /* DumpQueue: first descriptor/ring slot */
#define VL_PARAM_COUNT "count"         /* DumpQueue: how many */
#define VL_PARAM_LEVEL "level"         /* SetLogLevel */
#define VL_PARAM_READ_ONLY "read_only" /* SetReadOnly */
#define VL_PARAM_IOPS "iops"           /* SetLimits: 0 = unlimited */
#define VL_PARAM_BPS "bps"             /* SetLimits: 0 = unlimited */
#define VL_PARAM_POLL_USEC "poll_usec" /* SetPolling: 0 = off */
#define VL_PARAM_UP "up"                 /* SetLink: the net link state */
#define VL_PARAM_SIZE "size"           /* Resize: bytes */
#define VL_PARAM_SHRINK "shrink"       /* Resize: allow a size below the current one */

/* Error parameters */
#define VL_PARAM_PARAMETER "parameter" /* InvalidParameter: which one */
#define VL_PARAM_REASON "reason"
#define VL_PARAM_MESSAGE "message"
#define VL_PARAM_ERRNO "errno"
#define VL_PARAM_WHAT "what"
#define VL_PARAM_DEVICES "devices"
#define VL_PARAM_QUEUES "queues"
#define VL_PARAM_MAX "max"
#define VL_PARAM_OFFSET "offset"
#define VL_PARAM_METHOD "method"
#define VL_PARAM_UID "uid"
#define VL_PARAM_CURRENT_SIZE "current_size" /* ShrinkRefused */

/* ---- reply fields ------------------------------------------------------ */
/* GetStatus / Ping */
#define VL_FIELD_VERSION "version"
#define VL_FIELD_PID "pid"
#define VL_FIELD_UID "uid"
#define VL_FIELD_GID "gid"
#define VL_FIELD_UPTIME_USEC "uptime_usec"
#define VL_FIELD_STARTED_REALTIME_USEC "started_realtime_usec"
#define VL_FIELD_LOG_LEVEL "log_level"
#define VL_FIELD_IO_ENGINE "io_engine"
#define VL_FIELD_CONTROL_SOCKET "control_socket"
#define VL_FIELD_DEVICES "devices"
#define VL_FIELD_ID "id"
#define VL_FIELD_TYPE "type"
#define VL_FIELD_SOCKET "socket"
#define VL_FIELD_SOCKET_MODE "socket_mode" /* "server", "client", "activated" */
#define VL_FIELD_CONNECTED "connected"
#define VL_FIELD_PEER "peer" /* {pid, uid, gid} or null */
#define VL_FIELD_FEATURES "features"
#define VL_FIELD_FEATURE_NAMES "feature_names"
#define VL_FIELD_PROTOCOL_FEATURES "protocol_features"
#define VL_FIELD_PROTOCOL_FEATURE_NAMES "protocol_feature_names"
#define VL_FIELD_DEVICE_STATUS "device_status"
#define VL_FIELD_DEVICE_STATUS_NAMES "device_status_names"
#define VL_FIELD_QUEUES_MAX "queues_max"
#define VL_FIELD_QUEUES_STARTED "queues_started"
#define VL_FIELD_REGIONS "regions"
#define VL_FIELD_GPA "gpa"
#define VL_FIELD_SIZE "size"
#define VL_FIELD_QVA "qva"
#define VL_FIELD_MMAP_OFFSET "mmap_offset"
#define VL_FIELD_MESSAGES "messages"
#define VL_FIELD_MESSAGES_REFUSED "messages_refused"
#define VL_FIELD_BROKEN "broken"
#define VL_FIELD_BACKEND_CHANNEL "backend_channel"
#define VL_FIELD_INFLIGHT_BUFFER "inflight_buffer"
#define VL_FIELD_LAST_ERROR "last_error"
#define VL_FIELD_POLL_USEC "poll_usec"
#define VL_FIELD_NET "net" /* GetStatus config / GetStats: the net device's own counters */
#define VL_FIELD_CONFIG "config" /* device-specific settings, an object */

/* GetStats */
#define VL_FIELD_TIMESTAMP_USEC "timestamp_usec" /* CLOCK_MONOTONIC, for rates */
#define VL_FIELD_TOTALS "totals"
#define VL_FIELD_QUEUES "queues"
#define VL_FIELD_INDEX "index"
#define VL_FIELD_KICKS "kicks"
#define VL_FIELD_G2B_CHAINS "guest_to_backend_chains"
#define VL_FIELD_B2G_CHAINS "backend_to_guest_chains"
#define VL_FIELD_G2B_BYTES "guest_to_backend_bytes"
#define VL_FIELD_B2G_BYTES "backend_to_guest_bytes"
#define VL_FIELD_CALLS_SENT "calls_sent"
#define VL_FIELD_CALLS_SUPPRESSED "calls_suppressed"
#define VL_FIELD_MALFORMED_CHAINS "malformed_chains"
#define VL_FIELD_RESUBMITTED_CHAINS "resubmitted_chains"
#define VL_FIELD_DEVICE_COUNTERS "device_counters" /* device-specific counters, an object of ints */

/* GetQueues (one object per queue; every VuQueueInfo field) */
#define VL_FIELD_ENABLED "enabled"
#define VL_FIELD_STARTED "started"
#define VL_FIELD_READY "ready"
#define VL_FIELD_PACKED "packed"
#define VL_FIELD_EVENT_IDX "event_idx"
#define VL_FIELD_KICK_FD "kick_fd"
#define VL_FIELD_CALL_FD "call_fd"
#define VL_FIELD_ERR_FD "err_fd"
#define VL_FIELD_LOGGING "logging"
#define VL_FIELD_LAST_AVAIL_IDX "last_avail_idx"
#define VL_FIELD_SHADOW_AVAIL_IDX "shadow_avail_idx"
#define VL_FIELD_USED_IDX "used_idx"
#define VL_FIELD_SIGNALLED_USED "signalled_used"
#define VL_FIELD_SIGNALLED_USED_VALID "signalled_used_valid"
#define VL_FIELD_INUSE "in_use"
#define VL_FIELD_INFLIGHT "inflight"
#define VL_FIELD_RESUBMIT_PENDING "resubmit_pending"
#define VL_FIELD_AVAIL_IDX "avail_idx"
#define VL_FIELD_AVAIL_FLAGS "avail_flags"
#define VL_FIELD_RING_USED_IDX "ring_used_idx"
#define VL_FIELD_USED_FLAGS "used_flags"
#define VL_FIELD_USED_EVENT "used_event"
#define VL_FIELD_AVAIL_EVENT "avail_event"
#define VL_FIELD_AVAIL_WRAP_COUNTER "avail_wrap_counter"
#define VL_FIELD_USED_WRAP_COUNTER "used_wrap_counter"
#define VL_FIELD_DESC_USER_ADDR "desc_user_addr"
#define VL_FIELD_AVAIL_USER_ADDR "avail_user_addr"
#define VL_FIELD_USED_USER_ADDR "used_user_addr"
#define VL_FIELD_LOG_GUEST_ADDR "log_guest_addr"
#define VL_FIELD_DRIVER_EVENT "driver_event" /* packed: EventArea the driver writes, or null */
#define VL_FIELD_DEVICE_EVENT "device_event" /* packed: EventArea we write, or null */
#define VL_FIELD_OFF_WRAP "off_wrap"         /* EventArea: the raw 16-bit off_wrap word */
#define VL_FIELD_OFFSET "offset"             /* EventArea: off_wrap bits 0..14, a ring slot */
#define VL_FIELD_WRAP "wrap"                 /* EventArea: off_wrap bit 15 */
#define VL_FIELD_MODE "mode"                 /* EventArea: "ENABLE", "DISABLE", "DESC", "reserved" */

/* DumpQueue */
#define VL_FIELD_DEVICE "device"
#define VL_FIELD_QUEUE "queue"
#define VL_FIELD_DESC_GPA "desc_gpa"
#define VL_FIELD_AVAIL_GPA "avail_gpa"
#define VL_FIELD_USED_GPA "used_gpa"
#define VL_FIELD_FROM "from"
#define VL_FIELD_COUNT "count"
#define VL_FIELD_DESCRIPTORS "descriptors"
#define VL_FIELD_ADDR "addr"
#define VL_FIELD_LEN "len"
#define VL_FIELD_FLAGS "flags"
#define VL_FIELD_FLAG_NAMES "flag_names"
#define VL_FIELD_NEXT "next"
#define VL_FIELD_INDIRECT "indirect"             /* array of descriptors, or null */
#define VL_FIELD_INDIRECT_ERROR "indirect_error" /* why the indirect table could not be read */
#define VL_FIELD_BUFFER_ID "buffer_id"           /* packed: the descriptor's id */
#define VL_FIELD_AVAILABLE "available" /* packed ring slot: the device may take it in its current lap */
#define VL_FIELD_STATE "state"         /* packed ring slot: "available", "used" or "taken" */
#define VL_FIELD_AVAIL "avail" /* {flags, flag_names, idx, ring: [{slot, head}], used_event} */
#define VL_FIELD_USED "used"   /* {flags, flag_names, idx, ring: [{slot, id, len}], avail_event} */
#define VL_FIELD_IDX "idx"
#define VL_FIELD_RING "ring"
#define VL_FIELD_SLOT "slot"
#define VL_FIELD_HEAD "head"

/* GetLog */
#define VL_FIELD_ACTIVE "active"
#define VL_FIELD_LOG_ALL "log_all"
#define VL_FIELD_LOG_SIZE "log_size_bytes"
#define VL_FIELD_PAGES_MARKED "pages_marked"
#define VL_FIELD_LOG_WRITES "log_writes"
#define VL_FIELD_RINGS_LOGGING "rings_logging"
#define VL_FIELD_LOG_STARTED "started_realtime_usec"
#define VL_FIELD_LOG_STOPPED "stopped_realtime_usec"

/* Set* / Resize */
#define VL_FIELD_PREVIOUS "previous"
#define VL_FIELD_READ_ONLY "read_only"
#define VL_FIELD_IOPS "iops"
#define VL_FIELD_BPS "bps"
#define VL_FIELD_ANNOUNCED "announced" /* Resize: the frontend was told (CONFIG_CHANGE_MSG) */
#define VL_FIELD_PREVIOUS_SIZE "previous_size" /* Resize */

/* Monitor */
#define VL_FIELD_EVENT "event" /* "subscribed" first, then the daemon's event names */
#define VL_FIELD_REALTIME_USEC "realtime_usec"
#define VL_FIELD_DATA "data"
#define VL_EVENT_SUBSCRIBED "subscribed"

/* Log levels SetLogLevel accepts, as --log-level spells them. */
#define VL_LOG_LEVELS "err", "warning", "notice", "info", "debug"

/* The varlink IDL of io.vusidecar, for org.varlink.service.GetInterfaceDescription. */
extern const char vusidecar_interface_description[];
