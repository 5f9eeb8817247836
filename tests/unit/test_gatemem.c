/* The gate's memory under a flood of fresh names through one wildcard
 * line: the address map and the entry map, driven as gatesrv drives them
 * (an ALLOW per fresh name, one address, tcp/443 and tcp/80, the line
 * trimmed to max_per_line after each batch). Heap bytes per fresh name are
 * held under a bound, and the heap after a long flood stays inside what
 * the pod's 64 MiB leaves the gate. */
#include <malloc.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "addrmap.h"
#include "conf.h"
#include "entrymap.h"

struct flood {
	struct addrmap *map;
	struct entrymap *emap;
	uint64_t now;
};

/* As gatesrv's entry_live. */
#ifdef ADDRMAP_EVICT_SCAN
static bool
live(void *arg, int family, const uint8_t *ip, uint8_t proto, uint16_t port)
{
	const struct flood *f = arg;

	return entrymap_live(f->emap, family, ip, proto, port, f->now);
}
#endif

static void
flood_init(struct flood *f)
{
	f->map = addrmap_new(ADDRMAP_DEFAULT_MAX, 7);
	f->emap = entrymap_new(9);
	f->now = 1000;
	assert_non_null(f->map);
	assert_non_null(f->emap);
#ifdef ADDRMAP_EVICT_SCAN
	addrmap_set_held(f->map, live, f);
#endif
}

static void
flood_free(struct flood *f)
{
	addrmap_free(f->map);
	entrymap_free(f->emap);
}

/* Fresh name i: one address (198.18.0.0/15, then 2001:db8::/32). */
static void
fresh(struct flood *f, uint32_t i, uint32_t max_per_line)
{
	static const uint32_t line0[] = {0};
	struct portlist pl = {2, {{IPPROTO_TCP, 443}, {IPPROTO_TCP, 80}}};
	struct ipset_entry e, out[64];
	struct addrmap_name *nm;
	char name[64];

	memset(&e, 0, sizeof(e));
	if (i < 131072) {
		e.family = AF_INET;
		e.ip[0] = 198;
		e.ip[1] = (uint8_t)(18 + (i >> 16));
		e.ip[2] = (uint8_t)(i >> 8);
		e.ip[3] = (uint8_t)i;
	} else {
		e.family = AF_INET6;
		e.ip[0] = 0x20;
		e.ip[1] = 0x01;
		e.ip[2] = 0x0d;
		e.ip[3] = 0xb8;
		e.ip[12] = (uint8_t)(i >> 24);
		e.ip[13] = (uint8_t)(i >> 16);
		e.ip[14] = (uint8_t)(i >> 8);
		e.ip[15] = (uint8_t)i;
	}
	f->now += 1;
	for (size_t k = 0; k < pl.n; k++) {
		e.proto = pl.v[k].proto;
		e.port = pl.v[k].port;
		assert_int_not_equal(entrymap_add(f->emap, &e, 3600, line0, 1, f->now, i + 1), 0);
	}
	while (entrymap_trim(f->emap, 0, max_per_line, f->now, i + 1, out, 64) == 64)
		;
	snprintf(name, sizeof(name), "x%07u.agent.cdn.test", (unsigned)i);
	nm = addrmap_name_new(name, &pl);
	assert_non_null(nm);
	assert_int_equal(addrmap_put(f->map, e.family, e.ip, nm, f->now + 3600 * 1000), 0);
	addrmap_name_unref(nm);
}

static long
rss_kib(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[128];
	long kib = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	}
	fclose(fp);
	return kib;
}

/* Whether mallinfo2 counts this process's heap: not where malloc is not
 * glibc's (ASan), and there the byte counts below are skipped. */
static bool
heap_counted(void)
{
	struct mallinfo2 a = mallinfo2(), b;
	volatile char *p = malloc(4096);

	if (p != NULL)
		p[0] = 1;
	b = mallinfo2();
	free((void *)p);
	return b.uordblks > a.uordblks;
}

