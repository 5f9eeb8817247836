/*
 * The resolver's privilege drop: from root (where it bound its sockets) to
 * the configured user, with every capability gone for good and no way back.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static unsigned long
cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	unsigned long last = CAP_LAST_CAP;

	if (f == NULL) {
		log_warn("open /proc/sys/kernel/cap_last_cap; assuming %lu", last);
		return last;
	}
	if (fscanf(f, "%lu", &last) != 1 || last > 63)
		last = CAP_LAST_CAP;
	fclose(f);
	return last;
}

static void
check_no_caps(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		fatal("capget");
	for (int i = 0; i < 2; i++)
		if (data[i].permitted || data[i].effective || data[i].inheritable)
			fatalx("capabilities left after dropping privileges");
}

/* Gives up root for good. The agent can send us any bytes; if one of them
 * ever took over this process it must find nothing worth having. */
void
privdrop(const struct conf *c)
{
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(c->user);
		unsigned long last;
		gid_t gid;
		uid_t uid;

		if (pw == NULL) {
			fprintf(stderr,
			        "namegate-resolver: user \"%s\" does not exist "
			        "(create it, or set [resolver] user)\n",
			        c->user);
			exit(2);
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (uid == 0)
			fatalx("[resolver] user %s is root; refusing to run as root", c->user);
		if (setgroups(1, &gid) != 0)
			fatal("setgroups");
		if (setresgid(gid, gid, gid) != 0)
			fatal("setresgid");
		last = cap_last();
		for (unsigned long cap = 0; cap <= last; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
				fatal("prctl PR_CAPBSET_DROP %lu", cap);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
		    errno != EINVAL)
			fatal("prctl PR_CAP_AMBIENT_CLEAR_ALL");
		if (setresuid(uid, uid, uid) != 0)
			fatal("setresuid");
		if (setuid(0) == 0)
			fatalx("could regain root after dropping privileges");
	} else {
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
		    errno != EINVAL)
			fatal("prctl PR_CAP_AMBIENT_CLEAR_ALL");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
	check_no_caps();
}
