/*
 * The agent's socket filter (see sockfilter.h): a classic BPF program built
 * from small blocks that each end in a return, loaded with
 * prctl(PR_SET_SECCOMP) under no_new_privs.
 */
#include "sockfilter.h"

#include <errno.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "bpf.h"

/* The same numbers on every architecture (asm-generic); older headers lack
 * them, and a filter without them would let io_uring through. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif
#ifndef SOCK_TYPE_MASK
#define SOCK_TYPE_MASK 0xf
#endif

/* socket(domain, type, protocol); always returns. */
static void
socket_block(struct bpf_prog *p)
{
	static const uint32_t plain[] = {AF_UNIX, AF_INET6};
	/* What glibc (getaddrinfo, if_nameindex), ip, ss and udev-style
	 * listeners use. Every netlink protocol is kernel messaging inside
	 * this network namespace, never a packet on a wire; what would change
	 * the network needs CAP_NET_ADMIN, which the agent does not hold. The
	 * other protocols (netfilter, xfrm, audit, rdma, ...) are refused
	 * anyway: surface no build needs. */
	static const uint32_t netlink[] = {NETLINK_ROUTE, NETLINK_SOCK_DIAG, NETLINK_KOBJECT_UEVENT,
	                                   NETLINK_GENERIC};
	struct sock_filter iv[8], nv[8];
	struct bpf_prog inet = BPF_PROG_IN(iv), nl = BPF_PROG_IN(nv);

	bpf_load(p, BPF_OFF_ARG_LO(0));
	bpf_ret_if_one_of(p, plain, 2, BPF_ALLOW);
	/* (AF_INET, SOCK_PACKET) is the old spelling of an AF_PACKET socket:
	 * the kernel turns it into one. The type carries flags above the mask. */
	bpf_load(&inet, BPF_OFF_ARG_LO(1));
	bpf_stmt(&inet, BPF_ALU | BPF_AND | BPF_K, SOCK_TYPE_MASK);
	bpf_jump(&inet, BPF_JMP | BPF_JEQ | BPF_K, SOCK_PACKET, 0, 1);
	bpf_ret(&inet, BPF_ERRNO(EAFNOSUPPORT));
	bpf_ret(&inet, BPF_ALLOW);
	bpf_when_eq(p, AF_INET, &inet);
	bpf_load(&nl, BPF_OFF_ARG_LO(2));
	bpf_ret_if_one_of(&nl, netlink, 4, BPF_ALLOW);
	bpf_ret(&nl, BPF_ERRNO(EPROTONOSUPPORT));
	bpf_when_eq(p, AF_NETLINK, &nl);
	bpf_ret(p, BPF_ERRNO(EAFNOSUPPORT));
}

int
sockfilter_build(struct sock_filter *v, size_t max)
{
#ifndef BPF_ARCH
	(void)v;
	(void)max;
	return -1;
#else
	static const uint32_t unix_only[] = {AF_UNIX};
	struct sock_filter sv[SOCKFILTER_MAX_INSNS], pv[8], rv[1];
	struct bpf_prog prog = {.v = v, .max = max};
	struct bpf_prog sock = BPF_PROG_IN(sv), pair = BPF_PROG_IN(pv), ring = BPF_PROG_IN(rv);
	struct bpf_prog *p = &prog;

	socket_block(&sock);
	bpf_load(&pair, BPF_OFF_ARG_LO(0));
	bpf_ret_if_one_of(&pair, unix_only, 1, BPF_ALLOW);
	bpf_ret(&pair, BPF_ERRNO(EAFNOSUPPORT));
	bpf_ret(&ring, BPF_ERRNO(ENOSYS));

	bpf_arch_check(p);
	bpf_when_eq(p, __NR_socket, &sock);
	bpf_when_eq(p, __NR_socketpair, &pair);
	bpf_when_eq(p, __NR_io_uring_setup, &ring);
	bpf_when_eq(p, __NR_io_uring_enter, &ring);
	bpf_when_eq(p, __NR_io_uring_register, &ring);
	bpf_ret(p, BPF_ALLOW);
	if (p->overflow)
		return -1;
	return (int)p->n;
#endif
}

int
sockfilter_enter(void)
{
	struct sock_filter v[SOCKFILTER_MAX_INSNS];
	struct bpf_prog p = BPF_PROG_IN(v);
	int n = sockfilter_build(v, SOCKFILTER_MAX_INSNS);

	if (n < 0) {
		errno = ENOSYS;
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	p.n = (size_t)n;
	return bpf_install(&p);
}
