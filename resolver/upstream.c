/*
 * Forwarding. Each attempt uses its own socket, connect()ed to the server,
 * so the kernel picks a random source port and drops datagrams from any
 * other source; together with a random 16-bit ID that makes blind spoofing
 * expensive. An answer that does not match what we asked is ignored, not
 * taken as a failure, so a spoofer cannot cut a query short either.
 *
 * The UDP sockets come from a small pool, made and connected at the end of
 * a loop turn, after the replies and ALLOWs of that turn went out, so that
 * socket() and connect() are not on the way of a query. A pooled socket is
 * used for one attempt and then closed, like a fresh one: the port is
 * still new per query. Whatever it received while it waited in the pool
 * came before our query was sent, so it is read and thrown away first.
 * Closing a used socket waits for the same hook: it is no longer listened
 * to from the moment its attempt ends, but the close itself comes after
 * the ALLOW for its answer went to the gate.
 */
#include "upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define UP_UDP_BATCH 16
#define UP_MSG_MAX 65535
#define UP_POOL 32       /* about one turn's worth of queries (frontend.c) */
#define UP_POOL_DRAIN 64 /* datagrams read from a pooled socket, at most */
#define UP_CLOSING 256   /* used sockets left to close at the end of a quiet turn */

struct pooled {
	int fd;
	struct addr server; /* what it is connected to */
};

struct upstream {
	struct loop *lp;
	struct addr servers[CONF_MAX_UPSTREAMS];
	size_t n;
	size_t preferred; /* the one that answered last */
	uint32_t timeout_ms;
	uint8_t pool[512]; /* random bytes for IDs */
	size_t poolpos;
	/* Ready UDP sockets, a ring: taken from the front, refilled at the
	 * back, so none waits longer than UP_POOL queries. */
	struct pooled socks[UP_POOL];
	size_t sock_head, nsocks;
	bool hooked, hook_ok;
	int closing[UP_CLOSING];
	size_t nclosing;
	bool active; /* an attempt began or ended in this turn */
	uint8_t buf[UP_MSG_MAX];
};

struct upstream_req {
	struct upstream *u;
	const struct dnsmsg_query *q;
	upstream_cb cb;
	void *arg;
	size_t tried;
	struct addr server;
	size_t server_idx;
	int fd;
	bool tcp;
	uint16_t id;
	struct loop_timer timer;
	const char *error;
	bool saw_mismatch, saw_malformed;
	/* TCP */
	uint8_t *out; /* length-prefixed query */
	size_t outlen, outoff;
	uint8_t *in;
	size_t inlen, inwant;
};

static void attempt_next(struct upstream_req *r);

static uint16_t
random_id(struct upstream *u)
{
	uint16_t id;

	if (u->poolpos + 2 > sizeof(u->pool)) {
		ssize_t n = getrandom(u->pool, sizeof(u->pool), 0);

		/* getrandom only fails before the pool is initialised or on
		 * bad arguments; either way we must not guess. */
		if (n != (ssize_t)sizeof(u->pool))
			fatal("upstream: getrandom");
		u->poolpos = 0;
	}
	memcpy(&id, u->pool + u->poolpos, 2);
	u->poolpos += 2;
	return id;
}

struct upstream *
upstream_new(struct loop *lp)
{
	struct upstream *u = calloc(1, sizeof(*u));

	if (u == NULL) {
		log_warn("upstream: calloc");
		return NULL;
	}
	u->lp = lp;
	u->timeout_ms = 2000;
	u->poolpos = sizeof(u->pool);
	return u;
}

static void pool_refill(void *arg);
static void pool_flush(struct upstream *u);

/* Closes the sockets whose attempts ended. */
static void
closing_flush(struct upstream *u)
{
	for (size_t i = 0; i < u->nclosing; i++)
		close(u->closing[i]);
	u->nclosing = 0;
}

void
upstream_free(struct upstream *u)
{
	if (u == NULL)
		return;
	if (u->hooked)
		loop_turn_unhook(u->lp, pool_refill, u);
	u->n = 0;
	pool_flush(u);
	closing_flush(u);
	free(u);
}

