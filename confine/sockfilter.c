/*
 * The agent's socket filter (see sockfilter.h): a classic BPF program built
 * from small blocks that each end in a return, loaded with
 * prctl(PR_SET_SECCOMP) under no_new_privs.
 */
#include "sockfilter.h"

#include <endian.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SOCKFILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SOCKFILTER_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif
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

/* The low 32 bits of a syscall argument: socket()'s arguments are ints. */
#if __BYTE_ORDER == __LITTLE_ENDIAN
#define ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]))
#else
#define ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]) + 4)
#endif

#define ALLOW SECCOMP_RET_ALLOW
#define KILL SECCOMP_RET_KILL_PROCESS
#define FAIL(e) (SECCOMP_RET_ERRNO | ((uint32_t)(e)&SECCOMP_RET_DATA))

struct prog {
	struct sock_filter v[SOCKFILTER_MAX_INSNS];
	size_t n;
	bool overflow;
};

static void
emit(struct prog *p, struct sock_filter f)
{
	if (p->n >= SOCKFILTER_MAX_INSNS) {
		p->overflow = true;
		return;
	}
	p->v[p->n++] = f;
}

#define STMT(p, code, k) emit((p), (struct sock_filter)BPF_STMT((code), (k)))
#define JUMP(p, code, k, jt, jf) emit((p), (struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))
#define LOAD(p, off) STMT((p), BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(p, v) STMT((p), BPF_RET | BPF_K, (v))

/* if A == k: run the block (which always returns); else go on after it. */
static void
when_eq(struct prog *p, uint32_t k, const struct prog *block)
{
	if (block->overflow || block->n > 255) {
		p->overflow = true;
		return;
	}
	JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, k, 0, (uint8_t)block->n);
	for (size_t i = 0; i < block->n; i++)
		emit(p, block->v[i]);
}

/* if A is one of v[0..n-1]: return ret; else go on. */
static void
ret_if_one_of(struct prog *p, const uint32_t *v, uint8_t n, uint32_t ret)
{
	for (uint8_t i = 0; i < n; i++)
		JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, v[i], (uint8_t)(n - i), 0);
	JUMP(p, BPF_JMP | BPF_JA, 1, 0, 0);
	RET(p, ret);
}

/* socket(domain, type, protocol); always returns. */
static void
socket_block(struct prog *p)
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
	struct prog inet = {0}, nl = {0};

	LOAD(p, ARG_LO(0));
	ret_if_one_of(p, plain, 2, ALLOW);
	/* (AF_INET, SOCK_PACKET) is the old spelling of an AF_PACKET socket:
	 * the kernel turns it into one. The type carries flags above the mask. */
	LOAD(&inet, ARG_LO(1));
	STMT(&inet, BPF_ALU | BPF_AND | BPF_K, SOCK_TYPE_MASK);
	JUMP(&inet, BPF_JMP | BPF_JEQ | BPF_K, SOCK_PACKET, 0, 1);
	RET(&inet, FAIL(EAFNOSUPPORT));
	RET(&inet, ALLOW);
	when_eq(p, AF_INET, &inet);
	LOAD(&nl, ARG_LO(2));
	ret_if_one_of(&nl, netlink, 4, ALLOW);
	RET(&nl, FAIL(EPROTONOSUPPORT));
	when_eq(p, AF_NETLINK, &nl);
	RET(p, FAIL(EAFNOSUPPORT));
}

int
sockfilter_build(struct sock_filter *v, size_t max)
{
#ifndef SOCKFILTER_ARCH
	(void)v;
	(void)max;
	return -1;
#else
	static const uint32_t unix_only[] = {AF_UNIX};
	struct prog prog = {0}, sock = {0}, pair = {0}, ring = {0};
	struct prog *p = &prog;

	socket_block(&sock);
	LOAD(&pair, ARG_LO(0));
	ret_if_one_of(&pair, unix_only, 1, ALLOW);
	RET(&pair, FAIL(EAFNOSUPPORT));
	RET(&ring, FAIL(ENOSYS));

	LOAD(p, (uint32_t)offsetof(struct seccomp_data, arch));
	JUMP(p, BPF_JMP | BPF_JEQ | BPF_K, SOCKFILTER_ARCH, 1, 0);
	RET(p, KILL);
	LOAD(p, (uint32_t)offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	/* The x32 ABI: the same calls, numbered with a high bit set. */
	JUMP(p, BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
	RET(p, KILL);
#endif
	when_eq(p, __NR_socket, &sock);
	when_eq(p, __NR_socketpair, &pair);
	when_eq(p, __NR_io_uring_setup, &ring);
	when_eq(p, __NR_io_uring_enter, &ring);
	when_eq(p, __NR_io_uring_register, &ring);
	RET(p, ALLOW);

	if (p->overflow || p->n > max)
		return -1;
	memcpy(v, p->v, p->n * sizeof(*v));
	return (int)p->n;
#endif
}

int
sockfilter_enter(void)
{
	struct sock_filter v[SOCKFILTER_MAX_INSNS];
	struct sock_fprog fp;
	int n = sockfilter_build(v, SOCKFILTER_MAX_INSNS);

	if (n < 0) {
		errno = ENOSYS;
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	fp.len = (unsigned short)n;
	fp.filter = v;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) != 0)
		return -1;
	return 0;
}
