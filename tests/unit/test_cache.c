/*
 * cache: how long answers may be kept, hits aged by their age, expiry,
 * keys (name, qtype, DO), the size bound, and each answer stored once (a
 * hit from the template that stands in for it gives the same bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <malloc.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "cache.h"
#include "dnsmsg_fixture.h"
#include "hash.h"

static ldns_pkt *
answer(ldns_pkt_rcode rcode, const char *ans, const char *auth)
{
	ldns_pkt *p = NULL;
	ldns_rr *rr = NULL;

	assert_int_equal(
	    ldns_pkt_query_new_frm_str(&p, "www.x.test", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD),
	    LDNS_STATUS_OK);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	if (ans != NULL) {
		assert_int_equal(ldns_rr_new_frm_str(&rr, ans, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	if (auth != NULL) {
		rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, auth, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	return p;
}

static const char *soa = "x.test. 3600 IN SOA ns.x.test. h.x.test. 1 3600 600 86400 900";

static void
test_ttl(void **state)
{
	ldns_pkt *p;

	p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	assert_int_equal(cache_answer_ttl(p), 120);
	ldns_pkt_set_tc(p, true);
	assert_int_equal(cache_answer_ttl(p), 0);
	ldns_pkt_free(p);

	/* negative: min(SOA TTL, MINIMUM), capped at 300 */
	p = answer(LDNS_RCODE_NXDOMAIN, NULL, soa);
	assert_int_equal(cache_answer_ttl(p), CACHE_NEG_MAX_TTL);
	ldns_pkt_free(p);
	p = answer(LDNS_RCODE_NOERROR, NULL, "x.test. 30 IN SOA ns.x.test. h.x.test. 1 2 3 4 900");
	assert_int_equal(cache_answer_ttl(p), 30);
	ldns_pkt_free(p);
	p = answer(LDNS_RCODE_NXDOMAIN, NULL, NULL);
	assert_int_equal(cache_answer_ttl(p), 0);
	ldns_pkt_free(p);
	p = answer(LDNS_RCODE_SERVFAIL, NULL, NULL);
	assert_int_equal(cache_answer_ttl(p), 0);
	ldns_pkt_free(p);
}

static struct cache_entry *
put(struct cache *c, const char *name, uint16_t qtype, bool do_bit, ldns_pkt *p, uint64_t now)
{
	uint8_t *w = NULL;
	size_t len;
	struct cache_entry *e;

	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	e = cache_put(c, name, qtype, do_bit, p, w, len, now);
	free(w);
	return e;
}

/* A hit as the slow path sees it: found, parsed, aged by its age. */
static ldns_pkt *
cache_get(struct cache *c, const char *name, uint16_t qtype, bool do_bit, uint64_t now)
{
	struct cache_entry *e = cache_find(c, name, qtype, do_bit, now);
	ldns_pkt *p = e != NULL ? cache_entry_answer(c, e) : NULL;

	if (p != NULL)
		dnsmsg_age_cap(p, cache_entry_age(e, now), UINT32_MAX);
	return p;
}

/* How many of the names have an entry (type A, no DO) at now. */
static size_t
count(struct cache *c, const char *const *names, uint64_t now)
{
	size_t n = 0;

	for (; *names != NULL; names++)
		n += cache_find(c, *names, 1, false, now) != NULL;
	return n;
}

static void
test_hit_and_age(void **state)
{
	struct cache *c = cache_new(100);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	ldns_pkt *h;

	put(c, "www.x.test", 1, false, p, 1000);
	ldns_pkt_free(p);
	assert_null(cache_get(c, "www.x.test", 28, false, 1000));
	assert_null(cache_get(c, "www.x.test", 1, true, 1000));
	assert_null(cache_get(c, "ww.x.test", 1, false, 1000));

	h = cache_get(c, "www.x.test", 1, false, 1000 + 50500);
	assert_non_null(h);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(h), 0)), 70);
	ldns_pkt_free(h);

	/* expired */
	assert_null(cache_get(c, "www.x.test", 1, false, 1000 + 120000));
	assert_int_equal(count(c, (const char *const[]){"www.x.test", NULL}, 1000), 0);
	cache_free(c);
}

