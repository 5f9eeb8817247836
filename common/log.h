/*
 * Logging: one event per line, logfmt ("text") or JSON lines, to stderr and
 * to an optional file. Every line starts with ts, level and event.
 *
 * Formatting (logline_*) is pure and writes into a caller-owned buffer, so
 * unit tests can check the exact bytes; log_* writes the finished line.
 */
#ifndef NAMEGATE_LOG_H
#define NAMEGATE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define LOG_LINE_MAX 2048

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

struct log_line {
	enum log_format format;
	size_t len;
	bool truncated; /* set when a value did not fit; the line still ends well */
	char buf[LOG_LINE_MAX];
};

/* Pure formatting. Values are escaped: logfmt quotes values containing spaces,
 * '=', '"', '\\' or control bytes and escapes the latter as \n, \t, \xNN;
 * JSON escapes per RFC 8259. Integers are bare in both formats. */
void logline_begin(struct log_line *l, enum log_format format, const struct timespec *ts,
                   enum log_level level, const char *event);
void logline_str(struct log_line *l, const char *key, const char *value);
void logline_int(struct log_line *l, const char *key, long long value);
void logline_end(struct log_line *l); /* appends the closing brace (JSON) and '\n' */

/* ts formatted as RFC 3339 UTC with milliseconds: 2026-11-27T09:47:12.345Z */
void log_fmt_time(const struct timespec *ts, char *buf, size_t len);
const char *log_level_name(enum log_level level);

/* Output. Before log_open, lines go to stderr in text format. The file is
 * opened O_APPEND|O_CLOEXEC, mode 0644, so concurrent writers never interleave
 * within a line. log_open may be called again (reload, SIGHUP) to switch
 * file or format; on failure the previous sink stays and -1 is returned. */
int log_open(const char *path, enum log_format format);
void log_close(void);
enum log_format log_get_format(void);
void log_set_level(enum log_level min); /* default LOGL_INFO */
/* Both daemons may write one file: lines about a daemon itself (daemon,
 * config.*) carry daemon=<ident>. The string must outlive the process. */
void log_set_ident(const char *ident);
const char *log_ident(void);

/* Start an event line in the process-wide buffer (not reentrant; one thread
 * per process), add fields with logline_str/int, then log_end writes it. */
struct log_line *log_begin(enum log_level level, const char *event);
void log_end(struct log_line *l);
/* A line that log_end drops: for a caller that decided not to log this
 * event (rate limit) but fills its lines in one place. */
struct log_line *log_discard(void);

/* Daemon diagnostics, as events: event=daemon msg="...". log_warn appends
 * ": strerror(errno)". fatal/fatalx log at error level and exit(1). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
