/* Who sent a flow (nfq/who.h), against the kernel: real sockets of this
 * test process on loopback, found by sock_diag and the helper's /proc
 * scan; a closed socket is gone; the log keys, with a comm that needs
 * escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "who.h"

static struct who *w;

static int
setup(void **state)
{
	/* The scan finds this process by its comm too. */
	prctl(PR_SET_NAME, "who test", 0, 0, 0);
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	w = who_start();
	/* Run as root, this process would hold capabilities the helper
	 * lacks, and the kernel would not show it its fds (why=denied): the
	 * sender is an agent without any. */
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &hdr, d) != 0)
		return -1;
	return w == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	who_free(w);
	return 0;
}

static uint16_t
local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	return ntohs(a.sin_port);
}

static struct flow
loop_flow(uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.family = AF_INET;
	f.proto = proto;
	f.src[0] = f.dst[0] = 127;
	f.src[3] = f.dst[3] = 1;
	f.has_ports = true;
	f.sport = sport;
	f.dport = dport;
	return f;
}

static void
tcp_found_then_gone(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), cs = socket(AF_INET, SOCK_STREAM, 0);
	struct who_answer ans;
	struct flow f;

	assert_true(ls >= 0 && cs >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &l), 0);
	assert_int_equal(connect(cs, (struct sockaddr *)&a, sizeof(a)), 0);
	f = loop_flow(IPPROTO_TCP, local_port(cs), ntohs(a.sin_port));
	who_flow(w, &f, &ans);
	assert_string_equal(who_why_name(ans.why), "found");
	assert_int_equal(ans.pid, getpid());
	assert_string_equal(ans.comm, "who test");
	assert_true(ans.exe[0] == '/');
	close(cs);
	close(ls);
	who_flow(w, &f, &ans);
	assert_string_equal(who_why_name(ans.why), "gone");
	assert_int_equal(ans.pid, -1);
}

static void
udp_unconnected(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct who_answer ans;
	struct flow f;

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	/* Sent to a port nobody holds: the socket is found by its own end. */
	f = loop_flow(IPPROTO_UDP, local_port(s), 9);
	who_flow(w, &f, &ans);
	assert_string_equal(who_why_name(ans.why), "found");
	assert_int_equal(ans.pid, getpid());
	close(s);
}

static void
not_tcp_or_udp(void **state)
{
	struct who_answer ans;
	struct flow f = loop_flow(IPPROTO_ICMP, 0, 0);

	f.has_ports = false;
	who_flow(w, &f, &ans);
	assert_string_equal(who_why_name(ans.why), "none");
	who_flow(NULL, NULL, &ans);
	assert_string_equal(who_why_name(ans.why), "none");
}

static void
log_keys(void **state)
{
	struct timespec ts = {0};
	struct log_line l;
	struct who_answer a = {.why = WHO_FOUND, .pid = 4711};

	strcpy(a.comm, "a b\n");
	strcpy(a.exe, "/usr/bin/x");
	logline_begin(&l, LOG_FORMAT_TEXT, &ts, LOGL_WARN, "flow.deny");
	who_log(&l, &a);
	logline_end(&l);
	assert_non_null(strstr(l.buf, " pid=4711 comm=\"a b\\n\" exe=/usr/bin/x\n"));
	a.why = WHO_BUSY;
	logline_begin(&l, LOG_FORMAT_JSON, &ts, LOGL_WARN, "flow.deny");
	who_log(&l, &a);
	logline_end(&l);
	assert_non_null(strstr(l.buf, "\"pid\":\"-\",\"why\":\"busy\"}"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tcp_found_then_gone),
	    cmocka_unit_test(udp_unconnected),
	    cmocka_unit_test(not_tcp_or_udp),
	    cmocka_unit_test(log_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
