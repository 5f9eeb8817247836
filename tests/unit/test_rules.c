/* The iptables-restore text: exact lines for a sample config, both families. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sys/socket.h>

#include "conf.h"
#include "dockerdns.h"
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
 * new flows to or from those ports, and DNATed flows by their original
 * destination port. */
#define DNS_DISPATCH                                                                               \
	"-A NAMEGATE -p udp -m multiport --ports 53,853,5353 -j NAMEGATE-DNS\n"                    \
	"-A NAMEGATE -p tcp -m multiport --ports 53,853,5353 -j NAMEGATE-DNS\n"                    \
	"-A NAMEGATE -m conntrack --ctstate DNAT -j NAMEGATE-DNAT\n"
#define DNAT_PORT(p)                                                                               \
	"-A NAMEGATE-DNAT -p udp -m conntrack --ctorigdstport " p " -j NAMEGATE-DNS\n"             \
	"-A NAMEGATE-DNAT -p tcp -m conntrack --ctorigdstport " p " -j NAMEGATE-DNS\n"
#define DNAT_DISPATCH DNAT_PORT("53") DNAT_PORT("853") DNAT_PORT("5353")

/* Inbound: under way, loopback, IPv6's own ICMPv6, [gate] inbound (none in
 * the sample); the rest is logged (at most 100/s) and dropped. */
#define INBOUND_HEAD                                                                               \
	"-A NAMEGATE-IN -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"                    \
	"-A NAMEGATE-IN -i lo -j ACCEPT\n"
#define INBOUND_ICMP6_TYPE(t) "-A NAMEGATE-IN -p ipv6-icmp -m icmp6 --icmpv6-type " t " -j ACCEPT\n"
#define INBOUND_ICMP6                                                                              \
	INBOUND_ICMP6_TYPE("130")                                                                  \
	INBOUND_ICMP6_TYPE("131")                                                                  \
	INBOUND_ICMP6_TYPE("132")                                                                  \
	INBOUND_ICMP6_TYPE("133")                                                                  \
	INBOUND_ICMP6_TYPE("134")                                                                  \
	INBOUND_ICMP6_TYPE("135")                                                                  \
	INBOUND_ICMP6_TYPE("136") INBOUND_ICMP6_TYPE("137") INBOUND_ICMP6_TYPE("143")
#define INBOUND_TAIL                                                                               \
	"-A NAMEGATE-IN -m limit --limit 100/sec --limit-burst 100 -j MARK --set-mark "            \
	"0x4e470003\n"                                                                             \
	"-A NAMEGATE-IN -m mark --mark 0x4e470003 -j NFQUEUE --queue-num 7\n"                      \
	"-A NAMEGATE-IN -j DROP\n"

#define PEND                                                                                       \
	"-A NAMEGATE-PEND -j CONNMARK --set-mark 0x4e470010\n"                                     \
	"-A NAMEGATE-PEND -j ACCEPT\n"

static const char expect_v4[] =
    "*filter\n"
    ":NAMEGATE - [0:0]\n"
    ":NAMEGATE-DNS - [0:0]\n"
    ":NAMEGATE-DNAT - [0:0]\n"
    ":NAMEGATE-IN - [0:0]\n"
    ":NAMEGATE-BIND - [0:0]\n"
    ":NAMEGATE-PEND - [0:0]\n"
    "-A NAMEGATE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -p tcp -j REJECT --reject-with tcp-reset\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -j REJECT --reject-with "
    "icmp-admin-prohibited\n" DNS_DISPATCH DNAT_DISPATCH
    "-A NAMEGATE -d 127.0.0.11 -j NAMEGATE-DNS\n"
    "-A NAMEGATE -o lo -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate-net4 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate4 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -j NFQUEUE --queue-num 7\n"
    "-A NAMEGATE-DNS -o lo -m conntrack --ctorigdst 127.0.0.1 --ctorigdstport 53 -j ACCEPT\n"
    "-A NAMEGATE-DNS -m owner --uid-owner 999 -m conntrack --ctorigdst 198.51.100.53 "
    "--ctorigdstport 53 -j ACCEPT\n"
    "-A NAMEGATE-DNS -m owner --uid-owner 999 -m conntrack --ctorigdst 127.0.0.11 --ctorigdstport "
    "53 -j ACCEPT\n"
    "-A NAMEGATE-DNS ! -o lo -m owner --uid-owner 0 -j ACCEPT\n"
    "-A NAMEGATE-DNS -j MARK --set-mark 0x4e470001\n"
    "-A NAMEGATE-DNS -j NFQUEUE --queue-num 7\n" PEND INBOUND_HEAD INBOUND_TAIL
    "-I OUTPUT 1 -j NAMEGATE\n"
    "COMMIT\n";

