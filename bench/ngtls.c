/*
 * ngtls: the TLS load tools of the SNI/Host binding's benchmark
 * (bench/sni.py), one binary linked to OpenSSL's libssl:
 *
 *   ngtls serve PORT[,PORT...] PROCS NAME...
 *       a TLS server on 0.0.0.0 and :: of each PORT: PROCS processes (0 = one
 *       per core), each pinned to its own core, each with its own
 *       SO_REUSEPORT listeners and one epoll loop. One self-signed ECDSA
 *       P-256 certificate per NAME, made at start and chosen by SNI (no or
 *       an unknown SNI gets the first); session tickets off, so every
 *       connection is a full handshake. After the handshake a client may
 *       send a line with a byte count, and gets that many bytes.
 *       Prints "ready" once every process listens; runs until killed.
 *   ngtls hs N CONCURRENCY ADDR PORT[,PORT...] NAME
 *       N TLS connections to ADDR:PORT with SNI NAME, CONCURRENCY in
 *       flight: connect, a real ClientHello (a fresh SSL object, so a fresh
 *       key share), the server's first flight read and the handshake done,
 *       then closed with a reset (no TIME_WAIT). Prints one JSON line:
 *       connections/s, failures by kind (reset, refused, timeout, other),
 *       and the latency from connect() to the first byte of the server
 *       (p50/p90/p99, µs), with its two parts: the TCP handshake and the
 *       ClientHello written -> first server byte (the first flight).
 *       With several PORTs the connections take them in turns (ABAB...)
 *       and "ports" has the same figures per port: two paths compared
 *       connection by connection, so the box's drift falls on both alike.
 *   ngtls bulk BYTES ADDR PORT NAME
 *       one connection, asks for BYTES and reads them; prints one JSON
 *       line: outcome, bytes, MB/s from the request to the last byte.
 *
 * Written for the benchmark only: no config, plain stdout, exit 1 on setup
 * errors; it never verifies certificates (the servers are its own).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ngcommon.h"

#define NGT_MAX_NAMES 8
#define NGT_MAX_CONC 1024
#define NGT_TIMEOUT_NS (3 * 1000000000LL)
#define NGT_CHUNK 16384
#define NGT_MAX_PORTS 4

static void
die_ssl(const char *what)
{
	fprintf(stderr, "ngtls: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* ----------------------------------------------------------------- serve */

static SSL_CTX *ctxs[NGT_MAX_NAMES];
static const char *names[NGT_MAX_NAMES];
static int nnames;

/* A self-signed certificate for NAME (CN and subjectAltName), in a server
 * context of its own. */
static SSL_CTX *
server_ctx(const char *name, long serial)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *nm;
	char san[300];

	if (pk == NULL || x == NULL || ctx == NULL)
		die_ssl("key or context");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400);
	X509_set_pubkey(x, pk);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", name);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1 || X509_sign(x, pk, EVP_sha256()) == 0)
		die_ssl("certificate");
	X509_EXTENSION_free(ext);
	if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, pk) != 1)
		die_ssl("SSL_CTX_use_certificate");
	/* Every connection a full handshake: no tickets, no session cache. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	X509_free(x);
	EVP_PKEY_free(pk);
	return ctx;
}

static int
pick_cert(SSL *ssl, int *alert, void *arg)
{
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	(void)arg;
	for (int i = 1; sni != NULL && i < nnames; i++)
		if (strcmp(sni, names[i]) == 0)
			SSL_set_SSL_CTX(ssl, ctxs[i]);
	return SSL_TLSEXT_ERR_OK;
}

enum sstate { S_LISTEN, S_ACCEPT, S_REQUEST, S_SEND };

struct sconn {
	enum sstate st;
	int fd;
	SSL *ssl;
	char req[32];
	size_t reqlen;
	uint64_t left;
};

static void
sconn_watch(int ep, struct sconn *c, uint32_t events, int op)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	if (epoll_ctl(ep, op, c->fd, &ev) != 0)
		die("epoll_ctl");
}

static void
sconn_free(struct sconn *c)
{
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

/* One step of a connection's handshake, request or transfer; false when it
 * is over. want is set to the events it waits for. */
