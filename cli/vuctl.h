/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What vuctl's verbs share: the parsed command line, the connection to the
 * sidecar's control socket, the exit-code contract, and the output helpers
 * (aligned tables, human numbers, JSON, Prometheus text). Each verb lives
 * in its own file and is dispatched from the table in vuctl.c.
 */
#pragma once

#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "varlink.h"
#include "vusidecar-protocol.h"

/* Exit codes (the contract probes and scripts rely on). */
enum {
        VUCTL_EXIT_OK = 0,
        VUCTL_EXIT_DAEMON = 1,  /* the daemon answered with an error, or the connection broke */
        VUCTL_EXIT_USAGE = 2,   /* bad command line */
        VUCTL_EXIT_CONNECT = 3, /* cannot reach the control socket */
};

typedef enum OutputMode {
        OUTPUT_TABLE,
        OUTPUT_JSON,
        OUTPUT_PROMETHEUS,
} OutputMode;

typedef struct Vuctl {
        char *socket_path;  /* resolved */
        const char *device; /* --device, NULL if not given */
        OutputMode output;
        int timeout_ms; /* per call */

        /* verb options (accepted anywhere on the line) */
        double watch_sec; /* stats --watch N; 0 = once */
        int64_t from;     /* dump --from; -1 = default */
        int64_t count;    /* dump --count; -1 = default */
        bool shrink;      /* resize --shrink */

        VarlinkClient *client;
        VarlinkIdl *idl; /* io.vusidecar's description, parsed when the first reply is checked */
} Vuctl;

typedef struct Verb {
        const char *name;
        const char *args; /* for help: "QUEUE [--from N] [--count M]" */
        const char *summary;
        int (*run)(Vuctl *ctx, int argc, char *argv[]);
        bool prometheus; /* -o prometheus makes sense for it */
} Verb;

/* The verbs (one file each). argv[0] is the verb's name; they return an exit code. */
int verb_status(Vuctl *ctx, int argc, char *argv[]);
int verb_stats(Vuctl *ctx, int argc, char *argv[]);
int verb_queues(Vuctl *ctx, int argc, char *argv[]);
int verb_dump(Vuctl *ctx, int argc, char *argv[]);
int verb_log(Vuctl *ctx, int argc, char *argv[]);
int verb_set(Vuctl *ctx, int argc, char *argv[]);
int verb_resize(Vuctl *ctx, int argc, char *argv[]);
int verb_reset_stats(Vuctl *ctx, int argc, char *argv[]);
int verb_monitor(Vuctl *ctx, int argc, char *argv[]);
int verb_ping(Vuctl *ctx, int argc, char *argv[]);
int verb_help(Vuctl *ctx, int argc, char *argv[]);

/* ---- talking to the sidecar (call.c) ----------------------------------- */

/* Connect if not connected. Returns an exit code; prints what to do on failure. */
int vuctl_connect(Vuctl *ctx);

/*
 * Call @method with @parameters (taken; NULL: {}) and wait for the reply.
 * On success *ret owns the reply's parameters. On a daemon error, prints
 * it in words and returns VUCTL_EXIT_DAEMON; connection trouble is
 * VUCTL_EXIT_CONNECT (cannot connect) or VUCTL_EXIT_DAEMON (broke).
 */
int vuctl_call(Vuctl *ctx, const char *method, json_object *parameters, json_object **ret);

/* A new parameters object holding "device" if --device was given. NULL on OOM. */
json_object *vuctl_device_params(const Vuctl *ctx);

/* Print a daemon error reply to a call of @method for a human: "vuctl: the sidecar has no device 'x' …". */
void vuctl_print_error(const char *method, const char *error, json_object *parameters);

/*
 * Check @reply to @method against the io.vusidecar description vuctl was built with (fields a newer
 * sidecar adds are allowed). Returns VUCTL_EXIT_OK, or VUCTL_EXIT_DAEMON after printing "the sidecar
 * sent a malformed reply …", so no verb ever reads a field of the wrong type.
 */
int vuctl_check_reply(Vuctl *ctx, const char *method, const VarlinkReply *reply);

/* Usage error: prints "vuctl: …" and a hint, returns VUCTL_EXIT_USAGE. */
int vuctl_usage_error(const char *format, ...) _printf_(1, 2);

/* Print @obj as indented JSON on stdout, one line per object if @compact. */
void vuctl_print_json(json_object *obj, bool compact);

/* ---- reading replies (output.c) ---------------------------------------- */

/* Field accessors that tolerate missing fields (a newer or older daemon). */
int64_t json_get_int(json_object *o, const char *key, int64_t def);
uint64_t json_get_uint(json_object *o, const char *key, uint64_t def);
bool json_get_bool(json_object *o, const char *key, bool def);
const char *json_get_str(json_object *o, const char *key, const char *def);
json_object *json_get(json_object *o, const char *key); /* NULL if missing or null */

/* ---- formatting (output.c) --------------------------------------------- */

/* "1.5 GiB", "512 B" into @buf; returns @buf. */
char *format_bytes(char *buf, size_t size, uint64_t bytes);
/* @bytes as parse_size() reads it back, with the largest exact suffix: "32M", "1536K", "1000". */
char *format_size_exact(char *buf, size_t size, uint64_t bytes);
/* "3d 4h 5m 6s" / "1.25s"; returns @buf. */
char *format_duration(char *buf, size_t size, uint64_t usec);
/* "2024-05-01 12:34:56" local time, "-" for 0; returns @buf. */
char *format_timestamp(char *buf, size_t size, uint64_t realtime_usec);
/* Join the strings of a JSON array with spaces into a new string ("-" if empty). */
char *format_string_array(json_object *array);

/*
 * Parse a size: bytes with an optional K, M, G, T suffix (powers of 1024,
 * "KiB" and "KB" spellings accepted too). Returns 0 or -EINVAL / -ERANGE.
 */
int parse_size(const char *s, uint64_t *ret);
/* A plain non-negative integer. Returns 0 or -EINVAL / -ERANGE. */
int parse_uint(const char *s, uint64_t *ret);
/* "on", "off", "yes", "no", "true", "false", "1", "0". Returns 0 or -EINVAL. */
int parse_bool(const char *s, bool *ret);

/* ---- tables (output.c) ------------------------------------------------- */

typedef struct Table Table;

/* A table with @n columns titled by the NULL-terminated list that follows. NULL on OOM. */
Table *table_new(size_t n, ...);
/* The same with the titles in an array of @n. */
Table *table_new_array(size_t n, const char *const *headers);
Table *table_free(Table *t);
/* Right-align column @col (numbers). */
void table_align_right(Table *t, size_t col);
/* Append one cell; rows fill left to right. */
int table_add(Table *t, const char *format, ...) _printf_(2, 3);
/* Print with columns padded to their widest cell, two spaces apart. */
void table_print(Table *t, FILE *f);

static inline void table_freep(Table **t) {
        table_free(*t);
}

/* ---- Prometheus (output.c) --------------------------------------------- */

/* "# HELP" and "# TYPE" lines once per metric name, then the sample. @labels like "device=\"blk0\"". */
void prom_sample(FILE *f, const char *name, const char *type, const char *help, const char *labels,
                 uint64_t value);
/* Forget which HELP lines were printed (between --watch rounds). */
void prom_reset(void);
