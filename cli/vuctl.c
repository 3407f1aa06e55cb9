/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl: the command-line client of vu-sidecar's control socket. This file
 * parses the options every verb shares, finds the socket, and dispatches to
 * the verb's own file through the table below; `vuctl help` prints it.
 * Options are accepted before or after the verb.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vuctl.h"

static const Verb verbs[] = {
        {"status", "", "identity, sockets, frontend, negotiated features, memory", verb_status, false},
        {"stats", "[--watch N]", "counters per queue and device (rates per second with --watch)", verb_stats,
         true},
        {"queues", "", "the state of every virtqueue", verb_queues, false},
        {"dump", "QUEUE [--from N] [--count M]", "descriptor table, avail and used rings of a queue",
         verb_dump, false},
        {"log", "", "migration dirty-log state", verb_log, false},
        {"set", "KEY VALUE...", "change log-level, read-only, iops, bps, poll (µs, or off), link (net)",
         verb_set, false},
        {"resize", "[--shrink] SIZE", "change a block device's capacity (K/M/G/T suffixes)", verb_resize,
         false},
        {"reset-stats", "", "zero the counters", verb_reset_stats, false},
        {"monitor", "", "print events as they happen, until ^C", verb_monitor, false},
        {"ping", "", "exit 0 if the sidecar answers (for probes)", verb_ping, false},
        {"help", "", "this text", verb_help, false},
};

static void help(FILE *f) {
        fprintf(f, "Usage: vuctl [OPTIONS] VERB [ARGS…]\n"
                   "Look inside a running vu-sidecar and reconfigure it, through its control socket.\n"
                   "\n"
                   "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char head[64];

                snprintf(head, sizeof(head), "%s %s", verbs[i].name, verbs[i].args);
                fprintf(f, "  %-34s %s\n", head, verbs[i].summary);
        }
        fprintf(f, "\n"
                   "Options:\n"
                   "  -s, --socket PATH     control socket (default: $VUCTL_SOCKET, else the sidecar's "
                   "default,\n"
                   "                        RUNTIME_DIR/control.sock)\n"
                   "  -d, --device ID       the device to address (needed when the sidecar serves several)\n"
                   "  -o, --output FORMAT   table (default), json, prometheus (stats)\n"
                   "  -j, --json            same as --output json\n"
                   "  -w, --watch N         stats: refresh every N seconds, showing totals and rates\n"
                   "      --from N          dump: first descriptor (default 0; inside the ring)\n"
                   "      --count M         dump: descriptors to show (1 to 1024, default 16)\n"
                   "      --shrink          resize: allow a size below the current one (destroys the\n"
                   "                        data past the new end)\n"
                   "  -t, --timeout SEC     how long to wait for an answer (default 10)\n"
                   "  -h, --help            this text\n"
                   "      --version         vuctl's version\n"
                   "\n"
                   "set keys: log-level err|warning|notice|info|debug, read-only on|off, iops N,\n"
                   "          bps N[K|M|G] (powers of 1024, as --blk bps= takes), poll USEC|off,\n"
                   "          link up|down (net devices)\n"
                   "Exit status: 0 ok, 1 the sidecar reported an error, 2 bad usage, 3 cannot connect.\n"
                   "See vuctl(1) and vu-sidecar-control(7).\n");
}

int verb_help(Vuctl *ctx, int argc, char *argv[]) {
        help(stdout);
        return VUCTL_EXIT_OK;
}

static int parse_number_option(const char *opt, const char *arg, int64_t min, int64_t max, int64_t *ret) {
        uint64_t v;

        if (parse_uint(arg, &v) < 0 || v < (uint64_t) min || v > (uint64_t) max)
                return vuctl_usage_error("%s takes a number from %" PRIi64 " to %" PRIi64 ", not '%s'", opt,
                                         min, max, arg);
        *ret = (int64_t) v;
        return 0;
}

static bool looks_negative(const char *arg) {
        return arg[0] == '-' && ((arg[1] >= '0' && arg[1] <= '9') || arg[1] == '.');
}

