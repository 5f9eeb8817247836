/*
 * namegate-confine CMD [ARG...]: run CMD under the agent's socket filter
 * (sockfilter.h), with no_new_privs. namegate-as-agent puts it between the
 * drop to the agent and the agent's command, so every process the agent
 * runs inherits the filter; none can remove it.
 *
 * It fails closed: if the filter cannot be installed, CMD is not run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sockfilter.h"

int
main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: namegate-confine CMD [ARG...]\n");
		return 2;
	}
	if (sockfilter_enter() != 0) {
		if (errno == ENOSYS)
			fprintf(stderr,
			        "namegate-confine: no socket filter for this architecture;"
			        " not running %s\n",
			        argv[1]);
		else
			fprintf(stderr,
			        "namegate-confine: installing the socket filter: %s;"
			        " not running %s\n",
			        strerror(errno), argv[1]);
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "namegate-confine: %s: %s\n", argv[1], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
