/* Exact bytes of log lines: format, escaping, truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "readback.h"

#include "log.h"

/* 2026-11-27T09:47:12.345Z */
static const struct timespec ts = {1795772832, 345678901};

static void
test_time(void **state)
{
	char buf[64];
	struct timespec t0 = {0, 0};

	log_fmt_time(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-27T09:47:12.345Z");
	log_fmt_time(&t0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
}

static void
test_text(void **state)
{
	struct log_line l;

	logline_begin(&l, LOG_FORMAT_TEXT, &ts, LOGL_INFO, "dns.deny");
	logline_str(&l, "name", "x.test");
	logline_str(&l, "type", "A");
	logline_str(&l, "client", "127.0.0.1");
	logline_str(&l, "rcode", "REFUSED");
	logline_int(&l, "ttl", 60);
	logline_int(&l, "neg", -5);
	logline_str(&l, "empty", "");
	logline_end(&l);
	assert_string_equal(l.buf, "ts=2026-11-27T09:47:12.345Z level=info event=dns.deny "
	                           "name=x.test type=A client=127.0.0.1 rcode=REFUSED ttl=60 "
	                           "neg=-5 empty=\"\"\n");
	assert_int_equal(l.len, strlen(l.buf));
	assert_false(l.truncated);
}

static void
test_json(void **state)
{
	struct log_line l;

	logline_begin(&l, LOG_FORMAT_JSON, &ts, LOGL_WARN, "dns.allow");
	logline_str(&l, "name", "x.test");
	logline_int(&l, "addrs", 2);
	logline_str(&l, "empty", "");
	logline_end(&l);
	assert_string_equal(l.buf, "{\"ts\":\"2026-11-27T09:47:12.345Z\",\"level\":\"warn\","
	                           "\"event\":\"dns.allow\",\"name\":\"x.test\",\"addrs\":2,"
	                           "\"empty\":\"\"}\n");
	assert_int_equal(l.len, strlen(l.buf));
}

static void
test_text_escape(void **state)
{
	struct log_line l;

	logline_begin(&l, LOG_FORMAT_TEXT, &ts, LOGL_ERROR, "e");
	logline_str(&l, "a", "say \"hi\"");
	logline_str(&l, "b", "k=v");
	logline_str(&l, "c", "line\nbreak\ttab\r");
	logline_str(&l, "d", "back\\slash");
	logline_str(&l, "e", "\x01\x1b[31m\x7f");
	logline_str(&l, "f", "caf\xc3\xa9");
	logline_str(&l, "g", "fake level=error event=x");
	logline_end(&l);
	assert_string_equal(l.buf, "ts=2026-11-27T09:47:12.345Z level=error event=e "
	                           "a=\"say \\\"hi\\\"\" b=\"k=v\" "
	                           "c=\"line\\nbreak\\ttab\\r\" d=\"back\\\\slash\" "
	                           "e=\"\\x01\\x1b[31m\\x7f\" f=\"caf\\xc3\\xa9\" "
	                           "g=\"fake level=error event=x\"\n");
	/* Whatever the values, one event is one line. */
	assert_null(memchr(l.buf, '\n', l.len - 1));
}

static void
test_json_escape(void **state)
{
	struct log_line l;

	logline_begin(&l, LOG_FORMAT_JSON, &ts, LOGL_DEBUG, "e");
	logline_str(&l, "a", "say \"hi\" k=v");
	logline_str(&l, "c", "line\nbreak\ttab");
	logline_str(&l, "d", "back\\slash");
	logline_str(&l, "e", "\x01\x7f");
	logline_str(&l, "f", "caf\xc3\xa9");
	logline_end(&l);
	assert_string_equal(l.buf, "{\"ts\":\"2026-11-27T09:47:12.345Z\",\"level\":\"debug\","
	                           "\"event\":\"e\",\"a\":\"say \\\"hi\\\" k=v\","
	                           "\"c\":\"line\\nbreak\\ttab\",\"d\":\"back\\\\slash\","
	                           "\"e\":\"\\u0001\\u007f\",\"f\":\"caf\\u00c3\\u00a9\"}\n");
}

static void
check_truncated(enum log_format format, const char *fill, const char *ending)
{
	size_t big = 3 * LOG_LINE_MAX;
	struct log_line l;
	char *v;

	v = malloc(big + 1);
	assert_non_null(v);
	for (size_t i = 0; i < big; i += strlen(fill))
		memcpy(v + i, fill, strlen(fill) < big - i ? strlen(fill) : big - i);
	v[big] = '\0';

	logline_begin(&l, format, &ts, LOGL_INFO, "e");
	logline_str(&l, "huge", v);
	logline_str(&l, "after", "x");
	logline_int(&l, "n", 7);
	logline_end(&l);
	free(v);

	assert_true(l.truncated);
	assert_true(l.len < LOG_LINE_MAX);
	assert_int_equal(l.len, strlen(l.buf));
	assert_true(l.len > strlen(ending));
	assert_memory_equal(l.buf + l.len - strlen(ending), ending, strlen(ending));
	/* Only the last byte is a newline, and the later fields were dropped
	 * rather than squeezed in half. */
	assert_null(memchr(l.buf, '\n', l.len - 1));
	assert_null(strstr(l.buf, "after"));
}

static void
test_truncate(void **state)
{
	check_truncated(LOG_FORMAT_TEXT, "abcdefg", " truncated=true\n");
	check_truncated(LOG_FORMAT_TEXT, "a b\n", "\" truncated=true\n");
	check_truncated(LOG_FORMAT_TEXT, "\x01", "\" truncated=true\n");
	check_truncated(LOG_FORMAT_JSON, "abcdefg", "\",\"truncated\":true}\n");
	check_truncated(LOG_FORMAT_JSON, "\x01\"", "\",\"truncated\":true}\n");
}

/* Fill a line field by field right up to the limit, with every length of the
 * last value, to exercise each boundary of the bound checks. */
static void
test_truncate_boundaries(void **state)
{
	char v[LOG_LINE_MAX];
	struct log_line l;
	size_t n;
	int f;

	for (f = 0; f < 2; f++) {
		for (n = 0; n < 80; n++) {
			logline_begin(&l, (enum log_format)f, &ts, LOGL_INFO, "e");
			memset(v, 'x', LOG_LINE_MAX - 120 + n);
			v[LOG_LINE_MAX - 120 + n] = '\0';
			logline_str(&l, "k", v);
			logline_int(&l, "i", 1234567);
			logline_str(&l, "q", "\n\n\n");
			logline_end(&l);
			assert_true(l.len < LOG_LINE_MAX);
			assert_int_equal(l.len, strlen(l.buf));
			assert_int_equal(l.buf[l.len - 1], '\n');
			if (f == 1)
				assert_int_equal(l.buf[l.len - 2], '}');
			assert_null(memchr(l.buf, '\n', l.len - 1));
		}
	}
}

static void
test_levels(void **state)
{
	assert_string_equal(log_level_name(LOGL_DEBUG), "debug");
	assert_string_equal(log_level_name(LOGL_INFO), "info");
	assert_string_equal(log_level_name(LOGL_WARN), "warn");
	assert_string_equal(log_level_name(LOGL_ERROR), "error");
}

/* log_begin/log_end and the file sink: the line lands in the file. */
static void
test_sink(void **state)
{
	char path[] = "/tmp/namegate-test-log-XXXXXX";
	char buf[4096];
	struct log_line *l;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(log_open(path, LOG_FORMAT_JSON), 0);
	assert_int_equal(log_get_format(), LOG_FORMAT_JSON);
	l = log_begin(LOGL_INFO, "test.event");
	logline_str(l, "k", "v");
	log_end(l);
	log_set_level(LOGL_WARN);
	l = log_begin(LOGL_INFO, "test.skipped");
	logline_str(l, "k", "v");
	log_end(l);
	log_set_ident("test-daemon");
	log_warnx("hello %d", 42);
	log_set_level(LOGL_INFO);
	assert_int_equal(log_open("/nonexistent-dir/x.log", LOG_FORMAT_TEXT), -1);
	/* The previous sink stays after a failed open. */
	assert_int_equal(log_get_format(), LOG_FORMAT_JSON);
	log_close();

	readback(fd, path, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"event\":\"test.event\",\"k\":\"v\"}\n"));
	assert_null(strstr(buf, "test.skipped"));
	assert_non_null(
	    strstr(buf, "\"event\":\"daemon\",\"daemon\":\"test-daemon\",\"msg\":\"hello 42\"}\n"));
	/* The failed open was logged through the still-open file. */
	assert_non_null(strstr(buf, "No such file or directory"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_text_escape),
	    cmocka_unit_test(test_json_escape),
	    cmocka_unit_test(test_truncate),
	    cmocka_unit_test(test_truncate_boundaries),
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
