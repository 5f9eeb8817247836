/*
 * Unix socket server for ALLOW requests (SOCK_SEQPACKET). One wakeup answers
 * what the connection has ready, up to BATCH_MAX requests, as one batch: the
 * entries of every accepted request go to the kernel in one netlink exchange
 * (ipset_batch_*), and the ACKs go back in one sendmmsg. Each request stays
 * all or nothing on its own: one the kernel refused is taken back out of the
 * sets and answered GATEIPC_ERR_KERNEL, and the others are not affected.
 *
 * An ADD never shortens an entry (entrymap_add): an entry the kernel holds
 * for longer than a request asks is left alone. After the adds, every line
 * over its bound ([gate] max_per_line) gives up its oldest entries, never
 * one of this batch (trim_lines), and the ACKs carry the removals counter.
 * What only the deny log needs (the address map) is done after the ACKs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "allowplan.h"
#include "gateipc.h"
#include "gatesrv.h"
#include "inward.h"
#include "kernel.h"
#include "who.h"

_Static_assert((int)GATEIPC_WHY_FOUND == (int)WHO_FOUND && (int)GATEIPC_WHY_GONE == (int)WHO_GONE &&
                   (int)GATEIPC_WHY_DENIED == (int)WHO_DENIED &&
                   (int)GATEIPC_WHY_BUSY == (int)WHO_BUSY &&
                   (int)GATEIPC_WHY_TIMEOUT == (int)WHO_TIMEOUT &&
                   (int)GATEIPC_WHY_NOHELPER == (int)WHO_NOHELPER &&
                   (int)GATEIPC_WHY_NONE == (int)WHO_NONE,
               "gateipc_why and who_why must agree");

/* Requests one wakeup reads and answers together. */
#define BATCH_MAX 64
/* Entries one trim step hands back for deleting. */
#define TRIM_STEP 512
/* gate.evict lines come at most once a second per line, with a count. */
#define EVICT_LOG_MS 1000

struct conn {
	struct gatesrv *srv;
	int fd;
	uid_t uid;
};

/* One byte more than a valid message, so an oversized one shows up as the
 * wrong length instead of being silently cut to fit. */
struct allow_buf {
	union {
		struct gateipc_allow m;
		unsigned char raw[sizeof(struct gateipc_allow) + 1];
	};
};

/* One request of a batch: the message as read and what it is answered. */
struct slot {
	struct allow_buf in;
	enum gateipc_status st;
	uint32_t ttl;                 /* the plan's, clamped by the gate's config */
	struct portlist ports;        /* the plan's, for the address map */
	struct portlist inward_ports; /* the plan's, for its inward addresses */
	struct gateipc_ack ack;
};

struct gatesrv {
	struct loop *lp;
	const struct conf *conf;
	struct ipset_nl *ipset;
	struct addrmap *map;
	uid_t ruid;
	gid_t rgid;
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn conns[GATESRV_MAX_CONNS];
	struct allowplan plan;
	struct slot batch[BATCH_MAX];
	bool ok[BATCH_MAX]; /* per slot: the kernel took all its entries */
	struct entrymap *emap;
	uint64_t batchno;
	/* Room for the config's ndomains each: the lines a request's name
	 * matches, those of one entry, and per line the evictions not logged
	 * yet. */
	size_t nlines;
	uint32_t *lines, *elines;
	size_t *evicted;
	struct loop_timer evict_log;
	struct ipset_entry trim_out[TRIM_STEP];
	struct ipset_entry trim4[TRIM_STEP], trim6[TRIM_STEP];
	struct who *who;
	struct gateipc_who whoq[BATCH_MAX]; /* this wakeup's WHO requests */
	size_t nwho;
};

static void
conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	loop_del(c->srv->lp, c->fd);
	close(c->fd);
	c->fd = -1;
}

/* Reads up to BATCH_MAX messages into the batch in one recvmmsg and returns
 * how many of them are valid. *done is set when the connection is to be
 * closed once they are answered: the peer closed it, a read failed, or a
 * message was bad. The requests before a bad one are answered as if it had
 * not come; those after it are dropped with the connection. */
