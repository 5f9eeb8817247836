/*
 * suffix: the Public Suffix List as libpsl and Debian's publicsuffix give
 * it, and the config warnings built on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "conf_fixture.h"
#include "suffix.h"

static void
test_public(void **state)
{
	assert_true(suffix_is_public("com"));
	assert_true(suffix_is_public("co.uk"));
	/* the private section: shared hosting */
	assert_true(suffix_is_public("github.io"));
	assert_true(suffix_is_public("s3.amazonaws.com"));
	assert_true(suffix_is_public("herokuapp.com"));
	assert_false(suffix_is_public("example.com"));
	assert_false(suffix_is_public("alice.github.io"));
	assert_false(suffix_is_public("amazonaws.com"));
	assert_false(suffix_is_public("lab.test"));
}

static void
test_registrable(void **state)
{
	assert_string_equal(suffix_registrable("a.b.example.com"), "example.com");
	assert_string_equal(suffix_registrable("example.com"), "example.com");
	assert_string_equal(suffix_registrable("x.alice.github.io"), "alice.github.io");
	assert_string_equal(suffix_registrable("www.bbc.co.uk"), "bbc.co.uk");
	assert_string_equal(suffix_registrable("b1.s3.amazonaws.com"), "b1.s3.amazonaws.com");
	assert_null(suffix_registrable("github.io"));
	assert_null(suffix_registrable("com"));
}

static void
test_below(void **state)
{
	char ex[256], path[] = "/tmp/test_suffix_XXXXXX";
	static const char dat[] = "// comment: x.example.org\n"
	                          "\n"
	                          "*.wild.example.net\n"
	                          "!keep.other.example.net\n"
	                          "  Shared.Example.Com  // trailing\n";
	int fd = mkstemp(path);

	/* Debian's list */
	assert_true(suffix_below("amazonaws.com", NULL, ex, sizeof(ex)));
	assert_true(strlen(ex) > strlen(".amazonaws.com") &&
	            strcmp(ex + strlen(ex) - strlen(".amazonaws.com"), ".amazonaws.com") == 0);
	assert_false(suffix_below("example.com", NULL, ex, sizeof(ex)));
	assert_false(suffix_below("lab.test", NULL, ex, sizeof(ex)));
	/* the forms of a rule, from a file of our own */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, dat, sizeof(dat) - 1), (ssize_t)(sizeof(dat) - 1));
	close(fd);
	assert_false(suffix_below("example.org", path, ex, sizeof(ex)));
	assert_true(suffix_below("example.net", path, ex, sizeof(ex)));
	assert_string_equal(ex, "wild.example.net");
	assert_true(suffix_below("other.example.net", path, ex, sizeof(ex)));
	assert_string_equal(ex, "keep.other.example.net");
	assert_true(suffix_below("example.com", path, ex, sizeof(ex)));
	assert_string_equal(ex, "shared.example.com");
	/* by whole labels */
	assert_false(suffix_below("ample.com", path, ex, sizeof(ex)));
	assert_false(suffix_below("shared.example.com", path, ex, sizeof(ex)));
	unlink(path);
	/* no list to read: fail closed */
	assert_true(suffix_below("example.org", path, ex, sizeof(ex)));
	assert_string_equal(ex, "?");
}

static void
test_pattern_why(void **state)
{
	char buf[512];
	struct pattern p;
	const char *err;

	assert_int_equal(pattern_parse("github.io", &p, &err), 0);
	assert_null(suffix_pattern_why(&p, NULL, buf, sizeof(buf)));
	assert_int_equal(pattern_parse("*.github.io", &p, &err), 0);
	assert_non_null(suffix_pattern_why(&p, NULL, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "*.github.io is over github.io, a public suffix"));
	assert_int_equal(pattern_parse(".amazonaws.com", &p, &err), 0);
	assert_non_null(suffix_pattern_why(&p, NULL, buf, sizeof(buf)));
	assert_non_null(strstr(buf, ".amazonaws.com covers "));
	assert_int_equal(pattern_parse(".example.com", &p, &err), 0);
	assert_null(suffix_pattern_why(&p, NULL, buf, sizeof(buf)));
	assert_int_equal(pattern_parse("*.alice.github.io", &p, &err), 0);
	assert_null(suffix_pattern_why(&p, NULL, buf, sizeof(buf)));
}

static void
test_conf_warnings(void **state)
{
	static const char ini[] = "[resolver]\n"
	                          "upstream = 192.0.2.53\n"
	                          "[log]\n"
	                          "file =\n"
	                          "[allow]\n"
	                          "domain = .example.com\n"
	                          "domain = *.github.io tcp/443\n"
	                          "domain = alice.github.io\n"
	                          "domain = .com\n";
	char path[CONF_FIXTURE_PATH_LEN], want[1024];
	char *out = NULL;
	size_t len = 0;
	struct conf c;
	FILE *f;

	assert_int_equal(conf_fixture_load(ini, &c, path), 0);
	f = open_memstream(&out, &len);
	assert_non_null(f);
	assert_int_equal(suffix_conf_warnings(&c, f), 2);
	fclose(f);
	snprintf(want, sizeof(want),
	         "%s:7: warning: *.github.io is over github.io, a public suffix (Public Suffix "
	         "List): anyone can register names under it\n"
	         "%s:9: warning: .com is over com, a public suffix (Public Suffix List): anyone "
	         "can register names under it\n",
	         path, path);
	assert_string_equal(out, want);
	free(out);
	conf_free(&c);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_public),        cmocka_unit_test(test_registrable),
	    cmocka_unit_test(test_below),         cmocka_unit_test(test_pattern_why),
	    cmocka_unit_test(test_conf_warnings),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	suffix_fini();
	return r;
}
