/* Rate limits for provokable log lines, and their summary line. */
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
#include "loop.h"
#include "ratelimit.h"

static void
test_window(void **state)
{
	struct ratelimit rl;
	int i, ok = 0;

	(void)state;
	ratelimit_init(&rl, 100);
	for (i = 0; i < 250; i++)
		ok += ratelimit_take(&rl, 5000 + (uint64_t)i);
	assert_int_equal(ok, 100);
	assert_int_equal(ratelimit_flush(&rl), 150);
	assert_int_equal(ratelimit_flush(&rl), 0);
	/* The next second starts afresh. */
	assert_true(ratelimit_take(&rl, 6000));
	assert_int_equal(rl.used, 1);
	/* A clock that went backwards starts a new window too. */
	assert_true(ratelimit_take(&rl, 10));
	assert_int_equal(rl.used, 1);
}

static void
stop_cb(struct loop_timer *t, void *arg)
{
	(void)t;
	loop_stop(arg);
}

/* Over the limit, the loop logs one summary a second later; detach logs
 * what is still counted. */
static void
test_summary(void **state)
{
	char path[] = "/tmp/test_ratelimit.XXXXXX";
	struct loop *lp = loop_new();
	struct loop_timer stop;
	struct ratelimit rl;
	char buf[4096];
	int fd, i, ok = 0;

	(void)state;
	assert_non_null(lp);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(log_open(path, LOG_FORMAT_TEXT), 0);
	ratelimit_init(&rl, 3);
	ratelimit_attach(&rl, lp, "dns.suppressed", "dns.deny");
	for (i = 0; i < 10; i++)
		ok += ratelimit_ok(&rl);
	assert_int_equal(ok, 3);
	loop_timer_init(&stop, stop_cb, lp);
	loop_timer_set(lp, &stop, 1300);
	assert_int_equal(loop_run(lp), 0);
	/* 1.3 s on, a new window: 3 more pass, 2 are counted for detach. */
	for (i = 0, ok = 0; i < 5; i++)
		ok += ratelimit_ok(&rl);
	assert_int_equal(ok, 3);
	ratelimit_detach(&rl);
	log_close();
	loop_free(lp);

	readback(fd, path, buf, sizeof(buf));
	assert_non_null(strstr(buf, " event=dns.suppressed of=dns.deny count=7\n"));
	assert_non_null(strstr(buf, " event=dns.suppressed of=dns.deny count=2\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