static void
test_bound(void **state)
{
	static const char *const all[] = {"a.test", "b.test", "c.test", "d.test", NULL};
	struct cache *c = cache_new(3);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	ldns_pkt *h;

	put(c, "a.test", 1, false, p, 0);
	put(c, "b.test", 1, false, p, 0);
	put(c, "c.test", 1, false, p, 0);
	/* touch a, so b is the least recently used */
	h = cache_get(c, "a.test", 1, false, 0);
	ldns_pkt_free(h);
	put(c, "d.test", 1, false, p, 0);
	assert_null(cache_get(c, "b.test", 1, false, 0));
	assert_int_equal(count(c, all, 0), 3);
	h = cache_get(c, "a.test", 1, false, 0);
	assert_non_null(h);
	ldns_pkt_free(h);
	/* replacing keeps one entry per key */
	put(c, "d.test", 1, false, p, 0);
	assert_int_equal(count(c, all, 0), 3);
	ldns_pkt_free(p);
	cache_free(c);
}

/* How many of n<lo>.test .. n<hi-1>.test have an entry at 0. */
static size_t
count_n(struct cache *c, int lo, int hi)
{
	char name[32];
	size_t n = 0;

	for (int i = lo; i < hi; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		n += cache_find(c, name, 1, false, 0) != NULL;
	}
	return n;
}

/* A new bound on reload keeps the most recently used entries up to it,
 * drops the rest, and grows the table for a larger one. */
static void
test_set_max(void **state)
{
	struct cache *c = cache_new(4);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	char name[32];
	ldns_pkt *h;

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		put(c, name, 1, false, p, 0);
	}
	/* n0 is now the most recently used, then n3, n2, n1 */
	h = cache_get(c, "n0.test", 1, false, 0);
	ldns_pkt_free(h);
	assert_int_equal(cache_set_max(c, 2), 0);
	assert_int_equal(count_n(c, 0, 4), 2);
	assert_null(cache_get(c, "n1.test", 1, false, 0));
	assert_null(cache_get(c, "n2.test", 1, false, 0));
	h = cache_get(c, "n3.test", 1, false, 0);
	assert_non_null(h);
	ldns_pkt_free(h);
	h = cache_get(c, "n0.test", 1, false, 0);
	assert_non_null(h);
	ldns_pkt_free(h);
	/* the smaller bound holds for new entries too */
	put(c, "n4.test", 1, false, p, 0);
	assert_int_equal(count_n(c, 0, 5), 2);

	/* larger: the entries stay and every one is still found in the
	 * bigger table, up to the new bound */
	assert_int_equal(cache_set_max(c, 1000), 0);
	assert_int_equal(count_n(c, 0, 5), 2);
	for (int i = 5; i < 1005; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		put(c, name, 1, false, p, 0);
	}
	assert_int_equal(count_n(c, 0, 1005), 1000);
	for (int i = 5; i < 1005; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		h = cache_get(c, name, 1, false, 0);
		assert_non_null(h);
		ldns_pkt_free(h);
	}
	assert_int_equal(cache_set_max(c, 0), 0); /* 0 counts as 1 */
	assert_int_equal(count_n(c, 0, 1005), 1);
	ldns_pkt_free(p);
	cache_free(c);
}

/* A hit may skip the gate only while the acknowledged set entries have
 * more than half of their timeout left and outlive the answer's TTL, only
 * for the answer that was acknowledged, and never after an invalidation. */
