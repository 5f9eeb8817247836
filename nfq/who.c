/* Who sent a denied flow: sock_diag in the gate, the /proc scan in a helper (who.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "who.h"

#define WHO_MAGIC 0x4e47570aU /* "NGW", version 0x0a */
#define HELPER_FD 3
#define CAPBIT(c) (1ULL << (c))
#define HELPER_CAPS (CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID))

struct who_req {
	uint32_t magic;
	uint32_t seq;
	uint32_t uid;
	uint32_t pad;
	uint64_t inode;
};

struct who_rep {
	uint32_t magic;
	uint32_t seq;
	int32_t pid;
	uint32_t why;
	char comm[WHO_COMM_MAX];
	char exe[WHO_EXE_MAX];
};

struct who {
	struct mnl_socket *diag;
	uint32_t portid, seq;
	int fd; /* the gate's end of the socketpair; -1 once the helper is gone */
	pid_t helper;
	uint64_t second;  /* CLOCK_MONOTONIC second the budget counts */
	unsigned used;    /* lookups in it */
	uint64_t used_us; /* and the time the gate waited for them */
	char buf[8192];   /* one sock_diag request or answer */
};

/* ------------------------------------------------------------ the helper */

/* A pid directory name: digits only. */
static bool
is_pid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

static int
cmp_desc(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x < y) - (x > y);
}

/* Every pid in /proc, newest first: the sender of a flow denied a moment
 * ago is most likely among the latest processes. */
static long *
list_pids(DIR *proc, size_t *n)
{
	struct dirent *de;
	long *v = NULL, *nv;
	size_t cap = 0;

	*n = 0;
	rewinddir(proc);
	while ((de = readdir(proc)) != NULL) {
		if (!is_pid(de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		v[(*n)++] = strtol(de->d_name, NULL, 10);
	}
	if (*n > 1)
		qsort(v, *n, sizeof(*v), cmp_desc);
	return v;
}

/* Does process pid hold socket:[inode]? 1 yes, 0 no or its fds cannot be
 * read. */
static int
holds(int procfd, long pid, const char *want)
{
	char path[64], link[64];
	struct dirent *de;
	DIR *d;
	ssize_t n;
	int fd, found = 0;

	snprintf(path, sizeof(path), "%ld/fd", pid);
	fd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (n < 0) {
			if (errno == EACCES || errno == EPERM)
				break;
			continue;
		}
		link[n] = '\0';
		if (strcmp(link, want) == 0) {
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

static void
read_comm(int procfd, long pid, struct who_rep *r)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%ld/comm", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, r->comm, sizeof(r->comm) - 1);
	close(fd);
	if (n <= 0)
		return;
	r->comm[n] = '\0';
	r->comm[strcspn(r->comm, "\n")] = '\0';
}

static void
read_exe(int procfd, long pid, struct who_rep *r)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%ld/exe", pid);
	n = readlinkat(procfd, path, r->exe, sizeof(r->exe) - 1);
	r->exe[n > 0 ? n : 0] = '\0';
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The scan: the owner's processes only (the owner of /proc/PID is the
 * process's euid, root for one that is not dumpable), read with the
 * owner's fsuid and the process's egid as fsgid, so the kernel lets the
 * helper see what the owner could see of its own processes and nothing
 * more. It gives up after WHO_TIMEOUT_MS, when the gate has stopped
 * waiting for it. */
static void
scan(DIR *proc, uint32_t uid, uint64_t inode, struct who_rep *r)
{
	char want[40], name[24];
	struct stat st;
	size_t n, i;
	long *pids = list_pids(proc, &n);
	uint64_t deadline = now_us() + WHO_TIMEOUT_MS * 1000;
	int procfd = dirfd(proc), h;
	gid_t gid = 0;

	/* The socket is there (sock_diag found it), so a scan that finds no
	 * holder could not read it: a process that made itself not dumpable
	 * (its /proc entries belong to root then), or one of another uid the
	 * descriptor was passed to. */
	r->why = WHO_DENIED;
	r->pid = -1;
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)inode);
	setfsuid(uid);
	for (i = 0; pids != NULL && i < n; i++) {
		if ((i & 15) == 15 && now_us() > deadline) {
			r->why = WHO_TIMEOUT;
			break;
		}
		snprintf(name, sizeof(name), "%ld", pids[i]);
		if (fstatat(procfd, name, &st, 0) < 0 || st.st_uid != uid)
			continue;
		if (st.st_gid != gid) {
			gid = st.st_gid;
			setfsgid(gid);
		}
		h = holds(procfd, pids[i], want);
		if (h == 1) {
			r->why = WHO_FOUND;
			r->pid = (int32_t)pids[i];
			read_comm(procfd, pids[i], r);
			read_exe(procfd, pids[i], r);
			break;
		}
	}
	setfsuid(0);
	setfsgid(0);
	free(pids);
}

/* Keeps CAP_SETUID and CAP_SETGID, effective, and nothing else; no new
 * privileges. The bounding set needs CAP_SETPCAP to shrink; without it
 * no_new_privs still keeps the helper within what it holds. */
static int
helper_caps(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int cap = 0; cap <= 63; cap++) {
		if ((HELPER_CAPS & CAPBIT(cap)) == 0)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	}
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) != 0)
		return -1;
	d[0].effective = d[0].permitted &= (uint32_t)HELPER_CAPS;
	d[0].inheritable = 0;
	d[1].effective = d[1].permitted = d[1].inheritable = 0;
	return syscall(SYS_capset, &hdr, d) == 0 ? 0 : -1;
}

