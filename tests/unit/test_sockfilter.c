/* The agent's socket filter (confine/sockfilter.c): each case runs in a
 * child that installs the filter and makes one call; the child exits 0 when
 * the call worked, with the call's errno when it failed, or is killed. The
 * parent is never filtered. Run as root, the refusals prove the filter: root
 * could open AF_PACKET and (where the kernel has it) AF_VSOCK sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <linux/netlink.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sockfilter.h"

#ifndef SOCK_PACKET
#define SOCK_PACKET 10
#endif

enum call { CALL_SOCKET, CALL_SOCKET_RAW64, CALL_SOCKETPAIR, CALL_IO_URING, CALL_X32, CALL_I386 };

struct req {
	enum call call;
	long a, b, c;
};

static int
do_call(const struct req *r)
{
	int sv[2];
	long fd = -1;
	unsigned char params[120];

	switch (r->call) {
	case CALL_SOCKET:
		fd = socket((int)r->a, (int)r->b, (int)r->c);
		break;
	case CALL_SOCKET_RAW64:
		/* the family in the low 32 bits, junk above: the kernel reads an int */
		fd = syscall(__NR_socket, r->a, r->b, r->c);
		break;
	case CALL_SOCKETPAIR:
		fd = socketpair((int)r->a, (int)r->b, (int)r->c, sv);
		break;
	case CALL_IO_URING:
		memset(params, 0, sizeof(params));
		fd = syscall(425 /* io_uring_setup */, 4, params);
		break;
	case CALL_X32:
#if defined(__x86_64__)
		fd = syscall(0x40000000 | __NR_getpid);
#endif
		break;
	case CALL_I386:
#if defined(__x86_64__)
		/* getpid through the 32-bit entry (int 0x80, i386 number 20) */
		__asm__ volatile("int $0x80" : "=a"(fd) : "a"(20L) : "memory");
		if (fd < 0) {
			errno = (int)-fd;
			fd = -1;
		}
#endif
		break;
	}
	if (fd < 0)
		return errno;
	return 0;
}

/* 0 if the call worked, its errno if it failed, 1000 + the signal that
 * killed the child, 2000 + status if the filter did not install. */
static int
run(struct req r)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (sockfilter_enter() != 0)
			_exit(200);
		_exit(do_call(&r));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	if (WEXITSTATUS(status) == 200)
		return 2200;
	return WEXITSTATUS(status);
}

static int
sock(int family, int type, int protocol)
{
	return run((struct req){CALL_SOCKET, family, type, protocol});
}

