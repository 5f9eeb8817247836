/* The event loop: timer order, cancel, re-arm, self-removal, signals. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "confwatch.h"
#include "loop.h"

struct rec {
	struct loop *lp;
	int order[32];
	int n;
};

struct tagged {
	struct loop_timer t;
	struct rec *r;
	int tag;
};

static void
record_cb(struct loop_timer *t, void *arg)
{
	struct tagged *x = arg;

	x->r->order[x->r->n++] = x->tag;
}

static void
stop_cb(struct loop_timer *t, void *arg)
{
	loop_stop(arg);
}

static void
test_timer_order(void **state)
{
	static const int delays[] = {50, 10, 30, 20, 40, 5, 45, 15};
	struct tagged x[8];
	struct loop_timer stop;
	struct rec r = {0};
	size_t i;

	r.lp = loop_new();
	assert_non_null(r.lp);
	for (i = 0; i < 8; i++) {
		x[i].r = &r;
		x[i].tag = delays[i];
		loop_timer_init(&x[i].t, record_cb, &x[i]);
		assert_false(loop_timer_armed(&x[i].t));
		loop_timer_set(r.lp, &x[i].t, (uint64_t)delays[i]);
		assert_true(loop_timer_armed(&x[i].t));
	}
	/* Cancel one in the middle of the heap, and one twice. */
	loop_timer_cancel(r.lp, &x[2].t);
	loop_timer_cancel(r.lp, &x[2].t);
	assert_false(loop_timer_armed(&x[2].t));
	/* Re-arming moves a timer rather than adding it again. */
	loop_timer_set(r.lp, &x[0].t, 1);
	loop_timer_init(&stop, stop_cb, r.lp);
	loop_timer_set(r.lp, &stop, 100);
	assert_int_equal(loop_run(r.lp), 0);

	assert_int_equal(r.n, 7);
	assert_int_equal(r.order[0], 50); /* re-armed to 1 ms */
	assert_int_equal(r.order[1], 5);
	assert_int_equal(r.order[2], 10);
	assert_int_equal(r.order[3], 15);
	assert_int_equal(r.order[4], 20);
	assert_int_equal(r.order[5], 40);
	assert_int_equal(r.order[6], 45);
	for (i = 0; i < 8; i++)
		assert_false(loop_timer_armed(&x[i].t));
	loop_free(r.lp);
}

struct rearm {
	struct loop *lp;
	struct loop_timer t;
	struct loop_timer other;
	int fired;
};

static void
rearm_cb(struct loop_timer *t, void *arg)
{
	struct rearm *ra = arg;

	ra->fired++;
	/* The other timer is due at the same time; cancelling it from here
	 * must keep it from firing. */
	loop_timer_cancel(ra->lp, &ra->other);
	if (ra->fired < 3)
		loop_timer_set(ra->lp, t, 5);
	else
		loop_stop(ra->lp);
}

static void
fail_cb(struct loop_timer *t, void *arg)
{
	fail_msg("cancelled timer fired");
}

static void
test_timer_rearm(void **state)
{
	struct rearm ra = {0};
	uint64_t start;

	ra.lp = loop_new();
	assert_non_null(ra.lp);
	loop_timer_init(&ra.t, rearm_cb, &ra);
	loop_timer_init(&ra.other, fail_cb, NULL);
	loop_timer_set(ra.lp, &ra.t, 0);
	loop_timer_set(ra.lp, &ra.other, 1);
	start = loop_now_ms();
	assert_int_equal(loop_run(ra.lp), 0);
	assert_int_equal(ra.fired, 3);
	assert_true(loop_now_ms() - start >= 10);
	loop_free(ra.lp);
}

struct pipes {
	struct loop *lp;
	int a[2], b[2];
	int a_calls, b_calls;
};

/* Removes its own fd and the other one: the other's pending event in the
 * same batch must not be dispatched. */
static void
a_cb(int fd, uint32_t events, void *arg)
{
	struct pipes *p = arg;

	p->a_calls++;
	assert_true(events & EPOLLIN);
	loop_del(p->lp, fd);
	loop_del(p->lp, p->b[0]);
}

static void
b_cb(int fd, uint32_t events, void *arg)
{
	struct pipes *p = arg;

	p->b_calls++;
	loop_del(p->lp, p->a[0]);
	loop_del(p->lp, fd);
}

/* A new loop and two pipes with a byte waiting in each, their read ends
 * registered with acb and bcb. */
static void
pipes_ready(struct pipes *p, loop_fd_cb acb, loop_fd_cb bcb)
{
	p->lp = loop_new();
	assert_non_null(p->lp);
	assert_int_equal(pipe(p->a), 0);
	assert_int_equal(pipe(p->b), 0);
	assert_int_equal(write(p->a[1], "x", 1), 1);
	assert_int_equal(write(p->b[1], "x", 1), 1);
	assert_int_equal(loop_add(p->lp, p->a[0], EPOLLIN, acb, p), 0);
	assert_int_equal(loop_add(p->lp, p->b[0], EPOLLIN, bcb, p), 0);
}