/* Options whose value is the next argument when not given with '=' (or attached, for short ones). */
static bool takes_value(const char *arg) {
        static const char *const with_value[] = {"-s",      "-d",        "-o",       "-w",
                                                 "-t",      "--socket",  "--device", "--output",
                                                 "--watch", "--timeout", "--from",   "--count"};

        for (size_t i = 0; i < ELEMENTSOF(with_value); i++)
                if (strcmp(arg, with_value[i]) == 0)
                        return true;
        return false;
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_FROM, ARG_COUNT, ARG_SHRINK };
        static const struct option options[] = {
                {"socket", required_argument, NULL, 's'},      {"device", required_argument, NULL, 'd'},
                {"output", required_argument, NULL, 'o'},      {"json", no_argument, NULL, 'j'},
                {"watch", required_argument, NULL, 'w'},       {"from", required_argument, NULL, ARG_FROM},
                {"count", required_argument, NULL, ARG_COUNT}, {"shrink", no_argument, NULL, ARG_SHRINK},
                {"timeout", required_argument, NULL, 't'},     {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},   {}};
        Vuctl ctx = {
                .output = OUTPUT_TABLE,
                .timeout_ms = 10000,
                .from = -1,
                .count = -1,
        };
        const char *socket_arg = NULL;
        const Verb *verb = NULL;
        _cleanup_free_ char **hidden = NULL, *placeholders = NULL;
        int c, r;

        /*
         * Options go before or after the verb, so getopt would take a value like the -1 in
         * "set iops -1" for an option and say "unknown option". No option of ours starts with a
         * digit: such arguments are values, hidden from getopt behind a placeholder and put back
         * after it, so the verb judges them ("iops takes a number …, not '-1'").
         */
        /* getopt moves arguments around: each placeholder is its own "0" string, found again by its
         * address. */
        hidden = calloc(argc > 0 ? (size_t) argc : 1, sizeof(char *));
        placeholders = calloc(argc > 0 ? (size_t) argc : 1, 2);
        if (!hidden || !placeholders) {
                fprintf(stderr, "vuctl: out of memory\n");
                return VUCTL_EXIT_DAEMON;
        }
        for (int i = 1; i < argc; i++)
                if (looks_negative(argv[i]) && !takes_value(argv[i - 1])) {
                        placeholders[2 * i] = '0';
                        hidden[i] = argv[i];
                        argv[i] = placeholders + 2 * i;
                }

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":s:d:o:jw:t:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        if (!*optarg)
                                return vuctl_usage_error(
                                        "--socket needs a path (the sidecar's control socket)");
                        socket_arg = optarg;
                        break;
                case 'd':
                        if (!*optarg || strlen(optarg) > 32)
                                return vuctl_usage_error(
                                        "--device takes a device id of 1 to 32 characters, not '%s'",
                                        optarg);
                        ctx.device = optarg;
                        break;
                case 'o':
                        if (strcmp(optarg, "table") == 0)
                                ctx.output = OUTPUT_TABLE;
                        else if (strcmp(optarg, "json") == 0)
                                ctx.output = OUTPUT_JSON;
                        else if (strcmp(optarg, "prometheus") == 0)
                                ctx.output = OUTPUT_PROMETHEUS;
                        else
                                return vuctl_usage_error(
                                        "--output takes table, json or prometheus, not '%s'", optarg);
                        break;
                case 'j':
                        ctx.output = OUTPUT_JSON;
                        break;
                case 'w': {
                        char *end;

                        errno = 0;
                        ctx.watch_sec = strtod(optarg, &end);
                        if (errno != 0 || *end != 0 || end == optarg || !(ctx.watch_sec >= 0.1) ||
                            ctx.watch_sec > 86400)
                                return vuctl_usage_error("--watch takes seconds from 0.1 to 86400, not '%s'",
                                                         optarg);
                        break;
                }
                case ARG_FROM:
                        if (parse_number_option("--from", optarg, 0, 65535, &ctx.from) != 0)
                                return VUCTL_EXIT_USAGE;
                        break;
                case ARG_COUNT:
                        if (parse_number_option("--count", optarg, 1, 1024, &ctx.count) != 0)
                                return VUCTL_EXIT_USAGE;
                        break;
                case 't': {
                        int64_t t;

                        if (parse_number_option("--timeout", optarg, 0, 3600, &t) != 0)
                                return VUCTL_EXIT_USAGE;
                        ctx.timeout_ms = t == 0 ? -1 : (int) t * 1000;
                        break;
                }
                case ARG_SHRINK:
                        ctx.shrink = true;
                        break;
                case 'h':
                        help(stdout);
                        return VUCTL_EXIT_OK;
                case ARG_VERSION:
                        printf("vuctl %s\n", VUSIDECAR_VERSION);
                        return VUCTL_EXIT_OK;
                case ':':
                        return vuctl_usage_error("option '%s' needs a value", argv[optind - 1]);
                default:
                        return vuctl_usage_error("unknown option '%s'", argv[optind - 1]);
                }
        }

        /* Put the hidden values back where getopt left their placeholders. */
        for (int j = 1; j < argc; j++)
                for (int i = 1; i < argc; i++)
                        if (hidden[i] && argv[j] == placeholders + 2 * i)
                                argv[j] = hidden[i];

        if (optind >= argc) {
                help(stderr);
                return VUCTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0) {
                        verb = &verbs[i];
                        break;
                }
        if (!verb)
                return vuctl_usage_error("unknown verb '%s'", argv[optind]);
        if (verb->run == verb_help)
                return verb_help(&ctx, argc - optind, argv + optind);
        if (ctx.output == OUTPUT_PROMETHEUS && !verb->prometheus)
                return vuctl_usage_error("'%s' has no prometheus output (json or table)", verb->name);
        if (ctx.watch_sec > 0 && verb->run != verb_stats)
                return vuctl_usage_error("--watch only applies to 'stats'");
        if ((ctx.from >= 0 || ctx.count >= 0) && verb->run != verb_dump)
                return vuctl_usage_error("--from and --count only apply to 'dump'");
        if (ctx.shrink && verb->run != verb_resize)
                return vuctl_usage_error("--shrink only applies to 'resize'");

        if (socket_arg)
                ctx.socket_path = strdup(socket_arg);
        else if (getenv("VUCTL_SOCKET") && *getenv("VUCTL_SOCKET"))
                ctx.socket_path = strdup(getenv("VUCTL_SOCKET"));
        else {
                r = varlink_default_control_path(&ctx.socket_path);
                if (r == -ENXIO) {
                        fprintf(stderr,
                                "vuctl: no control socket to use: not root and $XDG_RUNTIME_DIR is unset — "
                                "pass --socket PATH or set $VUCTL_SOCKET\n");
                        return VUCTL_EXIT_USAGE;
                }
        }
        if (!ctx.socket_path) {
                fprintf(stderr, "vuctl: out of memory\n");
                return VUCTL_EXIT_DAEMON;
        }

        r = verb->run(&ctx, argc - optind, argv + optind);

        varlink_client_free(ctx.client);
        varlink_idl_free(ctx.idl);
        free(ctx.socket_path);
        prom_reset();
        if (fflush(stdout) != 0 && r == VUCTL_EXIT_OK)
                r = VUCTL_EXIT_DAEMON;
        return r;
}
