/*
 * Classic BPF for seccomp filters, built instruction by instruction into a
 * caller's buffer: the load, jump and return helpers, the blocks both
 * namegate filters are made of (a block ends in a return, so "if A == k run
 * the block" is one forward jump over it), the architecture check they
 * both start with, and installing the result. A program that does not fit
 * is marked overflow, never cut short.
 *
 * Users: confine/sockfilter.c (the agent's socket filter) and
 * resolver/sandbox.c (the resolver's allowlist of system calls).
 */
#ifndef NAMEGATE_BPF_H
#define NAMEGATE_BPF_H

#include <endian.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The architecture a filter accepts: the one this was built for. Where
 * there is none, there is no filter (each caller says what that means). */
#if defined(__x86_64__)
#define BPF_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define BPF_ARCH AUDIT_ARCH_AARCH64
#endif

/* Offsets into struct seccomp_data: the call's number, its architecture,
 * and the low 32 bits of an argument (ints, flags, families). */
#define BPF_OFF_NR ((uint32_t)offsetof(struct seccomp_data, nr))
#define BPF_OFF_ARCH ((uint32_t)offsetof(struct seccomp_data, arch))
#if __BYTE_ORDER == __LITTLE_ENDIAN
#define BPF_OFF_ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]))
#else
#define BPF_OFF_ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]) + 4)
#endif

#define BPF_ALLOW SECCOMP_RET_ALLOW
#define BPF_KILL SECCOMP_RET_KILL_PROCESS
#define BPF_ERRNO(e) (SECCOMP_RET_ERRNO | ((uint32_t)(e)&SECCOMP_RET_DATA))

struct bpf_prog {
	struct sock_filter *v;
	size_t n, max;
	bool overflow;
};

/* A program (or a block) written into the array buf. */
#define BPF_PROG_IN(buf)                                                                           \
	{                                                                                          \
		.v = (buf), .max = sizeof(buf) / sizeof((buf)[0])                                  \
	}

void bpf_stmt(struct bpf_prog *p, uint16_t code, uint32_t k);
void bpf_jump(struct bpf_prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf);
/* A = the 32-bit word at off in struct seccomp_data. */
void bpf_load(struct bpf_prog *p, uint32_t off);
void bpf_ret(struct bpf_prog *p, uint32_t action);

/* Kills the process on another architecture than BPF_ARCH, and for the
 * x32 ABI (the x86-64 calls numbered with a high bit set); leaves the
 * call's number in A. */
void bpf_arch_check(struct bpf_prog *p);

/* If A == k, run block (which must end in a return); else go on after it.
 * A block past 255 instructions marks p overflow. */
void bpf_when_eq(struct bpf_prog *p, uint32_t k, const struct bpf_prog *block);

/* If A is one of v[0..n-1], return action; else go on. */
void bpf_ret_if_one_of(struct bpf_prog *p, const uint32_t *v, uint8_t n, uint32_t action);

/* Installs p as this thread's seccomp filter, inherited by all it starts;
 * the caller has set no_new_privs (or holds CAP_SYS_ADMIN). Returns 0, or
 * -1 with errno (E2BIG: p overflowed or is too long for the kernel). */
int bpf_install(const struct bpf_prog *p);

#endif
