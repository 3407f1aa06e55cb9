/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compat-blk: a vhost-user-blk backend program written against the
 * compatible libvhost-user API only, linked with the shared library. It
 * listens on a unix socket and serves one frontend at a time (again after
 * each disconnect), like the small backends people write by hand.
 *
 *   compat-blk --socket PATH [--size BYTES | --file PATH] [--serial ID]
 *              [--read-only] [--connections N]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "blk-device.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: compat-blk --socket PATH [--size BYTES | --file PATH] [--serial ID]\n"
                   "                  [--read-only] [--connections N]\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t *ret) {
        char *end;

        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || end == s || *end || s[0] == '-') {
                fprintf(stderr, "compat-blk: %s: '%s' is not a number\n", opt, s);
                return -1;
        }
        *ret = v;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"socket", required_argument, NULL, 's'}, {"size", required_argument, NULL, 'S'},
                {"file", required_argument, NULL, 'f'},   {"serial", required_argument, NULL, 'i'},
                {"read-only", no_argument, NULL, 'r'},    {"connections", required_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},         {}};
        const char *socket_path = NULL, *file = NULL, *serial = "compat-blk";
        uint64_t size = 64 * 1024 * 1024, connections = 0;
        bool read_only = false;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'S':
                        if (parse_u64("--size", optarg, &size) < 0)
                                return 2;
                        break;
                case 'f':
                        file = optarg;
                        break;
                case 'i':
                        serial = optarg;
                        break;
                case 'r':
                        read_only = true;
                        break;
                case 'n':
                        if (parse_u64("--connections", optarg, &connections) < 0)
                                return 2;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (!socket_path || optind < argc) {
                usage(stderr);
                return 2;
        }

        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(socket_path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "compat-blk: --socket: path '%s' longer than %zu bytes\n", socket_path,
                        sizeof(sa.sun_path) - 1);
                return 2;
        }
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);

        signal(SIGPIPE, SIG_IGN);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unlink(socket_path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
                fprintf(stderr, "compat-blk: Failed to listen on %s: %s\n", socket_path, strerror(errno));
                return 1;
        }

        for (uint64_t served = 0; connections == 0 || served < connections; served++) {
                BlkDevice blk;
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "compat-blk: Failed to accept: %s\n", strerror(errno));
                        break;
                }
                if (blk_device_init(&blk, fd, file, size, serial) < 0) {
                        fprintf(stderr, "compat-blk: Failed to set up the device: %s\n", strerror(errno));
                        close(fd);
                        break;
                }
                blk.read_only = read_only;
                while (blk_device_run_once(&blk, -1))
                        ;
                fprintf(stderr, "compat-blk: frontend gone after %llu requests\n",
                        (unsigned long long) blk.requests);
                blk_device_deinit(&blk);
                close(fd);
        }

        close(lfd);
        unlink(socket_path);
        return 0;
}
