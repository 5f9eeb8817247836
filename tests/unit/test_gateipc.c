/* Gate messages: a well-formed round trip, then every corruption refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "gateipc.h"

static const uint8_t ip4[4] = {192, 0, 2, 1};
static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static struct gateipc_allow *
good_allow(void)
{
	struct gateipc_allow *m = malloc(sizeof(*m));

	assert_non_null(m);
	/* Garbage first: init must zero every byte. */
	memset(m, 0xa5, sizeof(*m));
	assert_int_equal(gateipc_allow_init(m, 42, "api.example.test", 300), 0);
	assert_int_equal(gateipc_allow_add(m, AF_INET, ip4), 0);
	assert_int_equal(gateipc_allow_add(m, AF_INET6, ip6), 0);
	return m;
}

static void
expect_bad(const struct gateipc_allow *m, size_t len)
{
	const char *err = NULL;

	assert_int_equal(gateipc_allow_check(m, len, &err), -1);
	assert_non_null(err);
}

static void
test_allow_roundtrip(void **state)
{
	struct gateipc_allow *m = good_allow();
	const char *err = NULL;
	uint8_t *bytes;

	assert_int_equal(gateipc_allow_len(m), offsetof(struct gateipc_allow, addrs[2]));
	assert_int_equal(gateipc_allow_check(m, gateipc_allow_len(m), &err), 0);
	/* only the used slots go on the wire */
	expect_bad(m, sizeof(*m));
	assert_int_equal(m->type, GATEIPC_ALLOW);
	assert_int_equal(m->version, GATEIPC_VERSION);
	assert_int_equal(m->id, 42);
	assert_int_equal(m->ttl, 300);
	assert_int_equal(m->naddrs, 2);
	assert_string_equal(m->name, "api.example.test");
	assert_int_equal(m->addrs[0].family, AF_INET);
	assert_memory_equal(m->addrs[0].ip, ip4, 4);
	assert_int_equal(m->addrs[1].family, AF_INET6);
	assert_memory_equal(m->addrs[1].ip, ip6, 16);
	/* No stale bytes anywhere after the used part. */
	bytes = (uint8_t *)&m->addrs[2];
	for (size_t i = 0; i < sizeof(*m) - offsetof(struct gateipc_allow, addrs[2]); i++)
		assert_int_equal(bytes[i], 0);
	free(m);
}

static void
test_allow_init_errors(void **state)
{
	struct gateipc_allow *m = malloc(sizeof(*m));
	size_t i;

	assert_non_null(m);
	assert_int_equal(gateipc_allow_init(m, 1, "Upper.Case", 1), -1);
	assert_int_equal(gateipc_allow_init(m, 1, "trailing.dot.", 1), -1);
	assert_int_equal(gateipc_allow_init(m, 1, "", 1), -1);
	assert_int_equal(gateipc_allow_init(m, 1, "a..b", 1), -1);
	assert_int_equal(gateipc_allow_init(m, 1, "ok.test", 1), 0);
	assert_int_equal(gateipc_allow_add(m, AF_UNIX, ip4), -1);
	for (i = 0; i < GATEIPC_MAX_ADDRS; i++)
		assert_int_equal(gateipc_allow_add(m, AF_INET, ip4), 0);
	assert_int_equal(gateipc_allow_add(m, AF_INET, ip4), -1);
	assert_int_equal(m->naddrs, GATEIPC_MAX_ADDRS);
	{
		const char *err;

		assert_int_equal(gateipc_allow_len(m), sizeof(*m));
		assert_int_equal(gateipc_allow_check(m, sizeof(*m), &err), 0);
	}
	free(m);
}

