/* The gate's record of its set entries: an ADD never shortens an entry,
 * a line over its bound gives up its oldest entries but never one of the
 * current batch nor one another line holds, and every early removal moves
 * the removals counter on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "entrymap.h"

static struct ipset_entry
ent(uint8_t last, uint16_t port)
{
	struct ipset_entry e;

	memset(&e, 0, sizeof(e));
	e.family = AF_INET;
	e.ip[0] = 192;
	e.ip[2] = 2;
	e.ip[3] = last;
	e.proto = IPPROTO_TCP;
	e.port = port;
	return e;
}

static const uint32_t L0[] = {0}, L1[] = {1}, L01[] = {0, 1};

static void
test_never_shortens(void **state)
{
	struct entrymap *m = entrymap_new(1);
	struct ipset_entry e = ent(80, 443), other = ent(80, 80);

	assert_non_null(m);
	/* new: the TTL asked for */
	assert_int_equal(entrymap_add(m, &e, 300, L0, 1, 1000, 1), 300);
	/* a shorter TTL on the same entry: left alone */
	assert_int_equal(entrymap_add(m, &e, 2, L1, 1, 2000, 2), ENTRYMAP_HELD);
	/* a different port is another entry */
	assert_int_equal(entrymap_add(m, &other, 2, L1, 1, 2000, 2), 2);
	/* longer than what is left: sent, and what counts from now on */
	assert_int_equal(entrymap_add(m, &e, 600, L0, 1, 3000, 3), 600);
	assert_int_equal(entrymap_add(m, &e, 599, L0, 1, 3000, 3), ENTRYMAP_HELD);
	/* after it ran out, any TTL is sent again */
	assert_int_equal(entrymap_add(m, &e, 2, L0, 1, 3000 + 600 * 1000, 4), 2);
	assert_int_equal(entrymap_count(m), 2);
	assert_int_equal(entrymap_removals(m), 0);
	entrymap_free(m);
}

static void
test_trim_oldest_first(void **state)
{
	struct entrymap *m = entrymap_new(2);
	struct ipset_entry out[8], e;
	uint32_t r0;

	for (uint8_t i = 1; i <= 4; i++) {
		e = ent(i, 443);
		assert_int_equal(entrymap_add(m, &e, 300, L0, 1, 1000, i), 300);
	}
	/* refreshed: the newest now */
	e = ent(1, 443);
	assert_int_equal(entrymap_add(m, &e, 300, L0, 1, 1000, 5), 300);
	assert_int_equal(entrymap_line_count(m, 0), 4);
	r0 = entrymap_removals(m);
	assert_int_equal(entrymap_trim(m, 0, 2, 2000, 6, out, 8), 2);
	assert_int_equal(out[0].ip[3], 2);
	assert_int_equal(out[1].ip[3], 3);
	assert_int_equal(out[0].port, 443);
	assert_int_equal(out[0].family, AF_INET);
	assert_int_equal(entrymap_line_count(m, 0), 2);
	assert_int_equal(entrymap_count(m), 2);
	assert_int_not_equal(entrymap_removals(m), r0);
	/* within the bound: nothing */
	assert_int_equal(entrymap_trim(m, 0, 2, 2000, 6, out, 8), 0);
	/* outmax: stops, the caller calls again */
	for (uint8_t i = 10; i < 16; i++) {
		e = ent(i, 443);
		entrymap_add(m, &e, 300, L0, 1, 1000, 7);
	}
	assert_int_equal(entrymap_trim(m, 0, 1, 2000, 8, out, 3), 3);
	assert_int_equal(entrymap_trim(m, 0, 1, 2000, 8, out, 3), 3);
	assert_int_equal(entrymap_trim(m, 0, 1, 2000, 8, out, 3), 1);
	assert_int_equal(entrymap_line_count(m, 0), 1);
	entrymap_free(m);
}

