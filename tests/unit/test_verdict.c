/* Verdicts for queued packets (every reason, audit, drop vs reject, the deny
 * mark), the address map behind them, and the log rate limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "addrmap.h"
#include "kernel.h"
#include "verdict.h"

static const uint8_t ip_a[4] = {192, 0, 2, 10};
static const uint8_t ip_b[4] = {192, 0, 2, 11};

static struct flow
tcp_flow(const uint8_t *dst, uint16_t dport)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.family = AF_INET;
	f.proto = IPPROTO_TCP;
	memcpy(f.dst, dst, 4);
	f.has_ports = true;
	f.sport = 40000;
	f.dport = dport;
	return f;
}

/* A map with ip_a handed out for www.lab.test (tcp/443) until t=10000. */
static struct addrmap *
sample_map(void)
{
	struct addrmap *m = addrmap_new(16, 1);
	struct portlist pl = {0};
	struct addrmap_name *nm;

	assert_non_null(m);
	pl.v[0].proto = IPPROTO_TCP;
	pl.v[0].port = 443;
	pl.n = 1;
	nm = addrmap_name_new("www.lab.test", &pl);
	assert_non_null(nm);
	assert_int_equal(addrmap_put(m, AF_INET, ip_a, nm, 10000), 0);
	addrmap_name_unref(nm);
	return m;
}

static void
decide(const struct flow *f, uint32_t mark, const struct addrmap *m, enum gate_mode mode,
       enum on_deny od, uint64_t now, struct verdict *v)
{
	const struct addrmap_entry *e = f != NULL ? addrmap_get(m, f->family, f->dst) : NULL;

	verdict_decide(f, mark, e, mode, od, now, v);
}

static void
test_unresolved(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_b, 443);
	struct verdict v;

	decide(&f, 0, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_UNRESOLVED);
	assert_string_equal(verdict_reason_name(v.reason), "unresolved");
	assert_true(v.log);
	assert_false(v.audit);
	assert_null(v.name);
	addrmap_free(m);
}

static void
test_port(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_a, 22);
	struct verdict v;

	decide(&f, 0, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_PORT);
	assert_string_equal(verdict_reason_name(v.reason), "port");
	assert_string_equal(v.name, "www.lab.test");
	/* UDP to the same port number is a different port. */
	f = tcp_flow(ip_a, 443);
	f.proto = IPPROTO_UDP;
	decide(&f, 0, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.reason, REASON_PORT);
	addrmap_free(m);
}

static void
test_expired(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_a, 443);
	struct verdict v;

	decide(&f, 0, m, MODE_ENFORCE, ON_DENY_DROP, 10000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	assert_int_equal(v.reason, REASON_EXPIRED);
	assert_string_equal(verdict_reason_name(v.reason), "expired");
	assert_string_equal(v.name, "www.lab.test");
	/* Still fresh by our clock but the kernel missed it: its timeout won. */
	decide(&f, 0, m, MODE_ENFORCE, ON_DENY_DROP, 9000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	assert_int_equal(v.reason, REASON_EXPIRED);
	addrmap_free(m);
}

static void
test_proto(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_a, 0);
	struct verdict v;

	f.proto = IPPROTO_ICMP;
	f.has_ports = false;
	decide(&f, 0, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_PROTO);
	assert_string_equal(verdict_reason_name(v.reason), "proto");
	addrmap_free(m);
}

/* The DNS mark wins over what the map knows: DNS to a handed-out address
 * is still DNS around the resolver. */
static void
test_dns(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_a, 53);
	struct verdict v;

	f.proto = IPPROTO_UDP;
	decide(&f, KERNEL_MARK_DNS, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_DNS);
	assert_string_equal(verdict_reason_name(v.reason), "dns");
	assert_null(v.name);
	addrmap_free(m);
}

static void
test_audit(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_b, 443);
	struct verdict v;

	decide(&f, 0, m, MODE_AUDIT, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_ACCEPT);
	assert_int_equal(v.reason, REASON_UNRESOLVED);
	assert_true(v.log);
	assert_true(v.audit);
	decide(&f, KERNEL_MARK_DNS, m, MODE_AUDIT, ON_DENY_DROP, 5000, &v);
	assert_int_equal(v.action, VERDICT_ACCEPT);
	assert_int_equal(v.reason, REASON_DNS);
	addrmap_free(m);
}

/* Enforce mode never accepts, whatever the inputs. */
static void
test_enforce_never_accepts(void **state)
{
	struct addrmap *m = sample_map();
	const uint32_t marks[] = {0, KERNEL_MARK_DNS, KERNEL_MARK_DENY, 0xffffffff};
	const uint16_t ports[] = {0, 22, 443};
	const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
	const uint8_t *ips[] = {ip_a, ip_b};
	struct verdict v;
	size_t a, b, c, d, e;

	for (a = 0; a < 4; a++)
		for (b = 0; b < 3; b++)
			for (c = 0; c < 3; c++)
				for (d = 0; d < 2; d++)
					for (e = 0; e < 2; e++) {
						struct flow f = tcp_flow(ips[d], ports[b]);

						f.proto = protos[c];
						decide(&f, marks[a], m, MODE_ENFORCE,
						       e ? ON_DENY_DROP : ON_DENY_REJECT, 5000, &v);
						assert_int_not_equal(v.action, VERDICT_ACCEPT);
					}
	verdict_decide(NULL, 0, NULL, MODE_ENFORCE, ON_DENY_REJECT, 0, &v);
	assert_int_not_equal(v.action, VERDICT_ACCEPT);
	addrmap_free(m);
}