/* Each corruption, applied to a fresh good message, must be refused. */
static void
test_allow_corrupt(void **state)
{
	struct gateipc_allow *m;
	char *big;

	m = good_allow();
	expect_bad(m, gateipc_allow_len(m) - 1);
	expect_bad(m, gateipc_allow_len(m) + 1);
	expect_bad(m, offsetof(struct gateipc_allow, addrs));
	expect_bad(m, 0);
	big = calloc(1, sizeof(*m) + 1);
	assert_non_null(big);
	memcpy(big, m, sizeof(*m));
	expect_bad((const struct gateipc_allow *)(const void *)big, sizeof(*m) + 1);
	free(big);
	free(m);

#define CORRUPT(stmt)                                                                              \
	do {                                                                                       \
		m = good_allow();                                                                  \
		stmt;                                                                              \
		expect_bad(m, offsetof(struct gateipc_allow, addrs[2]));                           \
		free(m);                                                                           \
	} while (0)

	CORRUPT(m->type = GATEIPC_ACK);
	CORRUPT(m->type = 0);
	CORRUPT(m->version = GATEIPC_VERSION + 1);
	CORRUPT(m->naddrs = 0);
	CORRUPT(m->naddrs = GATEIPC_MAX_ADDRS + 1);
	CORRUPT(m->naddrs = 0xffff);
	CORRUPT(m->pad = 1);
	/* Name: unterminated, garbage after the NUL, not normalized. */
	CORRUPT(memset(m->name, 'a', sizeof(m->name)));
	CORRUPT(m->name[sizeof(m->name) - 1] = 'x');
	CORRUPT(m->name[strlen(m->name) + 1] = 'x');
	CORRUPT(m->name[0] = 'A');
	CORRUPT(m->name[3] = '.'; m->name[4] = '.');
	CORRUPT(memset(m->name, 0, sizeof(m->name)));
	CORRUPT(strcpy(m->name, "a.test."));
	CORRUPT(strcpy(m->name, "*.test"));
	CORRUPT(strcpy(m->name, "a b.test"));
	/* Addresses. */
	CORRUPT(m->addrs[0].family = AF_UNIX);
	CORRUPT(m->addrs[1].family = 0);
	CORRUPT(m->addrs[0].pad[2] = 1);
	CORRUPT(m->addrs[0].ip[4] = 1);
	CORRUPT(m->addrs[0].ip[15] = 1);
	/* One more or one less address counted than the length holds. */
	CORRUPT(m->naddrs = 3);
	CORRUPT(m->naddrs = 1);
#undef CORRUPT
}

static void
test_ack(void **state)
{
	struct gateipc_ack a;
	const char *err = NULL;
	char big[sizeof(a) + 1];

	memset(&a, 0xa5, sizeof(a));
	gateipc_ack_init(&a, 7, GATEIPC_ERR_KERNEL, 5);
	assert_int_equal(gateipc_ack_check(&a, sizeof(a), &err), 0);
	assert_int_equal(a.type, GATEIPC_ACK);
	assert_int_equal(a.version, GATEIPC_VERSION);
	assert_int_equal(a.id, 7);
	assert_int_equal(a.status, GATEIPC_ERR_KERNEL);
	assert_int_equal(a.removals, 5);

	assert_int_equal(gateipc_ack_check(&a, sizeof(a) - 1, &err), -1);
	memcpy(big, &a, sizeof(a));
	big[sizeof(a)] = 0;
	assert_int_equal(gateipc_ack_check(big, sizeof(big), &err), -1);
	a.type = GATEIPC_ALLOW;
	assert_int_equal(gateipc_ack_check(&a, sizeof(a), &err), -1);
	gateipc_ack_init(&a, 7, GATEIPC_OK, 0);
	a.version = 0;
	assert_int_equal(gateipc_ack_check(&a, sizeof(a), &err), -1);
	gateipc_ack_init(&a, 7, GATEIPC_OK, 0);
	a.status = 99;
	assert_int_equal(gateipc_ack_check(&a, sizeof(a), &err), -1);
	/* An ALLOW is not an ACK, whatever its length. */
	{
		struct gateipc_allow *m = good_allow();

		assert_int_equal(gateipc_ack_check(m, sizeof(*m), &err), -1);
		assert_int_equal(gateipc_ack_check(m, gateipc_allow_len(m), &err), -1);
		free(m);
	}
}

static void
good_who(struct gateipc_who *m)
{
	memset(m, 0xa5, sizeof(*m));
	assert_int_equal(gateipc_who_init(m, 9, IPPROTO_UDP, AF_INET, ip4, 40000, ip4, 53), 0);
}

static void
expect_bad_who(const struct gateipc_who *m)
{
	const char *err = NULL;

	assert_int_equal(gateipc_who_check(m, sizeof(*m), &err), -1);
	assert_non_null(err);
}

