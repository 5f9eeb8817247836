/*
 * frontend: when UDP replies go out. Real sockets on the loopback
 * interface and a real event loop. The first reply of a turn in which no
 * other event waits is on the client's socket before frontend_reply
 * returns (one client must not wait for what its caller does next, a log
 * line); the others of the same turn, the replies to queries read
 * together, and a reply of a turn in which another event waits go
 * together at the turn's end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "frontend.h"
#include "loop.h"

static struct loop *lp;
static struct frontend *fe;
static int cli; /* the client's socket, connected to the listener */
static int evfd[2];

static size_t nseen;        /* queries the callback got in this test */
static size_t got_in_cb[8]; /* replies on cli right after each reply */
static size_t nreplies;     /* replies read from cli so far */

/* Reads what replies wait on cli. */
static size_t
drain(void)
{
	uint8_t buf[512];
	size_t k = 0;

	while (recv(cli, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		k++;
	nreplies += k;
	return k;
}

static void
query_cb(const uint8_t *buf, size_t len, const struct frontend_client *c, void *arg)
{
	frontend_reply(c, buf, len);
	drain();
	assert_true(nseen < 8);
	got_in_cb[nseen++] = nreplies;
}

static frontend_query_cb fe_cb = query_cb;

static void
any_cb(const uint8_t *buf, size_t len, const struct frontend_client *c, void *arg)
{
	fe_cb(buf, len, c, arg);
}

static void
stop_cb(struct loop_timer *t, void *arg)
{
	loop_stop(lp);
}

/* Runs the loop until it has been idle for 50 ms. */
static void
run(void)
{
	struct loop_timer t;

	loop_timer_init(&t, stop_cb, NULL);
	loop_timer_set(lp, &t, 50);
	assert_int_equal(loop_run(lp), 0);
}

static void
send_query(uint8_t tag)
{
	uint8_t q[12] = {tag, tag};

	assert_int_equal(send(cli, q, sizeof(q), 0), (ssize_t)sizeof(q));
}

static int
setup(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct addr a;
	char text[32];
	int probe = socket(AF_INET, SOCK_DGRAM, 0);

	/* A free port for the listener. */
	assert_true(probe >= 0);
	assert_int_equal(bind(probe, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(probe, (struct sockaddr *)&sa, &sl), 0);
	close(probe);
	snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	assert_int_equal(addr_parse(text, 53, &a), 0);
	lp = loop_new();
	assert_non_null(lp);
	fe = frontend_new(lp, &a, 1, any_cb, NULL);
	assert_non_null(fe);
	cli = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(cli >= 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(pipe(evfd), 0);
	return 0;
}

static int
teardown(void **state)
{
	frontend_free(fe);
	loop_free(lp);
	close(cli);
	close(evfd[0]);
	close(evfd[1]);
	return 0;
}

static void
reset(void)
{
	nseen = 0;
	nreplies = 0;
	memset(got_in_cb, 0, sizeof(got_in_cb));
}

/* One query, nothing else in the turn: its reply is out at once. */
static void
test_alone_at_once(void **state)
{
	reset();
	send_query(1);
	run();
	assert_int_equal(nseen, 1);
	assert_int_equal(got_in_cb[0], 1);
	assert_int_equal(nreplies, 1);
}

/* Three queries read together: their replies go together, at the turn's
 * end (none splits the batch). */
static void
test_batch_together(void **state)
{
	reset();
	send_query(1);
	send_query(2);
	send_query(3);
	run();
	assert_int_equal(nseen, 3);
	assert_int_equal(got_in_cb[0], 0);
	assert_int_equal(got_in_cb[1], 0);
	assert_int_equal(got_in_cb[2], 0);
	drain();
	assert_int_equal(nreplies, 3);
}

/* A lone reply, and then in the same turn (a timer of it) another: the
 * first at once, the second at the turn's end. */
static void
second_cb(struct loop_timer *t, void *arg)
{
	const struct frontend_client *c = arg;
	uint8_t q[12] = {9, 9};

	frontend_reply(c, q, sizeof(q));
	drain();
	got_in_cb[nseen++] = nreplies;
}

static struct frontend_client saved;
static struct loop_timer second;

static void
save_cb(const uint8_t *buf, size_t len, const struct frontend_client *c, void *arg)
{
	query_cb(buf, len, c, arg);
	saved = *c;
	loop_timer_init(&second, second_cb, &saved);
	loop_timer_set(lp, &second, 0);
}

static void
test_once_a_turn(void **state)
{
	reset();
	fe_cb = save_cb;
	send_query(1);
	run();
	fe_cb = query_cb;
	assert_int_equal(nseen, 2);
	assert_int_equal(got_in_cb[0], 1);
	assert_int_equal(got_in_cb[1], 1);
	drain();
	assert_int_equal(nreplies, 2);
}

static void
ev_cb(int fd, uint32_t events, void *arg)
{
	char c;

	assert_int_equal(read(fd, &c, 1), 1);
}

/* Another event waits in the same turn: the reply waits for its end. */
static void
test_busy_turn_waits(void **state)
{
	reset();
	assert_int_equal(loop_add(lp, evfd[0], EPOLLIN, ev_cb, NULL), 0);
	/* The datagram first, so that its event comes first in the turn. */
	send_query(1);
	usleep(1000);
	assert_int_equal(write(evfd[1], "x", 1), 1);
	run();
	loop_del(lp, evfd[0]);
	assert_int_equal(nseen, 1);
	assert_int_equal(got_in_cb[0], 0);
	drain();
	assert_int_equal(nreplies, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alone_at_once),
	    cmocka_unit_test(test_batch_together),
	    cmocka_unit_test(test_once_a_turn),
	    cmocka_unit_test(test_busy_turn_waits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