/* A packet the gate already marked for rejection is dropped, silently, in
 * every mode: repeating it again could loop. */
static void
test_already_marked(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_b, 443);
	struct verdict v;

	decide(&f, KERNEL_MARK_DENY, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	assert_false(v.log);
	decide(&f, KERNEL_MARK_DENY, m, MODE_AUDIT, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	addrmap_free(m);
}

/* Unparseable: denied even in audit mode. */
static void
test_malformed(void **state)
{
	struct verdict v;

	verdict_decide(NULL, 0, NULL, MODE_AUDIT, ON_DENY_REJECT, 0, &v);
	assert_int_equal(v.action, VERDICT_REJECT);
	assert_int_equal(v.reason, REASON_MALFORMED);
	verdict_decide(NULL, 0, NULL, MODE_ENFORCE, ON_DENY_DROP, 0, &v);
	assert_int_equal(v.action, VERDICT_DROP);
}

static void
test_addrmap_refresh_and_evict(void **state)
{
	struct addrmap *m = addrmap_new(3, 42);
	struct portlist pl = {0};
	struct addrmap_name *n1 = addrmap_name_new("one.test", &pl);
	struct addrmap_name *n2 = addrmap_name_new("two.test", &pl);
	uint8_t ip[4] = {198, 51, 100, 0};
	const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	const struct addrmap_entry *e;
	int i;

	for (i = 1; i <= 3; i++) {
		ip[3] = (uint8_t)i;
		assert_int_equal(addrmap_put(m, AF_INET, ip, n1, 100 * (uint64_t)i), 0);
	}
	assert_int_equal(addrmap_count(m), 3);
	/* Refreshing .1 makes .2 the oldest; a new address evicts it. */
	ip[3] = 1;
	assert_int_equal(addrmap_put(m, AF_INET, ip, n2, 1000), 0);
	e = addrmap_get(m, AF_INET, ip);
	assert_non_null(e);
	assert_string_equal(e->nm->name, "two.test");
	assert_int_equal(e->expires_ms, 1000);
	assert_int_equal(addrmap_put(m, AF_INET6, ip6, n1, 50), 0);
	assert_int_equal(addrmap_count(m), 3);
	ip[3] = 2;
	assert_null(addrmap_get(m, AF_INET, ip));
	assert_non_null(addrmap_get(m, AF_INET6, ip6));
	/* Same 4 leading bytes in another family is another key. */
	assert_null(addrmap_get(m, AF_INET, ip6));
	assert_null(addrmap_get(m, AF_UNIX, ip6));

	addrmap_prune(m, 301);
	assert_int_equal(addrmap_count(m), 1);
	ip[3] = 1;
	assert_non_null(addrmap_get(m, AF_INET, ip));

	addrmap_name_unref(n1);
	addrmap_name_unref(n2);
	addrmap_free(m);
}

/* A new inbound flow (NAMEGATE-IN's mark) is dropped, never rejected (a
 * repeat would come back through INPUT), even to an address the resolver
 * handed out; audit mode lets it in and logs it; unparseable, it is
 * dropped in every mode. */
static void
test_inbound(void **state)
{
	struct addrmap *m = sample_map();
	struct flow f = tcp_flow(ip_a, 443);
	struct verdict v;

	decide(&f, KERNEL_MARK_INBOUND, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	assert_int_equal(v.reason, REASON_INBOUND);
	assert_string_equal(verdict_reason_name(v.reason), "inbound");
	assert_true(v.log);
	assert_false(v.audit);
	decide(&f, KERNEL_MARK_INBOUND, m, MODE_ENFORCE, ON_DENY_DROP, 5000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	decide(&f, KERNEL_MARK_INBOUND, m, MODE_AUDIT, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_ACCEPT);
	assert_true(v.audit);
	assert_int_equal(v.reason, REASON_INBOUND);
	decide(NULL, KERNEL_MARK_INBOUND, m, MODE_AUDIT, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	assert_int_equal(v.reason, REASON_MALFORMED);
	decide(NULL, KERNEL_MARK_INBOUND, m, MODE_ENFORCE, ON_DENY_REJECT, 5000, &v);
	assert_int_equal(v.action, VERDICT_DROP);
	addrmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unresolved),
	    cmocka_unit_test(test_port),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_proto),
	    cmocka_unit_test(test_dns),
	    cmocka_unit_test(test_audit),
	    cmocka_unit_test(test_enforce_never_accepts),
	    cmocka_unit_test(test_already_marked),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_inbound),
	    cmocka_unit_test(test_addrmap_refresh_and_evict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