/* Bytes of heap one fresh name costs while nothing is evicted yet. */
static void
test_bytes_per_name(void **state)
{
	enum { N = 4000 };
	struct mallinfo2 m0, m1, m2;
	struct flood f;
	size_t per_addr, per_ent;

	if (!heap_counted())
		skip();
	flood_init(&f);
	m0 = mallinfo2();
	for (uint32_t i = 0; i < N; i++)
		fresh(&f, i, CONF_DEFAULT_MAX_PER_LINE);
	m1 = mallinfo2();
	/* The entry map's part alone: the same entries again, fresh. */
	entrymap_free(f.emap);
	f.emap = entrymap_new(9);
	m2 = mallinfo2();
	assert_true(m1.uordblks > m0.uordblks);
	per_ent = 0;
	{
		struct entrymap *em = entrymap_new(3);
		struct mallinfo2 a = mallinfo2(), b;
		static const uint32_t line0[] = {0};

		for (uint32_t i = 0; i < N; i++) {
			struct ipset_entry e;

			memset(&e, 0, sizeof(e));
			e.family = AF_INET;
			e.ip[0] = 198;
			e.ip[1] = 18;
			e.ip[2] = (uint8_t)(i >> 8);
			e.ip[3] = (uint8_t)i;
			e.proto = IPPROTO_TCP;
			e.port = 443;
			entrymap_add(em, &e, 60, line0, 1, 1000, 1);
		}
		b = mallinfo2();
		per_ent = (b.uordblks - a.uordblks) / N;
		entrymap_free(em);
	}
	per_addr = (m1.uordblks - m0.uordblks - 2 * N * per_ent) / N;
	printf("gatemem: %zu bytes of heap per set entry (entry map), %zu per fresh name and its "
	       "address (address map)\n",
	       per_ent, per_addr);
	(void)m2;
	assert_true(per_ent <= 128);
	assert_true(per_addr <= 200);
	flood_free(&f);
	(void)state;
}

/* 250,000 fresh names under max_per_line; returns the heap the two maps
 * keep at the end, and prints what they hold on the way. */
static size_t
flood_run(uint32_t max_per_line)
{
	static const uint32_t marks[] = {10000, 50000, 100000, 250000};
	struct mallinfo2 m0, m;
	struct flood f;
	uint32_t i = 0;
	size_t heap = 0;

	flood_init(&f);
	m0 = mallinfo2();
	printf("gatemem: max_per_line %u: VmRSS %ld KiB at start\n", (unsigned)max_per_line,
	       rss_kib());
	for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
		for (; i < marks[k]; i++)
			fresh(&f, i, max_per_line);
		m = mallinfo2();
		heap = m.uordblks - m0.uordblks;
		printf("gatemem: %u fresh names: %zu addresses, %zu entries, heap %zu KiB, VmRSS "
		       "%ld KiB\n",
		       (unsigned)i, addrmap_count(f.map), entrymap_count(f.emap), heap / 1024,
		       rss_kib());
	}
	flood_free(&f);
	return heap;
}

/* Under the default max_per_line the heap the two maps keep stays under
 * 16 MiB however many fresh names come. The bench's 1,048,576 only prints:
 * there the sets hold every address, and so does the map. */
static void
test_flood_bounded(void **state)
{
	if (!heap_counted())
		skip();
	assert_true(flood_run(CONF_DEFAULT_MAX_PER_LINE) <= (size_t)16 << 20);
	flood_run(CONF_SET_MAXELEM);
	(void)state;
}

#ifdef ADDRMAP_EVICT_SCAN
static bool held_v[8];

static bool
held_by_last(void *arg, int family, const uint8_t *ip, uint8_t proto, uint16_t port)
{
	(void)arg;
	(void)family;
	return proto == IPPROTO_TCP && port == 443 && held_v[ip[3] % 8];
}

static struct addrmap_name *
name_of(const char *name)
{
	struct portlist pl = {1, {{IPPROTO_TCP, 443}}};

	return addrmap_name_new(name, &pl);
}

/* Full, the map evicts the oldest address no set holds; one a set holds
 * keeps its name, and when every candidate is held the map outgrows its
 * bound rather than forget one. */
