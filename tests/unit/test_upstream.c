/*
 * upstream: the pool of ready UDP sockets keeps a fresh source port per
 * query. Real sockets on the loopback interface: the test is the upstream
 * server, upstream.c runs in a real event loop. Checked: queries in flight
 * together never share a port, every socket is closed after its one query
 * by the next turn in which no attempt begins or ends (or once half of
 * the sockets left to close are used up: test_closing_bound), pooled
 * sockets are used, and what a pooled socket received before its
 * query was sent is never taken as (or even weighed as) an answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "dnsmsg.h"
#include "loop.h"
#include "upstream.h"

#define NQ 40

static struct conf cfg;
static struct loop *lp;
static struct upstream *up;
static int srv; /* the upstream server's socket */
static struct sockaddr_in srv_sa;

/* What the server saw, and whether it answers at once. */
static struct held {
	struct sockaddr_in from;
	uint8_t q[512];
	size_t len;
} held[NQ];
static size_t nheld;
static bool hold;

static size_t ndone, nwant;
static char answers[NQ][16]; /* the A record each callback got */
static bool timed_out;

static void
srv_answer(const struct held *h, const uint8_t addr[4])
{
	uint8_t a[600];
	size_t pos = DNSMSG_HDR_LEN;
	static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};

	/* the question as asked, then one A record; no OPT */
	while (pos < h->len && h->q[pos] != 0)
		pos += 1 + h->q[pos];
	pos += 1 + 4;
	assert_true(pos <= h->len);
	memcpy(a, h->q, pos);
	a[2] = 0x81; /* QR, RD */
	a[3] = 0x80; /* RA */
	a[6] = 0, a[7] = 1;
	a[8] = a[9] = a[10] = a[11] = 0;
	memcpy(a + pos, rr, sizeof(rr));
	memcpy(a + pos + sizeof(rr), addr, 4);
	assert_int_equal(sendto(srv, a, pos + sizeof(rr) + 4, 0, (const struct sockaddr *)&h->from,
	                        sizeof(h->from)),
	                 (ssize_t)(pos + sizeof(rr) + 4));
}

static const uint8_t real_addr[4] = {192, 0, 2, 10};

static void
srv_cb(int fd, uint32_t events, void *arg)
{
	struct held h;
	socklen_t sl = sizeof(h.from);
	ssize_t n = recvfrom(fd, h.q, sizeof(h.q), MSG_DONTWAIT, (struct sockaddr *)&h.from, &sl);

	if (n <= 0)
		return;
	h.len = (size_t)n;
	if (!hold) {
		srv_answer(&h, real_addr);
		return;
	}
	assert_true(nheld < NQ);
	held[nheld++] = h;
}

static void
done_cb(void *arg, ldns_pkt *pkt, const uint8_t *wire, size_t len, const char *error,
        const struct addr *server)
{
	size_t i = (size_t)(uintptr_t)arg;

	assert_null(error);
	assert_non_null(pkt);
	assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(pkt)), 1);
	{
		char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(pkt), 0), 0));

		snprintf(answers[i], sizeof(answers[i]), "%s", s);
		free(s);
	}
	ldns_pkt_free(pkt);
	if (++ndone == nwant)
		loop_stop(lp);
}

static void
timeout_cb(struct loop_timer *t, void *arg)
{
	timed_out = true;
	loop_stop(lp);
}

/* Runs the loop until nwant callbacks came, or until the server holds
 * want_held queries (when hold is set). */
static struct loop_timer guard;

static void
held_check(void *arg)
{
	size_t *want_held = arg;

	if (hold && *want_held && nheld >= *want_held)
		loop_stop(lp);
}

static void
run_until(size_t want_held)
{
	static size_t wh;

	wh = want_held;
	timed_out = false;
	assert_int_equal(loop_turn_hook(lp, held_check, &wh), 0);
	loop_timer_set(lp, &guard, 3000);
	assert_int_equal(loop_run(lp), 0);
	loop_timer_cancel(lp, &guard);
	loop_turn_unhook(lp, held_check, &wh);
	assert_false(timed_out);
}

static void
stop_cb(struct loop_timer *t, void *arg)
{
	loop_stop(lp);
}

/* One turn of the loop in which no attempt begins or ends: the turn that
 * closes the used sockets and refills the pool. */
static void
quiet_turn(void)
{
	struct loop_timer t;

	loop_timer_init(&t, stop_cb, NULL);
	loop_timer_set(lp, &t, 0);
	assert_int_equal(loop_run(lp), 0);
}

static void
make_query(const char *name, struct dnsmsg_query *q)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;
	size_t len;

	assert_int_equal(
	    ldns_pkt_query_new_frm_str(&p, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD),
	    LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, q), DNSMSG_QUERY);
	free(w);
}

/* This process's UDP sockets connected to the server: inode and port. */
struct sockinfo {
	ino_t ino;
	uint16_t port;
	int fd;
};

