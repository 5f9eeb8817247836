/*
 * namegate-resolver: the capability-less stub resolver. main() loads the
 * config, binds the listen sockets while still root, drops to the resolver
 * user with every capability gone for good, and then runs one event loop:
 *
 *   client query ─▶ dnsmsg decision ─▶ deny at once
 *                                  └─▶ cache or upstream ─▶ filter answer
 *                                        ─▶ gate ALLOW ─▶ ACK ─▶ reply
 *
 * A reply that carries addresses is sent only after the gate's ACK.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cache.h"
#include "conf.h"
#include "confperm.h"
#include "confwatch.h"
#include "dnsmsg.h"
#include "frontend.h"
#include "gateclient.h"
#include "localnet.h"
#include "log.h"
#include "loop.h"
#include "ratelimit.h"
#include "sandbox.h"
#include "suffix.h"
#include "upstream.h"

#define MAX_INFLIGHT 50000 /* queries waiting on upstream or gate */
#define QUERY_POOL_MAX 512 /* finished queries kept for reuse */

struct query {
	struct frontend_client client;
	struct dnsmsg_query q;
	enum dnsmsg_action action;
	struct upstream_req *up;
	bool cached;
	struct addr upstream; /* who answered, for the log; family 0 = nobody */
	uint8_t *reply;       /* held while the gate is asked */
	size_t replylen;
	uint32_t ttl;
	char *addrs;        /* for the dns.allow line */
	uint64_t serial;    /* the cache entry the answer is, 0 if none */
	uint32_t fresh_gen; /* cache_fresh_gen when the ALLOW went out */
	uint64_t sent_ms;   /* ... and when */
	struct query *prev, *next;
};

static struct {
	struct conf *conf;
	struct confperm perm; /* who may own the config */
	struct loop *lp;
	struct frontend *fe;
	struct upstream *up;
	struct gateclient *gc;
	struct cache *cache;
	struct confwatch *cw;
	struct query *queries;
	size_t nqueries;
	/* A struct query is too big for malloc's small-object caches; reusing
	 * them spares the allocator its consolidation work on every query. */
	struct query *pool;
	size_t npool;
	uint32_t gate_epoch;
	uint32_t conf_gen; /* moves on with every config loaded */
	/* The agent decides how many queries it sends: a flood must not
	 * become a flood of log lines. Each kind has its own budget, so
	 * allowed names cannot crowd denials out of the log. */
	struct ratelimit rl_allow, rl_audit, rl_deny, rl_error, rl_filtered;
} rs;

#define DNS_LOG_ALLOW_PER_SECOND 1000
#define DNS_LOG_DENY_PER_SECOND 100
#define DNS_NAME_WIRE_MAX 255

static void
ratelimits_start(void)
{
	ratelimit_init(&rs.rl_allow, DNS_LOG_ALLOW_PER_SECOND);
	ratelimit_attach(&rs.rl_allow, rs.lp, "dns.suppressed", "dns.allow");
	ratelimit_init(&rs.rl_audit, DNS_LOG_ALLOW_PER_SECOND);
	ratelimit_attach(&rs.rl_audit, rs.lp, "dns.suppressed", "dns.audit");
	ratelimit_init(&rs.rl_deny, DNS_LOG_DENY_PER_SECOND);
	/* the first denial of each name an interval is always written */
	ratelimit_track(&rs.rl_deny, DNS_NAME_WIRE_MAX);
	ratelimit_attach(&rs.rl_deny, rs.lp, "dns.suppressed", "dns.deny");
	ratelimit_init(&rs.rl_error, DNS_LOG_DENY_PER_SECOND);
	ratelimit_attach(&rs.rl_error, rs.lp, "dns.suppressed", "dns.error");
	ratelimit_init(&rs.rl_filtered, DNS_LOG_DENY_PER_SECOND);
	ratelimit_attach(&rs.rl_filtered, rs.lp, "dns.suppressed", "dns.filtered");
}

static void
ratelimits_stop(void)
{
	ratelimit_detach(&rs.rl_allow);
	ratelimit_detach(&rs.rl_audit);
	ratelimit_detach(&rs.rl_deny);
	ratelimit_detach(&rs.rl_error);
	ratelimit_detach(&rs.rl_filtered);
}

