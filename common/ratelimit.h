/*
 * Rate limits for log lines the agent can provoke at will (a flood of
 * denied flows or off-list queries must not fill the disk): at most
 * per_second lines of a kind in each one-second window. The rest are
 * counted and, with a loop attached, summarised once a second as
 * "event=<summary> [of=<what>] count=N".
 */
#ifndef NAMEGATE_RATELIMIT_H
#define NAMEGATE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

struct ratelimit {
	uint64_t window_start_ms;
	unsigned per_second;
	unsigned used;
	unsigned suppressed;
	/* the summary, when attached to a loop */
	struct loop *lp;
	struct loop_timer timer;
	const char *summary_event;
	const char *what;
};

/* Pure part: take() says whether to log a line at now_ms, counting it as
 * suppressed if not; flush() returns that count and resets it. */
void ratelimit_init(struct ratelimit *rl, unsigned per_second);
bool ratelimit_take(struct ratelimit *rl, uint64_t now_ms);
unsigned ratelimit_flush(struct ratelimit *rl);

/* With a loop: ratelimit_ok() takes at the loop's clock and arms the
 * one-second summary when it suppresses; ratelimit_detach() logs what is
 * still counted and disarms. what may be NULL. */
void ratelimit_attach(struct ratelimit *rl, struct loop *lp, const char *summary_event,
		      const char *what);
bool ratelimit_ok(struct ratelimit *rl);
void ratelimit_detach(struct ratelimit *rl);

#endif
