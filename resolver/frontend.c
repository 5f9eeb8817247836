/*
 * Client sockets. UDP datagrams are read up to FE_UDP_BATCH at a time with
 * recvmmsg; UDP replies wait in a queue that goes out with sendmmsg at the
 * end of the event loop's turn (or when it is full), except one that
 * nothing else can join (loop_turn_busy), which goes at once. TCP connections
 * are bounded in number; each carries 2-byte length-prefixed messages, any
 * number of queries, replies in whatever order they complete, and an output
 * buffer for partial writes. Connections are reference counted because a
 * query in flight may outlive its connection.
 */
#include "frontend.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conf.h"
#include "list.h"
#include "log.h"

#define FE_MAX_CONNS 256
#define FE_IDLE_MS 10000
#define FE_MAX_PENDING 128       /* queries in flight per TCP connection */
#define FE_MAX_OUT (1024 * 1024) /* a client that does not read is dropped */
#define FE_UDP_BATCH 32
#define FE_UDP_QUERY_MAX 4096 /* a longer datagram is no query of ours: dropped */
#define FE_UDP_REPLY_MAX 1232 /* what we advertise, so every UDP reply fits */
#define FE_ACCEPT_BATCH 32
#define FE_MSG_MAX 65535
#define FE_MSG_MIN 12

struct frontend_conn {
	struct frontend *fe;
	int fd;
	bool open;
	unsigned refs; /* 1 while open, plus one per query in flight */
	unsigned pending;
	struct sockaddr_storage sa;
	socklen_t salen;
	uint8_t *in;
	size_t inlen;
	uint8_t *out;
	size_t outlen, outcap;
	uint32_t events;
	struct loop_timer idle;
	struct list_node link; /* in fe->conns */
};

struct fe_listener {
	struct frontend *fe;
	int fd;
	bool tcp;
};

struct frontend {
	struct loop *lp;
	frontend_query_cb cb;
	void *arg;
	struct fe_listener ls[2 * CONF_MAX_LISTEN];
	size_t nls;
	struct list conns; /* least recently active first */
	size_t nconns;
	/* The batch being read, and the UDP replies not sent yet. */
	struct mmsghdr in[FE_UDP_BATCH];
	struct iovec inv[FE_UDP_BATCH];
	struct frontend_client incl[FE_UDP_BATCH];
	uint8_t inbuf[FE_UDP_BATCH][FE_UDP_QUERY_MAX];
	int out_fd; /* the socket of every reply queued */
	size_t nout;
	bool sent_alone; /* this turn sent a reply at once (out_queue) */
	struct mmsghdr out[FE_UDP_BATCH];
	struct iovec outv[FE_UDP_BATCH];
	struct sockaddr_storage outsa[FE_UDP_BATCH];
	uint8_t outbuf[FE_UDP_BATCH][FE_UDP_REPLY_MAX];
};

static void conn_close(struct frontend_conn *c);

static void
conn_touch(struct frontend_conn *c)
{
	struct frontend *fe = c->fe;

	list_move_back(&fe->conns, &c->link);
	loop_timer_set(fe->lp, &c->idle, FE_IDLE_MS);
}

static void
conn_unref(struct frontend_conn *c)
{
	if (--c->refs > 0)
		return;
	free(c->in);
	free(c->out);
	free(c);
}

static void
conn_set_events(struct frontend_conn *c)
{
	uint32_t ev = 0;

	/* Stop reading while the client has too much in flight: TCP flow
	 * control then pushes back on it. */
	if (c->pending < FE_MAX_PENDING)
		ev |= EPOLLIN;
	if (c->outlen > 0)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		if (loop_mod(c->fe->lp, c->fd, ev) != 0)
			log_warn("frontend: epoll_ctl mod");
		c->events = ev;
	}
}

static void
conn_close(struct frontend_conn *c)
{
	if (!c->open)
		return;
	c->open = false;
	loop_del(c->fe->lp, c->fd);
	loop_timer_cancel(c->fe->lp, &c->idle);
	close(c->fd);
	c->fd = -1;
	list_remove(&c->link);
	c->fe->nconns--;
	conn_unref(c);
}

static void
idle_cb(struct loop_timer *t, void *arg)
{
	struct frontend_conn *c = arg;

	/* A connection waiting on its own queries is not idle. */
	if (c->pending > 0 || c->outlen > 0) {
		loop_timer_set(c->fe->lp, t, FE_IDLE_MS);
		return;
	}
	conn_close(c);
}

