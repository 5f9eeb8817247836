/*
 * The event loop: epoll for descriptors, a binary min-heap of timers whose
 * earliest deadline bounds each epoll_wait, and signalfd for signals.
 *
 * Callbacks may add, change or remove any registration, their own included,
 * while the loop is dispatching a batch of epoll events. Each registration
 * therefore carries a generation number that is stored in the epoll event;
 * before each dispatch the loop looks the fd up again and skips the event if
 * the slot was emptied or reused since epoll_wait returned.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_BATCH 64
#define LOOP_MAX_SIGNALS 16

struct loop_reg {
	loop_fd_cb cb;
	void *arg;
	uint32_t gen; /* 0 = slot unused */
};

struct loop_sig {
	int signo;
	void (*cb)(int signo, void *arg);
	void *arg;
};

struct loop {
	int epfd;
	bool stop;

	struct loop_reg *regs; /* indexed by fd */
	size_t nregs;
	uint32_t next_gen;

	/* heap[1..nheap]; heap[0] is unused so that 0 can mean "not armed". */
	struct loop_timer **heap;
	size_t nheap, heapcap;

	int sigfd; /* -1 until the first loop_signal */
	sigset_t sigmask;
	struct loop_sig sigs[LOOP_MAX_SIGNALS];
	size_t nsigs;

	struct {
		void (*cb)(void *arg);
		void *arg;
	} hooks[LOOP_MAX_HOOKS];
	size_t nhooks;
	int nleft;  /* events of this turn not dispatched yet */
	int nbatch; /* loop_batch_begin without its end */
};

uint64_t
loop_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *
loop_new(void)
{
	struct loop *lp;

	lp = calloc(1, sizeof(*lp));
	if (lp == NULL) {
		log_warn("loop: calloc");
		return NULL;
	}
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lp->epfd == -1) {
		log_warn("loop: epoll_create1");
		free(lp);
		return NULL;
	}
	lp->sigfd = -1;
	lp->next_gen = 1;
	sigemptyset(&lp->sigmask);
	return lp;
}

void
loop_free(struct loop *lp)
{
	size_t i;

	if (lp == NULL)
		return;
	/* Timers belong to their owners; only mark them unarmed. */
	for (i = 1; i <= lp->nheap; i++)
		lp->heap[i]->heap_idx = 0;
	if (lp->sigfd != -1)
		close(lp->sigfd);
	close(lp->epfd);
	free(lp->regs);
	free(lp->heap);
	free(lp);
}

static int
grow_regs(struct loop *lp, int fd)
{
	struct loop_reg *r;
	size_t n;

	if ((size_t)fd < lp->nregs)
		return 0;
	n = lp->nregs ? lp->nregs : 64;
	while (n <= (size_t)fd)
		n *= 2;
	r = realloc(lp->regs, n * sizeof(*r));
	if (r == NULL) {
		log_warn("loop: realloc for fd %d", fd);
		return -1;
	}
	memset(r + lp->nregs, 0, (n - lp->nregs) * sizeof(*r));
	lp->regs = r;
	lp->nregs = n;
	return 0;
}