static struct ratelimit *
event_ratelimit(const char *event)
{
	if (strcmp(event, "dns.allow") == 0)
		return &rs.rl_allow;
	if (strcmp(event, "dns.audit") == 0)
		return &rs.rl_audit;
	if (strcmp(event, "dns.deny") == 0)
		return &rs.rl_deny;
	if (strcmp(event, "dns.filtered") == 0)
		return &rs.rl_filtered;
	return &rs.rl_error;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: namegate-resolver -c FILE [--check-config]\n"
	           "       namegate-resolver -h | -V\n");
}

/* The fields every dns.* event starts with. */
static struct log_line *
dns_event(enum log_level level, const char *event, const struct query *qr,
          const struct dnsmsg_query *q, const struct frontend_client *cl)
{
	struct ratelimit *rl = event_ratelimit(event);
	struct log_line *l;
	char buf[ADDR_STRLEN];

	if (rl == &rs.rl_deny && q->qname != NULL) {
		/* A denial's key is its name, in any case. */
		uint8_t key[DNS_NAME_WIRE_MAX];
		size_t n = ldns_rdf_size(q->qname);

		if (n > sizeof(key))
			n = sizeof(key);
		memcpy(key, ldns_rdf_data(q->qname), n);
		dnsmsg_wire_name_lower(key, n);
		if (!ratelimit_ok_key(rl, key, n))
			return log_discard();
	} else if (!ratelimit_ok(rl)) {
		return log_discard();
	}
	l = log_begin(level, event);
	logline_str(l, "name", q->logname);
	logline_str(l, "type", dnsmsg_type_str(q->qtype, buf, sizeof(buf)));
	logline_str(l, "client", frontend_client_str(cl, buf, sizeof(buf)));
	if (qr != NULL)
		logline_str(l, "upstream",
		            qr->cached                 ? "cache"
		            : qr->upstream.family != 0 ? addr_fmt(&qr->upstream, buf, sizeof(buf))
		                                       : "");
	return l;
}

static void
log_rcode(struct log_line *l, const uint8_t *wire, size_t len)
{
	char buf[16];
	int rc = dnsmsg_wire_rcode(wire, len);

	logline_str(l, "rcode", rc < 0 ? "?" : dnsmsg_rcode_str((uint16_t)rc, buf, sizeof(buf)));
}

static void
reply_rcode(const struct dnsmsg_query *q, const struct frontend_client *cl, uint16_t rcode)
{
	uint8_t *w = NULL;
	size_t len;

	if (dnsmsg_build_rcode(q, rcode, &w, &len) != 0) {
		log_warnx("cannot build a reply for %s", q->logname);
		return;
	}
	frontend_reply(cl, w, len);
	free(w);
}

static void
query_free(struct query *qr)
{
	if (qr->prev)
		qr->prev->next = qr->next;
	else
		rs.queries = qr->next;
	if (qr->next)
		qr->next->prev = qr->prev;
	rs.nqueries--;
	upstream_cancel(qr->up);
	frontend_client_release(&qr->client);
	dnsmsg_query_free(&qr->q);
	free(qr->reply);
	free(qr->addrs);
	if (rs.npool < QUERY_POOL_MAX) {
		qr->next = rs.pool;
		rs.pool = qr;
		rs.npool++;
		return;
	}
	free(qr);
}

static struct query *
query_new(void)
{
	struct query *qr = rs.pool;

	if (qr == NULL)
		return calloc(1, sizeof(*qr));
	rs.pool = qr->next;
	rs.npool--;
	memset(qr, 0, sizeof(*qr));
	return qr;
}

static void
pool_free(void)
{
	while (rs.pool != NULL) {
		struct query *qr = rs.pool;

		rs.pool = qr->next;
		free(qr);
	}
	rs.npool = 0;
}

/* Every failure a client sees as SERVFAIL is logged as dns.error. */
static void
query_fail(struct query *qr, const char *error)
{
	struct log_line *l = dns_event(LOGL_WARN, "dns.error", qr, &qr->q, &qr->client);

	logline_str(l, "error", error);
	log_end(l);
	reply_rcode(&qr->q, &qr->client, LDNS_RCODE_SERVFAIL);
	query_free(qr);
}

