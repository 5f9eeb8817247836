/*
 * Event lines in logfmt or JSON, written with one write() per sink so that
 * concurrent writers to the same file never interleave within a line.
 *
 * Most values come from the network (query names, addresses), so every
 * value is escaped byte by byte and every append is bounded: a value that
 * does not fit is cut, the line is marked truncated, and it still ends with
 * its closing quote, brace and newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/*
 * Room kept free at the end of every line for what logline_end appends:
 * the truncation marker, the closing brace and the newline. Fields are
 * written only into the space before it, so ending a line never fails.
 */
#define LOG_TRUNC_TEXT " truncated=true"
#define LOG_TRUNC_JSON ",\"truncated\":true"
#define LOG_RESERVE (sizeof(LOG_TRUNC_JSON) + 2)
#define LOG_FIELD_END (LOG_LINE_MAX - LOG_RESERVE)

static struct {
	int fd; /* the log file, -1 when none */
	enum log_format format;
	enum log_level min;
	const char *ident;
	struct log_line line;    /* the process-wide buffer of log_begin */
	struct log_line discard; /* handed out for levels below min */
} logstate = {
    .fd = -1,
    .format = LOG_FORMAT_TEXT,
    .min = LOGL_INFO,
    .ident = "namegate",
};

void
log_set_ident(const char *ident)
{
	logstate.ident = ident;
}

const char *
log_ident(void)
{
	return logstate.ident;
}

static const char hexdigits[] = "0123456789abcdef";

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOGL_DEBUG:
		return "debug";
	case LOGL_INFO:
		return "info";
	case LOGL_WARN:
		return "warn";
	case LOGL_ERROR:
		return "error";
	}
	return "unknown";
}

void
log_fmt_time(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	time_t sec = ts->tv_sec;
	long ms = ts->tv_nsec / 1000000;
	char date[32];

	if (len == 0)
		return;
	if (ms < 0 || ms > 999)
		ms = 0;
	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "invalid-time");
		return;
	}
	snprintf(buf, len, "%s.%03ldZ", date, ms);
}

/* Appends raw bytes if they fit before the reserve; all or nothing. */
static bool
put_raw(struct log_line *l, const char *s, size_t n)
{
	if (l->truncated || l->len > LOG_FIELD_END || n > LOG_FIELD_END - l->len) {
		l->truncated = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
	return true;
}

static bool
needs_quotes(const char *v)
{
	const unsigned char *p;

	/* An empty value must still be visible as one: key="". */
	if (*v == '\0')
		return true;
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '=' || *p == '"' || *p == '\\')
			return true;
	}
	return false;
}

/*
 * The escaped form of one byte. Bytes outside printable ASCII are escaped
 * in both formats: values are raw wire bytes, not necessarily UTF-8, and an
 * escape sequence can neither break a JSON parser nor drive a terminal.
 */
