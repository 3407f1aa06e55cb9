/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One --net SPEC (or VU_SIDECAR_NET item), parsed and checked in full
 * before the device is made: every bad key or value is refused with the
 * option, the key, the value and what is allowed, and the daemon exits 2.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "log.h"
#include "macro.h"
#include "net-internal.h"

static const char *const net_keys = "id, socket, mode, backend, tap, mac, mtu, queues, poll, poll-usec";

_printf_(1, 2) static int net_usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("vu-sidecar: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EINVAL;
}

static const char *const backend_names[_NET_BACKEND_MAX] = {
        [NET_BACKEND_LOOPBACK] = "loopback",
        [NET_BACKEND_TAP] = "tap",
};

static const char *const poll_names[_NET_POLL_MAX] = {
        [NET_POLL_OFF] = "off",
        [NET_POLL_ADAPTIVE] = "adaptive",
        [NET_POLL_BUSY] = "busy",
};

static const char *const drop_names[_NET_DROP_MAX] = {
        [NET_DROP_NO_RX_BUFFER] = "no_rx_buffer",
        [NET_DROP_RX_BUFFER_TOO_SMALL] = "rx_buffer_too_small",
        [NET_DROP_MALFORMED] = "malformed",
        [NET_DROP_TOO_BIG] = "too_big",
        [NET_DROP_LINK_DOWN] = "link_down",
        [NET_DROP_OFFLOAD] = "offload_not_accepted",
        [NET_DROP_BACKEND] = "backend_error",
};

static const char *const size_names[_NET_SIZE_MAX] = {
        [NET_SIZE_64] = "size_64",
        [NET_SIZE_65_127] = "size_65_127",
        [NET_SIZE_128_255] = "size_128_255",
        [NET_SIZE_256_511] = "size_256_511",
        [NET_SIZE_512_1023] = "size_512_1023",
        [NET_SIZE_1024_1518] = "size_1024_1518",
        [NET_SIZE_1519_MAX] = "size_1519_max",
};

const char *net_backend_to_string(NetBackendKind k) {
        return (unsigned) k < _NET_BACKEND_MAX ? backend_names[k] : NULL;
}

const char *net_poll_mode_to_string(NetPollMode m) {
        return (unsigned) m < _NET_POLL_MAX ? poll_names[m] : NULL;
}

const char *net_drop_to_string(NetDrop d) {
        return (unsigned) d < _NET_DROP_MAX ? drop_names[d] : NULL;
}

const char *net_size_bucket_to_string(NetSizeBucket b) {
        return (unsigned) b < _NET_SIZE_MAX ? size_names[b] : NULL;
}

void net_config_done(NetConfig *c) {
        free(c->id);
        free(c->socket);
        free(c->tap);
        memset(c, 0, sizeof(*c));
}