static bool
sconn_step(struct sconn *c, uint32_t *want)
{
	static const char fill[NGT_CHUNK];
	int r = 0, e;

	for (;;) {
		switch (c->st) {
		case S_ACCEPT:
			r = SSL_accept(c->ssl);
			if (r == 1) {
				c->st = S_REQUEST;
				continue;
			}
			break;
		case S_REQUEST:
			r = SSL_read(c->ssl, c->req + c->reqlen,
			             (int)(sizeof(c->req) - 1 - c->reqlen));
			if (r > 0) {
				c->reqlen += (size_t)r;
				c->req[c->reqlen] = '\0';
				if (strchr(c->req, '\n') == NULL && c->reqlen < sizeof(c->req) - 1)
					continue;
				c->left = strtoull(c->req, NULL, 10);
				c->st = S_SEND;
				continue;
			}
			break;
		case S_SEND:
			if (c->left == 0)
				return false;
			r = SSL_write(c->ssl, fill, c->left < NGT_CHUNK ? (int)c->left : NGT_CHUNK);
			if (r > 0) {
				c->left -= (uint64_t)r;
				continue;
			}
			break;
		case S_LISTEN:
			return false;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			*want = EPOLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			*want = EPOLLOUT;
		else
			return false;
		ERR_clear_error();
		return true;
	}
}

static void
serve_accept(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct sconn *c;
		uint32_t want = EPOLLIN;
		int one = 1;

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			die("calloc");
		c->st = S_ACCEPT;
		c->fd = fd;
		c->ssl = SSL_new(ctxs[0]);
		if (c->ssl == NULL)
			die_ssl("SSL_new");
		SSL_set_fd(c->ssl, fd);
		SSL_set_accept_state(c->ssl);
		sconn_watch(ep, c, want, EPOLL_CTL_ADD);
	}
}

static void
serve_listen(int ep, int port, int fam)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sconn *l = calloc(1, sizeof(*l));
	int one = 1;

	if (l == NULL)
		die("calloc");
	l->st = S_LISTEN;
	l->fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		die("socket");
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (fam == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((fam == AF_INET6 ? bind(l->fd, (struct sockaddr *)&s6, sizeof(s6))
	                     : bind(l->fd, (struct sockaddr *)&s4, sizeof(s4))) != 0)
		die("bind");
	if (listen(l->fd, 4096) != 0)
		die("listen");
	sconn_watch(ep, l, EPOLLIN, EPOLL_CTL_ADD);
}

static void
serve_proc(const char *ports, int cpu, int ready)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	cpu_set_t set;

	if (ep < 0)
		die("epoll_create1");
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity");
	for (const char *p = ports; *p != '\0'; p += strcspn(p, ","), p += *p == ',') {
		serve_listen(ep, atoi(p), AF_INET);
		serve_listen(ep, atoi(p), AF_INET6);
	}
	if (write(ready, "r", 1) != 1)
		die("write");
	close(ready);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;
			uint32_t want = 0;

			if (c->st == S_LISTEN)
				serve_accept(ep, c->fd);
			else if (sconn_step(c, &want))
				sconn_watch(ep, c, want, EPOLL_CTL_MOD);
			else
				sconn_free(c);
		}
	}
}

