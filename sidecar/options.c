/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command-line and environment parsing for vu-sidecar. Options win over
 * VU_SIDECAR_* variables. Every value is checked here, before anything is
 * opened or created, and refused with "vu-sidecar: OPTION: VALUE: what is
 * allowed"; the caller exits 2.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "options.h"

#define RUNTIME_DIR_ROOT "/run/vusidecar"

static const char *const blk_keys = "path, id, socket, mode, read-only, serial, queues, queue-size, "
                                    "discard, write-zeroes, iops, bps, lock, cache";

_printf_(1, 2) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("vu-sidecar: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EINVAL;
}

void options_help(void) {
        printf("Usage: vu-sidecar [OPTIONS]\n"
               "\n"
               "Serve virtio-blk disks to a virtual machine over vhost-user: QEMU (or another\n"
               "vhost-user frontend) connects to a unix socket and the guest sees a disk backed\n"
               "by a raw image file or a block device on this side.\n"
               "\n"
               "Devices:\n"
               "  --blk SPEC            add a virtio-blk disk (repeatable). SPEC is KEY=VALUE,...:\n"
               "                          path=FILE          raw image or block device (required)\n"
               "                          id=NAME            device id, [A-Za-z0-9_.-]{1,32} (default blk0, "
               "blk1, ...)\n"
               "                          socket=PATH        vhost-user socket (default "
               "RUNTIME_DIR/ID.sock)\n"
               "                          mode=server|client listen on the socket (default), or connect\n"
               "                                             to a frontend listening there\n"
               "                          read-only=on|off   (default off)\n"
               "                          serial=STRING      disk serial, up to 20 bytes (default the id)\n"
               "                          queues=N           1..64 (default 1)\n"
               "                          queue-size=N       power of two 64..1024 (default 256)\n"
               "                          discard=on|off     (default on)\n"
               "                          write-zeroes=on|off (default on)\n"
               "                          iops=N, bps=N      I/O limits, 0 = none; bps takes K, M, G "
               "(x1024)\n"
               "                          lock=on|running|off flock the image from start (default), only\n"
               "                                             while queues run (live migration), or never\n"
               "                          cache=none|writeback O_DIRECT (default, where the file system\n"
               "                                             allows it) or the host page cache\n"
               "                        A literal comma in a value is written ',,'.\n"
               "  --net SPEC            add a virtio-net device (repeatable). SPEC is KEY=VALUE,...:\n"
               "                          id=, socket=, mode=    as for --blk (default id net0, net1, ...)\n"
               "                          backend=loopback|tap   frames come back to the guest, or a tap\n"
               "                          tap=NAME           tap to create or attach to (persistent, for our uid:\n"
               "                                             no capability needed)\n"
               "                          mac=XX:XX:XX:XX:XX:XX  mtu=N (68..65535, default 1500)\n"
               "                          queues=N           queue pairs, 1..16 (default 1)\n"
               "                          poll=off|adaptive|busy  poll-usec=N (adaptive window, default 50)\n"
               "\n"
               "Sockets and control:\n"
               "  --control PATH        control socket for vuctl (default RUNTIME_DIR/control.sock;\n"
               "                        \"none\": no control socket)\n"
               "  --runtime-dir DIR     where default sockets go (default $RUNTIME_DIRECTORY, else\n"
               "                        " RUNTIME_DIR_ROOT " as root, else $XDG_RUNTIME_DIR/vusidecar)\n"
               "  --socket-mode MODE    octal mode of the sockets we create (default 0660)\n"
               "  --control-group GROUP members may call mutating control methods (besides our uid and "
               "root)\n"
               "\n"
               "Behaviour:\n"
               "  --io-engine auto|io_uring|threads\n"
               "                        auto (default): io_uring, or a thread pool if io_uring is refused\n"
               "  --log-level err|warning|notice|info|debug   (default info)\n"
               "  -h, --help            show this help\n"
               "      --version         show the version\n"
               "\n"
               "Environment (options win): VU_SIDECAR_BLK (one SPEC, or several separated by ';'),\n"
               "VU_SIDECAR_NET, VU_SIDECAR_CONTROL, VU_SIDECAR_RUNTIME_DIR, VU_SIDECAR_SOCKET_MODE,\n"
               "VU_SIDECAR_CONTROL_GROUP, VU_SIDECAR_IO_ENGINE, VU_SIDECAR_LOG_LEVEL.\n"
               "\n"
               "Socket activation: a listening fd named \"vhost-user\" serves the only device, an fd named\n"
               "after a device id serves that device, and an fd named \"control\" is the control socket.\n"
               "\n"
               "Signals: SIGTERM/SIGINT stop after in-flight requests complete (a second one forces);\n"
               "SIGHUP re-reads each image's size and tells the guest if it changed.\n"
               "\n"
               "Example:\n"
               "  vu-sidecar --blk path=/var/lib/vm/disk.img,socket=/run/vm/disk.sock\n"
               "  qemu-system-x86_64 ... -object memory-backend-memfd,id=mem,size=1G,share=on \\\n"
               "      -numa node,memdev=mem -chardev socket,id=vu,path=/run/vm/disk.sock \\\n"
               "      -device vhost-user-blk-pci,chardev=vu\n"
               "\n"
               "See vu-sidecar(8).\n");
}