static void
test_fresh(void **state)
{
	struct cache *c = cache_new(100);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	struct cache_entry *s1, *s2;
	struct holds_ticket t;
	struct holds h;

	holds_init(&h);
	s1 = put(c, "www.x.test", 1, false, p, 1000);
	assert_non_null(s1);
	cache_entry_hold(s1);
	assert_null(cache_get(c, "www.x.test", 28, false, 1000));
	/* never acknowledged */
	assert_false(holds_fresh(&h, cache_entry_holds(s1), 1000, 120));

	t = holds_ticket(&h, 1000);
	holds_credit(&h, cache_entry_holds(s1), &t, 120);
	assert_true(holds_fresh(&h, cache_entry_holds(s1), 1000, 120));
	/* 50 s later the answer says 70 s: still within the first half */
	assert_true(holds_fresh(&h, cache_entry_holds(s1), 51000, 70));
	/* an answer claiming longer than the entries live */
	assert_false(holds_fresh(&h, cache_entry_holds(s1), 51000, 120));
	/* half of the timeout gone: refresh */
	assert_false(holds_fresh(&h, cache_entry_holds(s1), 61000, 60));

	/* an invalidation forgets it, and an ACK for a request sent before
	 * the invalidation does not count */
	holds_forget(&h);
	assert_false(holds_fresh(&h, cache_entry_holds(s1), 1000, 120));
	holds_credit(&h, cache_entry_holds(s1), &t, 120);
	assert_false(holds_fresh(&h, cache_entry_holds(s1), 1000, 120));

	/* a newer answer under the same key is not credited with the ACK of
	 * the older one, which the cache no longer finds */
	t = holds_ticket(&h, 1500);
	s2 = put(c, "www.x.test", 1, false, p, 2000);
	assert_true(s2 != s1);
	assert_ptr_equal(cache_find(c, "www.x.test", 1, false, 2000), s2);
	holds_credit(&h, cache_entry_holds(s1), &t, 120);
	assert_false(holds_fresh(&h, cache_entry_holds(s2), 2000, 120));
	t = holds_ticket(&h, 2000);
	holds_credit(&h, cache_entry_holds(s2), &t, 120);
	assert_true(holds_fresh(&h, cache_entry_holds(s2), 2000, 119));
	cache_entry_release(s1);
	ldns_pkt_free(p);
	cache_free(c);
}

/* The template of the key's entry, as the fast path asks for it. */
static bool
prepared(struct cache *c, const char *name, uint16_t qtype, uint64_t now,
         const struct cache_prep_key *k, size_t limit, struct cache_prepared *out)
{
	struct cache_entry *e = cache_find(c, name, qtype, false, now);

	return e != NULL && cache_entry_prepared(e, now, k, limit, out);
}

/* A prepared reply is reused only for the same entry, config, question
 * bytes but for case, class and EDNS presence, and only if it fits; it
 * says how old the entry is, so its TTLs can be aged. */
