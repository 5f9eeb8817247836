/* iptables rules: the restore text (pure) and running the tools. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "dockerdns.h"
#include "kernel.h"
#include "log.h"
#include "rules.h"

#define RULES_BUF 65536
#define TOOL_ERR_MAX 4096
/* iptables -D removes one copy per call; more copies than this means
 * something else keeps adding them, and we stop rather than spin. */
#define MAX_JUMP_COPIES 64
/* The ports one multiport match takes, at most. */
#define MULTIPORT_MAX 15

struct textbuf {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void tb_printf(struct textbuf *tb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tb_printf(struct textbuf *tb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (tb->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(tb->p + tb->len, tb->cap - tb->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= tb->cap - tb->len) {
		tb->overflow = true;
		return;
	}
	tb->len += (size_t)n;
}

/* Rules that match ports with multiport, at most MULTIPORT_MAX a rule: for
 * each list of ports, one rule per protocol, "-A chain -p proto -m multiport
 * --opt LIST then". opt is "ports" (source or destination) or "dports"; then
 * is the rest of the rule, from its leading space. */
static void
multiport_rules(struct textbuf *tb, const char *chain, const char *const *protos, size_t nprotos,
                const char *opt, const uint16_t *ports, size_t n, const char *then)
{
	size_t i, j, k;

	for (i = 0; i < n; i += MULTIPORT_MAX) {
		char list[MULTIPORT_MAX * 6 + 1];
		size_t used = 0;

		for (j = i; j < n && j < i + MULTIPORT_MAX; j++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%u",
			                         j > i ? "," : "", ports[j]);
		for (k = 0; k < nprotos; k++)
			tb_printf(tb, "-A %s -p %s -m multiport --%s %s%s\n", chain, protos[k], opt,
			          list, then);
	}
}

/* The ports DNS is spoken on here: the well-known ones, and whatever our
 * listen addresses and upstreams use. Returns how many went into ports. */
static size_t
dns_ports(const struct conf *c, uint16_t *ports, size_t max)
{
	size_t n = 0, i, j;
	uint16_t cand[2 + CONF_MAX_LISTEN + CONF_MAX_UPSTREAMS];
	size_t ncand = 0;

	cand[ncand++] = 53;
	cand[ncand++] = 853;
	for (i = 0; i < c->nlisten; i++)
		cand[ncand++] = c->listen[i].port;
	for (i = 0; i < c->nupstream; i++)
		cand[ncand++] = c->upstream[i].port;
	for (i = 0; i < ncand && n < max; i++) {
		for (j = 0; j < n && ports[j] != cand[i]; j++)
			;
		if (j == n)
			ports[n++] = cand[i];
	}
	return n;
}

static bool
uses_docker_dns(const struct conf *c)
{
	struct addr docker;
	size_t i;

	addr_parse(DOCKERDNS_ADDR, 53, &docker);
	for (i = 0; i < c->nupstream; i++)
		if (addr_ip_equal(&c->upstream[i], &docker))
			return true;
	return false;
}

static bool
is_loopback(const struct addr *a)
{
	static const uint8_t v6lo[16] = {[15] = 1};

	if (a->family == AF_INET)
		return a->ip[0] == 127;
	return memcmp(a->ip, v6lo, sizeof(v6lo)) == 0;
}

static bool
is_listen_ip(const struct conf *c, const struct addr *a)
{
	size_t i;

	for (i = 0; i < c->nlisten; i++)
		if (addr_ip_equal(&c->listen[i], a))
			return true;
	return false;
}

/* Local forwarders: Docker's embedded DNS at 127.0.0.11, whether or not we
 * use it (it may forward from the host's namespace, out of our rules'
 * reach), and every upstream on a loopback address that is not also ours
 * (systemd-resolved's 127.0.0.53, ...). They listen on more ports than
 * their DNS port (Docker: random ones, DNATed from 53), and whatever
 * reaches them on any port is forwarded, so a new flow to such an address
 * is DNS whatever its port. Returns how many went into out. */
static size_t
forwarders(const struct conf *c, int family, struct addr *out, size_t max)
{
	size_t n = 0, i, j;

	if (family == AF_INET && max > 0)
		addr_parse(DOCKERDNS_ADDR, 53, &out[n++]);
	for (i = 0; i < c->nupstream && n < max; i++) {
		const struct addr *u = &c->upstream[i];

		if (u->family != family || !is_loopback(u) || is_listen_ip(c, u))
			continue;
		for (j = 0; j < n && !addr_ip_equal(&out[j], u); j++)
			;
		if (j == n)
			out[n++] = *u;
	}
	return n;
}

/*
 * Inbound: a listener the agent opens is an egress channel if anyone outside
 * may connect to it and read (its replies are ESTABLISHED). New inbound flows
 * are dropped, but on loopback, to the ports of [gate] inbound, and the ICMPv6
 * that IPv6 needs (MLD 130-132 and 143, router and neighbour discovery
 * 133-137). The rest is marked and queued so the gate logs it (flow.deny
 * reason=inbound) and drops it, at most 100 a second (a flood from outside
 * must not fill the queue the agent's own denials go through); past that it
 * is dropped here, unlogged (let in, in audit mode).
 */
static void
inbound_text(struct textbuf *tb, const struct conf *c, int family, unsigned queue)
{
	static const char *const protos[] = {"udp", "tcp"};
	static const unsigned icmp6_types[] = {130, 131, 132, 133, 134, 135, 136, 137, 143};
	size_t i, k;

	tb_printf(tb,
	          "-A " KERNEL_CHAIN_IN " -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n");
	tb_printf(tb, "-A " KERNEL_CHAIN_IN " -i lo -j ACCEPT\n");
	for (i = 0; family == AF_INET6 && i < sizeof(icmp6_types) / sizeof(icmp6_types[0]); i++)
		tb_printf(
		    tb, "-A " KERNEL_CHAIN_IN " -p ipv6-icmp -m icmp6 --icmpv6-type %u -j ACCEPT\n",
		    icmp6_types[i]);
	for (k = 0; k < 2; k++) {
		uint8_t proto = k == 0 ? IPPROTO_UDP : IPPROTO_TCP;
		uint16_t ports[CONF_MAX_PORTS];
		size_t n = 0;

		for (i = 0; i < c->inbound.n && n < CONF_MAX_PORTS; i++)
			if (c->inbound.v[i].proto == proto)
				ports[n++] = c->inbound.v[i].port;
		multiport_rules(tb, KERNEL_CHAIN_IN, &protos[k], 1, "dports", ports, n,
		                " -j ACCEPT");
	}
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_IN
	          " -m limit --limit 100/sec --limit-burst 100 -j MARK --set-mark "
	          "0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_MARK_INBOUND);
	tb_printf(
	    tb, "-A " KERNEL_CHAIN_IN " -m mark --mark 0x%08" PRIx32 " -j NFQUEUE --queue-num %u\n",
	    (uint32_t)KERNEL_MARK_INBOUND, queue);
	/* Audit mode lets everything in, past the logging limit too. */
	tb_printf(tb, "-A " KERNEL_CHAIN_IN " -j %s\n", c->mode == MODE_AUDIT ? "ACCEPT" : "DROP");
}

/* The ports whose first flight is judged (bind.h), every one of them:
 * TCP's (tls_ports, http_ports) or UDP's (quic_ports); none when the check
 * is off. Returns how many went into ports. */
static size_t
bind_ports(const struct conf *c, uint8_t proto, uint16_t *ports, size_t max)
{
	const struct portlist *pls[] = {&c->tls_ports, &c->http_ports, &c->quic_ports};
	size_t n = 0, i, k;

	if (c->bind == BIND_OFF)
		return 0;
	for (k = proto == IPPROTO_UDP ? 2 : 0; k < (proto == IPPROTO_UDP ? 3u : 2u); k++) {
		for (i = 0; i < pls[k]->n && n < max; i++)
			ports[n++] = pls[k]->v[i].port;
	}
	return n;
}

/*
 * The binding (nfq/bind.h). A new TCP flow the sets admit to a checked port
 * goes through NAMEGATE-PEND: its connection is marked pending and its SYN
 * accepted. Every later packet of a pending connection comes to
 * NAMEGATE-BIND before the ESTABLISHED accept: the gate's verdicts (marks
 * with NF_REPEAT) become connection marks here, packets without payload
 * pass, the rest is queued. A pure ACK is recognised exactly, by its IP
 * length equal to the headers' (u32 reads IHL and the TCP data offset):
 * a length bound alone would let small segments through unread, and an
 * HTTP request can be sent a few bytes a segment. The common shapes (no IP
 * options; a TCP header of 20 or 32 bytes, with timestamps) are matched
 * here, and a SYN's (40: MSS, SACK, timestamps, window scale); any other
 * payload-free packet goes to the gate, which passes it.
 */
static void
bind_text(struct textbuf *tb, const struct conf *c, int family, unsigned queue)
{
	static const unsigned doffs[] = {20, 32, 40}; /* 40: a SYN's options */
	size_t i;

	tb_printf(tb, "-A " KERNEL_CHAIN_PEND " -j CONNMARK --set-mark 0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_CT_PENDING);
	if (c->bind == BIND_OFF || c->tls_ports.n + c->http_ports.n + c->quic_ports.n == 0) {
		tb_printf(tb, "-A " KERNEL_CHAIN_PEND " -j ACCEPT\n");
		return;
	}
	/* The SYN goes the way of every pending packet: a SYN that carries
	 * data (TCP Fast Open) would hand the server a ClientHello unread. */
	tb_printf(tb, "-A " KERNEL_CHAIN_PEND " -j " KERNEL_CHAIN_BIND "\n");
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -m mark --mark 0x%08" PRIx32
	          " -p tcp -j REJECT --reject-with tcp-reset\n",
	          (uint32_t)KERNEL_MARK_DENY);
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -m mark --mark 0x%08" PRIx32
	          " -p udp -j REJECT --reject-with %s\n",
	          (uint32_t)KERNEL_MARK_DENY,
	          family == AF_INET6 ? "icmp6-adm-prohibited" : "icmp-admin-prohibited");
	tb_printf(tb, "-A " KERNEL_CHAIN_BIND " -m mark --mark 0x%08" PRIx32 " -j DROP\n",
	          (uint32_t)KERNEL_MARK_DENY);
	/* That ICMP error, which the kernel ties to the flow it answers. */
	tb_printf(tb, "-A " KERNEL_CHAIN_BIND " -p %s -m conntrack --ctstate RELATED -j ACCEPT\n",
	          family == AF_INET6 ? "ipv6-icmp" : "icmp");
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -m mark --mark 0x%08" PRIx32
	          " -j CONNMARK --set-mark 0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_MARK_BIND_OK, (uint32_t)KERNEL_CT_CHECKED);
	tb_printf(tb, "-A " KERNEL_CHAIN_BIND " -m mark --mark 0x%08" PRIx32 " -j ACCEPT\n",
	          (uint32_t)KERNEL_MARK_BIND_OK);
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -m mark --mark 0x%08" PRIx32
	          " -j CONNMARK --set-mark 0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_MARK_BIND_PART, (uint32_t)KERNEL_CT_PARTIAL);
	tb_printf(tb, "-A " KERNEL_CHAIN_BIND " -m mark --mark 0x%08" PRIx32 " -j ACCEPT\n",
	          (uint32_t)KERNEL_MARK_BIND_PART);
	/* A judged QUIC flow: its short-header (1-RTT) packets, all of the
	 * bulk, pass; a long-header one may be the Initial of another
	 * connection on the same ports, and goes to the gate. u32 reads the
	 * first byte of the UDP payload (IPv6: only right after the fixed
	 * header; with extension headers it goes to the gate). */
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -p udp -m connmark --mark 0x%08" PRIx32
	          " -m u32 --u32 \"%s\" -j ACCEPT\n",
	          (uint32_t)KERNEL_CT_CHECKED,
	          family == AF_INET ? "0>>22&0x3C@8>>24&0x80=0" : "4&0xFF00=0x1100&&48>>24&0x80=0");
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -p udp -m connmark --mark 0x%08" PRIx32
	          " -j MARK --set-mark 0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_CT_CHECKED, (uint32_t)KERNEL_MARK_BIND_QUIC);
	for (i = 0; i < sizeof(doffs) / sizeof(doffs[0]); i++) {
		if (family == AF_INET)
			tb_printf(tb,
			          "-A " KERNEL_CHAIN_BIND
			          " -p tcp -m length --length %u -m u32 --u32 "
			          "\"0>>24=0x45&&32>>26&0x3C=%u\" -j ACCEPT\n",
			          20 + doffs[i], doffs[i]);
		else
			tb_printf(tb,
			          "-A " KERNEL_CHAIN_BIND
			          " -p tcp -m length --length %u -m u32 --u32 "
			          "\"4&0xFF00=0x600&&52>>26&0x3C=%u\" -j ACCEPT\n",
			          40 + doffs[i], doffs[i]);
	}
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -m connmark --mark 0x%08" PRIx32
	          " -j MARK --set-mark 0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_CT_PENDING, (uint32_t)KERNEL_MARK_BIND_FIRST);
	tb_printf(tb,
	          "-A " KERNEL_CHAIN_BIND " -m connmark --mark 0x%08" PRIx32
	          " -j MARK --set-mark 0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_CT_PARTIAL, (uint32_t)KERNEL_MARK_BIND_MORE);
	/* No --queue-bypass: with the gate gone, a pending flow's payload is
	 * dropped, never let through unread. */
	tb_printf(tb, "-A " KERNEL_CHAIN_BIND " -j NFQUEUE --queue-num %u\n", queue);
}

int
rules_text(const struct conf *c, const struct dockerdns *dd, int family, uid_t resolver_uid,
           unsigned queue, unsigned jumps, char *buf, size_t len)
{
	struct addr fwd[1 + CONF_MAX_UPSTREAMS];
	size_t nfwd = forwarders(c, family, fwd, sizeof(fwd) / sizeof(fwd[0]));
	static const char *const protos[] = {"udp", "tcp"};
	uint16_t ports[2 + CONF_MAX_LISTEN + CONF_MAX_UPSTREAMS];
	size_t nports = dns_ports(c, ports, sizeof(ports) / sizeof(ports[0])), k;
	static const unsigned ndp_types[] = {133, 134, 135, 136, 137, 143};
	struct textbuf tb = {.p = buf, .cap = len};
	bool v6 = family == AF_INET6;
	char ip[ADDR_STRLEN];
	uint16_t bports[2 * CONF_MAX_PORTS], qports[CONF_MAX_PORTS];
	size_t nbind = bind_ports(c, IPPROTO_TCP, bports, sizeof(bports) / sizeof(bports[0]));
	size_t nquic = bind_ports(c, IPPROTO_UDP, qports, sizeof(qports) / sizeof(qports[0]));
	size_t i;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	tb_printf(&tb, "*filter\n");
	tb_printf(&tb, ":" KERNEL_CHAIN " - [0:0]\n");
	tb_printf(&tb, ":" KERNEL_CHAIN_DNS " - [0:0]\n");
	tb_printf(&tb, ":" KERNEL_CHAIN_DNAT " - [0:0]\n");
	tb_printf(&tb, ":" KERNEL_CHAIN_IN " - [0:0]\n");
	tb_printf(&tb, ":" KERNEL_CHAIN_BIND " - [0:0]\n");
	tb_printf(&tb, ":" KERNEL_CHAIN_PEND " - [0:0]\n");

	/* A connection whose first flight is still to be judged is not let
	 * out by the ESTABLISHED accept (one connmark match for both marks). */
	if (nbind + nquic > 0)
		tb_printf(&tb,
		          "-A " KERNEL_CHAIN " -m connmark --mark 0x%08" PRIx32 "/0x%08" PRIx32
		          " -j " KERNEL_CHAIN_BIND "\n",
		          (uint32_t)KERNEL_CT_PENDING, (uint32_t)KERNEL_CT_MASK);
	/* A judged QUIC flow too: UDP is ESTABLISHED once the server
	 * answered, and it can carry other connections after that. */
	if (nquic > 0)
		tb_printf(&tb,
		          "-A " KERNEL_CHAIN " -p udp -m connmark --mark 0x%08" PRIx32
		          " -j " KERNEL_CHAIN_BIND "\n",
		          (uint32_t)KERNEL_CT_CHECKED);
	/* Most packets belong to flows that are under way: they leave first.
	 * A packet the gate marked for rejection is the first of a new flow
	 * (NF_REPEAT keeps its conntrack state), so it never matches this. */
	tb_printf(&tb,
	          "-A " KERNEL_CHAIN " -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n");
	/* Packets the gate marked for rejection come back through NF_REPEAT
	 * and must be rejected before anything else can accept them. */
	tb_printf(&tb,
	          "-A " KERNEL_CHAIN " -m mark --mark 0x%08" PRIx32
	          " -p tcp -j REJECT --reject-with tcp-reset\n",
	          (uint32_t)KERNEL_MARK_DENY);
	tb_printf(
	    &tb, "-A " KERNEL_CHAIN " -m mark --mark 0x%08" PRIx32 " -j REJECT --reject-with %s\n",
	    (uint32_t)KERNEL_MARK_DENY, v6 ? "icmp6-adm-prohibited" : "icmp-admin-prohibited");
	/* DNS goes to its own chain before the loopback accept. A new flow
	 * to a DNS port, or *from* one, is DNS: real answers are ESTABLISHED
	 * by now, so a new flow from a DNS port can only be a forged answer,
	 * e.g. the agent bound to 127.0.0.11:53 aiming at the resolver's
	 * upstream socket on loopback. Only a new flow's first packets get
	 * here, and without NAT their ports are the flow's own; a DNATed flow
	 * (Docker's embedded DNS lives on loopback and is DNATed to a random
	 * port) is recognised by its original destination port instead. */
	multiport_rules(&tb, KERNEL_CHAIN, protos, 2, "ports", ports, nports,
	                " -j " KERNEL_CHAIN_DNS);
	tb_printf(&tb,
	          "-A " KERNEL_CHAIN " -m conntrack --ctstate DNAT -j " KERNEL_CHAIN_DNAT "\n");
	for (i = 0; i < nports; i++)
		for (k = 0; k < 2; k++)
			tb_printf(&tb,
			          "-A " KERNEL_CHAIN_DNAT
			          " -p %s -m conntrack --ctorigdstport %u -j " KERNEL_CHAIN_DNS
			          "\n",
			          protos[k], ports[i]);
	for (i = 0; i < nfwd; i++)
		tb_printf(&tb, "-A " KERNEL_CHAIN " -d %s -j " KERNEL_CHAIN_DNS "\n",
		          addr_ntop(&fwd[i], ip, sizeof(ip)));
	tb_printf(&tb, "-A " KERNEL_CHAIN " -o lo -j ACCEPT\n");
	/* Without neighbour discovery and MLD, IPv6 cannot reach anything. */
	for (i = 0; v6 && i < sizeof(ndp_types) / sizeof(ndp_types[0]); i++)
		tb_printf(&tb,
		          "-A " KERNEL_CHAIN " -p ipv6-icmp -m icmp6 --icmpv6-type %u -j ACCEPT\n",
		          ndp_types[i]);
	/* A static network line needs no name: it comes before the binding. */
	tb_printf(&tb, "-A " KERNEL_CHAIN " -m set --match-set %s dst,dst -j ACCEPT\n",
	          v6 ? KERNEL_NETSET6 : KERNEL_NETSET4);
	/* Every checked port: one past the first MULTIPORT_MAX would
	 * otherwise be let out by the set alone, its first flight unread. */
	multiport_rules(&tb, KERNEL_CHAIN, &protos[1] /* tcp */, 1, "dports", bports, nbind,
	                v6 ? " -m set --match-set " KERNEL_SET6 " dst,dst -j " KERNEL_CHAIN_PEND
	                   : " -m set --match-set " KERNEL_SET4 " dst,dst -j " KERNEL_CHAIN_PEND);
	multiport_rules(&tb, KERNEL_CHAIN, &protos[0] /* udp */, 1, "dports", qports, nquic,
	                v6 ? " -m set --match-set " KERNEL_SET6 " dst,dst -j " KERNEL_CHAIN_PEND
	                   : " -m set --match-set " KERNEL_SET4 " dst,dst -j " KERNEL_CHAIN_PEND);
	tb_printf(&tb, "-A " KERNEL_CHAIN " -m set --match-set %s dst,dst -j ACCEPT\n",
	          v6 ? KERNEL_SET6 : KERNEL_SET4);
	/* No --queue-bypass: with the gate gone, new flows are dropped. */
	tb_printf(&tb, "-A " KERNEL_CHAIN " -j NFQUEUE --queue-num %u\n", queue);

	for (i = 0; i < c->nlisten; i++) {
		if (c->listen[i].family != family)
			continue;
		tb_printf(&tb,
		          "-A " KERNEL_CHAIN_DNS
		          " -o lo -m conntrack --ctorigdst %s --ctorigdstport %u -j ACCEPT\n",
		          addr_ntop(&c->listen[i], ip, sizeof(ip)), c->listen[i].port);
	}
	for (i = 0; i < c->nupstream; i++) {
		if (c->upstream[i].family != family)
			continue;
		tb_printf(&tb,
		          "-A " KERNEL_CHAIN_DNS
		          " -m owner --uid-owner %u -m conntrack --ctorigdst "
		          "%s --ctorigdstport %u -j ACCEPT\n",
		          (unsigned)resolver_uid, addr_ntop(&c->upstream[i], ip, sizeof(ip)),
		          c->upstream[i].port);
	}
	/* Docker's embedded DNS (127.0.0.11) answers by forwarding the query
	 * itself, as root, from inside this namespace to the servers its
	 * ExtServers comment lists without host(): root may send DNS there,
	 * on port 53, and nowhere else. Docker before 25 lists none; then
	 * root may send DNS anywhere but to loopback, as it must for Docker
	 * to work at all. Root holds the firewall anyway, and the agent never
	 * runs as root; nobody else reaches 127.0.0.11 (above). */
	if (uses_docker_dns(c) && (dd == NULL || !dd->known))
		tb_printf(&tb,
		          "-A " KERNEL_CHAIN_DNS " ! -o lo -m owner --uid-owner 0 -j ACCEPT\n");
	for (i = 0; uses_docker_dns(c) && dd != NULL && dd->known && i < dd->next; i++) {
		if (dd->ext[i].family != family)
			continue;
		for (k = 0; k < 2; k++)
			tb_printf(&tb,
			          "-A " KERNEL_CHAIN_DNS " -d %s -p %s -m %s --dport 53 -m owner "
			          "--uid-owner 0 -j ACCEPT\n",
			          addr_ntop(&dd->ext[i], ip, sizeof(ip)), protos[k], protos[k]);
	}
	tb_printf(&tb, "-A " KERNEL_CHAIN_DNS " -j MARK --set-mark 0x%08" PRIx32 "\n",
	          (uint32_t)KERNEL_MARK_DNS);
	tb_printf(&tb, "-A " KERNEL_CHAIN_DNS " -j NFQUEUE --queue-num %u\n", queue);

	bind_text(&tb, c, family, queue);
	inbound_text(&tb, c, family, queue);

	if (jumps & RULES_JUMP_OUTPUT)
		tb_printf(&tb, "-I OUTPUT 1 -j " KERNEL_CHAIN "\n");
	if (jumps & RULES_JUMP_INPUT)
		tb_printf(&tb, "-I INPUT 1 -j " KERNEL_CHAIN_IN "\n");
	tb_printf(&tb, "COMMIT\n");
	if (tb.overflow)
		return -1;
	return (int)tb.len;
}

int
rules_resolver_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		if (errno != 0)
			log_warn("rules: looking up user %s", user);
		else
			log_warnx("rules: user %s (the resolver's [resolver] user) does not exist; "
			          "create it, e.g. useradd --system --no-create-home --shell "
			          "/usr/sbin/nologin %s",
			          user, user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Runs argv[0] (looked up in PATH, then /usr/sbin and /sbin, which a
 * container's PATH may lack) with input on its stdin and its stderr
 * captured into err. Returns the exit status, 127 when it could not be
 * started, or -1 when we could not even fork. */
static int
run_tool(const char *const argv[], const char *input, size_t inlen, char *err, size_t errlen)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, status = -1, devnull;
	size_t off = 0, elen = 0;
	pid_t pid;

	err[0] = '\0';
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		log_warn("rules: pipe for %s", argv[0]);
		goto close_pipes;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("rules: fork for %s", argv[0]);
		goto close_pipes;
	}
	if (pid == 0) {
		static const char *const dirs[] = {"/usr/sbin/", "/sbin/"};
		char path[256];
		sigset_t none;
		size_t i;

		/* The parent blocks signals for its signalfd; the tool must not
		 * inherit that. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		devnull = open("/dev/null", O_WRONLY);
		if (dup2(in[0], 0) < 0 || dup2(devnull >= 0 ? devnull : out[1], 1) < 0 ||
		    dup2(out[1], 2) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			snprintf(path, sizeof(path), "%s%s", dirs[i], argv[0]);
			execv(path, (char *const *)argv);
		}
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;

	while (off < inlen) {
		ssize_t n = write(in[1], input + off, inlen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* EPIPE: the tool exited early; its stderr says why. */
			if (errno != EPIPE)
				log_warn("rules: writing to %s", argv[0]);
			break;
		}
		off += (size_t)n;
	}
	close(in[1]);
	in[1] = -1;

	for (;;) {
		char tmp[512];
		ssize_t n = read(out[0], tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (elen + 1 < errlen) {
			size_t take = (size_t)n < errlen - 1 - elen ? (size_t)n : errlen - 1 - elen;

			memcpy(err + elen, tmp, take);
			elen += take;
			err[elen] = '\0';
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_warn("rules: waiting for %s", argv[0]);
			status = -1;
			goto close_pipes;
		}
	}
	if (WIFEXITED(status))
		status = WEXITSTATUS(status);
	else
		status = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);

close_pipes:
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	if (out[1] >= 0)
		close(out[1]);
	return status;
}

/* Which kernel or iptables feature a failure is about, so the user knows
 * what to install or enable rather than reading iptables internals. Each
 * feature is recognised by its option in our rule text or by how iptables
 * names the extension in its messages ("Couldn't load match `set'"). */
static const struct {
	const char *in_rule, *in_message, *feature;
} features[] = {
    {"-j NFQUEUE", "`NFQUEUE'", "NFQUEUE target (CONFIG_NETFILTER_XT_TARGET_NFQUEUE)"},
    {"-m set", "`set'", "set match (CONFIG_NETFILTER_XT_SET, ipset)"},
    {"-m conntrack", "`conntrack'", "conntrack match (CONFIG_NETFILTER_XT_MATCH_CONNTRACK)"},
    {"-m owner", "`owner'", "owner match (CONFIG_NETFILTER_XT_MATCH_OWNER)"},
    {"-j REJECT", "`REJECT'",
     "REJECT target (CONFIG_IP_NF_TARGET_REJECT, CONFIG_IP6_NF_TARGET_REJECT)"},
    {"-j MARK", "`MARK'", "MARK target (CONFIG_NETFILTER_XT_MARK)"},
    {"-m mark", "`mark'", "mark match (CONFIG_NETFILTER_XT_MARK)"},
    {"-m limit", "`limit'", "limit match (CONFIG_NETFILTER_XT_MATCH_LIMIT)"},
    {"-m multiport", "`multiport'", "multiport match (CONFIG_NETFILTER_XT_MATCH_MULTIPORT)"},
    {"-m icmp6", "`icmp6'", "icmp6 match (CONFIG_IP6_NF_MATCH_IPV6HEADER)"},
    {"-j CONNMARK", "`CONNMARK'", "CONNMARK target (CONFIG_NETFILTER_XT_CONNMARK)"},
    {"-m connmark", "`connmark'", "connmark match (CONFIG_NETFILTER_XT_CONNMARK)"},
    {"-m u32", "`u32'", "u32 match (CONFIG_NETFILTER_XT_MATCH_U32)"},
    {"-m length", "`length'", "length match (CONFIG_NETFILTER_XT_MATCH_LENGTH)"},
};

static const char *
feature_in(const char *text, bool rule)
{
	size_t i;

	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (strstr(text, rule ? features[i].in_rule : features[i].in_message) != NULL)
			return features[i].feature;
	}
	return NULL;
}