static int
connected_socket(const struct addr *server, int type)
{
	struct sockaddr_storage ss;
	socklen_t sl = addr_to_sockaddr(server, &ss);
	char buf[ADDR_STRLEN];
	int fd = socket(server->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log_warn("upstream: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
		log_warn("upstream: connect %s", addr_fmt(server, buf, sizeof(buf)));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The turn hook: closes the sockets whose attempts ended and tops the pool
 * up with sockets connected to the server the next query will most likely
 * go to. That work waits for a quiet turn, one in which no attempt began
 * or ended (with one client, the turn of the gate's ACK, after the reply
 * went out), so that it is not between a query's send and its answer nor
 * between an answer's ALLOW and the gate (which, woken on this CPU, waits
 * for this process to block); under load, when half of either is used up.
 */
static void
pool_refill(void *arg)
{
	struct upstream *u = arg;
	bool quiet = !u->active;

	u->active = false;
	if (quiet || u->nclosing >= UP_CLOSING / 2)
		closing_flush(u);
	if (!quiet && u->nsocks >= UP_POOL / 2)
		return;
	if (u->n == 0)
		return;
	while (u->nsocks < UP_POOL) {
		struct pooled *p = &u->socks[(u->sock_head + u->nsocks) % UP_POOL];

		p->server = u->servers[u->preferred];
		p->fd = connected_socket(&p->server, SOCK_DGRAM);
		if (p->fd < 0)
			return; /* logged; the next turn tries again */
		u->nsocks++;
	}
}

/* Reads and drops what a pooled socket holds: 0 when it is empty now. */
static int
pool_drain(struct upstream *u, int fd)
{
	for (int i = 0; i < UP_POOL_DRAIN; i++) {
		if (recv(fd, u->buf, sizeof(u->buf), MSG_DONTWAIT) < 0 && errno == EAGAIN)
			return 0;
		/* A datagram, or an error queued for the socket (which the
		 * recv cleared): neither belongs to a query not yet sent. */
	}
	return -1;
}

/* A UDP socket for one attempt to server, from the pool if it has one:
 * connected to server, holding nothing. -1 if the pool is empty or its
 * socket cannot serve (the caller opens a fresh one). */
static int
pool_take(struct upstream *u, const struct addr *server)
{
	struct pooled p;

	if (!u->hooked) {
		/* Hooked at the first query rather than in upstream_new, so
		 * that it runs after the hooks that send replies and ALLOWs
		 * (frontend.c, gateclient.c): those are on a query's way. */
		u->hooked = true; /* tried once; unhooking an absent hook is harmless */
		u->hook_ok = loop_turn_hook(u->lp, pool_refill, u) == 0;
		if (!u->hook_ok)
			log_warnx("upstream: no loop hook left: a fresh socket per query");
	}
	if (u->nsocks == 0)
		return -1;
	p = u->socks[u->sock_head];
	u->sock_head = (u->sock_head + 1) % UP_POOL;
	u->nsocks--;
	/* Another server (a failover, a reload): connecting again would keep
	 * the source address chosen for the first one, which may be wrong for
	 * this one, so the socket goes and the refill follows u->preferred. */
	if (!addr_equal(&p.server, server) || pool_drain(u, p.fd) != 0) {
		close(p.fd);
		return -1;
	}
	return p.fd;
}

/* Closes the pooled sockets: all of them, or (after a reload) those
 * connected to another server than the preferred one. */
static void
pool_flush(struct upstream *u)
{
	size_t keep = 0;

	for (size_t i = 0; i < u->nsocks; i++) {
		struct pooled *p = &u->socks[(u->sock_head + i) % UP_POOL];

		if (u->n > 0 && addr_equal(&p->server, &u->servers[u->preferred]))
			u->socks[(u->sock_head + keep++) % UP_POOL] = *p;
		else
			close(p->fd);
	}
	u->nsocks = keep;
}

void
upstream_configure(struct upstream *u, const struct conf *c)
{
	char buf[ADDR_STRLEN];

	u->n = 0;
	for (size_t i = 0; i < c->nupstream && i < CONF_MAX_UPSTREAMS; i++) {
		bool own = false;

		/* Forwarding to ourselves would loop until every query times out. */
		for (size_t j = 0; j < c->nlisten; j++)
			own = own || addr_equal(&c->upstream[i], &c->listen[j]);
		if (own) {
			log_warnx("upstream %s is one of our listen addresses; ignored",
			          addr_fmt(&c->upstream[i], buf, sizeof(buf)));
			continue;
		}
		u->servers[u->n++] = c->upstream[i];
	}
	if (u->n == 0)
		log_warnx("no usable upstream: every query will get SERVFAIL");
	if (u->preferred >= u->n)
		u->preferred = 0;
	u->timeout_ms = c->upstream_timeout_ms ? c->upstream_timeout_ms : 2000;
	pool_flush(u);
	closing_flush(u);
}

/* The end of an attempt's socket: from now on nothing it receives is
 * read. A UDP socket is closed at the end of the turn (pool_refill). */
static void
attempt_fd_close(struct upstream_req *r)
{
	struct upstream *u = r->u;

	if (r->fd < 0)
		return;
	u->active = true;
	if (!r->tcp && u->hook_ok && u->nclosing < UP_CLOSING) {
		loop_forget(u->lp, r->fd);
		u->closing[u->nclosing++] = r->fd;
	} else {
		loop_del_close(u->lp, r->fd);
	}
	r->fd = -1;
}

static void
attempt_close(struct upstream_req *r)
{
	attempt_fd_close(r);
	loop_timer_cancel(r->u->lp, &r->timer);
	free(r->out);
	free(r->in);
	r->out = r->in = NULL;
	r->outlen = r->outoff = r->inlen = r->inwant = 0;
	r->tcp = false;
}

static void
req_free(struct upstream_req *r)
{
	attempt_close(r);
	free(r);
}

static void
finish(struct upstream_req *r, ldns_pkt *pkt, const uint8_t *wire, size_t len)
{
	upstream_cb cb = r->cb;
	void *arg = r->arg;
	struct addr server = r->server;
	const char *error = r->error ? r->error : "no-upstream";

	if (pkt != NULL) {
		r->u->preferred = r->server_idx;
		error = NULL;
	}
	/* wire may point into r (TCP), so r goes only after the callback. */
	cb(arg, pkt, wire, len, error, &server);
	req_free(r);
}

/* An attempt that failed before it could time out: move on from the loop,
 * never from inside upstream_query (the caller is not ready for the
 * callback yet). */
static void
attempt_failed(struct upstream_req *r, const char *error)
{
	r->error = error;
	attempt_fd_close(r);
	loop_timer_set(r->u->lp, &r->timer, 0);
}

static void
timer_cb(struct loop_timer *t, void *arg)
{
	struct upstream_req *r = arg;

	if (r->fd >= 0) {
		if (r->saw_malformed)
			r->error = "malformed";
		else if (r->saw_mismatch)
			r->error = "mismatch";
		else
			r->error = r->tcp ? "tcp-timeout" : "timeout";
	}
	attempt_next(r);
}

/* Handles one complete answer. Returns true if the request is finished (or
 * moved on) and r may be gone. */
static bool answer(struct upstream_req *r, const uint8_t *buf, size_t len);

static void tcp_start(struct upstream_req *r);

static void
udp_cb(int fd, uint32_t events, void *arg)
{
	struct upstream_req *r = arg;
	struct upstream *u = r->u;

	for (int i = 0; i < UP_UDP_BATCH; i++) {
		ssize_t n = recv(fd, u->buf, sizeof(u->buf), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* ICMP port unreachable and the like, reported on the
			 * connected socket. */
			log_debug("upstream: recv: %s", strerror(errno));
			attempt_failed(r, "refused");
			return;
		}
		if (answer(r, u->buf, (size_t)n))
			return;
	}
}

static bool
answer(struct upstream_req *r, const uint8_t *buf, size_t len)
{
	ldns_pkt *pkt = NULL;

	switch (dnsmsg_check_answer(buf, len, r->id, r->q, &pkt)) {
	case DNSMSG_ANSWER_OK:
		break;
	case DNSMSG_ANSWER_MISMATCH:
		r->saw_mismatch = true;
		if (r->tcp) {
			/* A stream carries only our query: a wrong answer on it
			 * is this server's fault. */
			attempt_failed(r, "mismatch");
			return true;
		}
		return false;
	default:
		r->saw_malformed = true;
		if (r->tcp) {
			attempt_failed(r, "malformed");
			return true;
		}
		return false;
	}
	if (!r->tcp && ldns_pkt_tc(pkt)) {
		ldns_pkt_free(pkt);
		tcp_start(r);
		return true;
	}
	finish(r, pkt, buf, len);
	return true;
}

static int
open_socket(struct upstream_req *r, int type)
{
	if (type == SOCK_DGRAM)
		r->fd = pool_take(r->u, &r->server);
	if (r->fd < 0)
		r->fd = connected_socket(&r->server, type);
	return r->fd < 0 ? -1 : 0;
}

static void
tcp_cb(int fd, uint32_t events, void *arg)
{
	struct upstream_req *r = arg;
	ssize_t n;

	if (r->outoff < r->outlen) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			log_debug("upstream: tcp connect: %s", strerror(err ? err : errno));
			attempt_failed(r, "tcp-failed");
			return;
		}
		n = send(fd, r->out + r->outoff, r->outlen - r->outoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			attempt_failed(r, "tcp-failed");
			return;
		}
		r->outoff += (size_t)n;
		if (r->outoff == r->outlen && loop_mod(r->u->lp, fd, EPOLLIN) != 0) {
			log_warn("upstream: epoll_ctl mod");
			attempt_failed(r, "tcp-failed");
		}
		return;
	}
	if (r->inwant == 0) {
		/* Reading the 2-byte length, then the message. */
		n = recv(fd, r->in + r->inlen, 2 - r->inlen, MSG_DONTWAIT);
		if (n > 0) {
			r->inlen += (size_t)n;
			if (r->inlen == 2) {
				r->inwant = (size_t)(r->in[0] << 8 | r->in[1]);
				r->inlen = 0;
				if (r->inwant < DNSMSG_HDR_LEN) {
					attempt_failed(r, "malformed");
					return;
				}
			}
			return;
		}
	} else {
		n = recv(fd, r->in + r->inlen, r->inwant - r->inlen, MSG_DONTWAIT);
		if (n > 0) {
			r->inlen += (size_t)n;
			if (r->inlen == r->inwant)
				answer(r, r->in, r->inlen);
			return;
		}
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	attempt_failed(r, "tcp-failed");
}

/* The server said TC=1: ask the same server again over TCP. */
static void
tcp_start(struct upstream_req *r)
{
	struct upstream *u = r->u;
	uint8_t *q = NULL;
	size_t qlen;

	attempt_close(r);
	r->tcp = true;
	r->saw_mismatch = r->saw_malformed = false;
	r->id = random_id(u);
	if (dnsmsg_build_upstream_query(r->q, r->id, &q, &qlen) != 0) {
		attempt_failed(r, "internal");
		return;
	}
	r->out = malloc(2 + qlen);
	r->in = malloc(UP_MSG_MAX);
	if (r->out == NULL || r->in == NULL) {
		free(q);
		log_warn("upstream: malloc");
		attempt_failed(r, "internal");
		return;
	}
	r->out[0] = (uint8_t)(qlen >> 8);
	r->out[1] = (uint8_t)qlen;
	memcpy(r->out + 2, q, qlen);
	r->outlen = 2 + qlen;
	free(q);
	if (open_socket(r, SOCK_STREAM) != 0) {
		attempt_failed(r, "tcp-failed");
		return;
	}
	if (loop_add(u->lp, r->fd, EPOLLOUT, tcp_cb, r) != 0) {
		log_warn("upstream: epoll_ctl add");
		attempt_failed(r, "internal");
		return;
	}
	loop_timer_set(u->lp, &r->timer, u->timeout_ms);
}

static void
udp_start(struct upstream_req *r)
{
	struct upstream *u = r->u;
	uint8_t *q = NULL;
	size_t qlen;
	ssize_t n;

	r->id = random_id(u);
	u->active = true;
	if (dnsmsg_build_upstream_query(r->q, r->id, &q, &qlen) != 0) {
		attempt_failed(r, "internal");
		return;
	}
	if (open_socket(r, SOCK_DGRAM) != 0) {
		free(q);
		attempt_failed(r, "send-failed");
		return;
	}
	n = send(r->fd, q, qlen, MSG_DONTWAIT);
	free(q);
	if (n < 0) {
		log_debug("upstream: send: %s", strerror(errno));
		attempt_failed(r, "send-failed");
		return;
	}
	if (loop_add(u->lp, r->fd, EPOLLIN, udp_cb, r) != 0) {
		log_warn("upstream: epoll_ctl add");
		attempt_failed(r, "internal");
		return;
	}
	loop_timer_set(u->lp, &r->timer, u->timeout_ms);
}

static void
attempt_next(struct upstream_req *r)
{
	struct upstream *u = r->u;

	attempt_close(r);
	if (u->n == 0 || r->tried >= u->n) {
		finish(r, NULL, NULL, 0);
		return;
	}
	r->server_idx = (u->preferred + r->tried) % u->n;
	r->server = u->servers[r->server_idx];
	r->tried++;
	r->saw_mismatch = r->saw_malformed = false;
	udp_start(r);
}

struct upstream_req *
upstream_query(struct upstream *u, const struct dnsmsg_query *q, upstream_cb cb, void *arg)
{
	struct upstream_req *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		log_warn("upstream: calloc");
		return NULL;
	}
	r->u = u;
	r->q = q;
	r->cb = cb;
	r->arg = arg;
	r->fd = -1;
	loop_timer_init(&r->timer, timer_cb, r);
	if (u->n == 0) {
		attempt_failed(r, "no-upstream");
		return r;
	}
	r->server_idx = u->preferred % u->n;
	r->server = u->servers[r->server_idx];
	r->tried = 1;
	udp_start(r);
	return r;
}

void
upstream_cancel(struct upstream_req *r)
{
	if (r != NULL)
		req_free(r);
}
