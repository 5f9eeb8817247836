/* The iptables-restore text: exact lines for a sample config, both families. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sys/socket.h>

#include "conf.h"
#include "rules.h"

static void
sample_conf(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(addr_parse("127.0.0.1", 53, &c->listen[0]), 0);
	assert_int_equal(addr_parse("[::1]:5353", 53, &c->listen[1]), 0);
	c->nlisten = 2;
	assert_int_equal(addr_parse("198.51.100.53", 53, &c->upstream[0]), 0);
	assert_int_equal(addr_parse("[2001:db8:53::53]:853", 53, &c->upstream[1]), 0);
	assert_int_equal(addr_parse("127.0.0.11", 53, &c->upstream[2]), 0);
	c->nupstream = 3;
	c->queue = 7;
}

/* DNS ports: 53 and 853 always, 5353 from the [::1]:5353 listen address;
 * by original destination port, and new flows from those ports. */
#define DNS_DISPATCH_PORT(p)                                                                       \
	"-A NAMEGATE -p udp -m conntrack --ctorigdstport " p " -j NAMEGATE-DNS\n"                  \
	"-A NAMEGATE -p tcp -m conntrack --ctorigdstport " p " -j NAMEGATE-DNS\n"                  \
	"-A NAMEGATE -p udp -m udp --sport " p " -j NAMEGATE-DNS\n"                                \
	"-A NAMEGATE -p tcp -m tcp --sport " p " -j NAMEGATE-DNS\n"
#define DNS_DISPATCH DNS_DISPATCH_PORT("53") DNS_DISPATCH_PORT("853") DNS_DISPATCH_PORT("5353")

static const char expect_v4[] =
    "*filter\n"
    ":NAMEGATE - [0:0]\n"
    ":NAMEGATE-DNS - [0:0]\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -p tcp -j REJECT --reject-with tcp-reset\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -j REJECT --reject-with icmp-admin-prohibited\n"
    "-A NAMEGATE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
    DNS_DISPATCH
    "-A NAMEGATE -o lo -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate4 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate-net4 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -j NFQUEUE --queue-num 7\n"
    "-A NAMEGATE-DNS -o lo -m conntrack --ctorigdst 127.0.0.1 --ctorigdstport 53 -j ACCEPT\n"
    "-A NAMEGATE-DNS -m owner --uid-owner 999 -m conntrack --ctorigdst 198.51.100.53 "
    "--ctorigdstport 53 -j ACCEPT\n"
    "-A NAMEGATE-DNS -m owner --uid-owner 999 -m conntrack --ctorigdst 127.0.0.11 --ctorigdstport "
    "53 -j ACCEPT\n"
    "-A NAMEGATE-DNS ! -o lo -m owner --uid-owner 0 -j ACCEPT\n"
    "-A NAMEGATE-DNS -j MARK --set-mark 0x4e470001\n"
    "-A NAMEGATE-DNS -j NFQUEUE --queue-num 7\n"
    "-I OUTPUT 1 -j NAMEGATE\n"
    "COMMIT\n";

static const char expect_v6[] =
    "*filter\n"
    ":NAMEGATE - [0:0]\n"
    ":NAMEGATE-DNS - [0:0]\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -p tcp -j REJECT --reject-with tcp-reset\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -j REJECT --reject-with icmp6-adm-prohibited\n"
    "-A NAMEGATE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
    DNS_DISPATCH
    "-A NAMEGATE -o lo -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 133 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 137 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate6 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate-net6 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -j NFQUEUE --queue-num 7\n"
    "-A NAMEGATE-DNS -o lo -m conntrack --ctorigdst ::1 --ctorigdstport 5353 -j ACCEPT\n"
    "-A NAMEGATE-DNS -m owner --uid-owner 999 -m conntrack --ctorigdst 2001:db8:53::53 "
    "--ctorigdstport 853 -j ACCEPT\n"
    "-A NAMEGATE-DNS ! -o lo -m owner --uid-owner 0 -j ACCEPT\n"
    "-A NAMEGATE-DNS -j MARK --set-mark 0x4e470001\n"
    "-A NAMEGATE-DNS -j NFQUEUE --queue-num 7\n"
    "COMMIT\n";

static void
test_v4(void **state)
{
	struct conf c;
	char buf[8192];
	int n;

	sample_conf(&c);
	n = rules_text(&c, AF_INET, 999, c.queue, true, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(expect_v4));
	assert_string_equal(buf, expect_v4);
}

static void
test_v6_without_jump(void **state)
{
	struct conf c;
	char buf[8192];
	int n;

	sample_conf(&c);
	n = rules_text(&c, AF_INET6, 999, c.queue, false, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(expect_v6));
	assert_string_equal(buf, expect_v6);
}

/* The jump is added only when asked (iptables -C said it is missing). */
static void
test_jump_only_when_asked(void **state)
{
	struct conf c;
	char buf[8192];

	sample_conf(&c);
	assert_true(rules_text(&c, AF_INET, 0, 0, false, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "OUTPUT"));
	assert_true(rules_text(&c, AF_INET6, 0, 0, true, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-I OUTPUT 1 -j NAMEGATE\nCOMMIT\n"));
}

/* Never a --queue-bypass: a dead gate must fail closed. */
static void
test_no_bypass(void **state)
{
	struct conf c;
	char buf[8192];

	sample_conf(&c);
	assert_true(rules_text(&c, AF_INET, 0, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "bypass"));
	assert_true(rules_text(&c, AF_INET6, 0, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "bypass"));
}

/* Root may send DNS past the chain only when Docker's embedded DNS is the
 * upstream (it forwards from inside the namespace, as root). */
static void
test_root_dns_only_for_docker(void **state)
{
	struct conf c;
	char buf[8192];

	sample_conf(&c);
	c.nupstream = 2; /* without 127.0.0.11 */
	assert_true(rules_text(&c, AF_INET, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "--uid-owner 0 "));
	assert_true(rules_text(&c, AF_INET6, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "--uid-owner 0 "));
}

static void
test_too_small(void **state)
{
	struct conf c;
	char buf[100];

	sample_conf(&c);
	assert_int_equal(rules_text(&c, AF_INET, 0, 0, true, buf, sizeof(buf)), -1);
	assert_int_equal(rules_text(&c, AF_INET, 0, 0, true, buf, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v4),
	    cmocka_unit_test(test_v6_without_jump),
	    cmocka_unit_test(test_jump_only_when_asked),
	    cmocka_unit_test(test_no_bypass),
	    cmocka_unit_test(test_root_dns_only_for_docker),
	    cmocka_unit_test(test_too_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