static const char expect_v6[] =
    "*filter\n"
    ":NAMEGATE - [0:0]\n"
    ":NAMEGATE-DNS - [0:0]\n"
    ":NAMEGATE-DNAT - [0:0]\n"
    ":NAMEGATE-IN - [0:0]\n"
    ":NAMEGATE-BIND - [0:0]\n"
    ":NAMEGATE-PEND - [0:0]\n"
    "-A NAMEGATE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -p tcp -j REJECT --reject-with tcp-reset\n"
    "-A NAMEGATE -m mark --mark 0x4e470002 -j REJECT --reject-with "
    "icmp6-adm-prohibited\n" DNS_DISPATCH DNAT_DISPATCH "-A NAMEGATE -o lo -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 133 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 137 -j ACCEPT\n"
    "-A NAMEGATE -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate-net6 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -m set --match-set namegate6 dst,dst -j ACCEPT\n"
    "-A NAMEGATE -j NFQUEUE --queue-num 7\n"
    "-A NAMEGATE-DNS -o lo -m conntrack --ctorigdst ::1 --ctorigdstport 5353 -j ACCEPT\n"
    "-A NAMEGATE-DNS -m owner --uid-owner 999 -m conntrack --ctorigdst 2001:db8:53::53 "
    "--ctorigdstport 853 -j ACCEPT\n"
    "-A NAMEGATE-DNS ! -o lo -m owner --uid-owner 0 -j ACCEPT\n"
    "-A NAMEGATE-DNS -j MARK --set-mark 0x4e470001\n"
    "-A NAMEGATE-DNS -j NFQUEUE --queue-num 7\n" PEND INBOUND_HEAD INBOUND_ICMP6 INBOUND_TAIL
    "COMMIT\n";

static void
test_v4(void **state)
{
	struct conf c;
	char buf[8192];
	int n;

	sample_conf(&c);
	n = rules_text(&c, NULL, AF_INET, 999, c.queue, true, buf, sizeof(buf));
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
	n = rules_text(&c, NULL, AF_INET6, 999, c.queue, false, buf, sizeof(buf));
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
	assert_true(rules_text(&c, NULL, AF_INET, 0, 0, false, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "OUTPUT"));
	assert_true(rules_text(&c, NULL, AF_INET6, 0, 0, true, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-I OUTPUT 1 -j NAMEGATE\nCOMMIT\n"));
}

/* Never a --queue-bypass: a dead gate must fail closed. */
static void
test_no_bypass(void **state)
{
	struct conf c;
	char buf[8192];

	sample_conf(&c);
	assert_true(rules_text(&c, NULL, AF_INET, 0, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "bypass"));
	assert_true(rules_text(&c, NULL, AF_INET6, 0, 0, true, buf, sizeof(buf)) > 0);
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
	assert_true(rules_text(&c, NULL, AF_INET, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "--uid-owner 0 "));
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "--uid-owner 0 "));
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* More DNS ports than one multiport match takes: split, none lost. */
static void
test_many_ports(void **state)
{
	static char buf[65536];
	char want[64];
	struct conf c;

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < CONF_MAX_LISTEN; i++) {
		snprintf(want, sizeof(want), "127.0.0.1:%d", 1000 + i);
		assert_int_equal(addr_parse(want, 53, &c.listen[i]), 0);
	}
	c.nlisten = CONF_MAX_LISTEN;
	for (int i = 0; i < CONF_MAX_UPSTREAMS; i++) {
		snprintf(want, sizeof(want), "198.51.100.%d:%d", 1 + i, 2000 + i);
		assert_int_equal(addr_parse(want, 53, &c.upstream[i]), 0);
	}
	c.nupstream = CONF_MAX_UPSTREAMS;
	assert_true(rules_text(&c, NULL, AF_INET, 999, 0, false, buf, sizeof(buf)) > 0);
	/* 2 + 8 + 8 = 18 ports: 15 and 3, for udp and tcp */
	assert_int_equal(count(buf, "-m multiport --ports "), 4);
	assert_non_null(strstr(buf, "-A NAMEGATE -p tcp -m multiport --ports 53,853,1000,1001,1002,"
	                            "1003,1004,1005,1006,1007,2000,2001,2002,2003,2004 -j "
	                            "NAMEGATE-DNS\n"));
	assert_non_null(strstr(buf, "-A NAMEGATE -p udp -m multiport --ports 2005,2006,2007 -j "
	                            "NAMEGATE-DNS\n"));
	assert_int_equal(count(buf, "-A NAMEGATE-DNAT -p "), 2 * 18);
	assert_non_null(strstr(buf, "-A NAMEGATE-DNAT -p tcp -m conntrack --ctorigdstport 2007 -j "
	                            "NAMEGATE-DNS\n"));
}