static int
conn_flush(struct frontend_conn *c)
{
	while (c->outlen > 0) {
		ssize_t n = write(c->fd, c->out, c->outlen);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			log_debug("frontend: tcp write: %s", strerror(errno));
			return -1;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	return 0;
}

static void
conn_read(struct frontend_conn *c)
{
	struct frontend *fe = c->fe;
	struct frontend_client cl;
	size_t pos = 0;
	ssize_t n;

	n = read(c->fd, c->in + c->inlen, 2 + FE_MSG_MAX - c->inlen);
	if (n == 0) {
		conn_close(c);
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			log_debug("frontend: tcp read: %s", strerror(errno));
			conn_close(c);
		}
		return;
	}
	c->inlen += (size_t)n;
	conn_touch(c);

	memset(&cl, 0, sizeof(cl));
	cl.fe = c->fe;
	cl.udp_fd = -1;
	cl.conn = c;
	memcpy(&cl.sa, &c->sa, sizeof(cl.sa));
	cl.salen = c->salen;
	/* The callback may reply at once and a failed write closes c, so
	 * hold it until the loop is done with it. */
	c->refs++;
	while (c->open && c->inlen - pos >= 2) {
		size_t mlen = (size_t)(c->in[pos] << 8 | c->in[pos + 1]);

		if (mlen < FE_MSG_MIN) {
			conn_close(c);
			break;
		}
		if (c->inlen - pos < 2 + mlen)
			break;
		fe->cb(c->in + pos + 2, mlen, &cl, fe->arg);
		pos += 2 + mlen;
	}
	if (c->open) {
		memmove(c->in, c->in + pos, c->inlen - pos);
		c->inlen -= pos;
		conn_set_events(c);
	}
	conn_unref(c);
}