static void
test_allowed(void **state)
{
	assert_int_equal(sock(AF_UNIX, SOCK_STREAM, 0), 0);
	assert_int_equal(sock(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	assert_int_equal(sock(AF_INET, SOCK_STREAM, 0), 0);
	assert_int_equal(sock(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), 0);
	assert_int_equal(sock(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	assert_int_equal(sock(AF_INET6, SOCK_DGRAM, 0), 0);
	assert_int_equal(sock(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), 0);
	assert_int_equal(sock(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE), 0);
	assert_int_equal(sock(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG), 0);
	assert_int_equal(sock(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC), 0);
	assert_int_equal(run((struct req){CALL_SOCKETPAIR, AF_UNIX, SOCK_STREAM, 0}), 0);
}

static void
test_families_refused(void **state)
{
	/* Every family but the four (AF_PACKET, AF_VSOCK, AF_BLUETOOTH,
	 * AF_TIPC, AF_RDS, AF_CAN, AF_XDP, AF_KCM, AF_QIPCRTR, AF_MCTP, ...),
	 * and the numbers past the last one the kernel knows today. */
	for (int f = 0; f < 256; f++) {
		if (f == AF_UNIX || f == AF_INET || f == AF_INET6 || f == AF_NETLINK)
			continue;
		assert_int_equal(sock(f, SOCK_STREAM, 0), EAFNOSUPPORT);
		assert_int_equal(sock(f, SOCK_DGRAM, 0), EAFNOSUPPORT);
		assert_int_equal(sock(f, SOCK_RAW, 0), EAFNOSUPPORT);
	}
	assert_int_equal(sock(AF_PACKET, SOCK_RAW, 0x0300 /* htons(ETH_P_ALL) */), EAFNOSUPPORT);
	assert_int_equal(sock(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), EAFNOSUPPORT);
	assert_int_equal(sock(-1, SOCK_STREAM, 0), EAFNOSUPPORT);
	assert_int_equal(sock(0x7fffffff, SOCK_STREAM, 0), EAFNOSUPPORT);
	/* junk in the upper half of the argument does not hide the family */
	assert_int_equal(
	    run((struct req){CALL_SOCKET_RAW64, (long)(0x100000000LL | AF_VSOCK), SOCK_STREAM, 0}),
	    EAFNOSUPPORT);
	assert_int_equal(
	    run((struct req){CALL_SOCKET_RAW64, (long)(0x100000000LL | AF_INET), SOCK_STREAM, 0}),
	    0);
}

static void
test_packet_spellings_refused(void **state)
{
	/* (AF_INET, SOCK_PACKET) becomes an AF_PACKET socket in the kernel */
	assert_int_equal(sock(AF_INET, SOCK_PACKET, 0x0300), EAFNOSUPPORT);
	assert_int_equal(sock(AF_INET, SOCK_PACKET | SOCK_CLOEXEC, 0x0300), EAFNOSUPPORT);
	/* netlink protocols off the list */
	assert_int_equal(sock(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER), EPROTONOSUPPORT);
	assert_int_equal(sock(AF_NETLINK, SOCK_RAW, NETLINK_XFRM), EPROTONOSUPPORT);
	assert_int_equal(sock(AF_NETLINK, SOCK_RAW, NETLINK_USERSOCK), EPROTONOSUPPORT);
	assert_int_equal(sock(AF_NETLINK, SOCK_RAW, 1000), EPROTONOSUPPORT);
	/* socketpair: AF_UNIX only */
	assert_int_equal(run((struct req){CALL_SOCKETPAIR, AF_INET, SOCK_STREAM, 0}), EAFNOSUPPORT);
	assert_int_equal(run((struct req){CALL_SOCKETPAIR, AF_VSOCK, SOCK_STREAM, 0}),
	                 EAFNOSUPPORT);
	assert_int_equal(run((struct req){CALL_SOCKETPAIR, AF_TIPC, SOCK_DGRAM, 0}), EAFNOSUPPORT);
}

static void
test_io_uring_refused(void **state)
{
	assert_int_equal(run((struct req){CALL_IO_URING, 0, 0, 0}), ENOSYS);
}

static void
test_other_abis_killed(void **state)
{
#if defined(__x86_64__)
	assert_int_equal(run((struct req){CALL_X32, 0, 0, 0}), 1000 + SIGSYS);
	assert_int_equal(run((struct req){CALL_I386, 0, 0, 0}), 1000 + SIGSYS);
#else
	skip();
#endif
}

static void
test_build(void **state)
{
	struct sock_filter v[SOCKFILTER_MAX_INSNS];
	int n = sockfilter_build(v, SOCKFILTER_MAX_INSNS);

	assert_true(n > 10);
	/* the last instruction allows: everything not named above goes on */
	assert_int_equal(v[n - 1].code, BPF_RET | BPF_K);
	/* too little room is refused, not truncated */
	assert_int_equal(sockfilter_build(v, (size_t)n - 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build),
	    cmocka_unit_test(test_allowed),
	    cmocka_unit_test(test_families_refused),
	    cmocka_unit_test(test_packet_spellings_refused),
	    cmocka_unit_test(test_io_uring_refused),
	    cmocka_unit_test(test_other_abis_killed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
