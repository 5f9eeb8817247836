/*
 * The key table (common/confkeys.c) against what documents it: every key
 * of the table is in README.md's sandbox.ini reference (with the table's
 * default) and in man/sandbox.ini.5.scd, and neither documents a key the
 * table lacks. Also the table's own invariants: indexed by its key, every
 * default loads, printers for all but the [allow] lines.
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

#include "conf_internal.h"

#define MAX_DOC_KEYS 128

struct doc_key {
	char section[32];
	char name[64];
	char def[128]; /* README only: the default column, "" when none */
};

struct doc {
	const char *what;
	struct doc_key v[MAX_DOC_KEYS];
	size_t n;
};

static char readme[PATH_MAX];
static char manpage[PATH_MAX];

static int
setup(void **state)
{
	const char *data = getenv("TESTDATA");

	(void)state;
	if (data == NULL) {
		fprintf(stderr, "TESTDATA is not set\n");
		return -1;
	}
	/* TESTDATA is tests/unit/data of the source tree. */
	snprintf(readme, sizeof(readme), "%s/../../../README.md", data);
	snprintf(manpage, sizeof(manpage), "%s/../../../man/sandbox.ini.5.scd", data);
	return 0;
}

static void
doc_add(struct doc *d, const char *section, const char *name, size_t len, const char *def)
{
	struct doc_key *k;

	assert_true(d->n < MAX_DOC_KEYS);
	assert_true(len < sizeof(k->name));
	k = &d->v[d->n++];
	snprintf(k->section, sizeof(k->section), "%s", section);
	memcpy(k->name, name, len);
	k->name[len] = '\0';
	snprintf(k->def, sizeof(k->def), "%s", def);
}

/* "[resolver]" at p (after the heading's "#"s and a space) → "resolver". */
static bool
heading_section(const char *p, char *out, size_t len)
{
	const char *close;

	if (p[0] != '[' || (close = strchr(p, ']')) == NULL || (size_t)(close - p - 1) >= len)
		return false;
	memcpy(out, p + 1, (size_t)(close - p - 1));
	out[close - p - 1] = '\0';
	return true;
}

/*
 * README.md: under "## sandbox.ini", a table per "### [section]" whose rows
 * begin "| `key` | `default` |" (or "(empty)"); [allow]'s rows are lines,
 * "| `domain = example.com` |", whose key is the word before " =".
 */
static void
read_readme(struct doc *d)
{
	char line[4096], section[32] = "";
	bool in = false;
	FILE *f = fopen(readme, "r");

	assert_non_null(f);
	d->what = "README.md";
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *name, *end, *def, *dend;
		char dbuf[128] = "";

		if (strncmp(line, "## ", 3) == 0) {
			in = strncmp(line, "## sandbox.ini", 14) == 0;
			section[0] = '\0';
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, "### ", 4) == 0) {
			if (!heading_section(line + 4, section, sizeof(section)))
				section[0] = '\0';
			continue;
		}
		if (section[0] == '\0' || strncmp(line, "| `", 3) != 0)
			continue;
		name = line + 3;
		end = name + strcspn(name, " `");
		if (strcmp(section, "allow") == 0) {
			doc_add(d, section, name, (size_t)(end - name), "");
			continue;
		}
		/* The second column: `value`, or (empty). */
		def = strstr(end, "| ");
		if (def != NULL) {
			def += 2;
			if (def[0] == '`' && (dend = strchr(def + 1, '`')) != NULL &&
			    (size_t)(dend - def - 1) < sizeof(dbuf)) {
				memcpy(dbuf, def + 1, (size_t)(dend - def - 1));
				dbuf[dend - def - 1] = '\0';
			} else if (strncmp(def, "(empty)", 7) != 0) {
				snprintf(dbuf, sizeof(dbuf), "?");
			}
		}
		doc_add(d, section, name, (size_t)(end - name), dbuf);
	}
	fclose(f);
}

/*
 * The man page: under "# [section]", every line that begins "*key* =",
 * and every further ", *key* =" on it ("*min_ttl* = _seconds_, *max_ttl*
 * = _seconds_").
 */