static void
conn_cb(int fd, uint32_t events, void *arg)
{
	struct frontend_conn *c = arg;

	if (events & EPOLLOUT) {
		if (conn_flush(c) != 0) {
			conn_close(c);
			return;
		}
		conn_set_events(c);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

/* At the limit, the least recently active connection with nothing in
 * flight makes room; if every connection is busy the new one is refused. */
static bool
make_room(struct frontend *fe)
{
	struct list_node *n, *tmp;

	if (fe->nconns < FE_MAX_CONNS)
		return true;
	list_for_each_safe(n, tmp, &fe->conns)
	{
		struct frontend_conn *c = list_entry(n, struct frontend_conn, link);

		if (c->pending == 0 && c->outlen == 0) {
			conn_close(c);
			return true;
		}
	}
	return false;
}

static void
accept_cb(int fd, uint32_t events, void *arg)
{
	struct fe_listener *l = arg;
	struct frontend *fe = l->fe;

	for (int i = 0; i < FE_ACCEPT_BATCH; i++) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		struct frontend_conn *c;
		int cfd;

		cfd = accept4(fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("frontend: accept");
			return;
		}
		if (!make_room(fe)) {
			close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c != NULL)
			c->in = malloc(2 + FE_MSG_MAX);
		if (c == NULL || c->in == NULL) {
			log_warn("frontend: out of memory for a tcp connection");
			if (c)
				free(c);
			close(cfd);
			continue;
		}
		c->fe = fe;
		c->fd = cfd;
		c->open = true;
		c->refs = 1;
		c->sa = sa;
		c->salen = salen;
		c->events = EPOLLIN;
		list_node_init(&c->link);
		loop_timer_init(&c->idle, idle_cb, c);
		if (loop_add(fe->lp, cfd, EPOLLIN, conn_cb, c) != 0) {
			log_warn("frontend: epoll_ctl add");
			close(cfd);
			free(c->in);
			free(c);
			continue;
		}
		fe->nconns++;
		conn_touch(c);
	}
}

/* Sends the queued replies: one sendmmsg, more only if the socket takes
 * fewer at a time. A reply the socket refuses is dropped,
 * as a lost datagram would be, and the rest still go. */
static void
out_flush(struct frontend *fe)
{
	size_t done = 0;

	while (done < fe->nout) {
		int n =
		    sendmmsg(fe->out_fd, fe->out + done, (unsigned)(fe->nout - done), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_debug("frontend: sendmmsg: %s", strerror(errno));
			n = 1;
		}
		done += (size_t)n;
	}
	fe->nout = 0;
}

static void
turn_end(void *arg)
{
	struct frontend *fe = arg;

	out_flush(fe);
	fe->sent_alone = false;
}

/* Queues a UDP reply; false when it must go on its own. */
static bool
out_queue(struct frontend *fe, const struct frontend_client *c, const uint8_t *buf, size_t len)
{
	size_t i;

	if (len > FE_UDP_REPLY_MAX || c->salen > sizeof(fe->outsa[0]))
		return false;
	if (fe->nout == FE_UDP_BATCH || (fe->nout > 0 && c->udp_fd != fe->out_fd))
		out_flush(fe);
	fe->out_fd = c->udp_fd;
	i = fe->nout++;
	memcpy(fe->outbuf[i], buf, len);
	memcpy(&fe->outsa[i], &c->sa, c->salen);
	fe->outv[i].iov_base = fe->outbuf[i];
	fe->outv[i].iov_len = len;
	memset(&fe->out[i], 0, sizeof(fe->out[i]));
	fe->out[i].msg_hdr.msg_name = &fe->outsa[i];
	fe->out[i].msg_hdr.msg_namelen = c->salen;
	fe->out[i].msg_hdr.msg_iov = &fe->outv[i];
	fe->out[i].msg_hdr.msg_iovlen = 1;
	/* A reply that nothing else can join (no other event of the turn
	 * waits, its caller handles no batch) goes at once, before the
	 * caller's log line and the turn's hooks: one client waits for it.
	 * Once a turn; the others wait for the batch. */
	if (i == 0 && !fe->sent_alone && !loop_turn_busy(fe->lp)) {
		out_flush(fe);
		fe->sent_alone = true;
	}
	return true;
}

static void
udp_cb(int fd, uint32_t events, void *arg)
{
	struct fe_listener *l = arg;
	struct frontend *fe = l->fe;
	int n;

	for (int i = 0; i < FE_UDP_BATCH; i++) {
		struct frontend_client *cl = &fe->incl[i];

		memset(cl, 0, sizeof(*cl));
		cl->fe = fe;
		cl->udp_fd = fd;
		fe->inv[i].iov_base = fe->inbuf[i];
		fe->inv[i].iov_len = sizeof(fe->inbuf[i]);
		memset(&fe->in[i], 0, sizeof(fe->in[i]));
		fe->in[i].msg_hdr.msg_name = &cl->sa;
		fe->in[i].msg_hdr.msg_namelen = sizeof(cl->sa);
		fe->in[i].msg_hdr.msg_iov = &fe->inv[i];
		fe->in[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(fd, fe->in, FE_UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("frontend: recvmmsg");
		return;
	}
	if (n > 1)
		loop_batch_begin(fe->lp); /* their replies go together */
	for (int i = 0; i < n; i++) {
		struct frontend_client *cl = &fe->incl[i];

		if (fe->in[i].msg_hdr.msg_flags & MSG_TRUNC)
			continue;
		cl->salen = fe->in[i].msg_hdr.msg_namelen;
		fe->cb(fe->inbuf[i], fe->in[i].msg_len, cl, fe->arg);
	}
	if (n > 1)
		loop_batch_end(fe->lp);
}

/* listen_one: an IPv6 address that does not exist on this host */
#define LISTEN_NO_V6 (-2)

static int
listen_one(struct frontend *fe, const struct addr *a, bool tcp)
{
	struct sockaddr_storage ss;
	socklen_t sl = addr_to_sockaddr(a, &ss);
	struct fe_listener *l = &fe->ls[fe->nls];
	char buf[ADDR_STRLEN];
	int one = 1, fd;

	addr_fmt(a, buf, sizeof(buf));
	fd = socket(a->family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (a->family == AF_INET6 && errno == EAFNOSUPPORT)
			return LISTEN_NO_V6;
		log_warn("frontend: socket for %s", buf);
		return -1;
	}
	if (tcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		log_warn("frontend: SO_REUSEADDR on %s", buf);
	/* A v6 listener takes only v6: the v4 addresses are bound on their own. */
	if (a->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
		log_warn("frontend: IPV6_V6ONLY on %s", buf);
		goto fail;
	}
	if (!tcp) {
		/* Absorb bursts; the kernel caps this at rmem_max. */
		int size = 4 * 1024 * 1024;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0)
			log_warn("frontend: SO_RCVBUF on %s", buf);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		if (a->family == AF_INET6 && errno == EADDRNOTAVAIL) {
			close(fd);
			return LISTEN_NO_V6;
		}
		log_warn("frontend: bind %s/%s", buf, tcp ? "tcp" : "udp");
		goto fail;
	}
	if (tcp && listen(fd, 128) != 0) {
		log_warn("frontend: listen %s", buf);
		goto fail;
	}
	l->fe = fe;
	l->fd = fd;
	l->tcp = tcp;
	if (loop_add(fe->lp, fd, EPOLLIN, tcp ? accept_cb : udp_cb, l) != 0) {
		log_warn("frontend: epoll_ctl add %s", buf);
		goto fail;
	}
	fe->nls++;
	return 0;
fail:
	close(fd);
	return -1;
}

struct frontend *
frontend_new(struct loop *lp, const struct addr *listen, size_t n, frontend_query_cb cb, void *arg)
{
	struct frontend *fe;

	if (n > CONF_MAX_LISTEN) {
		log_warnx("frontend: too many listen addresses");
		return NULL;
	}
	fe = calloc(1, sizeof(*fe));
	if (fe == NULL) {
		log_warn("frontend: calloc");
		return NULL;
	}
	fe->lp = lp;
	list_init(&fe->conns);
	fe->out_fd = -1;
	fe->cb = cb;
	fe->arg = arg;
	if (loop_turn_hook(lp, turn_end, fe) != 0) {
		free(fe);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char buf[ADDR_STRLEN];
		int r = listen_one(fe, &listen[i], false);

		if (r == 0)
			r = listen_one(fe, &listen[i], true);
		if (r == LISTEN_NO_V6) {
			/* A container without IPv6 has no ::1. Nobody can reach
			 * the address then, so there is nothing to answer on. */
			log_warnx(
			    "frontend: %s does not exist here (IPv6 off?); not listening on it",
			    addr_fmt(&listen[i], buf, sizeof(buf)));
			continue;
		}
		if (r != 0)
			goto fail;
	}
	if (fe->nls == 0) {
		log_warnx("frontend: none of the listen addresses exists");
		goto fail;
	}
	return fe;
fail:
	frontend_free(fe);
	return NULL;
}

void
frontend_free(struct frontend *fe)
{
	if (fe == NULL)
		return;
	out_flush(fe);
	loop_turn_unhook(fe->lp, turn_end, fe);
	while (!list_empty(&fe->conns))
		conn_close(list_entry(list_first(&fe->conns), struct frontend_conn, link));
	for (size_t i = 0; i < fe->nls; i++) {
		loop_del(fe->lp, fe->ls[i].fd);
		close(fe->ls[i].fd);
	}
	free(fe);
}

void
frontend_client_copy(struct frontend_client *dst, const struct frontend_client *src)
{
	*dst = *src;
	if (dst->conn != NULL) {
		dst->conn->refs++;
		dst->conn->pending++;
		if (dst->conn->open)
			conn_set_events(dst->conn);
	}
}

void
frontend_client_release(struct frontend_client *c)
{
	struct frontend_conn *conn = c->conn;

	if (conn == NULL)
		return;
	c->conn = NULL;
	conn->pending--;
	if (conn->open)
		conn_set_events(conn);
	conn_unref(conn);
}

bool
frontend_client_udp(const struct frontend_client *c)
{
	return c->udp_fd >= 0;
}

const char *
frontend_client_str(const struct frontend_client *c, char *buf, size_t len)
{
	struct addr a;

	if (addr_from_sockaddr((const struct sockaddr *)&c->sa, &a) != 0) {
		snprintf(buf, len, "%s", "?");
		return buf;
	}
	return addr_ntop(&a, buf, len);
}

int
frontend_client_ends(const struct frontend_client *c, struct addr *peer, struct addr *local)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = c->udp_fd;

	if (fd < 0)
		fd = c->conn != NULL && c->conn->open ? c->conn->fd : -1;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (addr_from_sockaddr((const struct sockaddr *)&ss, local) != 0 ||
	    addr_from_sockaddr((const struct sockaddr *)&c->sa, peer) != 0)
		return -1;
	return 0;
}

static void
conn_send(struct frontend_conn *c, const uint8_t *buf, size_t len)
{
	size_t need = c->outlen + 2 + len;

	if (!c->open)
		return;
	if (need > FE_MAX_OUT) {
		log_debug("frontend: tcp client does not read its answers; closing");
		conn_close(c);
		return;
	}
	if (need > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (p == NULL) {
			log_warn("frontend: realloc tcp output");
			conn_close(c);
			return;
		}
		c->out = p;
		c->outcap = cap;
	}
	c->out[c->outlen] = (uint8_t)(len >> 8);
	c->out[c->outlen + 1] = (uint8_t)len;
	memcpy(c->out + c->outlen + 2, buf, len);
	c->outlen += 2 + len;
	if (conn_flush(c) != 0) {
		conn_close(c);
		return;
	}
	conn_set_events(c);
}

void
frontend_reply(const struct frontend_client *c, const uint8_t *buf, size_t len)
{
	if (len > FE_MSG_MAX)
		return;
	if (c->udp_fd >= 0) {
		if (c->fe != NULL && out_queue(c->fe, c, buf, len))
			return;
		if (sendto(c->udp_fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&c->sa,
		           c->salen) < 0)
			log_debug("frontend: sendto: %s", strerror(errno));
		return;
	}
	if (c->conn != NULL)
		conn_send(c->conn, buf, len);
}
