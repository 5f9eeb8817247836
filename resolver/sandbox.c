/*
 * The resolver's seccomp filter (see sandbox.h): a classic BPF program,
 * built at start from the list below, loaded with prctl(PR_SET_SECCOMP).
 *
 *   wrong architecture (or the x32 ABI)      → kill
 *   mmap/mprotect asking for PROT_EXEC       → kill
 *   socket() other than AF_UNIX/INET/INET6   → kill
 *   ioctl() other than TCGETS (isatty)       → kill
 *   a call on the list                       → allow
 *   anything else                            → kill
 */
#include "sandbox.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "bpf.h"
#include "log.h"

/* The sanitizers' runtime, at exit (LeakSanitizer stops the process with a
 * ptrace()ing helper) and when it reports, makes calls the resolver never
 * makes itself; builds with them get those calls too. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

#define MAX_INSNS 512

static const int allowed[] = {
    /* files: config reload, log file, resolv.conf */
    __NR_read,
    __NR_write,
    __NR_readv,
    __NR_writev,
    __NR_pread64,
    __NR_close,
    __NR_openat,
    __NR_fstat,
    __NR_newfstatat,
    __NR_statx,
    __NR_lseek,
    __NR_fcntl,
    __NR_fsync,
    __NR_fdatasync,
    __NR_readlinkat,
    __NR_faccessat,
    __NR_getdents64,
    /* memory (mmap and mprotect are checked apart) */
    __NR_brk,
    __NR_munmap,
    __NR_mremap,
    __NR_madvise,
    /* the event loop, its signalfd and timers, the config watch */
    __NR_epoll_pwait,
    __NR_epoll_ctl,
    __NR_epoll_create1,
    __NR_inotify_init1,
    __NR_inotify_add_watch,
    __NR_inotify_rm_watch,
    __NR_clock_gettime,
    __NR_clock_getres,
    __NR_gettimeofday,
    __NR_nanosleep,
    __NR_clock_nanosleep,
    /* sockets (socket() is checked apart; no bind or listen: the
     * listeners were bound as root, before the filter) */
    __NR_connect,
    __NR_accept4,
    __NR_sendto,
    __NR_recvfrom,
    __NR_sendmsg,
    __NR_recvmsg,
    __NR_sendmmsg,
    __NR_recvmmsg,
    __NR_getsockopt,
    __NR_setsockopt,
    __NR_getsockname,
    __NR_getpeername,
    __NR_shutdown,
    /* query IDs */
    __NR_getrandom,
    /* the process itself: signals, exit, abort() in fatal() */
    __NR_rt_sigreturn,
    __NR_rt_sigprocmask,
    __NR_restart_syscall,
    __NR_exit,
    __NR_exit_group,
    __NR_getpid,
    __NR_gettid,
    __NR_tgkill,
    __NR_futex,
    __NR_sched_yield,
    __NR_getuid,
    __NR_geteuid,
    __NR_getgid,
    __NR_getegid,
#ifdef __NR_open /* the older calls, where the architecture has them */
    __NR_open,
#endif
#ifdef __NR_stat
    __NR_stat,
#endif
#ifdef __NR_lstat
    __NR_lstat,
#endif
#ifdef __NR_access
    __NR_access,
#endif
#ifdef __NR_readlink
    __NR_readlink,
#endif
#ifdef __NR_epoll_wait
    __NR_epoll_wait,
#endif
#ifdef __NR_poll
    __NR_poll,
#endif
#ifdef __NR_time
    __NR_time,
#endif
#ifdef SANDBOX_SANITIZER
    __NR_clone,
#ifdef __NR_clone3
    __NR_clone3,
#endif
    __NR_wait4,
    __NR_ptrace,
    __NR_prctl,
    __NR_sched_getaffinity,
    __NR_sigaltstack,
    __NR_rt_sigaction,
    __NR_getppid,
    __NR_prlimit64,
    __NR_mincore,
    __NR_dup,
    __NR_dup3,
    __NR_pipe2,
    __NR_kill,
#ifdef __NR_getrlimit
    __NR_getrlimit,
#endif
#ifdef __NR_getdents
    __NR_getdents,
#endif
#ifdef __NR_dup2
    __NR_dup2,
#endif
#endif
};

/* nr → kill if (arg lo32 & mask) != 0, else allow. The accumulator holds
 * the syscall number on entry; the block always returns. */
static void
allow_unless_bits(struct bpf_prog *p, int nr, unsigned arg, uint32_t mask)
{
	bpf_jump(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 4);
	bpf_load(p, BPF_OFF_ARG_LO(arg));
	bpf_jump(p, BPF_JMP | BPF_JSET | BPF_K, mask, 0, 1);
	bpf_ret(p, BPF_KILL);
	bpf_ret(p, BPF_ALLOW);
}

/* nr → allow if arg lo32 is one of v[0..n-1] (n <= 3), else kill. */
static void
allow_if_arg(struct bpf_prog *p, int nr, unsigned arg, const uint32_t *v, uint8_t n)
{
	bpf_jump(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, (uint8_t)(n + 3));
	bpf_load(p, BPF_OFF_ARG_LO(arg));
	for (uint8_t i = 0; i < n; i++)
		bpf_jump(p, BPF_JMP | BPF_JEQ | BPF_K, v[i], (uint8_t)(n - i), 0);
	bpf_ret(p, BPF_KILL);
	bpf_ret(p, BPF_ALLOW);
}

static void
build(struct bpf_prog *p)
{
	static const uint32_t domains[] = {AF_UNIX, AF_INET, AF_INET6};
	static const uint32_t ioctls[] = {TCGETS};

	bpf_arch_check(p);
	allow_unless_bits(p, __NR_mmap, 2, PROT_EXEC);
	bpf_load(p, BPF_OFF_NR);
	allow_unless_bits(p, __NR_mprotect, 2, PROT_EXEC);
	bpf_load(p, BPF_OFF_NR);
	allow_if_arg(p, __NR_socket, 0, domains, 3);
	bpf_load(p, BPF_OFF_NR);
	allow_if_arg(p, __NR_ioctl, 1, ioctls, 1);
	bpf_load(p, BPF_OFF_NR);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		bpf_jump(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)allowed[i], 0, 1);
		bpf_ret(p, BPF_ALLOW);
	}
	bpf_ret(p, BPF_KILL);
}

int
sandbox_enter(void)
{
#ifndef BPF_ARCH
	log_warnx("sandbox: no seccomp filter for this architecture; running without one");
	return 0;
#else
	static struct sock_filter v[MAX_INSNS];
	struct bpf_prog p = BPF_PROG_IN(v);

	build(&p);
	if (p.overflow) {
		log_warnx("sandbox: the filter does not fit in %d instructions", MAX_INSNS);
		return -1;
	}
	if (bpf_install(&p) != 0) {
		log_warn("sandbox: prctl PR_SET_SECCOMP");
		return -1;
	}
	return 0;
#endif
}
