/* The ipset batch against the kernel: every request's result on its own, a
 * refused one not spoiling the others, a batch larger than one netlink
 * buffer split over several exchanges. Runs in a network namespace of its
 * own (unshare), so no set of this machine's is ever touched; skipped when
 * that is not allowed (not root) or the kernel or the ipset tool is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include "ipset.h"

#define SET4 "ngtest4"
#define SET6 "ngtest6"
#define SMALL "ngtest-small"

static struct ipset_nl *h;

/* The next this many reads of the netlink socket fail with EINTR before
 * reading anything, as a signal during a blocking read makes them do. The
 * kernel's answer is already queued then, so nothing else could make a
 * read there be interrupted on cue. */
static int eintr_reads;

/* libmnl reads through recvmsg; this definition comes first. */
ssize_t recvmsg(int fd, struct msghdr *msg, int flags);

ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, struct msghdr *, int);

	if (eintr_reads > 0) {
		eintr_reads--;
		errno = EINTR;
		return -1;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "recvmsg");
	return real(fd, msg, flags);
}

static struct ipset_entry
v4(uint32_t ip, uint16_t port)
{
	struct ipset_entry e = {.family = AF_INET, .proto = IPPROTO_TCP, .port = port};
	uint32_t n = htonl(ip);

	memcpy(e.ip, &n, 4);
	return e;
}

static struct ipset_entry
v6(uint8_t last, uint16_t port)
{
	struct ipset_entry e = {.family = AF_INET6, .proto = IPPROTO_TCP, .port = port};

	e.ip[0] = 0x20;
	e.ip[1] = 0x01;
	e.ip[2] = 0x0d;
	e.ip[3] = 0xb8;
	e.ip[15] = last;
	return e;
}

/* n IPv4 entries, 198.18.0.0 up, port 443: more than one netlink message
 * carries. */
static void
many_v4(struct ipset_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = v4(0xc6120000 + (uint32_t)i, 443);
}

/* Entries in the set, as the ipset tool lists them (in this namespace). */
static int
count(const char *set)
{
	char cmd[128], line[1024];
	int n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ipset save %s 2>/dev/null", set);
	f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strncmp(line, "add ", 4) == 0;
	pclose(f);
	return n;
}

static int
fresh_sets(void **state)
{
	const char *names[] = {SET4, SET6, SMALL};

	for (size_t i = 0; i < 3; i++) {
		if (ipset_destroy(h, names[i], true) < 0)
			return -1;
	}
	if (ipset_create(h, SET4, "hash:ip,port", AF_INET, 65536, true, true) < 0 ||
	    ipset_create(h, SET6, "hash:ip,port", AF_INET6, 65536, true, true) < 0 ||
	    ipset_create(h, SMALL, "hash:ip,port", AF_INET, 2, true, true) < 0)
		return -1;
	return 0;
}

static void
test_batch_all_ok(void **state)
{
	struct ipset_entry a[2] = {v4(0xc0000201, 443), v4(0xc0000201, 80)};
	struct ipset_entry b4[1] = {v4(0xc0000202, 443)}, b6[1] = {v6(2, 443)};
	bool ok[3];

	ipset_batch_begin(h, ok, 3);
	ipset_batch_add(h, 0, SET4, AF_INET, a, 2, 60, "a.example.test");
	ipset_batch_add(h, 1, SET4, AF_INET, b4, 1, 60, "b.example.test");
	ipset_batch_add(h, 1, SET6, AF_INET6, b6, 1, 60, "b.example.test");
	/* a request with nothing to add sends nothing and succeeds */
	ipset_batch_add(h, 2, SET6, AF_INET6, NULL, 0, 60, "c.example.test");
	assert_int_equal(ipset_batch_commit(h), 0);
	assert_true(ok[0] && ok[1] && ok[2]);
	assert_int_equal(count(SET4), 3);
	assert_int_equal(count(SET6), 1);
	/* the single exchanges still find their own answers afterwards */
	assert_int_equal(ipset_del(h, SET4, AF_INET, a, 2), 0);
	assert_int_equal(count(SET4), 1);
}

static void
test_batch_refusals_stay_apart(void **state)
{
	struct ipset_entry one[1] = {v4(0xc0000210, 443)};
	struct ipset_entry three[3] = {v4(0xc0000211, 443), v4(0xc0000212, 443),
	                               v4(0xc0000213, 443)};
	struct ipset_entry later[1] = {v4(0xc0000214, 443)};
	struct ipset_entry wrong[1] = {v6(1, 443)};
	bool ok[5];

	ipset_batch_begin(h, ok, 5);
	ipset_batch_add(h, 0, SMALL, AF_INET, one, 1, 60, "one");
	/* the set takes two: the second of these three is refused */
	ipset_batch_add(h, 1, SMALL, AF_INET, three, 3, 60, "three");
	ipset_batch_add(h, 2, SET4, AF_INET, later, 1, 60, "later");
	ipset_batch_add(h, 3, "ngtest-missing", AF_INET, later, 1, 60, "missing");
	/* refused before anything is sent */
	ipset_batch_add(h, 4, SET4, AF_INET, wrong, 1, 60, "wrong");
	assert_int_equal(ipset_batch_commit(h), -1);
	assert_true(ok[0]);
	assert_false(ok[1]);
	assert_true(ok[2]);
	assert_false(ok[3]);
	assert_false(ok[4]);
	/* the kernel kept the part of the refused request before the failure;
	 * taking it back is the caller's business */
	assert_int_equal(count(SMALL), 2);
	assert_int_equal(count(SET4), 1);
}