static size_t
read_batch(struct conn *c, bool *done)
{
	struct slot *b = c->srv->batch;
	struct mmsghdr mm[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	const char *err;
	size_t i, k = 0;
	int n;

	memset(mm, 0, sizeof(mm));
	for (i = 0; i < BATCH_MAX; i++) {
		iov[i].iov_base = b[i].in.raw;
		iov[i].iov_len = sizeof(b[i].in.raw);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(c->fd, mm, BATCH_MAX, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_warn("gatesrv: receiving from uid %u", (unsigned)c->uid);
			*done = true;
		}
		return 0;
	}
	c->srv->nwho = 0;
	for (i = 0; i < (size_t)n; i++) {
		/* The peer closed the connection (every read after that
		 * returns an empty message). */
		if (mm[i].msg_len == 0)
			break;
		if (gateipc_type(b[i].in.raw, mm[i].msg_len) == GATEIPC_WHO) {
			if (gateipc_who_check(b[i].in.raw, mm[i].msg_len, &err) < 0)
				goto bad;
			memcpy(&c->srv->whoq[c->srv->nwho++], b[i].in.raw, sizeof(c->srv->whoq[0]));
			continue;
		}
		if (gateipc_allow_check(b[i].in.raw, mm[i].msg_len, &err) < 0)
			goto bad;
		/* The ALLOWs stay together at the front of the batch. */
		if (k < i)
			memcpy(b[k].in.raw, b[i].in.raw, mm[i].msg_len);
		k++;
	}
	if (i < (size_t)n || n == 0)
		*done = true;
	return k;
bad:
	log_warnx("gatesrv: bad message from uid %u (%u bytes): %s; closing", (unsigned)c->uid,
	          mm[i].msg_len, err);
	*done = true;
	return k;
}

/*
 * Records the entries v[0..*n) in the entry map as held by the lines of
 * s->lines[0..nl) that have their port, and keeps in v only those the
 * kernel must be sent: an entry it holds for longer than the plan's TTL is
 * left as it is. -1 when out of memory.
 */
static int
keep_entries(struct gatesrv *s, struct ipset_entry *v, size_t *n, size_t nl)
{
	uint64_t now = loop_now_ms();
	size_t j, kept = 0;

	for (j = 0; j < *n; j++) {
		size_t k = allowplan_entry_lines(s->conf, s->lines, nl, &v[j], s->elines);
		uint32_t t;

		/* Every port of the plan is one of a matching line's. */
		if (k == 0)
			return -1;
		t = entrymap_add(s->emap, &v[j], s->plan.ttl, s->elines, k, now, s->batchno);
		if (t == 0)
			return -1;
		if (t != ENTRYMAP_HELD)
			v[kept++] = v[j];
	}
	*n = kept;
	return 0;
}

/* Checks the request against the allowlist and queues its entries for the
 * kernel under index i of the batch. */
static void
plan_request(struct gatesrv *s, size_t i)
{
	const struct gateipc_allow *m = &s->batch[i].in.m;
	struct allowplan *p = &s->plan;
	size_t nl;

	s->batch[i].st = allowplan_make(s->conf, m, p);
	if (s->batch[i].st != GATEIPC_OK && p->inward != NULL) {
		char ip[INET6_ADDRSTRLEN] = "?";

		inet_ntop(p->inward->family, p->inward->ip, ip, sizeof(ip));
		log_warnx("gatesrv: refused ALLOW for %s: %s is inward (%s) and no \"inward\" "
		          "line allows it",
		          m->name, ip, p->why);
		return;
	}
	if (s->batch[i].st != GATEIPC_OK) {
		log_warnx("gatesrv: refused ALLOW for %s: not on the allowlist", m->name);
		return;
	}
	s->batch[i].ttl = p->ttl;
	s->batch[i].ports = p->ports;
	s->batch[i].inward_ports = p->inward_ports;
	if (s->nlines < s->conf->ndomains) {
		/* No room to say which lines hold the entries (out of memory
		 * at the last reload): refuse rather than hold them unbounded. */
		s->ok[i] = false;
		return;
	}
	nl = allowplan_lines(s->conf, m->name, s->lines);
	if (keep_entries(s, p->v4, &p->n4, nl) < 0 || keep_entries(s, p->v6, &p->n6, nl) < 0) {
		log_warn("gatesrv: recording the entries of %s", m->name);
		s->ok[i] = false; /* run_batch takes it back */
		return;
	}
	if (p->n4 > 0)
		ipset_batch_add(s->ipset, i, KERNEL_SET4, AF_INET, p->v4, p->n4, p->ttl, m->name);
	if (p->n6 > 0)
		ipset_batch_add(s->ipset, i, KERNEL_SET6, AF_INET6, p->v6, p->n6, p->ttl, m->name);
}

/*
 * Takes a refused request's entries out of the sets again, so that it is
 * all or none: the kernel refuses a message part way (the set is full)
 * leaving the entries before the failing one in the set, and the IPv4 half
 * stays when only the IPv6 message is refused. The plan is made again from
 * the message; it is a pure function of the message and the config, which
 * has not changed since. Deleting may also remove an entry another answer,
 * of this batch or an earlier one, had added, which only ever denies more.
 */
static void
take_back(struct gatesrv *s, const struct gateipc_allow *m)
{
	struct allowplan *p = &s->plan;

	allowplan_make(s->conf, m, p);
	if ((p->n4 > 0 && ipset_del(s->ipset, KERNEL_SET4, AF_INET, p->v4, p->n4) < 0) ||
	    (p->n6 > 0 && ipset_del(s->ipset, KERNEL_SET6, AF_INET6, p->v6, p->n6) < 0))
		log_warnx("gatesrv: could not take back the entries of a failed ALLOW for %s",
		          m->name);
	else
		log_warnx("gatesrv: ALLOW for %s failed; none of its entries stay in the sets",
		          m->name);
	/* Gone before their timeout: this moves the removals counter on, so
	 * the resolver no longer counts on what earlier ACKs said. */
	for (size_t j = 0; j < p->n4; j++)
		entrymap_forget(s->emap, &p->v4[j]);
	for (size_t j = 0; j < p->n6; j++)
		entrymap_forget(s->emap, &p->v6[j]);
}

/* One gate.evict line per line that gave up entries since the last one. */
static void
evict_log_cb(struct loop_timer *t, void *arg)
{
	struct gatesrv *s = arg;
	char buf[NAME_MAX_LEN + 8];

	for (size_t i = 0; i < s->nlines && i < s->conf->ndomains; i++) {
		const struct conf_domain *d = &s->conf->domains[i];
		struct log_line *l;

		if (s->evicted[i] == 0)
			continue;
		l = log_begin(LOGL_WARN, "gate.evict");
		logline_str(l, "pattern", pattern_fmt(&d->pat, buf, sizeof(buf)));
		logline_int(l, "line", d->line);
		logline_int(l, "count", (long long)s->evicted[i]);
		logline_int(l, "max_per_line", s->conf->max_per_line);
		log_end(l);
		s->evicted[i] = 0;
	}
	(void)t;
}

static void
delete_trimmed(struct gatesrv *s, size_t n)
{
	size_t n4 = 0, n6 = 0;

	for (size_t j = 0; j < n; j++) {
		if (s->trim_out[j].family == AF_INET)
			s->trim4[n4++] = s->trim_out[j];
		else
			s->trim6[n6++] = s->trim_out[j];
	}
	if ((n4 > 0 && ipset_del(s->ipset, KERNEL_SET4, AF_INET, s->trim4, n4) < 0) ||
	    (n6 > 0 && ipset_del(s->ipset, KERNEL_SET6, AF_INET6, s->trim6, n6) < 0))
		log_warnx("gatesrv: could not delete %zu entries evicted to keep a line within "
		          "max_per_line; they stay until their timeout",
		          n);
}

/*
 * Every line over its bound gives up its oldest entries, never one that
 * this batch added (those are about to be ACKed), so one busy pattern
 * cannot fill the sets for the others. An entry another line still holds
 * stays in the kernel.
 */
static void
trim_lines(struct gatesrv *s)
{
	uint64_t now = loop_now_ms();
	bool any = false;

	for (uint32_t i = 0; i < s->nlines && i < s->conf->ndomains; i++) {
		size_t n;

		if (entrymap_line_count(s->emap, i) <= s->conf->max_per_line)
			continue;
		do {
			n = entrymap_trim(s->emap, i, s->conf->max_per_line, now, s->batchno,
			                  s->trim_out, TRIM_STEP);
			if (n > 0) {
				delete_trimmed(s, n);
				s->evicted[i] += n;
				any = true;
			}
		} while (n == TRIM_STEP);
	}
	if (any && !loop_timer_armed(&s->evict_log))
		loop_timer_set(s->lp, &s->evict_log, EVICT_LOG_MS);
}

/* The map only makes the deny log readable; running out of memory here must
 * not fail the request the kernel already honoured. */
static void
remember(struct gatesrv *s, const struct slot *b)
{
	const struct gateipc_allow *m = &b->in.m;
	struct addrmap_name *nm, *nm_in = NULL;
	uint64_t expires;
	size_t i;

	nm = addrmap_name_new(m->name, &b->ports);
	if (nm == NULL) {
		log_warn("gatesrv: remembering %s for the log", m->name);
		return;
	}
	expires = loop_now_ms() + (uint64_t)b->ttl * 1000;
	for (i = 0; i < m->naddrs; i++) {
		struct addrmap_name *which = nm;

		/* An inward address has only the ports of the "inward" lines,
		 * so a denial on another port says "port". */
		if (inward_why(&s->conf->local, m->addrs[i].family, m->addrs[i].ip) != NULL) {
			if (nm_in == NULL)
				nm_in = addrmap_name_new(m->name, &b->inward_ports);
			which = nm_in != NULL ? nm_in : nm;
		}
		if (addrmap_put(s->map, m->addrs[i].family, m->addrs[i].ip, which, expires) < 0) {
			log_warn("gatesrv: remembering an address of %s", m->name);
			break;
		}
	}
	addrmap_name_unref(nm);
	if (nm_in != NULL)
		addrmap_name_unref(nm_in);
	log_debug("gatesrv: allowed %s: %u addresses, ttl %u", m->name, (unsigned)m->naddrs,
	          (unsigned)b->ttl);
}

/* Decides the n requests of the batch and puts the accepted ones into the
 * sets; leaves each one's answer in its slot. */
static void
run_batch(struct gatesrv *s, size_t n)
{
	size_t i;

	s->batchno++;
	ipset_batch_begin(s->ipset, s->ok, n);
	for (i = 0; i < n; i++)
		plan_request(s, i);
	ipset_batch_commit(s->ipset);
	for (i = 0; i < n; i++) {
		struct slot *b = &s->batch[i];

		if (b->st != GATEIPC_OK)
			continue;
		if (!s->ok[i]) {
			take_back(s, &b->in.m);
			b->st = GATEIPC_ERR_KERNEL;
		}
	}
	trim_lines(s);
}

/* After the ACKs: the names of the batch's accepted requests, for the
 * deny log. The resolver waits for nothing of this. */
static void
remember_batch(struct gatesrv *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s->batch[i].st == GATEIPC_OK)
			remember(s, &s->batch[i]);
	}
}