static void
test_who(void **state)
{
	struct gateipc_who m;
	const char *err = NULL;
	uint8_t big[sizeof(m) + 1];

	good_who(&m);
	assert_int_equal(gateipc_who_check(&m, sizeof(m), &err), 0);
	assert_int_equal(gateipc_type(&m, sizeof(m)), GATEIPC_WHO);
	assert_int_equal(m.id, 9);
	assert_int_equal(m.cport, 40000);
	assert_int_equal(m.lport, 53);
	/* init zeroed every byte: no garbage after the IPv4 addresses */
	for (size_t i = 4; i < 16; i++)
		assert_int_equal(m.client[i] | m.listen[i], 0);
	assert_int_equal(gateipc_who_init(&m, 1, IPPROTO_TCP, AF_INET6, ip6, 1, ip6, 53), 0);
	assert_int_equal(gateipc_who_check(&m, sizeof(m), &err), 0);
	/* what init refuses */
	assert_int_equal(gateipc_who_init(&m, 1, IPPROTO_ICMP, AF_INET, ip4, 1, ip4, 53), -1);
	assert_int_equal(gateipc_who_init(&m, 1, IPPROTO_UDP, AF_UNIX, ip4, 1, ip4, 53), -1);
	assert_int_equal(gateipc_who_init(&m, 1, IPPROTO_UDP, AF_INET, ip4, 0, ip4, 53), -1);
	assert_int_equal(gateipc_who_init(&m, 1, IPPROTO_UDP, AF_INET, ip4, 1, ip4, 0), -1);
	/* every corruption refused */
	good_who(&m);
	assert_int_equal(gateipc_who_check(&m, sizeof(m) - 1, &err), -1);
	memcpy(big, &m, sizeof(m));
	big[sizeof(m)] = 0;
	assert_int_equal(gateipc_who_check(big, sizeof(big), &err), -1);
	good_who(&m);
	m.type = GATEIPC_ALLOW;
	expect_bad_who(&m);
	good_who(&m);
	m.version++;
	expect_bad_who(&m);
	good_who(&m);
	m.proto = IPPROTO_ICMP;
	expect_bad_who(&m);
	good_who(&m);
	m.family = AF_UNIX;
	expect_bad_who(&m);
	good_who(&m);
	m.pad = 1;
	expect_bad_who(&m);
	good_who(&m);
	m.cport = 0;
	expect_bad_who(&m);
	good_who(&m);
	m.lport = 0;
	expect_bad_who(&m);
	good_who(&m);
	m.client[4] = 1;
	expect_bad_who(&m);
	good_who(&m);
	m.listen[15] = 1;
	expect_bad_who(&m);
	/* A WHO is no ALLOW and no reply. */
	good_who(&m);
	assert_int_equal(gateipc_allow_check(&m, sizeof(m), &err), -1);
	assert_int_equal(gateipc_who_reply_check(&m, sizeof(m), &err), -1);
}

static void
test_who_reply(void **state)
{
	struct gateipc_who_reply r;
	const char *err = NULL;
	char longexe[400];

	memset(&r, 0xa5, sizeof(r));
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_FOUND, 1234, "curl", "/usr/bin/curl");
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), 0);
	assert_int_equal(r.pid, 1234);
	assert_string_equal(r.comm, "curl");
	assert_string_equal(r.exe, "/usr/bin/curl");
	/* cut to fit, still terminated and valid */
	memset(longexe, 'x', sizeof(longexe) - 1);
	longexe[sizeof(longexe) - 1] = '\0';
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_FOUND, 1, "a-very-long-command-name", longexe);
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), 0);
	assert_int_equal(strlen(r.comm), GATEIPC_COMM_MAX - 1);
	assert_int_equal(strlen(r.exe), GATEIPC_EXE_MAX - 1);
	/* no pid without FOUND, and no names */
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_GONE, 77, "x", "/x");
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), 0);
	assert_int_equal(r.pid, -1);
	assert_string_equal(r.comm, "");
	assert_string_equal(gateipc_why_name((enum gateipc_why)r.why), "gone");
	/* FOUND with no pid says none; NOGATE is never on the wire */
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_FOUND, 0, "x", "/x");
	assert_int_equal(r.why, GATEIPC_WHY_NONE);
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_NOGATE, -1, NULL, NULL);
	assert_int_equal(r.why, GATEIPC_WHY_NONE);
	assert_string_equal(gateipc_why_name(GATEIPC_WHY_NOGATE), "nogate");
	/* corruptions */
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_FOUND, 5, "c", "/c");
	r.pid = -1;
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), -1);
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_BUSY, -1, NULL, NULL);
	r.pid = 5;
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), -1);
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_BUSY, -1, NULL, NULL);
	r.comm[0] = 'x';
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), -1);
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_BUSY, -1, NULL, NULL);
	r.why = GATEIPC_WHY_NOGATE;
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), -1);
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_FOUND, 5, "c", "/c");
	memset(r.comm, 'c', sizeof(r.comm));
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), -1);
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_FOUND, 5, "c", "/c");
	r.exe[sizeof(r.exe) - 1] = 'e'; /* a byte after the NUL */
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), -1);
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_FOUND, 5, "c", "/c");
	r.version = 0;
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r), &err), -1);
	assert_int_equal(gateipc_who_reply_check(&r, sizeof(r) - 1, &err), -1);
	/* A reply is no ACK. */
	gateipc_who_reply_init(&r, 9, GATEIPC_WHY_BUSY, -1, NULL, NULL);
	assert_int_equal(gateipc_ack_check(&r, sizeof(struct gateipc_ack), &err), -1);
	assert_int_equal(gateipc_type(&r, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allow_roundtrip),
	    cmocka_unit_test(test_allow_init_errors),
	    cmocka_unit_test(test_allow_corrupt),
	    cmocka_unit_test(test_ack),
	    cmocka_unit_test(test_who),
	    cmocka_unit_test(test_who_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
