/* The resolver's seccomp filter: each case runs in a child that installs it
 * and then makes one call; an allowed call exits 0, a forbidden one is
 * killed by SIGSYS. The parent is never filtered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confperm.h"
#include "sandbox.h"

enum act {
	ACT_NOTHING,
	ACT_UDP_SOCKET,
	ACT_UNIX_SOCKET,
	ACT_RW_MMAP,
	ACT_NETLINK_SOCKET,
	ACT_PACKET_SOCKET,
	ACT_EXEC_MMAP,
	ACT_MPROTECT_EXEC,
	ACT_EXECVE,
	ACT_FORK,
	ACT_PTRACE_LIKE,
	ACT_CONFPERM,
};

/* ACT_CONFPERM: a link to a world-writable config, checked as a reload
 * does (lstat, readlink, /proc/self/mountinfo), under the filter. */
static char confperm_link[64];

static void
child(enum act a)
{
	static char *const argv[] = {"/bin/true", NULL};
	void *p;
	int fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || sandbox_enter() != 0)
		_exit(90);
	switch (a) {
	case ACT_NOTHING:
		break;
	case ACT_UDP_SOCKET:
		fd = socket(AF_INET6, SOCK_DGRAM, 0);
		if (fd < 0)
			_exit(91);
		close(fd);
		break;
	case ACT_UNIX_SOCKET:
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (fd < 0)
			_exit(91);
		close(fd);
		break;
	case ACT_RW_MMAP:
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(91);
		break;
	case ACT_NETLINK_SOCKET:
		socket(AF_NETLINK, SOCK_RAW, 0);
		break;
	case ACT_PACKET_SOCKET:
		socket(AF_PACKET, SOCK_RAW, 0);
		break;
	case ACT_EXEC_MMAP:
		mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case ACT_MPROTECT_EXEC:
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		mprotect(p, 4096, PROT_READ | PROT_EXEC);
		break;
	case ACT_EXECVE:
		execve(argv[0], argv, NULL);
		break;
	case ACT_FORK:
		/* raw clone(SIGCHLD), what fork() becomes */
		if (fork() == 0)
			_exit(0);
		break;
	case ACT_PTRACE_LIKE:
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		break;
	case ACT_CONFPERM: {
		static struct confperm cp;
		char err[1024];

		cp.trusted = 0;
		if (confperm_check(&cp, confperm_link, err, sizeof(err)) != -1 ||
		    (strstr(err, "is world-writable") == NULL &&
		     strstr(err, "cannot be read") == NULL))
			_exit(92);
		break;
	}
	}
	_exit(0);
}

/* Runs the action in a filtered child: 0 if it exited 0, the signal that
 * killed it otherwise (or 1000 + its exit status). */
static int
run(enum act a)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		child(a);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	return WEXITSTATUS(status) == 0 ? 0 : 1000 + WEXITSTATUS(status);
}

static void
test_allowed(void **state)
{
	assert_int_equal(run(ACT_NOTHING), 0);
	assert_int_equal(run(ACT_UDP_SOCKET), 0);
	assert_int_equal(run(ACT_UNIX_SOCKET), 0);
	assert_int_equal(run(ACT_RW_MMAP), 0);
}

/* What a reload's permission check calls is allowed. */
static void
test_confperm(void **state)
{
	char dir[] = "/tmp/test_sandbox.XXXXXX", file[64];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/sandbox.ini", dir);
	snprintf(confperm_link, sizeof(confperm_link), "%s/link.ini", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(file, 0666), 0);
	assert_int_equal(symlink("sandbox.ini", confperm_link), 0);
	assert_int_equal(run(ACT_CONFPERM), 0);
	unlink(confperm_link);
	unlink(file);
	rmdir(dir);
}

static void
test_killed(void **state)
{
	assert_int_equal(run(ACT_NETLINK_SOCKET), SIGSYS);
	assert_int_equal(run(ACT_PACKET_SOCKET), SIGSYS);
	assert_int_equal(run(ACT_EXEC_MMAP), SIGSYS);
	assert_int_equal(run(ACT_MPROTECT_EXEC), SIGSYS);
	assert_int_equal(run(ACT_EXECVE), SIGSYS);
}

/* Sanitizer builds allow what their runtime needs (clone, prctl, ...);
 * the production filter does not. */
static void
test_killed_production(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
	skip();
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	skip();
#endif
#endif
	assert_int_equal(run(ACT_FORK), SIGSYS);
	assert_int_equal(run(ACT_PTRACE_LIKE), SIGSYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allowed),
	    cmocka_unit_test(test_confperm),
	    cmocka_unit_test(test_killed),
	    cmocka_unit_test(test_killed_production),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
