/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The library over a real unix socket between two processes, as with
 * QEMU: a forked backend listens, serves one frontend at a time with its
 * own poll loop, and serves again after the frontend disconnects. The
 * frontend negotiates, runs echo requests through real kick and call
 * eventfds, stops the queue, disconnects, and comes back.
 */
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "harness.h"

#define F(bit) (UINT64_C(1) << (bit))
#define REGION_SIZE (1024 * 1024)
#define CONNECTIONS 2

static int listen_on(const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(strlen(path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)));
        ASSERT_OK(listen(fd, 1));
        return fd;
}

/* The backend process: serve CONNECTIONS frontends one after the other. */
static int backend_main(int lfd) {
        alarm(20); /* a hung test must not hang ctest */
        for (unsigned int c = 0; c < CONNECTIONS; c++) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return 10;
                TestDev *td = test_dev_new_on_fd(1, fd);
                while (test_dev_serve(td, 5000))
                        ;
                /* The frontend hung up: the only way out of the loop here. */
                uint64_t echoed = td->echoed;
                td->panics = 0;
                test_dev_free(td);
                if (echoed == 0)
                        return 11;
        }
        return 0;
}

static void frontend_session(const char *path, unsigned int round) {
        VfConn *conn;
        VfMem *mem;
        VfVring *vr;
        uint64_t f, pf;

        ASSERT_OK(vf_conn_connect(path, 5000, &conn));
        mem = test_mem_new(3, REGION_SIZE);
        ASSERT_OK(vf_get_features(conn, &f));
        ASSERT_TRUE(f & F(VIRTIO_RING_F_EVENT_IDX));
        ASSERT_OK(vf_get_protocol_features(conn, &pf));
        ASSERT_TRUE(pf & F(VHOST_USER_PROTOCOL_F_REPLY_ACK));
        ASSERT_OK(vf_set_protocol_features(conn, F(VHOST_USER_PROTOCOL_F_REPLY_ACK)));
        ASSERT_OK(vf_set_owner(conn));
        ASSERT_OK(vf_set_features(conn, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) |
                                                F(VIRTIO_RING_F_INDIRECT_DESC) |
                                                F(VHOST_USER_F_PROTOCOL_FEATURES)));
        ASSERT_OK(vf_set_mem_table(conn, mem));
        ASSERT_OK(vf_vring_new(mem, 0, 128, true, &vr));
        ASSERT_OK(vf_vring_setup(conn, 0, vr, 0, false));
        ASSERT_OK(vf_set_vring_enable(conn, 0, true));

        for (unsigned int batch = 0; batch < 20; batch++) {
                uint64_t out[4], in[4];
                uint16_t heads[4], head;
                uint32_t len;

                ((VfRegion *) vf_mem_region(mem, 1))->next_free = 0;
                ((VfRegion *) vf_mem_region(mem, 2))->next_free = 0;
                for (unsigned int i = 0; i < 4; i++) {
                        uint32_t n = 512 + 100 * i;
                        ASSERT_OK(vf_mem_alloc(mem, 1, n, 8, &out[i]));
                        ASSERT_OK(vf_mem_alloc(mem, 2, n, 8, &in[i]));
                        test_fill_pattern(vf_mem_gpa(mem, out[i], n), n, round * 1000 + batch * 4 + i);
                        VfBuf b[2] = {{.gpa = out[i], .len = n}, {.gpa = in[i], .len = n, .write = true}};
                        ASSERT_OK(vf_vring_add(vr, b, 2, i % 2, &heads[i]));
                }
                vf_vring_set_used_event(vr, vf_vring_last_used(vr));
                ASSERT_EQ(vf_vring_publish_kick(vr), 1);

                /* The other process answers through the call eventfd. */
                unsigned int done = 0;
                while (done < 4) {
                        uint64_t calls;
                        int r = vf_vring_get_used(vr, &head, &len);
                        ASSERT_OK(r);
                        if (r == 0) {
                                ASSERT_OK(vf_vring_take_calls(vr, 5000, &calls));
                                ASSERT_GE(calls, 1);
                                continue;
                        }
                        ASSERT_EQ(head, heads[done]);
                        ASSERT_EQ(len, 512 + 100 * done);
                        ASSERT_MEMEQ(vf_mem_gpa(mem, in[done], len), vf_mem_gpa(mem, out[done], len), len);
                        done++;
                }
        }

        unsigned int base;
        ASSERT_OK(vf_get_vring_base(conn, 0, &base));
        ASSERT_EQ(base, 80);

        vf_conn_free(conn);
        vf_vring_free(vr);
        vf_mem_free(mem);
}

static void test_two_processes(void) {
        char dir[] = "/tmp/vu-test-socket-XXXXXX", path[128];

        ASSERT_NOT_NULL(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/vhost-user.sock", dir);
        int lfd = listen_on(path);

        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                _exit(backend_main(lfd));
        close(lfd);

        for (unsigned int round = 0; round < CONNECTIONS; round++)
                frontend_session(path, round);

        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        unlink(path);
        rmdir(dir);
}

int main(void) {
        unsigned int fds = test_count_fds();

        RUN_TEST(test_two_processes);

        ASSERT_EQ(test_count_fds(), fds);
        return 0;
}