static __attribute__((noreturn)) void
helper_main(int fd, pid_t parent)
{
	struct who_req q;
	struct who_rep r;
	ssize_t n;
	DIR *proc;

	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "namegate-who", 0, 0, 0);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	if (dup2(fd, HELPER_FD) < 0)
		_exit(1);
	/* Nothing of the gate's stays open here: no netlink socket, no
	 * queue, no log. */
	if (syscall(SYS_close_range, HELPER_FD + 1, ~0U, 0) != 0)
		_exit(1);
	if (helper_caps() < 0)
		_exit(1);
	proc = opendir("/proc");
	if (proc == NULL)
		_exit(1);
	for (;;) {
		n = recv(HELPER_FD, &q, sizeof(q), 0);
		if (n == 0)
			_exit(0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		/* Only the gate holds the other end; anything but an exact
		 * request ends the helper. */
		if ((size_t)n != sizeof(q) || q.magic != WHO_MAGIC || q.pad != 0)
			_exit(1);
		memset(&r, 0, sizeof(r));
		r.magic = WHO_MAGIC;
		r.seq = q.seq;
		scan(proc, q.uid, q.inode, &r);
		if (send(HELPER_FD, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
			_exit(1);
	}
}

/* ------------------------------------------------------------ the gate's side */

struct who *
who_start(void)
{
	struct who *w = calloc(1, sizeof(*w));
	int sv[2];
	pid_t parent = getpid();

	if (w == NULL) {
		log_warn("who: allocating");
		return NULL;
	}
	w->fd = -1;
	w->diag = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (w->diag == NULL || mnl_socket_bind(w->diag, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_warn("who: opening the sock_diag netlink socket");
		goto fail;
	}
	w->portid = mnl_socket_get_portid(w->diag);
	w->seq = (uint32_t)time(NULL);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("who: socketpair");
		goto fail;
	}
	w->helper = fork();
	if (w->helper < 0) {
		log_warn("who: starting the lookup helper");
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (w->helper == 0)
		helper_main(sv[1], parent);
	close(sv[1]);
	w->fd = sv[0];
	return w;
fail:
	if (w->diag != NULL)
		mnl_socket_close(w->diag);
	free(w);
	return NULL;
}

void
who_free(struct who *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd); /* the helper reads EOF and exits */
	if (w->helper > 0)
		waitpid(w->helper, NULL, 0);
	mnl_socket_close(w->diag);
	free(w);
}

struct diag_result {
	bool found;
	uint32_t uid;
	uint64_t inode;
};

static int
diag_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct diag_result *res = arg;
	const struct inet_diag_msg *m;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY || mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_OK;
	m = mnl_nlmsg_get_payload(nlh);
	res->found = true;
	res->uid = m->idiag_uid;
	res->inode = m->idiag_inode;
	return MNL_CB_OK;
}

/* One exact lookup: the socket whose id is (src, sport) -> (dst, dport). */
static bool
diag_one(struct who *w, const struct flow *f, bool swap, struct diag_result *res)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(w->buf);
	struct inet_diag_req_v2 *r;
	size_t alen = f->family == AF_INET ? 4 : 16;
	ssize_t n;
	int ret;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++w->seq;
	r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
	r->sdiag_family = (uint8_t)f->family;
	r->sdiag_protocol = f->proto;
	r->idiag_states = ~0U;
	r->id.idiag_sport = htons(swap ? f->dport : f->sport);
	r->id.idiag_dport = htons(swap ? f->sport : f->dport);
	memcpy(r->id.idiag_src, swap ? f->dst : f->src, alen);
	memcpy(r->id.idiag_dst, swap ? f->src : f->dst, alen);
	r->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	r->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	memset(res, 0, sizeof(*res));
	if (mnl_socket_sendto(w->diag, nlh, nlh->nlmsg_len) < 0)
		return false;
	do {
		n = mnl_socket_recvfrom(w->diag, w->buf, sizeof(w->buf));
		if (n < 0)
			return false;
		ret = mnl_cb_run(w->buf, (size_t)n, w->seq, w->portid, diag_cb, res);
	} while (ret > MNL_CB_STOP && !res->found);
	return res->found;
}

/* How long this lookup may wait, in ms: 0 when the second's budget is
 * spent (WHO_PER_SECOND lookups, WHO_WAIT_US of waiting). */
