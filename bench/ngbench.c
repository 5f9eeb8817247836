/*
 * ngbench: the load tools of namegate's benchmark (bench/run), one binary:
 *
 *   ngbench serve PORT...
 *       accept and close TCP connections on every address (0.0.0.0 and ::)
 *       of each PORT, until killed. Runs in the "internet" namespace.
 *   ngbench conn SECONDS CONCURRENCY PORT ADDR...
 *       open new TCP connections to ADDR:PORT round robin, CONCURRENCY in
 *       flight, each closed with a reset as soon as it is established (so no
 *       TIME_WAIT runs out the ports); prints one JSON line: attempts, ok,
 *       failures by errno, connections/s, connect latency avg/p50/p99.
 *   ngbench flood SECONDS PROCS PPS DPORT ADDR...
 *       PROCS processes, each on its own raw socket, send TCP SYNs to ADDR
 *       round robin from random source ports, PPS in total (0 = as fast as
 *       they can); prints one JSON line: sent, send errors, packets/s.
 *   ngbench dns SECONDS CLIENTS SERVER FILE
 *       CLIENTS closed-loop DNS clients, each one UDP socket with one query
 *       outstanding, asking the A records of the names in FILE (one a
 *       line, each once) until the names or SECONDS run out; prints one
 *       JSON line: answered, NOERROR, lost, queries/s, latency avg/p99.
 *       (dnsperf with -q 1 leaves gaps between queries, so it cannot say
 *       what one client at a time gets.)
 *
 * Written for the benchmark only: no config, plain stdout, exit 1 on setup
 * errors. Needs root (raw sockets) for flood.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ngcommon.h"

#define NGB_MAX_ADDRS 256
#define NGB_MAX_LAT (16 * 1024 * 1024)
#define NGB_CONN_TIMEOUT_NS (3 * 1000000000LL)
#define NGB_FLOOD_BATCH 64

struct target {
	struct sockaddr_storage sa;
	socklen_t len;
};

static size_t
parse_targets(char **argv, int argc, int port, struct target *t)
{
	size_t n = 0;

	for (int i = 0; i < argc && n < NGB_MAX_ADDRS; i++, n++)
		sockaddr_of(argv[i], port, &t[n].sa, &t[n].len);
	return n;
}

/* ------------------------------------------------------------------ serve */

