/*
 * learn: log lines in (logfmt and JSON), the [allow] section out: which
 * names and ports, the grouping and where the Public Suffix List forbids
 * it, the order, and --merge.
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
#include "learn.h"
#include "suffix.h"

#define DNS(ev, name, rcode, addrs)                                                                \
	"ts=2026-12-01T10:00:00.000Z level=info event=" ev " name=" name                           \
	" type=A client=127.0.0.1 rcode=" rcode " addrs=" addrs "\n"
#define FLOW(proto, dst, dport, reason, more)                                                      \
	"ts=2026-12-01T10:00:01.000Z level=info event=flow.audit proto=" proto                     \
	" src=198.18.0.2 dst=" dst " dport=" dport " uid=1000 reason=" reason more "\n"

/* The section learn prints for lines (NULL-terminated), with opts. */
static char *
section(const struct learn_opts *o, ...)
{
	struct learn *l = learn_new();
	char *out = NULL;
	size_t len = 0;
	const char *line;
	FILE *f = open_memstream(&out, &len);
	va_list ap;

	assert_non_null(l);
	assert_non_null(f);
	va_start(ap, o);
	while ((line = va_arg(ap, const char *)) != NULL)
		learn_line(l, line);
	va_end(ap);
	assert_int_equal(learn_print(f, l, o), 0);
	fclose(f);
	learn_free(l);
	return out;
}

/* Only the domain lines, one string. */
static char *
domains(char *text)
{
	char *out, *save = NULL;

	/* abort, not assert: cmocka's asserts return, as far as gcc
	 * -fanalyzer can tell */
	if (text == NULL)
		abort();
	out = calloc(1, strlen(text) + 1);
	assert_non_null(out);
	for (char *ln = strtok_r(text, "\n", &save); ln != NULL; ln = strtok_r(NULL, "\n", &save)) {
		if (strncmp(ln, "domain = ", 9) != 0)
			continue;
		strcat(out, ln);
		strcat(out, "\n");
	}
	free(text);
	return out;
}

static void
test_names_ports(void **state)
{
	struct learn_opts o = {.group = LEARN_DEFAULT_GROUP};
	char *s = domains(section(
	    &o, DNS("dns.audit", "pypi.org", "NOERROR", "192.0.2.1,2001:db8::1"),
	    FLOW("tcp", "192.0.2.1", "443", "unresolved", ""),
	    /* the same address in another spelling */
	    FLOW("tcp", "2001:0db8:0::1", "8443", "unresolved", ""),
	    /* JSON lines, a name with a trailing dot and capitals */
	    "{\"ts\":\"x\",\"event\":\"dns.audit\",\"name\":\"Git.Example.org.\",\"rcode\":"
	    "\"NOERROR\","
	    "\"addrs\":\"192.0.2.2\"}\n",
	    "{\"event\":\"flow.audit\",\"proto\":\"udp\",\"dst\":\"192.0.2.2\",\"dport\":443,"
	    "\"reason\":\"unresolved\"}\n",
	    /* named by the gate; on the list, so its own ports went unlogged */
	    DNS("dns.allow", "github.com", "NOERROR", "192.0.2.3"),
	    FLOW("tcp", "198.51.100.7", "22", "port", " name=github.com"),
	    /* a name that does not exist, DNS elsewhere, ping: nothing */
	    DNS("dns.audit", "nx.example.net", "NXDOMAIN", ""),
	    FLOW("udp", "192.0.2.9", "53", "dns", " name=evil.example"),
	    FLOW("tcp", "192.0.2.1", "443", "proto", ""),
	    /* not a host name */
	    DNS("dns.audit", "\"a b.example\"", "NOERROR", "192.0.2.8"), NULL));

	assert_string_equal(s, "domain = git.example.org udp/443\n"
	                       "domain = github.com\n"
	                       "domain = github.com tcp/22\n"
	                       "domain = pypi.org tcp/443 tcp/8443\n");
	free(s);
}

static void
test_latest_lookup_wins(void **state)
{
	struct learn_opts o = {.group = 0};
	char *full = section(&o, DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.1"),
	                     DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.1"),
	                     FLOW("tcp", "192.0.2.1", "443", "unresolved", ""),
	                     FLOW("tcp", "192.0.2.77", "22", "unresolved", ""),
	                     FLOW("tcp", "192.0.2.77", "22", "unresolved", ""), NULL);
	char *s;

	/* the flow without a lookup is named in a comment, never proposed */
	assert_non_null(strstr(full, ";   tcp 192.0.2.77 22: 2 flows\n"));
	s = domains(full);
	assert_string_equal(s, "domain = a.example.com\n"
	                       "domain = b.example.com tcp/443\n");
	free(s);
}

