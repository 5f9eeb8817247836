/*
 * The gate socket. SOCK_SEQPACKET keeps message boundaries, so each ACK (or
 * WHO reply) is one recv of exactly its size. Requests in flight
 * sit in a small hash table keyed by id, each with its own 1 s timer. The
 * ALLOWs of one turn of the event loop go out together, with one sendmmsg
 * at its end, so the gate can handle them as one batch; when the socket's
 * buffer is full, messages wait in a FIFO for EPOLLOUT.
 */
#include "gateclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateipc.h"
#include "log.h"

#define GC_BUCKETS 4096 /* power of two */
#define GC_BACKOFF_MIN_MS 100
#define GC_BACKOFF_MAX_MS 2000
#define GC_MAX_QUEUED 4096 /* messages waiting for room in the socket */
#define GC_BATCH 32        /* ALLOWs sent with one sendmmsg */
#define GC_ACK_BATCH 64    /* ACKs read with one recvmmsg */

struct gc_req {
	struct gateclient *gc;
	uint32_t id;
	gateclient_cb cb;
	gateclient_who_cb who_cb; /* set for a WHO, cb for an ALLOW */
	void *arg;
	struct loop_timer timer;
	struct gc_req *hnext;
};

/* One request on its way out: the type says which. */
union gc_msg {
	uint16_t type;
	struct gateipc_allow allow;
	struct gateipc_who who;
};

struct gc_out {
	struct gc_out *next;
	union gc_msg msg;
};

/* The larger of the two replies, and one byte more, so that a longer
 * message shows up as too long instead of being cut to size. */
union gc_in {
	struct gateipc_ack ack;
	struct gateipc_who_reply who;
	uint8_t raw[sizeof(struct gateipc_who_reply) + 1];
};

struct gateclient {
	struct loop *lp;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	bool connecting; /* connect() in progress, waiting for EPOLLOUT */
	uint32_t events;
	uint32_t next_id;
	struct gc_req *buckets[GC_BUCKETS];
	size_t npending;
	struct gc_out *qhead, *qtail;
	size_t nqueued;
	/* This turn's ALLOWs, sent at its end (batch_send). */
	union gc_msg batch[GC_BATCH];
	struct mmsghdr bmsg[GC_BATCH];
	struct iovec biov[GC_BATCH];
	size_t nbatch;
	/* ACKs and WHO replies being read. */
	struct mmsghdr amsg[GC_ACK_BATCH];
	struct iovec aiov[GC_ACK_BATCH];
	union gc_in abuf[GC_ACK_BATCH];
	struct loop_timer reconnect;
	uint32_t backoff_ms;
	struct holds *holds; /* told whenever the sets may have lost entries */
};

static void gc_connect(struct gateclient *gc);
static void batch_send(void *arg);

static struct gc_req **
bucket(struct gateclient *gc, uint32_t id)
{
	return &gc->buckets[id & (GC_BUCKETS - 1)];
}

static size_t
msg_len(const union gc_msg *m)
{
	return m->type == GATEIPC_WHO ? sizeof(m->who) : gateipc_allow_len(&m->allow);
}

/* The request with that id, of the kind (WHO or not) its reply says. */
static struct gc_req *
req_take(struct gateclient *gc, uint32_t id, bool who)
{
	for (struct gc_req **pp = bucket(gc, id); *pp != NULL; pp = &(*pp)->hnext) {
		struct gc_req *r = *pp;

		if (r->id == id && (r->who_cb != NULL) == who) {
			*pp = r->hnext;
			gc->npending--;
			loop_timer_cancel(gc->lp, &r->timer);
			return r;
		}
	}
	return NULL;
}

static void
req_complete(struct gc_req *r, enum gateclient_result res)
{
	gateclient_cb cb = r->cb;
	gateclient_who_cb who_cb = r->who_cb;
	void *arg = r->arg;

	free(r);
	if (who_cb != NULL) {
		struct gateipc_who_reply rep;

		gateipc_who_reply_init(&rep, 0, GATEIPC_WHY_TIMEOUT, -1, NULL, NULL);
		if (res != GATECLIENT_TIMEOUT)
			rep.why = GATEIPC_WHY_NOGATE;
		who_cb(arg, &rep);
		return;
	}
	cb(arg, res);
}

