/* sandbox.ini: defaults, every key, every error with its line, round trip. */
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

#include "conf.h"

static char tmpdir[] = "/tmp/namegate-test-conf-XXXXXX";
static char resolv[PATH_MAX]; /* TESTDATA/resolv.conf */
static char resolv_self[PATH_MAX];
static char resolv_search[PATH_MAX];
static char full_ini[PATH_MAX];
static int nfiles;

static int
setup(void **state)
{
	const char *data = getenv("TESTDATA");

	if (data == NULL) {
		fprintf(stderr, "TESTDATA is not set\n");
		return -1;
	}
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", data);
	snprintf(resolv_self, sizeof(resolv_self), "%s/resolv-self.conf", data);
	snprintf(resolv_search, sizeof(resolv_search), "%s/resolv-search.conf", data);
	snprintf(full_ini, sizeof(full_ini), "%s/full.ini", data);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to a new file in tmpdir; path receives its name. */
static void
write_ini(const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/t%d.ini", tmpdir, nfiles++);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A config whose upstream does not depend on any resolv.conf. */
#define HEAD "[resolver]\nupstream = 192.0.2.53\n"

static void
load_ok(const char *text, struct conf *c)
{
	char path[PATH_MAX], err[CONF_ERR_LEN];

	write_ini(text, path, sizeof(path));
	if (conf_load(path, c, err, sizeof(err)) != 0)
		fail_msg("rejected: %s\n--\n%s", err, text);
}

static void
load_bad(const char *text, int line, const char *msg)
{
	char path[PATH_MAX], err[CONF_ERR_LEN], want[PATH_MAX + 32];
	struct conf c;

	write_ini(text, path, sizeof(path));
	if (conf_load(path, &c, err, sizeof(err)) != -1)
		fail_msg("accepted:\n%s", text);
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	if (strncmp(err, want, strlen(want)) != 0 || strstr(err, msg) == NULL)
		fail_msg("got \"%s\", want \"%s...%s\"\n--\n%s", err, want, msg, text);
	/* Nothing is left behind in *out. */
	assert_null(c.domains);
	assert_null(c.networks);
	assert_int_equal(c.ndomains, 0);
}

static const char *
fmt_addr(const struct addr *a)
{
	static char buf[4][ADDR_STRLEN];
	static int i;

	i = (i + 1) % 4;
	return addr_fmt(a, buf[i], sizeof(buf[i]));
}

static const char *
fmt_ports(const struct portlist *pl)
{
	static char buf[CONF_MAX_PORTS * 10];

	return portlist_fmt(pl, buf, sizeof(buf));
}

/* A second buffer, so that two lists can be compared in one call. */
static const char *
fmt_ports2(const struct portlist *pl)
{
	static char buf[CONF_MAX_PORTS * 10];

	return portlist_fmt(pl, buf, sizeof(buf));
}

/* [gate] bind, tls_ports, http_ports: enforce on tcp/443 and tcp/80 by
 * default, tcp only, and every bad line is file:line. */
static void
test_bind_keys(void **state)
{
	struct conf c;

	load_ok(HEAD, &c);
	assert_int_equal(c.bind, BIND_ENFORCE);
	assert_string_equal(fmt_ports(&c.tls_ports), "tcp/443");
	assert_string_equal(fmt_ports2(&c.http_ports), "tcp/80");
	conf_free(&c);
	load_ok(HEAD "[gate]\nbind = audit\ntls_ports = tcp/443 tcp/8443\nhttp_ports =\n", &c);
	assert_int_equal(c.bind, BIND_AUDIT);
	assert_string_equal(fmt_ports(&c.tls_ports), "tcp/443 tcp/8443");
	assert_int_equal(c.http_ports.n, 0);
	conf_free(&c);
	load_ok(HEAD "[gate]\nbind = off\n", &c);
	assert_int_equal(c.bind, BIND_OFF);
	conf_free(&c);
	load_bad(HEAD "[gate]\nbind = maybe\n", 4, "bad value");
	load_bad(HEAD "[gate]\ntls_ports = udp/443\n", 4, "only tcp ports");
	load_bad(HEAD "[gate]\nhttp_ports = tcp/99999\n", 4, "");
	/* quic_ports: udp/443 by default, udp only */
	load_ok(HEAD, &c);
	assert_string_equal(fmt_ports(&c.quic_ports), "udp/443");
	conf_free(&c);
	load_ok(HEAD "[gate]\nquic_ports = udp/443 udp/8443\n", &c);
	assert_string_equal(fmt_ports(&c.quic_ports), "udp/443 udp/8443");
	conf_free(&c);
	load_ok(HEAD "[gate]\nquic_ports =\n", &c);
	assert_int_equal(c.quic_ports.n, 0);
	conf_free(&c);
	load_bad(HEAD "[gate]\nquic_ports = tcp/443\n", 4, "only udp ports");
}

static void
test_defaults(void **state)
{
	char text[PATH_MAX + 64];
	struct conf c;

	snprintf(text, sizeof(text), "[resolver]\nresolv_conf = %s\n", resolv);
	load_ok(text, &c);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(fmt_addr(&c.listen[0]), "127.0.0.1:53");
	assert_string_equal(fmt_addr(&c.listen[1]), "[::1]:53");
	assert_true(c.upstream_auto);
	/* From resolv.conf: our own 127.0.0.1 and ::1 dropped, the scoped
	 * and malformed entries skipped, the duplicate kept once. */
	assert_int_equal(c.nupstream, 4);
	assert_string_equal(fmt_addr(&c.upstream[0]), "192.0.2.53:53");
	assert_string_equal(fmt_addr(&c.upstream[1]), "198.51.100.53:53");
	assert_string_equal(fmt_addr(&c.upstream[2]), "[2001:db8::53]:53");
	assert_string_equal(fmt_addr(&c.upstream[3]), "[::ffff:192.0.2.54]:53");
	assert_string_equal(c.resolv_conf, resolv);
	assert_int_equal(c.upstream_timeout_ms, 2000);
	assert_int_equal(c.deny, DENY_NXDOMAIN);
	assert_int_equal(c.min_ttl, 60);
	assert_int_equal(c.max_ttl, 86400);
	assert_int_equal(c.max_addrs, 64);
	assert_int_equal(c.cache_size, CONF_DEFAULT_CACHE_SIZE);
	assert_string_equal(c.user, "namegate");
	assert_int_equal(c.mode, MODE_ENFORCE);
	assert_string_equal(fmt_ports(&c.ports), "tcp/443 tcp/80");
	assert_int_equal(c.on_deny, ON_DENY_REJECT);
	assert_int_equal(c.queue, 0);
	assert_string_equal(c.socket, "/run/namegate/gate.sock");
	assert_string_equal(c.log_file, "/var/log/namegate.log");
	assert_int_equal(c.log_format, LOG_FORMAT_TEXT);
	/* An empty allowlist is valid: everything is denied. */
	assert_int_equal(c.ndomains, 0);
	assert_int_equal(c.nnetworks, 0);
	assert_false(conf_lookup(&c, "example.test", 12, NULL));
	conf_free(&c);
}

static void
check_full(const struct conf *c)
{
	char buf[NAME_MAX_LEN + 3];

	assert_int_equal(c->nlisten, 3);
	assert_string_equal(fmt_addr(&c->listen[0]), "127.0.0.2:5353");
	assert_string_equal(fmt_addr(&c->listen[1]), "[::1]:5353");
	assert_string_equal(fmt_addr(&c->listen[2]), "10.0.0.1:53");
	assert_false(c->upstream_auto);
	assert_int_equal(c->nupstream, 2);
	assert_string_equal(fmt_addr(&c->upstream[0]), "192.0.2.53:53");
	assert_string_equal(fmt_addr(&c->upstream[1]), "[2001:db8::53]:5300");
	assert_string_equal(c->resolv_conf, "/nonexistent/resolv.conf");
	assert_int_equal(c->upstream_timeout_ms, 750);
	assert_int_equal(c->deny, DENY_NXDOMAIN);
	assert_int_equal(c->min_ttl, 30);
	assert_int_equal(c->max_ttl, 3600);
	assert_int_equal(c->max_addrs, 16);
	assert_string_equal(c->user, "ngtest");
	assert_int_equal(c->mode, MODE_AUDIT);
	assert_string_equal(fmt_ports(&c->ports), "tcp/8080 udp/53");
	assert_int_equal(c->on_deny, ON_DENY_DROP);
	assert_int_equal(c->queue, 7);
	assert_string_equal(c->socket, "/tmp/ng/gate.sock");
	assert_string_equal(c->log_file, "");
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);

	assert_int_equal(c->ndomains, 4);
	assert_string_equal(pattern_fmt(&c->domains[0].pat, buf, sizeof(buf)), "api.example.test");
	/* [gate] comes after [allow] in the file, and still supplies the
	 * ports of lines that list none. */
	assert_false(c->domains[0].own_ports);
	assert_string_equal(fmt_ports(&c->domains[0].ports), "tcp/8080 udp/53");
	assert_string_equal(pattern_fmt(&c->domains[1].pat, buf, sizeof(buf)),
	                    "*.cdn.example.test");
	assert_true(c->domains[1].own_ports);
	assert_string_equal(fmt_ports(&c->domains[1].ports), "udp/443");
	assert_string_equal(pattern_fmt(&c->domains[2].pat, buf, sizeof(buf)), ".example.org");
	assert_string_equal(fmt_ports(&c->domains[2].ports), "tcp/22 tcp/443");
	assert_string_equal(pattern_fmt(&c->domains[3].pat, buf, sizeof(buf)), "api.example.test");
	assert_string_equal(fmt_ports(&c->domains[3].ports), "tcp/8443");

	assert_int_equal(c->nnetworks, 2);
	assert_int_equal(c->networks[0].prefix, 24);
	assert_string_equal(fmt_ports(&c->networks[0].ports), "tcp/5432");
	assert_int_equal(c->networks[1].net.family, AF_INET6);
	assert_int_equal(c->networks[1].prefix, 48);
	assert_string_equal(fmt_ports(&c->networks[1].ports), "tcp/8080 udp/53");
}

static void
test_full(void **state)
{
	char err[CONF_ERR_LEN];
	struct conf c;

	if (conf_load(full_ini, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	check_full(&c);
	assert_int_equal(c.domains[0].line, 14);
	assert_int_equal(c.domains[3].line, 17);
	assert_int_equal(c.networks[1].line, 19);
	assert_string_equal(c.path, full_ini);
	conf_free(&c);
}

static void
test_lookup(void **state)
{
	char err[CONF_ERR_LEN];
	struct portlist pl;
	struct conf c;

	assert_int_equal(conf_load(full_ini, &c, err, sizeof(err)), 0);
	/* Two lines match: the union of their ports. */
	assert_true(conf_lookup(&c, "api.example.test", 16, &pl));
	assert_int_equal(pl.n, 3);
	assert_true(portlist_has(&pl, IPPROTO_TCP, 8080));
	assert_true(portlist_has(&pl, IPPROTO_UDP, 53));
	assert_true(portlist_has(&pl, IPPROTO_TCP, 8443));
	assert_false(portlist_has(&pl, IPPROTO_UDP, 8080));

	assert_true(conf_lookup(&c, "a.b.cdn.example.test", 20, &pl));
	assert_string_equal(fmt_ports(&pl), "udp/443");
	assert_false(conf_lookup(&c, "cdn.example.test", 16, &pl));
	assert_int_equal(pl.n, 0);
	assert_true(conf_lookup(&c, "example.org", 11, &pl));
	assert_string_equal(fmt_ports(&pl), "tcp/22 tcp/443");
	assert_true(conf_lookup(&c, "www.example.org", 15, NULL));
	assert_false(conf_lookup(&c, "evilexample.org", 15, NULL));
	assert_false(conf_lookup(&c, "example.org.evil.test", 21, NULL));
	/* len is honoured: a prefix of a listed name is not that name. */
	assert_true(conf_lookup(&c, "api.example.testx", 16, NULL));
	assert_false(conf_lookup(&c, "api.example.test", 15, NULL));
	conf_free(&c);
}

/* "inward" among the ports: the opt-in for inward addresses (inward.h). */
static void
test_inward(void **state)
{
	char text[4096];
	struct portlist pl;
	struct conf c;
	size_t n;

	load_ok(HEAD "[allow]\ndomain = db tcp/5432 inward\ndomain = .db.test inward\n"
	             "domain = inward\ndomain = *.x.test\ndomain = a.x.test inward udp/53\n",
	        &c);
	assert_int_equal(c.ndomains, 5);
	/* A single label, as compose neighbours are named. */
	assert_true(c.domains[0].inward && c.domains[0].own_ports);
	assert_string_equal(fmt_ports(&c.domains[0].ports), "tcp/5432");
	assert_true(conf_lookup_inward(&c, "db", 2, &pl));
	assert_string_equal(fmt_ports(&pl), "tcp/5432");
	assert_true(conf_lookup(&c, "db", 2, NULL));
	/* Without ports: the [gate] ports. */
	assert_true(c.domains[1].inward);
	assert_false(c.domains[1].own_ports);
	assert_true(conf_lookup_inward(&c, "s.db.test", 9, &pl));
	assert_string_equal(fmt_ports(&pl), "tcp/443 tcp/80");
	/* The first word is always the name. */
	assert_false(c.domains[2].inward);
	assert_true(conf_lookup(&c, "inward", 6, NULL));
	assert_false(conf_lookup_inward(&c, "inward", 6, NULL));
	/* Per line: only the lines that say inward count. */
	assert_false(conf_lookup_inward(&c, "b.x.test", 8, &pl));
	assert_int_equal(pl.n, 0);
	assert_true(conf_lookup_inward(&c, "a.x.test", 8, &pl));
	assert_string_equal(fmt_ports(&pl), "udp/53");
	assert_true(conf_lookup(&c, "a.x.test", 8, &pl));
	assert_string_equal(fmt_ports(&pl), "tcp/443 tcp/80 udp/53");
	conf_free(&c);

	load_bad(HEAD "[allow]\ndomain = db inward tcp/1 inward\n", 4, "\"inward\" given twice");
	load_bad(HEAD "[allow]\ndomain = db Inward\n", 4, "bad port \"Inward\"");
	load_bad(HEAD "[allow]\nnetwork = 10.0.0.0/8 inward\n", 4, "bad port \"inward\"");
	/* 32 ports and the opt-in fit; 33 ports do not. */
	n = (size_t)snprintf(text, sizeof(text), HEAD "[allow]\ndomain = db inward");
	for (int i = 1; i <= CONF_MAX_PORTS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " tcp/%d", i);
	snprintf(text + n, sizeof(text) - n, "\n");
	load_ok(text, &c);
	assert_int_equal(c.domains[0].ports.n, CONF_MAX_PORTS);
	assert_true(c.domains[0].inward);
	conf_free(&c);
	snprintf(text + n, sizeof(text) - n, " tcp/999\n");
	load_bad(text, 4, "too many ports");
}

static void
roundtrip(const char *path)
{
	char out1[PATH_MAX], out2[PATH_MAX], err[CONF_ERR_LEN];
	char *t1, *t2;
	struct conf a, b;
	size_t n1 = 0, n2 = 0;
	FILE *f;

	if (conf_load(path, &a, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	snprintf(out1, sizeof(out1), "%s/print1.ini", tmpdir);
	snprintf(out2, sizeof(out2), "%s/print2.ini", tmpdir);
	f = fopen(out1, "w");
	assert_non_null(f);
	conf_print(f, &a);
	assert_int_equal(fclose(f), 0);
	if (conf_load(out1, &b, err, sizeof(err)) != 0)
		fail_msg("printed config rejected: %s", err);

	/* Same effective values... */
	assert_int_equal(a.nlisten, b.nlisten);
	for (size_t i = 0; i < a.nlisten; i++)
		assert_true(addr_equal(&a.listen[i], &b.listen[i]));
	assert_int_equal(a.nupstream, b.nupstream);
	for (size_t i = 0; i < a.nupstream; i++)
		assert_true(addr_equal(&a.upstream[i], &b.upstream[i]));
	assert_string_equal(a.resolv_conf, b.resolv_conf);
	assert_int_equal(a.upstream_timeout_ms, b.upstream_timeout_ms);
	assert_int_equal(a.deny, b.deny);
	assert_int_equal(a.min_ttl, b.min_ttl);
	assert_int_equal(a.max_ttl, b.max_ttl);
	assert_int_equal(a.max_addrs, b.max_addrs);
	assert_int_equal(a.cache_size, b.cache_size);
	assert_string_equal(a.user, b.user);
	assert_int_equal(a.mode, b.mode);
	assert_string_equal(fmt_ports(&a.ports), fmt_ports2(&b.ports));
	assert_int_equal(a.on_deny, b.on_deny);
	assert_int_equal(a.queue, b.queue);
	assert_string_equal(a.socket, b.socket);
	assert_string_equal(a.log_file, b.log_file);
	assert_int_equal(a.log_format, b.log_format);
	assert_int_equal(a.ndomains, b.ndomains);
	for (size_t i = 0; i < a.ndomains; i++) {
		assert_int_equal(a.domains[i].pat.kind, b.domains[i].pat.kind);
		assert_string_equal(a.domains[i].pat.name, b.domains[i].pat.name);
		assert_int_equal(a.domains[i].own_ports, b.domains[i].own_ports);
		assert_int_equal(a.domains[i].inward, b.domains[i].inward);
		assert_string_equal(fmt_ports(&a.domains[i].ports),
		                    fmt_ports2(&b.domains[i].ports));
	}
	assert_int_equal(a.nnetworks, b.nnetworks);
	for (size_t i = 0; i < a.nnetworks; i++) {
		assert_true(addr_ip_equal(&a.networks[i].net, &b.networks[i].net));
		assert_int_equal(a.networks[i].prefix, b.networks[i].prefix);
		assert_string_equal(fmt_ports(&a.networks[i].ports),
		                    fmt_ports2(&b.networks[i].ports));
	}

	/* ...and printing the reloaded config gives the same text, but for
	 * the first comment line, which names the file. */
	f = fopen(out2, "w");
	assert_non_null(f);
	conf_print(f, &b);
	assert_int_equal(fclose(f), 0);
	f = fopen(out1, "r");
	assert_non_null(f);
	t1 = calloc(1, 65536);
	assert_non_null(t1);
	n1 = fread(t1, 1, 65535, f);
	fclose(f);
	f = fopen(out2, "r");
	assert_non_null(f);
	t2 = calloc(1, 65536);
	assert_non_null(t2);
	n2 = fread(t2, 1, 65535, f);
	fclose(f);
	assert_true(n1 > 0 && n2 > 0);
	if (a.upstream_auto) {
		/* The printed file lists the addresses found, with a comment. */
		assert_non_null(strstr(t1, "; from upstream = auto"));
		assert_false(b.upstream_auto);
	} else {
		assert_string_equal(strchr(t1, '\n'), strchr(t2, '\n'));
	}
	free(t1);
	free(t2);
	conf_free(&a);
	conf_free(&b);
}

static void
test_roundtrip(void **state)
{
	char text[PATH_MAX + 256], path[PATH_MAX];

	roundtrip(full_ini);
	snprintf(text, sizeof(text),
	         "[allow]\ndomain = x.test\nnetwork = 10.0.0.0/8\n"
	         "domain = db inward\ndomain = *.y.test tcp/5432 inward udp/53\n"
	         "[resolver]\nresolv_conf = %s\n",
	         resolv);
	write_ini(text, path, sizeof(path));
	roundtrip(path);
}

/* conf_get's value of key, in a static buffer, without its newline. */
static const char *
get(const struct conf *c, const char *key)
{
	static char buf[4096];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	char *nl;

	assert_non_null(f);
	assert_true(conf_key_known(key));
	assert_int_equal(conf_get(f, c, key), 0);
	assert_int_equal(fclose(f), 0);
	nl = strchr(buf, '\n');
	if (nl == NULL) /* abort: cmocka's asserts return, as far as gcc -fanalyzer knows */
		abort();
	*nl = '\0';
	return buf;
}

/* namegate-nfq --get: every key's effective value, defaults applied, one
 * line, no comment; the repeating keys as their first words. */
static void
test_get(void **state)
{
	char text[PATH_MAX + 256], path[PATH_MAX], err[CONF_ERR_LEN];
	struct conf c;

	load_ok(HEAD "[allow]\ndomain = x.test\ndomain = .y.test tcp/22 ; why\n"
	             "domain = *.z.test inward\nnetwork = 192.0.2.0/24 tcp/443\n[log]\nfile =\n",
	        &c);
	assert_string_equal(get(&c, "resolver.listen"), "127.0.0.1:53 [::1]:53");
	assert_string_equal(get(&c, "resolver.upstream"), "192.0.2.53:53");
	assert_string_equal(get(&c, "resolver.resolv_conf"), "/etc/resolv.conf");
	assert_string_equal(get(&c, "resolver.user"), "namegate");
	assert_string_equal(get(&c, "resolver.deny"), "nxdomain");
	assert_string_equal(get(&c, "resolver.keep_ech"), "no");
	assert_string_equal(get(&c, "gate.mode"), "enforce");
	assert_string_equal(get(&c, "gate.ports"), "tcp/443 tcp/80");
	assert_string_equal(get(&c, "gate.inbound"), "");
	assert_string_equal(get(&c, "gate.socket"), "/run/namegate/gate.sock");
	assert_string_equal(get(&c, "log.file"), "");
	assert_string_equal(get(&c, "log.format"), "text");
	assert_string_equal(get(&c, "allow.domain"), "x.test .y.test *.z.test");
	assert_string_equal(get(&c, "allow.network"), "192.0.2.0/24");
	conf_free(&c);

	/* A key of one section is not found in another. */
	load_ok(HEAD "[log]\nfile = /tmp/x.log\n", &c);
	assert_string_equal(get(&c, "log.file"), "/tmp/x.log");
	assert_string_equal(get(&c, "allow.domain"), "");
	conf_free(&c);
	assert_false(conf_key_known("resolver.file"));
	assert_false(conf_key_known("log"));
	assert_false(conf_key_known(".file"));
	assert_false(conf_key_known("log.file.x"));
	assert_int_equal(conf_get(stdout, &c, "resolver.nope"), -1);

	/* With upstream = auto, conf_load_no_resolv leaves resolv_conf
	 * unread (it may not be written yet); conf_load fails on it. */
	snprintf(text, sizeof(text), "[resolver]\nresolv_conf = %s/missing.conf\nuser = nobody\n",
	         tmpdir);
	write_ini(text, path, sizeof(path));
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	assert_int_equal(conf_load_no_resolv(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.nupstream, 0);
	assert_string_equal(get(&c, "resolver.user"), "nobody");
	conf_free(&c);
	/* and a bad line is still file:line */
	snprintf(text, sizeof(text), "[resolver]\nresolv_conf = %s/missing.conf\nmax_ttl = x\n",
	         tmpdir);
	write_ini(text, path, sizeof(path));
	assert_int_equal(conf_load_no_resolv(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":3: "));
}

/* The search list of resolv_conf, read whatever upstream says. */
static void
test_search(void **state)
{
	char text[PATH_MAX + 64], *out = NULL;
	size_t outlen = 0;
	struct conf c;
	FILE *f;

	snprintf(text, sizeof(text), HEAD "resolv_conf = %s\n", resolv_search);
	load_ok(text, &c);
	/* domain and search lines, normalized, each once, in order; a word
	 * that is not a name skipped; '#' and ';' end a line's list */
	assert_int_equal(c.nsearch, 4);
	assert_string_equal(c.search[0].name, "corp.test");
	assert_string_equal(c.search[1].name, "svc.cluster.local");
	assert_string_equal(c.search[2].name, "lab.test");
	assert_string_equal(c.search[3].name, "x_y.test");
	assert_true(conf_in_search(&c, "corp.test", 9));
	assert_true(conf_in_search(&c, "www.corp.test", 13));
	assert_true(conf_in_search(&c, "a.b.svc.cluster.local", 21));
	/* whole labels only */
	assert_false(conf_in_search(&c, "xcorp.test", 10));
	assert_false(conf_in_search(&c, "corp.test.evil", 14));
	assert_false(conf_in_search(&c, "cluster.local", 13));
	assert_false(conf_in_search(&c, "not-a-domain.test", 17));
	assert_false(conf_in_search(&c, "also.a.comment", 14));
	assert_false(conf_in_search(&c, "not.a.keyword", 13));
	/* --check-config shows it as a comment, so the output loads again */
	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	conf_print(f, &c);
	fclose(f);
	assert_non_null(strstr(out, "\n; its search list (denied names under it get NXDOMAIN): "
	                            "corp.test svc.cluster.local lab.test x_y.test\n"));
	free(out);
	conf_free(&c);

	/* upstream = auto reads the same file for both */
	snprintf(text, sizeof(text), "[resolver]\nresolv_conf = %s\n", resolv);
	load_ok(text, &c);
	assert_int_equal(c.nsearch, 1);
	assert_true(conf_in_search(&c, "www.lab.test", 12));
	conf_free(&c);

	/* no file: no search list, and no error when upstream is given */
	load_ok(HEAD "resolv_conf = /nonexistent/resolv.conf\n", &c);
	assert_int_equal(c.nsearch, 0);
	assert_false(conf_in_search(&c, "www.lab.test", 12));
	conf_free(&c);
}

static void
test_comments_and_spacing(void **state)
{
	struct conf c;

	load_ok(HEAD "; comment\n# comment\n\n[gate]\n  mode=audit   \n"
	             "ports = tcp/1 ; a comment\n"
	             "socket = /run/x#y.sock # '#' only starts a comment after a space\n"
	             "[allow]\n\tdomain = a.test tcp/22 ; ports for this name\n"
	             "   domain = c.test ; indented lines are not continuations\n",
	        &c);
	assert_int_equal(c.mode, MODE_AUDIT);
	assert_string_equal(fmt_ports(&c.ports), "tcp/1");
	assert_string_equal(c.socket, "/run/x#y.sock");
	assert_int_equal(c.ndomains, 2);
	conf_free(&c);
	/* "b.test#no" above is not a comment but a bad name... */
	load_bad(HEAD "[allow]\ndomain = b.test#no\n", 4, "bad domain pattern");
}

static void
test_long_line(void **state)
{
	char name[NAME_MAX_LEN + 1];
	char text[1024];
	struct conf c;
	size_t i;

	/* A 253-byte name with ports: longer than inih's default line. */
	for (i = 0; i < NAME_MAX_LEN; i++)
		name[i] = (i % 50 == 49) ? '.' : 'a';
	name[NAME_MAX_LEN] = '\0';
	snprintf(text, sizeof(text), HEAD "[allow]\ndomain = %s tcp/1 tcp/2 tcp/3\n", name);
	load_ok(text, &c);
	assert_int_equal(c.ndomains, 1);
	assert_string_equal(c.domains[0].pat.name, name);
	assert_int_equal(c.domains[0].ports.n, 3);
	conf_free(&c);
}

static void
test_errors(void **state)
{
	char big[4096];
	size_t n;
	int i;

	/* Structure. */
	load_bad(HEAD "[nope]\nx = 1\n", 3, "unknown section [nope]");
	load_bad(HEAD "[allow]\ndomain = x.test\n[bogus]\n", 5, "unknown section [bogus]");
	load_bad(HEAD "[gate]\nfoo = 1\n", 4, "unknown key \"foo\" in [gate]");
	load_bad("x = 1\n", 1, "outside of any section");
	load_bad(HEAD "[gate\n", 3, "section header without ']'");
	load_bad(HEAD "\njust words\n", 4, "syntax error");
	load_bad(HEAD "[Gate]\nmode = audit\n", 3, "unknown section");
	load_bad(HEAD "[gate]\nMode = audit\n", 4, "unknown key");
	load_bad(HEAD "[gate]\nmode = audit\nqueue = 1\n[gate]\nmode = enforce\n", 7,
	         "already set on line 4");
	load_bad(HEAD "upstream = auto\n", 3, "already set on line 2");

	/* [resolver] values. */
	load_bad("[resolver]\nlisten = 0.0.0.0:53\n", 2, "wildcard");
	load_bad("[resolver]\nlisten = [::]:53\n", 2, "wildcard");
	load_bad("[resolver]\nlisten = 127.0.0.1:0\n", 2, "bad listen address");
	load_bad("[resolver]\nlisten = [127.0.0.1]:53\n", 2, "bad listen address");
	load_bad("[resolver]\nlisten = ::1:53:x\n", 2, "bad listen address");
	load_bad("[resolver]\nlisten =\n", 2, "at least one");
	load_bad("[resolver]\nlisten = 127.0.0.1 127.0.0.1:53\n", 2, "listed twice");
	load_bad("[resolver]\nlisten = 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 "
	         "127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9\n",
	         2, "too many");
	load_bad("[resolver]\nupstream = 192.0.2.1:99999\n", 2, "bad upstream address");
	load_bad("[resolver]\nupstream = 127.0.0.1\n", 2, "own listen");
	load_bad("[resolver]\nupstream = example.com\n", 2, "bad upstream address");
	load_bad(HEAD "upstream_timeout = 99\n", 3, "upstream_timeout");
	load_bad(HEAD "upstream_timeout = 60001\n", 3, "upstream_timeout");
	load_bad(HEAD "upstream_timeout = 2s\n", 3, "upstream_timeout");
	load_bad(HEAD "deny = servfail\n", 3, "bad value \"servfail\"");
	load_bad(HEAD "keep_ech = true\n", 3, "bad value \"true\"");
	{
		struct conf k;

		load_ok(HEAD "keep_ech = yes\n", &k);
		assert_true(k.keep_ech);
		conf_free(&k);
		load_ok(HEAD, &k); /* the default: ech is removed */
		assert_false(k.keep_ech);
		conf_free(&k);
	}
	load_bad(HEAD "min_ttl = 0\n", 3, "min_ttl");
	load_bad(HEAD "min_ttl = -1\n", 3, "min_ttl");
	load_bad(HEAD "min_ttl = 1e3\n", 3, "min_ttl");
	load_bad(HEAD "max_ttl = 2147484\n", 3, "max_ttl");
	load_bad(HEAD "max_ttl = 99999999999999999999\n", 3, "max_ttl");
	load_bad(HEAD "max_ttl = 10\n", 3, "less than min_ttl");
	load_bad(HEAD "max_ttl = 100\nmin_ttl = 200\n", 3, "less than min_ttl");
	load_bad(HEAD "max_addrs = 0\n", 3, "max_addrs");
	load_bad(HEAD "max_addrs = 257\n", 3, "max_addrs");
	load_bad(HEAD "max_addrs =\n", 3, "max_addrs");
	load_bad(HEAD "cache_size = 0\n", 3, "cache_size must be 1..1000000");
	load_bad(HEAD "cache_size = 1000001\n", 3, "cache_size must be 1..1000000");
	load_bad(HEAD "cache_size = 10k\n", 3, "cache_size must be 1..1000000");
	{
		struct conf k;

		load_ok(HEAD "cache_size = 25000\n", &k);
		assert_int_equal(k.cache_size, 25000);
		conf_free(&k);
	}
	load_bad(HEAD "user =\n", 3, "must not be empty");
	load_bad(HEAD "user = a b\n", 3, "space");
	load_bad(HEAD "user = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	         3, "too long");
	load_bad(HEAD "resolv_conf =\n", 3, "must not be empty");

	/* [gate] values. */
	load_bad(HEAD "[gate]\nmode = permissive\n", 4, "bad value");
	load_bad(HEAD "[gate]\nports = tcp/0\n", 4, "bad port \"tcp/0\"");
	load_bad(HEAD "[gate]\nports = tcp/65536\n", 4, "bad port");
	load_bad(HEAD "[gate]\nports = sctp/80\n", 4, "bad port");
	load_bad(HEAD "[gate]\nports = 443\n", 4, "bad port");
	load_bad(HEAD "[gate]\nports = tcp/\n", 4, "bad port");
	load_bad(HEAD "[gate]\nports = tcp/44x\n", 4, "bad port");
	load_bad(HEAD "[gate]\nports =\n", 4, "at least one");
	load_bad(HEAD "[gate]\non_deny = accept\n", 4, "bad value");
	load_bad(HEAD "[gate]\nqueue = 65536\n", 4, "queue");
	load_bad(HEAD "[gate]\nqueue = x\n", 4, "queue");
	load_bad(HEAD "[gate]\nsocket =\n", 4, "must not be empty");
	load_bad(HEAD "[gate]\nsocket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	         4, "too long");

	/* [log] values. */
	load_bad(HEAD "[log]\nformat = xml\n", 4, "bad value");

	/* [allow] lines. */
	load_bad(HEAD "[allow]\ndomain = *\n", 4, "bad domain pattern");
	load_bad(HEAD "[allow]\ndomain = .\n", 4, "bad domain pattern");
	load_bad(HEAD "[allow]\ndomain = a.*.test\n", 4, "bad domain pattern");
	load_bad(HEAD "[allow]\ndomain = a..test\n", 4, "bad domain pattern");
	load_bad(HEAD "[allow]\ndomain =\n", 4, "needs a name");
	load_bad(HEAD "[allow]\ndomain = ok.test\ndomain = x.test tcp/22 tcp\n", 5, "bad port");
	load_bad(HEAD "[allow]\ndomain = x.test udp/0\n", 4, "bad port");
	load_bad(HEAD "[allow]\nnetwork = 192.0.2.1/24\n", 4, "bad network");
	load_bad(HEAD "[allow]\nnetwork = 192.0.2.0/33\n", 4, "bad network");
	load_bad(HEAD "[allow]\nnetwork = example.test\n", 4, "bad network");
	load_bad(HEAD "[allow]\nnetwork = 0.0.0.0/0\n", 4, "every address");
	load_bad(HEAD "[allow]\nnetwork = ::/0 tcp/1\n", 4, "every address");
	load_bad(HEAD "[allow]\nnetwork = 10.0.0.0/8 tcp/99999\n", 4, "bad port");
	load_bad(HEAD "[allow]\nport = tcp/1\n", 4, "unknown key \"port\" in [allow]");

	/* Too many ports on one line. */
	n = (size_t)snprintf(big, sizeof(big), HEAD "[allow]\ndomain = x.test");
	for (i = 1; i <= CONF_MAX_PORTS + 1; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, " tcp/%d", i);
	snprintf(big + n, sizeof(big) - n, "\n");
	load_bad(big, 4, "too many ports");

	/* A line longer than the parser's buffer is refused, not cut. */
	n = (size_t)snprintf(big, sizeof(big), HEAD "[allow]\ndomain = x.test");
	while (n < 2000)
		n += (size_t)snprintf(big + n, sizeof(big) - n, " tcp/1");
	snprintf(big + n, sizeof(big) - n, "\n");
	load_bad(big, 4, "line too long");
}

static void
test_nul_byte(void **state)
{
	static const char text[] = HEAD "[gate]\nmode = audit\0 x\n";
	char path[PATH_MAX], err[CONF_ERR_LEN], want[PATH_MAX + 32];
	struct conf c;
	FILE *f;

	snprintf(path, sizeof(path), "%s/nul.ini", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: NUL byte in line", path);
	assert_string_equal(err, want);
}

static void
test_resolv_errors(void **state)
{
	char text[PATH_MAX + 128];
	struct conf c;

	snprintf(text, sizeof(text), "[resolver]\nresolv_conf = %s\n", resolv_self);
	load_bad(text, 0, "no usable nameserver in");
	load_bad("[resolver]\nresolv_conf = /nonexistent/resolv.conf\n", 0,
	         "cannot open /nonexistent/resolv.conf");
	/* The same file works once we listen elsewhere: ::1 and 127.0.0.1
	 * on port 53 are only ours when we listen there. */
	snprintf(text, sizeof(text), "[resolver]\nresolv_conf = %s\nlisten = 127.0.0.2\n",
	         resolv_self);
	load_ok(text, &c);
	assert_int_equal(c.nupstream, 2);
	assert_string_equal(fmt_addr(&c.upstream[0]), "127.0.0.1:53");
	assert_string_equal(fmt_addr(&c.upstream[1]), "[::1]:53");
	conf_free(&c);
	/* Listening on 127.0.0.1 but on another port: 127.0.0.1:53 is not us. */
	snprintf(text, sizeof(text), "[resolver]\nresolv_conf = %s\nlisten = 127.0.0.1:5353\n",
	         resolv_self);
	load_ok(text, &c);
	assert_int_equal(c.nupstream, 2);
	conf_free(&c);
}

static void
test_missing_file(void **state)
{
	char err[CONF_ERR_LEN];
	struct conf c;

	assert_int_equal(conf_load("/nonexistent/sandbox.ini", &c, err, sizeof(err)), -1);
	assert_string_equal(err,
	                    "/nonexistent/sandbox.ini:0: cannot open: No such file or directory");
}

static void
test_ports(void **state)
{
	struct portlist pl;
	struct port p;
	char buf[16];
	int i;

	assert_int_equal(port_parse("tcp/443", &p), 0);
	assert_int_equal(p.proto, IPPROTO_TCP);
	assert_int_equal(p.port, 443);
	assert_int_equal(port_parse("udp/65535", &p), 0);
	assert_int_equal(p.proto, IPPROTO_UDP);
	assert_int_equal(port_parse("udp/1", &p), 0);
	assert_int_equal(port_parse("udp/0", &p), -1);
	assert_int_equal(port_parse("udp/65536", &p), -1);
	assert_int_equal(port_parse("udp/0443", &p), 0);
	assert_int_equal(port_parse("udp/000443", &p), -1);
	assert_int_equal(port_parse("icmp/1", &p), -1);
	assert_int_equal(port_parse("tcp//1", &p), -1);
	assert_int_equal(port_parse("tcp/1/", &p), -1);
	assert_int_equal(port_parse("tcp 1", &p), -1);
	assert_int_equal(port_parse("/1", &p), -1);
	assert_int_equal(port_parse("", &p), -1);

	memset(&pl, 0, sizeof(pl));
	for (i = 1; i <= CONF_MAX_PORTS; i++)
		assert_int_equal(portlist_add(&pl, (struct port){IPPROTO_TCP, (uint16_t)i}), 0);
	assert_int_equal(portlist_add(&pl, (struct port){IPPROTO_TCP, 1}), 0);
	assert_int_equal(portlist_add(&pl, (struct port){IPPROTO_UDP, 1}), -1);
	assert_int_equal(pl.n, CONF_MAX_PORTS);
	assert_true(portlist_has(&pl, IPPROTO_TCP, 32));
	assert_false(portlist_has(&pl, IPPROTO_UDP, 1));
	/* Formatting into a small buffer stops at a whole entry. */
	portlist_fmt(&pl, buf, sizeof(buf));
	assert_string_equal(buf, "tcp/1 tcp/2");
}

/* config.error splits "file:line: message" into its keys. */
static void
test_log_events(void **state)
{
	char path[] = "/tmp/test_conf_log.XXXXXX";
	char buf[2048];
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(log_open(path, LOG_FORMAT_TEXT), 0);
	log_set_ident("test-daemon");
	conf_log_error("/x/s.ini", "/x/s.ini:12: unknown key \"foo\" in [gate]");
	conf_log_error("/x/s.ini", "/x/s.ini:0: no usable nameserver");
	conf_log_error("/x/s.ini", "something else entirely");
	conf_log_error("/x/s.ini", "/x/s.ini: refused, the agent could change it");
	conf_log_load("/x/s.ini");
	log_close();
	readback(fd, path, buf, sizeof(buf));
	assert_non_null(strstr(buf, " event=config.error daemon=test-daemon file=/x/s.ini line=12 "
	                            "error=\"unknown key \\\"foo\\\" in [gate]\"\n"));
	assert_non_null(strstr(buf, " line=0 error=\"no usable nameserver\"\n"));
	assert_non_null(strstr(buf, " line=0 error=\"something else entirely\"\n"));
	assert_non_null(strstr(buf, " line=0 error=\"refused, the agent could change it\"\n"));
	assert_non_null(strstr(buf, " event=config.load daemon=test-daemon file=/x/s.ini\n"));
}

/* When does a reload have to take allowed addresses back? */
static void
test_narrowed(void **state)
{
	static const struct {
		const char *old, *nc;
		bool narrowed;
	} cases[] = {
	    {"domain = a.test\n", "domain = a.test\n", false},
	    {"domain = a.test\n", "domain = a.test\ndomain = b.test\n", false},
	    {"domain = a.test\ndomain = b.test\n", "domain = b.test\n", true},
	    {"domain = a.test tcp/22\n", "domain = a.test tcp/22 tcp/443\n", false},
	    {"domain = a.test tcp/22 tcp/443\n", "domain = a.test tcp/22\n", true},
	    {"domain = *.a.test\n", "domain = .a.test\n", true}, /* another line */
	    {"domain = A.test.\n", "domain = a.test\n", false},  /* normalized alike */
	    {"domain = a.test\n", "[gate]\nports = tcp/443\n[allow]\ndomain = a.test\n", true},
	    {"network = 192.0.2.0/24\n", "", false},         /* static sets are refilled anyway */
	    {"domain = db inward\n", "domain = db\n", true}, /* the opt-in went */
	    {"domain = db\n", "domain = db inward\n", false},
	    {"domain = db tcp/1 inward\n", "domain = db inward tcp/1\n", false},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char a[512], b[512];
		struct conf co, cn;

		snprintf(a, sizeof(a), HEAD "[allow]\n%s", cases[i].old);
		snprintf(b, sizeof(b), HEAD "[allow]\n%s", cases[i].nc);
		load_ok(a, &co);
		load_ok(b, &cn);
		if (conf_allow_narrowed(&co, &cn) != cases[i].narrowed)
			fail_msg("case %zu: narrowed should be %d", i, cases[i].narrowed);
		conf_free(&co);
		conf_free(&cn);
	}
}

/* [gate] inbound: empty by default and when set empty, ports otherwise;
 * a bad port is file:line; it prints and loads back the same. */
static void
test_inbound(void **state)
{
	char path[PATH_MAX];
	struct conf c;

	load_ok(HEAD, &c);
	assert_int_equal(c.inbound.n, 0);
	conf_free(&c);
	load_ok(HEAD "[gate]\ninbound =\n", &c);
	assert_int_equal(c.inbound.n, 0);
	conf_free(&c);
	load_ok(HEAD "[gate]\ninbound = tcp/3000 udp/5000 tcp/3000\n", &c);
	assert_string_equal(fmt_ports(&c.inbound), "tcp/3000 udp/5000");
	conf_free(&c);
	load_bad(HEAD "[gate]\ninbound = tcp/3000 3001\n", 4, "bad port \"3001\"");
	load_bad(HEAD "[gate]\ninbound = tcp/0\n", 4, "bad port");
	write_ini(HEAD "[gate]\ninbound = udp/5000 tcp/3000\n", path, sizeof(path));
	roundtrip(path);
	write_ini(HEAD, path, sizeof(path));
	roundtrip(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_bind_keys),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_narrowed),
	    cmocka_unit_test(test_inward),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_search),
	    cmocka_unit_test(test_comments_and_spacing),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_resolv_errors),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_log_events),
	    cmocka_unit_test(test_inbound),
	    cmocka_unit_test(test_get),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