static int
serve(int argc, char **argv)
{
	const char *ports = argv[0];
	int procs = atoi(argv[1]);
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	static pid_t pids[256];
	int pfd[2];
	char buf[256];
	ssize_t got = 0;

	nnames = argc - 2 < NGT_MAX_NAMES ? argc - 2 : NGT_MAX_NAMES;
	for (int i = 0; i < nnames; i++) {
		names[i] = argv[2 + i];
		ctxs[i] = server_ctx(names[i], i + 1);
	}
	SSL_CTX_set_tlsext_servername_callback(ctxs[0], pick_cert);
	if (procs <= 0)
		procs = ncpu > 0 ? ncpu : 1;
	if (procs > 256)
		procs = 256;
	if (pipe(pfd) != 0)
		die("pipe");
	for (int i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			/* killed with its parent (the bench stops the parent) */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(1);
			close(pfd[0]);
			serve_proc(ports, i % (ncpu > 0 ? ncpu : 1), pfd[1]);
			_exit(1);
		}
		pids[i] = pid;
	}
	close(pfd[1]);
	while (got < procs) {
		ssize_t r = read(pfd[0], buf, sizeof(buf));

		if (r <= 0) {
			fprintf(stderr, "ngtls: a server process exited before it listened\n");
			break;
		}
		got += r;
	}
	if (got >= procs) {
		printf("ready %d processes\n", procs);
		fflush(stdout);
		/* one that exits on its own ends the server */
		wait(NULL);
	}
	for (int i = 0; i < procs; i++)
		kill(pids[i], SIGTERM);
	return 1;
}

/* -------------------------------------------------------------------- hs */

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		die_ssl("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

enum cstate { C_FREE, C_CONNECT, C_HELLO, C_FLIGHT };

struct tally {
	unsigned ok, reset, refused, timeout, other;
	uint32_t *total, *tcp, *flight;
};

/* One port the connections go to, and what they got there. */
struct ctarget {
	struct sockaddr_storage sa;
	socklen_t len;
	const char *port;
	struct tally t;
};

struct cconn {
	enum cstate st;
	int fd;
	SSL *ssl;
	struct ctarget *tg;
	uint64_t t0, est, hello, first;
};

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
tally_init(struct tally *t, unsigned n)
{
	t->total = calloc(n, sizeof(uint32_t));
	t->tcp = calloc(n, sizeof(uint32_t));
	t->flight = calloc(n, sizeof(uint32_t));
	if (t->total == NULL || t->tcp == NULL || t->flight == NULL)
		die("calloc");
}

static void
tally_add(struct tally *t, const struct cconn *c, int err)
{
	if (err == 0) {
		t->total[t->ok] = (uint32_t)((c->first - c->t0) / 1000);
		t->tcp[t->ok] = (uint32_t)((c->est - c->t0) / 1000);
		t->flight[t->ok] = (uint32_t)((c->first - c->hello) / 1000);
		t->ok++;
	} else if (err == ECONNRESET || err == EPIPE) {
		t->reset++;
	} else if (err == ECONNREFUSED) {
		t->refused++;
	} else if (err == ETIMEDOUT) {
		t->timeout++;
	} else {
		t->other++;
	}
}

static void
cconn_end(struct cconn *c, struct tally *all, int err)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	tally_add(all, c, err);
	tally_add(&c->tg->t, c, err);
	/* Closed with a reset: no TIME_WAIT, so the ports never run out. */
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	SSL_free(c->ssl);
	close(c->fd);
	c->ssl = NULL;
	c->st = C_FREE;
}

static void
cconn_open(struct cconn *c, int ep, struct ctarget *tg)
{
	const struct sockaddr_storage *sa = &tg->sa;
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	int one = 1;

	c->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->st = C_CONNECT;
	c->ssl = NULL;
	c->tg = tg;
	c->t0 = now_ns();
	if (connect(c->fd, (const struct sockaddr *)sa, tg->len) != 0 && errno != EINPROGRESS)
		die("connect");
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl");
}