/* Runs p's loop for 30 ms. */
static void
pipes_run(struct pipes *p)
{
	struct loop_timer stop;

	loop_timer_init(&stop, stop_cb, p->lp);
	loop_timer_set(p->lp, &stop, 30);
	assert_int_equal(loop_run(p->lp), 0);
}

static void
test_fd_self_delete(void **state)
{
	struct pipes p = {0};

	pipes_ready(&p, a_cb, b_cb);
	assert_int_equal(loop_add(p.lp, p.b[0], EPOLLIN, b_cb, &p), -1);
	pipes_run(&p);
	/* Exactly one of them ran (epoll order is not ours to choose), once,
	 * although both fds stayed readable. */
	assert_int_equal(p.a_calls + p.b_calls, 1);

	/* Registrations can be made again after removal; loop_mod works. */
	assert_int_equal(loop_add(p.lp, p.a[0], EPOLLOUT, a_cb, &p), 0);
	assert_int_equal(loop_mod(p.lp, p.a[0], EPOLLIN), 0);
	assert_int_equal(loop_mod(p.lp, p.b[0], EPOLLIN), -1);
	loop_del(p.lp, p.a[0]);
	loop_del(p.lp, p.a[0]);
	close(p.a[0]);
	close(p.a[1]);
	close(p.b[0]);
	close(p.b[1]);
	loop_free(p.lp);
}

/* loop_forget: an fd forgotten by an earlier callback of the same batch
 * gets no callback although it is readable, stays open until the turn
 * hook closes it, and wakes the loop no more after that. */
static void
forget_a_cb(int fd, uint32_t events, void *arg)
{
	struct pipes *p = arg;

	p->a_calls++;
	loop_forget(p->lp, p->b[0]);
	loop_forget(p->lp, fd);
}

static void
forget_b_cb(int fd, uint32_t events, void *arg)
{
	struct pipes *p = arg;

	p->b_calls++;
	loop_forget(p->lp, p->a[0]);
	loop_forget(p->lp, fd);
}

static void
forget_hook(void *arg)
{
	struct pipes *p = arg;

	if (p->a[0] >= 0 && p->a_calls + p->b_calls > 0) {
		close(p->a[0]);
		close(p->b[0]);
		p->a[0] = p->b[0] = -1;
	}
}

static void
test_fd_forget(void **state)
{
	struct pipes p = {0};

	pipes_ready(&p, forget_a_cb, forget_b_cb);
	assert_int_equal(loop_turn_hook(p.lp, forget_hook, &p), 0);
	pipes_run(&p);
	assert_int_equal(p.a_calls + p.b_calls, 1);
	assert_int_equal(p.a[0], -1); /* closed by the hook */
	close(p.a[1]);
	close(p.b[1]);
	loop_free(p.lp);
}

struct sigrec {
	struct loop *lp;
	int usr1, usr2;
};

static void
sig_cb(int signo, void *arg)
{
	struct sigrec *s = arg;

	if (signo == SIGUSR1)
		s->usr1++;
	if (signo == SIGUSR2)
		s->usr2++;
	if (s->usr1 > 0 && s->usr2 > 0)
		loop_stop(s->lp);
}

static void
raise_cb(struct loop_timer *t, void *arg)
{
	raise(SIGUSR2);
}

static void
test_signals(void **state)
{
	struct sigrec s = {0};
	struct loop_timer later, stop;

	s.lp = loop_new();
	assert_non_null(s.lp);
	assert_int_equal(loop_signal(s.lp, SIGUSR1, sig_cb, &s), 0);
	assert_int_equal(loop_signal(s.lp, SIGUSR2, sig_cb, &s), 0);
	/* Blocked now, so raising before the loop runs queues it. */
	raise(SIGUSR1);
	loop_timer_init(&later, raise_cb, NULL);
	loop_timer_set(s.lp, &later, 10);
	/* A safety stop so that a lost signal fails instead of hanging. */
	loop_timer_init(&stop, stop_cb, s.lp);
	loop_timer_set(s.lp, &stop, 2000);
	assert_int_equal(loop_run(s.lp), 0);
	assert_int_equal(s.usr1, 1);
	assert_int_equal(s.usr2, 1);
	loop_timer_cancel(s.lp, &stop);
	loop_free(s.lp);
}