static void
prep_key(const struct dnsmsg_query *q, struct cache_prep_key *k)
{
	k->conf_gen = rs.conf_gen;
	k->qname = ldns_rdf_data(q->qname);
	k->qnamelen = ldns_rdf_size(q->qname);
	k->qclass = q->qclass;
	k->edns = q->edns;
}

/* What an earlier gate acknowledged says nothing about this one. */
static void
sync_gate_epoch(void)
{
	if (gateclient_epoch(rs.gc) != rs.gate_epoch) {
		rs.gate_epoch = gateclient_epoch(rs.gc);
		cache_invalidate_fresh(rs.cache);
	}
}

/*
 * Whether the kernel surely still holds the addresses of cache entry serial
 * for a reply that hands out ttl: acknowledged by this gate with more than
 * half of the timeout left. Refreshing them again would only cost the gate
 * a netlink exchange.
 */
static bool
gate_holds(const struct dnsmsg_query *q, uint64_t serial, uint64_t now, uint32_t ttl)
{
	sync_gate_epoch();
	return cache_fresh(rs.cache, q->name, q->qtype, q->do_bit, serial, now, ttl);
}

static void
log_allowed(const struct dnsmsg_query *q, const struct frontend_client *cl, bool audit,
            const uint8_t *reply, size_t len, const char *addrs, uint32_t ttl, bool cached)
{
	struct log_line *l = dns_event(LOGL_INFO, audit ? "dns.audit" : "dns.allow", NULL, q, cl);

	log_rcode(l, reply, len);
	/* In audit mode too, so that namegate learn can name the flows to
	 * them (the gate, which never saw them, cannot). */
	logline_str(l, "addrs", addrs ? addrs : "");
	if (!audit)
		logline_int(l, "ttl", ttl);
	if (cached)
		logline_int(l, "cached", 1);
	log_end(l);
}

/*
 * The fast way to answer a hit: from the template an earlier answer on the
 * same entry was built into, when this query would get exactly the same
 * bytes (see cache.h) and the gate holds the addresses for sure. The ID and
 * RD are the client's own, the TTLs aged as the slow path would. Returns
 * false to take the slow path.
 */
static bool
answer_prepared(const struct dnsmsg_query *q, const struct frontend_client *cl)
{
	static uint8_t buf[65535];
	uint64_t now = loop_now_ms();
	struct cache_prep_key k;
	struct cache_prepared p;
	uint32_t ttl = 0;

	if (!q->host || q->qname == NULL)
		return false;
	prep_key(q, &k);
	if (!cache_prepared(rs.cache, q->name, q->qtype, q->do_bit, now, &k,
	                    dnsmsg_reply_limit(q, frontend_client_udp(cl)), &p) ||
	    p.len < DNSMSG_HDR_LEN || p.len > sizeof(buf))
		return false;
	if (p.naddrs > 0) {
		ttl = dnsmsg_addrs_ttl(p.raw_ttl, p.age, rs.conf);
		if (!gate_holds(q, p.serial, now, ttl))
			return false;
	}
	memcpy(buf, p.wire, p.len);
	/* The template was built for an earlier client's case pattern. */
	if (dnsmsg_reply_set_question(buf, p.len, q) != 0)
		return false;
	buf[0] = (uint8_t)(q->id >> 8);
	buf[1] = (uint8_t)q->id;
	buf[2] = (uint8_t)((buf[2] & ~1u) | (q->rd ? 1u : 0u));
	dnsmsg_reply_age(buf, &p.ttls, p.age, rs.conf->max_ttl);
	frontend_reply(cl, buf, p.len);
	log_allowed(q, cl, false, buf, p.len, p.addrs, ttl, true);
	return true;
}

static void
send_allowed(struct query *qr)
{
	frontend_reply(&qr->client, qr->reply, qr->replylen);
	log_allowed(&qr->q, &qr->client, qr->action == DNSMSG_AUDIT, qr->reply, qr->replylen,
	            qr->addrs, qr->ttl, qr->cached);
	query_free(qr);
}