/* Sends what the SSL object wrote into its memory BIO; 0 or an errno. */
static int
cconn_flush(struct cconn *c)
{
	BIO *w = SSL_get_wbio(c->ssl);
	char buf[16384];
	int n;

	while ((n = BIO_read(w, buf, sizeof(buf))) > 0)
		if (send(c->fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			return errno != 0 && errno != EAGAIN ? errno : EPROTO;
	return 0;
}

/* Drives the handshake through memory BIOs, so the ClientHello leaves
 * with its own send() and the first server byte is seen by its own
 * event, not read inside an SSL_connect that finishes the handshake;
 * returns 0 while it goes on, -1 when done, or the errno it failed with. */
static int
cconn_step(struct cconn *c, int ep, SSL_CTX *ctx, const char *name)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	char buf[16384];
	int r, err = 0;
	socklen_t el = sizeof(err);
	ssize_t n;

	if (c->st == C_CONNECT) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			die("getsockopt");
		if (err != 0)
			return err;
		c->est = now_ns();
		c->ssl = SSL_new(ctx);
		if (c->ssl == NULL)
			die_ssl("SSL_new");
		SSL_set_bio(c->ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
		if (strcmp(name, "-") != 0)
			SSL_set_tlsext_host_name(c->ssl, name);
		SSL_set_connect_state(c->ssl);
		if (SSL_connect(c->ssl) == 1 || SSL_get_error(c->ssl, -1) != SSL_ERROR_WANT_READ)
			return EPROTO;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
			die("epoll_ctl");
		c->st = C_HELLO;
		c->hello = now_ns();
		return cconn_flush(c);
	}
	if (c->st == C_HELLO) {
		c->first = now_ns();
		c->st = C_FLIGHT;
	}
	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0)
		BIO_write(SSL_get_rbio(c->ssl), buf, (int)n);
	if (n == 0)
		return ECONNRESET;
	if (errno != EAGAIN)
		return errno;
	r = SSL_connect(c->ssl);
	if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return EPROTO;
	}
	err = cconn_flush(c);
	if (err != 0)
		return err;
	return r == 1 ? -1 : 0;
}

static void
quantiles(FILE *f, const char *key, uint32_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	if (n == 0) {
		fprintf(f, ", \"%sp50_us\": null, \"%sp90_us\": null, \"%sp99_us\": null", key, key,
		        key);
		return;
	}
	fprintf(f, ", \"%sp50_us\": %u, \"%sp90_us\": %u, \"%sp99_us\": %u", key, v[n / 2], key,
	        v[(unsigned)((uint64_t)n * 90 / 100)], key, v[(unsigned)((uint64_t)n * 99 / 100)]);
}

static void
tally_print(const struct tally *t)
{
	printf("\"ok\": %u, \"reset\": %u, \"refused\": %u, \"timeout\": %u, \"other\": %u", t->ok,
	       t->reset, t->refused, t->timeout, t->other);
	quantiles(stdout, "", t->total, t->ok);
	quantiles(stdout, "tcp_", t->tcp, t->ok);
	quantiles(stdout, "flight_", t->flight, t->ok);
}

