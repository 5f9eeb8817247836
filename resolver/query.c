/*
 * The life of one client query, from its bytes to its reply:
 *
 *   client query ─▶ dnsmsg decision ─▶ deny at once
 *                                  └─▶ cache or upstream ─▶ filter answer
 *                                        ─▶ gate ALLOW ─▶ ACK ─▶ reply
 *
 * A reply that carries addresses is sent only after the gate's ACK. A
 * denial (and an audited answer) whose line will be written waits, at most
 * WHO_WAIT_MS, for the gate to say which process holds the client's socket:
 * clients close it as soon as they have their answer.
 */
#include "query.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "conf.h"
#include "dnsmsg.h"
#include "frontend.h"
#include "gateclient.h"
#include "holds.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "ratelimit.h"
#include "upstream.h"

#define MAX_INFLIGHT 50000 /* queries waiting on upstream or gate */
#define QUERY_POOL_MAX 512 /* finished queries kept for reuse */
#define WHO_WAIT_MS 20     /* a denial waits this long for its sender's name */
#define WHO_PENDING_MAX 64 /* denials waiting; past it they say why=busy */

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
	char *addrs;                  /* for the dns.allow line: addrbuf, or malloc'd */
	char addrbuf[48];             /* holds a few addresses' text: no malloc */
	bool notimp;                  /* a denial: answered NOTIMP */
	struct gateipc_who_reply who; /* who sent it, for its line (why NONE: not asked) */
	struct cache_entry *entry;    /* the cache entry the answer is (held), or NULL */
	struct holds_ticket ticket;   /* when the ALLOW went out */
	struct list_node link;        /* in qs.queries, or in qs.pool when done */
};

static struct {
	const struct conf *conf;
	struct loop *lp;
	struct upstream *up;
	struct gateclient *gc;
	struct cache *cache;
	struct holds *holds;
	struct list queries; /* in flight */
	size_t nqueries;
	/* A struct query is too big for malloc's small-object caches; reusing
	 * them spares the allocator its consolidation work on every query. */
	struct list pool;
	size_t npool;
	uint32_t conf_gen; /* moves on with every config loaded */
	size_t nwho;       /* queries waiting for a WHO reply */
	/* The agent decides how many queries it sends: a flood must not
	 * become a flood of log lines. Each kind has its own budget, so
	 * allowed names cannot crowd denials out of the log. */
	struct ratelimit rl_allow, rl_audit, rl_deny, rl_error, rl_filtered;
} qs;

/* How a hit went that answer_prepared was asked to serve. */
enum prepared {
	PREPARED_NO,   /* no template fits: take the slow path (q untouched) */
	PREPARED_SENT, /* answered from the template */
	PREPARED_GATE, /* from the template, after the gate's ACK (q taken) */
};

/* The life of a query, in the order this file follows it. */
static void deny(struct dnsmsg_query *q, const struct frontend_client *cl, bool notimp);
static enum prepared answer_prepared(struct dnsmsg_query *q, const struct frontend_client *cl,
                                     struct cache_entry *e);
static void forward(struct dnsmsg_query *q, enum dnsmsg_action action,
                    const struct frontend_client *cl, struct cache_entry *e);
static void upstream_done(void *arg, ldns_pkt *pkt, const uint8_t *wire, size_t len,
                          const char *error, const struct addr *server);
static void handle_answer(struct query *qr, ldns_pkt *pkt, uint32_t age);
static int build_reply(struct query *qr, ldns_pkt *pkt, uint32_t age, struct dnsmsg_addrs *addrs,
                       bool *truncated);
static void gate_done(void *arg, enum gateclient_result res);
static bool ask_who(struct query *qr);
static void who_done(void *arg, const struct gateipc_who_reply *rep);
static void send_allowed(struct query *qr);

#define DNS_LOG_ALLOW_PER_SECOND 1000
#define DNS_LOG_DENY_PER_SECOND 100
#define DNS_NAME_WIRE_MAX 255