static void
gate_done(void *arg, enum gateclient_result res)
{
	struct query *qr = arg;

	if (res != GATECLIENT_OK) {
		/* A refusal may have taken entries back out of the sets. */
		cache_invalidate_fresh(rs.cache);
		query_fail(qr, gateclient_result_str(res));
		return;
	}
	/* An ACK that says the gate removed entries moved the epoch on:
	 * then this answer is not credited either. */
	sync_gate_epoch();
	cache_mark_acked(rs.cache, qr->q.name, qr->q.qtype, qr->q.do_bit, qr->serial, qr->fresh_gen,
	                 qr->sent_ms, qr->ttl);
	send_allowed(qr);
}

/* An answer lost records to the inward filter (DNS rebinding): say which. */
static void
log_filtered(const struct query *qr, const struct dnsmsg_addrs *addrs)
{
	struct log_line *l = dns_event(LOGL_WARN, "dns.filtered", NULL, &qr->q, &qr->client);
	char buf[DNSMSG_MAX_REMOVED * (INET6_ADDRSTRLEN + 1) + 16];

	logline_str(l, "removed", dnsmsg_removed_fmt(addrs, buf, sizeof(buf)));
	logline_str(l, "why", "inward");
	log_end(l);
}

/*
 * Builds the client's reply from a checked answer, age seconds old: as a
 * template with the upstream's own TTLs, which is then aged and capped in
 * place (and kept for later hits), or, for an answer with more records than
 * a template tracks, aged and capped before it is built.
 */
static int
build_reply(struct query *qr, ldns_pkt *pkt, uint32_t age, struct dnsmsg_addrs *addrs,
            bool *truncated)
{
	static struct dnsmsg_ttls ttls; /* one query at a time */
	uint32_t raw;
	size_t nrr;
	int r;

	dnsmsg_filter_answer_raw(pkt, &qr->q, rs.conf, addrs);
	if (addrs->nremoved > 0)
		log_filtered(qr, addrs);
	raw = addrs->ttl;
	if (addrs->n > 0)
		addrs->ttl = dnsmsg_addrs_ttl(raw, age, rs.conf);
	nrr = ldns_pkt_ancount(pkt) + ldns_pkt_nscount(pkt) + ldns_pkt_arcount(pkt);
	if (nrr > DNSMSG_MAX_TTLS)
		dnsmsg_age_cap(pkt, age, rs.conf->max_ttl);
	r = dnsmsg_build_reply(pkt, &qr->q, frontend_client_udp(&qr->client), &qr->reply,
	                       &qr->replylen, truncated);
	ldns_pkt_free(pkt);
	if (r != 0)
		return r;
	/* The addresses as the dns.allow line and the template show them. */
	if (addrs->n > 0 && !*truncated) {
		size_t size = addrs->n * (INET6_ADDRSTRLEN + 1) + 1;

		qr->addrs = malloc(size);
		if (qr->addrs == NULL)
			return -1;
		dnsmsg_addrs_fmt(addrs, qr->addrs, size);
	}
	if (nrr > DNSMSG_MAX_TTLS)
		return 0;
	if (dnsmsg_reply_ttls(qr->reply, qr->replylen, qr->q.edns, &ttls) != 0)
		return -1;
	/* The next hits may start from this template (answer_prepared). */
	if (qr->serial != 0 && qr->action == DNSMSG_FORWARD && !*truncated &&
	    (addrs->n == 0 || qr->addrs != NULL)) {
		struct cache_prep_key k;

		prep_key(&qr->q, &k);
		cache_prepare(rs.cache, qr->q.name, qr->q.qtype, qr->q.do_bit, qr->serial, &k,
		              qr->reply, qr->replylen, &ttls, qr->addrs, addrs->n, raw);
	}
	dnsmsg_reply_age(qr->reply, &ttls, age, rs.conf->max_ttl);
	return 0;
}

/* A checked answer, fresh or from the cache: filter, build, and send it
 * once the gate has every address in it. */
static void
handle_answer(struct query *qr, ldns_pkt *pkt, uint32_t age)
{
	static struct dnsmsg_addrs addrs; /* large; one query at a time */
	bool truncated;

	if (build_reply(qr, pkt, age, &addrs, &truncated) != 0) {
		query_fail(qr, "internal");
		return;
	}
	/* Audit mode forwards off-list names but never opens the gate for
	 * them; a truncated reply carries no address at all. */
	if (qr->action == DNSMSG_AUDIT || truncated || addrs.n == 0) {
		send_allowed(qr);
		return;
	}
	qr->ttl = addrs.ttl;
	/* before fresh_gen is taken below, so an ACK of this gate counts */
	sync_gate_epoch();
	if (qr->cached && gate_holds(&qr->q, qr->serial, loop_now_ms(), addrs.ttl)) {
		send_allowed(qr);
		return;
	}
	qr->fresh_gen = cache_fresh_gen(rs.cache);
	qr->sent_ms = loop_now_ms();
	if (gateclient_allow(rs.gc, qr->q.name, &addrs, gate_done, qr) != 0)
		query_fail(qr, "gate-unavailable");
}