/* Nobody but the resolver reaches Docker's 127.0.0.11, on any port: it
 * listens on random ports besides the DNATed 53 and forwards whatever
 * reaches it. It goes to NAMEGATE-DNS before the loopback accept, in every
 * config (Docker may forward from the host's namespace, out of our reach),
 * and so does every loopback upstream that is not one of our addresses. */
static void
test_local_forwarders(void **state)
{
	struct conf c;
	char buf[8192];
	const char *fwd, *lo;

	sample_conf(&c);
	c.nupstream = 2; /* without 127.0.0.11 */
	assert_true(rules_text(&c, NULL, AF_INET, 999, 0, true, buf, sizeof(buf)) > 0);
	fwd = strstr(buf, "-A NAMEGATE -d 127.0.0.11 -j NAMEGATE-DNS\n");
	lo = strstr(buf, "-A NAMEGATE -o lo -j ACCEPT\n");
	assert_non_null(fwd);
	assert_non_null(lo);
	assert_true(fwd < lo);

	assert_int_equal(addr_parse("127.0.0.53", 53, &c.upstream[2]), 0);
	assert_int_equal(addr_parse("[::1]:5300", 53, &c.upstream[3]), 0);
	assert_int_equal(addr_parse("127.0.0.1:5300", 53, &c.upstream[4]), 0);
	c.nupstream = 5;
	assert_true(rules_text(&c, NULL, AF_INET, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-A NAMEGATE -d 127.0.0.11 -j NAMEGATE-DNS\n"
	                            "-A NAMEGATE -d 127.0.0.53 -j NAMEGATE-DNS\n"
	                            "-A NAMEGATE -o lo -j ACCEPT\n"));
	/* 127.0.0.1 is ours (listen): only its DNS ports are DNS. */
	assert_null(strstr(buf, "-d 127.0.0.1 "));
	/* [::1]:5353 is ours too in the sample, so ::1 stays open but for its
	 * DNS ports; without it, all of ::1 is the forwarder's. */
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "-d ::1 "));
	c.nlisten = 1;
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-A NAMEGATE -d ::1 -j NAMEGATE-DNS\n"
	                            "-A NAMEGATE -o lo -j ACCEPT\n"));
	assert_null(strstr(buf, "127.0.0.11"));
}

/* With Docker's ExtServers known, root may send DNS only to those of them
 * that Docker forwards to from this namespace, on port 53. */
