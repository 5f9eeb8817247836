/*
 * status / why: set entries and log lines in, the tables, the JSON and the
 * verdicts out: grouping by name and address, aligned columns, denial
 * counts by name, destination and process, the bounds, and why's reasons.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "conf.h"
#include "status.h"

#define DENY(name, rcode, more)                                                                    \
	"ts=2026-12-01T10:00:00.000Z level=info event=dns.deny name=" name                         \
	" type=A client=127.0.0.1 rcode=" rcode more "\n"
#define FLOW(ts, dst, dport, reason, more)                                                         \
	"ts=2026-12-01T10:00:0" ts                                                                 \
	".000Z level=info event=flow.deny proto=tcp src=198.18.0.2 dst=" dst " dport=" dport       \
	" uid=1000 reason=" reason more "\n"

static struct conf *
load(const char *extra)
{
	char ini[2048], path[] = "/tmp/test_status_XXXXXX", err[CONF_ERR_LEN];
	struct conf *c = calloc(1, sizeof(*c));
	int fd = mkstemp(path), n;

	n = snprintf(ini, sizeof(ini),
	             "[resolver]\nupstream = 192.0.2.53\n[log]\nfile =\n%s"
	             "[allow]\ndomain = www.example.com\ndomain = git.example.com tcp/22\n"
	             "network = 198.51.100.0/24 tcp/5432\n",
	             extra);
	assert_non_null(c);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, ini, (size_t)n), n);
	close(fd);
	assert_int_equal(conf_load(path, c, err, sizeof(err)), 0);
	unlink(path);
	return c;
}

static void
unload(struct conf *c)
{
	conf_free(c);
	free(c);
}

static void
entry(struct status *s, const char *ip, uint8_t proto, uint16_t port, uint32_t ttl,
      const char *name)
{
	uint8_t b[16];
	int af = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(af, ip, b), 1);
	status_add_entry(s, af, b, proto, port, ttl, name);
}

static char *
printed(struct status *s, bool json)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	assert_int_equal(status_print(f, s, json, STATUS_DEFAULT_TOP), 0);
	fclose(f);
	return out;
}

static int
why(struct status *s, const char *target, const char *port, char **out, bool json)
{
	size_t len = 0;
	FILE *f = open_memstream(out, &len);
	struct port p;
	const char *err = NULL;
	int r;

	assert_non_null(f);
	if (port != NULL)
		assert_int_equal(port_parse(port, &p), 0);
	r = status_why(f, s, target, port ? &p : NULL, json, &err);
	fclose(f);
	return r;
}

/* The column at which word starts on the line that holds it. */
static long
column_of(const char *text, const char *line_start, const char *word)
{
	const char *l = strstr(text, line_start), *w;

	assert_non_null(l);
	w = strstr(l, word);
	assert_non_null(w);
	return w - l;
}

static void
test_rows_grouped_and_aligned(void **state)
{
	struct conf *c = load("");
	struct status *s = status_new(c);
	char *out;

	(void)state;
	entry(s, "192.0.2.10", IPPROTO_TCP, 443, 58, "www.example.com");
	entry(s, "192.0.2.10", IPPROTO_TCP, 80, 40, "WWW.example.com.");
	entry(s, "2001:db8::10", IPPROTO_TCP, 443, 58, "www.example.com");
	entry(s, "192.0.2.22", IPPROTO_TCP, 22, 3599, "git.example.com");
	out = printed(s, false);
	/* one row per name and address, ports sorted, the least TTL */
	assert_non_null(strstr(out, "allowed now: 2 names, 3 addresses"));
	assert_non_null(strstr(out, "git.example.com  192.0.2.22    tcp/22          3599s\n"));
	assert_non_null(strstr(out, "www.example.com  192.0.2.10    tcp/80 tcp/443  40s\n"));
	assert_non_null(strstr(out, "www.example.com  2001:db8::10  tcp/443         58s\n"));
	assert_int_equal(column_of(out, "NAME ", "ADDRESS"), column_of(out, "git.", "192."));
	assert_int_equal(column_of(out, "NAME ", "TTL"),
	                 column_of(out, "www.example.com  2001", "58s"));
	/* the network line */
	assert_non_null(strstr(out, "198.51.100.0/24  tcp/5432"));
	assert_non_null(strstr(out, "recent denials: no log read"));
	free(out);
	status_free(s);
	unload(c);
}