/* More messages than one exchange may carry, and more bytes than one
 * netlink buffer holds: split, and every request still answered. */
static void
test_batch_split(void **state)
{
	enum { NREQ = 200, PER = 40 };
	static struct ipset_entry v[NREQ][PER];
	char comment[201];
	bool ok[NREQ];

	memset(comment, 'c', sizeof(comment) - 1);
	comment[sizeof(comment) - 1] = '\0';
	ipset_batch_begin(h, ok, NREQ);
	for (uint32_t i = 0; i < NREQ; i++) {
		for (uint32_t j = 0; j < PER; j++)
			v[i][j] = v4(0x0a000000 + i * PER + j, 443);
		ipset_batch_add(h, i, SET4, AF_INET, v[i], PER, 60, comment);
	}
	assert_int_equal(ipset_batch_commit(h), 0);
	for (size_t i = 0; i < NREQ; i++)
		assert_true(ok[i]);
	assert_int_equal(count(SET4), NREQ * PER);
}

struct listed {
	size_t n;
	bool found;
	uint32_t timeout;
	char comment[64];
};

static void
list_cb(void *arg, const struct ipset_entry *e, uint32_t timeout, const char *comment)
{
	struct listed *l = arg;
	struct ipset_entry want = v6(9, 8443);

	l->n++;
	if (e->family == AF_INET6 && memcmp(e->ip, want.ip, 16) == 0 && e->port == 8443 &&
	    e->proto == IPPROTO_TCP) {
		l->found = true;
		l->timeout = timeout;
		snprintf(l->comment, sizeof(l->comment), "%s", comment ? comment : "");
	}
}

/* The listing a restarted gate reads its record from: every entry, with
 * what is left of its timeout and its comment; more entries than one
 * netlink message carries. */
static void
test_list(void **state)
{
	struct ipset_entry many[600], one[1] = {v6(9, 8443)};
	struct listed l = {0};

	many_v4(many, 600);
	assert_int_equal(ipset_add(h, SET4, AF_INET, many, 600, 300, "many.example.test"), 0);
	assert_int_equal(ipset_add(h, SET6, AF_INET6, one, 1, 300, "one.example.test"), 0);
	assert_int_equal(ipset_list(h, SET4, AF_INET, list_cb, &l), 0);
	assert_int_equal(l.n, 600);
	assert_false(l.found);
	assert_int_equal(ipset_list(h, SET6, AF_INET6, list_cb, &l), 0);
	assert_int_equal(l.n, 601);
	assert_true(l.found);
	assert_true(l.timeout >= 298 && l.timeout <= 300);
	assert_string_equal(l.comment, "one.example.test");
	assert_int_equal(ipset_list(h, "ngtest-missing", AF_INET, list_cb, &l), -1);
}

/* A read interrupted before the kernel's answer is read again: the
 * answer, not the interruption, decides. (It once ended the exchange on an
 * unset value: a refused add taken for done, or a listing cut short.) */
static void
test_eintr_reads_again(void **state)
{
	struct ipset_entry many[600], one[1] = {v4(0xc0000203, 443)};
	struct listed l = {0};

	many_v4(many, 600);
	eintr_reads = 1;
	assert_int_equal(ipset_add(h, SET4, AF_INET, many, 600, 300, "many.example.test"), 0);
	assert_int_equal(eintr_reads, 0);
	assert_int_equal(count(SET4), 600);
	eintr_reads = 1;
	assert_int_equal(ipset_add(h, "ngtest-missing", AF_INET, one, 1, 300, "x.example.test"),
	                 -1);
	eintr_reads = 1;
	assert_int_equal(ipset_list(h, SET4, AF_INET, list_cb, &l), 0);
	assert_int_equal(l.n, 600);
	/* and the exchanges after it still find their own answers */
	assert_int_equal(ipset_add(h, SET4, AF_INET, one, 1, 300, "x.example.test"), 0);
	assert_int_equal(count(SET4), 601);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_batch_all_ok, fresh_sets),
	    cmocka_unit_test_setup(test_batch_refusals_stay_apart, fresh_sets),
	    cmocka_unit_test_setup(test_batch_split, fresh_sets),
	    cmocka_unit_test_setup(test_list, fresh_sets),
	    cmocka_unit_test_setup(test_eintr_reads_again, fresh_sets),
	};
	int ret;

	/* 77: meson's "skipped". */
	if (unshare(CLONE_NEWNET) < 0) {
		perror("test_ipset: unshare(CLONE_NEWNET), skipping");
		return 77;
	}
	if (system("ipset version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_ipset: no ipset tool, skipping\n");
		return 77;
	}
	h = ipset_open();
	if (h == NULL) {
		fprintf(stderr, "test_ipset: no ipset in this kernel, skipping\n");
		return 77;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ipset_close(h);
	return ret;
}