static void
test_root_dns_only_to_ext_servers(void **state)
{
	struct dockerdns dd;
	struct conf c;
	char buf[8192];

	sample_conf(&c);
	assert_true(dockerdns_parse_line(
	    "# ExtServers: [198.51.100.7 host(127.0.0.53) 2001:db8::7 junk 1.2.3.4:53]\n", &dd));
	assert_true(rules_text(&c, &dd, AF_INET, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "! -o lo -m owner --uid-owner 0 -j ACCEPT"));
	assert_non_null(strstr(buf, "-A NAMEGATE-DNS -d 198.51.100.7 -p udp -m udp --dport 53 -m "
	                            "owner --uid-owner 0 -j ACCEPT\n"
	                            "-A NAMEGATE-DNS -d 198.51.100.7 -p tcp -m tcp --dport 53 -m "
	                            "owner --uid-owner 0 -j ACCEPT\n"
	                            "-A NAMEGATE-DNS -j MARK"));
	assert_int_equal(count(buf, "--uid-owner 0 "), 2);
	assert_true(rules_text(&c, &dd, AF_INET6, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_int_equal(count(buf, "--uid-owner 0 "), 2);
	assert_non_null(strstr(buf, "-A NAMEGATE-DNS -d 2001:db8::7 -p tcp -m tcp --dport 53 -m "
	                            "owner --uid-owner 0 -j ACCEPT\n"));

	/* Only host(...) servers: Docker forwards from the host's namespace,
	 * nothing of root's needs an exception here. */
	assert_true(dockerdns_parse_line("# ExtServers: [host(127.0.0.53)]", &dd));
	assert_true(rules_text(&c, &dd, AF_INET, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "--uid-owner 0 "));
	/* Known, but we do not use 127.0.0.11: no exception at all. */
	assert_true(dockerdns_parse_line("# ExtServers: [198.51.100.7]", &dd));
	c.nupstream = 2;
	assert_true(rules_text(&c, &dd, AF_INET, 999, 0, true, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "--uid-owner 0 "));
}

static void
test_dockerdns_parse(void **state)
{
	struct dockerdns dd;
	char ip[ADDR_STRLEN];

	assert_false(dockerdns_parse_line("nameserver 127.0.0.11\n", &dd));
	assert_false(dockerdns_parse_line("#ExtServers: [192.0.2.1]", &dd));
	assert_false(dockerdns_parse_line("# ExtServers: [192.0.2.1", &dd));
	assert_true(dockerdns_parse_line("# ExtServers: []\n", &dd));
	assert_true(dd.known);
	assert_int_equal(dd.next, 0);
	assert_true(dockerdns_parse_line(
	    "# ExtServers: [192.0.2.1 host(192.0.2.2) 192.0.2.1 fe80::1%eth0 host(x) [::1]:53]",
	    &dd));
	assert_int_equal(dd.next, 1);
	assert_int_equal(dd.nhost, 1);
	assert_string_equal(addr_ntop(&dd.ext[0], ip, sizeof(ip)), "192.0.2.1");
	assert_int_equal(dd.ext[0].port, 53);
}

static void
test_dockerdns_read(void **state)
{
	char path[] = "/tmp/test_rules_resolvXXXXXX";
	struct dockerdns dd;
	FILE *fp;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs("nameserver 127.0.0.11\noptions ndots:0\n\n# Based on host file: "
	      "'/etc/resolv.conf' (internal resolver)\n# ExtServers: [198.51.100.53]\n"
	      "# ExtServers: [192.0.2.9]\n# Overrides: []\n",
	      fp);
	fclose(fp);
	assert_int_equal(dockerdns_read(path, &dd), 0);
	assert_true(dd.known);
	assert_int_equal(dd.next, 1);
	assert_int_equal(dd.ext[0].ip[3], 53);
	unlink(path);
	assert_int_equal(dockerdns_read(path, &dd), 0);
	assert_false(dd.known);
}

/* [gate] inbound opens exactly its ports, by protocol, 15 to a multiport
 * match; the INPUT jump only when asked. */
static void
test_inbound_ports(void **state)
{
	static char buf[16384];
	struct conf c;
	struct port p;
	char word[16];

	sample_conf(&c);
	assert_int_equal(port_parse("tcp/3000", &p), 0);
	assert_int_equal(portlist_add(&c.inbound, p), 0);
	assert_int_equal(port_parse("udp/5000", &p), 0);
	assert_int_equal(portlist_add(&c.inbound, p), 0);
	assert_true(rules_text(&c, NULL, AF_INET, 999, 0, RULES_JUMP_INPUT, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-A NAMEGATE-IN -i lo -j ACCEPT\n"
	                            "-A NAMEGATE-IN -p udp -m multiport --dports 5000 -j ACCEPT\n"
	                            "-A NAMEGATE-IN -p tcp -m multiport --dports 3000 -j ACCEPT\n"
	                            "-A NAMEGATE-IN -m limit "));
	assert_non_null(strstr(buf, "-I INPUT 1 -j NAMEGATE-IN\nCOMMIT\n"));
	assert_null(strstr(buf, "-I OUTPUT"));
	assert_int_equal(count(buf, "icmp6"), 0);

	memset(&c.inbound, 0, sizeof(c.inbound));
	for (int i = 0; i < 20; i++) {
		snprintf(word, sizeof(word), "tcp/%d", 4000 + i);
		assert_int_equal(port_parse(word, &p), 0);
		assert_int_equal(portlist_add(&c.inbound, p), 0);
	}
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 0, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf,
	                       "-A NAMEGATE-IN -p tcp -m multiport --dports "
	                       "4000,4001,4002,4003,4004,4005,4006,4007,4008,4009,4010,4011,4012,"
	                       "4013,4014 -j ACCEPT\n"
	                       "-A NAMEGATE-IN -p tcp -m multiport --dports "
	                       "4015,4016,4017,4018,4019 -j ACCEPT\n"));
	assert_null(strstr(buf, "-p udp -m multiport --dports"));
	assert_null(strstr(buf, "INPUT"));
	assert_non_null(strstr(buf, "-A NAMEGATE-IN -j DROP\n"));
	/* audit mode lets in what it does not log, too */
	c.mode = MODE_AUDIT;
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 0, 0, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "-A NAMEGATE-IN -j DROP\n"));
	assert_non_null(strstr(buf, "-A NAMEGATE-IN -j ACCEPT\nCOMMIT\n"));
}