static void
test_group(void **state)
{
	struct learn_opts o = {.group = 3};
	char *s;

	/* two subdomains: no group */
	s = domains(section(&o, DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.1"),
	                    DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.2"), NULL));
	assert_string_equal(s, "domain = a.example.com\ndomain = b.example.com\n");
	free(s);
	/* three, at any depth: *.example.com, with the union of their ports */
	s = domains(section(&o, DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.1"),
	                    DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.2"),
	                    DNS("dns.audit", "x.c.example.com", "NOERROR", "192.0.2.3"),
	                    FLOW("tcp", "192.0.2.1", "443", "unresolved", ""),
	                    FLOW("tcp", "192.0.2.2", "80", "unresolved", ""),
	                    FLOW("tcp", "192.0.2.3", "443", "unresolved", ""),
	                    DNS("dns.audit", "other.org", "NOERROR", "192.0.2.4"), NULL));
	assert_string_equal(s, "domain = *.example.com tcp/80 tcp/443\n"
	                       "domain = other.org\n");
	free(s);
	/* the apex too: .example.com */
	s = domains(section(&o, DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.1"),
	                    DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.2"),
	                    DNS("dns.audit", "c.example.com", "NOERROR", "192.0.2.3"),
	                    DNS("dns.audit", "example.com", "NOERROR", "192.0.2.3"), NULL));
	assert_string_equal(s, "domain = .example.com\n");
	free(s);
}

static void
test_group_psl(void **state)
{
	struct learn_opts o = {.group = 2};
	char *full, *s;

	/* Each under a public suffix of the private section: every one its
	 * own registrable domain, never *.github.io. */
	s = domains(section(&o, DNS("dns.audit", "alice.github.io", "NOERROR", "192.0.2.1"),
	                    DNS("dns.audit", "bob.github.io", "NOERROR", "192.0.2.2"),
	                    DNS("dns.audit", "carol.github.io", "NOERROR", "192.0.2.3"),
	                    DNS("dns.audit", "b1.s3.amazonaws.com", "NOERROR", "192.0.2.4"),
	                    DNS("dns.audit", "b2.s3.amazonaws.com", "NOERROR", "192.0.2.5"),
	                    DNS("dns.audit", "github.io", "NOERROR", "192.0.2.6"), NULL));
	assert_string_equal(s, "domain = alice.github.io\n"
	                       "domain = b1.s3.amazonaws.com\n"
	                       "domain = b2.s3.amazonaws.com\n"
	                       "domain = bob.github.io\n"
	                       "domain = carol.github.io\n"
	                       "domain = github.io\n");
	free(s);
	/* Under one registrable domain, but with public suffixes below it. */
	full = section(&o, DNS("dns.audit", "q.amazonaws.com", "NOERROR", "192.0.2.1"),
	               DNS("dns.audit", "r.amazonaws.com", "NOERROR", "192.0.2.2"), NULL);
	assert_non_null(strstr(full, "; not grouped: *.amazonaws.com covers "));
	s = domains(full);
	assert_string_equal(s, "domain = q.amazonaws.com\ndomain = r.amazonaws.com\n");
	free(s);
	/* Without a readable list nothing is grouped. */
	o.dat = "/nonexistent/public_suffix_list.dat";
	s = domains(section(&o, DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.1"),
	                    DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.2"), NULL));
	assert_string_equal(s, "domain = a.example.com\ndomain = b.example.com\n");
	free(s);
}

static void
test_deterministic(void **state)
{
	struct learn_opts o = {.group = 3};
	char *a = section(&o, DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.2"),
	                  DNS("dns.audit", "zz.org", "NOERROR", "192.0.2.1"),
	                  FLOW("tcp", "192.0.2.1", "22", "unresolved", " comm=git"),
	                  FLOW("tcp", "192.0.2.1", "443", "unresolved", " comm=\"my tool\""),
	                  DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.3"), NULL);
	char *b = section(&o, DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.3"),
	                  DNS("dns.audit", "zz.org", "NOERROR", "192.0.2.1"),
	                  FLOW("tcp", "192.0.2.1", "22", "unresolved", " comm=git"),
	                  FLOW("tcp", "192.0.2.1", "443", "unresolved", " comm=\"my tool\""),
	                  DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.2"), NULL);

	assert_string_equal(a, b);
	assert_non_null(strstr(a, "; 1 lookup, 0 flows: none logged, so the [gate] ports\n"
	                          "domain = a.example.com\n"));
	assert_non_null(strstr(a, "; processes: git my tool\ndomain = zz.org tcp/22 tcp/443\n"));
	free(a);
	free(b);
}

static void
test_merge(void **state)
{
	static const char ini[] = "[resolver]\n"
	                          "upstream = 192.0.2.53\n"
	                          "[log]\n"
	                          "file =\n"
	                          "[allow]\n"
	                          "domain = pypi.org ; the index\n"
	                          "domain = *.example.com tcp/443\n"
	                          "[gate]\n"
	                          "ports = tcp/443\n";
	char path[CONF_FIXTURE_PATH_LEN], *out, *head;
	struct learn_opts o = {.group = 2};
	struct conf c;

	assert_int_equal(conf_fixture_load(ini, &c, path), 0);
	o.merge = &c;
	o.merge_path = path;
	out = section(&o, DNS("dns.audit", "pypi.org", "NOERROR", "192.0.2.1"),
	              FLOW("tcp", "192.0.2.1", "443", "unresolved", ""),
	              DNS("dns.audit", "a.example.com", "NOERROR", "192.0.2.2"),
	              FLOW("tcp", "192.0.2.2", "443", "unresolved", ""),
	              FLOW("tcp", "192.0.2.2", "22", "unresolved", ""),
	              DNS("dns.audit", "b.example.com", "NOERROR", "192.0.2.3"),
	              DNS("dns.audit", "new.org", "NOERROR", "192.0.2.4"), NULL);
	/* its own lines first, as written */
	head = strstr(out, "; added by namegate learn");
	assert_non_null(head);
	assert_non_null(strstr(out, "domain = pypi.org ; the index\n"));
	assert_true(strstr(out, "domain = pypi.org ; the index\n") < head);
	/* then only what they do not allow: a.example.com's tcp/22 (one name
	 * left uncovered, no group), and new.org; never pypi.org again */
	{
		char *d = domains(strdup(head));

		assert_string_equal(d, "domain = a.example.com tcp/22\n"
		                       "domain = new.org\n");
		free(d);
	}
	free(out);
	conf_free(&c);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_ports),   cmocka_unit_test(test_latest_lookup_wins),
	    cmocka_unit_test(test_group),         cmocka_unit_test(test_group_psl),
	    cmocka_unit_test(test_deterministic), cmocka_unit_test(test_merge),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	suffix_fini();
	return r;
}