/* ---- value parsers -------------------------------------------------------- */

static int parse_bool(const char *v, bool *ret) {
        if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
                *ret = true;
        else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
                 strcmp(v, "0") == 0)
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int parse_u64(const char *v, bool suffixes, uint64_t *ret) {
        unsigned long long x;
        uint64_t mult = 1;
        char *end;

        if (!v[0] || !isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno != 0)
                return -ERANGE;
        if (*end && suffixes) {
                switch (*end) {
                case 'K':
                case 'k':
                        mult = 1ULL << 10;
                        break;
                case 'M':
                case 'm':
                        mult = 1ULL << 20;
                        break;
                case 'G':
                case 'g':
                        mult = 1ULL << 30;
                        break;
                default:
                        return -EINVAL;
                }
                end++;
        }
        if (*end)
                return -EINVAL;
        if (x > UINT64_MAX / mult)
                return -ERANGE;
        *ret = (uint64_t) x * mult;
        return 0;
}

static bool id_valid(const char *id) {
        size_t l = strlen(id);

        if (l == 0 || l > BLK_ID_MAX)
                return false;
        for (const char *p = id; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_.-", *p))
                        return false;
        return true;
}

static bool serial_valid(const char *s) {
        if (strlen(s) > BLK_SERIAL_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!isprint((unsigned char) *p))
                        return false;
        return true;
}

static bool socket_path_valid(const char *p) {
        return p[0] && strlen(p) < sizeof(((struct sockaddr_un *) NULL)->sun_path);
}

/* ---- --blk SPEC ------------------------------------------------------------ */

void blk_config_done(BlkConfig *c) {
        free(c->path);
        free(c->id);
        free(c->socket);
        free(c->serial);
        memset(c, 0, sizeof(*c));
}

/* Next KEY=VALUE item of *@p (",," is a literal comma). Returns a new string, or NULL at the end. */
static char *spec_next_item(const char **p) {
        const char *s = *p;
        char *item, *o;

        if (!*s)
                return NULL;
        item = malloc(strlen(s) + 1);
        if (!item)
                return NULL;
        o = item;
        while (*s) {
                if (*s == ',') {
                        if (s[1] == ',') {
                                *o++ = ',';
                                s += 2;
                                continue;
                        }
                        s++;
                        break;
                }
                *o++ = *s++;
        }
        *o = 0;
        *p = s;
        return item;
}

static int set_string(char **field, const char *v) {
        char *c = strdup(v);

        if (!c)
                return log_oom();
        free(*field);
        *field = c;
        return 0;
}

int blk_config_parse(const char *what, const char *spec, unsigned int index, const char *runtime_dir,
                     BlkConfig *ret) {
        BlkConfig c = {
                .mode = DEVICE_SOCKET_SERVER,
                .queues = 1,
                .queue_size = 256,
                .discard = true,
                .write_zeroes = true,
        };
        const char *p = spec;
        char seen[16][16] = {};
        unsigned int n_seen = 0;
        int r = 0;

        if (!spec || !spec[0])
                return usage_error("%s: empty SPEC: expected path=FILE[,KEY=VALUE...]", what);

        for (;;) {
                _cleanup_free_ char *item = spec_next_item(&p);
                char *key, *v;
                uint64_t u;

                if (!item) {
                        if (*p) {
                                r = log_oom();
                                goto fail;
                        }
                        break;
                }
                if (!item[0])
                        continue; /* tolerate "a=b," */
                v = strchr(item, '=');
                if (!v) {
                        r = usage_error("%s: %s: expected KEY=VALUE (keys: %s)", what, item, blk_keys);
                        goto fail;
                }
                *v++ = 0;
                key = item;

                for (unsigned int i = 0; i < n_seen; i++)
                        if (strcmp(seen[i], key) == 0) {
                                r = usage_error("%s: %s=%s: %s given twice", what, key, v, key);
                                goto fail;
                        }
                if (n_seen < ELEMENTSOF(seen) && strlen(key) < sizeof(seen[0]))
                        strcpy(seen[n_seen++], key);

                if (strcmp(key, "path") == 0) {
                        if (!v[0]) {
                                r = usage_error("%s: path=: must name an image file or block device", what);
                                goto fail;
                        }
                        r = set_string(&c.path, v);
                } else if (strcmp(key, "id") == 0) {
                        if (!id_valid(v)) {
                                r = usage_error("%s: id=%s: must be 1..32 characters of A-Z a-z 0-9 _ . -",
                                                what, v);
                                goto fail;
                        }
                        r = set_string(&c.id, v);
                } else if (strcmp(key, "socket") == 0) {
                        if (!socket_path_valid(v)) {
                                r = usage_error("%s: socket=%s: must be a path of 1..%zu bytes", what, v,
                                                sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1);
                                goto fail;
                        }
                        r = set_string(&c.socket, v);
                        c.socket_explicit = true;
                } else if (strcmp(key, "mode") == 0) {
                        if (strcmp(v, "server") == 0)
                                c.mode = DEVICE_SOCKET_SERVER;
                        else if (strcmp(v, "client") == 0)
                                c.mode = DEVICE_SOCKET_CLIENT;
                        else {
                                r = usage_error("%s: mode=%s: must be server or client", what, v);
                                goto fail;
                        }
                } else if (strcmp(key, "read-only") == 0 || strcmp(key, "discard") == 0 ||
                           strcmp(key, "write-zeroes") == 0) {
                        bool b;

                        if (parse_bool(v, &b) < 0) {
                                r = usage_error("%s: %s=%s: must be on or off", what, key, v);
                                goto fail;
                        }
                        if (key[0] == 'r')
                                c.read_only = b;
                        else if (key[0] == 'd')
                                c.discard = b;
                        else
                                c.write_zeroes = b;
                } else if (strcmp(key, "lock") == 0) {
                        if (strcmp(v, "on") == 0)
                                c.lock = BLK_LOCK_ON;
                        else if (strcmp(v, "running") == 0)
                                c.lock = BLK_LOCK_RUNNING;
                        else if (strcmp(v, "off") == 0)
                                c.lock = BLK_LOCK_OFF;
                        else {
                                r = usage_error("%s: lock=%s: must be on, running or off", what, v);
                                goto fail;
                        }
                } else if (strcmp(key, "cache") == 0) {
                        if (strcmp(v, "none") == 0)
                                c.cache = BLK_CACHE_NONE;
                        else if (strcmp(v, "writeback") == 0)
                                c.cache = BLK_CACHE_WRITEBACK;
                        else {
                                r = usage_error("%s: cache=%s: must be none (O_DIRECT) or writeback (the "
                                                "host page cache)",
                                                what, v);
                                goto fail;
                        }
                } else if (strcmp(key, "serial") == 0) {
                        if (!serial_valid(v)) {
                                r = usage_error("%s: serial=%s: must be at most %d printable bytes", what, v,
                                                BLK_SERIAL_MAX);
                                goto fail;
                        }
                        r = set_string(&c.serial, v);
                } else if (strcmp(key, "queues") == 0) {
                        if (parse_u64(v, false, &u) < 0 || u < 1 || u > BLK_QUEUES_MAX) {
                                r = usage_error("%s: queues=%s: must be 1..%d", what, v, BLK_QUEUES_MAX);
                                goto fail;
                        }
                        c.queues = (unsigned int) u;
                } else if (strcmp(key, "queue-size") == 0) {
                        if (parse_u64(v, false, &u) < 0 || u < 64 || u > 1024 || (u & (u - 1)) != 0) {
                                r = usage_error("%s: queue-size=%s: must be a power of two from 64 to 1024",
                                                what, v);
                                goto fail;
                        }
                        c.queue_size = (unsigned int) u;
                } else if (strcmp(key, "iops") == 0) {
                        if (parse_u64(v, false, &u) < 0) {
                                r = usage_error("%s: iops=%s: must be a number of operations per second (0 "
                                                "= no limit)",
                                                what, v);
                                goto fail;
                        }
                        c.iops = u;
                } else if (strcmp(key, "bps") == 0) {
                        if (parse_u64(v, true, &u) < 0) {
                                r = usage_error(
                                        "%s: bps=%s: must be bytes per second, optionally with K, M or G "
                                        "(0 = no limit)",
                                        what, v);
                                goto fail;
                        }
                        c.bps = u;
                } else {
                        r = usage_error("%s: %s=%s: unknown key (allowed: %s)", what, key, v, blk_keys);
                        goto fail;
                }
                if (r < 0)
                        goto fail;
        }

        if (!c.path) {
                r = usage_error("%s: %s: path=FILE is required", what, spec);
                goto fail;
        }
        if (!c.id && asprintf(&c.id, "blk%u", index) < 0) {
                c.id = NULL;
                r = log_oom();
                goto fail;
        }
        if (!c.socket) {
                if (!runtime_dir) {
                        r = usage_error("%s: %s: no socket= and no runtime directory: give socket=PATH or "
                                        "--runtime-dir DIR",
                                        what, c.id);
                        goto fail;
                }
                if (asprintf(&c.socket, "%s/%s.sock", runtime_dir, c.id) < 0) {
                        c.socket = NULL;
                        r = log_oom();
                        goto fail;
                }
                if (!socket_path_valid(c.socket)) {
                        r = usage_error(
                                "%s: socket %s: longer than a unix socket path may be; give socket=PATH",
                                what, c.socket);
                        goto fail;
                }
        }

        *ret = c;
        return 0;

fail:
        blk_config_done(&c);
        return r;
}

/* ---- the whole command line ------------------------------------------------ */

void options_done(Options *o) {
        for (size_t i = 0; i < o->n_blk; i++)
                blk_config_done(&o->blk[i]);
        free(o->blk);
        for (size_t i = 0; i < o->n_net; i++)
                free(o->net_specs[i]);
        free(o->net_specs);
        free(o->runtime_dir);
        free(o->control_path);
        free(o->control_group);
        memset(o, 0, sizeof(*o));
}

static int strv_push(char ***v, size_t *n, const char *s) {
        char **nv = realloc(*v, (*n + 1) * sizeof(char *));

        if (!nv)
                return log_oom();
        *v = nv;
        nv[*n] = strdup(s);
        if (!nv[*n])
                return log_oom();
        (*n)++;
        return 0;
}

/* Split @list at ';' into *@v (empty items are skipped). */
static int strv_push_split(char ***v, size_t *n, const char *list) {
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;

        if (!copy)
                return log_oom();
        for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
                while (isspace((unsigned char) *t))
                        t++;
                if (!*t)
                        continue;
                int r = strv_push(v, n, t);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int resolve_runtime_dir(const char *given, char **ret) {
        const char *e;

        if (given)
                return set_string(ret, given);
        e = getenv("RUNTIME_DIRECTORY");
        if (e && e[0]) {
                /* systemd joins several RuntimeDirectory= with ':'; the first is ours. */
                size_t l = strcspn(e, ":");

                *ret = strndup(e, l);
                return *ret ? 0 : log_oom();
        }
        if (geteuid() == 0)
                return set_string(ret, RUNTIME_DIR_ROOT);
        e = getenv("XDG_RUNTIME_DIR");
        if (e && e[0]) {
                if (asprintf(ret, "%s/vusidecar", e) < 0) {
                        *ret = NULL;
                        return log_oom();
                }
                return 0;
        }
        *ret = NULL; /* decided later: only an error if a default socket needs it */
        return 0;
}

static int parse_io_engine(const char *what, const char *v, IoEngineKind *ret) {
        if (strcmp(v, "auto") == 0)
                *ret = IO_ENGINE_AUTO;
        else if (strcmp(v, "io_uring") == 0 || strcmp(v, "io-uring") == 0)
                *ret = IO_ENGINE_IO_URING;
        else if (strcmp(v, "threads") == 0)
                *ret = IO_ENGINE_THREADS;
        else
                return usage_error("%s: %s: must be auto, io_uring or threads", what, v);
        return 0;
}

static int parse_log_level(const char *what, const char *v, int *ret) {
        int l = log_level_from_string(v);

        if (l < 0)
                return usage_error("%s: %s: must be err, warning, notice, info or debug", what, v);
        *ret = l;
        return 0;
}

static int parse_socket_mode(const char *what, const char *v, mode_t *ret) {
        unsigned long m;
        char *end;

        errno = 0;
        m = strtoul(v, &end, 8);
        if (!v[0] || *end || errno != 0 || m > 0777 || v[0] == '-' || v[0] == '+')
                return usage_error("%s: %s: must be an octal mode from 0000 to 0777 (e.g. 0660)", what, v);
        *ret = (mode_t) m;
        return 0;
}

static int parse_group(const char *what, const char *v, gid_t *ret) {
        struct group *g;
        uint64_t u;

        if (!v[0])
                return usage_error("%s: must name a group", what);
        if (parse_u64(v, false, &u) == 0) {
                if (u >= (gid_t) -1)
                        return usage_error("%s: %s: not a valid group id", what, v);
                *ret = (gid_t) u;
                return 0;
        }
        errno = 0;
        g = getgrnam(v);
        if (!g)
                return usage_error("%s: %s: no such group%s%s", what, v, errno ? ": " : "",
                                   errno ? strerror(errno) : "");
        *ret = g->gr_gid;
        return 0;
}

enum {
        ARG_BLK = 0x100,
        ARG_NET,
        ARG_CONTROL,
        ARG_RUNTIME_DIR,
        ARG_IO_ENGINE,
        ARG_SOCKET_MODE,
        ARG_CONTROL_GROUP,
        ARG_LOG_LEVEL,
        ARG_VERSION,
};

int options_parse(int argc, char *argv[], Options *ret) {
        static const struct option longopts[] = {
                {"blk", required_argument, NULL, ARG_BLK},
                {"net", required_argument, NULL, ARG_NET},
                {"control", required_argument, NULL, ARG_CONTROL},
                {"runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR},
                {"io-engine", required_argument, NULL, ARG_IO_ENGINE},
                {"socket-mode", required_argument, NULL, ARG_SOCKET_MODE},
                {"control-group", required_argument, NULL, ARG_CONTROL_GROUP},
                {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {},
        };
        Options o = {
                .io_engine = IO_ENGINE_AUTO,
                .socket_mode = 0660,
                .log_level = LOG_INFO,
        };
        char **blk_specs = NULL;
        size_t n_blk_specs = 0;
        const char *control = NULL, *runtime_dir = NULL, *io_engine = NULL, *log_level = NULL;
        const char *socket_mode = NULL, *control_group = NULL;
        const char *blk_what = "--blk";
        int c, r = 0;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) >= 0) {
                switch (c) {
                case ARG_BLK:
                        r = strv_push(&blk_specs, &n_blk_specs, optarg);
                        break;
                case ARG_NET:
                        r = strv_push(&o.net_specs, &o.n_net, optarg);
                        break;
                case ARG_CONTROL:
                        control = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        if (!optarg[0]) {
                                r = usage_error("--runtime-dir: must name a directory");
                                break;
                        }
                        runtime_dir = optarg;
                        break;
                case ARG_IO_ENGINE:
                        io_engine = optarg;
                        break;
                case ARG_SOCKET_MODE:
                        r = parse_socket_mode("--socket-mode", optarg, &o.socket_mode);
                        if (r >= 0)
                                socket_mode = optarg;
                        break;
                case ARG_CONTROL_GROUP:
                        r = parse_group("--control-group", optarg, &o.control_gid);
                        if (r >= 0)
                                r = set_string(&o.control_group, optarg);
                        if (r >= 0)
                                control_group = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        log_level = optarg;
                        break;
                case 'h':
                        options_help();
                        r = 0;
                        goto done;
                case ARG_VERSION:
                        printf("vu-sidecar " VUSIDECAR_VERSION "\n");
                        r = 0;
                        goto done;
                case ':':
                        r = usage_error("%s: needs a value (see --help)", argv[optind - 1]);
                        break;
                default:
                        r = usage_error("%s: unknown option (see --help)", argv[optind - 1]);
                        break;
                }
                if (r < 0)
                        goto done;
        }
        if (optind < argc) {
                r = usage_error("%s: unexpected argument (options take the form --name VALUE; see --help)",
                                argv[optind]);
                goto done;
        }

        /* The environment fills in what the command line left out. */
        if (!io_engine)
                io_engine = getenv("VU_SIDECAR_IO_ENGINE");
        if (io_engine) {
                r = parse_io_engine(getenv("VU_SIDECAR_IO_ENGINE") == io_engine ? "VU_SIDECAR_IO_ENGINE"
                                                                                : "--io-engine",
                                    io_engine, &o.io_engine);
                if (r < 0)
                        goto done;
        }
        if (!log_level)
                log_level = getenv("VU_SIDECAR_LOG_LEVEL");
        if (log_level) {
                r = parse_log_level(getenv("VU_SIDECAR_LOG_LEVEL") == log_level ? "VU_SIDECAR_LOG_LEVEL"
                                                                                : "--log-level",
                                    log_level, &o.log_level);
                if (r < 0)
                        goto done;
        }
        /* Like their options: a container sets these to let a frontend of another uid in. */
        if (!socket_mode && (socket_mode = getenv("VU_SIDECAR_SOCKET_MODE")) && socket_mode[0]) {
                r = parse_socket_mode("VU_SIDECAR_SOCKET_MODE", socket_mode, &o.socket_mode);
                if (r < 0)
                        goto done;
        }
        if (!control_group && (control_group = getenv("VU_SIDECAR_CONTROL_GROUP")) && control_group[0]) {
                r = parse_group("VU_SIDECAR_CONTROL_GROUP", control_group, &o.control_gid);
                if (r >= 0)
                        r = set_string(&o.control_group, control_group);
                if (r < 0)
                        goto done;
        }
        if (!runtime_dir)
                runtime_dir = getenv("VU_SIDECAR_RUNTIME_DIR");
        r = resolve_runtime_dir(runtime_dir && runtime_dir[0] ? runtime_dir : NULL, &o.runtime_dir);
        if (r < 0)
                goto done;
        if (!control)
                control = getenv("VU_SIDECAR_CONTROL");
        if (control && !control[0]) {
                r = usage_error("--control: must be a path or \"none\"");
                goto done;
        }
        if (control && strcmp(control, "none") == 0)
                o.control_path = NULL;
        else if (control) {
                if (!socket_path_valid(control)) {
                        r = usage_error("--control: %s: longer than a unix socket path may be", control);
                        goto done;
                }
                r = set_string(&o.control_path, control);
                if (r < 0)
                        goto done;
        } else {
                if (!o.runtime_dir) {
                        r = usage_error("--runtime-dir: not given, and none of $RUNTIME_DIRECTORY, "
                                        "$XDG_RUNTIME_DIR is set (or give --control PATH|none and socket=)");
                        goto done;
                }
                if (asprintf(&o.control_path, "%s/control.sock", o.runtime_dir) < 0) {
                        o.control_path = NULL;
                        r = log_oom();
                        goto done;
                }
        }

        if (n_blk_specs == 0 && o.n_net == 0) {
                const char *e = getenv("VU_SIDECAR_BLK");

                if (e && e[0]) {
                        blk_what = "VU_SIDECAR_BLK";
                        r = strv_push_split(&blk_specs, &n_blk_specs, e);
                        if (r < 0)
                                goto done;
                }
                e = getenv("VU_SIDECAR_NET");
                if (e && e[0]) {
                        r = strv_push_split(&o.net_specs, &o.n_net, e);
                        if (r < 0)
                                goto done;
                }
        }
        if (n_blk_specs == 0 && o.n_net == 0) {
                r = usage_error(
                        "no device to serve: give --blk path=IMAGE (or set VU_SIDECAR_BLK); see --help");
                goto done;
        }

        o.blk = calloc(MAX(n_blk_specs, (size_t) 1), sizeof(BlkConfig));
        if (!o.blk) {
                r = log_oom();
                goto done;
        }
        for (size_t i = 0; i < n_blk_specs; i++) {
                r = blk_config_parse(blk_what, blk_specs[i], (unsigned) i, o.runtime_dir, &o.blk[i]);
                if (r < 0)
                        goto done;
                o.n_blk++;
        }

        /* Two devices cannot share an id, a socket or an image. */
        for (size_t i = 0; i < o.n_blk; i++)
                for (size_t j = 0; j < i; j++) {
                        if (strcmp(o.blk[i].id, o.blk[j].id) == 0) {
                                r = usage_error("%s: id=%s: used by two devices", blk_what, o.blk[i].id);
                                goto done;
                        }
                        if (strcmp(o.blk[i].socket, o.blk[j].socket) == 0) {
                                r = usage_error("%s: socket=%s: used by devices %s and %s", blk_what,
                                                o.blk[i].socket, o.blk[j].id, o.blk[i].id);
                                goto done;
                        }
                }
        for (size_t i = 0; i < o.n_blk; i++)
                if (o.control_path && strcmp(o.blk[i].socket, o.control_path) == 0) {
                        r = usage_error("--control: %s: also the socket of device %s", o.control_path,
                                        o.blk[i].id);
                        goto done;
                }

        strv_free(blk_specs, n_blk_specs);
        *ret = o;
        return 1;

done:
        strv_free(blk_specs, n_blk_specs);
        options_done(&o);
        return r;
}