/* The binding: pending connections before the ESTABLISHED accept, the
 * static networks before the pending mark, exact pure-ACK matches. */
static void
test_bind(void **state)
{
	struct conf c;
	struct port p;
	char buf[16384];

	sample_conf(&c);
	assert_int_equal(port_parse("tcp/443", &p), 0);
	assert_int_equal(portlist_add(&c.tls_ports, p), 0);
	assert_int_equal(port_parse("tcp/80", &p), 0);
	assert_int_equal(portlist_add(&c.http_ports, p), 0);
	assert_true(rules_text(&c, NULL, AF_INET, 999, 7, 0, buf, sizeof(buf)) > 0);
	assert_non_null(
	    strstr(buf, ":NAMEGATE-PEND - [0:0]\n"
	                "-A NAMEGATE -m connmark --mark 0x4e470010/0xfffffffe -j "
	                "NAMEGATE-BIND\n"
	                "-A NAMEGATE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"));
	assert_non_null(strstr(buf,
	                       "-A NAMEGATE -m set --match-set namegate-net4 dst,dst -j ACCEPT\n"
	                       "-A NAMEGATE -p tcp -m multiport --dports 443,80 -m set "
	                       "--match-set namegate4 dst,dst -j NAMEGATE-PEND\n"
	                       "-A NAMEGATE -m set --match-set namegate4 dst,dst -j ACCEPT\n"));
	assert_non_null(strstr(buf, "-A NAMEGATE-BIND -p tcp -m length --length 52 -m u32 --u32 "
	                            "\"0>>24=0x45&&32>>26&0x3C=32\" -j ACCEPT\n"));
	assert_non_null(strstr(buf, "-A NAMEGATE-BIND -j NFQUEUE --queue-num 7\n"));
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 7, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-A NAMEGATE-BIND -p tcp -m length --length 72 -m u32 --u32 "
	                            "\"4&0xFF00=0x600&&52>>26&0x3C=32\" -j ACCEPT\n"));
	/* the SYN too: Fast Open data is a first flight */
	assert_non_null(strstr(buf, "-A NAMEGATE-PEND -j CONNMARK --set-mark 0x4e470010\n"
	                            "-A NAMEGATE-PEND -j NAMEGATE-BIND\n"));
	assert_non_null(strstr(buf, "--length 80 -m u32 --u32 \"4&0xFF00=0x600&&52>>26&0x3C=40\""));
	/* QUIC: its own pending rule; a judged flow's long-header packets go
	 * back to the gate, its 1-RTT packets pass; denials are ICMP */
	assert_null(strstr(buf, "-p udp -m multiport --dports"));
	assert_int_equal(port_parse("udp/443", &p), 0);
	assert_int_equal(portlist_add(&c.quic_ports, p), 0);
	assert_true(rules_text(&c, NULL, AF_INET, 999, 7, 0, buf, sizeof(buf)) > 0);
	assert_non_null(
	    strstr(buf, "-A NAMEGATE -p udp -m connmark --mark 0x4e470012 -j NAMEGATE-BIND\n"
	                "-A NAMEGATE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"));
	assert_non_null(strstr(buf, "-A NAMEGATE -p udp -m multiport --dports 443 -m set "
	                            "--match-set namegate4 dst,dst -j NAMEGATE-PEND\n"));
	assert_non_null(strstr(buf, "-A NAMEGATE-BIND -p udp -m connmark --mark 0x4e470012 -m u32 "
	                            "--u32 \"0>>22&0x3C@8>>24&0x80=0\" -j ACCEPT\n"
	                            "-A NAMEGATE-BIND -p udp -m connmark --mark 0x4e470012 -j MARK "
	                            "--set-mark 0x4e470024\n"));
	assert_non_null(strstr(buf, "-A NAMEGATE-BIND -m mark --mark 0x4e470002 -p udp -j REJECT "
	                            "--reject-with icmp-admin-prohibited\n"));
	c.tls_ports.n = c.http_ports.n = 0;
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 7, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "-A NAMEGATE -m connmark --mark 0x4e470010/0xfffffffe -j "
	                            "NAMEGATE-BIND\n"));
	assert_non_null(strstr(buf, "--u32 \"4&0xFF00=0x1100&&48>>24&0x80=0\" -j ACCEPT\n"));
	assert_null(strstr(buf, "-p tcp -m multiport --dports"));
	c.bind = BIND_OFF;
	assert_true(rules_text(&c, NULL, AF_INET, 999, 7, 0, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "-j NAMEGATE-BIND"));
	assert_null(strstr(buf, "-j NAMEGATE-PEND"));
}

