/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Implementation of log.h: a threshold, a journal-or-terminal prefix choice
 * made once at start, and one write per line so that concurrent writers
 * (the I/O threads never log, but a future one might) do not interleave.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static int use_prefix = 0;

static const char *const level_names[] = {
        [LOG_ERR] = "err",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_get_max_level(void) {
        return max_level;
}

void log_set_max_level(int level) {
        if (level < LOG_ERR)
                level = LOG_ERR;
        if (level > LOG_DEBUG)
                level = LOG_DEBUG;
        max_level = level;
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (level_names[i] && strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level >= 0 && (size_t) level < ELEMENTSOF(level_names) && level_names[level])
                return level_names[level];
        return "info";
}

void log_open(void) {
        /* systemd sets JOURNAL_STREAM when stderr goes to the journal. */
        use_prefix = getenv("JOURNAL_STREAM") != NULL;
}

int log_internalv(int level, int error, const char *format, va_list ap) {
        int saved = errno;
        char buf[2048];
        int n = 0;

        if (error < 0)
                error = -error;
        if (level > max_level) {
                errno = saved;
                return -error;
        }
        if (error > 0)
                errno = error;

        if (use_prefix)
                n = snprintf(buf, sizeof(buf), "<%d>", level);
        else
                n = snprintf(buf, sizeof(buf), "vu-sidecar: ");
        if (n < 0)
                n = 0;
        int m = vsnprintf(buf + n, sizeof(buf) - (size_t) n - 1, format, ap);
        if (m < 0)
                m = 0;
        n += m;
        if ((size_t) n > sizeof(buf) - 2)
                n = (int) sizeof(buf) - 2;
        buf[n++] = '\n';
        (void) !write(STDERR_FILENO, buf, (size_t) n);

        errno = saved;
        return -error;
}

int log_internal(int level, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_internalv(level, error, format, ap);
        va_end(ap);
        return r;
}