static int
hs(char **argv)
{
	unsigned n = (unsigned)atoi(argv[0]), started = 0, done = 0, nt = 0;
	int conc = atoi(argv[1]);
	const char *name = argv[4];
	static struct ctarget tgs[NGT_MAX_PORTS];
	struct tally all = {0};
	static struct cconn cs[NGT_MAX_CONC];
	SSL_CTX *ctx = client_ctx();
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t t0, wall;

	for (char *p = strtok(argv[3], ","); p != NULL && nt < NGT_MAX_PORTS; p = strtok(NULL, ","))
		tgs[nt++].port = p;
	if (n == 0 || nt == 0 || conc <= 0 || conc > NGT_MAX_CONC || ep < 0) {
		fprintf(stderr, "ngtls: hs needs N > 0, a port and 1..%d in flight\n",
		        NGT_MAX_CONC);
		return 2;
	}
	tally_init(&all, n);
	for (unsigned i = 0; i < nt; i++) {
		sockaddr_of(argv[2], atoi(tgs[i].port), &tgs[i].sa, &tgs[i].len);
		tally_init(&tgs[i].t, n);
	}
	t0 = now_ns();
	for (int i = 0; i < conc && started < n; i++, started++)
		cconn_open(&cs[i], ep, &tgs[started % nt]);
	while (done < n) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 100);
		uint64_t now;

		for (int i = 0; i < k; i++) {
			struct cconn *c = evs[i].data.ptr;
			int r = cconn_step(c, ep, ctx, name);

			if (r == 0)
				continue;
			cconn_end(c, &all, r < 0 ? 0 : r);
			done++;
			if (started < n)
				cconn_open(c, ep, &tgs[started++ % nt]);
		}
		now = now_ns(); /* after the events: the slots they opened start before it */
		for (int i = 0; i < conc; i++) {
			if (cs[i].st == C_FREE || now - cs[i].t0 < (uint64_t)NGT_TIMEOUT_NS)
				continue;
			cconn_end(&cs[i], &all, ETIMEDOUT);
			done++;
			if (started < n)
				cconn_open(&cs[i], ep, &tgs[started++ % nt]);
		}
	}
	wall = now_ns() - t0;
	printf("{\"n\": %u, \"concurrency\": %d, \"conn_s\": %.1f, ", n, conc,
	       all.ok / (wall / 1e9));
	tally_print(&all);
	if (nt > 1) {
		printf(", \"ports\": {");
		for (unsigned i = 0; i < nt; i++) {
			printf("%s\"%s\": {", i ? ", " : "", tgs[i].port);
			tally_print(&tgs[i].t);
			printf("}");
		}
		printf("}");
	}
	printf("}\n");
	return 0;
}

/* ------------------------------------------------------------------ bulk */

static int
bulk(char **argv)
{
	unsigned long long want = strtoull(argv[0], NULL, 10), got = 0;
	struct sockaddr_storage sa;
	socklen_t len;
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = SSL_new(ctx);
	static char buf[65536];
	char req[32];
	const char *outcome = "connected";
	uint64_t t0;
	int fd;

	sockaddr_of(argv[1], atoi(argv[2]), &sa, &len);
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ssl == NULL)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
		printf("{\"outcome\": \"%s\", \"bytes\": 0, \"mb_s\": 0}\n",
		       errno == ECONNREFUSED ? "refused" : "error");
		return 0;
	}
	SSL_set_fd(ssl, fd);
	if (strcmp(argv[3], "-") != 0)
		SSL_set_tlsext_host_name(ssl, argv[3]);
	if (SSL_connect(ssl) != 1) {
		printf("{\"outcome\": \"%s\", \"bytes\": 0, \"mb_s\": 0}\n",
		       errno == ECONNRESET ? "reset" : "error");
		return 0;
	}
	snprintf(req, sizeof(req), "%llu\n", want);
	t0 = now_ns();
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		outcome = "error";
	while (got < want && strcmp(outcome, "connected") == 0) {
		int r = SSL_read(ssl, buf, sizeof(buf));

		if (r <= 0)
			outcome = errno == ECONNRESET ? "reset" : "short";
		else
			got += (unsigned long long)r;
	}
	printf("{\"outcome\": \"%s\", \"bytes\": %llu, \"mb_s\": %.1f}\n", outcome, got,
	       got / 1e6 / ((now_ns() - t0) / 1e9));
	SSL_free(ssl);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 5 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 2, argv + 2);
	if (argc == 7 && strcmp(argv[1], "hs") == 0)
		return hs(argv + 2);
	if (argc == 6 && strcmp(argv[1], "bulk") == 0)
		return bulk(argv + 2);
	fprintf(stderr, "usage: ngtls serve PORT[,PORT...] PROCS NAME...\n"
	                "       ngtls hs N CONCURRENCY ADDR PORT NAME\n"
	                "       ngtls bulk BYTES ADDR PORT NAME\n");
	return 2;
}