static uint64_t
ev_data(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

int
loop_add(struct loop *lp, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	struct epoll_event ev;
	struct loop_reg *r;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (grow_regs(lp, fd) == -1)
		return -1;
	r = &lp->regs[fd];
	if (r->gen != 0) {
		log_warnx("loop: fd %d is already registered", fd);
		errno = EEXIST;
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = ev_data(fd, lp->next_gen);
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warn("loop: epoll_ctl add fd %d", fd);
		return -1;
	}
	r->cb = cb;
	r->arg = arg;
	r->gen = lp->next_gen++;
	if (lp->next_gen == 0)
		lp->next_gen = 1;
	return 0;
}

int
loop_mod(struct loop *lp, int fd, uint32_t events)
{
	struct epoll_event ev;

	if (fd < 0 || (size_t)fd >= lp->nregs || lp->regs[fd].gen == 0) {
		log_warnx("loop: modify of unregistered fd %d", fd);
		errno = ENOENT;
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = ev_data(fd, lp->regs[fd].gen);
	if (epoll_ctl(lp->epfd, EPOLL_CTL_MOD, fd, &ev) == -1) {
		log_warn("loop: epoll_ctl mod fd %d", fd);
		return -1;
	}
	return 0;
}

void
loop_del(struct loop *lp, int fd)
{
	if (fd < 0 || (size_t)fd >= lp->nregs || lp->regs[fd].gen == 0)
		return;
	/* EBADF: the owner closed the fd first, which removed it already. */
	if (epoll_ctl(lp->epfd, EPOLL_CTL_DEL, fd, NULL) == -1 && errno != EBADF)
		log_warn("loop: epoll_ctl del fd %d", fd);
	memset(&lp->regs[fd], 0, sizeof(lp->regs[fd]));
}

void
loop_forget(struct loop *lp, int fd)
{
	if (fd >= 0 && (size_t)fd < lp->nregs)
		memset(&lp->regs[fd], 0, sizeof(lp->regs[fd]));
}

void
loop_del_close(struct loop *lp, int fd)
{
	if (fd < 0)
		return;
	loop_forget(lp, fd);
	/* The last close of a file takes it out of every epoll set. */
	close(fd);
}

/* Timer heap. */

static bool
timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->deadline_ms < b->deadline_ms;
}

static void
heap_place(struct loop *lp, size_t i, struct loop_timer *t)
{
	lp->heap[i] = t;
	t->heap_idx = i;
}

static void
heap_up(struct loop *lp, size_t i)
{
	struct loop_timer *t = lp->heap[i];

	while (i > 1 && timer_before(t, lp->heap[i / 2])) {
		heap_place(lp, i, lp->heap[i / 2]);
		i /= 2;
	}
	heap_place(lp, i, t);
}

static void
heap_down(struct loop *lp, size_t i)
{
	struct loop_timer *t = lp->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i;
		if (c > lp->nheap)
			break;
		if (c + 1 <= lp->nheap && timer_before(lp->heap[c + 1], lp->heap[c]))
			c++;
		if (!timer_before(lp->heap[c], t))
			break;
		heap_place(lp, i, lp->heap[c]);
		i = c;
	}
	heap_place(lp, i, t);
}

static void
heap_remove(struct loop *lp, struct loop_timer *t)
{
	size_t i = t->heap_idx;
	struct loop_timer *last;

	last = lp->heap[lp->nheap--];
	t->heap_idx = 0;
	if (last == t)
		return;
	heap_place(lp, i, last);
	heap_up(lp, i);
	heap_down(lp, last->heap_idx);
}

void
loop_timer_init(struct loop_timer *t, void (*cb)(struct loop_timer *, void *), void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

bool
loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_idx != 0;
}

void
loop_timer_cancel(struct loop *lp, struct loop_timer *t)
{
	if (t->heap_idx == 0 || t->heap_idx > lp->nheap || lp->heap[t->heap_idx] != t)
		return;
	heap_remove(lp, t);
}

void
loop_timer_set(struct loop *lp, struct loop_timer *t, uint64_t ms_from_now)
{
	struct loop_timer **h;
	size_t cap;

	loop_timer_cancel(lp, t);
	t->deadline_ms = loop_now_ms() + ms_from_now;
	if (lp->nheap + 1 >= lp->heapcap) {
		cap = lp->heapcap ? lp->heapcap * 2 : 32;
		h = realloc(lp->heap, cap * sizeof(*h));
		if (h == NULL) {
			/* A timer that silently never fires would hang a request
			 * forever; there is no sane way to go on. */
			fatal("loop: realloc timer heap");
		}
		lp->heap = h;
		lp->heapcap = cap;
	}
	lp->nheap++;
	heap_place(lp, lp->nheap, t);
	heap_up(lp, lp->nheap);
}

static int
next_timeout(struct loop *lp)
{
	uint64_t now, d;

	if (lp->nheap == 0)
		return -1;
	now = loop_now_ms();
	d = lp->heap[1]->deadline_ms;
	if (d <= now)
		return 0;
	if (d - now > 60000)
		return 60000;
	return (int)(d - now);
}

/* Fires every timer due by the time of entry. The heap is re-read after
 * each callback, since a callback may cancel or re-arm any timer; one
 * re-armed with a later deadline waits for the next pass. */
static void
run_timers(struct loop *lp)
{
	uint64_t now = loop_now_ms();
	struct loop_timer *t;

	while (!lp->stop && lp->nheap > 0 && lp->heap[1]->deadline_ms <= now) {
		t = lp->heap[1];
		heap_remove(lp, t);
		t->cb(t, t->arg);
	}
}

/* Signals. */