static void
test_denials_counted(void **state)
{
	struct conf *c = load("");
	struct status *s = status_new(c);
	char *out;

	(void)state;
	status_log_line(s, DENY("evil.test", "NXDOMAIN", " pid=41 comm=curl"));
	status_log_line(s, DENY("EVIL.test", "NXDOMAIN", " pid=42 comm=curl"));
	status_log_line(s, DENY("other.test", "NXDOMAIN", ""));
	/* a terminal escape in the log reaches the terminal as '?' */
	status_log_line(s, DENY("\"esc\\x1b[2Jape\"", "NXDOMAIN", ""));
	status_log_line(s, FLOW("1", "203.0.113.9", "443", "unresolved", " pid=43 comm=curl"));
	status_log_line(s, FLOW("2", "203.0.113.9", "443", "unresolved", " pid=44 comm=curl"));
	status_log_line(s, FLOW("3", "203.0.113.9", "8443", "unresolved", " pid=45 comm=wget"));
	status_log_line(s, "ts=2026-12-01T10:00:00.000Z level=info event=config.load daemon=x\n");
	status_set_log(s, "/var/log/namegate.log", false);
	out = printed(s, false);
	assert_non_null(strstr(out, "recent denials in /var/log/namegate.log: 7, from "
	                            "2026-12-01T10:00:00.000Z to 2026-12-01T10:00:03.000Z\n"));
	/* names in any case are one, the biggest count first */
	assert_non_null(strstr(out, "COUNT  NAME        ANSWER    LAST\n"
	                            "2      evil.test   NXDOMAIN  2026-12-01T10:00:00.000Z\n"
	                            "1      esc?[2jape  NXDOMAIN  2026-12-01T10:00:00.000Z\n"
	                            "1      other.test  NXDOMAIN"));
	assert_non_null(strstr(out, "esc?[2jape"));
	assert_null(strchr(out, '\x1b'));
	assert_non_null(strstr(out, "2      tcp    203.0.113.9  443   unresolved  -     "));
	assert_non_null(strstr(out, "1      tcp    203.0.113.9  8443  unresolved"));
	/* the process: uid and command the key, the latest pid shown; a dns
	 * line without the process keys names nobody */
	assert_non_null(strstr(out, "COUNT  UID   COMM  EXE  PID  LAST\n"
	                            "2      -     curl  -    42   2026-12-01T10:00:00.000Z\n"
	                            "2      1000  curl  -    44   2026-12-01T10:00:02.000Z\n"
	                            "1      1000  wget  -    45   2026-12-01T10:00:03.000Z\n"));
	free(out);

	out = printed(s, true);
	{
		json_object *o = json_tokener_parse(out), *d, *a, *r, *v;

		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "denials", &d));
		assert_true(json_object_object_get_ex(d, "name", &a));
		assert_int_equal(json_object_array_length(a), 3);
		r = json_object_array_get_idx(a, 0);
		assert_true(json_object_object_get_ex(r, "count", &v));
		assert_int_equal(json_object_get_int(v), 2);
		assert_true(json_object_object_get_ex(r, "name", &v));
		assert_string_equal(json_object_get_string(v), "evil.test");
		assert_true(json_object_object_get_ex(d, "destination", &a));
		r = json_object_array_get_idx(a, 0);
		assert_true(json_object_object_get_ex(r, "port", &v));
		assert_string_equal(json_object_get_string(v), "443");
		assert_true(json_object_object_get_ex(r, "name", &v));
		assert_null(v);
		json_object_put(o);
	}
	free(out);
	status_free(s);
	unload(c);
}

static void
test_bounded(void **state)
{
	struct conf *c = load("");
	struct status *s = status_new(c);
	char line[256], *out;

	(void)state;
	for (unsigned i = 0; i < STATUS_MAX_KEYS + 10; i++) {
		snprintf(line, sizeof(line), DENY("n%u.test", "NXDOMAIN", ""), i);
		status_log_line(s, line);
	}
	status_set_log(s, "x.log", true);
	out = printed(s, false);
	assert_non_null(strstr(out, "x.log (its last 8 MiB): 4106,"));
	/* 20 rows, then the rest as one line */
	assert_non_null(strstr(out, "  ... 4077 more\n"));
	free(out);
	status_free(s);
	unload(c);
}

