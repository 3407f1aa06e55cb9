/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compat-blk, a device written only against the compatible API and linked
 * with the shared library, driven as a separate process over a unix
 * socket: blocks written are read back intact (also after a reconnect,
 * from its backing file), GET_ID returns the serial, FLUSH succeeds, reads
 * past the end and unknown requests fail with the right status, and the
 * config space gives the capacity.
 */
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vu-frontend.h"

#define F(bit) (UINT64_C(1) << (bit))
#define DISK_SIZE (4 * 1024 * 1024)
#define SERIAL "compat-serial-42"

#define CHECK(x)                                                                                            \
        do {                                                                                                \
                if (!(x)) {                                                                                 \
                        fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #x);                     \
                        abort();                                                                            \
                }                                                                                           \
        } while (0)
#define CHECK_EQ(a, b)                                                                                      \
        do {                                                                                                \
                long long _a = (long long) (a), _b = (long long) (b);                                       \
                if (_a != _b) {                                                                             \
                        fprintf(stderr, "%s:%d: FAILED: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a,  \
                                #b, _a, _b);                                                                \
                        abort();                                                                            \
                }                                                                                           \
        } while (0)
#define CHECK_OK(x)                                                                                         \
        do {                                                                                                \
                long long _r = (long long) (x);                                                             \
                if (_r < 0) {                                                                               \
                        fprintf(stderr, "%s:%d: FAILED: %s: %s\n", __FILE__, __LINE__, #x,                  \
                                strerror((int) -_r));                                                       \
                        abort();                                                                            \
                }                                                                                           \
        } while (0)

typedef struct Guest {
        VfConn *conn;
        VfMem *mem;
        VfVring *vr;
        uint64_t hdr_gpa, status_gpa, data_gpa;
} Guest;

static void pattern(uint8_t *p, size_t n, unsigned int seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed * 31 + i * 7 + (i >> 9));
}

static void guest_connect(Guest *g, const char *path) {
        uint64_t f, pf;
        const uint64_t want = F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
                              F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_BLK_F_BLK_SIZE) |
                              F(VIRTIO_BLK_F_FLUSH);

        CHECK_OK(vf_conn_connect(path, 5000, &g->conn));
        CHECK_OK(vf_mem_new(&g->mem));
        CHECK_OK(vf_mem_add_region(g->mem, 0x100000, 1024 * 1024));
        CHECK_OK(vf_mem_add_region(g->mem, 0x400000, 1024 * 1024));
        CHECK_OK(vf_get_features(g->conn, &f));
        CHECK_EQ(f & want, want);
        CHECK_OK(vf_get_protocol_features(g->conn, &pf));
        CHECK(pf & F(VHOST_USER_PROTOCOL_F_CONFIG));
        CHECK_OK(vf_set_protocol_features(g->conn, F(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
                                                           F(VHOST_USER_PROTOCOL_F_CONFIG)));
        CHECK_OK(vf_set_owner(g->conn));
        CHECK_OK(vf_set_features(g->conn, want | F(VHOST_USER_F_PROTOCOL_FEATURES)));
        CHECK_OK(vf_set_mem_table(g->conn, g->mem));

        struct virtio_blk_config cfg;
        CHECK_OK(vf_get_config(g->conn, 0, sizeof(cfg), &cfg));
        CHECK_EQ(cfg.capacity, DISK_SIZE / 512);
        CHECK_EQ(cfg.blk_size, 512);

        CHECK_OK(vf_vring_new(g->mem, 0, 128, true, &g->vr));
        CHECK_OK(vf_vring_setup(g->conn, 0, g->vr, 0, false));
        CHECK_OK(vf_set_vring_enable(g->conn, 0, true));
        CHECK_OK(vf_mem_alloc(g->mem, 0, sizeof(struct virtio_blk_outhdr), 16, &g->hdr_gpa));
        CHECK_OK(vf_mem_alloc(g->mem, 0, 1, 1, &g->status_gpa));
        CHECK_OK(vf_mem_alloc(g->mem, 1, 256 * 1024, 4096, &g->data_gpa));
}

static void guest_disconnect(Guest *g) {
        g->conn = vf_conn_free(g->conn);
        g->vr = vf_vring_free(g->vr);
        g->mem = vf_mem_free(g->mem);
}

/*
 * One request: header, @len data bytes at data_gpa cut into @nseg
 * descriptors (device-writable for IN/GET_ID), status. Returns the status;
 * *@ret_used is the used length.
 */
static uint8_t guest_request(Guest *g, uint32_t type, uint64_t sector, uint32_t len, unsigned int nseg,
                             bool indirect, uint32_t *ret_used) {
        struct virtio_blk_outhdr *hdr = vf_mem_gpa(g->mem, g->hdr_gpa, sizeof(*hdr));
        uint8_t *status = vf_mem_gpa(g->mem, g->status_gpa, 1);
        VfBuf b[66];
        unsigned int n = 0;
        bool write = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
        uint16_t head, got;
        uint32_t used;

        *hdr = (struct virtio_blk_outhdr){.type = type, .sector = sector};
        *status = 0xee;
        b[n++] = (VfBuf){.gpa = g->hdr_gpa, .len = sizeof(*hdr)};
        for (unsigned int i = 0; i < nseg && len > 0; i++) {
                uint32_t seg = len / nseg;
                if (i == nseg - 1)
                        seg = len - seg * (nseg - 1);
                b[n++] = (VfBuf){
                        .gpa = g->data_gpa + (uint64_t) (len / nseg) * i, .len = seg, .write = write};
        }
        b[n++] = (VfBuf){.gpa = g->status_gpa, .len = 1, .write = true};

        CHECK_OK(vf_vring_add(g->vr, b, n, indirect, &head));
        vf_vring_set_used_event(g->vr, vf_vring_last_used(g->vr));
        CHECK_OK(vf_vring_publish_kick(g->vr));
        for (;;) {
                uint64_t calls;
                int r = vf_vring_get_used(g->vr, &got, &used);
                CHECK_OK(r);
                if (r == 1)
                        break;
                CHECK_OK(vf_vring_take_calls(g->vr, 5000, &calls));
                CHECK(calls >= 1);
        }
        CHECK_EQ(got, head);
        *ret_used = used;
        return *status;
}

static void session_write_read(const char *path) {
        Guest g = {};
        uint8_t *data, want[16384];
        uint32_t used;

        guest_connect(&g, path);
        data = vf_mem_gpa(g.mem, g.data_gpa, 256 * 1024);

        /* 16 writes of 16 KiB at scattered sectors, each in 1..4 segments, then read back. */
        for (unsigned int i = 0; i < 16; i++) {
                pattern(data, 16384, i);
                CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_OUT, i * 100, 16384, 1 + i % 4, i % 3 == 0, &used),
                         VIRTIO_BLK_S_OK);
                CHECK_EQ(used, 1);
        }
        for (unsigned int i = 0; i < 16; i++) {
                memset(data, 0, 16384);
                CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_IN, i * 100, 16384, 1 + (i + 1) % 4, i % 2, &used),
                         VIRTIO_BLK_S_OK);
                CHECK_EQ(used, 16384 + 1);
                pattern(want, 16384, i);
                CHECK(memcmp(data, want, 16384) == 0);
        }

        /* A long chain: 64 data descriptors of 512 bytes, indirect. */
        pattern(data, 64 * 512, 99);
        CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_OUT, 5000, 64 * 512, 64, true, &used), VIRTIO_BLK_S_OK);
        memset(data, 0, 64 * 512);
        CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_IN, 5000, 64 * 512, 64, false, &used), VIRTIO_BLK_S_OK);
        pattern(want, 64 * 512 > sizeof(want) ? sizeof(want) : 64 * 512, 99);
        CHECK(memcmp(data, want, sizeof(want)) == 0);

        memset(data, 0, 64);
        CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, 1, false, &used),
                 VIRTIO_BLK_S_OK);
        CHECK_EQ(used, VIRTIO_BLK_ID_BYTES + 1);
        CHECK(strcmp((char *) data, SERIAL) == 0);

        CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used), VIRTIO_BLK_S_OK);
        CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, 1024, 1, false, &used),
                 VIRTIO_BLK_S_IOERR);
        CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, 512, 1, false, &used),
                 VIRTIO_BLK_S_IOERR);
        CHECK_EQ(guest_request(&g, 77, 0, 512, 1, false, &used), VIRTIO_BLK_S_UNSUPP);

        unsigned int base;
        CHECK_OK(vf_get_vring_base(g.conn, 0, &base));
        CHECK_EQ(base, 16 + 16 + 2 + 1 + 1 + 3);
        guest_disconnect(&g);
}