static void
test_prepared(void **state)
{
	static const uint8_t qname[] = "\3www\1x\4test";
	static const uint8_t upper[] = "\3WWW\1x\4test";
	static const uint8_t another[] = "\3wwx\1x\4test";
	/* a header and the question: the template's question is the name it
	 * was prepared for */
	static const uint8_t reply[] = {0x12, 0x34, 0x81, 0x80, 0,   1,   0, 1,   0, 0,
	                                0,    0,    3,    'w',  'w', 'w', 1, 'x', 4, 't',
	                                'e',  's',  't',  0,    0,   1,   0, 1};
	struct cache *c = cache_new(4);
	struct cache_prep_key k = {
	    .conf_gen = 1, .qname = qname, .qnamelen = sizeof(qname), .qclass = 1, .edns = false};
	struct dnsmsg_ttls ttls = {.n = 2, .off = {3, 9}, .val = {120, 7}};
	struct dnsmsg_addrs a1 = {.n = 1, .v = {{.family = AF_INET, .ip = {192, 0, 2, 1}}}};
	struct cache_prep_key other;
	struct cache_prepared out;
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	struct cache_entry *e = put(c, "www.x.test", LDNS_RR_TYPE_A, false, p, 1000), *old;

	assert_false(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 1000, &k, 512, &out));
	/* for an entry the cache replaced since: ignored */
	old = e;
	cache_entry_hold(old);
	e = put(c, "www.x.test", LDNS_RR_TYPE_A, false, p, 1000);
	cache_entry_prepare(old, &k, reply, sizeof(reply), &ttls, "192.0.2.1", &a1, 120, false);
	cache_entry_release(old);
	assert_false(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 1000, &k, 512, &out));
	cache_entry_prepare(e, &k, reply, sizeof(reply), &ttls, "192.0.2.1", &a1, 120, false);
	assert_true(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 1999, &k, 512, &out));
	assert_int_equal(out.len, sizeof(reply));
	assert_memory_equal(out.wire, reply, sizeof(reply));
	assert_string_equal(out.addrs, "192.0.2.1");
	assert_int_equal(out.naddrs, 1);
	assert_int_equal(out.addrv[0].family, AF_INET);
	assert_memory_equal(out.addrv[0].ip, a1.v[0].ip, 4);
	assert_int_equal(out.raw_ttl, 120);
	assert_int_equal(out.age, 0);
	assert_int_equal(out.ttls.n, 2);
	assert_int_equal(out.ttls.off[1], 9);
	assert_int_equal(out.ttls.val[0], 120);
	/* later: the same template, an older entry */
	assert_true(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 62000, &k, 512, &out));
	assert_int_equal(out.age, 61);
	/* the same name in other case: the same template (the caller writes
	 * its own question over it) */
	other = k;
	other.qname = upper;
	assert_true(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 1999, &other, 512, &out));
	assert_memory_equal(out.wire, reply, sizeof(reply));
	/* not for another key, config, question name, class, EDNS, size */
	assert_false(prepared(c, "www.x.test", LDNS_RR_TYPE_AAAA, 1999, &k, 512, &out));
	assert_null(cache_find(c, "www.x.test", LDNS_RR_TYPE_A, true, 1999));
	for (int v = 0; v < 4; v++) {
		other = k;
		if (v == 0)
			other.conf_gen = 2;
		else if (v == 1)
			other.qname = another;
		else if (v == 2)
			other.qclass = 3;
		else
			other.edns = true;
		assert_false(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 1999, &other, 512, &out));
	}
	assert_false(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 1999, &k, sizeof(reply) - 1, &out));
	/* a new answer under the key drops it */
	put(c, "www.x.test", LDNS_RR_TYPE_A, false, p, 1999);
	assert_false(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 1999, &k, 512, &out));
	/* expired entries have none */
	e = put(c, "www.x.test", LDNS_RR_TYPE_A, false, p, 2000);
	cache_entry_prepare(e, &k, reply, sizeof(reply), &ttls, "", NULL, 0, false);
	assert_true(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 2000, &k, 512, &out));
	assert_false(prepared(c, "www.x.test", LDNS_RR_TYPE_A, 2000 + 120000, &k, 512, &out));
	ldns_pkt_free(p);
	cache_free(c);
}

/* The bucket an unseeded FNV-1a over the key would pick among nb: what an
 * agent can compute without knowing the cache's seed. */
static uint32_t
fnv_unseeded(const char *name, uint16_t qtype, bool do_bit, uint32_t nb)
{
	uint32_t h = 2166136261u;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ (qtype & 0xff)) * 16777619u;
	h = (h ^ (qtype >> 8)) * 16777619u;
	h = (h ^ (do_bit ? 1u : 0u)) * 16777619u;
	return h & (nb - 1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds for `rounds` lookups of each name. */
static double
lookups(struct cache *c, char (*names)[32], size_t n, int rounds)
{
	double t0 = now_s();

	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i++)
			assert_non_null(cache_find(c, names[i], LDNS_RR_TYPE_A, false, 1000));
	return now_s() - t0;
}

/*
 * Hash flooding: names chosen (under a wildcard line) to share a bucket of
 * an unseeded hash cost no more to look up than any others, because the
 * cache's hash is seeded. A cache of 4096 entries has 8192 buckets.
 */
