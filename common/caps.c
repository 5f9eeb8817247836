/* The process's capability sets: capget/capset, bounding and ambient. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

int
caps_get(struct caps *out)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) != 0)
		return -1;
	out->effective = d[0].effective | (uint64_t)d[1].effective << 32;
	out->permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
	out->inheritable = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

int
caps_set(uint64_t effective, uint64_t permitted)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = (uint32_t)effective;
	d[0].permitted = (uint32_t)permitted;
	d[1].effective = (uint32_t)(effective >> 32);
	d[1].permitted = (uint32_t)(permitted >> 32);
	return syscall(SYS_capset, &hdr, d) != 0 ? -1 : 0;
}

/* The highest capability number the running kernel knows, or the
 * headers' CAP_LAST_CAP when /proc does not say. */
static int
caps_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last;

	if (f == NULL)
		return CAP_LAST_CAP;
	if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
		last = CAP_LAST_CAP;
	fclose(f);
	return last;
}

int
caps_bound_drop(uint64_t keep)
{
	int last = caps_last(), failed = 0, first_errno = 0;

	for (int cap = 0; cap <= last; cap++) {
		if ((keep & CAPS_BIT(cap)) != 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
			if (failed++ == 0)
				first_errno = errno;
		}
	}
	if (failed > 0)
		errno = first_errno;
	return failed;
}

int
caps_ambient_clear(void)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
		return -1;
	return 0;
}
