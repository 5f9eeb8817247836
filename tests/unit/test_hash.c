/* common/hash.h: FNV-1a from the seed, the fold, and the getrandom seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hash.h"

static void
test_fnv(void **state)
{
	(void)state;
	/* With seed 0 it is plain FNV-1a 64 (the published test vectors). */
	assert_true(hash_init(0) == 0xcbf29ce484222325ULL);
	assert_true(hash_bytes(hash_init(0), "a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(hash_bytes(hash_init(0), "foobar", 6) == 0x85944171f73967e8ULL);
	assert_true(hash_byte(hash_init(0), 'a') == hash_bytes(hash_init(0), "a", 1));
	assert_true(hash_final(0x123456789abcdef0ULL) ==
	            (0x123456789abcdef0ULL ^ (0x123456789abcdef0ULL >> 29)));
}

static void
test_seed(void **state)
{
	uint64_t a = 0, b = 0;
	int differ = 0;

	(void)state;
	assert_int_equal(hash_seed(&a), 0);
	assert_int_equal(hash_seed(&b), 0);
	assert_true(a != b); /* 2^-64 */
	/* Another seed, other buckets: of 64 keys, nearly all move. */
	for (uint8_t k = 0; k < 64; k++) {
		uint64_t ha = hash_final(hash_byte(hash_init(a), k)) & 8191;
		uint64_t hb = hash_final(hash_byte(hash_init(b), k)) & 8191;

		differ += ha != hb;
	}
	assert_true(differ > 56);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fnv),
	    cmocka_unit_test(test_seed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
