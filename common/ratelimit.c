/* Rate limits for provokable log lines, with a once-a-second summary. */
#include <string.h>

#include "log.h"
#include "ratelimit.h"

void
ratelimit_init(struct ratelimit *rl, unsigned per_second)
{
	memset(rl, 0, sizeof(*rl));
	rl->per_second = per_second;
}

bool
ratelimit_take(struct ratelimit *rl, uint64_t now_ms)
{
	if (now_ms < rl->window_start_ms || now_ms - rl->window_start_ms >= 1000) {
		rl->window_start_ms = now_ms;
		rl->used = 0;
	}
	if (rl->used < rl->per_second) {
		rl->used++;
		return true;
	}
	rl->suppressed++;
	return false;
}

unsigned
ratelimit_flush(struct ratelimit *rl)
{
	unsigned n = rl->suppressed;

	rl->suppressed = 0;
	return n;
}

static void
log_summary(struct ratelimit *rl)
{
	unsigned n = ratelimit_flush(rl);
	struct log_line *l;

	if (n == 0)
		return;
	l = log_begin(LOGL_WARN, rl->summary_event);
	if (rl->what != NULL)
		logline_str(l, "of", rl->what);
	logline_int(l, "count", n);
	log_end(l);
}

static void
summary_cb(struct loop_timer *t, void *arg)
{
	log_summary(arg);
}

void
ratelimit_attach(struct ratelimit *rl, struct loop *lp, const char *summary_event,
		 const char *what)
{
	rl->lp = lp;
	rl->summary_event = summary_event;
	rl->what = what;
	loop_timer_init(&rl->timer, summary_cb, rl);
}

bool
ratelimit_ok(struct ratelimit *rl)
{
	if (ratelimit_take(rl, loop_now_ms()))
		return true;
	if (rl->lp != NULL && !loop_timer_armed(&rl->timer))
		loop_timer_set(rl->lp, &rl->timer, 1000);
	return false;
}

void
ratelimit_detach(struct ratelimit *rl)
{
	if (rl->lp == NULL)
		return;
	loop_timer_cancel(rl->lp, &rl->timer);
	log_summary(rl);
	rl->lp = NULL;
}