static long
budget(struct who *w)
{
	uint64_t now = now_us(), left;

	if (now / 1000000 != w->second) {
		w->second = now / 1000000;
		w->used = 0;
		w->used_us = 0;
	}
	if (w->used >= WHO_PER_SECOND || w->used_us + 1000 > WHO_WAIT_US)
		return 0;
	w->used++;
	left = (WHO_WAIT_US - w->used_us) / 1000;
	return left < WHO_TIMEOUT_MS ? (long)left : WHO_TIMEOUT_MS;
}

static void
helper_gone(struct who *w)
{
	log_warnx("who: the lookup helper is gone; flow lines say why=nohelper from now on");
	close(w->fd);
	w->fd = -1;
	if (w->helper > 0 && waitpid(w->helper, NULL, WNOHANG) == w->helper)
		w->helper = 0;
}

/* Asks the helper and waits for the answer to this request, at most
 * WHO_TIMEOUT_MS; late answers to earlier requests are skipped. */
static void
ask_helper(struct who *w, uint32_t uid, uint64_t inode, long wait_ms, struct who_answer *a)
{
	struct who_req q = {.magic = WHO_MAGIC, .seq = ++w->seq, .uid = uid, .inode = inode};
	struct who_rep r;
	struct pollfd p = {.fd = w->fd, .events = POLLIN};
	uint64_t t0 = now_us(), deadline = t0 + (uint64_t)wait_ms * 1000, t;
	ssize_t n;

	if (send(w->fd, &q, sizeof(q), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(q)) {
		if (errno == EAGAIN)
			a->why = WHO_BUSY;
		else
			helper_gone(w);
		return;
	}
	for (;;) {
		t = now_us();
		if (t >= deadline || poll(&p, 1, (int)((deadline - t + 999) / 1000)) == 0) {
			w->used_us += now_us() - t0;
			a->why = WHO_TIMEOUT;
			return;
		}
		n = recv(w->fd, &r, sizeof(r), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n != (ssize_t)sizeof(r) || r.magic != WHO_MAGIC) {
			helper_gone(w);
			return;
		}
		if (r.seq != q.seq)
			continue;
		break;
	}
	w->used_us += now_us() - t0;
	if (r.why > WHO_NONE) {
		helper_gone(w);
		return;
	}
	a->why = (enum who_why)r.why;
	a->pid = r.pid;
	memcpy(a->comm, r.comm, sizeof(a->comm));
	a->comm[sizeof(a->comm) - 1] = '\0';
	memcpy(a->exe, r.exe, sizeof(a->exe));
	a->exe[sizeof(a->exe) - 1] = '\0';
}

/* fallback: a UDP socket not found as the receiver of a packet from the
 * far end is looked for as the far end's (who_flow's unconnected
 * sender). */
static void
lookup(struct who *w, const struct flow *f, bool fallback, struct who_answer *a)
{
	struct diag_result res;
	long wait_ms;

	memset(a, 0, sizeof(*a));
	a->pid = -1;
	a->why = WHO_NONE;
	if (f == NULL || !f->has_ports || (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP))
		return;
	if (w == NULL || w->fd < 0) {
		a->why = WHO_NOHELPER;
		return;
	}
	wait_ms = budget(w);
	if (wait_ms == 0) {
		a->why = WHO_BUSY;
		return;
	}
	/* UDP's exact lookup takes the remote end as the source, for
	 * historical reasons (udp_dump_one); an unconnected socket is found
	 * by its local address and port that way. */
	if (!diag_one(w, f, f->proto == IPPROTO_UDP, &res) &&
	    !(fallback && f->proto == IPPROTO_UDP && diag_one(w, f, false, &res))) {
		a->why = WHO_GONE;
		return;
	}
	if (res.inode == 0) {
		a->why = WHO_GONE;
		return;
	}
	ask_helper(w, res.uid, res.inode, wait_ms, a);
}

void
who_flow(struct who *w, const struct flow *f, struct who_answer *a)
{
	lookup(w, f, true, a);
}

void
who_dns(struct who *w, const struct flow *f, struct who_answer *a)
{
	/* The reverse lookup would find the resolver's own listening
	 * socket: a query's sender is the receiver of the reply, or gone. */
	lookup(w, f, false, a);
}

const char *
who_why_name(enum who_why why)
{
	switch (why) {
	case WHO_FOUND:
		return "found";
	case WHO_GONE:
		return "gone";
	case WHO_DENIED:
		return "denied";
	case WHO_BUSY:
		return "busy";
	case WHO_TIMEOUT:
		return "timeout";
	case WHO_NOHELPER:
		return "nohelper";
	case WHO_NONE:
	default:
		return "none";
	}
}

void
who_log(struct log_line *l, const struct who_answer *a)
{
	if (a->why != WHO_FOUND) {
		logline_str(l, "pid", "-");
		logline_str(l, "why", who_why_name(a->why));
		return;
	}
	logline_int(l, "pid", a->pid);
	logline_str(l, "comm", a->comm[0] ? a->comm : "-");
	logline_str(l, "exe", a->exe[0] ? a->exe : "-");
}