static size_t
escape_byte(enum log_format format, unsigned char c, char out[8])
{
	const char *simple = NULL;

	switch (c) {
	case '"':
		simple = "\\\"";
		break;
	case '\\':
		simple = "\\\\";
		break;
	case '\n':
		simple = "\\n";
		break;
	case '\t':
		simple = "\\t";
		break;
	case '\r':
		simple = "\\r";
		break;
	default:
		break;
	}
	if (simple != NULL) {
		memcpy(out, simple, 2);
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	if (format == LOG_FORMAT_JSON) {
		memcpy(out, "\\u00", 4);
		out[4] = hexdigits[c >> 4];
		out[5] = hexdigits[c & 0xf];
		return 6;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hexdigits[c >> 4];
	out[3] = hexdigits[c & 0xf];
	return 4;
}

/*
 * Writes the value, quoted if asked, escaping every byte. When the value
 * does not fit it is cut at a whole escape sequence and the closing quote
 * is still written: room for it is kept at each step.
 */
static void
put_value(struct log_line *l, const char *v, bool quote)
{
	const unsigned char *p;
	size_t closing = quote ? 1 : 0;
	char esc[8];
	size_t n;

	if (quote && !put_raw(l, "\"", 1))
		return;
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		n = escape_byte(l->format, *p, esc);
		if (l->len + n + closing > LOG_FIELD_END) {
			l->truncated = true;
			break;
		}
		memcpy(l->buf + l->len, esc, n);
		l->len += n;
	}
	if (quote) {
		/* Always fits: the loop above kept room for it. */
		l->buf[l->len++] = '"';
	}
	l->buf[l->len] = '\0';
}

/* Separator and key; fails (marking the line) unless the key and at least
 * minval bytes of value fit, so that no key is ever left without a value. */
static bool
put_key(struct log_line *l, const char *key, size_t minval)
{
	size_t klen = strlen(key);
	size_t need, jlen = 0;
	const unsigned char *p;
	char esc[8];

	/* JSON keys go through the escaper too; count what it will write so
	 * that a key is never cut (a cut key would break the object). */
	for (p = (const unsigned char *)key; *p != '\0'; p++)
		jlen += escape_byte(LOG_FORMAT_JSON, *p, esc);
	if (l->format == LOG_FORMAT_JSON)
		need = (l->len > 1 ? 1 : 0) + jlen + 3 + minval;
	else
		need = (l->len > 0 ? 1 : 0) + klen + 1 + minval;
	if (l->truncated || l->len > LOG_FIELD_END || need > LOG_FIELD_END - l->len) {
		l->truncated = true;
		return false;
	}
	if (l->format == LOG_FORMAT_JSON) {
		if (l->len > 1)
			put_raw(l, ",", 1);
		put_value(l, key, true);
		put_raw(l, ":", 1);
	} else {
		if (l->len > 0)
			put_raw(l, " ", 1);
		put_raw(l, key, klen);
		put_raw(l, "=", 1);
	}
	return true;
}

/* The line handed out for what is not written: fields cost nothing. */
static bool
is_discard(const struct log_line *l)
{
	return l == &logstate.discard;
}

void
logline_str(struct log_line *l, const char *key, const char *value)
{
	if (is_discard(l))
		return;
	if (value == NULL)
		value = "";
	/* Two bytes: the quotes, or one byte of an unquoted value. */
	if (!put_key(l, key, 2))
		return;
	if (l->format == LOG_FORMAT_JSON)
		put_value(l, value, true);
	else
		put_value(l, value, needs_quotes(value));
}

void
logline_int(struct log_line *l, const char *key, long long value)
{
	char num[32];
	int n;

	if (is_discard(l))
		return;
	n = snprintf(num, sizeof(num), "%lld", value);
	/* A number is never cut (half a number is a wrong number): either the
	 * key and all digits fit, or neither is written. */
	if (n < 0 || !put_key(l, key, (size_t)n))
		return;
	put_raw(l, num, (size_t)n);
}

void
logline_begin(struct log_line *l, enum log_format format, const struct timespec *ts,
              enum log_level level, const char *event)
{
	char tbuf[64];

	l->format = format;
	l->len = 0;
	l->truncated = false;
	l->buf[0] = '\0';
	if (format == LOG_FORMAT_JSON)
		put_raw(l, "{", 1);
	log_fmt_time(ts, tbuf, sizeof(tbuf));
	logline_str(l, "ts", tbuf);
	logline_str(l, "level", log_level_name(level));
	logline_str(l, "event", event);
}

void
logline_end(struct log_line *l)
{
	/* The reserve guarantees room for all of this. */
	if (l->len > LOG_FIELD_END)
		l->len = LOG_FIELD_END;
	if (l->truncated) {
		const char *m = l->format == LOG_FORMAT_JSON ? LOG_TRUNC_JSON : LOG_TRUNC_TEXT;

		memcpy(l->buf + l->len, m, strlen(m));
		l->len += strlen(m);
	}
	if (l->format == LOG_FORMAT_JSON)
		l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	l->buf[l->len] = '\0';
}

int
log_open(const char *path, enum log_format format)
{
	int fd = -1;

	if (path != NULL && path[0] != '\0') {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd == -1) {
			log_warn("open log file %s", path);
			return -1;
		}
	}
	if (logstate.fd != -1)
		close(logstate.fd);
	logstate.fd = fd;
	logstate.format = format;
	return 0;
}

void
log_close(void)
{
	if (logstate.fd != -1)
		close(logstate.fd);
	logstate.fd = -1;
}

enum log_format
log_get_format(void)
{
	return logstate.format;
}

void
log_set_level(enum log_level min)
{
	logstate.min = min;
}

struct log_line *
log_discard(void)
{
	return &logstate.discard;
}

struct log_line *
log_begin(enum log_level level, const char *event)
{
	struct log_line *l = &logstate.line;
	struct timespec ts;

	if (level < logstate.min)
		return &logstate.discard;
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	logline_begin(l, logstate.format, &ts, level, event);
	return l;
}

/* A short write to a log sink has nowhere to be reported; retry on EINTR
 * and otherwise give up on this line. */
static void
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void
log_end(struct log_line *l)
{
	int saved = errno;

	if (is_discard(l))
		return;
	logline_end(l);
	write_all(STDERR_FILENO, l->buf, l->len);
	if (logstate.fd != -1)
		write_all(logstate.fd, l->buf, l->len);
	errno = saved;
}

static void vlog_msg(enum log_level level, const char *fmt, va_list ap, const char *errstr)
    __attribute__((format(printf, 2, 0)));

static void
vlog_msg(enum log_level level, const char *fmt, va_list ap, const char *errstr)
{
	char msg[LOG_LINE_MAX];
	struct log_line *l;
	int n;

	if (level < logstate.min)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");
	if (errstr != NULL) {
		size_t used = strlen(msg);

		snprintf(msg + used, sizeof(msg) - used, ": %s", errstr);
	}
	l = log_begin(level, "daemon");
	logline_str(l, "daemon", logstate.ident);
	logline_str(l, "msg", msg);
	log_end(l);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOGL_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOGL_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOGL_WARN, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOGL_WARN, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOGL_ERROR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOGL_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