static void
read_man(struct doc *d)
{
	char line[4096], section[32] = "";
	FILE *f = fopen(manpage, "r");

	assert_non_null(f);
	d->what = "man/sandbox.ini.5.scd";
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = line;

		if (strncmp(line, "# ", 2) == 0) {
			if (!heading_section(line + 2, section, sizeof(section)))
				section[0] = '\0';
			continue;
		}
		if (section[0] == '\0' || line[0] != '*')
			continue;
		for (;;) {
			const char *name = p + 1, *end = strchr(name, '*');

			if (end == NULL || strncmp(end, "* =", 3) != 0)
				break;
			doc_add(d, section, name, (size_t)(end - name), "");
			p = strstr(end, ", *");
			if (p == NULL)
				break;
			p += 2;
		}
	}
	fclose(f);
}

static const struct doc_key *
doc_find(const struct doc *d, const char *section, const char *name)
{
	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->v[i].section, section) == 0 && strcmp(d->v[i].name, name) == 0)
			return &d->v[i];
	}
	return NULL;
}

/* Every key of the table in d, and every key of d in the table; returns
 * the number of mismatches, each printed. */
static int
compare(const struct doc *d, bool defaults)
{
	int bad = 0;

	for (size_t i = 0; i < K_COUNT; i++) {
		const struct keydef *kd = &conf_keys[i];
		const struct doc_key *k = doc_find(d, kd->section, kd->name);

		if (k == NULL) {
			print_error("%s does not document [%s] %s\n", d->what, kd->section,
			            kd->name);
			bad++;
		} else if (defaults && kd->def != NULL && strcmp(k->def, kd->def) != 0) {
			print_error("%s: [%s] %s: default \"%s\", the key table says \"%s\"\n",
			            d->what, kd->section, kd->name, k->def, kd->def);
			bad++;
		}
	}
	for (size_t i = 0; i < d->n; i++) {
		char key[128];

		snprintf(key, sizeof(key), "%s.%s", d->v[i].section, d->v[i].name);
		if (conf_keydef_of(key) == NULL) {
			print_error("%s documents [%s] %s, which is no key\n", d->what,
			            d->v[i].section, d->v[i].name);
			bad++;
		}
	}
	return bad;
}

static void
test_readme_documents_the_keys(void **state)
{
	static struct doc d;

	(void)state;
	read_readme(&d);
	assert_int_equal(compare(&d, true), 0);
}

static void
test_man_documents_the_keys(void **state)
{
	static struct doc d;

	(void)state;
	read_man(&d);
	assert_int_equal(compare(&d, false), 0);
}

/* conf_keys[] is indexed by its key, each section's keys stand together
 * (conf_print writes a header where the section changes), and only the
 * [allow] lines lack a default and a printer. */
static void
test_table_shape(void **state)
{
	(void)state;
	for (size_t i = 0; i < K_COUNT; i++) {
		const struct keydef *kd = &conf_keys[i];

		if (i > 0 && strcmp(conf_keys[i - 1].section, kd->section) != 0) {
			for (size_t j = 0; j < i; j++)
				assert_string_not_equal(conf_keys[j].section, kd->section);
		}

		assert_int_equal(kd->key, i);
		assert_int_equal(kd->repeats, strcmp(kd->section, "allow") == 0);
		assert_int_equal(kd->def == NULL, kd->repeats);
		assert_int_equal(kd->fmt == NULL, kd->repeats);
	}
}

/* A value of few words prints as it was written, for every word. */
static void
test_words_round_trip(void **state)
{
	char path[] = "/tmp/namegate-test-confkeys-XXXXXX";
	char err[CONF_ERR_LEN], buf[CONF_VALUE_LEN];
	struct conf c;

	(void)state;
	for (size_t i = 0; i < K_COUNT; i++) {
		const struct keydef *kd = &conf_keys[i];

		for (size_t w = 0; kd->words != NULL && kd->words[w] != NULL; w++) {
			int fd = mkstemp(path);
			FILE *f = fdopen(fd, "w");

			assert_non_null(f);
			fprintf(f, "[resolver]\nupstream = 192.0.2.53\n[%s]\n%s = %s\n",
			        kd->section, kd->name, kd->words[w]);
			fclose(f);
			if (conf_load(path, &c, err, sizeof(err)) != 0)
				fail_msg("%s", err);
			kd->fmt(kd, &c, buf, sizeof(buf));
			assert_string_equal(buf, kd->words[w]);
			assert_int_equal(conf_word(kd, buf), w);
			conf_free(&c);
			unlink(path);
			strcpy(path, "/tmp/namegate-test-confkeys-XXXXXX");
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_readme_documents_the_keys),
	    cmocka_unit_test(test_man_documents_the_keys),
	    cmocka_unit_test(test_table_shape),
	    cmocka_unit_test(test_words_round_trip),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