static size_t
udp_to_server(struct sockinfo *out, size_t max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		struct sockaddr_in peer, self;
		socklen_t pl = sizeof(peer), sl = sizeof(self);
		struct stat st;
		int type;
		socklen_t tl = sizeof(type);

		if (de->d_name[0] == '.' || fd == srv || fstat(fd, &st) != 0 ||
		    !S_ISSOCK(st.st_mode))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM)
			continue;
		if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
		    peer.sin_family != AF_INET || peer.sin_port != srv_sa.sin_port ||
		    peer.sin_addr.s_addr != srv_sa.sin_addr.s_addr)
			continue;
		assert_int_equal(getsockname(fd, (struct sockaddr *)&self, &sl), 0);
		assert_true(n < max);
		out[n].ino = st.st_ino;
		out[n].port = ntohs(self.sin_port);
		out[n].fd = fd;
		n++;
	}
	closedir(d);
	return n;
}

/* The open socket with inode ino, or else with local port port: its
 * inode, 0 if there is none. */
static ino_t
find_sock(ino_t ino, uint16_t port)
{
	struct sockinfo s[256];
	size_t n = udp_to_server(s, 256);

	for (size_t i = 0; i < n; i++)
		if ((ino != 0 && s[i].ino == ino) || (ino == 0 && s[i].port == port))
			return s[i].ino;
	return 0;
}

/* A config whose one upstream is 127.0.0.1:port. */
static int
load_conf(uint16_t port, struct conf *c)
{
	char path[] = "/tmp/test_upstream_XXXXXX";
	char ini[512], err[CONF_ERR_LEN];
	int fd, n;

	n = snprintf(ini, sizeof(ini),
	             "[resolver]\nlisten = 127.0.0.1:53\nupstream = 127.0.0.1:%u\n"
	             "[gate]\nsocket = /tmp/none.sock\n[log]\nfile =\n[allow]\ndomain = .x.test\n",
	             port);
	fd = mkstemp(path);
	if (fd < 0 || write(fd, ini, (size_t)n) != n)
		return -1;
	close(fd);
	n = conf_load(path, c, err, sizeof(err));
	if (n != 0)
		fprintf(stderr, "%s\n", err);
	unlink(path);
	return n;
}

static int
setup(void **state)
{
	socklen_t sl = sizeof(srv_sa);

	srv = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&srv_sa, 0, sizeof(srv_sa));
	srv_sa.sin_family = AF_INET;
	srv_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (srv < 0 || bind(srv, (struct sockaddr *)&srv_sa, sizeof(srv_sa)) != 0 ||
	    getsockname(srv, (struct sockaddr *)&srv_sa, &sl) != 0)
		return -1;
	if (load_conf(ntohs(srv_sa.sin_port), &cfg) != 0)
		return -1;
	lp = loop_new();
	up = lp ? upstream_new(lp) : NULL;
	if (up == NULL || loop_add(lp, srv, EPOLLIN, srv_cb, NULL) != 0)
		return -1;
	upstream_configure(up, &cfg);
	loop_timer_init(&guard, timeout_cb, NULL);
	return 0;
}

static int
teardown(void **state)
{
	upstream_free(up);
	loop_free(lp);
	close(srv);
	conf_free(&cfg);
	return 0;
}

/* Queries in flight together have distinct ports; each socket is closed
 * once its query is answered; pooled sockets serve queries. */
static void
test_fresh_port(void **state)
{
	struct dnsmsg_query q[NQ];
	ino_t ino[NQ];
	char name[64];
	size_t pooled = 0;

	/* The first query hooks the pool in; its turn fills it. */
	for (int round = 0; round < 2; round++) {
		struct sockinfo before[256];
		size_t nbefore;

		nbefore = udp_to_server(before, 256);
		if (round == 1)
			assert_true(nbefore > 0); /* the pool, filled after round 0 */
		hold = true;
		nheld = ndone = 0;
		nwant = NQ;
		for (size_t i = 0; i < NQ; i++) {
			snprintf(name, sizeof(name), "n%d-%zu.x.test", round, i);
			make_query(name, &q[i]);
			assert_non_null(upstream_query(up, &q[i], done_cb, (void *)(uintptr_t)i));
		}
		run_until(NQ);
		assert_int_equal(nheld, NQ);
		for (size_t i = 0; i < NQ; i++) {
			uint16_t port = ntohs(held[i].from.sin_port);

			for (size_t j = 0; j < i; j++)
				if (port == ntohs(held[j].from.sin_port))
					fail_msg("queries %zu and %zu share port %u", j, i, port);
			ino[i] = find_sock(0, port);
			if (ino[i] == 0)
				fail_msg("no socket has port %u", port);
			for (size_t j = 0; j < nbefore; j++)
				pooled += before[j].ino == ino[i];
		}
		for (size_t i = 0; i < NQ; i++)
			srv_answer(&held[i], real_addr);
		run_until(0);
		assert_int_equal(ndone, NQ);
		/* Not in the answers' own turn: in the next quiet one. */
		quiet_turn();
		for (size_t i = 0; i < NQ; i++) {
			assert_string_equal(answers[i], "192.0.2.10");
			if (find_sock(ino[i], 0) != 0)
				fail_msg("the socket of query %zu is still open", i);
			dnsmsg_query_free(&q[i]);
		}
	}
	/* round 1 took the whole pool before falling back to fresh sockets */
	assert_true(pooled >= 16);
}

