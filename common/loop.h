/*
 * One epoll event loop per process, with timers (a min-heap, checked after
 * each epoll_wait) and signals (signalfd).
 */
#ifndef NAMEGATE_LOOP_H
#define NAMEGATE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

typedef void (*loop_fd_cb)(int fd, uint32_t events, void *arg);

struct loop_timer {
	uint64_t deadline_ms; /* CLOCK_MONOTONIC */
	size_t heap_idx;      /* managed by loop; 0 = not armed */
	void (*cb)(struct loop_timer *t, void *arg);
	void *arg;
};

struct loop *loop_new(void);
void loop_free(struct loop *lp);

/* events: EPOLLIN/EPOLLOUT/... The loop keeps (cb, arg) for fd. */
int loop_add(struct loop *lp, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_mod(struct loop *lp, int fd, uint32_t events);
void loop_del(struct loop *lp, int fd); /* does not close fd */
/* Forgets fd and closes it, which takes it out of epoll without a system
 * call of its own. Only for an fd that was never duplicated. */
void loop_del_close(struct loop *lp, int fd);
/* Forgets fd without a system call and without closing it: its events,
 * already reported or not, are dropped from now on. The caller closes it
 * before the loop waits again (a turn hook), which takes it out of epoll. */
void loop_forget(struct loop *lp, int fd);

void loop_timer_init(struct loop_timer *t, void (*cb)(struct loop_timer *, void *), void *arg);
void loop_timer_set(struct loop *lp, struct loop_timer *t, uint64_t ms_from_now); /* re-arms */
void loop_timer_cancel(struct loop *lp, struct loop_timer *t); /* safe if not armed */
bool loop_timer_armed(const struct loop_timer *t);

/* Blocks signo and delivers it through the loop. */
int loop_signal(struct loop *lp, int signo, void (*cb)(int signo, void *arg), void *arg);

/* cb runs once per turn of the loop, after the events and timers of that
 * turn and before it waits again: the place to send what the turn queued
 * in one go. Returns -1 when LOOP_MAX_HOOKS are taken. */
#define LOOP_MAX_HOOKS 4
int loop_turn_hook(struct loop *lp, void (*cb)(void *arg), void *arg);
void loop_turn_unhook(struct loop *lp, void (*cb)(void *arg), void *arg);

/* Inside a callback: whether events of this turn wait to be dispatched
 * after it, or the callback is handling several messages it read at once
 * (between loop_batch_begin and loop_batch_end). A sender that would wait
 * for the turn's end to batch may send at once when nothing else can join
 * the batch (one client's latency). */
bool loop_turn_busy(const struct loop *lp);
void loop_batch_begin(struct loop *lp);
void loop_batch_end(struct loop *lp);

/* Runs until loop_stop; returns 0, or -1 if epoll_wait failed. */
int loop_run(struct loop *lp);
void loop_stop(struct loop *lp);

uint64_t loop_now_ms(void); /* CLOCK_MONOTONIC in ms */

#endif