static void
queue_clear(struct gateclient *gc)
{
	while (gc->qhead != NULL) {
		struct gc_out *o = gc->qhead;

		gc->qhead = o->next;
		free(o);
	}
	gc->qtail = NULL;
	gc->nqueued = 0;
	gc->nbatch = 0;
}

static void
schedule_reconnect(struct gateclient *gc)
{
	if (loop_timer_armed(&gc->reconnect))
		return;
	gc->backoff_ms = gc->backoff_ms ? gc->backoff_ms * 2 : GC_BACKOFF_MIN_MS;
	if (gc->backoff_ms > GC_BACKOFF_MAX_MS)
		gc->backoff_ms = GC_BACKOFF_MAX_MS;
	loop_timer_set(gc->lp, &gc->reconnect, gc->backoff_ms);
}

/* Drops the connection, fails everything in flight, and tries again later. */
static void
disconnect(struct gateclient *gc)
{
	if (gc->fd >= 0) {
		loop_del(gc->lp, gc->fd);
		close(gc->fd);
		gc->fd = -1;
	}
	holds_gate_lost(gc->holds);
	gc->connecting = false;
	queue_clear(gc);
	for (size_t i = 0; i < GC_BUCKETS; i++) {
		while (gc->buckets[i] != NULL) {
			struct gc_req *r =
			    req_take(gc, gc->buckets[i]->id, gc->buckets[i]->who_cb != NULL);

			if (r == NULL) /* cannot be: the head has that id */
				break;
			req_complete(r, GATECLIENT_DISCONNECTED);
		}
	}
	schedule_reconnect(gc);
}

static void
set_events(struct gateclient *gc)
{
	uint32_t ev = EPOLLIN;

	if (gc->connecting || gc->qhead != NULL)
		ev |= EPOLLOUT;
	if (ev != gc->events && gc->fd >= 0) {
		if (loop_mod(gc->lp, gc->fd, ev) != 0)
			log_warn("gateclient: epoll_ctl mod");
		gc->events = ev;
	}
}