/* How many of this process's sockets connected to the server have a
 * datagram waiting. */
static size_t
holding(void)
{
	struct sockinfo s[256];
	size_t n = udp_to_server(s, 256), k = 0;

	for (size_t i = 0; i < n; i++) {
		int v = 0;

		assert_int_equal(ioctl(s[i].fd, FIONREAD, &v), 0);
		k += v > 0;
	}
	return k;
}

/* Spoofed answers from the server's own address and port, with the right
 * question, sent to every pooled socket before any query is: each of the
 * next queries gets the server's real answer, and none of the spoofed
 * datagrams is even weighed as an answer: the socket a query goes out on
 * was read empty before the send, so the loop never sees them. */
static void
test_pooled_spoof(void **state)
{
	struct sockinfo s[256];
	struct dnsmsg_query q;
	size_t n, k;
	static const uint8_t evil[4] = {192, 0, 2, 99};

	/* The pool is full again after the last turn of the test before. */
	n = udp_to_server(s, 256);
	assert_true(n >= 16);
	for (size_t i = 0; i < n; i++) {
		for (uint16_t id = 1; id <= 8; id++) {
			struct held h;
			ldns_pkt *p = NULL;
			uint8_t *w = NULL;
			size_t len;

			assert_int_equal(ldns_pkt_query_new_frm_str(&p, "spoof.x.test",
			                                            LDNS_RR_TYPE_A,
			                                            LDNS_RR_CLASS_IN, LDNS_RD),
			                 LDNS_STATUS_OK);
			ldns_pkt_set_id(p, id * 7919);
			assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
			ldns_pkt_free(p);
			memcpy(h.q, w, len);
			h.len = len;
			free(w);
			memset(&h.from, 0, sizeof(h.from));
			h.from.sin_family = AF_INET;
			h.from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			h.from.sin_port = htons(s[i].port);
			srv_answer(&h, evil);
		}
	}
	/* Sequentially, so that each query takes the next pooled socket. */
	hold = false;
	for (size_t i = 0; i < n && i < NQ; i++) {
		ndone = 0;
		nwant = 1;
		make_query("spoof.x.test", &q);
		k = holding();
		assert_non_null(upstream_query(up, &q, done_cb, (void *)(uintptr_t)0));
		assert_int_equal(holding(), k - 1);
		run_until(0);
		assert_string_equal(answers[0], "192.0.2.10");
		dnsmsg_query_free(&q);
	}
}

/* Queries one after another with no quiet turn between them (each loop
 * run is the turns of one query's send and answer): the used sockets are
 * still closed, once half of the room for them is taken, so the sockets
 * connected to the server stay bounded (the pool, at most 128 used ones
 * and the one in flight). */
static void
test_closing_bound(void **state)
{
	struct sockinfo s[256];
	struct dnsmsg_query q;
	size_t most = 0;

	hold = false;
	for (size_t i = 0; i < 300; i++) {
		size_t n;

		ndone = 0;
		nwant = 1;
		make_query("bound.x.test", &q);
		assert_non_null(upstream_query(up, &q, done_cb, (void *)(uintptr_t)0));
		run_until(0);
		assert_string_equal(answers[0], "192.0.2.10");
		dnsmsg_query_free(&q);
		n = udp_to_server(s, 256);
		most = n > most ? n : most;
	}
	assert_true(most <= 32 + 128 + 1);
	assert_true(most >= 128); /* there was no quiet turn to close them in */
	quiet_turn();
	assert_true(udp_to_server(s, 256) <= 32);
}

/* A reload to the same upstream keeps the pool; one to another upstream
 * closes the sockets connected to the old one at once. */
static void
test_reconfigure(void **state)
{
	struct sockinfo s[256];
	struct conf other;
	size_t n = udp_to_server(s, 256);

	assert_true(n >= 16);
	upstream_configure(up, &cfg);
	assert_int_equal(udp_to_server(s, 256), n);
	assert_int_equal(load_conf((uint16_t)(ntohs(srv_sa.sin_port) ^ 1), &other), 0);
	upstream_configure(up, &other);
	assert_int_equal(udp_to_server(s, 256), 0);
	upstream_configure(up, &cfg);
	conf_free(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_port),
	    cmocka_unit_test(test_pooled_spoof),
	    cmocka_unit_test(test_closing_bound),
	    cmocka_unit_test(test_reconfigure),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