/* iptables-restore names the input line that failed ("line 7 failed" or
 * "Error occurred at line: 7"); that line tells which feature it needs. */
static const char *
feature_of_failure(const char *err, const char *input)
{
	char line[512];
	const char *p = strstr(err, "line");
	const char *feat;
	unsigned long n = 0;

	while (p != NULL && n == 0) {
		p += 4;
		while (*p == ':' || *p == ' ')
			p++;
		n = strtoul(p, NULL, 10);
		if (n == 0)
			p = strstr(p, "line");
	}
	if (n > 0) {
		const char *s = input, *e;
		unsigned long i;

		for (i = 1; i < n && s != NULL; i++) {
			s = strchr(s, '\n');
			if (s != NULL)
				s++;
		}
		if (s != NULL && *s != '\0') {
			e = strchr(s, '\n');
			snprintf(line, sizeof(line), "%.*s", e ? (int)(e - s) : (int)strlen(s), s);
			if ((feat = feature_in(line, true)) != NULL)
				return feat;
		}
	}
	return feature_in(err, false);
}

static void
log_tool_failure(const char *tool, int status, const char *err, const char *input)
{
	const char *feat = NULL;
	char oneline[TOOL_ERR_MAX];
	size_t i;

	snprintf(oneline, sizeof(oneline), "%s", err);
	for (i = 0; oneline[i] != '\0'; i++) {
		if (oneline[i] == '\n')
			oneline[i] = (oneline[i + 1] == '\0') ? '\0' : ' ';
	}
	if (status == 127) {
		log_warnx("rules: %s could not be run (is iptables installed?): %s", tool, oneline);
		return;
	}
	if (input != NULL)
		feat = feature_of_failure(err, input);
	if (feat != NULL)
		log_warnx(
		    "rules: %s failed (exit %d), the kernel or iptables probably lacks the %s: %s",
		    tool, status, feat, oneline);
	else
		log_warnx("rules: %s failed (exit %d): %s", tool, status, oneline);
}

