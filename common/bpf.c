/* Classic BPF for seccomp: the instruction buffer and its blocks. */
#include <errno.h>
#include <sys/prctl.h>

#include "bpf.h"

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

static void
emit(struct bpf_prog *p, struct sock_filter f)
{
	if (p->n >= p->max) {
		p->overflow = true;
		return;
	}
	p->v[p->n++] = f;
}

void
bpf_stmt(struct bpf_prog *p, uint16_t code, uint32_t k)
{
	emit(p, (struct sock_filter)BPF_STMT(code, k));
}

void
bpf_jump(struct bpf_prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	emit(p, (struct sock_filter)BPF_JUMP(code, k, jt, jf));
}

void
bpf_load(struct bpf_prog *p, uint32_t off)
{
	bpf_stmt(p, BPF_LD | BPF_W | BPF_ABS, off);
}

void
bpf_ret(struct bpf_prog *p, uint32_t action)
{
	bpf_stmt(p, BPF_RET | BPF_K, action);
}

void
bpf_arch_check(struct bpf_prog *p)
{
#ifdef BPF_ARCH
	bpf_load(p, BPF_OFF_ARCH);
	bpf_jump(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_ARCH, 1, 0);
	bpf_ret(p, BPF_KILL);
	bpf_load(p, BPF_OFF_NR);
#if defined(__x86_64__)
	bpf_jump(p, BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
	bpf_ret(p, BPF_KILL);
#endif
#else
	/* No architecture to accept: every call is killed. */
	bpf_ret(p, BPF_KILL);
#endif
}

void
bpf_when_eq(struct bpf_prog *p, uint32_t k, const struct bpf_prog *block)
{
	if (block->overflow || block->n > 255) {
		p->overflow = true;
		return;
	}
	bpf_jump(p, BPF_JMP | BPF_JEQ | BPF_K, k, 0, (uint8_t)block->n);
	for (size_t i = 0; i < block->n; i++)
		emit(p, block->v[i]);
}

void
bpf_ret_if_one_of(struct bpf_prog *p, const uint32_t *v, uint8_t n, uint32_t action)
{
	for (uint8_t i = 0; i < n; i++)
		bpf_jump(p, BPF_JMP | BPF_JEQ | BPF_K, v[i], (uint8_t)(n - i), 0);
	bpf_jump(p, BPF_JMP | BPF_JA, 1, 0, 0);
	bpf_ret(p, action);
}

int
bpf_install(const struct bpf_prog *p)
{
	struct sock_fprog fp;

	if (p->overflow || p->n == 0 || p->n > BPF_MAXINSNS) {
		errno = E2BIG;
		return -1;
	}
	fp.len = (unsigned short)p->n;
	fp.filter = p->v;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) != 0 ? -1 : 0;
}