static void
upstream_done(void *arg, ldns_pkt *pkt, const uint8_t *wire, size_t len, const char *error,
              const struct addr *server)
{
	struct query *qr = arg;

	qr->up = NULL;
	if (server != NULL)
		qr->upstream = *server;
	if (pkt == NULL) {
		query_fail(qr, error ? error : "failed");
		return;
	}
	if (qr->q.host)
		qr->serial = cache_put(rs.cache, qr->q.name, qr->q.qtype, qr->q.do_bit, pkt, wire,
		                       len, loop_now_ms());
	handle_answer(qr, pkt, 0);
}

static void
forward(struct dnsmsg_query *q, enum dnsmsg_action action, const struct frontend_client *cl)
{
	struct query *qr;
	uint32_t age = 0;
	ldns_pkt *pkt;

	if (rs.nqueries >= MAX_INFLIGHT) {
		struct log_line *l = dns_event(LOGL_WARN, "dns.error", NULL, q, cl);

		logline_str(l, "upstream", "");
		logline_str(l, "error", "overload");
		log_end(l);
		reply_rcode(q, cl, LDNS_RCODE_SERVFAIL);
		dnsmsg_query_free(q);
		return;
	}
	qr = query_new();
	if (qr == NULL) {
		log_warn("calloc query");
		reply_rcode(q, cl, LDNS_RCODE_SERVFAIL);
		dnsmsg_query_free(q);
		return;
	}
	qr->q = *q; /* takes the qname */
	qr->action = action;
	frontend_client_copy(&qr->client, cl);
	qr->next = rs.queries;
	if (rs.queries)
		rs.queries->prev = qr;
	rs.queries = qr;
	rs.nqueries++;

	pkt = qr->q.host ? cache_get_raw(rs.cache, qr->q.name, qr->q.qtype, qr->q.do_bit,
	                                 loop_now_ms(), &age, &qr->serial)
	                 : NULL;
	if (pkt != NULL) {
		qr->cached = true;
		handle_answer(qr, pkt, age);
		return;
	}
	qr->up = upstream_query(rs.up, &qr->q, upstream_done, qr);
	if (qr->up == NULL)
		query_fail(qr, "internal");
}

/* Answers a query locally (NOTIMP for a type no client needs, else the
 * answer to a name off the list), and logs it as dns.deny. */
static void
deny(const struct dnsmsg_query *q, const struct frontend_client *cl, bool notimp)
{
	struct log_line *l;
	uint8_t *w = NULL;
	size_t wlen;
	int r = notimp ? dnsmsg_build_notimp(q, rs.conf, &w, &wlen)
	               : dnsmsg_build_deny(q, rs.conf, &w, &wlen);

	if (r != 0) {
		log_warnx("cannot build a reply for %s", q->logname);
		return;
	}
	frontend_reply(cl, w, wlen);
	l = dns_event(LOGL_INFO, "dns.deny", NULL, q, cl);
	log_rcode(l, w, wlen);
	log_end(l);
	free(w);
}

static void
on_query(const uint8_t *buf, size_t len, const struct frontend_client *cl, void *arg)
{
	struct dnsmsg_query q;
	uint8_t *w = NULL;
	size_t wlen;

	switch (dnsmsg_parse_query(buf, len, rs.conf, &q)) {
	case DNSMSG_DROP:
		return;
	case DNSMSG_ERROR:
		if (dnsmsg_build_error(&q, &w, &wlen) == 0)
			frontend_reply(cl, w, wlen);
		free(w);
		dnsmsg_query_free(&q);
		return;
	case DNSMSG_QUERY:
		break;
	}
	switch (dnsmsg_decide(&q, rs.conf)) {
	case DNSMSG_NOTIMP:
		/* A query type no client needs: a denial too, so an agent
		 * probing with them is seen. */
		deny(&q, cl, true);
		break;
	case DNSMSG_DENY:
		deny(&q, cl, false);
		break;
	case DNSMSG_FORWARD:
		if (answer_prepared(&q, cl))
			break;
		forward(&q, DNSMSG_FORWARD, cl);
		return;
	case DNSMSG_AUDIT:
		forward(&q, DNSMSG_AUDIT, cl);
		return;
	}
	dnsmsg_query_free(&q);
}