/* After a reconnect the data is still there (the backing file). */
static void session_read_again(const char *path) {
        Guest g = {};
        uint8_t want[16384];
        uint32_t used;

        guest_connect(&g, path);
        uint8_t *data = vf_mem_gpa(g.mem, g.data_gpa, 16384);
        for (unsigned int i = 0; i < 16; i += 5) {
                CHECK_EQ(guest_request(&g, VIRTIO_BLK_T_IN, i * 100, 16384, 2, true, &used),
                         VIRTIO_BLK_S_OK);
                pattern(want, 16384, i);
                CHECK(memcmp(data, want, 16384) == 0);
        }
        guest_disconnect(&g);
}

int main(int argc, char **argv) {
        char dir[] = "/tmp/vu-compat-blk-XXXXXX", sock[128], disk[128], size[32];

        if (argc != 2) {
                fprintf(stderr, "usage: test-compat-blk PATH-TO-compat-blk\n");
                return 2;
        }
        CHECK(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/blk.sock", dir);
        snprintf(disk, sizeof(disk), "%s/disk.img", dir);
        snprintf(size, sizeof(size), "%d", DISK_SIZE);
        int fd = open(disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        CHECK_OK(ftruncate(fd, DISK_SIZE));
        close(fd);

        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                alarm(30);
                execl(argv[1], argv[1], "--socket", sock, "--file", disk, "--serial", SERIAL,
                      "--connections", "2", (char *) NULL);
                perror("exec compat-blk");
                _exit(127);
        }

        session_write_read(sock);
        session_read_again(sock);

        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 0);

        unlink(disk);
        unlink(sock);
        rmdir(dir);
        return 0;
}
