/*
 * holds: when a cache hit may skip the gate, and every event that takes
 * back what the gate acknowledged (reload, failed ALLOW, connection made or
 * lost, an ACK whose removals counter moved).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "holds.h"

static void
credit(struct holds *h, struct holds_mark *m, uint64_t sent, uint32_t ttl)
{
	struct holds_ticket t = holds_ticket(h, sent);

	holds_credit(h, m, &t, ttl);
}

static void
test_window(void **state)
{
	struct holds_mark m = {0};
	struct holds h;

	(void)state;
	holds_init(&h);
	/* a zeroed mark: never acknowledged */
	assert_false(holds_fresh(&h, &m, 0, 0));
	credit(&h, &m, 1000, 0); /* no TTL: nothing to credit */
	assert_false(holds_fresh(&h, &m, 1000, 0));
	credit(&h, &m, 1000, 120);
	assert_true(holds_fresh(&h, &m, 1000, 120));
	assert_true(holds_fresh(&h, &m, 60999, 60));
	assert_false(holds_fresh(&h, &m, 61000, 59));
	/* whole seconds: a second over the exact remainder is accepted */
	assert_true(holds_fresh(&h, &m, 50500, 71));
	assert_false(holds_fresh(&h, &m, 50500, 72));
}

static void
test_ticket_across_forget(void **state)
{
	struct holds_mark m = {0};
	struct holds_ticket t;
	struct holds h;

	(void)state;
	holds_init(&h);
	t = holds_ticket(&h, 1000);
	holds_forget(&h); /* e.g. a reload while the ALLOW was out */
	holds_credit(&h, &m, &t, 120);
	assert_false(holds_fresh(&h, &m, 1000, 120));
	/* the generation never comes back to 0, which a zeroed mark has */
	h.gen = UINT32_MAX;
	holds_forget(&h);
	assert_int_equal(h.gen, 1);
}

static void
test_removals(void **state)
{
	struct holds_mark m = {0};
	struct holds h;

	(void)state;
	holds_init(&h);
	/* the first ACK of a connection sets the baseline */
	holds_ack_removals(&h, 7);
	credit(&h, &m, 1000, 120);
	holds_ack_removals(&h, 7);
	assert_true(holds_fresh(&h, &m, 1000, 120));
	/* the gate evicted entries: everything acknowledged is forgotten */
	holds_ack_removals(&h, 8);
	assert_false(holds_fresh(&h, &m, 1000, 120));
	credit(&h, &m, 1000, 120);
	assert_true(holds_fresh(&h, &m, 1000, 120));
	/* a lost connection forgets, and the next gate's counter is new */
	holds_gate_lost(&h);
	assert_false(holds_fresh(&h, &m, 1000, 120));
	holds_ack_removals(&h, 0);
	credit(&h, &m, 1000, 120);
	holds_ack_removals(&h, 0);
	assert_true(holds_fresh(&h, &m, 1000, 120));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_ticket_across_forget),
	    cmocka_unit_test(test_removals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