static void
signal_cb(int fd, uint32_t events, void *arg)
{
	struct loop *lp = arg;
	struct signalfd_siginfo si;
	ssize_t n;
	size_t i;

	for (;;) {
		n = read(fd, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n != (ssize_t)sizeof(si)) {
			log_warn("loop: read signalfd");
			return;
		}
		for (i = 0; i < lp->nsigs; i++) {
			if (lp->sigs[i].signo == (int)si.ssi_signo)
				lp->sigs[i].cb((int)si.ssi_signo, lp->sigs[i].arg);
		}
	}
}

int
loop_signal(struct loop *lp, int signo, void (*cb)(int signo, void *arg), void *arg)
{
	sigset_t one;
	size_t i;
	int fd;

	for (i = 0; i < lp->nsigs; i++) {
		if (lp->sigs[i].signo == signo) {
			lp->sigs[i].cb = cb;
			lp->sigs[i].arg = arg;
			return 0;
		}
	}
	if (lp->nsigs == LOOP_MAX_SIGNALS) {
		log_warnx("loop: too many signals");
		return -1;
	}
	sigemptyset(&one);
	if (sigaddset(&one, signo) == -1) {
		log_warn("loop: sigaddset %d", signo);
		return -1;
	}
	if (sigprocmask(SIG_BLOCK, &one, NULL) == -1) {
		log_warn("loop: sigprocmask block %d", signo);
		return -1;
	}
	sigaddset(&lp->sigmask, signo);
	fd = signalfd(lp->sigfd, &lp->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1) {
		log_warn("loop: signalfd");
		sigdelset(&lp->sigmask, signo);
		return -1;
	}
	if (lp->sigfd == -1) {
		if (loop_add(lp, fd, EPOLLIN, signal_cb, lp) == -1) {
			close(fd);
			sigdelset(&lp->sigmask, signo);
			return -1;
		}
		lp->sigfd = fd;
	}
	lp->sigs[lp->nsigs].signo = signo;
	lp->sigs[lp->nsigs].cb = cb;
	lp->sigs[lp->nsigs].arg = arg;
	lp->nsigs++;
	return 0;
}

/* Running. */

static void
dispatch(struct loop *lp, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct loop_reg *r;

	if (fd < 0 || (size_t)fd >= lp->nregs)
		return;
	r = &lp->regs[fd];
	/* Removed, or removed and reused, by an earlier callback of this
	 * batch: the event belongs to a registration that is gone. */
	if (r->gen != gen)
		return;
	r->cb(fd, ev->events, r->arg);
}

int
loop_run(struct loop *lp)
{
	struct epoll_event evs[LOOP_BATCH];
	int i, n;

	lp->stop = false;
	while (!lp->stop) {
		n = epoll_wait(lp->epfd, evs, LOOP_BATCH, next_timeout(lp));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("loop: epoll_wait");
			return -1;
		}
		for (i = 0; i < n && !lp->stop; i++) {
			lp->nleft = n - i - 1;
			dispatch(lp, &evs[i]);
		}
		lp->nleft = 0;
		run_timers(lp);
		for (size_t h = 0; h < lp->nhooks; h++)
			lp->hooks[h].cb(lp->hooks[h].arg);
	}
	return 0;
}

bool
loop_turn_busy(const struct loop *lp)
{
	return lp->nleft > 0 || lp->nbatch > 0;
}

void
loop_batch_begin(struct loop *lp)
{
	lp->nbatch++;
}

void
loop_batch_end(struct loop *lp)
{
	if (lp->nbatch > 0)
		lp->nbatch--;
}

int
loop_turn_hook(struct loop *lp, void (*cb)(void *arg), void *arg)
{
	if (lp->nhooks == LOOP_MAX_HOOKS) {
		log_warnx("loop: no room for another turn hook");
		return -1;
	}
	lp->hooks[lp->nhooks].cb = cb;
	lp->hooks[lp->nhooks].arg = arg;
	lp->nhooks++;
	return 0;
}

void
loop_stop(struct loop *lp)
{
	lp->stop = true;
}

void
loop_turn_unhook(struct loop *lp, void (*cb)(void *arg), void *arg)
{
	for (size_t h = 0; h < lp->nhooks; h++) {
		if (lp->hooks[h].cb == cb && lp->hooks[h].arg == arg) {
			memmove(&lp->hooks[h], &lp->hooks[h + 1],
			        (lp->nhooks - h - 1) * sizeof(lp->hooks[0]));
			lp->nhooks--;
			return;
		}
	}
}