static int
serve(int argc, char **argv)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < argc; i++) {
		for (int fam = 0; fam < 2; fam++) {
			struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
			struct sockaddr_in s4 = {.sin_family = AF_INET};
			struct epoll_event ev = {.events = EPOLLIN};
			int one = 1;
			int fd = socket(fam ? AF_INET6 : AF_INET,
			                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			if (fd < 0)
				die("socket");
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (fam)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			s4.sin_port = s6.sin6_port = htons((uint16_t)atoi(argv[i]));
			if ((fam ? bind(fd, (struct sockaddr *)&s6, sizeof(s6))
			         : bind(fd, (struct sockaddr *)&s4, sizeof(s4))) != 0)
				die("bind");
			if (listen(fd, 65535) != 0)
				die("listen");
			ev.data.fd = fd;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
				die("epoll_ctl");
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(ep, evs, 16, -1);

		for (int i = 0; i < n; i++) {
			/* Accept everything queued: the load is bursts of
			 * thousands of handshakes a second. */
			for (;;) {
				int c = accept4(evs[i].data.fd, NULL, NULL, SOCK_CLOEXEC);

				if (c < 0)
					break;
				close(c);
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ conn */

struct slot {
	int fd;
	uint64_t start;
};

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
conn_open(struct slot *s, const struct target *t, int ep, size_t idx, unsigned *errs)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = idx};

	s->fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die("socket");
	/* Closed with a reset: no TIME_WAIT, so the ports never run out. */
	setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	s->start = now_ns();
	if (connect(s->fd, (const struct sockaddr *)&t->sa, t->len) != 0 && errno != EINPROGRESS) {
		errs[errno < 200 ? errno : 0]++;
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0)
		die("epoll_ctl");
	return 0;
}

static int
conn(int argc, char **argv)
{
	static struct target t[NGB_MAX_ADDRS];
	double secs = atof(argv[0]);
	int conc = atoi(argv[1]);
	size_t nt = parse_targets(argv + 3, argc - 3, atoi(argv[2]), t), next = 0;
	struct slot *slots = calloc((size_t)conc, sizeof(*slots));
	uint32_t *lat = malloc(NGB_MAX_LAT * sizeof(*lat));
	unsigned errs[200] = {0};
	uint64_t t0, end, attempts = 0, ok = 0, fail = 0, nlat = 0, sum = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool first = true;

	if (slots == NULL || lat == NULL || ep < 0 || nt == 0 || conc <= 0)
		die("setup");
	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	for (int i = 0; i < conc; i++) {
		slots[i].fd = -1;
		attempts++;
		if (conn_open(&slots[i], &t[next++ % nt], ep, (size_t)i, errs) != 0)
			fail++;
	}
	for (;;) {
		struct epoll_event evs[256];
		uint64_t now = now_ns();
		bool running = now < end;
		int n, live = 0;

		n = epoll_wait(ep, evs, 256, 10);
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct slot *s = &slots[evs[i].data.u64];
			int err = 0;
			socklen_t el = sizeof(err);

			getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err == 0) {
				uint64_t d = now - s->start;

				ok++;
				sum += d;
				if (nlat < NGB_MAX_LAT)
					lat[nlat++] = (uint32_t)(d / 1000);
			} else {
				fail++;
				errs[err < 200 ? err : 0]++;
			}
			close(s->fd);
			s->fd = -1;
		}
		for (int i = 0; i < conc; i++) {
			struct slot *s = &slots[i];

			if (s->fd >= 0 && now - s->start > NGB_CONN_TIMEOUT_NS) {
				fail++;
				errs[ETIMEDOUT]++;
				close(s->fd);
				s->fd = -1;
			}
			if (s->fd < 0 && running && now < end) {
				attempts++;
				if (conn_open(s, &t[next++ % nt], ep, (size_t)i, errs) != 0)
					fail++;
			}
			live += s->fd >= 0;
		}
		if (!running && live == 0)
			break;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf(
	    "{\"attempts\": %llu, \"ok\": %llu, \"fail\": %llu, \"cps\": %.1f, "
	    "\"avg_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"errors\": {",
	    (unsigned long long)attempts, (unsigned long long)ok, (unsigned long long)fail,
	    (double)ok / secs, ok ? (double)sum / (double)ok / 1e6 : 0.0,
	    nlat ? lat[nlat / 2] / 1e3 : 0.0, nlat ? lat[nlat * 99 / 100] / 1e3 : 0.0,
	    nlat ? lat[nlat - 1] / 1e3 : 0.0);
	for (int e = 0; e < 200; e++) {
		if (errs[e] == 0)
			continue;
		printf("%s\"%s\": %u", first ? "" : ", ", e ? strerrorname_np(e) : "other",
		       errs[e]);
		first = false;
	}
	printf("}}\n");
	return 0;
}

/* ------------------------------------------------------------------ dns */

struct dnsclient {
	int fd;
	uint16_t id;
	uint64_t start;
	bool busy;
};

static char **
read_names(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t cap = 1024;
	char **v = malloc(cap * sizeof(*v));

	if (f == NULL || v == NULL)
		die(path);
	*n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *sp = strpbrk(line, " \t\n");

		if (sp != NULL)
			*sp = '\0';
		if (line[0] == '\0')
			continue;
		if (*n == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			if (v == NULL)
				die("realloc");
		}
		v[(*n)++] = strdup(line);
	}
	fclose(f);
	return v;
}

static size_t
build_query(uint8_t *q, uint16_t id, const char *name)
{
	size_t pos = 12;
	const char *p = name;

	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;
	while (*p != '\0' && pos < 400) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		q[pos++] = (uint8_t)l;
		memcpy(q + pos, p, l);
		pos += l;
		p += l + (dot ? 1 : 0);
	}
	q[pos++] = 0;
	q[pos++] = 0;
	q[pos++] = 1; /* A */
	q[pos++] = 0;
	q[pos++] = 1; /* IN */
	return pos;
}

static bool
dns_send(struct dnsclient *c, char **names, size_t nnames, size_t *next, uint16_t id)
{
	uint8_t q[512];
	size_t len;

	if (*next >= nnames)
		return false;
	c->id = id;
	len = build_query(q, id, names[(*next)++]);
	c->start = now_ns();
	c->busy = send(c->fd, q, len, 0) == (ssize_t)len;
	return c->busy;
}

