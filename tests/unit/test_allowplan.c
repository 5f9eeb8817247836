/* The gate's plan for an ALLOW request: ports from the gate's own config,
 * the TTL clamped (never 0, which would mean "forever"), one entry per
 * address and port, nothing for a name off the list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allowplan.h"
#include "conf_fixture.h"

static struct conf conf;
static struct allowplan plan;

static int
setup(void **state)
{
	char path[CONF_FIXTURE_PATH_LEN];
	static const char text[] = "[resolver]\n"
	                           "upstream = 192.0.2.53\n"
	                           "min_ttl = 30\n"
	                           "max_ttl = 600\n"
	                           "[log]\n"
	                           "file =\n"
	                           "[allow]\n"
	                           "domain = www.example.test\n"
	                           "domain = .example.test tcp/22\n"
	                           "domain = quic.example.test udp/443\n"
	                           "domain = db tcp/5432 inward\n"
	                           "domain = db udp/53\n";
	int rc = conf_fixture_load(text, &conf, path);

	unlink(path);
	return rc;
}

static int
teardown(void **state)
{
	conf_free(&conf);
	return 0;
}

static void
msg(struct gateipc_allow *m, const char *name, uint32_t ttl, const char *const *ips)
{
	uint8_t ip[16];

	assert_int_equal(gateipc_allow_init(m, 1, name, ttl), 0);
	for (; *ips != NULL; ips++) {
		int family = strchr(*ips, ':') ? AF_INET6 : AF_INET;

		memset(ip, 0, sizeof(ip));
		assert_int_equal(inet_pton(family, *ips, ip), 1);
		assert_int_equal(gateipc_allow_add(m, family, ip), 0);
	}
}

static void
test_ports_and_families(void **state)
{
	static const char *const ips[] = {"192.0.2.1", "2001:db8::1", "192.0.2.2", NULL};
	struct gateipc_allow m;

	/* www matches its own line (default ports tcp/443 tcp/80) and
	 * .example.test (tcp/22): the union. */
	msg(&m, "www.example.test", 300, ips);
	assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_OK);
	assert_int_equal(plan.ports.n, 3);
	assert_int_equal(plan.n4, 2 * 3);
	assert_int_equal(plan.n6, 1 * 3);
	assert_int_equal(plan.ttl, 300);
	for (size_t i = 0; i < plan.n4; i++) {
		assert_int_equal(plan.v4[i].family, AF_INET);
		assert_true(portlist_has(&plan.ports, plan.v4[i].proto, plan.v4[i].port));
	}
	assert_true(portlist_has(&plan.ports, IPPROTO_TCP, 22));
	assert_true(portlist_has(&plan.ports, IPPROTO_TCP, 443));
	assert_false(portlist_has(&plan.ports, IPPROTO_UDP, 443));
	assert_memory_equal(plan.v6[0].ip, m.addrs[1].ip, 16);
}

static void
test_ttl_clamped(void **state)
{
	static const char *const ips[] = {"192.0.2.1", NULL};
	struct gateipc_allow m;

	msg(&m, "quic.example.test", 0, ips);
	assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_OK);
	assert_int_equal(plan.ttl, 30);
	msg(&m, "quic.example.test", 99999, ips);
	assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_OK);
	assert_int_equal(plan.ttl, 600);
}

static void
test_not_listed(void **state)
{
	static const char *const ips[] = {"192.0.2.1", "2001:db8::1", NULL};
	struct gateipc_allow m;

	msg(&m, "www.example.org", 300, ips);
	assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_ERR_NOT_ALLOWED);
	assert_int_equal(plan.n4, 0);
	assert_int_equal(plan.n6, 0);
	/* "example.test." and "xexample.test" are not ".example.test" */
	msg(&m, "xexample.test", 300, ips);
	assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_ERR_NOT_ALLOWED);
}

/* The gate does not take the resolver's word that an answer holds no
 * inward address: one such address refuses the whole request, unless the
 * name's line says "inward"; then it gets that line's ports only. */