static void
test_held_not_evicted(void **state)
{
	struct addrmap *m = addrmap_new(4, 5);
	struct addrmap_name *nm = name_of("a.test");
	uint8_t ip[16] = {192, 0, 2, 0};

	assert_non_null(m);
	memset(held_v, 0, sizeof(held_v));
	held_v[0] = held_v[1] = true;
	addrmap_set_held(m, held_by_last, NULL);
	for (uint8_t i = 0; i < 6; i++) {
		ip[3] = i;
		assert_int_equal(addrmap_put(m, AF_INET, ip, nm, 10000), 0);
	}
	assert_int_equal(addrmap_count(m), 4);
	ip[3] = 0;
	assert_non_null(addrmap_get(m, AF_INET, ip)); /* oldest, but held */
	ip[3] = 1;
	assert_non_null(addrmap_get(m, AF_INET, ip));
	ip[3] = 2;
	assert_null(addrmap_get(m, AF_INET, ip)); /* the oldest not held */
	ip[3] = 3;
	assert_null(addrmap_get(m, AF_INET, ip));
	/* all held: the map grows past its bound */
	memset(held_v, 1, sizeof(held_v));
	for (uint8_t i = 6; i < 8; i++) {
		ip[3] = i;
		assert_int_equal(addrmap_put(m, AF_INET, ip, nm, 10000), 0);
	}
	assert_int_equal(addrmap_count(m), 6);
	/* and stays within the grown bound once nothing is held */
	memset(held_v, 0, sizeof(held_v));
	for (uint8_t i = 8; i < 40; i++) {
		ip[3] = i;
		assert_int_equal(addrmap_put(m, AF_INET, ip, nm, 10000), 0);
	}
	assert_true(addrmap_count(m) <= 8);
	ip[3] = 39;
	assert_non_null(addrmap_get(m, AF_INET, ip));
	addrmap_name_unref(nm);
	addrmap_free(m);
	(void)state;
}

/* One address handed out for more names than the inline slot: all of the
 * newest ADDRMAP_NAMES are bound, each with its own ports. */
static void
test_many_names(void **state)
{
	struct addrmap *m = addrmap_new(4, 5);
	uint8_t ip[16] = {192, 0, 2, 9};
	const struct addrmap_entry *e;
	char name[32], buf[1024];

	assert_non_null(m);
	for (unsigned i = 0; i < ADDRMAP_NAMES + 2; i++) {
		struct portlist pl = {1, {{IPPROTO_TCP, (uint16_t)(1000 + i)}}};
		struct addrmap_name *nm;

		snprintf(name, sizeof(name), "n%u.test", i);
		nm = addrmap_name_new(name, &pl);
		assert_non_null(nm);
		assert_int_equal(addrmap_put(m, AF_INET, ip, nm, 10000 + i), 0);
		addrmap_name_unref(nm);
	}
	e = addrmap_get(m, AF_INET, ip);
	assert_non_null(e);
	assert_false(addrmap_bound_to(e, "n0.test", IPPROTO_TCP, 1000, 5000));
	assert_false(addrmap_bound_to(e, "n1.test", IPPROTO_TCP, 1001, 5000));
	for (unsigned i = 2; i < ADDRMAP_NAMES + 2; i++) {
		snprintf(name, sizeof(name), "n%u.test", i);
		assert_true(addrmap_bound_to(e, name, IPPROTO_TCP, (uint16_t)(1000 + i), 5000));
		assert_false(addrmap_bound_to(e, name, IPPROTO_TCP, (uint16_t)(999 + i), 5000));
	}
	assert_string_equal(e->nm->name, "n17.test");
	assert_true(addrmap_name_has_port(e->nm, IPPROTO_TCP, 1017));
	assert_false(addrmap_name_has_port(e->nm, IPPROTO_UDP, 1017));
	addrmap_names_fmt(e, 5000, buf, sizeof(buf));
	assert_non_null(strstr(buf, "n2.test"));
	assert_null(strstr(buf, "n1.test,"));
	addrmap_free(m);
	(void)state;
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bytes_per_name),
	    cmocka_unit_test(test_flood_bounded),
#ifdef ADDRMAP_EVICT_SCAN
	    cmocka_unit_test(test_held_not_evicted),
	    cmocka_unit_test(test_many_names),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