static int
dns(int argc, char **argv)
{
	double secs = atof(argv[0]);
	int nc = atoi(argv[1]);
	struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons(53)};
	size_t nnames, next = 0;
	char **names = read_names(argv[3], &nnames);
	struct dnsclient *cl = calloc((size_t)nc, sizeof(*cl));
	uint32_t *lat = malloc(NGB_MAX_LAT * sizeof(*lat));
	uint64_t t0, end, answered = 0, noerror = 0, lost = 0, nlat = 0, sum = 0, last;
	uint16_t id = 1;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	(void)argc;
	if (cl == NULL || lat == NULL || ep < 0 || nc <= 0 ||
	    inet_pton(AF_INET, argv[2], &srv.sin_addr) != 1)
		die("setup");
	for (int i = 0; i < nc; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

		cl[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (cl[i].fd < 0 || connect(cl[i].fd, (struct sockaddr *)&srv, sizeof(srv)) != 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev) != 0)
			die("client socket");
	}
	t0 = last = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	for (int i = 0; i < nc; i++)
		dns_send(&cl[i], names, nnames, &next, id++);
	for (;;) {
		struct epoll_event evs[256];
		uint64_t now;
		int n = epoll_wait(ep, evs, 256, 10), busy = 0;

		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct dnsclient *c = &cl[evs[i].data.u32];
			uint8_t buf[4096];
			ssize_t r;

			while ((r = recv(c->fd, buf, sizeof(buf), 0)) >= 12) {
				if (!c->busy || (uint16_t)(buf[0] << 8 | buf[1]) != c->id)
					continue;
				now = now_ns();
				answered++;
				noerror += (buf[3] & 0x0f) == 0;
				sum += now - c->start;
				if (nlat < NGB_MAX_LAT)
					lat[nlat++] = (uint32_t)((now - c->start) / 1000);
				last = now;
				c->busy = false;
				if (now < end)
					dns_send(c, names, nnames, &next, id++);
			}
		}
		for (int i = 0; i < nc; i++) {
			/* A query unanswered for 2 s is lost; the client moves on. */
			if (cl[i].busy && now > cl[i].start && now - cl[i].start > 2000000000ULL) {
				lost++;
				cl[i].busy = false;
				if (now < end)
					dns_send(&cl[i], names, nnames, &next, id++);
			}
			busy += cl[i].busy;
		}
		if (busy == 0)
			break;
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("{\"answered\": %llu, \"noerror\": %llu, \"lost\": %llu, \"qps\": %.1f, "
	       "\"avg_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f}\n",
	       (unsigned long long)answered, (unsigned long long)noerror, (unsigned long long)lost,
	       (double)answered / ((double)(last - t0) / 1e9),
	       answered ? (double)sum / (double)answered / 1e6 : 0.0,
	       nlat ? lat[nlat / 2] / 1e3 : 0.0, nlat ? lat[nlat * 99 / 100] / 1e3 : 0.0);
	return 0;
}

/* ------------------------------------------------------------------ flood */

static uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t
csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

struct synpkt {
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

/* The source address the kernel would use towards dst. */
static struct in_addr
source_for(const struct sockaddr_in *dst)
{
	struct sockaddr_in src;
	socklen_t sl = sizeof(src);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&src, &sl) != 0)
		die("finding the source address");
	close(fd);
	return src.sin_addr;
}

static void
build_syn(struct synpkt *p, struct in_addr src, const struct sockaddr_in *dst, uint16_t sport,
          uint32_t seq)
{
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) ph;
	uint32_t sum;

	memset(p, 0, sizeof(*p));
	p->ip.version = 4;
	p->ip.ihl = 5;
	p->ip.tot_len = htons(sizeof(*p));
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_TCP;
	p->ip.saddr = src.s_addr;
	p->ip.daddr = dst->sin_addr.s_addr;
	p->tcp.source = htons(sport);
	p->tcp.dest = dst->sin_port;
	p->tcp.seq = htonl(seq);
	p->tcp.doff = 5;
	p->tcp.syn = 1;
	p->tcp.window = htons(64240);
	ph.src = src.s_addr;
	ph.dst = dst->sin_addr.s_addr;
	ph.zero = 0;
	ph.proto = IPPROTO_TCP;
	ph.len = htons(sizeof(p->tcp));
	sum = csum_add(0, &ph, sizeof(ph));
	sum = csum_add(sum, &p->tcp, sizeof(p->tcp));
	p->tcp.check = htons(csum_fold(sum));
}