struct watchtest {
	struct loop *lp;
	char dir[64];
	char path[128];
	char tmp[128];
	int reloads;
	int edits;
	struct loop_timer edit, done;
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* An editor-style save: write a temporary file, rename it over the old
 * one; twice in a row, which must still give a single reload. */
static void
edit_cb(struct loop_timer *t, void *arg)
{
	struct watchtest *w = arg;

	write_file(w->tmp, "[gate]\nmode = audit\n");
	assert_int_equal(rename(w->tmp, w->path), 0);
	write_file(w->tmp, "[gate]\nmode = enforce\n");
	assert_int_equal(rename(w->tmp, w->path), 0);
	/* Unrelated files in the same directory are ignored. */
	write_file(w->tmp, "x");
	w->edits++;
}

static void
reload_cb(void *arg)
{
	struct watchtest *w = arg;

	w->reloads++;
	/* Leave time for a (wrong) second reload to show up. */
	loop_timer_set(w->lp, &w->done, 400);
}

static void
test_confwatch(void **state)
{
	struct watchtest w;
	struct confwatch *cw;
	struct loop_timer stop;
	char cmd[128];

	memset(&w, 0, sizeof(w));
	snprintf(w.dir, sizeof(w.dir), "/tmp/namegate-test-watch-XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	snprintf(w.path, sizeof(w.path), "%s/sandbox.ini", w.dir);
	snprintf(w.tmp, sizeof(w.tmp), "%s/.sandbox.ini.tmp", w.dir);
	write_file(w.path, "[gate]\n");

	w.lp = loop_new();
	assert_non_null(w.lp);
	cw = confwatch_new(w.lp, w.path, reload_cb, &w);
	assert_non_null(cw);
	loop_timer_init(&w.edit, edit_cb, &w);
	loop_timer_set(w.lp, &w.edit, 50);
	loop_timer_init(&w.done, stop_cb, w.lp);
	/* Well before the 2 s poll: the reload must come from inotify. */
	loop_timer_init(&stop, stop_cb, w.lp);
	loop_timer_set(w.lp, &stop, 1500);
	assert_int_equal(loop_run(w.lp), 0);
	assert_int_equal(w.edits, 1);
	assert_int_equal(w.reloads, 1);

	loop_timer_cancel(w.lp, &stop);
	loop_timer_cancel(w.lp, &w.done);
	confwatch_free(cw);
	loop_free(w.lp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w.dir);
	assert_int_equal(system(cmd), 0);
}

/* The kubelet's atomic writer, as it updates a ConfigMap volume: the new
 * files go into a fresh timestamped directory, a ..data_tmp symlink to it
 * is renamed over ..data, and the old directory is removed. The file the
 * daemon reads, sandbox.ini -> ..data/sandbox.ini, sees no event itself. */
static void
kubelet_swap_cb(struct loop_timer *t, void *arg)
{
	struct watchtest *w = arg;
	char d[160], f[200], lnk[160], data[160], cmd[256];

	snprintf(d, sizeof(d), "%s/..2026_12_01_10_00_01.2", w->dir);
	assert_int_equal(mkdir(d, 0755), 0);
	snprintf(f, sizeof(f), "%s/sandbox.ini", d);
	write_file(f, "[gate]\nmode = audit\n");
	snprintf(lnk, sizeof(lnk), "%s/..data_tmp", w->dir);
	assert_int_equal(symlink("..2026_12_01_10_00_01.2", lnk), 0);
	snprintf(data, sizeof(data), "%s/..data", w->dir);
	assert_int_equal(rename(lnk, data), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/..2026_12_01_10_00_00.1'", w->dir);
	assert_int_equal(system(cmd), 0);
	w->edits++;
}

static void
test_confwatch_configmap(void **state)
{
	struct watchtest w;
	struct confwatch *cw;
	struct loop_timer stop;
	char d[160], f[200], link[160], cmd[128];

	memset(&w, 0, sizeof(w));
	snprintf(w.dir, sizeof(w.dir), "/tmp/namegate-test-watch-XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	snprintf(d, sizeof(d), "%s/..2026_12_01_10_00_00.1", w.dir);
	assert_int_equal(mkdir(d, 0755), 0);
	snprintf(f, sizeof(f), "%s/sandbox.ini", d);
	write_file(f, "[gate]\n");
	snprintf(link, sizeof(link), "%s/..data", w.dir);
	assert_int_equal(symlink("..2026_12_01_10_00_00.1", link), 0);
	snprintf(w.path, sizeof(w.path), "%s/sandbox.ini", w.dir);
	assert_int_equal(symlink("..data/sandbox.ini", w.path), 0);

	w.lp = loop_new();
	assert_non_null(w.lp);
	cw = confwatch_new(w.lp, w.path, reload_cb, &w);
	assert_non_null(cw);
	loop_timer_init(&w.edit, kubelet_swap_cb, &w);
	loop_timer_set(w.lp, &w.edit, 50);
	loop_timer_init(&w.done, stop_cb, w.lp);
	/* Well before the 2 s poll: the reload must come from inotify. */
	loop_timer_init(&stop, stop_cb, w.lp);
	loop_timer_set(w.lp, &stop, 1500);
	assert_int_equal(loop_run(w.lp), 0);
	assert_int_equal(w.edits, 1);
	assert_int_equal(w.reloads, 1);

	loop_timer_cancel(w.lp, &stop);
	loop_timer_cancel(w.lp, &w.done);
	confwatch_free(cw);
	loop_free(w.lp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w.dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timer_order),
	    cmocka_unit_test(test_timer_rearm),
	    cmocka_unit_test(test_fd_self_delete),
	    cmocka_unit_test(test_fd_forget),
	    cmocka_unit_test(test_signals),
	    cmocka_unit_test(test_confwatch),
	    cmocka_unit_test(test_confwatch_configmap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