static void
ratelimits_start(void)
{
	ratelimit_init(&qs.rl_allow, DNS_LOG_ALLOW_PER_SECOND);
	ratelimit_attach(&qs.rl_allow, qs.lp, "dns.suppressed", "dns.allow");
	ratelimit_init(&qs.rl_audit, DNS_LOG_ALLOW_PER_SECOND);
	ratelimit_attach(&qs.rl_audit, qs.lp, "dns.suppressed", "dns.audit");
	ratelimit_init(&qs.rl_deny, DNS_LOG_DENY_PER_SECOND);
	/* the first denial of each name an interval is always written */
	ratelimit_track(&qs.rl_deny, DNS_NAME_WIRE_MAX);
	ratelimit_attach(&qs.rl_deny, qs.lp, "dns.suppressed", "dns.deny");
	ratelimit_init(&qs.rl_error, DNS_LOG_DENY_PER_SECOND);
	ratelimit_attach(&qs.rl_error, qs.lp, "dns.suppressed", "dns.error");
	ratelimit_init(&qs.rl_filtered, DNS_LOG_DENY_PER_SECOND);
	ratelimit_attach(&qs.rl_filtered, qs.lp, "dns.suppressed", "dns.filtered");
}

static void
ratelimits_stop(void)
{
	ratelimit_detach(&qs.rl_allow);
	ratelimit_detach(&qs.rl_audit);
	ratelimit_detach(&qs.rl_deny);
	ratelimit_detach(&qs.rl_error);
	ratelimit_detach(&qs.rl_filtered);
}

static struct ratelimit *
event_ratelimit(const char *event)
{
	if (strcmp(event, "dns.allow") == 0)
		return &qs.rl_allow;
	if (strcmp(event, "dns.audit") == 0)
		return &qs.rl_audit;
	if (strcmp(event, "dns.deny") == 0)
		return &qs.rl_deny;
	if (strcmp(event, "dns.filtered") == 0)
		return &qs.rl_filtered;
	return &qs.rl_error;
}

/* Will this event's line be written? Counts it against its budget. */
static bool
dns_event_ok(const char *event, const struct dnsmsg_query *q)
{
	struct ratelimit *rl = event_ratelimit(event);

	if (rl == &qs.rl_deny && q->qname != NULL) {
		/* A denial's key is its name, in any case. */
		uint8_t key[DNS_NAME_WIRE_MAX];
		size_t n = ldns_rdf_size(q->qname);

		if (n > sizeof(key))
			n = sizeof(key);
		memcpy(key, ldns_rdf_data(q->qname), n);
		dnsmsg_wire_name_lower(key, n);
		return ratelimit_ok_key(rl, key, n);
	}
	return ratelimit_ok(rl);
}