static bool
listen_equal(const struct conf *a, const struct conf *b)
{
	if (a->nlisten != b->nlisten)
		return false;
	for (size_t i = 0; i < a->nlisten; i++)
		if (!addr_equal(&a->listen[i], &b->listen[i]))
			return false;
	return true;
}

static void
reload(void *arg)
{
	struct conf *c = calloc(1, sizeof(*c));
	char err[CONF_ERR_LEN];

	/* Ports and TTL limits may change with the file, and the gate reads
	 * it on its own: nothing acknowledged so far is taken for granted. */
	cache_invalidate_fresh(rs.cache);
	if (c == NULL) {
		log_warn("reload: calloc");
		return;
	}
	if (confperm_check(&rs.perm, rs.conf->path, err, sizeof(err)) != 0 ||
	    conf_load(rs.conf->path, c, err, sizeof(err)) != 0) {
		conf_log_error(rs.conf->path, err);
		free(c);
		return;
	}
	/* The sockets were bound as root; we cannot bind new ones now. */
	if (!listen_equal(c, rs.conf)) {
		log_warnx("listen addresses changed in %s: that needs a restart; "
		          "keeping the old ones",
		          c->path);
		memcpy(c->listen, rs.conf->listen, sizeof(c->listen));
		c->nlisten = rs.conf->nlisten;
	}
	if (strcmp(c->user, rs.conf->user) != 0)
		log_warnx("user changed in %s: that needs a restart", c->path);
	if (strcmp(c->log_file, rs.conf->log_file) != 0 || c->log_format != rs.conf->log_format)
		log_open(c->log_file, c->log_format);
	/* Netlink is closed to us now: the networks read at start stay. */
	c->local = rs.conf->local;
	conf_free(rs.conf);
	free(rs.conf);
	rs.conf = c;
	rs.conf_gen++;
	upstream_configure(rs.up, c);
	if (cache_set_max(rs.cache, c->cache_size) != 0)
		log_warnx("reload: cache_size %u: out of memory, the cache keeps its size",
		          c->cache_size);
	gateclient_set_path(rs.gc, c->socket);
	conf_log_load(c->path);
}

static void
on_signal(int signo, void *arg)
{
	if (signo == SIGHUP) {
		reload(NULL);
		return;
	}
	log_info("signal %d: exiting", signo);
	loop_stop(rs.lp);
}

static unsigned long
cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	unsigned long last = CAP_LAST_CAP;

	if (f == NULL) {
		log_warn("open /proc/sys/kernel/cap_last_cap; assuming %lu", last);
		return last;
	}
	if (fscanf(f, "%lu", &last) != 1 || last > 63)
		last = CAP_LAST_CAP;
	fclose(f);
	return last;
}

static void
check_no_caps(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		fatal("capget");
	for (int i = 0; i < 2; i++)
		if (data[i].permitted || data[i].effective || data[i].inheritable)
			fatalx("capabilities left after dropping privileges");
}

/* Gives up root for good. The agent can send us any bytes; if one of them
 * ever took over this process it must find nothing worth having. */
static void
drop_privileges(const struct conf *c)
{
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(c->user);
		unsigned long last;
		gid_t gid;
		uid_t uid;

		if (pw == NULL) {
			fprintf(stderr,
			        "namegate-resolver: user \"%s\" does not exist "
			        "(create it, or set [resolver] user)\n",
			        c->user);
			exit(2);
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (uid == 0)
			fatalx("[resolver] user %s is root; refusing to run as root", c->user);
		if (setgroups(1, &gid) != 0)
			fatal("setgroups");
		if (setresgid(gid, gid, gid) != 0)
			fatal("setresgid");
		last = cap_last();
		for (unsigned long cap = 0; cap <= last; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
				fatal("prctl PR_CAPBSET_DROP %lu", cap);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
		    errno != EINVAL)
			fatal("prctl PR_CAP_AMBIENT_CLEAR_ALL");
		if (setresuid(uid, uid, uid) != 0)
			fatal("setresuid");
		if (setuid(0) == 0)
			fatalx("could regain root after dropping privileges");
	} else {
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
		    errno != EINVAL)
			fatal("prctl PR_CAP_AMBIENT_CLEAR_ALL");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
	check_no_caps();
}