static void
test_flood(void **state)
{
	enum { N = 1500, NB = 8192, ROUNDS = 4 };
	static char evil[N][32], plain[N][32];
	struct cache *c = cache_new(4096);
	ldns_pkt *p = answer(LDNS_RCODE_NOERROR, "www.x.test. 120 IN A 192.0.2.1", NULL);
	uint32_t target = fnv_unseeded("aaaaaaaa.w.test", LDNS_RR_TYPE_A, false, NB);
	uint64_t x = 88172645463325252ULL;
	double t_evil, t_plain;
	size_t n = 0;

	(void)state;
	assert_non_null(c);
	while (n < N) {
		char name[32];

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		for (int i = 0; i < 8; i++)
			name[i] = (char)('a' + (x >> (5 * i)) % 26);
		memcpy(name + 8, ".w.test", 8);
		if (fnv_unseeded(name, LDNS_RR_TYPE_A, false, NB) == target)
			memcpy(evil[n++], name, sizeof(name));
	}
	for (size_t i = 0; i < N; i++) {
		snprintf(plain[i], sizeof(plain[i]), "p%zu.w.test", i);
		put(c, evil[i], LDNS_RR_TYPE_A, false, p, 1000);
		put(c, plain[i], LDNS_RR_TYPE_A, false, p, 1000);
	}
	/* The best of several, interleaved: the machine may be busy. */
	t_evil = t_plain = 1e9;
	for (int k = 0; k < 7; k++) {
		double a = lookups(c, plain, N, ROUNDS), b = lookups(c, evil, N, ROUNDS);

		t_plain = a < t_plain ? a : t_plain;
		t_evil = b < t_evil ? b : t_evil;
	}
	print_message("flood: %.2f ms for the colliding names, %.2f ms for the others\n",
	              t_evil * 1e3, t_plain * 1e3);
	/* Unseeded, a colliding lookup walks ~N/2 entries (x100 and more). */
	assert_true(t_evil < 4 * t_plain + 0.002);
	ldns_pkt_free(p);
	cache_free(c);
}

/* Fail closed: without a seed from getrandom (here a seccomp filter makes
 * it fail with ENOSYS, as an old kernel would) there is no cache, so the
 * resolver does not start with a guessable hash. */