/* One flooding process: sendmmsg batches, paced to pps when pps > 0. */
static void
flood_one(const struct target *t, size_t nt, double secs, double pps, uint64_t *out)
{
	static struct synpkt pk[NGB_FLOOD_BATCH];
	struct mmsghdr mm[NGB_FLOOD_BATCH];
	struct iovec iov[NGB_FLOOD_BATCH];
	struct in_addr src = source_for((const struct sockaddr_in *)&t[0].sa);
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), sent = 0, errs = 0;
	uint32_t rnd[NGB_FLOOD_BATCH];
	size_t next = 0;
	int one = 1;
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);

	if (fd < 0)
		die("raw socket");
	setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one));
	for (;;) {
		uint64_t now = now_ns();
		int n;

		if (now >= end)
			break;
		if (pps > 0 && (double)sent > pps * (double)(now - t0) / 1e9) {
			struct timespec ts = {0, 200000};

			nanosleep(&ts, NULL);
			continue;
		}
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			die("getrandom");
		for (int i = 0; i < NGB_FLOOD_BATCH; i++) {
			const struct target *d = &t[next++ % nt];

			build_syn(&pk[i], src, (const struct sockaddr_in *)&d->sa,
			          (uint16_t)(1024 + rnd[i] % 60000), rnd[i]);
			iov[i].iov_base = &pk[i];
			iov[i].iov_len = sizeof(pk[i]);
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_name = (void *)&d->sa;
			mm[i].msg_hdr.msg_namelen = d->len;
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		n = sendmmsg(fd, mm, NGB_FLOOD_BATCH, 0);
		if (n < 0) {
			/* A packet the firewall dropped at once fails the
			 * send; count it and carry on with the next one. */
			errs++;
			sent++;
			continue;
		}
		sent += (uint64_t)n;
		if (n < NGB_FLOOD_BATCH) {
			errs++;
			sent++;
		}
	}
	out[0] = sent;
	out[1] = errs;
}

static int
flood(int argc, char **argv)
{
	static struct target t[NGB_MAX_ADDRS];
	double secs = atof(argv[0]);
	int procs = atoi(argv[1]);
	double pps = atof(argv[2]);
	size_t nt = parse_targets(argv + 4, argc - 4, atoi(argv[3]), t);
	uint64_t *res, sent = 0, errs = 0, t0;

	if (nt == 0 || procs <= 0 || t[0].sa.ss_family != AF_INET) {
		fprintf(stderr, "ngbench: flood needs IPv4 targets\n");
		return 2;
	}
	res = mmap(NULL, (size_t)procs * 2 * sizeof(*res), PROT_READ | PROT_WRITE,
	           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		die("mmap");
	t0 = now_ns();
	for (int i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			flood_one(t, nt, secs, pps / procs, &res[2 * i]);
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	for (int i = 0; i < procs; i++) {
		sent += res[2 * i];
		errs += res[2 * i + 1];
	}
	printf("{\"sent\": %llu, \"send_errors\": %llu, \"pps\": %.1f, \"secs\": %.3f}\n",
	       (unsigned long long)sent, (unsigned long long)errs,
	       (double)sent / ((double)(now_ns() - t0) / 1e9), (double)(now_ns() - t0) / 1e9);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 2, argv + 2);
	if (argc >= 6 && strcmp(argv[1], "conn") == 0)
		return conn(argc - 2, argv + 2);
	if (argc >= 7 && strcmp(argv[1], "flood") == 0)
		return flood(argc - 2, argv + 2);
	if (argc == 6 && strcmp(argv[1], "dns") == 0)
		return dns(argc - 2, argv + 2);
	fprintf(stderr, "usage: ngbench serve PORT...\n"
	                "       ngbench conn SECONDS CONCURRENCY PORT ADDR...\n"
	                "       ngbench flood SECONDS PROCS PPS DPORT ADDR...\n"
	                "       ngbench dns SECONDS CLIENTS SERVER FILE\n");
	return 2;
}
