/*
 * The resolver's privilege drop: from root (where it bound its sockets) to
 * the configured user, with every capability gone for good and no way back.
 */
#include "privdrop.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "caps.h"
#include "log.h"

static void
check_no_caps(void)
{
	struct caps now;

	if (caps_get(&now) != 0)
		fatal("capget");
	if ((now.permitted | now.effective | now.inheritable) != 0)
		fatalx("capabilities left after dropping privileges");
}

/* Gives up root for good. The agent can send us any bytes; if one of them
 * ever took over this process it must find nothing worth having. */
void
privdrop(const struct conf *c)
{
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(c->user);
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
		if (caps_bound_drop(0) != 0)
			fatal("prctl PR_CAPBSET_DROP");
		if (caps_ambient_clear() != 0)
			fatal("prctl PR_CAP_AMBIENT_CLEAR_ALL");
		if (setresuid(uid, uid, uid) != 0)
			fatal("setresuid");
		if (setuid(0) == 0)
			fatalx("could regain root after dropping privileges");
	} else {
		if (caps_ambient_clear() != 0)
			fatal("prctl PR_CAP_AMBIENT_CLEAR_ALL");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
	check_no_caps();
}