static void
test_no_seed_no_cache(void **state)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getrandom, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t seed;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
			_exit(3);
		if (hash_seed(&seed) != -1)
			_exit(1);
		_exit(cache_new(16) == NULL ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* How a client asks (the name's case, EDNS, DO, transport and size). */
struct client {
	const char *name;
	int edns; /* the EDNS size it advertises, -1 for none */
	bool do_bit;
	bool udp;
};

static void
client_query(const struct client *cl, uint16_t id, struct dnsmsg_query *q)
{
	size_t len;
	uint8_t *w = query_wire(cl->name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, id, cl->edns, &len);

	assert_int_equal(dnsmsg_parse_query(w, len, &cfg, q), DNSMSG_QUERY);
	q->do_bit = cl->edns >= 0 && cl->do_bit;
	q->rd = id & 1;
	free(w);
}

/* An upstream's answer to name/A as wire bytes ("ans:", "ns:", "add:"
 * pick the section), with its own OPT record and AA and AD bits. */
static uint8_t *
upstream_wire(const char *name, ldns_pkt_rcode rcode, bool ad, bool do_bit, const char *const *rrs,
              size_t *len)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;

	assert_int_equal(
	    ldns_pkt_query_new_frm_str(&p, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD),
	    LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 77);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_aa(p, true);
	ldns_pkt_set_ad(p, ad);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	ldns_pkt_set_edns_udp_size(p, 4096);
	ldns_pkt_set_edns_do(p, do_bit);
	push_rrs(p, rrs);
	assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return w;
}

struct built {
	const struct conf *conf; /* NULL: cfg */
	uint8_t *w;
	size_t len;
	bool truncated;
	struct dnsmsg_addrs a;
	char text[256];
};

/* What the resolver makes of a parsed answer for q: filter, build. */
static void
build_for(ldns_pkt *pkt, const struct dnsmsg_query *q, bool udp, struct built *b)
{
	assert_non_null(pkt);
	dnsmsg_filter_answer_raw(pkt, q, b->conf != NULL ? b->conf : &cfg, &b->a);
	assert_int_equal(dnsmsg_build_reply(pkt, q, udp, &b->w, &b->len, &b->truncated), 0);
	dnsmsg_addrs_fmt(&b->a, b->text, sizeof(b->text));
	ldns_pkt_free(pkt);
}

static void
prep_key_of(const struct dnsmsg_query *q, uint32_t gen, struct cache_prep_key *k)
{
	k->conf_gen = gen;
	k->qname = ldns_rdf_data(q->qname);
	k->qnamelen = ldns_rdf_size(q->qname);
	k->qclass = q->qclass;
	k->edns = q->edns;
}

/* A miss as query.c's build_reply takes it: the answer is stored, built
 * for the client, and its template prepared. */
static void
miss(struct cache *c, const uint8_t *up, size_t len, const struct dnsmsg_query *q, bool udp,
     struct built *b)
{
	struct dnsmsg_ttls t;
	struct cache_prep_key k;
	struct cache_entry *e;
	ldns_pkt *pkt = NULL;

	assert_int_equal(dnsmsg_check_answer(up, len, 77, q, &pkt), DNSMSG_ANSWER_OK);
	e = cache_put(c, q->name, q->qtype, q->do_bit, pkt, up, len, 1000);
	assert_non_null(e);
	build_for(pkt, q, udp, b);
	if (!b->truncated && dnsmsg_reply_ttls(b->w, b->len, q->edns, &t) == 0) {
		prep_key_of(q, 1, &k);
		cache_entry_prepare(e, &k, b->w, b->len, &t, b->text, &b->a, b->a.ttl,
		                    !b->a.altered);
	}
}

/*
 * One answer, two clients: the first one's miss stores it and prepares
 * its template; the second one's hit (under conf2, NULL: the same config),
 * parsed from what the cache kept, must give the bytes, addresses and text
 * that the answer as received gives it, and so must the fast path where
 * its template fits.
 */
static void
same_bytes_conf(ldns_pkt_rcode rcode, bool ad, const char *const *rrs, const struct client *c1,
                const struct client *c2, const struct conf *conf2)
{
	struct dnsmsg_query q1, q2;
	struct built ref = {.conf = conf2}, first = {0}, hit = {.conf = conf2};
	struct cache_prep_key k;
	struct cache_prepared pr;
	struct cache *c = cache_new(8);
	struct cache_entry *e;
	ldns_pkt *pkt = NULL;
	size_t len;
	uint8_t *up = upstream_wire("www.x.test", rcode, ad, c1->do_bit, rrs, &len);

	client_query(c1, 0x1111, &q1);
	client_query(c2, 0x2222, &q2);
	assert_int_equal(q1.do_bit, q2.do_bit);
	/* today's reply: the answer as received, parsed for the second client */
	assert_int_equal(dnsmsg_check_answer(up, len, 77, &q2, &pkt), DNSMSG_ANSWER_OK);
	build_for(pkt, &q2, c2->udp, &ref);

	miss(c, up, len, &q1, c1->udp, &first);
	/* the received bytes are gone now */
	memset(up, 0, len);
	free(up);

	e = cache_find(c, q2.name, q2.qtype, q2.do_bit, 2000);
	assert_non_null(e);
	build_for(cache_entry_answer(c, e), &q2, c2->udp, &hit);
	assert_int_equal(hit.truncated, ref.truncated);
	assert_int_equal(hit.len, ref.len);
	assert_memory_equal(hit.w, ref.w, ref.len);
	assert_int_equal(hit.a.n, ref.a.n);
	assert_int_equal(hit.a.ttl, ref.a.ttl);
	assert_string_equal(hit.text, ref.text);

	prep_key_of(&q2, conf2 != NULL ? 2 : 1, &k);
	if (!ref.truncated &&
	    cache_entry_prepared(e, 2000, &k, dnsmsg_reply_limit(&q2, c2->udp), &pr)) {
		uint8_t buf[4096];

		assert_true(pr.len <= sizeof(buf));
		memcpy(buf, pr.wire, pr.len);
		assert_int_equal(dnsmsg_reply_retarget(buf, pr.len, &q2), 0);
		assert_int_equal(pr.len, ref.len);
		assert_memory_equal(buf, ref.w, ref.len);
		assert_string_equal(pr.addrs, ref.text);
		assert_int_equal(pr.naddrs, ref.a.n);
		assert_int_equal(pr.raw_ttl, ref.a.ttl);
	}
	free(ref.w);
	free(first.w);
	free(hit.w);
	dnsmsg_query_free(&q1);
	dnsmsg_query_free(&q2);
	cache_free(c);
}

static void
same_bytes(ldns_pkt_rcode rcode, bool ad, const char *const *rrs, const struct client *c1,
           const struct client *c2)
{
	same_bytes_conf(rcode, ad, rrs, c1, c2, NULL);
}

static void
test_store_once_same_bytes(void **state)
{
	static const char *const plain[] = {"ans:www.x.test. 300 IN A 203.0.113.1", NULL};
	/* a CNAME chain, mixed case in the records, glue off the chain */
	static const char *const chain[] = {"ans:WWW.x.Test. 100 IN CNAME Edge.CDN.test.",
	                                    "ans:edge.cdn.TEST. 900 IN CNAME e2.cdn.test.",
	                                    "ans:e2.cdn.test. 9000 IN A 203.0.113.1",
	                                    "ans:E2.cdn.test. 7200 IN A 203.0.113.2",
	                                    "ns:cdn.test. 86400 IN NS ns.cdn.test.",
	                                    "add:ns.cdn.test. 5000 IN A 203.0.113.9",
	                                    "add:ns.cdn.test. 5000 IN TXT \"glue\"",
	                                    NULL};
	/* filtered: an address off the chain, over max_addrs (4) */
	static const char *const filtered[] = {"ans:www.x.test. 300 IN A 203.0.113.1",
	                                       "ans:www.x.test. 300 IN A 203.0.113.2",
	                                       "ans:www.x.test. 300 IN A 203.0.113.3",
	                                       "ans:www.x.test. 300 IN A 203.0.113.4",
	                                       "ans:www.x.test. 300 IN A 203.0.113.5",
	                                       "add:evil.test. 300 IN A 198.51.100.66",
	                                       NULL};
	/* DNSSEC records along (the DO bit) */
	static const char *const signed_[] = {
	    "ans:www.x.test. 300 IN A 203.0.113.1",
	    "ans:www.x.test. 300 IN RRSIG A 13 3 300 20300101000000 20200101000000 12345 x.test. "
	    "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=",
	    NULL};
	static const char *const nodata[] = {
	    "ns:x.test. 900 IN SOA ns.x.test. h.x.test. 1 3600 600 86400 900", NULL};
	/* too big for 512 bytes: TC=1 for a UDP client without EDNS */
	static const char *big[40];
	static char bigtxt[30][96];
	static const struct client clients[] = {
	    {"www.x.test", -1, false, true},   {"WwW.X.tESt", -1, false, true},
	    {"www.X.test", 1232, false, true}, {"WWW.X.TEST", 4096, false, false},
	    {"www.x.test", 512, false, true},  {"wWw.x.test", -1, false, false},
	};
	static const struct client dnssec[] = {
	    {"www.x.test", 1232, true, true},
	    {"WWW.x.test", 4096, true, false},
	    {"www.x.TEST", 600, true, true},
	};
	size_t nc = sizeof(clients) / sizeof(clients[0]), nd = sizeof(dnssec) / sizeof(dnssec[0]);
	struct conf wider = cfg;

	big[0] = "ans:www.x.test. 300 IN A 203.0.113.1";
	for (size_t i = 0; i < 30; i++) {
		snprintf(bigtxt[i], sizeof(bigtxt[i]), "add:www.x.test. 300 IN TXT \"%040zu\"", i);
		big[i + 1] = bigtxt[i];
	}
	big[31] = NULL;
	for (size_t i = 0; i < nc; i++) {
		for (size_t j = 0; j < nc; j++) {
			same_bytes(LDNS_RCODE_NOERROR, false, plain, &clients[i], &clients[j]);
			same_bytes(LDNS_RCODE_NOERROR, true, chain, &clients[i], &clients[j]);
			same_bytes(LDNS_RCODE_NOERROR, false, filtered, &clients[i], &clients[j]);
			same_bytes(LDNS_RCODE_NOERROR, false, nodata, &clients[i], &clients[j]);
			same_bytes(LDNS_RCODE_NXDOMAIN, false, nodata, &clients[i], &clients[j]);
			same_bytes(LDNS_RCODE_NOERROR, false, big, &clients[i], &clients[j]);
		}
	}
	for (size_t i = 0; i < nd; i++) {
		for (size_t j = 0; j < nd; j++) {
			same_bytes(LDNS_RCODE_NOERROR, true, signed_, &dnssec[i], &dnssec[j]);
			same_bytes(LDNS_RCODE_NOERROR, false, big, &dnssec[i], &dnssec[j]);
		}
	}
	/* A reload that lets more through: what the first config filtered
	 * out is still there under the second (the answer was kept as
	 * received, since its template lacks some of it). */
	wider.max_addrs = 8;
	for (size_t i = 0; i < nc; i++) {
		same_bytes_conf(LDNS_RCODE_NOERROR, false, filtered, &clients[i], &clients[i],
		                &wider);
		same_bytes_conf(LDNS_RCODE_NOERROR, true, chain, &clients[i], &clients[i], &wider);
	}
}

/*
 * What a cached answer costs in memory: a one-A answer with its template
 * prepared, as after a miss, is kept once (the entry, its template with
 * the addresses and their text): at most 320 bytes of heap a name, as
 * malloc counts them (kept twice, with the bytes as received: ~410).
 * Skipped where malloc is not glibc's (ASan).
 */
static void
test_store_once_bytes(void **state)
{
	enum { N = 2000 };
	struct cache *c = cache_new(N);
	struct mallinfo2 m0, m1;
	size_t per;

	m0 = mallinfo2();
	for (unsigned i = 0; i < N; i++) {
		char name[32], rr[96];
		const char *rrs[] = {rr, NULL};
		struct client cl = {name, -1, false, true};
		struct dnsmsg_query q;
		struct built b = {0};
		uint8_t *up;
		size_t len;

		snprintf(name, sizeof(name), "q%07u.cdn.test", i);
		snprintf(rr, sizeof(rr), "ans:%s. 3600 IN A 198.18.%u.%u", name, 16 + i / 256,
		         i % 256);
		client_query(&cl, 1, &q);
		up = upstream_wire(name, LDNS_RCODE_NOERROR, false, false, rrs, &len);
		miss(c, up, len, &q, true, &b);
		free(b.w);
		free(up);
		dnsmsg_query_free(&q);
	}
	m1 = mallinfo2();
	if (m1.uordblks <= m0.uordblks) {
		cache_free(c);
		skip();
	}
	per = (m1.uordblks - m0.uordblks) / N;
	printf("cache: %zu bytes of heap per cached one-A answer\n", per);
	assert_true(per <= 320);
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_hit_and_age),
	    cmocka_unit_test(test_bound),
	    cmocka_unit_test(test_fresh),
	    cmocka_unit_test(test_prepared),
	    cmocka_unit_test(test_flood),
	    cmocka_unit_test(test_no_seed_no_cache),
	    cmocka_unit_test(test_set_max),
	    cmocka_unit_test_setup_teardown(test_store_once_same_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_once_bytes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
