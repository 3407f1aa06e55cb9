/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's logging: one stderr line per message, filtered by the
 * --log-level threshold. Under systemd (JOURNAL_STREAM set) each line
 * carries a "<N>" syslog prefix so the journal keeps the priority; on a
 * terminal the lines stay plain. The *_errno() forms take a negative errno,
 * make it available to %m, and return it so error paths stay one line.
 */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

/* Current threshold (a syslog priority: LOG_ERR … LOG_DEBUG). */
int log_get_max_level(void);
void log_set_max_level(int level);

/* "err"/"error", "warning", "notice", "info", "debug" → syslog priority; -EINVAL otherwise. */
int log_level_from_string(const char *s);
/* The inverse; "info" for anything unknown. Static storage. */
const char *log_level_to_string(int level);

/* Set up the prefix mode from the environment (JOURNAL_STREAM). */
void log_open(void);

/*
 * Log @format at @level. If @error is non-zero, errno is set to its absolute
 * value first so %m names it. Returns -abs(@error) (0 stays 0).
 */
int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);
int log_internalv(int level, int error, const char *format, va_list ap) _printf_(3, 0);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_internal(LOG_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_internal(LOG_WARNING, (error), __VA_ARGS__)
#define log_notice_errno(error, ...) log_internal(LOG_NOTICE, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_internal(LOG_DEBUG, (error), __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)

/* For allocation failures: logs and returns -ENOMEM. */
#define log_oom() log_internal(LOG_ERR, ENOMEM, "Out of memory.")