static void
test_why_addr(void **state)
{
	struct conf *c = load("");
	struct status *s = status_new(c);
	char *out;

	(void)state;
	entry(s, "192.0.2.10", IPPROTO_TCP, 443, 58, "www.example.com");
	status_log_line(s, "ts=2026-12-01T09:00:00.000Z level=info event=dns.allow "
	                   "name=www.example.com type=A client=127.0.0.1 rcode=NOERROR "
	                   "addrs=192.0.2.11,2001:db8:0::11 ttl=60\n");
	assert_int_equal(why(s, "192.0.2.10", NULL, &out, false), STATUS_ALLOWED);
	assert_non_null(strstr(out, "192.0.2.10: allowed (handed-out)\n"
	                            "  handed out for www.example.com on tcp/443, 58s left: the "
	                            "TLS server_name or HTTP Host must then be www.example.com\n"));
	free(out);
	assert_int_equal(why(s, "192.0.2.10", "tcp/22", &out, false), STATUS_DENIED);
	assert_non_null(strstr(out, "denied (port)"));
	assert_non_null(strstr(out, "add \"domain = www.example.com tcp/22\""));
	free(out);
	assert_int_equal(why(s, "192.0.2.99", NULL, &out, false), STATUS_DENIED);
	assert_non_null(strstr(out, "192.0.2.99: denied (unresolved)\n  not handed out"));
	free(out);
	/* in the log, not in the sets: it ran out */
	assert_int_equal(why(s, "2001:db8::11", NULL, &out, false), STATUS_DENIED);
	assert_non_null(strstr(out, "denied (expired)"));
	assert_non_null(strstr(out, "handed out for www.example.com at 2026-12-01T09:00:00.000Z"));
	free(out);
	assert_int_equal(why(s, "10.1.2.3", "tcp/443", &out, false), STATUS_DENIED);
	assert_non_null(strstr(out, "it is inward (private)"));
	free(out);
	assert_int_equal(why(s, "198.51.100.7", "tcp/5432", &out, false), STATUS_ALLOWED);
	assert_non_null(strstr(out, "allowed (network)"));
	free(out);
	assert_int_equal(why(s, "198.51.100.7", "tcp/443", &out, false), STATUS_DENIED);
	free(out);
	assert_int_equal(why(s, "192.0.2.10", "udp/53", &out, false), STATUS_DENIED);
	assert_non_null(strstr(out, "denied (dns)"));
	free(out);
	assert_int_equal(why(s, "127.0.0.11", NULL, &out, false), STATUS_DENIED);
	free(out);
	/* JSON: the same verdict and entries */
	assert_int_equal(why(s, "192.0.2.10", NULL, &out, true), STATUS_ALLOWED);
	{
		json_object *o = json_tokener_parse(out), *v, *e;

		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "allowed", &v));
		assert_true(json_object_get_boolean(v));
		assert_true(json_object_object_get_ex(o, "entries", &v));
		assert_int_equal(json_object_array_length(v), 1);
		e = json_object_array_get_idx(v, 0);
		assert_true(json_object_object_get_ex(e, "port", &v));
		assert_string_equal(json_object_get_string(v), "tcp/443");
		assert_true(json_object_object_get_ex(e, "ttl", &v));
		assert_int_equal(json_object_get_int(v), 58);
		json_object_put(o);
	}
	free(out);
	status_free(s);
	unload(c);
}

static void
test_why_name(void **state)
{
	struct conf *c = load(""), *audit = load("[gate]\nmode = audit\n");
	struct status *s = status_new(c), *sa = status_new(audit);
	const char *err = NULL;
	char *out;

	(void)state;
	entry(s, "192.0.2.22", IPPROTO_TCP, 22, 100, "git.example.com");
	assert_int_equal(why(s, "Git.Example.com.", NULL, &out, false), STATUS_ALLOWED);
	assert_non_null(strstr(out, "git.example.com: allowed (resolved)\n"
	                            "  line 7: domain = git.example.com tcp/22\n"));
	assert_non_null(strstr(out, "192.0.2.22  tcp/22  100s\n"));
	free(out);
	assert_int_equal(why(s, "git.example.com", "tcp/443", &out, false), STATUS_DENIED);
	assert_non_null(strstr(out, "denied (port)"));
	free(out);
	assert_int_equal(why(s, "www.example.com", NULL, &out, false), STATUS_ALLOWED);
	assert_non_null(strstr(out, "allowed (listed)"));
	assert_non_null(strstr(out, "not resolved now"));
	free(out);
	assert_int_equal(why(s, "evil.test", NULL, &out, false), STATUS_DENIED);
	assert_non_null(strstr(out, "evil.test: denied (not-listed)\n"));
	assert_non_null(strstr(out, "a lookup gets NXDOMAIN"));
	assert_non_null(strstr(out, "\"domain = evil.test\""));
	free(out);
	assert_int_equal(why(s, "evil.test", NULL, &out, true), STATUS_DENIED);
	assert_non_null(strstr(out, "\"answer\":\"NXDOMAIN\""));
	free(out);
	/* audit mode lets it through, and says so */
	assert_int_equal(why(sa, "evil.test", NULL, &out, false), STATUS_ALLOWED);
	assert_non_null(strstr(out, "mode = audit"));
	free(out);
	/* neither an address nor a name */
	out = NULL;
	{
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		assert_int_equal(status_why(f, s, "a b", NULL, false, &err), -1);
		assert_non_null(err);
		fclose(f);
	}
	free(out);
	status_free(s);
	status_free(sa);
	unload(c);
	unload(audit);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_grouped_and_aligned),
	    cmocka_unit_test(test_denials_counted),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_why_addr),
	    cmocka_unit_test(test_why_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