static void
test_inward(void **state)
{
	static const char *const inward[] = {
	    "10.0.0.1",   "169.254.169.254",    "127.0.0.1",       "0.0.0.0",
	    "100.64.1.1", "224.0.0.1",          "255.255.255.255", "::",
	    "::1",        "::ffff:10.0.0.1",    "fd00::1",         "fe80::1",
	    "ff02::1",    "64:ff9b::a9fe:a9fe",
	};
	const char *ips[3] = {"192.0.2.1", NULL, NULL};
	struct gateipc_allow m;
	uint8_t net[4] = {198, 18, 0, 0};

	for (size_t i = 0; i < sizeof(inward) / sizeof(inward[0]); i++) {
		ips[1] = inward[i];
		msg(&m, "www.example.test", 300, ips);
		assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_ERR_NOT_ALLOWED);
		assert_int_equal(plan.n4 + plan.n6, 0);
		assert_ptr_equal(plan.inward, &m.addrs[1]);
		assert_non_null(plan.why);
	}
	/* The container's own subnet, which need not be a private range. */
	ips[1] = "198.18.0.7";
	msg(&m, "www.example.test", 300, ips);
	assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_OK);
	assert_int_equal(inward_local_add(&conf.local, AF_INET, net, 24), 0);
	assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_ERR_NOT_ALLOWED);
	assert_string_equal(plan.why, "local-net");
	memset(&conf.local, 0, sizeof(conf.local));

	/* db opted in on its tcp/5432 line only: its inward addresses get
	 * tcp/5432, its other addresses both lines' ports. */
	{
		static const char *const db[] = {"172.18.0.3", "192.0.2.5", "fd00::3", NULL};

		msg(&m, "db", 300, db);
		assert_int_equal(allowplan_make(&conf, &m, &plan), GATEIPC_OK);
		assert_null(plan.inward);
		assert_int_equal(plan.n4, 1 + 2);
		assert_int_equal(plan.n6, 1);
		assert_int_equal(plan.v4[0].proto, IPPROTO_TCP);
		assert_int_equal(plan.v4[0].port, 5432);
		assert_int_equal(plan.v6[0].port, 5432);
		assert_int_equal(plan.v4[1].port, 5432);
		assert_int_equal(plan.v4[2].proto, IPPROTO_UDP);
	}
}

/* Which lines hold which entry: the lines the name matches, narrowed to
 * those with the entry's port, so each line counts only its own. */
static void
test_lines(void **state)
{
	uint32_t lines[8], el[8];
	struct ipset_entry e;
	size_t n;

	assert_true(conf.ndomains <= 8);
	n = allowplan_lines(&conf, "www.example.test", lines);
	assert_int_equal(n, 2);
	assert_int_equal(lines[0], 0); /* www.example.test */
	assert_int_equal(lines[1], 1); /* .example.test tcp/22 */
	memset(&e, 0, sizeof(e));
	e.family = AF_INET;
	e.proto = IPPROTO_TCP;
	e.port = 22;
	assert_int_equal(allowplan_entry_lines(&conf, lines, n, &e, el), 1);
	assert_int_equal(el[0], 1);
	e.port = 443;
	assert_int_equal(allowplan_entry_lines(&conf, lines, n, &e, el), 1);
	assert_int_equal(el[0], 0);
	e.proto = IPPROTO_UDP;
	assert_int_equal(allowplan_entry_lines(&conf, lines, n, &e, el), 0);
	/* quic matches .example.test and its own line */
	n = allowplan_lines(&conf, "quic.example.test", lines);
	assert_int_equal(n, 2);
	assert_int_equal(lines[0], 1);
	assert_int_equal(lines[1], 2);
	assert_int_equal(allowplan_entry_lines(&conf, lines, n, &e, el), 1);
	assert_int_equal(el[0], 2);
	assert_int_equal(allowplan_lines(&conf, "www.example.org", lines), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ports_and_families),
	    cmocka_unit_test(test_ttl_clamped),
	    cmocka_unit_test(test_not_listed),
	    cmocka_unit_test(test_inward),
	    cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