static int parse_uint(const char *v, uint64_t max, uint64_t *ret) {
        unsigned long long x;
        char *end;

        if (!v[0] || !isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        x = strtoull(v, &end, 10);
        if (errno != 0 || *end || x > max)
                return -ERANGE;
        *ret = x;
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

static bool ifname_valid(const char *n) {
        size_t l = strlen(n);

        if (l == 0 || l >= IFNAMSIZ)
                return false;
        for (const char *p = n; *p; p++)
                if (!isgraph((unsigned char) *p) || *p == '/' || *p == ':')
                        return false;
        return strcmp(n, ".") != 0 && strcmp(n, "..") != 0;
}

/* "52:54:00:12:34:56": six hex pairs, unicast (a guest cannot own a multicast address). */
static int parse_mac(const char *v, uint8_t ret[6]) {
        unsigned int b[6];
        char tail;

        if (strlen(v) != 17 ||
            sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
                return -EINVAL;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? v[i] != ':' : !isxdigit((unsigned char) v[i]))
                        return -EINVAL;
        if (b[0] & 1)
                return -EADDRNOTAVAIL;
        for (size_t i = 0; i < 6; i++)
                ret[i] = (uint8_t) b[i];
        return 0;
}

/* A stable, locally administered unicast address derived from the id (FNV-1a), so a restart keeps it. */
static void default_mac(const char *id, uint8_t ret[6]) {
        uint32_t h = 2166136261u;

        for (const char *p = id; *p; p++) {
                h ^= (uint8_t) *p;
                h *= 16777619u;
        }
        ret[0] = 0x02;
        ret[1] = 0x76;
        ret[2] = 0x75;
        ret[3] = (uint8_t) (h >> 16);
        ret[4] = (uint8_t) (h >> 8);
        ret[5] = (uint8_t) h;
}

/* Next KEY=VALUE item of *@p; ",," is a literal comma. Returns a new string, or NULL at the end (or OOM). */
static char *next_item(const char **p) {
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

static int set_str(char **field, const char *v) {
        char *c = strdup(v);

        if (!c)
                return log_oom();
        free(*field);
        *field = c;
        return 0;
}

int net_config_parse(const char *what, const char *spec, unsigned int index, const char *runtime_dir,
                     NetConfig *ret) {
        NetConfig c = {
                .mode = DEVICE_SOCKET_SERVER,
                .backend = NET_BACKEND_LOOPBACK,
                .mtu = NET_MTU_DEFAULT,
                .pairs = 1,
                .poll = NET_POLL_OFF,
                .poll_usec = NET_POLL_USEC_DEFAULT,
        };
        bool mac_set = false, poll_usec_set = false;
        const char *p = spec ? spec : "";
        int r = 0;

        for (;;) {
                _cleanup_free_ char *item = next_item(&p);
                const char *key, *v;
                char *eq;
                uint64_t u;

                if (!item) {
                        if (*p) {
                                r = log_oom();
                                goto fail;
                        }
                        break;
                }
                if (!item[0])
                        continue;
                eq = strchr(item, '=');
                if (!eq) {
                        r = net_usage_error("%s: '%s': expected KEY=VALUE (keys: %s)", what, item, net_keys);
                        goto fail;
                }
                *eq = 0;
                key = item;
                v = eq + 1;

                if (strcmp(key, "id") == 0) {
                        if (!id_valid(v)) {
                                r = net_usage_error("%s: id=%s: must be 1..%d characters of [A-Za-z0-9_.-]", what,
                                                    v, BLK_ID_MAX);
                                goto fail;
                        }
                        r = set_str(&c.id, v);
                } else if (strcmp(key, "socket") == 0) {
                        if (!v[0] || strlen(v) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                                r = net_usage_error("%s: socket=%s: must be a path shorter than %zu bytes", what,
                                                    v, sizeof(((struct sockaddr_un *) NULL)->sun_path));
                                goto fail;
                        }
                        r = set_str(&c.socket, v);
                } else if (strcmp(key, "mode") == 0) {
                        if (strcmp(v, "server") == 0)
                                c.mode = DEVICE_SOCKET_SERVER;
                        else if (strcmp(v, "client") == 0)
                                c.mode = DEVICE_SOCKET_CLIENT;
                        else {
                                r = net_usage_error("%s: mode=%s: must be server or client", what, v);
                                goto fail;
                        }
                } else if (strcmp(key, "backend") == 0) {
                        if (strcmp(v, "loopback") == 0)
                                c.backend = NET_BACKEND_LOOPBACK;
                        else if (strcmp(v, "tap") == 0)
                                c.backend = NET_BACKEND_TAP;
                        else {
                                r = net_usage_error("%s: backend=%s: must be loopback or tap", what, v);
                                goto fail;
                        }
                } else if (strcmp(key, "tap") == 0) {
                        if (!ifname_valid(v)) {
                                r = net_usage_error("%s: tap=%s: must be an interface name of 1..%d characters "
                                                    "without '/', ':' or blanks",
                                                    what, v, IFNAMSIZ - 1);
                                goto fail;
                        }
                        r = set_str(&c.tap, v);
                } else if (strcmp(key, "mac") == 0) {
                        r = parse_mac(v, c.mac);
                        if (r < 0) {
                                r = net_usage_error("%s: mac=%s: %s", what, v,
                                                    r == -EADDRNOTAVAIL
                                                            ? "a multicast address (lowest bit of the first byte "
                                                              "set) cannot be a NIC's address"
                                                            : "must be six hex bytes like 52:54:00:12:34:56");
                                goto fail;
                        }
                        mac_set = true;
                } else if (strcmp(key, "mtu") == 0) {
                        if (parse_uint(v, NET_MTU_MAX, &u) < 0 || u < NET_MTU_MIN) {
                                r = net_usage_error("%s: mtu=%s: must be %u..%u", what, v, NET_MTU_MIN,
                                                    NET_MTU_MAX);
                                goto fail;
                        }
                        c.mtu = (unsigned int) u;
                } else if (strcmp(key, "queues") == 0) {
                        if (parse_uint(v, NET_PAIRS_MAX, &u) < 0 || u < 1) {
                                r = net_usage_error("%s: queues=%s: must be 1..%u queue pairs", what, v,
                                                    NET_PAIRS_MAX);
                                goto fail;
                        }
                        c.pairs = (unsigned int) u;
                } else if (strcmp(key, "poll") == 0) {
                        if (strcmp(v, "off") == 0)
                                c.poll = NET_POLL_OFF;
                        else if (strcmp(v, "adaptive") == 0)
                                c.poll = NET_POLL_ADAPTIVE;
                        else if (strcmp(v, "busy") == 0)
                                c.poll = NET_POLL_BUSY;
                        else {
                                r = net_usage_error("%s: poll=%s: must be off, adaptive or busy", what, v);
                                goto fail;
                        }
                } else if (strcmp(key, "poll-usec") == 0) {
                        if (parse_uint(v, NET_POLL_USEC_MAX, &u) < 0 || u < 1) {
                                r = net_usage_error("%s: poll-usec=%s: must be 1..%u microseconds", what, v,
                                                    NET_POLL_USEC_MAX);
                                goto fail;
                        }
                        c.poll_usec = u;
                        poll_usec_set = true;
                } else {
                        r = net_usage_error("%s: unknown key '%s' (keys: %s)", what, key, net_keys);
                        goto fail;
                }
                if (r < 0)
                        goto fail;
        }

        if (c.tap && c.backend != NET_BACKEND_TAP) {
                r = net_usage_error("%s: tap=%s: only with backend=tap", what, c.tap);
                goto fail;
        }
        if (poll_usec_set && c.poll == NET_POLL_OFF)
                c.poll = NET_POLL_ADAPTIVE; /* a window only means something to adaptive polling */

        if (!c.id) {
                char buf[32];

                snprintf(buf, sizeof(buf), "net%u", index);
                r = set_str(&c.id, buf);
                if (r < 0)
                        goto fail;
        }
        if (!c.socket) {
                if (!runtime_dir) {
                        r = net_usage_error("%s: socket= not given and there is no runtime directory "
                                            "(--runtime-dir)",
                                            what);
                        goto fail;
                }
                if (asprintf(&c.socket, "%s/%s.sock", runtime_dir, c.id) < 0) {
                        c.socket = NULL;
                        r = log_oom();
                        goto fail;
                }
                if (strlen(c.socket) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                        r = net_usage_error("%s: socket %s (from the runtime directory) is too long for a unix "
                                            "socket; give socket=",
                                            what, c.socket);
                        goto fail;
                }
        }
        if (!mac_set)
                default_mac(c.id, c.mac);

        *ret = c;
        return 0;

fail:
        net_config_done(&c);
        return r;
}