static void
test_trim_spares_batch(void **state)
{
	struct entrymap *m = entrymap_new(3);
	struct ipset_entry out[8], e;

	e = ent(1, 443);
	entrymap_add(m, &e, 300, L0, 1, 1000, 1);
	for (uint8_t i = 2; i <= 5; i++) {
		e = ent(i, 443);
		entrymap_add(m, &e, 300, L0, 1, 1000, 9);
	}
	/* batch 9 hands out four entries: only the older one may go, and the
	 * line stays over its bound rather than cut this batch's answers */
	assert_int_equal(entrymap_trim(m, 0, 2, 2000, 9, out, 8), 1);
	assert_int_equal(out[0].ip[3], 1);
	assert_int_equal(entrymap_line_count(m, 0), 4);
	entrymap_free(m);
}

/* A line index past the ones seen so far grows the table of lines; every
 * line keeps its members and their order across it (the heads move). */
static void
test_lines_grow(void **state)
{
	static const uint32_t L200[] = {200}, L0_200[] = {0, 200};
	struct entrymap *m = entrymap_new(11);
	struct ipset_entry out[8], e;
	static const uint32_t remap[] = {1, 0};

	for (uint8_t i = 1; i <= 4; i++) {
		e = ent(i, 443);
		entrymap_add(m, &e, 300, L0, 1, 1000, 1);
		e = ent(i, 80);
		entrymap_add(m, &e, 300, L1, 1, 1000, 1);
	}
	e = ent(9, 443);
	entrymap_add(m, &e, 300, L200, 1, 1000, 2);
	e = ent(1, 443);
	entrymap_add(m, &e, 300, L0_200, 2, 1000, 3); /* 1 is line 0's newest now */
	assert_int_equal(entrymap_line_count(m, 0), 4);
	assert_int_equal(entrymap_line_count(m, 1), 4);
	assert_int_equal(entrymap_line_count(m, 200), 2);
	assert_int_equal(entrymap_trim(m, 0, 2, 2000, 4, out, 8), 2);
	assert_int_equal(out[0].ip[3], 2);
	assert_int_equal(out[1].ip[3], 3);
	assert_int_equal(entrymap_trim(m, 1, 3, 2000, 4, out, 8), 1);
	assert_int_equal(out[0].ip[3], 1);
	assert_int_equal(out[0].port, 80);
	/* two lines swap places, line 200 goes (and its entry 9, nowhere else) */
	assert_int_equal(entrymap_relines(m, remap, 2, 2), 0);
	assert_int_equal(entrymap_line_count(m, 0), 3);
	assert_int_equal(entrymap_line_count(m, 1), 2);
	assert_int_equal(entrymap_count(m), 5);
	assert_int_equal(entrymap_trim(m, 1, 1, 2000, 5, out, 8), 1);
	assert_int_equal(out[0].ip[3], 4);
	entrymap_prune(m, 1000 + 301 * 1000);
	assert_int_equal(entrymap_count(m), 0);
	assert_int_equal(entrymap_line_count(m, 0), 0);
	entrymap_free(m);
}

/* An entry this batch added for another line is spared on this one too,
 * and does not keep the older entries behind it from going. */
static void
test_trim_spares_batch_of_other_line(void **state)
{
	struct entrymap *m = entrymap_new(7);
	struct ipset_entry out[8], e;

	e = ent(1, 443);
	entrymap_add(m, &e, 300, L0, 1, 1000, 1);
	for (uint8_t i = 2; i <= 4; i++) {
		e = ent(i, 443);
		entrymap_add(m, &e, 300, L0, 1, 1000, 2);
	}
	/* batch 3 hands entry 1 out for line 1: on line 0 it stays oldest */
	e = ent(1, 443);
	entrymap_add(m, &e, 300, L1, 1, 1000, 3);
	/* 2 and 3 go (nothing else held them); 1 stays on both lines */
	assert_int_equal(entrymap_trim(m, 0, 2, 2000, 3, out, 8), 2);
	assert_int_equal(out[0].ip[3], 2);
	assert_int_equal(out[1].ip[3], 3);
	assert_int_equal(entrymap_line_count(m, 0), 2);
	assert_int_equal(entrymap_line_count(m, 1), 1);
	entrymap_free(m);
}

