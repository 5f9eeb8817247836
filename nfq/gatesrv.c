/* Unix socket server for ALLOW requests (SOCK_SEQPACKET). */
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
#include <sys/un.h>
#include <unistd.h>

#include "allowplan.h"
#include "gateipc.h"
#include "gatesrv.h"
#include "rules.h"

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
	struct allow_buf rbuf;
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

static int
send_ack(struct conn *c, uint32_t id, enum gateipc_status status)
{
	struct gateipc_ack ack;

	gateipc_ack_init(&ack, id, status);
	if (send(c->fd, &ack, sizeof(ack), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(ack)) {
		log_warn("gatesrv: sending an ACK to uid %u", (unsigned)c->uid);
		return -1;
	}
	return 0;
}

/*
 * Puts the plan's entries into the sets, all or none: a batch the kernel
 * refuses part way (the set is full) leaves the entries before the failing
 * one in the set, and an IPv6 failure would leave the IPv4 half. So on any
 * failure every entry of the request is deleted again. That may also remove
 * an entry an earlier answer had added, which only ever denies more.
 */
static int
apply_plan(struct gatesrv *s, const struct allowplan *p, const char *name)
{
	bool ok4 = p->n4 == 0 ||
	           ipset_add(s->ipset, RULES_SET4, AF_INET, p->v4, p->n4, p->ttl, name) == 0;
	bool ok6 = ok4 && (p->n6 == 0 || ipset_add(s->ipset, RULES_SET6, AF_INET6, p->v6, p->n6,
	                                           p->ttl, name) == 0);

	if (ok6)
		return 0;
	if ((p->n4 > 0 && ipset_del(s->ipset, RULES_SET4, AF_INET, p->v4, p->n4) < 0) ||
	    (p->n6 > 0 && ipset_del(s->ipset, RULES_SET6, AF_INET6, p->v6, p->n6) < 0))
		log_warnx("gatesrv: could not take back the entries of a failed ALLOW for %s", name);
	else
		log_warnx("gatesrv: ALLOW for %s failed; none of its entries stay in the sets", name);
	return -1;
}

static enum gateipc_status
handle_allow(struct gatesrv *s, const struct gateipc_allow *m)
{
	struct allowplan *p = &s->plan;
	struct addrmap_name *nm;
	enum gateipc_status st;
	uint64_t expires;
	size_t i;

	st = allowplan_make(s->conf, m, p);
	if (st != GATEIPC_OK) {
		log_warnx("gatesrv: refused ALLOW for %s: not on the allowlist", m->name);
		return st;
	}
	if (apply_plan(s, p, m->name) < 0)
		return GATEIPC_ERR_KERNEL;

	/* The map only makes the deny log readable; running out of memory
	 * here must not fail the request the kernel already honoured. */
	nm = addrmap_name_new(m->name, &p->ports);
	if (nm == NULL) {
		log_warn("gatesrv: remembering %s for the log", m->name);
		return GATEIPC_OK;
	}
	expires = loop_now_ms() + (uint64_t)p->ttl * 1000;
	for (i = 0; i < m->naddrs; i++) {
		if (addrmap_put(s->map, m->addrs[i].family, m->addrs[i].ip, nm, expires) < 0) {
			log_warn("gatesrv: remembering an address of %s", m->name);
			break;
		}
	}
	addrmap_name_unref(nm);
	log_debug("gatesrv: allowed %s: %u addresses, ttl %u", m->name, (unsigned)m->naddrs,
	          (unsigned)p->ttl);
	return GATEIPC_OK;
}

static void
conn_read(int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;
	struct allow_buf *u = &c->srv->rbuf;
	const char *err;
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		n = recv(fd, u->raw, sizeof(u->raw), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			log_warn("gatesrv: receiving from uid %u", (unsigned)c->uid);
			conn_close(c);
			return;
		}
		if (n == 0) {
			conn_close(c);
			return;
		}
		if (gateipc_allow_check(u->raw, (size_t)n, &err) < 0) {
			log_warnx("gatesrv: bad message from uid %u (%zd bytes): %s; closing",
			          (unsigned)c->uid, n, err);
			conn_close(c);
			return;
		}
		if (send_ack(c, u->m.id, handle_allow(c->srv, &u->m)) < 0) {
			conn_close(c);
			return;
		}
	}
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

struct gatesrv *
gatesrv_new(struct loop *lp, const struct conf *c, uid_t resolver_uid, gid_t resolver_gid,
            struct ipset_nl *ipset, struct addrmap *map)
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
	free(s);
	return NULL;
}

void
gatesrv_set_conf(struct gatesrv *s, const struct conf *c)
{
	s->conf = c;
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
	free(s);
}