/* Sends what waits in the queue. Returns -1 when the socket broke. */
static int
flush(struct gateclient *gc)
{
	while (gc->qhead != NULL) {
		struct gc_out *o = gc->qhead;

		if (send(gc->fd, &o->msg, msg_len(&o->msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			log_warn("gateclient: send to %s", gc->path);
			return -1;
		}
		gc->qhead = o->next;
		if (gc->qhead == NULL)
			gc->qtail = NULL;
		gc->nqueued--;
		free(o);
	}
	set_events(gc);
	return 0;
}

/* Handles one received WHO reply; false when the connection is gone. */
static bool
take_who(struct gateclient *gc, const uint8_t *buf, size_t n)
{
	struct gateipc_who_reply rep;
	const char *err = NULL;
	struct gc_req *r;
	gateclient_who_cb cb;
	void *arg;

	if (gateipc_who_reply_check(buf, n, &err) != 0) {
		log_warnx("gateclient: bad message from the gate: %s", err ? err : "?");
		disconnect(gc);
		return false;
	}
	memcpy(&rep, buf, sizeof(rep));
	r = req_take(gc, rep.id, true);
	if (r == NULL) {
		/* It timed out already; the line said why=timeout. */
		log_debug("gateclient: late who reply id=%u", (unsigned)rep.id);
		return true;
	}
	cb = r->who_cb;
	arg = r->arg;
	free(r);
	cb(arg, &rep);
	return gc->fd >= 0;
}

/* Handles one received ACK; false when the connection is gone. */
static bool
take_ack(struct gateclient *gc, const uint8_t *buf, size_t n)
{
	struct gateipc_ack ack;
	const char *err = NULL;
	struct gc_req *r;

	if (gateipc_type(buf, n) == GATEIPC_WHO_REPLY)
		return take_who(gc, buf, n);
	if (gateipc_ack_check(buf, n, &err) != 0) {
		log_warnx("gateclient: bad message from the gate: %s", err ? err : "?");
		disconnect(gc);
		return false;
	}
	memcpy(&ack, buf, sizeof(ack));
	/* The gate took entries out before their timeout since the last ACK:
	 * what it acknowledged before may be gone, as after a reconnection.
	 * Before the callback: the removal may have been in this ACK's own
	 * batch, so not even its entries are taken as held for later hits. */
	holds_ack_removals(gc->holds, ack.removals);
	r = req_take(gc, ack.id, false);
	if (r == NULL) {
		/* It timed out already; the client got SERVFAIL. */
		log_debug("gateclient: late ack id=%u", (unsigned)ack.id);
		return true;
	}
	req_complete(r, ack.status == GATEIPC_OK ? GATECLIENT_OK : GATECLIENT_REFUSED);
	return gc->fd >= 0;
}

/* Reads ACKs, up to GC_ACK_BATCH per recvmmsg, until none is waiting. */
static void
read_acks(struct gateclient *gc)
{
	for (int round = 0; round < 4; round++) {
		int n;

		for (size_t i = 0; i < GC_ACK_BATCH; i++) {
			gc->aiov[i].iov_base = &gc->abuf[i];
			gc->aiov[i].iov_len = sizeof(gc->abuf[i]);
			memset(&gc->amsg[i], 0, sizeof(gc->amsg[i]));
			gc->amsg[i].msg_hdr.msg_iov = &gc->aiov[i];
			gc->amsg[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(gc->fd, gc->amsg, GC_ACK_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			log_warn("gateclient: recv from %s", gc->path);
			disconnect(gc);
			return;
		}
		if (n > 1)
			loop_batch_begin(gc->lp); /* their replies go together */
		for (int i = 0; i < n; i++) {
			/* No ACK is empty: an empty read is the gate closing. */
			if (gc->amsg[i].msg_len == 0) {
				log_warnx("gateclient: the gate closed %s", gc->path);
				disconnect(gc);
				break;
			}
			if (!take_ack(gc, gc->abuf[i].raw, gc->amsg[i].msg_len))
				break;
		}
		if (n > 1)
			loop_batch_end(gc->lp);
		if (gc->fd < 0 || n < GC_ACK_BATCH)
			return;
	}
}

static void
sock_cb(int fd, uint32_t events, void *arg)
{
	struct gateclient *gc = arg;

	if (gc->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			log_warnx("gateclient: connect %s: %s", gc->path,
			          strerror(err ? err : errno));
			disconnect(gc);
			return;
		}
		gc->connecting = false;
		gc->backoff_ms = 0;
		holds_forget(gc->holds);
		log_info("gateclient: connected to %s", gc->path);
		set_events(gc);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		read_acks(gc);
		if (gc->fd < 0)
			return;
	}
	if ((events & EPOLLOUT) && flush(gc) != 0)
		disconnect(gc);
}

static void
gc_connect(struct gateclient *gc)
{
	struct sockaddr_un sun;

	if (gc->fd >= 0)
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, gc->path, strnlen(gc->path, sizeof(sun.sun_path) - 1));
	gc->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (gc->fd < 0) {
		log_warn("gateclient: socket");
		schedule_reconnect(gc);
		return;
	}
	gc->connecting = false;
	if (connect(gc->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			/* Quietly after the first time: the gate may simply not
			 * be up yet. */
			if (gc->backoff_ms < GC_BACKOFF_MAX_MS)
				log_warn("gateclient: connect %s", gc->path);
			close(gc->fd);
			gc->fd = -1;
			schedule_reconnect(gc);
			return;
		}
		gc->connecting = true;
	}
	gc->events = EPOLLIN | (gc->connecting ? EPOLLOUT : 0);
	if (loop_add(gc->lp, gc->fd, gc->events, sock_cb, gc) != 0) {
		log_warn("gateclient: epoll_ctl add");
		close(gc->fd);
		gc->fd = -1;
		schedule_reconnect(gc);
		return;
	}
	if (!gc->connecting) {
		gc->backoff_ms = 0;
		holds_forget(gc->holds);
		log_info("gateclient: connected to %s", gc->path);
	}
}

static void
reconnect_cb(struct loop_timer *t, void *arg)
{
	gc_connect(arg);
}

static void
req_timeout_cb(struct loop_timer *t, void *arg)
{
	struct gc_req *r = arg;
	struct gc_req *taken = req_take(r->gc, r->id, r->who_cb != NULL);

	if (taken != NULL)
		req_complete(taken, GATECLIENT_TIMEOUT);
}

struct gateclient *
gateclient_new(struct loop *lp, const char *path, struct holds *holds)
{
	struct gateclient *gc = calloc(1, sizeof(*gc));

	if (gc == NULL) {
		log_warn("gateclient: calloc");
		return NULL;
	}
	gc->lp = lp;
	gc->holds = holds;
	gc->fd = -1;
	snprintf(gc->path, sizeof(gc->path), "%s", path);
	loop_timer_init(&gc->reconnect, reconnect_cb, gc);
	if (loop_turn_hook(lp, batch_send, gc) != 0) {
		free(gc);
		return NULL;
	}
	gc_connect(gc);
	return gc;
}

void
gateclient_free(struct gateclient *gc)
{
	if (gc == NULL)
		return;
	loop_turn_unhook(gc->lp, batch_send, gc);
	if (gc->fd >= 0) {
		loop_del(gc->lp, gc->fd);
		close(gc->fd);
	}
	loop_timer_cancel(gc->lp, &gc->reconnect);
	queue_clear(gc);
	for (size_t i = 0; i < GC_BUCKETS; i++) {
		while (gc->buckets[i] != NULL) {
			struct gc_req *r = gc->buckets[i];

			gc->buckets[i] = r->hnext;
			loop_timer_cancel(gc->lp, &r->timer);
			free(r);
		}
	}
	free(gc);
}

void
gateclient_set_path(struct gateclient *gc, const char *path)
{
	if (strcmp(gc->path, path) == 0)
		return;
	snprintf(gc->path, sizeof(gc->path), "%s", path);
	if (gc->fd >= 0)
		disconnect(gc);
	loop_timer_cancel(gc->lp, &gc->reconnect);
	gc->backoff_ms = 0;
	gc_connect(gc);
}

/* Waits for EPOLLOUT, behind whatever waits already. */
static int
backlog_msg(struct gateclient *gc, const union gc_msg *msg)
{
	struct gc_out *o;

	if (gc->nqueued >= GC_MAX_QUEUED) {
		log_warnx("gateclient: the gate is not keeping up; failing the answer");
		return -1;
	}
	o = malloc(sizeof(*o));
	if (o == NULL) {
		log_warn("gateclient: malloc");
		return -1;
	}
	o->next = NULL;
	o->msg = *msg;
	if (gc->qtail)
		gc->qtail->next = o;
	else
		gc->qhead = o;
	gc->qtail = o;
	gc->nqueued++;
	set_events(gc);
	return 0;
}

/* Sends this turn's ALLOWs; what the socket has no room for goes to the
 * backlog. */
static void
batch_send(void *arg)
{
	struct gateclient *gc = arg;
	size_t done = 0;

	while (done < gc->nbatch && gc->fd >= 0) {
		int n;

		for (size_t i = done; i < gc->nbatch; i++) {
			gc->biov[i].iov_base = &gc->batch[i];
			gc->biov[i].iov_len = msg_len(&gc->batch[i]);
			memset(&gc->bmsg[i], 0, sizeof(gc->bmsg[i]));
			gc->bmsg[i].msg_hdr.msg_iov = &gc->biov[i];
			gc->bmsg[i].msg_hdr.msg_iovlen = 1;
		}
		n = sendmmsg(gc->fd, gc->bmsg + done, (unsigned)(gc->nbatch - done),
		             MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			log_warn("gateclient: send to %s", gc->path);
			disconnect(gc);
			return;
		}
		done += (size_t)n;
	}
	for (size_t i = done; i < gc->nbatch && gc->fd >= 0; i++) {
		/* Its request fails by timeout if even the backlog is full. */
		if (backlog_msg(gc, &gc->batch[i]) != 0)
			break;
	}
	gc->nbatch = 0;
}

static int
queue_msg(struct gateclient *gc, const union gc_msg *msg)
{
	/* Order is kept: nothing overtakes the backlog. */
	if (gc->qhead != NULL)
		return backlog_msg(gc, msg);
	if (gc->nbatch == GC_BATCH)
		batch_send(gc);
	if (gc->fd < 0)
		return -1;
	if (gc->qhead != NULL)
		return backlog_msg(gc, msg);
	memcpy(&gc->batch[gc->nbatch++], msg, msg_len(msg));
	return 0;
}

/* Not connected: try once now (the gate may just have come up), and fail
 * this request at once if that did not work. */
static bool
ready(struct gateclient *gc)
{
	if (gc->fd < 0 && !loop_timer_armed(&gc->reconnect))
		gc_connect(gc);
	if (gc->fd < 0 || gc->connecting) {
		if (gc->fd < 0 && !loop_timer_armed(&gc->reconnect))
			schedule_reconnect(gc);
		return false;
	}
	return true;
}

/* Queues m and waits for its reply, at most timeout_ms. */
static int
send_req(struct gateclient *gc, const union gc_msg *m, unsigned timeout_ms, gateclient_cb cb,
         gateclient_who_cb who_cb, void *arg)
{
	struct gc_req *r;
	uint32_t id = m->type == GATEIPC_WHO ? m->who.id : m->allow.id;

	if (queue_msg(gc, m) != 0)
		return -1;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		/* The message may be out already; its reply will find nobody. */
		log_warn("gateclient: calloc");
		return -1;
	}
	r->gc = gc;
	r->id = id;
	r->cb = cb;
	r->who_cb = who_cb;
	r->arg = arg;
	loop_timer_init(&r->timer, req_timeout_cb, r);
	loop_timer_set(gc->lp, &r->timer, timeout_ms);
	r->hnext = *bucket(gc, r->id);
	*bucket(gc, r->id) = r;
	gc->npending++;
	return 0;
}

int
gateclient_allow(struct gateclient *gc, const char *name, const struct dnsmsg_addrs *a,
                 gateclient_cb cb, void *arg)
{
	union gc_msg u;
	struct gateipc_allow *msg = &u.allow;

	if (!ready(gc))
		return -1;
	if (a->n == 0 || a->n > GATEIPC_MAX_ADDRS)
		return -1;
	if (gateipc_allow_init(msg, ++gc->next_id, name, a->ttl) != 0) {
		log_warnx("gateclient: cannot build ALLOW for %s", name);
		return -1;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (gateipc_allow_add(msg, a->v[i].family, a->v[i].ip) != 0) {
			log_warnx("gateclient: cannot add an address for %s", name);
			return -1;
		}
	}
	return send_req(gc, &u, GATECLIENT_TIMEOUT_MS, cb, NULL, arg);
}

int
gateclient_who(struct gateclient *gc, uint8_t proto, const struct addr *client,
               const struct addr *listen, unsigned timeout_ms, gateclient_who_cb cb, void *arg)
{
	union gc_msg u;

	if (!ready(gc) || client->family != listen->family)
		return -1;
	if (gateipc_who_init(&u.who, ++gc->next_id, proto, client->family, client->ip, client->port,
	                     listen->ip, listen->port) != 0)
		return -1;
	return send_req(gc, &u, timeout_ms, NULL, cb, arg);
}

const char *
gateclient_result_str(enum gateclient_result res)
{
	switch (res) {
	case GATECLIENT_OK:
		return "ok";
	case GATECLIENT_REFUSED:
		return "gate-refused";
	case GATECLIENT_TIMEOUT:
		return "gate-timeout";
	default:
		return "gate-unavailable";
	}
}