/* One socket per upstream attempt: allow as many descriptors as we may. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("setrlimit RLIMIT_NOFILE");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check = false;
	char err[CONF_ERR_LEN];
	int opt, ret = 1;

	log_set_ident("namegate-resolver");
	while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("namegate-resolver %s\n", NAMEGATE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}

	rs.conf = calloc(1, sizeof(*rs.conf));
	if (rs.conf == NULL) {
		perror("calloc");
		return 1;
	}
	/* Before the privilege drop and the seccomp filter (getcwd); the
	 * started-as uid is the one trusted to own the config besides root. */
	confperm_init(&rs.perm);
	if (confperm_check(&rs.perm, path, err, sizeof(err)) != 0 ||
	    conf_load(path, rs.conf, err, sizeof(err)) != 0) {
		if (check) {
			fprintf(stderr, "%s\n", err);
		} else {
			conf_log_error(path, err);
		}
		free(rs.conf);
		return 2;
	}
	if (check) {
		suffix_conf_warnings(rs.conf, stderr);
		conf_print(stdout, rs.conf);
		conf_free(rs.conf);
		free(rs.conf);
		return 0;
	}
	if (log_open(rs.conf->log_file, rs.conf->log_format) != 0)
		log_warnx("logging to stderr only");
	/* Before the seccomp filter closes netlink: the container's own
	 * networks, whose addresses are removed from answers (inward.h). */
	if (localnet_read(&rs.conf->local) != 0) {
		log_warnx("cannot read the container's networks; exiting");
		goto out_conf;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	rs.lp = loop_new();
	if (rs.lp == NULL)
		goto out_conf;
	ratelimits_start();
	rs.fe = frontend_new(rs.lp, rs.conf->listen, rs.conf->nlisten, on_query, NULL);
	if (rs.fe == NULL)
		goto out_loop;

	drop_privileges(rs.conf);

	rs.up = upstream_new(rs.lp);
	if (rs.up == NULL)
		goto out_frontend;
	upstream_configure(rs.up, rs.conf);
	rs.cache = cache_new(rs.conf->cache_size);
	if (rs.cache == NULL)
		goto out_upstream;
	rs.gc = gateclient_new(rs.lp, rs.conf->socket);
	if (rs.gc == NULL)
		goto out_cache;
	if (loop_signal(rs.lp, SIGHUP, on_signal, NULL) != 0 ||
	    loop_signal(rs.lp, SIGTERM, on_signal, NULL) != 0 ||
	    loop_signal(rs.lp, SIGINT, on_signal, NULL) != 0) {
		log_warn("cannot handle signals");
		goto out_gate;
	}
	rs.cw = confwatch_new(rs.lp, rs.conf->path, reload, NULL);
	if (rs.cw == NULL)
		log_warnx("not watching %s for changes; SIGHUP still reloads", rs.conf->path);

	conf_log_load(rs.conf->path);
	/* Last, once every socket, watch and file of the setup exists: from
	 * here on only the calls the running resolver needs are allowed. */
	if (sandbox_enter() != 0)
		log_warnx("not running without the seccomp filter; exiting");
	else if (loop_run(rs.lp) == 0)
		ret = 0;
	else
		log_warn("event loop");

	confwatch_free(rs.cw);
	while (rs.queries != NULL)
		query_free(rs.queries);
	pool_free();
out_gate:
	gateclient_free(rs.gc);
out_cache:
	cache_free(rs.cache);
out_upstream:
	upstream_free(rs.up);
out_frontend:
	frontend_free(rs.fe);
out_loop:
	ratelimits_stop();
	loop_free(rs.lp);
out_conf:
	conf_free(rs.conf);
	free(rs.conf);
	log_close();
	return ret;
}
