/* Name normalization and whole-label pattern matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"

static void
check_norm(const char *in, const char *want)
{
	char out[NAME_MAX_LEN + 1];
	const char *err = NULL;

	if (name_normalize(in, out, &err) != 0)
		fail_msg("rejected \"%s\": %s", in, err);
	assert_string_equal(out, want);
}

static void
check_norm_bad(const char *in)
{
	char out[NAME_MAX_LEN + 1];
	const char *err = NULL;

	if (name_normalize(in, out, &err) != -1)
		fail_msg("accepted \"%s\"", in);
	assert_non_null(err);
}

/* A name of n bytes made of labels of at most lablen bytes. */
static void
make_name(char *buf, size_t n, size_t lablen)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		if (run == lablen && i + 1 < n) {
			buf[i] = '.';
			run = 0;
		} else {
			buf[i] = 'a';
			run++;
		}
	}
	buf[n] = '\0';
}

static void
test_normalize(void **state)
{
	char name[NAME_MAX_LEN + 8];
	char label[70];

	check_norm("github.com", "github.com");
	check_norm("GitHub.COM", "github.com");
	check_norm("github.com.", "github.com");
	check_norm("a", "a");
	check_norm("_dmarc.x-y.test", "_dmarc.x-y.test");
	check_norm("123.example", "123.example");

	check_norm_bad("");
	check_norm_bad(".");
	check_norm_bad("..");
	check_norm_bad("a..b");
	check_norm_bad(".a");
	check_norm_bad("a.b..");
	check_norm_bad("*.a");
	check_norm_bad("a*.b");
	check_norm_bad("a b");
	check_norm_bad("a\\.b");
	check_norm_bad("caf\xc3\xa9.test");
	check_norm_bad("a\nb");
	check_norm_bad("a/b");
	check_norm_bad("a:b");

	/* Labels: 63 is the limit. */
	memset(label, 'x', 63);
	label[63] = '\0';
	strcat(label, ".test");
	check_norm(label, label);
	memset(label, 'x', 64);
	label[64] = '\0';
	strcat(label, ".test");
	check_norm_bad(label);

	/* Names: 253 bytes, plus an optional trailing dot. */
	make_name(name, 253, 63);
	check_norm(name, name);
	strcat(name, ".");
	name[253] = '.';
	name[254] = '\0';
	{
		char want[NAME_MAX_LEN + 1];

		memcpy(want, name, 253);
		want[253] = '\0';
		check_norm(name, want);
	}
	make_name(name, 254, 63);
	check_norm_bad(name);
	make_name(name, 260, 10);
	check_norm_bad(name);
}

static struct pattern
parse_ok(const char *text, enum pattern_kind kind, const char *name)
{
	struct pattern p;
	const char *err = NULL;
	char buf[NAME_MAX_LEN + 3];

	if (pattern_parse(text, &p, &err) != 0)
		fail_msg("rejected \"%s\": %s", text, err);
	assert_int_equal(p.kind, kind);
	assert_string_equal(p.name, name);
	assert_int_equal(p.len, strlen(name));
	pattern_fmt(&p, buf, sizeof(buf));
	/* The formatted pattern parses back to the same pattern. */
	{
		struct pattern q;

		assert_int_equal(pattern_parse(buf, &q, &err), 0);
		assert_int_equal(q.kind, p.kind);
		assert_string_equal(q.name, p.name);
	}
	return p;
}

static void
test_parse(void **state)
{
	static const char *const bad[] = {
	    "*",    ".",   "*.",   "..",   "",    "**.x",  "*x.y",  "x.*",  "a.*.b", "*.*.x",
	    ".*.x", "..x", "*..x", "x..y", "x y", "*.x y", "a b.c", "*.x.", "x/y",   "x\\y",
	};
	const char *err;
	struct pattern p;
	char buf[NAME_MAX_LEN + 3];
	size_t i;

	parse_ok("github.com", PATTERN_EXACT, "github.com");
	parse_ok("GitHub.com.", PATTERN_EXACT, "github.com");
	parse_ok("*.githubusercontent.com", PATTERN_SUBDOMAINS, "githubusercontent.com");
	parse_ok(".github.com", PATTERN_APEX_AND_SUBDOMAINS, "github.com");
	parse_ok("*.test", PATTERN_SUBDOMAINS, "test");
	p = parse_ok("*.X.Test", PATTERN_SUBDOMAINS, "x.test");
	assert_string_equal(pattern_fmt(&p, buf, sizeof(buf)), "*.x.test");
	p = parse_ok(".x.test", PATTERN_APEX_AND_SUBDOMAINS, "x.test");
	assert_string_equal(pattern_fmt(&p, buf, sizeof(buf)), ".x.test");
	p = parse_ok("x.test", PATTERN_EXACT, "x.test");
	assert_string_equal(pattern_fmt(&p, buf, sizeof(buf)), "x.test");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		/* "*.x." is fine: one trailing dot; skip it in the bad list. */
		if (strcmp(bad[i], "*.x.") == 0) {
			assert_int_equal(pattern_parse(bad[i], &p, &err), 0);
			continue;
		}
		if (pattern_parse(bad[i], &p, &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(err);
	}
}

static bool
match(const char *pat, const char *name)
{
	struct pattern p;
	const char *err;

	assert_int_equal(pattern_parse(pat, &p, &err), 0);
	return pattern_match(&p, name, strlen(name));
}

static void
test_match(void **state)
{
	/* Exact. */
	assert_true(match("github.com", "github.com"));
	assert_true(match("GITHUB.com.", "github.com"));
	assert_false(match("github.com", "a.github.com"));
	assert_false(match("github.com", "evilgithub.com"));
	assert_false(match("github.com", "github.com.evil.test"));
	assert_false(match("github.com", "github.co"));
	assert_false(match("github.com", "ithub.com"));

	/* Subdomains, not the apex. */
	assert_true(match("*.github.com", "a.github.com"));
	assert_true(match("*.github.com", "a.b.github.com"));
	assert_false(match("*.github.com", "github.com"));
	assert_false(match("*.github.com", "evilgithub.com"));
	assert_false(match("*.github.com", "a.evilgithub.com"));
	assert_false(match("*.github.com", "github.com.evil.test"));
	assert_false(match("*.github.com", "a.github.com.evil.test"));
	assert_false(match("*.github.com", ".github.com"));
	assert_false(match("*.github.com", "com"));

	/* Apex and subdomains. */
	assert_true(match(".github.com", "github.com"));
	assert_true(match(".github.com", "a.github.com"));
	assert_true(match(".github.com", "x.y.z.github.com"));
	assert_false(match(".github.com", "evilgithub.com"));
	assert_false(match(".github.com", "github.com.evil.test"));
	assert_false(match(".github.com", "hub.com"));

	/* Single-label patterns. */
	assert_true(match("*.test", "x.test"));
	assert_false(match("*.test", "test"));
	assert_false(match("*.test", "xtest"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