static void
test_shared_and_expired(void **state)
{
	struct entrymap *m = entrymap_new(4);
	struct ipset_entry out[8], e;

	/* 1 is held by both lines, 2 by line 0 only and runs out first */
	e = ent(1, 443);
	entrymap_add(m, &e, 300, L01, 2, 1000, 1);
	e = ent(2, 443);
	entrymap_add(m, &e, 5, L0, 1, 1000, 2);
	e = ent(3, 443);
	entrymap_add(m, &e, 300, L0, 1, 1000, 3);
	e = ent(4, 443);
	entrymap_add(m, &e, 300, L0, 1, 1000, 4);
	assert_int_equal(entrymap_line_count(m, 0), 4);
	assert_int_equal(entrymap_line_count(m, 1), 1);
	/* at 10 s: 2 ran out and goes quietly; 1 only stops counting for
	 * line 0, since line 1 still holds it: nothing to delete */
	assert_int_equal(entrymap_trim(m, 0, 2, 10000, 5, out, 8), 0);
	assert_int_equal(entrymap_line_count(m, 0), 2);
	assert_int_equal(entrymap_line_count(m, 1), 1);
	assert_int_equal(entrymap_count(m), 3);
	/* and its timeout is still known */
	e = ent(1, 443);
	assert_int_equal(entrymap_add(m, &e, 2, L1, 1, 10000, 6), ENTRYMAP_HELD);
	entrymap_prune(m, 1000 + 300 * 1000);
	assert_int_equal(entrymap_count(m), 0);
	assert_int_equal(entrymap_line_count(m, 0), 0);
	entrymap_free(m);
}

static void
test_forget_clear(void **state)
{
	struct entrymap *m = entrymap_new(5);
	struct ipset_entry e = ent(1, 443);
	uint32_t r;

	entrymap_add(m, &e, 300, L01, 2, 1000, 1);
	r = entrymap_removals(m);
	entrymap_forget(m, &e);
	assert_int_not_equal(entrymap_removals(m), r);
	assert_int_equal(entrymap_count(m), 0);
	assert_int_equal(entrymap_line_count(m, 0), 0);
	assert_int_equal(entrymap_line_count(m, 1), 0);
	/* forgotten: a short TTL is sent as asked */
	assert_int_equal(entrymap_add(m, &e, 2, L0, 1, 1000, 2), 2);
	r = entrymap_removals(m);
	entrymap_clear(m);
	assert_int_not_equal(entrymap_removals(m), r);
	assert_int_equal(entrymap_count(m), 0);
	entrymap_free(m);
}

static void
test_relines(void **state)
{
	struct entrymap *m = entrymap_new(6);
	static const uint32_t swap[] = {1, 0}, merge[] = {0, 0}, drop[] = {0, UINT32_MAX};
	struct ipset_entry e;

	e = ent(1, 443);
	entrymap_add(m, &e, 300, L01, 2, 1000, 1);
	e = ent(2, 443);
	entrymap_add(m, &e, 300, L0, 1, 1000, 1);
	assert_int_equal(entrymap_relines(m, swap, 2, 3), 0);
	assert_int_equal(entrymap_line_count(m, 0), 1);
	assert_int_equal(entrymap_line_count(m, 1), 2);
	assert_int_equal(entrymap_line_count(m, 2), 0);
	/* two lines become one: the shared entry counts once */
	assert_int_equal(entrymap_relines(m, merge, 2, 1), 0);
	assert_int_equal(entrymap_line_count(m, 0), 2);
	assert_int_equal(entrymap_count(m), 2);
	e = ent(3, 443);
	entrymap_add(m, &e, 300, L1, 1, 1000, 2);
	/* a line that went takes the entries only it held with it */
	assert_int_equal(entrymap_relines(m, drop, 2, 1), 0);
	assert_int_equal(entrymap_line_count(m, 0), 2);
	assert_int_equal(entrymap_count(m), 2);
	entrymap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_never_shortens),
	    cmocka_unit_test(test_trim_oldest_first),
	    cmocka_unit_test(test_lines_grow),
	    cmocka_unit_test(test_trim_spares_batch),
	    cmocka_unit_test(test_shared_and_expired),
	    cmocka_unit_test(test_trim_spares_batch_of_other_line),
	    cmocka_unit_test(test_forget_clear),
	    cmocka_unit_test(test_relines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
