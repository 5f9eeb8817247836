/* The capability module against the running kernel: what capget reports is
 * what /proc says; a forked child drops, sets and clears as asked. */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "caps.h"

/* The hex mask of one "Cap*:" line of /proc/self/status. */
static uint64_t
status_mask(const char *key)
{
	char line[256];
	uint64_t v = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/status", "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			assert_int_equal(sscanf(line + strlen(key) + 1, "%" SCNx64, &v), 1);
			found = true;
		}
	}
	fclose(f);
	assert_true(found);
	return v;
}

static void
test_get_matches_proc(void **state)
{
	struct caps c;

	assert_int_equal(caps_get(&c), 0);
	assert_int_equal(c.effective, status_mask("CapEff"));
	assert_int_equal(c.permitted, status_mask("CapPrm"));
	assert_int_equal(c.inheritable, status_mask("CapInh"));
}

/* The running kernel's last capability, which may be past the headers'
 * CAP_LAST_CAP. */
static int
kernel_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = -1;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &last), 1);
	fclose(f);
	return last;
}

static int last_cap; /* kernel_last(), read before the fork */

/* Runs fn in a child, so the test process keeps its capabilities. */
static void
in_child(void (*fn)(void))
{
	int status;
	pid_t pid;

	if (geteuid() != 0 || (status_mask("CapEff") & CAPS_BIT(CAP_SETPCAP)) == 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

/* The gate's drop: NET_ADMIN effective, NET_RAW permitted, nothing else,
 * anywhere; a capability dropped cannot be set again. */
static void
gate_drop(void)
{
	const uint64_t keep_p = CAPS_BIT(CAP_NET_ADMIN) | CAPS_BIT(CAP_NET_RAW);
	const uint64_t keep_e = CAPS_BIT(CAP_NET_ADMIN);
	struct caps c;

	CHILD_CHECK(caps_ambient_clear() == 0);
	CHILD_CHECK(status_mask("CapAmb") == 0);
	CHILD_CHECK(caps_bound_drop(keep_p) == 0);
	CHILD_CHECK(status_mask("CapBnd") == keep_p);
	CHILD_CHECK(caps_set(keep_e, keep_p) == 0);
	CHILD_CHECK(caps_get(&c) == 0);
	CHILD_CHECK(c.effective == keep_e && c.permitted == keep_p && c.inheritable == 0);
	CHILD_CHECK(status_mask("CapEff") == keep_e && status_mask("CapPrm") == keep_p);
	/* permitted cannot grow back, effective cannot pass permitted */
	CHILD_CHECK(caps_set(keep_e, keep_p | CAPS_BIT(CAP_SYS_ADMIN)) == -1 && errno == EPERM);
	CHILD_CHECK(caps_set(keep_p, CAPS_BIT(CAP_NET_ADMIN)) == -1 && errno == EPERM);
	CHILD_CHECK(caps_set(0, 0) == 0);
	CHILD_CHECK(caps_get(&c) == 0);
	CHILD_CHECK(c.effective == 0 && c.permitted == 0 && c.inheritable == 0);
}

static void
test_gate_drop(void **state)
{
	in_child(gate_drop);
}

/* Without CAP_SETPCAP the bounding set stays: every capability up to the
 * running kernel's last (not the headers') is counted (in the set or not: the kernel checks
 * CAP_SETPCAP first), errno EPERM; the one kept is not tried. */
static void
bound_without_setpcap(void)
{
	struct caps c;
	uint64_t bnd = status_mask("CapBnd");
	int failed;

	CHILD_CHECK(caps_get(&c) == 0);
	CHILD_CHECK(caps_set(c.effective & ~CAPS_BIT(CAP_SETPCAP), c.permitted) == 0);
	errno = 0;
	failed = caps_bound_drop(CAPS_BIT(CAP_NET_ADMIN));
	CHILD_CHECK(errno == EPERM);
	CHILD_CHECK(failed == last_cap);
	CHILD_CHECK(status_mask("CapBnd") == bnd);
}

static void
test_bound_without_setpcap(void **state)
{
	last_cap = kernel_last();
	in_child(bound_without_setpcap);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_matches_proc),
	    cmocka_unit_test(test_gate_drop),
	    cmocka_unit_test(test_bound_without_setpcap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
