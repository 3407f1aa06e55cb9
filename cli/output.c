/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuctl's output helpers: reading reply fields tolerantly (a newer or older
 * daemon may add or lack some), numbers and times for humans, aligned
 * tables, and the Prometheus text format. Also the parsers for the values
 * users type (sizes, booleans).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vuctl.h"

json_object *json_get(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return NULL;
        return v;
}

int64_t json_get_int(json_object *o, const char *key, int64_t def) {
        json_object *v = json_get(o, key);

        return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : def;
}

uint64_t json_get_uint(json_object *o, const char *key, uint64_t def) {
        json_object *v = json_get(o, key);

        return v && json_object_is_type(v, json_type_int) ? json_object_get_uint64(v) : def;
}

bool json_get_bool(json_object *o, const char *key, bool def) {
        json_object *v = json_get(o, key);

        return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : def;
}

const char *json_get_str(json_object *o, const char *key, const char *def) {
        json_object *v = json_get(o, key);

        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

char *format_bytes(char *buf, size_t size, uint64_t bytes) {
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = (double) bytes;
        size_t i = 0;

        if (bytes < 1024) {
                snprintf(buf, size, "%" PRIu64 " B", bytes);
                return buf;
        }
        v /= 1024;
        while (v >= 1024 && i + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                i++;
        }
        snprintf(buf, size, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[i]);
        return buf;
}

char *format_size_exact(char *buf, size_t size, uint64_t bytes) {
        static const char units[] = "KMGT";
        int u = -1;

        while (u + 1 < 4 && bytes != 0 && bytes % 1024 == 0) {
                bytes /= 1024;
                u++;
        }
        if (u < 0)
                snprintf(buf, size, "%" PRIu64, bytes);
        else
                snprintf(buf, size, "%" PRIu64 "%c", bytes, units[u]);
        return buf;
}

char *format_duration(char *buf, size_t size, uint64_t usec) {
        uint64_t s = usec / 1000000;

        if (s < 60)
                snprintf(buf, size, "%.2fs", (double) usec / 1e6);
        else if (s < 3600)
                snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", s / 3600, s % 3600 / 60,
                         s % 60);
        else
                snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", s / 86400, s % 86400 / 3600,
                         s % 3600 / 60);
        return buf;
}

char *format_timestamp(char *buf, size_t size, uint64_t realtime_usec) {
        time_t t = (time_t) (realtime_usec / 1000000);
        struct tm tm;

        if (realtime_usec == 0 || !localtime_r(&t, &tm) ||
            strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "-");
        return buf;
}

char *format_string_array(json_object *array) {
        char *out = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&out, &len);
        if (!f)
                return NULL;
        if (array && json_object_is_type(array, json_type_array) && json_object_array_length(array) > 0) {
                for (size_t i = 0; i < json_object_array_length(array); i++) {
                        json_object *e = json_object_array_get_idx(array, i);

                        fprintf(f, "%s%s", i ? " " : "", json_object_get_string(e));
                }
        } else
                fputs("-", f);
        if (fclose(f) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

int parse_uint(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || *end != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                unsigned shift;
        } suffixes[] = {
                {"", 0},    {"B", 0},  {"K", 10},   {"KiB", 10}, {"KB", 10}, {"M", 20},   {"MiB", 20},
                {"MB", 20}, {"G", 30}, {"GiB", 30}, {"GB", 30},  {"T", 40},  {"TiB", 40}, {"TB", 40},
        };
        unsigned long long v;
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (strcasecmp(end, suffixes[i].suffix) == 0) {
                        if (suffixes[i].shift && v > (UINT64_MAX >> suffixes[i].shift))
                                return -ERANGE;
                        *ret = (uint64_t) v << suffixes[i].shift;
                        return 0;
                }
        return -EINVAL;
}

int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no", "false",
                                                                                    "0"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* ---- tables ------------------------------------------------------------- */

struct Table {
        size_t n_columns;
        char **cells;
        size_t n_cells, allocated;
        bool *right;
};

Table *table_new(size_t n, ...) {
        Table *t;
        va_list ap;

        t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->n_columns = n;
        t->right = calloc(n, sizeof(bool));
        if (!t->right)
                return table_free(t);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++) {
                const char *h = va_arg(ap, const char *);

                if (table_add(t, "%s", h ?: "") < 0) {
                        va_end(ap);
                        return table_free(t);
                }
        }
        va_end(ap);
        return t;
}

Table *table_new_array(size_t n, const char *const *headers) {
        Table *t;

        t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->n_columns = n;
        t->right = calloc(n, sizeof(bool));
        if (!t->right)
                return table_free(t);
        for (size_t i = 0; i < n; i++)
                if (table_add(t, "%s", headers[i] ?: "") < 0)
                        return table_free(t);
        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->right);
        free(t);
        return NULL;
}

void table_align_right(Table *t, size_t col) {
        if (col < t->n_columns)
                t->right[col] = true;
}

int table_add(Table *t, const char *format, ...) {
        char *s;
        va_list ap;
        int r;

        if (t->n_cells == t->allocated) {
                size_t n = t->allocated ? t->allocated * 2 : 64;
                char **p = realloc(t->cells, n * sizeof(char *));

                if (!p)
                        return -ENOMEM;
                t->cells = p;
                t->allocated = n;
        }
        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        t->cells[t->n_cells++] = s;
        return 0;
}

/* Display width of UTF-8 text: count code points, not bytes. */
static size_t text_width(const char *s) {
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xC0) != 0x80)
                        w++;
        return w;
}

void table_print(Table *t, FILE *f) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return;
        for (size_t i = 0; i < t->n_cells; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], text_width(t->cells[i]));

        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns, pad = width[col] - text_width(t->cells[i]);
                bool last = col == t->n_columns - 1 || i == t->n_cells - 1;

                if (t->right[col])
                        fprintf(f, "%*s%s", (int) pad, "", t->cells[i]);
                else
                        fprintf(f, "%s%*s", t->cells[i], last ? 0 : (int) pad, "");
                fputs(last ? "\n" : "  ", f);
        }
}

/* ---- Prometheus --------------------------------------------------------- */

static char **prom_seen;
static size_t prom_n_seen;

void prom_reset(void) {
        for (size_t i = 0; i < prom_n_seen; i++)
                free(prom_seen[i]);
        free(prom_seen);
        prom_seen = NULL;
        prom_n_seen = 0;
}

void prom_sample(FILE *f, const char *name, const char *type, const char *help, const char *labels,
                 uint64_t value) {
        bool seen = false;

        for (size_t i = 0; i < prom_n_seen; i++)
                if (strcmp(prom_seen[i], name) == 0) {
                        seen = true;
                        break;
                }
        if (!seen) {
                char **p = realloc(prom_seen, (prom_n_seen + 1) * sizeof(char *));

                if (p) {
                        prom_seen = p;
                        prom_seen[prom_n_seen] = strdup(name);
                        if (prom_seen[prom_n_seen])
                                prom_n_seen++;
                }
                fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
        }
        if (labels && *labels)
                fprintf(f, "%s{%s} %" PRIu64 "\n", name, labels, value);
        else
                fprintf(f, "%s %" PRIu64 "\n", name, value);
}
