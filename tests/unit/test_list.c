/* common/list.h: order, removal during a walk, the unlinked state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "list.h"

struct item {
	int v;
	struct list_node link;
};

static int
values(const struct list *l, int *out, int max)
{
	struct list_node *n, *tmp;
	int k = 0;

	list_for_each_safe(n, tmp, l)
	{
		if (k < max)
			out[k] = list_entry(n, struct item, link)->v;
		k++;
	}
	return k;
}

static void
test_order(void **state)
{
	struct item it[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
	struct list l;
	int got[8];

	(void)state;
	list_init(&l);
	assert_true(list_empty(&l));
	assert_null(list_first(&l));
	assert_null(list_last(&l));
	list_push_back(&l, &it[1].link);
	list_push_back(&l, &it[2].link);
	list_push_front(&l, &it[0].link);
	list_push_back(&l, &it[3].link);
	assert_false(list_empty(&l));
	assert_int_equal(values(&l, got, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(got[i], i);
	assert_ptr_equal(list_first(&l), &it[0].link);
	assert_ptr_equal(list_last(&l), &it[3].link);
	assert_ptr_equal(list_next(&l, &it[0].link), &it[1].link);
	assert_null(list_next(&l, &it[3].link));
	assert_ptr_equal(list_prev(&l, &it[1].link), &it[0].link);
	assert_null(list_prev(&l, &it[0].link));
	assert_ptr_equal(list_entry(list_last(&l), struct item, link), &it[3]);
}

static void
test_remove_while_walking(void **state)
{
	struct item it[5];
	struct list_node *n, *tmp;
	struct list l;
	int got[8], k;

	(void)state;
	list_init(&l);
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		list_push_back(&l, &it[i].link);
	}
	list_for_each_safe(n, tmp, &l)
	{
		if (list_entry(n, struct item, link)->v % 2 == 0)
			list_remove(n);
	}
	k = values(&l, got, 8);
	assert_int_equal(k, 2);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 3);
	assert_false(list_linked(&it[0].link));
	assert_true(list_linked(&it[1].link));
	/* Removing an unlinked node again changes nothing. */
	list_remove(&it[0].link);
	assert_int_equal(values(&l, got, 8), 2);
	list_remove(&it[1].link);
	list_remove(&it[3].link);
	assert_true(list_empty(&l));
}

static void
test_move_back(void **state)
{
	struct item it[3] = {{.v = 0}, {.v = 1}, {.v = 2}};
	struct item fresh = {.v = 9};
	struct list l;
	int got[8];

	(void)state;
	list_init(&l);
	for (int i = 0; i < 3; i++)
		list_push_back(&l, &it[i].link);
	list_move_back(&l, &it[0].link);
	assert_int_equal(values(&l, got, 8), 3);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 2);
	assert_int_equal(got[2], 0);
	/* An initialised, unlinked node may be moved in too. */
	list_node_init(&fresh.link);
	assert_false(list_linked(&fresh.link));
	list_move_back(&l, &fresh.link);
	assert_int_equal(values(&l, got, 8), 4);
	assert_int_equal(got[3], 9);
}

/* Splicing keeps the order, empties the source, and hands a list from a
 * head about to move (a growing array) to another. */
static void
test_splice_back(void **state)
{
	struct item it[5] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}, {.v = 4}};
	struct list a, b, *heads;
	int got[8];

	(void)state;
	list_init(&a);
	list_init(&b);
	list_splice_back(&a, &b); /* both empty */
	assert_true(list_empty(&a));
	list_push_back(&a, &it[0].link);
	list_push_back(&b, &it[1].link);
	list_push_back(&b, &it[2].link);
	list_splice_back(&a, &b);
	assert_true(list_empty(&b));
	assert_int_equal(values(&a, got, 8), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(got[i], i);
	list_splice_back(&a, &b); /* an empty source changes nothing */
	assert_int_equal(values(&a, got, 8), 3);
	heads = malloc(2 * sizeof(*heads));
	assert_non_null(heads);
	list_init(&heads[0]);
	list_init(&heads[1]);
	list_splice_back(&heads[1], &a);
	list_push_back(&heads[1], &it[3].link);
	list_push_front(&heads[0], &it[4].link);
	list_splice_back(&a, &heads[1]);
	list_splice_back(&b, &heads[0]);
	free(heads);
	assert_int_equal(values(&a, got, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(got[i], i);
	assert_ptr_equal(list_last(&a), &it[3].link);
	assert_ptr_equal(list_prev(&a, &it[0].link), NULL);
	assert_int_equal(values(&b, got, 8), 1);
	assert_int_equal(got[0], 4);
	list_remove(&it[4].link);
	assert_true(list_empty(&b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_remove_while_walking),
	    cmocka_unit_test(test_move_back),
	    cmocka_unit_test(test_splice_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