/* The fields every dns.* event starts with, once dns_event_ok said yes. */
static struct log_line *
dns_event_begin(enum log_level level, const char *event, const struct query *qr,
                const struct dnsmsg_query *q, const struct frontend_client *cl)
{
	struct log_line *l;
	char buf[ADDR_STRLEN];

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

static struct log_line *
dns_event(enum log_level level, const char *event, const struct query *qr,
          const struct dnsmsg_query *q, const struct frontend_client *cl)
{
	if (!dns_event_ok(event, q))
		return log_discard();
	return dns_event_begin(level, event, qr, q, cl);
}

/* pid comm exe, or pid=- why=..., as flow lines say it (nfq/who.c). */
static void
log_who(struct log_line *l, const struct gateipc_who_reply *who)
{
	if (who->why != GATEIPC_WHY_FOUND) {
		logline_str(l, "pid", "-");
		logline_str(l, "why", gateipc_why_name((enum gateipc_why)who->why));
		return;
	}
	logline_int(l, "pid", who->pid);
	logline_str(l, "comm", who->comm[0] ? who->comm : "-");
	logline_str(l, "exe", who->exe[0] ? who->exe : "-");
}

static void
log_rcode(struct log_line *l, const uint8_t *wire, size_t len)
{
	char buf[16];
	int rc = dnsmsg_wire_rcode(wire, len);

	logline_str(l, "rcode", rc < 0 ? "?" : dnsmsg_rcode_str((uint16_t)rc, buf, sizeof(buf)));
}

/* who: an audited answer's sender, whose line dns_event_ok let through
 * already; NULL for the others. */
static void
log_allowed(const struct dnsmsg_query *q, const struct frontend_client *cl, bool audit,
            const uint8_t *reply, size_t len, const char *addrs, uint32_t ttl, bool cached,
            const struct gateipc_who_reply *who)
{
	const char *event = audit ? "dns.audit" : "dns.allow";
	struct log_line *l = who != NULL ? dns_event_begin(LOGL_INFO, event, NULL, q, cl)
	                                 : dns_event(LOGL_INFO, event, NULL, q, cl);

	log_rcode(l, reply, len);
	/* In audit mode too, so that namegate learn can name the flows to
	 * them (the gate, which never saw them, cannot). */
	logline_str(l, "addrs", addrs ? addrs : "");
	if (!audit)
		logline_int(l, "ttl", ttl);
	if (cached)
		logline_int(l, "cached", 1);
	if (who != NULL)
		log_who(l, who);
	log_end(l);
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
prep_key(const struct dnsmsg_query *q, struct cache_prep_key *k)
{
	k->conf_gen = qs.conf_gen;
	k->qname = ldns_rdf_data(q->qname);
	k->qnamelen = ldns_rdf_size(q->qname);
	k->qclass = q->qclass;
	k->edns = q->edns;
}

/* Keeps text as qr's addresses for its log line; -1 when out of memory. */
static int
query_keep_addrs(struct query *qr, const char *text)
{
	size_t n = strlen(text) + 1;

	qr->addrs = n <= sizeof(qr->addrbuf) ? qr->addrbuf : malloc(n);
	if (qr->addrs == NULL)
		return -1;
	memcpy(qr->addrs, text, n);
	return 0;
}

static struct query *
query_new(void)
{
	struct list_node *n = list_first(&qs.pool);
	struct query *qr;

	if (n == NULL)
		return calloc(1, sizeof(*qr));
	list_remove(n);
	qs.npool--;
	qr = list_entry(n, struct query, link);
	memset(qr, 0, sizeof(*qr));
	return qr;
}

/* A query that waits on the upstream or the gate: takes q (its qname), or
 * answers SERVFAIL, frees q and returns NULL. */
static struct query *
query_begin(struct dnsmsg_query *q, enum dnsmsg_action action, const struct frontend_client *cl)
{
	struct query *qr;

	if (qs.nqueries >= MAX_INFLIGHT) {
		struct log_line *l = dns_event(LOGL_WARN, "dns.error", NULL, q, cl);

		logline_str(l, "upstream", "");
		logline_str(l, "error", "overload");
		log_end(l);
		reply_rcode(q, cl, LDNS_RCODE_SERVFAIL);
		dnsmsg_query_free(q);
		return NULL;
	}
	qr = query_new();
	if (qr == NULL) {
		log_warn("calloc query");
		reply_rcode(q, cl, LDNS_RCODE_SERVFAIL);
		dnsmsg_query_free(q);
		return NULL;
	}
	qr->q = *q; /* takes the qname */
	qr->action = action;
	frontend_client_copy(&qr->client, cl);
	list_push_front(&qs.queries, &qr->link);
	qs.nqueries++;
	return qr;
}

static void
query_free(struct query *qr)
{
	list_remove(&qr->link);
	qs.nqueries--;
	upstream_cancel(qr->up);
	cache_entry_release(qr->entry);
	frontend_client_release(&qr->client);
	dnsmsg_query_free(&qr->q);
	free(qr->reply);
	if (qr->addrs != qr->addrbuf)
		free(qr->addrs);
	if (qs.npool < QUERY_POOL_MAX) {
		list_push_front(&qs.pool, &qr->link);
		qs.npool++;
		return;
	}
	free(qr);
}

static void
pool_free(void)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, &qs.pool)
	{
		list_remove(n);
		free(list_entry(n, struct query, link));
	}
	qs.npool = 0;
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

/* A query, from its bytes to its reply. */

void
query_on_client(const uint8_t *buf, size_t len, const struct frontend_client *cl, void *arg)
{
	struct cache_entry *e = NULL;
	struct dnsmsg_query q;
	uint8_t *w = NULL;
	size_t wlen;

	switch (dnsmsg_parse_query(buf, len, qs.conf, &q)) {
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
	switch (dnsmsg_decide(&q, qs.conf)) {
	case DNSMSG_NOTIMP:
		/* A query type no client needs: a denial too, so an agent
		 * probing with them is seen. */
		deny(&q, cl, true);
		return;
	case DNSMSG_DENY:
		deny(&q, cl, false);
		return;
	case DNSMSG_FORWARD:
		/* The key is looked up once; the entry answers the rest. */
		if (q.host)
			e = cache_find(qs.cache, q.name, q.qtype, q.do_bit, loop_now_ms());
		switch (e != NULL ? answer_prepared(&q, cl, e) : PREPARED_NO) {
		case PREPARED_NO:
			forward(&q, DNSMSG_FORWARD, cl, e);
			return;
		case PREPARED_SENT:
			break;
		case PREPARED_GATE:
			return;
		}
		break;
	case DNSMSG_AUDIT:
		if (q.host)
			e = cache_find(qs.cache, q.name, q.qtype, q.do_bit, loop_now_ms());
		forward(&q, DNSMSG_AUDIT, cl, e);
		return;
	}
	dnsmsg_query_free(&q);
}

static void
log_denied(const struct dnsmsg_query *q, const struct frontend_client *cl, const uint8_t *w,
           size_t wlen, const struct gateipc_who_reply *who)
{
	struct log_line *l = dns_event_begin(LOGL_INFO, "dns.deny", NULL, q, cl);

	log_rcode(l, w, wlen);
	log_who(l, who);
	log_end(l);
}

/*
 * Answers a query locally (NOTIMP for a type no client needs, else the
 * answer to a name off the list), and logs it as dns.deny with the process
 * that asked: the reply waits for the gate's WHO reply, WHO_WAIT_MS at
 * most. Only a line that will be written waits; frees q unless it waits.
 */
static void
deny(struct dnsmsg_query *q, const struct frontend_client *cl, bool notimp)
{
	struct gateipc_who_reply who;
	struct query *qr;
	uint8_t *w = NULL;
	size_t wlen;
	int r = notimp ? dnsmsg_build_notimp(q, qs.conf, &w, &wlen)
	               : dnsmsg_build_deny(q, qs.conf, &w, &wlen);

	if (r != 0) {
		log_warnx("cannot build a reply for %s", q->logname);
		dnsmsg_query_free(q);
		return;
	}
	if (!dns_event_ok("dns.deny", q)) {
		frontend_reply(cl, w, wlen);
		goto done;
	}
	if (qs.nwho < WHO_PENDING_MAX && qs.nqueries < MAX_INFLIGHT) {
		qr = query_begin(q, DNSMSG_DENY, cl);
		if (qr != NULL) {
			qr->notimp = notimp;
			qr->reply = w;
			qr->replylen = wlen;
			if (!ask_who(qr))
				who_done(qr, &qr->who);
			return;
		}
		/* query_begin answered it and freed q */
		free(w);
		return;
	}
	gateipc_who_reply_init(&who, 0, GATEIPC_WHY_BUSY, -1, NULL, NULL);
	frontend_reply(cl, w, wlen);
	log_denied(q, cl, w, wlen, &who);
done:
	free(w);
	dnsmsg_query_free(q);
}

/* Asks the gate for the sender of qr; false (qr->who says why) when it
 * cannot be asked. */
static bool
ask_who(struct query *qr)
{
	struct addr peer, local;
	uint8_t proto = frontend_client_udp(&qr->client) ? IPPROTO_UDP : IPPROTO_TCP;

	gateipc_who_reply_init(&qr->who, 0, GATEIPC_WHY_BUSY, -1, NULL, NULL);
	if (qs.nwho >= WHO_PENDING_MAX)
		return false;
	if (frontend_client_ends(&qr->client, &peer, &local) != 0) {
		qr->who.why = GATEIPC_WHY_GONE;
		return false;
	}
	if (gateclient_who(qs.gc, proto, &peer, &local, WHO_WAIT_MS, who_done, qr) != 0) {
		qr->who.why = GATEIPC_WHY_NOGATE;
		return false;
	}
	qs.nwho++;
	qr->who.why = GATEIPC_WHY_TIMEOUT; /* until it answers */
	return true;
}

/* The WHO reply (or a timeout, or no gate): the reply goes out, and its
 * line names the sender. */
static void
who_done(void *arg, const struct gateipc_who_reply *rep)
{
	struct query *qr = arg;

	if (rep != &qr->who) {
		qs.nwho--;
		qr->who = *rep;
	}
	if (qr->action == DNSMSG_DENY) {
		frontend_reply(&qr->client, qr->reply, qr->replylen);
		log_denied(&qr->q, &qr->client, qr->reply, qr->replylen, &qr->who);
		query_free(qr);
		return;
	}
	frontend_reply(&qr->client, qr->reply, qr->replylen);
	log_allowed(&qr->q, &qr->client, true, qr->reply, qr->replylen, qr->addrs, qr->ttl,
	            qr->cached, &qr->who);
	query_free(qr);
}

/*
 * The fast way to answer a hit: from the template an earlier answer on the
 * same entry was built into, when this query would get exactly the same
 * bytes (see cache.h). The ID and RD are the client's own, the TTLs aged as
 * the slow path would. When the gate does not surely hold the addresses
 * (more than half of their timeout gone, a new gate), the reply waits for
 * its ACK as any answer does, with the addresses kept with the template:
 * the upstream's answer is parsed once, when it arrives, however often the
 * gate is asked again.
 */
static enum prepared
answer_prepared(struct dnsmsg_query *q, const struct frontend_client *cl, struct cache_entry *e)
{
	static uint8_t buf[65535];
	static struct dnsmsg_addrs addrs; /* large; one query at a time */
	uint64_t now = loop_now_ms();
	struct cache_prep_key k;
	struct cache_prepared p;
	struct query *qr;
	uint32_t ttl = 0;

	if (q->qname == NULL)
		return PREPARED_NO;
	prep_key(q, &k);
	if (!cache_entry_prepared(e, now, &k, dnsmsg_reply_limit(q, frontend_client_udp(cl)), &p) ||
	    p.len < DNSMSG_HDR_LEN || p.len > sizeof(buf) || p.naddrs > CONF_MAX_ADDRS)
		return PREPARED_NO;
	memcpy(buf, p.wire, p.len);
	/* The template was built for an earlier client's ID, RD and case. */
	if (dnsmsg_reply_retarget(buf, p.len, q) != 0)
		return PREPARED_NO;
	dnsmsg_reply_age(buf, &p.ttls, p.age, qs.conf->max_ttl);
	if (p.naddrs > 0)
		ttl = dnsmsg_addrs_ttl(p.raw_ttl, p.age, qs.conf);
	if (p.naddrs == 0 || holds_fresh(qs.holds, cache_entry_holds(e), now, ttl)) {
		frontend_reply(cl, buf, p.len);
		log_allowed(q, cl, false, buf, p.len, p.addrs, ttl, true, NULL);
		return PREPARED_SENT;
	}

	qr = query_begin(q, DNSMSG_FORWARD, cl);
	if (qr == NULL)
		return PREPARED_GATE;
	qr->cached = true;
	qr->entry = e;
	cache_entry_hold(e);
	qr->ttl = ttl;
	qr->reply = malloc(p.len);
	if (qr->reply == NULL || query_keep_addrs(qr, p.addrs) != 0) {
		query_fail(qr, "internal");
		return PREPARED_GATE;
	}
	memcpy(qr->reply, buf, p.len);
	qr->replylen = p.len;
	addrs.n = p.naddrs;
	addrs.ttl = ttl;
	addrs.nremoved = 0;
	memcpy(addrs.v, p.addrv, p.naddrs * sizeof(addrs.v[0]));
	qr->ticket = holds_ticket(qs.holds, now);
	if (gateclient_allow(qs.gc, qr->q.name, &addrs, gate_done, qr) != 0)
		query_fail(qr, "gate-unavailable");
	return PREPARED_GATE;
}

static void
forward(struct dnsmsg_query *q, enum dnsmsg_action action, const struct frontend_client *cl,
        struct cache_entry *e)
{
	struct query *qr = query_begin(q, action, cl);
	ldns_pkt *pkt;

	if (qr == NULL)
		return;
	pkt = e != NULL ? cache_entry_answer(qs.cache, e) : NULL;
	if (pkt != NULL) {
		qr->cached = true;
		qr->entry = e;
		cache_entry_hold(e);
		handle_answer(qr, pkt, cache_entry_age(e, loop_now_ms()));
		return;
	}
	qr->up = upstream_query(qs.up, &qr->q, upstream_done, qr);
	if (qr->up == NULL)
		query_fail(qr, "internal");
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
	if (qr->q.host) {
		qr->entry = cache_put(qs.cache, qr->q.name, qr->q.qtype, qr->q.do_bit, pkt, wire,
		                      len, loop_now_ms());
		if (qr->entry != NULL)
			cache_entry_hold(qr->entry);
	}
	handle_answer(qr, pkt, 0);
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
	if (qr->action == DNSMSG_AUDIT) {
		/* Names the sender in the dns.audit line, if it is written. */
		if (!dns_event_ok("dns.audit", &qr->q))
			send_allowed(qr);
		else if (!ask_who(qr))
			who_done(qr, &qr->who);
		return;
	}
	if (truncated || addrs.n == 0) {
		send_allowed(qr);
		return;
	}
	qr->ttl = addrs.ttl;
	if (qr->cached &&
	    holds_fresh(qs.holds, cache_entry_holds(qr->entry), loop_now_ms(), addrs.ttl)) {
		send_allowed(qr);
		return;
	}
	qr->ticket = holds_ticket(qs.holds, loop_now_ms());
	if (gateclient_allow(qs.gc, qr->q.name, &addrs, gate_done, qr) != 0)
		query_fail(qr, "gate-unavailable");
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
	static char text[CONF_MAX_ADDRS * (INET6_ADDRSTRLEN + 1) + 1];
	uint32_t raw;
	size_t nrr;
	int r;

	dnsmsg_filter_answer_raw(pkt, &qr->q, qs.conf, addrs);
	if (addrs->nremoved > 0)
		log_filtered(qr, addrs);
	raw = addrs->ttl;
	if (addrs->n > 0)
		addrs->ttl = dnsmsg_addrs_ttl(raw, age, qs.conf);
	nrr = ldns_pkt_ancount(pkt) + ldns_pkt_nscount(pkt) + ldns_pkt_arcount(pkt);
	if (nrr > DNSMSG_MAX_TTLS)
		dnsmsg_age_cap(pkt, age, qs.conf->max_ttl);
	r = dnsmsg_build_reply(pkt, &qr->q, frontend_client_udp(&qr->client), &qr->reply,
	                       &qr->replylen, truncated);
	ldns_pkt_free(pkt);
	if (r != 0)
		return r;
	/* The addresses as the dns.allow line and the template show them. */
	if (addrs->n > 0 && !*truncated &&
	    query_keep_addrs(qr, dnsmsg_addrs_fmt(addrs, text, sizeof(text))) != 0)
		return -1;
	if (nrr > DNSMSG_MAX_TTLS)
		return 0;
	if (dnsmsg_reply_ttls(qr->reply, qr->replylen, qr->q.edns, &ttls) != 0)
		return -1;
	/* The next hits may start from this template (answer_prepared). */
	if (qr->entry != NULL && qr->action == DNSMSG_FORWARD && !*truncated &&
	    (addrs->n == 0 || qr->addrs != NULL)) {
		struct cache_prep_key k;

		prep_key(&qr->q, &k);
		/* A template that holds the answer whole replaces it. */
		cache_entry_prepare(qr->entry, &k, qr->reply, qr->replylen, &ttls, qr->addrs, addrs,
		                    raw, !addrs->altered);
	}
	dnsmsg_reply_age(qr->reply, &ttls, age, qs.conf->max_ttl);
	return 0;
}

static void
gate_done(void *arg, enum gateclient_result res)
{
	struct query *qr = arg;

	if (res != GATECLIENT_OK) {
		/* A refusal may have taken entries back out of the sets. */
		holds_forget(qs.holds);
		query_fail(qr, gateclient_result_str(res));
		return;
	}
	/* An ACK that says the gate removed entries moved the generation on
	 * (gateclient.c, before this callback): then this answer is not
	 * credited either. */
	if (qr->entry != NULL)
		holds_credit(qs.holds, cache_entry_holds(qr->entry), &qr->ticket, qr->ttl);
	send_allowed(qr);
}

static void
send_allowed(struct query *qr)
{
	frontend_reply(&qr->client, qr->reply, qr->replylen);
	if (qr->action == DNSMSG_AUDIT) {
		/* Its line was over the budget: nothing to write. */
		query_free(qr);
		return;
	}
	log_allowed(&qr->q, &qr->client, false, qr->reply, qr->replylen, qr->addrs, qr->ttl,
	            qr->cached, NULL);
	query_free(qr);
}

/* Wiring. */

void
query_start(struct loop *lp, struct upstream *up, struct gateclient *gc, struct cache *cache,
            struct holds *holds, const struct conf *c)
{
	qs.holds = holds;
	list_init(&qs.queries);
	list_init(&qs.pool);
	qs.lp = lp;
	qs.up = up;
	qs.gc = gc;
	qs.cache = cache;
	qs.conf = c;
	ratelimits_start();
}

void
query_set_conf(const struct conf *c)
{
	qs.conf = c;
	qs.conf_gen++;
}

void
query_stop(void)
{
	while (!list_empty(&qs.queries))
		query_free(list_entry(list_first(&qs.queries), struct query, link));
	pool_free();
	ratelimits_stop();
}
