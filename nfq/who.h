/*
 * Who sent a denied flow: the pid, command and executable of the socket's
 * owner, best effort, for the flow.deny / flow.audit line.
 *
 * The gate finds the socket itself (NETLINK_SOCK_DIAG, an exact lookup by
 * the flow's addresses and ports: the socket's inode and uid; no
 * capability needed). Which process holds that inode is only in
 * /proc/PID/fd, which the kernel shows to a reader with ptrace read access
 * to the process: the same fsuid and fsgid, and the process dumpable. The
 * gate keeps only CAP_NET_ADMIN, so a helper process forked before the
 * gate drops its capabilities does the scan: it keeps CAP_SETUID and
 * CAP_SETGID (the image grants both already) and nothing else, and takes
 * for a request only an inode and a uid, in fixed-size messages over a
 * socketpair only the gate holds. It switches its fsuid/fsgid to the
 * owner's for the scan of that owner's processes, so it can read no
 * process the owner could not read itself, and returns what it found.
 *
 * Lookups are bounded: WHO_PER_SECOND a second, WHO_TIMEOUT_MS each, and
 * the gate waits for them WHO_WAIT_US a second at most (5%), so a flood of
 * denials, or an agent with many processes, slows the queue by that much
 * at worst; past it the lines say why=busy.
 */
#ifndef NAMEGATE_WHO_H
#define NAMEGATE_WHO_H

#include <stdint.h>

#include "log.h"
#include "packet.h"

#define WHO_PER_SECOND 20
#define WHO_TIMEOUT_MS 10 /* one lookup, at most */
#define WHO_WAIT_US 50000 /* the gate waits at most this long a second */
#define WHO_COMM_MAX 16   /* TASK_COMM_LEN, with the NUL */
#define WHO_EXE_MAX 256

enum who_why {
	WHO_FOUND,
	WHO_GONE,     /* the socket was closed (its sender exited) before the lookup */
	WHO_DENIED,   /* the socket is there, but no process whose fds may be read holds it */
	WHO_BUSY,     /* over WHO_PER_SECOND */
	WHO_TIMEOUT,  /* the helper took longer than WHO_TIMEOUT_MS */
	WHO_NOHELPER, /* the helper did not start or has died */
	WHO_NONE,     /* nothing to look up: not TCP/UDP, no ports, no local sender */
};

struct who_answer {
	enum who_why why;
	int32_t pid;
	char comm[WHO_COMM_MAX];
	char exe[WHO_EXE_MAX];
};

struct who;

/* Forks the helper; call before the gate drops its capabilities. NULL
 * after logging why (the gate then logs why=nohelper). */
struct who *who_start(void);
void who_free(struct who *w);

/* The owner of the local socket that sent f (a queued packet of a new
 * flow from this host). Blocks for at most WHO_TIMEOUT_MS. */
void who_flow(struct who *w, const struct flow *f, struct who_answer *a);

/* The owner of the client socket of a DNS query: f is the query as it
 * came in (client -> the resolver's listen address). The same budget as
 * who_flow; never the resolver's own socket. */
void who_dns(struct who *w, const struct flow *f, struct who_answer *a);

/* pid comm exe, or pid=- why=... */
void who_log(struct log_line *l, const struct who_answer *a);
const char *who_why_name(enum who_why why);

#endif
