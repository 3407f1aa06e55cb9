/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line and its environment twins (VU_SIDECAR_*), parsed and
 * checked in full before anything is opened: every bad value is refused
 * with a message naming the option, the value and what is allowed, and
 * exit code 2.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum IoEngineKind {
        IO_ENGINE_AUTO,
        IO_ENGINE_IO_URING,
        IO_ENGINE_THREADS,
} IoEngineKind;

typedef enum DeviceSocketMode {
        DEVICE_SOCKET_SERVER, /* we listen on the socket path */
        DEVICE_SOCKET_CLIENT, /* we connect to the frontend's socket, with backoff */
} DeviceSocketMode;

#define BLK_ID_MAX 32
#define BLK_SERIAL_MAX 20 /* VIRTIO_BLK_ID_BYTES */
#define BLK_QUEUES_MAX 64

/*
 * When a blk device holds its flock(2) on the image (lock=). Live migration
 * has two sidecars open one image; only the one whose frontend runs the guest
 * may write, as with QEMU's own image locking, so "running" locks only while
 * queues are started (the source stops its queues before the destination
 * starts its own).
 */
typedef enum BlkLock {
        BLK_LOCK_ON,      /* from start to exit (default) */
        BLK_LOCK_RUNNING, /* while a frontend has started queues */
        BLK_LOCK_OFF,     /* never: the operator guarantees a single writer */
} BlkLock;

/*
 * How a blk device reaches its image (cache=), named as QEMU names its
 * cache modes. vu-sidecar(8) says why "none" is the default.
 */
typedef enum BlkCache {
        BLK_CACHE_AUTO,      /* not given: O_DIRECT where the file system allows it, else the page cache */
        BLK_CACHE_NONE,      /* O_DIRECT, refusing to start where the file system does not support it */
        BLK_CACHE_WRITEBACK, /* the host page cache; the guest's FLUSH makes writes stable */
} BlkCache;

/* One --blk SPEC, with defaults filled in. */
typedef struct BlkConfig {
        char *path;           /* image: regular file or block device */
        char *id;             /* device id */
        char *socket;         /* vhost-user socket path (default RUNTIME_DIR/ID.sock) */
        bool socket_explicit; /* socket= was given (socket activation may still override) */
        DeviceSocketMode mode;
        bool read_only;
        char *serial;            /* ≤ 20 bytes, GET_ID answer */
        unsigned int queues;     /* 1..64 */
        unsigned int queue_size; /* power of two 64..1024: largest ring we size for */
        bool discard;
        bool write_zeroes;
        uint64_t iops; /* 0 = unlimited */
        uint64_t bps;
        BlkLock lock;
        BlkCache cache;
} BlkConfig;

typedef struct Options {
        BlkConfig *blk;
        size_t n_blk;
        char **net_specs; /* --net SPECs, handed to the net device if built in */
        size_t n_net;

        char *runtime_dir;  /* resolved default directory for sockets */
        char *control_path; /* NULL: "none" */
        IoEngineKind io_engine;
        mode_t socket_mode;  /* default 0660 */
        char *control_group; /* NULL if not given */
        gid_t control_gid;   /* valid if control_group */
        int log_level;       /* syslog priority */
} Options;

/*
 * Parse @argv (and the VU_SIDECAR_* environment) into @ret.
 * Returns 1 to go on, 0 if --help or --version was handled (exit 0), or
 * -EINVAL after printing why (exit 2). @ret is freed by options_done().
 */
int options_parse(int argc, char *argv[], Options *ret);

void options_done(Options *o);

/*
 * Parse one blk SPEC ("path=…,id=…") as device number @index (for the
 * default id "blk<index>"). @what names the source in messages ("--blk",
 * "VU_SIDECAR_BLK"). Returns 0, or -EINVAL after printing the message.
 */
int blk_config_parse(const char *what, const char *spec, unsigned int index, const char *runtime_dir,
                     BlkConfig *ret);

void blk_config_done(BlkConfig *c);

/* Prints the usage text to stdout. */
void options_help(void);