/* Every checked port goes through NAMEGATE-PEND, past the 15 one multiport
 * match takes too: a port left out would be let out by the set alone, its
 * ClientHello unread (rules.c once kept only the first 15). */
static void
test_bind_many_ports(void **state)
{
	static char buf[65536];
	struct conf c;
	char want[128];
	int i;

	sample_conf(&c);
	for (i = 0; i < CONF_MAX_PORTS; i++)
		assert_int_equal(portlist_add(&c.tls_ports, (struct port){IPPROTO_TCP, 1000 + i}),
		                 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(portlist_add(&c.http_ports, (struct port){IPPROTO_TCP, 8000 + i}),
		                 0);
	assert_true(rules_text(&c, NULL, AF_INET6, 999, 7, 0, buf, sizeof(buf)) > 0);
	/* 32 + 3 = 35 ports: 15, 15 and 5 */
	assert_int_equal(count(buf, "dst,dst -j NAMEGATE-PEND\n"), 3);
	assert_non_null(strstr(buf, "-A NAMEGATE -p tcp -m multiport --dports "
	                            "1030,1031,8000,8001,8002 -m set --match-set namegate6 "
	                            "dst,dst -j NAMEGATE-PEND\n"));
	for (i = 0; i < CONF_MAX_PORTS + 3; i++) {
		const char *p;
		int port = i < CONF_MAX_PORTS ? 1000 + i : 8000 + i - CONF_MAX_PORTS;

		snprintf(want, sizeof(want), "%d", port);
		for (p = strstr(buf, "-A NAMEGATE -p tcp -m multiport --dports "); p != NULL;
		     p = strstr(p + 1, "-A NAMEGATE -p tcp -m multiport --dports ")) {
			const char *e = strchr(p, '\n');

			if (memmem(p, (size_t)(e - p), want, strlen(want)) != NULL)
				break;
		}
		assert_non_null(p);
	}
}

static void
test_too_small(void **state)
{
	struct conf c;
	char buf[100];

	sample_conf(&c);
	assert_int_equal(rules_text(&c, NULL, AF_INET, 0, 0, true, buf, sizeof(buf)), -1);
	assert_int_equal(rules_text(&c, NULL, AF_INET, 0, 0, true, buf, 0), -1);
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
	    cmocka_unit_test(test_many_ports),
	    cmocka_unit_test(test_local_forwarders),
	    cmocka_unit_test(test_root_dns_only_to_ext_servers),
	    cmocka_unit_test(test_dockerdns_parse),
	    cmocka_unit_test(test_dockerdns_read),
	    cmocka_unit_test(test_inbound_ports),
	    cmocka_unit_test(test_bind),
	    cmocka_unit_test(test_bind_many_ports),
	    cmocka_unit_test(test_too_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