/* One sendmmsg for the batch's ACKs; SOCK_SEQPACKET keeps each one a
 * message of its own. */
static int
send_acks(struct conn *c, size_t n)
{
	struct slot *b = c->srv->batch;
	struct mmsghdr mm[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	int sent;

	memset(mm, 0, n * sizeof(mm[0]));
	for (size_t i = 0; i < n; i++) {
		gateipc_ack_init(&b[i].ack, b[i].in.m.id, b[i].st, entrymap_removals(c->srv->emap));
		iov[i].iov_base = &b[i].ack;
		iov[i].iov_len = sizeof(b[i].ack);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	sent = sendmmsg(c->fd, mm, (unsigned)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (sent < 0) {
		log_warn("gatesrv: sending %zu ACKs to uid %u", n, (unsigned)c->uid);
		return -1;
	}
	if ((size_t)sent < n) {
		log_warnx("gatesrv: sent only %d of %zu ACKs to uid %u", sent, n, (unsigned)c->uid);
		return -1;
	}
	return 0;
}

/*
 * The owner of each WHO request's client socket, after the ACKs. Only
 * for a socket that talks to one of the resolver's own listen addresses:
 * a resolver cannot ask about other sockets. The lookup is bounded by
 * the budget it shares with the queue's (who.h).
 */
static int
answer_whos(struct conn *c)
{
	struct gatesrv *s = c->srv;

	for (size_t i = 0; i < s->nwho; i++) {
		const struct gateipc_who *m = &s->whoq[i];
		struct gateipc_who_reply rep;
		struct who_answer a = {.why = WHO_NONE, .pid = -1};
		struct flow f;
		struct addr l = {.family = m->family, .port = m->lport};
		bool ours = false;

		memcpy(l.ip, m->listen, sizeof(l.ip));
		for (size_t j = 0; j < s->conf->nlisten; j++)
			ours = ours || addr_equal(&s->conf->listen[j], &l);
		if (!ours) {
			log_warnx(
			    "gatesrv: refused WHO from uid %u: not one of the listen addresses",
			    (unsigned)c->uid);
		} else if (s->who == NULL) {
			a.why = WHO_NOHELPER;
		} else {
			memset(&f, 0, sizeof(f));
			f.family = m->family;
			f.proto = m->proto;
			memcpy(f.src, m->client, sizeof(f.src));
			memcpy(f.dst, m->listen, sizeof(f.dst));
			f.has_ports = true;
			f.sport = m->cport;
			f.dport = m->lport;
			who_dns(s->who, &f, &a);
		}
		gateipc_who_reply_init(&rep, m->id, (enum gateipc_why)a.why, a.pid, a.comm, a.exe);
		if (send(c->fd, &rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof(rep)) {
			/* The resolver gives up on it after its own timeout. */
			if (errno == EAGAIN)
				continue;
			log_warn("gatesrv: sending a WHO reply to uid %u", (unsigned)c->uid);
			return -1;
		}
	}
	s->nwho = 0;
	return 0;
}

static void
conn_read(int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	bool done = false;
	size_t n;

	n = read_batch(c, &done);
	if (n > 0) {
		run_batch(c->srv, n);
		if (send_acks(c, n) < 0)
			done = true;
		remember_batch(c->srv, n);
	}
	if (!done && answer_whos(c) < 0)
		done = true;
	if (done)
		conn_close(c);
	(void)fd;
	(void)events;
}

static void
accept_cb(int lfd, uint32_t events, void *arg)
{
	struct gatesrv *s = arg;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct conn *c = NULL;
	int fd, i;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("gatesrv: accepting on %s", s->path);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		log_warn("gatesrv: reading peer credentials");
		close(fd);
		return;
	}
	if (cred.uid != 0 && cred.uid != s->ruid) {
		log_warnx("gatesrv: refused a connection from uid %u pid %d: only root and the "
		          "resolver user (uid %u) may connect",
		          (unsigned)cred.uid, (int)cred.pid, (unsigned)s->ruid);
		close(fd);
		return;
	}
	for (i = 0; i < GATESRV_MAX_CONNS; i++) {
		if (s->conns[i].fd < 0) {
			c = &s->conns[i];
			break;
		}
	}
	if (c == NULL) {
		log_warnx("gatesrv: refused a connection from uid %u: %d connections open already",
		          (unsigned)cred.uid, GATESRV_MAX_CONNS);
		close(fd);
		return;
	}
	c->fd = fd;
	c->uid = cred.uid;
	if (loop_add(s->lp, fd, EPOLLIN, conn_read, c) < 0) {
		log_warn("gatesrv: adding a connection to the event loop");
		close(fd);
		c->fd = -1;
	}
	(void)events;
}

/* The directory holding the socket: created root:resolver-group 0750 so
 * that only the resolver (and root) can even reach the socket. */
static int
make_dir(const char *path, gid_t gid)
{
	char copy[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *dir;
	struct stat st;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			log_warnx("gatesrv: %s exists and is not a directory", dir);
			return -1;
		}
		/* Made beforehand (a container image ships it, root:group 2750,
		 * so that no chown is needed here). Anyone else who could write
		 * to it could swap the socket for their own. */
		if (st.st_uid != 0 || (st.st_mode & S_IWOTH) ||
		    ((st.st_mode & S_IWGRP) && st.st_gid != 0)) {
			log_warnx("gatesrv: %s must be owned by root and writable by root only",
			          dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		log_warn("gatesrv: stat %s", dir);
		return -1;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		log_warn("gatesrv: creating directory %s", dir);
		return -1;
	}
	if (chown(dir, 0, gid) < 0) {
		log_warn("gatesrv: chown %s to root:%u", dir, (unsigned)gid);
		return -1;
	}
	if (chmod(dir, 0750) < 0) {
		log_warn("gatesrv: chmod 0750 %s", dir);
		return -1;
	}
	return 0;
}

static int
listen_socket(struct gatesrv *s)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd;

	if (make_dir(s->path, s->rgid) < 0)
		return -1;
	/* A socket left by a gate that died is stale; anything else at that
	 * path is not ours to delete. */
	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("gatesrv: %s exists and is not a socket", s->path);
			return -1;
		}
		if (unlink(s->path) < 0) {
			log_warn("gatesrv: removing stale socket %s", s->path);
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("gatesrv: socket");
		return -1;
	}
	memcpy(sun.sun_path, s->path, sizeof(s->path));
	/* Born without permissions for others, so there is no window before
	 * the chmod below. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		log_warn("gatesrv: bind %s", s->path);
		goto close_fd;
	}
	umask(old);
	/* In a set-group-ID directory of the resolver's group the socket is
	 * born root:group already; skipping the chown then spares the gate
	 * CAP_CHOWN, which a container would otherwise have to grant. */
	if (lstat(s->path, &st) < 0) {
		log_warn("gatesrv: stat %s", s->path);
		goto unlink_path;
	}
	if ((st.st_uid != 0 || st.st_gid != s->rgid) && chown(s->path, 0, s->rgid) < 0) {
		log_warn("gatesrv: chown %s to root:%u", s->path, (unsigned)s->rgid);
		goto unlink_path;
	}
	if (chmod(s->path, 0660) < 0) {
		log_warn("gatesrv: chmod 0660 %s", s->path);
		goto unlink_path;
	}
	if (listen(fd, GATESRV_MAX_CONNS) < 0) {
		log_warn("gatesrv: listen on %s", s->path);
		goto unlink_path;
	}
	return fd;

unlink_path:
	unlink(s->path);
close_fd:
	close(fd);
	return -1;
}

/* Room for c's lines; on failure nlines stays short and plan_request
 * refuses until a reload makes room. */
static void
size_lines(struct gatesrv *s, const struct conf *c)
{
	size_t n = c->ndomains > 0 ? c->ndomains : 1;
	uint32_t *lines, *elines;
	size_t *evicted;

	if (loop_timer_armed(&s->evict_log)) {
		/* The counts belong to the old lines. */
		loop_timer_cancel(s->lp, &s->evict_log);
		evict_log_cb(&s->evict_log, s);
	}
	lines = calloc(n, sizeof(*lines));
	elines = calloc(n, sizeof(*elines));
	evicted = calloc(n, sizeof(*evicted));
	if (lines == NULL || elines == NULL || evicted == NULL) {
		log_warn("gatesrv: allocating room for %zu lines; ALLOWs fail until a reload", n);
		free(lines);
		free(elines);
		free(evicted);
		s->nlines = 0;
		return;
	}
	free(s->lines);
	free(s->elines);
	free(s->evicted);
	s->lines = lines;
	s->elines = elines;
	s->evicted = evicted;
	s->nlines = n;
}

static void
free_lines(struct gatesrv *s)
{
	if (loop_timer_armed(&s->evict_log)) {
		loop_timer_cancel(s->lp, &s->evict_log);
		evict_log_cb(&s->evict_log, s);
	}
	free(s->lines);
	free(s->elines);
	free(s->evicted);
}

struct gatesrv *
gatesrv_new(struct loop *lp, const struct conf *c, uid_t resolver_uid, gid_t resolver_gid,
            struct ipset_nl *ipset, struct addrmap *map, struct entrymap *emap)
{
	struct gatesrv *s;
	int i;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		log_warn("gatesrv: allocating");
		return NULL;
	}
	s->lp = lp;
	s->conf = c;
	s->ipset = ipset;
	s->map = map;
	s->emap = emap;
	s->conf = c;
	loop_timer_init(&s->evict_log, evict_log_cb, s);
	size_lines(s, c);
	if (s->nlines < c->ndomains)
		goto free_srv;
	s->ruid = resolver_uid;
	s->rgid = resolver_gid;
	for (i = 0; i < GATESRV_MAX_CONNS; i++) {
		s->conns[i].fd = -1;
		s->conns[i].srv = s;
	}
	snprintf(s->path, sizeof(s->path), "%s", c->socket);
	s->lfd = listen_socket(s);
	if (s->lfd < 0)
		goto free_srv;
	if (loop_add(lp, s->lfd, EPOLLIN, accept_cb, s) < 0) {
		log_warn("gatesrv: adding %s to the event loop", s->path);
		goto close_listener;
	}
	log_info("gatesrv: listening on %s", s->path);
	return s;

close_listener:
	close(s->lfd);
	unlink(s->path);
free_srv:
	free_lines(s);
	free(s);
	return NULL;
}

void
gatesrv_set_conf(struct gatesrv *s, const struct conf *c)
{
	size_lines(s, c);
	s->conf = c;
}

void
gatesrv_set_who(struct gatesrv *s, struct who *w)
{
	if (s != NULL)
		s->who = w;
}

void
gatesrv_drop_clients(struct gatesrv *s)
{
	int i;

	for (i = 0; i < GATESRV_MAX_CONNS; i++)
		conn_close(&s->conns[i]);
}

void
gatesrv_free(struct gatesrv *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < GATESRV_MAX_CONNS; i++)
		conn_close(&s->conns[i]);
	loop_del(s->lp, s->lfd);
	close(s->lfd);
	if (unlink(s->path) < 0 && errno != ENOENT)
		log_warn("gatesrv: removing %s", s->path);
	free_lines(s);
	free(s);
}
