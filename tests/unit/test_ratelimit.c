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

/*
 * A tracked limiter writes, over the budget, the first line of each key in
 * an interval: the one other destination after a flood of one is written,
 * the flooded one is not again; a flood of distinct keys writes at most
 * RATELIMIT_KEYS lines more an interval; the next interval starts afresh.
 */
static void
test_keys(void **state)
{
	struct ratelimit rl;
	uint64_t t = 100000;
	uint32_t key;
	int i, ok = 0;

	(void)state;
	ratelimit_init(&rl, 100);
	assert_int_equal(ratelimit_track(&rl, sizeof(key)), 0);
	key = 1;
	for (i = 0; i < 400; i++)
		ok += ratelimit_take_key(&rl, &key, sizeof(key), t);
	assert_int_equal(ok, 100);
	key = 2;
	assert_true(ratelimit_take_key(&rl, &key, sizeof(key), t));
	assert_false(ratelimit_take_key(&rl, &key, sizeof(key), t));
	key = 1;
	assert_false(ratelimit_take_key(&rl, &key, sizeof(key), t));
	/* untracked takes stay within the budget */
	assert_false(ratelimit_take(&rl, t));
	assert_int_equal(ratelimit_flush(&rl), 300 + 3);
	/* A second later the budget is back, the keys are still seen. */
	key = 1;
	assert_true(ratelimit_take_key(&rl, &key, sizeof(key), t + 1000));
	/* A flood of distinct keys: new keys up to the bound (the 99 left in
	 * the budget among them, as every line's key is recorded), then
	 * suppressed. Keys 1 and 2 were already seen. */
	ok = 0;
	for (uint32_t k = 1000; k < 1000 + 3 * RATELIMIT_KEYS; k++)
		ok += ratelimit_take_key(&rl, &k, sizeof(k), t + 1500);
	assert_int_equal(ok, RATELIMIT_KEYS - 2);
	key = 3;
	assert_false(ratelimit_take_key(&rl, &key, sizeof(key), t + 1500));
	/* The next interval: every key is new again. */
	t += RATELIMIT_KEY_INTERVAL_MS;
	for (i = 0; i < 100; i++)
		ratelimit_take(&rl, t);
	key = 3;
	assert_true(ratelimit_take_key(&rl, &key, sizeof(key), t));
	key = 1000;
	assert_true(ratelimit_take_key(&rl, &key, sizeof(key), t));
	assert_false(ratelimit_take_key(&rl, &key, sizeof(key), t));
	/* Keys longer than tracked count by their first bytes. */
	{
		uint8_t a[8] = {9, 9, 9, 9, 1}, b[8] = {9, 9, 9, 9, 2};

		assert_true(ratelimit_take_key(&rl, a, sizeof(a), t));
		assert_false(ratelimit_take_key(&rl, b, sizeof(b), t));
	}
	ratelimit_untrack(&rl);
	/* Untracked, a key is just a take. */
	assert_false(ratelimit_take_key(&rl, &key, sizeof(key), t));
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
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