static int
apply_family(const struct conf *c, const struct dockerdns *dd, int family, uid_t uid)
{
	const char *ipt = family == AF_INET6 ? "ip6tables" : "iptables";
	const char *restore = family == AF_INET6 ? "ip6tables-restore" : "iptables-restore";
	const char *const check[] = {ipt, "-w", "-C", "OUTPUT", "-j", KERNEL_CHAIN, NULL};
	const char *const check_in[] = {ipt, "-w", "-C", "INPUT", "-j", KERNEL_CHAIN_IN, NULL};
	unsigned jumps = 0;
	const char *const apply[] = {restore, "-w", "--noflush", NULL};
	char err[TOOL_ERR_MAX];
	char *text;
	int st, len, rc = -1;

	text = malloc(RULES_BUF);
	if (text == NULL) {
		log_warn("rules: allocating the %s input", restore);
		return -1;
	}
	/* -C fails both when the jump is missing and when our chain does not
	 * exist yet; either way the jump must be added. Only a tool that
	 * cannot run at all is an error here. */
	st = run_tool(check, NULL, 0, err, sizeof(err));
	if (st < 0 || st == 127) {
		log_tool_failure(ipt, st, err, NULL);
		goto out;
	}
	if (st != 0)
		jumps |= RULES_JUMP_OUTPUT;
	st = run_tool(check_in, NULL, 0, err, sizeof(err));
	if (st < 0 || st == 127) {
		log_tool_failure(ipt, st, err, NULL);
		goto out;
	}
	if (st != 0)
		jumps |= RULES_JUMP_INPUT;
	len = rules_text(c, dd, family, uid, c->queue, jumps, text, RULES_BUF);
	if (len < 0) {
		log_warnx("rules: the %s rules do not fit in %d bytes", ipt, RULES_BUF);
		goto out;
	}
	st = run_tool(apply, text, (size_t)len, err, sizeof(err));
	if (st != 0) {
		log_tool_failure(restore, st, err, text);
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

int
rules_apply(const struct conf *c, uid_t resolver_uid)
{
	struct dockerdns dd = {0};
	char ext[DOCKERDNS_MAX_EXT * (ADDR_STRLEN + 1) + 1] = "";
	size_t i, used = 0;
	int rc = 0;

	if (uses_docker_dns(c) && dockerdns_read(c->resolv_conf, &dd) < 0)
		log_warn("rules: reading Docker's ExtServers from %s", c->resolv_conf);
	if (apply_family(c, &dd, AF_INET, resolver_uid) < 0)
		rc = -1;
	if (apply_family(c, &dd, AF_INET6, resolver_uid) < 0)
		rc = -1;
	if (rc != 0)
		return rc;
	log_info("rules: installed chains %s, %s, %s and %s (IPv4 and IPv6), queue %u",
	         KERNEL_CHAIN, KERNEL_CHAIN_DNS, KERNEL_CHAIN_DNAT, KERNEL_CHAIN_IN,
	         (unsigned)c->queue);
	if (!uses_docker_dns(c))
		return 0;
	for (i = 0; i < dd.next; i++) {
		char ip[ADDR_STRLEN];

		used += (size_t)snprintf(ext + used, sizeof(ext) - used, "%s%s", i ? " " : "",
		                         addr_ntop(&dd.ext[i], ip, sizeof(ip)));
	}
	if (!dd.known)
		log_warnx("rules: %s lists no \"# ExtServers:\" (Docker before 25): root may send "
		          "DNS to any address outside this host, for Docker's embedded DNS",
		          c->resolv_conf);
	else
		log_info("rules: Docker's embedded DNS forwards from here to [%s] (%zu more from "
		         "the host's namespace): root may send DNS there only",
		         ext, dd.nhost);
	return 0;
}

/* Removes every copy of "-j target" from builtin. Returns 0 or -1. */
static int
remove_jumps(const char *ipt, const char *builtin, const char *target)
{
	const char *const del[] = {ipt, "-w", "-D", builtin, "-j", target, NULL};
	char err[TOOL_ERR_MAX];
	int i, st;

	for (i = 0; i < MAX_JUMP_COPIES; i++) {
		st = run_tool(del, NULL, 0, err, sizeof(err));
		if (st < 0 || st == 127) {
			log_tool_failure(ipt, st, err, NULL);
			return -1;
		}
		if (st != 0)
			return 0;
	}
	log_warnx("rules: %s: more than %d jumps to %s in %s", ipt, MAX_JUMP_COPIES, target,
	          builtin);
	return -1;
}

static int
remove_family(int family)
{
	const char *ipt = family == AF_INET6 ? "ip6tables" : "iptables";
	const char *restore = family == AF_INET6 ? "ip6tables-restore" : "iptables-restore";
	const char *const apply[] = {restore, "-w", "--noflush", NULL};
	/* Declaring a chain creates or flushes it, so the deletes succeed
	 * whether or not setup ever ran. */
	static const char text[] = "*filter\n"
	                           ":" KERNEL_CHAIN " - [0:0]\n"
	                           ":" KERNEL_CHAIN_DNS " - [0:0]\n"
	                           ":" KERNEL_CHAIN_DNAT " - [0:0]\n"
	                           ":" KERNEL_CHAIN_IN " - [0:0]\n"
	                           ":" KERNEL_CHAIN_BIND " - [0:0]\n"
	                           ":" KERNEL_CHAIN_PEND " - [0:0]\n"
	                           "-X " KERNEL_CHAIN "\n"
	                           "-X " KERNEL_CHAIN_DNAT "\n"
	                           "-X " KERNEL_CHAIN_DNS "\n"
	                           "-X " KERNEL_CHAIN_IN "\n"
	                           "-X " KERNEL_CHAIN_BIND "\n"
	                           "-X " KERNEL_CHAIN_PEND "\n"
	                           "COMMIT\n";
	char err[TOOL_ERR_MAX];
	int st;

	if (remove_jumps(ipt, "OUTPUT", KERNEL_CHAIN) < 0 ||
	    remove_jumps(ipt, "INPUT", KERNEL_CHAIN_IN) < 0)
		return -1;
	st = run_tool(apply, text, sizeof(text) - 1, err, sizeof(err));
	if (st != 0) {
		log_tool_failure(restore, st, err, text);
		return -1;
	}
	return 0;
}

int
rules_remove(void)
{
	int rc = 0;

	if (remove_family(AF_INET) < 0)
		rc = -1;
	if (remove_family(AF_INET6) < 0)
		rc = -1;
	return rc;
}
